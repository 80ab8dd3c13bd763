/* job.c: run one job in-process, and take a claimed job to its end.
 *
 * The work (job_run): the inputs are read from the object store and
 * decoded; the first is classified (classify.h) unless the record
 * already carries a classification; the backend (backend.h: local,
 * gemini or exec:PROGRAM; for local, the plan comes from the
 * classification's operations) makes the output, which is encoded as PNG
 * (JPEG when a quality is set) and stored. With no backend ("none") the
 * first input is stored again as the output: the queue's own cost, for
 * bench/queue. Diagnostics printed meanwhile still reach stderr; the
 * record's "error" takes the backend's code and message when it gave
 * them, else the last diagnostic.
 *
 * The end (job_process), in an order that charges exactly once whatever
 * instant the process dies at:
 *   1. the outcome is decided: the record in cur/ is rewritten with
 *      "status" "done" (and "output") or "failed" (and "error");
 *   2. the credits held under the job id are captured or released;
 *   3. the job's callback, if any, is sent the record (a failure to
 *      deliver is only reported);
 *   4. cur/ID is renamed into done/ or failed/.
 * A runner that takes over an orphan in cur/ whose status is already
 * "done" or "failed" does only 2 to 4, and capture and release are
 * idempotent by job id, so a repeat after a crash changes nothing. Before
 * step 1 nothing has been charged and the work is simply redone; a job
 * whose runner died max_attempts times is failed (dead-lettered) rather
 * than run again. A temporary failure (EX_TEMPFAIL) before max_attempts
 * goes back to new/ with "next_attempt" after an exponential backoff;
 * its credits stay held. */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "backend.h"
#include "classify.h"
#include "job.h"
#include "json.h"
#include "ledger.h"
#include "notify.h"
#include "restore.h"
#include "spool.h"

#define HOLD_GRACE 3600   /* seconds an open hold may wait for its job to appear */
#include "store.h"
#include "util.h"

void
job_ctx_default(struct job_ctx *c)
{
	memset(c, 0, sizeof *c);
	img_limits_default(&c->lim);
	c->max_attempts = 5;
	c->backoff = 10;
	c->backoff_max = 3600;
}

