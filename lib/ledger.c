/* ledger.c: the ledger, once, on lib/db.h: SQLite in the spool
 * ($RS_SPOOL/rs.db) or PostgreSQL when RS_DATABASE is set.
 *
 * SQLite: one connection per process, WAL, synchronous=FULL (credits must
 * survive a power cut), foreign keys on, a busy timeout (RS_DB_TIMEOUT
 * ms, default 5000). Every read-modify-write runs in BEGIN IMMEDIATE,
 * which takes the write lock up front, so two processes never both read
 * a balance and then both spend it. PostgreSQL: the same SQL at READ
 * COMMITTED, where each such transaction first locks the row it decides
 * on (the user, the hold, the bucket: SELECT ... FOR UPDATE, which SQLite
 * drops), waits at most RS_DB_TIMEOUT for it, and runs again after a
 * deadlock or a lost connection (what moves credits is keyed by job or
 * grant id, so a run after a lost answer changes nothing).
 * The schema itself refuses what must never happen: CHECK(balance >= 0),
 * one hold per job, one grant per external id.
 *
 * Balance arithmetic: grant +N, reserve -N (into a hold), release +N
 * (the hold comes back), capture 0 (the hold is spent). So the balance
 * is SUM(ledger.amount) per user; users.balance caches it in the same
 * transaction, as is users.held, the credits in open holds; ledger_check
 * proves both agree with the entries and holds.
 *
 * SQLite: the schema version lives in PRAGMA user_version and the file is
 * marked with PRAGMA application_id, so a foreign SQLite file is refused
 * rather than "migrated". PostgreSQL: lib/pg.c's versioned migrations. */
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <time.h>
#include <sodium.h>

#include "conf.h"
#include "db.h"
#include "json.h"
#include "ledger.h"
#include "pg.h"
#include "util.h"

#define APP_ID 0x72730001               /* "rs", format 1 */
#define TOKEN_PREFIX "rs1."
#define TOKEN_TTL (30L * 86400)

static const char plans_default[] =
#include "plans.inc"
    ;

