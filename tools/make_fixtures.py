"""Regenerate the golden reference files in tests/data/reference/ (and tests/data/audio/speech3s.wav).

    python tools/make_fixtures.py [--hf-fixture /work/shared/fixtures/reference/tiny-speech11s.npz]

- <variant>-speech3s.npz for every tests/data/crispasr/tiny-*.gguf on the first 3 s of speech11s.wav;
- tiny-f16-speech11s.npz on the whole 11 s clip;
- hf-tiny-speech11s.npz: the keys of the fixture authors' independent transformers dump (made from
  the HF checkpoint, not from a GGUF) that the tests compare against.
Needs the `reference` extra (torch, transformers, tokenizers)."""
import argparse
import os
import sys
import wave
from pathlib import Path

import numpy as np

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))
from dump_reference import dump  # noqa: E402
from ref_audio import SAMPLE_RATE, write_wav_int16  # noqa: E402

ROOT = TOOLS.parent
DATA = Path("tests") / "data"
SHORT_SECONDS = 3
NEW_TOKENS = 32
# The fixture dump's keys worth keeping, renamed where the full matrix is cut to what is compared.
HF_KEYS = ("mel", "input_ids", "enc_input_linear", "encoder_out", "projector_out", "greedy_ids")


def write_short_clip():
    long_clip, short_clip = DATA / "audio" / "speech11s.wav", DATA / "audio" / "speech3s.wav"
    with wave.open(str(long_clip), "rb") as w:
        pcm = np.frombuffer(w.readframes(SHORT_SECONDS * SAMPLE_RATE), dtype="<i2")
    write_wav_int16(short_clip, pcm)
    return long_clip, short_clip


def copy_hf_fixture(src, dst):
    with np.load(src) as d:
        kept = {k: d[k] for k in HF_KEYS}
        kept["llm_logits_last"] = d["llm_logits"][-1]
    np.savez_compressed(dst, **kept)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hf-fixture", default="/work/shared/fixtures/reference/tiny-speech11s.npz",
                    help="the fixture authors' transformers dump of tiny-hf on speech11s.wav")
    args = ap.parse_args(argv)
    hf_fixture = Path(args.hf_fixture).resolve()
    # relative paths, so the golden files' meta_json does not name this machine's directories
    os.chdir(ROOT)
    out_dir = DATA / "reference"
    out_dir.mkdir(exist_ok=True)
    long_clip, short_clip = write_short_clip()
    jobs = [(g, short_clip) for g in sorted((DATA / "crispasr").glob("tiny-*.gguf"))]
    jobs.append((DATA / "crispasr" / "tiny-f16.gguf", long_clip))
    for gguf_path, clip in jobs:
        out = out_dir / f"{gguf_path.stem}-{clip.stem}.npz"
        np.savez_compressed(out, **dump(gguf_path, clip, n_new=NEW_TOKENS))
        print(f"wrote {out}")
    if hf_fixture.is_file():
        out = out_dir / "hf-tiny-speech11s.npz"
        copy_hf_fixture(hf_fixture, out)
        print(f"wrote {out}")
    else:
        print(f"{hf_fixture} not found; kept the existing hf-tiny-speech11s.npz")


if __name__ == "__main__":
    main()
