"""The granite-native command line. Each subcommand is one function taking the parsed
arguments, registered in build_parser()."""
import argparse
import json
import sys
from collections import Counter

from .convert import convert
from . import parity
from .quantize import VARIANTS, quantize_file
from .model import Model
from .precision import PRECISIONS, describe
from .tensors import type_name


def _mib(n):
    return f"{n / (1 << 20):.2f} MiB"


def info(args):
    with Model(args.model, threads=1) as model:
        counts, sizes = Counter(), Counter()
        for t in model.gguf.tensors:
            counts[type_name(t.type)] += 1
            sizes[type_name(t.type)] += t.n_bytes
        report = {
            "file": model.path,
            "file_size": model.file_size,
            "tensor_count": sum(counts.values()),
            "tensor_bytes": sum(sizes.values()),
            "tensors_by_type": {k: {"count": counts[k], "bytes": sizes[k]} for k in sorted(counts)},
            "hparams": model.hparams.to_dict(),
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"file        {report['file']}")
    print(f"file size   {_mib(report['file_size'])} ({report['file_size']} bytes)")
    print(f"tensors     {report['tensor_count']}, {_mib(report['tensor_bytes'])} of data")
    for k, v in report["tensors_by_type"].items():
        print(f"  {k:<8}  {v['count']:>5}  {_mib(v['bytes'])}")
    print("hyperparameters")
    for k, v in report["hparams"].items():
        print(f"  {k:<26}  {v}")
    return 0


def convert_checkpoint(args):
    report = convert(args.hf_dir, args.out, args.outtype)
    print(f"{args.out}: {report.n_tensors} tensors ({report.n_f16} F16, {report.n_f32} F32)"
          + (f", {report.n_lora_folded} LoRA deltas folded" if report.n_lora_folded else "")
          + (f"; skipped {len(report.skipped)}: {', '.join(report.skipped)}" if report.skipped else ""))
    return 0


def quantize(args):
    quantize_file(args.input, args.output, args.type)
    return 0


def transcribe(args):
    results = []
    with Model(args.model, threads=args.threads, precision=args.precision,
               decode_threads=args.decode_threads) as model:
        for path in args.audio:
            r = model.transcribe(path, task=args.task, punctuate=args.punctuate,
                                 language=args.language, instruction=args.instruction,
                                 keywords=args.keywords.split(",") if args.keywords else None,
                                 template=args.template, max_new_tokens=args.max_new_tokens)
            for w in r.warnings:
                print(f"granite-native: {path}: warning: {w}", file=sys.stderr)
            results.append({"audio": path, "text": r.text, "tokens": r.tokens,
                            "prompt_tokens": r.prompt_tokens, "audio_tokens": r.audio_tokens,
                            "stop": r.stop, "warnings": r.warnings, "timings": r.timings})
            if not args.json:
                print(r.text if len(args.audio) == 1 else f"{path}\t{r.text}")
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


def diff(args):
    import numpy as np

    with np.load(args.reference) as npz:
        ref = {k: npz[k] for k in npz.files}
    with Model(args.model, threads=args.threads, precision=args.precision) as model:
        stages, greedy, paths = parity.run(model, ref)
        kv_cache = model.decoder.kv_dtype.name
    ok = all(s.ok for s in stages) and greedy.ok
    if args.json:
        print(json.dumps({"model": args.model, "reference": args.reference, "ok": ok,
                          "precision": model.precision, "matmul_paths": paths,
                          "kv_cache": kv_cache,
                          "stages": [dict(vars(s), ok=s.ok) for s in stages],
                          "greedy": dict(vars(greedy), ok=greedy.ok)}, indent=2))
    else:
        print(f"precision {model.precision}: {describe(paths, kv_cache)}")
        print(f"{'stage':<14} {'cos_min':>10} {'max_abs':>10} {'rms':>10}  bound")
        for s in stages:
            print(f"{s.stage:<14} {s.cos_min:>10.7f} {s.max_abs:>10.3g} {s.rms:>10.3g}  "
                  f">= {s.bound}  {'ok' if s.ok else 'FAIL'}")
        print(f"greedy ids     {greedy.agree}/{greedy.n} leading ids equal decoding freely "
              f"(must: {greedy.judged}); {greedy.forced}/{greedy.n} equal fed the reference's "
              f"ids (must: {greedy.forced_min})  {'ok' if greedy.ok else 'FAIL'}")
    return 0 if ok else 1


