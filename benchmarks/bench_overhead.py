"""Per-token dispatch overhead of a decode step (issue 4: under 0.3 ms).

A decode step of the full model makes ~280 matrix products and ~200 pool jobs; what it costs
beyond their arithmetic is Python, argument checks and hand-overs between threads. To see
that cost alone, this decodes with a model of the full model's depth (40 layers) but the tiny
fixture's widths (d = 64, vocabulary 384, Q4_0 weights), whose kernels take microseconds: its ms/token is
an upper bound on the overhead per token of the full model, kernels included.

    python benchmarks/bench_overhead.py [--threads 1 2] [--tokens 64] [--repeat 5]
"""
import argparse
import dataclasses
import platform
import statistics
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from granite_native import _native
from granite_native.generate import greedy
from granite_native.llm import Decoder
from granite_native.model import Model

TINY = Path(__file__).resolve().parent.parent / "tests" / "data" / "crispasr" / "tiny-q4_k.gguf"
LAYERS = 40


class Deeper(Mapping):
    """The tiny model's weights with its layers repeated to `layers`: blk.i reads blk.(i % n)."""

    def __init__(self, weights, n, layers):
        self.weights, self.n, self.layers = weights, n, layers

    def _name(self, name):
        if name.startswith("blk."):
            i, rest = name[4:].split(".", 1)
            return f"blk.{int(i) % self.n}.{rest}"
        return name

    def __getitem__(self, name):
        return self.weights[self._name(name)]

    def operand(self, name, **kw):
        return self.weights.operand(self._name(name), **kw)

    def __iter__(self):
        return iter(self.weights)

    def __len__(self):
        return len(self.weights)


def ms_per_token(threads, tokens, repeat):
    with Model(TINY, threads=threads) as m:
        hp = dataclasses.replace(m.hparams, llm_n_layers=LAYERS)
        dec = Decoder(Deeper(m.weights, m.hparams.llm_n_layers, LAYERS), hp,
                      m.flags["decoder"], pool=m.pool)
        ids = list(range(1, 9))
        prompt = dec.new_cache(len(ids) + tokens)
        logits = dec.forward(m.pool, dec.embed(ids), prompt)[0]
        runs = []
        for _ in range(repeat + 1):  # the first is a warm-up
            cache = prompt.copy()
            t0 = time.perf_counter()
            greedy(m.pool, dec, cache, logits, -1, tokens, stop_at_eos=False)
            runs.append((time.perf_counter() - t0) / tokens * 1e3)
        return statistics.median(runs[1:]), runs[1:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"{platform.processor() or platform.machine()}, granite-native ISA "
          f"{_native.isa_current()}; {LAYERS} layers of {TINY.name}'s widths, "
          f"{args.tokens} tokens, median of {args.repeat}")
    for t in args.threads:
        med, runs = ms_per_token(t, args.tokens, args.repeat)
        print(f"threads {t}: {med:.3f} ms/token ({', '.join(f'{r:.3f}' for r in runs)})")


if __name__ == "__main__":
    main()
