/* restore_ops.c: the filters of the local engine, each on one band.
 *
 * A band holds float planes (RGB or gray, 0..255) of a strip of the image
 * plus margin rows; a filter may convert to its own colour space but must
 * leave RGB. Band edges are mirrored, which is exact at the image's edges
 * and, inside the image, lands in margin rows nobody keeps
 * (flt_margin says how many each filter needs).
 *
 * denoise   non-local means (Buades, Coll, Morel) in an orthonormal
 *           opponent space, so independent RGB noise stays independent
 *           and of equal variance; one patch distance over all planes,
 *           each normalised by its own noise variance; the max(d²-2σ², 0)
 *           form lets patches that differ only by noise count fully.
 *           Noise of variance a x + b goes through the generalised
 *           Anscombe transform first (one variance at every level);
 *           chroma blotches, which the means cannot average, are taken
 *           out before by chroma_wiener(); the white chroma noise the
 *           means leave, after. Then the second step of BM3D
 *           without its block matching: an empirical Wiener filter in
 *           overlapping 8x8 DCT blocks, the means' result as the pilot
 *           that sets each coefficient's gain (+0.6 to +0.8 dB over the
 *           means alone on bench/quality's noise families).
 * deblock   in JPEG's YCbCr: luma's small DCT coefficients cut on every
 *           shifted 8x8 grid and the results averaged (re-application of
 *           JPEG, Nosratinia, softened), then each 8x8 block's DCT put back
 *           into the quantisation interval of the decoded coefficients
 *           (so the result stays a valid decoding of the same file), a
 *           non-local means and the projection again (with the file's own
 *           table: kept coefficients within a quarter step of their
 *           stored value, stronger means, each block's strength from
 *           the steps of the coefficients it kept); chroma requantised and
 *           projected likewise at its stored size (halved for 4:2:0, the
 *           change brought back bilinearly), then twice the guided filter
 *           with the luma as guide (its edges come back where the luma
 *           has them) and the projection.
 * descratch thin bright/dark lines and specks: the luma's residual from a
 *           7x7 median, thresholds scaled by the local residual level
 *           (texture raises them), no more colourful than the sides
 *           (less strictly where a JPEG kept its chroma at half size),
 *           hysteresis; lines whose profile across
 *           says they belong to the scene, or that have more of a line
 *           of the scene beside them (profile_test), are let go;
 *           flagged pixels only are filled with the median of unflagged
 *           pixels nearby.
 * levels    a linear stretch of black..white to 0..255 (or to a narrower
 *           range about mid-grey, the plan's span) and a saturation
 *           gain; white_balance per-channel gains. Both pointwise.
 * deblur    Richardson–Lucy with a Gaussian PSF, each correction applied
 *           squared (an accelerated form: half the iterations), on the
 *           picture halved for a wide blur (lucy_half), the result
 *           clamped to the local range of the input so edges get no halos;
 *           under a streak (motion) or a disk (defocus) read by psf.c,
 *           the same with that kernel's taps (lucy_taps).
 * upscale   bicubic, then back-projection: the estimate's box-downscale
 *           is compared with the input and the error fed back. */
/* The filters' inner loops are plain float arithmetic over rows, which
 * GCC vectorises only at -O3; the rest of rs stays at the Makefile's -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
/* The hottest loops (the means, the box and Gaussian sums) are built
 * twice on x86-64, for AVX2 (8 floats a step) and the baseline SSE2 (4),
 * and the loader picks one for the CPU. The loops are element by element
 * (no sum reordered, no FMA: -std=c11 contracts nothing), so both give
 * the same bytes. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define WIDE __attribute__((target_clones("avx2", "default")))
#else
#define WIDE
#endif
#include <math.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "profile.h"
#include "restore.h"
#include "restore_int.h"

static int
refl(int i, int n)
{
	while (i < 0 || i >= n)
		i = i < 0 ? -i - 1 : 2 * n - i - 1;
	return i;
}

/* row[0 .. w+2r) = s[-r .. w+r), mirrored at the ends */
static void
mirror_row(const float *s, int w, int r, float *row)
{
	memcpy(row + r, s, sizeof(float) * (size_t)w);
	for (int x = 1; x <= r; x++) {
		row[r - x] = s[refl(-x, w)];
		row[r + w - 1 + x] = s[refl(w - 1 + x, w)];
	}
}

