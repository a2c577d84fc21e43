/* The bfloat16 path of gn_matmul: float W (F32, F16, BF16), or block-quantized W dequantized,
 * times x, both rounded to bfloat16, products summed in float32. x is converted once, into one
 * buffer every thread reads; each task packs a panel of GN_BF16_PANEL W rows into per-thread
 * scratch, in the layout the kernel multiplies (gn_kernels.h), and runs every row of x over it,
 * so packing costs once per W row however many rows x has. W packed at load
 * (GN_TYPE_BF16_P64, gn_pack_bf16) is already in that layout and skips the step. A product can
 * also hand its rows, through an activation, straight to the next product in bfloat16
 * (gn_matmul_bf16_rows, for gn_ffn). */
#include <stdint.h>
#include <string.h>

#include "gn_kernels.h"
#include "matmul_paths.h"

typedef struct {
    gn_to_bf16_fn to_bf16;
    gn_pack_bf16_fn pack;
    gn_gemm_bf16_fn gemm;
    const gn_dequant_fn *dequant; /* by weight type; F32 rows are packed in place */
} bf16_kernels;

/* The active level's kernels. */
static bf16_kernels active(void) {
    const bf16_kernels k = {gn_active->to_bf16, gn_active->pack_bf16, gn_active->gemm_bf16,
                            gn_active->dequant};
    return k;
}

typedef struct {
    gn_pool *pool;
    bf16_kernels k;
    int64_t M, K, N;
    int64_t kp;        /* K rounded up to whole pairs */
    const uint16_t *xb; /* x [M, kp] in bfloat16 */
    const uint8_t *w;
    int wtype;
    int64_t w_row_bytes;
    const float *bias;
    float *y;         /* y [M, N], or NULL and: */
    uint16_t *yb;     /* bf16(act(y)) [M, ldyb], ldyb >= N */
    int64_t ldyb;
    gn_unary_fn act;
    int failed; /* set by a task that could not get scratch memory */
} bf16_job;

/* Rows of a product that passes through act into bfloat16 go from the kernel to a per-thread
 * tile of this many rows by a panel, and on while in L1: their y rows, N floats apart, would
 * share a few cache sets (see matmul_q8.c's BIAS_ROWS). A multiple of the AVX-512 kernel's 6
 * rows and of 16; 96 rows (whole 32-row blocks for AMX) measured 0.7% slower on Zen 4. */
#define ACT_ROWS 48

typedef struct {
    gn_to_bf16_fn to_bf16;
    const float *x;
    int64_t K, kp;
    uint16_t *xb;
} convert_job;

static void convert_row(void *arg, int64_t m, int thread_index) {
    (void)thread_index;
    const convert_job *j = (const convert_job *)arg;
    uint16_t *dst = j->xb + m * j->kp;
    j->to_bf16(j->x + m * j->K, dst, j->K);
    if (j->kp > j->K) dst[j->K] = 0;
}

static void convert(gn_pool *pool, gn_to_bf16_fn to_bf16, const float *x, int64_t M, int64_t K,
                    uint16_t *xb) {
    convert_job job = {to_bf16, x, K, K + (K & 1), xb};
    gn_pool_run(pool, convert_row, &job, M);
}

void gn_bf16_rows(gn_pool *pool, const float *x, int64_t M, int64_t K, uint16_t *xb) {
    convert(pool, gn_active->to_bf16, x, M, K, xb);
}

static size_t panel_bytes(int64_t kp) { return (size_t)kp * GN_BF16_PANEL * sizeof(uint16_t); }

/* W rows n0 .. n0 + rows (rows <= GN_BF16_PANEL) into panel, through dq (gn_dq_rows_bytes). */
static void pack_panel(const bf16_kernels *k, const uint8_t *w, int wtype, int64_t w_row_bytes,
                       int64_t K, int64_t kp, int64_t n0, int64_t rows, uint16_t *panel,
                       float *dq) {
    /* the kernel may read the panel's unused rows; zeros keep every lane's arithmetic defined */
    if (rows < GN_BF16_PANEL) memset(panel, 0, panel_bytes(kp));
    for (int64_t r0 = 0; r0 < rows; r0 += 16) {
        const int64_t n = rows - r0 < 16 ? rows - r0 : 16;
        const uint8_t *src = w + (n0 + r0) * w_row_bytes;
        if (wtype == GN_TYPE_F32) {
            k->pack((const float *)src, K, n, K, panel, r0);
            continue;
        }
        /* a chunk lands at its pairs' place: the panel from pair k0 / 2 on */
        for (int64_t k0 = 0; k0 < K; k0 += GN_DQ_CHUNK) {
            const int64_t len = K - k0 < GN_DQ_CHUNK ? K - k0 : GN_DQ_CHUNK;
            gn_dequant_chunk(k->dequant[wtype], wtype, src, w_row_bytes, n, k0, len, dq);
            k->pack(dq, GN_DQ_CHUNK, n, len, panel + k0 * GN_BF16_PANEL, r0);
        }
    }
}

