# The Cython binding over csrc/. Every call that does real work releases the GIL.
# Area-specific bindings live in the .pxi files included at the end.
from libc.stdint cimport int64_t, uint8_t, uint16_t, uintptr_t

import numpy as np

cdef extern from "gn.h" nogil:
    ctypedef struct gn_type_traits:
        const char *name
        int64_t block_elems
        int64_t block_bytes
        int64_t row_group
    ctypedef struct gn_cpu_features:
        int sse3, ssse3, avx, avx2, fma, f16c
        int avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16, avxvnni
        int os_ymm, os_zmm, amx_bf16, intel
        int neon, dotprod, fp16
    ctypedef struct gn_pool:
        pass
    int GN_OK, GN_ERR_INVALID, GN_ERR_NOMEM, GN_ERR_UNSUPPORTED, GN_ERR_CANCELLED, GN_ERR_RANGE
    int GN_ISA_COUNT

    const gn_type_traits *gn_type_info(int type)
    int64_t gn_row_bytes(int type, int64_t k)
    int64_t gn_matrix_bytes(int type, int64_t n, int64_t k)
    const gn_cpu_features *gn_cpu()
    const char *gn_isa_name(int isa)
    int gn_isa_supported(int isa)
    int gn_isa_best()
    int gn_isa_select(int isa)
    int gn_isa_current()
    const char *gn_isa_extensions()
    gn_pool *gn_pool_create(int n_threads)
    void gn_pool_destroy(gn_pool *pool)
    int gn_pool_threads(const gn_pool *pool)
    int gn_pool_set_active(gn_pool *pool, int n_threads)
    int gn_pool_active(const gn_pool *pool)
    int gn_dequantize(int type, const void *src, float *dst, int64_t n)
    int gn_to_f16(const float *src, uint16_t *dst, int64_t n)
    int gn_matmul(gn_pool *pool, const float *x, int64_t M, int64_t K,
                  const void *w, int wtype, int64_t N, size_t w_bytes,
                  const float *bias, float *y, int flags)
    int gn_matmul_path(int wtype, int flags, int64_t M)
    ctypedef struct gn_matmul_out:
        const void *w
        int type
        int64_t N
        size_t bytes
        const float *bias
        float *y
    int GN_MATMUL_GROUP_MAX
    int gn_matmul_group(gn_pool *pool, const float *x, int64_t M, int64_t K,
                        const gn_matmul_out *outs, int n, int flags)
    int GN_MATMUL_INT8, GN_MATMUL_BF16

# activation blocks of the int8 path, for their sizes
cdef extern from "quant_blocks.h" nogil:
    ctypedef struct block_q8_K:
        float d
    ctypedef struct block_q8_32:
        float d


cdef int check(int status, str what) except -1:
    if status == GN_OK:
        return 0
    if status == GN_ERR_NOMEM:
        raise MemoryError(f"{what}: out of memory")
    if status == GN_ERR_UNSUPPORTED:
        raise ValueError(f"{what}: unsupported type or instruction set")
    if status == GN_ERR_CANCELLED:
        raise InterruptedError(f"{what}: cancelled")
    if status == GN_ERR_RANGE:
        raise OverflowError(f"{what}: a finite value is beyond its storage type's range")
    raise ValueError(f"{what}: invalid sizes or arguments")


# ---- CPU and dispatch ----------------------------------------------------------------

ISA_NAMES = tuple(gn_isa_name(i).decode() for i in range(GN_ISA_COUNT))


def cpu_features():
    """Features detected at run time (CPUID+XGETBV on x86, hwcaps on Arm)."""
    cdef const gn_cpu_features *f = gn_cpu()
    return {
        "sse3": bool(f.sse3), "ssse3": bool(f.ssse3), "avx": bool(f.avx), "avx2": bool(f.avx2),
        "fma": bool(f.fma), "f16c": bool(f.f16c), "avx512f": bool(f.avx512f),
        "avx512bw": bool(f.avx512bw), "avx512vl": bool(f.avx512vl), "avx512dq": bool(f.avx512dq),
        "avx512vnni": bool(f.avx512vnni), "avx512bf16": bool(f.avx512bf16),
        "avxvnni": bool(f.avxvnni),
        "os_ymm": bool(f.os_ymm), "os_zmm": bool(f.os_zmm), "amx_bf16": bool(f.amx_bf16),
        "intel": bool(f.intel),
        "neon": bool(f.neon), "dotprod": bool(f.dotprod), "fp16": bool(f.fp16),
    }


