/* Block-quantized W times int8-quantized x with AVX-512 BW + VNNI (gn_gemm_q_fn).
 *
 * Unsigned W quants (4-bit, or 6-bit for Q6_K) meet signed x quants in vpmaddubsw (u8 x s8 ->
 * s16 pairs, far from saturation: at most 2 * 63 * 127), and vpdpwssd multiplies those pairs by
 * the sub-block's scale while adding them into int32 lanes; so a whole super-block stays exact
 * in integers and becomes float once. Offsets (Q4_K's mins, Q6_K's 32, Q4_0's 8) come off
 * through the x block sums. Q8_0's signed quants use dpbusd on x + 128 (see there).
 *
 * Tiles of R W rows x C x rows share each unpacked W block across the C x rows and each x
 * load across the R W rows: decode (M = 1) walks 4 W rows at once so 4 independent load
 * streams hide memory latency, prefill walks 2 W rows x 4 x rows. Every output is computed by
 * the same sequence of operations whatever tile it falls in, so results do not depend on M,
 * on the panel split or on the thread count. */
#include <immintrin.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

#define MAX_R 4
#define MAX_C 4

static GN_ALWAYS_INLINE float f16(uint16_t h) { return _cvtsh_ss(h); }

static GN_ALWAYS_INLINE uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

#ifndef PF_DIST
#define PF_DIST 2048
#endif
static GN_ALWAYS_INLINE void prefetch_ahead(const void *block, size_t bytes) {
    const char *p = (const char *)block;
    for (size_t o = 0; o < bytes + 63; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
}

/* 8 bytes -> 8 int32 lanes holding the byte in both int16 halves, the layout vpdpwssd and
 * vpmaddwd need to multiply pairs of int16 by one value. */
static GN_ALWAYS_INLINE __m256i pairs_of_u8(uint64_t bytes) {
    const __m256i v = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)bytes));
    return _mm256_or_si256(v, _mm256_slli_epi32(v, 16));
}

/* int32 lanes 0-7 get pair[2 j], lanes 8-15 pair[2 j + 1]: the scales of a 64-value chunk
 * whose first and second 32 values have their own scale. */
static GN_ALWAYS_INLINE __m512i chunk_scales(__m256i pairs, int j) {
    const __m512i idx = _mm512_inserti64x4(_mm512_set1_epi32(2 * j), _mm256_set1_epi32(2 * j + 1), 1);
    return _mm512_permutexvar_epi32(idx, _mm512_castsi256_si512(pairs));
}

/* ---- Q4_K x Q8_K ---------------------------------------------------------------------- */

