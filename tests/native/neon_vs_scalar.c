/* Runs every NEON kernel against its scalar twin on random input: dequantization, float16
 * rounding, the value mixes and the activation quantizers must be bit-identical; the float
 * GEMM, norms and convolution within float rounding of the scalar sums; the polynomial
 * activations within a few ulps of libm's; the int8-activation GEMMs (baseline NEON and SDOT)
 * within float rounding of a double-precision dot product of the dequantized operands. Built
 * for AArch64 and run under qemu by tests/test_kernels_cross.py; exit status 0 means every
 * check passed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_kernels.h"
#include "quant_blocks.h"
#include "rng.h"

/* A random finite half (any sign, exponent, mantissa, subnormals included). */
static uint16_t finite_half(void) {
    uint16_t h = (uint16_t)rnd();
    return (h & 0x7c00) == 0x7c00 ? (uint16_t)(h ^ 0x4000) : h;
}

static void put_half(uint8_t *p) {
    const uint16_t h = finite_half();
    memcpy(p, &h, 2);
}

/* Random blocks of `type` whose f16 fields are finite. */
static void random_blocks(int type, uint8_t *buf, int64_t nblocks, int64_t block_bytes) {
    for (int64_t i = 0; i < nblocks * block_bytes; i++) buf[i] = (uint8_t)rnd();
    for (int64_t b = 0; b < nblocks; b++) {
        uint8_t *blk = buf + b * block_bytes;
        switch (type) {
        case GN_TYPE_F16: put_half(blk); break;
        case GN_TYPE_Q4_0: case GN_TYPE_Q8_0: put_half(blk); break;
        case GN_TYPE_Q4_K: put_half(blk); put_half(blk + 2); break;
        case GN_TYPE_Q6_K: put_half(blk + offsetof(block_q6_K, d)); break;
        default: break;
        }
    }
}

typedef struct {
    int type;
    gn_dequant_fn scalar, neon;
} dequant_pair;

static const dequant_pair pairs[] = {
    {GN_TYPE_F16, gn_dequant_f16_scalar, gn_dequant_f16_neon},
    {GN_TYPE_BF16, gn_dequant_bf16_scalar, gn_dequant_bf16_neon},
    {GN_TYPE_Q4_0, gn_dequant_q4_0_scalar, gn_dequant_q4_0_neon},
    {GN_TYPE_Q8_0, gn_dequant_q8_0_scalar, gn_dequant_q8_0_neon},
    {GN_TYPE_Q4_K, gn_dequant_q4_k_scalar, gn_dequant_q4_k_neon},
    {GN_TYPE_Q6_K, gn_dequant_q6_k_scalar, gn_dequant_q6_k_neon},
};

static int check_dequant(void) {
    int failures = 0;
    const int64_t counts[] = {1, 3, 17, 64};
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        const gn_type_traits *t = gn_type_info(pairs[p].type);
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
            /* BF16 has no finite-only constraint: its NaN patterns shift through unchanged */
            const int64_t nb = counts[c] + (t->block_elems == 1 ? 5 : 0);
            const int64_t n = nb * t->block_elems;
            uint8_t *src = malloc((size_t)(nb * t->block_bytes));
            float *a = malloc((size_t)n * sizeof(float)), *b = malloc((size_t)n * sizeof(float));
            if (!src || !a || !b) return 1;
            random_blocks(pairs[p].type, src, nb, t->block_bytes);
            pairs[p].scalar(src, a, n);
            pairs[p].neon(src, b, n);
            if (memcmp(a, b, (size_t)n * sizeof(float))) {
                printf("FAIL dequant %s n=%lld\n", t->name, (long long)n);
                failures++;
            }
            free(src), free(a), free(b);
        }
        printf("dequant %s checked\n", t->name);
    }
    return failures;
}

/* The float16 cache's conversion, bit for bit: random finite floats of any exponent (most
 * overflow or underflow float16), floats near float16's range, and the ties halfway between
 * neighbouring float16 values, which round to even. */
