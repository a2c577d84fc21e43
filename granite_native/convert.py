"""Converts a Hugging Face granite-speech checkpoint into a GGUF file laid out exactly as
CrispASR's convert-granite-speech-to-gguf.py lays it out (same keys in the same order, same
tensor names, shapes, types and order), plus the source pre-tokenizer under tokenizer.ggml.pre.

Tensors are streamed: the plan (names, shapes, types) comes from the safetensors headers alone,
then each tensor is read from the memory map, converted and written before the next, so memory
stays around the size of the largest tensor."""
import os
from collections import namedtuple

import gguf
import numpy as np

from . import tensor_names
from .errors import ModelError
from .hf_tokenizer import read_json, read_tokenizer
from .lora import fold, read_adapter
from .mel_tables import N_MELS, SAMPLE_RATE, htk_mel_filters, left_aligned_hann
from .safetensors_file import checkpoint_files

ARCH = "granite_speech"
OUTTYPES = ("f16", "f32")

Report = namedtuple("Report", "n_tensors n_f16 n_f32 skipped n_lora_folded")
_Source = namedtuple("_Source", "gguf_name file hf_name shape dtype")


def convert(model_dir, out_path, outtype="f16"):
    """Writes out_path from the checkpoint in model_dir. outtype "f16" stores the LLM matrices
    as F16 and everything else as F32 (CrispASR's rule); "f32" stores everything as F32.
    Returns a Report; raises ModelError for an unusable checkpoint before touching out_path."""
    if outtype not in OUTTYPES:
        raise ValueError(f"outtype must be one of {OUTTYPES}, got {outtype!r}")
    model_dir, out_path = os.fspath(model_dir), os.fspath(out_path)
    if not os.path.isdir(model_dir):
        raise ModelError(model_dir, "not a checkpoint directory")

    writer = gguf.GGUFWriter(out_path, arch=ARCH)
    counts, n_vocab, tied = _add_metadata(writer, model_dir)
    tokens, merges, pre = read_tokenizer(model_dir, n_vocab)
    writer.add_array("tokenizer.ggml.tokens", tokens)
    writer.add_array("tokenizer.ggml.merges", merges)
    if pre is not None:
        writer.add_string("tokenizer.ggml.pre", pre)

    files = checkpoint_files(model_dir)
    sources, skipped = _plan(files, model_dir, counts, tied, outtype)
    lora = read_adapter(model_dir, {s.hf_name: s.shape for s in sources})
    tables = [("audio.mel_filters", htk_mel_filters()), ("audio.mel_window", left_aligned_hann())]
    for name, table in tables:
        writer.add_tensor_info(name, table.shape, table.dtype, table.nbytes)
    for s in sources:
        writer.add_tensor_info(s.gguf_name, s.shape, s.dtype,
                               int(np.prod(s.shape)) * np.dtype(s.dtype).itemsize)

    part_path = out_path + ".part"
    try:
        writer.write_header_to_file(part_path)
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for _, table in tables:
            writer.write_tensor_data(table)
        for s in sources:
            writer.write_tensor_data(_load(s, lora.get(s.hf_name)))
        writer.close()
        os.replace(part_path, out_path)
    except BaseException:
        writer.close()
        if os.path.exists(part_path):
            os.remove(part_path)
        raise
    n_f16 = sum(s.dtype == np.float16 for s in sources)
    return Report(n_tensors=len(tables) + len(sources), n_f16=n_f16,
                  n_f32=len(tables) + len(sources) - n_f16, skipped=skipped,
                  n_lora_folded=len(lora))


def _plan(files, model_dir, counts, tied, outtype):
    """Tensors in CrispASR's order: shard by shard, each shard's names sorted; with tied
    embeddings a copy of token_embd.weight comes last as output.weight."""
    sources, skipped, seen = [], [], {}
    for f in files:
        for hf_name in sorted(f.names()):
            name = tensor_names.gguf_name(hf_name)
            if name is None or (tied and hf_name == tensor_names.LM_HEAD):
                skipped.append(hf_name)
                continue
            if name in seen:
                raise ModelError(f.path, f"{hf_name!r} appears again (first in {seen[name]})")
            seen[name] = f.path
            if f.dtype(hf_name) not in ("F32", "F16", "BF16"):
                raise ModelError(f.path, f"tensor {hf_name!r} has dtype {f.dtype(hf_name)}; "
                                         "only F32, F16 and BF16 can be converted")
            shape = f.shape(hf_name)
            f16 = outtype == "f16" and not tensor_names.stays_f32(name, shape)
            sources.append(_Source(name, f, hf_name, shape, np.float16 if f16 else np.float32))
    if tied:
        embd = next((s for s in sources if s.gguf_name == tensor_names.TOKEN_EMBD), None)
        if embd is not None:
            sources.append(embd._replace(gguf_name=tensor_names.OUTPUT))
    expected = tensor_names.expected_names(*counts)
    produced = {s.gguf_name for s in sources}
    missing, extra = sorted(expected - produced), sorted(produced - expected)
    if missing or extra:
        raise ModelError(model_dir, "checkpoint does not match config.json: "
                         + "; ".join(f"{what}: {', '.join(names)}" for what, names in
                                     (("missing tensors", missing), ("unexpected tensors", extra))
                                     if names))
    return sources, skipped


def _load(source, lora):
    arr = source.file.tensor(source.hf_name)
    if lora is not None:
        arr = fold(arr, *lora)
    if source.dtype == np.float16:
        try:
            with np.errstate(over="raise"):
                return arr.astype(np.float16)
        except FloatingPointError:
            raise ModelError(source.file.path, f"{source.hf_name} has values beyond the F16 range; "
                                               "convert with outtype f32") from None
    return np.asarray(arr, dtype=np.float32)


