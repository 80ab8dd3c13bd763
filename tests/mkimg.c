/* mkimg: write a real JPEG or PNG test image on stdout.
 *   mkimg jpeg:WxH|png:WxH [option ...]
 * Options: gray alpha palette interlace progressive cmyk depth=16 q=N
 *   orientation=N (EXIF tag) exif (EXIF with date and camera) icc (a
 *   minimal ICC profile) seed=N noise=SIGMA (Gaussian, 8-bit scale)
 *   lnoise=A (a sensor's shot noise: per channel, sigma sqrt(A x + 4) at
 *   value x) cnoise=S (colour blotches: Gaussian noise in Cb and Cr
 *   blurred by a Gaussian of sigma 1, rescaled to sigma S; colour only)
 *   claim=WxH (patch the header to claim another size: a decompression
 *   bomb or a lying file; the data stays that of the real size).
 * Damage, applied in this order after the scene (and its noise):
 *   desat=F (blend toward grey by F, 0..1) soft=SIGMA (a Gaussian blur of
 *   the whole scene, before blur's: a lens that leaves it soft) blur=SIGMA (Gaussian; with
 *   focus=F only outside a central ellipse of F times the picture's half
 *   width and height, left sharp: a defocused background) upscale=F (box
 *   down by F, bicubic back up)
 *   fade=LIFT (levels squeezed into LIFT..255-LIFT) sepia=A (blend toward
 *   a sepia tone) cast=G (gains 1-G, 1, 1+G: a blue cast) grain=SIGMA
 *   (monochrome Gaussian grain, as an old print's comes after its blur)
 *   scratches=N (N thin bright or dark lines and N dust specks).
 * The picture is a smooth scene of gradients, discs and bars, so that
 * compression and damage behave roughly as on a photograph; with the
 * option texture, a grey ground of short bright and dark strokes that
 * fills the picture instead (as grass or gravel does); with highlights,
 * each dark bar off the picture's edges has a thin lighter line down its
 * middle, as a tripod's leg catches the light (real thin detail that is
 * not damage); with rims, a thin bright line along each bar's right
 * edge, as a rim light draws one along a dark object (one side darker
 * all along); with stripes, a dark ground with bright lines 2 pixels
 * wide, upright every 24 pixels, as joints, slats or a fabric draw them
 * (a regular series of like thin lines: part of the scene); with
 * strokes=K, texture's strokes (one per K pixels) drawn over the smooth
 * scene, which shows between them: a busy scene (fur, foliage, a grid of
 * windows) that is not all fine texture; with outlines, a grey ground
 * with four ellipses, light or dark, each drawn with a black outline 4
 * pixels wide, as a drawing, a comic or a graffiti has them (dark lines
 * of the scene whose sides differ). */
#include <err.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

static struct {
	int w, h, png, gray, alpha, palette, interlace, progressive, cmyk, depth16;
	int q, orientation, exif, icc;
	unsigned seed;
	double noise, lnoise, cnoise, grain, soft;
	unsigned claim_w, claim_h;
	double blur, focus, fade, sepia, cast, desat;
	int upscale, scratches, texture, highlights, rims, stripes, strokes, outlines;
} o = { .q = 90, .seed = 1 };

static uint64_t rng;
static double
urand(void)
{
	rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}
