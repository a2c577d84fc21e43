/* Block-quantized W times int8-quantized x with AVX-512 BW + VNNI (gn_gemm_q_fn).
 *
 * vpdpbusd multiplies unsigned W quants (4-bit, or 6-bit for Q6_K; Q8_0's signed ones moved to
 * unsigned by + 128) with signed x quants, 4 products per int32 lane, exactly. Offsets (Q4_K's
 * mins, Q6_K's 32, Q4_0's 8, Q8_0's 128) come off through the x block sums, and a block's
 * integer sum turns into float once, times its scales.
 *
 * Tiles of R W rows x C x rows: decode (M = 1) walks 4 W rows at once, prefetching the bytes
 * one tile ahead (the hardware prefetcher does not follow 4 interleaved row streams here);
 * prefill walks one W row against 8 x rows, so each unpacked W block serves 8 rows from
 * registers. Every output is computed by the same sequence of operations whatever tile it
 * falls in, so results do not depend on M, on the panel split or on the thread count. */
#include <immintrin.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

#define MAX_R 4
#define MAX_C 8
#define GEMM_C MAX_C

static GN_ALWAYS_INLINE float f16(uint16_t h) { return _cvtsh_ss(h); }

/* Bytes past the end of the current tile that decode prefetches, into L2: on a 2-vCPU Sapphire
 * Rapids, a GEMV streaming Q4_K from memory went from 9.5 to 12.4 GB/s per core (prefetches
 * into L1 2 KB ahead: 9.5-11; the read probe: 19). */
#define PF_DIST 4096

/* Prefetch the bytes of the rows after a tile of R rows that correspond to block i of a row:
 * spread over the tile's blocks, this walks the next tile linearly. */
static GN_ALWAYS_INLINE void prefetch_next(const uint8_t *w, int R, int64_t w_rb, int64_t i,
                                           size_t block_bytes) {
    /* past the last tile this points beyond W: integer arithmetic, as prefetches never fault */
    const uintptr_t p = (uintptr_t)w + (uintptr_t)(R * w_rb + PF_DIST + i * R * (int64_t)block_bytes);
    for (size_t o = 0; o < R * block_bytes + 63; o += 64) _mm_prefetch((const char *)(p + o), _MM_HINT_T1);
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

/* The scaled integer dot of one 256-value block: 16 sums of 4 products per 64-value chunk
 * (q[j] . x[64 j ..], each within int16), two chunks packed into one int16 vector that one
 * vpmaddwd multiplies by its sub-block or group scales (s01, s23 laid out by the pack table),
 * which costs fewer multiplies than scaling each chunk; 8 int32 lanes whose sum is the block's. */
static GN_ALWAYS_INLINE __m256i scaled_block_dot(const __m512i q[4], const int8_t *x, __m512i s01,
                                                 __m512i s23) {
    __m512i sum[4];
    for (int j = 0; j < 4; j++)
        sum[j] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[j], _mm512_loadu_si512(x + 64 * j));
    const __m512i isum = _mm512_dpwssd_epi32(_mm512_madd_epi16(_mm512_packs_epi32(sum[0], sum[1]), s01),
                                             _mm512_packs_epi32(sum[2], sum[3]), s23);
    return _mm256_add_epi32(_mm512_castsi512_si256(isum), _mm512_extracti64x4_epi64(isum, 1));
}

/* ---- Q4_K x Q8_K ---------------------------------------------------------------------- */

/* A dpbusd sum of 4 products is at most 4 * 15 * 127, within int16 (scaled_block_dot). */
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
        if (C == 1) prefetch_next(w, R, w_rb, i, sizeof(block_q4_K));
        for (int c = 0; c < C; c++) xb[c] = (const block_q8_K *)(xq + c * x_rb) + i;
        /* one W row at a time: its unpacked block meets every x row of the tile while it
         * is in registers, and no more than one row's block is live */
        for (int r = 0; r < R; r++) {
            uint32_t sc[2], mins[2];
            gn_q4k_scales_mins(wb[r]->scales, sc, mins);
            const __m512i sc16 = _mm512_castsi128_si512(
                _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)(sc[0] | (uint64_t)sc[1] << 32))));
            const __m512i s01 = _mm512_permutexvar_epi16(idx01, sc16);
            const __m512i s23 = _mm512_permutexvar_epi16(idx23, sc16);
            const __m256i mn = pairs_of_u8(mins[0] | (uint64_t)mins[1] << 32);
            const __m256 dd = _mm256_set1_ps(f16(wb[r]->d)), dm = _mm256_set1_ps(-f16(wb[r]->dmin));
            /* 32 bytes hold the 64 values of chunk j: low nibbles the first 32, high nibbles
             * the last 32; both halves of a broadcast, shifted apart, give x's value order */
            __m512i q[4];
            for (int j = 0; j < 4; j++) {
                const __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(wb[r]->qs + 32 * j)));
                q[j] = _mm512_and_si512(_mm512_srlv_epi16(v, nibble_shift), low4);
            }
            for (int c = 0; c < C; c++) {
                const __m256i i8 = scaled_block_dot(q, xb[c]->qs, s01, s23);
                const __m256i bsums = _mm256_loadu_si256((const __m256i *)xb[c]->bsums);
                const __m256 mins = _mm256_cvtepi32_ps(_mm256_madd_epi16(bsums, mn));
                const __m256 t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i8), dd, _mm256_mul_ps(mins, dm));
                facc[r][c] = _mm256_fmadd_ps(t, _mm256_set1_ps(xb[c]->d), facc[r][c]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) y[c * ldy + r] = hsum256(facc[r][c]);
}

