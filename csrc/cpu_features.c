/* Run-time CPU feature detection. Compiled with no ISA flags: it runs before dispatch.
 * x86 needs CPUID (what the core implements) *and* XGETBV (what register state the OS saves
 * on context switch); AVX code on an OS that does not save YMM state corrupts registers. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* syscall() */
#endif
#include "gn.h"
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define GN_X86 1
#if defined(_MSC_VER)
#include <intrin.h>
static void cpuid(int leaf, int sub, unsigned r[4]) {
    int v[4];
    __cpuidex(v, leaf, sub);
    for (int i = 0; i < 4; i++) r[i] = (unsigned)v[i];
}
static unsigned long long xgetbv0(void) { return _xgetbv(0); }
#else
#include <cpuid.h>
static void cpuid(int leaf, int sub, unsigned r[4]) {
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}
static unsigned long long xgetbv0(void) {
    unsigned lo, hi;
    /* the xgetbv opcode spelled out: the mnemonic would need -mxsave on this file */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
/* Linux hands out AMX tile state per process, on request (arch/x86 ARCH_REQ_XCOMP_PERM):
 * without it the first tile instruction faults. Refused when a thread's signal stack is too
 * small for the larger signal frame. */
static int amx_permitted(void) {
    const long ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18;
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}
#else
static int amx_permitted(void) { return 1; } /* where XCR0 enables it, it is usable */
#endif

static void detect(gn_cpu_features *f) {
    unsigned r[4];
    unsigned long long xcr0 = 0;
    cpuid(0, 0, r);
    const unsigned max_leaf = r[0];
    f->intel = r[1] == 0x756e6547u && r[3] == 0x49656e69u && r[2] == 0x6c65746eu; /* "GenuineIntel" */
    cpuid(1, 0, r);
    const unsigned ecx1 = r[2];
    f->sse3 = (ecx1 >> 0) & 1;
    f->ssse3 = (ecx1 >> 9) & 1;
    const int fma = (ecx1 >> 12) & 1, osxsave = (ecx1 >> 27) & 1, avx = (ecx1 >> 28) & 1;
    const int f16c = (ecx1 >> 29) & 1;
    if (osxsave) {
        xcr0 = xgetbv0();
        f->os_ymm = (xcr0 & 0x6) == 0x6;     /* XMM and YMM state */
        f->os_zmm = (xcr0 & 0xe6) == 0xe6;   /* plus opmask, ZMM_Hi256, Hi16_ZMM */
    }
    if (!f->os_ymm) return; /* nothing from AVX on can run */
    f->avx = avx;
    f->fma = fma;
    f->f16c = f16c;
    if (max_leaf < 7) return;
    cpuid(7, 0, r);
    const unsigned ebx7 = r[1], ecx7 = r[2], edx7 = r[3];
    f->avx2 = (ebx7 >> 5) & 1;
    cpuid(7, 1, r);
    const unsigned eax71 = r[0];
    f->avxvnni = (eax71 >> 4) & 1;
    if (!f->os_zmm) return;
    f->avx512f = (ebx7 >> 16) & 1;
    f->avx512dq = (ebx7 >> 17) & 1;
    f->avx512bw = (ebx7 >> 30) & 1;
    f->avx512vl = (ebx7 >> 31) & 1;
    f->avx512vnni = (ecx7 >> 11) & 1;
    f->avx512bf16 = (eax71 >> 5) & 1;
    /* AMX-TILE (bit 24), AMX-BF16 (bit 22); XCR0 bits 17-18: tile configuration and data */
    if (((edx7 >> 24) & 1) && ((edx7 >> 22) & 1) && (xcr0 & 0x60000) == 0x60000)
        f->amx_bf16 = amx_permitted();
}

#elif defined(__aarch64__) || defined(_M_ARM64)
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1 << 10)
#endif
static void detect(gn_cpu_features *f) {
    const unsigned long hw = getauxval(AT_HWCAP);
    f->neon = 1; /* Advanced SIMD is mandatory on AArch64 */
    f->dotprod = (hw & HWCAP_ASIMDDP) != 0;
    f->fp16 = (hw & HWCAP_ASIMDHP) != 0;
}
#elif defined(__APPLE__)
#include <sys/sysctl.h>
static int sysctl_flag(const char *name) {
    int v = 0;
    size_t len = sizeof(v);
    return sysctlbyname(name, &v, &len, NULL, 0) == 0 && v;
}
static void detect(gn_cpu_features *f) {
    f->neon = 1;
    f->dotprod = sysctl_flag("hw.optional.arm.FEAT_DotProd");
    f->fp16 = sysctl_flag("hw.optional.arm.FEAT_FP16");
}
#elif defined(_WIN32)
#include <windows.h>
static void detect(gn_cpu_features *f) {
    f->neon = 1;
#ifdef PF_ARM_V82_DP_INSTRUCTIONS_AVAILABLE
    f->dotprod = IsProcessorFeaturePresent(PF_ARM_V82_DP_INSTRUCTIONS_AVAILABLE) != 0;
#endif
}
#else
static void detect(gn_cpu_features *f) { f->neon = 1; }
#endif

#else
static void detect(gn_cpu_features *f) { (void)f; }
#endif

static gn_cpu_features features;
static int detected;

const gn_cpu_features *gn_cpu(void) {
    /* Idempotent: concurrent first calls write the same values. */
    if (!detected) {
        gn_cpu_features f;
        memset(&f, 0, sizeof f);
        detect(&f);
        features = f;
        detected = 1;
    }
    return &features;
}
