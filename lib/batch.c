/* batch.c: rs-batch's engine.
 *
 * A run has three steps. (1) batch_add walks the inputs in a fixed
 * order (entries of a directory sorted bytewise, dot-files and the
 * output tree skipped, symbolic links to directories not followed) into
 * a list of items, each with its path relative to the root and the name
 * its restored output would get. (2) Worker threads take items in list
 * order. Each reads the file once: a file that is not a JPEG or PNG by
 * its magic bytes is "ignored"; the bytes are hashed (BLAKE2b-256); the
 * state of the path says whether an earlier run finished this content
 * with these settings ("skipped"); else the photo is classified, and
 * restored by the worker's own backend when the classification asks for
 * operations ("restored"), or copied byte for byte ("copied"). (3) The
 * report is written from every item's record.
 *
 * Everything of a run lives under OUT/.rs-batch/:
 *   lock          flock(2)ed while a run lives; holds its pid
 *   state/KEY     the record of the last outcome of one input path
 *                 (KEY: BLAKE2b-128 of the relative path), written with
 *                 util_write_atomic after the output
 *   tmp/          outputs are written here, fsynced, then renamed into
 *                 the mirrored tree; emptied when a run starts
 *   thumbs/       KEY-b.jpg and KEY-a.jpg, the report's before and after
 *                 (renamed from tmp/ but not fsynced: only the report needs them)
 *   log.jsonl     one line per file per run, appended
 *   report.html   the report of the last run
 * A crash at any instant leaves each output either absent or whole (the
 * only partial file is in tmp/), and at worst an output without its
 * state: the next run redoes that file, and as restoration is
 * deterministic it writes the same bytes. A record of "failed" is
 * retried by the next run.
 *
 * Output names: a restored photo takes the output format's extension
 * ("a.jpg" → "a.png"), unless it already has it, or another entry of
 * its directory has the same stem ("a.jpg" beside "a.png" or "a.tif"):
 * then the extension is appended ("a.jpg.png"), so two inputs never
 * share an output. A copy keeps its name. The output takes the input's
 * modification time. */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "backend.h"
#include "batch.h"
#include "batch_int.h"
#include "classify.h"
#include "img.h"
#include "json.h"
#include "restore.h"
#include "util.h"

#define BATCH_MAX_JOBS 64

const char *const batch_outcome_names[BATCH_NOUTCOMES] = {
	[BO_RESTORED] = "restored", [BO_COPIED] = "copied", [BO_SKIPPED] = "skipped",
	[BO_IGNORED] = "ignored", [BO_FAILED] = "failed", [BO_RESTORE] = "restore",
	[BO_COPY] = "copy", [BO_CLASSIFIED] = "classified",
};

struct worker {
	struct batch *b;
	struct backend *be;
	pthread_t tid;
	int id, started;
	unsigned long seq;            /* names temporary files */
};

double
batch_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- opening ---- */

static int
subdir(struct batch *b, const char *name, int create, int *fd)
{
	char p[PATH_MAX];

	if ((size_t)snprintf(p, sizeof p, "%s/%s", b->sdir, name) >= sizeof p) {
		warnx("%s/%s: name too long", b->sdir, name);
		return EX_CANTCREAT;
	}
	return util_open_dir(p, create, fd);
}

/* Remove what a killed run left: tmp/ entirely, util_write_atomic's
 * dot-temps elsewhere. */
static void
sweep(int dfd, int all)
{
	DIR *d;
	struct dirent *e;
	int fd = dup(dfd);

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (all || (e->d_name[0] == '.' && n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0))
			unlinkat(dfd, e->d_name, 0);
	}
	closedir(d);
}

