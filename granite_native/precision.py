"""Which arithmetic each stage's matrix products use.

"exact": weights are dequantized to float32 and multiplied in float32 everywhere; held to the
parity contract's exact bounds.
"fast" (the default): the encoder and projector multiply in bfloat16 with float32
accumulation where the CPU has bfloat16 dot products, the encoder's attention products too
(scores and softmax stay float32); block-quantized weights in any stage
meet int8-quantized activations, as ggml multiplies them (on the AMX level, products of many
rows dequantize them to bfloat16 for the tiles instead: gn_matmul_path). F16/F32 LLM weights
stay float32: only k-quant files relax the LLM's bounds. The KV cache is float16 (llm.py).
"fastest": "fast", and the encoder's and projector's float matrices quantized at load to 8 bits
(Q8_K_R16) to meet int8-quantized activations where the CPU has an int8 kernel for that layout
(AVX2 and AVX-512 VNNI; not the amx level, whose bfloat16 tiles are faster). The encoder runs
1.5x its float32 speed on Zen 3, 1.8x on Ice Lake. Not the default: on the random-weight
references its encoder cos_min is 0.9995 at full size but 0.998 on the small checkpoint, under
the 0.999 bound the fast paths are held to.
"""
import numpy as np

from . import _native

PRECISIONS = ("fast", "exact", "fastest")
MANY_ROWS = 1 << 16
STAGES = ("encoder", "projector", "decoder")


def stage_flags(precision):
    """gn_matmul flags per stage for a precision name."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    if precision == "exact":
        return dict.fromkeys(STAGES, 0)
    audio = _native.matmul_flags(["int8", "bf16"])
    return {"encoder": audio, "projector": audio, "decoder": _native.matmul_flags(["int8"])}


def kv_dtype(precision):
    """The decoder's KV cache element type: float32 for "exact", float16 otherwise (llm.py)."""
    stage_flags(precision)  # validates the name
    return np.float32 if precision == "exact" else np.float16


def describe(matmul_paths, kv_cache):
    """The arithmetic a run used, as `bench` and `diff` print it: "matmuls encoder bf16, ...;
    KV cache float16"."""
    return ("matmuls " + ", ".join(f"{stage} {'+'.join(p)}" for stage, p in matmul_paths.items())
            + f"; KV cache {kv_cache}")


def quantized_stages(precision):
    """The stages whose float matrices are quantized at load for the int8 kernels (where the
    active ISA has them: Weights.operand)."""
    stage_flags(precision)  # validates the name
    return ("encoder", "projector") if precision == "fastest" else ()


def paths(matrices, flags):
    """The sorted arithmetic paths ("f32", "int8", "bf16") the given weight matrices take, in a
    decode step (one row) or a prompt or the audio (many)."""
    return sorted({_native.matmul_path(m.type, flags, rows)
                   for m in matrices for rows in (1, MANY_ROWS)})
