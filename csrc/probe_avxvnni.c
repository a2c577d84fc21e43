/* The int8 probe of the AVX-VNNI kernels (avxvnni.h): ACC independent chains of 256-bit
 * vpdpbusd adding 1*1 + 1*(-1) + 1*1 + 1*(-1) = 0 per lane, 32 byte products (64 integer ops)
 * per instruction, as the AVX-512 probe at half its width. */
#include "avxvnni.h"
#include "gn_kernels.h"

#if defined(GN_AVXVNNI)
#define ACC 12

static int64_t probe_int8(int64_t iters, float *sink) {
    __m256i acc[ACC];
    const __m256i ones = _mm256_set1_epi8(1);
    const __m256i alt = _mm256_set1_epi16((short)0xff01); /* bytes 1, -1 */
    for (int k = 0; k < ACC; k++) acc[k] = _mm256_set1_epi32(k);
    for (int64_t i = 0; i < iters; i++)
        for (int k = 0; k < ACC; k++) acc[k] = GN_DPBUSD256(acc[k], ones, alt);
    __m256i s = acc[0];
    for (int k = 1; k < ACC; k++) s = _mm256_add_epi32(s, acc[k]);
    int32_t out[8];
    _mm256_storeu_si256((__m256i *)out, s);
    *sink = (float)(out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7]);
    return iters * ACC * 32 * 2;
}

gn_probe_fma_fn gn_avxvnni_probe_int8(void) { return probe_int8; }
#else
gn_probe_fma_fn gn_avxvnni_probe_int8(void) { return NULL; }
#endif
