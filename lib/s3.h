/* s3.h: signed requests to one bucket of an S3-compatible service, for
 * lib/store_s3.c. Path-style URLs (ENDPOINT/BUCKET/KEY), AWS Signature
 * V4 computed by libcurl (CURLOPT_AWS_SIGV4), an x-amz-content-sha256
 * header on every request, a connect timeout and a no-progress timeout
 * on every request, and one keep-alive connection per struct s3.
 *
 * libcurl is loaded with dlopen(3) on the first request, so a program
 * that never talks to S3 does not pay for it at every exec (rs-serve runs
 * once per connection; linking libcurl costs each exec ~8 ms).
 *
 * Settings (environment first, then rs.conf; see conf.h):
 *   RS_STORE=s3://BUCKET[/PREFIX]    the bucket and the key prefix
 *   AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else AWS's own endpoint
 *   AWS_REGION (else AWS_DEFAULT_REGION, else us-east-1)
 *   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional)
 *   RS_STORE_TIMEOUT  no progress for this long abandons a request (30s)
 *
 * Functions return 0 or an EX_* status, having printed one diagnostic
 * that begins with the store's name ("s3://BUCKET/PREFIX: "). */
#ifndef RS_S3_H
#define RS_S3_H

#include <stddef.h>
#include <time.h>

struct conf;
struct s3;                                   /* opaque */

struct s3_req {
	const char *method;          /* GET HEAD PUT POST DELETE */
	const char *key;             /* object key, unencoded; NULL: the bucket */
	const char *query;           /* sorted by name, %-encoded (s3_encode),
	                              * without '?'; NULL if none */
	const void *body;            /* PUT/POST body (borrowed), len bytes */
	size_t len;
	const char *type;            /* Content-Type of the body, or NULL */
	/* A 2xx response's body goes to sink when set (a non-zero return
	 * stops the transfer and becomes s3_do's status), else into
	 * s3_resp.body. Error bodies always go to s3_resp.body. */
	int (*sink)(const void *p, size_t n, void *arg);
	void *arg;
};

struct s3_resp {
	long status;                 /* HTTP status */
	char *body;                  /* malloc'd, NUL-terminated; may be NULL */
	size_t len;
	long long length;            /* Content-Length received, -1 if none */
	time_t mtime;                /* Last-Modified, 0 if none */
	char etag[128];              /* ETag, quotes kept, "" if none */
	char code[64];               /* the error's <Code>, "" if none */
};

/* Parse url (s3://BUCKET[/PREFIX]) and read the AWS settings from c.
 * EX_CONFIG naming the setting that is missing or malformed. */
int  s3_open(const struct conf *c, const char *url, struct s3 **sp);
void s3_close(struct s3 *s);                     /* NULL is fine */
const char *s3_name(const struct s3 *s);         /* "s3://BUCKET/PREFIX" */
void s3_quiet(struct s3 *s, int on);             /* 1: statuses without diagnostics */
const char *s3_prefix(const struct s3 *s);       /* "PREFIX/" or "" */
/* One request. 0 when an HTTP response came back (any status: look at
 * r->status; free r with s3_resp_free); else the transport's status,
 * diagnosed: EX_TEMPFAIL when the endpoint cannot be reached, stalls or
 * drops the connection, EX_CONFIG for a malformed endpoint or a TLS
 * certificate that does not verify. 5xx answers and dropped keep-alive
 * connections are retried twice, briefly, when nothing was consumed. */
int  s3_do(struct s3 *s, const struct s3_req *q, struct s3_resp *r);
void s3_resp_free(struct s3_resp *r);
/* Diagnose an HTTP error answer to "what" and return its status:
 * EX_CONFIG for credentials, region, clock or bucket name (naming the
 * setting to check), EX_NOPERM for AccessDenied, EX_NOINPUT for a
 * missing key or bucket, EX_TEMPFAIL for 5xx, 429 and throttling,
 * EX_PROTOCOL for the rest. */
int  s3_error(struct s3 *s, const char *what, const struct s3_resp *r);
/* Create the bucket (in AWS_REGION); one that is already ours is fine. */
int  s3_create_bucket(struct s3 *s);
/* %-encode s (unreserved characters kept; '/' kept when slash) into
 * out. Returns out, or NULL when size is too small. */
char *s3_encode(const char *s, int slash, char *out, size_t size);
/* The text of the first <tag> element at or after *from in xml, entities
 * decoded, into out; *from moves past it. 0, or -1 when there is none
 * (or it does not fit). */
int  s3_xml(const char *xml, const char **from, const char *tag, char *out, size_t size);

#endif
