"""The model's hyperparameters: every granite_speech.* key of the GGUF (with CrispASR's
defaults for missing keys, which are the 4.0-1b / 4.1 values), plus the few sizes the runtime
takes from tensor shapes rather than from keys, as CrispASR does."""
import dataclasses
import math
from dataclasses import dataclass, field

import gguf

from .errors import ModelError

PREFIX = "granite_speech."


def _key(name, default):
    return field(default=default, metadata={"key": PREFIX + name})


@dataclass(frozen=True)
class HParams:
    # From tensor shapes (the runtime trusts these over any key).
    enc_ctc_dim: int     # enc.ctc_out.weight ne[1]: CTC classes
    enc_dw_kernel: int   # conv_dw ne[0]: the depthwise kernel actually used
    enc_conv_inner: int  # conv_dw ne[2]: channels after the GLU

    sample_rate: int = _key("sample_rate", 16000)
    n_mels: int = _key("n_mels", 80)
    enc_n_layers: int = _key("enc.n_layers", 16)
    enc_d_model: int = _key("enc.d_model", 1024)
    enc_n_heads: int = _key("enc.n_heads", 8)
    enc_head_dim: int = _key("enc.head_dim", 128)
    enc_input_dim: int = _key("enc.input_dim", 160)
    enc_conv_kernel: int = _key("enc.conv_kernel", 15)  # as stored; the conv uses enc_dw_kernel
    enc_ff_dim: int = _key("enc.ff_dim", 4096)
    enc_context_size: int = _key("enc.context_size", 200)
    enc_max_pos_emb: int = _key("enc.max_pos_emb", 512)
    proj_n_layers: int = _key("proj.n_layers", 2)
    proj_d_model: int = _key("proj.d_model", 1024)
    proj_n_heads: int = _key("proj.n_heads", 16)
    proj_ff_dim: int = _key("proj.ff_dim", 4096)
    proj_encoder_hidden_size: int = _key("proj.encoder_hidden_size", 1024)
    proj_cat_layers: tuple = _key("proj.cat_layers", ())  # HF hidden-state indices (plus)
    llm_n_layers: int = _key("llm.n_layers", 40)
    llm_d_model: int = _key("llm.d_model", 2048)
    llm_n_heads: int = _key("llm.n_heads", 16)
    llm_n_kv_heads: int = _key("llm.n_kv_heads", 4)
    llm_head_dim: int = _key("llm.head_dim", 128)
    llm_ff_dim: int = _key("llm.ff_dim", 4096)
    llm_rope_theta: float = _key("llm.rope_theta", 10000.0)
    llm_rms_norm_eps: float = _key("llm.rms_norm_eps", 1e-5)
    llm_vocab_size: int = _key("llm.vocab_size", 100353)
    llm_embedding_multiplier: float = _key("llm.embedding_multiplier", 12.0)
    llm_attention_multiplier: float = _key("llm.attention_multiplier", 0.0078125)
    llm_residual_multiplier: float = _key("llm.residual_multiplier", 0.22)
    llm_logits_scaling: float = _key("llm.logits_scaling", 8.0)
    downsample_rate: int = _key("downsample_rate", 5)
    window_size: int = _key("window_size", 15)
    audio_token_index: int = _key("audio_token_index", 100352)
    llm_eos_token_id: int = _key("llm.eos_token_id", 100257)
    llm_bos_token_id: int = _key("llm.bos_token_id", 100257)

    @property
    def is_plus(self):
        """The plus variant feeds the projector extra encoder layers (proj.cat_layers)."""
        return bool(self.proj_cat_layers)

    @property
    def proj_n_queries(self):
        """Q-Former queries per window."""
        return self.window_size // self.downsample_rate

    @property
    def proj_head_dim(self):
        return self.proj_d_model // self.proj_n_heads

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["proj_cat_layers"] = list(self.proj_cat_layers)
        d.update(is_plus=self.is_plus, proj_n_queries=self.proj_n_queries,
                 proj_head_dim=self.proj_head_dim)
        return d


_INT_TYPES = {gguf.GGUFValueType.UINT8, gguf.GGUFValueType.INT8, gguf.GGUFValueType.UINT16,
              gguf.GGUFValueType.INT16, gguf.GGUFValueType.UINT32, gguf.GGUFValueType.INT32,
              gguf.GGUFValueType.UINT64, gguf.GGUFValueType.INT64}
_FLOAT_TYPES = {gguf.GGUFValueType.FLOAT32, gguf.GGUFValueType.FLOAT64}


