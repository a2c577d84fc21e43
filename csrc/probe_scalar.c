/* Portable probe kernels: what plain C reaches, and the fallback of every ISA table. */
#include "gn_kernels.h"

#define ACC 16

uint64_t gn_probe_read_scalar(const void *buf, size_t bytes) {
    const uint64_t *p = buf;
    uint64_t s[8] = {0};
    for (size_t i = 0; i < bytes / 8; i += 8)
        for (int k = 0; k < 8; k++) s[k] += p[i + k];
    return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

/* ACC independent multiply-add chains, 2 FLOPs each per iteration. acc*m + a converges to
 * a / (1 - m), so values stay normal however long it runs. */
int64_t gn_probe_fma_scalar(int64_t iters, float *sink) {
    float acc[ACC];
    const float m = 0.999f, a = 0.001f;
    for (int k = 0; k < ACC; k++) acc[k] = (float)k;
    for (int64_t i = 0; i < iters; i++)
        for (int k = 0; k < ACC; k++) acc[k] = acc[k] * m + a;
    float s = 0.0f;
    for (int k = 0; k < ACC; k++) s += acc[k];
    *sink = s;
    return iters * ACC * 2;
}