def bench(args):
    from . import bench as bench_mod

    report = bench_mod.run(args.model, args.audio, args.threads, args.tokens, args.repeat,
                           args.precision, args.decode_threads)
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json
          else bench_mod.format_report(report))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="granite-native",
                                     description="CPU runtime for granite-speech GGUF models")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("info",
                            help="validate a model and show its hyperparameters and tensors")
    p.add_argument("model", help="granite_speech GGUF file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=info)

    p = commands.add_parser("convert", help="convert a Hugging Face checkpoint to GGUF "
                                            "(CrispASR's layout)")
    p.add_argument("hf_dir", help="checkpoint directory (config.json, *.safetensors, tokenizer)")
    p.add_argument("out", help="GGUF file to write")
    p.add_argument("--outtype", choices=("f16", "f32"), default="f16",
                   help="f16: LLM matrices F16, the rest F32, as CrispASR (default); f32: all F32")
    p.set_defaults(run=convert_checkpoint)

    p = commands.add_parser("quantize", help="re-quantize a GGUF file the way crispasr-quantize does")
    p.add_argument("input", help="source GGUF (F16/F32/BF16)")
    p.add_argument("output", help="GGUF file to write")
    p.add_argument("type", choices=list(VARIANTS), metavar="TYPE", help=", ".join(VARIANTS))
    p.set_defaults(run=quantize)

    p = commands.add_parser("transcribe", help="transcribe or translate audio files")
    p.add_argument("audio", nargs="+", help="WAV files (16 kHz)")
    p.add_argument("-m", "--model", required=True, help="granite_speech GGUF file")
    p.add_argument("--task", choices=("transcribe", "translate"), default="transcribe")
    p.add_argument("--punctuate", action="store_true",
                   help="ask for punctuation and capitalization")
    p.add_argument("--language", help="source language code (en fr de es pt ja)")
    p.add_argument("--instruction", help="custom instruction replacing the task's")
    p.add_argument("--keywords", help="comma-separated words to bias towards")
    p.add_argument("--template", choices=("base", "plus"),
                   help="chat template (default: the model's variant decides)")
    p.add_argument("--threads", type=int, help="kernel threads (default: usable CPUs)")
    p.add_argument("--precision", choices=PRECISIONS, default="fast",
                   help="fast: bf16 audio stages and int8 activations against quantized "
                        "weights; exact: float32 throughout (default: fast)")
    p.add_argument("--decode-threads", type=int,
                   help="threads of each decode step (default: --threads)")
    p.add_argument("--max-new-tokens", type=int, help="cap on generated tokens")
    p.add_argument("--json", action="store_true", help="print JSON with tokens and timings")
    p.set_defaults(run=transcribe)

    p = commands.add_parser("diff", help="compare every stage with a reference .npz")
    p.add_argument("reference", help=".npz written by tools/dump_reference.py")
    p.add_argument("-m", "--model", required=True, help="granite_speech GGUF file")
    p.add_argument("--threads", type=int, help="kernel threads (default: usable CPUs)")
    p.add_argument("--precision", choices=PRECISIONS, default="fast",
                   help="fast: bf16 audio stages and int8 activations against quantized "
                        "weights; exact: float32 throughout (default: fast)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=diff)

    p = commands.add_parser("bench", help="time every stage on one clip, beside memory-bandwidth "
                                          "and FMA-peak probes run in the same process")
    p.add_argument("audio", help="WAV file (16 kHz)")
    p.add_argument("-m", "--model", required=True, help="granite_speech GGUF file")
    p.add_argument("--threads", type=int, help="kernel threads (default: usable CPUs)")
    p.add_argument("--precision", choices=PRECISIONS, default="fast",
                   help="fast: bf16 audio stages and int8 activations against quantized "
                        "weights; exact: float32 throughout (default: fast)")
    p.add_argument("--decode-threads", type=int,
                   help="threads of each decode step (default: --threads)")
    p.add_argument("--tokens", type=int, default=32,
                   help="new tokens decoded per request, EOS or not (default 32)")
    p.add_argument("--repeat", type=int, default=3,
                   help="timed requests after one warm-up; medians are reported (default 3)")
    p.add_argument("--json", action="store_true", help="print JSON with every run")
    p.set_defaults(run=bench)

    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    # ModelError is a ValueError; ArithmeticError: non-finite logits, a float16 cache overflow
    except (ValueError, OSError, ArithmeticError) as e:
        print(f"granite-native: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
