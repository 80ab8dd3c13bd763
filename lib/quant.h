/* quant.h: a JPEG's luma quantisation table read off its decoded pixels
 * (a JPEG saved as PNG has lost its tables, not their mark). The luma
 * of each 8x8 block of the (0, 0) grid is transformed; a coefficient of
 * such a picture sits near a multiple of its step. rs-classify (is it
 * JPEG damage, of what quality) and rs-restore's deblock (the table to
 * project onto) both measure by it. See quant.c for the method. */
#ifndef RS_QUANT_H
#define RS_QUANT_H

#include <stddef.h>
#include <stdint.h>

#define QUANT_BLOCKS 4096     /* blocks worth transforming: sample above */

struct quant {                /* coefficients of the blocks added */
	float *co;            /* 64 per block, natural order */
	int n, cap;
};

/* Whole 8x8 blocks of the (0, 0) grid in the w x h region at (x0, y0). */
long quant_nblocks(int x0, int y0, int w, int h);
/* Of nb blocks, every how many to transform: QUANT_BLOCKS at most. */
#define QUANT_EVERY(nb) ((nb) > QUANT_BLOCKS ? (nb) / QUANT_BLOCKS + 1 : 1)
/* Transform every every-th of those blocks (raster order, the first
 * included) of the region px (stride bytes a row, ch samples a pixel: 3
 * or 4 RGB, else gray first), leaving out blocks with a clipped channel.
 * qa starts zeroed; 0, or -1 when out of memory. */
int  quant_add(struct quant *qa, const uint8_t *px, size_t stride, int ch,
         int x0, int y0, int w, int h, long every);
/* The luma table the blocks added fit: 1 with q filled, 0 when they do
 * not show one (q untouched). */
int  quant_table(const struct quant *qa, uint16_t q[64]);
void quant_free(struct quant *qa);

/* The IJG standard tables (natural order), and base scaled as libjpeg
 * scales it for a quality (1..100; above 100, every step 1). */
extern const uint16_t quant_ijg_luma[64], quant_ijg_chroma[64];
void quant_scaled(const uint16_t base[64], int quality, uint16_t q[64]);

#endif
