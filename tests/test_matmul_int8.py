"""The int8-activation matmul path (GN_MATMUL_INT8): activation blocks byte-equal to a numpy
implementation of the rule in csrc/quant_blocks.h, products against float64 numpy over the
gguf package's dequantized weights, every instruction-set level against scalar, threads,
ragged shapes, bias, and which weight types take the path."""
import numpy as np
import pytest
from gguf import GGMLQuantizationType as GT
from gguf.quants import dequantize as gguf_dequantize

from granite_native import _native

LEVELS = [name for name in _native.ISA_NAMES if _native.isa_supported(name)]
QUANT_TYPES = [GT.Q4_0, GT.Q8_0, GT.Q4_K, GT.Q6_K]
FLOAT_TYPES = [GT.F32, GT.F16, GT.BF16]
INT8 = _native.matmul_flags(["int8"])
# weight type -> activation block kind, values per block
ACT = {GT.Q4_0: ("q8_32", 32), GT.Q8_0: ("q8_32", 32), GT.Q4_K: ("q8_k", 256), GT.Q6_K: ("q8_k", 256)}
HALF_FIELDS = {GT.Q4_0: [0], GT.Q8_0: [0], GT.Q4_K: [0, 2], GT.Q6_K: [208]}


# ---- activation blocks -------------------------------------------------------------------

def reference_blocks(x, block):
    """(d [blocks], q [blocks, block]) by the rule of quant_blocks.h, in float32 as stated."""
    xb = x.reshape(-1, block).astype(np.float32)
    amax = np.max(np.abs(xb), axis=1)  # NaN for a block holding a NaN
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        iscale = (np.float32(127) / amax).astype(np.float32)
        nonzero = np.isfinite(iscale)  # amax 0, so small that 127 / amax overflows, or NaN
        q = np.rint((xb * iscale[:, None]).astype(np.float32))
        q = np.where(nonzero[:, None], q, 0).astype(np.int8)  # those blocks: zeros
    d = np.where(nonzero, (amax / np.float32(127)).astype(np.float32), np.float32(0)).astype(np.float32)
    d[np.isnan(amax)] = np.float32(np.nan)  # 0x7fc00000: every product with the block is NaN
    return d, q


def reference_q8_k(x):
    d, q = reference_blocks(x, 256)
    bsums = q.astype(np.int16).reshape(-1, 16, 16).sum(axis=2).astype("<i2")
    sums32 = q.astype(np.int16).reshape(-1, 8, 32).sum(axis=2).astype("<i2")
    return np.concatenate([d.astype("<f4").view(np.uint8).reshape(-1, 4), q.view(np.uint8),
                           bsums.view(np.uint8).reshape(-1, 32),
                           sums32.view(np.uint8).reshape(-1, 16)], axis=1).reshape(-1)


def reference_q8_32(x):
    d, q = reference_blocks(x, 32)
    s = q.astype(np.int32).sum(axis=1).astype("<i4")
    return np.concatenate([d.astype("<f4").view(np.uint8).reshape(-1, 4),
                           s.view(np.uint8).reshape(-1, 4), q.view(np.uint8)], axis=1).reshape(-1)


def parse_activations(kind, raw):
    """Dequantized values (float64) of activation bytes: d * q per block."""
    if kind == "q8_k":
        b = raw.reshape(-1, 308)
        d, q = b[:, :4].copy().view("<f4"), b[:, 4:260].view(np.int8)
    else:
        b = raw.reshape(-1, 40)
        d, q = b[:, :4].copy().view("<f4"), b[:, 8:40].view(np.int8)
    return (d.astype(np.float64) * q.astype(np.float64)).reshape(-1), np.repeat(d.reshape(-1), q.shape[1])