jv
job_error(int rc, const char *message)
{
	const char *code;

	switch (rc) {
	case EX_USAGE: code = "unsupported"; break;
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

/* ---- the work ---- */

static jv
output(const char *object, enum img_type type, int w, int h, size_t bytes)
{
	return JV_OBJECT(jv_string("object"), jv_string(object), jv_string("mime"),
	    jv_string(img_mime(type)), jv_string("width"), jv_number(w), jv_string("height"),
	    jv_number(h), jv_string("bytes"), jv_number((double)bytes));
}

/* none: the first input again, as the output */
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
		util_crashpoint("restore");
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

struct inputs {
	int n;
	char path[BACKEND_MAX_INPUTS][PATH_MAX];
	unsigned char *buf[BACKEND_MAX_INPUTS];
	size_t len[BACKEND_MAX_INPUTS];
	struct img im[BACKEND_MAX_INPUTS];
};

static void
inputs_free(struct inputs *in)
{
	for (int i = 0; i < BACKEND_MAX_INPUTS; i++) {
		free(in->buf[i]);
		img_free(&in->im[i]);
	}
}

/* Read and decode every input of the job. */
static int
inputs_load(struct job_ctx *c, jv inputs, const char *id, struct inputs *in)
{
	int rc = 0;

	in->n = jv_array_length(jv_copy(inputs));
	for (int i = 0; i < in->n && rc == 0; i++) {
		jv x = jv_array_get(jv_copy(inputs), i);
		const char *obj = json_str(x, "object");
		if (obj == NULL || !store_valid_id(obj)) {
			warnx("job %s: input %d has no valid object", id, i + 1);
			rc = EX_DATAERR;
		} else if (!store_has(c->st, obj)) {
			warnx("job %s: object %s: not in the store", id, obj);
			rc = EX_NOINPUT;
		} else if ((rc = store_path(c->st, obj, in->path[i], PATH_MAX)) == 0 &&
		    (rc = util_slurp(in->path[i], c->lim.max_bytes, &in->buf[i], &in->len[i])) == 0)
			rc = img_decode(in->path[i], in->buf[i], in->len[i], &c->lim, 0, 1, &in->im[i]);
		jv_free(x);
	}
	return rc;
}

/* classify → backend (lib/backend.h) → store */
static int
run_backend(struct job_ctx *c, jv *job, jv inputs)
{
	struct backend_req r;
	struct restore_opts o;
	struct inputs in;
	struct img out;
	enum img_type type = c->quality > 0 ? IMG_JPEG : IMG_PNG;
	const char *id = json_str(*job, "id");
	char oid[STORE_ID_LEN + 1];
	unsigned char *buf = NULL;
	size_t len = 0;
	jv cls = json_get(*job, "classify"), ops = jv_invalid(), plan = jv_null(), rec = jv_invalid();
	int rc;

	memset(&in, 0, sizeof in);
	memset(&out, 0, sizeof out);
	memset(&r, 0, sizeof r);
	restore_opts_default(&o);
	if ((rc = inputs_load(c, inputs, id, &in)) != 0)
		goto out;
	/* a record classified upstream (rs-classify) keeps its classification */
	if (jv_get_kind(cls) != JV_KIND_OBJECT) {
		jv_free(cls);
		if ((rc = classify_image(id, &in.im[0], &cls)) != 0)
			goto out;
		*job = jv_object_set(*job, jv_string("classify"), jv_copy(cls));
	}
	util_crashpoint("classify");
	if (backend_is_local(c->b)) {
		if (jv_get_kind(ops = json_get(cls, "ops")) != JV_KIND_ARRAY) {
			jv_free(ops);
			if ((rc = restore_guess(id, &in.im[0], &ops)) != 0)
				goto out;
		}
		jv_free(plan);
		if ((rc = restore_plan(id, ops, &o, &plan)) != 0)
			goto out;
	}
	r.n = in.n;
	for (int i = 0; i < in.n; i++)
		r.in[i] = (struct backend_input){ id, in.path[i], in.buf[i], in.len[i], &in.im[i] };
	r.prompt = json_str(*job, "prompt");
	r.classify = cls;
	r.plan = plan;
	r.ro = &o;
	r.job = *job;
	r.lim = &c->lim;
	rc = backend_run(c->b, &r, &out, &rec);
	if (jv_is_valid(rec))
		*job = jv_object_set(*job, jv_string("restore"), rec);
	if (rc != 0)
		goto out;
	util_crashpoint("restore");
	if ((rc = img_encode(id, &out, type, c->quality, o.threads, &buf, &len)) != 0 ||
	    (rc = store_put(c->st, buf, len, oid)) != 0)
		goto out;
	*job = jv_object_set(*job, jv_string("output"), output(oid, type, out.w, out.h, len));
out:
	free(buf);
	img_free(&out);
	inputs_free(&in);
	jv_free(cls);
	jv_free(plan);
	return rc;
}

int
job_run(struct job_ctx *c, jv *job)
{
	struct diag d;
	jv inputs = json_get(*job, "inputs"), msg, err;
	int rc, n;

	diag_begin(&d);
	if (jv_get_kind(inputs) != JV_KIND_ARRAY || (n = jv_array_length(jv_copy(inputs))) < 1 ||
	    n > BACKEND_MAX_INPUTS) {
		warnx("job %s: needs 1 to %d inputs", json_str(*job, "id"), BACKEND_MAX_INPUTS);
		rc = EX_DATAERR;
	} else if (c->b == NULL)
		rc = run_none(c, job, inputs);
	else
		rc = run_backend(c, job, inputs);
	jv_free(inputs);
	msg = diag_end(&d);
	if (rc == 0) {
		util_crashpoint("store");
		*job = jv_object_set(*job, jv_string("status"), jv_string("done"));
		*job = jv_object_delete(*job, jv_string("error"));
		jv_free(msg);
		return 0;
	}
	/* the backend's own account of the failure, when it gave one */
	err = job_error(rc, jv_string_value(msg));
	jv_free(msg);
	if (jv_get_kind(msg = json_get(*job, "restore")) == JV_KIND_OBJECT) {
		jv e = json_get(msg, "error");
		if (jv_get_kind(e) == JV_KIND_OBJECT) {
			jv_object_foreach(e, k, v)
				err = jv_object_set(err, k, v);
		}
		jv_free(e);
	}
	jv_free(msg);
	*job = jv_object_set(*job, jv_string("status"), jv_string("failed"));
	*job = jv_object_set(*job, jv_string("error"), err);
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
	/* opened only now: jobs that hold no credits run without a database */
	if (c->lg == NULL && (c->spool == NULL || (rc = ledger_open(c->spool, 1, &c->lg)) != 0))
		return c->spool == NULL ? EX_SOFTWARE : rc;
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
	util_crashpoint("decide");
	if ((rc = settle(c, job, done)) != 0)
		goto out;
	util_crashpoint("charge");
	if (c->nt != NULL && notify_job(c->nt, job) == 0 && json_str(job, "callback") != NULL)
		util_crashpoint("notify");        /* at least once: a receiver dedupes */
	if ((rc = spool_finish(c->sp, json_str(job, "id"), done ? SPOOL_DONE : SPOOL_FAILED)) != 0)
		goto out;
	util_crashpoint("finish");
	*out = done ? JOB_DONE : JOB_FAILED;
out:
	jv_free(job);
	return rc;
}

/* ---- clean-up ---- */

struct gc {
	struct spool *sp;
	enum spool_state state;       /* of the jobs being looked at */
	double cutoff;
	char (*refs)[STORE_ID_LEN + 1];
	size_t nrefs, cap;
	long jobs, objects, kept;
	struct store *st;
	char **ids;                   /* every job still in the spool */
	size_t nids, idcap;
};

static int
id_add(struct gc *g, const char *id)
{
	void *t;

	if (g->nids == g->idcap) {
		g->idcap = g->idcap ? 2 * g->idcap : 1024;
		if ((t = realloc(g->ids, g->idcap * sizeof *g->ids)) == NULL) {
			warn("gc");
			return EX_OSERR;
		}
		g->ids = t;
	}
	if ((g->ids[g->nids] = strdup(id)) == NULL) {
		warn("gc");
		return EX_OSERR;
	}
	g->nids++;
	return 0;
}

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Release the holds of jobs that never reached the spool (an upload that
 * died between reserving and queueing): open, older than HOLD_GRACE, and
 * no job of that id in any state. */
static int
gc_holds(struct gc *g, struct ledger *lg, long *released)
{
	jv holds, r;
	int rc;

	*released = 0;
	if (g->nids > 0)                 /* qsort and bsearch want a non-NULL base */
		qsort(g->ids, g->nids, sizeof *g->ids, cmpstr);
	if ((rc = ledger_holds_open(lg, (int64_t)(spool_now() - HOLD_GRACE), &holds)) != 0) {
		jv_free(holds);
		return rc;
	}
	jv_array_foreach(holds, i, h) {
		const char *job = json_str(h, "job");
		if (rc == 0 && job != NULL && (g->nids == 0 ||
		    bsearch(&job, g->ids, g->nids, sizeof *g->ids, cmpstr) == NULL) &&
		    (rc = ledger_release(lg, job, &r)) == 0) {
			jv_free(r);
			(*released)++;
		}
		jv_free(h);
	}
	jv_free(holds);
	return rc;
}

static int
ref_add(struct gc *g, jv obj)
{
	const char *id = json_str(obj, "object");
	void *t;

	if (id == NULL || !store_valid_id(id))
		return 0;
	if (g->nrefs == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 1024;
		if ((t = realloc(g->refs, g->cap * sizeof *g->refs)) == NULL) {
			warn("gc");
			return EX_OSERR;
		}
		g->refs = t;
	}
	memcpy(g->refs[g->nrefs++], id, STORE_ID_LEN + 1);
	return 0;
}

static int
gc_job(const char *id, jv job, time_t mtime, void *arg)
{
	struct gc *g = arg;
	jv in = json_get(job, "inputs"), o = json_get(job, "output");
	int rc = 0;

	if (g->cutoff > 0 && (double)mtime < g->cutoff) {
		if ((rc = spool_remove(g->sp, g->state, id)) == 0)
			g->jobs++;
		goto out;
	}
	if ((rc = id_add(g, id)) != 0)
		goto out;
	if (jv_get_kind(in) == JV_KIND_ARRAY)
		jv_array_foreach(in, i, x) {
			if (rc == 0)
				rc = ref_add(g, x);
			jv_free(x);
		}
	if (rc == 0 && jv_get_kind(o) == JV_KIND_OBJECT)
		rc = ref_add(g, o);
out:
	jv_free(in);
	jv_free(o);
	jv_free(job);
	return rc;
}

static int
gc_object(const char *id, void *arg)
{
	struct gc *g = arg;
	time_t mtime;
	size_t len;

	if ((g->nrefs > 0 && bsearch(id, g->refs, g->nrefs, sizeof *g->refs,
	    (int (*)(const void *, const void *))strcmp) != NULL) ||
	    store_stat(g->st, id, &len, &mtime) != 0 || (double)mtime >= g->cutoff) {
		g->kept++;
		return 0;
	}
	g->objects++;
	return store_unlink(g->st, id);
}

int
job_gc(struct spool *sp, struct store *st, struct ledger *lg, double expire, jv *out)
{
	struct gc g = { .sp = sp, .st = st };
	long released = 0;
	int rc;

	*out = jv_invalid();
	/* finished jobs expire; live ones only hold their objects */
	for (int s = 0; s < SPOOL_NSTATES; s++) {
		g.state = (enum spool_state)s;
		g.cutoff = s == SPOOL_DONE || s == SPOOL_FAILED ? spool_now() - expire : -1;
		if ((rc = spool_each(sp, g.state, gc_job, &g)) != 0)
			goto out;
	}
	/* an object younger than the expiry may belong to an upload whose
	 * job is not queued yet: keep it */
	g.cutoff = spool_now() - expire;
	if (g.nrefs > 0)
		qsort(g.refs, g.nrefs, sizeof *g.refs, (int (*)(const void *, const void *))strcmp);
	if ((rc = store_each(st, gc_object, &g)) != 0 ||
	    (rc = gc_holds(&g, lg, &released)) != 0)
		goto out;
	*out = JV_OBJECT(jv_string("jobs_removed"), jv_number(g.jobs),
	    jv_string("objects_removed"), jv_number(g.objects),
	    jv_string("objects_kept"), jv_number(g.kept),
	    jv_string("holds_released"), jv_number(released));
out:
	for (size_t i = 0; i < g.nids; i++)
		free(g.ids[i]);
	free(g.ids);
	free(g.refs);
	return rc;
}
