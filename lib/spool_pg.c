/* spool_pg.c: the job queue in PostgreSQL, when RS_DATABASE is set.
 *
 * Same semantics as the spool directories (spool.c), so rs-upload,
 * rs-run and rs-serve do not know which one they use:
 *
 * rs_jobs       one row per job: its state (0 queued, 1 running, 2 done,
 *               3 failed, as enum spool_state), the record as written
 *               (text, so it reads back byte for byte), and the columns
 *               the queue orders and recovers by: user, priority,
 *               created, next_attempt, the runner holding it, and when
 *               it was last written (the spool's mtime).
 * rs_queue_users when each user was last served, for the round robin.
 * rs_runners    one row per live runner: host, pid (and the process's
 *               start time), its lease and its heartbeat, by the
 *               database's clock.
 *
 * Claiming is one statement: the best ready job (priority, then round
 * robin over users: the user served least recently first, then age) is
 * picked with SELECT … FOR UPDATE SKIP LOCKED and marked
 * running for this runner, so two runners never get the same row and
 * never wait for each other. A second statement writes the record with
 * its lease (as the spool's rename then rewrite; a runner that dies
 * between them leaves a job held by a dead runner, which is recovered).
 *
 * Leases. A thread of the runner updates its rs_runners row every
 * lease/3 on a connection of its own. A running job is an orphan when
 * its runner has no row, or the row's heartbeat is older than the
 * runner's lease (by the database's clock, so the hosts' clocks do not
 * matter), or the runner is on this host and its process is gone (pid
 * and start time: taken over at once, as the spool's flock allows; so
 * hosts must have host names of their own, as with the spool). An
 * orphan is claimed like a new job (SKIP LOCKED again) and handled by
 * the record logic shared with spool.c: settled only when decided, run
 * again otherwise, requeued when it was a retry half made.
 *
 * Wake-ups. Triggers announce every change of state with
 * pg_notify('rs_jobs_SCHEMA', 'ID STATE'), delivered at commit to every
 * session LISTENing, on any host: spool_watch_fd is the socket of a
 * connection of its own that listens. LISTEN needs a session of its own:
 * behind PgBouncer in transaction mode it is not delivered, and a runner
 * with --watch then finds new jobs by its periodic look (lease/2).
 *
 * Everything else is a single statement with parameters (PQexecParams):
 * no named prepared statement, no session SET, no transaction left open,
 * so PgBouncer's transaction mode works. A lost connection is reset
 * before the next statement; a statement that fails because the server
 * is gone returns EX_TEMPFAIL, and whatever it left half done is
 * recovered as after a crash.
 *
 * spool_lock stays a local flock (spool.c): the cron lock keeps a second
 * cron start on the same host from running beside the first, which is a
 * matter of one host; runners of different hosts share the queue
 * through SKIP LOCKED. (An advisory lock would need a direct session,
 * not PgBouncer's transaction mode.) */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "json.h"
#include "pg.h"
#include "spool.h"
#include "spool_int.h"
#include "util.h"

#define RESCAN 0.5                /* seconds between looks for orphans */
#define NOW "extract(epoch FROM clock_timestamp())"

