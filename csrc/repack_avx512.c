/* Q4_K -> Q4_K_R16 with AVX-512 (gn_repack_fn), the scalar twin's bytes. Repacking is most of
 * what loading a Q4_K file costs besides faulting pages in, and the twin moves the quants one
 * 32-bit word at a time (2.6 GB/s on two Zen 4 cores). Here one row's 128 quant bytes become
 * two vectors of 16 words, sub-blocks 0, 2, 4, 6 and 1, 3, 5, 7 in the order the layout wants
 * them, and a 16 x 16 word transpose of 16 rows gives the layout's 64-byte rows. Scales and
 * mins stay scalar: 12 bytes a row. */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

/* r[i] = column i of the 16 x 16 matrix of 32-bit words whose rows r held */
static GN_ALWAYS_INLINE void transpose16(__m512i r[16]) {
    __m512i t[16];
    for (int k = 0; k < 16; k += 2) {
        t[k] = _mm512_unpacklo_epi32(r[k], r[k + 1]);
        t[k + 1] = _mm512_unpackhi_epi32(r[k], r[k + 1]);
    }
    /* r[4 k + j], 128-bit lane L: word 4 L + j of rows 4 k .. 4 k + 3 */
    for (int k = 0; k < 16; k += 4) {
        r[k] = _mm512_unpacklo_epi64(t[k], t[k + 2]);
        r[k + 1] = _mm512_unpackhi_epi64(t[k], t[k + 2]);
        r[k + 2] = _mm512_unpacklo_epi64(t[k + 1], t[k + 3]);
        r[k + 3] = _mm512_unpackhi_epi64(t[k + 1], t[k + 3]);
    }
    for (int j = 0; j < 4; j++) {
        const __m512i a01 = _mm512_shuffle_i32x4(r[j], r[4 + j], _MM_SHUFFLE(1, 0, 1, 0));
        const __m512i a23 = _mm512_shuffle_i32x4(r[j], r[4 + j], _MM_SHUFFLE(3, 2, 3, 2));
        const __m512i b01 = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], _MM_SHUFFLE(1, 0, 1, 0));
        const __m512i b23 = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], _MM_SHUFFLE(3, 2, 3, 2));
        t[j] = _mm512_shuffle_i32x4(a01, b01, _MM_SHUFFLE(2, 0, 2, 0));
        t[4 + j] = _mm512_shuffle_i32x4(a01, b01, _MM_SHUFFLE(3, 1, 3, 1));
        t[8 + j] = _mm512_shuffle_i32x4(a23, b23, _MM_SHUFFLE(2, 0, 2, 0));
        t[12 + j] = _mm512_shuffle_i32x4(a23, b23, _MM_SHUFFLE(3, 1, 3, 1));
    }
    for (int k = 0; k < 16; k++) r[k] = t[k];
}

void gn_repack_q4_k_r16_avx512(const uint8_t *src, int64_t row_bytes, int rows, int64_t nb,
                               void *dst) {
    if (rows < GN_R16) {
        gn_repack_q4_k_r16_scalar(src, row_bytes, rows, nb, dst);
        return;
    }
    const __m512i low = _mm512_set1_epi8(0x0F), high = _mm512_set1_epi8((char)0xF0);
    block_q4_K_r16 *out = (block_q4_K_r16 *)dst;
    for (int64_t i = 0; i < nb; i++, out++) {
        __m512i even[GN_R16], odd[GN_R16];
        for (int r = 0; r < GN_R16; r++) {
            const block_q4_K *b = (const block_q4_K *)(src + r * row_bytes) + i;
            out->d[r] = b->d;
            out->dmin[r] = b->dmin;
            uint32_t sc[2], mn[2];
            gn_q4k_scales_mins(b->scales, sc, mn);
            for (int s = 0; s < 8; s++) {
                out->scales[s][r] = (uint8_t)(sc[s / 4] >> 8 * (s % 4));
                out->mins[s / 2][r][s % 2] = (uint8_t)(mn[s / 4] >> 8 * (s % 4));
            }
            /* 128-bit lanes of the two loads: q[32 c .. 32 c + 15] (A_c) and the 16 bytes
             * after it (B_c) for c = 0, 1 and 2, 3; sub-block 2 c is the low nibbles of A_c
             * then of B_c, sub-block 2 c + 1 their high nibbles */
            const __m512i q01 = _mm512_loadu_si512(b->qs), q23 = _mm512_loadu_si512(b->qs + 64);
            const __m512i a = _mm512_shuffle_i64x2(q01, q23, _MM_SHUFFLE(2, 0, 2, 0));
            const __m512i bb = _mm512_shuffle_i64x2(q01, q23, _MM_SHUFFLE(3, 1, 3, 1));
            even[r] = _mm512_or_si512(_mm512_and_si512(a, low),
                                      _mm512_and_si512(_mm512_slli_epi16(bb, 4), high));
            odd[r] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(a, 4), low),
                                     _mm512_and_si512(bb, high));
        }
        /* word 4 c + v of a row is word v of sub-block 2 c (even) or 2 c + 1 (odd) */
        transpose16(even);
        transpose16(odd);
        for (int c = 0; c < 4; c++)
            for (int v = 0; v < 4; v++) {
                _mm512_storeu_si512(out->qs[2 * c][v], even[4 * c + v]);
                _mm512_storeu_si512(out->qs[2 * c + 1][v], odd[4 * c + v]);
            }
    }
}
#endif
