# Bindings of gn_repack (csrc/repack.c) and gn_pack_bf16 (csrc/matmul_bf16.c): weights
# regrouped at load into the layouts the int8 and bfloat16 kernels read.

cdef extern from "gn.h" nogil:
    int GN_TYPE_Q4_K_R16
    int GN_TYPE_BF16_P64
    int gn_repack_type(int type)
    int gn_repack(gn_pool *pool, int type, const void *src, size_t src_bytes, int64_t N,
                  int64_t K, void *dst, size_t dst_bytes)
    int gn_pack_bf16(gn_pool *pool, int type, const void *src, size_t src_bytes, int64_t N,
                     int64_t K, void *dst, size_t dst_bytes)

BF16_P64 = GN_TYPE_BF16_P64  # float weights in the bfloat16 path's panels


def _layout_out(const uint8_t[::1] w, int gtype, int64_t rows, int64_t cols, int to, out,
                what, whole_groups):
    """`out` (or a new buffer) for W [rows, cols] of gtype laid out as type `to`, once the
    sizes are checked to fit both types (rows a multiple of `to`'s row group where
    whole_groups, else the last group padded): ValueError naming the problem."""
    group = gn_type_info(to).row_group
    src_size, dst_size = gn_matrix_bytes(gtype, rows, cols), gn_matrix_bytes(to, rows, cols)
    if src_size <= 0 or dst_size <= 0 or (whole_groups and rows % group):
        need = f"a positive multiple of {group}" if whole_groups else "positive"
        raise ValueError(f"a [{rows}, {cols}] matrix cannot be {what}: rows must be {need} "
                         f"and columns whole blocks of both types")
    if w.shape[0] != src_size:
        raise ValueError(f"W has {w.shape[0]} bytes, expected {src_size} for [{rows}, {cols}]")
    if out is None:
        out = np.empty(dst_size, dtype=np.uint8)
    cdef uint8_t[::1] o = out
    if o.shape[0] != dst_size:
        raise ValueError(f"out has {o.shape[0]} bytes, expected {dst_size}")
    return out


def repack_type(int gtype):
    """The layout the active ISA's int8 kernels repack `gtype` into, or None."""
    cdef int t = gn_repack_type(gtype)
    return None if t < 0 else t


def row_group(int gtype):
    """Rows a matrix of gtype stores interleaved (1 for every file type)."""
    cdef const gn_type_traits *t = gn_type_info(gtype)
    if t == NULL:
        raise ValueError(f"unsupported type {gtype}")
    return t.row_group


def repack(ThreadPool pool, const uint8_t[::1] w, int gtype, int64_t rows, int64_t cols,
           out=None):
    """W [rows, cols] stored as gtype bytes -> (bytes in repack_type(gtype), that type), for
    matmul with flags "int8" only; written into `out` (uint8, exactly matrix_bytes(that type,
    rows, cols) long: a last row group short of its size is padded) when given. ValueError
    when the active ISA has no repacked layout for the type, or the sizes do not fit it."""
    cdef int to = gn_repack_type(gtype)
    if to < 0:
        raise ValueError(f"no repacked layout for type {gtype} on {isa_current()}")
    out = _layout_out(w, gtype, rows, cols, to, out, "repacked", False)
    cdef uint8_t[::1] o = out
    cdef gn_pool *p = pool_ptr(pool)
    cdef int st
    with nogil:
        st = gn_repack(p, gtype, &w[0], <size_t>w.shape[0], rows, cols, &o[0], <size_t>o.shape[0])
    check(st, "repack")
    return out, to


def pack_bf16(ThreadPool pool, const uint8_t[::1] w, int gtype, int64_t rows, int64_t cols,
              out=None):
    """Float W [rows, cols] (F32, F16 or BF16 bytes) -> the bytes of BF16_P64, the panels the
    bfloat16 path multiplies, for matmul with flags "bf16" only; written into `out` (uint8,
    exactly rows * 2 * cols long) when given. ValueError when the active ISA has no bfloat16
    kernels, or rows are not a multiple of 64 or cols not even."""
    if gtype not in (0, 1, 30):
        raise ValueError(f"pack_bf16 takes F32, F16 or BF16 weights, not type {gtype}")
    out = _layout_out(w, gtype, rows, cols, GN_TYPE_BF16_P64, out, "packed", True)
    cdef uint8_t[::1] o = out
    cdef gn_pool *p = pool_ptr(pool)
    cdef int st
    with nogil:
        st = gn_pack_bf16(p, gtype, &w[0], <size_t>w.shape[0], rows, cols, &o[0],
                          <size_t>o.shape[0])
    check(st, "pack_bf16")
    return out
