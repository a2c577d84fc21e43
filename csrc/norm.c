/* LayerNorm and RMSNorm: rows split over the pool, each row run by the selected ISA's kernel. */
#include "gn_kernels.h"
#include "gn_ops.h"

typedef struct {
    const float *x, *w, *b;
    float *y;
    int64_t d;
    float eps;
} norm_job;

static void layernorm_row(void *arg, int64_t r, int thread_index) {
    const norm_job *j = (const norm_job *)arg;
    gn_active->layernorm(j->x + r * j->d, j->w, j->b, j->eps, j->y + r * j->d, j->d);
}

static void rmsnorm_row(void *arg, int64_t r, int thread_index) {
    const norm_job *j = (const norm_job *)arg;
    gn_active->rmsnorm(j->x + r * j->d, j->w, j->eps, j->y + r * j->d, j->d);
}

gn_status gn_layernorm(gn_pool *pool, const float *x, int64_t rows, int64_t d,
                       const float *w, const float *b, float eps, float *y) {
    if (!x || !w || !b || !y || rows < 0 || d <= 0 || !(eps >= 0)) return GN_ERR_INVALID;
    norm_job j = {x, w, b, y, d, eps};
    gn_pool_run(pool, layernorm_row, &j, rows);
    return GN_OK;
}

gn_status gn_rmsnorm(gn_pool *pool, const float *x, int64_t rows, int64_t d,
                     const float *w, float eps, float *y) {
    if (!x || !w || !y || rows < 0 || d <= 0 || !(eps >= 0)) return GN_ERR_INVALID;
    norm_job j = {x, w, NULL, y, d, eps};
    gn_pool_run(pool, rmsnorm_row, &j, rows);
    return GN_OK;
}
