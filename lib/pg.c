/* pg.c: loading libpq, connecting, status codes, migrations. See pg.h. */
#include <dlfcn.h>
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "pg.h"
#include "util.h"

struct pg_api pg_api;

static int
load(void)
{
	static int loaded;                   /* 1 done, -1 failed */
	void *h;

	if (loaded)
		return loaded > 0 ? 0 : EX_UNAVAILABLE;
	loaded = -1;
	if ((h = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL)) == NULL) {
		warnx("RS_DATABASE: cannot load libpq (apt install libpq5): %s", dlerror());
		return EX_UNAVAILABLE;
	}
#define PG_LOAD(f) \
	if ((*(void **)&pg_api.f = dlsym(h, #f)) == NULL) { \
		warnx("libpq.so.5: no %s", #f); \
		return EX_UNAVAILABLE; \
	}
	PG_FUNCS(PG_LOAD)
#undef PG_LOAD
	loaded = 1;
	return 0;
}

int
pg_url(const char **url)
{
	static char buf[4096];
	struct conf *c = NULL;
	const char *v;
	int rc;

	*url = NULL;
	if ((v = getenv("RS_DATABASE")) == NULL) {
		if ((rc = conf_load(&c)) != 0)
			return rc;
		v = conf_str(c, "RS_DATABASE", NULL);
	}
	rc = 0;
	if (v != NULL && *v != '\0') {
		if (strncmp(v, "postgres://", 11) != 0 && strncmp(v, "postgresql://", 13) != 0) {
			warnx("RS_DATABASE: not a postgresql:// URL");
			rc = EX_CONFIG;
		} else if ((size_t)snprintf(buf, sizeof buf, "%s", v) >= sizeof buf) {
			warnx("RS_DATABASE: too long");
			rc = EX_CONFIG;
		} else
			*url = buf;
	}
	conf_free(c);
	return rc;
}

const char *
pg_redact(const char *url, char *buf, size_t size)
{
	const char *s = strstr(url, "://"), *at, *colon;

	snprintf(buf, size, "%s", url);
	if (s == NULL || (at = strchr(s + 3, '@')) == NULL)
		return buf;
	if ((colon = memchr(s + 3, ':', (size_t)(at - s - 3))) == NULL)
		return buf;
	snprintf(buf, size, "%.*s:***%s", (int)(colon - url), url, at);
	return buf;
}

/* libpq reports connection failures as text only */
static int
connect_status(const char *msg)
{
	static const char *const later[] = {     /* checked first */
		"Temporary failure in name resolution", "the database system is",
		"too many clients", "remaining connection slots",
	};
	static const char *const config[] = {
		"authentication failed", "does not exist", "no pg_hba.conf entry",
		"invalid", "missing \"=\"", "unrecognized", "not permitted to log in",
		"could not translate host name", "password supplied",
	};
	size_t i;

	for (i = 0; i < sizeof later / sizeof later[0]; i++)
		if (strstr(msg, later[i]) != NULL)
			return EX_TEMPFAIL;
	for (i = 0; i < sizeof config / sizeof config[0]; i++)
		if (strstr(msg, config[i]) != NULL)
			return EX_CONFIG;
	return EX_TEMPFAIL;
}

static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

int
pg_connect(const char *url, PGconn **cp)
{
	char red[512], msg[1024], *p;
	PGconn *c;
	int rc;

	*cp = NULL;
	if ((rc = load()) != 0)
		return rc;
	/* Startup parameters, not session SETs: PgBouncer in transaction
	 * mode keeps those. Never wait forever for a server. */
	setenv("PGCONNECT_TIMEOUT", "10", 0);
	setenv("PGAPPNAME", "rs", 0);
	setenv("PGTZ", "UTC", 1);
	/* Defaults the URL may override: a dead peer or a silent network is
	 * noticed within about a minute, never a statement waiting forever
	 * (a runner's heartbeat among them). */
	static const char *const key[] = { "keepalives", "keepalives_idle",
	    "keepalives_interval", "keepalives_count", "tcp_user_timeout", "dbname", NULL };
	const char *val[] = { "1", "30", "10", "3", "60000", url, NULL };
	if ((c = PQconnectdbParams(key, val, 1)) == NULL) {
		warnx("RS_DATABASE: out of memory");
		return EX_OSERR;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
		rc = connect_status(msg);
		for (p = msg; *p != '\0'; p++)      /* one line */
			if (*p == '\n' || *p == '\t')
				*p = p[1] == '\0' ? '\0' : ' ';
		warnx("%s: %s", pg_redact(url, red, sizeof red), msg);
		PQfinish(c);
		return rc;
	}
	PQsetNoticeProcessor(c, quiet, NULL);
	*cp = c;
	return 0;
}

int
pg_retryable(const PGresult *r)
{
	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	return st != NULL && (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0);
}

int
pg_status(const PGresult *r)
{
	const char *st;

	if (r != NULL && (PQresultStatus(r) == PGRES_COMMAND_OK ||
	    PQresultStatus(r) == PGRES_TUPLES_OK))
		return 0;
	if (r == NULL || (st = PQresultErrorField(r, PG_DIAG_SQLSTATE)) == NULL ||
	    strncmp(st, "08", 2) == 0 || strncmp(st, "40", 2) == 0 ||
	    strncmp(st, "53", 2) == 0 || strncmp(st, "57", 2) == 0 ||
	    strcmp(st, "55P03") == 0 ||      /* lock not available */
	    strcmp(st, "25006") == 0)        /* read-only: a standby after a failover */
		return EX_TEMPFAIL;
	if (strncmp(st, "23", 2) == 0)
		return EX_DATAERR;
	if (strcmp(st, "42501") == 0)
		return EX_NOPERM;
	return EX_SOFTWARE;
}

int
pg_check(PGresult *r, const char *what)
{
	const char *st, *msg;
	char *nl;
	int n, rc;

	if ((rc = pg_status(r)) == 0)
		return 0;
	if (r == NULL) {
		warnx("%s: out of memory or connection lost", what);
		return rc;
	}
	st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	if (msg == NULL)
		msg = PQresultErrorMessage(r);
	n = (nl = strchr(msg, '\n')) != NULL ? (int)(nl - msg) : (int)strlen(msg);
	warnx("%s: %.*s%s%s%s", what, n, msg, st ? " (SQLSTATE " : "", st ? st : "", st ? ")" : "");
	return rc;
}

static int
run(PGconn *c, const char *sql, const char *what)
{
	PGresult *r = PQexec(c, sql);
	int rc = pg_check(r, what);

	PQclear(r);
	return rc;
}

static int
version(PGconn *c, const char *component, int *v, int quietly)
{
	const char *p[1] = { component };
	PGresult *r = PQexecParams(c,
	    "SELECT version FROM rs_migrations WHERE component = $1",
	    1, NULL, p, NULL, NULL, 0);
	int rc = 0;

	*v = 0;
	if (quietly && (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK))
		rc = EX_NOINPUT;
	else if ((rc = pg_check(r, "migrations")) == 0 && PQntuples(r) == 1)
		*v = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return rc;
}

int
pg_migrate(PGconn *c, const char *component, const char *const *steps, int n)
{
	char what[64], num[16];
	const char *p[2];
	PGresult *r;
	int v, rc, i;

	/* the common case, one query: already there */
	if (version(c, component, &v, 1) == 0 && v == n)
		return 0;
	if (PQtransactionStatus(c) == PQTRANS_INERROR && (rc = run(c, "ROLLBACK", "migrations")) != 0)
		return rc;
	if ((rc = run(c, "BEGIN", "migrations")) != 0)
		return rc;
	if ((rc = run(c, "SELECT pg_advisory_xact_lock(7273707)", "migrations")) != 0 ||
	    (rc = run(c, "CREATE TABLE IF NOT EXISTS rs_migrations ("
	        "component text PRIMARY KEY, version integer NOT NULL)", "migrations")) != 0 ||
	    (rc = version(c, component, &v, 0)) != 0)
		goto fail;
	if (v > n) {
		warnx("RS_DATABASE: %s schema version %d is newer than this program's %d",
		    component, v, n);
		rc = EX_CONFIG;
		goto fail;
	}
	for (i = v; i < n; i++) {
		snprintf(what, sizeof what, "%s migration %d", component, i + 1);
		if ((rc = run(c, steps[i], what)) != 0)
			goto fail;
	}
	snprintf(num, sizeof num, "%d", n);
	p[0] = component;
	p[1] = num;
	r = PQexecParams(c, "INSERT INTO rs_migrations (component, version) VALUES ($1, $2) "
	    "ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version",
	    2, NULL, p, NULL, NULL, 0);
	rc = pg_check(r, "migrations");
	PQclear(r);
	if (rc != 0)
		goto fail;
	return run(c, "COMMIT", "migrations");
fail:
	PQclear(PQexec(c, "ROLLBACK"));
	return rc;
}
