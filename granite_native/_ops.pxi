# Bindings of csrc/gn_ops.h: norms, activations, depthwise conv, attention, RoPE.
# Arrays are float32 C-contiguous; outputs are caller-provided where aliasing is allowed.

cdef extern from "gn_ops.h" nogil:
    int GN_ACT_NONE, GN_ACT_SILU, GN_ACT_GELU_ERF, GN_ACT_SIGMOID
    int gn_layernorm(gn_pool *pool, const float *x, int64_t rows, int64_t d,
                     const float *w, const float *b, float eps, float *y)
    int gn_rmsnorm(gn_pool *pool, const float *x, int64_t rows, int64_t d,
                   const float *w, float eps, float *y)
    int gn_activation(gn_pool *pool, int act, const float *x, int64_t n, float *y)
    int gn_ffn(gn_pool *pool, const float *x, int64_t M, int64_t K, const void *w_up,
               int up_type, int64_t F, size_t up_bytes, const float *up_bias, int act,
               const void *w_down, int down_type, int64_t N, size_t down_bytes,
               const float *down_bias, float *y, int flags)
    int gn_glu(gn_pool *pool, const float *x, int64_t rows, int64_t c, float *y)
    int gn_swiglu(gn_pool *pool, const float *gate, const float *up, int64_t rows, int64_t c,
                  float *y)
    int gn_softmax(gn_pool *pool, float *x, int64_t rows, int64_t n)
    int gn_add_scaled(gn_pool *pool, float *h, const float *y, float alpha, int64_t n)
    int gn_conv_dw(gn_pool *pool, const float *x, int64_t T, int64_t C, const float *w,
                   int64_t k, const float *scale, const float *shift, int act, float *y)
    int gn_attention_block_relpos(gn_pool *pool, const float *q, const float *k, const float *v,
                                  int64_t T, int64_t H, int64_t dh, int64_t block,
                                  const float *rel, int64_t max_pos, float scale, int flags,
                                  float *out)
    ctypedef struct gn_kv:
        const void *data
        int type
        int64_t batch_stride, row_stride, head_stride
    int gn_attention(gn_pool *pool, const float *q, int64_t ldq, gn_kv k, gn_kv v,
                     int64_t batch, int64_t Lq, int64_t Lk, int64_t Hq, int64_t Hkv,
                     int64_t dh, float scale, int64_t causal_pos0, float *out, int64_t ldo)
    int gn_rope_neox(float *x, int64_t L, int64_t H, int64_t dh, int64_t pos0, float theta)

ACTIVATIONS = {"silu": GN_ACT_SILU, "gelu_erf": GN_ACT_GELU_ERF, "sigmoid": GN_ACT_SIGMOID}


cdef int need_len(str what, int64_t have, int64_t want) except -1:
    if have != want:
        raise ValueError(f"{what} has {have} elements, expected {want}")
    return 0


def layernorm(ThreadPool pool, const float[:, ::1] x, const float[::1] w, const float[::1] b,
              float eps, float[:, ::1] out):
    cdef int64_t rows = x.shape[0], d = x.shape[1]
    need_len("weight", w.shape[0], d); need_len("bias", b.shape[0], d)
    need_len("out rows", out.shape[0], rows); need_len("out cols", out.shape[1], d)
    cdef gn_pool *p = pool_ptr(pool)
    cdef int st
    with nogil:
        st = gn_layernorm(p, &x[0, 0], rows, d, &w[0], &b[0], eps, &out[0, 0])
    check(st, "layernorm")


def rmsnorm(ThreadPool pool, const float[:, ::1] x, const float[::1] w, float eps,
            float[:, ::1] out):
    cdef int64_t rows = x.shape[0], d = x.shape[1]
    need_len("weight", w.shape[0], d)
    need_len("out rows", out.shape[0], rows); need_len("out cols", out.shape[1], d)
    cdef gn_pool *p = pool_ptr(pool)
    cdef int st
    with nogil:
        st = gn_rmsnorm(p, &x[0, 0], rows, d, &w[0], eps, &out[0, 0])
    check(st, "rmsnorm")


def activation(ThreadPool pool, str name, const float[::1] x, float[::1] out):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}")
    need_len("out", out.shape[0], x.shape[0])
    cdef int act = ACTIVATIONS[name]
    cdef gn_pool *p = pool_ptr(pool)
    cdef int st
    if x.shape[0] == 0:
        return
    with nogil:
        st = gn_activation(p, act, &x[0], x.shape[0], &out[0])
    check(st, name)


