/* classify_load.c: decode just what classification needs, in little
 * memory. The file is streamed (never read whole), so a 50 MB input costs
 * a 64 KiB buffer. A JPEG is decoded at full resolution only for the rows
 * cl_wants(); the others are skipped with jpeg_skip_scanlines(), which
 * still entropy-decodes them, so a truncated or corrupt file is caught
 * as surely as by img_decode (and with its rules: libjpeg's warnings are
 * fatal, the scan count is bounded). A PNG is decoded row by row through
 * IEND with every CRC checked. Two inputs would need the whole image in
 * memory and are refused above a budget: a progressive JPEG (libjpeg
 * keeps every coefficient) and an interlaced PNG. */
#include <err.h>
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "classify.h"
#include "classify_priv.h"
#include "img_codec.h"
#include "util.h"

#define CL_MEM_BUDGET  (48u << 20)   /* whole-image buffers we accept */
#define CL_CHUNK_MAX   (8u << 20)

/* ---- a byte source: memory, or a stream with a sniffed prefix ---- */

struct rd {
	const char *name;
	FILE *f;
	const unsigned char *mem;
	size_t memlen, off;
	unsigned char pre[16];
	size_t npre, preoff;
	unsigned long long total, max;
	int err, over;                     /* read error (errno), over the limit */
	unsigned char buf[65536];
};

static size_t
rd_read(struct rd *r, unsigned char *dst, size_t n)
{
	size_t got = 0, k;

	if (r->mem != NULL) {
		k = r->memlen - r->off < n ? r->memlen - r->off : n;
		memcpy(dst, r->mem + r->off, k);
		r->off += k;
		return k;
	}
	if (r->preoff < r->npre) {
		k = r->npre - r->preoff < n ? r->npre - r->preoff : n;
		memcpy(dst, r->pre + r->preoff, k);
		r->preoff += k;
		got = k;
	}
	if (got < n && !r->err && !r->over) {
		k = fread(dst + got, 1, n - got, r->f);
		if (k < n - got && ferror(r->f))
			r->err = errno ? errno : EIO;
		r->total += k;
		if (r->total > r->max) {
			r->over = 1;
			return 0;
		}
		got += k;
	}
	return got;
}

/* A read error or the byte limit, found while decoding: its status and
 * message (the codec's own message would only say "truncated"). */
static int
rd_status(struct rd *r)
{
	if (r->over) {
		warnx("%s: more than %llu bytes exceeds limit", r->name, r->max);
		return EX_DATAERR;
	}
	if (r->err) {
		errno = r->err;
		warn("%s", r->name);
		return EX_IOERR;
	}
	return 0;
}

/* ---- JPEG ---- */

struct jsrc {
	struct jpeg_source_mgr pub;
	struct rd *rd;
};

static void
js_init(j_decompress_ptr d)
{
	(void)d;
}

static boolean
js_fill(j_decompress_ptr d)
{
	static const JOCTET eoi[2] = { 0xFF, JPEG_EOI };
	struct jsrc *s = (struct jsrc *)d->src;
	size_t n = rd_read(s->rd, s->rd->buf, sizeof s->rd->buf);

	if (n == 0) {
		WARNMS(d, JWRN_JPEG_EOF);          /* fatal: see img_jpeg_errors */
		s->pub.next_input_byte = eoi;
		s->pub.bytes_in_buffer = 2;
		return TRUE;
	}
	s->pub.next_input_byte = s->rd->buf;
	s->pub.bytes_in_buffer = n;
	return TRUE;
}

static void
js_skip(j_decompress_ptr d, long n)
{
	struct jsrc *s = (struct jsrc *)d->src;

	while (n > (long)s->pub.bytes_in_buffer) {
		n -= (long)s->pub.bytes_in_buffer;
		js_fill(d);
	}
	s->pub.next_input_byte += n;
	s->pub.bytes_in_buffer -= (size_t)n;
}

static void
js_term(j_decompress_ptr d)
{
	(void)d;
}

