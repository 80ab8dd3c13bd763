/* transfer.c: align a model's answer with the original, score its
 * fidelity, and carry its correction back to full resolution.
 *
 * Work grid. The answer A (about 1 MP, the model's own aspect ratio) and
 * the original O (any size) are both resampled to one grid with O's
 * aspect ratio and A's pixel count (or O's size when O is smaller):
 * area averaging when shrinking, bilinear when enlarging. A model that
 * answers in a nearby aspect ratio has stretched the picture, so this
 * undoes the stretch.
 *
 * Alignment. A model may also shift the picture a little. On standardised
 * luminance at about 128 pixels we try every integer shift within 5% of
 * the size, keep the one with the least squared difference, and refine it
 * on the work grid. The answer is resampled with that shift.
 *
 * Fidelity. Mean SSIM (Wang et al. 2004, Gaussian window sigma 1.5,
 * C1 = (0.01)^2, C2 = (0.03)^2 on a 0..1 scale) of the two luminances at
 * about 256 pixels, each first standardised to one global mean and
 * spread, so a restoration that corrects levels, fading or a colour cast
 * is not mistaken for a change of content, while a new face, a moved
 * object or a different photo is. 1 means the same structure.
 *
 * Transfer. Per output channel, with G the original and T the aligned
 * answer on the work grid, a local gain is fitted as in a guided filter,
 * regularised toward 1 (not 0) so that flat windows keep the original's
 * texture:  a = (cov(G,T) + eps) / (var(G) + eps), box-smoothed.
 * The full-size output is
 *     out = up(T) + up(a) * (O - up(G))
 * the model's picture at its own resolution plus the original's detail
 * layer (what the work grid cannot hold), scaled by the gain the model
 * applied there. A colour or tone correction (T = f(G)) comes out exactly
 * as f applied to the full-size original; what the model added or removed
 * at its scale is kept at that scale; nothing is upscaled by guessing.
 * Memory: a few float planes of the work grid, plus the output. */
#include <err.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "transfer.h"
#include "util.h"

#define COARSE_ALIGN 128          /* longest side for the shift search */
#define COARSE_SSIM  96           /* longest side for fidelity */
#define GUIDE_EPS    25.0f        /* (5 levels)^2: gain regularisation */

struct plane {
	int w, h;
	float *p;
};

static void
plane_free(struct plane *pl)
{
	free(pl->p);
	pl->p = NULL;
}

static int
plane_alloc(struct plane *pl, int w, int h)
{
	pl->w = w;
	pl->h = h;
	pl->p = calloc((size_t)w * h, sizeof(float));
	return pl->p == NULL ? -1 : 0;
}

/* One output sample of a 1-D resampling: n weights from src[start]. */
struct wtab {
	int *start, *n, maxn;
	float *w;
};

static void
wtab_free(struct wtab *t)
{
	free(t->start);
	free(t->n);
	free(t->w);
}

/* Area average when shrinking, bilinear (pixel centres) when enlarging;
 * off is a shift in destination pixels (the source is read at i + off). */
static int
wtab_make(int sn, int dn, double off, struct wtab *t)
{
	double s = (double)sn / dn;

	t->maxn = s > 1 ? (int)ceil(s) + 2 : 2;
	t->start = calloc((size_t)dn, sizeof(int));
	t->n = calloc((size_t)dn, sizeof(int));
	t->w = calloc((size_t)dn * t->maxn, sizeof(float));
	if (t->start == NULL || t->n == NULL || t->w == NULL)
		return -1;
	for (int i = 0; i < dn; i++) {
		float *w = t->w + (size_t)i * t->maxn;
		if (s > 1) {
			double a = (i + off) * s, b = a + s, sum = 0;
			int j0 = (int)floor(a), k = 0;
			for (int j = j0; j < b && k < t->maxn; j++, k++) {
				double lo = j > a ? j : a, hi = j + 1 < b ? j + 1 : b;
				w[k] = (float)(hi - lo);
				sum += w[k];
			}
			t->start[i] = j0;
			t->n[i] = k;
			for (int m = 0; m < k; m++)
				w[m] = (float)(w[m] / sum);
		} else {
			double u = (i + off + 0.5) * s - 0.5;
			int j0 = (int)floor(u);
			t->start[i] = j0;
			t->n[i] = 2;
			w[1] = (float)(u - j0);
			w[0] = 1 - w[1];
		}
	}
	return 0;
}

static inline int
clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Raw channel of im to read for colour channel c (0..2), or -1: luma. */
static int
colour_sel(const struct img *im, int c)
{
	return im->ch < 3 ? 0 : c;
}

