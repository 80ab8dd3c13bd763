/* job.c: run one job in-process, and take a claimed job to its end.
 *
 * The work (job_run): the inputs are read from the object store; the
 * "local" backend decodes the photo, classifies it (classify.h), plans
 * and runs the classical engine (restore.h) and encodes the result in
 * PNG (JPEG with RS_RUN_QUALITY); "exec:PROGRAM" runs `PROGRAM IN... OUT` under
 * /bin/sh with RS_JOB and RS_PROMPT set (exit 75: try again; any other
 * failure is final) and checks that OUT is a sound image; "none" stores
 * the first input again as the output (the queue's own cost, for
 * bench/queue). Diagnostics printed meanwhile still reach stderr, and the
 * last one becomes the record's "error.message".
 *
 * The end (job_process), in an order that charges exactly once whatever
 * instant the process dies at:
 *   1. the outcome is decided: the record in cur/ is rewritten with
 *      "status" "done" (and "output") or "failed" (and "error");
 *   2. the credits held under the job id are captured or released;
 *   3. cur/ID is renamed into done/ or failed/.
 * A runner that takes over an orphan in cur/ whose status is already
 * "done" or "failed" does only 2 and 3, and capture and release are
 * idempotent by job id, so a repeat after a crash changes nothing. Before
 * step 1 nothing has been charged and the work is simply redone; a job
 * whose runner died max_attempts times is failed (dead-lettered) rather
 * than run again. A temporary failure (EX_TEMPFAIL) before max_attempts
 * goes back to new/ with "next_attempt" after an exponential backoff;
 * its credits stay held. */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/wait.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "classify.h"
#include "job.h"
#include "json.h"
#include "ledger.h"
#include "restore.h"
#include "spool.h"
#include "store.h"
#include "util.h"

void
job_ctx_default(struct job_ctx *c)
{
	memset(c, 0, sizeof *c);
	c->backend = "local";
	img_limits_default(&c->lim);
	c->max_attempts = 5;
	c->backoff = 10;
	c->backoff_max = 3600;
	c->exec_timeout = 600;
}

int
job_backend_valid(const char *b)
{
	return strcmp(b, "local") == 0 || strcmp(b, "none") == 0 ||
	    (strncmp(b, "exec:", 5) == 0 && b[5] != '\0');
}

static void
hook(struct job_ctx *c, const char *step)
{
	if (c->hook != NULL)
		c->hook(step, c->hook_arg);
}

jv
job_error(int rc, const char *message)
{
	const char *code;

	switch (rc) {
	case EX_DATAERR: code = "bad_input"; break;
	case EX_NOINPUT: code = "no_input"; break;
	case EX_UNAVAILABLE: code = "unavailable"; break;
	case EX_SOFTWARE: code = "internal"; break;
	case EX_OSERR: code = "os"; break;
	case EX_CANTCREAT: case EX_IOERR: code = "io"; break;
	case EX_TEMPFAIL: code = "tempfail"; break;
	case EX_NOPERM: code = "permission"; break;
	case EX_CONFIG: code = "config"; break;
	default: code = "failed"; break;
	}
	return JV_OBJECT(jv_string("code"), jv_string(code), jv_string("status"), jv_number(rc),
	    jv_string("message"), jv_string(message != NULL ? message : ""));
}

/* ---- diagnostics: keep a copy of what the work prints ---- */

struct diag {
	FILE *saved, *mem;
	char *buf;
	size_t len;
};

/* warn(3) writes to stderr: point it at a memory stream for the length of
 * one job. Not thread-safe; a runner process runs one job at a time. */
static void
diag_begin(struct diag *d)
{
	memset(d, 0, sizeof *d);
	fflush(stderr);
	if ((d->mem = open_memstream(&d->buf, &d->len)) != NULL) {
		d->saved = stderr;
		stderr = d->mem;
	}
}

/* Restore stderr, pass on what was printed; the last line without the
 * program name. */
static jv
diag_end(struct diag *d)
{
	char *line, *p;
	jv msg;

	if (d->mem == NULL)
		return jv_string("");
	stderr = d->saved;
	fclose(d->mem);
	if (d->len > 0)
		fwrite(d->buf, 1, d->len, stderr);
	while (d->len > 0 && d->buf[d->len - 1] == '\n')
		d->buf[--d->len] = '\0';
	line = (p = strrchr(d->buf, '\n')) != NULL ? p + 1 : d->buf;
	if ((p = strstr(line, ": ")) != NULL && strncmp(line, program_invocation_short_name, (size_t)(p - line)) == 0)
		line = p + 2;
	msg = jv_string(line);
	free(d->buf);
	return msg;
}

