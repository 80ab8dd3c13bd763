/* rs-restore: restore a photo, or the input of each job record on stdin.
 * With a file, the restored image goes to -o (PNG, or JPEG with
 * --quality or a .jpg name). Without, job records are read as JSON Lines;
 * each one's first input is taken from the object store, restored, and
 * stored, and the record comes out with "restore" and "output" added and
 * every other key untouched. The operations follow the classification
 * (the record's, or rs-classify's own when there is none) unless --ops
 * names them. Backends other than "local" are not built yet. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "img.h"
#include "json.h"
#include "restore.h"
#include "store.h"
#include "util.h"
#if defined(__has_include)
#if __has_include("classify.h")
#include "classify.h"
#define HAVE_CLASSIFY 1
#endif
#endif

#define USAGE "usage: rs-restore [--backend local] [--ops list] [--strength s] " \
	"[--scale 2|4]\n                  [--keep-sepia | --neutralise-sepia] " \
	"[--quality n] [--print-ops] [-o out] [file]\n"

static struct {
	const char *out, *ops;
	int quality, print_ops;
	struct restore_opts ro;
} opt;

static void
help(void)
{
	fputs(USAGE
	    "Restore a photo with the built-in classical engine.\n"
	    "  -b, --backend NAME      local (the only one built so far)\n"
	    "      --ops LIST          comma-separated: deblock,denoise,descratch,levels,\n"
	    "                          white_balance,deblur,upscale (default: classify)\n"
	    "  -s, --strength S        0..1 for every operation\n"
	    "      --scale N           enlarge 2 or 4 times\n"
	    "      --keep-sepia        remove casts, keep sepia toning (default)\n"
	    "      --neutralise-sepia  remove sepia toning too\n"
	    "  -q, --quality N         write JPEG of quality N (default PNG)\n"
	    "  -o, --output FILE       the restored image (\"-\": stdout)\n"
	    "  -n, --print-ops         print the planned operations, restore nothing\n"
	    "  -j, --threads N         threads (default: one per core)\n"
	    "  -h, --help              show this help\n"
	    "  -V, --version           show the version\n"
	    "With no file, read job records on stdin and store each output in the spool.\n"
	    "Environment: RS_SPOOL, RS_CONF, RS_MAX_BYTES, RS_MAX_PIXELS, RS_MAX_SIDE.\n",
	    stdout);
}

static int
load_limits(struct conf *c, struct img_limits *lim)
{
	int rc;

	if ((rc = conf_size(c, "RS_MAX_BYTES", IMG_MAX_BYTES, &lim->max_bytes)) != 0 ||
	    (rc = conf_size(c, "RS_MAX_PIXELS", IMG_MAX_PIXELS, &lim->max_pixels)) != 0 ||
	    (rc = conf_size(c, "RS_MAX_SIDE", IMG_MAX_SIDE, &lim->max_side)) != 0)
		return rc;
	return 0;
}

/* --ops as an array of names; checked in main */
static jv
ops_list(const char *s)
{
	jv a = jv_array();
	char *dup = strdup(s), *save = NULL;

	if (dup == NULL)
		return jv_invalid();
	for (char *t = strtok_r(dup, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
		a = jv_array_append(a, jv_string(t));
	free(dup);
	return a;
}

/* The operations for im: --ops, else the classification cls (borrowed,
 * may be null), else one made now. */
static int
choose(const char *name, const struct img *im, jv cls, jv *plan)
{
	jv ops = jv_invalid();
	int rc = 0;

	if (opt.ops != NULL)
		ops = ops_list(opt.ops);
	else if (jv_get_kind(cls) == JV_KIND_OBJECT &&
	    jv_get_kind(ops = json_get(cls, "ops")) == JV_KIND_ARRAY)
		;
	else {
		jv_free(ops);
#ifdef HAVE_CLASSIFY
		jv c = jv_null();
		if ((rc = classify_image(name, im, &c)) == 0)
			ops = json_get(c, "ops");
		jv_free(c);
		if (rc == 0 && jv_get_kind(ops) != JV_KIND_ARRAY) {
			jv_free(ops);
			rc = restore_guess(name, im, &ops);
		}
#else
		rc = restore_guess(name, im, &ops);
#endif
		if (rc != 0)
			return rc;
	}
	return restore_plan(name, ops, &opt.ro, plan);
}

static jv
restore_obj(jv ops)
{
	return JV_OBJECT(jv_string("backend"), jv_string("local"), jv_string("ops"), ops,
	    jv_string("strength"), opt.ro.strength >= 0 ? jv_number(opt.ro.strength) : jv_null());
}

static enum img_type
out_type(const char *path)
{
	const char *dot = path != NULL ? strrchr(path, '.') : NULL;

	if (opt.quality > 0)
		return IMG_JPEG;
	if (dot != NULL && (strcmp(dot, ".jpg") == 0 || strcmp(dot, ".jpeg") == 0 ||
	    strcmp(dot, ".JPG") == 0 || strcmp(dot, ".JPEG") == 0))
		return IMG_JPEG;
	return IMG_PNG;
}

static int
restore_file(const char *path, const struct img_limits *lim)
{
	const char *name = strcmp(path, "-") == 0 ? "stdin" : path;
	struct img im;
	jv plan = jv_invalid(), used = jv_invalid();
	int rc;

	if ((rc = img_load(path, lim, 0, 1, &im)) != 0)
		return rc;
	if ((rc = choose(name, &im, jv_null(), &plan)) != 0)
		goto out;
	if (opt.print_ops) {
		rc = json_write(stdout, restore_obj(jv_copy(plan)));
		goto out;
	}
	if ((rc = restore_run(name, &im, plan, &opt.ro, &used)) == 0)
		rc = img_save(opt.out, &im, out_type(opt.out), opt.quality > 0 ? opt.quality : 92);
out:
	jv_free(plan);
	jv_free(used);
	img_free(&im);
	return rc;
}

/* One job record: restore inputs[0], store the output, print the record. */
static int
restore_job(jv job, struct store *st, const struct img_limits *lim)
{
	char name[128], object[STORE_ID_LEN + 1];
	const char *id = json_str(job, "id"), *obj;
	jv in = jv_invalid(), cls = jv_invalid(), plan = jv_invalid(), used = jv_invalid();
	unsigned char *buf = NULL, *out = NULL;
	size_t len = 0, outlen = 0;
	struct img im;
	enum img_type type = out_type(NULL);
	int rc;

	memset(&im, 0, sizeof im);
	snprintf(name, sizeof name, "%s", id != NULL ? id : "job");
	if (jv_get_kind(job) != JV_KIND_OBJECT ||
	    jv_get_kind(in = json_get(job, "inputs")) != JV_KIND_ARRAY ||
	    jv_get_kind(in = jv_array_get(in, 0)) != JV_KIND_OBJECT ||
	    (obj = json_str(in, "object")) == NULL || !store_valid_id(obj)) {
		warnx("%s: no inputs[0].object in the record", name);
		rc = EX_DATAERR;
		goto out;
	}
	if ((rc = store_get(st, obj, lim->max_bytes, &buf, &len)) != 0 ||
	    (rc = img_decode(name, buf, len, lim, 0, 1, &im)) != 0)
		goto out;
	if (jv_get_kind(cls = json_get(job, "classify")) != JV_KIND_OBJECT) {
		jv_free(cls);
		cls = json_get(in, "classify");
	}
	if ((rc = choose(name, &im, cls, &plan)) != 0)
		goto out;
	if (opt.print_ops) {
		rc = json_write(stdout, jv_object_set(jv_copy(job), jv_string("restore"),
		    restore_obj(jv_copy(plan))));
		goto out;
	}
	if ((rc = restore_run(name, &im, plan, &opt.ro, &used)) != 0 ||
	    (rc = img_encode(name, &im, type, opt.quality > 0 ? opt.quality : 92, &out, &outlen)) != 0 ||
	    (rc = store_put(st, out, outlen, object)) != 0)
		goto out;
	job = jv_object_set(job, jv_string("restore"), restore_obj(jv_copy(used)));
	job = jv_object_set(job, jv_string("output"), JV_OBJECT(
	    jv_string("object"), jv_string(object), jv_string("mime"), jv_string(img_mime(type)),
	    jv_string("width"), jv_number(im.w), jv_string("height"), jv_number(im.h),
	    jv_string("bytes"), jv_number((double)outlen)));
	rc = json_write(stdout, jv_copy(job));
out:
	jv_free(job);
	jv_free(in);
	jv_free(cls);
	jv_free(plan);
	jv_free(used);
	free(buf);
	free(out);
	img_free(&im);
	return rc;
}

static int
run(const char *path)
{
	struct img_limits lim;
	struct conf *c = NULL;
	struct store *st = NULL;
	struct json_reader *r = NULL;
	int rc, first = 0;

	if ((rc = conf_load(&c)) != 0 || (rc = load_limits(c, &lim)) != 0)
		goto out;
	if (path != NULL) {
		rc = restore_file(path, &lim);
		goto out;
	}
	if ((rc = store_open(conf_spool(c), 1, &st)) != 0 ||
	    (rc = json_reader_open(stdin, "stdin", &r)) != 0)
		goto out;
	for (;;) {           /* go on after a failed job; exit with the first status */
		jv job;
		if ((rc = json_next(r, &job)) != 0 || !jv_is_valid(job)) {
			jv_free(job);
			break;
		}
		if ((rc = restore_job(job, st, &lim)) != 0 && first == 0)
			first = rc;
		fflush(stdout);
	}
	if (rc == 0)
		rc = first;
out:
	json_reader_close(r);
	store_close(st);
	conf_free(c);
	return rc;
}

static int
number(const char *what, const char *s, double lo, double hi, double *v)
{
	char *end;

	*v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || !(*v >= lo && *v <= hi)) {
		warnx("%s: %s: want a number from %g to %g", what, s, lo, hi);
		return EX_USAGE;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option lo[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "ops", required_argument, NULL, 'O' },
		{ "strength", required_argument, NULL, 's' },
		{ "scale", required_argument, NULL, 'S' },
		{ "keep-sepia", no_argument, NULL, 'k' },
		{ "neutralise-sepia", no_argument, NULL, 'N' },
		{ "neutralize-sepia", no_argument, NULL, 'N' },
		{ "quality", required_argument, NULL, 'q' },
		{ "output", required_argument, NULL, 'o' },
		{ "print-ops", no_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 } };
	double v;
	int c;

	restore_opts_default(&opt.ro);
	while ((c = getopt_long(argc, argv, "b:hj:no:q:s:V", lo, NULL)) != -1)
		switch (c) {
		case 'b':
			if (strcmp(optarg, "local") == 0)
				break;
			if (strcmp(optarg, "gemini") == 0 || strncmp(optarg, "exec:", 5) == 0)
				warnx("--backend %s: not built yet (only \"local\" is)", optarg);
			else
				warnx("--backend %s: unknown backend (only \"local\" is built)", optarg);
			return EX_USAGE;
		case 'O': opt.ops = optarg; break;
		case 's':
			if (number("--strength", optarg, 0, 1, &opt.ro.strength) != 0)
				return EX_USAGE;
			break;
		case 'S':
			if (number("--scale", optarg, 1, 4, &v) != 0)
				return EX_USAGE;
			if (v != 1 && v != 2 && v != 4) {
				warnx("--scale: %s: must be 2 or 4", optarg);
				return EX_USAGE;
			}
			opt.ro.scale = (int)v;
			break;
		case 'k': opt.ro.keep_sepia = 1; break;
		case 'N': opt.ro.keep_sepia = 0; break;
		case 'q':
			if (number("--quality", optarg, 1, 100, &v) != 0)
				return EX_USAGE;
			opt.quality = (int)v;
			break;
		case 'o': opt.out = optarg; break;
		case 'n': opt.print_ops = 1; break;
		case 'j':
			if (number("--threads", optarg, 1, 8, &v) != 0)
				return EX_USAGE;
			opt.ro.threads = (int)v;
			break;
		case 'h': help(); return util_stdout_status(0);
		case 'V': puts("rs-restore " RS_VERSION); return util_stdout_status(0);
		default: fputs(USAGE, stderr); return EX_USAGE;
		}
	if (opt.ops != NULL) {
		jv a = ops_list(opt.ops);
		int bad = jv_array_length(jv_copy(a)) == 0;
		jv_array_foreach(a, i, x) {
			if (!bad && restore_op_index(jv_string_value(x)) < 0) {
				warnx("--ops: %s: unknown operation (known: deblock, denoise, "
				    "descratch, levels, white_balance, deblur, upscale)",
				    jv_string_value(x));
				bad = 2;
			}
			jv_free(x);
		}
		jv_free(a);
		if (bad == 1)
			warnx("--ops: empty list");
		if (bad)
			return EX_USAGE;
	}
	if (argc - optind > 1) {
		warnx("%d files: give one file (or job records on stdin)", argc - optind);
		return EX_USAGE;
	}
	if (argc - optind == 1 && opt.out == NULL && !opt.print_ops) {
		warnx("%s: no output: give -o FILE (\"-o -\" for stdout)", argv[optind]);
		return EX_USAGE;
	}
	if (argc == optind && opt.out != NULL) {
		warnx("-o: only with a file; job outputs go to the object store");
		return EX_USAGE;
	}
	return util_stdout_status(run(optind < argc ? argv[optind] : NULL));
}