static const char *const migrations[] = {
	/* 1 */
	"CREATE TABLE rs_jobs ("
	" id text PRIMARY KEY,"
	" state smallint NOT NULL CHECK (state BETWEEN 0 AND 3),"
	" usr text NOT NULL DEFAULT '',"
	" priority integer NOT NULL DEFAULT 0,"
	" created double precision,"
	" next_attempt double precision,"
	" runner text,"
	" updated double precision NOT NULL,"
	" record text NOT NULL);"
	"CREATE INDEX rs_jobs_queued ON rs_jobs (usr, id) WHERE state = 0;"
	"CREATE INDEX rs_jobs_running ON rs_jobs (runner) WHERE state = 1;"
	"CREATE INDEX rs_jobs_state ON rs_jobs (state, id);"
	"CREATE TABLE rs_runners ("
	" id text PRIMARY KEY,"
	" host text NOT NULL,"
	" pid integer NOT NULL,"
	" started text NOT NULL,"
	" ttl double precision NOT NULL,"
	" heartbeat timestamptz NOT NULL DEFAULT clock_timestamp());"
	"CREATE TABLE rs_queue_users ("
	" usr text PRIMARY KEY,"
	" served double precision NOT NULL);"
	"CREATE FUNCTION rs_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$"
	" BEGIN"
	"  PERFORM pg_notify(left('rs_jobs_' || TG_TABLE_SCHEMA, 63), NEW.id || ' ' || NEW.state);"
	"  RETURN NULL;"
	" END $$;"
	"CREATE TRIGGER rs_jobs_queued AFTER INSERT ON rs_jobs"
	" FOR EACH ROW EXECUTE FUNCTION rs_jobs_notify();"
	"CREATE TRIGGER rs_jobs_moved AFTER UPDATE OF state ON rs_jobs"
	" FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)"
	" EXECUTE FUNCTION rs_jobs_notify();",
	/* 2: each user's best job found through an index, not a sort of the
	 * whole queue; every user with queued jobs has a row */
	"DROP INDEX rs_jobs_queued;"
	"CREATE INDEX rs_jobs_queued ON rs_jobs (usr, priority DESC, id) WHERE state = 0;"
	"INSERT INTO rs_queue_users (usr, served)"
	" SELECT DISTINCT usr, 0 FROM rs_jobs WHERE state = 0 ON CONFLICT (usr) DO NOTHING;",
};

/* The best ready job: priority, then round robin between users (the
 * user served least recently first: rs_queue_users remembers when each
 * was last served, so a user's next job waits behind every other user's
 * first, as in the spool's order), then age. The quick way looks only
 * at each user's first few ready jobs, through the index (a probe per
 * user instead of a sort of the whole queue); when they are all being
 * claimed by others at that instant, or a job's user has no row yet, the
 * full way below finds what is left before the queue is called empty. */
static const char claim_quick_sql[] =
	"WITH c AS (SELECT j.id, j.usr FROM rs_jobs j JOIN rs_queue_users u ON u.usr = j.usr"
	"   WHERE j.state = 0 AND j.id IN (SELECT t.id FROM rs_queue_users q CROSS JOIN LATERAL"
	"     (SELECT k.id FROM rs_jobs k WHERE k.state = 0 AND k.usr = q.usr"
	"       AND (k.next_attempt IS NULL OR k.next_attempt <= $1::float8)"
	"       ORDER BY k.priority DESC, k.id LIMIT 4) t)"
	"   ORDER BY j.priority DESC, u.served, j.id"
	"   LIMIT 1 FOR UPDATE OF j SKIP LOCKED),"
	" s AS (UPDATE rs_queue_users SET served = " NOW " FROM c WHERE rs_queue_users.usr = c.usr)"
	" UPDATE rs_jobs SET state = 1, runner = $2, next_attempt = NULL, updated = " NOW
	" FROM c WHERE rs_jobs.id = c.id RETURNING rs_jobs.id, rs_jobs.record";
static const char claim_sql[] =
	"WITH c AS (SELECT j.id, j.usr FROM rs_jobs j LEFT JOIN rs_queue_users u ON u.usr = j.usr"
	"   WHERE j.state = 0 AND (j.next_attempt IS NULL OR j.next_attempt <= $1::float8)"
	"   ORDER BY j.priority DESC, coalesce(u.served, 0), j.id"
	"   LIMIT 1 FOR UPDATE OF j SKIP LOCKED),"
	" s AS (INSERT INTO rs_queue_users (usr, served) SELECT usr, " NOW " FROM c"
	"   ON CONFLICT (usr) DO UPDATE SET served = EXCLUDED.served)"
	" UPDATE rs_jobs SET state = 1, runner = $2, next_attempt = NULL, updated = " NOW
	" FROM c WHERE rs_jobs.id = c.id RETURNING rs_jobs.id, rs_jobs.record";

/* A running job whose runner is gone, silent past its lease, or us (we
 * claim only when we run nothing). */
static const char orphan_sql[] =
	"WITH c AS (SELECT j.id FROM rs_jobs j LEFT JOIN rs_runners r ON r.id = j.runner"
	"   WHERE j.state = 1 AND (j.runner IS NULL OR j.runner = $1 OR r.id IS NULL"
	"     OR r.heartbeat + r.ttl * interval '1 second' < clock_timestamp())"
	"   ORDER BY j.id LIMIT 1 FOR UPDATE OF j SKIP LOCKED)"
	" UPDATE rs_jobs SET runner = $1, updated = " NOW
	" FROM c WHERE rs_jobs.id = c.id RETURNING rs_jobs.id, rs_jobs.record";

