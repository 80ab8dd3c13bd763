/* spool.c: the job queue as Maildir-style state directories.
 *
 * jobs/new/ID   queued, waiting for a runner
 * jobs/cur/ID   claimed by a runner
 * jobs/done/ID, jobs/failed/ID   finished
 * A job file is written as a dot-file beside its final name and renamed
 * into place (util_write_atomic), so a reader never sees half a job. Ids
 * begin with the creation time in milliseconds, so ls sorts them FIFO. */
#include <sys/time.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "json.h"
#include "spool.h"
#include "util.h"

static const char *const states[] = { "new", "cur", "done", "failed" };
#define NSTATES (sizeof states / sizeof states[0])

struct spool {
	int fd[NSTATES];
	char path[NSTATES][PATH_MAX];
};

int
spool_open(const char *root, int create, struct spool **sp)
{
	struct spool *s;
	int rc = 0;

	*sp = NULL;
	if (sodium_init() < 0) {
		warnx("libsodium: cannot initialise");
		return EX_SOFTWARE;
	}
	if ((s = calloc(1, sizeof *s)) == NULL) {
		warn("spool");
		return EX_OSERR;
	}
	for (size_t i = 0; i < NSTATES; i++)
		s->fd[i] = -1;
	for (size_t i = 0; i < NSTATES && rc == 0; i++) {
		if ((size_t)snprintf(s->path[i], sizeof s->path[i], "%s/jobs/%s", root,
		    states[i]) >= sizeof s->path[i]) {
			warnx("%s: path too long", root);
			rc = EX_CANTCREAT;
		} else
			rc = util_open_dir(s->path[i], create, &s->fd[i]);
	}
	if (rc != 0) {
		spool_close(s);
		return rc;
	}
	*sp = s;
	return 0;
}

void
spool_close(struct spool *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < NSTATES; i++)
		if (s->fd[i] >= 0)
			close(s->fd[i]);
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

int
spool_enqueue(struct spool *s, jv job)
{
	const char *id = json_str(job, "id");
	jv text;
	int rc;

	if (id == NULL || !spool_valid_id(id)) {
		warnx("enqueue: job has no valid id");
		return EX_SOFTWARE;
	}
	text = jv_dump_string(jv_copy(job), 0);
	rc = util_write_atomic(s->fd[0], s->path[0], id, jv_string_value(text),
	    (size_t)jv_string_length_bytes(jv_copy(text)), 0644);
	jv_free(text);
	return rc;
}
