"""The audio front-end: 16 kHz mono float PCM -> (T, 160) log-mel features (spec section 2).

Input rules:
- a 1-D array of floating-point samples (float16/32/64; converted to float32). Integer PCM is
  rejected rather than guessed at: int16 samples need dividing by 32768 first.
- every sample finite after conversion to float32;
- at least 257 samples (reflect padding by 256 needs more than 256, as in torch and therefore
  the Hugging Face reference) and at most 2**31 - 1 (about 37 hours).
The runtime does not resample: the caller provides 16 kHz.
"""
import numpy as np

from . import _native

SAMPLE_RATE = 16000
MIN_SAMPLES = _native.MEL_MIN_SAMPLES
MAX_SAMPLES = _native.MEL_MAX_SAMPLES


def log_mel(audio, pool=None):
    """(T, 160) float32 features, T = (len(audio)//160 + 1)//2; row i holds mel frames 2i, 2i+1.

    pool: a granite_native._native.ThreadPool, or None to run on the calling thread.
    """
    a = np.asarray(audio)
    if a.ndim != 1:
        raise ValueError(f"audio must be a 1-D array of mono samples, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"audio must be floating-point PCM in [-1, 1], got dtype {a.dtype}"
                         " (scale integer PCM to float first, e.g. int16 / 32768)")
    if a.size == 0:
        raise ValueError("audio is empty")
    if a.size < MIN_SAMPLES:
        raise ValueError(f"audio has {a.size} samples; at least {MIN_SAMPLES} "
                         f"({MIN_SAMPLES / SAMPLE_RATE * 1000:.1f} ms at 16 kHz) are needed")
    if a.size > MAX_SAMPLES:
        raise ValueError(f"audio has {a.size} samples; at most {MAX_SAMPLES} are accepted")
    with np.errstate(over="ignore"):  # overflow to inf is reported just below
        a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.isfinite(a).all():
        raise ValueError("audio contains NaN or infinite samples (after conversion to float32)")
    return _native.log_mel(pool, a)