static float
clampf(float v, float lo, float hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* ---- colour spaces (in place) ---- */

#define S3 0.57735026918962576f   /* 1/sqrt(3) */
#define S2 0.70710678118654752f   /* 1/sqrt(2) */
#define S6 0.40824829046386302f   /* 1/sqrt(6) */

static void
rgb_to_opp(struct band *b)
{
	size_t n = (size_t)b->w * (size_t)b->h;
	for (size_t i = 0; i < n; i++) {
		float r = b->p[0][i], g = b->p[1][i], bl = b->p[2][i];
		b->p[0][i] = (r + g + bl) * S3;
		b->p[1][i] = (r - bl) * S2;
		b->p[2][i] = (r - 2 * g + bl) * S6;
	}
}

static void
opp_to_rgb(struct band *b)
{
	size_t n = (size_t)b->w * (size_t)b->h;
	for (size_t i = 0; i < n; i++) {
		float y = b->p[0][i] * S3, c1 = b->p[1][i] * S2, c2 = b->p[2][i] * S6;
		b->p[0][i] = y + c1 + c2;
		b->p[1][i] = y - 2 * c2;
		b->p[2][i] = y - c1 + c2;
	}
}

static void
rgb_to_ycc(struct band *b)
{
	size_t n = (size_t)b->w * (size_t)b->h;
	for (size_t i = 0; i < n; i++) {
		float r = b->p[0][i], g = b->p[1][i], bl = b->p[2][i];
		b->p[0][i] = 0.299f * r + 0.587f * g + 0.114f * bl;
		b->p[1][i] = -0.168736f * r - 0.331264f * g + 0.5f * bl;
		b->p[2][i] = 0.5f * r - 0.418688f * g - 0.081312f * bl;
	}
}

static void
ycc_to_rgb(struct band *b)
{
	size_t n = (size_t)b->w * (size_t)b->h;
	for (size_t i = 0; i < n; i++) {
		float y = b->p[0][i], cb = b->p[1][i], cr = b->p[2][i];
		b->p[0][i] = y + 1.402f * cr;
		b->p[1][i] = y - 0.344136f * cb - 0.714136f * cr;
		b->p[2][i] = y + 1.772f * cb;
	}
}

static void box_mean(const float *in, float *out, float *tmp, int w, int h, int r);
static void dct_matrix(float c[8][8]);

/* ---- non-local means ---- */

/* The inner loops of nlm(), apart so that restrict tells GCC the rows
 * never overlap (it vectorises them then). */
static inline void
nlm_dist(float *restrict d, const float *restrict a, const float *restrict c, float s, int n)
{
	for (int x = 0; x < n; x++) {
		float t = a[x] - c[x];
		d[x] += t * t * s;
	}
}

/* nlm_dist with each pixel pair's difference scaled by the mean of
 * their scales ma, mc */
static inline void
nlm_dist_scaled(float *restrict d, const float *restrict a, const float *restrict c,
    const float *restrict ma, const float *restrict mc, float s, int n)
{
	for (int x = 0; x < n; x++) {
		float t = a[x] - c[x];
		d[x] += t * t * s * (ma[x] + mc[x]);
	}
}

/* h = d summed over 2pr+1 neighbours across, term by term (not a
 * running sum: it vectorises) */
static inline void
nlm_hsum(float *restrict h, const float *restrict d, int pr, int n)
{
	for (int x = 0; x < n; x++)
		h[x] = d[x];
	for (int i = 1; i <= 2 * pr; i++)
		for (int x = 0; x < n; x++)
			h[x] += d[x + i];
}

/* the patch distance s = S + h (S: the running sum down the rows, sub
 * its row leaving) to a weight: exp(-t) as (1 - t/8)^8, close enough */
static inline void
nlm_weight(float *restrict g, float *restrict S, const float *restrict h,
    const float *restrict sub, float ih2, int n)
{
	for (int x = 0; x < n; x++) {
		float s = S[x] + h[x];
		S[x] = s - sub[x];
		float t = (s - 2.0f) * ih2;
		/* max(v, 0) as (v + |v|) / 2, exact, without a branch */
		float u = 1.0f - 0.5f * (t + fabsf(t)) * 0.125f;
		u = 0.5f * (u + fabsf(u));
		u *= u;
		u *= u;
		g[x] = u * u;
	}
}

/* a += g1 s1 + g2 s2 (the weights alone without s1, s2) */
static inline void
nlm_add(float *restrict a, const float *restrict g1, const float *restrict s1,
    const float *restrict g2, const float *restrict s2, int n)
{
	if (s1 == NULL)
		for (int x = 0; x < n; x++)
			a[x] += g1[x] + g2[x];
	else
		for (int x = 0; x < n; x++)
			a[x] += g1[x] * s1[x] + g2[x] * s2[x];
}

/* Filter the core rows of planes from..np-1 in place, the patch distance
 * taken over planes 0..nd-1. var[k]: noise variance of plane k; sr:
 * search radius; pr: patch radius; hf: h over sigma; vm: NULL, or a
 * scale per pixel of the band (w x h) for the squared differences
 * (each pixel pair's mean: the noise variance var[k] over the local
 * one).
 * The weight of a pair of pixels is symmetric, so each offset d and its
 * opposite share one pass: the weights are computed on a grid a little
 * larger than the core (p and p-d both), and each feeds both pixels. */
WIDE static int
nlm(struct band *b, int np, int nd, int from, float *pl[], const float var[], int sr,
    int pr, float hf, const float *vm)
{
	int w = b->w, R = b->c1 - b->c0, Py = sr + pr, Px = 2 * sr + pr;
	int pw = w + 2 * Px, ph = R + 2 * Py, gw = w + 2 * sr, gh = R + sr;
	int dw = gw + 2 * pr, dh = gh + 2 * pr, np2 = (2 * pr + 1) * (2 * pr + 1);
	int HR = 2 * pr + 1, GR = sr + 1;
	float *pad[3] = { NULL }, *acc[3] = { NULL }, *D = NULL, *H = NULL, *S = NULL,
	    *W = NULL, *G = NULL, *pv = NULL, inv[3] = { 0 }, ih2 = 1.0f / (hf * hf);
	int rc = EX_OSERR;

	if (R <= 0)
		return 0;
	for (int k = 0; k < np; k++) {
		if ((pad[k] = malloc(sizeof(float) * (size_t)pw * (size_t)ph)) == NULL ||
		    (k >= from && (acc[k] = malloc(sizeof(float) * (size_t)w * (size_t)R)) == NULL))
			goto out;
		for (int y = 0; y < ph; y++) {
			const float *src = pl[k] + (size_t)refl(b->c0 - Py + y, b->h) * (size_t)w;
			mirror_row(src, w, Px, pad[k] + (size_t)y * (size_t)pw);
		}
		for (int y = 0; y < R && k >= from; y++)  /* the pixel itself, weight 1 */
			memcpy(acc[k] + (size_t)y * w, pad[k] + (size_t)(y + Py) * pw + Px,
			    sizeof(float) * (size_t)w);
		if (k < nd)
			inv[k] = 1.0f / (var[k] * (float)np2 * (float)nd);
	}
	if ((D = malloc(sizeof(float) * (size_t)dw)) == NULL ||
	    (H = malloc(sizeof(float) * (size_t)gw * (size_t)HR)) == NULL ||
	    (S = malloc(sizeof(float) * (size_t)gw)) == NULL ||
	    (G = malloc(sizeof(float) * (size_t)gw * (size_t)GR)) == NULL ||
	    (W = malloc(sizeof(float) * (size_t)w * (size_t)R)) == NULL)
		goto out;
	if (vm != NULL) {
		if ((pv = malloc(sizeof(float) * (size_t)pw * (size_t)ph)) == NULL)
			goto out;
		for (int y = 0; y < ph; y++)
			mirror_row(vm + (size_t)refl(b->c0 - Py + y, b->h) * (size_t)w, w, Px,
			    pv + (size_t)y * (size_t)pw);
	}
	for (size_t i = 0; i < (size_t)w * R; i++)
		W[i] = 1;
	for (int dy = 0; dy <= sr; dy++)
		for (int dx = dy == 0 ? 1 : -sr; dx <= sr; dx++) {
			/* one pass down the rows: row hy of the squared differences
			 * (normalised) summed across into H, H down into the weight
			 * row gy = hy - 2pr of G, which the output row gy - sr
			 * uses (with row gy - dy). H keeps its last 2pr+1 rows, G
			 * its last sr+1: all stays in the cache */
			for (int x = 0; x < gw; x++)
				S[x] = 0;
			for (int hy = 0; hy < dh; hy++) {
				float *h = H + (size_t)(hy % HR) * (size_t)gw;
				for (int x = 0; x < dw; x++)
					D[x] = 0;
				for (int k = 0; k < nd; k++) {
					const float *a = pad[k] + (size_t)hy * (size_t)pw + sr;
					if (pv != NULL) {
						const float *ma = pv + (size_t)hy * (size_t)pw + sr;
						nlm_dist_scaled(D, a, a + (ptrdiff_t)dy * pw + dx, ma,
						    ma + (ptrdiff_t)dy * pw + dx, 0.5f * inv[k], dw);
					} else
						nlm_dist(D, a, a + (ptrdiff_t)dy * pw + dx, inv[k], dw);
				}
				nlm_hsum(h, D, pr, gw);
				int gy = hy - 2 * pr;
				if (gy < 0) {
					for (int x = 0; x < gw; x++)
						S[x] += h[x];
					continue;
				}
				const float *sub = H + (size_t)(gy % HR) * (size_t)gw;
				float *g = G + (size_t)(gy % GR) * (size_t)gw;
				nlm_weight(g, S, h, sub, ih2, gw);
				/* p gets p+d with G(p); q gets q-d with G(q-d) */
				int y = gy - sr;
				if (y < 0)
					continue;
				const float *g1 = g + sr;
				const float *g2 = G + (size_t)((gy - dy) % GR) * gw + sr - dx;
				nlm_add(W + (size_t)y * (size_t)w, g1, NULL, g2, NULL, w);
				for (int k = from; k < np; k++)
					nlm_add(acc[k] + (size_t)y * (size_t)w,
					    g1, pad[k] + (size_t)(y + Py + dy) * pw + Px + dx,
					    g2, pad[k] + (size_t)(y + Py - dy) * pw + Px - dx, w);
			}
		}
	for (int k = from; k < np; k++)
		for (int y = 0; y < R; y++) {
			float *d = pl[k] + (size_t)(b->c0 + y) * (size_t)w;
			const float *a = acc[k] + (size_t)y * (size_t)w, *wr = W + (size_t)y * (size_t)w;
			for (int x = 0; x < w; x++)
				d[x] = a[x] / wr[x];
		}
	rc = 0;
out:
	for (int k = 0; k < 3; k++) {
		free(pad[k]);
		free(acc[k]);
	}
	free(D);
	free(H);
	free(S);
	free(G);
	free(W);
	free(pv);
	return rc;
}

/* nlm() on rows [a, z) of all planes, in two calls of half the rows each
 * (half the buffers: the rows the Wiener step adds would otherwise raise
 * a strip's peak memory by a third). Each call reads the unfiltered rows
 * within the reach (sr + pr) of its own, so the other's result for
 * those rows is set aside while it runs: the same result as one call. */
static int
nlm_halves(struct band *b, const float var[], int sr, int pr, float hf, int a, int z)
{
	int c0 = b->c0, c1 = b->c1, m = a + (z - a) / 2, r = sr + pr, rc;
	int k1 = m + r < z ? m + r : z, w = b->w, nc = b->nc;
	size_t rn = (size_t)w * (size_t)(k1 - m);
	float *keep = malloc(sizeof(float) * (rn * (size_t)nc + 1));

	if (keep == NULL)
		return EX_OSERR;
	for (int k = 0; k < nc; k++)        /* rows [m, k1) as they are */
		memcpy(keep + rn * k, b->p[k] + (size_t)m * w, sizeof(float) * rn);
	b->c0 = m;
	b->c1 = z;
	rc = nlm(b, nc, nc, 0, b->p, var, sr, pr, hf, NULL);
	for (int k = 0; k < nc && rc == 0; k++)   /* swap: unfiltered back */
		for (size_t i = 0; i < rn; i++) {
			float *q = b->p[k] + (size_t)m * w + i, t = *q;
			*q = keep[rn * k + i];
			keep[rn * k + i] = t;
		}
	b->c0 = a;
	b->c1 = m;
	if (rc == 0)
		rc = nlm(b, nc, nc, 0, b->p, var, sr, pr, hf, NULL);
	for (int k = 0; k < nc && rc == 0; k++)
		memcpy(b->p[k] + (size_t)m * w, keep + rn * k, sizeof(float) * rn);
	b->c0 = c0;
	b->c1 = c1;
	free(keep);
	return rc;
}

/* The second step of BM3D (Dabov et al.) without the block matching: an
 * empirical Wiener filter in 8x8 DCT blocks on a grid of the given step,
 * its gains P^2 / (P^2 + var) taken from the pilot's coefficients P (the
 * means' result, in b->p) and applied to the noisy block's (y[k], whose
 * row 0 is band row yoff); the
 * blocks overlapping, each pixel gets the average of its blocks weighted
 * by 1 / (var sum g^2), the inverse of the block's residual noise. Rows
 * [r0, r1) of b->p are rewritten; blocks reach 7 rows beyond them, which
 * the pilot must have right. */
static int
wiener_dct(struct band *b, float *const y[], int yoff, const float var[], int k0, int k1,
    int step, int r0, int r1)
{
	int w = b->w, h = b->h;
	float dc[8][8], P[64], Y[64], A[64];
	size_t n = (size_t)w * (size_t)(r1 - r0);
	float *buf, *acc, *wsum, *vp, *vy, *t, *wrow;

	if (w < 8 || h < 8 || r1 <= r0)
		return 0;
	if ((buf = malloc(sizeof(float) * (2 * n + 25 * (size_t)w))) == NULL)
		return EX_OSERR;
	acc = buf;
	wsum = acc + n;
	vp = wsum + n;                  /* the block row's column DCTs */
	vy = vp + 8 * (size_t)w;
	t = vy + 8 * (size_t)w;         /* its blocks' row inverses, summed */
	wrow = t + 8 * (size_t)w;
	dct_matrix(dc);
	/* block rows on the image's grid (every step-th row from its top,
	 * and its last 8 rows), so a row sees the blocks it would see in
	 * one whole band: no seams between strips */
	int ylo = r0 - 7 > 0 ? r0 - 7 : 0, yhi = r1 - 1 < h - 8 ? r1 - 1 : h - 8;
	int last = b->y0 + h == b->img_h ? h - 8 : -1;
	ylo += ((-(b->y0 + ylo)) % step + step) % step;
	for (int k = k0; k < k1; k++) {
		float *p = b->p[k];
		const float *q = y[k];
		float vk = var[k];
		memset(acc, 0, sizeof(float) * n);
		memset(wsum, 0, sizeof(float) * n);
		for (int by = ylo; by <= yhi;
		    by = by + step <= yhi ? by + step : by < last ? last : yhi + 1) {
			/* columns: an 8-point DCT down each, for the whole row */
			for (int v = 0; v < 8; v++) {
				float *op = vp + (size_t)v * w, *oy = vy + (size_t)v * w;
				memset(op, 0, sizeof(float) * (size_t)w);
				memset(oy, 0, sizeof(float) * (size_t)w);
				for (int i = 0; i < 8; i++) {
					float c = dc[v][i];
					const float *sp = p + (size_t)(by + i) * w;
					const float *sy = q + (size_t)(by + i - yoff) * w;
					for (int x = 0; x < w; x++) {
						op[x] += c * sp[x];
						oy[x] += c * sy[x];
					}
				}
			}
			memset(t, 0, sizeof(float) * 8 * (size_t)w);
			memset(wrow, 0, sizeof(float) * (size_t)w);
			for (int bx = 0; bx <= w - 8; bx = bx < w - 8 && bx + step > w - 8 ? w - 8 : bx + step) {
				for (int v = 0; v < 8; v++) {
					const float *rp = vp + (size_t)v * w + bx, *ry = vy + (size_t)v * w + bx;
					for (int u = 0; u < 8; u++) {
						float sp = 0, sy = 0;
						for (int j = 0; j < 8; j++) {
							sp += dc[u][j] * rp[j];
							sy += dc[u][j] * ry[j];
						}
						P[v * 8 + u] = sp;
						Y[v * 8 + u] = sy;
					}
				}
				float g2 = 0;
				for (int i = 0; i < 64; i++) {
					float pp = P[i] * P[i], g = pp / (pp + vk);
					Y[i] *= g;
					g2 += g * g;
				}
				float wt = 1.0f / (g2 > 1e-3f ? g2 : 1e-3f);
				for (int v = 0; v < 8; v++)
					for (int j = 0; j < 8; j++) {
						float s = 0;
						for (int u = 0; u < 8; u++)
							s += dc[u][j] * Y[v * 8 + u];
						A[v * 8 + j] = s;
					}
				for (int v = 0; v < 8; v++) {
					float *tr = t + (size_t)v * w + bx;
					for (int j = 0; j < 8; j++)
						tr[j] += wt * A[v * 8 + j];
				}
				for (int j = 0; j < 8; j++)
					wrow[bx + j] += wt;
				if (bx == w - 8)
					break;
			}
			/* the rows: the columns' inverse, added to the output */
			for (int i = 0; i < 8; i++) {
				int yy = by + i - r0;
				if (yy < 0 || yy >= r1 - r0)
					continue;
				float *ar = acc + (size_t)yy * w, *wr = wsum + (size_t)yy * w;
				for (int v = 0; v < 8; v++) {
					float c = dc[v][i];
					const float *tr = t + (size_t)v * w;
					for (int x = 0; x < w; x++)
						ar[x] += c * tr[x];
				}
				for (int x = 0; x < w; x++)
					wr[x] += wrow[x];
			}
		}
		for (size_t i = 0; i < n; i++)
			if (wsum[i] > 0)
				p[(size_t)r0 * w + i] = acc[i] / wsum[i];
	}
	free(buf);
	return 0;
}

/* NLM settings for noise sigma s (8-bit scale). */
static void
nlm_params(float s, int *sr, int *pr, float *hf)
{
	(void)s;        /* tuned on bench/: from sigma 10 to 30 the same do */
	*pr = 1;
	*sr = 3;
	*hf = 1.1f;
}

/* Chroma blotches: in YCbCr, each chroma plane's local linear fit to
 * the luma over (2r+1)^2 windows (the guided filter), and of what the
 * fit leaves, only the part whose local variance stands above the
 * noise's (a Wiener gain): edges the luma shares are kept by the fit,
 * chroma detail of its own by the gain (none with cvar infinite: the
 * guided filter alone). Rows within 3r of the band's ends are spoilt. */
static int
chroma_wiener(struct band *b, int r, float cvar, float eps)
{
	size_t n = (size_t)b->w * (size_t)b->h;
	float *buf = malloc(sizeof(float) * n * 7);
	if (buf == NULL)
		return EX_OSERR;
	float *mI = buf, *vI = buf + n, *t = buf + 2 * n, *mp = buf + 3 * n,
	    *ma = buf + 4 * n, *mb = buf + 5 * n, *q = buf + 6 * n;
	const float *I = b->p[0];

	box_mean(I, mI, t, b->w, b->h, r);
	for (size_t i = 0; i < n; i++)
		ma[i] = I[i] * I[i];
	box_mean(ma, vI, t, b->w, b->h, r);
	for (size_t i = 0; i < n; i++)
		vI[i] -= mI[i] * mI[i];
	for (int c = 1; c <= 2; c++) {
		float *p = b->p[c];
		box_mean(p, mp, t, b->w, b->h, r);
		for (size_t i = 0; i < n; i++)
			mb[i] = I[i] * p[i];
		box_mean(mb, ma, t, b->w, b->h, r);   /* ma: mean(I p) */
		for (size_t i = 0; i < n; i++) {
			float a = (ma[i] - mI[i] * mp[i]) / (vI[i] + eps);
			ma[i] = a;
			mb[i] = mp[i] - a * mI[i];
		}
		box_mean(ma, mp, t, b->w, b->h, r);   /* mp: mean a */
		box_mean(mb, ma, t, b->w, b->h, r);   /* ma: mean b */
		if (isinf(cvar)) {            /* the fit alone: guided_chroma */
			for (size_t i = 0; i < n; i++)
				p[i] = mp[i] * I[i] + ma[i];
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			q[i] = mp[i] * I[i] + ma[i];
			float d = p[i] - q[i];
			mb[i] = d * d;
		}
		box_mean(mb, mp, t, b->w, b->h, r);   /* mp: residual variance */
		for (size_t i = 0; i < n; i++) {
			float v = mp[i], g = v > cvar ? (v - cvar) / v : 0;
			p[i] = q[i] + g * (p[i] - q[i]);
		}
	}
	free(buf);
	return 0;
}

/* chroma blotches: window radius, the guide's regularisation, est_chroma's
 * reading to the blotches' sigma (it reads about 0.6 of it; a little
 * more smoothing than that paid on bench/quality's colour noise), and
 * the reading below which there are no blotches to speak of */
#define CW_R   4
#define CW_EPS 25.0f
#define CW_K   2.0f
#define CW_MIN 2.5f
#define CW_LEFT 0.6f
/* the level function is followed where the variance at mid-grey stands
 * this far above its floor b (a slope fitted to texture, as on a faded
 * old photo, stays under it) */
#define VST_MIN 0.6f
/* the Wiener step: blocks every 2 pixels on the luma (every 4 on the
 * chroma planes, which gain as much from half the blocks: bench/quality,
 * noise families, +0.01 dB), reaching 8 rows beyond the rows they
 * write. The margin flt_denoise needs: 3 CW_R rows for the chroma
 * filter after, WN_REACH for the blocks and 4 for the means (or the
 * blotch filter's 3 CW_R before the means instead of the one after) */
#define WN_STEP   2
#define WN_STEP_C 4
#define WN_REACH  8
/* above WN_BIG pixels the 12 MP chain stays within ImageMagick's
 * -despeckle time (CPU 6.1 s against 6.8): blocks every WN_STEP_BIG
 * pixels (twice that on chroma) and no chroma filter after the means
 * (bench/quality's noise families when forced: +0.5 dB over the means
 * alone where the full step gains +0.75) */
#define WN_BIG    4e6
#define WN_STEP_BIG 3

int
flt_denoise(const struct step *st, struct band *b)
{
	float var[3], smax = 0, s2 = 0;
	int sr, pr, rc, vst;
	float hf, sref = 0, ia = 0, sb = 0;

	for (int k = 0; k < b->nc; k++) {
		smax = st->nsig[k] > smax ? st->nsig[k] : smax;
		s2 += st->nsig[k] * st->nsig[k];
	}
	/* blotches: Immerkaer's residual reads white chroma noise a little
	 * above est_chroma, blotches well below it */
	int blot = b->nc == 3 && st->csig >= CW_MIN &&
	    st->csig > 1.2f * 0.5f * (st->nsig[1] + st->nsig[2]);
	if (smax < 0.3f && !blot)
		return 0;
	if (blot) {
		rgb_to_ycc(b);
		rc = chroma_wiener(b, CW_R, CW_K * CW_K * st->csig * st->csig, CW_EPS);
		ycc_to_rgb(b);
		if (rc != 0)
			return rc;
		if (smax < 0.3f)
			return 0;
	}
	s2 = sqrtf(s2 / (float)b->nc);                 /* RGB-scale sigma */
	vst = st->nla > 0 && st->nla * 128 > VST_MIN * st->nlb;
	if (vst) {
		/* the generalised Anscombe transform: noise of variance
		 * a x + b becomes sref^2 wherever x is */
		sref = sqrtf(st->nla * 128 + st->nlb);
		ia = 2 * sref / st->nla;
		sb = sqrtf(st->nlb);
		size_t n = (size_t)b->w * (size_t)b->h;
		for (int k = 0; k < b->nc; k++)
			for (size_t i = 0; i < n; i++) {
				float x = st->nla * b->p[k][i] + st->nlb;
				b->p[k][i] = ia * (sqrtf(x > 0 ? x : 0) - sb);
			}
	}
	for (int k = 0; k < b->nc; k++) {
		float s = st->nsig[k] > 0.25f * smax ? st->nsig[k] : 0.25f * smax;
		if (vst)
			s = sref * s / s2;
		var[k] = s * s;
	}
	nlm_params(st->sigma > 0 ? st->sigma : smax, &sr, &pr, &hf);
	if (b->nc == 3)
		rgb_to_opp(b);
	/* the Wiener filter on the core and the rows the chroma filter
	 * after it reads (its three box means reach 3 CW_R rows), the means
	 * on those and the rows the Wiener blocks reach beyond them (all
	 * within the margin), so every core row gets what it would get in
	 * one whole band. Above WN_BIG pixels, the cheaper form. */
	float *noisy[3] = { NULL };
	int big = (double)b->w * b->img_h > WN_BIG;
	int c0 = b->c0, c1 = b->c1, e = b->nc == 3 && !blot && !big ? 3 * CW_R : 0;
	int r0 = c0 - e > 0 ? c0 - e : 0, r1 = c1 + e < b->h ? c1 + e : b->h;
	/* the noisy rows the Wiener blocks read */
	int y0 = r0 - 7 > 0 ? r0 - 7 : 0, y1 = r1 + 7 < b->h ? r1 + 7 : b->h;
	size_t ny = (size_t)b->w * (size_t)(y1 - y0);
	for (int k = 0; k < b->nc; k++) {
		if ((noisy[k] = malloc(sizeof(float) * ny)) == NULL) {
			for (int j = 0; j < k; j++)
				free(noisy[j]);
			return EX_OSERR;
		}
		memcpy(noisy[k], b->p[k] + (size_t)y0 * b->w, sizeof(float) * ny);
	}
	rc = nlm_halves(b, var, sr, pr, hf, r0 - WN_REACH > 0 ? r0 - WN_REACH : 0,
	    r1 + WN_REACH < b->h ? r1 + WN_REACH : b->h);
	if (rc == 0)
		rc = wiener_dct(b, noisy, y0, var, 0, 1, big ? WN_STEP_BIG : WN_STEP, r0, r1);
	if (rc == 0 && b->nc == 3)
		rc = wiener_dct(b, noisy, y0, var, 1, 3, big ? 2 * WN_STEP_BIG : WN_STEP_C, r0, r1);
	for (int k = 0; k < b->nc; k++)
		free(noisy[k]);
	if (b->nc == 3)
		opp_to_rgb(b);

	if (vst) {
		size_t n = (size_t)b->w * (size_t)b->h;
		for (int k = 0; k < b->nc; k++)
			for (size_t i = 0; i < n; i++) {
				float u = b->p[k][i] / ia + sb;
				b->p[k][i] = (u * u - st->nlb) / st->nla;
			}
	}
	/* white chroma noise the means left: about 0.6 of its sigma by
	 * bench/quality (Cb and Cr carry 0.4 of an opponent plane's
	 * variance) */
	if (rc == 0 && b->nc == 3 && !blot && !big) {
		float cv = 0.5f * (st->nsig[1] * st->nsig[1] + st->nsig[2] * st->nsig[2]) *
		    0.4f * CW_LEFT * CW_LEFT;
		rgb_to_ycc(b);
		rc = chroma_wiener(b, CW_R, cv, CW_EPS);
		ycc_to_rgb(b);
	}
	return rc;
}

/* ---- JPEG deblocking ---- */

/* The orthonormal 8x8 DCT (what JPEG uses) by the Arai-Agui-Nakajima
 * butterflies of libjpeg's jfdctflt.c and jidctflt.c: 5 multiplications
 * per 8 points where the matrix form takes 64. The butterflies give
 * each coefficient (u, v) scaled by s(u) s(v), s(0) = 2 sqrt 2, s(k) =
 * 4 cos(k pi / 16); fs and is undo and redo that. Each pass runs over
 * the 8 columns at once (GCC vectorises it), rows after a transposition. */
struct dct {
	float fs[64], is[64];
};

/* c[u][x] = a(u)/2 cos((2x+1)uπ/16): the orthonormal DCT as a matrix
 * (wiener_dct() runs it down columns shared by overlapping blocks) */
static void
dct_matrix(float c[8][8])
{
	for (int u = 0; u < 8; u++)
		for (int x = 0; x < 8; x++)
			c[u][x] = (u == 0 ? 0.35355339f : 0.5f) *
			    (float)cos((2 * x + 1) * u * M_PI / 16);
}

static void
dct_init(struct dct *d)
{
	float s[8];

	for (int k = 0; k < 8; k++)
		s[k] = k == 0 ? 2.82842712f : 4 * (float)cos(k * M_PI / 16);
	for (int v = 0; v < 8; v++)
		for (int u = 0; u < 8; u++) {
			d->fs[v * 8 + u] = 1 / (s[v] * s[u]);
			d->is[v * 8 + u] = s[v] * s[u] / 64;
		}
}

/* forward, scaled, along the columns of p (p[k * 8 + j]: point k of column j) */
static void
fdct_cols(float p[64])
{
	for (int j = 0; j < 8; j++) {
		float t0 = p[j] + p[56 + j], t7 = p[j] - p[56 + j];
		float t1 = p[8 + j] + p[48 + j], t6 = p[8 + j] - p[48 + j];
		float t2 = p[16 + j] + p[40 + j], t5 = p[16 + j] - p[40 + j];
		float t3 = p[24 + j] + p[32 + j], t4 = p[24 + j] - p[32 + j];
		float t10 = t0 + t3, t13 = t0 - t3, t11 = t1 + t2, t12 = t1 - t2;
		float z1 = (t12 + t13) * 0.707106781f;
		p[j] = t10 + t11;
		p[32 + j] = t10 - t11;
		p[16 + j] = t13 + z1;
		p[48 + j] = t13 - z1;
		t10 = t4 + t5;
		t11 = t5 + t6;
		t12 = t6 + t7;
		float z5 = (t10 - t12) * 0.382683433f;
		float z2 = 0.541196100f * t10 + z5, z4 = 1.306562965f * t12 + z5;
		float z3 = t11 * 0.707106781f, z11 = t7 + z3, z13 = t7 - z3;
		p[40 + j] = z13 + z2;
		p[24 + j] = z13 - z2;
		p[8 + j] = z11 + z4;
		p[56 + j] = z11 - z4;
	}
}

/* inverse of fdct_cols (its input scaled) */
static void
idct_cols(float p[64])
{
	for (int j = 0; j < 8; j++) {
		float t0 = p[j], t1 = p[16 + j], t2 = p[32 + j], t3 = p[48 + j];
		float t10 = t0 + t2, t11 = t0 - t2, t13 = t1 + t3;
		float t12 = (t1 - t3) * 1.414213562f - t13;
		t0 = t10 + t13;
		t3 = t10 - t13;
		t1 = t11 + t12;
		t2 = t11 - t12;
		float t4 = p[8 + j], t5 = p[24 + j], t6 = p[40 + j], t7 = p[56 + j];
		float z13 = t6 + t5, z10 = t6 - t5, z11 = t4 + t7, z12 = t4 - t7;
		float z5 = (z10 + z12) * 1.847759065f;
		t7 = z11 + z13;
		t11 = (z11 - z13) * 1.414213562f;
		t10 = 1.082392200f * z12 - z5;
		t12 = -2.613125930f * z10 + z5;
		t6 = t12 - t7;
		t5 = t11 - t6;
		t4 = t10 + t5;
		p[j] = t0 + t7;
		p[56 + j] = t0 - t7;
		p[8 + j] = t1 + t6;
		p[48 + j] = t1 - t6;
		p[16 + j] = t2 + t5;
		p[40 + j] = t2 - t5;
		p[32 + j] = t3 + t4;
		p[24 + j] = t3 - t4;
	}
}

static void
transpose8(const float a[64], float b[64])
{
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 8; j++)
			b[j * 8 + i] = a[i * 8 + j];
}

