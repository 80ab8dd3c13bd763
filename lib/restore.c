/* restore.c: plans and the strip driver of the local engine.
 *
 * A plan is a JSON array of operations in one fixed order: repair the
 * codec's damage first (deblock), then noise, then scratches, so the
 * tone and colour steps measure a clean picture, and sharpen and enlarge
 * last, when nothing remains that they would amplify (scratches found
 * after denoising are filled in the picture as it was before it, which
 * is then denoised again: see restore_run). Parameters the
 * plan lacks are measured on the image as it is when the step runs
 * (levels after denoising, say), and the record gets what was used.
 *
 * Each step filters the 8-bit image in place, in strips of rows: a strip
 * is loaded as float planes with enough margin rows for the filter's
 * reach, filtered, and its core rows written back once the strips next
 * to it have read theirs. Threads take strips from a counter; a strip's
 * result depends only on the original pixels, so the output is the same
 * for any number of threads, and no seam shows because every core row saw
 * the same neighbourhood it would have seen whole. Peak memory: the image
 * (twice only while upscaling, and while descratching after denoise up
 * to REDENOISE_MAX pixels) and a few strips per thread. */
#include <err.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "classify.h"
#include "json.h"
#include "psf.h"
#include "restore.h"
#include "restore_int.h"
#include "util.h"

static const char *const op_names[RESTORE_NOPS] = { "deblock", "denoise",
	"descratch", "levels", "white_balance", "deblur", "upscale" };

/* Richardson-Lucy iterations of deblur (each a squared step, as much
 * as two plain ones). A blur called surely (strength DEBLUR_SURE or
 * more: what rs-classify gives a Gaussian, disk or motion blur, or a
 * user's --ops deblur) gets DEBLUR_ITERS; a doubtful one (DEBLUR_DOUBT
 * or less: a soft photo, or motion and bokeh that may be meant) and the
 * sharpening of an enlargement get DEBLUR_GENTLE, which asks little of
 * the picture; between them in proportion. (bench/quality, held-out
 * set, blurred photos: +1.75 | +0.86 dB at 5 iterations, +2.15 | +1.10
 * at 16 for every blur call, but soft photos lost up to 1.9 dB and
 * enlargements up to 1.3; sure calls only: the blur row's gain and no
 * other row's loss. More iterations still gain, less each: +0.1 dB at
 * 24.) DEBLUR_GENTLE and DEBLUR_DOUBT are classify.h's. A plan may give
 * 0 to DEBLUR_MAX. */
#define DEBLUR_ITERS  16
#define DEBLUR_MAX    100
#define DEBLUR_SURE   0.95

static int
deblur_iters(double strength)
{
	double t = (strength - DEBLUR_DOUBT) / (DEBLUR_SURE - DEBLUR_DOUBT);

	t = t < 0 ? 0 : t > 1 ? 1 : t;
	return DEBLUR_GENTLE + (int)lround((DEBLUR_ITERS - DEBLUR_GENTLE) * t);
}

void
restore_opts_default(struct restore_opts *o)
{
	memset(o, 0, sizeof *o);
	o->strength = -1;
	o->scale = 1;
	o->keep_sepia = 1;
}

const char *
restore_op_name(enum restore_op op)
{
	return (unsigned)op < RESTORE_NOPS ? op_names[op] : "unknown";
}

int
restore_op_index(const char *name)
{
	for (int i = 0; i < RESTORE_NOPS; i++)
		if (strcmp(name, op_names[i]) == 0)
			return i;
	return -1;
}

static double
num(jv o, const char *key, double def)
{
	jv v = json_get(o, key);
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : def;
	jv_free(v);
	return d;
}

static int
has(jv o, const char *key)
{
	jv v = json_get(o, key);
	int k = jv_get_kind(v) == JV_KIND_NUMBER || jv_get_kind(v) == JV_KIND_TRUE ||
	    jv_get_kind(v) == JV_KIND_FALSE;
	jv_free(v);
	return k;
}

