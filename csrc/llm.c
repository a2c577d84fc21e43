/* The Granite decoder forward pass over a float32 or float16 KV cache. Activations live in
 * one buffer allocated per call and sized from L; RoPE angles are computed once per call for
 * every layer's Q and K. The cache is head-major (gn_llm.h), so the new K and V rows are
 * scattered into it per KV head after their matmuls. */
#include "gn_kernels.h"
#include "gn_llm.h"
#include "gn_ops.h"
#include "rope.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct gn_llm {
    gn_llm_desc desc;      /* desc.layers points at layers below */
    gn_llm_layer *layers;
    int64_t q_width, kv_width;
    int64_t scratch_row;   /* floats of activation scratch per input row */
};

static int matrix_ok(const gn_llm_matrix *m, int64_t rows, int64_t cols) {
    if (!m->data || !gn_type_info(m->type)) return 0;
    const int64_t bytes = gn_matrix_bytes(m->type, rows, cols); /* 0 for cols 0: refused too */
    return bytes > 0 && (uint64_t)bytes == (uint64_t)m->bytes;
}

/* Every width is far below INT64_MAX / 16, so sums of a few of them cannot overflow. */
#define WIDTH_MAX (INT64_MAX / 16)

static int dims_ok(const gn_llm_desc *d) {
    if (d->n_layers <= 0 || d->d_model <= 0 || d->n_heads <= 0 || d->n_kv_heads <= 0 ||
        d->head_dim <= 0 || d->ff_dim <= 0 || d->vocab <= 0)
        return 0;
    if (d->n_heads % d->n_kv_heads || d->head_dim % 2) return 0;
    if (d->d_model > WIDTH_MAX || d->ff_dim > WIDTH_MAX || d->n_heads > WIDTH_MAX / d->head_dim)
        return 0;
    if (!(d->rms_eps >= 0) || !isfinite(d->rms_eps) || !(d->rope_theta > 0) || !isfinite(d->rope_theta))
        return 0;
    if (!isfinite(d->embedding_multiplier) || !isfinite(d->attention_multiplier) ||
        !isfinite(d->residual_multiplier) || !isfinite(d->logits_scaling) || d->logits_scaling == 0)
        return 0;
    return !(d->matmul_flags & ~(GN_MATMUL_INT8 | GN_MATMUL_BF16));
}

static int layer_ok(const gn_llm_desc *d, const gn_llm_layer *l) {
    const int64_t dm = d->d_model, qw = d->n_heads * d->head_dim, kvw = d->n_kv_heads * d->head_dim;
    return l->attn_norm && l->ffn_norm && matrix_ok(&l->q, qw, dm) && matrix_ok(&l->k, kvw, dm) &&
           matrix_ok(&l->v, kvw, dm) && matrix_ok(&l->o, dm, qw) &&
           matrix_ok(&l->gate, d->ff_dim, dm) && matrix_ok(&l->up, d->ff_dim, dm) &&
           matrix_ok(&l->down, dm, d->ff_dim);
}

gn_status gn_llm_create(const gn_llm_desc *desc, gn_llm **out) {
    if (!out) return GN_ERR_INVALID;
    *out = NULL;
    if (!desc || !dims_ok(desc) || !desc->layers || !desc->output_norm ||
        !matrix_ok(&desc->output, desc->vocab, desc->d_model))
        return GN_ERR_INVALID;
    for (int64_t i = 0; i < desc->n_layers; i++)
        if (!layer_ok(desc, &desc->layers[i])) return GN_ERR_INVALID;
    if ((uint64_t)desc->n_layers > SIZE_MAX / sizeof(gn_llm_layer)) return GN_ERR_NOMEM;
    gn_llm *llm = (gn_llm *)calloc(1, sizeof *llm);
    gn_llm_layer *layers = (gn_llm_layer *)malloc((size_t)desc->n_layers * sizeof *layers);
    if (!llm || !layers) {
        free(llm);
        free(layers);
        return GN_ERR_NOMEM;
    }
    memcpy(layers, desc->layers, (size_t)desc->n_layers * sizeof *layers);
    llm->desc = *desc;
    llm->desc.layers = layers;
    llm->layers = layers;
    llm->q_width = desc->n_heads * desc->head_dim;
    llm->kv_width = desc->n_kv_heads * desc->head_dim;
    /* h and a [d_model], q and attention output [q_width], gate and up [ff], RoPE [head_dim],
     * new K and V [kv_width] */
    llm->scratch_row = 2 * desc->d_model + 2 * llm->q_width + 2 * desc->ff_dim + desc->head_dim +
                       2 * llm->kv_width;
    *out = llm;
    return GN_OK;
}

