/* The granite-speech audio front-end (spec section 2): periodic Hann(400) centred in a 512-point
 * frame, reflect padding of 256, power spectrum, HTK mel filterbank without normalisation,
 * log10, per-utterance max-8 floor, /4+1, and pairs of frames stacked into 160-wide rows.
 *
 * Frames are independent, so they are spread over the pool in chunks; the utterance maximum is
 * kept per thread and reduced afterwards, which makes the result independent of the thread
 * count. Memory beyond the output is fixed: a plan on the caller's stack and one float per
 * thread. */
#include "gn.h"
#include "fft.h"

#include <math.h>
#include <stdlib.h>

#define N_FFT GN_RFFT_N
#define N_BINS GN_RFFT_BINS
#define N_MELS GN_MEL_BINS
#define WIN 400
#define HOP 160
#define PAD (N_FFT / 2)
#define WIN_OFFSET ((N_FFT - WIN) / 2) /* the window sits in the middle of the frame */
#define SAMPLE_RATE 16000.0
#define LOG_FLOOR 1e-10
#define FRAMES_PER_TASK 32
/* A bin has weight only strictly inside a triangle (f_m, f_m+2); with increasing f_m a bin lies
 * inside at most two of them. */
#define MAX_WEIGHTS (2 * N_BINS)

typedef struct {
    gn_rfft512_plan fft;
    float window[WIN];
    int first[N_MELS], count[N_MELS], offset[N_MELS]; /* each triangle's non-zero bins */
    double weight[MAX_WEIGHTS];

    const float *audio;
    int64_t n;
    int64_t frames; /* n / HOP + 1 */
    int64_t kept;   /* frames rounded down to even: the odd last frame only feeds the max */
    float *out;
    float *thread_max;
    float floor_; /* utterance max - 8, set between the passes */
} mel_job;

static double hz_to_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }
static double mel_to_hz(double m) { return 700.0 * (pow(10.0, m / 2595.0) - 1.0); }

static gn_status build_filterbank(mel_job *j) {
    double f_pts[N_MELS + 2];
    const double m_lo = hz_to_mel(0.0), m_hi = hz_to_mel(SAMPLE_RATE / 2);
    for (int i = 0; i < N_MELS + 2; i++) f_pts[i] = mel_to_hz(m_lo + (m_hi - m_lo) * i / (N_MELS + 1));
    int used = 0;
    for (int m = 0; m < N_MELS; m++) {
        const double lo = f_pts[m], mid = f_pts[m + 1], hi = f_pts[m + 2];
        j->first[m] = 0;
        j->count[m] = 0;
        j->offset[m] = used;
        for (int k = 0; k < N_BINS; k++) {
            const double f = SAMPLE_RATE / 2 * k / (N_BINS - 1);
            const double w = fmin((f - lo) / (mid - lo), (hi - f) / (hi - mid));
            if (w <= 0.0) continue;
            if (used == MAX_WEIGHTS) return GN_ERR_INVALID;
            if (j->count[m] == 0) j->first[m] = k;
            j->weight[used++] = w;
            j->count[m]++;
        }
    }
    return GN_OK;
}

static int64_t reflect(int64_t i, int64_t n) {
    if (i < 0) return -i;
    if (i >= n) return 2 * (n - 1) - i;
    return i;
}

