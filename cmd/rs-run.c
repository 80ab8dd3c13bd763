/* rs-run: the queue runner. Claims jobs from the spool and runs each in
 * this process (lib/job.c): classify, restore, store, capture or release
 * the credits, done or failed. Without --watch it drains the queue and
 * exits, for cron; a lock makes a second cron start exit at once while
 * one runs, and before exiting the runner drops the lock and looks once
 * more, so a job queued meanwhile is never left behind. -j N forks N
 * workers, each a runner of its own (they share the queue the way
 * runners on several hosts do). "status" and --gc report and clean up. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "conf.h"
#include "job.h"
#include "json.h"
#include "ledger.h"
#include "notify.h"
#include "spool.h"
#include "store.h"
#include "util.h"

#define USAGE "usage: rs-run [-svw] [-j jobs] [-t seconds] [-b backend]\n" \
	"       rs-run status [id]\n       rs-run --gc\n"
#define HELP USAGE \
	"Run the queued restoration jobs: classify, restore, store, settle credits.\n" \
	"  -b, --backend NAME    auto (default), local, gemini, exec:PROGRAM or none\n" \
	"  -j, --jobs N          run N jobs at once, each in its own process (1-64)\n" \
	"  -t, --max-time D      claim no job after D (seconds, or with s, m, h, d)\n" \
	"  -w, --watch           stay up and start each job as soon as it is queued\n" \
	"  -s, --shared          do not take the cron lock\n" \
	"  -v, --verbose         say so when another runner holds the cron lock\n" \
	"  -h, --help            show this help\n" \
	"  -V, --version         show the version\n" \
	"status: the number of jobs in each state, or one job's record.\n" \
	"--gc: remove finished jobs and unreferenced objects older than RS_RUN_EXPIRE.\n" \
	"Environment: RS_SPOOL, RS_CONF, RS_DATABASE, RS_BACKEND, RS_RUN_*, RS_CALLBACK_*.\n"

static struct {
	int jobs, watch, shared, verbose, gc;
	double max_time;
	const char *backend;
} opt = { .jobs = 1 };

static volatile sig_atomic_t stop;

struct counts { atomic_long done, failed, retried, recovered; };

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static const char *
backend_spec(struct conf *c)
{
	return opt.backend != NULL ? opt.backend : conf_str(c, "RS_BACKEND", "auto");
}

static int
setup(struct conf *c, struct job_ctx *jc, double *lease)
{
	unsigned long long att, bytes, px, side, q;
	const char *spec = backend_spec(c);
	int rc;

	job_ctx_default(jc);
	if ((rc = conf_seconds(c, "RS_RUN_LEASE", 300, lease)) != 0 ||
	    (rc = conf_seconds(c, "RS_RUN_BACKOFF", 10, &jc->backoff)) != 0 ||
	    (rc = conf_seconds(c, "RS_RUN_BACKOFF_MAX", 3600, &jc->backoff_max)) != 0 ||
	    (rc = conf_size(c, "RS_RUN_ATTEMPTS", 5, &att)) != 0 ||
	    (rc = conf_size(c, "RS_RUN_QUALITY", 0, &q)) != 0 ||
	    (rc = conf_size(c, "RS_MAX_BYTES", IMG_MAX_BYTES, &bytes)) != 0 ||
	    (rc = conf_size(c, "RS_MAX_PIXELS", IMG_MAX_PIXELS, &px)) != 0 ||
	    (rc = conf_size(c, "RS_MAX_SIDE", IMG_MAX_SIDE, &side)) != 0)
		return rc;
	if ((strcmp(spec, "none") != 0 && (rc = backend_open(spec, c, &jc->b)) != 0) ||
	    (rc = notify_open(c, &jc->nt)) != 0)
		return rc;
	jc->max_attempts = att < 1 ? 1 : att > 100 ? 100 : (int)att;
	jc->quality = q > 100 ? 100 : (int)q;
	jc->lim.max_bytes = bytes;
	jc->lim.max_pixels = px;
	jc->lim.max_side = side;
	return 0;
}

/* One runner: claim and process until the queue is drained (or forever
 * with --watch, until a signal). */
