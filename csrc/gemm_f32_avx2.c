/* AVX2+FMA F32 GEMM (y = x @ w^T, both operands K-contiguous). A register tile of 3 rows of x
 * by 4 rows of w keeps 12 dot products in ymm accumulators beside the 4 vectors of w (all 16
 * registers; x comes in as FMA memory operands), so each loaded vector feeds several FMAs and
 * the sums are reduced only once, at the end of K. The stream variant also prefetches the rows
 * of w two tiles on into L2 (gn_prefetch_rows), for a w read once from memory. */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "gn_kernels.h"

#define MR 3
#define NR 4

/* The four horizontal sums of a, b, c, d in one vector. */
static inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

static inline float hsum(__m256 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* y[i, j] = x[i, :] . w[j, :] for i < mr, j < nr; inlined with constant mr, nr so that the
 * accumulators live in registers. */
static GN_ALWAYS_INLINE void tile(int prefetch, int mr, int nr, int64_t K, const float *x,
                                  int64_t ldx, const float *w, int64_t ldw, float *y, int64_t ldy) {
    __m256 acc[MR][NR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) acc[i][j] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
        if (prefetch && (k & 15) == 0) gn_prefetch_rows(w, 4 * ldw, nr, 4 * k);
        __m256 wv[NR];
        for (int j = 0; j < nr; j++) wv[j] = _mm256_loadu_ps(w + j * ldw + k);
        for (int i = 0; i < mr; i++) {
            const __m256 xv = _mm256_loadu_ps(x + i * ldx + k);
            for (int j = 0; j < nr; j++) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    if (k < K) {
        const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(K - k)),
                                                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 wv[NR];
        for (int j = 0; j < nr; j++) wv[j] = _mm256_maskload_ps(w + j * ldw + k, tail);
        for (int i = 0; i < mr; i++) {
            const __m256 xv = _mm256_maskload_ps(x + i * ldx + k, tail);
            for (int j = 0; j < nr; j++) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < mr; i++) {
        if (nr == NR)
            _mm_storeu_ps(y + i * ldy, hsum4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]));
        else
            for (int j = 0; j < nr; j++) y[i * ldy + j] = hsum(acc[i][j]);
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
    case 2: row_block(prefetch, 2, N, K, x + m * ldx, ldx, w, ldw, y + m * ldy, ldy); break;
    case 1: row_block(prefetch, 1, N, K, x + m * ldx, ldx, w, ldw, y + m * ldy, ldy); break;
    default: break;
    }
}

void gn_gemm_f32_avx2(int64_t M, int64_t N, int64_t K, const float *x, int64_t ldx,
                      const float *w, int64_t ldw, float *y, int64_t ldy) {
    gemm(0, M, N, K, x, ldx, w, ldw, y, ldy);
}

void gn_gemm_f32_stream_avx2(int64_t M, int64_t N, int64_t K, const float *x, int64_t ldx,
                             const float *w, int64_t ldw, float *y, int64_t ldy) {
    gemm(1, M, N, K, x, ldx, w, ldw, y, ldy);
}
#endif
