"""The model operations' row kernels at every instruction set this machine runs, against numpy
float64 and against the scalar twin (libm exp/erf, double statistics).

Measured on the AVX-512 development machine (Zen 4), max error against float64 in float32 ulps
of the exact value (differences below 2^-126 count as none), AVX-512 and AVX2 alike: silu 2.26,
sigmoid 2.04, glu 2.42, swiglu 2.65, gelu_erf 4.44 (polynomial exp, and erf / e^(x^2/2) erfc
fits). The libm scalar twin: silu 2.52, sigmoid 1.82, glu 2.54, swiglu 2.80; its gelu is
libm's 1 + erff(z), which cancels in the negative tail (as PyTorch's does), so it is held to
an absolute bound there. The bounds below are these rounded up."""
import math

import numpy as np
import pytest

from granite_native import _native as N

ISAS = [name for name in N.ISA_NAMES if N.isa_supported(name)]
SIMD = [name for name in ISAS if name != "scalar"]
TINY = 2.0 ** -126
EPS = 2.0 ** -24  # float32 unit roundoff
rng = np.random.default_rng(11)


@pytest.fixture(scope="module")
def pool():
    p = N.ThreadPool(2)
    yield p
    p.close()


@pytest.fixture(autouse=True)
def restore_isa():
    before = N.isa_current()
    yield
    N.set_isa(before)


def ulps(got, want):
    """|got - want| in float32 ulps of want; differences below 2^-126 count as none."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    err = np.abs(got - want)
    err[err <= TINY] = 0
    return err / np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)


def test_every_supported_isa_is_checked():
    assert "scalar" in ISAS and N.isa_best() in ISAS


def act_inputs():
    """Normal values, a fine sweep through exp's whole range, the far tails and signed zeros."""
    return np.concatenate([
        rng.standard_normal(4099) * 4,
        np.linspace(-110, 100, 20011),
        [0.0, -0.0, 1e-30, -1e-30, 88.7, 88.8, -87.4, -103.9, -104.5, 1e4, -1e4, 3e38, -3e38],
    ]).astype(np.float32)


SIG = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
ERFC = np.vectorize(math.erfc)  # 1 + erf(z) = erfc(-z) keeps float64 exact in the far tail
REFERENCE = {
    "silu": lambda x: x * SIG(x),
    "sigmoid": SIG,
    "gelu_erf": lambda x: 0.5 * x * ERFC(-x / math.sqrt(2)),
}
ULP_BOUND = {"silu": 3, "sigmoid": 3, "gelu_erf": 5}


def run_activation(pool, isa, name, x):
    N.set_isa(isa)
    out = np.empty_like(x)
    with np.errstate(over="ignore"):
        N.activation(pool, name, x, out)
    return out


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("isa", ISAS)
def test_activation_against_float64(pool, isa, name):
    x = act_inputs()
    with np.errstate(over="ignore"):
        want = REFERENCE[name](x.astype(np.float64))
    got = run_activation(pool, isa, name, x)
    assert np.isfinite(got).all()
    if isa == "scalar" and name == "gelu_erf":  # 1 + erff(z) cancels for z << 0, as in PyTorch
        np.testing.assert_allclose(got, want, rtol=4 * EPS, atol=2e-7)
    else:
        assert ulps(got, want).max() <= ULP_BOUND[name], f"{isa} {name}"


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("isa", SIMD)
def test_activation_against_scalar_twin(pool, isa, name):
    x = act_inputs()
    twin = run_activation(pool, "scalar", name, x)
    got = run_activation(pool, isa, name, x)
    if name == "gelu_erf":
        np.testing.assert_allclose(got, twin, rtol=8 * EPS, atol=2e-7)
    else:
        assert ulps(got, twin).max() <= 2 * ULP_BOUND[name]


