"""Layers with PyTorch's names, argument order, parameter layout, default initialization and
printed form. Parameters are drawn from an explicit `key`; `dtype=None` means the default
float dtype. Every layer is called on a batch: `layer(x)` (layers that use randomness take
`key=`)."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..primitives._util import shape_of, dtype_of
from . import init
from ._utils import as_floating, default_init as _default_init, float_dtype as _dtype
from .module import Module, field

__all__ = ["one_hot", "linear", "dropout", "embedding", "embedding_bag", "Identity", "Linear",
           "Flatten", "Dropout", "Embedding", "EmbeddingBag", "Unflatten"]


def one_hot(x, num_classes, dtype=None, axis=-1):
    """1.0 at each integer label's position along a new axis of size `num_classes` (labels
    outside [0, num_classes) give all zeros). Floats by default, for use in losses."""
    x = fnp.asarray(x)
    if not dtypes.is_integer(dtype_of(x)):
        raise TypeError(f"one_hot needs integer labels, got {dtype_of(x)}")
    shape = shape_of(x)
    axis = axis % (len(shape) + 1)
    classes = fnp.arange(num_classes, dtype=dtype_of(x))
    classes = lax.reshape(classes, (1,) * axis + (num_classes,) + (1,) * (len(shape) - axis))
    hit = lax.eq(lax.expand_dims(x, (axis,)), classes)
    return lax.convert_element_type(hit, dtypes.default_float_dtype() if dtype is None
                                    else np.dtype(dtype))


def linear(x, weight, bias=None):
    """x @ weight.T + bias, with weight of shape (out_features, in_features)."""
    x = fnp.asarray(x)
    if dtype_of(x) != dtype_of(weight):
        x = lax.convert_element_type(x, dtype_of(weight)) \
            if not dtypes.is_inexact(dtype_of(x)) else x
    xs, ws = shape_of(x), shape_of(weight)
    if len(ws) != 2 or not xs or xs[-1] != ws[1]:
        raise ValueError(f"linear: input of shape {xs} needs its last axis to match "
                         f"in_features={ws[1] if len(ws) == 2 else ws} of the weight "
                         f"(shape {ws}, laid out (out_features, in_features))")
    out = lax.dot_general(x, weight, (((len(xs) - 1,), (1,)), ((), ())))
    return out if bias is None else lax.add(out, bias)


def dropout(input, p=0.5, training=True, inplace=False, *, key=None):
    """Zero each element with probability `p` and scale the rest by 1/(1-p) (inverted
    dropout, as PyTorch); the identity when not training or p == 0. (`inplace` is accepted
    for ported code: the result is a new array either way.)"""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    x = as_floating(input)
    if not training or p == 0.0:
        return x
    if key is None:
        raise ValueError("dropout in training mode needs a random key: pass key=... (split a "
                         "fresh one each step), or use training=False / model.eval() for "
                         "inference")
    if p == 1.0:
        return lax.full_like(x, 0)
    from ..random import bernoulli
    keep = bernoulli(key, 1.0 - p, shape_of(x))
    return lax.select(keep, lax.mul(x, 1.0 / (1.0 - p)), 0.0)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of `weight` (num_embeddings, embedding_dim) selected by integer ids (a gather;
    its derivative adds into the selected rows), as PyTorch's F.embedding: positions whose id
    is `padding_idx` pass no gradient to that row; rows whose `norm_type`-norm exceeds
    `max_norm` come out scaled to `max_norm` (PyTorch also rewrites those rows of the weight
    in place; here the weight is not changed, and the scaling is applied at every lookup);
    `scale_grad_by_freq` divides each row's gradient by how often its id occurs in `input`."""
    ids = fnp.asarray(input)
    if not dtypes.is_integer(dtype_of(ids)):
        raise TypeError(f"embedding needs integer ids, got {dtype_of(ids)}")
    if sparse:
        raise ValueError("embedding: sparse=True (sparse gradients) is not supported; "
                         "gradients here are dense arrays")
    num = shape_of(weight)[0]
    rows = fnp.take(weight, ids, axis=0)
    if max_norm is not None:
        rows = _renorm(rows, max_norm, norm_type)
    if scale_grad_by_freq:
        rows = _scale_grad(rows, ids, num)
    if padding_idx is not None:
        pad = _padding_index(padding_idx, num, "embedding")
        keep = lax.expand_dims(lax.ne(ids, pad), (len(shape_of(ids)),))
        rows = fnp.where(keep, rows, lax.stop_gradient(rows))
    return rows


