/* spool_int.h: between lib/spool.c (the spool directories, and the
 * dispatch) and lib/spool_pg.c (the queue in PostgreSQL, chosen by
 * RS_DATABASE). The record logic is shared: both backends claim, lease
 * and recover a job the same way and leave the same record. */
#ifndef RS_SPOOL_INT_H
#define RS_SPOOL_INT_H

#include <jv.h>
#include "spool.h"

/* Give job a lease of runner on host for lease seconds; count: a new
 * attempt ("status" "running", "attempts" + 1, "started", no
 * "next_attempt"). Takes job. */
jv   spool_take(jv job, int count, const char *runner, const char *host, double lease);
/* What an orphan's record asks for: a retry half made (status "queued",
 * next attempt still ahead) goes back to the queue; a decided one
 * ("done" or "failed") is only settled again; the rest runs again. */
enum spool_orphan { SPOOL_ORPHAN_REQUEUE, SPOOL_ORPHAN_SETTLE, SPOOL_ORPHAN_RUN };
enum spool_orphan spool_orphan_kind(jv rec);
double spool_rec_time(jv job, const char *key);
/* This host's name, as leases carry it. */
void spool_hostname(char *host, size_t size);

struct spool_pg;
int  spool_pg_open(const char *root, const char *url, int create, struct spool_pg **pp);
void spool_pg_close(struct spool_pg *p);
int  spool_pg_enqueue(struct spool_pg *p, jv job);
int  spool_pg_import(struct spool_pg *p, jv job, enum spool_state st);
int  spool_pg_get(struct spool_pg *p, const char *id, jv *job, enum spool_state *state);
int  spool_pg_runner(struct spool_pg *p, double lease);
int  spool_pg_claim(struct spool_pg *p, jv *job, double *wait);
int  spool_pg_update(struct spool_pg *p, jv job);
int  spool_pg_finish(struct spool_pg *p, const char *id, enum spool_state to);
int  spool_pg_requeue(struct spool_pg *p, jv job);
int  spool_pg_watch_fd(struct spool_pg *p);
void spool_pg_watch_drain(struct spool_pg *p);
int  spool_pg_pending(struct spool_pg *p);
int  spool_pg_stats(struct spool_pg *p, jv *out);
int  spool_pg_each(struct spool_pg *p, enum spool_state s,
         int (*fn)(const char *id, jv job, time_t mtime, void *arg), void *arg);
int  spool_pg_remove(struct spool_pg *p, enum spool_state s, const char *id);

#endif
