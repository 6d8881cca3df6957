"""More losses with PyTorch's names, arguments and reductions: the triplet loss over any distance
(`triplet_margin_with_distance_loss`, `TripletMarginWithDistanceLoss`), the cross-entropy of a
linear layer's logits (`linear_cross_entropy`, `LinearCrossEntropyLoss`) and connectionist
temporal classification (Graves et al., 2006): `ctc_loss` and `CTCLoss`. The CTC loss is the
forward algorithm in log space, one `lax.scan` step per frame over the label sequence with
blanks between and around the labels; its derivatives come from differentiating that scan, in
every mode and order."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..primitives._util import dtype_of, shape_of
from ._utils import as_floating, on_host
from .distance import PairwiseDistance
from .layers import Linear, linear
from .losses import cross_entropy, pairwise_distance
from .module import Buffer, Module

__all__ = ["ctc_loss", "CTCLoss", "triplet_margin_with_distance_loss",
           "TripletMarginWithDistanceLoss", "linear_cross_entropy", "LinearCrossEntropyLoss"]

_FN = "ctc_loss"


def _logsumexp3(a, b, c):
    """log(e^a + e^b + e^c) elementwise; -inf, with zero derivatives, where all three are."""
    m = lax.max(lax.max(a, b), c)
    m = lax.stop_gradient(lax.select(lax.eq(m, -np.inf), lax.full_like(m, 0.0), m))
    s = lax.add(lax.add(lax.exp(lax.sub(a, m)), lax.exp(lax.sub(b, m))), lax.exp(lax.sub(c, m)))
    empty = lax.eq(s, 0.0)
    return lax.select(empty, lax.full_like(s, -np.inf),
                      lax.add(m, lax.log(lax.select(empty, lax.full_like(s, 1.0), s))))


def _lengths(v, n, unbatched, name):
    v = fnp.asarray(v)
    if not dtypes.is_integer(dtype_of(v)):
        raise TypeError(f"{_FN}: {name} must be integers, got {dtype_of(v)}")
    want = ((), (1,)) if unbatched else ((n,),)
    if shape_of(v) not in want:
        raise ValueError(f"{_FN}: {name} must have shape {' or '.join(map(str, want))} (one "
                         f"length per sequence), got {shape_of(v)}")
    return lax.reshape(v, (n,))


def _check_range(v, lo, hi, name, what):
    if on_host(v) and shape_of(v)[0] and (int(fnp.min(v)) < lo or int(fnp.max(v)) > hi):
        bad = int(fnp.asarray(v)[lax.bitwise_or(lax.lt(v, lo), lax.gt(v, hi))][0])
        raise ValueError(f"{_FN}: {name} must be in [{lo}, {hi}] ({what}), got {bad}")


def _unconcatenated(y, tl, n):
    """Concatenated targets (sum(target_lengths),) as rows (N, S) padded past each length."""
    total = shape_of(y)[0]
    if total == 0:
        return fnp.zeros((n, 0), dtype=dtype_of(y))
    width = total
    if on_host(tl):
        if int(fnp.sum(tl)) > total:
            raise ValueError(f"{_FN}: concatenated targets hold {total} labels but "
                             f"target_lengths add up to {int(fnp.sum(tl))}")
        width = max(int(fnp.max(tl)), 1) if n else 1
    starts = lax.sub(fnp.cumsum(tl), tl)
    pos = lax.add(lax.expand_dims(starts, (1,)), fnp.arange(width, dtype=dtype_of(tl))[None])
    return fnp.take(y, fnp.clip(pos, 0, total - 1))


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    """-log p(target | input) summed over every alignment of `target` to the frames of
    `log_probs` (T, N, C) (unbatched: (T, C)), which should be log-softmax outputs. `targets`
    are (N, S) rows padded past `target_lengths`, or all N sequences concatenated into one
    axis; `input_lengths` count each sequence's frames. "mean" divides each loss by its target
    length (at least 1) and averages over the batch, as PyTorch; `zero_infinity` turns the
    infinite losses of impossible alignments (and their derivatives) into 0.

    The derivative with respect to `log_probs` is the exact one, -posterior of each class at
    each frame. PyTorch's adds exp(log_probs) on every frame within the input length (its
    derivative is that of the logits under log_softmax); both give the same gradient through
    `log_softmax`."""
    lp = as_floating(log_probs)
    if lp.ndim not in (2, 3):
        raise ValueError(f"{_FN}: log_probs must be (T, N, C) or unbatched (T, C), got shape "
                         f"{shape_of(lp)}")
    unbatched = lp.ndim == 2
    if unbatched:
        lp = lax.expand_dims(lp, (1,))
    t_len, n, c = shape_of(lp)
    if not 0 <= blank < c:
        raise ValueError(f"{_FN}: blank={blank} must be a class index in [0, {c})")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{_FN}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    y = fnp.asarray(targets)
    if not dtypes.is_integer(dtype_of(y)):
        raise TypeError(f"{_FN}: targets must be integer class indices, got {dtype_of(y)}")
    il = _lengths(input_lengths, n, unbatched, "input_lengths")
    tl = _lengths(target_lengths, n, unbatched, "target_lengths")
    if unbatched:
        if y.ndim != 1:
            raise ValueError(f"{_FN}: unbatched log_probs (T, C) need targets (S,), got shape "
                             f"{shape_of(y)}")
        y = lax.expand_dims(y, (0,))
    elif y.ndim == 1:
        y = _unconcatenated(y, tl, n)
    elif y.ndim != 2 or shape_of(y)[0] != n:
        raise ValueError(f"{_FN}: targets must be (N, S) = ({n}, S) padded rows or 1-D "
                         f"concatenated sequences, got shape {shape_of(y)}")
    s_len = shape_of(y)[1]
    _check_range(il, 0, t_len, "input_lengths", "the frames of log_probs' first axis")
    _check_range(tl, 0, s_len, "target_lengths", "the labels each row of targets holds")

    listed = lax.lt(fnp.arange(s_len, dtype=dtype_of(tl))[None], lax.expand_dims(tl, (1,)))
    bad = lax.bitwise_and(listed, lax.bitwise_or(lax.lt(y, 0), lax.ge(y, c)))
    if on_host(bad):
        if bool(fnp.any(bad)):
            raise IndexError(f"{_FN}: target {int(fnp.asarray(y)[bad][0])} is out of range; "
                             f"class indices must be in [0, {c})")
        bad = None
    else:
        bad = fnp.any(bad, axis=1)
    y = lax.select(lax.bitwise_and(listed, lax.bitwise_and(lax.ge(y, 0), lax.lt(y, c))), y,
                   lax.full_like(y, blank))
    # the extended sequence: blank, y1, blank, y2, ..., yS, blank
    blanks = lax.full_like(y, blank)
    ext = fnp.concatenate([lax.reshape(fnp.stack([blanks, y], axis=2), (n, 2 * s_len)),
                           lax.full_like(y, blank, shape=(n, 1))], axis=1)
    big = 2 * s_len + 1
    ext2 = fnp.concatenate([lax.full_like(y, blank, shape=(n, 2)), ext], axis=1)[:, :big]
    skip = lax.bitwise_and(lax.ne(ext, blank), lax.ne(ext, ext2))   # may come from s - 2
    emit = fnp.take_along_axis(lp, lax.expand_dims(ext, (0,)), axis=2)     # (T, N, 2S+1)

    neg = lax.full_like(lp, -np.inf, shape=(n, big))
    first = lax.lt(fnp.arange(big)[None], 2)
    empty_path = lax.select(lax.eq(fnp.arange(big)[None], 0), lax.full_like(neg, 0.0), neg)
    alpha = lax.select(lax.expand_dims(lax.gt(il, 0), (1,)),
                       lax.select(fnp.broadcast_to(first, (n, big)), emit[0], neg), empty_path)
    live = lax.expand_dims(il, (1,))

    def step(alpha, frame):
        e, t = frame
        one = fnp.concatenate([neg[:, :1], alpha], axis=1)[:, :big]
        two = lax.select(skip, fnp.concatenate([neg[:, :2], alpha], axis=1)[:, :big], neg)
        new = lax.add(_logsumexp3(alpha, one, two), e)
        return lax.select(fnp.broadcast_to(lax.lt(t, live), (n, big)), new, alpha), None

    if t_len > 1:
        alpha, _ = lax.scan(step, alpha, (emit[1:], fnp.arange(1, t_len, dtype=dtype_of(il))))
    end = lax.expand_dims(lax.mul(tl, 2), (1,))
    last = fnp.take_along_axis(alpha, end, axis=1)[:, 0]
    before = fnp.take_along_axis(alpha, lax.max(lax.sub(end, 1), 0), axis=1)[:, 0]
    before = lax.select(lax.gt(tl, 0), before, lax.full_like(before, -np.inf))
    loss = lax.neg(_logsumexp3(last, before, lax.full_like(last, -np.inf)))
    if zero_infinity:
        loss = lax.select(lax.eq(loss, np.inf), lax.full_like(loss, 0.0), loss)
    if bad is not None:            # traced labels: an out-of-range one makes its loss NaN
        loss = lax.select(bad, lax.full_like(loss, np.nan), loss)
    if reduction == "mean":
        per_label = lax.convert_element_type(lax.max(tl, 1), dtype_of(loss))
        return fnp.mean(lax.div(loss, per_label))
    if reduction == "sum":
        return fnp.sum(loss)
    return loss[0] if unbatched else loss


class CTCLoss(Module):
    blank: int = 0
    reduction: str = "mean"
    zero_infinity: bool = False

    def __call__(self, log_probs, targets, input_lengths, target_lengths):
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank,
                        self.reduction, self.zero_infinity)


def _check_margin(margin, fn):
    if not margin > 0:
        raise ValueError(f"{fn}: margin must be greater than 0, got {margin}")


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin=1.0, swap=False, reduction="mean"):
    """max(d(anchor, positive) - d(anchor, negative) + margin, 0) for any distance `d` (a
    function of two arrays, e.g. `lambda a, b: 1 - F.cosine_similarity(a, b)`; by default
    `F.pairwise_distance`); `swap` uses min(d(a, n), d(p, n)) as the negative distance.
    `reduction`: "mean", "sum" or "none"."""
    fn = "triplet_margin_with_distance_loss"
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    _check_margin(margin, fn)
    a, p, n = (fnp.asarray(v) for v in (anchor, positive, negative))
    if not len(shape_of(a)) == len(shape_of(p)) == len(shape_of(n)):
        raise ValueError(f"{fn}: anchor, positive and negative must have the same number of "
                         f"dimensions, got shapes {shape_of(a)}, {shape_of(p)} and "
                         f"{shape_of(n)}")
    distance = pairwise_distance if distance_function is None else distance_function
    d_pos = fnp.asarray(distance(a, p))
    d_neg = fnp.asarray(distance(a, n))
    if swap:
        d_neg = fnp.minimum(d_neg, distance(p, n))
    v = fnp.subtract(fnp.add(float(margin), d_pos), d_neg)
    loss = lax.select(lax.ge(v, 0.0), v, lax.full_like(v, 0.0))   # clamp_min's derivative
    if reduction == "mean":
        return fnp.mean(loss)
    return fnp.sum(loss) if reduction == "sum" else loss


class TripletMarginWithDistanceLoss(Module):
    """`triplet_margin_with_distance_loss` as a layer; a `distance_function` that is a module
    (by default `ft.nn.PairwiseDistance()`) is a submodule, as in PyTorch."""

    def __init__(self, *, distance_function=None, margin=1.0, swap=False, reduction="mean"):
        _check_margin(margin, "TripletMarginWithDistanceLoss")
        self.distance_function = PairwiseDistance() if distance_function is None else \
            distance_function
        self.margin, self.swap, self.reduction = float(margin), bool(swap), reduction

    def __call__(self, anchor, positive, negative, *, key=None):
        return triplet_margin_with_distance_loss(
            anchor, positive, negative, distance_function=self.distance_function,
            margin=self.margin, swap=self.swap, reduction=self.reduction)


# ------------------------------------------------------------------ linear cross-entropy
def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None, weight=None,
                         reduction="mean", ignore_index=None, label_smoothing=0.0,
                         options=None):
    """`cross_entropy(linear(input, linear_weight, linear_bias), target, ...)` (PyTorch's).

    `input` is (in_features,) or (N, in_features); `linear_weight` is (C, in_features), or
    (C, d1, ..., dK, in_features) for logits (N, C, d1, ..., dK) (batched input only), and
    `linear_bias` has the weight's shape without its last axis. `target` holds class indices,
    or probabilities shaped like the logits; `ignore_index` (None: -100) is for indices only.
    `options` chooses PyTorch's memory-saving chunked kernel, which gives the same values:
    it is accepted and ignored here."""
    fn = "linear_cross_entropy"
    x, w = as_floating(input), as_floating(linear_weight)
    if x.ndim not in (1, 2):
        raise ValueError(f"{fn}: input must be (in_features,) or (N, in_features), got shape "
                         f"{shape_of(x)}")
    if w.ndim < 2:
        raise ValueError(f"{fn}: linear_weight must be (C, ..., in_features) with at least 2 "
                         f"axes, got shape {shape_of(w)}")
    if shape_of(x)[-1] != shape_of(w)[-1]:
        raise ValueError(f"{fn}: input {shape_of(x)} and linear_weight {shape_of(w)} must "
                         "share their last axis (in_features)")
    outer = shape_of(w)[:-1]                            # (C, d1, ..., dK)
    if len(outer) > 1 and x.ndim == 1:
        raise ValueError(f"{fn}: a linear_weight of shape {shape_of(w)} gives K-dimensional "
                         f"logits, which need batched input (N, {shape_of(x)[-1]}), got "
                         f"{shape_of(x)}")
    b = None
    if linear_bias is not None:
        b = fnp.asarray(linear_bias)
        if shape_of(b) != outer:
            raise ValueError(f"{fn}: linear_bias must have shape {outer}, got {shape_of(b)}")
        b = lax.reshape(b, (math.prod(outer),))
    logits_shape = shape_of(x)[:-1] + outer
    if ignore_index is not None and shape_of(fnp.asarray(target)) == logits_shape:
        raise ValueError(f"{fn}: ignore_index cannot be given when target holds class "
                         "probabilities")
    logits = linear(x, lax.reshape(w, (math.prod(outer), shape_of(w)[-1])), b)
    return cross_entropy(lax.reshape(logits, logits_shape), target, weight,
                         ignore_index=-100 if ignore_index is None else ignore_index,
                         reduction=reduction, label_smoothing=label_smoothing)


class LinearCrossEntropyLoss(Module):
    """A `Linear(in_features, num_classes * prod(out_features), bias)` (its weight stored flat,
    as PyTorch's) followed by the cross-entropy of its logits (N, C, *out_features):
    `loss_fn(input, target)`. The class `weight` is a buffer, never trained."""

    def __init__(self, in_features, num_classes, *, out_features=(), bias=False, key,
                 dtype=None, reduction="mean", weight=None, ignore_index=None,
                 label_smoothing=0.0, options=None):
        name = "LinearCrossEntropyLoss"
        if weight is not None and shape_of(fnp.asarray(weight)) != (num_classes,):
            raise ValueError(f"{name}: weight must have shape ({num_classes},) (one entry per "
                             f"class), got {shape_of(fnp.asarray(weight))}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"{name}: label_smoothing must be in [0, 1], got "
                             f"{label_smoothing}")
        self.weight = None if weight is None else Buffer(fnp.asarray(weight))
        self.num_classes, self.out_features = int(num_classes), tuple(out_features)
        self.reduction, self.ignore_index = reduction, ignore_index
        self.label_smoothing, self.options = float(label_smoothing), options
        self.linear = Linear(in_features, math.prod(self.out_features, start=self.num_classes),
                             bias=bias, key=key, dtype=dtype)

    def __call__(self, input, target, *, key=None):
        outer = (self.num_classes, *self.out_features)
        lin = self.linear
        return linear_cross_entropy(
            input, lax.reshape(lin.weight, outer + (lin.in_features,)), target,
            linear_bias=None if lin.bias is None else lax.reshape(lin.bias, outer),
            weight=self.weight, reduction=self.reduction, ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing, options=self.options)

    def extra_repr(self):
        return (f"in_features={self.linear.in_features}, num_classes={self.num_classes}, "
                f"out_features={self.out_features}, bias={self.linear.bias is not None}, "
                f"reduction={self.reduction}, ignore_index={self.ignore_index}, "
                f"label_smoothing={self.label_smoothing}, options={self.options}")