def _padding_index(padding_idx, num, fn):
    if not -num <= padding_idx < num:
        raise ValueError(f"{fn}: padding_idx {padding_idx} must be within num_embeddings "
                         f"({num})")
    return int(padding_idx) % num


def _renorm(rows, max_norm, norm_type):
    """Rows scaled by max_norm / (norm + 1e-7) where their norm exceeds max_norm, with the
    derivative of the unscaled rows (PyTorch renormalizes the weight outside autograd)."""
    p = float(norm_type)
    a = fnp.abs(rows)
    norm = fnp.max(a, axis=-1, keepdims=True) if p == math.inf else \
        lax.pow(fnp.sum(lax.pow(a, p), axis=-1, keepdims=True), 1.0 / p)
    scale = fnp.where(norm > max_norm, max_norm / (norm + 1e-7), 1.0)
    fixed = lax.stop_gradient(lax.sub(lax.mul(rows, scale.astype(dtype_of(rows))), rows))
    return lax.add(rows, fixed)


def _scale_grad(rows, ids, num):
    """`rows` whose derivative is divided by the count of each id in `ids`."""
    flat = lax.reshape(ids, (math.prod(shape_of(ids)),))
    counts = lax.scatter_add(fnp.zeros((num,), dtype_of(rows)), fnp.ones(shape_of(flat),
                             dtype_of(rows)), flat, axes=(0,), mode="drop")
    inv = lax.expand_dims(lax.div(1.0, fnp.take(counts, ids, axis=0)), (len(shape_of(ids)),))
    still = lax.stop_gradient(rows)
    return lax.add(still, lax.mul(lax.sub(rows, still), inv))


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2,
                  scale_grad_by_freq=False, mode="mean", sparse=False, per_sample_weights=None,
                  include_last_offset=False, padding_idx=None):
    """Sums, means or maxima of bags of embeddings (PyTorch's F.embedding_bag).

    `input` is (B, N) (B bags of N ids) with `offsets` None, or 1-d with `offsets` giving
    where each bag starts (with `include_last_offset`, offsets has B + 1 entries, the last
    one the end). `per_sample_weights` (shape of input, mode "sum" only) scales each
    embedding; ids equal to `padding_idx` are left out of their bag; an empty bag gives
    zeros. In "max" mode the derivative goes to each maximum (shared among equal ones).
    """
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
    if per_sample_weights is not None and mode != "sum":
        raise ValueError(f"embedding_bag: per_sample_weights is only supported for mode='sum' "
                         f"(got mode={mode!r})")
    if scale_grad_by_freq and mode == "max":
        raise ValueError("embedding_bag: scale_grad_by_freq is not supported with mode='max'")
    ids = fnp.asarray(input)
    if not dtypes.is_integer(dtype_of(ids)):
        raise TypeError(f"embedding_bag needs integer ids, got {dtype_of(ids)}")
    if sparse:
        raise ValueError("embedding_bag: sparse=True (sparse gradients) is not supported; "
                         "gradients here are dense arrays")
    num, dim = shape_of(weight)
    rows = fnp.take(weight, ids, axis=0)
    if max_norm is not None:
        rows = _renorm(rows, max_norm, norm_type)
    if scale_grad_by_freq:
        rows = _scale_grad(rows, ids, num)
    dt = dtype_of(rows)
    keep = fnp.ones(shape_of(ids), bool) if padding_idx is None else \
        lax.ne(ids, _padding_index(padding_idx, num, "embedding_bag"))
    weights = lax.convert_element_type(keep, dt)
    if per_sample_weights is not None:
        psw = fnp.asarray(per_sample_weights)
        if shape_of(psw) != shape_of(ids):
            raise ValueError(f"embedding_bag: per_sample_weights has shape {shape_of(psw)} but "
                             f"input has shape {shape_of(ids)}")
        weights = lax.mul(weights, lax.convert_element_type(psw, dt))
    rank = len(shape_of(ids))
    if rank == 2:
        if offsets is not None:
            raise ValueError("embedding_bag: offsets must be None for a 2-d input (each row is "
                             "a bag)")
        count = fnp.sum(lax.convert_element_type(keep, dt), axis=1, keepdims=True)
        if mode == "max":
            masked = fnp.where(lax.expand_dims(keep, (2,)), rows, -np.inf)
            top = fnp.max(masked, axis=1)
            return fnp.where(count > 0, top, 0.0).astype(dt)
        total = fnp.sum(lax.mul(rows, lax.expand_dims(weights, (2,))), axis=1)
        return total if mode == "sum" else lax.div(total, fnp.maximum(count, 1.0))
    if rank != 1:
        raise ValueError(f"embedding_bag: input must be 1-d (with offsets) or 2-d, got shape "
                         f"{shape_of(ids)}")
    if offsets is None:
        raise ValueError("embedding_bag: a 1-d input needs offsets (where each bag starts)")
    offsets = fnp.asarray(offsets)
    if len(shape_of(offsets)) != 1 or not dtypes.is_integer(dtype_of(offsets)):
        raise ValueError(f"embedding_bag: offsets must be a 1-d integer array, got "
                         f"{dtype_of(offsets)} of shape {shape_of(offsets)}")
    bags = shape_of(offsets)[0] - (1 if include_last_offset else 0)
    n = shape_of(ids)[0]
    # the bag of each position; before the first offset or past the end: bag `bags` (dropped)
    seg = lax.sub(fnp.searchsorted(offsets, fnp.arange(n, dtype=dtype_of(offsets)),
                                   side="right"), 1)
    seg = fnp.where((seg < 0) | (seg >= bags), bags, seg)
    counts = lax.scatter_add(fnp.zeros((bags,), dt), lax.convert_element_type(keep, dt), seg,
                             axes=(0,), mode="drop")[:, None]
    if mode == "max":
        masked = fnp.where(lax.expand_dims(keep, (1,)), rows, -np.inf)
        top = lax.scatter_max(fnp.full((bags, dim), -np.inf, dt), masked, seg, axes=(0,),
                              mode="drop")
        return fnp.where(counts > 0, top, 0.0).astype(dt)
    total = lax.scatter_add(fnp.zeros((bags, dim), dt), lax.mul(rows, weights[:, None]), seg,
                            axes=(0,), mode="drop")
    return total if mode == "sum" else lax.div(total, fnp.maximum(counts, 1.0))


