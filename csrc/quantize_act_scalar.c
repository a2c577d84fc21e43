/* Activation rows to Q8_K / Q8_32 blocks (rule in quant_blocks.h), the scalar twin. lrintf
 * rounds half to even in the default rounding mode, as the SIMD conversions do, so every ISA
 * writes the same bytes. */
#include "gn_kernels.h"
#include "quant_blocks.h"
#include <math.h>

/* q[0:n] from x[0:n]; returns d. */
static float quantize_block(const float *x, int8_t *q, int n) {
    float amax = 0.0f;
    int unordered = 0;
    for (int j = 0; j < n; j++) {
        amax = fmaxf(amax, fabsf(x[j]));
        unordered |= isnan(x[j]);
    }
    if (unordered) amax = NAN;
    const float iscale = gn_q8_iscale(amax);
    if (iscale == 0.0f) {
        memset(q, 0, (size_t)n);
        return gn_q8_zero_d(amax);
    }
    for (int j = 0; j < n; j++) q[j] = (int8_t)lrintf(x[j] * iscale);
    return amax / 127.0f;
}

void gn_quantize_q8_k_scalar(const float *x, void *dst, int64_t k) {
    block_q8_K *b = (block_q8_K *)dst;
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        b[i].d = quantize_block(x, b[i].qs, QK_K);
        gn_q8_k_fill_bsums(&b[i]);
    }
}

void gn_quantize_q8_32_scalar(const float *x, void *dst, int64_t k) {
    block_q8_32 *b = (block_q8_32 *)dst;
    for (int64_t i = 0; i < k / 32; i++, x += 32) {
        b[i].d = quantize_block(x, b[i].qs, 32);
        gn_q8_32_fill_sum(&b[i]);
    }
}
