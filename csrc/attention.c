/* Attention: the Conformer's block-local attention with Shaw relative positions, and
 * batched GQA attention for the Q-Former and the LLM. One task per (block or batch, head),
 * scores in per-thread scratch, so memory grows with the square of the block, never of the
 * sequence. Dot products go through the dispatched GEMM kernel and softmax through the
 * dispatched row kernel, so they run at the selected ISA level. */
#include "gn_kernels.h"
#include "gn_ops.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* p[0:n] = softmax(p[0:n]); out[0:dh] = sum_r p[r] * v[r * ldv] */
static void softmax_mix(float *p, int64_t n, const float *v, int64_t ldv, int64_t dh, float *out) {
    gn_active->softmax(p, n);
    gn_active->mix(p, n, v, ldv, out, dh);
}

/* Query rows whose relative-position dot products one GEMM call computes: the rows share all
 * but REL_ROWS - 1 of the table rows they read, so little is computed twice. */
#define REL_ROWS 16

typedef struct {
    gn_pool *pool;
    const float *q, *k, *v, *rel_rev;
    float *out;
    int64_t T, H, dh, block, max_pos;
    float scale;
    int failed;
} relpos_job;

/* One (block, head): S = Q K^T, plus the relative-position term, softmax by rows, S V. All
 * three products are whole-block GEMMs in the selected ISA. */
static void relpos_task(void *arg, int64_t task, int thread_index) {
    relpos_job *j = (relpos_job *)arg;
    const int64_t blk = task / j->H, h = task % j->H, dh = j->dh;
    const int64_t t0 = blk * j->block;
    const int64_t n = (j->T - t0) < j->block ? (j->T - t0) : j->block;
    const int64_t ld = j->H * dh, le = n + REL_ROWS - 1;
    float *s = (float *)gn_pool_scratch(j->pool, thread_index,
                                        (size_t)(n * n + REL_ROWS * le + dh * n) * sizeof(float));
    if (!s) {
        j->failed = 1;
        return;
    }
    float *e = s + n * n, *vt = e + REL_ROWS * le;
    const float *qb = j->q + t0 * ld + h * dh, *kb = j->k + t0 * ld + h * dh;
    const float *vb = j->v + t0 * ld + h * dh;
    gn_active->gemm_f32(n, n, dh, qb, ld, kb, ld, s, n);
    /* Row c, key r reads rel[c - r + max_pos] = rel_rev[r - c + max_pos]: for the rows
     * c0 <= c < c0 + m that is rel_rev[max_pos - c0 - m + 1 ...][0 : n + m - 1], key r of row
     * c0 + i at column r + m - 1 - i. */
    for (int64_t c0 = 0; c0 < n; c0 += REL_ROWS) {
        const int64_t m = n - c0 < REL_ROWS ? n - c0 : REL_ROWS;
        const float *rel = j->rel_rev + (j->max_pos - c0 - m + 1) * dh;
        gn_active->gemm_f32(m, n + m - 1, dh, qb + c0 * ld, ld, rel, dh, e, le);
        for (int64_t i = 0; i < m; i++) {
            float *row = s + (c0 + i) * n;
            const float *ei = e + i * le + m - 1 - i;
            for (int64_t r = 0; r < n; r++) row[r] = j->scale * (row[r] + ei[r]);
            gn_active->softmax(row, n);
        }
    }
    for (int64_t r = 0; r < n; r++)
        for (int64_t i = 0; i < dh; i++) vt[i * n + r] = vb[r * ld + i];
    gn_active->gemm_f32(n, dh, n, s, n, vt, n, j->out + t0 * ld + h * dh, ld);
}

gn_status gn_attention_block_relpos(gn_pool *pool, const float *q, const float *k, const float *v,
                                    int64_t T, int64_t H, int64_t dh, int64_t block,
                                    const float *rel, int64_t max_pos, float scale, float *out) {
    if (!q || !k || !v || !rel || !out || T < 0 || H <= 0 || dh <= 0 || block <= 0 || max_pos < 0)
        return GN_ERR_INVALID;
    /* distances inside a block span +-(block-1): they must index the table */
    if (block - 1 > max_pos || H > INT64_MAX / dh || T > INT64_MAX / (H * dh)) return GN_ERR_INVALID;
    /* scratch per thread (scores, one GEMM's rel-pos products, V transposed) and the reversed
     * table must be addressable */
    const int64_t lim = (int64_t)(SIZE_MAX / sizeof(float) / 4), n = T < block ? T : block;
    if (dh > lim || n > lim || n > lim / (n + REL_ROWS + dh) || max_pos > lim / dh / 2 - 1 ||
        T > INT64_MAX - block)
        return GN_ERR_INVALID;
    const int64_t rows = 2 * max_pos + 1;
    float *rel_rev = (float *)malloc((size_t)(rows * dh) * sizeof(float));
    if (!rel_rev) return GN_ERR_NOMEM;
    for (int64_t i = 0; i < rows; i++)
        memcpy(rel_rev + i * dh, rel + (rows - 1 - i) * dh, (size_t)dh * sizeof(float));
    relpos_job j = {pool, q, k, v, rel_rev, out, T, H, dh, block, max_pos, scale, 0};
    gn_pool_run(pool, relpos_task, &j, ((T + block - 1) / block) * H);
    free(rel_rev);
    return j.failed ? GN_ERR_NOMEM : GN_OK;
}

