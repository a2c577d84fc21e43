"""The bfloat16 matmul path (GN_MATMUL_BF16): x and float W rounded to bfloat16, products summed
in float32. Checked against numpy float64 of the bfloat16-rounded operands, where products are
exact and only the float32 sums can differ; the AVX-512 BF16 and AMX kernels (where the CPU has
them) and their scalar twins, and the fallback to exact float32 everywhere else."""
import numpy as np
import pytest
from child_process import run_python
from gguf import GGMLQuantizationType as GT
from gguf.quants import dequantize as gguf_dequantize
from test_matmul_int8 import quantized_weights, random_weights

from granite_native import _native

HAS_BF16 = _native.isa_supported("avx512") and _native.cpu_features()["avx512bf16"]
# the levels with bfloat16 kernels: AMX is the AVX-512 level with tile multiplies
BF16_LEVELS = [level for level in ("avx512", "amx")
               if HAS_BF16 and _native.isa_supported(level)]
BF16 = _native.matmul_flags(["bf16"])
INT8 = _native.matmul_flags(["int8"])
FLOAT_TYPES = [GT.F32, GT.F16, GT.BF16]
QUANT_TYPES = [GT.Q4_0, GT.Q8_0, GT.Q4_K, GT.Q6_K]
# (M, K, N): M not a multiple of the 6-row tile, K odd, not a multiple of 32, and long; N not
# a multiple of 16 or of the 64-row panel
SHAPES = [(1, 1, 1), (7, 33, 17), (13, 70, 129), (6, 301, 64), (25, 512, 80)]
# AMX multiplies 32-row blocks of whole 64-row panels in 32-deep steps over 512-deep chunks:
# a short last block of 1..16 and 17..31 rows, K short of 32, K with a tail after whole
# chunks, a partial last panel (the vector kernel's)
TILE_SHAPES = [(32, 64, 64), (70, 100, 128), (49, 1030, 192), (17, 6, 64), (96, 544, 200)]
U = 2.0 ** -24  # float32 unit roundoff


def bf16_round(a):
    """float32 -> bfloat16 -> float32, ties to even, float32 denormals to signed zero (the
    rule of VCVTNE2PS2BF16); finite inputs only."""
    u = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16).astype(np.uint32)
    r[(u & 0x7F800000) == 0] &= 0x80000000
    return r.view(np.float32)


def weights(rng, gtype, n, k):
    """(raw bytes, float32 values as the weight type stores them)."""
    w = rng.standard_normal((n, k)).astype(np.float32)
    if gtype == GT.F16:
        w = w.astype(np.float16)
        return w.view(np.uint8).ravel(), w.astype(np.float32)
    if gtype == GT.BF16:
        w = bf16_round(w)
        return (w.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).ravel(), w
    return w.view(np.uint8).ravel(), w


def check_against_reference(y, x, w, bias):
    """|y - ref| within float32 summation error: K additions (two per pair) and the bias add,
    each rounding by at most U relative to the sum of magnitudes."""
    xb, wb = bf16_round(x).astype(np.float64), bf16_round(w).astype(np.float64)
    ref = xb @ wb.T
    bound = np.abs(xb) @ np.abs(wb).T
    if bias is not None:
        ref += bias
        bound += np.abs(bias)
    k = x.shape[1]
    assert np.all(np.abs(y - ref) <= (k + 1) * U * bound + 1e-30)


def case(rng, gtype, m, k, n, with_bias):
    x = rng.standard_normal((m, k)).astype(np.float32)
    raw, w = weights(rng, gtype, n, k)
    bias = rng.standard_normal(n).astype(np.float32) if with_bias else None
    return x, raw, w, bias


