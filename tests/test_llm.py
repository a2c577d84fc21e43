"""The decoder's native forward pass (csrc/llm.c): against a float64 numpy decoder written
from spec section 5 over the weights as the gguf package dequantizes them, prefill/decode
consistency, and its argument checks."""
from pathlib import Path
from types import SimpleNamespace

import gguf
import numpy as np
import pytest

import granite_native as gn
from granite_native import _native
from granite_native.llm import KVCache
from test_matmul_int8 import dequantized, quantized_weights

DATA = Path(__file__).parent / "data"
F16 = DATA / "crispasr" / "tiny-f16.gguf"


@pytest.fixture(scope="module")
def model():
    with gn.Model(F16, threads=2) as m:
        yield m


@pytest.fixture(scope="module")
def ref_weights():
    """name -> float64 array in the logical shape, dequantized by the gguf package."""
    r = gguf.GGUFReader(F16)
    return {t.name: gguf.dequantize(t.data, t.tensor_type).astype(np.float64)
            for t in r.tensors if t.name.startswith(("blk.", "output"))}


def ref_decoder(w, hp, x, kv_dtype=np.float32):
    """Logits [L, V] of every row of x [L, d] run causally from position 0 (float64), K and V
    rounded to float16 as a float16 cache holds them where kv_dtype says so."""
    def held(v):
        return v.astype(np.float16).astype(np.float64) if kv_dtype == np.float16 else v

    def rms(v, g):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + hp.llm_rms_norm_eps) * g

    def rope(v, heads):
        L, dh = v.shape[0], hp.llm_head_dim
        half = dh // 2
        ang = np.arange(L)[:, None] * hp.llm_rope_theta ** -(np.arange(half) * 2 / dh)
        v = v.reshape(L, heads, dh)
        c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
        a, b = v[..., :half], v[..., half:]
        return np.concatenate([a * c - b * s, b * c + a * s], -1)

    L, H, Hkv, dh = x.shape[0], hp.llm_n_heads, hp.llm_n_kv_heads, hp.llm_head_dim
    h = x.astype(np.float64) * hp.llm_embedding_multiplier
    mask = np.tril(np.ones((L, L), bool))
    for i in range(hp.llm_n_layers):
        p = f"blk.{i}."
        a = rms(h, w[p + "attn_norm.weight"])
        q = rope(a @ w[p + "attn_q.weight"].T, H)
        k = held(rope(a @ w[p + "attn_k.weight"].T, Hkv)).repeat(H // Hkv, axis=1)
        v = held((a @ w[p + "attn_v.weight"].T).reshape(L, Hkv, dh)).repeat(H // Hkv, axis=1)
        s = np.einsum("ihd,jhd->hij", q, k) * hp.llm_attention_multiplier
        s = np.where(mask, s, -np.inf)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = np.einsum("hij,jhd->ihd", s, v).reshape(L, H * dh)
        h = h + hp.llm_residual_multiplier * (o @ w[p + "attn_output.weight"].T)
        f = rms(h, w[p + "ffn_norm.weight"])
        g, u = f @ w[p + "ffn_gate.weight"].T, f @ w[p + "ffn_up.weight"].T
        h = h + hp.llm_residual_multiplier * ((g / (1 + np.exp(-g)) * u) @ w[p + "ffn_down.weight"].T)
    return rms(h, w["output_norm.weight"]) @ w["output.weight"].T / hp.llm_logits_scaling


def inputs(model, L, seed=0):
    return np.random.default_rng(seed).standard_normal((L, model.hparams.llm_d_model)).astype(np.float32) * 0.05


@pytest.mark.parametrize("kv_dtype", [np.float32, np.float16])
def test_forward_matches_float64_reference(model, ref_weights, kv_dtype):
    """Prefill of 9 rows with logits of the last 4, then 3 decode steps, all against the
    reference run over the whole sequence, with either cache."""
    x = inputs(model, 12)
    want = ref_decoder(ref_weights, model.hparams, x, kv_dtype)
    d = model.decoder
    cache = KVCache(model.hparams, 12, kv_dtype)
    got = [d.forward(model.pool, x[:9], cache, logits_rows=4)]
    got += [d.forward(model.pool, x[i:i + 1], cache) for i in range(9, 12)]
    got = np.concatenate(got)
    assert cache.length == 12
    scale = np.abs(want[5:]).max()
    np.testing.assert_allclose(got, want[5:], atol=2e-5 * scale, rtol=0)


@pytest.mark.parametrize("kv_dtype", [np.float32, np.float16])
def test_prefill_then_decode_equals_one_prefill(model, kv_dtype):
    x = inputs(model, 20, seed=1)
    d = model.decoder
    whole = KVCache(model.hparams, 20, kv_dtype)
    want = d.forward(model.pool, x, whole, logits_rows=5)
    parts = KVCache(model.hparams, 24, kv_dtype)  # the capacity must not change the result
    got = [d.forward(model.pool, x[:15], parts)]
    got += [d.forward(model.pool, x[i:i + 1], parts) for i in range(15, 20)]
    np.testing.assert_allclose(np.concatenate(got[1:]), want, atol=1e-5 * np.abs(want).max(), rtol=0)
    np.testing.assert_allclose(parts.k[:, :, :20], whole.k, atol=1e-5 * np.abs(whole.k).max(), rtol=0)


@pytest.mark.parametrize("precision, kv_dtype", [("exact", np.float32), ("fast", np.float16),
                                                 ("fastest", np.float16)])
def test_precision_picks_the_cache_type(precision, kv_dtype):
    with gn.Model(F16, threads=1, precision=precision) as m:
        cache = m.decoder.new_cache(3)
        assert cache.k.dtype == kv_dtype and cache.v.dtype == kv_dtype
        x = inputs(m, 2)
        m.decoder.forward(m.pool, x, cache)
        want = KVCache(m.hparams, 3, np.float32)
        m.decoder.forward(m.pool, x, want)
        # the first layer's rows do not depend on the cache: there they are the float32
        # cache's, rounded once to nearest even
        np.testing.assert_array_equal(cache.k[0, :, :2], want.k[0, :, :2].astype(kv_dtype))
        np.testing.assert_array_equal(cache.v[0, :, :2], want.v[0, :, :2].astype(kv_dtype))
        assert not cache.k[:, :, 2:].any()


def test_embedding_rows_and_placeholder(model):
    hp = model.hparams
    r = gguf.GGUFReader(F16)
    t = next(t for t in r.tensors if t.name == "token_embd.weight")
    table = gguf.dequantize(t.data, t.tensor_type)
    ids = [3, hp.audio_token_index, 7, 3]
    np.testing.assert_array_equal(model.decoder.embed(ids), table[[3, 0, 7, 3]])
    with pytest.raises(ValueError, match=f"token id -1 is outside the vocabulary of {hp.llm_vocab_size}"):
        model.decoder.embed([1, -1])
    with pytest.raises(ValueError, match="token id 1180591620717411303424 is outside"):
        model.decoder.embed([2 ** 70])
    assert model.decoder.embed([]).shape == (0, hp.llm_d_model)


def test_forward_arguments_are_checked(model):
    d, pool, hp = model.decoder, model.pool, model.hparams
    cache = d.new_cache(4)
    with pytest.raises(ValueError, match="KV cache holds 4 tokens; 5 needed"):
        d.forward(pool, inputs(model, 5), cache)
    d.forward(pool, inputs(model, 3), cache)
    with pytest.raises(ValueError, match="KV cache holds 4 tokens; 5 needed"):
        d.forward(pool, inputs(model, 2), cache)
    assert cache.length == 3  # a refused call leaves the cache as it was
    with pytest.raises(ValueError, match="no rows"):
        d.forward(pool, inputs(model, 0), cache)
    with pytest.raises(ValueError, match="decoder input width"):
        d.forward(pool, np.zeros((1, hp.llm_d_model + 1), np.float32), cache)
    with pytest.raises(ValueError, match="2 logits rows requested for 1 input rows"):
        d.forward(pool, inputs(model, 1), cache, logits_rows=2)
    with pytest.raises(ValueError, match="logits width"):
        d.forward(pool, inputs(model, 1), cache, out=np.empty((1, 7), np.float32))
    n = d.native
    x, logits = inputs(model, 1), np.empty((1, n.vocab), np.float32)
    with pytest.raises(ValueError, match="V cache is"):
        n.forward(pool, x, cache.k, cache.v[:, :, :3].copy(), 0, logits)
    with pytest.raises(ValueError, match="K cache is"):
        n.forward(pool, x, cache.k[:1].copy(), cache.v[:1].copy(), 0, logits)
    with pytest.raises(ValueError, match="start position -2 is negative"):
        n.forward(pool, x, cache.k, cache.v, -2, logits)
    with pytest.raises(ValueError, match="float32 or float16"):
        n.forward(pool, x, cache.k.astype(np.float64), cache.v, 0, logits)
    other = np.float32 if cache.k.dtype == np.float16 else np.float16
    with pytest.raises(ValueError, match="K cache is .* but V cache is"):
        n.forward(pool, x, cache.k, cache.v.astype(other), 0, logits)
    with pytest.raises(ValueError, match="C-contiguous"):
        n.forward(pool, x, cache.k[:, :, ::-1], cache.v, 0, logits)


def description(model, **change):
    """The arguments of _native.LLM for the model, with `change` applied: keys of the
    hyperparameters, or (layer, name) for one layer entry."""
    hp, wt = model.hparams, model.weights
    layers = []
    for i in range(hp.llm_n_layers):
        p = f"blk.{i}."
        layer = {"attn_norm": wt[p + "attn_norm.weight"].f32(), "ffn_norm": wt[p + "ffn_norm.weight"].f32()}
        for key, name in (("q", "attn_q"), ("k", "attn_k"), ("v", "attn_v"), ("o", "attn_output"),
                          ("gate", "ffn_gate"), ("up", "ffn_up"), ("down", "ffn_down")):
            t = wt[p + name + ".weight"]
            layer[key] = (t.data, t.type)
        layers.append(layer)
    out = wt["output.weight"]
    kw = dict(d_model=hp.llm_d_model, n_heads=hp.llm_n_heads, n_kv_heads=hp.llm_n_kv_heads,
              head_dim=hp.llm_head_dim, ff_dim=hp.llm_ff_dim, vocab=hp.llm_vocab_size,
              rms_eps=hp.llm_rms_norm_eps, rope_theta=hp.llm_rope_theta,
              embedding_multiplier=hp.llm_embedding_multiplier,
              attention_multiplier=hp.llm_attention_multiplier,
              residual_multiplier=hp.llm_residual_multiplier,
              logits_scaling=hp.llm_logits_scaling)
    output = (out.data, out.type)
    for key, value in change.items():
        if isinstance(key, str) and key in kw:
            kw[key] = value
        elif key == "output":
            output = value
        else:
            layer, name = key.split(".")
            layers[int(layer)][name] = value
    return (layers, wt["output_norm.weight"].f32(), output), kw


def build(model, flags=0, **change):
    args, kw = description(model, **{k.replace("__", "."): v for k, v in change.items()})
    return _native.LLM(*args, **kw, flags=flags)


def test_description_is_checked(model):
    hp, wt = model.hparams, model.weights
    build(model)  # the unchanged description is accepted
    q = wt["blk.1.attn_q.weight"]
    with pytest.raises(ValueError, match=r"layer 1 q has \d+ bytes, expected \d+ for \[\d+, \d+\] in F16"):
        build(model, **{"1__q": (q.data[:-2], q.type)})
    with pytest.raises(ValueError, match="layer 0 down has"):
        build(model, **{"0__down": (q.data, q.type)})  # a matrix of another shape
    with pytest.raises(ValueError, match="unsupported type"):
        build(model, **{"0__k": (q.data, 99)})
    with pytest.raises(ValueError, match=f"layer 0 ffn_norm has {hp.llm_d_model - 1} elements"):
        build(model, **{"0__ffn_norm": np.ones(hp.llm_d_model - 1, np.float32)})
    with pytest.raises(ValueError, match="output has"):
        build(model, vocab=hp.llm_vocab_size + 1)
    with pytest.raises(ValueError, match="do not share"):
        build(model, n_kv_heads=hp.llm_n_heads + 1)
    for bad in ({"logits_scaling": 0.0}, {"rms_eps": float("nan")}, {"rope_theta": -1.0},
                {"residual_multiplier": float("inf")}):
        with pytest.raises(ValueError, match="description rejected"):
            build(model, **bad)
    with pytest.raises(ValueError, match="description rejected"):
        build(model, flags=4)
    with pytest.raises(ValueError, match="must be positive"):
        build(model, d_model=0)


def test_float16_cache_refuses_values_beyond_its_range(model, ref_weights):
    """A K projection scaled past float16's range: the float32 cache takes its values, the
    float16 one raises OverflowError naming the way out; K values that are already not finite
    in float32 pass into either cache as they are."""
    hp = model.hparams
    k = (ref_weights["blk.0.attn_k.weight"] * 1e6).astype(np.float32)
    huge = build(model, **{"0__k": (k.reshape(-1).view(np.uint8), int(gguf.GGMLQuantizationType.F32))})
    x, logits = inputs(model, 3), np.empty((1, huge.vocab), np.float32)
    f32 = KVCache(hp, 3, np.float32)
    huge.forward(model.pool, x, f32.k, f32.v, 0, logits)
    assert np.abs(f32.k[0]).max() > 65504 and np.isfinite(logits).all()
    f16 = KVCache(hp, 3, np.float16)
    with pytest.raises(OverflowError, match="float16's range.*precision 'exact'"):
        huge.forward(model.pool, x, f16.k, f16.v, 0, logits)
    assert hp.llm_n_layers > 1 and not f16.k[1:].any()  # it stopped in the first layer
    inf = build(model, **{"0__k": ((k * np.inf).reshape(-1).view(np.uint8),
                                   int(gguf.GGMLQuantizationType.F32))})
    with np.errstate(invalid="ignore"):
        inf.forward(model.pool, x, f16.k, f16.v, 0, logits)  # non-finite in float32 too
    assert not np.isfinite(f16.k[0, :, :3]).any()


def test_non_finite_logits_stop_greedy_decoding():
    """A NaN in the KV cache (as a NaN weight would put there) reaches the logits through the
    int8 path's quantized activations, and greedy decoding raises FloatingPointError naming
    the step instead of choosing ids from NaN logits; so do NaN or +infinity logits given."""
    from granite_native.generate import greedy
    with gn.Model(DATA / "crispasr" / "tiny-q4_k.gguf", threads=2) as m:
        d, eos = m.decoder, m.hparams.llm_eos_token_id
        cache = d.new_cache(7)
        logits = d.forward(m.pool, inputs(m, 4), cache)[-1]
        assert len(greedy(m.pool, d, cache.copy(), logits, eos, 3, stop_at_eos=False).ids) == 3
        cache.v[0, 0, 1] = np.nan  # one value row of the first layer
        with pytest.raises(FloatingPointError, match="logits for new token 1 hold nan"):
            greedy(m.pool, d, cache, logits, eos, 3, stop_at_eos=False)
        for bad in (np.nan, np.inf):
            given = logits.copy()
            given[5] = bad
            with pytest.raises(FloatingPointError, match="new token 0"):
                greedy(m.pool, d, d.new_cache(7), given, eos, 3)


def test_matmul_flags_reach_the_matrices():
    """With int8 flags the quantized matrices take the int8 path where this build has one
    (the logits move a little and no more), and the exact path where it has none."""
    with gn.Model(DATA / "crispasr" / "tiny-q4_k.gguf", threads=2, precision="exact") as m:
        flags = _native.matmul_flags(["int8"])
        x = inputs(m, 6, seed=2)
        exact, fast = m.decoder, gn.llm.Decoder(m.weights, m.hparams, flags=flags)
        a = exact.forward(m.pool, x, exact.new_cache(6))
        b = fast.forward(m.pool, x, fast.new_cache(6))
        q = m.weights["blk.0.attn_q.weight"]
        assert q.type != gguf.GGMLQuantizationType.F16
    if _native.matmul_path(q.type, flags) == "int8":
        assert not np.array_equal(a, b)
        cos = float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))
        assert cos > 0.999
    else:
        np.testing.assert_array_equal(a, b)


