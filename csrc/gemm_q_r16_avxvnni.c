/* Q4_K_R16 (block_q4_K_r16, 16 rows interleaved) times Q8_K x rows with AVX-VNNI
 * (gn_gemm_q_fn): the AVX2 level's kernel on CPUs with the VEX-encoded vpdpbusd (Intel's cores
 * from Alder Lake on, which have no AVX-512). The AVX-512 VNNI kernel's arithmetic at half its
 * width on the AVX2 kernel's walk: a 16-row block is two halves of 8 rows, one row per int32
 * lane; a vpdpbusd adds 4 products of unsigned W quants and 4 x quants broadcast to every lane
 * into each row, where AVX2 spends a maddubs and an int16 add; one integer multiply per
 * sub-block applies the rows' scales. The mins and the float step are the AVX2 kernel's
 * (q4k_add_block), so all three agree with the scalar twin bit for bit.
 *
 * A sub-block's dot of an x row runs as two chains (low and high nibbles), TILE_C = 4 x rows
 * at a time: one chain of 8 per x row, 2 x rows at a time, left the kernel waiting on
 * vpdpbusd's latency. Measured as the EVEX build with the upper 16 registers barred (what the
 * VEX build has) on one Zen 4 core, 128 x 256 x 2048: 285 GOP/s against the AVX2 kernel's 175
 * (2 x rows and one chain: 186-192). */
#include "avxvnni.h"
#include "gn_kernels.h"

#if defined(GN_AVXVNNI)
#include "r16_avx2.h"

#define TILE_C 4

/* Rows h * 8 .. h * 8 + 7 of a 16-row block panel against C x rows. */
static GN_ALWAYS_INLINE void tile(const int C, int h, int64_t nb, const block_q4_K_r16 *w,
                                  const uint8_t *xq, int64_t x_rb, float *y, int64_t ldy) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m256 facc[TILE_C];
    for (int c = 0; c < C; c++) facc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const block_q4_K_r16 *b = w + i;
        const block_q8_K *xb[TILE_C];
        for (int c = 0; c < C; c++) xb[c] = (const block_q8_K *)(xq + c * x_rb) + i;
        __m256i isum[TILE_C];
        for (int c = 0; c < C; c++) isum[c] = _mm256_setzero_si256();
        for (int s = 0; s < 8; s++) {
            /* two dot chains per x row (low and high nibbles), so that 2 C vpdpbusd are in
             * flight */
            __m256i dot[TILE_C][2];
            for (int c = 0; c < C; c++) dot[c][0] = dot[c][1] = _mm256_setzero_si256();
            for (int v = 0; v < 4; v++) {
                const __m256i packed = _mm256_loadu_si256((const __m256i *)b->qs[s][v][HALF * h]);
                const __m256i lo = _mm256_and_si256(packed, low4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low4);
                for (int c = 0; c < C; c++) {
                    const int8_t *a = xb[c]->qs + 32 * s;
                    dot[c][0] = GN_DPBUSD256(dot[c][0], lo, _mm256_set1_epi32(gn_load_i32(a + 4 * v)));
                    dot[c][1] = GN_DPBUSD256(dot[c][1], hi, _mm256_set1_epi32(gn_load_i32(a + 16 + 4 * v)));
                }
            }
            const __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)&b->scales[s][HALF * h]));
            for (int c = 0; c < C; c++)
                isum[c] = _mm256_add_epi32(isum[c], _mm256_mullo_epi32(_mm256_add_epi32(dot[c][0], dot[c][1]), sc));
        }
        for (int c = 0; c < C; c++) facc[c] = q4k_add_block(facc[c], b, h, isum[c], xb[c]);
    }
    for (int c = 0; c < C; c++) _mm256_storeu_ps(y + c * ldy + HALF * h, facc[c]);
}

/* One x row against both halves of a 16-row block panel in one pass (decode), with the AVX2
 * GEMV's software prefetches (gemm_q_r16_avx2.c). */
static void gemv(int64_t nb, const block_q4_K_r16 *w, const uint8_t *xq, float *y) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m256 facc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t i = 0; i < nb; i++) {
        const block_q4_K_r16 *b = w + i;
        const block_q8_K *xb = (const block_q8_K *)xq + i;
        __m256i isum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int s = 0; s < 8; s++) {
            gn_prefetch_part(b, sizeof *b, s, 8);
            const int8_t *a = xb->qs + 32 * s;
            __m256i dot[2][2]; /* per half, low and high nibbles: four chains */
            for (int h = 0; h < 2; h++) dot[h][0] = dot[h][1] = _mm256_setzero_si256();
            for (int v = 0; v < 4; v++) {
                const __m256i xlo = _mm256_set1_epi32(gn_load_i32(a + 4 * v));
                const __m256i xhi = _mm256_set1_epi32(gn_load_i32(a + 16 + 4 * v));
                for (int h = 0; h < 2; h++) {
                    const __m256i packed = _mm256_loadu_si256((const __m256i *)b->qs[s][v][HALF * h]);
                    dot[h][0] = GN_DPBUSD256(dot[h][0], _mm256_and_si256(packed, low4), xlo);
                    dot[h][1] = GN_DPBUSD256(dot[h][1], _mm256_and_si256(_mm256_srli_epi16(packed, 4), low4), xhi);
                }
            }
            for (int h = 0; h < 2; h++) {
                const __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)&b->scales[s][HALF * h]));
                isum[h] = _mm256_add_epi32(isum[h], _mm256_mullo_epi32(_mm256_add_epi32(dot[h][0], dot[h][1]), sc));
            }
        }
        for (int h = 0; h < 2; h++) facc[h] = q4k_add_block(facc[h], b, h, isum[h], xb);
    }
    _mm256_storeu_ps(y, facc[0]);
    _mm256_storeu_ps(y + HALF, facc[1]);
}

#define GN_Q4_K_R16_NAME gn_gemm_q_q4_k_r16_avxvnni
#include "gemm_q_r16_walk256.h"

gn_gemm_q_fn gn_avxvnni_q4_k_r16(void) { return gn_gemm_q_q4_k_r16_avxvnni; }
#else
gn_gemm_q_fn gn_avxvnni_q4_k_r16(void) { return NULL; }
#endif
