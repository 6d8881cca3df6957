"""Layers with PyTorch's names, argument order, parameter layout, default initialization and
printed form. Parameters are drawn from an explicit `key`; `dtype=None` means the default
float dtype. Every layer is called on a batch: `layer(x)` (layers that use randomness take
`key=`)."""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..array import Array
from ..core import Tracer, concrete_host_value
from ..primitives._util import shape_of, dtype_of
from . import init
from ._utils import (as_floating, default_init as _default_init, float_dtype as _dtype, on_host,
                     split_key)
from .module import Module, field

__all__ = ["one_hot", "linear", "dropout", "embedding", "embedding_bag", "Identity", "Linear",
           "Flatten", "Dropout", "Embedding", "EmbeddingBag", "Unflatten", "dropout1d",
           "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "bilinear",
           "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
           "Bilinear", "grouped_mm"]


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
    if dtype_of(x) != dtype_of(weight):     # integers take the weight's type; floats promote
        common = dtype_of(weight) if not dtypes.is_inexact(dtype_of(x)) else \
            dtypes.result_type(dtype_of(x), dtype_of(weight))
        x, weight = (lax.convert_element_type(x, common),
                     lax.convert_element_type(weight, common))
    xs, ws = shape_of(x), shape_of(weight)
    if len(ws) != 2 or not xs or xs[-1] != ws[1]:
        raise ValueError(f"linear: input of shape {xs} needs its last axis to match "
                         f"in_features={ws[1] if len(ws) == 2 else ws} of the weight "
                         f"(shape {ws}, laid out (out_features, in_features))")
    out = lax.dot_general(x, weight, (((len(xs) - 1,), (1,)), ((), ())))
    return out if bias is None else lax.add(out, lax.convert_element_type(bias, dtype_of(out)))


def grouped_mm(mat_a, mat_b, *, offs=None, bias=None, out_dtype=None):
    """PyTorch's grouped matrix product (mixture-of-experts layers). `offs` (G,) holds the
    ends of the groups along the jagged axis of the 2-D operand(s): group g is
    `offs[g-1]:offs[g]` (from 0 for g = 0), nondecreasing integers (PyTorch asks for int32).

    - mat_a (M, K), mat_b (G, K, N): the rows of group g of mat_a times mat_b[g] -> (M, N);
    - mat_a (G, M, K), mat_b (K, N): mat_a[g] times the columns of group g of mat_b -> (M, N);
    - mat_a (M, K), mat_b (K, N): for group g's part of K, mat_a[:, part] @ mat_b[part] ->
      (G, M, N);
    - mat_a (G, M, K), mat_b (G, K, N), offs None: the batched product (G, M, N).

    Rows (or columns) past offs[-1] are zero here; PyTorch leaves them uninitialized. Each
    case is one einsum with a 0/1 group mask made from `offs`, so it works under jit, vmap
    and grad (offs may be traced). float16/32/64 (PyTorch takes float32, bfloat16 and float16
    on the CPU); as in PyTorch, `out_dtype` must be the inputs' dtype and `bias` is not
    supported."""
    fn = "grouped_mm"
    a, b = fnp.asarray(mat_a), fnp.asarray(mat_b)
    for name, x in (("mat_a", a), ("mat_b", b)):
        if x.ndim not in (2, 3):
            raise ValueError(f"{fn}: {name} must be 2-D or 3-D, got shape {shape_of(x)}")
        if dtype_of(x).kind != "f":
            raise TypeError(f"{fn}: {name} must be float16, float32 or float64, got "
                            f"{dtype_of(x)}")
    if dtype_of(a) != dtype_of(b):
        raise TypeError(f"{fn}: mat_a ({dtype_of(a)}) and mat_b ({dtype_of(b)}) must have the "
                        "same dtype")
    if bias is not None:
        raise NotImplementedError(f"{fn}: bias is not supported (PyTorch: 'Bias not supported "
                                  "yet'); add it to the result")
    if out_dtype is not None and np.dtype(out_dtype) != dtype_of(a):
        raise ValueError(f"{fn}: out_dtype must be the inputs' dtype {dtype_of(a)} (as in "
                         f"PyTorch), got {np.dtype(out_dtype)}; cast the result instead")
    sa, sb = shape_of(a), shape_of(b)
    if sa[-1] != sb[-2]:
        raise ValueError(f"{fn}: the contracted axes differ: mat_a {sa} has {sa[-1]} columns, "
                         f"mat_b {sb} has {sb[-2]} rows")
    if a.ndim == 3 and b.ndim == 3:
        if offs is not None:
            raise ValueError(f"{fn}: offs must be None when mat_a and mat_b are both 3-D (their "
                             "first axis enumerates the groups)")
        if sa[0] != sb[0]:
            raise ValueError(f"{fn}: mat_a {sa} and mat_b {sb} have different numbers of "
                             "groups (first axis)")
        return fnp.einsum("gmk,gkn->gmn", a, b)
    if offs is None:
        raise ValueError(f"{fn}: offs (the ends of the groups) is needed when mat_a or mat_b "
                         f"is 2-D (got shapes {sa} and {sb})")
    ends = _host_value(offs)
    offs = fnp.asarray(offs)
    if offs.ndim != 1 or not dtypes.is_integer(dtype_of(offs)):
        raise TypeError(f"{fn}: offs must be a 1-D integer array (int32 in PyTorch), got "
                        f"{dtype_of(offs)} of shape {shape_of(offs)}")
    groups = shape_of(offs)[0]
    stacked = [(n, s[0]) for n, x, s in (("mat_a", a, sa), ("mat_b", b, sb)) if x.ndim == 3]
    if stacked and stacked[0][1] != groups:
        raise ValueError(f"{fn}: offs has {groups} groups but {stacked[0][0]} has "
                         f"{stacked[0][1]} (its first axis)")
    # the mask (G, length of the jagged axis) comes first in each einsum
    if b.ndim == 3:
        spec, length, axis = "gm,mk,gkn->mn", sa[0], "mat_a's rows"
    elif a.ndim == 3:
        spec, length, axis = "gn,gmk,kn->mn", sb[1], "mat_b's columns"
    else:
        spec, length, axis = "gk,mk,kn->gmn", sa[1], "the K axis"
    if ends is not None and ends.size and (ends[0] < 0 or ends[-1] > length or
                                           np.any(np.diff(ends) < 0)):
        raise ValueError(f"{fn}: offs must be nondecreasing group ends in [0, {length}] "
                         f"({axis}), got {ends.tolist()}")
    starts = fnp.concatenate([fnp.zeros((1,), dtype_of(offs)), offs[:-1]])
    r = fnp.arange(length, dtype=dtype_of(offs))
    inside = fnp.logical_and(lax.le(starts[:, None], r), lax.lt(r, offs[:, None]))
    return fnp.einsum(spec, lax.convert_element_type(inside, dtype_of(a)), a, b)


