"""granite-native beside CrispASR (the `crispasr` wheel) and, when installed, PyTorch/transformers
on the same GGUF, WAV, thread count and forced number of new tokens.

    PYTHONPATH=. python benchmarks/compare.py -m MODEL.gguf AUDIO.wav [--threads 2] [--tokens 32]
        [--repeat 3] [--engines granite-native,crispasr,transformers] [--results benchmarks/RESULTS.md]

Every engine runs in its own subprocess, loads once, runs one untimed warm-up request, then
the parent asks each engine in turn for one timed request per round (interleaved, so drifting
machine load hits every engine alike); each figure is the median over the rounds. Then the
thread-scaling table repeats this for granite-native and CrispASR at 1..N threads
(transformers is left out there: on the full-size model one f32 request takes minutes).

What each engine's stage times are:
- granite-native: mel, encoder, projector, prefill, decode timed around its own stage calls;
  decode runs exactly --tokens forward steps (EOS does not stop it).
- crispasr: CRISPASR_GRANITE_BENCH=1 makes the library print compute_mel / run_encoder /
  run_projector times to stderr, read here. Prefill and decode are not reported by the
  library, so each round runs two requests: one capped at 1 new token and one at --tokens.
  Taking each request's own mel, encoder and projector times off its wall time leaves its LLM
  part: R1 and RN. prefill = R1 (includes building the prompt and picking the first token);
  decode ms/token = (RN - R1) / (tokens - 1); total = the --tokens request's wall time. The
  tokens it actually produced are counted from the result, and a shortfall (EOS) is flagged.
- transformers: GraniteSpeechForConditionalGeneration in float32 with the GGUF's weights
  dequantized by the `gguf` package (tools/dump_reference.py). Its mel is not timed (the
  input is computed beforehand by tools/ref_mel.py); encoder, projector, prefill
  (logits_to_keep=1) and --tokens cached decode steps are.
"""
import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ("granite-native", "crispasr", "transformers")
STAGES = ("mel", "encoder", "projector", "prefill", "decode")
# RESULTS.md keeps one section per model file, replaced by the next run on that file.
MARK = "<!-- compare.py {}: {} -->"


# ---- children: one engine each, driven by lines on stdin ---------------------------------

def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _samples(path):
    from granite_native import audio
    return audio.load(path)


class GraniteNative:
    def __init__(self, args):
        from granite_native.bench import one_request
        from granite_native.model import Model
        self.one_request = one_request
        self.model = Model(args.model, threads=args.threads, precision=args.precision)
        m = self.model
        m.build()
        self.samples = _samples(args.audio)
        self.ids = m.prompt_ids(m.audio_tokens(self.samples.size))
        self.tokens = args.tokens

    def request(self):
        times, ids, _, _ = self.one_request(self.model, self.samples, self.ids, self.tokens)
        times["total"] = sum(times[s] for s in STAGES)
        times["tokens"] = len(ids)
        return times


class CrispASR:
    """Stage times come from the library's own stderr lines; fd 2 is pointed at a file so
    the parent's pipe carries only the JSON protocol."""

    def __init__(self, args):
        import crispasr
        self.log = open(os.path.join(args.tmp, f"crispasr-{os.getpid()}.log"), "w+")  # noqa: SIM115 (lives as long as the child)
        os.dup2(self.log.fileno(), 2)
        self.session = crispasr.Session(args.model, n_threads=args.threads,
                                        backend="granite-4.1", use_gpu=False)
        self.samples = _samples(args.audio)
        self.tokens = args.tokens

    def _timed(self, n):
        self.session.set_max_new_tokens(n)
        self.log.seek(0)
        self.log.truncate()
        t0 = time.perf_counter()
        segments = self.session.transcribe(self.samples)
        dt = time.perf_counter() - t0
        self.log.seek(0)
        stages = {}
        for line in self.log.read().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "bench:":
                stages[parts[1]] = float(parts[2]) / 1e3
        produced = sum(len(s.tokens) for s in segments)
        return dt, stages, produced

    def request(self):
        keys = ("compute_mel", "run_encoder", "run_projector")
        t1, st1, _ = self._timed(1)
        tn, st, produced = self._timed(self.tokens)
        # each request's own stage times are taken off, so encoder jitter between the two
        # requests does not leak into the decode rate
        llm1 = t1 - sum(st1[k] for k in keys)
        llm = tn - sum(st[k] for k in keys)
        return {"mel": st["compute_mel"], "encoder": st["run_encoder"],
                "projector": st["run_projector"], "prefill": llm1, "decode": llm - llm1,
                "decode_per_token": (llm - llm1) / max(1, self.tokens - 1), "total": tn,
                "tokens": produced}


