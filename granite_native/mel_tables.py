"""The two front-end tables CrispASR's converter stores in every granite-speech GGUF."""
import numpy as np

SAMPLE_RATE = 16000
N_FFT = 512
WIN_LENGTH = 400
N_MELS = 80


def htk_mel_filters():
    """(257, 80) triangular HTK-mel filters over 0..8 kHz without area normalisation
    (torchaudio's MelSpectrogram defaults), computed in float64 and rounded once to float32."""
    def hz_to_mel(hz):
        return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)

    fft_hz = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    mel_points = np.linspace(hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2)
    edge_hz = 700.0 * (10.0 ** (mel_points / 2595.0) - 1.0)
    width = np.diff(edge_hz)
    dist = edge_hz[None, :] - fft_hz[:, None]
    rising = -dist[:, :-2] / width[:-1]
    falling = dist[:, 2:] / width[1:]
    return np.maximum(0, np.minimum(rising, falling)).astype(np.float32)


def left_aligned_hann():
    """Periodic Hann(400) at the start of a 512-sample frame. CrispASR stores it this way although
    the STFT centres the window; it is kept only so files match CrispASR's byte for byte."""
    window = np.zeros(N_FFT, dtype=np.float32)
    n = np.arange(WIN_LENGTH)
    window[:WIN_LENGTH] = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / WIN_LENGTH)).astype(np.float32)
    return window
