"""Optimizers as gradient transformations (Optax's shape) with PyTorch's math, argument names
and defaults, so a model trained here follows the same trajectory as with `torch.optim`.

    opt = ft.optim.adam(1e-3)
    state = opt.init(params)
    updates, state = opt.update(grads, state, params)
    params = ft.optim.apply_updates(params, updates)

`updates` are the differences to add to the parameters (already scaled by -lr). States are
pytrees of arrays (the step count included), so a whole training step can be jitted. `lr` may
be a number or a schedule (a function of the step count, see `ft.optim.schedules`).
Buffers (`ft.buffers.Buffer` nodes, e.g. BatchNorm's running statistics) are not parameters:
they get no optimizer state, no update and no weight decay.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..buffers import is_buffer
from ..lax._util import dtype_of, shape_of
from ..tree_util import keystr, tree_flatten, tree_flatten_with_path, tree_leaves, tree_map

__all__ = ["GradientTransformation", "sgd", "adam", "adamw", "rmsprop", "adagrad", "chain",
           "clip_by_global_norm", "apply_updates", "global_norm", "SGDState", "AdamState",
           "RMSpropState", "AdagradState", "EmptyState"]


class GradientTransformation(NamedTuple):
    """`init(params) -> state` and `update(grads, state, params=None) -> (updates, state)`."""
    init: Callable
    update: Callable


class EmptyState(NamedTuple):
    pass


class SGDState(NamedTuple):
    count: Any
    momentum_buffer: Any


class AdamState(NamedTuple):
    count: Any
    exp_avg: Any
    exp_avg_sq: Any
    max_exp_avg_sq: Any


class RMSpropState(NamedTuple):
    count: Any
    square_avg: Any
    grad_avg: Any
    momentum_buffer: Any


class AdagradState(NamedTuple):
    count: Any
    sum: Any


# ------------------------------------------------------------------ helpers
def _zero_count():
    return fnp.zeros((), np.int32)


def _zeros_like(params, fill=0.0):
    return tree_map(lambda p: None if is_buffer(p) else lax.full_like(p, fill), params,
                    is_leaf=is_buffer)


def _learning_rate(lr, name):
    """A function of the step count giving the rate as a Python float or a float64 array."""
    if callable(lr):
        return lr
    if not isinstance(lr, (int, float)) or lr < 0:
        raise ValueError(f"{name}: lr must be a non-negative number or a schedule, got {lr!r}")
    return lambda count: float(lr)


def _as_dtype(value, like):
    """A hyperparameter in the leaf's dtype (Python numbers stay weak scalars)."""
    if isinstance(value, (int, float)):
        return value
    return lax.convert_element_type(value, dtype_of(like))


def _leafwise(fn, grads, *trees, outputs):
    """Apply `fn(g, *others)` to matching leaves; returns `outputs` trees shaped like grads
    (trees given as None are passed as None); buffers get None in every output."""
    leaves, treedef = tree_flatten(grads, is_buffer)
    try:
        others = [[None] * len(leaves) if t is None else treedef.flatten_up_to(t)
                  for t in trees]
    except ValueError as e:
        raise ValueError(f"optimizer update: the parameters or the optimizer state do not "
                         f"have the structure of the gradients: {e}. Pass params shaped like "
                         "grads, and a state made by opt.init(params).") from None
    results = [(None,) * outputs if is_buffer(xs[0]) else fn(*xs)
               for xs in zip(leaves, *others)]
    return [treedef.unflatten([r[i] for r in results]) for i in range(outputs)]


def _need_params(params, name):
    if params is None:
        raise ValueError(f"{name} with weight_decay needs the parameters: call "
                         "opt.update(grads, state, params)")


def _check_betas(betas, name):
    b1, b2 = betas
    if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
        raise ValueError(f"{name}: betas must be in [0, 1), got {betas}")
    return float(b1), float(b2)