int
restore_plan(const char *name, jv ops, const struct restore_opts *o, jv *plan)
{
	jv slot[RESTORE_NOPS];
	int rc = 0;

	*plan = jv_invalid();
	for (int i = 0; i < RESTORE_NOPS; i++)
		slot[i] = jv_null();
	if (jv_get_kind(ops) != JV_KIND_ARRAY) {
		warnx("%s: operations: not an array", name);
		jv_free(ops);
		return EX_DATAERR;
	}
	jv_array_foreach(ops, i, x) {
		jv e = jv_get_kind(x) == JV_KIND_STRING ?
		    JV_OBJECT(jv_string("op"), jv_copy(x)) : jv_copy(x);
		const char *n = json_str(e, "op");
		int k = n != NULL ? restore_op_index(n) : -1;
		jv_free(x);
		if (k < 0) {
			warnx("%s: %s: unknown operation (known: deblock, denoise, descratch, "
			    "levels, white_balance, deblur, upscale)", name, n != NULL ? n : "entry");
			jv_free(e);
			rc = EX_DATAERR;
			break;
		}
		double s = num(e, "strength", 1);
		if (o->strength >= 0)
			s = o->strength;
		e = jv_object_set(e, jv_string("strength"), jv_number(s < 0 ? 0 : s > 1 ? 1 : s));
		jv_free(slot[k]);
		slot[k] = e;
	}
	jv_free(ops);
	if (rc == 0) {
		/* the output keeps the input's size unless --scale says otherwise;
		 * a low-resolution picture kept at its size is sharpened instead */
		if (o->scale <= 1 && jv_get_kind(slot[RESTORE_UPSCALE]) == JV_KIND_OBJECT &&
		    jv_get_kind(slot[RESTORE_DEBLUR]) != JV_KIND_OBJECT) {
			jv_free(slot[RESTORE_DEBLUR]);
			slot[RESTORE_DEBLUR] = JV_OBJECT(jv_string("op"), jv_string("deblur"),
			    jv_string("strength"), jv_number(num(slot[RESTORE_UPSCALE], "strength", 1)),
			    jv_string("iterations"), jv_number(DEBLUR_GENTLE));
		}
		jv_free(slot[RESTORE_UPSCALE]);
		slot[RESTORE_UPSCALE] = o->scale > 1 ? JV_OBJECT(jv_string("op"), jv_string("upscale"),
		    jv_string("strength"), jv_number(1), jv_string("scale"), jv_number(o->scale)) :
		    jv_null();
		*plan = jv_array();
		for (int i = 0; i < RESTORE_NOPS; i++)
			if (jv_get_kind(slot[i]) == JV_KIND_OBJECT)
				*plan = jv_array_append(*plan, jv_copy(slot[i]));
	}
	for (int i = 0; i < RESTORE_NOPS; i++)
		jv_free(slot[i]);
	return rc;
}

/* ---- the strip driver ---- */

/* A job filters one image in place. Strip i reads its core and margin
 * rows, filters them and keeps its result (8-bit core rows) until both
 * neighbours have read the rows they share with it; only then is it
 * written back, so every strip sees the original pixels and the image
 * never exists twice. Margins never exceed a strip's height, so only
 * neighbours overlap. */
struct job {
	const struct step *st;
	struct img *im;
	int measure;               /* 1: only count (descratch), write nothing */
	int nc, rows, margin, nstrips, next, rc;
	long flagged;
	unsigned char *state;      /* per strip: LOADED, and DONE or WRITTEN */
	uint8_t **res;             /* per strip: the result awaiting its write */
	pthread_mutex_t mu;
};

enum { LOADED = 1, DONE = 2, WRITTEN = 4 };

static int
filter(const struct step *st, struct band *b, long *flagged)
{
	switch (st->op) {
	case RESTORE_DEBLOCK: return flt_deblock(st, b);
	case RESTORE_DENOISE: return flt_denoise(st, b);
	case RESTORE_DESCRATCH: return flt_descratch(st, b, flagged);
	case RESTORE_LEVELS: return flt_levels(st, b);
	case RESTORE_WHITE_BALANCE: return flt_white_balance(st, b);
	case RESTORE_DEBLUR: return flt_deblur(st, b);
	default: return EX_SOFTWARE;
	}
}

static void
load(const struct img *im, int nc, int y0, struct band *b)
{
	for (int y = 0; y < b->h; y++) {
		const uint8_t *s = im->px + (size_t)(y0 + y) * (size_t)im->w * (size_t)im->ch;
		for (int x = 0; x < b->w; x++)
			for (int c = 0; c < nc; c++)
				b->p[c][(size_t)y * b->w + x] = s[(size_t)x * im->ch + (im->ch >= 3 ? c : 0)];
	}
}

static uint8_t
u8(float v)
{
	return (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : (int)(v + 0.5f));
}

static size_t
row_bytes(const struct img *im)
{
	return (size_t)im->w * (size_t)im->ch;
}

/* Write every finished strip whose neighbours have loaded; j->mu held. */
static void
commit(struct job *j)
{
	for (int i = 0; i < j->nstrips; i++) {
		if (!(j->state[i] & DONE) || (i > 0 && !(j->state[i - 1] & LOADED)) ||
		    (i + 1 < j->nstrips && !(j->state[i + 1] & LOADED)))
			continue;
		int c0 = i * j->rows, c1 = c0 + j->rows < j->im->h ? c0 + j->rows : j->im->h;
		if (j->res[i] != NULL)
			memcpy(j->im->px + (size_t)c0 * row_bytes(j->im), j->res[i],
			    (size_t)(c1 - c0) * row_bytes(j->im));
		free(j->res[i]);
		j->res[i] = NULL;
		j->state[i] = LOADED | WRITTEN;
	}
}

