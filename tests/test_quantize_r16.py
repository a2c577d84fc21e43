"""Float weights quantized at load to 8 bits (gn_quantize to Q8_K_R16, the fast audio stages'
layout where the active ISA has an int8 kernel for it), against independent references: the
quantization rule of csrc/quant_blocks.h written again in numpy float32, a numpy decoding of
the layout in float64, and the scalar twin of the kernel bit for bit."""
import numpy as np
import pytest
from gguf import GGMLQuantizationType as GT

from granite_native import _native
from granite_native.weights import Tensor, Weights
from test_matmul_int8 import parse_activations

INT8 = _native.matmul_flags(["int8"])
Q8_K_R16 = _native.Q8_K_R16
BLOCK = 4288  # bytes of a 16-row, 256-column block
LEVELS = [name for name in _native.ISA_NAMES if _native.isa_supported(name)]
_BEST = _native.isa_current()
WITH_KERNEL = [name for name in LEVELS
               if (_native.set_isa(name) or _native.matmul_path(Q8_K_R16, INT8) == "int8")]
_native.set_isa(_BEST)


def quantize(w):
    out = np.empty(w.shape[0] * _native.row_bytes(Q8_K_R16, w.shape[1]), np.uint8)
    _native.quantize(_native.ThreadPool(2), Q8_K_R16, w, out)
    return out


