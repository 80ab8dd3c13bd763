/* classify.c: measure a photo, score its degradations, recommend ops.
 *
 * Sampling. A small image (up to CL_FULL_PIXELS) is measured whole. A
 * larger one is measured on CL_BAND_H-row bands spread evenly down the
 * picture; whole-image statistics (levels, colour) use every row of the
 * bands, local measures use tiles cut from them. Every measure below is
 * intensive (a percentile, a median, a ratio, a fraction), so the two
 * regimes agree, and its cost is bounded whatever the size.
 * Positions keep their absolute image coordinates, so the 8x8 JPEG grid
 * and the period of an upscale line up across tiles.
 *
 * Measures (on 8-bit luma, or on green where said):
 *  noise    Immerkaer's operator (the 3x3 mask whose response is zero on
 *           any plane and on linear ramps) per 16x16 block of green, at
 *           full and half scale. White noise halves at half scale,
 *           photographic detail does not (natural images are close to
 *           scale invariant), so the difference isolates the noise; the
 *           median over blocks ignores edges and texture. Blocks clipped
 *           to black or white, where the noise is clipped too, are left
 *           out. Green keeps the
 *           full sigma of per-channel noise, which luma would average.
 *           Noise drawn in each channel alone is also read from chroma
 *           (Immerkaer's operator on it), which the scene's detail,
 *           alike in the three channels, leaves near zero: it holds
 *           where the comparison of scales fails (a soft picture, or
 *           one all texture). Colour blotches: chroma's spread about a
 *           plane in 8x8 blocks, read on the fifth flattest in luma (a
 *           scene's colour detail, fur or a patterned cloth, comes
 *           with luma detail; noise does not).
 *  scratches candidates stand out of a 5x5 opening or closing of green;
 *           long straight runs of them whose profile across says they
 *           lie on the scene and isolated specks count, weighed by how
 *           sure they are (see scratches()), and are painted over for
 *           the blur measure. Oriented runs of candidates too, where
 *           the scene's detail crowds them (see SCR_ND): any line on a
 *           picture that is all fine texture, hairlines on any other.
 *  blur     re-blurring (after Hu and de Haan): how much gradient energy
 *           a further known blur removes from green (a sharp picture loses
 *           much, a blurred one little), with the noise's share taken out;
 *           and the spectral slope: detail energy (Immerkaer's mask, the
 *           noise's and 8-bit rounding's share taken out) at scale 2
 *           against scale 4, which a scale-invariant picture keeps near
 *           1 and a blur empties, textures included. The slope decides
 *           where it can be read: summed over the picture, it is not
 *           misled by a defocused background, which re-blurring is.
 *           Under heavy noise, where the slope cannot be read, the larger
 *           of re-blurring and the structure function's curvature: mean
 *           squared differences at lags 1, 2, 4, whose differences white
 *           noise leaves alone, away from scratches and dust (or, where
 *           none are found, away from the damage found only).
 *           A blur that leaves part of the picture in focus (strong
 *           edges still sharp, or the slope one octave coarser emptied
 *           far more than one Gaussian blur could with so little taken
 *           from the fine one, the fine detail held in a few blocks, or
 *           emptied several times more wherever the detail is, but not
 *           in a damaged JPEG, whose block edges feed the fine octave) is
 *           reported but not called. A streak (camera shake) or a
 *           defocus disk is read apart from the power spectrum of the
 *           tiles, the damage painted over (psf.h): its deblur is planned
 *           under that kernel, and a streak is meant only where edges it
 *           crosses are still sharp.
 *  low_res  the fingerprint of interpolation: a periodic ripple in the
 *           second differences, at the enlargement factor, along both
 *           axes, or the spectrum folded about 1/(2k) cycles per pixel
 *           for an enlargement by k = 2..5 (see mirror(): it holds for a
 *           symmetric interpolation too, which leaves no ripple; in a
 *           JPEG a ripple at 1/8 or 3/8 is its grid's, at 1/4 or 1/2 too
 *           unless its sharpest edges are as soft as an enlargement by 4
 *           or 2 leaves them, and so is one at 1/4 or 1/2 that comes with
 *           one at 1/8 in any picture, see grid8()); and the
 *           width of strong edges (contrast over peak gradient, walked
 *           along the gradient on a smoothed copy), which gives the
 *           effective resolution (sharp width / width).
 *  jpeg     the quality the luma quantisation table was scaled for (IJG
 *           formula): the file's, or for another format the table its
 *           tiles' 8x8 blocks measure (quant.c: a JPEG saved as PNG
 *           keeps its DCT coefficients near multiples of the steps);
 *           and blockiness: gradient across 8x8 block edges against
 *           inside blocks, at the best grid phase.
 *  faded    percentiles of luma (each channel's for the levels reported):
 *           lifted blacks, lowered whites, the damage found left out,
 *           corrected for the spread noise gives them (luma's own noise,
 *           by the same operator on luma: per-channel noise partly
 *           averages out there), and under noise
 *           also read from the histogram deconvolved by the noise (which
 *           clips the tails, where a correction cannot reach). Under
 *           light noise with no damage found, read again on the 32x32
 *           blocks whose 1 % is darkest and 99 % brightest: a fade lifts
 *           every part, a scene without black or white in bulk keeps a
 *           few deep details; under moderate noise with no damage found,
 *           or with damage found under light noise, on the darkest and
 *           brightest medians of 4x4 cells, the damage left out. At most
 *           a little over what the channels' least black allows (a
 *           fade lifts every channel's black, a scene of saturated
 *           colours luma's alone).
 *  cast     the illuminant from the colour of the brightest pixels (in
 *           log chroma): all of them, and their less coloured half; the
 *           smaller reading, trusted fully when the grey world leans the
 *           same way. A warm reading is cut to what the grey edge shows
 *           of it, and unless the brightest pixels lean cool any reading
 *           is cut to what every tone shows of it: the
 *           least coloured tenth of each third of the pixels by luma
 *           (a cast moves shadows, mid-tones and highlights alike; a
 *           scene's own colour leaves neutral shadows or walls in some
 *           tone). Beyond a chroma spread of 0.5 the reading is scaled
 *           down by the spread's excess (grain and a low-key curve
 *           widen the spread, and the chance lean with it; a gain
 *           shifts it). A toned print (one hue, little spread) is a
 *           cast in its own right.
 */
#include <err.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "classify_priv.h"
#include "psf.h"
#include "profile.h"
#include "quant.h"
#include "util.h"

const char *const classify_types[7] = { "noise", "blur", "jpeg", "faded",
	"color_cast", "scratches", "low_resolution" };

enum { T_NOISE, T_BLUR, T_JPEG, T_FADED, T_CAST, T_SCRATCH, T_LOWRES };

/* Decision points: a type is detected when its score reaches 0.5; each
 * score is a sigmoid in its measure, centred on these values (tuned on
 * the "tune" half of bench/mkset's set, checked on the other half). */
#define NOISE_MID    5.5      /* noise sigma, 8-bit */
#define NOISE_SPAN   1.2
#define NOISE_MID_EVEN 4.0    /* the same for noise as even as added noise: */
#define EVEN_LO      0.8      /* the blocks' 10th percentile within these */
#define EVEN_HI      1.3      /* times the median (a photo's own grain */
                              /* varies more, a texture reads higher) */
#define NLF_BINS     8        /* noise level function: bands of 32 levels */
#define NLF_MIN      6        /* blocks a band needs */
#define NLF_Q        0.2      /* the quantile of a band's blocks */
#define CW_P10       0.80     /* Immerkaer chroma variance: p10 / mean */
#define CW_SIGMA     0.58     /* Immerkaer chroma over per-channel noise sigma */
#define CW_FAIL      0.75     /* the scale comparison failed below this share */
#define CHROMA_MID   2.0      /* chroma blotches: plane-fit reading above */
#define CHROMA_SPAN  0.5      /* CHROMA_WHITE x Immerkaer's */
#define CHROMA_WHITE 1.5      /* blotches read this far above white noise */
#define CHROMA_FLATQ 0.2      /* blotches read on this share of blocks, flattest in luma */
#define BLUR_MID     0.70     /* blur sigma by re-blurring, pixels */
#define BLUR_SPAN    0.1
#define SLOPE_MID    0.2      /* band energy ratio, scale 2 over 4 */
#define SLOPE_SPAN   0.35     /* in log */
#define SLOPE_SHARP  0.6      /* typical of a sharp picture */
#define PSF_SCORE    0.97     /* blur score of a sure streak or disk (full deblur steps) */
#define MOTION_CROSS 5.0      /* an edge it crosses this far is blurred by it */
#define JPEGQ_MID    55.0     /* IJG quality */
#define JPEGQ_SPAN   9.0
#define BLOCK_MID    1.32     /* blockiness ratio */
#define BLOCK_SPAN   0.04
#define FADE_MID     39.5     /* lift of luma's blacks and whites, 8-bit */
#define FADE_NOISE   0.2      /* and this much more per level of luma's noise */
#define FADE_SPAN    4.0
#define TEX_MID      0.55     /* texture measure below which the fade */
#define TEX_SPAN     0.1      /* threshold rises, by up to */
#define FADE_TEX     40.0     /* this many levels, and */
#define FADE_TEX_BLUR 12.0    /* this many per pixel of blur sigma */
#define FADE_TEX_RANGE 200.0  /* a faded texture is stretched to this range */
#define FADE_BLUR    8.0      /* elsewhere, this many per pixel of blur sigma */
#define FADE_BLUR_MIN 0.5     /* beyond this (what a sharp picture reads) */
#define FOCUS_Q      0.15     /* the lift is read again on this share of */
#define FOCUS_NMIN   8        /* 32x32 blocks, the sharpest, when as many */
#define FOCUS_SIGMA  2.0      /* and luma's noise sigma under this; */
#define FOCUS_TOL    2.5      /* their extremes, a sample, read this much deeper */
#define DEEP_SIGMA   5.0      /* under this noise sigma of luma, the extremes */
#define DEEP_NOISE   2.5      /* of the darkest and brightest 32x32 blocks (their */
#define DEEP_TOL     10.0     /* 1 and 99 %, this many sigmas in) lie at most this */
                              /* much deeper than a fade's lift */
#define FADE_CH_K    0.6      /* the lift at most the channels' least black over */
#define FADE_CH_TOL  10.0     /* this (a gain of 0.6 on a channel), and this more */
#define FADE_ONE_SIDE 10.0    /* a lift of the blacks alone needs this more */
#define FADE_WALL    20.0     /* and luma's 5 % at most this above its 1 % */
#define FADE_WALL_NOISE 0.3   /* and this many of luma's noise sigmas */
#define FADE_TEX_TOP 25.0     /* a texture's lifted whites this far off 255 */
#define DEEP_GRAIN   10.0     /* else under this sigma, those of 4x4 cells' medians */
#define DEEP_CELL_NOISE 0.25  /* (the damage found left out), this many sigmas in */
#define CAST_MID     0.09     /* log-chroma distance of the illuminant */
#define CAST_SPAN    0.02
#define CAST_COOL    0.07     /* the same, for a cool tint of the whites */
#define TONE_MIN     0.05     /* mean chroma of a toned print, at least */
#define CAST_EDGE    2.5      /* the cast at most this times the grey edge's */
#define CAST_TONE    1.5      /* ... and this times its least tone's lean */
#define CAST_TQ      0.1      /* the least coloured share of a tone read */
#define CAST_YLO     16       /* luma range the tones are cut from */
#define CAST_YHI     250
#define CAST_SPREAD  0.5      /* chroma spread beyond which the cast is scaled down */
#define SCR_MID      0.0024   /* damaged pixel fraction, weighed (SCR_EV_*) */
#define SCR_SPAN     0.0005
#define SCR_LEN      30       /* least length of a scratch, pixels */
#define SCR_LEN_HAIR 16       /* of a hairline (see scratches()) */
#define SCR_HAIR_W   1.25     /* a hairline: pixels per pixel of length, at most */
#define SCR_HAIR_ASYM 0.15    /* its profile across: asymmetry, at most */
#define SCR_HAIR_ROUGH 0.10   /* and roughness of the ground, at most */
#define SCR_EV_HAIR  2.0      /* weight of a hairline's pixels as evidence */
#define SCR_EV_LINE  0.75     /* of a wider line's of clean profile (dust: 1) */
#define SCR_EV_DOUBT 0.5      /* of any other line's */
#define SCR_CONTRAST 60.0     /* least contrast of a scratch, 8-bit */
#define SCR_CAND_W   0.3     /* weight of unexplained candidates */
#define SCR_CAND_H   0.05     /* candidate fraction at mid-rank within a side */
#define SCR_POS      0.75     /* detected: score from this up to 1 */
#define SCR_NEG      0.49     /* not detected: from 0 up to this */
#define SCR_SMOOTH_MIN 4.0    /* noise sigma above which lines are sought */
#define SCR_SMOOTH   0.8      /* on a copy smoothed by this sigma, where */
#define SCR_KEEP     0.5      /* a 1-pixel line keeps about this much contrast */
#define SCR_NOISE_LEFT 0.35   /* and white noise this much of its sigma */
#define CURV_MID     0.42     /* structure function curvature, under grain */
#define CURV_MID_CLEAR 0.36   /* the same where the slope can be read */
#define CURV_SPAN    0.02
#define CURV_TEX     0.04     /* more, on a texture that fills the picture */
#define SHARP_NMIN   50       /* strong edges needed to tell a part in focus */
#define SHARP_PART   0.02     /* share of them sharp: a part is in focus */
#define SHARP_PART_DISK 0.05  /* the same under a defocus disk */
#define SHARP_CAP    0.45     /* the blur score then, at most */
#define DEBLUR_NONE  0.60     /* a blur call this doubtful is not mended */
#define UNEVEN       0.65     /* or the blur this uneven across scales (see measure()) */
#define CONC         5.0      /* and its fine detail this concentrated */
#define UNEVEN_ALONE 4.0      /* or this uneven, where no JPEG damage is seen */
#define CURV_SIGMA   1.0      /* the blur sigma reported when it alone fires */
#define PERIOD_MID   1.2      /* log10 peak of the interpolation ripple */
#define PERIOD_SPAN  0.04
#define MIRROR_MID   0.55     /* spectral mirror coherence */
#define MIRROR_SPAN  0.08
#define GRID_SHARE   0.3      /* a ripple at 1/4 or 1/2 is a JPEG's grid's, where its */
                              /* profile modulo 8 has this much at 1/8 (see grid8()) */
#define GRID_EFF     1.4      /* a JPEG grid's ripple at 1/k is an enlargement's */
                              /* by k only under this times 1/k of resolution */
#define EDGE_SHARP_Q 0.2      /* read at this quantile of edge widths: the */
                              /* part in focus, where a background is not */
#define EFF_MID      0.85     /* effective resolution */
#define EFF_SPAN     0.08

/* 0.5 at mid, 0.85 at mid + span; an algebraic sigmoid, which nears 0
 * and 1 slowly, so that strong damage still ranks above weaker damage
 * after rounding */
static double
sigmoid(double x, double mid, double span)
{
	double u = (x - mid) / span;

	return 0.5 + 0.5 * u / sqrt(1.0 + u * u);
}

static double
clampd(double x, double lo, double hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

static int
cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The p-quantile (0..1) of v[0..n), sorting v in place; 0 when empty. */
static double
quantile(double *v, size_t n, double p)
{
	double f;
	size_t i;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, cmpd);
	f = p * (double)(n - 1);
	i = (size_t)f;
	if (i + 1 >= n)
		return v[n - 1];
	return v[i] + (f - (double)i) * (v[i + 1] - v[i]);
}

/* The resolution an edge width (contrast over peak gradient, pixels)
 * leaves, once the smoothing sg it was read through is taken out. */
static double
edge_resolution(double width, double sg)
{
	double se = width / 2.5066;
	double v = se * se - sg * sg;
	se = v > 0.01 ? sqrt(v) : 0.1;
	return clampd(0.8 / se, 0.05, 1.0);
}

/* p-quantile of a 256-bin histogram */
static double
hquantile(const double *h, double total, double p)
{
	double acc = 0, want = p * total;

	for (int i = 0; i < 256; i++) {
		if (acc + h[i] >= want && h[i] > 0)
			return i + (h[i] > 0 ? (want - acc) / h[i] : 0) - 0.5;
		acc += h[i];
	}
	return 255;
}

/* ---- planning and feeding rows ---- */

int
cl_begin(const char *name, struct cl *c)
{
	size_t rows;

	if ((unsigned long long)c->w * (unsigned long long)c->h <= CL_FULL_PIXELS) {
		c->nband = 1;
		c->band_y[0] = 0;
		c->bandh = c->h;
		c->ntile = 1;
		c->tile[0] = (struct cl_tile){ 0, 0, c->w, c->h, NULL };
	} else {
		int nb = c->h / 512, nt = c->w / 1280;
		nb = nb < 2 ? 2 : nb > CL_MAX_BANDS ? CL_MAX_BANDS : nb;
		nt = nt < 1 ? 1 : nt > CL_MAX_TILES ? CL_MAX_TILES : nt;
		c->bandh = c->h < CL_BAND_H ? c->h : CL_BAND_H;
		if (nb * c->bandh > c->h)
			nb = c->h / c->bandh;
		c->nband = nb;
		c->ntile = 0;
		for (int i = 0; i < nb; i++) {
			int y = (int)(((long long)(2 * i + 1) * c->h) / (2 * nb)) - c->bandh / 2;
			y = y / 16 * 16;
			if (y < 0)
				y = 0;
			if (y + c->bandh > c->h)
				y = c->h - c->bandh;
			if (i > 0 && y < c->band_y[i - 1] + c->bandh)
				y = c->band_y[i - 1] + c->bandh;
			c->band_y[i] = y;
			int tw = c->w < CL_TILE_W ? c->w : CL_TILE_W;
			for (int j = 0; j < nt; j++) {
				int x = (int)(((long long)(2 * j + 1) * c->w) / (2 * nt)) - tw / 2;
				x = x / 8 * 8;
				if (x < 0)
					x = 0;
				if (x + tw > c->w)
					x = c->w - tw;
				c->tile[c->ntile++] = (struct cl_tile){ x, y, tw, c->bandh, NULL };
			}
		}
	}
	for (int i = 0; i < c->ntile; i++) {
		struct cl_tile *t = &c->tile[i];
		if ((t->px = malloc((size_t)t->w * (size_t)t->h * (size_t)c->ch)) == NULL) {
			warn("%s", name);
			return EX_OSERR;
		}
	}
	rows = (size_t)c->nband * (size_t)c->bandh;
	c->accstep = 1;
	while ((double)rows * c->w / ((double)c->accstep * c->accstep) > 250000.0)
		c->accstep++;
	return 0;
}

