/* Q4_K with ggml's reference algorithm (quantize_row_q4_K_ref without an importance matrix),
 * reproduced operation for operation so the bytes match ggml's:
 *   - each 32-value sub-block gets a scale and a min from make_qkx2_quants: weights
 *     w = rms(x) + |x|, a first guess from the range, then 21 trial inverse scales
 *     (nmax + rmin + rdelta * is) / (max - min) with nmax 15, rmin -1, rdelta 0.1, each
 *     followed by a weighted least-squares refit kept when its weighted error is lower;
 *   - the eight scales and mins are quantized to 6 bits against the block's largest
 *     (super-block scales d and dmin stored as F16) and the values re-quantized with them.
 *
 * The trial loop is where the time goes, and its sums are sequential chains that must keep
 * their order to stay bit-identical. The eight sub-blocks of a super-block are independent,
 * so they run side by side as eight lanes: every statement below is the scalar reference's
 * statement applied to lane j, and the inner `for j` loops vectorise without reordering
 * any sum. */
#include "quant_blocks.h"
#include "quantize_rows.h"
#include <math.h>

#define LANES (QK_K / 32) /* sub-blocks per super-block */
#define SUB 32            /* values per sub-block */
#define NMAX 15
#define NSTEP 20

/* ggml's nearest_int: round half to even through the float adder, exact bit behaviour kept
 * (also for out-of-range inputs) by reading the sum's mantissa. */
