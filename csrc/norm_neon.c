/* NEON LayerNorm and RMSNorm rows: norm_vec.h over vec_neon.h. */
#if defined(__aarch64__) || defined(_M_ARM64)
#include "vec_neon.h"

#include "norm_vec.h"
#endif
