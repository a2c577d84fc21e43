# Bindings of scalar twins kept out of every kernel table, so that tests can check the SIMD
# kernels against them on any CPU.

cdef extern from "matmul_paths.h" nogil:
    int gn_matmul_bf16_scalar(gn_pool *pool, const float *x, int64_t M, int64_t K,
                              const void *w, int wtype, int64_t N, size_t w_bytes,
                              const float *bias, float *y)


def matmul_bf16_scalar(ThreadPool pool, const float[:, ::1] x, const uint8_t[::1] w, int wtype,
                       int64_t n_out, const float[::1] bias=None):
    """matmul with flags=bf16 computed by the scalar twins of the bfloat16 kernels."""
    cdef int64_t M = x.shape[0], K = x.shape[1]
    if M == 0 or K == 0 or n_out <= 0:
        raise ValueError(f"empty matmul: x is {M}x{K}, n_out={n_out}")
    if bias is not None and bias.shape[0] != n_out:
        raise ValueError(f"bias has {bias.shape[0]} elements, expected {n_out}")
    out = np.empty((M, n_out), dtype=np.float32)
    cdef float[:, ::1] o = out
    cdef gn_pool *p = pool_ptr(pool)
    cdef const float *b = &bias[0] if bias is not None else NULL
    cdef int status
    with nogil:
        status = gn_matmul_bf16_scalar(p, &x[0, 0], M, K, &w[0], wtype, n_out, <size_t>w.shape[0],
                                       b, &o[0, 0])
    check(status, "matmul_bf16_scalar")
    return out