static inline float
pixel(const struct img *im, const uint8_t *p, int sel)
{
	if (sel >= 0)
		return p[sel];
	if (im->ch < 3)
		return p[0];
	return 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
}

/* Resample channel sel (or luma, -1) of im to w x h, shifted by dx, dy
 * destination pixels. Two passes: rows, then columns. */
static int
plane_from_img(const struct img *im, int sel, int w, int h, double dx, double dy,
    struct plane *out)
{
	struct wtab tx = { 0 }, ty = { 0 };
	struct plane tmp = { 0 };
	int rc = -1;

	out->p = NULL;
	if (wtab_make(im->w, w, dx, &tx) < 0 || wtab_make(im->h, h, dy, &ty) < 0 ||
	    plane_alloc(&tmp, w, im->h) < 0 || plane_alloc(out, w, h) < 0)
		goto done;
	for (int y = 0; y < im->h; y++) {
		const uint8_t *row = im->px + (size_t)y * im->w * im->ch;
		float *o = tmp.p + (size_t)y * w;
		for (int x = 0; x < w; x++) {
			const float *wt = tx.w + (size_t)x * tx.maxn;
			float s = 0;
			for (int k = 0; k < tx.n[x]; k++) {
				int j = clampi(tx.start[x] + k, 0, im->w - 1);
				s += wt[k] * pixel(im, row + (size_t)j * im->ch, sel);
			}
			o[x] = s;
		}
	}
	for (int y = 0; y < h; y++) {
		const float *wt = ty.w + (size_t)y * ty.maxn;
		float *o = out->p + (size_t)y * w;
		for (int k = 0; k < ty.n[y]; k++) {
			const float *r = tmp.p + (size_t)clampi(ty.start[y] + k, 0, im->h - 1) * w;
			for (int x = 0; x < w; x++)
				o[x] += wt[k] * r[x];
		}
	}
	rc = 0;
done:
	if (rc != 0)
		plane_free(out);
	plane_free(&tmp);
	wtab_free(&tx);
	wtab_free(&ty);
	return rc;
}

/* Fit w x h (longest side at most side) with the aspect of sw x sh. */
static void
fit(int sw, int sh, int side, int *w, int *h)
{
	if (sw >= sh) {
		*w = sw < side ? sw : side;
		*h = (int)lround((double)sh * *w / sw);
	} else {
		*h = sh < side ? sh : side;
		*w = (int)lround((double)sw * *h / sh);
	}
	if (*w < 1) *w = 1;
	if (*h < 1) *h = 1;
}

/* Standardise in place to mean 0.5, deviation 0.2 (a 0..1 scale). */
static void
standardise(struct plane *pl)
{
	size_t n = (size_t)pl->w * pl->h;
	double s = 0, ss = 0, m, sd;

	for (size_t i = 0; i < n; i++) {
		s += pl->p[i];
		ss += (double)pl->p[i] * pl->p[i];
	}
	m = s / n;
	sd = sqrt(fmax(ss / n - m * m, 0));
	for (size_t i = 0; i < n; i++)
		pl->p[i] = (float)(0.5 + (sd > 1e-3 ? 0.2 * (pl->p[i] - m) / sd : 0));
}

/* Mean squared difference of a and b shifted by (dx, dy), over the
 * interior that every tried shift keeps in range; step subsamples. */
static double
shift_cost(const struct plane *a, const struct plane *b, int dx, int dy, int r, int step)
{
	double s = 0;
	long n = 0;

	for (int y = r; y < a->h - r; y += step)
		for (int x = r; x < a->w - r; x += step) {
			double d = a->p[(size_t)y * a->w + x] - b->p[(size_t)(y + dy) * b->w + x + dx];
			s += d * d;
			n++;
		}
	return n > 0 ? s / n : 0;
}

/* Best integer shift of b onto a within +-r around (*dx, *dy). */
static void
search(const struct plane *a, const struct plane *b, int r, int around, int step,
    int *dx, int *dy)
{
	int bx = *dx, by = *dy, cx = *dx, cy = *dy, lim = r + around;
	double best = INFINITY;

	for (int y = cy - r; y <= cy + r; y++)
		for (int x = cx - r; x <= cx + r; x++) {
			double c;
			if (abs(x) > lim || abs(y) > lim)
				continue;
			c = shift_cost(a, b, x, y, lim, step);
			/* ties go to the smaller shift */
			if (c < best - 1e-9 || (c <= best + 1e-9 && abs(x) + abs(y) < abs(bx) + abs(by))) {
				best = c;
				bx = x;
				by = y;
			}
		}
	*dx = bx;
	*dy = by;
}