class Transformers:
    def __init__(self, args):
        import torch
        sys.path.insert(0, str(ROOT / "tools"))
        from dump_reference import build_model, n_audio_tokens, prompt_ids
        from ref_gguf import GraniteGGUF
        from ref_mel import log_mel_stacked

        torch.set_num_threads(args.threads)
        self.torch = torch
        gg = GraniteGGUF(args.model)
        self.model = build_model(gg)
        self.mel = log_mel_stacked(_samples(args.audio).astype("float64")).astype("float32")
        n_audio = n_audio_tokens(self.mel.shape[0], gg.hp("window_size"), gg.hp("downsample_rate"))
        self.ids = prompt_ids(gg.tokenizer(), "base",
                              "can you transcribe the speech into a written format?",
                              gg.hp("audio_token_index"), n_audio)
        self.tokens = args.tokens

    def request(self):
        torch, model = self.torch, self.model
        cfg = model.config
        t = {"mel": None}
        with torch.inference_mode():
            t0 = time.perf_counter()
            enc = model.model.encoder(torch.from_numpy(self.mel)[None]).last_hidden_state
            t1 = time.perf_counter()
            proj = model.model.projector(enc)
            t2 = time.perf_counter()
            ids = torch.from_numpy(self.ids.astype("int64"))
            audio = ids == cfg.audio_token_index
            embeds = model.model.language_model.embed_tokens(torch.where(audio, 0, ids))
            embeds[audio] = proj[0]
            out = model(inputs_embeds=embeds[None], use_cache=True, logits_to_keep=1)
            t3 = time.perf_counter()
            token = int(out.logits[0, -1].argmax())
            for _ in range(self.tokens):
                out = model(input_ids=torch.tensor([[token]]), cache=out.cache, use_cache=True)
                token = int(out.logits[0, -1].argmax())
            t4 = time.perf_counter()
        t.update(encoder=t1 - t0, projector=t2 - t1, prefill=t3 - t2, decode=t4 - t3,
                 total=t4 - t0, tokens=self.tokens)
        return t


def child(args):
    out = sys.stdout
    t0 = time.perf_counter()
    engine = {"granite-native": GraniteNative, "crispasr": CrispASR,
              "transformers": Transformers}[args.child](args)
    load_s = time.perf_counter() - t0
    engine.request()  # warm-up
    out.write(json.dumps({"load_s": load_s}) + "\n")
    out.flush()
    for line in sys.stdin:
        if line.strip() != "run":
            break
        r = engine.request()
        r["peak_rss_mib"] = _peak_rss_mib()
        out.write(json.dumps(r) + "\n")
        out.flush()


# ---- parent ------------------------------------------------------------------------------

def available(engine):
    if engine == "granite-native":
        return True
    mod = {"crispasr": "crispasr", "transformers": "transformers"}[engine]
    probe = subprocess.run([sys.executable, "-c", f"import {mod}"], capture_output=True, check=False)
    return probe.returncode == 0


def start(engine, args, threads):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    if engine == "crispasr":
        env["CRISPASR_GRANITE_BENCH"] = "1"
    cmd = [sys.executable, __file__, "--child", engine, "-m", args.model, args.audio,
           "--threads", str(threads), "--tokens", str(args.tokens), "--tmp", args.tmp,
           "--precision", args.precision]
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    return proc


