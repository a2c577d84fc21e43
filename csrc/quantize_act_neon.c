/* Activation rows to Q8_K / Q8_32 blocks (rule in quant_blocks.h), the NEON twin. The same
 * float operations as the scalar twin (an exact max, one division for the inverse scale, one
 * multiply per value) and FCVTNS, which rounds half to even like lrintf in the default mode,
 * so the bytes are those of the scalar twin. */
#if defined(__aarch64__) || defined(_M_ARM64)
#include <arm_neon.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

/* amax over n values; NaN where one of them is. */
static inline float block_amax(const float *x, int n) {
    float32x4_t m = vdupq_n_f32(0.0f);
    uint32x4_t ordered = vdupq_n_u32(0xFFFFFFFFu);
    for (int j = 0; j < n; j += 4) {
        const float32x4_t v = vld1q_f32(x + j);
        m = vmaxq_f32(m, vabsq_f32(v));
        ordered = vandq_u32(ordered, vceqq_f32(v, v));
    }
    return vminvq_u32(ordered) ? vmaxvq_f32(m) : NAN;
}

/* 16 values -> 16 int8 in q; returns their sum. */
static inline int quantize16(const float *x, float32x4_t iscale, int8_t *q) {
    const int32x4_t a = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x), iscale));
    const int32x4_t b = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + 4), iscale));
    const int32x4_t c = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + 8), iscale));
    const int32x4_t e = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + 12), iscale));
    const int16x8_t ab = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
    const int16x8_t ce = vcombine_s16(vqmovn_s32(c), vqmovn_s32(e));
    vst1q_s8(q, vcombine_s8(vqmovn_s16(ab), vqmovn_s16(ce)));
    return vaddvq_s32(vaddq_s32(vaddq_s32(a, b), vaddq_s32(c, e)));
}

/* One block of n values (a multiple of 16); sums[i] = sum of q over the i-th 16. */
static float quantize_block(const float *x, int8_t *q, int n, int *sums) {
    const float amax = block_amax(x, n), is = gn_q8_iscale(amax);
    if (is == 0.0f) {
        memset(q, 0, (size_t)n);
        for (int j = 0; j < n / 16; j++) sums[j] = 0;
        return gn_q8_zero_d(amax);
    }
    const float32x4_t iscale = vdupq_n_f32(is);
    for (int j = 0; j < n; j += 16) sums[j / 16] = quantize16(x + j, iscale, q + j);
    return amax / 127.0f;
}

void gn_quantize_q8_k_neon(const float *x, void *dst, int64_t k) {
    block_q8_K *b = (block_q8_K *)dst;
    int sums[QK_K / 16];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        b[i].d = quantize_block(x, b[i].qs, QK_K, sums);
        for (int g = 0; g < QK_K / 16; g++) b[i].bsums[g] = (int16_t)sums[g];
        gn_q8_k_fill_sums32(&b[i]);
    }
}

void gn_quantize_q8_32_neon(const float *x, void *dst, int64_t k) {
    block_q8_32 *b = (block_q8_32 *)dst;
    int sums[2];
    for (int64_t i = 0; i < k / 32; i++, x += 32) {
        b[i].d = quantize_block(x, b[i].qs, 32, sums);
        b[i].sum = sums[0] + sums[1];
    }
}
#endif
