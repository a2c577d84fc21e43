/* Which AVX-512 instructions compete with vpdpbusd for issue, on one core: the ceiling of the
 * Q4_K x int8 tile (csrc/gemm_q_r16_avx512.c) against the int8 probe (benchmarks/RESULTS.md,
 * session 17). Each line times 24 independent vpdpbusd (12 chains, two rounds) alone and
 * with 6 independent instructions of one kind beside them; an instruction that shares
 * vpdpbusd's pipes adds its own cycles, one that does not adds none. Cycles come from a loop of
 * dependent scalar adds (one a cycle), so turbo and the VM's clock are taken as they are.
 *
 *     cc -O2 -mavx512f -mavx512bw -mavx512vnni benchmarks/vnni_pipes.c -o /tmp/vnni_pipes
 *     /tmp/vnni_pipes        (x86-64 with AVX-512 VNNI only)
 */
#include <stdio.h>
#include <time.h>

#define ROUNDS 20000000L

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double ghz(void) {
    long x = 0;
    const double t0 = now();
    for (long i = 0; i < ROUNDS * 4; i++)
        __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
    return 16.0 * (double)ROUNDS / (now() - t0) * 1e-9;
}

#define DP(r) "vpdpbusd %%zmm30, %%zmm31, %%zmm" #r "\n\t"
#define DP12 DP(0) DP(1) DP(2) DP(3) DP(4) DP(5) DP(6) DP(7) DP(8) DP(9) DP(10) DP(11)
/* six independent results of `op` (AT&T operand order: sources, then destination) */
#define SIX(op)                                                                                   \
    op " %%zmm30, %%zmm12, %%zmm12\n\t" op " %%zmm30, %%zmm13, %%zmm13\n\t"                       \
    op " %%zmm30, %%zmm14, %%zmm14\n\t" op " %%zmm30, %%zmm15, %%zmm15\n\t"                       \
    op " %%zmm30, %%zmm16, %%zmm16\n\t" op " %%zmm30, %%zmm17, %%zmm17\n\t"
#define SIX_IMM(op)                                                                               \
    op " $4, %%zmm30, %%zmm12\n\t" op " $4, %%zmm30, %%zmm13\n\t" op " $4, %%zmm30, %%zmm14\n\t"  \
    op " $4, %%zmm30, %%zmm15\n\t" op " $4, %%zmm30, %%zmm16\n\t" op " $4, %%zmm30, %%zmm17\n\t"
#define SIX_UNARY(op)                                                                             \
    op " %%zmm30, %%zmm12\n\t" op " %%zmm30, %%zmm13\n\t" op " %%zmm30, %%zmm14\n\t"              \
    op " %%zmm30, %%zmm15\n\t" op " %%zmm30, %%zmm16\n\t" op " %%zmm30, %%zmm17\n\t"
#define CLOBBERS                                                                                  \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",       \
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17"

#define TIME(name, body)                                                                          \
    do {                                                                                          \
        const double t0 = now();                                                                  \
        for (long n = 0; n < ROUNDS; n++) __asm__ volatile(body ::: CLOBBERS);                    \
        printf("%-26s %5.1f cycles\n", name, (now() - t0) / ROUNDS * 1e9 * clock);                \
    } while (0)

int main(void) {
    __asm__ volatile("vpternlogd $0xff, %%zmm30, %%zmm30, %%zmm30\n\t"
                     "vpternlogd $0xff, %%zmm31, %%zmm31, %%zmm31" ::: "xmm30", "xmm31");
    const double clock = ghz();
    printf("%.2f GHz (dependent adds)\n", clock);
    TIME("24 vpdpbusd", DP12 DP12);
    TIME("  + 6 vpmulld", DP12 DP12 SIX("vpmulld"));
    TIME("  + 6 vpdpwssd", DP12 DP12 SIX("vpdpwssd"));
    TIME("  + 6 vfmadd231ps", DP12 DP12 SIX("vfmadd231ps"));
    TIME("  + 6 vmulps", DP12 DP12 SIX("vmulps"));
    TIME("  + 6 vpaddd", DP12 DP12 SIX("vpaddd"));
    TIME("  + 6 vpandd", DP12 DP12 SIX("vpandd"));
    TIME("  + 6 vpsrlw", DP12 DP12 SIX_IMM("vpsrlw"));
    TIME("  + 6 vcvtdq2ps", DP12 DP12 SIX_UNARY("vcvtdq2ps"));
    /* per x row and super-block of 16 rows: 64 vpdpbusd, 8 vpmulld, 4 vpdpwssd, 3 float mults */
    printf("Q4_K tile ceiling if the last four share the pipes: 64 / 79 = %.0f%% of the probe\n",
           100.0 * 64 / 79);
    return 0;
}
