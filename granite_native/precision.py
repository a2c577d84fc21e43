"""Which arithmetic each stage's matrix products use.

"exact": weights are dequantized to float32 and multiplied in float32 everywhere; held to the
parity contract's exact bounds.
"fast" (the default): the encoder and projector multiply in bfloat16 with float32
accumulation where the CPU has bfloat16 dot products; block-quantized weights in any stage
meet int8-quantized activations, as ggml multiplies them. F16/F32 LLM weights stay float32:
only k-quant files relax the LLM's bounds.
"""
from . import _native

PRECISIONS = ("fast", "exact")
STAGES = ("encoder", "projector", "decoder")


def stage_flags(precision):
    """gn_matmul flags per stage for a precision name."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    if precision == "exact":
        return dict.fromkeys(STAGES, 0)
    audio = _native.matmul_flags(["int8", "bf16"])
    return {"encoder": audio, "projector": audio, "decoder": _native.matmul_flags(["int8"])}


def paths(matrices, flags):
    """The sorted arithmetic paths ("f32", "int8", "bf16") the given weight matrices take."""
    return sorted({_native.matmul_path(m.type, flags) for m in matrices})