cdef int isa_index(str name) except -1:
    try:
        return ISA_NAMES.index(name)
    except ValueError:
        raise ValueError(f"unknown instruction set {name!r}; expected one of {', '.join(ISA_NAMES)}")


def isa_supported(str name):
    return bool(gn_isa_supported(isa_index(name)))


def isa_best():
    return ISA_NAMES[gn_isa_best()]


def isa_current():
    return ISA_NAMES[gn_isa_current()]


def isa_extensions():
    """The CPU extensions beyond the current level whose kernels it runs (e.g. "avxvnni" on
    the avx2 level), as a tuple of cpu_features() names."""
    return tuple(gn_isa_extensions().decode().split())


def set_isa(str name):
    """Use the kernels of `name` from now on. Raises if this CPU cannot run them."""
    cdef int isa = isa_index(name)
    if gn_isa_select(isa) != GN_OK:
        raise RuntimeError(f"instruction set {name!r} is not supported by this CPU/OS or build")


def type_info(int gtype):
    """(name, elements per block, bytes per block), or None for an unsupported type."""
    cdef const gn_type_traits *t = gn_type_info(gtype)
    if t == NULL:
        return None
    return (t.name.decode(), t.block_elems, t.block_bytes)


def row_bytes(int gtype, int64_t k):
    """Bytes of a row of k elements of gtype, or -1 if k is not whole blocks."""
    return gn_row_bytes(gtype, k)


def matrix_bytes(int gtype, int64_t rows, int64_t cols):
    """Bytes of a [rows, cols] matrix of gtype: whole row groups of an interleaved layout,
    the last padded; -1 if cols is not whole blocks or rows < 1."""
    return gn_matrix_bytes(gtype, rows, cols)


# ---- thread pool ---------------------------------------------------------------------

cdef class ThreadPool:
    """A persistent pool of native threads (the calling thread counts as one)."""
    cdef gn_pool *pool

    def __cinit__(self, int threads=1):
        if threads < 1 or threads > 1024:
            raise ValueError(f"threads must be in 1..1024, got {threads}")
        self.pool = gn_pool_create(threads)
        if self.pool == NULL:
            raise MemoryError("could not create the thread pool")

    def __dealloc__(self):
        if self.pool != NULL:
            with nogil:
                gn_pool_destroy(self.pool)
            self.pool = NULL

    @property
    def threads(self):
        return gn_pool_threads(self.pool)

    @property
    def active(self):
        """Threads later jobs use (1..threads)."""
        return gn_pool_active(pool_ptr(self))

    @active.setter
    def active(self, int n):
        if gn_pool_set_active(pool_ptr(self), n) != GN_OK:
            raise ValueError(f"active threads must be in 1..{self.threads}, got {n}")

    def close(self):
        if self.pool != NULL:
            with nogil:
                gn_pool_destroy(self.pool)
            self.pool = NULL


cdef gn_pool *pool_ptr(ThreadPool pool) except? NULL:
    if pool is None:
        return NULL
    if pool.pool == NULL:
        raise ValueError("thread pool is closed")
    return pool.pool


# ---- kernels -------------------------------------------------------------------------

def dequantize(int gtype, const uint8_t[::1] data, int64_t n):
    """Dequantize the first n elements stored in `data` (bytes) to float32."""
    cdef int64_t nbytes = gn_row_bytes(gtype, n)
    if gn_type_info(gtype) == NULL:
        raise ValueError(f"unsupported tensor type {gtype}")
    if nbytes < 0:
        raise ValueError(f"{n} elements is not a whole number of {type_info(gtype)[0]} blocks")
    if nbytes > data.shape[0]:
        raise ValueError(f"{n} elements need {nbytes} bytes, buffer has {data.shape[0]}")
    out = np.empty(n, dtype=np.float32)
    cdef float[::1] o = out
    cdef int status
    if n == 0:
        return out
    with nogil:
        status = gn_dequantize(gtype, &data[0], &o[0], n)
    check(status, "dequantize")
    return out


def to_f16(const float[::1] x):
    """x rounded to float16 (nearest even) by the active level's kernel: a float16 array."""
    out = np.empty(x.shape[0], dtype=np.float16)
    cdef uint16_t[::1] o = out.view(np.uint16)
    cdef int status
    if x.shape[0] == 0:
        return out
    with nogil:
        status = gn_to_f16(&x[0], &o[0], x.shape[0])
    check(status, "to_f16")
    return out


MATMUL_FLAGS = {"int8": GN_MATMUL_INT8, "bf16": GN_MATMUL_BF16}
MATMUL_PATHS = ("f32", "int8", "bf16")


