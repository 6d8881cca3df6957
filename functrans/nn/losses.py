"""Loss functions with PyTorch's names, arguments and reductions ("mean", "sum", "none"),
as functions and as modules (`CrossEntropyLoss()(logits, labels)`)."""
from __future__ import annotations

import math

from .. import dtypes, lax
from .. import numpy as fnp
from ..core import Tracer, device_like
from ..higher_order.custom_derivatives import custom_jvp
from ..backends import cpu
from ..primitives._util import shape_of, dtype_of
from ._utils import as_floating
from .activations import log_softmax
from .layers import one_hot
from .module import Module

__all__ = ["mse_loss", "l1_loss", "cross_entropy", "nll_loss",
           "binary_cross_entropy_with_logits", "binary_cross_entropy", "huber_loss",
           "smooth_l1_loss", "kl_div", "cosine_embedding_loss", "margin_ranking_loss",
           "triplet_margin_loss", "pairwise_distance", "MSELoss", "L1Loss", "CrossEntropyLoss",
           "NLLLoss", "BCEWithLogitsLoss", "BCELoss", "HuberLoss", "SmoothL1Loss", "KLDivLoss",
           "CosineEmbeddingLoss", "MarginRankingLoss", "TripletMarginLoss"]


def _reduce(loss, reduction, fn):
    if reduction == "mean":
        return fnp.mean(loss)
    if reduction == "sum":
        return fnp.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _weighted(loss, weight, reduction, fn, mean_over_weight=True):
    """PyTorch's elementwise `weight=` of the regression losses: `loss * weight`, reduced by
    sum, or for "mean" divided by sum(weight) (mse, l1) or averaged (huber)."""
    weight = fnp.asarray(weight)
    if shape_of(weight) != shape_of(loss):
        raise ValueError(f"{fn}: weight of shape {shape_of(weight)} and input of shape "
                         f"{shape_of(loss)} differ; PyTorch requires the same size")
    loss = fnp.multiply(loss, weight)
    if reduction == "mean" and mean_over_weight:
        return fnp.divide(fnp.sum(loss), fnp.sum(weight))
    return _reduce(loss, reduction, fn)


def _same_shape(input, target, fn):
    if shape_of(input) != shape_of(target):
        raise ValueError(f"{fn}: input of shape {shape_of(input)} and target of shape "
                         f"{shape_of(target)} differ; reshape one so they match (broadcasting "
                         "here usually hides a bug)")


def mse_loss(input, target, reduction="mean", weight=None):
    """Mean squared error (weighted by `weight`, of the input's shape, where given)."""
    input, target = as_floating(input), fnp.asarray(target)
    _same_shape(input, target, "mse_loss")
    loss = fnp.square(fnp.subtract(input, target))
    if weight is not None:
        return _weighted(loss, weight, reduction, "mse_loss")
    return _reduce(loss, reduction, "mse_loss")


def l1_loss(input, target, reduction="mean", weight=None):
    """Mean absolute error (weighted by `weight`, of the input's shape, where given)."""
    input, target = as_floating(input), fnp.asarray(target)
    _same_shape(input, target, "l1_loss")
    loss = fnp.abs(fnp.subtract(input, target))
    if weight is not None:
        return _weighted(loss, weight, reduction, "l1_loss")
    return _reduce(loss, reduction, "l1_loss")


def _class_axis(logp, fn):
    shape = shape_of(logp)
    if not shape:
        raise ValueError(f"{fn} needs scores with a class axis, got a scalar")
    return 0 if len(shape) == 1 else 1


def _class_weight(weight, axis, ndim):
    return lax.reshape(weight, (1,) * axis + shape_of(weight) + (1,) * (ndim - axis - 1))


def _check_labels(target, c, ignore_index, fn):
    """Labels outside [0, c) other than `ignore_index` raise when they are known now on the
    host (as in PyTorch); traced or on a GPU (no sync), returns where they are (their losses
    become NaN)."""
    bad = lax.bitwise_and(lax.bitwise_or(lax.lt(target, 0), lax.ge(target, c)),
                          lax.ne(target, ignore_index))
    if not isinstance(bad, Tracer) and device_like(bad) is cpu:
        if fnp.any(bad):
            first = fnp.asarray(target)[bad][0]
            raise IndexError(f"{fn}: target {int(first)} is out of bounds for {c} classes "
                             f"(labels must be in [0, {c}) or ignore_index={ignore_index})")
        return None
    return bad


