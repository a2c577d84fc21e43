/* Q4_K_R16 (block_q4_K_r16, 16 rows interleaved) times Q8_K x rows with AVX-512 VNNI
 * (gn_gemm_q_fn).
 *
 * Lane r of every vector belongs to W row r: a vpdpbusd with 4 x quants broadcast from memory
 * adds 4 products to each of 16 rows, so per x row a sub-block of 32 values costs 8 of them,
 * then one integer multiply by the 16 rows' scales. The mins come off once per super-block
 * through x's sub-block sums (vpdpwssd with pairs of mins), and each row's integer sums turn
 * into float once per super-block. No horizontal sums: the 16 results of an x row are one
 * vector. A tile is one 16-row block against up to TILE_C x rows, so each 64 bytes of quants,
 * unpacked into low and high nibbles, serve TILE_C rows from registers. Each x row's dot over
 * a sub-block runs as two chains (one per nibble), so 2 TILE_C vpdpbusd are in flight: 6 rows
 * in two chains made a 127-token prefill on Zen 4 0.945x the time of 8 rows in one chain each
 * (one core, 128 x 256 x 2048: 376 against 361 GOP/s; 8 rows in two chains, which spill, 373;
 * on Ice Lake 8 rows in one chain had been ~4% faster than 4). The sums are exact integers, so
 * every lane computes what the scalar twin does and results do not depend on M, the tiling or
 * the threads.
 *
 * A panel is one stream of bytes; decode adds software prefetches where gn_stream_prefetch()
 * says the hardware prefetcher alone falls short. */
#include <immintrin.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

#define TILE_C 6


static GN_ALWAYS_INLINE void tile(const int C, const int prefetch, int64_t nb, const block_q4_K_r16 *w,
                                  const uint8_t *xq, int64_t x_rb, float *y, int64_t ldy) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    __m512 facc[TILE_C];
    for (int c = 0; c < C; c++) facc[c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const block_q4_K_r16 *b = w + i;
        const block_q8_K *xb[TILE_C];
        for (int c = 0; c < C; c++) xb[c] = (const block_q8_K *)(xq + c * x_rb) + i;
        __m512i isum[TILE_C];
        for (int c = 0; c < C; c++) isum[c] = _mm512_setzero_si512();
        for (int s = 0; s < 8; s++) {
            if (prefetch) gn_prefetch_part(b, sizeof *b, s, 8);
            __m512i dot[TILE_C][2]; /* per x row, over the low and over the high nibbles */
            for (int c = 0; c < C; c++) dot[c][0] = dot[c][1] = _mm512_setzero_si512();
            for (int v = 0; v < 4; v++) {
                /* values 4 v .. 4 v + 3 (low nibbles) and 16 + 4 v .. (high), a row a lane */
                const __m512i packed = _mm512_loadu_si512(b->qs[s][v]);
                const __m512i lo = _mm512_and_si512(packed, low4);
                const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low4);
                for (int c = 0; c < C; c++) {
                    const int8_t *a = xb[c]->qs + 32 * s;
                    dot[c][0] = _mm512_dpbusd_epi32(dot[c][0], lo, _mm512_set1_epi32(gn_load_i32(a + 4 * v)));
                    dot[c][1] = _mm512_dpbusd_epi32(dot[c][1], hi, _mm512_set1_epi32(gn_load_i32(a + 16 + 4 * v)));
                }
            }
            const __m512i sc = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)b->scales[s]));
            for (int c = 0; c < C; c++)
                isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(_mm512_add_epi32(dot[c][0], dot[c][1]), sc));
        }
        __m512i mn[4]; /* mn[p]: per row, the mins of sub-blocks 2 p and 2 p + 1 as int16 */
        for (int p = 0; p < 4; p++) mn[p] = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)b->mins[p]));
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)b->d));
        const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)b->dmin));
        for (int c = 0; c < C; c++) {
            /* x's sums of sub-blocks 2 p and 2 p + 1, one dword broadcast from memory */
            __m512i msum = _mm512_setzero_si512();
            for (int p = 0; p < 4; p++)
                msum = _mm512_dpwssd_epi32(msum, mn[p], _mm512_set1_epi32(gn_load_i32(&xb[c]->sums32[2 * p])));
            const __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(isum[c]), d,
                                             _mm512_mul_ps(_mm512_cvtepi32_ps(msum), dmin));
            facc[c] = _mm512_fmadd_ps(t, _mm512_set1_ps(xb[c]->d), facc[c]);
        }
    }
    for (int c = 0; c < C; c++) _mm512_storeu_ps(y + c * ldy, facc[c]);
}

typedef void (*tile_fn)(int64_t nb, const block_q4_K_r16 *w, const uint8_t *xq, int64_t x_rb,
                        float *y, int64_t ldy);
#define TILE(C)                                                                                  \
    static void tile_##C(int64_t nb, const block_q4_K_r16 *w, const uint8_t *xq, int64_t x_rb,    \
                         float *y, int64_t ldy) {                                                \
        tile(C, 0, nb, w, xq, x_rb, y, ldy);                                                     \
    }
TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6)
static const tile_fn tiles[TILE_C] = {tile_1, tile_2, tile_3, tile_4, tile_5, tile_6};

static void gemv_prefetch(int64_t nb, const block_q4_K_r16 *w, const uint8_t *xq, int64_t x_rb,
                          float *y, int64_t ldy) {
    tile(1, 1, nb, w, xq, x_rb, y, ldy);
}

/* Each 16-row block of the panel meets every x row, TILE_C at a time, while it is in L1/L2. */
void gn_gemm_q_q4_k_r16_avx512(int64_t M, int64_t N, int64_t K, const void *xq,
                               int64_t xq_row_bytes, const void *w, int64_t w_row_bytes,
                               float *y, int64_t ldy) {
    const int64_t nb = K / QK_K;
    const uint8_t *x8 = (const uint8_t *)xq;
    const int prefetch = M == 1 && gn_stream_prefetch();
    for (int64_t n = 0; n < N; n += GN_R16) {
        const block_q4_K_r16 *wg = (const block_q4_K_r16 *)((const uint8_t *)w + n * w_row_bytes);
        if (prefetch) {
            gemv_prefetch(nb, wg, x8, xq_row_bytes, y + n, ldy);
            continue;
        }
        for (int64_t m = 0; m < M; m += TILE_C) {
            const int c = (int)(M - m < TILE_C ? M - m : TILE_C);
            tiles[c - 1](nb, wg, x8 + m * xq_row_bytes, xq_row_bytes, y + m * ldy + n, ldy);
        }
    }
}
