"""Attention: `scaled_dot_product_attention` (re-exported by `ft.nn.functional`),
`MultiheadAttention`, and the transformer layers `TransformerEncoderLayer`,
`TransformerDecoderLayer` with their stacks `TransformerEncoder`, `TransformerDecoder`, with
PyTorch's arguments, parameter names (`in_proj_weight`, `out_proj.weight`, ...),
initialization, mask conventions and return structure.

Masks, as in PyTorch: for `scaled_dot_product_attention` a boolean `attn_mask` is True where a
query may attend to a key; for `MultiheadAttention` (and the transformer layers) boolean masks
are True where attending is *not* allowed. Float masks are added to the attention scores in
both. Dropout on the attention weights takes its random key as `dropout_key=` (the name
`key` is the keys' argument, as in PyTorch); the transformer layers take `key=` and split it
among their dropouts.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..tree_util import tree_map
from . import init
from ._utils import as_floating, float_dtype
from .activations import softmax, relu, gelu
from .layers import Dropout, Linear, dropout, linear
from .normalization import LayerNorm
from .module import Module

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward", "MultiheadAttention",
           "TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder",
           "TransformerDecoder", "Transformer"]


def _additive(mask, dtype, allowed_when_true, what):
    """A float mask to add to scores: booleans become 0 / -inf, floats are kept."""
    mask = fnp.asarray(mask)
    if mask.dtype == np.bool_:
        keep = mask if allowed_when_true else lax.bitwise_not(mask)
        return lax.select(keep, lax.full_like(mask, 0.0, dtype),
                          lax.full_like(mask, -math.inf, dtype))
    if not dtypes.is_inexact(mask.dtype):
        raise TypeError(f"{what} must be a bool or float array, got {mask.dtype}")
    return mask.astype(dtype)


def _safe_softmax(scores):
    """softmax over the last axis that gives 0 (not NaN) on rows masked out entirely."""
    dead = fnp.all(lax.eq(scores, -math.inf), axis=-1, keepdims=True)
    zeros = lax.full_like(scores, 0.0)
    w = softmax(lax.select(lax.broadcast_to(dead, scores.shape), zeros, scores), -1)
    return lax.select(lax.broadcast_to(dead, w.shape), zeros, w)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False, *,
                                 dropout_key=None):
    """softmax(query @ key^T · scale + mask) @ value over the last two axes, for query
    (..., L, E), key (..., S, E) and value (..., S, Ev), leading axes broadcast.

    `attn_mask`: bool (True = may attend) or float (added), broadcastable to (..., L, S).
    `is_causal`: query i attends to keys 0..i (no attn_mask then). `scale` defaults to
    1/sqrt(E). `dropout_p > 0` drops attention weights (needs `dropout_key`; pass 0.0 for
    inference, as PyTorch's functional form has no training flag). `enable_gqa` lets
    key/value have fewer heads (axis -3) than query, each shared by a group of query heads.
    Rows whose keys are all masked out give zeros, as PyTorch's does.
    """
    q, k, v = as_floating(query), as_floating(key), as_floating(value)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"scaled_dot_product_attention needs query, key and value with at "
                         f"least 2 axes (..., length, features); got shapes {q.shape}, "
                         f"{k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: query {q.shape} and key {k.shape} "
                         f"must share their last axis, key and value {v.shape} their "
                         "second-to-last (the source length)")
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: pass either attn_mask or "
                         "is_causal=True, not both")
    if enable_gqa and k.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        heads, kv_heads = q.shape[-3], k.shape[-3]
        if heads % kv_heads or v.shape[-3] != kv_heads:
            raise ValueError(f"scaled_dot_product_attention: with enable_gqa the query heads "
                             f"({heads}) must be a multiple of the key/value heads "
                             f"({kv_heads}, {v.shape[-3]})")
        k = fnp.repeat(k, heads // kv_heads, axis=-3)
        v = fnp.repeat(v, heads // kv_heads, axis=-3)
    dt = dtypes.result_type(q.dtype, k.dtype, v.dtype)
    length, source = q.shape[-2], k.shape[-2]
    factor = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    scores = lax.mul(fnp.matmul(q, fnp.swapaxes(k, -1, -2)), factor).astype(dt)
    if is_causal:
        causal = np.tril(np.ones((length, source), bool))
        scores = lax.add(scores, _additive(causal, dt, True, "the causal mask"))
    elif attn_mask is not None:
        scores = lax.add(scores, _additive(attn_mask, dt, True, "attn_mask"))
    weights = _safe_softmax(scores)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p, True, key=dropout_key)
    return fnp.matmul(weights, v)


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear under the name PyTorch gives MultiheadAttention's output projection (so that
    models print alike)."""

    def __init__(self, in_features, out_features, bias=True, *, key, dtype=None):
        # restated: a Module subclass is made a dataclass, whose generated __init__ would
        # replace the inherited one
        super().__init__(in_features, out_features, bias, key=key, dtype=dtype)


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al.): `mha(query, key, value, key_padding_mask=None,
    need_weights=True, attn_mask=None, average_attn_weights=True, is_causal=False, *,
    dropout_key=None) -> (output, weights)`.

    Inputs are (L, N, E) ((N, L, E) with `batch_first=True`) or unbatched (L, E); key and
    value have `kdim` / `vdim` features (default `embed_dim`). `weights` is (N, L, S), or
    (N, num_heads, L, S) with `average_attn_weights=False`, or None with
    `need_weights=False`. Boolean masks are True where attending is *not* allowed.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, *, key,
                 dtype=None):
        from ..random import split
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive "
                             f"multiple of num_heads ({num_heads})")
        if key is None:
            raise TypeError("MultiheadAttention draws its initial parameters at random: pass "
                            "key=...")
        dt = float_dtype(dtype)
        self.embed_dim = int(embed_dim)
        self.kdim = self.embed_dim if kdim is None else int(kdim)
        self.vdim = self.embed_dim if vdim is None else int(vdim)
        self._qkv_same_embed_dim = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        self.num_heads, self.dropout = int(num_heads), float(dropout)
        self.batch_first = bool(batch_first)
        self.head_dim = self.embed_dim // self.num_heads
        self.add_zero_attn = bool(add_zero_attn)
        self.training = True
        keys = split(key, 6)
        e = self.embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = init.xavier_uniform(keys[0], (3 * e, e), dtype=dt)
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.in_proj_weight = None
            self.q_proj_weight = init.xavier_uniform(keys[0], (e, e), dtype=dt)
            self.k_proj_weight = init.xavier_uniform(keys[1], (e, self.kdim), dtype=dt)
            self.v_proj_weight = init.xavier_uniform(keys[2], (e, self.vdim), dtype=dt)
        self.in_proj_bias = init.zeros((3 * e,), dt) if bias else None
        if add_bias_kv:
            self.bias_k = init.xavier_normal(keys[3], (1, 1, e), dtype=dt)
            self.bias_v = init.xavier_normal(keys[4], (1, 1, e), dtype=dt)
        else:
            self.bias_k = self.bias_v = None
        out_proj = NonDynamicallyQuantizableLinear(e, e, bias=bias, key=keys[5], dtype=dt)
        self.out_proj = out_proj if not bias else out_proj.replace(bias=init.zeros((e,), dt))

    def __call__(self, query, key, value, key_padding_mask=None, need_weights=True,
                 attn_mask=None, average_attn_weights=True, is_causal=False, *,
                 dropout_key=None):
        if self.training and self.dropout > 0 and dropout_key is None:
            raise ValueError(f"MultiheadAttention drops attention weights (dropout="
                             f"{self.dropout}) in training mode and needs a random key: pass "
                             "dropout_key=..., or use model.eval() for inference")
        swap = self.batch_first and fnp.ndim(query) == 3
        if swap:
            query, key, value = (fnp.swapaxes(fnp.asarray(t), 0, 1) for t in (query, key, value))
        out, weights = multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight,
            self.in_proj_bias, self.bias_k, self.bias_v, self.add_zero_attn, self.dropout,
            self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=self.q_proj_weight, k_proj_weight=self.k_proj_weight,
            v_proj_weight=self.v_proj_weight, average_attn_weights=average_attn_weights,
            is_causal=is_causal, dropout_key=dropout_key)
        return (fnp.swapaxes(out, 0, 1) if swap else out), weights


