/* store_s3.c: content-addressed objects in an S3 bucket (store_s3.h).
 *
 * An object's key is PREFIX/ab/cdef…, its BLAKE2b-256 in hex fanned out
 * as in the spool, so a key never names different bytes: a put first
 * asks HEAD and does nothing when the object is there; an object is
 * never rewritten. Bodies go up with their SHA-256 signed
 * (x-amz-content-sha256), so the server refuses bytes damaged on the way;
 * objects over STORE_S3_PART go up as a multipart upload of parts of
 * that size (aborted on failure, so no part lingers).
 *
 * Programs that need a file name (store_path) get a local copy in the
 * cache $RS_SPOOL/s3cache/ab/cdef…: streamed from GET into a hidden
 * temporary file while its BLAKE2b is computed, checked against the name,
 * fsynced, given the object's Last-Modified as its mtime (rs-run --gc
 * reads the age of objects from there) and renamed into place. A copy in
 * the cache is used as it is: it was checked and objects never change.
 * store_unlink removes the copy with the object; the cache of other hosts
 * holds at most copies of deleted objects, and can be removed at any time.
 *
 * The bucket is created at the first put that finds it missing (when the
 * store was opened with create), not at open: opening costs no request,
 * which matters to rs-serve, run once per connection. */
#include <sys/stat.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "conf.h"
#include "s3.h"
#include "store.h"
#include "store_s3.h"
#include "util.h"

#define STORE_S3_PART (8u << 20)             /* multipart above this; part size */

struct store_s3 {
	struct s3 *s;
	int create;
	unsigned long long list_max;             /* keys per listing page */
	char cache[PATH_MAX];                    /* spool/s3cache */
};

/* one object's names */
struct names {
	char key[1200];                          /* PREFIX/ab/cdef… */
	char what[80];                           /* "object abcdef…" for messages */
};

static void
names(struct store_s3 *t, const char *id, struct names *n)
{
	snprintf(n->key, sizeof n->key, "%s%.2s/%s", s3_prefix(t->s), id, id + 2);
	snprintf(n->what, sizeof n->what, "object %s", id);
}

int
store_s3_open(const struct conf *c, const char *url, const char *spool, int create,
    struct store_s3 **tp)
{
	struct store_s3 *t;
	int rc;

	*tp = NULL;
	if ((t = calloc(1, sizeof *t)) == NULL) {
		warn("store");
		return EX_OSERR;
	}
	t->create = create;
	if ((size_t)snprintf(t->cache, sizeof t->cache, "%s/s3cache", spool) >= sizeof t->cache) {
		warnx("%s: path too long", spool);
		free(t);
		return EX_CANTCREAT;
	}
	if ((rc = conf_size(c, "RS_STORE_LIST_MAX", 1000, &t->list_max)) != 0 ||
	    (rc = s3_open(c, url, &t->s)) != 0) {
		free(t);
		return rc;
	}
	if (t->list_max < 1 || t->list_max > 1000)
		t->list_max = 1000;
	*tp = t;
	return 0;
}

void
store_s3_close(struct store_s3 *t)
{
	if (t == NULL)
		return;
	s3_close(t->s);
	free(t);
}

/* A 4xx answer to HEAD has no body, so no error code to explain it: ask
 * the bucket a question with an answer (an empty listing) for one. */
static int
head_error(struct store_s3 *t, const char *what, const struct s3_resp *hr)
{
	struct s3_req q = { .method = "GET", .query = "list-type=2&max-keys=0" };
	struct s3_resp r;
	int rc;

	if (hr->status >= 500 || hr->code[0] != '\0')
		return s3_error(t->s, what, hr);
	if ((rc = s3_do(t->s, &q, &r)) != 0)
		return rc;
	rc = s3_error(t->s, what, r.status >= 300 ? &r : hr);
	s3_resp_free(&r);
	return rc;
}

/* HEAD: 1 with *len when there, 0 when not, else an error status < 0 */
static int
head(struct store_s3 *t, const struct names *n, size_t *len, time_t *mtime)
{
	struct s3_req q = { .method = "HEAD", .key = n->key };
	struct s3_resp r;
	int rc;

	if ((rc = s3_do(t->s, &q, &r)) != 0)
		return -rc;
	if (r.status == 200) {
		*len = r.length >= 0 ? (size_t)r.length : 0;
		if (mtime != NULL)
			*mtime = r.mtime;
		rc = 1;
	} else if (r.status == 404)
		rc = 0;
	else
		rc = -head_error(t, n->what, &r);
	s3_resp_free(&r);
	return rc;
}

