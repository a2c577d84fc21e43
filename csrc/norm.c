/* LayerNorm and RMSNorm over rows; statistics accumulate in double so long rows of
 * large activations keep float32 parity with PyTorch. */
#include "gn_ops.h"
#include <math.h>

typedef struct {
    const float *x, *w, *b;
    float *y;
    int64_t d;
    float eps;
} norm_job;

static void layernorm_row(void *arg, int64_t r, int thread_index) {
    const norm_job *j = (const norm_job *)arg;
    const float *x = j->x + r * j->d;
    float *y = j->y + r * j->d;
    double sum = 0;
    for (int64_t i = 0; i < j->d; i++) sum += x[i];
    const double mean = sum / (double)j->d;
    double var = 0;
    for (int64_t i = 0; i < j->d; i++) {
        const double c = x[i] - mean;
        var += c * c;
    }
    const float inv = (float)(1.0 / sqrt(var / (double)j->d + j->eps));
    const float m = (float)mean;
    for (int64_t i = 0; i < j->d; i++) y[i] = (x[i] - m) * inv * j->w[i] + j->b[i];
}

static void rmsnorm_row(void *arg, int64_t r, int thread_index) {
    const norm_job *j = (const norm_job *)arg;
    const float *x = j->x + r * j->d;
    float *y = j->y + r * j->d;
    double ss = 0;
    for (int64_t i = 0; i < j->d; i++) ss += (double)x[i] * x[i];
    const float inv = (float)(1.0 / sqrt(ss / (double)j->d + j->eps));
    for (int64_t i = 0; i < j->d; i++) y[i] = x[i] * inv * j->w[i];
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
