"""Optax's losses under its names and signatures (`ft.optim.losses.*`, also at `ft.optim`'s top
level): each returns the loss per example (no mean or sum over the batch), so
`fnp.mean(ft.optim.softmax_cross_entropy(logits, labels))` is the usual training loss.
For PyTorch's reducing forms see `ft.nn.functional`."""
from __future__ import annotations

import numpy as np

from .. import numpy as fnp
from ..nn.activations import log_softmax
from ..nn.jax_functions import log_sigmoid
from ..primitives._util import dtype_of, shape_of
from ..scipy.special import logsumexp

__all__ = ["softmax_cross_entropy", "softmax_cross_entropy_with_integer_labels",
           "sigmoid_binary_cross_entropy", "l2_loss", "squared_error", "huber_loss", "log_cosh",
           "hinge_loss", "cosine_similarity", "cosine_distance", "kl_divergence",
           "smooth_labels"]


def _floating(x, name, arg):
    x = fnp.asarray(x)
    if not np.issubdtype(dtype_of(x), np.floating):     # Optax refuses complex values too
        raise TypeError(f"{name}: {arg} must be real floating point, got {dtype_of(x)}")
    return x


def _errors(predictions, targets, name, same_shape=False):
    p = _floating(predictions, name, "predictions")
    if targets is None:
        return p
    t = fnp.asarray(targets)
    if same_shape and shape_of(p) != shape_of(t):
        raise ValueError(f"{name}: predictions of shape {shape_of(p)} and targets of shape "
                         f"{shape_of(t)} must have the same shape")
    return p - t


def _expand_where(where, x, axis):
    if where is None:
        return None
    where = fnp.asarray(where)
    if where.ndim != x.ndim:
        where = fnp.expand_dims(where, axis)
    return where


def _log_probs(logits, axis, where):
    if isinstance(axis, int) and where is None:
        return log_softmax(logits, axis=axis)
    return logits - logsumexp(logits, axis=axis, keepdims=True, where=where)


def softmax_cross_entropy(logits, labels, axis=-1, where=None):
    """`-sum(labels * log_softmax(logits))` over `axis` (labels: a probability
    distribution per example)."""
    logits = _floating(logits, "softmax_cross_entropy", "logits")
    where = _expand_where(where, logits, axis)
    return -fnp.sum(labels * _log_probs(logits, axis, where), axis=axis, where=where)


def softmax_cross_entropy_with_integer_labels(logits, labels, axis=-1, where=None):
    """`logsumexp(logits) - logits[label]` over the class axis `axis` (an int), labels being
    class indices shaped like `logits` without that axis. As in Optax, a label in [-C, 0)
    counts from the end (C classes) and one outside [-C, C) gives nan, eagerly and under
    jit alike."""
    name = "softmax_cross_entropy_with_integer_labels"
    logits = _floating(logits, name, "logits")
    labels = fnp.asarray(labels)
    if not np.issubdtype(dtype_of(labels), np.integer):
        raise ValueError(f"{name}: labels must be integers, got {dtype_of(labels)}")
    if not isinstance(axis, int):
        raise TypeError(f"{name}: axis must be an int here, got {axis!r}")
    axis = axis % logits.ndim
    batch = shape_of(logits)[:axis] + shape_of(logits)[axis + 1:]
    if shape_of(labels) != batch:
        raise ValueError(f"{name}: labels of shape {shape_of(labels)} do not match logits of "
                         f"shape {shape_of(logits)} (expected {batch}: the logits' shape "
                         f"without axis {axis})")
    where = _expand_where(where, logits, axis)
    classes = shape_of(logits)[axis]
    labels = fnp.where(labels < 0, labels + classes, labels)
    valid = (labels >= 0) & (labels < classes)
    index = fnp.expand_dims(fnp.where(valid, labels, 0), axis)
    picked = fnp.squeeze(fnp.take_along_axis(logits, index, axis=axis), axis)
    picked = fnp.where(valid, picked, np.nan)
    out = logsumexp(logits, axis=axis, where=where) - picked
    if where is not None:
        out = fnp.where(fnp.any(where, axis=axis), out, 0.0)
    return out