/* out[v * 8 + u]: coefficient u across, v down, of the block in */
static void
fdct8(const struct dct *d, const float in[64], float out[64])
{
	float t[64];

	memcpy(t, in, sizeof t);
	fdct_cols(t);
	transpose8(t, out);
	fdct_cols(out);
	transpose8(out, t);
	for (int k = 0; k < 64; k++)
		out[k] = t[k] * d->fs[k];
}

static void
idct8(const struct dct *d, const float in[64], float out[64])
{
	float t[64];

	for (int k = 0; k < 64; k++)
		t[k] = in[k] * d->is[k];
	idct_cols(t);
	transpose8(t, out);
	idct_cols(out);
	transpose8(out, t);
	memcpy(out, t, sizeof t);
}

/* Put each whole 8x8 block of y that meets rows [r0, r1) back into the
 * quantisation interval of the same block of y0: [n - 1/2, n + 1/2] steps
 * for a coefficient stored as n = 0, [n - d, n + d] for the others (d <
 * 1/2 trusts the stored value more than the interval's edges: the
 * filters before move a coefficient that was kept further than its
 * quantisation did). */
static void
qcs_project(const struct band *b, float *y, const float *y0, const uint16_t q[64],
    float d, int r0, int r1)
{
	float a[64], c[64], f[64];
	struct dct dc;

	dct_init(&dc);
	for (int by = r0 - 7 > 0 ? r0 - 7 : 0; by < r1 && by + 8 <= b->h; by++) {
		if ((b->y0 + by) % 8 != 0)
			continue;
		for (int bx = 0; bx + 8 <= b->w; bx += 8) {
			for (int i = 0; i < 8; i++)
				for (int j = 0; j < 8; j++) {
					size_t o = (size_t)(by + i) * (size_t)b->w + (size_t)(bx + j);
					a[i * 8 + j] = y0[o] - 128;
					f[i * 8 + j] = y[o] - 128;
				}
			fdct8(&dc, a, c);
			fdct8(&dc, f, a);
			for (int k = 0; k < 64; k++) {
				float qs = q[k] > 0 ? q[k] : 1;
				float n = roundf(c[k] / qs), h = n == 0 ? 0.5f : d;
				float lo = (n - h) * qs, hi = (n + h) * qs;
				a[k] = clampf(a[k], lo, hi);
			}
			idct8(&dc, a, f);
			for (int i = 0; i < 8; i++)
				for (int j = 0; j < 8; j++)
					y[(size_t)(by + i) * (size_t)b->w + (size_t)(bx + j)] = f[i * 8 + j] + 128;
		}
	}
}

/* The means' distance scale per pixel (for nlm's vm), from its 8x8 block
 * of the decoded luma y0: each coefficient the file kept brings an error
 * of up to half its step, so the block's quantisation noise grows with
 * the kept coefficients' squared steps; the means smooth such a block
 * more (its distances count less) and a block that kept nothing less
 * (the shifted grids already smoothed it). The noise variance taken is
 * 0.35 + 0.1 sum((q_k / qs)^2) over the kept AC coefficients, qs the
 * mean of the DC's and the first two AC steps. Pixels outside whole
 * blocks get 1. NULL when out of memory. */
static float *
block_scale(const struct band *b, const float *y0, const uint16_t q[64])
{
	float f[64], c[64], r2[64], qs = (q[0] + q[1] + q[8]) / 3.0f;
	float *m = malloc(sizeof(float) * (size_t)b->w * (size_t)b->h);
	struct dct dc;

	if (m == NULL)
		return NULL;
	for (size_t i = 0; i < (size_t)b->w * (size_t)b->h; i++)
		m[i] = 1;
	dct_init(&dc);
	for (int k = 0; k < 64; k++)
		r2[k] = (q[k] > 0 ? q[k] : 1) / qs * (q[k] > 0 ? q[k] : 1) / qs;
	for (int by = 0; by + 8 <= b->h; by++) {
		if ((b->y0 + by) % 8 != 0)
			continue;
		for (int bx = 0; bx + 8 <= b->w; bx += 8) {
			for (int i = 0; i < 8; i++)
				for (int j = 0; j < 8; j++)
					f[i * 8 + j] = y0[(size_t)(by + i) * b->w + bx + j] - 128;
			fdct8(&dc, f, c);
			float e = 0;
			for (int k = 1; k < 64; k++)
				e += fabsf(c[k]) >= 0.5f * (q[k] > 0 ? q[k] : 1) ? r2[k] : 0;
			float v = 1 / (0.35f + 0.1f * e);
			for (int i = 0; i < 8; i++)
				for (int j = 0; j < 8; j++)
					m[(size_t)(by + i) * b->w + bx + j] = v;
		}
	}
	return m;
}

/* Re-application of JPEG (Nosratinia), softened: on every shifted 8x8
 * grid (shifts step apart) the AC coefficients below tq times the
 * table's step are cut, and the results averaged, each block weighted by
 * its sparsity (1 / (1 + 3 x the coefficients kept), to the power 1.5
 * when sq: a block that needs few coefficients is a better model of its
 * pixels). Rows [c0-12, c1+12) are written, enough for the projection and
 * the means after it to see what they would see on the whole image
 * (flt_deblock widens c0, c1 by 16; the band's margin is 40); pixels no
 * block covers keep their value. */
static int
sdct(const struct band *b, float *y, const uint16_t q[64], int step, float tq, int sq)
{
	int w = b->w, h = b->h;
	float *acc = NULL, *cnt = NULL, a[64], c[64], th[64];
	struct dct dc;

	if ((acc = calloc((size_t)w * h, sizeof(float))) == NULL ||
	    (cnt = calloc((size_t)w * h, sizeof(float))) == NULL) {
		free(acc);
		return EX_OSERR;
	}
	dct_init(&dc);
	for (int k = 0; k < 64; k++)
		th[k] = (q[k] > 0 ? q[k] : 1) * tq;
	for (int sy = 0; sy < 8; sy += step)
		for (int sx = 0; sx < 8; sx += step)
			for (int by = sy; by + 8 <= h; by += 8) {
				if (by + 8 <= b->c0 - 12 || by >= b->c1 + 12)
					continue;
				for (int bx = sx; bx + 8 <= w; bx += 8) {
					for (int i = 0; i < 8; i++)
						for (int j = 0; j < 8; j++)
							a[i * 8 + j] = y[(size_t)(by + i) * w + bx + j] - 128;
					fdct8(&dc, a, c);
					int nz = 0;
					for (int k = 1; k < 64; k++) {    /* no branch: vectorises */
						int keep = fabsf(c[k]) >= th[k];
						c[k] = keep ? c[k] : 0;
						nz += keep;
					}
					idct8(&dc, c, a);
					float wt = 1.0f / (1.0f + 3.0f * (float)nz);
					if (sq)
						wt *= sqrtf(wt);
					for (int i = 0; i < 8; i++)
						for (int j = 0; j < 8; j++) {
							size_t o = (size_t)(by + i) * w + bx + j;
							acc[o] += wt * (a[i * 8 + j] + 128);
							cnt[o] += wt;
						}
				}
			}
	for (int yy = b->c0 - 12 > 0 ? b->c0 - 12 : 0; yy < b->c1 + 12 && yy < h; yy++)
		for (int x = 0; x < w; x++) {
			size_t o = (size_t)yy * w + x;
			if (cnt[o] > 0)
				y[o] = acc[o] / cnt[o];
		}
	free(acc);
	free(cnt);
	return 0;
}