/* a request that must answer 2xx; the answer in *r (free it). With
 * nobucket, a missing bucket is NOBUCKET, undiagnosed (puts create it). */
#define NOBUCKET (-1)
static int
must(struct store_s3 *t, const struct s3_req *q, const char *what, int nobucket,
    struct s3_resp *r)
{
	int rc;

	if ((rc = s3_do(t->s, q, r)) != 0)
		return rc;
	if (r->status >= 200 && r->status < 300)
		return 0;
	if (nobucket && r->status == 404 && strcmp(r->code, "NoSuchBucket") == 0)
		rc = NOBUCKET;
	else
		rc = s3_error(t->s, what, r);
	s3_resp_free(r);
	return rc;
}

static int
put_single(struct store_s3 *t, const struct names *n, const void *buf, size_t len)
{
	struct s3_req q = { .method = "PUT", .key = n->key, .body = buf, .len = len,
	    .type = "application/octet-stream" };
	struct s3_resp r;
	int rc;

	if ((rc = must(t, &q, n->what, 1, &r)) == 0)
		s3_resp_free(&r);
	return rc;
}

static int
put_multipart(struct store_s3 *t, const struct names *n, const unsigned char *buf, size_t len)
{
	size_t nparts = (len + STORE_S3_PART - 1) / STORE_S3_PART, xlen = 0, xsize;
	char upload[512], eupload[1600], query[1800], *xml = NULL;
	struct s3_req q = { .method = "POST", .key = n->key, .query = "uploads=" };
	struct s3_resp r;
	const char *from = NULL;
	int rc;

	if ((rc = must(t, &q, n->what, 1, &r)) != 0)
		return rc;
	rc = s3_xml(r.body, &from, "UploadId", upload, sizeof upload);
	s3_resp_free(&r);
	if (rc != 0 || s3_encode(upload, 0, eupload, sizeof eupload) == NULL) {
		warnx("%s: %s: multipart upload started without an UploadId", s3_name(t->s), n->what);
		return EX_PROTOCOL;
	}
	xsize = 128 + nparts * 200;
	if ((xml = malloc(xsize)) == NULL) {
		warn("%s", s3_name(t->s));
		rc = EX_OSERR;
		goto abort;
	}
	xlen = (size_t)snprintf(xml, xsize, "<CompleteMultipartUpload>");
	for (size_t i = 0; i < nparts; i++) {
		size_t off = i * STORE_S3_PART, plen = len - off < STORE_S3_PART ? len - off : STORE_S3_PART;
		struct s3_req p = { .method = "PUT", .key = n->key, .query = query,
		    .body = buf + off, .len = plen };
		snprintf(query, sizeof query, "partNumber=%zu&uploadId=%s", i + 1, eupload);
		if ((rc = must(t, &p, n->what, 0, &r)) != 0)
			goto abort;
		if (r.etag[0] == '\0' || strpbrk(r.etag, "<&") != NULL) {
			warnx("%s: %s: part %zu stored without an ETag", s3_name(t->s), n->what, i + 1);
			s3_resp_free(&r);
			rc = EX_PROTOCOL;
			goto abort;
		}
		xlen += (size_t)snprintf(xml + xlen, xsize - xlen,
		    "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>", i + 1, r.etag);
		s3_resp_free(&r);
	}
	xlen += (size_t)snprintf(xml + xlen, xsize - xlen, "</CompleteMultipartUpload>");
	snprintf(query, sizeof query, "uploadId=%s", eupload);
	q = (struct s3_req){ .method = "POST", .key = n->key, .query = query, .body = xml,
	    .len = xlen, .type = "application/xml" };
	if ((rc = must(t, &q, n->what, 0, &r)) != 0)
		goto abort;
	/* the answer to a completion is 200 even when it failed */
	from = NULL;
	if (r.body != NULL && strstr(r.body, "<Error>") != NULL &&
	    s3_xml(r.body, &from, "Code", r.code, sizeof r.code) == 0) {
		r.status = 500;
		rc = s3_error(t->s, n->what, &r);
		s3_resp_free(&r);
		goto abort;
	}
	s3_resp_free(&r);
	free(xml);
	return 0;
abort:
	/* best effort: an incomplete upload's parts would be kept (and billed) */
	snprintf(query, sizeof query, "uploadId=%s", eupload);
	q = (struct s3_req){ .method = "DELETE", .key = n->key, .query = query };
	if (s3_do(t->s, &q, &r) == 0)
		s3_resp_free(&r);
	free(xml);
	return rc;
}

