/* Decode-sized products against F16 weights, AVX2 + F16C: three W rows at a time, 8 halves
 * widened per load and multiplied into every x row (see gemv_f16_avx512.c). */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

#define ROWS 3

static float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static GN_ALWAYS_INLINE void rows_tile(int64_t M, int64_t R, int64_t K, const float *x,
                                       const uint16_t *w, int64_t ldw, float *y, int64_t ldy) {
    __m256 acc[GN_GEMV_MAX_M][ROWS];
    for (int m = 0; m < GN_GEMV_MAX_M; m++)
        for (int r = 0; r < ROWS; r++) acc[m][r] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
        if ((k & 31) == 0) gn_prefetch_rows(w, 2 * ldw, ROWS, 2 * k);
        __m256 wv[ROWS];
        for (int r = 0; r < ROWS; r++)
            wv[r] = r < R ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + r * ldw + k)))
                          : _mm256_setzero_ps();
        for (int m = 0; m < GN_GEMV_MAX_M; m++) {
            if (m >= M) break;
            const __m256 xv = _mm256_loadu_ps(x + m * K + k);
            for (int r = 0; r < ROWS; r++) acc[m][r] = _mm256_fmadd_ps(xv, wv[r], acc[m][r]);
        }
    }
    for (int64_t m = 0; m < M; m++)
        for (int64_t r = 0; r < R; r++) {
            float s = hsum(acc[m][r]);
            for (int64_t t = k; t < K; t++) s += x[m * K + t] * gn_f16_to_f32(w[r * ldw + t]);
            y[m * ldy + r] = s;
        }
}

/* Short rows (attention scores), as in gemv_f16_avx512.c: the dot products of 8 consecutive
 * rows with an x row, vectors of partial sums, fold into one vector of the 8 results. */
static inline __m256 fold_pair(__m256 a, __m256 b) { /* lanes 4l..4l+3: a b a b */
    return _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
}
static inline __m256 fold_quad(__m256 ab, __m256 cd) { /* 128-bit lane l: a b c d */
    return _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(ab), _mm256_castps_pd(cd))),
                         _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(ab), _mm256_castps_pd(cd))));
}
static inline __m256 fold_lanes(__m256 u, __m256 v) { /* the 128-bit lanes of u, then v */
    return _mm256_add_ps(_mm256_permute2f128_ps(u, v, 0x20), _mm256_permute2f128_ps(u, v, 0x31));
}

#define KEYS 8

/* a[m] = x row m . W row as a vector of partial sums */
static GN_ALWAYS_INLINE void row_dots(int M, int64_t K, const float *x, const uint16_t *wr,
                                      __m256 *a) {
    for (int m = 0; m < M; m++) a[m] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
        const __m256 wv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wr + k)));
        for (int m = 0; m < M; m++) a[m] = _mm256_fmadd_ps(_mm256_loadu_ps(x + m * K + k), wv, a[m]);
    }
    if (k < K) { /* the last K - k < 8 values through a zero-padded copy */
        uint16_t wt[8] = {0};
        float xt[8] = {0};
        for (int64_t t = k; t < K; t++) wt[t - k] = wr[t];
        const __m256 wv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wt));
        for (int m = 0; m < M; m++) {
            for (int64_t t = k; t < K; t++) xt[t - k] = x[m * K + t];
            a[m] = _mm256_fmadd_ps(_mm256_loadu_ps(xt), wv, a[m]);
        }
    }
}

/* Rows 0 .. 3 from w: per x row, their 4 dot products folded to quads. */
static GN_ALWAYS_INLINE void quad_dots(int M, int64_t K, const float *x, const uint16_t *w,
                                       int64_t ldw, __m256 *u) {
    __m256 a[GN_GEMV_MAX_M], b[GN_GEMV_MAX_M], ab[GN_GEMV_MAX_M];
    row_dots(M, K, x, w, a);
    row_dots(M, K, x, w + ldw, b);
    for (int m = 0; m < M; m++) ab[m] = fold_pair(a[m], b[m]);
    row_dots(M, K, x, w + 2 * ldw, a);
    row_dots(M, K, x, w + 3 * ldw, b);
    for (int m = 0; m < M; m++) u[m] = fold_quad(ab[m], fold_pair(a[m], b[m]));
}

static GN_ALWAYS_INLINE void keys_block(int M, int64_t K, const float *x, const uint16_t *w,
                                        int64_t ldw, float *y, int64_t ldy) {
    __m256 u0[GN_GEMV_MAX_M], u1[GN_GEMV_MAX_M];
    quad_dots(M, K, x, w, ldw, u0);
    quad_dots(M, K, x, w + 4 * ldw, ldw, u1);
    for (int m = 0; m < M; m++) _mm256_storeu_ps(y + m * ldy, fold_lanes(u0[m], u1[m]));
}

#include "gemv_f16_short.h"

void gn_gemv_f16_avx2(int64_t M, int64_t N, int64_t K, const float *x, const uint16_t *w,
                      int64_t ldw, float *y, int64_t ldy) {
    for (int64_t n = short_rows(M, N, K, x, w, ldw, y, ldy); n < N; n += ROWS) {
        const int64_t R = N - n < ROWS ? N - n : ROWS;
        rows_tile(M, R, K, x, w + n * ldw, ldw, y + n, ldy);
    }
}
#endif
