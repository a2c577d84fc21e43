# Binding of the quantizers (csrc/quantize*.c).

cdef extern from "gn.h" nogil:
    int GN_TYPE_Q8_K_R16
    int gn_quantize(gn_pool *pool, int type, const float *src, int64_t rows, int64_t cols,
                    void *dst, size_t dst_bytes)

Q8_K_R16 = GN_TYPE_Q8_K_R16  # the load-time layout of float weights for the int8 kernels


def quantize(ThreadPool pool, int gtype, const float[:, ::1] src, uint8_t[::1] out):
    """Encode src [rows, cols] row by row as gtype (F16, Q4_0, Q8_0 or Q4_K) into out; or as
    Q8_K_R16, the load-time 8-bit layout of float weights (rows a multiple of 16)."""
    cdef int64_t rows = src.shape[0], cols = src.shape[1]
    if gtype not in (1, 2, 8, 12, GN_TYPE_Q8_K_R16):
        raise ValueError(f"cannot quantize to tensor type {gtype}")
    group = gn_type_info(gtype).row_group
    if rows % group:
        raise ValueError(f"{type_info(gtype)[0]} holds rows in groups of {group}; got {rows} rows")
    cdef int64_t nbytes = gn_row_bytes(gtype, cols)
    if cols == 0 or nbytes < 0:
        raise ValueError(f"rows of {cols} values are not whole {type_info(gtype)[0]} blocks")
    if rows * nbytes != out.shape[0]:
        raise ValueError(f"{rows} rows of {type_info(gtype)[0]} need {rows * nbytes} bytes, out has {out.shape[0]}")
    if rows == 0:
        return
    cdef gn_pool *p = pool_ptr(pool)
    cdef int status
    with nogil:
        status = gn_quantize(p, gtype, &src[0, 0], rows, cols, &out[0], <size_t>out.shape[0])
    check(status, "quantize")
