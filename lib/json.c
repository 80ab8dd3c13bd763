/* json.c: read JSON values from a stream, write one per line.
 * jv_parser takes the input in chunks; a value may span chunks and a
 * chunk may hold several values (JSON Lines), so the reader keeps the
 * parser between calls and feeds it only when it asks for more. */
#include <err.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

struct json_reader {
	FILE *f;
	const char *name;
	jv_parser *p;
	int eof;
	char buf[65536];
};

int
json_reader_open(FILE *f, const char *name, struct json_reader **rp)
{
	struct json_reader *r;

	if ((r = calloc(1, sizeof *r)) == NULL || (r->p = jv_parser_new(0)) == NULL) {
		warn("%s", name);
		free(r);
		return EX_OSERR;
	}
	r->f = f;
	r->name = name;
	*rp = r;
	return 0;
}

void
json_reader_close(struct json_reader *r)
{
	if (r == NULL)
		return;
	jv_parser_free(r->p);
	free(r);
}

int
json_next(struct json_reader *r, jv *out)
{
	for (;;) {
		jv v = jv_parser_next(r->p);
		if (jv_is_valid(v)) {
			*out = v;
			return 0;
		}
		if (jv_invalid_has_msg(jv_copy(v))) {
			jv msg = jv_invalid_get_msg(v);
			warnx("%s: %s", r->name, jv_get_kind(msg) == JV_KIND_STRING ?
			    jv_string_value(msg) : "bad JSON");
			jv_free(msg);
			*out = jv_invalid();
			return EX_DATAERR;
		}
		jv_free(v);
		if (r->eof) {
			*out = jv_invalid();
			return 0;
		}
		size_t n = fread(r->buf, 1, sizeof r->buf, r->f);
		if (n < sizeof r->buf) {
			if (ferror(r->f)) {
				warn("%s", r->name);
				*out = jv_invalid();
				return EX_IOERR;
			}
			r->eof = 1;
		}
		jv_parser_set_buf(r->p, r->buf, (int)n, !r->eof);
	}
}

jv
json_get(jv obj, const char *key)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return jv_invalid();
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	return v;
}

const char *
json_str(jv obj, const char *key)
{
	const char *s = NULL;

	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return NULL;
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	if (jv_get_kind(v) == JV_KIND_STRING)
		s = jv_string_value(v);   /* the object still holds a reference */
	jv_free(v);
	return s;
}

int
json_write(FILE *f, jv v)
{
	jv_dumpf(v, f, 0);
	if (putc('\n', f) == EOF) {
		warn("write");
		return EX_IOERR;
	}
	return 0;
}
