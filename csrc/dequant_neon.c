/* AArch64 NEON dequantization. Same float operations in the same order as the scalar twin
 * (exact integer->float conversion, then one multiply, or multiply and subtract for Q4_K; the
 * build's -ffp-contract=off keeps the compiler from fusing them), so the results are
 * bit-identical to it. The one exception: FCVTL sets the quiet bit of a signalling-NaN half,
 * which the scalar path copies unchanged. */
#if defined(__aarch64__) || defined(_M_ARM64)
#include <arm_neon.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

static inline float32x4_t to_f32(int16x4_t v) { return vcvtq_f32_s32(vmovl_s16(v)); }

/* dst[0:16] = d * (float)q for 16 signed bytes */
static inline void scale16(float *dst, int8x16_t q, float32x4_t d) {
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_s8(vget_high_s8(q));
    vst1q_f32(dst, vmulq_f32(d, to_f32(vget_low_s16(lo))));
    vst1q_f32(dst + 4, vmulq_f32(d, to_f32(vget_high_s16(lo))));
    vst1q_f32(dst + 8, vmulq_f32(d, to_f32(vget_low_s16(hi))));
    vst1q_f32(dst + 12, vmulq_f32(d, to_f32(vget_high_s16(hi))));
}

/* dst[0:16] = d * (float)q - m for 16 bytes in 0..15 */
static inline void affine16(float *dst, uint8x16_t q, float32x4_t d, float32x4_t m) {
    const int16x8_t lo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(q)));
    const int16x8_t hi = vreinterpretq_s16_u16(vmovl_u8(vget_high_u8(q)));
    vst1q_f32(dst, vsubq_f32(vmulq_f32(d, to_f32(vget_low_s16(lo))), m));
    vst1q_f32(dst + 4, vsubq_f32(vmulq_f32(d, to_f32(vget_high_s16(lo))), m));
    vst1q_f32(dst + 8, vsubq_f32(vmulq_f32(d, to_f32(vget_low_s16(hi))), m));
    vst1q_f32(dst + 12, vsubq_f32(vmulq_f32(d, to_f32(vget_high_s16(hi))), m));
}

static inline uint8x16_t low_nibbles(uint8x16_t q) { return vandq_u8(q, vdupq_n_u8(0x0F)); }
static inline uint8x16_t high_nibbles(uint8x16_t q) { return vshrq_n_u8(q, 4); }

void gn_dequant_f16_neon(const void *src, float *dst, int64_t n) {
    const uint16_t *h = (const uint16_t *)src;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h + i))));
    for (; i < n; i++) dst[i] = gn_f16_to_f32(h[i]);
}

void gn_to_f16_neon(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(dst + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
    for (; i < n; i++) dst[i] = gn_f32_to_f16(src[i]);
}

void gn_dequant_bf16_neon(const void *src, float *dst, int64_t n) {
    const uint16_t *h = (const uint16_t *)src;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(h + i), 16)));
    for (; i < n; i++) dst[i] = gn_bf16_to_f32(h[i]);
}

void gn_dequant_q4_0_neon(const void *src, float *dst, int64_t n) {
    const block_q4_0 *b = (const block_q4_0 *)src;
    const int8x16_t eight = vdupq_n_s8(8);
    for (int64_t i = 0; i < n / QK4_0; i++, dst += QK4_0) {
        const float32x4_t d = vdupq_n_f32(gn_f16_to_f32(b[i].d));
        const uint8x16_t q = vld1q_u8(b[i].qs);
        scale16(dst, vsubq_s8(vreinterpretq_s8_u8(low_nibbles(q)), eight), d);
        scale16(dst + 16, vsubq_s8(vreinterpretq_s8_u8(high_nibbles(q)), eight), d);
    }
}

void gn_dequant_q8_0_neon(const void *src, float *dst, int64_t n) {
    const block_q8_0 *b = (const block_q8_0 *)src;
    for (int64_t i = 0; i < n / QK8_0; i++, dst += QK8_0) {
        const float32x4_t d = vdupq_n_f32(gn_f16_to_f32(b[i].d));
        scale16(dst, vld1q_s8(b[i].qs), d);
        scale16(dst + 16, vld1q_s8(b[i].qs + 16), d);
    }
}

void gn_dequant_q4_k_neon(const void *src, float *dst, int64_t n) {
    const block_q4_K *b = (const block_q4_K *)src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = gn_f16_to_f32(b[i].d), dmin = gn_f16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int j = 0; j < 8; j += 2, q += 32, dst += 64) {
            uint8_t sc, m;
            gn_q4k_scale_min(j, b[i].scales, &sc, &m);
            const float32x4_t d1 = vdupq_n_f32(d * (float)sc), m1 = vdupq_n_f32(dmin * (float)m);
            gn_q4k_scale_min(j + 1, b[i].scales, &sc, &m);
            const float32x4_t d2 = vdupq_n_f32(d * (float)sc), m2 = vdupq_n_f32(dmin * (float)m);
            const uint8x16_t qa = vld1q_u8(q), qb = vld1q_u8(q + 16);
            affine16(dst, low_nibbles(qa), d1, m1);
            affine16(dst + 16, low_nibbles(qb), d1, m1);
            affine16(dst + 32, high_nibbles(qa), d2, m2);
            affine16(dst + 48, high_nibbles(qb), d2, m2);
        }
    }
}

/* (low 4 bits) | (2 high bits << 4), minus 32: the signed 6-bit quant of Q6_K */
static inline int8x16_t q6(uint8x16_t low4, uint8x16_t qh, int shift) {
    const uint8x16_t hi2 = vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)-shift)), vdupq_n_u8(3));
    const uint8x16_t v = vorrq_u8(low4, vshlq_n_u8(hi2, 4));
    return vsubq_s8(vreinterpretq_s8_u8(v), vdupq_n_s8(32));
}

void gn_dequant_q6_k_neon(const void *src, float *dst, int64_t n) {
    const block_q6_K *b = (const block_q6_K *)src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = gn_f16_to_f32(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int half = 0; half < 2; half++, dst += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l += 16) {
                const int is = l / 16;
                const uint8x16_t la = vld1q_u8(ql + l), lb = vld1q_u8(ql + l + 32);
                const uint8x16_t h = vld1q_u8(qh + l);
                scale16(dst + l, q6(low_nibbles(la), h, 0), vdupq_n_f32(d * (float)sc[is]));
                scale16(dst + l + 32, q6(low_nibbles(lb), h, 2), vdupq_n_f32(d * (float)sc[is + 2]));
                scale16(dst + l + 64, q6(high_nibbles(la), h, 4), vdupq_n_f32(d * (float)sc[is + 4]));
                scale16(dst + l + 96, q6(high_nibbles(lb), h, 6), vdupq_n_f32(d * (float)sc[is + 6]));
            }
        }
    }
}
#endif
