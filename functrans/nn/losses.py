"""Loss functions with PyTorch's names, arguments and reductions ("mean", "sum", "none"),
as functions and as modules (`CrossEntropyLoss()(logits, labels)`)."""
from __future__ import annotations

from .. import dtypes, lax
from .. import numpy as fnp
from ..core import Tracer, device_like
from ..backends import cpu
from ..primitives._util import shape_of, dtype_of
from .functional import log_softmax, one_hot, as_floating
from .module import Module

__all__ = ["mse_loss", "l1_loss", "cross_entropy", "nll_loss",
           "binary_cross_entropy_with_logits", "MSELoss", "L1Loss", "CrossEntropyLoss",
           "NLLLoss", "BCEWithLogitsLoss"]


def _reduce(loss, reduction, fn):
    if reduction == "mean":
        return fnp.mean(loss)
    if reduction == "sum":
        return fnp.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _same_shape(input, target, fn):
    if shape_of(input) != shape_of(target):
        raise ValueError(f"{fn}: input of shape {shape_of(input)} and target of shape "
                         f"{shape_of(target)} differ; reshape one so they match (broadcasting "
                         "here usually hides a bug)")


def mse_loss(input, target, reduction="mean"):
    """Mean squared error."""
    input, target = as_floating(input), fnp.asarray(target)
    _same_shape(input, target, "mse_loss")
    return _reduce(fnp.square(fnp.subtract(input, target)), reduction, "mse_loss")


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error."""
    input, target = as_floating(input), fnp.asarray(target)
    _same_shape(input, target, "l1_loss")
    return _reduce(fnp.abs(fnp.subtract(input, target)), reduction, "l1_loss")


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
    x, t = as_floating(input), as_floating(target)
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
