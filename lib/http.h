/* http.h: HTTP/1.1 for one connection on two file descriptors (a
 * super-server's socket on 0 and 1): the request-head parser, request
 * bodies (Content-Length or chunked, Expect: 100-continue), the streaming
 * multipart/form-data parser, the response writer, and the one table that
 * maps exit statuses to HTTP statuses. The long story is in http.c.
 * The parsers are pure functions over buffers (fuzz/fuzz-http.c drives
 * them); only struct http_conn does I/O. Status returns are HTTP codes. */
#ifndef RS_HTTP_H
#define RS_HTTP_H

#include <stddef.h>
#include <sys/types.h>

#define HTTP_HEAD_MAX    16384     /* request line and headers → 431 */
#define HTTP_HEADERS_MAX 64        /* header fields → 431 */
#define HTTP_TARGET_MAX  4096      /* request target → 414 would do; we say 431 */

enum http_status {
	HTTP_CONTINUE = 100,
	HTTP_OK = 200, HTTP_CREATED = 201, HTTP_ACCEPTED = 202, HTTP_NO_CONTENT = 204,
	HTTP_NOT_MODIFIED = 304,
	HTTP_BAD_REQUEST = 400, HTTP_UNAUTHORIZED = 401, HTTP_PAYMENT_REQUIRED = 402,
	HTTP_FORBIDDEN = 403, HTTP_NOT_FOUND = 404, HTTP_METHOD_NOT_ALLOWED = 405,
	HTTP_REQUEST_TIMEOUT = 408, HTTP_CONFLICT = 409, HTTP_LENGTH_REQUIRED = 411,
	HTTP_PAYLOAD_TOO_LARGE = 413, HTTP_UNSUPPORTED_MEDIA_TYPE = 415,
	HTTP_UNPROCESSABLE = 422, HTTP_TOO_MANY_REQUESTS = 429,
	HTTP_HEADER_TOO_LARGE = 431,
	HTTP_INTERNAL = 500, HTTP_NOT_IMPLEMENTED = 501, HTTP_BAD_GATEWAY = 502,
	HTTP_UNAVAILABLE = 503, HTTP_VERSION_NOT_SUPPORTED = 505,
};

const char *http_reason(int status);          /* "Not Found"; "" if unknown */
const char *http_code(int status);            /* "not_found": the JSON error code */
/* The one table: an EX_* status (sysexits.h, STYLE.md 2.3) → HTTP status. */
int         http_status_of(int ex);

/* ---- request head ---- */
struct http_header { const char *name, *value; };
struct http_req {
	char *method, *target, *path, *query;  /* into the parsed buffer; query NULL if none */
	int minor;                   /* HTTP/1.minor: 0 or 1 */
	struct http_header h[HTTP_HEADERS_MAX];
	int nh;
	long long length;            /* Content-Length; -1 when absent */
	int chunked;                 /* Transfer-Encoding: chunked */
	int keepalive;               /* the client wants the connection kept */
	int expect;                  /* Expect: 100-continue */
	int head;                    /* method HEAD: no body in the response */
};
/* Parse buf[0..len), a complete head ending in CRLF CRLF, in place (NULs
 * are written into buf; r points into it). 0, or 400, 431, 501, 505. */
int         http_parse_head(char *buf, size_t len, struct http_req *r);
/* The value of header name (case-insensitive); NULL if absent. Borrowed. */
const char *http_header(const struct http_req *r, const char *name);

/* ---- chunked transfer coding (RFC 9112 7.1), incrementally ---- */
struct http_chunked { int state; unsigned long long left; size_t n; };
/* Consume in[0..n). Returns 0 (more input needed, or *dlen data bytes at
 * in + *doff), 1 when the last chunk and trailers are consumed, or 400.
 * *used is how much of in was consumed, data included; feed the rest
 * again. */
int         http_chunked_feed(struct http_chunked *c, const unsigned char *in, size_t n,
                size_t *used, size_t *doff, size_t *dlen);

