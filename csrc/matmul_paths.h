/* The arithmetic paths of gn_matmul other than exact float32, one file each. Arguments are
 * validated by gn_matmul before any path runs. Internal to the library. */
#ifndef GN_MATMUL_PATHS_H
#define GN_MATMUL_PATHS_H

#include "gn.h"

/* matmul_q8.c: block-quantized W x int8-quantized x (GN_MATMUL_INT8). */
int gn_matmul_q8_available(int wtype);
gn_status gn_matmul_q8(gn_pool *pool, const float *x, int64_t M, int64_t K, const void *w,
                       int wtype, int64_t N, int64_t w_row_bytes, const float *bias, float *y);

#endif