def _host_value(x):
    """`x` as NumPy where reading it costs no device sync (host data), else None (traced, or
    on a GPU: left unchecked)."""
    if isinstance(x, (Array, Tracer)):
        return concrete_host_value(x) if on_host(x) else None
    return np.asarray(x)


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


# SELU's scale · alpha: alpha dropout sets dropped units to -_SELU_SAT, SELU's saturation value
_SELU_SAT = 1.0507009873554804934193349852946 * 1.6732632423543772848170429916717


def _check_p(p, fn):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{fn}: dropout probability p must be in [0, 1], got {p}")


def _masked(x, p, training, key, mask_shape, fn, alpha=False):
    """x with entries dropped by a Bernoulli(1 - p) mask of `mask_shape` (broadcast against x):
    the kept ones scaled by 1/(1-p) or, for alpha dropout, mapped so that the mean and variance
    of SELU activations are kept."""
    if not training or p == 0.0:
        return x
    if key is None:
        raise ValueError(f"{fn} in training mode needs a random key: pass key=... (split a fresh "
                         "one each step), or use training=False / model.eval() for inference")
    if p == 1.0:
        return lax.full_like(x, 0)      # every kind gives zeros here, alpha dropout too
    from ..random import bernoulli
    keep = bernoulli(key, 1.0 - p, mask_shape)
    if not alpha:
        return fnp.where(keep, lax.mul(x, 1.0 / (1.0 - p)), lax.full_like(x, 0))
    a = 1.0 / math.sqrt((_SELU_SAT ** 2 * p + 1.0) * (1.0 - p))
    kept = lax.add(lax.mul(x, a), a * _SELU_SAT * p)
    return fnp.where(keep, kept, lax.full_like(x, a * _SELU_SAT * (p - 1.0)))


def _channel_mask(x, fn, ranks, layout):
    """The (N, C, 1, ...) shape of a per-channel mask for `x`, whose rank must be in `ranks`
    (the lower one unbatched, (C, ...))."""
    shape = shape_of(x)
    if len(shape) not in ranks:
        raise ValueError(f"{fn}: expected a {layout} input, got shape {shape}")
    lead = 2 if len(shape) == max(ranks) else 1
    return shape[:lead] + (1,) * (len(shape) - lead)


