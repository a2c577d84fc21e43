"""Re-quantize a granite-speech GGUF file with the per-tensor rules of CrispASR's
crispasr-quantize, so the result has the layout of CrispASR's published variants.

Rules (examples/crispasr-quantize/main.cpp, for the granite_speech / granite_nle family):
a tensor is quantized when it is 2-D (ggml_n_dims), its name looks like a weight and holds no
"norm", and it is outside ``enc.`` and ``proj.`` (both allowed by the ``-mini`` variant).
Rows that Q4_K cannot tile (ne[0] % 256) fall back to Q4_0 when ne[0] % 32 == 0, otherwise the
tensor keeps its type. ``-f16enc`` downcasts the remaining 2-D F32 ``enc.`` weights to F16.
Every key-value pair is copied unchanged and in order, then general.quantization_version and
general.file_type are appended. Tensors are streamed one at a time from the memory-mapped input.
"""
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import quant_shape_to_byte_shape

from . import _native
from .errors import ModelError


@dataclass(frozen=True)
class Variant:
    target: T
    file_type: int  # ggml_ftype written to general.file_type
    enc_f16: bool  # CRISPASR_GRANITE_ENC_F16
    quant_all: bool  # CRISPASR_GRANITE_QUANT_ALL


VARIANTS = {
    "q4_k": Variant(T.Q4_K, 12, False, False),
    "q4_k-f16enc": Variant(T.Q4_K, 12, True, False),
    "q4_k-mini": Variant(T.Q4_K, 12, False, True),
    "q8_0": Variant(T.Q8_0, 7, False, False),
}
QUANTIZATION_VERSION = 2  # GGML_QNT_VERSION
FALLBACK = {T.Q4_K: T.Q4_0}
ENCODABLE = (T.F16, T.Q4_0, T.Q8_0, T.Q4_K)
ADDED_KEYS = ("general.quantization_version", "general.file_type")
CHUNK_ELEMS = 1 << 22  # rows are converted this many values at a time, to bound memory

# crispasr-quantize's "looks like a weight" test
_WEIGHT_NAME = re.compile(r"weight|_w$|\.w$|_proj|\.gate|\.up|\.wo|\.heads\.|\.w[1-9]$|\.wq|\.wk|\.wv")
_NOT_F16 = ("norm", "running_mean", "running_var", "rel_pos", "conv_bn")


def n_dims(ne):
    """ggml_n_dims: trailing dimensions of size 1 do not count."""
    n = len(ne)
    while n > 1 and ne[n - 1] == 1:
        n -= 1
    return n


def target_type(name, ne, src_type, variant):
    """The type crispasr-quantize gives tensor `name` (GGUF dims `ne`, type `src_type`)."""
    quantize = (
        (src_type in (T.F32, T.F16, T.BF16) or GGML_QUANT_SIZES[src_type][0] > 1)
        and n_dims(ne) == 2
        and _WEIGHT_NAME.search(name) is not None
        and "norm" not in name
        and (variant.quant_all or not (name.startswith("proj.") or name.startswith("enc.")))
    )
    if quantize:
        for qtype in (variant.target, FALLBACK.get(variant.target)):
            if qtype is not None and ne[0] % _native.type_info(int(qtype))[1] == 0:
                return qtype
    if (variant.enc_f16 and src_type == T.F32 and name.startswith("enc.") and n_dims(ne) == 2
            and not any(s in name for s in _NOT_F16)):
        return T.F16
    return src_type


def _open(path):
    try:
        return GGUFReader(path, "r")
    except FileNotFoundError:
        raise ModelError(path, "no such file") from None
    except (ValueError, OSError, IndexError, KeyError) as e:
        raise ModelError(path, f"not a readable GGUF file ({e})") from None


def _check_arch(reader, path):
    field = reader.fields.get("general.architecture")
    if field is None or field.types != [GGUFValueType.STRING]:
        raise ModelError(path, "has no general.architecture string")
    arch = bytes(field.parts[field.data[0]]).decode("utf-8", "replace")
    if "granite_speech" not in arch and "granite_nle" not in arch:
        raise ModelError(path, f"architecture {arch!r} is not a granite-speech model")
    return arch


