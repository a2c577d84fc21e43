"""The converter against CrispASR's own conversion of the same checkpoint, and the safetensors
values read independently (safetensors' numpy API, torch for bf16)."""
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from child_process import run_python
from gguf import GGMLQuantizationType, GGUFReader
from safetensors.numpy import load_file, save_file

from granite_native.convert import convert
from granite_native.errors import ModelError
from granite_native.safetensors_file import SafetensorsError, SafetensorsFile

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny-hf"
CRISPASR_F16 = DATA / "crispasr" / "tiny-f16.gguf"
ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def reference():
    return GGUFReader(CRISPASR_F16)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("convert")
    paths = {t: out / f"tiny-{t}.gguf" for t in ("f16", "f32")}
    for outtype, path in paths.items():
        convert(TINY, path, outtype)
    return {t: GGUFReader(p) for t, p in paths.items()}


def copy_checkpoint(tmp_path, skip=()):
    dst = tmp_path / "hf"
    shutil.copytree(TINY, dst, ignore=lambda d, names: [n for n in names if n in skip])
    return dst


def hf_to_gguf_order(reference):
    """CrispASR writes the two front-end tables, then the checkpoint's tensors in sorted name
    order minus BatchNorm's step counters: that order pairs each HF name with its GGUF name."""
    names = sorted(n for n in load_file(TINY / "model.safetensors")
                   if not n.endswith("num_batches_tracked"))
    tensors = reference.tensors[2:]
    assert len(names) == len(tensors)
    return dict(zip(names, (t.name for t in tensors)))


def field_value(field):
    return field.contents()


def assert_same_tensors(ours, ref):
    assert [t.name for t in ours.tensors] == [t.name for t in ref.tensors]
    for a, b in zip(ours.tensors, ref.tensors):
        assert a.tensor_type == b.tensor_type, a.name
        assert list(a.shape) == list(b.shape), a.name
        assert a.data.tobytes() == b.data.tobytes(), a.name


def test_f16_matches_crispasr(converted, reference):
    ours = converted["f16"]
    ref_keys = [k for k in reference.fields if not k.startswith("GGUF.")]
    our_keys = [k for k in ours.fields if not k.startswith("GGUF.")]
    assert our_keys == ref_keys + ["tokenizer.ggml.pre"]
    for key in ref_keys:
        assert ours.fields[key].types == reference.fields[key].types, key
        assert field_value(ours.fields[key]) == field_value(reference.fields[key]), key
    assert ours.alignment == reference.alignment
    assert_same_tensors(ours, reference)


def test_pre_tokenizer_is_the_source_split_regex(converted):
    pre = json.loads((TINY / "tokenizer.json").read_text())["pre_tokenizer"]
    assert field_value(converted["f16"].fields["tokenizer.ggml.pre"]) == \
        pre["pretokenizers"][0]["pattern"]["Regex"]


def test_f32_values_are_the_safetensors_values(converted, reference):
    ours = {t.name: t for t in converted["f32"].tensors}
    assert [t.name for t in converted["f32"].tensors] == [t.name for t in reference.tensors]
    source = load_file(TINY / "model.safetensors")
    for hf_name, gguf_name in hf_to_gguf_order(reference).items():
        t, want = ours[gguf_name], source[hf_name]
        assert t.tensor_type == GGMLQuantizationType.F32
        assert list(t.shape) == list(reversed(want.shape)), gguf_name
        assert np.array_equal(np.asarray(t.data).reshape(want.shape), want), gguf_name


