"""Optax's losses under its names and signatures (`ft.optim.losses.*` and the `optax`
namespace; the first twelve of `__all__` also at `ft.optim`'s top level): as in Optax, most
return the loss per example (no mean or sum over the batch), so
`fnp.mean(ft.optim.softmax_cross_entropy(logits, labels))` is the usual training loss; `ntxent`
and `multiclass_generalized_dice_loss` give one scalar, `ranking_softmax_loss` reduces by its
`reduce_fn` and `dice_loss` over the classes by its `reduction`.
For PyTorch's reducing forms see `ft.nn.functional`."""
from __future__ import annotations

import warnings

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..core import Tracer
from ..nn.activations import log_softmax, sigmoid, softmax
from ..nn.jax_functions import log_sigmoid, sparse_plus
from ..nn.layers import one_hot
from ..primitives._util import dtype_of, shape_of
from ..scipy.special import logsumexp
from .projections import onto_unit_simplex

__all__ = ["softmax_cross_entropy", "softmax_cross_entropy_with_integer_labels",
           "sigmoid_binary_cross_entropy", "l2_loss", "squared_error", "huber_loss", "log_cosh",
           "hinge_loss", "cosine_similarity", "cosine_distance", "kl_divergence",
           "smooth_labels", "binary_dice_loss", "dice_loss", "multiclass_generalized_dice_loss",
           "convex_kl_divergence", "generalized_kl_divergence",
           "kl_divergence_with_log_targets", "multiclass_hinge_loss",
           "multiclass_perceptron_loss", "perceptron_loss", "multiclass_sparsemax_loss",
           "sparsemax_loss", "make_fenchel_young_loss", "ntxent", "poly_loss_cross_entropy",
           "ranking_softmax_loss", "safe_softmax_cross_entropy", "sigmoid_focal_loss",
           "triplet_margin_loss", "ctc_loss", "ctc_loss_with_forward_probs"]


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


def _broadcast(name, **shapes):
    """The broadcast of the named shapes, or a ValueError naming each argument."""
    try:
        return np.broadcast_shapes(*shapes.values())
    except ValueError:
        listed = ", ".join(f"{k} of shape {s}" for k, s in shapes.items())
        raise ValueError(f"{name}: {listed} do not broadcast together") from None