static int check_to_f16(void) {
    int failures = 0;
    enum { N = 4099 };
    float *x = malloc(N * sizeof(float));
    uint16_t *a = malloc(N * sizeof(uint16_t)), *b = malloc(N * sizeof(uint16_t));
    if (!x || !a || !b) return 1;
    for (int i = 0; i < N; i++) {
        uint32_t bits = rnd();
        if (i % 3 == 1) /* exponents around float16's: 2^-26 .. 2^17 */
            bits = (bits & 0x807fffffu) | ((uint32_t)(101 + rnd() % 43) << 23);
        if ((bits & 0x7f800000u) == 0x7f800000u) bits ^= 0x40000000u;
        if (i % 3 == 2) { /* a tie: float16 h plus half its ulp */
            const float lo = gn_f16_to_f32(finite_half() & 0x7bfe);
            bits = 0;
            memcpy(&bits, &lo, 4);
            bits += 1u << 12;
        }
        memcpy(&x[i], &bits, 4);
    }
    for (int n = 1; n <= N; n += n < 40 ? 1 : 1000) {
        gn_to_f16_scalar(x, a, n);
        gn_to_f16_neon(x, b, n);
        if (memcmp(a, b, (size_t)n * sizeof(uint16_t))) {
            printf("FAIL to_f16 n=%d\n", n);
            failures++;
        }
    }
    printf("to_f16 checked\n");
    free(x), free(a), free(b);
    return failures;
}

static float frand(void) { return (float)((int32_t)rnd()) / 2147483648.0f; }

static int check_gemm(void) {
    const int64_t shapes[][3] = {{1, 1, 1},  {1, 7, 3},   {4, 4, 4},    {5, 6, 37},
                                 {3, 9, 64}, {13, 16, 100}, {1, 16, 2048}, {17, 5, 255}};
    int failures = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *x = malloc((size_t)(M * K) * sizeof(float)), *w = malloc((size_t)(N * K) * sizeof(float));
        float *ys = malloc((size_t)(M * N) * sizeof(float)), *yn = malloc((size_t)(M * N) * sizeof(float));
        if (!x || !w || !ys || !yn) return 1;
        for (int64_t i = 0; i < M * K; i++) x[i] = frand();
        for (int64_t i = 0; i < N * K; i++) w[i] = frand();
        gn_gemm_f32_scalar(M, N, K, x, K, w, K, ys, N);
        gn_gemm_f32_neon(M, N, K, x, K, w, K, yn, N);
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double mag = 0; /* sum |x w| bounds the rounding error of any summation order */
                for (int64_t k = 0; k < K; k++) mag += fabs((double)x[m * K + k] * w[n * K + k]);
                const double err = fabs((double)ys[m * N + n] - yn[m * N + n]);
                if (err > 1e-6 * mag + 1e-30) {
                    printf("FAIL gemm %lldx%lldx%lld at (%lld,%lld): %g vs %g\n", (long long)M,
                           (long long)N, (long long)K, (long long)m, (long long)n,
                           ys[m * N + n], yn[m * N + n]);
                    failures++;
                    m = M;
                    break;
                }
            }
        free(x), free(w), free(ys), free(yn);
    }
    printf("gemm checked\n");
    return failures;
}

/* Attention's weighted sum of value rows for 1 to 5 heads at once (one pass of 4 heads, then
 * the rest), widths around its blocks and tails: bit for bit the twin's fused multiply-add
 * chains, nothing written past each head's d outputs. */
static int check_mix(void) {
    const int64_t ns[] = {1, 7, 40}, ds[] = {4, 16, 19, 72, 128};
    enum { MAXN = 40, MAXD = 128, LDO = MAXD + 4 };
    static float p[5 * MAXN], v[MAXN * (MAXD + 3)], ys[5 * LDO], yn[5 * LDO];
    static uint16_t vh[MAXN * (MAXD + 3)];
    int failures = 0;
    for (int64_t heads = 1; heads <= 5; heads++)
        for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
            for (size_t b = 0; b < sizeof ds / sizeof ds[0]; b++) {
                const int64_t n = ns[a], d = ds[b], ldv = d + 3;
                for (int64_t i = 0; i < heads * n; i++) p[i] = frand();
                for (int64_t i = 0; i < n * ldv; i++) v[i] = frand();
                for (int64_t i = 0; i < 5 * LDO; i++) ys[i] = yn[i] = 7.0f;
                gn_mix_scalar(p, n, heads, n, v, ldv, ys, LDO, d);
                gn_mix_neon(p, n, heads, n, v, ldv, yn, LDO, d);
                if (memcmp(ys, yn, sizeof ys) != 0) {
                    printf("FAIL mix heads=%lld n=%lld d=%lld\n", (long long)heads, (long long)n,
                           (long long)d);
                    failures++;
                }
                for (int64_t i = 0; i < n * ldv; i++) vh[i] = finite_half();
                gn_mix_f16_scalar(p, n, heads, n, vh, ldv, ys, LDO, d);
                gn_mix_f16_neon(p, n, heads, n, vh, ldv, yn, LDO, d);
                if (memcmp(ys, yn, sizeof ys) != 0) {
                    printf("FAIL mix_f16 heads=%lld n=%lld d=%lld\n", (long long)heads,
                           (long long)n, (long long)d);
                    failures++;
                }
            }
    printf("mix checked\n");
    return failures;
}

