/* Real FFT of the 512-point frames the audio front-end needs. Internal to csrc/. */
#ifndef GN_FFT_H
#define GN_FFT_H

#include <stdint.h>

#define GN_RFFT_N 512
#define GN_RFFT_BINS (GN_RFFT_N / 2 + 1)

/* Twiddles and bit-reversal order, read-only once made, so one plan serves every thread. */
typedef struct {
    float tw_re[GN_RFFT_N / 4], tw_im[GN_RFFT_N / 4];       /* e^{-2 pi i k / (N/2)} */
    float split_re[GN_RFFT_N / 2], split_im[GN_RFFT_N / 2]; /* e^{-2 pi i k / N} */
    uint16_t rev[GN_RFFT_N / 2];
} gn_rfft512_plan;

void gn_rfft512_plan_init(gn_rfft512_plan *plan);
/* One-sided spectrum of x[0:512]: re/im[0:257], with no scaling. */
void gn_rfft512(const gn_rfft512_plan *plan, const float *x, float *re, float *im);

#endif