def test_sharded_checkpoint(tmp_path, reference):
    hf = copy_checkpoint(tmp_path, skip=("model.safetensors",))
    tensors = load_file(TINY / "model.safetensors")
    names = sorted(tensors)
    # Split at a sorted-name boundary so CrispASR's shard-by-shard order equals the unsharded one.
    shards = {"model-00001-of-00002.safetensors": names[:len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    weight_map = {}
    for shard, shard_names in shards.items():
        save_file({n: tensors[n] for n in shard_names}, hf / shard)
        weight_map.update({n: shard for n in shard_names})
    (hf / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    convert(hf, tmp_path / "out.gguf")
    assert_same_tensors(GGUFReader(tmp_path / "out.gguf"), reference)

    weight_map["encoder.not_there.weight"] = "model-00001-of-00002.safetensors"
    (hf / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(SafetensorsError, match="encoder.not_there.weight"):
        convert(hf, tmp_path / "bad.gguf")


def test_bf16_checkpoint(tmp_path, reference):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file as save_torch

    hf = copy_checkpoint(tmp_path, skip=("model.safetensors",))
    source = load_file(TINY / "model.safetensors")
    bf16 = {n: torch.from_numpy(a).to(torch.bfloat16) if a.dtype == np.float32 else torch.from_numpy(a)
            for n, a in source.items()}
    save_torch(bf16, hf / "model.safetensors")
    for outtype in ("f32", "f16"):
        convert(hf, tmp_path / f"{outtype}.gguf", outtype)
        ours = {t.name: t for t in GGUFReader(tmp_path / f"{outtype}.gguf").tensors}
        for hf_name, gguf_name in hf_to_gguf_order(reference).items():
            t = ours[gguf_name]
            if t.tensor_type == GGMLQuantizationType.F16:
                want = bf16[hf_name].to(torch.float16).numpy()
            else:
                want = bf16[hf_name].to(torch.float32).numpy()
            assert np.array_equal(np.asarray(t.data).reshape(want.shape), want), gguf_name
        assert {n for n, t in ours.items() if t.tensor_type == GGMLQuantizationType.F16} == (
            set() if outtype == "f32" else
            {t.name for t in reference.tensors if t.tensor_type == GGMLQuantizationType.F16})


def test_missing_config(tmp_path):
    hf = copy_checkpoint(tmp_path, skip=("config.json",))
    with pytest.raises(ModelError, match="config.json is missing"):
        convert(hf, tmp_path / "out.gguf")
    assert not list(tmp_path.glob("out.gguf*"))


def test_missing_tensor(tmp_path):
    hf = copy_checkpoint(tmp_path, skip=("model.safetensors",))
    tensors = load_file(TINY / "model.safetensors")
    del tensors["encoder.layers.2.attn.to_q.weight"]
    save_file(tensors, hf / "model.safetensors")
    with pytest.raises(ModelError, match=r"missing tensors: enc\.blk\.2\.attn_q\.weight"):
        convert(hf, tmp_path / "out.gguf")
    assert not list(tmp_path.glob("out.gguf*"))


def corrupt(path, how):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    if how == "length":
        return struct.pack("<Q", len(raw)) + raw[8:]
    if how == "json":
        return raw[:8] + b"[" + raw[9:]
    entry = header["encoder.input_linear.weight"]
    if how == "offsets":
        entry["data_offsets"][1] = len(raw)
    if how == "shape":
        entry["shape"] = [65, 160]
    text = json.dumps(header, separators=(",", ":")).encode().ljust(n)
    assert len(text) == n
    return raw[:8] + text + raw[8 + n:]


@pytest.mark.parametrize("how,problem", [
    ("length", "header length"), ("json", "not valid JSON"),
    ("offsets", "outside the"), ("shape", "needs 41600 bytes but data_offsets span 40960"),
])
def test_corrupt_safetensors(tmp_path, how, problem):
    hf = copy_checkpoint(tmp_path, skip=("model.safetensors",))
    (hf / "model.safetensors").write_bytes(corrupt(TINY / "model.safetensors", how))
    with pytest.raises(SafetensorsError, match=problem) as e:
        convert(hf, tmp_path / "out.gguf")
    assert str(hf / "model.safetensors") in str(e.value)
    assert not list(tmp_path.glob("out.gguf*"))


def test_reader_dtypes_and_shapes(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    save_file({"a": a, "h": a.astype(np.float16), "i": np.arange(3)}, tmp_path / "x.safetensors")
    f = SafetensorsFile(tmp_path / "x.safetensors")
    assert sorted(f.names()) == ["a", "h", "i"]
    assert f.shape("h") == (3, 4) and f.dtype("i") == "I64"
    assert np.array_equal(f.tensor("a"), a)
    assert np.array_equal(f.tensor("h"), a.astype(np.float16))
    with pytest.raises(SafetensorsError, match="only F32, F16 and BF16"):
        f.tensor("i")


def test_lora_adapter_is_folded(tmp_path, reference):
    hf = copy_checkpoint(tmp_path)
    rng = np.random.default_rng(0)
    targets = ["language_model.model.layers.0.self_attn.q_proj",
               "language_model.model.layers.1.self_attn.v_proj"]
    source = load_file(TINY / "model.safetensors")
    adapter = {}
    for t in targets:
        out_dim, in_dim = source[f"{t}.weight"].shape
        adapter[f"base_model.model.{t}.lora_A.weight"] = rng.standard_normal((4, in_dim), np.float32)
        adapter[f"base_model.model.{t}.lora_B.weight"] = rng.standard_normal((out_dim, 4), np.float32)
    save_file(adapter, hf / "adapter_model.safetensors")
    (hf / "adapter_config.json").write_text(json.dumps({"r": 4, "lora_alpha": 8, "peft_type": "LORA"}))
    convert(hf, tmp_path / "out.gguf", "f32")
    ours = {t.name: np.asarray(t.data) for t in GGUFReader(tmp_path / "out.gguf").tensors}
    names = hf_to_gguf_order(reference)
    for hf_name, gguf_name in names.items():
        want = source[hf_name].astype(np.float64)
        module = hf_name[:-len(".weight")]
        if module in targets:
            a = adapter[f"base_model.model.{module}.lora_A.weight"].astype(np.float64)
            b = adapter[f"base_model.model.{module}.lora_B.weight"].astype(np.float64)
            want = want + 2.0 * (b @ a)
        np.testing.assert_allclose(ours[gguf_name].reshape(want.shape), want, rtol=1e-5, atol=1e-5)

    del adapter[f"base_model.model.{targets[0]}.lora_B.weight"]
    save_file(adapter, hf / "adapter_model.safetensors")
    with pytest.raises(ModelError, match="lacks lora_B"):
        convert(hf, tmp_path / "bad.gguf")


def test_tied_embeddings_copy_the_embedding_last(tmp_path):
    hf = copy_checkpoint(tmp_path, skip=("model.safetensors",))
    tensors = load_file(TINY / "model.safetensors")
    del tensors["language_model.lm_head.weight"]
    save_file(tensors, hf / "model.safetensors")
    config = json.loads((TINY / "config.json").read_text())
    config["text_config"]["tie_word_embeddings"] = True
    (hf / "config.json").write_text(json.dumps(config))
    convert(hf, tmp_path / "out.gguf")
    out = GGUFReader(tmp_path / "out.gguf").tensors
    by_name = {t.name: t for t in out}
    assert out[-1].name == "output.weight"
    assert out[-1].data.tobytes() == by_name["token_embd.weight"].data.tobytes()
    embd = tensors["language_model.model.embed_tokens.weight"].astype(np.float16)
    assert np.array_equal(np.asarray(out[-1].data), embd)


def test_vocab_json_and_merges_txt(tmp_path, reference):
    hf = copy_checkpoint(tmp_path, skip=("tokenizer.json",))
    tj = json.loads((TINY / "tokenizer.json").read_text())
    vocab = dict(tj["model"]["vocab"])
    (hf / "vocab.json").write_text(json.dumps(vocab))
    merges = [" ".join(m) for m in tj["model"]["merges"]] + ["# #"]
    (hf / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    added = {str(t["id"]): {"content": t["content"]} for t in tj["added_tokens"]}
    config = json.loads((TINY / "tokenizer_config.json").read_text())
    config["added_tokens_decoder"] = added
    (hf / "tokenizer_config.json").write_text(json.dumps(config))
    convert(hf, tmp_path / "out.gguf")
    fields = GGUFReader(tmp_path / "out.gguf").fields
    assert fields["tokenizer.ggml.tokens"].contents() == reference.fields["tokenizer.ggml.tokens"].contents()
    assert fields["tokenizer.ggml.merges"].contents() == merges
    assert "tokenizer.ggml.pre" not in fields


def run_cli(*args):
    return run_python(["-m", "granite_native.cli", *args])


def test_cli(tmp_path, reference):
    done = run_cli("convert", TINY, tmp_path / "out.gguf")
    assert done.returncode == 0, done.stderr
    assert_same_tensors(GGUFReader(tmp_path / "out.gguf"), reference)

    failed = run_cli("convert", tmp_path, tmp_path / "bad.gguf", "--outtype", "f32")
    assert failed.returncode == 2
    assert "config.json is missing" in failed.stderr
    assert not (tmp_path / "bad.gguf").exists()


def test_plain_byte_level_pre_tokenizer_is_gpt2_and_others_are_refused(tmp_path):
    hf = copy_checkpoint(tmp_path)
    tj = json.loads((TINY / "tokenizer.json").read_text())
    tj["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                           "use_regex": True}
    (hf / "tokenizer.json").write_text(json.dumps(tj))
    convert(hf, tmp_path / "out.gguf")
    assert GGUFReader(tmp_path / "out.gguf").fields["tokenizer.ggml.pre"].contents() == "gpt2"

    tj["pre_tokenizer"] = {"type": "Whitespace"}
    (hf / "tokenizer.json").write_text(json.dumps(tj))
    with pytest.raises(ModelError, match="unsupported pre_tokenizer"):
        convert(hf, tmp_path / "bad.gguf")
