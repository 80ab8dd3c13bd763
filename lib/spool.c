/* spool.c: the job queue as Maildir-style state directories.
 *
 * jobs/new/ID     queued, waiting for a runner (or for its next attempt)
 * jobs/cur/ID     claimed by a runner
 * jobs/done/ID, jobs/failed/ID   finished
 * jobs/run/RID    one per live runner, flocked while it lives; its mtime
 *                 is the runner's heartbeat
 * A job file is written as a dot-file beside its final name and renamed
 * into place (util_write_atomic), so a reader never sees half a job. Ids
 * begin with the creation time in milliseconds, so ls sorts them FIFO.
 *
 * Claiming. A runner opens new/ID, takes an flock on it, renames it to
 * cur/ID (ENOENT: another runner won) and rewrites it with a lease
 * {"runner","host","pid","ttl","expires"}. The flock travels with the
 * inode, so between the rename and the rewrite the job is still visibly
 * owned; after the rewrite the lease names the runner, whose own flock on
 * run/RID says whether it lives (the kernel drops it when the process
 * dies, as in nq). A job in cur/ is an orphan when its file can be
 * flocked, is still the file at cur/ID, and either has no lease or names
 * a runner that is dead: on this host, run/RID is missing or unlocked; on
 * another host, neither the lease nor the runner's heartbeat is younger
 * than ttl. An orphan is claimed like a new job. A runner's own file
 * appears (by rename) only once it is locked, so a runner starting up is
 * never taken for a dead one; the files of dead runners are swept when a
 * runner starts.
 *
 * Durability. Only the decision (spool_update) and a requeue are
 * fsynced. The claim's rename and lease and the final move into done/ or
 * failed/ are not: a power loss that undoes one leaves the job in a state
 * that recovery handles anyway (back in new/, an orphan in cur/, or
 * decided in cur/ and settled again, idempotently). This halves the
 * fsyncs per job (bench/queue).
 *
 * Order. A scan reads new/ once and remembers each job's user, priority
 * and next attempt by (name, inode), so only files that changed are read
 * again. Jobs are taken by priority (higher first), then round robin over
 * users (each user's k-th job before anyone's k+1-th), then by id (age).
 * A scan is redone when the list runs out, or when new/ changed and half
 * a second has passed, so a newcomer waits at most that long to be seen.
 *
 * Runners may share one spool across hosts as long as rename(2) is atomic
 * there; flock is then only advisory and the lease expiry decides.
 *
 * With RS_DATABASE set (a postgresql:// URL) the queue lives in
 * PostgreSQL instead (lib/spool_pg.c): every function below hands over to
 * it, and only spool_lock stays here, a local flock under jobs/. The ids,
 * times and the record logic (take, what an orphan asks for) are shared. */
#define _GNU_SOURCE
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "json.h"
#include "pg.h"
#include "spool.h"
#include "spool_int.h"
#include "util.h"

#define RUN_DIR 4
#define NDIRS 5
#define JOB_MAX (1 << 20)         /* bytes of one job record */
#define RESCAN 0.5                /* seconds between scans of a busy new/ */

static const char *const dirs[NDIRS] = { "new", "cur", "done", "failed", "run" };

struct cand {
	char id[SPOOL_ID_LEN + 1];
	ino_t ino;
	char *user;               /* malloc'd; "" when none */
	int prio, rank;
	double not_before;
};

struct spool {
	struct spool_pg *pg;      /* RS_DATABASE: the queue is there */
	int fd[NDIRS];
	char path[NDIRS][PATH_MAX];
	char jobs[PATH_MAX];
	int jobsfd;
	/* runner */
	char runner[17];
	char host[256];
	int runfd;
	double lease;
	pthread_t hb;
	int hb_on;
	atomic_int hb_stop;
	/* scan */
	struct cand *c;           /* sorted by id */
	size_t nc;
	size_t *order, norder, next;
	double scanned;
	struct timespec new_mtime;
	int inotify;
};

double
spool_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void
spool_time(double t, char out[32])
{
	time_t s = (time_t)floor(t);
	unsigned ms = (unsigned)((t - (double)s) * 1000) % 1000;

	util_utc(s, "%Y-%m-%dT%H:%M:%S", out, 24);
	snprintf(out + strlen(out), 8, ".%03uZ", ms);
}

double
spool_parse_time(const char *s)
{
	struct tm tm;
	int ms = 0, n = 0;
	char z = 0;

	if (s == NULL)
		return -1;
	memset(&tm, 0, sizeof tm);
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -1;
	s += n;
	if (*s == '.' && sscanf(s, ".%3d%n", &ms, &n) == 1)
		s += n;
	if (sscanf(s, "%c", &z) != 1 || z != 'Z')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (double)timegm(&tm) + ms / 1000.0;
}

