/* The part of the 256-bit Q4_K_R16 int8 GEMMs (AVX2, AVX-VNNI) that no instruction set
 * changes: one instantiation per x-row count of the includer's tile(C, h, nb, w, xq, x_rb, y,
 * ldy) (C <= TILE_C, 2 or 4), and the walk over the output, named GN_Q4_K_R16_NAME by the
 * includer, which also provides gemv(nb, w, xq, y) for a single x row.
 *
 * Each half of a 16-row block panel meets every x row, TILE_C at a time, while the panel is in
 * L1/L2; the second half reads the cache lines the first brought in. */
#ifndef GN_GEMM_Q_R16_WALK256_H
#define GN_GEMM_Q_R16_WALK256_H

typedef void (*tile_fn)(int h, int64_t nb, const block_q4_K_r16 *w, const uint8_t *xq,
                        int64_t x_rb, float *y, int64_t ldy);
#define TILE(C)                                                                                  \
    static void tile_##C(int h, int64_t nb, const block_q4_K_r16 *w, const uint8_t *xq,           \
                         int64_t x_rb, float *y, int64_t ldy) {                                  \
        tile(C, h, nb, w, xq, x_rb, y, ldy);                                                     \
    }
#if TILE_C == 2
TILE(1) TILE(2)
static const tile_fn tiles[TILE_C] = {tile_1, tile_2};
#elif TILE_C == 4
TILE(1) TILE(2) TILE(3) TILE(4)
static const tile_fn tiles[TILE_C] = {tile_1, tile_2, tile_3, tile_4};
#else
#error "TILE_C must be 2 or 4"
#endif

void GN_Q4_K_R16_NAME(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xq_row_bytes,
                      const void *w, int64_t w_row_bytes, float *y, int64_t ldy) {
    const int64_t nb = K / QK_K;
    const uint8_t *x8 = (const uint8_t *)xq;
    for (int64_t n = 0; n < N; n += GN_R16) {
        const block_q4_K_r16 *wg = (const block_q4_K_r16 *)((const uint8_t *)w + n * w_row_bytes);
        if (M == 1) {
            gemv(nb, wg, x8, y + n);
            continue;
        }
        for (int h = 0; h < 2; h++)
            for (int64_t m = 0; m < M; m += TILE_C) {
                const int c = (int)(M - m < TILE_C ? M - m : TILE_C);
                tiles[c - 1](h, nb, wg, x8 + m * xq_row_bytes, xq_row_bytes, y + m * ldy + n, ldy);
            }
    }
}

#endif