@pytest.mark.parametrize("isa", ISAS)
def test_activation_tails_and_lengths(pool, isa):
    x = np.array([-100, 100, -1e30, 1e30, -88.8, 88.8, np.inf], np.float32)
    silu, sig = run_activation(pool, isa, "silu", x), run_activation(pool, isa, "sigmoid", x)
    np.testing.assert_array_equal(sig[[1, 3, 5, 6]], 1.0)
    assert (sig[[0, 2]] >= 0).all() and (sig[[0, 2]] < 1e-43).all()
    np.testing.assert_array_equal(silu[[1, 3, 5, 6]], x[[1, 3, 5, 6]])
    assert (np.abs(silu[[0, 2, 4]]) < 1e-30).all()
    nan = run_activation(pool, isa, "silu", np.array([np.nan, 1.0], np.float32))
    assert np.isnan(nan[0]) and nan[1] == pytest.approx(1 / (1 + math.exp(-1)), rel=3 * EPS)
    # every length around the vector widths: the partial tail is computed and nothing past it written
    for n in range(1, 40):
        buf = np.full(n + 8, 7.0, np.float32)
        src = rng.standard_normal(n).astype(np.float32)
        N.activation(pool, "sigmoid", src, buf[:n])
        assert ulps(buf[:n], SIG(src.astype(np.float64))).max() <= ULP_BOUND["sigmoid"]
        np.testing.assert_array_equal(buf[n:], 7.0)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("c", [1, 5, 16, 33, 4096])
def test_glu_swiglu(pool, isa, c):
    N.set_isa(isa)
    x = (rng.standard_normal((3, 2 * c)) * 6).astype(np.float32)
    x[0, 0], x[0, -1] = 100.0, -100.0  # a gate far in exp's tail
    out = np.empty((3, c), np.float32)
    N.glu(pool, x, out)
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore"):
        assert ulps(out, x64[:, :c] * SIG(x64[:, c:])).max() <= 3
        g, u = x[:, :c].copy(), x[:, c:].copy()
        sw = np.empty_like(g)
        N.swiglu(pool, g, u, sw)
        assert ulps(sw, x64[:, :c] * SIG(x64[:, :c]) * x64[:, c:]).max() <= 4


def softmax64(x):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("n", [1, 3, 7, 8, 15, 16, 17, 33, 348])
def test_softmax(pool, isa, n):
    N.set_isa(isa)
    x = (rng.standard_normal((5, n)) * 10).astype(np.float32)
    x[1, ::2] = -1e30  # far below the rest: exp underflows to exactly 0, never inf - inf
    x[2, 1::3] = -np.inf
    x[3] = -3e38  # a row of equal huge negatives is uniform
    x64 = np.where(np.isinf(x), -1e300, x.astype(np.float64))
    want = softmax64(x64)
    got = x.copy()
    N.softmax(pool, got)
    assert np.isfinite(got).all()
    # a few roundings of each probability's own size, plus the float32 rounding of x - max,
    # which exp turns into a relative error of |x - max| units
    spread = np.minimum(np.abs(x64 - x64.max(1, keepdims=True)), 200)
    assert (np.abs(got - want) <= EPS * want * (8 + spread) + 1e-45).all()
    if n > 1:
        np.testing.assert_array_equal(got[1, ::2], 0.0)
        np.testing.assert_array_equal(got[2, 1::3], 0.0)
    np.testing.assert_allclose(got[3], 1 / n, rtol=4 * EPS)


def norm_bound(x, w, b=None):
    """A few roundings of the float32 inputs' scale, carried through 1/std."""
    x64 = x.astype(np.float64)
    std = x64.std(1, keepdims=True)
    scale = (np.abs(x64).max(1, keepdims=True) / std + 4) * np.abs(w).max()
    return 2 * EPS * scale + (2 * EPS * np.abs(b).max() if b is not None else 0)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("d,mean", [(1, 0.0), (7, 0.0), (17, 3.0), (1024, 100.0), (2048, 1000.0)])
