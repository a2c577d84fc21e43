/* One kernel table per ISA, and the choice among them. Compiled with no ISA flags: only
 * function addresses live here, never a SIMD instruction. An ISA table entry left NULL
 * falls back to the scalar twin when the table is selected. */
#include "gn_kernels.h"
#include "quant_blocks.h"

#if defined(__x86_64__) || defined(_M_X64)
#define GN_BUILD_X86 1
#elif defined(__aarch64__) || defined(_M_ARM64)
#define GN_BUILD_ARM 1
#endif

static const gn_type_traits traits[GN_TYPE_COUNT] = {
    [GN_TYPE_F32] = {"F32", 1, 4, 1, 0},
    [GN_TYPE_F16] = {"F16", 1, 2, 1, 0},
    [GN_TYPE_BF16] = {"BF16", 1, 2, 1, 0},
    [GN_TYPE_Q4_0] = {"Q4_0", QK4_0, sizeof(block_q4_0), 1, GN_ACT_Q8_32},
    [GN_TYPE_Q8_0] = {"Q8_0", QK8_0, sizeof(block_q8_0), 1, GN_ACT_Q8_32},
    [GN_TYPE_Q4_K] = {"Q4_K", QK_K, sizeof(block_q4_K), 1, GN_ACT_Q8_K},
    [GN_TYPE_Q6_K] = {"Q6_K", QK_K, sizeof(block_q6_K), 1, GN_ACT_Q8_K},
    /* a row's share of a 16-row block */
    [GN_TYPE_Q4_K_R16] = {"Q4_K_R16", QK_K, sizeof(block_q4_K_r16) / GN_R16, GN_R16, GN_ACT_Q8_K},
    [GN_TYPE_Q8_K_R16] = {"Q8_K_R16", QK_K, sizeof(block_q8_K_r16) / GN_R16, GN_R16, GN_ACT_Q8_K},
    /* a row's share of a panel: K / 2 pairs of bfloat16 */
    [GN_TYPE_BF16_P64] = {"BF16_P64", 2, 4, GN_BF16_PANEL, 0},
};

const gn_type_traits *gn_type_info(int type) {
    if (type < 0 || type >= GN_TYPE_COUNT || traits[type].name == NULL) return NULL;
    return &traits[type];
}

int64_t gn_row_bytes(int type, int64_t k) {
    const gn_type_traits *t = gn_type_info(type);
    if (!t || k < 0 || k % t->block_elems) return -1;
    const int64_t blocks = k / t->block_elems;
    if (blocks > INT64_MAX / t->block_bytes) return -1;
    return blocks * t->block_bytes;
}

int64_t gn_matrix_bytes(int type, int64_t n, int64_t k) {
    const int64_t rb = gn_row_bytes(type, k);
    if (rb < 0 || n < 1) return -1;
    const int64_t g = gn_type_info(type)->row_group, groups = n / g + (n % g != 0);
    if (groups > INT64_MAX / g / (rb > 0 ? rb : 1)) return -1;
    return groups * g * rb;
}

