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

#endif