def _same_shape(name, **arrays):
    shapes = {k: shape_of(v) for k, v in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = " and ".join(f"{k} of shape {s}" for k, s in shapes.items())
        raise ValueError(f"{name}: {listed} must have the same shape")


def _integer(x, name, arg):
    x = fnp.asarray(x)
    if not dtypes.is_integer(dtype_of(x)):
        raise TypeError(f"{name}: {arg} must be integer class indices, got {dtype_of(x)}")
    return x


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
    """`logsumexp(logits) - logits[label]` over the class axis `axis`, labels being class
    indices shaped like `logits` without that axis. With a tuple of axes the classes are
    their flattened elements (in the tuple's order), a label a flat index into them. As in
    Optax, a label in [-C, 0) counts from the end (C classes) and one outside [-C, C) gives
    nan, eagerly and under jit alike."""
    name = "softmax_cross_entropy_with_integer_labels"
    logits = _floating(logits, name, "logits")
    labels = fnp.asarray(labels)
    if not np.issubdtype(dtype_of(labels), np.integer):
        raise ValueError(f"{name}: labels must be integers, got {dtype_of(labels)}")
    if isinstance(axis, tuple) and all(isinstance(a, int) for a in axis):
        axes = tuple(a % logits.ndim for a in axis)
        batch = tuple(a for a in range(logits.ndim) if a not in axes)
        where = _expand_where(where, logits, axes)

        def flat(x):
            x = fnp.transpose(x, batch + axes)
            return fnp.reshape(x, shape_of(x)[:len(batch)] + (-1,))
        return softmax_cross_entropy_with_integer_labels(
            flat(logits), labels, axis=-1, where=None if where is None else flat(where))
    if not isinstance(axis, int):
        raise TypeError(f"{name}: axis must be an int or a tuple of ints, got {axis!r}")
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


# ------------------------------------------------------------------ divergences
def kl_divergence_with_log_targets(log_predictions, log_targets, axis=-1, where=None):
    """`sum(exp(log_targets) * (log_targets - log_predictions))` over `axis`: the KL
    divergence with both distributions given as log-probabilities."""
    name = "kl_divergence_with_log_targets"
    lp = _floating(log_predictions, name, "log_predictions")
    lt = _floating(log_targets, name, "log_targets")
    _broadcast(name, log_predictions=shape_of(lp), log_targets=shape_of(lt))
    return fnp.sum(fnp.exp(lt) * (lt - lp), axis=axis, where=where)


def generalized_kl_divergence(log_predictions, targets, axis=-1, where=None):
    """`kl_divergence(log_predictions, targets) + sum(exp(log_predictions) - targets)` over
    `axis`: the KL divergence extended to unnormalized distributions (the Bregman divergence
    of `x log x - x`)."""
    name = "generalized_kl_divergence"
    lp = _floating(log_predictions, name, "log_predictions")
    t = _floating(targets, name, "targets")
    _broadcast(name, log_predictions=shape_of(lp), targets=shape_of(t))
    return (kl_divergence(lp, t, axis=axis, where=where)
            + fnp.sum(fnp.exp(lp) - t, axis=axis, where=where))


def convex_kl_divergence(log_predictions, targets, axis=-1, where=None):
    """Deprecated (as in Optax): `generalized_kl_divergence` under its former name."""
    warnings.warn("The function convex_kl_divergence is deprecated. Please use "
                  "generalized_kl_divergence instead.", DeprecationWarning, stacklevel=2)
    return generalized_kl_divergence(log_predictions, targets, axis=axis, where=where)


# ------------------------------------------------------------------ classification
def perceptron_loss(predictor_outputs, targets):
    """`max(0, -predictor_outputs * targets)`, targets being -1 or 1 (shapes must be
    equal)."""
    p, t = fnp.asarray(predictor_outputs), fnp.asarray(targets)
    _same_shape("perceptron_loss", predictor_outputs=p, targets=t)
    return fnp.maximum(0, -p * t)


def sparsemax_loss(logits, labels):
    """The binary sparsemax loss `sparse_plus(-logits)` where the label is 1 (true) and
    `sparse_plus(logits)` where it is 0; zero exactly where `sparse_sigmoid(logits)` equals
    the label."""
    logits, labels = fnp.asarray(logits), fnp.asarray(labels)
    _broadcast("sparsemax_loss", logits=shape_of(logits), labels=shape_of(labels))
    return sparse_plus(fnp.where(labels, -logits, logits))


def _scores_and_one_hot(name, scores, labels):
    """`scores` (..., C) as an array and the labels (...) one-hot along a new last axis."""
    scores = fnp.asarray(scores)
    labels = _integer(labels, name, "labels")
    if scores.ndim < 1:
        raise ValueError(f"{name}: scores must have a class axis (last), got a scalar")
    _broadcast(name, **{"scores without the class axis": shape_of(scores)[:-1],
                        "labels": shape_of(labels)})
    return scores, one_hot(labels, shape_of(scores)[-1])


def multiclass_hinge_loss(scores, labels):
    """`max_k(scores_k + 1 - [k == label]) - scores[label]`, over the last axis of
    `scores` (..., C), labels (...) being class indices (one outside [0, C) picks no
    score)."""
    scores, hot = _scores_and_one_hot("multiclass_hinge_loss", scores, labels)
    return fnp.max(scores + 1.0 - hot, axis=-1) - fnp.sum(scores * hot, axis=-1)


def multiclass_perceptron_loss(scores, labels):
    """`max_k scores_k - scores[label]` over the last axis of `scores` (..., C), labels
    (...) being class indices."""
    scores, hot = _scores_and_one_hot("multiclass_perceptron_loss", scores, labels)
    return fnp.max(scores, axis=-1) - fnp.sum(scores * hot, axis=-1)


def multiclass_sparsemax_loss(scores, labels):
    """The multiclass sparsemax loss (the Fenchel-Young loss of the Gini negentropy): zero
    exactly where `sparsemax(scores)` is the label's one-hot vector; its gradient is
    `sparsemax(scores) - one_hot(label)`. `scores` (..., C), labels (...) class indices;
    Optax's takes (B, C) and (B,), which this agrees with."""
    name = "multiclass_sparsemax_loss"
    scores = fnp.asarray(scores)
    if not np.issubdtype(dtype_of(scores), np.floating):
        scores = scores.astype(dtypes.default_float_dtype())
    labels = _integer(labels, name, "labels")
    if scores.ndim < 1 or shape_of(labels) != shape_of(scores)[:-1]:
        raise ValueError(f"{name}: labels of shape {shape_of(labels)} must have the shape of "
                         f"scores {shape_of(scores)} without its last (class) axis")
    c = shape_of(scores)[-1]
    p = onto_unit_simplex(scores)
    # the label indexes as JAX's indexing does: negative ones from the end, and one out of
    # range reads the nearest score but is not zeroed
    label = fnp.expand_dims(fnp.where(labels < 0, labels + c, labels), -1)
    picked = fnp.take_along_axis(scores, fnp.clip(label, 0, c - 1), axis=-1)
    relative = fnp.where(fnp.arange(c) == label, 0.0, scores - picked)
    return (fnp.sum(p * fnp.where(p > 0, relative, 0.0), axis=-1)
            + 0.5 * (1.0 - fnp.sum(p * p, axis=-1)))


def make_fenchel_young_loss(max_fun):
    """The Fenchel-Young loss `max_fun(scores) - <targets, scores>` of a max function (a
    convex function of a vector, e.g. `logsumexp`), over the last axis, the leading axes
    being batch axes; keyword arguments of the loss go to `max_fun`."""
    per_vector = fnp.vectorize(max_fun, signature="(n)->()")

    def fenchel_young_loss(scores, targets, *args, **kwargs):
        scores, targets = fnp.asarray(scores), fnp.asarray(targets)
        if scores.ndim < 1 or targets.ndim < 1 or shape_of(scores)[-1] != shape_of(
                targets)[-1]:
            raise ValueError(f"fenchel_young_loss: scores of shape {shape_of(scores)} and "
                             f"targets of shape {shape_of(targets)} must have the same last "
                             "axis")
        _broadcast("fenchel_young_loss", scores=shape_of(scores)[:-1],
                   targets=shape_of(targets)[:-1])
        return per_vector(scores, *args, **kwargs) - fnp.sum(fnp.conj(targets) * scores,
                                                             axis=-1)
    return fenchel_young_loss


def safe_softmax_cross_entropy(logits, labels):
    """`-sum(labels * log_softmax(logits))` over the last axis, taking a term whose label is
    0 as 0 even where its logit is -inf (0 log 0 = 0). Its derivative in a label there is 0
    (Optax's: inf); elsewhere the derivatives are Optax's."""
    name = "safe_softmax_cross_entropy"
    logits = _floating(logits, name, "logits")
    labels = fnp.asarray(labels)
    _broadcast(name, logits=shape_of(logits), labels=shape_of(labels))
    lsm = log_softmax(logits, axis=-1)
    lsm = fnp.where((labels == 0) & (lsm == -np.inf), 0.0, lsm)
    return -fnp.sum(labels * lsm, axis=-1)


def poly_loss_cross_entropy(logits, labels, *, epsilon=2.0, axis=-1, where=None):
    """PolyLoss (Poly-1): `softmax_cross_entropy + epsilon * sum(labels * (1 - softmax))` over
    `axis` (the elements `where` marks)."""
    name = "poly_loss_cross_entropy"
    logits = _floating(logits, name, "logits")
    labels = _floating(labels, name, "labels")
    _broadcast(name, logits=shape_of(logits), labels=shape_of(labels))
    p = softmax(logits, axis=axis, where=where)
    one_minus_pt = fnp.sum(labels * (1 - p), axis=axis, where=where)
    return (softmax_cross_entropy(logits, labels, axis=axis, where=where)
            + epsilon * one_minus_pt)


def sigmoid_focal_loss(logits, labels, *, alpha=None, gamma=2.0):
    """The focal loss `-alpha_t (1 - p_t)**gamma log(p_t)` elementwise, `p_t` being
    `sigmoid(logits)` where the label is 1 and its complement where it is 0 (soft labels
    in [0, 1] interpolate); `alpha_t` is `alpha` for positives and `1 - alpha` for
    negatives, no weighting when `alpha` is None. `(1 - p_t)**gamma` is computed in log
    space, so it stays finite for large |logits| and gamma < 1."""
    name = "sigmoid_focal_loss"
    logits = _floating(logits, name, "logits")
    labels = fnp.asarray(labels)
    _broadcast(name, logits=shape_of(logits), labels=shape_of(labels))
    labels = labels.astype(dtype_of(logits))
    ce = sigmoid_binary_cross_entropy(logits, labels)
    log_p, log_q = log_sigmoid(logits), log_sigmoid(-logits)
    log_one_minus_pt = logsumexp(fnp.stack(fnp.broadcast_arrays(log_p, log_q), axis=-1),
                                 axis=-1, b=fnp.stack(fnp.broadcast_arrays(1 - labels, labels),
                                                      axis=-1))
    loss = ce * fnp.exp(gamma * log_one_minus_pt)
    if alpha is None:
        return loss
    return (alpha * labels + (1.0 - alpha) * (1.0 - labels)) * loss


# ------------------------------------------------------------------ ranking
def ranking_softmax_loss(logits, labels, *, where=None, weights=None, reduce_fn=fnp.mean):
    """The listwise softmax loss `-sum_i labels_i * log_softmax(logits)_i` over the last
    axis (the items of each list), items where `where` is False left out, labels scaled by
    `weights`. `reduce_fn` (e.g. `fnp.sum`, `fnp.mean`; None for the loss of each list)
    reduces over the lists that have a valid item; the mean of none is 0, not NaN."""
    name = "ranking_softmax_loss"
    logits = _floating(logits, name, "logits")
    labels = fnp.asarray(labels)
    shapes = dict(logits=shape_of(logits), labels=shape_of(labels))
    if where is not None:
        where = fnp.asarray(where)
        shapes["where"] = shape_of(where)
    if weights is not None:
        shapes["weights"] = shape_of(fnp.asarray(weights))
    _broadcast(name, **shapes)
    labels = labels.astype(dtype_of(logits))
    if where is not None:
        labels = fnp.where(where, labels, 0.0).astype(dtype_of(logits))
        logits = fnp.where(where, logits, -np.inf).astype(dtype_of(logits))
    if weights is not None:
        labels = labels * weights
    loss = -fnp.sum(labels * log_softmax(logits, axis=-1), axis=-1, where=where)
    if where is not None:
        where = fnp.any(where, axis=-1)
    if reduce_fn is None:
        return loss if where is None else fnp.where(where, loss, 0.0)
    out = reduce_fn(loss, where=where)
    if reduce_fn is fnp.mean:       # the mean of no lists is 0, unless a loss is NaN
        out = fnp.where(fnp.isnan(out) & ~fnp.any(fnp.isnan(loss)), 0.0, out).astype(
            dtype_of(out))
    return out


# ------------------------------------------------------------------ self-supervised
def ntxent(embeddings, labels, temperature=0.07):
    """The NT-Xent (normalized temperature-scaled cross entropy) loss of SimCLR: for each
    ordered positive pair (i, j) of the batch (equal labels, i != j), `-log` of the softmax
    of their cosine similarity / `temperature` against i's negatives (other labels), averaged
    over the positive pairs. `embeddings` (batch, features), `labels` (batch,)."""
    name = "ntxent"
    e = _floating(embeddings, name, "embeddings")
    labels = fnp.asarray(labels)
    if e.ndim != 2:
        raise ValueError(f"{name}: embeddings must be (batch, features), got shape "
                         f"{shape_of(e)}")
    if labels.ndim != 1 or shape_of(labels)[0] != shape_of(e)[0]:
        raise ValueError(f"{name}: labels of shape {shape_of(labels)} must be one per row of "
                         f"embeddings of shape {shape_of(e)}")
    eps = float(np.finfo(dtype_of(e)).eps)
    sim = cosine_similarity(e[None, :, :], e[:, None, :], epsilon=eps) / temperature
    same = labels[:, None] == labels[None, :]
    positive = same & ~fnp.eye(shape_of(e)[0], dtype=bool)
    neg_sim = fnp.where(same, -np.inf, sim)
    pos_sim = fnp.where(positive, sim, -np.inf)
    shift = lax.stop_gradient(fnp.maximum(fnp.max(neg_sim, axis=1, keepdims=True),
                                          fnp.max(pos_sim, axis=1, keepdims=True)))
    pos_shifted = pos_sim - shift
    denom = fnp.sum(fnp.exp(neg_sim - shift), axis=1, keepdims=True) + fnp.exp(pos_shifted)
    log_ratio = pos_shifted - fnp.log(denom)
    total = fnp.sum(fnp.where(positive, log_ratio, 0.0))
    return (-total / fnp.sum(positive).astype(dtype_of(total))).astype(dtype_of(e))


def triplet_margin_loss(anchors, positives, negatives, axis=-1, norm_degree=2, margin=1.0,
                        eps=1e-6):
    """`max(d(anchors, positives) - d(anchors, negatives) + margin, 0)`, the distance along
    `axis` being `(sum((a - b) ** norm_degree) + eps) ** (1 / norm_degree)` (as in Optax, no
    absolute value is taken: use an even `norm_degree`)."""
    name = "triplet_margin_loss"
    a = _floating(anchors, name, "anchors")
    p = _floating(positives, name, "positives")
    n = _floating(negatives, name, "negatives")
    _broadcast(name, anchors=shape_of(a), positives=shape_of(p), negatives=shape_of(n))

    def distance(b):
        return fnp.power(fnp.sum(fnp.power(a - b, norm_degree), axis=axis) + eps,
                         1 / norm_degree)
    return fnp.maximum(distance(p) - distance(n) + margin, 0)


# ------------------------------------------------------------------ segmentation
def _reduce_classes(loss, reduction, name):
    if reduction == "mean":
        return fnp.mean(loss, axis=-1)
    if reduction == "sum":
        return fnp.sum(loss, axis=-1)
    if reduction == "none":
        return loss
    raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def dice_loss(predictions, targets, *, class_weights=None, smooth=1., alpha=0.5, beta=0.5,
              apply_softmax=True, reduction="mean", ignore_background=False, axis=None):
    """The soft Dice (Tversky, for alpha != beta) loss per class, `1 - (I + smooth) / (I +
    alpha * (P - I) + beta * (T - I) + smooth)` with I, P, T the sums over `axis` (default:
    all but the first and last axes) of probs * targets, probs and targets, then weighted by
    `class_weights` (C,) and reduced over the classes ('mean', 'sum' or 'none').
    `predictions` are logits (..., C), turned into probabilities by softmax (sigmoid when
    C = 1) unless `apply_softmax` is False; a binary `(...)` pair gains a class axis of 1.
    `ignore_background` leaves class 0 out. With `apply_softmax=False` eager predictions of
    several classes must sum to 1 over the last axis (not checked under tracing)."""
    name = "dice_loss"
    predictions, targets = fnp.asarray(predictions), fnp.asarray(targets)
    if predictions.ndim == targets.ndim - 1:
        predictions = predictions[..., None]
    if targets.ndim == predictions.ndim - 1:
        targets = targets[..., None]
    _same_shape(name, predictions=predictions, targets=targets)
    if predictions.ndim < 1:
        raise ValueError(f"{name}: predictions need a class axis, got scalars")
    classes = shape_of(predictions)[-1]
    if not apply_softmax and classes > 1 and not isinstance(predictions, Tracer):
        sums = np.asarray(fnp.sum(predictions, axis=-1))
        if not np.allclose(sums, 1.0, rtol=1e-5):
            raise ValueError(f"{name}: with apply_softmax=False, predictions must be "
                             "probability distributions summing to 1 along the last (class) "
                             f"axis; their sums range over [{sums.min():.6f}, "
                             f"{sums.max():.6f}]")
    probs = predictions
    if apply_softmax:
        probs = sigmoid(predictions) if classes == 1 else softmax(predictions, axis=-1)
    if axis is None:
        axis = tuple(range(1, probs.ndim - 1))
    intersection = fnp.sum(probs * targets, axis=axis)
    pred_sum = fnp.sum(probs, axis=axis)
    target_sum = fnp.sum(targets, axis=axis)
    ratio = (intersection + smooth) / (intersection + alpha * (pred_sum - intersection)
                                       + beta * (target_sum - intersection) + smooth)
    loss = 1.0 - ratio
    if class_weights is not None:
        class_weights = fnp.asarray(class_weights)
        if class_weights.ndim != 1:
            raise ValueError(f"{name}: class_weights must be one weight per class (C,), got "
                             f"shape {shape_of(class_weights)}")
        loss = loss * class_weights
    if ignore_background and classes > 1:
        loss = loss[..., 1:]
    return _reduce_classes(loss, reduction, name)


def multiclass_generalized_dice_loss(predictions, targets, *, smooth=1., apply_softmax=True,
                                     ignore_background=False):
    """The generalized Dice loss (Sudre et al., 2017): `dice_loss` per class weighted by the
    inverse squared class frequency of `targets` (the weights normalized to average 1),
    averaged over classes and batch to one scalar. `predictions` and `targets` (..., C)."""
    predictions, targets = fnp.asarray(predictions), fnp.asarray(targets)
    _same_shape("multiclass_generalized_dice_loss", predictions=predictions, targets=targets)
    frequency = fnp.sum(targets, axis=tuple(range(targets.ndim - 1)))
    weights = 1.0 / (frequency ** 2 + 1e-7)
    weights = weights / fnp.sum(weights) * shape_of(weights)[0]
    return fnp.mean(dice_loss(predictions, targets, class_weights=weights, smooth=smooth,
                              apply_softmax=apply_softmax, reduction="none",
                              ignore_background=ignore_background))


def binary_dice_loss(predictions, targets, *, smooth=1., apply_sigmoid=True):
    """`dice_loss` of binary segmentation: logits (or probabilities, `apply_sigmoid=False`)
    and 0/1 targets of shape (...) or (..., 1), one loss per example."""
    predictions, targets = fnp.asarray(predictions), fnp.asarray(targets)
    if predictions.ndim == targets.ndim and predictions.ndim and shape_of(predictions)[-1] != 1:
        predictions, targets = predictions[..., None], targets[..., None]
    return dice_loss(predictions, targets, smooth=smooth, apply_softmax=apply_sigmoid,
                     reduction="mean")


# ------------------------------------------------------------------ CTC
def _into_later_states(phi, score):
    """`phi` with `score` added (in log space) to every state but the first."""
    return fnp.concatenate([phi[:, :1], fnp.logaddexp(phi[:, 1:], score)], axis=1)


def ctc_loss_with_forward_probs(logits, logit_paddings, labels, label_paddings, *, blank_id=0,
                                log_epsilon=-1e5):
    """The CTC loss of each sequence and the forward log-probabilities of the alignments:
    `(loss (B,), logalpha_blank (T, B, N+1), logalpha_nonblank (T, B, N))`, for `logits`
    (B, T, K) over K classes (blank `blank_id` included) with `logit_paddings` (B, T) 1.0 at
    padded frames, and integer `labels` (B, N) right-padded as `label_paddings` (B, N)
    marks with 1.0. `logalpha_blank[t, b, n]` is the log-probability of having emitted the
    first n labels and being in a blank after frame t, `logalpha_nonblank[t, b, n]` that of
    being in label n; impossible states hold about `log_epsilon` (a finite stand-in for
    log 0), so an impossible alignment costs about `-log_epsilon` rather than inf. Padded
    frames leave the probabilities as they were; a label outside [0, K) emits with
    probability 1."""
    name = "ctc_loss_with_forward_probs"
    logits = _floating(logits, name, "logits")
    labels = _integer(labels, name, "labels")
    logit_paddings, label_paddings = fnp.asarray(logit_paddings), fnp.asarray(label_paddings)
    if logits.ndim != 3:
        raise ValueError(f"{name}: logits must be (B, T, K), got shape {shape_of(logits)}")
    if labels.ndim != 2:
        raise ValueError(f"{name}: labels must be (B, N), got shape {shape_of(labels)}")
    b, t_len, k = shape_of(logits)
    n = shape_of(labels)[1]
    if shape_of(logit_paddings) != (b, t_len):
        raise ValueError(f"{name}: logit_paddings of shape {shape_of(logit_paddings)} must be "
                         f"(B, T) = {(b, t_len)}, one per frame of logits {shape_of(logits)}")
    if shape_of(labels)[0] != b:
        raise ValueError(f"{name}: labels of shape {shape_of(labels)} must have logits' batch "
                         f"size B = {b}")
    _same_shape(name, labels=labels, label_paddings=label_paddings)
    if t_len == 0:
        raise ValueError(f"{name}: logits have no frames (T = 0)")
    dt = dtypes.result_type(dtype_of(logits), dtypes.default_float_dtype())
    log_epsilon = fnp.asarray(log_epsilon, dtype=dt)
    logprobs = log_softmax(logits, axis=-1)
    label_lengths = n - fnp.sum(label_paddings, axis=1).astype(np.int32)
    # repeat[:, i]: label i equals label i + 1, so a blank must come between them
    repeat = fnp.concatenate([labels[:, :-1] == labels[:, 1:], fnp.zeros((b, 1), bool)],
                             axis=1)[:, :n].astype(dt)
    blank = fnp.transpose(logprobs[:, :, blank_id:blank_id + 1], (1, 0, 2))    # (T, B, 1)
    known = (labels >= 0) & (labels < k)
    emit = fnp.take_along_axis(logprobs, fnp.where(known, labels, 0)[:, None, :], axis=2)
    emit = fnp.transpose(fnp.where(known[:, None, :], emit, 0.0), (1, 0, 2))   # (T, B, N)
    pads = fnp.transpose(logit_paddings, (1, 0)).astype(dt)[:, :, None]       # (T, B, 1)

    def frame(carry, x):
        phi, em = carry
        lp_emit, lp_blank, pad = x
        # label -> following blank without a frame, except between repeated labels
        phi_in = _into_later_states(phi, em + log_epsilon * repeat)
        new_em = fnp.logaddexp(phi_in[:, :-1] + lp_emit, em + lp_emit)
        # blank -> blank, and label -> blank on this frame where the next label repeats
        new_phi = _into_later_states(phi_in + lp_blank,
                                     em + lp_blank + log_epsilon * (1.0 - repeat))
        new_em = pad * em + (1.0 - pad) * new_em
        new_phi = pad * phi + (1.0 - pad) * new_phi
        return (new_phi, new_em), (new_phi, new_em)

    phi0 = fnp.concatenate([fnp.zeros((b, 1), dt), fnp.full((b, n), log_epsilon, dt)], axis=1)
    em0 = fnp.full((b, n), log_epsilon, dt)
    _, (phis, ems) = lax.scan(frame, (phi0, em0), (emit, blank, pads))
    # after the last frame, a sequence may also end right after its last label
    last = _into_later_states(phis[-1], ems[-1])
    phis = fnp.concatenate([phis[:-1], last[None]], axis=0)
    loss = -fnp.sum(last * one_hot(label_lengths, n + 1, dtype=dt), axis=1)
    return loss, phis, ems


def ctc_loss(logits, logit_paddings, labels, label_paddings, *, blank_id=0, log_epsilon=-1e5):
    """The CTC loss (Graves et al., 2006) of each sequence, (B,): the first result of
    `ctc_loss_with_forward_probs`, whose docstring describes the arguments."""
    return ctc_loss_with_forward_probs(logits, logit_paddings, labels, label_paddings,
                                       blank_id=blank_id, log_epsilon=log_epsilon)[0]
