/* Roofline probes for benchmarks: how fast this machine streams memory and retires
 * floating-point multiply-adds with the active ISA's kernels. The work is cut into many
 * small tasks so the pool's atomic counter keeps every thread busy until the end: a thread
 * that wakes late cannot leave a whole slice for another to run after everyone else. */
#include "gn_kernels.h"

#define READ_CHUNK ((size_t)1 << 20)
#define FMA_TASKS_PER_THREAD 16
#define MAX_THREADS 1024 /* the pool's own limit */

typedef struct {
    const unsigned char *buf;
    size_t bytes;
    uint64_t sums[MAX_THREADS]; /* one per thread index; summed after the run */
} read_job;

static void read_task(void *ctx, int64_t task, int thread_index) {
    read_job *j = ctx;
    const size_t off = (size_t)task * READ_CHUNK;
    const size_t n = j->bytes - off < READ_CHUNK ? j->bytes - off : READ_CHUNK;
    j->sums[thread_index] += gn_active->probe_read(j->buf + off, n);
}

gn_status gn_probe_read(gn_pool *pool, const void *buf, size_t bytes, uint64_t *checksum) {
    if (!buf || !checksum || bytes == 0 || bytes % 64) return GN_ERR_INVALID;
    if (gn_pool_threads(pool) > MAX_THREADS) return GN_ERR_INVALID;
    read_job j = {buf, bytes, {0}};
    gn_pool_run(pool, read_task, &j, (int64_t)((bytes + READ_CHUNK - 1) / READ_CHUNK));
    uint64_t s = 0;
    for (int i = 0; i < MAX_THREADS; i++) s += j.sums[i];
    *checksum = s;
    return GN_OK;
}

typedef struct {
    gn_probe_fma_fn probe;
    int64_t iters;
    double flops[MAX_THREADS];
    float sink[MAX_THREADS];
} fma_job;

static void fma_task(void *ctx, int64_t task, int thread_index) {
    fma_job *j = ctx;
    float sink = 0.0f;
    j->flops[thread_index] += (double)j->probe(j->iters, &sink);
    j->sink[thread_index] += sink;
}

static gn_status run_chains(gn_pool *pool, gn_probe_fma_fn probe, int64_t iters, double *flops,
                            float *sink) {
    if (!flops || !sink || iters < 1 || iters > ((int64_t)1 << 40)) return GN_ERR_INVALID;
    const int threads = pool ? gn_pool_active(pool) : 1;
    if (threads > MAX_THREADS) return GN_ERR_INVALID;
    fma_job j = {probe, iters, {0}, {0}};
    gn_pool_run(pool, fma_task, &j, (int64_t)threads * FMA_TASKS_PER_THREAD);
    double f = 0.0;
    float s = 0.0f;
    for (int i = 0; i < MAX_THREADS; i++) {
        f += j.flops[i];
        s += j.sink[i];
    }
    *flops = f;
    *sink = s;
    return GN_OK;
}

gn_status gn_probe_fma(gn_pool *pool, int64_t iters, double *flops, float *sink) {
    return run_chains(pool, gn_active->probe_fma, iters, flops, sink);
}

gn_status gn_probe_int8(gn_pool *pool, int64_t iters, double *flops, float *sink) {
    if (!gn_active->probe_int8) return GN_ERR_UNSUPPORTED;
    return run_chains(pool, gn_active->probe_int8, iters, flops, sink);
}

gn_status gn_probe_bf16(gn_pool *pool, int64_t iters, double *flops, float *sink) {
    if (!gn_active->probe_bf16) return GN_ERR_UNSUPPORTED;
    return run_chains(pool, gn_active->probe_bf16, iters, flops, sink);
}
