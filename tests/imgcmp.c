/* imgcmp: measure and damage images for the rs-restore tests.
 *   imgcmp A B                PSNR of B against A in dB (99 if equal)
 *   imgcmp -n A B             the number of pixels of B that differ from A
 *   imgcmp -s A               "W H CH meanR meanG meanB sigma" (sigma: the
 *                             engine's noise estimate)
 *   imgcmp -d SPEC IN OUT     write IN damaged by SPEC as PNG OUT:
 *                             noise=S blur=S fade=LO:HI cast=R:G:B scratches=N
 *                             motion=L:A (a streak L pixels long at A
 *                             degrees, counter-clockwise from x) disk=R
 *                             (a defocus disk of radius R)
 *                             (N bright and N dark 1-px lines and specks)
 *                             crossing=N (bright 2-px lines, N about
 *                             upright and N about level 30 pixels apart,
 *                             that cross as a # does)
 *   imgcmp -m SPEC IN MASK    the pixels SPEC changes, as a PNG mask
 * Exit 0, or 1 with a message. */
#include <err.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"
#include "restore_int.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static double
urand(void)
{
	rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

static void
load(const char *p, struct img *im)
{
	struct img_limits l;
	img_limits_default(&l);
	if (img_load(p, &l, 0, 1, im) != 0)
		exit(1);
}

static double
psnr(const struct img *a, const struct img *b)
{
	double se = 0;
	size_t n = (size_t)a->w * a->h * a->ch;
	if (a->w != b->w || a->h != b->h || a->ch != b->ch)
		errx(1, "sizes differ: %dx%dx%d, %dx%dx%d", a->w, a->h, a->ch, b->w, b->h, b->ch);
	for (size_t i = 0; i < n; i++) {
		double d = (double)a->px[i] - b->px[i];
		se += d * d;
	}
	return se == 0 ? 99 : 10 * log10(255.0 * 255.0 / (se / (double)n));
}

static void
blur(struct img *im, double s)
{
	int r = (int)ceil(3 * s), w = im->w, h = im->h, ch = im->ch;
	double k[64], sum = 0;
	float *t = malloc(sizeof(float) * (size_t)w * h * ch);
	if (t == NULL || r > 31)
		errx(1, "blur");
	for (int i = -r; i <= r; i++)
		sum += k[i + r] = exp(-i * i / (2 * s * s));
	for (int pass = 0; pass < 2; pass++)
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++)
				for (int c = 0; c < ch; c++) {
					double a = 0;
					for (int i = -r; i <= r; i++) {
						int xx = pass ? x : x + i, yy = pass ? y + i : y;
						xx = xx < 0 ? -xx - 1 : xx >= w ? 2 * w - xx - 1 : xx;
						yy = yy < 0 ? -yy - 1 : yy >= h ? 2 * h - yy - 1 : yy;
						size_t o = ((size_t)yy * w + xx) * ch + c;
						a += k[i + r] * (pass ? t[o] : im->px[o]);
					}
					size_t o = ((size_t)y * w + x) * ch + c;
					if (pass)
						im->px[o] = (uint8_t)lrint(fmin(255, fmax(0, a / sum)));
					else
						t[o] = (float)(a / sum);
				}
	free(t);
}

/* the kernels of streak() and disk(): KC + 2 pixels either side of the
 * centre at most */
enum { KC = 16, KS = 2 * KC + 2 };

/* im convolved with k (KS x KS, centred at KC, KC; sum its total),
 * mirrored edges */
static void
convolve(struct img *im, double k[KS][KS], double sum)
{
	int w = im->w, h = im->h, ch = im->ch;
	float *t = malloc(sizeof(float) * (size_t)w * h * ch);

	if (t == NULL)
		errx(1, "out of memory");
	for (size_t i = 0; i < (size_t)w * h * ch; i++)
		t[i] = im->px[i];
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < ch; c++) {
				double a = 0;
				for (int dy = -KC; dy < KS - KC; dy++)
					for (int dx = -KC; dx < KS - KC; dx++) {
						double kk = k[dy + KC][dx + KC];
						if (kk == 0)
							continue;
						int xx = x + dx, yy = y + dy;
						while (xx < 0 || xx >= w)
							xx = xx < 0 ? -xx - 1 : 2 * w - xx - 1;
						while (yy < 0 || yy >= h)
							yy = yy < 0 ? -yy - 1 : 2 * h - yy - 1;
						a += kk * t[((size_t)yy * w + xx) * ch + c];
					}
				im->px[((size_t)y * w + x) * ch + c] = (uint8_t)lrint(fmin(255, fmax(0, a / sum)));
			}
	free(t);
}

