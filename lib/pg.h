/* pg.h: PostgreSQL for the backends chosen by RS_DATABASE (the ledger and
 * the job queue; SQLite and the spool stay the default).
 *
 * libpq is loaded with dlopen(3) on the first pg_connect, so a program
 * that never uses PostgreSQL does not pay for it (and its dozen libraries)
 * at every exec: rs-serve runs once per connection. Code calls libpq by
 * its usual names; the macros below route each call through the table
 * filled at load time. A function not listed here is a link error: add
 * it to PG_FUNCS and to the macros.
 *
 * Functions return 0 or an EX_* status, having printed one diagnostic. */
#ifndef RS_PG_H
#define RS_PG_H

#include <libpq-fe.h>

#define PG_FUNCS(X) \
	X(PQconnectdb) X(PQconnectdbParams) X(PQstatus) X(PQerrorMessage) X(PQfinish) X(PQreset) \
	X(PQexec) X(PQexecParams) X(PQprepare) X(PQexecPrepared) \
	X(PQresultStatus) X(PQresultErrorField) X(PQresultErrorMessage) X(PQclear) \
	X(PQntuples) X(PQnfields) X(PQgetvalue) X(PQgetisnull) X(PQgetlength) \
	X(PQfname) X(PQfnumber) X(PQcmdTuples) X(PQtransactionStatus) \
	X(PQsocket) X(PQconsumeInput) X(PQnotifies) X(PQfreemem) \
	X(PQsetNoticeProcessor) X(PQescapeLiteral) X(PQescapeIdentifier) \
	X(PQserverVersion) X(PQbackendPID)

#define PG_MEMBER(f) __typeof__(f) *f;
extern struct pg_api { PG_FUNCS(PG_MEMBER) } pg_api;
#undef PG_MEMBER

#define PQconnectdb(...) pg_api.PQconnectdb(__VA_ARGS__)
#define PQconnectdbParams(...) pg_api.PQconnectdbParams(__VA_ARGS__)
#define PQstatus(...) pg_api.PQstatus(__VA_ARGS__)
#define PQerrorMessage(...) pg_api.PQerrorMessage(__VA_ARGS__)
#define PQfinish(...) pg_api.PQfinish(__VA_ARGS__)
#define PQreset(...) pg_api.PQreset(__VA_ARGS__)
#define PQexec(...) pg_api.PQexec(__VA_ARGS__)
#define PQexecParams(...) pg_api.PQexecParams(__VA_ARGS__)
#define PQprepare(...) pg_api.PQprepare(__VA_ARGS__)
#define PQexecPrepared(...) pg_api.PQexecPrepared(__VA_ARGS__)
#define PQresultStatus(...) pg_api.PQresultStatus(__VA_ARGS__)
#define PQresultErrorField(...) pg_api.PQresultErrorField(__VA_ARGS__)
#define PQresultErrorMessage(...) pg_api.PQresultErrorMessage(__VA_ARGS__)
#define PQclear(...) pg_api.PQclear(__VA_ARGS__)
#define PQntuples(...) pg_api.PQntuples(__VA_ARGS__)
#define PQnfields(...) pg_api.PQnfields(__VA_ARGS__)
#define PQgetvalue(...) pg_api.PQgetvalue(__VA_ARGS__)
#define PQgetisnull(...) pg_api.PQgetisnull(__VA_ARGS__)
#define PQgetlength(...) pg_api.PQgetlength(__VA_ARGS__)
#define PQfname(...) pg_api.PQfname(__VA_ARGS__)
#define PQfnumber(...) pg_api.PQfnumber(__VA_ARGS__)
#define PQcmdTuples(...) pg_api.PQcmdTuples(__VA_ARGS__)
#define PQtransactionStatus(...) pg_api.PQtransactionStatus(__VA_ARGS__)
#define PQsocket(...) pg_api.PQsocket(__VA_ARGS__)
#define PQconsumeInput(...) pg_api.PQconsumeInput(__VA_ARGS__)
#define PQnotifies(...) pg_api.PQnotifies(__VA_ARGS__)
#define PQfreemem(...) pg_api.PQfreemem(__VA_ARGS__)
#define PQsetNoticeProcessor(...) pg_api.PQsetNoticeProcessor(__VA_ARGS__)
#define PQescapeLiteral(...) pg_api.PQescapeLiteral(__VA_ARGS__)
#define PQescapeIdentifier(...) pg_api.PQescapeIdentifier(__VA_ARGS__)
#define PQserverVersion(...) pg_api.PQserverVersion(__VA_ARGS__)
#define PQbackendPID(...) pg_api.PQbackendPID(__VA_ARGS__)

/* The database URL: RS_DATABASE from the environment or rs.conf, or NULL
 * when unset (then the embedded SQLite database is used). Owned by a
 * static buffer: valid until the next call. EX_CONFIG if it is set but
 * is not a postgres:// or postgresql:// URL. */
int  pg_url(const char **url);
/* Connect (loading libpq first). 0; EX_TEMPFAIL when the server cannot
 * be reached or refuses for now; EX_CONFIG for a bad URL, unknown
 * database or failed authentication; EX_UNAVAILABLE when libpq is
 * missing. The session gets application_name rs and UTC time. */
int  pg_connect(const char *url, PGconn **cp);
/* Check a result: 0 if it is PGRES_COMMAND_OK or PGRES_TUPLES_OK; else
 * print "what: message" and return the status its SQLSTATE means:
 * EX_TEMPFAIL for a lost connection, a serialization failure, a deadlock,
 * a server shutting down or short of resources; EX_DATAERR for an
 * integrity violation; EX_NOPERM for a privilege failure; EX_SOFTWARE for
 * the rest (a bug in our SQL). Does not clear r. */
int  pg_check(PGresult *r, const char *what);
/* The status pg_check returns, without a message. */
int  pg_status(const PGresult *r);
/* 1 if r failed with 40001 (serialization) or 40P01 (deadlock): the
 * whole transaction may be run again. */
int  pg_retryable(const PGresult *r);
/* Bring component's tables to the last version: steps[i] is the SQL that
 * takes version i to i + 1. Versions are kept per component in
 * rs_migrations (in the first schema of the search path, so a URL with
 * options=-csearch_path%3DNAME gets a database of its own: the tests do
 * that). The missing steps run in one transaction, serialised between
 * processes by an advisory lock, so concurrent first starts are safe;
 * when nothing is missing it costs one query. EX_CONFIG if the database
 * is newer than this program. */
int  pg_migrate(PGconn *c, const char *component, const char *const *steps, int n);
/* The URL with its password replaced by "***", for diagnostics. */
const char *pg_redact(const char *url, char *buf, size_t size);

#endif
