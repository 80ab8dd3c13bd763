/* api.c: the routes of rs-serve.
 *
 * Every request is answered here, errors included, as
 * {"error":{"code":"...","message":"..."}} with the status that
 * http_status_of gives the lib/ function's exit status, unless the
 * route knows better (402 for credits, 413 for sizes, 415 for types).
 *
 * Who may see what: a bearer token names a user; a job is reachable
 * only through a token of its owner. An id that is malformed, unknown,
 * or someone else's gets the same 404, on every route, so ids cannot be
 * probed. Ids are checked (spool_valid_id: 28 hex digits) before they
 * reach a path, so nothing escapes the spool.
 *
 * Accounts: POST /v1/session makes an anonymous free account and gives
 * it the free plan's allowance for the current month (idempotent per
 * month: ledger_allowance; repeated for free users on GET /v1/me and
 * POST /v1/restorations in a new month), so a first visit can restore
 * at once. An email and password are added later; Argon2id hashes them.
 *
 * Uploads are parsed as they arrive: each image part is written to an
 * unnamed temporary file in the spool, then mapped, proven and stored
 * (lib/upload.c), so a 50 MB photo never sits in the heap.
 *
 * After a job is queued, the runner is kicked: rs-run (RS_KICK) is
 * started detached, drains the queue and exits; its cron lock makes
 * extra kicks cheap. Events (SSE) poll the job's record every
 * RS_SSE_POLL seconds (0.2): cheaper than inotify on four directories
 * for the few seconds a job takes. */
#define _GNU_SOURCE                 /* O_TMPFILE, open_memstream */
#include <sys/stat.h>
#include <sys/wait.h>
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "api.h"
#include "conf.h"
#include "http.h"
#include "json.h"
#include "ledger.h"
#include "spool.h"
#include "store.h"
#include "upload.h"
#include "util.h"

#ifndef DATADIR
#define DATADIR "/usr/local/share/rs"
#endif

#define JSON_MAX (64 * 1024)          /* a JSON request body */
#define WEBHOOK_MAX (1 << 20)
#define MP_SLACK (64 * 1024)          /* multipart framing beyond the images */

static const char openapi[] =
#include "openapi.inc"
    ;

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
	char self[PATH_MAX];          /* the directory of the executable */
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

/* ---- small things ---- */

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
conf_num(struct conf *c, const char *key, double def)
{
	const char *s = conf_str(c, key, NULL);
	char *end;
	double v;

	if (s == NULL || *s == '\0')
		return def;
	v = strtod(s, &end);
	return end != s && *end == '\0' && v >= 0 ? v : def;
}

/* lib/ functions say what went wrong on stderr; some of it is for the
 * client too. quiet() hushes expected misses (a guessed id). */
static void
quiet(struct api *a, int on)
{
	if (on && a->devnull != NULL) {
		fflush(stderr);
		a->saved = stderr;
		stderr = a->devnull;
	} else if (!on && a->saved != NULL) {
		stderr = a->saved;
		a->saved = NULL;
	}
}

struct capture { FILE *f, *saved; char *buf; size_t len; };

static void
capture_begin(struct capture *k)
{
	memset(k, 0, sizeof *k);
	fflush(stderr);
	if ((k->f = open_memstream(&k->buf, &k->len)) != NULL) {
		k->saved = stderr;
		stderr = k->f;
	}
}

/* The last diagnostic, without its "prog: " prefix, into msg; it is
 * still written to the real stderr. */
static void
capture_end(struct capture *k, char *msg, size_t size)
{
	char *line, *p;

	*msg = '\0';
	if (k->f == NULL)
		return;
	fflush(k->f);
	stderr = k->saved;
	fclose(k->f);
	if (k->buf != NULL && k->len > 0) {
		fputs(k->buf, stderr);
		while (k->len > 0 && k->buf[k->len - 1] == '\n')
			k->buf[--k->len] = '\0';
		line = (p = strrchr(k->buf, '\n')) != NULL ? p + 1 : k->buf;
		if ((p = strstr(line, ": ")) != NULL)
			line = p + 2;
		/* never hand out a server path */
		if (strchr(line, '/') != NULL && (p = strrchr(line, ':')) != NULL)
			line = p + (p[1] == ' ' ? 2 : 1);
		snprintf(msg, size, "%s", line);
	}
	free(k->buf);
}

/* ---- responses ---- */

static void
common(struct api *a)
{
	if (a->origin[0] != '\0') {
		http_field(a->c, "Access-Control-Allow-Origin", "%s", a->origin);
		http_field(a->c, "Access-Control-Expose-Headers",
		    "Location, Retry-After, ETag, Content-Length");
		http_field(a->c, "Vary", "Origin");
	}
}

static void
send_body(struct api *a, int status, const char *type, const char *extra_name,
    const char *extra, const void *body, size_t len)
{
	http_begin(a->c, status);
	common(a);
	if (type != NULL)
		http_field(a->c, "Content-Type", "%s", type);
	if (extra_name != NULL)
		http_field(a->c, extra_name, "%s", extra);
	if (status == HTTP_TOO_MANY_REQUESTS || status == HTTP_UNAVAILABLE)
		http_field(a->c, "Retry-After", "%.0f", a->retry > 0 ? a->retry : 1);
	if (status == HTTP_UNAUTHORIZED)
		http_field(a->c, "WWW-Authenticate", "Bearer realm=\"rs\"");
	if (type != NULL && strncmp(type, "application/json", 16) == 0)
		http_field(a->c, "Cache-Control", "no-store");
	http_end_head(a->c, (long long)len);
	http_write(a->c, body, len);
}

/* Consumes v. */
static void
reply(struct api *a, int status, jv v, const char *extra_name, const char *extra)
{
	jv s = jv_dump_string(v, 0);
	const char *p = jv_string_value(s);
	size_t n = strlen(p);
	char *b = malloc(n + 1);

	if (b == NULL) {
		jv_free(s);
		http_close_after(a->c);
		send_body(a, HTTP_INTERNAL, NULL, NULL, NULL, "", 0);
		return;
	}
	memcpy(b, p, n);
	b[n] = '\n';
	jv_free(s);
	send_body(a, status, "application/json", extra_name, extra, b, n + 1);
	free(b);
}

static void
fail(struct api *a, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
fail(struct api *a, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	reply(a, status, JV_OBJECT(jv_string("error"), JV_OBJECT(
	    jv_string("code"), jv_string(code != NULL ? code : http_code(status)),
	    jv_string("message"), jv_string(msg))), NULL, NULL);
}

/* An error from a lib/ status. */
static void
fail_ex(struct api *a, int rc, const char *what)
{
	int s = http_status_of(rc);

	if (s == HTTP_UNAVAILABLE && a->retry <= 0)
		a->retry = 2;
	fail(a, s, NULL, "%s", s >= 500 && s != HTTP_BAD_GATEWAY && s != HTTP_UNAVAILABLE ?
	    "internal error" : what);
}

static void
not_allowed(struct api *a, const char *allow)
{
	reply(a, HTTP_METHOD_NOT_ALLOWED, JV_OBJECT(jv_string("error"), JV_OBJECT(
	    jv_string("code"), jv_string("method_not_allowed"),
	    jv_string("message"), jv_string("method not allowed here"))), "Allow", allow);
}

static void
not_found(struct api *a)
{
	fail(a, HTTP_NOT_FOUND, NULL, "no such resource");
}

/* ---- opening things on first use ---- */

static int
need_ledger(struct api *a)
{
	int rc;

	if (a->lg == NULL && (rc = ledger_open(a->spool_dir, 1, &a->lg)) != 0) {
		fail_ex(a, rc, "database");
		return -1;
	}
	return 0;
}

static int
need_spool(struct api *a)
{
	int rc;

	if ((a->sp == NULL && (rc = spool_open(a->spool_dir, 1, &a->sp)) != 0) ||
	    (a->st == NULL && (rc = store_open(a->spool_dir, 1, &a->st)) != 0)) {
		fail_ex(a, rc, "spool");
		return -1;
	}
	return 0;
}

int
api_open(const char *peer, const char *argv0, struct api **ap)
{
	struct api *a;
	char exe[PATH_MAX], *p;
	const char *csp;
	ssize_t n;
	int rc;

	(void)argv0;
	*ap = NULL;
	if (sodium_init() < 0) {
		warnx("libsodium: cannot initialise");
		return EX_SOFTWARE;
	}
	if ((a = calloc(1, sizeof *a)) == NULL) {
		warn("api");
		return EX_OSERR;
	}
	if ((rc = conf_load(&a->conf)) != 0 || (rc = img_limits_conf(a->conf, &a->lim)) != 0) {
		api_close(a);
		return rc;
	}
	a->spool_dir = conf_spool(a->conf);
	snprintf(a->peer, sizeof a->peer, "%s", peer != NULL ? peer : "unknown");
	snprintf(a->conn_peer, sizeof a->conn_peer, "%s", a->peer);
	a->trust_proxy = strcmp(conf_str(a->conf, "RS_TRUST_PROXY", "0"), "1") == 0;
	a->devnull = fopen("/dev/null", "we");
	if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) > 0) {
		exe[n] = '\0';
		if ((p = strrchr(exe, '/')) != NULL)
			*p = '\0';
		snprintf(a->self, sizeof a->self, "%s", exe);
	}
	a->t.idle = conf_num(a->conf, "RS_IDLE_TIMEOUT", 15);
	a->t.head = conf_num(a->conf, "RS_HEAD_TIMEOUT", 10);
	a->t.read = conf_num(a->conf, "RS_READ_TIMEOUT", 30);
	a->t.request = conf_num(a->conf, "RS_REQUEST_TIMEOUT", 600);
	a->sse_poll = conf_num(a->conf, "RS_SSE_POLL", 0.2);
	a->sse_ping = conf_num(a->conf, "RS_SSE_PING", 15);
	a->sse_max = conf_num(a->conf, "RS_SSE_MAX", 3600);
	a->cors = conf_str(a->conf, "RS_CORS_ORIGINS", "");
	csp = conf_str(a->conf, "RS_CSP", "default-src 'self'; img-src 'self' blob: data:; "
	    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
	    "frame-ancestors 'none'");
	snprintf(a->fixed, sizeof a->fixed,
	    "Content-Security-Policy: %s\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Referrer-Policy: no-referrer\r\n"
	    "X-Frame-Options: DENY\r\n"
	    "Cross-Origin-Opener-Policy: same-origin\r\n%s", csp,
	    strcmp(conf_str(a->conf, "RS_HSTS", "0"), "1") == 0 ?
	    "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n" : "");
	*ap = a;
	return 0;
}

