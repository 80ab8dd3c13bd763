/* restore_int.h: what the files of the local engine share (restore.c runs
 * plans over strips, restore_ops.c filters one strip, restore_est.c
 * measures whole images). Not for use outside lib/restore*.c.
 * A band is a strip of the image as float planes (0..255 scale) with
 * margin rows above and below its core; a filter must get the core rows
 * right and may spoil the margins. */
#ifndef RS_RESTORE_INT_H
#define RS_RESTORE_INT_H

#include <stdint.h>

#include "img.h"
#include "tilt.h"

struct band {
	int w, h;            /* buffer size: image width × rows held */
	int y0;              /* image row of buffer row 0 */
	int c0, c1;          /* core rows [c0, c1) in buffer rows */
	int img_h;           /* rows of the whole image */
	int nc;              /* colour planes: 1 gray, 3 RGB */
	float *p[3];         /* w*h each */
};

/* Parameters of one operation once resolved (restore.c fills them). */
struct step {
	int op;              /* enum restore_op */
	float strength;      /* 0..1: share of the filter's change kept */
	float sigma;         /* denoise: noise (RGB scale); deblur: blur */
	float nsig[3];       /* denoise: noise per opponent plane */
	float nla, nlb;      /* denoise: noise variance a x + b (0, 0: flat) */
	float csig;          /* denoise: chroma blotches (est_chroma), 0 none */
	int quality;         /* deblock: JPEG quality */
	int grid;            /* deblock: 8x8 grid starts at (0,0) */
	uint16_t q[64];      /* deblock: luma quantisation table */
	uint16_t qc[64];     /* deblock: chroma table from the file, or zeros */
	int csub;            /* deblock: chroma stored at half size (4:2:0);
	                        descratch: at half width or height (4:2:0, 4:2:2) */
	int ftab;            /* deblock: q is the file's own table (1) or measured (2) */
	float black, white, sat, tint[3];    /* levels */
	float span;          /* levels: black..white goes to this range, centred */
	struct tilt tilt;    /* levels: an uneven fade's planes (tilt.h; all 0:
	                        none) */
	float tone[3];       /* levels: each channel over luma (0: 1); its black is
	                        black times it, or with untone it is divided off */
	int untone;          /* levels: divide each channel by its tone first */
	float unblend;       /* levels, white_balance: undo a sepia blend of this
	                        strength first (est_sepia; 0 none) */
	float gain[3];       /* white_balance */
	int keep_tone;       /* white_balance: toned image left alone */
	int iters;           /* deblur: iterations */
	float mlen, mang;    /* deblur: a streak's length (0: none) and angle,
	                        degrees counter-clockwise from x (psf.h) */
	float drad;          /* deblur: a defocus disk's radius (0: none); with
	                        neither, a Gaussian of sigma */
	int scale;           /* upscale: 2 or 4 */
	float thresh;        /* descratch: residual threshold scale */
	struct img *under;   /* descratch: the picture before denoising (or
	                        NULL): each pixel the step changes is written
	                        there too (see restore_run) */
};

/* restore_ops.c: filters on one band; 0 or EX_OSERR (no message). */
int  flt_denoise(const struct step *st, struct band *b);
int  flt_deblock(const struct step *st, struct band *b);
int  flt_descratch(const struct step *st, struct band *b, long *flagged);
int  flt_levels(const struct step *st, struct band *b);
int  flt_white_balance(const struct step *st, struct band *b);
int  flt_deblur(const struct step *st, struct band *b);
/* Upscale band b (w × h) by st->scale into out (planes of w*s × h*s). */
int  flt_upscale(const struct step *st, const struct band *b, float *out[3]);
int  flt_margin(const struct step *st);   /* rows of margin a filter needs */

/* restore_est.c: measurements on a whole image (8-bit, ch 1..4). */
float est_noise(const struct img *im, float nsig[3]);  /* RGB-scale sigma */
float est_blur(const struct img *im);                   /* Gaussian sigma */
/* The blur's kernel if the spectrum is sure of it (psf.h): 1 a streak
 * (its length and angle), 2 a defocus disk (its radius), 0 neither, -1
 * out of memory. */
int   est_psf(const struct img *im, float *len, float *ang, float *rad);
/* Noise level function: variance a x + b of a channel at value x;
 * returns the intensity bins it was fitted on. */
int   est_nlf(const struct img *im, float *a, float *b);
float est_chroma(const struct img *im);  /* Cb/Cr blotch sigma (see there) */
/* from_file: 1 the JPEG's own table, 2 measured on a decoded JPEG's
 * pixels (a PNG made from one), 0 a guess from the 8x8 boundary steps */
int   est_jpeg_quality(const struct img *im, uint16_t q[64], int *from_file);
/* with a measured luma table: the IJG chroma table of the same quality
 * when the chroma fits it, at half size (*csub 1) or full size (0); 1
 * when it does */
int   est_chroma_measured(const struct img *im, int quality, uint16_t qc[64], int *csub);
/* Black and white points, a saturation gain, and the mean tint (per
 * channel, value minus luma) that the gain must not amplify. Not
 * robust: the extremes of the darkest and brightest channels. robust
 * (the image had noise or scratches, now removed): the stretch about
 * mid-grey that the 1 % and 99 % points of the luma allow, at most 2
 * (see fade_stretch). */
void  est_levels(const struct img *im, int robust, float *black, float *white,
          float *sat, float tint[3]);
int   est_black_tilt(const struct img *im, struct tilt *t);   /* tilt.h */
/* A picture's tone: each channel's mean over the luma's (a sepia print:
 * about 1.1, 1, 0.8), within 0.7..1.3. */
void  est_tone(const struct img *im, float tone[3]);
/* Gains that neutralise a cast (luma kept); returns the cast strength
 * (0 none). *toned: 1 sepia-like toning of a monochrome picture. */
float est_white_balance(const struct img *im, float gain[3], int *toned);
/* Sepia toning as a blend toward a tinted monochrome: its strength a
 * (0 none, at most 0.9), such that undoing it keeps the pixels inside
 * lo..hi that were; tone (may be null): what to divide each channel by
 * once undone (1 1 1 but for a print with one tint all over). */
float est_sepia(const struct img *im, float lo, float hi, float tone[3]);
extern const float SEPIA_T[3];     /* the tint, luma 1 */
void  est_quant_table(int quality, uint16_t q[64]);     /* IJG luma table */

#endif
