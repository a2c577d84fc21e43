/* Float rows -> Q8_K_R16 (block_q8_K_r16), 16 rows at a time, with the rule stated beside the
 * block in quant_blocks.h. One C function for every ISA: it runs once, at load. */
#include <math.h>

#include "quant_blocks.h"
#include "quantize_rows.h"

#define ROUNDER 12582912.0f /* 1.5 * 2^23 */

void gn_quantize_group_q8_k_r16(const float *x, void *dst, int64_t k) {
    block_q8_K_r16 *out = (block_q8_K_r16 *)dst;
    for (int64_t i = 0; i < k / QK_K; i++, out++) {
        for (int r = 0; r < GN_R16; r++) {
            const float *w = x + r * k + i * QK_K;
            float amax_s[8], amax = 0.0f;
            int unordered = 0;
            for (int s = 0; s < 8; s++) {
                float m = 0.0f;
                for (int l = 0; l < 32; l++) {
                    const float a = fabsf(w[32 * s + l]);
                    m = a > m ? a : m; /* not fmaxf: a libm call per value without SSE4.1 */
                    unordered |= a != a;
                }
                amax_s[s] = m;
                amax = m > amax ? m : amax;
            }
            if (unordered) { /* the rule's NaN row: d NaN, scales and quants 0 */
                out->d[r] = NAN;
                for (int s = 0; s < 8; s++) {
                    out->scales[s][r] = 0;
                    for (int v = 0; v < 8; v++) memset(out->qs[s][v][r], 0, 4);
                }
                continue;
            }
            const float d = amax / (127.0f * 255.0f);
            out->d[r] = d;
            for (int s = 0; s < 8; s++) {
                /* d > 0 whenever amax_s > 0, and the ratio is at most 255 up to rounding */
                const int sc = amax_s[s] > 0.0f ? (int)fminf(255.0f, ceilf(amax_s[s] / (127.0f * d))) : 0;
                const float inv = sc ? 1.0f / (d * (float)sc) : 0.0f;
                out->scales[s][r] = (uint8_t)sc;
                int8_t u[32];
                for (int l = 0; l < 32; l++) {
                    /* adding and taking off 1.5 * 2^23 rounds half to even (|.| < 2^22), as
                     * nearbyintf does, without a libm call in this loop */
                    float q = (w[32 * s + l] * inv + ROUNDER) - ROUNDER;
                    q = q > 127.0f ? 127.0f : q;
                    q = q < -127.0f ? -127.0f : q;
                    u[l] = (int8_t)q;
                }
                for (int v = 0; v < 8; v++) memcpy(out->qs[s][v][r], u + 4 * v, 4);
            }
        }
    }
}
