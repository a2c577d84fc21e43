/* Q4_K -> Q4_K_R16 with AVX2 (gn_repack_fn; the AVX-512 level's too), the scalar twin's bytes.
 * Repacking is most of what loading a Q4_K file costs besides faulting pages in, and the twin
 * moves the quants one 32-bit word at a time (2.6 GB/s on two Zen 4 cores). Here a row's 128
 * quant bytes become four vectors of words in the layout's order (sub-blocks 0 and 2, 4 and
 * 6, 1 and 3, 5 and 7), and 8 x 8 word transposes of 8 rows at a time give the halves of the
 * layout's 64-byte rows. Scales and mins stay scalar: 12 bytes a row. */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

/* r[i] = column i of the 8 x 8 matrix of 32-bit words whose rows r held */
static GN_ALWAYS_INLINE void transpose8(__m256i r[8]) {
    __m256i t[8];
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm256_unpacklo_epi32(r[k], r[k + 1]);
        t[k + 1] = _mm256_unpackhi_epi32(r[k], r[k + 1]);
    }
    /* r[4 k + j], 128-bit lane L: word 4 L + j of rows 4 k .. 4 k + 3 */
    for (int k = 0; k < 8; k += 4) {
        r[k] = _mm256_unpacklo_epi64(t[k], t[k + 2]);
        r[k + 1] = _mm256_unpackhi_epi64(t[k], t[k + 2]);
        r[k + 2] = _mm256_unpacklo_epi64(t[k + 1], t[k + 3]);
        r[k + 3] = _mm256_unpackhi_epi64(t[k + 1], t[k + 3]);
    }
    for (int j = 0; j < 4; j++) {
        t[j] = _mm256_permute2x128_si256(r[j], r[4 + j], 0x20);
        t[4 + j] = _mm256_permute2x128_si256(r[j], r[4 + j], 0x31);
    }
    for (int k = 0; k < 8; k++) r[k] = t[k];
}

void gn_repack_q4_k_r16_avx2(const uint8_t *src, int64_t row_bytes, int rows, int64_t nb,
                             void *dst) {
    if (rows < GN_R16) {
        gn_repack_q4_k_r16_scalar(src, row_bytes, rows, nb, dst);
        return;
    }
    const __m256i low = _mm256_set1_epi8(0x0F), high = _mm256_set1_epi8((char)0xF0);
    block_q4_K_r16 *out = (block_q4_K_r16 *)dst;
    for (int64_t i = 0; i < nb; i++, out++) {
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
        }
        /* pair p covers q[64 p .. 64 p + 63]: chunks c = 2 p, 2 p + 1 of 32 bytes, each 16
         * bytes A_c then 16 bytes B_c; sub-block 2 c is the low nibbles of A_c then of B_c,
         * sub-block 2 c + 1 their high nibbles */
        for (int p = 0; p < 2; p++)
            for (int h = 0; h < 2; h++) { /* rows 8 h .. 8 h + 7 */
                __m256i even[8], odd[8];
                for (int r = 0; r < 8; r++) {
                    const block_q4_K *b = (const block_q4_K *)(src + (8 * h + r) * row_bytes) + i;
                    const uint8_t *q = b->qs + 64 * p;
                    const __m256i c0 = _mm256_loadu_si256((const __m256i *)q);
                    const __m256i c1 = _mm256_loadu_si256((const __m256i *)(q + 32));
                    const __m256i a = _mm256_permute2x128_si256(c0, c1, 0x20);
                    const __m256i bb = _mm256_permute2x128_si256(c0, c1, 0x31);
                    even[r] = _mm256_or_si256(_mm256_and_si256(a, low),
                                              _mm256_and_si256(_mm256_slli_epi16(bb, 4), high));
                    odd[r] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), low),
                                             _mm256_and_si256(bb, high));
                }
                /* word 4 L + v of a row is word v of sub-block 2 (2 p + L) (even) or
                 * 2 (2 p + L) + 1 (odd) */
                transpose8(even);
                transpose8(odd);
                for (int L = 0; L < 2; L++)
                    for (int v = 0; v < 4; v++) {
                        const int s = 2 * (2 * p + L);
                        _mm256_storeu_si256((__m256i *)out->qs[s][v][8 * h], even[4 * L + v]);
                        _mm256_storeu_si256((__m256i *)out->qs[s + 1][v][8 * h], odd[4 * L + v]);
                    }
            }
    }
}
#endif
