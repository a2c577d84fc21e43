/* AVX2 depthwise convolution: conv_dw_vec.h over vec_avx2.h. */
#if defined(__x86_64__) || defined(_M_X64)
#include "vec_avx2.h"

#include "conv_dw_vec.h"
#endif
