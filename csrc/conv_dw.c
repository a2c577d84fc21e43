/* Depthwise convolution along time over a time-major [T, C] activation, the Conformer conv
 * module's layout. The kernel is transposed once to [k, C] so every ISA reads taps along
 * channels; each task owns a range of output frames so rows are written once, and applies the
 * folded batch norm and the activation that follow it while those rows are in cache. */
#include <stdlib.h>

#include "gn_kernels.h"
#include "gn_ops.h"

#define FRAMES_PER_TASK 16

typedef struct {
    const float *x, *wt, *scale, *shift;
    gn_unary_fn act; /* NULL for none */
    float *y;
    int64_t T, C, k;
} conv_job;

static void conv_frames(void *arg, int64_t task, int thread_index) {
    const conv_job *j = (const conv_job *)arg;
    const int64_t t0 = task * FRAMES_PER_TASK;
    const int64_t t1 = t0 + FRAMES_PER_TASK < j->T ? t0 + FRAMES_PER_TASK : j->T;
    gn_active->conv_dw(j->x, j->T, j->C, j->wt, j->k, t0, t1, j->y);
    float *rows = j->y + t0 * j->C;
    if (j->scale)
        for (int64_t t = 0; t < t1 - t0; t++)
            for (int64_t ch = 0; ch < j->C; ch++) {
                const float scaled = rows[t * j->C + ch] * j->scale[ch];
                rows[t * j->C + ch] = scaled + j->shift[ch];
            }
    if (j->act) j->act(rows, rows, (t1 - t0) * j->C);
}

gn_status gn_conv_dw(gn_pool *pool, const float *x, int64_t T, int64_t C, const float *w,
                     int64_t k, const float *scale, const float *shift, int act, float *y) {
    if (!x || !w || !y || x == y || T < 0 || C <= 0 || k <= 0 || k % 2 == 0) return GN_ERR_INVALID;
    if (!scale != !shift) return GN_ERR_INVALID;
    const gn_unary_fn act_fn = act == GN_ACT_NONE ? NULL : gn_act_fn(act);
    if (act != GN_ACT_NONE && !act_fn) return GN_ERR_INVALID;
    if (T > INT64_MAX / C || k > (int64_t)(SIZE_MAX / sizeof(float)) / C) return GN_ERR_INVALID;
    float *wt = (float *)malloc((size_t)(k * C) * sizeof(float));
    if (!wt) return GN_ERR_NOMEM;
    for (int64_t ch = 0; ch < C; ch++)
        for (int64_t tap = 0; tap < k; tap++) wt[tap * C + ch] = w[ch * k + tap];
    conv_job j = {x, wt, scale, shift, act_fn, y, T, C, k};
    gn_pool_run(pool, conv_frames, &j, (T + FRAMES_PER_TASK - 1) / FRAMES_PER_TASK);
    free(wt);
    return GN_OK;
}
