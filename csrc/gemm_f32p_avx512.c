/* AVX-512 float32 GEMM on packed operands (gn_gemm_f32p_fn, matmul_f32p.c): a 12 x 32 block of
 * y in 24 zmm accumulators, fed per k by two vector loads of the W panel and twelve broadcast
 * loads of the x tile, 14 loads per 24 FMAs. The dot-product kernel (gemm_f32_avx512.c) needs
 * a load per FMA pair and a horizontal sum per output, and re-reads x from L3 for every four
 * W rows: 46-73 GFLOP/s on one Ice Lake core where this one reaches ~130.
 *
 * K is walked in chunks of KC: the chunk of a 12-row x tile (48 KB) stays close for both
 * halves of the panel, whose chunk (256 KB) stays in L2 for every tile. In the encoder on Ice
 * Lake, chunks of 512 ran ~10% faster than 256 and ~20% faster than 128, 1024 within noise
 * of 512; on Zen 4 (2 threads) 1024 ran 3-10% faster than 512: each chunk stores and reloads
 * the accumulators through y, which costs more there. Every output is one chain of FMAs in k
 * order from its bias, through y between chunks, as the scalar twin sums. */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "gn_kernels.h"

#define MR GN_F32P_TILE
#define KC 1024

static inline __mmask16 lanes(int64_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* Rows [0, rows) of a tile against 32 panel columns (n of them real), k in [k0, k1). */
static GN_ALWAYS_INLINE void block(int64_t k0, int64_t k1, int rows, int64_t n, const float *xt,
                                   const float *pc, const float *bias, float *y, int64_t ldy,
                                   const char *next) {
    const __mmask16 m0 = lanes(n), m1 = lanes(n - 16);
    __m512 acc[MR][2];
    if (k0 == 0) {
        const __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
        const __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
        for (int i = 0; i < MR; i++) acc[i][0] = b0, acc[i][1] = b1;
    } else {
        for (int i = 0; i < MR; i++) {
            const __mmask16 r = i < rows ? (__mmask16)0xFFFF : 0;
            acc[i][0] = _mm512_maskz_loadu_ps(m0 & r, y + i * ldy);
            acc[i][1] = _mm512_maskz_loadu_ps(m1 & r, y + i * ldy + 16);
        }
    }
    for (int64_t k = k0; k < k1; k++) {
        const __m512 w0 = _mm512_loadu_ps(pc + k * GN_F32_PANEL);
        const __m512 w1 = _mm512_loadu_ps(pc + k * GN_F32_PANEL + 16);
        const float *xk = xt + k * MR;
        if (next) _mm_prefetch(next + (k - k0) * MR * 4, _MM_HINT_T0);
        for (int i = 0; i < MR; i++) {
            const __m512 b = _mm512_set1_ps(xk[i]);
            acc[i][0] = _mm512_fmadd_ps(b, w0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(b, w1, acc[i][1]);
        }
    }
    for (int i = 0; i < rows; i++) {
        _mm512_mask_storeu_ps(y + i * ldy, m0, acc[i][0]);
        _mm512_mask_storeu_ps(y + i * ldy + 16, m1, acc[i][1]);
    }
}

void gn_gemm_f32p_avx512(int64_t M, int64_t cols, int64_t K, const float *xp, const float *panel,
                         const float *bias, float *y, int64_t ldy) {
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        const int64_t k1 = K - k0 < KC ? K : k0 + KC;
        for (int64_t m = 0; m < M; m += MR) {
            const int rows = (int)(M - m < MR ? M - m : MR);
            const float *xt = xp + m * K;
            for (int64_t c = 0; c < cols; c += 32)
                block(k0, k1, rows, cols - c, xt, panel + c, bias ? bias + c : NULL,
                      y + m * ldy + c, ldy,
                      c == 0 && m + MR < M ? (const char *)(xt + MR * K + k0 * MR) : NULL);
        }
    }
}
/* The 16 x 16 block in r transposed in place (r[j] becomes column j): pairs, quads, then
 * 128-bit lanes four and eight rows apart. */
static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
}

void gn_pack_f32p_avx512(const float *rows, int64_t ld, int64_t n, int64_t len, float *dst,
                         int64_t dst_ld, int width) {
    const __mmask16 wmask = (__mmask16)((1u << width) - 1);
    for (int64_t k = 0; k < len; k += 16) {
        const __mmask16 kmask = lanes(len - k);
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = i < n ? _mm512_maskz_loadu_ps(kmask, rows + i * ld + k) : _mm512_setzero_ps();
        transpose16(r);
        const int64_t cols = len - k < 16 ? len - k : 16;
        for (int64_t j = 0; j < cols; j++) _mm512_mask_storeu_ps(dst + (k + j) * dst_ld, wmask, r[j]);
    }
}
#endif
