"""Median times of the non-GEMM model operations at the full model's shapes (11 s clip: 550
encoder frames), and optionally of the whole encoder stage of a GGUF file.

    PYTHONPATH=. python benchmarks/bench_ops.py [--threads 2] [--repeat 7] [--encoder MODEL.gguf]
"""
import argparse
import time

import numpy as np

from granite_native import _native as N

T, D, FF, INNER, K, H, DH, BLOCK, MAX_POS, N_CTC = 550, 1024, 4096, 2048, 15, 8, 128, 200, 512, 348


def median_s(fn, repeat):
    """(wall, CPU of all threads) medians in seconds; on a shared machine the CPU time moves
    less with other people's load than the wall time does."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def op_cases(pool):
    rng = np.random.default_rng(0)
    r = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    ff, ff_out, inner2, inner = r(T, FF), np.empty((T, FF), np.float32), r(T, 2 * INNER), np.empty((T, INNER), np.float32)
    h, h_out, w, b = r(T, D) + 3, np.empty((T, D), np.float32), r(D), r(D)
    x2, w2, x2_out = r(T, 2048), r(2048), np.empty((T, 2048), np.float32)
    cw, conv_in, conv_out = r(INNER, K), r(T, INNER), np.empty((T, INNER), np.float32)
    q, k, v, rel, o = r(T, H * DH), r(T, H * DH), r(T, H * DH), r(2 * MAX_POS + 1, DH), np.empty((T, H * DH), np.float32)
    s, s_work = r(T, N_CTC), np.empty((T, N_CTC), np.float32)
    return {
        f"silu [{T}x{FF}]": lambda: N.activation(pool, "silu", ff.reshape(-1), ff_out.reshape(-1)),
        f"gelu_erf [{T}x{FF}]": lambda: N.activation(pool, "gelu_erf", ff.reshape(-1), ff_out.reshape(-1)),
        f"swiglu [{T}x{FF}]": lambda: N.swiglu(pool, ff, ff, ff_out),
        f"glu [{T}x{2 * INNER}]": lambda: N.glu(pool, inner2, inner),
        f"softmax [{T}x{N_CTC}]": lambda: (np.copyto(s_work, s), N.softmax(pool, s_work)),
        f"layernorm [{T}x{D}]": lambda: N.layernorm(pool, h, w, b, 1e-5, h_out),
        f"rmsnorm [{T}x2048]": lambda: N.rmsnorm(pool, x2, w2, 1e-5, x2_out),
        f"conv_dw [{T}x{INNER}] k={K}": lambda: N.conv_dw(pool, conv_in, cw, conv_out),
        f"block attention T={T} H={H} dh={DH} block={BLOCK}":
            lambda: N.attention_block_relpos(pool, q, k, v, H, BLOCK, rel, DH ** -0.5, o),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--encoder", help="also time Model(...).encode on tests/data/audio/speech11s.wav")
    args = ap.parse_args()
    pool = N.ThreadPool(args.threads)
    print(f"isa {N.isa_current()}, {args.threads} threads, median of {args.repeat}: wall / CPU")
    for name, fn in op_cases(pool).items():
        wall, cpu = median_s(fn, args.repeat)
        print(f"  {name:45s} {wall * 1e3:8.2f} ms / {cpu * 1e3:8.2f} ms")
    if args.encoder:
        from granite_native.audio import read_wav
        from granite_native.model import Model
        m = Model(args.encoder, threads=args.threads)
        mel = m.mel(read_wav("tests/data/audio/speech11s.wav")[0])
        wall, cpu = median_s(lambda: m.encode(mel), args.repeat)
        print(f"  encoder {args.encoder} {wall:8.3f} s / {cpu:8.3f} s")


if __name__ == "__main__":
    main()
