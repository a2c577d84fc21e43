/* A persistent thread pool: workers start once, so a job costs a hand-over, not a thread
 * creation. Tasks are handed out through an atomic counter; the calling thread works too.
 * A decode step runs a few hundred short jobs, and a futex wake-up costs tens of
 * microseconds each, so workers (and the caller waiting for them) first spin for a while on
 * the job counter and only then sleep on the condition variable.
 *
 * A job is over once its tasks are, whether or not every worker came: the caller waits only
 * for the workers inside the job (`inside`), and a worker that arrives after the caller
 * closed it leaves without touching it. Where the pool's threads outnumber the free cores
 * (two processes on one machine, or more threads than cores), a descheduled worker would
 * otherwise hold every job until the scheduler ran it again: two 2-thread processes on 2
 * cores decoded 3x slower than their fair share, 4 threads on 2 cores 6.8x slower than 2. */
#define _DEFAULT_SOURCE /* madvise's MADV_HUGEPAGE under -std=c11 */
#include "gn.h"
#include <stdatomic.h>
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#include <emmintrin.h> /* _mm_pause: SSE2, part of every x86-64 baseline */
#define cpu_relax() _mm_pause()
#elif (defined(__aarch64__) || defined(__arm__)) && (defined(__GNUC__) || defined(__clang__))
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
typedef SRWLOCK gn_mutex;
typedef CONDITION_VARIABLE gn_cond;
typedef HANDLE gn_thread;
#define mutex_init(m) InitializeSRWLock(m)
#define mutex_destroy(m) ((void)0)
#define mutex_lock(m) AcquireSRWLockExclusive(m)
#define mutex_unlock(m) ReleaseSRWLockExclusive(m)
#define cond_init(c) InitializeConditionVariable(c)
#define cond_destroy(c) ((void)0)
#define cond_wait(c, m) SleepConditionVariableSRW(c, m, INFINITE, 0)
#define cond_broadcast(c) WakeAllConditionVariable(c)
#else
#include <pthread.h>
#ifdef __linux__
#include <sys/mman.h>
#endif
typedef pthread_mutex_t gn_mutex;
typedef pthread_cond_t gn_cond;
typedef pthread_t gn_thread;
#define mutex_init(m) pthread_mutex_init(m, NULL)
#define mutex_destroy(m) pthread_mutex_destroy(m)
#define mutex_lock(m) pthread_mutex_lock(m)
#define mutex_unlock(m) pthread_mutex_unlock(m)
#define cond_init(c) pthread_cond_init(c, NULL)
#define cond_destroy(c) pthread_cond_destroy(c)
#define cond_wait(c, m) pthread_cond_wait(c, m)
#define cond_broadcast(c) pthread_cond_broadcast(c)
#endif

#ifdef _WIN32
#define yield_cpu() ((void)SwitchToThread())
#else
#include <sched.h>
#define yield_cpu() ((void)sched_yield())
#endif

/* A wait polls for about 20 microseconds (a pause took 25 ns on this project's Zen 4 VM),
 * then yields the core for about 500 more (a yield returns in ~0.5 us where no other thread
 * wants the core) before it sleeps: longer than the gap between the jobs of one forward pass,
 * short enough not to burn a core while the caller is idle. Where threads outnumber cores, a
 * yield runs another thread, maybe the pool thread this wait is for: beside one busy process
 * on 2 vCPUs, a 2-thread pool decoded 32 tokens in 1.28-1.34 s, against 1.65-1.70 s polling
 * only (1 thread: 1.06 s); 4 threads on 2 vCPUs transcribed in 2.6-2.7 s against 3.6. */
#define POLL_ROUNDS 800
#define SPIN_ROUNDS (POLL_ROUNDS + 1000)
static void wait_round(int i) {
    if (i < POLL_ROUNDS)
        cpu_relax();
    else
        yield_cpu();
}

typedef struct {
    void *ptr;   /* 64-byte aligned view into raw */
    void *raw;
    size_t size;
} scratch_buf;

typedef struct worker {
    struct gn_pool *pool;
    int index;
    gn_thread thread;
} worker;

struct gn_pool {
    int n_threads;
    atomic_int active;      /* threads that take tasks: the caller and workers 1..active-1 */
    worker *workers;        /* n_threads - 1 of them; index 0 is the caller */
    scratch_buf *scratch;   /* one per thread index */
    scratch_buf shared;     /* gn_pool_shared_take */
    atomic_int shared_busy;

    gn_mutex run_lock;      /* one job at a time per pool */
    gn_mutex lock;
    gn_cond wake, done, resume; /* resume: `active` grew */
    atomic_ulong generation;  /* bumped per job; workers wait for a change */
    atomic_ulong closed;      /* the last generation whose tasks have all been taken */
    atomic_int inside;        /* workers that joined the current job and have not left */
    atomic_int shutdown;

