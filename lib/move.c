/* move.c: export and import of a whole installation. See move.h. */
#include <err.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "json.h"
#include "move.h"
#include "util.h"

#define PART (768 * 1024)            /* raw bytes per object part: 1 MiB of base64 */
#define OBJECT_MAX (1024UL << 20)    /* larger than any accepted image */

struct ex {
	FILE *out;
	struct store *st;
	long objects, rows, jobs;
	enum spool_state state;      /* of the jobs being listed */
	int rc;
};

static int
put(struct ex *e, jv v)
{
	int rc = json_write(e->out, v);

	if (rc != 0 && e->rc == 0)
		e->rc = rc;
	return rc;
}

static int
export_object(const char *id, void *arg)
{
	struct ex *e = arg;
	unsigned char *buf = NULL;
	size_t len, off, n;
	char *b64;
	int rc;

	if ((rc = store_get(e->st, id, OBJECT_MAX, &buf, &len)) != 0)
		return e->rc = rc;
	if ((b64 = malloc(sodium_base64_ENCODED_LEN(PART, sodium_base64_VARIANT_ORIGINAL))) == NULL) {
		free(buf);
		warn("export");
		return e->rc = EX_OSERR;
	}
	for (off = 0, rc = 0; rc == 0 && off < len; off += n) {
		n = len - off < PART ? len - off : PART;
		sodium_bin2base64(b64, sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL),
		    buf + off, n, sodium_base64_VARIANT_ORIGINAL);
		rc = put(e, JV_OBJECT(jv_string("object"), jv_string(id),
		    jv_string("data"), jv_string(b64)));
	}
	if (rc == 0)
		rc = put(e, JV_OBJECT(jv_string("object"), jv_string(id),
		    jv_string("bytes"), jv_number((double)len)));
	free(b64);
	free(buf);
	e->objects++;
	return rc;
}

static int
export_row(jv rec, void *arg)
{
	struct ex *e = arg;

	e->rows++;
	return put(e, jv_copy(rec));
}

static int
export_job(const char *id, jv job, time_t mtime, void *arg)
{
	struct ex *e = arg;

	(void)id;
	(void)mtime;
	e->jobs++;
	return put(e, JV_OBJECT(jv_string("job"), job,      /* spool_each gives it */
	    jv_string("state"), jv_string(spool_state_name(e->state))));
}

int
move_export(struct ledger *l, struct spool *sp, struct store *st, FILE *out, jv *summary)
{
	struct ex e = { .out = out, .st = st };
	char now[32];
	int rc;

	*summary = jv_invalid();
	spool_time(spool_now(), now);
	if ((rc = put(&e, JV_OBJECT(jv_string("rs_export"), jv_number(1),
	    jv_string("created"), jv_string(now)))) != 0)
		return rc;
	if ((rc = store_each(st, export_object, &e)) != 0 || (rc = e.rc) != 0)
		return rc;
	if ((rc = ledger_export(l, export_row, &e)) != 0 || (rc = e.rc) != 0)
		return rc;
	for (e.state = 0; e.state < SPOOL_NSTATES; e.state++)
		if ((rc = spool_each(sp, e.state, export_job, &e)) != 0 || (rc = e.rc) != 0)
			return rc;
	*summary = JV_OBJECT(jv_string("end"), jv_true(),
	    jv_string("objects"), jv_number(e.objects),
	    jv_string("rows"), jv_number(e.rows), jv_string("jobs"), jv_number(e.jobs));
	if ((rc = put(&e, jv_copy(*summary))) != 0 || (rc = fflush(out) == 0 ? 0 : EX_IOERR) != 0) {
		jv_free(*summary);
		*summary = jv_invalid();
	}
	return rc;
}

/* ---- import ---- */

struct im {
	char id[STORE_ID_LEN + 1];   /* the object being received, "" none */
	unsigned char *buf;
	size_t len, cap;
	long objects, rows, jobs;
	int in_tx;
};

/* 1 if obj's key has the kind; borrows obj */
static int
has(jv obj, const char *key, jv_kind kind)
{
	jv v = json_get(obj, key);
	int yes = jv_get_kind(v) == kind;

	jv_free(v);
	return yes;
}

static int
bad(long line, const char *what)
{
	warnx("import: line %ld: %s", line, what);
	return EX_DATAERR;
}

