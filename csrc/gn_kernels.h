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

/* Decode GEMVs over the interleaved layouts prefetch this many bytes ahead into L2: the AVX2
 * kernel always (gemm_q_r16_avx2.c), the AVX-512 one where gn_stream_prefetch() says so. On
 * Intel's cores the hardware prefetcher leaves a GEMV that streams Q4_K_R16 from memory short
 * of the read probe (Ice Lake: 81-88%, 96-102% with the prefetch; Sapphire Rapids 11.6 -> 12.5
 * GB/s per core), while on Zen 4 the AVX-512 kernel was slower with every distance tried. */
#define GN_STREAM_PREFETCH 4096
static inline int gn_stream_prefetch(void) { return gn_cpu()->intel; }

#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
/* Part `part` of `parts` of the cache lines of the `bytes` that start GN_STREAM_PREFETCH past
 * p, into L2: called once per part of each block, it walks the stream that far ahead. */
static GN_ALWAYS_INLINE void gn_prefetch_part(const void *p, size_t bytes, int part, int parts) {
    const size_t per_part = ((bytes + 63) / 64 + (size_t)parts - 1) / (size_t)parts;
    /* integer arithmetic: near the end of W this points past it, and prefetches never fault */
    const uintptr_t a = (uintptr_t)p + GN_STREAM_PREFETCH + 64 * per_part * (size_t)part;
    for (size_t k = 0; k < per_part; k++) _mm_prefetch((const char *)(a + 64 * k), _MM_HINT_T1);
}
/* The F16 GEMVs and the float32 dot-product GEMMs read a tile of `rows` W rows side by side,
 * so `rows` streams a row apart, each new to the hardware prefetcher at every tile (a 2048-wide
 * F16 row is one 4 KB page, and the stream prefetchers stop at page edges). Called once per
 * cache line of a tile's rows (row_bytes apart, col_bytes into them), this fetches the same
 * line of the rows GN_ROWS_AHEAD tiles on into L2. Zen 4, two threads over a decode step's
 * F16 matrices: 31.7 -> 39.2 GB/s with AVX-512, 25.1 -> 32.0 with AVX2; one tile ahead gained
 * less, and into L1 lost. A decode step's attention scores (K rows from memory, 4 query rows):
 * one core 6.3 -> 19 GB/s, the one-core read probe's rate; into L1 only 8 (gemm_f32_stream). */
#define GN_ROWS_AHEAD 2
static GN_ALWAYS_INLINE void gn_prefetch_rows(const void *w, int64_t row_bytes, int rows,
                                              int64_t col_bytes) {
    /* integer arithmetic: past the last tile this points beyond w, and prefetches never fault */
    const uintptr_t a = (uintptr_t)w + (uintptr_t)col_bytes +
                        (uintptr_t)(GN_ROWS_AHEAD * rows * row_bytes);
    for (int r = 0; r < rows; r++)
        _mm_prefetch((const char *)(a + (uintptr_t)(r * row_bytes)), _MM_HINT_T1);
}
#endif

/* dst[0:n] = dequantize(src); n is a whole number of blocks (checked by the caller). */
typedef void (*gn_dequant_fn)(const void *src, float *dst, int64_t n);

/* y[m, n] = sum_k x[m, k] * w[n, k] for m < M, n < N, overwriting y.
 * Row strides are in elements. Sizes are validated by the caller. */
typedef void (*gn_gemm_f32_fn)(int64_t M, int64_t N, int64_t K,
                               const float *x, int64_t ldx,
                               const float *w, int64_t ldw,
                               float *y, int64_t ldy);

/* The packed float32 GEMM (matmul_f32p.c) multiplies x in tiles of GN_F32P_TILE rows, k-major:
 * x[t * GN_F32P_TILE + i][k] at xp[t * GN_F32P_TILE * K + k * GN_F32P_TILE + i], rows past M
 * zero; and W in panels of GN_F32_PANEL rows, k-major: W[r][k] at panel[k * GN_F32_PANEL + r],
 * rows past cols zero. So one vector load gives 16 rows of W at one k, and one scalar of the
 * tile is broadcast against them.
 * y[m * ldy + n] = bias[n] + sum_k x[m][k] * W[n][k] for m < M, n < cols (<= GN_F32_PANEL),
 * overwriting y: each output one chain of fused multiply-adds in k order, from the bias (zero
 * where bias is NULL). Sizes are validated by the caller. */
