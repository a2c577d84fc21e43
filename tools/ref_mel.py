"""Float64 log-mel front-end of granite-speech, written from the spec (section 2), not from
transformers: the reference must not share code with what it checks, and torchaudio (which
transformers needs for this) has no release for torch 2.13."""
import numpy as np

SAMPLE_RATE = 16000
N_FFT = 512
WIN_LENGTH = 400
HOP = 160
N_MELS = 80


def hann_window_centred():
    """Periodic Hann(400) centred in the 512-point frame (56 zeros each side)."""
    n = np.arange(WIN_LENGTH, dtype=np.float64)
    hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / WIN_LENGTH)
    window = np.zeros(N_FFT, dtype=np.float64)
    left = (N_FFT - WIN_LENGTH) // 2
    window[left:left + WIN_LENGTH] = hann
    return window


def htk_filterbank():
    """(257, 80) HTK-scale triangles on 82 equally spaced mel points, no area normalisation."""
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    n_freqs = N_FFT // 2 + 1
    all_freqs = np.linspace(0.0, SAMPLE_RATE / 2, n_freqs)
    m_pts = np.linspace(hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2)
    f_pts = mel_to_hz(m_pts)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up))


def log_mel_stacked(audio):
    """16 kHz float PCM [S] -> stacked log-mel (T, 160) in float64, T = (S//160 + 1)//2."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1 or x.size <= N_FFT // 2:
        raise ValueError(f"need a 1-D clip longer than {N_FFT // 2} samples, got shape {x.shape}")
    padded = np.pad(x, N_FFT // 2, mode="reflect")
    n_frames = x.size // HOP + 1
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:n_frames]
    spec = np.fft.rfft(frames * hann_window_centred(), axis=-1)
    power = spec.real ** 2 + spec.imag ** 2
    mel = power @ htk_filterbank()
    logmel = np.log10(np.maximum(mel, 1e-10))
    logmel = np.maximum(logmel, logmel.max() - 8.0) / 4.0 + 1.0
    if logmel.shape[0] % 2 == 1:
        logmel = logmel[:-1]
    return logmel.reshape(-1, 2 * N_MELS)
