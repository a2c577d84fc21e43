/* Helpers of the AVX2 kernels for the 16-row interleaved layouts (gemm_q_r16_avx2.c,
 * gemm_q8_k_r16_avx2.c): a 16-row block is walked as two halves of 8 rows, one row per int32
 * lane. Include only from files compiled with AVX2 flags. */
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

#endif
