"""16 kHz mono WAV reading for the reference tools (stdlib only)."""
import struct
import wave

import numpy as np

SAMPLE_RATE = 16000
_IEEE_FLOAT = 3
_EXTENSIBLE = 0xFFFE


def _read_float_wav(path):
    """The stdlib `wave` module reads PCM only; IEEE-float WAVs get a minimal RIFF walk."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a RIFF/WAVE file")
    pos, fmt, samples = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = struct.unpack("<HHIIHH", body[:16])
            if fmt[0] == _EXTENSIBLE and len(body) >= 26:
                fmt = (struct.unpack("<H", body[24:26])[0],) + fmt[1:]
        elif cid == b"data":
            samples = body
        pos += 8 + size + (size & 1)
    if fmt is None or samples is None:
        raise ValueError(f"{path}: WAV without fmt or data chunk")
    tag, channels, rate, _, _, bits = fmt
    if tag != _IEEE_FLOAT or bits not in (32, 64):
        raise ValueError(f"{path}: unsupported WAV encoding (format tag {tag}, {bits} bits); "
                         "need 16-bit PCM or 32/64-bit float")
    return channels, rate, np.frombuffer(samples, dtype="<f4" if bits == 32 else "<f8")


def read_wav(path):
    """Float32 samples of a 16 kHz mono WAV (16-bit PCM or IEEE float)."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, rate, width = w.getnchannels(), w.getframerate(), w.getsampwidth()
            raw = w.readframes(w.getnframes())
        if width != 2:
            raise ValueError(f"{path}: {8 * width}-bit PCM is not supported; need 16-bit PCM or float")
        samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    except wave.Error:
        channels, rate, samples = _read_float_wav(str(path))
    if channels != 1:
        raise ValueError(f"{path}: {channels} channels; need mono")
    if rate != SAMPLE_RATE:
        raise ValueError(f"{path}: sample rate {rate} Hz; need {SAMPLE_RATE} Hz (resample first)")
    return samples.astype(np.float32)


def write_wav_int16(path, samples_int16):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(np.asarray(samples_int16, dtype="<i2").tobytes())
