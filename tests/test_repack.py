"""Weights repacked at load (gn_repack: Q4_K -> Q4_K_R16 where the active ISA has a kernel for
it), against independent references: the layout built in numpy from the Q4_K bytes by the
format's rules, the gguf package's dequantization of the original bytes for the values, and
the scalar twin of the repacked kernel bit for bit."""
import numpy as np
import pytest
from gguf import GGMLQuantizationType as GT

from granite_native import _native
from test_matmul_int8 import int8_reference, random_weights

INT8 = _native.matmul_flags(["int8"])
Q4_K = int(GT.Q4_K)
LEVELS = [name for name in _native.ISA_NAMES if _native.isa_supported(name)]
_BEST = _native.isa_current()
REPACKING = [name for name in LEVELS if (_native.set_isa(name) or _native.repack_type(Q4_K))]
_native.set_isa(_BEST)


def repacked(gtype, w, N, K):
    return _native.repack(_native.ThreadPool(2), w, int(gtype), N, K)


def test_repacking_is_offered_exactly_where_a_kernel_reads_it(isa):
    for level in LEVELS:
        isa(level)
        to = _native.repack_type(Q4_K)
        if level in ("avx2", "avx512"):
            assert to is not None and _native.type_info(to)[0] == "Q4_K_R16"
            assert _native.row_group(to) == 16
        if level in ("scalar", "amx"):  # AMX: tiles multiply prompts from the file's layout
            assert to is None
        for other in (GT.F32, GT.F16, GT.Q4_0, GT.Q8_0, GT.Q6_K):
            assert _native.repack_type(int(other)) is None
    assert all(_native.row_group(int(t)) == 1 for t in (GT.F32, GT.F16, GT.Q4_0, GT.Q4_K))


def r16_layout(w, N, K):
    """Q4_K bytes of W [N, K] -> block_q4_K_r16 bytes (csrc/quant_blocks.h), rows padded with
    zeros to whole groups of 16, in numpy."""
    nb, groups = K // 256, -(-N // 16)
    b = np.zeros((groups * 16, nb, 144), np.uint8)
    b[:N] = w.reshape(N, nb, 144)
    d, dmin, sc, qs = b[..., 0:2], b[..., 2:4], b[..., 4:16].astype(np.int32), b[..., 16:]
    # 6-bit scale and min of sub-block j (ggml's get_scale_min_k4)
    scales = np.concatenate([sc[..., 0:4] & 63,
                             (sc[..., 8:12] & 0xF) | ((sc[..., 0:4] >> 6) << 4)], -1)
    mins = np.concatenate([sc[..., 4:8] & 63,
                           (sc[..., 8:12] >> 4) | ((sc[..., 4:8] >> 6) << 4)], -1)
    # values of sub-block 2c: low nibbles of bytes 32c .. 32c + 31; of 2c + 1: high nibbles
    q = qs.reshape(groups * 16, nb, 4, 32)
    sub = np.stack([q & 0xF, q >> 4], 3).reshape(groups * 16, nb, 8, 32)
    packed = (sub[..., :16] | (sub[..., 16:] << 4)).astype(np.uint8)  # byte 4v + j
    g = lambda a: a.reshape(groups, 16, nb, *a.shape[2:])  # [group, row, block, ...]
    parts = [g(d).transpose(0, 2, 1, 3), g(dmin).transpose(0, 2, 1, 3),
             g(scales.astype(np.uint8)).transpose(0, 2, 3, 1),
             g(mins.astype(np.uint8).reshape(-1, nb, 4, 2)).transpose(0, 2, 3, 1, 4),
             g(packed.reshape(-1, nb, 8, 4, 4)).transpose(0, 2, 3, 4, 1, 5)]
    return np.concatenate([p.reshape(groups, nb, -1) for p in parts], -1).reshape(-1)


