/* img.h: image decoding and encoding. JPEG through libjpeg-turbo, PNG
 * through libpng; nothing else is accepted. Every decode checks the
 * header against limits before any pixel memory is allocated, proves the
 * whole file is sound (a truncated or corrupt file is an error, never a
 * half-grey picture), applies the EXIF orientation, and keeps the EXIF
 * and ICC blocks so an output can carry them.
 * Pixels are 8 bits per sample, interleaved, rows without padding; a
 * 16-bit PNG is scaled to 8 bits.
 * Functions return 0 or an EX_* status, having printed one diagnostic
 * that begins with the name they were given. */
#ifndef RS_IMG_H
#define RS_IMG_H

#include <stddef.h>
#include <stdint.h>

enum img_type { IMG_UNKNOWN, IMG_JPEG, IMG_PNG, IMG_GIF, IMG_WEBP, IMG_HEIC,
	IMG_AVIF, IMG_BMP, IMG_TIFF };

struct img_limits {
	unsigned long long max_bytes;  /* file size */
	unsigned long long max_pixels; /* width × height */
	unsigned long long max_side;   /* longest side */
};
#define IMG_MAX_BYTES  (50ULL << 20)   /* defaults, also in etc/rs.conf */
#define IMG_MAX_PIXELS 100000000ULL
#define IMG_MAX_SIDE   30000ULL

struct img {
	int w, h;                 /* after orientation (and DCT scaling) */
	int ch;                   /* 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
	uint8_t *px;              /* w*h*ch bytes; NULL after IMG_VALIDATE */
	enum img_type type;       /* the source format */
	int depth;                /* source bits per sample (1..16) */
	int orientation;          /* EXIF orientation that was applied, 1 = none */
	int src_w, src_h;         /* full size, oriented, before DCT scaling */
	unsigned char *exif;      /* TIFF block (after "Exif\0\0"), orientation reset to 1 */
	size_t exif_len;
	unsigned char *icc;
	size_t icc_len;
	int nquant;               /* JPEG: quantisation tables found (0..4) */
	uint16_t quant[4][64];    /* JPEG: in natural (not zigzag) order */
	int jpeg_comps;           /* JPEG: 1, 3 or 4 (CMYK) components */
	int jpeg_progressive;
	int jpeg_hsamp, jpeg_vsamp; /* JPEG: luma's sampling factors over the chroma's */
};

enum {
	IMG_VALIDATE = 1,         /* decode every row to prove it, keep no pixels */
};

enum img_type img_sniff(const unsigned char *buf, size_t len);
const char   *img_mime(enum img_type t);       /* "image/jpeg" … */
const char   *img_type_name(enum img_type t);  /* "JPEG" … */
void          img_limits_default(struct img_limits *l);
struct conf;
/* The limits from RS_MAX_BYTES, RS_MAX_PIXELS, RS_MAX_SIDE (defaults above);
 * EX_CONFIG with a message when one is malformed. */
int           img_limits_conf(const struct conf *c, struct img_limits *l);
/* Decode buf. scale_denom 1, 2, 4 or 8 decodes a JPEG at that fraction in
 * the DCT domain (PNG ignores it). EX_DATAERR for bad or unsupported
 * data or exceeded limits. */
int  img_decode(const char *name, const unsigned char *buf, size_t len,
         const struct img_limits *lim, int flags, int scale_denom, struct img *im);
/* Read path ("-" = stdin) within the byte limit and decode it. */
int  img_load(const char *path, const struct img_limits *lim, int flags,
         int scale_denom, struct img *im);
/* Encode to PNG (quality ignored) or JPEG (quality 1..100), carrying the
 * EXIF and ICC blocks of im. A PNG is deflated on up to threads cores
 * (0: one per core, at most 8); its bytes do not depend on them. *out is
 * malloc'd. */
int  img_encode(const char *name, const struct img *im, enum img_type type,
         int quality, int threads, unsigned char **out, size_t *outlen);
/* Encode and write path atomically ("-" = stdout). */
int  img_save(const char *path, const struct img *im, enum img_type type, int quality,
         int threads);
int  img_alloc(struct img *im, int w, int h, int ch); /* zeroed pixels, no metadata */
int  img_copy_meta(struct img *dst, const struct img *src); /* EXIF and ICC */
void img_free(struct img *im);                 /* frees members; zeroes im */

#endif
