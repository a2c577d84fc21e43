/* Q8_K_R16 (block_q8_K_r16: float weights quantized at load to 8 bits, 16 rows interleaved)
 * times Q8_K x rows with AVX2 (gn_gemm_q_fn).
 *
 * A 16-row block is walked as two halves of 8 rows, one row per int32 lane, as in the
 * Q4_K_R16 kernel. maddubs multiplies unsigned by signed bytes, so it takes |q| and x with q's
 * sign (the product is the same) for 4 values of each row against 4 x quants broadcast to every
 * lane, adding them in pairs (|.| <= 2 * 127 * 127: no saturation); one madd with the rows'
 * sub-block scales, each in both int16 of its row's lane, widens the pairs to int32 and scales
 * them. That leaves the scalar twin's exact integer, which turns into float once per
 * super-block in the twin's order, so the two agree bit for bit, whatever M, the tiling or the
 * threads. 16 vector registers hold TILE_C accumulators of each kind, the quants, their
 * magnitudes and the scales. */
#if defined(__x86_64__) || defined(_M_X64)
#include "r16_avx2.h"

#define TILE_C 2

/* A 16-row block panel against C x rows: each broadcast of 4 x quants serves both halves. */
static GN_ALWAYS_INLINE void tile(const int C, int64_t nb, const block_q8_K_r16 *w,
                                  const uint8_t *xq, int64_t x_rb, float *y, int64_t ldy) {
    __m256 facc[TILE_C][2];
    for (int c = 0; c < C; c++) facc[c][0] = facc[c][1] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const block_q8_K_r16 *b = w + i;
        const block_q8_K *xb[TILE_C];
        for (int c = 0; c < C; c++) xb[c] = (const block_q8_K *)(xq + c * x_rb) + i;
        __m256i isum[TILE_C][2];
        for (int c = 0; c < C; c++) isum[c][0] = isum[c][1] = _mm256_setzero_si256();
        for (int s = 0; s < 8; s++) {
            const __m256i sc[2] = {row_scales(b->scales, s, 0), row_scales(b->scales, s, 1)};
            for (int v = 0; v < 8; v++) {
                __m256i q[2], mag[2];
                for (int h = 0; h < 2; h++) {
                    q[h] = _mm256_loadu_si256((const __m256i *)b->qs[s][v][HALF * h]);
                    mag[h] = _mm256_abs_epi8(q[h]);
                }
                for (int c = 0; c < C; c++) {
                    const __m256i x = _mm256_set1_epi32(gn_load_i32(xb[c]->qs + 32 * s + 4 * v));
                    for (int h = 0; h < 2; h++) {
                        const __m256i p = _mm256_maddubs_epi16(mag[h], _mm256_sign_epi8(x, q[h]));
                        isum[c][h] = _mm256_add_epi32(isum[c][h], _mm256_madd_epi16(p, sc[h]));
                    }
                }
            }
        }
        for (int h = 0; h < 2; h++) {
            const __m256 d = _mm256_loadu_ps(&b->d[HALF * h]);
            for (int c = 0; c < C; c++)
                facc[c][h] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(isum[c][h]), d),
                                             _mm256_set1_ps(xb[c]->d), facc[c][h]);
        }
    }
    for (int c = 0; c < C; c++)
        for (int h = 0; h < 2; h++) _mm256_storeu_ps(y + c * ldy + HALF * h, facc[c][h]);
}

#define GN_Q8_K_R16_NAME gn_gemm_q_q8_k_r16_avx2
#include "gemm_q8_k_r16_walk.h"
#endif
