"""Median times of the non-GEMM model operations at the full model's shapes (11 s clip: 550
encoder frames), of a decode step's attention over all 40 layers with a float32 and a float16
KV cache (read from memory: the caches are flushed before each call, as the step's weights
flush them), and optionally of the whole encoder stage of a GGUF file.

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


LLM_LAYERS, LLM_HEADS, LLM_KV_HEADS, DECODE_POSITIONS = 40, 16, 4, (143, 346, 700)


def decode_attention(pool, repeat):
    """{(position, cache dtype): median ms} of one decode step's attention in every layer, the
    two cache types alternating, after reading 64 MB to push the caches out of L3."""
    rng = np.random.default_rng(0)
    cap = max(DECODE_POSITIONS)
    k32, v32 = (rng.standard_normal((LLM_LAYERS, 1, LLM_KV_HEADS, cap, DH), np.float32) for _ in "kv")
    caches = {"float32": (k32, v32), "float16": (k32.astype(np.float16), v32.astype(np.float16))}
    q = rng.standard_normal((1, 1, LLM_HEADS * DH), np.float32)
    out, flush = np.empty_like(q), np.ones(64 << 20, np.uint8)
    times = {}
    for pos in DECODE_POSITIONS:
        for _ in range(repeat):
            for name, (k, v) in caches.items():
                N.probe_read(pool, flush)
                t0 = time.perf_counter()
                for layer in range(LLM_LAYERS):
                    N.attention(pool, q, k[layer, :, :, :pos], v[layer, :, :, :pos], LLM_HEADS,
                                LLM_KV_HEADS, DH ** -0.5, pos - 1, out)
                times.setdefault((pos, name), []).append(time.perf_counter() - t0)
    return {key: float(np.median(t)) * 1e3 for key, t in times.items()}


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
    att = decode_attention(pool, args.repeat)
    for pos in DECODE_POSITIONS:
        f32, f16 = att[pos, "float32"], att[pos, "float16"]
        print(f"  decode attention x{LLM_LAYERS} layers at {pos:3d} positions: float32 {f32:6.3f} ms, "
              f"float16 {f16:6.3f} ms ({f16 / f32:.2f}x)")
    if args.encoder:
        from granite_native.audio import read_wav
        from granite_native.model import Model
        m = Model(args.encoder, threads=args.threads)
        mel = m.mel(read_wav("tests/data/audio/speech11s.wav")[0])
        wall, cpu = median_s(lambda: m.encode(mel), args.repeat)
        print(f"  encoder {args.encoder} {wall:8.3f} s / {cpu:8.3f} s")


if __name__ == "__main__":
    main()
