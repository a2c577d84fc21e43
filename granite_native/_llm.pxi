# Binding of csrc/gn_llm.h: the decoder description, built once, and its forward pass.
from libc.stdlib cimport malloc, free

cdef extern from "gn_llm.h" nogil:
    ctypedef struct gn_llm_matrix:
        const void *data
        int type
        size_t bytes
    ctypedef struct gn_llm_layer:
        const float *attn_norm
        const float *ffn_norm
        gn_llm_matrix q, k, v, o, gate, up, down
    ctypedef struct gn_llm_desc:
        int64_t n_layers, d_model, n_heads, n_kv_heads, head_dim, ff_dim, vocab
        float rms_eps, rope_theta
        float embedding_multiplier, attention_multiplier, residual_multiplier, logits_scaling
        int matmul_flags
        const gn_llm_layer *layers
        const float *output_norm
        gn_llm_matrix output
    ctypedef struct gn_llm:
        pass
    int gn_llm_create(const gn_llm_desc *desc, gn_llm **out)
    void gn_llm_destroy(gn_llm *llm)
    int gn_llm_forward(gn_pool *pool, const gn_llm *llm, const float *x, int64_t L,
                       void *cache_k, void *cache_v, int kv_type, int64_t capacity,
                       int64_t pos0, int64_t logits_rows, float *logits)

LLM_MATRICES = ("q", "k", "v", "o", "gate", "up", "down")


cdef const float *vector_ptr(list keep, object a, int64_t n, str what) except NULL:
    cdef const float[::1] mv = a
    if mv.shape[0] != n:
        raise ValueError(f"{what} has {mv.shape[0]} elements, expected {n}")
    keep.append(a)
    return &mv[0]


cdef int set_matrix(gn_llm_matrix *m, list keep, object spec, int64_t rows, int64_t cols,
                    str what) except -1:
    """spec is (bytes as a uint8 array, gn type) of a [rows, cols] matrix."""
    data, wtype = spec
    if type_info(wtype) is None:
        raise ValueError(f"{what} has unsupported type {wtype}")
    cdef const uint8_t[::1] mv = data
    cdef int64_t nbytes = gn_matrix_bytes(wtype, rows, cols)
    if nbytes < 0:
        raise ValueError(f"{what}: [{rows}, {cols}] is not a matrix of whole "
                         f"{type_info(wtype)[0]} blocks")
    if mv.shape[0] != nbytes:
        raise ValueError(f"{what} has {mv.shape[0]} bytes, expected {nbytes} for "
                         f"[{rows}, {cols}] in {type_info(wtype)[0]}")
    m.data = &mv[0]
    m.type = wtype
    m.bytes = mv.shape[0]
    keep.append(data)
    return 0


KV_TYPES = {np.dtype(np.float32): 0, np.dtype(np.float16): 1}  # GN_TYPE_F32, GN_TYPE_F16


cdef void *cache_ptr(str name, c, int64_t n_layers, int64_t kv_heads, int64_t cap,
                     int64_t head_dim) except NULL:
    """The first element of a C-contiguous float32 or float16 cache of the expected shape."""
    if not isinstance(c, np.ndarray) or c.dtype not in KV_TYPES:
        raise ValueError(f"{name} must be a float32 or float16 numpy array")
    if c.shape != (n_layers, kv_heads, cap, head_dim):
        raise ValueError(f"{name} is {'x'.join(map(str, c.shape))}, expected "
                         f"{n_layers}x{kv_heads}x{cap}x{head_dim}")
    if not c.flags.c_contiguous or not c.flags.writeable or c.size == 0:
        raise ValueError(f"{name} must be a writeable, C-contiguous, non-empty array")
    cdef uint8_t[::1] raw = c.reshape(-1).view(np.uint8)
    return &raw[0]


