/* A feed-forward block, down(act(up(x))), computed as gn_matmul, gn_activation and gn_matmul
 * would compute it. Where both products take the bfloat16 path, the hidden rows never exist
 * in float32: the first product's tiles go through act into the bfloat16 the second product
 * reads (gn_matmul_bf16_rows). That saves a pass of act and one of conversion over [M, F]
 * floats, which at the encoder's shapes (550 x 4096, 9 MB) come from beyond L2, and the bits
 * are the same. */
#include <stdlib.h>

#include "gn_kernels.h"
#include "gn_ops.h"
#include "matmul_paths.h"

static gn_status fused(gn_pool *pool, const float *x, int64_t M, int64_t K, const void *w_up,
                       int up_type, int64_t F, int64_t up_rb, const float *up_bias,
                       gn_unary_fn act, const void *w_down, int down_type, int64_t N,
                       int64_t down_rb, const float *down_bias, float *y) {
    const int64_t kp = K + (K & 1), fp = F + (F & 1);
    if (kp > INT64_MAX - fp || M > (int64_t)(SIZE_MAX / 4) / (kp + fp)) return GN_ERR_NOMEM;
    uint16_t *xb = (uint16_t *)gn_pool_shared_take(pool, (size_t)(M * (kp + fp)) * sizeof(uint16_t));
    if (!xb) return GN_ERR_NOMEM;
    uint16_t *hb = xb + M * kp; /* [M, fp]: bf16(act(x W_up^T + b_up)) */
    gn_bf16_rows(pool, x, M, K, xb);
    gn_status s = gn_matmul_bf16_rows(pool, xb, M, K, w_up, up_type, F, up_rb, up_bias, NULL, hb,
                                      fp, act);
    if (s == GN_OK) {
        if (fp > F)
            for (int64_t m = 0; m < M; m++) hb[m * fp + F] = 0; /* the pad of an odd row */
        s = gn_matmul_bf16_rows(pool, hb, M, F, w_down, down_type, N, down_rb, down_bias, y,
                                NULL, 0, NULL);
    }
    gn_pool_shared_give(pool, xb);
    return s;
}

gn_status gn_ffn(gn_pool *pool, const float *x, int64_t M, int64_t K, const void *w_up,
                 int up_type, int64_t F, size_t up_bytes, const float *up_bias, int act,
                 const void *w_down, int down_type, int64_t N, size_t down_bytes,
                 const float *down_bias, float *y, int flags) {
    const gn_unary_fn f = gn_act_fn(act);
    if (!f || (flags & ~(GN_MATMUL_INT8 | GN_MATMUL_BF16))) return GN_ERR_INVALID;
    int64_t up_rb, down_rb;
    gn_status s = gn_matmul_check(x, M, K, w_up, up_type, F, up_bytes, y, &up_rb);
    if (s == GN_OK) s = gn_matmul_check(x, M, F, w_down, down_type, N, down_bytes, y, &down_rb);
    if (s != GN_OK) return s;
    if (gn_matmul_path(up_type, flags, M) == GN_PATH_BF16 &&
        gn_matmul_path(down_type, flags, M) == GN_PATH_BF16)
        return fused(pool, x, M, K, w_up, up_type, F, up_rb, up_bias, f, w_down, down_type, N,
                     down_rb, down_bias, y);
    if (M > (int64_t)(SIZE_MAX / sizeof(float)) / F) return GN_ERR_NOMEM;
    float *h = (float *)malloc((size_t)(M * F) * sizeof(float)); /* [M, F] */
    if (!h) return GN_ERR_NOMEM;
    s = gn_matmul(pool, x, M, K, w_up, up_type, F, up_bytes, up_bias, h, flags);
    if (s == GN_OK) s = gn_activation(pool, act, h, M * F, h);
    if (s == GN_OK) s = gn_matmul(pool, h, M, F, w_down, down_type, N, down_bytes, down_bias, y, flags);
    free(h);
    return s;
}
