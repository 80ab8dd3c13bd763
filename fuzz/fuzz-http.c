/* fuzz-http: libFuzzer targets for lib/http.c's parsers.
 *
 * Built twice (make fuzz):
 *   fuzz/fuzz-http       the request head, chunked bodies, and a whole
 *                        connection (pipelined requests and bodies read
 *                        through a pipe, as rs-serve reads its socket);
 *   fuzz/fuzz-multipart  multipart/form-data: the first line is the
 *                        Content-Type, the rest the body. The body is
 *                        parsed whole and again in pieces whose sizes come
 *                        from the input; both must give the same parts,
 *                        bytes and verdict (a differential check of the
 *                        streaming logic), and a parser given a buffer of
 *                        HTTP_MP_HEAD_MAX + 100 bytes must always progress.
 * A broken invariant aborts, naming its line. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"

#define CHECK(x) do { if (!(x)) { fprintf(stderr, "fuzz-http.c:%d: %s\n", __LINE__, #x); \
	abort(); } } while (0)

#ifndef FUZZ_MULTIPART

static void
head(const uint8_t *data, size_t size)
{
	static char buf[HTTP_HEAD_MAX + 1];
	struct http_req r;
	const uint8_t *e = NULL;
	size_t n;

	for (size_t i = 0; i + 4 <= size; i++)
		if (memcmp(data + i, "\r\n\r\n", 4) == 0) {
			e = data + i + 4;
			break;
		}
	n = e != NULL ? (size_t)(e - data) : size;
	if (n > HTTP_HEAD_MAX)
		return;
	memcpy(buf, data, n);
	buf[n] = '\0';
	if (http_parse_head(buf, n, &r) == 0) {
		CHECK(r.method >= buf && r.method < buf + n);
		CHECK(r.path >= buf && r.path < buf + n);
		CHECK(r.minor == 0 || r.minor == 1);
		CHECK(!(r.chunked && r.length >= 0));
		for (int i = 0; i < r.nh; i++)
			CHECK(r.h[i].name >= buf && r.h[i].value < buf + n);
	}
	if (e == NULL)
		return;
	/* the rest as a chunked body, fed in pieces of 1..17 bytes */
	struct http_chunked c = { 0 };
	const uint8_t *p = e, *end = data + size;
	size_t total = 0;
	while (p < end) {
		size_t k = 1 + (size_t)(*p % 17), used, off, len;
		if (k > (size_t)(end - p))
			k = (size_t)(end - p);
		int rc = http_chunked_feed(&c, p, k, &used, &off, &len);
		CHECK(used <= k);
		CHECK(off + len <= used);
		total += len;
		if (rc != 0)
			break;
		CHECK(used > 0);
		p += used;
	}
	(void)total;
}

/* The whole connection: the input through a pipe; answers go nowhere. */
static void
conn(const uint8_t *data, size_t size)
{
	static char body[4096];
	struct http_timeouts t = { 0.5, 0.5, 0.5, 0.5 };
	struct http_conn *c;
	struct http_req r;
	int fd[2], out;

	if (size > 60000 || pipe(fd) < 0)
		return;
	if ((out = open("/dev/null", O_WRONLY)) < 0) {
		close(fd[0]);
		close(fd[1]);
		return;
	}
	if (write(fd[1], data, size) != (ssize_t)size) {
		close(fd[0]);
		close(fd[1]);
		close(out);
		return;
	}
	close(fd[1]);
	if (http_conn_open(fd[0], out, &t, &c) == 0) {
		for (int n = 0; n < 64; n++) {
			int rc = http_read_request(c, &r);
			if (rc != 0)
				break;
			http_body_limit(c, 100000);
			ssize_t k;
			while ((k = http_read_body(c, body, sizeof body)) > 0)
				CHECK((size_t)k <= sizeof body);
			http_begin(c, 200);
			http_field(c, "X", "%s", r.path);
			http_end_head(c, 2);
			http_write(c, "ok", 2);
			if (k < 0 || !http_keep(c))
				break;
		}
		http_flush(c);
		http_conn_free(c);
	}
	close(fd[0]);
	close(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	head(data, size);
	conn(data, size);
	return 0;
}

#else

struct out { char *s; size_t n, cap; };

static void
put(struct out *o, const void *p, size_t n)
{
	if (o->n + n > o->cap) {
		o->cap = (o->n + n) * 2 + 64;
		CHECK((o->s = realloc(o->s, o->cap)) != NULL);
	}
	memcpy(o->s + o->n, p, n);
	o->n += n;
}

struct ctx { struct out o; const uint8_t *lo, *hi; };

static int
ev(void *arg, enum http_mp_event e, const struct http_mp *m, const unsigned char *p, size_t n)
{
	struct ctx *x = arg;

	switch (e) {
	case HTTP_MP_BEGIN:
		put(&x->o, "B", 1);
		put(&x->o, m->name, strlen(m->name) + 1);
		put(&x->o, m->filename, strlen(m->filename) + 1);
		put(&x->o, m->type, strlen(m->type) + 1);
		break;
	case HTTP_MP_DATA:
		CHECK(n > 0 && p >= x->lo && p + n <= x->hi);
		put(&x->o, p, n);
		break;
	case HTTP_MP_END:
		put(&x->o, "E", 1);
		break;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char buf[HTTP_MP_HEAD_MAX + 100 + 64];
	char ct[256];
	const uint8_t *nl = memchr(data, '\n', size < 255 ? size : 255), *body, *end = data + size;
	struct http_mp m1, m2;
	struct ctx a = { 0 }, b = { 0 };
	size_t used, have = 0, cap;
	int r1, r2 = 0;

	if (nl == NULL)
		return 0;
	memcpy(ct, data, (size_t)(nl - data));
	ct[nl - data] = '\0';
	body = nl + 1;
	if (http_mp_init(&m1, ct) != 0)
		return 0;
	CHECK(http_mp_init(&m2, ct) == 0);
	/* whole */
	a.lo = body;
	a.hi = end;
	r1 = http_mp_feed(&m1, body, (size_t)(end - body), &used, ev, &a);
	CHECK(used <= (size_t)(end - body));
	/* in pieces, through a bounded buffer, as api.c reads a body */
	cap = HTTP_MP_HEAD_MAX + 100 + (size > 0 ? data[0] % 64 : 0);
	b.lo = buf;
	b.hi = buf + cap;
	const uint8_t *p = body;
	for (;;) {
		size_t k = p < end ? 1 + (size_t)((*p * 7u) % 600) : 0;
		if (k > (size_t)(end - p))
			k = (size_t)(end - p);
		if (k > cap - have)
			k = cap - have;
		memcpy(buf + have, p, k);
		have += k;
		p += k;
		r2 = http_mp_feed(&m2, buf, have, &used, ev, &b);
		CHECK(used <= have);
		if (r2 != 0)
			break;
		CHECK(!(have == cap && used == 0));     /* a full buffer always moves */
		memmove(buf, buf + used, have - used);
		have -= used;
		if (p == end && k == 0)
			break;
	}
	/* the same verdict and the same bytes, however the body was cut */
	CHECK((r1 == 1) == (r2 == 1));
	if (r1 == 1 || (r1 == 0 && r2 == 0)) {
		if (r1 == 1)
			CHECK(a.o.n == b.o.n && (a.o.n == 0 || memcmp(a.o.s, b.o.s, a.o.n) == 0));
	} else
		CHECK(r1 == r2);
	free(a.o.s);
	free(b.o.s);
	return 0;
}

#endif