static int
strip(struct job *j, int i, long *flagged)
{
	const struct img *src = j->im;
	struct band b = { .w = src->w, .nc = j->nc, .img_h = src->h };
	int c0 = i * j->rows, c1 = c0 + j->rows < src->h ? c0 + j->rows : src->h;
	int y0 = c0 - j->margin > 0 ? c0 - j->margin : 0;
	int y1 = c1 + j->margin < src->h ? c1 + j->margin : src->h, rc = EX_OSERR;
	float s = j->st->strength;
	uint8_t *res = NULL;

	b.y0 = y0;
	b.h = y1 - y0;
	b.c0 = c0 - y0;
	b.c1 = c1 - y0;
	for (int c = 0; c < j->nc; c++)
		if ((b.p[c] = malloc(sizeof(float) * (size_t)b.w * (size_t)b.h)) == NULL)
			goto out;
	if (!j->measure && (res = malloc((size_t)(c1 - c0) * row_bytes(src))) == NULL)
		goto out;
	load(src, j->nc, y0, &b);
	pthread_mutex_lock(&j->mu);
	j->state[i] |= LOADED;
	commit(j);
	pthread_mutex_unlock(&j->mu);
	if ((rc = filter(j->st, &b, flagged)) != 0 || j->measure)
		goto out;
	/* this strip's core rows are still the original: nobody writes them
	 * but this strip, later */
	for (int y = c0; y < c1; y++) {
		const uint8_t *sp = src->px + (size_t)y * row_bytes(src);
		uint8_t *dp = res + (size_t)(y - c0) * row_bytes(src);
		uint8_t *up = j->st->under != NULL ? j->st->under->px + (size_t)y * row_bytes(src) : NULL;
		for (int x = 0; x < src->w; x++) {
			size_t o0 = (size_t)x * src->ch;
			for (int c = 0; c < src->ch; c++) {
				size_t o = o0 + c;
				if (c >= j->nc && !(j->nc == 1 && c == 0)) {
					dp[o] = sp[o];          /* alpha */
					continue;
				}
				float f = b.p[c][(size_t)(y - y0) * b.w + x];
				dp[o] = u8(sp[o] + s * (f - sp[o]));
			}
			if (up != NULL && memcmp(dp + o0, sp + o0, (size_t)src->ch) != 0)
				memcpy(up + o0, dp + o0, (size_t)src->ch);
		}
	}
out:
	pthread_mutex_lock(&j->mu);
	j->state[i] |= LOADED | DONE;
	j->res[i] = rc == 0 ? res : NULL;
	if (rc == 0)
		commit(j);
	pthread_mutex_unlock(&j->mu);
	if (rc != 0)
		free(res);
	for (int c = 0; c < j->nc; c++)
		free(b.p[c]);
	return rc;
}

static void *
worker(void *arg)
{
	struct job *j = arg;

	for (;;) {
		long fl = 0;
		pthread_mutex_lock(&j->mu);
		int i = j->rc == 0 ? j->next++ : j->nstrips;
		pthread_mutex_unlock(&j->mu);
		if (i >= j->nstrips)
			return NULL;
		int rc = strip(j, i, &fl);
		pthread_mutex_lock(&j->mu);
		j->flagged += fl;
		if (rc != 0 && j->rc == 0)
			j->rc = rc;
		pthread_mutex_unlock(&j->mu);
	}
}

/* Strips and filters allocate planes of a few MiB each and free them a
 * strip later; glibc would hand each back to the kernel (mmap above
 * 128 KiB, a trimmed heap) and take page faults to get it again, a fifth
 * of deblur's time at 12 MP. Kept in the heap instead. */
static void
keep_freed(void)
{
#ifdef __GLIBC__
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
}

/* ...and handed back when the plan is done: otherwise what the caller
 * does next (the PNG encoder's buffer, 28 MB for a grainy 12 MP photo)
 * stacks on the 30 MiB the strips left there, and the peak is there. */
