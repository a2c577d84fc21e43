/* Block-quantized W times int8-quantized x (the GN_MATMUL_INT8 path), AVX2. The integer part
 * of each block's dot product is exact (maddubs pairs unsigned W quants with signed x quants
 * into int16 without overflow, madd widens to int32); only the per-block float scaling rounds.
 * A tile of R W rows by C x rows shares every load: the x block is read once for R rows and
 * each W block is unpacked once for C rows. M = 1 (decode) walks W one row at a time, one
 * sequential stream read at memory speed; larger M takes 2 x 4 tiles. */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

#define MAX_R 2
#define MAX_C 4

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* One W row is a sequential stream the hardware prefetcher follows at full bandwidth; the two
 * interleaved rows of a 2-row tile it follows at half that or less, so each block load of such
 * a tile requests the same block of the next tile. The address is formed as an integer, as it
 * may lie past the end of W, where a prefetch does not fault. Always inlined: GCC takes a
 * function that only prefetches for one without effects and drops the calls it has not
 * inlined. */
static GN_ALWAYS_INLINE void prefetch_next_tile(const void *block, int64_t bytes,
                                                int64_t tile_bytes) {
    const uintptr_t p = (uintptr_t)block + (uintptr_t)tile_bytes;
    for (int64_t off = 0; off < bytes; off += 64)
        _mm_prefetch((const char *)(p + (uintptr_t)off), _MM_HINT_T0);
}

static inline float half(uint16_t h) { return _cvtsh_ss(h); }

static inline __m256i load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* 32 byte products summed in fours into 8 int32 lanes; the int16 pair sums of maddubs hold
 * every operand range used here (at most 2 * 128 * 127). */
static inline __m256i dot_u8_i8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

static inline void store_tile(const int R, const int C, __m256 acc[MAX_R][MAX_C], float *y,
                              int64_t ldy) {
    for (int c = 0; c < C; c++)
        for (int r = 0; r < R; r++) y[c * ldy + r] = hsum_ps(acc[r][c]);
}

/* Q4_K: per 32-value sub-block, (6-bit scale) * (q4 . x) - (6-bit min) * (sum of x), the
 * second term from the x block's per-16 sums. */
static GN_ALWAYS_INLINE void q4k_tile(const int R, const int C, int64_t nb, const uint8_t *w,
                                      int64_t wrb, const uint8_t *xq, int64_t xrb, float *y,
                                      int64_t ldy) {
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    __m256 acc[MAX_R][MAX_C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const block_q4_K *bw[MAX_R];
        const block_q8_K *bx[MAX_C];
        __m256i scales[MAX_R], mins[MAX_R], sumi[MAX_R][MAX_C];
        for (int c = 0; c < C; c++) bx[c] = (const block_q8_K *)(xq + c * xrb) + i;
        for (int r = 0; r < R; r++) {
            bw[r] = (const block_q4_K *)(w + r * wrb) + i;
            if (R > 1) prefetch_next_tile(bw[r], sizeof(block_q4_K), R * wrb);
            uint32_t sc[2], mn[2];
            gn_q4k_scales_mins(bw[r]->scales, sc, mn);
            /* 8 int16 scales in both 128-bit lanes, for a per-lane broadcast by shuffle */
            const __m128i sc8 = _mm_loadl_epi64((const __m128i *)sc);
            scales[r] = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sc8));
            /* each min twice, against the two per-16 sums of its sub-block */
            const __m128i m8 = _mm_loadl_epi64((const __m128i *)mn);
            mins[r] = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
            for (int c = 0; c < C; c++) sumi[r][c] = _mm256_setzero_si256();
        }
        for (int j = 0; j < 4; j++) {
            const __m256i pick_lo = _mm256_set1_epi16((short)((4 * j + 1) << 8 | (4 * j)));
            const __m256i pick_hi = _mm256_set1_epi16((short)((4 * j + 3) << 8 | (4 * j + 2)));
            for (int r = 0; r < R; r++) {
                const __m256i q = load256(bw[r]->qs + 32 * j);
                const __m256i lo = _mm256_and_si256(q, nibble);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), nibble);
                const __m256i s_lo = _mm256_shuffle_epi8(scales[r], pick_lo);
                const __m256i s_hi = _mm256_shuffle_epi8(scales[r], pick_hi);
                for (int c = 0; c < C; c++) {
                    const __m256i p_lo = _mm256_madd_epi16(
                        _mm256_maddubs_epi16(lo, load256(bx[c]->qs + 64 * j)), s_lo);
                    const __m256i p_hi = _mm256_madd_epi16(
                        _mm256_maddubs_epi16(hi, load256(bx[c]->qs + 64 * j + 32)), s_hi);
                    sumi[r][c] = _mm256_add_epi32(sumi[r][c], _mm256_add_epi32(p_lo, p_hi));
                }
            }
        }
        for (int r = 0; r < R; r++) {
            const float d = half(bw[r]->d), dmin = half(bw[r]->dmin);
            for (int c = 0; c < C; c++) {
                const __m256i m = _mm256_madd_epi16(load256(bx[c]->bsums), mins[r]);
                acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(d * bx[c]->d),
                                            _mm256_cvtepi32_ps(sumi[r][c]), acc[r][c]);
                acc[r][c] = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * bx[c]->d),
                                             _mm256_cvtepi32_ps(m), acc[r][c]);
            }
        }
    }
    store_tile(R, C, acc, y, ldy);
}

