/* AMX kernels of the bfloat16 path (contract in gn_kernels.h), for the "amx" level: the
 * AVX-512 BF16 kernels plus tile matrix multiplies. One TDPBF16PS multiplies a 16 x 32 tile of
 * x by 32 x 16 of W into 16 x 16 float32 sums: 8192 products where VDPBF16PS does 32.
 *
 * The panel layout of the bfloat16 path is already what a B tile wants: pair p of K for panel
 * rows c .. c + 15 is 16 consecutive dwords, and pair p + 1 lies one panel width (256 bytes)
 * further, so a B tile loads straight from the panel with that stride. Each step of 32 K
 * multiplies 32 rows of x by 32 columns of the panel in four C tiles (two A tiles, two B
 * tiles, each used twice).
 *
 * Built only where the compiler knows AMX (setup.py checks); elsewhere this file provides no
 * kernel and the level is not offered. */
#include "gn_kernels.h"

/* GCC spells the feature macros __AMX_TILE__, clang __AMXTILE__ */
#if defined(__x86_64__) && (defined(__AMX_TILE__) || defined(__AMXTILE__)) && \
    (defined(__AMX_BF16__) || defined(__AMXBF16__))
#include <immintrin.h>
#include <string.h>

/* tile numbers: the intrinsics paste them into the instruction, so they are macros */
#define C00 0
#define C01 1
#define C10 2
#define C11 3
#define A0 4
#define A1 5
#define B0 6
#define B1 7

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* Tiles for a strip of rows0 + rows1 rows of x (rows0 <= 16 in A0, C00, C01; rows1 <= 16 in
 * A1, C10, C11, unused when 0) at depth kt: A tiles kt bf16 wide, B tiles kt / 2 pairs of 16
 * columns, C tiles 16 floats wide. Loading a configuration zeroes every tile. */
static void configure(int kt, int rows0, int rows1) {
    tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    const int rows[8] = {rows0, rows0, rows1, rows1, rows0, rows1, kt / 2, kt / 2};
    const int colsb[8] = {64, 64, 64, 64, 2 * kt, 2 * kt, 64, 64};
    for (int t = 0; t < 8; t++) { /* a tile of no rows must have no columns either */
        c.rows[t] = (uint8_t)rows[t];
        c.colsb[t] = (uint16_t)(rows[t] ? colsb[t] : 0);
    }
    /* GCC's LDTILECFG builtin does not tell the optimizer that it reads c, which then drops
     * the stores above: this says the memory is read */
    __asm__ volatile("" : : "m"(c) : "memory");
    _tile_loadconfig(&c);
}

/* y[rows, 0:32] = (first ? bias : y) + x[rows, 0:kc] . panel columns [0, 32) over the same K,
 * in steps of kt (the configured depth; kc a multiple of it), both row halves or (two == 0)
 * the first. x is bf16 rows ldx apart, w the panel at the first pair and the block's first
 * column, bias (NULL: zero) at the block's first column, y floats ldy apart. */
static void block(int two, int first, int64_t kc, int kt, const uint16_t *x, int64_t ldx,
                  const uint16_t *w, const float *bias, float *y, int64_t ldy) {
    const int64_t sx = ldx * 2, sy = ldy * 4, sw = 2 * GN_BF16_PANEL * 2;
    if (first && bias) { /* a row stride of zero repeats the bias in every row */
        _tile_loadd(C00, bias, 0);
        _tile_loadd(C01, bias + 16, 0);
        if (two) {
            _tile_loadd(C10, bias, 0);
            _tile_loadd(C11, bias + 16, 0);
        }
    } else if (first) {
        _tile_zero(C00);
        _tile_zero(C01);
        if (two) {
            _tile_zero(C10);
            _tile_zero(C11);
        }
    } else {
        _tile_loadd(C00, y, sy);
        _tile_loadd(C01, y + 16, sy);
        if (two) {
            _tile_loadd(C10, y + 16 * ldy, sy);
            _tile_loadd(C11, y + 16 * ldy + 16, sy);
        }
    }
    for (int64_t k = 0; k < kc; k += kt) {
        const uint16_t *wk = w + k * GN_BF16_PANEL; /* pair k / 2 */
        _tile_loadd(B0, wk, sw);
        _tile_loadd(B1, wk + 32, sw); /* 16 columns on: 16 dwords */
        _tile_loadd(A0, x + k, sx);
        _tile_dpbf16ps(C00, A0, B0);
        _tile_dpbf16ps(C01, A0, B1);
        if (two) {
            _tile_loadd(A1, x + 16 * ldx + k, sx);
            _tile_dpbf16ps(C10, A1, B0);
            _tile_dpbf16ps(C11, A1, B1);
        }
    }
    _tile_stored(C00, y, sy);
    _tile_stored(C01, y + 16, sy);
    if (two) {
        _tile_stored(C10, y + 16 * ldy, sy);
        _tile_stored(C11, y + 16 * ldy + 16, sy);
    }
}

