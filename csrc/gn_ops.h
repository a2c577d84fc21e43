/* Model operations beyond matmul: norms, activations, depthwise convolution, attention, RoPE.
 * All tensors are dense row-major float32. Output may alias input where noted. Every function
 * validates its sizes and returns a gn_status. */
#ifndef GN_OPS_H
#define GN_OPS_H

#include "gn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y[r] = (x[r] - mean) / sqrt(var + eps) * w + b, biased variance; y may alias x. */
gn_status gn_layernorm(gn_pool *pool, const float *x, int64_t rows, int64_t d,
                       const float *w, const float *b, float eps, float *y);
/* y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w; y may alias x. */
gn_status gn_rmsnorm(gn_pool *pool, const float *x, int64_t rows, int64_t d,
                     const float *w, float eps, float *y);

enum { GN_ACT_NONE = -1, GN_ACT_SILU = 0, GN_ACT_GELU_ERF = 1, GN_ACT_SIGMOID = 2 };
/* y = act(x) elementwise over n values; y may alias x. */
gn_status gn_activation(gn_pool *pool, int act, const float *x, int64_t n, float *y);
/* A feed-forward block: y [M, N] = act(x W_up^T + b_up) W_down^T + b_down, x [M, K], W_up
 * [F, K], W_down [N, F] (biases optional), as gn_matmul (flags), gn_activation and gn_matmul
 * compute it, bit for bit; where both products take the bfloat16 path, the hidden rows pass
 * from one to the other in bfloat16 without being stored as float32. Each W is checked as
 * gn_matmul checks it. */
gn_status gn_ffn(gn_pool *pool, const float *x, int64_t M, int64_t K, const void *w_up,
                 int up_type, int64_t F, size_t up_bytes, const float *up_bias, int act,
                 const void *w_down, int down_type, int64_t N, size_t down_bytes,
                 const float *down_bias, float *y, int flags);
/* GLU over channels: x [rows, 2c] -> y [rows, c] = x[:, :c] * sigmoid(x[:, c:]). */
gn_status gn_glu(gn_pool *pool, const float *x, int64_t rows, int64_t c, float *y);
/* SwiGLU: y [rows, c] = silu(gate) * up, gate and up [rows, c]; y may alias either. */
gn_status gn_swiglu(gn_pool *pool, const float *gate, const float *up, int64_t rows, int64_t c,
                    float *y);
/* Row-wise softmax in place over x [rows, n]. */
gn_status gn_softmax(gn_pool *pool, float *x, int64_t rows, int64_t n);
/* h[i] += alpha * y[i] for i < n: the product rounded, then the sum (numpy's h += alpha * y),
 * across the pool. */
gn_status gn_add_scaled(gn_pool *pool, float *h, const float *y, float alpha, int64_t n);

/* Depthwise 1-D convolution along time with symmetric zero padding (k odd):
 * y[t, ch] = sum_j w[ch, j] * x[t + j - k/2, ch];  x, y [T, C], w [C, k]; y must not alias x.
 * Then, with scale and shift (both or neither), y[t, ch] = y[t, ch] * scale[ch] + shift[ch]
 * (a batch norm folded at load; product and sum each rounded), and y = act(y) unless act is
 * GN_ACT_NONE: each task's frames while they are still in cache. */
gn_status gn_conv_dw(gn_pool *pool, const float *x, int64_t T, int64_t C, const float *w,
                     int64_t k, const float *scale, const float *shift, int act, float *y);

/* Block-local self-attention with Shaw relative positions (query side only), as in the
 * granite Conformer: frames are split into consecutive blocks of `block` (the last may be
 * shorter and attends only to itself); inside a block,
 *   score(c, r) = scale * (q_c . k_r + q_c . rel[clamp(c - r, -block, block) + max_pos])
 * q, k, v, out [T, H*dh] (column h*dh + i is head h); rel [2*max_pos + 1, dh].
 * flags (gn_matmul's): with GN_MATMUL_BF16, where the level has bfloat16 kernels, the products
 * take q, k, rel, v and the softmax weights rounded to bfloat16, summing in float32. */
gn_status gn_attention_block_relpos(gn_pool *pool, const float *q, const float *k, const float *v,
                                    int64_t T, int64_t H, int64_t dh, int64_t block,
                                    const float *rel, int64_t max_pos, float scale, int flags,
                                    float *out);

/* A K or V operand of gn_attention: element i of KV head h at key position r of batch entry b
 * is data[b * batch_stride + r * row_stride + h * head_stride + i] (strides in elements) of
 * `type`, GN_TYPE_F32 or GN_TYPE_F16 (a float16 cache, whose values the products widen
 * exactly). The decoder's cache is head-major (row_stride dh, head_stride capacity * dh), so
 * that a KV head's keys are one contiguous stream; rows of all heads side by side have
 * head_stride dh. */
typedef struct {
    const void *data;
    int type;
    int64_t batch_stride, row_stride, head_stride;
} gn_kv;

/* Batched multi-head attention with grouped KV heads:
 *   q [batch, Lq, Hq*dh], k, v [batch, Lk, Hkv, dh] as their gn_kv say, out [batch, Lq, Hq*dh].
 * Query head h reads KV head h / (Hq / Hkv). With causal_pos0 >= 0, query i is at absolute
 * position causal_pos0 + i and sees keys 0 .. causal_pos0 + i (keys are positions 0..Lk-1);
 * with causal_pos0 < 0 every query sees every key. Row strides ldq and ldo in elements. */
gn_status gn_attention(gn_pool *pool, const float *q, int64_t ldq, gn_kv k, gn_kv v,
                       int64_t batch, int64_t Lq, int64_t Lk, int64_t Hq, int64_t Hkv,
                       int64_t dh, float scale, int64_t causal_pos0, float *out, int64_t ldo);

/* NEOX rotary embedding in place: x [L, H*dh], row i at position pos0 + i; dimension j is
 * rotated with j + dh/2, frequency theta^(-2j/dh). */
gn_status gn_rope_neox(float *x, int64_t L, int64_t H, int64_t dh, int64_t pos0, float theta);

#ifdef __cplusplus
}
#endif
#endif