def ffn(ThreadPool pool, const float[:, ::1] x, up, str act, down, int flags=0):
    """act(x @ W_up^T + b_up) @ W_down^T + b_down -> [M, n_out of down], for up and down given
    as (w bytes, wtype, n_out, bias or None) like matmul_group's; flags as matmul's. Bit for
    bit the two matmuls and the activation, with the hidden rows kept in bfloat16 between them
    where both take the bfloat16 path (gn_ffn)."""
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}")
    cdef const uint8_t[::1] wu, wd
    cdef const float[::1] bu, bd
    up_w, up_type, F, up_b = up
    down_w, down_type, N, down_b = down
    wu, wd = up_w, down_w
    cdef int64_t M = x.shape[0], K = x.shape[1]
    if M == 0 or K == 0 or F <= 0 or N <= 0 or wu.shape[0] == 0 or wd.shape[0] == 0:
        raise ValueError(f"empty ffn: x is {M}x{K}, hidden {F}, out {N}")
    cdef const float *pu = NULL
    cdef const float *pd = NULL
    if up_b is not None:
        bu = up_b
        need_len("up bias", bu.shape[0], F)
        pu = &bu[0]
    if down_b is not None:
        bd = down_b
        need_len("down bias", bd.shape[0], N)
        pd = &bd[0]
    out = np.empty((M, N), np.float32)
    cdef float[:, ::1] y = out
    cdef int a = ACTIVATIONS[act], ut = up_type, dt = down_type, st
    cdef int64_t f = F, n = N
    cdef gn_pool *p = pool_ptr(pool)
    with nogil:
        st = gn_ffn(p, &x[0, 0], M, K, &wu[0], ut, f, <size_t>wu.shape[0], pu, a, &wd[0], dt, n,
                    <size_t>wd.shape[0], pd, &y[0, 0], flags)
    check(st, "ffn")
    return out


def glu(ThreadPool pool, const float[:, ::1] x, float[:, ::1] out):
    cdef int64_t rows = x.shape[0], c = x.shape[1] // 2
    if x.shape[1] % 2:
        raise ValueError(f"GLU input width {x.shape[1]} is odd")
    need_len("out rows", out.shape[0], rows); need_len("out cols", out.shape[1], c)
    cdef gn_pool *p = pool_ptr(pool)
    cdef int st
    with nogil:
        st = gn_glu(p, &x[0, 0], rows, c, &out[0, 0])
    check(st, "glu")


def swiglu(ThreadPool pool, const float[:, ::1] gate, const float[:, ::1] up, float[:, ::1] out):
    cdef int64_t rows = gate.shape[0], c = gate.shape[1]
    need_len("up rows", up.shape[0], rows); need_len("up cols", up.shape[1], c)
    need_len("out rows", out.shape[0], rows); need_len("out cols", out.shape[1], c)
    cdef gn_pool *p = pool_ptr(pool)
    cdef int st
    with nogil:
        st = gn_swiglu(p, &gate[0, 0], &up[0, 0], rows, c, &out[0, 0])
    check(st, "swiglu")


def softmax(ThreadPool pool, float[:, ::1] x):
    cdef gn_pool *p = pool_ptr(pool)
    cdef int st
    with nogil:
        st = gn_softmax(p, &x[0, 0], x.shape[0], x.shape[1])
    check(st, "softmax")


def add_scaled(ThreadPool pool, float[:, ::1] h, const float[:, ::1] y, float alpha=1.0):
    """h += alpha * y in place, across the pool."""
    need_len("y rows", y.shape[0], h.shape[0]); need_len("y cols", y.shape[1], h.shape[1])
    cdef gn_pool *p = pool_ptr(pool)
    cdef int st
    if h.shape[0] == 0 or h.shape[1] == 0:
        return
    with nogil:
        st = gn_add_scaled(p, &h[0, 0], &y[0, 0], alpha, h.shape[0] * h.shape[1])
    check(st, "add_scaled")


def conv_dw(ThreadPool pool, const float[:, ::1] x, const float[:, ::1] w, float[:, ::1] out,
            scale=None, shift=None, act=None):
    """x [T, C], w [C, k] -> out [T, C], zero padding k//2 on both sides; then, if given,
    out = out * scale + shift per channel (scale and shift [C], together) and act(out)."""
    cdef int64_t T = x.shape[0], C = x.shape[1], k = w.shape[1]
    need_len("weight channels", w.shape[0], C)
    need_len("out rows", out.shape[0], T); need_len("out cols", out.shape[1], C)
    if (scale is None) != (shift is None):
        raise ValueError("conv_dw takes scale and shift together")
    if act is not None and act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}")
    cdef const float[::1] sc, sh
    cdef const float *scp = NULL
    cdef const float *shp = NULL
    if scale is not None:
        sc, sh = scale, shift
        need_len("scale", sc.shape[0], C); need_len("shift", sh.shape[0], C)
        scp, shp = &sc[0], &sh[0]
    cdef int a = GN_ACT_NONE if act is None else ACTIVATIONS[act]
    cdef gn_pool *p = pool_ptr(pool)
    cdef int st
    with nogil:
        st = gn_conv_dw(p, &x[0, 0], T, C, &w[0, 0], k, scp, shp, a, &out[0, 0])
    check(st, "depthwise conv")


