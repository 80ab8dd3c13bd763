/* rs-restore: restore a photo, or the input of each job record on stdin.
 * With a file, the restored image goes to -o (PNG, or JPEG with
 * --quality or a .jpg name). Without, job records are read as JSON Lines;
 * each one's first input is taken from the object store, restored, and
 * stored, and the record comes out with "restore" and "output" added and
 * every other key untouched. The operations follow the classification
 * (the record's, or rs-classify's own when there is none) unless --ops
 * names them. --backend picks who restores (backend.h): the built-in
 * engine, the Gemini API, or an external program; 2 or 3 files (or job
 * inputs) make a fusion, which needs a model backend. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
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

#define USAGE "usage: rs-restore [--backend auto|local|gemini|exec:PROG] [--prompt text]\n" \
	"                  [--colourise] [--ops list] [--strength s] [--scale 2|4]\n" \
	"                  [--keep-sepia | --neutralise-sepia] [--quality n]\n" \
	"                  [--print-ops | --print-prompt] [-o out] [file [file2 [file3]]]\n"

static struct {
	const char *out, *ops, *backend, *prompt;
	int quality, print_ops, print_prompt, colourise;
	struct restore_opts ro;
} opt = { .backend = "auto" };

static void
help(void)
{
	fputs(USAGE
	    "Restore a photo; 2 or 3 photos of one scene are fused into one.\n"
	    "  -b, --backend NAME      auto (gemini with a key, else local), local,\n"
	    "                          gemini, or exec:PROGRAM (see rs-backends(7))\n"
	    "  -p, --prompt TEXT       the user's wish, for model backends\n"
	    "      --colourise         let the model colourise a black-and-white photo\n"
	    "  -P, --print-prompt      print the prompt a model would get, call nothing\n"
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
	    "Environment: RS_SPOOL, RS_CONF, RS_MAX_BYTES, RS_MAX_PIXELS, RS_MAX_SIDE,\n"
	    "GEMINI_API_KEY, RS_GEMINI_* and RS_FIDELITY_MIN (rs-backends(7)).\n",
	    stdout);
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

/* The "restore" record of a backend run: strength added for local. */
static jv
restore_obj(jv rec)
{
	jv ops = json_get(rec, "ops");

	if (jv_get_kind(ops) == JV_KIND_ARRAY)
		rec = jv_object_set(rec, jv_string("strength"),
		    opt.ro.strength >= 0 ? jv_number(opt.ro.strength) : jv_null());
	jv_free(ops);
	return rec;
}

struct input {
	char name[160];
	unsigned char *buf;
	size_t len;
	struct img im;
	char path[4096];
};

static void
inputs_free(struct input *in, int n)
{
	for (int i = 0; i < n; i++) {
		free(in[i].buf);
		img_free(&in[i].im);
	}
}

/* Restore (or fuse) the decoded inputs; cls and job borrowed. *out and
 * *rec on success; with --print-ops *rec is the plan's record and *out
 * empty; --print-prompt prints the prompt and leaves *rec invalid. */
static int
restore_inputs(struct backend *b, struct input *in, int n, jv cls, jv job,
    const char *prompt, int colourise, const struct img_limits *lim, struct img *out, jv *rec)
{
	struct backend_req r = { .n = n, .prompt = prompt, .colourise = colourise,
		.classify = cls, .plan = jv_null(), .ro = &opt.ro, .job = job, .lim = lim };
	char *text = NULL;
	int rc;

	*rec = jv_invalid();
	memset(out, 0, sizeof *out);
	for (int i = 0; i < n; i++)
		r.in[i] = (struct backend_input){ .name = in[i].name,
		    .path = in[i].path[0] ? in[i].path : NULL, .buf = in[i].buf,
		    .len = in[i].len, .im = &in[i].im };
	if (opt.print_ops || (backend_is_local(b) && !opt.print_prompt)) {
		if ((rc = choose(in[0].name, &in[0].im, cls, &r.plan)) != 0)
			goto out;
		if (opt.print_ops) {
			*rec = restore_obj(JV_OBJECT(jv_string("backend"), jv_string("local"),
			    jv_string("ops"), jv_copy(r.plan)));
			goto out;
		}
	}
	if (opt.print_prompt) {
		if ((rc = backend_prompt(b, &r, &text)) == 0 && puts(text) == EOF)
			rc = EX_IOERR;
		goto out;
	}
	if ((rc = backend_run(b, &r, out, rec)) == 0)
		*rec = restore_obj(*rec);
out:
	free(text);
	jv_free(r.plan);
	return rc;
}

