# Binding of the audio front-end (csrc/mel.c). Input checks with readable messages are in
# granite_native/mel.py; this layer only guards what the C call needs.

cdef extern from "gn.h" nogil:
    int64_t GN_MEL_MIN_SAMPLES, GN_MEL_MAX_SAMPLES, GN_MEL_ROW
    int64_t gn_log_mel_rows(int64_t n_samples)
    int gn_log_mel(gn_pool *pool, const float *audio, int64_t n_samples, float *out, int64_t rows)

MEL_MIN_SAMPLES = GN_MEL_MIN_SAMPLES
MEL_MAX_SAMPLES = GN_MEL_MAX_SAMPLES


def mel_rows(int64_t n_samples):
    """Stacked mel rows for n_samples of audio, or -1 outside the accepted lengths."""
    return gn_log_mel_rows(n_samples)


def log_mel(ThreadPool pool, const float[::1] audio):
    """(T, 160) float32 log-mel features of 16 kHz float32 audio."""
    cdef int64_t n = audio.shape[0]
    cdef int64_t rows = gn_log_mel_rows(n)
    if rows < 0:
        raise ValueError(f"audio has {n} samples; the front-end accepts "
                         f"{GN_MEL_MIN_SAMPLES}..{GN_MEL_MAX_SAMPLES}")
    out = np.empty((rows, GN_MEL_ROW), dtype=np.float32)
    cdef float[:, ::1] o = out
    cdef gn_pool *p = pool_ptr(pool)
    cdef int status
    with nogil:
        status = gn_log_mel(p, &audio[0], n, &o[0, 0], rows)
    check(status, "log_mel")
    return out