static int
gauss_blur(struct plane *pl)
{
	float k[11], sum = 0, *t;
	int w = pl->w, h = pl->h;

	for (int i = -5; i <= 5; i++)
		sum += k[i + 5] = expf(-(float)(i * i) / (2 * 1.5f * 1.5f));
	for (int i = 0; i < 11; i++)
		k[i] /= sum;
	if ((t = malloc(sizeof(float) * (size_t)w * h)) == NULL)
		return -1;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			float s = 0;
			for (int i = -5; i <= 5; i++)
				s += k[i + 5] * pl->p[(size_t)y * w + clampi(x + i, 0, w - 1)];
			t[(size_t)y * w + x] = s;
		}
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			float s = 0;
			for (int i = -5; i <= 5; i++)
				s += k[i + 5] * t[(size_t)clampi(y + i, 0, h - 1) * w + x];
			pl->p[(size_t)y * w + x] = s;
		}
	free(t);
	return 0;
}

/* Mean SSIM of two standardised planes of one size. */
static int
ssim(const struct plane *a, const struct plane *b, double *score)
{
	const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
	size_t n = (size_t)a->w * a->h;
	struct plane m[5] = { { 0 } };
	double s = 0;
	int rc = -1;

	for (int i = 0; i < 5; i++)
		if (plane_alloc(&m[i], a->w, a->h) < 0)
			goto done;
	for (size_t i = 0; i < n; i++) {
		float x = a->p[i], y = b->p[i];
		m[0].p[i] = x; m[1].p[i] = y;
		m[2].p[i] = x * x; m[3].p[i] = y * y; m[4].p[i] = x * y;
	}
	for (int i = 0; i < 5; i++)
		if (gauss_blur(&m[i]) < 0)
			goto done;
	for (size_t i = 0; i < n; i++) {
		double mx = m[0].p[i], my = m[1].p[i];
		double vx = m[2].p[i] - mx * mx, vy = m[3].p[i] - my * my, cxy = m[4].p[i] - mx * my;
		s += (2 * mx * my + c1) * (2 * cxy + c2) /
		    ((mx * mx + my * my + c1) * (vx + vy + c2));
	}
	*score = s / n;
	rc = 0;
done:
	for (int i = 0; i < 5; i++)
		plane_free(&m[i]);
	return rc;
}

/* The work grid for orig and ans. */
static void
work_size(const struct img *o, const struct img *a, int *w, int *h)
{
	double op = (double)o->w * o->h, ap = (double)a->w * a->h;

	if (op <= ap) {
		*w = o->w;
		*h = o->h;
		return;
	}
	*w = (int)lround(sqrt(ap * o->w / o->h));
	*h = (int)lround((double)*w * o->h / o->w);
	if (*w < 1) *w = 1;
	if (*h < 1) *h = 1;
}

/* Shift (in work pixels) that aligns ans with orig, and fidelity. */
static int
align(const struct img *o, const struct img *a, int ww, int wh, struct transfer_info *ti)
{
	struct plane go = { 0 }, ga = { 0 }, co = { 0 }, ca = { 0 };
	int cw, chh, r, dx = 0, dy = 0, rc = -1;
	double f;

	fit(ww, wh, COARSE_ALIGN, &cw, &chh);
	f = (double)ww / cw;
	r = (int)ceil(0.05 * (cw > chh ? cw : chh));
	if (plane_from_img(o, -1, cw, chh, 0, 0, &co) < 0 ||
	    plane_from_img(a, -1, cw, chh, 0, 0, &ca) < 0)
		goto done;
	standardise(&co);
	standardise(&ca);
	if (cw > 4 * r && chh > 4 * r)
		search(&co, &ca, r, 0, 1, &dx, &dy);
	plane_free(&co);
	plane_free(&ca);
	/* refine on the work grid (at most 1024 pixels, for speed) */
	if (dx != 0 || dy != 0) {
		int rw, rh, rr;
		double g;
		fit(ww, wh, 1024, &rw, &rh);
		g = (double)rw / cw;
		dx = (int)lround(dx * g);
		dy = (int)lround(dy * g);
		rr = (int)ceil(g) + 1;
		if (plane_from_img(o, -1, rw, rh, 0, 0, &co) < 0 ||
		    plane_from_img(a, -1, rw, rh, 0, 0, &ca) < 0)
			goto done;
		standardise(&co);
		standardise(&ca);
		search(&co, &ca, rr, abs(dx) > abs(dy) ? abs(dx) : abs(dy), 2, &dx, &dy);
		f = (double)ww / rw;
		plane_free(&co);
		plane_free(&ca);
	}
	ti->dx = (int)lround(dx * f);
	ti->dy = (int)lround(dy * f);
	ti->work_w = ww;
	ti->work_h = wh;
	/* fidelity on the aligned luminances */
	fit(ww, wh, COARSE_SSIM, &cw, &chh);
	if (plane_from_img(o, -1, cw, chh, 0, 0, &go) < 0 ||
	    plane_from_img(a, -1, cw, chh, (double)ti->dx * cw / ww, (double)ti->dy * chh / wh, &ga) < 0)
		goto done;
	standardise(&go);
	standardise(&ga);
	rc = ssim(&go, &ga, &ti->fidelity);
done:
	plane_free(&go);
	plane_free(&ga);
	plane_free(&co);
	plane_free(&ca);
	return rc;
}