    gn_task_fn fn;
    void *ctx;
    int64_t n_tasks;
    atomic_llong next;
};

static void work(gn_pool *p, int index) {
    for (;;) {
        const long long t = atomic_fetch_add(&p->next, 1);
        if (t >= p->n_tasks) break;
        p->fn(p->ctx, (int64_t)t, index);
    }
}

#ifdef _WIN32
static DWORD WINAPI worker_main(LPVOID arg)
#else
static void *worker_main(void *arg)
#endif
{
    worker *w = (worker *)arg;
    gn_pool *p = w->pool;
    unsigned long seen = 0;
    for (;;) {
        for (int i = 0; i < SPIN_ROUNDS && atomic_load(&p->generation) == seen &&
                        !atomic_load(&p->shutdown); i++)
            wait_round(i);
        if (atomic_load(&p->generation) == seen && !atomic_load(&p->shutdown)) {
            mutex_lock(&p->lock);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->shutdown))
                cond_wait(&p->wake, &p->lock);
            mutex_unlock(&p->lock);
        }
        if (atomic_load(&p->shutdown)) break;
        seen = atomic_load(&p->generation);
        if (w->index >= atomic_load(&p->active)) {
            /* Not among the threads jobs use (gn_pool_set_active): asleep until it is, where
             * it would otherwise wake and poll through every job of a decode step run on
             * fewer threads, a core's worth of CPU doing nothing. */
            mutex_lock(&p->lock);
            while (w->index >= atomic_load(&p->active) && !atomic_load(&p->shutdown))
                cond_wait(&p->resume, &p->lock);
            mutex_unlock(&p->lock);
            seen = atomic_load(&p->generation); /* jobs meanwhile were none of its business */
            continue;
        }

        /* Joining first and checking after (all sequentially consistent) leaves two cases:
         * the caller closes the job later and waits for this worker, or it closed it earlier
         * and this worker sees that here and leaves, having read nothing of the job. One that
         * slept through whole jobs sees a newer generation and leaves too. */
        atomic_fetch_add(&p->inside, 1);
        if (atomic_load(&p->closed) != seen && atomic_load(&p->generation) == seen)
            work(p, w->index);
        if (atomic_fetch_sub(&p->inside, 1) == 1) { /* last one out wakes a sleeping caller */
            mutex_lock(&p->lock);
            cond_broadcast(&p->done);
            mutex_unlock(&p->lock);
        }
    }
    return 0;
}

gn_pool *gn_pool_create(int n_threads) {
    if (n_threads < 1 || n_threads > 1024) return NULL;
    gn_pool *p = (gn_pool *)calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_threads = n_threads;
    p->scratch = (scratch_buf *)calloc((size_t)n_threads, sizeof *p->scratch);
    p->workers = (worker *)calloc((size_t)n_threads, sizeof *p->workers);
    if (!p->scratch || !p->workers) {
        free(p->scratch);
        free(p->workers);
        free(p);
        return NULL;
    }
    mutex_init(&p->run_lock);
    mutex_init(&p->lock);
    cond_init(&p->wake);
    cond_init(&p->done);
    cond_init(&p->resume);
    atomic_init(&p->active, 1);
    atomic_init(&p->next, 0);
    atomic_init(&p->generation, 0);
    atomic_init(&p->closed, 0);
    atomic_init(&p->inside, 0);
    atomic_init(&p->shutdown, 0);
    atomic_init(&p->shared_busy, 0);
    for (int i = 1; i < n_threads; i++) {
        worker *w = &p->workers[i];
        w->pool = p;
        w->index = i;
#ifdef _WIN32
        w->thread = CreateThread(NULL, 0, worker_main, w, 0, NULL);
        const int failed = w->thread == NULL;
#else
        const int failed = pthread_create(&w->thread, NULL, worker_main, w) != 0;
#endif
        if (failed) { /* run with the threads we got */
            p->n_threads = i;
            break;
        }
    }
    atomic_store(&p->active, p->n_threads);
    return p;
}

void gn_pool_destroy(gn_pool *p) {
    if (!p) return;
    mutex_lock(&p->lock);
    atomic_store(&p->shutdown, 1);
    cond_broadcast(&p->wake);
    cond_broadcast(&p->resume);
    mutex_unlock(&p->lock);
    for (int i = 1; i < p->n_threads; i++) {
#ifdef _WIN32
        WaitForSingleObject(p->workers[i].thread, INFINITE);
        CloseHandle(p->workers[i].thread);
#else
        pthread_join(p->workers[i].thread, NULL);
#endif
    }
    for (int i = 0; i < p->n_threads; i++) free(p->scratch[i].raw);
    free(p->shared.raw);
    cond_destroy(&p->wake);
    cond_destroy(&p->done);
    cond_destroy(&p->resume);
    mutex_destroy(&p->lock);
    mutex_destroy(&p->run_lock);
    free(p->scratch);
    free(p->workers);
    free(p);
}

