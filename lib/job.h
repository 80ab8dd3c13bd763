/* job.h: one job, in-process. job_run does the work of a job record
 * (classify → restore by a backend of backend.h → store the output) and
 * fills its "classify", "restore", "output", "status" and "error" keys;
 * job_process takes a job claimed from the spool through to its end:
 * decided in cur/, credits captured (done) or released (failed), its
 * callback notified (notify.h), moved to done/ or failed/ — or, after a
 * temporary failure, back to new/ with a next attempt time. The order
 * makes charging exactly-once (job.c).
 * Functions return 0 or an EX_* status, having printed one diagnostic. */
#ifndef RS_JOB_H
#define RS_JOB_H

#include <jv.h>

#include "img.h"

struct backend;
struct notify;
struct store;
struct spool;
struct ledger;

struct job_ctx {
	struct store *st;
	struct spool *sp;             /* job_process only */
	struct ledger *lg;            /* NULL: opened in spool when a job holds credits */
	const char *spool;
	struct backend *b;            /* NULL: "none", the input is the output */
	struct notify *nt;            /* NULL: callbacks are not sent */
	struct img_limits lim;
	int max_attempts;             /* a job runs at most this often */
	double backoff, backoff_max;  /* seconds: first retry delay, cap */
	int quality;                  /* output: 0 PNG, else JPEG of this quality */
};

enum job_outcome { JOB_DONE, JOB_FAILED, JOB_RETRY, JOB_UNSETTLED };

void job_ctx_default(struct job_ctx *c);
/* Run the work of *job (owned; replaced by the filled record). Returns
 * its status: 0 done, 75 worth another try, else failed. The status and
 * the last diagnostic are recorded under "error". */
int  job_run(struct job_ctx *c, jv *job);
/* A claimed job (consumed) to its end; *out says which. Non-zero only
 * when the spool or the ledger failed: the job then stays in cur/ and is
 * settled when it is next recovered. */
int  job_process(struct job_ctx *c, jv job, enum job_outcome *out);
/* Remove finished jobs last written more than expire seconds ago, then
 * the objects no job left names (as an input or the output) that are
 * older than that too. *out: {"jobs_removed","objects_removed",
 * "objects_kept"}. */
int  job_gc(struct spool *sp, struct store *st, struct ledger *lg, double expire, jv *out);
/* The "error" object for status rc and message. */
jv   job_error(int rc, const char *message);

#endif
