/* db.c: SQLite and PostgreSQL behind one statement API. See db.h.
 *
 * SQLite: one connection, statements prepared once and cached by their
 * SQL text (parsing costs more than a small transaction's work), a busy
 * handler that waits up to the timeout in small steps.
 *
 * PostgreSQL: PQexecParams with text parameters (blobs binary) and text
 * results; no named prepared statements and no session SETs, so
 * PgBouncer in transaction mode works. A transaction is BEGIN ... READ
 * COMMITTED with SET LOCAL lock_timeout, in one round trip. */
#include <err.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include <sqlite3.h>

#include "db.h"
#include "pg.h"
#include "util.h"

#define CACHE 32
#define MAXP 16
#define RETRIES 10

struct db_stmt {
	struct db *d;
	const char *sql;                /* the cache key: the caller's text */
	int cached;
	sqlite3_stmt *st;               /* SQLite */
	char *pgsql;                    /* PostgreSQL: the text with $n */
	PGresult *r;
	int row, nrows, n;              /* the current row (from 1), rows, parameters */
	char *val[MAXP];
	int len[MAXP], fmt[MAXP];
	unsigned char *blob;            /* the last bytea column decoded */
};

struct db {
	enum db_engine engine;
	char name[PATH_MAX];
	sqlite3 *lite;
	PGconn *pg;
	int busy_ms;
	int tx;                         /* PostgreSQL: inside BEGIN */
	int64_t changes;
	int quiet, retryable;
	char held[600];                 /* a message held back while quiet */
	struct db_stmt cache[CACHE];
};

/* ---- SQLite ---- */

/* SQLITE_BUSY: wait and retry, up to busy_ms in all. SQLite's own
 * handler sleeps 1, 2, 5, 10 ... ms; locks here are held for
 * microseconds (short-lived processes opening the WAL, small
 * transactions), so 0.2 ms steps, growing to 5 ms, waste far less. */
static int
busy_wait(void *arg, int n)
{
	struct db *d = arg;
	long us = n < 20 ? 200 : n < 60 ? 1000 : 5000;
	long waited = n < 20 ? n * 200L : n < 60 ? 4000 + (n - 20) * 1000L : 44000 + (n - 60) * 5000L;
	struct timespec ts = { 0, us * 1000 };

	if (waited / 1000 >= d->busy_ms)
		return 0;
	nanosleep(&ts, NULL);
	return 1;
}

/* Map an SQLite result to an exit status, with one message. */
static int
lite_err(struct db *d, int rc, const char *what)
{
	const char *m = sqlite3_errmsg(d->lite);

	switch (rc & 0xff) {
	case SQLITE_BUSY: case SQLITE_LOCKED:
		warnx("%s: %s: database busy, try again (%s)", d->name, what, m);
		return EX_TEMPFAIL;
	case SQLITE_CONSTRAINT:
		warnx("%s: %s: %s", d->name, what, m);
		return EX_DATAERR;
	case SQLITE_FULL: case SQLITE_IOERR:
		warnx("%s: %s: %s", d->name, what, m);
		return EX_IOERR;
	case SQLITE_CANTOPEN:
		warnx("%s: %s: %s", d->name, what, m);
		return EX_CANTCREAT;
	case SQLITE_NOTADB: case SQLITE_CORRUPT:
		warnx("%s: not an rs database, or corrupt: %s", d->name, m);
		return EX_DATAERR;
	case SQLITE_READONLY: case SQLITE_PERM: case SQLITE_AUTH:
		warnx("%s: %s: %s", d->name, what, m);
		return EX_NOPERM;
	default:
		warnx("%s: %s: %s", d->name, what, m);
		return EX_SOFTWARE;
	}
}

/* After each commit: with 32 pages or more in the WAL, copy them back
 * and truncate it, unless another process is busy with it (no waiting:
 * a later commit does it). */
