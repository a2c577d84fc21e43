/* AVX2 probe kernels: 256-bit loads, and 12 independent FMA chains (more than FMA latency
 * times the FMA ports of current x86 cores, so the ports, not the chains, set the rate). */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "gn_kernels.h"

#define ACC 12

uint64_t gn_probe_read_avx2(const void *buf, size_t bytes) {
    const unsigned char *p = buf;
    __m256i s0 = _mm256_setzero_si256(), s1 = s0;
    for (size_t i = 0; i < bytes; i += 64) {
        s0 = _mm256_add_epi64(s0, _mm256_loadu_si256((const __m256i *)(p + i)));
        s1 = _mm256_add_epi64(s1, _mm256_loadu_si256((const __m256i *)(p + i + 32)));
    }
    uint64_t out[4];
    _mm256_storeu_si256((__m256i *)out, _mm256_add_epi64(s0, s1));
    return out[0] + out[1] + out[2] + out[3];
}

int64_t gn_probe_fma_avx2(int64_t iters, float *sink) {
    __m256 acc[ACC];
    const __m256 m = _mm256_set1_ps(0.999f), a = _mm256_set1_ps(0.001f);
    for (int k = 0; k < ACC; k++) acc[k] = _mm256_set1_ps((float)k);
    for (int64_t i = 0; i < iters; i++)
        for (int k = 0; k < ACC; k++) acc[k] = _mm256_fmadd_ps(acc[k], m, a);
    __m256 s = acc[0];
    for (int k = 1; k < ACC; k++) s = _mm256_add_ps(s, acc[k]);
    float out[8];
    _mm256_storeu_ps(out, s);
    *sink = out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
    return iters * ACC * 8 * 2;
}

/* Byte products as the AVX2 int8 kernels form them: maddubs (32 products summed in pairs),
 * widened into int32 by madd, 64 integer ops per pair of instructions. Each chain feeds its
 * sum back as the next bytes, so nothing is loop-invariant. */
int64_t gn_probe_int8_avx2(int64_t iters, float *sink) {
    __m256i acc[ACC];
    const __m256i alt = _mm256_set1_epi16((short)0xff01); /* bytes 1, -1 */
    const __m256i ones16 = _mm256_set1_epi16(1);
    for (int k = 0; k < ACC; k++) acc[k] = _mm256_set1_epi32(k);
    for (int64_t i = 0; i < iters; i++)
        for (int k = 0; k < ACC; k++)
            acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(_mm256_maddubs_epi16(acc[k], alt), ones16));
    __m256i s = acc[0];
    for (int k = 1; k < ACC; k++) s = _mm256_add_epi32(s, acc[k]);
    int32_t out[8];
    _mm256_storeu_si256((__m256i *)out, s);
    *sink = (float)(out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7]);
    return iters * ACC * 32 * 2;
}
#endif