/* a straight streak of length len at ang degrees (counter-clockwise from
 * x, y up): the segment sampled every 1/16 pixel, each sample shared
 * bilinearly among the four pixels about it */
static void
streak(struct img *im, double len, double ang)
{
	double k[KS][KS] = { { 0 } };
	int ns = 16 * ((int)len + 1);

	if (!(len > 0 && len <= 2 * (KC - 1)) || !isfinite(ang))
		errx(1, "motion=%g:%g: the length must be over 0 and at most %d, the angle a number",
		    len, ang, 2 * (KC - 1));
	for (int i = 0; i < ns; i++) {
		double u = len * ((i + 0.5) / ns - 0.5);
		double x = KC + u * cos(ang * M_PI / 180), y = KC - u * sin(ang * M_PI / 180);
		int x0 = (int)floor(x), y0 = (int)floor(y);
		double fx = x - x0, fy = y - y0;
		k[y0][x0] += (1 - fx) * (1 - fy);
		k[y0][x0 + 1] += fx * (1 - fy);
		k[y0 + 1][x0] += (1 - fx) * fy;
		k[y0 + 1][x0 + 1] += fx * fy;
	}
	convolve(im, k, ns);
}

/* a defocus disk of radius rad, each pixel's share from 8x8 samples */
static void
disk(struct img *im, double rad)
{
	double k[KS][KS] = { { 0 } }, sum = 0;

	if (!(rad > 0 && rad <= KC))
		errx(1, "disk=%g: the radius must be over 0 and at most %d", rad, KC);
	for (int y = -KC; y <= KC; y++)
		for (int x = -KC; x <= KC; x++)
			for (int sy = 0; sy < 8; sy++)
				for (int sx = 0; sx < 8; sx++) {
					double fx = x + (sx + 0.5) / 8 - 0.5, fy = y + (sy + 0.5) / 8 - 0.5;
					if (fx * fx + fy * fy <= rad * rad) {
						k[y + KC][x + KC]++;
						sum++;
					}
				}
	convolve(im, k, sum);
}