#define GN_F32_PANEL 64
#define GN_F32P_TILE 12
typedef void (*gn_gemm_f32p_fn)(int64_t M, int64_t cols, int64_t K, const float *xp,
                                const float *panel, const float *bias, float *y, int64_t ldy);
/* Both packings: dst[k * dst_ld + r] = rows[r * ld + k] for k < len, r < width (<= 16), zero
 * for rows n <= r < width. */
typedef void (*gn_pack_f32p_fn)(const float *rows, int64_t ld, int64_t n, int64_t len,
                                float *dst, int64_t dst_ld, int width);

/* y[m * ldy + n] = sum_k x[m * K + k] * W[n, k] for m < M <= GN_GEMV_MAX_M, n < N, with W rows
 * of K F16 values ldw elements apart: decode-sized products that widen each weight once
 * instead of dequantizing W into a float32 panel. */
#define GN_GEMV_MAX_M 4
typedef void (*gn_gemv_f16_fn)(int64_t M, int64_t N, int64_t K, const float *x,
                               const uint16_t *w, int64_t ldw, float *y, int64_t ldy);

/* One row of k floats (k a whole number of blocks) -> activation blocks (block_q8_K or
 * block_q8_32, quant_blocks.h), with the rule stated there. */
typedef void (*gn_quantize_act_fn)(const float *x, void *dst, int64_t k);

/* y[m * ldy + n] = dot(W row n, x row m) for m < M, n < N, overwriting y, where x rows are
 * activation blocks (xq_row_bytes apart; Q8_K for Q4_K/Q6_K weights, Q8_32 for Q4_0/Q8_0)
 * and W rows are in the weight type (w_row_bytes apart; N whole row groups of an interleaved
 * type). Sizes are validated by the caller. */
typedef void (*gn_gemm_q_fn)(int64_t M, int64_t N, int64_t K,
                             const void *xq, int64_t xq_row_bytes,
                             const void *w, int64_t w_row_bytes,
                             float *y, int64_t ldy);

/* Q4_K rows -> Q4_K_R16 (gn_repack): rows (<= 16) rows of nb super-blocks, row r at
 * src + r * row_bytes, into nb block_q4_K_r16 at dst; lanes of rows past `rows` are left as
 * they are. Every level writes the scalar twin's bytes. */
typedef void (*gn_repack_fn)(const uint8_t *src, int64_t row_bytes, int rows, int64_t nb,
                             void *dst);

/* Rows of the model operations (gn_ops.h), n >= 1 contiguous floats each; sizes are validated by
 * the caller. y may alias the inputs. */
typedef void (*gn_unary_fn)(const float *x, float *y, int64_t n);
/* The active level's kernel of activation `act` (gn_ops.h's GN_ACT_*), NULL for an unknown id
 * (activation.c). */
gn_unary_fn gn_act_fn(int act);
/* swiglu: y = silu(a) * b; glu: y = a * sigmoid(b) */
typedef void (*gn_binary_fn)(const float *a, const float *b, float *y, int64_t n);
typedef void (*gn_softmax_fn)(float *x, int64_t n); /* in place */
/* out[h * ldo + 0:d] = sum over r < n of p[h * ldp + r] * v[r * ldv + 0:d] for h < heads
 * (fused multiply-adds, r in order): the attention heads that share these value rows, which
 * the kernel reads once for all of them */
typedef void (*gn_mix_fn)(const float *p, int64_t ldp, int64_t heads, int64_t n, const float *v,
                          int64_t ldv, float *out, int64_t ldo, int64_t d);
/* The same over float16 value rows (a float16 KV cache), each value widened exactly. */
typedef void (*gn_mix_f16_fn)(const float *p, int64_t ldp, int64_t heads, int64_t n,
                              const uint16_t *v, int64_t ldv, float *out, int64_t ldo, int64_t d);
typedef void (*gn_layernorm_fn)(const float *x, const float *w, const float *b, float eps,
                                float *y, int64_t d);
typedef void (*gn_rmsnorm_fn)(const float *x, const float *w, float eps, float *y, int64_t d);
/* Output frames t0 <= t < t1 of the depthwise convolution of x [T, C] with the kernel
 * transposed to wt [k, C] (k odd, zero padding k/2); y [T, C] must not alias x. */
typedef void (*gn_conv_dw_fn)(const float *x, int64_t T, int64_t C, const float *wt, int64_t k,
                              int64_t t0, int64_t t1, float *y);

