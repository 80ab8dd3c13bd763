/* tilt.h: an uneven fade's blacks, for rs-classify and rs-restore.
 *
 * A print faded by light from one side, or a fog or leak that grows
 * across it, lifts the blacks more toward one side of the frame. The
 * frame is cut into TILT_G x TILT_G cells; the caller counts each
 * cell's darkest channel (the least of R, G, B) into a histogram and
 * tilt_fit() reads the plane the blacks sit on. */
#ifndef RS_TILT_H
#define RS_TILT_H

#define TILT_G 6

/* The black at the frame's centre and its rise across the width (px)
 * and down the height (py), in 8-bit levels; all 0 when none. With
 * white, the whites' plane too (wc, wpx, wpy). */
struct tilt {
	float c, px, py;
	int white;
	float wc, wpx, wpy;
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
/* The planes' black and white at pixel x, y of a w x h frame. */
float tilt_at(const struct tilt *t, int x, int y, int w, int h);
float tilt_white_at(const struct tilt *t, int x, int y, int w, int h);

#endif
