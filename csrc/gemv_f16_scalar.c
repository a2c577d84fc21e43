/* Decode-sized products against F16 weights, scalar twin: each weight is widened once and
 * used for every x row, with no float32 copy of W (see gn_gemv_f16_fn). */
#include "gn_kernels.h"
#include "quant_blocks.h"

void gn_gemv_f16_scalar(int64_t M, int64_t N, int64_t K, const float *x, const uint16_t *w,
                        int64_t ldw, float *y, int64_t ldy) {
    for (int64_t n = 0; n < N; n++) {
        float acc[GN_GEMV_MAX_M] = {0};
        for (int64_t k = 0; k < K; k++) {
            const float v = gn_f16_to_f32(w[n * ldw + k]);
            for (int64_t m = 0; m < M; m++) acc[m] += x[m * K + k] * v;
        }
        for (int64_t m = 0; m < M; m++) y[m * ldy + n] = acc[m];
    }
}