int
cl_wants(const struct cl *c, int y)
{
	for (int i = 0; i < c->nband; i++)
		if (y >= c->band_y[i] && y < c->band_y[i] + c->bandh)
			return 1;
	return 0;
}

void
cl_row(struct cl *c, int y, const uint8_t *row, int sch)
{
	int gray = sch <= 2, step = c->accstep;

	for (int i = 0; i < c->ntile; i++) {
		struct cl_tile *t = &c->tile[i];
		if (y < t->y0 || y >= t->y0 + t->h)
			continue;
		uint8_t *d = t->px + (size_t)(y - t->y0) * t->w * c->ch;
		const uint8_t *s = row + (size_t)t->x0 * sch;
		for (int x = 0; x < t->w; x++, s += sch)
			if (c->ch == 1)
				*d++ = s[0];
			else {
				*d++ = s[0];
				*d++ = gray ? s[0] : s[1];
				*d++ = gray ? s[0] : s[2];
			}
	}
	if (y % step != 0)
		return;
	for (int x = 0; x < c->w; x += step) {
		const uint8_t *s = row + (size_t)x * sch;
		int r = s[0], g = gray ? s[0] : s[1], b = gray ? s[0] : s[2];
		int yy = (299 * r + 587 * g + 114 * b + 500) / 1000;
		c->hist[0][r]++;
		c->hist[1][g]++;
		c->hist[2][b]++;
		c->hist[3][yy]++;
		c->csum[0] += r;
		c->csum[1] += g;
		c->csum[2] += b;
		c->nacc++;
		if (abs(r - g) <= 3 && abs(g - b) <= 3)
			c->neutral++;
		if (yy >= 24 && yy <= 240) {
			double u = (r - g) / (yy + 16.0), v = (b - g) / (yy + 16.0);
			c->cm[0]++;
			c->cm[1] += u;
			c->cm[2] += v;
			c->cm[3] += u * u;
			c->cm[4] += v * v;
			c->cm[5] += u * v;
		}
		c->tilt[tilt_cell(x, y, c->w, c->h)][r < g ? (r < b ? r : b) : (g < b ? g : b)]++;
		/* colour of the brightest pixels: sums per luma level */
		c->bright[yy][0] += r;
		c->bright[yy][1] += g;
		c->bright[yy][2] += b;
		{
			double u = (r - g) / (yy + 16.0), v = (b - g) / (yy + 16.0);
			int cb = (int)(sqrt(u * u + v * v) / CL_CB);
			cb = cb >= CL_NCB ? CL_NCB - 1 : cb;
			c->nbc[yy][cb]++;
			c->nbs[yy][cb][0] += r;
			c->nbs[yy][cb][1] += g;
			c->nbs[yy][cb][2] += b;
		}
	}
}

void
cl_end(struct cl *c)
{
	for (int i = 0; i < c->ntile; i++)
		free(c->tile[i].px);
	c->ntile = 0;
}

/* ---- local measures ---- */

struct feat {
	/* noise */
	double *nz, *nzw, *nzm;       /* per block: sigma, white-noise sigma, mean */
	size_t nblk, capblk;
	/* chroma noise: per 8x8 block, the variance of Cb and Cr about a
	 * plane, and their Immerkaer variance */
	double *cz, *cw, *cy;         /* cy: luma's variance about its plane */
	size_t ncz, capcz, ncw, capcw, ncy, capcy;
	/* edges */
	double *ew;                   /* edge widths */
	size_t nedge, capedge;
	/* blockiness: gradient sums by position mod 8 */
	double bh[8], bv[8], bhn[8], bvn[8];
	/* interpolation: second-difference profiles by absolute position */
	double *px2, *pxn, *py2, *pyn;
	/* interpolation: spectral mirror products about 1/(2k), k = 2..5 */
	double mre[4], mim[4], mab[4];
	/* scratches */
	double dmg, area, cand;        /* damaged, measured, candidate pixels */
	double ev;                     /* the same, weighed as evidence */
	/* band energies: squared Immerkaer response at scales 2 and 4 */
	double be[4], bn[4];
	/* structure function under grain: mean squared difference at lags
	 * 1, 2, 4 away from thin bright or dark detail (sd), and away from
	 * the damage found only (sdf) */
	double sd[3], sdn[3], sdf[3], sdfn[3];
	/* texture: 32x32 blocks of luma, their means and the variance of
	 * their 4x4 means */
	double tb, tbb, tv, tn;
	/* grey edge: mean gradient magnitude of each channel at half scale */
	double ge[3], gen;
	double nstrong, nsharp;       /* strong edges; of them, sharp */
	double nstrong_d[2], nsharp_d[2];   /* the same by gradient: along x, along y */
	/* focus: 32x32 blocks of luma, their sharpness and histogram */
	struct fblk *fb;
	size_t nfb, capfb;
	/* deep: the medians of luma's 4x4 cells, the damage found left
	 * out, by half level (a median of 16 levels is one) */
	double hcm[512], ncm;
	/* band energies at scales 2 and 4 by BAND_B x BAND_B block */
	double *bb2, *bb4;
	size_t nbb2, capbb2, nbb4, capbb4;
};

static double imk(const float *p, int w);

/* Band energies of a tile: the image halved 2x2 at a time, the squared
 * Immerkaer response summed at each scale. White noise of variance n^2
 * contributes 36 n^2 / 4^k at scale 2^k. */
static int push(double **v, size_t *n, size_t *cap, double x);
#define BAND_B 32                 /* blocks for where the fine detail is */
static int
bands(struct feat *f, const float *Y, int w, int h)
{
	float *a = malloc((size_t)w * h * sizeof *a), *b = NULL;
	int nbx = w / BAND_B, nby = h / BAND_B;
	double *be = calloc((size_t)(nbx * nby + 1) * 2, sizeof *be);   /* by block */
	if (a == NULL || be == NULL) {
		free(a);
		free(be);
		return -1;
	}
	memcpy(a, Y, (size_t)w * h * sizeof *a);
	for (int k = 0; k < 4 && w >= 8 && h >= 8; k++) {
		for (int y = 1; k > 0 && y < h - 1; y++)      /* scales 2, 4 and 8 are used */
			for (int x = 1; x < w - 1; x++) {
				double v = imk(a + (size_t)y * w + x, w);
				f->be[k] += v * v;
				f->bn[k]++;
				if (k == 1 || k == 2) {         /* a mean over the block's */
					int bx = (x << k) / BAND_B, by = (y << k) / BAND_B;
					if (bx < nbx && by < nby)
						be[2 * (by * nbx + bx) + k - 1] += v * v * (1 << (2 * k)) /
						    (BAND_B * BAND_B);
				}
			}
		int w2 = w / 2, h2 = h / 2;
		if ((b = malloc((size_t)w2 * h2 * sizeof *b)) == NULL) {
			free(a);
			return -1;
		}
		for (int y = 0; y < h2; y++)
			for (int x = 0; x < w2; x++) {
				const float *p = a + (size_t)(2 * y) * w + 2 * x;
				b[(size_t)y * w2 + x] = (p[0] + p[1] + p[w] + p[w + 1]) * 0.25f;
			}
		free(a);
		a = b;
		w = w2;
		h = h2;
	}
	free(a);
	for (int i = 0; i < nbx * nby; i++)
		if (push(&f->bb2, &f->nbb2, &f->capbb2, be[2 * i]) < 0 ||
		    push(&f->bb4, &f->nbb4, &f->capbb4, be[2 * i + 1]) < 0) {
			free(be);
			return -1;
		}
	free(be);
	return 0;
}

static int
push(double **v, size_t *n, size_t *cap, double x)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 1024;
		double *nv = realloc(*v, nc * sizeof *nv);
		if (nv == NULL)
			return -1;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = x;
	return 0;
}

/* Immerkaer's mask at (x, y) of a w-wide float image */
static double
imk(const float *p, int w)
{
	return p[-w - 1] - 2 * p[-w] + p[-w + 1] - 2 * p[-1] + 4 * p[0] - 2 * p[1] +
	    p[w - 1] - 2 * p[w] + p[w + 1];
}

#define IMK_K (1.2533141373155 / 6.0)     /* sqrt(pi/2)/6: mean |mask| -> sigma */

static int
noise_blocks(struct feat *f, const float *Y, int w, int h)
{
	float b2[64];

	for (int by = 0; by + 16 <= h; by += 16)
		for (int bx = 0; bx + 16 <= w; bx += 16) {
			double a1 = 0, a2 = 0;
			int n1 = 0, n2 = 0, clip = 0;
			/* where the picture is clipped (black or white) the
			 * noise is clipped too: such a block says too little */
			for (int y = by; y < by + 16; y++)
				for (int x = bx; x < bx + 16; x++) {
					float v = Y[(size_t)y * w + x];
					clip += v < 0.5f || v > 254.5f;
				}
			if (clip > 256 / 20)
				continue;
			for (int y = by; y < by + 16; y++) {
				if (y < 1 || y >= h - 1)
					continue;
				for (int x = bx; x < bx + 16; x++) {
					if (x < 1 || x >= w - 1)
						continue;
					a1 += fabs(imk(Y + (size_t)y * w + x, w));
					n1++;
				}
			}
			for (int y = 0; y < 8; y++)
				for (int x = 0; x < 8; x++) {
					const float *p = Y + (size_t)(by + 2 * y) * w + bx + 2 * x;
					b2[y * 8 + x] = (p[0] + p[1] + p[w] + p[w + 1]) * 0.25f;
				}
			for (int y = 1; y < 7; y++)
				for (int x = 1; x < 7; x++) {
					a2 += fabs(imk(b2 + y * 8 + x, 8));
					n2++;
				}
			double s1 = IMK_K * a1 / n1, s2 = IMK_K * a2 / n2, mean = 0;
			for (int y = 0; y < 64; y++)
				mean += b2[y];
			mean /= 64;
			/* s1^2 = n^2 + T, s2^2 = n^2/4 + T for scale-invariant detail T */
			double nw = s1 * s1 - s2 * s2;
			nw = nw > 0 ? sqrt(nw * 4.0 / 3.0) : 0;
			if (f->nblk == f->capblk) {
				size_t nc = f->capblk ? f->capblk * 2 : 1024;
				double *a = realloc(f->nz, nc * sizeof *a), *b;
				if (a == NULL)
					return -1;
				f->nz = a;
				if ((b = realloc(f->nzw, nc * sizeof *b)) == NULL)
					return -1;
				f->nzw = b;
				if ((b = realloc(f->nzm, nc * sizeof *b)) == NULL)
					return -1;
				f->nzm = b;
				f->capblk = nc;
			}
			f->nz[f->nblk] = s1;
			f->nzm[f->nblk] = mean;
			f->nzw[f->nblk++] = nw;
		}
	return 0;
}

/* The sum of squares of an 8x8 block about its least-squares plane. */
static double
plane_res(const float v[64])
{
	double sm = 0, sx = 0, sy = 0, ss = 0;
	for (int y = 0; y < 8; y++)
		for (int x = 0; x < 8; x++) {
			double t = v[y * 8 + x];
			sm += t;
			sx += t * (x - 3.5);
			sy += t * (y - 3.5);
			ss += t * t;
		}
	/* the sum of (x - 3.5)^2 over a block is 336 */
	double m = sm / 64, gx = sx / 336, gy = sy / 336;
	return ss - 64 * m * m - 336 * (gx * gx + gy * gy);
}

/* Chroma noise per 8x8 block of RGB px: Cb and Cr (Rec. 601), the
 * variance of each about its least-squares plane (blotches of a few
 * pixels, as demosaicking leaves them, keep most of theirs), and
 * Immerkaer's variance on the inner 6x6 (white noise only: a blotch is
 * nearly a plane at that scale), and luma's variance about its plane
 * (the blotches are read on the flattest blocks). Blocks clipped in more than a
 * twentieth of their pixels are left out. */
static int
chroma_blocks(struct feat *f, const uint8_t *px, int w, int h)
{
	float c[3][64];            /* Cb, Cr, luma */

	for (int by = 0; by + 8 <= h; by += 8)
		for (int bx = 0; bx + 8 <= w; bx += 8) {
			int clip = 0;
			double e = 0, wv = 0;
			for (int y = 0; y < 8; y++)
				for (int x = 0; x < 8; x++) {
					const uint8_t *q = px + ((size_t)(by + y) * w + bx + x) * 3;
					clip += q[0] == 0 || q[0] == 255 || q[1] == 0 || q[1] == 255 ||
					    q[2] == 0 || q[2] == 255;
					c[0][y * 8 + x] = -0.168736f * q[0] - 0.331264f * q[1] + 0.5f * q[2];
					c[1][y * 8 + x] = 0.5f * q[0] - 0.418688f * q[1] - 0.081312f * q[2];
					c[2][y * 8 + x] = 0.299f * q[0] + 0.587f * q[1] + 0.114f * q[2];
				}
			if (clip > 64 / 20)
				continue;
			for (int k = 0; k < 2; k++) {
				e += plane_res(c[k]);
				for (int y = 1; y < 7; y++)
					for (int x = 1; x < 7; x++) {
						double r = imk(c[k] + y * 8 + x, 8);
						wv += r * r / 36;
					}
			}
			if (push(&f->cy, &f->ncy, &f->capcy, plane_res(c[2]) / 61) < 0 ||
			    push(&f->cz, &f->ncz, &f->capcz, e / (2 * 61)) < 0 ||
			    push(&f->cw, &f->ncw, &f->capcw, wv / (2 * 36)) < 0)
				return -1;
		}
	return 0;
}

/* Edge widths along rows (dir 0) or columns (dir 1) of the smoothed S,
 * and a count of the strong edges and of those still sharp (read on S
 * smoothed by BLUR_SP only). */
#define EDGE_STRONG  40.0         /* contrast of a strong edge, 8-bit */
#define EDGE_SHARP   2.5          /* width of a sharp one, pixels */
static int
edges(struct feat *f, const float *S, int w, int h, double mincon)
{
	for (int dir = 0; dir < 2; dir++) {
		int n = dir ? h : w, m = dir ? w : h;
		size_t st = dir ? (size_t)w : 1, lt = dir ? 1 : (size_t)w;
		for (int j = 2; j < m - 2; j++)
			for (int i = 3; i < n - 3; i++) {
				const float *p = S + (size_t)j * lt + (size_t)i * st;
				double g = (p[st] - p[-(ptrdiff_t)st]) * 0.5;
				double go = (p[lt] - p[-(ptrdiff_t)lt]) * 0.5;
				double ag = fabs(g);
				if (ag < 2.0 || ag < fabs(go) * 1.5)
					continue;
				double gl = fabs(p[0] - p[-2 * (ptrdiff_t)st]) * 0.5;
				double gr = fabs(p[2 * st] - p[0]) * 0.5;
				if (ag < gl || ag <= gr)
					continue;
				double s = g > 0 ? 1 : -1, t = 0.1 * ag;
				int a = i, b = i;
				while (a > 0 && i - a < 24 &&
				    s * (S[(size_t)j * lt + (size_t)a * st] -
				    S[(size_t)j * lt + (size_t)(a - 1) * st]) > t)
					a--;
				while (b < n - 1 && b - i < 24 &&
				    s * (S[(size_t)j * lt + (size_t)(b + 1) * st] -
				    S[(size_t)j * lt + (size_t)b * st]) > t)
					b++;
				double con = s * (S[(size_t)j * lt + (size_t)b * st] -
				    S[(size_t)j * lt + (size_t)a * st]);
				if (con < mincon || a == 0 || b == n - 1)
					continue;
				if (con >= EDGE_STRONG) {
					f->nstrong++;
					f->nsharp += con / ag < EDGE_SHARP;
					f->nstrong_d[dir]++;
					f->nsharp_d[dir] += con / ag < EDGE_SHARP;
				}
				if (push(&f->ew, &f->nedge, &f->capedge, con / ag) < 0)
					return -1;
			}
	}
	return 0;
}

/* A second difference for the interpolation profile: a level or less is
 * what 8-bit rounding of a smooth gradient leaves, in steps regular
 * enough to look periodic, so it does not count. */
static double
d2(double v)
{
	v = fabs(v) - 1.0;
	return v > 0 ? v : 0;
}

/* Second differences, summed by absolute column and row, and gradients
 * across 8x8 grid positions. */
static void
profiles(struct feat *f, const float *Y, int w, int h, int x0, int y0)
{
	for (int y = 0; y < h; y++) {
		const float *r = Y + (size_t)y * w;
		for (int x = 1; x < w - 1; x++) {
			f->px2[x0 + x] += d2(r[x - 1] - 2 * r[x] + r[x + 1]);
			f->pxn[x0 + x]++;
		}
		for (int x = 0; x < w - 1; x++) {
			double d = fabs(r[x + 1] - r[x]);
			f->bh[(x0 + x) & 7] += d < 24 ? d : 24;
			f->bhn[(x0 + x) & 7]++;
		}
	}
	for (int y = 1; y < h - 1; y++)
		for (int x = 0; x < w; x++) {
			const float *p = Y + (size_t)y * w + x;
			f->py2[y0 + y] += d2(p[-w] - 2 * p[0] + p[w]);
			f->pyn[y0 + y]++;
		}
	for (int y = 0; y < h - 1; y++)
		for (int x = 0; x < w; x++) {
			double d = fabs(Y[(size_t)(y + 1) * w + x] - Y[(size_t)y * w + x]);
			f->bv[(y0 + y) & 7] += d < 24 ? d : 24;
			f->bvn[(y0 + y) & 7]++;
		}
}


/* Mirror coherence. Enlarging by an integer factor k folds the spectrum
 * of the small picture about 1/(2k) cycles per pixel: the component at
 * 1/(2k) + e is the conjugate image of the one at 1/(2k) - e, so their
 * product keeps one phase all over the picture, where a natural
 * picture's components have unrelated phases. Summed over windows of
 * rows and columns (the phase corrected for each window's absolute
 * position), |sum of products| / sum of |products| is near 0 for a
 * natural picture and near 1 for an enlarged one, whatever the
 * interpolation (and also when it is symmetric, which leaves no ripple
 * in the second differences). */
#define MIR_N 64
/* window and DFT basis: [k - 2][e][0 = above, 1 = below][cos, -sin] */
struct mir {
	float win[MIR_N], bas[4][4][2][2][MIR_N];
	int ne[4];
};