void
api_close(struct api *a)
{
	if (a == NULL)
		return;
	ledger_close(a->lg);
	spool_close(a->sp);
	store_close(a->st);
	if (a->devnull != NULL)
		fclose(a->devnull);
	conf_free(a->conf);
	free(a);
}

int
api_conn(struct api *a, int in, int out, struct http_conn **cp)
{
	int rc;

	if ((rc = http_conn_open(in, out, &a->t, cp)) != 0) {
		warnx("connection: out of memory");
		return rc;
	}
	http_conn_headers(*cp, a->fixed);
	return 0;
}

/* ---- the access log ---- */

static void
access_log(struct api *a)
{
	char t[32];
	jv line;

	util_rfc3339(t);
	line = JV_OBJECT(jv_string("time"), jv_string(t), jv_string("peer"), jv_string(a->peer),
	    jv_string("method"), jv_string(a->r != NULL ? a->r->method : "-"),
	    jv_string("path"), jv_string(a->r != NULL && a->r->path != NULL ? a->r->path : "-"),
	    jv_string("status"), jv_number(http_last_status(a->c)),
	    jv_string("bytes"), jv_number((double)http_last_bytes(a->c)),
	    jv_string("ms"), jv_number(round((now_mono() - a->t0) * 10000) / 10));
	if (a->user[0] != '\0')
		line = jv_object_set(line, jv_string("user"), jv_string(a->user));
	/* one write per line: stderr is unbuffered, and lines from several
	 * processes must not interleave */
	{
		jv s = jv_dump_string(line, 0);
		size_t n = strlen(jv_string_value(s));
		char *b = malloc(n + 1);
		if (b != NULL) {
			memcpy(b, jv_string_value(s), n);
			b[n] = '\n';
			fflush(stderr);
			(void)!util_write_all(2, b, n + 1);   /* nowhere to say it failed */
			free(b);
		}
		jv_free(s);
	}
}

void
api_refuse(struct api *a, struct http_conn *c, int status)
{
	a->c = c;
	a->r = NULL;
	a->t0 = now_mono();
	a->user[0] = a->origin[0] = '\0';
	http_close_after(c);
	fail(a, status, NULL, "%s", status == HTTP_HEADER_TOO_LARGE ? "request head too large" :
	    status == HTTP_REQUEST_TIMEOUT ? "request too slow" : "malformed request");
	access_log(a);
}

/* ---- request helpers ---- */

/* The value of query parameter key, percent-decoded, into out. */
static int
query(struct api *a, const char *key, char *out, size_t size)
{
	const char *q = a->r->query;
	size_t kl = strlen(key);

	while (q != NULL && *q) {
		if (strncmp(q, key, kl) == 0 && q[kl] == '=') {
			size_t n = 0;
			for (q += kl + 1; *q && *q != '&'; q++) {
				int ch = (unsigned char)*q;
				if (ch == '+')
					ch = ' ';
				else if (ch == '%' && isxdigit((unsigned char)q[1]) &&
				    isxdigit((unsigned char)q[2])) {
					char hx[3] = { q[1], q[2], 0 };
					ch = (int)strtol(hx, NULL, 16);
					q += 2;
				}
				if (n + 1 >= size)
					return -1;
				out[n++] = (char)ch;
			}
			out[n] = '\0';
			return 1;
		}
		if ((q = strchr(q, '&')) != NULL)
			q++;
	}
	return 0;
}

/* Authenticate: 0 with a->user set, else -1 having answered 401. A
 * browser's EventSource and <img> cannot send headers: GETs may carry
 * the token as ?access_token= (never logged: the log has no query). */
static int
auth(struct api *a, jv *tok)
{
	const char *h = http_header(a->r, "Authorization");
	jv t = jv_invalid();
	int rc;

	*tok = jv_invalid();
	a->token[0] = '\0';
	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
		h += 7;
		while (*h == ' ')
			h++;
		snprintf(a->token, sizeof a->token, "%s", h);
	} else if (h == NULL && strcmp(a->r->method, "GET") == 0)
		query(a, "access_token", a->token, sizeof a->token);
	if (a->token[0] == '\0') {
		fail(a, HTTP_UNAUTHORIZED, "unauthorized", "a bearer token is required");
		return -1;
	}
	if (need_ledger(a) != 0)
		return -1;
	if ((rc = ledger_token_verify(a->lg, a->token, &t)) != 0) {
		if (rc == EX_NOPERM)
			fail(a, HTTP_UNAUTHORIZED, "unauthorized", "the token is unknown, expired or revoked");
		else
			fail_ex(a, rc, "token");
		return -1;
	}
	snprintf(a->user, sizeof a->user, "%s", json_str(t, "user"));
	*tok = t;
	return 0;
}

/* The body of a JSON request: an object (an empty body is {}). */
static int
body_json(struct api *a, jv *out)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t k;
	jv v;

	*out = jv_invalid();
	if (a->r->length > JSON_MAX) {
		fail(a, HTTP_PAYLOAD_TOO_LARGE, NULL, "a JSON body of at most %d bytes", JSON_MAX);
		return -1;
	}
	if ((buf = malloc(JSON_MAX + 1)) == NULL) {
		fail(a, HTTP_INTERNAL, NULL, "out of memory");
		return -1;
	}
	http_body_limit(a->c, JSON_MAX);
	while ((k = http_read_body(a->c, buf + len, JSON_MAX + 1 - len)) > 0)
		len += (size_t)k;
	if (k < 0) {
		free(buf);
		fail(a, (int)-k, NULL, "could not read the body");
		return -1;
	}
	if (len == 0) {
		free(buf);
		*out = jv_object();
		return 0;
	}
	v = jv_parse_sized(buf, (int)len);
	free(buf);
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		fail(a, HTTP_BAD_REQUEST, "bad_json", "the body must be a JSON object");
		return -1;
	}
	*out = v;
	return 0;
}

static void
period_now(char out[8])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 8, "%Y-%m", &tm);
}

/* The free plan's allowance for this month, once (see the top). */
static int
free_allowance(struct api *a, jv user)
{
	const char *plan = json_str(user, "plan");
	char period[8];
	jv out;
	int rc;

	if (plan == NULL || strcmp(plan, "free") != 0 ||
	    strcmp(conf_str(a->conf, "RS_FREE_ALLOWANCE", "1"), "1") != 0)
		return 0;
	period_now(period);
	rc = ledger_allowance(a->lg, json_str(user, "user"), period, &out);
	jv_free(out);
	return rc;
}

/* ---- sessions and accounts ---- */

static int
limit_key(struct api *a, const char *key, double cap, double per_minute)
{
	int allowed, rc;

	if ((rc = ledger_limit_key(a->lg, key, cap, per_minute, 1, &allowed, &a->retry)) != 0) {
		fail_ex(a, rc, "rate limit");
		return -1;
	}
	if (!allowed) {
		fail(a, HTTP_TOO_MANY_REQUESTS, "rate_limited", "too many requests; retry in %.0f s",
		    a->retry);
		return -1;
	}
	return 0;
}

