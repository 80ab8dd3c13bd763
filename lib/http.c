/* http.c: HTTP/1.1 for one connection, in the manner of quark's http.c:
 * fixed buffers, every parse step returns a status.
 *
 * The head is read into a fixed buffer (HTTP_HEAD_MAX; more is 431) and
 * copied out before it is parsed in place, so the bytes after it (a body,
 * or the next pipelined request) stay in the read buffer. The parser is
 * strict where leniency lets two parsers disagree about where a request
 * ends (request smuggling, RFC 9112 11.2): lines end in CRLF only, no
 * obsolete line folding, no space before a colon, one Content-Length of
 * plain digits, one Transfer-Encoding which must be "chunked", never
 * both; each refusal closes the connection.
 *
 * Deadlines: a keep-alive connection may sit idle for t.idle seconds; a
 * head must arrive within t.head of its first byte; a body may pause
 * t.read seconds at most and must be complete within t.request. A slow
 * client therefore holds a process for bounded time, and one process
 * serves one connection, so it holds nothing else.
 *
 * Output goes through a buffer that is flushed when it fills, when the
 * response is complete and no further request is waiting in the input,
 * and always before a read could block: pipelined requests are answered
 * in order, in few writes. */
#define _GNU_SOURCE                 /* memmem */
#include <sys/socket.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "util.h"

#define IBUF (64 * 1024)
#define OBUF (16 * 1024)

/* ---- statuses ---- */

static const char *const reasons[] = {
	[HTTP_CONTINUE] = "Continue",
	[HTTP_OK] = "OK", [HTTP_CREATED] = "Created", [HTTP_ACCEPTED] = "Accepted",
	[HTTP_NO_CONTENT] = "No Content", [HTTP_NOT_MODIFIED] = "Not Modified",
	[HTTP_BAD_REQUEST] = "Bad Request", [HTTP_UNAUTHORIZED] = "Unauthorized",
	[HTTP_PAYMENT_REQUIRED] = "Payment Required", [HTTP_FORBIDDEN] = "Forbidden",
	[HTTP_NOT_FOUND] = "Not Found", [HTTP_METHOD_NOT_ALLOWED] = "Method Not Allowed",
	[HTTP_REQUEST_TIMEOUT] = "Request Timeout", [HTTP_CONFLICT] = "Conflict",
	[HTTP_LENGTH_REQUIRED] = "Length Required",
	[HTTP_PAYLOAD_TOO_LARGE] = "Content Too Large",
	[HTTP_UNSUPPORTED_MEDIA_TYPE] = "Unsupported Media Type",
	[HTTP_UNPROCESSABLE] = "Unprocessable Content",
	[HTTP_TOO_MANY_REQUESTS] = "Too Many Requests",
	[HTTP_HEADER_TOO_LARGE] = "Request Header Fields Too Large",
	[HTTP_INTERNAL] = "Internal Server Error", [HTTP_NOT_IMPLEMENTED] = "Not Implemented",
	[HTTP_BAD_GATEWAY] = "Bad Gateway", [HTTP_UNAVAILABLE] = "Service Unavailable",
	[HTTP_VERSION_NOT_SUPPORTED] = "HTTP Version Not Supported",
};

static const char *const codes[] = {
	[HTTP_BAD_REQUEST] = "bad_request", [HTTP_UNAUTHORIZED] = "unauthorized",
	[HTTP_PAYMENT_REQUIRED] = "insufficient_credits", [HTTP_FORBIDDEN] = "forbidden",
	[HTTP_NOT_FOUND] = "not_found", [HTTP_METHOD_NOT_ALLOWED] = "method_not_allowed",
	[HTTP_REQUEST_TIMEOUT] = "timeout", [HTTP_CONFLICT] = "conflict",
	[HTTP_LENGTH_REQUIRED] = "length_required", [HTTP_PAYLOAD_TOO_LARGE] = "too_large",
	[HTTP_UNSUPPORTED_MEDIA_TYPE] = "unsupported_media_type",
	[HTTP_UNPROCESSABLE] = "invalid", [HTTP_TOO_MANY_REQUESTS] = "rate_limited",
	[HTTP_HEADER_TOO_LARGE] = "header_too_large", [HTTP_INTERNAL] = "internal",
	[HTTP_NOT_IMPLEMENTED] = "not_implemented", [HTTP_BAD_GATEWAY] = "upstream",
	[HTTP_UNAVAILABLE] = "unavailable", [HTTP_VERSION_NOT_SUPPORTED] = "http_version",
};

