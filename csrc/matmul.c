/* y = x @ W^T + b for any supported weight type: argument checks, the choice of arithmetic
 * (gn_matmul_path), and the exact float32 path. Work is split over panels of output rows:
 * each task dequantizes its panel of W once into per-thread scratch and multiplies every
 * row of x against it, so the cost of dequantization is shared by all M rows of x. A
 * decode-sized x against F16 W goes by ranges of rows instead (gemv_ranges.h). */
#include "gemv_ranges.h"
#include "gn_kernels.h"
#include "matmul_paths.h"
#include <stdint.h>

#define PANEL_ROWS 16

typedef struct {
    gn_pool *pool;
    const float *x;
    int64_t M, K, N;
    const uint8_t *w;
    int wtype;
    int64_t row_bytes;
    const float *bias;
    float *y;
    int failed; /* set by a task that could not get scratch memory */
} matmul_job;

void gn_add_bias_rows(float *y, int64_t ldy, int64_t M, int64_t rows, const float *bias) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t r = 0; r < rows; r++) y[m * ldy + r] += bias[r];
}

static void matmul_panel(void *arg, int64_t task, int thread_index) {
    matmul_job *j = (matmul_job *)arg;
    const int64_t n0 = task * PANEL_ROWS;
    const int64_t rows = (j->N - n0) < PANEL_ROWS ? (j->N - n0) : PANEL_ROWS;
    const float *panel;
    if (j->wtype == GN_TYPE_F32) {
        panel = (const float *)(j->w + n0 * j->row_bytes);
    } else {
        float *buf = (float *)gn_pool_scratch(j->pool, thread_index,
                                              (size_t)(rows * j->K) * sizeof(float));
        if (!buf) {
            j->failed = 1;
            return;
        }
        const gn_dequant_fn dq = gn_active->dequant[j->wtype];
        for (int64_t r = 0; r < rows; r++) dq(j->w + (n0 + r) * j->row_bytes, buf + r * j->K, j->K);
        panel = buf;
    }
    float *y = j->y + n0;
    gn_active->gemm_f32(j->M, rows, j->K, j->x, j->K, panel, j->K, y, j->N);
    if (j->bias) gn_add_bias_rows(y, j->N, j->M, rows, j->bias + n0);
}

#define GEMV_CHUNK 64

/* A decode-sized x against F16 W streams W once at 2 bytes per weight instead of widening
 * panels into scratch first: chunk c holds rows c * GEMV_CHUNK on (fewer at the end of W). */
static void gemv_f16_chunk(void *arg, int64_t c, int thread_index) {
    (void)thread_index;
    const matmul_job *j = (const matmul_job *)arg;
    const int64_t n0 = c * GEMV_CHUNK, rows = j->N - n0 < GEMV_CHUNK ? j->N - n0 : GEMV_CHUNK;
    float *y = j->y + n0;
    gn_active->gemv_f16(j->M, rows, j->K, j->x, (const uint16_t *)j->w + n0 * j->K, j->K, y, j->N);
    if (j->bias) gn_add_bias_rows(y, j->N, j->M, rows, j->bias + n0);
}

int gn_matmul_path(int wtype, int flags, int64_t M) {
    if ((flags & GN_MATMUL_INT8) && gn_matmul_q8_available(wtype)) {
        const int64_t tiles = gn_active->quant_bf16_rows;
        return tiles && M >= tiles && gn_matmul_bf16_dequant_available(wtype) ? GN_PATH_BF16
                                                                              : GN_PATH_INT8;
    }
    if ((flags & GN_MATMUL_BF16) && gn_matmul_bf16_available(wtype)) return GN_PATH_BF16;
    return GN_PATH_F32;
}

gn_status gn_matmul_check(const float *x, int64_t M, int64_t K, const void *w, int wtype,
                          int64_t N, size_t w_bytes, const float *y, int64_t *w_row_bytes) {
    if (!x || !w || !y || M <= 0 || K <= 0 || N <= 0) return GN_ERR_INVALID;
    if (!gn_type_info(wtype)) return GN_ERR_UNSUPPORTED;
    const int64_t row_bytes = gn_row_bytes(wtype, K), bytes = gn_matrix_bytes(wtype, N, K);
    /* exactly the matrix: a larger buffer means the caller's K or N is wrong */
    if (bytes < 0 || (uint64_t)bytes != (uint64_t)w_bytes) return GN_ERR_INVALID;
    if (M > INT64_MAX / K || M > INT64_MAX / N) return GN_ERR_INVALID;
    *w_row_bytes = row_bytes;
    return GN_OK;
}

