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
 * their order to stay bit-identical, so they cannot be split across SIMD lanes. The eight
 * sub-blocks of a super-block are independent, though: they run side by side, one per lane
 * (simd4.h), each lane doing exactly the reference's scalar statements in the reference's
 * order. That is several times faster than the scalar form and gives the same bytes. */
#include "quant_blocks.h"
#include "quantize_rows.h"
#include "simd4.h"
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

/* make_qkx2_quants for the eight sub-blocks of one super-block, as two groups of four lanes
 * processed together so that their dependency chains overlap. x and w are transposed:
 * x[i][j] is value i of sub-block j. Levels are kept as floats (exact small integers). */
#define G (LANES / 4)
static void search_scales(const float x[SUB][LANES], const float w[SUB][LANES],
                          float L[SUB][LANES], float scale_out[LANES], float min_out[LANES]) {
    const vf zero = vf_set1(0.0f), nmax = vf_set1((float)NMAX);
    vf mn[G], mx[G], sum_w[G], sum_x[G], scale[G], best[G], iscale[G], flat[G], flat_min[G];
    float Laux[SUB][LANES];

    for (int g = 0; g < G; g++) {
        const vf x0 = vf_load(&x[0][4 * g]);
        mn[g] = mx[g] = x0;
        sum_w[g] = vf_load(&w[0][4 * g]);
        sum_x[g] = vf_mul(sum_w[g], x0);
    }
    for (int i = 1; i < SUB; i++)
        for (int g = 0; g < G; g++) {
            const vf xi = vf_load(&x[i][4 * g]), wi = vf_load(&w[i][4 * g]);
            mn[g] = vf_select(vf_lt(xi, mn[g]), xi, mn[g]);
            mx[g] = vf_select(vf_gt(xi, mx[g]), xi, mx[g]);
            sum_w[g] = vf_add(sum_w[g], wi);
            sum_x[g] = vf_add(sum_x[g], vf_mul(wi, xi));
        }
    for (int g = 0; g < G; g++) {
        mn[g] = vf_select(vf_gt(mn[g], zero), zero, mn[g]);
        /* max == min: the reference returns before searching; settled at the end */
        flat[g] = vf_eq(mx[g], mn[g]);
        flat_min[g] = mn[g];
        iscale[g] = vf_div(nmax, vf_sub(mx[g], mn[g]));
        scale[g] = vf_div(vf_set1(1.0f), iscale[g]);
        best[g] = zero;
    }
    for (int i = 0; i < SUB; i++)
        for (int g = 0; g < G; g++) {
            const vf xi = vf_load(&x[i][4 * g]);
            const vf l = vf_level(vf_mul(iscale[g], vf_sub(xi, mn[g])), (float)NMAX);
            vf_store(&L[i][4 * g], l);
            const vf diff = vf_sub(vf_add(vf_mul(scale[g], l), mn[g]), xi);
            best[g] = vf_add(best[g], vf_mul(vf_load(&w[i][4 * g]), vf_mul(diff, diff)));
        }

    for (int is = 0; is <= NSTEP; is++) {
        const vf num = vf_set1(-1.0f + 0.1f * (float)is + NMAX);
        vf sum_l[G], sum_l2[G], sum_xl[G];
        for (int g = 0; g < G; g++) {
            iscale[g] = vf_div(num, vf_sub(mx[g], mn[g]));
            sum_l[g] = sum_l2[g] = sum_xl[g] = zero;
        }
        for (int i = 0; i < SUB; i++)
            for (int g = 0; g < G; g++) {
                const vf xi = vf_load(&x[i][4 * g]);
                const vf l = vf_level(vf_mul(iscale[g], vf_sub(xi, mn[g])), (float)NMAX);
                vf_store(&Laux[i][4 * g], l);
                const vf wl = vf_mul(vf_load(&w[i][4 * g]), l);
                sum_l[g] = vf_add(sum_l[g], wl);
                sum_l2[g] = vf_add(sum_l2[g], vf_mul(wl, l));
                sum_xl[g] = vf_add(sum_xl[g], vf_mul(wl, xi));
            }
        vf ok[G], this_scale[G], this_min[G], err[G];
        int any = 0;
        for (int g = 0; g < G; g++) {
            const vf D = vf_sub(vf_mul(sum_w[g], sum_l2[g]), vf_mul(sum_l[g], sum_l[g]));
            ok[g] = vf_gt(D, zero);
            any |= vf_any(ok[g]);
            this_scale[g] = vf_div(vf_sub(vf_mul(sum_w[g], sum_xl[g]), vf_mul(sum_x[g], sum_l[g])), D);
            this_min[g] = vf_div(vf_sub(vf_mul(sum_l2[g], sum_x[g]), vf_mul(sum_l[g], sum_xl[g])), D);
            const vf pos = vf_gt(this_min[g], zero);
            this_scale[g] = vf_select(pos, vf_div(sum_xl[g], sum_l2[g]), this_scale[g]);
            this_min[g] = vf_select(pos, zero, this_min[g]);
            err[g] = zero;
        }
        if (!any) continue;
        for (int i = 0; i < SUB; i++)
            for (int g = 0; g < G; g++) {
                const vf xi = vf_load(&x[i][4 * g]);
                const vf diff = vf_sub(vf_add(vf_mul(this_scale[g], vf_load(&Laux[i][4 * g])), this_min[g]), xi);
                err[g] = vf_add(err[g], vf_mul(vf_load(&w[i][4 * g]), vf_mul(diff, diff)));
            }
        for (int g = 0; g < G; g++) {
            const vf better = vf_and(ok[g], vf_lt(err[g], best[g]));
            if (!vf_any(better)) continue;
            for (int i = 0; i < SUB; i++)
                vf_store(&L[i][4 * g], vf_select(better, vf_load(&Laux[i][4 * g]), vf_load(&L[i][4 * g])));
            best[g] = vf_select(better, err[g], best[g]);
            scale[g] = vf_select(better, this_scale[g], scale[g]);
            mn[g] = vf_select(better, this_min[g], mn[g]);
        }
    }

    for (int g = 0; g < G; g++) {
        for (int i = 0; i < SUB; i++)
            vf_store(&L[i][4 * g], vf_select(flat[g], zero, vf_load(&L[i][4 * g])));
        vf_store(&scale_out[4 * g], vf_select(flat[g], zero, scale[g]));
        vf_store(&min_out[4 * g], vf_select(flat[g], flat_min[g], mn[g]));
    }
    for (int j = 0; j < LANES; j++) min_out[j] = -min_out[j];
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
            if (d != 0.0f) {
                const int32_t v = nearest_int((x[SUB * j + l] + dm) / d);
                q[SUB * j + l] = (uint8_t)(v < 0 ? 0 : v > NMAX ? NMAX : v);
            } else {
                q[SUB * j + l] = (uint8_t)L[l][j];
            }
    }
    for (int j = 0; j < QK_K / 64; j++)
        for (int l = 0; l < 32; l++)
            y->qs[32 * j + l] = (uint8_t)(q[64 * j + l] | (q[64 * j + l + 32] << 4));
}

void gn_quantize_row_q4_k(const float *x, void *dst, int64_t k) {
    block_q4_K *y = (block_q4_K *)dst;
    for (int64_t i = 0; i < k / QK_K; i++) quantize_block(x + i * QK_K, y + i);
}