/* The F16 GEMV against its scalar twin, every x row count it takes, row counts around its
 * 4-row tile and widths around its 8-column step, within the rounding of any summation
 * order. */
static int check_gemv_f16(void) {
    const int64_t shapes[][2] = {{1, 1}, {3, 7}, {4, 8}, {5, 37}, {9, 64}, {6, 2048}};
    int failures = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int64_t M = 1; M <= GN_GEMV_MAX_M; M++) {
            const int64_t N = shapes[s][0], K = shapes[s][1], ldw = K + 3;
            float *x = malloc((size_t)(M * K) * sizeof(float));
            uint16_t *w = malloc((size_t)(N * ldw) * sizeof(uint16_t));
            float *ys = malloc((size_t)(M * N) * sizeof(float)), *yn = malloc((size_t)(M * N) * sizeof(float));
            if (!x || !w || !ys || !yn) return 1;
            for (int64_t i = 0; i < M * K; i++) x[i] = frand();
            for (int64_t i = 0; i < N * ldw; i++) w[i] = finite_half();
            gn_gemv_f16_scalar(M, N, K, x, w, ldw, ys, N);
            gn_gemv_f16_neon(M, N, K, x, w, ldw, yn, N);
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++) {
                    double mag = 0;
                    for (int64_t k = 0; k < K; k++)
                        mag += fabs((double)x[m * K + k] * gn_f16_to_f32(w[n * ldw + k]));
                    if (fabs((double)ys[m * N + n] - yn[m * N + n]) > 1e-6 * mag + 1e-30) {
                        printf("FAIL gemv_f16 M=%lld N=%lld K=%lld at (%lld,%lld): %g vs %g\n",
                               (long long)M, (long long)N, (long long)K, (long long)m,
                               (long long)n, ys[m * N + n], yn[m * N + n]);
                        failures++;
                        m = M;
                        break;
                    }
                }
            free(x), free(w), free(ys), free(yn);
        }
    printf("gemv_f16 checked\n");
    return failures;
}

/* Largest difference between a and b in units of `unit` (a, b finite or NaN together). */
static double max_diff(const float *a, const float *b, int64_t n, double unit) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) {
            if (!(isnan(a[i]) && isnan(b[i]))) return INFINITY;
            continue;
        }
        const double d = fabs((double)a[i] - b[i]) / unit;
        worst = d > worst ? d : worst;
    }
    return worst;
}

/* The float32 ulp at |v| */
static double ulp_at(float v) {
    int e;
    frexp(fabs((double)v), &e);
    return ldexp(1.0, (e - 24) < -149 ? -149 : e - 24);
}

/* Largest (|a - b| - abs_bound) in float32 ulps of b, NaN only where both are; differences
 * below 2^-126 count as none. */
static double max_ulps_over(const float *a, const float *b, int64_t n, double abs_bound) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) {
            if (!(isnan(a[i]) && isnan(b[i]))) return INFINITY;
            continue;
        }
        const double d = fabs((double)a[i] - b[i]) - abs_bound;
        if (d <= 0x1p-126) continue;
        worst = d / ulp_at(b[i]) > worst ? d / ulp_at(b[i]) : worst;
    }
    return worst;
}

static double max_ulps(const float *a, const float *b, int64_t n) { return max_ulps_over(a, b, n, 0); }

typedef struct {
    const char *name;
    gn_unary_fn scalar, neon;
    double ulps, abs_bound; /* bound against the libm twin: ulps beyond abs_bound, which covers
                               the cancellation of libm's 1 + erff in gelu's negative tail */
} act_pair;

