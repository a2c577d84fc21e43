/* Activation rows to Q8_K / Q8_32 blocks (rule in quant_blocks.h), the AVX2 twin. The same
 * float operations as the scalar twin (an exact max, one division for the inverse scale, one
 * multiply per value) and a conversion that rounds half to even under the default MXCSR, so
 * the bytes are those of the scalar twin. */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

static inline int hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* amax over n values (n a multiple of 32): |x| by clearing the sign bit, so the max is exact
 * in any order; NaN where one of them is. */
static inline float block_amax(const float *x, int n) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps(), unordered = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) {
        const __m256 v = _mm256_loadu_ps(x + j);
        m = _mm256_max_ps(m, _mm256_and_ps(abs_mask, v));
        unordered = _mm256_or_ps(unordered, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    if (_mm256_movemask_ps(unordered)) return NAN;
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 32 values -> 32 int8 in q, and the sums of the first and the second 16 of them. */
static inline void quantize32(const float *x, __m256 iscale, int8_t *q, int *sum_lo, int *sum_hi) {
    const __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), iscale));
    const __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), iscale));
    const __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), iscale));
    const __m256i e = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), iscale));
    /* the packs interleave 128-bit lanes; the permute restores element order */
    const __m256i ab = _mm256_packs_epi32(a, b), ce = _mm256_packs_epi32(c, e);
    const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, ce),
                                                      _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, bytes);
    *sum_lo = hsum_epi32(_mm256_add_epi32(a, b));
    *sum_hi = hsum_epi32(_mm256_add_epi32(c, e));
}

/* One block of n values (a multiple of 32); sums[i] = sum of q over the i-th 16. */
static float quantize_block(const float *x, int8_t *q, int n, int *sums) {
    const float amax = block_amax(x, n), is = gn_q8_iscale(amax);
    if (is == 0.0f) {
        memset(q, 0, (size_t)n);
        for (int j = 0; j < n / 16; j++) sums[j] = 0;
        return gn_q8_zero_d(amax);
    }
    const __m256 iscale = _mm256_set1_ps(is);
    for (int j = 0; j < n; j += 32)
        quantize32(x + j, iscale, q + j, &sums[j / 16], &sums[j / 16 + 1]);
    return amax / 127.0f;
}

void gn_quantize_q8_k_avx2(const float *x, void *dst, int64_t k) {
    block_q8_K *b = (block_q8_K *)dst;
    int sums[QK_K / 16];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        b[i].d = quantize_block(x, b[i].qs, QK_K, sums);
        for (int g = 0; g < QK_K / 16; g++) b[i].bsums[g] = (int16_t)sums[g];
        gn_q8_k_fill_sums32(&b[i]);
    }
}

void gn_quantize_q8_32_avx2(const float *x, void *dst, int64_t k) {
    block_q8_32 *b = (block_q8_32 *)dst;
    int sums[2];
    for (int64_t i = 0; i < k / 32; i++, x += 32) {
        b[i].d = quantize_block(x, b[i].qs, 32, sums);
        b[i].sum = sums[0] + sums[1];
    }
}
#endif
