/* batch_report.c: rs-batch's HTML report and its thumbnails.
 * The report is one self-contained file (no scripts, no links out): a
 * table of the photos by severity, each with its before and after
 * thumbnails as data: URLs of small JPEGs (kept in .rs-batch/thumbs/ by
 * the run that made them), its outcome and its classification. Only the
 * first BATCH_REPORT_THUMBS rows carry pictures, so the file stays
 * within tens of megabytes for a very large archive (a row costs about
 * 12 KB with pictures). */
#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "batch_int.h"
#include "json.h"
#include "util.h"

#define BATCH_THUMB_SIDE   192
#define BATCH_REPORT_THUMBS 2000

int
batch_thumb(const char *name, const struct img *im, unsigned char **jpg, size_t *len)
{
	struct img t;
	int side = im->w > im->h ? im->w : im->h, tw, th, och = im->ch <= 2 ? 1 : 3, rc;

	memset(&t, 0, sizeof t);
	if (im->px == NULL || side <= 0)
		return EX_SOFTWARE;
	tw = side <= BATCH_THUMB_SIDE ? im->w : (int)((long long)im->w * BATCH_THUMB_SIDE / side);
	th = side <= BATCH_THUMB_SIDE ? im->h : (int)((long long)im->h * BATCH_THUMB_SIDE / side);
	tw = tw < 1 ? 1 : tw;
	th = th < 1 ? 1 : th;
	if ((rc = img_alloc(&t, tw, th, och)) != 0)
		return rc;
	for (int y = 0; y < th; y++) {               /* box filter */
		int y0 = (int)((long long)y * im->h / th), y1 = (int)((long long)(y + 1) * im->h / th);
		y1 = y1 > y0 ? y1 : y0 + 1;
		for (int x = 0; x < tw; x++) {
			int x0 = (int)((long long)x * im->w / tw), x1 = (int)((long long)(x + 1) * im->w / tw);
			double s[4] = { 0, 0, 0, 0 };
			long n = 0;
			x1 = x1 > x0 ? x1 : x0 + 1;
			for (int yy = y0; yy < y1; yy++)
				for (int xx = x0; xx < x1; xx++, n++) {
					const uint8_t *p = im->px + ((size_t)yy * im->w + xx) * im->ch;
					double a = im->ch == 2 || im->ch == 4 ? p[im->ch - 1] / 255.0 : 1;
					for (int c = 0; c < och; c++)   /* on white */
						s[c] += p[c] * a + 255 * (1 - a);
				}
			for (int c = 0; c < och; c++)
				t.px[((size_t)y * tw + x) * och + c] = (uint8_t)(s[c] / n + 0.5);
		}
	}
	rc = img_encode(name, &t, IMG_JPEG, 75, 1, jpg, len);
	img_free(&t);
	return rc;
}

static void
esc(FILE *f, const char *s)
{
	for (; s != NULL && *s; s++)
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
}

