/* Block-quantized W times int8-quantized x (the GN_MATMUL_INT8 path) for AArch64, written once
 * over a 16-byte integer dot product that the including file defines before including this:
 *     static inline int32x4_t gn_dot16(int32x4_t acc, int8x16_t a, int8x16_t b);
 * adding to each lane the sum of 4 of the 16 products (which 4 may differ: callers only use
 * the sum over lanes). gemm_q_neon.c builds it from widening multiplies, gemm_q_dotprod.c
 * from SDOT. Integer sums are exact; only the per-block float scaling rounds. A tile of R W
 * rows by C x rows shares every load: M = 1 (decode) walks W one row at a time, one
 * sequential stream read at memory speed; larger M takes 2 x 4 tiles, so each unpacked W
 * block serves four x rows and each x block two W rows.
 * GN_Q_SUFFIX names the public functions (gn_gemm_q4_k_<suffix>, ...) and the level's int8
 * probe (gn_probe_int8_<suffix>), which times the same gn_dot16. */
#include <arm_neon.h>

#include "gn_kernels.h"
#include "quant_blocks.h"

#define MAX_R 2
#define MAX_C 4

#define GN_Q_CAT2(a, b) a##b
#define GN_Q_CAT(a, b) GN_Q_CAT2(a, b)
#define GN_Q_NAME(type) GN_Q_CAT(GN_Q_CAT(gn_gemm_, type), GN_Q_CAT(_, GN_Q_SUFFIX))

#if defined(__GNUC__) || defined(__clang__)
#define GN_PREFETCH(p) __builtin_prefetch(p)
#elif defined(_MSC_VER)
#include <intrin.h>
#define GN_PREFETCH(p) __prefetch(p)
#else
#define GN_PREFETCH(p) ((void)(p))
#endif

/* One W row is a sequential stream the hardware prefetcher follows at full bandwidth; the two
 * interleaved rows of a 2-row tile it follows at half that or less, so each block load of such
 * a tile requests the same block of the next tile. The address is formed as an integer, as it
 * may lie past the end of W, where a prefetch does not fault. Always inlined: GCC takes a
 * function that only prefetches for one without effects and drops the calls it has not
 * inlined. */
static GN_ALWAYS_INLINE void prefetch_next_tile(const void *block, int64_t bytes,
                                                int64_t tile_bytes) {
    const uintptr_t p = (uintptr_t)block + (uintptr_t)tile_bytes;
    for (int64_t off = 0; off < bytes; off += 64) GN_PREFETCH((const void *)(p + (uintptr_t)off));
}

static inline float half(uint16_t h) { return gn_f16_to_f32(h); }

static inline void store_tile(const int R, const int C, float32x4_t acc[MAX_R][MAX_C], float *y,
                              int64_t ldy) {
    for (int c = 0; c < C; c++)
        for (int r = 0; r < R; r++) y[c * ldy + r] = vaddvq_f32(acc[r][c]);
}

static inline int8x16_t load16(const void *p) { return vld1q_s8((const int8_t *)p); }

/* Q4_K: per 32-value sub-block, (6-bit scale) * (q4 . x) - (6-bit min) * (sum of x), the
 * second term from the x block's per-16 sums. */
