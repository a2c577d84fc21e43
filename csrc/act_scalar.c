/* Scalar twins of the activation kernels: libm's expf and erff, the reference the SIMD
 * polynomials are measured against, and the exact-GELU form PyTorch uses. */
#include <math.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

/* e^-|v| cannot overflow, so the negative tail keeps its size down to the subnormals. The
 * numerator is picked by index, not by a branch: activations' signs are unpredictable. */
static inline float sigmoidf(float v) {
    const float e = expf(-fabsf(v));
    const float num[2] = {1.0f, e};
    return num[v < 0.0f] / (1.0f + e);
}

void gn_silu_scalar(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * sigmoidf(x[i]);
}

void gn_sigmoid_scalar(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = sigmoidf(x[i]);
}

void gn_gelu_erf_scalar(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void gn_swiglu_scalar(const float *g, const float *u, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = g[i] * sigmoidf(g[i]) * u[i];
}

void gn_glu_scalar(const float *a, const float *g, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] * sigmoidf(g[i]);
}

/* The SIMD twins fuse each multiply-add; fmaf does the same here, so all levels agree. Value
 * rows are float32, or float16 (half) widened exactly. */
static inline void mix(int half, const float *p, int64_t ldp, int64_t heads, int64_t n,
                       const void *v, int64_t ldv, float *out, int64_t ldo, int64_t d) {
    for (int64_t h = 0; h < heads; h++)
        for (int64_t i = 0; i < d; i++) {
            float a = 0.0f;
            for (int64_t r = 0; r < n; r++) {
                const int64_t at = r * ldv + i;
                const float x =
                    half ? gn_f16_to_f32(((const uint16_t *)v)[at]) : ((const float *)v)[at];
                a = fmaf(p[h * ldp + r], x, a);
            }
            out[h * ldo + i] = a;
        }
}

void gn_mix_scalar(const float *p, int64_t ldp, int64_t heads, int64_t n, const float *v,
                   int64_t ldv, float *out, int64_t ldo, int64_t d) {
    mix(0, p, ldp, heads, n, v, ldv, out, ldo, d);
}

void gn_mix_f16_scalar(const float *p, int64_t ldp, int64_t heads, int64_t n, const uint16_t *v,
                       int64_t ldv, float *out, int64_t ldo, int64_t d) {
    mix(1, p, ldp, heads, n, v, ldv, out, ldo, d);
}

void gn_softmax_scalar(float *x, int64_t n) {
    float mx = x[0];
    for (int64_t i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}
