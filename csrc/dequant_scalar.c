/* Scalar dequantization, one function per type. The arithmetic follows the gguf package's
 * numpy reference operation for operation (no FMA contraction; the build passes
 * -ffp-contract=off), so results are bit-identical to it. */
#include "gn_kernels.h"
#include "quant_blocks.h"

void gn_dequant_f32_scalar(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void gn_dequant_f16_scalar(const void *src, float *dst, int64_t n) {
    const uint16_t *h = (const uint16_t *)src;
    for (int64_t i = 0; i < n; i++) dst[i] = gn_f16_to_f32(h[i]);
}

void gn_to_f16_scalar(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = gn_f32_to_f16(src[i]);
}

void gn_dequant_bf16_scalar(const void *src, float *dst, int64_t n) {
    const uint16_t *h = (const uint16_t *)src;
    for (int64_t i = 0; i < n; i++) dst[i] = gn_bf16_to_f32(h[i]);
}

void gn_dequant_q4_0_scalar(const void *src, float *dst, int64_t n) {
    const block_q4_0 *b = (const block_q4_0 *)src;
    for (int64_t i = 0; i < n / QK4_0; i++, dst += QK4_0) {
        const float d = gn_f16_to_f32(b[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            dst[j] = d * (float)((int)(b[i].qs[j] & 0x0F) - 8);
            dst[j + QK4_0 / 2] = d * (float)((int)(b[i].qs[j] >> 4) - 8);
        }
    }
}

void gn_dequant_q8_0_scalar(const void *src, float *dst, int64_t n) {
    const block_q8_0 *b = (const block_q8_0 *)src;
    for (int64_t i = 0; i < n / QK8_0; i++, dst += QK8_0) {
        const float d = gn_f16_to_f32(b[i].d);
        for (int j = 0; j < QK8_0; j++) dst[j] = d * (float)b[i].qs[j];
    }
}

void gn_dequant_q4_k_scalar(const void *src, float *dst, int64_t n) {
    const block_q4_K *b = (const block_q4_K *)src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = gn_f16_to_f32(b[i].d), dmin = gn_f16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int j = 0; j < 8; j += 2, q += 32) {
            uint8_t sc, m;
            gn_q4k_scale_min(j, b[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            gn_q4k_scale_min(j + 1, b[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++) *dst++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *dst++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void gn_dequant_q6_k_scalar(const void *src, float *dst, int64_t n) {
    const block_q6_K *b = (const block_q6_K *)src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = gn_f16_to_f32(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int half = 0; half < 2; half++, dst += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = (int)((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                const int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                dst[l] = (d * (float)sc[is]) * (float)q1;
                dst[l + 32] = (d * (float)sc[is + 2]) * (float)q2;
                dst[l + 64] = (d * (float)sc[is + 4]) * (float)q3;
                dst[l + 96] = (d * (float)sc[is + 6]) * (float)q4;
            }
        }
    }
}