const char *
http_reason(int s)
{
	return s >= 0 && (size_t)s < sizeof reasons / sizeof *reasons && reasons[s] ? reasons[s] : "";
}

const char *
http_code(int s)
{
	return s >= 0 && (size_t)s < sizeof codes / sizeof *codes && codes[s] ? codes[s] : "error";
}

/* STYLE.md 2.3: the exit statuses of lib/ and what they mean to a client.
 * 65 is "your input is wrong" (422); a caller that knows better (402 for
 * credits, 413 for a size) says so itself. */
int
http_status_of(int ex)
{
	static const int map[][2] = {
		{ 0, HTTP_OK },
		{ EX_USAGE, HTTP_BAD_REQUEST },
		{ EX_DATAERR, HTTP_UNPROCESSABLE },
		{ EX_NOINPUT, HTTP_NOT_FOUND },
		{ EX_UNAVAILABLE, HTTP_BAD_GATEWAY },
		{ EX_SOFTWARE, HTTP_INTERNAL },
		{ EX_OSERR, HTTP_INTERNAL },
		{ EX_CANTCREAT, HTTP_INTERNAL },
		{ EX_IOERR, HTTP_INTERNAL },
		{ EX_TEMPFAIL, HTTP_UNAVAILABLE },
		{ EX_NOPERM, HTTP_UNAUTHORIZED },
		{ EX_CONFIG, HTTP_INTERNAL },
	};
	for (size_t i = 0; i < sizeof map / sizeof *map; i++)
		if (map[i][0] == ex)
			return map[i][1];
	return HTTP_INTERNAL;
}

/* ---- the head ---- */

static int
tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* "close", "keep-alive" in a Connection list */
static int
has_token(const char *v, const char *tok)
{
	size_t n = strlen(tok);

	while (*v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		if (strncasecmp(v, tok, n) == 0 && (v[n] == '\0' || v[n] == ',' || v[n] == ' ' ||
		    v[n] == '\t'))
			return 1;
		while (*v && *v != ',')
			v++;
	}
	return 0;
}

