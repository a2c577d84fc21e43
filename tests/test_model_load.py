"""Loading CrispASR's GGUF files: hyperparameters, per-tensor types and zero-copy views, the
rejection of damaged or foreign files, and `granite-native info`.

References: tests/data/tiny-hf/config.json (the checkpoint the fixtures were converted from)
and the gguf package's own reader. Damaged files are made in tmp_path from the tiny fixture.
"""
import json
import os
import struct
import textwrap
from pathlib import Path

import gguf
import numpy as np
import pytest
from child_process import run_python

import granite_native
from granite_native import Model, ModelError, _native, cpus

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
VARIANTS = ["f16", "q4_k", "q4_k-f16enc", "q4_k-mini"]
T = gguf.GGMLQuantizationType
V = gguf.GGUFValueType


def fixture(variant):
    return DATA / "crispasr" / f"tiny-{variant}.gguf"


@pytest.fixture(scope="module")
def config():
    return json.loads((DATA / "tiny-hf" / "config.json").read_text())


# ---- writing test files ----------------------------------------------------------------

def read_contents(path):
    """(kvs, tensors) of a GGUF, in a form write_gguf takes back."""
    r = gguf.GGUFReader(path)
    kvs = {}
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or f.name == "general.architecture":
            continue
        vtype = f.types[0]
        kvs[f.name] = (f.contents(), vtype, f.types[-1] if vtype == V.ARRAY else None)
    tensors = [[t.name, tuple(int(x) for x in t.shape), int(t.tensor_type),
                bytes(r.data[t.data_offset:t.data_offset + t.n_bytes])] for t in r.tensors]
    return kvs, tensors


def nbytes(ne, ttype):
    block, size = gguf.GGML_QUANT_SIZES[T(ttype)]
    return int(np.prod(ne)) // block * size


