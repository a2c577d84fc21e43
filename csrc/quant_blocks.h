/* Block layouts of the quantized GGUF types (bit-compatible with ggml) and the scalar
 * half-precision conversions every file may use. */
#ifndef GN_QUANT_BLOCKS_H
#define GN_QUANT_BLOCKS_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define QK4_0 32
#define QK8_0 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct { uint16_t d; uint8_t qs[QK4_0 / 2]; } block_q4_0;              /* 18 B */
typedef struct { uint16_t d; int8_t qs[QK8_0]; } block_q8_0;                   /* 34 B */
typedef struct {                                                               /* 144 B */
    uint16_t d, dmin;              /* super-block scale for scales / for mins */
    uint8_t scales[K_SCALE_SIZE];  /* 8 x (6-bit scale, 6-bit min) */
    uint8_t qs[QK_K / 2];          /* 4-bit quants */
} block_q4_K;
typedef struct {                                                               /* 210 B */
    uint8_t ql[QK_K / 2];          /* low 4 bits */
    uint8_t qh[QK_K / 4];          /* high 2 bits */
    int8_t scales[QK_K / 16];      /* 8-bit scales of 16-element groups */
    uint16_t d;
} block_q6_K;

/* Q4_K repacked for the int8 kernels (GN_TYPE_Q4_K_R16, internal): one super-block of 16
 * consecutive rows, so a 512-bit vector holds one 32-bit lane per row and one vpdpbusd
 * multiplies 4 values of each of the 16 rows by the same 4 x quants. A row's scales, mins and
 * quants are its Q4_K block's, unpacked and regrouped:
 *   qs[s][v][r][j]: row r, sub-block s (values 32 s ..): the low nibble holds value 4 v + j,
 *                   the high nibble value 16 + 4 v + j (v < 4, j < 4);
 *   scales[s][r], mins[p][r][h]: the 6-bit scale of sub-block s, the min of sub-block 2p + h,
 *                   pairs that one vpdpwssd multiplies with two sub-block sums of x. */
#define GN_R16 16
typedef struct {                                                               /* 2368 B */
    uint16_t d[GN_R16], dmin[GN_R16];
    uint8_t scales[8][GN_R16];
    uint8_t mins[4][GN_R16][2];
    uint8_t qs[8][4][GN_R16][4];
} block_q4_K_r16;

/* Float weights quantized at load to 8 bits for the int8 kernels (GN_TYPE_Q8_K_R16, internal;
 * gn_quantize): 16 rows interleaved like block_q4_K_r16, 256 values a row. Row r's value
 * 32 s + 4 v + j is d[r] * scales[s][r] * qs[s][v][r][j]: a float scale per super-block and an
 * 8-bit scale per 32 values, so a small sub-block keeps the full range of its own quants.
 * Quantization rule (gn_quantize, one C function on every ISA): amax_s = max |w| over
 * sub-block s, d = max_s amax_s / (127 * 255), scales[s] = min(255, ceil(amax_s / (127 d)))
 * (0 for an all-zero sub-block), q = round-half-even(w * (1 / (d * scales[s]))) clamped to
 * [-127, 127]; a row's 256 values holding a NaN give d = NaN (0x7fc00000) and zero scales
 * and quants, so its products are NaN as the float weights' would be. (Seven bits would let
 * AVX2 skip a sign step, but cost the encoder's parity: cos 0.998 on the full-size random
 * model, 0.9995 with eight.) */
typedef struct {                                                               /* 4288 B */
    float d[GN_R16];
    uint8_t scales[8][GN_R16];
    int8_t qs[8][8][GN_R16][4];
} block_q8_K_r16;

/* Activations quantized for integer dot products (internal, never stored in a file), one
 * row at a time. Q8_K pairs with the k-quants: one scale per 256 values, and per-16 and
 * per-32 sums of the quants, which fold Q6_K's and Q4_K's mins into one multiply per group
 * (the interleaved Q4_K kernels read the per-32 sums two to a dword, as they pair mins).
 * Q8_32 pairs with Q4_0 and Q8_0: one scale per 32 and the sum that removes Q4_0's offset
 * of 8.
 * Quantization rule (every ISA gives the same bytes): amax = max |x| over the block;
 * d = amax / 127; q = round-half-even(x * (127 / amax)), so q is in [-127, 127]; an all-zero
 * block has d = 0 and q = 0, and so has a block whose 127 / amax overflows (amax below
 * ~3.7e-37), whose products would be infinite and their conversion each ISA's own. A block
 * holding a NaN has q = 0 and d = NaN (0x7fc00000), so that every product with it is NaN,
 * as in float arithmetic, instead of the NaN vanishing into a rounded byte. The dot product
 * of a W row with a quantized x row is sum over blocks of (W block's dequantized values . q)
 * * d. */
