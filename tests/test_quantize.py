"""The quantizer against independent references: CrispASR's quantized files (made by ggml's
quantizers through crispasr-quantize) and the gguf package's numpy quantizers."""
from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, GGUFValueType

from granite_native import ModelError, _native
from granite_native.cli import main
from granite_native.quantize import quantize_file

DATA = Path(__file__).parent / "data"
CRISP = DATA / "crispasr"
Q4K_BLOCK = 144


@pytest.fixture(scope="module")
def pool():
    p = _native.ThreadPool(2)
    yield p
    p.close()


def encode(pool, qtype, x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty(x.shape[0] * _native.row_bytes(int(qtype), x.shape[1]), dtype=np.uint8)
    _native.quantize(pool, int(qtype), x, out)
    return out


def kv(reader):
    return [(k, f.types, f.contents()) for k, f in reader.fields.items() if not k.startswith("GGUF.")]


def values(t):
    return gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float64).ravel()


def rms(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


@pytest.mark.parametrize("variant", ["q4_k", "q4_k-f16enc", "q4_k-mini"])
def test_tiny_variants_match_crispasr(tmp_path, variant):
    out = tmp_path / f"tiny-{variant}.gguf"
    quantize_file(CRISP / "tiny-f16.gguf", out, variant, threads=2)
    ours, theirs = GGUFReader(out), GGUFReader(CRISP / f"tiny-{variant}.gguf")
    source = {t.name: t for t in GGUFReader(CRISP / "tiny-f16.gguf").tensors}

    assert kv(ours) == kv(theirs)
    assert [t.name for t in ours.tensors] == [t.name for t in theirs.tensors]
    for a, b in zip(ours.tensors, theirs.tensors):
        assert list(a.shape) == list(b.shape), a.name
        assert a.tensor_type == b.tensor_type, a.name
        ref = values(source[a.name])
        assert rms(values(a), ref) <= rms(values(b), ref), a.name
        assert np.array_equal(np.asarray(a.data).view(np.uint8), np.asarray(b.data).view(np.uint8)), a.name
    assert out.read_bytes() == (CRISP / f"tiny-{variant}.gguf").read_bytes()


def test_q4_k_blocks_match_crispasr(pool):
    """Real Q4_K blocks: LLM rows of CrispASR's small fixture (tools/extract_quant_fixture.py)."""
    fixture = np.load(DATA / "quant" / "q4_k_small.npz")
    for name in sorted({k.rsplit(".", 1)[0] for k in fixture}):
        src = fixture[name + ".f16"].astype(np.float32)
        theirs = fixture[name + ".q4_k"].ravel()
        ours = encode(pool, T.Q4_K, src)
        ref = src.astype(np.float64).ravel()
        err = [rms(gguf.quants.dequantize(q, T.Q4_K).ravel(), ref) for q in (ours, theirs)]
        assert err[0] <= err[1], name
        same = (ours.reshape(-1, Q4K_BLOCK) == theirs.reshape(-1, Q4K_BLOCK)).all(axis=1)
        assert same.all(), f"{name}: {same.sum()} of {same.size} blocks bit-identical"


def awkward_rows(rng, cols):
    x = rng.standard_normal((37, cols)).astype(np.float32) * rng.uniform(1e-3, 50, (37, 1)).astype(np.float32)
    x[0] = 0                                  # all-zero blocks
    x[1] = -2.5                               # constant blocks, negative maximum
    x[2, :32] = np.arange(32) - 16            # the largest magnitude is negative
    x[3] = np.round(x[3] * 2) / 2             # ties for the rounding
    x[4, :32] = 7.0
    x[4, 5] = -7.0                            # equal magnitudes: the first one wins
    x[5] = rng.standard_normal(cols).astype(np.float32) * 1e-6
    return x


@pytest.mark.parametrize("qtype", [T.Q4_0, T.Q8_0])
def test_q4_0_q8_0_match_gguf_package(pool, qtype):
    rng = np.random.default_rng(7)
    for cols in (32, 96, 2048):
        x = awkward_rows(rng, cols)
        assert np.array_equal(encode(pool, qtype, x), gguf.quants.quantize(x, qtype).ravel()), cols


def test_f16_rows_match_numpy(pool):
    x = np.array([[0.0, -0.0, 1e-8, 6e-8, 1e-5, 65504.0, 65520.0, -1e9, np.inf, 1 / 3] * 4], dtype=np.float32)
    x = np.concatenate([x, np.random.default_rng(1).standard_normal((5, 40)).astype(np.float32)])
    with np.errstate(over="ignore"):
        expect = x.astype(np.float16).ravel()
    assert np.array_equal(encode(pool, T.F16, x).view(np.float16), expect)


def test_q4_k_degenerate_blocks(pool):
    x = np.zeros((3, 256), dtype=np.float32)
    x[1] = -0.75
    x[2, 7] = 3.0
    got = gguf.quants.dequantize(encode(pool, T.Q4_K, x), T.Q4_K).reshape(x.shape)
    assert np.array_equal(got[0], x[0])
    np.testing.assert_allclose(got[1], x[1], rtol=2e-3)
    np.testing.assert_allclose(got[2], x[2], atol=0.11)


def test_quantize_binding_checks_sizes(pool):
    x = np.ones((4, 256), dtype=np.float32)
    with pytest.raises(ValueError, match="bytes"):
        _native.quantize(pool, int(T.Q4_K), x, np.empty(10, dtype=np.uint8))
    with pytest.raises(ValueError, match="blocks"):
        _native.quantize(pool, int(T.Q4_K), np.ones((4, 96), dtype=np.float32), np.empty(4 * 144, dtype=np.uint8))
    with pytest.raises(ValueError, match="cannot quantize"):
        _native.quantize(pool, int(T.Q6_K), x, np.empty(4 * 210, dtype=np.uint8))


def write_gguf(path, arch, tensors, extra_kv=()):
    w = gguf.GGUFWriter(path, arch)
    for key, value, vtype, sub in extra_kv:
        w.add_key_value(key, value, vtype, sub_type=sub)
    for name, data, raw in tensors:
        w.add_tensor(name, data, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_q8_0_from_bf16_and_every_key_type(tmp_path):
    rng = np.random.default_rng(3)
    llm = rng.standard_normal((48, 64)).astype(np.float32)
    bf16 = gguf.quants.quantize(llm, T.BF16)
    odd = rng.standard_normal((8, 40)).astype(np.float32)  # 40 is not whole Q8_0 blocks: kept
    enc = rng.standard_normal((8, 64)).astype(np.float32)  # enc.* is not quantized by default
    extra = [
        ("x.bool", True, GGUFValueType.BOOL, None),
        ("x.i8", -3, GGUFValueType.INT8, None),
        ("x.f64", 0.1, GGUFValueType.FLOAT64, None),
        ("x.u64", 2**40, GGUFValueType.UINT64, None),
        ("x.empty", "", GGUFValueType.STRING, None),
        ("x.ints", [1, -2, 3], GGUFValueType.ARRAY, GGUFValueType.INT32),
        ("x.floats", [0.5, 1e-9], GGUFValueType.ARRAY, GGUFValueType.FLOAT32),
        ("x.strs", ["a", "ü", ""], GGUFValueType.ARRAY, GGUFValueType.STRING),
    ]
    src, out = tmp_path / "src.gguf", tmp_path / "out.gguf"
    write_gguf(src, "granite_speech",
               [("blk.0.attn_q.weight", bf16, T.BF16), ("blk.0.odd.weight", odd, None),
                ("enc.input.weight", enc, None)], extra)
    quantize_file(src, out, "q8_0", threads=1)
    got, ref = GGUFReader(out), GGUFReader(src)
    assert kv(got) == kv(ref) + [("general.quantization_version", [GGUFValueType.UINT32], 2),
                                 ("general.file_type", [GGUFValueType.UINT32], 7)]
    t = {x.name: x for x in got.tensors}
    assert t["blk.0.attn_q.weight"].tensor_type == T.Q8_0
    expect = gguf.quants.quantize(gguf.quants.dequantize(bf16, T.BF16), T.Q8_0)
    assert np.array_equal(np.asarray(t["blk.0.attn_q.weight"].data).ravel(), expect.ravel())
    assert t["blk.0.odd.weight"].tensor_type == T.F32
    assert np.array_equal(np.asarray(t["blk.0.odd.weight"].data), odd)
    assert t["enc.input.weight"].tensor_type == T.F32


def test_cli_quantizes(tmp_path):
    out = tmp_path / "o.gguf"
    assert main(["quantize", str(CRISP / "tiny-f16.gguf"), str(out), "q4_k"]) == 0
    assert out.read_bytes() == (CRISP / "tiny-q4_k.gguf").read_bytes()


def test_cli_rejects_unknown_type(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["quantize", str(CRISP / "tiny-f16.gguf"), str(tmp_path / "o.gguf"), "q3_k"])
    assert e.value.code == 2
    assert "q3_k" in capsys.readouterr().err
    assert not (tmp_path / "o.gguf").exists()


def test_cli_rejects_non_gguf_input(tmp_path, capsys):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not a gguf file at all" * 10)
    assert main(["quantize", str(bad), str(tmp_path / "o.gguf"), "q4_k"]) == 2
    assert "not a readable GGUF" in capsys.readouterr().err
    assert main(["quantize", str(tmp_path / "missing.gguf"), str(tmp_path / "o.gguf"), "q4_k"]) == 2
    assert "no such file" in capsys.readouterr().err
    bad.write_bytes((CRISP / "tiny-f16.gguf").read_bytes()[:2_000_000])  # truncated
    assert main(["quantize", str(bad), str(tmp_path / "o.gguf"), "q4_k"]) == 2
    assert "not a readable GGUF" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [bad]


def test_rejects_other_architectures_and_overwriting(tmp_path):
    src = tmp_path / "llama.gguf"
    write_gguf(src, "llama", [("blk.0.attn_q.weight", np.ones((2, 256), dtype=np.float32), None)])
    with pytest.raises(ModelError, match="not a granite-speech model"):
        quantize_file(src, tmp_path / "o.gguf", "q4_k")
    with pytest.raises(ModelError, match="overwrite"):
        quantize_file(CRISP / "tiny-f16.gguf", CRISP / "tiny-f16.gguf", "q4_k")
    with pytest.raises(ValueError, match="unknown quantization type"):
        quantize_file(CRISP / "tiny-f16.gguf", tmp_path / "o.gguf", "q4_k_m")