static int
restore_files(char **paths, int n, const struct img_limits *lim, struct backend *b)
{
	struct input in[BACKEND_MAX_INPUTS];
	struct img out;
	jv rec = jv_invalid();
	int rc = 0;

	memset(in, 0, sizeof in);
	memset(&out, 0, sizeof out);
	for (int i = 0; i < n && rc == 0; i++) {
		snprintf(in[i].name, sizeof in[i].name, "%s",
		    strcmp(paths[i], "-") == 0 ? "stdin" : paths[i]);
		snprintf(in[i].path, sizeof in[i].path, "%s", paths[i]);
		if ((rc = util_slurp(paths[i], lim->max_bytes, &in[i].buf, &in[i].len)) == 0)
			rc = img_decode(in[i].name, in[i].buf, in[i].len, lim, 0, 1, &in[i].im);
	}
	if (rc == 0 && n == 0) {          /* --print-prompt alone */
		struct backend_req r = { .n = 1, .prompt = opt.prompt, .colourise = opt.colourise,
			.classify = jv_null() };
		char *text = NULL;
		if ((rc = backend_prompt(b, &r, &text)) == 0 && puts(text) == EOF)
			rc = EX_IOERR;
		free(text);
	} else if (rc == 0 && (rc = restore_inputs(b, in, n, jv_null(), jv_null(), opt.prompt,
	    opt.colourise, lim, &out, &rec)) == 0 && jv_is_valid(rec)) {
		if (opt.print_ops)
			rc = json_write(stdout, jv_copy(rec));
		else
			rc = img_save(opt.out, &out, out_type(opt.out),
			    opt.quality > 0 ? opt.quality : 92, opt.ro.threads);
	}
	jv_free(rec);
	img_free(&out);
	inputs_free(in, n);
	return rc;
}

/* One job record: restore its inputs, store the output, print the record. */
static int
restore_job(jv job, struct store *st, const struct img_limits *lim, struct backend *b)
{
	struct input in[BACKEND_MAX_INPUTS];
	char name[128], object[STORE_ID_LEN + 1];
	const char *id = json_str(job, "id"), *prompt;
	jv ins = jv_invalid(), cls = jv_invalid(), rec = jv_invalid(), col = jv_invalid();
	unsigned char *out = NULL;
	size_t outlen = 0;
	struct img im;
	enum img_type type = out_type(NULL);
	int rc = 0, n = 0;

	memset(in, 0, sizeof in);
	memset(&im, 0, sizeof im);
	snprintf(name, sizeof name, "%s", id != NULL ? id : "job");
	if (jv_get_kind(job) != JV_KIND_OBJECT ||
	    jv_get_kind(ins = json_get(job, "inputs")) != JV_KIND_ARRAY ||
	    (n = jv_array_length(jv_copy(ins))) < 1) {
		warnx("%s: no inputs[0].object in the record", name);
		rc = EX_DATAERR;
		goto out;
	}
	if (n > BACKEND_MAX_INPUTS) {
		warnx("%s: %d inputs: a job takes 1 to %d", name, n, BACKEND_MAX_INPUTS);
		n = 0;
		rc = EX_DATAERR;
		goto out;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		jv x = jv_array_get(jv_copy(ins), i);
		const char *obj = jv_get_kind(x) == JV_KIND_OBJECT ? json_str(x, "object") : NULL;
		snprintf(in[i].name, sizeof in[i].name, i == 0 ? "%s" : "%s: input %d", name, i + 1);
		if (obj == NULL || !store_valid_id(obj)) {
			warnx("%s: no inputs[%d].object in the record", name, i);
			rc = EX_DATAERR;
		} else if ((rc = store_get(st, obj, lim->max_bytes, &in[i].buf, &in[i].len)) == 0 &&
		    (rc = img_decode(in[i].name, in[i].buf, in[i].len, lim, 0, 1, &in[i].im)) == 0 &&
		    (rc = store_path(st, obj, in[i].path, sizeof in[i].path)) != 0)
			in[i].path[0] = '\0';
		jv_free(x);
	}
	if (rc != 0)
		goto out;
	if (jv_get_kind(cls = json_get(job, "classify")) != JV_KIND_OBJECT) {
		jv x = jv_array_get(jv_copy(ins), 0);
		jv_free(cls);
		cls = json_get(x, "classify");
		jv_free(x);
	}
	prompt = opt.prompt != NULL ? opt.prompt : json_str(job, "prompt");
	col = json_get(job, "colourise");
	if ((rc = restore_inputs(b, in, n, cls, job, prompt,
	    opt.colourise || jv_get_kind(col) == JV_KIND_TRUE, lim, &im, &rec)) != 0)
		goto out;
	if (opt.print_ops) {
		rc = json_write(stdout, jv_object_set(jv_copy(job), jv_string("restore"),
		    jv_copy(rec)));
		goto out;
	}
	if (!jv_is_valid(rec))            /* --print-prompt */
		goto out;
	if ((rc = img_encode(name, &im, type, opt.quality > 0 ? opt.quality : 92,
	    opt.ro.threads, &out, &outlen)) != 0 ||
	    (rc = store_put(st, out, outlen, object)) != 0)
		goto out;
	job = jv_object_set(job, jv_string("restore"), jv_copy(rec));
	job = jv_object_set(job, jv_string("output"), JV_OBJECT(
	    jv_string("object"), jv_string(object), jv_string("mime"), jv_string(img_mime(type)),
	    jv_string("width"), jv_number(im.w), jv_string("height"), jv_number(im.h),
	    jv_string("bytes"), jv_number((double)outlen)));
	rc = json_write(stdout, jv_copy(job));
out:
	jv_free(job);
	jv_free(ins);
	jv_free(cls);
	jv_free(rec);
	jv_free(col);
	free(out);
	img_free(&im);
	inputs_free(in, n);
	return rc;
}

