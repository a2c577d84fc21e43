/* granite-native kernel library: the C API the Cython layer binds.
 *
 * Conventions: every size is int64_t and checked by the callee; functions that can fail
 * return a gn_status (0 = ok) and never abort. Matrices are row-major. A weight matrix W
 * of logical shape [N, K] is stored as N rows of K elements in its gn_type encoding, the
 * layout GGUF uses for a tensor with ne = (K, N).
 */
#ifndef GN_H
#define GN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Tensor element types. The numbering is ggml's, so a GGUF type id is a gn_type. */
typedef enum {
    GN_TYPE_F32  = 0,
    GN_TYPE_F16  = 1,
    GN_TYPE_Q4_0 = 2,
    GN_TYPE_Q8_0 = 8,
    GN_TYPE_Q4_K = 12,
    GN_TYPE_Q6_K = 14,
    GN_TYPE_BF16 = 30,
    /* Internal layouts, never in a file; ids past ggml's, which files may use. */
    GN_TYPE_Q4_K_R16 = 64, /* Q4_K rows interleaved 16 at a time by gn_repack */
    GN_TYPE_Q8_K_R16 = 65, /* float rows quantized to 8 bits, 16 at a time, by gn_quantize */
    GN_TYPE_BF16_P64 = 66, /* float rows in the bfloat16 path's 64-row panels, by gn_pack_bf16 */
    GN_TYPE_COUNT = 67 /* size of per-type tables; unsupported ids have no traits */
} gn_type;

typedef enum {
    GN_OK = 0,
    GN_ERR_INVALID = 1,     /* a size, pointer or type argument is wrong */
    GN_ERR_NOMEM = 2,
    GN_ERR_UNSUPPORTED = 3, /* type or ISA not available */
    GN_ERR_CANCELLED = 4,
    GN_ERR_RANGE = 5, /* a finite value beyond what its storage type holds */
} gn_status;

/* Type traits (ggml's type_traits idea): block geometry per type. */
typedef struct {
    const char *name;
    int64_t block_elems; /* elements per block (1 for F32/F16/BF16) */
    int64_t block_bytes; /* bytes per block */
    int64_t row_group;   /* rows stored interleaved, in whole groups (gn_matrix_bytes) */
    int int8_act;        /* activation blocks of the int8 path: 0 none, GN_ACT_Q8_K, GN_ACT_Q8_32 */
} gn_type_traits;
enum { GN_ACT_Q8_K = 1, GN_ACT_Q8_32 = 2 };

/* NULL when the type is not supported. */
const gn_type_traits *gn_type_info(int type);
/* Bytes of one row of k elements, or -1 when k is not a whole number of blocks or overflows. */
int64_t gn_row_bytes(int type, int64_t k);
/* Bytes of a matrix of n rows of k elements: whole row groups, the last one padded with zero
 * rows (an interleaved layout's group is one unit in memory), so n need not be a multiple of
 * the group. -1 when n < 1, k is not whole blocks, or the size overflows. */
int64_t gn_matrix_bytes(int type, int64_t n, int64_t k);

/* ---- CPU features and dispatch ------------------------------------------------------- */

/* AMX is the AVX-512 level with bfloat16 tile multiplies; numbered last so that it is tried
 * first, as the best level where the CPU, the OS and this build allow it. */
typedef enum {
    GN_ISA_SCALAR = 0, GN_ISA_AVX2 = 1, GN_ISA_AVX512 = 2, GN_ISA_NEON = 3, GN_ISA_AMX = 4,
    GN_ISA_COUNT
} gn_isa;

typedef struct {
    /* x86: instruction set reported by CPUID *and* register state enabled by the OS (XGETBV) */
    int sse3, ssse3, avx, avx2, fma, f16c;
    int avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16;
    int avxvnni; /* the VEX-encoded vpdpbusd of AVX-VNNI, with or without AVX-512 */
    int os_ymm, os_zmm; /* XCR0 bits: the OS saves YMM / ZMM state */
    /* AMX-TILE and AMX-BF16, the OS saving tile state, and (Linux) this process granted it */
    int amx_bf16;
    /* CPUID's vendor string is "GenuineIntel": memory streams are tuned per vendor
     * (gn_stream_prefetch) */
    int intel;
    /* Arm */
    int neon, dotprod, fp16;
} gn_cpu_features;

const gn_cpu_features *gn_cpu(void);
const char *gn_isa_name(int isa);
/* 1 when this build carries kernels for the ISA and the CPU+OS can run them. */
int gn_isa_supported(int isa);
/* Best supported level. */
int gn_isa_best(void);
/* Switch the kernel table used by every later call. Returns GN_ERR_UNSUPPORTED if the ISA
 * cannot run here. Not meant to be called while kernels run on other threads. */
gn_status gn_isa_select(int isa);
int gn_isa_current(void);
/* The extensions beyond the current level whose kernels it runs, space-separated (the AVX2
 * level's AVX-VNNI int8 kernels, the AVX-512 level's bfloat16 ones, the NEON level's SDOT
 * ones), or "". */
