/* The vector vocabulary of the *_vec.h kernel bodies in AArch64 NEON: 4 float lanes. Included
 * only by *_neon.c files. */
#ifndef GN_VEC_NEON_H
#define GN_VEC_NEON_H

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#define VW 4
#define GN_VEC_NAME(name) name##_neon
/* gn_mix's pass over the value rows: MIX_HEADS heads by MIX_VECS vectors of a row,
 * 16 accumulators of 32 registers */
#define MIX_HEADS 4
#define MIX_VECS 4

typedef float32x4_t vec;
typedef int32x4_t veci;

static inline vec v_set1(float a) { return vdupq_n_f32(a); }
static inline vec v_load(const float *p) { return vld1q_f32(p); }
static inline vec v_load_h(const uint16_t *p) { /* VW float16 values, widened */
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}
static inline void v_store(float *p, vec a) { vst1q_f32(p, a); }
/* the first n < VW lanes; the others read as zero and are never written */
static inline vec v_load_part(const float *p, int64_t n) {
    float buf[VW] = {0};
    memcpy(buf, p, (size_t)n * sizeof(float));
    return vld1q_f32(buf);
}
static inline void v_store_part(float *p, vec a, int64_t n) {
    float buf[VW];
    vst1q_f32(buf, a);
    memcpy(p, buf, (size_t)n * sizeof(float));
}
static inline vec v_add(vec a, vec b) { return vaddq_f32(a, b); }
static inline vec v_sub(vec a, vec b) { return vsubq_f32(a, b); }
static inline vec v_mul(vec a, vec b) { return vmulq_f32(a, b); }
static inline vec v_div(vec a, vec b) { return vdivq_f32(a, b); }
static inline vec v_fma(vec a, vec b, vec c) { return vfmaq_f32(c, a, b); }  /* a*b + c */
static inline vec v_fnma(vec a, vec b, vec c) { return vfmsq_f32(c, a, b); } /* c - a*b */
static inline vec v_max(vec a, vec b) { return vmaxq_f32(a, b); }
static inline vec v_min(vec a, vec b) { return vminq_f32(a, b); }
static inline vec v_abs(vec a) { return vabsq_f32(a); }
/* where a < b take x, else y */
static inline vec v_lt_select(vec a, vec b, vec x, vec y) { return vbslq_f32(vcltq_f32(a, b), x, y); }
/* NaN lanes of x replace r's */
static inline vec v_keep_nan(vec x, vec r) { return vbslq_f32(vceqq_f32(x, x), r, x); }
static inline veci vi_round(vec a) { return vcvtnq_s32_f32(a); } /* nearest, ties even */
static inline vec vi_to_float(veci a) { return vcvtq_f32_s32(a); }
static inline veci vi_half(veci a) { return vshrq_n_s32(a, 1); }
static inline veci vi_sub(veci a, veci b) { return vsubq_s32(a, b); }
/* 2^e for integer e in [-126, 127] */
static inline vec vi_pow2(veci e) {
    return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(e, vdupq_n_s32(127)), 23));
}
static inline float v_hsum(vec a) { return vaddvq_f32(a); }
static inline float v_hmax(vec a) { return vmaxvq_f32(a); }

#endif