/* Roofline probes (csrc/probe.c): the sum of bytes/8 little-endian 64-bit words, bytes a
 * multiple of 64; and `iters` rounds of independent multiply-add chains, returning the FLOPs
 * done, with a value of the result in *sink so the work cannot be optimised away. */
typedef uint64_t (*gn_probe_read_fn)(const void *buf, size_t bytes);
typedef int64_t (*gn_probe_fma_fn)(int64_t iters, float *sink);

/* The bfloat16 path (matmul_bf16.c). Conversions to bfloat16 round to nearest even, flush
 * denormals to signed zero and quiet NaNs, as AVX-512 BF16's VCVTNE2PS2BF16 does, so the
 * scalar twins and the SIMD kernels agree on every input. W is multiplied in packed panels of
 * GN_BF16_PANEL rows: pair p of K holds, for each panel row r, the dword
 * [bf16(w[r][2p]), bf16(w[r][2p + 1])] at panel + 2 * (p * GN_BF16_PANEL + r), so one vector
 * load gives 16 rows' pairs, the operand of a two-wide bfloat16 dot product. */
#define GN_BF16_PANEL 64
/* dst[0:n] = bf16(src[0:n]). */
typedef void (*gn_to_bf16_fn)(const float *src, uint16_t *dst, int64_t n);
/* dst[0:n] = float16(src[0:n]), rounded to nearest even (gn_f32_to_f16): a float16 KV cache. */
typedef void (*gn_to_f16_fn)(const float *src, uint16_t *dst, int64_t n);
/* Writes panel rows r0 .. r0 + 15 (r0 a multiple of 16) from n <= 16 rows of K floats, ld
 * floats apart: (K + 1) / 2 pairs each, the element past an odd K zero, rows past n zero. */
typedef void (*gn_pack_bf16_fn)(const float *rows, int64_t ld, int64_t n, int64_t K,
                                uint16_t *panel, int64_t r0);
/* y[m * ldy + n] = bias[n] + sum_k x[m * ldx + k] * W[n][k] for m < M, n < cols (<=
 * GN_BF16_PANEL), overwriting y, from bfloat16 products summed in float32 onto the bias (zero
 * where bias is NULL). K is even; x rows are K bfloat16 values and the panel K / 2 pairs.
 * Sizes are validated by the caller. */
typedef void (*gn_gemm_bf16_fn)(int64_t M, int64_t cols, int64_t K, const uint16_t *x,
                                int64_t ldx, const uint16_t *panel, const float *bias,
                                float *y, int64_t ldy);

typedef struct {
    int isa;
    /* the CPU extensions beyond the level whose kernels the table took, space-separated
     * ("avx512bf16", "avxvnni", "dotprod"; "" for none): gn_isa_extensions */
    const char *extensions;
    gn_dequant_fn dequant[GN_TYPE_COUNT];
    gn_to_f16_fn to_f16;
    gn_gemm_f32_fn gemm_f32;
    /* gemm_f32 for a w read once, from memory (a decode step's attention scores): prefetches
     * its rows; the same arithmetic */
    gn_gemm_f32_fn gemm_f32_stream;
    /* NULL where the level has none (no scalar fallback: gemm_f32 is the plain path there) */
    gn_gemm_f32p_fn gemm_f32p;
    gn_pack_f32p_fn pack_f32p;
    gn_gemv_f16_fn gemv_f16;
    gn_quantize_act_fn quantize_q8_k, quantize_q8_32;
    /* indexed by weight type: Q4_0, Q8_0, Q4_K, Q6_K, and the interleaved layouts where the
     * ISA has a kernel for them (no scalar fallback: they are made only for such kernels):
     * Q4_K_R16 and Q8_K_R16 (AVX2, AVX-512). For those, N is a multiple of 16 and
     * W points at a 16-row block boundary. */
    gn_gemm_q_fn gemm_q[GN_TYPE_COUNT];
    gn_repack_fn repack_q4_k_r16; /* with the Q4_K_R16 kernel, NULL without it */
    gn_unary_fn silu, sigmoid, gelu_erf;
    gn_binary_fn swiglu, glu;
    gn_softmax_fn softmax;
    gn_mix_fn mix;
    gn_mix_f16_fn mix_f16;
    gn_layernorm_fn layernorm;
    gn_rmsnorm_fn rmsnorm;
    gn_conv_dw_fn conv_dw;
    gn_probe_read_fn probe_read;
    gn_probe_fma_fn probe_fma;
    /* NULL where the CPU has no bfloat16 dot products, with no scalar fallback: there the exact
     * float32 path is faster than emulating bfloat16, so GN_MATMUL_BF16 takes it instead. */
    gn_to_bf16_fn to_bf16;
    gn_pack_bf16_fn pack_bf16;
    gn_gemm_bf16_fn gemm_bf16;
    gn_probe_fma_fn probe_bf16; /* bfloat16 dot-product chains, 2 FLOPs per product */
    gn_probe_fma_fn probe_int8; /* int8 dot-product chains, 2 ops per product */
    /* From this many rows of x on, block-quantized weights under GN_MATMUL_INT8 are
     * dequantized into bfloat16 panels for gemm_bf16 instead (0: never). */
    int64_t quant_bf16_rows;
} gn_kernels;