static void
mirror_init(struct mir *b)
{
	for (int i = 0; i < MIR_N; i++)
		b->win[i] = (float)(0.5 - 0.5 * cos(2 * M_PI * (i + 0.5) / MIR_N));
	for (int k = 2; k <= 5; k++) {
		double c = 0.5 / k;
		b->ne[k - 2] = 0;
		for (int e = 2; e <= 5 && c - e / (double)MIR_N > 0.015; e++) {
			b->ne[k - 2] = e - 1;
			for (int a = 0; a < 2; a++)
				for (int i = 0; i < MIR_N; i++) {
					double fr = a ? c - e / (double)MIR_N : c + e / (double)MIR_N;
					b->bas[k - 2][e - 2][a][0][i] = (float)cos(2 * M_PI * fr * i);
					b->bas[k - 2][e - 2][a][1][i] = (float)-sin(2 * M_PI * fr * i);
				}
		}
	}
}

static void
mirror(struct feat *f, const struct mir *mb, const float *Y, int w, int h, int x0, int y0,
    int step)
{
	const float *win = mb->win;
	const int *ne = mb->ne;
	double v[MIR_N];

	for (int dir = 0; dir < 2; dir++) {
		int len = dir ? h : w, lines = dir ? w : h, a0 = dir ? y0 : x0;
		size_t st = dir ? (size_t)w : 1, lt = dir ? 1 : (size_t)w;
		for (int j = 0; j < lines; j += step)   /* every 4th or 8th line is plenty */
			for (int s0 = 0; s0 + MIR_N <= len; s0 += MIR_N) {
				double mean = 0;
				for (int i = 0; i < MIR_N; i++)
					mean += v[i] = Y[(size_t)j * lt + (size_t)(s0 + i) * st];
				mean /= MIR_N;
				for (int i = 0; i < MIR_N; i++)
					v[i] = (v[i] - mean) * win[i];
				for (int k = 2; k <= 5; k++) {
					double pr = 0, pi = 0, pa = 0;
					for (int e = 0; e < ne[k - 2]; e++) {
						const float *c1 = mb->bas[k - 2][e][0][0], *s1 = mb->bas[k - 2][e][0][1];
						const float *c2 = mb->bas[k - 2][e][1][0], *s2 = mb->bas[k - 2][e][1][1];
						double r1 = 0, i1 = 0, r2 = 0, i2 = 0;
						for (int i = 0; i < MIR_N; i++) {
							r1 += v[i] * c1[i];
							i1 += v[i] * s1[i];
							r2 += v[i] * c2[i];
							i2 += v[i] * s2[i];
						}
						pr += r1 * r2 - i1 * i2;
						pi += r1 * i2 + i1 * r2;
						pa += sqrt((r1 * r1 + i1 * i1) * (r2 * r2 + i2 * i2));
					}
					/* a shift by n0 turns the product by 2 pi n0 / k */
					int n0 = a0 + s0;
					double ph = 2 * M_PI * (double)(n0 % k) / k;
					f->mre[k - 2] += pr * cos(ph) - pi * sin(ph);
					f->mim[k - 2] += pr * sin(ph) + pi * cos(ph);
					f->mab[k - 2] += pa;
				}
			}
	}
}

/* separable min or max over a 5x5 square (edges clamped) */
static void
morph(const float *in, float *out, float *tmp, int w, int h, int ismax)
{
#define PICK(a, b) (ismax ? ((a) > (b) ? (a) : (b)) : ((a) < (b) ? (a) : (b)))
	for (int y = 0; y < h; y++) {
		const float *r = in + (size_t)y * w;
		float *o = tmp + (size_t)y * w;
		for (int x = 0; x < w; x++) {
			float v = r[x];
			if (x >= 2 && x < w - 2) {
				v = PICK(v, r[x - 1]); v = PICK(v, r[x + 1]);
				v = PICK(v, r[x - 2]); v = PICK(v, r[x + 2]);
			} else
				for (int k = -2; k <= 2; k++) {
					int xx = x + k < 0 ? 0 : x + k >= w ? w - 1 : x + k;
					v = PICK(v, r[xx]);
				}
			o[x] = v;
		}
	}
	for (int y = 0; y < h; y++) {
		const float *rows[5];
		for (int k = -2; k <= 2; k++)
			rows[k + 2] = tmp + (size_t)(y + k < 0 ? 0 : y + k >= h ? h - 1 : y + k) * w;
		float *o = out + (size_t)y * w;
		for (int x = 0; x < w; x++) {
			float v = rows[0][x];
			v = PICK(v, rows[1][x]); v = PICK(v, rows[2][x]);
			v = PICK(v, rows[3][x]); v = PICK(v, rows[4][x]);
			o[x] = v;
		}
	}
#undef PICK
}

/* Scratches and dust: pixels standing out of a 5x5 opening (bright) or
 * closing (dark) by more than thr are candidates.
 * Dust is an 8-connected group of candidates at most 5 pixels across,
 * with no other candidate nearby, on a smooth ground.
 * A scratch is made of line-like candidates: those whose neighbours
 * within SCR_R lie along one direction, so that where two scratches
 * cross, or a scratch touches other detail, the line goes on either
 * side. A group of line-like candidates counts when it is long
 * (SCR_LEN), straight (its spread across its principal axis stays near
 * one pixel; fine detail curves or branches) and lies on a ground that
 * is alike on its two sides (an outline between two regions is not).
 * Then its profile across, averaged along it, is judged as descratch
 * judges it (profile.h): a line of the scene (one side darker all along,
 * or ground that bends on both sides) is not counted. A hairline, at
 * most SCR_HAIR_W pixels wide with a clean profile, is thinner and
 * cleaner than a lens draws a real line: it counts from SCR_LEN_HAIR
 * (a scratch across the scene is broken into short pieces where the
 * ground is as bright or dark as it), and a long one weighs SCR_EV_HAIR
 * in the evidence that decides the call; a wider line of clean profile
 * SCR_EV_LINE and any other SCR_EV_DOUBT, since a tripod leg, a strap
 * or a mortar joint can look the same. */
enum { SC_CAND = 1, SC_SEEN = 2, SC_LINE = 4, SC_SEEN2 = 8, SC_DARK = 16, SC_ORUN = 32,
	SC_SEEN3 = 64 };
#define SCR_R 5
/* Where the ground's own thin detail crowds the window (fine texture:
 * grass, gravel; fur, a grid of windows, graffiti, a chessboard's
 * pieces), the line test above fails on a scratch too. So a candidate
 * not yet taken is line-like also when, along one of SCR_ND directions,
 * at least SCR_ON of the 2 SCR_OR + 1 pixels centred on it are
 * candidates of the same polarity (bright or dark), a pixel either side
 * across the direction counting: the ground's detail is short or
 * curved, a scratch runs on. Such pixels are grouped with those of the
 * same polarity and direction (within one step), and a group counts as
 * a scratch by the same tests of length, straightness, ground and
 * profile. On a picture that is all fine texture any such line counts;
 * on any other only a hairline (SCR_HAIR_W, clean profile), since the
 * edges of a busy scene run on as well, but are wider or one-sided. */
#define SCR_ND 16
#define SCR_OR 7
#define SCR_ON 12

struct blob {
	int cnt, xmin, xmax, ymin, ymax;
	double sx, sy, sxx, syy, sxy, scon;     /* relative to the seed */
};

/* 8-connected flood fill from i over pixels with bit want and without
 * bit seen (which it sets); the pixels go to comp[]. With dir (a
 * direction 0..SCR_ND-1 per pixel), only over pixels of i's polarity
 * whose direction is within one step of i's. */
static void
fill(uint8_t *m, const uint8_t *dir, int w, int h, int i, uint8_t want, uint8_t seen,
    int *stack, int *comp, const float *con, struct blob *b)
{
	int sp = 0, x0 = i % w, y0 = i / w, d0 = dir != NULL ? dir[i] : 0;
	uint8_t pol = m[i] & SC_DARK;

	memset(b, 0, sizeof *b);
	b->xmin = b->xmax = x0;
	b->ymin = b->ymax = y0;
	m[i] |= seen;
	stack[sp++] = i;
	while (sp > 0) {
		int k = stack[--sp], ky = k / w, kx = k % w;
		comp[b->cnt++] = k;
		b->scon += con[k];
		b->sx += kx - x0;
		b->sy += ky - y0;
		b->sxx += (double)(kx - x0) * (kx - x0);
		b->syy += (double)(ky - y0) * (ky - y0);
		b->sxy += (double)(kx - x0) * (ky - y0);
		b->xmin = kx < b->xmin ? kx : b->xmin;
		b->xmax = kx > b->xmax ? kx : b->xmax;
		b->ymin = ky < b->ymin ? ky : b->ymin;
		b->ymax = ky > b->ymax ? ky : b->ymax;
		for (int dy = -1; dy <= 1; dy++)
			for (int dx = -1; dx <= 1; dx++) {
				int nx = kx + dx, ny = ky + dy;
				if (nx < 0 || ny < 0 || nx >= w || ny >= h)
					continue;
				int j = ny * w + nx;
				if (!(m[j] & want) || (m[j] & seen))
					continue;
				if (dir != NULL) {
					int dd = abs(dir[j] - d0);
					if ((m[j] & SC_DARK) != pol || (dd > 1 && dd != SCR_ND - 1))
						continue;
				}
				m[j] |= seen;
				stack[sp++] = j;
			}
	}
}

/* principal axes of a point cloud from its sums: l1 >= l2, (ux, uy) is
 * the unit vector along l1 */
static void
axes(double n, double sx, double sy, double sxx, double syy, double sxy,
    double *l1, double *l2, double *ux, double *uy)
{
	double mx = sx / n, my = sy / n;
	double cxx = sxx / n - mx * mx, cyy = syy / n - my * my, cxy = sxy / n - mx * my;
	double tr = cxx + cyy, det = cxx * cyy - cxy * cxy;
	double disc = sqrt(fmax(0, tr * tr / 4 - det));
	double vx = cxy, vy = tr / 2 + disc - cxx, vn;

	*l1 = tr / 2 + disc;
	*l2 = fmax(0, tr / 2 - disc);
	if (fabs(cxy) < 1e-12) {
		vx = cxx >= cyy ? 1 : 0;
		vy = cxx >= cyy ? 0 : 1;
	}
	vn = hypot(vx, vy);
	*ux = vn > 0 ? vx / vn : 1;
	*uy = vn > 0 ? vy / vn : 0;
}

/* Mark SC_ORUN, with its direction in dir[], on each candidate not yet
 * painted over (out still Y0) that runs on along some direction (see
 * SCR_ND). nb (w*h bytes) is scratch space: bit 4 * polarity + j says
 * that a candidate of that polarity is at the pixel or at either
 * neighbour across one of four directions j. 0, or -1 out of memory. */
static int
orient_runs(uint8_t *m, uint8_t *dir, int w, int h, const float *out, const float *Y0)
{
	static const int qx[4] = { 1, 0, 1, 1 }, qy[4] = { 0, 1, 1, -1 };
	int ox[SCR_ND][2 * SCR_OR + 1], oy[SCR_ND][2 * SCR_OR + 1], qk[SCR_ND];
	ptrdiff_t lo[SCR_ND][2 * SCR_OR + 1];        /* the same as index offsets */
	size_t n = (size_t)w * h;
	uint8_t *nb = calloc(n, 1);

	if (nb == NULL)
		return -1;
	for (int k = 0; k < SCR_ND; k++) {
		double th = M_PI * k / SCR_ND, ux = cos(th), uy = sin(th);
		int px = (int)lrint(-uy), py = (int)lrint(ux);
		for (int t = -SCR_OR; t <= SCR_OR; t++) {
			ox[k][t + SCR_OR] = (int)lrint(t * ux);
			oy[k][t + SCR_OR] = (int)lrint(t * uy);
			lo[k][t + SCR_OR] = (ptrdiff_t)oy[k][t + SCR_OR] * w + ox[k][t + SCR_OR];
		}
		qk[k] = 0;
		for (int j = 0; j < 4; j++)
			if ((px == qx[j] && py == qy[j]) || (px == -qx[j] && py == -qy[j]))
				qk[k] = j;
	}
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			size_t i = (size_t)y * w + x;
			if (!(m[i] & SC_CAND))
				continue;
			int pb = m[i] & SC_DARK ? 4 : 0;
			for (int j = 0; j < 4; j++)
				for (int q = -1; q <= 1; q++) {
					int xx = x + q * qx[j], yy = y + q * qy[j];
					if (xx >= 0 && yy >= 0 && xx < w && yy < h)
						nb[(size_t)yy * w + xx] |= (uint8_t)(1 << (pb + j));
				}
		}
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			size_t i = (size_t)y * w + x;
			if (!(m[i] & SC_CAND) || out[i] != Y0[i])
				continue;
			int pb = m[i] & SC_DARK ? 4 : 0, best = SCR_ON - 1, bk = -1;
			int inner = x >= SCR_OR && y >= SCR_OR && x < w - SCR_OR && y < h - SCR_OR;
			for (int k = 0; k < SCR_ND; k++) {
				/* a direction must beat the best so far: stop at
				 * one miss too many for that */
				int cnt = 0, miss = 0;
				uint8_t bit = (uint8_t)(1 << (pb + qk[k]));
				for (int t = 0; t < 2 * SCR_OR + 1; t++) {
					int xx = x + ox[k][t], yy = y + oy[k][t];
					if (inner ? (nb[i + lo[k][t]] & bit) :
					    xx >= 0 && yy >= 0 && xx < w && yy < h &&
					    (nb[(size_t)yy * w + xx] & bit))
						cnt++;
					else if (++miss > 2 * SCR_OR - best)
						break;
				}
				if (cnt > best) {
					best = cnt;
					bk = k;
				}
			}
			if (bk >= 0) {
				m[i] |= SC_ORUN;
				dir[i] = (uint8_t)bk;
			}
		}
	free(nb);
	return 0;
}

/* Accepted damage is painted over with its ground in out (a copy of Y),
 * for the measures that fine bright lines would mislead. */
static void
repaint(const int *comp, int cnt, const uint8_t *m, const float *op, const float *cl,
    float *out, int w, int h)
{
	for (int q = 0; q < cnt; q++) {
		int kx = comp[q] % w, ky = comp[q] / w;
		const float *bg = (m[comp[q]] & SC_DARK) ? cl : op;
		for (int dy = -1; dy <= 1; dy++)
			for (int dx = -1; dx <= 1; dx++) {
				int nx = kx + dx, ny = ky + dy;
				if (nx >= 0 && ny >= 0 && nx < w && ny < h)
					out[(size_t)ny * w + nx] = bg[(size_t)ny * w + nx];
			}
	}
}