/* An <img> of thumbnail KEY-which, or nothing. */
static int
thumb_img(struct batch *b, FILE *f, const char *key, const char *which, const char *alt)
{
	char name[64];
	unsigned char buf[262144];
	size_t got = 0;
	int fd;

	snprintf(name, sizeof name, "%s-%s.jpg", key, which);
	if (b->thumbfd < 0 || (fd = openat(b->thumbfd, name, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if (util_read_all(fd, buf, sizeof buf, &got) < 0 || got == 0 || got == sizeof buf) {
		close(fd);
		return 0;
	}
	close(fd);
	size_t n = sodium_base64_ENCODED_LEN(got, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = malloc(n);
	if (b64 == NULL)
		return 0;
	sodium_bin2base64(b64, n, buf, got, sodium_base64_VARIANT_ORIGINAL);
	fprintf(f, "<img src=\"data:image/jpeg;base64,%s\" alt=\"%s\">", b64, alt);
	free(b64);
	return 1;
}

static const char style[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}"
	"h1{font-size:1.4em;margin:0 0 .3em}table{border-collapse:collapse;width:100%}"
	"th,td{border-bottom:1px solid #ddd;padding:6px;vertical-align:top;text-align:left}"
	"th{background:#eee;position:sticky;top:0}td.pic{width:200px;text-align:center}"
	"td.pic img{max-width:192px;max-height:192px}code{word-break:break-all}"
	".o{display:inline-block;padding:0 .5em;border-radius:3px;color:#fff;font-size:.9em}"
	".o-restored{background:#2a7}.o-copied,.o-skipped{background:#678}.o-failed{background:#c33}"
	".deg{list-style:none;margin:0;padding:0;min-width:14em}.deg li{position:relative;"
	"padding:0 .3em;margin:1px 0;white-space:nowrap}.deg li span{position:absolute;left:0;"
	"top:0;bottom:0;background:#cde;z-index:-1}.deg li.det{font-weight:bold}"
	".deg li.det span{background:#fbb}.err{color:#c33}.sum span{margin-right:1em}"
	"td.none{color:#999;font-style:italic}";

static void
row(struct batch *b, FILE *f, struct batch_item *it, int pics)
{
	jv r = it->rec, degs = json_get(r, "degradations"), ops = json_get(r, "ops"),
	    err = json_get(r, "error");
	const char *oc = batch_outcome_names[it->outcome], *prev = json_str(r, "previous");
	const char *out = json_str(r, "output");
	int restored = it->outcome == BO_RESTORED ||
	    (it->outcome == BO_SKIPPED && prev != NULL && strcmp(prev, "restored") == 0);

	fprintf(f, "<tr class=\"%s\"><td class=\"pic\">", oc);
	if (!pics || !thumb_img(b, f, it->key, "b", "before"))
		fputs("&nbsp;", f);
	fputs("</td><td class=\"pic\">", f);
	if (restored) {
		if (!pics || !thumb_img(b, f, it->key, "a", "after"))
			fputs("&nbsp;", f);
	} else
		fputs(it->outcome == BO_FAILED ? "&nbsp;" : "unchanged", f);
	fputs("</td><td><code>", f);
	esc(f, it->rel);
	fprintf(f, "</code><br><span class=\"o o-%s\">%s", oc, oc);
	if (prev != NULL)
		fprintf(f, " (%s before)", prev);
	fputs("</span>", f);
	if (out != NULL && it->outcome != BO_FAILED) {
		fputs(" → <code>", f);
		esc(f, out);
		fputs("</code>", f);
	}
	if (jv_get_kind(ops) == JV_KIND_ARRAY && jv_array_length(jv_copy(ops)) > 0) {
		fputs("<br>", f);
		jv_array_foreach(ops, i, x) {
			fputs(i ? ", " : "", f);
			esc(f, jv_get_kind(x) == JV_KIND_STRING ? jv_string_value(x) : "?");
			jv_free(x);
		}
	}
	if (jv_get_kind(err) == JV_KIND_OBJECT) {
		fputs("<br><span class=\"err\">", f);
		esc(f, json_str(err, "message"));
		fputs("</span>", f);
	}
	fputs("</td><td><ul class=\"deg\">", f);
	if (jv_get_kind(degs) == JV_KIND_ARRAY)
		jv_array_foreach(degs, i, x) {
			jv sc = json_get(x, "score"), dt = json_get(x, "detected");
			double v = jv_get_kind(sc) == JV_KIND_NUMBER ? jv_number_value(sc) : 0;
			fprintf(f, "<li%s><span style=\"width:%.0f%%\"></span>",
			    jv_get_kind(dt) == JV_KIND_TRUE ? " class=\"det\"" : "", v * 100);
			esc(f, json_str(x, "type"));
			fprintf(f, " %.2f</li>", v);
			jv_free(sc);
			jv_free(dt);
			jv_free(x);
		}
	fputs("</ul></td></tr>\n", f);
	jv_free(degs);
	jv_free(ops);
	jv_free(err);
}

int
batch_report(struct batch *b, const char *path)
{
	struct batch_item **v;
	char *buf = NULL;
	size_t n, len = 0, ign = 0;
	FILE *f;
	int rc;

	if ((v = batch_sorted(b, &n)) == NULL || (f = open_memstream(&buf, &len)) == NULL) {
		free(v);
		warnx("%s: out of memory", path);
		return EX_OSERR;
	}
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	    "<title>rs-batch: ");
	esc(f, b->o.out);
	fprintf(f, "</title><style>%s</style></head><body>\n<h1>rs-batch: ", style);
	esc(f, b->o.root);
	fputs(" → ", f);
	esc(f, b->o.out);
	fprintf(f, "</h1>\n<p class=\"sum\"><span>%zu files</span>", b->n);
	for (int k = BO_RESTORED; k <= BO_FAILED; k++)
		fprintf(f, "<span>%zu %s</span>", b->count[k], batch_outcome_names[k]);
	fputs("<span>backend ", f);
	esc(f, b->o.backend);
	fprintf(f, "</span><span>run %s</span></p>\n", b->stamp);
	fputs("<table><thead><tr><th>Before</th><th>After</th><th>Photo</th>"
	    "<th>Classification</th></tr></thead><tbody>\n", f);
	for (size_t i = 0; i < n; i++)
		row(b, f, v[i], i < BATCH_REPORT_THUMBS);
	if (n == 0)
		fputs("<tr><td colspan=\"4\" class=\"none\">no photos</td></tr>\n", f);
	fputs("</tbody></table>\n", f);
	for (size_t i = 0; i < b->n; i++)
		ign += b->items[i].outcome == BO_IGNORED && jv_is_valid(b->items[i].rec);
	if (ign > 0) {
		fprintf(f, "<details><summary>%zu files ignored</summary><ul>\n", ign);
		for (size_t i = 0; i < b->n; i++) {
			if (b->items[i].outcome != BO_IGNORED || !jv_is_valid(b->items[i].rec))
				continue;
			fputs("<li><code>", f);
			esc(f, b->items[i].rel);
			fputs("</code>: ", f);
			esc(f, json_str(b->items[i].rec, "reason"));
			fputs("</li>\n", f);
		}
		fputs("</ul></details>\n", f);
	}
	fputs("</body></html>\n", f);
	free(v);
	if (fclose(f) != 0 || buf == NULL) {
		free(buf);
		warnx("%s: out of memory", path);
		return EX_OSERR;
	}
	rc = util_write_file(path, buf, len, 0644);
	free(buf);
	return rc;
}
