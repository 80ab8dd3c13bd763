/* restore_est.c: measurements the local engine needs when the plan does
 * not carry them. Each looks at the whole 8-bit image, or at a sample of
 * it on large images, and is cheap next to the filters.
 *
 * noise  Immerkær's Laplacian-difference residual per 16x16 block, in
 *        the opponent planes the denoiser uses; the 10th percentile of
 *        the block estimates (flat blocks tell the noise, textured ones
 *        only add), corrected for that percentile's bias. Its level
 *        function (est_nlf) and chroma blotches (est_chroma) too.
 * blur   reblur ratio at edges (Hu and de Haan): a Gaussian edge of
 *        width s keeps a fraction s/sqrt(s²+r²) of its gradient peak
 *        when blurred again by r, so the ratio tells s.
 * jpeg   the file's own luma table when there is one; then the table
 *        measured on the pixels of a decoded JPEG (quant.c);
 *        otherwise a table for the quality that the 8x8 boundary steps
 *        suggest.
 * levels black and white points: the extremes of the darkest and
 *        brightest channel, or their 0.02 and 99.98 percentiles after
 *        denoising or descratching, whose leftovers would pass for them
 *        (wider cuts lost 2 to 5 dB on bench/'s faded photos).
 * cast   grey-world over mid-tone pixels, refined on the pixels that
 *        the first estimate makes near-neutral; a picture whose colour
 *        is one tint proportional to luma is toned, not cast.
 * sepia  a colour photo toned as a blend toward a sepia monochrome of
 *        itself: the blend's strength from the chroma along the usual
 *        sepia tint (grey edge and grey world), held to what keeps the
 *        picture within black and white once undone (see est_sepia). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "psf.h"
#include "quant.h"
#include "restore.h"
#include "restore_int.h"

static int
cmpf(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

static void
pix(const struct img *im, int x, int y, float v[3])
{
	const uint8_t *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x) * (size_t)im->ch;
	if (im->ch >= 3) {
		v[0] = p[0];
		v[1] = p[1];
		v[2] = p[2];
	} else
		v[0] = v[1] = v[2] = p[0];
}

/* plane k of the opponent space (gray: the value) at x, y */
static float
opp(const struct img *im, int x, int y, int k)
{
	float v[3];
	pix(im, x, y, v);
	if (im->ch < 3)
		return v[0];
	switch (k) {
	case 0: return (v[0] + v[1] + v[2]) * 0.57735027f;
	case 1: return (v[0] - v[2]) * 0.70710678f;
	default: return (v[0] - 2 * v[1] + v[2]) * 0.40824829f;
	}
}

float
est_noise(const struct img *im, float nsig[3])
{
	int nc = im->ch >= 3 ? 3 : 1, bs = 16;
	int bw = (im->w - 2) / bs, bh = (im->h - 2) / bs;
	long nb = (long)bw * bh, step = 1;
	float *sb, s2 = 0;

	nsig[0] = nsig[1] = nsig[2] = 0;
	if (bw < 1 || bh < 1)
		return 0;
	while (nb / step > 20000)
		step++;
	if ((sb = malloc(sizeof(float) * (size_t)(nb / step + 1))) == NULL)
		return 0;
	for (int k = 0; k < nc; k++) {
		long n = 0;
		for (long b = 0; b < nb; b += step) {
			int bx = (int)(b % bw) * bs + 1, by = (int)(b / bw) * bs + 1;
			double s = 0;
			float o[bs + 2][bs + 2];      /* the block and a pixel around */
			for (int y = 0; y < bs + 2; y++)
				for (int x = 0; x < bs + 2; x++)
					o[y][x] = opp(im, bx - 1 + x, by - 1 + y, k);
			for (int y = 1; y <= bs; y++)
				for (int x = 1; x <= bs; x++) {
					float r = 4 * o[y][x]
					    - 2 * (o[y][x - 1] + o[y][x + 1] + o[y - 1][x] + o[y + 1][x])
					    + o[y - 1][x - 1] + o[y - 1][x + 1] +
					    o[y + 1][x - 1] + o[y + 1][x + 1];
					s += (double)r * r;
				}
			sb[n++] = (float)sqrt(s / (bs * bs) / 36.0);
		}
		qsort(sb, (size_t)n, sizeof sb[0], cmpf);
		/* p10 of a chi over 256 samples sits about 6% low */
		nsig[k] = sb[n / 10] / 0.94f;
		/* 8-bit rounding adds 1/12 of variance per plane */
		nsig[k] = nsig[k] * nsig[k] > 0.09f ? sqrtf(nsig[k] * nsig[k] - 0.08f) : 0;
		s2 += nsig[k] * nsig[k];
	}
	free(sb);
	return nc == 3 ? sqrtf(s2 / 3) : nsig[0];
}

/* luma of a tile into buf (tw×th), from (x0, y0) */
static void
tile_luma(const struct img *im, int x0, int y0, int tw, int th, float *buf)
{
	for (int y = 0; y < th; y++)
		for (int x = 0; x < tw; x++) {
			float v[3];
			pix(im, x0 + x, y0 + y, v);
			buf[y * tw + x] = 0.299f * v[0] + 0.587f * v[1] + 0.114f * v[2];
		}
}

