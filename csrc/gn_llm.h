/* The Granite decoder (spec section 5) as one call per forward pass: a prompt prefill or one
 * decode step runs every layer in C, so the cost outside the kernels does not grow with the
 * number of layers. The description is validated once, when the gn_llm is created. */
#ifndef GN_LLM_H
#define GN_LLM_H

#include "gn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A weight matrix [rows, cols] stored as rows of cols elements of `type` (see gn_matmul). */
typedef struct {
    const void *data;
    int type;
    size_t bytes; /* must be rows * gn_row_bytes(type, cols) */
} gn_llm_matrix;

typedef struct {
    const float *attn_norm, *ffn_norm; /* [d_model] */
    gn_llm_matrix q;                   /* [n_heads * head_dim, d_model] */
    gn_llm_matrix k, v;                /* [n_kv_heads * head_dim, d_model] */
    gn_llm_matrix o;                   /* [d_model, n_heads * head_dim] */
    gn_llm_matrix gate, up;            /* [ff_dim, d_model] */
    gn_llm_matrix down;                /* [d_model, ff_dim] */
} gn_llm_layer;

typedef struct {
    int64_t n_layers, d_model, n_heads, n_kv_heads, head_dim, ff_dim, vocab;
    float rms_eps, rope_theta;
    float embedding_multiplier, attention_multiplier, residual_multiplier, logits_scaling;
    int matmul_flags;            /* gn_matmul flags for every matrix */
    const gn_llm_layer *layers;  /* n_layers of them */
    const float *output_norm;    /* [d_model] */
    gn_llm_matrix output;        /* [vocab, d_model] */
} gn_llm_desc;

typedef struct gn_llm gn_llm;

/* Checks every field of desc (shapes against the matrices' byte sizes, finite multipliers,
 * head counts) and copies it into *out. The weights are not copied: they must outlive the
 * gn_llm. The vectors' lengths cannot be checked here; the caller vouches for them. */
gn_status gn_llm_create(const gn_llm_desc *desc, gn_llm **out);
void gn_llm_destroy(gn_llm *llm);

/* Runs x [L, d_model] (embedding rows before the embedding multiplier) at positions
 * pos0 .. pos0 + L - 1. The cache holds K and V of every layer, cache_k and cache_v each
 * [n_layers, n_kv_heads, capacity, head_dim] of kv_type (GN_TYPE_F32, or GN_TYPE_F16: new rows
 * rounded to nearest even, half the bytes a decode step reads), head-major so that a decode
 * step reads each KV head's keys as one stream (rows of all heads side by side are 512-byte
 * pieces 2 KB apart at full size, too short a stride for the hardware prefetchers: the decode
 * attention ran at 10 GB/s); positions 0 .. pos0 - 1 must hold the earlier positions,
 * positions pos0 .. pos0 + L - 1 are written. logits [logits_rows, vocab] receives the logits
 * of the last logits_rows positions (1 <= logits_rows <= L), divided by logits_scaling.
 * GN_ERR_RANGE: a finite K or V value beyond float16's range met a float16 cache. */
gn_status gn_llm_forward(gn_pool *pool, const gn_llm *llm, const float *x, int64_t L,
                         void *cache_k, void *cache_v, int kv_type, int64_t capacity,
                         int64_t pos0, int64_t logits_rows, float *logits);

#ifdef __cplusplus
}
#endif
#endif
