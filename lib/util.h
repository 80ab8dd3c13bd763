/* util.h: what every rs program needs: exit statuses, errno mapping,
 * careful I/O and atomic file writes.
 * Functions return 0 or an EX_* status (sysexits.h), having printed one
 * diagnostic ("prog: what: why") with warn/warnx. lib/ never exits. */
#ifndef RS_UTIL_H
#define RS_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <sysexits.h>
#include <time.h>

#define RS_VERSION "0.1.0"

int  util_ex_errno(int e);            /* ENOENT→66, EACCES→77, EAGAIN→75, else 74 */
int  util_write_all(int fd, const void *buf, size_t len);  /* 0 or -1 (errno) */
int  util_read_all(int fd, void *buf, size_t len, size_t *got); /* loops; 0/-1 */
/* Read all of path ("-" = stdin) into *buf (malloc'd, NUL-terminated
 * beyond len). Refuses more than max bytes (EX_DATAERR) before reading
 * when the size is known, while reading otherwise. */
int  util_slurp(const char *path, size_t max, unsigned char **buf, size_t *len);
/* Write buf to dirfd/name atomically: dot-temp in the same directory,
 * write, fsync, rename, fsync the directory. dirpath is for messages. */
int  util_write_atomic(int dirfd, const char *dirpath, const char *name,
         const void *buf, size_t len, int mode);
/* Same, for a path; the directory must exist. */
int  util_write_file(const char *path, const void *buf, size_t len, int mode);
int  util_mkdir_p(const char *path, int mode); /* like mkdir -p; 0 or EX_* */
int  util_open_dir(const char *path, int create, int *fd); /* O_DIRECTORY|O_CLOEXEC */
int  util_stdout_status(int rc);      /* flush stdout; EX_IOERR if that fails */
int  util_threads(int n);             /* n if over 0, else one per core; 1 to 8 */
void util_hex(const unsigned char *in, size_t n, char *out); /* out: 2n+1 */
void util_rfc3339(char out[32]);      /* now, UTC, "2026-11-25T19:31:16Z" */
/* strftime for UTC with %Y %m %d %H %M %S %a %b only, without reading
 * the time zone; the length written, or 0 (and "") if it does not fit */
size_t util_utc(time_t t, const char *fmt, char *out, size_t size);
/* s as a number from lo to hi into *v; EX_USAGE with "what: s: ..." if not */
int  util_number(const char *what, const char *s, double lo, double hi, double *v);
int  util_parse_size(const char *s, unsigned long long *v); /* "50M", "1G"; 0/-1 */
/* Test hook for crash tests: $RS_CRASH_AT is STEP[:N]; SIGKILL this
 * process the N-th time (default the first) it passes the step of that
 * name (a documented step such as "ledger-reserve" or rs-run's "claim"). */
void util_crashpoint(const char *name);

#endif
