/* api_int.h: what the files of rs-serve's API share (lib/api.c: the
 * core, routing, health and static files; api_account.c: sessions and
 * accounts; api_restore.c: restorations; api_billing.c: Stripe). Not
 * for use outside them: lib/api.h is the interface. */
#ifndef RS_API_INT_H
#define RS_API_INT_H

#include <limits.h>
#include <stdio.h>
#include <jv.h>

#include "http.h"
#include "img.h"

#define JSON_MAX (64 * 1024)          /* a JSON request body */
#define WEBHOOK_MAX (1 << 20)
#define MP_SLACK (64 * 1024)          /* multipart framing beyond the images */

struct conf;

struct api {
	struct conf *conf;
	const char *spool_dir;
	struct store *st;
	struct spool *sp;
	struct ledger *lg;
	struct img_limits lim;
	struct http_timeouts t;
	char peer[64];                /* the client: the socket's peer, or a proxy's word */
	char conn_peer[64];           /* the socket's peer */
	int trust_proxy;
	char self[PATH_MAX];          /* the directory of the executable: api_self */
	int self_known;
	char web[PATH_MAX];
	char fixed[2048];
	const char *cors;
	double sse_poll, sse_ping, sse_max;
	FILE *devnull, *saved;
	/* the current request */
	struct http_conn *c;
	struct http_req *r;
	char user[160];
	char origin[256];
	double t0, retry;
	char token[256];
};

/* api.c: small things */
double api_now_mono(void);
double api_conf_num(struct conf *c, const char *key, double def);
const char *api_self(struct api *a);
/* lib/ functions say what went wrong on stderr; some of it is for the
 * client too. api_quiet hushes expected misses (a guessed id);
 * api_capture_end gives the last diagnostic without its "prog: " prefix
 * (and never a server path), still written to the real stderr. */
void api_quiet(struct api *a, int on);
struct capture { FILE *f, *saved; char *buf; size_t len; };
void api_capture_begin(struct capture *k);
void api_capture_end(struct capture *k, char *msg, size_t size);

/* api.c: responses. api_fail: the error object with code (NULL: the
 * status's own) and a message; api_fail_ex: the status a lib/ exit
 * status means, with its diagnostic as the message. */
void api_common(struct api *a);
void api_send_body(struct api *a, int status, const char *type, const char *extra_name,
         const char *extra, const void *body, size_t len);
void api_reply(struct api *a, int status, jv v, const char *extra_name, const char *extra);
void api_fail(struct api *a, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void api_fail_ex(struct api *a, int rc, const char *what);
void api_not_found(struct api *a);

/* api.c: opening on first use, request helpers (0 or a status already
 * answered) */
int  api_need_ledger(struct api *a);
int  api_need_spool(struct api *a);
int  api_query(struct api *a, const char *key, char *out, size_t size);
int  api_auth(struct api *a, jv *tok);
int  api_body_json(struct api *a, jv *out);
int  api_free_allowance(struct api *a, jv user);

/* api_account.c */
double api_plan_num(struct api *a, const char *plan, const char *key, double def);
void api_post_session(struct api *a);
void api_get_me(struct api *a);
void api_post_account(struct api *a);
void api_post_login(struct api *a);
void api_post_logout(struct api *a);

/* api_restore.c */
void api_post_restoration(struct api *a);
void api_list_restorations(struct api *a);
void api_get_restoration(struct api *a, const char *id);
void api_delete_restoration(struct api *a, const char *id);
void api_events(struct api *a, const char *id);
void api_get_object(struct api *a, const char *id, const char *which, const char *n);

/* api_billing.c */
void api_billing(struct api *a, int checkout);
void api_stripe_webhook(struct api *a);

#endif
