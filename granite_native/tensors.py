"""The tensors a granite_speech GGUF must hold for given hyperparameters (CrispASR's names and
ggml `ne` shapes), and the check of a file's tensors against that list.

Matrices may be stored in any type the kernels compute with; the types are read from the file,
never assumed, because CrispASR's variants differ tensor by tensor. Vectors, tables and the
depthwise conv stay F32 in every variant, and the code that uses them relies on that.
"""
from dataclasses import dataclass

import gguf

from . import _native
from .errors import ModelError

F32 = int(gguf.GGMLQuantizationType.F32)
FLOAT_TYPES = frozenset(int(getattr(gguf.GGMLQuantizationType, n)) for n in ("F32", "F16", "BF16"))
MATRIX_TYPES = frozenset(t for t in range(64) if _native.type_info(t) is not None)
N_FFT_BINS = 257  # n_fft 512 / 2 + 1; the front-end's FFT size is fixed


def type_name(type_id):
    try:
        return gguf.GGMLQuantizationType(type_id).name
    except ValueError:  # not a ggml type: a repacked layout, or unknown
        info = _native.type_info(type_id)
        return info[0] if info else f"type {type_id}"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shapes: tuple   # accepted ggml ne tuples, the first being the usual one
    shape: tuple    # logical shape: (rows, cols) of a matrix, (n,) of a vector
    matrix: bool    # any MATRIX_TYPES type allowed; otherwise F32 only


def _vec(name, n):
    return TensorSpec(name, ((n,),), (n,), False)


def _mat(name, cols, rows):
    """A linear layer's weight: ne = (cols, rows), rows of `cols` elements."""
    return TensorSpec(name, ((cols, rows),), (rows, cols), True)


def _linear(prefix, n_in, n_out):
    return [_mat(prefix + ".weight", n_in, n_out), _vec(prefix + ".bias", n_out)]


def _norm(prefix, n):
    return [_vec(prefix + ".weight", n), _vec(prefix + ".bias", n)]


def _encoder(hp):
    d, ff, inner = hp.enc_d_model, hp.enc_ff_dim, hp.enc_conv_inner
    att = hp.enc_n_heads * hp.enc_head_dim
    specs = (_linear("enc.input", hp.enc_input_dim, d)
             + _linear("enc.ctc_out", d, hp.enc_ctc_dim)
             + _linear("enc.ctc_mid", hp.enc_ctc_dim, d))
    for i in range(hp.enc_n_layers):
        b = f"enc.blk.{i}."
        for ffn in ("ff1", "ff2"):
            specs += (_norm(b + ffn + "_norm", d) + _linear(b + ffn + "_up", d, ff)
                      + _linear(b + ffn + "_down", ff, d))
        specs += _norm(b + "attn_norm", d) + [
            _mat(b + "attn_q.weight", d, att),
            _mat(b + "attn_kv.weight", d, 2 * att),
            *_linear(b + "attn_out", att, d),
            _mat(b + "attn_rel_pos.weight", hp.enc_head_dim, 2 * hp.enc_max_pos_emb + 1),
        ]
        # The 1x1 convs are 3-D (1, in, out) in the file; their bytes are an (out, in) matrix.
        specs += _norm(b + "conv_norm", d) + [
            TensorSpec(b + "conv_up.weight", ((1, d, 2 * inner),), (2 * inner, d), True),
            _vec(b + "conv_up.bias", 2 * inner),
            TensorSpec(b + "conv_dw.weight", ((hp.enc_dw_kernel, 1, inner),),
                       (inner, hp.enc_dw_kernel), False),
            *[_vec(b + "conv_bn." + p, inner)
              for p in ("weight", "bias", "running_mean", "running_var")],
            TensorSpec(b + "conv_down.weight", ((1, inner, d),), (d, inner), True),
            _vec(b + "conv_down.bias", d),
        ] + _norm(b + "post_norm", d)
    return specs


