/* Q8_0: per 32 values, d = max|x| / 127 and q = round-half-away(x / d), as ggml's reference
 * quantizer and the gguf package compute it. */
#include "quant_blocks.h"
#include "quantize_rows.h"
#include <math.h>

void gn_quantize_row_q8_0(const float *x, void *dst, int64_t k) {
    block_q8_0 *y = (block_q8_0 *)dst;
    for (int64_t i = 0; i < k / QK8_0; i++, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = gn_f32_to_f16(d);
        for (int j = 0; j < QK8_0; j++) {
            const float v = roundf(x[j] * id);
            y[i].qs[j] = (int8_t)(v >= 127.0f ? 127 : v <= -128.0f ? -128 : v == v ? (int)v : 0);
        }
    }
}