static uint8_t
clamp8(double v)
{
	return (uint8_t)lrint(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* damage im by spec; mark changed pixels in mask (w*h) if not NULL */
static void
damage(struct img *im, const char *spec, uint8_t *mask)
{
	double a, b, c;
	int n, w = im->w, h = im->h, ch = im->ch;
	size_t np = (size_t)w * h;

	if (sscanf(spec, "noise=%lf", &a) == 1) {
		for (size_t i = 0; i < np * ch; i++) {
			double u = urand(), v = urand();
			im->px[i] = clamp8(im->px[i] + a * sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v));
		}
	} else if (sscanf(spec, "blur=%lf", &a) == 1)
		blur(im, a);
	else if (sscanf(spec, "motion=%lf:%lf", &a, &b) == 2)
		streak(im, a, b);
	else if (sscanf(spec, "disk=%lf", &a) == 1)
		disk(im, a);
	else if (sscanf(spec, "fade=%lf:%lf", &a, &b) == 2) {
		for (size_t i = 0; i < np * ch; i++)
			im->px[i] = clamp8(a + im->px[i] * (b - a) / 255);
	} else if (sscanf(spec, "cast=%lf:%lf:%lf", &a, &b, &c) == 3 && ch >= 3) {
		double g[3] = { a, b, c };
		for (size_t i = 0; i < np; i++)
			for (int k = 0; k < 3; k++)
				im->px[i * ch + k] = clamp8(im->px[i * ch + k] * g[k]);
	} else if (sscanf(spec, "scratches=%d", &n) == 1) {
		for (int s = 0; s < 2 * n; s++) {     /* a long thin line, bright then dark */
			double x0 = urand() * w, y0 = urand() * h, ang = urand() * M_PI;
			double len = (0.3 + 0.5 * urand()) * (w > h ? w : h);
			uint8_t v = s % 2 ? 20 : 235;
			for (double t = 0; t < len; t += 0.5) {
				int x = (int)(x0 + cos(ang) * t), y = (int)(y0 + sin(ang) * t);
				if (x < 0 || x >= w || y < 0 || y >= h)
					continue;
				for (int k = 0; k < ch; k++)
					im->px[((size_t)y * w + x) * ch + k] = v;
				if (mask)
					mask[(size_t)y * w + x] = 255;
			}
			int sx = (int)(urand() * (w - 4)), sy = (int)(urand() * (h - 4));
			for (int y = sy; y < sy + 3; y++)    /* a 3x3 speck */
				for (int x = sx; x < sx + 3; x++) {
					if (x < 0 || x >= w || y < 0 || y >= h)
						continue;
					for (int k = 0; k < ch; k++)
						im->px[((size_t)y * w + x) * ch + k] = v;
					if (mask)
						mask[(size_t)y * w + x] = 255;
				}
		}
	} else if (sscanf(spec, "crossing=%d", &n) == 1) {
		double len = 0.8 * (w < h ? w : h);
		for (int s = 0; s < 2 * n; s++) {   /* n about upright, n about level */
			double ang = s < n ? 1.45 : 0.12, off = 30 * (s % n - (n - 1) / 2.0);
			double cx = w / 2 + (s < n ? off : 0), cy = h / 2 + (s < n ? 0 : off);
			for (double t = -len / 2; t < len / 2; t += 0.5) {
				int x0 = (int)(cx + cos(ang) * t), y = (int)(cy + sin(ang) * t);
				for (int x = x0; x < x0 + 2; x++) {
					if (x < 0 || x >= w || y < 0 || y >= h)
						continue;
					for (int k = 0; k < ch; k++)
						im->px[((size_t)y * w + x) * ch + k] = 235;
					if (mask)
						mask[(size_t)y * w + x] = 255;
				}
			}
		}
	} else
		errx(1, "%s: unknown damage (noise=S blur=S motion=L:A disk=R fade=LO:HI "
		    "cast=R:G:B scratches=N crossing=N)", spec);
}

int
main(int argc, char *argv[])
{
	struct img a = { 0 }, b = { 0 };
	int rc = 0;

	if (argc == 3 && argv[1][0] != '-') {
		load(argv[1], &a);
		load(argv[2], &b);
		printf("%.2f\n", psnr(&a, &b));
	} else if (argc == 4 && strcmp(argv[1], "-n") == 0) {
		long n = 0;
		load(argv[2], &a);
		load(argv[3], &b);
		if (a.w != b.w || a.h != b.h || a.ch != b.ch)
			errx(1, "sizes differ");
		for (size_t i = 0; i < (size_t)a.w * a.h; i++)
			n += memcmp(a.px + i * a.ch, b.px + i * a.ch, (size_t)a.ch) != 0;
		printf("%ld\n", n);
	} else if (argc == 3 && strcmp(argv[1], "-s") == 0) {
		double m[3] = { 0 };
		float ns[3];
		load(argv[2], &a);
		for (size_t i = 0; i < (size_t)a.w * a.h; i++)
			for (int k = 0; k < 3; k++)
				m[k] += a.px[i * a.ch + (a.ch >= 3 ? k : 0)];
		for (int k = 0; k < 3; k++)
			m[k] /= (double)a.w * a.h;
		printf("%d %d %d %.2f %.2f %.2f %.2f\n", a.w, a.h, a.ch, m[0], m[1], m[2],
		    est_noise(&a, ns));
	} else if (argc == 5 && (strcmp(argv[1], "-d") == 0 || strcmp(argv[1], "-m") == 0)) {
		load(argv[3], &a);
		if (argv[1][1] == 'm') {
			uint8_t *mask = calloc((size_t)a.w * a.h, 1);
			if (mask == NULL || img_alloc(&b, a.w, a.h, 1) != 0)
				errx(1, "out of memory");
			damage(&a, argv[2], mask);
			memcpy(b.px, mask, (size_t)a.w * a.h);
			free(mask);
			rc = img_save(argv[4], &b, IMG_PNG, 0, 0) != 0;
		} else {
			damage(&a, argv[2], NULL);
			rc = img_save(argv[4], &a, IMG_PNG, 0, 0) != 0;
		}
	} else
		errx(1, "usage: imgcmp A B | -n A B | -s A | -d SPEC IN OUT | -m SPEC IN MASK");
	img_free(&a);
	img_free(&b);
	return rc;
}