def matmul_flags(names):
    """The gn_matmul flags for an iterable of precision names ("int8", "bf16")."""
    flags = 0
    for n in names:
        if n not in MATMUL_FLAGS:
            raise ValueError(f"unknown matmul precision {n!r}; expected one of {sorted(MATMUL_FLAGS)}")
        flags |= MATMUL_FLAGS[n]
    return flags


def matmul_path(int wtype, int flags=0, int64_t rows=1):
    """Which arithmetic matmul uses for this weight type and flags, x having `rows` rows,
    here: "f32", "int8", "bf16"."""
    return MATMUL_PATHS[gn_matmul_path(wtype, flags, rows)]


cdef extern from "matmul_paths.h" nogil:
    int gn_matmul_f32p_takes(int wtype, int64_t M)


def matmul_f32_packed(int wtype, int64_t rows):
    """Whether the "f32" path multiplies this weight type with x of `rows` rows on packed
    operands (the active level's packed kernel) rather than the plain dot-product kernel."""
    return bool(gn_matmul_f32p_takes(wtype, rows))


def matmul(ThreadPool pool, const float[:, ::1] x, const uint8_t[::1] w, int wtype,
           int64_t n_out, const float[::1] bias=None, float[:, ::1] out=None, int flags=0):
    """y[M, n_out] = x[M, K] @ W[n_out, K]^T (+ bias); W given as raw bytes of wtype;
    flags from matmul_flags pick faster, inexact arithmetic (see gn.h)."""
    cdef int64_t M = x.shape[0], K = x.shape[1]
    if M == 0 or K == 0 or n_out <= 0:
        raise ValueError(f"empty matmul: x is {M}x{K}, n_out={n_out}")
    if bias is not None and bias.shape[0] != n_out:
        raise ValueError(f"bias has {bias.shape[0]} elements, expected {n_out}")
    if out is None:
        out_arr = np.empty((M, n_out), dtype=np.float32)
        out = out_arr
    else:
        out_arr = out.base if out.base is not None else out
        if out.shape[0] != M or out.shape[1] != n_out:
            raise ValueError(f"out is {out.shape[0]}x{out.shape[1]}, expected {M}x{n_out}")
    cdef gn_pool *p = pool_ptr(pool)
    cdef const float *b = &bias[0] if bias is not None else NULL
    cdef int status
    with nogil:
        status = gn_matmul(p, &x[0, 0], M, K, &w[0], wtype, n_out, <size_t>w.shape[0], b, &out[0, 0],
                           flags)
    check(status, "matmul")
    return np.asarray(out)
def matmul_group(ThreadPool pool, const float[:, ::1] x, list mats, int flags=0):
    """[x @ W_i^T (+ bias_i)] for mats = [(w bytes, wtype, n_out, bias or None), ...] sharing x,
    in one pass where they take the int8 path (gn_matmul_group)."""
    cdef int n = len(mats)
    if not 1 <= n <= GN_MATMUL_GROUP_MAX:
        raise ValueError(f"a matmul group holds 1..{GN_MATMUL_GROUP_MAX} matrices, got {n}")
    cdef gn_matmul_out outs[4]
    cdef const uint8_t[::1] w
    cdef const float[::1] b
    cdef float[:, ::1] y
    keep, results = [], []
    for i, (w_obj, wtype, n_out, bias) in enumerate(mats):
        w = w_obj
        if w.shape[0] == 0:
            raise ValueError(f"matrix {i} is empty")
        out = np.empty((x.shape[0], n_out), np.float32)
        y = out
        outs[i].w = &w[0]
        outs[i].type = wtype
        outs[i].N = n_out
        outs[i].bytes = w.shape[0]
        outs[i].bias = NULL
        if bias is not None:
            b = bias
            if b.shape[0] != n_out:
                raise ValueError(f"bias {i} has {b.shape[0]} elements, expected {n_out}")
            outs[i].bias = &b[0]
        outs[i].y = &y[0, 0]
        keep.append((w_obj, bias))
        results.append(out)
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"empty matmul: x is {x.shape[0]}x{x.shape[1]}")
    cdef gn_pool *p = pool_ptr(pool)
    cdef int status
    with nogil:
        status = gn_matmul_group(p, &x[0, 0], x.shape[0], x.shape[1], outs, n, flags)
    check(status, "matmul group")
    return results


include "_ops.pxi"
include "_mel.pxi"
include "_quantize.pxi"
include "_probe.pxi"
include "_repack.pxi"
include "_twins.pxi"
include "_gguf.pxi"
include "_matmul_q8.pxi"
include "_llm.pxi"
