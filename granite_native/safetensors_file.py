"""Reads .safetensors checkpoints (one file or an indexed set of shards) through read-only
memory maps, so a tensor is only paged in when it is used."""
import json
import math
import os
import struct

import numpy as np

from .errors import ModelError

# Byte size of every dtype the format defines: sizes are needed to validate every entry,
# even those (like BatchNorm's int64 step counter) that are never read.
_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
    "U32": 4, "I32": 4, "F32": 4,
    "U64": 8, "I64": 8, "F64": 8,
}
# The safetensors reference implementation refuses larger headers; a bigger length field is
# corruption, not a real header.
_MAX_HEADER = 100_000_000
INDEX_NAME = "model.safetensors.index.json"


class SafetensorsError(ModelError):
    """A .safetensors file or shard index is malformed."""


class SafetensorsFile:
    """One .safetensors file: the header is parsed and validated on open; tensor data is mapped
    on request."""

    def __init__(self, path):
        self.path = os.fspath(path)
        try:
            size = os.path.getsize(self.path)
            with open(self.path, "rb") as f:
                head = f.read(8)
                if len(head) < 8:
                    raise SafetensorsError(self.path, "too short to be a safetensors file")
                (n,) = struct.unpack("<Q", head)
                if n > _MAX_HEADER or 8 + n > size:
                    raise SafetensorsError(
                        self.path, f"header length {n} does not fit the file ({size} bytes)")
                raw = f.read(n)
        except OSError as e:
            raise SafetensorsError(self.path, f"cannot read: {e.strerror or e}") from e
        self._data_start = 8 + n
        self._data_size = size - self._data_start
        self._entries = self._parse_header(raw)

    def _parse_header(self, raw):
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise SafetensorsError(self.path, f"header is not valid JSON: {e}") from e
        if not isinstance(header, dict):
            raise SafetensorsError(self.path, "header is not a JSON object")
        entries = {}
        for name, e in header.items():
            if name == "__metadata__":
                continue
            entries[name] = self._check_entry(name, e)
        spans = sorted((begin, end, name) for name, (_, _, begin, end) in entries.items())
        for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
            if b1 < e0:
                raise SafetensorsError(self.path, f"tensors {n0!r} and {n1!r} overlap")
        return entries

    def _check_entry(self, name, e):
        def bad(problem):
            return SafetensorsError(self.path, f"tensor {name!r}: {problem}")

        if not isinstance(e, dict):
            raise bad("header entry is not an object")
        dtype, shape, offsets = e.get("dtype"), e.get("shape"), e.get("data_offsets")
        if dtype not in _ITEMSIZE:
            raise bad(f"unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise bad(f"bad shape {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise bad(f"bad data_offsets {offsets!r}")
        begin, end = offsets
        if not 0 <= begin <= end <= self._data_size:
            raise bad(f"data_offsets {offsets} lie outside the {self._data_size}-byte data section")
        nbytes = math.prod(shape) * _ITEMSIZE[dtype]
        if end - begin != nbytes:
            raise bad(f"shape {shape} of {dtype} needs {nbytes} bytes but data_offsets span {end - begin}")
        return dtype, tuple(shape), begin, end

    def names(self):
        """Tensor names in header order."""
        return list(self._entries)

    def __contains__(self, name):
        return name in self._entries

    def dtype(self, name):
        return self._entry(name)[0]

    def shape(self, name):
        return self._entry(name)[1]

    def _entry(self, name):
        try:
            return self._entries[name]
        except KeyError:
            raise SafetensorsError(self.path, f"no tensor named {name!r}") from None

    def tensor(self, name):
        """F32 and F16 tensors as read-only views of the file; BF16 widened to float32, which is
        exact (bf16 is the top half of an f32)."""
        dtype, shape, begin, _ = self._entry(name)
        if dtype not in ("F32", "F16", "BF16"):
            raise SafetensorsError(self.path, f"tensor {name!r} has dtype {dtype}; "
                                              "only F32, F16 and BF16 are supported")
        if math.prod(shape) == 0:
            return np.zeros(shape, np.float16 if dtype == "F16" else np.float32)
        # A map per tensor, released with the array, keeps resident memory to the tensors in use.
        mapped = np.memmap(self.path, mode="r", offset=self._data_start + begin, shape=shape,
                           dtype={"F32": "<f4", "F16": "<f2", "BF16": "<u2"}[dtype])
        if dtype == "BF16":
            return (mapped.astype(np.uint32) << 16).view(np.float32)
        return mapped


def checkpoint_files(model_dir):
    """The checkpoint's safetensors files in the order a converter reads them: the shards named by
    model.safetensors.index.json (sorted by file name, each checked against the index), else
    model-*.safetensors, else every *.safetensors except a PEFT adapter."""
    model_dir = os.fspath(model_dir)
    index_path = os.path.join(model_dir, INDEX_NAME)
    if os.path.exists(index_path):
        return _indexed_files(index_path)
    try:
        listing = sorted(os.listdir(model_dir))
    except OSError as e:
        raise SafetensorsError(model_dir, f"cannot list directory: {e.strerror or e}") from e
    names = [n for n in listing if n.startswith("model-") and n.endswith(".safetensors")]
    if not names:
        names = [n for n in listing
                 if n.endswith(".safetensors") and n != "adapter_model.safetensors"]
    if not names:
        raise SafetensorsError(model_dir, "no .safetensors files")
    return [SafetensorsFile(os.path.join(model_dir, n)) for n in names]


def _indexed_files(index_path):
    try:
        with open(index_path, encoding="utf-8") as f:
            weight_map = json.load(f).get("weight_map")
    except (OSError, ValueError, AttributeError) as e:
        raise SafetensorsError(index_path, f"unreadable shard index: {e}") from e
    if not isinstance(weight_map, dict) or not weight_map or not all(
            isinstance(v, str) and os.path.basename(v) == v for v in weight_map.values()):
        raise SafetensorsError(index_path, "weight_map must map tensor names to shard file names")
    model_dir = os.path.dirname(index_path)
    shards = {}
    for shard_name in sorted(set(weight_map.values())):
        shard_path = os.path.join(model_dir, shard_name)
        if not os.path.exists(shard_path):
            raise SafetensorsError(index_path, f"shard {shard_name} is missing")
        shards[shard_name] = SafetensorsFile(shard_path)
    for tensor_name, shard_name in weight_map.items():
        if tensor_name not in shards[shard_name]:
            raise SafetensorsError(shards[shard_name].path,
                                   f"index places {tensor_name!r} here but the shard lacks it")
    return list(shards.values())
