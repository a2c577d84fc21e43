/* The int8-activation GEMM kernels for AArch64 with the dot-product extension (SDOT, Armv8.2;
 * selected at run time only where the CPU reports it), over gemm_q_neon_tiles.h. */
#if defined(__aarch64__) || defined(_M_ARM64)
#include <arm_neon.h>

static inline int32x4_t gn_dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
    return vdotq_s32(acc, a, b);
}

#define GN_Q_SUFFIX dotprod
#include "gemm_q_neon_tiles.h"
#endif
