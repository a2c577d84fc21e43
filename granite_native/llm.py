"""The Granite decoder (spec section 5) with a preallocated KV cache.

The cache is float32, sized per request (prompt + new tokens), not for the model's whole
context: exact parity with the float32 reference costs no rounding, and at ~4 KB per token
per layer (full model) a 1 k-token request needs ~160 MB, inside the memory budget.
"""
import numpy as np

from .layers import linear, rmsnorm
from . import _native


class DecoderLayer:
    def __init__(self, wt, i):
        p = f"blk.{i}."
        self.attn_norm = wt[p + "attn_norm.weight"].f32()
        self.q, self.k, self.v = (wt[p + f"attn_{n}.weight"] for n in ("q", "k", "v"))
        self.o = wt[p + "attn_output.weight"]
        self.ffn_norm = wt[p + "ffn_norm.weight"].f32()
        self.gate, self.up, self.down = (wt[p + f"ffn_{n}.weight"] for n in ("gate", "up", "down"))


class KVCache:
    """K and V for every layer: [n_layers, capacity, n_kv_heads * head_dim] float32."""

    def __init__(self, hp, capacity):
        width = hp.llm_n_kv_heads * hp.llm_head_dim
        self.k = np.zeros((hp.llm_n_layers, capacity, width), np.float32)
        self.v = np.zeros_like(self.k)
        self.capacity = capacity
        self.length = 0


class Decoder:
    def __init__(self, wt, hp):
        self.hp = hp
        self.embd = wt["token_embd.weight"]
        self.layers = [DecoderLayer(wt, i) for i in range(hp.llm_n_layers)]
        self.out_norm = wt["output_norm.weight"].f32()
        self.output = wt["output.weight"]

    def embed(self, ids):
        """Embedding rows [len(ids), d] (before the embedding multiplier). The audio
        placeholder reads row 0, as transformers does: prompt audio rows are overwritten by
        the projector, and a generated placeholder must embed like the reference's."""
        out = np.empty((len(ids), self.hp.llm_d_model), np.float32)
        vocab = self.embd.shape[0]
        for r, i in enumerate(ids):
            i = 0 if i == self.hp.audio_token_index else int(i)
            if not 0 <= i < vocab:
                raise ValueError(f"token id {i} is outside the vocabulary of {vocab}")
            out[r] = _native.dequantize(self.embd.type, self.embd.row(i), out.shape[1])
        return out

    def matrices(self):
        """Every weight matrix the decoder multiplies by."""
        return [m for L in self.layers for m in (L.q, L.k, L.v, L.o, L.gate, L.up, L.down)] + [
            self.output]

    def new_cache(self, capacity):
        return KVCache(self.hp, capacity)

    def forward(self, pool, x, cache, logits_rows=1):
        """Run embeddings x [L, d] (already spliced, unscaled) at positions cache.length...;
        append to the cache; return logits [logits_rows, V] of the last rows (/ scaling)."""
        hp = self.hp
        L, pos0 = x.shape[0], cache.length
        if pos0 + L > cache.capacity:
            raise ValueError(f"KV cache holds {cache.capacity} tokens; {pos0 + L} needed")
        h = x * np.float32(hp.llm_embedding_multiplier)  # [L, d]
        res = np.float32(hp.llm_residual_multiplier)
        for li, layer in enumerate(self.layers):
            a = rmsnorm(pool, h, layer.attn_norm, hp.llm_rms_norm_eps)
            q = linear(pool, a, layer.q)  # [L, Hq*dh]
            k = linear(pool, a, layer.k)  # [L, Hkv*dh]
            _native.rope_neox(q, hp.llm_n_heads, pos0, hp.llm_rope_theta)
            _native.rope_neox(k, hp.llm_n_kv_heads, pos0, hp.llm_rope_theta)
            cache.k[li, pos0:pos0 + L] = k
            cache.v[li, pos0:pos0 + L] = linear(pool, a, layer.v)
            o = np.empty((1, L, q.shape[1]), np.float32)
            _native.attention(pool, q[None], cache.k[li, None, :pos0 + L],
                              cache.v[li, None, :pos0 + L], hp.llm_n_heads, hp.llm_n_kv_heads,
                              hp.llm_attention_multiplier, pos0, o)
            h += res * linear(pool, o[0], layer.o)
            f = rmsnorm(pool, h, layer.ffn_norm, hp.llm_rms_norm_eps)
            g = linear(pool, f, layer.gate)  # [L, ff]
            _native.swiglu(pool, g, linear(pool, f, layer.up), g)
            h += res * linear(pool, g, layer.down)
        cache.length = pos0 + L
        last = rmsnorm(pool, np.ascontiguousarray(h[-logits_rows:]), self.out_norm, hp.llm_rms_norm_eps)
        logits = linear(pool, last, self.output)  # [logits_rows, V]
        logits /= np.float32(hp.llm_logits_scaling)
        return logits