int
http_parse_head(char *buf, size_t len, struct http_req *r)
{
	char *p = buf, *end = buf + len, *line, *eol, *v;
	int have_te = 0, have_host = 0;

	memset(r, 0, sizeof *r);
	r->length = -1;
	if (len < 4 || memcmp(end - 4, "\r\n\r\n", 4) != 0)
		return HTTP_BAD_REQUEST;
	/* a NUL, or a CR or LF that is not part of CRLF, ends the discussion */
	for (char *q = buf; q < end; q++)
		if (*q == '\0' || (*q == '\r' && q[1] != '\n') ||
		    (*q == '\n' && (q == buf || q[-1] != '\r')))
			return HTTP_BAD_REQUEST;
	/* request line: METHOD SP target SP HTTP/1.x */
	eol = strstr(p, "\r\n");
	*eol = '\0';
	line = p;
	p = eol + 2;
	r->method = line;
	while (*line >= 'A' && *line <= 'Z')
		line++;
	if (line == r->method || line - r->method > 15 || *line != ' ')
		return HTTP_BAD_REQUEST;
	*line++ = '\0';
	r->target = line;
	while ((unsigned char)*line > 0x20 && (unsigned char)*line < 0x7f)
		line++;
	if (line == r->target || *line != ' ')
		return HTTP_BAD_REQUEST;
	if (line - r->target > HTTP_TARGET_MAX)
		return HTTP_HEADER_TOO_LARGE;
	*line++ = '\0';
	if (strncmp(line, "HTTP/", 5) != 0 || !(line[5] >= '0' && line[5] <= '9') ||
	    line[6] != '.' || !(line[7] >= '0' && line[7] <= '9') || line[8] != '\0')
		return HTTP_BAD_REQUEST;
	if (line[5] != '1' || line[7] > '1')
		return HTTP_VERSION_NOT_SUPPORTED;
	r->minor = line[7] - '0';
	if (r->target[0] == '/') {
		r->path = r->target;
		if ((r->query = strchr(r->target, '?')) != NULL)
			*r->query++ = '\0';
	} else if (strcmp(r->target, "*") == 0 && strcmp(r->method, "OPTIONS") == 0)
		r->path = r->target;
	else
		return HTTP_BAD_REQUEST;          /* absolute-form is for proxies */
	r->head = strcmp(r->method, "HEAD") == 0;
	r->keepalive = r->minor == 1;
	/* fields */
	while (p < end - 2) {
		eol = strstr(p, "\r\n");
		*eol = '\0';
		line = p;
		p = eol + 2;
		if (*line == ' ' || *line == '\t')
			return HTTP_BAD_REQUEST;      /* obs-fold */
		for (v = line; tchar((unsigned char)*v); v++)
			;
		if (v == line || *v != ':')
			return HTTP_BAD_REQUEST;      /* includes space before the colon */
		*v++ = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		for (char *q = v + strlen(v); q > v && (q[-1] == ' ' || q[-1] == '\t'); q--)
			q[-1] = '\0';
		for (char *q = v; *q; q++)
			if ((unsigned char)*q < 0x20 && *q != '\t')
				return HTTP_BAD_REQUEST;
		if (r->nh == HTTP_HEADERS_MAX)
			return HTTP_HEADER_TOO_LARGE;
		r->h[r->nh].name = line;
		r->h[r->nh++].value = v;
		if (strcasecmp(line, "Content-Length") == 0) {
			char *q;
			if (r->length >= 0 || *v == '\0' || strlen(v) > 18)
				return HTTP_BAD_REQUEST;  /* duplicate, empty or absurd */
			for (q = v; *q >= '0' && *q <= '9'; q++)
				;
			if (*q != '\0')
				return HTTP_BAD_REQUEST;
			r->length = strtoll(v, NULL, 10);
		} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
			if (have_te++)
				return HTTP_BAD_REQUEST;
			if (strcasecmp(v, "chunked") != 0)
				return HTTP_NOT_IMPLEMENTED;
			r->chunked = 1;
		} else if (strcasecmp(line, "Host") == 0) {
			if (have_host++)
				return HTTP_BAD_REQUEST;
		} else if (strcasecmp(line, "Connection") == 0) {
			if (has_token(v, "close"))
				r->keepalive = 0;
			else if (has_token(v, "keep-alive"))
				r->keepalive = 1;
		} else if (strcasecmp(line, "Expect") == 0) {
			if (strcasecmp(v, "100-continue") != 0)
				return HTTP_BAD_REQUEST;  /* 417 by the RFC; nobody sends it */
			r->expect = 1;
		}
	}
	if (r->chunked && (r->length >= 0 || r->minor == 0))
		return HTTP_BAD_REQUEST;          /* both framings: smuggling */
	if (r->minor == 1 && !have_host)
		return HTTP_BAD_REQUEST;
	if (r->minor == 0)
		r->expect = 0;
	return 0;
}

const char *
http_header(const struct http_req *r, const char *name)
{
	for (int i = 0; i < r->nh; i++)
		if (strcasecmp(r->h[i].name, name) == 0)
			return r->h[i].value;
	return NULL;
}

/* ---- chunked ---- */

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER,
	CH_TRAILER_LINE, CH_TRAILER_LF, CH_LAST_LF, CH_DONE };

