/* The vector vocabulary of the *_vec.h kernel bodies in AVX-512: 16 float lanes. Included only
 * by *_avx512.c files, which are compiled with the AVX-512 flags. */
#ifndef GN_VEC_AVX512_H
#define GN_VEC_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#define VW 16
#define GN_VEC_NAME(name) name##_avx512
/* gn_mix's pass over the value rows: MIX_HEADS heads by MIX_VECS vectors of a row,
 * 16 accumulators of 32 registers */
#define MIX_HEADS 4
#define MIX_VECS 4

typedef __m512 vec;
typedef __m512i veci;

static inline __mmask16 v_first(int64_t n) { return (__mmask16)((1u << n) - 1); }
static inline vec v_set1(float a) { return _mm512_set1_ps(a); }
static inline vec v_load(const float *p) { return _mm512_loadu_ps(p); }
static inline vec v_load_h(const uint16_t *p) { /* VW float16 values, widened */
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
static inline void v_store(float *p, vec a) { _mm512_storeu_ps(p, a); }
/* the first n < VW lanes; the others read as zero and are never written */
static inline vec v_load_part(const float *p, int64_t n) { return _mm512_maskz_loadu_ps(v_first(n), p); }
static inline void v_store_part(float *p, vec a, int64_t n) { _mm512_mask_storeu_ps(p, v_first(n), a); }
static inline vec v_add(vec a, vec b) { return _mm512_add_ps(a, b); }
static inline vec v_sub(vec a, vec b) { return _mm512_sub_ps(a, b); }
static inline vec v_mul(vec a, vec b) { return _mm512_mul_ps(a, b); }
static inline vec v_div(vec a, vec b) { return _mm512_div_ps(a, b); }
static inline vec v_fma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }  /* a*b + c */
static inline vec v_fnma(vec a, vec b, vec c) { return _mm512_fnmadd_ps(a, b, c); } /* c - a*b */
static inline vec v_max(vec a, vec b) { return _mm512_max_ps(a, b); }
static inline vec v_min(vec a, vec b) { return _mm512_min_ps(a, b); }
static inline vec v_abs(vec a) { return _mm512_abs_ps(a); }
/* where a < b take x, else y */
static inline vec v_lt_select(vec a, vec b, vec x, vec y) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x);
}
/* NaN lanes of x replace r's */
static inline vec v_keep_nan(vec x, vec r) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), r, x);
}
static inline veci vi_round(vec a) { return _mm512_cvtps_epi32(a); } /* nearest, ties even */
static inline vec vi_to_float(veci a) { return _mm512_cvtepi32_ps(a); }
static inline veci vi_half(veci a) { return _mm512_srai_epi32(a, 1); }
static inline veci vi_sub(veci a, veci b) { return _mm512_sub_epi32(a, b); }
/* 2^e for integer e in [-126, 127] */
static inline vec vi_pow2(veci e) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(e, _mm512_set1_epi32(127)), 23));
}
static inline float v_hsum(vec a) { return _mm512_reduce_add_ps(a); }
static inline float v_hmax(vec a) { return _mm512_reduce_max_ps(a); }

#endif