/* ---- multipart/form-data (RFC 7578), incrementally ---- */
#define HTTP_MP_HEAD_MAX 4096      /* one part's headers */
#define HTTP_MP_PARTS_MAX 8
enum http_mp_event { HTTP_MP_BEGIN, HTTP_MP_DATA, HTTP_MP_END };
struct http_mp {
	char delim[80];              /* "\r\n--" boundary */
	size_t dlen;
	int state, parts;
	int pre;                     /* preamble bytes consumed: no CRLF-less start now */
	char name[64], filename[256], type[128];   /* of the current part */
};
/* From a Content-Type value: 0, or 415 (not multipart/form-data) or 400
 * (no usable boundary). */
int         http_mp_init(struct http_mp *m, const char *content_type);
/* Consume buf[0..n): returns 0 having consumed *used bytes (feed the rest
 * again with more input; a buffer of HTTP_MP_HEAD_MAX + 100 bytes always
 * makes progress), 1 after the closing delimiter, 400 for malformed input,
 * 413 for too many parts, or fn's non-zero return. fn sees each part's
 * begin (name, filename, type set), its data in pieces, and its end. */
int         http_mp_feed(struct http_mp *m, const unsigned char *buf, size_t n, size_t *used,
                int (*fn)(void *arg, enum http_mp_event ev, const struct http_mp *m,
                    const unsigned char *p, size_t len), void *arg);

/* ---- the connection ---- */
struct http_conn;                                   /* opaque: buffers, deadlines */
struct http_timeouts {
	double idle;                 /* waiting for a request to begin (keep-alive) */
	double head;                 /* from its first byte to the end of the head */
	double read;                 /* the longest wait for more body bytes */
	double request;              /* a whole request body */
};
int  http_conn_open(int in, int out, const struct http_timeouts *t, struct http_conn **cp);
void http_conn_free(struct http_conn *c);           /* NULL is fine */
/* Read the next request into *r (valid until the next call). 0: a
 * request; -1: the client closed or stayed idle (just close); else an
 * HTTP status to answer before closing (400, 408, 431, 501, 505). */
int  http_read_request(struct http_conn *c, struct http_req *r);
/* The body of the current request: up to cap bytes into buf. Returns
 * the count, 0 at its end, or -status (400 malformed, 408 too slow, 413
 * beyond max, set by http_body_limit). Sends 100 Continue when asked. */
ssize_t http_read_body(struct http_conn *c, void *buf, size_t cap);
void http_body_limit(struct http_conn *c, long long max);   /* -1: none */
int  http_body_done(const struct http_conn *c);     /* 1 if all of it was read */
/* Wait up to ms milliseconds for input or hang-up on the connection, or
 * for fd (-1: none) to become readable: -1 the peer closed (or sent
 * something), 1 fd is readable, 0 timeout. For long responses (SSE). */
int  http_wait(struct http_conn *c, int ms, int fd);

/* Responses. http_begin writes the status line, Date, Server and
 * c's fixed headers (http_conn_headers); add fields, then http_end_head
 * with the body length (-1: the connection closes after the body).
 * Output is buffered and flushed before the next read blocks, so
 * pipelined requests are answered in order with few writes. */
void http_conn_headers(struct http_conn *c, const char *fixed); /* CRLF-ended lines; borrowed */
void http_begin(struct http_conn *c, int status);
void http_field(struct http_conn *c, const char *name, const char *fmt, ...)
         __attribute__((format(printf, 3, 4)));
void http_end_head(struct http_conn *c, long long length);
int  http_write(struct http_conn *c, const void *p, size_t n);  /* 0 or -1 (peer gone) */
int  http_flush(struct http_conn *c);                           /* 0 or -1 */
void http_close_after(struct http_conn *c);         /* no keep-alive after this response */
int  http_keep(const struct http_conn *c);          /* 1 if another request may follow */
/* After the last response: flush, half-close, and read away what the
 * client still sends for a moment, so it sees the response, not a reset. */
void http_linger(struct http_conn *c);
/* For the access log: status and body bytes of the last response. */
int  http_last_status(const struct http_conn *c);
long long http_last_bytes(const struct http_conn *c);

#endif
