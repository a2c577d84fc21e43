/* Weights regrouped at load into the layouts the int8 kernels read fastest (gn_repack).
 *
 * Q4_K -> Q4_K_R16 (block_q4_K_r16): with one row per 32-bit lane, a vpdpbusd does 64 useful
 * multiply-adds and the sub-block scales apply to 16 rows with one integer multiply, where the
 * row-major layout spends about as many instructions reducing and scaling each row's sums as
 * multiplying (AVX-512 VNNI: 16 rows a vector; AVX2: two halves of 8). Only bytes move: the
 * values, scales and mins are the file's. */
#include "gn_kernels.h"
#include "quant_blocks.h"

int gn_repack_type(int type) {
    return type == GN_TYPE_Q4_K && gn_active->gemm_q[GN_TYPE_Q4_K_R16] && gn_active->repack_q4_k_r16
               ? GN_TYPE_Q4_K_R16
               : -1;
}

typedef struct {
    const uint8_t *src;
    uint8_t *dst;
    int64_t N;         /* rows of the source */
    int64_t nb;        /* super-blocks per row */
    int64_t row_bytes; /* of a source row */
} repack_job;

/* The scalar twin of gn_repack_fn: rows 0 .. rows - 1 of src, block by block. */
void gn_repack_q4_k_r16_scalar(const uint8_t *src, int64_t row_bytes, int rows, int64_t nb,
                               void *dst) {
    block_q4_K_r16 *out = (block_q4_K_r16 *)dst;
    for (int64_t i = 0; i < nb; i++, out++) {
        for (int r = 0; r < rows; r++) {
            const block_q4_K *b = (const block_q4_K *)(src + r * row_bytes) + i;
            out->d[r] = b->d;
            out->dmin[r] = b->dmin;
            for (int s = 0; s < 8; s++) {
                uint8_t sc, mn;
                gn_q4k_scale_min(s, b->scales, &sc, &mn);
                out->scales[s][r] = sc;
                out->mins[s / 2][r][s % 2] = mn;
                /* Q4_K: bytes 32 (s / 2) .. hold sub-block s in their low (s even) or high
                 * (s odd) nibbles; four values a word */
                const uint8_t *q = b->qs + 32 * (s / 2);
                const int shift = 4 * (s % 2);
                for (int v = 0; v < 4; v++) {
                    uint32_t lo, hi;
                    memcpy(&lo, q + 4 * v, 4);
                    memcpy(&hi, q + 16 + 4 * v, 4);
                    const uint32_t packed = ((lo >> shift) & 0x0F0F0F0Fu) | ((hi >> shift) & 0x0F0F0F0Fu) << 4;
                    memcpy(out->qs[s][v][r], &packed, 4);
                }
            }
        }
    }
}

/* Rows 16 g .. 16 g + 15; rows past N stay zero (scales 0: their results are 0). */
static void repack_group(void *arg, int64_t g, int thread_index) {
    (void)thread_index;
    const repack_job *j = (const repack_job *)arg;
    block_q4_K_r16 *out = (block_q4_K_r16 *)j->dst + g * j->nb;
    const int rows = j->N - g * GN_R16 < GN_R16 ? (int)(j->N - g * GN_R16) : GN_R16;
    if (rows < GN_R16) memset(out, 0, (size_t)j->nb * sizeof *out);
    gn_active->repack_q4_k_r16(j->src + g * GN_R16 * j->row_bytes, j->row_bytes, rows, j->nb, out);
}

gn_status gn_repack(gn_pool *pool, int type, const void *src, size_t src_bytes, int64_t N,
                    int64_t K, void *dst, size_t dst_bytes) {
    const int to = gn_repack_type(type);
    if (to < 0) return GN_ERR_UNSUPPORTED;
    if (!src || !dst || N <= 0) return GN_ERR_INVALID;
    const int64_t src_rb = gn_row_bytes(type, K);
    const int64_t src_size = gn_matrix_bytes(type, N, K), dst_size = gn_matrix_bytes(to, N, K);
    if (src_rb <= 0 || src_size < 0 || dst_size < 0) return GN_ERR_INVALID;
    if ((uint64_t)src_size != (uint64_t)src_bytes || (uint64_t)dst_size != (uint64_t)dst_bytes)
        return GN_ERR_INVALID;
    repack_job job = {(const uint8_t *)src, (uint8_t *)dst, N, K / QK_K, src_rb};
    gn_pool_run(pool, repack_group, &job, (N + GN_R16 - 1) / GN_R16);
    return GN_OK;
}