double
spool_rec_time(jv job, const char *key)
{
	return spool_parse_time(json_str(job, key));
}
#define rec_time spool_rec_time

void
spool_hostname(char *host, size_t size)
{
	if (gethostname(host, size) < 0)
		snprintf(host, size, "localhost");
	host[size - 1] = '\0';
}

static jv
set_time(jv job, const char *key, double t)
{
	char s[32];

	spool_time(t, s);
	return jv_object_set(job, jv_string(key), jv_string(s));
}

int
spool_open(const char *root, int create, struct spool **sp)
{
	struct spool *s;
	const char *url;
	int rc = 0;

	*sp = NULL;
	if ((rc = pg_url(&url)) != 0)
		return rc;
	if (sodium_init() < 0) {
		warnx("libsodium: cannot initialise");
		return EX_SOFTWARE;
	}
	if ((s = calloc(1, sizeof *s)) == NULL) {
		warn("spool");
		return EX_OSERR;
	}
	s->jobsfd = s->runfd = s->inotify = -1;
	for (size_t i = 0; i < NDIRS; i++)
		s->fd[i] = -1;
	if ((size_t)snprintf(s->jobs, sizeof s->jobs, "%s/jobs", root) >= sizeof s->jobs - 16) {
		warnx("%s: path too long", root);
		rc = EX_CANTCREAT;
	}
	if (url != NULL) {        /* the jobs directory only for spool_lock */
		if (rc == 0)
			rc = spool_pg_open(root, url, create, &s->pg);
		if (rc != 0) {
			spool_close(s);
			return rc;
		}
		*sp = s;
		return 0;
	}
	for (size_t i = 0; i < NDIRS && rc == 0; i++) {
		if ((size_t)snprintf(s->path[i], sizeof s->path[i], "%s/%s", s->jobs, dirs[i]) >=
		    sizeof s->path[i]) {
			warnx("%s: path too long", root);
			rc = EX_CANTCREAT;
			break;
		}
		/* run/ came later: make it even when not creating */
		rc = util_open_dir(s->path[i], create || (i >= RUN_DIR && s->fd[0] >= 0), &s->fd[i]);
	}
	if (rc == 0)
		rc = util_open_dir(s->jobs, 0, &s->jobsfd);
	if (rc != 0) {
		spool_close(s);
		return rc;
	}
	*sp = s;
	return 0;
}

static void
scan_free(struct spool *s)
{
	for (size_t i = 0; i < s->nc; i++)
		free(s->c[i].user);
	free(s->c);
	free(s->order);
	s->c = NULL;
	s->order = NULL;
	s->nc = s->norder = s->next = 0;
}

void
spool_close(struct spool *s)
{
	if (s == NULL)
		return;
	spool_pg_close(s->pg);
	if (s->hb_on) {
		atomic_store(&s->hb_stop, 1);
		pthread_join(s->hb, NULL);
	}
	if (s->runfd >= 0) {
		unlinkat(s->fd[RUN_DIR], s->runner, 0);
		close(s->runfd);
	}
	for (size_t i = 0; i < NDIRS; i++)
		if (s->fd[i] >= 0)
			close(s->fd[i]);
	if (s->jobsfd >= 0)
		close(s->jobsfd);
	if (s->inotify >= 0)
		close(s->inotify);
	scan_free(s);
	free(s);
}

void
spool_new_id(char id[SPOOL_ID_LEN + 1])
{
	struct timeval tv;
	unsigned long long ms;
	unsigned char r[8];

	gettimeofday(&tv, NULL);
	ms = (unsigned long long)tv.tv_sec * 1000 + (unsigned long long)tv.tv_usec / 1000;
	snprintf(id, 13, "%012llx", ms & 0xffffffffffffULL);
	randombytes_buf(r, sizeof r);
	util_hex(r, sizeof r, id + 12);
}