static void gemm_panel(void *arg, int64_t task, int thread_index) {
    bf16_job *j = (bf16_job *)arg;
    const int64_t n0 = task * GN_BF16_PANEL;
    const int64_t rows = j->N - n0 < GN_BF16_PANEL ? j->N - n0 : GN_BF16_PANEL;
    const int packed = j->wtype == GN_TYPE_BF16_P64;
    /* panel bytes and the dequantized rows' are multiples of 256: what follows stays aligned */
    const size_t pack_bytes = packed ? 0 : panel_bytes(j->kp) + gn_dq_rows_bytes(j->wtype);
    const size_t tile_bytes = j->yb ? (size_t)(ACT_ROWS * GN_BF16_PANEL) * sizeof(float) : 0;
    uint8_t *buf = NULL;
    if (pack_bytes + tile_bytes) {
        buf = (uint8_t *)gn_pool_scratch(j->pool, thread_index, pack_bytes + tile_bytes);
        if (!buf) {
            j->failed = 1;
            return;
        }
    }
    const uint16_t *panel;
    if (packed) {
        panel = (const uint16_t *)(j->w + n0 * j->w_row_bytes);
    } else {
        pack_panel(&j->k, j->w, j->wtype, j->w_row_bytes, j->K, j->kp, n0, rows,
                   (uint16_t *)buf, (float *)(buf + panel_bytes(j->kp)));
        panel = (const uint16_t *)buf;
    }
    const float *bias = j->bias ? j->bias + n0 : NULL;
    if (!j->yb) {
        j->k.gemm(j->M, rows, j->kp, j->xb, j->kp, panel, bias, j->y + n0, j->N);
        return;
    }
    float *t = (float *)(buf + pack_bytes); /* [ACT_ROWS, GN_BF16_PANEL] */
    for (int64_t m0 = 0; m0 < j->M; m0 += ACT_ROWS) {
        const int64_t mr = j->M - m0 < ACT_ROWS ? j->M - m0 : ACT_ROWS;
        j->k.gemm(mr, rows, j->kp, j->xb + m0 * j->kp, j->kp, panel, bias, t, GN_BF16_PANEL);
        for (int64_t m = 0; m < mr; m++) {
            float *r = t + m * GN_BF16_PANEL;
            j->act(r, r, rows);
            j->k.to_bf16(r, j->yb + (m0 + m) * j->ldyb + n0, rows);
        }
    }
}

static int float_weights(int wtype) {
    return wtype == GN_TYPE_F32 || wtype == GN_TYPE_F16 || wtype == GN_TYPE_BF16;
}

/* The product over x already in bfloat16 (xb, rows kp apart), into y or, through act, yb. */
static void multiply(gn_pool *pool, const bf16_kernels *k, const uint16_t *xb, int64_t M,
                     int64_t K, const void *w, int wtype, int64_t N, int64_t w_row_bytes,
                     const float *bias, float *y, uint16_t *yb, int64_t ldyb, gn_unary_fn act,
                     int *failed) {
    bf16_job job = {pool, *k, M, K, N, K + (K & 1), xb, (const uint8_t *)w, wtype, w_row_bytes,
                    bias, y, yb, ldyb, act, 0};
    gn_pool_run(pool, gemm_panel, &job, (N + GN_BF16_PANEL - 1) / GN_BF16_PANEL);
    *failed = job.failed;
}

static int too_big(int64_t M, int64_t K) {
    const int64_t kp = K + (K & 1);
    return kp > (int64_t)(SIZE_MAX / 4) / GN_BF16_PANEL || M > (int64_t)(SIZE_MAX / 4) / kp;
}

/* y_i = x W_i^T (+ bias_i) for the n matrices of outs, x converted once. */
static gn_status run(gn_pool *pool, const bf16_kernels *k, const float *x, int64_t M, int64_t K,
                     const gn_matmul_out *outs, int n) {
    if (too_big(M, K)) return GN_ERR_NOMEM;
    uint16_t *xb = (uint16_t *)gn_pool_shared_take(pool, (size_t)(M * (K + (K & 1))) * sizeof(uint16_t));
    if (!xb) return GN_ERR_NOMEM;
    convert(pool, k->to_bf16, x, M, K, xb);
    int failed = 0;
    for (int i = 0; i < n && !failed; i++)
        multiply(pool, k, xb, M, K, outs[i].w, outs[i].type, outs[i].N,
                 gn_row_bytes(outs[i].type, K), outs[i].bias, outs[i].y, NULL, 0, NULL, &failed);
    gn_pool_shared_give(pool, xb);
    return failed ? GN_ERR_NOMEM : GN_OK;
}