def _read_key(path, gguf_file, f):
    key = f.metadata["key"]
    fld = gguf_file.fields.get(key)
    if fld is None:
        return f.default
    vtype = fld.type
    if f.name == "proj_cat_layers":
        if vtype != gguf.GGUFValueType.STRING:
            raise ModelError(path, f"{key} has type {vtype.name}, expected a string")
        try:
            return tuple(int(part) for part in fld.value.split(",") if part.strip())
        except ValueError:
            raise ModelError(path, f"{key} is not a comma-separated list of layer indices")
    if f.type is int:
        if vtype not in _INT_TYPES:
            raise ModelError(path, f"{key} has type {vtype.name}, expected an integer")
        value = fld.value
        if value < 0:
            raise ModelError(path, f"{key} is negative ({value})")
        return value
    if vtype not in _FLOAT_TYPES:
        raise ModelError(path, f"{key} has type {vtype.name}, expected a float")
    value = fld.value
    if not math.isfinite(value):
        raise ModelError(path, f"{key} is not finite ({value})")
    return value


def _tensor_ne(path, tensors, name):
    t = tensors.get(name)
    if t is None:
        raise ModelError(path, f"missing tensor {name}")
    return t.ne


def _check(path, hp):
    sizes = ["sample_rate", "n_mels", "enc_n_layers", "enc_d_model", "enc_n_heads",
             "enc_head_dim", "enc_input_dim", "enc_ff_dim", "enc_context_size",
             "enc_max_pos_emb", "proj_n_layers", "proj_d_model", "proj_n_heads", "proj_ff_dim",
             "proj_encoder_hidden_size", "llm_n_layers", "llm_d_model", "llm_n_heads",
             "llm_n_kv_heads", "llm_head_dim", "llm_ff_dim", "llm_vocab_size",
             "downsample_rate", "window_size"]
    keys = {f.name: f.metadata.get("key") for f in dataclasses.fields(HParams)}
    for name in sizes:
        if getattr(hp, name) < 1:
            raise ModelError(path, f"{keys[name]} is 0")
    rules = [
        (hp.enc_input_dim == 2 * hp.n_mels,
         f"enc.input_dim ({hp.enc_input_dim}) is not 2 x n_mels ({hp.n_mels}): "
         "the encoder takes pairs of stacked mel frames"),
        (hp.llm_n_heads % hp.llm_n_kv_heads == 0,
         f"llm.n_heads ({hp.llm_n_heads}) is not a multiple of "
         f"llm.n_kv_heads ({hp.llm_n_kv_heads})"),
        (hp.proj_d_model % hp.proj_n_heads == 0,
         f"proj.d_model ({hp.proj_d_model}) is not a multiple of proj.n_heads ({hp.proj_n_heads})"),
        (hp.window_size % hp.downsample_rate == 0,
         f"window_size ({hp.window_size}) is not a multiple of "
         f"downsample_rate ({hp.downsample_rate})"),
        (all(0 <= i <= hp.enc_n_layers for i in hp.proj_cat_layers),
         f"proj.cat_layers {list(hp.proj_cat_layers)} names a layer outside 0..{hp.enc_n_layers}"),
        (hp.proj_encoder_hidden_size == hp.enc_d_model * (1 + len(hp.proj_cat_layers)),
         f"proj.encoder_hidden_size ({hp.proj_encoder_hidden_size}) is not enc.d_model "
         f"({hp.enc_d_model}) x (1 + {len(hp.proj_cat_layers)} cat_layers)"),
        (hp.llm_rms_norm_eps > 0, f"llm.rms_norm_eps ({hp.llm_rms_norm_eps}) is not positive"),
        (hp.llm_rope_theta > 0, f"llm.rope_theta ({hp.llm_rope_theta}) is not positive"),
        (hp.llm_logits_scaling != 0, "llm.logits_scaling is 0"),
    ]
    for name in ("audio_token_index", "llm_eos_token_id", "llm_bos_token_id"):
        rules.append((getattr(hp, name) < hp.llm_vocab_size,
                      f"{keys[name]} ({getattr(hp, name)}) is outside the vocabulary of "
                      f"{hp.llm_vocab_size}"))
    for ok, problem in rules:
        if not ok:
            raise ModelError(path, problem)


def read_hparams(path, gguf_file):
    """HParams from an opened GGUFFile; ModelError if a key has the wrong type or the
    values cannot describe a runnable model."""
    tensors = {t.name: t for t in gguf_file.tensors}
    values = {f.name: _read_key(path, gguf_file, f)
              for f in dataclasses.fields(HParams) if "key" in f.metadata}
    ctc = _tensor_ne(path, tensors, "enc.ctc_out.weight")
    dw = _tensor_ne(path, tensors, "enc.blk.0.conv_dw.weight")
    if len(ctc) != 2 or len(dw) != 3:
        raise ModelError(path, f"enc.ctc_out.weight ne={ctc} or enc.blk.0.conv_dw.weight "
                               f"ne={dw} does not have the expected 2 / 3 dimensions")
    hp = HParams(enc_ctc_dim=ctc[1], enc_dw_kernel=dw[0], enc_conv_inner=dw[2], **values)
    _check(path, hp)
    return hp
