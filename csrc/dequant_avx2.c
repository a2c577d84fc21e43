/* AVX2+F16C dequantization. Each output is produced by the same float operations in the same
 * order as the scalar twin (integer->float conversions are exact, then one multiply, or a
 * multiply and a subtract for Q4_K; no FMA), so the results are bit-identical to it. The one
 * exception: F16C sets the quiet bit of a signalling-NaN half, which the scalar path copies
 * unchanged. */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

/* dst[0:16] = d * (float)q for 16 signed bytes */
static inline void scale16(float *dst, __m128i q, __m256 d) {
    const __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
    const __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)));
    _mm256_storeu_ps(dst, _mm256_mul_ps(d, lo));
    _mm256_storeu_ps(dst + 8, _mm256_mul_ps(d, hi));
}

/* dst[0:16] = d * (float)q - m for 16 bytes in 0..15 */
static inline void affine16(float *dst, __m128i q, __m256 d, __m256 m) {
    const __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
    const __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)));
    _mm256_storeu_ps(dst, _mm256_sub_ps(_mm256_mul_ps(d, lo), m));
    _mm256_storeu_ps(dst + 8, _mm256_sub_ps(_mm256_mul_ps(d, hi), m));
}

static inline __m128i low_nibbles(__m128i q) { return _mm_and_si128(q, _mm_set1_epi8(0x0F)); }
static inline __m128i high_nibbles(__m128i q) {
    return _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0F));
}

void gn_dequant_f16_avx2(const void *src, float *dst, int64_t n) {
    const uint16_t *h = (const uint16_t *)src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++) dst[i] = gn_f16_to_f32(h[i]);
}

void gn_to_f16_avx2(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(dst + i), h);
    }
    for (; i < n; i++) dst[i] = gn_f32_to_f16(src[i]);
}

void gn_dequant_bf16_avx2(const void *src, float *dst, int64_t n) {
    const uint16_t *h = (const uint16_t *)src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; i < n; i++) dst[i] = gn_bf16_to_f32(h[i]);
}

void gn_dequant_q4_0_avx2(const void *src, float *dst, int64_t n) {
    const block_q4_0 *b = (const block_q4_0 *)src;
    const __m128i eight = _mm_set1_epi8(8);
    for (int64_t i = 0; i < n / QK4_0; i++, dst += QK4_0) {
        const __m256 d = _mm256_set1_ps(gn_f16_to_f32(b[i].d));
        const __m128i q = _mm_loadu_si128((const __m128i *)b[i].qs);
        scale16(dst, _mm_sub_epi8(low_nibbles(q), eight), d);
        scale16(dst + 16, _mm_sub_epi8(high_nibbles(q), eight), d);
    }
}

void gn_dequant_q8_0_avx2(const void *src, float *dst, int64_t n) {
    const block_q8_0 *b = (const block_q8_0 *)src;
    for (int64_t i = 0; i < n / QK8_0; i++, dst += QK8_0) {
        const __m256 d = _mm256_set1_ps(gn_f16_to_f32(b[i].d));
        scale16(dst, _mm_loadu_si128((const __m128i *)b[i].qs), d);
        scale16(dst + 16, _mm_loadu_si128((const __m128i *)(b[i].qs + 16)), d);
    }
}

void gn_dequant_q4_k_avx2(const void *src, float *dst, int64_t n) {
    const block_q4_K *b = (const block_q4_K *)src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = gn_f16_to_f32(b[i].d), dmin = gn_f16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int j = 0; j < 8; j += 2, q += 32, dst += 64) {
            uint8_t sc, m;
            gn_q4k_scale_min(j, b[i].scales, &sc, &m);
            const __m256 d1 = _mm256_set1_ps(d * (float)sc), m1 = _mm256_set1_ps(dmin * (float)m);
            gn_q4k_scale_min(j + 1, b[i].scales, &sc, &m);
            const __m256 d2 = _mm256_set1_ps(d * (float)sc), m2 = _mm256_set1_ps(dmin * (float)m);
            const __m128i qa = _mm_loadu_si128((const __m128i *)q);
            const __m128i qb = _mm_loadu_si128((const __m128i *)(q + 16));
            affine16(dst, low_nibbles(qa), d1, m1);
            affine16(dst + 16, low_nibbles(qb), d1, m1);
            affine16(dst + 32, high_nibbles(qa), d2, m2);
            affine16(dst + 48, high_nibbles(qb), d2, m2);
        }
    }
}

/* (low 4 bits) | (2 high bits << 4), minus 32: the signed 6-bit quant of Q6_K */
static inline __m128i q6(__m128i low4, __m128i qh, int shift) {
    const __m128i hi2 = _mm_and_si128(_mm_srli_epi16(qh, shift), _mm_set1_epi8(3));
    const __m128i v = _mm_or_si128(low4, _mm_slli_epi16(hi2, 4));
    return _mm_sub_epi8(v, _mm_set1_epi8(32));
}

void gn_dequant_q6_k_avx2(const void *src, float *dst, int64_t n) {
    const block_q6_K *b = (const block_q6_K *)src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = gn_f16_to_f32(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int half = 0; half < 2; half++, dst += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l += 16) {
                const int is = l / 16;
                const __m128i la = _mm_loadu_si128((const __m128i *)(ql + l));
                const __m128i lb = _mm_loadu_si128((const __m128i *)(ql + l + 32));
                const __m128i h = _mm_loadu_si128((const __m128i *)(qh + l));
                scale16(dst + l, q6(low_nibbles(la), h, 0), _mm256_set1_ps(d * (float)sc[is]));
                scale16(dst + l + 32, q6(low_nibbles(lb), h, 2), _mm256_set1_ps(d * (float)sc[is + 2]));
                scale16(dst + l + 64, q6(high_nibbles(la), h, 4), _mm256_set1_ps(d * (float)sc[is + 4]));
                scale16(dst + l + 96, q6(high_nibbles(lb), h, 6), _mm256_set1_ps(d * (float)sc[is + 6]));
            }
        }
    }
}
#endif