/* Log-mel of frame t into dst[0:80]; returns its maximum. */
static float frame_log_mel(const mel_job *j, int64_t t, float *dst) {
    float x[N_FFT] = {0}, re[N_BINS], im[N_BINS];
    double power[N_BINS];
    const int64_t start = t * HOP - PAD + WIN_OFFSET; /* audio index of window sample 0 */
    if (start >= 0 && start + WIN <= j->n) {
        for (int i = 0; i < WIN; i++) x[WIN_OFFSET + i] = j->audio[start + i] * j->window[i];
    } else {
        for (int i = 0; i < WIN; i++) x[WIN_OFFSET + i] = j->audio[reflect(start + i, j->n)] * j->window[i];
    }
    gn_rfft512(&j->fft, x, re, im);
    for (int k = 0; k < N_BINS; k++) power[k] = (double)re[k] * re[k] + (double)im[k] * im[k];
    float fmax_ = -INFINITY;
    for (int m = 0; m < N_MELS; m++) {
        const double *w = j->weight + j->offset[m];
        const double *p = power + j->first[m];
        double acc = 0.0;
        for (int i = 0; i < j->count[m]; i++) acc += p[i] * w[i];
        const float v = (float)log10(fmax(acc, LOG_FLOOR));
        dst[m] = v;
        if (v > fmax_) fmax_ = v;
    }
    return fmax_;
}

static void log_mel_task(void *ctx, int64_t task, int thread_index) {
    mel_job *j = (mel_job *)ctx;
    const int64_t t0 = task * FRAMES_PER_TASK;
    const int64_t t1 = t0 + FRAMES_PER_TASK < j->frames ? t0 + FRAMES_PER_TASK : j->frames;
    float dropped[N_MELS];
    float m = j->thread_max[thread_index];
    for (int64_t t = t0; t < t1; t++) {
        const float v = frame_log_mel(j, t, t < j->kept ? j->out + t * N_MELS : dropped);
        if (v > m) m = v;
    }
    j->thread_max[thread_index] = m;
}

static void normalise_task(void *ctx, int64_t task, int thread_index) {
    const mel_job *j = (const mel_job *)ctx;
    const int64_t t0 = task * FRAMES_PER_TASK;
    const int64_t t1 = t0 + FRAMES_PER_TASK < j->kept ? t0 + FRAMES_PER_TASK : j->kept;
    for (int64_t i = t0 * N_MELS; i < t1 * N_MELS; i++) {
        const float v = j->out[i] > j->floor_ ? j->out[i] : j->floor_;
        j->out[i] = v / 4.0f + 1.0f;
    }
}

int64_t gn_log_mel_rows(int64_t n_samples) {
    if (n_samples < GN_MEL_MIN_SAMPLES || n_samples > GN_MEL_MAX_SAMPLES) return -1;
    return (n_samples / HOP + 1) / 2;
}

gn_status gn_log_mel(gn_pool *pool, const float *audio, int64_t n_samples, float *out, int64_t rows) {
    const int64_t want = gn_log_mel_rows(n_samples);
    if (!audio || !out || want < 0 || rows != want) return GN_ERR_INVALID;
    mel_job j;
    gn_rfft512_plan_init(&j.fft);
    const double two_pi = 6.283185307179586476925286766559;
    for (int i = 0; i < WIN; i++) j.window[i] = (float)(0.5 - 0.5 * cos(two_pi * i / WIN));
    const gn_status st = build_filterbank(&j);
    if (st != GN_OK) return st;

    const int n_threads = gn_pool_threads(pool);
    j.thread_max = (float *)malloc((size_t)n_threads * sizeof *j.thread_max);
    if (!j.thread_max) return GN_ERR_NOMEM;
    for (int i = 0; i < n_threads; i++) j.thread_max[i] = -INFINITY;
    j.audio = audio;
    j.n = n_samples;
    j.frames = n_samples / HOP + 1;
    j.kept = 2 * rows;
    j.out = out;

    gn_pool_run(pool, log_mel_task, &j, (j.frames + FRAMES_PER_TASK - 1) / FRAMES_PER_TASK);
    float m = -INFINITY;
    for (int i = 0; i < n_threads; i++)
        if (j.thread_max[i] > m) m = j.thread_max[i];
    free(j.thread_max);
    j.floor_ = m - 8.0f;
    gn_pool_run(pool, normalise_task, &j, (j.kept + FRAMES_PER_TASK - 1) / FRAMES_PER_TASK);
    return GN_OK;
}