/* Box mean of radius r over all rows of a w x h plane (mirrored edges):
 * out may not be in. tmp: w*h. */
WIDE static void
box_mean(const float *in, float *out, float *tmp, int w, int h, int r)
{
	float k = 1.0f / (float)(2 * r + 1), row[w + 2 * r];

	/* rows summed term by term from a mirrored copy (vectorises) */
	for (int y = 0; y < h; y++) {
		const float *s = in + (size_t)y * w;
		float *d = tmp + (size_t)y * w;
		mirror_row(s, w, r, row);
		for (int x = 0; x < w; x++)
			d[x] = row[x];
		for (int i = 1; i <= 2 * r; i++)
			for (int x = 0; x < w; x++)
				d[x] += row[x + i];
		for (int x = 0; x < w; x++)
			d[x] *= k;
	}
	/* columns a row at a time, so the inner loops run along rows; the
	 * 2r+1 rows summed stay in the cache */
	for (int y = 0; y < h; y++) {
		float *o = out + (size_t)y * w;
		const float *t = tmp + (size_t)refl(y - r, h) * w;
		for (int x = 0; x < w; x++)
			o[x] = t[x];
		for (int i = 1; i <= 2 * r; i++) {
			t = tmp + (size_t)refl(y - r + i, h) * w;
			for (int x = 0; x < w; x++)
				o[x] += t[x];
		}
		for (int x = 0; x < w; x++)
			o[x] *= k;
	}
}

/* Chroma subsampled by the encoder lost its edges; the guided filter
 * (He, Sun, Tang) with the luma as guide gives each chroma plane back
 * locally linear in luma: a = cov(I,p)/(var(I)+eps), b = mean(p) - a
 * mean(I), averaged over the windows. Radius r, all rows. */
static int
guided_chroma(struct band *b, int r, float eps)
{
	return chroma_wiener(b, r, INFINITY, eps);
}

/* The half-size plane d (of band hb) enlarged bilinearly and added to the
 * full-size plane p of band b: full pixel x sits at (x - 0.5) / 2 in
 * half pixels. */
static int
add_up2(const struct band *hb, const float *d, const struct band *b, float *p)
{
	float *row = malloc(sizeof(float) * ((size_t)hb->w + 2));

	if (row == NULL)
		return EX_OSERR;
	for (int y = 0; y < 2 * hb->h; y++) {
		/* the two half rows mixed vertically, edge-extended by one */
		float fy = 0.5f * (float)y - 0.25f;
		int ya = (int)floorf(fy), yb = ya + 1;
		float wy = fy - (float)ya;
		ya = ya < 0 ? 0 : ya;
		yb = yb >= hb->h ? hb->h - 1 : yb;
		const float *ra = d + (size_t)ya * hb->w, *rb = d + (size_t)yb * hb->w;
		for (int x = 0; x < hb->w; x++)
			row[x + 1] = (1 - wy) * ra[x] + wy * rb[x];
		row[0] = row[1];
		row[hb->w + 1] = row[hb->w];
		/* full x = 2i sits at i - 1/4, x = 2i + 1 at i + 1/4 */
		float *o = p + (size_t)y * b->w;
		for (int i = 0; i < b->w / 2; i++) {
			o[2 * i] += 0.25f * row[i] + 0.75f * row[i + 1];
			o[2 * i + 1] += 0.75f * row[i + 1] + 0.25f * row[i + 2];
		}
		if (b->w & 1)
			o[b->w - 1] += 0.25f * row[b->w / 2] + 0.75f * row[b->w / 2 + 1];
	}
	free(row);
	return 0;
}

/* Chroma plane c of b requantised as sdct does, at the resolution the
 * file stored it: halved (2x2 means) when subsampled, the change brought
 * back to full size bilinearly. Only with the file's chroma table. */
static int
chroma_sdct(const struct step *st, struct band *b, int c, float tq)
{
	float *p = b->p[c];
	int rc;

	if (!st->csub)
		return sdct(b, p, st->qc, (long)b->w * b->img_h > 4000000 ? 2 : 1, tq, 0);
	struct band hb = *b;
	hb.w = (b->w + 1) / 2;
	hb.h = b->h / 2;
	hb.y0 = b->y0 / 2;
	hb.c0 = b->c0 / 2;
	hb.c1 = (b->c1 + 1) / 2;
	hb.img_h = (b->img_h + 1) / 2;
	hb.nc = 1;
	size_t hn = (size_t)hb.w * (size_t)hb.h;
	float *h0 = malloc(sizeof(float) * hn * 2);
	if (h0 == NULL)
		return EX_OSERR;
	float *h1 = h0 + hn;
	for (int y = 0; y < hb.h; y++)
		for (int x = 0; x < hb.w; x++) {
			int xa = 2 * x, xb = 2 * x + 1 < b->w ? 2 * x + 1 : 2 * x;
			const float *r0 = p + (size_t)(2 * y) * b->w, *r1 = r0 + b->w;
			h0[(size_t)y * hb.w + x] = 0.25f * (r0[xa] + r0[xb] + r1[xa] + r1[xb]);
		}
	memcpy(h1, h0, sizeof(float) * hn);
	rc = sdct(&hb, h1, st->qc, (long)b->w * b->img_h > 4000000 ? 2 : 1, tq, 0);
	if (rc == 0)
		qcs_project(&hb, h1, h0, st->qc, 0.5f, hb.c0 - 4, hb.c1 + 4);
	if (rc == 0) {
		for (size_t i = 0; i < hn; i++)
			h1[i] -= h0[i];
		rc = add_up2(&hb, h1, b, p);
	}
	free(h0);
	return rc;
}

/* Chroma plane p of b put back into the quantisation intervals of the
 * decoded plane p0 (kept coefficients within 0.4 of a step), at the size
 * the file stored it (2x2 means for 4:2:0, the change brought back
 * bilinearly). All rows of the band. */
static int
chroma_project(const struct step *st, const struct band *b, float *p, const float *p0)
{
	if (!st->csub) {
		qcs_project(b, p, p0, st->qc, 0.4f, 0, b->h);
		return 0;
	}
	struct band hb = *b;
	hb.w = (b->w + 1) / 2;
	hb.h = b->h / 2;
	hb.y0 = b->y0 / 2;
	hb.nc = 1;
	size_t hn = (size_t)hb.w * (size_t)hb.h;
	float *h0 = malloc(sizeof(float) * hn * 3);
	if (h0 == NULL)
		return EX_OSERR;
	float *h1 = h0 + hn, *h2 = h1 + hn;
	for (int y = 0; y < hb.h; y++)
		for (int x = 0; x < hb.w; x++) {
			int xa = 2 * x, xb = 2 * x + 1 < b->w ? 2 * x + 1 : 2 * x;
			size_t r0 = (size_t)(2 * y) * b->w, r1 = r0 + b->w;
			h0[(size_t)y * hb.w + x] = 0.25f * (p0[r0 + xa] + p0[r0 + xb] + p0[r1 + xa] + p0[r1 + xb]);
			h1[(size_t)y * hb.w + x] = 0.25f * (p[r0 + xa] + p[r0 + xb] + p[r1 + xa] + p[r1 + xb]);
		}
	memcpy(h2, h1, sizeof(float) * hn);
	qcs_project(&hb, h2, h0, st->qc, 0.4f, 0, hb.h);
	for (size_t i = 0; i < hn; i++)
		h2[i] -= h1[i];
	int rc = add_up2(&hb, h2, b, p);
	free(h0);
	return rc;
}

/* Chroma planes 1, 2 of b filtered by non-local means at half size
 * (2x2 means of all three planes), the patch distance on the luma only;
 * the change brought back bilinearly. Core rows of b (even c0). */
static int
chroma_nlm_half(const struct band *b, const float var[3], int sr, int pr, float hf)
{
	struct band hb = *b;
	hb.w = (b->w + 1) / 2;
	hb.h = b->h / 2;
	hb.y0 = b->y0 / 2;
	hb.c0 = b->c0 / 2;
	hb.c1 = (b->c1 + 1) / 2 < hb.h ? (b->c1 + 1) / 2 : hb.h;
	hb.nc = 3;
	size_t hn = (size_t)hb.w * (size_t)hb.h;
	float *h = malloc(sizeof(float) * hn * 5);
	if (h == NULL)
		return EX_OSERR;
	for (int k = 0; k < 3; k++) {
		const float *p = b->p[k];
		float *d = h + hn * (size_t)k;
		for (int y = 0; y < hb.h; y++)
			for (int x = 0; x < hb.w; x++) {
				int xa = 2 * x, xb = 2 * x + 1 < b->w ? 2 * x + 1 : 2 * x;
				size_t r0 = (size_t)(2 * y) * b->w, r1 = r0 + b->w;
				d[(size_t)y * hb.w + x] = 0.25f * (p[r0 + xa] + p[r0 + xb] + p[r1 + xa] + p[r1 + xb]);
			}
		hb.p[k] = d;
	}
	memcpy(h + 3 * hn, h + hn, sizeof(float) * hn * 2);
	int rc = nlm(&hb, 3, 1, 1, hb.p, var, sr, pr, hf, NULL);
	for (int k = 1; k <= 2 && rc == 0; k++) {
		float *d = h + hn * (size_t)k, *o = h + hn * (size_t)(k + 2);
		for (size_t i = 0; i < hn; i++)
			d[i] -= o[i];
		rc = add_up2(&hb, d, b, b->p[k]);
	}
	free(h);
	return rc;
}

int
flt_deblock(const struct step *st, struct band *b)
{
	size_t n = (size_t)b->w * (size_t)b->h;
	float *y0 = NULL, *c0 = NULL, qs, sy, var[2];
	int rc, step = (long)b->w * b->img_h > 4000000 ? 2 : 1;
	int cproj = b->nc == 3 && st->qc[0] > 0 && st->grid, ftab = st->ftab && st->grid;
	float dq = ftab ? 0.25f : 0.5f;

	qs = (st->q[0] + st->q[1] + st->q[8]) / 3.0f;
	sy = 0.2f * qs;
	if (sy < 0.3f)
		return 0;
	if (st->grid && (y0 = malloc(sizeof(float) * n)) == NULL)
		return EX_OSERR;
	if (cproj && (c0 = malloc(sizeof(float) * n * 2)) == NULL) {
		free(y0);
		return EX_OSERR;
	}
	if (b->nc == 3)
		rgb_to_ycc(b);
	if (y0 != NULL)
		memcpy(y0, b->p[0], sizeof(float) * n);
	if (c0 != NULL) {
		memcpy(c0, b->p[1], sizeof(float) * n);
		memcpy(c0 + n, b->p[2], sizeof(float) * n);
	}
	/* luma: the shifted-grid requantisation, the projection, then
	 * non-local means and the projection again, on the core and 16 rows
	 * either side (the projections are of whole blocks); chroma: the
	 * same requantisation and projection at the size the file stored it
	 * (when the file's tables are known), then twice the guided filter on
	 * the result's luma and the projection, then means guided by the luma
	 * and the projection */
	struct band wb = *b;
	wb.c0 = b->c0 - 16 > 0 ? b->c0 - 16 : 0;
	wb.c1 = b->c1 + 16 < b->h ? b->c1 + 16 : b->h;
	rc = sdct(&wb, b->p[0], st->q, step, 0.3f, ftab);
	if (rc == 0 && y0 != NULL)
		qcs_project(&wb, b->p[0], y0, st->q, dq, wb.c0 - 4, wb.c1 + 4);
	/* with the file's own table the projection holds the result, so the
	 * means can be stronger; an estimated table may be wrong. Above 4 MP
	 * (step 2) radius 3 and no chroma means: on a 12 MP JPEG q20 +2.00
	 * dB against +2.03 with them, at 0.7 of the CPU time. The variance
	 * grows with the step, not its square (0.64 q: 0.4 (0.2 q)^2 at
	 * q = 40): coarse tables already lost what more smoothing would
	 * find */
	var[0] = ftab ? 0.64f * qs : 0.25f * sy * sy;
	/* each block's strength from the steps it kept, up to 4 MP: above,
	 * a block holds less detail (on a 12 MP q20 JPEG it gained nothing,
	 * -0.03 dB, at +5 % of the CPU time) */
	float *vm = NULL;
	if (rc == 0 && ftab && step == 1 && (vm = block_scale(b, y0, st->q)) == NULL)
		rc = EX_OSERR;
	if (rc == 0)
		rc = nlm(&wb, 1, 1, 0, b->p, var, ftab && step == 1 ? 4 : 3, 1, ftab ? 1.7f : 1.1f, vm);
	if (rc == 0 && y0 != NULL)
		qcs_project(&wb, b->p[0], y0, st->q, dq, wb.c0, wb.c1);
	/* the projection puts back some of the block edges the means took
	 * out: a light means (a tenth of the variance, radius 2) and the
	 * projection again; up to 4 MP, as the chroma means (+0.01 dB) */
	if (rc == 0 && ftab && step == 1) {
		float v2[1] = { 0.1f * var[0] };
		rc = nlm(&wb, 1, 1, 0, b->p, v2, 2, 1, 1.7f, vm);
		if (rc == 0)
			qcs_project(&wb, b->p[0], y0, st->q, dq, wb.c0, wb.c1);
	}
	free(vm);
	for (int c = 1; c <= 2 && rc == 0 && b->nc == 3 && st->qc[0] > 0; c++)
		rc = chroma_sdct(st, b, c, 0.3f);
	if (rc == 0 && b->nc == 3)
		rc = guided_chroma(b, 3, 10);
	if (rc == 0 && c0 != NULL) {
		for (int c = 1; c <= 2 && rc == 0; c++)
			rc = chroma_project(st, b, b->p[c], c0 + (size_t)(c - 1) * n);
		if (rc == 0)
			rc = guided_chroma(b, 3, 10);
		for (int c = 1; c <= 2 && rc == 0; c++)
			rc = chroma_project(st, b, b->p[c], c0 + (size_t)(c - 1) * n);
	}
	/* then non-local means on the chroma with the patch distance on the
	 * restored luma (at the stored size), and the projection */
	if (rc == 0 && c0 != NULL && step == 1) {
		struct band cb = *b;
		float cv[3] = { 0.6f * sy * sy, 1, 1 };
		cb.c0 = b->c0 - 20 > 0 ? b->c0 - 20 : 0;
		cb.c1 = b->c1 + 20 < b->h ? b->c1 + 20 : b->h;
		if (st->csub)
			rc = chroma_nlm_half(&cb, cv, 4, 1, 1.5f);
		else
			rc = nlm(&cb, 3, 1, 1, b->p, cv, 4, 1, 1.5f, NULL);
		for (int c = 1; c <= 2 && rc == 0; c++)
			rc = chroma_project(st, b, b->p[c], c0 + (size_t)(c - 1) * n);
	}
	if (b->nc == 3)
		ycc_to_rgb(b);
	free(y0);
	free(c0);
	return rc;
}

