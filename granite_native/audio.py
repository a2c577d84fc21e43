"""Audio input: a path to a WAV file or a float array, to float32 mono samples at 16 kHz.

WAV is parsed here (RIFF chunks, PCM 8/16/24/32-bit and IEEE float 32/64, any channel count,
downmixed by averaging) because the stdlib `wave` module reads neither float nor
WAVE_FORMAT_EXTENSIBLE files. Other sample rates are rejected with a clear error until
resampling lands.
"""
import os
import struct

import numpy as np

SAMPLE_RATE = 16000
PCM, IEEE_FLOAT, EXTENSIBLE = 1, 3, 0xFFFE


def read_wav(path):
    """(samples float32 [n], sample_rate) from a WAV file, channels averaged."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a RIFF/WAVE file")
    fmt = pcm = None
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            if len(body) < 16:
                raise ValueError(f"{path}: fmt chunk too short")
            fmt = struct.unpack_from("<HHIIHH", body)
            if fmt[0] == EXTENSIBLE and len(body) >= 26:
                fmt = (struct.unpack_from("<H", body, 24)[0],) + fmt[1:]
        elif cid == b"data":
            pcm = body
        pos += 8 + size + (size & 1)
    if fmt is None or pcm is None:
        raise ValueError(f"{path}: WAV file lacks a fmt or data chunk")
    tag, channels, rate, _, _, bits = fmt
    if channels < 1 or rate < 1:
        raise ValueError(f"{path}: WAV header has {channels} channels at {rate} Hz")
    width = bits // 8
    kinds = {(PCM, 8): "u1", (PCM, 16): "<i2", (PCM, 32): "<i4", (IEEE_FLOAT, 32): "<f4",
             (IEEE_FLOAT, 64): "<f8"}
    frame = width * channels
    n = len(pcm) // frame if frame else 0
    raw = pcm[:n * frame]
    if (tag, bits) in kinds:
        x = np.frombuffer(raw, kinds[(tag, bits)]).astype(np.float64)
        if tag == PCM:
            x = (x - 128.0) / 128.0 if bits == 8 else x / float(2 ** (bits - 1))
    elif (tag, bits) == (PCM, 24):
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        x = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8) / float(2 ** 23)
    else:
        raise ValueError(f"{path}: unsupported WAV encoding (format tag {tag}, {bits} bits)")
    return x.reshape(n, channels).mean(axis=1).astype(np.float32), rate


def load(audio, sample_rate=SAMPLE_RATE):
    """float32 mono samples at 16 kHz from a path or an array (whose rate is sample_rate)."""
    if isinstance(audio, (str, os.PathLike)):
        samples, sample_rate = read_wav(audio)
        where = os.fspath(audio)
    else:
        samples = np.asarray(audio)
        where = "audio array"
        if samples.ndim != 1:
            raise ValueError(f"{where}: expected 1-D mono samples, got shape {samples.shape}")
        if not np.issubdtype(samples.dtype, np.floating):
            raise ValueError(f"{where}: expected float samples in [-1, 1], got {samples.dtype}")
        samples = samples.astype(np.float32)
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"{where}: sample rate {sample_rate} Hz; only {SAMPLE_RATE} Hz is supported")
    if samples.size == 0:
        raise ValueError(f"{where}: no samples")
    if not np.isfinite(samples).all():
        raise ValueError(f"{where}: samples contain NaN or Inf")
    return samples