def dropout1d(input, p=0.5, training=True, inplace=False, *, key=None):
    """Dropout of whole channels of (N, C, L) or (C, L) signals: each channel is zeroed with
    probability p and the others scaled by 1/(1-p)."""
    _check_p(p, "dropout1d")
    x = as_floating(input)
    mask = _channel_mask(x, "dropout1d", (2, 3), "2-d (C, L) or 3-d (N, C, L)")
    return _masked(x, p, training, key, mask, "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False, *, key=None):
    """Dropout of whole channels of (N, C, H, W) images. As PyTorch's, a 3-d input is read as
    (N, C, L), not as an unbatched (C, H, W) image (with a warning saying so)."""
    _check_p(p, "dropout2d")
    x = as_floating(input)
    if len(shape_of(x)) == 3:
        warnings.warn("dropout2d: a 3-d input is read as (N, C, L), as PyTorch does, so each "
                      "(N, C) row is dropped as a whole; use dropout1d for signals, or add the "
                      "batch axis (x[None]) to an unbatched (C, H, W) image", stacklevel=2)
        mask = shape_of(x)[:2] + (1,)
    else:
        mask = _channel_mask(x, "dropout2d", (4,), "4-d (N, C, H, W) (or 3-d (N, C, L))")
    return _masked(x, p, training, key, mask, "dropout2d")


def dropout3d(input, p=0.5, training=True, inplace=False, *, key=None):
    """Dropout of whole channels of (N, C, D, H, W) or (C, D, H, W) volumes."""
    _check_p(p, "dropout3d")
    x = as_floating(input)
    mask = _channel_mask(x, "dropout3d", (4, 5), "4-d (C, D, H, W) or 5-d (N, C, D, H, W)")
    return _masked(x, p, training, key, mask, "dropout3d")


def alpha_dropout(input, p=0.5, training=False, inplace=False, *, key=None):
    """Dropout for SELU networks (Klambauer et al.): dropped units take SELU's saturation value
    and an affine map keeps zero mean and unit variance. Note `training=False` by default, as
    PyTorch's."""
    _check_p(p, "alpha_dropout")
    x = as_floating(input)
    return _masked(x, p, training, key, shape_of(x), "alpha_dropout", alpha=True)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False, *, key=None):
    """Alpha dropout of whole channels: one draw per (N, C) entry of an input with at least 2
    axes (axis 1 the channels). `training=False` by default, as PyTorch's."""
    _check_p(p, "feature_alpha_dropout")
    x = as_floating(input)
    shape = shape_of(x)
    if len(shape) < 2:
        raise ValueError(f"feature_alpha_dropout: expected an input with at least 2 axes "
                         f"(N, C, ...), got shape {shape}; use alpha_dropout for elementwise "
                         "dropout")
    return _masked(x, p, training, key, shape[:2] + (1,) * (len(shape) - 2),
                   "feature_alpha_dropout", alpha=True)


def bilinear(input1, input2, weight, bias=None):
    """y[..., o] = sum_ij input1[..., i] weight[o, i, j] input2[..., j] + bias[o], with weight
    (out_features, in1_features, in2_features); both inputs have the same leading axes."""
    x1, x2, w = as_floating(input1), as_floating(input2), fnp.asarray(weight)
    dt = dtypes.result_type(dtype_of(x1), dtype_of(x2), dtype_of(w))
    s1, s2, ws = shape_of(x1), shape_of(x2), shape_of(w)
    if len(ws) != 3:
        raise ValueError(f"bilinear: weight must be 3-d (out_features, in1_features, "
                         f"in2_features), got shape {ws}")
    if not s1 or not s2 or s1[:-1] != s2[:-1]:
        raise ValueError(f"bilinear: input1 of shape {s1} and input2 of shape {s2} must have "
                         "the same leading (batch) axes, and the features on the last axis")
    for i, (s, n) in enumerate(((s1, ws[1]), (s2, ws[2]))):
        if s[-1] != n:
            raise ValueError(f"bilinear: input{i + 1} has {s[-1]} features (shape {s}) but the "
                             f"weight of shape {ws} expects in{i + 1}_features={n}")
    out = fnp.einsum("...i,oij,...j->...o", x1.astype(dt), w.astype(dt), x2.astype(dt))
    if bias is None:
        return out
    bias = fnp.asarray(bias)
    if shape_of(bias) != (ws[0],):
        raise ValueError(f"bilinear: bias must have shape ({ws[0]},) (out_features), got "
                         f"{shape_of(bias)}")
    return lax.add(out, bias.astype(dt))