static jv
token_reply(jv tok, jv user)
{
	jv r = JV_OBJECT(jv_string("token"), json_get(tok, "token"),
	    jv_string("user"), json_get(tok, "user"),
	    jv_string("expires"), json_get(tok, "expires"),
	    jv_string("plan"), json_get(user, "plan"),
	    jv_string("credits"), json_get(user, "balance"));

	jv_free(tok);
	jv_free(user);
	return r;
}

static void
post_session(struct api *a)
{
	char key[128], id[32];
	unsigned char rnd[10];
	jv u = jv_invalid(), tok = jv_invalid();
	int rc;

	if (need_ledger(a) != 0)
		return;
	snprintf(key, sizeof key, "session:%s", a->peer);
	if (limit_key(a, key, conf_num(a->conf, "RS_SESSION_BURST", 10),
	    conf_num(a->conf, "RS_SESSION_PER_MINUTE", 10)) != 0)
		return;
	randombytes_buf(rnd, sizeof rnd);
	memcpy(id, "u-", 2);
	util_hex(rnd, sizeof rnd, id + 2);
	if ((rc = ledger_user_add(a->lg, id, "free", &u)) != 0 ||
	    (rc = free_allowance(a, u)) != 0) {
		jv_free(u);
		fail_ex(a, rc, "account");
		return;
	}
	jv_free(u);
	snprintf(a->user, sizeof a->user, "%s", id);
	if ((rc = ledger_user_get(a->lg, id, &u)) != 0 ||
	    (rc = ledger_token_issue(a->lg, id, 0, &tok)) != 0) {
		jv_free(u);
		fail_ex(a, rc, "token");
		return;
	}
	reply(a, HTTP_CREATED, token_reply(tok, u), NULL, NULL);
}

static jv
plan_limits(struct api *a, const char *plan)
{
	jv s = json_get(ledger_plans(a->lg), plan != NULL ? plan : ""), out = jv_object();
	static const char *const keys[] = { "monthly_credits", "images_per_request",
	    "max_upload_bytes", "bucket_capacity", "bucket_refill_per_minute", "cost" };

	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		jv v = json_get(s, keys[i]);
		if (jv_is_valid(v))
			out = jv_object_set(out, jv_string(keys[i]), v);
		else
			jv_free(v);
	}
	jv_free(s);
	return out;
}

static double
plan_num(struct api *a, const char *plan, const char *key, double def)
{
	jv s = json_get(ledger_plans(a->lg), plan != NULL ? plan : ""), v = json_get(s, key);
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : def;

	jv_free(v);
	jv_free(s);
	return d;
}

static void
get_me(struct api *a)
{
	jv tok, u = jv_invalid(), acc = jv_invalid(), me;
	int rc;

	if (auth(a, &tok) != 0)
		return;
	jv_free(tok);
	if ((rc = ledger_user_get(a->lg, a->user, &u)) != 0 || (rc = free_allowance(a, u)) != 0)
		goto err;
	jv_free(u);
	if ((rc = ledger_user_get(a->lg, a->user, &u)) != 0 ||
	    (rc = ledger_account_get(a->lg, a->user, &acc)) != 0)
		goto err;
	me = JV_OBJECT(jv_string("user"), json_get(u, "user"), jv_string("plan"), json_get(u, "plan"),
	    jv_string("credits"), json_get(u, "balance"), jv_string("held"), json_get(u, "held"),
	    jv_string("email"), json_get(acc, "email"),
	    jv_string("has_password"), json_get(acc, "has_password"),
	    jv_string("limits"), plan_limits(a, json_str(u, "plan")));
	{
		jv b = json_get(u, "billing");
		if (jv_get_kind(b) == JV_KIND_OBJECT)
			me = jv_object_set(me, jv_string("billing"), JV_OBJECT(
			    jv_string("status"), json_get(b, "status"),
			    jv_string("period_end"), json_get(b, "period_end"),
			    jv_string("cancel_at_period_end"), json_get(b, "cancel_at_period_end"),
			    jv_string("past_due"), json_get(b, "past_due")));
		jv_free(b);
	}
	jv_free(u);
	jv_free(acc);
	reply(a, HTTP_OK, me, NULL, NULL);
	return;
err:
	jv_free(u);
	jv_free(acc);
	fail_ex(a, rc, "account");
}

/* a plausible address: local@domain, printable, no spaces; lower-cased */
static int
valid_email(const char *in, char *out, size_t size)
{
	size_t n = strlen(in);
	const char *at = strchr(in, '@');

	if (n < 3 || n > 254 || n >= size || at == NULL || at == in || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL || strchr(at + 1, '.') == NULL)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (i < n && (ch <= 0x20 || ch == 0x7f || ch == '"' || ch == '<' || ch == '>' ||
		    ch == '(' || ch == ')' || ch == ',' || ch == ';' || ch == '\\'))
			return 0;
		out[i] = (char)tolower(ch);
	}
	return 1;
}

static void
post_account(struct api *a)
{
	char email[256];
	const char *e, *pw, *cur;
	jv tok, body = jv_invalid(), other = jv_invalid();
	int rc;

	if (auth(a, &tok) != 0)
		return;
	jv_free(tok);
	if (body_json(a, &body) != 0)
		return;
	e = json_str(body, "email");
	pw = json_str(body, "password");
	cur = json_str(body, "current_password");
	if (e == NULL || !valid_email(e, email, sizeof email)) {
		fail(a, HTTP_UNPROCESSABLE, "invalid_email", "email: expected an address like name@example.org");
		goto out;
	}
	if (pw == NULL || strlen(pw) < 8 || strlen(pw) > 1024) {
		fail(a, HTTP_UNPROCESSABLE, "invalid_password", "password: 8 to 1024 bytes");
		goto out;
	}
	rc = ledger_user_by_email(a->lg, email, &other);
	if (rc == 0 && strcmp(json_str(other, "user"), a->user) != 0) {
		fail(a, HTTP_UNPROCESSABLE, "email_taken", "that email belongs to another account");
		goto out;
	}
	if (rc != 0 && rc != EX_NOINPUT) {
		fail_ex(a, rc, "account");
		goto out;
	}
	if ((rc = ledger_account_set(a->lg, a->user, email, pw, cur)) != 0) {
		if (rc == EX_NOPERM)
			fail(a, HTTP_FORBIDDEN, "wrong_password",
			    "current_password: give the account's current password to change it");
		else if (rc == EX_DATAERR)
			fail(a, HTTP_UNPROCESSABLE, "email_taken", "that email belongs to another account");
		else
			fail_ex(a, rc, "account");
		goto out;
	}
	jv_free(body);
	jv_free(other);
	get_me(a);
	return;
out:
	jv_free(body);
	jv_free(other);
}

static void
post_login(struct api *a)
{
	char email[256], key[320];
	const char *e, *pw;
	jv body = jv_invalid(), u = jv_invalid(), tok = jv_invalid();
	int rc;

	if (need_ledger(a) != 0 || body_json(a, &body) != 0)
		return;
	e = json_str(body, "email");
	pw = json_str(body, "password");
	if (e == NULL || pw == NULL || !valid_email(e, email, sizeof email) || strlen(pw) > 1024) {
		fail(a, HTTP_UNPROCESSABLE, "invalid", "give email and password");
		goto out;
	}
	snprintf(key, sizeof key, "login-peer:%s", a->peer);
	if (limit_key(a, key, conf_num(a->conf, "RS_LOGIN_PEER_BURST", 20),
	    conf_num(a->conf, "RS_LOGIN_PEER_PER_MINUTE", 10)) != 0)
		goto out;
	snprintf(key, sizeof key, "login:%s", email);
	if (limit_key(a, key, conf_num(a->conf, "RS_LOGIN_BURST", 5),
	    conf_num(a->conf, "RS_LOGIN_PER_MINUTE", 2)) != 0)
		goto out;
	if ((rc = ledger_login(a->lg, email, pw, &u)) != 0) {
		if (rc == EX_NOPERM)
			fail(a, HTTP_UNAUTHORIZED, "bad_credentials", "wrong email or password");
		else
			fail_ex(a, rc, "login");
		goto out;
	}
	snprintf(a->user, sizeof a->user, "%s", json_str(u, "user"));
	if ((rc = ledger_token_issue(a->lg, a->user, 0, &tok)) != 0) {
		fail_ex(a, rc, "token");
		goto out;
	}
	reply(a, HTTP_OK, token_reply(tok, u), NULL, NULL);
	u = jv_invalid();
out:
	jv_free(u);
	jv_free(body);
}

static void
post_logout(struct api *a)
{
	jv tok;
	int rc;

	if (auth(a, &tok) != 0)
		return;
	jv_free(tok);
	if ((rc = ledger_token_revoke(a->lg, a->token)) != 0) {
		fail_ex(a, rc, "token");
		return;
	}
	send_body(a, HTTP_NO_CONTENT, NULL, NULL, NULL, "", 0);
}

