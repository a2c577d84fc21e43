/* The part of the AVX2 and NEON int8 GEMMs that no instruction set changes: one
 * instantiation per tile shape of the includer's q4k_tile, q6k_tile, q8_0_tile and q4_0_tile
 * (R <= MAX_R = 2 W rows by C <= MAX_C = 4 x rows), the walk over the output in tiles, and the
 * gn_gemm_q_fn of each type, named GN_Q_NAME(type) by the includer. */
#ifndef GN_GEMM_Q_WALK_H
#define GN_GEMM_Q_WALK_H

/* 1 x 1 tiles for a single x row, 2 x 4 otherwise, smaller ones at the edges. */
typedef void (*tile_fn)(int64_t nb, const uint8_t *w, int64_t wrb, const uint8_t *xq,
                        int64_t xrb, float *y, int64_t ldy);

#define TILE_FN(T, R, C)                                                                          \
    static void T##_##R##x##C(int64_t nb, const uint8_t *w, int64_t wrb, const uint8_t *xq,      \
                              int64_t xrb, float *y, int64_t ldy) {                               \
        T##_tile(R, C, nb, w, wrb, xq, xrb, y, ldy);                                              \
    }
#define TILE_FNS(T)                                                                               \
    TILE_FN(T, 1, 1) TILE_FN(T, 1, 2) TILE_FN(T, 1, 3) TILE_FN(T, 1, 4)                          \
    TILE_FN(T, 2, 1) TILE_FN(T, 2, 2) TILE_FN(T, 2, 3) TILE_FN(T, 2, 4)                          \
    static const tile_fn T##_tiles[MAX_R + 1][MAX_C + 1] = {                                      \
        {0}, {0, T##_1x1, T##_1x2, T##_1x3, T##_1x4}, {0, T##_2x1, T##_2x2, T##_2x3, T##_2x4}};

TILE_FNS(q4k)
TILE_FNS(q6k)
TILE_FNS(q8_0)
TILE_FNS(q4_0)

static void walk(const tile_fn tiles[MAX_R + 1][MAX_C + 1], int64_t block, int64_t M, int64_t N,
                 int64_t K, const void *xq, int64_t xrb, const void *w, int64_t wrb, float *y,
                 int64_t ldy) {
    const int R = M == 1 ? 1 : 2, C = M == 1 ? 1 : 4;
    const uint8_t *xb = (const uint8_t *)xq, *wb = (const uint8_t *)w;
    for (int64_t n = 0; n < N; n += R) {
        const int rows = N - n < R ? (int)(N - n) : R;
        for (int64_t m = 0; m < M; m += C) {
            const int cols = M - m < C ? (int)(M - m) : C;
            tiles[rows][cols](K / block, wb + n * wrb, wrb, xb + m * xrb, xrb, y + m * ldy + n,
                              ldy);
        }
    }
}

#define GN_Q_ENTRY(type, tiles, block)                                                            \
    void GN_Q_NAME(type)(int64_t M, int64_t N, int64_t K, const void *xq, int64_t xrb,           \
                         const void *w, int64_t wrb, float *y, int64_t ldy) {                    \
        walk(tiles, block, M, N, K, xq, xrb, w, wrb, y, ldy);                                    \
    }
GN_Q_ENTRY(q4_k, q4k_tiles, QK_K)
GN_Q_ENTRY(q6_k, q6k_tiles, QK_K)
GN_Q_ENTRY(q8_0, q8_0_tiles, QK8_0)
GN_Q_ENTRY(q4_0, q4_0_tiles, QK4_0)

#endif
