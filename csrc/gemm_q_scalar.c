/* Block-quantized W rows times int8-quantized x rows (gn_gemm_q_fn), the scalar twins every
 * SIMD kernel is tested against. Products are summed exactly in integers within a block and
 * turned into float once per block, with the block's scales, in the order the SIMD kernels
 * use, so the ISAs differ only in how the per-block floats are summed. */
#include "gn_kernels.h"
#include "quant_blocks.h"
#include <math.h>

/* The eight 6-bit scales and mins of a Q4_K super-block (same unpacking as gn_q4k_scale_min). */
static void q4k_scales_mins(const uint8_t *packed, uint8_t sc[8], uint8_t mn[8]) {
    for (int j = 0; j < 8; j++) gn_q4k_scale_min(j, packed, &sc[j], &mn[j]);
}

static float dot_q4_k(const block_q4_K *w, const block_q8_K *x, int64_t nb) {
    float acc = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8], mn[8];
        q4k_scales_mins(w[i].scales, sc, mn);
        int32_t sum = 0, msum = 0;
        for (int j = 0; j < 4; j++) { /* 32 bytes: low nibbles sub-block 2j, high 2j+1 */
            const uint8_t *q = w[i].qs + 32 * j;
            const int8_t *a = x[i].qs + 64 * j;
            int32_t lo = 0, hi = 0;
            for (int l = 0; l < 32; l++) {
                lo += (q[l] & 0xF) * a[l];
                hi += (q[l] >> 4) * a[l + 32];
            }
            sum += sc[2 * j] * lo + sc[2 * j + 1] * hi;
        }
        for (int s = 0; s < 8; s++) msum += mn[s] * (x[i].bsums[2 * s] + x[i].bsums[2 * s + 1]);
        acc += x[i].d * (gn_f16_to_f32(w[i].d) * (float)sum - gn_f16_to_f32(w[i].dmin) * (float)msum);
    }
    return acc;
}

static float dot_q6_k(const block_q6_K *w, const block_q8_K *x, int64_t nb) {
    float acc = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t g[16];
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = w[i].ql + 64 * half, *qh = w[i].qh + 32 * half;
            const int8_t *a = x[i].qs + 128 * half;
            int32_t *gh = g + 8 * half;
            /* value l + 32 s of the half lies in its 16-value group 2 s + l / 16 */
            for (int h16 = 0; h16 < 2; h16++) {
                int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                for (int l = 16 * h16; l < 16 * h16 + 16; l++) {
                    s0 += ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) * a[l];
                    s1 += ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) * a[l + 32];
                    s2 += ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) * a[l + 64];
                    s3 += ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) * a[l + 96];
                }
                gh[0 + h16] = s0;
                gh[2 + h16] = s1;
                gh[4 + h16] = s2;
                gh[6 + h16] = s3;
            }
        }
        /* the offset of 32 comes off once per 16-value group through its x sum */
        int32_t sum = 0;
        for (int k = 0; k < 16; k++) sum += w[i].scales[k] * (g[k] - 32 * x[i].bsums[k]);
        acc += x[i].d * (gn_f16_to_f32(w[i].d) * (float)sum);
    }
    return acc;
}

static float dot_q4_0(const block_q4_0 *w, const block_q8_32 *x, int64_t nb) {
    float acc = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t lo = 0, hi = 0;
        for (int l = 0; l < 16; l++) {
            lo += (w[i].qs[l] & 0xF) * x[i].qs[l];
            hi += (w[i].qs[l] >> 4) * x[i].qs[l + 16];
        }
        const int32_t sum = lo + hi - 8 * x[i].sum;
        acc += x[i].d * gn_f16_to_f32(w[i].d) * (float)sum;
    }
    return acc;
}

static float dot_q8_0(const block_q8_0 *w, const block_q8_32 *x, int64_t nb) {
    float acc = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t sum = 0;
        for (int l = 0; l < 32; l++) sum += w[i].qs[l] * x[i].qs[l];
        acc += x[i].d * gn_f16_to_f32(w[i].d) * (float)sum;
    }
    return acc;
}

#define GEMM_Q_SCALAR(name, wblock, xblock, block_elems, dot)                                    \
    void name(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,           \
              const void *w, int64_t w_row_bytes, float *y, int64_t ldy) {                     \
        for (int64_t n = 0; n < N; n++) {                                                      \
            const wblock *wr = (const wblock *)((const uint8_t *)w + n * w_row_bytes);         \
            for (int64_t m = 0; m < M; m++)                                                    \
                y[m * ldy + n] = dot(wr, (const xblock *)((const uint8_t *)xq + m * xq_row_bytes), \
                                     K / (block_elems));                                      \
        }                                                                                      \
    }