static const char beat_sql[] =
	"INSERT INTO rs_runners (id, host, pid, started, ttl) VALUES ($1, $2, $3, $4, $5)"
	" ON CONFLICT (id) DO UPDATE SET heartbeat = clock_timestamp()";

struct spool_pg {
	PGconn *c;
	PGconn *listen;           /* spool_watch_fd */
	double listen_tried;
	char *url;
	/* runner */
	char runner[17];
	char host[256];
	char here[320];           /* host and PID namespace: rs_runners.host */
	char pid[16];
	char started[32];
	char ttl[32];
	double lease;
	PGconn *hbc;              /* the heartbeat thread's */
	pthread_t hb;
	int hb_on;
	atomic_int hb_stop;
	double looked;            /* last look for orphans */
};

/* One statement; the connection reset first if it was lost. *r is left
 * for the caller to read and clear (also on failure). */
static int
q(PGconn *c, const char *what, const char *sql, int n, const char *const *v, PGresult **r)
{
	if (PQstatus(c) == CONNECTION_BAD)
		PQreset(c);
	*r = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
	return pg_check(*r, what);
}

/* q for statements whose result is not needed */
static int
q0(PGconn *c, const char *what, const char *sql, int n, const char *const *v, long *rows)
{
	PGresult *r;
	int rc = q(c, what, sql, n, v, &r);

	if (rows != NULL)
		*rows = rc == 0 ? atol(PQcmdTuples(r)) : 0;
	PQclear(r);
	return rc;
}

static void
fmt_time(double t, char out[32])
{
	snprintf(out, 32, "%.3f", t);
}

/* The process start time of pid on this host ("" if unknown): with the
 * pid it names one process, whatever pids are reused. */
static void
proc_start(long pid, char out[32])
{
	char path[64], buf[1024], *p;
	unsigned long long st;
	FILE *f;
	size_t n;

	out[0] = '\0';
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if ((f = fopen(path, "re")) == NULL)
		return;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* after the command name in parentheses: state is field 3, starttime 22 */
	if ((p = strrchr(buf, ')')) != NULL &&
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d"
	    " %*d %*d %llu", &st) == 1)
		snprintf(out, 32, "%llu", st);
}

int
spool_pg_open(const char *root, const char *url, int create, struct spool_pg **pp)
{
	struct spool_pg *p;
	int rc;

	(void)root;
	(void)create;             /* the schema is made on first use */
	*pp = NULL;
	if ((p = calloc(1, sizeof *p)) == NULL || (p->url = strdup(url)) == NULL) {
		warn("spool");
		free(p);
		return EX_OSERR;
	}
	if ((rc = pg_connect(url, &p->c)) != 0 ||
	    (rc = pg_migrate(p->c, "queue", migrations,
	        (int)(sizeof migrations / sizeof migrations[0]))) != 0) {
		spool_pg_close(p);
		return rc;
	}
	*pp = p;
	return 0;
}

void
spool_pg_close(struct spool_pg *p)
{
	const char *v[1];

	if (p == NULL)
		return;
	if (p->hb_on) {
		atomic_store(&p->hb_stop, 1);
		pthread_join(p->hb, NULL);
	}
	if (p->runner[0] != '\0' && p->c != NULL) {
		v[0] = p->runner;
		PQclear(PQexecParams(p->c, "DELETE FROM rs_runners WHERE id = $1",
		    1, NULL, v, NULL, NULL, 0));
	}
	if (p->hbc != NULL)
		PQfinish(p->hbc);
	if (p->listen != NULL)
		PQfinish(p->listen);
	if (p->c != NULL)
		PQfinish(p->c);
	free(p->url);
	free(p);
}

