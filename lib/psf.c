/* psf.c: a blur's kernel read from the power spectrum (psf.h). */
#include <math.h>
#include <stddef.h>

#include "psf.h"

#define N PSF_N

/* in-place radix-2 FFT of the N complex values re[0..N), im[0..N);
 * rev: the bit-reversed order, twr/twi: the N / 2 twiddles exp(-2 pi i
 * k / N) */
static void
fft(double *re, double *im, const int *rev, const double *twr, const double *twi)
{
	for (int i = 0; i < N; i++) {
		int j = rev[i];
		if (i < j) {
			double t = re[i];
			re[i] = re[j];
			re[j] = t;
			t = im[i];
			im[i] = im[j];
			im[j] = t;
		}
	}
	for (int len = 2, sh = N / 2; len <= N; len <<= 1, sh >>= 1)
		for (int i = 0; i < N; i += len)
			for (int k = 0; k < len / 2; k++) {
				int u = i + k, v = u + len / 2;
				double cr = twr[k * sh], ci = twi[k * sh];
				double xr = re[v] * cr - im[v] * ci, xi = re[v] * ci + im[v] * cr;
				re[v] = re[u] - xr;
				im[v] = im[u] - xi;
				re[u] += xr;
				im[u] += xi;
			}
}

static void
transpose(double *a)
{
	for (int y = 0; y < N; y++)
		for (int x = y + 1; x < N; x++) {
			double t = a[y * N + x];
			a[y * N + x] = a[x * N + y];
			a[x * N + y] = t;
		}
}

/* the 2-D transform: rows, then (transposed, so as rows again) columns */
static void
fft2(double *re, double *im)
{
	double twr[N / 2], twi[N / 2];
	int rev[N];

	for (int k = 0; k < N / 2; k++) {
		twr[k] = cos(-2 * M_PI * k / N);
		twi[k] = sin(-2 * M_PI * k / N);
	}
	for (int i = 0; i < N; i++) {
		rev[i] = 0;
		for (int b = 1, r = N / 2; b < N; b <<= 1, r >>= 1)
			if (i & b)
				rev[i] |= r;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (int y = 0; y < N; y++)
			fft(re + y * N, im + y * N, rev, twr, twi);
		transpose(re);
		transpose(im);
	}
}

/* the window at (x0, y0) of p, less its mean, Hann-weighted, into w */
static void
window(const float *p, size_t s, int x0, int y0, const double *hann, double *w)
{
	double mean = 0;

	for (int y = 0; y < N; y++)
		for (int x = 0; x < N; x++)
			mean += p[(size_t)(y0 + y) * s + x0 + x];
	mean /= N * N;
	for (int y = 0; y < N; y++)
		for (int x = 0; x < N; x++)
			w[y * N + x] = (p[(size_t)(y0 + y) * s + x0 + x] - mean) * hann[y] * hann[x];
}

void
psf_add(struct psf_acc *a, const float *p, int w, int h, size_t s, int max_win)
{
	double re[N * N], im[N * N], hann[N];
	int step = N / 2, pend = 0;

	if (w < N || h < N)
		return;
	while (max_win > 0 && (double)((w - N) / step + 1) * ((h - N) / step + 1) > max_win)
		step += N / 4;
	for (int i = 0; i < N; i++)
		hann[i] = 0.5 - 0.5 * cos(2 * M_PI * (i + 0.5) / N);
	/* two windows a transform, one real and one imaginary: with X the
	 * transform of a + i b, A(k) = (X(k) + X*(-k)) / 2 and B(k) =
	 * (X(k) - X*(-k)) / 2i */
	for (int y0 = 0; y0 + N <= h; y0 += step)
		for (int x0 = 0; x0 + N <= w; x0 += step) {
			window(p, s, x0, y0, hann, pend ? im : re);
			if (!pend) {
				pend = 1;
				continue;
			}
			pend = 0;
			fft2(re, im);
			for (int ky = 0; ky < N; ky++)
				for (int kx = 0; kx < N; kx++) {
					int k = ky * N + kx, m = ((N - ky) % N) * N + (N - kx) % N;
					double ar = re[k] + re[m], ai = im[k] - im[m];
					double br = im[k] + im[m], bi = re[m] - re[k];
					a->p[k] += 0.25 * (ar * ar + ai * ai + br * br + bi * bi);
				}
			a->n += 2;
		}
	if (pend) {
		for (int k = 0; k < N * N; k++)
			im[k] = 0;
		fft2(re, im);
		for (int k = 0; k < N * N; k++)
			a->p[k] += re[k] * re[k] + im[k] * im[k];
		a->n++;
	}
}

/* lp = the log of the mean power spectrum, floored at a thousandth of
 * its mean; 0, or -1 if nothing was added or it is all zero */
static int
log_power(const struct psf_acc *a, double *lp)
{
	double mean = 0;

	if (a->n == 0)
		return -1;
	for (int k = 0; k < N * N; k++)
		mean += a->p[k];
	mean /= N * N;
	if (!(mean > 0))
		return -1;
	for (int k = 0; k < N * N; k++)
		lp[k] = log(a->p[k] + 1e-3 * mean);
	return 0;
}

/* the cepstrum's value at offset (dx, dy) from the origin, dy down */
static double
at(const double *c, int dx, int dy)
{
	return c[((dy + N) % N) * N + (dx + N) % N];
}

