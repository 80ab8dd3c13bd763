/* backend.h: restoration backends behind one call. A backend turns 1 to
 * 3 decoded photos (2 or 3: fusion) into one output image and a record
 * of how ("restore" in the job record, always naming the backend that
 * produced the output):
 *   local        the built-in classical engine (restore.h)
 *   gemini       the Gemini API (gemini.h), with the meta-prompt
 *                (prompt.h), full-resolution transfer and the fidelity
 *                guard (transfer.h)
 *   exec:PROG    an external program, run as PROG IN... OUT with the job
 *                record on its standard input (no shell)
 *   auto         gemini when a key is configured, else local; resolved
 *                once, at open. A failure is never retried on another
 *                backend.
 * Statuses, besides those of util.h: 69 the model failed or refused for
 * good (safety block, no image, not an image, content changed, the
 * program failed), 75 try again later, 64 unknown backend, 78 settings.
 * Functions return 0 or an EX_* status, having printed one diagnostic. */
#ifndef RS_BACKEND_H
#define RS_BACKEND_H

#include <stddef.h>
#include <jv.h>

#include "conf.h"
#include "img.h"
#include "restore.h"

#define BACKEND_MAX_INPUTS 3
#define BACKEND_FIDELITY_MIN 0.45     /* RS_FIDELITY_MIN's default */

struct backend_input {
	const char *name;             /* for messages */
	const char *path;             /* a file with the bytes, or NULL */
	const unsigned char *buf;     /* the file's bytes (JPEG or PNG) */
	size_t len;
	const struct img *im;         /* decoded, oriented */
};

struct backend_req {                  /* everything borrowed */
	int n;                        /* inputs: 1 restore, 2-3 fusion */
	struct backend_input in[BACKEND_MAX_INPUTS];
	const char *prompt;           /* the user's wish, or NULL */
	int colourise;                /* 1: ask the model to colourise */
	jv classify;                  /* classify object of in[0], or null:
	                               * model backends then classify it */
	jv plan;                      /* local: a plan from restore_plan */
	const struct restore_opts *ro;/* local */
	jv job;                       /* the job record for exec, or null */
	const struct img_limits *lim; /* for decoding answers */
};

struct backend;                                    /* opaque */
/* spec: auto, local, gemini or exec:PROG. EX_USAGE for an unknown one,
 * or a PROG that is not an executable file (found through PATH when it
 * has no slash). */
int  backend_open(const char *spec, struct conf *c, struct backend **bp);
void backend_close(struct backend *b);             /* NULL is fine */
const char *backend_name(const struct backend *b); /* "local", "gemini", "exec:PROG" */
int  backend_is_local(const struct backend *b);
/* The prompt a model backend would send (*text malloc'd); with no
 * inputs, the prompt for one photo with no damage found. */
int  backend_prompt(struct backend *b, const struct backend_req *r, char **text);
/* Run r. *out receives the image (in[0]'s size for gemini); *record the
 * owned "restore" object, also on failure (then with "error":{code,
 * message}), or jv_invalid() when the backend did not start. */
int  backend_run(struct backend *b, const struct backend_req *r, struct img *out,
         jv *record);

#endif