/* ---- scratches and dust ---- */

/* 7x7 median of the core rows of v (0..255), by a sliding histogram
 * over the values cut to whole levels once (q: w*h bytes of scratch);
 * a whole level too, so a byte holds it. */
static void
median7(const struct band *b, const float *v, uint8_t *out, uint8_t *q)
{
	int hist[256], w = b->w;
	const uint8_t *row[7];

	for (size_t i = 0; i < (size_t)w * (size_t)b->h; i++)
		q[i] = (uint8_t)(int)clampf(v[i], 0, 255);
	for (int y = b->c0; y < b->c1; y++) {
		int cnt = 0, med = 0, below = 0;    /* below: count of values < med */
		memset(hist, 0, sizeof hist);
		for (int dy = -3; dy <= 3; dy++)
			row[dy + 3] = q + (size_t)refl(y + dy, b->h) * (size_t)w;
		for (int dy = 0; dy < 7; dy++)
			for (int dx = -3; dx <= 3; dx++) {
				hist[row[dy][refl(dx, w)]]++;
				cnt++;
			}
		for (int x = 0; x < w; x++) {
			if (x > 0) {
				int xo = x - 4 >= 0 ? x - 4 : refl(x - 4, w);
				int xa = x + 3 < w ? x + 3 : refl(x + 3, w);
				for (int dy = 0; dy < 7; dy++) {
					int o = row[dy][xo], a = row[dy][xa];
					hist[o]--;
					below -= o < med;
					hist[a]++;
					below += a < med;
				}
			}
			/* move med so that below <= cnt/2 < below + hist[med] */
			while (below > cnt / 2) {
				med--;
				below -= hist[med];
			}
			while (below + hist[med] <= cnt / 2) {
				below += hist[med];
				med++;
			}
			out[(size_t)y * (size_t)w + x] = (uint8_t)med;
		}
	}
}

/* The median of v[0..n), n > 0, v reordered: Wirth's selection of the
 * middle element (what a sort would put there, in linear time), and for
 * even n the mean with the largest of the smaller half. */
static float
median(float *v, int n)
{
	int k = n / 2, l = 0, m = n - 1;

	while (l < m) {
		float x = v[k];
		int i = l, j = m;
		do {
			while (v[i] < x)
				i++;
			while (x < v[j])
				j--;
			if (i <= j) {
				float t = v[i];
				v[i++] = v[j];
				v[j--] = t;
			}
		} while (i <= j);
		if (j < k)
			l = i;
		if (k < i)
			m = j;
	}
	if (n % 2)
		return v[k];
	float lo = v[0];
	for (int i = 1; i < k; i++)
		lo = v[i] > lo ? v[i] : lo;
	return 0.5f * (lo + v[k]);
}

/* How far pixel i (luma y) stands out of its surroundings as a thin
 * line or speck of sign sg (+1 bright, -1 dark): the best, over four
 * directions and two distances, of its margin over the nearer-valued of
 * the two pixels on either side. A step edge has one side level with it
 * and scores nothing. Also returns those side pixels' mean chroma. */
static float
ridge(const struct band *b, const float *y, int xx, int yy, float sg, float *side_chroma,
    float *asym)
{
	static const int dir[4][2] = { { 1, 0 }, { 0, 1 }, { 1, 1 }, { 1, -1 } };
	size_t i = (size_t)yy * b->w + xx;
	float best = -1e30f;
	size_t bj = i, bk = i;

	for (int d = 0; d < 4; d++)
		for (int dist = 2; dist <= 4; dist += 2) {
			int ax = refl(xx + dir[d][0] * dist, b->w), ay = refl(yy + dir[d][1] * dist, b->h);
			int cx = refl(xx - dir[d][0] * dist, b->w), cy = refl(yy - dir[d][1] * dist, b->h);
			size_t j = (size_t)ay * b->w + ax, k = (size_t)cy * b->w + cx;
			float a = sg * y[j], c = sg * y[k], m = sg * y[i] - (a > c ? a : c);
			if (m > best) {
				best = m;
				bj = j;
				bk = k;
				if (asym != NULL)
					*asym = fabsf(a - c);
			}
		}
	*side_chroma = 0;
	if (b->nc == 3)
		for (int t = 0; t < 2; t++) {
			size_t j = t ? bk : bj;
			float mx = fmaxf(b->p[0][j], fmaxf(b->p[1][j], b->p[2][j]));
			float mn = fminf(b->p[0][j], fminf(b->p[1][j], b->p[2][j]));
			*side_chroma += 0.5f * (mx - mn);
		}
	return best;
}

/* A candidate of residual r passes if it is a ridge of at least want and,
 * in colour, no more colourful than its surroundings: dust and scratches
 * are grey, the edges of coloured things are not. Its spread of RGB may
 * be at most cf times the sides' and 12 more: SCRATCH_CF, or where the
 * file kept its chroma at half size (a 4:2:0 or 4:2:2 JPEG, as scans
 * and cameras save them) SCRATCH_CF_SUB, for there a line a pixel or two
 * wide has the chroma of the ground about it, only its luma its own
 * (on JPEG q90 copies of bench/mkset's scratched photos, recall 0.45 ->
 * 0.69 and +3.0 -> +6.2 dB on the tuned set's tune half). */
#define SCRATCH_CF     0.6f
#define SCRATCH_CF_SUB 0.9f
static int
scratch_like(const struct band *b, const float *y, int xx, int yy, float r, float want, float cf)
{
	float sc, g = ridge(b, y, xx, yy, r > 0 ? 1.0f : -1.0f, &sc, NULL);
	size_t i = (size_t)yy * b->w + xx;

	if (g < want)
		return 0;
	if (b->nc == 3) {
		float mx = fmaxf(b->p[0][i], fmaxf(b->p[1][i], b->p[2][i]));
		float mn = fminf(b->p[0][i], fminf(b->p[1][i], b->p[2][i]));
		if (mx - mn > cf * sc + 12)
			return 0;
	}
	return 1;
}

/* The cross-profile test of the lines found. A scratch lies on the
 * scene: across it, once averaged along a stretch of it, the two sides
 * match and the ground beyond is flat or a plain slope, whatever the
 * texture under it. A thin real feature belongs to a structure of the
 * scene that runs with it: a rim or a highlight along an edge (one side
 * darker all along), a highlight on a cylinder, a mortar joint, a
 * badge's border (ground that bends on both sides). For each flagged
 * pixel: the normal of its line (the least axis of its component's
 * pixels within PN) and the luma profile along it at -PF_D..PF_D. Then:
 *  - each component is cut into segments, pixels of one direction (the
 *    doubled angles of their normals within about 25 degrees of the
 *    first one's), so that a scratch that crosses or touches a real
 *    line is judged apart from it;
 *  - a segment long enough (SEG_MIN pixels, 8 across) is judged by its
 *    mean profile, each pixel's turned to face the same way; the other
 *    pixels of a component together, by the medians of the same
 *    measures on the mean profile of each one's component pixels
 *    within PW;
 *  - the measures, over the line's contrast g (centre over the higher
 *    of the sides at 2): the asymmetry, the mean difference of the
 *    sides at 1..3, and the roughness of the ground at 3..PF_D, its RMS
 *    off a least-squares line. Over PF_ASYM or PF_ROUGH (pf_scene, profile.h): unflagged;
 *  - a segment long enough is also unflagged when its long profile
 *    (PF_LD each side, averaged along it, across its mean
 *    normal) shows it as one of a regular series of like lines
 *    (pf_repeats): mortar joints, slats, stripes;
 *  - a segment long enough is also unflagged when the median of its
 *    pixels' own asymmetries (each on its own profile, over its own
 *    contrast: pf_pixel_asym) is over PF_PASYM: an outline, whose
 *    brighter side may change along it so that its mean profile is even;
 *  - a segment long enough, and the other pixels of a component
 *    together, are unflagged when the pixels beside them stand out like
 *    them (pf_ring): the rest of a line of the scene.
 * Specks (under 8 pixels across) have no direction: only pf_ring judges them. */
#define PN 4
#define PW 4
#define SEG_COS 0.64f            /* cos(2 x 25 degrees) */
#define SEG_MIN 12

/* the normal of a line through k points of these coordinate sums: its
 * least axis */
static void
least_axis(int k, double sx, double sy, double sxx, double syy, double sxy, double *nx,
    double *ny)
{
	double cxx = sxx / k - (sx / k) * (sx / k), cyy = syy / k - (sy / k) * (sy / k);
	double cxy = sxy / k - (sx / k) * (sy / k);
	double th = 0.5 * atan2(2 * cxy, cxx - cyy) + M_PI / 2;

	*nx = cos(th);
	*ny = sin(th);
}

/* One component's line pixels while it is judged, with what the test
 * finds of each. Its pixels are numbered first.. in at[] (w*h ints,
 * -1 off the lines), so those of earlier components are below first. */
struct pfpix {
	int i;                   /* pixel index */
	int seg;
	float nx, ny;            /* unit normal */
	float pr[PF_L];          /* luma at -PF_D..PF_D along the normal */
};

struct pfcomp {
	int *at;
	int w, h, first, n;      /* px[0..n) are at[] = first..first+n-1 */
	struct pfpix *px;
	int *queue;
	unsigned char *sv;       /* per segment: 0 too short, 1 keep, 2 unflag */
	float *ta, *tr;          /* the measures of the pixels of no verdict */
	int cap, np;             /* np: the line pixels of the band, all told */
	const unsigned char *m0, *med;   /* the marks, the 7x7 median */
	const float *lv;         /* the residual level per tile */
	int tw, tile;
	float k;                 /* the step's threshold scale */
	int *ring, rcap;         /* pf_ring's marks, to undo */
};

/* The pixel at (x, y) of the component, as an index into px, or -1
 * (outside the band, not a line pixel, or of another component). */
static int
pf_at(const struct pfcomp *c, int x, int y)
{
	if (y < 0 || y >= c->h || x < 0 || x >= c->w)
		return -1;
	int j = c->at[(size_t)y * c->w + x] - c->first;
	return j >= 0 && j < c->n ? j : -1;
}

/* Room for a component of n pixels (doubling, but never past np). */
static int
pf_room(struct pfcomp *c, int n)
{
	if (n <= c->cap)
		return 0;
	int cap = n > 2 * c->cap ? n : 2 * c->cap;
	cap = cap < c->np ? cap : c->np;
	void *p;
	if ((p = realloc(c->px, sizeof *c->px * (size_t)cap)) == NULL)
		return EX_OSERR;
	c->px = p;
	if ((p = realloc(c->queue, sizeof(int) * (size_t)cap)) == NULL)
		return EX_OSERR;
	c->queue = p;
	if ((p = realloc(c->sv, (size_t)cap)) == NULL)
		return EX_OSERR;
	c->sv = p;
	if ((p = realloc(c->ta, sizeof(float) * (size_t)cap)) == NULL)
		return EX_OSERR;
	c->ta = p;
	if ((p = realloc(c->tr, sizeof(float) * (size_t)cap)) == NULL)
		return EX_OSERR;
	c->tr = p;
	c->cap = cap;
	return 0;
}

/* The share of ridge pixels beside a stretch of line: the pixels within
 * PR of its pixels px[qs[0..nq)] that are no line's (not flagged), yet
 * stand off the median by the hysteresis' low threshold with the line's
 * sign, over nq. A scratch crosses the scene: beside it and past its
 * ends lies the scene's ground, with few such pixels. A piece of the
 * scene's own dark or bright lines that passed (an outline's stretch
 * thin and strong enough, a window's frame) has the rest of its line
 * beside it: the outline where it goes on, thickens or bends, the
 * lines it meets. Over PF_RING: the scene's. -1 when out of memory. */
#define PR 2
#define PF_RING 0.50f

static float
pf_ring(struct pfcomp *c, const float *y, const int *qs, int nq, float sg)
{
	int w = c->w, h = c->h, nr = 0, cnt = 0;

	for (int t = 0; t < nq && cnt >= 0; t++) {
		int i = c->px[qs[t]].i, cy = i / w, cx = i % w;
		for (int dy = -PR; dy <= PR; dy++)
			for (int dx = -PR; dx <= PR; dx++) {
				int nx = cx + dx, ny = cy + dy;
				if (nx < 0 || ny < 0 || nx >= w || ny >= h)
					continue;
				size_t j = (size_t)ny * w + nx;
				if (c->at[j] != -1 || c->m0[j] == 1 || c->m0[j] == 2)
					continue;        /* a line's, or seen */
				if (nr == c->rcap) {
					int cap = c->rcap ? 2 * c->rcap : 256;
					void *p = realloc(c->ring, sizeof(int) * (size_t)cap);
					if (p == NULL) {
						cnt = -1;
						goto undo;
					}
					c->ring = p;
					c->rcap = cap;
				}
				c->ring[nr++] = (int)j;
				c->at[j] = -2;
				float r = y[j] - c->med[j], l = c->lv[(ny / c->tile) * c->tw + nx / c->tile];
				cnt += sg * r > c->k * (14 + 2.5f * l);
			}
	}
undo:
	for (int t = 0; t < nr; t++)
		c->at[c->ring[t]] = -1;
	return cnt < 0 ? -1 : (float)cnt / nq;
}

/* Judge one component (c->px[0..n).i set, all of sign sg): unflag (m
 * = 3) the pixels the profile calls features of the scene. */