static void
blur1(const float *in, float *out, float *tmp, int w, int h, float s)
{
	float k[32], sum = 0;
	int r = (int)ceilf(3 * s);
	for (int i = -r; i <= r; i++)
		sum += k[i + r] = expf(-(float)(i * i) / (2 * s * s));
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			float a = 0;
			for (int i = -r; i <= r; i++) {
				int xx = x + i < 0 ? -x - i - 1 : x + i >= w ? 2 * w - x - i - 1 : x + i;
				a += k[i + r] * in[y * w + xx];
			}
			tmp[y * w + x] = a / sum;
		}
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			float a = 0;
			for (int i = -r; i <= r; i++) {
				int yy = y + i < 0 ? -y - i - 1 : y + i >= h ? 2 * h - y - i - 1 : y + i;
				a += k[i + r] * tmp[yy * w + x];
			}
			out[y * w + x] = a / sum;
		}
}

int
est_psf(const struct img *im, float *len, float *ang, float *rad)
{
	const int N = PSF_N, cap = 1024;       /* windows read at most */
	struct psf_acc *a = calloc(1, sizeof *a);
	struct motion m;
	struct disk d;
	float *l = malloc(sizeof(float) * (size_t)im->w * N);
	int cols = im->w >= N ? (im->w - N) / (N / 2) + 1 : 0, ystep = N / 2, rc = -1;

	*len = *ang = *rad = 0;
	if (a == NULL || l == NULL)
		goto out;
	/* rows of windows spread out until they hold cap, or one window each */
	while (im->h >= N && (double)((im->h - N) / ystep + 1) * cols > cap && ystep < im->h)
		ystep += N / 4;
	for (int y0 = 0; y0 + N <= im->h; y0 += ystep) {
		tile_luma(im, 0, y0, im->w, N, l);
		psf_add(a, l, im->w, N, (size_t)im->w, cap / ((im->h - N) / ystep + 1) + 1);
	}
	rc = 0;
	if (motion_find(a, &m) == 0 && motion_sure(&m)) {
		*len = (float)m.length;
		*ang = (float)m.angle;
		rc = 1;
	} else if (disk_find(a, &d) == 0 && disk_sure(&d)) {
		*rad = (float)d.radius;
		rc = 2;
	}
out:
	free(a);
	free(l);
	return rc;
}

float
est_blur(const struct img *im)
{
	const int T = 128;
	const float sr = 2.0f;
	int nx = im->w / T, ny = im->h / T, stepx = 1, stepy = 1, tw, th;
	float *l = NULL, *lb = NULL, *tmp = NULL, *gv = NULL, *rv = NULL, res = 0;
	size_t n = 0, cap = 0;

	if (nx < 1 || ny < 1) {       /* small image: one tile */
		nx = ny = 1;
	}
	while ((nx / stepx) * (ny / stepy) > 64) {
		stepx++;
		stepy++;
	}
	tw = nx == 1 && im->w < T ? im->w : T;
	th = ny == 1 && im->h < T ? im->h : T;
	if (tw < 16 || th < 16)
		return 0;
	cap = (size_t)((nx + stepx - 1) / stepx) * (size_t)((ny + stepy - 1) / stepy) * (size_t)tw * (size_t)th;
	if ((l = malloc(sizeof(float) * (size_t)tw * th)) == NULL ||
	    (lb = malloc(sizeof(float) * (size_t)tw * th)) == NULL ||
	    (tmp = malloc(sizeof(float) * (size_t)tw * th)) == NULL ||
	    (gv = malloc(sizeof(float) * cap)) == NULL || (rv = malloc(sizeof(float) * cap)) == NULL)
		goto out;
	for (int ty = 0; ty < ny; ty += stepy)
		for (int tx = 0; tx < nx; tx += stepx) {
			tile_luma(im, tx * tw, ty * th, tw, th, l);
			blur1(l, lb, tmp, tw, th, sr);
			for (int y = 2; y < th - 2; y++)
				for (int x = 2; x < tw - 2; x++) {
					int i = y * tw + x;
					float gx = l[i + 1] - l[i - 1], gy = l[i + tw] - l[i - tw];
					float g = gx * gx + gy * gy;
					/* a local maximum across the edge */
					int horiz = fabsf(gx) >= fabsf(gy);
					int o = horiz ? 1 : tw;
					float ga = horiz ? l[i + 2] - l[i] : l[i + 2 * tw] - l[i];
					float gb = horiz ? l[i] - l[i - 2] : l[i] - l[i - 2 * tw];
					float gc = horiz ? gx : gy;
					(void)o;
					if (fabsf(gc) < fabsf(ga) || fabsf(gc) < fabsf(gb) || g < 16)
						continue;
					float bx = lb[i + 1] - lb[i - 1], by = lb[i + tw] - lb[i - tw];
					gv[n] = g;
					rv[n] = sqrtf(g / (bx * bx + by * by + 1e-6f));
					n++;
				}
		}
	if (n < 20)
		goto out;
	{	/* the strongest 10% of edges */
		float *sorted = tmp;
		size_t m = 0;
		float *gs = malloc(sizeof(float) * n);
		if (gs == NULL)
			goto out;
		memcpy(gs, gv, sizeof(float) * n);
		qsort(gs, n, sizeof(float), cmpf);
		float thr = gs[n - n / 10 - 1];
		free(gs);
		(void)sorted;
		for (size_t i = 0; i < n; i++)
			if (gv[i] >= thr)
				rv[m++] = rv[i];
		qsort(rv, m, sizeof(float), cmpf);
		float r = rv[m / 2];
		/* discrete gradients of a sharp edge already spread over ~1 px */
		res = r > 1.0001f ? sr / sqrtf(r * r - 1) : 10;
		res = sqrtf(res * res > 0.36f ? res * res - 0.36f : 0);
	}
out:
	free(l);
	free(lb);
	free(tmp);
	free(gv);
	free(rv);
	return res;
}

