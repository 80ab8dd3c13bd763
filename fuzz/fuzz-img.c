/* fuzz-img: libFuzzer target for the decode path (lib/img.c): sniff,
 * header limits, full JPEG/PNG decode, EXIF orientation, then a PNG
 * encode of whatever decoded. Build and run: see fuzz/README. */
#include <stdint.h>
#include <stdlib.h>

#include "img.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img_limits lim = { .max_bytes = 1 << 22, .max_pixels = 1 << 22, .max_side = 4096 };
	struct img im;
	unsigned char *out;
	size_t len;

	if (img_decode("fuzz", data, size, &lim, 0, 1, &im) == 0) {
		if (img_encode("fuzz", &im, IMG_PNG, 0, &out, &len) == 0)
			free(out);
		img_free(&im);
	}
	if (img_decode("fuzz", data, size, &lim, IMG_VALIDATE, 4, &im) == 0)
		img_free(&im);
	return 0;
}