# ------------------------------------------------------------------ optimizers
def sgd(lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """torch.optim.SGD: `d = g + weight_decay * p`; with momentum,
    `buf = d` on the first step, else `momentum * buf + (1 - dampening) * d`, and
    `d = d + momentum * buf` (Nesterov) or `buf`; the update is `-lr * d`."""
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("sgd: Nesterov momentum needs momentum > 0 and dampening == 0")
    rate = _learning_rate(lr, "sgd")

    def init(params):
        return SGDState(_zero_count(), _zeros_like(params) if momentum else None)

    def update(grads, state, params=None):
        if weight_decay:
            _need_params(params, "sgd")
        lr_t = rate(state.count)

        def leaf(g, p, buf):
            d = g + weight_decay * p if weight_decay else g
            new_buf = None
            if momentum:
                if dampening:          # the first step takes d itself
                    new_buf = fnp.where(state.count == 0, d,
                                        momentum * buf + (1.0 - dampening) * d)
                else:
                    new_buf = momentum * buf + d
                d = d + momentum * new_buf if nesterov else new_buf
            return -_as_dtype(lr_t, g) * d, new_buf
        updates, bufs = _leafwise(leaf, grads, params, state.momentum_buffer, outputs=2)
        return updates, SGDState(state.count + 1, bufs if momentum else None)
    return GradientTransformation(init, update)


def _adam(lr, betas, eps, weight_decay, amsgrad, decoupled, name):
    b1, b2 = _check_betas(betas, name)
    rate = _learning_rate(lr, name)

    def init(params):
        return AdamState(_zero_count(), _zeros_like(params), _zeros_like(params),
                         _zeros_like(params) if amsgrad else None)

    def update(grads, state, params=None):
        if weight_decay:
            _need_params(params, name)
        count = state.count + 1
        t = lax.convert_element_type(count, np.float64)
        lr_t = rate(state.count)
        step_size = lr_t / (1.0 - lax.pow(b1, t))
        bc2_sqrt = fnp.sqrt(1.0 - lax.pow(b2, t))

        def leaf(g, p, m, v, vmax):
            if weight_decay and not decoupled:
                g = g + weight_decay * p
            m = m + (1.0 - b1) * (g - m)
            v = b2 * v + (1.0 - b2) * (g * g)
            if amsgrad:
                vmax = fnp.maximum(vmax, v)
            denom = fnp.sqrt(vmax if amsgrad else v) / _as_dtype(bc2_sqrt, g) + eps
            u = -_as_dtype(step_size, g) * (m / denom)
            if weight_decay and decoupled:
                u = u - (_as_dtype(lr_t, g) * weight_decay) * p
            return u, m, v, vmax
        updates, m, v, vmax = _leafwise(leaf, grads, params, state.exp_avg, state.exp_avg_sq,
                                        state.max_exp_avg_sq, outputs=4)
        return updates, AdamState(count, m, v, vmax if amsgrad else None)
    return GradientTransformation(init, update)


def adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
    """torch.optim.Adam (weight decay as an L2 term added to the gradient)."""
    return _adam(lr, betas, eps, weight_decay, amsgrad, False, "adam")


def adamw(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
    """torch.optim.AdamW (decoupled weight decay: `p -= lr * weight_decay * p`)."""
    return _adam(lr, betas, eps, weight_decay, amsgrad, True, "adamw")


def rmsprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    """torch.optim.RMSprop: `sq = alpha * sq + (1 - alpha) * g**2`, divided by
    `sqrt(sq) + eps` (or `sqrt(sq - mean(g)**2) + eps` when centered), with optional
    momentum on the scaled gradient."""
    rate = _learning_rate(lr, "rmsprop")

    def init(params):
        return RMSpropState(_zero_count(), _zeros_like(params),
                            _zeros_like(params) if centered else None,
                            _zeros_like(params) if momentum else None)

    def update(grads, state, params=None):
        if weight_decay:
            _need_params(params, "rmsprop")
        lr_t = rate(state.count)

        def leaf(g, p, sq, ga, buf):
            if weight_decay:
                g = g + weight_decay * p
            sq = alpha * sq + (1.0 - alpha) * (g * g)
            if centered:
                ga = ga + (1.0 - alpha) * (g - ga)
                avg = fnp.sqrt(sq - ga * ga) + eps
            else:
                avg = fnp.sqrt(sq) + eps
            step = g / avg
            if momentum:
                buf = momentum * buf + step
                step = buf
            return -_as_dtype(lr_t, g) * step, sq, ga, buf
        updates, sq, ga, buf = _leafwise(leaf, grads, params, state.square_avg, state.grad_avg,
                                         state.momentum_buffer, outputs=4)
        return updates, RMSpropState(state.count + 1, sq, ga if centered else None,
                                     buf if momentum else None)
    return GradientTransformation(init, update)


def adagrad(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    """torch.optim.Adagrad: `sum += g**2`, step `-lr / (1 + (t - 1) * lr_decay) * g /
    (sqrt(sum) + eps)`."""
    rate = _learning_rate(lr, "adagrad")

    def init(params):
        return AdagradState(_zero_count(), _zeros_like(params, initial_accumulator_value))

    def update(grads, state, params=None):
        if weight_decay:
            _need_params(params, "adagrad")
        lr_t = rate(state.count)
        clr = lr_t / (1.0 + lax.convert_element_type(state.count, np.float64) * lr_decay) \
            if lr_decay else lr_t

        def leaf(g, p, acc):
            if weight_decay:
                g = g + weight_decay * p
            acc = acc + g * g
            return -_as_dtype(clr, g) * (g / (fnp.sqrt(acc) + eps)), acc
        updates, acc = _leafwise(leaf, grads, params, state.sum, outputs=2)
        return updates, AdagradState(state.count + 1, acc)
    return GradientTransformation(init, update)


# ------------------------------------------------------------------ combinators
def chain(*transforms):
    """Apply transformations in sequence, each to the previous one's updates
    (e.g. `chain(clip_by_global_norm(1.0), adam(1e-3))`)."""
    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(grads, state, params=None):
        new_state = []
        for t, s in zip(transforms, state):
            grads, s = t.update(grads, s, params)
            new_state.append(s)
        return grads, tuple(new_state)
    return GradientTransformation(init, update)


def global_norm(tree):
    """The 2-norm of all leaves together."""
    leaves = [x for x in tree_flatten(tree)[0] if x is not None]
    return fnp.sqrt(sum(fnp.sum(fnp.square(x)) for x in leaves))


def clip_by_global_norm(max_norm):
    """Scale all gradients by `min(1, max_norm / (norm + 1e-6))` (clip_grad_norm_)."""
    def init(params):
        return EmptyState()

    def update(grads, state, params=None):
        norm = global_norm(grads)
        coef = fnp.minimum(max_norm / (norm + 1e-6), 1.0)
        return tree_map(lambda g: g * _as_dtype(coef, g), grads), state
    return GradientTransformation(init, update)


def apply_updates(params, updates):
    """`params + updates`, leaf by leaf, keeping each parameter's dtype (None updates leave a
    parameter unchanged, and buffers are never changed)."""
    def add(p, u):
        if u is None or p is None or is_buffer(p):
            return p
        if shape_of(u) != shape_of(p):
            raise _ShapeMismatch
        return p + lax.convert_element_type(u, dtype_of(p))
    try:
        return tree_map(add, params, updates, is_leaf=is_buffer)
    except _ShapeMismatch:        # find where, only now (paths cost time on every step)
        pairs = zip(tree_flatten_with_path(params, _is_none)[0], tree_leaves(updates, _is_none))
        path, p, u = next((path, p, u) for (path, p), u in pairs if p is not None and
                          u is not None and shape_of(u) != shape_of(p))
        raise ValueError(f"apply_updates: at {keystr(path) or 'the root'} the parameter has "
                         f"shape {shape_of(p)} but its update {shape_of(u)}; the updates must "
                         "come from opt.update on gradients of these params") from None


class _ShapeMismatch(Exception):
    pass


def _is_none(x):
    return x is None