def reply(proc, engine):
    """The next JSON line the child `engine` writes."""
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"{engine}: child exited with status {proc.wait()}")
    return json.loads(line)


def measure(engines, args, threads):
    """{engine: {"load_s", "runs": [...]}} with the rounds interleaved across engines."""
    procs = {}
    results = {}
    try:
        for e in engines:  # started one at a time: loading competes for the same cores
            procs[e] = start(e, args, threads)
            results[e] = {"load_s": reply(procs[e], e)["load_s"], "runs": []}
        for _ in range(args.repeat):
            for e in engines:
                procs[e].stdin.write("run\n")
                procs[e].stdin.flush()
                results[e]["runs"].append(reply(procs[e], e))
    finally:
        for p in procs.values():
            if p.stdin:
                p.stdin.close()
            p.wait(timeout=600)
    return results


def median(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def ms(x):
    return "—" if x is None else f"{x * 1e3:,.0f}"


def summary(r, tokens, seconds):
    runs = r["runs"]
    per_token = median(runs, "decode_per_token")
    if per_token is None:
        per_token = median([{"d": x["decode"] / tokens} for x in runs], "d")
    total = median(runs, "total")
    return {"load": r["load_s"], **{s: median(runs, s) for s in STAGES}, "total": total,
            "per_token": per_token, "rtf": total / seconds,
            "tokens": min(x["tokens"] for x in runs), "rss": max(x["peak_rss_mib"] for x in runs)}


def machine():
    model = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    from granite_native import cpu_info
    from granite_native.cpus import usable_cpus
    info = cpu_info()
    return f"{model}, {os.cpu_count()} logical CPUs ({usable_cpus()} usable), " \
           f"granite-native ISA {'+'.join([info['selected'], *info['extensions']])}"


def commit():
    def git(*a):
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()
    sha = git("rev-parse", "--short", "HEAD") or "unknown"
    return sha + (" (with uncommitted changes)" if git("status", "--porcelain", "-uno") else "")


def main_table(res, args, seconds):
    lines = [("| engine | load s | mel ms | encoder ms | projector ms | prefill ms | "
             "decode ms/token | total ms | RTF | new tokens | peak RSS MiB |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for e, r in res.items():
        s = summary(r, args.tokens, seconds)
        tokens = str(s["tokens"]) + ("" if s["tokens"] == args.tokens else " (EOS: short)")
        lines.append(f"| {e} | {s['load']:.2f} | {ms(s['mel'])} | {ms(s['encoder'])} | "
                     f"{ms(s['projector'])} | {ms(s['prefill'])} | {s['per_token'] * 1e3:.1f} | "
                     f"{ms(s['total'])} | {s['rtf']:.3f} | {tokens} | {s['rss']:,.0f} |")
    return lines


def ratio_lines(res, args, seconds):
    """granite-native's speed-up over every other engine, from the same run."""
    if "granite-native" not in res:
        return []
    ours = summary(res["granite-native"], args.tokens, seconds)
    lines = []
    for e, r in res.items():
        if e == "granite-native":
            continue
        s = summary(r, args.tokens, seconds)
        parts = [f"total {s['total'] / ours['total']:.2f}x",
                 f"decode {s['per_token'] / ours['per_token']:.2f}x"]
        for stage in ("encoder", "prefill"):
            if s[stage] and ours[stage]:
                parts.append(f"{stage} {s[stage] / ours[stage]:.2f}x")
        lines.append(f"- granite-native vs {e}: " + ", ".join(parts) + " faster")
    return lines


def scaling_table(scaling, args, seconds):
    engines = list(next(iter(scaling.values())))
    head = "| threads | " + " | ".join(f"{e} total ms | {e} encoder ms | {e} decode ms/token"
                                        for e in engines) + " |"
    lines = [head, "|---:|" + "---:|" * (3 * len(engines))]
    for t, res in scaling.items():
        cells = []
        for e in engines:
            s = summary(res[e], args.tokens, seconds)
            cells += [ms(s["total"]), ms(s["encoder"]), f"{s['per_token'] * 1e3:.1f}"]
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    return lines


def write_section(path, model_name, text):
    begin, end = MARK.format(model_name, "begin"), MARK.format(model_name, "end")
    block = f"{begin}\n{text}\n{end}"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    if begin in old and end in old:
        new = old[:old.index(begin)] + block + old[old.index(end) + len(end):]
    else:
        new = (old.rstrip("\n") + f"\n\n### Engine comparison on {model_name} "
               "(benchmarks/compare.py)\n\n" + block + "\n")
    path.write_text(new)


def add_run_args(p, engines):
    """The arguments of a side-by-side run (this script's and contention.py's)."""
    p.add_argument("audio", help="16 kHz WAV")
    p.add_argument("-m", "--model", required=True, help="granite_speech GGUF")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tokens", type=int, default=32, help="forced new tokens per request")
    p.add_argument("--repeat", type=int, default=3, help="timed requests (at least 3)")
    p.add_argument("--engines", default=",".join(engines),
                   help="comma-separated subset; engines not installed are skipped")
    p.add_argument("--precision", choices=("fast", "exact", "fastest"), default="fast",
                   help="granite-native's matmul precision (see granite_native/precision.py)")
    p.add_argument("--tmp", default=os.environ.get("TMPDIR", "/tmp"), help=argparse.SUPPRESS)


def wanted_engines(args, known):
    """--engines as a list; exits on an unknown engine or on --repeat or --tokens too small."""
    if args.repeat < 3:
        sys.exit("--repeat must be at least 3")
    if args.tokens < 2:
        sys.exit("--tokens must be at least 2 (CrispASR's decode rate is a difference)")
    wanted = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(wanted) - set(known)
    if unknown:
        sys.exit(f"unknown engines: {', '.join(sorted(unknown))}")
    return wanted


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_args(p, ENGINES)
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "RESULTS.md"),
                   help="markdown file whose compare.py section is replaced")
    p.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return child(args)
    wanted = wanted_engines(args, ENGINES)
    engines = [e for e in wanted if available(e)]
    skipped = [e for e in wanted if e not in engines]
    seconds = _samples(args.audio).size / 16000
    load = os.getloadavg()[0]

    res = measure(engines, args, args.threads)
    light = [e for e in engines if e != "transformers"]
    scaling = {t: measure(light, args, t) for t in range(1, args.threads + 1)} if light else {}
    load_after = os.getloadavg()[0]

    text = [(f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}; commit "
            f"{commit()}; 1-minute load average {load:.2f} before, {load_after:.2f} after."),
            "",
            "    " + " ".join(shlex.quote(a) for a in
                             ["python", "benchmarks/compare.py", *(argv or sys.argv[1:])]),
            "",
            f"{Path(args.model).name}, {Path(args.audio).name} ({seconds:.2f} s), "
            f"{args.threads} threads, {args.tokens} forced new tokens, granite-native precision "
            f"{args.precision}, median of {args.repeat} "
            f"interleaved rounds after a warm-up. RTF = total / audio seconds (lower is faster)."
            + (f" Not installed, skipped: {', '.join(skipped)}." if skipped else "")
            + (" transformers' mel is not timed, so its total leaves it out." if
               "transformers" in engines else "")
            + (" CrispASR's prefill and decode are derived from a 1-token and a full request"
               " (see compare.py)." if "crispasr" in engines else ""),
            "", *main_table(res, args, seconds), "", *ratio_lines(res, args, seconds)]
    if scaling:
        text += ["", "Thread scaling (same protocol, one column group per engine):", "",
                 *scaling_table(scaling, args, seconds)]
    text = "\n".join(text)
    print(text)
    write_section(Path(args.results), Path(args.model).name, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