int
store_s3_put(struct store_s3 *t, const void *buf, size_t len, const char *id)
{
	struct names n;
	size_t have = 0;
	int rc;

	names(t, id, &n);
	if ((rc = head(t, &n, &have, NULL)) < 0)
		return -rc;
	if (rc == 1 && have == len)
		return 0;                            /* already stored */
	rc = len > STORE_S3_PART ? put_multipart(t, &n, buf, len) : put_single(t, &n, buf, len);
	if (rc == NOBUCKET && t->create && (rc = s3_create_bucket(t->s)) == 0)
		rc = len > STORE_S3_PART ? put_multipart(t, &n, buf, len) : put_single(t, &n, buf, len);
	if (rc == NOBUCKET) {
		warnx("%s: the bucket does not exist", s3_name(t->s));
		rc = EX_NOINPUT;
	}
	return rc;
}

int
store_s3_has(struct store_s3 *t, const char *id)
{
	struct names n;
	char path[PATH_MAX];
	size_t len;
	int rc;

	if ((size_t)snprintf(path, sizeof path, "%s/%.2s/%s", t->cache, id, id + 2) < sizeof path &&
	    access(path, F_OK) == 0)
		return 1;
	names(t, id, &n);
	/* 1 or 0 only: when the bucket cannot be asked, say yes, quietly, so
	 * the caller's next step (store_path) reports why, with its status
	 * (75 for a store that is down: the job is tried again, not failed
	 * for a missing input) */
	s3_quiet(t->s, 1);
	rc = head(t, &n, &len, NULL);
	s3_quiet(t->s, 0);
	return rc != 0;
}

int
store_s3_stat(struct store_s3 *t, const char *id, size_t *len, time_t *mtime)
{
	char path[PATH_MAX];
	struct names n;
	struct stat sb;
	int rc;

	/* a checked copy here knows both (its mtime is the Last-Modified) */
	if ((size_t)snprintf(path, sizeof path, "%s/%.2s/%s", t->cache, id, id + 2) < sizeof path &&
	    stat(path, &sb) == 0) {
		*len = (size_t)sb.st_size;
		if (mtime != NULL)
			*mtime = sb.st_mtime;
		return 0;
	}
	names(t, id, &n);
	if ((rc = head(t, &n, len, mtime)) < 0)
		return -rc;
	if (rc == 0) {
		warnx("%s: %s: not found", s3_name(t->s), n.what);
		return EX_NOINPUT;
	}
	return 0;
}

/* the GET's bytes: to the temporary file, through the hash */
struct sink {
	int fd;
	crypto_generichash_state h;
	const char *path;
};

static int
to_file(const void *p, size_t len, void *arg)
{
	struct sink *k = arg;

	crypto_generichash_update(&k->h, p, len);
	if (util_write_all(k->fd, p, len) < 0) {
		int e = errno;
		warn("%s", k->path);
		return util_ex_errno(e);
	}
	return 0;
}

int
store_s3_path(struct store_s3 *t, const char *id, char *buf, size_t size)
{
	char dir[PATH_MAX], tmp[PATH_MAX], got[STORE_ID_LEN + 1];
	unsigned char h[32];
	struct names n;
	struct sink k = { .fd = -1 };
	struct s3_req q = { .method = "GET", .sink = to_file, .arg = &k };
	struct s3_resp r;
	int rc;

	if ((size_t)snprintf(buf, size, "%s/%.2s/%s", t->cache, id, id + 2) >= size ||
	    (size_t)snprintf(dir, sizeof dir, "%s/%.2s", t->cache, id) >= sizeof dir ||
	    (size_t)snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, id + 2) >= sizeof tmp) {
		warnx("object %s: path too long", id);
		return EX_SOFTWARE;
	}
	if (access(buf, F_OK) == 0)
		return 0;                            /* checked when it came */
	if ((rc = util_mkdir_p(dir, 0755)) != 0)
		return rc;
	if ((k.fd = mkstemp(tmp)) < 0) {
		int e = errno;
		warn("%s", tmp);
		return util_ex_errno(e);
	}
	k.path = tmp;
	crypto_generichash_init(&k.h, NULL, 0, sizeof h);
	names(t, id, &n);
	q.key = n.key;
	if ((rc = must(t, &q, n.what, 0, &r)) != 0)
		goto fail;
	crypto_generichash_final(&k.h, h, sizeof h);
	util_hex(h, sizeof h, got);
	if (strcmp(got, id) != 0) {
		warnx("%s: %s: the bytes received hash to %s: not stored", s3_name(t->s), n.what, got);
		rc = EX_DATAERR;
	} else if (fsync(k.fd) < 0 || fchmod(k.fd, 0444) < 0 ||
	    (r.mtime > 0 && futimens(k.fd, (struct timespec[2]){ { r.mtime, 0 }, { r.mtime, 0 } }) < 0) ||
	    rename(tmp, buf) < 0) {
		int e = errno;
		warn("%s", buf);
		rc = util_ex_errno(e);
	}
	s3_resp_free(&r);
	if (rc != 0)
		goto fail;
	close(k.fd);
	return 0;
