/* s3.c: signed requests to an S3-compatible bucket over libcurl (s3.h).
 *
 * libcurl 7.88 (Debian 12) signs requests with SigV4 (CURLOPT_AWS_SIGV4
 * "aws:amz:REGION:s3"), but
 *  - it does not send x-amz-content-sha256, which S3 wants on every
 *    request and Ceph RGW insists on; when we send it, curl signs with its
 *    value as the payload hash. Bodies get their real SHA-256 (the server
 *    checks the body against it), requests without one UNSIGNED-PAYLOAD;
 *  - it neither sorts nor encodes the query string of the canonical
 *    request: callers pass it already sorted by name and %-encoded;
 *  - it signs the path as written, so keys are encoded here, segment by
 *    segment, exactly as the server rebuilds the canonical URI.
 * Path-style URLs (ENDPOINT/BUCKET/KEY) work with every S3 server and
 * need no DNS per bucket.
 *
 * Nothing may hang: every request has a connect timeout and a no-progress
 * timeout (LOW_SPEED_TIME; RS_STORE_TIMEOUT). One easy handle per struct
 * s3 keeps the connection alive across requests (curl_easy_reset keeps
 * it). Idempotent requests are retried twice on 5xx and on a dropped
 * keep-alive connection, only when nothing was consumed yet. */
#include <dlfcn.h>
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#define CURL_DISABLE_TYPECHECK       /* the functions are called through a table */
#include <curl/curl.h>
#include <sodium.h>

#include "conf.h"
#include "s3.h"
#include "util.h"

#define S3_BODY_MAX (16u << 20)        /* error and listing answers */
#define S3_ATTEMPTS 3

/* libcurl, loaded on the first request (see s3.h for why) */
#define CURL_FUNCS(X) \
	X(curl_easy_init) X(curl_easy_setopt) X(curl_easy_perform) \
	X(curl_easy_getinfo) X(curl_easy_reset) X(curl_easy_cleanup) \
	X(curl_easy_strerror) X(curl_slist_append) X(curl_slist_free_all)

struct s3 {
	void *lib;                           /* dlopen handle, NULL until used */
	struct {
		CURL *(*curl_easy_init)(void);
		CURLcode (*curl_easy_setopt)(CURL *, CURLoption, ...);
		CURLcode (*curl_easy_perform)(CURL *);
		CURLcode (*curl_easy_getinfo)(CURL *, CURLINFO, ...);
		void (*curl_easy_reset)(CURL *);
		void (*curl_easy_cleanup)(CURL *);
		const char *(*curl_easy_strerror)(CURLcode);
		struct curl_slist *(*curl_slist_append)(struct curl_slist *, const char *);
		void (*curl_slist_free_all)(struct curl_slist *);
	} api;
	CURL *e;
	char name[1100];                     /* s3://BUCKET/PREFIX */
	char bucket[64];
	char prefix[1024];                   /* "PREFIX/" or "" */
	char endpoint[1024];                 /* no trailing '/' */
	const char *endpoint_key;            /* the setting it came from */
	char region[48];
	char sigv4[96];                      /* aws:amz:REGION:s3 */
	char *access, *secret, *token;
	long connect_ms, stall_s;
	int quiet;                           /* no diagnostics (s3_quiet) */
};

/* one transfer's state, for the callbacks */
struct xfer {
	struct s3 *s;
	const struct s3_req *q;
	struct s3_resp *r;
	int sink_rc;                         /* the sink's or our own refusal */
	int consumed;                        /* the sink got bytes: no retry */
};

static int
load(struct s3 *s)
{
	void *h;

	if (s->lib != NULL)
		return 0;
	if ((h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL)) == NULL) {
		warnx("%s: cannot load libcurl (apt install libcurl4): %s", s->name, dlerror());
		return EX_UNAVAILABLE;
	}
