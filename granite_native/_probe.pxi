# Binding of the roofline probes (csrc/probe.c), used by `granite-native bench`.
from libc.stdint cimport uint64_t

cdef extern from "gn.h" nogil:
    int gn_probe_read(gn_pool *pool, const void *buf, size_t nbytes, uint64_t *checksum)
    int gn_probe_fma(gn_pool *pool, int64_t iters, double *flops, float *sink)
    int gn_probe_bf16(gn_pool *pool, int64_t iters, double *flops, float *sink)
    int gn_probe_int8(gn_pool *pool, int64_t iters, double *flops, float *sink)


def probe_read(ThreadPool pool, const uint8_t[::1] buf):
    """Reads every byte of buf across the pool; returns the sum of its 64-bit words (mod 2**64).
    len(buf) must be a non-zero multiple of 64."""
    cdef size_t n = buf.shape[0]
    if n == 0 or n % 64:
        raise ValueError(f"probe buffer must be a non-zero multiple of 64 bytes, got {n}")
    cdef uint64_t checksum = 0
    cdef gn_pool *p = pool_ptr(pool)
    cdef int status
    with nogil:
        status = gn_probe_read(p, &buf[0], n, &checksum)
    check(status, "probe_read")
    return checksum


def probe_fma(ThreadPool pool, int64_t iters):
    """Multiply-add chains on every pool thread; returns the FLOPs done."""
    cdef double flops = 0
    cdef float sink = 0
    cdef gn_pool *p = pool_ptr(pool)
    cdef int status
    with nogil:
        status = gn_probe_fma(p, iters, &flops, &sink)
    check(status, "probe_fma")
    return flops


def probe_bf16(ThreadPool pool, int64_t iters):
    """bfloat16 dot-product chains on every pool thread; returns the FLOPs done. Raises
    ValueError where the active instruction set has no bfloat16 dot products."""
    cdef double flops = 0
    cdef float sink = 0
    cdef gn_pool *p = pool_ptr(pool)
    cdef int status
    with nogil:
        status = gn_probe_bf16(p, iters, &flops, &sink)
    check(status, "probe_bf16")
    return flops


def probe_int8(ThreadPool pool, int64_t iters):
    """int8 dot-product (VNNI) chains on every pool thread; returns the integer ops done.
    Raises ValueError where the active instruction set has no int8 probe."""
    cdef double flops = 0
    cdef float sink = 0
    cdef gn_pool *p = pool_ptr(pool)
    cdef int status
    with nogil:
        status = gn_probe_int8(p, iters, &flops, &sink)
    check(status, "probe_int8")
    return flops
