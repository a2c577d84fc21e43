# The activation quantizers of the int8 matmul path (csrc/quantize_act_*.c), exposed so tests
# can check their bytes against an independent implementation of the rule in quant_blocks.h.

cdef extern from "gn_kernels.h" nogil:
    ctypedef void (*gn_quantize_act_fn)(const float *x, void *dst, int64_t k)
    ctypedef struct gn_kernels:
        gn_quantize_act_fn quantize_q8_k
        gn_quantize_act_fn quantize_q8_32
    const gn_kernels *gn_active

# kind -> (values per block, bytes per block) of block_q8_K / block_q8_32
ACTIVATION_BLOCKS = {"q8_k": (256, sizeof(block_q8_K)), "q8_32": (32, sizeof(block_q8_32))}


def quantize_activations(str kind, const float[::1] x):
    """x (one row, a whole number of blocks) as the active ISA's int8 activation blocks of
    `kind` ("q8_k" or "q8_32"), returned as raw bytes (uint8)."""
    if kind not in ACTIVATION_BLOCKS:
        raise ValueError(f"unknown activation block {kind!r}; expected one of {sorted(ACTIVATION_BLOCKS)}")
    block, block_bytes = ACTIVATION_BLOCKS[kind]
    cdef int64_t k = x.shape[0]
    if k == 0 or k % block:
        raise ValueError(f"{k} values are not a whole number of {kind} blocks of {block}")
    out = np.empty(k // block * block_bytes, dtype=np.uint8)
    cdef uint8_t[::1] o = out
    cdef gn_quantize_act_fn fn = gn_active.quantize_q8_k if kind == "q8_k" else gn_active.quantize_q8_32
    with nogil:
        fn(&x[0], &o[0], k)
    return out