static int
load_jpeg(struct rd *r, const struct img_limits *lim, struct cl *c)
{
	struct jpeg_decompress_struct ci;
	struct jpeg_progress_mgr prog = { .progress_monitor = img_jpeg_progress };
	struct jsrc src;
	struct img_jerr je;
	uint8_t *volatile row = NULL, *volatile rgb = NULL;
	volatile int rc = EX_DATAERR, begun = 0;
	const char *name = r->name;

	memset(&ci, 0, sizeof ci);
	img_jpeg_errors((j_common_ptr)&ci, &je);
	if (setjmp(je.jb)) {
		if (rc == EX_DATAERR && (rc = rd_status(r)) == 0) {
			rc = EX_DATAERR;
			warnx("%s: JPEG: %s", name, je.msg);
		}
		goto out;
	}
	jpeg_create_decompress(&ci);
	ci.progress = &prog;
	memset(&src, 0, sizeof src);
	src.pub.init_source = js_init;
	src.pub.fill_input_buffer = js_fill;
	src.pub.skip_input_data = js_skip;
	src.pub.resync_to_restart = jpeg_resync_to_restart;
	src.pub.term_source = js_term;
	src.rd = r;
	ci.src = &src.pub;
	jpeg_save_markers(&ci, JPEG_APP0 + 1, 0xFFFF);
	jpeg_read_header(&ci, TRUE);
	if ((rc = img_check_limits(name, ci.image_width, ci.image_height, lim)) != 0)
		goto out;
	rc = EX_DATAERR;
	if (ci.progressive_mode) {
		unsigned long long coef = 0;
		for (int i = 0; i < ci.num_components; i++)
			coef += (unsigned long long)ci.comp_info[i].width_in_blocks *
			    ci.comp_info[i].height_in_blocks * 128;
		if (coef > CL_MEM_BUDGET) {
			warnx("%s: progressive JPEG of %ux%u pixels needs %llu MB to decode "
			    "(limit %u MB)", name, ci.image_width, ci.image_height,
			    coef >> 20, CL_MEM_BUDGET >> 20);
			goto out;
		}
	}
	c->type = IMG_JPEG;
	for (int i = 0; i < NUM_QUANT_TBLS && i < 4; i++)
		if (ci.quant_tbl_ptrs[i] != NULL) {
			for (int k = 0; k < 64; k++)
				c->quant[c->nquant][k] = ci.quant_tbl_ptrs[i]->quantval[k];
			c->nquant++;
		}
	c->orientation = 1;
	for (jpeg_saved_marker_ptr m = ci.marker_list; m != NULL; m = m->next)
		if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 &&
		    memcmp(m->data, "Exif\0\0", 6) == 0) {
			c->orientation = img_exif_orientation(m->data + 6, m->data_length - 6, 0);
			break;
		}
	int cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
	ci.out_color_space = cmyk ? JCS_CMYK : ci.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
	c->w = (int)ci.image_width;
	c->h = (int)ci.image_height;
	c->ch = ci.num_components == 1 ? 1 : 3;
	if ((rc = cl_begin(name, c)) != 0)
		goto out;
	rc = EX_DATAERR;
	jpeg_start_decompress(&ci);
	begun = 1;
	if ((row = malloc((size_t)c->w * (size_t)ci.output_components)) == NULL ||
	    (rgb = malloc((size_t)c->w * 3)) == NULL) {
		warn("%s", name);
		rc = EX_OSERR;
		goto out;
	}
	while (ci.output_scanline < ci.output_height) {
		int y = (int)ci.output_scanline;
		if (!cl_wants(c, y)) {
			int z = y + 1;
			while (z < c->h && !cl_wants(c, z))
				z++;
			if (jpeg_skip_scanlines(&ci, (JDIMENSION)(z - y)) == 0)
				break;
			continue;
		}
		JSAMPROW rp = row;
		jpeg_read_scanlines(&ci, &rp, 1);
		if (cmyk) {
			int inv = ci.saw_Adobe_marker;
			for (int x = 0; x < c->w; x++) {
				unsigned cc = row[4 * x], mm = row[4 * x + 1], yy = row[4 * x + 2],
				    k = row[4 * x + 3];
				if (!inv) {
					cc = 255 - cc; mm = 255 - mm; yy = 255 - yy; k = 255 - k;
				}
				rgb[3 * x] = (uint8_t)((cc * k + 127) / 255);
				rgb[3 * x + 1] = (uint8_t)((mm * k + 127) / 255);
				rgb[3 * x + 2] = (uint8_t)((yy * k + 127) / 255);
			}
			cl_row(c, y, rgb, 3);
		} else
			cl_row(c, y, row, c->ch);
	}
	jpeg_finish_decompress(&ci);
	rc = 0;