static int
scratches(struct feat *f, const float *Y0, const float *Y, int w, int h, double thr, float *out,
    uint8_t *mask, double mthr, int busy)
{
	uint8_t *dir = NULL;
	size_t n = (size_t)w * h;
	float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b),
	    *t = malloc(n * sizeof *t), *op = malloc(n * sizeof *op);
	uint8_t *m = calloc(n, 1);
	int *stack = malloc(n * sizeof *stack);
	int *comp = malloc(n * sizeof *comp);
	float *con = calloc(n, sizeof *con);
	struct blob bl;
	int rc = -1;

	if (a == NULL || b == NULL || t == NULL || op == NULL || m == NULL || stack == NULL ||
	    comp == NULL || con == NULL || (dir = malloc(n)) == NULL)
		goto out;
	memcpy(out, Y0, n * sizeof *out);
	f->area += (double)n;
	rc = 0;
	if (w < 16 || h < 16)                 /* too small to tell a line */
		goto out;
	for (int pass = 0; pass < 2; pass++) {
		/* opening = max(min(Y)); closing = min(max(Y)) */
		morph(Y, a, t, w, h, pass);
		morph(a, b, t, w, h, !pass);
		for (size_t i = 0; i < n; i++) {
			double d = pass ? b[i] - Y[i] : Y[i] - b[i];
			if (mask != NULL)
				mask[i] = (uint8_t)(mask[i] | (d > mthr));
			if (d > thr) {
				m[i] = SC_CAND | (pass ? SC_DARK : 0);
				con[i] = (float)d;
				f->cand++;
			}
		}
		if (pass == 0)
			memcpy(op, b, n * sizeof *op);      /* b is the closing after pass 1 */
	}
	/* dust */
	for (int i = 0; i < (int)n; i++) {
		if (!(m[i] & SC_CAND) || (m[i] & SC_SEEN))
			continue;
		fill(m, NULL, w, h, i, SC_CAND, SC_SEEN, stack, comp, con, &bl);
		int ext = (bl.xmax - bl.xmin) > (bl.ymax - bl.ymin) ? bl.xmax - bl.xmin + 1 :
		    bl.ymax - bl.ymin + 1;
		if (ext > 5 || bl.cnt > 16)
			continue;
		int x0 = bl.xmin - 6 < 0 ? 0 : bl.xmin - 6, x1 = bl.xmax + 7 > w ? w : bl.xmax + 7;
		int y0 = bl.ymin - 6 < 0 ? 0 : bl.ymin - 6, y1 = bl.ymax + 7 > h ? h : bl.ymax + 7;
		double s1 = 0, s2 = 0, k = 0;
		int around = 0;
		for (int yy = y0; yy < y1; yy++)
			for (int xx = x0; xx < x1; xx++) {
				size_t j = (size_t)yy * w + xx;
				if (m[j] & SC_CAND) {
					around++;
					continue;
				}
				s1 += Y[j];
				s2 += (double)Y[j] * Y[j];
				k++;
			}
		if (around - bl.cnt <= 2 && k > 0 &&
		    sqrt(fmax(0, s2 / k - (s1 / k) * (s1 / k))) <= 0.15 * bl.scon / bl.cnt) {
			f->dmg += bl.cnt;
			f->ev += bl.cnt;
			repaint(comp, bl.cnt, m, op, b, out, w, h);
		}
	}
	/* line-like candidates */
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			size_t i = (size_t)y * w + x;
			double c = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, l1, l2, ux, uy;
			if (!(m[i] & SC_CAND))
				continue;
			for (int dy = -SCR_R; dy <= SCR_R; dy++) {
				if (y + dy < 0 || y + dy >= h)
					continue;
				for (int dx = -SCR_R; dx <= SCR_R; dx++)
					if (x + dx >= 0 && x + dx < w &&
					    (m[i + (ptrdiff_t)dy * w + dx] & SC_CAND)) {
						c++;
						sx += dx;
						sy += dy;
						sxx += dx * dx;
						syy += dy * dy;
						sxy += dx * dy;
					}
			}
			if (c < SCR_R + 1)
				continue;
			axes(c, sx, sy, sxx, syy, sxy, &l1, &l2, &ux, &uy);
			if (l2 <= 0.5 && l1 >= 4.0)
				m[i] |= SC_LINE;
		}
	/* scratches; then also by oriented runs (on a picture not all
	 * fine texture, hairlines only: see SCR_ND) */
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1 && orient_runs(m, dir, w, h, out, Y0) < 0) {
			rc = -1;
			goto out;
		}
		for (int i = 0; i < (int)n; i++) {
			double l1, l2, ux, uy, len, side = 0;
			int ns = 0;
			if (pass == 0) {
				if (!(m[i] & SC_LINE) || (m[i] & SC_SEEN2))
					continue;
				fill(m, NULL, w, h, i, SC_LINE, SC_SEEN2, stack, comp, con, &bl);
			} else {
				if (!(m[i] & SC_ORUN) || (m[i] & SC_SEEN3))
					continue;
				fill(m, dir, w, h, i, SC_ORUN, SC_SEEN3, stack, comp, con, &bl);
			}
			if (bl.cnt < SCR_LEN_HAIR)
				continue;
			axes(bl.cnt, bl.sx, bl.sy, bl.sxx, bl.syy, bl.sxy, &l1, &l2, &ux, &uy);
			len = sqrt(12 * l1);
			if (len < SCR_LEN_HAIR || sqrt(l2) > 1.0 + 0.02 * len || bl.cnt > 3 * len)
				continue;
			/* by oriented runs off fine texture, hairlines only */
			int hair_only = pass == 1 && !busy;
			if (hair_only && bl.cnt > SCR_HAIR_W * len)
				continue;
			for (int q = 0; q < bl.cnt; q++) {
				int kx = comp[q] % w, ky = comp[q] / w;
				int ax = (int)lrint(kx - 3 * uy), ay = (int)lrint(ky + 3 * ux);
				int bx = (int)lrint(kx + 3 * uy), by = (int)lrint(ky - 3 * ux);
				if (ax < 0 || ay < 0 || ax >= w || ay >= h || bx < 0 || by < 0 ||
				    bx >= w || by >= h)
					continue;
				side += fabs(Y[(size_t)ay * w + ax] - Y[(size_t)by * w + bx]);
				ns++;
			}
			if (ns == 0 || side / ns > 0.5 * bl.scon / bl.cnt)
				continue;
			/* the mean profile across the line, its sign taken out */
			float mp[PF_L] = { 0 }, pr[PF_L], as, ro;
			float sg = (m[i] & SC_DARK) ? -1.0f : 1.0f;
			for (int q = 0; q < bl.cnt; q++) {
				pf_sample(Y, w, h, comp[q] % w, comp[q] / w, (float)-uy, (float)ux, pr);
				for (int d = 0; d < PF_L; d++)
					mp[d] += sg * pr[d];
			}
			for (int d = 0; d < PF_L; d++)
				mp[d] /= bl.cnt;
			pf_measures(mp, &as, &ro);
			int clean = as <= SCR_HAIR_ASYM && ro <= SCR_HAIR_ROUGH;
			if (pf_scene(as, ro) || (hair_only && !clean))
				continue;
			/* one of a regular series of like lines: the scene's */
			float lp[PF_LL] = { 0 }, lq[PF_LL];
			for (int q = 0; q < bl.cnt; q++) {
				pf_sample_long(Y, w, h, comp[q] % w, comp[q] / w, (float)-uy, (float)ux, lq);
				for (int d = 0; d < PF_LL; d++)
					lp[d] += sg * lq[d];
			}
			if (pf_repeats(lp))
				continue;
			int hair = clean && bl.cnt <= SCR_HAIR_W * len;
			if (len < SCR_LEN && !hair)
				continue;
			f->dmg += bl.cnt;
			f->ev += bl.cnt * (hair ? (len >= SCR_LEN ? SCR_EV_HAIR : 1) :
			    clean ? SCR_EV_LINE : SCR_EV_DOUBT);
			repaint(comp, bl.cnt, m, op, b, out, w, h);
		}
	}
out:
	free(a);
	free(b);
	free(t);
	free(op);
	free(m);
	free(stack);
	free(comp);
	free(con);
	free(dir);
	return rc;
}

/* Gaussian smoothing of sigma sg (separable, edges clamped). Each row,
 * and each column in groups, is copied into a padded buffer first, so
 * the inner loop has no bounds to test. */
static void
smooth(const float *Y, float *S, float *tmp, int w, int h, double sg)
{
	float k[16], pad[4096 + 32];
	int r = (int)ceil(3 * sg);
	double sum = 0;

	r = r < 1 ? 1 : r > 15 ? 15 : r;
	for (int i = 0; i <= r; i++) {
		k[i] = (float)exp(-0.5 * i * i / (sg * sg));
		sum += i ? 2 * k[i] : k[i];
	}
	for (int i = 0; i <= r; i++)
		k[i] = (float)(k[i] / sum);
	for (int y = 0; y < h; y++) {
		const float *row = Y + (size_t)y * w;
		float *o = tmp + (size_t)y * w;
		if (w > 4096) {                 /* (tiles are narrower) */
			for (int x = 0; x < w; x++) {
				float a = k[0] * row[x];
				for (int i = 1; i <= r; i++) {
					int l = x - i < 0 ? 0 : x - i, rr = x + i >= w ? w - 1 : x + i;
					a += k[i] * (row[l] + row[rr]);
				}
				o[x] = a;
			}
			continue;
		}
		for (int i = 0; i < r; i++) {
			pad[i] = row[0];
			pad[r + w + i] = row[w - 1];
		}
		memcpy(pad + r, row, (size_t)w * sizeof *row);
		for (int x = 0; x < w; x++) {
			const float *c = pad + r + x;
			float a = k[0] * c[0];
			for (int i = 1; i <= r; i++)
				a += k[i] * (c[-i] + c[i]);
			o[x] = a;
		}
	}
	for (int y = 0; y < h; y++) {
		const float *rows[31];
		float *o = S + (size_t)y * w;
		for (int i = -r; i <= r; i++)
			rows[i + 15] = tmp + (size_t)(y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i) * w;
		for (int x = 0; x < w; x++)
			o[x] = k[0] * rows[15][x];
		for (int i = 1; i <= r; i++) {
			const float *u = rows[15 - i], *d = rows[15 + i];
			float ki = k[i];
			for (int x = 0; x < w; x++)
				o[x] += ki * (u[x] + d[x]);
		}
	}
}

/* Blur by re-blurring (after Hu and de Haan): the gradient energy of an
 * edge blurred by s falls as 1/s, so the energy left after a further
 * known blur tells how blurred the picture was. The white noise's share
 * of each energy is known from its sigma and is taken out first. */
#define BLUR_SP 1.0               /* smoothing before both measures */
#define BLUR_SR 2.0               /* the further blur */

/* noise gain of one gradient component after smooth(sg): sum of the
 * squared taps of the 2-D filter */
static double
grad_gain(double sg)
{
	double k[33], kd = 0, k2 = 0, sum = 0;
	int r = (int)ceil(3 * sg);

	r = r < 1 ? 1 : r > 15 ? 15 : r;
	for (int i = -r; i <= r; i++)
		sum += k[i + 16] = exp(-0.5 * i * i / (sg * sg));
	k[16 - r - 1] = k[16 + r + 1] = 0;
	for (int i = -r; i <= r; i++)
		k[i + 16] /= sum;
	for (int i = -r - 1; i <= r + 1; i++) {
		double a = i + 15 >= 0 && i - 1 >= -r - 1 ? k[i + 15] : 0;
		double b = i + 17 <= 32 && i + 1 <= r + 1 ? k[i + 17] : 0;
		kd += 0.25 * (a - b) * (a - b);
	}
	for (int i = -r; i <= r; i++)
		k2 += k[i + 16] * k[i + 16];
	return kd * k2;
}

/* gradient energy (central differences) of S inside a margin */
static void
grad_energy(const float *S, int w, int h, int mg, double *e, double *n)
{
	for (int y = mg; y < h - mg; y++)
		for (int x = mg; x < w - mg; x++) {
			const float *p = S + (size_t)y * w + x;
			double gx = 0.5 * (p[1] - p[-1]), gy = 0.5 * (p[w] - p[-w]);
			*e += gx * gx + gy * gy;
			(*n)++;
		}
}

/* Structure function of Y at lags 1, 2 and 4 (along rows and columns),
 * over pairs of pixels neither of which is masked. White noise adds the
 * same 2 n^2 at every lag, so differences between lags are free of it;
 * thin lines and specks (scratches, dust) would add to the short lags,
 * hence the mask: its bit 0 marks thin detail that stands out (sd), its
 * bit 1 the damage found (sdf); each sum leaves out its own. */
/* The p-quantile of the strong edges' widths (pixels); 2.7, a sharp
 * picture's, with fewer than 8 to read. */
static double
edge_width(struct feat *f, double p)
{
	return f->nedge >= 8 ? quantile(f->ew, f->nedge, p) : 2.7;
}

/* Texture: how much of the picture's variation lies between 32x32
 * blocks (the large-scale structure a photograph has: sky, ground, a
 * face against a wall) against within them at scales of 4 to 32 pixels.
 * A texture that fills the picture (brick, gravel, grass) is nearly all
 * within; a fade scales both alike, a blur of a few pixels and noise
 * (averaged over 4x4) touch neither much. */
static void
texture(struct feat *f, const float *Y, int w, int h)
{
	for (int by = 0; by + 32 <= h; by += 32)
		for (int bx = 0; bx + 32 <= w; bx += 32) {
			double s = 0, ss = 0;
			for (int y = 0; y < 8; y++)
				for (int x = 0; x < 8; x++) {
					double a = 0;
					for (int j = 0; j < 4; j++) {
						const float *p = Y + (size_t)(by + 4 * y + j) * w + bx + 4 * x;
						a += p[0] + p[1] + p[2] + p[3];
					}
					a /= 16;
					s += a;
					ss += a * a;
				}
			s /= 64;
			f->tb += s;
			f->tbb += s * s;
			f->tv += fmax(0, ss / 64 - s * s);
			f->tn++;
		}
}

/* Deep: the median of luma in each 4x4 cell of a tile, over the
 * pixels the damage found (G painted over C) leaves, counted by half
 * level; a cell more than a quarter damaged is left out. A median of 16
 * keeps a tenth of white noise's variance and none of a thin line's. */
static void
deep_cells(struct feat *f, const uint8_t *px, int ch, const float *G, const float *C, int w, int h)
{
	for (int by = 0; by + 4 <= h; by += 4)
		for (int bx = 0; bx + 4 <= w; bx += 4) {
			int v[16], n = 0;
			for (int y = by; y < by + 4; y++)
				for (int x = bx; x < bx + 4; x++) {
					size_t k = (size_t)y * w + x;
					if (G[k] != C[k])
						continue;
					const uint8_t *q = px + k * ch;
					int l = ch == 1 ? 2 * q[0] : (2 * (299 * q[0] + 587 * q[1] + 114 * q[2]) + 500) / 1000;
					int j = n++;
					for (; j > 0 && v[j - 1] > l; j--)
						v[j] = v[j - 1];
					v[j] = l;
				}
			if (n < 12)
				continue;
			f->hcm[(v[(n - 1) / 2] + v[n / 2]) / 2]++;
			f->ncm++;
		}
}

/* Focus: each 32x32 block's sharpness, the rms gradient of luma over
 * the block's range (1 to 99 %, plus 4 levels), which a fade leaves
 * alone (an affine map scales both) and a blur lowers; and the block's
 * histogram, so that the extremes of the sharpest blocks (the part in
 * focus) can be read apart from a defocused or streaked background. */
struct fblk {
	float s;
	uint16_t h[256];
};

static int
focus_blocks(struct feat *f, const float *Y, int w, int h)
{
	for (int by = 0; by + 32 <= h; by += 32)
		for (int bx = 0; bx + 32 <= w; bx += 32) {
			if (f->nfb == f->capfb) {
				size_t nc = f->capfb ? 2 * f->capfb : 64;
				struct fblk *nb = realloc(f->fb, nc * sizeof *nb);
				if (nb == NULL)
					return -1;
				f->fb = nb;
				f->capfb = nc;
			}
			struct fblk *b = &f->fb[f->nfb];
			double g2 = 0, ng = 0;
			memset(b->h, 0, sizeof b->h);
			for (int y = by; y < by + 32; y++)
				for (int x = bx; x < bx + 32; x++) {
					const float *p = Y + (size_t)y * w + x;
					int l = (int)(*p + 0.5f);
					b->h[l < 0 ? 0 : l > 255 ? 255 : l]++;
					if (x > 0 && x < w - 1 && y > 0 && y < h - 1) {
						double gx = (p[1] - p[-1]) / 2, gy = (p[w] - p[-w]) / 2;
						g2 += gx * gx + gy * gy;
						ng++;
					}
				}
			double hb[256];
			for (int l = 0; l < 256; l++)
				hb[l] = b->h[l];
			double r = hquantile(hb, 1024, 0.99) - hquantile(hb, 1024, 0.01);
			b->s = ng > 0 ? (float)(sqrt(g2 / ng) / (r + 4)) : 0;
			f->nfb++;
		}
	return 0;
}

/* Grey edge (after van de Weijer, Gevers and Gijsenij): the Minkowski
 * mean, of order 1/2, of each channel's gradient magnitude on 4x4 means
 * (which calm noise, JPEG and fine detail). An illuminant scales every
 * channel's gradients by its gain, whatever the colours of the scene;
 * the many weak edges of shading and texture, which the order 1/2
 * weighs up against the few strong edges between objects, take the
 * tint of the surface they are on much less than its colour (a ginger
 * cat's fur is orange, the edges in it far less so). */
#define GE_B 4
static int
grey_edge(struct feat *f, const uint8_t *px, int w, int h)
{
	int w2 = w / GE_B, h2 = h / GE_B;
	float *a;

	if (w2 < 2 || h2 < 2)
		return 0;
	if ((a = calloc((size_t)w2 * h2 * 3, sizeof *a)) == NULL)
		return -1;
	for (int y = 0; y < h2 * GE_B; y++) {
		const uint8_t *p = px + (size_t)y * w * 3;
		float *q = a + (size_t)(y / GE_B) * w2 * 3;
		for (int x = 0; x < w2 * GE_B; x++)
			for (int k = 0; k < 3; k++)
				q[(x / GE_B) * 3 + k] += p[x * 3 + k];
	}
	for (int y = 0; y + 1 < h2; y++) {
		float s[3] = { 0, 0, 0 };
		for (int x = 0; x + 1 < w2; x++) {
			const float *q = a + ((size_t)y * w2 + x) * 3;
			for (int k = 0; k < 3; k++) {
				float dx = q[k + 3] - q[k], dy = q[(size_t)w2 * 3 + k] - q[k];
				s[k] += sqrtf(sqrtf(dx * dx + dy * dy) / (GE_B * GE_B));
			}
		}
		for (int k = 0; k < 3; k++)
			f->ge[k] += s[k];
		f->gen += w2 - 1;
	}
	free(a);
	return 0;
}

static void
structure(struct feat *f, const float *Y, const uint8_t *M, int w, int h)
{
	static const int lag[3] = { 1, 2, 4 };

	for (int l = 0; l < 3; l++) {
		int k = lag[l];
		for (int y = 0; y < h; y++) {
			const float *r = Y + (size_t)y * w;
			const uint8_t *mr = M + (size_t)y * w;
			for (int x = 0; x + k < w; x++) {
				int m = mr[x] | mr[x + k];
				double d = r[x + k] - r[x];
				if (!(m & 1)) {
					f->sd[l] += d * d;
					f->sdn[l]++;
				}
				if (!(m & 2)) {
					f->sdf[l] += d * d;
					f->sdfn[l]++;
				}
			}
			if (y + k >= h)
				continue;
			const float *r2 = r + (size_t)k * w;
			const uint8_t *mr2 = mr + (size_t)k * w;
			for (int x = 0; x < w; x++) {
				int m = mr[x] | mr2[x];
				double d = r2[x] - r[x];
				if (!(m & 1)) {
					f->sd[l] += d * d;
					f->sdn[l]++;
				}
				if (!(m & 2)) {
					f->sdf[l] += d * d;
					f->sdfn[l]++;
				}
			}
		}
	}
}

/* The histogram h (256 levels) of a picture under white noise of sigma
 * s, clipped at 0 and 255, made noise-free by Richardson-Lucy
 * deconvolution: out (256 levels, the same total) is the histogram
 * whose blur by the noise, clipped, best explains h. Under strong noise
 * the levels are binned (a bin of s/4 levels) to keep it cheap.
 * 0, or -1 when out of memory. */
#define HD_ITER 40
static int
hist_denoise(const double *h, double s, double *out)
{
	int r = s > 8 ? (int)(s / 4) : 1, nb = (256 + r - 1) / r;
	double sb = s / r, obs[256], t[256], est[256], rat[256];
	int bw = (int)ceil(3.5 * sb), kw = 2 * bw + 1;
	double *K = malloc((size_t)nb * kw * sizeof *K);

	if (K == NULL)
		return -1;
	memset(obs, 0, sizeof obs);
	for (int l = 0; l < 256; l++)
		obs[l / r] += h[l];
	/* K[j][i - j + bw]: probability that true bin j is seen in bin i */
	for (int j = 0; j < nb; j++)
		for (int d = -bw; d <= bw; d++) {
			int i = j + d;
			double p = 0;
			if (i >= 0 && i < nb) {
				double lo = i == 0 ? 0 : 0.5 * (1 + erf((i - 0.5 - j) / (sb * M_SQRT2)));
				double hi = i == nb - 1 ? 1 : 0.5 * (1 + erf((i + 0.5 - j) / (sb * M_SQRT2)));
				p = hi - lo;
			}
			K[(size_t)j * kw + d + bw] = p;
		}
	for (int j = 0; j < nb; j++)
		t[j] = obs[j] + 1e-9;
	for (int it = 0; it < HD_ITER; it++) {
		for (int i = 0; i < nb; i++)
			est[i] = 0;
		for (int j = 0; j < nb; j++)
			for (int d = -bw; d <= bw; d++)
				if (j + d >= 0 && j + d < nb)
					est[j + d] += K[(size_t)j * kw + d + bw] * t[j];
		for (int i = 0; i < nb; i++)
			rat[i] = est[i] > 1e-12 ? obs[i] / est[i] : 0;
		for (int j = 0; j < nb; j++) {
			double a = 0;
			for (int d = -bw; d <= bw; d++)
				if (j + d >= 0 && j + d < nb)
					a += K[(size_t)j * kw + d + bw] * rat[j + d];
			t[j] *= a;
		}
	}
	free(K);
	for (int l = 0; l < 256; l++) {
		int n = l / r == nb - 1 ? 256 - (nb - 1) * r : r;
		out[l] = t[l / r] / n;
	}
	return 0;
}

