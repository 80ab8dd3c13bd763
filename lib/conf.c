/* conf.c: key=value configuration with environment overrides.
 * The file format is deliberately tiny: one KEY=VALUE per line, '#'
 * starts a comment line, blank lines are ignored, no quoting; the value
 * is everything after the first '=' with surrounding blanks trimmed.
 * Keys must look like RS_NAME so a typo is caught, not silently ignored
 * (or AWS_NAME: the AWS SDKs' own settings, for RS_STORE=s3://…). */
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "util.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/usr/local/etc"
#endif
#define CONF_MAX 128

struct conf {
	int refs;                 /* conf_free frees at 0; the cache holds one */
	char *path;
	int n;
	char *key[CONF_MAX], *val[CONF_MAX];
	char spool[PATH_MAX];
};

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
valid_key(const char *k)
{
	if ((strncmp(k, "RS_", 3) != 0 || k[3] == '\0') && (strncmp(k, "AWS_", 4) != 0 || k[4] == '\0'))
		return 0;
	for (; *k; k++)
		if (!isupper((unsigned char)*k) && !isdigit((unsigned char)*k) && *k != '_')
			return 0;
	return 1;
}

/* The file is read once per process: every lib/ component that opens
 * (store, ledger, queue, rs-serve's API) asks for it, and rs-serve runs
 * once per connection. */
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct conf *cache;

int
conf_load(struct conf **cp)
{
	const char *path = getenv("RS_CONF");
	int explicit = path != NULL && *path != '\0';
	struct conf *c;
	FILE *f;
	char line[4096];
	int lineno = 0, rc = 0;

	*cp = NULL;
	if (!explicit)
		path = SYSCONFDIR "/rs.conf";
	pthread_mutex_lock(&cache_mu);
	if (cache != NULL && strcmp(cache->path, path) == 0) {
		cache->refs++;
		*cp = cache;
		pthread_mutex_unlock(&cache_mu);
		return 0;
	}
	pthread_mutex_unlock(&cache_mu);
	if ((c = calloc(1, sizeof *c)) == NULL || (c->path = strdup(path)) == NULL) {
		warn("conf");
		free(c);
		return EX_OSERR;
	}
	c->refs = 1;
	if ((f = fopen(path, "re")) == NULL) {
		if (!explicit && errno == ENOENT)
			goto keep;
		warn("%s", path);
		conf_free(c);
		return EX_CONFIG;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		char *s, *eq, *k, *v;
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			warnx("%s:%d: line too long", path, lineno);
			rc = EX_CONFIG;
			break;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if ((eq = strchr(s, '=')) == NULL) {
			warnx("%s:%d: expected KEY=VALUE", path, lineno);
			rc = EX_CONFIG;
			break;
		}
		*eq = '\0';
		k = trim(s);
		v = trim(eq + 1);
		if (!valid_key(k)) {
			warnx("%s:%d: %s: keys look like RS_NAME or AWS_NAME", path, lineno, k);
			rc = EX_CONFIG;
			break;
		}
		if (c->n == CONF_MAX) {
			warnx("%s:%d: too many settings", path, lineno);
			rc = EX_CONFIG;
			break;
		}
		if ((c->key[c->n] = strdup(k)) == NULL || (c->val[c->n] = strdup(v)) == NULL) {
			warn("%s", path);
			c->n++;
			rc = EX_OSERR;
			break;
		}
		c->n++;
	}
	if (rc == 0 && ferror(f)) {
		warn("%s", path);
		rc = EX_CONFIG;
	}
	fclose(f);
	if (rc != 0) {
		conf_free(c);
		return rc;
	}
keep:
	pthread_mutex_lock(&cache_mu);
	if (cache == NULL) {
		cache = c;
		c->refs++;
	}
	pthread_mutex_unlock(&cache_mu);
	*cp = c;
	return 0;
}

void
conf_free(struct conf *c)
{
	int last;

	if (c == NULL)
		return;
	pthread_mutex_lock(&cache_mu);
	last = --c->refs <= 0;
	pthread_mutex_unlock(&cache_mu);
	if (!last)
		return;
	free(c->path);
	for (int i = 0; i < c->n; i++) {
		free(c->key[i]);
		free(c->val[i]);
	}
	free(c);
}

const char *
conf_str(const struct conf *c, const char *key, const char *def)
{
	const char *e = getenv(key);

	if (e != NULL && *e != '\0')
		return e;
	for (int i = c->n - 1; i >= 0; i--)      /* the last line wins */
		if (strcmp(c->key[i], key) == 0)
			return *c->val[i] != '\0' ? c->val[i] : def;
	return def;
}

int
conf_size(const struct conf *c, const char *key, unsigned long long def,
    unsigned long long *v)
{
	const char *s = conf_str(c, key, NULL);

	*v = def;
	if (s == NULL)
		return 0;
	if (util_parse_size(s, v) < 0) {
		warnx("%s=%s: expected a number with optional K, M or G", key, s);
		return EX_CONFIG;
	}
	return 0;
}

const char *
conf_spool(struct conf *c)
{
	const char *s = conf_str(c, "RS_SPOOL", NULL), *x, *h;

	if (s != NULL)
		return s;
	pthread_mutex_lock(&cache_mu);        /* c may be shared: see conf_load */
	if ((x = getenv("XDG_DATA_HOME")) != NULL && *x == '/')
		snprintf(c->spool, sizeof c->spool, "%s/rs", x);
	else if ((h = getenv("HOME")) != NULL && *h == '/')
		snprintf(c->spool, sizeof c->spool, "%s/.local/share/rs", h);
	else
		snprintf(c->spool, sizeof c->spool, "/var/spool/rs");
	pthread_mutex_unlock(&cache_mu);
	return c->spool;
}

/* "90", "1.5", "10s", "5m", "2h", "7d" → seconds; -1 if malformed */
double
conf_parse_seconds(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || v < 0)
		return -1;
	switch (*end) {
	case '\0': case 's': break;
	case 'm': v *= 60; break;
	case 'h': v *= 3600; break;
	case 'd': v *= 86400; break;
	default: return -1;
	}
	return *end == '\0' || end[1] == '\0' ? v : -1;
}

int
conf_seconds(const struct conf *c, const char *key, double def, double *v)
{
	const char *s = conf_str(c, key, NULL);

	*v = s == NULL ? def : conf_parse_seconds(s);
	if (*v < 0) {
		warnx("%s: %s: not a duration", key, s);
		return EX_CONFIG;
	}
	return 0;
}
