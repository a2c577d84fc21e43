"""Read a CrispASR granite_speech GGUF with the `gguf` package only: hyper-parameters as a
transformers config, tensors dequantized exactly as stored and renamed to transformers' module
paths, and a `tokenizers` BPE built from the embedded vocabulary."""
import re

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

ARCH = "granite_speech"

_GLOBAL_NAMES = {
    "enc.input": "model.encoder.input_linear",
    "enc.ctc_out": "model.encoder.out",
    "enc.ctc_mid": "model.encoder.out_mid",
    "proj.ln": "model.projector.qformer.layernorm",
    "proj.linear": "model.projector.linear",
    "token_embd": "model.language_model.embed_tokens",
    "output_norm": "model.language_model.norm",
    "output": "lm_head",
}
_ENC_BLOCK = {
    "ff1_norm": "ff1.pre_norm", "ff1_up": "ff1.up_proj", "ff1_down": "ff1.down_proj",
    "ff2_norm": "ff2.pre_norm", "ff2_up": "ff2.up_proj", "ff2_down": "ff2.down_proj",
    "attn_norm": "attn.pre_norm", "attn_q": "attn.to_q", "attn_kv": "attn.to_kv",
    "attn_out": "attn.to_out", "attn_rel_pos": "attn.rel_pos_emb",
    "conv_norm": "conv.norm", "conv_up": "conv.up_conv", "conv_dw": "conv.depth_conv.conv",
    "conv_bn": "conv.batch_norm", "conv_down": "conv.down_conv", "post_norm": "post_norm",
}
_PROJ_BLOCK = {
    "sa_query": "attention.attention.query", "sa_key": "attention.attention.key",
    "sa_value": "attention.attention.value", "sa_out": "attention.output.dense",
    "sa_norm": "attention.output.LayerNorm",
    "ca_query": "crossattention.attention.query", "ca_key": "crossattention.attention.key",
    "ca_value": "crossattention.attention.value", "ca_out": "crossattention.output.dense",
    "ca_norm": "crossattention.output.LayerNorm",
    "ffn_up": "intermediate_query.dense", "ffn_down": "output_query.dense",
    "ffn_norm": "output_query.LayerNorm",
}
_LLM_BLOCK = {
    "attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm", "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}
_BLOCK_RE = re.compile(r"^(enc\.blk|proj\.blk|blk)\.(\d+)\.(\w+)\.(weight|bias|running_mean|running_var)$")
_PLAIN_RE = re.compile(r"^([\w.]+?)\.(weight|bias)$")

# Tensors the converter writes that are not model parameters (the mel front-end's tables).
FRONT_END_TENSORS = ("audio.mel_filters", "audio.mel_window")


def hf_name(gguf_name):
    """transformers parameter path of a GGUF tensor name; KeyError if it is not a model tensor."""
    if gguf_name == "proj.query":
        return "model.projector.query"
    m = _BLOCK_RE.match(gguf_name)
    if m:
        prefix, idx, part, kind = m.groups()
        if prefix == "enc.blk":
            return f"model.encoder.layers.{idx}.{_ENC_BLOCK[part]}.{kind}"
        if prefix == "proj.blk":
            return f"model.projector.qformer.encoder.layer.{idx}.{_PROJ_BLOCK[part]}.{kind}"
        return f"model.language_model.layers.{idx}.{_LLM_BLOCK[part]}.{kind}"
    m = _PLAIN_RE.match(gguf_name)
    if m and m.group(1) in _GLOBAL_NAMES:
        return f"{_GLOBAL_NAMES[m.group(1)]}.{m.group(2)}"
    raise KeyError(gguf_name)


class GraniteGGUF:
    def __init__(self, path):
        self.path = str(path)
        self.reader = GGUFReader(self.path)
        arch = self._field("general.architecture")
        if arch != ARCH:
            raise ValueError(f"{self.path}: general.architecture is {arch!r}, expected {ARCH!r}")
        if f"{ARCH}.proj.cat_layers" in self.reader.fields:
            raise ValueError(f"{self.path}: the plus variant (proj.cat_layers) is not modelled by "
                             "transformers 5.24's GraniteSpeech encoder")
        self.tensors = {t.name: t for t in self.reader.tensors}

    def _field(self, key):
        field = self.reader.fields.get(key)
        if field is None:
            raise ValueError(f"{self.path}: missing metadata key {key}")
        return field.contents()

    def hp(self, key):
        return self._field(f"{ARCH}.{key}")

    def shape(self, name):
        """Logical (PyTorch) shape of a tensor: GGUF ne reversed."""
        return tuple(int(n) for n in reversed(self.tensors[name].shape))

    def hf_config(self):
        """transformers GraniteSpeechConfig from the granite_speech.* keys (spec 1.2 and A.2)."""
        from transformers import GraniteSpeechConfig

        enc_d = self.hp("enc.d_model")
        dw_channels, _, conv_kernel = self.shape("enc.blk.0.conv_dw.weight")
        enc_ff = self.hp("enc.ff_dim")
        llm_d, llm_heads = self.hp("llm.d_model"), self.hp("llm.n_heads")
        if enc_ff % enc_d or dw_channels % enc_d:
            raise ValueError(f"{self.path}: encoder widths {enc_ff}, {dw_channels} are not "
                             f"multiples of {enc_d}")
        if self.hp("llm.head_dim") * llm_heads != llm_d:
            raise ValueError(f"{self.path}: llm.head_dim x n_heads != d_model")
        eos, bos = self.hp("llm.eos_token_id"), self.hp("llm.bos_token_id")
        return GraniteSpeechConfig(
            audio_token_index=self.hp("audio_token_index"),
            downsample_rate=self.hp("downsample_rate"),
            window_size=self.hp("window_size"),
            has_lora_adapter=False,
            tie_word_embeddings=False,
            encoder_config=dict(
                input_dim=self.hp("enc.input_dim"), num_layers=self.hp("enc.n_layers"),
                hidden_dim=enc_d, feedforward_mult=enc_ff // enc_d,
                num_heads=self.hp("enc.n_heads"), dim_head=self.hp("enc.head_dim"),
                output_dim=self.shape("enc.ctc_out.weight")[0],
                context_size=self.hp("enc.context_size"), max_pos_emb=self.hp("enc.max_pos_emb"),
                conv_kernel_size=conv_kernel, conv_expansion_factor=dw_channels // enc_d,
            ),
            projector_config=dict(
                model_type="blip_2_qformer", hidden_size=self.hp("proj.d_model"),
                encoder_hidden_size=self.hp("proj.encoder_hidden_size"),
                num_hidden_layers=self.hp("proj.n_layers"),
                num_attention_heads=self.hp("proj.n_heads"),
                intermediate_size=self.hp("proj.ff_dim"), hidden_act="gelu",
                layer_norm_eps=1e-12, cross_attention_frequency=1,
                use_qformer_text_input=False,
            ),
            text_config=dict(
                model_type="granite", vocab_size=self.hp("llm.vocab_size"), hidden_size=llm_d,
                intermediate_size=self.hp("llm.ff_dim"), num_hidden_layers=self.hp("llm.n_layers"),
                num_attention_heads=llm_heads, num_key_value_heads=self.hp("llm.n_kv_heads"),
                hidden_act="silu", rms_norm_eps=self.hp("llm.rms_norm_eps"),
                rope_parameters={"rope_type": "default", "rope_theta": float(self.hp("llm.rope_theta"))},
                attention_bias=False, mlp_bias=False,
                embedding_multiplier=self.hp("llm.embedding_multiplier"),
                attention_multiplier=self.hp("llm.attention_multiplier"),
                residual_multiplier=self.hp("llm.residual_multiplier"),
                logits_scaling=self.hp("llm.logits_scaling"),
                bos_token_id=bos, eos_token_id=eos, tie_word_embeddings=False,
            ),
        )

    def weights(self):
        """Yield (transformers name, float32 array in the stored values) for every model tensor."""
        for name, t in self.tensors.items():
            if name in FRONT_END_TENSORS:
                continue
            try:
                target = hf_name(name)
            except KeyError:
                raise ValueError(f"{self.path}: tensor {name} has no transformers counterpart") from None
            values = dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
            yield target, values.reshape(self.shape(name))

    def tokens(self):
        return list(self._field("tokenizer.ggml.tokens"))

    def tokenizer(self):
        """GPT-2-pattern byte-level BPE over the embedded vocabulary (spec A.12: CrispASR's files
        record no pre-tokenizer and GPT-2's reproduces the real prompt ids); every `<|...|>`
        entry is an atomic special token, as in CrispASR's runtime."""
        from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

        tokens = self.tokens()
        merges = [tuple(m.split(" ", 1)) for m in self._field("tokenizer.ggml.merges")]
        vocab = {}
        for i, tok in enumerate(tokens):
            if tok and tok not in vocab:
                vocab[tok] = i
        tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
        tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tk.decoder = decoders.ByteLevel()
        specials = [t for t in tokens if t.startswith("<|") and t.endswith("|>")]
        tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
        return tk