def activation_rows(rng, blocks, block):
    """Rows of blocks with scales spread over many octaves, an all-zero block, a block whose
    largest magnitude is negative, a block of exact rounding ties, and from 8 blocks on,
    blocks just below and above the smallest amax whose inverse scale 127 / amax is finite
    and blocks holding a NaN (inside, and in their last values)."""
    x = rng.standard_normal((blocks, block)) * np.exp2(rng.integers(-20, 20, size=(blocks, 1)))
    x[1] = 0
    x[2, 5] = -4 * np.max(np.abs(x[2]))
    # amax = 127 makes the scale exactly 1: x.5 must round to even (0.5 -> 0, 1.5 -> 2, -2.5 -> -2)
    x[3] = np.resize([127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -125.5, 0], block)
    if blocks >= 8:
        tiny = np.float32(127) / np.finfo(np.float32).max  # ~3.7e-37
        x[4] = x[4] / np.max(np.abs(x[4])) * tiny * 0.5
        x[5] = x[5] / np.max(np.abs(x[5])) * tiny * 4
        x[6, 5] = np.nan
        x[7, -1] = np.nan
    return x.astype(np.float32).reshape(-1)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("kind", ["q8_k", "q8_32"])
def test_activation_blocks_match_numpy_rule(isa, level, kind):
    isa(level)
    rng = np.random.default_rng(11)
    block = 256 if kind == "q8_k" else 32
    reference = reference_q8_k if kind == "q8_k" else reference_q8_32
    for blocks in (4, 9, 33):
        x = activation_rows(rng, blocks, block)
        got = _native.quantize_activations(kind, x)
        assert np.array_equal(got, reference(x)), (level, kind, blocks)


def test_activation_blocks_reject_partial_blocks():
    with pytest.raises(ValueError):
        _native.quantize_activations("q8_k", np.ones(300, np.float32))
    with pytest.raises(ValueError):
        _native.quantize_activations("q8_32", np.ones(0, np.float32))
    with pytest.raises(ValueError):
        _native.quantize_activations("q4_k", np.ones(256, np.float32))


# ---- weights -----------------------------------------------------------------------------

