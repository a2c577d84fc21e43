/* AVX-512 F32 GEMM (y = x @ w^T, both operands K-contiguous). A register tile of 4 rows of x
 * by 4 rows of w keeps 16 dot products in zmm accumulators, so every loaded vector feeds four
 * FMAs; the 16 sums are reduced only once, at the end of K. The stream variant also prefetches
 * the rows of w two tiles on into L2 (gn_prefetch_rows), for a w read once from memory. */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "gn_kernels.h"

#define MR 4
#define NR 4

static inline __m256 fold(__m512 v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
}

/* The four horizontal sums of a, b, c, d in one vector. */
static inline __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
    const __m256 ab = _mm256_hadd_ps(fold(a), fold(b));
    const __m256 cd = _mm256_hadd_ps(fold(c), fold(d));
    const __m256 s = _mm256_hadd_ps(ab, cd);
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* y[i, j] = x[i, :] . w[j, :] for i < mr, j < nr; inlined with constant mr, nr so that the
 * accumulators live in registers. */
static GN_ALWAYS_INLINE void tile(int prefetch, int mr, int nr, int64_t K, const float *x,
                                  int64_t ldx, const float *w, int64_t ldw, float *y, int64_t ldy) {
    __m512 acc[MR][NR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) acc[i][j] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        if (prefetch) gn_prefetch_rows(w, 4 * ldw, nr, 4 * k);
        __m512 wv[NR];
        for (int j = 0; j < nr; j++) wv[j] = _mm512_loadu_ps(w + j * ldw + k);
        for (int i = 0; i < mr; i++) {
            const __m512 xv = _mm512_loadu_ps(x + i * ldx + k);
            for (int j = 0; j < nr; j++) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    if (k < K) {
        const __mmask16 tail = (__mmask16)((1u << (K - k)) - 1);
        __m512 wv[NR];
        for (int j = 0; j < nr; j++) wv[j] = _mm512_maskz_loadu_ps(tail, w + j * ldw + k);
        for (int i = 0; i < mr; i++) {
            const __m512 xv = _mm512_maskz_loadu_ps(tail, x + i * ldx + k);
            for (int j = 0; j < nr; j++) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < mr; i++) {
        if (nr == NR)
            _mm_storeu_ps(y + i * ldy, hsum4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
        else
            for (int j = 0; j < nr; j++) y[i * ldy + j] = _mm512_reduce_add_ps(acc[i][j]);
    }
}

/* One row block of x against all of w: full NR tiles, then single rows of w. */
static GN_ALWAYS_INLINE void row_block(int prefetch, int mr, int64_t N, int64_t K, const float *x,
                                       int64_t ldx, const float *w, int64_t ldw, float *y,
                                       int64_t ldy) {
    int64_t n = 0;
    for (; n + NR <= N; n += NR) tile(prefetch, mr, NR, K, x, ldx, w + n * ldw, ldw, y + n, ldy);
    for (; n < N; n++) tile(prefetch, mr, 1, K, x, ldx, w + n * ldw, ldw, y + n, ldy);
}

static GN_ALWAYS_INLINE void gemm(int prefetch, int64_t M, int64_t N, int64_t K, const float *x,
                                  int64_t ldx, const float *w, int64_t ldw, float *y, int64_t ldy) {
    int64_t m = 0;
    for (; m + MR <= M; m += MR)
        row_block(prefetch, MR, N, K, x + m * ldx, ldx, w, ldw, y + m * ldy, ldy);
    switch (M - m) {
    case 3: row_block(prefetch, 3, N, K, x + m * ldx, ldx, w, ldw, y + m * ldy, ldy); break;
    case 2: row_block(prefetch, 2, N, K, x + m * ldx, ldx, w, ldw, y + m * ldy, ldy); break;
    case 1: row_block(prefetch, 1, N, K, x + m * ldx, ldx, w, ldw, y + m * ldy, ldy); break;
    default: break;
    }
}

void gn_gemm_f32_avx512(int64_t M, int64_t N, int64_t K, const float *x, int64_t ldx,
                        const float *w, int64_t ldw, float *y, int64_t ldy) {
    gemm(0, M, N, K, x, ldx, w, ldw, y, ldy);
}

void gn_gemm_f32_stream_avx512(int64_t M, int64_t N, int64_t K, const float *x, int64_t ldx,
                               const float *w, int64_t ldw, float *y, int64_t ldy) {
    gemm(1, M, N, K, x, ldx, w, ldw, y, ldy);
}
#endif
