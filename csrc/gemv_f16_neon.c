/* Decode-sized products against F16 weights, AArch64 NEON: four W rows at a time, 8 halves
 * widened per load (FCVTL, FCVTL2) and multiplied into every x row, so W streams from memory
 * once at its stored 2 bytes per weight (see gemv_f16_avx512.c). Without it the NEON level ran
 * the scalar twin, which widens each half in software. No software prefetch: the x86 kernels'
 * (gn_prefetch_rows) was tuned on Zen 4's 4 KB pages and has not been measured on an Arm
 * core. Attention's short rows (keys of 64-128 values) keep this tile too: the across-vector
 * add here is one instruction per dot product, where x86 spends a chain of shuffles on it
 * (hence gemv_f16_avx512.c's folding path); also not measured on an Arm core. */
#if defined(__aarch64__) || defined(_M_ARM64)
#include <arm_neon.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

#define ROWS 4

static GN_ALWAYS_INLINE void rows_tile(int64_t M, int64_t R, int64_t K, const float *x,
                                       const uint16_t *w, int64_t ldw, float *y, int64_t ldy) {
    float32x4_t acc[GN_GEMV_MAX_M][ROWS];
    for (int m = 0; m < GN_GEMV_MAX_M; m++)
        for (int r = 0; r < ROWS; r++) acc[m][r] = vdupq_n_f32(0.0f);
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
        float32x4_t lo[ROWS], hi[ROWS]; /* columns k .. k + 3 and k + 4 .. k + 7 of each row */
        for (int r = 0; r < ROWS; r++) {
            const float16x8_t h = r < R ? vreinterpretq_f16_u16(vld1q_u16(w + r * ldw + k))
                                        : vreinterpretq_f16_u16(vdupq_n_u16(0));
            lo[r] = vcvt_f32_f16(vget_low_f16(h));
            hi[r] = vcvt_high_f32_f16(h);
        }
        for (int m = 0; m < GN_GEMV_MAX_M; m++) {
            if (m >= M) break;
            const float32x4_t xl = vld1q_f32(x + m * K + k), xh = vld1q_f32(x + m * K + k + 4);
            for (int r = 0; r < ROWS; r++)
                acc[m][r] = vfmaq_f32(vfmaq_f32(acc[m][r], xl, lo[r]), xh, hi[r]);
        }
    }
    for (int64_t m = 0; m < M; m++)
        for (int64_t r = 0; r < R; r++) {
            float s = vaddvq_f32(acc[m][r]);
            for (int64_t t = k; t < K; t++) s += x[m * K + t] * gn_f16_to_f32(w[r * ldw + t]);
            y[m * ldy + r] = s;
        }
}

void gn_gemv_f16_neon(int64_t M, int64_t N, int64_t K, const float *x, const uint16_t *w,
                      int64_t ldw, float *y, int64_t ldy) {
    for (int64_t n = 0; n < N; n += ROWS) {
        const int64_t R = N - n < ROWS ? N - n : ROWS;
        rows_tile(M, R, K, x, w + n * ldw, ldw, y + n, ldy);
    }
}
#endif