/* Q6_K: (q6 - 32) with a signed 8-bit scale per 16 values; q6 . x is taken unsigned and the
 * 32 * sum(x) part comes off through the x block's per-16 sums. */
static GN_ALWAYS_INLINE void q6k_tile(const int R, const int C, int64_t nb, const uint8_t *w,
                                      int64_t wrb, const uint8_t *xq, int64_t xrb, float *y,
                                      int64_t ldy) {
    const __m256i nibble = _mm256_set1_epi8(0x0F), two_bits = _mm256_set1_epi8(0x30);
    /* per 128-bit lane, the first / second int16 of a 32-bit pair, broadcast */
    const __m256i pick_pair = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
                                               2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    __m256 acc[MAX_R][MAX_C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const block_q6_K *bw[MAX_R];
        const block_q8_K *bx[MAX_C];
        __m256i scales[MAX_R], sumi[MAX_R][MAX_C];
        for (int c = 0; c < C; c++) bx[c] = (const block_q8_K *)(xq + c * xrb) + i;
        for (int r = 0; r < R; r++) {
            bw[r] = (const block_q6_K *)(w + r * wrb) + i;
            if (R > 1) prefetch_next_tile(bw[r], sizeof(block_q6_K), R * wrb);
            scales[r] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)bw[r]->scales));
            for (int c = 0; c < C; c++) sumi[r][c] = _mm256_setzero_si256();
        }
        for (int h = 0; h < 2; h++) {
            for (int r = 0; r < R; r++) {
                const __m256i ql0 = load256(bw[r]->ql + 64 * h);
                const __m256i ql1 = load256(bw[r]->ql + 64 * h + 32);
                const __m256i qh = load256(bw[r]->qh + 32 * h);
                __m256i q[4];
                q[0] = _mm256_or_si256(_mm256_and_si256(ql0, nibble),
                                       _mm256_and_si256(_mm256_slli_epi16(qh, 4), two_bits));
                q[1] = _mm256_or_si256(_mm256_and_si256(ql1, nibble),
                                       _mm256_and_si256(_mm256_slli_epi16(qh, 2), two_bits));
                q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), nibble),
                                       _mm256_and_si256(qh, two_bits));
                q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), nibble),
                                       _mm256_and_si256(_mm256_srli_epi16(qh, 2), two_bits));
                for (int t = 0; t < 4; t++) {
                    /* the scales of the two 16-value groups of 32-value chunk 4h + t */
                    const __m256i pair =
                        _mm256_permutevar8x32_epi32(scales[r], _mm256_set1_epi32(4 * h + t));
                    const __m256i s = _mm256_shuffle_epi8(pair, pick_pair);
                    for (int c = 0; c < C; c++)
                        sumi[r][c] = _mm256_add_epi32(sumi[r][c], _mm256_madd_epi16(
                            _mm256_maddubs_epi16(q[t], load256(bx[c]->qs + 128 * h + 32 * t)), s));
                }
            }
        }
        for (int r = 0; r < R; r++) {
            const float d = half(bw[r]->d);
            for (int c = 0; c < C; c++) {
                const __m256i offset = _mm256_madd_epi16(load256(bx[c]->bsums), scales[r]);
                const __m256i v = _mm256_sub_epi32(sumi[r][c], _mm256_slli_epi32(offset, 5));
                acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(d * bx[c]->d), _mm256_cvtepi32_ps(v),
                                            acc[r][c]);
            }
        }
    }
    store_tile(R, C, acc, y, ldy);
}

