/* The vector vocabulary of the *_vec.h kernel bodies in AVX2+FMA: 8 float lanes. Included only
 * by *_avx2.c files, which are compiled with the AVX2 flags. */
#ifndef GN_VEC_AVX2_H
#define GN_VEC_AVX2_H

#include <immintrin.h>
#include <stdint.h>

#define VW 8
#define GN_VEC_NAME(name) name##_avx2
/* gn_mix's pass over the value rows: MIX_HEADS heads by MIX_VECS vectors of a row,
 * 8 accumulators of 16 registers */
#define MIX_HEADS 2
#define MIX_VECS 4

typedef __m256 vec;
typedef __m256i veci;

/* lanes i < n set, for maskload/maskstore */
static inline __m256i v_first(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vec v_set1(float a) { return _mm256_set1_ps(a); }
static inline vec v_load(const float *p) { return _mm256_loadu_ps(p); }
static inline vec v_load_h(const uint16_t *p) { /* VW float16 values, widened */
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
static inline void v_store(float *p, vec a) { _mm256_storeu_ps(p, a); }
/* the first n < VW lanes; the others read as zero and are never written */
static inline vec v_load_part(const float *p, int64_t n) { return _mm256_maskload_ps(p, v_first(n)); }
static inline void v_store_part(float *p, vec a, int64_t n) { _mm256_maskstore_ps(p, v_first(n), a); }
static inline vec v_add(vec a, vec b) { return _mm256_add_ps(a, b); }
static inline vec v_sub(vec a, vec b) { return _mm256_sub_ps(a, b); }
static inline vec v_mul(vec a, vec b) { return _mm256_mul_ps(a, b); }
static inline vec v_div(vec a, vec b) { return _mm256_div_ps(a, b); }
static inline vec v_fma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }  /* a*b + c */
static inline vec v_fnma(vec a, vec b, vec c) { return _mm256_fnmadd_ps(a, b, c); } /* c - a*b */
static inline vec v_max(vec a, vec b) { return _mm256_max_ps(a, b); }
static inline vec v_min(vec a, vec b) { return _mm256_min_ps(a, b); }
static inline vec v_abs(vec a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
/* where a < b take x, else y */
static inline vec v_lt_select(vec a, vec b, vec x, vec y) {
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
}
/* NaN lanes of x replace r's */
static inline vec v_keep_nan(vec x, vec r) {
    return _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}
static inline veci vi_round(vec a) { return _mm256_cvtps_epi32(a); } /* nearest, ties even */
static inline vec vi_to_float(veci a) { return _mm256_cvtepi32_ps(a); }
static inline veci vi_half(veci a) { return _mm256_srai_epi32(a, 1); }
static inline veci vi_sub(veci a, veci b) { return _mm256_sub_epi32(a, b); }
/* 2^e for integer e in [-126, 127] */
static inline vec vi_pow2(veci e) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23));
}
static inline float v_hsum(vec a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
static inline float v_hmax(vec a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}

#endif