static int
run(char **paths, int n)
{
	struct img_limits lim;
	struct conf *c = NULL;
	struct store *st = NULL;
	struct json_reader *r = NULL;
	struct backend *b = NULL;
	int rc, first = 0;

	if ((rc = conf_load(&c)) != 0 || (rc = img_limits_conf(c, &lim)) != 0)
		goto out;
	/* printing the plan or the prompt calls no model and needs no key */
	if ((rc = backend_open(opt.print_ops || opt.print_prompt ? "local" : opt.backend,
	    c, &b)) != 0)
		goto out;
	if (n > 0 || opt.print_prompt) {
		rc = restore_files(paths, n, &lim, b);
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
		if ((rc = restore_job(job, st, &lim, b)) != 0 && first == 0)
			first = rc;
		fflush(stdout);
	}
	if (rc == 0)
		rc = first;
out:
	json_reader_close(r);
	store_close(st);
	backend_close(b);
	conf_free(c);
	return rc;
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
		{ "prompt", required_argument, NULL, 'p' },
		{ "print-prompt", no_argument, NULL, 'P' },
		{ "colourise", no_argument, NULL, 'C' },
		{ "colorize", no_argument, NULL, 'C' },
		{ "threads", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 } };
	double v;
	int c;

	restore_opts_default(&opt.ro);
	while ((c = getopt_long(argc, argv, "b:hj:no:Pp:q:s:V", lo, NULL)) != -1)
		switch (c) {
		case 'b': opt.backend = optarg; break;
		case 'p': opt.prompt = optarg; break;
		case 'P': opt.print_prompt = 1; break;
		case 'C': opt.colourise = 1; break;
		case 'O': opt.ops = optarg; break;
		case 's':
			if (util_number("--strength", optarg, 0, 1, &opt.ro.strength) != 0)
				return EX_USAGE;
			break;
		case 'S':
			if (util_number("--scale", optarg, 1, 4, &v) != 0)
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
			if (util_number("--quality", optarg, 1, 100, &v) != 0)
				return EX_USAGE;
			opt.quality = (int)v;
			break;
		case 'o': opt.out = optarg; break;
		case 'n': opt.print_ops = 1; break;
		case 'j':
			if (util_number("--threads", optarg, 1, 8, &v) != 0)
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
	if (argc - optind > BACKEND_MAX_INPUTS) {
		warnx("%d files: give 1 to %d (2 or 3 are fused), or job records on stdin",
		    argc - optind, BACKEND_MAX_INPUTS);
		return EX_USAGE;
	}
	if (opt.print_ops && opt.print_prompt) {
		warnx("--print-ops and --print-prompt: choose one");
		return EX_USAGE;
	}
	if (argc > optind && opt.out == NULL && !opt.print_ops && !opt.print_prompt) {
		warnx("%s: no output: give -o FILE (\"-o -\" for stdout)", argv[optind]);
		return EX_USAGE;
	}
	if (argc == optind && opt.out != NULL) {
		warnx("-o: only with a file; job outputs go to the object store");
		return EX_USAGE;
	}
	return util_stdout_status(run(argv + optind, argc - optind));
}
