/* The short-row path of the x86 F16 GEMV kernels (gemv_f16_avx2.c, gemv_f16_avx512.c): each
 * includes this after defining KEYS, the rows it folds at a time, and keys_block(M, K, x, w,
 * ldw, y, ldy) for one block of KEYS rows. The blocks run with the x-row count and the usual
 * head sizes as constants, so that the kernel's loops unroll. */
#ifndef GN_GEMV_F16_SHORT_H
#define GN_GEMV_F16_SHORT_H

#define SHORT_K 512 /* longer rows amortize the 4-row tile's sums; the tile also prefetches */

static GN_ALWAYS_INLINE void short_rows_m(int M, int64_t N, int64_t K, const float *x,
                                          const uint16_t *w, int64_t ldw, float *y, int64_t ldy) {
    for (int64_t n = 0; n < N; n += KEYS) keys_block(M, K, x, w + n * ldw, ldw, y + n, ldy);
}

static GN_ALWAYS_INLINE void short_rows_k(int64_t M, int64_t N, int64_t K, const float *x,
                                          const uint16_t *w, int64_t ldw, float *y, int64_t ldy) {
    switch (M) {
    case 1: short_rows_m(1, N, K, x, w, ldw, y, ldy); break;
    case 2: short_rows_m(2, N, K, x, w, ldw, y, ldy); break;
    case 3: short_rows_m(3, N, K, x, w, ldw, y, ldy); break;
    default: short_rows_m(4, N, K, x, w, ldw, y, ldy); break;
    }
}

/* The whole blocks of W's first rows where its rows are short: returns how many rows it did
 * (0 for long rows), the rest being left to the tile. */
static int64_t short_rows(int64_t M, int64_t N, int64_t K, const float *x, const uint16_t *w,
                          int64_t ldw, float *y, int64_t ldy) {
    if (K > SHORT_K) return 0;
    const int64_t whole = N / KEYS * KEYS;
    switch (K) {
    case 64: short_rows_k(M, whole, 64, x, w, ldw, y, ldy); break;
    case 128: short_rows_k(M, whole, 128, x, w, ldw, y, ldy); break;
    default: short_rows_k(M, whole, K, x, w, ldw, y, ldy); break;
    }
    return whole;
}

#endif