static int
worker(struct conf *c, double deadline, struct counts *n)
{
	struct job_ctx jc = { .b = NULL, .nt = NULL };
	struct spool *sp = NULL;
	struct store *st = NULL;
	const char *spool = conf_spool(c);
	double lease, wait;
	int rc;
	jv job;

	if ((rc = setup(c, &jc, &lease)) != 0 ||
	    (rc = spool_open(spool, 1, &sp)) != 0 || (rc = store_open(spool, 1, &st)) != 0)
		goto out;
	if ((rc = spool_runner(sp, lease)) != 0)
		goto out;
	jc.st = st;
	jc.sp = sp;
	jc.spool = spool;
	while (!stop && (deadline <= 0 || spool_now() < deadline)) {
		enum job_outcome out;
		struct pollfd pfd = { spool_watch_fd(sp), POLLIN, 0 };
		if ((rc = spool_claim(sp, &job, &wait)) != 0)
			break;
		if (jv_is_valid(job)) {
			jv r = json_get(job, "recovered");
			if (jv_get_kind(r) == JV_KIND_TRUE)
				atomic_fetch_add(&n->recovered, 1);
			jv_free(r);
			if ((rc = job_process(&jc, job, &out)) != 0)
				break;
			atomic_fetch_add(out == JOB_DONE ? &n->done : out == JOB_FAILED ?
			    &n->failed : &n->retried, 1);
			continue;
		}
		if (!opt.watch) {         /* drain: wait only for retries due in time */
			if (wait < 0 || (deadline > 0 && spool_now() + wait >= deadline))
				break;
		} else if (wait < 0 || wait > lease / 2)
			wait = lease / 2;     /* look for expired leases now and then */
		poll(&pfd, pfd.fd >= 0 ? 1 : 0, (int)(wait * 1000) + 1);
		spool_watch_drain(sp);
	}
out:
	notify_close(jc.nt);
	backend_close(jc.b);
	ledger_close(jc.lg);
	store_close(st);
	spool_close(sp);
	return rc;
}

/* -j N: N worker processes, each a runner of its own; a signal to this
 * one is passed on to them all. */
static int
workers(struct conf *c, double deadline, struct counts *n)
{
	pid_t pids[64] = { 0 }, parent = getpid(), w;
	int started = 0, rc = 0, st, passed = 0;

	fflush(NULL);
	for (int i = 0; i < opt.jobs; i++) {
		if ((pids[i] = fork()) < 0) {
			warn("fork");
			rc = EX_OSERR;
			break;
		}
		if (pids[i] == 0) {
			/* die with the parent: a SIGKILLed runner leaves no worker */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(0);
			_exit(worker(c, deadline, n));
		}
		started++;
	}
	while (started > 0) {
		if ((w = waitpid(-1, &st, 0)) < 0) {
			if (errno != EINTR)
				break;
			if (stop && !passed) {
				for (int i = 0; i < opt.jobs && pids[i] > 0; i++)
					kill(pids[i], SIGTERM);
				passed = 1;
			}
			continue;
		}
		started--;
		if (WIFEXITED(st) && WEXITSTATUS(st) != 0 && rc == 0)
			rc = WEXITSTATUS(st);
		else if (WIFSIGNALED(st) && rc == 0)
			rc = EX_SOFTWARE;
	}
	return rc;
}

static int
run(struct conf *c)
{
	struct counts *n;
	struct sigaction sa;
	struct spool *sp = NULL;
	double t0 = spool_now(), deadline = opt.max_time > 0 ? t0 + opt.max_time : 0;
	int rc = 0, lock = -1;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if ((n = mmap(NULL, sizeof *n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0)) == MAP_FAILED) {
		warn("mmap");
		return EX_OSERR;
	}
	memset(n, 0, sizeof *n);
	if ((rc = spool_open(conf_spool(c), 1, &sp)) != 0)
		goto out;
	if (!opt.watch && !opt.shared && (rc = spool_lock(sp, "cron.lock", &lock)) != 0) {
		if (rc == 1 && opt.verbose)
			warnx("another rs-run holds %s/jobs/cron.lock", conf_spool(c));
		rc = rc == 1 ? 0 : rc;
		goto out;
	}
	for (;;) {
		long before = n->done + n->failed + n->retried;
		if (opt.jobs == 1)
			rc = worker(c, deadline, n);
		else
			rc = workers(c, deadline, n);
		if (rc != 0 || stop || opt.watch || (deadline > 0 && spool_now() >= deadline) ||
		    n->done + n->failed + n->retried == before)
			break;            /* (a round that did nothing: what is left is not ours) */
		/* a job queued as we finished might wait for the next cron run: let
		 * go of the lock, look again, and go on if nobody else took over */
		spool_unlock(lock);
		lock = -1;
		if (!spool_pending(sp) || (!opt.shared && spool_lock(sp, "cron.lock", &lock) != 0))
			break;
	}
	if (rc == 0)
		rc = json_write(stdout, JV_OBJECT(jv_string("done"), jv_number(n->done),
		    jv_string("failed"), jv_number(n->failed), jv_string("retried"),
		    jv_number(n->retried), jv_string("recovered"), jv_number(n->recovered),
		    jv_string("seconds"), jv_number((double)(long)((spool_now() - t0) * 1000) / 1000)));
out:
	spool_unlock(lock);
	spool_close(sp);
	munmap(n, sizeof *n);
	return rc;
}

