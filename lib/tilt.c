/* tilt.c: an uneven fade's blacks and whites (tilt.h).
 *
 * Each cell's black is the TILT_Q quantile of its darkest channel. A
 * fade lifts every black below it, so the blacks lie on or above a
 * plane: the highest plane under all of them (at the centre; the cells
 * sit symmetric about it, so that is the plane that sits highest
 * overall) is found by a coarse-to-fine search of its two slopes (the
 * lowest cell over a plane of given slopes is a concave function of
 * them). A scene's own blacks tilt such a plane too where some cells
 * have none (a bright wall), but then only the few darkest cells touch
 * it, while a fade that grows across a scene with shadows all over puts
 * most of them on it: the plane is taken only if it rises TILT_MIN
 * levels or more across the frame and at least TILT_SNUG of the cells
 * lie within TILT_TOL of it (per 255 levels of the picture's range: a
 * fade narrows the scatter of a scene's own blacks with the rest; with
 * a fixed 6 levels, coins whose dark ground is lit unevenly were taken
 * once faded by 60, and their stretch lost 15 dB) and have a range (the
 * same quantile from the top, less the black) of TILT_RANGE or more: a
 * sky that fills the frame, a gradient with little on it, puts every
 * cell's black on a plane (a dusk sky blurred by 3 pixels was called
 * faded without this). The whites, the TILT_Q quantile from the top of
 * the brightest channel, are read the same way upside down: a fade that
 * lifts the blacks dims the whites, and where they too sit on a plane,
 * the stretch takes it (where they do not, the scene's whites are too
 * uneven to tell, and the picture's white is taken all over).
 *
 * On bench/'s seven sets of photographs (default and held-out, mkset
 * --tone-kinds), the black plane was taken on 34 of 126 fades growing
 * across the frame and on none of the other 5,446 pictures. */
#include <math.h>
#include <stddef.h>

#include "tilt.h"

#define TILT_Q     0.005
#define TILT_MIN   20.0f
#define TILT_SNUG  0.5
#define TILT_TOL   6.0f
#define TILT_RANGE 20

enum { N = TILT_G * TILT_G };

int
tilt_cell(int x, int y, int w, int h)
{
	return (int)((long)y * TILT_G / h) * TILT_G + (int)((long)x * TILT_G / w);
}

float
plane_at(const struct plane *p, int x, int y, int w, int h)
{
	return p->c + p->px * (((float)x + 0.5f) / (float)w - 0.5f) +
	    p->py * (((float)y + 0.5f) / (float)h - 0.5f);
}

/* the level of histogram h below which a share q of its pixels lie, or
 * from the top (down); -1 for a cell too small to read */
static int
quantile(const long h[256], double q, int down)
{
	long n = 0, acc = 0, cut;
	int l;

	for (l = 0; l < 256; l++)
		n += h[l];
	if (n < 16)
		return -1;
	cut = (long)(q * (double)n);
	if (down) {
		for (l = 255; l > 0 && (acc += h[l]) <= cut; l--)
			;
	} else
		for (l = 0; l < 255 && (acc += h[l]) <= cut; l++)
			;
	return l;
}

/* The highest plane under B[] of the cells read (see above): 1 and it
 * if it tilts and the busy cells sit on it, else 0. */
static int
plane_under(const float B[N], const int read[N], const int busy[N], int nread, float tol,
    struct plane *pl)
{
	float U[N], V[N], bp = 0, bq = 0, best = -INFINITY;

	for (int k = 0; k < N; k++) {
		U[k] = (float)(k % TILT_G) / TILT_G + 0.5f / TILT_G - 0.5f;
		V[k] = (float)(k / TILT_G) / TILT_G + 0.5f / TILT_G - 0.5f;
	}
	/* slopes of -256..256 in steps of 16, then around the best in
	 * halving steps down to a quarter level */
	for (float st = 16; st >= 0.25f; st /= 2) {
		float cp = bp, cq = bq;
		int r = st == 16 ? 16 : 2;
		for (int a = -r; a <= r; a++)
			for (int d = -r; d <= r; d++) {
				float p = cp + (float)a * st, q = cq + (float)d * st, f = INFINITY;
				for (int k = 0; k < N; k++)
					if (read[k])
						f = fminf(f, B[k] - p * U[k] - q * V[k]);
				if (f > best + 1e-4f) {
					best = f;
					bp = p;
					bq = q;
				}
			}
	}
	int snug = 0;
	for (int k = 0; k < N; k++)
		snug += busy[k] && B[k] - (best + bp * U[k] + bq * V[k]) <= tol;
	if (hypotf(bp, bq) < TILT_MIN || snug < TILT_SNUG * nread)
		return 0;
	*pl = (struct plane){ best, bp, bq };
	return 1;
}

int
tilt_fit(const long lo[][256], const long hi[][256], struct tilt *t)
{
	float B[N], W[N], bmin = 255, tmax = 0;
	int read[N], busy[N], rows = 0, cols = 0, nread = 0;

	*t = (struct tilt){ 0 };
	for (int k = 0; k < N; k++) {
		int b = quantile(lo[k], TILT_Q, 0), top = quantile(lo[k], TILT_Q, 1);
		read[k] = b >= 0;
		B[k] = (float)b;
		busy[k] = read[k] && top - b >= TILT_RANGE;
		W[k] = hi != NULL && read[k] ? -(float)quantile(hi[k], TILT_Q, 1) : 0;
		if (read[k]) {
			bmin = fminf(bmin, (float)b);
			tmax = fmaxf(tmax, (float)top);
			nread++;
		}
	}
	/* a cell may be unread: rs-classify reads a picture over 1 MP in a
	 * few bands of rows; a plane needs two rows and two columns of
	 * cells, and a third of them */
	for (int i = 0; i < TILT_G; i++) {
		int r = 0, c = 0;
		for (int j = 0; j < TILT_G; j++) {
			r |= read[i * TILT_G + j];
			c |= read[j * TILT_G + i];
		}
		rows += r;
		cols += c;
	}
	if (rows < 2 || cols < 2 || nread < N / 3)
		return 0;
	/* the tolerance in proportion to the picture's range: a fade
	 * narrows the scatter of a scene's own blacks with the rest */
	float tol = TILT_TOL * fmaxf(tmax - bmin, 0) / 255;
	if (!plane_under(B, read, busy, nread, tol, &t->black))
		return 0;
	/* the whites: the lowest plane over them, the highest under -W */
	if (hi != NULL && plane_under(W, read, busy, nread, tol, &t->white)) {
		t->has_white = 1;
		t->white = (struct plane){ -t->white.c, -t->white.px, -t->white.py };
	}
	return 1;
}
