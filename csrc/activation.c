/* Elementwise activations, GLU/SwiGLU, row softmax and scaled residual adds: the work is split
 * over the pool (fixed chunks for elementwise ops so it balances, rows otherwise) and each
 * piece runs the kernel of the selected ISA. */
#include "gn_kernels.h"
#include "gn_ops.h"

#define CHUNK 16384

typedef struct {
    gn_unary_fn unary;
    gn_binary_fn binary;
    const float *x, *x2;
    float *y;
    int64_t n, c;
    float alpha;
} act_job;

static void act_chunk(void *arg, int64_t t, int thread_index) {
    const act_job *j = (const act_job *)arg;
    const int64_t i0 = t * CHUNK, len = j->n - i0 < CHUNK ? j->n - i0 : CHUNK;
    j->unary(j->x + i0, j->y + i0, len);
}

gn_unary_fn gn_act_fn(int act) {
    switch (act) {
    case GN_ACT_SILU: return gn_active->silu;
    case GN_ACT_GELU_ERF: return gn_active->gelu_erf;
    case GN_ACT_SIGMOID: return gn_active->sigmoid;
    default: return NULL;
    }
}

gn_status gn_activation(gn_pool *pool, int act, const float *x, int64_t n, float *y) {
    if (!x || !y || n < 0) return GN_ERR_INVALID;
    act_job j = {gn_act_fn(act), NULL, x, NULL, y, n, 0, 0};
    if (!j.unary) return GN_ERR_INVALID;
    gn_pool_run(pool, act_chunk, &j, (n + CHUNK - 1) / CHUNK);
    return GN_OK;
}

static void glu_row(void *arg, int64_t r, int thread_index) {
    const act_job *j = (const act_job *)arg;
    const float *a = j->x + r * 2 * j->c;
    j->binary(a, a + j->c, j->y + r * j->c, j->c);
}

gn_status gn_glu(gn_pool *pool, const float *x, int64_t rows, int64_t c, float *y) {
    if (!x || !y || rows < 0 || c <= 0 || c > INT64_MAX / 2) return GN_ERR_INVALID;
    act_job j = {NULL, gn_active->glu, x, NULL, y, 0, c, 0};
    gn_pool_run(pool, glu_row, &j, rows);
    return GN_OK;
}

static void swiglu_row(void *arg, int64_t r, int thread_index) {
    const act_job *j = (const act_job *)arg;
    j->binary(j->x + r * j->c, j->x2 + r * j->c, j->y + r * j->c, j->c);
}

gn_status gn_swiglu(gn_pool *pool, const float *gate, const float *up, int64_t rows, int64_t c,
                    float *y) {
    if (!gate || !up || !y || rows < 0 || c <= 0) return GN_ERR_INVALID;
    act_job j = {NULL, gn_active->swiglu, gate, up, y, 0, c, 0};
    gn_pool_run(pool, swiglu_row, &j, rows);
    return GN_OK;
}

static void softmax_row(void *arg, int64_t r, int thread_index) {
    const act_job *j = (const act_job *)arg;
    gn_active->softmax(j->y + r * j->c, j->c);
}

gn_status gn_softmax(gn_pool *pool, float *x, int64_t rows, int64_t n) {
    if (!x || rows < 0 || n <= 0) return GN_ERR_INVALID;
    act_job j = {NULL, NULL, NULL, NULL, x, 0, n, 0};
    gn_pool_run(pool, softmax_row, &j, rows);
    return GN_OK;
}

static void add_scaled_chunk(void *arg, int64_t t, int thread_index) {
    const act_job *j = (const act_job *)arg;
    const int64_t i0 = t * CHUNK, len = j->n - i0 < CHUNK ? j->n - i0 : CHUNK;
    float *h = j->y + i0;
    const float *y = j->x + i0;
    for (int64_t i = 0; i < len; i++) {
        const float scaled = j->alpha * y[i];
        h[i] += scaled;
    }
}

gn_status gn_add_scaled(gn_pool *pool, float *h, const float *y, float alpha, int64_t n) {
    if (!h || !y || n < 0) return GN_ERR_INVALID;
    act_job j = {NULL, NULL, y, NULL, h, n, 0, alpha};
    gn_pool_run(pool, add_scaled_chunk, &j, (n + CHUNK - 1) / CHUNK);
    return GN_OK;
}