static void
job_cols(jv job, char prio[16], char created[32], char na[32], const char **user,
    const char **pc, const char **pn)
{
	jv pv = json_get(job, "priority");
	double t;

	snprintf(prio, 16, "%d", jv_get_kind(pv) == JV_KIND_NUMBER ? (int)jv_number_value(pv) : 0);
	jv_free(pv);
	*user = json_str(job, "user");
	if (*user == NULL)
		*user = "";
	*pc = *pn = NULL;
	if ((t = spool_rec_time(job, "created")) >= 0) {
		fmt_time(t, created);
		*pc = created;
	}
	if ((t = spool_rec_time(job, "next_attempt")) >= 0) {
		fmt_time(t, na);
		*pn = na;
	}
}

static int
valid(jv job, const char **id)
{
	if ((*id = json_str(job, "id")) == NULL || !spool_valid_id(*id)) {
		warnx("job has no valid id");
		return 0;
	}
	return 1;
}

/* Insert a record as it is in state st; enqueuing is st 0 (queued).
 * Importing (lib/move.c) may bring a running one: it has no runner, so
 * it is an orphan and recovered as after a crash. */
static int
insert(struct spool_pg *p, jv job, enum spool_state st, const char *what)
{
	char prio[16], created[32], na[32], state[8];
	const char *v[7], *id;
	jv text;
	int rc;

	if (!valid(job, &id))
		return EX_DATAERR;
	text = jv_dump_string(jv_copy(job), 0);
	snprintf(state, sizeof state, "%d", (int)st);
	v[0] = id;
	job_cols(job, prio, created, na, &v[1], &v[3], &v[4]);
	v[2] = prio;
	v[5] = jv_string_value(text);
	v[6] = state;
	/* An answer lost with the connection leaves it unknown whether the
	 * row went in: look (on a new connection), and insert again only
	 * when it is not there, so the job is queued once or not at all. */
	for (int attempt = 0; attempt < 3; attempt++) {
		PGresult *r = NULL;
		int there;

		rc = q0(p->c, what,
		    "WITH u AS (INSERT INTO rs_queue_users (usr, served) VALUES ($2, 0)"
		    "   ON CONFLICT (usr) DO NOTHING)"
		    " INSERT INTO rs_jobs (id, state, usr, priority, created, next_attempt, updated, record)"
		    " VALUES ($1, $7, $2, $3, $4, $5, " NOW ", $6)", 7, v, NULL);
		if (rc != EX_TEMPFAIL ||
		    q(p->c, what, "SELECT 1 FROM rs_jobs WHERE id = $1", 1, v, &r) != 0) {
			PQclear(r);
			break;
		}
		there = PQntuples(r) == 1;
		PQclear(r);
		if (there) {
			rc = 0;
			break;
		}
	}
	jv_free(text);
	return rc;
}

int
spool_pg_enqueue(struct spool_pg *p, jv job)
{
	return insert(p, job, SPOOL_NEW, "enqueue");
}

int
spool_pg_import(struct spool_pg *p, jv job, enum spool_state st)
{
	return insert(p, job, st, "import");
}

/* Parse a record read back: NULL-terminated text from the database. */
static jv
parse(const char *text)
{
	jv j = jv_parse(text);

	if (jv_is_valid(j) && jv_get_kind(j) == JV_KIND_OBJECT)
		return j;
	jv_free(j);
	return jv_invalid();
}

int
spool_pg_get(struct spool_pg *p, const char *id, jv *job, enum spool_state *state)
{
	const char *v[1] = { id };
	PGresult *r;
	int rc;

	*job = jv_invalid();
	if ((rc = q(p->c, "job", "SELECT state, record FROM rs_jobs WHERE id = $1", 1, v, &r)) == 0) {
		if (PQntuples(r) == 0) {
			warnx("job %s: no such job", id);
			rc = EX_NOINPUT;
		} else if (!jv_is_valid(*job = parse(PQgetvalue(r, 0, 1)))) {
			warnx("job %s: not a job record", id);
			rc = EX_DATAERR;
		} else
			*state = (enum spool_state)atoi(PQgetvalue(r, 0, 0));
	}
	PQclear(r);
	return rc;
}

/* ---- runners ---- */