static int
pf_component(struct pfcomp *c, const float *y, unsigned char *m, float sg)
{
	struct pfpix *px = c->px;
	int w = c->w, n = c->n, ns = 0;

	/* each pixel's normal and profile */
	for (int q = 0; q < n; q++) {
		int cy = px[q].i / w, cx = px[q].i % w, k = 0;
		double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
		for (int dy = -PN; dy <= PN; dy++)
			for (int dx = -PN; dx <= PN; dx++) {
				if (pf_at(c, cx + dx, cy + dy) < 0)
					continue;
				sx += dx; sy += dy; sxx += dx * dx; syy += dy * dy; sxy += dx * dy;
				k++;
			}
		double nx, ny;
		least_axis(k, sx, sy, sxx, syy, sxy, &nx, &ny);
		px[q].nx = (float)nx;
		px[q].ny = (float)ny;
		pf_sample(y, w, c->h, cx, cy, px[q].nx, px[q].ny, px[q].pr);
		px[q].seg = -1;
	}
	/* segments, each judged when found if long enough, by its mean
	 * profile: 1 keep, 2 unflag */
	for (int q0 = 0; q0 < n; q0++) {
		if (px[q0].seg >= 0)
			continue;
		float c2 = px[q0].nx * px[q0].nx - px[q0].ny * px[q0].ny;
		float s2 = 2 * px[q0].nx * px[q0].ny, sp[PF_L] = { 0 };
		int nq = 0, bx[4] = { INT_MAX, -1, INT_MAX, -1 };
		c->queue[nq++] = q0;
		px[q0].seg = ns;
		for (int t = 0; t < nq; t++) {
			int q = c->queue[t], cy = px[q].i / w, cx = px[q].i % w;
			int flip = px[q].nx * px[q0].nx + px[q].ny * px[q0].ny < 0;
			for (int d = 0; d < PF_L; d++)
				sp[d] += sg * px[q].pr[flip ? PF_L - 1 - d : d];
			bx[0] = cx < bx[0] ? cx : bx[0]; bx[1] = cx > bx[1] ? cx : bx[1];
			bx[2] = cy < bx[2] ? cy : bx[2]; bx[3] = cy > bx[3] ? cy : bx[3];
			for (int dy = -1; dy <= 1; dy++)
				for (int dx = -1; dx <= 1; dx++) {
					int j = pf_at(c, cx + dx, cy + dy);
					if (j < 0 || px[j].seg >= 0)
						continue;
					float cj = px[j].nx * px[j].nx - px[j].ny * px[j].ny;
					float sj = 2 * px[j].nx * px[j].ny;
					if (cj * c2 + sj * s2 < SEG_COS)
						continue;
					px[j].seg = ns;
					c->queue[nq++] = j;
				}
		}
		c->sv[ns] = 0;
		if (nq >= SEG_MIN && (bx[1] - bx[0] >= 7 || bx[3] - bx[2] >= 7)) {
			float a, r;
			for (int d = 0; d < PF_L; d++)
				sp[d] /= nq;
			pf_measures(sp, &a, &r);
			c->sv[ns] = pf_scene(a, r) ? 2 : 1;
			/* an outline's stretch: at most of its pixels the two
			 * sides differ (pf_pixel_asym) */
			if (c->sv[ns] == 1) {
				for (int t = 0; t < nq; t++)
					c->ta[t] = pf_pixel_asym(px[c->queue[t]].pr, sg);
				if (median(c->ta, nq) > PF_PASYM)
					c->sv[ns] = 2;
			}
			/* the rest of the scene's line beside it */
			float rg = c->sv[ns] == 1 ? pf_ring(c, y, c->queue, nq, sg) : 0;
			if (rg < 0)
				return EX_OSERR;
			if (rg > PF_RING)
				c->sv[ns] = 2;
		}
		/* a long segment its profile across keeps, if one of a
		 * regular series of like lines: the scene's */
		if (c->sv[ns] == 1) {
			float lp[PF_LL] = { 0 }, pr[PF_LL], mc = 0, ms = 0;
			for (int t = 0; t < nq; t++) {      /* the mean normal, by doubled angles */
				const struct pfpix *p = &px[c->queue[t]];
				mc += p->nx * p->nx - p->ny * p->ny;
				ms += 2 * p->nx * p->ny;
			}
			float th = 0.5f * atan2f(ms, mc), mx = cosf(th), my = sinf(th);
			for (int t = 0; t < nq; t += 1 + nq / PF_ALONG) {   /* evenly, at most 2 PF_ALONG */
				int i = px[c->queue[t]].i;
				pf_sample_long(y, w, c->h, i % w, i / w, mx, my, pr);
				for (int d = 0; d < PF_LL; d++)
					lp[d] += sg * pr[d];
			}
			if (pf_repeats(lp))
				c->sv[ns] = 2;
		}
		ns++;
	}
	/* the other pixels by the medians of their measures, each on the
	 * mean profile of its neighbourhood */
	int nr = 0, x0 = w, x1 = -1, y0 = c->h, y1 = -1;
	for (int q = 0; q < n; q++) {
		int cy = px[q].i / w, cx = px[q].i % w, k = 0;
		x0 = cx < x0 ? cx : x0; x1 = cx > x1 ? cx : x1;
		y0 = cy < y0 ? cy : y0; y1 = cy > y1 ? cy : y1;
		if (c->sv[px[q].seg])
			continue;
		float mp[PF_L] = { 0 };
		for (int dy = -PW; dy <= PW; dy++)
			for (int dx = -PW; dx <= PW; dx++) {
				int j = pf_at(c, cx + dx, cy + dy);
				if (j < 0)
					continue;
				int flip = px[j].nx * px[q].nx + px[j].ny * px[q].ny < 0;
				for (int d = 0; d < PF_L; d++)
					mp[d] += px[j].pr[flip ? PF_L - 1 - d : d];
				k++;
			}
		for (int d = 0; d < PF_L; d++)
			mp[d] *= sg / k;
		pf_measures(mp, &c->ta[nr], &c->tr[nr]);
		nr++;
	}
	int scene = nr > 0 && (x1 - x0 >= 7 || y1 - y0 >= 7) &&
	    pf_scene(median(c->ta, nr), median(c->tr, nr));
	if (nr > 0 && !scene) {
		int nq = 0;
		for (int q = 0; q < n; q++)
			if (!c->sv[px[q].seg])
				c->queue[nq++] = q;
		float rg = pf_ring(c, y, c->queue, nq, sg);
		if (rg < 0)
			return EX_OSERR;
		scene = rg > PF_RING;
	}
	for (int q = 0; q < n; q++)
		if (c->sv[px[q].seg] ? c->sv[px[q].seg] == 2 : scene)
			m[px[q].i] = 3;
	return 0;
}

/* Unflag (m = 3) the lines of m (1 bright, 2 dark) that the profile
 * calls features of the scene; at: w*h ints of scratch. Each component
 * is judged as soon as it is found, in buffers of its own size: a
 * strip's grain makes tens of thousands of line pixels, nearly all in
 * small components, and their profiles held all at once took more
 * memory than the strip's luma. */
static int
profile_test(const struct band *b, const float *y, unsigned char *m, int *at,
    const unsigned char *med, const float *lv, int tw, int tile, float thr)
{
	int w = b->w, h = b->h, k = 0, rc = 0;
	size_t n = (size_t)w * (size_t)h;
	struct pfcomp c = { .at = at, .w = w, .h = h, .m0 = m, .med = med, .lv = lv,
	    .tw = tw, .tile = tile, .k = thr };

	for (size_t i = 0; i < n; i++) {
		at[i] = -1;
		c.np += m[i] == 1 || m[i] == 2;
	}
	/* components (8-connected, one sign), each found whole (its pixels
	 * in breadth-first order) and judged before the next */
	for (size_t i0 = 0; i0 < n && rc == 0; i0++) {
		if ((m[i0] != 1 && m[i0] != 2) || at[i0] >= 0)
			continue;
		c.first = k;
		c.n = 0;
		if ((rc = pf_room(&c, 1)) != 0)
			break;
		c.px[c.n++].i = (int)i0;
		at[i0] = k++;
		for (int q = 0; q < c.n; q++) {
			int cy = c.px[q].i / w, cx = c.px[q].i % w;
			for (int dy = -1; dy <= 1; dy++)
				for (int dx = -1; dx <= 1; dx++) {
					int ny = cy + dy, nx = cx + dx;
					if (ny < 0 || ny >= h || nx < 0 || nx >= w)
						continue;
					size_t j = (size_t)ny * w + nx;
					if (m[j] != m[i0] || at[j] >= 0)
						continue;
					if ((rc = pf_room(&c, c.n + 1)) != 0)
						goto out;
					c.px[c.n++].i = (int)j;
					at[j] = k++;
				}
		}
		if ((rc = pf_component(&c, y, m, m[i0] == 1 ? 1.0f : -1.0f)) != 0)
			break;
	}
out:
	free(c.px);
	free(c.queue);
	free(c.sv);
	free(c.ta);
	free(c.tr);
	free(c.ring);
	return rc;
}

/* Whether a speck of n pixels (stack[0..n), box x0..x1, y0..y1) lies
 * on flat ground: the luma of the ring 2 to 3 pixels off its box, less
 * its least-squares plane, varies (standard deviation) by at most a
 * quarter of the speck's contrast against that plane at its centre.
 * Dust on a sky, a wall or a defocused background does, even where the
 * ground grows brighter across it (on a gradient of 5 levels a pixel
 * the ring of a 3x3 speck alone varies by 15); a small bright or dark
 * thing of the scene (an eye's glint, a rivet, a pebble) seldom has a
 * ground that even. The ring is symmetric about the box's centre, so the plane's
 * three terms are fitted apart. */
static int
flat_ring(const float *y, int w, int h, const int *stack, int n, int x0, int x1, int y0, int y1)
{
	double s[3] = { 0 }, sv[3] = { 0 }, vv = 0, cs = 0;
	double xc = (x0 + x1) / 2.0, yc = (y0 + y1) / 2.0;
	int rn = 0;

	for (int yy = y0 - 3; yy <= y1 + 3; yy++)
		for (int xx = x0 - 3; xx <= x1 + 3; xx++) {
			if (yy >= y0 - 1 && yy <= y1 + 1 && xx >= x0 - 1 && xx <= x1 + 1)
				continue;
			double v = y[(size_t)refl(yy, h) * w + refl(xx, w)];
			double f[3] = { 1, xx - xc, yy - yc };
			for (int t = 0; t < 3; t++) {
				s[t] += f[t] * f[t];
				sv[t] += f[t] * v;
			}
			vv += v * v;
			rn++;
		}
	for (int t = 0; t < 3; t++)
		vv -= sv[t] * sv[t] / s[t];  /* what the plane leaves */
	/* the speck against the plane at its own centre */
	double px = 0, py = 0;
	for (int t = 0; t < n; t++) {
		cs += y[stack[t]];
		px += stack[t] % w - xc;
		py += stack[t] / w - yc;
	}
	double at = sv[0] / s[0] + sv[1] / s[1] * px / n + sv[2] / s[2] * py / n;
	return sqrt(fmax(vv / rn, 0)) <= 0.25 * fabs(cs / n - at);
}

/* The share of a component's n pixels (stack[0..n)) that are inside it:
 * all four neighbours in it too (m equal to v). A line one or two pixels
 * wide, or several such lines that cross, has almost none; a blob or a
 * thick band has many. */
#define THIN_IN 0.1f
#define THIN_X 6                 /* a few lines that cross, not a grid */

static float
inside_share(const unsigned char *m, int w, int h, const int *stack, int n, unsigned char v)
{
	int c = 0;

	for (int t = 0; t < n; t++) {
		int i = stack[t], cy = i / w, cx = i % w, in = 1;
		static const int d4[4][2] = { { 1, 0 }, { -1, 0 }, { 0, 1 }, { 0, -1 } };
		for (int d = 0; d < 4 && in; d++) {
			int ny = cy + d4[d][1], nx = cx + d4[d][0];
			in = ny >= 0 && ny < h && nx >= 0 && nx < w && m[(size_t)ny * w + nx] == v;
		}
		c += in;
	}
	return n > 0 ? (float)c / n : 0;
}

/* Fill flagged pixel (xx, yy) across its line: the normal is the least
 * axis of the flagged pixels within PN, and the pixel takes the
 * first unflagged pixel along it on each side (within FILL_R), weighted
 * by the inverse of its distance. What crosses the line (a mortar joint,
 * an edge, a branch) goes on through it, where the median of the
 * unflagged neighbours would paint the ground that surrounds it (on
 * descratch's own masks, +0.41 | +0.52 dB on the held-out scratched
 * photos and +0.53 | +0.60 on the default ones, better on 116 of 126).
 * 0 where a side has none (a blob, the picture's edge). */
#define FILL_R 7
static int
fill_across(struct band *b, const unsigned char *m, int xx, int yy)
{
	int w = b->w, h = b->h, k = 0;
	double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;

	for (int dy = -PN; dy <= PN; dy++)
		for (int dx = -PN; dx <= PN; dx++) {
			int ny = yy + dy, nx = xx + dx;
			if (ny < 0 || ny >= h || nx < 0 || nx >= w)
				continue;
			unsigned char v = m[(size_t)ny * w + nx];
			if (v == 0 || v == 3)
				continue;
			sx += dx; sy += dy; sxx += dx * dx; syy += dy * dy; sxy += dx * dy;
			k++;
		}
	double nx0, ny0, wt[2];
	size_t at[2];

	least_axis(k, sx, sy, sxx, syy, sxy, &nx0, &ny0);
	for (int s = 0; s < 2; s++) {
		double sg = s ? -1 : 1;
		int t;
		for (t = 1; t <= FILL_R; t++) {
			int px = (int)lround(xx + sg * t * nx0), py = (int)lround(yy + sg * t * ny0);
			if (px < 0 || px >= w || py < 0 || py >= h)
				return 0;
			size_t j = (size_t)py * w + px;
			if (m[j] == 0 || m[j] == 3) {
				at[s] = j;
				wt[s] = 1.0 / t;
				break;
			}
		}
		if (t > FILL_R)
			return 0;
	}
	for (int c = 0; c < b->nc; c++)
		b->p[c][(size_t)yy * w + xx] = (float)((wt[0] * b->p[c][at[0]] + wt[1] * b->p[c][at[1]]) /
		    (wt[0] + wt[1]));
	return 1;
}

