/* The 256-bit vpdpbusd and vpdpwssd of the AVX-VNNI kernels (*_avxvnni.c). GN_AVXVNNI is
 * defined where the includer can build them: with the VEX encoding the compiler was asked for
 * (-mavxvnni: GCC 11, clang 12 and later), or with the EVEX encoding of the same instructions
 * (GN_AVXVNNI_EVEX, with AVX-512 VL and VNNI flags), which is how tests run the kernels on
 * AVX-512 machines: no emulator here executes AVX-VNNI. Elsewhere the files build no kernels
 * and their getters return NULL. */
#ifndef GN_AVXVNNI_H
#define GN_AVXVNNI_H

#include <immintrin.h>

#if defined(GN_AVXVNNI_EVEX)
#define GN_AVXVNNI 1
#define GN_DPBUSD256 _mm256_dpbusd_epi32
#define GN_DPWSSD256 _mm256_dpwssd_epi32
#elif defined(__AVXVNNI__)
#define GN_AVXVNNI 1
#define GN_DPBUSD256 _mm256_dpbusd_avx_epi32
#define GN_DPWSSD256 _mm256_dpwssd_avx_epi32
#endif

#endif