/* ---- backends ---- */

static jv
output(const char *object, enum img_type type, int w, int h, size_t bytes)
{
	return JV_OBJECT(jv_string("object"), jv_string(object), jv_string("mime"),
	    jv_string(img_mime(type)), jv_string("width"), jv_number(w), jv_string("height"),
	    jv_number(h), jv_string("bytes"), jv_number((double)bytes));
}

static int
input_path(struct job_ctx *c, jv in, char path[PATH_MAX])
{
	const char *obj = json_str(in, "object");

	if (obj == NULL || !store_valid_id(obj)) {
		warnx("input without a valid object");
		return EX_DATAERR;
	}
	if (!store_has(c->st, obj)) {
		warnx("object %s: not in the store", obj);
		return EX_NOINPUT;
	}
	return store_path(c->st, obj, path, PATH_MAX);
}

static int
run_none(struct job_ctx *c, jv *job, jv inputs)
{
	jv in = jv_array_get(jv_copy(inputs), 0), w = json_get(in, "width"), h = json_get(in, "height");
	const char *obj = json_str(in, "object");
	char id[STORE_ID_LEN + 1];
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc;

	if (obj == NULL || !store_valid_id(obj)) {
		warnx("input without a valid object");
		rc = EX_DATAERR;
	} else if ((rc = store_get(c->st, obj, c->lim.max_bytes, &buf, &len)) == 0 &&
	    (rc = store_put(c->st, buf, len, id)) == 0) {
		hook(c, "restore");
		*job = jv_object_set(*job, jv_string("restore"),
		    JV_OBJECT(jv_string("backend"), jv_string("none")));
		*job = jv_object_set(*job, jv_string("output"), JV_OBJECT(jv_string("object"),
		    jv_string(id), jv_string("mime"), json_get(in, "mime"),
		    jv_string("width"), jv_copy(w), jv_string("height"), jv_copy(h),
		    jv_string("bytes"), jv_number((double)len)));
	}
	free(buf);
	jv_free(w);
	jv_free(h);
	jv_free(in);
	return rc;
}

/* Store the image file at path as the output. */
static int
store_file(struct job_ctx *c, jv *job, const char *path)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	struct img im;
	char id[STORE_ID_LEN + 1];
	int rc;

	memset(&im, 0, sizeof im);
	if ((rc = util_slurp(path, c->lim.max_bytes, &buf, &len)) == 0 &&
	    (rc = img_decode(path, buf, len, &c->lim, IMG_VALIDATE, 1, &im)) == 0 &&
	    (rc = store_put(c->st, buf, len, id)) == 0)
		*job = jv_object_set(*job, jv_string("output"), output(id, im.type, im.w, im.h, len));
	img_free(&im);
	free(buf);
	return rc;
}

/* Pass on what the program said on stderr; said gets ": " and its last
 * line, or "" (at most size bytes). The file is removed. */
static void
last_line(const char *path, char *said, size_t size)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	char *p, *line;

	said[0] = '\0';
	if (util_slurp(path, 1 << 20, &buf, &len) != 0) {
		unlink(path);
		return;
	}
	unlink(path);
	fwrite(buf, 1, len, stderr);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	line = (p = strrchr((char *)buf, '\n')) != NULL ? p + 1 : (char *)buf;
	if (*line != '\0')
		snprintf(said, size, ": %s", line);
	free(buf);
}

