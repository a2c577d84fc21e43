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

void gn_gemv_f16_avx512(int64_t M, int64_t N, int64_t K, const float *x, const uint16_t *w,
                        int64_t ldw, float *y, int64_t ldy) {
    for (int64_t n = 0; n < N; n += ROWS) {
        const int64_t R = N - n < ROWS ? N - n : ROWS;
        rows_tile(M, R, K, x, w + n * ldw, ldw, y + n, ldy);
    }
}
#endif
