/* api.c: the routes of rs-serve: the core every request goes through
 * (responses, errors, authentication, the access log, routing), health
 * and the web app's static files. Accounts are in api_account.c,
 * restorations in api_restore.c, billing in api_billing.c; api_int.h is
 * what they share.
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
 * reach a path, so nothing escapes the spool. */
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
#include "api_int.h"
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

static const char openapi[] =
#include "openapi.inc"
    ;

/* ---- small things ---- */

double
api_now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double
api_conf_num(struct conf *c, const char *key, double def)
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
 * client too. api_quiet() hushes expected misses (a guessed id). */
void
api_quiet(struct api *a, int on)
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

void
api_capture_begin(struct capture *k)
{
	memset(k, 0, sizeof *k);
	fflush(stderr);
	if ((k->f = open_memstream(&k->buf, &k->len)) != NULL) {
		k->saved = stderr;
		stderr = k->f;
	}
}

void
api_capture_end(struct capture *k, char *msg, size_t size)
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

void
api_common(struct api *a)
{
	if (a->origin[0] != '\0') {
		http_field(a->c, "Access-Control-Allow-Origin", "%s", a->origin);
		http_field(a->c, "Access-Control-Expose-Headers",
		    "Location, Retry-After, ETag, Content-Length");
		http_field(a->c, "Vary", "Origin");
	}
}

void
api_send_body(struct api *a, int status, const char *type, const char *extra_name,
    const char *extra, const void *body, size_t len)
{
	http_begin(a->c, status);
	api_common(a);
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
void
api_reply(struct api *a, int status, jv v, const char *extra_name, const char *extra)
{
	jv s = jv_dump_string(v, 0);
	const char *p = jv_string_value(s);
	size_t n = strlen(p);
	char *b = malloc(n + 1);

	if (b == NULL) {
		jv_free(s);
		http_close_after(a->c);
		api_send_body(a, HTTP_INTERNAL, NULL, NULL, NULL, "", 0);
		return;
	}
	memcpy(b, p, n);
	b[n] = '\n';
	jv_free(s);
	api_send_body(a, status, "application/json", extra_name, extra, b, n + 1);
	free(b);
}

void
api_fail(struct api *a, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	api_reply(a, status, JV_OBJECT(jv_string("error"), JV_OBJECT(
	    jv_string("code"), jv_string(code != NULL ? code : http_code(status)),
	    jv_string("message"), jv_string(msg))), NULL, NULL);
}

/* An error from a lib/ status. */
void
api_fail_ex(struct api *a, int rc, const char *what)
{
	int s = http_status_of(rc);

	if (s == HTTP_UNAVAILABLE && a->retry <= 0)
		a->retry = 2;
	api_fail(a, s, NULL, "%s", s >= 500 && s != HTTP_BAD_GATEWAY && s != HTTP_UNAVAILABLE ?
	    "internal error" : what);
}

static void
not_allowed(struct api *a, const char *allow)
{
	api_reply(a, HTTP_METHOD_NOT_ALLOWED, JV_OBJECT(jv_string("error"), JV_OBJECT(
	    jv_string("code"), jv_string("method_not_allowed"),
	    jv_string("message"), jv_string("method not allowed here"))), "Allow", allow);
}

void
api_not_found(struct api *a)
{
	api_fail(a, HTTP_NOT_FOUND, NULL, "no such resource");
}

/* ---- opening things on first use ---- */

int
api_need_ledger(struct api *a)
{
	int rc;

	if (a->lg == NULL && (rc = ledger_open(a->spool_dir, 1, &a->lg)) != 0) {
		api_fail_ex(a, rc, "database");
		return -1;
	}
	return 0;
}

int
api_need_spool(struct api *a)
{
	int rc;

	if ((a->sp == NULL && (rc = spool_open(a->spool_dir, 1, &a->sp)) != 0) ||
	    (a->st == NULL && (rc = store_open(a->spool_dir, 1, &a->st)) != 0)) {
		api_fail_ex(a, rc, "spool");
		return -1;
	}
	return 0;
}

int
api_open(const char *peer, const char *argv0, struct api **ap)
{
	struct api *a;
	const char *csp;
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
	a->t.idle = api_conf_num(a->conf, "RS_IDLE_TIMEOUT", 15);
	a->t.head = api_conf_num(a->conf, "RS_HEAD_TIMEOUT", 10);
	a->t.read = api_conf_num(a->conf, "RS_READ_TIMEOUT", 30);
	a->t.request = api_conf_num(a->conf, "RS_REQUEST_TIMEOUT", 600);
	a->sse_poll = api_conf_num(a->conf, "RS_SSE_POLL", 0.2);
	a->sse_ping = api_conf_num(a->conf, "RS_SSE_PING", 15);
	a->sse_max = api_conf_num(a->conf, "RS_SSE_MAX", 3600);
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
	    jv_string("ms"), jv_number(round((api_now_mono() - a->t0) * 10000) / 10));
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
	a->t0 = api_now_mono();
	a->user[0] = a->origin[0] = '\0';
	http_close_after(c);
	api_fail(a, status, NULL, "%s", status == HTTP_HEADER_TOO_LARGE ? "request head too large" :
	    status == HTTP_REQUEST_TIMEOUT ? "request too slow" : "malformed request");
	access_log(a);
}

/* ---- request helpers ---- */