static void *
heartbeat(void *arg)
{
	struct spool_pg *p = arg;
	const char *v[5] = { p->runner, p->here, p->pid, p->started, p->ttl };
	double last = spool_now(), every = p->lease / 3;

	while (!atomic_load(&p->hb_stop)) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (spool_now() - last >= every) {
			/* an insert too: a runner swept while the database was out
			 * of reach comes back */
			if (PQstatus(p->hbc) == CONNECTION_BAD)
				PQreset(p->hbc);
			PQclear(PQexecParams(p->hbc, beat_sql, 5, NULL, v, NULL, NULL, 0));
			last = spool_now();
		}
	}
	return NULL;
}

/* Remove the rows of runners of this host whose process is gone, and of
 * any runner silent for a week. */
static int
sweep(struct spool_pg *p, int old)
{
	const char *v[2] = { p->here, p->runner };
	char started[32];
	PGresult *r;
	int rc;

	/* at a runner's start: runners silent for a week, and users with
	 * nothing queued (their turn is forgotten, as a spool scan forgets) */
	if (old && ((rc = q0(p->c, "runners", "DELETE FROM rs_runners"
	    " WHERE heartbeat < clock_timestamp() - interval '7 days'", 0, NULL, NULL)) != 0 ||
	    (rc = q0(p->c, "queue", "DELETE FROM rs_queue_users u WHERE NOT EXISTS"
	    " (SELECT 1 FROM rs_jobs j WHERE j.state = 0 AND j.usr = u.usr)", 0, NULL, NULL)) != 0))
		return rc;
	if ((rc = q(p->c, "runners", "SELECT id, pid, started FROM rs_runners"
	    " WHERE host = $1 AND id <> $2", 2, v, &r)) != 0) {
		PQclear(r);
		return rc;
	}
	for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
		long pid = atol(PQgetvalue(r, i, 1));
		proc_start(pid, started);
		if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM) &&
		    strcmp(started, PQgetvalue(r, i, 2)) == 0)
			continue;         /* alive */
		v[0] = PQgetvalue(r, i, 0);
		rc = q0(p->c, "runners", "DELETE FROM rs_runners WHERE id = $1", 1, v, NULL);
	}
	PQclear(r);
	return rc;
}

int
spool_pg_runner(struct spool_pg *p, double lease)
{
	const char *v[5];
	unsigned char rnd[8];
	int rc, e;

	p->lease = lease > 0 ? lease : 300;
	spool_hostname(p->host, sizeof p->host);
	{
		/* the runners' "this host" is where pids can be seen: containers
		 * sharing a host name (host networking) have PID namespaces of
		 * their own; records keep the plain host name */
		char ns[64];
		ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
		ns[n > 0 ? n : 0] = '\0';
		snprintf(p->here, sizeof p->here, "%s/%s", p->host, ns);
	}
	snprintf(p->pid, sizeof p->pid, "%ld", (long)getpid());
	proc_start((long)getpid(), p->started);
	snprintf(p->ttl, sizeof p->ttl, "%.3f", p->lease);
	randombytes_buf(rnd, sizeof rnd);
	util_hex(rnd, sizeof rnd, p->runner);
	if ((rc = sweep(p, 1)) != 0)
		goto fail;
	v[0] = p->runner;
	v[1] = p->here;
	v[2] = p->pid;
	v[3] = p->started;
	v[4] = p->ttl;
	if ((rc = q0(p->c, "register runner", beat_sql, 5, v, NULL)) != 0 ||
	    (rc = pg_connect(p->url, &p->hbc)) != 0)
		goto fail;
	if ((e = pthread_create(&p->hb, NULL, heartbeat, p)) != 0) {
		errno = e;
		warn("heartbeat");
		rc = EX_OSERR;
		goto fail;
	}
	p->hb_on = 1;
	return 0;
fail:
	p->runner[0] = '\0';
	return rc;
}

/* Write the record of a job this runner holds. 0 rows: it is not ours
 * any more (its lease expired and another runner took it) or gone. */
static int
write_rec(struct spool_pg *p, jv job, const char *what)
{
	const char *v[3], *id;
	char msg[64];
	jv text;
	long rows;
	int rc;

	if (!valid(job, &id))
		return EX_SOFTWARE;
	text = jv_dump_string(jv_copy(job), 0);
	v[0] = id;
	v[1] = jv_string_value(text);
	v[2] = p->runner;
	snprintf(msg, sizeof msg, "job %s: %s", id, what);
	rc = q0(p->c, msg, "UPDATE rs_jobs SET record = $2, updated = " NOW
	    " WHERE id = $1 AND state = 1 AND ($3 = '' OR runner = $3)", 3, v, &rows);
	if (rc == 0 && rows == 0) {
		warnx("job %s: no longer held by this runner (its lease expired?)", id);
		rc = EX_TEMPFAIL;
	}
	jv_free(text);
	return rc;
}