/* ---- restorations ---- */

/* What a client sees of a job: the record without the runner's lease,
 * its status from where it is. */
static jv
public_job(jv job, enum spool_state st)
{
	const char *s = json_str(job, "status");

	if (!(st == SPOOL_CUR && s != NULL && (strcmp(s, "done") == 0 || strcmp(s, "failed") == 0)))
		job = jv_object_set(job, jv_string("status"), jv_string(spool_state_name(st)));
	job = jv_object_delete(job, jv_string("lease"));
	job = jv_object_delete(job, jv_string("next_attempt_runner"));
	return job;
}

/* The job id of the caller's: 0, or -1 having answered 404. */
static int
own_job(struct api *a, const char *id, jv *job, enum spool_state *st)
{
	const char *u;
	int rc;

	*job = jv_invalid();
	if (!spool_valid_id(id)) {
		not_found(a);
		return -1;
	}
	if (need_spool(a) != 0)
		return -1;
	quiet(a, 1);
	rc = spool_get(a->sp, id, job, st);
	quiet(a, 0);
	if (rc == EX_NOINPUT || (rc == 0 && ((u = json_str(*job, "user")) == NULL ||
	    strcmp(u, a->user) != 0))) {
		jv_free(*job);
		*job = jv_invalid();
		not_found(a);
		return -1;
	}
	if (rc != 0) {
		fail_ex(a, rc, "job");
		return -1;
	}
	return 0;
}

/* Start rs-run (RS_KICK) detached; it drains the queue and exits. */
static void
kick(struct api *a)
{
	const char *k = conf_str(a->conf, "RS_KICK", "rs-run");
	char path[PATH_MAX + 16];
	pid_t pid;
	int fd;

	if (*k == '\0' || strcmp(k, "none") == 0)
		return;
	if (strchr(k, '/') == NULL && a->self[0] != '\0') {
		snprintf(path, sizeof path, "%s/%s", a->self, k);
		if (access(path, X_OK) == 0)
			k = path;
	}
	fflush(stderr);
	if ((pid = fork()) < 0) {
		warn("kick: fork");
		return;
	}
	if (pid == 0) {
		/* the grandchild outlives us, away from the client's socket */
		if (setsid() < 0 || fork() != 0)
			_exit(0);
		if ((fd = open("/dev/null", O_RDWR)) >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			if (fd > 2)
				close(fd);
		}
		execlp(k, k, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

struct up {
	struct api *a;
	int max_images;
	unsigned long long max_bytes;
	int n, fd[UPLOAD_MAX_INPUTS], cur, skip, bad;
	unsigned long long size;
	unsigned char magic[16];
	size_t nmagic;
	char names[UPLOAD_MAX_INPUTS][256];
	char prompt[UPLOAD_MAX_PROMPT + 1];
	size_t plen;
	int has_prompt, too_many;
	char msg[256];
};

/* An unnamed file in $RS_SPOOL/uploads: on the spool's disk, not in a
 * tmpfs, and gone by itself whatever happens to this process. */
static int
tmpfile_in(struct api *a)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	unsigned char r[8];
	char hex[17];
	int fd;

	snprintf(dir, sizeof dir, "%s/uploads", a->spool_dir);
	if (util_mkdir_p(dir, 0700) != 0)
		return -1;
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		randombytes_buf(r, sizeof r);
		util_hex(r, sizeof r, hex);
		snprintf(path, sizeof path, "%s/.up-%s", dir, hex);
		if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) >= 0)
			unlink(path);
	}
	if (fd < 0)
		warn("%s: temporary file", dir);
	return fd;
}

static int
up_data(struct up *u, const unsigned char *p, size_t len)
{
	if (u->cur < 0) {
		if (u->skip)
			return 0;
		/* the prompt */
		if (u->plen + len > UPLOAD_MAX_PROMPT) {
			snprintf(u->msg, sizeof u->msg, "prompt: at most %d bytes", UPLOAD_MAX_PROMPT);
			return HTTP_UNPROCESSABLE;
		}
		memcpy(u->prompt + u->plen, p, len);
		u->plen += len;
		u->prompt[u->plen] = '\0';
		return 0;
	}
	u->size += len;
	if (u->size > u->max_bytes) {
		snprintf(u->msg, sizeof u->msg, "an image of at most %llu bytes on this plan",
		    u->max_bytes);
		return HTTP_PAYLOAD_TOO_LARGE;
	}
	if (u->nmagic < sizeof u->magic) {
		size_t k = sizeof u->magic - u->nmagic < len ? sizeof u->magic - u->nmagic : len;
		memcpy(u->magic + u->nmagic, p, k);
		u->nmagic += k;
	}
	if (util_write_all(u->fd[u->cur], p, len) < 0) {
		warn("upload: temporary file");
		snprintf(u->msg, sizeof u->msg, "cannot store the upload");
		return HTTP_INTERNAL;
	}
	return 0;
}

static int
up_begin_image(struct up *u, const char *name)
{
	const char *b = strrchr(name, '/');

	if (u->n == u->max_images) {
		/* read on (the body is bounded) and refuse at its end, so the
		 * client gets the answer on a connection in good order */
		u->too_many = 1;
		u->skip = 1;
		u->cur = -1;
		return 0;
	}
	if ((u->fd[u->n] = tmpfile_in(u->a)) < 0) {
		snprintf(u->msg, sizeof u->msg, "cannot store the upload");
		return HTTP_INTERNAL;
	}
	u->cur = u->n++;
	u->size = 0;
	u->nmagic = 0;
	b = b != NULL ? b + 1 : name;
	snprintf(u->names[u->cur], sizeof u->names[0], "%s", *b ? b : "image");
	return 0;
}

static int
up_end_image(struct up *u)
{
	enum img_type t = img_sniff(u->magic, u->nmagic);

	if (u->cur >= 0 && t != IMG_JPEG && t != IMG_PNG) {
		snprintf(u->msg, sizeof u->msg, "image %d: %s; only JPEG and PNG are accepted",
		    u->cur + 1, t == IMG_UNKNOWN ? "not an image" : img_type_name(t));
		return HTTP_UNSUPPORTED_MEDIA_TYPE;
	}
	return 0;
}

static int
up_part(void *arg, enum http_mp_event ev, const struct http_mp *m, const unsigned char *p,
    size_t len)
{
	struct up *u = arg;

	switch (ev) {
	case HTTP_MP_BEGIN:
		u->cur = -1;
		u->skip = 0;
		if (strcmp(m->name, "image") == 0 || strcmp(m->name, "images") == 0 ||
		    strcmp(m->name, "image[]") == 0)
			return up_begin_image(u, m->filename[0] ? m->filename : "image");
		if (strcmp(m->name, "prompt") == 0) {
			if (u->has_prompt++) {
				snprintf(u->msg, sizeof u->msg, "one prompt per restoration");
				return HTTP_UNPROCESSABLE;
			}
		} else
			u->skip = 1;              /* an unknown field is ignored */
		return 0;
	case HTTP_MP_DATA:
		return up_data(u, p, len);
	case HTTP_MP_END:
		return up_end_image(u);
	}
	return 0;
}

/* Read the body into u: multipart, or one raw image. 0, or an HTTP status
 * with u->msg. */
static int
up_read(struct api *a, struct up *u, const char *ctype)
{
	enum { CAP = 256 * 1024 };
	unsigned char *buf = malloc(CAP);
	struct http_mp mp;
	size_t have = 0, used;
	ssize_t k;
	int multipart = strncasecmp(ctype, "multipart/", 10) == 0, rc = 0, fin = 0;

	if (buf == NULL)
		return HTTP_INTERNAL;
	if (multipart && (rc = http_mp_init(&mp, ctype)) != 0) {
		snprintf(u->msg, sizeof u->msg, "%s", rc == HTTP_BAD_REQUEST ?
		    "multipart/form-data needs a boundary" : "expected multipart/form-data");
		goto out;
	}
	if (!multipart && (rc = up_begin_image(u, "image")) != 0)
		goto out;
	for (;;) {
		k = http_read_body(a->c, buf + have, CAP - have);
		if (k < 0) {
			rc = (int)-k;
			snprintf(u->msg, sizeof u->msg, "%s", rc == HTTP_PAYLOAD_TOO_LARGE ?
			    "the upload is over this plan's limit" : rc == HTTP_REQUEST_TIMEOUT ?
			    "the upload was too slow" : "the body is malformed");
			goto out;
		}
		if (!multipart) {
			if (k == 0)
				break;
			if ((rc = up_data(u, buf, (size_t)k)) != 0)
				goto out;
			continue;
		}
		have += (size_t)k;
		if (!fin) {
			rc = http_mp_feed(&mp, buf, have, &used, up_part, u);
			if (rc == 1) {
				fin = 1;
				rc = 0;
			} else if (rc != 0) {
				if (u->msg[0] == '\0')
					snprintf(u->msg, sizeof u->msg, "%s", rc == HTTP_PAYLOAD_TOO_LARGE ?
					    "too many parts" : "malformed multipart/form-data");
				goto out;
			}
			memmove(buf, buf + used, have - used);
			have -= used;
		} else
			have = 0;                 /* the epilogue */
		if (k == 0)
			break;
	}
	if (u->too_many) {
		rc = HTTP_PAYLOAD_TOO_LARGE;
		snprintf(u->msg, sizeof u->msg, "at most %d image%s per restoration on this plan",
		    u->max_images, u->max_images == 1 ? "" : "s");
		goto out;
	}
	if (multipart && !fin) {
		rc = HTTP_BAD_REQUEST;
		snprintf(u->msg, sizeof u->msg, "multipart/form-data ends before its closing boundary");
		goto out;
	}
	if (!multipart)
		rc = up_end_image(u);
out:
	free(buf);
	return rc;
}

