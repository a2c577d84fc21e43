/* Elementwise activations, GLU/SwiGLU and row softmax. Work is cut into fixed chunks so the
 * pool can balance it; erf/exp come from libm for exact-GELU parity with PyTorch. */
#include "gn_ops.h"
#include <math.h>

#define CHUNK 16384

static inline float sigmoidf(float v) { return 1.0f / (1.0f + expf(-v)); }

typedef struct {
    int act;
    const float *x, *x2;
    float *y;
    int64_t n, rows, c;
} act_job;

static void act_chunk(void *arg, int64_t t, int thread_index) {
    const act_job *j = (const act_job *)arg;
    const int64_t i0 = t * CHUNK, i1 = i0 + CHUNK < j->n ? i0 + CHUNK : j->n;
    for (int64_t i = i0; i < i1; i++) {
        const float v = j->x[i];
        switch (j->act) {
        case GN_ACT_SILU: j->y[i] = v * sigmoidf(v); break;
        case GN_ACT_GELU_ERF: j->y[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); break;
        default: j->y[i] = sigmoidf(v); break;
        }
    }
}

gn_status gn_activation(gn_pool *pool, int act, const float *x, int64_t n, float *y) {
    if (!x || !y || n < 0 || act < GN_ACT_SILU || act > GN_ACT_SIGMOID) return GN_ERR_INVALID;
    act_job j = {act, x, NULL, y, n, 0, 0};
    gn_pool_run(pool, act_chunk, &j, (n + CHUNK - 1) / CHUNK);
    return GN_OK;
}

static void glu_row(void *arg, int64_t r, int thread_index) {
    const act_job *j = (const act_job *)arg;
    const float *a = j->x + r * 2 * j->c, *g = a + j->c;
    float *y = j->y + r * j->c;
    for (int64_t i = 0; i < j->c; i++) y[i] = a[i] * sigmoidf(g[i]);
}

gn_status gn_glu(gn_pool *pool, const float *x, int64_t rows, int64_t c, float *y) {
    if (!x || !y || rows < 0 || c <= 0 || c > INT64_MAX / 2) return GN_ERR_INVALID;
    act_job j = {0, x, NULL, y, 0, rows, c};
    gn_pool_run(pool, glu_row, &j, rows);
    return GN_OK;
}

static void swiglu_row(void *arg, int64_t r, int thread_index) {
    const act_job *j = (const act_job *)arg;
    const float *g = j->x + r * j->c, *u = j->x2 + r * j->c;
    float *y = j->y + r * j->c;
    for (int64_t i = 0; i < j->c; i++) y[i] = g[i] * sigmoidf(g[i]) * u[i];
}

gn_status gn_swiglu(gn_pool *pool, const float *gate, const float *up, int64_t rows, int64_t c,
                    float *y) {
    if (!gate || !up || !y || rows < 0 || c <= 0) return GN_ERR_INVALID;
    act_job j = {0, gate, up, y, 0, rows, c};
    gn_pool_run(pool, swiglu_row, &j, rows);
    return GN_OK;
}

static void softmax_row(void *arg, int64_t r, int thread_index) {
    const act_job *j = (const act_job *)arg;
    float *x = j->y + r * j->c;
    float mx = x[0];
    for (int64_t i = 1; i < j->c; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int64_t i = 0; i < j->c; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < j->c; i++) x[i] *= inv;
}

gn_status gn_softmax(gn_pool *pool, float *x, int64_t rows, int64_t n) {
    if (!x || rows < 0 || n <= 0) return GN_ERR_INVALID;
    act_job j = {0, NULL, NULL, x, 0, rows, n};
    gn_pool_run(pool, softmax_row, &j, rows);
    return GN_OK;
}
