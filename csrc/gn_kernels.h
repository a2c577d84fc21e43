/* The per-ISA kernel table. Each ISA file provides its functions; dispatch.c assembles one
 * table per ISA (like numpy's dispatch and ggml's per-ISA files), each entry falling back to
 * the scalar twin where the ISA has nothing faster. Internal to the library. */
#ifndef GN_KERNELS_H
#define GN_KERNELS_H

#include "gn.h"

/* Register-tiled kernels are written once with the tile size as a parameter and instantiated
 * per size; they only keep their accumulators in registers when inlined into each caller. */
#if defined(_MSC_VER)
#define GN_ALWAYS_INLINE __forceinline
#elif defined(__GNUC__) || defined(__clang__)
#define GN_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define GN_ALWAYS_INLINE inline
#endif

/* dst[0:n] = dequantize(src); n is a whole number of blocks (checked by the caller). */
typedef void (*gn_dequant_fn)(const void *src, float *dst, int64_t n);

/* y[m, n] = sum_k x[m, k] * w[n, k] for m < M, n < N, overwriting y.
 * Row strides are in elements. Sizes are validated by the caller. */
typedef void (*gn_gemm_f32_fn)(int64_t M, int64_t N, int64_t K,
                               const float *x, int64_t ldx,
                               const float *w, int64_t ldw,
                               float *y, int64_t ldy);

/* One row of k floats (k a whole number of blocks) -> activation blocks (block_q8_K or
 * block_q8_32, quant_blocks.h), with the rule stated there. */
typedef void (*gn_quantize_act_fn)(const float *x, void *dst, int64_t k);

/* y[m * ldy + n] = dot(W row n, x row m) for m < M, n < N, overwriting y, where x rows are
 * activation blocks (xq_row_bytes apart; Q8_K for Q4_K/Q6_K weights, Q8_32 for Q4_0/Q8_0)
 * and W rows are in the weight type (w_row_bytes apart). Sizes are validated by the caller. */
typedef void (*gn_gemm_q_fn)(int64_t M, int64_t N, int64_t K,
                             const void *xq, int64_t xq_row_bytes,
                             const void *w, int64_t w_row_bytes,
                             float *y, int64_t ldy);

/* Roofline probes (csrc/probe.c): the sum of bytes/8 little-endian 64-bit words, bytes a
 * multiple of 64; and `iters` rounds of independent multiply-add chains, returning the FLOPs
 * done, with a value of the result in *sink so the work cannot be optimised away. */
typedef uint64_t (*gn_probe_read_fn)(const void *buf, size_t bytes);
typedef int64_t (*gn_probe_fma_fn)(int64_t iters, float *sink);

typedef struct {
    int isa;
    gn_dequant_fn dequant[GN_TYPE_COUNT];
    gn_gemm_f32_fn gemm_f32;
    gn_quantize_act_fn quantize_q8_k, quantize_q8_32;
    gn_gemm_q_fn gemm_q[GN_TYPE_COUNT]; /* indexed by weight type: Q4_0, Q8_0, Q4_K, Q6_K */
    gn_probe_read_fn probe_read;
    gn_probe_fma_fn probe_fma;
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
void gn_quantize_q8_k_scalar(const float *x, void *dst, int64_t k);
void gn_quantize_q8_32_scalar(const float *x, void *dst, int64_t k);
void gn_gemm_q_q4_0_scalar(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                           const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
void gn_gemm_q_q8_0_scalar(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                           const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
void gn_gemm_q_q4_k_scalar(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                           const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
void gn_gemm_q_q6_k_scalar(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                           const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
uint64_t gn_probe_read_scalar(const void *buf, size_t bytes);
int64_t gn_probe_fma_scalar(int64_t iters, float *sink);


/* SIMD twins, compiled only for their architecture. F32 "dequantization" is a memcpy that libc
 * already vectorizes, so every table keeps the scalar one. */
#if defined(__x86_64__) || defined(_M_X64)
void gn_dequant_f16_avx2(const void *src, float *dst, int64_t n);
void gn_dequant_bf16_avx2(const void *src, float *dst, int64_t n);
void gn_dequant_q4_0_avx2(const void *src, float *dst, int64_t n);
void gn_dequant_q8_0_avx2(const void *src, float *dst, int64_t n);
void gn_dequant_q4_k_avx2(const void *src, float *dst, int64_t n);
void gn_dequant_q6_k_avx2(const void *src, float *dst, int64_t n);
uint64_t gn_probe_read_avx2(const void *buf, size_t bytes);
int64_t gn_probe_fma_avx2(int64_t iters, float *sink);
void gn_gemm_f32_avx2(int64_t M, int64_t N, int64_t K, const float *x, int64_t ldx,
                      const float *w, int64_t ldw, float *y, int64_t ldy);

void gn_dequant_f16_avx512(const void *src, float *dst, int64_t n);
void gn_dequant_bf16_avx512(const void *src, float *dst, int64_t n);
void gn_dequant_q4_0_avx512(const void *src, float *dst, int64_t n);
void gn_dequant_q8_0_avx512(const void *src, float *dst, int64_t n);
void gn_dequant_q4_k_avx512(const void *src, float *dst, int64_t n);
void gn_dequant_q6_k_avx512(const void *src, float *dst, int64_t n);
uint64_t gn_probe_read_avx512(const void *buf, size_t bytes);
int64_t gn_probe_fma_avx512(int64_t iters, float *sink);
void gn_gemm_f32_avx512(int64_t M, int64_t N, int64_t K, const float *x, int64_t ldx,
                        const float *w, int64_t ldw, float *y, int64_t ldy);
void gn_quantize_q8_k_avx512(const float *x, void *dst, int64_t k);
void gn_quantize_q8_32_avx512(const float *x, void *dst, int64_t k);
void gn_gemm_q_q4_0_avx512(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                           const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
void gn_gemm_q_q8_0_avx512(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                           const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
void gn_gemm_q_q4_k_avx512(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                           const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
void gn_gemm_q_q6_k_avx512(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                           const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
#endif

#if defined(__aarch64__) || defined(_M_ARM64)
void gn_dequant_f16_neon(const void *src, float *dst, int64_t n);
void gn_dequant_bf16_neon(const void *src, float *dst, int64_t n);
void gn_dequant_q4_0_neon(const void *src, float *dst, int64_t n);
void gn_dequant_q8_0_neon(const void *src, float *dst, int64_t n);
void gn_dequant_q4_k_neon(const void *src, float *dst, int64_t n);
void gn_dequant_q6_k_neon(const void *src, float *dst, int64_t n);
uint64_t gn_probe_read_neon(const void *buf, size_t bytes);
int64_t gn_probe_fma_neon(int64_t iters, float *sink);
void gn_gemm_f32_neon(int64_t M, int64_t N, int64_t K, const float *x, int64_t ldx,
                      const float *w, int64_t ldw, float *y, int64_t ldy);
#endif

#endif