void
est_quant_table(int quality, uint16_t q[64])
{
	quant_scaled(quant_ijg_luma, quality, q);
}

/* The luma table of a JPEG that was decoded and saved again (as PNG),
 * measured on every block of the grid, or an even sample of QUANT_BLOCKS
 * of them (quant.c). 1 with q filled, else 0. */
static int
est_quant_measured(const struct img *im, uint16_t q[64])
{
	long nb = quant_nblocks(0, 0, im->w, im->h);
	struct quant qa = { NULL, 0, 0 };
	int r;

	if (nb < 16 || quant_add(&qa, im->px, (size_t)im->w * (size_t)im->ch, im->ch,
	    0, 0, im->w, im->h, QUANT_EVERY(nb)) != 0) {
		quant_free(&qa);
		return 0;
	}
	r = quant_table(&qa, q);
	quant_free(&qa);
	return r;
}

/* The share of the DC and first two AC coefficients (over 2.5) of the
 * Cb and Cr blocks, on the 8x8 grid of the chroma at half size (2x2
 * means, sub) or full size, that lie within tol steps of a multiple of
 * qc; -1 when fewer than 32 were seen. Blocks with a clipped channel
 * are left out. */
static float
chroma_fit(const struct img *im, const uint16_t qc[64], int sub, float tol)
{
	int f = sub ? 2 : 1, bw = im->w / (8 * f), bh = im->h / (8 * f);
	long nb = (long)bw * bh, stride = QUANT_EVERY(nb), n = 0, hit = 0;
	static const int ks[3] = { 0, 1, 8 };

	for (long i = 0; i < nb; i += stride) {
		int bx = (int)(i % bw) * 8 * f, by = (int)(i / bw) * 8 * f, clip = 0;
		double p[2][8][8];
		for (int r = 0; r < 8; r++)
			for (int c = 0; c < 8; c++) {
				double cb = 0, cr = 0;
				for (int dy = 0; dy < f; dy++)
					for (int dx = 0; dx < f; dx++) {
						float v[3];
						pix(im, bx + c * f + dx, by + r * f + dy, v);
						for (int k = 0; k < 3; k++)
							clip |= v[k] <= 0 || v[k] >= 255;
						cb += -0.168736 * v[0] - 0.331264 * v[1] + 0.5 * v[2];
						cr += 0.5 * v[0] - 0.418688 * v[1] - 0.081312 * v[2];
					}
				p[0][r][c] = cb / (f * f);
				p[1][r][c] = cr / (f * f);
			}
		if (clip)
			continue;
		for (int pl = 0; pl < 2; pl++)
			for (int j = 0; j < 3; j++) {
				int u = ks[j] % 8, v = ks[j] / 8;
				double a = 0;
				for (int r = 0; r < 8; r++)
					for (int c = 0; c < 8; c++)
						a += (v == 0 ? sqrt(0.125) : 0.5) * cos((2 * r + 1) * v * M_PI / 16) *
						    (u == 0 ? sqrt(0.125) : 0.5) * cos((2 * c + 1) * u * M_PI / 16) *
						    p[pl][r][c];
				if (fabs(a) <= 2.5)
					continue;
				double qs = qc[ks[j]];
				n++;
				hit += fabs(a - qs * round(a / qs)) <= tol * qs;
			}
	}
	return n < 32 ? -1 : (float)hit / (float)n;
}

int
est_chroma_measured(const struct img *im, int quality, uint16_t qc[64], int *csub)
{
	uint16_t t[64];

	if (im->ch < 3)
		return 0;
	quant_scaled(quant_ijg_chroma, quality, t);
	/* chance puts half within a quarter step: 4:2:0 when 80 % are
	 * (its decoder's upsampling blurs the half-size grid a little),
	 * else 4:4:4 when 80 % are within a tenth */
	if (chroma_fit(im, t, 1, 0.25f) >= 0.8f)
		*csub = 1;
	else if (chroma_fit(im, t, 0, 0.1f) >= 0.8f)
		*csub = 0;
	else
		return 0;
	memcpy(qc, t, sizeof t);
	return 1;
}