static double
grand(void)
{
	double u = urand(), v = urand();
	return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

static unsigned char exifblk[64];
static size_t
make_exif(unsigned char *b)
{
	/* little-endian TIFF, IFD0 with Orientation (0x0112) and Make (0x010f) */
	static const unsigned char t[] = {
		'I', 'I', 42, 0, 8, 0, 0, 0,
		2, 0,
		0x0f, 0x01, 2, 0, 6, 0, 0, 0, 38, 0, 0, 0,
		0x12, 0x01, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0,
		0, 0, 0, 0,
		'r', 's', 'c', 'a', 'm', 0 };
	memcpy(b, t, sizeof t);
	b[30] = (unsigned char)(o.orientation ? o.orientation : 1);
	return sizeof t;
}

static unsigned char iccblk[132];
static void
make_icc(void)
{
	unsigned char *p = iccblk;
	memset(p, 0, sizeof iccblk);
	p[3] = 132;                                  /* size */
	memcpy(p + 4, "none", 4);
	p[8] = 4; p[9] = 0x20;                       /* version 4.2 */
	memcpy(p + 12, "mntr", 4);
	memcpy(p + 16, o.gray ? "GRAY" : "RGB ", 4);
	memcpy(p + 20, "XYZ ", 4);
	memcpy(p + 36, "acsp", 4);
	/* D50 illuminant */
	p[68] = 0x00; p[69] = 0x00; p[70] = 0xf6; p[71] = 0xd6;
	p[72] = 0x00; p[73] = 0x01; p[74] = 0x00; p[75] = 0x00;
	p[76] = 0x00; p[77] = 0x00; p[78] = 0xd3; p[79] = 0x2d;
}


/* colour blotches (option cnoise) on the finished RGB scene */
static void
blotches(uint8_t *px)
{
	size_t n = (size_t)o.w * o.h;
	double *c = malloc(2 * n * sizeof *c), *t = malloc(n * sizeof *t), k[4] = { 0 }, ks = 0;

	if (c == NULL || t == NULL)
		err(1, "malloc");
	for (int i = 0; i <= 3; i++)
		ks += (i ? 2 : 1) * (k[i] = exp(-0.5 * i * i));
	for (int p = 0; p < 2; p++) {
		double *q = c + p * n, ss = 0;
		for (size_t i = 0; i < n; i++)
			q[i] = grand();
		for (int pass = 0; pass < 2; pass++) {
			for (int y = 0; y < o.h; y++)
				for (int x = 0; x < o.w; x++) {
					double a = 0;
					for (int i = -3; i <= 3; i++) {
						int xx = pass ? x : x + i, yy = pass ? y + i : y;
						xx = xx < 0 ? 0 : xx >= o.w ? o.w - 1 : xx;
						yy = yy < 0 ? 0 : yy >= o.h ? o.h - 1 : yy;
						a += k[i < 0 ? -i : i] * q[(size_t)yy * o.w + xx];
					}
					t[(size_t)y * o.w + x] = a / ks;
				}
			memcpy(q, t, n * sizeof *q);
		}
		for (size_t i = 0; i < n; i++)
			ss += q[i] * q[i];
		for (size_t i = 0; i < n; i++)
			q[i] *= o.cnoise / sqrt(ss / n);
	}
	for (size_t i = 0; i < n; i++) {
		double cb = c[i], cr = c[n + i], d[3] = { 1.402 * cr, -0.344136 * cb - 0.714136 * cr,
		    1.772 * cb };
		for (int k2 = 0; k2 < 3; k2++) {
			double v = px[i * 3 + k2] + d[k2];
			px[i * 3 + k2] = (uint8_t)lrint(v < 0 ? 0 : v > 255 ? 255 : v);
		}
	}
	free(c);
	free(t);
}

static uint8_t *
scene(void)
{
	int ch = o.gray ? 1 : 3;
	uint8_t *px = malloc((size_t)o.w * o.h * ch);
	double cx[6], cy[6], r[6], col[6][3];

	if (px == NULL)
		err(1, "malloc");
	rng = 0x9E3779B97F4A7C15ULL * (o.seed + 1);
	for (int i = 0; i < 6; i++) {
		cx[i] = urand() * o.w; cy[i] = urand() * o.h;
		r[i] = (0.08 + 0.2 * urand()) * (o.w < o.h ? o.w : o.h);
		for (int k = 0; k < 3; k++)
			col[i][k] = 40 + 180 * urand();
	}
	double *tex = NULL;
	if (o.texture || o.strokes) {
		if ((tex = malloc((size_t)o.w * o.h * sizeof *tex)) == NULL)
			err(1, "malloc");
		for (size_t i = 0; i < (size_t)o.w * o.h; i++)
			tex[i] = o.strokes ? -1 : 120 + 3 * grand();
		/* short strokes, 3 to 8 pixels, bright or dark, every way */
		for (long n = (long)o.w * o.h / (o.strokes ? o.strokes : 10); n > 0; n--) {
			double x = urand() * o.w, y = urand() * o.h, a = urand() * M_PI;
			double len = 3 + 5 * urand(), val = urand() < 0.5 ? 40 + 30 * urand() : 180 + 40 * urand();
			for (double t = 0; t <= len; t += 0.5) {
				int xx = (int)(x + t * cos(a)), yy = (int)(y + t * sin(a));
				if (xx >= 0 && yy >= 0 && xx < o.w && yy < o.h)
					tex[(size_t)yy * o.w + xx] = val;
			}
		}
	}
	for (int y = 0; y < o.h; y++)
		for (int x = 0; x < o.w; x++) {
			double v[3] = { 60 + 120.0 * x / o.w, 80 + 100.0 * y / o.h,
				150 - 60.0 * (x + y) / (o.w + o.h) };
			for (int i = 0; i < 6; i++) {
				double d = hypot(x - cx[i], y - cy[i]);
				if (d < r[i])
					for (int k = 0; k < 3; k++)
						v[k] = col[i][k] + 20 * cos(d / r[i] * 3);
			}
			if ((x / 7) % 9 == 0 && y > o.h / 3 && y < o.h / 2)
				v[0] = v[1] = v[2] = o.highlights && x % 7 == 3 && x > 7 && x < o.w - 7 ? 120 : 30;
			else if (o.rims && (x / 7) % 9 == 1 && x % 7 == 0 && y > o.h / 3 && y < o.h / 2)
				v[0] = v[1] = v[2] = 230;
			if (tex != NULL && tex[(size_t)y * o.w + x] >= 0)
				v[0] = v[1] = v[2] = tex[(size_t)y * o.w + x];
			if (o.stripes)
				v[0] = v[1] = v[2] = x % 24 < 2 ? 150 : 45;
			if (o.outlines) {
				static const double sh[4][4] = { { 45, 45, 30, 230 }, { 115, 50, 25, 90 },
					{ 50, 115, 22, 200 }, { 115, 115, 32, 230 } };
				double s = (o.w < o.h ? o.w : o.h) / 160.0;
				v[0] = v[1] = v[2] = 140;
				for (int i = 0; i < 4; i++) {
					double d = hypot(x - s * sh[i][0], (y - s * sh[i][1]) / 0.6);
					if (d < s * sh[i][2])
						v[0] = v[1] = v[2] = d < s * sh[i][2] - 4 ? sh[i][3] : 25;
				}
			}
			for (int k = 0; k < 3; k++) {
				if (o.noise > 0)
					v[k] += o.noise * grand();
				if (o.lnoise > 0)
					v[k] += sqrt(o.lnoise * (v[k] < 0 ? 0 : v[k]) + 4) * grand();
				v[k] = v[k] < 0 ? 0 : v[k] > 255 ? 255 : v[k];
			}
			uint8_t *p = px + ((size_t)y * o.w + x) * ch;
			if (ch == 1)
				p[0] = (uint8_t)lrint(0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2]);
			else
				for (int k = 0; k < 3; k++)
					p[k] = (uint8_t)lrint(v[k]);
		}
	free(tex);
	if (o.cnoise > 0 && ch == 3)
		blotches(px);
	return px;
}

