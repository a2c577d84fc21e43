/* AArch64 NEON F32 GEMM (y = x @ w^T, both operands K-contiguous). A register tile of 4 rows
 * of x by 4 rows of w keeps 16 dot products in accumulators (of 32 vector registers), so each
 * loaded vector feeds four FMAs; the sums are reduced only once, at the end of K. */
#if defined(__aarch64__) || defined(_M_ARM64)
#include <arm_neon.h>
#include <string.h>

#include "gn_kernels.h"

#define MR 4
#define NR 4

/* y[i, j] = x[i, :] . w[j, :] for i < mr, j < nr; inlined with constant mr, nr so that the
 * accumulators live in registers. */
static GN_ALWAYS_INLINE void tile(int mr, int nr, int64_t K, const float *x, int64_t ldx,
                                  const float *w, int64_t ldw, float *y, int64_t ldy) {
    float32x4_t acc[MR][NR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) acc[i][j] = vdupq_n_f32(0.0f);
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {
        float32x4_t wv[NR];
        for (int j = 0; j < nr; j++) wv[j] = vld1q_f32(w + j * ldw + k);
        for (int i = 0; i < mr; i++) {
            const float32x4_t xv = vld1q_f32(x + i * ldx + k);
            for (int j = 0; j < nr; j++) acc[i][j] = vfmaq_f32(acc[i][j], xv, wv[j]);
        }
    }
    if (k < K) { /* the last K % 4 elements, zero-padded to a whole vector */
        float pad[4] = {0, 0, 0, 0};
        float32x4_t wv[NR];
        for (int j = 0; j < nr; j++) {
            memcpy(pad, w + j * ldw + k, (size_t)(K - k) * sizeof(float));
            wv[j] = vld1q_f32(pad);
        }
        for (int i = 0; i < mr; i++) {
            memcpy(pad, x + i * ldx + k, (size_t)(K - k) * sizeof(float));
            const float32x4_t xv = vld1q_f32(pad);
            for (int j = 0; j < nr; j++) acc[i][j] = vfmaq_f32(acc[i][j], xv, wv[j]);
        }
    }
    for (int i = 0; i < mr; i++) {
        if (nr == NR)
            vst1q_f32(y + i * ldy, vpaddq_f32(vpaddq_f32(acc[i][0], acc[i][1]),
                                              vpaddq_f32(acc[i][2], acc[i][3])));
        else
            for (int j = 0; j < nr; j++) y[i * ldy + j] = vaddvq_f32(acc[i][j]);
    }
}

/* One row block of x against all of w: full NR tiles, then single rows of w. */
static GN_ALWAYS_INLINE void row_block(int mr, int64_t N, int64_t K, const float *x, int64_t ldx,
                                       const float *w, int64_t ldw, float *y, int64_t ldy) {
    int64_t n = 0;
    for (; n + NR <= N; n += NR) tile(mr, NR, K, x, ldx, w + n * ldw, ldw, y + n, ldy);
    for (; n < N; n++) tile(mr, 1, K, x, ldx, w + n * ldw, ldw, y + n, ldy);
}

void gn_gemm_f32_neon(int64_t M, int64_t N, int64_t K, const float *x, int64_t ldx,
                      const float *w, int64_t ldw, float *y, int64_t ldy) {
    int64_t m = 0;
    for (; m + MR <= M; m += MR) row_block(MR, N, K, x + m * ldx, ldx, w, ldw, y + m * ldy, ldy);
    switch (M - m) {
    case 3: row_block(3, N, K, x + m * ldx, ldx, w, ldw, y + m * ldy, ldy); break;
    case 2: row_block(2, N, K, x + m * ldx, ldx, w, ldw, y + m * ldy, ldy); break;
    case 1: row_block(1, N, K, x + m * ldx, ldx, w, ldw, y + m * ldy, ldy); break;
    default: break;
    }
}
#endif