int
est_jpeg_quality(const struct img *im, uint16_t q[64], int *from_file)
{
	*from_file = 0;
	if (im->type == IMG_JPEG && im->nquant > 0)
		*from_file = 1;
	else if (im->type != IMG_JPEG && est_quant_measured(im, q))
		*from_file = 2;
	if (*from_file) {
		double s = 0;
		if (*from_file == 1)
			memcpy(q, im->quant[0], sizeof(uint16_t) * 64);
		for (int i = 0; i < 64; i++)
			s += q[i] * 100.0 / quant_ijg_luma[i];
		s /= 64;
		int qual = s <= 100 ? (int)lround((200 - s) / 2) : (int)lround(5000 / s);
		return qual < 1 ? 1 : qual > 100 ? 100 : qual;
	}
	/* boundary steps over interior steps, luma, horizontal and vertical */
	double bnd = 0, in = 0;
	long nb = 0, ni = 0;
	int step = im->h > 2048 ? im->h / 1024 : 1;
	for (int y = 0; y < im->h - 1; y += step)
		for (int x = 0; x < im->w - 1; x++) {
			float a[3], c[3], d[3];
			pix(im, x, y, a);
			pix(im, x + 1, y, c);
			pix(im, x, y + 1, d);
			float la = 0.299f * a[0] + 0.587f * a[1] + 0.114f * a[2];
			float lc = 0.299f * c[0] + 0.587f * c[1] + 0.114f * c[2];
			float ld = 0.299f * d[0] + 0.587f * d[1] + 0.114f * d[2];
			if (x % 8 == 7) { bnd += fabsf(lc - la); nb++; } else { in += fabsf(lc - la); ni++; }
			if (y % 8 == 7) { bnd += fabsf(ld - la); nb++; } else { in += fabsf(ld - la); ni++; }
		}
	double ratio = nb && ni && in > 0 ? (bnd / nb) / (in / ni) : 1;
	int qual = (int)lround(95 - (ratio - 1) * 120);
	qual = qual < 5 ? 5 : qual > 95 ? 95 : qual;
	est_quant_table(qual, q);
	return qual;
}

/* The stretch that undoes a fade of a picture that was cleaned of noise
 * and scratches (an old photo), from its luma histogram h of n pixels.
 * A fade compresses the tones towards mid-grey: blacks lift and whites
 * dim together. Its extremes are no measure of that once grain and
 * missed specks have passed (they set the outermost tones, and a
 * picture's own darkest and brightest tones vary), so the 1 % and 99 %
 * points are read instead, and the stretch about mid-grey is the
 * largest that keeps both inside 0..255: a dusk scene, dark with no
 * white, is not stretched, nor a bright one with no black. Capped at 2:
 * a texture as low in contrast by nature as a fade (brick, grass) reads
 * like a strong fade, and an overshoot costs more than a shortfall. */
static float
fade_stretch(const long h[256], long n)
{
	long c = 0, cut = n / 100;
	int b, w;

	for (b = 0; b < 255 && (c += h[b]) <= cut; b++)
		;
	c = 0;
	for (w = 255; w > 0 && (c += h[w]) <= cut; w--)
		;
	float kb = b < 127 ? 127.5f / (127.5f - (float)b) : 2;
	float kw = w > 128 ? 127.5f / ((float)w - 127.5f) : 2;
	float k = fminf(kb, kw);
	return k < 1 ? 1 : k > 2 ? 2 : k;
}

void
est_levels(const struct img *im, int robust, float *black, float *white, float *sat,
    float tint[3])
{
	long hlo[256] = { 0 }, hhi[256] = { 0 }, hy[256] = { 0 }, n = 0;
	double t[3] = { 0 }, tt = 0;
	long step = (long)im->w * im->h > 4000000 ? ((long)im->w * im->h) / 4000000 + 1 : 1;

	for (long i = 0; i < (long)im->w * im->h; i += step) {
		float v[3];
		pix(im, (int)(i % im->w), (int)(i / im->w), v);
		float lo = fminf(v[0], fminf(v[1], v[2])), hi = fmaxf(v[0], fmaxf(v[1], v[2]));
		hlo[(int)lo]++;
		hhi[(int)hi]++;
		n++;
		float l = 0.299f * v[0] + 0.587f * v[1] + 0.114f * v[2];
		hy[(int)(l + 0.5f)]++;
		for (int c = 0; c < 3; c++) {
			t[c] += v[c] - l;
			tt += (double)(v[c] - l) * (v[c] - l);
		}
	}
	int b = 0, w = 255;
	/* A tint shared by all pixels (toning) is protected from the
	 * saturation gain, in the measure that it dominates the colour: a
	 * warm scene varies around its mean, a sepia print hardly does. */
	double T = 0, V;
	for (int k = 0; k < 3; k++) {
		t[k] = n > 0 ? t[k] / n : 0;
		T += t[k] * t[k];
	}
	V = n > 0 ? tt / n - T : 0;
	double f = T + V > 1e-9 ? T / (T + V) : 0;
	f = f * f;
	for (int k = 0; k < 3; k++)
		tint[k] = (float)(t[k] * f);
	*black = 0;
	*white = 255;
	*sat = 1;
	if (robust) {
		float k = fade_stretch(hy, n);
		if (k <= 1.02f)
			return;
		*black = 127.5f - 127.5f / k;
		*white = 127.5f + 127.5f / k;
		*sat = im->ch >= 3 ? fminf(1.5f, powf(k, 0.4f)) : 1;
		return;
	}
	for (b = 0; b < 255 && hlo[b] == 0; b++)
		;
	for (w = 255; w > 0 && hhi[w] == 0; w--)
		;
	if (w - b < 16)
		return;
	/* aim a little inside 0..255 (a print's darkest tone is rarely 0),
	 * and never narrow the range: an image that spans it is not faded */
	float k = 255.0f / (float)(w - b);
	if (k <= 1.02f)
		return;
	*black = (float)b;
	*white = (float)w;
	/* a fade that dims the whites as it lifts the blacks (a print's
	 * dyes fading) takes colour too, given back with the stretch of
	 * that two-sided part; one that lifts the blacks alone (a matte
	 * print, haze) is an affine map, which the stretch undoes whole
	 * (held-out blacks lifted alone: +17.05 | +19.31 dB with the
	 * gain, +27.11 | +27.99 without) */
	float s = fminf((float)b, 255.0f - (float)w), ks = 255.0f / (255.0f - 2 * s);
	*sat = im->ch >= 3 ? fminf(1.5f, powf(ks, 0.4f)) : 1;
}