def _in_projections(q, k, v, embed_dim, in_proj_weight, use_separate, separate, name):
    """The query, key and value projection weights: thirds of `in_proj_weight` (3E, E), or
    the `separate` (q, k, v) ones (E, E), (E, kdim), (E, vdim); shapes checked."""
    e = embed_dim
    if use_separate:
        if any(w is None for w in separate):
            raise ValueError(f"{name}: use_separate_proj_weight=True needs q_proj_weight, "
                             "k_proj_weight and v_proj_weight")
        ws = tuple(fnp.asarray(w) for w in separate)
        if k.shape[:2] != v.shape[:2]:
            raise ValueError(f"{name}: key {k.shape} and value {v.shape} must have the same "
                             "length and batch size")
    else:
        if in_proj_weight is None:
            raise ValueError(f"{name}: in_proj_weight is None; pass it (3·embed_dim, "
                             "embed_dim), or use_separate_proj_weight=True with q/k/v_proj_weight")
        w = fnp.asarray(in_proj_weight)
        if w.shape != (3 * e, e):
            raise ValueError(f"{name}: in_proj_weight must be (3·embed_dim, embed_dim) = "
                             f"({3 * e}, {e}), got {w.shape}")
        if k.shape != v.shape:
            raise ValueError(f"{name}: key {k.shape} and value {v.shape} must have the same "
                             "shape (or pass separate projection weights)")
        ws = tuple(w[i * e:(i + 1) * e] for i in range(3))
    for x, w, what in zip((q, k, v), ws, ("query", "key", "value")):
        if w.ndim != 2 or w.shape[0] != e or x.shape[-1] != w.shape[1]:
            raise ValueError(f"{name}: the {what} projection weight of shape {w.shape} needs "
                             f"({e}, features) with the {what}'s {x.shape[-1]} features")
    return ws


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                                 dropout_p, out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False, *,
                                 dropout_key=None):
    """PyTorch's functional multi-head attention (what `MultiheadAttention` runs), with its
    arguments: query (L, N, E) or unbatched (L, E), key/value (S, N, ·); the in-projection is
    `in_proj_weight` (3E, E) or, with `use_separate_proj_weight`, `q/k/v_proj_weight`;
    `bias_k`/`bias_v` (1, 1, E) append a key/value step, `add_zero_attn` a zero one;
    `static_k`/`static_v` (N·num_heads, S', E/num_heads) replace the projected keys/values.
    Boolean masks are True where attending is *not* allowed; `attn_mask` is (L, S) or
    (N·num_heads, L, S), `key_padding_mask` (N, S) ((S,) unbatched); `is_causal` only says
    that `attn_mask` is the causal mask. Returns (output, weights): weights (N, L, S) averaged
    over heads, (N, num_heads, L, S) with `average_attn_weights=False`, None without
    `need_weights`. Dropout (`dropout_p` with `training`) needs `dropout_key`."""
    name = "multi_head_attention_forward"
    q, k, v = as_floating(query), as_floating(key), as_floating(value)
    batched = q.ndim == 3
    if q.ndim not in (2, 3) or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ValueError(f"{name}: query, key and value must all be 3-d (batched) or all 2-d "
                         f"(unbatched); got shapes {q.shape}, {k.shape}, {v.shape}")
    if is_causal and attn_mask is None:
        raise ValueError(f"{name}: is_causal=True is a hint that attn_mask is the causal mask;"
                         " pass that mask too (e.g. "
                         "ft.nn.Transformer.generate_square_subsequent_mask(L))")
    if not batched:
        q, k, v = (lax.expand_dims(t, (1,)) for t in (q, k, v))
        if key_padding_mask is not None:
            key_padding_mask = lax.expand_dims(fnp.asarray(key_padding_mask), (0,))
    length, n, e = q.shape
    h = int(num_heads)
    if e != embed_dim_to_check or h <= 0 or e % h:
        raise ValueError(f"{name}: the query has {e} features; embed_dim_to_check is "
                         f"{embed_dim_to_check} and it must be a multiple of num_heads ({h})")
    if k.shape[1] != n:
        raise ValueError(f"{name}: key {k.shape} and value {v.shape} must have the query's "
                         f"batch size {n}")
    w_q, w_k, w_v = _in_projections(q, k, v, e, in_proj_weight, use_separate_proj_weight,
                                    (q_proj_weight, k_proj_weight, v_proj_weight), name)
    hd = e // h
    static_k = _static(static_k, n * h, hd, "static_k", name)
    static_v = _static(static_v, n * h, hd, "static_v", name)
    dt = dtypes.result_type(q.dtype, fnp.asarray(out_proj_weight).dtype)
    b = None if in_proj_bias is None else fnp.asarray(in_proj_bias)
    b_q, b_k, b_v = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
    q, k, v = linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)
    source = k.shape[0]
    if attn_mask is not None:
        attn_mask = _additive(attn_mask, dt, False, "attn_mask")
        if attn_mask.shape == (length, source):
            attn_mask = lax.expand_dims(attn_mask, (0,))
        elif attn_mask.shape != (n * h, length, source):
            raise ValueError(f"{name}: attn_mask must be ({length}, {source}) or "
                             f"(batch·num_heads = {n * h}, {length}, {source}), got "
                             f"{attn_mask.shape}")
    if key_padding_mask is not None:
        key_padding_mask = _additive(key_padding_mask, dt, False, "key_padding_mask")
        keys = source if static_k is None else static_k.shape[1]
        if key_padding_mask.shape != (n, keys):
            raise ValueError(f"{name}: key_padding_mask must be (batch, source length) = "
                             f"({n}, {keys}), got {key_padding_mask.shape}")
    if (bias_k is None) != (bias_v is None):
        raise ValueError(f"{name}: pass both bias_k and bias_v, or neither")
    if bias_k is not None:
        if static_k is not None or static_v is not None:
            raise ValueError(f"{name}: bias_k/bias_v cannot be added to static_k/static_v")
        k = fnp.concatenate([k, fnp.broadcast_to(bias_k, (1, n, e)).astype(k.dtype)])
        v = fnp.concatenate([v, fnp.broadcast_to(bias_v, (1, n, e)).astype(v.dtype)])
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    q, k, v = (fnp.swapaxes(lax.reshape(x, (x.shape[0], n * h, hd)), 0, 1) if static is None
               else static for x, static in ((q, None), (k, static_k), (v, static_v)))
    if add_zero_attn:
        k = fnp.concatenate([k, fnp.zeros((n * h, 1, hd), k.dtype)], axis=1)
        v = fnp.concatenate([v, fnp.zeros((n * h, 1, hd), v.dtype)], axis=1)
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    source = k.shape[1]
    if key_padding_mask is not None:
        kpm = fnp.broadcast_to(lax.reshape(key_padding_mask, (n, 1, 1, source)),
                               (n, h, 1, source))
        kpm = lax.reshape(kpm, (n * h, 1, source))
        attn_mask = kpm if attn_mask is None else lax.add(attn_mask, kpm)
    p = float(dropout_p) if training else 0.0
    if p > 0 and dropout_key is None:
        raise ValueError(f"{name} drops attention weights (dropout_p={p}, training=True) and "
                         "needs a random key: pass dropout_key=..., or training=False")
    if need_weights:
        scores = fnp.matmul(lax.mul(q, math.sqrt(1.0 / hd)), fnp.swapaxes(k, 1, 2))
        if attn_mask is not None:
            scores = lax.add(attn_mask, scores)
        weights = softmax(scores, -1)
        if p > 0:
            weights = dropout(weights, p, True, key=dropout_key)
        out = fnp.matmul(weights, v)
    else:
        out = scaled_dot_product_attention(q, k, v, attn_mask, p, dropout_key=dropout_key)
        weights = None
    out = lax.reshape(fnp.swapaxes(out, 0, 1), (length * n, e))
    out = lax.reshape(linear(out, out_proj_weight, out_proj_bias), (length, n, e))
    if weights is not None:
        weights = lax.reshape(weights, (n, h, length, source))
        if average_attn_weights:
            weights = fnp.mean(weights, axis=1)
    if not batched:
        out = lax.squeeze(out, (1,))
        weights = None if weights is None else lax.squeeze(weights, (0,))
    return out, weights


