"""The granite-native command line."""
import argparse
import sys

from .errors import ModelError


def cmd_quantize(args):
    from .quantize import quantize_file
    quantize_file(args.input, args.output, args.type)


def main(argv=None):
    from .quantize import VARIANTS
    parser = argparse.ArgumentParser(prog="granite-native")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("quantize", help="re-quantize a GGUF file the way crispasr-quantize does")
    p.add_argument("input", help="source GGUF (F16/F32/BF16)")
    p.add_argument("output", help="GGUF file to write")
    p.add_argument("type", choices=list(VARIANTS), metavar="TYPE", help=", ".join(VARIANTS))
    p.set_defaults(func=cmd_quantize)

    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (ModelError, ValueError, OSError) as e:
        print(f"granite-native {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
