"""Opens a GGUF file memory-mapped, without copying tensor data, once its header is known to
be sound.

gguf.GGUFReader trusts every count, length and offset it reads: a damaged or hostile file can
make it loop in Python for hours, allocate without bound, or describe tensors that lie past the
end of the mapping. So the header is first walked here with every size checked against the
bytes that remain, and only then handed to GGUFReader.
"""
import mmap
import os
import stat
import struct

import gguf

from .errors import ModelError

ARCH = "granite_speech"
VERSIONS = (2, 3)
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_KEY_BYTES = 65535  # the GGUF spec's limit on a key
MAX_NAME_BYTES = 63    # GGML_MAX_NAME less the terminator; llama.cpp refuses longer names
# The real model has about 1000 tensors; scanning is Python work per tensor, so bound it.
MAX_TENSORS = 1 << 16
# GGUFReader parses metadata arrays one element at a time in Python (about 20 us each). The
# real model has about 200k (vocabulary plus merges); this cap keeps a hostile file from
# costing minutes while staying far above any granite_speech file.
MAX_ARRAY_ELEMENTS = 1 << 21

_STRING, _ARRAY = 8, 9
_SCALAR_BYTES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_INT64_MAX = (1 << 63) - 1
# Smallest possible encodings, used to reject counts the rest of the file cannot hold.
_MIN_KV_BYTES = 8 + 4 + 1          # key length, value type, one-byte value
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8  # name length, n_dims, one dim, type, offset


class _Cursor:
    """Reads little-endian fields from the mapped header, never past the end of the file."""

    def __init__(self, path, buf, size):
        self.path, self.buf, self.size, self.pos = path, buf, size, 0

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

    def u32(self, what):
        return struct.unpack_from("<I", self.buf, self.take(4, what))[0]

    def u64(self, what):
        return struct.unpack_from("<Q", self.buf, self.take(8, what))[0]

    def string(self, what, limit):
        n = self.u64(f"length of {what}")
        if n > limit:
            self.fail(f"{what} at offset {self.pos} is {n} bytes long; at most {limit} are allowed")
        start = self.take(n, what)
        raw = bytes(self.buf[start:start + n])
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.fail(f"{what} at offset {start} is not valid UTF-8")

    def skip_string(self, what):
        self.take(self.u64(f"length of {what}"), what)


class _Header:
    def __init__(self):
        self.arch = None
        self.alignment = gguf.GGUF_DEFAULT_ALIGNMENT
        self.array_elements = 0


def _scan_value(cur, head, key, vtype):
    if vtype in _SCALAR_BYTES:
        cur.take(_SCALAR_BYTES[vtype], f"value of {key}")
    elif vtype == _STRING:
        cur.skip_string(f"value of {key}")
    elif vtype == _ARRAY:
        itype = cur.u32(f"element type of {key}")
        count = cur.u64(f"length of {key}")
        if itype == _ARRAY:
            cur.fail(f"key {key} is an array of arrays, which no granite_speech file has")
        if itype not in _SCALAR_BYTES and itype != _STRING:
            cur.fail(f"key {key} has unknown array element type {itype}")
        least = 8 if itype == _STRING else _SCALAR_BYTES[itype]
        if count * least > cur.left():
            cur.fail(f"key {key} claims {count} array elements, more than the remaining "
                     f"{cur.left()} bytes of the file could hold")
        head.array_elements += count
        if head.array_elements > MAX_ARRAY_ELEMENTS:
            cur.fail(f"metadata arrays hold more than {MAX_ARRAY_ELEMENTS} elements in all "
                     f"(key {key}); no granite_speech file is that large")
        if itype == _STRING:
            for _ in range(count):
                cur.skip_string(f"element of {key}")
        else:
            cur.take(count * least, f"value of {key}")
    else:
        cur.fail(f"key {key} has unknown value type {vtype}")


