/* gn_quantize: checks the sizes, then encodes rows in parallel, a run of rows per task (whole
 * row groups of the interleaved types). */
#include "gn.h"
#include "quantize_rows.h"

#define TASK_ELEMS 65536 /* enough work per task to hide the hand-out cost */

typedef void (*row_fn)(const float *x, void *dst, int64_t k);

typedef struct {
    row_fn fn;
    const float *src;
    uint8_t *dst;
    int64_t rows, cols, row_bytes, group, rows_per_task;
} quantize_job;

static void quantize_task(void *arg, int64_t task, int thread_index) {
    const quantize_job *j = (const quantize_job *)arg;
    const int64_t r0 = task * j->rows_per_task;
    const int64_t r1 = r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;
    for (int64_t r = r0; r < r1; r += j->group)
        j->fn(j->src + r * j->cols, j->dst + r * j->row_bytes, j->cols);
}

gn_status gn_quantize(gn_pool *pool, int type, const float *src, int64_t rows, int64_t cols,
                      void *dst, size_t dst_bytes) {
    row_fn fn;
    switch (type) {
    case GN_TYPE_F16: fn = gn_quantize_row_f16; break;
    case GN_TYPE_Q4_0: fn = gn_quantize_row_q4_0; break;
    case GN_TYPE_Q8_0: fn = gn_quantize_row_q8_0; break;
    case GN_TYPE_Q4_K: fn = gn_quantize_row_q4_k; break;
    case GN_TYPE_Q8_K_R16: fn = gn_quantize_group_q8_k_r16; break;
    default: return GN_ERR_UNSUPPORTED;
    }
    const int64_t group = gn_type_info(type)->row_group;
    if (rows < 0 || cols <= 0 || rows % group) return GN_ERR_INVALID;
    const int64_t row_bytes = gn_row_bytes(type, cols);
    if (row_bytes < 0 || (rows > 0 && rows > INT64_MAX / row_bytes) || rows > INT64_MAX / cols)
        return GN_ERR_INVALID;
    if ((uint64_t)(rows * row_bytes) > (uint64_t)dst_bytes) return GN_ERR_INVALID;
    if (rows == 0) return GN_OK;
    if (!src || !dst) return GN_ERR_INVALID;
    const int64_t per_task = group * (cols >= TASK_ELEMS ? 1 : (TASK_ELEMS / cols + group - 1) / group);
    quantize_job job = {fn, src, (uint8_t *)dst, rows, cols, row_bytes, group, per_task};
    gn_pool_run(pool, quantize_task, &job, (rows + per_task - 1) / per_task);
    return GN_OK;
}
