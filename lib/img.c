/* img.c: JPEG and PNG in and out.
 *
 * Both decoders work from a memory buffer the caller has already bounded
 * by the byte limit, and check width, height and their product against
 * the pixel limits right after the header, before libjpeg or libpng are
 * asked to allocate anything image-sized. Corruption is never papered
 * over: libjpeg's "premature end" and "corrupt data" warnings and
 * libpng's CRC mismatches (critical and ancillary chunks alike) are fatal,
 * and the PNG is read through IEND. A progressive JPEG's scan count is
 * bounded, which stops the known CPU bomb of thousands of tiny scans.
 *
 * The EXIF orientation is applied to the pixels and then reset to 1 in
 * the EXIF block we keep, so a viewer that honours it does not rotate
 * twice. A 16-bit PNG is scaled (rounded) to 8 bits; palette and
 * low-bit-depth images are expanded, tRNS becomes an alpha channel.
 * A PNG is written with its rows deflated in strips on several cores, as
 * one zlib stream (zdeflate). */
#include <err.h>
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <pthread.h>
#include <sys/mman.h>
#include <zlib.h>

#include "conf.h"
#include "img.h"
#include "img_codec.h"
#include "util.h"

#define PNG_CHUNK_MAX (8u << 20)   /* decompressed ancillary chunk (iCCP, zTXt) */

enum img_type
img_sniff(const unsigned char *b, size_t n)
{
	if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
		return IMG_JPEG;
	if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
		return IMG_PNG;
	if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
		return IMG_GIF;
	if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
		return IMG_WEBP;
	if (n >= 12 && memcmp(b + 4, "ftyp", 4) == 0) {
		if (memcmp(b + 8, "avif", 4) == 0 || memcmp(b + 8, "avis", 4) == 0)
			return IMG_AVIF;
		if (memcmp(b + 8, "hei", 3) == 0 || memcmp(b + 8, "hev", 3) == 0 ||
		    memcmp(b + 8, "mif1", 4) == 0 || memcmp(b + 8, "msf1", 4) == 0)
			return IMG_HEIC;
	}
	if (n >= 2 && b[0] == 'B' && b[1] == 'M')
		return IMG_BMP;
	if (n >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0))
		return IMG_TIFF;
	return IMG_UNKNOWN;
}

const char *
img_mime(enum img_type t)
{
	switch (t) {
	case IMG_JPEG: return "image/jpeg";
	case IMG_PNG: return "image/png";
	case IMG_GIF: return "image/gif";
	case IMG_WEBP: return "image/webp";
	case IMG_HEIC: return "image/heic";
	case IMG_AVIF: return "image/avif";
	case IMG_BMP: return "image/bmp";
	case IMG_TIFF: return "image/tiff";
	default: return "application/octet-stream";
	}
}

const char *
img_type_name(enum img_type t)
{
	static const char *n[] = { "unknown", "JPEG", "PNG", "GIF", "WebP", "HEIC",
		"AVIF", "BMP", "TIFF" };
	return (unsigned)t < sizeof n / sizeof n[0] ? n[t] : "unknown";
}

void
img_limits_default(struct img_limits *l)
{
	l->max_bytes = IMG_MAX_BYTES;
	l->max_pixels = IMG_MAX_PIXELS;
	l->max_side = IMG_MAX_SIDE;
}

int
img_limits_conf(const struct conf *c, struct img_limits *l)
{
	int rc;

	if ((rc = conf_size(c, "RS_MAX_BYTES", IMG_MAX_BYTES, &l->max_bytes)) != 0 ||
	    (rc = conf_size(c, "RS_MAX_PIXELS", IMG_MAX_PIXELS, &l->max_pixels)) != 0 ||
	    (rc = conf_size(c, "RS_MAX_SIDE", IMG_MAX_SIDE, &l->max_side)) != 0)
		return rc;
	return 0;
}

void
img_free(struct img *im)
{
	free(im->px);
	free(im->exif);
	free(im->icc);
	memset(im, 0, sizeof *im);
}

int
img_alloc(struct img *im, int w, int h, int ch)
{
	memset(im, 0, sizeof *im);
	if (w <= 0 || h <= 0 || ch < 1 || ch > 4 ||
	    (unsigned long long)w * (unsigned long long)h > (1ULL << 34) / (unsigned)ch) {
		warnx("image: bad size %dx%dx%d", w, h, ch);
		return EX_SOFTWARE;
	}
	if ((im->px = calloc((size_t)w * (size_t)h, (size_t)ch)) == NULL) {
		warn("image: %dx%d", w, h);
		return EX_OSERR;
	}
	im->w = im->src_w = w;
	im->h = im->src_h = h;
	im->ch = ch;
	im->depth = 8;
	im->orientation = 1;
	return 0;
}

