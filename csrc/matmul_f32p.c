/* The exact float32 path of gn_matmul for products of many rows, where the active table has a
 * packed kernel (gemm_f32p). x is packed once into tiles every thread reads; each task packs a
 * panel of GN_F32_PANEL W rows (dequantized where W is not float32) into per-thread scratch,
 * k-major, and runs every tile of x over it, so both packings cost once per element of their
 * operand however large the other is. */
#include <stdint.h>

#include "gn_kernels.h"
#include "matmul_paths.h"

typedef struct {
    gn_pool *pool;
    gn_gemm_f32p_fn gemm;
    gn_pack_f32p_fn pack;
    gn_dequant_fn dequant; /* of the weight type; unused for F32 rows, packed in place */
    const float *x;
    int64_t M, K, N;
    float *xp;
    const uint8_t *w;
    int wtype;
    int64_t w_row_bytes;
    const float *bias;
    float *y;
    int failed; /* set by a task that could not get scratch memory */
} f32p_job;

static void pack_tile(void *arg, int64_t t, int thread_index) {
    (void)thread_index;
    f32p_job *j = (f32p_job *)arg;
    const int64_t m0 = t * GN_F32P_TILE;
    const int64_t rows = j->M - m0 < GN_F32P_TILE ? j->M - m0 : GN_F32P_TILE;
    j->pack(j->x + m0 * j->K, j->K, rows, j->K, j->xp + m0 * j->K, GN_F32P_TILE, GN_F32P_TILE);
}

static size_t panel_bytes(int64_t K) { return (size_t)K * GN_F32_PANEL * sizeof(float); }

static void gemm_panel(void *arg, int64_t task, int thread_index) {
    f32p_job *j = (f32p_job *)arg;
    const int64_t n0 = task * GN_F32_PANEL, K = j->K;
    const int64_t rows = j->N - n0 < GN_F32_PANEL ? j->N - n0 : GN_F32_PANEL;
    uint8_t *buf = (uint8_t *)gn_pool_scratch(j->pool, thread_index,
                                              panel_bytes(K) + gn_dq_rows_bytes(j->wtype));
    if (!buf) {
        j->failed = 1;
        return;
    }
    float *panel = (float *)buf, *dq = (float *)(buf + panel_bytes(K));
    /* the kernel reads the panel's unused rows; zeros keep every lane's arithmetic defined */
    for (int64_t r0 = (rows + 15) / 16 * 16; r0 < GN_F32_PANEL; r0 += 16)
        j->pack(NULL, 0, 0, K, panel + r0, GN_F32_PANEL, 16);
    for (int64_t r0 = 0; r0 < rows; r0 += 16) {
        const int64_t n = rows - r0 < 16 ? rows - r0 : 16;
        const uint8_t *src = j->w + (n0 + r0) * j->w_row_bytes;
        if (j->wtype == GN_TYPE_F32) {
            j->pack((const float *)src, K, n, K, panel + r0, GN_F32_PANEL, 16);
            continue;
        }
        for (int64_t k0 = 0; k0 < K; k0 += GN_DQ_CHUNK) {
            const int64_t len = K - k0 < GN_DQ_CHUNK ? K - k0 : GN_DQ_CHUNK;
            gn_dequant_chunk(j->dequant, j->wtype, src, j->w_row_bytes, n, k0, len, dq);
            j->pack(dq, GN_DQ_CHUNK, n, len, panel + k0 * GN_F32_PANEL + r0, GN_F32_PANEL, 16);
        }
    }
    j->gemm(j->M, rows, K, j->xp, panel, j->bias ? j->bias + n0 : NULL, j->y + n0, j->N);
}

static gn_status run(gn_pool *pool, gn_gemm_f32p_fn gemm, gn_pack_f32p_fn pack,
                     gn_dequant_fn dequant, const float *x,
                     int64_t M, int64_t K, const void *w, int wtype, int64_t N,
                     int64_t w_row_bytes, const float *bias, float *y) {
    const int64_t tiles = (M + GN_F32P_TILE - 1) / GN_F32P_TILE;
    if (K > (int64_t)(SIZE_MAX / 8) / GN_F32_PANEL || tiles > (int64_t)(SIZE_MAX / 8) / GN_F32P_TILE / K)
        return GN_ERR_NOMEM;
    float *xp = (float *)gn_pool_shared_take(pool, (size_t)(tiles * GN_F32P_TILE * K) * sizeof(float));
    if (!xp) return GN_ERR_NOMEM;
    f32p_job job = {pool, gemm, pack, dequant, x, M, K, N, xp, (const uint8_t *)w, wtype, w_row_bytes,
                    bias, y, 0};
    gn_pool_run(pool, pack_tile, &job, tiles);
    gn_pool_run(pool, gemm_panel, &job, (N + GN_F32_PANEL - 1) / GN_F32_PANEL);
    gn_pool_shared_give(pool, xp);
    return job.failed ? GN_ERR_NOMEM : GN_OK;
}

int gn_matmul_f32p_takes(int wtype, int64_t M) {
    return gn_active->gemm_f32p && M >= GN_F32P_TILE && wtype >= 0 && wtype < GN_TYPE_COUNT &&
           gn_active->dequant[wtype];
}

gn_status gn_matmul_f32p(gn_pool *pool, const float *x, int64_t M, int64_t K, const void *w,
                         int wtype, int64_t N, int64_t w_row_bytes, const float *bias, float *y) {
    return run(pool, gn_active->gemm_f32p, gn_active->pack_f32p, gn_active->dequant[wtype], x,
               M, K, w, wtype, N, w_row_bytes, bias, y);
}

gn_status gn_matmul_f32p_scalar(gn_pool *pool, const float *x, int64_t M, int64_t K,
                                const void *w, int wtype, int64_t N, size_t w_bytes,
                                const float *bias, float *y) {
    int64_t w_row_bytes;
    const gn_status s = gn_matmul_check(x, M, K, w, wtype, N, w_bytes, y, &w_row_bytes);
    if (s != GN_OK) return s;
    const gn_dequant_fn dq = gn_type_info(wtype) ? gn_dequant_scalar(wtype) : NULL;
    if (!dq) return GN_ERR_UNSUPPORTED;
    return run(pool, gn_gemm_f32p_scalar, gn_pack_f32p_scalar, dq, x, M, K, w, wtype, N, w_row_bytes, bias, y);
}