def test_layernorm_rows(pool, isa, d, mean):
    N.set_isa(isa)
    x = (rng.standard_normal((4, d)) + mean).astype(np.float32)
    w, b = rng.standard_normal(d).astype(np.float32), rng.standard_normal(d).astype(np.float32)
    out = np.empty_like(x)
    N.layernorm(pool, x, w, b, 1e-5, out)
    x64 = x.astype(np.float64)
    want = (x64 - x64.mean(1, keepdims=True)) / np.sqrt(x64.var(1, keepdims=True) + 1e-5) * w + b
    if d == 1:
        np.testing.assert_allclose(out, want, rtol=4 * EPS, atol=4 * EPS)
    else:
        assert (np.abs(out - want) <= norm_bound(x, w, b)).all()


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("d", [1, 5, 16, 31, 2048])
def test_rmsnorm_rows(pool, isa, d):
    N.set_isa(isa)
    x = (rng.standard_normal((3, d)) * 50).astype(np.float32)
    w = rng.standard_normal(d).astype(np.float32)
    out = np.empty_like(x)
    N.rmsnorm(pool, x, w, 1e-5, out)
    x64 = x.astype(np.float64)
    want = x64 / np.sqrt((x64 ** 2).mean(1, keepdims=True) + 1e-5) * w
    rms = np.sqrt((x64 ** 2).mean(1, keepdims=True))
    assert (np.abs(out - want) <= 4 * EPS * np.abs(x64 * w).max(1, keepdims=True) / rms).all()


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("T,C,k", [(1, 1, 1), (5, 7, 3), (53, 24, 15), (9, 33, 15), (40, 17, 33), (20, 2048, 15)])
def test_conv_dw(pool, isa, T, C, k):
    N.set_isa(isa)
    x, w = rng.standard_normal((T, C)).astype(np.float32), rng.standard_normal((C, k)).astype(np.float32)
    out = np.full((T, C), np.nan, np.float32)
    N.conv_dw(pool, x, w, out)
    xp = np.pad(x.astype(np.float64), ((k // 2, k // 2), (0, 0)))
    want = sum(w[:, j] * xp[j:j + T] for j in range(k))
    mag = sum(np.abs(w[:, j]) * np.abs(xp[j:j + T]) for j in range(k))
    assert (np.abs(out - want) <= k * EPS * mag).all()


@pytest.mark.parametrize("isa", SIMD)
def test_row_kernels_against_scalar_twin(pool, isa):
    x = (rng.standard_normal((6, 333)) * 3 + 2).astype(np.float32)
    w, b = rng.standard_normal(333).astype(np.float32), rng.standard_normal(333).astype(np.float32)
    cw = rng.standard_normal((333, 15)).astype(np.float32)
    outs = {}
    for which in ("scalar", isa):
        N.set_isa(which)
        ln, rms, sm, cv = (np.empty_like(x) for _ in range(4))
        N.layernorm(pool, x, w, b, 1e-5, ln)
        N.rmsnorm(pool, x, w, 1e-5, rms)
        np.copyto(sm, x)
        N.softmax(pool, sm)
        N.conv_dw(pool, x, cw, cv)
        outs[which] = (ln, rms, sm, cv)
    for name, a, s in zip(("layernorm", "rmsnorm", "softmax", "conv_dw"), outs[isa], outs["scalar"]):
        np.testing.assert_allclose(a, s, rtol=0, atol=64 * EPS * np.abs(s).max(), err_msg=name)


def block_attention64(q, k, v, H, block, rel, scale):
    """Block-local attention with Shaw rel-pos on the query side, in float64, straight from
    gn_ops.h's formula (a padded, masked HF formulation is in test_ops.py)."""
    T, W = q.shape
    dh, max_pos = W // H, rel.shape[0] // 2
    q, k, v, rel = (a.astype(np.float64) for a in (q, k, v, rel))
    out = np.zeros((T, W))
    for t0 in range(0, T, block):
        n = min(block, T - t0)
        dist = np.arange(n)[:, None] - np.arange(n)[None, :] + max_pos
        for h in range(H):
            sl = slice(h * dh, (h + 1) * dh)
            qb, kb, vb = q[t0:t0 + n, sl], k[t0:t0 + n, sl], v[t0:t0 + n, sl]
            s = scale * (qb @ kb.T + np.einsum("cd,crd->cr", qb, rel[dist]))
            out[t0:t0 + n, sl] = softmax64(s) @ vb
    return out


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("T,block", [(1, 24), (50, 24), (61, 20), (23, 31)])
def test_block_relpos_attention_per_isa(pool, isa, T, block):
    N.set_isa(isa)
    H, dh, max_pos = 2, 20, 30
    q, k, v = (rng.standard_normal((T, H * dh)).astype(np.float32) for _ in range(3))
    rel = rng.standard_normal((2 * max_pos + 1, dh)).astype(np.float32)
    out = np.full_like(q, np.nan)
    N.attention_block_relpos(pool, q, k, v, H, block, rel, dh ** -0.5, out)
    want = block_attention64(q, k, v, H, block, rel, dh ** -0.5)
    # measured at most 3.5e-7 of the largest output (scores round at 2^-24 of |q||k|, and exp
    # passes that on into the weights)
    np.testing.assert_allclose(out, want, rtol=0, atol=2e-6 * np.abs(want).max())


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dh", [16, 72, 128])  # the mix's 4-vector blocks, its tails, the LLM's
def test_gqa_attention_per_isa(pool, isa, dh):
    """Causal GQA attention (the decoder's, one query row as in decode and a block as in
    prefill) at every level against float64 from its formula; the value rows' weighted sum
    runs in the level's own mix kernel."""
    from test_ops import ref_attention
    N.set_isa(isa)
    H, Hkv, pos0 = 8, 2, 37
    for Lq in (1, 6):
        Lk = pos0 + Lq
        q = rng.standard_normal((1, Lq, H * dh)).astype(np.float32)
        k, v = (rng.standard_normal((1, Lk, Hkv * dh)).astype(np.float32) for _ in range(2))
        out = np.full_like(q, np.nan)
        N.attention(pool, q, k, v, H, Hkv, dh ** -0.5, pos0, out)
        want = ref_attention(q, k, v, H, Hkv, dh ** -0.5, pos0)
        np.testing.assert_allclose(out, want, rtol=0, atol=2e-6 * np.abs(want).max())
        # a float16 cache: the level's F16 GEMV and mix widen its values as they load them
        k16, v16 = k.astype(np.float16), v.astype(np.float16)
        N.attention(pool, q, k16, v16, H, Hkv, dh ** -0.5, pos0, out)
        want = ref_attention(q, k16, v16, H, Hkv, dh ** -0.5, pos0)
        np.testing.assert_allclose(out, want, rtol=0, atol=2e-6 * np.abs(want).max())


def f16_inputs():
    """Values across float16's range, every tie between neighbouring float16 values of a sweep
    (round to even decides them), the overflow edge, the subnormals and their underflow edge,
    and the specials."""
    h = np.arange(0, 0x7c00, 7, dtype=np.uint16).view(np.float16).astype(np.float64)
    above = np.nextafter(h[:-1].astype(np.float16), np.float16(np.inf)).astype(np.float64)
    ties = (h[:-1] + above) / 2
    edges = [65504.0, 65519.99, 65520.0, 1e6, 6.1e-5, 5.96e-8, 2.98e-8, 2.9802322387695312e-08,
             2.99e-8, 1e-9, 1e-40, 0.0, -0.0, np.inf, -np.inf]
    x = np.concatenate([rng.standard_normal(999) * 10.0 ** rng.integers(-8, 6, 999),
                        h, ties, edges])
    return np.concatenate([x, -x]).astype(np.float32)


@pytest.mark.parametrize("isa", ISAS)
def test_to_f16_rounds_like_numpy(isa):
    """The float16 cache's conversion: bit for bit numpy's (round to nearest even, overflow to
    inf, subnormals kept), at every length around the vector widths."""
    N.set_isa(isa)
    x = f16_inputs()
    with np.errstate(over="ignore"):
        want = x.astype(np.float16)
    np.testing.assert_array_equal(N.to_f16(x).view(np.uint16), want.view(np.uint16))
    for n in range(40):
        np.testing.assert_array_equal(N.to_f16(x[:n]).view(np.uint16), want[:n].view(np.uint16))
    nan = N.to_f16(np.array([np.nan, -np.nan, 1.0], np.float32))
    assert np.isnan(nan[:2]).all() and nan[2] == 1.0