typedef struct {                                                               /* 308 B */
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];  /* sums of 16 quants */
    int16_t sums32[QK_K / 32]; /* sums of 32: bsums[2 s] + bsums[2 s + 1] */
} block_q8_K;
typedef struct { float d; int32_t sum; int8_t qs[32]; } block_q8_32;                /* 40 B */

/* The sums a quantizer stores beside its quants, from the quants (every ISA's sums must equal
 * these). */
static inline void gn_q8_k_fill_sums32(block_q8_K *b) {
    for (int s = 0; s < QK_K / 32; s++) b->sums32[s] = (int16_t)(b->bsums[2 * s] + b->bsums[2 * s + 1]);
}
/* The inverse scale 127 / amax of an activation block (amax NaN where the block holds a
 * NaN), or 0 for a block whose quants the rule sets to 0: amax 0, so small that the quotient
 * overflows, or NaN. */
static inline float gn_q8_iscale(float amax) {
    const float iscale = amax == 0.0f ? 0.0f : 127.0f / amax;
    return iscale <= FLT_MAX ? iscale : 0.0f;
}
/* d of such a block: NaN for one holding a NaN, else 0. */
static inline float gn_q8_zero_d(float amax) { return amax == amax ? 0.0f : NAN; }
static inline void gn_q8_k_fill_bsums(block_q8_K *b) {
    for (int g = 0; g < QK_K / 16; g++) {
        int sum = 0;
        for (int j = 0; j < 16; j++) sum += b->qs[16 * g + j];
        b->bsums[g] = (int16_t)sum;
    }
    gn_q8_k_fill_sums32(b);
}
static inline void gn_q8_32_fill_sum(block_q8_32 *b) {
    int sum = 0;
    for (int j = 0; j < 32; j++) sum += b->qs[j];
    b->sum = sum;
}

_Static_assert(sizeof(block_q8_K) == 308, "block_q8_K layout");
_Static_assert(sizeof(block_q8_32) == 40, "block_q8_32 layout");
_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 layout");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 layout");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K layout");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K layout");
_Static_assert(sizeof(block_q4_K_r16) == 2368, "block_q4_K_r16 layout");
_Static_assert(sizeof(block_q8_K_r16) == 4288, "block_q8_K_r16 layout");

/* IEEE half <-> float without F16C, exact for every value (subnormals, inf, nan). */
static inline float gn_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Round to nearest even, as numpy's astype(float16) and F16C do. */
static inline uint16_t gn_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 | ((absx >> 13) & 0x3ff) : 0));
    if (absx >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00);
    if (absx < 0x38800000u) { /* result is subnormal or zero */
        if (absx < 0x33000000u) return (uint16_t)sign; /* below half of the smallest subnormal */
        uint32_t man = (absx & 0x7fffff) | 0x800000;
        int shift = 126 - (int)(absx >> 23); /* 14..24 */
        uint32_t h = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((absx >> 13) - (112u << 10));
    uint32_t rem = absx & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

static inline float gn_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Q4_K packs eight 6-bit (scale, min) pairs into 12 bytes. */
static inline void gn_q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* All eight at once, as bytes: sc[0:8] (in two words) the scales, mn[0:8] the mins. Each
 * byte of a word is one field, so the word operations unpack four fields at a time. */
static inline void gn_q4k_scales_mins(const uint8_t *q, uint32_t sc[2], uint32_t mn[2]) {
    uint32_t a, b, c;
    memcpy(&a, q, 4);
    memcpy(&b, q + 4, 4);
    memcpy(&c, q + 8, 4);
    sc[0] = a & 0x3f3f3f3fu;
    mn[0] = b & 0x3f3f3f3fu;
    sc[1] = (c & 0x0f0f0f0fu) | ((a >> 6) & 0x03030303u) << 4;
    mn[1] = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 6) & 0x03030303u) << 4;
}

/* 4 activation quants (or 2 of Q8_K's int16 sums) as one int32, to broadcast to every lane of
 * an integer dot product */
static inline int32_t gn_load_i32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

#endif
