/* AVX2 LayerNorm and RMSNorm rows: norm_vec.h over vec_avx2.h. */
#if defined(__x86_64__) || defined(_M_X64)
#include "vec_avx2.h"

#include "norm_vec.h"
#endif
