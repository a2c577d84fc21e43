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

/* Query rows whose relative-position dot products one GEMM call computes: the rows share all
 * but REL_ROWS - 1 of the table rows they read, so little is computed twice. */
#define REL_ROWS 16
/* The same for the bfloat16 variant, a whole number of the kernel's 6-row tiles: there the
 * table's rows come in fixed 64-row panels, so a call computes up to 127 columns it does not
 * need, and more rows per call spread that over more of the ones it does. */
#define REL_ROWS_BF16 48

static int64_t round_up(int64_t n, int64_t to) { return (n + to - 1) / to * to; }

typedef struct {
    gn_pool *pool;
    const float *q, *k, *v, *rel_rev;
    /* bfloat16 variant: the table rows block - 1 distances either side of 0 (rel_rev rows
     * max_pos - block + 1 on), in panels of GN_BF16_PANEL rows; NULL in the float32 one */
    const uint16_t *band;
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

/* Scratch of the bfloat16 task for a block of n frames, in elements of each buffer, every
 * buffer a whole number of 64-byte lines (so the next one stays aligned). */
typedef struct {
    int64_t s, e, q, k, p, v;
} relpos_bf16_sizes;

static relpos_bf16_sizes bf16_sizes(int64_t n, int64_t dh) {
    const int64_t dp = dh + (dh & 1), np = n + (n & 1);
    const int64_t ecols = (round_up(n + REL_ROWS_BF16 - 1, GN_BF16_PANEL) / GN_BF16_PANEL + 1) *
                          GN_BF16_PANEL;
    relpos_bf16_sizes z = {round_up(n * n, 16), REL_ROWS_BF16 * ecols, round_up(n * dp, 32),
                           round_up(n, GN_BF16_PANEL) * dp, round_up(n * np, 32),
                           round_up(dh, GN_BF16_PANEL) * np};
    return z;
}

static size_t bf16_bytes(relpos_bf16_sizes z) {
    return (size_t)(z.s + z.e) * sizeof(float) + (size_t)(z.q + z.k + z.p + z.v) * sizeof(uint16_t);
}

/* n rows of K floats, ld apart, into whole panels of GN_BF16_PANEL rows, rows past n zero. */
static void pack_rows(const float *rows, int64_t ld, int64_t n, int64_t K, uint16_t *panels) {
    const int64_t per_panel = (K + (K & 1)) * GN_BF16_PANEL;
    memset(panels, 0, (size_t)(round_up(n, GN_BF16_PANEL) * (K + (K & 1))) * sizeof(uint16_t));
    for (int64_t r = 0; r < n; r += 16)
        gn_active->pack_bf16(rows + r * ld, ld, n - r < 16 ? n - r : 16, K,
                             panels + (r / GN_BF16_PANEL) * per_panel, r % GN_BF16_PANEL);
}

/* The task above with Q, K, the table, the softmax weights and V rounded to bfloat16 for
 * gemm_bf16 (float32 sums); scores and softmax stay float32. Each product runs panel by
 * panel of its right operand, GN_BF16_PANEL output columns at a time. */
static void relpos_bf16_task(void *arg, int64_t task, int thread_index) {
    relpos_job *j = (relpos_job *)arg;
    const int64_t blk = task / j->H, h = task % j->H, dh = j->dh, P = GN_BF16_PANEL;
    const int64_t t0 = blk * j->block;
    const int64_t n = (j->T - t0) < j->block ? (j->T - t0) : j->block;
    const int64_t ld = j->H * dh, dp = dh + (dh & 1), np = n + (n & 1);
    const relpos_bf16_sizes z = bf16_sizes(n, dh);
    float *s = (float *)gn_pool_scratch(j->pool, thread_index, bf16_bytes(z));
    if (!s) {
        j->failed = 1;
        return;
    }
    float *e = s + z.s;
    uint16_t *qh = (uint16_t *)(e + z.e), *kh = qh + z.q, *ph = kh + z.k, *vh = ph + z.p;
    const float *qb = j->q + t0 * ld + h * dh, *kb = j->k + t0 * ld + h * dh;
    const float *vb = j->v + t0 * ld + h * dh;
    for (int64_t c = 0; c < n; c++) {
        gn_active->to_bf16(qb + c * ld, qh + c * dp, dh);
        if (dp > dh) qh[c * dp + dh] = 0;
    }
    pack_rows(kb, ld, n, dh, kh);
    for (int64_t c0 = 0; c0 < n; c0 += P)
        gn_active->gemm_bf16(n, n - c0 < P ? n - c0 : P, dp, qh, dp, kh + c0 * dp, NULL, s + c0,
                             n);
    /* Row c, key r reads band row r - c + block - 1: for the rows c0 <= c < c0 + m the band
     * rows block - c0 - m ... block - c0 + n - 2, panels p0 ... p1 of it, row c at column
     * r + block - 1 - c - p0 * P of e. */
    const int64_t le = z.e / REL_ROWS_BF16;
    for (int64_t c0 = 0; c0 < n; c0 += REL_ROWS_BF16) {
        const int64_t m = n - c0 < REL_ROWS_BF16 ? n - c0 : REL_ROWS_BF16;
        const int64_t p0 = (j->block - c0 - m) / P, p1 = (j->block - c0 + n - 2) / P;
        for (int64_t p = p0; p <= p1; p++)
            gn_active->gemm_bf16(m, P, dp, qh + c0 * dp, dp, j->band + p * P * dp, NULL,
                                 e + (p - p0) * P, le);
        for (int64_t i = 0; i < m; i++) {
            const int64_t c = c0 + i;
            float *row = s + c * n;
            const float *ei = e + i * le + j->block - 1 - c - p0 * P;
            for (int64_t r = 0; r < n; r++) row[r] = j->scale * (row[r] + ei[r]);
            gn_active->softmax(row, n);
            gn_active->to_bf16(row, ph + c * np, n);
            if (np > n) ph[c * np + n] = 0;
        }
    }
    /* V's panels hold pair p of keys (rows 2p, 2p + 1) per column: two rows of V interleaved,
     * so they pack without a transpose. The softmax row's bfloat16 copy is scratch here. */
    uint16_t *row16 = (uint16_t *)e;
    memset(vh, 0, (size_t)z.v * sizeof(uint16_t));
    for (int64_t r = 0; r < n; r++) {
        gn_active->to_bf16(vb + r * ld, row16, dh);
        for (int64_t i = 0; i < dh; i++)
            vh[(i / P) * P * np + 2 * ((r / 2) * P + i % P) + (r & 1)] = row16[i];
    }
    for (int64_t i0 = 0; i0 < dh; i0 += P)
        gn_active->gemm_bf16(n, dh - i0 < P ? dh - i0 : P, np, ph, np, vh + i0 * np, NULL,
                             j->out + t0 * ld + h * dh + i0, ld);
}

gn_status gn_attention_block_relpos(gn_pool *pool, const float *q, const float *k, const float *v,
                                    int64_t T, int64_t H, int64_t dh, int64_t block,
                                    const float *rel, int64_t max_pos, float scale, int flags,
                                    float *out) {
    if (!q || !k || !v || !rel || !out || T < 0 || H <= 0 || dh <= 0 || block <= 0 || max_pos < 0)
        return GN_ERR_INVALID;
    if (flags & ~(GN_MATMUL_INT8 | GN_MATMUL_BF16)) return GN_ERR_INVALID;
    /* distances inside a block span +-(block-1): they must index the table */
    if (block - 1 > max_pos || H > INT64_MAX / dh || T > INT64_MAX / (H * dh)) return GN_ERR_INVALID;
    /* scratch per thread (scores, one GEMM's rel-pos products, V transposed, and the bfloat16
     * copies) and the reversed table must be addressable */
    const int64_t lim = (int64_t)(SIZE_MAX / sizeof(float) / 4), n = T < block ? T : block;
    if (dh > lim || n > lim || n > lim / (n + REL_ROWS_BF16 + 2 * dh + 2 * GN_BF16_PANEL) ||
        max_pos > lim / dh / 2 - 1 || T > INT64_MAX - block)
        return GN_ERR_INVALID;
    const int64_t rows = 2 * max_pos + 1;
    const int bf16 = (flags & GN_MATMUL_BF16) && gn_active->to_bf16 && gn_active->pack_bf16 &&
                     gn_active->gemm_bf16;
    const int64_t band_rows = 2 * block - 1;
    float *rel_rev = (float *)malloc((size_t)(rows * dh) * sizeof(float));
    uint16_t *band = bf16 ? (uint16_t *)malloc((size_t)(round_up(band_rows, GN_BF16_PANEL) *
                                                        (dh + (dh & 1))) * sizeof(uint16_t))
                          : NULL;
    if (!rel_rev || (bf16 && !band)) {
        free(rel_rev);
        free(band);
        return GN_ERR_NOMEM;
    }
    for (int64_t i = 0; i < rows; i++)
        memcpy(rel_rev + i * dh, rel + (rows - 1 - i) * dh, (size_t)dh * sizeof(float));
    if (bf16) pack_rows(rel_rev + (max_pos - block + 1) * dh, dh, band_rows, dh, band);
    relpos_job j = {pool, q, k, v, rel_rev, band, out, T, H, dh, block, max_pos, scale, 0};
    gn_pool_run(pool, bf16 ? relpos_bf16_task : relpos_task, &j, ((T + block - 1) / block) * H);
    free(rel_rev);
    free(band);
    return j.failed ? GN_ERR_NOMEM : GN_OK;
}

typedef struct {
    gn_pool *pool;
    const float *q;
    gn_kv k, v;
    float *out;
    int64_t ldq, ldo, Lq, Lk, Hq, Hkv, dh, pos0;
    float scale;
    int failed;
} attn_job;

/* p[0:n] = softmax(scale * p[0:n]): one query row's attention weights. */
static void scaled_softmax(float *p, int64_t n, float scale) {
    for (int64_t r = 0; r < n; r++) p[r] *= scale;
    gn_active->softmax(p, n);
}

/* First element of KV head hk of batch entry b. */
static const void *kv_head(const gn_kv *kv, int64_t b, int64_t hk) {
    const size_t size = (size_t)gn_type_info(kv->type)->block_bytes; /* one element a block */
    return (const char *)kv->data + (size_t)(b * kv->batch_stride + hk * kv->head_stride) * size;
}

/* Rows 0 .. n - 1 of a KV head as float32, *ld elements apart: the operand's own rows, or those
 * of a float16 operand widened into buf (n x dh). */
static const float *f32_rows(const gn_kv *kv, const void *head, int64_t n, int64_t dh, float *buf,
                             int64_t *ld) {
    if (kv->type == GN_TYPE_F32) {
        *ld = kv->row_stride;
        return (const float *)head;
    }
    const uint16_t *h = (const uint16_t *)head;
    const gn_dequant_fn widen = gn_active->dequant[GN_TYPE_F16];
    for (int64_t r = 0; r < n; r++) widen(h + r * kv->row_stride, buf + r * dh, dh);
    *ld = dh;
    return buf;
}

/* Query rows whose scores one GEMM call computes: each K row loaded serves them all (the
 * kernels' 4-row tile), where a call per row reloaded it per row (prompt attention 0.98 ->
 * 0.80 ms per full-size layer at 127 tokens, AVX-512). Causal rows of a block see different
 * numbers of keys; the block computes up to its last row's, and each row uses its own
 * prefix (zero weights past it in the one mix of the block's rows). Which keys end a call
 * decides how the kernels reduce a few scores, so the last bits depend on the block, never on
 * the threads. A float16 cache's rows are widened once per task, so the float32 GEMM's 4 x 4
 * tiles serve every block: the F16 GEMV there (a horizontal sum per dot product) took 1.6x
 * the time at 127 tokens, 1.4x at 346. */
#define Q_ROWS 4

static void attn_task(void *arg, int64_t task, int thread_index) {
    attn_job *j = (attn_job *)arg;
    const int64_t b = task / j->Hq, h = task % j->Hq, hk = h / (j->Hq / j->Hkv), dh = j->dh;
    const int64_t keys = j->pos0 >= 0 ? j->pos0 + j->Lq : j->Lk; /* the last row's */
    const int64_t widened = (j->k.type == GN_TYPE_F16) + (j->v.type == GN_TYPE_F16);
    /* scores, then the widened K and V rows */
    const size_t bytes = (size_t)(Q_ROWS * j->Lk + widened * keys * dh) * sizeof(float);
    float *s = (float *)gn_pool_scratch(j->pool, thread_index, bytes);
    if (!s) {
        j->failed = 1;
        return;
    }
    float *kbuf = s + Q_ROWS * j->Lk, *vbuf = kbuf + (j->k.type == GN_TYPE_F16 ? keys * dh : 0);
    int64_t ldk, ldv;
    const float *kb = f32_rows(&j->k, kv_head(&j->k, b, hk), keys, dh, kbuf, &ldk);
    const float *vb = f32_rows(&j->v, kv_head(&j->v, b, hk), keys, dh, vbuf, &ldv);
    for (int64_t i0 = 0; i0 < j->Lq; i0 += Q_ROWS) {
        const int64_t rows = j->Lq - i0 < Q_ROWS ? j->Lq - i0 : Q_ROWS;
        const float *qi = j->q + (b * j->Lq + i0) * j->ldq + h * dh;
        const int64_t nmax = j->pos0 >= 0 ? j->pos0 + i0 + rows : j->Lk;
        gn_active->gemm_f32(rows, nmax, dh, qi, j->ldq, kb, ldk, s, nmax);
        for (int64_t i = 0; i < rows; i++) {
            float *p = s + i * nmax;
            const int64_t n = j->pos0 >= 0 ? j->pos0 + i0 + i + 1 : j->Lk;
            scaled_softmax(p, n, j->scale);
            /* a row's keys past its own prefix weigh 0, so one mix serves the block, each V
             * row read once for its rows: adding 0 * v leaves a finite sum as it was (a
             * non-finite v there would turn it into NaN, where it already makes the block's
             * later rows non-finite) */
            for (int64_t r = n; r < nmax; r++) p[r] = 0.0f;
        }
        gn_active->mix(s, nmax, rows, nmax, vb, ldv, j->out + (b * j->Lq + i0) * j->ldo + h * dh,
                       j->ldo, dh);
    }
}

/* One query row (a decode step) for the whole group of query heads sharing KV head hk: the
 * scores read that head's K rows once for the group, where a task per query head reads them
 * once per head, and from memory; one mix reads its V rows once. A float16 cache's values are
 * widened as the kernels load them (the F16 GEMV, gn_mix_f16): each row is used once here, and
 * widening a head's rows into float32 scratch first, as prompts do, took 1.6x the time (one
 * layer at 346 positions in L2 on Zen 4: 46 against 29 us). */
static void attn_group_task(void *arg, int64_t task, int thread_index) {
    attn_job *j = (attn_job *)arg;
    const int64_t b = task / j->Hkv, hk = task % j->Hkv, g = j->Hq / j->Hkv, dh = j->dh;
    const int64_t n = j->pos0 >= 0 ? j->pos0 + 1 : j->Lk;
    float *s = (float *)gn_pool_scratch(j->pool, thread_index, (size_t)(g * n) * sizeof(float));
    if (!s) {
        j->failed = 1;
        return;
    }
    const void *kb = kv_head(&j->k, b, hk), *vb = kv_head(&j->v, b, hk);
    const float *qg = j->q + b * j->ldq + hk * g * dh; /* the group's heads are adjacent */
    if (j->k.type == GN_TYPE_F32)
        gn_active->gemm_f32_stream(g, n, dh, qg, dh, (const float *)kb, j->k.row_stride, s, n);
    else
        for (int64_t m = 0; m < g; m += GN_GEMV_MAX_M)
            gn_active->gemv_f16(g - m < GN_GEMV_MAX_M ? g - m : GN_GEMV_MAX_M, n, dh, qg + m * dh,
                                (const uint16_t *)kb, j->k.row_stride, s + m * n, n);
    for (int64_t i = 0; i < g; i++) scaled_softmax(s + i * n, n, j->scale);
    float *out = j->out + b * j->ldo + hk * g * dh;
    if (j->v.type == GN_TYPE_F32)
        gn_active->mix(s, n, g, n, (const float *)vb, j->v.row_stride, out, dh, dh);
    else
        gn_active->mix_f16(s, n, g, n, (const uint16_t *)vb, j->v.row_stride, out, dh, dh);
}

/* kv's Lk x Hkv vectors of dh elements, per batch entry, do not overlap: rows of all heads
 * side by side, or each head's rows one after another; and batch entries follow each other. */
static int kv_ok(const gn_kv *kv, int64_t batch, int64_t Lk, int64_t Hkv, int64_t dh) {
    if (!kv->data || (kv->type != GN_TYPE_F32 && kv->type != GN_TYPE_F16)) return 0;
    if (kv->row_stride <= 0 || kv->head_stride <= 0 || kv->batch_stride < 0) return 0;
    const int64_t lim = INT64_MAX / 4;
    if (kv->row_stride > lim / Lk || kv->head_stride > lim / Hkv || kv->batch_stride > lim / batch)
        return 0;
    const int64_t rows_extent = (Lk - 1) * kv->row_stride, heads_extent = (Hkv - 1) * kv->head_stride;
    const int apart = (kv->head_stride >= dh && kv->row_stride >= heads_extent + dh) ||
                      (kv->row_stride >= dh && kv->head_stride >= rows_extent + dh);
    return apart && (batch == 1 || kv->batch_stride >= rows_extent + heads_extent + dh);
}

gn_status gn_attention(gn_pool *pool, const float *q, int64_t ldq, gn_kv k, gn_kv v,
                       int64_t batch, int64_t Lq, int64_t Lk, int64_t Hq, int64_t Hkv,
                       int64_t dh, float scale, int64_t causal_pos0, float *out, int64_t ldo) {
    if (!q || !out || batch < 0 || Lq < 0 || Lk <= 0 || Hq <= 0 || Hkv <= 0 || dh <= 0)
        return GN_ERR_INVALID;
    if (Hq % Hkv || Hq > INT64_MAX / dh || dh > INT64_MAX / 4 / Hkv) return GN_ERR_INVALID;
    if (batch == 0 || Lq == 0) return GN_OK;
    if (ldq < Hq * dh || ldo < Hq * dh || !kv_ok(&k, batch, Lk, Hkv, dh) || !kv_ok(&v, batch, Lk, Hkv, dh))
        return GN_ERR_INVALID;
    if (causal_pos0 >= 0 && (causal_pos0 > INT64_MAX - Lq || causal_pos0 + Lq > Lk))
        return GN_ERR_INVALID;
    attn_job j = {pool, q, k, v, out, ldq, ldo, Lq, Lk, Hq, Hkv, dh, causal_pos0, scale, 0};
    if (Lq == 1)
        gn_pool_run(pool, attn_group_task, &j, batch * Hkv);
    else
        gn_pool_run(pool, attn_task, &j, batch * Hq);
    return j.failed ? GN_ERR_NOMEM : GN_OK;
}