/* The table in force (set once at import, or by gn_isa_select). */
extern const gn_kernels *gn_active;

/* Scalar twins: the reference every SIMD path is tested against. */
void gn_dequant_f32_scalar(const void *src, float *dst, int64_t n);
void gn_dequant_f16_scalar(const void *src, float *dst, int64_t n);
void gn_to_f16_scalar(const float *src, uint16_t *dst, int64_t n);
void gn_dequant_bf16_scalar(const void *src, float *dst, int64_t n);
void gn_dequant_q4_0_scalar(const void *src, float *dst, int64_t n);
void gn_dequant_q8_0_scalar(const void *src, float *dst, int64_t n);
void gn_dequant_q4_k_scalar(const void *src, float *dst, int64_t n);
void gn_dequant_q6_k_scalar(const void *src, float *dst, int64_t n);
/* The scalar table's dequantizer of a type (NULL for a layout without one). */
gn_dequant_fn gn_dequant_scalar(int type);
void gn_gemm_f32p_scalar(int64_t M, int64_t cols, int64_t K, const float *xp, const float *panel,
                         const float *bias, float *y, int64_t ldy);
void gn_pack_f32p_scalar(const float *rows, int64_t ld, int64_t n, int64_t len, float *dst,
                         int64_t dst_ld, int width);
void gn_gemv_f16_scalar(int64_t M, int64_t N, int64_t K, const float *x, const uint16_t *w,
                        int64_t ldw, float *y, int64_t ldy);
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
/* Twins of the repacked-Q4_K kernel and of the repacking, kept out of the scalar table:
 * repacking pays only where an ISA has a kernel for the layout (gn_repack_type). */
void gn_gemm_q_q4_k_r16_scalar(int64_t M, int64_t N, int64_t K, const void *xq,
                               int64_t xq_row_bytes, const void *w, int64_t w_row_bytes, float *y,
                               int64_t ldy);
void gn_repack_q4_k_r16_scalar(const uint8_t *src, int64_t row_bytes, int rows, int64_t nb,
                               void *dst);
/* Twin of the kernel for float weights quantized at load to 8 bits (AVX2). */
void gn_gemm_q_q8_k_r16_scalar(int64_t M, int64_t N, int64_t K, const void *xq,
                               int64_t xq_row_bytes, const void *w, int64_t w_row_bytes, float *y,
                               int64_t ldy);
uint64_t gn_probe_read_scalar(const void *buf, size_t bytes);
int64_t gn_probe_fma_scalar(int64_t iters, float *sink);
/* Twins of the bfloat16 kernels, kept out of the scalar table (see gn_kernels.to_bf16). */
void gn_to_bf16_scalar(const float *src, uint16_t *dst, int64_t n);
void gn_pack_bf16_scalar(const float *rows, int64_t ld, int64_t n, int64_t K, uint16_t *panel,
                         int64_t r0);
void gn_gemm_bf16_scalar(int64_t M, int64_t cols, int64_t K, const uint16_t *x, int64_t ldx,
                         const uint16_t *panel, const float *bias, float *y, int64_t ldy);
void gn_silu_scalar(const float *x, float *y, int64_t n);
void gn_sigmoid_scalar(const float *x, float *y, int64_t n);
void gn_gelu_erf_scalar(const float *x, float *y, int64_t n);
void gn_swiglu_scalar(const float *g, const float *u, float *y, int64_t n);
void gn_glu_scalar(const float *a, const float *g, float *y, int64_t n);
void gn_softmax_scalar(float *x, int64_t n);
void gn_mix_scalar(const float *p, int64_t ldp, int64_t heads, int64_t n, const float *v,
                   int64_t ldv, float *out, int64_t ldo, int64_t d);