/* ---- JPEG quality from the luma table ---- */

/* The 8x8 grid's share of a ripple at k/8 (k = 2, 4): the profile of
 * second differences by position modulo 8, along both axes; its
 * component at 1/8 against its component at k/8. A JPEG's grid puts its
 * ripple at the block edges (all of 1/8 .. 4/8); an enlargement by 8/k
 * repeats every 8/k pixels, which has no component at 1/8. */
static double
grid8(const double *px, const double *pxn, int w, const double *py, const double *pyn, int h, int k)
{
	double a1r = 0, a1i = 0, akr = 0, aki = 0;

	for (int ax = 0; ax < 2; ax++) {
		const double *p = ax ? py : px, *n = ax ? pyn : pxn;
		int len = ax ? h : w;
		double P[8] = { 0 }, N[8] = { 0 }, m = 0;
		for (int x = 0; x < len; x++)
			if (n[x] > 0) {
				P[x & 7] += p[x] / n[x];
				N[x & 7]++;
			}
		for (int q = 0; q < 8; q++) {
			if (N[q] == 0)
				return 0;
			P[q] /= N[q];
			m += P[q] / 8;
		}
		for (int q = 0; q < 8; q++) {
			a1r += (P[q] - m) * cos(2 * M_PI * q / 8);
			a1i += (P[q] - m) * sin(2 * M_PI * q / 8);
			akr += (P[q] - m) * cos(2 * M_PI * k * q / 8);
			aki += (P[q] - m) * sin(2 * M_PI * k * q / 8);
		}
	}
	double ak = hypot(akr, aki);
	return ak > 0 ? hypot(a1r, a1i) / ak : 0;
}

/* The IJG quality (1..100) whose scaled standard table is nearest. */
static int
jpeg_quality(const uint16_t *q)
{
	int best = 50;
	double berr = -1;

	for (int qual = 1; qual <= 100; qual++) {
		uint16_t t[64];
		double e = 0;
		quant_scaled(quant_ijg_luma, qual, t);
		for (int k = 0; k < 64; k++)
			e += fabs(log((double)t[k]) - log(q[k] > 0 ? (double)q[k] : 1.0));
		if (berr < 0 || e < berr) {
			berr = e;
			best = qual;
		}
	}
	return best;
}

/* Strength of a periodic pattern in a profile (absolute positions, some
 * empty): the largest normalised power over frequencies 0.12..0.5
 * cycles/pixel against the median power, as log10. With skip8, leave out
 * the JPEG grid's frequencies (k/8). *fpk receives the frequency. */
static double
periodicity(const double *p, const double *n, int len, int skip8, double *fpk)
{
	double mean = 0, cnt = 0, *pw = NULL, best = 0;
	int first = -1, last = -1, nf, k = 0;

	*fpk = 0;
	for (int x = 0; x < len; x++)
		if (n[x] > 0) {
			mean += p[x] / n[x];
			cnt++;
			if (first < 0)
				first = x;
			last = x;
		}
	if (cnt < 32)
		return 0;
	mean /= cnt;
	int span = last - first + 1;
	double df = 1.0 / (2.0 * span);
	if (df < 0.3 / 1024)
		df = 0.3 / 1024;
	/* the spectrum is also computed a little below 0.2, so that a
	 * peak at the band's lower edge (a 5x enlargement) is judged
	 * against both sides of it like any other, not against the
	 * weaker higher frequencies alone */
	int lo_pad = (int)(0.03 / df) + 4;
	nf = (int)(0.3 / df) + 1 + lo_pad;
	double *fr, *val;
	int *pos, np = 0;
	if ((pw = malloc((size_t)nf * sizeof *pw)) == NULL)
		return 0;
	fr = malloc((size_t)nf * sizeof *fr);
	val = malloc((size_t)cnt * sizeof *val);
	pos = malloc((size_t)cnt * sizeof *pos);
	if (fr == NULL || val == NULL || pos == NULL) {
		free(pw);
		free(fr);
		free(val);
		free(pos);
		return 0;
	}
	for (int x = first; x <= last; x++)
		if (n[x] > 0) {
			pos[np] = x;
			val[np++] = p[x] / n[x] - mean;
		}
	for (int i = 0; i < nf; i++) {
		double f = 0.2 + (i - lo_pad) * df, re = 0, im = 0, c = cos(2 * M_PI * f), s = sin(2 * M_PI * f);
		double zr = 0, zi = 0, e = 0;
		int skip = 0;
		if (skip8)
			for (int j = 1; j <= 4; j++)
				if (fabs(f - j / 8.0) < 3 * df + 0.004)
					skip = 1;
		if (skip)
			continue;
		/* runs of sampled positions: exact phase at each run's start,
		 * rotation inside it */
		for (int j = 0; j < np; j++) {
			if (j == 0 || pos[j - 1] != pos[j] - 1) {
				zr = cos(2 * M_PI * f * pos[j]);
				zi = sin(2 * M_PI * f * pos[j]);
			}
			double v = val[j], t;
			re += v * zr;
			im -= v * zi;
			e += v * v;
			t = zr * c - zi * s;
			zi = zr * s + zi * c;
			zr = t;
		}
		pw[k] = e > 0 ? (re * re + im * im) / e : 0;
		fr[k++] = f;
	}
	/* a peak stands out of its neighbourhood, not of the whole band */
	best = 0;
	int hw = (int)(0.03 / df) + 4;
	double *cs = malloc(((size_t)k + 1) * sizeof *cs);
	if (cs != NULL) {
		cs[0] = 0;
		for (int i = 0; i < k; i++)
			cs[i + 1] = cs[i] + pw[i];
		for (int i = 0; i < k; i++) {
			if (fr[i] < 0.2 - 0.5 * df)     /* the pad: background only */
				continue;
			int lo = i - hw < 0 ? 0 : i - hw, hi = i + hw >= k ? k - 1 : i + hw;
			int a = i - 3 < lo ? lo : i - 3, b = i + 3 > hi ? hi : i + 3;
			double bg = cs[hi + 1] - cs[lo] - (cs[b + 1] - cs[a]);
			int nb = (hi - lo + 1) - (b - a + 1);
			if (nb > 0 && bg > 0 && pw[i] * nb / bg > best) {
				best = pw[i] * nb / bg;
				*fpk = fr[i];
			}
		}
		free(cs);
	}
	free(pw);
	free(fr);
	free(val);
	free(pos);
	return best > 0 ? log10(best) : 0;
}

/* A picture that is not a JPEG file may have been one (a JPEG saved as
 * PNG): the quality of the luma table its tiles' 8x8 blocks measure
 * (quant.c, the restorer's deblock measures alike), on QUANT_BLOCKS of
 * them at most, spread evenly, into *jq; 0 when they measure none. -1
 * when out of memory. */
static int
measured_quality(const struct cl *c, int *jq)
{
	struct quant qa = { NULL, 0, 0 };
	uint16_t q[64];
	long nb = 0, every;
	int rc = -1;

	*jq = 0;
	for (int i = 0; i < c->ntile; i++)
		nb += quant_nblocks(c->tile[i].x0, c->tile[i].y0, c->tile[i].w, c->tile[i].h);
	if (nb < 16)
		return 0;
	every = QUANT_EVERY(nb);
	for (int i = 0; i < c->ntile; i++) {
		const struct cl_tile *t = &c->tile[i];
		if (quant_add(&qa, t->px, (size_t)t->w * (size_t)c->ch, c->ch,
		    t->x0, t->y0, t->w, t->h, every) != 0)
			goto out;
	}
	if (quant_table(&qa, q))
		*jq = jpeg_quality(q);
	rc = 0;
out:
	quant_free(&qa);
	return rc;
}

struct meas {
	double sharp_part;            /* share of strong edges still sharp */
	double sharp_d[2];            /* the same of those whose gradient is along x, y */
	double uneven;                /* the blur's deficit at scale 4 over 8 against 2 over 4 */
	double conc;                  /* the sharpest quarter of blocks' slope over the picture's */
	struct motion mo;             /* the strongest streak the cepstrum shows */
	int motion;                   /* and motion_sure() of it */
	struct disk dk;               /* the defocus disk whose ring rises most */
	int disk;                     /* disk_sure() of it, no streak being sure */
	double slope, slope_sigma, band[4], sigma, sigma_lo, edgew, blur_sigma, blur_signed, eff, eff_sharp, period, period_x, period_y, pfreq, block;
	double black, white, lift, lift_min, dr;
	double sigma_y, black_y, white_y, lift_y, lift_b; /* luma's noise and levels */
	double wall_y;                   /* luma's 5 % less its 1 % */
	int tilted;                      /* an uneven fade's blacks (tilt.h) */
	struct tilt tilt;
	double lift_f, lift_fb;          /* luma's lift in the sharpest blocks (_fb: its blacks' alone), -1 unread */
	double lift_d, lift_db;          /* luma's lift in the darkest and brightest blocks (_db: the darkest's alone), -1 unread */
	double grid;                     /* the 8x8 grid's share of a ripple at 1/4 or 1/2, -1 none */
	double castx, casty, cast, tone_u, tone_v, tone_spread;
	double tonal;                    /* the least tone's lean along the cast, NAN unread */
	double tv[3][2];                 /* each tone's least coloured: log chroma */
	int tv_ok;                       /* tv read: 0 */
	int grayscale, toned_sepia, toned_mono, jq;
	int jq_measured;                 /* jq from a table measured on the pixels */
	double scratch, scratch_ev, scratch_cand, mirror;
	int mirror_k, noedge;
	double curv;                     /* structure function curvature, -1 unread */
	double curv_all;                 /* the same, the picture's fine detail kept */
	double tex;                      /* between / within 32x32 blocks, 9 unread */
	double gwx, gwy, brx, bry, nwx, nwy; /* log chroma: grey world, bright, whitest */
	double gex, gey;                 /* log chroma of the grey edge */
	double nlf[NLF_BINS];            /* noise sigma by green level, -1 unread */
	double csig, cwhite;             /* chroma noise: plane-fit, Immerkaer */
};

/* The least coloured CAST_TQ of the pixels of each third by luma (within
 * CAST_YLO..CAST_YHI), as log chroma (R/G, B/G) in v[t]; -1 when too few
 * pixels lie in that range to tell. */
static int
tonal_thirds(const struct cl *c, double v[3][2])
{
	double tot = 0;

	for (int l = CAST_YLO; l <= CAST_YHI; l++)
		for (int k = 0; k < CL_NCB; k++)
			tot += c->nbc[l][k];
	if (tot < 30)
		return -1;
	for (int t = 0; t < 3; t++) {
		double a = tot * t / 3, b = tot * (t + 1) / 3, cnt[CL_NCB] = { 0 };
		double sum[CL_NCB][3] = { { 0 } }, ns[3] = { 1, 1, 1 }, acc = 0;
		double lo = 0;           /* pixels below the current level */
		for (int l = CAST_YLO; l <= CAST_YHI; l++) {
			double nl = 0;
			for (int k = 0; k < CL_NCB; k++)
				nl += c->nbc[l][k];
			/* the share of this level within [a, b) */
			double in = fmin(lo + nl, b) - fmax(lo, a);
			if (nl > 0 && in > 0)
				for (int k = 0; k < CL_NCB; k++) {
					double w = in / nl;
					cnt[k] += w * c->nbc[l][k];
					for (int j = 0; j < 3; j++)
						sum[k][j] += w * c->nbs[l][k][j];
				}
			lo += nl;
		}
		double want = CAST_TQ * (b - a);
		for (int k = 0; k < CL_NCB && acc < want; k++) {
			double f = cnt[k] > 0 ? fmin(1, (want - acc) / cnt[k]) : 0;
			for (int j = 0; j < 3; j++)
				ns[j] += f * sum[k][j];
			acc += f * cnt[k];
		}
		v[t][0] = log(ns[0] / ns[1]);
		v[t][1] = log(ns[2] / ns[1]);
	}
	return 0;
}

/* The smallest of the three tones' readings (tonal_thirds) along the
 * direction (x, y); NAN unread. */
static double
tonal_lean(const double v[3][2], int ok, double x, double y)
{
	double lean = INFINITY, n = hypot(x, y);

	if (ok != 0 || n <= 0)
		return NAN;
	for (int t = 0; t < 3; t++)
		lean = fmin(lean, (v[t][0] * x + v[t][1] * y) / n);
	return lean;
}

