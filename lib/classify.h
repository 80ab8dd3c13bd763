/* classify.h: degradation classification. Measures a photo (noise,
 * sharpness, JPEG quality and blockiness, levels, colour cast and tone,
 * scratches and dust, effective resolution), scores the seven degradation
 * types in [0,1], and recommends an ordered list of restoration
 * operations. The object it builds is documented in rs-classify(1):
 *   { "degradations": [ {"type","score","detected"} x 7 ],
 *     "attributes": { ... }, "ops": [ {"op","strength",...} ] }
 * Large images are measured on evenly spread full-resolution bands, so the
 * cost is bounded whatever the size; the result is deterministic.
 * Functions return 0 or an EX_* status, having printed one diagnostic
 * that begins with the name they were given. */
#ifndef RS_CLASSIFY_H
#define RS_CLASSIFY_H

#include <jv.h>

#include "img.h"

/* The deblur steps of a gentle sharpening (an enlargement's), which
 * rs-classify's plans and rs-restore's stand-in for upscale both ask for
 * (rs-restore(1), deblur). */
#define DEBLUR_GENTLE 5
/* A blur call this sure or less is doubtful: a soft photo, or motion and
 * bokeh that may be meant (rs-restore(1), deblur). */
#define DEBLUR_DOUBT 0.90

/* The seven type names, in output order. */
extern const char *const classify_types[7];

/* Classify a decoded image (any size, 1..4 channels); *out receives the
 * classify object. Borrows im. */
int classify_image(const char *name, const struct img *im, jv *out);
/* Read path ("-" = stdin) within lim, decode only the rows it needs
 * (JPEG: skipping the rest; PNG: streamed), prove the whole file sound,
 * and classify it. Peak memory stays small whatever the image size.
 * *out receives the classify object; info (may be NULL) receives the
 * source type, and the oriented width and height. */
int classify_file(const char *path, const struct img_limits *lim, jv *out,
        struct img *info);
/* Same, for bytes already in memory (name is for messages). */
int classify_buf(const char *name, const unsigned char *buf, size_t len,
        const struct img_limits *lim, jv *out, struct img *info);

#endif
