/* Portable twins of the bfloat16 kernels (gn_kernels.h states the packed-panel contract): the
 * reference the AVX-512 BF16 kernels are tested against. Not in any table: a CPU without
 * bfloat16 dot products multiplies faster in exact float32. */
#include <string.h>

#include "gn_kernels.h"

/* VCVTNE2PS2BF16's rule, integer rounding included, so both twins agree bit for bit. */
static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    const uint32_t exp = u & 0x7F800000u, man = u & 0x007FFFFFu;
    if (exp == 0) return (uint16_t)((u >> 16) & 0x8000u); /* zero or denormal: signed zero */
    if (exp == 0x7F800000u) {
        if (man == 0) return (uint16_t)(u >> 16);        /* infinity */
        return (uint16_t)((u >> 16) | 0x0040u);          /* NaN, made quiet */
    }
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

static float from_bf16(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void gn_to_bf16_scalar(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = to_bf16(src[i]);
}

void gn_pack_bf16_scalar(const float *rows, int64_t ld, int64_t n, int64_t K, uint16_t *panel,
                         int64_t r0) {
    for (int64_t r = 0; r < 16; r++)
        for (int64_t k = 0; k < K; k += 2) {
            uint16_t *d = panel + 2 * ((k / 2) * GN_BF16_PANEL + r0 + r);
            d[0] = r < n ? to_bf16(rows[r * ld + k]) : 0;
            d[1] = r < n && k + 1 < K ? to_bf16(rows[r * ld + k + 1]) : 0;
        }
}

void gn_gemm_bf16_scalar(int64_t M, int64_t cols, int64_t K, const uint16_t *x, int64_t ldx,
                         const uint16_t *panel, const float *bias, float *y, int64_t ldy) {
    for (int64_t m = 0; m < M; m++) {
        const uint16_t *xr = x + m * ldx;
        for (int64_t n = 0; n < cols; n++) {
            float acc = bias ? bias[n] : 0.0f;
            for (int64_t p = 0; p < K / 2; p++) {
                const uint16_t *w = panel + 2 * (p * GN_BF16_PANEL + n);
                /* bfloat16 products are exact in float32; only the sums round */
                acc += from_bf16(xr[2 * p]) * from_bf16(w[0]);
                acc += from_bf16(xr[2 * p + 1]) * from_bf16(w[1]);
            }
            y[m * ldy + n] = acc;
        }
    }
}