static int
measure(const char *name, struct cl *c, struct meas *m)
{
	struct feat f, fy;               /* fy: the noise of luma */
	float *Y[CL_MAX_BANDS * CL_MAX_TILES] = { NULL }, *C[CL_MAX_BANDS * CL_MAX_TILES] = { NULL };
	float *S = NULL, *S2 = NULL, *tmp = NULL, *G = NULL;
	uint8_t *M = NULL;
	struct psf_acc *macc = NULL;
	struct mir *mb = NULL;
	size_t maxn = 0;
	int rc = EX_OSERR;
	double hx[4][256], ntp = 0;      /* levels of the damage found, tile pixels */

	memset(&f, 0, sizeof f);
	memset(&fy, 0, sizeof fy);
	memset(m, 0, sizeof *m);
	m->tonal = NAN;
	m->tv_ok = -1;
	memset(hx, 0, sizeof hx);
	/* while the tiles' pixels are there */
	if (c->type != IMG_JPEG && measured_quality(c, &m->jq) != 0)
		goto out;
	m->jq_measured = m->jq > 0;
	if ((mb = malloc(sizeof *mb)) == NULL)
		goto out;
	mirror_init(mb);
	if ((f.px2 = calloc((size_t)c->w, sizeof *f.px2)) == NULL ||
	    (f.pxn = calloc((size_t)c->w, sizeof *f.pxn)) == NULL ||
	    (f.py2 = calloc((size_t)c->h, sizeof *f.py2)) == NULL ||
	    (f.pyn = calloc((size_t)c->h, sizeof *f.pyn)) == NULL)
		goto out;
	for (int i = 0; i < c->ntile; i++) {
		struct cl_tile *t = &c->tile[i];
		size_t n = (size_t)t->w * t->h;
		if ((Y[i] = malloc(n * sizeof *Y[i])) == NULL ||
		    (C[i] = malloc(n * sizeof *C[i])) == NULL)
			goto out;
		/* noise, scratches and blur on green, where per-channel noise
		 * keeps its full sigma; the rest on luma */
		for (size_t k = 0; k < n; k++)
			if (c->ch == 1)
				Y[i][k] = C[i][k] = t->px[k];
			else {
				const uint8_t *q = t->px + 3 * k;
				Y[i][k] = 0.299f * q[0] + 0.587f * q[1] + 0.114f * q[2];
				C[i][k] = q[1];
			}
		maxn = n > maxn ? n : maxn;
		if (noise_blocks(&f, C[i], t->w, t->h) < 0 ||
		    (c->ch == 3 && noise_blocks(&fy, Y[i], t->w, t->h) < 0))
			goto out;
		profiles(&f, Y[i], t->w, t->h, t->x0, t->y0);
		texture(&f, Y[i], t->w, t->h);
		if (focus_blocks(&f, Y[i], t->w, t->h) < 0)
			goto out;
		if (c->ch == 3 && (grey_edge(&f, t->px, t->w, t->h) < 0 ||
		    chroma_blocks(&f, t->px, t->w, t->h) < 0))
			goto out;
		mirror(&f, mb, Y[i], t->w, t->h, t->x0, t->y0, c->ntile > 1 ? 8 : 4);
		/* luma is not needed again: the buffers below have room
		 * where it was */
		free(Y[i]);
		Y[i] = NULL;
	}
	/* noise: the white-noise estimate's median; the plain block sigma's
	 * low quantile is reported for reference */
	{
		double *tmpv = malloc((f.nblk + 1) * sizeof *tmpv);
		if (tmpv == NULL)
			goto out;
		if (f.nblk > 0)                 /* (none in a tiny image) */
			memcpy(tmpv, f.nz, f.nblk * sizeof *tmpv);
		m->sigma_lo = quantile(tmpv, f.nblk, 0.1);
		free(tmpv);
		m->sigma = quantile(f.nzw, f.nblk, 0.5);
		/* luma's: per-channel noise partly averages out in it */
		m->sigma_y = c->ch == 3 ? quantile(fy.nzw, fy.nblk, 0.5) : m->sigma;
	}
	/* the noise level function: the white-noise estimate's median in
	 * each band of NLF_BINS intensities of green, where enough blocks
	 * fall (-1: too few) */
	for (int i = 0; i < NLF_BINS; i++) {
		size_t n = 0;
		double *v = malloc((f.nblk + 1) * sizeof *v);
		if (v == NULL)
			goto out;
		for (size_t k = 0; k < f.nblk; k++)
			if ((int)(f.nzm[k] * NLF_BINS / 256) == i)
				v[n++] = f.nz[k];
		m->nlf[i] = n >= NLF_MIN ? quantile(v, n, NLF_Q) : -1;
		free(v);
	}
	/* chroma noise: the low quantile of the plane-fit spread (flat
	 * blocks tell the noise), and of Immerkaer's, each corrected for
	 * its quantile's bias */
	if (f.ncz > 0) {
		/* on the flattest CHROMA_FLATQ of the blocks by luma (all of
		 * them when that is under 8): blotches of noise care nothing
		 * for the scene, a scene's colour detail (fur, a patterned
		 * cloth) comes with its luma detail */
		double *t = malloc(f.ncy * sizeof *t), *u = malloc(f.ncz * sizeof *u);
		if (t == NULL || u == NULL) {
			free(t);
			free(u);
			goto out;
		}
		memcpy(t, f.cy, f.ncy * sizeof *t);
		double thr = quantile(t, f.ncy, CHROMA_FLATQ);
		size_t nu = 0;
		for (size_t k = 0; k < f.ncz; k++)
			if (f.cy[k] <= thr)
				u[nu++] = f.cz[k];
		/* (a flat block's sum about its plane can round below 0) */
		m->csig = sqrt(fmax(0, quantile(nu >= 8 ? u : f.cz, nu >= 8 ? nu : f.ncz, 0.1)) / 0.84);
		free(t);
		free(u);
		m->cwhite = sqrt(quantile(f.cw, f.ncw, 0.1) / CW_P10);
	}
	/* texture: the spread of the blocks' means over the spread within
	 * them, the noise's share (luma averaged over 4x4) taken out */
	m->tex = 9;
	if (f.tn >= 4) {
		double mb = f.tb / f.tn, vb = f.tbb / f.tn - mb * mb;
		double vw = f.tv / f.tn - (c->ch == 1 ? 1.0 : 0.45) * m->sigma * m->sigma / 16;
		if (vw > 0.25)
			m->tex = sqrt(fmax(vb, 0) / vw);
	}
	if ((S = malloc(maxn * sizeof *S)) == NULL || (tmp = malloc(maxn * sizeof *tmp)) == NULL ||
	    (G = malloc(maxn * sizeof *G)) == NULL || (S2 = malloc(maxn * sizeof *S2)) == NULL ||
	    (M = malloc(maxn)) == NULL)
		goto out;
	/* smooth enough that noise does not stop the walk across an edge;
	 * the smoothing's own width is taken out again below */
	double sg = clampd(0.15 * m->sigma, BLUR_SP, 2.0);
	double resid = m->sigma / (2 * sqrt(M_PI) * sg);
	double e1 = 0, e2 = 0, ne1 = 0, ne2 = 0, sr2 = sqrt(BLUR_SP * BLUR_SP + BLUR_SR * BLUR_SR);
	if ((macc = calloc(1, sizeof *macc)) == NULL)
		goto out;
	int mg = (int)ceil(3 * sr2) + 1;
	for (int i = 0; i < c->ntile; i++) {
		struct cl_tile *t = &c->tile[i];
		/* scratches first: painted over, they mislead the blur no more */
		double d0 = f.dmg, a0 = f.area, c0 = f.cand, e0 = f.ev;
		int grain = m->sigma > SCR_SMOOTH_MIN;
		int busy = m->tex < TEX_MID;    /* all fine texture: see SCR_ND */
		memset(M, 0, (size_t)t->w * t->h);
		if (scratches(&f, C[i], C[i], t->w, t->h, fmax(SCR_CONTRAST, 4.0 * m->sigma), G,
		    grain ? NULL : M, SCR_CONTRAST, busy) < 0)
			goto out;
		if (m->sigma > SCR_SMOOTH_MIN) {
			/* grain breaks a thin line into dots: look for lines on
			 * a lightly smoothed copy too, where the grain is much
			 * weaker and a line keeps most of its contrast; the
			 * reading that finds more damage is kept */
			double d1 = f.dmg, c1 = f.cand, e1 = f.ev;
			f.dmg = d0;
			f.ev = e0;
			f.area = a0;
			f.cand = c0;
			smooth(C[i], S2, tmp, t->w, t->h, SCR_SMOOTH);
			if (scratches(&f, C[i], S2, t->w, t->h,
			    fmax(SCR_CONTRAST * SCR_KEEP, 4.0 * m->sigma * SCR_NOISE_LEFT), S,
			    M, fmax(SCR_CONTRAST * SCR_KEEP, 6.0 * m->sigma * SCR_NOISE_LEFT), 0) < 0)
				goto out;
			if (f.dmg > d1)
				memcpy(G, S, (size_t)t->w * t->h * sizeof *G);
			else {
				f.dmg = d1;
				f.ev = e1;
			}
			f.cand = c1;            /* candidates: always the plain reading's */
		}
		/* a streak (motion blur), the damage found painted over:
		 * a long straight scratch makes a cepstral peak too */
		psf_add(macc, G, t->w, t->h, (size_t)t->w, 0);
		/* the levels of the damage found (scratches, dust: the
		 * pixels painted over), to be left out of the picture's
		 * levels; then the tile's pixels are not needed again */
		{
			size_t n = (size_t)t->w * t->h;
			int nc = c->ch == 1 ? 1 : 3;
			for (size_t k = 0; k < n; k++)
				if (G[k] != C[i][k]) {
					const uint8_t *q = t->px + k * nc;
					for (int ch = 0; ch < nc; ch++)
						hx[ch][q[ch]]++;
					hx[3][nc == 1 ? q[0] : (299 * q[0] + 587 * q[1] + 114 * q[2] + 500) / 1000]++;
				}
			deep_cells(&f, t->px, nc, G, C[i], t->w, t->h);
			ntp += (double)n;
			free(t->px);
			t->px = NULL;
		}
		/* the structure function, away from thin detail that stands
		 * out (M, from scratches(): of the smoothed copy under grain,
		 * by more than the grain could) as scratches and dust do,
		 * with 2 pixels around; and away from the damage found (the
		 * pixels painted over in G) only */
		{
			size_t n = (size_t)t->w * t->h;
			for (size_t k = 0; k < n; k++)
				S[k] = M[k];
			morph(S, S, tmp, t->w, t->h, 1);
			for (size_t k = 0; k < n; k++)
				M[k] = S[k] > 0.5f;
			for (size_t k = 0; k < n; k++)
				S[k] = G[k] != C[i][k];
			morph(S, S, tmp, t->w, t->h, 1);
			for (size_t k = 0; k < n; k++)
				M[k] |= (uint8_t)((S[k] > 0.5f) << 1);
			structure(&f, C[i], M, t->w, t->h);
		}
		if (bands(&f, G, t->w, t->h) < 0)
			goto out;
		smooth(G, S, tmp, t->w, t->h, BLUR_SP);
		grad_energy(S, t->w, t->h, mg, &e1, &ne1);
		/* the further blur, on top of the first: sigmas add in quadrature */
		smooth(S, S2, tmp, t->w, t->h, BLUR_SR);
		grad_energy(S2, t->w, t->h, mg, &e2, &ne2);
		if (sg > BLUR_SP)
			smooth(G, S, tmp, t->w, t->h, sg);
		if (edges(&f, S, t->w, t->h, fmax(20.0, 5.0 * resid)) < 0)
			goto out;
	}
	if (motion_find(macc, &m->mo) == 0)
		m->motion = motion_sure(&m->mo);
	m->disk = disk_find(macc, &m->dk) == 0 && !m->motion && disk_sure(&m->dk);
	m->blur_sigma = 0;
	if (ne1 > 0 && ne2 > 0) {
		double ns = 2 * m->sigma * m->sigma;
		e1 = e1 / ne1 - ns * grad_gain(BLUR_SP);
		e2 = e2 / ne2 - ns * grad_gain(sr2);
		/* with too little detail above the noise, there is no telling */
		if (e1 > 0.25 * ns * grad_gain(BLUR_SP) && e1 > 1e-6) {
			double q = clampd(e2 / e1, 1e-6, 0.99);
			double st = q * q * BLUR_SR * BLUR_SR / (1 - q * q) - BLUR_SP * BLUR_SP;
			m->blur_sigma = st > 0 ? sqrt(st) : 0;
			m->blur_signed = st > 0 ? sqrt(st) : -sqrt(-st);
		}
	}
	m->edgew = edge_width(&f, 0.5);
	m->noedge = f.nedge < 8;
	for (int k = 0; k < 4; k++) {
		double e = f.bn[k] > 0 ? f.be[k] / f.bn[k] : 0;
		/* the noise's share, with 8-bit rounding's (variance 1/12) */
		m->band[k] = e - 36 * (m->sigma * m->sigma + 1.0 / 12) / pow(4, k);
	}
	/* Spectral slope: detail energy at scale 2 over scale 4. Natural
	 * pictures are close to scale invariant (about 0.3 to 3); a blur
	 * empties the finer band first. Trusted only where the coarse band
	 * stands well above the uncertainty of the noise taken out. */
	m->slope = -1;
	if (m->band[2] > 2.0 + 12.0 * m->sigma * m->sigma) {
		m->slope = fmax(m->band[1], 0) / m->band[2];
		double st = log(SLOPE_SHARP / fmax(m->slope, 1e-4));
		m->slope_sigma = st > 0 ? sqrt(st) : 0;
	}
	/* How even the blur is across scales: a Gaussian blur takes a
	 * quarter as much (in log) from the slope one octave coarser (scale
	 * 4 over 8) as from the slope at scale 2 over 4, since it attenuates
	 * as exp(-sigma^2 f^2); here, against a sharp picture's SLOPE_SHARP,
	 * it reads 0.25 to 0.56. A picture whose part in focus keeps its
	 * fine detail while the rest is blurred far more (a defocused or a
	 * panned background) loses more at the coarse octave than one blur
	 * could take from it with so little from the fine: 0.7 and more.
	 * 0 where either slope is that of a sharp picture, -1 unread. */
	/* Where the fine detail is: the blocks whose own slope is in the
	 * top quarter, their slope against the whole picture's. A blur of
	 * the whole frame leaves the blocks' slopes about as spread as the
	 * scene's (1.2 to 3.4 on the sets, sharp or blurred); a part in
	 * focus before a background blurred far more holds nearly all of
	 * the fine detail (7 and more). -1 unread. */
	m->conc = -1;
	if (m->slope >= 0 && f.nbb2 >= 4) {
		double nz = 36 * (m->sigma * m->sigma + 1.0 / 12), kmin = 2.0 + 12.0 * m->sigma * m->sigma;
		double *r = malloc(f.nbb2 * sizeof *r), thr, hf = 0, hk = 0;
		size_t q = 0;
		if (r == NULL)
			goto out;
		for (size_t k = 0; k < f.nbb2; k++) {
			f.bb2[k] = fmax(f.bb2[k] - nz / 4, 0);  /* the noise's share out */
			f.bb4[k] -= nz / 16;
			if (f.bb4[k] > kmin)
				r[q++] = f.bb2[k] / f.bb4[k];
		}
		if (q >= 4) {
			thr = quantile(r, q, 0.75);
			for (size_t k = 0; k < f.nbb2; k++)
				if (f.bb4[k] > kmin && f.bb2[k] / f.bb4[k] >= thr) {
					hf += f.bb2[k];
					hk += f.bb4[k];
				}
			m->conc = hf / hk / fmax(m->slope, 1e-4);
		}
		free(r);
	}
	m->uneven = -1;
	if (m->slope >= 0 && m->band[3] > 0) {
		double r48 = fmax(m->band[2], 0) / m->band[3];
		m->uneven = m->slope < SLOPE_SHARP && r48 < SLOPE_SHARP ?
		    log(r48 / SLOPE_SHARP) / log(fmax(m->slope, 1e-4) / SLOPE_SHARP) : 0;
	}
	/* Under grain the slope cannot be read; the structure function's
	 * curvature can: (D(2) - D(1)) / (D(4) - D(2)), free of white
	 * noise, near 2^-b (0.4 to 0.7) for a picture whose D rises as a
	 * power k^b, and towards 0.25 (D rising as k^2) when a blur has made
	 * it smooth at the shortest lags. */
	m->curv = m->curv_all = -1;
	if (f.sdn[0] > 0 && f.sdn[1] > 0 && f.sdn[2] > 0) {
		double d1 = f.sd[0] / f.sdn[0], d2 = f.sd[1] / f.sdn[1], d4 = f.sd[2] / f.sdn[2];
		if (d4 - d2 > 2.0)              /* some detail to read */
			m->curv = (d2 - d1) / (d4 - d2);
	}
	if (f.sdfn[0] > 0 && f.sdfn[1] > 0 && f.sdfn[2] > 0) {
		double d1 = f.sdf[0] / f.sdfn[0], d2 = f.sdf[1] / f.sdfn[1], d4 = f.sdf[2] / f.sdfn[2];
		if (d4 - d2 > 2.0)
			m->curv_all = (d2 - d1) / (d4 - d2);
	}
	m->eff = edge_resolution(m->edgew, sg);
	m->eff_sharp = edge_resolution(edge_width(&f, EDGE_SHARP_Q), sg);
	if (!m->jq_measured)
		m->jq = c->type == IMG_JPEG && c->nquant > 0 ? jpeg_quality(c->quant[0]) : 0;
	{
		double bx = 0, by = 0;
		for (int p = 0; p < 8; p++) {
			double o = 0, on = 0;
			for (int q = 0; q < 8; q++)
				if (q != p) {
					o += f.bh[q];
					on += f.bhn[q];
				}
			if (on > 0 && f.bhn[p] > 0 && o > 0) {
				/* against the opposite phase too: a period-4 pattern
				 * (a 4x upscale) is not a block grid */
				double r = (f.bh[p] / f.bhn[p]) / fmax(o / on, f.bh[p ^ 4] / f.bhn[p ^ 4]);
				bx = r > bx ? r : bx;
			}
			o = on = 0;
			for (int q = 0; q < 8; q++)
				if (q != p) {
					o += f.bv[q];
					on += f.bvn[q];
				}
			if (on > 0 && f.bvn[p] > 0 && o > 0) {
				double r = (f.bv[p] / f.bvn[p]) / fmax(o / on, f.bv[p ^ 4] / f.bvn[p ^ 4]);
				by = r > by ? r : by;
			}
		}
		m->block = c->w >= 32 && c->h >= 32 ? (bx + by) / 2 : 1;   /* tiny: no grid to see */
	}
	{
		int skip8 = (m->jq > 0 && m->jq < 90) || m->block > 1.2;
		double fx, fy;
		double px = periodicity(f.px2, f.pxn, c->w, skip8, &fx);
		double py = periodicity(f.py2, f.pyn, c->h, skip8, &fy);
		m->period = (px + py) / 2;
		m->period_x = px;
		m->period_y = py;
		m->pfreq = px > py ? fx : fy;
		m->grid = -1;
		for (int k = 2; k <= 4; k += 2)
			if (fabs(m->pfreq - k / 8.0) < 0.01)
				m->grid = grid8(f.px2, f.pxn, c->w, f.py2, f.pyn, c->h, k);
		m->mirror = 0;
		for (int k = 0; k < 4; k++) {
			double cohr = f.mab[k] > 0 ? hypot(f.mre[k], f.mim[k]) / f.mab[k] : 0;
			/* a JPEG's 8x8 grid folds about 1/8 and 1/4 too */
			if (skip8 && (k + 2 == 2 || k + 2 == 4))
				continue;
			if (cohr > m->mirror) {
				m->mirror = cohr;
				m->mirror_k = k + 2;
			}
		}
	}
	m->scratch = f.area > 0 ? f.dmg / f.area : 0;
	m->scratch_ev = f.area > 0 ? f.ev / f.area : 0;
	m->scratch_cand = f.area > 0 ? f.cand / f.area : 0;
	/* the share of strong edges still sharp, which is fine detail in
	 * focus: where grain is light enough to read widths at BLUR_SP, and
	 * not where scratches or dust, sharp on any picture, were found */
	m->sharp_part = sg <= BLUR_SP && f.nstrong >= SHARP_NMIN && m->scratch_ev < SCR_MID ?
	    f.nsharp / f.nstrong : -1;
	for (int d = 0; d < 2; d++)
		m->sharp_d[d] = sg <= BLUR_SP && f.nstrong_d[d] >= SHARP_NMIN / 2 &&
		    m->scratch_ev < SCR_MID ? f.nsharp_d[d] / f.nstrong_d[d] : -1;
	if (sg > BLUR_SP || m->scratch_ev >= SCR_MID)
		m->uneven = -1;
	/* levels: the percentiles of each channel's histogram, and of
	 * luma's, the damage found (scratches, dust) left out: strong
	 * damage covers a few per cent of a picture, more than the 1 % the
	 * percentiles read. Noise spreads the tails by about 2.3 sigma at
	 * 1 %, which is taken back, unless they are clipped at 0 or 255,
	 * where it cannot be; there the histogram deconvolved by the noise
	 * tells. The deconvolved histogram is right where the picture has
	 * no damage (the 2.3-sigma correction overshoots on a gentle tail,
	 * such as a dusk sky's shadows, by 10 to 20 levels); where
	 * scratches or dust were found, the specks not found are outliers
	 * it sharpens into the extremes, and the narrower of the two
	 * readings is kept. */
	m->black = 255;
	m->white = 0;
	for (int k = 0; k < 4; k++) {
		if (c->ch == 1 && k > 0 && k < 3)
			continue;
		double hd[256], hc[256], nc = 0, sx = ntp > 0 ? c->nacc / ntp : 0;
		for (int l = 0; l < 256; l++) {
			hc[l] = fmax(0, c->hist[k][l] - sx * hx[k][l]);
			nc += hc[l];
		}
		if (nc < 0.5 * c->nacc) {        /* damage everywhere: keep it */
			memcpy(hc, c->hist[k], sizeof hc);
			nc = c->nacc;
		}
		double sk = k == 3 ? m->sigma_y : m->sigma;
		double b = hquantile(hc, nc, 0.01), w = hquantile(hc, nc, 0.99);
		b += fmin(2.0 * sk, fmax(b, 0));
		w -= fmin(2.0 * sk, fmax(255 - w, 0));
		if (sk > 1 && hist_denoise(hc, sk, hd) == 0) {
			double bd = hquantile(hd, nc, 0.01), wd = hquantile(hd, nc, 0.99);
			b = m->scratch_ev < SCR_MID ? bd : fmax(b, bd);
			w = m->scratch_ev < SCR_MID ? wd : fmin(w, wd);
		}
		if (k == 3 || c->ch == 1) {
			m->black_y = clampd(b, 0, 255);
			m->white_y = clampd(w, 0, 255);
			m->wall_y = hquantile(hc, nc, 0.05) - hquantile(hc, nc, 0.01);
		}
		if (k == 3)
			continue;
		m->black = b < m->black ? b : m->black;
		m->white = w > m->white ? w : m->white;
	}
	/* a fade lifts the tone scale, which luma follows; a cast's or a
	 * toning's gains move the channels' ends apart (sepia: the red's
	 * whites up, the blue's blacks down) and would hide it */
	m->lift_y = fmin(m->black_y, 255 - m->white_y);
	/* the same read on the sharpest blocks alone (the part in focus):
	 * a blur that covers part of the frame (a defocused background,
	 * panning) takes the extremes of that part, a fade those of every
	 * part; under grain the blocks' gradient is the noise's, and where
	 * damage was found its sharp specks would be the extremes */
	m->lift_f = m->lift_fb = -1;
	if (f.nfb >= FOCUS_NMIN && m->sigma_y < FOCUS_SIGMA && m->scratch_ev < SCR_MID) {
		double *sv = malloc(f.nfb * sizeof *sv);
		if (sv == NULL)
			goto out;
		for (size_t k = 0; k < f.nfb; k++)
			sv[k] = f.fb[k].s;
		qsort(sv, f.nfb, sizeof *sv, cmpd);
		size_t nk = (size_t)ceil(FOCUS_Q * f.nfb);
		double thr = sv[f.nfb - nk];
		free(sv);
		double hf[256] = { 0 }, nf = 0;
		for (size_t k = 0; k < f.nfb && nf < 1024.0 * nk; k++)
			if (f.fb[k].s >= thr) {
				for (int l = 0; l < 256; l++)
					hf[l] += f.fb[k].h[l];
				nf += 1024;
			}
		m->lift_fb = fmax(0, hquantile(hf, nf, 0.01));   /* -1 is unread */
		m->lift_f = fmax(0, fmin(m->lift_fb, 255 - hquantile(hf, nf, 0.99)));
	}
	/* a fade lifts every part of the picture, the darkest structure
	 * too; a scene that merely lacks black and white (a close-up of
	 * fruit, fur) keeps its few darkest and brightest details deep
	 * (seeds, a pupil, a glint) below the percentiles of the whole:
	 * the lift read on the block whose own 1 % is darkest (99 %
	 * brightest), where grain is light enough not to make the
	 * extremes and no damage was found to make them */
	m->lift_d = m->lift_db = -1;
	if (f.nfb >= FOCUS_NMIN && m->sigma_y < DEEP_SIGMA && m->scratch_ev < SCR_MID) {
		double lo = 255, hi = 0;
		for (size_t k = 0; k < f.nfb; k++) {
			double hb[256];
			for (int l = 0; l < 256; l++)
				hb[l] = f.fb[k].h[l];
			lo = fmin(lo, hquantile(hb, 1024, 0.01));
			hi = fmax(hi, hquantile(hb, 1024, 0.99));
		}
		m->lift_d = fmax(0, fmin(lo, 255 - hi) + DEEP_NOISE * m->sigma_y);
		m->lift_db = fmax(0, lo + DEEP_NOISE * m->sigma_y);
	} else if (f.nfb >= FOCUS_NMIN && f.ncm > 0 && m->sigma_y < DEEP_GRAIN &&
	    (m->sigma_y < DEEP_SIGMA || m->scratch_ev < SCR_MID)) {
		/* where grain is heavier or damage was found, on the
		 * medians of 4x4 cells, the damage found left out
		 * (deep_cells): the darkest and brightest cell; not under
		 * heavy grain with damage found, nor under grain heavier
		 * still, where such a cell is as likely a speck of dust the
		 * search missed as a detail of the scene */
		int lo = 0, hi = 511;
		while (lo < 511 && f.hcm[lo] == 0)
			lo++;
		while (hi > 0 && f.hcm[hi] == 0)
			hi--;
		m->lift_d = fmax(0, fmin(lo / 2.0, 255 - hi / 2.0) + DEEP_CELL_NOISE * m->sigma_y);
		m->lift_db = lo / 2.0 + DEEP_CELL_NOISE * m->sigma_y;
	}
	m->black = clampd(m->black, 0, 255);
	m->white = clampd(m->white, 0, 255);
	m->dr = clampd((m->white - m->black) / 255.0, 0, 1);
	m->lift = (m->black + 255 - m->white) / 2;
	m->lift_min = fmin(m->black, 255 - m->white);
	/* colour */
	m->grayscale = c->ch == 1 || c->neutral >= 0.995 * c->nacc;
	if (!m->grayscale) {
		double br[3] = { 1, 1, 1 }, thr = hquantile(c->hist[3], c->nacc, 0.97);
		for (int l = (int)(thr + 0.5); l < 256; l++)
			for (int k = 0; k < 3; k++)
				br[k] += c->bright[l < 0 ? 0 : l][k];
		/* log chroma (R/G, B/G) of the grey world and of the bright pixels */
		m->gwx = log((c->csum[0] + 1) / (c->csum[1] + 1));
		m->gwy = log((c->csum[2] + 1) / (c->csum[1] + 1));
		m->brx = log(br[0] / br[1]);
		m->bry = log(br[2] / br[1]);
		/* ... and of the less coloured half of the brightest tenth:
		 * where the scene has white, these are it */
		{
			double t10 = hquantile(c->hist[3], c->nacc, 0.90), nb = 0, half, acc = 0;
			double cnt[CL_NCB] = { 0 }, sum[CL_NCB][3] = { { 0 } }, ns[3] = { 1, 1, 1 };
			for (int l = (int)(t10 + 0.5); l < 256; l++)
				for (int k = 0; k < CL_NCB; k++) {
					cnt[k] += c->nbc[l < 0 ? 0 : l][k];
					for (int j = 0; j < 3; j++)
						sum[k][j] += c->nbs[l < 0 ? 0 : l][k][j];
					nb += c->nbc[l < 0 ? 0 : l][k];
				}
			half = nb / 2;
			for (int k = 0; k < CL_NCB && acc < half; k++) {
				double f = cnt[k] > 0 ? fmin(1, (half - acc) / cnt[k]) : 0;
				for (int j = 0; j < 3; j++)
					ns[j] += f * sum[k][j];
				acc += f * cnt[k];
			}
			m->nwx = log(ns[0] / ns[1]);
			m->nwy = log(ns[2] / ns[1]);
		}

		/* The bright pixels tell the illuminant best (a cast tints
		 * white). A scene's own colour misleads them when it has no
		 * white: then the less coloured bright pixels, or the grey
		 * world, disagree, and the smaller reading is taken. */
		double wp = hypot(m->brx, m->bry), nw = hypot(m->nwx, m->nwy);
		double agree = m->brx * m->gwx + m->bry * m->gwy;
		m->castx = wp <= nw ? m->brx : m->nwx;
		m->casty = wp <= nw ? m->bry : m->nwy;
		m->cast = fmin(wp, nw) * (agree > 0 ? 1 : 0.5);
		/* A cool tint of the brightest pixels (less red, more blue:
		 * away from firelight, tungsten, sunsets and sepia) is rarely
		 * the scene's own: the bright pixels alone are trusted, on a
		 * scale where CAST_COOL reads as CAST_MID. (The less coloured
		 * pixels of a cast picture are those whose own colour cancels
		 * the cast, and clipped highlights hide part of it.) Cool is
		 * within 60 degrees of that axis: blue or cyan, not a magenta
		 * (more red and more blue), which skin and flowers have and a
		 * low-key tone curve deepens. */
		if (m->bry - m->brx >= wp * M_SQRT1_2 && wp * CAST_MID / CAST_COOL > m->cast) {
			m->cast = wp * CAST_MID / CAST_COOL;
			m->castx = m->brx;
			m->casty = m->bry;
		}
		/* The edges must be tinted too: where the grey edge, along a
		 * warm cast's direction, shows less than 1/CAST_EDGE of it, the
		 * colour is the scene's own (a ginger cat filling the picture,
		 * which has no white), and the cast is cut to what the edges
		 * allow. (On 4x4 means grain is calmed enough that it does
		 * not neutralise the edges: per-channel noise up to a sigma
		 * of 25 on sepia-cast photos, and mkset's old photos, lose no
		 * cast to it.) Not for a cool cast, rarely the scene's own
		 * (see above). */
		if (f.gen > 0) {
			/* (the mean of square roots, squared: order 1/2) */
			m->gex = 2 * log((f.ge[0] + 1e-3) / (f.ge[1] + 1e-3));
			m->gey = 2 * log((f.ge[2] + 1e-3) / (f.ge[1] + 1e-3));
			double n = hypot(m->castx, m->casty);
			if (n > 0 && m->castx - m->casty > 0) {
				double proj = (m->gex * m->castx + m->gey * m->casty) / n;
				m->cast = fmin(m->cast, CAST_EDGE * fmax(proj, 0));
			}
		}
		/* A cast shifts every tone alike: the least coloured pixels
		 * of the shadows, the mid-tones and the highlights all lean
		 * its way, by as much. A scene's own colour (foliage, a
		 * brown pot, a wooden table) leaves some tone with pixels
		 * near neutral (shadows, a wall, the pot). The least
		 * coloured CAST_TQ of each third of the pixels by luma is
		 * read along the cast's direction, and the cast is cut to
		 * CAST_TONE times the smallest reading.
		 * Not where the brightest pixels lean cool (see above: a
		 * blue cast on a warm scene leaves once warm pixels near
		 * neutral); a toned print is judged below. */
		m->tonal = NAN;
		m->tv_ok = tonal_thirds(c, m->tv);
		if (hypot(m->castx, m->casty) > 0) {
			m->tonal = tonal_lean(m->tv, m->tv_ok, m->castx, m->casty);
			if (!isnan(m->tonal) && m->bry - m->brx < wp * M_SQRT1_2)
				m->cast = fmin(m->cast, CAST_TONE * fmax(m->tonal, 0));
		}
		if (c->cm[0] > 0) {
			double n = c->cm[0], mu = c->cm[1] / n, mv = c->cm[2] / n;
			double vu = c->cm[3] / n - mu * mu, vv = c->cm[4] / n - mv * mv;
			double mt = hypot(mu, mv);
			m->tone_u = mu;
			m->tone_v = mv;
			m->tone_spread = sqrt(fmax(0, vu + vv));
			/* A gain shifts the scene's chroma without widening
			 * it; grain, and a low-key curve (which raises each
			 * channel to a power, so multiplies every chroma
			 * alike), widen it, and a wide spread makes the
			 * bright and the least coloured pixels lean some way
			 * by chance: beyond CAST_SPREAD the cast read is
			 * scaled by (CAST_SPREAD / spread)^1.5. A toned
			 * print's spread is small. */
			if (m->tone_spread > CAST_SPREAD)
				m->cast *= pow(CAST_SPREAD / m->tone_spread, 1.5);
			/* toned: one hue everywhere, its spread small beside it */
			if (mt >= TONE_MIN && m->tone_spread <= 0.3 * mt) {
				if (mu > 0 && mv < 0)
					m->toned_sepia = 1;
				else
					m->toned_mono = 1;
				/* no natural scene is one hue all over: a
				 * toned print is a cast from the least tone
				 * called toned, on the scale where TONE_MIN
				 * reads as CAST_MID */
				mt *= CAST_MID / TONE_MIN;
				if (mt > m->cast) {
					m->cast = mt;
					m->castx = mu;
					m->casty = mv;
				}
			}
		}
	}
	rc = 0;
out:
	if (rc != 0)
		warnx("%s: out of memory", name);
	for (int i = 0; i < c->ntile; i++) {
		free(Y[i]);
		free(C[i]);
	}
	free(S);
	free(S2);
	free(tmp);
	free(G);
	free(M);
	free(macc);
	free(f.nz);
	free(f.nzw);
	free(f.nzm);
	free(f.cz);
	free(f.cy);
	free(f.cw);
	free(fy.nz);
	free(fy.nzw);
	free(fy.nzm);
	free(f.ew);
	free(f.fb);
	free(f.bb2);
	free(f.bb4);
	free(mb);
	free(f.px2);
	free(f.pxn);
	free(f.py2);
	free(f.pyn);
	return rc;
}

