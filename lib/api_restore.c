/* api_restore.c: restorations for rs-serve (api.c routes them): upload
 * and queue, history, status, events, the images, deletion.
 *
 * Uploads are parsed as they arrive: each image part is written to an
 * unnamed temporary file in the spool, then mapped, proven and stored
 * (lib/upload.c), so a 50 MB photo never sits in the heap.
 *
 * After a job is queued, the runner is kicked: rs-run (RS_KICK) is
 * started detached, drains the queue and exits; its cron lock makes
 * extra kicks cheap. Events (SSE) look at the job's record every
 * RS_SSE_POLL seconds (0.2), and at once when the queue announces a
 * change: PostgreSQL's NOTIFY from any host (not through PgBouncer's
 * transaction mode: there the looking does it), a new job in the
 * spool. */
#define _GNU_SOURCE                 /* O_TMPFILE */
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

#include "api_int.h"
#include "conf.h"
#include "http.h"
#include "json.h"
#include "ledger.h"
#include "spool.h"
#include "store.h"
#include "upload.h"
#include "util.h"

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
		api_not_found(a);
		return -1;
	}
	if (api_need_spool(a) != 0)
		return -1;
	api_quiet(a, 1);
	rc = spool_get(a->sp, id, job, st);
	api_quiet(a, 0);
	if (rc == EX_NOINPUT || (rc == 0 && ((u = json_str(*job, "user")) == NULL ||
	    strcmp(u, a->user) != 0))) {
		jv_free(*job);
		*job = jv_invalid();
		api_not_found(a);
		return -1;
	}
	if (rc != 0) {
		api_fail_ex(a, rc, "job");
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
	if (strchr(k, '/') == NULL && *api_self(a) != '\0') {
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

void
api_post_restoration(struct api *a)
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
	if (api_auth(a, &tok) != 0)
		return;
	jv_free(tok);
	if (api_need_spool(a) != 0)
		return;
	if ((rc = ledger_user_get(a->lg, a->user, &user)) != 0 || (rc = api_free_allowance(a, user)) != 0) {
		api_fail_ex(a, rc, "account");
		goto out;
	}
	if ((rc = ledger_limit(a->lg, a->user, 1, &allowed, &lim)) != 0) {
		api_fail_ex(a, rc, "rate limit");
		goto out;
	}
	if (!allowed) {
		jv ra = json_get(lim, "retry_after");
		a->retry = jv_get_kind(ra) == JV_KIND_NUMBER ? jv_number_value(ra) : 1;
		jv_free(ra);
		api_fail(a, HTTP_TOO_MANY_REQUESTS, "rate_limited", "too many restorations; retry in %.0f s",
		    a->retry);
		goto out;
	}
	plan = json_str(user, "plan");
	u.max_images = (int)api_plan_num(a, plan, "images_per_request", 1);
	if (u.max_images < 1 || u.max_images > UPLOAD_MAX_INPUTS)
		u.max_images = u.max_images < 1 ? 1 : UPLOAD_MAX_INPUTS;
	u.max_bytes = (unsigned long long)api_plan_num(a, plan, "max_upload_bytes", 10 << 20);
	if (u.max_bytes > a->lim.max_bytes)
		u.max_bytes = a->lim.max_bytes;
	if (a->r->length < 0 && !a->r->chunked) {
		api_fail(a, HTTP_LENGTH_REQUIRED, NULL, "send Content-Length or a chunked body");
		goto out;
	}
	if (ctype == NULL || !(strncasecmp(ctype, "multipart/form-data", 19) == 0 ||
	    strncasecmp(ctype, "image/jpeg", 10) == 0 || strncasecmp(ctype, "image/png", 9) == 0 ||
	    strncasecmp(ctype, "application/octet-stream", 24) == 0)) {
		api_fail(a, HTTP_UNSUPPORTED_MEDIA_TYPE, NULL,
		    "send multipart/form-data with an image field, or an image/jpeg or image/png body");
		goto out;
	}
	{
		long long max = (long long)u.max_bytes * u.max_images + MP_SLACK;
		if (a->r->length > max) {
			api_fail(a, HTTP_PAYLOAD_TOO_LARGE, NULL, "at most %llu bytes per image on this plan",
			    u.max_bytes);
			goto out;
		}
		http_body_limit(a->c, max);
	}
	if ((st = up_read(a, &u, ctype)) != 0) {
		api_fail(a, st, NULL, "%s", u.msg[0] ? u.msg : "the upload was refused");
		goto out;
	}
	if (u.n == 0) {
		api_fail(a, HTTP_UNPROCESSABLE, "no_image", "the form has no image field");
		goto out;
	}
	if (u.has_prompt && !upload_printable(u.prompt, 1)) {
		api_fail(a, HTTP_UNPROCESSABLE, NULL, "prompt: text only");
		goto out;
	}
	/* prove and store each image */
	for (int i = 0; i < u.n; i++) {
		char name[300];
		snprintf(name, sizeof name, "image %d", i + 1);
		api_capture_begin(&cap);
		rc = upload_check_fd(a->st, name, u.fd[i], &a->lim, &in[i]);
		api_capture_end(&cap, msg, sizeof msg);
		if (rc != 0) {
			if (rc == EX_DATAERR)
				api_fail(a, HTTP_UNPROCESSABLE, "invalid_image", "%s", msg[0] ? msg : name);
			else
				api_fail_ex(a, rc, "storing the image");
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
			api_fail(a, HTTP_PAYMENT_REQUIRED, "insufficient_credits",
			    "not enough credits for this restoration");
		else
			api_fail_ex(a, rc, "credits");
		goto out;
	}
	if ((rc = ledger_job_add(a->lg, json_str(job, "id"), a->user)) != 0 ||
	    (rc = spool_enqueue(a->sp, job)) != 0) {
		jv h;
		/* nothing queued: nothing held; but a queue that could not say
		 * (75) may hold the job: keep the hold and the history entry
		 * (rs-run --gc releases a hold whose job never appears) */
		if (rc != EX_TEMPFAIL) {
			if (ledger_release(a->lg, json_str(job, "id"), &h) == 0)
				jv_free(h);
			ledger_job_remove(a->lg, json_str(job, "id"));
		}
		api_fail_ex(a, rc, "queue");
		goto out;
	}
	kick(a);
	snprintf(loc, sizeof loc, "/v1/restorations/%s", json_str(job, "id"));
	api_reply(a, HTTP_ACCEPTED, public_job(job, SPOOL_NEW), "Location", loc);
	job = jv_invalid();
out:
	for (int i = 0; i < UPLOAD_MAX_INPUTS; i++)
		if (u.fd[i] >= 0)
			close(u.fd[i]);
	jv_free(lim);
	jv_free(job);
	jv_free(user);
}

void
api_list_restorations(struct api *a)
{
	char before[64], lim[16];
	int limit = 20, rc;
	jv tok, ids = jv_invalid(), out = jv_array(), next = jv_null();

	if (api_auth(a, &tok) != 0)
		goto done;
	jv_free(tok);
	if (api_need_spool(a) != 0)
		goto done;
	if (api_query(a, "limit", lim, sizeof lim) == 1) {
		char *e;
		long v = strtol(lim, &e, 10);
		if (*e != '\0' || v < 1 || v > 100) {
			api_fail(a, HTTP_BAD_REQUEST, NULL, "limit: 1 to 100");
			goto done;
		}
		limit = (int)v;
	}
	if (api_query(a, "before", before, sizeof before) == 1) {
		if (!spool_valid_id(before)) {
			api_fail(a, HTTP_BAD_REQUEST, NULL, "before: a restoration id");
			goto done;
		}
	} else
		before[0] = '\0';
	if ((rc = ledger_job_list(a->lg, a->user, before[0] ? before : NULL, limit + 1, &ids)) != 0) {
		api_fail_ex(a, rc, "history");
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
			api_quiet(a, 1);
			rc = spool_get(a->sp, jv_string_value(id), &job, &st);
			api_quiet(a, 0);
			if (rc == 0)
				out = jv_array_append(out, public_job(job, st));
			else
				jv_free(job);     /* gone (cleaned up): left out */
		}
		jv_free(id);
	}
	api_reply(a, HTTP_OK, JV_OBJECT(jv_string("restorations"), out, jv_string("next"), next),
	    NULL, NULL);
	out = next = jv_invalid();
done:
	jv_free(ids);
	jv_free(out);
	jv_free(next);
}

void
api_get_restoration(struct api *a, const char *id)
{
	jv tok, job;
	enum spool_state st;

	if (api_auth(a, &tok) != 0)
		return;
	jv_free(tok);
	if (own_job(a, id, &job, &st) != 0)
		return;
	api_reply(a, HTTP_OK, public_job(job, st), NULL, NULL);
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

void
api_delete_restoration(struct api *a, const char *id)
{
	struct refs r;
	jv tok, job, inputs, output, h;
	enum spool_state st;
	int rc = 0;

	if (api_auth(a, &tok) != 0)
		return;
	jv_free(tok);
	if (own_job(a, id, &job, &st) != 0)
		return;
	if (st == SPOOL_CUR) {
		jv_free(job);
		api_fail(a, HTTP_CONFLICT, "busy", "the restoration is running; delete it when it is done");
		return;
	}
	if ((rc = spool_remove(a->sp, st, id)) != 0) {
		jv_free(job);
		api_fail_ex(a, rc, "job");
		return;
	}
	if (st == SPOOL_NEW) {
		jv again;
		enum spool_state s2;
		api_quiet(a, 1);
		rc = spool_get(a->sp, id, &again, &s2);
		api_quiet(a, 0);
		jv_free(again);
		if (rc == 0) {                    /* a runner took it meanwhile */
			jv_free(job);
			api_fail(a, HTTP_CONFLICT, "busy", "the restoration is running; delete it when it is done");
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
	api_send_body(a, HTTP_NO_CONTENT, NULL, NULL, NULL, "", 0);
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

void
api_events(struct api *a, const char *id)
{
	const char *last = http_header(a->r, "Last-Event-ID");
	char sent[64] = "", eid[64];
	double start = api_now_mono(), wrote;
	enum spool_state st;
	jv tok, job, next;
	int rc, w;

	if (api_auth(a, &tok) != 0)
		return;
	jv_free(tok);
	if (own_job(a, id, &job, &st) != 0)
		return;
	job = public_job(job, st);
	event_id(job, eid, sizeof eid);
	if (last != NULL && strcmp(last, eid) == 0 && terminal(job)) {
		jv_free(job);
		/* seen to the end: 204 tells an EventSource to stop reconnecting */
		api_send_body(a, HTTP_NO_CONTENT, NULL, NULL, NULL, "", 0);
		return;
	}
	if (last != NULL)
		snprintf(sent, sizeof sent, "%s", last);
	http_begin(a->c, HTTP_OK);
	api_common(a);
	http_field(a->c, "Content-Type", "text/event-stream");
	http_field(a->c, "Cache-Control", "no-store");
	http_field(a->c, "X-Accel-Buffering", "no");
	http_end_head(a->c, -1);
	http_write(a->c, "retry: 1000\n\n", 13);
	wrote = api_now_mono();
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
			wrote = api_now_mono();
		}
		if (terminal(job) || api_now_mono() - start > a->sse_max)
			break;
		if (api_now_mono() - wrote >= a->sse_ping) {
			if (http_write(a->c, ": keep-alive\n\n", 14) < 0 || http_flush(a->c) < 0)
				break;
			wrote = api_now_mono();
		}
		/* a change of state on the queue (PostgreSQL's NOTIFY, from any
		 * host) wakes the stream at once; else it looks every sse_poll */
		if ((w = http_wait(a->c, (int)(a->sse_poll * 1000), spool_watch_fd(a->sp))) < 0)
			break;
		if (w > 0)
			spool_watch_drain(a->sp);
		api_quiet(a, 1);
		rc = spool_get(a->sp, id, &next, &st);
		api_quiet(a, 0);
		if (rc == EX_NOINPUT) {           /* deleted meanwhile */
			jv_free(next);
			http_write(a->c, "event: gone\ndata: {}\n\n", 22);
			break;
		}
		if (rc != 0) {                    /* the queue out of reach: look again */
			jv_free(next);
			continue;
		}
		jv_free(job);
		job = public_job(next, st);
		event_id(job, eid, sizeof eid);
	}
	jv_free(job);
	http_flush(a->c);
}

/* GET an object of the caller's job: "result", or "input" n. */
void
api_get_object(struct api *a, const char *id, const char *which, const char *n)
{
	const char *obj = NULL, *mime = NULL, *inm;
	char path[PATH_MAX], etag[80], buf[65536];
	jv tok, job, o = jv_invalid();
	enum spool_state st;
	struct stat sb;
	ssize_t k;
	int fd = -1, rc;

	if (api_auth(a, &tok) != 0)
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
		api_not_found(a);
		return;
	}
	snprintf(etag, sizeof etag, "\"%s\"", obj);
	if ((inm = http_header(a->r, "If-None-Match")) != NULL &&
	    (strstr(inm, etag) != NULL || strcmp(inm, "*") == 0)) {
		http_begin(a->c, HTTP_NOT_MODIFIED);
		api_common(a);
		http_field(a->c, "ETag", "%s", etag);
		http_field(a->c, "Cache-Control", "private, max-age=31536000, immutable");
		http_end_head(a->c, 0);
		goto out;
	}
	if ((rc = store_path(a->st, obj, path, sizeof path)) != 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) < 0) {
		warn("%s", obj);
		api_not_found(a);
		goto out;
	}
	http_begin(a->c, HTTP_OK);
	api_common(a);
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