/* The activations, GLU/SwiGLU and softmax: random values, exp's whole range, the far tails,
 * and every length around the vector width (tails written, nothing past them). */
static int check_activations(void) {
    const act_pair acts[] = {
        {"silu", gn_silu_scalar, gn_silu_neon, 6, 0},
        {"sigmoid", gn_sigmoid_scalar, gn_sigmoid_neon, 6, 0},
        {"gelu_erf", gn_gelu_erf_scalar, gn_gelu_erf_neon, 8, 2e-7},
    };
    enum { N = 4000 };
    static float x[N], u[N], a[N + 8], b[N + 8];
    for (int i = 0; i < N; i++) x[i] = i < 2000 ? 8.0f * frand() : -110.0f + 210.0f * (float)(i - 2000) / 2000.0f;
    for (int i = 0; i < N; i++) u[i] = 3.0f * frand();
    x[0] = -100.0f, x[1] = 100.0f, x[2] = -1e30f, x[3] = 1e30f, x[4] = 0.0f, x[5] = NAN;
    int failures = 0;
    for (size_t p = 0; p < sizeof acts / sizeof acts[0]; p++) {
        for (int64_t n = 1; n <= N; n = n < 40 ? n + 1 : n * 3) {
            const int64_t len = n < N ? n : N;
            for (int i = 0; i < 8; i++) a[len + i] = b[len + i] = 7.0f;
            acts[p].scalar(x, a, len);
            acts[p].neon(x, b, len);
            const double d = max_ulps_over(b, a, len, acts[p].abs_bound);
            if (d > acts[p].ulps || b[len] != 7.0f || b[len + 7] != 7.0f) {
                printf("FAIL %s n=%lld: %g\n", acts[p].name, (long long)len, d);
                failures++;
                break;
            }
        }
        printf("%s checked\n", acts[p].name);
    }
    const struct {
        const char *name;
        gn_binary_fn scalar, neon;
    } bins[] = {{"swiglu", gn_swiglu_scalar, gn_swiglu_neon}, {"glu", gn_glu_scalar, gn_glu_neon}};
    for (size_t p = 0; p < 2; p++) {
        for (int64_t n = 1; n < 40; n++) {
            bins[p].scalar(x + 6, u, a, n);
            bins[p].neon(x + 6, u, b, n);
            if (max_ulps(b, a, n) > 8) {
                printf("FAIL %s n=%lld\n", bins[p].name, (long long)n);
                failures++;
                break;
            }
        }
        printf("%s checked\n", bins[p].name);
    }
    for (int64_t n = 1; n < 300; n = n < 40 ? n + 1 : n * 2) {
        for (int64_t i = 0; i < n; i++) a[i] = b[i] = i % 3 == 1 ? -1e30f : 10.0f * frand();
        gn_softmax_scalar(a, n);
        gn_softmax_neon(b, n);
        if (max_diff(b, a, n, 1.0) > 4e-6) {
            printf("FAIL softmax n=%lld\n", (long long)n);
            failures++;
            break;
        }
    }
    printf("softmax checked\n");
    return failures;
}

/* LayerNorm and RMSNorm rows, long rows with a large mean included, and the depthwise
 * convolution, against the double-statistics / in-order scalar twins. */
