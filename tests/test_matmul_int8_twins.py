"""The int8-activation matmul (flags "int8") at every kernel level that has it, against a
float64 numpy reference: W dequantized by the gguf package times x quantized by an independent
numpy implementation of the activation rule in csrc/quant_blocks.h. The integer dot products of
the kernels are exact, so only float rounding of the per-block scaling separates them from the
reference."""
import numpy as np
import pytest
from gguf import GGMLQuantizationType as GT
from gguf.quants import dequantize as gguf_dequantize

from granite_native import _native
from test_matmul_int8 import random_weights

INT8 = _native.matmul_flags(["int8"])
TYPES = [GT.Q4_K, GT.Q6_K, GT.Q8_0, GT.Q4_0]
LEVELS = [name for name in _native.ISA_NAMES if _native.isa_supported(name)]
# x block length per weight type: Q8_K for the k-quants, Q8_32 for the others
ACT_BLOCK = {GT.Q4_K: 256, GT.Q6_K: 256, GT.Q8_0: 32, GT.Q4_0: 32}


def reference_quants(x, block):
    """The activation rule, all in float32: per block, d = amax / 127 and q =
    round-half-even(x * (127 / amax)); d = q = 0 for an all-zero block. Returns q and d per
    value (d repeated over its block)."""
    xb = x.astype(np.float32).reshape(x.shape[0], -1, block)
    amax = np.max(np.abs(xb), axis=2, keepdims=True)
    safe = np.where(amax == 0, np.float32(1), amax)
    q = np.where(amax == 0, np.float32(0), np.rint(xb * (np.float32(127) / safe)))
    assert np.all(np.abs(q) <= 127)
    d = np.broadcast_to(amax / np.float32(127), xb.shape)
    return q.reshape(x.shape), d.reshape(x.shape)


def quantize_dequantize_x(x, block):
    """x as the kernels see it, in float64."""
    q, d = reference_quants(x, block)
    return q.astype(np.float64) * d.astype(np.float64)


def activations(rng, M, K, block):
    x = rng.standard_normal((M, K)).astype(np.float32)
    if M > 1:
        # halfway cases of the rounding: amax 127 makes the inverse scale exactly 1
        half = (rng.integers(-254, 255, size=K) / 2).astype(np.float32)
        half[::block] = 127
        x[1] = half
    if M > 2:
        x[2, :block] = 0  # an all-zero block
    return x


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("gtype", TYPES, ids=lambda t: t.name)
def test_int8_matmul_matches_float64_reference(isa, level, gtype):
    isa(level)
    if _native.matmul_path(int(gtype), INT8) != "int8":
        pytest.skip(f"{level} has no int8 kernel for {gtype.name}")
    rng = np.random.default_rng(300 + int(gtype))
    block = ACT_BLOCK[gtype]
    K = 512
    # every column count of the edge tiles; the AMX level dequantizes to bfloat16 from 16 rows
    # (tests/test_matmul_bf16.py)
    for M in (m for m in (1, 3, 6, 17) if _native.matmul_path(int(gtype), INT8, m) == "int8"):
        N = 37  # not a multiple of the 16-row panel nor of any row tile
        x = activations(rng, M, K, block)
        w = random_weights(rng, gtype, N, K)
        wf = gguf_dequantize(w, gtype).reshape(N, K).astype(np.float64)
        xf = quantize_dequantize_x(x, block)
        bias = rng.standard_normal(N).astype(np.float32)
        ref = xf @ wf.T + bias
        tol = 2e-6 * (np.abs(xf) @ np.abs(wf).T + np.abs(bias)) + 1e-30
        for threads in (1, 2):
            y = _native.matmul(_native.ThreadPool(threads), x, w, int(gtype), N, bias, flags=INT8)
            assert y.shape == (M, N)
            err = np.abs(y - ref)
            assert np.all(err <= tol), (level, gtype.name, M, threads, np.max(err / tol))


def identity_weights(gtype, k):
    """k x k weights whose dequantized values are exactly the identity matrix (every f16 scale
    1.0, every sub-block scale 1), so the matmul returns each x quant times its block's d."""
    one = np.array([1], np.float16).view(np.uint8)
    rows = []
    for n in range(k):
        if gtype == GT.Q8_0:
            blocks = np.zeros((k // 32, 34), np.uint8)
            blocks[:, 0:2] = one
            blocks[n // 32, 2 + n % 32] = 1
        elif gtype == GT.Q4_0:  # quants 8 are zeros, a 9 is the one
            q = np.full(k, 8, np.uint8)
            q[n] = 9
            q = q.reshape(-1, 32)
            blocks = np.zeros((k // 32, 18), np.uint8)
            blocks[:, 0:2] = one
            blocks[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
        else:  # Q6_K: quants 32 are zeros, a 33 is the one
            q = np.full(k, 32, np.uint8)
            q[n] = 33
            blocks = np.zeros((k // 256, 210), np.uint8)
            for b in range(k // 256):
                v = q[256 * b:256 * (b + 1)].reshape(2, 4, 32)  # half, quarter, lane
                blocks[b, 0:128] = np.concatenate(
                    [np.concatenate([(v[h, 0] & 15) | ((v[h, 2] & 15) << 4),
                                     (v[h, 1] & 15) | ((v[h, 3] & 15) << 4)]) for h in range(2)])
                blocks[b, 128:192] = np.concatenate(
                    [(v[h, 0] >> 4) | ((v[h, 1] >> 4) << 2) | ((v[h, 2] >> 4) << 4)
                     | ((v[h, 3] >> 4) << 6) for h in range(2)])
                blocks[b, 192:208] = 1
                blocks[b, 208:210] = one
        rows.append(blocks.reshape(-1))
    w = np.concatenate(rows)
    assert np.array_equal(gguf_dequantize(w, gtype).reshape(k, k), np.eye(k)), "construction"
    return w


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("gtype", [GT.Q6_K, GT.Q8_0, GT.Q4_0], ids=lambda t: t.name)
def test_activation_quants_follow_the_rule_exactly(isa, level, gtype):
    """Through identity weights every output is one x quant times its d: the quantizer's bytes
    (quants, and the sums Q6_K and Q4_0 subtract their offsets with) against the rule, to the
    last unit, halfway cases and an all-zero block included."""
    isa(level)
    if _native.matmul_path(int(gtype), INT8) != "int8":
        pytest.skip(f"{level} has no int8 kernel for {gtype.name}")
    rng = np.random.default_rng(400 + int(gtype))
    block, K = ACT_BLOCK[gtype], 512
    x = activations(rng, 4, K, block)
    q, d = reference_quants(x, block)
    w = identity_weights(gtype, K)
    y = _native.matmul(_native.ThreadPool(2), x, w, int(gtype), K, flags=INT8)
    # kernels that take unsigned W quants and subtract the offset through x's sums leave float
    # rounding residue of the other blocks' exact zeros, far below half a quant
    zero = d == 0
    assert np.all(np.abs(y[zero]) < 0.5 * d[~zero].min())
    assert np.array_equal(np.rint(y[~zero] / d[~zero]), q[~zero]), level
