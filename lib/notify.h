/* notify.h: per-job callbacks. A job record with "callback" (an http or
 * https URL) has its final record POSTed there once it is done or
 * failed, signed as Stripe signs webhooks: the header
 *   RS-Signature: t=UNIX_TIME,v1=HEX
 * where HEX is the HMAC-SHA256, keyed with RS_CALLBACK_KEY (or the first
 * line of RS_CALLBACK_KEY_FILE), of "UNIX_TIME.BODY". Network errors,
 * 408, 429 and 5xx are retried RS_CALLBACK_ATTEMPTS times in all
 * (default 3), RS_CALLBACK_BACKOFF apart (default 1 s, doubling); each
 * try may take RS_CALLBACK_TIMEOUT (default 10 s). Redirects are not
 * followed. Delivery is at least once: a receiver dedupes by job id.
 * Functions return 0 or an EX_* status, having printed one diagnostic. */
#ifndef RS_NOTIFY_H
#define RS_NOTIFY_H

#include <stddef.h>
#include <jv.h>

struct conf;
struct notify;                                       /* opaque: settings, curl */
int  notify_open(struct conf *c, struct notify **np);
void notify_close(struct notify *n);                 /* NULL is fine */
/* POST job (borrowed) to its "callback". 0: delivered, or no callback;
 * EX_CONFIG: no key; EX_DATAERR: not an http(s) URL; EX_UNAVAILABLE:
 * refused (4xx); EX_TEMPFAIL: not delivered after every attempt. */
int  notify_job(struct notify *n, jv job);
/* The RS-Signature value of body at time t into out (size >= 80). */
void notify_sign(const char *key, long long t, const void *body, size_t len,
         char *out, size_t size);

#endif
