"""The validated tensors of a loaded model, each a read-only view of its bytes in the file's
memory map: nothing is copied or read until a kernel touches it."""
import mmap
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from . import _native
from .tensors import F32, FLOAT_TYPES, check_tensors, type_name

INT8 = _native.matmul_flags(["int8"])
BF16 = _native.matmul_flags(["bf16"])
Q8_K_R16 = _native.Q8_K_R16
BF16_P64 = _native.BF16_P64


@dataclass(frozen=True)
class Tensor:
    name: str
    type: int          # ggml / GGUF type id (a gn_type)
    ne: tuple          # ggml shape, fastest dimension first
    shape: tuple       # logical shape: (rows, cols) of a matrix, (n,) of a vector
    data: np.ndarray   # uint8, read-only, zero-copy view into the mapped file

    @property
    def type_name(self):
        return type_name(self.type)

    def rows(self, start, stop):
        """Rows [start, stop) of a matrix as a Tensor over the same bytes."""
        step = self.data.nbytes // self.shape[0]
        return Tensor(f"{self.name}[{start}:{stop}]", self.type, (self.ne[0], stop - start),
                      (stop - start, self.shape[1]), self.data[start * step:stop * step])

    def row(self, i):
        """The bytes of row i of a matrix."""
        step = self.data.nbytes // self.shape[0]
        return self.data[i * step:(i + 1) * step]

    def f32(self):
        """The values as float32 in the logical shape: a view for F32, else dequantized."""
        n = int(np.prod(self.shape))
        if self.type == F32:
            return self.data.view(np.float32).reshape(self.shape)
        return _native.dequantize(self.type, self.data, n).reshape(self.shape)


# Python's anonymous mmap is shared by default, i.e. shmem, which gets huge pages only where
# the kernel's shmem_enabled allows (never, on this project's VMs); private memory follows
# the madvise below. Windows' mmap takes no flags.
PRIVATE = {"flags": mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS} if hasattr(mmap, "MAP_PRIVATE") else {}


class _Arena:
    """Memory for repacked matrices, taken in order from anonymous mappings advised for
    transparent huge pages. On this project's VM a first touch costs ~2 us per 4 KB page:
    faulting in a 1 GB copy took 2.0 s in 4 KB pages and 0.6 s in 2 MB ones. Only touched
    pages count as resident, so a chunk's unused tail costs address space, not memory."""
    CHUNK = 256 << 20

    def __init__(self):
        self._rest = np.empty(0, np.uint8)

    def take(self, nbytes):
        padded = -(-nbytes // 64) * 64  # every matrix 64-byte aligned, like the chunks
        if self._rest.nbytes < padded:
            chunk = mmap.mmap(-1, max(self.CHUNK, padded), **PRIVATE)
            if hasattr(mmap, "MADV_HUGEPAGE"):
                chunk.madvise(mmap.MADV_HUGEPAGE)
            self._rest = np.frombuffer(chunk, np.uint8)  # the views keep the mapping alive
        out, self._rest = self._rest[:nbytes], self._rest[padded:]
        return out


class Weights(Mapping):
    """name -> Tensor for every tensor the runtime reads. release(view), when given, drops a
    tensor's file pages from memory once a repacked copy replaces them."""

    def __init__(self, tensors, release=None):
        self._tensors = {t.name: t for t in tensors}
        self._release = release
        self._arena = _Arena()

    def operand(self, name, flags, pool, quantize=False):
        """Matrix `name` as gn_matmul with `flags` reads it fastest, laid out at load by
        `pool`'s threads: with "int8", block-quantized weights in the layout the active ISA's
        int8 kernels prefer (gn_repack: Q4_K rows regrouped 16 at a time on AVX2 and AVX-512,
        the last group padded);
        with "bf16", float weights in the bfloat16 path's panels (BF16_P64) where the ISA has
        bfloat16 kernels; with `quantize` and "int8", float weights as Q8_K_R16 (8-bit quants)
        where the ISA has an int8 kernel for that layout. Else, and where the shape does not
        fit the layout, as stored. Only matmul with the same flags can use a matrix so laid
        out."""
        t = self._tensors[name]
        if t.type in FLOAT_TYPES:
            if quantize and flags & INT8:
                q = self._laid_out(t, Q8_K_R16, flags, "int8", True,
                                   lambda out: _native.quantize(pool, Q8_K_R16, t.f32(), out))
                if q is not t:
                    return q
            if not flags & BF16:
                return t
            return self._laid_out(t, BF16_P64, flags, "bf16", True, lambda out: _native.pack_bf16(
                pool, t.data, t.type, *t.shape, out=out))
        to = _native.repack_type(t.type) if flags & INT8 else None
        if to is None:
            return t
        return self._laid_out(t, to, flags, "int8", False, lambda out: _native.repack(
            pool, t.data, t.type, *t.shape, out=out))

    def _laid_out(self, t, to, flags, path, whole_groups, fill):
        """t in layout `to`, written by fill(out) into arena memory, where matmul with `flags`
        multiplies that layout on `path` and t's shape fits it (rows a multiple of its row
        group where fill writes only whole groups); else t."""
        rows, cols = t.shape
        nbytes = _native.matrix_bytes(to, rows, cols)
        if (_native.matmul_path(to, flags) != path
                or (whole_groups and rows % _native.row_group(to)) or nbytes < 0):
            return t
        out = self._arena.take(nbytes)
        fill(out)
        return self._replace(t, to, out)

    def _replace(self, t, to, data):
        """t's values in layout `to` (data), the file's pages of t released."""
        if self._release is not None:
            self._release(t.data)
        return Tensor(t.name, to, t.ne, t.shape, data)

    def __getitem__(self, name):
        return self._tensors[name]

    def __iter__(self):
        return iter(self._tensors)

    def __len__(self):
        return len(self._tensors)


def load_weights(path, gguf_file, hp):
    """Weights over an opened GGUFFile, after check_tensors (ModelError if unusable)."""
    mapped = gguf_file.data
    return Weights([Tensor(spec.name, t.type, t.ne, spec.shape,
                           mapped[t.offset:t.offset + t.n_bytes])
                    for spec, t in check_tensors(path, gguf_file, hp)], gguf_file.release)
