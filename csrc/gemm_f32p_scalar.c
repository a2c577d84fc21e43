/* The scalar twins of the packed float32 GEMM (gn_gemm_f32p_fn) and its packing. Each output one chain of
 * fused multiply-adds in k order from its bias, which is what the SIMD kernels compute, so
 * they agree bit for bit whatever their blocking. */
#include <math.h>

#include "gn_kernels.h"

void gn_gemm_f32p_scalar(int64_t M, int64_t cols, int64_t K, const float *xp, const float *panel,
                         const float *bias, float *y, int64_t ldy) {
    for (int64_t m = 0; m < M; m++) {
        const float *xt = xp + m / GN_F32P_TILE * GN_F32P_TILE * K + m % GN_F32P_TILE;
        for (int64_t n = 0; n < cols; n++) {
            float acc = bias ? bias[n] : 0.0f;
            for (int64_t k = 0; k < K; k++)
                acc = fmaf(xt[k * GN_F32P_TILE], panel[k * GN_F32_PANEL + n], acc);
            y[m * ldy + n] = acc;
        }
    }
}

void gn_pack_f32p_scalar(const float *rows, int64_t ld, int64_t n, int64_t len, float *dst,
                         int64_t dst_ld, int width) {
    for (int64_t k = 0; k < len; k++)
        for (int r = 0; r < width; r++) dst[k * dst_ld + r] = r < n ? rows[r * ld + k] : 0.0f;
}
