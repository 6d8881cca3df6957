"""Loss functions with PyTorch's names, arguments and reductions ("mean", "sum", "none"),
as functions and as modules (`CrossEntropyLoss()(logits, labels)`)."""
from __future__ import annotations

import math
import os
import sys
import warnings

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..higher_order.custom_derivatives import custom_jvp
from ..primitives._util import shape_of, dtype_of
from ._utils import as_floating, on_host, p_norm
from .activations import log_softmax, logsigmoid
from .layers import one_hot
from .module import Buffer, Module

__all__ = ["mse_loss", "l1_loss", "cross_entropy", "nll_loss",
           "binary_cross_entropy_with_logits", "binary_cross_entropy", "huber_loss",
           "smooth_l1_loss", "kl_div", "cosine_embedding_loss", "margin_ranking_loss",
           "triplet_margin_loss", "pairwise_distance", "MSELoss", "L1Loss", "CrossEntropyLoss",
           "NLLLoss", "NLLLoss2d", "BCEWithLogitsLoss", "BCELoss", "HuberLoss", "SmoothL1Loss",
           "KLDivLoss", "CosineEmbeddingLoss", "MarginRankingLoss", "TripletMarginLoss",
           "poisson_nll_loss", "gaussian_nll_loss", "hinge_embedding_loss", "soft_margin_loss",
           "multilabel_soft_margin_loss", "multi_margin_loss", "multilabel_margin_loss",
           "PoissonNLLLoss", "GaussianNLLLoss", "HingeEmbeddingLoss", "SoftMarginLoss",
           "MultiLabelSoftMarginLoss", "MultiMarginLoss", "MultiLabelMarginLoss"]


def _reduce(loss, reduction, fn):
    if reduction == "mean":
        return fnp.mean(loss)
    if reduction == "sum":
        return fnp.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _caller_stacklevel():
    """warnings.warn's stacklevel, called from the function that warns, for the first frame
    outside functrans (the user's call, however many wrappers lie between)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def legacy_reduction(size_average, reduce, reduction, fn):
    """`reduction`, or, where PyTorch's deprecated `size_average` or `reduce` is given (not
    None), the one they name as in PyTorch (a None among them counting as True): "mean" when
    both are true, "sum" when only `reduce` is, else "none"; with PyTorch's warning."""
    if size_average is None and reduce is None:
        return reduction
    for name, value in (("size_average", size_average), ("reduce", reduce)):
        if isinstance(value, str):
            raise TypeError(f"{fn}: {name} is PyTorch's deprecated bool, got {value!r}; pass "
                            f"the reduction by keyword: reduction={value!r}")
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    legacy = ("mean" if size_average else "sum") if reduce else "none"
    warnings.warn(f"{fn}: size_average and reduce are deprecated (as in PyTorch); use "
                  f"reduction='{legacy}' instead", UserWarning, stacklevel=_caller_stacklevel())
    return legacy


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


def _real_floating(input, target, fn):
    """`input` as a floating array (integers become the default float) and `target` as an
    array; complex values are refused, as PyTorch and Optax refuse them."""
    x, t = as_floating(input), fnp.asarray(target)
    for v, name in ((x, "input"), (t, "target")):
        if dtype_of(v).kind == "c":
            raise TypeError(f"{fn}: {name} is complex ({dtype_of(v)}), which has no order "
                            f"for |d| < threshold; apply {fn} to the real and imaginary parts")
    return x, t


