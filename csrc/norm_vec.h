/* LayerNorm and RMSNorm rows over the vector vocabulary of a vec_<isa>.h header included first.
 * Sums run in float32 lanes; LayerNorm takes a first mean, then the sums of x - mean and of its
 * squares (the corrected two-pass form), so a large mean costs no precision in the variance and
 * the first mean's own rounding is taken back out. */
#ifndef GN_NORM_VEC_H
#define GN_NORM_VEC_H

#include <math.h>

#include "gn_kernels.h"

void GN_VEC_NAME(gn_layernorm_row)(const float *x, const float *w, const float *b, float eps,
                                   float *y, int64_t d) {
    const int64_t full = d - d % VW;
    vec s0 = v_set1(0.0f), s1 = v_set1(0.0f);
    int64_t i = 0;
    for (; i + 2 * VW <= full; i += 2 * VW) {
        s0 = v_add(s0, v_load(x + i));
        s1 = v_add(s1, v_load(x + i + VW));
    }
    if (i < full) s0 = v_add(s0, v_load(x + i));
    if (full < d) s1 = v_add(s1, v_load_part(x + full, d - full)); /* zero lanes add nothing */
    const float m0 = v_hsum(v_add(s0, s1)) / (float)d;

    const vec m = v_set1(m0);
    vec c = v_set1(0.0f), q = v_set1(0.0f);
    for (i = 0; i < full; i += VW) {
        const vec dx = v_sub(v_load(x + i), m);
        c = v_add(c, dx);
        q = v_fma(dx, dx, q);
    }
    float cs = v_hsum(c), qs = v_hsum(q);
    for (i = full; i < d; i++) {
        const float dx = x[i] - m0;
        cs += dx;
        qs += dx * dx;
    }
    const float shift = cs / (float)d, var = qs / (float)d - shift * shift;
    const float mean = m0 + shift;
    const float inv = 1.0f / sqrtf((var > 0.0f ? var : 0.0f) + eps);

    const vec mv = v_set1(mean), iv = v_set1(inv);
    for (i = 0; i < full; i += VW)
        v_store(y + i, v_fma(v_mul(v_sub(v_load(x + i), mv), iv), v_load(w + i), v_load(b + i)));
    if (full < d) {
        const int64_t r = d - full;
        const vec xn = v_mul(v_sub(v_load_part(x + full, r), mv), iv);
        v_store_part(y + full, v_fma(xn, v_load_part(w + full, r), v_load_part(b + full, r)), r);
    }
}

void GN_VEC_NAME(gn_rmsnorm_row)(const float *x, const float *w, float eps, float *y, int64_t d) {
    const int64_t full = d - d % VW;
    vec s0 = v_set1(0.0f), s1 = v_set1(0.0f);
    int64_t i = 0;
    for (; i + 2 * VW <= full; i += 2 * VW) {
        const vec a = v_load(x + i), b = v_load(x + i + VW);
        s0 = v_fma(a, a, s0);
        s1 = v_fma(b, b, s1);
    }
    if (i < full) {
        const vec a = v_load(x + i);
        s0 = v_fma(a, a, s0);
    }
    if (full < d) {
        const vec a = v_load_part(x + full, d - full);
        s1 = v_fma(a, a, s1);
    }
    const float inv = 1.0f / sqrtf(v_hsum(v_add(s0, s1)) / (float)d + eps);
    const vec iv = v_set1(inv);
    for (i = 0; i < full; i += VW) v_store(y + i, v_mul(v_mul(v_load(x + i), iv), v_load(w + i)));
    if (full < d) {
        const int64_t r = d - full;
        v_store_part(y + full, v_mul(v_mul(v_load_part(x + full, r), iv), v_load_part(w + full, r)), r);
    }
}

#endif
