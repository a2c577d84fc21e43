/* Scalar twin of the depthwise convolution rows: taps summed in order, channel by channel. */
#include "gn_kernels.h"

void gn_conv_dw_rows_scalar(const float *x, int64_t T, int64_t C, const float *wt, int64_t k,
                            int64_t t0, int64_t t1, float *y) {
    const int64_t half = k / 2;
    for (int64_t t = t0; t < t1; t++) {
        float *yr = y + t * C;
        for (int64_t ch = 0; ch < C; ch++) yr[ch] = 0.0f;
        for (int64_t tap = 0; tap < k; tap++) {
            const int64_t src = t + tap - half;
            if (src < 0 || src >= T) continue;
            const float *xr = x + src * C, *wr = wt + tap * C;
            for (int64_t ch = 0; ch < C; ch++) yr[ch] += wr[ch] * xr[ch];
        }
    }
}
