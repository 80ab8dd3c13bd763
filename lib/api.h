/* api.h: the routes of rs-serve, the HTTP API of rs (rs-serve(8) and
 * lib/openapi.json document them). An api holds what one connection
 * needs: the configuration, and the spool, store, ledger and Stripe
 * settings, each opened on first use. api_handle answers one request,
 * errors included, and writes its access-log line on stderr.
 * Functions return 0 or an EX_* status, having printed one diagnostic. */
#ifndef RS_API_H
#define RS_API_H

struct http_conn;
struct http_req;
struct api;                                          /* opaque */

/* peer: the client's address for rate limits and the log; argv0: how
 * the program was started (to find rs-run and web/ beside it). */
int  api_open(const char *peer, const char *argv0, struct api **ap);
void api_close(struct api *a);                       /* NULL is fine */
/* Connection settings (timeouts) and the fixed security headers. */
int  api_conn(struct api *a, int in, int out, struct http_conn **cp);
void api_handle(struct api *a, struct http_conn *c, struct http_req *r);
/* Answer a request that could not be read (status from http_read_request). */
void api_refuse(struct api *a, struct http_conn *c, int status);

#endif