#define CH_LINE_MAX 4096        /* chunk-ext or trailer bytes */

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
http_chunked_feed(struct http_chunked *c, const unsigned char *in, size_t n,
    size_t *used, size_t *doff, size_t *dlen)
{
	size_t i = 0;
	int h;

	*doff = *dlen = *used = 0;
	while (i < n) {
		unsigned char b = in[i];
		switch (c->state) {
		case CH_SIZE:
			if ((h = hexval(b)) >= 0) {
				if (++c->n > 15)
					return HTTP_BAD_REQUEST;   /* 16 hex digits overflow */
				c->left = c->left * 16 + (unsigned)h;
			} else if (c->n == 0)
				return HTTP_BAD_REQUEST;
			else if (b == '\r')
				c->state = CH_SIZE_LF;
			else if (b == ';' || b == ' ' || b == '\t') {
				c->state = CH_EXT;
				c->n = 0;
			} else
				return HTTP_BAD_REQUEST;
			i++;
			break;
		case CH_EXT:                      /* chunk extensions: ignored, bounded */
			if (b == '\r')
				c->state = CH_SIZE_LF;
			else if ((b < 0x20 && b != '\t') || b == 0x7f || ++c->n > CH_LINE_MAX)
				return HTTP_BAD_REQUEST;
			i++;
			break;
		case CH_SIZE_LF:
			if (b != '\n')
				return HTTP_BAD_REQUEST;
			i++;
			c->n = 0;
			c->state = c->left > 0 ? CH_DATA : CH_TRAILER;
			break;
		case CH_DATA: {
			size_t k = n - i;
			if (k > c->left)
				k = (size_t)c->left;
			*doff = i;
			*dlen = k;
			c->left -= k;
			if (c->left == 0)
				c->state = CH_DATA_CR;
			*used = i + k;
			return 0;
		}
		case CH_DATA_CR:
			if (b != '\r')
				return HTTP_BAD_REQUEST;
			c->state = CH_DATA_LF;
			i++;
			break;
		case CH_DATA_LF:
			if (b != '\n')
				return HTTP_BAD_REQUEST;
			c->state = CH_SIZE;
			c->n = 0;
			c->left = 0;
			i++;
			break;
		case CH_TRAILER:                  /* at the start of a trailer line */
			if (b == '\r')
				c->state = CH_LAST_LF;
			else if (b == '\n')
				return HTTP_BAD_REQUEST;
			else
				c->state = CH_TRAILER_LINE;
			i++;
			break;
		case CH_TRAILER_LINE:
			if (b == '\r')
				c->state = CH_TRAILER_LF;
			else if ((b < 0x20 && b != '\t') || ++c->n > CH_LINE_MAX)
				return HTTP_BAD_REQUEST;
			i++;
			break;
		case CH_TRAILER_LF:
			if (b != '\n')
				return HTTP_BAD_REQUEST;
			c->state = CH_TRAILER;
			i++;
			break;
		case CH_LAST_LF:
			if (b != '\n')
				return HTTP_BAD_REQUEST;
			c->state = CH_DONE;
			*used = i + 1;
			return 1;
		default:
			*used = i;
			return 1;
		}
	}
	*used = i;
	return c->state == CH_DONE;
}

/* ---- multipart/form-data ---- */

enum { MP_PREAMBLE, MP_AFTER, MP_HEADERS, MP_DATA, MP_EPILOGUE };

/* a parameter of a header value: name="quoted" or name=token */
static int
param(const char *v, const char *key, char *out, size_t size)
{
	size_t kl = strlen(key);
	const char *p = v;

	*out = '\0';
	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, key, kl) != 0 || p[kl] != '=')
			continue;
		p += kl + 1;
		size_t n = 0;
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (n + 1 >= size)
					return -1;
				out[n++] = *p;
			}
			if (*p != '"')
				return -1;
		} else {
			for (; tchar((unsigned char)*p); p++) {
				if (n + 1 >= size)
					return -1;
				out[n++] = *p;
			}
		}
		out[n] = '\0';
		return 1;
	}
	return 0;
}

int
http_mp_init(struct http_mp *m, const char *ct)
{
	char b[80];
	size_t n;

	memset(m, 0, sizeof *m);
	if (ct == NULL || strncasecmp(ct, "multipart/form-data", 19) != 0 ||
	    (ct[19] != '\0' && ct[19] != ';' && ct[19] != ' '))
		return HTTP_UNSUPPORTED_MEDIA_TYPE;
	/* RFC 2046 5.1.1: 1 to 70 characters, not ending in a space */
	if (param(ct, "boundary", b, sizeof b) != 1 || (n = strlen(b)) == 0 || n > 70 ||
	    b[n - 1] == ' ')
		return HTTP_BAD_REQUEST;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)b[i] < 0x20 || (unsigned char)b[i] > 0x7e)
			return HTTP_BAD_REQUEST;
	memcpy(m->delim, "\r\n--", 4);
	memcpy(m->delim + 4, b, n);
	m->dlen = n + 4;
	m->state = MP_PREAMBLE;
	return 0;
}