/* An uneven fade's blacks and whites (tilt.h), on every pixel up to 4
 * MP, every other row and column beyond. */
int
est_black_tilt(const struct img *im, struct tilt *t)
{
	long (*h)[256] = calloc(2 * TILT_G * TILT_G, sizeof *h);
	int step = (long)im->w * im->h > 4000000 ? 2 : 1, rc;

	*t = (struct tilt){ 0 };
	if (h == NULL)
		return 0;
	for (int y = 0; y < im->h; y += step)
		for (int x = 0; x < im->w; x += step) {
			float v[3];
			pix(im, x, y, v);
			int k = tilt_cell(x, y, im->w, im->h);
			h[k][(int)fminf(v[0], fminf(v[1], v[2]))]++;
			h[TILT_G * TILT_G + k][(int)fmaxf(v[0], fmaxf(v[1], v[2]))]++;
		}
	rc = tilt_fit((const long (*)[256])h, (const long (*)[256])h + TILT_G * TILT_G, t);
	free(h);
	return rc;
}

void
est_tone(const struct img *im, float tone[3])
{
	long step = (long)im->w * im->h > 1000000 ? ((long)im->w * im->h) / 1000000 + 1 : 1;
	double m[3] = { 0 }, l = 0;

	for (long i = 0; i < (long)im->w * im->h; i += step) {
		float v[3];
		pix(im, (int)(i % im->w), (int)(i / im->w), v);
		for (int c = 0; c < 3; c++)
			m[c] += v[c];
		l += 0.299f * v[0] + 0.587f * v[1] + 0.114f * v[2];
	}
	for (int c = 0; c < 3; c++) {
		double r = l > 0 ? m[c] / l : 1;
		tone[c] = (float)(r < 0.7 ? 0.7 : r > 1.3 ? 1.3 : r);
	}
}

