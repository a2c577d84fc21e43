"""Reads a GGUF file in one bounded pass over its header: the metadata, the tensor infos, and a
read-only memory map of the whole file from which tensor data is viewed, never copied.

Every count, length and offset is checked against the bytes that remain before it is used, so
a damaged or hostile file gets a ModelError naming the problem, never an hours-long loop, an
unbounded allocation or a tensor past the end of the mapping. gguf.GGUFReader trusts them all,
and parses metadata arrays one element at a time through numpy views (seconds and hundreds of
MB for a real vocabulary); here numeric arrays are single numpy views and string arrays are
decoded by one native loop.
"""
import mmap
import os
import stat
import struct
from dataclasses import dataclass, field

import gguf
import numpy as np

from . import _native
from .errors import ModelError

ARCH = "granite_speech"
VERSIONS = (2, 3)
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_KEY_BYTES = 65535  # the GGUF spec's limit on a key
MAX_NAME_BYTES = 63    # GGML_MAX_NAME less the terminator; llama.cpp refuses longer names
# The real model has about 1000 tensors; reading tensor infos is Python work per tensor.
MAX_TENSORS = 1 << 16
# The real model has about 200k metadata array elements (vocabulary plus merges); this cap keeps
# a hostile file from costing seconds and hundreds of MB of strings while staying far above any
# granite_speech file.
MAX_ARRAY_ELEMENTS = 1 << 21

V = gguf.GGUFValueType
_SCALARS = {V.UINT8: "<B", V.INT8: "<b", V.UINT16: "<H", V.INT16: "<h", V.UINT32: "<I",
            V.INT32: "<i", V.FLOAT32: "<f", V.BOOL: "<?", V.UINT64: "<Q", V.INT64: "<q",
            V.FLOAT64: "<d"}
_SCALARS = {t: struct.Struct(fmt) for t, fmt in _SCALARS.items()}
_DTYPES = {t: np.dtype(s.format) for t, s in _SCALARS.items()}
_INT64_MAX = (1 << 63) - 1
# Smallest possible encodings, used to reject counts the rest of the file cannot hold.
_MIN_KV_BYTES = 8 + 4 + 1          # key length, value type, one-byte value
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8  # name length, n_dims, one dim, type, offset


@dataclass(frozen=True)
class Field:
    """One metadata key. value: int, float or bool for a scalar, str for a string, a
    read-only numpy array (a view of the mapping) for a numeric array, a list of str for a
    string array."""
    name: str
    type: V
    item_type: V = None  # the element type of an ARRAY
    value: object = None


@dataclass(frozen=True)
class TensorInfo:
    name: str
    type: int      # ggml / GGUF type id
    ne: tuple      # ggml shape, fastest dimension first
    offset: int    # of the first data byte, from the start of the file
    n_bytes: int