#define CURL_LOAD(f) \
	if ((*(void **)&s->api.f = dlsym(h, #f)) == NULL) { \
		warnx("libcurl.so.4: no %s", #f); \
		dlclose(h); \
		return EX_UNAVAILABLE; \
	}
	CURL_FUNCS(CURL_LOAD)
#undef CURL_LOAD
	if ((s->e = s->api.curl_easy_init()) == NULL) {
		warnx("%s: cannot initialise libcurl", s->name);
		dlclose(h);
		return EX_SOFTWARE;
	}
	s->lib = h;
	return 0;
}

static int
bad_setting(const char *key, const char *val, const char *why)
{
	warnx("%s=%s: %s", key, val, why);
	return EX_CONFIG;
}

/* s3://BUCKET[/PREFIX]: bucket names as S3 allows them; the prefix is
 * non-empty segments without "." or "..", stored with a trailing '/' */
static int
parse_url(struct s3 *s, const char *url)
{
	const char *b = url + 5, *p;
	size_t n;

	if (strncmp(url, "s3://", 5) != 0)
		return bad_setting("RS_STORE", url, "expected s3://BUCKET/PREFIX");
	n = strcspn(b, "/");
	if (n < 3 || n > 63 || strspn(b, "abcdefghijklmnopqrstuvwxyz0123456789.-") < n ||
	    b[0] == '.' || b[0] == '-')
		return bad_setting("RS_STORE", url,
		    "the bucket name is 3 to 63 lower-case letters, digits, '.' and '-'");
	memcpy(s->bucket, b, n);
	s->bucket[n] = '\0';
	for (p = b + n; *p == '/'; p++)
		;
	n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		n--;
	if (n + 2 > sizeof s->prefix)
		return bad_setting("RS_STORE", url, "the prefix is too long");
	memcpy(s->prefix, p, n);
	s->prefix[n] = '\0';
	for (const char *seg = s->prefix; n > 0 && seg != NULL; ) {
		size_t k = strcspn(seg, "/");
		if (k == 0 || (k == 1 && seg[0] == '.') || (k == 2 && seg[0] == '.' && seg[1] == '.'))
			return bad_setting("RS_STORE", url, "empty, '.' or '..' in the prefix");
		for (size_t i = 0; i < k; i++)
			if ((unsigned char)seg[i] < 0x20 || seg[i] == 0x7f)
				return bad_setting("RS_STORE", url, "control character in the prefix");
		seg = seg[k] == '/' ? seg + k + 1 : NULL;
	}
	if (n > 0)
		strcat(s->prefix, "/");
	snprintf(s->name, sizeof s->name, "s3://%s%s%.*s", s->bucket, n > 0 ? "/" : "",
	    (int)n, s->prefix);
	return 0;
}

int
s3_open(const struct conf *c, const char *url, struct s3 **sp)
{
	static const char *const ep_keys[] = { "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL" };
	const char *region, *ak, *sk, *tok, *ep = NULL;
	struct s3 *s;
	double stall;
	size_t n;
	int rc;

	*sp = NULL;
	if ((s = calloc(1, sizeof *s)) == NULL) {
		warn("s3");
		return EX_OSERR;
	}
	if ((rc = parse_url(s, url)) != 0)
		goto fail;
	if ((region = conf_str(c, "AWS_REGION", NULL)) == NULL)
		region = conf_str(c, "AWS_DEFAULT_REGION", "us-east-1");
	if (strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(region) ||
	    strlen(region) > 40) {
		rc = bad_setting("AWS_REGION", region, "not a region name");
		goto fail;
	}
	snprintf(s->region, sizeof s->region, "%s", region);
	snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", region);
	for (size_t i = 0; i < 2 && ep == NULL; i++)
		if ((ep = conf_str(c, ep_keys[i], NULL)) != NULL)
			s->endpoint_key = ep_keys[i];
	if (ep == NULL) {                    /* AWS itself */
		snprintf(s->endpoint, sizeof s->endpoint, "https://s3.%s.amazonaws.com", region);
		s->endpoint_key = "AWS_REGION";
	} else if ((strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) ||
	    strpbrk(ep, "?# \t") != NULL) {
		rc = bad_setting(s->endpoint_key, ep, "expected http://HOST[:PORT] or https://…");
		goto fail;
	} else if ((n = strlen(ep)) >= sizeof s->endpoint) {
		rc = bad_setting(s->endpoint_key, ep, "too long");
		goto fail;
	} else {
		memcpy(s->endpoint, ep, n + 1);
		while (n > 0 && s->endpoint[n - 1] == '/')
			s->endpoint[--n] = '\0';
	}
	ak = conf_str(c, "AWS_ACCESS_KEY_ID", NULL);
	sk = conf_str(c, "AWS_SECRET_ACCESS_KEY", NULL);
	if (ak == NULL || sk == NULL) {
		warnx("%s: %s is not set (RS_STORE needs the bucket's keys)", s->name,
		    ak == NULL ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY");
		rc = EX_CONFIG;
		goto fail;
	}
	tok = conf_str(c, "AWS_SESSION_TOKEN", NULL);
	if ((s->access = strdup(ak)) == NULL || (s->secret = strdup(sk)) == NULL ||
	    (tok != NULL && (s->token = strdup(tok)) == NULL)) {
		warn("s3");
		rc = EX_OSERR;
		goto fail;
	}
	if ((rc = conf_seconds(c, "RS_STORE_TIMEOUT", 30, &stall)) != 0)
		goto fail;
	s->stall_s = stall < 1 ? 1 : (long)stall;
	s->connect_ms = s->stall_s < 10 ? s->stall_s * 1000 : 10000;
	*sp = s;
	return 0;
fail:
	s3_close(s);
	return rc;
}

void
s3_close(struct s3 *s)
{
	if (s == NULL)
		return;
	if (s->lib != NULL) {
		s->api.curl_easy_cleanup(s->e);
		dlclose(s->lib);
	}
	if (s->secret != NULL)
		sodium_memzero(s->secret, strlen(s->secret));
	free(s->access);
	free(s->secret);
	free(s->token);
	free(s);
}

void
s3_quiet(struct s3 *s, int on)
{
	s->quiet = on;
}

const char *
s3_name(const struct s3 *s)
{
	return s->name;
}

const char *
s3_prefix(const struct s3 *s)
{
	return s->prefix;
}

char *
s3_encode(const char *s, int slash, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.' || ch == '~' || (slash && ch == '/')) {
			if (o + 1 >= size)
				return NULL;
			out[o++] = (char)ch;
		} else {
			if (o + 3 >= size)
				return NULL;
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	if (o >= size)
		return NULL;
	out[o] = '\0';
	return out;
}

int
s3_xml(const char *xml, const char **from, const char *tag, char *out, size_t size)
{
	char open[80], close[80];
	const char *a, *b, *p;
	size_t o = 0;

	snprintf(open, sizeof open, "<%s>", tag);
	snprintf(close, sizeof close, "</%s>", tag);
	if (xml == NULL || (a = strstr(*from != NULL ? *from : xml, open)) == NULL)
		return -1;
	a += strlen(open);
	if ((b = strstr(a, close)) == NULL)
		return -1;
	*from = b + strlen(close);
	for (p = a; p < b; p++) {
		static const struct { const char *ent; char ch; } ents[] = {
			{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
			{ "&quot;", '"' }, { "&apos;", '\'' } };
		char ch = *p;
		if (ch == '&')
			for (size_t i = 0; i < sizeof ents / sizeof ents[0]; i++)
				if (strncmp(p, ents[i].ent, strlen(ents[i].ent)) == 0) {
					ch = ents[i].ch;
					p += strlen(ents[i].ent) - 1;
					break;
				}
		if (o + 1 >= size)
			return -1;
		out[o++] = ch;
	}
	out[o] = '\0';
	return 0;
}

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct xfer *x = arg;
	struct s3_resp *r = x->r;
	size_t len = sz * n;
	long status = 0;
	char *nb;

	x->s->api.curl_easy_getinfo(x->s->e, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300 && x->q->sink != NULL) {
		x->consumed = 1;
		return (x->sink_rc = x->q->sink(p, len, x->q->arg)) == 0 ? len : 0;
	}
	if (r->len + len > S3_BODY_MAX) {
		warnx("%s: answer larger than %u bytes", x->s->name, S3_BODY_MAX);
		x->sink_rc = EX_PROTOCOL;
		return 0;
	}
	if ((nb = realloc(r->body, r->len + len + 1)) == NULL) {
		warn("%s", x->s->name);
		x->sink_rc = EX_OSERR;
		return 0;
	}
	memcpy(nb + r->len, p, len);
	r->len += len;
	nb[r->len] = '\0';
	r->body = nb;
	return len;
}

static size_t
on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = sz * n, k;

	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)         /* a new answer */
		x->r->etag[0] = '\0';
	else if (len > 5 && strncasecmp(p, "etag:", 5) == 0) {
		for (p += 5, len -= 5; len > 0 && (*p == ' ' || *p == '\t'); p++, len--)
			;
		for (k = len; k > 0 && (p[k - 1] == '\r' || p[k - 1] == '\n' || p[k - 1] == ' '); k--)
			;
		if (k < sizeof x->r->etag) {
			memcpy(x->r->etag, p, k);
			x->r->etag[k] = '\0';
		}
		return sz * n;
	}
	return len;
}

/* a transport failure: temporary unless the setting itself is wrong */
static int
transport(struct s3 *s, CURLcode cc, const char *errbuf)
{
	const char *why = *errbuf != '\0' ? errbuf : s->api.curl_easy_strerror(cc);

	if (s->quiet)
		return cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT ||
		    cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
		    cc == CURLE_SSL_CERTPROBLEM ? EX_CONFIG : cc == CURLE_OUT_OF_MEMORY ? EX_OSERR :
		    EX_TEMPFAIL;

	switch (cc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		warnx("%s: %s=%s: %s", s->name, s->endpoint_key, s->endpoint, why);
		return EX_CONFIG;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		warnx("%s: %s=%s: %s (check the endpoint's TLS certificate)", s->name,
		    s->endpoint_key, s->endpoint, why);
		return EX_CONFIG;
	case CURLE_OUT_OF_MEMORY:
		warnx("%s: %s", s->name, why);
		return EX_OSERR;
	default:
		warnx("%s: cannot reach %s=%s: %s (try again later)", s->name,
		    s->endpoint_key, s->endpoint, why);
		return EX_TEMPFAIL;
	}
}

int
s3_do(struct s3 *s, const struct s3_req *q, struct s3_resp *r)
{
	char url[8192], ekey[4096], sha[96], errbuf[CURL_ERROR_SIZE], hdr[2048];
	struct curl_slist *h = NULL, *t;
	unsigned char d[crypto_hash_sha256_BYTES];
	int rc = 0, has_body = strcmp(q->method, "PUT") == 0 || strcmp(q->method, "POST") == 0;
	struct xfer x = { .s = s, .q = q, .r = r };
	CURLcode cc = CURLE_OK;

	memset(r, 0, sizeof *r);
	r->length = -1;
	if ((rc = load(s)) != 0)
		return rc;
	if (q->key != NULL && s3_encode(q->key, 1, ekey, sizeof ekey) == NULL) {
		warnx("%s: %.80s: key too long", s->name, q->key);
		return EX_SOFTWARE;
	}
	if ((size_t)snprintf(url, sizeof url, "%s/%s%s%s%s%s", s->endpoint, s->bucket,
	    q->key != NULL ? "/" : "", q->key != NULL ? ekey : "",
	    q->query != NULL ? "?" : "", q->query != NULL ? q->query : "") >= sizeof url) {
		warnx("%s: request URL too long", s->name);
		return EX_SOFTWARE;
	}
	if (has_body) {
		crypto_hash_sha256(d, q->body != NULL ? q->body : (const void *)"", q->len);
		memcpy(sha, "x-amz-content-sha256: ", 22);
		util_hex(d, sizeof d, sha + 22);
	} else
		snprintf(sha, sizeof sha, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	/* no "Expect:" to turn 100-continue off: curl 7.88 would sign the
	 * header it then does not send */
	if ((t = s->api.curl_slist_append(h, sha)) == NULL)
		goto nomem;
	h = t;
	if (q->type != NULL) {
		snprintf(hdr, sizeof hdr, "Content-Type: %s", q->type);
		if ((t = s->api.curl_slist_append(h, hdr)) == NULL)
			goto nomem;
		h = t;
	}
	if (s->token != NULL) {
		if ((size_t)snprintf(hdr, sizeof hdr, "x-amz-security-token: %s", s->token) >= sizeof hdr) {
			warnx("%s: AWS_SESSION_TOKEN too long", s->name);
			rc = EX_CONFIG;
			goto out;
		}
		if ((t = s->api.curl_slist_append(h, hdr)) == NULL)
			goto nomem;
		h = t;
	}
	for (int attempt = 0; attempt < S3_ATTEMPTS; attempt++) {
		CURL *e = s->e;
		int retry;

		if (attempt > 0) {
			struct timespec ts = { 0, 100000000L << (2 * (attempt - 1)) };  /* .1 s, .4 s */
			nanosleep(&ts, NULL);
			s3_resp_free(r);
			r->length = -1;
		}
		s->api.curl_easy_reset(e);
		errbuf[0] = '\0';
		s->api.curl_easy_setopt(e, CURLOPT_URL, url);
		s->api.curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
		s->api.curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		s->api.curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
		s->api.curl_easy_setopt(e, CURLOPT_USERAGENT, "rs/" RS_VERSION);
		s->api.curl_easy_setopt(e, CURLOPT_AWS_SIGV4, s->sigv4);
		s->api.curl_easy_setopt(e, CURLOPT_USERNAME, s->access);
		s->api.curl_easy_setopt(e, CURLOPT_PASSWORD, s->secret);
		s->api.curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
		s->api.curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, s->connect_ms);
		s->api.curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
		s->api.curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, s->stall_s);
		s->api.curl_easy_setopt(e, CURLOPT_FILETIME, 1L);
		s->api.curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
		s->api.curl_easy_setopt(e, CURLOPT_WRITEDATA, &x);
		s->api.curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
		s->api.curl_easy_setopt(e, CURLOPT_HEADERDATA, &x);
		s->api.curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
		if (strcmp(q->method, "HEAD") == 0)
			s->api.curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
		else if (has_body) {
			/* as curl -X PUT --data-binary: curl rewinds it itself */
			s->api.curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->len);
			s->api.curl_easy_setopt(e, CURLOPT_POSTFIELDS, q->body != NULL ? q->body : "");
			s->api.curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q->method);
		} else if (strcmp(q->method, "GET") != 0)
			s->api.curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q->method);
		x.sink_rc = 0;
		cc = s->api.curl_easy_perform(e);
		if (cc == CURLE_OK) {
			curl_off_t cl = -1;
			curl_off_t ft = -1;
			s->api.curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
			s->api.curl_easy_getinfo(e, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
			s->api.curl_easy_getinfo(e, CURLINFO_FILETIME_T, &ft);
			r->length = cl;
			r->mtime = ft > 0 ? (time_t)ft : 0;
		}
		if (x.sink_rc != 0) {                /* refused by the sink or by on_body */
			rc = x.sink_rc;
			goto out;
		}
		retry = !x.consumed && strcmp(q->method, "POST") != 0 && attempt + 1 < S3_ATTEMPTS &&
		    (cc == CURLE_OK ? r->status >= 500 && r->status != 501 :
		    cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING);
		if (!retry)
			break;
	}
	if (cc != CURLE_OK) {
		rc = transport(s, cc, errbuf);
		goto out;
	}
	if (r->status >= 300 && r->body != NULL) {
		const char *from = NULL;
		if (s3_xml(r->body, &from, "Code", r->code, sizeof r->code) != 0)
			r->code[0] = '\0';
	}
	rc = 0;
	goto out;