def _nll(logp, target, weight, ignore_index, reduction, label_smoothing, fn):
    """PyTorch's negative log-likelihood (with optional label smoothing) on log-probabilities
    whose class axis is 1 (0 for unbatched input)."""
    axis = _class_axis(logp, fn)
    shape = shape_of(logp)
    c = shape[axis]
    target = fnp.asarray(target)
    if weight is not None:
        weight = fnp.asarray(weight, dtype=dtype_of(logp))
        if shape_of(weight) != (c,):
            raise ValueError(f"{fn}: weight must have one entry per class ({c}), got shape "
                             f"{shape_of(weight)}")
    if dtypes.is_integer(dtype_of(target)):
        expected = shape[:axis] + shape[axis + 1:]
        if shape_of(target) != expected:
            raise ValueError(f"{fn}: scores of shape {shape} need integer targets of shape "
                             f"{expected} (class axis {axis} removed), got {shape_of(target)}")
        out_of_range = _check_labels(target, c, ignore_index, fn)
        hot = one_hot(target, c, dtype_of(logp), axis=axis)   # ignored labels: all zeros
        w = hot if weight is None else lax.mul(hot, _class_weight(weight, axis, len(shape)))
        picked = fnp.sum(lax.mul(w, logp), axis=axis)          # w[y] * logp[y]
        loss = lax.neg(picked)
        if label_smoothing:
            valid = lax.convert_element_type(lax.ne(target, ignore_index), dtype_of(logp))
            every = logp if weight is None else lax.mul(logp, _class_weight(weight, axis,
                                                                            len(shape)))
            smooth = lax.mul(lax.neg(fnp.sum(every, axis=axis)), valid)
            loss = lax.add(lax.mul(loss, 1.0 - label_smoothing),
                           lax.mul(smooth, label_smoothing / c))
        if out_of_range is not None:         # traced labels: a bad one makes its loss NaN
            loss = lax.select(out_of_range, lax.full_like(loss, float("nan")), loss)
        if reduction != "mean":
            return _reduce(loss, reduction, fn)
        denom = fnp.sum(w) if weight is not None else \
            fnp.sum(lax.ne(target, ignore_index).astype(dtype_of(logp)))
        return lax.div(fnp.sum(loss), denom)
    # class probabilities
    target = as_floating(target)
    if shape_of(target) != shape:
        raise ValueError(f"{fn}: probability targets must have the scores' shape {shape}, got "
                         f"{shape_of(target)}")
    if label_smoothing:
        target = lax.add(lax.mul(target, 1.0 - label_smoothing), label_smoothing / c)
    terms = lax.mul(target, logp)
    if weight is not None:
        terms = lax.mul(terms, _class_weight(weight, axis, len(shape)))
    return _reduce(lax.neg(fnp.sum(terms, axis=axis)), reduction, fn)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Softmax cross-entropy of scores `input` (N, C) or (N, C, d1, ...) against integer
    labels (N, d1, ...) or class probabilities shaped like `input` (PyTorch's semantics,
    including class `weight`, `ignore_index` and `label_smoothing`)."""
    input = as_floating(input)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    logp = log_softmax(input, _class_axis(input, "cross_entropy"))
    return _nll(logp, target, weight, ignore_index, reduction, label_smoothing,
                "cross_entropy")


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities `input` at integer labels `target`."""
    return _nll(as_floating(input), target, weight, ignore_index, reduction, 0.0, "nll_loss")


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable expression."""
    x, t = _floats(input, target)
    _same_shape(x, t, "binary_cross_entropy_with_logits")
    softplus_neg = lax.add(lax.log1p(lax.exp(lax.neg(lax.abs(x)))), lax.max(lax.neg(x), 0.0))
    if pos_weight is not None:
        log_weight = lax.add(lax.mul(lax.sub(fnp.asarray(pos_weight, dtype=dtype_of(x)), 1.0),
                                     t), 1.0)
        softplus_neg = lax.mul(softplus_neg, log_weight)
    loss = lax.add(lax.mul(lax.sub(1.0, t), x), softplus_neg)
    if weight is not None:
        loss = lax.mul(loss, fnp.asarray(weight, dtype=dtype_of(x)))
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def _floats(*arrays):
    """The arrays as floats of one common dtype."""
    arrays = [as_floating(a) for a in arrays]
    dt = dtypes.result_type(*[a.dtype for a in arrays])
    return [a.astype(dt) for a in arrays]


def _on_host(x):
    """Whether `x` is a concrete value on the CPU, so checking it costs no device sync."""
    return not isinstance(x, Tracer) and device_like(x) is cpu


def _log_clamped(x):
    return lax.max(lax.log(x), -100.0)


def _log1m_clamped(x):
    return lax.max(lax.log1p(lax.neg(x)), -100.0)


_BCE_EPS = 9.999999960041972e-13          # PyTorch's 1e-12, a float32 constant


@custom_jvp
def _bce_terms(x, t):
    return lax.sub(lax.mul(lax.sub(t, 1.0), _log1m_clamped(x)), lax.mul(t, _log_clamped(x)))


@_bce_terms.defjvp
def _bce_terms_jvp(primals, tangents):
    # the input's derivative is PyTorch's (x - t) / max(x (1 - x), eps), finite where the
    # logs are clamped; the target's is that of the clamped loss (PyTorch leaves its logs
    # unclamped there, an infinite derivative at x = 0 or 1)
    x, t = primals
    tx, tt = tangents
    dx = lax.div(lax.sub(x, t), lax.max(lax.mul(x, lax.sub(1.0, x)), _BCE_EPS))
    dt = lax.sub(_log1m_clamped(x), _log_clamped(x))
    return _bce_terms(x, t), lax.add(lax.mul(tx, dx), lax.mul(tt, dt))


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-weight·(t·log(x) + (1 - t)·log(1 - x)) for probabilities `input` in [0, 1], with
    the logs clamped at -100 as PyTorch does (prefer `binary_cross_entropy_with_logits` on
    logits: it is stabler)."""
    x, t = _floats(input, target)
    _same_shape(x, t, "binary_cross_entropy")
    if _on_host(x) and bool(fnp.any(lax.bitwise_not(lax.bitwise_and(lax.ge(x, 0.0),
                                                                      lax.le(x, 1.0))))):
        raise ValueError("binary_cross_entropy: every input must be a probability in [0, 1]; "
                         "for scores (logits) use binary_cross_entropy_with_logits")
    loss = _bce_terms(x, t)
    if weight is not None:
        loss = lax.mul(loss, fnp.asarray(weight, dtype=x.dtype))
    return _reduce(loss, reduction, "binary_cross_entropy")


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5·d² where |d| < delta, delta·(|d| - 0.5·delta) elsewhere, for d = input - target
    (weighted by `weight`, of the input's shape, where given)."""
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    x, t = as_floating(input), fnp.asarray(target)
    _same_shape(x, t, "huber_loss")
    d = fnp.subtract(x, t)
    a = lax.abs(d)
    loss = lax.select(lax.lt(a, float(delta)), lax.mul(lax.square(d), 0.5),
                      lax.mul(lax.sub(a, 0.5 * delta), float(delta)))
    if weight is not None:
        return _weighted(loss, weight, reduction, "huber_loss", mean_over_weight=False)
    return _reduce(loss, reduction, "huber_loss")


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5·d²/beta where |d| < beta, |d| - 0.5·beta elsewhere (the L1 loss when beta is 0)."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must not be negative, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction)
    x, t = as_floating(input), fnp.asarray(target)
    _same_shape(x, t, "smooth_l1_loss")
    d = fnp.subtract(x, t)
    a = lax.abs(d)
    loss = lax.select(lax.lt(a, float(beta)), lax.mul(lax.square(d), 0.5 / beta),
                      lax.sub(a, 0.5 * beta))
    return _reduce(loss, reduction, "smooth_l1_loss")


def kl_div(input, target, reduction="mean", log_target=False):
    """Kullback-Leibler divergence with `input` holding log-probabilities: target·(log(target)
    - input) pointwise (0 where target is 0), or exp(target)·(target - input) with
    `log_target=True`. `reduction="batchmean"` divides the sum by the batch size (axis 0),
    which is the true KL divergence; "mean" divides by the number of elements."""
    x, t = _floats(input, target)
    _same_shape(x, t, "kl_div")
    if log_target:
        loss = lax.mul(lax.exp(t), lax.sub(t, x))
    else:
        zero = lax.eq(t, 0.0)
        safe = lax.select(zero, lax.full_like(t, 1.0), t)
        loss = lax.sub(lax.select(zero, lax.full_like(t, 0.0), lax.mul(t, lax.log(safe))),
                       lax.mul(t, x))
    if reduction == "batchmean":
        total = fnp.sum(loss)
        return total if x.ndim == 0 else lax.div(total, float(x.shape[0]))
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"kl_div: reduction must be 'mean', 'batchmean', 'sum' or 'none', got "
                         f"{reduction!r}")
    return _reduce(loss, reduction, "kl_div")


