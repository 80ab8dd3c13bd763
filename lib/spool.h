/* spool.h: the job queue. One JSON file per job under $RS_SPOOL/jobs;
 * its directory is its state (new/ cur/ done/ failed/), rename(2) is the
 * commit, and a job file is only ever replaced whole.
 * Functions return 0 or an EX_* status, having printed one diagnostic. */
#ifndef RS_SPOOL_H
#define RS_SPOOL_H

#include <jv.h>

#define SPOOL_ID_LEN 28     /* 12 hex digits of milliseconds + 16 random */

struct spool;                                        /* opaque: directory fds */
int  spool_open(const char *root, int create, struct spool **sp);
void spool_close(struct spool *sp);                  /* NULL is fine */
void spool_new_id(char id[SPOOL_ID_LEN + 1]);        /* sorts by creation time */
int  spool_valid_id(const char *id);                 /* 1 if well formed */
/* Write job (which must have a valid "id") into new/. Borrows job. */
int  spool_enqueue(struct spool *sp, jv job);

#endif
