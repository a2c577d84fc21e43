"""Copy the transformers-made mel of speech11s (and the audio it was made from) out of the
shared reference dump into tests/data, so the tests need nothing outside the repository.

Usage: python tools/extract_mel_fixture.py /work/shared/fixtures/reference/tiny-speech11s.npz
"""
import sys
from pathlib import Path

import numpy as np

KEYS = ("raw_audio", "mel")
DEST = Path(__file__).resolve().parent.parent / "tests" / "data" / "reference" / "hf-mel-speech11s.npz"


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    with np.load(argv[1]) as src:
        missing = [k for k in KEYS if k not in src]
        if missing:
            sys.exit(f"{argv[1]} lacks {', '.join(missing)}")
        arrays = {k: src[k] for k in KEYS}
    DEST.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(DEST, **arrays)
    print(f"wrote {DEST} ({DEST.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv)