/* The value of query parameter key, percent-decoded, into out. */
int
api_query(struct api *a, const char *key, char *out, size_t size)
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
int
api_auth(struct api *a, jv *tok)
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
		api_query(a, "access_token", a->token, sizeof a->token);
	if (a->token[0] == '\0') {
		api_fail(a, HTTP_UNAUTHORIZED, "unauthorized", "a bearer token is required");
		return -1;
	}
	if (api_need_ledger(a) != 0)
		return -1;
	if ((rc = ledger_token_verify(a->lg, a->token, &t)) != 0) {
		if (rc == EX_NOPERM)
			api_fail(a, HTTP_UNAUTHORIZED, "unauthorized", "the token is unknown, expired or revoked");
		else
			api_fail_ex(a, rc, "token");
		return -1;
	}
	snprintf(a->user, sizeof a->user, "%s", json_str(t, "user"));
	*tok = t;
	return 0;
}

/* The body of a JSON request: an object (an empty body is {}). */
int
api_body_json(struct api *a, jv *out)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t k;
	jv v;

	*out = jv_invalid();
	if (a->r->length > JSON_MAX) {
		api_fail(a, HTTP_PAYLOAD_TOO_LARGE, NULL, "a JSON body of at most %d bytes", JSON_MAX);
		return -1;
	}
	if ((buf = malloc(JSON_MAX + 1)) == NULL) {
		api_fail(a, HTTP_INTERNAL, NULL, "out of memory");
		return -1;
	}
	http_body_limit(a->c, JSON_MAX);
	while ((k = http_read_body(a->c, buf + len, JSON_MAX + 1 - len)) > 0)
		len += (size_t)k;
	if (k < 0) {
		free(buf);
		api_fail(a, (int)-k, NULL, "could not read the body");
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
		api_fail(a, HTTP_BAD_REQUEST, "bad_json", "the body must be a JSON object");
		return -1;
	}
	*out = v;
	return 0;
}

/* The directory of the executable, "" if unknown, found on first use
 * (most requests need none of the programs beside it). */
const char *
api_self(struct api *a)
{
	char exe[PATH_MAX], *p;
	ssize_t n;

	if (!a->self_known) {
		a->self_known = 1;
		if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) > 0) {
			exe[n] = '\0';
			if ((p = strrchr(exe, '/')) != NULL)
				*p = '\0';
			snprintf(a->self, sizeof a->self, "%s", exe);
		}
	}
	return a->self;
}

static void
period_now(char out[8])
{
	util_utc(time(NULL), "%Y-%m", out, 8);
}

/* The free plan's allowance for this month, once (see the top). */
int
api_free_allowance(struct api *a, jv user)
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

/* ---- the rest ---- */

static void
healthz(struct api *a)
{
	jv u;
	int rc;

	if (api_need_spool(a) != 0 || api_need_ledger(a) != 0)
		return;
	api_quiet(a, 1);
	rc = ledger_user_get(a->lg, "healthz-probe", &u);
	api_quiet(a, 0);
	jv_free(u);
	if (rc != 0 && rc != EX_NOINPUT) {
		a->retry = 5;
		api_fail(a, HTTP_UNAVAILABLE, NULL, "the database is not answering");
		return;
	}
	api_reply(a, HTTP_OK, JV_OBJECT(jv_string("ok"), jv_true(), jv_string("version"),
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
	else if (*api_self(a) != '\0' && snprintf(cand, sizeof cand, "%s/../web", a->self) > 0 &&
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
		api_common(a);
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
		api_common(a);
		http_field(a->c, "ETag", "%s", etag);
		http_end_head(a->c, 0);
		return;
	}
	http_begin(a->c, HTTP_OK);
	api_common(a);
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
	api_not_found(a);
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
	api_common(a);
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
		api_not_found(a);
		return;
	}
	memcpy(id, rest, n);
	id[n] = '\0';
	if (*sub == '\0') {
		if (is(a, "GET"))
			api_get_restoration(a, id);
		else if (is(a, "DELETE"))
			api_delete_restoration(a, id);
		else
			not_allowed(a, "GET, HEAD, DELETE");
	} else if (strcmp(sub, "/events") == 0) {
		if (is(a, "GET"))
			api_events(a, id);
		else
			not_allowed(a, "GET");
	} else if (strcmp(sub, "/result") == 0 || strncmp(sub, "/input/", 7) == 0) {
		if (is(a, "GET"))
			api_get_object(a, id, sub[1] == 'r' ? "result" : "input", sub + 7);
		else
			not_allowed(a, "GET, HEAD");
	} else
		api_not_found(a);
}

void
api_handle(struct api *a, struct http_conn *c, struct http_req *r)
{
	const char *p = r->path;

	a->c = c;
	a->r = r;
	a->t0 = api_now_mono();
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
	ROUTE("/v1/session", "POST", api_post_session)
	ROUTE("/v1/login", "POST", api_post_login)
	ROUTE("/v1/logout", "POST", api_post_logout)
	ROUTE("/v1/account", "POST", api_post_account)
	ROUTE("/v1/me", "GET", api_get_me)
	ROUTE("/v1/stripe/webhook", "POST", api_stripe_webhook)
#undef ROUTE
	else if (strcmp(p, "/v1/openapi.json") == 0) {
		if (is(a, "GET"))
			api_send_body(a, HTTP_OK, "application/json", NULL, NULL, openapi, sizeof openapi - 1);
		else
			not_allowed(a, "GET, HEAD");
	} else if (strcmp(p, "/v1/billing/checkout") == 0 || strcmp(p, "/v1/billing/portal") == 0) {
		if (is(a, "POST"))
			api_billing(a, p[12] == 'c');
		else
			not_allowed(a, "POST");
	} else if (strcmp(p, "/v1/restorations") == 0) {
		if (is(a, "GET"))
			api_list_restorations(a);
		else if (is(a, "POST"))
			api_post_restoration(a);
		else
			not_allowed(a, "GET, HEAD, POST");
	} else if (strncmp(p, "/v1/restorations/", 17) == 0)
		restoration_routes(a, p + 17);
	else
		api_not_found(a);
	sodium_memzero(a->token, sizeof a->token);
	access_log(a);
}