/* Parse one part's header block (NUL-terminated, lines CRLF-separated). */
static int
part_head(struct http_mp *m, char *h)
{
	char *line, *eol, *v;
	int disp = 0;

	m->name[0] = m->filename[0] = m->type[0] = '\0';
	for (line = h; *line; line = eol + 2) {
		if ((eol = strstr(line, "\r\n")) == NULL)
			return HTTP_BAD_REQUEST;
		*eol = '\0';
		if ((v = strchr(line, ':')) == NULL)
			return HTTP_BAD_REQUEST;
		*v++ = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		for (char *q = v; *q; q++)
			if ((unsigned char)*q < 0x20 && *q != '\t')
				return HTTP_BAD_REQUEST;
		if (strcasecmp(line, "Content-Disposition") == 0) {
			if (disp++ || strncasecmp(v, "form-data", 9) != 0 ||
			    param(v, "name", m->name, sizeof m->name) != 1 ||
			    param(v, "filename", m->filename, sizeof m->filename) < 0)
				return HTTP_BAD_REQUEST;
		} else if (strcasecmp(line, "Content-Type") == 0) {
			if (strlen(v) >= sizeof m->type)
				return HTTP_BAD_REQUEST;
			memcpy(m->type, v, strlen(v) + 1);
		}
	}
	return disp ? 0 : HTTP_BAD_REQUEST;
}

int
http_mp_feed(struct http_mp *m, const unsigned char *buf, size_t n, size_t *used,
    int (*fn)(void *, enum http_mp_event, const struct http_mp *, const unsigned char *, size_t),
    void *arg)
{
	size_t i = 0;
	const unsigned char *p;
	int rc;

	*used = 0;                   /* on an error too */
	for (;;) {
		switch (m->state) {
		case MP_PREAMBLE:
			/* the first delimiter may open the body without its CRLF */
			if (!m->pre && n >= m->dlen - 2 && memcmp(buf, m->delim + 2, m->dlen - 2) == 0) {
				i = m->dlen - 2;
				m->state = MP_AFTER;
				break;
			}
			if (!m->pre && n < m->dlen - 2 && memcmp(buf, m->delim + 2, n) == 0)
				goto more;
			p = memmem(buf, n, m->delim, m->dlen);
			if (p == NULL) {
				/* keep what could begin a delimiter */
				if (n > m->dlen) {
					i = n - m->dlen;
					m->pre = 1;
				}
				goto more;
			}
			i = (size_t)(p - buf) + m->dlen;
			m->state = MP_AFTER;
			break;
		case MP_AFTER:                    /* "--" ends it all; else padding, CRLF */
			if (n - i < 2)
				goto more;
			if (buf[i] == '-' && buf[i + 1] == '-') {
				i += 2;
				m->state = MP_EPILOGUE;
				*used = n;                /* the epilogue is ignored */
				return 1;
			}
			{
				size_t k = i;
				while (k < n && k - i < 64 && (buf[k] == ' ' || buf[k] == '\t'))
					k++;
				if (k == n && k - i < 64)
					goto more;
				if (n - k < 2)
					goto more;
				if (buf[k] != '\r' || buf[k + 1] != '\n')
					return HTTP_BAD_REQUEST;
				i = k + 2;
			}
			if (++m->parts > HTTP_MP_PARTS_MAX)
				return HTTP_PAYLOAD_TOO_LARGE;
			m->state = MP_HEADERS;
			break;
		case MP_HEADERS: {
			char h[HTTP_MP_HEAD_MAX + 1];
			size_t hl;
			if (n - i >= 2 && buf[i] == '\r' && buf[i + 1] == '\n')
				hl = 0, p = buf + i;      /* no headers at all */
			else if ((p = memmem(buf + i, n - i, "\r\n\r\n", 4)) != NULL)
				hl = (size_t)(p - (buf + i)) + 2;
			else if (n - i > HTTP_MP_HEAD_MAX)
				return HTTP_BAD_REQUEST;
			else
				goto more;
			if (hl > HTTP_MP_HEAD_MAX || memchr(buf + i, '\0', hl) != NULL)
				return HTTP_BAD_REQUEST;
			memcpy(h, buf + i, hl);
			h[hl] = '\0';
			if ((rc = part_head(m, h)) != 0)
				return rc;
			i += hl + 2;
			if ((rc = fn(arg, HTTP_MP_BEGIN, m, NULL, 0)) != 0)
				return rc;
			m->state = MP_DATA;
			break;
		}
		case MP_DATA:
			p = memmem(buf + i, n - i, m->delim, m->dlen);
			if (p == NULL) {
				/* all but a tail that could begin a delimiter is data */
				size_t safe = n - i > m->dlen - 1 ? n - i - (m->dlen - 1) : 0;
				if (safe > 0 && (rc = fn(arg, HTTP_MP_DATA, m, buf + i, safe)) != 0)
					return rc;
				i += safe;
				goto more;
			}
			if (p > buf + i && (rc = fn(arg, HTTP_MP_DATA, m, buf + i,
			    (size_t)(p - (buf + i)))) != 0)
				return rc;
			if ((rc = fn(arg, HTTP_MP_END, m, NULL, 0)) != 0)
				return rc;
			i = (size_t)(p - buf) + m->dlen;
			m->state = MP_AFTER;
			break;
		default:
			*used = n;
			return 1;
		}
	}
more:
	*used = i;
	return 0;
}

