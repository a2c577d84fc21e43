/* Four float lanes for code that must stay bit-identical to a scalar reference: every
 * operation is the IEEE single-precision one, lane by lane (no FMA, no reordering). SSE2 on
 * x86-64, where it is always present; plain arrays elsewhere. */
#ifndef GN_SIMD4_H
#define GN_SIMD4_H

#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) || defined(_M_X64) || defined(_M_AMD64)
#include <emmintrin.h>

typedef __m128 vf; /* comparisons return all-ones / all-zeros lanes */

static inline vf vf_set1(float a) { return _mm_set1_ps(a); }
static inline vf vf_load(const float *p) { return _mm_loadu_ps(p); }
static inline void vf_store(float *p, vf a) { _mm_storeu_ps(p, a); }
static inline vf vf_add(vf a, vf b) { return _mm_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm_div_ps(a, b); }
static inline vf vf_lt(vf a, vf b) { return _mm_cmplt_ps(a, b); }
static inline vf vf_gt(vf a, vf b) { return _mm_cmpgt_ps(a, b); }
static inline vf vf_eq(vf a, vf b) { return _mm_cmpeq_ps(a, b); }
static inline vf vf_and(vf a, vf b) { return _mm_and_ps(a, b); }
static inline vf vf_select(vf mask, vf a, vf b) {
    return _mm_or_ps(_mm_and_ps(mask, a), _mm_andnot_ps(mask, b));
}
static inline int vf_any(vf mask) { return _mm_movemask_ps(mask) != 0; }
/* ggml's nearest_int (round half to even through the float adder, read from the mantissa
 * bits) as a float, clamped to [0, hi]. */
static inline vf vf_level(vf f, float hi) {
    __m128i i = _mm_castps_si128(_mm_add_ps(f, _mm_set1_ps(12582912.f)));
    i = _mm_sub_epi32(_mm_and_si128(i, _mm_set1_epi32(0x007fffff)), _mm_set1_epi32(0x00400000));
    return _mm_min_ps(_mm_max_ps(_mm_cvtepi32_ps(i), _mm_setzero_ps()), _mm_set1_ps(hi));
}

#else

typedef struct { float v[4]; } vf;

#define VF_MAP(expr) do { for (int k_ = 0; k_ < 4; k_++) r.v[k_] = (expr); } while (0)
static inline vf vf_set1(float a) { vf r; VF_MAP(a); return r; }
static inline vf vf_load(const float *p) { vf r; memcpy(r.v, p, sizeof r.v); return r; }
static inline void vf_store(float *p, vf a) { memcpy(p, a.v, sizeof a.v); }
static inline vf vf_add(vf a, vf b) { vf r; VF_MAP(a.v[k_] + b.v[k_]); return r; }
static inline vf vf_sub(vf a, vf b) { vf r; VF_MAP(a.v[k_] - b.v[k_]); return r; }
static inline vf vf_mul(vf a, vf b) { vf r; VF_MAP(a.v[k_] * b.v[k_]); return r; }
static inline vf vf_div(vf a, vf b) { vf r; VF_MAP(a.v[k_] / b.v[k_]); return r; }
/* masks are 1.0f / 0.0f here */
static inline vf vf_lt(vf a, vf b) { vf r; VF_MAP(a.v[k_] < b.v[k_] ? 1.0f : 0.0f); return r; }
static inline vf vf_gt(vf a, vf b) { vf r; VF_MAP(a.v[k_] > b.v[k_] ? 1.0f : 0.0f); return r; }
static inline vf vf_eq(vf a, vf b) { vf r; VF_MAP(a.v[k_] == b.v[k_] ? 1.0f : 0.0f); return r; }
static inline vf vf_and(vf a, vf b) { vf r; VF_MAP(a.v[k_] != 0.0f && b.v[k_] != 0.0f ? 1.0f : 0.0f); return r; }
static inline vf vf_select(vf mask, vf a, vf b) { vf r; VF_MAP(mask.v[k_] != 0.0f ? a.v[k_] : b.v[k_]); return r; }
static inline int vf_any(vf mask) { return mask.v[0] != 0.0f || mask.v[1] != 0.0f || mask.v[2] != 0.0f || mask.v[3] != 0.0f; }
static inline float level1(float f, float hi) {
    const float s = f + 12582912.f;
    int32_t i;
    memcpy(&i, &s, sizeof i);
    const float l = (float)((i & 0x007fffff) - 0x00400000);
    return l < 0.0f ? 0.0f : l > hi ? hi : l;
}
static inline vf vf_level(vf f, float hi) { vf r; VF_MAP(level1(f.v[k_], hi)); return r; }
#undef VF_MAP

#endif
#endif