/* ---- Q6_K x Q8_K ---------------------------------------------------------------------- */

/* Like Q4_K, with 16-value groups: a dpbusd sum of 4 products is at most 4 * 63 * 127, still
 * within int16, and the group of each int16 after packing is given by this table. */
static const uint16_t pack_group[32] = {0, 0, 0, 0, 4, 4, 4, 4, 1, 1, 1, 1, 5, 5, 5, 5,
                                       2, 2, 2, 2, 6, 6, 6, 6, 3, 3, 3, 3, 7, 7, 7, 7};

static GN_ALWAYS_INLINE void q6_k_tile(const int R, const int C, int64_t nb, const uint8_t *w,
                                       int64_t w_rb, const uint8_t *xq, int64_t x_rb, float *y,
                                       int64_t ldy) {
    const __m512i low4 = _mm512_set1_epi8(0x0F), high2 = _mm512_set1_epi8(0x30);
    /* qh byte l holds bits 4-5 of values l, l+32, l+64, l+96 of the half, 2 bits each */
    const __m512i shl_first = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr_second = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    const __m512i idx01 = _mm512_loadu_si512(pack_group);
    const __m512i idx23 = _mm512_add_epi16(idx01, _mm512_set1_epi16(8));
    __m256 facc[MAX_R][MAX_C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) facc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const block_q6_K *wb[MAX_R];
        const block_q8_K *xb[MAX_C];
        for (int r = 0; r < R; r++) wb[r] = (const block_q6_K *)(w + r * w_rb) + i;
        if (C == 1) prefetch_next(w, R, w_rb, i, sizeof(block_q6_K));
        for (int c = 0; c < C; c++) xb[c] = (const block_q8_K *)(xq + c * x_rb) + i;
        for (int r = 0; r < R; r++) {
            const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wb[r]->scales));
            const __m512i s01 = _mm512_permutexvar_epi16(idx01, _mm512_castsi256_si512(sc));
            const __m512i s23 = _mm512_permutexvar_epi16(idx23, _mm512_castsi256_si512(sc));
            const __m256 dd = _mm256_set1_ps(f16(wb[r]->d));
            /* half h: 64 ql bytes give the low 4 bits of its first 64 values (low nibbles)
             * and of its last 64 (high nibbles), in x's order */
            __m512i q[4];
            for (int h = 0; h < 2; h++) {
                const __m512i l = _mm512_loadu_si512(wb[r]->ql + 64 * h);
                const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(wb[r]->qh + 32 * h)));
                q[2 * h] = _mm512_or_si512(_mm512_and_si512(l, low4),
                                           _mm512_and_si512(_mm512_sllv_epi16(qh, shl_first), high2));
                q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), low4),
                                               _mm512_and_si512(_mm512_srlv_epi16(qh, shr_second), high2));
            }
            for (int c = 0; c < C; c++) {
                /* the offset of 32: sum over groups of scale * 32 * (sum of the group's x) */
                const __m256i bsums = _mm256_loadu_si256((const __m256i *)xb[c]->bsums);
                const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(bsums, sc), 5);
                const __m256i i8 = _mm256_sub_epi32(scaled_block_dot(q, xb[c]->qs, s01, s23), offset);
                facc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i8), _mm256_mul_ps(dd, _mm256_set1_ps(xb[c]->d)),
                                             facc[r][c]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) y[c * ldy + r] = hsum256(facc[r][c]);
}

/* ---- Q4_0 and Q8_0 x Q8_32 ------------------------------------------------------------ */

