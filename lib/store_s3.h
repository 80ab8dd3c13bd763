/* store_s3.h: the object store in an S3 bucket (RS_STORE=s3://BUCKET/PREFIX),
 * behind store.h: lib/store.c calls these when RS_STORE is set. Same
 * contracts as the store_* functions of the same names; the long story
 * is at the top of store_s3.c. Private to lib/store.c. */
#ifndef RS_STORE_S3_H
#define RS_STORE_S3_H

#include <stddef.h>
#include <time.h>

struct conf;
struct store_s3;                                   /* opaque */
int  store_s3_open(const struct conf *c, const char *url, const char *spool, int create,
         struct store_s3 **tp);
void store_s3_close(struct store_s3 *t);           /* NULL is fine */
int  store_s3_put(struct store_s3 *t, const void *buf, size_t len, const char *id);
int  store_s3_has(struct store_s3 *t, const char *id);
int  store_s3_stat(struct store_s3 *t, const char *id, size_t *len, time_t *mtime);
int  store_s3_path(struct store_s3 *t, const char *id, char *buf, size_t size);
int  store_s3_unlink(struct store_s3 *t, const char *id);
int  store_s3_each(struct store_s3 *t, int (*fn)(const char *id, void *arg), void *arg);

#endif
