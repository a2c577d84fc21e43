/* NEOX rotary embedding: dimension j of each head is rotated with j + dh/2. */
#include "gn_ops.h"
#include "rope.h"
#include <math.h>

static int bad_shape(int64_t L, int64_t dh, int64_t pos0, float theta) {
    return L < 0 || dh <= 0 || dh % 2 || pos0 < 0 || pos0 > INT64_MAX - L || !(theta > 0);
}

/* float32 frequencies and angles, rounded where transformers rounds them */
static void angle(int64_t pos, int64_t f, int64_t dh, float theta, float *c, float *s) {
    const float inv_freq = 1.0f / powf(theta, (float)(2 * f) / (float)dh);
    const float ang = (float)pos * inv_freq;
    *c = (float)cos((double)ang);
    *s = (float)sin((double)ang);
}

static void rotate(float *row, int64_t half, float c, float s, int64_t f) {
    const float a = row[f], b = row[f + half];
    row[f] = a * c - b * s;
    row[f + half] = b * c + a * s;
}

gn_status gn_rope_neox_table(int64_t L, int64_t dh, int64_t pos0, float theta, float *cs) {
    if (!cs || bad_shape(L, dh, pos0, theta) || (L && dh > INT64_MAX / L)) return GN_ERR_INVALID;
    const int64_t half = dh / 2;
    for (int64_t i = 0; i < L; i++)
        for (int64_t f = 0; f < half; f++)
            angle(pos0 + i, f, dh, theta, cs + i * dh + f, cs + i * dh + half + f);
    return GN_OK;
}

gn_status gn_rope_neox_apply(float *x, int64_t L, int64_t H, int64_t dh, const float *cs) {
    if (!x || !cs || L < 0 || H <= 0 || dh <= 0 || dh % 2 || H > INT64_MAX / dh ||
        (L && H * dh > INT64_MAX / L))
        return GN_ERR_INVALID;
    const int64_t half = dh / 2;
    for (int64_t i = 0; i < L; i++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t f = 0; f < half; f++)
                rotate(x + (i * H + h) * dh, half, cs[i * dh + f], cs[i * dh + half + f], f);
    return GN_OK;
}

gn_status gn_rope_neox(float *x, int64_t L, int64_t H, int64_t dh, int64_t pos0, float theta) {
    if (!x || H <= 0 || bad_shape(L, dh, pos0, theta)) return GN_ERR_INVALID;
    const int64_t half = dh / 2;
    for (int64_t i = 0; i < L; i++)
        for (int64_t f = 0; f < half; f++) {
            float c, s;
            angle(pos0 + i, f, dh, theta, &c, &s);
            for (int64_t h = 0; h < H; h++) rotate(x + (i * H + h) * dh, half, c, s, f);
        }
    return GN_OK;
}