def _clamp_min_zero(v):
    """max(v, 0) with derivative 1 at 0 (PyTorch's clamp_min)."""
    return lax.select(lax.ge(v, 0.0), v, lax.full_like(v, 0.0))


def _pm_one_target(target, shape, fn):
    t = fnp.asarray(target)
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{fn}: target of shape {t.shape} must have shape {shape} (one 1 or -1 "
                         "per pair)")
    return t


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1, with
    cosines along axis 1 of (N, D) inputs (axis 0 of unbatched (D,) ones)."""
    x1, x2 = _floats(input1, input2)
    _same_shape(x1, x2, "cosine_embedding_loss")
    if x1.ndim not in (1, 2):
        raise ValueError(f"cosine_embedding_loss: inputs must be (N, D) or (D,), got shape "
                         f"{x1.shape}")
    axis = x1.ndim - 1
    y = _pm_one_target(target, x1.shape[:axis], "cosine_embedding_loss")
    eps = 1e-12
    prod = fnp.sum(lax.mul(x1, x2), axis=axis)
    mag1 = lax.add(fnp.sum(lax.square(x1), axis=axis), eps)
    mag2 = lax.add(fnp.sum(lax.square(x2), axis=axis), eps)
    cos = lax.div(prod, lax.sqrt(lax.mul(mag1, mag2)))
    zero = lax.full_like(cos, 0.0)
    loss = lax.add(lax.select(lax.eq(y, 1), lax.sub(1.0, cos), zero),
                   lax.select(lax.eq(y, -1), _clamp_min_zero(lax.sub(cos, float(margin))), zero))
    return _reduce(loss, reduction, "cosine_embedding_loss")


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """max(0, -target·(x1 - x2) + margin): target 1 means x1 should rank higher, -1 lower."""
    x1, x2 = _floats(input1, input2)
    y = fnp.asarray(target)
    if not (x1.shape == x2.shape == y.shape):
        raise ValueError(f"margin_ranking_loss: input1 {x1.shape}, input2 {x2.shape} and target "
                         f"{y.shape} must have the same shape")
    loss = _clamp_min_zero(lax.add(lax.mul(lax.neg(y.astype(x1.dtype)), lax.sub(x1, x2)),
                                   float(margin)))
    return _reduce(loss, reduction, "margin_ranking_loss")


def _p_norm(d, p, axis, keepdims):
    """The p-norm along `axis`, whose derivative is 0 (not NaN) where the norm is 0."""
    if p == math.inf:
        return fnp.max(lax.abs(d), axis=axis, keepdims=keepdims)
    if p == 2:
        s = fnp.sum(lax.square(d), axis=axis, keepdims=keepdims)
        zero = lax.eq(s, 0.0)
        return lax.select(zero, s, lax.sqrt(lax.select(zero, lax.full_like(s, 1.0), s)))
    if p == 1:
        return fnp.sum(lax.abs(d), axis=axis, keepdims=keepdims)
    if not p > 0:
        raise ValueError(f"pairwise_distance: p must be positive, got {p}")
    a = lax.abs(d)
    nz = lax.ne(a, 0.0)
    powered = lax.select(nz, lax.pow(lax.select(nz, a, lax.full_like(a, 1.0)), float(p)),
                         lax.full_like(a, 0.0))
    s = fnp.sum(powered, axis=axis, keepdims=keepdims)
    zero = lax.eq(s, 0.0)
    return lax.select(zero, s, lax.pow(lax.select(zero, lax.full_like(s, 1.0), s), 1.0 / p))


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of x1 - x2 + eps along the last axis (PyTorch's F.pairwise_distance)."""
    x1, x2 = _floats(x1, x2)
    d = lax.add(fnp.subtract(x1, x2), float(eps))
    if d.ndim == 0:
        raise ValueError("pairwise_distance needs inputs with at least one axis")
    return _p_norm(d, p, d.ndim - 1, keepdim)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False,
                        reduction="mean"):
    """max(d(a, p) - d(a, n) + margin, 0) with d the pairwise p-distance; `swap` uses
    min(d(a, n), d(p, n)) as the negative distance (Balntas et al.)."""
    a, pos, neg = _floats(anchor, positive, negative)
    if not (a.ndim == pos.ndim == neg.ndim) or a.ndim not in (1, 2):
        raise ValueError(f"triplet_margin_loss: anchor {a.shape}, positive {pos.shape} and "
                         f"negative {neg.shape} must all be (N, D) or all (D,)")
    d_pos = pairwise_distance(a, pos, p, eps)
    d_neg = pairwise_distance(a, neg, p, eps)
    if swap:
        d_neg = lax.min(d_neg, pairwise_distance(pos, neg, p, eps))
    loss = _clamp_min_zero(lax.add(lax.sub(d_pos, d_neg), float(margin)))
    return _reduce(loss, reduction, "triplet_margin_loss")