GEMM_Q_SCALAR(gn_gemm_q_q4_k_scalar, block_q4_K, block_q8_K, QK_K, dot_q4_k)
GEMM_Q_SCALAR(gn_gemm_q_q6_k_scalar, block_q6_K, block_q8_K, QK_K, dot_q6_k)
GEMM_Q_SCALAR(gn_gemm_q_q4_0_scalar, block_q4_0, block_q8_32, 32, dot_q4_0)
GEMM_Q_SCALAR(gn_gemm_q_q8_0_scalar, block_q8_0, block_q8_32, 32, dot_q8_0)

/* Q4_K_R16 (block_q4_K_r16) x Q8_K: each row's block sum is the same integer as dot_q4_k's;
 * it turns into float as (sum * d - msum * dmin) * x.d with the fused multiply-adds the
 * AVX-512 kernel does per lane, so the twins agree bit for bit. */
void gn_gemm_q_q4_k_r16_scalar(int64_t M, int64_t N, int64_t K, const void *xq,
                               int64_t xq_row_bytes, const void *w, int64_t w_row_bytes,
                               float *y, int64_t ldy) {
    const int64_t nb = K / QK_K;
    for (int64_t g = 0; g < N / GN_R16; g++) {
        const block_q4_K_r16 *wg = (const block_q4_K_r16 *)((const uint8_t *)w + g * GN_R16 * w_row_bytes);
        for (int64_t m = 0; m < M; m++) {
            const block_q8_K *x = (const block_q8_K *)((const uint8_t *)xq + m * xq_row_bytes);
            for (int r = 0; r < GN_R16; r++) {
                float acc = 0.0f;
                for (int64_t i = 0; i < nb; i++) {
                    const block_q4_K_r16 *b = wg + i;
                    int32_t sum = 0, msum = 0;
                    for (int s = 0; s < 8; s++) {
                        const int8_t *a = x[i].qs + 32 * s;
                        int32_t dot = 0;
                        for (int v = 0; v < 4; v++)
                            for (int k = 0; k < 4; k++) {
                                const uint8_t q = b->qs[s][v][r][k];
                                dot += (q & 0xF) * a[4 * v + k] + (q >> 4) * a[16 + 4 * v + k];
                            }
                        sum += b->scales[s][r] * dot;
                        msum += b->mins[s / 2][r][s % 2] * (x[i].bsums[2 * s] + x[i].bsums[2 * s + 1]);
                    }
                    const float t = fmaf((float)sum, gn_f16_to_f32(b->d[r]),
                                         -((float)msum * gn_f16_to_f32(b->dmin[r])));
                    acc = fmaf(t, x[i].d, acc);
                }
                y[m * ldy + g * GN_R16 + r] = acc;
            }
        }
    }
}

/* Q8_K_R16 (block_q8_K_r16) x Q8_K: each row's super-block integer is the exact sum of
 * scale * q * x; it turns into float as sum * d * x.d, with the AVX2 kernel's operations and
 * order. */
void gn_gemm_q_q8_k_r16_scalar(int64_t M, int64_t N, int64_t K, const void *xq,
                               int64_t xq_row_bytes, const void *w, int64_t w_row_bytes,
                               float *y, int64_t ldy) {
    const int64_t nb = K / QK_K;
    for (int64_t g = 0; g < N / GN_R16; g++) {
        const block_q8_K_r16 *wg = (const block_q8_K_r16 *)((const uint8_t *)w + g * GN_R16 * w_row_bytes);
        for (int64_t m = 0; m < M; m++) {
            const block_q8_K *x = (const block_q8_K *)((const uint8_t *)xq + m * xq_row_bytes);
            for (int r = 0; r < GN_R16; r++) {
                float acc = 0.0f;
                for (int64_t i = 0; i < nb; i++) {
                    const block_q8_K_r16 *b = wg + i;
                    int32_t sum = 0;
                    for (int s = 0; s < 8; s++) {
                        const int8_t *a = x[i].qs + 32 * s;
                        int32_t dot = 0;
                        for (int v = 0; v < 8; v++)
                            for (int k = 0; k < 4; k++) dot += b->qs[s][v][r][k] * a[4 * v + k];
                        sum += b->scales[s][r] * dot;
                    }
                    acc = fmaf((float)sum * b->d[r], x[i].d, acc);
                }
                y[m * ldy + g * GN_R16 + r] = acc;
            }
        }
    }
}
