/* Depthwise convolution over time, vectorized across channels, over the vector vocabulary of a
 * vec_<isa>.h header included first. Rows are a power-of-two bytes apart in the model
 * (C = 2048), so the k rows one output frame reads all fall in one L1 set and evict each
 * other. Instead, a strip of VW channels produces CONV_DW_FRAMES output frames at once: the input
 * rows they read and the strip's taps are loaded once into small contiguous arrays (zeros for
 * the padding, so no tap needs a bounds test), and the frames accumulate in registers. */
#ifndef GN_CONV_DW_VEC_H
#define GN_CONV_DW_VEC_H

#include "gn_kernels.h"

#define CONV_DW_FRAMES 8
#define CONV_DW_TAPS 16 /* taps held at once; longer kernels run in groups */

/* frames t <= t + f < t + nf (nf <= CONV_DW_FRAMES) of channels c <= ch < c + nc (nc <= VW) */
static GN_ALWAYS_INLINE void conv_block(int full_strip, const float *x, int64_t T, int64_t C,
                                        const float *wt, int64_t k, int64_t t, int64_t nf,
                                        int64_t c, int64_t nc, float *y) {
    const int64_t half = k / 2;
    vec acc[CONV_DW_FRAMES], wv[CONV_DW_TAPS], xv[CONV_DW_FRAMES + CONV_DW_TAPS - 1];
    for (int f = 0; f < CONV_DW_FRAMES; f++) acc[f] = v_set1(0.0f);
    for (int64_t g = 0; g < k; g += CONV_DW_TAPS) {
        const int64_t ng = k - g < CONV_DW_TAPS ? k - g : CONV_DW_TAPS;
        for (int64_t j = 0; j < ng; j++)
            wv[j] = full_strip ? v_load(wt + (g + j) * C + c) : v_load_part(wt + (g + j) * C + c, nc);
        /* frame t + f, tap g + j reads input row t + g - half + f + j = xv[f + j]; rows outside
         * the input are the zero padding */
        for (int64_t i = 0; i < CONV_DW_FRAMES + ng - 1; i++) {
            const int64_t s = t + g - half + i;
            xv[i] = s < 0 || s >= T ? v_set1(0.0f)
                    : full_strip    ? v_load(x + s * C + c)
                                    : v_load_part(x + s * C + c, nc);
        }
        for (int64_t j = 0; j < ng; j++)
            for (int f = 0; f < CONV_DW_FRAMES; f++) acc[f] = v_fma(wv[j], xv[f + j], acc[f]);
    }
    for (int f = 0; f < nf; f++) {
        if (full_strip)
            v_store(y + (t + f) * C + c, acc[f]);
        else
            v_store_part(y + (t + f) * C + c, acc[f], nc);
    }
}

void GN_VEC_NAME(gn_conv_dw_rows)(const float *x, int64_t T, int64_t C, const float *wt, int64_t k,
                                  int64_t t0, int64_t t1, float *y) {
    for (int64_t t = t0; t < t1; t += CONV_DW_FRAMES) {
        const int64_t nf = t1 - t < CONV_DW_FRAMES ? t1 - t : CONV_DW_FRAMES;
        for (int64_t c = 0; c < C; c += VW) {
            const int64_t nc = C - c < VW ? C - c : VW;
            if (nc == VW)
                conv_block(1, x, T, C, wt, k, t, nf, c, nc, y);
            else
                conv_block(0, x, T, C, wt, k, t, nf, c, nc, y);
        }
    }
}

#endif
