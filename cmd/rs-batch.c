/* rs-batch: restore a photo archive into a mirrored tree, resumably.
 * The work is lib/batch.c's; this turns arguments into its calls and
 * turns Ctrl-C into "finish the photos started, then stop". */
#include <err.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "conf.h"
#include "json.h"
#include "util.h"

#define USAGE "usage: rs-batch [-n] [-j N] [-b backend] [-q quality] [--log file] " \
	"[--report file] IN_DIR OUT_DIR\n" \
	"       rs-batch [options] -o OUT_DIR [-C ROOT] [-0] [file | dir ...]\n" \
	"       rs-batch --triage [-j N] [-0] [file | dir ...]\n"

static struct batch_opts opt;
static volatile sig_atomic_t stop;

static void
help(void)
{
	fputs(USAGE
	    "Classify every JPEG and PNG of a tree; restore those that need it into a\n"
	    "mirrored tree and copy the rest. A second run skips what is done.\n"
	    "  -j, --jobs N        photos at once (default: one per core)\n"
	    "  -b, --backend B     local (default), auto, gemini or exec:PROGRAM\n"
	    "  -q, --quality N     write JPEG of quality N (default PNG)\n"
	    "  -n, --dry-run       say what would be done; write nothing\n"
	    "  -t, --triage        classify only; list by severity\n"
	    "  -o, --output DIR    the output tree; every operand is an input\n"
	    "  -C, --root DIR      mirror paths relative to DIR (with -o; default .)\n"
	    "  -0, --null          also read NUL-separated names from stdin\n"
	    "      --rate N        at most N model requests a minute (gemini, exec)\n"
	    "      --log FILE      also append the log to FILE (\"-\": stdout)\n"
	    "      --report FILE   the HTML report (default OUT_DIR/.rs-batch/report.html)\n"
	    "  -h, --help          show this help\n"
	    "  -V, --version       show the version\n"
	    "Prints a summary object; the log of every file is OUT_DIR/.rs-batch/log.jsonl.\n",
	    stdout);
}

static void
on_signal(int sig)
{
	if (stop) {                      /* a second Ctrl-C: stop now */
		signal(sig, SIG_DFL);
		raise(sig);
	}
	stop = 1;
}

/* Add the NUL-separated names on stdin. */
static int
add_stdin(struct batch *b)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	while ((n = getdelim(&line, &cap, '\0', stdin)) > 0) {
		if (line[n - 1] == '\0')
			n--;
		line[n] = '\0';
		if (n > 0)
			batch_add(b, line);   /* a bad name is reported; the rest go on */
	}
	if (ferror(stdin)) {
		warn("stdin");
		rc = EX_IOERR;
	}
	free(line);
	return rc;
}

static int
run(int argc, char **argv, int null)
{
	struct conf *c = NULL;
	struct batch *b = NULL;
	jv summary = jv_invalid();
	int rc;

	if ((rc = conf_load(&c)) != 0 || (rc = batch_open(&opt, c, &b)) != 0)
		goto out;
	for (int i = 0; i < argc; i++)
		batch_add(b, argv[i]);     /* a bad one is reported; the rest go on */
	if (null && (rc = add_stdin(b)) != 0)
		goto out;
	rc = batch_run(b, &summary);
	if (jv_is_valid(summary)) {
		int r = json_write(stdout, summary);
		summary = jv_invalid();
		if (r != 0 && rc == 0)
			rc = r;
	}
out:
	jv_free(summary);
	batch_close(b);
	conf_free(c);
	return rc;
}

int
main(int argc, char *argv[])
{
	static const struct option lo[] = {
		{ "jobs", required_argument, NULL, 'j' },
		{ "backend", required_argument, NULL, 'b' },
		{ "quality", required_argument, NULL, 'q' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "triage", no_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "root", required_argument, NULL, 'C' },
		{ "null", no_argument, NULL, '0' },
		{ "rate", required_argument, NULL, 'r' },
		{ "log", required_argument, NULL, 'L' },
		{ "report", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 } };
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;
	const char *root = NULL;
	double v;
	int c, null = 0, nargs;

	while ((c = getopt_long(argc, argv, "0b:C:hj:no:q:tV", lo, NULL)) != -1)
		switch (c) {
		case 'j':
			if (util_number("--jobs", optarg, 1, 64, &v) != 0)
				return EX_USAGE;
			opt.jobs = (int)v;
			break;
		case 'b': opt.backend = optarg; break;
		case 'q':
			if (util_number("--quality", optarg, 1, 100, &v) != 0)
				return EX_USAGE;
			opt.quality = (int)v;
			break;
		case 'n': opt.mode = BATCH_DRY_RUN; break;
		case 't': opt.mode = BATCH_TRIAGE; break;
		case 'o': opt.out = optarg; break;
		case 'C': root = optarg; break;
		case '0': null = 1; break;
		case 'r':
			if (util_number("--rate", optarg, 0, 1e6, &opt.rate) != 0)
				return EX_USAGE;
			break;
		case 'L': opt.log = optarg; break;
		case 'R': opt.report = optarg; break;
		case 'h': help(); return util_stdout_status(0);
		case 'V': puts("rs-batch " RS_VERSION); return util_stdout_status(0);
		default: fputs(USAGE, stderr); return EX_USAGE;
		}
	nargs = argc - optind;
	if (opt.mode == BATCH_TRIAGE) {
		if (opt.out != NULL || root != NULL) {
			warnx("--triage writes nothing: no -o or -C");
			return EX_USAGE;
		}
		if (nargs == 0 && !null) {
			warnx("--triage: give files or directories (or -0 and names on stdin)");
			return EX_USAGE;
		}
	} else if (opt.out != NULL) {
		opt.root = root != NULL ? root : ".";
		if (nargs == 0 && !null) {
			warnx("-o %s: give files or directories (or -0 and names on stdin)", opt.out);
			return EX_USAGE;
		}
	} else {
		if (nargs != 2 || root != NULL) {
			warnx(root != NULL ? "-C: only with -o" :
			    "give IN_DIR and OUT_DIR (or -o OUT_DIR and inputs)");
			fputs(USAGE, stderr);
			return EX_USAGE;
		}
		opt.root = argv[optind];
		opt.out = argv[optind + 1];
		if (null)
			nargs = 0;      /* the names come from stdin, under IN_DIR */
		else
			nargs = 1;
	}
	if (opt.log != NULL && strcmp(opt.log, "-") == 0 && opt.mode != BATCH_RUN) {
		warnx("--log -: only for a run");
		return EX_USAGE;
	}
	opt.out_fp = stdout;
	opt.progress = isatty(STDERR_FILENO);
	opt.table = opt.mode == BATCH_TRIAGE && isatty(STDOUT_FILENO);
	opt.stop = &stop;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct sigaction old;            /* what nohup or a shell ignores stays ignored */
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			sigaction(sigs[i], &sa, NULL);
	}
	return util_stdout_status(run(nargs, argv + optind, null));
}