def _difference_loss(fn, input, target, size_average, reduce, reduction, weight, name):
    """`fn(input - target)` reduced (and weighted by `weight` where given) as `reduction` says."""
    reduction = legacy_reduction(size_average, reduce, reduction, name)
    input, target = as_floating(input), fnp.asarray(target)
    _same_shape(input, target, name)
    loss = fn(fnp.subtract(input, target))
    if weight is not None:
        return _weighted(loss, weight, reduction, name)
    return _reduce(loss, reduction, name)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error (weighted by `weight`, of the input's shape, where given)."""
    return _difference_loss(fnp.square, input, target, size_average, reduce, reduction, weight,
                            "mse_loss")


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error (weighted by `weight`, of the input's shape, where given)."""
    return _difference_loss(fnp.abs, input, target, size_average, reduce, reduction, weight,
                            "l1_loss")


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
    if on_host(bad):
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
        valid = lax.ne(target, ignore_index)
        hot = one_hot(lax.select(valid, target, lax.full_like(target, -1)), c, dtype_of(logp),
                      axis=axis)                               # ignored labels: all zeros
        w = hot if weight is None else lax.mul(hot, _class_weight(weight, axis, len(shape)))
        picked = fnp.sum(lax.mul(w, logp), axis=axis)          # w[y] * logp[y]
        loss = lax.neg(picked)
        if label_smoothing:
            every = logp if weight is None else lax.mul(logp, _class_weight(weight, axis,
                                                                            len(shape)))
            smooth = lax.mul(lax.neg(fnp.sum(every, axis=axis)),
                             lax.convert_element_type(valid, dtype_of(logp)))
            loss = lax.add(lax.mul(loss, 1.0 - label_smoothing),
                           lax.mul(smooth, label_smoothing / c))
        if out_of_range is not None:         # traced labels: a bad one makes its loss NaN
            loss = lax.select(out_of_range, lax.full_like(loss, float("nan")), loss)
        if reduction != "mean":
            return _reduce(loss, reduction, fn)
        denom = fnp.sum(w) if weight is not None else fnp.sum(valid.astype(dtype_of(logp)))
        return lax.div(fnp.sum(loss), denom)
    # class probabilities (scores and probabilities computed in their promoted type)
    if shape_of(target) != shape:
        raise ValueError(f"{fn}: probability targets must have the scores' shape {shape}, got "
                         f"{shape_of(target)}")
    logp, target = _floats(logp, target)
    if weight is not None:
        weight = weight.astype(dtype_of(logp))
    if label_smoothing:
        target = lax.add(lax.mul(target, 1.0 - label_smoothing), label_smoothing / c)
    terms = lax.mul(target, logp)
    if weight is not None:
        terms = lax.mul(terms, _class_weight(weight, axis, len(shape)))
    return _reduce(lax.neg(fnp.sum(terms, axis=axis)), reduction, fn)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of scores `input` (N, C) or (N, C, d1, ...) against integer
    labels (N, d1, ...) or class probabilities shaped like `input` (PyTorch's semantics,
    including class `weight`, `ignore_index` and `label_smoothing`)."""
    reduction = legacy_reduction(size_average, reduce, reduction, "cross_entropy")
    input = as_floating(input)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    logp = log_softmax(input, _class_axis(input, "cross_entropy"))
    return _nll(logp, target, weight, ignore_index, reduction, label_smoothing,
                "cross_entropy")


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood of log-probabilities `input` at integer labels `target`."""
    reduction = legacy_reduction(size_average, reduce, reduction, "nll_loss")
    return _nll(as_floating(input), target, weight, ignore_index, reduction, 0.0, "nll_loss")


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable expression."""
    reduction = legacy_reduction(size_average, reduce, reduction,
                                 "binary_cross_entropy_with_logits")
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


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """-weight·(t·log(x) + (1 - t)·log(1 - x)) for probabilities `input` in [0, 1], with
    the logs clamped at -100 as PyTorch does (prefer `binary_cross_entropy_with_logits` on
    logits: it is stabler)."""
    reduction = legacy_reduction(size_average, reduce, reduction, "binary_cross_entropy")
    x, t = _floats(input, target)
    _same_shape(x, t, "binary_cross_entropy")
    if on_host(x) and bool(fnp.any(lax.bitwise_not(lax.bitwise_and(lax.ge(x, 0.0),
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
    x, t = _real_floating(input, target, "huber_loss")
    _same_shape(x, t, "huber_loss")
    d = fnp.subtract(x, t)
    a = lax.abs(d)
    loss = lax.select(lax.lt(a, float(delta)), lax.mul(lax.square(d), 0.5),
                      lax.mul(lax.sub(a, 0.5 * delta), float(delta)))
    if weight is not None:
        return _weighted(loss, weight, reduction, "huber_loss", mean_over_weight=False)
    return _reduce(loss, reduction, "huber_loss")


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5·d²/beta where |d| < beta, |d| - 0.5·beta elsewhere (the L1 loss when beta is 0)."""
    reduction = legacy_reduction(size_average, reduce, reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must not be negative, got {beta}")
    x, t = _real_floating(input, target, "smooth_l1_loss")
    if beta == 0:
        return l1_loss(x, t, reduction=reduction)
    _same_shape(x, t, "smooth_l1_loss")
    d = fnp.subtract(x, t)
    a = lax.abs(d)
    loss = lax.select(lax.lt(a, float(beta)), lax.mul(lax.square(d), 0.5 / beta),
                      lax.sub(a, 0.5 * beta))
    return _reduce(loss, reduction, "smooth_l1_loss")


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Kullback-Leibler divergence with `input` holding log-probabilities: target·(log(target)
    - input) pointwise (0 where target is 0), or exp(target)·(target - input) with
    `log_target=True`. `reduction="batchmean"` divides the sum by the batch size (axis 0),
    which is the true KL divergence; "mean" divides by the number of elements."""
    reduction = legacy_reduction(size_average, reduce, reduction, "kl_div")
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


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1, with
    cosines along axis 1 of (N, D) inputs (axis 0 of unbatched (D,) ones)."""
    reduction = legacy_reduction(size_average, reduce, reduction, "cosine_embedding_loss")
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


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                        reduction="mean"):
    """max(0, -target·(x1 - x2) + margin): target 1 means x1 should rank higher, -1 lower."""
    reduction = legacy_reduction(size_average, reduce, reduction, "margin_ranking_loss")
    x1, x2 = _floats(input1, input2)
    y = fnp.asarray(target)
    if not (x1.shape == x2.shape == y.shape):
        raise ValueError(f"margin_ranking_loss: input1 {x1.shape}, input2 {x2.shape} and target "
                         f"{y.shape} must have the same shape")
    loss = _clamp_min_zero(lax.add(lax.mul(lax.neg(y.astype(x1.dtype)), lax.sub(x1, x2)),
                                   float(margin)))
    return _reduce(loss, reduction, "margin_ranking_loss")


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of x1 - x2 + eps along the last axis (PyTorch's F.pairwise_distance)."""
    x1, x2 = _floats(x1, x2)
    d = lax.add(fnp.subtract(x1, x2), float(eps))
    if d.ndim == 0:                 # as PyTorch: one element's distance
        return p_norm(lax.reshape(d, (1,)), p, 0, False, "pairwise_distance")
    return p_norm(d, p, d.ndim - 1, keepdim, "pairwise_distance")


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """max(d(a, p) - d(a, n) + margin, 0) with d the pairwise p-distance; `swap` uses
    min(d(a, n), d(p, n)) as the negative distance (Balntas et al.)."""
    reduction = legacy_reduction(size_average, reduce, reduction, "triplet_margin_loss")
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


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """Negative log-likelihood of counts `target` under a Poisson law of rate exp(input)
    (`log_input=True`: exp(x) - t·x) or rate input (x - t·log(x + eps)); `full` adds the
    Stirling term t·log(t) - t + log(2πt)/2 where t > 1."""
    reduction = legacy_reduction(size_average, reduce, reduction, "poisson_nll_loss")
    x, t = _floats(input, target)
    _same_shape(x, t, "poisson_nll_loss")
    if log_input:
        loss = lax.sub(lax.exp(x), lax.mul(t, x))
    else:
        loss = lax.sub(x, lax.mul(t, lax.log(lax.add(x, float(eps)))))
    if full:
        big = lax.gt(t, 1.0)
        ts = lax.select(big, t, lax.full_like(t, 2.0))     # finite where the term is unused
        stirling = lax.add(lax.sub(lax.mul(ts, lax.log(ts)), ts),
                           lax.mul(lax.log(lax.mul(ts, 2 * math.pi)), 0.5))
        loss = lax.add(loss, lax.select(big, stirling, lax.full_like(t, 0.0)))
    return _reduce(loss, reduction, "poisson_nll_loss")


def _broadcasts_to(shape, to):
    try:
        return np.broadcast_shapes(shape, to) == to
    except ValueError:
        return False


def _gaussian_var(var, shape, fn):
    """`var` shaped to broadcast to the input's `shape` as PyTorch allows: the same shape, the
    shape without its last axis, or the shape with one axis of size 1."""
    vshape = shape_of(var)
    if vshape == shape:
        return var
    if vshape == shape[:-1]:
        return lax.expand_dims(var, (len(shape) - 1,))
    if len(vshape) == len(shape) and sum(v for s, v in zip(shape, vshape) if s != v) == 1:
        return var
    raise ValueError(f"{fn}: var of shape {vshape} does not fit input of shape {shape}; give var "
                     "the input's shape, the input's shape without its last axis (one variance "
                     "per sample), or the input's shape with one axis of size 1")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Negative log-likelihood (log(var) + (input - target)²/var)/2 of `target` under normal
    laws of mean `input` and variance `var` (a float, input's shape, or that shape with its
    last axis dropped or one axis of size 1), plus log(2π)/2 where `full`. The variance is
    clamped below at `eps` in the value only: its derivative is taken at the clamped value
    and passed through unchanged, as in PyTorch."""
    fn = "gaussian_nll_loss"
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    x, t = _floats(input, target)
    shape = shape_of(x)
    if not _broadcasts_to(shape_of(t), shape):
        raise ValueError(f"{fn}: target of shape {shape_of(t)} does not broadcast to the "
                         f"input's shape {shape}; give it the input's shape (or size-1 axes)")
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError(f"{fn}: var must not be negative, got {var}")
        var = lax.full_like(x, float(var))
    else:
        var = _gaussian_var(fnp.asarray(var, dtype=dtype_of(x)), shape, fn)
    negative = lax.lt(var, 0.0)
    if on_host(var):
        if bool(fnp.any(negative)):
            raise ValueError(f"{fn}: var has negative entries; variances must be >= 0 (they "
                             f"are clamped at eps={eps} for stability)")
        negative = None
    low = lax.lt(var, float(eps))
    clamped = lax.select(low, lax.add(var, lax.stop_gradient(lax.sub(float(eps), var))), var)
    loss = lax.mul(lax.add(lax.log(clamped), lax.div(lax.square(lax.sub(x, t)), clamped)), 0.5)
    if full:
        loss = lax.add(loss, 0.5 * math.log(2 * math.pi))
    if negative is not None:       # traced: a negative variance makes its loss NaN
        loss = lax.select(fnp.broadcast_to(negative, shape_of(loss)),
                          lax.full_like(loss, float("nan")), loss)
    return _reduce(loss, reduction, fn)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """input where target is 1, max(0, margin - input) where it is -1 (distances of similar
    and dissimilar pairs); other target values get both terms, as in PyTorch."""
    reduction = legacy_reduction(size_average, reduce, reduction, "hinge_embedding_loss")
    x, y = as_floating(input), fnp.asarray(target)
    _same_shape(x, y, "hinge_embedding_loss")
    zero = lax.full_like(x, 0.0)
    loss = lax.add(lax.select(lax.ne(y, 1), _clamp_min_zero(lax.sub(float(margin), x)), zero),
                   lax.select(lax.ne(y, -1), x, zero))
    return _reduce(loss, reduction, "hinge_embedding_loss")


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-target·input)) for targets 1 or -1 (two-class logistic loss)."""
    reduction = legacy_reduction(size_average, reduce, reduction, "soft_margin_loss")
    x, t = _floats(input, target)
    _same_shape(x, t, "soft_margin_loss")
    z = lax.neg(lax.mul(t, x))
    return _reduce(lax.logaddexp(z, lax.full_like(z, 0.0)), reduction, "soft_margin_loss")


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """The mean over the classes (last axis) of the logistic losses of scores `input` against
    0/1 targets of its shape, each class weighted by `weight` where given."""
    reduction = legacy_reduction(size_average, reduce, reduction, "multilabel_soft_margin_loss")
    fn = "multilabel_soft_margin_loss"
    x, t = _floats(input, target)
    if x.ndim == 0:
        raise ValueError(f"{fn}: input needs a class axis, (N, C) or (C,), got a scalar")
    _same_shape(x, t, fn)
    loss = lax.neg(lax.add(lax.mul(t, logsigmoid(x)),
                           lax.mul(lax.sub(1.0, t), logsigmoid(lax.neg(x)))))
    if weight is not None:
        weight = fnp.asarray(weight, dtype=x.dtype)
        if not _broadcasts_to(shape_of(weight), shape_of(x)):
            raise ValueError(f"{fn}: weight of shape {shape_of(weight)} does not broadcast to "
                             f"the input's shape {shape_of(x)}; give one weight per class "
                             f"({shape_of(x)[-1]},)")
        loss = lax.mul(loss, weight)
    loss = lax.div(fnp.sum(loss, axis=x.ndim - 1), float(shape_of(x)[-1]))
    return _reduce(loss, reduction, fn)


def _class_scores(input, target, target_shape, fn):
    """Float scores (N, C) or (C,) and integer targets of `target_shape(scores shape)`."""
    x = as_floating(input)
    if x.ndim not in (1, 2) or 0 in shape_of(x):
        raise ValueError(f"{fn}: input must be non-empty scores (N, C) or (C,), got shape "
                         f"{shape_of(x)}")
    y = fnp.asarray(target)
    if not dtypes.is_integer(dtype_of(y)):
        raise TypeError(f"{fn}: target must hold integer class indices, got {dtype_of(y)}")
    want = target_shape(shape_of(x))
    if shape_of(y) != want:
        raise ValueError(f"{fn}: input of shape {shape_of(x)} needs a target of shape {want}, "
                         f"got {shape_of(y)}")
    return x, y


def _out_of_range(y, lo, hi, fn):
    """Class indices outside [lo, hi) raise when known on the host; traced (or on a GPU) this
    returns where they are, for the caller to make those losses NaN."""
    bad = lax.bitwise_or(lax.lt(y, lo), lax.ge(y, hi))
    if on_host(bad):
        if bool(fnp.any(bad)):
            raise IndexError(f"{fn}: target {int(fnp.asarray(y)[bad][0])} is out of range; "
                             f"class indices must be in [{lo}, {hi})")
        return None
    return bad


def _nan_where(bad, loss):
    return loss if bad is None else lax.select(bad, lax.full_like(loss, float("nan")), loss)


def _positive_part(z):
    """max(z, 0) with derivative 0 at 0 (PyTorch's margin losses count only z > 0)."""
    return lax.select(lax.gt(z, 0.0), z, lax.full_like(z, 0.0))


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None,
                      reduce=None, reduction="mean"):
    """Multi-class hinge loss: for scores x (N, C) or (C,) and class y, the sum over the other
    classes i of max(0, margin - x[y] + x[i])^p, times weight[y] where given, over C."""
    reduction = legacy_reduction(size_average, reduce, reduction, "multi_margin_loss")
    fn = "multi_margin_loss"
    if p not in (1, 2):
        raise ValueError(f"{fn}: p must be 1 or 2, got {p!r}")
    x, y = _class_scores(input, target, lambda s: s[:-1], fn)
    c = shape_of(x)[-1]
    bad = _out_of_range(y, 0, c, fn)
    hot = one_hot(y, c, x.dtype)
    picked = fnp.sum(lax.mul(hot, x), axis=-1, keepdims=True)
    h = _positive_part(lax.add(lax.sub(float(margin), picked), x))
    if p == 2:
        h = lax.square(h)
    loss = lax.div(fnp.sum(lax.mul(h, lax.sub(1.0, hot)), axis=-1), float(c))
    if weight is not None:
        weight = fnp.asarray(weight, dtype=x.dtype)
        if shape_of(weight) != (c,):
            raise ValueError(f"{fn}: weight must have one entry per class ({c},), got shape "
                             f"{shape_of(weight)}")
        loss = lax.mul(loss, fnp.sum(lax.mul(hot, weight), axis=-1))
    return _reduce(_nan_where(bad, loss), reduction, fn)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Multi-label hinge loss: for scores x (N, C) or (C,) and a target row listing the
    sample's classes, padded after them with -1 (entries past the first -1 are ignored), the
    sum over its classes j and the other classes i of max(0, 1 - x[j] + x[i]), over C."""
    reduction = legacy_reduction(size_average, reduce, reduction, "multilabel_margin_loss")
    fn = "multilabel_margin_loss"
    x, y = _class_scores(input, target, lambda s: s, fn)
    c = shape_of(x)[-1]
    bad = _out_of_range(y, -1, c, fn)
    listed = lax.eq(fnp.cumsum(lax.convert_element_type(lax.eq(y, -1), np.int32), axis=-1), 0)
    y = lax.select(listed, y, lax.full_like(y, 0))
    valid = lax.convert_element_type(listed, x.dtype)
    hot = lax.mul(one_hot(y, c, x.dtype), lax.expand_dims(valid, (x.ndim,)))  # (.., j, class)
    others = lax.convert_element_type(lax.eq(fnp.sum(hot, axis=-2), 0.0), x.dtype)
    picked = fnp.sum(lax.mul(hot, lax.expand_dims(x, (x.ndim - 1,))), axis=-1)   # x[y_j]
    z = lax.add(lax.sub(1.0, lax.expand_dims(picked, (x.ndim,))),
                lax.expand_dims(x, (x.ndim - 1,)))
    h = lax.mul(lax.mul(_positive_part(z), lax.expand_dims(valid, (x.ndim,))),
                lax.expand_dims(others, (x.ndim - 1,)))
    loss = lax.div(fnp.sum(h, axis=(-2, -1)), float(c))
    if bad is not None:
        bad = fnp.any(bad, axis=-1)
    return _reduce(_nan_where(bad, loss), reduction, fn)


# ------------------------------------------------------------------ module forms
# PyTorch's signatures, deprecated size_average/reduce included: `BCELoss(w, None, None, "sum")`
# means the same here. A module whose size_average or reduce is given keeps the reduction they
# name, as PyTorch's does.
class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        self.reduction = legacy_reduction(size_average, reduce, reduction, type(self).__name__)


# The tensor arguments of the loss modules (class weights, pos_weight) are buffers, as
# PyTorch's register_buffer: in state_dict() under their names, never parameters, never trained.
class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.weight = Buffer(weight)


class MSELoss(_Loss):
    def __call__(self, input, target):
        return mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    def __call__(self, input, target):
        return l1_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean", label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def __call__(self, input, target):
        return cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                             reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def __call__(self, input, target):
        return nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                        reduction=self.reduction)


class NLLLoss2d(NLLLoss):
    """PyTorch's deprecated name for `NLLLoss` (which takes (N, C, H, W) scores as they are);
    warns, as PyTorch does."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean"):
        warnings.warn("NLLLoss2d is deprecated: use NLLLoss, which takes the same arguments "
                      "and (N, C, d1, ...) scores", FutureWarning, stacklevel=3)
        super().__init__(weight, size_average, ignore_index, reduce, reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean",
                 pos_weight=None):
        super().__init__(weight, size_average, reduce, reduction)
        self.pos_weight = Buffer(pos_weight)

    def __call__(self, input, target):
        return binary_cross_entropy_with_logits(input, target, self.weight,
                                                reduction=self.reduction,
                                                pos_weight=self.pos_weight)


class BCELoss(_WeightedLoss):
    def __call__(self, input, target):
        return binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class HuberLoss(Module):
    reduction: str = "mean"
    delta: float = 1.0

    def __call__(self, input, target):
        return huber_loss(input, target, self.reduction, self.delta)


class SmoothL1Loss(_Loss):
    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def __call__(self, input, target):
        return smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class KLDivLoss(_Loss):
    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def __call__(self, input, target):
        return kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class CosineEmbeddingLoss(_Loss):
    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def __call__(self, input1, input2, target):
        return cosine_embedding_loss(input1, input2, target, self.margin,
                                     reduction=self.reduction)


class MarginRankingLoss(_Loss):
    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def __call__(self, input1, input2, target):
        return margin_ranking_loss(input1, input2, target, self.margin,
                                   reduction=self.reduction)


class TripletMarginLoss(_Loss):
    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def __call__(self, anchor, positive, negative):
        return triplet_margin_loss(anchor, positive, negative, self.margin, self.p, self.eps,
                                   self.swap, reduction=self.reduction)


class PoissonNLLLoss(_Loss):
    def __init__(self, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def __call__(self, log_input, target):
        return poisson_nll_loss(log_input, target, self.log_input, self.full, eps=self.eps,
                                reduction=self.reduction)


class GaussianNLLLoss(Module):
    def __init__(self, *, full=False, eps=1e-6, reduction="mean"):
        self.full, self.eps, self.reduction = full, eps, reduction

    def __call__(self, input, target, var):
        return gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)


class HingeEmbeddingLoss(_Loss):
    def __init__(self, margin=1.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def __call__(self, input, target):
        return hinge_embedding_loss(input, target, self.margin, reduction=self.reduction)


class SoftMarginLoss(_Loss):
    def __call__(self, input, target):
        return soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    def __call__(self, input, target):
        return multilabel_soft_margin_loss(input, target, self.weight, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    def __init__(self, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.p, self.margin = p, margin

    def __call__(self, input, target):
        return multi_margin_loss(input, target, self.p, self.margin, self.weight,
                                 reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    def __call__(self, input, target):
        return multilabel_margin_loss(input, target, reduction=self.reduction)
