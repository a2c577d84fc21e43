"""The audio front-end against transformers' feature extractor and an independent float64
numpy implementation written here from the spec's formulas."""
from pathlib import Path

import numpy as np
import pytest

from granite_native import _native, mel

DATA = Path(__file__).parent / "data"


def reference_log_mel(audio):
    """Float64 numpy version of spec section 2, sharing no code with the runtime."""
    x = np.asarray(audio, dtype=np.float64)
    n_frames = len(x) // 160 + 1
    padded = np.pad(x, 256, mode="reflect")
    window = np.zeros(512)
    window[56:456] = np.hanning(401)[:400]  # periodic Hann(400) is the symmetric 401 one, cut
    frames = padded[np.arange(n_frames)[:, None] * 160 + np.arange(512)] * window
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2

    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(8000.0), 82))
    freqs = np.linspace(0.0, 8000.0, 257)[:, None]
    rising = (freqs - edges[:-2]) / (edges[1:-1] - edges[:-2])
    falling = (edges[2:] - freqs) / (edges[2:] - edges[1:-1])
    filterbank = np.maximum(0.0, np.minimum(rising, falling))  # (257, 80), no normalisation

    logmel = np.log10(np.maximum(power @ filterbank, 1e-10))
    logmel = np.maximum(logmel, logmel.max() - 8.0) / 4.0 + 1.0
    kept = n_frames - n_frames % 2
    return logmel[:kept].reshape(kept // 2, 160)


def row_cos(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def hf():
    with np.load(DATA / "reference" / "hf-mel-speech11s.npz") as z:
        return z["raw_audio"], z["mel"]


@pytest.fixture(scope="module")
def pool2():
    pool = _native.ThreadPool(2)
    yield pool
    pool.close()


def test_matches_transformers(hf):
    audio, expected = hf
    got = mel.log_mel(audio)
    assert got.dtype == np.float32 and got.shape == expected.shape == (550, 160)
    assert row_cos(got, expected).min() >= 0.999999
    assert np.abs(got - expected).max() < 5e-5


def test_matches_float64_numpy_on_speech(hf):
    audio, _ = hf
    got = mel.log_mel(audio)
    want = reference_log_mel(audio)
    assert got.shape == want.shape
    assert row_cos(got, want).min() >= 0.9999995
    assert np.abs(got - want).max() < 5e-5


# frame counts n//160 + 1: 257 -> 2, 320 -> 3 (odd, one row), 481 -> 4, 16000 -> 101, 16160 -> 102
@pytest.mark.parametrize("n", [257, 300, 319, 320, 479, 480, 481, 4001, 16000, 16160])
def test_lengths_match_float64_numpy(n):
    rng = np.random.default_rng(n)
    audio = (0.3 * rng.standard_normal(n) * np.sin(np.arange(n) / 37.0)).astype(np.float32)
    got = mel.log_mel(audio)
    want = reference_log_mel(audio)
    assert got.shape == ((n // 160 + 1) // 2, 160) == want.shape
    assert np.abs(got - want).max() < 5e-5


def test_dropped_odd_frame_still_sets_the_floor():
    # 101 frames; a click in the last 100 samples is seen only by frame 100, which is dropped
    n = 16100
    audio = np.zeros(n, dtype=np.float32)
    audio[::50] = 1e-3
    audio[-20] = 1.0
    want = reference_log_mel(audio)
    got = mel.log_mel(audio)
    assert got.shape == (50, 160)
    np.testing.assert_allclose(got, want, atol=5e-5, rtol=0)
    # a floor taken over the kept frames only would differ by far more than the tolerance
    assert np.abs(want - reference_log_mel(audio[:-60])[: len(want)]).max() > 1e-2


def test_silence_is_finite():
    got = mel.log_mel(np.zeros(8000, dtype=np.float32))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, reference_log_mel(np.zeros(8000)), atol=1e-6, rtol=0)
    np.testing.assert_allclose(got, -1.5, atol=1e-6, rtol=0)  # max(-10, -18)/4 + 1


def test_threads_give_identical_results(hf, pool2):
    audio, _ = hf
    odd = audio[: 16000 * 3 + 77]
    for a in (audio, odd):
        serial = mel.log_mel(a)
        assert np.array_equal(mel.log_mel(a, _native.ThreadPool(1)), serial)
        assert np.array_equal(mel.log_mel(a, pool2), serial)


def test_float64_and_lists_are_converted(hf):
    audio, _ = hf
    part = audio[:5000]
    want = mel.log_mel(part)
    assert np.array_equal(mel.log_mel(part.astype(np.float64)), want)
    assert np.array_equal(mel.log_mel(part.tolist()), want)


@pytest.mark.parametrize("audio, problem", [
    (np.zeros(0, dtype=np.float32), "empty"),
    (np.zeros(256, dtype=np.float32), "at least 257"),
    (np.zeros((2, 4000), dtype=np.float32), "1-D"),
    (np.zeros((4000, 1), dtype=np.float32), "1-D"),
    (np.float32(0.5), "1-D"),
    (np.zeros(4000, dtype=np.int16), "int16"),
    (np.zeros(4000, dtype=np.complex64), "floating-point"),
    (np.array([0.0] * 3999 + [np.nan], dtype=np.float32), "NaN"),
    (np.array([0.0] * 3999 + [np.inf], dtype=np.float32), "infinite"),
    (np.array([0.0] * 3999 + [1e300]), "infinite"),  # finite float64, inf as float32
])
def test_bad_input_is_a_clear_error(audio, problem):
    with pytest.raises(ValueError, match=problem):
        mel.log_mel(audio)


def test_native_binding_checks_length_and_pool():
    with pytest.raises(ValueError, match="257"):
        _native.log_mel(None, np.zeros(256, dtype=np.float32))
    pool = _native.ThreadPool(2)
    pool.close()
    with pytest.raises(ValueError, match="closed"):
        _native.log_mel(pool, np.zeros(1000, dtype=np.float32))