static int check_norms_conv(void) {
    enum { D = 2048 };
    static float x[3 * D], w[D], bias[D], a[3 * D], b[3 * D];
    const int64_t dims[] = {1, 3, 4, 5, 17, 333, 1024, 2048};
    int failures = 0;
    for (size_t s = 0; s < sizeof dims / sizeof dims[0]; s++) {
        const int64_t d = dims[s];
        for (int64_t i = 0; i < d; i++) x[i] = 1000.0f + frand(), w[i] = frand(), bias[i] = frand();
        gn_layernorm_row_scalar(x, w, bias, 1e-5f, a, d);
        gn_layernorm_row_neon(x, w, bias, 1e-5f, b, d);
        /* a few roundings of |x| / std (x - mean loses what the float32 mean cannot hold) */
        const double ln_unit = d == 1 ? 1e-6 : 0x1p-24 * 1001.0 / 0.5;
        gn_rmsnorm_row_scalar(x, w, 1e-5f, a + D, d);
        gn_rmsnorm_row_neon(x, w, 1e-5f, b + D, d);
        if (max_diff(b, a, d, ln_unit) > 4 || max_ulps(b + D, a + D, d) > 6) {
            printf("FAIL norm rows d=%lld: %g %g\n", (long long)d, max_diff(b, a, d, ln_unit),
                   max_ulps(b + D, a + D, d));
            failures++;
        }
    }
    printf("norms checked\n");
    const int64_t shapes[][3] = {{1, 1, 1}, {5, 7, 3}, {20, 17, 15}, {9, 64, 33}, {3, 2048, 15}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t T = shapes[s][0], C = shapes[s][1], k = shapes[s][2];
        static float wt[33 * 2048];
        for (int64_t i = 0; i < T * C; i++) x[i] = frand();
        for (int64_t i = 0; i < k * C; i++) wt[i] = frand();
        gn_conv_dw_rows_scalar(x, T, C, wt, k, 0, T, a);
        gn_conv_dw_rows_neon(x, T, C, wt, k, 0, T, b);
        /* inputs in [-1, 1): each output's rounding is below k units of 2^-24 times k */
        if (max_diff(b, a, T * C, 0x1p-24 * (double)k) > (double)k) {
            printf("FAIL conv_dw %lldx%lld k=%lld\n", (long long)T, (long long)C, (long long)k);
            failures++;
        }
    }
    printf("conv_dw checked\n");
    return failures;
}

/* The probes: the read sum equals the scalar twin's exactly (integer adds), and the FMA chains
 * do the FLOPs they report with a finite result. */
static int check_probes(void) {
    const size_t bytes = 64 * 1000;
    uint8_t *buf = malloc(bytes);
    if (!buf) return 1;
    for (size_t i = 0; i < bytes; i++) buf[i] = (uint8_t)rnd();
    int failures = gn_probe_read_neon(buf, bytes) != gn_probe_read_scalar(buf, bytes);
    float sink = 0.0f;
    failures += gn_probe_fma_neon(100, &sink) != 100 * 12 * 4 * 2 || !isfinite(sink);
    /* the int8 chains add 0 per product pair, so each ends at its start: 12 chains 0 .. 11 */
    failures += gn_probe_int8_neon(100, &sink) != 100 * 12 * 16 * 2 || sink != 4 * 66;
    if (gn_cpu()->dotprod)
        failures += gn_probe_int8_dotprod(100, &sink) != 100 * 12 * 16 * 2 || sink != 4 * 66;
    free(buf);
    printf(failures ? "FAIL probes\n" : "probes checked\n");
    return failures;
}

/* Random activations with the cases the quantization rule singles out: an all-zero block,
 * values whose scaled form lies exactly halfway between integers (amax 127 makes the inverse
 * scale exactly 1), where only round-half-even gives the scalar twin's bytes, and blocks
 * below and above the smallest amax whose 127 / amax is finite (~3.7e-37). */
static void random_activations(float *x, int64_t rows, int64_t k, int block) {
    for (int64_t i = 0; i < rows * k; i++) x[i] = frand() * (float)(1 + rnd() % 8);
    if (rows > 1)
        for (int64_t j = 0; j < k; j++)
            x[k + j] = j % block == 0 ? 127.0f : (float)((int)(rnd() % 509) - 254) / 2.0f;
    if (rows > 2)
        for (int j = 0; j < block; j++) x[2 * k + j] = 0.0f;
    if (rows > 3)
        for (int j = 0; j < 2 * block; j++) x[3 * k + j] *= j < block ? 1e-38f : 1e-36f;
}

static int check_quantize(void) {
    int failures = 0;
    const int64_t k = 1024, rows = 4;
    float *x = malloc((size_t)(rows * k) * sizeof(float));
    const size_t kbytes = (size_t)(k / QK_K) * sizeof(block_q8_K);
    const size_t sbytes = (size_t)(k / 32) * sizeof(block_q8_32);
    uint8_t *a = malloc(kbytes + sbytes), *b = malloc(kbytes + sbytes);
    if (!x || !a || !b) return 1;
    for (int block = 32; block <= QK_K; block *= 8) {
        random_activations(x, rows, k, block);
        x[3 * k + 2 * block + 5] = NAN; /* a NaN inside a block, and one at a block's end */
        x[3 * k + 4 * block - 1] = NAN;
        for (int64_t r = 0; r < rows; r++) {
            memset(a, 0x55, kbytes + sbytes); /* padding bytes equal on both sides */
            memset(b, 0x55, kbytes + sbytes);
            gn_quantize_q8_k_scalar(x + r * k, a, k);
            gn_quantize_q8_k_neon(x + r * k, b, k);
            gn_quantize_q8_32_scalar(x + r * k, a + kbytes, k);
            gn_quantize_q8_32_neon(x + r * k, b + kbytes, k);
            if (memcmp(a, b, kbytes)) {
                printf("FAIL quantize q8_K row %lld\n", (long long)r);
                failures++;
            }
            if (memcmp(a + kbytes, b + kbytes, sbytes)) {
                printf("FAIL quantize q8_32 row %lld\n", (long long)r);
                failures++;
            }
        }
    }
    free(x), free(a), free(b);
    printf("quantize checked\n");
    return failures;
}

