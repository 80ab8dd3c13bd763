/* restore.h: the built-in classical restoration engine, rs-restore's
 * "local" backend. A plan is a JSON array of operations in a fixed order
 * (deblock, denoise, descratch, levels, white_balance, deblur, upscale),
 * each {"op": NAME, "strength": 0..1, params...}; a missing parameter is
 * estimated from the image when the operation runs. The engine works in
 * place, in float strips with overlap on both cores, so memory stays near
 * one 8-bit copy of the image plus a few strips, and the result does not
 * depend on the thread count.
 * Functions return 0 or an EX_* status, having printed one diagnostic
 * that begins with the name they were given. */
#ifndef RS_RESTORE_H
#define RS_RESTORE_H

#include <jv.h>

#include "img.h"

enum restore_op { RESTORE_DEBLOCK, RESTORE_DENOISE, RESTORE_DESCRATCH,
	RESTORE_LEVELS, RESTORE_WHITE_BALANCE, RESTORE_DEBLUR, RESTORE_UPSCALE,
	RESTORE_NOPS };

struct restore_opts {
	double strength;          /* < 0: each operation's own (default 1) */
	int scale;                /* 1, 2 or 4: output size factor */
	int keep_sepia;           /* 1: remove casts but keep sepia toning */
	int threads;              /* 0: one per core, at most 8 */
};

void        restore_opts_default(struct restore_opts *o);
const char *restore_op_name(enum restore_op op);   /* "denoise" … */
int         restore_op_index(const char *name);    /* -1 if unknown */
/* The plan for ops (an array of op objects as rs-classify gives them, or
 * of names): known operations once each in the fixed order, strength set,
 * upscale added or dropped to honour o->scale. Consumes ops. EX_DATAERR
 * (with a message) for an unknown operation or a malformed entry. */
int  restore_plan(const char *name, jv ops, const struct restore_opts *o, jv *plan);
/* Choose operations from the image alone, for when no classification is
 * at hand: an array of op objects with the parameters measured. */
int  restore_guess(const char *name, const struct img *im, jv *ops);
/* Run plan on im, replacing its pixels (and its size when upscaling);
 * EXIF and ICC stay. *used receives the operations that ran with the
 * parameters they used (owned). Borrows plan. */
int  restore_run(const char *name, struct img *im, jv plan,
         const struct restore_opts *o, jv *used);

#endif