static const gn_kernels scalar_table = {
    .isa = GN_ISA_SCALAR,
    .dequant = {
        [GN_TYPE_F32] = gn_dequant_f32_scalar,
        [GN_TYPE_F16] = gn_dequant_f16_scalar,
        [GN_TYPE_BF16] = gn_dequant_bf16_scalar,
        [GN_TYPE_Q4_0] = gn_dequant_q4_0_scalar,
        [GN_TYPE_Q8_0] = gn_dequant_q8_0_scalar,
        [GN_TYPE_Q4_K] = gn_dequant_q4_k_scalar,
        [GN_TYPE_Q6_K] = gn_dequant_q6_k_scalar,
    },
    .to_f16 = gn_to_f16_scalar,
    .gemm_f32 = gn_gemm_f32_scalar,
    .gemv_f16 = gn_gemv_f16_scalar,
    .quantize_q8_k = gn_quantize_q8_k_scalar,
    .quantize_q8_32 = gn_quantize_q8_32_scalar,
    .gemm_q = {
        [GN_TYPE_Q4_0] = gn_gemm_q_q4_0_scalar,
        [GN_TYPE_Q8_0] = gn_gemm_q_q8_0_scalar,
        [GN_TYPE_Q4_K] = gn_gemm_q_q4_k_scalar,
        [GN_TYPE_Q6_K] = gn_gemm_q_q6_k_scalar,
    },
    .probe_read = gn_probe_read_scalar,
    .probe_fma = gn_probe_fma_scalar,
    .silu = gn_silu_scalar,
    .sigmoid = gn_sigmoid_scalar,
    .gelu_erf = gn_gelu_erf_scalar,
    .swiglu = gn_swiglu_scalar,
    .glu = gn_glu_scalar,
    .softmax = gn_softmax_scalar,
    .mix = gn_mix_scalar,
    .mix_f16 = gn_mix_f16_scalar,
    .layernorm = gn_layernorm_row_scalar,
    .rmsnorm = gn_rmsnorm_row_scalar,
    .conv_dw = gn_conv_dw_rows_scalar,
};

#ifdef GN_BUILD_X86
static const gn_kernels avx2_table = {
    .isa = GN_ISA_AVX2,
    .dequant = {
        [GN_TYPE_F16] = gn_dequant_f16_avx2,
        [GN_TYPE_BF16] = gn_dequant_bf16_avx2,
        [GN_TYPE_Q4_0] = gn_dequant_q4_0_avx2,
        [GN_TYPE_Q8_0] = gn_dequant_q8_0_avx2,
        [GN_TYPE_Q4_K] = gn_dequant_q4_k_avx2,
        [GN_TYPE_Q6_K] = gn_dequant_q6_k_avx2,
    },
    .to_f16 = gn_to_f16_avx2,
    .gemm_f32 = gn_gemm_f32_avx2,
    .gemm_f32_stream = gn_gemm_f32_stream_avx2,
    .gemm_f32p = gn_gemm_f32p_avx2,
    .pack_f32p = gn_pack_f32p_avx2,
    .gemv_f16 = gn_gemv_f16_avx2,
    .quantize_q8_k = gn_quantize_q8_k_avx2,
    .quantize_q8_32 = gn_quantize_q8_32_avx2,
    .gemm_q = {
        [GN_TYPE_Q4_0] = gn_gemm_q4_0_avx2,
        [GN_TYPE_Q8_0] = gn_gemm_q8_0_avx2,
        [GN_TYPE_Q4_K] = gn_gemm_q4_k_avx2,
        [GN_TYPE_Q6_K] = gn_gemm_q6_k_avx2,
        [GN_TYPE_Q4_K_R16] = gn_gemm_q_q4_k_r16_avx2,
        [GN_TYPE_Q8_K_R16] = gn_gemm_q_q8_k_r16_avx2,
    },
    .repack_q4_k_r16 = gn_repack_q4_k_r16_avx2,
    .probe_read = gn_probe_read_avx2,
    .probe_fma = gn_probe_fma_avx2,
    .probe_int8 = gn_probe_int8_avx2,
    .silu = gn_silu_avx2,
    .sigmoid = gn_sigmoid_avx2,
    .gelu_erf = gn_gelu_erf_avx2,
    .swiglu = gn_swiglu_avx2,
    .glu = gn_glu_avx2,
    .softmax = gn_softmax_avx2,
    .mix = gn_mix_avx2,
    .mix_f16 = gn_mix_f16_avx2,
    .layernorm = gn_layernorm_row_avx2,
    .rmsnorm = gn_rmsnorm_row_avx2,
    .conv_dw = gn_conv_dw_rows_avx2,
};
static const gn_kernels avx512_table = {
    .isa = GN_ISA_AVX512,
    .dequant = {
        [GN_TYPE_F16] = gn_dequant_f16_avx512,
        [GN_TYPE_BF16] = gn_dequant_bf16_avx512,
        [GN_TYPE_Q4_0] = gn_dequant_q4_0_avx512,
        [GN_TYPE_Q8_0] = gn_dequant_q8_0_avx512,
        [GN_TYPE_Q4_K] = gn_dequant_q4_k_avx512,
        [GN_TYPE_Q6_K] = gn_dequant_q6_k_avx512,
    },
    .to_f16 = gn_to_f16_avx512,
    .gemm_f32 = gn_gemm_f32_avx512,
    .gemm_f32_stream = gn_gemm_f32_stream_avx512,
    .gemm_f32p = gn_gemm_f32p_avx512,
    .pack_f32p = gn_pack_f32p_avx512,
    .gemv_f16 = gn_gemv_f16_avx512,
    .quantize_q8_k = gn_quantize_q8_k_avx512,
    .quantize_q8_32 = gn_quantize_q8_32_avx512,
    .gemm_q = {
        [GN_TYPE_Q4_0] = gn_gemm_q_q4_0_avx512,
        [GN_TYPE_Q8_0] = gn_gemm_q_q8_0_avx512,
        [GN_TYPE_Q4_K] = gn_gemm_q_q4_k_avx512,
        [GN_TYPE_Q6_K] = gn_gemm_q_q6_k_avx512,
        [GN_TYPE_Q4_K_R16] = gn_gemm_q_q4_k_r16_avx512,
        [GN_TYPE_Q8_K_R16] = gn_gemm_q_q8_k_r16_avx512,
    },
    /* an AVX-512 version (16 x 16 transposes) was no faster on Zen 4 */
    .repack_q4_k_r16 = gn_repack_q4_k_r16_avx2,
    .probe_read = gn_probe_read_avx512,
    .probe_fma = gn_probe_fma_avx512,
    .probe_int8 = gn_probe_int8_avx512,
    .silu = gn_silu_avx512,
    .sigmoid = gn_sigmoid_avx512,
    .gelu_erf = gn_gelu_erf_avx512,
    .swiglu = gn_swiglu_avx512,
    .glu = gn_glu_avx512,
    .softmax = gn_softmax_avx512,
    .mix = gn_mix_avx512,
    .mix_f16 = gn_mix_f16_avx512,
    .layernorm = gn_layernorm_row_avx512,
    .rmsnorm = gn_rmsnorm_row_avx512,
    .conv_dw = gn_conv_dw_rows_avx512,
};
#endif

