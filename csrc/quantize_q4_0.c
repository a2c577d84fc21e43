/* Q4_0: per 32 values, d = (value of largest magnitude) / -8 and q = trunc(x / d + 8.5)
 * clamped to 15, as ggml's reference quantizer and the gguf package compute it. */
#include "quant_blocks.h"
#include "quantize_rows.h"
#include <math.h>

void gn_quantize_row_q4_0(const float *x, void *dst, int64_t k) {
    block_q4_0 *y = (block_q4_0 *)dst;
    for (int64_t i = 0; i < k / QK4_0; i++, x += QK4_0) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK4_0; j++) /* first of equal magnitudes wins, like argmax */
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = gn_f32_to_f16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            uint8_t q[2];
            for (int h = 0; h < 2; h++) {
                const float v = x[j + h * QK4_0 / 2] * id + 8.5f;
                /* the comparisons also keep NaN from reaching an undefined conversion */
                q[h] = v >= 15.0f ? 15 : v > 0.0f ? (uint8_t)v : 0;
            }
            y[i].qs[j] = (uint8_t)(q[0] | (q[1] << 4));
        }
    }
}
