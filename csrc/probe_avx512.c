/* AVX-512 probe kernels: 512-bit loads, and 12 independent chains of FMAs or (where the CPU
 * has AVX-512 BF16) bfloat16 dot products. Cores that split 512-bit operations into two
 * 256-bit halves (AMD Zen 4) show the same FMA peak as AVX2 here. */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "gn_kernels.h"

#define ACC 12

uint64_t gn_probe_read_avx512(const void *buf, size_t bytes) {
    const unsigned char *p = buf;
    __m512i s = _mm512_setzero_si512();
    for (size_t i = 0; i < bytes; i += 64)
        s = _mm512_add_epi64(s, _mm512_loadu_si512((const void *)(p + i)));
    return (uint64_t)_mm512_reduce_add_epi64(s);
}

int64_t gn_probe_fma_avx512(int64_t iters, float *sink) {
    __m512 acc[ACC];
    const __m512 m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(0.001f);
    for (int k = 0; k < ACC; k++) acc[k] = _mm512_set1_ps((float)k);
    for (int64_t i = 0; i < iters; i++)
        for (int k = 0; k < ACC; k++) acc[k] = _mm512_fmadd_ps(acc[k], m, a);
    __m512 s = acc[0];
    for (int k = 1; k < ACC; k++) s = _mm512_add_ps(s, acc[k]);
    *sink = _mm512_reduce_add_ps(s);
    return iters * ACC * 16 * 2;
}

/* ACC independent chains of VDPBF16PS adding 1*1 + 1*(-1) = 0, so values stay put however
 * long it runs; 32 products (64 FLOPs) per instruction. */
int64_t gn_probe_bf16_avx512(int64_t iters, float *sink) {
    __m512 acc[ACC];
    const __m512 pm = _mm512_setr_ps(1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1);
    const __m512bh one = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1.0f), _mm512_set1_ps(1.0f));
    const __m512bh alt = _mm512_cvtne2ps_pbh(pm, pm); /* pairs (1, -1) */
    for (int k = 0; k < ACC; k++) acc[k] = _mm512_set1_ps((float)k);
    for (int64_t i = 0; i < iters; i++)
        for (int k = 0; k < ACC; k++) acc[k] = _mm512_dpbf16_ps(acc[k], one, alt);
    __m512 s = acc[0];
    for (int k = 1; k < ACC; k++) s = _mm512_add_ps(s, acc[k]);
    *sink = _mm512_reduce_add_ps(s);
    return iters * ACC * 16 * 2 * 2;
}

/* ACC independent chains of VPDPBUSD adding 1*1 + 1*(-1) + 1*1 + 1*(-1) = 0 per lane; 64
 * byte products (128 integer ops) per instruction: the ceiling of the int8 matmul path. */
int64_t gn_probe_int8_avx512(int64_t iters, float *sink) {
    __m512i acc[ACC];
    const __m512i ones = _mm512_set1_epi8(1);
    const __m512i alt = _mm512_set1_epi16((short)0xff01); /* bytes 1, -1 */
    for (int k = 0; k < ACC; k++) acc[k] = _mm512_set1_epi32(k);
    for (int64_t i = 0; i < iters; i++)
        for (int k = 0; k < ACC; k++) acc[k] = _mm512_dpbusd_epi32(acc[k], ones, alt);
    __m512i s = acc[0];
    for (int k = 1; k < ACC; k++) s = _mm512_add_epi32(s, acc[k]);
    *sink = (float)_mm512_reduce_add_epi32(s);
    return iters * ACC * 64 * 2;
}
#endif
