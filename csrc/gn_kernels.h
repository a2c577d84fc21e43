/* The per-ISA kernel table. Each ISA file provides its functions; dispatch.c assembles one
 * table per ISA (like numpy's dispatch and ggml's per-ISA files), each entry falling back to
 * the scalar twin where the ISA has nothing faster. Internal to the library. */
#ifndef GN_KERNELS_H
#define GN_KERNELS_H

#include "gn.h"

/* dst[0:n] = dequantize(src); n is a whole number of blocks (checked by the caller). */
typedef void (*gn_dequant_fn)(const void *src, float *dst, int64_t n);

/* y[m, n] = sum_k x[m, k] * w[n, k] for m < M, n < N, overwriting y.
 * Row strides are in elements. Sizes are validated by the caller. */
typedef void (*gn_gemm_f32_fn)(int64_t M, int64_t N, int64_t K,
                               const float *x, int64_t ldx,
                               const float *w, int64_t ldw,
                               float *y, int64_t ldy);

typedef struct {
    int isa;
    gn_dequant_fn dequant[GN_TYPE_COUNT];
    gn_gemm_f32_fn gemm_f32;
} gn_kernels;

/* The table in force (set once at import, or by gn_isa_select). */
extern const gn_kernels *gn_active;

/* Scalar twins: the reference every SIMD path is tested against. */
void gn_dequant_f32_scalar(const void *src, float *dst, int64_t n);
void gn_dequant_f16_scalar(const void *src, float *dst, int64_t n);
void gn_dequant_bf16_scalar(const void *src, float *dst, int64_t n);
void gn_dequant_q4_0_scalar(const void *src, float *dst, int64_t n);
void gn_dequant_q8_0_scalar(const void *src, float *dst, int64_t n);
void gn_dequant_q4_k_scalar(const void *src, float *dst, int64_t n);
void gn_dequant_q6_k_scalar(const void *src, float *dst, int64_t n);
void gn_gemm_f32_scalar(int64_t M, int64_t N, int64_t K, const float *x, int64_t ldx,
                        const float *w, int64_t ldw, float *y, int64_t ldy);

#endif