/* Random weight blocks with f16 scales of realistic size (any bits elsewhere). */
static void random_weight_rows(int type, uint8_t *buf, int64_t nblocks, int64_t block_bytes) {
    for (int64_t i = 0; i < nblocks * block_bytes; i++) buf[i] = (uint8_t)rnd();
    const size_t q6_d = offsetof(block_q6_K, d);
    for (int64_t b = 0; b < nblocks; b++) {
        uint8_t *blk = buf + b * block_bytes;
        const size_t offs[2] = {type == GN_TYPE_Q6_K ? q6_d : 0, 2};
        for (int f = 0; f < (type == GN_TYPE_Q4_K ? 2 : 1); f++) {
            const uint16_t h = gn_f32_to_f16(frand() * 0.01f);
            memcpy(blk + offs[f], &h, 2);
        }
    }
}

typedef struct {
    int type;
    gn_dequant_fn dequant;
    gn_gemm_q_fn neon, dotprod;
} gemm_q_case;

static const gemm_q_case gemm_q_cases[] = {
    {GN_TYPE_Q4_K, gn_dequant_q4_k_scalar, gn_gemm_q4_k_neon, gn_gemm_q4_k_dotprod},
    {GN_TYPE_Q6_K, gn_dequant_q6_k_scalar, gn_gemm_q6_k_neon, gn_gemm_q6_k_dotprod},
    {GN_TYPE_Q8_0, gn_dequant_q8_0_scalar, gn_gemm_q8_0_neon, gn_gemm_q8_0_dotprod},
    {GN_TYPE_Q4_0, gn_dequant_q4_0_scalar, gn_gemm_q4_0_neon, gn_gemm_q4_0_dotprod},
};

/* x's dequantized values from its activation blocks. */
static void dequant_activations(int k_quant, const uint8_t *xq, double *dst, int64_t k) {
    if (k_quant) {
        const block_q8_K *b = (const block_q8_K *)xq;
        for (int64_t j = 0; j < k; j++) dst[j] = (double)b[j / QK_K].qs[j % QK_K] * b[j / QK_K].d;
    } else {
        const block_q8_32 *b = (const block_q8_32 *)xq;
        for (int64_t j = 0; j < k; j++) dst[j] = (double)b[j / 32].qs[j % 32] * b[j / 32].d;
    }
}