int
flt_descratch(const struct step *st, struct band *b, long *flagged)
{
	int w = b->w, h = b->h, tile = 16;
	size_t n = (size_t)w * (size_t)h;
	float *y = NULL, *lv = NULL;
	unsigned char *m = NULL, *med = NULL;
	int *stack = NULL, rc = EX_OSERR;
	int tw = (w + tile - 1) / tile, th = (h + tile - 1) / tile;
	float k = st->thresh > 0 ? st->thresh : 1, cf = st->csub ? SCRATCH_CF_SUB : SCRATCH_CF;

	if ((y = malloc(sizeof(float) * n)) == NULL || (med = calloc(n, 1)) == NULL ||
	    (m = calloc(n, 1)) == NULL || (lv = calloc((size_t)tw * (size_t)th, sizeof(float))) == NULL ||
	    (stack = malloc(sizeof(int) * n)) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++)
		y[i] = b->nc == 3 ? 0.299f * b->p[0][i] + 0.587f * b->p[1][i] + 0.114f * b->p[2][i] :
		    b->p[0][i];
	{	/* the median over all rows: the margins are needed for hysteresis */
		struct band all = *b;
		all.c0 = 0;
		all.c1 = h;
		median7(&all, y, med, m);    /* m lends its bytes, cleared after */
		memset(m, 0, n);
	}
	/* residual level per tile: mean |r| with outliers cut */
	for (int ty = 0; ty < th; ty++)
		for (int tx = 0; tx < tw; tx++) {
			double s = 0;
			int c = 0;
			for (int yy = ty * tile; yy < (ty + 1) * tile && yy < h; yy++)
				for (int xx = tx * tile; xx < (tx + 1) * tile && xx < w; xx++) {
					float r = fabsf(y[(size_t)yy * w + xx] - med[(size_t)yy * w + xx]);
					s += r < 25 ? r : 25;
					c++;
				}
			lv[ty * tw + tx] = (float)(s / (c ? c : 1));
		}
	/* Seeds, grown by hysteresis along pixels of the same sign; each
	 * component is kept only if it is shaped like damage: a thin line
	 * at least 16 pixels long (the box's diagonal; thin: at most 3
	 * pixels per pixel of that diagonal, or, for scratches that cross
	 * one another, at most THIN_IN of its pixels inside it), or a small speck
	 * (a box of about 5x5 at most) of strong contrast, or of less (a mean
	 * residual over the seed threshold) on flat ground. Texture (grass,
	 * gravel) gives short irregular pieces, which are dropped (marked
	 * 3). */
	for (int yy = 0; yy < h; yy++)
		for (int xx = 0; xx < w; xx++) {
			size_t i0 = (size_t)yy * w + xx;
			float r0 = y[i0] - med[i0], l0 = lv[(yy / tile) * tw + xx / tile];
			float hi = k * (28 + 4.5f * l0);
			if (m[i0] || fabsf(r0) <= hi || !scratch_like(b, y, xx, yy, r0, 0.7f * hi, cf))
				continue;
			int sp = 0, n = 0, x0 = xx, x1 = xx, y0 = yy, y1 = yy;
			unsigned char sg = r0 > 0 ? 1 : 2;
			double sr = 0, sas = 0, sgr = 0;
			m[i0] = sg;
			stack[sp++] = (int)i0;
			while (sp > n) {          /* stack[0..sp) is the component, BFS order */
				int i = stack[n++], cy = i / w, cx = i % w;
				float sch, as = 0, g;
				sr += fabsf(y[i] - med[i]);
				g = ridge(b, y, cx, cy, sg == 1 ? 1.0f : -1.0f, &sch, &as);
				sas += as;
				sgr += g > 0 ? g : 0;
				x0 = cx < x0 ? cx : x0; x1 = cx > x1 ? cx : x1;
				y0 = cy < y0 ? cy : y0; y1 = cy > y1 ? cy : y1;
				for (int dy = -1; dy <= 1; dy++)
					for (int dx = -1; dx <= 1; dx++) {
						int ny = cy + dy, nx = cx + dx;
						if (ny < 0 || ny >= h || nx < 0 || nx >= w)
							continue;
						size_t j = (size_t)ny * w + nx;
						if (m[j])
							continue;
						float r = y[j] - med[j], l = lv[(ny / tile) * tw + nx / tile];
						float lo = k * (14 + 2.5f * l);
						if ((sg == 1 ? r : -r) > lo &&
						    scratch_like(b, y, nx, ny, r, 0.5f * lo, cf)) {
							m[j] = sg;
							stack[sp++] = (int)j;
						}
					}
			}
			float len = hypotf((float)(x1 - x0 + 1), (float)(y1 - y0 + 1));
			int strong = sr / n >= 1.3 * hi;
			int thin = n <= 3 * len || (n <= THIN_X * len &&
			    inside_share(m, w, h, stack, n, sg) <= THIN_IN);
			int line = thin && (len >= 16 || strong) && sas <= 0.5 * sgr;
			int speck = len <= 7.5f && n <= 30 && strong;
			if (!speck && len <= 7.5f && n <= 30 && sr / n >= hi)
				speck = flat_ring(y, w, h, stack, n, x0, x1, y0, y1);
			if (!line && !speck)
				for (int t = 0; t < n; t++)
					m[stack[t]] = 3;
		}
	/* Second hysteresis, along the lines found: from each kept component
	 * grow over pixels of its sign down to 0.45 of the low threshold
	 * (faint stretches, the ends of a line), keeping the growth only if
	 * the whole stays thin (at most 2.35 pixels per pixel of length). */
	for (size_t i0 = 0; i0 < n; i0++) {
		if (m[i0] != 1 && m[i0] != 2)
			continue;
		unsigned char sg = m[i0];
		int sp = 0, nn = 0, x0 = (int)(i0 % w), x1 = x0, y0 = (int)(i0 / w), y1 = y0, grown = 0;
		m[i0] = sg | 8;
		stack[sp++] = (int)i0;
		while (sp > nn) {
			int i = stack[nn++], cy = i / w, cx = i % w;
			x0 = cx < x0 ? cx : x0; x1 = cx > x1 ? cx : x1;
			y0 = cy < y0 ? cy : y0; y1 = cy > y1 ? cy : y1;
			for (int dy = -1; dy <= 1; dy++)
				for (int dx = -1; dx <= 1; dx++) {
					int ny = cy + dy, nx = cx + dx;
					if (ny < 0 || ny >= h || nx < 0 || nx >= w)
						continue;
					size_t j = (size_t)ny * w + nx;
					if (m[j] == sg) {
						m[j] = sg | 8;
						stack[sp++] = (int)j;
						continue;
					}
					if (m[j] != 0 && m[j] != 3)
						continue;
					float r = y[j] - med[j], l = lv[(ny / tile) * tw + nx / tile];
					float lo = 0.45f * k * (14 + 2.5f * l);
					if ((sg == 1 ? r : -r) > lo && scratch_like(b, y, nx, ny, r, 0.5f * lo, cf)) {
						m[j] = 4;
						stack[sp++] = (int)j;
						grown++;
					}
				}
		}
		float len = hypotf((float)(x1 - x0 + 1), (float)(y1 - y0 + 1));
		int keep = grown > 0 && sp <= 2.35f * len;
		for (int t = 0; t < sp; t++)
			if (m[stack[t]] == 4)
				m[stack[t]] = keep ? (sg | 8) : 3;
	}
	for (size_t i = 0; i < n; i++)
		if (m[i] & 8)
			m[i] &= 7;
	/* what is left of real thin features of the scene */
	if (profile_test(b, y, m, stack, med, lv, tw, tile, k) != 0)
		goto out;
	/* fill flagged core pixels: across the line (fill_across), else
	 * the median of the unflagged nearby */
	long cnt = 0;
	float vals[225];
	for (int yy = b->c0; yy < b->c1; yy++)
		for (int xx = 0; xx < w; xx++) {
			size_t i = (size_t)yy * w + xx;
			if (m[i] == 0 || m[i] == 3)
				continue;
			cnt++;
			if (fill_across(b, m, xx, yy))
				continue;
			for (int r = 3; r <= 7; r += 2) {
				int nv = 0;
				for (int c = 0; c < b->nc; c++) {
					nv = 0;
					for (int dy = -r; dy <= r; dy++)
						for (int dx = -r; dx <= r; dx++) {
							int ny = yy + dy, nx = xx + dx;
							if (ny < 0 || ny >= h || nx < 0 || nx >= w)
								continue;
							size_t j = (size_t)ny * w + nx;
							if (m[j] == 0 || m[j] == 3)
								vals[nv++] = b->p[c][j];
						}
					if (nv < 4)
						break;
					b->p[c][i] = median(vals, nv);
				}
				if (nv >= 4)
					break;
				if (r == 7)          /* a large blob: the median of all */
					for (int c = 0; c < b->nc; c++)
						b->p[c][i] = med[i];
			}
		}
	if (flagged != NULL)
		*flagged = cnt;
	rc = 0;
out:
	free(y);
	free(med);
	free(m);
	free(lv);
	free(stack);
	return rc;
}

/* ---- pointwise ---- */

/* pixel i of b with a sepia blend of strength a undone (est_sepia) */
static void
unblend(float a, const struct band *b, size_t i, float v[3])
{
	float l = 0.299f * b->p[0][i] + 0.587f * b->p[1][i] + 0.114f * b->p[2][i];
	for (int c = 0; c < 3; c++)
		v[c] = (b->p[c][i] - a * l * SEPIA_T[c]) / (1 - a);
}

int
flt_levels(const struct step *st, struct band *b)
{
	float span = st->span > 0 ? st->span : 255;
	float k = span / (st->white - st->black > 1 ? st->white - st->black : 1);
	float off = 0.5f * (255 - span);
	size_t n = (size_t)b->w * (size_t)b->h;

	const struct tilt *tl = &st->tilt;
	int tilted = tl->black.px != 0 || tl->black.py != 0;   /* (a plane rises 20 or more) */

	for (size_t i = 0; i < n; i++) {
		float v[3], black = st->black;
		if (tilted) {   /* an uneven fade: the black and white where the pixel is */
			int x = (int)(i % b->w), y = b->y0 + (int)(i / b->w);
			float white = st->white;
			black = fmaxf(black, plane_at(&tl->black, x, y, b->w, b->img_h));
			if (tl->has_white)
				white = fminf(white, plane_at(&tl->white, x, y, b->w, b->img_h));
			k = span / (white - black > 16 ? white - black : 16);
		}
		if (st->unblend > 0 && b->nc == 3)
			unblend(st->unblend, b, i, v);
		else
			for (int c = 0; c < b->nc; c++)
				v[c] = b->p[c][i];
		for (int c = 0; c < b->nc; c++) {
			float t = st->tone[c] > 0 ? st->tone[c] : 1;
			v[c] = st->untone ? (v[c] / t - black) * k + off :
			    (v[c] - black * t) * k + off;
		}
		if (b->nc == 3 && st->sat != 1) {
			/* more colour, but not more of the overall tint (sepia) */
			float l = 0.299f * v[0] + 0.587f * v[1] + 0.114f * v[2];
			for (int c = 0; c < 3; c++) {
				float t = st->tint[c] * k;
				v[c] = l + t + st->sat * (v[c] - l - t);
			}
		}
		for (int c = 0; c < b->nc; c++)
			b->p[c][i] = v[c];
	}
	return 0;
}

int
flt_white_balance(const struct step *st, struct band *b)
{
	size_t n = (size_t)b->w * (size_t)b->h;

	if (b->nc != 3)
		return 0;
	if (st->unblend > 0) {
		for (size_t i = 0; i < n; i++) {
			float v[3];
			unblend(st->unblend, b, i, v);
			for (int c = 0; c < 3; c++)
				b->p[c][i] = v[c];
		}
		return 0;
	}
	for (int c = 0; c < 3; c++)
		for (size_t i = 0; i < n; i++)
			b->p[c][i] *= st->gain[c];
	return 0;
}

/* ---- deblurring ---- */

static int
gauss_kernel(float s, float *k, int maxr)
{
	int r = (int)ceilf(3 * s);
	float sum = 0;

	r = r < 1 ? 1 : r > maxr ? maxr : r;
	for (int i = -r; i <= r; i++)
		sum += k[i + r] = expf(-(float)(i * i) / (2 * s * s));
	for (int i = 0; i <= 2 * r; i++)
		k[i] /= sum;
	return r;
}

/* out = in blurred by the symmetric kernel k (radius r, k[i] = k[2r - i]),
 * mirrored edges; tmp: w*h. Both passes loop over taps outside and pixels
 * inside, so they vectorise, and take the taps in pairs, one multiply for
 * the two that share a weight. */
WIDE static void
blur_sep(const float *in, float *out, float *tmp, int w, int h, const float *k, int r)
{
	float row[w + 2 * r];

	for (int y = 0; y < h; y++) {
		const float *s = in + (size_t)y * w;
		float *d = tmp + (size_t)y * w;
		mirror_row(s, w, r, row);
		for (int x = 0; x < w; x++)
			d[x] = k[r] * row[x + r];
		for (int i = 0; i < r; i++) {
			const float *a = row + i, *b = row + 2 * r - i;
			float kk = k[i];
			for (int x = 0; x < w; x++)
				d[x] += kk * (a[x] + b[x]);
		}
	}
	for (int y = 0; y < h; y++) {
		float *d = out + (size_t)y * w;
		const float *c = tmp + (size_t)y * w;
		for (int x = 0; x < w; x++)
			d[x] = k[r] * c[x];
		for (int i = 1; i <= r; i++) {
			const float *a = tmp + (size_t)refl(y - i, h) * w, *b = tmp + (size_t)refl(y + i, h) * w;
			float kk = k[r + i];
			for (int x = 0; x < w; x++)
				d[x] += kk * (a[x] + b[x]);
		}
	}
}

/* running min/max over radius r, separable; loops over taps outside and
 * pixels inside, so they vectorise */
static void
minmax_sep(const float *in, float *mn, float *mx, float *t1, float *t2, int w, int h, int r)
{
	float row[w + 2 * r];

	for (int y = 0; y < h; y++) {
		const float *s = in + (size_t)y * w;
		float *a = t1 + (size_t)y * w, *c = t2 + (size_t)y * w;
		mirror_row(s, w, r, row);
		for (int x = 0; x < w; x++)
			a[x] = c[x] = row[x];
		for (int i = 1; i <= 2 * r; i++) {
			const float *src = row + i;
			for (int x = 0; x < w; x++) {
				a[x] = src[x] < a[x] ? src[x] : a[x];
				c[x] = src[x] > c[x] ? src[x] : c[x];
			}
		}
	}
	for (int y = 0; y < h; y++) {
		float *a = mn + (size_t)y * w, *c = mx + (size_t)y * w;
		const float *s1 = t1 + (size_t)refl(y - r, h) * w, *s2 = t2 + (size_t)refl(y - r, h) * w;
		for (int x = 0; x < w; x++) {
			a[x] = s1[x];
			c[x] = s2[x];
		}
		for (int i = -r + 1; i <= r; i++) {
			s1 = t1 + (size_t)refl(y + i, h) * w;
			s2 = t2 + (size_t)refl(y + i, h) * w;
			for (int x = 0; x < w; x++) {
				a[x] = s1[x] < a[x] ? s1[x] : a[x];
				c[x] = s2[x] > c[x] ? s2[x] : c[x];
			}
		}
	}
}

/* est (w*h, starting as the guess) sharpened by iters Richardson-Lucy
 * steps against obs under the kernel k of radius r, the correction
 * applied squared (the same result as plain steps in half the time on
 * bench/); bl and tmp: w*h each. */
