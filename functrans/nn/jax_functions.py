"""`jax.nn`'s functions that PyTorch spells differently or lacks, with JAX's names, arguments
and derivatives (at kinks too): `ft.nn.hard_tanh` is JAX's, `ft.nn.hardtanh` PyTorch's; both
exist. `dot_product_attention` takes JAX's (B, T, N, H) layout."""
from __future__ import annotations

import math

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..scipy.special import logsumexp
from ._utils import as_floating
from .activations import softmax

__all__ = ["swish", "hard_tanh", "hard_sigmoid", "hard_silu", "hard_swish", "log_sigmoid",
           "soft_sign", "identity", "logsumexp", "logmeanexp", "standardize", "squareplus",
           "sparse_plus", "sparse_sigmoid", "log1mexp", "dot_product_attention"]


def identity(x):
    """x itself (as an array)."""
    return fnp.asarray(x)


def swish(x):
    """x * sigmoid(x) (the same function as `silu`)."""
    x = as_floating(x)
    return x * lax.logistic(x)


def _relu6(x):
    """min(max(x, 0), 6) with derivative 0 at both kinks (JAX's relu6)."""
    inside = (x > 0) & (x < 6)
    return fnp.where(inside, x, fnp.where(x >= 6, 6.0, 0.0).astype(x.dtype))


def hard_tanh(x):
    """x clipped to [-1, 1]; derivative 1 at the kinks, as JAX's."""
    x = as_floating(x)
    return fnp.where(x > 1, 1.0, fnp.where(x < -1, -1.0, x)).astype(x.dtype)


def hard_sigmoid(x):
    """relu6(x + 3) / 6."""
    x = as_floating(x)
    return _relu6(x + 3.0) / 6.0