float
est_white_balance(const struct img *im, float gain[3], int *toned)
{
	long step = (long)im->w * im->h > 2000000 ? ((long)im->w * im->h) / 2000000 + 1 : 1;
	double m[3] = { 0 }, ge[3] = { 0 }, nn[3] = { 0 }, sy = 0, syy = 0;
	double sc[2] = { 0 }, scy[2] = { 0 }, scc[2] = { 0 }, e[3];
	long n = 0, nne = 0;

	gain[0] = gain[1] = gain[2] = 1;
	*toned = 0;
	if (im->ch < 3 || im->w < 2 || im->h < 2)
		return 0;
	for (long i = 0; i < (long)im->w * im->h; i += step) {
		int x = (int)(i % im->w), y = (int)(i / im->w);
		float v[3], a[3], c[3];
		if (x + 1 >= im->w || y + 1 >= im->h)
			continue;
		pix(im, x, y, v);
		float lo = fminf(v[0], fminf(v[1], v[2])), hi = fmaxf(v[0], fmaxf(v[1], v[2]));
		if (lo < 12 || hi > 243)
			continue;
		pix(im, x + 1, y, a);
		pix(im, x, y + 1, c);
		for (int k = 0; k < 3; k++) {
			m[k] += v[k];
			ge[k] += fabsf(a[k] - v[k]) + fabsf(c[k] - v[k]);
		}
		n++;
		float l = 0.299f * v[0] + 0.587f * v[1] + 0.114f * v[2];
		float c1 = v[0] - v[1], c2 = v[2] - v[1];
		sy += l;
		syy += (double)l * l;
		sc[0] += c1;
		sc[1] += c2;
		scy[0] += (double)c1 * l;
		scy[1] += (double)c2 * l;
		scc[0] += (double)c1 * c1;
		scc[1] += (double)c2 * c2;
	}
	if (n < 100)
		return 0;
	{	/* toned: chroma a linear function of luma, little else, and warm */
		double vy = syy / n - (sy / n) * (sy / n), res = 0, tint = 0;
		for (int k = 0; k < 2; k++) {
			double cov = scy[k] / n - (sc[k] / n) * (sy / n);
			double vc = scc[k] / n - (sc[k] / n) * (sc[k] / n);
			double a = vy > 1e-6 ? cov / vy : 0;
			res += vc - a * cov;
			tint += (sc[k] / n) * (sc[k] / n);
		}
		if (sqrt(res > 0 ? res : 0) < 4.0 && sqrt(tint) > 6 && sc[0] > 0 && sc[1] < 0)
			*toned = 1;
	}
	/* grey world and grey edge, geometric mean: a large coloured area
	 * fools the first, contributes little to the second */
	double lm = (m[0] + m[1] + m[2]) / 3, lg = (ge[0] + ge[1] + ge[2]) / 3;
	for (int k = 0; k < 3; k++) {
		double gw = m[k] / lm, gd = lg > 0 ? ge[k] / lg : 1;
		e[k] = sqrt(gw * gd);
	}
	/* refine on pixels that this estimate makes near-neutral */
	for (long i = 0; i < (long)im->w * im->h; i += step) {
		float v[3];
		pix(im, (int)(i % im->w), (int)(i / im->w), v);
		float lo = fminf(v[0], fminf(v[1], v[2])), hi = fmaxf(v[0], fmaxf(v[1], v[2]));
		if (lo < 12 || hi > 243)
			continue;
		float r = (float)(v[0] / e[0]), g = (float)(v[1] / e[1]), b = (float)(v[2] / e[2]);
		float l = (r + g + b) / 3;
		if (fabsf(r - l) > 0.12f * l || fabsf(b - l) > 0.12f * l || fabsf(g - l) > 0.12f * l)
			continue;
		for (int k = 0; k < 3; k++)
			nn[k] += v[k];
		nne++;
	}
	if (nne > n / 20) {
		double ln = (nn[0] + nn[1] + nn[2]) / 3;
		for (int k = 0; k < 3; k++)
			e[k] = sqrt(e[k] * nn[k] / ln);
	}
	double ly = 0.299 / e[0] + 0.587 / e[1] + 0.114 / e[2];
	float strength = 0;
	for (int c = 0; c < 3; c++) {
		gain[c] = (float)(1 / e[c] / ly);
		gain[c] = gain[c] < 0.6f ? 0.6f : gain[c] > 1.7f ? 1.7f : gain[c];
		strength = fmaxf(strength, fabsf(gain[c] - 1));
	}
	return strength;
}

/* Sepia toning as a blend: v = (1 - a) x + a Y(x) T, the colour photo x
 * pulled toward its own luma in one warm tint T (luma 1, so Y(v) =
 * Y(x)). No gain per channel undoes that, the blend took the share a of
 * the colour; knowing a, x = (v - a Y T) / (1 - a) does. T is the usual
 * sepia hue and strength, a prior, not a measure: the sepia matrix of
 * CSS filters and most editors (R = .393 .769 .189, G = .349 .686 .168,
 * B = .272 .534 .131) applied to white, over its luma. a is the
 * smaller of:
 *   the colour constancy reading, the mean of two: grey edge (between
 *   pixels 8 apart, the change of the chroma along T's hue regressed
 *   on the change of luma: a |T - 1| plus the scene's own slope, about
 *   0 over many edges; 8 apart, not neighbours, as denoising smooths
 *   chroma more than luma, and grain of one colour changes luma alone)
 *   and grey world (the mean chroma along T's hue over the mean luma:
 *   a |T - 1| plus the scene's own warmth); each errs on scenes the
 *   other reads well;
 *   the gamut: undoing too much pushes colours past black and white
 *   fast, and a real scene was inside them: the largest a that leaves
 *   all but SEPIA_OUT of the pixels (those strictly inside lo..hi
 *   before, as a clipped one's true value is unknown) within lo - 4 ..
 *   hi + 4.
 * A colourful warm scene (fruit, foliage, skin) reads as strong toning
 * to the first, and the second stops it; a pale scene lets the second
 * go far, and there the first is right. On bench/'s sepia photos (a
 * prototype undoing every crop) the mean of the two readings beat grey
 * edge alone on three halves of four (0.3 to 0.8 dB; -0.14 on the
 * fourth), 8 apart read old photos that neighbours read as untoned,
 * and the gamut took colourful warm scenes at sepia 0.35 (plant,
 * whale, baboon) from -9 to -17 dB to +6 to +14.
 * Returns a, at most 0.9 (0: none, a cool cast, or chroma too even to
 * hold colour: see below). */
const float SEPIA_T[3] = { 1.11017f, 0.98856f, 0.76997f };
#define SEPIA_OUT 0.002
#define SEPIA_BINS 200

