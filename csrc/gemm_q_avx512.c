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
#define MAX_C 12
#define GEMM_C 8

static GN_ALWAYS_INLINE float f16(uint16_t h) { return _cvtsh_ss(h); }

static GN_ALWAYS_INLINE uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

#define PF_DIST 2048
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

/* vpackssdw of the dpbusd sums of chunks 2k and 2k+1 (each 128-bit lane: 4 sums of the first
 * chunk, 4 of the second; lanes 0-1 cover a chunk's first 32 values, lanes 2-3 its last 32)
 * -> the sub-block (0..3 within the chunk pair) each int16 came from. */
static const uint16_t pack_sub_block[32] = {0, 0, 0, 0, 2, 2, 2, 2, 0, 0, 0, 0, 2, 2, 2, 2,
                                           1, 1, 1, 1, 3, 3, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3};

static GN_ALWAYS_INLINE float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/* ---- Q4_K x Q8_K ---------------------------------------------------------------------- */

/* Per 64-value chunk, vpdpbusd gives 16 int32 sums of 4 products (at most 4 * 15 * 127, so
 * int16 holds them); two chunks pack into one vector of int16 that one vpmaddwd multiplies by
 * the sub-block scales, which costs fewer multiplies than scaling each chunk. */
static GN_ALWAYS_INLINE void q4_k_tile(const int R, const int C, int64_t nb, const uint8_t *w,
                                       int64_t w_rb, const uint8_t *xq, int64_t x_rb, float *y,
                                       int64_t ldy) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __m512i nibble_shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    const __m512i idx01 = _mm512_loadu_si512(pack_sub_block);
    const __m512i idx23 = _mm512_add_epi16(idx01, _mm512_set1_epi16(4));
    __m256 facc[MAX_R][MAX_C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) facc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const block_q4_K *wb[MAX_R];
        const block_q8_K *xb[MAX_C];
        for (int r = 0; r < R; r++) wb[r] = (const block_q4_K *)(w + r * w_rb) + i;
        prefetch_ahead(w + R * w_rb + PF_DIST + i * R * (int64_t)sizeof(block_q4_K), R * sizeof(block_q4_K));
        for (int c = 0; c < C; c++) xb[c] = (const block_q8_K *)(xq + c * x_rb) + i;
        __m512i q[MAX_R][4], s01[MAX_R], s23[MAX_R];
        __m256i mn[MAX_R];
        __m256 dd[MAX_R], dm[MAX_R];
        for (int r = 0; r < R; r++) {
            /* 12 bytes -> eight 6-bit scales and eight 6-bit mins (layout: gn_q4k_scale_min) */
            const uint32_t a = load_u32(wb[r]->scales), b = load_u32(wb[r]->scales + 4),
                           c = load_u32(wb[r]->scales + 8);
            const uint32_t sc_lo = a & 0x3f3f3f3fu, sc_hi = (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u);
            const uint32_t mn_lo = b & 0x3f3f3f3fu, mn_hi = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u);
            const __m512i sc16 = _mm512_castsi128_si512(
                _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)(sc_lo | (uint64_t)sc_hi << 32))));
            s01[r] = _mm512_permutexvar_epi16(idx01, sc16);
            s23[r] = _mm512_permutexvar_epi16(idx23, sc16);
            mn[r] = pairs_of_u8(mn_lo | (uint64_t)mn_hi << 32);
            dd[r] = _mm256_set1_ps(f16(wb[r]->d));
            dm[r] = _mm256_set1_ps(-f16(wb[r]->dmin));
            /* 32 bytes hold the 64 values of chunk j: low nibbles the first 32, high nibbles
             * the last 32; both halves of a broadcast, shifted apart, give x's value order */
            for (int j = 0; j < 4; j++) {
                const __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(wb[r]->qs + 32 * j)));
                q[r][j] = _mm512_and_si512(_mm512_srlv_epi16(v, nibble_shift), low4);
            }
        }
        for (int c = 0; c < C; c++) {
            const __m256i bsums = _mm256_loadu_si256((const __m256i *)xb[c]->bsums);
            const __m256 dx = _mm256_set1_ps(xb[c]->d);
            for (int r = 0; r < R; r++) {
                __m512i sum[4];
                for (int j = 0; j < 4; j++)
                    sum[j] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[r][j],
                                                 _mm512_loadu_si512(xb[c]->qs + 64 * j));
                const __m512i isum = _mm512_dpwssd_epi32(
                    _mm512_madd_epi16(_mm512_packs_epi32(sum[0], sum[1]), s01[r]),
                    _mm512_packs_epi32(sum[2], sum[3]), s23[r]);
                const __m256i i8 = _mm256_add_epi32(_mm512_castsi512_si256(isum), _mm512_extracti64x4_epi64(isum, 1));
                const __m256 mins = _mm256_cvtepi32_ps(_mm256_madd_epi16(bsums, mn[r]));
                const __m256 t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i8), dd[r], _mm256_mul_ps(mins, dm[r]));
                facc[r][c] = _mm256_fmadd_ps(t, dx, facc[r][c]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) y[c * ldy + r] = hsum256(facc[r][c]);
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
    TILE(kind, 1, 5) TILE(kind, 1, 6) TILE(kind, 1, 7) TILE(kind, 1, 8) TILE(kind, 1, 9)       \
    TILE(kind, 1, 10) TILE(kind, 1, 11) TILE(kind, 1, 12)                                       \
    static const tile_fn kind##_gemm_tiles[12] = {                                              \
        kind##_tile_1x1, kind##_tile_1x2, kind##_tile_1x3, kind##_tile_1x4, kind##_tile_1x5,    \
        kind##_tile_1x6, kind##_tile_1x7, kind##_tile_1x8, kind##_tile_1x9, kind##_tile_1x10,   \
        kind##_tile_1x11, kind##_tile_1x12};

/* M = 1: 4 W rows per pass, then single rows. M > 1: blocks of 4 x rows, each walking the
 * panel's W rows 2 at a time while those rows stay in L1. */
static void run_tiles(const tile_fn gemv4, const tile_fn gemm[12], int64_t M, int64_t N,
                      int64_t nb, const void *xq, int64_t x_rb, const void *w, int64_t w_rb,
                      float *y, int64_t ldy) {
    const uint8_t *x8 = (const uint8_t *)xq, *w8 = (const uint8_t *)w;
    if (M == 1) {
        int64_t n = 0;
        for (; n + 4 <= N; n += 4) gemv4(nb, w8 + n * w_rb, w_rb, x8, x_rb, y + n, ldy);
        for (; n < N; n++) gemm[0](nb, w8 + n * w_rb, w_rb, x8, x_rb, y + n, ldy);
        return;
    }
    for (int64_t m = 0; m < M; m += GEMM_C) {
        const int c = (int)(M - m < GEMM_C ? M - m : GEMM_C);
        for (int64_t n = 0; n < N; n++)
            gemm[c - 1](nb, w8 + n * w_rb, w_rb, x8 + m * x_rb, x_rb, y + m * ldy + n, ldy);
    }
}

TILES(q4_k)

void gn_gemm_q_q4_k_avx512(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                           const void *w, int64_t w_row_bytes, float *y, int64_t ldy) {
    run_tiles(q4_k_tile_4x1, q4_k_gemm_tiles, M, N, K / QK_K, xq, xq_row_bytes, w, w_row_bytes, y, ldy);
}