static int
oom(const char *name)
{
	warnx("%s: out of memory", name);
	return EX_OSERR;
}

int
transfer_fidelity(const char *name, const struct img *orig, const struct img *ans,
    struct transfer_info *ti)
{
	int ww, wh;

	memset(ti, 0, sizeof *ti);
	work_size(orig, ans, &ww, &wh);
	if (align(orig, ans, ww, wh, ti) < 0)
		return oom(name);
	return 0;
}

/* In place: box mean of radius r (clamped edges, exact counts). */
static int
box(struct plane *pl, int r)
{
	int w = pl->w, h = pl->h;
	float *t = malloc(sizeof(float) * (size_t)w * h);

	if (t == NULL)
		return -1;
	for (int y = 0; y < h; y++) {
		const float *in = pl->p + (size_t)y * w;
		for (int x = 0; x < w; x++) {
			double s = 0;
			int lo = x - r < 0 ? 0 : x - r, hi = x + r >= w ? w - 1 : x + r;
			for (int i = lo; i <= hi; i++)
				s += in[i];
			t[(size_t)y * w + x] = (float)(s / (hi - lo + 1));
		}
	}
	for (int x = 0; x < w; x++)
		for (int y = 0; y < h; y++) {
			double s = 0;
			int lo = y - r < 0 ? 0 : y - r, hi = y + r >= h ? h - 1 : y + r;
			for (int i = lo; i <= hi; i++)
				s += t[(size_t)i * w + x];
			pl->p[(size_t)y * w + x] = (float)(s / (hi - lo + 1));
		}
	free(t);
	return 0;
}

/* Local gain a of T over G, regularised toward 1, box-smoothed. */
static int
gain(const struct plane *g, const struct plane *t, int r, struct plane *a)
{
	struct plane m[4] = { { 0 } };
	size_t n = (size_t)g->w * g->h;
	int rc = -1;

	a->p = NULL;
	for (int i = 0; i < 4; i++)
		if (plane_alloc(&m[i], g->w, g->h) < 0)
			goto done;
	if (plane_alloc(a, g->w, g->h) < 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		m[0].p[i] = g->p[i];
		m[1].p[i] = t->p[i];
		m[2].p[i] = g->p[i] * t->p[i];
		m[3].p[i] = g->p[i] * g->p[i];
	}
	for (int i = 0; i < 4; i++)
		if (box(&m[i], r) < 0)
			goto done;
	for (size_t i = 0; i < n; i++) {
		float cov = m[2].p[i] - m[0].p[i] * m[1].p[i];
		float var = m[3].p[i] - m[0].p[i] * m[0].p[i];
		float v = (cov + GUIDE_EPS) / (fmaxf(var, 0) + GUIDE_EPS);
		a->p[i] = v < 0 ? 0 : v > 4 ? 4 : v;
	}
	rc = box(a, r);
done:
	for (int i = 0; i < 4; i++)
		plane_free(&m[i]);
	if (rc != 0)
		plane_free(a);
	return rc;
}

/* Bilinear row y of a plane sampled for an output of height oh, width ow:
 * vertical interpolation into row (pl->w floats), then horizontal via
 * the per-column tables. */
static void
up_row(const struct plane *pl, int y, int oh, const int *x0, const float *fx, int ow,
    float *tmp, float *row)
{
	double v = (y + 0.5) * pl->h / oh - 0.5;
	int y0 = (int)floor(v);
	float fy = (float)(v - y0);
	const float *r0 = pl->p + (size_t)clampi(y0, 0, pl->h - 1) * pl->w;
	const float *r1 = pl->p + (size_t)clampi(y0 + 1, 0, pl->h - 1) * pl->w;

	for (int x = 0; x < pl->w; x++)
		tmp[x] = r0[x] + fy * (r1[x] - r0[x]);
	for (int x = 0; x < ow; x++) {
		float a = tmp[clampi(x0[x], 0, pl->w - 1)], b = tmp[clampi(x0[x] + 1, 0, pl->w - 1)];
		row[x] = a + fx[x] * (b - a);
	}
}

