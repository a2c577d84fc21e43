/* NEON probe kernels: 128-bit loads and 12 independent FMA chains. */
#if defined(__aarch64__) || defined(_M_ARM64)
#include <arm_neon.h>

#include "gn_kernels.h"

#define ACC 12

uint64_t gn_probe_read_neon(const void *buf, size_t bytes) {
    const uint64_t *p = buf;
    uint64x2_t s0 = vdupq_n_u64(0), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < bytes / 8; i += 8) {
        s0 = vaddq_u64(s0, vld1q_u64(p + i));
        s1 = vaddq_u64(s1, vld1q_u64(p + i + 2));
        s2 = vaddq_u64(s2, vld1q_u64(p + i + 4));
        s3 = vaddq_u64(s3, vld1q_u64(p + i + 6));
    }
    return vaddvq_u64(vaddq_u64(vaddq_u64(s0, s1), vaddq_u64(s2, s3)));
}

int64_t gn_probe_fma_neon(int64_t iters, float *sink) {
    float32x4_t acc[ACC];
    const float32x4_t m = vdupq_n_f32(0.999f), a = vdupq_n_f32(0.001f);
    for (int k = 0; k < ACC; k++) acc[k] = vdupq_n_f32((float)k);
    for (int64_t i = 0; i < iters; i++)
        for (int k = 0; k < ACC; k++) acc[k] = vfmaq_f32(a, acc[k], m);
    float32x4_t s = acc[0];
    for (int k = 1; k < ACC; k++) s = vaddq_f32(s, acc[k]);
    *sink = vaddvq_f32(s);
    return iters * ACC * 4 * 2;
}
#endif