static void
post_restoration(struct api *a)
{
	struct up u;
	struct upload_input in[UPLOAD_MAX_INPUTS];
	struct capture cap;
	const char *ctype = http_header(a->r, "Content-Type"), *plan;
	char msg[300], loc[64];
	jv tok, user = jv_invalid(), job = jv_invalid(), lim = jv_invalid();
	int rc, allowed, st;

	memset(&u, 0, sizeof u);
	memset(in, 0, sizeof in);
	for (int i = 0; i < UPLOAD_MAX_INPUTS; i++)
		u.fd[i] = -1;
	u.a = a;
	u.cur = -1;
	if (auth(a, &tok) != 0)
		return;
	jv_free(tok);
	if (need_spool(a) != 0)
		return;
	if ((rc = ledger_user_get(a->lg, a->user, &user)) != 0 || (rc = free_allowance(a, user)) != 0) {
		fail_ex(a, rc, "account");
		goto out;
	}
	if ((rc = ledger_limit(a->lg, a->user, 1, &allowed, &lim)) != 0) {
		fail_ex(a, rc, "rate limit");
		goto out;
	}
	if (!allowed) {
		jv ra = json_get(lim, "retry_after");
		a->retry = jv_get_kind(ra) == JV_KIND_NUMBER ? jv_number_value(ra) : 1;
		jv_free(ra);
		fail(a, HTTP_TOO_MANY_REQUESTS, "rate_limited", "too many restorations; retry in %.0f s",
		    a->retry);
		goto out;
	}
	plan = json_str(user, "plan");
	u.max_images = (int)plan_num(a, plan, "images_per_request", 1);
	if (u.max_images < 1 || u.max_images > UPLOAD_MAX_INPUTS)
		u.max_images = u.max_images < 1 ? 1 : UPLOAD_MAX_INPUTS;
	u.max_bytes = (unsigned long long)plan_num(a, plan, "max_upload_bytes", 10 << 20);
	if (u.max_bytes > a->lim.max_bytes)
		u.max_bytes = a->lim.max_bytes;
	if (a->r->length < 0 && !a->r->chunked) {
		fail(a, HTTP_LENGTH_REQUIRED, NULL, "send Content-Length or a chunked body");
		goto out;
	}
	if (ctype == NULL || !(strncasecmp(ctype, "multipart/form-data", 19) == 0 ||
	    strncasecmp(ctype, "image/jpeg", 10) == 0 || strncasecmp(ctype, "image/png", 9) == 0 ||
	    strncasecmp(ctype, "application/octet-stream", 24) == 0)) {
		fail(a, HTTP_UNSUPPORTED_MEDIA_TYPE, NULL,
		    "send multipart/form-data with an image field, or an image/jpeg or image/png body");
		goto out;
	}
	{
		long long max = (long long)u.max_bytes * u.max_images + MP_SLACK;
		if (a->r->length > max) {
			fail(a, HTTP_PAYLOAD_TOO_LARGE, NULL, "at most %llu bytes per image on this plan",
			    u.max_bytes);
			goto out;
		}
		http_body_limit(a->c, max);
	}
	if ((st = up_read(a, &u, ctype)) != 0) {
		fail(a, st, NULL, "%s", u.msg[0] ? u.msg : "the upload was refused");
		goto out;
	}
	if (u.n == 0) {
		fail(a, HTTP_UNPROCESSABLE, "no_image", "the form has no image field");
		goto out;
	}
	if (u.has_prompt && !upload_printable(u.prompt, 1)) {
		fail(a, HTTP_UNPROCESSABLE, NULL, "prompt: text only");
		goto out;
	}
	/* prove and store each image */
	for (int i = 0; i < u.n; i++) {
		char name[300];
		snprintf(name, sizeof name, "image %d", i + 1);
		capture_begin(&cap);
		rc = upload_check_fd(a->st, name, u.fd[i], &a->lim, &in[i]);
		capture_end(&cap, msg, sizeof msg);
		if (rc != 0) {
			if (rc == EX_DATAERR)
				fail(a, HTTP_UNPROCESSABLE, "invalid_image", "%s", msg[0] ? msg : name);
			else
				fail_ex(a, rc, "storing the image");
			goto out;
		}
		snprintf(in[i].name, sizeof in[i].name, "%s", u.names[i]);
	}
	job = upload_record(in, u.n, a->user, u.has_prompt && u.plen > 0 ? u.prompt : NULL, 1);
	if ((rc = upload_charge(a->lg, user, &job)) != 0) {
		jv b = jv_invalid(), bal = jv_invalid();
		int short_ = rc == EX_DATAERR && ledger_balance(a->lg, a->user, &b) == 0 &&
		    jv_get_kind(bal = json_get(b, "balance")) == JV_KIND_NUMBER &&
		    jv_number_value(bal) < upload_cost(a->lg, plan, u.n == 1 ? "restore" : "fusion");
		jv_free(bal);
		jv_free(b);
		if (short_)
			fail(a, HTTP_PAYMENT_REQUIRED, "insufficient_credits",
			    "not enough credits for this restoration");
		else
			fail_ex(a, rc, "credits");
		goto out;
	}
	if ((rc = ledger_job_add(a->lg, json_str(job, "id"), a->user)) != 0 ||
	    (rc = spool_enqueue(a->sp, job)) != 0) {
		jv h;
		if (ledger_release(a->lg, json_str(job, "id"), &h) == 0)
			jv_free(h);
		ledger_job_remove(a->lg, json_str(job, "id"));
		fail_ex(a, rc, "queue");
		goto out;
	}
	kick(a);
	snprintf(loc, sizeof loc, "/v1/restorations/%s", json_str(job, "id"));
	reply(a, HTTP_ACCEPTED, public_job(job, SPOOL_NEW), "Location", loc);
	job = jv_invalid();
out:
	for (int i = 0; i < UPLOAD_MAX_INPUTS; i++)
		if (u.fd[i] >= 0)
			close(u.fd[i]);
	jv_free(lim);
	jv_free(job);
	jv_free(user);
}

static void
list_restorations(struct api *a)
{
	char before[64], lim[16];
	int limit = 20, rc;
	jv tok, ids = jv_invalid(), out = jv_array(), next = jv_null();

	if (auth(a, &tok) != 0)
		goto done;
	jv_free(tok);
	if (need_spool(a) != 0)
		goto done;
	if (query(a, "limit", lim, sizeof lim) == 1) {
		char *e;
		long v = strtol(lim, &e, 10);
		if (*e != '\0' || v < 1 || v > 100) {
			fail(a, HTTP_BAD_REQUEST, NULL, "limit: 1 to 100");
			goto done;
		}
		limit = (int)v;
	}
	if (query(a, "before", before, sizeof before) == 1) {
		if (!spool_valid_id(before)) {
			fail(a, HTTP_BAD_REQUEST, NULL, "before: a restoration id");
			goto done;
		}
	} else
		before[0] = '\0';
	if ((rc = ledger_job_list(a->lg, a->user, before[0] ? before : NULL, limit + 1, &ids)) != 0) {
		fail_ex(a, rc, "history");
		goto done;
	}
	jv_array_foreach(ids, i, id) {
		jv job;
		enum spool_state st;
		if (i == limit)
			;                         /* there is more */
		else {
			if (i == limit - 1 && jv_array_length(jv_copy(ids)) > limit) {
				jv_free(next);
				next = jv_copy(id);   /* the cursor: ?before= this */
			}
			quiet(a, 1);
			rc = spool_get(a->sp, jv_string_value(id), &job, &st);
			quiet(a, 0);
			if (rc == 0)
				out = jv_array_append(out, public_job(job, st));
			else
				jv_free(job);     /* gone (cleaned up): left out */
		}
		jv_free(id);
	}
	reply(a, HTTP_OK, JV_OBJECT(jv_string("restorations"), out, jv_string("next"), next),
	    NULL, NULL);
	out = next = jv_invalid();
done:
	jv_free(ids);
	jv_free(out);
	jv_free(next);
}

