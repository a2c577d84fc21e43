/* Scalar twins of the norm rows: statistics accumulate in double, so they are the accurate
 * reference for the float32-lane SIMD rows. */
#include <math.h>

#include "gn_kernels.h"

void gn_layernorm_row_scalar(const float *x, const float *w, const float *b, float eps, float *y,
                             int64_t d) {
    double sum = 0;
    for (int64_t i = 0; i < d; i++) sum += x[i];
    const double mean = sum / (double)d;
    double var = 0;
    for (int64_t i = 0; i < d; i++) {
        const double c = x[i] - mean;
        var += c * c;
    }
    const float inv = (float)(1.0 / sqrt(var / (double)d + eps));
    const float m = (float)mean;
    for (int64_t i = 0; i < d; i++) y[i] = (x[i] - m) * inv * w[i] + b[i];
}

void gn_rmsnorm_row_scalar(const float *x, const float *w, float eps, float *y, int64_t d) {
    double ss = 0;
    for (int64_t i = 0; i < d; i++) ss += (double)x[i] * x[i];
    const float inv = (float)(1.0 / sqrt(ss / (double)d + eps));
    for (int64_t i = 0; i < d; i++) y[i] = x[i] * inv * w[i];
}