static int check_gemm_q(void) {
    int failures = 0;
    const int64_t K = 512, N = 37, Ms[] = {1, 3, 6, 17};
    for (size_t t = 0; t < sizeof gemm_q_cases / sizeof gemm_q_cases[0]; t++) {
        const gemm_q_case *gc = &gemm_q_cases[t];
        const gn_type_traits *tr = gn_type_info(gc->type);
        const int k_quant = tr->block_elems == QK_K;
        const int64_t wrb = K / tr->block_elems * tr->block_bytes;
        const int64_t xrb = k_quant ? K / QK_K * (int64_t)sizeof(block_q8_K)
                                    : K / 32 * (int64_t)sizeof(block_q8_32);
        for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++) {
            const int64_t M = Ms[mi];
            uint8_t *w = malloc((size_t)(N * wrb)), *xq = malloc((size_t)(M * xrb));
            float *x = malloc((size_t)(M * K) * sizeof(float));
            float *wf = malloc((size_t)(N * K) * sizeof(float));
            double *xd = malloc((size_t)(M * K) * sizeof(double));
            float *y = malloc((size_t)(M * N) * sizeof(float));
            if (!w || !xq || !x || !wf || !xd || !y) return 1;
            random_weight_rows(gc->type, w, N * wrb / tr->block_bytes, tr->block_bytes);
            random_activations(x, M, K, k_quant ? QK_K : 32);
            for (int64_t m = 0; m < M; m++) {
                const gn_quantize_act_fn quantize =
                    k_quant ? gn_quantize_q8_k_scalar : gn_quantize_q8_32_scalar;
                quantize(x + m * K, xq + m * xrb, K);
                dequant_activations(k_quant, xq + m * xrb, xd + m * K, K);
            }
            for (int64_t n = 0; n < N; n++) gc->dequant(w + n * wrb, wf + n * K, K);
            /* SDOT only where the CPU has it: the harness also runs on a CPU model without */
            const gn_gemm_q_fn kernels[2] = {gc->neon, gc->dotprod};
            for (int v = 0; v < (gn_cpu()->dotprod ? 2 : 1); v++) {
                for (int64_t i = 0; i < M * N; i++) y[i] = NAN;
                kernels[v](M, N, K, xq, xrb, w, wrb, y, N);
                for (int64_t m = 0; m < M; m++)
                    for (int64_t n = 0; n < N; n++) {
                        double ref = 0, mag = 0;
                        for (int64_t k = 0; k < K; k++) {
                            ref += (double)wf[n * K + k] * xd[m * K + k];
                            mag += fabs((double)wf[n * K + k] * xd[m * K + k]);
                        }
                        if (!(fabs(y[m * N + n] - ref) <= 2e-6 * mag + 1e-30)) {
                            printf("FAIL gemm_q %s %s M=%lld at (%lld,%lld): %g vs %g\n", tr->name,
                                   v ? "dotprod" : "neon", (long long)M, (long long)m, (long long)n,
                                   y[m * N + n], ref);
                            failures++;
                            m = M;
                            break;
                        }
                    }
            }
            free(w), free(xq), free(x), free(wf), free(xd), free(y);
        }
        printf("gemm_q %s checked %s\n", tr->name, gn_cpu()->dotprod ? "(neon, dotprod)" : "(neon)");
    }
    return failures;
}

/* The dispatch table routes gn_matmul to the NEON kernels when NEON is selected. */
static int check_dispatch(void) {
    if (!gn_isa_supported(GN_ISA_NEON) || gn_isa_select(GN_ISA_NEON) != GN_OK) {
        printf("FAIL neon not selectable\n");
        return 1;
    }
    if (gn_active->gemm_f32 != gn_gemm_f32_neon || gn_active->gemv_f16 != gn_gemv_f16_neon ||
        gn_active->dequant[GN_TYPE_Q6_K] != gn_dequant_q6_k_neon ||
        gn_active->quantize_q8_k != gn_quantize_q8_k_neon || gn_active->silu != gn_silu_neon ||
        gn_active->conv_dw != gn_conv_dw_rows_neon) {
        printf("FAIL neon table not in force\n");
        return 1;
    }
    /* the SDOT kernels and probe exactly where the CPU has the instruction */
    const gn_gemm_q_fn want = gn_cpu()->dotprod ? gn_gemm_q4_k_dotprod : gn_gemm_q4_k_neon;
    const gn_probe_fma_fn probe = gn_cpu()->dotprod ? gn_probe_int8_dotprod : gn_probe_int8_neon;
    if (gn_active->gemm_q[GN_TYPE_Q4_K] != want || gn_active->probe_int8 != probe ||
        gn_matmul_path(GN_TYPE_Q4_K, GN_MATMUL_INT8, 1) != GN_PATH_INT8 ||
        gn_matmul_path(GN_TYPE_Q4_K, GN_MATMUL_INT8, 64) != GN_PATH_INT8) {
        printf("FAIL int8 kernels not in force\n");
        return 1;
    }
    printf("dispatch checked (dotprod %s)\n", gn_cpu()->dotprod ? "yes" : "no");
    return 0;
}

int main(void) {
    const int failures = check_dequant() + check_to_f16() + check_gemm() + check_gemv_f16() +
                         check_mix() + check_activations() +
                         check_norms_conv() + check_probes() + check_quantize() +
                         check_gemm_q() + check_dispatch();
    printf(failures ? "FAILED\n" : "OK\n");
    return failures ? 1 : 0;
}
