/* upload.h: accepting photos, shared by rs-upload and rs-serve: the
 * configured limits, proving a file is a sound JPEG or PNG and storing
 * it, the job record of an upload, and charging its owner's account.
 * Functions return 0 or an EX_* status, having printed one diagnostic. */
#ifndef RS_UPLOAD_H
#define RS_UPLOAD_H

#include <stddef.h>
#include <jv.h>

#include "img.h"
#include "store.h"

#define UPLOAD_MAX_INPUTS 3
#define UPLOAD_MAX_PROMPT 2000

struct conf;
struct ledger;

struct upload_input {
	char object[STORE_ID_LEN + 1];
	enum img_type type;
	int w, h;
	unsigned long long bytes;
	char name[256];               /* shown to the user: a base name */
};

/* Decode buf completely (keeping no pixels) and fill in type, w, h,
 * bytes. name begins the diagnostics. */
int  upload_check(const char *name, const unsigned char *buf, size_t len,
         const struct img_limits *lim, struct upload_input *in);
/* The same for an open file (mapped, never read whole into memory), then
 * store it unless the store holds it already (in->object is set). */
int  upload_check_fd(struct store *st, const char *name, int fd,
         const struct img_limits *lim, struct upload_input *in);
/* The job record of n inputs: id, created, mode, user and prompt (NULL:
 * none), inputs, and "status":"queued" when queued. Owned. */
jv   upload_record(const struct upload_input *in, int n, const char *user,
         const char *prompt, int queued);
/* What a job of mode costs on plan (the plan's "cost", else 1 or 2). */
int  upload_cost(struct ledger *lg, const char *plan, const char *mode);
/* Reserve the job's cost from user (the ledger's user object, borrowed)
 * under the job's id; set "plan", "cost" and "priority" on *job. 65 when
 * the balance is short. */
int  upload_charge(struct ledger *lg, jv user, jv *job);
/* 1 if s is text: no control characters (newline and tab allowed when nl). */
int  upload_printable(const char *s, int nl);

#endif