int gn_pool_threads(const gn_pool *p) { return p ? p->n_threads : 1; }

int gn_pool_active(const gn_pool *p) { return p ? atomic_load(&p->active) : 1; }

gn_status gn_pool_set_active(gn_pool *p, int n_threads) {
    if (!p || n_threads < 1 || n_threads > p->n_threads) return GN_ERR_INVALID;
    mutex_lock(&p->run_lock); /* no job runs while `active` changes */
    mutex_lock(&p->lock);     /* a parked worker checks it under this one */
    atomic_store(&p->active, n_threads);
    cond_broadcast(&p->resume);
    mutex_unlock(&p->lock);
    mutex_unlock(&p->run_lock);
    return GN_OK;
}

void gn_pool_run(gn_pool *p, gn_task_fn fn, void *ctx, int64_t n_tasks) {
    if (n_tasks <= 0) return;
    if (!p || atomic_load(&p->active) == 1 || n_tasks == 1) {
        /* still serialise with other users of the pool: the scratch buffers are shared */
        if (p) mutex_lock(&p->run_lock);
        for (int64_t t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        if (p) mutex_unlock(&p->run_lock);
        return;
    }
    mutex_lock(&p->run_lock);
    /* no worker is inside the previous job (closed, inside reached 0), and none will read
     * these plain stores before the generation bump below publishes them */
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store(&p->next, 0);
    mutex_lock(&p->lock); /* a worker between its last check and cond_wait holds it */
    const unsigned long generation = atomic_fetch_add(&p->generation, 1) + 1;
    cond_broadcast(&p->wake);
    mutex_unlock(&p->lock);

    work(p, 0); /* returns once every task is taken; workers may still be running theirs */
    atomic_store(&p->closed, generation);

    for (int i = 0; i < SPIN_ROUNDS && atomic_load(&p->inside) > 0; i++) wait_round(i);
    if (atomic_load(&p->inside) > 0) {
        mutex_lock(&p->lock);
        while (atomic_load(&p->inside) > 0) cond_wait(&p->done, &p->lock);
        mutex_unlock(&p->lock);
    }
    mutex_unlock(&p->run_lock);
}

/* s at least `bytes` long, aligned to `align` (a power of two); 0 when out of memory. */
static int grow(scratch_buf *s, size_t bytes, size_t align) {
    if (s->size >= bytes && s->raw) return 1;
    free(s->raw);
    s->raw = bytes <= SIZE_MAX - align ? malloc(bytes + align) : NULL;
    s->size = s->raw ? bytes : 0;
    s->ptr = s->raw ? (void *)(((uintptr_t)s->raw + align - 1) & ~(uintptr_t)(align - 1)) : NULL;
    return s->raw != NULL;
}

void *gn_pool_scratch(gn_pool *p, int index, size_t bytes) {
    static _Thread_local scratch_buf serial; /* for a NULL pool */
    scratch_buf *s = p ? &p->scratch[index] : &serial;
    return grow(s, bytes, 64) ? s->ptr : NULL;
}

/* Aligned to 2 MB and advised into transparent huge pages on Linux (the "madvise" mode many
 * distributions ship): the encoder's packed x (up to 9 MB, read tile by tile across all of
 * it) measured ~5% faster than in 4 KB pages, and reusing the buffer saves faulting in and
 * zeroing fresh pages per product (together ~11% of an Ice Lake encoder). */
#ifdef __linux__
#define SHARED_ALIGN ((size_t)2 << 20)
#else
#define SHARED_ALIGN ((size_t)64)
#endif

void *gn_pool_shared_take(gn_pool *p, size_t bytes) {
    int idle = 0;
    if (!p || !atomic_compare_exchange_strong(&p->shared_busy, &idle, 1)) return malloc(bytes);
    const size_t had = p->shared.size;
    if (!grow(&p->shared, bytes, SHARED_ALIGN)) {
        atomic_store(&p->shared_busy, 0);
        return NULL;
    }
#ifdef __linux__
    if (p->shared.size != had) madvise(p->shared.ptr, bytes, MADV_HUGEPAGE);
#else
    (void)had;
#endif
    return p->shared.ptr;
}

void gn_pool_shared_give(gn_pool *p, void *ptr) {
    if (p && ptr && ptr == p->shared.ptr)
        atomic_store(&p->shared_busy, 0);
    else
        free(ptr);
}
