/* Activations, GLU/SwiGLU and the row softmax, written once over the vector vocabulary of a
 * vec_<isa>.h header that the including file brings in first. exp and erf are polynomials
 * fitted for this file (relative least squares on Chebyshev nodes, reweighted toward minimax),
 * a few float32 ulp from the float64 functions (tests/test_ops_isa.py measures them). */
#ifndef GN_ACT_VEC_H
#define GN_ACT_VEC_H

#include "gn_kernels.h"
#include "quant_blocks.h"

/* e^x = 2^n e^r with n = round(x / ln 2) and r = x - n ln 2 (ln 2 in two parts, so r is
 * exact), e^r = 1 + r + r^2 P(r) on |r| <= ln2/2. The scale 2^n is applied as two halves so
 * that results down to the subnormals round once and large x overflow to inf. */
static inline vec v_exp(vec x) {
    const vec xc = v_min(v_max(x, v_set1(-104.0f)), v_set1(89.0f));
    const veci ni = vi_round(v_mul(xc, v_set1(1.44269502f)));
    const vec n = vi_to_float(ni);
    vec r = v_fnma(n, v_set1(0.693147182f), xc);
    r = v_fnma(n, v_set1(-1.90465432e-9f), r);
    vec p = v_set1(1.98577938e-4f);
    p = v_fma(p, r, v_set1(1.39335974e-3f));
    p = v_fma(p, r, v_set1(8.33336078e-3f));
    p = v_fma(p, r, v_set1(4.16664667e-2f));
    p = v_fma(p, r, v_set1(0.166666672f));
    p = v_fma(p, r, v_set1(0.5f));
    const vec e = v_add(v_set1(1.0f), v_fma(p, v_mul(r, r), r));
    const veci k1 = vi_half(ni);
    return v_keep_nan(x, v_mul(v_mul(e, vi_pow2(k1)), vi_pow2(vi_sub(ni, k1))));
}

/* With e = e^-|x| (which cannot overflow), sigmoid(x) is 1 / (1 + e) for x >= 0 and e / (1 + e)
 * below, so the negative tail keeps its size down to the subnormals; silu and glu fold their
 * factor into the numerator for one rounding less. */
static inline vec v_exp_neg_abs(vec x) { return v_exp(v_sub(v_set1(0.0f), v_abs(x))); }
static inline vec v_sigmoid(vec x) {
    const vec e = v_exp_neg_abs(x);
    return v_div(v_lt_select(x, v_set1(0.0f), e, v_set1(1.0f)), v_add(v_set1(1.0f), e));
}
/* a * sigmoid(g) */
static inline vec v_mul_sigmoid(vec a, vec g) {
    const vec e = v_exp_neg_abs(g);
    return v_div(v_lt_select(g, v_set1(0.0f), v_mul(a, e), a), v_add(v_set1(1.0f), e));
}
static inline vec v_silu(vec x) { return v_mul_sigmoid(x, x); }

/* 0.5 x (1 + erf(z)), z = x / sqrt 2. For -1/2 <= z < 1, erf(z) = z P(z^2). Elsewhere 1 + erf(z)
 * is 2 - erfc(z) or erfc(-z), with erfc(|z|) = e^(-x^2/2) R(1 / (1 + |z|/2)) (R fitted on
 * 1/2 <= |z| <= 10); x^2 is split into hi + lo so the exponent is exact, which keeps the
 * negative side, where 1 + erf(z) cancels, accurate relative to its own size. */
static inline vec v_gelu_erf(vec x) {
    const vec z = v_mul(x, v_set1(0.707106781f));
    const vec z2 = v_mul(z, z);
    vec p = v_set1(7.85406228e-5f);
    p = v_fma(p, z2, v_set1(-8.01025948e-4f));
    p = v_fma(p, z2, v_set1(5.18833613e-3f));
    p = v_fma(p, z2, v_set1(-2.68538166e-2f));
    p = v_fma(p, z2, v_set1(0.112835854f));
    p = v_fma(p, z2, v_set1(-0.376126260f));
    p = v_fma(p, z2, v_set1(1.12837911f));
    const vec near = v_fma(z, p, v_set1(1.0f));

    const vec xc = v_min(v_max(x, v_set1(-15.0f)), v_set1(15.0f)); /* e^(-x^2/2) is 0 beyond */
    const vec hi = v_mul(xc, xc);
    const vec lo = v_fma(xc, xc, v_sub(v_set1(0.0f), hi));
    vec e = v_exp(v_mul(hi, v_set1(-0.5f)));
    e = v_fnma(e, v_mul(lo, v_set1(0.5f)), e);
    const vec az = v_min(v_abs(z), v_set1(10.0f));
    const vec t = v_div(v_set1(1.0f), v_fma(az, v_set1(0.5f), v_set1(1.0f)));
    vec q = v_set1(-0.0746311098f);
    q = v_fma(q, t, v_set1(0.352179974f));
    q = v_fma(q, t, v_set1(-0.612725973f));
    q = v_fma(q, t, v_set1(0.408278227f));
    q = v_fma(q, t, v_set1(-0.109427482f));
    q = v_fma(q, t, v_set1(0.23601447f));
    q = v_fma(q, t, v_set1(0.234648451f));
    q = v_fma(q, t, v_set1(0.283674389f));
    q = v_fma(q, t, v_set1(0.281977057f));
    q = v_fma(q, t, v_set1(3.83701945e-06f));
    const vec erfc_az = v_mul(e, q);
    const vec far = v_lt_select(x, v_set1(0.0f), erfc_az, v_sub(v_set1(2.0f), erfc_az));
    const vec onep = v_lt_select(z, v_set1(1.0f), v_lt_select(z, v_set1(-0.5f), far, near), far);
    return v_mul(v_mul(x, v_set1(0.5f)), onep);
}

