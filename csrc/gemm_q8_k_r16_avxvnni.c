/* Q8_K_R16 (block_q8_K_r16: float weights quantized at load to 8 bits, 16 rows interleaved)
 * times Q8_K x rows with AVX-VNNI (gn_gemm_q_fn): the AVX2 level's kernel on CPUs with the
 * VEX-encoded vpdpbusd. The AVX-512 VNNI kernel's arithmetic at half its width
 * (gemm_q8_k_r16_avx512.c): W's quants offset by 128 into unsigned bytes (one xor per vector,
 * shared by the tile's x rows), one vpdpbusd per 4 products of 8 rows where AVX2 spends a sign,
 * a maddubs, a madd and an add, one integer multiply per sub-block for the rows' scales, and
 * x's per-32 sums taking the offset off once per super-block (vpdpwssd with pairs of scales).
 * The integers end at the scalar twin's exact sum, which turns into float in the twin's order,
 * so the two agree bit for bit. A tile walks the two 8-row halves of a block in turn, TILE_C =
 * 4 x rows with two dot chains each (even and odd groups of 4 values), as the Q4_K_R16 kernel
 * (gemm_q_r16_avxvnni.c). The EVEX build with 16 registers on one Zen 4 core, 128 x 256 x
 * 1024: 222-227 GOP/s against the AVX2 kernel's 114-116 (2 x rows: 179-181). */
#include "avxvnni.h"
#include "gn_kernels.h"

#if defined(GN_AVXVNNI)
#include "r16_avx2.h"

#define TILE_C 4

static GN_ALWAYS_INLINE void tile(const int C, int64_t nb, const block_q8_K_r16 *w,
                                  const uint8_t *xq, int64_t x_rb, float *y, int64_t ldy) {
    const __m256i offset = _mm256_set1_epi8((char)0x80);
    for (int h = 0; h < 2; h++) {
        __m256 facc[TILE_C];
        for (int c = 0; c < C; c++) facc[c] = _mm256_setzero_ps();
        for (int64_t i = 0; i < nb; i++) {
            const block_q8_K_r16 *b = w + i;
            const block_q8_K *xb[TILE_C];
            for (int c = 0; c < C; c++) xb[c] = (const block_q8_K *)(xq + c * x_rb) + i;
            __m256i isum[TILE_C];
            for (int c = 0; c < C; c++) isum[c] = _mm256_setzero_si256();
            for (int s = 0; s < 8; s++) {
                /* two dot chains per x row (even and odd v), so that 2 C vpdpbusd are in
                 * flight */
                __m256i dot[TILE_C][2];
                for (int c = 0; c < C; c++) dot[c][0] = dot[c][1] = _mm256_setzero_si256();
                for (int v = 0; v < 8; v++) {
                    /* values 4 v .. 4 v + 3 of the sub-block plus 128, a row a lane */
                    const __m256i q = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)b->qs[s][v][HALF * h]), offset);
                    for (int c = 0; c < C; c++)
                        dot[c][v & 1] = GN_DPBUSD256(dot[c][v & 1], q, _mm256_set1_epi32(gn_load_i32(xb[c]->qs + 32 * s + 4 * v)));
                }
                const __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)&b->scales[s][HALF * h]));
                for (int c = 0; c < C; c++)
                    isum[c] = _mm256_add_epi32(isum[c], _mm256_mullo_epi32(_mm256_add_epi32(dot[c][0], dot[c][1]), sc));
            }
            /* sp[p]: per row, the scales of sub-blocks 2 p and 2 p + 1 as two int16 */
            __m256i sp[4];
            for (int p = 0; p < 4; p++)
                sp[p] = _mm256_or_si256(
                    _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)&b->scales[2 * p][HALF * h])),
                    _mm256_slli_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)&b->scales[2 * p + 1][HALF * h])), 16));
            const __m256 d = _mm256_loadu_ps(&b->d[HALF * h]);
            for (int c = 0; c < C; c++) {
                /* x's sums of sub-blocks 2 p and 2 p + 1, one dword broadcast from memory */
                __m256i off = _mm256_setzero_si256();
                for (int p = 0; p < 4; p++)
                    off = GN_DPWSSD256(off, sp[p], _mm256_set1_epi32(gn_load_i32(&xb[c]->sums32[2 * p])));
                const __m256i sum = _mm256_sub_epi32(isum[c], _mm256_slli_epi32(off, 7));
                facc[c] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(sum), d),
                                          _mm256_set1_ps(xb[c]->d), facc[c]);
            }
        }
        for (int c = 0; c < C; c++) _mm256_storeu_ps(y + c * ldy + HALF * h, facc[c]);
    }
}

#define GN_Q8_K_R16_NAME gn_gemm_q_q8_k_r16_avxvnni
#include "gemm_q8_k_r16_walk.h"

gn_gemm_q_fn gn_avxvnni_q8_k_r16(void) { return gn_gemm_q_q8_k_r16_avxvnni; }
#else
gn_gemm_q_fn gn_avxvnni_q8_k_r16(void) { return NULL; }
#endif