/* ---- the connection ---- */

struct http_conn {
	int in, out;
	struct http_timeouts t;
	size_t off, len;             /* unread input: ibuf[off..len) */
	int eof;
	/* the current request's body */
	long long left;              /* Content-Length bytes unread */
	long long got, max;          /* body bytes read; limit (-1 none) */
	int chunked, body_end, expect, minor;
	struct http_chunked ch;
	double deadline;             /* the whole body */
	/* output */
	size_t olen;
	const char *fixed;
	int keep, head_only, status, in_body, dead;
	long long bytes, clen;
	char date[40];
	time_t date_t;
	/* the buffers, last: not cleared (96 KB a process would have to
	 * fault in and zero), only ever read where written */
	unsigned char ibuf[IBUF];
	char head[HTTP_HEAD_MAX + 1];
	unsigned char obuf[OBUF];
};

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int
http_conn_open(int in, int out, const struct http_timeouts *t, struct http_conn **cp)
{
	struct http_conn *c;

	if ((*cp = c = malloc(sizeof *c)) == NULL)
		return EX_OSERR;
	memset(c, 0, offsetof(struct http_conn, ibuf));
	c->in = in;
	c->out = out;
	c->t = *t;
	c->fixed = "";
	c->max = -1;
	c->minor = 1;
	c->body_end = 1;
	return 0;
}

void
http_conn_free(struct http_conn *c)
{
	free(c);
}

void
http_conn_headers(struct http_conn *c, const char *fixed)
{
	c->fixed = fixed != NULL ? fixed : "";
}

int
http_flush(struct http_conn *c)
{
	if (c->dead)
		return -1;
	if (c->olen > 0 && util_write_all(c->out, c->obuf, c->olen) < 0) {
		c->dead = 1;
		c->olen = 0;
		return -1;
	}
	c->olen = 0;
	return 0;
}

static int
out(struct http_conn *c, const void *p, size_t n)
{
	if (c->olen + n > sizeof c->obuf) {
		if (http_flush(c) < 0)
			return -1;
		if (n > sizeof c->obuf) {
			if (util_write_all(c->out, p, n) < 0) {
				c->dead = 1;
				return -1;
			}
			return 0;
		}
	}
	memcpy(c->obuf + c->olen, p, n);
	c->olen += n;
	return 0;
}

/* Read more input before the deadline (absolute, monotonic): >0 bytes
 * appended, 0 end of input, -1 timeout or error. Flushes first: the
 * client may be waiting for our answer before it sends more. */
static ssize_t
more(struct http_conn *c, double deadline)
{
	struct pollfd pfd = { .fd = c->in, .events = POLLIN };
	ssize_t k;

	if (http_flush(c) < 0)
		return -1;
	if (c->off > 0) {
		memmove(c->ibuf, c->ibuf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len == sizeof c->ibuf)
		return -1;
	for (;;) {
		double left = deadline - mono();
		if (left <= 0)
			return -1;
		int r = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		k = read(c->in, c->ibuf + c->len, sizeof c->ibuf - c->len);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k <= 0) {
			c->eof = 1;
			return k == 0 ? 0 : -1;
		}
		c->len += (size_t)k;
		return k;
	}
}

