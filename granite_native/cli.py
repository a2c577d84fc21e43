"""The granite-native command line. Each subcommand is one function taking the parsed
arguments, registered in build_parser()."""
import argparse
import json
import sys
from collections import Counter

from .convert import convert
from .model import Model
from .tensors import type_name


def _mib(n):
    return f"{n / (1 << 20):.2f} MiB"


def info(args):
    with Model(args.model, threads=1) as model:
        counts, sizes = Counter(), Counter()
        for t in model.gguf.tensors:
            counts[type_name(int(t.tensor_type))] += 1
            sizes[type_name(int(t.tensor_type))] += int(t.n_bytes)
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

    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, OSError) as e:  # ModelError is a ValueError
        print(f"granite-native: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
