/* store.c: content-addressed objects in $RS_SPOOL/objects.
 *
 * An object's name is the hex BLAKE2b-256 of its bytes, so a name never
 * points at different contents and a put of existing bytes is a no-op
 * (the existing file is trusted: objects are written atomically and are
 * never modified). The first two hex digits name a fan-out directory so
 * no directory grows past a few thousand entries for a million objects.
 * Objects are mode 0444: nothing rewrites them in place.
 *
 * With RS_STORE=s3://BUCKET/PREFIX (environment or rs.conf) the objects
 * live in an S3 bucket instead, under the same names: store_s3.c. Every
 * function here hands over to it; store_get works on both through
 * store_path. */
#include <sys/stat.h>
#include <dirent.h>
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
#include "store.h"
#include "store_s3.h"
#include "util.h"

struct store {
	struct store_s3 *s3;         /* RS_STORE=s3://…; NULL: the spool */
	int dfd;                     /* objects/ */
	char root[PATH_MAX];         /* spool/objects */
};

/* RS_STORE, when set: the S3 store */
static int
open_s3(const char *spool, int create, struct store *st)
{
	struct conf *c = NULL;
	const char *url;
	int rc;

	if ((rc = conf_load(&c)) != 0)
		return rc;
	if ((url = conf_str(c, "RS_STORE", NULL)) != NULL) {
		if (strncmp(url, "s3://", 5) != 0) {
			warnx("RS_STORE=%s: expected s3://BUCKET/PREFIX (unset: the spool)", url);
			rc = EX_CONFIG;
		} else
			rc = store_s3_open(c, url, spool, create, &st->s3);
	}
	conf_free(c);
	return rc;
}

int
store_open(const char *spool, int create, struct store **sp)
{
	struct store *st;
	int rc;

	*sp = NULL;
	if (sodium_init() < 0) {
		warnx("libsodium: cannot initialise");
		return EX_SOFTWARE;
	}
	if ((st = calloc(1, sizeof *st)) == NULL) {
		warn("store");
		return EX_OSERR;
	}
	st->dfd = -1;
	if ((rc = open_s3(spool, create, st)) != 0 || st->s3 != NULL) {
		if (rc != 0)
			free(st);
		else
			*sp = st;
		return rc;
	}
	if ((size_t)snprintf(st->root, sizeof st->root, "%s/objects", spool) >= sizeof st->root) {
		warnx("%s: path too long", spool);
		free(st);
		return EX_CANTCREAT;
	}
	if ((rc = util_open_dir(st->root, create, &st->dfd)) != 0) {
		free(st);
		return rc == EX_NOINPUT && create ? EX_CANTCREAT : rc;
	}
	*sp = st;
	return 0;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	store_s3_close(st->s3);
	if (st->dfd >= 0)
		close(st->dfd);
	free(st);
}

