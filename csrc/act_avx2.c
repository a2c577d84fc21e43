/* AVX2 activations, GLU/SwiGLU and softmax: act_vec.h over vec_avx2.h. */
#if defined(__x86_64__) || defined(_M_X64)
#include "vec_avx2.h"

#include "act_vec.h"
#endif