/* n_blocks blocks of rows0 + rows1 rows from m0, over the panel's 64 columns and K
 * [k0, k0 + kc) in steps of kt, tiles configured for that depth. */
static void pass(int64_t m0, int64_t n_blocks, int rows0, int rows1, int64_t k0, int64_t kc,
                 int kt, const uint16_t *x, int64_t ldx, const uint16_t *panel,
                 const float *bias, float *y, int64_t ldy) {
    configure(kt, rows0, rows1);
    for (int64_t b = 0; b < n_blocks; b++) {
        const int64_t m = m0 + b * (rows0 + rows1);
        for (int c = 0; c < GN_BF16_PANEL; c += 32)
            block(rows1 > 0, k0 == 0, kc, kt, x + m * ldx + k0, ldx,
                  panel + k0 * GN_BF16_PANEL + 2 * c, bias ? bias + c : NULL, y + m * ldy + c,
                  ldy);
    }
}

/* Those blocks over all of K: 32-deep steps, then the last K % 32 (even) in tiles that deep,
 * so nothing is read past K. The sums stay in tiles over all of K: storing and reloading them
 * per chunk of K, to keep the panel's chunk in L1, measured 1.3-2x slower at encoder shapes. */
static void strip(int64_t m0, int64_t n_blocks, int rows0, int rows1, int64_t K,
                  const uint16_t *x, int64_t ldx, const uint16_t *panel, const float *bias,
                  float *y, int64_t ldy) {
    const int64_t K32 = K & ~(int64_t)31;
    if (K32 > 0) pass(m0, n_blocks, rows0, rows1, 0, K32, 32, x, ldx, panel, bias, y, ldy);
    if (K32 < K)
        pass(m0, n_blocks, rows0, rows1, K32, K - K32, (int)(K - K32), x, ldx, panel, bias, y,
             ldy);
}

void gn_gemm_bf16_amx(int64_t M, int64_t cols, int64_t K, const uint16_t *x, int64_t ldx,
                      const uint16_t *panel, const float *bias, float *y, int64_t ldy) {
    if (cols < GN_BF16_PANEL) { /* tiles would write whole 32-column blocks */
        gn_gemm_bf16_avx512(M, cols, K, x, ldx, panel, bias, y, ldy);
        return;
    }
    const int64_t M32 = M & ~(int64_t)31, r = M - M32;
    if (M32) strip(0, M32 / 32, 16, 16, K, x, ldx, panel, bias, y, ldy);
    if (r)
        strip(M32, 1, r < 16 ? (int)r : 16, r < 16 ? 0 : (int)(r - 16), K, x, ldx, panel, bias,
              y, ldy);
    _tile_release();
}

/* Four independent chains of TDPBF16PS over tiles of ones against pairs (1, -1): sums stay
 * put however long it runs; 16 x 16 x 32 products (16384 FLOPs) per instruction. */
int64_t gn_probe_bf16_amx(int64_t iters, float *sink) {
    uint16_t a[16 * 32], b[16 * 32];
    for (int i = 0; i < 16 * 32; i++) {
        a[i] = 0x3F80;                   /* 1.0 */
        b[i] = i % 2 ? 0xBF80 : 0x3F80; /* 1.0, -1.0 */
    }
    configure(32, 16, 16);
    _tile_loadd(A0, a, 64);
    _tile_loadd(A1, a, 64);
    _tile_loadd(B0, b, 64);
    _tile_loadd(B1, b, 64);
    for (int64_t i = 0; i < iters; i++) {
        _tile_dpbf16ps(C00, A0, B0);
        _tile_dpbf16ps(C01, A0, B1);
        _tile_dpbf16ps(C10, A1, B0);
        _tile_dpbf16ps(C11, A1, B1);
    }
    float c[16 * 16];
    _tile_stored(C00, c, 64);
    _tile_release();
    *sink = c[0];
    return iters * 4 * 16 * 16 * 32 * 2;
}

gn_gemm_bf16_fn gn_amx_gemm_bf16(void) { return gn_gemm_bf16_amx; }
gn_probe_fma_fn gn_amx_probe_bf16(void) { return gn_probe_bf16_amx; }
#else
gn_gemm_bf16_fn gn_amx_gemm_bf16(void) { return NULL; }
gn_probe_fma_fn gn_amx_probe_bf16(void) { return NULL; }
#endif
