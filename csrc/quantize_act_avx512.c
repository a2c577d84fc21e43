/* Activation rows to Q8_K / Q8_32 blocks (rule in quant_blocks.h) with AVX-512. Byte-identical
 * to the scalar twin: the maximum is exact, 127 / amax is the same scalar division, the
 * product x * iscale is one IEEE multiply either way, and vcvtps2dq rounds half to even as
 * lrintf does.
 *
 * The sums beside the quants come from the stored bytes widened again, in vectors: summed
 * byte by byte in C they made this quantizer take 1.24 ns a value on Zen 4 (0.21 now, about
 * the AVX2 one's time), ~2.6% of a 346-token prompt. */
#include <immintrin.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

/* amax over n values (n a multiple of 16): |x| by clearing the sign bit, exact in any order;
 * NaN where one of them is. */
static inline float block_amax(const float *x, int n) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 m = _mm512_setzero_ps();
    __mmask16 unordered = 0;
    for (int j = 0; j < n; j += 16) {
        const __m512 v = _mm512_loadu_ps(x + j);
        m = _mm512_max_ps(m, _mm512_andnot_ps(sign, v));
        unordered |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    }
    return unordered ? NAN : _mm512_reduce_max_ps(m);
}

/* 16 values -> 16 int8 at q, returned widened to int32 (the stored quants). */
static inline __m512i quantize16(const float *x, __m512 iscale, int8_t *q) {
    const __m128i b = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x), iscale)));
    _mm_storeu_si128((__m128i *)q, b);
    return _mm512_cvtepi8_epi32(b);
}

/* Lane j of the result is the sum of v[j] (16 vectors), folded pairwise as in
 * gemv_f16_avx512.c: 15 adds where 16 horizontal sums would take ~8 operations each. */
static inline __m512i fold_pair(__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
}
static inline __m512i fold_quad(__m512i ab, __m512i cd) {
    return _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
}
static inline __m512i fold_lanes(__m512i u, __m512i v) {
    return _mm512_add_epi32(_mm512_shuffle_i32x4(u, v, 0x88), _mm512_shuffle_i32x4(u, v, 0xDD));
}
static inline __m512i sums16(const __m512i *v) {
    __m512i u[4];
    for (int i = 0; i < 4; i++)
        u[i] = fold_quad(fold_pair(v[4 * i], v[4 * i + 1]), fold_pair(v[4 * i + 2], v[4 * i + 3]));
    return fold_lanes(fold_lanes(u[0], u[1]), fold_lanes(u[2], u[3]));
}

void gn_quantize_q8_k_avx512(const float *x, void *dst, int64_t k) {
    block_q8_K *b = (block_q8_K *)dst;
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        const float amax = block_amax(x, QK_K), is = gn_q8_iscale(amax);
        if (is == 0.0f) {
            memset(&b[i], 0, sizeof b[i]); /* the quants and their sums */
            b[i].d = gn_q8_zero_d(amax);
            continue;
        }
        const __m512 iscale = _mm512_set1_ps(is);
        __m512i v[QK_K / 16];
        for (int j = 0; j < QK_K / 16; j++) v[j] = quantize16(x + 16 * j, iscale, b[i].qs + 16 * j);
        _mm256_storeu_si256((__m256i *)b[i].bsums, _mm512_cvtepi32_epi16(sums16(v)));
        gn_q8_k_fill_sums32(&b[i]);
        b[i].d = amax / 127.0f;
    }
}

void gn_quantize_q8_32_avx512(const float *x, void *dst, int64_t k) {
    block_q8_32 *b = (block_q8_32 *)dst;
    for (int64_t i = 0; i < k / 32; i++, x += 32) {
        const float amax = block_amax(x, 32), is = gn_q8_iscale(amax);
        if (is == 0.0f) {
            memset(&b[i], 0, sizeof b[i]);
            b[i].d = gn_q8_zero_d(amax);
            continue;
        }
        const __m512 iscale = _mm512_set1_ps(is);
        const __m512i lo = quantize16(x, iscale, b[i].qs), hi = quantize16(x + 16, iscale, b[i].qs + 16);
        b[i].sum = _mm512_reduce_add_epi32(_mm512_add_epi32(lo, hi));
        b[i].d = amax / 127.0f;
    }
}