@pytest.mark.parametrize("level", REPACKING)
def test_repacked_bytes_match_the_layout_built_in_numpy(isa, level):
    """Every level's repacking (SIMD for whole groups of 16 rows, the scalar twin for a short
    last group) writes exactly the documented layout."""
    isa(level)
    rng = np.random.default_rng(70)
    for N, K in [(16, 256), (48, 512), (37, 768), (5, 256), (32, 2048)]:
        w = random_weights(rng, GT.Q4_K, N, K)
        wr, _ = repacked(GT.Q4_K, w, N, K)
        want = r16_layout(w, N, K)
        assert wr.nbytes == want.nbytes == -(-N // 16) * 16 * 148 * K // 256
        assert np.array_equal(wr, want), (level, N, K)


@pytest.mark.parametrize("level", REPACKING)
def test_repacked_matmul_matches_float64_reference(isa, level):
    """Every bit pattern of quants, 6-bit scales and mins, through repack and the kernel,
    against the gguf-dequantized original bytes times the quantized activations."""
    isa(level)
    rng = np.random.default_rng(71)
    # N = 37, 5, 23: a last group short of 16 rows, padded (the LLM's 100,353-row output)
    # M = 70: with a bias, x rows go 32 at a time, the padded last group through scratch each time
    for M, K, N in [(1, 512, 48), (3, 256, 16), (6, 768, 32), (13, 256, 64), (1, 512, 37),
                    (2, 256, 5), (9, 256, 23), (70, 256, 37)]:
        x = (rng.standard_normal((M, K)) * rng.uniform(0.1, 10, size=(M, 1))).astype(np.float32)
        w = random_weights(rng, GT.Q4_K, N, K)
        ref, mag, _, _ = int8_reference(x, w, GT.Q4_K, N)
        bias = rng.standard_normal(N).astype(np.float32)
        wr, to = repacked(GT.Q4_K, w, N, K)
        assert wr.nbytes == _native.matrix_bytes(to, N, K) == -(-N // 16) * 16 * 148 * K // 256  # block_q4_K_r16: 148 bytes a row
        for threads in (1, 2):
            y = _native.matmul(_native.ThreadPool(threads), x, wr, to, N, bias, flags=INT8)
            # the block sums are exact integers: only the float sums differ from float64
            tol = 2e-6 * mag + 1e-6 * np.abs(bias) + 1e-30
            assert np.all(np.abs(y - (ref + bias)) <= tol), (level, M, K, N, threads)


@pytest.mark.parametrize("level", REPACKING)
def test_kernel_equals_scalar_twin_bit_for_bit(isa, level):
    isa(level)
    rng = np.random.default_rng(72)
    for M, K, N in [(1, 256, 16), (4, 512, 32), (5, 256, 48), (7, 256, 32), (9, 1024, 16),
                    (14, 512, 16), (1, 512, 33), (6, 256, 47)]:
        x = rng.standard_normal((M, K)).astype(np.float32)
        x[-1, :256] = 0  # an all-zero block
        w = random_weights(rng, GT.Q4_K, N, K)
        wr, to = repacked(GT.Q4_K, w, N, K)
        xq = np.concatenate([_native.quantize_activations("q8_k", row) for row in x])
        stored = -(-N // 16) * 16  # the twin multiplies whole groups, padding included
        twin = _native.gemm_r16_scalar(to, xq, M, wr, stored, K)[:, :N]
        got = _native.matmul(_native.ThreadPool(2), x, wr, to, N, flags=INT8)
        assert np.array_equal(got.view(np.uint32), twin.view(np.uint32)), (level, M, K, N)


@pytest.mark.parametrize("level", REPACKING)
def test_rows_do_not_depend_on_batch_or_threads(isa, level):
    """A row's result is the same bits whether it is decoded alone, in a prefill tile, or
    computed by another thread count."""
    isa(level)
    rng = np.random.default_rng(73)
    K, N = 512, 275  # 17 blocks of 16 rows and 3 of an 18th: uneven over threads and panels
    w = random_weights(rng, GT.Q4_K, N, K)
    wr, to = repacked(GT.Q4_K, w, N, K)
    x = rng.standard_normal((11, K)).astype(np.float32)
    batch = _native.matmul(_native.ThreadPool(2), x, wr, to, N, flags=INT8)
    for m in (0, 5, 10):
        alone = _native.matmul(_native.ThreadPool(1), x[m:m + 1].copy(), wr, to, N, flags=INT8)
        assert np.array_equal(alone[0].view(np.uint32), batch[m].view(np.uint32)), m


@pytest.mark.parametrize("level", REPACKING)
def test_repacked_layout_is_rejected_where_it_cannot_be_used(isa, level):
    isa(level)
    rng = np.random.default_rng(74)
    K, N = 256, 32
    w = random_weights(rng, GT.Q4_K, N, K)
    wr, to = repacked(GT.Q4_K, w, N, K)
    x = rng.standard_normal((2, K)).astype(np.float32)
    pool = _native.ThreadPool(1)
    with pytest.raises(ValueError, match="unsupported"):  # the exact path cannot read it
        _native.matmul(pool, x, wr, to, N)
    with pytest.raises(ValueError, match="unsupported"):
        _native.dequantize(to, wr[:148], K)
    with pytest.raises(ValueError, match="invalid"):  # 8 rows stored as a whole 16-row group
        _native.matmul(pool, x, wr[:wr.nbytes // 4], to, 8, flags=INT8)
    with pytest.raises(ValueError, match="out has"):
        _native.repack(pool, w[:w.nbytes // N * 8], Q4_K, 8, K, out=np.empty(wr.nbytes // 4, np.uint8))
    with pytest.raises(ValueError, match="bytes"):
        _native.repack(pool, w[:-1], Q4_K, N, K)
    with pytest.raises(ValueError, match="no repacked layout"):
        _native.repack(pool, w, int(GT.Q8_0), N, K)
    isa("scalar")  # a table without the kernel: the int8 flag cannot reach it either
    with pytest.raises(ValueError, match="unsupported"):
        _native.matmul(pool, x, wr, to, N, flags=INT8)