class Identity(Module):
    """Returns its input; as in PyTorch, any constructor arguments are ignored."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, x, *, key=None):
        return x


class Linear(Module):
    """y = x @ weight.T + bias; `weight` is (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True, *, key, dtype=None):
        self.weight, self.bias = _default_init(key, (out_features, in_features), in_features,
                                               bias, _dtype(dtype))
        self.in_features, self.out_features = int(in_features), int(out_features)

    def __call__(self, x, *, key=None):
        return linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Flattens axes start_dim..end_dim into one (by default all but the batch axis)."""
    start_dim: int = 1
    end_dim: int = -1

    def __call__(self, x, *, key=None):
        x = fnp.asarray(x)
        shape = shape_of(x)
        n = len(shape)
        start, end = self.start_dim % max(n, 1), self.end_dim % max(n, 1)
        return fnp.reshape(x, shape[:start] + (math.prod(shape[start:end + 1]),) +
                           shape[end + 1:])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Inverted dropout: in training mode (the default) call with `key=`; `model.eval()`
    returns a copy in which it is the identity."""
    p: float = 0.5
    inplace: bool = False
    training: bool = True

    def __call__(self, x, *, key=None):
        return dropout(x, self.p, self.training, key=key)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Embedding(Module):
    """A lookup table of `num_embeddings` vectors of size `embedding_dim` (N(0, 1) init; the
    `padding_idx` row starts at zero and gets no gradient). See `ft.nn.embedding` for
    `max_norm`, `norm_type` and `scale_grad_by_freq`."""
    padding_idx: object = field(static=True)
    max_norm: object = field(static=True)

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False, *, key, dtype=None):
        self.weight, self.padding_idx = _embedding_table(key, num_embeddings, embedding_dim,
                                                         padding_idx, dtype)
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.max_norm = None if max_norm is None else float(max_norm)
        self.norm_type, self.scale_grad_by_freq = float(norm_type), bool(scale_grad_by_freq)
        if sparse:
            raise ValueError("Embedding: sparse=True (sparse gradients) is not supported")
        self.sparse = False

    def __call__(self, ids, *, key=None):
        return embedding(ids, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}" + _embedding_options(self)