int
spool_valid_id(const char *id)
{
	size_t i;

	for (i = 0; id[i] != '\0'; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return i == SPOOL_ID_LEN;
}

const char *
spool_state_name(enum spool_state st)
{
	static const char *const n[] = { "queued", "running", "done", "failed" };

	return st < SPOOL_NSTATES ? n[st] : "unknown";
}

/* Like util_write_atomic without the fsyncs: a rename still makes the
 * change atomic for every reader, but a power loss may undo it. Only for
 * records whose loss is recovered anyway (see spool_claim). */
static int
write_nosync(struct spool *s, int dir, const char *name, const char *buf, size_t len)
{
	char tmp[NAME_MAX + 1];
	unsigned char r[8];
	char rh[17];
	int fd, e;

	randombytes_buf(r, sizeof r);
	util_hex(r, sizeof r, rh);
	snprintf(tmp, sizeof tmp, ".%s.%s.tmp", name, rh);
	if ((fd = openat(s->fd[dir], tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
		e = errno;
		warn("create %s/%s", s->path[dir], tmp);
		return e == EACCES || e == EPERM || e == EROFS ? EX_NOPERM : EX_CANTCREAT;
	}
	if (util_write_all(fd, buf, len) < 0) {
		e = errno;
		warn("write %s/%s", s->path[dir], tmp);
		close(fd);
		goto fail;
	}
	e = close(fd) < 0 ? errno : 0;
	if (e != 0 || renameat(s->fd[dir], tmp, s->fd[dir], name) < 0) {
		e = e != 0 ? e : errno;
		warn("commit %s/%s", s->path[dir], name);
		goto fail;
	}
	return 0;
fail:
	unlinkat(s->fd[dir], tmp, 0);
	return e == ENOSPC || e == EDQUOT || e == EIO ? EX_IOERR : util_ex_errno(e);
}

static int
write_job(struct spool *s, int dir, jv job, int sync)
{
	const char *id = json_str(job, "id");
	jv text;
	int rc;

	if (id == NULL || !spool_valid_id(id)) {
		warnx("%s: job has no valid id", s->path[dir]);
		return EX_SOFTWARE;
	}
	text = jv_dump_string(jv_copy(job), 0);
	if (sync)
		rc = util_write_atomic(s->fd[dir], s->path[dir], id, jv_string_value(text),
		    (size_t)jv_string_length_bytes(jv_copy(text)), 0644);
	else
		rc = write_nosync(s, dir, id, jv_string_value(text),
		    (size_t)jv_string_length_bytes(jv_copy(text)));
	jv_free(text);
	return rc;
}

int
spool_enqueue(struct spool *s, jv job)
{
	if (s->pg != NULL)
		return spool_pg_enqueue(s->pg, job);
	return write_job(s, SPOOL_NEW, job, 1);
}

int
spool_update(struct spool *s, jv job)
{
	if (s->pg != NULL)
		return spool_pg_update(s->pg, job);
	return write_job(s, SPOOL_CUR, job, 1);
}

/* Parse the job in fd (name for messages). */
static int
read_fd(int fd, const char *dir, const char *name, jv *job)
{
	char *buf;
	size_t got, cap = JOB_MAX;
	struct stat st;
	int rc = 0;

	*job = jv_invalid();
	/* a buffer the file's size (and a byte to see it grow), not 1 MB */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < JOB_MAX)
		cap = (size_t)st.st_size + 1;
	if ((buf = malloc(cap)) == NULL) {
		warn("%s/%s", dir, name);
		return EX_OSERR;
	}
	if (util_read_all(fd, buf, cap, &got) < 0) {
		rc = util_ex_errno(errno);
		warn("%s/%s", dir, name);
	} else if (got == cap && cap < JOB_MAX) {
		warnx("%s/%s: job record changed while read", dir, name);
		rc = EX_TEMPFAIL;
	} else if (got == JOB_MAX) {
		warnx("%s/%s: job record over %d bytes", dir, name, JOB_MAX);
		rc = EX_DATAERR;
	} else {
		*job = jv_parse_sized(buf, (int)got);
		if (!jv_is_valid(*job) || jv_get_kind(*job) != JV_KIND_OBJECT) {
			jv_free(*job);
			*job = jv_invalid();
			warnx("%s/%s: not a job record", dir, name);
			rc = EX_DATAERR;
		}
	}
	free(buf);
	return rc;
}

static int
read_at(struct spool *s, int dir, const char *name, jv *job, struct stat *st)
{
	int fd, rc;

	if ((fd = openat(s->fd[dir], name, O_RDONLY | O_CLOEXEC)) < 0) {
		*job = jv_invalid();
		return errno == ENOENT ? EX_NOINPUT : (warn("%s/%s", s->path[dir], name),
		    util_ex_errno(errno));
	}
	if (st != NULL && fstat(fd, st) < 0)
		memset(st, 0, sizeof *st);
	rc = read_fd(fd, s->path[dir], name, job);
	close(fd);
	return rc;
}

int
spool_get(struct spool *s, const char *id, jv *job, enum spool_state *state)
{
	int rc;

	*job = jv_invalid();
	if (!spool_valid_id(id)) {
		warnx("%s: not a job id", id);
		return EX_USAGE;
	}
	if (s->pg != NULL)
		return spool_pg_get(s->pg, id, job, state);
	/* a job moves forward new → cur → done|failed (or back to new):
	 * look in that order and once more, so a move between looks is seen */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < SPOOL_NSTATES; i++)
			if ((rc = read_at(s, i, id, job, NULL)) != EX_NOINPUT) {
				*state = (enum spool_state)i;
				return rc;
			}
	warnx("job %s: no such job", id);
	return EX_NOINPUT;
}

int
spool_import(struct spool *s, jv job, enum spool_state st)
{
	const char *id = json_str(job, "id");
	jv old;

	if (st >= SPOOL_NSTATES)
		return EX_SOFTWARE;
	if (s->pg != NULL)
		return spool_pg_import(s->pg, job, st);
	for (int i = 0; id != NULL && i < SPOOL_NSTATES; i++)
		if (read_at(s, i, id, &old, NULL) != EX_NOINPUT) {
			jv_free(old);
			warnx("job %s: already here", id);
			return EX_DATAERR;
		}
	return write_job(s, (int)st, job, 1);
}

/* ---- runners ---- */

static void *
heartbeat(void *arg)
{
	struct spool *s = arg;
	double last = spool_now(), every = s->lease / 3;

	while (!atomic_load(&s->hb_stop)) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (spool_now() - last >= every) {
			futimens(s->runfd, NULL);
			last = spool_now();
		}
	}
	return NULL;
}