/* One part of an object, or its end (then it is put). Borrows v. */
static int
object_part(struct im *m, struct store *st, jv v, long line)
{
	const char *id = json_str(v, "object"), *data = json_str(v, "data");
	jv bytes = json_get(v, "bytes");
	char got[STORE_ID_LEN + 1];
	size_t n, max;
	int rc;

	if (id == NULL || !store_valid_id(id))
		return bad(line, "object: not an object id");
	if (m->id[0] != '\0' && strcmp(m->id, id) != 0)
		return bad(line, "object: the previous one did not end");
	if (m->id[0] == '\0') {
		memcpy(m->id, id, sizeof m->id);
		m->len = 0;
	}
	if (data != NULL) {
		max = strlen(data) / 4 * 3 + 3;
		if (m->len + max > OBJECT_MAX)
			return bad(line, "object: too large");
		if (m->len + max > m->cap) {
			size_t cap = (m->len + max) * 2;
			unsigned char *p = realloc(m->buf, cap);

			if (p == NULL) {
				warn("import");
				return EX_OSERR;
			}
			m->buf = p;
			m->cap = cap;
		}
		if (sodium_base642bin(m->buf + m->len, m->cap - m->len, data, strlen(data),
		    NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
			return bad(line, "object: bad base64");
		m->len += n;
		return 0;
	}
	if (jv_get_kind(bytes) != JV_KIND_NUMBER || jv_number_value(bytes) != (double)m->len) {
		jv_free(bytes);
		return bad(line, "object: length does not match its parts");
	}
	jv_free(bytes);
	if ((rc = store_put(st, m->buf, m->len, got)) != 0)
		return rc;
	if (strcmp(got, m->id) != 0)
		return bad(line, "object: contents do not match its name");
	m->id[0] = '\0';
	m->objects++;
	return 0;
}

static int
check_end(struct im *m, jv v, long line)
{
	static const char *const keys[] = { "objects", "rows", "jobs" };
	long have[] = { m->objects, m->rows, m->jobs };
	jv n;

	if (m->id[0] != '\0')
		return bad(line, "end: an object did not end");
	for (int i = 0; i < 3; i++) {
		n = json_get(v, keys[i]);
		if (jv_get_kind(n) != JV_KIND_NUMBER || jv_number_value(n) != (double)have[i]) {
			jv_free(n);
			warnx("import: line %ld: the stream says %s but %ld came", line, keys[i], have[i]);
			return EX_DATAERR;
		}
		jv_free(n);
	}
	return 0;
}

int
move_import(struct ledger *l, struct spool *sp, struct store *st, FILE *in, jv *summary)
{
	struct json_reader *r = NULL;
	struct im m = { .id = "" };
	jv v, jobs = jv_array(), header = jv_invalid();
	int rc, done = 0, s;
	long line = 0;

	*summary = jv_invalid();
	if ((rc = json_reader_open(in, "import", &r)) != 0)
		goto out;
	while (!done && (rc = json_next(r, &v)) == 0 && jv_is_valid(v)) {
		line++;
		if (jv_get_kind(v) != JV_KIND_OBJECT)
			rc = bad(line, "not an object");
		else if (line == 1) {
			jv k = json_get(v, "rs_export");
			if (jv_get_kind(k) != JV_KIND_NUMBER || jv_number_value(k) != 1)
				rc = bad(line, "not an rs export (no \"rs_export\":1)");
			jv_free(k);
			header = jv_copy(v);
		} else if (json_str(v, "object") != NULL)
			rc = object_part(&m, st, v, line);
		else if (json_str(v, "table") != NULL) {
			if (!m.in_tx && (rc = ledger_tx_begin(l)) == 0)
				m.in_tx = 1;
			if (rc == 0 && (rc = ledger_import(l, v)) == 0)
				m.rows++;
		} else if (has(v, "job", JV_KIND_OBJECT)) {
			jobs = jv_array_append(jobs, jv_copy(v));
			m.jobs++;
		} else if (has(v, "end", JV_KIND_TRUE)) {
			if ((rc = check_end(&m, v, line)) == 0)
				done = 1;
		} else
			rc = bad(line, "not an object part, a row, a job or the end");
		jv_free(v);
		if (rc != 0)
			break;
	}
	if (rc == 0 && !done)
		rc = line == 0 ? bad(0, "empty input") : bad(line, "the stream ends before its end record");
	if (m.in_tx)
		rc = ledger_tx_end(l, rc);
	if (rc != 0)
		goto out;
	jv_array_foreach(jobs, i, j) {
		const char *state = json_str(j, "state");
		for (s = 0; s < SPOOL_NSTATES && (state == NULL || strcmp(state, spool_state_name(s)) != 0); s++)
			;
		if (s == SPOOL_NSTATES)
			rc = bad(0, "job: unknown state");
		else {
			jv job = json_get(j, "job");
			rc = spool_import(sp, job, s);
			jv_free(job);
		}
		jv_free(j);
		if (rc != 0)
			goto out;
	}
	*summary = JV_OBJECT(jv_string("imported"), jv_true(),
	    jv_string("from"), json_get(header, "created"),
	    jv_string("objects"), jv_number(m.objects),
	    jv_string("rows"), jv_number(m.rows), jv_string("jobs"), jv_number(m.jobs));
out:
	json_reader_close(r);
	jv_free(jobs);
	jv_free(header);
	free(m.buf);
	return rc;
}