fail:
	close(k.fd);
	unlink(tmp);
	return rc;
}

int
store_s3_unlink(struct store_s3 *t, const char *id)
{
	char path[PATH_MAX];
	struct names n;
	struct s3_req q = { .method = "DELETE" };
	struct s3_resp r;
	int rc;

	names(t, id, &n);
	q.key = n.key;
	if ((rc = s3_do(t->s, &q, &r)) != 0)
		return rc;
	if (r.status != 404 && (r.status < 200 || r.status >= 300)) {
		rc = s3_error(t->s, n.what, &r);
		s3_resp_free(&r);
		return rc;
	}
	s3_resp_free(&r);
	if ((size_t)snprintf(path, sizeof path, "%s/%.2s/%s", t->cache, id, id + 2) < sizeof path &&
	    unlink(path) < 0 && errno != ENOENT) {
		int e = errno;
		warn("%s", path);
		return util_ex_errno(e);
	}
	return 0;
}

int
store_s3_each(struct store_s3 *t, int (*fn)(const char *id, void *arg), void *arg)
{
	char token[2048], etoken[6200], eprefix[3200], query[9600], key[1200], id[STORE_ID_LEN + 1];
	const char *prefix = s3_prefix(t->s);
	size_t plen = strlen(prefix);
	int rc = 0, more = 1;

	token[0] = '\0';
	if (s3_encode(prefix, 0, eprefix, sizeof eprefix) == NULL) {
		warnx("%s: prefix too long", s3_name(t->s));
		return EX_SOFTWARE;
	}
	while (rc == 0 && more) {
		struct s3_req q = { .method = "GET", .query = query };
		struct s3_resp r;
		const char *from = NULL;
		char trunc[8];

		if (token[0] != '\0' && s3_encode(token, 0, etoken, sizeof etoken) == NULL) {
			warnx("%s: continuation token too long", s3_name(t->s));
			return EX_PROTOCOL;
		}
		/* sorted by name, encoded: curl signs the query as it is */
		snprintf(query, sizeof query, "%s%s%slist-type=2&max-keys=%llu%s%s",
		    token[0] != '\0' ? "continuation-token=" : "", token[0] != '\0' ? etoken : "",
		    token[0] != '\0' ? "&" : "", t->list_max,
		    plen > 0 ? "&prefix=" : "", plen > 0 ? eprefix : "");
		if ((rc = s3_do(t->s, &q, &r)) != 0)
			return rc;
		if (r.status == 404 && strcmp(r.code, "NoSuchBucket") == 0) {
			s3_resp_free(&r);                /* no bucket, no objects */
			return 0;
		}
		if (r.status != 200) {
			rc = s3_error(t->s, "list", &r);
			s3_resp_free(&r);
			return rc;
		}
		more = s3_xml(r.body, &from, "IsTruncated", trunc, sizeof trunc) == 0 &&
		    strcmp(trunc, "true") == 0;
		from = NULL;
		if (more && s3_xml(r.body, &from, "NextContinuationToken", token, sizeof token) != 0) {
			warnx("%s: truncated listing without a continuation token", s3_name(t->s));
			s3_resp_free(&r);
			return EX_PROTOCOL;
		}
		/* the page is ours: fn may use the store meanwhile */
		from = NULL;
		while (rc == 0 && s3_xml(r.body, &from, "Key", key, sizeof key) == 0) {
			const char *k = key + plen;
			if (strncmp(key, prefix, plen) != 0 || strlen(k) != STORE_ID_LEN + 1 || k[2] != '/')
				continue;                    /* not one of ours */
			memcpy(id, k, 2);
			memcpy(id + 2, k + 3, STORE_ID_LEN - 2 + 1);
			if (store_valid_id(id))
				rc = fn(id, arg);
		}
		s3_resp_free(&r);
	}
	return rc;
}
