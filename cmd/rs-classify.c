/* rs-classify: detect a photo's degradations; one JSON line per input.
 * With files, each line is the classify object of lib/classify.h merged
 * with the file's name, type and size. With no file (or "-"), standard
 * input is either one image (sniffed by its first byte) or a stream of
 * job records from rs-upload: each input object is classified in the
 * spool's store, the result goes to inputs[i].classify (and the first
 * one to "classify" too), and every other key passes through. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "conf.h"
#include "img.h"
#include "json.h"
#include "store.h"
#include "util.h"

#define USAGE "usage: rs-classify [-F] [file ...]\n"

static struct {
	int full;                     /* decode whole images (classify_image) */
	struct img_limits lim;
	struct conf *conf;
	struct store *st;
} ctx;

static void
help(void)
{
	fputs(USAGE
	    "Detect noise, blur, JPEG artefacts, fading, colour cast, scratches and\n"
	    "low resolution; print one JSON object per file (JSON Lines).\n"
	    "With no file, or \"-\", read an image or job records on standard input.\n"
	    "  -F, --full          decode whole images first (slower; as rs-restore does)\n"
	    "  -h, --help          show this help\n"
	    "  -V, --version       show the version\n"
	    "Environment: RS_SPOOL, RS_CONF, RS_MAX_BYTES, RS_MAX_PIXELS, RS_MAX_SIDE.\n",
	    stdout);
}

static int
load_limits(void)
{
	int rc;

	if ((rc = conf_load(&ctx.conf)) != 0)
		return rc;
	return img_limits_conf(ctx.conf, &ctx.lim);
}

/* One image file: the classify object with the file's facts in front. */
static int
classify_path(const char *path)
{
	struct img info;
	jv cls, line;
	int rc;

	if (ctx.full) {
		struct img im;
		if ((rc = img_load(path, &ctx.lim, 0, 1, &im)) != 0)
			return rc;
		rc = classify_image(strcmp(path, "-") == 0 ? "stdin" : path, &im, &cls);
		info.type = im.type;
		info.w = im.w;
		info.h = im.h;
		img_free(&im);
		if (rc != 0)
			return rc;
	} else if ((rc = classify_file(path, &ctx.lim, &cls, &info)) != 0)
		return rc;
	line = JV_OBJECT(jv_string("file"), jv_string(strcmp(path, "-") == 0 ? "stdin" : path),
	    jv_string("mime"), jv_string(img_mime(info.type)),
	    jv_string("width"), jv_number(info.w), jv_string("height"), jv_number(info.h));
	jv_object_foreach(cls, k, v)
		line = jv_object_set(line, k, v);
	jv_free(cls);
	return json_write(stdout, line);
}

/* Classify every input of one job record; 0 or the first failure. */
static int
classify_job(jv *job, const char *name)
{
	jv inputs, first = jv_invalid();
	char path[4096];
	int rc = 0;

	if (jv_get_kind(*job) != JV_KIND_OBJECT) {
		warnx("%s: not a job record (JSON object expected)", name);
		return EX_DATAERR;
	}
	inputs = json_get(*job, "inputs");
	if (jv_get_kind(inputs) != JV_KIND_ARRAY || jv_array_length(jv_copy(inputs)) == 0) {
		warnx("%s: job has no inputs", name);
		jv_free(inputs);
		return EX_DATAERR;
	}
	if (ctx.st == NULL && (rc = store_open(conf_spool(ctx.conf), 0, &ctx.st)) != 0) {
		jv_free(inputs);
		return rc;
	}
	int n = jv_array_length(jv_copy(inputs));
	for (int i = 0; i < n && rc == 0; i++) {
		jv in = jv_array_get(jv_copy(inputs), i), cls;
		const char *id = jv_get_kind(in) == JV_KIND_OBJECT ? json_str(in, "object") : NULL;
		if (id == NULL || !store_valid_id(id)) {
			warnx("%s: inputs[%d]: no valid \"object\" id", name, i);
			rc = EX_DATAERR;
		} else if ((rc = store_path(ctx.st, id, path, sizeof path)) == 0 &&
		    (rc = classify_file(path, &ctx.lim, &cls, NULL)) == 0) {
			if (!jv_is_valid(first))
				first = jv_copy(cls);
			in = jv_object_set(in, jv_string("classify"), cls);
			inputs = jv_array_set(inputs, i, jv_copy(in));
		}
		jv_free(in);
	}
	if (rc == 0) {
		*job = jv_object_set(*job, jv_string("inputs"), inputs);
		*job = jv_object_set(*job, jv_string("classify"), first);
	} else {
		jv_free(inputs);
		jv_free(first);
	}
	return rc;
}

static int
classify_jobs(void)
{
	struct json_reader *r = NULL;
	char name[64];
	int rc = 0, e;
	jv job;

	if ((e = json_reader_open(stdin, "stdin", &r)) != 0)
		return e;
	for (long n = 1;; n++) {
		if ((e = json_next(r, &job)) != 0) {      /* bad JSON: cannot resync */
			rc = rc ? rc : e;
			break;
		}
		if (!jv_is_valid(job))
			break;
		const char *id = jv_get_kind(job) == JV_KIND_OBJECT ? json_str(job, "id") : NULL;
		if (id != NULL && strlen(id) < 40)
			snprintf(name, sizeof name, "job %s", id);
		else
			snprintf(name, sizeof name, "stdin: record %ld", n);
		if ((e = classify_job(&job, name)) == 0)
			e = json_write(stdout, jv_copy(job));
		jv_free(job);
		if (e != 0 && rc == 0)
			rc = e;
	}
	json_reader_close(r);
	return rc;
}

/* Standard input: an image (JPEG 0xFF, PNG 0x89) or job records. */
static int
classify_stdin(void)
{
	int c = getc(stdin);

	if (c == EOF) {
		if (ferror(stdin)) {
			warn("stdin");
			return EX_IOERR;
		}
		return 0;                                  /* no records */
	}
	ungetc(c, stdin);
	if (c == 0xFF || c == 0x89)
		return classify_path("-");
	return classify_jobs();
}

int
main(int argc, char *argv[])
{
	static const struct option lo[] = {
		{ "full", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 } };
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "FhV", lo, NULL)) != -1)
		switch (c) {
		case 'F': ctx.full = 1; break;
		case 'h': help(); return util_stdout_status(0);
		case 'V': puts("rs-classify " RS_VERSION); return util_stdout_status(0);
		default: fputs(USAGE, stderr); return EX_USAGE;
		}
	if ((rc = load_limits()) != 0)
		goto out;
	if (optind == argc)
		rc = classify_stdin();
	for (int i = optind; i < argc; i++) {
		c = strcmp(argv[i], "-") == 0 ? classify_stdin() : classify_path(argv[i]);
		if (c != 0 && rc == 0)
			rc = c;
	}
out:
	store_close(ctx.st);
	conf_free(ctx.conf);
	return util_stdout_status(rc);
}