@dataclass(frozen=True, eq=False)
class GGUFFile:
    path: str
    version: int
    alignment: int
    fields: dict = field(repr=False)     # key -> Field, in file order
    tensors: tuple = field(repr=False)   # TensorInfo, in file order
    data: np.ndarray = field(repr=False)  # uint8, read-only: the whole file, memory-mapped

    def release(self, view):
        """Drops the whole pages of `view` (a slice of data) from this process's resident
        memory, once a copy has replaced them: they stay in the page cache, and reading the
        view again maps them back. A no-op where the platform has no madvise."""
        mapping = self.data.base  # np.frombuffer(mmap) keeps a memoryview of the mapping
        mapping = mapping.obj if isinstance(mapping, memoryview) else mapping
        if not hasattr(mmap, "MADV_DONTNEED") or not isinstance(mapping, mmap.mmap):
            return
        start = view.ctypes.data - self.data.ctypes.data
        if start < 0 or start + view.nbytes > self.data.nbytes:
            raise ValueError("the view is not part of this file's mapping")
        page = mmap.PAGESIZE
        first, end = -(-start // page) * page, (start + view.nbytes) // page * page
        if end > first:
            mapping.madvise(mmap.MADV_DONTNEED, first, end - first)


class _Cursor:
    """Reads little-endian fields from the mapped header, never past the end of the file."""

    def __init__(self, path, buf, data):
        self.path, self.buf, self.data, self.size, self.pos = path, buf, data, len(buf), 0

    def fail(self, problem):
        raise ModelError(self.path, problem)

    def left(self):
        return self.size - self.pos

    def take(self, n, what):
        if n > self.left():
            self.fail(f"truncated or corrupt: {what} at offset {self.pos} needs {n} bytes, "
                      f"but only {self.left()} remain in the {self.size}-byte file")
        start = self.pos
        self.pos += n
        return start

    def scalar(self, vtype, what):
        s = _SCALARS[vtype]
        return s.unpack_from(self.buf, self.take(s.size, what))[0]

    def u32(self, what):
        return self.scalar(V.UINT32, what)

    def u64(self, what):
        return self.scalar(V.UINT64, what)

    def string(self, what, limit=None):
        n = self.u64(f"length of {what}")
        if limit is not None and n > limit:
            self.fail(f"{what} at offset {self.pos} is {n} bytes long; at most {limit} are allowed")
        start = self.take(n, what)
        try:
            return self.buf[start:start + n].decode("utf-8")
        except UnicodeDecodeError:
            self.fail(f"{what} at offset {start} is not valid UTF-8")

    def strings(self, count, what):
        out, self.pos = _native.gguf_strings(self.data, self.pos, count)
        if len(out) < count:  # re-read the element it stopped at, to name the problem
            self.string(f"element {len(out)} of {what}")
        return out

    def array(self, dtype, count, what):
        start = self.take(count * dtype.itemsize, what)
        return self.data[start:start + count * dtype.itemsize].view(dtype)


class _Budget:
    """Metadata array elements read so far, across all keys."""

    def __init__(self):
        self.elements = 0


def _read_array(cur, budget, key):
    itype = cur.u32(f"element type of {key}")
    count = cur.u64(f"length of {key}")
    if itype == V.ARRAY:
        cur.fail(f"key {key} is an array of arrays, which no granite_speech file has")
    if itype not in _SCALARS and itype != V.STRING:
        cur.fail(f"key {key} has unknown array element type {itype}")
    itype = V(itype)
    least = 8 if itype == V.STRING else _SCALARS[itype].size
    if count * least > cur.left():
        cur.fail(f"key {key} claims {count} array elements, more than the remaining "
                 f"{cur.left()} bytes of the file could hold")
    budget.elements += count
    if budget.elements > MAX_ARRAY_ELEMENTS:
        cur.fail(f"metadata arrays hold more than {MAX_ARRAY_ELEMENTS} elements in all "
                 f"(key {key}); no granite_speech file is that large")
    if itype == V.STRING:
        return Field(key, V.ARRAY, itype, cur.strings(count, key))
    return Field(key, V.ARRAY, itype, cur.array(_DTYPES[itype], count, f"value of {key}"))


def _read_field(cur, budget, key):
    vtype = cur.u32(f"value type of {key}")
    if vtype in _SCALARS:
        return Field(key, V(vtype), None, cur.scalar(vtype, f"value of {key}"))
    if vtype == V.STRING:
        return Field(key, V.STRING, None, cur.string(f"value of {key}"))
    if vtype == V.ARRAY:
        return _read_array(cur, budget, key)
    cur.fail(f"key {key} has unknown value type {vtype}")


def _read_kv(cur, count):
    if count * _MIN_KV_BYTES > cur.left():
        cur.fail(f"header claims {count} key/value pairs, more than the remaining "
                 f"{cur.left()} bytes of the file could hold")
    fields, budget = {}, _Budget()
    for _ in range(count):
        key = cur.string("metadata key", MAX_KEY_BYTES)
        if key in fields:
            cur.fail(f"metadata key {key} appears twice")
        fields[key] = _read_field(cur, budget, key)
    return fields


def _alignment(cur, fields):
    f = fields.get("general.alignment")
    if f is None:
        return gguf.GGUF_DEFAULT_ALIGNMENT
    if f.type != V.UINT32:
        cur.fail("general.alignment is not a uint32")
    if f.value == 0 or f.value & (f.value - 1):
        cur.fail(f"general.alignment {f.value} is not a power of two")
    return f.value


def _check_arch(cur, fields):
    f = fields.get("general.architecture")
    if f is None:
        cur.fail(f"no general.architecture key; expected a {ARCH} model")
    if f.type != V.STRING:
        cur.fail("general.architecture is not a string")
    if f.value != ARCH:
        cur.fail(f"architecture is {f.value!r}, not {ARCH!r}")


def _read_tensor_info(cur, alignment, seen):
    name = cur.string("tensor name", MAX_NAME_BYTES)
    if name in seen:
        cur.fail(f"tensor {name} appears twice")
    seen.add(name)
    n_dims = cur.u32(f"dimension count of tensor {name}")
    if not 1 <= n_dims <= MAX_DIMS:
        cur.fail(f"tensor {name} has {n_dims} dimensions; GGUF allows 1 to {MAX_DIMS}")
    ne = tuple(cur.u64(f"dimension of tensor {name}") for _ in range(n_dims))
    n_elems = 1
    for d in ne:
        n_elems *= d
    if min(ne) == 0:
        cur.fail(f"tensor {name} has an empty dimension: ne={ne}")
    if n_elems > _INT64_MAX:
        cur.fail(f"tensor {name} dimensions ne={ne} overflow a 64-bit element count")
    type_id = cur.u32(f"type of tensor {name}")
    try:
        qtype = gguf.GGMLQuantizationType(type_id)
        block, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    except (ValueError, KeyError):
        cur.fail(f"tensor {name} has unknown type id {type_id}")
    if ne[0] % block:
        cur.fail(f"tensor {name}: rows of {ne[0]} elements are not a whole number of "
                 f"{qtype.name} blocks of {block}")
    offset = cur.u64(f"data offset of tensor {name}")
    if offset % alignment:
        cur.fail(f"tensor {name} data offset {offset} is not aligned to {alignment} bytes")
    return name, type_id, ne, offset, n_elems // block * block_bytes


def _read_tensor_infos(cur, alignment, count):
    if count * _MIN_TENSOR_INFO_BYTES > cur.left():
        cur.fail(f"header claims {count} tensors, more than the remaining "
                 f"{cur.left()} bytes of the file could hold")
    if count > MAX_TENSORS:
        cur.fail(f"header claims {count} tensors; "
                 f"no granite_speech file has more than {MAX_TENSORS}")
    seen = set()
    infos = [_read_tensor_info(cur, alignment, seen) for _ in range(count)]
    data_start = -(-cur.pos // alignment) * alignment
    return tuple(TensorInfo(name, type_id, ne, data_start + offset, n_bytes)
                 for name, type_id, ne, offset, n_bytes in infos)


def _check_extents(cur, tensors):
    end_of_previous, previous = 0, None
    for t in sorted(tensors, key=lambda t: t.offset):
        if t.offset + t.n_bytes > cur.size:
            cur.fail(f"data of tensor {t.name} (bytes {t.offset}..{t.offset + t.n_bytes}) runs "
                     f"past the end of the {cur.size}-byte file")
        if previous is not None and t.offset < end_of_previous:
            cur.fail(f"data of tensors {previous} and {t.name} overlap")
        end_of_previous, previous = t.offset + t.n_bytes, t.name


def _read(cur):
    if cur.u32("magic") != gguf.GGUF_MAGIC:
        cur.fail(f"not a GGUF file (magic bytes {cur.buf[:4]!r})")
    version = cur.u32("version")
    swapped = int.from_bytes(struct.pack("<I", version), "big")
    if version & 0xFFFF == 0 and swapped in VERSIONS:
        cur.fail("big-endian GGUF files are not supported")
    if version not in VERSIONS:
        cur.fail(f"unsupported GGUF version {version} (supported: "
                 f"{', '.join(map(str, VERSIONS))})")
    n_tensors = cur.u64("tensor count")
    fields = _read_kv(cur, cur.u64("key/value count"))
    _check_arch(cur, fields)
    alignment = _alignment(cur, fields)
    tensors = _read_tensor_infos(cur, alignment, n_tensors)
    _check_extents(cur, tensors)
    return GGUFFile(cur.path, version, alignment, fields, tensors, cur.data)


def open_gguf(path):
    """The GGUFFile of a granite_speech model at `path`; ModelError on any problem."""
    path = os.fspath(path)
    if not stat.S_ISREG(os.stat(path).st_mode):  # before open(): a FIFO would block there
        raise ModelError(path, "not a regular file")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 24:
            raise ModelError(path, f"truncated: {size} bytes is shorter than a GGUF header")
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    # The numpy array holds the mapping open for as long as it or a view of it lives.
    return _read(_Cursor(path, buf, np.frombuffer(buf, np.uint8)))
