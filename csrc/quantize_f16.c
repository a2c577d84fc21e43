/* F16 rows: the F32 -> F16 downcast (round to nearest even), used for encoder weights. */
#include "quant_blocks.h"
#include "quantize_rows.h"

void gn_quantize_row_f16(const float *x, void *dst, int64_t k) {
    uint16_t *h = (uint16_t *)dst;
    for (int64_t i = 0; i < k; i++) h[i] = gn_f32_to_f16(x[i]);
}
