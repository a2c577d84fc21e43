/* Helpers of the 256-bit kernels for the 16-row interleaved layouts (gemm_q_r16_avx2.c,
 * gemm_q8_k_r16_avx2.c and their AVX-VNNI versions): a 16-row block is walked as two halves of
 * 8 rows, one row per int32 lane. Include only from files compiled with AVX2 flags. */
#ifndef GN_R16_AVX2_H
#define GN_R16_AVX2_H

#include <immintrin.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

#define HALF 8

/* The 8-bit scales of sub-block s (scales[s][r], r < 16) for rows h * 8 .., each in both int16
 * of its row's lane: one madd of int16 pair sums gives scale * dot per row. */
static GN_ALWAYS_INLINE __m256i row_scales(const uint8_t scales[8][GN_R16], int s, int h) {
    const __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)&scales[s][HALF * h]));
    return _mm256_or_si256(sc, _mm256_slli_epi32(sc, 16));
}

/* facc + (isum * d - msum * dmin) * x.d for rows h * 8 .. h * 8 + 7 of block b, where isum
 * holds each row's scaled integer dot and msum, formed here, its mins times x's sub-block
 * sums: the per-block float step of the Q4_K_R16 kernels, in the scalar twin's order. */
static GN_ALWAYS_INLINE __m256 q4k_add_block(__m256 facc, const block_q4_K_r16 *b, int h,
                                             __m256i isum, const block_q8_K *xb) {
    __m256i msum = _mm256_setzero_si256();
    for (int p = 0; p < 4; p++) {
        /* per row, the mins of sub-blocks 2 p and 2 p + 1 as int16, against x's sums of those
         * sub-blocks, one dword broadcast from memory */
        const __m256i mn = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)b->mins[p][HALF * h]));
        msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mn, _mm256_set1_epi32(gn_load_i32(&xb->sums32[2 * p]))));
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)&b->d[HALF * h]));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)&b->dmin[HALF * h]));
    const __m256 t = _mm256_fmsub_ps(_mm256_cvtepi32_ps(isum), d,
                                     _mm256_mul_ps(_mm256_cvtepi32_ps(msum), dmin));
    return _mm256_fmadd_ps(t, _mm256_set1_ps(xb->d), facc);
}

#endif
