"""The exact float32 path on packed operands: products of GN_F32P_TILE (12) or more x rows where
the level has a packed kernel (AVX2, AVX-512). Each output is one chain of fused multiply-adds
in k order from its bias, so the kernel and its scalar twin agree bit for bit whatever the
blocking, the tails and the threads; the twin is held to numpy float64 within float32 summation error."""
import numpy as np
import pytest
from gguf import GGMLQuantizationType as GT
from gguf.quants import dequantize as gguf_dequantize
from test_matmul_int8 import random_weights

from granite_native import _native

TILE = 12  # GN_F32P_TILE
PACKED_LEVELS = [level for level in _native.ISA_NAMES
                 if _native.isa_supported(level) and level in ("avx2", "avx512", "amx")]
U = 2.0 ** -24  # float32 unit roundoff
# (M, K, N): one whole tile, a row past it, tiles with short last ones; K of 1, odd, across the
# kernels' 1024-deep chunks; N a whole 64-row panel, one row past, short of one and of 32
SHAPES = [(12, 64, 64), (13, 1, 65), (23, 257, 37), (24, 300, 100), (37, 513, 128),
          (61, 1300, 200), (131, 31, 16)]
TYPES = [GT.F32, GT.F16, GT.BF16, GT.Q8_0, GT.Q4_K, GT.Q6_K]


def weights(rng, gtype, n, k):
    """(raw bytes, float32 values); K a whole number of the type's blocks."""
    if gtype == GT.F32:
        w = rng.standard_normal((n, k)).astype(np.float32)
        return w.view(np.uint8).ravel(), w
    if gtype == GT.F16:
        w = rng.standard_normal((n, k)).astype(np.float16)
        return w.view(np.uint8).ravel(), w.astype(np.float32)
    if gtype == GT.BF16:
        bits = (rng.standard_normal((n, k)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
        return bits.view(np.uint8).ravel(), (bits.astype(np.uint32) << 16).view(np.float32)
    raw = random_weights(rng, gtype, n, k)
    return raw, gguf_dequantize(raw.reshape(n, -1), gtype).astype(np.float32)


def k_for(gtype, k):
    block = _native.type_info(int(gtype))[1]
    return max(block, k // block * block)


@pytest.mark.parametrize("gtype", TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_twin_matches_float64_within_summation_error(gtype, shape):
    m, k, n = shape
    k = k_for(gtype, k)
    rng = np.random.default_rng(m * 1000 + k + n)
    x = rng.standard_normal((m, k)).astype(np.float32)
    raw, w = weights(rng, gtype, n, k)
    bias = rng.standard_normal(n).astype(np.float32)
    y = _native.matmul_f32p_scalar(_native.ThreadPool(2), x, raw, int(gtype), n, bias)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    ref = x64 @ w64.T + bias
    bound = np.abs(x64) @ np.abs(w64).T + np.abs(bias)
    assert np.all(np.abs(y - ref) <= k * U * bound + 1e-30)
    no_bias = _native.matmul_f32p_scalar(None, x, raw, int(gtype), n)
    assert np.all(np.abs(no_bias - (ref - bias)) <= k * U * (bound - np.abs(bias)) + 1e-30)


@pytest.mark.parametrize("level", PACKED_LEVELS)
@pytest.mark.parametrize("gtype", TYPES, ids=lambda t: t.name)
def test_packed_kernel_is_bit_identical_to_its_twin(isa, level, gtype):
    isa(level)
    rng = np.random.default_rng(int(gtype))
    pool = _native.ThreadPool(2)
    for m, k, n in SHAPES:
        k = k_for(gtype, k)
        assert _native.matmul_f32_packed(int(gtype), m)
        x = rng.standard_normal((m, k)).astype(np.float32)
        raw, _ = weights(rng, gtype, n, k)
        for bias in (None, rng.standard_normal(n).astype(np.float32)):
            got = _native.matmul(pool, x, raw, int(gtype), n, bias)
            want = _native.matmul_f32p_scalar(pool, x, raw, int(gtype), n, bias)
            assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), (m, k, n)


@pytest.mark.parametrize("level", PACKED_LEVELS)
def test_threads_and_neighbours(isa, level):
    """One thread and two give the same bits, and nothing is written past y's M rows."""
    isa(level)
    rng = np.random.default_rng(3)
    m, k, n = 29, 300, 130
    x = rng.standard_normal((m, k)).astype(np.float32)
    raw, _ = weights(rng, GT.F32, n, k)
    bias = rng.standard_normal(n).astype(np.float32)
    one = _native.matmul(_native.ThreadPool(1), x, raw, int(GT.F32), n, bias)
    big = np.full((m + 5, n), 7.0, np.float32)
    two = _native.matmul(_native.ThreadPool(2), x, raw, int(GT.F32), n, bias, out=big[:m])
    assert np.array_equal(one.view(np.uint32), two.view(np.uint32))
    assert (big[m:] == 7.0).all()


@pytest.mark.parametrize("level", PACKED_LEVELS)
def test_special_values_propagate(isa, level):
    isa(level)
    m, k, n = 14, 40, 70
    x = np.ones((m, k), np.float32)
    w = np.ones((n, k), np.float32)
    x[3, 5], w[7, 9], w[8, :2] = np.inf, np.nan, np.float32(3e38)  # 6e38 overflows
    y = _native.matmul(None, x, w.view(np.uint8).ravel(), int(GT.F32), n)
    want = _native.matmul_f32p_scalar(None, x, w.view(np.uint8).ravel(), int(GT.F32), n)
    assert np.array_equal(np.isnan(y), np.isnan(want)) and np.isnan(y[:, 7]).all()
    assert np.isposinf(y[3, np.arange(n) != 7]).all() and np.isinf(y[:, 8]).all()
    finite = np.isfinite(want)
    assert np.array_equal(y[finite], want[finite])


def test_where_the_packed_path_runs(isa):
    for level in PACKED_LEVELS:
        isa(level)
        assert not _native.matmul_f32_packed(int(GT.F32), TILE - 1)  # packing would not pay
        assert _native.matmul_f32_packed(int(GT.F16), TILE)
        assert not _native.matmul_f32_packed(int(GT.Q4_K) + 100, TILE)  # no such type
    isa("scalar")
    assert not _native.matmul_f32_packed(int(GT.F32), 1000)


def test_callers_on_one_pool_at_once_get_their_own_results():
    """Products from several Python threads on one pool: the pool's shared buffer for packed x
    goes to one of them at a time, the others pack into memory of their own."""
    from concurrent.futures import ThreadPoolExecutor
    rng = np.random.default_rng(11)
    pool = _native.ThreadPool(2)
    cases = []
    for i in range(6):
        m, k, n = 20 + 7 * i, 64 * (i + 1), 96
        x = rng.standard_normal((m, k)).astype(np.float32)
        raw, _ = weights(rng, GT.F32, n, k)
        cases.append((x, raw, n, _native.matmul_f32p_scalar(None, x, raw, int(GT.F32), n)))

    def run(case):
        x, raw, n, _ = case
        return [_native.matmul(pool, x, raw, int(GT.F32), n) for _ in range(20)]

    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(run, cases * 2))
    for (x, raw, n, serial), got in zip(cases * 2, results):
        y = _native.matmul(None, x, raw, int(GT.F32), n)
        for g in got:
            assert np.array_equal(g.view(np.uint32), y.view(np.uint32))
        if _native.matmul_f32_packed(int(GT.F32), x.shape[0]):
            assert np.array_equal(y.view(np.uint32), serial.view(np.uint32))
