/* Q4_K_R16 (block_q4_K_r16, 16 rows interleaved) times Q8_K x rows with AVX2 (gn_gemm_q_fn):
 * the AVX-512 VNNI kernel's arithmetic at half the width and without VNNI, on the same layout.
 *
 * A 16-row block is walked as two halves of 8 rows (the first and second 32 bytes of each
 * 64-byte group), one row per int32 lane. maddubs multiplies unsigned W quants by 4 x quants
 * broadcast to every lane and adds them in pairs (at most 2 * 15 * 127 per int16); the 8
 * products of a sub-block stay in int16 (at most 8 * 3810 = 30480), and one madd with the
 * rows' scales, each in both int16 of its lane, gives scale * dot per row in int32. The mins,
 * the float conversion and the order of every float operation are the AVX-512 kernel's and
 * the scalar twin's, so all three agree bit for bit. 16 vector registers hold one half-block's
 * quants (8) and the accumulators of TILE_C x rows. */
#if defined(__x86_64__) || defined(_M_X64)
#include "r16_avx2.h"

#define TILE_C 2

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
            __m256i q[8]; /* q[v]: values 4 v .. 4 v + 3 of the sub-block, one row per lane */
            for (int v = 0; v < 4; v++) {
                const __m256i packed = _mm256_loadu_si256((const __m256i *)b->qs[s][v][HALF * h]);
                q[v] = _mm256_and_si256(packed, low4);
                q[v + 4] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low4);
            }
            const __m256i sc = row_scales(b->scales, s, h);
            for (int c = 0; c < C; c++) {
                const int8_t *a = xb[c]->qs + 32 * s;
                __m256i dot = _mm256_maddubs_epi16(q[0], _mm256_set1_epi32(gn_load_i32(a)));
                for (int v = 1; v < 8; v++)
                    dot = _mm256_add_epi16(dot, _mm256_maddubs_epi16(q[v], _mm256_set1_epi32(gn_load_i32(a + 4 * v))));
                isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(dot, sc));
            }
        }
        for (int c = 0; c < C; c++) facc[c] = q4k_add_block(facc[c], b, h, isum[c], xb[c]);
    }
    for (int c = 0; c < C; c++) _mm256_storeu_ps(y + c * ldy + HALF * h, facc[c]);
}

/* One x row against both halves of a 16-row block panel in one pass (decode): each 32-byte
 * group of quants is loaded once, and each broadcast of 4 x quants serves both halves, which
 * the two-pass tile above would repeat; W streams through once, as read from memory, with
 * software prefetches GN_STREAM_PREFETCH ahead on every CPU: this kernel's loads alone leave
 * too few cache lines in flight (Zen 3, one thread: 9.2-9.8 GB/s without, 10.5-11.4 with,
 * against a 12-13 GB/s read; decode 59-60 -> 54 ms/token on two threads; Ice Lake 71-89% ->
 * 91-106% of the read probe). */
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
            __m256i dot[2];
            for (int v = 0; v < 4; v++) {
                const __m256i xlo = _mm256_set1_epi32(gn_load_i32(a + 4 * v));
                const __m256i xhi = _mm256_set1_epi32(gn_load_i32(a + 16 + 4 * v));
                for (int h = 0; h < 2; h++) {
                    const __m256i packed = _mm256_loadu_si256((const __m256i *)b->qs[s][v][HALF * h]);
                    const __m256i p = _mm256_add_epi16(
                        _mm256_maddubs_epi16(_mm256_and_si256(packed, low4), xlo),
                        _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(packed, 4), low4), xhi));
                    dot[h] = v ? _mm256_add_epi16(dot[h], p) : p;
                }
            }
            for (int h = 0; h < 2; h++)
                isum[h] = _mm256_add_epi32(isum[h], _mm256_madd_epi16(dot[h], row_scales(b->scales, s, h)));
        }
        for (int h = 0; h < 2; h++) facc[h] = q4k_add_block(facc[h], b, h, isum[h], xb);
    }
    _mm256_storeu_ps(y, facc[0]);
    _mm256_storeu_ps(y + HALF, facc[1]);
}

#define GN_Q4_K_R16_NAME gn_gemm_q_q4_k_r16_avx2
#include "gemm_q_r16_walk256.h"
#endif