const char *gn_isa_extensions(void);

/* ---- thread pool -------------------------------------------------------------------- */

typedef struct gn_pool gn_pool;
/* n_threads >= 1 counts the calling thread; n_threads - 1 workers are started once. */
gn_pool *gn_pool_create(int n_threads);
void gn_pool_destroy(gn_pool *pool);
int gn_pool_threads(const gn_pool *pool);
/* Threads that later jobs use, 1..gn_pool_threads (all of them after creation): memory-bound
 * decode steps may saturate bandwidth with fewer threads than compute-bound stages want.
 * GN_ERR_INVALID when out of range. Not to be called while a job runs on the pool. */
gn_status gn_pool_set_active(gn_pool *pool, int n_threads);
int gn_pool_active(const gn_pool *pool);
/* Run fn(ctx, task, thread_index) for task in [0, n_tasks) across the pool; returns when all
 * finished. Calls on one pool are serialised by the pool itself. pool may be NULL (serial). */
typedef void (*gn_task_fn)(void *ctx, int64_t task, int thread_index);
void gn_pool_run(gn_pool *pool, gn_task_fn fn, void *ctx, int64_t n_tasks);
/* Per-thread scratch memory owned by the pool, at least `bytes` long and 64-byte aligned;
 * valid until the next call with the same thread_index. NULL on allocation failure. */
void *gn_pool_scratch(gn_pool *pool, int thread_index, size_t bytes);
/* Memory for data every thread of one operation reads (at least `bytes`, aligned at least as
 * malloc's), returned with gn_pool_shared_give. The pool keeps one such buffer between operations, so
 * that its pages stay mapped; an operation that finds it in use (another thread's, on the same
 * pool) gets memory of its own. NULL on allocation failure. */
void *gn_pool_shared_take(gn_pool *pool, size_t bytes);
void gn_pool_shared_give(gn_pool *pool, void *ptr);

/* ---- kernels ------------------------------------------------------------------------ */

/* dst[0:n] = dequantized src; n must be a whole number of blocks of `type`. */
gn_status gn_dequantize(int type, const void *src, float *dst, int64_t n);

/* dst[0:n] = src rounded to float16, nearest even (a float16 KV cache's rows). */
gn_status gn_to_f16(const float *src, uint16_t *dst, int64_t n);

/* dst = src[rows, cols] encoded row by row as `type` (F16, Q4_0, Q8_0 or Q4_K), with the
 * arithmetic of ggml's reference quantizers so the bytes match theirs. cols must be a whole
 * number of blocks of the type; dst_bytes is checked against rows * gn_row_bytes(type, cols).
 * GN_TYPE_Q8_K_R16 (rows a multiple of 16) is the load-time 8-bit layout of float weights
 * for the int8 kernels, multiplied only with GN_MATMUL_INT8 where gn_matmul_path says "int8"
 * for it; like the repacked layouts it is never dequantized. */
gn_status gn_quantize(gn_pool *pool, int type, const float *src, int64_t rows, int64_t cols,
                      void *dst, size_t dst_bytes);

/* Weights repacked at load for the active ISA's int8 kernels. gn_repack_type gives the
 * layout `type` becomes (GN_TYPE_Q4_K_R16 for Q4_K where the kernels exist), or -1 where
 * none pays. gn_repack writes W[N, K] of `type` (src_bytes exactly N rows) into dst in that
 * layout (dst_bytes exactly gn_matrix_bytes(new type, N, K): a last group short of 16 rows is
 * padded with zero rows, as for the LLM's 100,353-row output matrix). A repacked matrix is
 * multiplied only with GN_MATMUL_INT8 and is never dequantized: gn_matmul and gn_dequantize
 * return GN_ERR_UNSUPPORTED for other uses. */
int gn_repack_type(int type);
gn_status gn_repack(gn_pool *pool, int type, const void *src, size_t src_bytes, int64_t N,
                    int64_t K, void *dst, size_t dst_bytes);

/* Float weights (F32, F16, BF16) W[N, K] packed at load into GN_TYPE_BF16_P64: the panels
 * the bfloat16 path otherwise packs on every call (64 rows each, K / 2 pairs, gn_kernels.h),
 * so products skip that step and the matrix takes half the memory of float32. N a multiple of
 * 64, K even, src_bytes exactly N rows of `type`, dst_bytes exactly N * 2K.
 * GN_ERR_UNSUPPORTED where the active ISA has no bfloat16 kernels. A packed matrix is
 * multiplied only with GN_MATMUL_BF16 where gn_matmul_path says "bf16", and never
 * dequantized. */
gn_status gn_pack_bf16(gn_pool *pool, int type, const void *src, size_t src_bytes, int64_t N,
                       int64_t K, void *dst, size_t dst_bytes);