static void
get_restoration(struct api *a, const char *id)
{
	jv tok, job;
	enum spool_state st;

	if (auth(a, &tok) != 0)
		return;
	jv_free(tok);
	if (own_job(a, id, &job, &st) != 0)
		return;
	reply(a, HTTP_OK, public_job(job, st), NULL, NULL);
}

struct refs { const char *self; jv objects; jv keep; };

static int
refs_of(const char *id, jv job, time_t mtime, void *arg)
{
	struct refs *r = arg;
	jv inputs, out;

	(void)mtime;
	if (strcmp(id, r->self) != 0 && jv_get_kind(job) == JV_KIND_OBJECT) {
		inputs = json_get(job, "inputs");
		out = json_get(job, "output");
		jv_array_foreach(r->objects, i, o) {
			int used = 0;
			if (jv_get_kind(inputs) == JV_KIND_ARRAY)
				jv_array_foreach(inputs, k, x) {
					const char *xo = jv_get_kind(x) == JV_KIND_OBJECT ? json_str(x, "object") : NULL;
					if (xo != NULL && strcmp(xo, jv_string_value(o)) == 0)
						used = 1;
					jv_free(x);
				}
			if (jv_get_kind(out) == JV_KIND_OBJECT && json_str(out, "object") != NULL &&
			    strcmp(json_str(out, "object"), jv_string_value(o)) == 0)
				used = 1;
			if (used)
				r->keep = jv_object_set(r->keep, jv_copy(o), jv_true());
			jv_free(o);
		}
		jv_free(inputs);
		jv_free(out);
	}
	jv_free(job);
	return 0;
}

static void
delete_restoration(struct api *a, const char *id)
{
	struct refs r;
	jv tok, job, inputs, output, h;
	enum spool_state st;
	int rc = 0;

	if (auth(a, &tok) != 0)
		return;
	jv_free(tok);
	if (own_job(a, id, &job, &st) != 0)
		return;
	if (st == SPOOL_CUR) {
		jv_free(job);
		fail(a, HTTP_CONFLICT, "busy", "the restoration is running; delete it when it is done");
		return;
	}
	if ((rc = spool_remove(a->sp, st, id)) != 0) {
		jv_free(job);
		fail_ex(a, rc, "job");
		return;
	}
	if (st == SPOOL_NEW) {
		jv again;
		enum spool_state s2;
		quiet(a, 1);
		rc = spool_get(a->sp, id, &again, &s2);
		quiet(a, 0);
		jv_free(again);
		if (rc == 0) {                    /* a runner took it meanwhile */
			jv_free(job);
			fail(a, HTTP_CONFLICT, "busy", "the restoration is running; delete it when it is done");
			return;
		}
		if (ledger_release(a->lg, id, &h) == 0)     /* never ran: credits back */
			jv_free(h);
		rc = 0;
	}
	/* the objects only this job uses (objects are shared by content) */
	r.self = id;
	r.objects = jv_array();
	r.keep = jv_object();
	inputs = json_get(job, "inputs");
	output = json_get(job, "output");
	if (jv_get_kind(inputs) == JV_KIND_ARRAY)
		jv_array_foreach(inputs, i, x) {
			if (jv_get_kind(x) == JV_KIND_OBJECT && json_str(x, "object") != NULL)
				r.objects = jv_array_append(r.objects, jv_string(json_str(x, "object")));
			jv_free(x);
		}
	if (jv_get_kind(output) == JV_KIND_OBJECT && json_str(output, "object") != NULL)
		r.objects = jv_array_append(r.objects, jv_string(json_str(output, "object")));
	for (int s = 0; s < SPOOL_NSTATES && rc == 0; s++)
		rc = spool_each(a->sp, (enum spool_state)s, refs_of, &r);
	if (rc == 0)
		jv_array_foreach(r.objects, i, o) {
			if (!jv_object_has(jv_copy(r.keep), jv_copy(o)) && store_valid_id(jv_string_value(o)))
				store_unlink(a->st, jv_string_value(o));
			jv_free(o);
		}
	jv_free(r.objects);
	jv_free(r.keep);
	jv_free(inputs);
	jv_free(output);
	jv_free(job);
	ledger_job_remove(a->lg, id);
	send_body(a, HTTP_NO_CONTENT, NULL, NULL, NULL, "", 0);
}

/* "<status>.<attempts>": changes with every state a client should see */
static void
event_id(jv job, char *out, size_t size)
{
	jv n = json_get(job, "attempts");
	const char *s = json_str(job, "status");

	snprintf(out, size, "%s.%d", s != NULL ? s : "queued",
	    jv_get_kind(n) == JV_KIND_NUMBER ? (int)jv_number_value(n) : 0);
	jv_free(n);
}

static int
terminal(jv job)
{
	const char *s = json_str(job, "status");

	return s != NULL && (strcmp(s, "done") == 0 || strcmp(s, "failed") == 0);
}

static void
events(struct api *a, const char *id)
{
	const char *last = http_header(a->r, "Last-Event-ID");
	char sent[64] = "", eid[64];
	double start = now_mono(), wrote;
	enum spool_state st;
	jv tok, job;
	int rc;

	if (auth(a, &tok) != 0)
		return;
	jv_free(tok);
	if (own_job(a, id, &job, &st) != 0)
		return;
	job = public_job(job, st);
	event_id(job, eid, sizeof eid);
	if (last != NULL && strcmp(last, eid) == 0 && terminal(job)) {
		jv_free(job);
		/* seen to the end: 204 tells an EventSource to stop reconnecting */
		send_body(a, HTTP_NO_CONTENT, NULL, NULL, NULL, "", 0);
		return;
	}
	if (last != NULL)
		snprintf(sent, sizeof sent, "%s", last);
	http_begin(a->c, HTTP_OK);
	common(a);
	http_field(a->c, "Content-Type", "text/event-stream");
	http_field(a->c, "Cache-Control", "no-store");
	http_field(a->c, "X-Accel-Buffering", "no");
	http_end_head(a->c, -1);
	http_write(a->c, "retry: 1000\n\n", 13);
	wrote = now_mono();
	for (;;) {
		if (strcmp(sent, eid) != 0) {
			jv s = jv_dump_string(jv_copy(job), 0);
			char head[160];
			int n = snprintf(head, sizeof head, "id: %s\nevent: status\ndata: ", eid);
			if (http_write(a->c, head, (size_t)n) < 0 ||
			    http_write(a->c, jv_string_value(s), strlen(jv_string_value(s))) < 0 ||
			    http_write(a->c, "\n\n", 2) < 0 || http_flush(a->c) < 0) {
				jv_free(s);
				break;
			}
			jv_free(s);
			snprintf(sent, sizeof sent, "%s", eid);
			wrote = now_mono();
		}
		if (terminal(job) || now_mono() - start > a->sse_max)
			break;
		if (now_mono() - wrote >= a->sse_ping) {
			if (http_write(a->c, ": keep-alive\n\n", 14) < 0 || http_flush(a->c) < 0)
				break;
			wrote = now_mono();
		}
		if (http_peer_gone(a->c, (int)(a->sse_poll * 1000)))
			break;
		jv_free(job);
		quiet(a, 1);
		rc = spool_get(a->sp, id, &job, &st);
		quiet(a, 0);
		if (rc != 0) {                    /* deleted meanwhile */
			jv_free(job);
			job = jv_invalid();
			http_write(a->c, "event: gone\ndata: {}\n\n", 22);
			break;
		}
		job = public_job(job, st);
		event_id(job, eid, sizeof eid);
	}
	jv_free(job);
	http_flush(a->c);
}

