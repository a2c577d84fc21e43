/* The int8 path of gn_matmul: block-quantized W times int8-quantized x, as ggml multiplies
 * k-quants. Each x row is quantized once, into one buffer every thread reads, then panels of
 * W rows are split over the pool (for one x row, by ranges: gemv_ranges.h); the kernel walks
 * all M rows of x for its panel, so a panel read from memory once serves every row. */
#include "gemv_ranges.h"
#include "gn_kernels.h"
#include "matmul_paths.h"
#include "quant_blocks.h"
#include <stdlib.h>
#include <string.h>

/* Rows of W per piece of work, a multiple of 16, so that pieces of the interleaved layouts hold
 * whole blocks. With several x rows, each piece is a task: a kernel keeps 16 rows of W in L1
 * while every x row passes over them (Q4_K: 18 KB at 2048 columns), or, where x is too long
 * for L2 (the encoder's 550 rows), a few x rows in L1 while the panel, in L2, passes over
 * them. A decode GEMV (one x row) deals the pieces out by ranges (gemv_ranges.h). */
#define PANEL_ROWS 64
#define BIAS_ROWS 32

typedef struct {
    gn_pool *pool;
    const float *x;
    int64_t M, K;
    uint8_t *xq;
    int64_t xq_row_bytes;
    gn_quantize_act_fn quantize;
    int n;                        /* matrices sharing x */
    const gn_matmul_out *outs;
    int64_t w_row_bytes[GN_MATMUL_GROUP_MAX];
    int64_t first[GN_MATMUL_GROUP_MAX + 1]; /* pieces of matrix i: first[i] .. first[i + 1] - 1 */
    int failed; /* set by a task that could not get scratch memory */
} q8_job;

static void quantize_rows(void *arg, int64_t m, int thread_index) {
    (void)thread_index;
    q8_job *j = (q8_job *)arg;
    j->quantize(j->x + m * j->K, j->xq + m * j->xq_row_bytes, j->K);
}

/* y rows n0 .. n0 + rows - 1 of matrix i, for every x row. */
static void product_rows(q8_job *j, int i, int64_t n0, int64_t rows, int thread_index) {
    const gn_matmul_out *o = &j->outs[i];
    const int64_t rb = j->w_row_bytes[i];
    const uint8_t *w = (const uint8_t *)o->w + n0 * rb;
    const gn_gemm_q_fn gemm = gn_active->gemm_q[o->type];
    /* an interleaved layout's kernel writes whole row groups: the matrix's short last group
     * (zero rows after N) goes through scratch, so that y gets only its real rows */
    const int64_t g = gn_type_info(o->type)->row_group, whole = rows / g * g;
    /* With a bias, BIAS_ROWS x rows at a time, adding it while their y rows are in cache: a
     * panel's y rows lie N floats apart, so they share a few cache sets, and a pass over all M
     * of them after the product found them evicted (2.8% of the `fastest` encoder). Rows do
     * not depend on how M is split, so the bits are the same. */
    const int64_t step = o->bias ? BIAS_ROWS : j->M;
    for (int64_t m0 = 0; m0 < j->M; m0 += step) {
        const int64_t mr = j->M - m0 < step ? j->M - m0 : step;
        const uint8_t *xq = j->xq + m0 * j->xq_row_bytes;
        float *y = o->y + m0 * o->N + n0;
        if (whole) gemm(mr, whole, j->K, xq, j->xq_row_bytes, w, rb, y, o->N);
        if (whole < rows) {
            float *t = (float *)gn_pool_scratch(j->pool, thread_index, (size_t)(mr * g) * sizeof(float));
            if (!t) {
                j->failed = 1;
                return;
            }
            gemm(mr, g, j->K, xq, j->xq_row_bytes, w + whole * rb, rb, t, g);
            for (int64_t m = 0; m < mr; m++)
                memcpy(y + m * o->N + whole, t + m * g, (size_t)(rows - whole) * sizeof(float));
        }
        if (o->bias) gn_add_bias_rows(y, o->N, mr, rows, o->bias + n0);
    }
}

/* Piece p, counted over all the matrices in order. */
static void piece(void *arg, int64_t p, int thread_index) {
    q8_job *j = (q8_job *)arg;
    int i = 0;
    while (p >= j->first[i + 1]) i++;
    const int64_t n0 = (p - j->first[i]) * PANEL_ROWS, N = j->outs[i].N;
    product_rows(j, i, n0, N - n0 < PANEL_ROWS ? N - n0 : PANEL_ROWS, thread_index);
}

int gn_matmul_q8_available(int wtype) {
    const gn_type_traits *t = gn_type_info(wtype);
    return t && t->int8_act && gn_active->gemm_q[wtype] != NULL;
}

static int act_kind(int wtype) { return gn_type_info(wtype)->int8_act; }

int gn_matmul_q8_group_ok(const gn_matmul_out *outs, int n) {
    for (int i = 0; i < n; i++)
        if (!gn_matmul_q8_available(outs[i].type) || act_kind(outs[i].type) != act_kind(outs[0].type))
            return 0;
    return 1;
}

gn_status gn_matmul_q8_group(gn_pool *pool, const float *x, int64_t M, int64_t K,
                             const gn_matmul_out *outs, int n) {
    const int k_quant = act_kind(outs[0].type) == GN_ACT_Q8_K;
    const int64_t block = k_quant ? QK_K : 32;
    const int64_t block_bytes = k_quant ? (int64_t)sizeof(block_q8_K) : (int64_t)sizeof(block_q8_32);
    if (K % block || n < 1 || n > GN_MATMUL_GROUP_MAX) return GN_ERR_INVALID;
    const int64_t xq_row_bytes = K / block * block_bytes;
    if (M > (int64_t)(SIZE_MAX / 2) / xq_row_bytes) return GN_ERR_NOMEM;
    q8_job job = {pool, x, M, K, NULL, xq_row_bytes,
                  k_quant ? gn_active->quantize_q8_k : gn_active->quantize_q8_32, n, outs,
                  {0}, {0}, 0};
    for (int i = 0; i < n; i++) {
        job.w_row_bytes[i] = gn_row_bytes(outs[i].type, K);
        job.first[i + 1] = job.first[i] + (outs[i].N + PANEL_ROWS - 1) / PANEL_ROWS;
    }
    job.xq = (uint8_t *)malloc((size_t)(M * xq_row_bytes));
    if (!job.xq) return GN_ERR_NOMEM;
    gn_pool_run(pool, quantize_rows, &job, M);
    gn_status st = GN_OK;
    if (M == 1)
        st = gn_ranges_run(pool, piece, &job, job.first[n]);
    else
        gn_pool_run(pool, piece, &job, job.first[n]);
    free(job.xq);
    return st != GN_OK ? st : job.failed ? GN_ERR_NOMEM : GN_OK;
}
