/* The work split of a decode GEMV (matmul.c, matmul_q8.c). A GEMV streams W at memory speed,
 * and every new stream costs the hardware prefetcher a ramp: short panels dealt out in turn
 * measured at half the read bandwidth on 2 threads, and panels of up to 256 rows, 4 per
 * thread, lost the time of about half a panel per matrix to the threads not keeping the same
 * pace. So the output rows go in chunks, as one contiguous range per task that the task walks
 * front to back (one stream), after which it takes chunks from the ends of the other ranges:
 * all finish together, and a stream breaks only where a helper steps in (Zen 4, decode 0.956x
 * the time of the 256-row panels with Q4_K weights, 0.963x with F16). */
#ifndef GN_GEMV_RANGES_H
#define GN_GEMV_RANGES_H

#include <stdatomic.h>
#include <stdint.h>

#include "gn.h"

/* at most this many ranges, each in its own cache line (threads would fight over a shared
 * one); tasks past them only help */
#define GN_RANGES_MAX 64
/* chunk indices are 32-bit halves of a range's word */
#define GN_RANGES_CHUNKS_MAX INT64_C(0xFFFFFFFF)

typedef struct {
    _Alignas(64) _Atomic uint64_t word; /* (first << 32) | end, chunk indices */
} gn_range;

/* Left uninitialized until gn_ranges_init: a caller declares it only where it splits. */
typedef struct {
    int n; /* ranges: one per task, up to GN_RANGES_MAX */
    gn_range range[GN_RANGES_MAX];
} gn_ranges;

/* chunks (<= GN_RANGES_CHUNKS_MAX) in nearly equal ranges for `tasks` tasks (>= 1) */
static inline void gn_ranges_init(gn_ranges *g, int64_t chunks, int tasks) {
    const int n = g->n = tasks < GN_RANGES_MAX ? tasks : GN_RANGES_MAX;
    for (int t = 0; t < n; t++)
        atomic_init(&g->range[t].word, ((uint64_t)chunks * (uint64_t)t / (uint64_t)n) << 32 |
                                           (uint64_t)chunks * (uint64_t)(t + 1) / (uint64_t)n);
}

/* The next chunk of range r from its front (its owner) or its end (a helper), or -1. */
static inline int64_t gn_ranges_take(_Atomic uint64_t *r, int from_end) {
    uint64_t old = atomic_load(r);
    for (;;) {
        const uint64_t first = old >> 32, end = old & 0xFFFFFFFFu;
        if (first >= end) return -1;
        const uint64_t next = from_end ? (first << 32) | (end - 1) : ((first + 1) << 32) | end;
        if (atomic_compare_exchange_weak(r, &old, next)) return (int64_t)(from_end ? end - 1 : first);
    }
}

/* Task `task`'s next chunk, or -1 when none is left anywhere; *k starts at 0 (its own range,
 * if it has one) and moves on to the others as they empty. */
static inline int64_t gn_ranges_next(gn_ranges *g, int64_t task, int *k) {
    for (; *k < g->n; ++*k) {
        const int helper = *k > 0 || task >= g->n;
        const int64_t c = gn_ranges_take(&g->range[(task + *k) % g->n].word, helper);
        if (c >= 0) return c;
    }
    return -1;
}

typedef struct {
    gn_ranges ranges;
    gn_task_fn fn;
    void *ctx;
} gn_ranges_job;

static inline void gn_ranges_task(void *arg, int64_t task, int thread_index) {
    gn_ranges_job *j = (gn_ranges_job *)arg;
    int k = 0;
    for (int64_t c; (c = gn_ranges_next(&j->ranges, task, &k)) >= 0;)
        j->fn(j->ctx, c, thread_index);
}

/* gn_pool_run's fn(ctx, chunk, thread_index) for every chunk < chunks, dealt out by ranges
 * over the pool's active threads; GN_ERR_INVALID past GN_RANGES_CHUNKS_MAX chunks. */
static inline gn_status gn_ranges_run(gn_pool *pool, gn_task_fn fn, void *ctx, int64_t chunks) {
    if (chunks > GN_RANGES_CHUNKS_MAX) return GN_ERR_INVALID;
    const int threads = gn_pool_active(pool);
    gn_ranges_job j;
    gn_ranges_init(&j.ranges, chunks, threads);
    j.fn = fn;
    j.ctx = ctx;
    gn_pool_run(pool, gn_ranges_task, &j, threads);
    return GN_OK;
}

#endif