#ifdef GN_BUILD_ARM
static const gn_kernels neon_table = {
    .isa = GN_ISA_NEON,
    .dequant = {
        [GN_TYPE_F16] = gn_dequant_f16_neon,
        [GN_TYPE_BF16] = gn_dequant_bf16_neon,
        [GN_TYPE_Q4_0] = gn_dequant_q4_0_neon,
        [GN_TYPE_Q8_0] = gn_dequant_q8_0_neon,
        [GN_TYPE_Q4_K] = gn_dequant_q4_k_neon,
        [GN_TYPE_Q6_K] = gn_dequant_q6_k_neon,
    },
    .to_f16 = gn_to_f16_neon,
    .gemm_f32 = gn_gemm_f32_neon,
    .gemv_f16 = gn_gemv_f16_neon,
    .quantize_q8_k = gn_quantize_q8_k_neon,
    .quantize_q8_32 = gn_quantize_q8_32_neon,
    .gemm_q = {
        [GN_TYPE_Q4_0] = gn_gemm_q4_0_neon,
        [GN_TYPE_Q8_0] = gn_gemm_q8_0_neon,
        [GN_TYPE_Q4_K] = gn_gemm_q4_k_neon,
        [GN_TYPE_Q6_K] = gn_gemm_q6_k_neon,
    },
    .probe_read = gn_probe_read_neon,
    .probe_fma = gn_probe_fma_neon,
    .probe_int8 = gn_probe_int8_neon,
    .silu = gn_silu_neon,
    .sigmoid = gn_sigmoid_neon,
    .gelu_erf = gn_gelu_erf_neon,
    .swiglu = gn_swiglu_neon,
    .glu = gn_glu_neon,
    .softmax = gn_softmax_neon,
    .mix = gn_mix_neon,
    .mix_f16 = gn_mix_f16_neon,
    .layernorm = gn_layernorm_row_neon,
    .rmsnorm = gn_rmsnorm_row_neon,
    .conv_dw = gn_conv_dw_rows_neon,
};
#endif

