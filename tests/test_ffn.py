"""gn_ffn, a feed-forward block down(act(up(x))): bit for bit the two matmuls and the activation
it stands for, on every level, path and weight type (where both products take the bfloat16
path it passes the hidden rows through act into bfloat16 inside the first product instead of
storing them), and close to a float64 reference."""
from math import erf

import numpy as np
import pytest
from gguf import GGMLQuantizationType as GT
from test_matmul_bf16 import BF16, BF16_LEVELS, INT8, weights
from test_matmul_int8 import quantized_weights

from granite_native import _native

LEVELS = [level for level in _native.ISA_NAMES if _native.isa_supported(level)]
ACTS = ["silu", "gelu_erf", "sigmoid"]
# (M, K, F, N): M past the fused path's 48-row tiles and not a multiple of them or of the
# kernels' 6 rows; K and F odd (padded bfloat16 rows); N not a multiple of the 64-row panel
SHAPES = [(1, 8, 3, 5), (50, 64, 129, 70), (97, 33, 256, 64), (130, 128, 200, 130)]


def composed(pool, x, up, act, down, flags):
    """The block as matmul, activation, matmul."""
    h = _native.matmul(pool, x, up[0], up[1], up[2], up[3], flags=flags)
    flat = h.reshape(-1)
    _native.activation(pool, act, flat, flat)
    return _native.matmul(pool, h, down[0], down[1], down[2], down[3], flags=flags)


def block(rng, gtype, m, k, f, n):
    """x, up and down as ffn takes them (bytes, type, rows, bias), and their float32 values."""
    x = rng.standard_normal((m, k)).astype(np.float32)
    up_raw, up_w = weights(rng, gtype, f, k)
    down_raw, down_w = weights(rng, gtype, n, f)
    up_b = rng.standard_normal(f).astype(np.float32)
    down_b = rng.standard_normal(n).astype(np.float32)
    return x, (up_raw, gtype, f, up_b), (down_raw, gtype, n, down_b), (up_w, down_w)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("flags", [0, BF16, INT8], ids=["exact", "bf16", "int8"])
@pytest.mark.parametrize("gtype", [GT.F32, GT.F16, GT.BF16], ids=lambda t: t.name)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_ffn_is_matmul_activation_matmul(isa, level, flags, gtype, shape):
    isa(level)
    rng = np.random.default_rng(sum(shape) + gtype)
    x, up, down, _ = block(rng, gtype, *shape)
    pool = _native.ThreadPool(2)
    for act in ACTS:
        assert np.array_equal(_native.ffn(pool, x, up, act, down, flags),
                              composed(pool, x, up, act, down, flags)), act


@pytest.mark.parametrize("level", BF16_LEVELS)
def test_ffn_on_packed_weights(isa, level):
    """Matrices packed at load (BF16_P64), as the encoder holds them on bfloat16 levels."""
    isa(level)
    rng = np.random.default_rng(3)
    pool = _native.ThreadPool(2)
    x, up, down, _ = block(rng, GT.F32, 100, 64, 192, 128)
    packed = [(_native.pack_bf16(pool, raw, GT.F32, rows, raw.size // 4 // rows), _native.BF16_P64,
               rows, b) for raw, _, rows, b in (up, down)]
    y = _native.ffn(pool, x, packed[0], "silu", packed[1], BF16)
    assert np.array_equal(y, composed(pool, x, packed[0], "silu", packed[1], BF16))
    assert np.array_equal(y, _native.ffn(pool, x, up, "silu", down, BF16))


@pytest.mark.parametrize("level", LEVELS)
def test_ffn_on_quantized_weights(isa, level):
    """Block-quantized matrices: the int8 path, or on the amx level the bfloat16 one."""
    isa(level)
    rng = np.random.default_rng(4)
    pool = _native.ThreadPool(2)
    x = rng.standard_normal((70, 256)).astype(np.float32)
    up = (quantized_weights(rng, GT.Q8_0, 256, 256), GT.Q8_0, 256, None)
    down = (quantized_weights(rng, GT.Q4_K, 48, 256), GT.Q4_K, 48, None)
    for flags in (0, INT8):
        assert np.array_equal(_native.ffn(pool, x, up, "gelu_erf", down, flags),
                              composed(pool, x, up, "gelu_erf", down, flags))


def reference(x, up_w, up_b, act, down_w, down_b):
    h = x.astype(np.float64) @ up_w.astype(np.float64).T + up_b
    h = {"silu": lambda v: v / (1 + np.exp(-v)), "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
         "gelu_erf": lambda v: 0.5 * v * (1 + np.vectorize(erf)(v / np.sqrt(2)))}[act](h)
    return h @ down_w.astype(np.float64).T + down_b


@pytest.mark.parametrize("flags", [0, BF16], ids=["exact", "bf16"])
@pytest.mark.parametrize("act", ACTS)
def test_ffn_matches_float64(flags, act):
    rng = np.random.default_rng(5)
    x, up, down, (up_w, down_w) = block(rng, GT.F32, 60, 96, 160, 40)
    y = _native.ffn(_native.ThreadPool(2), x, up, act, down, flags)
    ref = reference(x, up_w, up[3], act, down_w, down[3])
    err = np.linalg.norm(y - ref) / np.linalg.norm(ref)
    # bfloat16 operands keep 8 bits: ~2^-9 per rounding, where it is the path
    assert err < (2e-2 if flags == BF16 and BF16_LEVELS else 1e-5)


def test_ffn_rejects_bad_arguments():
    rng = np.random.default_rng(6)
    x, up, down, _ = block(rng, GT.F32, 4, 8, 16, 4)
    pool = _native.ThreadPool(1)
    with pytest.raises(ValueError, match="unknown activation"):
        _native.ffn(pool, x, up, "relu", down)
    with pytest.raises(ValueError, match="up bias"):
        _native.ffn(pool, x, up[:3] + (np.zeros(3, np.float32),), "silu", down)
    with pytest.raises(ValueError, match="ffn"):  # W_down's rows are F = 16 wide, not 8
        _native.ffn(pool, x, up, "silu", (down[0][:4 * 4 * 8], GT.F32, 4, None))
    with pytest.raises(ValueError, match="ffn"):
        _native.ffn(pool, x, up, "silu", down, flags=8)