def _scan_kv(cur, head, count):
    if count * _MIN_KV_BYTES > cur.left():
        cur.fail(f"header claims {count} key/value pairs, more than the remaining "
                 f"{cur.left()} bytes of the file could hold")
    seen = set()
    for _ in range(count):
        key = cur.string("metadata key", MAX_KEY_BYTES)
        if key in seen:
            cur.fail(f"metadata key {key} appears twice")
        seen.add(key)
        vtype = cur.u32(f"value type of {key}")
        value_at = cur.pos
        _scan_value(cur, head, key, vtype)
        if key == "general.architecture":
            if vtype != _STRING:
                cur.fail("general.architecture is not a string")
            cur.pos = value_at
            head.arch = cur.string("general.architecture", MAX_KEY_BYTES)
        elif key == "general.alignment":
            if vtype != 4:
                cur.fail("general.alignment is not a uint32")
            head.alignment = struct.unpack_from("<I", cur.buf, value_at)[0]
            if head.alignment == 0 or head.alignment & (head.alignment - 1):
                cur.fail(f"general.alignment {head.alignment} is not a power of two")


def _scan_tensor_infos(cur, head, count):
    if count * _MIN_TENSOR_INFO_BYTES > cur.left():
        cur.fail(f"header claims {count} tensors, more than the remaining "
                 f"{cur.left()} bytes of the file could hold")
    if count > MAX_TENSORS:
        cur.fail(f"header claims {count} tensors; "
                 f"no granite_speech file has more than {MAX_TENSORS}")
    tensors, seen = [], set()
    for _ in range(count):
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
        if offset % head.alignment:
            cur.fail(f"tensor {name} data offset {offset} is not aligned to {head.alignment} bytes")
        tensors.append((name, offset, n_elems // block * block_bytes))
    return tensors


def _check_extents(cur, head, tensors):
    data_start = -(-cur.pos // head.alignment) * head.alignment
    end_of_previous, previous = 0, None
    for name, offset, nbytes in sorted(tensors, key=lambda t: t[1]):
        start = data_start + offset
        if start + nbytes > cur.size:
            cur.fail(f"data of tensor {name} (bytes {start}..{start + nbytes}) runs past the end "
                     f"of the {cur.size}-byte file")
        if previous is not None and start < end_of_previous:
            cur.fail(f"data of tensors {previous} and {name} overlap")
        end_of_previous, previous = start + nbytes, name


def check_header(path):
    """Walks the whole header of `path` with bounded work; raises ModelError on any problem."""
    path = os.fspath(path)
    if not stat.S_ISREG(os.stat(path).st_mode):  # before open(): a FIFO would block there
        raise ModelError(path, "not a regular file")
    with open(path, "rb") as f:
        info = os.fstat(f.fileno())
        if info.st_size < 24:
            raise ModelError(path, f"truncated: {info.st_size} bytes is shorter than a GGUF header")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            cur = _Cursor(path, buf, info.st_size)
            if cur.u32("magic") != gguf.GGUF_MAGIC:
                cur.fail(f"not a GGUF file (magic bytes {bytes(buf[:4])!r})")
            version = cur.u32("version")
            swapped = int.from_bytes(struct.pack("<I", version), "big")
            if version & 0xFFFF == 0 and swapped in VERSIONS:
                cur.fail("big-endian GGUF files are not supported")
            if version not in VERSIONS:
                cur.fail(f"unsupported GGUF version {version} (supported: "
                         f"{', '.join(map(str, VERSIONS))})")
            n_tensors = cur.u64("tensor count")
            n_kv = cur.u64("key/value count")
            head = _Header()
            _scan_kv(cur, head, n_kv)
            if head.arch is None:
                cur.fail(f"no general.architecture key; expected a {ARCH} model")
            if head.arch != ARCH:
                cur.fail(f"architecture is {head.arch!r}, not {ARCH!r}")
            _check_extents(cur, head, _scan_tensor_infos(cur, head, n_tensors))


def open_gguf(path):
    """A gguf.GGUFReader over `path` (read-only mapping), after check_header."""
    check_header(path)
    try:
        return gguf.GGUFReader(path, "r")
    except Exception as e:  # whatever it still finds wrong, the caller gets a ModelError
        raise ModelError(path, f"gguf could not read it: {e}") from e