void gn_mix_f16_scalar(const float *p, int64_t ldp, int64_t heads, int64_t n,
                       const uint16_t *v, int64_t ldv, float *out, int64_t ldo, int64_t d);
void gn_layernorm_row_scalar(const float *x, const float *w, const float *b, float eps, float *y,
                        int64_t d);
void gn_rmsnorm_row_scalar(const float *x, const float *w, float eps, float *y, int64_t d);
void gn_conv_dw_rows_scalar(const float *x, int64_t T, int64_t C, const float *wt, int64_t k,
                        int64_t t0, int64_t t1, float *y);


/* SIMD twins, compiled only for their architecture. F32 "dequantization" is a memcpy that libc
 * already vectorizes, so every table keeps the scalar one. */
#if defined(__x86_64__) || defined(_M_X64)
void gn_dequant_f16_avx2(const void *src, float *dst, int64_t n);
void gn_to_f16_avx2(const float *src, uint16_t *dst, int64_t n);
void gn_dequant_bf16_avx2(const void *src, float *dst, int64_t n);
void gn_dequant_q4_0_avx2(const void *src, float *dst, int64_t n);
void gn_dequant_q8_0_avx2(const void *src, float *dst, int64_t n);
void gn_dequant_q4_k_avx2(const void *src, float *dst, int64_t n);
void gn_dequant_q6_k_avx2(const void *src, float *dst, int64_t n);
uint64_t gn_probe_read_avx2(const void *buf, size_t bytes);
int64_t gn_probe_fma_avx2(int64_t iters, float *sink);
int64_t gn_probe_int8_avx2(int64_t iters, float *sink);
void gn_repack_q4_k_r16_avx2(const uint8_t *src, int64_t row_bytes, int rows, int64_t nb,
                             void *dst);
void gn_gemv_f16_avx2(int64_t M, int64_t N, int64_t K, const float *x, const uint16_t *w,
                      int64_t ldw, float *y, int64_t ldy);
void gn_gemm_f32_avx2(int64_t M, int64_t N, int64_t K, const float *x, int64_t ldx,
                      const float *w, int64_t ldw, float *y, int64_t ldy);
void gn_gemm_f32_stream_avx2(int64_t M, int64_t N, int64_t K, const float *x, int64_t ldx,
                             const float *w, int64_t ldw, float *y, int64_t ldy);
void gn_gemm_f32p_avx2(int64_t M, int64_t cols, int64_t K, const float *xp, const float *panel,
                       const float *bias, float *y, int64_t ldy);
void gn_pack_f32p_avx2(const float *rows, int64_t ld, int64_t n, int64_t len, float *dst,
                       int64_t dst_ld, int width);