typedef struct {
    gn_pool *pool;
    const float *q, *k, *v;
    float *out;
    int64_t ldq, ldk, ldv, ldo, Lq, Lk, Hq, Hkv, dh, pos0;
    float scale;
    int failed;
} attn_job;

static void attn_task(void *arg, int64_t task, int thread_index) {
    attn_job *j = (attn_job *)arg;
    const int64_t b = task / j->Hq, h = task % j->Hq, hk = h / (j->Hq / j->Hkv);
    float *p = (float *)gn_pool_scratch(j->pool, thread_index, (size_t)j->Lk * sizeof(float));
    if (!p) {
        j->failed = 1;
        return;
    }
    const float *kb = j->k + b * j->Lk * j->ldk + hk * j->dh;
    const float *vb = j->v + b * j->Lk * j->ldv + hk * j->dh;
    for (int64_t i = 0; i < j->Lq; i++) {
        const float *qi = j->q + (b * j->Lq + i) * j->ldq + h * j->dh;
        const int64_t n = j->pos0 >= 0 ? j->pos0 + i + 1 : j->Lk;
        gn_active->gemm_f32(1, n, j->dh, qi, j->dh, kb, j->ldk, p, n);
        for (int64_t r = 0; r < n; r++) p[r] *= j->scale;
        softmax_mix(p, n, vb, j->ldv, j->dh, j->out + (b * j->Lq + i) * j->ldo + h * j->dh);
    }
}

/* One query row (a decode step) for the whole group of query heads sharing KV head hk: one
 * GEMM reads that head's K rows once for the group, where a task per query head reads them
 * once per head. */
static void attn_group_task(void *arg, int64_t task, int thread_index) {
    attn_job *j = (attn_job *)arg;
    const int64_t b = task / j->Hkv, hk = task % j->Hkv, g = j->Hq / j->Hkv;
    const int64_t n = j->pos0 >= 0 ? j->pos0 + 1 : j->Lk;
    float *s = (float *)gn_pool_scratch(j->pool, thread_index, (size_t)(g * n) * sizeof(float));
    if (!s) {
        j->failed = 1;
        return;
    }
    const float *kb = j->k + b * j->Lk * j->ldk + hk * j->dh;
    const float *vb = j->v + b * j->Lk * j->ldv + hk * j->dh;
    const float *qg = j->q + b * j->ldq + hk * g * j->dh; /* the group's heads are adjacent */
    gn_active->gemm_f32(g, n, j->dh, qg, j->dh, kb, j->ldk, s, n);
    for (int64_t i = 0; i < g; i++) {
        float *p = s + i * n;
        for (int64_t r = 0; r < n; r++) p[r] *= j->scale;
        softmax_mix(p, n, vb, j->ldv, j->dh, j->out + b * j->ldo + (hk * g + i) * j->dh);
    }
}

gn_status gn_attention(gn_pool *pool, const float *q, int64_t ldq, const float *k, int64_t ldk,
                       const float *v, int64_t ldv, int64_t batch, int64_t Lq, int64_t Lk,
                       int64_t Hq, int64_t Hkv, int64_t dh, float scale, int64_t causal_pos0,
                       float *out, int64_t ldo) {
    if (!q || !k || !v || !out || batch < 0 || Lq < 0 || Lk <= 0 || Hq <= 0 || Hkv <= 0 || dh <= 0)
        return GN_ERR_INVALID;
    if (Hq % Hkv || Hq > INT64_MAX / dh) return GN_ERR_INVALID;
    if (ldq < Hq * dh || ldo < Hq * dh || ldk < Hkv * dh || ldv < Hkv * dh) return GN_ERR_INVALID;
    if (causal_pos0 >= 0 && (causal_pos0 > INT64_MAX - Lq || causal_pos0 + Lq > Lk))
        return GN_ERR_INVALID;
    attn_job j = {pool, q, k, v, out, ldq, ldk, ldv, ldo, Lq, Lk, Hq, Hkv, dh, causal_pos0, scale, 0};
    if (Lq == 1)
        gn_pool_run(pool, attn_group_task, &j, batch * Hkv);
    else
        gn_pool_run(pool, attn_task, &j, batch * Hq);
    return j.failed ? GN_ERR_NOMEM : GN_OK;
}