static GN_ALWAYS_INLINE void q4_k_tile(const int R, const int C, int64_t nb, const uint8_t *w,
                                       int64_t w_rb, const uint8_t *xq, int64_t x_rb, float *y,
                                       int64_t ldy) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __m512i nibble_shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    __m512 facc[MAX_R][MAX_C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) facc[r][c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const block_q4_K *wb[MAX_R];
        const block_q8_K *xb[MAX_C];
        for (int r = 0; r < R; r++) wb[r] = (const block_q4_K *)(w + r * w_rb) + i;
        prefetch_ahead(w + R * w_rb + PF_DIST + i * R * (int64_t)sizeof(block_q4_K), R * sizeof(block_q4_K));
        for (int c = 0; c < C; c++) xb[c] = (const block_q8_K *)(xq + c * x_rb) + i;
        __m256i sc[MAX_R], mn[MAX_R];
        for (int r = 0; r < R; r++) {
            /* 12 bytes -> eight 6-bit scales and eight 6-bit mins (layout: gn_q4k_scale_min) */
            const uint32_t a = load_u32(wb[r]->scales), b = load_u32(wb[r]->scales + 4),
                           c = load_u32(wb[r]->scales + 8);
            const uint32_t sc_lo = a & 0x3f3f3f3fu, sc_hi = (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u);
            const uint32_t mn_lo = b & 0x3f3f3f3fu, mn_hi = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u);
            sc[r] = pairs_of_u8(sc_lo | (uint64_t)sc_hi << 32);
            mn[r] = pairs_of_u8(mn_lo | (uint64_t)mn_hi << 32);
        }
        __m512i iacc[MAX_R][MAX_C];
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) iacc[r][c] = _mm512_setzero_si512();
        for (int j = 0; j < 4; j++) {
            /* 32 bytes hold the 64 values of chunk j: low nibbles the first 32, high nibbles
             * the last 32; both halves of a broadcast, shifted apart, give x's value order */
            __m512i q[MAX_R], s[MAX_R];
            for (int r = 0; r < R; r++) {
                const __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(wb[r]->qs + 32 * j)));
                q[r] = _mm512_and_si512(_mm512_srlv_epi16(v, nibble_shift), low4);
                s[r] = chunk_scales(sc[r], j);
            }
            for (int c = 0; c < C; c++) {
                const __m512i x = _mm512_loadu_si512(xb[c]->qs + 64 * j);
                for (int r = 0; r < R; r++)
                    iacc[r][c] = _mm512_dpwssd_epi32(iacc[r][c], _mm512_maddubs_epi16(q[r], x), s[r]);
            }
        }
        for (int c = 0; c < C; c++) {
            const __m256i bsums = _mm256_loadu_si256((const __m256i *)xb[c]->bsums);
            const __m512 dx = _mm512_set1_ps(xb[c]->d);
            for (int r = 0; r < R; r++) {
                const __m256 mins = _mm256_cvtepi32_ps(_mm256_madd_epi16(bsums, mn[r]));
                const __m256 mterm = _mm256_mul_ps(mins, _mm256_set1_ps(-f16(wb[r]->dmin)));
                const __m512 t = _mm512_fmadd_ps(_mm512_cvtepi32_ps(iacc[r][c]), _mm512_set1_ps(f16(wb[r]->d)),
                                                 _mm512_zextps256_ps512(mterm));
                facc[r][c] = _mm512_fmadd_ps(t, dx, facc[r][c]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) y[c * ldy + r] = _mm512_reduce_add_ps(facc[r][c]);
}

/* ---- tiling ------------------------------------------------------------------------- */

typedef void (*tile_fn)(int64_t nb, const uint8_t *w, int64_t w_rb, const uint8_t *xq, int64_t x_rb,
                        float *y, int64_t ldy);

#define TILE(kind, R, C)                                                                        \
    static void kind##_tile_##R##x##C(int64_t nb, const uint8_t *w, int64_t w_rb,              \
                                      const uint8_t *xq, int64_t x_rb, float *y, int64_t ldy) { \
        kind##_tile(R, C, nb, w, w_rb, xq, x_rb, y, ldy);                                       \
    }
#define TILES(kind)                                                                             \
    TILE(kind, 4, 1) TILE(kind, 1, 1) TILE(kind, 1, 2) TILE(kind, 1, 3) TILE(kind, 1, 4)       \
    TILE(kind, 2, 1) TILE(kind, 2, 2) TILE(kind, 2, 3) TILE(kind, 2, 4)                         \
    static const tile_fn kind##_gemm_tiles[2][4] = {                                            \
        {kind##_tile_1x1, kind##_tile_1x2, kind##_tile_1x3, kind##_tile_1x4},                   \
        {kind##_tile_2x1, kind##_tile_2x2, kind##_tile_2x3, kind##_tile_2x4}};

/* M = 1: 4 W rows per pass, then single rows. M > 1: blocks of 4 x rows, each walking the
 * panel's W rows 2 at a time while those rows stay in L1. */
static void run_tiles(const tile_fn gemv4, const tile_fn gemm[2][4], int64_t M, int64_t N,
                      int64_t nb, const void *xq, int64_t x_rb, const void *w, int64_t w_rb,
                      float *y, int64_t ldy) {
    const uint8_t *x8 = (const uint8_t *)xq, *w8 = (const uint8_t *)w;
    if (M == 1) {
        int64_t n = 0;
        for (; n + 4 <= N; n += 4) gemv4(nb, w8 + n * w_rb, w_rb, x8, x_rb, y + n, ldy);
        for (; n < N; n++) gemm[0][0](nb, w8 + n * w_rb, w_rb, x8, x_rb, y + n, ldy);
        return;
    }
    for (int64_t m = 0; m < M; m += MAX_C) {
        const int c = (int)(M - m < MAX_C ? M - m : MAX_C);
        for (int64_t n = 0; n < N; n += 2) {
            const int r = N - n < 2 ? 1 : 2;
            gemm[r - 1][c - 1](nb, w8 + n * w_rb, w_rb, x8 + m * x_rb, x_rb, y + m * ldy + n, ldy);
        }
    }
}

TILES(q4_k)

void gn_gemm_q_q4_k_avx512(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                           const void *w, int64_t w_row_bytes, float *y, int64_t ldy) {
    run_tiles(q4_k_tile_4x1, q4_k_gemm_tiles, M, N, K / QK_K, xq, xq_row_bytes, w, w_row_bytes, y, ldy);
}