static int
wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	if (pages >= 32) {
		sqlite3_busy_handler(db, NULL, NULL);
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		sqlite3_busy_handler(db, busy_wait, arg);
	}
	return SQLITE_OK;
}

/* Before SQLite starts, once per process: no bulk page-cache allocation
 * (SQLite would claim and touch 20 pages when a connection reads its
 * first; a short process reads a handful, and each fresh page costs a
 * page fault: 14 of rs-serve's 178 per GET), no memory statistics (a
 * mutex around every allocation, and nothing here reads them). */
static void
lite_config(void)
{
	sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)NULL, 0, 0);
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int
lite_open(struct db *d, int create)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int rc, one = 1;

	pthread_once(&once, lite_config);

	if ((rc = sqlite3_open_v2(d->name, &d->lite, SQLITE_OPEN_READWRITE |
	    (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX, NULL)) != SQLITE_OK) {
		rc = d->lite != NULL ? lite_err(d, rc, "open") : EX_OSERR;
		return rc == EX_CANTCREAT && !create ? EX_NOINPUT : rc;
	}
	sqlite3_busy_handler(d->lite, busy_wait, d);
	/* Short-lived processes (rs-serve runs one per connection) must not
	 * checkpoint and delete the WAL each time the last one closes: keep
	 * it, and checkpoint after commits instead. But
	 * each such process is the first to open the database, so SQLite
	 * rebuilds the WAL index, reading and checksumming every frame:
	 * at the default 1000 pages that is 4 MB per connection. And a
	 * process that rebuilt the index cannot know what was copied back
	 * before it, so SQLite's own automatic checkpoint never lets the
	 * WAL start again: it grows, and each commit copies all of it. So
	 * wal_hook, which replaces that automatic checkpoint, truncates the
	 * WAL after a commit that leaves 32 pages or more. */
	sqlite3_db_config(d->lite, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
	sqlite3_file_control(d->lite, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
	sqlite3_wal_hook(d->lite, wal_hook, d);
	return db_exec(d, "PRAGMA foreign_keys = ON");
}

/* Put the database in WAL mode unless it is already (the mode persists).
 * Changing it needs an exclusive lock that SQLite does not wait for, so
 * when two processes create the database at once one of them retries. */
static int
lite_wal(struct db *d)
{
	for (int ms = 0; ; ms += 2) {
		sqlite3_stmt *st = NULL;
		int rc, is_wal = 0;

		if (sqlite3_prepare_v2(d->lite, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			is_wal = sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
		sqlite3_finalize(st);
		if (is_wal)
			return 0;
		rc = sqlite3_exec(d->lite, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			return 0;
		if (((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) || ms >= d->busy_ms)
			return lite_err(d, rc, "PRAGMA journal_mode = WAL");
		usleep(2000);
	}
}

/* ---- PostgreSQL ---- */

static void
backoff(int attempt)
{
	long ms = attempt < 7 ? 10L << attempt : 1000;    /* 10 ms .. 1 s */
	struct timespec ts;

	ms = ms / 2 + (long)randombytes_uniform((uint32_t)ms + 1);   /* jitter: 0.5 to 1.5 */
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = ms % 1000 * 1000000L;
	nanosleep(&ts, NULL);
}

/* A failed result: its status and one message, printed or, when it may
 * be retried, held back. */
static int
pg_fail(struct db *d, PGresult *r, const char *what, int hold)
{
	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	int rc = pg_status(r), lost, busy, n;

	if (msg == NULL && r != NULL)
		msg = PQresultErrorMessage(r);
	if (msg == NULL || *msg == '\0')
		msg = PQerrorMessage(d->pg);
	n = (int)strcspn(msg, "\n");
	lost = PQstatus(d->pg) != CONNECTION_OK || st == NULL || strncmp(st, "08", 2) == 0 ||
	    strncmp(st, "57P0", 4) == 0;
	d->retryable = lost || pg_retryable(r);
	busy = d->retryable || (st != NULL && (strcmp(st, "55P03") == 0 || strncmp(st, "40", 2) == 0));
	if (snprintf(d->held, sizeof d->held, "%s: %.60s%s: %s%.*s%s%s%s", d->name, what,
	    strlen(what) > 60 ? "..." : "", lost ? "database unavailable, try again (" :
	    busy ? "database busy, try again (" : "", n, msg, st ? busy ? ", SQLSTATE " :
	    " (SQLSTATE " : "", st ? st : "", st || busy ? ")" : "") < 0)
		d->held[0] = '\0';
	if (!(hold && d->retryable)) {
		warnx("%s", d->held);
		d->held[0] = '\0';
	}
	return rc;
}

/* Run sql with parameters; a statement outside a transaction is its own
 * transaction, so a retryable failure (or a connection lost before it)
 * runs it again, unless the caller runs the whole transaction again
 * (quiet). *rp: the result (owned) on success. */
static int
pg_exec(struct db *d, const char *sql, const char *what, int n, char *const *val,
    const int *len, const int *fmt, PGresult **rp)
{
	int intx = d->tx;

	*rp = NULL;
	for (int attempt = 0; ; attempt++) {
		PGresult *r;
		int rc, may = !intx && !d->quiet && attempt < RETRIES;

		if (!intx && PQstatus(d->pg) != CONNECTION_OK)
			PQreset(d->pg);
		r = n < 0 ? PQexec(d->pg, sql) :
		    PQexecParams(d->pg, sql, n, NULL, (const char *const *)val, len, fmt, 0);
		if (pg_status(r) == 0) {
			d->changes = strtoll(PQcmdTuples(r), NULL, 10);
			d->retryable = 0;
			*rp = r;
			return 0;
		}
		rc = pg_fail(d, r, what, may || d->quiet);
		PQclear(r);
		if (!may || !d->retryable)
			return rc;
		d->held[0] = '\0';
		backoff(attempt);
	}
}

static int
pg_simple(struct db *d, const char *sql)
{
	PGresult *r;
	int rc = pg_exec(d, sql, sql, -1, NULL, NULL, NULL, &r);

	PQclear(r);
	return rc;
}

/* ?N and ? become $N */
static char *
pg_text(const char *sql, size_t len)
{
	char *out = malloc(len * 3 + 1), *o = out;
	int seq = 0, quoted = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (sql[i] == '\'')
			quoted = !quoted;
		if (sql[i] != '?' || quoted) {
			*o++ = sql[i];
			continue;
		}
		*o++ = '$';
		if (!(sql[i + 1] >= '0' && sql[i + 1] <= '9'))
			o += sprintf(o, "%d", ++seq);
	}
	*o = '\0';
	return out;
}

/* ---- both ---- */

int
db_open(const char *target, int create, int timeout_ms, struct db **dp)
{
	struct db *d;
	int rc;

	*dp = NULL;
	if ((d = calloc(1, sizeof *d)) == NULL) {
		warn("db");
		return EX_OSERR;
	}
	d->busy_ms = timeout_ms;
	if (strncmp(target, "postgres://", 11) == 0 || strncmp(target, "postgresql://", 13) == 0) {
		d->engine = DB_PG;
		snprintf(d->name, sizeof d->name, "RS_DATABASE");
		rc = pg_connect(target, &d->pg);
	} else if ((size_t)snprintf(d->name, sizeof d->name, "%s", target) >= sizeof d->name) {
		warnx("%s: path too long", target);
		rc = EX_CANTCREAT;
	} else
		rc = lite_open(d, create);
	if (rc != 0) {
		db_close(d);
		return rc;
	}
	*dp = d;
	return 0;
}

static void
stmt_free(struct db_stmt *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->val[i]);
	s->n = 0;
	PQclear(s->r);
	s->r = NULL;
	free(s->blob);
	s->blob = NULL;
	s->row = s->nrows = 0;
}

void
db_close(struct db *d)
{
	if (d == NULL)
		return;
	for (int k = 0; k < CACHE; k++) {
		struct db_stmt *s = &d->cache[k];
		if (d->engine == DB_SQLITE)
			sqlite3_finalize(s->st);
		else {
			stmt_free(s);
			free(s->pgsql);
		}
	}
	if (d->lite != NULL)
		sqlite3_close(d->lite);
	if (d->pg != NULL)
		PQfinish(d->pg);
	free(d);
}

enum db_engine
db_engine(const struct db *d)
{
	return d->engine;
}

const char *
db_name(const struct db *d)
{
	return d->name;
}

void *
db_handle(struct db *d)
{
	return d->engine == DB_PG ? (void *)d->pg : (void *)d->lite;
}

int
db_durable(struct db *d)
{
	int rc;

	if (d->engine == DB_PG)
		return 0;
	if ((rc = lite_wal(d)) != 0)
		return rc;
	return db_exec(d, "PRAGMA synchronous = FULL");
}

int
db_exec(struct db *d, const char *sql)
{
	int rc;

	if (d->engine == DB_PG)
		return pg_simple(d, sql);
	rc = sqlite3_exec(d->lite, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : lite_err(d, rc, sql);
}

void
db_done(struct db_stmt *s)
{
	if (s == NULL)
		return;
	if (s->d->engine == DB_SQLITE) {
		if (s->cached) {
			sqlite3_reset(s->st);
			sqlite3_clear_bindings(s->st);
		} else {
			sqlite3_finalize(s->st);
			free(s);
		}
		return;
	}
	stmt_free(s);
	if (!s->cached) {
		free(s->pgsql);
		free(s);
	}
}

/* The parameters come from ap, or from the array val when it is set. */
static int
bind(struct db_stmt *s, const char *fmt, va_list *ap, const struct db_value *val)
{
	struct db *d = s->d;
	int rc = SQLITE_OK, i = 1;

	for (const char *f = fmt; *f != '\0'; f++, i++) {
		const struct db_value *a = val != NULL ? &val[i - 1] : NULL;
		const char *str = NULL;
		const void *p = NULL;
		char num[32];
		int64_t v;
		double x;
		int n = 0;

		switch (*f) {
		case 's': str = a ? a->s : va_arg(*ap, const char *); break;
		case 'i': v = a ? a->i : va_arg(*ap, int64_t); snprintf(num, sizeof num, "%lld", (long long)v);
			if (d->engine == DB_SQLITE)
				rc = sqlite3_bind_int64(s->st, i, v);
			str = num;
			break;
		case 'd': x = a ? a->d : va_arg(*ap, double); snprintf(num, sizeof num, "%.17g", x);
			if (d->engine == DB_SQLITE)
				rc = sqlite3_bind_double(s->st, i, x);
			str = num;
			break;
		case 'b':
			if (a != NULL) {
				p = a->p;
				n = a->n;
			} else {
				p = va_arg(*ap, const void *);
				n = va_arg(*ap, int);
			}
			break;
		default:
			warnx("%s: bind: bad format %c", d->name, *f);
			return EX_SOFTWARE;
		}
		if (d->engine == DB_SQLITE) {
			if (*f == 's')
				rc = str ? sqlite3_bind_text(s->st, i, str, -1, SQLITE_TRANSIENT) :
				    sqlite3_bind_null(s->st, i);
			else if (*f == 'b')
				rc = sqlite3_bind_blob(s->st, i, p, n, SQLITE_TRANSIENT);
			if (rc != SQLITE_OK)
				return lite_err(d, rc, "bind");
			continue;
		}
		if (s->n >= MAXP) {
			warnx("%s: bind: more than %d parameters", d->name, MAXP);
			return EX_SOFTWARE;
		}
		s->val[s->n] = NULL;
		s->len[s->n] = 0;
		s->fmt[s->n] = *f == 'b';
		if (*f == 'b') {
			if ((s->val[s->n] = malloc(n > 0 ? (size_t)n : 1)) != NULL)
				memcpy(s->val[s->n], p, (size_t)n);
			s->len[s->n] = n;
		} else if (str != NULL)
			s->val[s->n] = strdup(str);
		if ((*f == 'b' || str != NULL) && s->val[s->n] == NULL) {
			warn("bind");
			return EX_OSERR;
		}
		s->n++;
	}
	return 0;
}

static int
vprep(struct db *d, struct db_stmt **sp, const char *sql, const char *fmt, va_list *ap,
    const struct db_value *val)
{
	struct db_stmt *s = NULL;
	size_t len = strlen(sql);
	int rc, slot = -1;

	*sp = NULL;
	if (len > 11 && strcmp(sql + len - 11, " FOR UPDATE") == 0 && d->engine == DB_SQLITE)
		len -= 11;                      /* BEGIN IMMEDIATE holds the write lock */
	for (int k = 0; k < CACHE; k++) {
		if (d->cache[k].sql == NULL) {
			slot = k;
			break;
		}
		if (strcmp(d->cache[k].sql, sql) == 0) {
			s = &d->cache[k];
			break;
		}
	}
	if (s == NULL) {
		if (slot >= 0)
			s = &d->cache[slot];
		else if ((s = calloc(1, sizeof *s)) == NULL) {
			warn("db");
			return EX_OSERR;
		}
		s->d = d;
		s->cached = slot >= 0;
		if (d->engine == DB_SQLITE) {
			if ((rc = sqlite3_prepare_v3(d->lite, sql, (int)len, s->cached ?
			    SQLITE_PREPARE_PERSISTENT : 0, &s->st, NULL)) != SQLITE_OK) {
				rc = lite_err(d, rc, "prepare");
				goto fail;
			}
		} else if ((s->pgsql = pg_text(sql, len)) == NULL) {
			warn("db");
			rc = EX_OSERR;
			goto fail;
		}
		s->sql = sql;                   /* now cached (when in a slot) */
	}
	if ((rc = bind(s, fmt, ap, val)) != 0) {
		db_done(s);
		return rc;
	}
	*sp = s;
	return 0;
fail:
	if (s->cached)
		memset(s, 0, sizeof *s);
	else
		free(s);
	return rc;
}

int
db_prep(struct db *d, struct db_stmt **sp, const char *sql, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vprep(d, sp, sql, fmt, &ap, NULL);
	va_end(ap);
	return rc;
}

int
db_prepv(struct db *d, struct db_stmt **sp, const char *sql, const char *fmt,
    const struct db_value *val)
{
	return vprep(d, sp, sql, fmt, NULL, val);
}

int
db_step(struct db_stmt *s, int *row)
{
	struct db *d = s->d;
	int rc;

	if (row != NULL)
		*row = 0;
	if (d->engine == DB_SQLITE) {
		rc = sqlite3_step(s->st);
		if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
			if (row != NULL)
				*row = rc == SQLITE_ROW;
			d->changes = sqlite3_changes(d->lite);
			return 0;
		}
		return lite_err(d, rc, sqlite3_sql(s->st));
	}
	if (s->r == NULL) {
		if ((rc = pg_exec(d, s->pgsql, s->sql, s->n, s->val, s->len, s->fmt, &s->r)) != 0)
			return rc;
		s->nrows = PQntuples(s->r);
		s->row = 0;
	}
	if (s->row < s->nrows) {
		s->row++;
		if (row != NULL)
			*row = 1;
	}
	return 0;
}

int
db_run(struct db *d, const char *sql, const char *fmt, ...)
{
	struct db_stmt *s = NULL;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vprep(d, &s, sql, fmt, &ap, NULL);
	va_end(ap);
	if (rc == 0)
		rc = db_step(s, NULL);
	db_done(s);
	return rc;
}

int64_t
db_changes(struct db *d)
{
	return d->changes;
}

int
db_null(struct db_stmt *s, int c)
{
	if (s->d->engine == DB_SQLITE)
		return sqlite3_column_type(s->st, c) == SQLITE_NULL;
	return s->row < 1 || PQgetisnull(s->r, s->row - 1, c);
}

const char *
db_text(struct db_stmt *s, int c)
{
	if (s->d->engine == DB_SQLITE)
		return (const char *)sqlite3_column_text(s->st, c);
	return db_null(s, c) ? NULL : PQgetvalue(s->r, s->row - 1, c);
}

int64_t
db_int(struct db_stmt *s, int c)
{
	const char *t;

	if (s->d->engine == DB_SQLITE)
		return sqlite3_column_int64(s->st, c);
	if ((t = db_text(s, c)) == NULL)
		return 0;
	if (t[0] == 't' && t[1] == '\0')        /* a boolean */
		return 1;
	return strtoll(t, NULL, 10);
}

double
db_double(struct db_stmt *s, int c)
{
	const char *t;

	if (s->d->engine == DB_SQLITE)
		return sqlite3_column_double(s->st, c);
	return (t = db_text(s, c)) == NULL ? 0 : strtod(t, NULL);
}

const void *
db_blob(struct db_stmt *s, int c, size_t *len)
{
	const char *t;
	size_t n;

	*len = 0;
	if (s->d->engine == DB_SQLITE) {
		const void *p = sqlite3_column_blob(s->st, c);
		*len = (size_t)sqlite3_column_bytes(s->st, c);
		return p;
	}
	if ((t = db_text(s, c)) == NULL || strncmp(t, "\\x", 2) != 0)
		return NULL;                    /* bytea's hex output */
	t += 2;
	free(s->blob);
	if ((s->blob = malloc(strlen(t) / 2 + 1)) == NULL ||
	    sodium_hex2bin(s->blob, strlen(t) / 2 + 1, t, strlen(t), NULL, &n, NULL) != 0)
		return NULL;
	*len = n;
	return s->blob;
}

int
db_in_tx(struct db *d)
{
	return d->engine == DB_PG ? d->tx : !sqlite3_get_autocommit(d->lite);
}

int
db_begin(struct db *d)
{
	char sql[128];
	int rc;

	if (d->engine == DB_SQLITE)
		return db_run(d, "BEGIN IMMEDIATE", "");
	snprintf(sql, sizeof sql, "BEGIN ISOLATION LEVEL READ COMMITTED; "
	    "SET LOCAL lock_timeout = %d", d->busy_ms > 0 ? d->busy_ms : 1);
	if ((rc = pg_simple(d, sql)) == 0)
		d->tx = 1;
	return rc;
}

void
db_rollback(struct db *d)
{
	if (d->engine == DB_SQLITE) {
		if (!sqlite3_get_autocommit(d->lite))
			sqlite3_exec(d->lite, "ROLLBACK", NULL, NULL, NULL);
		return;
	}
	if (d->tx && PQstatus(d->pg) == CONNECTION_OK)
		PQclear(PQexec(d->pg, "ROLLBACK"));
	d->tx = 0;
}

int
db_commit(struct db *d)
{
	int rc;

	if (d->engine == DB_SQLITE) {
		if ((rc = db_run(d, "COMMIT", "")) != 0)
			db_rollback(d);
		return rc;
	}
	if (PQtransactionStatus(d->pg) == PQTRANS_INERROR) {
		warnx("%s: COMMIT: the transaction failed before", d->name);
		db_rollback(d);
		return EX_SOFTWARE;
	}
	rc = pg_simple(d, "COMMIT");
	d->tx = 0;
	return rc;
}

void
db_quiet(struct db *d, int on)
{
	d->quiet = on;
	if (!on && d->held[0] != '\0') {
		warnx("%s", d->held);
		d->held[0] = '\0';
	}
}

int
db_retry(struct db *d, int *attempt)
{
	if (d->engine != DB_PG || !d->retryable || *attempt >= RETRIES)
		return 0;
	backoff((*attempt)++);
	d->held[0] = '\0';
	d->retryable = 0;
	return 1;
}