def reference_bytes(w):
    """The rule of quant_blocks.h in float32 numpy: d, scales and quants per 16-row block."""
    N, K = w.shape
    sub = w.reshape(N // 16, 16, K // 256, 8, 32).transpose(0, 2, 3, 1, 4)  # [g, i, s, r, l]
    nan = np.isnan(sub).any(axis=(2, 4))  # [g, i, r]: a NaN row gets d NaN, zero quants
    sub = np.where(nan[:, :, None, :, None], np.float32(0), sub)
    amax_s = np.abs(sub).max(axis=4)  # [g, i, s, r]
    amax = amax_s.max(axis=2)  # [g, i, r]
    d = amax / np.float32(127 * 255)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.ceil(amax_s / (np.float32(127) * d[:, :, None, :]))
        sc = np.where(amax_s > 0, np.minimum(np.float32(255), ratio), 0).astype(np.float32)
        inv = np.where(sc > 0, np.float32(1) / (d[:, :, None, :] * sc), 0).astype(np.float32)
    q = np.clip(np.rint(sub * inv[..., None]), -127, 127).astype(np.int8)  # [g, i, s, r, l]
    qs = q.reshape(*q.shape[:4], 8, 4).transpose(0, 1, 2, 4, 3, 5)  # [g, i, s, v, r, j]
    g, nb = N // 16, K // 256
    d = np.where(nan, np.float32(np.nan), d)
    parts = [d.astype(np.float32), sc.astype(np.uint8), qs]
    return np.concatenate([np.ascontiguousarray(p).view(np.uint8).reshape(g, nb, -1) for p in parts],
                          axis=2).reshape(-1)


def decode(data, N, K):
    """Q8_K_R16 bytes -> float64 [N, K], as the layout's comment defines the values."""
    b = np.asarray(data).reshape(N // 16, K // 256, BLOCK)
    d = b[..., :64].copy().view(np.float32).astype(np.float64)  # [g, i, r]
    sc = b[..., 64:192].reshape(*b.shape[:2], 8, 16).astype(np.float64)  # [g, i, s, r]
    qs = b[..., 192:].copy().view(np.int8).reshape(*b.shape[:2], 8, 8, 16, 4)  # [g, i, s, v, r, j]
    vals = d[:, :, None, None, :, None] * sc[:, :, :, None, :, None] * qs
    return vals.transpose(0, 4, 1, 2, 3, 5).reshape(N, K)


def act_values(x):
    """x's rows as Q8_K quantizes them, decoded: d * q per 256 values, in float64."""
    return np.array([parse_activations("q8_k", _native.quantize_activations("q8_k", row))[0]
                     for row in x])


def weights(rng, N, K):
    """Rows of very different magnitudes, a tiny sub-block and an all-zero one."""
    w = (rng.standard_normal((N, K)) * rng.uniform(0.01, 3, size=(N, 1))).astype(np.float32)
    w[1, 32:64] *= 1e-4
    w[2, :32] = 0
    w[3, :256] = 0
    return w


def test_quantizer_follows_the_rule_bit_for_bit():
    rng = np.random.default_rng(81)
    for N, K in [(16, 256), (48, 512), (32, 1024)]:
        w = weights(rng, N, K)
        w[4, 77] = np.nan  # row 4's first 256 values: d NaN, zero quants
        assert np.array_equal(quantize(w), reference_bytes(w)), (N, K)
        assert np.isnan(decode(quantize(w), N, K)[4, :256]).all()


def test_values_are_within_half_a_step():
    rng = np.random.default_rng(82)
    N, K = 64, 768
    w = weights(rng, N, K)
    got = decode(quantize(w), N, K)
    amax_s = np.abs(w.reshape(N, K // 32, 32)).max(axis=2, keepdims=True).astype(np.float64)
    amax = amax_s.reshape(N, K // 256, 8).max(axis=2).repeat(8, axis=1)[..., None]
    # the step d * ceil(amax_s / (127 d)) is under amax_s / 127 + d, d = amax / (127 * 255)
    step = amax_s / 127 + amax / (127 * 255)
    err = np.abs(got - w).reshape(N, K // 32, 32)
    assert np.all(err <= 0.5 * step * (1 + 1e-6))
    assert np.all(got[3, :256] == 0) and np.all(got[2, :32] == 0)


def test_scalar_twin_matches_float64_reference():
    """The twin on any CPU, kernel or not: exact integer sums, float steps within rounding."""
    rng = np.random.default_rng(87)
    M, K, N = 5, 512, 32
    x = (rng.standard_normal((M, K)) * rng.uniform(0.1, 10, size=(M, 1))).astype(np.float32)
    wq = quantize(weights(rng, N, K))
    xq = np.concatenate([_native.quantize_activations("q8_k", row) for row in x])
    twin = _native.gemm_r16_scalar(Q8_K_R16, xq, M, wq, N, K)
    ref = act_values(x) @ decode(wq, N, K).T
    mag = np.abs(act_values(x)) @ np.abs(decode(wq, N, K)).T
    assert np.all(np.abs(twin - ref) <= 2e-6 * mag + 1e-30)


@pytest.mark.parametrize("level", WITH_KERNEL)
def test_a_nan_weight_reaches_its_output_only(isa, level):
    """As with float weights, a NaN weight makes its own output NaN for every x row, and no
    other: the rule's NaN d survives the kernel's integer sums."""
    isa(level)
    rng = np.random.default_rng(84)
    w = weights(rng, 32, 512)
    w[5, 300] = np.nan
    x = rng.standard_normal((7, 512)).astype(np.float32)
    y = _native.matmul(_native.ThreadPool(2), x, quantize(w), Q8_K_R16, 32, flags=INT8)
    assert np.isnan(y[:, 5]).all() and np.isfinite(np.delete(y, 5, axis=1)).all()


@pytest.mark.parametrize("level", WITH_KERNEL)
def test_matmul_matches_float64_reference_and_twin(isa, level):
    isa(level)
    rng = np.random.default_rng(83)
    for M, K, N in [(1, 256, 16), (3, 512, 48), (6, 768, 32), (13, 256, 64),
                    (70, 256, 48)]:  # with a bias, x rows go 32 at a time
        x = (rng.standard_normal((M, K)) * rng.uniform(0.1, 10, size=(M, 1))).astype(np.float32)
        x[-1, :256] = 0  # an all-zero activation block
        w = weights(rng, N, K)
        wq = quantize(w)
        ref = act_values(x) @ decode(wq, N, K).T
        mag = np.abs(act_values(x)) @ np.abs(decode(wq, N, K)).T
        bias = rng.standard_normal(N).astype(np.float32)
        xq = np.concatenate([_native.quantize_activations("q8_k", row) for row in x])
        twin = _native.gemm_r16_scalar(Q8_K_R16, xq, M, wq, N, K)
        for threads in (1, 2):
            y = _native.matmul(_native.ThreadPool(threads), x, wq, Q8_K_R16, N, bias, flags=INT8)
            # the block sums are exact integers: only the float steps differ from float64
            assert np.all(np.abs(y - (ref + bias)) <= 2e-6 * mag + 1e-6 * np.abs(bias) + 1e-30)
            # the kernel gives the twin's bits; the bias is one float32 addition after it
            assert np.array_equal(y.view(np.uint32), (twin + bias).view(np.uint32)), (level, M, K, N)


@pytest.mark.parametrize("level", WITH_KERNEL)
def test_extreme_quants_keep_the_twins_sums(isa, level):
    """Every quant at +-127 and every scale at 255: the largest sums the kernels' integer
    steps meet (AVX-512 offsets W by 128 and takes it off again)."""
    isa(level)
    M, K, N = 5, 512, 32
    w = np.where(np.arange(N)[:, None] % 3 == 0, -1.0, 1.0) * np.ones((N, K))
    x = np.where(np.arange(M)[:, None] % 2 == 0, 1.0, -1.0) * np.ones((M, K))
    wq = quantize(w.astype(np.float32))
    x = x.astype(np.float32)
    xq = np.concatenate([_native.quantize_activations("q8_k", row) for row in x])
    twin = _native.gemm_r16_scalar(Q8_K_R16, xq, M, wq, N, K)
    np.testing.assert_allclose(twin, x @ w.T.astype(np.float32), rtol=1e-6)
    y = _native.matmul(_native.ThreadPool(2), x, wq, Q8_K_R16, N, flags=INT8)
    assert np.array_equal(y.view(np.uint32), twin.view(np.uint32)), level


@pytest.mark.parametrize("level", WITH_KERNEL)
def test_rows_do_not_depend_on_batch_or_threads(isa, level):
    isa(level)
    rng = np.random.default_rng(84)
    K, N = 512, 272  # 17 blocks of 16 rows: uneven over threads and panels
    wq = quantize(weights(rng, N, K))
    x = rng.standard_normal((11, K)).astype(np.float32)
    batch = _native.matmul(_native.ThreadPool(2), x, wq, Q8_K_R16, N, flags=INT8)
    for m in (0, 5, 10):
        alone = _native.matmul(_native.ThreadPool(1), x[m:m + 1].copy(), wq, Q8_K_R16, N, flags=INT8)
        assert np.array_equal(alone[0].view(np.uint32), batch[m].view(np.uint32)), m


def test_layout_is_rejected_where_it_cannot_be_used(isa):
    rng = np.random.default_rng(85)
    K, N = 256, 32
    w = weights(rng, N, K)
    wq = quantize(w)
    x = rng.standard_normal((2, K)).astype(np.float32)
    pool = _native.ThreadPool(1)
    with pytest.raises(ValueError, match="unsupported"):  # the exact path cannot read it
        _native.matmul(pool, x, wq, Q8_K_R16, N)
    with pytest.raises(ValueError, match="unsupported"):
        _native.dequantize(Q8_K_R16, wq[:BLOCK], 256)
    with pytest.raises(ValueError, match="groups of 16"):
        _native.quantize(pool, Q8_K_R16, w[:8].copy(), np.empty(8 * 268, np.uint8))
    with pytest.raises(ValueError, match="whole"):  # columns not whole 256-value blocks
        _native.quantize(pool, Q8_K_R16, w[:, :128].copy(), np.empty(N * 134, np.uint8))
    with pytest.raises(ValueError, match="bytes"):
        _native.quantize(pool, Q8_K_R16, w, np.empty(wq.nbytes - 1, np.uint8))
    for level in LEVELS:
        isa(level)
        if level not in WITH_KERNEL:  # a table without the kernel: the int8 flag cannot reach it
            with pytest.raises(ValueError, match="unsupported"):
                _native.matmul(pool, x, wq, Q8_K_R16, N, flags=INT8)


def test_weights_quantize_float_matrices_only_where_asked_and_able(isa):
    rng = np.random.default_rng(86)
    w = weights(rng, 32, 512)
    tensors = [Tensor("w", int(GT.F32), (512, 32), (32, 512), w.reshape(-1).view(np.uint8)),
               Tensor("odd", int(GT.F32), (512, 8), (8, 512), w[:8].reshape(-1).view(np.uint8)),
               Tensor("narrow", int(GT.F32), (128, 32), (32, 128),
                      w[:, :128].copy().reshape(-1).view(np.uint8))]
    pool = _native.ThreadPool(2)
    for level in LEVELS:
        isa(level)
        wt = Weights(tensors)
        assert wt.operand("w", INT8, pool).type == int(GT.F32)  # not asked to quantize
        assert wt.operand("w", 0, pool, quantize=True).type == int(GT.F32)  # exact arithmetic
        assert wt.operand("odd", INT8, pool, quantize=True).type == int(GT.F32)  # 8 rows
        assert wt.operand("narrow", INT8, pool, quantize=True).type == int(GT.F32)  # 128 columns
        t = wt.operand("w", INT8, pool, quantize=True)
        if level in WITH_KERNEL:
            assert t.type == Q8_K_R16 and t.shape == (32, 512)
            assert np.array_equal(np.asarray(t.data), reference_bytes(w))
        else:
            assert t.type == int(GT.F32)
    assert all(level in WITH_KERNEL for level in ("avx2", "avx512") if level in LEVELS)
    assert "amx" not in WITH_KERNEL  # the bfloat16 tiles are faster than 8-bit weights there


def test_fastest_precision_quantizes_the_audio_stages_where_a_kernel_exists(isa):
    """The tiny fixture's 256-column encoder matrices (its FFN down projections) take the 8-bit
    layout under "fastest" only, and the encoder stays within the fast paths' bound of the
    transformers reference of the same file."""
    from pathlib import Path

    import granite_native as gn
    from granite_native.parity import compare

    data = Path(__file__).resolve().parent / "data"
    with np.load(data / "reference" / "tiny-q4_k-speech3s.npz") as z:
        mel, want = z["mel"], z["encoder_out"]
    for level in LEVELS:
        isa(level)
        for precision in ("fast", "fastest"):
            with gn.Model(data / "crispasr" / "tiny-q4_k.gguf", threads=2, precision=precision) as m:
                types = {t.type for t in m.encoder.matrices()}
                quantized = precision == "fastest" and level in WITH_KERNEL
                assert (Q8_K_R16 in types) == quantized, (level, precision)
                assert ("int8" in m.matmul_paths()["encoder"]) == quantized
                got = compare("encoder_out", m.encode(mel), want, 0.999)
                assert got.ok, (level, precision, got.cos_min)