gn_status gn_matmul(gn_pool *pool, const float *x, int64_t M, int64_t K,
                    const void *w, int wtype, int64_t N, size_t w_bytes,
                    const float *bias, float *y, int flags) {
    int64_t row_bytes;
    const gn_status s = gn_matmul_check(x, M, K, w, wtype, N, w_bytes, y, &row_bytes);
    if (s != GN_OK) return s;
    if (flags & ~(GN_MATMUL_INT8 | GN_MATMUL_BF16)) return GN_ERR_INVALID;
    switch (gn_matmul_path(wtype, flags, M)) {
    case GN_PATH_INT8: {
        const gn_matmul_out one = {w, wtype, N, w_bytes, bias, y};
        return gn_matmul_q8_group(pool, x, M, K, &one, 1);
    }
    case GN_PATH_BF16: return gn_matmul_bf16(pool, x, M, K, w, wtype, N, bias, y);
    default: break;
    }
    if (!gn_active->dequant[wtype]) return GN_ERR_UNSUPPORTED; /* a repacked layout */
    if (gn_matmul_f32p_takes(wtype, M))
        return gn_matmul_f32p(pool, x, M, K, w, wtype, N, row_bytes, bias, y);
    matmul_job job = {pool, x, M, K, N, (const uint8_t *)w, wtype, row_bytes, bias, y, 0};
    if (wtype == GN_TYPE_F16 && M <= GN_GEMV_MAX_M)
        return gn_ranges_run(pool, gemv_f16_chunk, &job, (N + GEMV_CHUNK - 1) / GEMV_CHUNK);
    gn_pool_run(pool, matmul_panel, &job, (N + PANEL_ROWS - 1) / PANEL_ROWS);
    return job.failed ? GN_ERR_NOMEM : GN_OK;
}

gn_status gn_matmul_group(gn_pool *pool, const float *x, int64_t M, int64_t K,
                          const gn_matmul_out *outs, int n, int flags) {
    if (!outs || n < 1 || n > GN_MATMUL_GROUP_MAX) return GN_ERR_INVALID;
    if (flags & ~(GN_MATMUL_INT8 | GN_MATMUL_BF16)) return GN_ERR_INVALID;
    int64_t row_bytes;
    for (int i = 0; i < n; i++) {
        const gn_status s = gn_matmul_check(x, M, K, outs[i].w, outs[i].type, outs[i].N,
                                            outs[i].bytes, outs[i].y, &row_bytes);
        if (s != GN_OK) return s;
    }
    if ((flags & GN_MATMUL_INT8) && gn_matmul_q8_group_ok(outs, n) &&
        gn_matmul_path(outs[0].type, flags, M) == GN_PATH_INT8)
        return gn_matmul_q8_group(pool, x, M, K, outs, n);
    int bf16 = 1;
    for (int i = 0; i < n; i++) bf16 &= gn_matmul_path(outs[i].type, flags, M) == GN_PATH_BF16;
    if (bf16) return gn_matmul_bf16_group(pool, x, M, K, outs, n);
    for (int i = 0; i < n; i++) {
        const gn_status s = gn_matmul(pool, x, M, K, outs[i].w, outs[i].type, outs[i].N,
                                      outs[i].bytes, outs[i].bias, outs[i].y, flags);
        if (s != GN_OK) return s;
    }
    return GN_OK;
}

size_t gn_dq_rows_bytes(int wtype) {
    return wtype == GN_TYPE_F32 ? 0 : (size_t)(16 * GN_DQ_CHUNK) * sizeof(float);
}

void gn_dequant_chunk(gn_dequant_fn dequant, int wtype, const uint8_t *src, int64_t w_row_bytes,
                      int64_t n, int64_t k0, int64_t len, float *dq) {
    const gn_type_traits *t = gn_type_info(wtype);
    const uint8_t *chunk = src + k0 / t->block_elems * t->block_bytes;
    for (int64_t r = 0; r < n; r++) dequant(chunk + r * w_row_bytes, dq + r * GN_DQ_CHUNK, len);
}

gn_status gn_dequantize(int type, const void *src, float *dst, int64_t n) {
    if (!src || !dst || n < 0) return GN_ERR_INVALID;
    if (!gn_type_info(type) || !gn_active->dequant[type]) return GN_ERR_UNSUPPORTED;
    if (gn_row_bytes(type, n) < 0) return GN_ERR_INVALID;
    gn_active->dequant[type](src, dst, n);
    return GN_OK;
}

gn_status gn_to_f16(const float *src, uint16_t *dst, int64_t n) {
    if (!src || !dst || n < 0) return GN_ERR_INVALID;
    gn_active->to_f16(src, dst, n);
    return GN_OK;
}
