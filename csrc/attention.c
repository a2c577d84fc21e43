/* Attention: the Conformer's block-local attention with Shaw relative positions, and
 * batched GQA attention for the Q-Former and the LLM. One task per (block or batch, head),
 * scores in per-thread scratch, so memory never grows with the square of the sequence. Dot
 * products go through the dispatched GEMM kernel, so they run at the selected ISA level. */
#include "gn_kernels.h"
#include "gn_ops.h"
#include <math.h>

/* p[0:n] = softmax(p[0:n]); out[0:dh] = sum_r p[r] * v[r * ldv] */
static void softmax_mix(float *p, int64_t n, const float *v, int64_t ldv, int64_t dh, float *out) {
    float mx = p[0];
    for (int64_t r = 1; r < n; r++) mx = p[r] > mx ? p[r] : mx;
    double sum = 0;
    for (int64_t r = 0; r < n; r++) {
        p[r] = expf(p[r] - mx);
        sum += p[r];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < dh; i++) out[i] = 0.0f;
    for (int64_t r = 0; r < n; r++) {
        const float w = p[r] * inv;
        const float *vr = v + r * ldv;
        for (int64_t i = 0; i < dh; i++) out[i] += w * vr[i];
    }
}

typedef struct {
    gn_pool *pool;
    const float *q, *k, *v, *rel;
    float *out;
    int64_t T, H, dh, block, max_pos, n_blocks;
    float scale;
    int failed;
} relpos_job;

static void relpos_task(void *arg, int64_t task, int thread_index) {
    relpos_job *j = (relpos_job *)arg;
    const int64_t blk = task / j->H, h = task % j->H;
    const int64_t t0 = blk * j->block;
    const int64_t n = (j->T - t0) < j->block ? (j->T - t0) : j->block;
    const int64_t ld = j->H * j->dh;
    float *p = (float *)gn_pool_scratch(j->pool, thread_index, (size_t)(2 * n) * sizeof(float));
    if (!p) {
        j->failed = 1;
        return;
    }
    float *e = p + n; /* e[i] = q_c . rel[c - n + 1 + i + max_pos]: key r uses e[n - 1 - r] */
    const float *kb = j->k + t0 * ld + h * j->dh, *vb = j->v + t0 * ld + h * j->dh;
    for (int64_t c = 0; c < n; c++) {
        const float *qc = j->q + (t0 + c) * ld + h * j->dh;
        const float *rel = j->rel + (c - n + 1 + j->max_pos) * j->dh;
        gn_active->gemm_f32(1, n, j->dh, qc, j->dh, kb, ld, p, n);
        gn_active->gemm_f32(1, n, j->dh, qc, j->dh, rel, j->dh, e, n);
        for (int64_t r = 0; r < n; r++) p[r] = j->scale * (p[r] + e[n - 1 - r]);
        softmax_mix(p, n, vb, ld, j->dh, j->out + (t0 + c) * ld + h * j->dh);
    }
}

gn_status gn_attention_block_relpos(gn_pool *pool, const float *q, const float *k, const float *v,
                                    int64_t T, int64_t H, int64_t dh, int64_t block,
                                    const float *rel, int64_t max_pos, float scale, float *out) {
    if (!q || !k || !v || !rel || !out || T < 0 || H <= 0 || dh <= 0 || block <= 0 || max_pos < 0)
        return GN_ERR_INVALID;
    /* distances inside a block span +-(block-1): they must index the table */
    if (block - 1 > max_pos || H > INT64_MAX / dh || T > INT64_MAX / (H * dh)) return GN_ERR_INVALID;
    const int64_t n_blocks = (T + block - 1) / block;
    relpos_job j = {pool, q, k, v, rel, out, T, H, dh, block, max_pos, n_blocks, scale, 0};
    gn_pool_run(pool, relpos_task, &j, n_blocks * H);
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
    gn_pool_run(pool, attn_task, &j, batch * Hq);
    return j.failed ? GN_ERR_NOMEM : GN_OK;
}
