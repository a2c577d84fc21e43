"""Cut the Q4_K test fixture out of CrispASR's small fixture files.

The tiny fixture's rows are too short for Q4_K (everything falls back to Q4_0), so real Q4_K
blocks are taken from the small model: for a few LLM matrices, the F16 source rows and the
Q4_K bytes crispasr-quantize made from them.

    python tools/extract_quant_fixture.py /work/shared/fixtures/crispasr tests/data/quant/q4_k_small.npz
"""
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader

TENSORS = ("blk.0.attn_k.weight", "blk.1.attn_v.weight", "blk.0.ffn_down.weight")


def main(src_dir, out):
    f16 = {t.name: t for t in GGUFReader(Path(src_dir) / "small-f16.gguf").tensors}
    q4k = {t.name: t for t in GGUFReader(Path(src_dir) / "small-q4_k.gguf").tensors}
    arrays = {}
    for name in TENSORS:
        src, q = f16[name], q4k[name]
        assert src.tensor_type == GGMLQuantizationType.F16 and q.tensor_type == GGMLQuantizationType.Q4_K
        cols = int(src.shape[0])
        arrays[name + ".f16"] = np.asarray(src.data).reshape(-1, cols)
        arrays[name + ".q4_k"] = np.asarray(q.data).reshape(arrays[name + ".f16"].shape[0], -1)
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(*sys.argv[1:])