static int
dup_block(unsigned char **dst, size_t *dlen, const unsigned char *src, size_t len)
{
	*dst = NULL;
	*dlen = 0;
	if (src == NULL || len == 0)
		return 0;
	if ((*dst = malloc(len)) == NULL)
		return -1;
	memcpy(*dst, src, len);
	*dlen = len;
	return 0;
}

int
img_copy_meta(struct img *dst, const struct img *src)
{
	free(dst->exif);
	free(dst->icc);
	if (dup_block(&dst->exif, &dst->exif_len, src->exif, src->exif_len) < 0 ||
	    dup_block(&dst->icc, &dst->icc_len, src->icc, src->icc_len) < 0) {
		warn("image metadata");
		return EX_OSERR;
	}
	return 0;
}

int
img_check_limits(const char *name, unsigned long long w, unsigned long long h,
    const struct img_limits *lim)
{
	if (w == 0 || h == 0) {
		warnx("%s: empty image (%llux%llu)", name, w, h);
		return EX_DATAERR;
	}
	if (w > lim->max_side || h > lim->max_side) {
		warnx("%s: %llux%llu pixels: side exceeds limit %llu", name, w, h,
		    lim->max_side);
		return EX_DATAERR;
	}
	if (w * h > lim->max_pixels) {
		warnx("%s: %llux%llu pixels exceeds limit %llu", name, w, h,
		    lim->max_pixels);
		return EX_DATAERR;
	}
	return 0;
}

int
img_exif_orientation(unsigned char *t, size_t n, int reset)
{
	int le;
	size_t ifd, cnt;

	if (n < 8)
		return 1;
	if (memcmp(t, "II*\0", 4) == 0)
		le = 1;
	else if (memcmp(t, "MM\0*", 4) == 0)
		le = 0;
	else
		return 1;
#define U16(p) (le ? (unsigned)(p)[0] | (unsigned)(p)[1] << 8 : (unsigned)(p)[0] << 8 | (unsigned)(p)[1])
#define U32(p) (le ? (size_t)(p)[0] | (size_t)(p)[1] << 8 | (size_t)(p)[2] << 16 | (size_t)(p)[3] << 24 \
                   : (size_t)(p)[0] << 24 | (size_t)(p)[1] << 16 | (size_t)(p)[2] << 8 | (size_t)(p)[3])
	ifd = U32(t + 4);
	if (ifd > n - 2)
		return 1;
	cnt = U16(t + ifd);
	for (size_t i = 0; i < cnt; i++) {
		size_t e = ifd + 2 + 12 * i;
		if (e > n - 12)
			return 1;
		if (U16(t + e) == 0x0112 && U16(t + e + 2) == 3) {
			unsigned v = U16(t + e + 8);
			if (v < 1 || v > 8)
				return 1;
			if (reset) {
				t[e + 8] = le ? 1 : 0;
				t[e + 9] = le ? 0 : 1;
			}
			return (int)v;
		}
	}
	return 1;
#undef U16
#undef U32
}

/* Apply an EXIF orientation (2..8) to im's pixels. */
static int
orient(const char *name, struct img *im, int o)
{
	int w = im->w, h = im->h, ch = im->ch, dw, dh;
	uint8_t *d;

	if (o < 2 || o > 8)
		return 0;
	dw = o >= 5 ? h : w;
	dh = o >= 5 ? w : h;
	if (im->px != NULL) {
		if ((d = malloc((size_t)w * (size_t)h * (size_t)ch)) == NULL) {
			warn("%s", name);
			return EX_OSERR;
		}
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++) {
				int dx, dy;
				switch (o) {
				case 2: dx = w - 1 - x; dy = y; break;
				case 3: dx = w - 1 - x; dy = h - 1 - y; break;
				case 4: dx = x; dy = h - 1 - y; break;
				case 5: dx = y; dy = x; break;
				case 6: dx = h - 1 - y; dy = x; break;
				case 7: dx = h - 1 - y; dy = w - 1 - x; break;
				default: dx = y; dy = w - 1 - x; break;
				}
				memcpy(d + ((size_t)dy * (size_t)dw + (size_t)dx) * (size_t)ch,
				    im->px + ((size_t)y * (size_t)w + (size_t)x) * (size_t)ch, (size_t)ch);
			}
		free(im->px);
		im->px = d;
	}
	im->w = dw;
	im->h = dh;
	if (o >= 5) {
		int t = im->src_w;
		im->src_w = im->src_h;
		im->src_h = t;
	}
	return 0;
}

/* ---- JPEG ---- */

static void
jerr_exit(j_common_ptr c)
{
	struct img_jerr *e = (struct img_jerr *)c->err;

	(*c->err->format_message)(c, e->msg);
	longjmp(e->jb, 1);
}