static int
status(struct conf *c, const char *id)
{
	struct spool *sp = NULL;
	enum spool_state state;
	int rc;
	jv v;

	if ((rc = spool_open(conf_spool(c), 1, &sp)) != 0)
		return rc;
	if (id == NULL)
		rc = spool_stats(sp, &v);
	else if ((rc = spool_get(sp, id, &v, &state)) == 0)
		/* the directory is the truth: a job decided in cur/ still runs */
		v = jv_object_set(v, jv_string("status"), jv_string(spool_state_name(state)));
	spool_close(sp);
	return rc != 0 ? rc : json_write(stdout, v);
}

/* --gc: expired finished jobs, then objects nothing references */
static int
gc(struct conf *c)
{
	struct spool *sp = NULL;
	struct store *st = NULL;
	struct ledger *lg = NULL;
	double expire;
	int rc;
	jv out;

	if ((rc = conf_seconds(c, "RS_RUN_EXPIRE", 7 * 86400, &expire)) == 0 &&
	    (rc = spool_open(conf_spool(c), 1, &sp)) == 0 &&
	    (rc = store_open(conf_spool(c), 1, &st)) == 0 &&
	    (rc = ledger_open(conf_spool(c), 1, &lg)) == 0 &&
	    (rc = job_gc(sp, st, lg, expire, &out)) == 0)
		rc = json_write(stdout, out);
	ledger_close(lg);
	store_close(st);
	spool_close(sp);
	return rc;
}

int
main(int argc, char *argv[])
{
	static const struct option lo[] = {
		{ "jobs", required_argument, NULL, 'j' },
		{ "max-time", required_argument, NULL, 't' },
		{ "backend", required_argument, NULL, 'b' },
		{ "watch", no_argument, NULL, 'w' },
		{ "shared", no_argument, NULL, 's' },
		{ "gc", no_argument, NULL, 'g' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 } };
	struct conf *c = NULL;
	char *end;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "b:hj:st:vVw", lo, NULL)) != -1)
		switch (ch) {
		case 'j':
			opt.jobs = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || opt.jobs < 1 || opt.jobs > 64) {
				warnx("-j %s: 1 to 64", optarg);
				return EX_USAGE;
			}
			break;
		case 't':
			if ((opt.max_time = conf_parse_seconds(optarg)) <= 0) {
				warnx("--max-time %s: not a duration", optarg);
				return EX_USAGE;
			}
			break;
		case 'b': opt.backend = optarg; break;
		case 'w': opt.watch = 1; break;
		case 's': opt.shared = 1; break;
		case 'g': opt.gc = 1; break;
		case 'v': opt.verbose = 1; break;
		case 'h': fputs(HELP, stdout); return util_stdout_status(0);
		case 'V': puts("rs-run " RS_VERSION); return util_stdout_status(0);
		default: fputs(USAGE, stderr); return EX_USAGE;
		}
	if (optind < argc && (strcmp(argv[optind], "status") != 0 || argc - optind > 2)) {
		warnx("%s: unknown command or extra argument", argv[argc - 1]);
		fputs(USAGE, stderr);
		return EX_USAGE;
	}
	if ((rc = conf_load(&c)) == 0) {
		struct backend *b = NULL;
		if (optind == argc && !opt.gc && strcmp(backend_spec(c), "none") != 0 &&
		    (rc = backend_open(backend_spec(c), c, &b)) != 0)
			;                 /* a bad backend or its settings: before any claim */
		else if (optind < argc)
			rc = status(c, optind + 1 < argc ? argv[optind + 1] : NULL);
		else if (opt.gc)
			rc = gc(c);
		else
			rc = run(c);
		backend_close(b);
	}
	conf_free(c);
	return util_stdout_status(rc);
}
