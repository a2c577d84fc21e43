"""Model operations against float64 numpy written from the spec's formulas."""
import math

import numpy as np
import pytest

from granite_native import _native as N

rng = np.random.default_rng(7)


def randn(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


@pytest.fixture(scope="module", params=[1, 2])
def pool(request):
    p = N.ThreadPool(request.param)
    yield p
    p.close()


def assert_close(got, want, tol):
    want = np.asarray(want, dtype=np.float64)
    err = np.abs(got.astype(np.float64) - want).max() / max(1e-30, np.abs(want).max())
    assert err < tol, f"relative error {err:.3g} >= {tol}"


def test_layernorm(pool):
    x, w, b = randn(37, 96, scale=3) + 5, randn(96), randn(96)
    out = np.empty_like(x)
    N.layernorm(pool, x, w, b, 1e-5, out)
    x64 = x.astype(np.float64)
    ref = (x64 - x64.mean(1, keepdims=True)) / np.sqrt(x64.var(1, keepdims=True) + 1e-5) * w + b
    assert_close(out, ref, 1e-6)
    N.layernorm(pool, x, w, b, 1e-5, x)  # in place
    np.testing.assert_array_equal(x, out)


def test_rmsnorm(pool):
    x, w = randn(5, 64, scale=4), randn(64)
    out = np.empty_like(x)
    N.rmsnorm(pool, x, w, 1e-5, out)
    x64 = x.astype(np.float64)
    assert_close(out, x64 / np.sqrt((x64**2).mean(1, keepdims=True) + 1e-5) * w, 1e-6)


@pytest.mark.parametrize("name", ["silu", "gelu_erf", "sigmoid"])
def test_activations(pool, name):
    x = randn(40000, scale=4)  # several chunks
    out = np.empty_like(x)
    N.activation(pool, name, x, out)
    x64 = x.astype(np.float64)
    sig = 1 / (1 + np.exp(-x64))
    ref = {"silu": x64 * sig, "sigmoid": sig,
           "gelu_erf": 0.5 * x64 * (1 + np.vectorize(math.erf)(x64 / math.sqrt(2)))}[name]
    np.testing.assert_allclose(out, ref, rtol=2e-6, atol=2e-7)


def test_glu_swiglu_softmax(pool):
    x = randn(9, 2 * 33)
    out = np.empty((9, 33), np.float32)
    N.glu(pool, x, out)
    x64 = x.astype(np.float64)
    assert_close(out, x64[:, :33] / (1 + np.exp(-x64[:, 33:])), 1e-6)
    g, u = randn(4, 50, scale=3), randn(4, 50)
    sw = np.empty_like(g)
    N.swiglu(pool, g, u, sw)
    g64 = g.astype(np.float64)
    assert_close(sw, g64 / (1 + np.exp(-g64)) * u, 1e-6)
    s = randn(6, 301, scale=10)
    ref = np.exp(s.astype(np.float64) - s.max(1, keepdims=True))
    N.softmax(pool, s)
    assert_close(s, ref / ref.sum(1, keepdims=True), 1e-6)


def test_conv_dw(pool):
    T, C, k = 53, 24, 15
    x, w = randn(T, C), randn(C, k)
    out = np.empty_like(x)
    N.conv_dw(pool, x, w, out)
    xp = np.pad(x.astype(np.float64), ((k // 2, k // 2), (0, 0)))
    ref = sum(w[:, j] * xp[j:j + T] for j in range(k))
    assert_close(out, ref, 1e-6)
    with pytest.raises(ValueError):
        N.conv_dw(pool, x, randn(C, 4), out)  # even kernel has no symmetric padding


@pytest.mark.parametrize("T", [53, 7, 40])  # a short last task of frames, fewer than one, whole
def test_conv_dw_with_batch_norm_and_silu(pool, T):
    """The conv module's conv -> folded batch norm -> SiLU in one call: the float64 formula,
    and bit for bit the three steps one after another (which the exact path ran before)."""
    C, k = 40, 15
    x, w, scale, shift = randn(T, C), randn(C, k), randn(C), randn(C)
    out = np.empty_like(x)
    N.conv_dw(pool, x, w, out, scale, shift, "silu")
    xp = np.pad(x.astype(np.float64), ((k // 2, k // 2), (0, 0)))
    z = sum(w[:, j] * xp[j:j + T] for j in range(k)) * scale + shift
    assert_close(out, z / (1 + np.exp(-z)), 1e-6)
    steps = np.empty_like(x)
    N.conv_dw(pool, x, w, steps)
    steps *= scale
    steps += shift
    N.activation(pool, "silu", steps.reshape(-1), steps.reshape(-1))
    assert np.array_equal(out, steps)
    with pytest.raises(ValueError):
        N.conv_dw(pool, x, w, out, scale, None)
    with pytest.raises(ValueError):
        N.conv_dw(pool, x, w, out, scale[:-1], shift)
    with pytest.raises(ValueError):
        N.conv_dw(pool, x, w, out, act="tanh")


@pytest.mark.parametrize("alpha", [1.0, 0.5, -2.3])
def test_add_scaled_is_numpys_residual_add(pool, alpha):
    for shape in [(3, 5), (550, 1024), (1, 16385)]:  # one chunk, many, one past a chunk
        h, y = randn(*shape), randn(*shape)
        want = h.copy()
        want += np.float32(alpha) * y
        N.add_scaled(pool, h, y, alpha)
        assert np.array_equal(h, want)
    with pytest.raises(ValueError):
        N.add_scaled(pool, randn(3, 5), randn(3, 4))


def ref_block_attention(q, k, v, H, block, rel, scale):
    """The HF formulation: pad the last block, mask padded positions, Shaw rel-pos on q."""
    T, W = q.shape
    dh, max_pos = W // H, rel.shape[0] // 2
    out = np.zeros((T, W))
    for t0 in range(0, T, block):
        n = min(block, T - t0)
        for h in range(H):
            sl = slice(h * dh, (h + 1) * dh)
            qb, kb, vb = (a[t0:t0 + n, sl].astype(np.float64) for a in (q, k, v))
            c, r = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
            dist = np.clip(c - r, -block, block) + max_pos
            pos = np.einsum("cd,crd->cr", qb, rel[dist].astype(np.float64))
            s = (qb @ kb.T + pos) * scale
            p = np.exp(s - s.max(1, keepdims=True))
            out[t0:t0 + n, sl] = (p / p.sum(1, keepdims=True)) @ vb
    return out


@pytest.mark.parametrize("T", [24, 50, 7])
def test_block_relpos_attention(pool, T):
    H, dh, block, max_pos = 4, 16, 24, 32
    q, k, v = randn(T, H * dh), randn(T, H * dh), randn(T, H * dh)
    rel = randn(2 * max_pos + 1, dh)
    out = np.empty_like(q)
    N.attention_block_relpos(pool, q, k, v, H, block, rel, dh ** -0.5, out)
    assert_close(out, ref_block_attention(q, k, v, H, block, rel, dh ** -0.5), 1e-5)
    with pytest.raises(ValueError):  # blocks longer than the table reaches
        N.attention_block_relpos(pool, q, k, v, H, 2 * max_pos, rel, 1.0, out)


def ref_attention(q, k, v, H, Hkv, scale, pos0):
    B, Lq, W = q.shape
    dh, Lk = W // H, k.shape[1]
    out = np.zeros((B, Lq, W))
    for b in range(B):
        for h in range(H):
            hk = h // (H // Hkv)
            qh = q[b, :, h * dh:(h + 1) * dh].astype(np.float64)
            kh = k[b, :, hk * dh:(hk + 1) * dh].astype(np.float64)
            vh = v[b, :, hk * dh:(hk + 1) * dh].astype(np.float64)
            s = qh @ kh.T * scale
            if pos0 >= 0:
                s[np.arange(Lq)[:, None] + pos0 < np.arange(Lk)[None, :]] = -np.inf
            p = np.exp(s - s.max(1, keepdims=True))
            out[b, :, h * dh:(h + 1) * dh] = (p / p.sum(1, keepdims=True)) @ vh
    return out


@pytest.mark.parametrize("layout", ["rows", "cache rows", "head-major cache"])
@pytest.mark.parametrize("pos0,Lq", [(-1, 3), (0, 9), (5, 4), (12, 1)])
def test_gqa_attention(pool, pos0, Lq, layout):
    """K and V as dense rows of all heads, as strided views of a larger cache of such rows, and
    as views of a head-major cache [B, Hkv, capacity, dh] (the decoder's), in float32 and in
    float16 (the reference takes the float16 values)."""
    B, H, Hkv, dh, Lk = 2, 8, 2, 16, 13 if pos0 < 0 else pos0 + Lq
    q = randn(B, Lq, H * dh)
    shape = (B, Hkv, Lk + 3, dh) if layout == "head-major cache" else (B, Lk + 3, Hkv * dh + 8)
    caches = randn(*shape), randn(*shape)

    def operand(c):  # the view of a cache that the call takes
        if layout == "head-major cache":
            return c[:, :, :Lk]
        view = c[:, :Lk, :Hkv * dh]
        return view if layout == "cache rows" else np.ascontiguousarray(view)

    def rows(a):  # [B, Lk, Hkv * dh]
        return a.transpose(0, 2, 1, 3).reshape(B, Lk, Hkv * dh) if a.ndim == 4 else a

    for dtype in (np.float32, np.float16):
        k, v = (operand(c.astype(dtype)) for c in caches)
        out = np.empty_like(q)
        N.attention(pool, q, k, v, H, Hkv, 1 / 128, pos0, out)
        assert_close(out, ref_attention(q, rows(k), rows(v), H, Hkv, 1 / 128, pos0), 1e-5)


def test_attention_rejects_overlapping_kv(pool):
    """A K view whose heads and rows overlap (neither layout) is refused, as is a 2-D one."""
    q, v = randn(1, 1, 4 * 8), randn(1, 2, 4, 8)
    k = np.lib.stride_tricks.as_strided(randn(1, 2, 4, 8), strides=(256, 16, 32, 4))
    with pytest.raises(ValueError, match="attention"):
        N.attention(pool, q, k, v, 4, 2, 1.0, -1, np.empty_like(q))
    with pytest.raises(ValueError, match="must be"):
        N.attention(pool, q, v[0, 0], v, 4, 2, 1.0, -1, np.empty_like(q))
    odd = np.lib.stride_tricks.as_strided(randn(1, 2, 4, 8), strides=(256, 128, 30, 4))
    with pytest.raises(ValueError, match="whole elements"):
        N.attention(pool, q, odd, v, 4, 2, 1.0, -1, np.empty_like(q))
    with pytest.raises(ValueError, match="float32 or float16"):
        N.attention(pool, q, v.astype(np.float64), v, 4, 2, 1.0, -1, np.empty_like(q))


def test_rope_neox():
    L, H, dh, pos0, theta = 5, 3, 16, 100, 10000.0
    x = randn(L, H * dh)
    got = x.copy()
    N.rope_neox(got, H, pos0, theta)
    half = dh // 2
    inv = theta ** -(np.arange(half) * 2 / dh)
    ang = (np.arange(L) + pos0)[:, None] * inv[None, :]
    xr = x.reshape(L, H, dh).astype(np.float64)
    a, b = xr[..., :half], xr[..., half:]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    ref = np.concatenate([a * c - b * s, b * c + a * s], -1).reshape(L, H * dh)
    np.testing.assert_allclose(got, ref, atol=2e-4 * np.abs(ref).max())