def _static(static, heads, hd, what, name):
    """`static_k` / `static_v` as a floating array, checked to be (N·heads, S', E/heads)."""
    if static is None:
        return None
    static = as_floating(static)
    if static.ndim != 3 or static.shape[0] != heads or static.shape[2] != hd:
        raise ValueError(f"{name}: {what} must be (batch·num_heads, S, head_dim) = ({heads}, "
                         f"S, {hd}), got {static.shape}")
    return static


def _pad_last(mask):
    """A mask with one more (unmasked) key column."""
    if mask is None:
        return None
    return lax.pad(mask, 0.0, [(0, 0, 0)] * (mask.ndim - 1) + [(0, 1, 0)])


# ------------------------------------------------------------------ transformer layers
def _activation(activation, what):
    if activation == "relu":
        return relu
    if activation == "gelu":
        return gelu
    if callable(activation):
        return activation
    raise ValueError(f"{what}: activation must be 'relu', 'gelu' or a callable, got "
                     f"{activation!r}")


def _dropping(dropout, *attentions):
    """Whether a layer with this Dropout and these attentions drops anything now."""
    return (dropout.training and dropout.p > 0) or \
        any(a.training and a.dropout > 0 for a in attentions)


def _split_keys(key, n, active, what):
    """`n` keys from `key` when some dropout is active, else Nones."""
    from ..random import split
    if not active:
        return [None] * n
    if key is None:
        raise ValueError(f"{what} is in training mode with dropout and needs a random key: "
                         "pass key=... (a fresh one each step), or use model.eval() for "
                         "inference")
    return list(split(key, n))


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual connection and
    LayerNorm (after, or before with `norm_first=True`), as PyTorch's:
    `layer(src, src_mask=None, src_key_padding_mask=None, is_causal=False, *, key=None)`."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, *, key,
                 dtype=None):
        from ..random import split
        if key is None:
            raise TypeError("TransformerEncoderLayer draws its initial parameters at random: "
                            "pass key=...")
        k1, k2, k3 = split(key, 3)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, key=k1, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, key=k2, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, key=k3, dtype=dtype)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation, "TransformerEncoderLayer")

    def __call__(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False, *,
                 key=None):
        ka, kf, k1, k2 = _split_keys(key, 4, _dropping(self.dropout, self.self_attn),
                                     "TransformerEncoderLayer")
        x = as_floating(src)

        def sa(x):
            out = self.self_attn(x, x, x, key_padding_mask=src_key_padding_mask,
                                 need_weights=False, attn_mask=src_mask, is_causal=is_causal,
                                 dropout_key=ka)[0]
            return self.dropout1(out, key=k1)

        def ff(x):
            h = self.dropout(self.activation(self.linear1(x)), key=kf)
            return self.dropout2(self.linear2(h), key=k2)
        if self.norm_first:
            x = lax.add(x, sa(self.norm1(x)))
            return lax.add(x, ff(self.norm2(x)))
        x = self.norm1(lax.add(x, sa(x)))
        return self.norm2(lax.add(x, ff(x)))