static GN_ALWAYS_INLINE void q4k_tile(const int R, const int C, int64_t nb, const uint8_t *w,
                                      int64_t wrb, const uint8_t *xq, int64_t xrb, float *y,
                                      int64_t ldy) {
    const uint8x16_t nibble = vdupq_n_u8(0x0F);
    float32x4_t acc[MAX_R][MAX_C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < nb; i++) {
        const block_q4_K *bw[MAX_R];
        const block_q8_K *bx[MAX_C];
        uint8_t sc[MAX_R][8], mn[MAX_R][8];
        int32x4_t sumi[MAX_R][MAX_C];
        for (int c = 0; c < C; c++) bx[c] = (const block_q8_K *)(xq + c * xrb) + i;
        for (int r = 0; r < R; r++) {
            bw[r] = (const block_q4_K *)(w + r * wrb) + i;
            if (R > 1) prefetch_next_tile(bw[r], sizeof(block_q4_K), R * wrb);
            uint32_t s[2], m[2];
            gn_q4k_scales_mins(bw[r]->scales, s, m);
            memcpy(sc[r], s, 8);
            memcpy(mn[r], m, 8);
            for (int c = 0; c < C; c++) sumi[r][c] = vdupq_n_s32(0);
        }
        for (int j = 0; j < 4; j++) {
            for (int r = 0; r < R; r++) {
                const uint8x16_t q0 = vld1q_u8(bw[r]->qs + 32 * j);
                const uint8x16_t q1 = vld1q_u8(bw[r]->qs + 32 * j + 16);
                const int8x16_t lo0 = vreinterpretq_s8_u8(vandq_u8(q0, nibble));
                const int8x16_t lo1 = vreinterpretq_s8_u8(vandq_u8(q1, nibble));
                const int8x16_t hi0 = vreinterpretq_s8_u8(vshrq_n_u8(q0, 4));
                const int8x16_t hi1 = vreinterpretq_s8_u8(vshrq_n_u8(q1, 4));
                for (int c = 0; c < C; c++) {
                    const int8_t *x = bx[c]->qs + 64 * j;
                    const int32x4_t zero = vdupq_n_s32(0);
                    const int32x4_t s_lo =
                        gn_dot16(gn_dot16(zero, lo0, load16(x)), lo1, load16(x + 16));
                    const int32x4_t s_hi =
                        gn_dot16(gn_dot16(zero, hi0, load16(x + 32)), hi1, load16(x + 48));
                    sumi[r][c] = vmlaq_n_s32(sumi[r][c], s_lo, sc[r][2 * j]);
                    sumi[r][c] = vmlaq_n_s32(sumi[r][c], s_hi, sc[r][2 * j + 1]);
                }
            }
        }
        for (int r = 0; r < R; r++) {
            const float d = half(bw[r]->d), dmin = half(bw[r]->dmin);
            const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn[r])));
            for (int c = 0; c < C; c++) {
                /* per sub-block sums of x: adjacent pairs of the per-16 sums */
                const int16x8_t xs =
                    vpaddq_s16(vld1q_s16(bx[c]->bsums), vld1q_s16(bx[c]->bsums + 8));
                const int32x4_t msum =
                    vmlal_high_s16(vmull_s16(vget_low_s16(xs), vget_low_s16(m)), xs, m);
                acc[r][c] = vfmaq_n_f32(acc[r][c], vcvtq_f32_s32(sumi[r][c]), d * bx[c]->d);
                acc[r][c] = vfmsq_n_f32(acc[r][c], vcvtq_f32_s32(msum), dmin * bx[c]->d);
            }
        }
    }
    store_tile(R, C, acc, y, ldy);
}

/* Q6_K: (q6 - 32) with a signed 8-bit scale per 16 values. */
static GN_ALWAYS_INLINE void q6k_tile(const int R, const int C, int64_t nb, const uint8_t *w,
                                      int64_t wrb, const uint8_t *xq, int64_t xrb, float *y,
                                      int64_t ldy) {
    const uint8x16_t nibble = vdupq_n_u8(0x0F), two_bits = vdupq_n_u8(0x30);
    const int8x16_t offset = vdupq_n_s8(32);
    float32x4_t acc[MAX_R][MAX_C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < nb; i++) {
        const block_q6_K *bw[MAX_R];
        const block_q8_K *bx[MAX_C];
        int32x4_t sumi[MAX_R][MAX_C];
        for (int c = 0; c < C; c++) bx[c] = (const block_q8_K *)(xq + c * xrb) + i;
        for (int r = 0; r < R; r++) {
            bw[r] = (const block_q6_K *)(w + r * wrb) + i;
            if (R > 1) prefetch_next_tile(bw[r], sizeof(block_q6_K), R * wrb);
            for (int c = 0; c < C; c++) sumi[r][c] = vdupq_n_s32(0);
        }
        for (int h = 0; h < 2; h++) {
            for (int r = 0; r < R; r++) {
                const uint8_t *ql = bw[r]->ql + 64 * h, *qh = bw[r]->qh + 32 * h;
                const int8_t *sc = bw[r]->scales + 8 * h;
                int8x16_t q[4][2];
                for (int u = 0; u < 2; u++) {
                    const uint8x16_t l0 = vld1q_u8(ql + 16 * u), l1 = vld1q_u8(ql + 32 + 16 * u);
                    const uint8x16_t hb = vld1q_u8(qh + 16 * u);
                    const uint8x16_t v[4] = {
                        vorrq_u8(vandq_u8(l0, nibble), vandq_u8(vshlq_n_u8(hb, 4), two_bits)),
                        vorrq_u8(vandq_u8(l1, nibble), vandq_u8(vshlq_n_u8(hb, 2), two_bits)),
                        vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(hb, two_bits)),
                        vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(vshrq_n_u8(hb, 2), two_bits))};
                    for (int t = 0; t < 4; t++)
                        q[t][u] = vsubq_s8(vreinterpretq_s8_u8(v[t]), offset);
                }
                for (int c = 0; c < C; c++) {
                    const int8_t *x = bx[c]->qs + 128 * h;
                    for (int t = 0; t < 4; t++)
                        for (int u = 0; u < 2; u++) {
                            const int32x4_t s =
                                gn_dot16(vdupq_n_s32(0), q[t][u], load16(x + 32 * t + 16 * u));
                            sumi[r][c] = vmlaq_n_s32(sumi[r][c], s, sc[2 * t + u]);
                        }
                }
            }
        }
        for (int r = 0; r < R; r++) {
            const float d = half(bw[r]->d);
            for (int c = 0; c < C; c++)
                acc[r][c] = vfmaq_n_f32(acc[r][c], vcvtq_f32_s32(sumi[r][c]), d * bx[c]->d);
        }
    }
    store_tile(R, C, acc, y, ldy);
}