/* Remove the files of runners of this host that died (unlocked), and of
 * other hosts' runners silent for a week. A runner's file appears by
 * rename only once it is locked, so a live one is never taken for dead. */
static void
sweep(struct spool *s)
{
	DIR *d;
	struct dirent *e;
	struct stat st;
	char buf[512];
	size_t got;
	int dfd, fd;

	if ((dfd = openat(s->fd[RUN_DIR], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' ||
		    (fd = openat(s->fd[RUN_DIR], e->d_name, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 &&
		    util_read_all(fd, buf, sizeof buf - 1, &got) == 0) {
			jv r = jv_parse_sized(buf, (int)got);
			const char *host = jv_is_valid(r) && jv_get_kind(r) == JV_KIND_OBJECT ?
			    json_str(r, "host") : NULL;
			if ((host != NULL && strcmp(host, s->host) == 0) ||
			    (double)st.st_mtim.tv_sec < spool_now() - 7 * 86400)
				unlinkat(s->fd[RUN_DIR], e->d_name, 0);
			jv_free(r);
		}
		close(fd);
	}
	closedir(d);
}

int
spool_runner(struct spool *s, double lease)
{
	unsigned char r[8];
	char buf[512], tmp[32];
	int n, e;

	if (s->pg != NULL)
		return spool_pg_runner(s->pg, lease);
	s->lease = lease > 0 ? lease : 300;
	spool_hostname(s->host, sizeof s->host);
	sweep(s);
	randombytes_buf(r, sizeof r);
	util_hex(r, sizeof r, s->runner);
	snprintf(tmp, sizeof tmp, ".%s", s->runner);
	n = snprintf(buf, sizeof buf, "{\"host\":\"%s\",\"pid\":%ld}\n", s->host, (long)getpid());
	if ((s->runfd = openat(s->fd[RUN_DIR], tmp, O_RDWR | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0644)) < 0 || flock(s->runfd, LOCK_EX) < 0 ||
	    util_write_all(s->runfd, buf, (size_t)n) < 0 ||
	    renameat(s->fd[RUN_DIR], tmp, s->fd[RUN_DIR], s->runner) < 0) {
		e = errno;
		warn("%s/%s", s->path[RUN_DIR], s->runner);
		if (s->runfd >= 0) {
			unlinkat(s->fd[RUN_DIR], tmp, 0);
			close(s->runfd);
			s->runfd = -1;
		}
		return e == ENOENT ? EX_CANTCREAT : util_ex_errno(e);
	}
	if ((e = pthread_create(&s->hb, NULL, heartbeat, s)) != 0) {
		errno = e;
		warn("heartbeat");
		return EX_OSERR;
	}
	s->hb_on = 1;
	return 0;
}

/* Is the runner of this lease alive? Borrows lease. */
static int
lease_alive(struct spool *s, jv lease)
{
	const char *rid = json_str(lease, "runner"), *host = json_str(lease, "host");
	jv ttlv = json_get(lease, "ttl");
	double ttl = jv_get_kind(ttlv) == JV_KIND_NUMBER ? jv_number_value(ttlv) : s->lease;
	double expires = spool_parse_time(json_str(lease, "expires"));
	struct stat st;
	int fd, alive;

	jv_free(ttlv);
	if (rid == NULL || strchr(rid, '/') != NULL || *rid == '.' || *rid == '\0')
		return 0;
	if (s->runfd >= 0 && strcmp(rid, s->runner) == 0)
		return 0;                 /* ours, and we are not running it: see spool_claim */
	if (host != NULL && strcmp(host, s->host) == 0) {
		if ((fd = openat(s->fd[RUN_DIR], rid, O_RDONLY | O_CLOEXEC)) < 0)
			return 0;
		alive = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
		if (!alive)
			unlinkat(s->fd[RUN_DIR], rid, 0);   /* a dead runner's file */
		close(fd);
		return alive;
	}
	if (fstatat(s->fd[RUN_DIR], rid, &st, 0) == 0 &&
	    (double)st.st_mtim.tv_sec + ttl > expires)
		expires = (double)st.st_mtim.tv_sec + ttl;
	return spool_now() < expires;
}

jv
spool_take(jv job, int count, const char *runner, const char *host, double lease)
{
	jv att = json_get(job, "attempts");
	int n = jv_get_kind(att) == JV_KIND_NUMBER ? (int)jv_number_value(att) : 0;
	double now = spool_now();
	char exp[32];

	jv_free(att);
	spool_time(now + lease, exp);
	if (count) {
		job = jv_object_set(job, jv_string("status"), jv_string("running"));
		job = jv_object_set(job, jv_string("attempts"), jv_number(n + 1));
		job = set_time(job, "started", now);
		job = jv_object_delete(job, jv_string("next_attempt"));
	}
	return jv_object_set(job, jv_string("lease"), JV_OBJECT(
	    jv_string("runner"), jv_string(runner), jv_string("host"), jv_string(host),
	    jv_string("pid"), jv_number(getpid()), jv_string("ttl"), jv_number(lease),
	    jv_string("expires"), jv_string(exp)));
}

static jv
take(struct spool *s, jv job, int count)
{
	return spool_take(job, count, s->runner, s->host, s->lease);
}

enum spool_orphan
spool_orphan_kind(jv rec)
{
	const char *st = json_str(rec, "status");

	if (st != NULL && strcmp(st, "queued") == 0 && rec_time(rec, "next_attempt") > spool_now())
		return SPOOL_ORPHAN_REQUEUE;
	if (st != NULL && (strcmp(st, "done") == 0 || strcmp(st, "failed") == 0))
		return SPOOL_ORPHAN_SETTLE;
	return SPOOL_ORPHAN_RUN;
}

/* Same inode at dir/name as fd? */
static int
still_there(int dirfd, const char *name, int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

static int
move(struct spool *s, int from, int to, const char *id, int sync)
{
	if (renameat(s->fd[from], id, s->fd[to], id) < 0) {
		int e = errno;
		if (e != ENOENT)
			warn("rename %s/%s", s->path[from], id);
		return e == ENOENT ? EX_NOINPUT : util_ex_errno(e);
	}
	if (sync && (fsync(s->fd[to]) < 0 || fsync(s->fd[from]) < 0)) {
		warn("fsync %s", s->path[to]);
		return EX_IOERR;
	}
	return 0;
}

/* Try to take over cur/name. 0 with *job valid: ours now. */
static int
recover(struct spool *s, const char *name, jv *job)
{
	jv rec = jv_invalid(), lease;
	int fd, rc = 0;

	*job = jv_invalid();
	if ((fd = openat(s->fd[SPOOL_CUR], name, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 || !still_there(s->fd[SPOOL_CUR], name, fd))
		goto out;                 /* being claimed, or replaced meanwhile */
	if (read_fd(fd, s->path[SPOOL_CUR], name, &rec) != 0) {
		/* not a job: out of the way, into failed/ as it is */
		move(s, SPOOL_CUR, SPOOL_FAILED, name, 1);
		goto out;
	}
	lease = json_get(rec, "lease");
	if (jv_get_kind(lease) == JV_KIND_OBJECT && lease_alive(s, lease)) {
		jv_free(lease);
		goto out;
	}
	jv_free(lease);
	switch (spool_orphan_kind(rec)) {
	case SPOOL_ORPHAN_REQUEUE:
		move(s, SPOOL_CUR, SPOOL_NEW, name, 1);   /* a retry half made */
		goto out;
	case SPOOL_ORPHAN_SETTLE:
		rec = take(s, rec, 0);    /* decided: only the settling is left */
		break;
	case SPOOL_ORPHAN_RUN:
		rec = take(s, rec, 1);
		break;
	}
	rec = jv_object_set(rec, jv_string("recovered"), jv_true());
	if ((rc = write_job(s, SPOOL_CUR, rec, 0)) == 0) {
		*job = rec;
		rec = jv_invalid();
	}
out:
	jv_free(rec);
	close(fd);
	return rc;
}

static int
recover_any(struct spool *s, jv *job)
{
	DIR *d;
	struct dirent *e;
	int dfd, rc = 0;

	*job = jv_invalid();
	if ((dfd = openat(s->fd[SPOOL_CUR], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (d = fdopendir(dfd)) == NULL) {
		rc = util_ex_errno(errno);
		warn("%s", s->path[SPOOL_CUR]);
		if (dfd >= 0)
			close(dfd);
		return rc;
	}
	while ((e = readdir(d)) != NULL && rc == 0 && !jv_is_valid(*job))
		if (e->d_name[0] != '.')
			rc = recover(s, e->d_name, job);
	closedir(d);
	return rc;
}

static int
cand_cmp_id(const void *a, const void *b)
{
	return strcmp(((const struct cand *)a)->id, ((const struct cand *)b)->id);
}

static int
cand_cmp_user(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int c = strcmp(x->user, y->user);

	return c != 0 ? c : strcmp(x->id, y->id);
}

static int
order_cmp(const void *a, const void *b, void *base)
{
	const struct cand *c = base;
	const struct cand *x = &c[*(const size_t *)a], *y = &c[*(const size_t *)b];

	if (x->prio != y->prio)
		return x->prio > y->prio ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return strcmp(x->id, y->id);
}

static void
cand_meta(struct cand *c, jv job)
{
	const char *u = json_str(job, "user");
	jv p = json_get(job, "priority");

	c->user = strdup(u != NULL ? u : "");
	c->prio = jv_get_kind(p) == JV_KIND_NUMBER ? (int)jv_number_value(p) : 0;
	c->not_before = rec_time(job, "next_attempt");
	jv_free(p);
}

/* Read new/ into the ordered candidate list. */
static int
scan(struct spool *s)
{
	struct cand *nc = NULL, *t;
	size_t n = 0, cap = 0;
	struct stat st;
	struct dirent *e;
	DIR *d;
	int dfd, rc = 0;

	if (fstat(s->fd[SPOOL_NEW], &st) == 0)
		s->new_mtime = st.st_mtim;
	s->scanned = spool_now();
	if ((dfd = openat(s->fd[SPOOL_NEW], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (d = fdopendir(dfd)) == NULL) {
		rc = util_ex_errno(errno);
		warn("%s", s->path[SPOOL_NEW]);
		if (dfd >= 0)
			close(dfd);
		return rc;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || !spool_valid_id(e->d_name))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			if ((t = realloc(nc, cap * sizeof *nc)) == NULL) {
				warn("scan");
				rc = EX_OSERR;
				break;
			}
			nc = t;
		}
		memset(&nc[n], 0, sizeof nc[n]);
		memcpy(nc[n].id, e->d_name, SPOOL_ID_LEN + 1);
		nc[n].ino = e->d_ino;
		n++;
	}
	closedir(d);
	if (rc == 0 && n > 0)
		qsort(nc, n, sizeof *nc, cand_cmp_id);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct cand *old = s->c == NULL ? NULL :
		    bsearch(&nc[i], s->c, s->nc, sizeof *s->c, cand_cmp_id);
		jv job;
		if (old != NULL && old->ino == nc[i].ino && old->user != NULL) {
			nc[i].user = old->user;          /* unchanged: keep what we read */
			old->user = NULL;
			nc[i].prio = old->prio;
			nc[i].not_before = old->not_before;
		} else if (read_at(s, SPOOL_NEW, nc[i].id, &job, NULL) == 0) {
			cand_meta(&nc[i], job);
			jv_free(job);
		} else
			nc[i].user = strdup("");         /* gone or bad: the claim will see */
		if (nc[i].user == NULL) {
			warn("scan");
			rc = EX_OSERR;
		}
	}
	scan_free(s);
	s->c = nc;
	s->nc = n;
	if (rc != 0 || n == 0)
		return rc;
	/* rank within each user, then the claim order */
	qsort(nc, n, sizeof *nc, cand_cmp_user);
	for (size_t i = 0; i < n; i++)
		nc[i].rank = i > 0 && strcmp(nc[i].user, nc[i - 1].user) == 0 ? nc[i - 1].rank + 1 : 0;
	qsort(nc, n, sizeof *nc, cand_cmp_id);
	if ((s->order = malloc(n * sizeof *s->order)) == NULL) {
		warn("scan");
		return EX_OSERR;
	}
	for (size_t i = 0; i < n; i++)
		s->order[i] = i;
	qsort_r(s->order, n, sizeof *s->order, order_cmp, nc);
	s->norder = n;
	s->next = 0;
	return 0;
}

/* Try to claim new/ID of candidate c. 0 with *job valid: ours. */
static int
claim_one(struct spool *s, struct cand *c, jv *job)
{
	jv rec = jv_invalid();
	double na;
	int fd, rc = 0;

	*job = jv_invalid();
	if ((fd = openat(s->fd[SPOOL_NEW], c->id, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;                 /* taken by another runner */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 || !still_there(s->fd[SPOOL_NEW], c->id, fd))
		goto out;
	if (read_fd(fd, s->path[SPOOL_NEW], c->id, &rec) != 0) {
		move(s, SPOOL_NEW, SPOOL_FAILED, c->id, 1);
		goto out;
	}
	if ((na = rec_time(rec, "next_attempt")) > spool_now()) {
		c->not_before = na;       /* rewritten since the scan */
		goto out;
	}
	/* no fsync here nor for the lease: a claim that a power loss undoes
	 * leaves the job in new/, or in cur/ with no lease or a dead one,
	 * and each is claimed again; nothing has been decided yet */
	if ((rc = move(s, SPOOL_NEW, SPOOL_CUR, c->id, 0)) != 0) {
		rc = rc == EX_NOINPUT ? 0 : rc;
		goto out;
	}
	util_crashpoint("claim");
	rec = take(s, jv_object_delete(rec, jv_string("recovered")), 1);
	if ((rc = write_job(s, SPOOL_CUR, rec, 0)) == 0) {
		*job = rec;
		rec = jv_invalid();
	}
out:
	jv_free(rec);
	close(fd);                /* drops the flock: the lease holds it now */
	return rc;
}

int
spool_claim(struct spool *s, jv *job, double *wait)
{
	struct stat st;
	double now = spool_now(), soonest = -1;
	int rc, rescanned = 0;

	*job = jv_invalid();
	*wait = -1;
	if (s->pg != NULL)
		return spool_pg_claim(s->pg, job, wait);
	if (s->runfd < 0) {
		warnx("%s: claim before registering as a runner", s->jobs);
		return EX_SOFTWARE;
	}
	if (s->next >= s->norder || (now - s->scanned >= RESCAN && fstat(s->fd[SPOOL_NEW], &st) == 0 &&
	    (st.st_mtim.tv_sec != s->new_mtime.tv_sec || st.st_mtim.tv_nsec != s->new_mtime.tv_nsec))) {
		if ((rc = recover_any(s, job)) != 0 || jv_is_valid(*job))
			return rc;
		if ((rc = scan(s)) != 0)
			return rc;
		rescanned = 1;
	}
	for (;;) {
		for (; s->next < s->norder; s->next++) {
			struct cand *c = &s->c[s->order[s->next]];
			if (c->not_before > now) {
				if (soonest < 0 || c->not_before < soonest)
					soonest = c->not_before;
				continue;
			}
			if ((rc = claim_one(s, c, job)) != 0 || jv_is_valid(*job)) {
				s->next++;
				return rc;
			}
			if (c->not_before > now && (soonest < 0 || c->not_before < soonest))
				soonest = c->not_before;
		}
		if (rescanned)
			break;
		/* the list ran out: look again before saying the queue is empty */
		if ((rc = recover_any(s, job)) != 0 || jv_is_valid(*job))
			return rc;
		if ((rc = scan(s)) != 0)
			return rc;
		rescanned = 1;
		soonest = -1;
	}
	/* everything left waits for its next attempt; look again then */
	s->next = s->norder = 0;
	if (soonest >= 0)
		*wait = soonest - now > 0 ? soonest - now : 0;
	return 0;
}

int
spool_finish(struct spool *s, const char *id, enum spool_state to)
{
	/* no fsync: the decision is already durable in cur/ (spool_update);
	 * should a power loss undo this rename, the job is recovered as
	 * decided and only settled (idempotently) and moved again */
	int rc;

	if (s->pg != NULL)
		return spool_pg_finish(s->pg, id, to);
	rc = move(s, SPOOL_CUR, to, id, 0);
	if (rc == EX_NOINPUT)
		warnx("%s/%s: gone", s->path[SPOOL_CUR], id);
	return rc;
}

int
spool_requeue(struct spool *s, jv job)
{
	const char *id = json_str(job, "id");
	int rc;

	if (s->pg != NULL)
		return spool_pg_requeue(s->pg, job);
	if ((rc = spool_update(s, job)) != 0)
		return rc;
	util_crashpoint("requeue");
	if ((rc = move(s, SPOOL_CUR, SPOOL_NEW, id, 1)) == EX_NOINPUT)
		warnx("%s/%s: gone", s->path[SPOOL_CUR], id);
	return rc;
}

int
spool_watch_fd(struct spool *s)
{
	if (s->pg != NULL)
		return spool_pg_watch_fd(s->pg);
	if (s->inotify < 0 && (s->inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) >= 0 &&
	    inotify_add_watch(s->inotify, s->path[SPOOL_NEW], IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
		warn("inotify %s", s->path[SPOOL_NEW]);
		close(s->inotify);
		s->inotify = -1;
	}
	return s->inotify;
}

void
spool_watch_drain(struct spool *s)
{
	char buf[4096];

	if (s->pg != NULL) {
		spool_pg_watch_drain(s->pg);
		return;
	}
	if (s->inotify >= 0)
		while (read(s->inotify, buf, sizeof buf) > 0)
			;
	s->next = s->norder;      /* something arrived: scan at the next claim */
}

int
spool_lock(struct spool *s, const char *name, int *fd)
{
	int e;

	/* with the queue in PostgreSQL too: a lock of this host (see spool_pg.c) */
	if (s->jobsfd < 0 && (e = util_open_dir(s->jobs, 1, &s->jobsfd)) != 0) {
		*fd = -1;
		return e;
	}
	if ((*fd = openat(s->jobsfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		e = errno;
		warn("%s/%s", s->jobs, name);
		return util_ex_errno(e);
	}
	if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	e = errno;
	close(*fd);
	*fd = -1;
	if (e == EWOULDBLOCK)
		return 1;
	errno = e;
	warn("lock %s/%s", s->jobs, name);
	return util_ex_errno(e);
}

void
spool_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

int
spool_pending(struct spool *s)
{
	DIR *d;
	struct dirent *e;
	int dfd, found = 0;

	if (s->pg != NULL)
		return spool_pg_pending(s->pg);
	if ((dfd = openat(s->fd[SPOOL_NEW], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	while (!found && (e = readdir(d)) != NULL)
		found = spool_valid_id(e->d_name);
	closedir(d);
	return found;
}

int
spool_each(struct spool *s, enum spool_state state,
    int (*fn)(const char *, jv, time_t, void *), void *arg)
{
	DIR *d;
	struct dirent *e;
	struct stat st;
	int dfd, rc = 0;
	jv job;

	if (s->pg != NULL)
		return spool_pg_each(s->pg, state, fn, arg);
	if ((dfd = openat(s->fd[state], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (d = fdopendir(dfd)) == NULL) {
		rc = util_ex_errno(errno);
		warn("%s", s->path[state]);
		if (dfd >= 0)
			close(dfd);
		return rc;
	}
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		memset(&st, 0, sizeof st);
		int r = read_at(s, state, e->d_name, &job, &st);
		if (r == EX_NOINPUT)
			continue;         /* moved on meanwhile */
		if (r != 0)
			job = JV_OBJECT(jv_string("id"), jv_string(e->d_name));
		rc = fn(e->d_name, job, st.st_mtim.tv_sec, arg);
	}
	closedir(d);
	return rc;
}

int
spool_remove(struct spool *s, enum spool_state state, const char *id)
{
	if (s->pg != NULL)
		return spool_pg_remove(s->pg, state, id);
	if (unlinkat(s->fd[state], id, 0) < 0 && errno != ENOENT) {
		int e = errno;
		warn("%s/%s", s->path[state], id);
		return util_ex_errno(e);
	}
	return 0;
}

struct stats {
	long n[SPOOL_NSTATES], waiting;
	double now, oldest;
};

static int
count(const char *id, jv job, time_t mtime, void *arg)
{
	struct stats *t = arg;
	double na = rec_time(job, "next_attempt"), cr = rec_time(job, "created");

	(void)id;
	(void)mtime;
	if (na > t->now)
		t->waiting++;
	else if (cr > 0 && (t->oldest < 0 || cr < t->oldest))
		t->oldest = cr;
	jv_free(job);
	return 0;
}

static int
count_dir(struct spool *s, int dir, long *n)
{
	DIR *d;
	struct dirent *e;
	int dfd;

	*n = 0;
	if ((dfd = openat(s->fd[dir], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (d = fdopendir(dfd)) == NULL) {
		int rc = util_ex_errno(errno);
		warn("%s", s->path[dir]);
		if (dfd >= 0)
			close(dfd);
		return rc;
	}
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			(*n)++;
	closedir(d);
	return 0;
}

int
spool_stats(struct spool *s, jv *out)
{
	struct stats t = { .now = spool_now(), .oldest = -1 };
	long runners;
	int rc;

	*out = jv_invalid();
	if (s->pg != NULL)
		return spool_pg_stats(s->pg, out);
	if ((rc = spool_each(s, SPOOL_NEW, count, &t)) != 0)
		return rc;
	for (int i = 0; i < SPOOL_NSTATES; i++)
		if ((rc = count_dir(s, i, &t.n[i])) != 0)
			return rc;
	if ((rc = count_dir(s, RUN_DIR, &runners)) != 0)
		return rc;
	*out = JV_OBJECT(jv_string("queued"), jv_number(t.n[SPOOL_NEW]),
	    jv_string("running"), jv_number(t.n[SPOOL_CUR]),
	    jv_string("done"), jv_number(t.n[SPOOL_DONE]),
	    jv_string("failed"), jv_number(t.n[SPOOL_FAILED]),
	    jv_string("waiting_retry"), jv_number(t.waiting),
	    jv_string("oldest_queued_seconds"),
	    jv_number(t.oldest < 0 ? 0 : floor(t.now - t.oldest)),
	    jv_string("runners"), jv_number(runners));
	return 0;
}
