/* RoPE split into an angle table and its application, so a decoder computes the cos/sin of
 * its positions once per forward and reuses them for Q and K of every layer. Internal to the
 * library; gn_rope_neox (gn_ops.h) is the one-call form with the same arithmetic. */
#ifndef GN_ROPE_H
#define GN_ROPE_H

#include "gn.h"

/* cs [L, dh]: row i holds cos of the dh/2 angles of position pos0 + i, then their sin. */
gn_status gn_rope_neox_table(int64_t L, int64_t dh, int64_t pos0, float theta, float *cs);
/* x [L, H*dh] rotated in place with the table of gn_rope_neox_table. */
gn_status gn_rope_neox_apply(float *x, int64_t L, int64_t H, int64_t dh, const float *cs);

#endif
