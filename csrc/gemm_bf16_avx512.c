/* AVX-512 BF16 kernels of the bfloat16 path (contract in gn_kernels.h). The GEMM keeps a tile
 * of MR rows of x by the panel's 64 columns in 24 zmm accumulators: per pair of K, four loads
 * of packed W and one broadcast pair of x per row feed 24 VDPBF16PS. A tile runs the whole of
 * K before it stores, so y is written once: walking K in blocks that keep the panel's block in
 * L1 meant storing and reloading the tile per block, and at the encoder's shapes on Zen 4
 * (2 threads) that ran at 280-300 GFLOP/s with 256-deep blocks against 380-420 unblocked,
 * while the panel streams from L2 fast enough. */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <string.h>

#include "gn_kernels.h"

#define MR 6
#define NV (GN_BF16_PANEL / 16)
#define PACK_AHEAD 256 /* floats: eight 32-float steps ahead in each row */

/* Reinterpretations between integer and bfloat16 vectors: a union is valid C11 where a vector
 * cast is a GCC/clang extension. */
static inline __m512bh as_bh(__m512i v) {
    union { __m512i i; __m512bh h; } u;
    u.i = v;
    return u.h;
}

static inline __m512i as_si(__m512bh v) {
    union { __m512i i; __m512bh h; } u;
    u.h = v;
    return u.i;
}

/* 32 floats -> 32 bf16 (as 16 dwords of pairs), lanes past n zero. */
static inline __m512i convert32(const float *src, int64_t n) {
    const __mmask16 lo = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);
    const __mmask16 hi = n >= 32 ? 0xFFFF : n <= 16 ? 0 : (__mmask16)((1u << (n - 16)) - 1);
    const __m512 a = _mm512_maskz_loadu_ps(lo, src), b = _mm512_maskz_loadu_ps(hi, src + 16);
    return as_si(_mm512_cvtne2ps_pbh(b, a));
}

void gn_to_bf16_avx512(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) _mm512_storeu_si512((void *)(dst + i), convert32(src + i, 32));
    if (i < n) {
        const __mmask32 m = (__mmask32)((1ull << (n - i)) - 1);
        _mm512_mask_storeu_epi16(dst + i, m, convert32(src + i, n - i));
    }
}

/* r[c] <- column c of the 16 x 16 dword matrix whose row i is r[i]. */
static inline void transpose16(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            t[8 * i + j] = _mm512_shuffle_i32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
            t[8 * i + 4 + j] = _mm512_shuffle_i32x4(r[8 * i + j], r[8 * i + 4 + j], 0xDD);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_i32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_i32x4(t[j], t[8 + j], 0xDD);
    }
}

/* 32 elements of 16 rows convert to 16 dwords of pairs each; transposed, dword vector p holds
 * pair p of all 16 rows, one aligned 64-byte store into the panel. */
void gn_pack_bf16_avx512(const float *rows, int64_t ld, int64_t n, int64_t K, uint16_t *panel,
                         int64_t r0) {
    for (int64_t k = 0; k < K; k += 32) {
        const int64_t len = K - k < 32 ? K - k : 32;
        __m512i v[16];
        for (int64_t i = 0; i < 16; i++) {
            if (i >= n) {
                v[i] = _mm512_setzero_si512();
                continue;
            }
            /* 16 rows are more streams than the hardware prefetcher follows: ask ahead */
            if (k + PACK_AHEAD < K)
                _mm_prefetch((const char *)(rows + i * ld + k + PACK_AHEAD), _MM_HINT_T0);
            v[i] = convert32(rows + i * ld + k, len);
        }
        transpose16(v);
        for (int64_t p = 0; p < (len + 1) / 2; p++)
            _mm512_storeu_si512((void *)(panel + 2 * ((k / 2 + p) * GN_BF16_PANEL + r0)), v[p]);
    }
}

/* y[i, 0:cols] for i < mr over np pairs of K, starting from the bias (b); inlined with
 * constant mr so that the accumulators live in registers. */
static GN_ALWAYS_INLINE void tile(int mr, int64_t np, const uint16_t *x, int64_t ldx,
                                  const uint16_t *w, const __m512 *b, float *y, int64_t ldy,
                                  const __mmask16 *mask) {
    __m512 acc[MR][NV];
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < NV; v++) acc[i][v] = b[v];
    for (int64_t p = 0; p < np; p++) {
        const uint16_t *wp = w + 2 * p * GN_BF16_PANEL;
        __m512bh wv[NV];
        for (int v = 0; v < NV; v++) wv[v] = as_bh(_mm512_loadu_si512((const void *)(wp + 32 * v)));
        for (int i = 0; i < mr; i++) {
            int32_t pair;
            memcpy(&pair, x + i * ldx + 2 * p, sizeof pair);
            const __m512bh xv = as_bh(_mm512_set1_epi32(pair));
            for (int v = 0; v < NV; v++) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], xv, wv[v]);
        }
    }
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < NV; v++)
            _mm512_mask_storeu_ps(y + i * ldy + 16 * v, mask[v], acc[i][v]);
}

void gn_gemm_bf16_avx512(int64_t M, int64_t cols, int64_t K, const uint16_t *x, int64_t ldx,
                         const uint16_t *panel, const float *bias, float *y, int64_t ldy) {
    __mmask16 mask[NV];
    __m512 b[NV];
    for (int v = 0; v < NV; v++) {
        const int64_t c = cols - 16 * v;
        mask[v] = c >= 16 ? 0xFFFF : c <= 0 ? 0 : (__mmask16)((1u << c) - 1);
        b[v] = bias ? _mm512_maskz_loadu_ps(mask[v], bias + 16 * v) : _mm512_setzero_ps();
    }
    const int64_t np = K / 2;
    int64_t m = 0;
    for (; m + MR <= M; m += MR) tile(MR, np, x + m * ldx, ldx, panel, b, y + m * ldy, ldy, mask);
    switch (M - m) {
    case 5: tile(5, np, x + m * ldx, ldx, panel, b, y + m * ldy, ldy, mask); break;
    case 4: tile(4, np, x + m * ldx, ldx, panel, b, y + m * ldy, ldy, mask); break;
    case 3: tile(3, np, x + m * ldx, ldx, panel, b, y + m * ldy, ldy, mask); break;
    case 2: tile(2, np, x + m * ldx, ldx, panel, b, y + m * ldy, ldy, mask); break;
    case 1: tile(1, np, x + m * ldx, ldx, panel, b, y + m * ldy, ldy, mask); break;
    default: break;
    }
}
#endif