out:
	(void)begun;
	jpeg_destroy_decompress(&ci);
	free(row);
	free(rgb);
	return rc;
}

/* ---- PNG ---- */

struct pst {
	struct rd *rd;
	char msg[256];
};

static void
perr(png_structp p, png_const_charp m)
{
	struct pst *s = png_get_error_ptr(p);

	snprintf(s->msg, sizeof s->msg, "%s", m);
	png_longjmp(p, 1);
}

static void
pwarn(png_structp p, png_const_charp m)
{
	(void)p;
	(void)m;
}

static void
pread(png_structp p, png_bytep out, size_t n)
{
	struct pst *s = png_get_io_ptr(p);

	if (rd_read(s->rd, out, n) != n)
		png_error(p, "unexpected end of file (truncated)");
}

static int
load_png(struct rd *r, const struct img_limits *lim, struct cl *c)
{
	struct pst st = { .rd = r };
	png_structp p;
	png_infop info = NULL;
	uint8_t *volatile buf = NULL;
	volatile int rc = EX_DATAERR;
	const char *name = r->name;
	png_uint_32 w, h;
	int depth, ctype, interlace, ch, passes;

	if ((p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, perr, pwarn)) == NULL ||
	    (info = png_create_info_struct(p)) == NULL) {
		warnx("%s: PNG: out of memory", name);
		png_destroy_read_struct(&p, NULL, NULL);
		return EX_OSERR;
	}
	if (setjmp(png_jmpbuf(p))) {
		if (rc == EX_DATAERR && (rc = rd_status(r)) == 0) {
			rc = EX_DATAERR;
			warnx("%s: PNG: %s", name, st.msg);
		}
		goto out;
	}
	png_set_read_fn(p, &st, pread);
	png_set_crc_action(p, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
	png_set_user_limits(p, 0x7fffffff, 0x7fffffff);
	png_set_chunk_cache_max(p, 1000);
	png_set_chunk_malloc_max(p, CL_CHUNK_MAX);
	png_read_info(p, info);
	png_get_IHDR(p, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
	if ((rc = img_check_limits(name, w, h, lim)) != 0)
		goto out;
	rc = EX_DATAERR;
	png_set_expand(p);
	png_set_scale_16(p);
	passes = png_set_interlace_handling(p);
	png_read_update_info(p, info);
	ch = png_get_channels(p, info);
	if (ch < 1 || ch > 4 || png_get_bit_depth(p, info) != 8) {
		snprintf(st.msg, sizeof st.msg, "unexpected layout after expansion");
		png_longjmp(p, 1);
	}
	c->type = IMG_PNG;
	c->w = (int)w;
	c->h = (int)h;
	c->ch = ch <= 2 ? 1 : 3;
	c->alpha = ch == 2 || ch == 4;
	if (passes > 1 && (unsigned long long)w * h * ch > CL_MEM_BUDGET) {
		warnx("%s: interlaced PNG of %ux%u pixels needs %llu MB to decode (limit %u MB)",
		    name, (unsigned)w, (unsigned)h,
		    ((unsigned long long)w * h * ch) >> 20, CL_MEM_BUDGET >> 20);
		goto out;
	}
	if ((rc = cl_begin(name, c)) != 0)
		goto out;
	rc = EX_DATAERR;
	if ((buf = malloc(passes > 1 ? (size_t)w * h * ch : (size_t)w * ch)) == NULL) {
		warn("%s", name);
		rc = EX_OSERR;
		goto out;
	}
	if (passes > 1) {
		for (int pass = 0; pass < passes; pass++)
			for (png_uint_32 y = 0; y < h; y++)
				png_read_row(p, buf + (size_t)y * w * ch, NULL);
		for (png_uint_32 y = 0; y < h; y++)
			if (cl_wants(c, (int)y))
				cl_row(c, (int)y, buf + (size_t)y * w * ch, ch);
	} else
		for (png_uint_32 y = 0; y < h; y++) {
			png_read_row(p, buf, NULL);
			if (cl_wants(c, (int)y))
				cl_row(c, (int)y, buf, ch);
		}
	png_read_end(p, info);
	{
		png_uint_32 elen;
		png_bytep ex;
		c->orientation = 1;
		if (png_get_eXIf_1(p, info, &elen, &ex) && elen > 0)
			c->orientation = img_exif_orientation(ex, elen, 0);
	}
	rc = 0;
out:
	png_destroy_read_struct(&p, &info, NULL);
	free(buf);
	return rc;
}

/* ---- entry points ---- */

static int
load(struct rd *r, const struct img_limits *lim, jv *out, struct img *info)
{
	unsigned char head[16];
	size_t n;
	struct cl *c;
	enum img_type t;
	int rc;

	*out = jv_invalid();
	n = rd_read(r, head, sizeof head);
	if ((rc = rd_status(r)) != 0)
		return rc;
	if (n == 0) {
		warnx("%s: empty file", r->name);
		return EX_DATAERR;
	}
	if (r->mem == NULL) {                     /* give the bytes back */
		memcpy(r->pre, head, n);
		r->npre = n;
		r->preoff = 0;
	} else
		r->off = 0;
	t = img_sniff(head, n);
	if (t == IMG_UNKNOWN) {
		warnx("%s: not an image (JPEG or PNG expected)", r->name);
		return EX_DATAERR;
	}
	if (t != IMG_JPEG && t != IMG_PNG) {
		warnx("%s: unsupported format %s (JPEG or PNG expected)", r->name,
		    img_type_name(t));
		return EX_DATAERR;
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		warn("%s", r->name);
		return EX_OSERR;
	}
	rc = t == IMG_JPEG ? load_jpeg(r, lim, c) : load_png(r, lim, c);
	if (rc == 0)
		rc = cl_finish(r->name, c, out);
	if (rc == 0 && info != NULL) {
		memset(info, 0, sizeof *info);
		info->type = c->type;
		info->w = info->src_w = c->orientation >= 5 ? c->h : c->w;
		info->h = info->src_h = c->orientation >= 5 ? c->w : c->h;
		info->ch = c->ch + c->alpha;
		info->orientation = c->orientation;
		info->nquant = c->nquant;
		memcpy(info->quant, c->quant, sizeof info->quant);
	}
	cl_end(c);
	free(c);
	return rc;
}

int
classify_buf(const char *name, const unsigned char *buf, size_t len,
    const struct img_limits *lim, jv *out, struct img *info)
{
	struct rd *r;
	int rc;

	*out = jv_invalid();
	if (len > lim->max_bytes) {
		warnx("%s: %zu bytes exceeds limit %llu", name, len, lim->max_bytes);
		return EX_DATAERR;
	}
	if ((r = calloc(1, sizeof *r)) == NULL) {
		warn("%s", name);
		return EX_OSERR;
	}
	r->name = name;
	r->mem = buf;
	r->memlen = len;
	r->max = lim->max_bytes;
	rc = load(r, lim, out, info);
	free(r);
	return rc;
}

int
classify_file(const char *path, const struct img_limits *lim, jv *out, struct img *info)
{
	const char *name = strcmp(path, "-") == 0 ? "stdin" : path;
	struct rd *r = NULL;
	struct stat st;
	FILE *f;
	int rc, e;

	*out = jv_invalid();
	if (strcmp(path, "-") == 0)
		f = stdin;
	else if ((f = fopen(path, "rbe")) == NULL) {
		e = errno;
		warn("%s", name);
		return util_ex_errno(e) == EX_NOPERM ? EX_NOINPUT : util_ex_errno(e);
	}
	if (fstat(fileno(f), &st) < 0) {
		e = errno;
		warn("%s", name);
		rc = util_ex_errno(e);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		warnx("%s: is a directory", name);
		rc = EX_NOINPUT;
		goto out;
	}
	if (S_ISREG(st.st_mode) && (unsigned long long)st.st_size > lim->max_bytes) {
		warnx("%s: %lld bytes exceeds limit %llu", name, (long long)st.st_size,
		    lim->max_bytes);
		rc = EX_DATAERR;
		goto out;
	}
	if ((r = calloc(1, sizeof *r)) == NULL) {
		warn("%s", name);
		rc = EX_OSERR;
		goto out;
	}
	r->name = name;
	r->f = f;
	r->max = lim->max_bytes;
	rc = load(r, lim, out, info);
out:
	free(r);
	if (f != stdin)
		fclose(f);
	return rc;
}