def _add_metadata(writer, model_dir):
    """Writes the granite_speech.* keys in CrispASR's order, with CrispASR's defaults (the
    4.0/4.1 values) for absent config entries. Returns the layer counts, vocab size and whether
    the LM head is tied to the embedding."""
    config_path = os.path.join(model_dir, "config.json")
    if not os.path.exists(config_path):
        raise ModelError(model_dir, "config.json is missing")
    cfg = _Config(read_json(config_path), config_path)
    enc, proj = cfg.section("encoder_config"), cfg.section("projector_config")
    text = cfg.section("text_config")

    def u32(key, value):
        writer.add_uint32(f"{ARCH}.{key}", value)

    def f32(key, value):
        writer.add_float32(f"{ARCH}.{key}", value)

    u32("sample_rate", SAMPLE_RATE)
    u32("n_mels", N_MELS)
    enc_layers, enc_d = enc.count("num_layers", 16), enc.count("hidden_dim", 1024)
    u32("enc.n_layers", enc_layers)
    u32("enc.d_model", enc_d)
    u32("enc.n_heads", enc.count("num_heads", 8))
    u32("enc.head_dim", enc.count("dim_head", 128))
    u32("enc.input_dim", enc.count("input_dim", 160))
    u32("enc.conv_kernel", enc.count("conv_kernel_size", 15))
    u32("enc.ff_dim", enc_d * enc.count("feedforward_mult", 4))
    u32("enc.context_size", enc.count("context_size", 200))
    u32("enc.max_pos_emb", enc.count("max_pos_emb", 512))

    proj_layers = proj.count("num_hidden_layers", 2)
    u32("proj.n_layers", proj_layers)
    u32("proj.d_model", proj.count("hidden_size", 1024))
    u32("proj.n_heads", proj.count("num_attention_heads", 16))
    u32("proj.ff_dim", proj.count("intermediate_size", 4096))
    # The plus variant feeds the projector extra encoder layers, recorded as "i,j,...".
    cat_layers = enc.get("cat_hidden_layers", [])
    if not isinstance(cat_layers, list) or not all(isinstance(i, int) for i in cat_layers):
        raise ModelError(config_path, f"encoder_config.cat_hidden_layers must be a list of "
                                      f"integers, got {cat_layers!r}")
    if cat_layers:
        writer.add_string(f"{ARCH}.proj.cat_layers", ",".join(str(i) for i in cat_layers))
    u32("proj.encoder_hidden_size", proj.count("encoder_hidden_size", enc_d))

    llm_layers, d_model = text.count("num_hidden_layers", 40), text.count("hidden_size", 2048)
    n_heads, n_vocab = text.count("num_attention_heads", 16), text.count("vocab_size", 100353)
    if n_heads == 0:
        raise ModelError(config_path, "text_config.num_attention_heads must be positive")
    u32("llm.n_layers", llm_layers)
    u32("llm.d_model", d_model)
    u32("llm.n_heads", n_heads)
    u32("llm.n_kv_heads", text.count("num_key_value_heads", 4))
    u32("llm.head_dim", d_model // n_heads)
    u32("llm.ff_dim", text.count("intermediate_size", 4096))
    # transformers 5 moved rope_theta into rope_parameters.
    rope = text.get("rope_parameters")
    rope = _Config(rope, config_path, "text_config.rope_parameters") if isinstance(rope, dict) else text
    f32("llm.rope_theta", rope.real("rope_theta", text.real("rope_theta", 10000.0)))
    f32("llm.rms_norm_eps", text.real("rms_norm_eps", 1e-5))
    u32("llm.vocab_size", n_vocab)
    f32("llm.embedding_multiplier", text.real("embedding_multiplier", 12.0))
    f32("llm.attention_multiplier", text.real("attention_multiplier", 0.0078125))
    f32("llm.residual_multiplier", text.real("residual_multiplier", 0.22))
    f32("llm.logits_scaling", text.real("logits_scaling", 8.0))

    u32("downsample_rate", cfg.count("downsample_rate", 5))
    u32("window_size", cfg.count("window_size", 15))
    u32("audio_token_index", cfg.count("audio_token_index", 100352))
    generation_path = os.path.join(model_dir, "generation_config.json")
    generation = read_json(generation_path) if os.path.exists(generation_path) else {}
    if not isinstance(generation, dict):
        raise ModelError(generation_path, "not a JSON object")
    u32("llm.eos_token_id", _first_id(generation.get("eos_token_id"), text.get("eos_token_id")))
    u32("llm.bos_token_id", _first_id(generation.get("bos_token_id"), text.get("bos_token_id")))
    tied = bool(text.get("tie_word_embeddings", False))
    return (enc_layers, proj_layers, llm_layers), n_vocab, tied


def _first_id(*candidates):
    """The first usable id, taking the first element of a list (CrispASR's _first_int)."""
    for value in candidates:
        if isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, int) and 0 <= value < 2**32:
            return value
    return 0


class _Config:
    """One config.json section, with typed lookups that name the offending entry."""

    def __init__(self, values, path, where=""):
        if not isinstance(values, dict):
            raise ModelError(path, f"{where or 'config'} is not a JSON object")
        self.values, self.path, self.where = values, path, where

    def get(self, key, default=None):
        return self.values.get(key, default)

    def section(self, key):
        return _Config(self.values.get(key, {}), self.path, key)

    def count(self, key, default):
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
            raise ModelError(self.path, f"{self._name(key)} must be a non-negative integer, got {value!r}")
        return value

    def real(self, key, default):
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ModelError(self.path, f"{self._name(key)} must be a number, got {value!r}")
        return float(value)

    def _name(self, key):
        return f"{self.where}.{key}" if self.where else key
