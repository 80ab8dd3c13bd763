/* store.h: the object store. Immutable objects named by the BLAKE2b-256
 * of their bytes (64 hex digits), fanned out as objects/ab/cdef... under
 * the spool. Putting the same bytes twice stores them once. Files, or
 * with RS_STORE=s3://BUCKET/PREFIX an S3 bucket (store_s3.c), the same
 * names as keys.
 * Functions return 0 or an EX_* status, having printed one diagnostic. */
#ifndef RS_STORE_H
#define RS_STORE_H

#include <stddef.h>
#include <time.h>

#define STORE_ID_LEN 64

struct store;                                        /* opaque */
int  store_open(const char *spool, int create, struct store **sp);
void store_close(struct store *st);                  /* NULL is fine */
int  store_valid_id(const char *id);                 /* 1 if well formed */
/* Store bytes; id receives the name. Atomic and idempotent. */
int  store_put(struct store *st, const void *buf, size_t len,
         char id[STORE_ID_LEN + 1]);
/* 1 yes, 0 no. An S3 store that cannot be asked says 1, quietly: the
 * caller's next call (store_path) then fails with the reason and status. */
int  store_has(struct store *st, const char *id);
/* Its length and when it was stored (mtime may be NULL); EX_NOINPUT if
 * absent. On S3 one HEAD, nothing downloaded. */
int  store_stat(struct store *st, const char *id, size_t *len, time_t *mtime);
/* A path that reads the object (for programs that need a file name). */
int  store_path(struct store *st, const char *id, char *buf, size_t size);
int  store_get(struct store *st, const char *id, size_t max,
         unsigned char **buf, size_t *len);          /* *buf malloc'd */
int  store_unlink(struct store *st, const char *id); /* absent is fine */
/* Call fn for every object; stops at fn's first non-zero return. */
int  store_each(struct store *st, int (*fn)(const char *id, void *arg), void *arg);

#endif
