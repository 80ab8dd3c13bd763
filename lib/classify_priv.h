/* classify_priv.h: what classify.c (measuring, scoring) and
 * classify_load.c (streaming decode) share; not for programs.
 * A classification is fed the image's rows top to bottom, but only the
 * rows cl_wants() asks for: all rows of a small image, evenly spread
 * bands of a large one. Rows go into whole-image statistics (levels,
 * colour) and into the tiles that local measures work on. */
#ifndef RS_CLASSIFY_PRIV_H
#define RS_CLASSIFY_PRIV_H

#include <stdint.h>
#include <jv.h>

#include "img.h"
#include "tilt.h"

#define CL_FULL_PIXELS (1u << 20)   /* up to this, measure every pixel */
#define CL_BAND_H      64           /* large images: band height, rows */
#define CL_TILE_W      128          /* large images: tile width */
#define CL_MAX_BANDS   12
#define CL_MAX_TILES   8            /* per band */

struct cl_tile {
	int x0, y0, w, h;             /* in the stored (unrotated) image */
	uint8_t *px;                  /* w*h*3 RGB, or w*h gray */
};

struct cl {
	int w, h, ch;                 /* stored size; ch 1 (gray) or 3 */
	int alpha;                    /* the source had an alpha channel */
	int orientation;              /* EXIF orientation (for the size only) */
	enum img_type type;
	int nquant;
	uint16_t quant[4][64];        /* JPEG tables, natural order */
	int nband, band_y[CL_MAX_BANDS];
	int bandh;
	int ntile;
	struct cl_tile tile[CL_MAX_BANDS * CL_MAX_TILES];
	int accstep;                  /* whole-image statistics: every n-th pixel */
	long tilt[TILT_G * TILT_G][256]; /* darkest channel by cell (tilt.h) */
	double hist[4][256];          /* R G B Y */
	double nacc;
	double csum[3];               /* gray world */
	double cm[6];                 /* chroma moments: n, u, v, uu, vv, uv */
	double neutral;               /* pixels with |R-G|,|G-B| <= 3 */
	double bright[256][3];        /* colour sums by luma level */
	/* colour sums and counts by luma level and chroma (CL_NCB bins of
	 * CL_CB), for the least coloured of the bright pixels */
#define CL_NCB 16
#define CL_CB  0.04
	float nbc[256][CL_NCB];
	double nbs[256][CL_NCB][3];
};

/* Plan bands and tiles and allocate them; src fields (w, h, ch, alpha,
 * type, quant) must be set. 0 or EX_OSERR (with a message). */
int  cl_begin(const char *name, struct cl *c);
int  cl_wants(const struct cl *c, int y);      /* 1 if row y is needed */
/* Give row y (needed rows only, top to bottom): ch 1..4 samples/pixel. */
void cl_row(struct cl *c, int y, const uint8_t *row, int ch);
int  cl_finish(const char *name, struct cl *c, jv *out);
void cl_end(struct cl *c);

#endif