static void
jerr_emit(j_common_ptr c, int level)
{
	/* Warnings (level -1) mean corrupt or truncated data, except these. */
	if (level < 0 && c->err->msg_code != JWRN_JFIF_MAJOR &&
	    c->err->msg_code != JWRN_ADOBE_XFORM && c->err->msg_code != JWRN_BOGUS_ICC)
		jerr_exit(c);
}

void
img_jpeg_errors(j_common_ptr ci, struct img_jerr *e)
{
	ci->err = jpeg_std_error(&e->pub);
	e->pub.error_exit = jerr_exit;
	e->pub.emit_message = jerr_emit;
	e->msg[0] = '\0';
}

void
img_jpeg_progress(j_common_ptr c)
{
	j_decompress_ptr d = (j_decompress_ptr)c;

	if (c->is_decompressor && d->input_scan_number > IMG_JPEG_MAX_SCANS) {
		struct img_jerr *e = (struct img_jerr *)c->err;
		snprintf(e->msg, sizeof e->msg, "more than %d progressive scans", IMG_JPEG_MAX_SCANS);
		longjmp(e->jb, 1);
	}
}

static int
decode_jpeg(const char *name, const unsigned char *buf, size_t len,
    const struct img_limits *lim, int flags, int scale, struct img *im)
{
	struct jpeg_decompress_struct ci;
	struct jpeg_progress_mgr prog = { .progress_monitor = img_jpeg_progress };
	struct img_jerr je;
	uint8_t *volatile row = NULL;
	volatile int rc = EX_DATAERR;
	int ch, comps;

	memset(&ci, 0, sizeof ci);
	img_jpeg_errors((j_common_ptr)&ci, &je);
	if (setjmp(je.jb)) {
		if (rc == EX_DATAERR)
			warnx("%s: JPEG: %s", name, je.msg);
		goto out;
	}
	jpeg_create_decompress(&ci);
	ci.progress = &prog;
	jpeg_mem_src(&ci, buf, (unsigned long)len);
	jpeg_save_markers(&ci, JPEG_APP0 + 1, 0xFFFF);
	jpeg_save_markers(&ci, JPEG_APP0 + 2, 0xFFFF);
	jpeg_read_header(&ci, TRUE);
	if ((rc = img_check_limits(name, ci.image_width, ci.image_height, lim)) != 0)
		goto out;
	rc = EX_DATAERR;
	comps = ci.num_components;
	im->type = IMG_JPEG;
	im->depth = 8;
	im->jpeg_comps = comps;
	im->jpeg_progressive = ci.progressive_mode;
	/* luma's sampling over the first chroma's: 2 and 2 for 4:2:0, 1
	 * and 1 for 4:4:4 whatever factors the file writes */
	im->jpeg_hsamp = ci.comp_info[0].h_samp_factor;
	im->jpeg_vsamp = ci.comp_info[0].v_samp_factor;
	if (comps >= 3 && ci.comp_info[1].h_samp_factor > 0 && ci.comp_info[1].v_samp_factor > 0) {
		im->jpeg_hsamp /= ci.comp_info[1].h_samp_factor;
		im->jpeg_vsamp /= ci.comp_info[1].v_samp_factor;
	}
	for (int i = 0; i < NUM_QUANT_TBLS && i < 4; i++)
		if (ci.quant_tbl_ptrs[i] != NULL) {
			for (int k = 0; k < 64; k++)
				im->quant[im->nquant][k] = ci.quant_tbl_ptrs[i]->quantval[k];
			im->nquant++;
		}
	for (jpeg_saved_marker_ptr m = ci.marker_list; m != NULL; m = m->next)
		if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 &&
		    memcmp(m->data, "Exif\0\0", 6) == 0 && im->exif == NULL) {
			if (dup_block(&im->exif, &im->exif_len, m->data + 6, m->data_length - 6) < 0) {
				warn("%s", name);
				rc = EX_OSERR;
				goto out;
			}
		}
	{
		JOCTET *icc = NULL;
		unsigned int icclen = 0;
		if (jpeg_read_icc_profile(&ci, &icc, &icclen)) {
			im->icc = icc;
			im->icc_len = icclen;
		}
	}
	if (ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK) {
		ci.out_color_space = JCS_CMYK;
		ch = 3;
	} else if (comps == 1) {
		ci.out_color_space = JCS_GRAYSCALE;
		ch = 1;
	} else {
		ci.out_color_space = JCS_RGB;
		ch = 3;
	}
	ci.scale_num = 1;
	ci.scale_denom = scale == 2 || scale == 4 || scale == 8 ? (unsigned)scale : 1;
	jpeg_start_decompress(&ci);
	im->w = im->src_w = (int)ci.output_width;
	im->h = im->src_h = (int)ci.output_height;
	if (ci.scale_denom > 1) {
		im->src_w = (int)ci.image_width;
		im->src_h = (int)ci.image_height;
	}
	im->ch = ch;
	if (!(flags & IMG_VALIDATE) &&
	    (im->px = malloc((size_t)im->w * (size_t)im->h * (size_t)ch)) == NULL) {
		warn("%s", name);
		rc = EX_OSERR;
		goto out;
	}
	if ((row = malloc((size_t)im->w * (size_t)ci.output_components)) == NULL) {
		warn("%s", name);
		rc = EX_OSERR;
		goto out;
	}
	while (ci.output_scanline < ci.output_height) {
		JSAMPROW r = row;
		size_t y = ci.output_scanline;
		jpeg_read_scanlines(&ci, &r, 1);
		if (im->px == NULL)
			continue;
		uint8_t *d = im->px + y * (size_t)im->w * (size_t)ch;
		if (ci.out_color_space == JCS_CMYK) {
			/* Adobe writes CMYK inverted; plain CMYK is not */
			int inv = ci.saw_Adobe_marker;
			for (int x = 0; x < im->w; x++) {
				unsigned c = row[4 * x], m = row[4 * x + 1], yy = row[4 * x + 2],
				    k = row[4 * x + 3];
				if (!inv) {
					c = 255 - c; m = 255 - m; yy = 255 - yy; k = 255 - k;
				}
				d[3 * x] = (uint8_t)((c * k + 127) / 255);
				d[3 * x + 1] = (uint8_t)((m * k + 127) / 255);
				d[3 * x + 2] = (uint8_t)((yy * k + 127) / 255);
			}
		} else
			memcpy(d, row, (size_t)im->w * (size_t)ch);
	}
	jpeg_finish_decompress(&ci);
	rc = 0;