/* The log power on the line of frequencies f.u = 1/len (a streak of
 * that length along u puts its first zero there) less that on the lines
 * halfway to its neighbours, f.u = 0.5/len and 1.5/len. */
static double
zero_line(const double *lp, double len, double ux, double uy)
{
	double lz = 0, lb = 0;
	int nz = 0, nb = 0;

	for (int ky = -N / 2; ky < N / 2; ky++)
		for (int kx = -N / 2; kx < N / 2; kx++) {
			double t = fabs(len * (kx * ux + ky * uy) / N);
			double v = lp[((ky + N) % N) * N + (kx + N) % N];
			if (fabs(t - 1) < 0.15) {
				lz += v;
				nz++;
			} else if (fabs(t - 0.5) < 0.15 || fabs(t - 1.5) < 0.15) {
				lb += v;
				nb++;
			}
		}
	return nz && nb ? lz / nz - lb / nb : 0;
}

int
motion_find(const struct psf_acc *a, struct motion *m)
{
	double lp[N * N], re[N * N], im[N * N];

	m->length = m->angle = m->peak = m->zero = m->zero_across = 0;
	if (log_power(a, lp) != 0)
		return a->n == 0 ? -1 : 0;
	for (int k = 0; k < N * N; k++) {
		re[k] = lp[k];
		im[k] = 0;
	}
	fft2(re, im);            /* real and even: its own inverse, times N*N */
	for (int k = 0; k < N * N; k++)
		re[k] /= N * N;
	/* the deepest point of the upper half plane between MOTION_MIN and
	 * MOTION_MAX from the origin (the cepstrum is symmetric) */
	int R = (int)MOTION_MAX, bx = 0, by = 0;
	double best = 0;
	for (int dy = -R; dy <= 0; dy++)
		for (int dx = -R; dx <= R; dx++) {
			double r = hypot(dx, dy);
			if (r < MOTION_MIN || r > MOTION_MAX || (dy == 0 && dx < 0))
				continue;
			double v = at(re, dx, dy);
			if (v < best) {
				best = v;
				bx = dx;
				by = dy;
			}
		}
	if (best >= 0)
		return 0;
	/* the centre of the dip: its negative values about the deepest */
	double sw = 0, sx = 0, sy = 0;
	for (int dy = -1; dy <= 1; dy++)
		for (int dx = -1; dx <= 1; dx++) {
			double v = -at(re, bx + dx, by + dy);
			if (v > 0) {
				sw += v;
				sx += v * (bx + dx);
				sy += v * (by + dy);
			}
		}
	double fx = sx / sw, fy = sy / sw, len = hypot(fx, fy);
	m->angle = fmod(atan2(-fy, fx) * 180 / M_PI + 360, 180);
	m->peak = best;
	m->zero = zero_line(lp, len, fx / len, fy / len);
	m->zero_across = zero_line(lp, len, -fy / len, fx / len);
	/* the centre of a dip at the search's edge may lie just past it */
	m->length = fmin(len, MOTION_MAX);
	return 0;
}

int
motion_sure(const struct motion *m)
{
	return m->length >= MOTION_SURE_LEN && m->peak <= MOTION_PEAK && m->zero <= MOTION_ZERO &&
	    m->zero - m->zero_across <= -MOTION_ACROSS;
}

int
disk_find(const struct psf_acc *a, struct disk *d)
{
	double lp[N * N], rho[N * N];
	signed char sec[N * N];           /* 0..3: within 22.5 degrees of 0, 45, 90, 135 */

	d->radius = 0;
	d->rise = -1;
	if (log_power(a, lp) != 0)
		return a->n == 0 ? -1 : 0;
	for (int ky = -N / 2; ky < N / 2; ky++)
		for (int kx = -N / 2; kx < N / 2; kx++) {
			int k = ((ky + N) % N) * N + (kx + N) % N;
			double t = fmod(atan2(ky, kx) + M_PI / 8 + 2 * M_PI, M_PI);
			rho[k] = hypot(kx, ky);
			sec[k] = (signed char)(t / (M_PI / 4)) & 3;
		}
	/* for each radius, in each quarter of directions: the mean log power
	 * within 0.75 bins of the first zero's ring and of the ring 1.3
	 * times as far out; the rise is the worst quarter's difference */
	for (int i = 0; DISK_MIN + 0.1 * i <= DISK_MAX + 1e-9; i++) {
		double r = DISK_MIN + 0.1 * i, z = 0.61 * N / r, worst = 1e9;
		double in[4] = { 0 }, out[4] = { 0 };
		int nin[4] = { 0 }, nout[4] = { 0 };
		if (1.3 * z > N / 2 - 1)
			continue;
		for (int k = 0; k < N * N; k++) {
			if (fabs(rho[k] - z) < 0.75) {
				in[sec[k]] += lp[k];
				nin[sec[k]]++;
			} else if (fabs(rho[k] - 1.3 * z) < 0.75) {
				out[sec[k]] += lp[k];
				nout[sec[k]]++;
			}
		}
		for (int q = 0; q < 4; q++) {
			double v = (nout[q] ? out[q] / nout[q] : 0) - (nin[q] ? in[q] / nin[q] : 0);
			worst = v < worst ? v : worst;
		}
		if (worst > d->rise) {
			d->rise = worst;
			d->radius = r;
		}
	}
	return 0;
}

int
disk_sure(const struct disk *d)
{
	return d->rise >= DISK_RISE;
}
