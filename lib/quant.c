/* quant.c: the luma table of a JPEG that was decoded and saved again
 * (as PNG), measured on its pixels.
 *
 * Each 8x8 block of the (0, 0) grid, its luma recomputed from RGB, has
 * DCT coefficients near multiples of the table's steps (off by the
 * rounding of the decoded pixels, about 0.3). For each coefficient the
 * step is the largest q (3..255) that puts at least 60 % of the
 * sampled values over 2.5 within 0.8 of a multiple of q (the DC, which
 * a flat block's rounding moves by up to 4, within 2.0 and 50 %), and
 * at least twice the share chance would give; then q/2 or q/3 if it
 * fits 1.6 times as many (values that are even multiples of the step
 * fit twice the step). Blocks with a clipped channel (0 or 255) are
 * left out: clipping moves every coefficient. Steps not measured (too
 * few values, as high frequencies that JPEG cut everywhere) come from
 * the IJG table scaled by the median ratio of those measured; at least
 * four AC steps must be measured.
 *
 * A picture that never was a JPEG, or was cropped off the grid, resized
 * or re-noised since, has coefficients spread evenly about any step:
 * no step fits twice chance's share, and nothing is measured. The fit
 * is counted on each coefficient's sorted magnitudes (a radix sort), a
 * window about each multiple, given up once it cannot reach the share
 * asked, so trying every step costs little next to the transforms. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

const uint16_t quant_ijg_luma[64] = {
	16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
	14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
	18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
	49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99 };

const uint16_t quant_ijg_chroma[64] = {
	17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
	24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99 };

void
quant_scaled(const uint16_t base[64], int quality, uint16_t q[64])
{
	long s = quality < 1 ? 5000 : quality < 50 ? 5000 / quality : 200 - 2 * quality;
	if (quality > 100)
		s = 0;
	for (int i = 0; i < 64; i++) {
		long v = ((long)base[i] * s + 50) / 100;
		q[i] = (uint16_t)(v < 1 ? 1 : v > 255 ? 255 : v);
	}
}

#define QM_VALUES 2000        /* values per coefficient, at most */