static int
run_exec(struct job_ctx *c, jv *job, jv inputs)
{
	const char *prog = c->backend + 5, *id = json_str(*job, "id"), *prompt = json_str(*job, "prompt");
	char paths[3][PATH_MAX], out[PATH_MAX], errpath[PATH_MAX], script[PATH_MAX + 16];
	char said[512];
	char *argv[3 + 3 + 2];
	int n = jv_array_length(jv_copy(inputs)), rc = 0, st, argc = 0;
	double until;
	pid_t pid, w;

	if ((size_t)snprintf(out, sizeof out, "%s/%s.out", c->tmpdir, id) >= sizeof out ||
	    (size_t)snprintf(errpath, sizeof errpath, "%s/%s.err", c->tmpdir, id) >= sizeof errpath ||
	    (size_t)snprintf(script, sizeof script, "%s \"$@\"", prog) >= sizeof script) {
		warnx("%s: path too long", c->tmpdir);
		return EX_SOFTWARE;
	}
	for (int i = 0; i < n && i < 3 && rc == 0; i++) {
		jv in = jv_array_get(jv_copy(inputs), i);
		rc = input_path(c, in, paths[i]);
		jv_free(in);
	}
	if (rc != 0)
		return rc;
	argv[argc++] = "/bin/sh";
	argv[argc++] = "-c";
	argv[argc++] = script;
	argv[argc++] = "sh";
	for (int i = 0; i < n && i < 3; i++)
		argv[argc++] = paths[i];
	argv[argc++] = out;
	argv[argc] = NULL;
	unlink(out);
	unlink(errpath);
	fflush(NULL);
	if ((pid = fork()) < 0) {
		warn("fork");
		return EX_TEMPFAIL;
	}
	if (pid == 0) {
		int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		setenv("RS_JOB", id, 1);
		setenv("RS_PROMPT", prompt != NULL ? prompt : "", 1);
		if (fd >= 0)
			dup2(fd, STDERR_FILENO);     /* kept for the record, then passed on */
		dup2(STDERR_FILENO, STDOUT_FILENO);     /* stdout carries JSON only */
		execv(argv[0], argv);
		_exit(127);
	}
	until = spool_now() + c->exec_timeout;
	while ((w = waitpid(pid, &st, WNOHANG)) == 0 || (w < 0 && errno == EINTR)) {
		struct timespec ts = { 0, 2 * 1000 * 1000 };
		if (w == 0 && spool_now() > until) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			last_line(errpath, said, sizeof said);
			warnx("%s: timed out after %.0f s%s", prog, c->exec_timeout, said);
			unlink(out);
			return EX_TEMPFAIL;
		}
		nanosleep(&ts, NULL);
	}
	if (w < 0) {
		warn("wait %s", prog);
		return EX_OSERR;
	}
	last_line(errpath, said, sizeof said);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		hook(c, "restore");
		rc = store_file(c, job, out);
		*job = jv_object_set(*job, jv_string("restore"), JV_OBJECT(jv_string("backend"),
		    jv_string(c->backend)));
	} else if (WIFEXITED(st)) {
		warnx("%s: exit %d%s", prog, WEXITSTATUS(st), said);
		rc = WEXITSTATUS(st) == EX_TEMPFAIL ? EX_TEMPFAIL :
		    WEXITSTATUS(st) == EX_DATAERR ? EX_DATAERR : EX_UNAVAILABLE;
	} else {
		warnx("%s: killed by signal %d%s", prog, WTERMSIG(st), said);
		rc = EX_UNAVAILABLE;
	}
	unlink(out);
	return rc;
}

static int
run_local(struct job_ctx *c, jv *job, jv inputs)
{
	struct restore_opts o;
	struct img im;
	enum img_type type = c->quality > 0 ? IMG_JPEG : IMG_PNG;
	char path[PATH_MAX], id[STORE_ID_LEN + 1];
	unsigned char *buf = NULL;
	size_t len = 0;
	jv in = jv_array_get(jv_copy(inputs), 0), cls = json_get(*job, "classify"),
	    ops = jv_invalid(), plan = jv_invalid(), used = jv_invalid();
	int rc;

	memset(&im, 0, sizeof im);
	restore_opts_default(&o);
	if (jv_array_length(jv_copy(inputs)) != 1) {
		warnx("fusion needs a model backend (exec:PROGRAM), not the local engine");
		rc = EX_DATAERR;
		goto out;
	}
	if ((rc = input_path(c, in, path)) != 0 ||
	    (rc = img_load(path, &c->lim, 0, 1, &im)) != 0)
		goto out;
	/* a record classified upstream (rs-classify) keeps its classification */
	if (jv_get_kind(cls) != JV_KIND_OBJECT) {
		jv_free(cls);
		if ((rc = classify_image(path, &im, &cls)) != 0)
			goto out;
		*job = jv_object_set(*job, jv_string("classify"), jv_copy(cls));
	}
	hook(c, "classify");
	if (jv_get_kind(ops = json_get(cls, "ops")) != JV_KIND_ARRAY) {
		jv_free(ops);
		if ((rc = restore_guess(path, &im, &ops)) != 0)
			goto out;
	}
	if ((rc = restore_plan(path, ops, &o, &plan)) != 0 ||
	    (rc = restore_run(path, &im, plan, &o, &used)) != 0)
		goto out;
	hook(c, "restore");
	*job = jv_object_set(*job, jv_string("restore"), JV_OBJECT(jv_string("backend"),
	    jv_string("local"), jv_string("ops"), used));
	used = jv_invalid();
	if ((rc = img_encode(path, &im, type, c->quality, &buf, &len)) != 0 ||
	    (rc = store_put(c->st, buf, len, id)) != 0)
		goto out;
	*job = jv_object_set(*job, jv_string("output"), output(id, type, im.w, im.h, len));
out:
	free(buf);
	img_free(&im);
	jv_free(in);
	jv_free(cls);
	jv_free(plan);
	jv_free(used);
	return rc;
}

