"""Thin wrappers that run one layer primitive in the C kernels and allocate its output.

Every stage file (encoder, projector, llm) builds on these so a stage reads like the spec.
`w` arguments are matrix `Tensor`s of the weights store: a logical [n_out, n_in] matrix in
its file type, multiplied without copying or dequantizing the whole tensor.
"""
import numpy as np

from . import _native


def linear(pool, x, w, bias=None, flags=0):
    """x [M, n_in] -> [M, n_out] = x @ W^T (+ bias); flags pick the arithmetic (precision.py)."""
    return _native.matmul(pool, x, w.data, w.type, w.shape[0], bias, flags=flags)


def linears(pool, x, ws, flags=0):
    """[x @ W^T for W in ws] (no biases), sharing x's quantization or conversion (matmul_group)."""
    return _native.matmul_group(pool, x, [(w.data, w.type, w.shape[0], None) for w in ws], flags)


def ffn(pool, x, up, up_b, act, down, down_b, flags=0):
    """x [M, n_in] -> act(x @ Up^T + up_b) @ Down^T + down_b [M, n_out], bit for bit the two
    linears and the activation, in bfloat16 between them where both products take that path."""
    return _native.ffn(pool, x, (up.data, up.type, up.shape[0], up_b), act,
                       (down.data, down.type, down.shape[0], down_b), flags)


def layernorm(pool, x, weight, bias, eps):
    out = np.empty_like(x)
    _native.layernorm(pool, x, weight, bias, eps, out)
    return out


def rmsnorm(pool, x, weight, eps):
    out = np.empty_like(x)
    _native.rmsnorm(pool, x, weight, eps, out)
    return out


def add_(pool, h, y, alpha=1.0):
    """h += alpha * y in place (a residual connection)."""
    _native.add_scaled(pool, h, y, alpha)
    return h


def glu(pool, x):
    out = np.empty((x.shape[0], x.shape[1] // 2), np.float32)
    _native.glu(pool, x, out)
    return out


def softmax_(pool, x):
    _native.softmax(pool, x)
    return x