def random_weights(rng, gtype, rows, k):
    """Random bytes (every bit pattern of the quants and 6-bit / 8-bit scales) with finite,
    moderate f16 scales."""
    _, block_elems, block_bytes = _native.type_info(gtype)
    blocks = rng.integers(0, 256, size=(rows * k // block_elems, block_bytes), dtype=np.uint8)
    for off in HALF_FIELDS[gtype]:
        scale = (rng.standard_normal(len(blocks)) * 0.02).astype(np.float16)
        blocks[:, off:off + 2] = scale.view(np.uint8).reshape(-1, 2)
    return blocks.reshape(-1)


def quantized_weights(rng, gtype, rows, k):
    """Our own quantizer's encoding of random floats, as a model file holds them."""
    src = (rng.standard_normal((rows, k)) * 0.05).astype(np.float32)
    out = np.empty(rows * _native.row_bytes(int(gtype), k), dtype=np.uint8)
    _native.quantize(_native.ThreadPool(1), int(gtype), src, out)
    return out


def dequantized(w, gtype, rows, k):
    return gguf_dequantize(w, gtype).reshape(rows, k).astype(np.float64)


def int8_reference(x, w, gtype, N):
    """float64 products of the gguf-dequantized W with the dequantized activation blocks the
    active level writes (their bytes are checked against numpy above), and the terms' sizes."""
    M, K = x.shape
    kind, _ = ACT[gtype]
    xs, dx = zip(*(parse_activations(kind, _native.quantize_activations(kind, row)) for row in x))
    xd, dx = np.array(xs), np.array(dx, dtype=np.float64)
    wf = dequantized(w, gtype, N, K)
    return xd @ wf.T, np.abs(xd) @ np.abs(wf).T, wf, dx


def shapes(gtype):
    """(M, K, N): decode GEMV, odd M past any register tile, N ragged against the 16-row panel
    and any row tile, K of one and of several blocks."""
    b = ACT[gtype][1]
    return [(1, 8 * b if b == 32 else 2 * b, 37), (5, b, 19), (13, 3 * b, 70), (2, 4 * b, 1)]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("gtype", QUANT_TYPES, ids=lambda t: t.name)
def test_int8_matmul_matches_float64_reference(isa, level, gtype):
    isa(level)
    rng = np.random.default_rng(300 + int(gtype))
    pool = _native.ThreadPool(1)
    makers = [random_weights] + ([quantized_weights] if gtype != GT.Q6_K else [])
    for make in makers:
        for M, K, N in shapes(gtype):
            x = (rng.standard_normal((M, K)) * rng.uniform(0.1, 10, size=(M, 1))).astype(np.float32)
            w = make(rng, gtype, N, K)
            ref, mag, wf, dx = int8_reference(x, w, gtype, N)
            y = _native.matmul(pool, x, w, int(gtype), N, flags=INT8)
            assert y.shape == (M, N)
            # the block sums are exact integers: only the float sums differ from float64
            tol = 2e-6 * mag + 1e-30
            assert np.all(np.abs(y - ref) <= tol), (level, gtype.name, make.__name__, M, K, N)
            # against the exact float path: each x value moved by at most half its block's step
            exact = _native.matmul(pool, x, w, int(gtype), N)
            bound = (np.abs(wf) @ (dx / 2).T).T * 1.001 + 1e-5 * (np.abs(x) @ np.abs(wf).T)
            assert np.all(np.abs(y - exact) <= bound), (level, gtype.name, make.__name__, M, K, N)
            bias = rng.standard_normal(N).astype(np.float32)
            yb = _native.matmul(pool, x, w, int(gtype), N, bias, flags=INT8)
            assert np.all(np.abs(yb - (ref + bias)) <= tol + 1e-6 * np.abs(bias)), (level, gtype.name)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("gtype", QUANT_TYPES, ids=lambda t: t.name)
def test_extreme_quants_and_scales_stay_exact(isa, level, gtype):
    """Every quant, scale and min at its largest (and most negative) value against x quants
    all +-127: the widest integer sums any kernel can meet, where a narrow intermediate
    would saturate or wrap."""
    isa(level)
    _, block_elems, block_bytes = _native.type_info(gtype)
    K, N = 4 * max(block_elems, 64), 4
    rows = []
    for fill in (0xFF, 0x80, 0x7F, 0x00):
        blocks = np.full((K // block_elems, block_bytes), fill, dtype=np.uint8)
        for off in HALF_FIELDS[gtype]:
            blocks[:, off:off + 2] = np.frombuffer(np.float16(0.01).tobytes(), np.uint8)
        rows.append(blocks.reshape(-1))
    w = np.concatenate(rows)
    x = np.stack([np.ones(K), -np.ones(K), np.resize([1.0, -1.0], K)]).astype(np.float32)
    ref, mag, _, _ = int8_reference(x, w, gtype, N)
    y = _native.matmul(_native.ThreadPool(1), x, w, int(gtype), N, flags=INT8)
    assert np.all(np.abs(y - ref) <= 2e-6 * mag + 1e-30), (level, gtype.name, y, ref)


@pytest.mark.parametrize("gtype", QUANT_TYPES, ids=lambda t: t.name)
def test_every_level_matches_scalar(isa, gtype):
    rng = np.random.default_rng(400 + int(gtype))
    pool = _native.ThreadPool(1)
    b = ACT[gtype][1]
    for M, K, N in [(1, 8 * b, 45), (6, 2 * b, 21), (9, b, 33)]:
        x = rng.standard_normal((M, K)).astype(np.float32)
        w = random_weights(rng, gtype, N, K)
        isa("scalar")
        want = _native.matmul(pool, x, w, int(gtype), N, flags=INT8)
        _, mag, _, _ = int8_reference(x, w, gtype, N)
        for level in LEVELS:
            isa(level)
            got = _native.matmul(pool, x, w, int(gtype), N, flags=INT8)
            assert np.all(np.abs(got - want) <= 2e-6 * mag + 1e-30), (level, gtype.name, M)


@pytest.mark.parametrize("level", LEVELS)
def test_two_threads_give_identical_results(isa, level):
    isa(level)
    rng = np.random.default_rng(17)
    for gtype in QUANT_TYPES:
        b = ACT[gtype][1]
        for M, K, N in [(1, 2 * b, 70), (7, b, 53)]:
            x = rng.standard_normal((M, K)).astype(np.float32)
            w = random_weights(rng, gtype, N, K)
            bias = rng.standard_normal(N).astype(np.float32)
            one = _native.matmul(_native.ThreadPool(1), x, w, int(gtype), N, bias, flags=INT8)
            two = _native.matmul(_native.ThreadPool(2), x, w, int(gtype), N, bias, flags=INT8)
            assert np.array_equal(one.view(np.uint32), two.view(np.uint32)), (level, gtype.name, M)


@pytest.mark.parametrize("level", LEVELS)
def test_path_is_int8_only_for_block_quantized_weights_with_the_flag(isa, level):
    isa(level)
    for gtype in QUANT_TYPES:
        assert _native.matmul_path(int(gtype), INT8) == "int8"
        assert _native.matmul_path(int(gtype), 0) == "f32"
    for gtype in FLOAT_TYPES:
        assert _native.matmul_path(int(gtype), INT8) == "f32"


def test_int8_flag_leaves_float_weights_exact():
    rng = np.random.default_rng(5)
    pool = _native.ThreadPool(1)
    x = rng.standard_normal((3, 64)).astype(np.float32)
    w = rng.standard_normal((9, 64)).astype(np.float32)
    exact = _native.matmul(pool, x, w.view(np.uint8).reshape(-1), int(GT.F32), 9)
    flagged = _native.matmul(pool, x, w.view(np.uint8).reshape(-1), int(GT.F32), 9, flags=INT8)
    assert np.array_equal(exact, flagged)


@pytest.mark.parametrize("flags", [0, 1])
def test_group_equals_separate_matmuls(flags):
    """gn_matmul_group (a decoder layer's q/k/v in one pass) gives the separate calls' bits,
    on the int8 path (x quantized once) and off it."""
    rng = np.random.default_rng(11)
    K = 512
    mats = []
    # a Q8_0 matrix takes other activation blocks: that group falls back to separate calls
    for N, gtype in ((70, GT.Q4_K), (16, GT.Q6_K), (33, GT.Q8_0)):
        w = random_weights(rng, gtype, N, K)
        mats.append((w, int(gtype), N, rng.standard_normal(N).astype(np.float32)))
    for M in (1, 5):
        x = rng.standard_normal((M, K)).astype(np.float32)
        for threads, group in ((1, mats), (2, mats), (2, mats[:2])):
            pool = _native.ThreadPool(threads)
            got = _native.matmul_group(pool, x, group, flags=flags)
            for (w, t, N, b), y in zip(group, got):
                want = _native.matmul(pool, x, w, t, N, b, flags=flags)
                assert np.array_equal(y.view(np.uint32), want.view(np.uint32))


def test_decode_rows_come_out_whatever_the_thread_count():
    """A decode GEMV (one x row) gives each thread a range of its matrices' rows, which the
    others help finish from the end (matmul_q8.c, gemv_range): every row comes out, as the
    float64 reference has it and with the same bits at every thread count, at counts that split
    ranges mid-matrix and unevenly, and past the most ranges (gemv_ranges.h), whose extra
    tasks only help."""
    rng = np.random.default_rng(12)
    K = 256
    group = [(random_weights(rng, gtype, N, K), int(gtype), N, None)
             for N, gtype in ((1000, GT.Q4_K), (70, GT.Q6_K), (130, GT.Q4_K))]
    x = rng.standard_normal((1, K)).astype(np.float32)
    want = _native.matmul_group(_native.ThreadPool(1), x, group, flags=INT8)
    for (w, gtype, N, _), y in zip(group, want):
        ref, mag, _, _ = int8_reference(x, w, GT(gtype), N)
        assert np.all(np.abs(y - ref) <= 2e-6 * mag + 1e-30), N
    for threads in (2, 3, 4, 7, 65):
        got = _native.matmul_group(_native.ThreadPool(threads), x, group, flags=INT8)
        for y, w in zip(got, want):
            assert np.array_equal(y.view(np.uint32), w.view(np.uint32)), threads


def test_group_arguments_are_checked():
    pool = _native.ThreadPool(1)
    w = random_weights(np.random.default_rng(0), GT.Q4_K, 4, 256)
    x = np.ones((1, 256), np.float32)
    with pytest.raises(ValueError, match="1..4 matrices"):
        _native.matmul_group(pool, x, [(w, 12, 4, None)] * 5)
    with pytest.raises(ValueError, match="matmul group"):  # 5 rows claimed, 4 stored
        _native.matmul_group(pool, x, [(w, 12, 4, None), (w, 12, 5, None)], 1)
