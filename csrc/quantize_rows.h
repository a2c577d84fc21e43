/* Row quantizers behind gn_quantize: each encodes k floats (a whole number of blocks, checked
 * by the caller) into k / block_elems blocks. Internal to the library. */
#ifndef GN_QUANTIZE_ROWS_H
#define GN_QUANTIZE_ROWS_H

#include <stdint.h>

void gn_quantize_row_f16(const float *x, void *dst, int64_t k);
void gn_quantize_row_q4_0(const float *x, void *dst, int64_t k);
void gn_quantize_row_q8_0(const float *x, void *dst, int64_t k);
void gn_quantize_row_q4_k(const float *x, void *dst, int64_t k);

#endif
