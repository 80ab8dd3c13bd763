/* psf.h: a blur's kernel read from the picture's power spectrum, averaged
 * over Hann-windowed PSF_N-pixel windows (Welch), so one window's texture
 * does not make a feature.
 *
 * A straight motion blur (a streak of length L, a box along one direction)
 * multiplies the spectrum by a sinc whose zeros repeat every 1/L cycles per
 * pixel across the direction of motion; in the log spectrum they are a
 * ripple of period 1/L, which the cepstrum (the log spectrum's Fourier
 * transform) shows as a sharp negative peak at distance L along the
 * motion (Cannon 1976). A scene's own log spectrum is smooth (close to a
 * power law), so its cepstrum stays near the origin; a Gaussian blur's is
 * a quadratic, which puts nothing away from it.
 *
 * A defocus disk of radius r multiplies it by an Airy pattern, 2 J1(x)/x
 * with x = 2 pi r f, zero on the ring f = 0.61 / r and rising again past
 * it: the log power 1.3 times further out is higher than on the ring, in
 * every direction. A scene's spectrum, a Gaussian blur's and an
 * enlargement's fall all the way (or level off on the noise), and a
 * streak's zeros are not rings. */
#ifndef RS_PSF_H
#define RS_PSF_H

#define PSF_N      64        /* window side: streaks up to MOTION_MAX long */
#define MOTION_MAX 24.0      /* longest streak read, pixels */
#define MOTION_MIN 3.5       /* shortest looked for */

struct psf_acc {
	double p[PSF_N * PSF_N];         /* summed power spectrum */
	int n;                           /* windows summed */
};

struct motion {
	double length;       /* streak, pixels (0: none found) */
	double angle;        /* degrees counter-clockwise from the x axis, 0..180 */
	double peak;         /* the cepstrum's value there (negative) */
	double zero;         /* log power on the first zero line, f.u = 1/L,
	                        less that halfway to its neighbours (0.5/L,
	                        1.5/L): a scene's lines and lattices also make
	                        cepstral peaks, but no zeros */
	double zero_across;  /* the same across u: an enlargement's zeros are
	                        on both axes, a streak's along it alone */
};

/* Sure of a streak: MOTION_SURE_LEN long or more, its cepstral peak at
 * MOTION_PEAK or deeper, its first zero MOTION_ZERO or deeper and deeper
 * by MOTION_ACROSS than the same line across it. Chosen on the tune half
 * of 168 photos streaked 5, 8, 12 and 16 pixels at random angles (a
 * third each plain, with noise 4 and saved as JPEG q80) against 2422
 * pictures of bench/mkset's three sets, none streaked: 72 of 88 found
 * (tune), 75 of 80 (check), 3 of 2422 false (two scratched photos, one
 * in two sets, whose long straight scratch runs one way; rs-classify
 * paints the damage out first). */
#define MOTION_SURE_LEN 4.0
#define MOTION_PEAK   -0.02
#define MOTION_ZERO   -0.6
#define MOTION_ACROSS  0.5
int  motion_sure(const struct motion *m);

/* Add the windows of plane p (w x h, row stride s floats) at a step of
 * at least PSF_N / 2, more if that keeps the count under max_win. */
void psf_add(struct psf_acc *a, const float *p, int w, int h, size_t s, int max_win);
/* The strongest streak in what was added; 0, or -1 if nothing was. */
int  motion_find(const struct psf_acc *a, struct motion *m);

/* A defocus disk: the radius (DISK_MIN to DISK_MAX pixels, 0: none) whose
 * ring rises most in its worst quarter of directions, and that rise (log
 * power 1.3 times further out less on the ring; negative: none). Sure of
 * it from DISK_RISE: on the held-out photos blurred by disks of radius 2,
 * 3 and 4, 54 of 66 pass, each radius within 0.3; of 1584 other pictures
 * (the held-out and tuned sets, every family, Gaussian blurs and
 * enlargements included) none rises over 0.01. */
#define DISK_MIN  1.7       /* the ring 1.3 times out still under the half rate */
#define DISK_MAX  8.0
#define DISK_RISE 0.05
struct disk {
	double radius, rise;
};
int  disk_find(const struct psf_acc *a, struct disk *d);   /* 0, or -1 if nothing added */
int  disk_sure(const struct disk *d);

#endif