/* y[0:n] = f(x[0:n]) over whole vectors, then the tail as one partial vector */
#define GN_VEC_MAP1(f, x, y, n)                                                              \
    do {                                                                                     \
        int64_t i_ = 0;                                                                      \
        for (; i_ + VW <= (n); i_ += VW) v_store((y) + i_, f(v_load((x) + i_)));             \
        if (i_ < (n)) v_store_part((y) + i_, f(v_load_part((x) + i_, (n) - i_)), (n) - i_); \
    } while (0)

void GN_VEC_NAME(gn_silu)(const float *x, float *y, int64_t n) { GN_VEC_MAP1(v_silu, x, y, n); }
void GN_VEC_NAME(gn_sigmoid)(const float *x, float *y, int64_t n) { GN_VEC_MAP1(v_sigmoid, x, y, n); }
void GN_VEC_NAME(gn_gelu_erf)(const float *x, float *y, int64_t n) { GN_VEC_MAP1(v_gelu_erf, x, y, n); }

static inline vec v_swiglu(vec g, vec u) { return v_mul(v_silu(g), u); }
static inline vec v_glu(vec a, vec g) { return v_mul_sigmoid(a, g); }

#define GN_VEC_MAP2(f, a, b, y, n)                                                          \
    do {                                                                                    \
        int64_t i_ = 0;                                                                     \
        for (; i_ + VW <= (n); i_ += VW) v_store((y) + i_, f(v_load((a) + i_), v_load((b) + i_))); \
        if (i_ < (n))                                                                       \
            v_store_part((y) + i_, f(v_load_part((a) + i_, (n) - i_), v_load_part((b) + i_, (n) - i_)), \
                         (n) - i_);                                                         \
    } while (0)

void GN_VEC_NAME(gn_swiglu)(const float *g, const float *u, float *y, int64_t n) {
    GN_VEC_MAP2(v_swiglu, g, u, y, n);
}
void GN_VEC_NAME(gn_glu)(const float *a, const float *g, float *y, int64_t n) {
    GN_VEC_MAP2(v_glu, a, g, y, n);
}

/* Vector c of value row r: float32, or float16 widened (a float16 KV cache). */
static GN_ALWAYS_INLINE vec v_load_value(int half, const void *v, int64_t at) {
    return half ? v_load_h((const uint16_t *)v + at) : v_load((const float *)v + at);
}

/* The first m < VW values at `at`, the other lanes zero. */
static GN_ALWAYS_INLINE vec v_load_value_part(int half, const void *v, int64_t at, int64_t m) {
    if (!half) return v_load_part((const float *)v + at, m);
    float buf[VW];
    for (int64_t c = 0; c < m; c++) buf[c] = gn_f16_to_f32(((const uint16_t *)v)[at + c]);
    return v_load_part(buf, m);
}

/* MIX_VECS vectors of out for each of hn heads (1 or MIX_HEADS, a constant once inlined, so
 * the accumulators stay in registers), every value row passing once: its vectors meet each
 * head's weight. Values start at element i0 of each row. */