def _ids(input, sparse, fn):
    """`input` as integer ids (and `sparse=True` refused: gradients here are dense)."""
    ids = fnp.asarray(input)
    if not dtypes.is_integer(dtype_of(ids)):
        raise TypeError(f"{fn} needs integer ids, got {dtype_of(ids)}")
    if sparse:
        raise ValueError(f"{fn}: sparse=True (sparse gradients) is not supported; gradients "
                         "here are dense arrays")
    return ids


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of `weight` (num_embeddings, embedding_dim) selected by integer ids (a gather;
    its derivative adds into the selected rows), as PyTorch's F.embedding: positions whose id
    is `padding_idx` pass no gradient to that row; rows whose `norm_type`-norm exceeds
    `max_norm` come out scaled to `max_norm` (PyTorch also rewrites those rows of the weight
    in place; here the weight is not changed, and the scaling is applied at every lookup);
    `scale_grad_by_freq` divides each row's gradient by how often its id occurs in `input`."""
    ids = _ids(input, sparse, "embedding")
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
    counts = lax.scatter_add_axes(fnp.zeros((num,), dtype_of(rows)),
                                  fnp.ones(shape_of(flat), dtype_of(rows)), flat, axes=(0,),
                                  mode="drop")
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
    ids = _ids(input, sparse, "embedding_bag")
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
    counts = lax.scatter_add_axes(fnp.zeros((bags,), dt), lax.convert_element_type(keep, dt),
                                  seg, axes=(0,), mode="drop")[:, None]
    if mode == "max":
        masked = fnp.where(lax.expand_dims(keep, (1,)), rows, -np.inf)
        top = lax.scatter_max_axes(fnp.full((bags, dim), -np.inf, dt), masked, seg, axes=(0,),
                                   mode="drop")
        return fnp.where(counts > 0, top, 0.0).astype(dt)
    total = lax.scatter_add_axes(fnp.zeros((bags, dim), dt), lax.mul(rows, weights[:, None]),
                                 seg, axes=(0,), mode="drop")
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


class _DropoutNd(Module):
    """The fields, checks and printing the channel and alpha dropouts share; each subclass
    names its functional form `_fn`."""
    p: float = 0.5
    inplace: bool = False
    training: bool = True

    def __post_init__(self):
        _check_p(self.p, type(self).__name__)

    def __call__(self, x, *, key=None):
        return self._fn(x, self.p, self.training, key=key)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutNd):
    """Drops whole channels of (N, C, L) or (C, L) inputs; in training mode (the default)
    call with `key=`, `model.eval()` gives the identity."""
    _fn = staticmethod(dropout1d)


class Dropout2d(_DropoutNd):
    """Drops whole channels of (N, C, H, W) inputs (a 3-d input is read as (N, C, L), as
    PyTorch does); in training mode call with `key=`."""
    _fn = staticmethod(dropout2d)


class Dropout3d(_DropoutNd):
    """Drops whole channels of (N, C, D, H, W) or (C, D, H, W) inputs; in training mode call
    with `key=`."""
    _fn = staticmethod(dropout3d)


class AlphaDropout(_DropoutNd):
    """Alpha dropout for SELU networks; in training mode (the default) call with `key=`."""
    _fn = staticmethod(alpha_dropout)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels (axis 1); in training mode call with `key=`."""
    _fn = staticmethod(feature_alpha_dropout)


class Bilinear(Module):
    """y = x1 · weight · x2 + bias, with `weight` (out_features, in1_features, in2_features);
    weight and bias start uniform in ±1/sqrt(in1_features), as PyTorch's."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, *, key,
                 dtype=None):
        wkey, bkey = split_key(key, 2)
        dt = _dtype(dtype)
        bound = 1.0 / math.sqrt(in1_features) if in1_features > 0 else 0.0
        self.weight = init.uniform(wkey, (out_features, in1_features, in2_features), -bound,
                                   bound, dt)
        self.bias = init.uniform(bkey, (out_features,), -bound, bound, dt) if bias else None
        self.in1_features, self.in2_features = int(in1_features), int(in2_features)
        self.out_features = int(out_features)

    def __call__(self, input1, input2, *, key=None):
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