def _projector(hp):
    d, nq = hp.proj_d_model, hp.proj_n_queries
    # The converter writes proj.query as (d, nq, 1); crispasr-quantize drops the trailing 1.
    specs = [TensorSpec("proj.query", ((d, nq, 1), (d, nq)), (nq, d), False)]
    specs += _norm("proj.ln", d) + _linear("proj.linear", d, hp.llm_d_model)
    for i in range(hp.proj_n_layers):
        b = f"proj.blk.{i}."
        for name in ("sa_query", "sa_key", "sa_value", "sa_out", "ca_query", "ca_out"):
            specs += _linear(b + name, d, d)
        specs += _linear(b + "ca_key", hp.proj_encoder_hidden_size, d)
        specs += _linear(b + "ca_value", hp.proj_encoder_hidden_size, d)
        specs += (_norm(b + "sa_norm", d) + _norm(b + "ca_norm", d) + _norm(b + "ffn_norm", d)
                  + _linear(b + "ffn_up", d, hp.proj_ff_dim)
                  + _linear(b + "ffn_down", hp.proj_ff_dim, d))
    return specs


def _llm(hp):
    d, ff, hd = hp.llm_d_model, hp.llm_ff_dim, hp.llm_head_dim
    q, kv = hp.llm_n_heads * hd, hp.llm_n_kv_heads * hd
    specs = [_mat("token_embd.weight", d, hp.llm_vocab_size),
             _vec("output_norm.weight", d),
             _mat("output.weight", d, hp.llm_vocab_size)]
    for i in range(hp.llm_n_layers):
        b = f"blk.{i}."
        specs += [_vec(b + "attn_norm.weight", d),
                  _mat(b + "attn_q.weight", d, q),
                  _mat(b + "attn_k.weight", d, kv),
                  _mat(b + "attn_v.weight", d, kv),
                  _mat(b + "attn_output.weight", q, d),
                  _vec(b + "ffn_norm.weight", d),
                  _mat(b + "ffn_gate.weight", d, ff),
                  _mat(b + "ffn_up.weight", d, ff),
                  _mat(b + "ffn_down.weight", ff, d)]
    return specs


def inventory(hp):
    """Every tensor the runtime reads, for hyperparameters `hp`. CrispASR also writes
    audio.mel_window, which neither it nor this runtime reads, so it is not listed."""
    front = [TensorSpec("audio.mel_filters", ((hp.n_mels, N_FFT_BINS),),
                        (N_FFT_BINS, hp.n_mels), False)]
    return front + _encoder(hp) + _projector(hp) + _llm(hp)


def _problem(spec, t):
    if t is None:
        return f"missing tensor {spec.name}"
    ne = t.ne
    if ne not in spec.shapes:
        want = " or ".join(str(s) for s in spec.shapes)
        return f"tensor {spec.name} has shape ne={ne}, expected {want}"
    type_id = t.type
    if spec.matrix and type_id not in MATRIX_TYPES:
        names = ", ".join(type_name(x) for x in sorted(MATRIX_TYPES))
        return (f"tensor {spec.name} has type {type_name(type_id)}, which granite-native "
                f"cannot compute with (supported: {names})")
    if not spec.matrix and type_id != F32:
        return f"tensor {spec.name} has type {type_name(type_id)}, expected F32"
    return None


def check_tensors(path, gguf_file, hp):
    """Pairs each TensorSpec with the file's TensorInfo; ModelError listing what is
    missing, misshapen or of an unusable type. Tensors the runtime does not read are ignored,
    as CrispASR ignores them."""
    found = {t.name: t for t in gguf_file.tensors}
    pairs, problems = [], []
    for spec in inventory(hp):
        t = found.get(spec.name)
        problem = _problem(spec, t)
        if problem:
            problems.append(problem)
        else:
            pairs.append((spec, t))
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ModelError(path, "; ".join(problems[:5]) + more)
    return pairs
