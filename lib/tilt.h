/* tilt.h: an uneven fade's blacks and whites, for rs-classify and
 * rs-restore.
 *
 * A print faded by light from one side, or a fog or leak that grows
 * across it, lifts the blacks (and dims the whites) more toward one side
 * of the frame. The frame is cut into TILT_G x TILT_G cells; the caller
 * counts each cell's darkest channel (the least of R, G, B), and for the
 * whites its brightest, into histograms, and tilt_fit() reads the planes
 * they sit on. */
#ifndef RS_TILT_H
#define RS_TILT_H

#define TILT_G 6

/* A plane over the frame: its level at the centre and its rise across
 * the width (px) and down the height (py), in 8-bit levels. */
struct plane {
	float c, px, py;
};

/* The blacks' plane, and the whites' where has_white; all 0 when none. */
struct tilt {
	struct plane black, white;
	int has_white;
};

/* The cell of pixel x, y of a w x h frame: 0 .. TILT_G^2 - 1. */
int   tilt_cell(int x, int y, int w, int h);
/* 1 and the plane if the cells' blacks sit on one that tilts (see
 * tilt.c), and the whites' if they do too; else 0 and t all 0.
 * lo[cell][level]: pixel counts of the darkest channel, hi of the
 * brightest (or NULL: no whites). A cell of under 16 pixels is left
 * out; the plane needs two rows and two columns of cells, and a third
 * of them. */
int   tilt_fit(const long lo[][256], const long hi[][256], struct tilt *t);
/* The plane's level at pixel x, y of a w x h frame. */
float plane_at(const struct plane *p, int x, int y, int w, int h);

#endif
