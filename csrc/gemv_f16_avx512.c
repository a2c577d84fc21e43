/* Decode-sized products against F16 weights, AVX-512: four W rows at a time, 16 halves
 * widened per load (VCVTPH2PS) and multiplied into every x row, so W streams from memory once
 * at its stored 2 bytes per weight. */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

#define ROWS 4

static GN_ALWAYS_INLINE void rows_tile(int64_t M, int64_t R, int64_t K, const float *x,
                                       const uint16_t *w, int64_t ldw, float *y, int64_t ldy) {
    __m512 acc[GN_GEMV_MAX_M][ROWS];
    for (int m = 0; m < GN_GEMV_MAX_M; m++)
        for (int r = 0; r < ROWS; r++) acc[m][r] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        if ((k & 31) == 0) gn_prefetch_rows(w, 2 * ldw, ROWS, 2 * k);
        __m512 wv[ROWS];
        for (int r = 0; r < ROWS; r++)
            wv[r] = r < R ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + r * ldw + k)))
                          : _mm512_setzero_ps();
        for (int m = 0; m < GN_GEMV_MAX_M; m++) {
            if (m >= M) break;
            const __m512 xv = _mm512_loadu_ps(x + m * K + k);
            for (int r = 0; r < ROWS; r++) acc[m][r] = _mm512_fmadd_ps(xv, wv[r], acc[m][r]);
        }
    }
    for (int64_t m = 0; m < M; m++)
        for (int64_t r = 0; r < R; r++) {
            float s = _mm512_reduce_add_ps(acc[m][r]);
            for (int64_t t = k; t < K; t++) s += x[m * K + t] * gn_f16_to_f32(w[r * ldw + t]);
            y[m * ldy + r] = s;
        }
}

/* Short rows (attention scores: a query row against each of many keys of dh values) spend
 * most of the 4-row tile on its horizontal sum per dot product. Here each dot product of 16
 * consecutive rows with an x row is one vector of partial sums, and the 16 vectors fold into
 * one vector of the 16 results in 4 steps (15 adds, 30 in-lane or lane shuffles), pairs as
 * soon as both are done, so few accumulators are live. Lane j of the folded vector is the sum
 * of vector j: */
static inline __m512 fold_pair(__m512 a, __m512 b) { /* lanes 4l..4l+3: a b a b */
    return _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
}
static inline __m512 fold_quad(__m512 ab, __m512 cd) { /* 128-bit lane l: a b c d */
    return _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))));
}
static inline __m512 fold_lanes(__m512 u, __m512 v) { /* pairs of 128-bit lanes of u, then v */
    return _mm512_add_ps(_mm512_shuffle_f32x4(u, v, 0x88), _mm512_shuffle_f32x4(u, v, 0xDD));
}

#define KEYS 16

/* a[m] = x row m . W row as a vector of partial sums */
static GN_ALWAYS_INLINE void row_dots(int M, int64_t K, const float *x, const uint16_t *wr,
                                      __m512 *a) {
    for (int m = 0; m < M; m++) a[m] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        const __m512 wv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(wr + k)));
        for (int m = 0; m < M; m++) a[m] = _mm512_fmadd_ps(_mm512_loadu_ps(x + m * K + k), wv, a[m]);
    }
    if (k < K) {
        const __mmask16 tail = (__mmask16)((1u << (K - k)) - 1);
        const __m512 wv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(tail, wr + k));
        for (int m = 0; m < M; m++)
            a[m] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x + m * K + k), wv, a[m]);
    }
}

/* Rows 4 q .. 4 q + 3 of a 16-row block: per x row, their 4 dot products folded to quads. */
static GN_ALWAYS_INLINE void quad_dots(int M, int64_t K, const float *x, const uint16_t *w,
                                       int64_t ldw, __m512 *u) {
    __m512 a[GN_GEMV_MAX_M], b[GN_GEMV_MAX_M], ab[GN_GEMV_MAX_M];
    row_dots(M, K, x, w, a);
    row_dots(M, K, x, w + ldw, b);
    for (int m = 0; m < M; m++) ab[m] = fold_pair(a[m], b[m]);
    row_dots(M, K, x, w + 2 * ldw, a);
    row_dots(M, K, x, w + 3 * ldw, b);
    for (int m = 0; m < M; m++) u[m] = fold_quad(ab[m], fold_pair(a[m], b[m]));
}

static GN_ALWAYS_INLINE void keys_block(int M, int64_t K, const float *x, const uint16_t *w,
                                        int64_t ldw, float *y, int64_t ldy) {
    __m512 u0[GN_GEMV_MAX_M], u1[GN_GEMV_MAX_M], v0[GN_GEMV_MAX_M];
    quad_dots(M, K, x, w, ldw, u0);
    quad_dots(M, K, x, w + 4 * ldw, ldw, u1);
    for (int m = 0; m < M; m++) v0[m] = fold_lanes(u0[m], u1[m]);
    quad_dots(M, K, x, w + 8 * ldw, ldw, u0);
    quad_dots(M, K, x, w + 12 * ldw, ldw, u1);
    for (int m = 0; m < M; m++)
        _mm512_storeu_ps(y + m * ldy, fold_lanes(v0[m], fold_lanes(u0[m], u1[m])));
}

#include "gemv_f16_short.h"

void gn_gemv_f16_avx512(int64_t M, int64_t N, int64_t K, const float *x, const uint16_t *w,
                        int64_t ldw, float *y, int64_t ldy) {
    for (int64_t n = short_rows(M, N, K, x, w, ldw, y, ldy); n < N; n += ROWS) {
        const int64_t R = N - n < ROWS ? N - n : ROWS;
        rows_tile(M, R, K, x, w + n * ldw, ldw, y + n, ldy);
    }
}
#endif