gn_dequant_fn gn_dequant_scalar(int type) {
    return type >= 0 && type < GN_TYPE_COUNT ? scalar_table.dequant[type] : NULL;
}

/* The selected table with NULL entries filled from scalar. */
static gn_kernels resolved;
const gn_kernels *gn_active = &scalar_table;

static const gn_kernels *table_for(int isa) {
    switch (isa) {
    case GN_ISA_SCALAR: return &scalar_table;
#ifdef GN_BUILD_X86
    case GN_ISA_AVX2: return &avx2_table;
    case GN_ISA_AVX512:
    case GN_ISA_AMX: return &avx512_table;
#endif
#ifdef GN_BUILD_ARM
    case GN_ISA_NEON: return &neon_table;
#endif
    default: return NULL;
    }
}

const char *gn_isa_name(int isa) {
    static const char *names[GN_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon", "amx"};
    return (isa >= 0 && isa < GN_ISA_COUNT) ? names[isa] : "unknown";
}

int gn_isa_supported(int isa) {
    if (!table_for(isa)) return 0;
    const gn_cpu_features *f = gn_cpu();
    switch (isa) {
    case GN_ISA_SCALAR: return 1;
    case GN_ISA_AVX2: return f->avx2 && f->fma && f->f16c;
    case GN_ISA_AVX512:
        return f->avx2 && f->fma && f->f16c && f->avx512f && f->avx512bw && f->avx512vl &&
               f->avx512dq && f->avx512vnni;
    case GN_ISA_NEON: return f->neon;
#ifdef GN_BUILD_X86
    case GN_ISA_AMX:
        return gn_isa_supported(GN_ISA_AVX512) && f->avx512bf16 && f->amx_bf16 &&
               gn_amx_gemm_bf16() != NULL;
#endif
    default: return 0;
    }
}

int gn_isa_best(void) {
    for (int isa = GN_ISA_COUNT - 1; isa > GN_ISA_SCALAR; isa--)
        if (gn_isa_supported(isa)) return isa;
    return GN_ISA_SCALAR;
}

gn_status gn_isa_select(int isa) {
    if (!gn_isa_supported(isa)) return GN_ERR_UNSUPPORTED;
    const gn_kernels *t = table_for(isa);
    gn_kernels r = *t;
#ifdef GN_BUILD_ARM
    if (isa == GN_ISA_NEON && gn_cpu()->dotprod) {
        r.gemm_q[GN_TYPE_Q4_0] = gn_gemm_q4_0_dotprod;
        r.gemm_q[GN_TYPE_Q8_0] = gn_gemm_q8_0_dotprod;
        r.gemm_q[GN_TYPE_Q4_K] = gn_gemm_q4_k_dotprod;
        r.gemm_q[GN_TYPE_Q6_K] = gn_gemm_q6_k_dotprod;
        r.probe_int8 = gn_probe_int8_dotprod;
        r.extensions = "dotprod";
    }
#endif
    for (int i = 0; i < GN_TYPE_COUNT; i++)
        if (!r.dequant[i]) r.dequant[i] = scalar_table.dequant[i];
    for (int i = 0; i < GN_TYPE_COUNT; i++)
        if (!r.gemm_q[i]) r.gemm_q[i] = scalar_table.gemm_q[i];
    if (!r.to_f16) r.to_f16 = scalar_table.to_f16;
    if (!r.gemm_f32) r.gemm_f32 = scalar_table.gemm_f32;
    if (!r.gemm_f32_stream) r.gemm_f32_stream = r.gemm_f32;
    if (!r.gemv_f16) r.gemv_f16 = scalar_table.gemv_f16;
    if (!r.quantize_q8_k) r.quantize_q8_k = scalar_table.quantize_q8_k;
    if (!r.quantize_q8_32) r.quantize_q8_32 = scalar_table.quantize_q8_32;
    if (!r.probe_read) r.probe_read = scalar_table.probe_read;
    if (!r.probe_fma) r.probe_fma = scalar_table.probe_fma;
#ifdef GN_BUILD_X86
    /* AVX-VNNI without AVX-512 (Alder Lake on): the AVX2 level's R16 int8 kernels and probe
     * with vpdpbusd; the other int8 kernels keep maddubs */
    if (isa == GN_ISA_AVX2 && gn_cpu()->avxvnni && gn_avxvnni_q4_k_r16()) {
        r.gemm_q[GN_TYPE_Q4_K_R16] = gn_avxvnni_q4_k_r16();
        r.gemm_q[GN_TYPE_Q8_K_R16] = gn_avxvnni_q8_k_r16();
        r.probe_int8 = gn_avxvnni_probe_int8();
        r.extensions = "avxvnni";
    }
    /* Zen 4 and Sapphire Rapids have AVX-512 BF16, Ice Lake has not: the level does not
     * require it, its kernels come with it */
    if ((isa == GN_ISA_AVX512 || isa == GN_ISA_AMX) && gn_cpu()->avx512bf16) {
        r.to_bf16 = gn_to_bf16_avx512;
        r.pack_bf16 = gn_pack_bf16_avx512;
        r.gemm_bf16 = gn_gemm_bf16_avx512;
        r.probe_bf16 = gn_probe_bf16_avx512;
        r.extensions = "avx512bf16";
    }
    if (isa == GN_ISA_AMX) { /* supported: the kernels exist */
        r.isa = GN_ISA_AMX;
        r.gemm_bf16 = gn_amx_gemm_bf16();
        r.probe_bf16 = gn_amx_probe_bf16();
        /* Dequantizing a 2048 x 8192 Q4_K matrix into bfloat16 panels costs what the int8
         * kernel of the file's layout spends on 16 rows (1.6 ms on 2 Sapphire Rapids cores);
         * at a prompt's 127 rows the tiles take 3.9 ms against the repacked int8 kernel's 6.6.
         * Decode GEMVs read the file's layout as fast as the repacked one, so nothing is
         * repacked: load skips the copy. */
        r.quant_bf16_rows = 16;
        r.gemm_q[GN_TYPE_Q4_K_R16] = NULL;
        r.repack_q4_k_r16 = NULL;
        /* and the tiles beat 8-bit weights too: precision "fastest" is "fast" here */
        r.gemm_q[GN_TYPE_Q8_K_R16] = NULL;
    }
#endif
    if (!r.silu) r.silu = scalar_table.silu;
    if (!r.sigmoid) r.sigmoid = scalar_table.sigmoid;
    if (!r.gelu_erf) r.gelu_erf = scalar_table.gelu_erf;
    if (!r.swiglu) r.swiglu = scalar_table.swiglu;
    if (!r.glu) r.glu = scalar_table.glu;
    if (!r.softmax) r.softmax = scalar_table.softmax;
    if (!r.mix) r.mix = scalar_table.mix;
    if (!r.mix_f16) r.mix_f16 = scalar_table.mix_f16;
    if (!r.layernorm) r.layernorm = scalar_table.layernorm;
    if (!r.rmsnorm) r.rmsnorm = scalar_table.rmsnorm;
    if (!r.conv_dw) r.conv_dw = scalar_table.conv_dw;
    resolved = r;
    gn_active = &resolved;
    return GN_OK;
}

int gn_isa_current(void) { return gn_active->isa; }

const char *gn_isa_extensions(void) { return gn_active->extensions ? gn_active->extensions : ""; }