/* the cubic convolution kernel of Keys (a = -0.5) */
static double
keys(double t)
{
	t = fabs(t);
	if (t < 1)
		return (1.5 * t - 2.5) * t * t + 1;
	if (t < 2)
		return ((-0.5 * t + 2.5) * t - 4) * t + 2;
	return 0;
}

/* the damage options, on the finished scene */
/* Gaussian blur of sigma sg in place (t: scratch of the same size) */
static void
gblur(double *f, double *t, int w, int h, int ch, double sg)
{
	int r = (int)ceil(3 * sg);
	double k[64], s = 0;
	size_t n = (size_t)w * h * ch;

	r = r > 63 ? 63 : r;
	for (int i = 0; i <= r; i++)
		s += (i ? 2 : 1) * (k[i] = exp(-0.5 * i * i / (sg * sg)));
	for (int pass = 0; pass < 2; pass++) {
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++)
				for (int c = 0; c < ch; c++) {
					double a = 0;
					for (int i = -r; i <= r; i++) {
						int xx = x, yy = y;
						if (pass == 0)
							xx = x + i < 0 ? 0 : x + i >= w ? w - 1 : x + i;
						else
							yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
						a += k[i < 0 ? -i : i] * f[((size_t)yy * w + xx) * ch + c];
					}
					t[((size_t)y * w + x) * ch + c] = a / s;
				}
		memcpy(f, t, n * sizeof *f);
	}
}