cdef class LLM:
    """The Granite decoder's weights and hyperparameters, checked once, for forward().

    layers: one dict per layer with attn_norm and ffn_norm (float32 [d_model]) and the
    matrices q, k, v, o, gate, up, down as (uint8 bytes, gn type) pairs; output_norm likewise
    a vector, output a matrix [vocab, d_model]. flags: gn_matmul flags for every matrix.
    The arrays are kept referenced, so the memory the C description points into stays alive.
    """
    cdef gn_llm *llm
    cdef list keep
    cdef readonly int64_t n_layers, d_model, n_kv_heads, head_dim, vocab

    def __cinit__(self, layers, output_norm, output, *, int64_t d_model, int64_t n_heads,
                  int64_t n_kv_heads, int64_t head_dim, int64_t ff_dim, int64_t vocab,
                  float rms_eps, float rope_theta, float embedding_multiplier,
                  float attention_multiplier, float residual_multiplier, float logits_scaling,
                  int flags=0):
        if d_model <= 0 or n_heads <= 0 or n_kv_heads <= 0 or head_dim <= 0 or ff_dim <= 0 \
                or vocab <= 0 or not layers:
            raise ValueError("decoder sizes must be positive and there must be layers")
        if n_heads % n_kv_heads or head_dim % 2:
            raise ValueError(f"{n_heads} heads do not share {n_kv_heads} KV heads evenly, "
                             f"or head_dim {head_dim} is odd")
        self.keep = []
        cdef gn_llm_desc d
        d.n_layers, d.d_model, d.n_heads, d.n_kv_heads = len(layers), d_model, n_heads, n_kv_heads
        d.head_dim, d.ff_dim, d.vocab = head_dim, ff_dim, vocab
        d.rms_eps, d.rope_theta = rms_eps, rope_theta
        d.embedding_multiplier, d.attention_multiplier = embedding_multiplier, attention_multiplier
        d.residual_multiplier, d.logits_scaling = residual_multiplier, logits_scaling
        d.matmul_flags = flags
        d.output_norm = vector_ptr(self.keep, output_norm, d_model, "output_norm")
        set_matrix(&d.output, self.keep, output, vocab, d_model, "output")
        qw, kvw = <object>n_heads * head_dim, <object>n_kv_heads * head_dim  # no overflow
        shapes = {"q": (qw, d_model), "k": (kvw, d_model), "v": (kvw, d_model),
                  "o": (d_model, qw), "gate": (ff_dim, d_model), "up": (ff_dim, d_model),
                  "down": (d_model, ff_dim)}
        cdef gn_llm_layer *ls = <gn_llm_layer *>malloc(len(layers) * sizeof(gn_llm_layer))
        if ls == NULL:
            raise MemoryError("decoder description: out of memory")
        cdef gn_llm_matrix *ms[7]
        cdef int st, j
        try:
            for i, layer in enumerate(layers):
                ls[i].attn_norm = vector_ptr(self.keep, layer["attn_norm"], d_model,
                                             f"layer {i} attn_norm")
                ls[i].ffn_norm = vector_ptr(self.keep, layer["ffn_norm"], d_model,
                                            f"layer {i} ffn_norm")
                ms[0], ms[1], ms[2], ms[3] = &ls[i].q, &ls[i].k, &ls[i].v, &ls[i].o
                ms[4], ms[5], ms[6] = &ls[i].gate, &ls[i].up, &ls[i].down
                for j, name in enumerate(LLM_MATRICES):
                    set_matrix(ms[j], self.keep, layer[name], shapes[name][0], shapes[name][1],
                               f"layer {i} {name}")
            d.layers = ls
            st = gn_llm_create(&d, &self.llm)
        finally:
            free(ls)
        if st == GN_ERR_INVALID:
            raise ValueError(f"decoder description rejected: eps {rms_eps}, rope theta "
                             f"{rope_theta}, multipliers {embedding_multiplier}, "
                             f"{attention_multiplier}, {residual_multiplier}, logits scaling "
                             f"{logits_scaling} and flags {flags} must be finite, positive "
                             f"where a scale, and known")
        check(st, "decoder description")
        self.n_layers, self.d_model, self.vocab = len(layers), d_model, vocab
        self.n_kv_heads, self.head_dim = n_kv_heads, head_dim

    def __dealloc__(self):
        gn_llm_destroy(self.llm)

    def forward(self, ThreadPool pool, const float[:, ::1] x, cache_k, cache_v, int64_t pos0,
                float[:, ::1] logits):
        """Runs x [L, d_model] at positions pos0.. through every layer, writing K and V of
        positions pos0..pos0+L-1 into the caches [n_layers, n_kv_heads, capacity, head_dim]
        (numpy float32 or float16, both the same); logits [R, vocab] receives the logits of
        the last R positions."""
        cdef int64_t L = x.shape[0], R = logits.shape[0]
        if L == 0:
            raise ValueError("decoder input has no rows")
        need_len("decoder input width", x.shape[1], self.d_model)
        if not isinstance(cache_k, np.ndarray) or cache_k.ndim != 4:
            raise ValueError("K cache must be a 4-D numpy array")
        cdef int64_t cap = cache_k.shape[2]
        cdef void *kp = cache_ptr("K cache", cache_k, self.n_layers, self.n_kv_heads, cap,
                                  self.head_dim)
        cdef void *vp = cache_ptr("V cache", cache_v, self.n_layers, self.n_kv_heads, cap,
                                  self.head_dim)
        if cache_k.dtype != cache_v.dtype:
            raise ValueError(f"K cache is {cache_k.dtype} but V cache is {cache_v.dtype}")
        cdef int kv_type = KV_TYPES[cache_k.dtype]
        if not 1 <= R <= L:
            raise ValueError(f"{R} logits rows requested for {L} input rows")
        need_len("logits width", logits.shape[1], self.vocab)
        if pos0 < 0:
            raise ValueError(f"start position {pos0} is negative")
        if pos0 > cap - L:
            raise ValueError(f"KV cache holds {cap} tokens; {pos0 + L} needed")
        cdef gn_pool *p = pool_ptr(pool)
        cdef int st
        with nogil:
            st = gn_llm_forward(p, self.llm, &x[0, 0], L, kp, vp, kv_type, cap, pos0, R,
                                &logits[0, 0])
        if st == GN_ERR_RANGE:
            raise OverflowError("decoder forward: a K or V value is beyond float16's range "
                                "(65504), which the float16 KV cache cannot hold; precision "
                                "'exact' keeps a float32 cache")
        check(st, "decoder forward")