/* Q8_0: signed x signed. */
static GN_ALWAYS_INLINE void q8_0_tile(const int R, const int C, int64_t nb, const uint8_t *w,
                                       int64_t wrb, const uint8_t *xq, int64_t xrb, float *y,
                                       int64_t ldy) {
    float32x4_t acc[MAX_R][MAX_C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < nb; i++) {
        const block_q8_32 *bx[MAX_C];
        for (int c = 0; c < C; c++) bx[c] = (const block_q8_32 *)(xq + c * xrb) + i;
        for (int r = 0; r < R; r++) {
            const block_q8_0 *bw = (const block_q8_0 *)(w + r * wrb) + i;
            if (R > 1) prefetch_next_tile(bw, sizeof(block_q8_0), R * wrb);
            const int8x16_t w0 = load16(bw->qs), w1 = load16(bw->qs + 16);
            const float d = half(bw->d);
            for (int c = 0; c < C; c++) {
                const int32x4_t s = gn_dot16(gn_dot16(vdupq_n_s32(0), w0, load16(bx[c]->qs)), w1,
                                             load16(bx[c]->qs + 16));
                acc[r][c] = vfmaq_n_f32(acc[r][c], vcvtq_f32_s32(s), d * bx[c]->d);
            }
        }
    }
    store_tile(R, C, acc, y, ldy);
}

/* Q4_0: q4 . x, then 8 * sum(x) from the x block's stored sum. */
static GN_ALWAYS_INLINE void q4_0_tile(const int R, const int C, int64_t nb, const uint8_t *w,
                                       int64_t wrb, const uint8_t *xq, int64_t xrb, float *y,
                                       int64_t ldy) {
    const uint8x16_t nibble = vdupq_n_u8(0x0F);
    float32x4_t acc[MAX_R][MAX_C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < nb; i++) {
        const block_q8_32 *bx[MAX_C];
        for (int c = 0; c < C; c++) bx[c] = (const block_q8_32 *)(xq + c * xrb) + i;
        for (int r = 0; r < R; r++) {
            const block_q4_0 *bw = (const block_q4_0 *)(w + r * wrb) + i;
            if (R > 1) prefetch_next_tile(bw, sizeof(block_q4_0), R * wrb);
            const uint8x16_t v = vld1q_u8(bw->qs);
            const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(v, nibble));
            const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
            const float d = half(bw->d);
            for (int c = 0; c < C; c++) {
                int32x4_t s = gn_dot16(gn_dot16(vdupq_n_s32(0), lo, load16(bx[c]->qs)), hi,
                                       load16(bx[c]->qs + 16));
                s = vsubq_s32(s, vsetq_lane_s32(8 * bx[c]->sum, vdupq_n_s32(0), 0));
                acc[r][c] = vfmaq_n_f32(acc[r][c], vcvtq_f32_s32(s), d * bx[c]->d);
            }
        }
    }
    store_tile(R, C, acc, y, ldy);
}

#include "gemm_q_walk.h"

/* PROBE_ACC independent chains of gn_dot16 adding 1*1 + 1*(-1) + ... = 0 per lane: 16 byte
 * products (32 integer ops) per call, the ceiling of this level's int8 kernels
 * (gn_probe_fma_fn). */
#define PROBE_ACC 12
int64_t GN_Q_CAT(gn_probe_int8_, GN_Q_SUFFIX)(int64_t iters, float *sink) {
    int32x4_t acc[PROBE_ACC];
    const int8x16_t ones = vdupq_n_s8(1);
    const int8x16_t alt = vreinterpretq_s8_s16(vdupq_n_s16((int16_t)0xff01)); /* bytes 1, -1 */
    for (int k = 0; k < PROBE_ACC; k++) acc[k] = vdupq_n_s32(k);
    for (int64_t i = 0; i < iters; i++)
        for (int k = 0; k < PROBE_ACC; k++) acc[k] = gn_dot16(acc[k], ones, alt);
    int32x4_t s = acc[0];
    for (int k = 1; k < PROBE_ACC; k++) s = vaddq_s32(s, acc[k]);
    *sink = (float)vaddvq_s32(s);
    return iters * PROBE_ACC * 16 * 2;
}