def hard_silu(x):
    """x * hard_sigmoid(x) (JAX's, with derivatives 0 at x = -3 and 1 at x = 3)."""
    x = as_floating(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x), without overflow."""
    x = as_floating(x)
    return -fnp.logaddexp(-x, 0.0)


def soft_sign(x):
    """x / (|x| + 1)."""
    x = as_floating(x)
    return x / (fnp.abs(x) + 1.0)


def squareplus(x, b=4):
    """(x + sqrt(x**2 + b)) / 2, a smooth ReLU."""
    x = as_floating(x)
    return (x + fnp.sqrt(x * x + b)) / 2.0


def sparse_plus(x):
    """0 for x <= -1, (x + 1)**2 / 4 on (-1, 1), x for x >= 1."""
    x = as_floating(x)
    return fnp.where(x <= -1.0, 0.0, fnp.where(x >= 1.0, x, (x + 1.0) ** 2 / 4.0)).astype(
        x.dtype)


def sparse_sigmoid(x):
    """The derivative of `sparse_plus`: (x + 1) / 2 clipped to [0, 1]."""
    x = as_floating(x)
    return 0.5 * fnp.clip(x + 1.0, 0.0, 2.0)


def log1mexp(x):
    """log(1 - exp(-x)) for x > 0, accurate near 0 and for large x."""
    x = as_floating(x)
    return fnp.where(x > math.log(2.0), fnp.log1p(-fnp.exp(-x)), fnp.log(-fnp.expm1(-x)))


def logmeanexp(x, axis=None, where=None, keepdims=False):
    """log(mean(exp(x))) over `axis` (of the elements where `where` is True)."""
    x = as_floating(x)
    total = logsumexp(x, axis=axis, keepdims=keepdims, where=where)
    if where is None:
        axes = range(x.ndim) if axis is None else \
            ((axis,) if isinstance(axis, (int, np.integer)) else axis)
        count = math.prod(x.shape[a] for a in axes)
        return total - math.log(count) if count else total
    count = fnp.sum(fnp.broadcast_to(fnp.asarray(where), x.shape), axis=axis,
                    keepdims=keepdims, dtype=x.dtype)
    return total - fnp.log(count)


def standardize(x, axis=-1, mean=None, variance=None, epsilon=1e-5, where=None, *,
                algorithm="fast"):
    """(x - mean) / sqrt(variance + epsilon), the statistics over `axis` unless given.
    `algorithm`: "fast" (mean(x**2) - mean(x)**2, clipped at 0, JAX's default) or "stable"
    (mean((x - mean)**2))."""
    if algorithm not in ("fast", "stable"):
        raise ValueError(f"standardize: algorithm must be 'fast' or 'stable', got "
                         f"{algorithm!r}")
    x = as_floating(x)
    if mean is None:
        mean = fnp.mean(x, axis, keepdims=True, where=where)
    if variance is None:
        if algorithm == "stable":
            variance = fnp.mean(fnp.square(x - mean), axis, keepdims=True, where=where)
        else:
            variance = fnp.maximum(fnp.mean(fnp.square(x), axis, keepdims=True, where=where)
                                   - fnp.square(mean), 0.0)
    return (x - mean) * lax.rsqrt(fnp.asarray(variance + epsilon, dtype=x.dtype))


# ------------------------------------------------------------------ attention
def _check_attention_shapes(query, key, value):
    if query.ndim not in (3, 4) or key.ndim != query.ndim or value.shape != key.shape:
        raise ValueError(f"dot_product_attention: query must be (B, T, N, H) or (T, N, H) and "
                         f"key/value (B, S, K, H) or (S, K, H) of the same shape, got query "
                         f"{query.shape}, key {key.shape}, value {value.shape}")
    n, k = query.shape[-2], key.shape[-2]
    if query.shape[-1] != key.shape[-1] or n % k or (query.ndim == 4 and
                                                     query.shape[0] != key.shape[0]):
        raise ValueError(f"dot_product_attention: query {query.shape} and key {key.shape} "
                         "must agree on batch size and head size H, and the query heads N must "
                         "be a multiple of the key/value heads K")


def _attention_mask(t, s, mask, is_causal, q_lengths, kv_lengths, window, like):
    """The combined boolean mask (True = attend), broadcastable to (B, N, T, S)."""
    keep = None

    def both(a, b):
        return b if a is None else a & b
    if mask is not None:
        mask = fnp.asarray(mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"dot_product_attention: mask must be boolean (True = attend), "
                            f"got {mask.dtype}; pass an additive mask as bias")
        keep = mask
    rows = lax.iota(t, like=like)[:, None]
    cols = lax.iota(s, like=like)[None, :]
    if is_causal:
        keep = both(keep, cols <= rows)
    if window is not None:
        left, right = (window, window) if isinstance(window, (int, np.integer)) else window
        keep = both(keep, (cols >= rows - int(left)) & (cols <= rows + int(right)))
    if q_lengths is not None or kv_lengths is not None:
        pad = None
        if q_lengths is not None:
            pad = rows[None] < fnp.asarray(q_lengths)[:, None, None]
        if kv_lengths is not None:
            pad = both(pad, cols[None] < fnp.asarray(kv_lengths)[:, None, None])
        keep = both(keep, pad[:, None])                      # (B, 1, T, S)
    return keep


def dot_product_attention(query, key, value, bias=None, mask=None, *, scale=None,
                          is_causal=False, query_seq_lengths=None, key_value_seq_lengths=None,
                          local_window_size=None, implementation=None, return_residual=False):
    """softmax(scale * Q K^T + bias, masked) V per head, in JAX's layout: query (B, T, N, H)
    (or (T, N, H)), key and value (B, S, K, H) with N a multiple of K (grouped-query
    attention). `bias` and `mask` (boolean, True = attend) broadcast to (B, N, T, S); masked
    scores get a large negative value, so a row masked entirely averages the values. With
    `return_residual`, also the log-sum-exp of the scores, (B, T, N). `implementation` may be
    None or "xla" (the same computation here)."""
    if implementation not in (None, "xla"):
        raise ValueError(f"dot_product_attention: implementation={implementation!r} is not "
                         "available in functrans; use None or 'xla'")
    query, key, value = fnp.asarray(query), fnp.asarray(key), fnp.asarray(value)
    _check_attention_shapes(query, key, value)
    unbatched = query.ndim == 3
    if unbatched:
        if query_seq_lengths is not None or key_value_seq_lengths is not None:
            raise ValueError("dot_product_attention: sequence lengths need batched (B, T, N, "
                             "H) inputs")
        query, key, value = query[None], key[None], value[None]    # bias, mask broadcast
    b, t, n, h = query.shape
    s, k = key.shape[1], key.shape[2]
    work = np.promote_types(query.dtype, np.float32)          # softmax in float32 at least
    scale = 1.0 / math.sqrt(h) if scale is None else scale
    q = query.reshape(b, t, k, n // k, h)
    scores = fnp.einsum("btkgh,bskh->bkgts", q, key).astype(work) * scale
    scores = scores.reshape(b, n, t, s)
    if bias is not None:
        scores = scores + fnp.asarray(bias).astype(work)
    keep = _attention_mask(t, s, mask, is_causal, query_seq_lengths, key_value_seq_lengths,
                           local_window_size, scores)
    if keep is not None:
        lowest = float(np.finfo(np.float32).min) * 0.7
        scores = fnp.where(keep, scores, lowest)
    weights = softmax(scores, -1).astype(query.dtype).reshape(b, k, n // k, t, s)
    out = fnp.einsum("bkgts,bskh->btkgh", weights, value).reshape(b, t, n, h)
    if query_seq_lengths is not None:                        # padded queries give zeros
        valid = lax.iota(t, like=out)[None, :] < fnp.asarray(query_seq_lengths)[:, None]
        out = out * valid[:, :, None, None].astype(out.dtype)
    residual = None
    if return_residual:                                       # (B, T, N), not differentiated
        lse = lax.stop_gradient(logsumexp(scores, axis=-1)).astype(key.dtype)
        residual = fnp.transpose(lse, (0, 2, 1))
    if unbatched:
        out, residual = out[0], None if residual is None else residual[0]
    return (out, residual) if return_residual else out