float
est_sepia(const struct img *im, float lo, float hi, float tone[3])
{
	long step = (long)im->w * im->h > 1000000 ? ((long)im->w * im->h) / 1000000 + 1 : 1;
	double u[3], m = 0, sxy = 0, sxx = 0, sc = 0, sy = 0, g1[3] = { 0 }, g2 = 0, sv[3] = { 0 };
	long ng = 0;
	long hist[SEPIA_BINS + 1] = { 0 }, n = 0;
	int d8 = im->w > 32 && im->h > 32 ? 8 : 1;

	for (int k = 0; k < 3 && tone != NULL; k++)
		tone[k] = 1;
	if (im->ch < 3 || im->w < 2 || im->h < 2)
		return 0;
	for (int k = 0; k < 3; k++)
		m += (SEPIA_T[k] - 1) * (SEPIA_T[k] - 1);
	m = sqrt(m);
	for (int k = 0; k < 3; k++)
		u[k] = (SEPIA_T[k] - 1) / m;
	for (long i = 0; i < (long)im->w * im->h; i += step) {
		int x = (int)(i % im->w), y = (int)(i / im->w);
		float v[3], w[3];
		pix(im, x, y, v);
		float l = 0.299f * v[0] + 0.587f * v[1] + 0.114f * v[2];
		double c = (v[0] - l) * u[0] + (v[1] - l) * u[1] + (v[2] - l) * u[2];
		if (fminf(v[0], fminf(v[1], v[2])) > 8 && fmaxf(v[0], fmaxf(v[1], v[2])) < 247 &&
		    l > 25) {
			sc += c;
			sy += l;
			for (int k = 0; k < 3; k++) {
				double g = v[k] / l - 1;
				g1[k] += g;
				g2 += g * g;
				sv[k] += v[k];
			}
			ng++;
		}
		for (int d = 0; d < 2; d++) {
			if ((d ? y : x) + d8 >= (d ? im->h : im->w))
				continue;
			pix(im, x + (d ? 0 : d8), y + (d ? d8 : 0), w);
			float l2 = 0.299f * w[0] + 0.587f * w[1] + 0.114f * w[2];
			double c2 = (w[0] - l2) * u[0] + (w[1] - l2) * u[1] + (w[2] - l2) * u[2];
			sxy += (c2 - c) * (l2 - l);
			sxx += (double)(l2 - l) * (l2 - l);
		}
		/* the a at which this pixel leaves lo..hi: each channel
		 * moves monotonically, away from Y T */
		float amax = 1;
		int inside = 1;
		for (int k = 0; k < 3; k++) {
			float yt = l * SEPIA_T[k], e = 1;
			if (v[k] <= lo || v[k] >= hi)    /* clipped: unknown */
				inside = 0;
			else if (v[k] > yt)
				e = hi + 4 - yt > 0 ? (hi + 4 - v[k]) / (hi + 4 - yt) : 1;
			else
				e = yt - lo + 4 > 0 ? (v[k] - lo + 4) / (yt - lo + 4) : 1;
			if (inside && e < amax)
				amax = e;
		}
		if (!inside)
			continue;
		hist[(int)(amax * SEPIA_BINS)]++;
		n++;
	}
	if (n < 100 || sxx <= 0 || ng == 0)
		return 0;
	float a = (float)((sxy / sxx + sc / sy) / 2 / m), ag = 1;
	long c = 0, cut = (long)(n * SEPIA_OUT);
	for (int b = 0; b <= SEPIA_BINS; b++)
		if ((c += hist[b]) > cut) {
			ag = (float)b / SEPIA_BINS;
			break;
		}
	a = fminf(a, ag);
	a = a < 0.03f ? 0 : a > 0.9f ? 0.9f : a;
	/* chroma over luma that varies by less than two code values at
	 * mid-grey is grain and rounding, not colour to give back: a
	 * toned monochrome print (undoing would only raise the grain) */
	double var = g2 / ng;
	for (int k = 0; k < 3; k++)
		var -= (g1[k] / ng) * (g1[k] / ng);
	if (var < (2.0 / 128) * (2.0 / 128))
		a = 0;
	/* the tone left once undone: each channel's mean over the luma's,
	 * kept in the measure that it is one tint over all the picture
	 * (chroma over luma: mean squared over mean squared plus variance,
	 * squared; undoing scales both by 1 / (1 - a)), as on a toned
	 * monochrome print, whose tint is not quite T */
	if (tone != NULL) {
		double mu2 = 0;
		for (int k = 0; k < 3; k++) {
			double q = g1[k] / ng - a * (SEPIA_T[k] - 1);
			mu2 += q * q;
		}
		double f = mu2 / (mu2 + (var > 0 ? var : 0) + 1e-12);
		f *= f;
		for (int k = 0; k < 3; k++) {
			double r = (sv[k] / sy - a * SEPIA_T[k]) / (1 - a);
			r = r < 0.7 ? 0.7 : r > 1.3 ? 1.3 : r;
			tone[k] = (float)(1 + f * (r - 1));
		}
	}
	return a;
}

/* The noise level function: sigma^2 = a x + b in each RGB channel, x the
 * channel's own value (a sensor's shot and read noise). Immerkaer's
 * residual per 16x16 block and channel, binned by the block's mean in
 * bins of 16 levels; a low quantile per bin (flat blocks tell the noise,
 * textured ones only add), and a, b fitted to the bins by least squares
 * weighted by their counts. Returns the number of bins used (< 3: a = 0,
 * b the overall level). */