def _copy_kv(reader, writer, path):
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture" or key in ADDED_KEYS:
            continue  # header fields; the writer's own arch entry; re-added at the end
        vtype = field.types[0]
        if vtype == GGUFValueType.ARRAY:
            if len(field.types) != 2:
                raise ModelError(path, f"key {key!r}: nested arrays are not supported")
            if not field.data:
                raise ModelError(path, f"key {key!r}: empty arrays cannot be written by gguf")
            sub = field.types[1]
            if sub == GGUFValueType.STRING:
                value = [bytes(field.parts[i]) for i in field.data]
            else:
                value = np.concatenate([field.parts[i] for i in field.data]).tolist()
            writer.add_key_value(key, value, vtype, sub_type=sub)
        elif vtype == GGUFValueType.STRING:
            writer.add_key_value(key, bytes(field.parts[field.data[0]]), vtype)
        else:
            writer.add_key_value(key, field.parts[field.data[0]][0].item(), vtype)


def _encode(pool, raw, src_type, rows, cols, dst_type):
    """Rows of `raw` (bytes of src_type) re-encoded as dst_type, a chunk of rows at a time."""
    src_rb = _native.row_bytes(int(src_type), cols)
    dst_rb = _native.row_bytes(int(dst_type), cols)
    out = np.empty(rows * dst_rb, dtype=np.uint8)
    step = max(1, CHUNK_ELEMS // cols)
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        x = _native.dequantize(int(src_type), raw[r0 * src_rb:r1 * src_rb], (r1 - r0) * cols)
        _native.quantize(pool, int(dst_type), x.reshape(r1 - r0, cols), out[r0 * dst_rb:r1 * dst_rb])
    return out


def quantize_file(src, dst, qtype, threads=None):
    """Write `dst`, the `qtype` variant ("q4_k", "q4_k-f16enc", "q4_k-mini" or "q8_0") of `src`."""
    if qtype not in VARIANTS:
        raise ValueError(f"unknown quantization type {qtype!r}; expected one of {', '.join(VARIANTS)}")
    variant = VARIANTS[qtype]
    src, dst = Path(src), Path(dst)
    reader = _open(src)
    if reader.byte_order != "I":
        raise ModelError(src, "big-endian GGUF files are not supported")
    arch = _check_arch(reader, src)
    if dst.exists() and dst.resolve() == src.resolve():
        raise ModelError(dst, "output would overwrite the input")

    plan = []
    for t in reader.tensors:
        ne = [int(d) for d in t.shape]
        ne = ne[:n_dims(ne)]
        out_type = target_type(t.name, ne, t.tensor_type, variant) if t.n_elements else t.tensor_type
        if out_type != t.tensor_type and _native.type_info(int(t.tensor_type)) is None:
            raise ModelError(src, f"tensor {t.name!r} has type {t.tensor_type.name}, which cannot be read")
        byte_shape = quant_shape_to_byte_shape(ne[::-1], out_type)
        plan.append((t, ne, math.prod(ne[1:]), out_type, byte_shape))

    tmp = dst.with_name(dst.name + ".part")
    writer = GGUFWriter(tmp, arch)
    writer.data_alignment = reader.alignment
    try:
        _copy_kv(reader, writer, src)
        writer.add_uint32(ADDED_KEYS[0], QUANTIZATION_VERSION)
        writer.add_uint32(ADDED_KEYS[1], variant.file_type)
        for t, ne, rows, out_type, byte_shape in plan:
            writer.add_tensor_info(t.name, byte_shape, np.dtype(np.uint8), math.prod(byte_shape),
                                   raw_dtype=out_type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        pool = _native.ThreadPool(threads or os.cpu_count() or 1)
        try:
            for t, ne, rows, out_type, _ in plan:
                raw = reader.data[t.data_offset:t.data_offset + t.n_bytes]
                if out_type != t.tensor_type:
                    raw = _encode(pool, raw, t.tensor_type, rows, ne[0], out_type)
                writer.write_tensor_data(raw)
        finally:
            pool.close()
        writer.close()
        os.replace(tmp, dst)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
