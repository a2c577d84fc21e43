"""Parity and memory check on random-weight checkpoints, end to end, one command:

    python tools/full_size_check.py [--sizes small,full] [--audio WAV] [--workdir DIR] [--keep]

For each size: make_checkpoint.py -> `granite-native convert` (f16) -> `granite-native quantize`
(q4_k) -> dump_reference.py of both files on the clip -> `granite-native diff` of both, at
precision exact (float32 bounds) and fast (bf16/int8 paths, relaxed bounds); then the
memory check: peak RSS of `granite-native transcribe speech11s.wav -m SIZE-q4_k.gguf
--max-new-tokens 32` must stay within the file size + 400 MB. Prints markdown tables (parity per
file, wall time and peak RSS per step) and exits 1 if a diff or the memory check fails, 2 if a
step itself fails (its log's tail is printed; the logs stay in the work directory).

Every step is its own process, run one after another, so the transformers dump's ~15 GB is
returned before the next step starts and each step's peak RSS can be read from wait4(). The
multi-GB files are deleted as soon as no later step needs them (--keep keeps them and the
work directory). Needs the `reference` extra; Unix only (wait4)."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import granite_native

TOOLS = Path(__file__).resolve().parent
AUDIO_DIR = TOOLS.parent / "tests" / "data" / "audio"
MEMORY_CLIP = AUDIO_DIR / "speech11s.wav"
MEMORY_SLACK = 400 * 10 ** 6
STAGES = ("mel", "encoder_out", "projector_out", "logits")
# children import the same granite_native as this process, not the source tree they might run in
CHILD_ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    p for p in (str(Path(granite_native.__file__).resolve().parents[1]),
                os.environ.get("PYTHONPATH")) if p))


class StepFailed(Exception):
    pass


class Runner:
    """Runs steps as child processes in the work directory, recording wall time and peak RSS."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.steps = []   # (size, step, wall s, peak RSS bytes)

    def run(self, size, step, args, ok_codes=(0,)):
        stem = self.workdir / f"{size}-{step.replace(' ', '-')}"
        out, log = stem.with_suffix(".out"), stem.with_suffix(".log")
        t0 = time.perf_counter()
        with open(out, "w") as fo, open(log, "w") as fe:
            proc = subprocess.Popen([sys.executable, *map(str, args)], stdout=fo, stderr=fe,
                                    cwd=self.workdir, env=CHILD_ENV)
            _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = rc = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        # ru_maxrss: kilobytes on Linux, bytes on macOS
        rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
        self.steps.append((size, step, wall, rss))
        print(f"  {size:<5} {step:<22} {wall:7.1f} s  {rss / 1e9:6.2f} GB  exit {rc}", flush=True)
        if rc not in ok_codes:
            tail = "".join((out.read_text() + log.read_text()).splitlines(True)[-30:])
            raise StepFailed(f"{size} {step} exited {rc}:\n{tail}")
        return out.read_text()


def check_size(runner, size, audio, keep):
    """Parity rows [(size, file, diff report)] and the memory row of one checkpoint size."""
    wd = runner.workdir
    hf, f16, q4 = wd / f"{size}-hf", wd / f"{size}-f16.gguf", wd / f"{size}-q4_k.gguf"
    cli = ("-m", "granite_native.cli")

    def drop(path):
        if keep:
            return
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()

    runner.run(size, "make_checkpoint", [TOOLS / "make_checkpoint.py", "--config", size, hf])
    runner.run(size, "convert f16", [*cli, "convert", hf, f16, "--outtype", "f16"])
    drop(hf)
    runner.run(size, "quantize q4_k", [*cli, "quantize", f16, q4, "q4_k"])
    rows = []
    for name, gguf in (("f16", f16), ("q4_k", q4)):
        npz = wd / f"{size}-{name}-{audio.stem}.npz"
        runner.run(size, f"dump_reference {name}", [TOOLS / "dump_reference.py", gguf, audio, npz])
        for precision in ("exact", "fast"):
            # diff exits 1 on a parity miss: that is a result, not a broken step
            report = runner.run(size, f"diff {name} {precision}",
                                [*cli, "diff", npz, "-m", gguf, "--json", "--precision", precision],
                                ok_codes=(0, 1))
            rows.append((size, f"{gguf.name} ({precision})", json.loads(report)))
        if name == "f16":
            drop(f16)
    runner.run(size, "transcribe q4_k 11 s", [*cli, "transcribe", MEMORY_CLIP, "-m", q4,
                                               "--max-new-tokens", "32"])
    file_size = q4.stat().st_size
    memory = (size, q4.name, file_size, runner.steps[-1][3])
    drop(q4)
    return rows, memory