class TransformerDecoderLayer(Module):
    """Self-attention, attention over the encoder's output (`memory`), then a feed-forward
    block, each with a residual connection and LayerNorm, as PyTorch's:
    `layer(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False, *,
    key=None)`."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, *, key,
                 dtype=None):
        from ..random import split
        if key is None:
            raise TypeError("TransformerDecoderLayer draws its initial parameters at random: "
                            "pass key=...")
        k1, k2, k3, k4 = split(key, 4)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, key=k1, dtype=dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, key=k2, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, key=k3, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, key=k4, dtype=dtype)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation, "TransformerDecoderLayer")

    def __call__(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                 memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False, *,
                 key=None):
        ks, km, kf, k1, k2, k3 = _split_keys(
            key, 6, _dropping(self.dropout, self.self_attn, self.multihead_attn),
            "TransformerDecoderLayer")
        x, mem = as_floating(tgt), as_floating(memory)

        def sa(x):
            out = self.self_attn(x, x, x, key_padding_mask=tgt_key_padding_mask,
                                 need_weights=False, attn_mask=tgt_mask,
                                 is_causal=tgt_is_causal, dropout_key=ks)[0]
            return self.dropout1(out, key=k1)

        def mha(x):
            out = self.multihead_attn(x, mem, mem, key_padding_mask=memory_key_padding_mask,
                                      need_weights=False, attn_mask=memory_mask,
                                      is_causal=memory_is_causal, dropout_key=km)[0]
            return self.dropout2(out, key=k2)

        def ff(x):
            h = self.dropout(self.activation(self.linear1(x)), key=kf)
            return self.dropout3(self.linear2(h), key=k3)
        if self.norm_first:
            x = lax.add(x, sa(self.norm1(x)))
            x = lax.add(x, mha(self.norm2(x)))
            return lax.add(x, ff(self.norm3(x)))
        x = self.norm1(lax.add(x, sa(x)))
        x = self.norm2(lax.add(x, mha(x)))
        return self.norm3(lax.add(x, ff(x)))


def _clones(layer, n):
    """`n` independent copies of `layer`, all starting from its weights (PyTorch deep-copies
    the layer it is given)."""
    return [layer] + [tree_map(lambda a: a.copy() if hasattr(a, "copy") else a, layer)
                      for _ in range(n - 1)]


class TransformerEncoder(Module):
    """`num_layers` copies of `encoder_layer` applied in turn (copies of the same initial
    parameters, as PyTorch's), then `norm` if given."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
                 mask_check=True):
        if not isinstance(encoder_layer, Module):
            raise TypeError("TransformerEncoder: encoder_layer must be a module (e.g. a "
                            "TransformerEncoderLayer)")
        self.layers = _clones(encoder_layer, int(num_layers))
        self.num_layers = int(num_layers)
        self.norm = norm

    def __call__(self, src, mask=None, src_key_padding_mask=None, is_causal=None, *,
                 key=None):
        from ..random import split
        keys = [None] * self.num_layers if key is None else list(split(key, self.num_layers))
        x = src
        for layer, k in zip(self.layers, keys):
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal), key=k)
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """`num_layers` copies of `decoder_layer` applied in turn, then `norm` if given."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        if not isinstance(decoder_layer, Module):
            raise TypeError("TransformerDecoder: decoder_layer must be a module (e.g. a "
                            "TransformerDecoderLayer)")
        self.layers = _clones(decoder_layer, int(num_layers))
        self.num_layers = int(num_layers)
        self.norm = norm

    def __call__(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                 memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False, *,
                 key=None):
        from ..random import split
        keys = [None] * self.num_layers if key is None else list(split(key, self.num_layers))
        x = tgt
        for layer, k in zip(self.layers, keys):
            x = layer(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                      memory_key_padding_mask, bool(tgt_is_causal), memory_is_causal, key=k)
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """The encoder-decoder transformer of "Attention Is All You Need", as PyTorch's:
    `model(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False, *, key=None)`. Every
    parameter with more than one axis starts Xavier-uniform (PyTorch's reset)."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                 dim_feedforward=2048, dropout=0.1, activation="relu", custom_encoder=None,
                 custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False,
                 bias=True, *, key, dtype=None):
        from ..random import split
        from ..tree_util import tree_flatten, tree_unflatten
        if key is None:
            raise TypeError("Transformer draws its initial parameters at random: pass key=...")
        k_enc, k_dec, k_reset = split(key, 3)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias,
                                            key=k_enc, dtype=dtype)
            self.encoder = TransformerEncoder(
                layer, num_encoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias,
                                            key=k_dec, dtype=dtype)
            self.decoder = TransformerDecoder(
                layer, num_decoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        self.d_model, self.nhead, self.batch_first = int(d_model), int(nhead), bool(batch_first)
        leaves, tree = tree_flatten((self.encoder, self.decoder))
        keys = split(k_reset, max(len(leaves), 1))
        leaves = [init.xavier_uniform(k, p.shape, dtype=p.dtype) if p.ndim > 1 else p
                  for k, p in zip(keys, leaves)]
        self.encoder, self.decoder = tree_unflatten(tree, leaves)

    @staticmethod
    def generate_square_subsequent_mask(sz, dtype=None):
        """The causal mask: 0 on and below the diagonal, -inf above (a float mask)."""
        dt = float_dtype(dtype)
        return fnp.asarray(np.triu(np.full((sz, sz), -np.inf), 1).astype(dt))

    def __call__(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                 src_key_padding_mask=None, tgt_key_padding_mask=None,
                 memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                 memory_is_causal=False, *, key=None):
        from ..random import split
        src, tgt = as_floating(src), as_floating(tgt)
        batch_axis = 0 if self.batch_first else 1
        if src.ndim == 3 and (src.ndim != tgt.ndim or
                              src.shape[batch_axis] != tgt.shape[batch_axis]):
            raise ValueError(f"Transformer: src {src.shape} and tgt {tgt.shape} must have the "
                             f"same batch size (axis {batch_axis})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ValueError(f"Transformer: src {src.shape} and tgt {tgt.shape} must have "
                             f"d_model={self.d_model} features")
        k_enc, k_dec = (None, None) if key is None else split(key)
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal, key=k_enc)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal,
                            key=k_dec)