static int
cmpf(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

long
quant_nblocks(int x0, int y0, int w, int h)
{
	long nx = (x0 + w) / 8 - (x0 + 7) / 8, ny = (y0 + h) / 8 - (y0 + 7) / 8;
	return nx > 0 && ny > 0 ? nx * ny : 0;
}

int
quant_add(struct quant *qa, const uint8_t *px, size_t stride, int ch,
    int x0, int y0, int w, int h, long every)
{
	int gx = (x0 + 7) / 8, gy = (y0 + 7) / 8, bw = (x0 + w) / 8 - gx;
	long nb = quant_nblocks(x0, y0, w, h);
	double cs[8][8];

	if (nb <= 0)
		return 0;
	if (every < 1)
		every = 1;
	if (qa->n + nb / every + 1 > qa->cap) {
		int cap = qa->n + (int)(nb / every) + 1;
		float *co = realloc(qa->co, sizeof(float) * 64 * (size_t)cap);
		if (co == NULL)
			return -1;
		qa->co = co;
		qa->cap = cap;
	}
	for (int u = 0; u < 8; u++)
		for (int x = 0; x < 8; x++)
			cs[u][x] = (u == 0 ? sqrt(0.125) : 0.5) * cos((2 * x + 1) * u * M_PI / 16);
	for (long i = 0; i < nb; i += every) {
		int bx = (gx + (int)(i % bw)) * 8 - x0, by = (gy + (int)(i / bw)) * 8 - y0, clip = 0;
		double y[8][8], t[8][8];
		for (int r = 0; r < 8; r++) {
			const uint8_t *p = px + (size_t)(by + r) * stride + (size_t)bx * ch;
			for (int c = 0; c < 8; c++, p += ch)
				if (ch >= 3) {
					clip |= p[0] == 0 || p[0] == 255 || p[1] == 0 || p[1] == 255 ||
					    p[2] == 0 || p[2] == 255;
					y[r][c] = 0.299 * (float)p[0] + 0.587 * (float)p[1] +
					    0.114 * (float)p[2] - 128;
				} else {
					clip |= p[0] == 0 || p[0] == 255;
					y[r][c] = 0.299 * (float)p[0] + 0.587 * (float)p[0] +
					    0.114 * (float)p[0] - 128;
				}
		}
		if (clip)
			continue;
		for (int r = 0; r < 8; r++)
			for (int u = 0; u < 8; u++) {
				double a = 0;
				for (int c = 0; c < 8; c++)
					a += cs[u][c] * y[r][c];
				t[r][u] = a;
			}
		float *o = qa->co + (size_t)qa->n * 64;
		for (int v = 0; v < 8; v++)
			for (int u = 0; u < 8; u++) {
				double a = 0;
				for (int r = 0; r < 8; r++)
					a += cs[v][r] * t[r][u];
				o[v * 8 + u] = (float)a;
			}
		qa->n++;
	}
	return 0;
}

/* Sort a[0..n) (non-negative, so their bits order as integers), by
 * four passes of a byte through tmp (a pass all in one bucket skipped):
 * qsort cost more than the fit. */
static void
sort_mag(float *a, float *tmp, int n)
{
	float *src = a, *dst = tmp;

	for (int sh = 0; sh < 32; sh += 8) {
		int cnt[257] = { 0 };
		for (int i = 0; i < n; i++) {
			uint32_t b;
			memcpy(&b, &src[i], sizeof b);
			cnt[((b >> sh) & 255) + 1]++;
		}
		int one = 0;
		for (int i = 0; i < 256; i++) {
			one |= cnt[i + 1] == n;
			cnt[i + 1] += cnt[i];
		}
		if (one)
			continue;
		for (int i = 0; i < n; i++) {
			uint32_t b;
			memcpy(&b, &src[i], sizeof b);
			dst[cnt[(b >> sh) & 255]++] = src[i];
		}
		float *t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, sizeof(float) * (size_t)n);
}

/* the first of a[0..n) (ascending) not below x */
static int
lower(const float *a, int n, float x)
{
	int lo = 0, hi = n;

	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (a[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* the share of a[0..n) (magnitudes, ascending) within tol of a multiple
 * of c: a window about each multiple; 0 once it can no longer reach
 * need */
static float
lattice_fit(const float *a, int n, int c, float tol, float need)
{
	int hit = 0, j = 0;

	if (2 * tol >= c)
		return 1;
	for (int m = 0; j < n && (float)(m * c) - tol <= a[n - 1]; m++) {
		/* a little wider, each value then tested as it always was */
		float lo = (float)(m * c) - tol - 0.01f, hi = (float)(m * c) + tol + 0.01f;
		for (j = lower(a + j, n - j, lo) + j; j < n && a[j] <= hi; j++)
			hit += fabsf(a[j] - c * roundf(a[j] / c)) <= tol;
		if ((float)(hit + n - j) < need * (float)n)
			return 0;
	}
	return (float)hit / (float)n;
}

int
quant_table(const struct quant *qa, uint16_t q[64])
{
	int got = 0, meas[64] = { 0 };
	float ratio[64], vals[QM_VALUES], tmp[QM_VALUES];

	for (int k = 0; k < 64; k++) {
		float tol = k == 0 ? 2.0f : 0.8f, need = k == 0 ? 0.5f : 0.6f;
		int n = 0;
		for (int i = 0; i < qa->n && n < QM_VALUES; i++)
			if (fabsf(qa->co[(size_t)i * 64 + k]) > 2.5f)
				vals[n++] = fabsf(qa->co[(size_t)i * 64 + k]);
		if (n < 16)
			continue;
		sort_mag(vals, tmp, n);
		for (int c = 255; c >= 3; c--) {
			float chance = (2 * tol + 0.001f) / c, least = 2 * (chance < 1 ? chance : 1);
			least = least > need ? least : need;
			if (least > 1)
				continue;
			float f = lattice_fit(vals, n, c, tol, least);
			if (f >= least) {
				/* a multiple of the step fits the values that are
				 * its multiples: half of them for twice the step */
				for (int m = 2; m <= 3; m++)
					while (c % m == 0 && c / m >= 3 &&
					    lattice_fit(vals, n, c / m, tol, 1.6f * f) >= 1.6f * f) {
						c /= m;
						f = lattice_fit(vals, n, c, tol, 0);
					}
				q[k] = (uint16_t)c;
				meas[k] = 1;
				if (k > 0)     /* the DC's measure is the weaker */
					ratio[got++] = 100.0f * (float)c / quant_ijg_luma[k];
				break;
			}
		}
	}
	if (got < 4)
		return 0;
	qsort(ratio, (size_t)got, sizeof ratio[0], cmpf);
	float sc = got % 2 ? ratio[got / 2] : 0.5f * (ratio[got / 2 - 1] + ratio[got / 2]);
	for (int k = 0; k < 64; k++)
		if (!meas[k]) {
			long v = lroundf(quant_ijg_luma[k] * sc / 100);
			q[k] = (uint16_t)(v < 1 ? 1 : v > 255 ? 255 : v);
		}
	return 1;
}

void
quant_free(struct quant *qa)
{
	free(qa->co);
	memset(qa, 0, sizeof *qa);
}