/* GET an object of the caller's job: "result", or "input" n. */
static void
get_object(struct api *a, const char *id, const char *which, const char *n)
{
	const char *obj = NULL, *mime = NULL, *inm;
	char path[PATH_MAX], etag[80], buf[65536];
	jv tok, job, o = jv_invalid();
	enum spool_state st;
	struct stat sb;
	ssize_t k;
	int fd = -1, rc;

	if (auth(a, &tok) != 0)
		return;
	jv_free(tok);
	if (own_job(a, id, &job, &st) != 0)
		return;
	if (strcmp(which, "result") == 0) {
		o = json_get(job, "output");
		if (!(st == SPOOL_DONE || (st == SPOOL_CUR && terminal(job))))
			jv_free(o), o = jv_invalid();
	} else {
		jv ins = json_get(job, "inputs");
		char *e;
		long i = strtol(n, &e, 10);
		if (*n != '\0' && *e == '\0' && i >= 0 && i < UPLOAD_MAX_INPUTS &&
		    strspn(n, "0123456789") == strlen(n) && jv_get_kind(ins) == JV_KIND_ARRAY)
			o = jv_array_get(jv_copy(ins), (int)i);
		jv_free(ins);
	}
	if (jv_get_kind(o) == JV_KIND_OBJECT) {
		obj = json_str(o, "object");
		mime = json_str(o, "mime");
	}
	if (obj == NULL || !store_valid_id(obj)) {
		jv_free(o);
		jv_free(job);
		not_found(a);
		return;
	}
	snprintf(etag, sizeof etag, "\"%s\"", obj);
	if ((inm = http_header(a->r, "If-None-Match")) != NULL &&
	    (strstr(inm, etag) != NULL || strcmp(inm, "*") == 0)) {
		http_begin(a->c, HTTP_NOT_MODIFIED);
		common(a);
		http_field(a->c, "ETag", "%s", etag);
		http_field(a->c, "Cache-Control", "private, max-age=31536000, immutable");
		http_end_head(a->c, 0);
		goto out;
	}
	if ((rc = store_path(a->st, obj, path, sizeof path)) != 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) < 0) {
		warn("%s", obj);
		not_found(a);
		goto out;
	}
	http_begin(a->c, HTTP_OK);
	common(a);
	http_field(a->c, "Content-Type", "%s", mime != NULL && strncmp(mime, "image/", 6) == 0 ?
	    mime : "application/octet-stream");
	http_field(a->c, "ETag", "%s", etag);
	http_field(a->c, "Cache-Control", "private, max-age=31536000, immutable");
	http_end_head(a->c, (long long)sb.st_size);
	if (!a->r->head)
		while ((k = read(fd, buf, sizeof buf)) > 0)
			if (http_write(a->c, buf, (size_t)k) < 0)
				break;
out:
	if (fd >= 0)
		close(fd);
	jv_free(o);
	jv_free(job);
}

/* ---- billing ----
 * Stripe is reached through rs-webhook(1), which runs lib/stripe.c: the
 * webhook's raw body goes to its standard input byte for byte, and its
 * JSON and exit status come back. Billing requests are rare and wait on
 * a remote service anyway, while linking libcurl (and its thirty shared
 * objects) into rs-serve would cost every connection its exec. */

/* Run rs-webhook with args, body (may be NULL) on its stdin; *out its
 * JSON (owned; invalid if none). Returns its exit status, or -1. */
static int
webhook(struct api *a, char *const args[], const unsigned char *body, size_t len, jv *out)
{
	char path[PATH_MAX + 16], buf[65536];
	int in[2] = { -1, -1 }, op[2] = { -1, -1 }, st = 0;
	size_t n = 0;
	ssize_t k;
	pid_t pid;

	*out = jv_invalid();
	snprintf(path, sizeof path, "%s/rs-webhook", a->self);
	if (a->self[0] == '\0' || access(path, X_OK) != 0)
		snprintf(path, sizeof path, "rs-webhook");
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(op, O_CLOEXEC) < 0) {
		warn("rs-webhook: pipe");
		goto fail;
	}
	fflush(stderr);
	if ((pid = fork()) < 0) {
		warn("rs-webhook: fork");
		goto fail;
	}
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(op[1], 1);
		execvp(path, args);
		warn("%s", path);
		_exit(127);
	}
	close(in[0]);
	close(op[1]);
	in[0] = op[1] = -1;
	/* rs-webhook reads all of its input before it writes anything */
	if (body != NULL && len > 0 && util_write_all(in[1], body, len) < 0)
		warn("rs-webhook: write");
	close(in[1]);
	in[1] = -1;
	while (n < sizeof buf - 1 && (k = read(op[0], buf + n, sizeof buf - 1 - n)) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			break;
		n += (size_t)k;
	}
	close(op[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (n > 0)
		*out = jv_parse_sized(buf, (int)n);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (op[i] >= 0)
			close(op[i]);
	}
	return -1;
}

static void
billing(struct api *a, int checkout)
{
	jv tok, body = jv_invalid(), out = jv_invalid();
	char *args[6];
	int rc;

	if (auth(a, &tok) != 0)
		return;
	jv_free(tok);
	if (body_json(a, &body) != 0)
		goto done;
	args[0] = "rs-webhook";
	args[1] = checkout ? "checkout" : "portal";
	args[2] = a->user;
	args[3] = args[4] = args[5] = NULL;
	if (checkout) {
		const char *plan = json_str(body, "plan"), *pack = json_str(body, "pack");
		if ((plan == NULL) == (pack == NULL)) {
			fail(a, HTTP_UNPROCESSABLE, NULL, "give either plan or pack");
			goto done;
		}
		args[3] = plan != NULL ? "--plan" : "--pack";
		args[4] = (char *)(plan != NULL ? plan : pack);
	}
	rc = webhook(a, args, NULL, 0, &out);
	if (rc == 0 && jv_get_kind(out) == JV_KIND_OBJECT) {
		reply(a, HTTP_OK, out, NULL, NULL);
		out = jv_invalid();
	} else if (rc == EX_CONFIG)
		fail(a, HTTP_UNAVAILABLE, "billing_unavailable", "billing is not configured");
	else if (rc == 0 || rc < 0)
		fail(a, HTTP_INTERNAL, NULL, "internal error");
	else
		fail_ex(a, rc, checkout ? "no such plan or pack" : "no billing account yet");
done:
	jv_free(out);
	jv_free(body);
}

static void
stripe_webhook(struct api *a)
{
	const char *sig = http_header(a->r, "Stripe-Signature");
	unsigned char *body = NULL;
	char *args[] = { "rs-webhook", "--signature", (char *)(sig != NULL ? sig : ""), NULL };
	size_t len = 0;
	ssize_t k;
	jv out = jv_invalid();
	int rc;

	if (a->r->length > WEBHOOK_MAX) {
		fail(a, HTTP_PAYLOAD_TOO_LARGE, NULL, "too large for an event");
		return;
	}
	if ((body = malloc(WEBHOOK_MAX + 1)) == NULL) {
		fail(a, HTTP_INTERNAL, NULL, "out of memory");
		return;
	}
	http_body_limit(a->c, WEBHOOK_MAX);
	while ((k = http_read_body(a->c, body + len, WEBHOOK_MAX + 1 - len)) > 0)
		len += (size_t)k;
	if (k < 0) {
		fail(a, (int)-k, NULL, "could not read the event");
		goto out;
	}
	/* the raw bytes, exactly as received, are what Stripe signed */
	rc = webhook(a, args, body, len, &out);
	if (rc == 0 && jv_get_kind(out) == JV_KIND_OBJECT) {
		reply(a, HTTP_OK, out, NULL, NULL);
		out = jv_invalid();
	} else if (rc >= 10 && rc <= 14)     /* the STRIPE_* verification failures */
		fail(a, HTTP_BAD_REQUEST, "bad_signature", "the Stripe signature does not verify");
	else if (rc == EX_CONFIG)
		fail(a, HTTP_UNAVAILABLE, "billing_unavailable", "webhooks are not configured");
	else if (rc == EX_DATAERR)
		fail(a, HTTP_BAD_REQUEST, "bad_event", "the event is not acceptable");
	else if (rc == 0 || rc < 0)
		fail(a, HTTP_INTERNAL, NULL, "internal error");
	else
		fail_ex(a, rc, "the event cannot be applied yet");
out:
	jv_free(out);
	free(body);
}

/* ---- the rest ---- */

static void
healthz(struct api *a)
{
	jv u;
	int rc;

	if (need_spool(a) != 0 || need_ledger(a) != 0)
		return;
	quiet(a, 1);
	rc = ledger_user_get(a->lg, "healthz-probe", &u);
	quiet(a, 0);
	jv_free(u);
	if (rc != 0 && rc != EX_NOINPUT) {
		a->retry = 5;
		fail(a, HTTP_UNAVAILABLE, NULL, "the database is not answering");
		return;
	}
	reply(a, HTTP_OK, JV_OBJECT(jv_string("ok"), jv_true(), jv_string("version"),
	    jv_string(RS_VERSION)), NULL, NULL);
}

static const char *
mime_of(const char *path)
{
	static const char *const types[][2] = {
		{ ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" }, { ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" }, { ".webmanifest", "application/manifest+json" },
		{ ".svg", "image/svg+xml" }, { ".png", "image/png" }, { ".jpg", "image/jpeg" },
		{ ".jpeg", "image/jpeg" }, { ".ico", "image/x-icon" }, { ".webp", "image/webp" },
		{ ".txt", "text/plain; charset=utf-8" }, { ".woff2", "font/woff2" },
		{ ".map", "application/json" },
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot != NULL && i < sizeof types / sizeof *types; i++)
		if (strcasecmp(dot, types[i][0]) == 0)
			return types[i][1];
	return "application/octet-stream";
}

/* Static files of the web app under the web root. The path is decoded,
 * and a segment that begins with a dot (.., .git, .env) is refused. */
