"""The kernels at every instruction-set level this machine runs: dequantization bit-exact
against the gguf package, matmul against numpy float64, SIMD against scalar, argument checks,
and the GRANITE_NATIVE_ISA override."""
from pathlib import Path

import numpy as np
import pytest
from child_process import run_python
from gguf import GGMLQuantizationType as GT
from gguf.quants import dequantize as gguf_dequantize

from granite_native import _native

ROOT = Path(__file__).resolve().parent.parent
TYPES = [GT.F32, GT.F16, GT.BF16, GT.Q4_0, GT.Q8_0, GT.Q4_K, GT.Q6_K]
LEVELS = [name for name in _native.ISA_NAMES if _native.isa_supported(name)]
# Byte offsets of the f16 fields inside one block, which must hold finite values.
HALF_FIELDS = {GT.F16: [0], GT.Q4_0: [0], GT.Q8_0: [0], GT.Q4_K: [0, 2], GT.Q6_K: [208]}
# Dequantization is bit-exact at every level, so a SIMD matmul differs from the scalar one only
# in the order of its float32 sums; the bound is relative to sum |x| |w|, as is any
# summation-order error.
SIMD_VS_SCALAR_TOL = {GT.F32: 2e-6, GT.F16: 2e-6, GT.BF16: 2e-6, GT.Q4_0: 2e-6,
                      GT.Q8_0: 2e-6, GT.Q4_K: 2e-6, GT.Q6_K: 2e-6}