def print_report(audio, parity, memory, steps):
    # 1 - cos_min: the printed digits then show how close, not a row of 1.0000000
    print(f"\nParity on {audio.name} (1 - cos_min per stage, then its bound):\n")
    print("| size | file (precision) | matmul paths | " + " | ".join(STAGES)
          + " | logits max_abs | greedy free (agree/must/n) | greedy fed (equal/must) | ok |")
    print("|---|---|---|" + "---:|" * (len(STAGES) + 1) + "---|---|---|")
    for size, name, r in parity:
        st = {s["stage"]: s for s in r["stages"]}
        g = r["greedy"]
        paths = ", ".join(f"{k} {'+'.join(v)}" for k, v in r["matmul_paths"].items())
        print(f"| {size} | {name} | {paths} | "
              + " | ".join(f"{1 - st[s]['cos_min']:.1e} (≤{1 - st[s]['bound']:.0e})" for s in STAGES)
              + f" | {st['logits']['max_abs']:.1e} | {g['agree']}/{g['judged']}/{g['n']} "
              f"| {g['forced']}/{g['forced_min']} "
              f"| {'ok' if r['ok'] else 'FAIL'} |")
    print(f"\nPeak RSS transcribing {MEMORY_CLIP.name} (32 new tokens), bound file size + 400 MB:\n")
    print("| size | file | file size | peak RSS | RSS - file | ok |")
    print("|---|---|---:|---:|---:|---|")
    for size, name, fsize, rss in memory:
        print(f"| {size} | {name} | {fsize / 1e6:.0f} MB | {rss / 1e6:.0f} MB "
              f"| {(rss - fsize) / 1e6:.0f} MB | {'ok' if rss <= fsize + MEMORY_SLACK else 'FAIL'} |")
    print("\nSteps:\n")
    print("| size | step | wall | peak RSS |")
    print("|---|---|---:|---:|")
    for size, step, wall, rss in steps:
        print(f"| {size} | {step} | {wall:.1f} s | {rss / 1e9:.2f} GB |")
    print(f"\ntotal wall {sum(s[2] for s in steps):.0f} s")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="small,full",
                    help="comma-separated make_checkpoint configs (default: small,full)")
    ap.add_argument("--audio", type=Path, default=AUDIO_DIR / "speech3s.wav",
                    help="clip for the parity dumps (default: tests/data/audio/speech3s.wav)")
    ap.add_argument("--workdir", type=Path,
                    help="where the checkpoints, GGUF files and logs go (default: a new "
                         "directory in the system temp dir, removed after a clean run)")
    ap.add_argument("--keep", action="store_true", help="keep every file made")
    args = ap.parse_args(argv)
    sizes = [s for s in args.sizes.split(",") if s]
    if not sizes:
        ap.error("--sizes names no size")
    audio = args.audio.resolve()
    if not audio.is_file():
        ap.error(f"{args.audio}: no such file")
    own_dir = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="granite-full-size-")) if own_dir else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    workdir = workdir.resolve()
    print(f"work directory {workdir}", flush=True)

    runner, parity, memory = Runner(workdir), [], []
    try:
        for size in sizes:
            rows, mem = check_size(runner, size, audio, args.keep)
            parity += rows
            memory.append(mem)
    except StepFailed as e:
        if not args.keep:
            for big in [*workdir.glob("*.gguf"), *workdir.glob("*-hf")]:
                shutil.rmtree(big) if big.is_dir() else big.unlink()
        print(f"full_size_check: {e}\nlogs in {workdir}", file=sys.stderr)
        return 2
    print_report(audio, parity, memory, runner.steps)
    ok = (all(r["ok"] for _, _, r in parity)
          and all(rss <= fsize + MEMORY_SLACK for _, _, fsize, rss in memory))
    if own_dir and ok and not args.keep:
        shutil.rmtree(workdir)
    print("all checks passed" if ok else "FAILED", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
