/* move.h: moving an installation between backends (SQLite + spool and
 * PostgreSQL + S3, either way) as one stream of JSON Lines, written by
 * one process with the old settings and read by another with the new:
 *
 *   rs-credit export | RS_DATABASE=… RS_STORE=… rs-credit import
 *
 * The stream: a header {"rs_export":1,…}; every object of the store, in
 * parts {"object":ID,"data":BASE64} ending with {"object":ID,"bytes":N};
 * every row of the ledger {"table":…,"row":…}; every job
 * {"job":RECORD,"state":"queued"|"running"|"done"|"failed"}; and a
 * trailer {"end":true,"objects":N,"rows":N,"jobs":N} that proves the
 * stream whole.
 *
 * Import puts objects as they arrive (checking each against its name,
 * which is its hash), keeps the ledger rows in one transaction and the
 * jobs in memory, and commits only after the trailer matched: a broken
 * stream leaves the target ledger and queue untouched (objects already
 * put are harmless: they are content-addressed and unreferenced). The
 * target ledger must be empty. Then ledger_check proves the balances.
 * Functions return 0 or an EX_* status, having printed one diagnostic. */
#ifndef RS_MOVE_H
#define RS_MOVE_H

#include <stdio.h>
#include <jv.h>

#include "ledger.h"
#include "spool.h"
#include "store.h"

int move_export(struct ledger *l, struct spool *sp, struct store *st, FILE *out, jv *summary);
int move_import(struct ledger *l, struct spool *sp, struct store *st, FILE *in, jv *summary);

#endif
