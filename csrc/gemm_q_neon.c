/* The int8-activation GEMM kernels for baseline AArch64 NEON (gemm_q_neon_tiles.h), with the
 * 16-byte dot product made of widening multiplies: two int8 products fit int16 even for
 * -128 * -127 pairs, and the pairwise add widens them into the int32 lanes. */
#if defined(__aarch64__) || defined(_M_ARM64)
#include <arm_neon.h>

static inline int32x4_t gn_dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
    return vpadalq_s16(acc, vmlal_high_s8(vmull_s8(vget_low_s8(a), vget_low_s8(b)), a, b));
}

#define GN_Q_SUFFIX neon
#include "gemm_q_neon_tiles.h"
#endif
