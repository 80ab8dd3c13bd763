/* batch_int.h: what batch.c and batch_report.c share; not for programs. */
#ifndef RS_BATCH_INT_H
#define RS_BATCH_INT_H

#include <limits.h>
#include <pthread.h>
#include <sys/types.h>
#include <jv.h>

#include "batch.h"
#include "img.h"
#include "restore.h"

enum batch_outcome { BO_RESTORED, BO_COPIED, BO_SKIPPED, BO_IGNORED, BO_FAILED,
	BO_RESTORE, BO_COPY, BO_CLASSIFIED, BATCH_NOUTCOMES };
extern const char *const batch_outcome_names[BATCH_NOUTCOMES];

struct batch_item {
	char *file;                   /* the path to read */
	char *rel;                    /* relative to the root */
	char *outrel;                 /* a restored output's path, relative */
	char key[33];                 /* BLAKE2b-128 of rel: names state and thumbnails */
	jv rec;                       /* the outcome record; invalid until processed */
	int status;                   /* failed: the EX_* status */
	enum batch_outcome outcome;
	double severity;
	int ndetected;
};

struct worker;

struct batch {
	struct batch_opts o;
	struct conf *conf;
	struct img_limits lim;
	struct restore_opts ro;
	char root[PATH_MAX];          /* realpath of o.root */
	char sdir[PATH_MAX - 64];     /* OUT/.rs-batch */
	char settings[PATH_MAX + 64]; /* what an output depends on, besides the input */
	char stamp[32];               /* when this run started */
	int outfd, sfd, statefd, tmpfd, thumbfd, lockfd, logfd, extlogfd;
	dev_t out_dev;
	ino_t out_ino;
	int have_out, local, log_failed;
	struct worker *w;
	struct batch_item *items;
	size_t n, cap;
	int add_rc;                   /* the first failure of batch_add */
	struct { char *dir; char **names; size_t n; } dc; /* last directory listed */
	pthread_mutex_t mu, rate_mu;
	pthread_cond_t cv;
	size_t next, finished, count[BATCH_NOUTCOMES];
	int running;
	double t0, rate_next;
};

double batch_now(void);                            /* monotonic seconds */
/* A small JPEG of im for the report (*jpg malloc'd). */
int    batch_thumb(const char *name, const struct img *im, unsigned char **jpg, size_t *len);
/* The processed items but the ignored, by severity (malloc'd array). */
struct batch_item **batch_sorted(struct batch *b, size_t *n);
/* Write the HTML report to path. */
int    batch_report(struct batch *b, const char *path);

#endif
