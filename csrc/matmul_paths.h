/* The arithmetic paths of gn_matmul other than exact float32, one file each. Arguments are
 * validated by gn_matmul before any path runs. Internal to the library. */
#ifndef GN_MATMUL_PATHS_H
#define GN_MATMUL_PATHS_H

#include "gn_kernels.h"

/* matmul_q8.c: block-quantized W x int8-quantized x (GN_MATMUL_INT8). */
int gn_matmul_q8_available(int wtype);
/* 1 when every matrix takes the int8 path with the same activation blocks. */
int gn_matmul_q8_group_ok(const gn_matmul_out *outs, int n);
gn_status gn_matmul_q8_group(gn_pool *pool, const float *x, int64_t M, int64_t K,
                             const gn_matmul_out *outs, int n);

/* matmul_bf16.c: float W x bfloat16-rounded x (GN_MATMUL_BF16), where the active table has
 * bfloat16 kernels; also block-quantized W dequantized to bfloat16 (gn_matmul_path decides
 * when: gn_kernels.quant_bf16_rows). */
int gn_matmul_bf16_available(int wtype);
int gn_matmul_bf16_dequant_available(int wtype);
gn_status gn_matmul_bf16(gn_pool *pool, const float *x, int64_t M, int64_t K, const void *w,
                         int wtype, int64_t N, const float *bias, float *y);
/* x [M, K] -> xb [M, K + (K & 1)] in bfloat16 (a last odd column padded with zero), as the
 * bfloat16 path converts x, across the pool. */
void gn_bf16_rows(gn_pool *pool, const float *x, int64_t M, int64_t K, uint16_t *xb);
/* gn_matmul_bf16 over x already so converted (xb), into y [M, N]; or, where y is NULL, into
 * yb [M, ldyb] (ldyb >= N) as bf16(act(y)), the rows as the next product would convert them,
 * without storing y. Arguments as gn_matmul checks them, for a weight type that takes the
 * bfloat16 path. */
gn_status gn_matmul_bf16_rows(gn_pool *pool, const uint16_t *xb, int64_t M, int64_t K,
                              const void *w, int wtype, int64_t N, int64_t w_row_bytes,
                              const float *bias, float *y, uint16_t *yb, int64_t ldyb,
                              gn_unary_fn act);
/* gn_matmul_group where every matrix takes the bfloat16 path: x converted once. */
gn_status gn_matmul_bf16_group(gn_pool *pool, const float *x, int64_t M, int64_t K,
                               const gn_matmul_out *outs, int n);
/* The same arithmetic with the scalar twins, on any CPU, for tests. Takes gn_matmul's
 * arguments and checks them. */
gn_status gn_matmul_bf16_scalar(gn_pool *pool, const float *x, int64_t M, int64_t K,
                                const void *w, int wtype, int64_t N, size_t w_bytes,
                                const float *bias, float *y);

/* matmul.c, for the paths that pack W (matmul_bf16.c, matmul_f32p.c): values of 16 W rows
 * dequantized at a time before packing, a multiple of every block size and small enough
 * (16 KB) to stay in L1 between the two steps. Whole rows (128 KB at K 2048) went through L2:
 * a prompt of the full q4_k file took 0.36 s against 0.34 (AMX). */
#define GN_DQ_CHUNK 256
/* Bytes of room for those rows where W is not float32 (float32 rows pack straight from W). */
size_t gn_dq_rows_bytes(int wtype);
/* n <= 16 rows of W from src (w_row_bytes apart), values k0 .. k0 + len (k0 a multiple of
 * GN_DQ_CHUNK, len <= GN_DQ_CHUNK), dequantized into dq, rows GN_DQ_CHUNK floats apart. */
void gn_dequant_chunk(gn_dequant_fn dequant, int wtype, const uint8_t *src, int64_t w_row_bytes,
                      int64_t n, int64_t k0, int64_t len, float *dq);

/* matmul.c, for the paths whose kernels take no bias: y[m * ldy + r] += bias[r] for m < M,
 * r < rows, as one float32 addition after the product (every path rounds the same way). */
void gn_add_bias_rows(float *y, int64_t ldy, int64_t M, int64_t rows, const float *bias);

/* matmul_f32p.c: the exact float32 path on packed operands, where the active table has a
 * packed kernel and x has rows enough to pay for packing; any type with a dequantizer. */
int gn_matmul_f32p_takes(int wtype, int64_t M);
gn_status gn_matmul_f32p(gn_pool *pool, const float *x, int64_t M, int64_t K, const void *w,
                         int wtype, int64_t N, int64_t w_row_bytes, const float *bias, float *y);
/* The same with the scalar twins, on any CPU, for tests; checks gn_matmul's arguments. */
gn_status gn_matmul_f32p_scalar(gn_pool *pool, const float *x, int64_t M, int64_t K,
                                const void *w, int wtype, int64_t N, size_t w_bytes,
                                const float *bias, float *y);

/* matmul.c: gn_matmul's argument checks; *w_row_bytes receives the bytes of one W row. */
gn_status gn_matmul_check(const float *x, int64_t M, int64_t K, const void *w, int wtype,
                          int64_t N, size_t w_bytes, const float *y, int64_t *w_row_bytes);

#endif