int
job_run(struct job_ctx *c, jv *job)
{
	struct diag d;
	jv inputs = json_get(*job, "inputs"), msg;
	int rc, n;

	diag_begin(&d);
	if (jv_get_kind(inputs) != JV_KIND_ARRAY || (n = jv_array_length(jv_copy(inputs))) < 1 ||
	    n > 3) {
		warnx("job %s: needs 1 to 3 inputs", json_str(*job, "id"));
		rc = EX_DATAERR;
	} else if (strcmp(c->backend, "none") == 0)
		rc = run_none(c, job, inputs);
	else if (strncmp(c->backend, "exec:", 5) == 0)
		rc = run_exec(c, job, inputs);
	else
		rc = run_local(c, job, inputs);
	jv_free(inputs);
	msg = diag_end(&d);
	if (rc == 0) {
		hook(c, "store");
		*job = jv_object_set(*job, jv_string("status"), jv_string("done"));
		*job = jv_object_delete(*job, jv_string("error"));
		jv_free(msg);
	} else {
		*job = jv_object_set(*job, jv_string("status"), jv_string("failed"));
		*job = jv_object_set(*job, jv_string("error"), job_error(rc,
		    jv_string_value(msg)));
		jv_free(msg);
	}
	return rc;
}

/* ---- to the end ---- */

static int
attempts(jv job)
{
	jv a = json_get(job, "attempts");
	int n = jv_get_kind(a) == JV_KIND_NUMBER ? (int)jv_number_value(a) : 1;

	jv_free(a);
	return n;
}

static jv
stamp(jv job, const char *key)
{
	char t[32];

	spool_time(spool_now(), t);
	return jv_object_set(job, jv_string(key), jv_string(t));
}

/* Capture (done) or release (failed) the credits the job holds. */
static int
settle(struct job_ctx *c, jv job, int done)
{
	jv cost = json_get(job, "cost"), hold = jv_invalid();
	const char *id = json_str(job, "id");
	int rc = 0, has = jv_get_kind(cost) == JV_KIND_NUMBER && jv_number_value(cost) > 0;

	jv_free(cost);
	if (!has)
		return 0;
	if (c->lg == NULL) {
		warnx("job %s: holds credits but the ledger is not open", id);
		return EX_SOFTWARE;
	}
	rc = done ? ledger_capture(c->lg, id, &hold) : ledger_release(c->lg, id, &hold);
	jv_free(hold);
	/* no hold (66) or already settled the other way (65): the ledger is
	 * the one home of the charge, and it has said; finish the job */
	return rc == EX_NOINPUT || rc == EX_DATAERR ? 0 : rc;
}

int
job_process(struct job_ctx *c, jv job, enum job_outcome *out)
{
	const char *st = json_str(job, "status");
	int rc, done, n = attempts(job);

	*out = JOB_UNSETTLED;
	if (st != NULL && (strcmp(st, "done") == 0 || strcmp(st, "failed") == 0))
		;                         /* decided before a crash: settle only */
	else if (n > c->max_attempts) {
		job = jv_object_set(job, jv_string("status"), jv_string("failed"));
		job = jv_object_set(job, jv_string("error"), job_error(EX_SOFTWARE,
		    "the runner died during every attempt"));
	} else {
		rc = job_run(c, &job);
		if (rc == EX_TEMPFAIL && n < c->max_attempts) {
			double delay = c->backoff * pow(2, n - 1);
			uint32_t r = randombytes_uniform(1000);
			if (delay > c->backoff_max)
				delay = c->backoff_max;
			delay *= 0.9 + r / 5000.0;          /* ±10 %: runners spread out */
			job = jv_object_set(job, jv_string("status"), jv_string("queued"));
			char t[32];
			spool_time(spool_now() + delay, t);
			job = jv_object_set(job, jv_string("next_attempt"), jv_string(t));
			rc = spool_requeue(c->sp, job);
			jv_free(job);
			if (rc == 0)
				*out = JOB_RETRY;
			return rc;
		}
	}
	done = strcmp(json_str(job, "status"), "done") == 0;
	job = stamp(job, "finished");
	if ((rc = spool_update(c->sp, job)) != 0)
		goto out;
	hook(c, "decide");
	if ((rc = settle(c, job, done)) != 0)
		goto out;
	hook(c, "charge");
	if ((rc = spool_finish(c->sp, json_str(job, "id"), done ? SPOOL_DONE : SPOOL_FAILED)) != 0)
		goto out;
	hook(c, "finish");
	*out = done ? JOB_DONE : JOB_FAILED;
out:
	jv_free(job);
	return rc;
}