/* Q8_0: signed x signed, as |w| times x carrying w's sign (x is never -128, so the sign
 * transfer cannot overflow). */
static GN_ALWAYS_INLINE void q8_0_tile(const int R, const int C, int64_t nb, const uint8_t *w,
                                       int64_t wrb, const uint8_t *xq, int64_t xrb, float *y,
                                       int64_t ldy) {
    __m256 acc[MAX_R][MAX_C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const block_q8_32 *bx[MAX_C];
        for (int c = 0; c < C; c++) bx[c] = (const block_q8_32 *)(xq + c * xrb) + i;
        for (int r = 0; r < R; r++) {
            const block_q8_0 *bw = (const block_q8_0 *)(w + r * wrb) + i;
            if (R > 1) prefetch_next_tile(bw, sizeof(block_q8_0), R * wrb);
            const __m256i q = load256(bw->qs);
            const __m256i mag = _mm256_sign_epi8(q, q);
            const float d = half(bw->d);
            for (int c = 0; c < C; c++) {
                const __m256i p = dot_u8_i8(mag, _mm256_sign_epi8(load256(bx[c]->qs), q));
                acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(d * bx[c]->d), _mm256_cvtepi32_ps(p),
                                            acc[r][c]);
            }
        }
    }
    store_tile(R, C, acc, y, ldy);
}

/* Q4_0: q4 . x unsigned, then 8 * sum(x) from the x block's stored sum. */
static GN_ALWAYS_INLINE void q4_0_tile(const int R, const int C, int64_t nb, const uint8_t *w,
                                       int64_t wrb, const uint8_t *xq, int64_t xrb, float *y,
                                       int64_t ldy) {
    const __m128i nibble = _mm_set1_epi8(0x0F);
    __m256 acc[MAX_R][MAX_C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const block_q8_32 *bx[MAX_C];
        for (int c = 0; c < C; c++) bx[c] = (const block_q8_32 *)(xq + c * xrb) + i;
        for (int r = 0; r < R; r++) {
            const block_q4_0 *bw = (const block_q4_0 *)(w + r * wrb) + i;
            if (R > 1) prefetch_next_tile(bw, sizeof(block_q4_0), R * wrb);
            const __m128i v = _mm_loadu_si128((const __m128i *)bw->qs);
            const __m256i q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), nibble),
                                               _mm_and_si128(v, nibble));
            const float d = half(bw->d);
            for (int c = 0; c < C; c++) {
                const __m256i offset = _mm256_setr_epi32(8 * bx[c]->sum, 0, 0, 0, 0, 0, 0, 0);
                const __m256i p = _mm256_sub_epi32(dot_u8_i8(q, load256(bx[c]->qs)), offset);
                acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(d * bx[c]->d), _mm256_cvtepi32_ps(p),
                                            acc[r][c]);
            }
        }
    }
    store_tile(R, C, acc, y, ldy);
}

#define GN_Q_NAME(type) gn_gemm_##type##_avx2
#include "gemm_q_walk.h"
#endif