int
store_valid_id(const char *id)
{
	size_t i;

	for (i = 0; id[i] != '\0'; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return i == STORE_ID_LEN;
}

/* "ab/cdef..." for id "abcdef..." */
static int
relpath(const char *id, char out[STORE_ID_LEN + 2])
{
	if (!store_valid_id(id)) {
		warnx("%.80s: not an object id", id);
		return EX_DATAERR;
	}
	out[0] = id[0];
	out[1] = id[1];
	out[2] = '/';
	memcpy(out + 3, id + 2, STORE_ID_LEN - 2 + 1);
	return 0;
}

int
store_put(struct store *st, const void *buf, size_t len, char id[STORE_ID_LEN + 1])
{
	unsigned char h[32];
	char rel[STORE_ID_LEN + 2], sub[3], dpath[PATH_MAX];
	struct stat sb;
	int sfd, rc;

	crypto_generichash(h, sizeof h, buf, len, NULL, 0);
	util_hex(h, sizeof h, id);
	if (st->s3 != NULL)
		return store_s3_put(st->s3, buf, len, id);
	relpath(id, rel);
	if (fstatat(st->dfd, rel, &sb, 0) == 0 && (size_t)sb.st_size == len)
		return 0;                              /* already stored */
	memcpy(sub, id, 2);
	sub[2] = '\0';
	if (mkdirat(st->dfd, sub, 0755) == 0) {
		if (fsync(st->dfd) < 0) {
			warn("fsync %s", st->root);
			return EX_IOERR;
		}
	} else if (errno != EEXIST) {
		int e = errno;
		warn("mkdir %s/%s", st->root, sub);
		return e == EACCES || e == EPERM || e == EROFS ? EX_NOPERM : EX_CANTCREAT;
	}
	if ((sfd = openat(st->dfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		int e = errno;
		warn("%s/%s", st->root, sub);
		return util_ex_errno(e);
	}
	if ((size_t)snprintf(dpath, sizeof dpath, "%s/%s", st->root, sub) >= sizeof dpath) {
		close(sfd);
		warnx("%s: path too long", st->root);
		return EX_CANTCREAT;
	}
	rc = util_write_atomic(sfd, dpath, id + 2, buf, len, 0444);
	close(sfd);
	return rc;
}

int
store_has(struct store *st, const char *id)
{
	char rel[STORE_ID_LEN + 2];

	if (!store_valid_id(id))
		return 0;
	if (st->s3 != NULL)
		return store_s3_has(st->s3, id);
	relpath(id, rel);
	return faccessat(st->dfd, rel, F_OK, 0) == 0;
}

int
store_stat(struct store *st, const char *id, size_t *len, time_t *mtime)
{
	char rel[STORE_ID_LEN + 2];
	struct stat sb;
	int rc;

	if ((rc = relpath(id, rel)) != 0)
		return rc;
	if (st->s3 != NULL)
		return store_s3_stat(st->s3, id, len, mtime);
	if (fstatat(st->dfd, rel, &sb, 0) < 0) {
		int e = errno;
		warn("object %s", id);
		return util_ex_errno(e);
	}
	*len = (size_t)sb.st_size;
	if (mtime != NULL)
		*mtime = sb.st_mtime;
	return 0;
}

int
store_path(struct store *st, const char *id, char *buf, size_t size)
{
	char rel[STORE_ID_LEN + 2];
	int rc;

	if ((rc = relpath(id, rel)) != 0)
		return rc;
	if (st->s3 != NULL)
		return store_s3_path(st->s3, id, buf, size);
	if ((size_t)snprintf(buf, size, "%s/%s", st->root, rel) >= size) {
		warnx("object %s: path too long", id);
		return EX_SOFTWARE;
	}
	return 0;
}

int
store_get(struct store *st, const char *id, size_t max, unsigned char **buf, size_t *len)
{
	char path[PATH_MAX];
	int rc;

	if ((rc = store_path(st, id, path, sizeof path)) != 0)
		return rc;
	return util_slurp(path, max, buf, len);
}

int
store_unlink(struct store *st, const char *id)
{
	char rel[STORE_ID_LEN + 2];
	int rc;

	if ((rc = relpath(id, rel)) != 0)
		return rc;
	if (st->s3 != NULL)
		return store_s3_unlink(st->s3, id);
	if (unlinkat(st->dfd, rel, 0) < 0 && errno != ENOENT) {
		int e = errno;
		warn("unlink object %s", id);
		return util_ex_errno(e);
	}
	return 0;
}

int
store_each(struct store *st, int (*fn)(const char *id, void *arg), void *arg)
{
	DIR *top, *d;
	struct dirent *e, *f;
	char id[STORE_ID_LEN + 1];
	int fd, rc = 0;

	if (st->s3 != NULL)
		return store_s3_each(st->s3, fn, arg);
	if ((fd = dup(st->dfd)) < 0 || (top = fdopendir(fd)) == NULL) {
		warn("%s", st->root);
		if (fd >= 0)
			close(fd);
		return EX_IOERR;
	}
	rewinddir(top);
	while (rc == 0 && (e = readdir(top)) != NULL) {
		int sfd;
		if (strlen(e->d_name) != 2 || e->d_name[0] == '.')
			continue;
		if ((sfd = openat(st->dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
		    (d = fdopendir(sfd)) == NULL) {
			warn("%s/%s", st->root, e->d_name);
			if (sfd >= 0)
				close(sfd);
			rc = EX_IOERR;
			break;
		}
		while (rc == 0 && (f = readdir(d)) != NULL) {
			if (strlen(f->d_name) != STORE_ID_LEN - 2)
				continue;
			memcpy(id, e->d_name, 2);
			memcpy(id + 2, f->d_name, STORE_ID_LEN - 2 + 1);
			if (store_valid_id(id))
				rc = fn(id, arg);
		}
		closedir(d);
	}
	closedir(top);
	return rc;
}
