/* Q8_K_R16 (block_q8_K_r16: float weights quantized at load to 8 bits, 16 rows interleaved)
 * times Q8_K x rows with AVX-512 VNNI (gn_gemm_q_fn), laid out as the Q4_K_R16 kernel
 * (gemm_q_r16_avx512.c): lane r of every vector is W row r, a vpdpbusd adds 4 products to each
 * of 16 rows, one integer multiply per sub-block applies the rows' scales.
 *
 * vpdpbusd multiplies unsigned by signed bytes, and both W and x are signed. W's quants are
 * offset by 128 into unsigned bytes (one xor per vector, shared by the tile's x rows), which
 * adds 128 * scale * (sum of x over the sub-block) to each row; x's per-16 sums (bsums) take
 * it off again once per super-block, with one vpdpwssd per pair of sub-blocks. The integers
 * wrap in between but end at the scalar twin's exact sum, which turns into float once per
 * super-block in the twin's order, so the two agree bit for bit. Each x row's dot over a
 * sub-block runs as two chains (even and odd groups of 4 values), so 8 vpdpbusd are in flight:
 * one core of Zen 4, 128 x 256 x 1024, 357 against 341 GOP/s with one chain. */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

#define TILE_C 4

static GN_ALWAYS_INLINE void tile(const int C, int64_t nb, const block_q8_K_r16 *w,
                                  const uint8_t *xq, int64_t x_rb, float *y, int64_t ldy) {
    const __m512i offset = _mm512_set1_epi8((char)0x80);
    __m512 facc[TILE_C];
    for (int c = 0; c < C; c++) facc[c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const block_q8_K_r16 *b = w + i;
        const block_q8_K *xb[TILE_C];
        for (int c = 0; c < C; c++) xb[c] = (const block_q8_K *)(xq + c * x_rb) + i;
        __m512i isum[TILE_C];
        for (int c = 0; c < C; c++) isum[c] = _mm512_setzero_si512();
        for (int s = 0; s < 8; s++) {
            __m512i dot[TILE_C][2]; /* per x row, over even and over odd groups of 4 values */
            for (int c = 0; c < C; c++) dot[c][0] = dot[c][1] = _mm512_setzero_si512();
            for (int v = 0; v < 8; v++) {
                /* values 4 v .. 4 v + 3 of the sub-block plus 128, a row a lane */
                const __m512i q = _mm512_xor_si512(_mm512_loadu_si512(b->qs[s][v]), offset);
                for (int c = 0; c < C; c++)
                    dot[c][v & 1] = _mm512_dpbusd_epi32(dot[c][v & 1], q,
                                                        _mm512_set1_epi32(gn_load_i32(xb[c]->qs + 32 * s + 4 * v)));
            }
            const __m512i sc = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b->scales[s]));
            for (int c = 0; c < C; c++)
                isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(_mm512_add_epi32(dot[c][0], dot[c][1]), sc));
        }
        /* sp[p]: per row, the scales of sub-blocks 2 p and 2 p + 1 as two int16 */
        __m512i sp[4];
        for (int p = 0; p < 4; p++)
            sp[p] = _mm512_or_si512(
                _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b->scales[2 * p])),
                _mm512_slli_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b->scales[2 * p + 1])), 16));
        const __m512 d = _mm512_loadu_ps(b->d);
        for (int c = 0; c < C; c++) {
            /* x's per-16 sums -> per-32 sums, two int16 to a dword: dwords 0, 1, 4, 5 hold the
             * pairs of sub-blocks (0, 1), (2, 3), (4, 5), (6, 7) */
            const __m256i bs = _mm256_loadu_si256((const __m256i *)xb[c]->bsums);
            const __m512i pairs = _mm512_castsi256_si512(_mm256_hadd_epi16(bs, bs));
            __m512i off = _mm512_setzero_si512();
            for (int p = 0; p < 4; p++) {
                const int dword = (p & 1) + 4 * (p >> 1);
                off = _mm512_dpwssd_epi32(off, sp[p], _mm512_permutexvar_epi32(_mm512_set1_epi32(dword), pairs));
            }
            const __m512i sum = _mm512_sub_epi32(isum[c], _mm512_slli_epi32(off, 7));
            facc[c] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(sum), d),
                                      _mm512_set1_ps(xb[c]->d), facc[c]);
        }
    }
    for (int c = 0; c < C; c++) _mm512_storeu_ps(y + c * ldy, facc[c]);
}

#define GN_Q8_K_R16_NAME gn_gemm_q_q8_k_r16_avx512
#include "gemm_q8_k_r16_walk.h"
#endif
