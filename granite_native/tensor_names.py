"""CrispASR's GGUF tensor names for the Hugging Face granite-speech checkpoint, and its rule for
which tensors stay F32 in an F16 file."""
import re

# Hub layout, which transformers 5.24 also writes on save.
_TOP = {
    "encoder.input_linear.weight": "enc.input.weight",
    "encoder.input_linear.bias": "enc.input.bias",
    "encoder.out.weight": "enc.ctc_out.weight",
    "encoder.out.bias": "enc.ctc_out.bias",
    "encoder.out_mid.weight": "enc.ctc_mid.weight",
    "encoder.out_mid.bias": "enc.ctc_mid.bias",
    "projector.query": "proj.query",
    "projector.linear.weight": "proj.linear.weight",
    "projector.linear.bias": "proj.linear.bias",
    "projector.qformer.layernorm.weight": "proj.ln.weight",
    "projector.qformer.layernorm.bias": "proj.ln.bias",
    "language_model.model.embed_tokens.weight": "token_embd.weight",
    "language_model.model.norm.weight": "output_norm.weight",
    "language_model.lm_head.weight": "output.weight",
}
LM_HEAD = "language_model.lm_head.weight"
TOKEN_EMBD = "token_embd.weight"
OUTPUT = "output.weight"


def _both(hf_module, gguf_module):
    return {f"{hf_module}.weight": f"{gguf_module}.weight", f"{hf_module}.bias": f"{gguf_module}.bias"}


_ENC_BLOCK = {
    **_both("attn.pre_norm", "attn_norm"),
    "attn.to_q.weight": "attn_q.weight",
    "attn.to_kv.weight": "attn_kv.weight",
    **_both("attn.to_out", "attn_out"),
    "attn.rel_pos_emb.weight": "attn_rel_pos.weight",
    **_both("conv.up_conv", "conv_up"),
    "conv.depth_conv.conv.weight": "conv_dw.weight",
    **_both("conv.batch_norm", "conv_bn"),
    "conv.batch_norm.running_mean": "conv_bn.running_mean",
    "conv.batch_norm.running_var": "conv_bn.running_var",
    **_both("conv.down_conv", "conv_down"),
    **_both("conv.norm", "conv_norm"),
    **_both("ff1.pre_norm", "ff1_norm"),
    **_both("ff1.up_proj", "ff1_up"),
    **_both("ff1.down_proj", "ff1_down"),
    **_both("ff2.pre_norm", "ff2_norm"),
    **_both("ff2.up_proj", "ff2_up"),
    **_both("ff2.down_proj", "ff2_down"),
    **_both("post_norm", "post_norm"),
}

# Only the query path of each BLIP-2 layer: the text-path modules (intermediate.*, output.*)
# are never used with audio queries, so CrispASR drops them.
_PROJ_BLOCK = {
    **_both("attention.attention.query", "sa_query"),
    **_both("attention.attention.key", "sa_key"),
    **_both("attention.attention.value", "sa_value"),
    **_both("attention.output.dense", "sa_out"),
    **_both("attention.output.LayerNorm", "sa_norm"),
    **_both("crossattention.attention.query", "ca_query"),
    **_both("crossattention.attention.key", "ca_key"),
    **_both("crossattention.attention.value", "ca_value"),
    **_both("crossattention.output.dense", "ca_out"),
    **_both("crossattention.output.LayerNorm", "ca_norm"),
    **_both("intermediate_query.dense", "ffn_up"),
    **_both("output_query.dense", "ffn_down"),
    **_both("output_query.LayerNorm", "ffn_norm"),
}

_LLM_BLOCK = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}

_BLOCKS = [
    (re.compile(r"encoder\.layers\.(\d+)\.(.+)"), "enc.blk.", _ENC_BLOCK),
    (re.compile(r"projector\.qformer\.encoder\.layer\.(\d+)\.(.+)"), "proj.blk.", _PROJ_BLOCK),
    (re.compile(r"language_model\.model\.layers\.(\d+)\.(.+)"), "blk.", _LLM_BLOCK),
]


def gguf_name(hf_name):
    """The GGUF name for a checkpoint tensor, or None for tensors the GGUF does not carry."""
    if hf_name in _TOP:
        return _TOP[hf_name]
    for pattern, prefix, table in _BLOCKS:
        m = pattern.fullmatch(hf_name)
        if m and m.group(2) in table:
            return f"{prefix}{m.group(1)}.{table[m.group(2)]}"
    return None


def expected_names(n_enc, n_proj, n_llm):
    """Every tensor name a complete checkpoint with these layer counts converts to."""
    names = set(_TOP.values())
    for prefix, table, n in (("enc.blk.", _ENC_BLOCK, n_enc), ("proj.blk.", _PROJ_BLOCK, n_proj),
                             ("blk.", _LLM_BLOCK, n_llm)):
        names.update(f"{prefix}{i}.{suffix}" for i in range(n) for suffix in table.values())
    return names


def stays_f32(name, shape):
    """CrispASR's rule: only the LLM's matrices become F16 in an F16 file."""
    return (name.endswith(".bias")
            or "norm" in name or "ln" in name
            or "rel_pos" in name
            or "running_mean" in name or "running_var" in name
            or ("query" in name and len(shape) == 3)
            or len(shape) <= 1
            or name.startswith(("enc.", "proj.")))