def sigmoid_binary_cross_entropy(logits, labels):
    """`-labels * log(sigmoid(x)) - (1 - labels) * log(1 - sigmoid(x))`, elementwise and
    stable for large |x|."""
    logits = _floating(logits, "sigmoid_binary_cross_entropy", "logits")
    labels = fnp.asarray(labels).astype(dtype_of(logits))
    return -labels * log_sigmoid(logits) - (1.0 - labels) * log_sigmoid(-logits)


def squared_error(predictions, targets=None):
    """`(predictions - targets) ** 2` elementwise (shapes must be equal)."""
    return _errors(predictions, targets, "squared_error", same_shape=True) ** 2


def l2_loss(predictions, targets=None):
    """Half the squared error, `0.5 * (predictions - targets) ** 2`."""
    return 0.5 * _errors(predictions, targets, "l2_loss", same_shape=True) ** 2


def huber_loss(predictions, targets=None, *, delta=1.0):
    """`0.5 * e**2` where `|e| <= delta`, else `delta * (|e| - 0.5 * delta)`, elementwise."""
    a = fnp.abs(_errors(predictions, targets, "huber_loss"))
    quadratic = fnp.minimum(a, delta)
    return 0.5 * quadratic ** 2 + delta * (a - quadratic)


def log_cosh(predictions, targets=None):
    """`log(cosh(predictions - targets))`, elementwise and without overflow."""
    e = _errors(predictions, targets, "log_cosh")
    return fnp.logaddexp(e, -e) - np.log(2.0).astype(dtype_of(e))


def hinge_loss(predictor_outputs, targets):
    """`max(0, 1 - predictor_outputs * targets)`, targets being -1 or 1."""
    return fnp.maximum(0, 1 - fnp.asarray(predictor_outputs) * targets)


def cosine_similarity(predictions, targets, *, epsilon=0.0, axis=-1, where=None):
    """The cosine of the angle between predictions and targets along `axis`, each norm
    clipped below at `sqrt(epsilon)`."""
    a = _floating(predictions, "cosine_similarity", "predictions")
    b = _floating(targets, "cosine_similarity", "targets")
    a_norm = fnp.sqrt(fnp.maximum(fnp.sum(a * a, axis=axis, where=where, keepdims=True),
                                  epsilon))
    b_norm = fnp.sqrt(fnp.maximum(fnp.sum(b * b, axis=axis, where=where, keepdims=True),
                                  epsilon))
    return fnp.sum((a / a_norm) * (b / b_norm), axis=axis, where=where)


def cosine_distance(predictions, targets, *, epsilon=0.0, axis=-1, where=None):
    """`1 - cosine_similarity(predictions, targets)`."""
    return 1.0 - cosine_similarity(predictions, targets, epsilon=epsilon, axis=axis,
                                   where=where)


def kl_divergence(log_predictions, targets, axis=-1, where=None):
    """`sum(targets * (log(targets) - log_predictions))` over `axis` (0 log 0 taken as 0);
    predictions are given as log-probabilities, targets as probabilities."""
    lp = _floating(log_predictions, "kl_divergence", "log_predictions")
    t = _floating(targets, "kl_divergence", "targets")
    zero = t == 0
    log_t = fnp.where(zero, 0.0, fnp.log(fnp.where(zero, 1.0, t)))
    return fnp.sum(t * (log_t - lp), axis=axis, where=where)


def smooth_labels(labels, alpha, *, axis=-1, where=None):
    """Label smoothing: `(1 - alpha) * labels + alpha / num_categories` (the categories
    along `axis`, or those `where` marks)."""
    labels = _floating(labels, "smooth_labels", "labels")
    if where is None:
        axes = range(labels.ndim) if axis is None else (axis,) if isinstance(axis, int) \
            else axis
        n = int(np.prod([shape_of(labels)[a] for a in axes]))
    else:
        n = fnp.sum(where, axis=axis, keepdims=True).astype(dtype_of(labels))
    return (1.0 - alpha) * labels + alpha / n
