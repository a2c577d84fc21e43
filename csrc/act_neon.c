/* NEON activations, GLU/SwiGLU and softmax: act_vec.h over vec_neon.h. */
#if defined(__aarch64__) || defined(_M_ARM64)
#include "vec_neon.h"

#include "act_vec.h"
#endif