/* Back to the queue for its next attempt (the record says when). */
static int
to_queue(struct spool_pg *p, jv job)
{
	char prio[16], created[32], na[32];
	const char *v[5], *pc;
	long rows;
	int rc;

	v[0] = json_str(job, "id");
	job_cols(job, prio, created, na, &v[1], &pc, &v[3]);
	v[2] = prio;
	v[4] = p->runner;
	/* only while this runner holds it: one whose lease expired must not
	 * put back a job another runner has taken over */
	rc = q0(p->c, "requeue", "UPDATE rs_jobs SET state = 0, runner = NULL, usr = $2,"
	    " priority = $3, next_attempt = $4, updated = " NOW " WHERE id = $1 AND state = 1"
	    " AND ($5 = '' OR runner = $5)", 5, v, &rows);
	if (rc == 0 && rows == 0) {
		warnx("job %s: no longer held by this runner (its lease expired?)", v[0]);
		rc = EX_TEMPFAIL;
	}
	return rc;
}

/* A record that does not parse: out of the way, into failed. */
static int
to_failed(struct spool_pg *p, const char *id)
{
	const char *v[1] = { id };

	warnx("job %s: not a job record", id);
	return q0(p->c, "job", "UPDATE rs_jobs SET state = 3, runner = NULL, updated = " NOW
	    " WHERE id = $1", 1, v, NULL);
}

/* Take over one orphan. 0 with *job invalid: none (or one that only went
 * back to the queue: *more set). */
static int
recover_one(struct spool_pg *p, jv *job, int *more)
{
	const char *v[1] = { p->runner };
	PGresult *r;
	jv rec;
	int rc;

	*more = 0;
	if ((rc = q(p->c, "recover", orphan_sql, 1, v, &r)) != 0 || PQntuples(r) == 0) {
		PQclear(r);
		return rc;
	}
	*more = 1;
	if (!jv_is_valid(rec = parse(PQgetvalue(r, 0, 1)))) {
		rc = to_failed(p, PQgetvalue(r, 0, 0));
		PQclear(r);
		return rc;
	}
	PQclear(r);
	switch (spool_orphan_kind(rec)) {
	case SPOOL_ORPHAN_REQUEUE:
		rc = to_queue(p, rec);    /* a retry half made */
		jv_free(rec);
		return rc;
	case SPOOL_ORPHAN_SETTLE:
		rec = spool_take(rec, 0, p->runner, p->host, p->lease);
		break;
	case SPOOL_ORPHAN_RUN:
		rec = spool_take(rec, 1, p->runner, p->host, p->lease);
		break;
	}
	rec = jv_object_set(rec, jv_string("recovered"), jv_true());
	if ((rc = write_rec(p, rec, "recover")) == 0)
		*job = rec;
	else
		jv_free(rec);
	return rc;
}

static int
recover_any(struct spool_pg *p, jv *job)
{
	int rc, more = 1;

	p->looked = spool_now();
	if ((rc = sweep(p, 0)) != 0)
		return rc;
	for (int i = 0; i < 1000 && more && rc == 0 && !jv_is_valid(*job); i++)
		rc = recover_one(p, job, &more);
	return rc;
}

static int
claim_new(struct spool_pg *p, jv *job, double now)
{
	char t[32];
	const char *v[2] = { t, p->runner };
	PGresult *r;
	jv rec;
	int rc;

	fmt_time(now, t);
	for (int i = 0, full = 0; i < 1000; i++) {
		if ((rc = q(p->c, "claim", full ? claim_sql : claim_quick_sql, 2, v, &r)) != 0) {
			PQclear(r);
			return rc;
		}
		if (PQntuples(r) == 0) {
			PQclear(r);
			if (full++)
				return 0;
			continue;
		}
		if (!jv_is_valid(rec = parse(PQgetvalue(r, 0, 1)))) {
			rc = to_failed(p, PQgetvalue(r, 0, 0));
			PQclear(r);
			if (rc != 0)
				return rc;
			continue;
		}
		PQclear(r);
		util_crashpoint("claim");
		rec = spool_take(jv_object_delete(rec, jv_string("recovered")), 1,
		    p->runner, p->host, p->lease);
		if ((rc = write_rec(p, rec, "claim")) == 0)
			*job = rec;
		else
			jv_free(rec);
		return rc;
	}
	return 0;
}

