/* Real 512-point FFT: the even and odd samples are packed into the real and imaginary parts of a
 * 256-point complex signal, transformed by iterative radix-2, and split into the real signal's
 * spectrum. Arithmetic is float32; every twiddle is computed directly from double cos/sin rather
 * than by recurrence, so the twiddles carry only their own rounding. */
#include "fft.h"

#include <math.h>

#define HALF (GN_RFFT_N / 2)
#define HALF_BITS 8

void gn_rfft512_plan_init(gn_rfft512_plan *p) {
    const double two_pi = 6.283185307179586476925286766559;
    for (int k = 0; k < HALF / 2; k++) {
        p->tw_re[k] = (float)cos(two_pi * k / HALF);
        p->tw_im[k] = (float)-sin(two_pi * k / HALF);
    }
    for (int k = 0; k < HALF; k++) {
        p->split_re[k] = (float)cos(two_pi * k / GN_RFFT_N);
        p->split_im[k] = (float)-sin(two_pi * k / GN_RFFT_N);
    }
    for (int i = 0; i < HALF; i++) {
        int r = 0;
        for (int b = 0; b < HALF_BITS; b++) r |= ((i >> b) & 1) << (HALF_BITS - 1 - b);
        p->rev[i] = (uint16_t)r;
    }
}

void gn_rfft512(const gn_rfft512_plan *p, const float *x, float *re, float *im) {
    float zr[HALF], zi[HALF];
    for (int i = 0; i < HALF; i++) {
        zr[p->rev[i]] = x[2 * i];
        zi[p->rev[i]] = x[2 * i + 1];
    }
    for (int len = 2; len <= HALF; len <<= 1) {
        const int half = len / 2, stride = HALF / len;
        for (int start = 0; start < HALF; start += len) {
            for (int k = 0; k < half; k++) {
                const float wr = p->tw_re[k * stride], wi = p->tw_im[k * stride];
                const int a = start + k, b = a + half;
                const float tr = zr[b] * wr - zi[b] * wi;
                const float ti = zr[b] * wi + zi[b] * wr;
                zr[b] = zr[a] - tr;
                zi[b] = zi[a] - ti;
                zr[a] += tr;
                zi[a] += ti;
            }
        }
    }
    /* Z = E + iO with E, O the spectra of the even and odd samples; X[k] = E[k] + w^k O[k]. */
    re[0] = zr[0] + zi[0];
    im[0] = 0.0f;
    re[HALF] = zr[0] - zi[0];
    im[HALF] = 0.0f;
    for (int k = 1; k < HALF; k++) {
        const float er = 0.5f * (zr[k] + zr[HALF - k]), ei = 0.5f * (zi[k] - zi[HALF - k]);
        const float or_ = 0.5f * (zi[k] + zi[HALF - k]), oi = -0.5f * (zr[k] - zr[HALF - k]);
        const float wr = p->split_re[k], wi = p->split_im[k];
        re[k] = er + (or_ * wr - oi * wi);
        im[k] = ei + (or_ * wi + oi * wr);
    }
}