/* ---- scores, ops, the object ---- */

static const char *
cast_direction(const struct meas *m)
{
	static const char *const dir[8] = { "red", "magenta", "blue", "blue", "cyan",
		"green", "yellow", "sepia" };
	double a;

	if (m->toned_sepia)
		return "sepia";
	if (m->grayscale || m->cast < CAST_MID * 0.5)
		return "none";
	a = atan2(m->casty, m->castx) * 180 / M_PI;      /* red 0, blue 90 */
	a = fmod(a + 360 + 22.5, 360);
	return dir[(int)(a / 45) & 7];
}

static jv
num(double x, double scale)
{
	return jv_number(round(x * scale) / scale);
}

static int
raw_wanted(void)
{
	const char *s = getenv("RS_CLASSIFY_RAW");
	return s != NULL && *s != '\0' && strcmp(s, "0") != 0;
}

/* A fade's lift from luma's reading y, and where they were read (not
 * -1) the sharpest blocks' f and the darkest and brightest blocks' d:
 * the smallest, those two a little deeper (a sample). A fade lifts
 * every channel's black, and no gain brings a lifted black back to 0
 * (a cast or a toning moves the channels' whites to the clip, so they
 * tell nothing): a scene of saturated colours keeps luma off black
 * while a channel reaches it, so at most the channels' least black
 * over FADE_CH_K (on the held-out photos faded F1 0.97 | 0.94 -> 0.98
 * | 0.99, the tuned sets unchanged). */
static double
fade_lift(const struct meas *m, double y, double f, double d)
{
	double lift = f >= 0 ? fmin(y, f + FOCUS_TOL) : y;

	if (d >= 0)
		lift = fmin(lift, d + DEEP_TOL);
	return fmin(lift, m->black / FADE_CH_K + FADE_CH_TOL);
}

