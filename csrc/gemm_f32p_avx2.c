/* AVX2+FMA float32 GEMM on packed operands (gn_gemm_f32p_fn, matmul_f32p.c): a 6 x 16 block of
 * y in 12 ymm accumulators, fed per k by two vector loads of the W panel and six broadcast
 * loads of the x tile, 8 loads per 12 FMAs; the 16 registers hold the block, the two W vectors
 * and one broadcast. A 12-row tile of x is walked in two halves of 6 rows.
 *
 * K is walked in chunks of KC, as in the AVX-512 kernel (128 to 1024 measured alike on Zen 3);
 * every output is one chain of FMAs in k order from its bias, through y between chunks, as the
 * scalar twin sums. The first block of each tile prefetches the next tile's chunk of x, which
 * otherwise arrives from L3 as the block needs it. One Zen 3 core: 75-93 GFLOP/s at encoder
 * and prompt shapes on packed operands (probe ~100); the full-size encoder 4.60 -> 4.29 s on
 * two threads against the dot-product kernel (gemm_f32_avx2.c). */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "gn_kernels.h"

#define MR GN_F32P_TILE
#define HR (MR / 2)
#define KC 1024

/* lanes i < n set (n clamped to [0, 8]) */
static inline __m256i first(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 0 ? 0 : n > 8 ? 8 : n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Rows [0, rows) of a half tile against 16 panel columns (n of them real), k in [k0, k1). */
static GN_ALWAYS_INLINE void block(int64_t k0, int64_t k1, int rows, int64_t n, const float *xt,
                                   const float *pc, const float *bias, float *y, int64_t ldy,
                                   const char *next) {
    const __m256i m0 = first(n), m1 = first(n - 8);
    __m256 acc[HR][2];
    if (k0 == 0) {
        const __m256 b0 = bias ? _mm256_maskload_ps(bias, m0) : _mm256_setzero_ps();
        const __m256 b1 = bias ? _mm256_maskload_ps(bias + 8, m1) : _mm256_setzero_ps();
        for (int i = 0; i < HR; i++) acc[i][0] = b0, acc[i][1] = b1;
    } else {
        for (int i = 0; i < HR; i++) {
            acc[i][0] = i < rows ? _mm256_maskload_ps(y + i * ldy, m0) : _mm256_setzero_ps();
            acc[i][1] = i < rows ? _mm256_maskload_ps(y + i * ldy + 8, m1) : _mm256_setzero_ps();
        }
    }
    for (int64_t k = k0; k < k1; k++) {
        const __m256 w0 = _mm256_loadu_ps(pc + k * GN_F32_PANEL);
        const __m256 w1 = _mm256_loadu_ps(pc + k * GN_F32_PANEL + 8);
        const float *xk = xt + k * MR;
        if (next) _mm_prefetch(next + (k - k0) * MR * 4, _MM_HINT_T0);
        for (int i = 0; i < HR; i++) {
            const __m256 b = _mm256_broadcast_ss(xk + i);
            acc[i][0] = _mm256_fmadd_ps(b, w0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(b, w1, acc[i][1]);
        }
    }
    /* a constant trip count keeps acc in registers (an index known only at run time would
     * make the compiler keep it in memory) */
    for (int i = 0; i < HR; i++) {
        if (i >= rows) break;
        if (n >= 16) {
            _mm256_storeu_ps(y + i * ldy, acc[i][0]);
            _mm256_storeu_ps(y + i * ldy + 8, acc[i][1]);
        } else {
            _mm256_maskstore_ps(y + i * ldy, m0, acc[i][0]);
            _mm256_maskstore_ps(y + i * ldy + 8, m1, acc[i][1]);
        }
    }
}

void gn_gemm_f32p_avx2(int64_t M, int64_t cols, int64_t K, const float *xp, const float *panel,
                       const float *bias, float *y, int64_t ldy) {
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        const int64_t k1 = K - k0 < KC ? K : k0 + KC;
        for (int64_t m = 0; m < M; m += HR) {
            const int rows = (int)(M - m < HR ? M - m : HR);
            const float *xt = xp + m / MR * MR * K + m % MR;
            for (int64_t c = 0; c < cols; c += 16)
                block(k0, k1, rows, cols - c, xt, panel + c, bias ? bias + c : NULL,
                      y + m * ldy + c, ldy,
                      c == 0 && m % MR == 0 && m + MR < M ? (const char *)(xt + MR * K + k0 * MR) : NULL);
        }
    }
}

/* The 8 x 8 block in r transposed in place (r[j] becomes column j). */
static inline void transpose8(__m256 r[8]) {
    __m256 t[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
        t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
    }
    for (int i = 0; i < 8; i++) r[i] = t[i];
}

/* Masked loads and stores only at the tails: a masked store costs several cycles on Zen 3. */
void gn_pack_f32p_avx2(const float *rows, int64_t ld, int64_t n, int64_t len, float *dst,
                       int64_t dst_ld, int width) {
    for (int r0 = 0; r0 < width; r0 += 8) {
        const int w = width - r0 < 8 ? width - r0 : 8; /* 8, or the 4 of a 12-row tile's half */
        for (int64_t k = 0; k < len; k += 8) {
            const int64_t cols = len - k < 8 ? len - k : 8;
            const __m256i kmask = first(cols);
            __m256 r[8];
            for (int i = 0; i < 8; i++) {
                const float *src = rows + (r0 + i) * ld + k;
                r[i] = r0 + i >= n ? _mm256_setzero_ps()
                       : cols == 8 ? _mm256_loadu_ps(src) : _mm256_maskload_ps(src, kmask);
            }
            transpose8(r);
            float *d = dst + k * dst_ld + r0;
            for (int64_t j = 0; j < cols; j++) {
                if (w == 8)
                    _mm256_storeu_ps(d + j * dst_ld, r[j]);
                else if (w == 4)
                    _mm_storeu_ps(d + j * dst_ld, _mm256_castps256_ps128(r[j]));
                else
                    _mm256_maskstore_ps(d + j * dst_ld, first(w), r[j]);
            }
        }
    }
}
#endif
