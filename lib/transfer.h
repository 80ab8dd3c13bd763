/* transfer.h: bring a model's answer back onto the original photo. A
 * generative model answers at about one megapixel with its own framing;
 * rs keeps the original's geometry and fine detail and takes the model's
 * corrections: align the answer to the original, score how much of the
 * photo's content it kept (fidelity), and transfer its correction to
 * full resolution. The method is described at the top of transfer.c and
 * in rs-backends(7).
 * Functions return 0 or an EX_* status, having printed one diagnostic
 * that begins with the name they were given. */
#ifndef RS_TRANSFER_H
#define RS_TRANSFER_H

#include "img.h"

struct transfer_info {
	double fidelity;          /* SSIM of standardised luminance, -1..1 */
	int dx, dy;               /* answer's shift found by alignment, in work pixels */
	int work_w, work_h;       /* the low-resolution grid the correction lives on */
};

/* Fidelity of ans against orig (any sizes): align at a coarse scale and
 * compute the mean SSIM of globally standardised luminance. Borrows both. */
int  transfer_fidelity(const char *name, const struct img *orig,
         const struct img *ans, struct transfer_info *ti);
/* out receives orig's size: the answer's low frequencies plus orig's
 * detail layer scaled by the local gain the answer applied. colour: a
 * grey original may come back in colour (else the output stays grey).
 * orig's alpha, EXIF and ICC are kept. Fills ti (fidelity included). */
int  transfer_apply(const char *name, const struct img *orig, const struct img *ans,
         int colour, struct img *out, struct transfer_info *ti);
/* Resample src to w x h (area average down, bilinear up), same channels. */
int  transfer_resize(const char *name, const struct img *src, int w, int h,
         struct img *dst);

#endif
