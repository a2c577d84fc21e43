"""The windowed Q-Former projector (spec section 4): encoder features [T, d_enc] ->
audio embeddings [ceil(T / window) * n_query, d_llm].

All windows run at once as one batch: the zero-padded frames of the last window take part
in cross-attention unmasked, exactly as the reference does.
"""
from functools import partial

import numpy as np

from .layers import ffn, layernorm, linear
from . import _native

LN_EPS = 1e-12


class QFormerLayer:
    def __init__(self, wt, i, matrix):
        """matrix(name): a weight matrix laid out for the projector's matmul flags."""
        p = f"proj.blk.{i}."
        self.sa = [matrix(p + f"sa_{n}.weight") for n in ("query", "key", "value", "out")]
        self.sa_b = [wt[p + f"sa_{n}.bias"].f32() for n in ("query", "key", "value", "out")]
        self.sa_norm = (wt[p + "sa_norm.weight"].f32(), wt[p + "sa_norm.bias"].f32())
        self.ca = [matrix(p + f"ca_{n}.weight") for n in ("query", "key", "value", "out")]
        self.ca_b = [wt[p + f"ca_{n}.bias"].f32() for n in ("query", "key", "value", "out")]
        self.ca_norm = (wt[p + "ca_norm.weight"].f32(), wt[p + "ca_norm.bias"].f32())
        self.up, self.up_b = matrix(p + "ffn_up.weight"), wt[p + "ffn_up.bias"].f32()
        self.down, self.down_b = matrix(p + "ffn_down.weight"), wt[p + "ffn_down.bias"].f32()
        self.ffn_norm = (wt[p + "ffn_norm.weight"].f32(), wt[p + "ffn_norm.bias"].f32())


class Projector:
    def __init__(self, wt, hp, flags=0, pool=None, quantize=False):
        self.hp = hp
        self.flags = flags  # matmul arithmetic (precision.py)
        # laid out for the flags; float matrices quantized at load if `quantize`
        matrix = partial(wt.operand, flags=flags, pool=pool, quantize=quantize)
        self.query = wt["proj.query"].f32()  # [n_query, dq]
        self.ln = (wt["proj.ln.weight"].f32(), wt["proj.ln.bias"].f32())
        self.layers = [QFormerLayer(wt, i, matrix) for i in range(hp.proj_n_layers)]
        self.linear, self.linear_b = matrix("proj.linear.weight"), wt["proj.linear.bias"].f32()

    def matrices(self):
        """Every weight matrix the projector multiplies by."""
        return [m for L in self.layers for m in L.sa + L.ca + [L.up, L.down]] + [self.linear]

    def attend(self, pool, w, b, x, ctx, n_windows):
        """Multi-head attention of x [W*Lq, dq] over ctx [W*Lk, dk], per window."""
        heads = self.hp.proj_n_heads
        q = linear(pool, x, w[0], b[0], self.flags).reshape(n_windows, -1, x.shape[1])
        k = linear(pool, ctx, w[1], b[1], self.flags).reshape(n_windows, -1, x.shape[1])
        v = linear(pool, ctx, w[2], b[2], self.flags).reshape(n_windows, -1, x.shape[1])
        o = np.empty_like(q)
        _native.attention(pool, q, k, v, heads, heads, (x.shape[1] // heads) ** -0.5, -1, o)
        return linear(pool, o.reshape(x.shape), w[3], b[3], self.flags)

    def __call__(self, pool, enc):
        win = self.hp.window_size
        n_windows = -(-enc.shape[0] // win)
        frames = np.zeros((n_windows * win, enc.shape[1]), np.float32)  # zero-padded windows
        frames[:enc.shape[0]] = enc
        queries = layernorm(pool, self.query, *self.ln, LN_EPS)  # [n_query, dq]
        x = np.ascontiguousarray(np.tile(queries, (n_windows, 1)))  # [W*n_query, dq]
        for L in self.layers:
            x = layernorm(pool, x + self.attend(pool, L.sa, L.sa_b, x, x, n_windows),
                          *L.sa_norm, LN_EPS)
            x = layernorm(pool, x + self.attend(pool, L.ca, L.ca_b, x, frames, n_windows),
                          *L.ca_norm, LN_EPS)
            i = ffn(pool, x, L.up, L.up_b, "gelu_erf", L.down, L.down_b, self.flags)  # via [W*n_query, ff]
            x = layernorm(pool, x + i, *L.ffn_norm, LN_EPS)
        return linear(pool, x, self.linear, self.linear_b, self.flags)  # [W*n_query, d_llm]
