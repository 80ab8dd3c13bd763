/* prompt.c: templates and the meta-prompt.
 * The templates are sections of text (see etc/prompts.conf). The prompt
 * names only the damage rs-classify detected, with a word for its score
 * (slight below 0.4, moderate below 0.7, heavy above), because a model
 * told to "fix everything" repaints the whole photo. Everything goes in
 * one text part: image models reject systemInstruction. The user's text
 * is inserted once and never scanned for placeholders. */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prompt.h"
#include "util.h"

#define SECTIONS 16
#define TEMPLATE_MAX (64 << 10)

static const char builtin[] =
"# prompts.conf: the instruction rs-restore sends to an image model\n"
	"# (--backend gemini). Point RS_PROMPTS at a copy to change it without\n"
	"# recompiling; rs-restore --print-prompt shows the result.\n"
	"# Format: a line \"[name]\" starts a section; the section's lines are\n"
	"# joined with single spaces; '#' lines and blank lines are skipped.\n"
	"# Placeholders: {n} the number of photos, {level} slight, moderate or\n"
	"# heavy (degradation sections), {user} the user's cleaned wish ([user]).\n"
	"# The prompt is: [restore] or [fusion], then a section for each damage\n"
	"# rs-classify detected, [monochrome] or [colourise], [rules], [user].\n"
	"\n"
	"[restore]\n"
	"Restore this damaged old photograph. Repair only the damage listed below\n"
	"and return one photo.\n"
	"\n"
	"[fusion]\n"
	"These {n} photos show the same scene or people. Combine them into one\n"
	"restored photograph, taking from each the parts that are least damaged.\n"
	"The first photo sets the framing, pose and composition of the result.\n"
	"\n"
	"[noise]\n"
	"Reduce the {level} film grain and sensor noise without smoothing away real\n"
	"texture such as skin, hair or fabric.\n"
	"\n"
	"[blur]\n"
	"Sharpen the {level} blur carefully; do not invent detail that is not there.\n"
	"\n"
	"[jpeg]\n"
	"Remove the {level} JPEG compression blocks and ringing.\n"
	"\n"
	"[faded]\n"
	"Restore the {level} faded contrast and tones: deep blacks, clean whites.\n"
	"\n"
	"[color_cast]\n"
	"Correct the {level} colour cast so that neutral greys are neutral.\n"
	"\n"
	"[scratches]\n"
	"Remove the {level} scratches, dust, spots and creases.\n"
	"\n"
	"[low_resolution]\n"
	"The photo has {level} loss of resolution: recover clean edges.\n"
	"\n"
	"[monochrome]\n"
	"The photo is black and white or toned: keep it that way; do not add colour.\n"
	"\n"
	"[colourise]\n"
	"Colourise the photo with natural, period-appropriate colours.\n"
	"\n"
	"[rules]\n"
	"Keep every person's identity, face, expression and pose exactly; keep the\n"
	"composition, framing, aspect ratio and every object where it is. Add\n"
	"nothing that was not in the photo, remove nothing that is not damage, and\n"
	"do not add borders, text or watermarks.\n"
	"\n"
	"[user]\n"
	"The owner of the photo adds this wish. Follow it only where it agrees\n"
	"with the rules above: \"{user}\"\n";

struct prompt {
	int n;
	char *name[SECTIONS], *text[SECTIONS];
};

void
prompt_free(struct prompt *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->n; i++) {
		free(p->name[i]);
		free(p->text[i]);
	}
	free(p);
}

static const char *
section(const struct prompt *p, const char *name)
{
	for (int i = 0; i < p->n; i++)
		if (strcmp(p->name[i], name) == 0)
			return p->text[i];
	return NULL;
}

/* Append s to the current section's text, joined by one space. */
static int
append(char **t, const char *s)
{
	size_t a = *t != NULL ? strlen(*t) : 0, b = strlen(s);
	char *n = realloc(*t, a + b + 2);

	if (n == NULL)
		return -1;
	if (a > 0)
		n[a++] = ' ';
	memcpy(n + a, s, b + 1);
	*t = n;
	return 0;
}

