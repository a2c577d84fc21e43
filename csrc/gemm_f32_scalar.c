/* Portable F32 GEMM (y = x @ w^T): the reference the SIMD GEMMs are tested against.
 * Four independent accumulators per dot product keep the loop from being latency-bound. */
#include "gn_kernels.h"

void gn_gemm_f32_scalar(int64_t M, int64_t N, int64_t K, const float *x, int64_t ldx,
                        const float *w, int64_t ldw, float *y, int64_t ldy) {
    for (int64_t m = 0; m < M; m++) {
        const float *xr = x + m * ldx;
        for (int64_t n = 0; n < N; n++) {
            const float *wr = w + n * ldw;
            float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            int64_t k = 0;
            for (; k + 4 <= K; k += 4) {
                a0 += xr[k] * wr[k];
                a1 += xr[k + 1] * wr[k + 1];
                a2 += xr[k + 2] * wr[k + 2];
                a3 += xr[k + 3] * wr[k + 3];
            }
            for (; k < K; k++) a0 += xr[k] * wr[k];
            y[m * ldy + n] = (a0 + a1) + (a2 + a3);
        }
    }
}