nomem:
	warnx("%s: out of memory", s->name);
	rc = EX_OSERR;
out:
	s->api.curl_slist_free_all(h);
	if (rc != 0)
		s3_resp_free(r);
	return rc;
}

void
s3_resp_free(struct s3_resp *r)
{
	free(r->body);
	memset(r, 0, sizeof *r);
}

int
s3_error(struct s3 *s, const char *what, const struct s3_resp *r)
{
	static const struct { const char *code; int ex; const char *hint; } codes[] = {
		{ "SignatureDoesNotMatch", EX_CONFIG, "check AWS_SECRET_ACCESS_KEY" },
		{ "InvalidAccessKeyId", EX_CONFIG, "check AWS_ACCESS_KEY_ID" },
		{ "AuthorizationHeaderMalformed", EX_CONFIG, "check AWS_REGION" },
		{ "IllegalLocationConstraintException", EX_CONFIG, "check AWS_REGION" },
		{ "InvalidLocationConstraint", EX_CONFIG, "check AWS_REGION" },
		{ "PermanentRedirect", EX_CONFIG, "the bucket is elsewhere: check AWS_REGION and the endpoint" },
		{ "RequestTimeTooSkewed", EX_CONFIG, "check this machine's clock" },
		{ "ExpiredToken", EX_CONFIG, "check AWS_SESSION_TOKEN" },
		{ "InvalidToken", EX_CONFIG, "check AWS_SESSION_TOKEN" },
		{ "InvalidBucketName", EX_CONFIG, "check RS_STORE" },
		{ "AccessDenied", EX_NOPERM, "check the key's permissions on the bucket" },
		{ "AllAccessDisabled", EX_NOPERM, "check the key's permissions on the bucket" },
		{ "NoSuchBucket", EX_NOINPUT, "the bucket does not exist" },
		{ "NoSuchKey", EX_NOINPUT, "no such object" },
		{ "QuotaExceeded", EX_CANTCREAT, "the bucket's quota is full" },
		{ "RequestTimeout", EX_TEMPFAIL, "try again later" },
		{ "SlowDown", EX_TEMPFAIL, "try again later" },
	};
	const char *hint = NULL;
	int ex = -1;

	for (size_t i = 0; i < sizeof codes / sizeof codes[0] && r->code[0] != '\0'; i++)
		if (strcmp(r->code, codes[i].code) == 0) {
			ex = codes[i].ex;
			hint = codes[i].hint;
		}
	if (ex < 0) {
		if (r->status >= 500 || r->status == 429 || r->status == 408) {
			ex = EX_TEMPFAIL;
			hint = "try again later";
		} else if (r->status == 401 || r->status == 403) {
			ex = EX_CONFIG;
			hint = "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
		} else if (r->status == 404) {
			ex = EX_NOINPUT;
			hint = "not found";
		} else if (r->status == 301 || r->status == 307) {
			ex = EX_CONFIG;
			hint = "the bucket is elsewhere: check AWS_REGION and the endpoint";
		} else
			ex = EX_PROTOCOL;
	}
	/* a setting's fault is the store's, not one request's */
	if (!s->quiet && (ex == EX_CONFIG || what == NULL))
		warnx("%s: %ld%s%s%s%s", s->name, r->status, r->code[0] != '\0' ? " " : "", r->code,
		    hint != NULL ? ": " : "", hint != NULL ? hint : "");
	else if (!s->quiet)
		warnx("%s: %s: %ld%s%s%s%s", s->name, what, r->status, r->code[0] != '\0' ? " " : "",
		    r->code, hint != NULL ? ": " : "", hint != NULL ? hint : "");
	return ex;
}

int
s3_create_bucket(struct s3 *s)
{
	char body[512] = "";
	struct s3_req q = { .method = "PUT" };
	struct s3_resp r;
	int rc;

	if (strcmp(s->region, "us-east-1") != 0) {    /* AWS's default region takes none */
		snprintf(body, sizeof body, "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/"
		    "doc/2006-03-01/\"><LocationConstraint>%s</LocationConstraint>"
		    "</CreateBucketConfiguration>", s->region);
		q.type = "application/xml";
	}
	q.body = body;
	q.len = strlen(body);
	if ((rc = s3_do(s, &q, &r)) != 0)
		return rc;
	if (r.status == 200 || strcmp(r.code, "BucketAlreadyOwnedByYou") == 0)
		rc = 0;
	else if (strcmp(r.code, "BucketAlreadyExists") == 0) {
		warnx("%s: the bucket name belongs to another account: check RS_STORE", s->name);
		rc = EX_CONFIG;
	} else
		rc = s3_error(s, "create bucket", &r);
	s3_resp_free(&r);
	return rc;
}