void gn_quantize_q8_k_avx2(const float *x, void *dst, int64_t k);
void gn_quantize_q8_32_avx2(const float *x, void *dst, int64_t k);
void gn_gemm_q4_0_avx2(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                       const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
void gn_gemm_q8_0_avx2(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                       const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
void gn_gemm_q4_k_avx2(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                       const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
void gn_gemm_q6_k_avx2(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                       const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
void gn_gemm_q_q4_k_r16_avx2(int64_t M, int64_t N, int64_t K, const void *xq,
                             int64_t xq_row_bytes, const void *w, int64_t w_row_bytes, float *y,
                             int64_t ldy);
void gn_gemm_q_q8_k_r16_avx2(int64_t M, int64_t N, int64_t K, const void *xq,
                             int64_t xq_row_bytes, const void *w, int64_t w_row_bytes, float *y,
                             int64_t ldy);
void gn_silu_avx2(const float *x, float *y, int64_t n);
void gn_sigmoid_avx2(const float *x, float *y, int64_t n);
void gn_gelu_erf_avx2(const float *x, float *y, int64_t n);
void gn_swiglu_avx2(const float *g, const float *u, float *y, int64_t n);
void gn_glu_avx2(const float *a, const float *g, float *y, int64_t n);
void gn_softmax_avx2(float *x, int64_t n);
void gn_mix_avx2(const float *p, int64_t ldp, int64_t heads, int64_t n, const float *v,
                 int64_t ldv, float *out, int64_t ldo, int64_t d);
void gn_mix_f16_avx2(const float *p, int64_t ldp, int64_t heads, int64_t n,
                     const uint16_t *v, int64_t ldv, float *out, int64_t ldo, int64_t d);
void gn_layernorm_row_avx2(const float *x, const float *w, const float *b, float eps, float *y,
                        int64_t d);
void gn_rmsnorm_row_avx2(const float *x, const float *w, float eps, float *y, int64_t d);
void gn_conv_dw_rows_avx2(const float *x, int64_t T, int64_t C, const float *wt, int64_t k,
                        int64_t t0, int64_t t1, float *y);

void gn_dequant_f16_avx512(const void *src, float *dst, int64_t n);
void gn_to_f16_avx512(const float *src, uint16_t *dst, int64_t n);
void gn_dequant_bf16_avx512(const void *src, float *dst, int64_t n);
void gn_dequant_q4_0_avx512(const void *src, float *dst, int64_t n);
void gn_dequant_q8_0_avx512(const void *src, float *dst, int64_t n);
void gn_dequant_q4_k_avx512(const void *src, float *dst, int64_t n);
void gn_dequant_q6_k_avx512(const void *src, float *dst, int64_t n);
uint64_t gn_probe_read_avx512(const void *buf, size_t bytes);
int64_t gn_probe_fma_avx512(int64_t iters, float *sink);
void gn_gemv_f16_avx512(int64_t M, int64_t N, int64_t K, const float *x, const uint16_t *w,
                        int64_t ldw, float *y, int64_t ldy);
void gn_gemm_f32_avx512(int64_t M, int64_t N, int64_t K, const float *x, int64_t ldx,
                        const float *w, int64_t ldw, float *y, int64_t ldy);
void gn_gemm_f32_stream_avx512(int64_t M, int64_t N, int64_t K, const float *x, int64_t ldx,
                               const float *w, int64_t ldw, float *y, int64_t ldy);
void gn_gemm_f32p_avx512(int64_t M, int64_t cols, int64_t K, const float *xp, const float *panel,
                         const float *bias, float *y, int64_t ldy);
void gn_pack_f32p_avx512(const float *rows, int64_t ld, int64_t n, int64_t len, float *dst,
                         int64_t dst_ld, int width);
/* AVX-512 BF16: installed only where the CPU has it, which the AVX-512 level does not require. */
void gn_to_bf16_avx512(const float *src, uint16_t *dst, int64_t n);
void gn_pack_bf16_avx512(const float *rows, int64_t ld, int64_t n, int64_t K, uint16_t *panel,
                         int64_t r0);
void gn_gemm_bf16_avx512(int64_t M, int64_t cols, int64_t K, const uint16_t *x, int64_t ldx,
                         const uint16_t *panel, const float *bias, float *y, int64_t ldy);
int64_t gn_probe_bf16_avx512(int64_t iters, float *sink);
/* AVX-VNNI (gemm_q_r16_avxvnni.c, gemm_q8_k_r16_avxvnni.c, probe_avxvnni.c): the AVX2
 * level's int8 kernels where gn_cpu()->avxvnni, or NULL where the compiler could not build
 * them. */
gn_gemm_q_fn gn_avxvnni_q4_k_r16(void);
gn_gemm_q_fn gn_avxvnni_q8_k_r16(void);
gn_probe_fma_fn gn_avxvnni_probe_int8(void);
/* AMX (gemm_bf16_amx.c): the kernels, or NULL where the compiler could not build them. */
gn_gemm_bf16_fn gn_amx_gemm_bf16(void);
gn_probe_fma_fn gn_amx_probe_bf16(void);
int64_t gn_probe_int8_avx512(int64_t iters, float *sink);
void gn_silu_avx512(const float *x, float *y, int64_t n);
void gn_sigmoid_avx512(const float *x, float *y, int64_t n);
void gn_gelu_erf_avx512(const float *x, float *y, int64_t n);
void gn_swiglu_avx512(const float *g, const float *u, float *y, int64_t n);
void gn_glu_avx512(const float *a, const float *g, float *y, int64_t n);
void gn_softmax_avx512(float *x, int64_t n);
void gn_mix_avx512(const float *p, int64_t ldp, int64_t heads, int64_t n, const float *v,
                   int64_t ldv, float *out, int64_t ldo, int64_t d);
void gn_mix_f16_avx512(const float *p, int64_t ldp, int64_t heads, int64_t n,
                       const uint16_t *v, int64_t ldv, float *out, int64_t ldo, int64_t d);
void gn_layernorm_row_avx512(const float *x, const float *w, const float *b, float eps, float *y,
                        int64_t d);
void gn_rmsnorm_row_avx512(const float *x, const float *w, float eps, float *y, int64_t d);
void gn_conv_dw_rows_avx512(const float *x, int64_t T, int64_t C, const float *wt, int64_t k,
                        int64_t t0, int64_t t1, float *y);
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
void gn_gemm_q_q8_k_r16_avx512(int64_t M, int64_t N, int64_t K, const void *xq,
                               int64_t xq_row_bytes, const void *w, int64_t w_row_bytes, float *y,
                               int64_t ldy);
void gn_gemm_q_q4_k_r16_avx512(int64_t M, int64_t N, int64_t K, const void *xq,
                               int64_t xq_row_bytes, const void *w, int64_t w_row_bytes, float *y,
                               int64_t ldy);
#endif

#if defined(__aarch64__) || defined(_M_ARM64)
void gn_dequant_f16_neon(const void *src, float *dst, int64_t n);
void gn_to_f16_neon(const float *src, uint16_t *dst, int64_t n);
void gn_dequant_bf16_neon(const void *src, float *dst, int64_t n);
void gn_dequant_q4_0_neon(const void *src, float *dst, int64_t n);
void gn_dequant_q8_0_neon(const void *src, float *dst, int64_t n);
void gn_dequant_q4_k_neon(const void *src, float *dst, int64_t n);
void gn_dequant_q6_k_neon(const void *src, float *dst, int64_t n);
uint64_t gn_probe_read_neon(const void *buf, size_t bytes);
int64_t gn_probe_fma_neon(int64_t iters, float *sink);
int64_t gn_probe_int8_neon(int64_t iters, float *sink);
void gn_gemm_f32_neon(int64_t M, int64_t N, int64_t K, const float *x, int64_t ldx,
                      const float *w, int64_t ldw, float *y, int64_t ldy);
void gn_gemv_f16_neon(int64_t M, int64_t N, int64_t K, const float *x, const uint16_t *w,
                      int64_t ldw, float *y, int64_t ldy);
void gn_quantize_q8_k_neon(const float *x, void *dst, int64_t k);
void gn_quantize_q8_32_neon(const float *x, void *dst, int64_t k);
void gn_gemm_q4_0_neon(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                       const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
void gn_gemm_q8_0_neon(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                       const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
void gn_gemm_q4_k_neon(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                       const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
void gn_gemm_q6_k_neon(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                       const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
/* SDOT kernels (Armv8.2 dot product), in the table only where gn_cpu()->dotprod. */
void gn_gemm_q4_0_dotprod(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                          const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
void gn_gemm_q8_0_dotprod(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                          const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
void gn_gemm_q4_k_dotprod(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                          const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
void gn_gemm_q6_k_dotprod(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                          const void *w, int64_t w_row_bytes, float *y, int64_t ldy);
int64_t gn_probe_int8_dotprod(int64_t iters, float *sink);
void gn_silu_neon(const float *x, float *y, int64_t n);
void gn_sigmoid_neon(const float *x, float *y, int64_t n);
void gn_gelu_erf_neon(const float *x, float *y, int64_t n);
void gn_swiglu_neon(const float *g, const float *u, float *y, int64_t n);
void gn_glu_neon(const float *a, const float *g, float *y, int64_t n);
void gn_softmax_neon(float *x, int64_t n);
void gn_mix_neon(const float *p, int64_t ldp, int64_t heads, int64_t n, const float *v,
                 int64_t ldv, float *out, int64_t ldo, int64_t d);
void gn_mix_f16_neon(const float *p, int64_t ldp, int64_t heads, int64_t n,
                     const uint16_t *v, int64_t ldv, float *out, int64_t ldo, int64_t d);
void gn_layernorm_row_neon(const float *x, const float *w, const float *b, float eps, float *y,
                        int64_t d);
void gn_rmsnorm_row_neon(const float *x, const float *w, float eps, float *y, int64_t d);
void gn_conv_dw_rows_neon(const float *x, int64_t T, int64_t C, const float *wt, int64_t k,
                        int64_t t0, int64_t t1, float *y);
#endif

#endif