/* One 32-value block per 256-bit vector. The offset (8 for Q4_0, 128 for Q8_0 moved to
 * unsigned) times the x block's sum starts the dpbusd accumulator, so the 8 lanes sum to the
 * block's exact dot product and turn into float once, times the block's two scales. */
static GN_ALWAYS_INLINE __m256i q4_0_values(const block_q4_0 *b) {
    const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b->qs));
    const __m256i shift = _mm256_inserti128_si256(_mm256_setzero_si256(), _mm_set1_epi16(4), 1);
    return _mm256_and_si256(_mm256_srlv_epi16(v, shift), _mm256_set1_epi8(0x0F));
}

static GN_ALWAYS_INLINE __m256i q8_0_values(const block_q8_0 *b) {
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)b->qs), _mm256_set1_epi8((char)0x80));
}

#define Q32_TILE(kind, wblock, offset)                                                           \
    static GN_ALWAYS_INLINE void kind##_tile(const int R, const int C, int64_t nb, const uint8_t *w, \
                                             int64_t w_rb, const uint8_t *xq, int64_t x_rb,      \
                                             float *y, int64_t ldy) {                            \
        __m256 facc[MAX_R][MAX_C];                                                               \
        for (int r = 0; r < R; r++)                                                              \
            for (int c = 0; c < C; c++) facc[r][c] = _mm256_setzero_ps();                        \
        for (int64_t i = 0; i < nb; i++) {                                                       \
            const wblock *wb[MAX_R];                                                             \
            const block_q8_32 *xb[MAX_C];                                                        \
            for (int r = 0; r < R; r++) wb[r] = (const wblock *)(w + r * w_rb) + i;             \
            if (C == 1) prefetch_next(w, R, w_rb, i, sizeof(wblock));                            \
            for (int c = 0; c < C; c++) xb[c] = (const block_q8_32 *)(xq + c * x_rb) + i;       \
            __m256i q[MAX_R];                                                                    \
            __m256 dw[MAX_R];                                                                    \
            for (int r = 0; r < R; r++) {                                                        \
                q[r] = kind##_values(wb[r]);                                                     \
                dw[r] = _mm256_cvtph_ps(_mm_set1_epi16((short)wb[r]->d));                        \
            }                                                                                    \
            for (int c = 0; c < C; c++) {                                                        \
                const __m256i x = _mm256_loadu_si256((const __m256i *)xb[c]->qs);                \
                const __m256i init = _mm256_zextsi128_si256(_mm_cvtsi32_si128(-(offset) * xb[c]->sum)); \
                const __m256 dx = _mm256_set1_ps(xb[c]->d);                                      \
                for (int r = 0; r < R; r++) {                                                    \
                    const __m256i sum = _mm256_dpbusd_epi32(init, q[r], x);                     \
                    facc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dw[r], dx), facc[r][c]); \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
        for (int r = 0; r < R; r++)                                                              \
            for (int c = 0; c < C; c++) y[c * ldy + r] = hsum256(facc[r][c]);                    \
    }

Q32_TILE(q4_0, block_q4_0, 8)
Q32_TILE(q8_0, block_q8_0, 128)

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
    TILE(kind, 1, 5) TILE(kind, 1, 6) TILE(kind, 1, 7) TILE(kind, 1, 8)                         \
    static const tile_fn kind##_gemm_tiles[GEMM_C] = {                                          \
        kind##_tile_1x1, kind##_tile_1x2, kind##_tile_1x3, kind##_tile_1x4,                     \
        kind##_tile_1x5, kind##_tile_1x6, kind##_tile_1x7, kind##_tile_1x8};

/* M = 1: 4 W rows per pass, then single rows. M > 1: blocks of GEMM_C x rows, each walking
 * the panel's W rows one at a time while the panel stays in L1/L2. */
static void run_tiles(const tile_fn gemv4, const tile_fn gemm[GEMM_C], int64_t M, int64_t N,
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

#define GEMM_Q(kind, block_elems)                                                               \
    TILES(kind)                                                                                 \
    void gn_gemm_q_##kind##_avx512(int64_t M, int64_t N, int64_t K, const void *xq,             \
                                   int64_t xq_row_bytes, const void *w, int64_t w_row_bytes,    \
                                   float *y, int64_t ldy) {                                     \
        run_tiles(kind##_tile_4x1, kind##_gemm_tiles, M, N, K / (block_elems), xq, xq_row_bytes, \
                  w, w_row_bytes, y, ldy);                                                      \
    }

GEMM_Q(q4_k, QK_K)
GEMM_Q(q6_k, QK_K)
GEMM_Q(q4_0, 32)
GEMM_Q(q8_0, 32)
