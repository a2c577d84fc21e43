/* Depthwise convolution along time over a time-major [T, C] activation, the Conformer conv
 * module's layout; each task owns a range of output frames so rows are written once. */
#include "gn_ops.h"

#define FRAMES_PER_TASK 16

typedef struct {
    const float *x, *w;
    float *y;
    int64_t T, C, k;
} conv_job;

static void conv_frames(void *arg, int64_t task, int thread_index) {
    const conv_job *j = (const conv_job *)arg;
    const int64_t half = j->k / 2;
    const int64_t t0 = task * FRAMES_PER_TASK;
    const int64_t t1 = t0 + FRAMES_PER_TASK < j->T ? t0 + FRAMES_PER_TASK : j->T;
    for (int64_t t = t0; t < t1; t++) {
        float *y = j->y + t * j->C;
        for (int64_t ch = 0; ch < j->C; ch++) y[ch] = 0.0f;
        for (int64_t tap = 0; tap < j->k; tap++) {
            const int64_t src = t + tap - half;
            if (src < 0 || src >= j->T) continue;
            const float *x = j->x + src * j->C;
            for (int64_t ch = 0; ch < j->C; ch++) y[ch] += j->w[ch * j->k + tap] * x[ch];
        }
    }
}

gn_status gn_conv_dw(gn_pool *pool, const float *x, int64_t T, int64_t C,
                     const float *w, int64_t k, float *y) {
    if (!x || !w || !y || x == y || T < 0 || C <= 0 || k <= 0 || k % 2 == 0) return GN_ERR_INVALID;
    if (T > INT64_MAX / C) return GN_ERR_INVALID;
    conv_job j = {x, w, y, T, C, k};
    gn_pool_run(pool, conv_frames, &j, (T + FRAMES_PER_TASK - 1) / FRAMES_PER_TASK);
    return GN_OK;
}