static void
damage(uint8_t *px)
{
	int ch = o.gray ? 1 : 3, w = o.w, h = o.h;
	size_t n = (size_t)w * h * ch;
	double *f = malloc(n * sizeof *f), *t = malloc(n * sizeof *t);

	if (f == NULL || t == NULL)
		err(1, "malloc");
	for (size_t i = 0; i < n; i++)
		f[i] = px[i];
	if (ch == 3 && o.desat > 0)
		for (size_t i = 0; i < n; i += 3) {
			double l = 0.299 * f[i] + 0.587 * f[i + 1] + 0.114 * f[i + 2];
			for (int c = 0; c < 3; c++)
				f[i + c] += o.desat * (l - f[i + c]);
		}
	if (o.soft > 0)
		gblur(f, t, w, h, ch, o.soft);
	if (o.blur > 0) {
		double *sharp = NULL;
		if (o.focus > 0) {
			if ((sharp = malloc(n * sizeof *sharp)) == NULL)
				err(1, "malloc");
			memcpy(sharp, f, n * sizeof *f);
		}
		gblur(f, t, w, h, ch, o.blur);
		for (int y = 0; sharp != NULL && y < h; y++)
			for (int x = 0; x < w; x++) {
				double dx = (x - w / 2.0) / (o.focus * w / 2), dy = (y - h / 2.0) / (o.focus * h / 2);
				double d = sqrt(dx * dx + dy * dy), a = d < 0.9 ? 1 : d > 1.1 ? 0 : (1.1 - d) / 0.2;
				for (int c = 0; c < ch; c++) {
					size_t i = ((size_t)y * w + x) * ch + c;
					f[i] = a * sharp[i] + (1 - a) * f[i];
				}
			}
		free(sharp);
	}
	if (o.upscale > 1) {
		int F = o.upscale, sw = (w + F - 1) / F, sh = (h + F - 1) / F;
		double *sm = calloc((size_t)sw * sh * ch, sizeof *sm);
		if (sm == NULL)
			err(1, "malloc");
		for (int y = 0; y < sh; y++)
			for (int x = 0; x < sw; x++)
				for (int c = 0; c < ch; c++) {
					double a = 0;
					int k = 0;
					for (int i = 0; i < F; i++)
						for (int j = 0; j < F; j++)
							if (y * F + i < h && x * F + j < w) {
								a += f[((size_t)(y * F + i) * w + x * F + j) * ch + c];
								k++;
							}
					sm[((size_t)y * sw + x) * ch + c] = a / k;
				}
		/* bicubic (Keys, a = -0.5) back up, separable */
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++) {
				double sx = (x + 0.5) / F - 0.5, sy = (y + 0.5) / F - 0.5;
				int ix = (int)floor(sx), iy = (int)floor(sy);
				double wx[4], wy[4];
				for (int k = 0; k < 4; k++) {
					wx[k] = keys(sx - (ix - 1 + k));
					wy[k] = keys(sy - (iy - 1 + k));
				}
				for (int c = 0; c < ch; c++) {
					double a = 0;
					for (int j = 0; j < 4; j++)
						for (int i = 0; i < 4; i++) {
							int xx = ix - 1 + i, yy = iy - 1 + j;
							xx = xx < 0 ? 0 : xx >= sw ? sw - 1 : xx;
							yy = yy < 0 ? 0 : yy >= sh ? sh - 1 : yy;
							a += wx[i] * wy[j] * sm[((size_t)yy * sw + xx) * ch + c];
						}
					f[((size_t)y * w + x) * ch + c] = a;
				}
			}
		free(sm);
	}
	for (size_t i = 0; i < (size_t)w * h; i++) {
		double *p = f + i * ch;
		for (int c = 0; c < ch; c++)
			p[c] = o.fade + p[c] * (255 - 2 * o.fade) / 255;
		if (ch == 3 && o.sepia > 0) {
			double l = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
			static const double tint[3] = { 1.12, 0.96, 0.72 };
			for (int c = 0; c < 3; c++)
				p[c] = (1 - o.sepia) * p[c] + o.sepia * l * tint[c];
		}
		if (ch == 3 && o.cast > 0) {
			p[0] *= 1 - o.cast;
			p[2] *= 1 + o.cast;
		}
	}
	if (o.grain > 0) {                    /* an old print's: after its blur */
		rng = 0x2545F4914F6CDD1DULL * (o.seed + 5);
		for (size_t i = 0; i < n / ch; i++) {
			double g = o.grain * grand();
			for (int c = 0; c < ch; c++)
				f[i * ch + c] += g;
		}
	}
	rng = 0x2545F4914F6CDD1DULL * (o.seed + 7);
	for (int s = 0; s < o.scratches; s++) {
		double v = urand() < 0.7 ? 240 : 15;
		double x = urand() * w, y = urand() * h, ang = urand() * M_PI;
		double len = (0.2 + 0.3 * urand()) * (w > h ? w : h);
		for (double d = 0; d < len; d += 0.5) {
			int xx = (int)(x + d * cos(ang)), yy = (int)(y + d * sin(ang));
			if (xx >= 0 && yy >= 0 && xx < w && yy < h)
				for (int c = 0; c < ch; c++)
					f[((size_t)yy * w + xx) * ch + c] = v;
		}
		int sx = (int)(urand() * (w - 4)), sy = (int)(urand() * (h - 4));
		for (int i = 0; i < 2; i++)
			for (int j = 0; j < 2; j++)
				for (int c = 0; c < ch; c++)
					f[((size_t)(sy + i) * w + sx + j) * ch + c] = 255 - v;
	}
	for (size_t i = 0; i < n; i++)
		px[i] = (uint8_t)lrint(f[i] < 0 ? 0 : f[i] > 255 ? 255 : f[i]);
	free(f);
	free(t);
}

