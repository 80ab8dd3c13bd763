/* rs-upload: check photos and store them in the spool; print the job.
 * Every file is read within the byte limit, sniffed by its magic bytes,
 * and decoded completely (keeping no pixels) before anything is stored,
 * so a rejected file leaves nothing behind. The files of one invocation
 * make one job: one input is a restoration, two or three a fusion. */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "img.h"
#include "json.h"
#include "ledger.h"
#include "spool.h"
#include "store.h"
#include "upload.h"
#include "util.h"

#define MAX_INPUTS UPLOAD_MAX_INPUTS
#define MAX_PROMPT UPLOAD_MAX_PROMPT
#define MAX_USER 128
#define USAGE "usage: rs-upload [-e -u user [-p prompt]] [file ...]\n"

static struct {
	int enqueue;
	const char *user, *prompt;
} opt;

static void
help(void)
{
	fputs(USAGE
	    "Check JPEG/PNG photos, store them in the spool, print the job record.\n"
	    "  -e, --enqueue       queue the job for rs-run (needs --user)\n"
	    "  -u, --user USER     the job's owner\n"
	    "  -p, --prompt TEXT   the user's wish for the restoration\n"
	    "  -h, --help          show this help\n"
	    "  -V, --version       show the version\n"
	    "With no file, or \"-\", read one image from standard input.\n"
	    "1 file makes a restoration job, 2 or 3 a fusion job.\n"
	    "Environment: RS_SPOOL, RS_CONF, RS_MAX_BYTES, RS_MAX_PIXELS, RS_MAX_SIDE.\n",
	    stdout);
}

struct input {
	const char *path;
	unsigned char *buf;
	size_t len;
};

static const char *
base(const char *path)
{
	const char *s = strrchr(path, '/');

	if (strcmp(path, "-") == 0)
		return "stdin";
	return s != NULL && s[1] != '\0' ? s + 1 : path;
}

/* With --enqueue: a user with an account pays before the job is queued.
 * The plan gives the cost of the job's mode (a restoration costs 1 unless
 * it says otherwise) and the priority; the credits are held under the
 * job id until rs-run captures or releases them. No account, no charge. */
static int
reserve(const char *spool, jv *job, struct ledger **lgp)
{
	jv user = jv_invalid();
	FILE *err = stderr, *quiet;
	int rc;

	if ((rc = ledger_open(spool, 1, lgp)) != 0)
		return rc;
	/* an unknown user is no error here: hush the ledger's "no such user" */
	if ((quiet = fopen("/dev/null", "we")) != NULL)
		stderr = quiet;
	rc = ledger_user_get(*lgp, opt.user, &user);
	stderr = err;
	if (quiet != NULL)
		fclose(quiet);
	if (rc == EX_NOINPUT)
		return 0;
	if (rc != 0)                  /* hushed: say it again */
		return ledger_user_get(*lgp, opt.user, &user);
	rc = upload_charge(*lgp, user, job);
	jv_free(user);
	return rc;
}

static int
upload(char **paths, int n)
{
	struct input in[MAX_INPUTS];
	struct upload_input up[MAX_INPUTS];
	struct img_limits lim;
	struct conf *c = NULL;
	struct store *st = NULL;
	struct spool *sp = NULL;
	struct ledger *lg = NULL;
	const char *spool;
	jv job = jv_null();
	int rc;

	memset(in, 0, sizeof in);
	memset(up, 0, sizeof up);
	if ((rc = conf_load(&c)) != 0 || (rc = img_limits_conf(c, &lim)) != 0)
		goto out;
	/* prove every file before storing any */
	for (int i = 0; i < n; i++) {
		in[i].path = paths[i];
		if ((rc = util_slurp(paths[i], lim.max_bytes, &in[i].buf, &in[i].len)) != 0 ||
		    (rc = upload_check(strcmp(paths[i], "-") == 0 ? "stdin" : paths[i],
		    in[i].buf, in[i].len, &lim, &up[i])) != 0)
			goto out;
		snprintf(up[i].name, sizeof up[i].name, "%s", base(paths[i]));
	}
	spool = conf_spool(c);
	if ((rc = store_open(spool, 1, &st)) != 0)
		goto out;
	if (opt.enqueue && (rc = spool_open(spool, 1, &sp)) != 0)
		goto out;
	for (int i = 0; i < n; i++)
		if ((rc = store_put(st, in[i].buf, in[i].len, up[i].object)) != 0)
			goto out;
	job = upload_record(up, n, opt.user, opt.prompt, opt.enqueue);
	if (opt.enqueue && (rc = reserve(spool, &job, &lg)) != 0)
		goto out;
	if (opt.enqueue && (rc = spool_enqueue(sp, job)) != 0) {
		/* Nothing queued: nothing held. Unless the queue could not say
		 * (75: the job may be there); then the hold stays, and rs-run
		 * --gc gives it back if no job ever appears. */
		jv hold = rc != EX_TEMPFAIL ? json_get(job, "cost") : jv_invalid();
		if (jv_is_valid(hold)) {
			jv_free(hold);
			ledger_release(lg, json_str(job, "id"), &hold);
		}
		jv_free(hold);
		goto out;
	}
	rc = json_write(stdout, jv_copy(job));
out:
	jv_free(job);
	for (int i = 0; i < n; i++)
		free(in[i].buf);
	ledger_close(lg);
	spool_close(sp);
	store_close(st);
	conf_free(c);
	return rc;
}

int
main(int argc, char *argv[])
{
	static const struct option lo[] = {
		{ "enqueue", no_argument, NULL, 'e' },
		{ "user", required_argument, NULL, 'u' },
		{ "prompt", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 } };
	static char *stdin_only[] = { "-" };
	int c;

	while ((c = getopt_long(argc, argv, "ehp:u:V", lo, NULL)) != -1)
		switch (c) {
		case 'e': opt.enqueue = 1; break;
		case 'u': opt.user = optarg; break;
		case 'p': opt.prompt = optarg; break;
		case 'h': help(); return util_stdout_status(0);
		case 'V': puts("rs-upload " RS_VERSION); return util_stdout_status(0);
		default: fputs(USAGE, stderr); return EX_USAGE;
		}
	if (argc - optind > MAX_INPUTS) {
		warnx("%d files: a job takes 1 to %d images (run once per job)",
		    argc - optind, MAX_INPUTS);
		return EX_USAGE;
	}
	if (opt.enqueue && opt.user == NULL) {
		warnx("--enqueue needs --user");
		return EX_USAGE;
	}
	if (opt.user != NULL && (*opt.user == '\0' || strlen(opt.user) > MAX_USER ||
	    !upload_printable(opt.user, 0))) {
		warnx("--user: 1 to %d printable characters", MAX_USER);
		return EX_USAGE;
	}
	if (opt.prompt != NULL && (strlen(opt.prompt) > MAX_PROMPT || !upload_printable(opt.prompt, 1))) {
		warnx("--prompt: at most %d bytes of text", MAX_PROMPT);
		return EX_USAGE;
	}
	if (optind == argc)
		return util_stdout_status(upload(stdin_only, 1));
	return util_stdout_status(upload(argv + optind, argc - optind));
}