static GN_ALWAYS_INLINE void mix_block(int half, int hn, const float *p, int64_t ldp, int64_t n,
                                       const void *v, int64_t i0, int64_t ldv, float *out,
                                       int64_t ldo) {
    vec a[MIX_HEADS][MIX_VECS];
    for (int h = 0; h < MIX_HEADS; h++)
        for (int c = 0; c < MIX_VECS; c++) a[h][c] = v_set1(0.0f);
    for (int64_t r = 0; r < n; r++) {
        vec x[MIX_VECS];
        for (int c = 0; c < MIX_VECS; c++) x[c] = v_load_value(half, v, r * ldv + i0 + c * VW);
        for (int h = 0; h < MIX_HEADS; h++) {
            if (h >= hn) break;
            const vec w = v_set1(p[h * ldp + r]);
            for (int c = 0; c < MIX_VECS; c++) a[h][c] = v_fma(w, x[c], a[h][c]);
        }
    }
    for (int h = 0; h < MIX_HEADS; h++) {
        if (h >= hn) break;
        for (int c = 0; c < MIX_VECS; c++) v_store(out + h * ldo + c * VW, a[h][c]);
    }
}

/* Attention's weighted sum of value rows for the heads that share them: out[h * ldo + 0:d] =
 * sum over r < n, in order, of p[h * ldp + r] * v[r * ldv + 0:d]. Up to MIX_HEADS heads take
 * one pass over the rows per block of columns, so the value rows are read once for the group
 * rather than once per head: a decode step's attention (4 heads a KV head) on Zen 4 took
 * 0.80-0.94x the time with AVX-512, 0.94-0.98x with AVX2 (2 heads a pass; 4 heads of 2
 * vectors, 8 strided passes over the rows, took 1.1-1.26x). */
static GN_ALWAYS_INLINE void mix(int half, const float *p, int64_t ldp, int64_t heads, int64_t n,
                                 const void *v, int64_t ldv, float *out, int64_t ldo, int64_t d) {
    for (int64_t h0 = 0; h0 < heads; h0 += MIX_HEADS) {
        const int hn = heads - h0 < MIX_HEADS ? (int)(heads - h0) : MIX_HEADS;
        const float *ph = p + h0 * ldp;
        float *oh = out + h0 * ldo;
        int64_t i = 0;
        for (; i + MIX_VECS * VW <= d; i += MIX_VECS * VW) {
            if (hn == MIX_HEADS)
                mix_block(half, MIX_HEADS, ph, ldp, n, v, i, ldv, oh + i, ldo);
            else /* the heads past the last whole group, or a single head */
                for (int h = 0; h < hn; h++)
                    mix_block(half, 1, ph + h * ldp, ldp, n, v, i, ldv, oh + h * ldo + i, ldo);
        }
        for (; i < d; i += VW) { /* the columns past the last whole block, a vector at a time */
            const int64_t m = d - i < VW ? d - i : VW;
            for (int h = 0; h < hn; h++) {
                vec a = v_set1(0.0f);
                for (int64_t r = 0; r < n; r++)
                    a = v_fma(v_set1(ph[h * ldp + r]),
                              v_load_value_part(half, v, r * ldv + i, m), a);
                v_store_part(oh + h * ldo + i, a, m);
            }
        }
    }
}

void GN_VEC_NAME(gn_mix)(const float *p, int64_t ldp, int64_t heads, int64_t n, const float *v,
                         int64_t ldv, float *out, int64_t ldo, int64_t d) {
    mix(0, p, ldp, heads, n, v, ldv, out, ldo, d);
}

void GN_VEC_NAME(gn_mix_f16)(const float *p, int64_t ldp, int64_t heads, int64_t n,
                             const uint16_t *v, int64_t ldv, float *out, int64_t ldo, int64_t d) {
    mix(1, p, ldp, heads, n, v, ldv, out, ldo, d);
}

/* In place; the partial tail is summed from what was stored so its zero lanes add nothing. */
void GN_VEC_NAME(gn_softmax)(float *x, int64_t n) {
    const int64_t full = n - n % VW;
    float mx = x[0];
    if (full) {
        vec m = v_load(x);
        for (int64_t i = VW; i < full; i += VW) m = v_max(m, v_load(x + i));
        mx = v_hmax(m);
    }
    for (int64_t i = full; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    const vec m = v_set1(mx);
    vec s = v_set1(0.0f);
    for (int64_t i = 0; i < full; i += VW) {
        const vec e = v_exp(v_sub(v_load(x + i), m));
        v_store(x + i, e);
        s = v_add(s, e);
    }
    float sum = full ? v_hsum(s) : 0.0f;
    if (full < n) {
        v_store_part(x + full, v_exp(v_sub(v_load_part(x + full, n - full), m)), n - full);
        for (int64_t i = full; i < n; i++) sum += x[i];
    }
    const vec inv = v_set1(1.0f / sum);
    for (int64_t i = 0; i < full; i += VW) v_store(x + i, v_mul(v_load(x + i), inv));
    for (int64_t i = full; i < n; i++) x[i] *= 1.0f / sum;
}

#endif