static void
write_jpeg(const uint8_t *px)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr e;
	int ch = o.gray ? 1 : 3;
	uint8_t *row = malloc((size_t)o.w * 4);

	c.err = jpeg_std_error(&e);
	jpeg_create_compress(&c);
	jpeg_stdio_dest(&c, stdout);
	c.image_width = o.w;
	c.image_height = o.h;
	c.input_components = o.cmyk ? 4 : ch;
	c.in_color_space = o.cmyk ? JCS_CMYK : ch == 1 ? JCS_GRAYSCALE : JCS_RGB;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, o.q, TRUE);
	if (o.progressive)
		jpeg_simple_progression(&c);
	jpeg_start_compress(&c, TRUE);
	if (o.exif || o.orientation) {
		unsigned char b[80];
		memcpy(b, "Exif\0\0", 6);
		size_t n = make_exif(b + 6);
		jpeg_write_marker(&c, JPEG_APP0 + 1, b, (unsigned)(n + 6));
	}
	if (o.icc) {
		make_icc();
		jpeg_write_icc_profile(&c, iccblk, sizeof iccblk);
	}
	while (c.next_scanline < c.image_height) {
		const uint8_t *s = px + (size_t)c.next_scanline * o.w * ch;
		JSAMPROW r = row;
		if (o.cmyk)     /* plain (non-Adobe) CMYK: 0 = no ink */
			for (int x = 0; x < o.w; x++) {
				row[4 * x] = 255 - s[3 * x]; row[4 * x + 1] = 255 - s[3 * x + 1];
				row[4 * x + 2] = 255 - s[3 * x + 2]; row[4 * x + 3] = 0;
			}
		else
			memcpy(row, s, (size_t)o.w * ch);
		jpeg_write_scanlines(&c, &r, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	free(row);
}

static void
write_png(const uint8_t *px)
{
	png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(p);
	int ch = o.gray ? 1 : 3, och = ch + (o.alpha ? 1 : 0), bpc = o.depth16 ? 2 : 1;
	int ct = o.palette ? PNG_COLOR_TYPE_PALETTE : ch == 1 ?
	    (o.alpha ? PNG_COLOR_TYPE_GRAY_ALPHA : PNG_COLOR_TYPE_GRAY) :
	    (o.alpha ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB);
	uint8_t *row = malloc((size_t)o.w * 4 * 2);

	if (setjmp(png_jmpbuf(p)))
		errx(1, "libpng failed");
	png_init_io(p, stdout);
	png_set_IHDR(p, info, o.w, o.h, o.depth16 ? 16 : 8, ct,
	    o.interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, 0, 0);
	if (o.palette) {      /* 6x6x6 colour cube */
		png_color pal[216];
		for (int i = 0; i < 216; i++) {
			pal[i].red = (i / 36) * 51; pal[i].green = (i / 6 % 6) * 51; pal[i].blue = i % 6 * 51;
		}
		png_set_PLTE(p, info, pal, 216);
	}
	if (o.icc) {
		make_icc();
		png_set_iCCP(p, info, "test", 0, iccblk, sizeof iccblk);
	}
	if (o.exif || o.orientation) {
		size_t n = make_exif(exifblk);
		png_set_eXIf_1(p, info, (png_uint_32)n, exifblk);
	}
	png_write_info(p, info);
	int passes = o.interlace ? png_set_interlace_handling(p) : 1;
	for (int pass = 0; pass < passes; pass++)
		for (int y = 0; y < o.h; y++) {
			const uint8_t *s = px + (size_t)y * o.w * ch;
			for (int x = 0; x < o.w; x++) {
				if (o.palette) {
					row[x] = (uint8_t)((s[3 * x] + 25) / 51 * 36 + (s[3 * x + 1] + 25) / 51 * 6 +
					    (s[3 * x + 2] + 25) / 51);
					continue;
				}
				for (int k = 0; k < och; k++) {
					unsigned v = k < ch ? s[x * ch + k] : (unsigned)(x * 255 / o.w);
					if (bpc == 2) {
						row[(x * och + k) * 2] = (uint8_t)v;
						row[(x * och + k) * 2 + 1] = (uint8_t)v;
					} else
						row[x * och + k] = (uint8_t)v;
				}
			}
			png_write_row(p, row);
		}
	png_write_end(p, info);
	png_destroy_write_struct(&p, &info);
	free(row);
}

static void
put32(unsigned char *p, unsigned v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

/* rewrite the size in the PNG IHDR (fixing its CRC) or the JPEG SOF */
static void
patch_size(unsigned char *b, size_t n)
{
	if (o.png) {
		put32(b + 16, o.claim_w);
		put32(b + 20, o.claim_h);
		put32(b + 29, (unsigned)crc32(0, b + 12, 17));
		return;
	}
	for (size_t i = 2; i + 9 < n; i++)
		if (b[i] == 0xFF && (b[i + 1] == 0xC0 || b[i + 1] == 0xC2)) {
			b[i + 5] = o.claim_h >> 8; b[i + 6] = o.claim_h & 255;
			b[i + 7] = o.claim_w >> 8; b[i + 8] = o.claim_w & 255;
			return;
		}
}

int
main(int argc, char *argv[])
{
	char fmt[8];

	if (argc < 2 || sscanf(argv[1], "%7[a-z]:%dx%d", fmt, &o.w, &o.h) != 3 ||
	    o.w <= 0 || o.h <= 0 || (strcmp(fmt, "jpeg") != 0 && strcmp(fmt, "png") != 0))
		errx(64, "usage: mkimg jpeg:WxH|png:WxH [option ...]");
	o.png = fmt[0] == 'p';
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "gray")) o.gray = 1;
		else if (!strcmp(a, "alpha")) o.alpha = 1;
		else if (!strcmp(a, "palette")) o.palette = 1;
		else if (!strcmp(a, "interlace")) o.interlace = 1;
		else if (!strcmp(a, "progressive")) o.progressive = 1;
		else if (!strcmp(a, "cmyk")) o.cmyk = 1;
		else if (!strcmp(a, "depth=16")) o.depth16 = 1;
		else if (!strcmp(a, "exif")) o.exif = 1;
		else if (!strcmp(a, "icc")) o.icc = 1;
		else if (!strcmp(a, "texture")) o.texture = 1;
		else if (!strcmp(a, "highlights")) o.highlights = 1;
		else if (!strcmp(a, "rims")) o.rims = 1;
		else if (!strcmp(a, "stripes")) o.stripes = 1;
		else if (!strcmp(a, "outlines")) o.outlines = 1;
		else if (!strncmp(a, "strokes=", 8)) o.strokes = atoi(a + 8) > 0 ? atoi(a + 8) : 1;
		else if (!strncmp(a, "q=", 2)) o.q = atoi(a + 2);
		else if (!strncmp(a, "orientation=", 12)) o.orientation = atoi(a + 12);
		else if (!strncmp(a, "seed=", 5)) o.seed = (unsigned)atoi(a + 5);
		else if (!strncmp(a, "noise=", 6)) o.noise = atof(a + 6);
		else if (!strncmp(a, "lnoise=", 7)) o.lnoise = atof(a + 7);
		else if (!strncmp(a, "cnoise=", 7)) o.cnoise = atof(a + 7);
		else if (!strncmp(a, "grain=", 6)) o.grain = atof(a + 6);
		else if (!strncmp(a, "soft=", 5)) o.soft = atof(a + 5);
		else if (!strncmp(a, "blur=", 5)) o.blur = atof(a + 5);
		else if (!strncmp(a, "focus=", 6)) o.focus = atof(a + 6);
		else if (!strncmp(a, "desat=", 6)) o.desat = atof(a + 6);
		else if (!strncmp(a, "fade=", 5)) o.fade = atof(a + 5);
		else if (!strncmp(a, "sepia=", 6)) o.sepia = atof(a + 6);
		else if (!strncmp(a, "cast=", 5)) o.cast = atof(a + 5);
		else if (!strncmp(a, "upscale=", 8)) o.upscale = atoi(a + 8);
		else if (!strncmp(a, "scratches=", 10)) o.scratches = atoi(a + 10);
		else if (!strncmp(a, "claim=", 6) &&
		    sscanf(a + 6, "%ux%u", &o.claim_w, &o.claim_h) == 2) ;
		else errx(64, "unknown option %s", a);
	}
	uint8_t *px = scene();
	damage(px);
	char *mem = NULL;
	size_t len = 0;
	FILE *real = stdout;
	if (o.claim_w && (stdout = open_memstream(&mem, &len)) == NULL)
		err(1, "open_memstream");
	if (o.png) write_png(px); else write_jpeg(px);
	free(px);
	if (o.claim_w) {
		fclose(stdout);
		stdout = real;
		patch_size((unsigned char *)mem, len);
		fwrite(mem, 1, len, stdout);
		free(mem);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
