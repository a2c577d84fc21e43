"""What a run should cost and what the machine can do, for `granite-native bench`.

Work counted from the model's hyperparameters and its tensors' stored byte sizes (a
multiply-add is 2 FLOPs; norms, activations, softmax, RoPE and the mel front-end are left out,
so the FLOP rates below are slight underestimates of the work actually done):

- linear x[M, n_in] @ W^T with W [n_out, n_in]: 2 * M * n_in * n_out FLOPs, and one read of
  W's stored bytes.
- encoder, T = mel rows: every encoder matrix once over T rows (input, ff1/ff2 up and down,
  attn_q, attn_kv, attn_out, conv_up, conv_down, ctc_out, ctc_mid), plus per block the
  block-local attention over blocks of `context_size` frames (b frames each, the last one
  shorter): QK^T, the query-times-relative-position term and PV, 3 * 2 * b^2 * d FLOPs per
  block, plus the depthwise conv, 2 * T * conv_inner * kernel.
- prefill, L prompt ids: every decoder-layer matrix over L rows, the output matrix over one
  row (only the last position's logits are computed), and causal attention,
  2 * 2 * n_heads * head_dim * L(L+1)/2 per layer.
- decode, one token at cache position p: every decoder-layer matrix and the output matrix
  read once (their stored bytes), plus the K and V cache rows read by attention,
  2 * n_layers * (p + 1) * n_kv_heads * head_dim * the cache's element size (4 bytes float32,
  2 float16). The embedding row and the norm vectors (a few KB) are left out.
"""
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from . import _native

ENC_MATRICES = ("ff1_up", "ff1_down", "ff2_up", "ff2_down", "attn_q", "attn_kv", "attn_out",
                "conv_up", "conv_down")
LLM_MATRICES = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


def _params(t):
    return t.shape[0] * t.shape[1]


def encoder_flops(weights, hp, frames):
    mats = [weights["enc.input.weight"], weights["enc.ctc_out.weight"],
            weights["enc.ctc_mid.weight"]]
    mats += [weights[f"enc.blk.{i}.{n}.weight"] for i in range(hp.enc_n_layers)
             for n in ENC_MATRICES]
    flops = 2 * frames * sum(_params(t) for t in mats)
    c = hp.enc_context_size
    block_sq = (frames // c) * c * c + (frames % c) ** 2
    d = hp.enc_n_heads * hp.enc_head_dim
    flops += hp.enc_n_layers * (3 * 2 * block_sq * d
                                + 2 * frames * hp.enc_conv_inner * hp.enc_dw_kernel)
    return flops


def _llm_layer_matrices(weights, hp):
    return [weights[f"blk.{i}.{n}.weight"] for i in range(hp.llm_n_layers) for n in LLM_MATRICES]


def prefill_flops(weights, hp, n_prompt):
    flops = 2 * n_prompt * sum(_params(t) for t in _llm_layer_matrices(weights, hp))
    flops += 2 * _params(weights["output.weight"])
    flops += hp.llm_n_layers * 2 * 2 * hp.llm_n_heads * hp.llm_head_dim * (
        n_prompt * (n_prompt + 1) // 2)
    return flops


def decode_weight_bytes(matrices):
    """Bytes one decode step streams: the decoder's matrices as it holds them (repacked
    layouts are a little larger than the file's)."""
    return sum(int(t.data.nbytes) for t in matrices)


def decode_kv_bytes(hp, n_prompt, n_tokens, itemsize):
    """KV cache bytes read per decode step (elements of `itemsize` bytes), averaged over steps
    at positions n_prompt .. n_prompt + n_tokens - 1."""
    row = 2 * hp.llm_n_layers * hp.llm_n_kv_heads * hp.llm_head_dim * itemsize
    mean_rows = n_prompt + (n_tokens + 1) / 2
    return row * mean_rows


def _llc_bytes():
    try:
        return max(0, os.sysconf("SC_LEVEL3_CACHE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 0


def probe_buffer_bytes():
    """At least 8x the last-level cache and at least 512 MiB: reads come from memory."""
    n = max(512 << 20, 8 * _llc_bytes())
    return n - n % 64


def probe_buffer():
    """A read-probe buffer with every page mapped."""
    return np.ones(probe_buffer_bytes(), np.uint8)


def read_bandwidth(pool, passes=7, buf=None):
    """Median GB/s (1e9 bytes/s) of reading `buf` (by default a new probe_buffer()) with the
    active ISA's loads on every pool thread, after one untimed pass; returns (GB/s, buffer
    bytes)."""
    buf = probe_buffer() if buf is None else buf
    _native.probe_read(pool, buf)
    rates = []
    for _ in range(passes):
        t0 = time.perf_counter()
        _native.probe_read(pool, buf)
        rates.append(buf.nbytes / (time.perf_counter() - t0) / 1e9)
    return statistics.median(rates), buf.nbytes


def fma_peak(pool, repeats=7, seconds=0.1, probe=None):
    """Median GFLOP/s of independent FMA chains on every pool thread (the active ISA's
    widest vectors), each timed call lasting about `seconds`. `probe` picks other chains
    (_native.probe_bf16, _native.probe_int8); None where the ISA has no such probe."""
    probe = probe or _native.probe_fma
    try:
        probe(pool, 1)
    except ValueError:
        return None
    iters = 1000
    while True:
        t0 = time.perf_counter()
        probe(pool, iters)
        dt = time.perf_counter() - t0
        if dt >= seconds / 4:
            break
        iters *= 4
    iters = max(1, int(iters * seconds / dt))
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        flops = probe(pool, iters)
        rates.append(flops / (time.perf_counter() - t0) / 1e9)
    return statistics.median(rates)


# Runs in a child process: numpy's BLAS fixes its thread count when numpy is imported.
_NUMPY_GEMM = """
import json, statistics, sys, time
import numpy as np
out = []
for m, k, n in json.loads(sys.argv[1]):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((m, k), dtype=np.float32)
    w = rng.standard_normal((k, n), dtype=np.float32)
    x @ w
    calls, dt = 1, 0.0
    while dt < 0.05:
        calls *= 2
        t0 = time.perf_counter()
        for _ in range(calls):
            x @ w
        dt = time.perf_counter() - t0
    rates = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(calls):
            x @ w
        rates.append(2 * m * k * n * calls / (time.perf_counter() - t0) / 1e9)
    out.append(statistics.median(rates))
print(json.dumps(out))
"""


def numpy_gemm_rates(shapes, threads):
    """Median GFLOP/s of numpy float32 x[M, K] @ w[K, N] per (M, K, N), with `threads` BLAS
    threads, measured in a child process."""
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS"):
        env[var] = str(threads)
    done = subprocess.run([sys.executable, "-c", _NUMPY_GEMM, json.dumps(shapes)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)