def attention_block_relpos(ThreadPool pool, const float[:, ::1] q, const float[:, ::1] k,
                           const float[:, ::1] v, int64_t heads, int64_t block,
                           const float[:, ::1] rel, float scale, float[:, ::1] out,
                           int flags=0):
    """flags: matmul_flags(["bf16"]) multiplies in bfloat16 where the level has it."""
    cdef int64_t T = q.shape[0], width = q.shape[1]
    if heads <= 0 or width % heads:
        raise ValueError(f"width {width} does not split into {heads} heads")
    cdef int64_t dh = width // heads
    for name, a in (("k", k), ("v", v), ("out", out)):
        need_len(name + " rows", a.shape[0], T); need_len(name + " cols", a.shape[1], width)
    need_len("rel-pos width", rel.shape[1], dh)
    if rel.shape[0] % 2 == 0:
        raise ValueError(f"rel-pos table has {rel.shape[0]} rows, expected 2*max_pos+1")
    cdef int64_t max_pos = rel.shape[0] // 2
    cdef gn_pool *p = pool_ptr(pool)
    cdef int st
    with nogil:
        st = gn_attention_block_relpos(p, &q[0, 0], &k[0, 0], &v[0, 0], T, heads, dh, block,
                                       &rel[0, 0], max_pos, scale, flags, &out[0, 0])
    check(st, "block attention")


cdef gn_kv kv_operand(str name, a, int64_t B, int64_t Hkv, int64_t dh) except *:
    """gn_kv over K or V (a 3- or 4-D float32 or float16 numpy array) given as [B, Lk, Hkv*dh]
    (rows of all heads side by side) or [B, Hkv, Lk, dh] (head-major, as the decoder's cache),
    either possibly a strided view with contiguous vectors of dh."""
    cdef gn_kv kv
    if a.dtype not in KV_TYPES:
        raise ValueError(f"{name} must be float32 or float16, not {a.dtype}")
    cdef int64_t size = a.itemsize
    kv.type = KV_TYPES[a.dtype]
    # the element [0, 0, 0(, 0)] of a view, whatever its strides (checked in C by gn_attention)
    kv.data = <const void *><uintptr_t>a.ctypes.data if a.size else NULL
    if a.ndim == 3:
        need_len(name + " batch", a.shape[0], B); need_len(name + " width", a.shape[2], Hkv * dh)
        if a.strides[2] != size:
            raise ValueError(f"{name} rows must be contiguous")
        kv.batch_stride, kv.row_stride = a.strides[0] // size, a.strides[1] // size
        kv.head_stride = dh
    else:
        need_len(name + " batch", a.shape[0], B); need_len(name + " heads", a.shape[1], Hkv)
        need_len(name + " head width", a.shape[3], dh)
        if a.strides[3] != size:
            raise ValueError(f"{name} head vectors must be contiguous")
        kv.batch_stride, kv.head_stride = a.strides[0] // size, a.strides[1] // size
        kv.row_stride = a.strides[2] // size
    return kv


def attention(ThreadPool pool, const float[:, :, ::1] q, k, v, int64_t heads, int64_t kv_heads,
              float scale, int64_t causal_pos0, float[:, :, ::1] out):
    """q [B, Lq, H*dh]; k, v [B, Lk, Hkv*dh] or head-major [B, Hkv, Lk, dh] (views of a cache
    may be strided)."""
    cdef int64_t B = q.shape[0], Lq = q.shape[1]
    if heads <= 0 or kv_heads <= 0 or q.shape[2] % heads:
        raise ValueError(f"query width {q.shape[2]} does not split into {heads} heads")
    cdef int64_t dh = q.shape[2] // heads
    k, v = np.asarray(k), np.asarray(v)
    for name, a in (("k", k), ("v", v)):  # before reading shapes: tuples are not bounds-checked
        if a.ndim not in (3, 4):
            raise ValueError(f"{name} must be [B, Lk, Hkv*dh] or [B, Hkv, Lk, dh], not {a.ndim}-D")
        if any(s % a.itemsize for s in a.strides):
            raise ValueError(f"{name}'s strides {a.strides} are not whole elements")
    cdef int64_t Lk = k.shape[1] if k.ndim == 3 else k.shape[2]
    cdef gn_kv kk = kv_operand("k", k, B, kv_heads, dh), vv = kv_operand("v", v, B, kv_heads, dh)
    need_len("v length", v.shape[1] if v.ndim == 3 else v.shape[2], Lk)
    need_len("out batch", out.shape[0], B); need_len("out length", out.shape[1], Lq)
    need_len("out width", out.shape[2], q.shape[2])
    cdef gn_pool *p = pool_ptr(pool)
    cdef int st
    if B == 0 or Lq == 0:
        return
    with nogil:
        st = gn_attention(p, &q[0, 0, 0], q.shape[2], kk, vv, B, Lq, Lk, heads, kv_heads, dh,
                          scale, causal_pos0, &out[0, 0, 0], out.shape[2])
    check(st, "attention")


def rope_neox(float[:, ::1] x, int64_t heads, int64_t pos0, float theta):
    if heads <= 0 or x.shape[1] % heads:
        raise ValueError(f"width {x.shape[1]} does not split into {heads} heads")
    cdef int st
    with nogil:
        st = gn_rope_neox(&x[0, 0], x.shape[0], heads, x.shape[1] // heads, pos0, theta)
    check(st, "rope")