int
spool_pg_claim(struct spool_pg *p, jv *job, double *wait)
{
	double now = spool_now(), soonest;
	char t[32];
	const char *v[1] = { t };
	PGresult *r;
	int rc, looked = 0;

	*job = jv_invalid();
	*wait = -1;
	if (p->runner[0] == '\0') {
		warnx("queue: claim before registering as a runner");
		return EX_SOFTWARE;
	}
	/* orphans first, as the spool does at each scan */
	if (now - p->looked >= RESCAN) {
		looked = 1;
		if ((rc = recover_any(p, job)) != 0 || jv_is_valid(*job))
			return rc;
	}
	if ((rc = claim_new(p, job, now)) != 0 || jv_is_valid(*job))
		return rc;
	/* the queue looks empty: look for orphans before saying so */
	if (!looked && ((rc = recover_any(p, job)) != 0 || jv_is_valid(*job)))
		return rc;
	fmt_time(now, t);
	if ((rc = q(p->c, "queue", "SELECT min(next_attempt) FROM rs_jobs"
	    " WHERE state = 0 AND next_attempt > $1::float8", 1, v, &r)) == 0 &&
	    !PQgetisnull(r, 0, 0)) {
		soonest = atof(PQgetvalue(r, 0, 0));
		*wait = soonest - now > 0 ? soonest - now : 0;
	}
	PQclear(r);
	return rc;
}

int
spool_pg_update(struct spool_pg *p, jv job)
{
	return write_rec(p, job, "update");
}

int
spool_pg_finish(struct spool_pg *p, const char *id, enum spool_state to)
{
	char st[8], msg[64];
	const char *v[3] = { id, st, p->runner };
	long rows;
	int rc;

	snprintf(st, sizeof st, "%d", (int)to);
	snprintf(msg, sizeof msg, "job %s: finish", id);
	/* only while this runner holds it (see to_queue) */
	rc = q0(p->c, msg, "UPDATE rs_jobs SET state = $2, runner = NULL, updated = " NOW
	    " WHERE id = $1 AND state = 1 AND ($3 = '' OR runner = $3)", 3, v, &rows);
	if (rc == 0 && rows == 0) {
		warnx("job %s: gone, or no longer held by this runner", id);
		rc = EX_NOINPUT;
	}
	return rc;
}

int
spool_pg_requeue(struct spool_pg *p, jv job)
{
	int rc;

	/* two statements, as the spool's rewrite then rename: the test hook
	 * can stop between them, and recovery finishes the move */
	if ((rc = write_rec(p, job, "requeue")) != 0)
		return rc;
	util_crashpoint("requeue");
	return to_queue(p, job);
}

/* ---- wake-ups ---- */

static int
listen_on(struct spool_pg *p)
{
	PGresult *r;
	char *ident = NULL, sql[160];
	int rc;

	if ((rc = q(p->listen, "listen", "SELECT left('rs_jobs_' || current_schema(), 63)",
	    0, NULL, &r)) == 0) {
		if ((ident = PQescapeIdentifier(p->listen, PQgetvalue(r, 0, 0),
		    strlen(PQgetvalue(r, 0, 0)))) == NULL) {
			warnx("listen: %s", PQerrorMessage(p->listen));
			rc = EX_SOFTWARE;
		}
	}
	PQclear(r);
	if (rc != 0)
		return rc;
	snprintf(sql, sizeof sql, "LISTEN %s", ident);
	PQfreemem(ident);
	rc = pg_check(r = PQexec(p->listen, sql), "listen");
	PQclear(r);
	return rc;
}