void gn_llm_destroy(gn_llm *llm) {
    if (!llm) return;
    free(llm->layers);
    free(llm);
}

/* h += scale * t */
static void add_scaled(float *h, const float *t, float scale, int64_t n) {
    for (int64_t i = 0; i < n; i++) h[i] += scale * t[i];
}

static gn_status matmul(gn_pool *pool, const gn_llm *llm, const float *x, int64_t M, int64_t K,
                        const gn_llm_matrix *w, int64_t N, float *y) {
    return gn_matmul(pool, x, M, K, w->data, w->type, N, w->bytes, NULL, y, llm->desc.matmul_flags);
}

#define TRY(call)                                                                                  \
    do {                                                                                           \
        if ((st = (call)) != GN_OK) goto done;                                                     \
    } while (0)

/* n floats into a cache of `type` (GN_TYPE_F32 or GN_TYPE_F16) at element `at`. A finite value
 * past float16's range would be an infinity there and NaN in every later attention output:
 * GN_ERR_RANGE instead (precision exact keeps a float32 cache). Non-finite values pass as they
 * would in float32. */
static gn_status put_row(void *cache, int type, int64_t at, const float *src, int64_t n) {
    if (type == GN_TYPE_F32) {
        memcpy((float *)cache + at, src, (size_t)n * sizeof(float));
        return GN_OK;
    }
    uint16_t *h = (uint16_t *)cache + at;
    gn_active->to_f16(src, h, n);
    unsigned special = 0; /* any all-ones exponent: a plain loop the compiler vectorizes */
    for (int64_t i = 0; i < n; i++) special |= (h[i] & 0x7c00u) == 0x7c00u;
    if (special)
        for (int64_t i = 0; i < n; i++)
            if ((h[i] & 0x7fffu) == 0x7c00u && isfinite(src[i])) return GN_ERR_RANGE;
    return GN_OK;
}

