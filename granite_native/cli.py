"""Command line: granite-native SUBCOMMAND ..."""
import argparse
import sys

from .convert import convert
from .errors import ModelError


def _convert(args):
    report = convert(args.hf_dir, args.out, args.outtype)
    print(f"{args.out}: {report.n_tensors} tensors ({report.n_f16} F16, {report.n_f32} F32)"
          + (f", {report.n_lora_folded} LoRA deltas folded" if report.n_lora_folded else "")
          + (f"; skipped {len(report.skipped)}: {', '.join(report.skipped)}" if report.skipped else ""))


def _add_convert(subparsers):
    p = subparsers.add_parser("convert", help="convert a Hugging Face checkpoint to GGUF "
                                              "(CrispASR's layout)")
    p.add_argument("hf_dir", help="checkpoint directory (config.json, *.safetensors, tokenizer)")
    p.add_argument("out", help="GGUF file to write")
    p.add_argument("--outtype", choices=("f16", "f32"), default="f16",
                   help="f16: LLM matrices F16, the rest F32, as CrispASR (default); f32: all F32")
    p.set_defaults(run=_convert)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="granite-native")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_convert(subparsers)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ModelError, OSError) as e:
        print(f"granite-native {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