static const char *const migrations[] = {
	/* 1 */
	"CREATE TABLE users ("
	"  id TEXT PRIMARY KEY,"
	"  plan TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  balance INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),"
	"  held INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0));"
	"CREATE TABLE ledger ("
	"  seq INTEGER PRIMARY KEY,"        /* append-only: rowids only grow */
	"  user TEXT NOT NULL REFERENCES users(id),"
	"  kind TEXT NOT NULL CHECK (kind IN ('grant','reserve','capture','release','expire')),"
	"  amount INTEGER NOT NULL,"
	"  job TEXT, ext TEXT, note TEXT,"
	"  at INTEGER NOT NULL);"
	"CREATE INDEX ledger_user ON ledger(user);"
	"CREATE UNIQUE INDEX ledger_ext ON ledger(ext) WHERE ext IS NOT NULL;"
	"CREATE TABLE holds ("
	"  job TEXT PRIMARY KEY,"
	"  user TEXT NOT NULL REFERENCES users(id),"
	"  amount INTEGER NOT NULL CHECK (amount > 0),"
	"  state TEXT NOT NULL CHECK (state IN ('held','captured','released')),"
	"  at INTEGER NOT NULL, done INTEGER) WITHOUT ROWID;"
	"CREATE TABLE tokens ("
	"  hash BLOB PRIMARY KEY,"
	"  user TEXT NOT NULL REFERENCES users(id),"
	"  created INTEGER NOT NULL, expires INTEGER NOT NULL,"
	"  revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE buckets ("
	"  user TEXT PRIMARY KEY REFERENCES users(id),"
	"  tokens REAL NOT NULL, updated REAL NOT NULL);",
	/* 2: Stripe billing */
	"ALTER TABLE users ADD COLUMN stripe_customer TEXT;"
	"CREATE UNIQUE INDEX users_customer ON users(stripe_customer) "
	"  WHERE stripe_customer IS NOT NULL;"
	"ALTER TABLE users ADD COLUMN stripe_subscription TEXT;"
	"ALTER TABLE users ADD COLUMN sub_status TEXT;"
	"ALTER TABLE users ADD COLUMN sub_plan TEXT;"
	"ALTER TABLE users ADD COLUMN sub_period_end INTEGER;"
	"ALTER TABLE users ADD COLUMN sub_cancel INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE users ADD COLUMN sub_updated INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE users ADD COLUMN past_due INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE stripe_events ("
	"  id TEXT PRIMARY KEY, type TEXT NOT NULL, created INTEGER NOT NULL,"
	"  applied INTEGER NOT NULL, result TEXT) WITHOUT ROWID;",
	/* 3: accounts (email, Argon2id password), keyed rate limits, the
	 * index of each user's restorations (rs-serve) */
	"ALTER TABLE users ADD COLUMN email TEXT;"
	"ALTER TABLE users ADD COLUMN pwhash TEXT;"
	"CREATE UNIQUE INDEX users_email ON users(email) WHERE email IS NOT NULL;"
	"CREATE TABLE limits ("
	"  key TEXT PRIMARY KEY, tokens REAL NOT NULL, updated REAL NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE restorations ("
	"  id TEXT PRIMARY KEY,"
	"  user TEXT NOT NULL REFERENCES users(id),"
	"  created INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX restorations_user ON restorations(user, id);",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* PostgreSQL (RS_DATABASE): the same tables in one step of their own,
 * kept by lib/pg.c's versioned migrations. Integers are bigint, times
 * are seconds; keys sort bytewise (COLLATE "C") as in SQLite. */
static const char *const pg_migrations[] = {
	/* 1: the schema of SQLite version 3 */
	"CREATE TABLE users ("
	"  id text COLLATE \"C\" PRIMARY KEY,"
	"  plan text NOT NULL,"
	"  created bigint NOT NULL,"
	"  balance bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),"
	"  held bigint NOT NULL DEFAULT 0 CHECK (held >= 0),"
	"  stripe_customer text, stripe_subscription text, sub_status text, sub_plan text,"
	"  sub_period_end bigint, sub_cancel integer NOT NULL DEFAULT 0,"
	"  sub_updated bigint NOT NULL DEFAULT 0, past_due integer NOT NULL DEFAULT 0,"
	"  email text, pwhash text);"
	"CREATE UNIQUE INDEX users_customer ON users(stripe_customer) "
	"  WHERE stripe_customer IS NOT NULL;"
	"CREATE UNIQUE INDEX users_email ON users(email) WHERE email IS NOT NULL;"
	"CREATE TABLE ledger ("
	"  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  \"user\" text COLLATE \"C\" NOT NULL REFERENCES users(id),"
	"  kind text NOT NULL CHECK (kind IN ('grant','reserve','capture','release','expire')),"
	"  amount bigint NOT NULL,"
	"  job text, ext text, note text,"
	"  at bigint NOT NULL);"
	"CREATE INDEX ledger_user ON ledger(\"user\");"
	"CREATE UNIQUE INDEX ledger_ext ON ledger(ext) WHERE ext IS NOT NULL;"
	"CREATE TABLE holds ("
	"  job text COLLATE \"C\" PRIMARY KEY,"
	"  \"user\" text COLLATE \"C\" NOT NULL REFERENCES users(id),"
	"  amount bigint NOT NULL CHECK (amount > 0),"
	"  state text NOT NULL CHECK (state IN ('held','captured','released')),"
	"  at bigint NOT NULL, done bigint);"
	"CREATE INDEX holds_open ON holds(at) WHERE state = 'held';"
	"CREATE TABLE tokens ("
	"  hash bytea PRIMARY KEY,"
	"  \"user\" text COLLATE \"C\" NOT NULL REFERENCES users(id),"
	"  created bigint NOT NULL, expires bigint NOT NULL,"
	"  revoked integer NOT NULL DEFAULT 0);"
	"CREATE TABLE buckets ("
	"  \"user\" text COLLATE \"C\" PRIMARY KEY REFERENCES users(id),"
	"  tokens double precision NOT NULL, updated double precision NOT NULL);"
	"CREATE TABLE stripe_events ("
	"  id text PRIMARY KEY, type text NOT NULL, created bigint NOT NULL,"
	"  applied bigint NOT NULL, result text);"
	"CREATE TABLE limits ("
	"  key text COLLATE \"C\" PRIMARY KEY, tokens double precision NOT NULL,"
	"  updated double precision NOT NULL);"
	"CREATE TABLE restorations ("
	"  id text COLLATE \"C\" PRIMARY KEY,"
	"  \"user\" text COLLATE \"C\" NOT NULL REFERENCES users(id),"
	"  created bigint NOT NULL);"
	"CREATE INDEX restorations_user ON restorations(\"user\", id);",
};

struct ledger {
	struct db *db;
	jv plans;
	int outer;            /* inside ledger_tx_begin: functions join it */
	int importing;        /* ledger_import found the ledger empty */
};

/* ---- plumbing ---- */

static double
now(void)
{
	const char *t = getenv("RS_NOW");     /* test hook: a fixed clock */
	struct timeval tv;

	if (t != NULL && *t != '\0')
		return strtod(t, NULL);
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* Each function runs in its own transaction unless the caller holds one
 * (ledger_tx_begin): then begin and commit join it, and a rollback is
 * left to the caller, who sees the failing status. */
static int
begin(struct ledger *l)
{
	return l->outer ? 0 : db_begin(l->db);
}

static void
rollback(struct ledger *l)
{
	if (!l->outer)
		db_rollback(l->db);
}

static int
commit(struct ledger *l)
{
	return l->outer ? 0 : db_commit(l->db);
}

/* Inside a transaction spanning several calls a retryable failure is
 * EX_TEMPFAIL for the caller (rs-webhook answers so, and Stripe sends
 * the event again). */
int
ledger_tx_begin(struct ledger *l)
{
	int rc;

	if ((rc = db_begin(l->db)) == 0)
		l->outer = 1;
	return rc;
}

int
ledger_tx_end(struct ledger *l, int rc)
{
	l->outer = 0;
	if (rc == 0)
		return db_commit(l->db);
	db_rollback(l->db);
	return rc;
}

/* After a transaction of its own failed (rolled back): 1 when it is to
 * run again (PostgreSQL: a serialization failure, a deadlock or a lost
 * connection, a bounded number of times), else 0 with the failure's
 * message printed. Each attempt starts quiet: see try(). A failed
 * attempt was rolled back, or committed with its answer lost: a charge
 * or grant run again then finds itself done (keyed by job or grant id). */
static int
again(struct ledger *l, int rc, int *attempt)
{
	if (rc == EX_TEMPFAIL && !l->outer && db_retry(l->db, attempt))
		return 1;
	db_quiet(l->db, 0);
	return 0;
}

static void
try(struct ledger *l)
{
	db_quiet(l->db, !l->outer);
}

/* PostgreSQL runs transactions at READ COMMITTED: a read that decides a
 * write locks the user's row first (SELECT ... FOR UPDATE), so two
 * transactions on one user take turns, as BEGIN IMMEDIATE makes all of
 * them take turns on SQLite. *found 0 when there is no such user. */
static int
lock_user(struct ledger *l, const char *user, int64_t *bal, int *found)
{
	struct db_stmt *st = NULL;
	int rc;

	*bal = 0;
	if ((rc = db_prep(l->db, &st, "SELECT balance FROM users WHERE id = ?1 FOR UPDATE", "s",
	    user)) == 0 && (rc = db_step(st, found)) == 0 && *found)
		*bal = db_int(st, 0);
	db_done(st);
	return rc;
}

static int
no_user(const char *user)
{
	warnx("user %s: no such user", user);
	return EX_NOINPUT;
}

static int
valid_name(const char *what, const char *s, size_t max)
{
	size_t n = 0;

	if (s == NULL)
		goto bad;
	for (; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-' || c == '@' || c == ':' || c == '+'))
			goto bad;
	}
	if (n > 0 && n <= max)
		return 0;
bad:
	warnx("%s %.80s%s: expected 1 to %zu of A-Z a-z 0-9 . _ - @ : +", what,
	    s ? s : "(none)", s && strlen(s) > 80 ? "..." : "", max);
	return EX_DATAERR;
}

static int
valid_amount(int64_t n)
{
	if (n <= 0 || n > 1000000000) {
		warnx("amount %lld: expected 1 to 1000000000", (long long)n);
		return EX_DATAERR;
	}
	return 0;
}

/* ---- opening and migrating ---- */

static int
load_plans(struct ledger *l)
{
	struct conf *c = NULL;
	const char *path;
	unsigned char *buf = NULL;
	size_t len;
	int rc;

	if ((rc = conf_load(&c)) != 0)
		return rc;
	path = conf_str(c, "RS_PLANS", NULL);
	if (path != NULL) {
		if ((rc = util_slurp(path, 1 << 20, &buf, &len)) != 0) {
			conf_free(c);
			return rc == EX_NOINPUT ? EX_CONFIG : rc;
		}
		l->plans = jv_parse_sized((const char *)buf, (int)len);
	} else {
		/* the built-in plans are parsed when first asked for: most
		 * connections to rs-serve never are (a GET spends 6 % of its
		 * instructions parsing them otherwise) */
		conf_free(c);
		return 0;
	}
	free(buf);
	if (!jv_is_valid(l->plans) || jv_get_kind(l->plans) != JV_KIND_OBJECT) {
		warnx("%s: plans: not a JSON object", path ? path : "built-in plans");
		jv_free(l->plans);
		l->plans = jv_invalid();
		conf_free(c);
		return EX_CONFIG;
	}
	conf_free(c);
	return 0;
}

static int
pragma_int(struct ledger *l, const char *sql, int *v)
{
	struct db_stmt *st = NULL;
	int rc, row = 0;

	if ((rc = db_prep(l->db, &st, sql, "")) == 0 && (rc = db_step(st, &row)) == 0)
		*v = row ? (int)db_int(st, 0) : 0;
	db_done(st);
	return rc;
}

static int
migrate(struct ledger *l)
{
	int app, ver, tables, rc;
	char sql[64];

	if (db_engine(l->db) == DB_PG)
		return pg_migrate(db_handle(l->db), "ledger", pg_migrations,
		    (int)(sizeof pg_migrations / sizeof pg_migrations[0]));
	/* The usual case, up to date, is read without the write lock: every
	 * process opens the ledger (rs-serve one per connection), and
	 * BEGIN IMMEDIATE here would make them all wait in line. */
	if ((rc = pragma_int(l, "PRAGMA application_id", &app)) != 0 ||
	    (rc = pragma_int(l, "PRAGMA user_version", &ver)) != 0)
		return rc;
	if (app == APP_ID && ver == SCHEMA_VERSION)
		return 0;
	if ((rc = begin(l)) != 0)
		return rc;
	if ((rc = pragma_int(l, "PRAGMA application_id", &app)) != 0 ||
	    (rc = pragma_int(l, "PRAGMA user_version", &ver)) != 0 ||
	    (rc = pragma_int(l, "SELECT count(*) FROM sqlite_master", &tables)) != 0)
		goto fail;
	if (app != APP_ID && !(app == 0 && ver == 0 && tables == 0)) {
		warnx("%s: not an rs database (application_id %d); left untouched", db_name(l->db), app);
		rc = EX_DATAERR;
		goto fail;
	}
	if (ver > SCHEMA_VERSION) {
		warnx("%s: schema version %d is newer than this program's %d", db_name(l->db), ver,
		    SCHEMA_VERSION);
		rc = EX_DATAERR;
		goto fail;
	}
	if (ver == SCHEMA_VERSION) {
		rollback(l);
		return 0;
	}
	for (; ver < SCHEMA_VERSION; ver++)
		if ((rc = db_exec(l->db, migrations[ver])) != 0)
			goto fail;
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_VERSION);
	if ((rc = db_exec(l->db, sql)) != 0)
		goto fail;
	snprintf(sql, sizeof sql, "PRAGMA application_id = %d", APP_ID);
	if ((rc = db_exec(l->db, sql)) != 0)
		goto fail;
	return commit(l);
fail:
	rollback(l);
	return rc;
}

int
ledger_open(const char *spool, int create, struct ledger **lp)
{
	struct ledger *l;
	struct conf *c = NULL;
	unsigned long long timeout = 5000;
	char path[PATH_MAX];
	const char *url;
	int rc;

	*lp = NULL;
	if (sodium_init() < 0) {
		warnx("libsodium: cannot initialise");
		return EX_SOFTWARE;
	}
	if ((l = calloc(1, sizeof *l)) == NULL) {
		warn("ledger");
		return EX_OSERR;
	}
	l->plans = jv_invalid();
	if ((rc = pg_url(&url)) != 0 ||
	    (rc = conf_load(&c)) != 0 ||
	    (rc = conf_size(c, "RS_DB_TIMEOUT", 5000, &timeout)) != 0)
		goto fail;
	if (timeout > INT_MAX / 10)
		timeout = INT_MAX / 10;
	if (url == NULL) {
		if ((size_t)snprintf(path, sizeof path, "%s/rs.db", spool) >= sizeof path) {
			warnx("%s: path too long", spool);
			rc = EX_CANTCREAT;
			goto fail;
		}
		if (create && (rc = util_mkdir_p(spool, 0755)) != 0)
			goto fail;
	}
	if ((rc = db_open(url != NULL ? url : path, create, (int)timeout, &l->db)) != 0 ||
	    (rc = migrate(l)) != 0 ||
	    (rc = db_durable(l->db)) != 0 ||
	    (rc = load_plans(l)) != 0)
		goto fail;
	conf_free(c);
	*lp = l;
	return 0;
fail:
	conf_free(c);
	ledger_close(l);
	return rc;
}

void
ledger_close(struct ledger *l)
{
	if (l == NULL)
		return;
	db_close(l->db);
	jv_free(l->plans);
	free(l);
}

jv
ledger_plans(struct ledger *l)
{
	if (jv_get_kind(l->plans) == JV_KIND_INVALID) {
		jv_free(l->plans);
		l->plans = jv_parse(plans_default);
	}
	return l->plans;
}

/* plan's numeric setting, or def */
static double
plan_num(struct ledger *l, const char *plan, const char *key, double def)
{
	jv p = json_get(ledger_plans(l), plan), v = json_get(p, key);
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : def;

	jv_free(v);
	jv_free(p);
	return d;
}

static int
plan_bool(struct ledger *l, const char *plan, const char *key)
{
	jv p = json_get(ledger_plans(l), plan), v = json_get(p, key);
	int b = jv_get_kind(v) == JV_KIND_TRUE;

	jv_free(v);
	jv_free(p);
	return b;
}

static int
plan_known(struct ledger *l, const char *plan)
{
	jv p = json_get(ledger_plans(l), plan);
	int ok = jv_get_kind(p) == JV_KIND_OBJECT;

	jv_free(p);
	if (!ok)
		warnx("plan %.80s: unknown plan", plan);
	return ok ? 0 : EX_DATAERR;
}

/* ---- users ---- */

static jv
col_text(struct db_stmt *st, int c)
{
	return db_null(st, c) ? jv_null() :
	    jv_string(db_text(st, c));
}

static jv
user_row(struct db_stmt *st)
{
	jv u = JV_OBJECT(jv_string("user"), jv_string(db_text(st, 0)),
	    jv_string("plan"), jv_string(db_text(st, 1)),
	    jv_string("created"), jv_number((double)db_int(st, 2)),
	    jv_string("balance"), jv_number((double)db_int(st, 3)),
	    jv_string("held"), jv_number((double)db_int(st, 4)));

	if (!db_null(st, 5))
		u = jv_object_set(u, jv_string("billing"), JV_OBJECT(
		    jv_string("customer"), col_text(st, 5),
		    jv_string("subscription"), col_text(st, 6),
		    jv_string("status"), col_text(st, 7),
		    jv_string("plan"), col_text(st, 8),
		    jv_string("period_end"), db_null(st, 9) ? jv_null() :
		        jv_number((double)db_int(st, 9)),
		    jv_string("cancel_at_period_end"), jv_bool((int)db_int(st, 10)),
		    jv_string("past_due"), jv_bool((int)db_int(st, 11))));
	return u;
}

#define USER_SELECT "SELECT id, plan, created, balance, held, stripe_customer, " \
	"stripe_subscription, sub_status, sub_plan, sub_period_end, sub_cancel, past_due FROM users "

/* The one user the query finds by key; EX_NOINPUT when none. */
static int
user_find(struct ledger *l, const char *sql, const char *key, const char *what, jv *out)
{
	struct db_stmt *st = NULL;
	int rc, row = 0;

	*out = jv_invalid();
	if ((rc = db_prep(l->db, &st, sql, "s", key)) == 0 && (rc = db_step(st, &row)) == 0) {
		if (row)
			*out = user_row(st);
		else {
			warnx("%s %.80s: %s", what, key, strcmp(what, "user") == 0 ?
			    "no such user" : "no user linked to it");
			rc = EX_NOINPUT;
		}
	}
	db_done(st);
	return rc;
}

int
ledger_user_get(struct ledger *l, const char *user, jv *out)
{
	int rc;

	*out = jv_invalid();
	if ((rc = valid_name("user", user, 128)) != 0)
		return rc;
	return user_find(l, USER_SELECT "WHERE id = ?1", user, "user", out);
}

int
ledger_user_add(struct ledger *l, const char *user, const char *plan, jv *out)
{
	int rc;

	*out = jv_invalid();
	if (plan == NULL)
		plan = "free";
	if ((rc = valid_name("user", user, 128)) != 0 || (rc = plan_known(l, plan)) != 0)
		return rc;
	if ((rc = db_run(l->db, "INSERT INTO users(id, plan, created) VALUES (?1, ?2, ?3) "
	    "ON CONFLICT(id) DO NOTHING", "ssi", user, plan, (int64_t)now())) != 0)
		return rc;
	if ((rc = ledger_user_get(l, user, out)) != 0)
		return rc;
	/* an existing user: idempotent when the plan agrees */
	if (strcmp(json_str(*out, "plan"), plan) != 0) {
		warnx("user %s: exists with plan %s", user, json_str(*out, "plan"));
		jv_free(*out);
		*out = jv_invalid();
		return EX_DATAERR;
	}
	return 0;
}

int
ledger_user_list(struct ledger *l, jv *out)
{
	struct db_stmt *st = NULL;
	int rc, row = 0;

	*out = jv_array();
	if ((rc = db_prep(l->db, &st, USER_SELECT "ORDER BY id", "")) != 0)
		return rc;
	while ((rc = db_step(st, &row)) == 0 && row)
		*out = jv_array_append(*out, user_row(st));
	db_done(st);
	return rc;
}

int
ledger_user_plan(struct ledger *l, const char *user, const char *plan, jv *out)
{
	int rc;
	jv u;

	*out = jv_invalid();
	if ((rc = plan_known(l, plan)) != 0 || (rc = ledger_user_get(l, user, &u)) != 0)
		return rc;
	jv_free(u);
	if ((rc = db_run(l->db, "UPDATE users SET plan = ?2 WHERE id = ?1", "ss", user, plan)) != 0)
		return rc;
	return ledger_user_get(l, user, out);
}

/* ---- credits ---- */

int
ledger_balance(struct ledger *l, const char *user, jv *out)
{
	return ledger_user_get(l, user, out);
}

int
ledger_entries(struct ledger *l, const char *user, int limit, jv *out)
{
	struct db_stmt *st = NULL;
	int rc, row = 0;
	jv u;

	*out = jv_array();
	if ((rc = ledger_user_get(l, user, &u)) != 0)
		return rc;
	jv_free(u);
	if ((rc = db_prep(l->db, &st, "SELECT seq, kind, amount, job, ext, note, at FROM ledger "
	    "WHERE \"user\" = ?1 ORDER BY seq DESC LIMIT ?2", "si", user, (int64_t)limit)) != 0)
		return rc;
	while ((rc = db_step(st, &row)) == 0 && row) {
		jv e = JV_OBJECT(jv_string("seq"), jv_number((double)db_int(st, 0)),
		    jv_string("kind"), jv_string(db_text(st, 1)),
		    jv_string("amount"), jv_number((double)db_int(st, 2)),
		    jv_string("at"), jv_number((double)db_int(st, 6)));
		static const char *const opt[] = { NULL, NULL, NULL, "job", "id", "note" };
		for (int c = 3; c <= 5; c++)
			if (!db_null(st, c))
				e = jv_object_set(e, jv_string(opt[c]),
				    jv_string(db_text(st, c)));
		*out = jv_array_append(*out, e);
	}
	db_done(st);
	return rc;
}

/* Append an entry and change the user's cached balance by delta and held
 * credits by hdelta; inside a transaction. */
static int
append(struct ledger *l, const char *user, const char *kind, int64_t delta, int64_t hdelta,
    const char *job, const char *ext, const char *note)
{
	int rc;

	if ((rc = db_run(l->db, "INSERT INTO ledger(\"user\", kind, amount, job, ext, note, at) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", "ssisssi", user, kind, delta, job, ext, note,
	    (int64_t)now())) != 0)
		return rc;
	if (delta != 0 || hdelta != 0)
		rc = db_run(l->db, "UPDATE users SET balance = balance + ?2, held = held + ?3 WHERE id = ?1",
		    "sii", user, delta, hdelta);
	return rc;
}

static int
grant(struct ledger *l, const char *user, int64_t amount, const char *ext,
    const char *note, jv *out)
{
	struct db_stmt *st = NULL;
	int64_t bal;
	int rc, row = 0, found;

	*out = jv_invalid();
	if ((rc = begin(l)) != 0)
		return rc;
	if ((rc = lock_user(l, user, &bal, &found)) != 0)
		goto fail;
	if ((rc = db_prep(l->db, &st, "SELECT \"user\", amount FROM ledger WHERE ext = ?1", "s", ext)) != 0 ||
	    (rc = db_step(st, &row)) != 0)
		goto fail;
	if (row) {                       /* a replay: the same answer, nothing changed */
		int same = strcmp(db_text(st, 0), user) == 0 &&
		    db_int(st, 1) == amount;
		db_done(st);
		st = NULL;
		rollback(l);
		if (!same) {
			warnx("grant %s: already applied with another user or amount", ext);
			return EX_DATAERR;
		}
		*out = JV_OBJECT(jv_string("user"), jv_string(user), jv_string("amount"),
		    jv_number((double)amount), jv_string("id"), jv_string(ext));
		return 0;
	}
	db_done(st);
	st = NULL;
	if (!found) {
		rc = no_user(user);
		goto fail;
	}
	if ((rc = append(l, user, "grant", amount, 0, NULL, ext, note)) != 0 ||
	    (rc = commit(l)) != 0)
		goto fail;
	*out = JV_OBJECT(jv_string("user"), jv_string(user), jv_string("amount"),
	    jv_number((double)amount), jv_string("id"), jv_string(ext));
	return 0;
fail:
	db_done(st);
	rollback(l);
	return rc;
}

int
ledger_grant(struct ledger *l, const char *user, int64_t amount, const char *ext,
    const char *note, jv *out)
{
	int rc, n = 0;

	*out = jv_invalid();
	if ((rc = valid_name("user", user, 128)) != 0 || (rc = valid_amount(amount)) != 0 ||
	    (rc = valid_name("grant id", ext, 255)) != 0)
		return rc;
	do {
		try(l);
		rc = grant(l, user, amount, ext, note, out);
	} while (again(l, rc, &n));
	return rc;
}

static jv
hold_obj(const char *job, const char *user, int64_t amount, const char *state)
{
	return JV_OBJECT(jv_string("job"), jv_string(job), jv_string("user"), jv_string(user),
	    jv_string("amount"), jv_number((double)amount), jv_string("state"), jv_string(state));
}

/* Look up job's hold inside a transaction: *found, and its fields. */
static int
get_hold(struct ledger *l, const char *job, int *found, char user[256], int64_t *amount,
    char state[16])
{
	struct db_stmt *st = NULL;
	int rc;

	if ((rc = db_prep(l->db, &st, "SELECT \"user\", amount, state FROM holds WHERE job = ?1 "
	    "FOR UPDATE", "s", job)) == 0 &&
	    (rc = db_step(st, found)) == 0 && *found) {
		snprintf(user, 256, "%s", db_text(st, 0));
		*amount = db_int(st, 1);
		snprintf(state, 16, "%s", db_text(st, 2));
	}
	db_done(st);
	return rc;
}

static int
reserve(struct ledger *l, const char *user, int64_t amount, const char *job, jv *out)
{
	char huser[256], state[16];
	int64_t hamount, bal;
	int rc, found, ufound;

	*out = jv_invalid();
	if ((rc = begin(l)) != 0)
		return rc;
	if ((rc = lock_user(l, user, &bal, &ufound)) != 0 ||
	    (rc = get_hold(l, job, &found, huser, &hamount, state)) != 0)
		goto fail;
	if (found) {
		rollback(l);
		if (strcmp(huser, user) != 0 || hamount != amount) {
			warnx("job %s: already reserved %lld for %s", job, (long long)hamount, huser);
			return EX_DATAERR;
		}
		*out = hold_obj(job, user, amount, state);
		return 0;
	}
	if (!ufound) {
		rc = no_user(user);
		goto fail;
	}
	if (bal < amount) {
		warnx("user %s: insufficient credits: balance %lld, job %s needs %lld", user,
		    (long long)bal, job, (long long)amount);
		rc = EX_DATAERR;
		goto fail;
	}
	if ((rc = append(l, user, "reserve", -amount, amount, job, NULL, NULL)) != 0 ||
	    (rc = db_run(l->db, "INSERT INTO holds(job, \"user\", amount, state, at) VALUES (?1, ?2, ?3, 'held', ?4)",
	    "ssii", job, user, amount, (int64_t)now())) != 0)
		goto fail;
	util_crashpoint("ledger-reserve");          /* inside the transaction */
	if ((rc = commit(l)) != 0)
		goto fail;
	util_crashpoint("ledger-reserved");         /* committed, not yet answered */
	*out = hold_obj(job, user, amount, "held");
	return 0;
fail:
	rollback(l);
	return rc;
}

int
ledger_reserve(struct ledger *l, const char *user, int64_t amount, const char *job, jv *out)
{
	int rc, n = 0;

	*out = jv_invalid();
	if ((rc = valid_name("user", user, 128)) != 0 || (rc = valid_amount(amount)) != 0 ||
	    (rc = valid_name("job", job, 128)) != 0)
		return rc;
	do {
		try(l);
		rc = reserve(l, user, amount, job, out);
	} while (again(l, rc, &n));
	return rc;
}

/* capture (spend) or release (give back) job's hold */
static int
settle(struct ledger *l, const char *job, int capture, jv *out)
{
	const char *to = capture ? "captured" : "released";
	char user[256], state[16];
	int64_t amount;
	int rc, found;

	*out = jv_invalid();
	if ((rc = begin(l)) != 0)
		return rc;
	if ((rc = get_hold(l, job, &found, user, &amount, state)) != 0)
		goto fail;
	if (!found) {
		warnx("job %s: no reservation", job);
		rc = EX_NOINPUT;
		goto fail;
	}
	if (strcmp(state, "held") != 0) {
		rollback(l);
		if (strcmp(state, to) != 0) {
			warnx("job %s: already %s", job, state);
			return EX_DATAERR;
		}
		*out = hold_obj(job, user, amount, state);
		return 0;
	}
	if ((rc = db_run(l->db, "UPDATE holds SET state = ?2, done = ?3 WHERE job = ?1", "ssi",
	    job, to, (int64_t)now())) != 0 ||
	    (rc = append(l, user, capture ? "capture" : "release", capture ? 0 : amount,
	    -amount, job, NULL, NULL)) != 0)
		goto fail;
	util_crashpoint(capture ? "ledger-capture" : "ledger-release");
	if ((rc = commit(l)) != 0)
		goto fail;
	*out = hold_obj(job, user, amount, to);
	return 0;
fail:
	rollback(l);
	return rc;
}

static int
settled(struct ledger *l, const char *job, int capture, jv *out)
{
	int rc, n = 0;

	*out = jv_invalid();
	if ((rc = valid_name("job", job, 128)) != 0)
		return rc;
	do {
		try(l);
		rc = settle(l, job, capture, out);
	} while (again(l, rc, &n));
	return rc;
}

int
ledger_capture(struct ledger *l, const char *job, jv *out)
{
	return settled(l, job, 1, out);
}

int
ledger_release(struct ledger *l, const char *job, jv *out)
{
	return settled(l, job, 0, out);
}

/* One user's allowance for period: with a reset plan, what is left of the
 * previous allowance expires first (spending takes allowance first). */
static int
allowance_one(struct ledger *l, const char *user, const char *plan, const char *period, jv *out)
{
	char ext[400], xext[400];
	struct db_stmt *st = NULL;
	int64_t monthly = (int64_t)plan_num(l, plan, "monthly_credits", 0), prev = 0, bal, expire = 0;
	int rc, row = 0, found;

	snprintf(ext, sizeof ext, "allowance:%s:%s", user, period);
	snprintf(xext, sizeof xext, "expire:%s:%s", user, period);
	if ((rc = begin(l)) != 0)
		return rc;
	if ((rc = lock_user(l, user, &bal, &found)) != 0)
		goto fail;
	if (!found) {
		rc = no_user(user);
		goto fail;
	}
	if ((rc = db_prep(l->db, &st, "SELECT (SELECT amount FROM ledger WHERE ext = ?1), "
	    "(SELECT -amount FROM ledger WHERE ext = ?2)", "ss", ext, xext)) != 0 ||
	    (rc = db_step(st, &row)) != 0)
		goto fail;
	if (!db_null(st, 0)) {   /* a replay: the same answer */
		monthly = db_int(st, 0);
		expire = db_int(st, 1);
		db_done(st);
		rollback(l);
		goto answer;
	}
	db_done(st);
	st = NULL;
	if (!plan_bool(l, plan, "rollover")) {
		if ((rc = db_prep(l->db, &st, "SELECT amount FROM ledger WHERE \"user\" = ?1 AND kind = 'grant' "
		    "AND ext LIKE 'allowance:%' ORDER BY seq DESC LIMIT 1", "s", user)) != 0 ||
		    (rc = db_step(st, &row)) != 0)
			goto fail;
		prev = row ? db_int(st, 0) : 0;
		db_done(st);
		st = NULL;
		expire = bal < prev ? bal : prev;
		if (expire > 0 && (rc = append(l, user, "expire", -expire, 0, NULL, xext,
		    "unused allowance")) != 0)
			goto fail;
	}
	if ((rc = append(l, user, "grant", monthly, 0, NULL, ext, "monthly allowance")) != 0)
		goto fail;
	if ((rc = commit(l)) != 0)
		goto fail;
answer:
	*out = JV_OBJECT(jv_string("user"), jv_string(user), jv_string("period"), jv_string(period),
	    jv_string("granted"), jv_number((double)monthly), jv_string("expired"),
	    jv_number((double)expire));
	return 0;
fail:
	db_done(st);
	rollback(l);
	return rc;
}

int
ledger_allowance(struct ledger *l, const char *user, const char *period, jv *out)
{
	jv users, one;
	int rc = 0;

	*out = jv_array();
	if (strlen(period) != 7 || period[4] != '-' || strspn(period, "0123456789-") != 7 ||
	    period[5] > '1' || (period[5] == '1' && period[6] > '2') ||
	    (period[5] == '0' && period[6] == '0')) {
		warnx("period %.20s: expected YYYY-MM", period);
		return EX_DATAERR;
	}
	if (user != NULL) {
		if ((rc = ledger_user_get(l, user, &one)) != 0)
			return rc;
		users = JV_ARRAY(one);
	} else if ((rc = ledger_user_list(l, &users)) != 0)
		return rc;
	jv_array_foreach(users, i, u) {
		jv r;
		int n = 0;
		if (rc == 0) {
			do {
				try(l);
				rc = allowance_one(l, json_str(u, "user"), json_str(u, "plan"), period, &r);
			} while (again(l, rc, &n));
			if (rc == 0)
				*out = jv_array_append(*out, r);
		}
		jv_free(u);
	}
	jv_free(users);
	return rc;
}

/* ---- rate limits ---- */

/* Take cost tokens from a bucket of cap refilling at rate a second, in
 * one transaction: the user's bucket (keyed 0: buckets) or another key's
 * (keyed 1: limits, e.g. a client address). *left: tokens left. A
 * missing bucket is full: it is stored so, then read with its row
 * locked (PostgreSQL: two takes never both read the same tokens). */
static int
bucket_take(struct ledger *l, int keyed, const char *key, double cap, double rate, double cost,
    int *allowed, double *left, double *retry)
{
	static const char *const seed[] = {
		"INSERT INTO buckets(\"user\", tokens, updated) VALUES (?1, ?2, ?3) "
		"ON CONFLICT(\"user\") DO NOTHING",
		"INSERT INTO limits(key, tokens, updated) VALUES (?1, ?2, ?3) "
		"ON CONFLICT(key) DO NOTHING" };
	static const char *const sel[] = {
		"SELECT tokens, updated FROM buckets WHERE \"user\" = ?1 FOR UPDATE",
		"SELECT tokens, updated FROM limits WHERE key = ?1 FOR UPDATE" };
	static const char *const put[] = {
		"INSERT INTO buckets(\"user\", tokens, updated) VALUES (?1, ?2, ?3) "
		"ON CONFLICT(\"user\") DO UPDATE SET tokens = ?2, updated = ?3",
		"INSERT INTO limits(key, tokens, updated) VALUES (?1, ?2, ?3) "
		"ON CONFLICT(key) DO UPDATE SET tokens = ?2, updated = ?3" };
	struct db_stmt *st = NULL;
	double t = now(), tokens = cap;
	int rc, row = 0;

	*allowed = 0;
	*retry = 0;
	if ((rc = begin(l)) != 0)
		return rc;
	if ((rc = db_run(l->db, seed[keyed], "sdd", key, cap, t)) != 0 ||
	    (rc = db_prep(l->db, &st, sel[keyed], "s", key)) != 0 || (rc = db_step(st, &row)) != 0)
		goto fail;
	if (row) {
		double el = t - db_double(st, 1);
		tokens = db_double(st, 0) + (el > 0 ? el : 0) * rate;
		if (tokens > cap)
			tokens = cap;
	}
	db_done(st);
	st = NULL;
	if (tokens + 1e-9 >= cost) {
		tokens -= cost;
		*allowed = 1;
	} else
		*retry = ceil((cost - tokens) / rate);
	if ((rc = db_run(l->db, put[keyed], "sdd", key, tokens, t)) != 0 || (rc = commit(l)) != 0)
		goto fail;
	*left = tokens;
	return 0;
fail:
	db_done(st);
	rollback(l);
	return rc;
}

static int
bucket(struct ledger *l, int keyed, const char *key, double cap, double rate, double cost,
    int *allowed, double *left, double *retry)
{
	int rc, n = 0;

	do {
		try(l);
		rc = bucket_take(l, keyed, key, cap, rate, cost, allowed, left, retry);
	} while (again(l, rc, &n));
	return rc;
}

int
ledger_limit(struct ledger *l, const char *user, double cost, int *allowed, jv *out)
{
	double cap, rate, tokens, retry;
	int rc;
	jv u;

	*out = jv_invalid();
	*allowed = 0;
	if ((rc = ledger_user_get(l, user, &u)) != 0)
		return rc;
	cap = plan_num(l, json_str(u, "plan"), "bucket_capacity", 5);
	rate = plan_num(l, json_str(u, "plan"), "bucket_refill_per_minute", 1) / 60.0;
	jv_free(u);
	if (!(cost > 0) || cost > cap || rate <= 0) {
		warnx("user %s: cost %g: expected more than 0 and at most the bucket's %g", user, cost, cap);
		return EX_DATAERR;
	}
	if ((rc = bucket(l, 0, user, cap, rate, cost, allowed, &tokens, &retry)) != 0)
		return rc;
	*out = JV_OBJECT(jv_string("user"), jv_string(user), jv_string("allowed"), jv_bool(*allowed),
	    jv_string("tokens"), jv_number(floor(tokens * 1000) / 1000),
	    jv_string("capacity"), jv_number(cap), jv_string("retry_after"), jv_number(retry));
	return 0;
}

/* ---- tokens ---- */

static void
token_hash(const char *token, unsigned char h[32])
{
	crypto_generichash(h, 32, (const unsigned char *)token, strlen(token), NULL, 0);
}

int
ledger_token_issue(struct ledger *l, const char *user, long ttl, jv *out)
{
	unsigned char r[32], h[32];
	char tok[sizeof TOKEN_PREFIX + 64], id[17];
	int64_t t = (int64_t)now();
	int rc;
	jv u;

	*out = jv_invalid();
	if ((rc = ledger_user_get(l, user, &u)) != 0)
		return rc;
	jv_free(u);
	if (ttl <= 0)
		ttl = TOKEN_TTL;
	randombytes_buf(r, sizeof r);
	memcpy(tok, TOKEN_PREFIX, sizeof TOKEN_PREFIX - 1);
	sodium_bin2base64(tok + sizeof TOKEN_PREFIX - 1, sizeof tok - (sizeof TOKEN_PREFIX - 1),
	    r, sizeof r, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	token_hash(tok, h);
	sodium_memzero(r, sizeof r);
	if ((rc = db_run(l->db, "INSERT INTO tokens(hash, \"user\", created, expires) VALUES (?1, ?2, ?3, ?4) "
	    "ON CONFLICT(hash) DO NOTHING",            /* a re-run after a lost answer */
	    "bsii", h, 32, user, t, t + (int64_t)ttl)) != 0)
		return rc;
	util_hex(h, 8, id);
	*out = JV_OBJECT(jv_string("token"), jv_string(tok), jv_string("id"), jv_string(id),
	    jv_string("user"), jv_string(user), jv_string("expires"), jv_number((double)(t + ttl)));
	sodium_memzero(tok, sizeof tok);
	return 0;
}

int
ledger_token_verify(struct ledger *l, const char *token, jv *out)
{
	struct db_stmt *st = NULL;
	unsigned char h[32];
	char id[17];
	int rc, row = 0, ok = 0;

	*out = jv_invalid();
	if (strncmp(token, TOKEN_PREFIX, sizeof TOKEN_PREFIX - 1) != 0 || strlen(token) > 200) {
		warnx("token: malformed");
		return EX_NOPERM;
	}
	token_hash(token, h);
	util_hex(h, 8, id);
	if ((rc = db_prep(l->db, &st, "SELECT t.hash, t.\"user\", t.expires, t.revoked, u.plan FROM tokens t "
	    "JOIN users u ON u.id = t.\"user\" WHERE t.hash = ?1", "b", h, 32)) != 0 ||
	    (rc = db_step(st, &row)) != 0)
		goto out;
	if (row) {
		size_t n;
		const void *p = db_blob(st, 0, &n);
		ok = p != NULL && n == 32 && sodium_memcmp(p, h, 32) == 0;
	}
	if (!ok) {
		warnx("token %s: unknown", id);
		rc = EX_NOPERM;
	} else if ((int)db_int(st, 3)) {
		warnx("token %s: revoked", id);
		rc = EX_NOPERM;
	} else if (db_int(st, 2) <= (int64_t)now()) {
		warnx("token %s: expired", id);
		rc = EX_NOPERM;
	} else
		*out = JV_OBJECT(jv_string("user"), jv_string(db_text(st, 1)),
		    jv_string("plan"), jv_string(db_text(st, 4)),
		    jv_string("id"), jv_string(id),
		    jv_string("expires"), jv_number((double)db_int(st, 2)));
out:
	db_done(st);
	return rc;
}

int
ledger_token_revoke(struct ledger *l, const char *token)
{
	unsigned char h[32];
	int rc;

	if (strncmp(token, TOKEN_PREFIX, sizeof TOKEN_PREFIX - 1) != 0) {
		warnx("token: malformed");
		return EX_NOPERM;
	}
	token_hash(token, h);
	if ((rc = db_run(l->db, "UPDATE tokens SET revoked = 1 WHERE hash = ?1", "b", h, 32)) != 0)
		return rc;
	if (db_changes(l->db) == 0) {
		warnx("token: unknown");
		return EX_NOINPUT;
	}
	return 0;
}

/* ---- moving an installation ---- */

/* Every table in an order that inserts what a row references first; the
 * columns and their kinds (s text, i integer, d real, b blob as hex) in
 * the same order in both statements. A ledger entry's seq is left out:
 * the target numbers the entries again, in the same order. */
static const struct table {
	const char *name, *kinds, *select, *insert;
} tables[] = {
	{ "users", "ssiiissssiiiiss",
	  "SELECT id, plan, created, balance, held, stripe_customer, stripe_subscription, "
	  "sub_status, sub_plan, sub_period_end, sub_cancel, sub_updated, past_due, email, "
	  "pwhash FROM users ORDER BY id",
	  "INSERT INTO users (id, plan, created, balance, held, stripe_customer, "
	  "stripe_subscription, sub_status, sub_plan, sub_period_end, sub_cancel, sub_updated, "
	  "past_due, email, pwhash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
	  "?13, ?14, ?15)" },
	{ "ledger", "ssisssi",
	  "SELECT \"user\", kind, amount, job, ext, note, at FROM ledger ORDER BY seq",
	  "INSERT INTO ledger (\"user\", kind, amount, job, ext, note, at) "
	  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)" },
	{ "holds", "ssisii",
	  "SELECT job, \"user\", amount, state, at, done FROM holds ORDER BY job",
	  "INSERT INTO holds (job, \"user\", amount, state, at, done) "
	  "VALUES (?1, ?2, ?3, ?4, ?5, ?6)" },
	{ "tokens", "bsiii",
	  "SELECT hash, \"user\", created, expires, revoked FROM tokens ORDER BY hash",
	  "INSERT INTO tokens (hash, \"user\", created, expires, revoked) "
	  "VALUES (?1, ?2, ?3, ?4, ?5)" },
	{ "buckets", "sdd",
	  "SELECT \"user\", tokens, updated FROM buckets ORDER BY \"user\"",
	  "INSERT INTO buckets (\"user\", tokens, updated) VALUES (?1, ?2, ?3)" },
	{ "limits", "sdd",
	  "SELECT key, tokens, updated FROM limits ORDER BY key",
	  "INSERT INTO limits (key, tokens, updated) VALUES (?1, ?2, ?3)" },
	{ "stripe_events", "ssiis",
	  "SELECT id, type, created, applied, result FROM stripe_events ORDER BY id",
	  "INSERT INTO stripe_events (id, type, created, applied, result) "
	  "VALUES (?1, ?2, ?3, ?4, ?5)" },
	{ "restorations", "ssi",
	  "SELECT id, \"user\", created FROM restorations ORDER BY id",
	  "INSERT INTO restorations (id, \"user\", created) VALUES (?1, ?2, ?3)" },
};
#define NTABLES (sizeof tables / sizeof tables[0])
#define MAXCOLS 16

/* The column names of a table, from its SELECT: name[k] for column k */
static int
columns(const struct table *t, char name[MAXCOLS][32])
{
	const char *p = t->select + 7;
	int k = 0;

	while (k < MAXCOLS && *p != '\0' && strncmp(p, "FROM", 4) != 0) {
		size_t n = strcspn(p, ", ");
		const char *q = *p == '"' ? p + 1 : p;
		size_t m = *p == '"' ? n - 2 : n;
		snprintf(name[k++], 32, "%.*s", (int)m, q);
		p += n;
		p += strspn(p, ", ");
	}
	return k;
}

int
ledger_export(struct ledger *l, int (*emit)(jv rec, void *arg), void *arg)
{
	char name[MAXCOLS][32];
	struct db_stmt *st = NULL;
	int rc, row = 0;

	/* one snapshot: a transaction around every read */
	if ((rc = db_begin(l->db)) != 0)
		return rc;
	for (size_t t = 0; rc == 0 && t < NTABLES; t++) {
		int n = columns(&tables[t], name);
		if ((rc = db_prep(l->db, &st, tables[t].select, "")) != 0)
			break;
		while (rc == 0 && (rc = db_step(st, &row)) == 0 && row) {
			jv r = jv_object();
			for (int c = 0; c < n; c++) {
				jv v = jv_null();
				if (!db_null(st, c))
					switch (tables[t].kinds[c]) {
					case 'i': v = jv_number((double)db_int(st, c)); break;
					case 'd': v = jv_number(db_double(st, c)); break;
					case 's': v = jv_string(db_text(st, c)); break;
					case 'b': {
						size_t len;
						const void *b = db_blob(st, c, &len);
						char hex[2 * 64 + 1];
						v = len <= 64 ? jv_string(sodium_bin2hex(hex, sizeof hex, b, len)) :
						    jv_null();
						break;
					}
					}
				r = jv_object_set(r, jv_string(name[c]), v);
			}
			jv rec = JV_OBJECT(jv_string("table"), jv_string(tables[t].name),
			    jv_string("row"), r);
			rc = emit(rec, arg);
			jv_free(rec);
		}
		db_done(st);
		st = NULL;
	}
	if (rc == 0)
		return db_commit(l->db);
	db_rollback(l->db);
	return rc;
}

int
ledger_import(struct ledger *l, jv rec)
{
	const char *table = NULL;
	const struct table *t = NULL;
	char name[MAXCOLS][32], fmt[MAXCOLS + 1];
	unsigned char blob[MAXCOLS][64];
	struct db_value val[MAXCOLS];
	struct db_stmt *st = NULL;
	jv row, v;
	int n, rc, any = 0;

	if (!l->outer) {
		warnx("import: not inside a transaction");
		return EX_SOFTWARE;
	}
	table = json_str(rec, "table");
	for (size_t k = 0; table != NULL && k < NTABLES; k++)
		if (strcmp(table, tables[k].name) == 0)
			t = &tables[k];
	if (t == NULL) {
		warnx("import: %s: not a table of the ledger", table ? table : "(none)");
		return EX_DATAERR;
	}
	/* into an empty ledger only: the first row looks */
	if (!l->importing) {
		if ((rc = db_prep(l->db, &st, "SELECT count(*) FROM users", "")) != 0 ||
		    (rc = db_step(st, &any)) != 0) {
			db_done(st);
			return rc;
		}
		any = db_int(st, 0) > 0;
		db_done(st);
		if (any) {
			warnx("import: %s already has users: import only into an empty one",
			    db_name(l->db));
			return EX_DATAERR;
		}
		l->importing = 1;
	}
	n = columns(t, name);
	row = json_get(rec, "row");
	rc = jv_get_kind(row) == JV_KIND_OBJECT ? 0 : EX_DATAERR;
	memset(val, 0, sizeof val);
	for (int c = 0; rc == 0 && c < n; c++) {
		char k = t->kinds[c];
		v = json_get(row, name[c]);
		fmt[c] = k;
		if (jv_get_kind(v) == JV_KIND_NULL) {
			fmt[c] = 's';                  /* NULL */
		} else if ((k == 'i' || k == 'd') && jv_get_kind(v) == JV_KIND_NUMBER) {
			val[c].i = (int64_t)jv_number_value(v);
			val[c].d = jv_number_value(v);
		} else if (k == 's' && jv_get_kind(v) == JV_KIND_STRING) {
			val[c].s = jv_string_value(v);
		} else if (k == 'b' && jv_get_kind(v) == JV_KIND_STRING) {
			size_t len;
			if (sodium_hex2bin(blob[c], sizeof blob[c], jv_string_value(v),
			    (size_t)jv_string_length_bytes(jv_copy(v)), NULL, &len, NULL) != 0)
				rc = EX_DATAERR;
			val[c].p = blob[c];
			val[c].n = (int)len;
		} else
			rc = EX_DATAERR;
		if (rc != 0)
			warnx("import: %s.%s: not a %s", t->name, name[c],
			    k == 's' ? "string" : k == 'b' ? "hex string" : "number");
		jv_free(v);                        /* strings live on in row */
	}
	fmt[n] = '\0';
	if (rc == 0 && (rc = db_prepv(l->db, &st, t->insert, fmt, val)) == 0) {
		int r;
		rc = db_step(st, &r);
		db_done(st);
	}
	jv_free(row);
	return rc;
}

int
ledger_check(struct ledger *l, jv *out)
{
	struct db_stmt *st = NULL;
	int rc, row = 0, bad = 0;

	*out = jv_array();
	if ((rc = db_prep(l->db, &st, "SELECT u.id, u.balance, coalesce((SELECT sum(amount) FROM ledger "
	    "WHERE \"user\" = u.id), 0), u.held, coalesce((SELECT sum(amount) FROM holds "
	    "WHERE \"user\" = u.id AND state = 'held'), 0) FROM users u", "")) != 0)
		return rc;
	while ((rc = db_step(st, &row)) == 0 && row)
		if (db_int(st, 1) != db_int(st, 2) ||
		    db_int(st, 3) != db_int(st, 4)) {
			bad++;
			*out = jv_array_append(*out, JV_OBJECT(
			    jv_string("user"), jv_string(db_text(st, 0)),
			    jv_string("balance"), jv_number((double)db_int(st, 1)),
			    jv_string("ledger"), jv_number((double)db_int(st, 2)),
			    jv_string("held"), jv_number((double)db_int(st, 3)),
			    jv_string("holds"), jv_number((double)db_int(st, 4))));
		}
	db_done(st);
	if (rc == 0 && bad) {
		warnx("%s: %d balances disagree with the ledger", db_name(l->db), bad);
		rc = EX_SOFTWARE;
	}
	return rc;
}

/* ---- Stripe billing state ---- */

int
ledger_event_record(struct ledger *l, const char *id, const char *type, int64_t created,
    int *seen)
{
	int rc;

	*seen = 0;
	if ((rc = valid_name("event", id, 255)) != 0)
		return rc;
	/* one statement: a concurrent delivery of the same event waits for
	 * the first one's transaction, then finds it recorded */
	if ((rc = db_run(l->db, "INSERT INTO stripe_events(id, type, created, applied) "
	    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(id) DO NOTHING", "ssii", id, type, created,
	    (int64_t)now())) != 0)
		return rc;
	*seen = db_changes(l->db) == 0;
	return 0;
}

int
ledger_user_by_customer(struct ledger *l, const char *customer, jv *out)
{
	return user_find(l, USER_SELECT "WHERE stripe_customer = ?1", customer, "customer", out);
}

int
ledger_user_link(struct ledger *l, const char *user, const char *customer,
    const char *subscription)
{
	int rc;
	jv u;

	if ((rc = ledger_user_get(l, user, &u)) != 0)
		return rc;
	jv_free(u);
	if ((rc = valid_name("customer", customer, 255)) != 0)
		return rc;
	return db_run(l->db, "UPDATE users SET stripe_customer = ?2, "
	    "stripe_subscription = coalesce(?3, stripe_subscription) WHERE id = ?1", "sss",
	    user, customer, subscription);
}

int
ledger_user_subscription(struct ledger *l, const char *user, const struct ledger_sub *s,
    int *applied)
{
	struct db_stmt *st = NULL;
	int rc, row = 0;

	*applied = 0;
	if ((rc = db_prep(l->db, &st, "SELECT sub_updated FROM users WHERE id = ?1 FOR UPDATE", "s",
	    user)) != 0 ||
	    (rc = db_step(st, &row)) != 0)
		goto out;
	if (!row) {
		warnx("user %s: no such user", user);
		rc = EX_NOINPUT;
		goto out;
	}
	if (s->updated < db_int(st, 0))   /* older than what we have */
		goto out;
	db_done(st);
	st = NULL;
	if (s->plan != NULL && (rc = plan_known(l, s->plan)) != 0)
		goto out;
	rc = db_run(l->db, "UPDATE users SET stripe_subscription = ?2, sub_status = ?3, "
	    "sub_plan = coalesce(?4, sub_plan), sub_period_end = ?5, sub_cancel = ?6, sub_updated = ?7, "
	    "plan = coalesce(?8, plan) WHERE id = ?1", "ssssiiis", user, s->id, s->status,
	    s->plan, s->period_end, (int64_t)s->cancel_at_period_end, s->updated, s->effective_plan);
	*applied = rc == 0;
out:
	db_done(st);
	return rc;
}

int
ledger_user_past_due(struct ledger *l, const char *user, int past_due, const char *plan)
{
	if (plan != NULL) {
		int rc = plan_known(l, plan);
		if (rc != 0)
			return rc;
	}
	return db_run(l->db, "UPDATE users SET past_due = ?2, plan = coalesce(?3, plan) WHERE id = ?1",
	    "sis", user, (int64_t)past_due, plan);
}

/* ---- accounts (rs-serve) ---- */

int
ledger_account_get(struct ledger *l, const char *user, jv *out)
{
	struct db_stmt *st = NULL;
	int rc, row = 0;

	*out = jv_invalid();
	if ((rc = valid_name("user", user, 128)) != 0)
		return rc;
	if ((rc = db_prep(l->db, &st, "SELECT email, pwhash IS NOT NULL FROM users WHERE id = ?1", "s",
	    user)) == 0 && (rc = db_step(st, &row)) == 0) {
		if (row)
			*out = JV_OBJECT(jv_string("email"), col_text(st, 0),
			    jv_string("has_password"), jv_bool((int)db_int(st, 1)));
		else {
			warnx("user %s: no such user", user);
			rc = EX_NOINPUT;
		}
	}
	db_done(st);
	return rc;
}

int
ledger_user_by_email(struct ledger *l, const char *email, jv *out)
{
	struct db_stmt *st = NULL;
	int rc, row = 0;
	char id[256] = "";

	*out = jv_invalid();
	if ((rc = db_prep(l->db, &st, "SELECT id FROM users WHERE email = ?1", "s", email)) == 0 &&
	    (rc = db_step(st, &row)) == 0 && row)
		snprintf(id, sizeof id, "%s", db_text(st, 0));
	db_done(st);
	if (rc != 0)
		return rc;
	if (!row)
		return EX_NOINPUT;              /* quietly: the caller decides */
	return ledger_user_get(l, id, out);
}

/* The stored hash of user (NULL if none) into h. */
static int
pwhash_of(struct ledger *l, const char *user, char h[crypto_pwhash_STRBYTES], int *has)
{
	struct db_stmt *st = NULL;
	int rc, row = 0;

	*has = 0;
	if ((rc = db_prep(l->db, &st, "SELECT pwhash FROM users WHERE id = ?1", "s", user)) == 0 &&
	    (rc = db_step(st, &row)) == 0 && row && !db_null(st, 0) &&
	    strlen(db_text(st, 0)) < crypto_pwhash_STRBYTES) {
		snprintf(h, crypto_pwhash_STRBYTES, "%s", db_text(st, 0));
		*has = 1;
	}
	db_done(st);
	return rc;
}

int
ledger_account_set(struct ledger *l, const char *user, const char *email,
    const char *password, const char *current)
{
	char h[crypto_pwhash_STRBYTES], old[crypto_pwhash_STRBYTES];
	int rc, has;
	jv u;

	if ((rc = ledger_user_get(l, user, &u)) != 0)
		return rc;
	jv_free(u);
	if ((rc = pwhash_of(l, user, old, &has)) != 0)
		return rc;
	if (has && (current == NULL ||
	    crypto_pwhash_str_verify(old, current, strlen(current)) != 0)) {
		warnx("user %s: the current password does not match", user);
		return EX_NOPERM;
	}
	/* the expensive hash outside any transaction */
	if (crypto_pwhash_str(h, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		warnx("user %s: password hashing: out of memory", user);
		return EX_OSERR;
	}
	rc = db_run(l->db, "UPDATE users SET email = ?2, pwhash = ?3 WHERE id = ?1", "sss", user, email, h);
	sodium_memzero(h, sizeof h);
	return rc;
}

int
ledger_login(struct ledger *l, const char *email, const char *password, jv *out)
{
	/* a valid Argon2id hash of nothing anyone knows: an unknown email
	 * costs the same time as a wrong password */
	static const char dummy[crypto_pwhash_STRBYTES] = "$argon2id$v=19$m=65536,t=2,p=1$"
	    "p9YXA2wICVzoK6cduamqCg$j9U0Hb7p997OG/JGbF65P/YeE5JYxwg/CQkxQu/Cguk";
	char h[crypto_pwhash_STRBYTES];
	int rc, has = 0;
	jv u = jv_invalid();

	*out = jv_invalid();
	rc = ledger_user_by_email(l, email, &u);
	if (rc != 0 && rc != EX_NOINPUT)
		return rc;
	if (rc == 0 && (rc = pwhash_of(l, json_str(u, "user"), h, &has)) != 0) {
		jv_free(u);
		return rc;
	}
	if (!has || crypto_pwhash_str_verify(h, password, strlen(password)) != 0) {
		if (!has && crypto_pwhash_str_verify(dummy, password, strlen(password)) == 0)
			has = 0;                  /* the same work; the answer is no */
		jv_free(u);
		warnx("login: wrong email or password");
		return EX_NOPERM;
	}
	*out = u;
	return 0;
}

int
ledger_limit_key(struct ledger *l, const char *key, double cap, double per_minute,
    double cost, int *allowed, double *retry)
{
	double rate = per_minute / 60.0, left;

	*allowed = 0;
	*retry = 0;
	if (!(cost > 0) || cost > cap || !(rate > 0)) {
		warnx("limit %s: cost %g: expected more than 0 and at most %g", key, cost, cap);
		return EX_SOFTWARE;
	}
	return bucket(l, 1, key, cap, rate, cost, allowed, &left, retry);
}

int
ledger_job_add(struct ledger *l, const char *id, const char *user)
{
	return db_run(l->db, "INSERT INTO restorations(id, \"user\", created) VALUES (?1, ?2, ?3) "
	    "ON CONFLICT(id) DO NOTHING", "ssi", id, user, (int64_t)now());
}

int
ledger_job_remove(struct ledger *l, const char *id)
{
	return db_run(l->db, "DELETE FROM restorations WHERE id = ?1", "s", id);
}

int
ledger_job_list(struct ledger *l, const char *user, const char *before, int limit, jv *out)
{
	struct db_stmt *st = NULL;
	int rc, row = 0;

	*out = jv_array();
	if ((rc = db_prep(l->db, &st, "SELECT id FROM restorations WHERE \"user\" = ?1 AND id < ?2 "
	    "ORDER BY id DESC LIMIT ?3", "ssi", user, before != NULL ? before : "~",
	    (int64_t)limit)) != 0)
		return rc;
	while ((rc = db_step(st, &row)) == 0 && row)
		*out = jv_array_append(*out, jv_string(db_text(st, 0)));
	db_done(st);
	return rc;
}

int
ledger_holds_open(struct ledger *l, int64_t before, jv *out)
{
	struct db_stmt *st = NULL;
	int rc, row = 0;

	*out = jv_array();
	if ((rc = db_prep(l->db, &st, "SELECT job, \"user\", amount FROM holds WHERE state = 'held' AND at < ?1 "
	    "ORDER BY at", "i", before)) != 0)
		return rc;
	while ((rc = db_step(st, &row)) == 0 && row)
		*out = jv_array_append(*out, hold_obj(db_text(st, 0),
		    db_text(st, 1), db_int(st, 2), "held"));
	db_done(st);
	return rc;
}
