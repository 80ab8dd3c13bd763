/* spool.h: the job queue. One JSON file per job under $RS_SPOOL/jobs;
 * its directory is its state (new/ cur/ done/ failed/), rename(2) is the
 * commit, and a job file is only ever replaced whole. A runner registers
 * in jobs/run/ and holds an flock there while it lives; a job it claims
 * carries a lease naming it, so a job whose runner died is taken over at
 * once on the same host and after the lease expires on another.
 * The long story is at the top of spool.c. With RS_DATABASE set the same
 * queue, with the same records and semantics, is in PostgreSQL instead
 * (spool_pg.c: SKIP LOCKED claims, heartbeats, LISTEN/NOTIFY).
 * Functions return 0 or an EX_* status, having printed one diagnostic. */
#ifndef RS_SPOOL_H
#define RS_SPOOL_H

#include <time.h>
#include <jv.h>

#define SPOOL_ID_LEN 28     /* 12 hex digits of milliseconds + 16 random */

enum spool_state { SPOOL_NEW, SPOOL_CUR, SPOOL_DONE, SPOOL_FAILED, SPOOL_NSTATES };

struct spool;                                        /* opaque: directory fds */
int  spool_open(const char *root, int create, struct spool **sp);
void spool_close(struct spool *sp);                  /* NULL is fine; unregisters */
void spool_new_id(char id[SPOOL_ID_LEN + 1]);        /* sorts by creation time */
int  spool_valid_id(const char *id);                 /* 1 if well formed */
const char *spool_state_name(enum spool_state s);    /* "queued" "running" "done" "failed" */
/* Write job (which must have a valid "id") into new/. Borrows job. */
int  spool_enqueue(struct spool *sp, jv job);
/* Write job (borrowed) as it is into state s, for moving an installation
 * (lib/move.c): a running one comes in without a live runner and is
 * recovered as after a crash. EX_DATAERR if the id is already here. */
int  spool_import(struct spool *sp, jv job, enum spool_state s);
/* Find job id in any state: *job owned, *state where it is. EX_NOINPUT if absent. */
int  spool_get(struct spool *sp, const char *id, jv *job, enum spool_state *state);

/* Runners. spool_runner registers this process (lease: seconds a claim
 * lasts without a heartbeat; a thread touches jobs/run/ID every lease/3).
 * spool_claim and spool_requeue pass the crash points (util_crashpoint)
 * "claim" and "requeue". */
int  spool_runner(struct spool *sp, double lease);
/* Claim the next job. An orphan in cur/ (its runner is dead or its lease
 * expired) comes first and is returned as it was left, with a new lease:
 * "status" "done" or "failed" means the outcome was decided and only the
 * settling remains. Otherwise the best ready job of new/ (priority, then
 * round robin between users, then age) moves to cur/ with "status"
 * "running", "attempts" one more, and a "lease". *job invalid: nothing is
 * ready; *wait is then the seconds until a retry is due (-1: none). */
int  spool_claim(struct spool *sp, jv *job, double *wait);
int  spool_update(struct spool *sp, jv job);          /* rewrite cur/ID durably; borrows */
/* cur/ID → done/ or failed/. Not fsynced: the record was made durable by
 * spool_update, and a job that a power loss puts back in cur/ is settled
 * again when it is recovered. */
int  spool_finish(struct spool *sp, const char *id, enum spool_state to);
/* Write job (its "next_attempt" set) to cur/ID, then move it to new/. Borrows. */
int  spool_requeue(struct spool *sp, jv job);
/* An inotify descriptor that becomes readable when a job enters new/
 * (owned by sp; -1 if inotify is unavailable). In PostgreSQL: the socket
 * of a connection LISTENing for the queue's changes of state, from any
 * host (-1 while the database cannot be reached). */
int  spool_watch_fd(struct spool *sp);
void spool_watch_drain(struct spool *sp);            /* consume its events */

/* The lock of name under jobs/ (e.g. "cron.lock"): 0 taken (held until
 * spool_unlock or exit), 1 held by another process. A local flock with
 * either backend: it is a lock of this host. */
int  spool_lock(struct spool *sp, const char *name, int *fd);
void spool_unlock(int fd);
int  spool_pending(struct spool *sp);                /* 1 if new/ holds a job */
/* Counts per state, retries waiting, oldest waiting age, live runners. */
int  spool_stats(struct spool *sp, jv *out);
/* Call fn for each job of state s with its record (fn owns it) and the time it was
 * last written; stops at fn's first non-zero return. */
int  spool_each(struct spool *sp, enum spool_state s,
         int (*fn)(const char *id, jv job, time_t mtime, void *arg), void *arg);
int  spool_remove(struct spool *sp, enum spool_state s, const char *id);

/* Times in records are RFC 3339 UTC with milliseconds. */
double spool_now(void);                              /* seconds since the epoch */
void   spool_time(double t, char out[32]);
double spool_parse_time(const char *s);              /* -1 if malformed */

#endif
