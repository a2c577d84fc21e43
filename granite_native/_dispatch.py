"""Chooses the kernel level once, at import: the best the CPU and OS support, or the one
named by GRANITE_NATIVE_ISA."""
import os

from . import _native

ENV = "GRANITE_NATIVE_ISA"


def select_at_import():
    wanted = os.environ.get(ENV, "").strip().lower()
    if not wanted:
        _native.set_isa(_native.isa_best())
        return
    if wanted not in _native.ISA_NAMES:
        raise RuntimeError(f"{ENV}={wanted!r} is not a known level; "
                           f"choose one of {', '.join(_native.ISA_NAMES)}")
    if not _native.isa_supported(wanted):
        missing = {"avx2": "avx2+fma+f16c", "avx512": "avx512f/bw/vl/dq/vnni",
                   "amx": "avx512 with bf16, and amx-tile+amx-bf16 granted by the OS",
                   "neon": "an AArch64 CPU"}.get(wanted, wanted)
        raise RuntimeError(f"{ENV}={wanted} but this CPU/OS (or this build) lacks {missing}; "
                           f"supported here: {', '.join(supported_levels())}")
    _native.set_isa(wanted)


def supported_levels():
    return [name for name in _native.ISA_NAMES if _native.isa_supported(name)]


def cpu_info():
    """Detected CPU features, the levels this build can run here, the level in use, and the
    extensions beyond it whose kernels that level runs (e.g. "avxvnni" on avx2)."""
    return {
        "features": {k: v for k, v in _native.cpu_features().items() if v},
        "supported": supported_levels(),
        "best": _native.isa_best(),
        "selected": _native.isa_current(),
        "extensions": list(_native.isa_extensions()),
        "forced": os.environ.get(ENV) or None,
    }