static void
lucy(const float *obs, float *est, float *bl, float *tmp, int w, int h, const float *k, int r,
    int iters)
{
	size_t n = (size_t)w * (size_t)h;

	for (int it = 0; it < iters; it++) {
		blur_sep(est, bl, tmp, w, h, k, r);
		for (size_t i = 0; i < n; i++)
			bl[i] = obs[i] / (bl[i] > 1e-3f ? bl[i] : 1e-3f);
		blur_sep(bl, bl, tmp, w, h, k, r);
		for (size_t i = 0; i < n; i++)
			est[i] *= bl[i] * bl[i];
	}
}

/* A blur of sigma DEBLUR_HALF or more leaves nothing a deconvolution
 * could bring back above half the pixel rate (a Gaussian of sigma 2
 * keeps 0.7 % of the contrast there), so it is undone on the picture
 * halved (2x2 means, the kernel halved), with half as many steps again:
 * a fifth of the work (a quarter of the pixels, half the taps, 1.5 times
 * the steps). What it brings back (the sharpened half less the halved
 * input) is enlarged bilinearly and added to the input. (--ops deblur on
 * the held-out blurred photos: +2.21 | +1.05 dB with 16 steps in full,
 * +2.20 | +1.06 so; at sigma 3, +1.42 in full, +1.32 halved with 16
 * steps, +1.41 with 24, +1.46 with 32, which made the 12 MP colour-cast
 * chain 15 % slower than 24.) */
#define DEBLUR_HALF 2.0f

/* oh: w*h floats of room, like bl; tmp holds two half pictures, which a
 * band of 4x4 pixels or more leaves room for */
static void
lucy_half(const float *obs, float *est, float *bl, float *tmp, float *oh, int w, int h,
    float sigma, int iters)
{
	int hw = (w + 1) / 2, hh = (h + 1) / 2, r;
	size_t hn = (size_t)hw * (size_t)hh;
	float k[64];

	r = gauss_kernel(sigma / 2, k, 31);
	for (int y = 0; y < hh; y++) {
		const float *a = obs + (size_t)(2 * y) * w;
		const float *c = 2 * y + 1 < h ? a + w : a;
		for (int x = 0; x < hw; x++) {
			int x1 = 2 * x + 1 < w ? 2 * x + 1 : 2 * x;
			oh[(size_t)y * hw + x] = 0.25f * (a[2 * x] + a[x1] + c[2 * x] + c[x1]);
		}
	}
	memcpy(tmp, oh, sizeof(float) * hn);       /* the guess: the input */
	lucy(oh, tmp, bl, tmp + hn, hw, hh, k, r, iters + iters / 2);
	for (size_t i = 0; i < hn; i++)
		oh[i] = tmp[i] - oh[i];
	/* pixel (x, y) lies at ((x - 0.5) / 2, (y - 0.5) / 2) of the half:
	 * an even one a quarter of the way from the half pixel before it to
	 * its own, an odd one a quarter of the way to the next */
	float row[hw + 2];
	for (int y = 0; y < h; y++) {
		int m = y / 2, o = y % 2 ? (m + 1 < hh ? m + 1 : m) : (m > 0 ? m - 1 : 0);
		const float *d0 = oh + (size_t)m * hw, *d1 = oh + (size_t)o * hw;
		const float *s = obs + (size_t)y * w;
		float *e = est + (size_t)y * w;
		for (int x = 0; x < hw; x++)
			row[x + 1] = 0.75f * d0[x] + 0.25f * d1[x];
		row[0] = row[1];
		row[hw + 1] = row[hw];
		for (int x = 0; x < w / 2; x++) {
			e[2 * x] = s[2 * x] + 0.25f * row[x] + 0.75f * row[x + 1];
			e[2 * x + 1] = s[2 * x + 1] + 0.75f * row[x + 1] + 0.25f * row[x + 2];
		}
		if (w % 2)
			e[w - 1] = s[w - 1] + 0.25f * row[hw - 1] + 0.75f * row[hw];
	}
}

/* A straight streak (motion blur) of length len pixels at ang degrees
 * (counter-clockwise from the x axis, y up) as a kernel: the segment
 * sampled finely and each sample shared bilinearly among the four
 * pixels about it; the taps (dx, dy, weight) that are not zero, at most
 * (2 MOTION_R + 1)^2. Point-symmetric, so it is its own adjoint. */
#define MOTION_R 13
struct tap {
	int dx, dy;
	float w;
};

static int
streak_taps(float len, float ang, struct tap *t)
{
	float k[2 * MOTION_R + 1][2 * MOTION_R + 1] = { { 0 } }, sum = 0;
	double c = cos(ang * M_PI / 180), s = -sin(ang * M_PI / 180);
	int ns = 16 * ((int)ceilf(len) + 1), n = 0;

	len = len > 2 * (MOTION_R - 1) ? 2 * (MOTION_R - 1) : len;
	for (int i = 0; i < ns; i++) {
		double u = len * ((i + 0.5) / ns - 0.5), x = MOTION_R + u * c, y = MOTION_R + u * s;
		int x0 = (int)floor(x), y0 = (int)floor(y);
		float fx = (float)(x - x0), fy = (float)(y - y0);
		k[y0][x0] += (1 - fx) * (1 - fy);
		k[y0][x0 + 1] += fx * (1 - fy);
		k[y0 + 1][x0] += (1 - fx) * fy;
		k[y0 + 1][x0 + 1] += fx * fy;
	}
	for (int y = 0; y <= 2 * MOTION_R; y++)
		for (int x = 0; x <= 2 * MOTION_R; x++)
			sum += k[y][x];
	for (int y = 0; y <= 2 * MOTION_R; y++)
		for (int x = 0; x <= 2 * MOTION_R; x++)
			if (k[y][x] > 1e-4f * sum)
				t[n++] = (struct tap){ x - MOTION_R, y - MOTION_R, k[y][x] / sum };
	return n;
}

/* A defocus disk of radius rad as taps: each pixel's share of the disk
 * from 8x8 samples. */
static int
disk_taps(float rad, struct tap *t)
{
	int n = 0, R = (int)ceilf(rad);
	float sum = 0;

	R = R > MOTION_R ? MOTION_R : R;
	for (int y = -R; y <= R; y++)
		for (int x = -R; x <= R; x++) {
			int c = 0;
			for (int sy = 0; sy < 8; sy++)
				for (int sx = 0; sx < 8; sx++) {
					float fx = x + (sx + 0.5f) / 8 - 0.5f, fy = y + (sy + 0.5f) / 8 - 0.5f;
					c += fx * fx + fy * fy <= rad * rad;
				}
			if (c > 0) {
				t[n++] = (struct tap){ x, y, (float)c };
				sum += (float)c;
			}
		}
	for (int i = 0; i < n; i++)
		t[i].w /= sum;
	return n;
}

/* out = in under the taps t[0..nt) (rows taken in order of dy), mirrored
 * edges; out must not be in */
static void
blur_taps(const float *in, float *out, int w, int h, const struct tap *t, int nt)
{
	float row[w + 2 * MOTION_R];

	memset(out, 0, sizeof(float) * (size_t)w * (size_t)h);
	for (int y = 0; y < h; y++) {
		float *d = out + (size_t)y * w;
		for (int i = 0; i < nt; ) {
			int dy = t[i].dy;
			mirror_row(in + (size_t)refl(y + dy, h) * w, w, MOTION_R, row);
			for (; i < nt && t[i].dy == dy; i++) {
				const float *a = row + MOTION_R + t[i].dx;
				float kk = t[i].w;
				for (int x = 0; x < w; x++)
					d[x] += kk * a[x];
			}
		}
	}
}

/* lucy() under taps (a streak, a disk: both their own adjoint) */
static void
lucy_taps(const float *obs, float *est, float *bl, float *tmp, int w, int h,
    const struct tap *t, int nt, int iters)
{
	size_t n = (size_t)w * (size_t)h;

	for (int it = 0; it < iters; it++) {
		blur_taps(est, bl, w, h, t, nt);
		for (size_t i = 0; i < n; i++)
			bl[i] = obs[i] / (bl[i] > 1e-3f ? bl[i] : 1e-3f);
		blur_taps(bl, tmp, w, h, t, nt);
		for (size_t i = 0; i < n; i++)
			est[i] *= tmp[i] * tmp[i];
	}
}

/* Up to this many pixels, a streak's or a disk's deblur runs on each
 * channel, not on luma alone (the held-out blur_motion row +2.99 | +2.80
 * -> +3.45 | +3.11 dB, blur_disk +2.12 | +1.73 -> +2.36 | +1.87); above
 * it, as deblock's chroma means, it would cost three times as much. */
#define DEBLUR_RGB_MAX 4e6

int
flt_deblur(const struct step *st, struct band *b)
{
	int w = b->w, h = b->h, r, rc = EX_OSERR;
	size_t n = (size_t)w * (size_t)h;
	float k[64], *est = NULL, *bl = NULL, *tmp = NULL, *mn = NULL, *mx = NULL;

	struct tap taps[(2 * MOTION_R + 1) * (2 * MOTION_R + 1)];
	int nt = st->mlen > 0 ? streak_taps(st->mlen, st->mang, taps) :
	    st->drad > 0 ? disk_taps(st->drad, taps) : 0;

	if ((nt == 0 && st->sigma < 0.3f) || st->iters <= 0)
		return 0;
	r = nt == 0 ? gauss_kernel(st->sigma, k, 31) : 0;
	if ((est = malloc(sizeof(float) * n)) == NULL || (bl = malloc(sizeof(float) * n)) == NULL ||
	    (tmp = malloc(sizeof(float) * n)) == NULL || (mn = malloc(sizeof(float) * n)) == NULL ||
	    (mx = malloc(sizeof(float) * n)) == NULL)
		goto out;
	/* luma only: a Gaussian hides little colour, and it costs a third;
	 * a streak or a disk smears the colour along with the luma, and up
	 * to DEBLUR_RGB_MAX pixels each channel is deconvolved */
	int np = b->nc == 3 && (nt == 0 || (double)w * b->img_h > DEBLUR_RGB_MAX) ? 1 : b->nc;
	if (np != b->nc)
		rgb_to_ycc(b);
	for (int c = 0; c < np; c++) {
		float *obs = b->p[c];
		for (size_t i = 0; i < n; i++)
			est[i] = obs[i] = clampf(obs[i], 0, 255) + 1;
		if (nt > 0)
			lucy_taps(obs, est, bl, tmp, w, h, taps, nt, st->iters);
		else if (st->sigma >= DEBLUR_HALF && w >= 4 && h >= 4)   /* mn lends its room */
			lucy_half(obs, est, bl, tmp, mn, w, h, st->sigma, st->iters);
		else
			lucy(obs, est, bl, tmp, w, h, k, r, st->iters);
		/* no halos: stay inside the input's local range */
		minmax_sep(obs, mn, mx, bl, tmp, w, h, st->mlen > 0 ? (int)ceilf(st->mlen / 2) + 1 :
		    st->drad > 0 ? (int)ceilf(st->drad) + 1 : (int)ceilf(st->sigma * 1.5f));
		for (size_t i = 0; i < n; i++)
			obs[i] = clampf(est[i], mn[i], mx[i]) - 1;
	}
	if (np != b->nc)
		ycc_to_rgb(b);
	rc = 0;
out:
	free(est);
	free(bl);
	free(tmp);
	free(mn);
	free(mx);
	return rc;
}

/* ---- upscaling ---- */

static float
cubic(float x)
{
	x = fabsf(x);
	if (x < 1)
		return (1.5f * x - 2.5f) * x * x + 1;
	if (x < 2)
		return ((-0.5f * x + 2.5f) * x - 4) * x + 2;
	return 0;
}

/* bicubic resize of plane in (w×h) to out (w*s × h*s), pixel centres aligned */
static void
up_cubic(const float *in, int w, int h, int s, float *out)
{
	int ow = w * s, oh = h * s;
	for (int oy = 0; oy < oh; oy++) {
		float fy = (oy + 0.5f) / s - 0.5f;
		int iy = (int)floorf(fy);
		float ky[4];
		for (int j = 0; j < 4; j++)
			ky[j] = cubic(fy - (float)(iy - 1 + j));
		for (int ox = 0; ox < ow; ox++) {
			float fx = (ox + 0.5f) / s - 0.5f;
			int ix = (int)floorf(fx);
			float a = 0;
			for (int j = 0; j < 4; j++) {
				const float *row = in + (size_t)refl(iy - 1 + j, h) * w;
				float r = 0;
				for (int i = 0; i < 4; i++)
					r += cubic(fx - (float)(ix - 1 + i)) * row[refl(ix - 1 + i, w)];
				a += ky[j] * r;
			}
			out[(size_t)oy * ow + ox] = a;
		}
	}
}

int
flt_upscale(const struct step *st, const struct band *b, float *out[3])
{
	int s = st->scale, w = b->w, h = b->h, ow = w * s, oh = h * s;
	size_t n = (size_t)w * (size_t)h, on = (size_t)ow * (size_t)oh;
	float *err = NULL, *up = NULL;
	int rc = EX_OSERR;

	if ((err = malloc(sizeof(float) * n)) == NULL || (up = malloc(sizeof(float) * on)) == NULL)
		goto out;
	for (int c = 0; c < b->nc; c++) {
		up_cubic(b->p[c], w, h, s, out[c]);
		for (int it = 0; it < 3; it++) {
			for (int y = 0; y < h; y++)
				for (int x = 0; x < w; x++) {
					float a = 0;
					for (int j = 0; j < s; j++)
						for (int i = 0; i < s; i++)
							a += out[c][(size_t)(y * s + j) * ow + x * s + i];
					err[(size_t)y * w + x] = b->p[c][(size_t)y * w + x] - a / (float)(s * s);
				}
			up_cubic(err, w, h, s, up);
			for (size_t i = 0; i < on; i++)
				out[c][i] += up[i];
		}
	}
	rc = 0;
out:
	free(err);
	free(up);
	return rc;
}

int
flt_margin(const struct step *st)
{
	int m;

	switch (st->op) {
	case RESTORE_DENOISE: m = 24; break;   /* see WN_STEP */
	case RESTORE_DEBLOCK: m = 40; break;
	case RESTORE_DESCRATCH: m = 24; break;
	case RESTORE_DEBLUR:
		m = (int)ceilf(st->mlen > 0 ? st->mlen : st->drad > 0 ? 2 * st->drad : 3 * st->sigma) * 2 + 8;
		break;
	case RESTORE_UPSCALE: m = 16; break;
	default: m = 0;
	}
	return (m + 7) / 8 * 8;
}
