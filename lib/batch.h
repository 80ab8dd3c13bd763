/* batch.h: restoration over a photo archive (rs-batch). A batch walks a
 * tree (or takes a list of files), finds the JPEG and PNG files by their
 * magic bytes, classifies each one (classify.h), restores those that need
 * it with a backend (backend.h) into a mirrored output tree, and copies
 * the rest. Everything it keeps lives in OUT/.rs-batch/: a lock, one
 * state file per input path (its content hash and outcome), the log, the
 * thumbnails and the HTML report; the long story is at the top of
 * batch.c. Workers are threads, each with its own backend; an output
 * does not depend on their number.
 * Functions return 0 or an EX_* status, having printed one diagnostic. */
#ifndef RS_BATCH_H
#define RS_BATCH_H

#include <signal.h>
#include <stdio.h>
#include <jv.h>

#include "conf.h"

enum batch_mode { BATCH_RUN, BATCH_DRY_RUN, BATCH_TRIAGE };

struct batch_opts {
	enum batch_mode mode;
	const char *root;          /* mirrored paths are relative to it */
	const char *out;           /* the output tree (not for triage) */
	const char *backend;       /* "local" (default), "auto", "gemini", "exec:PROG" */
	int jobs;                  /* workers; 0: one per core */
	int quality;               /* 0: PNG outputs; 1..100: JPEG of that quality */
	double rate;               /* model requests per minute, all workers; 0: no limit */
	const char *log;           /* another copy of the log ("-": stdout), or NULL */
	const char *report;        /* the HTML report; NULL: OUT/.rs-batch/report.html */
	int progress;              /* 1: a progress line on stderr */
	int table;                 /* triage: a table instead of JSON Lines */
	FILE *out_fp;              /* where triage and dry-run lines go */
	volatile sig_atomic_t *stop; /* set by a signal: finish the files started, stop */
};

struct batch;                                      /* opaque */
/* Check the options, open the backends, and (to run) create OUT and take
 * its lock: EX_TEMPFAIL (75) when another run holds it. Borrows o and c. */
int  batch_open(const struct batch_opts *o, struct conf *c, struct batch **bp);
void batch_close(struct batch *b);                 /* NULL is fine; unlocks */
/* Add a file or a directory (walked, sorted, dot-files skipped) under
 * the root. A path that is missing or outside the root is reported here
 * and makes batch_run fail with its status; the rest still runs. */
int  batch_add(struct batch *b, const char *path);
/* Process everything added. *summary receives the summary (owned; also on
 * failure). Returns 0 when every file was handled, else the status of the
 * first failed file in walk order, or 75 when stopped by *o->stop. */
int  batch_run(struct batch *b, jv *summary);

#endif
