/* fuzz-img: libFuzzer target for the decode path (lib/img.c): sniff,
 * header limits, full JPEG/PNG decode, EXIF orientation, then a PNG
 * encode of whatever decoded, on two threads, which must decode to the
 * same pixels. Build and run: see fuzz/README. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img_limits lim = { .max_bytes = 1 << 22, .max_pixels = 1 << 22, .max_side = 4096 };
	struct img im, back;
	unsigned char *out;
	size_t len;

	if (img_decode("fuzz", data, size, &lim, 0, 1, &im) == 0) {
		if (img_encode("fuzz", &im, IMG_PNG, 0, 2, &out, &len) == 0) {
			if (img_decode("fuzz", out, len, &lim, 0, 1, &back) != 0 ||
			    back.w != im.w || back.h != im.h || back.ch != im.ch ||
			    memcmp(back.px, im.px, (size_t)im.w * im.h * im.ch) != 0)
				abort();
			img_free(&back);
			free(out);
		}
		img_free(&im);
	}
	if (img_decode("fuzz", data, size, &lim, IMG_VALIDATE, 4, &im) == 0)
		img_free(&im);
	return 0;
}