/* Precision choices of gn_matmul, OR-ed. 0 is exact: weights are dequantized to float32 and
 * multiplied in float32. GN_MATMUL_INT8: block-quantized weights (Q4_0, Q8_0, Q4_K, Q6_K)
 * are multiplied with int8-quantized activations (Q8_K / Q8_32), as ggml does; on the AMX
 * level, products of many rows instead dequantize them to bfloat16 for the tile kernel
 * (faster there, and closer to exact). GN_MATMUL_BF16: float weights (F32, F16, BF16) are
 * multiplied in bfloat16 with float32 accumulation where the CPU has bfloat16 dot products,
 * and exactly where it has not. */
enum { GN_MATMUL_EXACT = 0, GN_MATMUL_INT8 = 1, GN_MATMUL_BF16 = 2 };
/* The arithmetic gn_matmul would use for this weight type and flags, x having M rows, on the
 * active ISA. */
typedef enum { GN_PATH_F32 = 0, GN_PATH_INT8 = 1, GN_PATH_BF16 = 2 } gn_matmul_path_id;
int gn_matmul_path(int wtype, int flags, int64_t M);

/* y[M,N] = x[M,K] @ W[N,K]^T (+ bias[N]); W rows in `wtype`. x and y are dense row-major.
 * w_bytes is the size of the W buffer, which must be exactly gn_matrix_bytes(wtype, N, K). */
gn_status gn_matmul(gn_pool *pool, const float *x, int64_t M, int64_t K,
                    const void *w, int wtype, int64_t N, size_t w_bytes,
                    const float *bias, float *y, int flags);

/* One matrix of a group sharing an input: W[N, K] in `type`, `bytes` long (exactly N rows),
 * optional bias[N], output y[M, N]. */
typedef struct {
    const void *w;
    int type;
    int64_t N;
    size_t bytes;
    const float *bias;
    float *y;
} gn_matmul_out;
#define GN_MATMUL_GROUP_MAX 4
/* y_i = x @ W_i^T (+ bias_i) for the n (1..GN_MATMUL_GROUP_MAX) matrices of outs, as n calls of
 * gn_matmul would compute them, bit for bit, but with x quantized or converted once where they
 * all take the int8 or all the bfloat16 path; on the int8 path the threads also stream through
 * the matrices back to back in one pass over the pool (a decoder layer's q, k, v, or its gate
 * and up; the encoder's q, k, v). */
gn_status gn_matmul_group(gn_pool *pool, const float *x, int64_t M, int64_t K,
                          const gn_matmul_out *outs, int n, int flags);

/* ---- roofline probes (benchmarks only) --------------------------------------------- */

/* Reads every byte of buf (bytes a non-zero multiple of 64) with the active ISA's loads across
 * the pool; *checksum receives the sum of its 64-bit words. Time it to get read bandwidth. */
gn_status gn_probe_read(gn_pool *pool, const void *buf, size_t bytes, uint64_t *checksum);
/* Runs multiply-add chains with the active ISA's widest FMA on every pool thread, `iters`
 * rounds per task; *flops receives the FLOPs done, *sink a value of the result. Time it to
 * get the FMA peak. */
gn_status gn_probe_fma(gn_pool *pool, int64_t iters, double *flops, float *sink);
/* The same with bfloat16 dot products (the GN_MATMUL_BF16 peak); GN_ERR_UNSUPPORTED where the
 * active ISA has none. */
gn_status gn_probe_bf16(gn_pool *pool, int64_t iters, double *flops, float *sink);
/* The same with int8 dot products (VNNI; AVX2's maddubs widened by madd): *flops receives the
 * integer ops (2 per product).
 * GN_ERR_UNSUPPORTED where the active ISA has no probe for them. */
gn_status gn_probe_int8(gn_pool *pool, int64_t iters, double *flops, float *sink);

/* ---- audio front-end ---------------------------------------------------------------- */

/* Accepted audio lengths. Reflect padding by 256 needs more than 256 samples (torch's rule,
 * kept so every accepted input has the reference's meaning); the upper bound (~37 h at 16 kHz)
 * keeps every frame index and output size far from overflow. */
#define GN_MEL_MIN_SAMPLES ((int64_t)257)
#define GN_MEL_MAX_SAMPLES ((int64_t)INT32_MAX)
#define GN_MEL_BINS 80
#define GN_MEL_ROW (2 * GN_MEL_BINS)

/* Rows of gn_log_mel's output for n_samples of audio, (n_samples/160 + 1) / 2, or -1 when
 * n_samples is outside [GN_MEL_MIN_SAMPLES, GN_MEL_MAX_SAMPLES]. */
int64_t gn_log_mel_rows(int64_t n_samples);
/* granite-speech log-mel features of 16 kHz mono audio (spec section 2): out is rows x 160,
 * row i = [mel frame 2i, mel frame 2i+1], normalised per utterance. rows must equal
 * gn_log_mel_rows(n_samples). Samples should be finite; the caller checks that. */
gn_status gn_log_mel(gn_pool *pool, const float *audio, int64_t n_samples, float *out, int64_t rows);

#ifdef __cplusplus
}
#endif
#endif
