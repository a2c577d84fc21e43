/* Row quantizers behind gn_quantize: each encodes k floats (a whole number of blocks, checked
 * by the caller) into k / block_elems blocks, per row of the type's row group. Internal to the
 * library. */
#ifndef GN_QUANTIZE_ROWS_H
#define GN_QUANTIZE_ROWS_H

#include <stdint.h>

void gn_quantize_row_f16(const float *x, void *dst, int64_t k);
void gn_quantize_row_q4_0(const float *x, void *dst, int64_t k);
void gn_quantize_row_q8_0(const float *x, void *dst, int64_t k);
void gn_quantize_row_q4_k(const float *x, void *dst, int64_t k);
/* Interleaved types take 16 rows at once: x holds them k floats apart, dst gets their blocks. */
void gn_quantize_group_q8_k_r16(const float *x, void *dst, int64_t k);

#endif
