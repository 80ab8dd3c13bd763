/* img_codec.h: the libjpeg glue and header checks shared by the decoders
 * (lib/img.c, and lib/classify_load.c, which streams bands of a file),
 * so both apply one policy: corrupt or truncated data is fatal, a
 * progressive JPEG may have at most IMG_JPEG_MAX_SCANS scans, and the
 * size limits are checked from the header before pixels are allocated. */
#ifndef RS_IMG_CODEC_H
#define RS_IMG_CODEC_H

#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <jpeglib.h>

#include "img.h"

#define IMG_JPEG_MAX_SCANS 300    /* libjpeg-turbo's own tools suggest 500 */

struct img_jerr {
	struct jpeg_error_mgr pub;
	jmp_buf jb;                   /* errors longjmp here */
	char msg[JMSG_LENGTH_MAX];    /* the reason */
};

/* Point ci at e with rs's policy (before jpeg_create_*). */
void img_jpeg_errors(j_common_ptr ci, struct img_jerr *e);
/* A progress monitor that stops a scan-count bomb (set ci->progress to a
 * jpeg_progress_mgr with this after jpeg_create_decompress). */
void img_jpeg_progress(j_common_ptr ci);
/* EXIF orientation (IFD0 tag 0x0112) of a TIFF block: 1..8, 1 when absent
 * or malformed; with reset, the tag is rewritten to 1. */
int  img_exif_orientation(unsigned char *tiff, size_t n, int reset);
/* width, height against lim, with one message: 0 or EX_DATAERR. */
int  img_check_limits(const char *name, unsigned long long w, unsigned long long h,
         const struct img_limits *lim);

#endif