static int
take_lock(struct batch *b)
{
	char p[PATH_MAX], pid[32];
	size_t got = 0;
	int n;

	snprintf(p, sizeof p, "%s/lock", b->sdir);
	if ((b->lockfd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		int e = errno;
		warn("%s", p);
		return util_ex_errno(e);
	}
	if (flock(b->lockfd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		if (e != EWOULDBLOCK) {
			warn("lock %s", p);
			return util_ex_errno(e);
		}
		memset(pid, 0, sizeof pid);
		util_read_all(b->lockfd, pid, sizeof pid - 1, &got);
		pid[strcspn(pid, "\n")] = '\0';
		warnx("%s: another rs-batch%s%s%s is working on this output tree; try again "
		    "when it has finished", b->o.out, *pid ? " (pid " : "", pid, *pid ? ")" : "");
		return EX_TEMPFAIL;
	}
	n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(b->lockfd, 0) < 0 || util_write_all(b->lockfd, pid, (size_t)n) < 0) {
		int e = errno;
		warn("%s", p);
		return util_ex_errno(e);
	}
	return 0;
}

/* Create (or, for a dry run, look at) OUT and OUT/.rs-batch. */
static int
open_out(struct batch *b)
{
	struct stat st, rst;
	int rc, create = b->o.mode == BATCH_RUN;
	char p[PATH_MAX];

	if ((size_t)snprintf(b->sdir, sizeof b->sdir, "%s/.rs-batch", b->o.out) >= sizeof b->sdir) {
		warnx("%s: name too long", b->o.out);
		return EX_USAGE;
	}
	if (!create) {
		if (stat(b->o.out, &st) < 0)
			return 0;                  /* nothing done yet */
		if ((b->outfd = open(b->o.out, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			int e = errno;
			warn("%s", b->o.out);
			return util_ex_errno(e);
		}
		snprintf(p, sizeof p, "%s/state", b->sdir);
		b->statefd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		if ((rc = util_open_dir(b->o.out, 1, &b->outfd)) != 0 ||
		    (rc = util_open_dir(b->sdir, 1, &b->sfd)) != 0)
			return rc;
		if ((rc = take_lock(b)) != 0 ||
		    (rc = subdir(b, "state", 1, &b->statefd)) != 0 ||
		    (rc = subdir(b, "tmp", 1, &b->tmpfd)) != 0 ||
		    (rc = subdir(b, "thumbs", 1, &b->thumbfd)) != 0)
			return rc;
		sweep(b->tmpfd, 1);
		sweep(b->statefd, 0);
		sweep(b->thumbfd, 0);
		snprintf(p, sizeof p, "%s/log.jsonl", b->sdir);
		if ((b->logfd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0) {
			int e = errno;
			warn("%s", p);
			return util_ex_errno(e);
		}
		if (fstat(b->outfd, &st) < 0) {
			warn("%s", b->o.out);
			return EX_IOERR;
		}
	}
	if (fstat(b->outfd, &st) == 0) {
		b->out_dev = st.st_dev;
		b->out_ino = st.st_ino;
		b->have_out = 1;
		if (stat(b->root, &rst) == 0 && rst.st_dev == st.st_dev && rst.st_ino == st.st_ino) {
			warnx("%s: the output tree cannot be the input tree", b->o.out);
			return EX_USAGE;
		}
	}
	return 0;
}

int
batch_open(const struct batch_opts *o, struct conf *c, struct batch **bp)
{
	struct batch *b;
	int rc = 0;

	*bp = NULL;
	if (sodium_init() < 0) {
		warnx("libsodium: cannot initialise");
		return EX_SOFTWARE;
	}
	if ((b = calloc(1, sizeof *b)) == NULL) {
		warn("batch");
		return EX_OSERR;
	}
	b->o = *o;
	b->conf = c;
	b->outfd = b->sfd = b->statefd = b->tmpfd = b->thumbfd = b->lockfd = -1;
	b->logfd = b->extlogfd = -1;
	pthread_mutex_init(&b->mu, NULL);
	pthread_mutex_init(&b->rate_mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	util_rfc3339(b->stamp);
	if (b->o.backend == NULL)
		b->o.backend = "local";
	if (b->o.jobs <= 0)
		b->o.jobs = util_threads(0);
	if (b->o.jobs > BATCH_MAX_JOBS)
		b->o.jobs = BATCH_MAX_JOBS;
	if ((rc = img_limits_conf(c, &b->lim)) != 0)
		goto out;
	restore_opts_default(&b->ro);
	b->ro.threads = 1;          /* the workers use the cores; -j 1 is one core */
	if (b->o.root != NULL && realpath(b->o.root, b->root) == NULL) {
		int e = errno;
		warn("%s", b->o.root);
		rc = util_ex_errno(e);
		goto out;
	}
	if (b->o.root != NULL) {
		struct stat st;
		if (stat(b->root, &st) < 0 || !S_ISDIR(st.st_mode)) {
			warnx("%s: not a directory", b->o.root);
			rc = EX_NOINPUT;
			goto out;
		}
	}
	if (b->o.mode != BATCH_TRIAGE) {
		snprintf(b->settings, sizeof b->settings, "%s %s", b->o.backend,
		    b->o.quality > 0 ? "jpeg" : "png");
		if (b->o.quality > 0)
			snprintf(b->settings + strlen(b->settings), 16, " q%d", b->o.quality % 1000);
		b->w = calloc((size_t)b->o.jobs, sizeof *b->w);
		if (b->w == NULL) {
			warn("batch");
			rc = EX_OSERR;
			goto out;
		}
		/* a bad --backend is a usage error even for a dry run */
		for (int i = 0; i < (b->o.mode == BATCH_RUN ? b->o.jobs : 1); i++) {
			b->w[i].b = b;
			b->w[i].id = i;
			if ((rc = backend_open(b->o.backend, c, &b->w[i].be)) != 0)
				goto out;
		}
		b->local = backend_is_local(b->w[0].be);
		if ((rc = open_out(b)) != 0)
			goto out;
		if (b->o.mode == BATCH_RUN && b->o.log != NULL && strcmp(b->o.log, "-") != 0 &&
		    (b->extlogfd = open(b->o.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0) {
			int e = errno;
			warn("%s", b->o.log);
			rc = util_ex_errno(e);
			goto out;
		}
	}
out:
	if (rc != 0)
		batch_close(b);
	else
		*bp = b;
	return rc;
}

void
batch_close(struct batch *b)
{
	if (b == NULL)
		return;
	if (b->w != NULL)
		for (int i = 0; i < b->o.jobs; i++)
			backend_close(b->w[i].be);
	free(b->w);
	for (size_t i = 0; i < b->n; i++) {
		free(b->items[i].file);
		free(b->items[i].rel);
		free(b->items[i].outrel);
		jv_free(b->items[i].rec);
	}
	free(b->items);
	for (size_t i = 0; i < b->dc.n; i++)
		free(b->dc.names[i]);
	free(b->dc.names);
	free(b->dc.dir);
	int fds[] = { b->outfd, b->sfd, b->statefd, b->tmpfd, b->thumbfd, b->logfd,
		b->extlogfd, b->lockfd };      /* the lock goes last */
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	pthread_mutex_destroy(&b->mu);
	pthread_mutex_destroy(&b->rate_mu);
	pthread_cond_destroy(&b->cv);
	free(b);
}

/* ---- walking ---- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of directory path, sorted, dot-files left out. */
static int
list_dir(const char *path, char ***names, size_t *n)
{
	DIR *d;
	struct dirent *e;
	size_t cap = 0;
	int rc = 0;

	*names = NULL;
	*n = 0;
	if ((d = opendir(path)) == NULL) {
		int er = errno;
		warn("%s", path);
		return util_ex_errno(er);
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (*n == cap) {
			char **nn = realloc(*names, (cap = cap ? cap * 2 : 64) * sizeof *nn);
			if (nn == NULL) {
				rc = EX_OSERR;
				break;
			}
			*names = nn;
		}
		if (((*names)[*n] = strdup(e->d_name)) == NULL) {
			rc = EX_OSERR;
			break;
		}
		(*n)++;
	}
	closedir(d);
	if (rc != 0)
		warnx("%s: out of memory", path);
	qsort(*names, *n, sizeof **names, cmp_str);
	return rc;
}

static size_t
stem_len(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot != NULL && dot != name ? (size_t)(dot - name) : strlen(name);
}

static int
ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && strcasecmp(s + n - m, suf) == 0;
}

/* The name a restored copy of names[i] gets (malloc'd); see the top. */
static char *
restored_name(const struct batch *b, char *const *names, size_t n, const char *name)
{
	const char *ext = b->o.quality > 0 ? ".jpg" : ".png";
	size_t sl = stem_len(name);
	int clash = 0;
	char *r;

	if (ends_with(name, ext) || (b->o.quality > 0 && ends_with(name, ".jpeg")))
		return strdup(name);
	for (size_t i = 0; i < n && !clash; i++)
		clash = strcmp(names[i], name) != 0 && stem_len(names[i]) == sl &&
		    strncmp(names[i], name, sl) == 0;
	if ((r = malloc(strlen(name) + 5)) == NULL)
		return NULL;
	snprintf(r, strlen(name) + 5, "%.*s%s", (int)(clash ? strlen(name) : sl), name, ext);
	return r;
}

static char *
join(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	char *p;

	if (n == 0)
		return strdup(name);
	if ((p = malloc(n + strlen(name) + 2)) != NULL)
		snprintf(p, n + strlen(name) + 2, "%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", name);
	return p;
}

static int
add_item(struct batch *b, const char *file, const char *reldir, const char *name,
    char *const *names, size_t n)
{
	struct batch_item *it;
	char *on;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		struct batch_item *ni = realloc(b->items, cap * sizeof *ni);
		if (ni == NULL) {
			warnx("%s: out of memory", file);
			return EX_OSERR;
		}
		b->items = ni;
		b->cap = cap;
	}
	it = &b->items[b->n];
	memset(it, 0, sizeof *it);
	it->rec = jv_invalid();
	on = restored_name(b, names, n, name);
	it->file = strdup(file);
	it->rel = join(reldir, name);
	it->outrel = on != NULL ? join(reldir, on) : NULL;
	free(on);
	if (it->file == NULL || it->rel == NULL || it->outrel == NULL) {
		free(it->file);
		free(it->rel);
		free(it->outrel);
		warnx("%s: out of memory", file);
		return EX_OSERR;
	}
	b->n++;
	return 0;
}

static void
note(struct batch *b, int rc)
{
	if (rc != 0 && b->add_rc == 0)
		b->add_rc = rc;
}

static int
walk(struct batch *b, const char *dir, const char *rel, int depth)
{
	char **names;
	size_t n;
	int rc;

	if (depth > 256) {
		warnx("%s: directories nested too deep", dir);
		return EX_DATAERR;
	}
	if ((rc = list_dir(dir, &names, &n)) != 0)
		return rc;
	for (size_t i = 0; i < n && rc != EX_OSERR; i++) {
		char *path = join(dir, names[i]), *r = join(rel, names[i]);
		struct stat st;
		if (path == NULL || r == NULL)
			rc = EX_OSERR;
		else if (lstat(path, &st) < 0)
			note(b, util_ex_errno(errno)), warn("%s", path);
		else if (S_ISDIR(st.st_mode)) {
			if (!(b->have_out && st.st_dev == b->out_dev && st.st_ino == b->out_ino))
				note(b, walk(b, path, r, depth + 1));
		} else if (S_ISREG(st.st_mode) || (S_ISLNK(st.st_mode) &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode)))
			rc = add_item(b, path, rel, names[i], names, n);
		free(path);
		free(r);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc == EX_OSERR ? rc : 0;
}

/* path's location relative to the root, into rel ("" for the root). */
static int
relative(struct batch *b, const char *path, int isdir, char *rel, size_t size)
{
	char abs[PATH_MAX], dir[PATH_MAX];
	const char *slash = strrchr(path, '/'), *base = path;
	size_t rn = strlen(b->root);

	if (isdir) {
		if (realpath(path, abs) == NULL)
			goto bad;
	} else {
		if (slash == NULL)
			snprintf(dir, sizeof dir, ".");
		else if (slash == path)
			snprintf(dir, sizeof dir, "/");
		else
			snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
		base = slash != NULL ? slash + 1 : path;
		if (realpath(dir, abs) == NULL)
			goto bad;
		size_t n = strlen(abs);
		if ((size_t)snprintf(abs + n, sizeof abs - n, "%s%s", strcmp(abs, "/") == 0 ? "" : "/",
		    base) >= sizeof abs - n) {
			warnx("%s: name too long", path);
			return EX_DATAERR;
		}
	}
	if (strcmp(b->root, "/") == 0)
		snprintf(rel, size, "%s", abs + 1);
	else if (strncmp(abs, b->root, rn) == 0 && (abs[rn] == '/' || abs[rn] == '\0'))
		snprintf(rel, size, "%s", abs[rn] == '/' ? abs + rn + 1 : "");
	else {
		warnx("%s: not under %s", path, b->o.root);
		return EX_USAGE;
	}
	return 0;
bad:
	{
		int e = errno;
		warn("%s", path);
		return util_ex_errno(e);
	}
}

int
batch_add(struct batch *b, const char *path)
{
	char rel[PATH_MAX], reldir[PATH_MAX];
	struct stat st;
	const char *name;
	int rc;

	if (stat(path, &st) < 0) {
		int e = errno;
		warn("%s", path);
		note(b, util_ex_errno(e));
		return util_ex_errno(e);
	}
	if (b->o.root == NULL)          /* triage: paths as given */
		snprintf(rel, sizeof rel, "%s", path);
	else if ((rc = relative(b, path, S_ISDIR(st.st_mode), rel, sizeof rel)) != 0) {
		note(b, rc);
		return rc;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = walk(b, path, b->o.root == NULL ? path : rel, 0);
		note(b, rc);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		warnx("%s: not a regular file or directory", path);
		note(b, EX_DATAERR);
		return EX_DATAERR;
	}
	/* a file named directly: its siblings decide its output name; the
	 * last directory listed is kept, as find lists a directory at once */
	name = strrchr(rel, '/') != NULL ? strrchr(rel, '/') + 1 : rel;
	snprintf(reldir, sizeof reldir, "%.*s", (int)(name - rel), rel);
	if (reldir[0] != '\0')
		reldir[strlen(reldir) - 1] = '\0';
	{
		const char *s = strrchr(path, '/');
		char dir[PATH_MAX];
		snprintf(dir, sizeof dir, "%.*s", s == NULL ? 1 : s == path ? 1 : (int)(s - path),
		    s == NULL ? "." : path);
		if (b->dc.dir == NULL || strcmp(b->dc.dir, dir) != 0) {
			for (size_t i = 0; i < b->dc.n; i++)
				free(b->dc.names[i]);
			free(b->dc.names);
			free(b->dc.dir);
			b->dc.names = NULL;
			b->dc.n = 0;
			if ((b->dc.dir = strdup(dir)) == NULL)
				warnx("%s: out of memory", dir);
			if ((rc = b->dc.dir == NULL ? EX_OSERR :
			    list_dir(dir, &b->dc.names, &b->dc.n)) != 0) {
				note(b, rc);
				return rc;
			}
		}
	}
	rc = add_item(b, path, b->o.root == NULL ? "" : reldir, b->o.root == NULL ? path : name,
	    b->dc.names, b->dc.n);
	note(b, rc);
	return rc;
}

/* ---- one file ---- */

static const char *
status_text(int rc)
{
	switch (rc) {
	case EX_DATAERR:     return "not a sound JPEG or PNG, or over the limits";
	case EX_NOINPUT:     return "missing or unreadable";
	case EX_NOPERM:      return "permission denied";
	case EX_UNAVAILABLE: return "the backend failed";
	case EX_TEMPFAIL:    return "temporary failure";
	case EX_CANTCREAT:   return "cannot create the output";
	case EX_IOERR:       return "read or write error";
	default:             return "failed";
	}
}

static jv
failed(struct batch_item *it, jv rec, int rc, const char *msg)
{
	it->status = rc;
	it->outcome = BO_FAILED;
	return jv_object_set(jv_object_set(rec, jv_string("outcome"), jv_string("failed")),
	    jv_string("error"), JV_OBJECT(jv_string("status"), jv_number(rc),
	    jv_string("message"), jv_string(msg != NULL ? msg : status_text(rc))));
}

/* Read the whole file if it is a JPEG or PNG: 0; -1 with *why set when
 * it is not; else a status. */
static int
read_input(struct batch *b, const char *path, unsigned char **buf, size_t *len,
    struct timespec *mtime, const char **why)
{
	unsigned char head[16];
	size_t got = 0;
	struct stat st;
	enum img_type t;
	int fd, e, rc = 0;

	*buf = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		e = errno;
		warn("%s", path);
		if (fd >= 0)
			close(fd);
		*why = strerror(e);
		return util_ex_errno(e);
	}
	*mtime = st.st_mtim;
	if (util_read_all(fd, head, sizeof head, &got) < 0) {
		e = errno;
		warn("%s", path);
		*why = strerror(e);
		close(fd);
		return util_ex_errno(e);
	}
	t = img_sniff(head, got);
	if (t != IMG_JPEG && t != IMG_PNG) {
		*why = t == IMG_UNKNOWN ? "not a JPEG or PNG" : img_type_name(t);
		close(fd);
		return -1;
	}
	if ((unsigned long long)st.st_size > b->lim.max_bytes) {
		warnx("%s: %lld bytes exceeds the limit of %llu", path, (long long)st.st_size,
		    b->lim.max_bytes);
		*why = "the file exceeds the size limit";
		close(fd);
		return EX_DATAERR;
	}
	if ((*buf = malloc((size_t)st.st_size + 1)) == NULL) {
		warnx("%s: out of memory", path);
		close(fd);
		return EX_OSERR;
	}
	memcpy(*buf, head, got);
	if (util_read_all(fd, *buf + got, (size_t)st.st_size - got, len) < 0) {
		e = errno;
		warn("%s", path);
		*why = strerror(e);
		rc = util_ex_errno(e);
	}
	*len += got;
	close(fd);
	return rc;
}

/* The last record of rel's state, or invalid. */
static jv
state_get(struct batch *b, const char *key)
{
	char buf[65536];
	size_t got = 0;
	int fd;

	if (b->statefd < 0 || (fd = openat(b->statefd, key, O_RDONLY | O_CLOEXEC)) < 0)
		return jv_invalid();
	if (util_read_all(fd, buf, sizeof buf - 1, &got) < 0)
		got = 0;
	close(fd);
	buf[got] = '\0';
	jv v = jv_parse(buf);
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		return jv_invalid();
	}
	return v;
}

static int
state_put(struct batch *b, const char *key, jv rec)
{
	char p[PATH_MAX];
	jv s = jv_dump_string(jv_copy(rec), 0);
	int rc;

	snprintf(p, sizeof p, "%s/state", b->sdir);
	rc = util_write_atomic(b->statefd, p, key, jv_string_value(s),
	    (size_t)jv_string_length_bytes(jv_copy(s)), 0644);
	jv_free(s);
	return rc;
}

/* Did an earlier run finish this content with these settings, and is
 * its output still there? Borrows prev. */
static int
done_before(struct batch *b, jv prev, const char *hash)
{
	const char *oc = json_str(prev, "outcome"), *h = json_str(prev, "hash"),
	    *set = json_str(prev, "settings"), *o = json_str(prev, "output");
	jv bytes = json_get(prev, "bytes");
	struct stat st;
	int ok;

	if (oc != NULL && strcmp(oc, "skipped") == 0)
		oc = json_str(prev, "previous");
	ok = oc != NULL && (strcmp(oc, "restored") == 0 || strcmp(oc, "copied") == 0) &&
	    h != NULL && strcmp(h, hash) == 0 && set != NULL && strcmp(set, b->settings) == 0 &&
	    o != NULL && b->outfd >= 0 && fstatat(b->outfd, o, &st, 0) == 0 &&
	    jv_get_kind(bytes) == JV_KIND_NUMBER && (double)st.st_size == jv_number_value(bytes);
	jv_free(bytes);
	return ok;
}

/* Write an output: tmp/, fsync, rename into OUT/rel's directory, fsync. */
static int
put_output(struct worker *w, const char *rel, const void *buf, size_t len,
    const struct timespec *mtime)
{
	struct batch *b = w->b;
	char dir[PATH_MAX], tmp[64], name[PATH_MAX];
	const char *base = strrchr(rel, '/');
	int dfd = b->outfd, fd = -1, e = 0, rc = 0;

	snprintf(name, sizeof name, "%s/%s", b->o.out, rel);
	if (base != NULL) {
		snprintf(dir, sizeof dir, "%.*s", (int)(base - rel), rel);
		for (char *s = dir; ; s++)         /* mkdir -p under OUT; racing workers are fine */
			if (*s == '/' || *s == '\0') {
				char c = *s;
				*s = '\0';
				if (mkdirat(b->outfd, dir, 0777) < 0 && errno != EEXIST) {
					e = errno;
					warn("mkdir %s/%s", b->o.out, dir);
					return e == EACCES || e == EPERM || e == EROFS ? EX_NOPERM : EX_CANTCREAT;
				}
				if ((*s = c) == '\0')
					break;
			}
		if ((dfd = openat(b->outfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			e = errno;
			warn("%s/%s", b->o.out, dir);
			return util_ex_errno(e);
		}
		base++;
	} else
		base = rel;
	snprintf(tmp, sizeof tmp, "%ld-%d-%lu", (long)getpid(), w->id, w->seq++);
	if ((fd = openat(b->tmpfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666)) < 0) {
		e = errno;
		warn("create %s/tmp/%s", b->sdir, tmp);
		rc = e == EACCES || e == EPERM || e == EROFS ? EX_NOPERM : EX_CANTCREAT;
		goto out;
	}
	struct timespec ts[2] = { *mtime, *mtime };
	if (util_write_all(fd, buf, len) < 0 || futimens(fd, ts) < 0 || fsync(fd) < 0) {
		e = errno;
		warn("write %s", name);
		goto fail;
	}
	util_crashpoint("batch-rename");
	e = close(fd) < 0 ? errno : 0;
	fd = -1;
	if (e != 0 || renameat(b->tmpfd, tmp, dfd, base) < 0) {
		e = e ? e : errno;
		warn("commit %s", name);
		goto fail;
	}
	if (fsync(dfd) < 0) {
		e = errno;
		warn("fsync %s", name);
		rc = EX_IOERR;
	}
	goto out;
fail:
	rc = e == ENOSPC || e == EDQUOT || e == EIO ? EX_IOERR : util_ex_errno(e);
	if (fd >= 0)
		close(fd);
	unlinkat(b->tmpfd, tmp, 0);
out:
	if (dfd != b->outfd)
		close(dfd);
	return rc;
}

static void
rate_wait(struct batch *b)
{
	double t, at;

	if (b->o.rate <= 0 || b->local)
		return;
	pthread_mutex_lock(&b->rate_mu);
	t = batch_now();
	at = b->rate_next > t ? b->rate_next : t;
	b->rate_next = at + 60.0 / b->o.rate;
	pthread_mutex_unlock(&b->rate_mu);
	while ((t = batch_now()) < at && !(b->o.stop != NULL && *b->o.stop)) {
		double d = at - t > 0.2 ? 0.2 : at - t;
		struct timespec ts = { (time_t)d, (long)((d - (time_t)d) * 1e9) };
		nanosleep(&ts, NULL);
	}
}

/* Thumbnails are written through tmp/ and renamed, but not fsynced:
 * the report can do without one, and a photo would pay four more fsyncs. */
static void
thumb_put(struct worker *w, const char *key, const char *which, const struct img *im)
{
	struct batch *b = w->b;
	char name[128], tmp[64];
	unsigned char *jpg = NULL;
	size_t len = 0;
	int fd;

	if (batch_thumb(key, im, &jpg, &len) != 0)
		return;
	snprintf(name, sizeof name, "%s-%s.jpg", key, which);
	snprintf(tmp, sizeof tmp, "%ld-%d-%lu", (long)getpid(), w->id, w->seq++);
	if ((fd = openat(b->tmpfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) >= 0) {
		int bad = util_write_all(fd, jpg, len) < 0;
		if (close(fd) < 0 || bad || renameat(b->tmpfd, tmp, b->thumbfd, name) < 0)
			unlinkat(b->tmpfd, tmp, 0);
	}
	free(jpg);
}

/* Severity: the highest degradation score; *det: the detected types. */
static double
severity(jv cls, jv *det, jv *degs, int *ndet)
{
	jv d = json_get(cls, "degradations");
	double s = 0;

	*det = jv_array();
	*degs = jv_array();
	*ndet = 0;
	if (jv_get_kind(d) == JV_KIND_ARRAY)
		jv_array_foreach(d, i, x) {
			jv sc = json_get(x, "score"), dt = json_get(x, "detected"), ty = json_get(x, "type");
			double v = jv_get_kind(sc) == JV_KIND_NUMBER ? jv_number_value(sc) : 0;
			if (v > s)
				s = v;
			if (jv_get_kind(dt) == JV_KIND_TRUE) {
				*det = jv_array_append(*det, jv_copy(ty));
				(*ndet)++;
			}
			*degs = jv_array_append(*degs, JV_OBJECT(jv_string("type"), ty,
			    jv_string("score"), sc, jv_string("detected"), dt));
			jv_free(x);
		}
	jv_free(d);
	return s;
}

static jv
op_names(jv ops)   /* borrows */
{
	jv a = jv_array();

	if (jv_get_kind(ops) == JV_KIND_ARRAY)
		jv_array_foreach(ops, i, x) {
			jv n = json_get(x, "op");
			if (jv_get_kind(n) == JV_KIND_STRING)
				a = jv_array_append(a, n);
			else
				jv_free(n);
			jv_free(x);
		}
	return a;
}

/* Restore im (decoded from buf) with the worker's backend: *out the
 * encoded output. */
static int
restore_one(struct worker *w, struct batch_item *it, const unsigned char *buf, size_t len,
    jv cls, struct img *im, unsigned char **out, size_t *outlen, jv *rec)
{
	struct batch *b = w->b;
	struct backend_req r;
	struct img res;
	jv plan = jv_invalid(), brec = jv_invalid();
	int rc;

	memset(&res, 0, sizeof res);
	memset(&r, 0, sizeof r);
	if ((rc = restore_plan(it->file, json_get(cls, "ops"), &b->ro, &plan)) != 0)
		return rc;
	r.n = 1;
	r.in[0] = (struct backend_input){ .name = it->file, .path = it->file, .buf = buf,
		.len = len, .im = im };
	r.classify = cls;
	r.plan = plan;
	r.ro = &b->ro;
	r.job = JV_OBJECT(jv_string("file"), jv_string(it->rel));
	r.lim = &b->lim;
	rate_wait(b);
	rc = backend_run(w->be, &r, &res, &brec);
	jv_free(r.job);
	jv_free(plan);
	if (jv_is_valid(brec)) {
		jv e = json_get(brec, "error");
		const char *m = jv_get_kind(e) == JV_KIND_OBJECT ? json_str(e, "message") : NULL;
		if (rc != 0 && m != NULL)
			*rec = failed(it, *rec, rc, m);
		jv_free(e);
		*rec = jv_object_set(*rec, jv_string("restore"), brec);
	}
	if (rc != 0)
		goto out;
	if (res.exif == NULL && res.icc == NULL && (rc = img_copy_meta(&res, im)) != 0)
		goto out;
	if ((rc = img_encode(it->file, &res, b->o.quality > 0 ? IMG_JPEG : IMG_PNG,
	    b->o.quality > 0 ? b->o.quality : 92, b->ro.threads, out, outlen)) != 0)
		goto out;
	*rec = jv_object_set(*rec, jv_string("out_width"), jv_number(res.w));
	*rec = jv_object_set(*rec, jv_string("out_height"), jv_number(res.h));
	thumb_put(w, it->key, "a", &res);
out:
	img_free(&res);
	return rc;
}

static void
process(struct worker *w, struct batch_item *it)
{
	struct batch *b = w->b;
	unsigned char *buf = NULL, *out = NULL, h[32], kh[16];
	char hash[65];
	size_t len = 0, outlen = 0;
	struct timespec mtime = { 0, 0 };
	struct img info, im;
	jv rec, cls = jv_invalid(), prev = jv_invalid(), det, degs;
	const char *why = NULL;
	double t0 = batch_now();
	int rc, ndet;

	memset(&info, 0, sizeof info);
	memset(&im, 0, sizeof im);
	crypto_generichash(kh, sizeof kh, (const unsigned char *)it->rel, strlen(it->rel), NULL, 0);
	util_hex(kh, sizeof kh, it->key);
	rec = JV_OBJECT(jv_string("file"), jv_string(it->file));
	if (b->o.mode != BATCH_TRIAGE)
		rec = jv_object_set(rec, jv_string("path"), jv_string(it->rel));
	if ((rc = read_input(b, it->file, &buf, &len, &mtime, &why)) < 0) {
		it->outcome = BO_IGNORED;
		rec = jv_object_set(jv_object_set(rec, jv_string("outcome"), jv_string("ignored")),
		    jv_string("reason"), jv_string(why));
		goto done;
	}
	if (rc != 0) {
		rec = failed(it, rec, rc, why);
		goto done;
	}
	crypto_generichash(h, sizeof h, buf, len, NULL, 0);
	util_hex(h, sizeof h, hash);
	if (b->o.mode != BATCH_TRIAGE) {
		rec = jv_object_set(rec, jv_string("hash"), jv_string(hash));
		if (jv_is_valid(prev = state_get(b, it->key)) && done_before(b, prev, hash)) {
			const char *po = json_str(prev, "outcome");
			jv was = jv_string(po != NULL && strcmp(po, "skipped") != 0 ? po :
			    json_str(prev, "previous") != NULL ? json_str(prev, "previous") : "restored");
			jv_free(rec);
			rec = jv_object_set(jv_copy(prev), jv_string("previous"), was);
			rec = jv_object_set(rec, jv_string("outcome"), jv_string("skipped"));
			rec = jv_object_set(rec, jv_string("file"), jv_string(it->file));
			rec = jv_object_delete(rec, jv_string("ms"));
			it->outcome = BO_SKIPPED;
			jv s = json_get(rec, "severity");
			it->severity = jv_get_kind(s) == JV_KIND_NUMBER ? jv_number_value(s) : 0;
			jv_free(s);
			s = json_get(rec, "detected");
			it->ndetected = jv_get_kind(s) == JV_KIND_ARRAY ? jv_array_length(jv_copy(s)) : 0;
			jv_free(s);
			goto done;
		}
	}
	if ((rc = classify_buf(it->file, buf, len, &b->lim, &cls, &info)) != 0) {
		rec = failed(it, rec, rc, NULL);
		goto done;
	}
	it->severity = severity(cls, &det, &degs, &ndet);
	it->ndetected = ndet;
	jv ops = json_get(cls, "ops");
	int needs = jv_get_kind(ops) == JV_KIND_ARRAY && jv_array_length(jv_copy(ops)) > 0;
	rec = jv_object_set(rec, jv_string("mime"), jv_string(img_mime(info.type)));
	rec = jv_object_set(rec, jv_string("width"), jv_number(info.w));
	rec = jv_object_set(rec, jv_string("height"), jv_number(info.h));
	rec = jv_object_set(rec, jv_string("severity"), jv_number(round(it->severity * 1e4) / 1e4));
	rec = jv_object_set(rec, jv_string("detected"), det);
	if (b->o.mode == BATCH_TRIAGE) {
		jv_free(degs);
		rec = jv_object_set(rec, jv_string("degradations"), json_get(cls, "degradations"));
		rec = jv_object_set(rec, jv_string("attributes"), json_get(cls, "attributes"));
		rec = jv_object_set(rec, jv_string("ops"), ops);
		it->outcome = BO_CLASSIFIED;
		goto done;
	}
	rec = jv_object_set(rec, jv_string("degradations"), degs);
	rec = jv_object_set(rec, jv_string("ops"), op_names(ops));
	jv_free(ops);
	rec = jv_object_set(rec, jv_string("settings"), jv_string(b->settings));
	rec = jv_object_set(rec, jv_string("output"), jv_string(needs ? it->outrel : it->rel));
	if (b->o.mode == BATCH_DRY_RUN) {
		it->outcome = needs ? BO_RESTORE : BO_COPY;
		rec = jv_object_set(rec, jv_string("outcome"),
		    jv_string(batch_outcome_names[it->outcome]));
		goto done;
	}
	if (!needs) {
		if (img_decode(it->file, buf, len, &b->lim, 0, 8, &im) == 0)
			thumb_put(w, it->key, "b", &im);
		if ((rc = put_output(w, it->rel, buf, len, &mtime)) != 0) {
			rec = failed(it, rec, rc, NULL);
			goto done;
		}
		it->outcome = BO_COPIED;
		outlen = len;
	} else {
		if ((rc = img_decode(it->file, buf, len, &b->lim, 0, 1, &im)) != 0) {
			rec = failed(it, rec, rc, NULL);
			goto done;
		}
		thumb_put(w, it->key, "b", &im);
		if ((rc = restore_one(w, it, buf, len, cls, &im, &out, &outlen, &rec)) != 0 ||
		    (rc = put_output(w, it->outrel, out, outlen, &mtime)) != 0) {
			if (it->outcome != BO_FAILED)
				rec = failed(it, rec, rc, NULL);
			goto done;
		}
		it->outcome = BO_RESTORED;
	}
	rec = jv_object_set(rec, jv_string("outcome"), jv_string(batch_outcome_names[it->outcome]));
	rec = jv_object_set(rec, jv_string("bytes"), jv_number((double)outlen));
done:
	if (it->outcome != BO_SKIPPED && it->outcome != BO_IGNORED && b->o.mode == BATCH_RUN)
		rec = jv_object_set(rec, jv_string("ms"), jv_number(round((batch_now() - t0) * 1000)));
	if (b->o.mode == BATCH_RUN) {
		rec = jv_object_set(rec, jv_string("run"), jv_string(b->stamp));
		if ((it->outcome == BO_RESTORED || it->outcome == BO_COPIED || it->outcome == BO_FAILED) &&
		    (rc = state_put(b, it->key, rec)) != 0 && it->outcome != BO_FAILED)
			rec = failed(it, rec, rc, NULL);
	}
	it->rec = rec;
	jv_free(prev);
	jv_free(cls);
	img_free(&im);
	free(buf);
	free(out);
}

/* ---- running ---- */

static void
log_line(struct batch *b, jv rec)   /* borrows; called with b->mu held */
{
	jv s;
	const char *t;
	size_t n;

	if (b->logfd < 0 && b->extlogfd < 0 && !(b->o.log != NULL && strcmp(b->o.log, "-") == 0 &&
	    b->o.mode == BATCH_RUN))
		return;
	s = jv_dump_string(jv_copy(rec), 0);
	t = jv_string_value(s);
	n = strlen(t);
	char *line = malloc(n + 2);
	if (line != NULL) {
		memcpy(line, t, n);
		line[n] = '\n';
		if (b->logfd >= 0 && util_write_all(b->logfd, line, n + 1) < 0 && !b->log_failed) {
			warn("%s/log.jsonl", b->sdir);
			b->log_failed = 1;
		}
		if (b->extlogfd >= 0 && util_write_all(b->extlogfd, line, n + 1) < 0 && !b->log_failed) {
			warn("%s", b->o.log);
			b->log_failed = 1;
		}
		if (b->o.log != NULL && strcmp(b->o.log, "-") == 0 && b->o.mode == BATCH_RUN) {
			fwrite(line, 1, n + 1, b->o.out_fp);
			fflush(b->o.out_fp);
		}
		free(line);
	}
	jv_free(s);
}

static void *
work(void *arg)
{
	struct worker *w = arg;
	struct batch *b = w->b;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&b->mu);
		if (b->next >= b->n || (b->o.stop != NULL && *b->o.stop)) {
			b->running--;
			pthread_cond_broadcast(&b->cv);
			pthread_mutex_unlock(&b->mu);
			return NULL;
		}
		i = b->next++;
		pthread_mutex_unlock(&b->mu);
		process(w, &b->items[i]);
		pthread_mutex_lock(&b->mu);
		b->count[b->items[i].outcome]++;
		b->finished++;
		log_line(b, b->items[i].rec);
		pthread_cond_broadcast(&b->cv);
		pthread_mutex_unlock(&b->mu);
	}
}

static void
fmt_time(double s, char *out, size_t size)
{
	if (!(s >= 0) || s > 1e7)
		snprintf(out, size, "?");
	else if (s >= 3600)
		snprintf(out, size, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
	else if (s >= 60)
		snprintf(out, size, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
	else
		snprintf(out, size, "%ds", (int)s);
}

static void
progress(struct batch *b, int last)      /* with b->mu held */
{
	size_t work = b->count[BO_RESTORED] + b->count[BO_COPIED] + b->count[BO_FAILED] +
	    b->count[BO_RESTORE] + b->count[BO_COPY] + b->count[BO_CLASSIFIED];
	double el = batch_now() - b->t0, rate = el > 0 ? work / el * 60 : 0;
	char eta[32];

	fmt_time(rate > 0 ? (b->n - b->finished) / (rate / 60) : -1, eta, sizeof eta);
	fprintf(stderr, "\r\033[Krs-batch: %zu/%zu done, %zu failed, %.1f photos/min, %s %s%s",
	    b->finished, b->n, b->count[BO_FAILED], rate, last ? "took" : "ETA",
	    last ? "" : eta, last ? "" : "");
	if (last) {
		fmt_time(el, eta, sizeof eta);
		fprintf(stderr, "%s\n", eta);
	}
}

static int
cmp_severity(const void *pa, const void *pb)
{
	const struct batch_item *a = *(struct batch_item *const *)pa, *b = *(struct batch_item *const *)pb;

	if (a->severity != b->severity)
		return a->severity > b->severity ? -1 : 1;
	if (a->ndetected != b->ndetected)
		return a->ndetected > b->ndetected ? -1 : 1;
	return strcmp(a->file, b->file);
}

struct batch_item **
batch_sorted(struct batch *b, size_t *n)
{
	struct batch_item **v = malloc((b->n + 1) * sizeof *v);

	*n = 0;
	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < b->n; i++)
		if (jv_is_valid(b->items[i].rec) && b->items[i].outcome != BO_IGNORED)
			v[(*n)++] = &b->items[i];
	qsort(v, *n, sizeof *v, cmp_severity);
	return v;
}

static int
triage_out(struct batch *b)
{
	struct batch_item **v;
	size_t n;
	int rc = 0;

	if ((v = batch_sorted(b, &n)) == NULL) {
		warnx("triage: out of memory");
		return EX_OSERR;
	}
	if (b->o.table)
		fprintf(b->o.out_fp, "%-8s  %-44s  %s\n", "SEVERITY", "DETECTED", "FILE");
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (v[i]->outcome != BO_CLASSIFIED)
			continue;
		if (!b->o.table) {
			rc = json_write(b->o.out_fp, jv_copy(v[i]->rec));
			continue;
		}
		jv det = json_get(v[i]->rec, "detected");
		char list[256] = "";
		size_t k = 0;
		jv_array_foreach(det, j, x) {
			k += (size_t)snprintf(list + k, k < sizeof list ? sizeof list - k : 0, "%s%s",
			    j ? "," : "", jv_string_value(x));
			jv_free(x);
		}
		jv_free(det);
		fprintf(b->o.out_fp, "%8.2f  %-44s  %s\n", v[i]->severity, *list ? list : "-",
		    v[i]->file);
	}
	free(v);
	return rc;
}

int
batch_run(struct batch *b, jv *summary)
{
	size_t started = 0;
	int rc = 0, stopped;
	char rpath[PATH_MAX] = "";

	*summary = jv_invalid();
	b->t0 = batch_now();
	b->running = b->o.jobs;
	for (int i = 0; i < b->o.jobs; i++) {
		struct worker *w;
		if (b->w == NULL) {           /* triage: workers without backends */
			if ((b->w = calloc((size_t)b->o.jobs, sizeof *b->w)) == NULL) {
				warn("batch");
				return EX_OSERR;
			}
		}
		w = &b->w[i];
		w->b = b;
		w->id = i;
		if (pthread_create(&w->tid, NULL, work, w) != 0) {
			pthread_mutex_lock(&b->mu);
			b->running--;
			pthread_mutex_unlock(&b->mu);
			if (started == 0) {
				warnx("cannot start a worker thread");
				return EX_OSERR;
			}
			continue;
		}
		w->started = 1;
		started++;
	}
	pthread_mutex_lock(&b->mu);
	while (b->running > 0) {
		if (b->o.progress) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 500000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			progress(b, 0);
			pthread_cond_timedwait(&b->cv, &b->mu, &ts);
		} else
			pthread_cond_wait(&b->cv, &b->mu);
	}
	if (b->o.progress)
		progress(b, 1);
	pthread_mutex_unlock(&b->mu);
	for (int i = 0; i < b->o.jobs; i++)
		if (b->w[i].started)
			pthread_join(b->w[i].tid, NULL);
	stopped = b->finished < b->n;

	for (size_t i = 0; i < b->n && rc == 0; i++)
		if (b->items[i].outcome == BO_FAILED)
			rc = b->items[i].status;
	if (rc == 0)
		rc = b->add_rc;
	if (stopped) {
		warnx("stopped after %zu of %zu files; run again to finish", b->finished, b->n);
		rc = EX_TEMPFAIL;
	}
	if (b->o.mode == BATCH_TRIAGE) {
		int r = triage_out(b);
		return rc != 0 ? rc : r;
	}
	if (b->o.mode == BATCH_DRY_RUN)
		for (size_t i = 0; i < b->n; i++)
			if (jv_is_valid(b->items[i].rec) &&
			    json_write(b->o.out_fp, jv_copy(b->items[i].rec)) != 0 && rc == 0)
				rc = EX_IOERR;
	if (b->o.mode == BATCH_RUN) {
		int r;
		if (b->o.report != NULL)
			snprintf(rpath, sizeof rpath, "%s", b->o.report);
		else
			snprintf(rpath, sizeof rpath, "%s/report.html", b->sdir);
		if ((r = batch_report(b, rpath)) != 0 && rc == 0)
			rc = r;
	}
	double el = batch_now() - b->t0;
	size_t work = b->count[BO_RESTORED] + b->count[BO_COPIED] + b->count[BO_FAILED];
	jv s = JV_OBJECT(jv_string("in"), jv_string(b->o.root), jv_string("out"),
	    jv_string(b->o.out), jv_string("backend"), jv_string(b->o.backend),
	    jv_string("jobs"), jv_number(b->o.jobs), jv_string("files"), jv_number((double)b->n));
	if (b->o.mode == BATCH_DRY_RUN)
		s = jv_object_set(s, jv_string("dry_run"), jv_true());
	for (int k = 0; k < BATCH_NOUTCOMES; k++)
		if (k != BO_CLASSIFIED && (b->o.mode == BATCH_DRY_RUN ? k != BO_RESTORED && k != BO_COPIED :
		    k != BO_RESTORE && k != BO_COPY))
			s = jv_object_set(s, jv_string(batch_outcome_names[k]), jv_number((double)b->count[k]));
	s = jv_object_set(s, jv_string("seconds"), jv_number(round(el * 1000) / 1000));
	s = jv_object_set(s, jv_string("photos_per_minute"),
	    jv_number(el > 0 ? round(work / el * 600) / 10 : 0));
	if (b->o.mode == BATCH_RUN) {
		char lp[PATH_MAX];
		snprintf(lp, sizeof lp, "%s/log.jsonl", b->sdir);
		s = jv_object_set(s, jv_string("log"), jv_string(lp));
		s = jv_object_set(s, jv_string("report"), jv_string(rpath));
	}
	s = jv_object_set(s, jv_string("interrupted"), stopped ? jv_true() : jv_false());
	s = jv_object_set(s, jv_string("status"), jv_number(rc));
	*summary = s;
	return rc;
}
