# Bindings of scalar twins kept out of every kernel table, so that tests can check the SIMD
# kernels against them on any CPU.

cdef extern from "matmul_paths.h" nogil:
    int gn_matmul_bf16_scalar(gn_pool *pool, const float *x, int64_t M, int64_t K,
                              const void *w, int wtype, int64_t N, size_t w_bytes,
                              const float *bias, float *y)
    int gn_matmul_f32p_scalar(gn_pool *pool, const float *x, int64_t M, int64_t K,
                              const void *w, int wtype, int64_t N, size_t w_bytes,
                              const float *bias, float *y)


cdef _matmul_twin(bint packed_f32, str name, ThreadPool pool, const float[:, ::1] x,
                  const uint8_t[::1] w, int wtype, int64_t n_out, const float[::1] bias):
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
        if packed_f32:
            status = gn_matmul_f32p_scalar(p, &x[0, 0], M, K, &w[0], wtype, n_out,
                                           <size_t>w.shape[0], b, &o[0, 0])
        else:
            status = gn_matmul_bf16_scalar(p, &x[0, 0], M, K, &w[0], wtype, n_out,
                                           <size_t>w.shape[0], b, &o[0, 0])
    check(status, name)
    return out


def matmul_bf16_scalar(ThreadPool pool, const float[:, ::1] x, const uint8_t[::1] w, int wtype,
                       int64_t n_out, const float[::1] bias=None):
    """matmul with flags=bf16 computed by the scalar twins of the bfloat16 kernels."""
    return _matmul_twin(False, "matmul_bf16_scalar", pool, x, w, wtype, n_out, bias)


def matmul_f32p_scalar(ThreadPool pool, const float[:, ::1] x, const uint8_t[::1] w, int wtype,
                       int64_t n_out, const float[::1] bias=None):
    """The exact float32 matmul on packed operands (the path of many rows where the level has a
    packed kernel) computed by the scalar twin of that kernel."""
    return _matmul_twin(True, "matmul_f32p_scalar", pool, x, w, wtype, n_out, bias)


cdef extern from "gn_kernels.h" nogil:
    ctypedef void (*gn_gemm_q_fn)(int64_t M, int64_t N, int64_t K, const void *xq,
                                  int64_t xq_row_bytes, const void *w, int64_t w_row_bytes,
                                  float *y, int64_t ldy)
    void gn_gemm_q_q4_k_r16_scalar(int64_t M, int64_t N, int64_t K, const void *xq,
                                   int64_t xq_row_bytes, const void *w, int64_t w_row_bytes,
                                   float *y, int64_t ldy)
    void gn_gemm_q_q8_k_r16_scalar(int64_t M, int64_t N, int64_t K, const void *xq,
                                   int64_t xq_row_bytes, const void *w, int64_t w_row_bytes,
                                   float *y, int64_t ldy)


def gemm_r16_scalar(int wtype, const uint8_t[::1] xq, int64_t M, const uint8_t[::1] w,
                    int64_t N, int64_t K):
    """The scalar twin of the int8 kernel of an interleaved layout (Q4_K_R16 or Q8_K_R16): x
    as M rows of Q8_K blocks (the bytes quantize_activations("q8_k", row) gives), W as
    repack() or quantize() make it, N a multiple of 16."""
    cdef gn_gemm_q_fn fn
    if wtype == GN_TYPE_Q4_K_R16:
        fn = gn_gemm_q_q4_k_r16_scalar
    elif wtype == GN_TYPE_Q8_K_R16:
        fn = gn_gemm_q_q8_k_r16_scalar
    else:
        raise ValueError(f"type {wtype} is not an interleaved layout")
    if M <= 0 or N <= 0 or N % 16 or K <= 0 or K % 256:
        raise ValueError(f"twin sizes M={M}, N={N}, K={K}: N a multiple of 16, K of 256")
    cdef int64_t xrb = K // 256 * sizeof(block_q8_K)
    cdef int64_t wrb = gn_row_bytes(wtype, K)
    if xq.shape[0] != M * xrb or w.shape[0] != N * wrb:
        raise ValueError("x or W bytes do not match M, N, K")
    out = np.empty((M, N), dtype=np.float32)
    cdef float[:, ::1] o = out
    with nogil:
        fn(M, N, K, &xq[0], xrb, &w[0], wrb, &o[0, 0], N)
    return out