def embed_rows(int gtype, const uint8_t[::1] table, int64_t cols, ids, int64_t placeholder,
               float[:, ::1] out):
    """out[r] = row ids[r] of the embedding table [vocab, cols] stored as gtype bytes, with
    row 0 for the placeholder id."""
    cdef int64_t rb = gn_row_bytes(gtype, cols)
    if gn_type_info(gtype) == NULL or rb <= 0 or table.shape[0] % rb:
        raise ValueError(f"the embedding table is not whole rows of {cols} values of type {gtype}")
    cdef int64_t vocab = table.shape[0] // rb, n = len(ids), r, i
    need_len("out rows", out.shape[0], n); need_len("out cols", out.shape[1], cols)
    cdef int64_t *rows = <int64_t *>malloc(max(n, 1) * sizeof(int64_t))
    if rows == NULL:
        raise MemoryError("embedding: out of memory")
    cdef int st = GN_OK
    try:
        for r, t in enumerate(ids):
            try:
                i = t
            except OverflowError:
                raise ValueError(f"token id {t} is outside the vocabulary of {vocab}") from None
            if i == placeholder:
                i = 0
            if not 0 <= i < vocab:
                raise ValueError(f"token id {i} is outside the vocabulary of {vocab}")
            rows[r] = i
        with nogil:
            for r in range(n):
                st = gn_dequantize(gtype, &table[rows[r] * rb], &out[r, 0], cols)
                if st != GN_OK:
                    break
    finally:
        free(rows)
    check(st, "embedding")
