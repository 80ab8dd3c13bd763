/* motion.h: a straight motion blur read from the cepstrum.
 *
 * A streak of length L (a box along one direction) multiplies the
 * spectrum by a sinc whose zeros repeat every 1/L cycles per pixel
 * across the direction of motion; in the log spectrum they are a ripple
 * of period 1/L, which the cepstrum (the log spectrum's Fourier
 * transform) shows as a sharp negative peak at distance L along the
 * motion (Cannon 1976). A scene's own log spectrum is smooth (close to a
 * power law), so its cepstrum stays near the origin; a Gaussian blur's is
 * a quadratic, which puts nothing away from it. The power spectrum is
 * averaged over Hann-windowed MOTION_N-pixel windows (Welch), so one
 * window's texture does not make a peak. */
#ifndef RS_MOTION_H
#define RS_MOTION_H

#define MOTION_N   64        /* window side: streaks up to MOTION_MAX long */
#define MOTION_MAX 24.0      /* longest streak read, pixels */
#define MOTION_MIN 3.5       /* shortest looked for */

struct motion_acc {
	double p[MOTION_N * MOTION_N];   /* summed power spectrum */
	int n;                           /* windows summed */
};

struct motion {
	double length;       /* streak, pixels (0: none found) */
	double angle;        /* degrees counter-clockwise from the x axis, 0..180 */
	double peak;         /* the cepstrum's value there (negative) */
	double ring;         /* the cepstrum's mean at that distance, all directions */
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
 * (tune), 75 of 80 (check), 3 of 2422 false (two scratched photos whose
 * long straight scratch runs one way, rs-classify paints them out first). */
#define MOTION_SURE_LEN 4.0
#define MOTION_PEAK   -0.02
#define MOTION_ZERO   -0.6
#define MOTION_ACROSS  0.5
int  motion_sure(const struct motion *m);

/* Add the windows of plane p (w x h, row stride s floats) at a step of
 * at least MOTION_N / 2, more if that keeps the count under max_win. */
void motion_add(struct motion_acc *a, const float *p, int w, int h, size_t s, int max_win);
/* The strongest streak in what was added; 0, or -1 if nothing was. */
int  motion_find(const struct motion_acc *a, struct motion *m);

#endif