static inline int32_t nearest_int(float f) {
    const float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

static inline float clamp_level(int32_t l) { return (float)(l < 0 ? 0 : l > NMAX ? NMAX : l); }

/* make_qkx2_quants for the eight sub-blocks of one super-block. x and w are transposed:
 * x[i][j] is value i of sub-block j. Levels are kept as floats (exact small integers). */
static void search_scales(const float x[SUB][LANES], const float w[SUB][LANES],
                          float L[SUB][LANES], float scale_out[LANES], float min_out[LANES]) {
    float mn[LANES], mx[LANES], sum_w[LANES], sum_x[LANES];
    float scale[LANES], best[LANES];
    float Laux[SUB][LANES];

    for (int j = 0; j < LANES; j++) {
        mn[j] = mx[j] = x[0][j];
        sum_w[j] = w[0][j];
        sum_x[j] = sum_w[j] * x[0][j];
    }
    for (int i = 1; i < SUB; i++)
        for (int j = 0; j < LANES; j++) {
            mn[j] = x[i][j] < mn[j] ? x[i][j] : mn[j];
            mx[j] = x[i][j] > mx[j] ? x[i][j] : mx[j];
            sum_w[j] += w[i][j];
            sum_x[j] += w[i][j] * x[i][j];
        }
    float iscale[LANES], flat_min[LANES];
    int flat[LANES];
    for (int j = 0; j < LANES; j++) {
        if (mn[j] > 0) mn[j] = 0;
        flat[j] = mx[j] == mn[j];
        flat_min[j] = mn[j];
        iscale[j] = NMAX / (mx[j] - mn[j]);
        scale[j] = 1 / iscale[j];
        best[j] = 0;
    }
    for (int i = 0; i < SUB; i++)
        for (int j = 0; j < LANES; j++) {
            L[i][j] = clamp_level(nearest_int(iscale[j] * (x[i][j] - mn[j])));
            const float diff = scale[j] * L[i][j] + mn[j] - x[i][j];
            best[j] += w[i][j] * (diff * diff);
        }

    for (int is = 0; is <= NSTEP; is++) {
        const float num = -1.0f + 0.1f * (float)is + NMAX;
        float sum_l[LANES] = {0}, sum_l2[LANES] = {0}, sum_xl[LANES] = {0};
        for (int j = 0; j < LANES; j++) iscale[j] = num / (mx[j] - mn[j]);
        for (int i = 0; i < SUB; i++)
            for (int j = 0; j < LANES; j++) {
                const float l = clamp_level(nearest_int(iscale[j] * (x[i][j] - mn[j])));
                Laux[i][j] = l;
                const float wl = w[i][j] * l;
                sum_l[j] += wl;
                sum_l2[j] += wl * l;
                sum_xl[j] += wl * x[i][j];
            }
        float this_scale[LANES], this_min[LANES], err[LANES] = {0};
        int ok[LANES], any = 0;
        for (int j = 0; j < LANES; j++) {
            const float D = sum_w[j] * sum_l2[j] - sum_l[j] * sum_l[j];
            ok[j] = D > 0;
            any |= ok[j];
            this_scale[j] = (sum_w[j] * sum_xl[j] - sum_x[j] * sum_l[j]) / D;
            this_min[j] = (sum_l2[j] * sum_x[j] - sum_l[j] * sum_xl[j]) / D;
            if (this_min[j] > 0) {
                this_min[j] = 0;
                this_scale[j] = sum_xl[j] / sum_l2[j];
            }
        }
        if (!any) continue;
        for (int i = 0; i < SUB; i++)
            for (int j = 0; j < LANES; j++) {
                const float diff = this_scale[j] * Laux[i][j] + this_min[j] - x[i][j];
                err[j] += w[i][j] * (diff * diff);
            }
        for (int j = 0; j < LANES; j++) {
            if (!ok[j] || !(err[j] < best[j])) continue;
            for (int i = 0; i < SUB; i++) L[i][j] = Laux[i][j];
            best[j] = err[j];
            scale[j] = this_scale[j];
            mn[j] = this_min[j];
        }
    }

    for (int j = 0; j < LANES; j++) {
        if (flat[j]) { /* the reference returns before searching */
            scale[j] = 0;
            mn[j] = flat_min[j];
            for (int i = 0; i < SUB; i++) L[i][j] = 0;
        }
        scale_out[j] = scale[j];
        min_out[j] = -mn[j];
    }
}

static void quantize_block(const float *x, block_q4_K *y) {
    float xt[SUB][LANES], w[SUB][LANES], L[SUB][LANES];
    float scales[LANES], mins[LANES];
    for (int j = 0; j < LANES; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < SUB; l++) sum_x2 += x[SUB * j + l] * x[SUB * j + l];
        const float av_x = sqrtf(sum_x2 / SUB);
        for (int l = 0; l < SUB; l++) {
            xt[l][j] = x[SUB * j + l];
            w[l][j] = av_x + fabsf(x[SUB * j + l]);
        }
    }
    search_scales((const float(*)[LANES])xt, (const float(*)[LANES])w, L, scales, mins);

    float max_scale = 0, max_min = 0;
    for (int j = 0; j < LANES; j++) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(y->scales, 0, sizeof y->scales);
    for (int j = 0; j < LANES; j++) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            y->scales[j] = ls;
            y->scales[j + 4] = lm;
        } else {
            y->scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            y->scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
            y->scales[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    y->d = gn_f32_to_f16(max_scale / 63.f);
    y->dmin = gn_f32_to_f16(max_min / 63.f);

    uint8_t q[QK_K];
    for (int j = 0; j < LANES; j++) {
        uint8_t sc, m;
        gn_q4k_scale_min(j, y->scales, &sc, &m);
        const float d = gn_f16_to_f32(y->d) * sc;
        const float dm = gn_f16_to_f32(y->dmin) * m;
        for (int l = 0; l < SUB; l++) /* a zero scale keeps the search's levels */
            q[SUB * j + l] = d != 0.0f ? (uint8_t)clamp_level(nearest_int((x[SUB * j + l] + dm) / d))
                                       : (uint8_t)L[l][j];
    }
    for (int j = 0; j < QK_K / 64; j++)
        for (int l = 0; l < 32; l++)
            y->qs[32 * j + l] = (uint8_t)(q[64 * j + l] | (q[64 * j + l + 32] << 4));
}

void gn_quantize_row_q4_k(const float *x, void *dst, int64_t k) {
    block_q4_K *y = (block_q4_K *)dst;
    for (int64_t i = 0; i < k / QK_K; i++) quantize_block(x + i * QK_K, y + i);
}