# ------------------------------------------------------------------ module forms
class MSELoss(Module):
    reduction: str = "mean"

    def __call__(self, input, target):
        return mse_loss(input, target, self.reduction)


class L1Loss(Module):
    reduction: str = "mean"

    def __call__(self, input, target):
        return l1_loss(input, target, self.reduction)


class CrossEntropyLoss(Module):
    weight: object = None
    ignore_index: int = -100
    reduction: str = "mean"
    label_smoothing: float = 0.0

    def __call__(self, input, target):
        return cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                             self.label_smoothing)


class NLLLoss(Module):
    weight: object = None
    ignore_index: int = -100
    reduction: str = "mean"

    def __call__(self, input, target):
        return nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class BCEWithLogitsLoss(Module):
    weight: object = None
    reduction: str = "mean"
    pos_weight: object = None

    def __call__(self, input, target):
        return binary_cross_entropy_with_logits(input, target, self.weight, self.reduction,
                                                self.pos_weight)


class BCELoss(Module):
    weight: object = None
    reduction: str = "mean"

    def __call__(self, input, target):
        return binary_cross_entropy(input, target, self.weight, self.reduction)


class HuberLoss(Module):
    reduction: str = "mean"
    delta: float = 1.0

    def __call__(self, input, target):
        return huber_loss(input, target, self.reduction, self.delta)


class SmoothL1Loss(Module):
    reduction: str = "mean"
    beta: float = 1.0

    def __call__(self, input, target):
        return smooth_l1_loss(input, target, self.reduction, self.beta)


class KLDivLoss(Module):
    reduction: str = "mean"
    log_target: bool = False

    def __call__(self, input, target):
        return kl_div(input, target, self.reduction, self.log_target)


class CosineEmbeddingLoss(Module):
    margin: float = 0.0
    reduction: str = "mean"

    def __call__(self, input1, input2, target):
        return cosine_embedding_loss(input1, input2, target, self.margin, self.reduction)


class MarginRankingLoss(Module):
    margin: float = 0.0
    reduction: str = "mean"

    def __call__(self, input1, input2, target):
        return margin_ranking_loss(input1, input2, target, self.margin, self.reduction)


class TripletMarginLoss(Module):
    margin: float = 1.0
    p: float = 2.0
    eps: float = 1e-6
    swap: bool = False
    reduction: str = "mean"

    def __call__(self, anchor, positive, negative):
        return triplet_margin_loss(anchor, positive, negative, self.margin, self.p, self.eps,
                                   self.swap, self.reduction)