def test_repacked_decoder_with_a_padded_output_matrix():
    """A decoder of Q4_K matrices repacked at load (gn_repack), its 100-row output matrix
    ending in a zero-padded group of 16 rows: against the same weights in the file's layout
    on the int8 path (the same integer sums; only the float sums' order differs), and that
    against the float64 reference over the dequantized weights."""
    q4k, flags = gguf.GGMLQuantizationType.Q4_K, _native.matmul_flags(["int8"])
    if _native.repack_type(int(q4k)) is None or _native.matmul_path(int(q4k), flags) != "int8":
        pytest.skip(f"no repacked Q4_K layout on {_native.isa_current()}")
    rng = np.random.default_rng(8)
    d, ff, H, Hkv, dh, V, n_layers = 256, 512, 4, 2, 64, 100, 2  # Q4_K rows: whole 256s
    hp = SimpleNamespace(llm_n_layers=n_layers, llm_n_heads=H, llm_n_kv_heads=Hkv,
                         llm_head_dim=dh, llm_rms_norm_eps=1e-5, llm_rope_theta=10000.0,
                         llm_embedding_multiplier=4.0, llm_attention_multiplier=dh ** -0.5,
                         llm_residual_multiplier=0.5, llm_logits_scaling=2.0)
    shapes = {"q": ("attn_q", H * dh, d), "k": ("attn_k", Hkv * dh, d),
              "v": ("attn_v", Hkv * dh, d), "o": ("attn_output", d, H * dh),
              "gate": ("ffn_gate", ff, d), "up": ("ffn_up", ff, d), "down": ("ffn_down", d, ff)}
    ref, file_layers, packed_layers = {}, [], []
    pool = _native.ThreadPool(2)

    def matrix(name, rows, cols):
        w = quantized_weights(rng, q4k, rows, cols)
        ref[name] = dequantized(w, q4k, rows, cols)
        return (w, int(q4k)), _native.repack(pool, w, int(q4k), rows, cols)

    for i in range(n_layers):
        norms = {key: (1 + 0.1 * rng.standard_normal(d)).astype(np.float32)
                 for key in ("attn_norm", "ffn_norm")}
        for key, g in norms.items():
            ref[f"blk.{i}.{key}.weight"] = g.astype(np.float64)
        file_layers.append(dict(norms))
        packed_layers.append(dict(norms))
        for key, (name, rows, cols) in shapes.items():
            file_layers[i][key], packed_layers[i][key] = matrix(f"blk.{i}.{name}.weight", rows, cols)
    out_norm = (1 + 0.1 * rng.standard_normal(d)).astype(np.float32)
    ref["output_norm.weight"] = out_norm.astype(np.float64)
    file_out, packed_out = matrix("output.weight", V, d)
    assert packed_out[0].nbytes == 112 * _native.row_bytes(packed_out[1], d)  # 7 groups of 16
    kw = dict(d_model=d, n_heads=H, n_kv_heads=Hkv, head_dim=dh, ff_dim=ff, vocab=V,
              rms_eps=hp.llm_rms_norm_eps, rope_theta=hp.llm_rope_theta,
              embedding_multiplier=hp.llm_embedding_multiplier,
              attention_multiplier=hp.llm_attention_multiplier,
              residual_multiplier=hp.llm_residual_multiplier, logits_scaling=hp.llm_logits_scaling)
    x = (rng.standard_normal((8, d)) * 0.05).astype(np.float32)
    got = []
    for layers, out in ((file_layers, file_out), (packed_layers, packed_out)):
        llm = _native.LLM(layers, out_norm, out, **kw, flags=flags)
        k = np.zeros((n_layers, Hkv, 8, dh), np.float32)
        v = np.zeros_like(k)
        prompt, step = np.empty((3, V), np.float32), np.empty((1, V), np.float32)
        llm.forward(pool, x[:7], k, v, 0, prompt)  # 3 logits rows: the short group's scratch
        llm.forward(pool, x[7:], k, v, 7, step)     # holds several rows, then one
        got.append(np.concatenate([prompt, step]))
    file_layout, repacked = got
    scale = np.abs(file_layout).max()
    np.testing.assert_allclose(repacked, file_layout, atol=1e-5 * scale, rtol=0)
    want = ref_decoder(ref, hp, x)[4:]
    for a, b in zip(file_layout, want):
        assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) > 0.999
