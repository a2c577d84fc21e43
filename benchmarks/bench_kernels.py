"""Throughput of y = x @ W^T through the native kernels, per weight type, shape, kernel
level and arithmetic path (exact float32, and int8 activations for block-quantized weights),
beside numpy's float32 matmul on the same shapes and the machine's read bandwidth in the same run.

GFLOP/s counts 2*M*K*N (multiply-adds of either path); GB/s counts the bytes of W read (its
stored size in its type), to set against the read-bandwidth probe for decode shapes.
Each figure is the median of several repeats; a repeat runs enough calls to last >= 20 ms.

    PYTHONPATH=. python benchmarks/bench_kernels.py [--threads N] [--quick]
"""
import argparse
import os
import statistics
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1, help="threads for the native pool and numpy's BLAS")
    p.add_argument("--quick", action="store_true", help="fewer shapes and repeats")
    return p.parse_args()


ARGS = parse_args()
# numpy's BLAS reads its thread count at import: give it the same number as the native pool
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

from granite_native import _native  # noqa: E402
from granite_native.roofline import read_bandwidth  # noqa: E402

TYPES = {"F32": 0, "F16": 1, "BF16": 30, "Q4_0": 2, "Q8_0": 8, "Q4_K": 12, "Q6_K": 14}
# Byte offsets of the f16 scales inside a block.
SCALE_FIELDS = {"Q4_0": [0], "Q8_0": [0], "Q4_K": [0, 2], "Q6_K": [208]}
QUANTIZED = {"Q4_0", "Q8_0", "Q4_K", "Q6_K"}
# (label, M, K, N): decode GEMVs of the 2B LLM's projections and output matrix, a prefill GEMM
# of a 129-token prompt, and the encoder's GEMM
SHAPES = [("decode", 1, 2048, 2048), ("decode", 1, 2048, 512), ("decode", 1, 2048, 4096),
          ("decode", 1, 4096, 2048), ("decode", 1, 2048, 100353), ("prefill", 129, 2048, 2048),
          ("encoder", 550, 1024, 4096)]
QUICK_SHAPES = [SHAPES[0], SHAPES[5]]
# Weight matrices above this size are skipped (the F32 output matrix alone is 822 MB).
MAX_W_BYTES = 256 << 20


def weights(rng, name, n, k):
    """Bytes of an n x k weight matrix in type `name`, with realistic (small, normal) scales."""
    if name == "F32":
        return rng.standard_normal(n * k).astype(np.float32).view(np.uint8)
    if name == "F16":
        return rng.standard_normal(n * k).astype(np.float16).view(np.uint8)
    if name == "BF16":
        bits = rng.standard_normal(n * k).astype(np.float32).view(np.uint32) >> 16
        return bits.astype(np.uint16).view(np.uint8)
    _, block_elems, block_bytes = _native.type_info(TYPES[name])
    blocks = rng.integers(0, 256, size=(n * k // block_elems, block_bytes), dtype=np.uint8)
    for off in SCALE_FIELDS[name]:
        scale = (np.abs(rng.standard_normal(len(blocks))) * 0.01 + 1e-3).astype(np.float16)
        blocks[:, off:off + 2] = scale.view(np.uint8).reshape(-1, 2)
    return blocks.reshape(-1)


def median_seconds(fn, repeats, min_time):
    fn()  # warm-up: page in buffers, grow scratch
    calls, t = 1, 0.0
    while True:  # calls per repeat so that a repeat lasts at least min_time
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        t = time.perf_counter() - t0
        if t >= min_time:
            break
        calls *= 2
    samples = [t / calls]
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - t0) / calls)
    return statistics.median(samples)


def main():
    shapes = QUICK_SHAPES if ARGS.quick else SHAPES
    repeats = 3 if ARGS.quick else 7
    min_time = 0.01 if ARGS.quick else 0.02
    levels = [name for name in _native.ISA_NAMES if _native.isa_supported(name)]
    before = _native.isa_current()
    pool = _native.ThreadPool(ARGS.threads)
    rng = np.random.default_rng(0)
    int8 = _native.matmul_flags(["int8"])
    print(f"threads={ARGS.threads}  levels={','.join(levels)}  numpy {np.__version__}  "
          f"read bandwidth {read_bandwidth(pool)[0]:.1f} GB/s ({_native.isa_current()} loads)")
    header = (f"{'shape':<26} {'weights':<10} {'level':<8} {'path':<5} {'ms':>9} {'GFLOP/s':>9} "
              f"{'GB/s':>8}")
    print(header)
    print("-" * len(header))
    try:
        for label, M, K, N in shapes:
            shape = f"{label} {M}x{K}x{N}"
            flops = 2.0 * M * K * N
            x = rng.standard_normal((M, K)).astype(np.float32)
            out = np.empty((M, N), dtype=np.float32)
            if N * K * 4 <= MAX_W_BYTES:
                wf = rng.standard_normal((N, K)).astype(np.float32)
                t = median_seconds(lambda: np.matmul(x, wf.T, out=out), repeats, min_time)
                print(f"{shape:<26} {'numpy F32':<10} {'-':<8} {'-':<5} {t * 1e3:9.3f} "
                      f"{flops / t / 1e9:9.1f} {wf.nbytes / t / 1e9:8.2f}")
                del wf
            for name, gtype in TYPES.items():
                _, block_elems, block_bytes = _native.type_info(gtype)
                if N * K // block_elems * block_bytes > MAX_W_BYTES:
                    continue
                w = weights(rng, name, N, K)
                paths = {"f32": 0, "int8": int8} if name in QUANTIZED else {"f32": 0}
                for level in levels:
                    _native.set_isa(level)
                    for path, flags in paths.items():
                        t = median_seconds(
                            lambda: _native.matmul(pool, x, w, gtype, N, None, out, flags),
                            repeats, min_time)
                        print(f"{shape:<26} {name:<10} {level:<8} {path:<5} {t * 1e3:9.3f} "
                              f"{flops / t / 1e9:9.1f} {w.nbytes / t / 1e9:8.2f}")
                        sys.stdout.flush()
    finally:
        _native.set_isa(before)
        pool.close()


if __name__ == "__main__":
    main()