gn_status gn_llm_forward(gn_pool *pool, const gn_llm *llm, const float *x, int64_t L,
                         void *cache_k, void *cache_v, int kv_type, int64_t capacity,
                         int64_t pos0, int64_t logits_rows, float *logits) {
    if (!llm || !x || !cache_k || !cache_v || !logits) return GN_ERR_INVALID;
    if (kv_type != GN_TYPE_F32 && kv_type != GN_TYPE_F16) return GN_ERR_INVALID;
    const size_t kv_elem = (size_t)gn_type_info(kv_type)->block_bytes; /* one element a block */
    const gn_llm_desc *d = &llm->desc;
    const int64_t dm = d->d_model, qw = llm->q_width, kvw = llm->kv_width, ff = d->ff_dim;
    const int64_t dh = d->head_dim;
    if (L <= 0 || pos0 < 0 || capacity < L || pos0 > capacity - L) return GN_ERR_INVALID;
    if (logits_rows < 1 || logits_rows > L || logits_rows > INT64_MAX / d->vocab) return GN_ERR_INVALID;
    if (capacity > INT64_MAX / kvw / d->n_layers) return GN_ERR_INVALID;
    if ((uint64_t)L > SIZE_MAX / sizeof(float) / (uint64_t)llm->scratch_row) return GN_ERR_NOMEM;
    float *h = (float *)malloc((size_t)(L * llm->scratch_row) * sizeof(float));
    if (!h) return GN_ERR_NOMEM;
    float *a = h + L * dm, *q = a + L * dm, *att = q + L * qw, *g = att + L * qw, *u = g + L * ff;
    float *cs = u + L * ff, *kn = cs + L * dh, *vn = kn + L * kvw;
    gn_status st;

    for (int64_t i = 0; i < L * dm; i++) h[i] = x[i] * d->embedding_multiplier;
    TRY(gn_rope_neox_table(L, dh, pos0, d->rope_theta, cs));
    for (int64_t li = 0; li < d->n_layers; li++) {
        const gn_llm_layer *ly = &d->layers[li];
        const int64_t layer = li * capacity * kvw; /* elements */
        unsigned char *k_all = (unsigned char *)cache_k + (size_t)layer * kv_elem;
        unsigned char *v_all = (unsigned char *)cache_v + (size_t)layer * kv_elem;

        TRY(gn_rmsnorm(pool, h, L, dm, ly->attn_norm, d->rms_eps, a));
        const gn_matmul_out qkv[3] = {{ly->q.data, ly->q.type, qw, ly->q.bytes, NULL, q},
                                      {ly->k.data, ly->k.type, kvw, ly->k.bytes, NULL, kn},
                                      {ly->v.data, ly->v.type, kvw, ly->v.bytes, NULL, vn}};
        TRY(gn_matmul_group(pool, a, L, dm, qkv, 3, d->matmul_flags));
        TRY(gn_rope_neox_apply(q, L, d->n_heads, dh, cs));
        TRY(gn_rope_neox_apply(kn, L, d->n_kv_heads, dh, cs));
        for (int64_t hk = 0; hk < d->n_kv_heads; hk++)
            for (int64_t i = 0; i < L; i++) {
                const int64_t at = (hk * capacity + pos0 + i) * dh, from = i * kvw + hk * dh;
                TRY(put_row(k_all, kv_type, at, kn + from, dh));
                TRY(put_row(v_all, kv_type, at, vn + from, dh));
            }
        const gn_kv kc = {k_all, kv_type, capacity * kvw, dh, capacity * dh};
        const gn_kv vc = {v_all, kv_type, capacity * kvw, dh, capacity * dh};
        TRY(gn_attention(pool, q, qw, kc, vc, 1, L, pos0 + L, d->n_heads, d->n_kv_heads, dh,
                         d->attention_multiplier, pos0, att, qw));
        TRY(matmul(pool, llm, att, L, qw, &ly->o, dm, a));
        add_scaled(h, a, d->residual_multiplier, L * dm);

        TRY(gn_rmsnorm(pool, h, L, dm, ly->ffn_norm, d->rms_eps, a));
        const gn_matmul_out gate_up[2] = {{ly->gate.data, ly->gate.type, ff, ly->gate.bytes, NULL, g},
                                          {ly->up.data, ly->up.type, ff, ly->up.bytes, NULL, u}};
        TRY(gn_matmul_group(pool, a, L, dm, gate_up, 2, d->matmul_flags));
        TRY(gn_swiglu(pool, g, u, L, ff, g));
        TRY(matmul(pool, llm, g, L, ff, &ly->down, dm, a));
        add_scaled(h, a, d->residual_multiplier, L * dm);
    }
    TRY(gn_rmsnorm(pool, h + (L - logits_rows) * dm, logits_rows, dm, d->output_norm, d->rms_eps, a));
    TRY(matmul(pool, llm, a, logits_rows, dm, &d->output, d->vocab, logits));
    for (int64_t i = 0; i < logits_rows * d->vocab; i++) logits[i] /= d->logits_scaling;
done:
    free(h);
    return st;
}