int
spool_pg_watch_fd(struct spool_pg *p)
{
	if (p->listen == NULL) {
		if (spool_now() - p->listen_tried < 1)
			return -1;        /* down: try again in a second */
		p->listen_tried = spool_now();
		if (pg_connect(p->url, &p->listen) != 0)
			return -1;
		if (listen_on(p) != 0) {
			PQfinish(p->listen);
			p->listen = NULL;
			return -1;
		}
	}
	return PQsocket(p->listen);
}

void
spool_pg_watch_drain(struct spool_pg *p)
{
	PGnotify *n;

	if (p->listen == NULL)
		return;
	if (!PQconsumeInput(p->listen) || PQstatus(p->listen) == CONNECTION_BAD) {
		PQfinish(p->listen);      /* lost: listen again at the next look */
		p->listen = NULL;
		return;
	}
	while ((n = PQnotifies(p->listen)) != NULL)
		PQfreemem(n);
}

/* ---- reports and clean-up ---- */

int
spool_pg_pending(struct spool_pg *p)
{
	PGresult *r;
	int found = 0;

	if (q(p->c, "queue", "SELECT EXISTS (SELECT 1 FROM rs_jobs WHERE state = 0)",
	    0, NULL, &r) == 0)
		found = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return found;
}

int
spool_pg_stats(struct spool_pg *p, jv *out)
{
	char t[32];
	const char *v[1] = { t };
	double now = spool_now(), oldest;
	PGresult *r;
	int rc;

	*out = jv_invalid();
	fmt_time(now, t);
	if ((rc = q(p->c, "status", "SELECT"
	    " count(*) FILTER (WHERE state = 0), count(*) FILTER (WHERE state = 1),"
	    " count(*) FILTER (WHERE state = 2), count(*) FILTER (WHERE state = 3),"
	    " count(*) FILTER (WHERE state = 0 AND next_attempt > $1::float8),"
	    " min(created) FILTER (WHERE state = 0 AND"
	    "   (next_attempt IS NULL OR next_attempt <= $1::float8)),"
	    " (SELECT count(*) FROM rs_runners"
	    "   WHERE heartbeat + ttl * interval '1 second' >= clock_timestamp())"
	    " FROM rs_jobs", 1, v, &r)) == 0) {
		oldest = PQgetisnull(r, 0, 5) ? -1 : atof(PQgetvalue(r, 0, 5));
		*out = JV_OBJECT(jv_string("queued"), jv_number(atol(PQgetvalue(r, 0, 0))),
		    jv_string("running"), jv_number(atol(PQgetvalue(r, 0, 1))),
		    jv_string("done"), jv_number(atol(PQgetvalue(r, 0, 2))),
		    jv_string("failed"), jv_number(atol(PQgetvalue(r, 0, 3))),
		    jv_string("waiting_retry"), jv_number(atol(PQgetvalue(r, 0, 4))),
		    jv_string("oldest_queued_seconds"),
		    jv_number(oldest < 0 ? 0 : floor(now - oldest)),
		    jv_string("runners"), jv_number(atol(PQgetvalue(r, 0, 6))));
	}
	PQclear(r);
	return rc;
}

int
spool_pg_each(struct spool_pg *p, enum spool_state s,
    int (*fn)(const char *, jv, time_t, void *), void *arg)
{
	char st[8];
	const char *v[1] = { st };
	PGresult *r;
	int rc;

	snprintf(st, sizeof st, "%d", (int)s);
	if ((rc = q(p->c, "jobs", "SELECT id, record, updated FROM rs_jobs WHERE state = $1"
	    " ORDER BY id", 1, v, &r)) == 0)
		for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
			const char *id = PQgetvalue(r, i, 0);
			jv job = parse(PQgetvalue(r, i, 1));
			if (!jv_is_valid(job))
				job = JV_OBJECT(jv_string("id"), jv_string(id));
			rc = fn(id, job, (time_t)atof(PQgetvalue(r, i, 2)), arg);
		}
	PQclear(r);
	return rc;
}

int
spool_pg_remove(struct spool_pg *p, enum spool_state s, const char *id)
{
	char st[8];
	const char *v[2] = { id, st };

	snprintf(st, sizeof st, "%d", (int)s);
	return q0(p->c, "remove", "DELETE FROM rs_jobs WHERE id = $1 AND state = $2", 2, v, NULL);
}