int
http_read_request(struct http_conn *c, struct http_req *r)
{
	double deadline = mono() + c->t.idle;
	size_t scanned = 0, n;
	unsigned char *e;
	int started = 0, rc;

	for (;;) {
		/* tolerate empty lines between requests (RFC 9112 2.2) */
		while (c->off < c->len && (c->ibuf[c->off] == '\r' || c->ibuf[c->off] == '\n') &&
		    !started)
			c->off++;
		n = c->len - c->off;
		if (n > 0 && !started) {
			started = 1;
			deadline = mono() + c->t.head;
		}
		if (n >= 4 && (e = memmem(c->ibuf + c->off + (scanned > 3 ? scanned - 3 : 0),
		    n - (scanned > 3 ? scanned - 3 : 0), "\r\n\r\n", 4)) != NULL) {
			n = (size_t)(e - (c->ibuf + c->off)) + 4;
			break;
		}
		scanned = n;
		if (n > HTTP_HEAD_MAX)
			return HTTP_HEADER_TOO_LARGE;
		if (more(c, deadline) <= 0) {
			if (!started || c->eof)
				return -1;
			return HTTP_REQUEST_TIMEOUT;
		}
	}
	if (n > HTTP_HEAD_MAX)
		return HTTP_HEADER_TOO_LARGE;
	memcpy(c->head, c->ibuf + c->off, n);
	c->head[n] = '\0';
	c->off += n;
	/* the response state starts with the request */
	c->keep = 0;
	c->head_only = 0;
	c->status = 0;
	c->bytes = 0;
	c->in_body = 0;
	c->max = -1;
	c->got = 0;
	c->minor = 1;
	if ((rc = http_parse_head(c->head, n, r)) != 0) {
		c->body_end = 1;
		return rc;
	}
	c->keep = r->keepalive;
	c->head_only = r->head;
	c->minor = r->minor;
	c->chunked = r->chunked;
	c->left = r->length > 0 ? r->length : 0;
	c->body_end = !c->chunked && c->left == 0;
	c->expect = r->expect && !c->body_end;
	memset(&c->ch, 0, sizeof c->ch);
	c->deadline = mono() + c->t.request;
	return 0;
}

void
http_body_limit(struct http_conn *c, long long max)
{
	c->max = max;
}

int
http_body_done(const struct http_conn *c)
{
	return c->body_end;
}

ssize_t
http_read_body(struct http_conn *c, void *buf, size_t cap)
{
	size_t avail, used, doff, dlen, k;
	int rc;

	if (c->body_end)
		return 0;
	if (c->max >= 0 && !c->chunked && c->got + c->left > c->max)
		return -HTTP_PAYLOAD_TOO_LARGE;
	if (c->expect) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		c->expect = 0;
		if (out(c, cont, sizeof cont - 1) < 0 || http_flush(c) < 0)
			return -HTTP_BAD_REQUEST;
	}
	for (;;) {
		avail = c->len - c->off;
		if (avail > 0) {
			if (!c->chunked) {
				k = avail < cap ? avail : cap;
				if ((long long)k > c->left)
					k = (size_t)c->left;
				memcpy(buf, c->ibuf + c->off, k);
				c->off += k;
				c->left -= (long long)k;
				c->got += (long long)k;
				if (c->left == 0)
					c->body_end = 1;
				return (ssize_t)k;
			}
			rc = http_chunked_feed(&c->ch, c->ibuf + c->off, avail < cap ? avail : cap,
			    &used, &doff, &dlen);
			if (rc == HTTP_BAD_REQUEST) {
				c->keep = 0;
				return -HTTP_BAD_REQUEST;
			}
			if (dlen > 0)
				memmove(buf, c->ibuf + c->off + doff, dlen);
			c->off += used;
			c->got += (long long)dlen;
			if (c->max >= 0 && c->got > c->max) {
				c->keep = 0;
				return -HTTP_PAYLOAD_TOO_LARGE;
			}
			if (rc == 1)
				c->body_end = 1;
			if (dlen > 0 || rc == 1)
				return (ssize_t)dlen;
			if (used > 0)
				continue;
		}
		double dl = mono() + c->t.read;
		if (dl > c->deadline)
			dl = c->deadline;
		ssize_t m = more(c, dl);
		if (m == 0) {                     /* the client gave up mid-body */
			c->keep = 0;
			return -HTTP_BAD_REQUEST;
		}
		if (m < 0) {
			c->keep = 0;
			return -HTTP_REQUEST_TIMEOUT;
		}
	}
}

