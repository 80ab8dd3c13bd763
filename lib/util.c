/* util.c: errors, careful I/O and atomic writes shared by every program.
 *
 * The atomic write is the only way rs writes a file another process may
 * read: a dot-named temp file beside the target (readers skip dot-files,
 * as in nq), write everything, fsync, rename, fsync the directory so the
 * rename itself survives a crash. Any failure unlinks the temp file. */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <sodium.h>

#include "util.h"

int
util_ex_errno(int e)
{
	switch (e) {
	case ENOENT: case ENOTDIR: return EX_NOINPUT;
	case EACCES: case EPERM: case EROFS: return EX_NOPERM;
	case EAGAIN: case EINTR: case EBUSY: case ETIMEDOUT: return EX_TEMPFAIL;
	default: return EX_IOERR;
	}
}

int
util_write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
util_read_all(int fd, void *buf, size_t len, size_t *got)
{
	unsigned char *p = buf;
	size_t n = 0;

	while (n < len) {
		ssize_t r = read(fd, p + n, len - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			*got = n;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*got = n;
	return 0;
}

int
util_slurp(const char *path, size_t max, unsigned char **bufp, size_t *lenp)
{
	int fd = -1, rc = 0, e;
	unsigned char *buf = NULL, *nb;
	size_t cap = 0, len = 0;
	struct stat st;
	const char *name = strcmp(path, "-") == 0 ? "stdin" : path;

	*bufp = NULL;
	*lenp = 0;
	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		e = errno;
		warn("%s", name);
		return util_ex_errno(e) == EX_NOPERM ? EX_NOINPUT : util_ex_errno(e);
	}
	if (fstat(fd, &st) < 0) {
		e = errno;
		warn("%s", name);
		rc = util_ex_errno(e);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		warnx("%s: is a directory", name);
		rc = EX_NOINPUT;
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		if ((unsigned long long)st.st_size > max) {
			warnx("%s: %lld bytes exceeds limit %zu", name,
			    (long long)st.st_size, max);
			rc = EX_DATAERR;
			goto out;
		}
		cap = (size_t)st.st_size + 1;
	} else
		cap = 65536;
	/* read up to max+1 bytes: one more than allowed proves the limit */
	if (cap > max + 2)
		cap = max + 2;
	for (;;) {
		ssize_t r;
		if (buf == NULL || len + 1 == cap) {
			size_t ncap = buf == NULL ? cap : cap * 2;
			if (buf != NULL && cap >= max + 2)
				break;
			if (ncap > max + 2)
				ncap = max + 2;
			if ((nb = realloc(buf, ncap)) == NULL) {
				warn("%s", name);
				rc = EX_OSERR;
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		if ((r = read(fd, buf + len, cap - 1 - len)) < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			warn("%s", name);
			rc = util_ex_errno(e);
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > max) {
		warnx("%s: more than %zu bytes exceeds limit", name, max);
		rc = EX_DATAERR;
		goto out;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	buf = NULL;
out:
	free(buf);
	if (fd > STDIN_FILENO)
		close(fd);
	return rc;
}

/* exit statuses for a file that cannot be created, or written */
static int
ex_create(int e)
{
	return e == EACCES || e == EPERM || e == EROFS ? EX_NOPERM : EX_CANTCREAT;
}

static int
ex_write(int e)
{
	return e == ENOSPC || e == EDQUOT || e == EIO ? EX_IOERR : util_ex_errno(e);
}

int
util_write_atomic(int dirfd, const char *dirpath, const char *name,
    const void *buf, size_t len, int mode)
{
	char tmp[NAME_MAX + 1];
	unsigned char r[8];
	char rh[17];
	int fd, e, rc;

	randombytes_buf(r, sizeof r);
	util_hex(r, sizeof r, rh);
	if ((size_t)snprintf(tmp, sizeof tmp, ".%.200s.%s.tmp", name, rh) >= sizeof tmp) {
		warnx("%s/%s: name too long", dirpath, name);
		return EX_SOFTWARE;
	}
	if ((fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0) {
		e = errno;
		warn("create %s/%s", dirpath, tmp);
		return ex_create(e);
	}
	if (util_write_all(fd, buf, len) < 0 || fsync(fd) < 0) {
		e = errno;
		warn("write %s/%s", dirpath, tmp);
		goto fail;
	}
	e = close(fd);
	fd = -1;                  /* the fd is gone even if close fails */
	if (e < 0 || renameat(dirfd, tmp, dirfd, name) < 0) {
		e = errno;
		warn("commit %s/%s", dirpath, name);
		goto fail;
	}
	if (fsync(dirfd) < 0) {
		warn("fsync %s", dirpath);
		return EX_IOERR;
	}
	return 0;
fail:
	rc = ex_write(e);
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	return rc;
}

int
util_write_file(const char *path, const void *buf, size_t len, int mode)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/'), *base;
	int dfd, rc;

	if (slash == NULL) {
		strcpy(dir, ".");
		base = path;
	} else {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof dir) {
			warnx("%s: path too long", path);
			return EX_CANTCREAT;
		}
		memcpy(dir, path, n);
		dir[n == 0 ? 1 : n] = '\0';
		if (n == 0)
			dir[0] = '/';
		base = slash + 1;
	}
	if (*base == '\0') {
		warnx("%s: not a file name", path);
		return EX_USAGE;
	}
	/* a device or a pipe (/dev/null, /dev/stdout, a FIFO) is written,
	 * not replaced: a rename would put a file in its place */
	struct stat st;
	int there = stat(path, &st) == 0;
	if (there && S_ISDIR(st.st_mode)) {
		warnx("%s: is a directory", path);
		return EX_CANTCREAT;
	}
	if (there && !S_ISREG(st.st_mode)) {
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			warn("%s", path);
			return ex_create(errno);
		}
		if (util_write_all(fd, buf, len) < 0) {
			int e = errno;
			warn("write %s", path);
			close(fd);
			return ex_write(e);
		}
		return close(fd) < 0 ? (warn("%s", path), EX_IOERR) : 0;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		int e = errno;
		warn("%s", dir);
		return e == ENOENT ? EX_CANTCREAT : util_ex_errno(e);
	}
	rc = util_write_atomic(dfd, dir, base, buf, len, mode);
	close(dfd);
	return rc;
}

int
util_mkdir_p(const char *path, int mode)
{
	char p[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof p) {
		warnx("%s: bad directory name", path);
		return EX_CANTCREAT;
	}
	memcpy(p, path, n + 1);
	if (mkdir(p, mode) == 0 || errno == EEXIST)    /* the usual case */
		return 0;
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST) {
				int e = errno;
				warn("mkdir %s", p);
				return e == EACCES || e == EPERM || e == EROFS ? EX_NOPERM : EX_CANTCREAT;
			}
			*s = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

int
util_open_dir(const char *path, int create, int *fd)
{
	int rc, e;

	if ((*fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)
		return 0;
	if (create && (rc = util_mkdir_p(path, 0755)) != 0)
		return rc;
	if ((*fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		e = errno;
		warn("%s", path);
		return util_ex_errno(e);
	}
	return 0;
}

int
util_stdout_status(int rc)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		warn("stdout");
		return rc != 0 ? rc : EX_IOERR;
	}
	return rc;
}

int
util_threads(int n)
{
	long c = n > 0 ? n : sysconf(_SC_NPROCESSORS_ONLN);

	return c < 1 ? 1 : c > 8 ? 8 : (int)c;
}

void
util_hex(const unsigned char *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* UTC times are broken down and formatted here, not with gmtime_r and
 * strftime: glibc's call tzset, which reads /etc/localtime, a file per
 * process that UTC does not need (rs-serve paid it on every connection).
 * The days since 1970 to a civil date: Howard Hinnant's days_from_civil
 * inverted (proleptic Gregorian, 400-year eras of 146097 days). */
static void
utc_tm(time_t t, struct tm *tm)
{
	long long s = (long long)t, z = (s >= 0 ? s : s - 86399) / 86400, sec = s - z * 86400;
	long long era, doe, yoe, doy, mp, y;

	memset(tm, 0, sizeof *tm);
	tm->tm_hour = (int)(sec / 3600);
	tm->tm_min = (int)(sec / 60 % 60);
	tm->tm_sec = (int)(sec % 60);
	tm->tm_wday = (int)(((z + 4) % 7 + 7) % 7);      /* 1970-01-01 was a Thursday */
	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	tm->tm_mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	tm->tm_mon = (int)(mp < 10 ? mp + 2 : mp - 10);
	tm->tm_year = (int)(y + (tm->tm_mon <= 1) - 1900);
	tm->tm_yday = -1;                                 /* not computed */
}

void
util_rfc3339(char out[32])
{
	util_utc(time(NULL), "%Y-%m-%dT%H:%M:%SZ", out, 32);
}

size_t
util_utc(time_t t, const char *fmt, char *out, size_t size)
{
	static const char day[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char mon[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	    "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	size_t n = 0;
	int k;

	if (size == 0)
		return 0;
	out[0] = '\0';
	utc_tm(t, &tm);
	for (; *fmt != '\0'; fmt++) {
		if (*fmt != '%' || fmt[1] == '\0') {
			k = snprintf(out + n, size - n, "%c", *fmt);
		} else {
			switch (*++fmt) {
			case 'Y': k = snprintf(out + n, size - n, "%04d", tm.tm_year + 1900); break;
			case 'm': k = snprintf(out + n, size - n, "%02d", tm.tm_mon + 1); break;
			case 'd': k = snprintf(out + n, size - n, "%02d", tm.tm_mday); break;
			case 'H': k = snprintf(out + n, size - n, "%02d", tm.tm_hour); break;
			case 'M': k = snprintf(out + n, size - n, "%02d", tm.tm_min); break;
			case 'S': k = snprintf(out + n, size - n, "%02d", tm.tm_sec); break;
			case 'a': k = snprintf(out + n, size - n, "%s", day[tm.tm_wday % 7]); break;
			case 'b': k = snprintf(out + n, size - n, "%s", mon[tm.tm_mon % 12]); break;
			default: k = snprintf(out + n, size - n, "%%%c", *fmt); break;
			}
		}
		if (k < 0 || (size_t)k >= size - n) {
			out[0] = '\0';
			return 0;
		}
		n += (size_t)k;
	}
	return n;
}

int
util_parse_size(const char *s, unsigned long long *v)
{
	char *end;
	unsigned long long n, m = 1;

	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	n = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': m = 1ULL << 10; end++; break;
	case 'm': case 'M': m = 1ULL << 20; end++; break;
	case 'g': case 'G': m = 1ULL << 30; end++; break;
	default: return -1;
	}
	if (*end != '\0' || (n != 0 && m > ULLONG_MAX / n))
		return -1;
	*v = n * m;
	return 0;
}

void
util_crashpoint(const char *name)
{
	static long passed;
	const char *at = getenv("RS_CRASH_AT");
	size_t n;

	if (at == NULL || (n = strcspn(at, ":")) != strlen(name) || strncmp(at, name, n) != 0)
		return;
	if (++passed >= (at[n] == ':' ? atol(at + n + 1) : 1))
		raise(SIGKILL);
}

int
util_number(const char *what, const char *s, double lo, double hi, double *v)
{
	char *end;

	*v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || !(*v >= lo && *v <= hi)) {
		warnx("%s: %s: want a number from %g to %g", what, s, lo, hi);
		return EX_USAGE;
	}
	return 0;
}
