/* Activation rows to Q8_K / Q8_32 blocks (rule in quant_blocks.h) with AVX-512. Byte-identical
 * to the scalar twin: the maximum is exact, 127 / amax is the same scalar division, the
 * product x * iscale is one IEEE multiply either way, and vcvtps2dq rounds half to even as
 * lrintf does; vpmovdb keeps the low byte as the scalar (int8_t) cast does, so even the
 * out-of-range results of an overflowing scale (amax below ~4e-37) agree. */
#include <immintrin.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

/* q[0:n] from x[0:n], n a multiple of 16; returns d. */
static float quantize_block(const float *x, int8_t *q, int n) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 m = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) m = _mm512_max_ps(m, _mm512_andnot_ps(sign, _mm512_loadu_ps(x + j)));
    const float amax = _mm512_reduce_max_ps(m);
    if (amax == 0.0f) {
        memset(q, 0, (size_t)n);
        return 0.0f;
    }
    const __m512 iscale = _mm512_set1_ps(127.0f / amax);
    for (int j = 0; j < n; j += 16) {
        const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + j), iscale));
        _mm_storeu_si128((__m128i *)(q + j), _mm512_cvtepi32_epi8(v));
    }
    return amax / 127.0f;
}

void gn_quantize_q8_k_avx512(const float *x, void *dst, int64_t k) {
    block_q8_K *b = (block_q8_K *)dst;
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        b[i].d = quantize_block(x, b[i].qs, QK_K);
        gn_q8_k_fill_bsums(&b[i]);
    }
}

void gn_quantize_q8_32_avx512(const float *x, void *dst, int64_t k) {
    block_q8_32 *b = (block_q8_32 *)dst;
    for (int64_t i = 0; i < k / 32; i++, x += 32) {
        b[i].d = quantize_block(x, b[i].qs, 32);
        gn_q8_32_fill_sum(&b[i]);
    }
}