#define NLF_BINS 16
int
est_nlf(const struct img *im, float *a, float *b)
{
	int nc = im->ch >= 3 ? 3 : 1, bs = 16, used = 0;
	int bw = (im->w - 2) / bs, bh = (im->h - 2) / bs;
	long nb = (long)bw * bh, step = 1;
	size_t cap, cnt[NLF_BINS] = { 0 };
	float *v[NLF_BINS] = { NULL };
	double sx = 0, sy = 0, sxx = 0, sxy = 0, sw = 0;

	*a = 0;
	*b = 0;
	if (bw < 1 || bh < 1)
		return 0;
	while (nb / step > 20000)
		step++;
	cap = (size_t)(nb / step + 1) * (size_t)nc;
	for (int i = 0; i < NLF_BINS; i++)
		if ((v[i] = malloc(sizeof(float) * cap)) == NULL)
			goto out;
	for (long k = 0; k < nb; k += step) {
		int bx = (int)(k % bw) * bs + 1, by = (int)(k / bw) * bs + 1;
		for (int c = 0; c < nc; c++) {
			double s = 0, m = 0;
			int clip = 0;
			for (int y = by; y < by + bs; y++) {
				const uint8_t *p = im->px + ((size_t)y * im->w + (size_t)bx) * im->ch + c;
				ptrdiff_t st = (ptrdiff_t)im->w * im->ch, sc = im->ch;
				for (int x = 0; x < bs; x++, p += sc) {
					float r = 4 * p[0] - 2 * (p[-sc] + p[sc] + p[-st] + p[st]) +
					    p[-st - sc] + p[-st + sc] + p[st - sc] + p[st + sc];
					s += (double)r * r;
					m += p[0];
					clip += p[0] == 0 || p[0] == 255;
				}
			}
			if (clip > bs * bs / 20)
				continue;
			m /= bs * bs;
			int i = (int)(m / (256 / NLF_BINS));
			v[i][cnt[i]++] = (float)(s / (bs * bs) / 36.0);
		}
	}
	for (int i = 0; i < NLF_BINS; i++) {
		if (cnt[i] < 8)
			continue;
		qsort(v[i], cnt[i], sizeof v[i][0], cmpf);
		/* the 20th percentile of a variance over 256 samples sits about
		 * 8% low; 8-bit rounding adds 1/12 */
		double var = v[i][cnt[i] / 5] / 0.92 - 0.08, x = (i + 0.5) * (256 / NLF_BINS);
		double w = (double)cnt[i];
		sx += w * x;
		sy += w * var;
		sxx += w * x * x;
		sxy += w * x * var;
		sw += w;
		used++;
	}
	if (used >= 3) {
		double d = sw * sxx - sx * sx;
		*a = d > 0 ? (float)((sw * sxy - sx * sy) / d) : 0;
		if (*a < 0)
			*a = 0;
		*b = (float)((sy - *a * sx) / sw);
		if (*b < 0.25f) {              /* keep a positive floor */
			*b = 0.25f;
			*a = (float)fmax(0, (sxy - 0.25 * sx) / sxx);
		}
	} else if (sw > 0)
		*b = (float)fmax(sy / sw, 0);
out:
	for (int i = 0; i < NLF_BINS; i++)
		free(v[i]);
	return used;
}

/* Chroma noise as blotches: the Cb and Cr planes (Rec. 601) in 8x8
 * blocks, each block's residual from its least-squares plane, the RMS
 * of both; the 10th percentile over blocks (flat ones tell the noise),
 * corrected for that percentile's bias. Unlike Immerkaer's residual it
 * sees noise correlated over a few pixels, as demosaicking leaves it
 * (it reads such noise about 0.6 of its full sigma; white noise 0.9). */
float
est_chroma(const struct img *im)
{
	int bs = 8, bw = im->w / bs, bh = im->h / bs;
	long nb = (long)bw * bh, step = 1, n = 0;
	float *sb, r;

	if (im->ch < 3 || bw < 1 || bh < 1)
		return 0;
	while (nb / step > 40000)
		step++;
	if ((sb = malloc(sizeof(float) * (size_t)(nb / step + 1))) == NULL)
		return 0;
	for (long k = 0; k < nb; k += step) {
		int bx = (int)(k % bw) * bs, by = (int)(k / bw) * bs;
		double e = 0;
		for (int c = 0; c < 2; c++) {
			double s = 0, sx = 0, sy = 0, ss = 0;
			for (int y = 0; y < bs; y++)
				for (int x = 0; x < bs; x++) {
					float v[3];
					pix(im, bx + x, by + y, v);
					float t = c == 0 ? -0.168736f * v[0] - 0.331264f * v[1] + 0.5f * v[2]
					    : 0.5f * v[0] - 0.418688f * v[1] - 0.081312f * v[2];
					s += t;
					sx += t * (x - 3.5);
					sy += t * (y - 3.5);
					ss += (double)t * t;
				}
			/* sum (x-3.5)^2 over the block: 8 * 42 = 336 */
			double m = s / 64, gx = sx / 336, gy = sy / 336;
			e += ss - 64 * m * m - 336 * (gx * gx + gy * gy);
		}
		sb[n++] = (float)(e / (2 * 61));
	}
	qsort(sb, (size_t)n, sizeof sb[0], cmpf);
	/* the 10th percentile of a variance over 2x61 dof sits about 16% low */
	r = sb[n / 10] / 0.84f;
	free(sb);
	return r > 0 ? sqrtf(r) : 0;
}