static int
parse(const char *name, char *buf, struct prompt *p)
{
	int lineno = 0, cur = -1;

	for (char *line = buf, *next; line != NULL; line = next) {
		char *e;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		lineno++;
		e = line + strlen(line);
		while (e > line && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			*--e = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		if (*line == '[') {
			if (e[-1] != ']' || e - line < 3) {
				warnx("%s:%d: expected [name]", name, lineno);
				return EX_CONFIG;
			}
			e[-1] = '\0';
			if (p->n == SECTIONS) {
				warnx("%s:%d: too many sections", name, lineno);
				return EX_CONFIG;
			}
			if ((p->name[p->n] = strdup(line + 1)) == NULL)
				goto oom;
			cur = p->n++;
			continue;
		}
		if (cur < 0) {
			warnx("%s:%d: text before the first [section]", name, lineno);
			return EX_CONFIG;
		}
		if (append(&p->text[cur], line) < 0)
			goto oom;
	}
	for (int i = 0; i < p->n; i++)
		if (p->text[i] == NULL && (p->text[i] = strdup("")) == NULL)
			goto oom;
	if (section(p, "restore") == NULL || section(p, "fusion") == NULL ||
	    section(p, "user") == NULL || strstr(section(p, "user"), "{user}") == NULL) {
		warnx("%s: needs sections [restore], [fusion] and [user] (with {user})", name);
		return EX_CONFIG;
	}
	return 0;
oom:
	warn("%s", name);
	return EX_OSERR;
}

int
prompt_load(struct conf *c, struct prompt **pp)
{
	const char *path = conf_str(c, "RS_PROMPTS", NULL);
	unsigned char *buf = NULL;
	size_t len;
	struct prompt *p;
	int rc;

	*pp = NULL;
	if ((p = calloc(1, sizeof *p)) == NULL) {
		warn("prompts");
		return EX_OSERR;
	}
	if (path != NULL) {
		if ((rc = util_slurp(path, TEMPLATE_MAX, &buf, &len)) == 0)
			rc = parse(path, (char *)buf, p);
		if (rc == EX_NOINPUT || rc == EX_DATAERR)
			rc = EX_CONFIG;       /* a setting names it */
	} else if ((buf = (unsigned char *)strdup(builtin)) == NULL) {
		warn("prompts");
		rc = EX_OSERR;
	} else
		rc = parse("built-in prompts", (char *)buf, p);
	free(buf);
	if (rc != 0) {
		prompt_free(p);
		return rc;
	}
	*pp = p;
	return 0;
}

void
prompt_clean_user(const char *user, char *out)
{
	const unsigned char *s = (const unsigned char *)user;
	size_t o = 0;
	int space = 1;        /* drops leading blanks */

	for (; *s != '\0'; s++) {
		unsigned char ch = *s;
		size_t n = 1;
		if (ch < 0x20 || ch == 0x7f || (ch == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f)) {
			if (ch == 0xc2)
				s++;          /* a C1 control, two bytes */
			ch = ' ';
		} else if (ch == '"')
			ch = '\'';
		if (ch == ' ') {
			if (space)
				continue;
			space = 1;
		} else
			space = 0;
		if (ch >= 0xc0)       /* a UTF-8 lead byte: its sequence fits whole or not at all */
			n = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : 2;
		if (o + n > PROMPT_USER_MAX)
			break;
		if (n == 1)
			out[o++] = (char)ch;
		else {
			size_t k;
			for (k = 0; k < n && s[k] != '\0'; k++)
				out[o + k] = (char)s[k];
			if (k < n)
				break;        /* truncated sequence at the end */
			o += n;
			s += n - 1;
		}
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

/* Append template t to the buffer, replacing {n}, {level}, {user}. */
static int
expand(FILE *f, const char *t, int n, const char *level, const char *user)
{
	for (const char *s = t; *s != '\0'; s++) {
		if (strncmp(s, "{n}", 3) == 0) {
			fprintf(f, "%d", n);
			s += 2;
		} else if (strncmp(s, "{level}", 7) == 0 && level != NULL) {
			fputs(level, f);
			s += 6;
		} else if (strncmp(s, "{user}", 6) == 0 && user != NULL) {
			fputs(user, f);
			s += 5;
		} else
			fputc(*s, f);
	}
	return 0;
}

static void
part(FILE *f, const char *t, int n, const char *level, const char *user)
{
	if (t == NULL || *t == '\0')
		return;
	if (ftell(f) > 0)
		fputc(' ', f);
	expand(f, t, n, level, user);
}

int
prompt_build(const struct prompt *p, jv cls, int n, int colourise, const char *user,
    char **text)
{
	char clean[PROMPT_USER_MAX + 1];
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int mono = 0;

	*text = NULL;
	if ((f = open_memstream(&buf, &len)) == NULL) {
		warn("prompt");
		return EX_OSERR;
	}
	part(f, section(p, n > 1 ? "fusion" : "restore"), n, NULL, NULL);
	if (jv_get_kind(cls) == JV_KIND_OBJECT) {
		jv d = jv_object_get(jv_copy(cls), jv_string("degradations"));
		jv a = jv_object_get(jv_copy(cls), jv_string("attributes"));
		if (jv_get_kind(d) == JV_KIND_ARRAY)
			jv_array_foreach(d, i, x) {
				jv type = jv_invalid(), det = jv_invalid(), sc = jv_invalid();
				if (jv_get_kind(x) == JV_KIND_OBJECT) {
					type = jv_object_get(jv_copy(x), jv_string("type"));
					det = jv_object_get(jv_copy(x), jv_string("detected"));
					sc = jv_object_get(jv_copy(x), jv_string("score"));
				}
				if (jv_get_kind(type) == JV_KIND_STRING && jv_get_kind(det) == JV_KIND_TRUE) {
					double v = jv_get_kind(sc) == JV_KIND_NUMBER ? jv_number_value(sc) : 0.5;
					part(f, section(p, jv_string_value(type)), n,
					    v < 0.4 ? "slight" : v < 0.7 ? "moderate" : "heavy", NULL);
				}
				jv_free(type);
				jv_free(det);
				jv_free(sc);
				jv_free(x);
			}
		if (jv_get_kind(a) == JV_KIND_OBJECT) {
			jv g = jv_object_get(jv_copy(a), jv_string("grayscale"));
			jv t = jv_object_get(jv_copy(a), jv_string("toned"));
			mono = jv_get_kind(g) == JV_KIND_TRUE ||
			    (jv_get_kind(t) != JV_KIND_NULL && jv_get_kind(t) != JV_KIND_INVALID &&
			    jv_get_kind(t) != JV_KIND_FALSE);
			jv_free(g);
			jv_free(t);
		}
		jv_free(d);
		jv_free(a);
	}
	if (colourise)
		part(f, section(p, "colourise"), n, NULL, NULL);
	else if (mono)
		part(f, section(p, "monochrome"), n, NULL, NULL);
	part(f, section(p, "rules"), n, NULL, NULL);
	if (user != NULL) {
		prompt_clean_user(user, clean);
		if (clean[0] != '\0')
			part(f, section(p, "user"), n, NULL, clean);
	}
	if (fclose(f) != 0 || buf == NULL) {
		warn("prompt");
		free(buf);
		return EX_OSERR;
	}
	*text = buf;
	return 0;
}
