"""The Conformer encoder (spec section 3): stacked mel [T, 160] -> features [T, d].

Input linear, then Macaron blocks (half FFN, block-local attention with Shaw relative
positions, convolution module, half FFN, post-norm), with CTC self-conditioning after the
middle block. Hyperparameters come from the file, so every model size runs this code.
"""
from dataclasses import dataclass
from functools import partial

import numpy as np

from .layers import add_, ffn, glu, layernorm, linear, linears, softmax_
from . import _native

LN_EPS = 1e-5
BN_EPS = 1e-5


@dataclass
class ConformerBlock:
    """One block's weights; BatchNorm folded into a per-channel scale and shift at load."""
    ff1: tuple
    ff2: tuple
    attn_norm: tuple
    attn_q: object
    attn_k: object  # rows 0..d-1 of attn_kv
    attn_v: object  # rows d..2d-1 of attn_kv
    attn_out: object
    attn_out_b: np.ndarray
    rel_pos: np.ndarray  # [2*max_pos + 1, head_dim]
    conv_norm: tuple
    conv_up: object
    conv_up_b: np.ndarray
    conv_dw: np.ndarray  # [inner, kernel]
    bn_scale: np.ndarray  # [inner]
    bn_shift: np.ndarray  # [inner]
    conv_down: object
    conv_down_b: np.ndarray
    post_norm: tuple


def load_block(wt, i, matrix):
    """matrix(name): a weight matrix laid out for the encoder's matmul flags."""
    p = f"enc.blk.{i}."

    def ffn(name):
        return (wt[p + name + "_norm.weight"].f32(), wt[p + name + "_norm.bias"].f32(),
                matrix(p + name + "_up.weight"), wt[p + name + "_up.bias"].f32(),
                matrix(p + name + "_down.weight"), wt[p + name + "_down.bias"].f32())

    kv = matrix(p + "attn_kv.weight")
    d = kv.shape[0] // 2
    gamma, beta = wt[p + "conv_bn.weight"].f32(), wt[p + "conv_bn.bias"].f32()
    mean, var = wt[p + "conv_bn.running_mean"].f32(), wt[p + "conv_bn.running_var"].f32()
    scale = (gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + BN_EPS))
    return ConformerBlock(
        ff1=ffn("ff1"), ff2=ffn("ff2"),
        attn_norm=(wt[p + "attn_norm.weight"].f32(), wt[p + "attn_norm.bias"].f32()),
        attn_q=matrix(p + "attn_q.weight"),
        attn_k=kv.rows(0, d), attn_v=kv.rows(d, 2 * d),
        attn_out=matrix(p + "attn_out.weight"), attn_out_b=wt[p + "attn_out.bias"].f32(),
        rel_pos=wt[p + "attn_rel_pos.weight"].f32(),
        conv_norm=(wt[p + "conv_norm.weight"].f32(), wt[p + "conv_norm.bias"].f32()),
        conv_up=matrix(p + "conv_up.weight"), conv_up_b=wt[p + "conv_up.bias"].f32(),
        conv_dw=wt[p + "conv_dw.weight"].f32(),
        bn_scale=scale.astype(np.float32),
        bn_shift=(beta - mean.astype(np.float64) * scale).astype(np.float32),
        conv_down=matrix(p + "conv_down.weight"), conv_down_b=wt[p + "conv_down.bias"].f32(),
        post_norm=(wt[p + "post_norm.weight"].f32(), wt[p + "post_norm.bias"].f32()),
    )


class Encoder:
    def __init__(self, wt, hp, flags=0, pool=None, quantize=False):
        self.hp = hp
        self.flags = flags  # matmul arithmetic (precision.py)
        # laid out for the flags; float matrices quantized at load if `quantize`
        matrix = partial(wt.operand, flags=flags, pool=pool, quantize=quantize)
        self.input = matrix("enc.input.weight")
        self.input_b = wt["enc.input.bias"].f32()
        self.blocks = [load_block(wt, i, matrix) for i in range(hp.enc_n_layers)]
        self.ctc_out = matrix("enc.ctc_out.weight")
        self.ctc_out_b = wt["enc.ctc_out.bias"].f32()
        self.ctc_mid = matrix("enc.ctc_mid.weight")
        self.ctc_mid_b = wt["enc.ctc_mid.bias"].f32()

    def __call__(self, pool, mel, taps=None):
        """mel [T, input_dim] -> [T, d]. `taps`, if a dict, receives per-block outputs."""
        h = linear(pool, mel, self.input, self.input_b, self.flags)  # [T, d]
        if taps is not None:
            taps["enc_input_linear"] = h.copy()
        mid = len(self.blocks) // 2
        for i, blk in enumerate(self.blocks):
            h = self.block(pool, blk, h)
            if i + 1 == mid:
                h = self.self_condition(pool, h)
            if taps is not None:
                taps[f"enc_layer_{i + 1}"] = h.copy()
        return h

    def self_condition(self, pool, h):
        """h + ctc_mid(softmax(ctc_out(h))): the mid-network CTC self-conditioning."""
        p = softmax_(pool, linear(pool, h, self.ctc_out, self.ctc_out_b, self.flags))  # [T, n_ctc]
        return add_(pool, h, linear(pool, p, self.ctc_mid, self.ctc_mid_b, self.flags))

    def block(self, pool, b, h):
        add_(pool, h, self.ffn(pool, b.ff1, h), 0.5)
        add_(pool, h, self.attention(pool, b, h))
        add_(pool, h, self.conv(pool, b, h))
        add_(pool, h, self.ffn(pool, b.ff2, h), 0.5)
        return layernorm(pool, h, *b.post_norm, LN_EPS)

    def matrices(self):
        """Every weight matrix the encoder multiplies by."""
        out = [self.input, self.ctc_out, self.ctc_mid]
        for b in self.blocks:
            out += [b.ff1[2], b.ff1[4], b.ff2[2], b.ff2[4], b.attn_q, b.attn_k, b.attn_v,
                    b.attn_out, b.conv_up, b.conv_down]
        return out

    def ffn(self, pool, f, h):
        norm_w, norm_b, up, up_b, down, down_b = f
        u = layernorm(pool, h, norm_w, norm_b, LN_EPS)
        return ffn(pool, u, up, up_b, "silu", down, down_b, self.flags)  # [T, d], via [T, ff]

    def attention(self, pool, b, h):
        hp = self.hp
        a = layernorm(pool, h, *b.attn_norm, LN_EPS)
        q, k, v = linears(pool, a, (b.attn_q, b.attn_k, b.attn_v), self.flags)  # [T, H*dh] each
        o = np.empty_like(q)
        _native.attention_block_relpos(pool, q, k, v, hp.enc_n_heads, hp.enc_context_size,
                                       b.rel_pos, hp.enc_head_dim ** -0.5, o, self.flags)
        return linear(pool, o, b.attn_out, b.attn_out_b, self.flags)

    def conv(self, pool, b, h):
        c = layernorm(pool, h, *b.conv_norm, LN_EPS)
        c = glu(pool, linear(pool, c, b.conv_up, b.conv_up_b, self.flags))  # [T, inner]
        y = np.empty_like(c)  # [T, inner]: silu(batch norm(depthwise conv(c)))
        _native.conv_dw(pool, c, b.conv_dw, y, b.bn_scale, b.bn_shift, "silu")
        return linear(pool, y, b.conv_down, b.conv_down_b, self.flags)  # [T, d]
