/* profile.h: the profile across a thin line, shared by the restorer's
 * descratch (restore_ops.c) and rs-classify's scratches (classify.c).
 *
 * A scratch lies on the scene: across it, once averaged along a stretch
 * of it, the two sides match and the ground beyond is flat or a plain
 * slope, whatever the texture under it. A thin real feature belongs to
 * a structure of the scene that runs with it: a rim or a highlight
 * along an edge (one side darker all along), a highlight on a cylinder,
 * a mortar joint, a tripod leg (ground that bends on both sides).
 * A profile is PF_L luma samples at -PF_D..PF_D along the line's normal. */
#ifndef RS_PROFILE_H
#define RS_PROFILE_H

#define PF_D 8
#define PF_L (2 * PF_D + 1)
#define PF_ASYM 0.50f            /* asymmetry over contrast: the scene's */
#define PF_ROUGH 0.30f           /* roughness over contrast: the scene's */

/* Bilinear samples of y (w x h) at (cx, cy) + d (nx, ny), d = -PF_D..PF_D,
 * clamped to the picture, into pr[PF_L]. */
void pf_sample(const float *y, int w, int h, int cx, int cy, float nx, float ny, float *pr);

/* The asymmetry and roughness of a mean profile mp with the line's sign
 * taken out (a peak), each over the line's contrast g (centre over the
 * higher of the sides at 2): the mean difference of the sides at 1..3,
 * and the RMS of the ground at 3..PF_D off a least-squares line. */
void pf_measures(const float *mp, float *asym, float *rough);

/* 1 when those measures call the line a feature of the scene. */
int pf_scene(float asym, float rough);

/* The same asymmetry of one pixel's own profile pr (signed: sg 1 for a
 * bright line, -1 for a dark one) over its own contrast. A scratch's
 * two sides match at most of its pixels, wherever it runs; an outline
 * or the rim of a thing borders something different on each side at
 * most of its pixels, though which side is the brighter may change
 * along it, so that its mean profile is even. Over PF_PASYM for the
 * median pixel of a stretch: the scene's. */
#define PF_PASYM 0.90f
float pf_pixel_asym(const float *pr, float sg);

/* The long profile: PF_LL samples at -PF_LD..PF_LD along the normal,
 * far enough to see the line's neighbours. A mortar joint, a slat, a
 * tile's edge or a stripe of a fabric is one of a series of like lines
 * at a regular spacing, part of the scene; a scratch seldom has one like
 * it on each side at the same distance. */
#define PF_LD 80
#define PF_LL (2 * PF_LD + 1)
#define PF_REP 0.5f              /* a neighbour's height over the line's, 1/2..2 */
#define PF_WIDTH 0.5f            /* its width off the line's: at most this share */
#define PF_GAP 8                 /* least spacing of a series, pixels */
#define PF_REG 1.3f              /* spacings alike: at most this ratio */
#define PF_ALONG 12              /* pixels of a line enough for its mean long profile */

/* pf_sample with the long reach, into pr[PF_LL]. */
void pf_sample_long(const float *y, int w, int h, int cx, int cy, float nx, float ny,
    float *pr);

/* 1 when the mean long profile lp (sign taken out: the line a ridge at
 * PF_LD) shows the line as one of a regular series: the line and two
 * neighbouring ridges like it (heights within a factor 1/PF_REP, widths
 * at half height within PF_WIDTH of the line's), consecutive
 * along the normal, with spacings of PF_GAP or more that differ by at
 * most a ratio of PF_REG. */
int pf_repeats(const float *lp);

#endif
