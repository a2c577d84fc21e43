"""The Granite decoder (spec section 5) with a preallocated KV cache.

The forward pass runs in C (csrc/llm.c), one call per prefill or decode step. The cache is
sized per request (prompt + new tokens), not for the model's whole context. Precision "exact"
keeps it in float32, so parity with the float32 reference costs no rounding (~4 KB per token
per layer at full size: a 1 k-token request needs ~160 MB); the others in float16, as CrispASR
and llama.cpp keep theirs: half the memory, and half the bytes each decode step's attention
reads from memory, the one part of a step that grows with the context.
"""
from functools import partial

import numpy as np

from . import _native

LAYER_TENSORS = {"attn_norm": "attn_norm", "ffn_norm": "ffn_norm", "q": "attn_q",
                 "k": "attn_k", "v": "attn_v", "o": "attn_output", "gate": "ffn_gate",
                 "up": "ffn_up", "down": "ffn_down"}


class KVCache:
    """K and V for every layer: [n_layers, n_kv_heads, capacity, head_dim] of dtype (float32
    or float16), head-major (gn_llm.h says why)."""

    def __init__(self, hp, capacity, dtype=np.float32):
        shape = (hp.llm_n_layers, hp.llm_n_kv_heads, capacity, hp.llm_head_dim)
        self.k = np.zeros(shape, dtype)
        self.v = np.zeros_like(self.k)
        self.capacity = capacity
        self.length = 0

    def copy(self):
        """An independent cache holding the same tokens (to continue two ways from one prompt)."""
        other = KVCache.__new__(KVCache)
        other.k, other.v = self.k.copy(), self.v.copy()
        other.capacity, other.length = self.capacity, self.length
        return other


class Decoder:
    """flags: gn_matmul precision flags (_native.matmul_flags) for every decoder matrix;
    0 multiplies exactly in float32. Matrices are laid out for the flags (Weights.operand)
    using `pool`'s threads. kv_dtype: the KV cache's element type (float32 or float16)."""

    def __init__(self, wt, hp, flags=0, decode_threads=None, pool=None, kv_dtype=np.float32):
        self.hp = hp
        self.kv_dtype = np.dtype(kv_dtype)
        self.decode_threads = decode_threads  # threads of single-row forwards; None: the pool's
        self.embd = wt["token_embd.weight"]
        matrix = partial(wt.operand, flags=flags, pool=pool)
        layers = [{key: wt[f"blk.{i}.{name}.weight"] if key.endswith("norm")
                   else matrix(f"blk.{i}.{name}.weight") for key, name in LAYER_TENSORS.items()}
                  for i in range(hp.llm_n_layers)]
        out = matrix("output.weight")
        self._matrices = [t for layer in layers for key, t in layer.items()
                          if not key.endswith("norm")] + [out]
        self.native = _native.LLM(
            [{key: t.f32() if key.endswith("norm") else (t.data, t.type)
              for key, t in layer.items()} for layer in layers],
            wt["output_norm.weight"].f32(),
            (out.data, out.type), d_model=hp.llm_d_model, n_heads=hp.llm_n_heads,
            n_kv_heads=hp.llm_n_kv_heads, head_dim=hp.llm_head_dim, ff_dim=hp.llm_ff_dim,
            vocab=out.shape[0], rms_eps=hp.llm_rms_norm_eps, rope_theta=hp.llm_rope_theta,
            embedding_multiplier=hp.llm_embedding_multiplier,
            attention_multiplier=hp.llm_attention_multiplier,
            residual_multiplier=hp.llm_residual_multiplier,
            logits_scaling=hp.llm_logits_scaling, flags=flags)

    def embed(self, ids):
        """Embedding rows [len(ids), d] (before the embedding multiplier). The audio
        placeholder reads row 0, as transformers does: prompt audio rows are overwritten by
        the projector, and a generated placeholder must embed like the reference's."""
        out = np.empty((len(ids), self.hp.llm_d_model), np.float32)
        _native.embed_rows(self.embd.type, self.embd.data, out.shape[1], ids,
                           self.hp.audio_token_index, out)
        return out

    def matrices(self):
        """Every weight matrix the decoder multiplies by."""
        return self._matrices

    def new_cache(self, capacity):
        return KVCache(self.hp, capacity, self.kv_dtype)

    def forward(self, pool, x, cache, logits_rows=1, out=None):
        """Run embeddings x [L, d] (already spliced, unscaled) at positions cache.length...;
        append to the cache; return logits [logits_rows, V] of the last rows (/ scaling),
        written into `out` when given."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if out is None:
            out = np.empty((logits_rows, self.native.vocab), np.float32)
        if self.decode_threads is None or x.shape[0] > 1:
            self.native.forward(pool, x, cache.k, cache.v, cache.length, out)
        else:  # a decode step reads every weight once: it may saturate memory with fewer threads
            active = pool.active
            pool.active = self.decode_threads
            try:
                self.native.forward(pool, x, cache.k, cache.v, cache.length, out)
            finally:
                pool.active = active
        cache.length += x.shape[0]
        return out
