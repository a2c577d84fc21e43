/* AVX2+FMA F32 GEMM over packed operands (gn_gemm_f32_packed_fn), for products with many rows
 * of x: the encoder, the projector, prefill against F16 weights.
 *
 * A 6 x 16 register tile holds 12 accumulators; per k it loads 16 W values as two vectors and
 * broadcasts one x value per row against them, so 2 loads and 6 broadcasts feed 12 FMAs (the
 * dot-product form of gemm_f32_avx2.c needs 7 loads for 12 FMAs). For that, W's rows are
 * packed here, one 128-column slab at a time, into 16-row panels, k-major; x comes packed
 * once per product (gn_kernels.h), so each slab of x is one sequential stream, and each
 * 6-row block of it, loaded into L1 once, serves the 4 panels in turn.
 *
 * Each output is summed in 128-column slabs by FMA in k order, the slabs added in order. */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "gn_kernels.h"

#define BR GN_F32_BLOCK_ROWS
#define SK GN_F32_SLAB_K
#define PNR 16                        /* W rows per panel: two vectors */
#define PANELS (GN_F32_PACKED_N / PNR)

/* GCC keeps the accumulator arrays in registers only if their loops are unrolled early */
#if defined(__GNUC__) && !defined(__clang__)
#define UNROLL_ROWS _Pragma("GCC unroll 6")
#else
#define UNROLL_ROWS
#endif

/* y[0..6, 0..16] (+)= x block [kc][6] . panel [kc][16]; `add` adds to y (slabs past the first) */
static void tile(int64_t kc, const float *xb, const float *panel, float *y, int64_t ldy, int add) {
    __m256 lo[BR], hi[BR]; /* outputs 0..7 and 8..15 of each row */
    UNROLL_ROWS
    for (int i = 0; i < BR; i++) lo[i] = hi[i] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        const __m256 w0 = _mm256_load_ps(panel + PNR * k), w1 = _mm256_load_ps(panel + PNR * k + 8);
        UNROLL_ROWS
        for (int i = 0; i < BR; i++) {
            const __m256 xv = _mm256_broadcast_ss(xb + BR * k + i);
            lo[i] = _mm256_fmadd_ps(xv, w0, lo[i]);
            hi[i] = _mm256_fmadd_ps(xv, w1, hi[i]);
        }
    }
    UNROLL_ROWS
    for (int i = 0; i < BR; i++) {
        if (add) {
            lo[i] = _mm256_add_ps(_mm256_loadu_ps(y + i * ldy), lo[i]);
            hi[i] = _mm256_add_ps(_mm256_loadu_ps(y + i * ldy + 8), hi[i]);
        }
        _mm256_storeu_ps(y + i * ldy, lo[i]);
        _mm256_storeu_ps(y + i * ldy + 8, hi[i]);
    }
}

/* The W panels of one slab: 32 KB, per thread, as a worker's stack may be small. */
static _Thread_local struct {
    _Alignas(32) float w[PANELS][SK * PNR];
} slab;

void gn_gemm_f32_packed_avx2(int64_t M, int64_t N, int64_t K, const float *xp, const float *w,
                             int64_t ldw, float *y, int64_t ldy) {
    const int64_t rows_padded = (M + BR - 1) / BR * BR;
    const int np = (int)((N + PNR - 1) / PNR);
    float spare[BR * PNR]; /* a tile short of 6 rows or 16 columns */
    for (int64_t k0 = 0; k0 < K; k0 += SK) {
        const int64_t kc = K - k0 < SK ? K - k0 : SK;
        for (int p = 0; p < np; p++)
            for (int j = 0; j < PNR; j++) {
                const int64_t n = (int64_t)p * PNR + j;
                float *dst = slab.w[p] + j;
                for (int64_t k = 0; k < kc; k++) dst[PNR * k] = n < N ? w[n * ldw + k0 + k] : 0.0f;
            }
        const float *xs = xp + k0 * rows_padded;
        for (int64_t m = 0; m < M; m += BR) {
            const float *xb = xs + m * kc;
            const int mr = (int)(M - m < BR ? M - m : BR);
            for (int p = 0; p < np; p++) {
                const int cols = (int)(N - p * PNR < PNR ? N - p * PNR : PNR);
                float *yt = y + m * ldy + p * PNR;
                if (mr == BR && cols == PNR) {
                    tile(kc, xb, slab.w[p], yt, ldy, k0 > 0);
                    continue;
                }
                for (int r = 0; r < mr; r++)
                    for (int c = 0; c < cols; c++) spare[r * PNR + c] = yt[r * ldy + c];
                tile(kc, xb, slab.w[p], spare, PNR, k0 > 0);
                for (int r = 0; r < mr; r++)
                    for (int c = 0; c < cols; c++) yt[r * ldy + c] = spare[r * PNR + c];
            }
        }
    }
}
#endif