def _embedding_table(key, num, dim, padding_idx, dtype):
    weight = init.normal(key, (num, dim), dtype=_dtype(dtype))
    if padding_idx is None:
        return weight, None
    if not -num <= padding_idx < num:
        raise ValueError(f"padding_idx ({padding_idx}) must be within num_embeddings ({num})")
    padding_idx = int(padding_idx) % num
    return weight.at[padding_idx].set(0.0), padding_idx


def _embedding_options(m, with_padding=True):
    s = ""
    if with_padding and m.padding_idx is not None:
        s += f", padding_idx={m.padding_idx}"
    if m.max_norm is not None:
        s += f", max_norm={m.max_norm}"
    if m.norm_type != 2:
        s += f", norm_type={m.norm_type}"
    if m.scale_grad_by_freq:
        s += f", scale_grad_by_freq={m.scale_grad_by_freq}"
    return s


class EmbeddingBag(Module):
    """Sums, means or maxima over bags of embeddings, without building the (bag, ids,
    embedding_dim) array of the rows one by one: `bag(ids_2d)` or
    `bag(ids_1d, offsets, per_sample_weights=None)` (see `ft.nn.embedding_bag`)."""
    max_norm: object = field(static=True)
    padding_idx: object = field(static=True)

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, mode="mean", sparse=False, include_last_offset=False,
                 padding_idx=None, *, key, dtype=None):
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"EmbeddingBag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
        if sparse:
            raise ValueError("EmbeddingBag: sparse=True (sparse gradients) is not supported")
        self.weight, self.padding_idx = _embedding_table(key, num_embeddings, embedding_dim,
                                                         padding_idx, dtype)
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.max_norm = None if max_norm is None else float(max_norm)
        self.norm_type, self.scale_grad_by_freq = float(norm_type), bool(scale_grad_by_freq)
        self.mode, self.sparse = mode, False
        self.include_last_offset = bool(include_last_offset)

    def __call__(self, input, offsets=None, per_sample_weights=None, *, key=None):
        return embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type,
                               self.scale_grad_by_freq, self.mode, False, per_sample_weights,
                               self.include_last_offset, self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}" + _embedding_options(self, False)
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


class Unflatten(Module):
    """Splits axis `dim` into `unflattened_size` (the inverse of Flatten)."""

    def __init__(self, dim, unflattened_size):
        self.dim, self.unflattened_size = int(dim), tuple(int(s) for s in unflattened_size)

    def __call__(self, x, *, key=None):
        x = fnp.asarray(x)
        shape = shape_of(x)
        d = self.dim % len(shape) if shape else 0
        return fnp.reshape(x, shape[:d] + self.unflattened_size + shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