int
transfer_apply(const char *name, const struct img *orig, const struct img *ans,
    int colour, struct img *out, struct transfer_info *ti)
{
	int alpha = orig->ch == 2 || orig->ch == 4;
	int cout = orig->ch >= 3 || (colour && ans->ch >= 3) ? 3 : 1;
	int ww, wh, r, rc = EX_OSERR, W = orig->w, H = orig->h;
	struct plane g = { 0 }, t = { 0 }, a = { 0 };
	int *x0 = NULL;
	float *fx = NULL, *tmp = NULL, *rt = NULL, *ra = NULL, *rg = NULL;

	memset(out, 0, sizeof *out);
	memset(ti, 0, sizeof *ti);
	work_size(orig, ans, &ww, &wh);
	if (align(orig, ans, ww, wh, ti) < 0)
		return oom(name);
	r = ww / 200 > 2 ? ww / 200 : 2;
	if ((rc = img_alloc(out, W, H, cout + alpha)) != 0)
		return rc;
	rc = EX_OSERR;
	x0 = malloc(sizeof(int) * (size_t)W);
	fx = malloc(sizeof(float) * (size_t)W);
	tmp = malloc(sizeof(float) * (size_t)ww);
	rt = malloc(sizeof(float) * (size_t)W);
	ra = malloc(sizeof(float) * (size_t)W);
	rg = malloc(sizeof(float) * (size_t)W);
	if (x0 == NULL || fx == NULL || tmp == NULL || rt == NULL || ra == NULL || rg == NULL)
		goto done;
	for (int x = 0; x < W; x++) {
		double u = (x + 0.5) * ww / W - 0.5;
		x0[x] = (int)floor(u);
		fx[x] = (float)(u - x0[x]);
	}
	for (int c = 0; c < cout; c++) {
		int sg = cout == 1 ? -1 : colour_sel(orig, c);   /* grey out: luma */
		int st = cout == 1 ? -1 : colour_sel(ans, c);
		if (plane_from_img(orig, sg, ww, wh, 0, 0, &g) < 0 ||
		    plane_from_img(ans, st, ww, wh, ti->dx, ti->dy, &t) < 0 ||
		    gain(&g, &t, r, &a) < 0)
			goto done;
		for (int y = 0; y < H; y++) {
			const uint8_t *in = orig->px + (size_t)y * W * orig->ch;
			uint8_t *o = out->px + (size_t)y * W * out->ch;
			up_row(&t, y, H, x0, fx, W, tmp, rt);
			up_row(&a, y, H, x0, fx, W, tmp, ra);
			up_row(&g, y, H, x0, fx, W, tmp, rg);
			for (int x = 0; x < W; x++) {
				float v = rt[x] + ra[x] * (pixel(orig, in + (size_t)x * orig->ch, sg) - rg[x]);
				o[(size_t)x * out->ch + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lrintf(v));
			}
		}
		plane_free(&g);
		plane_free(&t);
		plane_free(&a);
	}
	if (alpha)
		for (size_t i = 0; i < (size_t)W * H; i++)
			out->px[i * out->ch + cout] = orig->px[i * orig->ch + orig->ch - 1];
	rc = img_copy_meta(out, orig);
	goto out;
done:
	oom(name);
out:
	if (rc != 0)
		img_free(out);
	plane_free(&g);
	plane_free(&t);
	plane_free(&a);
	free(x0);
	free(fx);
	free(tmp);
	free(rt);
	free(ra);
	free(rg);
	return rc;
}

int
transfer_resize(const char *name, const struct img *src, int w, int h, struct img *dst)
{
	struct plane p = { 0 };
	int rc;

	memset(dst, 0, sizeof *dst);
	if ((rc = img_alloc(dst, w, h, src->ch)) != 0)
		return rc;
	for (int c = 0; c < src->ch; c++) {
		if (plane_from_img(src, c, w, h, 0, 0, &p) < 0) {
			img_free(dst);
			return oom(name);
		}
		for (size_t i = 0; i < (size_t)w * h; i++) {
			float v = p.p[i];
			dst->px[i * src->ch + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lrintf(v));
		}
		plane_free(&p);
	}
	return img_copy_meta(dst, src);
}