@pytest.mark.parametrize("level", BF16_LEVELS)
@pytest.mark.parametrize("gtype", FLOAT_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("shape", SHAPES + TILE_SHAPES, ids=str)
def test_bf16_kernels_match_rounded_reference(isa, level, gtype, shape):
    isa(level)
    rng = np.random.default_rng(sum(shape) + gtype)
    m, k, n = shape
    x, raw, w, bias = case(rng, gtype, m, k, n, with_bias=shape[0] % 2 == 1)
    pool = _native.ThreadPool(2)
    y = _native.matmul(pool, x, raw, gtype, n, bias=bias, flags=BF16)
    check_against_reference(y, x, w, bias)


@pytest.mark.parametrize("gtype", FLOAT_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_scalar_twins_match_rounded_reference(gtype, shape):
    rng = np.random.default_rng(sum(shape) + gtype)
    m, k, n = shape
    x, raw, w, bias = case(rng, gtype, m, k, n, with_bias=shape[0] % 2 == 1)
    y = _native.matmul_bf16_scalar(_native.ThreadPool(2), x, raw, gtype, n, bias=bias)
    check_against_reference(y, x, w, bias)


def test_conversion_rounds_ties_to_even():
    x = np.array([[1 + 2.0 ** -8 + 2.0 ** -20, 1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8]], np.float32)
    w = np.ones((1, 3), np.float32)
    for fn in [lambda: _native.matmul_bf16_scalar(None, x, w.view(np.uint8).ravel(), GT.F32, 1)] + (
            [lambda: _native.matmul(None, x, w.view(np.uint8).ravel(), GT.F32, 1, flags=BF16)]
            if HAS_BF16 else []):
        # up, tie to even (down), tie to even (up)
        assert fn()[0, 0] == np.float32((1 + 2.0 ** -7) + 1 + (1 + 2.0 ** -6))


@pytest.mark.parametrize("kernels", ["scalar"] + BF16_LEVELS)
def test_special_values_follow_the_conversion_rule(isa, kernels):
    """x's first column against W rows (1, 0, ...): y is that column as converted. Infinities
    stay, NaNs stay NaN, float32 denormals become zero, the largest float32 rounds to infinity.
    32 rows of 32 against 64 W rows: the size AMX tiles take."""
    special = [np.inf, -np.inf, np.nan, 1e-40, -1e-40, np.finfo(np.float32).max, 3.0]
    x = np.zeros((32, 32), np.float32)
    x[:len(special), 0] = special
    w = np.zeros((64, 32), np.float32)
    w[:, 0] = 1
    raw = w.view(np.uint8).ravel()
    if kernels == "scalar":
        y = _native.matmul_bf16_scalar(None, x, raw, GT.F32, 64)
    else:
        isa(kernels)
        y = _native.matmul(None, x, raw, GT.F32, 64, flags=BF16)
    assert np.array_equal(y, np.repeat(y[:, :1], 64, axis=1), equal_nan=True)
    y = y[:, 0]
    assert y[0] == np.inf and y[1] == -np.inf and np.isnan(y[2])
    assert y[3] == 0 and y[4] == 0 and y[5] == np.inf and y[6] == 3.0 and not y[7:].any()


@pytest.mark.parametrize("level", BF16_LEVELS)
def test_one_and_two_threads_give_identical_results(isa, level):
    isa(level)
    rng = np.random.default_rng(5)
    x, raw, _, bias = case(rng, GT.F16, 50, 300, 200, with_bias=True)
    one = _native.matmul(_native.ThreadPool(1), x, raw, GT.F16, 200, bias=bias, flags=BF16)
    two = _native.matmul(_native.ThreadPool(2), x, raw, GT.F16, 200, bias=bias, flags=BF16)
    assert np.array_equal(one, two)



def relpos_attention_bf16_ref(q, k, v, H, block, rel, scale):
    """gn_ops.h's block attention in float64 from q, k, v, rel and the softmax weights rounded to
    bfloat16, and per output the error that rounding the weights in float32 instead may add:
    each weight's bfloat16 rounding can land one step (2^-8 of it) the other way."""
    T, W = q.shape
    dh, max_pos = W // H, rel.shape[0] // 2
    q, k, v, rel = (bf16_round(a).astype(np.float64) for a in (q, k, v, rel))
    out, slack = np.zeros((T, W)), np.zeros((T, W))
    for t0 in range(0, T, block):
        n = min(block, T - t0)
        dist = np.arange(n)[:, None] - np.arange(n)[None, :] + max_pos
        for h in range(H):
            sl = slice(h * dh, (h + 1) * dh)
            qb, kb, vb = q[t0:t0 + n, sl], k[t0:t0 + n, sl], v[t0:t0 + n, sl]
            s = scale * (qb @ kb.T + np.einsum("cd,crd->cr", qb, rel[dist]))
            p = np.exp(s - s.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            out[t0:t0 + n, sl] = bf16_round(p.astype(np.float32)).astype(np.float64) @ vb
            slack[t0:t0 + n, sl] = 2.0 ** -8 * p @ np.abs(vb)
    return out, slack


# (T, block, heads, head width, max_pos): blocks with a short last one, a head wider than one
# 64-column panel with a tail, a table reaching past the block; odd widths and block lengths;
# fewer frames than a block; the encoder's shape
RELPOS_SHAPES = [(150, 70, 2, 72, 90), (61, 20, 2, 21, 30), (7, 64, 3, 64, 64),
                 (400, 200, 1, 128, 512)]


@pytest.mark.parametrize("level", BF16_LEVELS)
@pytest.mark.parametrize("shape", RELPOS_SHAPES, ids=str)
def test_block_relpos_attention_in_bf16(isa, level, shape):
    isa(level)
    T, block, H, dh, max_pos = shape
    rng = np.random.default_rng(T + dh)
    q, k, v = (rng.standard_normal((T, H * dh)).astype(np.float32) for _ in range(3))
    rel = rng.standard_normal((2 * max_pos + 1, dh)).astype(np.float32)
    out = np.full_like(q, np.nan)
    _native.attention_block_relpos(_native.ThreadPool(2), q, k, v, H, block, rel, dh ** -0.5,
                                   out, BF16)
    want, slack = relpos_attention_bf16_ref(q, k, v, H, block, rel, dh ** -0.5)
    # beyond the weights' rounding: float32 scores and sums, measured under 3e-7 of the output
    assert np.all(np.abs(out - want) <= slack + 1e-5 * np.abs(want).max())


def test_block_relpos_attention_is_float32_without_bfloat16_kernels(isa):
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal((50, 2 * 24)).astype(np.float32) for _ in range(3))
    rel = rng.standard_normal((41, 24)).astype(np.float32)
    for level in [name for name in _native.ISA_NAMES
                  if _native.isa_supported(name) and name not in BF16_LEVELS]:
        isa(level)
        exact, flagged = np.empty_like(q), np.empty_like(q)
        _native.attention_block_relpos(None, q, k, v, 2, 20, rel, 0.2, exact)
        _native.attention_block_relpos(None, q, k, v, 2, 20, rel, 0.2, flagged, BF16)
        assert np.array_equal(exact, flagged)

def test_path_is_bf16_exactly_where_the_cpu_has_bfloat16_dot_products(isa):
    for level in [name for name in _native.ISA_NAMES if _native.isa_supported(name)]:
        isa(level)
        want = "bf16" if level in BF16_LEVELS else "f32"
        for gtype in FLOAT_TYPES:
            assert _native.matmul_path(gtype, BF16) == want
            assert _native.matmul_path(gtype, 0) == "f32"
        # block-quantized weights have no bfloat16 path of their own; under the int8 flag the
        # AMX level takes one from 16 rows on
        for gtype in QUANT_TYPES:
            assert _native.matmul_path(gtype, BF16, 1000) == "f32"
            assert _native.matmul_path(gtype, INT8, 15) == "int8"
            assert _native.matmul_path(gtype, INT8, 16) == ("bf16" if level == "amx" else "int8")


@pytest.mark.parametrize("gtype", QUANT_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("shape", [(16, 256, 64), (49, 512, 200), (127, 768, 128)], ids=str)
def test_amx_multiplies_many_rows_of_quantized_weights_in_bf16(isa, gtype, shape):
    """Dequantized (by gguf's reference code) and rounded to bfloat16, like float weights."""
    if "amx" not in BF16_LEVELS:
        pytest.skip("no AMX level here")
    isa("amx")
    rng = np.random.default_rng(int(gtype) + shape[0])
    m, k, n = shape
    x = rng.standard_normal((m, k)).astype(np.float32)
    raw = random_weights(rng, gtype, n, k)
    w = gguf_dequantize(raw, gtype).reshape(n, k).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    for threads in (1, 2):
        y = _native.matmul(_native.ThreadPool(threads), x, raw, int(gtype), n, bias=bias,
                           flags=INT8)
        check_against_reference(y, x, w, bias)


def test_forced_avx2_multiplies_exactly_with_the_flag():
    if not _native.isa_supported("avx2"):
        pytest.skip("CPU without AVX2")
    code = """
import numpy as np
from granite_native import _native
rng = np.random.default_rng(0)
x = rng.standard_normal((9, 37)).astype(np.float32)
w = rng.standard_normal((21, 37)).astype(np.float32)
flags = _native.matmul_flags(["bf16"])
print(_native.matmul_path(0, flags))
y = _native.matmul(None, x, w.view(np.uint8).ravel(), 0, 21, flags=flags)
ref = x.astype(np.float64) @ w.astype(np.float64).T
bound = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)).T
print(bool(np.all(np.abs(y - ref) <= 38 * 2.0 ** -24 * bound)))
"""
    r = run_python(["-c", code], env={"GRANITE_NATIVE_ISA": "avx2"}, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["f32", "True"]


def test_bf16_probe(isa):
    pool = _native.ThreadPool(2)
    # per call per thread: 12 chains of 32 products, or 4 chains of 16 x 16 x 32-product tiles
    products = {"avx512": 12 * 32, "amx": 4 * 16 * 16 * 32}
    for level in BF16_LEVELS:
        isa(level)
        one, two = _native.probe_bf16(pool, 1000), _native.probe_bf16(pool, 2000)
        assert one > 0 and one % (1000 * products[level] * 2) == 0 and two == 2 * one
    for level in ("scalar", "avx2"):
        if _native.isa_supported(level):
            isa(level)
            with pytest.raises(ValueError, match="probe_bf16"):
                _native.probe_bf16(pool, 1000)


def test_scalar_twin_checks_its_arguments():
    x = np.ones((2, 4), np.float32)
    with pytest.raises(ValueError):
        _native.matmul_bf16_scalar(None, x, np.ones(4 * 3, np.uint8), GT.F32, 1)  # 3 floats
    with pytest.raises(ValueError, match="unsupported"):
        _native.matmul_bf16_scalar(None, np.ones((2, 32), np.float32),
                                   np.zeros(18, np.uint8), GT.Q4_0, 1)


def panels_reference(bits, n, k):
    """BF16_P64 by the layout's definition (gn_kernels.h): in panel g, pair p of row r sits at
    uint16 offset g * 64 * k + 2 * (p * 64 + r)."""
    return bits.reshape(n // 64, 64, k // 2, 2).transpose(0, 2, 1, 3).ravel()


@pytest.mark.parametrize("level", BF16_LEVELS)
@pytest.mark.parametrize("gtype", FLOAT_TYPES, ids=lambda t: t.name)
def test_weights_packed_at_load_are_the_panels_every_product_packs(isa, level, gtype):
    isa(level)
    rng = np.random.default_rng(40 + gtype)
    n, k = 128, 100
    raw, w = weights(rng, gtype, n, k)
    pool = _native.ThreadPool(2)
    packed = _native.pack_bf16(pool, raw, gtype, n, k)
    bits = (bf16_round(w).view(np.uint32) >> 16).astype(np.uint16)
    assert np.array_equal(packed.view(np.uint16), panels_reference(bits, n, k))
    for m in (1, 37):
        x = rng.standard_normal((m, k)).astype(np.float32)
        bias = rng.standard_normal(n).astype(np.float32)
        y = _native.matmul(pool, x, packed, _native.BF16_P64, n, bias=bias, flags=BF16)
        assert np.array_equal(y, _native.matmul(pool, x, raw, gtype, n, bias=bias, flags=BF16))
        check_against_reference(y, x, w, bias)
        for flags in (0, INT8):  # only the bfloat16 path reads the layout
            with pytest.raises(ValueError, match="unsupported"):
                _native.matmul(pool, x, packed, _native.BF16_P64, n, flags=flags)


def test_packing_rejects_what_the_layout_cannot_hold(isa):
    pool = _native.ThreadPool(2)
    w = np.ones((64, 32), np.float32).view(np.uint8).ravel()
    for level in BF16_LEVELS:
        isa(level)
        for rows, cols, data in ((64, 33, np.ones(64 * 33 * 4, np.uint8)),  # odd K
                                 (32, 64, w),                                 # 32 rows
                                 (64, 16, w)):                                # bytes for K 32
            with pytest.raises(ValueError):
                _native.pack_bf16(pool, data, GT.F32, rows, cols)
        with pytest.raises(ValueError, match="F32, F16 or BF16"):
            _native.pack_bf16(pool, w, GT.Q8_0, 64, 32)
        with pytest.raises(ValueError, match="expected"):
            _native.pack_bf16(pool, w, GT.F32, 64, 32, out=np.empty(10, np.uint8))
    for level in ("scalar", "avx2"):
        if _native.isa_supported(level):
            isa(level)
            with pytest.raises(ValueError, match="unsupported"):
                _native.pack_bf16(pool, w, GT.F32, 64, 32)


@pytest.mark.parametrize("level", BF16_LEVELS)
@pytest.mark.parametrize("shape", [(7, 33), (70, 64)], ids=str)
def test_group_equals_separate_matmuls(isa, level, shape):
    """gn_matmul_group on the bfloat16 path (x converted once, as the encoder's q, k, v) gives
    the separate calls' bits, for float and packed matrices, and a group with a matrix off that
    path falls back to separate calls."""
    isa(level)
    m, k = shape
    rng = np.random.default_rng(m + k)
    pool = _native.ThreadPool(2)
    x = rng.standard_normal((m, k)).astype(np.float32)
    mats = []
    for gtype, n in ((GT.F32, 70), (GT.F16, 64), (GT.BF16, 17)):
        raw, _ = weights(rng, gtype, n, k)
        mats.append((raw, int(gtype), n, rng.standard_normal(n).astype(np.float32)))
    if k % 2 == 0:
        raw, _ = weights(rng, GT.F32, 128, k)
        mats.append((_native.pack_bf16(pool, raw, GT.F32, 128, k), _native.BF16_P64, 128, None))
    off_path = (quantized_weights(rng, GT.Q8_0, 32, 64), int(GT.Q8_0), 32, None)
    for group in (mats, mats[:1], mats[1:3] + [off_path] if k == 64 else mats[1:3]):
        got = _native.matmul_group(pool, x, group, flags=BF16)
        for (w, t, n, b), y in zip(group, got):
            assert np.array_equal(y, _native.matmul(pool, x, w, t, n, b, flags=BF16))
