/* NEON depthwise convolution: conv_dw_vec.h over vec_neon.h. */
#if defined(__aarch64__) || defined(_M_ARM64)
#include "vec_neon.h"

#include "conv_dw_vec.h"
#endif