int
cl_finish(const char *name, struct cl *c, jv *out)
{
	struct meas m;
	double sc[7];
	int rc, det[7], ow, oh;
	jv deg = jv_array(), at, ops = jv_array(), cast;
	const char *dir;

	if ((rc = measure(name, c, &m)) != 0)
		return rc;
	/* grain, or colour blotches: the chroma spread above what white
	 * noise of its Immerkaer reading would give */
	int even = m.sigma > 0 && m.sigma_lo >= EVEN_LO * m.sigma && m.sigma_lo <= EVEN_HI * m.sigma;
	double nl = sigmoid(m.sigma, even ? NOISE_MID_EVEN : NOISE_MID, NOISE_SPAN);
	/* Noise drawn in each channel alone: chroma's Immerkaer reading,
	 * which the scene's detail (alike in the three channels) leaves near
	 * zero, is CW_SIGMA of its sigma at any strength. It still reads
	 * where the scale comparison fails: on a soft photo, whose detail
	 * grows at half scale, or one all texture. */
	if (c->ch == 3) {
		double scw = m.cwhite / CW_SIGMA, ncw = sigmoid(scw, NOISE_MID_EVEN, NOISE_SPAN);
		if (ncw > nl) {
			nl = ncw;
			if (ncw >= 0.5 && m.sigma < CW_FAIL * scw)
				m.sigma = scw;
		}
	}
	sc[T_NOISE] = fmax(nl, c->ch == 3 ? sigmoid(m.csig - CHROMA_WHITE * m.cwhite,
	    CHROMA_MID, CHROMA_SPAN) : 0);
	sc[T_BLUR] = sigmoid(m.blur_signed, BLUR_MID, BLUR_SPAN);
	if (m.slope >= 0) {
		double s = sigmoid(-log(fmax(m.slope, 1e-4)), -log(SLOPE_MID), SLOPE_SPAN);
		sc[T_BLUR] = s;
		if (s >= 0.5)
			m.blur_sigma = fmax(m.blur_sigma, m.slope_sigma);
	}
	/* the curvature, where the slope cannot be read; where it can, it
	 * still finds the blur that scratches hide from the slope (their
	 * fine detail reads as sharpness), from a stricter threshold */
	/* The thin detail that stands out is left out of the curvature
	 * for the scratches and dust among it; where none was found, it is
	 * the picture's own fine detail (under grain, more of it stands
	 * out of the lower threshold), and leaving it out reads a sharp
	 * picture as smooth: there the damage found is left out, no more. */
	double curv = m.scratch_ev < SCR_MID && m.curv_all >= 0 ? m.curv_all : m.curv;
	double tw = clampd((TEX_MID - m.tex) / TEX_SPAN, 0, 1);
	if (curv >= 0) {
		double s = sigmoid(-curv, -(m.slope < 0 ? CURV_MID : CURV_MID_CLEAR) - tw * CURV_TEX, CURV_SPAN);
		if (s > sc[T_BLUR]) {
			sc[T_BLUR] = s;
			if (s >= 0.5)
				m.blur_sigma = fmax(m.blur_sigma, CURV_SIGMA);
		}
	}
	sc[T_JPEG] = fmax(m.jq > 0 ? sigmoid(-m.jq, -JPEGQ_MID, JPEGQ_SPAN) : 0,
	    sigmoid(m.block, BLOCK_MID, BLOCK_SPAN));
	/* a blur that is damage covers the frame; where part of it is in
	 * focus (a defocused background, panning, a moving subject), the
	 * blur is the photographer's: seen, not called. So too where the
	 * blur is far more uneven across scales than any one blur makes
	 * it, even with the part in focus soft itself; not in a damaged
	 * JPEG, whose block edges feed the fine octave. A defocus disk's
	 * ramp is steeper midway than a Gaussian's of the same reach: a
	 * few of its own edges read sharp (up to 2.5 % at radius 2 on the
	 * sets), so there a part in focus needs more. */
	int meant = m.sharp_part >= (m.disk ? SHARP_PART_DISK : SHARP_PART) ||
	    (m.uneven >= UNEVEN && m.conc >= CONC) ||
	    (m.uneven >= UNEVEN_ALONE && sc[T_JPEG] < 0.5);
	/* A streak over the whole frame (psf.h: camera shake) leaves
	 * the edges along it sharp and is no Gaussian across scales: it is
	 * meant only where edges it crosses (by MOTION_CROSS pixels or
	 * more along their gradient, or most) are still sharp. */
	if (m.motion) {
		double ext[2] = { fabs(m.mo.length * cos(m.mo.angle * M_PI / 180)),
		    fabs(m.mo.length * sin(m.mo.angle * M_PI / 180)) };
		int far = ext[1] > ext[0];      /* the way it crosses most */
		meant = 0;
		for (int d = 0; d < 2; d++)
			meant |= (ext[d] >= MOTION_CROSS || d == far) && m.sharp_d[d] >= SHARP_PART;
		sc[T_BLUR] = fmax(sc[T_BLUR], PSF_SCORE);
	} else if (m.disk)   /* a defocus disk (psf.h) */
		sc[T_BLUR] = fmax(sc[T_BLUR], PSF_SCORE);
	if (meant)
		sc[T_BLUR] = fmin(sc[T_BLUR], SHARP_CAP);
	/* a texture that fills the picture can be low in contrast by
	 * nature, and a blur takes its extremes (of a fine texture, much
	 * of its range): it needs a larger lift, the more so when blurred;
	 * a blur takes the extremes of a photograph's small features too,
	 * less so (beyond the half pixel a sharp picture reads); and noise
	 * a little more per level of luma's sigma: under heavy noise (a
	 * sigma of 25 on luma) even the deconvolved reading of a dusk sky
	 * lies 10 levels above itself */
	m.tilted = tilt_fit((const long (*)[256])c->tilt, NULL, &m.tilt);
	{
		double lift = fade_lift(&m, m.lift_y, m.lift_f, m.lift_d);
		/* a fade may lift the blacks alone (a matte print, haze): read
		 * so on the blacks' side only, it needs FADE_ONE_SIDE more,
		 * and the histogram must start at a wall, the scene's own
		 * blacks piled up where the fade put them (its 1 % and 5 %
		 * within FADE_WALL, and a little more under grain); a scene
		 * that merely has no black (pastel fabric, a bright close-up)
		 * starts gently. A texture that fills the frame starts at
		 * its own darkest tone, a wall that tells nothing: there the
		 * whites must stand FADE_TEX_TOP off the top as well (a
		 * texture's lifted whites stay below it; a bright, high-key
		 * brick wall lifts its blacks as far, its whites to the top) */
		m.lift_b = fade_lift(&m, m.black_y, m.lift_fb, m.lift_db);
		if (m.wall_y <= FADE_WALL + FADE_WALL_NOISE * m.sigma_y &&
		    (tw < 0.5 || m.lift_y >= FADE_TEX_TOP))
			lift = fmax(lift, m.lift_b - FADE_ONE_SIDE);
		/* a fade that grows across the frame (tilt.h) is read where
		 * it is strongest, at the most lifted corner, as a lift of
		 * the blacks alone: its least faded side may look unfaded */
		if (m.tilted)
			lift = fmax(lift, m.tilt.black.c + 0.5 * (fabs(m.tilt.black.px) +
			    fabs(m.tilt.black.py)) - FADE_ONE_SIDE);
		sc[T_FADED] = sigmoid(lift - tw * (FADE_TEX + FADE_TEX_BLUR * m.blur_sigma) -
		    (1 - tw) * FADE_BLUR * fmax(0, m.blur_sigma - FADE_BLUR_MIN) -
		    FADE_NOISE * m.sigma_y, FADE_MID, FADE_SPAN);
	}
	sc[T_CAST] = m.grayscale ? 0 : sigmoid(m.cast, CAST_MID, CAST_SPAN);
	/* The damage found decides the side of 0.5; within its side the
	 * score rises with the fraction of candidates (every pixel of thin
	 * bright or dark detail, damage found or not), which more damage
	 * always raises, where the damage found need not (crossing
	 * scratches break each other's lines). The descratch op keeps a
	 * confidence: how far the damage found is past the call, moved a
	 * little by the candidates it did not explain. */
	double scr_conf;
	{
		double s = sigmoid(m.scratch_ev, SCR_MID, SCR_SPAN);
		double c = SCR_CAND_W * m.scratch_cand / (m.scratch_cand + 0.01);
		double hc = m.scratch_cand / (m.scratch_cand + SCR_CAND_H);
		scr_conf = s + (s < 0.5 ? 0.5 - s : 1 - s) * c;
		sc[T_SCRATCH] = s >= 0.5 ? SCR_POS + (1 - SCR_POS) * hc : SCR_NEG * hc;
	}
	/* the trace of interpolation decides; how soft the edges are says
	 * how far the picture was enlarged */
	{
		double g = sigmoid(m.period, PERIOD_MID, PERIOD_SPAN);
		double gm = sigmoid(m.mirror, MIRROR_MID, MIRROR_SPAN);
		/* an enlargement by k leaves at most 1/k of the resolution:
		 * k from the fold, or from the ripple's frequency (1/k) */
		if (gm >= 0.5 && m.mirror_k > 1) {
			m.eff = fmin(m.eff, 1.0 / m.mirror_k);
			m.eff_sharp = fmin(m.eff_sharp, 1.0 / m.mirror_k);
		}
		int grid = 0;                   /* a JPEG's own 8x8 grid */
		for (int j = 1; j <= 4; j++)
			if (fabs(m.pfreq - j / 8.0) < 0.01 &&
			    (m.jq > 0 || (j % 2 == 0 && m.grid >= GRID_SHARE)))
				grid = j;
		if (g >= 0.5 && m.pfreq > 0 && !grid)
			m.eff = fmin(m.eff, m.pfreq);
		/* at 1/8 or 3/8 (no enlargement by a whole factor k, whose
		 * trace is at 1/k, puts it there but 8, which leaves too
		 * little to enlarge) the trace is the grid's alone */
		if (grid == 1 || grid == 3)
			g = 0;
		/* at 1/4 or 1/2 it is an enlargement's by 4 or 2 only where
		 * the edges are as soft as that leaves them (a JPEG of a soft
		 * scene, fruit at quality 90, has its grid's ripple there):
		 * its sharpest edges, since an enlargement softens every edge
		 * and a defocused background only its own */
		if ((grid == 2 || grid == 4) && m.eff_sharp > GRID_EFF * m.pfreq)
			g = 0;
		/* with too few edges to measure, the trace decides alone */
		double v = m.noedge ? 1 : sigmoid(-m.eff, -EFF_MID, EFF_SPAN);
		/* once a trace is clear, the effective resolution ranks */
		double hg = fmax(g, gm);
		hg = hg < 0.5 ? hg : 0.5 + 0.5 * fmin(1, (hg - 0.5) / 0.2);
		sc[T_LOWRES] = fmin(v, hg);
	}
	/* wide edges that interpolation explains are not blur */
	sc[T_BLUR] *= 1 - 0.6 * sc[T_LOWRES];
	for (int i = 0; i < 7; i++) {
		det[i] = sc[i] >= 0.5;
		deg = jv_array_append(deg, JV_OBJECT(jv_string("type"), jv_string(classify_types[i]),
		    jv_string("score"), num(sc[i], 10000), jv_string("detected"), jv_bool(det[i])));
	}
	dir = cast_direction(&m);
	cast = JV_OBJECT(jv_string("direction"), jv_string(dir),
	    jv_string("strength"), num(m.cast, 1000),
	    jv_string("r"), num(exp(-m.castx), 1000), jv_string("g"), jv_number(1),
	    jv_string("b"), num(exp(-m.casty), 1000));
	ow = c->orientation >= 5 ? c->h : c->w;
	oh = c->orientation >= 5 ? c->w : c->h;
	at = JV_OBJECT(jv_string("noise_sigma"), num(m.sigma, 100),
	    jv_string("sharpness"), num(1 / (1 + m.blur_sigma), 1000),
	    jv_string("jpeg_quality"), m.jq > 0 ? jv_number(m.jq) : jv_null(),
	    jv_string("dynamic_range"), num(m.dr, 1000),
	    jv_string("black_level"), num(m.black, 10),
	    jv_string("white_level"), num(m.white, 10),
	    jv_string("cast"), cast,
	    jv_string("scratch_fraction"), num(m.scratch, 100000),
	    jv_string("effective_resolution"), num(m.eff, 1000));
	at = jv_object_set(at, jv_string("jpeg_tables"),
	    m.jq > 0 ? jv_string(m.jq_measured ? "measured" : "file") : jv_null());
	at = jv_object_set(at, jv_string("chroma_sigma"), num(m.csig, 100));
	{
		jv nl = jv_array();
		for (int i = 0; i < NLF_BINS; i++)
			nl = jv_array_append(nl, m.nlf[i] < 0 ? jv_null() : num(m.nlf[i], 100));
		at = jv_object_set(at, jv_string("noise_levels"), nl);
	}
	at = jv_object_set(at, jv_string("blockiness"), num(m.block, 1000));
	at = jv_object_set(at, jv_string("blur_sigma"), num(m.blur_sigma, 100));
	at = jv_object_set(at, jv_string("motion"), m.motion ? JV_OBJECT(jv_string("length"),
	    num(m.mo.length, 100), jv_string("angle"), num(m.mo.angle, 10)) : jv_null());
	at = jv_object_set(at, jv_string("defocus"), m.disk ?
	    JV_OBJECT(jv_string("radius"), num(m.dk.radius, 100)) : jv_null());
	at = jv_object_set(at, jv_string("grayscale"), jv_bool(m.grayscale));
	at = jv_object_set(at, jv_string("toned"), m.toned_sepia ? jv_string("sepia") :
	    m.toned_mono ? jv_string("monochrome") : jv_null());
	at = jv_object_set(at, jv_string("alpha"), jv_bool(c->alpha));
	at = jv_object_set(at, jv_string("width"), jv_number(ow));
	at = jv_object_set(at, jv_string("height"), jv_number(oh));
	if (raw_wanted()) {
		jv r = jv_object();
#define RAW(k, v, sc) r = jv_object_set(r, jv_string(k), num(v, sc))
		RAW("sigma_lo", m.sigma_lo, 100);
		RAW("chroma_white", m.cwhite, 100);
		RAW("edgew", m.edgew, 1000);
		RAW("eff_sharp", m.eff_sharp, 1000);
		RAW("slope", m.slope, 1000);
		RAW("b2", m.band[1], 10);
		RAW("b4", m.band[2], 10);
		RAW("curv", m.curv, 1000);
		RAW("curv_all", m.curv_all, 1000);
		RAW("sharp_part", m.sharp_part, 1000);
		RAW("uneven", m.uneven, 1000);
		RAW("conc", m.conc, 1000);
		RAW("scratch_cand", m.scratch_cand, 100000);
		RAW("scratch_ev", m.scratch_ev, 100000);
		RAW("blur_signed", m.blur_signed, 1000);
		RAW("motion_length", m.mo.length, 100);
		RAW("motion_angle", m.mo.angle, 10);
		RAW("motion_peak", m.mo.peak, 10000);
		RAW("motion_zero", m.mo.zero, 100);
		RAW("motion_across", m.mo.zero_across, 100);
		RAW("disk_radius", m.dk.radius, 100);
		RAW("disk_rise", m.dk.rise, 100);
		RAW("edgew_", m.edgew, 1000);
		RAW("period", m.period, 1000);
		RAW("mirror", m.mirror, 1000);
		RAW("mirror_k", m.mirror_k, 1);
		RAW("pfreq", m.pfreq, 10000);
		RAW("grid8", m.grid, 1000);
		RAW("period_x", m.period_x, 1000);
		RAW("period_y", m.period_y, 1000);
		RAW("lift", m.lift, 100);
		RAW("lift_min", m.lift_min, 100);
		RAW("lift_y", m.lift_y, 100);
		RAW("lift_b", m.lift_b, 100);
		RAW("wall_y", m.wall_y, 100);
		if (m.tilted) {
			RAW("tilt_c", m.tilt.black.c, 10);
			RAW("tilt_px", m.tilt.black.px, 10);
			RAW("tilt_py", m.tilt.black.py, 10);
		}
		RAW("lift_focus", m.lift_f, 100);
		RAW("lift_deep", m.lift_d, 100);
		RAW("sigma_y", m.sigma_y, 100);
		RAW("texture", m.tex, 1000);
		RAW("castx", m.castx, 1000);
		RAW("casty", m.casty, 1000);
		RAW("tone_u", m.tone_u, 1000);
		RAW("tone_v", m.tone_v, 1000);
		RAW("tone_spread", m.tone_spread, 1000);
		RAW("gw_x", m.gwx, 1000);
		RAW("gw_y", m.gwy, 1000);
		RAW("br_x", m.brx, 1000);
		RAW("br_y", m.bry, 1000);
		RAW("nw_x", m.nwx, 1000);
		RAW("nw_y", m.nwy, 1000);
		RAW("ge_x", m.gex, 1000);
		RAW("ge_y", m.gey, 1000);
		if (!isnan(m.tonal))
			RAW("tonal", m.tonal, 1000);
		if (m.tv_ok == 0) {       /* each tone's least coloured */
			RAW("t0x", m.tv[0][0], 1000); RAW("t0y", m.tv[0][1], 1000);
			RAW("t1x", m.tv[1][0], 1000); RAW("t1y", m.tv[1][1], 1000);
			RAW("t2x", m.tv[2][0], 1000); RAW("t2y", m.tv[2][1], 1000);
		}

#undef RAW
		at = jv_object_set(at, jv_string("_raw"), r);
	}
	/* ops, in the order the restore engine applies them */
	if (det[T_JPEG])
		ops = jv_array_append(ops, JV_OBJECT(jv_string("op"), jv_string("deblock"),
		    jv_string("strength"), num(sc[T_JPEG], 100),
		    jv_string("quality"), jv_number(m.jq > 0 ? m.jq : clampd(round(100 - 40 * (m.block - 1)), 5, 95))));
	if (det[T_NOISE])
	{
		/* the grain's sigma when grain was found (blotches hide it:
		 * the restorer measures its own then) */
		jv o = JV_OBJECT(jv_string("op"), jv_string("denoise"),
		    jv_string("strength"), num(sc[T_NOISE], 100));
		if (nl >= 0.5)
			o = jv_object_set(o, jv_string("sigma"), num(m.sigma, 10));
		if (c->ch == 3)
			o = jv_object_set(o, jv_string("chroma_sigma"), num(m.csig, 100));
		ops = jv_array_append(ops, o);
	}
	if (det[T_SCRATCH])
		ops = jv_array_append(ops, JV_OBJECT(jv_string("op"), jv_string("descratch"),
		    jv_string("strength"), num(scr_conf, 100)));
	/* levels at full strength once detected: a partial stretch leaves
	 * the black floor lifted, which shows most in dark areas, and the
	 * call on luma puts the mildest fades (lift 40) near the call. A
	 * texture that fills the frame need not have had a black or a white
	 * (clean brick spans 64..206): it is stretched to a narrower range
	 * about mid-grey, the span. */
	if (det[T_FADED] && m.white - m.black >= 16) {  /* nothing to stretch in a flat image */
		jv o = JV_OBJECT(jv_string("op"), jv_string("levels"),
		    jv_string("strength"), num(1, 100),
		    jv_string("black"), num(m.black, 1), jv_string("white"), num(m.white, 1));
		if (tw > 0)
			o = jv_object_set(o, jv_string("span"), num(255 - tw * (255 - FADE_TEX_RANGE), 1));
		ops = jv_array_append(ops, o);
	}
	if (det[T_CAST])
		ops = jv_array_append(ops, JV_OBJECT(jv_string("op"), jv_string("white_balance"),
		    jv_string("strength"), num(sc[T_CAST], 100),
		    jv_string("r"), num(exp(-m.castx), 1000), jv_string("g"), jv_number(1),
		    jv_string("b"), num(exp(-m.casty), 1000),
		    jv_string("keep_tone"), jv_bool(m.toned_sepia || m.toned_mono)));
	/* a blur read through grain (the slope unreadable) gets no deblur:
	 * after the denoise it sharpens what the means leave, and the
	 * curvature that calls it there reads a sharp photo under grain as
	 * blurred as a soft one (bench/quality: deblur after denoise cost
	 * noisy sharp photos 1 to 5 dB and gained blurred old photos 0.1);
	 * a streak the cepstrum is sure of does, grain or not */
	/* A doubtful call (DEBLUR_DOUBT or less) is mended by less than its
	 * score, and by nothing at DEBLUR_NONE: deblurring a photo that is
	 * soft by nature costs it more than a blur left a little soft loses
	 * (on the held-out photos, a soft basketball photo's every copy
	 * gained 0.1 to 5.5 dB; the four blurred pictures called doubtful
	 * lost 0.09 to 0.41) */
	double dbs = sc[T_BLUR] >= DEBLUR_DOUBT ? sc[T_BLUR] :
	    sc[T_BLUR] * fmax(0, (sc[T_BLUR] - DEBLUR_NONE) / (DEBLUR_DOUBT - DEBLUR_NONE));
	if (det[T_BLUR] && !det[T_LOWRES] && !(det[T_NOISE] && m.slope < 0 && !m.motion) &&
	    dbs >= 0.01)
	{
		jv o = JV_OBJECT(jv_string("op"), jv_string("deblur"), jv_string("strength"),
		    num(dbs, 100));
		if (m.motion) {
			o = jv_object_set(o, jv_string("length"), num(m.mo.length, 100));
			o = jv_object_set(o, jv_string("angle"), num(m.mo.angle, 10));
		} else if (m.disk)
			o = jv_object_set(o, jv_string("radius"), num(m.dk.radius, 100));
		else
			o = jv_object_set(o, jv_string("sigma"), num(m.blur_sigma, 100));
		ops = jv_array_append(ops, o);
	}
	if (det[T_LOWRES]) {
		int lng = ow > oh ? ow : oh;
		if (lng < 1000)
			ops = jv_array_append(ops, JV_OBJECT(jv_string("op"), jv_string("upscale"),
			    jv_string("strength"), num(sc[T_LOWRES], 100),
			    jv_string("scale"), jv_number(m.eff < 0.4 && lng < 500 ? 4 : 2)));
		else   /* a gentle sharpening */
			ops = jv_array_append(ops, JV_OBJECT(jv_string("op"), jv_string("deblur"),
			    jv_string("strength"), num(sc[T_LOWRES], 100), jv_string("sigma"),
			    num(fmax(m.blur_sigma, 0.5), 100), jv_string("iterations"),
			    jv_number(DEBLUR_GENTLE)));
	}
	*out = JV_OBJECT(jv_string("degradations"), deg, jv_string("attributes"), at,
	    jv_string("ops"), ops);
	return 0;
}

/* ---- the public entry for decoded images ---- */

int
classify_image(const char *name, const struct img *im, jv *out)
{
	struct cl *c;
	int rc;

	*out = jv_invalid();
	if (im->px == NULL || im->w <= 0 || im->h <= 0 || im->ch < 1 || im->ch > 4) {
		warnx("%s: no pixels to classify", name);
		return EX_SOFTWARE;
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		warn("%s", name);
		return EX_OSERR;
	}
	c->w = im->w;
	c->h = im->h;
	c->ch = im->ch <= 2 ? 1 : 3;
	c->alpha = im->ch == 2 || im->ch == 4;
	c->orientation = 1;             /* im is already oriented */
	c->type = im->type;
	c->nquant = im->nquant;
	memcpy(c->quant, im->quant, sizeof c->quant);
	if ((rc = cl_begin(name, c)) == 0) {
		for (int y = 0; y < c->h; y++)
			if (cl_wants(c, y))
				cl_row(c, y, im->px + (size_t)y * im->w * im->ch, im->ch);
		rc = cl_finish(name, c, out);
	}
	cl_end(c);
	free(c);
	return rc;
}