out:
	jpeg_destroy_decompress(&ci);
	free(row);
	return rc;
}

/* ---- PNG ---- */

struct pngsrc {
	const unsigned char *buf;
	size_t len, off;
	const char *name;
	char msg[256];
	int cmyk;
};

static void
png_err(png_structp p, png_const_charp m)
{
	struct pngsrc *s = png_get_error_ptr(p);

	snprintf(s->msg, sizeof s->msg, "%s", m);
	png_longjmp(p, 1);
}

static void
png_warn(png_structp p, png_const_charp m)
{
	(void)p;
	(void)m;       /* benign: unknown chunks, odd gamma, sRGB profile notes */
}

static void
png_readmem(png_structp p, png_bytep out, size_t n)
{
	struct pngsrc *s = png_get_io_ptr(p);

	if (n > s->len - s->off)
		png_error(p, "unexpected end of file (truncated)");
	memcpy(out, s->buf + s->off, n);
	s->off += n;
}

static int
decode_png(const char *name, const unsigned char *buf, size_t len,
    const struct img_limits *lim, int flags, struct img *im)
{
	struct pngsrc src = { .buf = buf, .len = len, .name = name };
	png_structp p;
	png_infop info = NULL;
	png_bytep *volatile rows = NULL;
	uint8_t *volatile one = NULL;
	volatile int rc = EX_DATAERR;
	png_uint_32 w, h;
	int depth, ctype, interlace, ch, passes;

	if ((p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_err, png_warn)) == NULL ||
	    (info = png_create_info_struct(p)) == NULL) {
		warnx("%s: PNG: out of memory", name);
		png_destroy_read_struct(&p, NULL, NULL);
		return EX_OSERR;
	}
	if (setjmp(png_jmpbuf(p))) {
		if (rc == EX_DATAERR)
			warnx("%s: PNG: %s", name, src.msg);
		goto out;
	}
	png_set_read_fn(p, &src, png_readmem);
	png_set_crc_action(p, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
	png_set_user_limits(p, 0x7fffffff, 0x7fffffff); /* ours are checked below */
	png_set_chunk_cache_max(p, 1000);
	png_set_chunk_malloc_max(p, PNG_CHUNK_MAX);
	png_read_info(p, info);
	png_get_IHDR(p, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
	if ((rc = img_check_limits(name, w, h, lim)) != 0)
		goto out;
	rc = EX_DATAERR;
	im->type = IMG_PNG;
	im->depth = depth;
	png_set_expand(p);                 /* palette, gray < 8 bits, tRNS */
	png_set_scale_16(p);
	passes = png_set_interlace_handling(p);
	png_read_update_info(p, info);
	ch = png_get_channels(p, info);
	if (ch < 1 || ch > 4 || png_get_bit_depth(p, info) != 8) {
		snprintf(src.msg, sizeof src.msg, "unexpected layout after expansion");
		png_longjmp(p, 1);
	}
	im->w = im->src_w = (int)w;
	im->h = im->src_h = (int)h;
	im->ch = ch;
	if (!(flags & IMG_VALIDATE) || passes > 1) {
		if ((im->px = malloc((size_t)w * h * (size_t)ch)) == NULL ||
		    (rows = malloc(h * sizeof *rows)) == NULL) {
			warn("%s", name);
			rc = EX_OSERR;
			goto out;
		}
		for (png_uint_32 y = 0; y < h; y++)
			rows[y] = im->px + (size_t)y * w * (size_t)ch;
		png_read_image(p, rows);
	} else {
		if ((one = malloc((size_t)w * (size_t)ch)) == NULL) {
			warn("%s", name);
			rc = EX_OSERR;
			goto out;
		}
		for (png_uint_32 y = 0; y < h; y++)
			png_read_row(p, one, NULL);
	}
	png_read_end(p, info);               /* through IEND: every CRC checked */
	if (flags & IMG_VALIDATE) {
		free(im->px);
		im->px = NULL;
	}
	{
		png_charp iname;
		png_bytep prof;
		png_uint_32 plen;
		int comp;
		png_uint_32 elen;
		png_bytep ex;
		if (png_get_iCCP(p, info, &iname, &comp, &prof, &plen) && plen > 0 &&
		    dup_block(&im->icc, &im->icc_len, prof, plen) < 0) {
			warn("%s", name);
			rc = EX_OSERR;
			goto out;
		}
		if (png_get_eXIf_1(p, info, &elen, &ex) && elen > 0 &&
		    dup_block(&im->exif, &im->exif_len, ex, elen) < 0) {
			warn("%s", name);
			rc = EX_OSERR;
			goto out;
		}
	}
	rc = 0;
out:
	png_destroy_read_struct(&p, &info, NULL);
	free(rows);
	free(one);
	return rc;
}

int
img_decode(const char *name, const unsigned char *buf, size_t len,
    const struct img_limits *lim, int flags, int scale, struct img *im)
{
	enum img_type t = img_sniff(buf, len);
	int rc, o;

	memset(im, 0, sizeof *im);
	im->orientation = 1;
	if (len == 0) {
		warnx("%s: empty file", name);
		return EX_DATAERR;
	}
	if (len > lim->max_bytes) {
		warnx("%s: %zu bytes exceeds limit %llu", name, len, lim->max_bytes);
		return EX_DATAERR;
	}
	switch (t) {
	case IMG_JPEG:
		rc = decode_jpeg(name, buf, len, lim, flags, scale, im);
		break;
	case IMG_PNG:
		rc = decode_png(name, buf, len, lim, flags, im);
		break;
	case IMG_UNKNOWN:
		warnx("%s: not an image (JPEG or PNG expected)", name);
		return EX_DATAERR;
	default:
		warnx("%s: unsupported format %s (JPEG or PNG expected)", name,
		    img_type_name(t));
		return EX_DATAERR;
	}
	if (rc == 0 && im->exif != NULL &&
	    (o = img_exif_orientation(im->exif, im->exif_len, 1)) > 1) {
		rc = orient(name, im, o);
		im->orientation = o;
	}
	if (rc != 0)
		img_free(im);
	return rc;
}

int
img_load(const char *path, const struct img_limits *lim, int flags, int scale,
    struct img *im)
{
	unsigned char *buf;
	size_t len;
	int rc;

	memset(im, 0, sizeof *im);
	if ((rc = util_slurp(path, lim->max_bytes, &buf, &len)) != 0)
		return rc;
	rc = img_decode(strcmp(path, "-") == 0 ? "stdin" : path, buf, len, lim,
	    flags, scale, im);
	free(buf);
	return rc;
}

/* ---- encoding ---- */

/* The buffer starts at first bytes (encode_png: the deflated strips and
 * the chunks about them): one block, where a buffer doubling from 64 KiB
 * left its last copy in the heap beside it. */
struct memdst {
	unsigned char *buf;
	size_t len, cap, first;
	int oom;
};

static void
png_writemem(png_structp p, png_bytep data, size_t n)
{
	struct memdst *d = png_get_io_ptr(p);

	if (d->len + n > d->cap) {
		size_t nc = d->cap ? d->cap : d->first > 65536 ? d->first : 65536;
		while (nc < d->len + n)
			nc *= 2;
		unsigned char *nb = realloc(d->buf, nc);
		if (nb == NULL) {
			d->oom = 1;
			png_error(p, "out of memory");
		}
		d->buf = nb;
		d->cap = nc;
	}
	memcpy(d->buf + d->len, data, n);
	d->len += n;
}

static void
png_flushmem(png_structp p)
{
	(void)p;
}

/* PNG's image data is deflated in strips, on up to threads cores (0: one
 * per core, at most 8; rs-batch's workers take one each). Each row
 * carries the Up filter. The rows are cut in strips of about ZSTRIP
 * bytes; each strip is a raw deflate stream primed with the 32 KiB of
 * filtered rows before it and ended on a byte boundary (a sync flush,
 * as pigz does), so the strips laid end to end are one stream, and
 * their Adler-32s combine into the zlib trailer. Where the strips are
 * cut depends on the image alone: the bytes are the same whatever the
 * number of threads. Level 2 (Z_FILTERED, libpng's strategy for filtered
 * rows, which zlib's fast levels ignore): 12 MP in 0.5 to 0.8 s of CPU,
 * 14% larger than libpng's level 4 with adaptive filters (2.3 s).
 * zstrip and zdeflate return 0, EX_OSERR (out of memory) or EX_SOFTWARE
 * (zlib refused). */
#define ZSTRIP (4u << 20)

struct zstrip {
	int y0, y1;
	unsigned char *out;       /* mapped: unmapped once written, so the */
	size_t len, cap;          /* output is never held twice */
	uLong adler;
	int rc;
};

struct zjob {
	const struct img *im;
	struct zstrip *s;
	int n, next;
	pthread_mutex_t mu;
};

/* Row y of im with the Up filter, its filter byte first, into dst. */
static void
up_row(const struct img *im, int y, unsigned char *dst)
{
	size_t n = (size_t)im->w * (size_t)im->ch;
	const unsigned char *r = im->px + (size_t)y * n;

	dst[0] = PNG_FILTER_VALUE_UP;
	if (y == 0)
		memcpy(dst + 1, r, n);
	else
		for (size_t i = 0; i < n; i++)
			dst[1 + i] = (unsigned char)(r[i] - r[i - n]);
}

static int
zstrip(const struct img *im, struct zstrip *s, int last)
{
	size_t rowlen = 1 + (size_t)im->w * (size_t)im->ch;
	unsigned char *row = malloc(rowlen), *dict = NULL;
	z_stream z = { 0 };
	int rc = EX_OSERR, e = Z_OK;

	s->adler = adler32(0, NULL, 0);
	if (row == NULL || (e = deflateInit2(&z, 2, Z_DEFLATED, -15, 8, Z_FILTERED)) != Z_OK) {
		free(row);
		return row == NULL || e == Z_MEM_ERROR ? EX_OSERR : EX_SOFTWARE;
	}
	if (s->y0 > 0) {                   /* the window: the rows before */
		int k = (int)((32768 + rowlen - 1) / rowlen);
		int ya = s->y0 - k > 0 ? s->y0 - k : 0;
		size_t dn = (size_t)(s->y0 - ya) * rowlen;
		if ((dict = malloc(dn)) == NULL)
			goto out;
		for (int y = ya; y < s->y0; y++)
			up_row(im, y, dict + (size_t)(y - ya) * rowlen);
		size_t keep = dn < 32768 ? dn : 32768;
		rc = EX_SOFTWARE;
		if (deflateSetDictionary(&z, dict + dn - keep, (uInt)keep) != Z_OK)
			goto out;
		rc = EX_OSERR;
	}
	uLong bound = deflateBound(&z, (uLong)(s->y1 - s->y0) * rowlen) + 64;
	if ((s->out = mmap(NULL, bound, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0)) == MAP_FAILED) {
		s->out = NULL;
		goto out;
	}
	s->cap = bound;
	z.next_out = s->out;
	z.avail_out = (uInt)bound;
	rc = EX_SOFTWARE;
	for (int y = s->y0; y < s->y1; y++) {
		int flush = y + 1 < s->y1 ? Z_NO_FLUSH : last ? Z_FINISH : Z_SYNC_FLUSH;
		up_row(im, y, row);
		s->adler = adler32(s->adler, row, (uInt)rowlen);
		z.next_in = row;
		z.avail_in = (uInt)rowlen;
		e = deflate(&z, flush);
		if (z.avail_in != 0 || z.avail_out == 0 ||
		    (flush == Z_FINISH ? e != Z_STREAM_END : e != Z_OK))
			goto out;
	}
	s->len = bound - z.avail_out;
	rc = 0;
out:
	deflateEnd(&z);
	free(dict);
	free(row);
	return rc;
}

static void *
zworker(void *arg)
{
	struct zjob *j = arg;

	for (;;) {
		pthread_mutex_lock(&j->mu);
		int i = j->next++;
		pthread_mutex_unlock(&j->mu);
		if (i >= j->n)
			return NULL;
		j->s[i].rc = zstrip(j->im, &j->s[i], i == j->n - 1);
	}
}

static void
zfree(struct zstrip *s, int n)
{
	for (int i = 0; s != NULL && i < n; i++)
		if (s[i].out != NULL)
			munmap(s[i].out, s[i].cap);
	free(s);
}

/* Deflate im's rows into *strips (*n of them) and the stream's Adler-32,
 * on up to threads cores (0: one per core). */
static int
zdeflate(const struct img *im, int threads, struct zstrip **strips, int *n, uLong *adler)
{
	size_t rowlen = 1 + (size_t)im->w * (size_t)im->ch;
	int per = rowlen >= ZSTRIP ? 1 : (int)(ZSTRIP / rowlen);
	struct zjob j = { .im = im, .n = (im->h + per - 1) / per };
	pthread_t tid[7];
	int nt = util_threads(threads), started = 0, rc = 0;

	*strips = NULL;
	*n = 0;
	if ((j.s = calloc((size_t)j.n, sizeof *j.s)) == NULL)
		return EX_OSERR;
	for (int i = 0; i < j.n; i++) {
		j.s[i].y0 = i * per;
		j.s[i].y1 = i + 1 < j.n ? (i + 1) * per : im->h;
	}
	pthread_mutex_init(&j.mu, NULL);
	nt = nt > j.n ? j.n : nt;
	for (int t = 1; t < nt; t++)
		if (pthread_create(&tid[t - 1], NULL, zworker, &j) == 0)
			started = t;
		else
			break;
	zworker(&j);
	for (int t = 1; t <= started; t++)
		pthread_join(tid[t - 1], NULL);
	pthread_mutex_destroy(&j.mu);

	*adler = adler32(0, NULL, 0);
	for (int i = 0; i < j.n && rc == 0; i++) {
		rc = j.s[i].rc;
		*adler = adler32_combine(*adler, j.s[i].adler,
		    (z_off_t)((size_t)(j.s[i].y1 - j.s[i].y0) * rowlen));
	}
	if (rc != 0) {
		zfree(j.s, j.n);
		return rc;
	}
	*strips = j.s;
	*n = j.n;
	return 0;
}

/* The strips as IDAT chunks, one each, the zlib header before the
 * first and the Adler-32 after the last. */
static void
write_idat(png_structp p, struct zstrip *s, int n, uLong adler)
{
	static const unsigned char head[2] = { 0x78, 0x5e };  /* 32 KiB window, level 2 */
	unsigned char tail[4] = { adler >> 24 & 255, adler >> 16 & 255, adler >> 8 & 255,
		adler & 255 };

	for (int i = 0; i < n; i++) {
		size_t len = s[i].len + (i == 0 ? 2 : 0) + (i == n - 1 ? 4 : 0);
		png_write_chunk_start(p, (png_const_bytep)"IDAT", (png_uint_32)len);
		if (i == 0)
			png_write_chunk_data(p, head, 2);
		png_write_chunk_data(p, s[i].out, s[i].len);
		if (i == n - 1)
			png_write_chunk_data(p, tail, 4);
		png_write_chunk_end(p);
		munmap(s[i].out, s[i].cap);
		s[i].out = NULL;
	}
}

static int
encode_png(const char *name, const struct img *im, int threads, unsigned char **out,
    size_t *outlen)
{
	static const int ctype[] = { 0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
		PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA };
	struct pngsrc err = { .name = name };
	struct memdst dst = { 0 };
	struct zstrip *s;
	int ns;
	uLong adler;
	png_structp p;
	png_infop info = NULL;
	volatile int rc = EX_SOFTWARE;

	/* libpng's own limit on a side, before the work of deflating */
	if (im->w > PNG_USER_WIDTH_MAX || im->h > PNG_USER_HEIGHT_MAX) {
		warnx("%s: PNG: %dx%d: a side over %d pixels", name, im->w, im->h,
		    PNG_USER_WIDTH_MAX);
		return EX_SOFTWARE;
	}
	if ((rc = zdeflate(im, threads, &s, &ns, &adler)) != 0) {
		warnx("%s: PNG: %s", name, rc == EX_OSERR ? "out of memory" : "deflate failed");
		return rc;
	}
	if ((p = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, png_err, png_warn)) == NULL ||
	    (info = png_create_info_struct(p)) == NULL) {
		warnx("%s: PNG: out of memory", name);
		png_destroy_write_struct(&p, NULL);
		zfree(s, ns);
		return EX_OSERR;
	}
	if (setjmp(png_jmpbuf(p))) {
		warnx("%s: PNG: %s", name, err.msg);
		rc = dst.oom ? EX_OSERR : EX_SOFTWARE;
		free(dst.buf);
		goto out;
	}
	dst.first = 4096 + im->icc_len + im->exif_len + 12 * (size_t)ns + 6;
	for (int i = 0; i < ns; i++)
		dst.first += s[i].len;
	png_set_write_fn(p, &dst, png_writemem, png_flushmem);
	png_set_benign_errors(p, 1);       /* a doubtful ICC profile is dropped, not fatal */
	png_set_IHDR(p, info, (png_uint_32)im->w, (png_uint_32)im->h, 8, ctype[im->ch],
	    PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (im->icc != NULL && im->icc_len >= 132)
		png_set_iCCP(p, info, "icc", PNG_COMPRESSION_TYPE_BASE, im->icc,
		    (png_uint_32)im->icc_len);
	if (im->exif != NULL && im->exif_len > 0 && im->exif_len < 0x7fffffff)
		png_set_eXIf_1(p, info, (png_uint_32)im->exif_len, im->exif);
	png_write_info(p, info);
	write_idat(p, s, ns, adler);
	png_write_chunk(p, (png_const_bytep)"IEND", NULL, 0);
	*out = dst.buf;
	*outlen = dst.len;
	rc = 0;
out:
	png_destroy_write_struct(&p, &info);
	zfree(s, ns);
	return rc;
}

static int
encode_jpeg(const char *name, const struct img *im, int quality,
    unsigned char **out, size_t *outlen)
{
	struct jpeg_compress_struct ci;
	struct img_jerr je;
	unsigned char *jm = NULL;
	unsigned long memlen = 0;
	uint8_t *volatile row = NULL;
	int outch = im->ch >= 3 ? 3 : 1;

	memset(&ci, 0, sizeof ci);
	img_jpeg_errors((j_common_ptr)&ci, &je);
	if (setjmp(je.jb)) {
		warnx("%s: JPEG: %s", name, je.msg);
		jpeg_destroy_compress(&ci);
		free(row);          /* the output buffer may have moved: leaked */
		return EX_SOFTWARE;
	}
	jpeg_create_compress(&ci);
	/* libjpeg grows (reallocates) the buffer and stores the final pointer
	 * into jm only at jpeg_finish_compress: read it after that */
	jpeg_mem_dest(&ci, &jm, &memlen);
	ci.image_width = (JDIMENSION)im->w;
	ci.image_height = (JDIMENSION)im->h;
	ci.input_components = outch;
	ci.in_color_space = outch == 3 ? JCS_RGB : JCS_GRAYSCALE;
	jpeg_set_defaults(&ci);
	jpeg_set_quality(&ci, quality, TRUE);
	ci.optimize_coding = TRUE;
	if (quality >= 90) {               /* no chroma subsampling at high quality */
		ci.comp_info[0].h_samp_factor = 1;
		ci.comp_info[0].v_samp_factor = 1;
	}
	jpeg_start_compress(&ci, TRUE);
	if (im->exif != NULL && im->exif_len > 0 && im->exif_len <= 65533 - 6) {
		unsigned char *app1 = malloc(im->exif_len + 6);
		if (app1 != NULL) {
			memcpy(app1, "Exif\0\0", 6);
			memcpy(app1 + 6, im->exif, im->exif_len);
			jpeg_write_marker(&ci, JPEG_APP0 + 1, app1, (unsigned)(im->exif_len + 6));
			free(app1);
		}
	}
	if (im->icc != NULL && im->icc_len > 0)
		jpeg_write_icc_profile(&ci, im->icc, (unsigned)im->icc_len);
	if ((row = malloc((size_t)im->w * (size_t)outch)) == NULL)
		longjmp(je.jb, 1);
	while (ci.next_scanline < ci.image_height) {
		const uint8_t *s = im->px + (size_t)ci.next_scanline * (size_t)im->w * (size_t)im->ch;
		JSAMPROW r = row;
		for (int x = 0; x < im->w; x++)      /* drop alpha */
			memcpy(row + (size_t)x * (size_t)outch, s + (size_t)x * (size_t)im->ch,
			    (size_t)outch);
		jpeg_write_scanlines(&ci, &r, 1);
	}
	jpeg_finish_compress(&ci);
	jpeg_destroy_compress(&ci);
	free(row);
	*out = jm;
	*outlen = memlen;
	return 0;
}

int
img_encode(const char *name, const struct img *im, enum img_type type, int quality,
    int threads, unsigned char **out, size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	if (im->px == NULL || im->w <= 0 || im->h <= 0 || im->ch < 1 || im->ch > 4) {
		warnx("%s: no pixels to encode", name);
		return EX_SOFTWARE;
	}
	if (type == IMG_JPEG)
		return encode_jpeg(name, im, quality < 1 ? 1 : quality > 100 ? 100 : quality,
		    out, outlen);
	return encode_png(name, im, threads, out, outlen);
}

int
img_save(const char *path, const struct img *im, enum img_type type, int quality,
    int threads)
{
	unsigned char *buf;
	size_t len;
	int rc;

	if ((rc = img_encode(path, im, type, quality, threads, &buf, &len)) != 0)
		return rc;
	if (strcmp(path, "-") == 0) {
		if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) == EOF) {
			warn("stdout");
			rc = EX_IOERR;
		}
	} else
		rc = util_write_file(path, buf, len, 0644);
	free(buf);
	return rc;
}