def write_gguf(path, kvs, tensors, arch="granite_speech"):
    """A GGUF written by gguf.GGUFWriter; tensors whose data is None are left as holes
    (zeros), so large files cost no disk writes."""
    w = gguf.GGUFWriter(path, arch)
    for key, (value, vtype, sub) in kvs.items():
        w.add_key_value(key, value, vtype, sub)
    for name, ne, ttype, _ in tensors:
        w.add_tensor_info(name, list(reversed(ne)), np.float32, nbytes(ne, ttype),
                          raw_dtype=T(ttype))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    f = w.fout[0]
    offset = start = -(-f.tell() // 32) * 32
    for name, ne, ttype, data in tensors:
        if data is not None:
            assert len(data) == nbytes(ne, ttype), name
            f.seek(offset)
            f.write(data)
        offset += -(-nbytes(ne, ttype) // 32) * 32
    w.close()
    os.truncate(path, offset)
    assert start % 32 == 0
    return path


def edited(tmp_path, variant="f16", kvs=None, drop=(), tensors=None, arch="granite_speech"):
    """A copy of a fixture with keys set/dropped and tensors edited by `tensors(list)`."""
    kv, ts = read_contents(fixture(variant))
    for k in drop:
        del kv[k]
    kv.update(kvs or {})
    if tensors:
        tensors(ts)
    return write_gguf(tmp_path / "edited.gguf", kv, ts, arch)


def find(ts, name):
    return next(t for t in ts if t[0] == name)


def patched(tmp_path, edits, src="f16", cut=None):
    """A copy of a fixture with raw bytes overwritten: edits is [(offset, bytes)]."""
    raw = bytearray(fixture(src).read_bytes())
    for offset, b in edits:
        raw[offset:offset + len(b)] = b
    path = tmp_path / "patched.gguf"
    path.write_bytes(bytes(raw[:cut]))
    return path


def kv_offsets(reader, key):
    """(offset of the value type, offset of the value) of a metadata key."""
    f = reader.fields[key]
    klen = struct.unpack_from("<Q", reader.data, f.offset)[0]
    return f.offset + 8 + klen, f.offset + 12 + klen


def tensor_offsets(reader, name):
    """Offsets of a tensor info's n_dims, dims, type and data offset."""
    t = next(t for t in reader.tensors if t.name == name)
    at = t.field.offset + 8 + len(name)
    n_dims = struct.unpack_from("<I", reader.data, at)[0]
    return {"n_dims": at, "dims": at + 4, "type": at + 4 + 8 * n_dims,
            "offset": at + 8 + 8 * n_dims}


@pytest.fixture(scope="module")
def f16_reader():
    return gguf.GGUFReader(fixture("f16"))


def q(x):
    return struct.pack("<Q", x)


def u32(x):
    return struct.pack("<I", x)


# ---- the four CrispASR fixtures ---------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
def test_hparams_match_hf_config(variant, config):
    enc, proj, text = config["encoder_config"], config["projector_config"], config["text_config"]
    with Model(fixture(variant), threads=1) as m:
        hp = m.hparams
    assert (hp.enc_n_layers, hp.enc_d_model, hp.enc_n_heads, hp.enc_head_dim, hp.enc_input_dim) == \
        (enc["num_layers"], enc["hidden_dim"], enc["num_heads"], enc["dim_head"], enc["input_dim"])
    assert hp.enc_conv_kernel == hp.enc_dw_kernel == enc["conv_kernel_size"]
    assert hp.enc_ff_dim == enc["hidden_dim"] * enc["feedforward_mult"]
    assert hp.enc_conv_inner == enc["hidden_dim"] * enc["conv_expansion_factor"]
    assert (hp.enc_context_size, hp.enc_max_pos_emb, hp.enc_ctc_dim) == \
        (enc["context_size"], enc["max_pos_emb"], enc["output_dim"])
    assert (hp.proj_n_layers, hp.proj_d_model, hp.proj_n_heads, hp.proj_ff_dim,
            hp.proj_encoder_hidden_size) == \
        (proj["num_hidden_layers"], proj["hidden_size"], proj["num_attention_heads"],
         proj["intermediate_size"], proj["encoder_hidden_size"])
    assert hp.proj_cat_layers == tuple(enc.get("cat_hidden_layers") or ()) and not hp.is_plus
    assert (hp.llm_n_layers, hp.llm_d_model, hp.llm_n_heads, hp.llm_n_kv_heads, hp.llm_ff_dim,
            hp.llm_vocab_size) == \
        (text["num_hidden_layers"], text["hidden_size"], text["num_attention_heads"],
         text["num_key_value_heads"], text["intermediate_size"], text["vocab_size"])
    assert hp.llm_head_dim == text["hidden_size"] // text["num_attention_heads"]
    f32 = lambda x: float(np.float32(x))  # noqa: E731  (the file stores f32)
    assert hp.llm_rope_theta == f32(text["rope_parameters"]["rope_theta"])
    for name in ["rms_norm_eps", "embedding_multiplier", "attention_multiplier",
                 "residual_multiplier", "logits_scaling"]:
        assert getattr(hp, "llm_" + name) == f32(text[name])
    assert (hp.llm_eos_token_id, hp.llm_bos_token_id) == \
        (text["eos_token_id"], text["bos_token_id"])
    assert (hp.downsample_rate, hp.window_size, hp.audio_token_index) == \
        (config["downsample_rate"], config["window_size"], config["audio_token_index"])
    assert hp.proj_n_queries == config["window_size"] // config["downsample_rate"]
    assert hp.sample_rate == 16000 and hp.n_mels * 2 == enc["input_dim"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_tensor_types_shapes_and_bytes_come_from_the_file(variant):
    path = fixture(variant)
    reader = gguf.GGUFReader(path)  # an independent reader, not the Model's
    theirs = {t.name: t for t in reader.tensors}
    with Model(path, threads=1) as m:
        assert set(m.weights) == set(theirs) - {"audio.mel_window"}
        mapped = np.asarray(m.gguf.data)
        for name, w in m.weights.items():
            t = theirs[name]
            assert w.type == int(t.tensor_type) and w.ne == tuple(int(x) for x in t.shape)
            assert w.data.dtype == np.uint8 and not w.data.flags.writeable
            assert not w.data.flags.owndata and np.shares_memory(w.data, mapped)
            assert w.data.tobytes() == t.data.tobytes()
            if w.type == 0:
                assert np.array_equal(w.f32().reshape(-1), t.data.reshape(-1))


def test_per_tensor_types_differ_by_variant():
    def types(variant):
        with Model(fixture(variant), threads=1) as m:
            return {k: w.type_name for k, w in m.weights.items()}
    f16, q4k, f16enc, mini = (types(v) for v in VARIANTS)
    assert f16["blk.0.attn_q.weight"] == "F16" and f16["enc.blk.0.ff1_up.weight"] == "F32"
    # 64-wide rows are not whole Q4_K blocks, so crispasr-quantize fell back to Q4_0.
    assert q4k["token_embd.weight"] == "Q4_0" and q4k["enc.blk.0.attn_q.weight"] == "F32"
    for name in ["enc.input.weight", "enc.ctc_mid.weight", "enc.blk.3.attn_kv.weight",
                 "enc.blk.1.ff2_down.weight"]:
        assert f16enc[name] == "F16"
    assert f16enc["enc.blk.0.conv_up.weight"] == "F32" and f16enc["proj.linear.weight"] == "F32"
    assert mini["enc.input.weight"] == "Q4_0" and mini["enc.blk.0.ff1_down.weight"] == "Q4_K"
    # 12 and 16 (the tiny rel_pos width) are not multiples of 32: those stay F32.
    assert mini["enc.ctc_mid.weight"] == "F32" and mini["enc.blk.0.attn_rel_pos.weight"] == "F32"
    assert mini["proj.blk.0.ca_key.weight"] == "Q4_0"


@pytest.mark.parametrize("variant", ["f16", "q4_k"])
def test_proj_query_both_stored_shapes(variant):
    with Model(fixture(variant), threads=1) as m:
        w = m.weights["proj.query"]
        assert w.ne == ((48, 3, 1) if variant == "f16" else (48, 3)) and w.shape == (3, 48)


@pytest.mark.parametrize("variant", ["f16", "q4_k-mini"])
def test_3d_conv_and_matrices_as_2d_for_matmul(variant):
    reader = gguf.GGUFReader(fixture(variant))
    theirs = {t.name: t for t in reader.tensors}
    rng = np.random.default_rng(0)
    with Model(fixture(variant), threads=1) as m:
        for name in ["enc.blk.0.conv_up.weight", "enc.blk.2.conv_down.weight",
                     "enc.blk.1.ff1_down.weight", "blk.1.attn_k.weight"]:
            w = m.weights[name]
            ref = gguf.dequantize(theirs[name].data, theirs[name].tensor_type).astype(np.float64)
            ref = ref.reshape(w.shape)  # rows = outputs, cols = inputs
            x = rng.standard_normal((3, w.shape[1])).astype(np.float32)
            y = _native.matmul(m.pool, x, w.data, w.type, w.shape[0])
            np.testing.assert_allclose(y, x.astype(np.float64) @ ref.T, rtol=1e-4, atol=1e-4)
            np.testing.assert_array_equal(w.f32(), ref.astype(np.float32))


def test_model_defaults_threads_and_export():
    assert granite_native.Model is Model
    with Model(fixture("f16")) as m:
        assert m.pool.threads == cpus.usable_cpus()
        assert m.file_size == fixture("f16").stat().st_size
    with Model(fixture("f16"), threads=3) as m:
        assert m.pool.threads == 3


# ---- metadata edits -----------------------------------------------------------------------

def test_missing_keys_take_the_spec_defaults(tmp_path):
    drop = ["granite_speech.enc.conv_kernel", "granite_speech.llm.rope_theta",
            "granite_speech.sample_rate", "granite_speech.enc.context_size"]
    with Model(edited(tmp_path, drop=drop), threads=1) as m:
        hp = m.hparams
    assert (hp.enc_conv_kernel, hp.llm_rope_theta, hp.sample_rate, hp.enc_context_size) == \
        (15, 10000.0, 16000, 200)


def test_missing_layer_count_falls_back_and_then_misses_tensors(tmp_path):
    with pytest.raises(ModelError, match=r"missing tensor enc\.blk\.4\."):
        Model(edited(tmp_path, drop=["granite_speech.enc.n_layers"]))


def test_key_of_wrong_type(tmp_path):
    path = edited(tmp_path, kvs={"granite_speech.enc.n_layers": ("4", V.STRING, None)})
    with pytest.raises(ModelError, match="enc.n_layers has type STRING, expected an integer"):
        Model(path)


def test_inconsistent_hparams(tmp_path):
    path = edited(tmp_path, kvs={"granite_speech.downsample_rate": (4, V.UINT32, None)})
    with pytest.raises(ModelError, match="not a multiple of downsample_rate"):
        Model(path)


def test_plus_layout_loads(tmp_path):
    def widen_ca(ts):
        for t in ts:
            if ".ca_key.weight" in t[0] or ".ca_value.weight" in t[0]:
                t[1], t[3] = (128, 48), None
    kvs = {"granite_speech.proj.cat_layers": ("3", V.STRING, None),
           "granite_speech.proj.encoder_hidden_size": (128, V.UINT32, None)}
    with Model(edited(tmp_path, kvs=kvs, tensors=widen_ca), threads=1) as m:
        assert m.hparams.is_plus and m.hparams.proj_cat_layers == (3,)
        assert m.weights["proj.blk.1.ca_value.weight"].shape == (48, 128)
        with pytest.raises(ModelError, match="plus variant"):
            m.transcribe(np.zeros(16000, np.float32))


def test_plus_width_must_match_cat_layers(tmp_path):
    path = edited(tmp_path, kvs={"granite_speech.proj.cat_layers": ("3", V.STRING, None)})
    with pytest.raises(ModelError, match="encoder_hidden_size"):
        Model(path)


# ---- tensor inventory -----------------------------------------------------------------------

def test_missing_tensor(tmp_path):
    path = edited(tmp_path, tensors=lambda ts: ts.remove(find(ts, "enc.blk.2.conv_up.weight")))
    with pytest.raises(ModelError, match=r"missing tensor enc\.blk\.2\.conv_up\.weight") as e:
        Model(path)
    assert str(path) in str(e.value)


def test_wrong_shape(tmp_path):
    def widen(ts):
        t = find(ts, "blk.1.attn_k.weight")
        t[1], t[3] = (64, 48), None
    with pytest.raises(ModelError, match=r"blk\.1\.attn_k\.weight has shape ne=\(64, 48\)"):
        Model(edited(tmp_path, tensors=widen))


def retype(name, ttype):
    def edit(ts):
        t = find(ts, name)
        t[2], t[3] = int(ttype), None
    return edit


def test_unsupported_matrix_type(tmp_path):
    path = edited(tmp_path, tensors=retype("enc.blk.0.ff1_down.weight", T.Q5_K))
    with pytest.raises(ModelError, match=r"enc\.blk\.0\.ff1_down\.weight has type Q5_K"):
        Model(path)


def test_vector_must_be_f32(tmp_path):
    path = edited(tmp_path, tensors=retype("enc.blk.0.attn_norm.weight", T.F16))
    with pytest.raises(ModelError, match=r"attn_norm\.weight has type F16, expected F32"):
        Model(path)


@pytest.mark.parametrize("name,ttype", [("enc.blk.0.ff1_down.weight", T.Q6_K),
                                        ("enc.blk.0.ff2_down.weight", T.Q4_K),
                                        ("blk.0.ffn_down.weight", T.Q8_0),
                                        ("blk.0.attn_q.weight", T.BF16),
                                        ("enc.blk.1.conv_up.weight", T.F16),
                                        ("enc.blk.0.attn_rel_pos.weight", T.F16)])
def test_any_kernel_type_is_accepted_for_matrices(tmp_path, name, ttype):
    with Model(edited(tmp_path, tensors=retype(name, ttype)), threads=1) as m:
        assert m.weights[name].type == int(ttype)


# ---- damaged and foreign files --------------------------------------------------------------

def rejects(path, pattern):
    with pytest.raises(ModelError, match=pattern) as e:
        Model(path)
    assert isinstance(e.value, ValueError) and str(path) in str(e.value)


@pytest.mark.parametrize("where", ["empty", "magic", "counts", "key", "tokens", "tensor_info",
                                   "data"])
def test_truncated(tmp_path, f16_reader, where):
    r = f16_reader
    cut = {"empty": 0, "magic": 3, "counts": 20,
           "key": r.fields["granite_speech.enc.d_model"].offset + 10,
           "tokens": r.fields["tokenizer.ggml.tokens"].offset + 300,
           "tensor_info": r.tensors[7].field.offset + 9,
           "data": r.tensors[-1].data_offset + 5}[where]
    rejects(patched(tmp_path, [], cut=cut), "truncated|past the end")


def test_not_gguf(tmp_path):
    rejects(patched(tmp_path, [(0, b"GGML")]), "not a GGUF file")


@pytest.mark.parametrize("version", [1, 4, 0xFFFF])
def test_unsupported_version(tmp_path, version):
    rejects(patched(tmp_path, [(4, u32(version))]), f"unsupported GGUF version {version}")


def test_big_endian(tmp_path):
    rejects(patched(tmp_path, [(4, struct.pack(">I", 3))]), "big-endian")


def test_other_architecture(tmp_path):
    rejects(edited(tmp_path, arch="whisper"), "architecture is 'whisper', not 'granite_speech'")


def test_no_architecture(tmp_path, f16_reader):
    at = f16_reader.fields["general.architecture"].offset + 8
    rejects(patched(tmp_path, [(at, b"general.architectur_")]), "no general.architecture")


@pytest.mark.parametrize("what,pattern", [
    ("kv_count", "key/value pairs, more than"),
    ("tensor_count", "tensors, more than"),
    ("array_length", "array elements, more than"),
    ("string_length", "needs 1152921504606846976 bytes"),
    ("key_length", "1152921504606846976 bytes long; at most 65535"),
    ("tensor_name_length", "1152921504606846976 bytes long; at most 63"),
])
def test_absurd_counts(tmp_path, f16_reader, what, pattern):
    r = f16_reader
    at = {"kv_count": 16, "tensor_count": 8,
          "array_length": kv_offsets(r, "tokenizer.ggml.tokens")[1] + 4,
          "string_length": kv_offsets(r, "tokenizer.ggml.tokens")[1] + 12,
          "key_length": r.fields["granite_speech.enc.d_model"].offset,
          "tensor_name_length": r.tensors[3].field.offset}[what]
    rejects(patched(tmp_path, [(at, q(1 << 60))]), pattern)


def test_more_tensors_than_any_model(tmp_path):
    """70000 tensor infos would fit in the file's 2.4 MB, but no granite_speech file has them."""
    rejects(patched(tmp_path, [(8, q(70000))]), "no granite_speech file has more than 65536")


def test_too_many_array_elements_in_all(tmp_path, f16_reader):
    """An array the file can hold, but which GGUFReader would take minutes to parse."""
    raw = bytearray(fixture("f16").read_bytes())
    n = (1 << 21) + 1
    key = b"x" * ((-(24 + n)) % 32 or 32)  # whole 32-byte steps keep tensor data aligned
    kv = q(len(key)) + key + u32(V.ARRAY) + u32(V.UINT8) + q(n) + bytes(n)
    assert len(kv) % 32 == 0
    end_of_kv = f16_reader.tensors[0].field.offset
    raw[16:24] = q(struct.unpack_from("<Q", raw, 16)[0] + 1)
    path = tmp_path / "big_array.gguf"
    path.write_bytes(bytes(raw[:end_of_kv]) + kv + bytes(raw[end_of_kv:]))
    rejects(path, "metadata arrays hold more than")


@pytest.mark.parametrize("value,vtype,pattern", [(48, V.UINT32, "not a power of two"),
                                                  (0, V.UINT32, "not a power of two"),
                                                  (32, V.UINT64, "not a uint32")])
def test_bad_alignment_key(tmp_path, value, vtype, pattern):
    rejects(edited(tmp_path, kvs={"general.alignment": (value, vtype, None)}), pattern)


def test_not_a_regular_file(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("needs mkfifo")
    os.mkfifo(tmp_path / "fifo.gguf")
    rejects(tmp_path / "fifo.gguf", "not a regular file")


def test_unknown_value_type(tmp_path, f16_reader):
    at = kv_offsets(f16_reader, "granite_speech.enc.d_model")[0]
    rejects(patched(tmp_path, [(at, u32(99))]), "unknown value type 99")


def test_duplicate_key(tmp_path, f16_reader):
    at = f16_reader.fields["granite_speech.llm.n_layers"].offset + 8
    rejects(patched(tmp_path, [(at, b"granite_speech.enc.n_layers")]), "appears twice")


def test_key_not_utf8(tmp_path, f16_reader):
    at = f16_reader.fields["granite_speech.llm.n_layers"].offset + 8
    rejects(patched(tmp_path, [(at, b"\xff\xfe")]), "not valid UTF-8")


def test_dimensions_overflow(tmp_path, f16_reader):
    at = tensor_offsets(f16_reader, "enc.input.weight")["dims"]
    rejects(patched(tmp_path, [(at, q(1 << 40) + q(1 << 40))]), "overflow")


def test_too_many_dimensions(tmp_path, f16_reader):
    at = tensor_offsets(f16_reader, "enc.input.weight")["n_dims"]
    rejects(patched(tmp_path, [(at, u32(9))]), "has 9 dimensions")


def test_unknown_tensor_type(tmp_path, f16_reader):
    at = tensor_offsets(f16_reader, "enc.input.weight")["type"]
    rejects(patched(tmp_path, [(at, u32(99))]), "unknown type id 99")


def test_data_past_end_of_file(tmp_path, f16_reader):
    at = tensor_offsets(f16_reader, "enc.input.weight")["offset"]
    rejects(patched(tmp_path, [(at, q(1 << 40))]), r"enc\.input\.weight .* runs past the end")


def test_dims_larger_than_file(tmp_path, f16_reader):
    at = tensor_offsets(f16_reader, "enc.input.weight")["dims"]
    rejects(patched(tmp_path, [(at, q(160) + q(1 << 30))]), "runs past the end")


def test_misaligned_data(tmp_path, f16_reader):
    t = next(t for t in f16_reader.tensors if t.name == "enc.input.weight")
    at = tensor_offsets(f16_reader, t.name)["offset"]
    offset = t.data_offset - f16_reader.data_offset
    rejects(patched(tmp_path, [(at, q(offset + 4))]), "not aligned to 32 bytes")


def test_overlapping_data(tmp_path, f16_reader):
    first = f16_reader.tensors[0]
    at = tensor_offsets(f16_reader, f16_reader.tensors[1].name)["offset"]
    rejects(patched(tmp_path, [(at, q(first.data_offset - f16_reader.data_offset))]), "overlap")


def test_rows_not_whole_blocks(tmp_path, f16_reader):
    at = tensor_offsets(f16_reader, "enc.ctc_mid.weight")["type"]  # ne0 = 12
    rejects(patched(tmp_path, [(at, u32(T.Q8_0))]), "not a whole number of Q8_0 blocks")


# ---- memory -----------------------------------------------------------------------------------

@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_load_does_not_read_tensor_data(tmp_path):
    """A 400 MB model (sparse file): RSS grows by a small fraction of it on load, and by at
    least the embedding's size once the embedding is actually read (so the probe works)."""
    vocab = 1_600_000
    kv, ts = read_contents(fixture("f16"))
    kv["granite_speech.llm.vocab_size"] = (vocab, V.UINT32, None)
    for t in ts:
        if t[0] in ("token_embd.weight", "output.weight"):
            t[1] = (64, vocab)
        t[3] = None
    path = write_gguf(tmp_path / "big.gguf", kv, ts)
    size = path.stat().st_size
    assert size > 400e6
    probe = textwrap.dedent(f"""
        import numpy as np, granite_native
        def rss():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        before = rss()
        m = granite_native.Model({str(path)!r}, threads=1)
        loaded = rss()
        embd = m.weights["token_embd.weight"].data
        assert int(embd.sum()) == 0
        print(loaded - before, rss() - loaded, embd.nbytes)
    """)
    out = run_python(["-c", probe], timeout=120)
    assert out.returncode == 0, out.stderr
    load_growth, read_growth, embd_bytes = map(int, out.stdout.split())
    assert load_growth < 0.02 * size
    assert read_growth > 0.9 * embd_bytes


# ---- CPU count ------------------------------------------------------------------------------

def test_cgroup_v2_quota_is_the_smallest_on_the_path(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "cpu.max").write_text("max 100000\n")
    (tmp_path / "a" / "cpu.max").write_text("150000 100000\n")
    (tmp_path / "cpu.max").write_text("400000 100000\n")
    assert cpus._cgroup2_limit("1:cpu:/x\n0::/a/b\n", str(tmp_path)) == 1.5
    assert cpus._cgroup2_limit("0::/\n", str(tmp_path)) == 4.0
    assert cpus._cgroup2_limit("0::/../../etc\n", str(tmp_path / "a")) is None


def test_cgroup_v1_quota(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("250000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpus._cgroup1_limit(str(tmp_path)) == 2.5
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cpus._cgroup1_limit(str(tmp_path)) is None


def test_usable_cpus_respects_affinity_and_quota(monkeypatch):
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert 1 <= cpus.usable_cpus() <= affinity
    monkeypatch.setattr(cpus, "cgroup_cpu_limit", lambda: 0.5)
    assert cpus.usable_cpus() == 1
    monkeypatch.setattr(cpus, "cgroup_cpu_limit", lambda: 1000.0)
    assert cpus.usable_cpus() == affinity


# ---- granite-native info ----------------------------------------------------------------------

def cli(*args):
    return run_python(["-m", "granite_native.cli", *args], timeout=60)


def test_info_json(config):
    path = fixture("q4_k-mini")
    out = cli("info", path, "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    reader = gguf.GGUFReader(path)
    counts = {}
    for t in reader.tensors:
        counts.setdefault(t.tensor_type.name, [0, 0])
        counts[t.tensor_type.name][0] += 1
        counts[t.tensor_type.name][1] += int(t.n_bytes)
    assert {k: [v["count"], v["bytes"]] for k, v in report["tensors_by_type"].items()} == counts
    assert report["tensor_count"] == len(reader.tensors)
    assert report["tensor_bytes"] == sum(int(t.n_bytes) for t in reader.tensors)
    assert report["file_size"] == path.stat().st_size
    hp = report["hparams"]
    assert hp["enc_n_layers"] == config["encoder_config"]["num_layers"]
    assert hp["llm_vocab_size"] == config["text_config"]["vocab_size"]
    assert hp["enc_ctc_dim"] == config["encoder_config"]["output_dim"]
    assert hp["is_plus"] is False


def test_info_text(config):
    path = fixture("q4_k-f16enc")
    out = cli("info", path)
    assert out.returncode == 0, out.stderr
    lines = [line.split() for line in out.stdout.splitlines()]
    layers = str(config["text_config"]["num_hidden_layers"])
    assert ["llm_n_layers", layers] in lines
    n_f16 = sum(t.tensor_type == T.F16 for t in gguf.GGUFReader(path).tensors)
    assert any(line[:2] == ["F16", str(n_f16)] for line in lines)
    assert f"({path.stat().st_size} bytes)" in out.stdout


@pytest.mark.parametrize("bad", ["magic", "missing"])
def test_info_bad_model_exits_2(tmp_path, bad):
    path = patched(tmp_path, [(0, b"GGML")]) if bad == "magic" else tmp_path / "none.gguf"
    out = cli("info", path)
    assert out.returncode == 2 and out.stdout == ""
    assert "Traceback" not in out.stderr and str(path) in out.stderr