def random_weights(rng, gtype, rows, k):
    """Random bytes for rows x k elements of gtype, with every f16 scale (and F16 value) finite."""
    _, block_elems, block_bytes = _native.type_info(gtype)
    blocks = rng.integers(0, 256, size=(rows * k // block_elems, block_bytes), dtype=np.uint8)
    for off in HALF_FIELDS.get(gtype, []):
        h = blocks[:, off:off + 2].copy().view(np.uint16)
        h[(h & 0x7C00) == 0x7C00] ^= 0x4000  # exponent all ones (inf/nan) -> a finite one
        blocks[:, off:off + 2] = h.view(np.uint8)
    # float32 and bfloat16 bit patterns span float32's range: products of random ones overflow
    if gtype == GT.F32:
        return rng.standard_normal(rows * k).astype(np.float32).view(np.uint8)
    if gtype == GT.BF16:
        return (rng.standard_normal(rows * k).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).view(np.uint8)
    return blocks.reshape(-1)


def reference_dequant(raw, gtype, n):
    return gguf_dequantize(raw, gtype).reshape(-1)[:n].astype(np.float32)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("gtype", TYPES, ids=lambda t: t.name)
def test_dequantize_is_bit_exact_against_gguf(isa, level, gtype):
    isa(level)
    rng = np.random.default_rng(int(gtype))
    block_elems = _native.type_info(gtype)[1]
    for blocks in (1, 3, 17, 64):
        # unblocked types get a count that leaves a tail after every vector width
        n = blocks * block_elems + (7 if block_elems == 1 else 0)
        if gtype in (GT.F32, GT.BF16):  # any bits, NaN included: a copy / a shift
            raw = rng.integers(0, 256, size=n * _native.type_info(gtype)[2], dtype=np.uint8)
        else:
            raw = random_weights(rng, gtype, 1, n)
        got = _native.dequantize(int(gtype), raw, n)
        want = reference_dequant(raw, gtype, n)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), (level, gtype.name, n)


@pytest.mark.parametrize("level", LEVELS)
def test_f16_infinities_and_nans_survive(isa, level):
    isa(level)
    # +-inf, quiet and signalling NaNs of both signs; vector kernels may quieten a signalling NaN
    halves = np.array([0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0xFC01, 0x7FFF, 0x3C00] * 3,
                      dtype=np.uint16)
    got = _native.dequantize(int(GT.F16), halves.view(np.uint8), len(halves))
    want = halves.view(np.float16).astype(np.float32)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.array_equal(np.signbit(got), np.signbit(want))
    finite_or_inf = ~np.isnan(want)
    assert np.array_equal(got[finite_or_inf], want[finite_or_inf])


def matmul_case(rng, gtype, M, K, N):
    x = rng.standard_normal((M, K)).astype(np.float32)
    w = random_weights(rng, gtype, N, K)
    wf = reference_dequant(w, gtype, N * K).reshape(N, K).astype(np.float64)
    if not np.all(np.isfinite(wf)):
        raise AssertionError("test weights must be finite")
    return x, w, wf


def magnitude(x, wf):
    return np.abs(x.astype(np.float64)) @ np.abs(wf).T


def k_for(gtype, target):
    """The smallest whole number of blocks with at least `target` elements."""
    be = _native.type_info(gtype)[1]
    return -(-target // be) * be


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("gtype", TYPES, ids=lambda t: t.name)
def test_matmul_matches_float64_reference(isa, level, gtype):
    isa(level)
    rng = np.random.default_rng(100 + int(gtype))
    pool = _native.ThreadPool(1)
    # M=1 and 4 (decode; F16 takes its GEMV up to 4 rows), M not a multiple of any register
    # tile; N not a multiple of the 16-row panel; K with a tail after every vector width where
    # the type allows it
    for M, K, N in [(1, k_for(gtype, 300), 37), (4, k_for(gtype, 100), 9),
                    (7, k_for(gtype, 45), 19), (13, k_for(gtype, 512), 33)]:
        x, w, wf = matmul_case(rng, gtype, M, K, N)
        bias = rng.standard_normal(N).astype(np.float32)
        ref = x.astype(np.float64) @ wf.T
        tol = 1e-5 * magnitude(x, wf) + 1e-30
        y = _native.matmul(pool, x, w, int(gtype), N)
        assert y.shape == (M, N)
        assert np.all(np.abs(y - ref) <= tol), (level, gtype.name, M, K, N)
        yb = _native.matmul(pool, x, w, int(gtype), N, bias)
        assert np.all(np.abs(yb - (ref + bias)) <= tol + 1e-6 * np.abs(bias)), (level, gtype.name)


@pytest.mark.parametrize("gtype", TYPES, ids=lambda t: t.name)
def test_every_level_matches_scalar_matmul(isa, gtype):
    rng = np.random.default_rng(200 + int(gtype))
    pool = _native.ThreadPool(1)
    for M, K, N in [(6, k_for(gtype, 600), 21), (3, k_for(gtype, 600), 21)]:
        x, w, wf = matmul_case(rng, gtype, M, K, N)
        isa("scalar")
        want = _native.matmul(pool, x, w, int(gtype), N)
        tol = SIMD_VS_SCALAR_TOL[gtype] * magnitude(x, wf) + 1e-30
        for level in LEVELS:
            isa(level)
            got = _native.matmul(pool, x, w, int(gtype), N)
            assert np.all(np.abs(got - want) <= tol), (level, gtype.name, M)


@pytest.mark.parametrize("level", LEVELS)
def test_two_threads_give_identical_results(isa, level):
    isa(level)
    rng = np.random.default_rng(7)
    for gtype in (GT.F32, GT.Q4_K):
        M, K, N = 5, 512, 70
        x, w, _ = matmul_case(rng, gtype, M, K, N)
        bias = rng.standard_normal(N).astype(np.float32)
        one = _native.matmul(_native.ThreadPool(1), x, w, int(gtype), N, bias)
        pool = _native.ThreadPool(2)
        two = _native.matmul(pool, x, w, int(gtype), N, bias)
        pool.active = 1
        limited = _native.matmul(pool, x, w, int(gtype), N, bias)
        assert np.array_equal(one.view(np.uint32), two.view(np.uint32))
        assert np.array_equal(one.view(np.uint32), limited.view(np.uint32))


@pytest.mark.parametrize("level", LEVELS)
def test_f16_decode_rows_come_out_whatever_the_thread_count(isa, level):
    """A decode-sized product against F16 weights (1-4 x rows) gives each thread a range of
    W's rows, which the others help finish from the end (gemv_ranges.h): every row comes out,
    with its bias, as the float64 reference has it and with the same bits at every thread
    count, at counts that split W unevenly, and past the most ranges, whose extra tasks only
    help."""
    isa(level)
    rng = np.random.default_rng(8)
    K, N = 256, 1000
    for M in (1, 4):
        x, w, wf = matmul_case(rng, GT.F16, M, K, N)
        bias = rng.standard_normal(N).astype(np.float32)
        want = _native.matmul(_native.ThreadPool(1), x, w, int(GT.F16), N, bias)
        ref = x.astype(np.float64) @ wf.T + bias
        assert np.all(np.abs(want - ref) <= 1e-5 * magnitude(x, wf) + 1e-6 * np.abs(bias)), M
        for threads in (2, 3, 7, 65):
            got = _native.matmul(_native.ThreadPool(threads), x, w, int(GT.F16), N, bias)
            assert np.array_equal(want.view(np.uint32), got.view(np.uint32)), (M, threads)


@pytest.mark.parametrize("level", LEVELS)
def test_f16_short_rows_at_every_x_row_count(isa, level):
    """Rows of at most 512 values (attention's keys) take the F16 GEMV's folding path in
    blocks of 16 (AVX-512) or 8 (AVX2) rows, the rest of W through the 4-row tile: every
    count of x rows, row lengths with and without a tail after the vector width, across the
    512 boundary, and W heights around the blocks, against float64."""
    isa(level)
    rng = np.random.default_rng(9)
    pool = _native.ThreadPool(1)
    for K in (16, 64, 70, 72, 128, 509, 512, 520):
        for M in (1, 2, 3, 4):
            for N in (7, 16, 17, 40, 69):
                x, w, wf = matmul_case(rng, GT.F16, M, K, N)
                y = _native.matmul(pool, x, w, int(GT.F16), N)
                ref = x.astype(np.float64) @ wf.T
                assert np.all(np.abs(y - ref) <= 1e-5 * magnitude(x, wf)), (level, K, M, N)


def test_active_threads_are_bounded_by_the_pool():
    pool = _native.ThreadPool(2)
    assert pool.active == 2
    pool.active = 1
    assert pool.active == 1 and pool.threads == 2
    for bad in (0, 3, -1):
        with pytest.raises(ValueError, match="active threads must be in 1..2"):
            pool.active = bad
    assert pool.active == 1


def test_bad_sizes_and_types_raise_value_error():
    pool = _native.ThreadPool(1)
    x = np.ones((2, 256), dtype=np.float32)
    w = np.zeros(4 * 144, dtype=np.uint8)  # four Q4_K rows of 256
    with pytest.raises(ValueError):
        _native.matmul(pool, x, w, int(GT.Q4_K), 5)  # buffer holds only 4 rows
    with pytest.raises(ValueError):
        _native.matmul(pool, np.ones((2, 100), dtype=np.float32), w, int(GT.Q4_K), 2)  # K not whole blocks
    with pytest.raises(ValueError):
        _native.matmul(pool, x, w, 3, 4)  # Q4_1: not a supported type
    with pytest.raises(ValueError):
        _native.matmul(pool, x, w, 99, 4)
    with pytest.raises(ValueError):
        _native.matmul(pool, x, w, int(GT.Q4_K), 4, np.ones(3, dtype=np.float32))  # bias length
    with pytest.raises(ValueError):
        _native.matmul(pool, x, w, int(GT.Q4_K), 0)
    with pytest.raises(ValueError):
        _native.matmul(pool, x, w, int(GT.Q4_K), 4, None, np.empty((2, 5), dtype=np.float32))
    with pytest.raises(ValueError):
        _native.dequantize(int(GT.Q4_K), w, 100)  # not whole blocks
    with pytest.raises(ValueError):
        _native.dequantize(int(GT.Q4_K), w, 256 * 5)  # buffer too short
    with pytest.raises(ValueError):
        _native.dequantize(3, w, 32)
    with pytest.raises(ValueError):
        _native.set_isa("sse9")


def run_code(code, isa_env):
    return run_python(["-c", code], env={"GRANITE_NATIVE_ISA": isa_env}, timeout=60)


def test_environment_forces_scalar():
    r = run_code("import granite_native as g; print(g.cpu_info()['selected'])", "scalar")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "scalar"


def test_forcing_an_unsupported_level_fails_clearly_at_import():
    missing = next((n for n in _native.ISA_NAMES if not _native.isa_supported(n)), None)
    if missing is None:
        pytest.skip("this machine supports every level")
    r = run_code("import granite_native", missing)
    assert r.returncode == 1, r.stderr  # an exception, not a signal
    assert "RuntimeError" in r.stderr and f"GRANITE_NATIVE_ISA={missing}" in r.stderr
    r = run_code("import granite_native", "avx1024")
    assert r.returncode == 1 and "RuntimeError" in r.stderr and "not a known level" in r.stderr


def test_cpu_vendor_matches_the_kernel_report():
    """The vendor the streaming kernels tune their prefetches for (gn_stream_prefetch) is the
    one Linux read from CPUID."""
    info = Path("/proc/cpuinfo")
    if not info.exists() or not _native.cpu_features()["sse3"]:
        pytest.skip("needs Linux on x86")
    vendor = next(line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
                  if line.startswith("vendor_id"))
    assert _native.cpu_features()["intel"] == (vendor == "GenuineIntel")


def test_cpu_extensions_match_the_kernel_report():
    """The extensions whose kernels dispatch chooses at run time are the ones Linux read from
    CPUID ("avx_vnni": the AVX2 level's VEX int8 kernels, test_kernels_avxvnni.py)."""
    info = Path("/proc/cpuinfo")
    if not info.exists() or not _native.cpu_features()["sse3"]:
        pytest.skip("needs Linux on x86")
    flags = next(line.split(":", 1)[1].split() for line in info.read_text().splitlines()
                 if line.startswith("flags"))
    f = _native.cpu_features()
    for ours, linux in (("avx2", "avx2"), ("fma", "fma"), ("avx512vnni", "avx512_vnni"),
                        ("avx512bf16", "avx512_bf16"), ("avxvnni", "avx_vnni")):
        assert f[ours] == (linux in flags), ours


def test_each_level_names_the_extensions_whose_kernels_it_took():
    """isa_extensions() (shown by `bench`) lists what a level runs beyond itself, each a CPU
    feature this machine has: AVX-512 BF16 on avx512 and amx, AVX-VNNI on avx2 (where this build
    has the kernels), SDOT on neon; nothing on scalar."""
    f = _native.cpu_features()
    extra = {"avx512": "avx512bf16", "amx": "avx512bf16", "avx2": "avxvnni", "neon": "dotprod"}
    before = _native.isa_current()
    try:
        for level in (i for i in _native.ISA_NAMES if _native.isa_supported(i)):
            _native.set_isa(level)
            got, want = _native.isa_extensions(), extra.get(level)
            if level == "avx2" and f["avxvnni"]:  # the kernels exist where the compiler built them
                assert got in ((), ("avxvnni",))
            else:
                assert got == ((want,) if want and f[want] else ()), level
    finally:
        _native.set_isa(before)