gn_status gn_matmul_bf16_rows(gn_pool *pool, const uint16_t *xb, int64_t M, int64_t K,
                              const void *w, int wtype, int64_t N, int64_t w_row_bytes,
                              const float *bias, float *y, uint16_t *yb, int64_t ldyb,
                              gn_unary_fn act) {
    if (too_big(M, K) || too_big(M, N)) return GN_ERR_NOMEM;
    const bf16_kernels k = active();
    int failed;
    multiply(pool, &k, xb, M, K, w, wtype, N, w_row_bytes, bias, y, yb, ldyb, act, &failed);
    return failed ? GN_ERR_NOMEM : GN_OK;
}

gn_status gn_matmul_bf16_group(gn_pool *pool, const float *x, int64_t M, int64_t K,
                               const gn_matmul_out *outs, int n) {
    const bf16_kernels k = active();
    return run(pool, &k, x, M, K, outs, n);
}

static int kernels_present(void) {
    return gn_active->to_bf16 && gn_active->pack_bf16 && gn_active->gemm_bf16;
}

int gn_matmul_bf16_available(int wtype) {
    return (float_weights(wtype) || wtype == GN_TYPE_BF16_P64) && kernels_present();
}

int gn_matmul_bf16_dequant_available(int wtype) {
    return wtype >= 0 && wtype < GN_TYPE_COUNT && gn_active->dequant[wtype] && kernels_present();
}

gn_status gn_matmul_bf16(gn_pool *pool, const float *x, int64_t M, int64_t K, const void *w,
                         int wtype, int64_t N, const float *bias, float *y) {
    if (!gn_matmul_bf16_available(wtype) && !gn_matmul_bf16_dequant_available(wtype))
        return GN_ERR_UNSUPPORTED;
    const gn_matmul_out one = {w, wtype, N, 0, bias, y};
    return gn_matmul_bf16_group(pool, x, M, K, &one, 1);
}

gn_status gn_matmul_bf16_scalar(gn_pool *pool, const float *x, int64_t M, int64_t K,
                                const void *w, int wtype, int64_t N, size_t w_bytes,
                                const float *bias, float *y) {
    int64_t w_row_bytes;
    const gn_status s = gn_matmul_check(x, M, K, w, wtype, N, w_bytes, y, &w_row_bytes);
    if (s != GN_OK) return s;
    if (!float_weights(wtype)) return GN_ERR_UNSUPPORTED;
    static const gn_dequant_fn dequant[GN_TYPE_COUNT] = {
        [GN_TYPE_F16] = gn_dequant_f16_scalar, [GN_TYPE_BF16] = gn_dequant_bf16_scalar};
    const bf16_kernels k = {gn_to_bf16_scalar, gn_pack_bf16_scalar, gn_gemm_bf16_scalar, dequant};
    const gn_matmul_out one = {w, wtype, N, w_bytes, bias, y};
    return run(pool, &k, x, M, K, &one, 1);
}

typedef struct {
    gn_pool *pool;
    bf16_kernels k;
    const uint8_t *w;
    int wtype;
    int64_t K, w_row_bytes;
    uint16_t *dst;
    int failed;
} pack_job;

static void pack_task(void *arg, int64_t task, int thread_index) {
    pack_job *j = (pack_job *)arg;
    float *dq = NULL;
    if (j->wtype != GN_TYPE_F32) {
        dq = (float *)gn_pool_scratch(j->pool, thread_index, gn_dq_rows_bytes(j->wtype));
        if (!dq) {
            j->failed = 1;
            return;
        }
    }
    pack_panel(&j->k, j->w, j->wtype, j->w_row_bytes, j->K, j->K, task * GN_BF16_PANEL,
               GN_BF16_PANEL, j->dst + task * GN_BF16_PANEL * j->K, dq);
}

gn_status gn_pack_bf16(gn_pool *pool, int type, const void *src, size_t src_bytes, int64_t N,
                       int64_t K, void *dst, size_t dst_bytes) {
    if (!float_weights(type) || !kernels_present()) return GN_ERR_UNSUPPORTED;
    if (!src || !dst || N <= 0 || N % GN_BF16_PANEL || K <= 0 || K % 2) return GN_ERR_INVALID;
    const int64_t src_rb = gn_row_bytes(type, K), dst_rb = gn_row_bytes(GN_TYPE_BF16_P64, K);
    if (src_rb <= 0 || dst_rb <= 0 || N > INT64_MAX / src_rb || N > INT64_MAX / dst_rb)
        return GN_ERR_INVALID;
    if ((uint64_t)(N * src_rb) != (uint64_t)src_bytes || (uint64_t)(N * dst_rb) != (uint64_t)dst_bytes)
        return GN_ERR_INVALID;
    pack_job job = {pool, active(), (const uint8_t *)src, type, K, src_rb, (uint16_t *)dst, 0};
    gn_pool_run(pool, pack_task, &job, N / GN_BF16_PANEL);
    return job.failed ? GN_ERR_NOMEM : GN_OK;
}
