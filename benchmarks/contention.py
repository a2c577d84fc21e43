"""granite-native and CrispASR when the machine is not theirs alone: beside a busy process,
with more threads than cores, and as two processes at once. An application shares its cores
(a UI, an audio decoder, a second worker); a thread pool that waits for every thread at every
job stalls whenever the scheduler parks one of them.

    PYTHONPATH=. python benchmarks/contention.py -m MODEL.gguf AUDIO.wav [--threads 2]
        [--tokens 32] [--repeat 3] [--engines granite-native,crispasr] [--precision fast]

Each engine runs in compare.py's child processes (the same requests and stage times), one
engine at a time, in these conditions:
- alone, --threads threads;
- beside a busy process (one Python loop that never sleeps), --threads threads, and 1 thread;
- alone with twice --threads threads;
- two processes of the engine at once, --threads threads each, both asked for a request at
  the same moment. Their fair share is twice the time alone.
Each figure is the median over --repeat (at least 3) requests after a warm-up; the table goes
to stdout with the machine, commit and load average.
"""
import argparse
import os
import statistics
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime, timezone

import compare

ENGINES = ("granite-native", "crispasr")


@contextmanager
def busy_process():
    p = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        p.kill()
        p.wait()


def one_at_a_time(engine, args, threads):
    return compare.measure([engine], args, threads)[engine]["runs"]


def side_by_side(engine, args, threads):
    """Runs of two processes of `engine` asked for each request at the same moment."""
    procs = [compare.start(engine, args, threads) for _ in range(2)]
    runs = []
    try:
        for p in procs:
            compare.reply(p, engine)  # loaded and warmed up
        for _ in range(args.repeat):
            for p in procs:
                p.stdin.write("run\n")
                p.stdin.flush()
            runs += [compare.reply(p, engine) for p in procs]
    finally:
        for p in procs:
            p.stdin.close()
            p.wait(timeout=600)
    return runs


def threads(n):
    return f"{n} thread" + ("s" if n > 1 else "")


def conditions(engine, args):
    t = args.threads
    out = {f"alone, {threads(t)}": one_at_a_time(engine, args, t)}
    with busy_process():
        for n in sorted({t, 1}, reverse=True):
            out[f"beside a busy process, {threads(n)}"] = one_at_a_time(engine, args, n)
    out[f"alone, {threads(2 * t)}"] = one_at_a_time(engine, args, 2 * t)
    out[f"two processes at once, {threads(t)} each"] = side_by_side(engine, args, t)
    return out


def per_token(run, tokens):
    return run.get("decode_per_token") or run["decode"] / tokens


def table(results, args):
    lines = ["| engine | condition | total ms | decode ms/token | total against alone |",
             "|---|---|---:|---:|---:|"]
    for engine, conds in results.items():
        base = None
        for name, runs in conds.items():
            total = statistics.median(r["total"] for r in runs)
            decode = statistics.median(per_token(r, args.tokens) for r in runs)
            base = base or total
            lines.append(f"| {engine} | {name} | {total * 1e3:,.0f} | {decode * 1e3:.1f} | "
                         f"{total / base:.2f}x |")
    return lines


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    compare.add_run_args(p, ENGINES)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    wanted = compare.wanted_engines(args, ENGINES)
    load = os.getloadavg()[0]
    results = {e: conditions(e, args) for e in wanted if compare.available(e)}
    print(f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {compare.machine()}; commit "
          f"{compare.commit()}; 1-minute load average {load:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after.\n")
    print("\n".join(table(results, args)))


if __name__ == "__main__":
    main()