static void
give_back(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* Run one filter over im in place, or (measure) only count. On failure
 * im may be part filtered. */
static int
drive(const char *name, const struct step *st, struct img *im, int measure,
    const struct restore_opts *o, long *flagged)
{
	struct job j = { .st = st, .im = im, .measure = measure, .nc = im->ch >= 3 ? 3 : 1 };
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_t tid[8];
	int nt = util_threads(o->threads), started = 0;

	pthread_once(&once, keep_freed);

	j.margin = flt_margin(st);
	/* strip height depends on the filter and the width only, never on
	 * the threads, so that results are the same for any thread count;
	 * three margins high (four held deblock's 12 MP JPEG at 172 MiB,
	 * over #5's 167, for no gain in time), four for descratch, whose
	 * lines are judged whole within a strip */
	int k = st->op == RESTORE_DESCRATCH ? 4 : 3;
	j.rows = j.margin * k > 64 ? j.margin * k : 64;
	if (im->w > 6000 && j.rows > 32 && j.margin <= 16)
		j.rows = 32;
	j.nstrips = (im->h + j.rows - 1) / j.rows;
	if ((j.state = calloc((size_t)j.nstrips, 1)) == NULL ||
	    (j.res = calloc((size_t)j.nstrips, sizeof *j.res)) == NULL) {
		free(j.state);
		warnx("%s: %s: out of memory", name, restore_op_name(st->op));
		return EX_OSERR;
	}
	pthread_mutex_init(&j.mu, NULL);
	if (nt > j.nstrips)
		nt = j.nstrips;
	for (int t = 1; t < nt; t++)
		if (pthread_create(&tid[t], NULL, worker, &j) == 0)
			started = t;
		else
			break;
	worker(&j);
	for (int t = 1; t <= started; t++)
		pthread_join(tid[t], NULL);
	pthread_mutex_destroy(&j.mu);
	for (int i = 0; i < j.nstrips; i++)
		free(j.res[i]);
	free(j.res);
	free(j.state);
	if (flagged != NULL)
		*flagged = j.flagged;
	if (j.rc != 0)
		warnx("%s: %s: out of memory", name, restore_op_name(st->op));
	return j.rc;
}

/* Upscale src by st->scale into dst, in strips of input rows. */
static int
drive_up(const char *name, const struct step *st, const struct img *src, struct img *dst)
{
	int s = st->scale, nc = src->ch >= 3 ? 3 : 1, rows = 32, m = 8, rc = 0;

	for (int c0 = 0; c0 < src->h && rc == 0; c0 += rows) {
		int c1 = c0 + rows < src->h ? c0 + rows : src->h;
		int y0 = c0 - m > 0 ? c0 - m : 0, y1 = c1 + m < src->h ? c1 + m : src->h;
		struct band b = { .w = src->w, .h = y1 - y0, .y0 = y0, .c0 = c0 - y0, .c1 = c1 - y0,
			.img_h = src->h, .nc = nc };
		float *out[3] = { NULL };
		size_t on = (size_t)b.w * s * (size_t)b.h * s;
		rc = EX_OSERR;
		for (int c = 0; c < nc; c++)
			if ((b.p[c] = malloc(sizeof(float) * (size_t)b.w * b.h)) == NULL ||
			    (out[c] = malloc(sizeof(float) * on)) == NULL)
				goto next;
		load(src, nc, y0, &b);
		if ((rc = flt_upscale(st, &b, out)) != 0)
			goto next;
		for (int y = c0 * s; y < c1 * s; y++) {
			uint8_t *dp = dst->px + (size_t)y * (size_t)dst->w * (size_t)dst->ch;
			for (int x = 0; x < dst->w; x++)
				for (int c = 0; c < dst->ch; c++) {
					size_t o = (size_t)x * dst->ch + c;
					if (c >= nc && !(nc == 1 && c == 0)) {   /* alpha: nearest */
						dp[o] = src->px[((size_t)(y / s) * src->w + x / s) * src->ch + c];
						continue;
					}
					dp[o] = u8(out[c][(size_t)(y - y0 * s) * dst->w + x]);
				}
		}
next:
		for (int c = 0; c < nc; c++) {
			free(b.p[c]);
			free(out[c]);
		}
	}
	if (rc != 0)
		warnx("%s: upscale: out of memory", name);
	return rc;
}

/* ---- resolving parameters ---- */

static jv
rnd(double v, double unit)     /* unit 0.1, 0.01…: divide, so 0.29 prints as 0.29 */
{
	double k = round(1 / unit);
	return jv_number(round(v * k) / k + 0.0);      /* + 0: no -0 */
}

/* a plane (tilt.h) as the record gives it: [centre, rise across, down] */
static jv
plane_json(const struct plane *p)
{
	return JV_ARRAY(rnd(p->c, 0.1), rnd(p->px, 0.1), rnd(p->py, 0.1));
}

/* rs-classify reads a fade through noise with a correction that can
 * overshoot (a noisy brick wall or dusk sky reads faded); once the noise
 * is gone it reads the picture as it is. The faded score it gives the
 * cleaned picture, or -1 if it cannot say. */
static double
faded_once_cleaned(const char *name, const struct img *im)
{
	jv c, d;
	double score = -1;

	if (classify_image(name, im, &c) != 0)
		return -1;
	d = jv_object_get(c, jv_string("degradations"));
	if (jv_get_kind(d) == JV_KIND_ARRAY)
		jv_array_foreach(d, i, e) {
			if (json_str(e, "type") != NULL && strcmp(json_str(e, "type"), "faded") == 0)
				score = num(e, "score", -1);
			jv_free(e);
		}
	jv_free(d);
	return score;
}

/* The faded score a cleaned picture (not toned) must keep for a stretch
 * asked through noise: the stretch about mid-grey (est_levels) is
 * larger than the extremes' one, and a dark scene under noise that
 * only just scores faded (rocket under shot noise: 0.52) loses 11 dB. */
#define FADED_ONCE_CLEANED 0.8

/* A sepia blend read weaker than this is taken for a cast (gains, or the
 * tone divided off whole): the colour of a photo under a cast was not
 * taken, and undoing a blend soon pushes it past black or white, which
 * est_sepia stops; a warm scene, or pixels a stretch clipped, stop it
 * too. (A warm cast of gains 1.15 1 0.75 read 0.10 and lost 3 dB undone;
 * bench/'s sepia photos lost 0.3 dB at most.) */
#define UNBLEND_MIN 0.15f

/* What earlier steps of a run did, for the later ones to know. */
enum { CLEANED = 1,      /* noise, blocking or scratches removed */
	UNTONED = 2 };   /* levels took a print's tone off */

/* Fill st from the op object e and measurements of im; the used-op
 * record goes to *rec. done: CLEANED, UNTONED. */
static int
resolve(const char *name, jv e, const struct img *im, const struct restore_opts *o,
    int done, struct step *st, jv *rec, long *flagged)
{
	int cleaned = done & CLEANED;
	const char *n = json_str(e, "op");
	int aged;
	jv r;

	memset(st, 0, sizeof *st);
	st->op = restore_op_index(n);
	st->strength = (float)num(e, "strength", 1);
	r = JV_OBJECT(jv_string("op"), jv_string(n), jv_string("strength"),
	    rnd(st->strength, 0.01));
	switch (st->op) {
	case RESTORE_DEBLOCK: {
		int file;
		st->quality = est_jpeg_quality(im, st->q, &file);
		if (!file && has(e, "quality")) {
			st->quality = (int)num(e, "quality", st->quality);
			est_quant_table(st->quality, st->q);
		}
		st->grid = im->orientation == 1 && im->w == im->src_w && im->h == im->src_h;
		st->ftab = file;
		if (file && im->nquant > 1 && im->jpeg_comps == 3 && st->grid) {
			memcpy(st->qc, im->quant[1], sizeof st->qc);
			st->csub = im->jpeg_hsamp == 2 && im->jpeg_vsamp == 2;
		} else if (file == 2 && st->grid && !est_chroma_measured(im, st->quality, st->qc, &st->csub))
			memset(st->qc, 0, sizeof st->qc);
		r = jv_object_set(r, jv_string("quality"), jv_number(st->quality));
		r = jv_object_set(r, jv_string("tables"),
		    jv_string(file == 1 ? "file" : file ? "measured" : "estimated"));
		break;
	}
	case RESTORE_DENOISE: {
		float s = est_noise(im, st->nsig);
		if (has(e, "sigma")) {
			float want = (float)num(e, "sigma", s);
			float f = s > 0.1f ? want / s : 0;
			for (int k = 0; k < 3; k++)
				st->nsig[k] = f > 0 ? st->nsig[k] * f : want;
			s = want;
		}
		st->sigma = s;
		est_nlf(im, &st->nla, &st->nlb);
		st->csig = has(e, "chroma_sigma") ? (float)num(e, "chroma_sigma", 0) : est_chroma(im);
		r = jv_object_set(r, jv_string("sigma"), rnd(s, 0.01));
		r = jv_object_set(r, jv_string("noise_a"), rnd(st->nla, 0.001));
		r = jv_object_set(r, jv_string("noise_b"), rnd(st->nlb, 0.01));
		r = jv_object_set(r, jv_string("chroma_sigma"), rnd(st->csig, 0.01));
		break;
	}
	case RESTORE_DESCRATCH:
		st->thresh = (float)num(e, "threshold", 1);
		st->csub = im->ch >= 3 && im->jpeg_comps == 3 && (im->jpeg_hsamp > 1 || im->jpeg_vsamp > 1);
		r = jv_object_set(r, jv_string("threshold"), rnd(st->thresh, 0.01));
		*flagged = 1;
		break;
	case RESTORE_LEVELS:
		/* a stretch rs-classify asked for (it carries its black and
		 * white) once noise, blocking or scratches were removed: only
		 * if it still sees a fade in the cleaned picture, or the
		 * picture is toned warm (sepia, an aged print: toning and
		 * fading come together, and a mild fade under a tone can read
		 * as a picture low in contrast by nature) */
		aged = 0;
		if (cleaned) {
			float gain[3];
			int toned;
			aged = est_white_balance(im, gain, &toned) >= 0.1f && gain[2] > gain[0] * 1.01f;
			if (aged)
				r = jv_object_set(r, jv_string("toned"), jv_true());
		}
		if (cleaned && st->strength > 0 && has(e, "black") && has(e, "white")) {
			double f = faded_once_cleaned(name, im);
			if (f >= 0)
				r = jv_object_set(r, jv_string("faded_once_cleaned"), rnd(f, 0.01));
			if (f >= 0 && f < FADED_ONCE_CLEANED && !aged) {
				st->strength = 0;
				r = jv_object_set(r, jv_string("strength"), jv_number(0));
			}
		}
		est_levels(im, cleaned, &st->black, &st->white, &st->sat, st->tint);
		/* an uneven fade: the black where each pixel is (not on a
		 * texture, whose own contrast the span only guesses: a
		 * stretch that grows across the frame spreads that guess's
		 * error over the more faded side, -6 to -8 dB on bench/'s
		 * bricks) */
		if (!cleaned && !has(e, "span") && st->white - st->black > 16 &&
		    est_black_tilt(im, &st->tilt)) {
			r = jv_object_set(r, jv_string("black_tilt"), plane_json(&st->tilt.black));
			if (st->tilt.has_white)
				r = jv_object_set(r, jv_string("white_tilt"), plane_json(&st->tilt.white));
		}
		if (aged && im->ch >= 3) {
			/* the tone is a gain on each channel: lower each black
			 * in proportion, so that the shadows keep the tone of
			 * the lights; to neutralise it, divide it off whole */
			est_tone(im, st->tone);
			r = jv_object_set(r, jv_string("tone"), JV_ARRAY(rnd(st->tone[0], 0.001),
			    rnd(st->tone[1], 0.001), rnd(st->tone[2], 0.001)));
			if (!o->keep_sepia) {
				st->untone = 1;
				st->tint[0] = st->tint[1] = st->tint[2] = 0;
				r = jv_object_set(r, jv_string("untone"), jv_true());
			}
		}
		/* a narrower target range (a texture filling the frame has
		 * no black or white of its own), never a narrowing */
		st->span = (float)num(e, "span", 255);
		st->span = st->span < 16 ? 16 : st->span > 255 ? 255 : st->span;
		if (st->span < 255) {
			float k = st->span / (st->white - st->black > 1 ? st->white - st->black : 1);
			if (k <= 1.02f) {
				st->black = 0;
				st->white = 255;
				st->span = 255;
				st->sat = 1;
			} else if (im->ch >= 3)   /* the gain est_levels gave, for the new span */
				st->sat = fminf(1.5f, fmaxf(1, st->sat * powf(st->span / 255, 0.4f)));
		}
		if (st->untone) {
			/* a colour photo toned is a blend toward sepia, whose
			 * colour no gain gives back: undo the blend first
			 * (est_sepia, keeping what lands inside the new
			 * black..white), then divide by the tone left in the
			 * measure that it is one tint all over (a toned
			 * monochrome print: there the division alone); a
			 * cast, or a blend too weak to tell from one, is
			 * divided by its tone whole (UNBLEND_MIN). Undone, the
			 * colour has its measured scale back: no saturation
			 * gain on top, which overshoots with the stretch (on
			 * mkimg's grainy faded sepia prints, 21 to 25 dB with
			 * the gain, 25 without; bench/'s old photos within
			 * 0.3 dB either way) */
			float k = st->span / (st->white - st->black > 1 ? st->white - st->black : 1);
			float off = 0.5f * (255 - st->span);
			float t[3], a = est_sepia(im, st->black - off / k, st->black + (255 - off) / k, t);
			if (a >= UNBLEND_MIN) {
				st->unblend = a;
				memcpy(st->tone, t, sizeof t);
				st->sat = 1;
			}
			r = jv_object_set(r, jv_string("tone"), JV_ARRAY(rnd(st->tone[0], 0.001),
			    rnd(st->tone[1], 0.001), rnd(st->tone[2], 0.001)));
			if (st->unblend > 0)
				r = jv_object_set(r, jv_string("unblend"), rnd(st->unblend, 0.01));
		}
		r = jv_object_set(r, jv_string("black"), rnd(st->black, 0.1));
		r = jv_object_set(r, jv_string("white"), rnd(st->white, 0.1));
		r = jv_object_set(r, jv_string("saturation"), rnd(st->sat, 0.01));
		r = jv_object_set(r, jv_string("span"), rnd(st->span, 0.1));
		break;
	case RESTORE_WHITE_BALANCE: {
		int toned;
		float cast = est_white_balance(im, st->gain, &toned);
		int warm = st->gain[2] > st->gain[0] * 1.01f;
		/* A warm cast (the correction would cool: less red, more blue)
		 * is sepia, an aged print's toning or warm light (sunset,
		 * tungsten, a ginger cat): kept unless --neutralise-sepia. A
		 * cool cast is removed, on a monochrome print too. A cast too
		 * weak to see is left as it is. */
		st->keep_tone = (o->keep_sepia && warm) || cast < 0.02f;
		/* to neutralise a warm tone: a colour photo blended toward
		 * sepia (est_sepia) has lost colour that gains do not give
		 * back, undo the blend (and no more: a gain for the tone
		 * left cost 1 to 2 dB on bench/'s sepia photos); a toned
		 * monochrome print (toned) has none to lose, gains are exact
		 * there, and gains too where the blend reads weaker than
		 * UNBLEND_MIN */
		if (!st->keep_tone && warm && !toned && !(done & UNTONED) &&
		    (st->unblend = est_sepia(im, 0, 255, NULL)) < UNBLEND_MIN)
			st->unblend = 0;
		if (st->unblend > 0)
			r = jv_object_set(r, jv_string("unblend"), rnd(st->unblend, 0.01));
		/* levels took the tone off already, as a gain per channel;
		 * measured again, the grain and scratches it tinted would
		 * read as a cast */
		if (done & UNTONED) {
			st->keep_tone = 0;
			r = jv_object_set(r, jv_string("untoned_by_levels"), jv_true());
		}
		if (st->keep_tone || (done & UNTONED) || st->unblend > 0)
			st->gain[0] = st->gain[1] = st->gain[2] = 1;
		r = jv_object_set(r, jv_string("r"), rnd(st->gain[0], 0.001));
		r = jv_object_set(r, jv_string("g"), rnd(st->gain[1], 0.001));
		r = jv_object_set(r, jv_string("b"), rnd(st->gain[2], 0.001));
		r = jv_object_set(r, jv_string("keep_tone"), jv_bool(st->keep_tone));
		break;
	}
	case RESTORE_DEBLUR: {
		/* a streak's length and angle (motion blur), a defocus disk's
		 * radius, or a Gaussian's sigma; none given: a streak or a
		 * disk if est_psf is sure of one, else the Gaussian measured */
		double ln = num(e, "length", 0), an = num(e, "angle", 0), rd = num(e, "radius", 0);
		double it = num(e, "iterations", deblur_iters(st->strength));
		float ml = 0, ma = 0, dr = 0;
		char why[80] = "";
		if (has(e, "length") && !(ln >= 1 && ln <= MOTION_MAX))
			snprintf(why, sizeof why, "length %g: must be 1 to %g", ln, MOTION_MAX);
		else if (has(e, "length") && !isfinite(an))
			snprintf(why, sizeof why, "angle %g: must be a finite number", an);
		else if (!has(e, "length") && has(e, "radius") && !(rd >= 0.5 && rd <= DISK_MAX))
			snprintf(why, sizeof why, "radius %g: must be 0.5 to %g", rd, DISK_MAX);
		else if (!(it >= 0 && it <= DEBLUR_MAX))
			snprintf(why, sizeof why, "iterations %g: must be 0 to %d", it, DEBLUR_MAX);
		if (*why) {
			warnx("%s: deblur: %s", name, why);
			jv_free(r);
			return EX_DATAERR;
		}
		if (has(e, "length")) {
			ml = (float)ln;
			ma = (float)fmod(an, 180);
		} else if (has(e, "radius"))
			dr = (float)rd;
		else if (!has(e, "sigma") && est_psf(im, &ml, &ma, &dr) < 0) {
			warnx("%s: out of memory", name);
			jv_free(r);
			return EX_OSERR;
		}
		double sg = ml > 0 || dr > 0 ? 0 : has(e, "sigma") ? num(e, "sigma", 0) : est_blur(im);
		st->sigma = (float)(sg > 4 ? 4 : sg < 0 ? 0 : sg);
		st->mlen = ml;
		st->mang = fmodf(fmodf(ma, 180) + 180, 180);
		st->drad = dr;
		st->iters = (int)it;
		if (ml > 0) {
			r = jv_object_set(r, jv_string("kernel"), jv_string("motion"));
			r = jv_object_set(r, jv_string("length"), rnd(st->mlen, 0.01));
			r = jv_object_set(r, jv_string("angle"), rnd(st->mang, 0.1));
		} else if (dr > 0) {
			r = jv_object_set(r, jv_string("kernel"), jv_string("disk"));
			r = jv_object_set(r, jv_string("radius"), rnd(st->drad, 0.01));
		} else
			r = jv_object_set(r, jv_string("sigma"), rnd(st->sigma, 0.01));
		r = jv_object_set(r, jv_string("iterations"), jv_number(st->iters));
		break;
	}
	case RESTORE_UPSCALE:
		st->scale = o->scale > 1 ? o->scale : (int)num(e, "scale", 2);
		if (st->scale != 2 && st->scale != 4) {
			warnx("%s: upscale: scale %d: must be 2 or 4", name, st->scale);
			jv_free(r);
			return EX_DATAERR;
		}
		r = jv_object_set(r, jv_string("scale"), jv_number(st->scale));
		break;
	default:
		jv_free(r);
		warnx("%s: %s: unknown operation", name, n != NULL ? n : "?");
		return EX_DATAERR;
	}
	*rec = r;
	return 0;
}

/* Pictures up to this many pixels are denoised again once descratched
 * (see restore_run): a second copy of a 12 MP picture held its peak at
 * 175 MB, over #5's 167 MiB (3 x the RGB + 64 MiB). */
#define REDENOISE_MAX 4e6

/* whether plan has operation op at index from or later */
static int
plan_has(jv plan, int from, const char *op)
{
	int n = jv_array_length(jv_copy(plan));

	for (int i = from; i < n; i++) {
		jv e = jv_array_get(jv_copy(plan), i);
		const char *s = json_str(e, "op");
		int hit = s != NULL && strcmp(s, op) == 0;
		jv_free(e);
		if (hit)
			return 1;
	}
	return 0;
}

int
restore_run(const char *name, struct img *im, jv plan, const struct restore_opts *o, jv *used)
{
	struct img tmp, noisy;
	struct step dn;
	int rc = 0, done = 0;

	*used = jv_array();
	memset(&tmp, 0, sizeof tmp);
	memset(&noisy, 0, sizeof noisy);
	memset(&dn, 0, sizeof dn);
	if (jv_get_kind(plan) != JV_KIND_ARRAY) {
		warnx("%s: plan: not an array", name);
		return EX_SOFTWARE;
	}
	jv_array_foreach(plan, i, e) {
		struct step st;
		jv rec = jv_null();
		long flagged = 0;

		if (rc == 0 && (rc = resolve(name, e, im, o, done, &st, &rec, &flagged)) == 0 &&
		    st.strength > 0) {
			if (st.op == RESTORE_UPSCALE) {
				unsigned long long px = (unsigned long long)im->w * st.scale *
				    (unsigned long long)im->h * st.scale;
				if (px > IMG_MAX_PIXELS) {
					warnx("%s: upscale: %dx%d by %d exceeds %llu pixels", name,
					    im->w, im->h, st.scale, IMG_MAX_PIXELS);
					rc = EX_DATAERR;
				} else if ((rc = img_alloc(&tmp, im->w * st.scale, im->h * st.scale,
				    im->ch)) == 0)
					rc = drive_up(name, &st, im, &tmp);
			} else {
				/* Scratches are found best on the denoised picture,
				 * but the means and the Wiener blocks have already
				 * spread each one's light into a halo about it, which
				 * its fill leaves as a ghost (and levels then
				 * amplify). So a picture that will be descratched
				 * is kept as it was before denoising; the pixels
				 * descratch fills on the denoised one are filled so
				 * in it too, and it is denoised again. Up to
				 * REDENOISE_MAX pixels: the copy would take a large
				 * picture over #5's memory limit; without memory for
				 * it, as before. */
				size_t nb = (size_t)im->w * (size_t)im->h * (size_t)im->ch;
				if (st.op == RESTORE_DENOISE && noisy.px == NULL &&
				    (double)im->w * im->h <= REDENOISE_MAX &&
				    plan_has(plan, i + 1, "descratch") &&
				    (noisy.px = malloc(nb)) != NULL) {
					memcpy(noisy.px, im->px, nb);
					noisy.w = im->w;
					noisy.h = im->h;
					noisy.ch = im->ch;
					dn = st;
				}
				if (st.op == RESTORE_DESCRATCH && noisy.px != NULL && noisy.w == im->w &&
				    noisy.h == im->h && noisy.ch == im->ch)
					st.under = &noisy;
				rc = drive(name, &st, im, 0, o, &flagged);
				if (rc == 0 && st.under != NULL && flagged > 0) {
					uint8_t *t = im->px;
					im->px = noisy.px;
					noisy.px = t;
					img_free(&noisy);
					rc = drive(name, &dn, im, 0, o, NULL);
					rec = jv_object_set(rec, jv_string("denoised_again"), jv_true());
				}
			}
			if (rc == 0 && tmp.px != NULL) {
				/* the new pixels take over; metadata stays with im */
				free(im->px);
				im->px = tmp.px;
				im->w = tmp.w;
				im->h = tmp.h;
				tmp.px = NULL;
			}
			if (rc == 0) {
				if (st.op <= RESTORE_DESCRATCH)
					done |= CLEANED;
				if (st.op == RESTORE_LEVELS && (st.untone || st.unblend > 0))
					done |= UNTONED;
				if (st.op == RESTORE_DESCRATCH)
					rec = jv_object_set(rec, jv_string("flagged"),
					    rnd((double)flagged / ((double)im->w * im->h), 0.00001));
			}
			img_free(&tmp);
		}
		if (rc == 0 && st.op == RESTORE_DESCRATCH)
			img_free(&noisy);     /* run or skipped, it is done with */
		if (rc == 0)
			*used = jv_array_append(*used, rec);
		else
			jv_free(rec);
		jv_free(e);
	}
	img_free(&noisy);
	give_back();
	return rc;
}

/* ---- choosing operations without a classifier ---- */

int
restore_guess(const char *name, const struct img *im, jv *ops)
{
	float nsig[3], gain[3], black, white, sat;
	uint16_t q[64];
	int file, toned, quality;
	struct restore_opts o;
	struct step st;
	long flagged = 0;

	restore_opts_default(&o);
	*ops = jv_array();
	quality = est_jpeg_quality(im, q, &file);
	if ((file && quality < 60) || (!file && quality < 50))
		*ops = jv_array_append(*ops, JV_OBJECT(jv_string("op"), jv_string("deblock"),
		    jv_string("strength"), jv_number(1), jv_string("quality"), jv_number(quality)));
	float sigma = est_noise(im, nsig);
	if (sigma > 4 && !((file && quality < 60) || (!file && quality < 50)))
		*ops = jv_array_append(*ops, JV_OBJECT(jv_string("op"), jv_string("denoise"),
		    jv_string("strength"), jv_number(1), jv_string("sigma"), rnd(sigma, 0.01)));
	memset(&st, 0, sizeof st);
	st.op = RESTORE_DESCRATCH;
	st.strength = 1;
	st.thresh = sigma > 4 ? 1 + sigma / 40 : 1;
	if (drive(name, &st, (struct img *)im, 1, &o, &flagged) == 0 &&
	    flagged > (long)(0.003 * im->w * im->h))
		*ops = jv_array_append(*ops, JV_OBJECT(jv_string("op"), jv_string("descratch"),
		    jv_string("strength"), jv_number(1)));
	est_levels(im, sigma > 4, &black, &white, &sat, gain);
	if (white - black < 190)
		*ops = jv_array_append(*ops, JV_OBJECT(jv_string("op"), jv_string("levels"),
		    jv_string("strength"), jv_number(1)));
	if (est_white_balance(im, gain, &toned) > 0.15f || toned)
		*ops = jv_array_append(*ops, JV_OBJECT(jv_string("op"), jv_string("white_balance"),
		    jv_string("strength"), jv_number(1), jv_string("keep_tone"), jv_bool(toned)));
	float bs = est_blur(im), ml, ma, dr;
	int kind = est_psf(im, &ml, &ma, &dr);
	if (kind < 0) {
		warnx("%s: out of memory", name);
		return EX_OSERR;
	}
	if (kind > 0 || (bs > 1.2f && sigma < 8)) {
		jv o = JV_OBJECT(jv_string("op"), jv_string("deblur"), jv_string("strength"), jv_number(1));
		if (kind == 1) {
			o = jv_object_set(o, jv_string("length"), rnd(ml, 0.01));
			o = jv_object_set(o, jv_string("angle"), rnd(ma, 0.1));
		} else if (kind == 2)
			o = jv_object_set(o, jv_string("radius"), rnd(dr, 0.01));
		else
			o = jv_object_set(o, jv_string("sigma"), rnd(bs, 0.01));
		*ops = jv_array_append(*ops, o);
	}
	return 0;
}
