/* Runs the AVX-VNNI kernels (the csrc files ending in _avxvnni.c) against their scalar twins,
 * bit for bit: the Q4_K_R16 GEMV and prompt tiles and the Q8_K_R16 tiles, on random weights in
 * each layout's format and x rows quantized to Q8_K, at x row counts around the tiles, one and
 * three 16-row groups and one and three super-blocks; and the int8 probe's count and sum. No
 * emulator here executes AVX-VNNI, so tests/test_kernels_avxvnni.py links this with the kernel
 * files built as GN_AVXVNNI_EVEX (the same instructions in EVEX encoding) and runs it on
 * AVX-512 VNNI CPUs. Exit status 0 means every check passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_kernels.h"
#include "quant_blocks.h"
#include "quantize_rows.h"
#include "rng.h"

static float uniform(void) { return (float)rnd() / 4294967296.0f * 2.0f - 1.0f; }

/* A finite half of either sign with an exponent near 1 (scales as quantizers make them). */
static uint16_t half_scale(void) { return (uint16_t)(0x2000 + (rnd() & 0x0fff) + (rnd() & 1) * 0x8000); }

static int failures;

static void check(const char *what, const float *want, const float *got, int64_t n) {
    if (memcmp(want, got, (size_t)n * sizeof(float)) != 0) {
        for (int64_t i = 0; i < n; i++)
            if (memcmp(&want[i], &got[i], sizeof(float))) {
                printf("FAIL %s: element %lld: %.9g against the twin's %.9g\n", what, (long long)i,
                       got[i], want[i]);
                break;
            }
        failures++;
    }
}

/* x rows [M, K] of random floats, quantized to Q8_K; returns the row stride in bytes */
static uint8_t *random_x(int64_t M, int64_t K, int64_t *row_bytes) {
    *row_bytes = K / QK_K * (int64_t)sizeof(block_q8_K);
    uint8_t *xq = malloc((size_t)(M * *row_bytes));
    float *x = malloc((size_t)K * sizeof(float));
    for (int64_t m = 0; m < M; m++) {
        for (int64_t k = 0; k < K; k++) x[k] = uniform() * (1 + (float)(rnd() % 8));
        gn_quantize_q8_k_scalar(x, xq + m * *row_bytes, K);
    }
    free(x);
    return xq;
}

/* groups x 16 rows of Q4_K_R16 within the format: 6-bit scales and mins */
static uint8_t *random_q4_k_r16(int64_t groups, int64_t nb) {
    block_q4_K_r16 *w = malloc((size_t)(groups * nb) * sizeof *w);
    for (int64_t i = 0; i < groups * nb; i++) {
        uint8_t *bytes = (uint8_t *)&w[i];
        for (size_t j = 0; j < sizeof w[i]; j++) bytes[j] = (uint8_t)rnd();
        for (int r = 0; r < GN_R16; r++) {
            w[i].d[r] = half_scale();
            w[i].dmin[r] = half_scale();
            for (int s = 0; s < 8; s++) w[i].scales[s][r] &= 63;
            for (int p = 0; p < 4; p++) w[i].mins[p][r][0] &= 63, w[i].mins[p][r][1] &= 63;
        }
    }
    return (uint8_t *)w;
}

/* groups x 16 rows of Q8_K_R16 made by the library's quantizer from random floats */
static uint8_t *random_q8_k_r16(int64_t groups, int64_t K) {
    const int64_t nb = K / QK_K;
    uint8_t *w = malloc((size_t)(groups * nb) * sizeof(block_q8_K_r16));
    float *rows = malloc((size_t)(GN_R16 * K) * sizeof(float));
    for (int64_t g = 0; g < groups; g++) {
        for (int64_t i = 0; i < GN_R16 * K; i++) rows[i] = uniform() * (i % 97 == 0 ? 20 : 1);
        gn_quantize_group_q8_k_r16(rows, w + g * nb * (int64_t)sizeof(block_q8_K_r16), K);
    }
    free(rows);
    return w;
}

static void compare(const char *name, gn_gemm_q_fn kernel, gn_gemm_q_fn twin, int q8) {
    static const int64_t Ms[] = {1, 2, 3, 5, 8, 13};
    static const int64_t Ns[] = {16, 48};
    static const int64_t Ks[] = {256, 768};
    char what[96];
    for (size_t a = 0; a < sizeof Ns / sizeof *Ns; a++)
        for (size_t b = 0; b < sizeof Ks / sizeof *Ks; b++) {
            const int64_t N = Ns[a], K = Ks[b], groups = N / GN_R16, nb = K / QK_K;
            const int64_t wrb = nb * (int64_t)(q8 ? sizeof(block_q8_K_r16) : sizeof(block_q4_K_r16)) / GN_R16;
            uint8_t *w = q8 ? random_q8_k_r16(groups, K) : random_q4_k_r16(groups, nb);
            for (size_t c = 0; c < sizeof Ms / sizeof *Ms; c++) {
                const int64_t M = Ms[c];
                int64_t xrb;
                uint8_t *xq = random_x(M, K, &xrb);
                float *want = malloc((size_t)(M * N) * sizeof(float));
                float *got = malloc((size_t)(M * N) * sizeof(float));
                twin(M, N, K, xq, xrb, w, wrb, want, N);
                kernel(M, N, K, xq, xrb, w, wrb, got, N);
                snprintf(what, sizeof what, "%s M=%lld N=%lld K=%lld", name, (long long)M,
                         (long long)N, (long long)K);
                check(what, want, got, M * N);
                free(xq);
                free(want);
                free(got);
            }
            free(w);
        }
    printf("%s checked\n", name);
}

int main(void) {
    const gn_gemm_q_fn q4 = gn_avxvnni_q4_k_r16(), q8 = gn_avxvnni_q8_k_r16();
    const gn_probe_fma_fn probe = gn_avxvnni_probe_int8();
    if (!q4 || !q8 || !probe) {
        printf("FAIL: kernels not built\n");
        return 1;
    }
    compare("Q4_K_R16", q4, gn_gemm_q_q4_k_r16_scalar, 0);
    compare("Q8_K_R16", q8, gn_gemm_q_q8_k_r16_scalar, 1);
    float sink = -1;
    const int64_t ops = probe(10, &sink);
    if (ops != 10 * 12 * 32 * 2 || sink != 12 * 11 / 2 * 8) { /* the chains add zeros to k */
        printf("FAIL probe: %lld ops, sum %g\n", (long long)ops, sink);
        failures++;
    }
    printf("probe checked\n");
    if (failures) return 1;
    printf("OK\n");
    return 0;
}