/* The web root, found on first use: RS_WEB_ROOT; else web/ of the
 * checkout this binary was built in (bin/../web); else DATADIR/web, where
 * make install puts it. */
static const char *
web_root(struct api *a)
{
	const char *web;
	struct stat sb;
	char cand[PATH_MAX + 16];

	if (a->web[0] != '\0')
		return a->web;
	if ((web = conf_str(a->conf, "RS_WEB_ROOT", NULL)) != NULL && *web != '\0')
		snprintf(a->web, sizeof a->web, "%s", web);
	else if (snprintf(cand, sizeof cand, "%s/../web", a->self) > 0 && a->self[0] != '\0' &&
	    stat(cand, &sb) == 0 && S_ISDIR(sb.st_mode) && realpath(cand, a->web) != NULL)
		;
	else
		snprintf(a->web, sizeof a->web, "%s/web", DATADIR);
	return a->web;
}

static void
static_file(struct api *a)
{
	char rel[1024], path[PATH_MAX + 1100], etag[64], buf[65536];
	const char *p = a->r->path, *inm;
	struct stat sb;
	size_t n = 0;
	ssize_t k;
	int fd;

	if (strcmp(a->r->method, "GET") != 0 && !a->r->head) {
		not_allowed(a, "GET, HEAD");
		return;
	}
	for (; *p; p++) {
		int ch = (unsigned char)*p;
		if (ch == '%') {
			if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2]))
				goto nf;
			char hx[3] = { p[1], p[2], 0 };
			ch = (int)strtol(hx, NULL, 16);
			p += 2;
		}
		if (ch == 0 || ch == '\\' || n + 12 >= sizeof rel)
			goto nf;
		if (ch == '.' && n > 0 && rel[n - 1] == '/')
			goto nf;
		rel[n++] = (char)ch;
	}
	rel[n] = '\0';
	if (n == 0 || rel[0] != '/')
		goto nf;
	if (rel[n - 1] == '/')
		memcpy(rel + n, "index.html", 11);
	snprintf(path, sizeof path, "%s%s", web_root(a), rel);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) < 0)
		goto nf_fd;
	if (S_ISDIR(sb.st_mode)) {
		char loc[1100];
		close(fd);
		snprintf(loc, sizeof loc, "%s/", a->r->path);
		http_begin(a->c, 301);
		common(a);
		http_field(a->c, "Location", "%s", loc);
		http_end_head(a->c, 0);
		return;
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		goto nf;
	}
	snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)sb.st_size,
	    (unsigned long long)sb.st_mtim.tv_sec * 1000000000ULL + (unsigned long long)sb.st_mtim.tv_nsec);
	if ((inm = http_header(a->r, "If-None-Match")) != NULL && strstr(inm, etag) != NULL) {
		close(fd);
		http_begin(a->c, HTTP_NOT_MODIFIED);
		common(a);
		http_field(a->c, "ETag", "%s", etag);
		http_end_head(a->c, 0);
		return;
	}
	http_begin(a->c, HTTP_OK);
	common(a);
	http_field(a->c, "Content-Type", "%s", mime_of(path));
	http_field(a->c, "ETag", "%s", etag);
	http_field(a->c, "Cache-Control", "no-cache");
	http_end_head(a->c, (long long)sb.st_size);
	if (!a->r->head)
		while ((k = read(fd, buf, sizeof buf)) > 0)
			if (http_write(a->c, buf, (size_t)k) < 0)
				break;
	close(fd);
	return;
nf_fd:
	if (fd >= 0)
		close(fd);
nf:
	not_found(a);
}

/* CORS: an Origin listed in RS_CORS_ORIGINS (space or comma separated,
 * exact match, or "*") is echoed; preflights are answered here. */
static void
cors(struct api *a)
{
	const char *o = http_header(a->r, "Origin"), *l = a->cors;
	size_t n;

	a->origin[0] = '\0';
	if (o == NULL || strlen(o) >= sizeof a->origin)
		return;
	n = strlen(o);
	while (*l) {
		size_t k = strcspn(l, " ,");
		if ((k == n && strncmp(l, o, n) == 0) || (k == 1 && *l == '*')) {
			snprintf(a->origin, sizeof a->origin, "%s", o);
			return;
		}
		l += k;
		l += strspn(l, " ,");
	}
}

static void
preflight(struct api *a)
{
	http_begin(a->c, HTTP_NO_CONTENT);
	common(a);
	if (a->origin[0] != '\0') {
		http_field(a->c, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
		http_field(a->c, "Access-Control-Allow-Headers",
		    "Authorization, Content-Type, Last-Event-ID, If-None-Match");
		http_field(a->c, "Access-Control-Max-Age", "600");
	}
	http_field(a->c, "Allow", "GET, HEAD, POST, DELETE, OPTIONS");
	http_end_head(a->c, 0);
}

static int
is(const struct api *a, const char *m)
{
	return strcmp(a->r->method, m) == 0 || (strcmp(m, "GET") == 0 && a->r->head);
}

/* /v1/restorations/{id}[/events|/result|/input/{n}] */
static void
restoration_routes(struct api *a, const char *rest)
{
	char id[64];
	size_t n = strcspn(rest, "/");
	const char *sub = rest + n;

	if (n == 0 || n >= sizeof id) {
		not_found(a);
		return;
	}
	memcpy(id, rest, n);
	id[n] = '\0';
	if (*sub == '\0') {
		if (is(a, "GET"))
			get_restoration(a, id);
		else if (is(a, "DELETE"))
			delete_restoration(a, id);
		else
			not_allowed(a, "GET, HEAD, DELETE");
	} else if (strcmp(sub, "/events") == 0) {
		if (is(a, "GET"))
			events(a, id);
		else
			not_allowed(a, "GET");
	} else if (strcmp(sub, "/result") == 0 || strncmp(sub, "/input/", 7) == 0) {
		if (is(a, "GET"))
			get_object(a, id, sub[1] == 'r' ? "result" : "input", sub + 7);
		else
			not_allowed(a, "GET, HEAD");
	} else
		not_found(a);
}

void
api_handle(struct api *a, struct http_conn *c, struct http_req *r)
{
	const char *p = r->path;

	a->c = c;
	a->r = r;
	a->t0 = now_mono();
	a->user[0] = '\0';
	a->retry = 0;
	/* behind a reverse proxy on this host, the client is the proxy's
	 * X-Real-IP (rate limits are per client address) */
	snprintf(a->peer, sizeof a->peer, "%s", a->conn_peer);
	if (a->trust_proxy && (strcmp(a->conn_peer, "127.0.0.1") == 0 ||
	    strcmp(a->conn_peer, "::1") == 0 || strcmp(a->conn_peer, "local") == 0)) {
		const char *x = http_header(r, "X-Real-IP");
		if (x != NULL && *x != '\0' && strlen(x) < sizeof a->peer &&
		    strspn(x, "0123456789abcdefABCDEF.:") == strlen(x))
			snprintf(a->peer, sizeof a->peer, "%s", x);
	}
	cors(a);
	if (strcmp(r->method, "OPTIONS") == 0)
		preflight(a);
	else if (strcmp(p, "/healthz") == 0) {
		if (is(a, "GET"))
			healthz(a);
		else
			not_allowed(a, "GET, HEAD");
	} else if (strncmp(p, "/v1/", 4) != 0)
		static_file(a);
#define ROUTE(path, method, fn) \
	else if (strcmp(p, path) == 0) { if (is(a, method)) fn(a); else not_allowed(a, method); }
	ROUTE("/v1/session", "POST", post_session)
	ROUTE("/v1/login", "POST", post_login)
	ROUTE("/v1/logout", "POST", post_logout)
	ROUTE("/v1/account", "POST", post_account)
	ROUTE("/v1/me", "GET", get_me)
	ROUTE("/v1/stripe/webhook", "POST", stripe_webhook)
#undef ROUTE
	else if (strcmp(p, "/v1/openapi.json") == 0) {
		if (is(a, "GET"))
			send_body(a, HTTP_OK, "application/json", NULL, NULL, openapi, sizeof openapi - 1);
		else
			not_allowed(a, "GET, HEAD");
	} else if (strcmp(p, "/v1/billing/checkout") == 0 || strcmp(p, "/v1/billing/portal") == 0) {
		if (is(a, "POST"))
			billing(a, p[12] == 'c');
		else
			not_allowed(a, "POST");
	} else if (strcmp(p, "/v1/restorations") == 0) {
		if (is(a, "GET"))
			list_restorations(a);
		else if (is(a, "POST"))
			post_restoration(a);
		else
			not_allowed(a, "GET, HEAD, POST");
	} else if (strncmp(p, "/v1/restorations/", 17) == 0)
		restoration_routes(a, p + 17);
	else
		not_found(a);
	sodium_memzero(a->token, sizeof a->token);
	access_log(a);
}