int
http_wait(struct http_conn *c, int ms, int fd)
{
	struct pollfd pfd[2] = { { .fd = c->in, .events = POLLIN }, { .fd = fd, .events = POLLIN } };

	if (http_flush(c) < 0)
		return -1;
	if (poll(pfd, fd >= 0 ? 2 : 1, ms) <= 0)
		return 0;
	if (pfd[0].revents != 0)
		return -1;     /* EOF, error, or a request it should not send yet */
	return 1;
}

static void
date_now(struct http_conn *c)
{
	time_t t = time(NULL);

	if (t != c->date_t) {
		c->date_t = t;
		util_utc(t, "%a, %d %b %Y %H:%M:%S GMT", c->date, sizeof c->date);
	}
}

void
http_begin(struct http_conn *c, int status)
{
	char line[128];
	int n;

	c->status = status;
	c->bytes = 0;
	c->in_body = 0;
	/* a request whose body we did not read ends the connection: what
	 * follows it cannot be told from the next request */
	if (!c->body_end)
		c->keep = 0;
	date_now(c);
	n = snprintf(line, sizeof line, "HTTP/1.%d %d %s\r\nDate: %s\r\nServer: rs-serve\r\n",
	    c->minor, status, http_reason(status), c->date);
	out(c, line, (size_t)n);
	out(c, c->fixed, strlen(c->fixed));
}

void
http_field(struct http_conn *c, const char *name, const char *fmt, ...)
{
	char v[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(v, sizeof v, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof v)
		return;
	/* no header injection, whatever the caller passes */
	for (char *q = v; *q; q++)
		if (*q == '\r' || *q == '\n')
			*q = ' ';
	out(c, name, strlen(name));
	out(c, ": ", 2);
	out(c, v, (size_t)n);
	out(c, "\r\n", 2);
}

void
http_end_head(struct http_conn *c, long long length)
{
	int st = c->status;

	c->clen = length;
	if (length >= 0 && st != HTTP_NO_CONTENT && st != HTTP_NOT_MODIFIED)
		http_field(c, "Content-Length", "%lld", length);
	if (length < 0)
		c->keep = 0;
	if (!c->keep)
		out(c, "Connection: close\r\n", 19);
	else if (c->minor == 0)
		out(c, "Connection: keep-alive\r\n", 24);
	out(c, "\r\n", 2);
	c->in_body = 1;         /* flushed by the next read, or by http_linger */
}

int
http_write(struct http_conn *c, const void *p, size_t n)
{
	c->bytes += (long long)n;
	if (c->head_only || c->status == HTTP_NO_CONTENT || c->status == HTTP_NOT_MODIFIED)
		return c->dead ? -1 : 0;
	return out(c, p, n);
}

void
http_close_after(struct http_conn *c)
{
	c->keep = 0;
}

int
http_keep(const struct http_conn *c)
{
	return c->keep && !c->dead && !c->eof;
}

void
http_linger(struct http_conn *c)
{
	double deadline = mono() + 2;
	struct pollfd pfd = { .fd = c->in, .events = POLLIN };
	char junk[16384];
	long long total = 0;

	if (http_flush(c) < 0)
		return;
	if (c->body_end || c->eof)
		return;
	/* the client may still be sending a body we refused: read it away
	 * for a moment (up to 16 MiB) so its TCP sees no reset before it
	 * reads our answer */
	shutdown(c->out, SHUT_WR);
	while (total < (16LL << 20)) {
		double left = deadline - mono();
		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			break;
		ssize_t k = read(c->in, junk, sizeof junk);
		if (k <= 0)
			break;
		total += k;
	}
}

int
http_last_status(const struct http_conn *c)
{
	return c->status;
}

long long
http_last_bytes(const struct http_conn *c)
{
	return c->bytes;
}
