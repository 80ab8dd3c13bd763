/* db.h: one small SQL interface over the two engines under lib/ledger:
 * SQLite (a file in the spool, the default) and PostgreSQL (RS_DATABASE).
 *
 * The caller writes one SQL text for both: ?N placeholders (PostgreSQL
 * gets $N), double-quoted identifiers, ON CONFLICT, RETURNING. A trailing
 * " FOR UPDATE" is dropped on SQLite, whose BEGIN IMMEDIATE already holds
 * the database's write lock; on PostgreSQL transactions run at READ
 * COMMITTED, so a read that decides a write locks its row that way.
 *
 * Functions return 0 or an EX_* status, having printed one diagnostic
 * (or held it back: db_quiet). A failure that running the transaction
 * again may cure (PostgreSQL: serialization failure, deadlock, lost
 * connection) is EX_TEMPFAIL with db_retry saying so; a statement outside
 * a transaction is retried here. */
#ifndef RS_DB_H
#define RS_DB_H

#include <stddef.h>
#include <stdint.h>

enum db_engine { DB_SQLITE, DB_PG };
struct db;
struct db_stmt;

/* Open a postgresql:// URL, or else the SQLite file at target (created
 * when create is set, else EX_NOINPUT when missing). timeout_ms: how long
 * to wait for a lock (SQLite's busy wait; PostgreSQL's lock_timeout in
 * each transaction). */
int  db_open(const char *target, int create, int timeout_ms, struct db **dp);
void db_close(struct db *d);                    /* NULL is fine */
enum db_engine db_engine(const struct db *d);
const char *db_name(const struct db *d);        /* for messages: path or RS_DATABASE */
void *db_handle(struct db *d);                  /* sqlite3 * or PGconn * */
/* SQLite: WAL and synchronous=FULL (after the schema is checked); else nothing. */
int  db_durable(struct db *d);

/* Several statements without parameters (schema changes). */
int  db_exec(struct db *d, const char *sql);
/* Prepare sql and bind its parameters from fmt: s text (NULL binds
 * NULL), i int64_t, d double, b blob (pointer, int length). sql must
 * outlive d: statements are cached by it. */
int  db_prep(struct db *d, struct db_stmt **st, const char *sql, const char *fmt, ...);
/* The same with the parameters in an array, one for each letter of fmt
 * (sql need not outlive d here if it is never run twice). */
struct db_value { const char *s; const void *p; int n; int64_t i; double d; };
int  db_prepv(struct db *d, struct db_stmt **st, const char *sql, const char *fmt,
         const struct db_value *val);
int  db_step(struct db_stmt *st, int *row);     /* 0 and *row 1 (a row) or 0 (done) */
void db_done(struct db_stmt *st);               /* NULL is fine */
int  db_run(struct db *d, const char *sql, const char *fmt, ...);   /* no rows */
int64_t db_changes(struct db *d);               /* rows changed by the last statement */

/* Columns of the current row, from 0. */
int  db_null(struct db_stmt *st, int c);
int64_t db_int(struct db_stmt *st, int c);      /* also booleans */
double db_double(struct db_stmt *st, int c);
const char *db_text(struct db_stmt *st, int c); /* NULL for NULL */
const void *db_blob(struct db_stmt *st, int c, size_t *len);

/* Transactions. db_begin takes the write lock up front on SQLite
 * (IMMEDIATE). db_rollback is quiet and does nothing outside one. */
int  db_begin(struct db *d);
int  db_commit(struct db *d);
void db_rollback(struct db *d);
int  db_in_tx(struct db *d);

/* While quiet, the message of a retryable failure is held back; turning
 * it off prints a held message. db_retry: after a failed, rolled back
 * transaction, 1 (having slept a jittered backoff and counted *attempt)
 * when it may run again, else 0. */
void db_quiet(struct db *d, int on);
int  db_retry(struct db *d, int *attempt);

#endif
