"""Optimizers as gradient transformations (Optax's shape) with PyTorch's math, argument names
and defaults, so a model trained here follows the same trajectory as with `torch.optim`.

    opt = ft.optim.adam(1e-3)
    state = opt.init(params)
    updates, state = opt.update(grads, state, params)
    params = ft.optim.apply_updates(params, updates)

`updates` are the differences to add to the parameters (already scaled by -lr). States are
pytrees of arrays (the step count included), so a whole training step can be jitted. `lr` may
be a number or a schedule (a function of the step count, see `ft.optim.schedules`).
Hyperparameters may also be arrays (as `inject_hyperparams` passes them): an optional term
given as an array is always computed, since its value may change between steps.
Buffers (`ft.buffers.Buffer` nodes, e.g. BatchNorm's running statistics) are not parameters:
they get no optimizer state, no update and no weight decay.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, NamedTuple

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..buffers import is_buffer, map_arrays
from ..primitives._util import dtype_of, shape_of
from ..tree_util import keystr, tree_flatten, tree_flatten_with_path, tree_leaves, tree_map
from .base import (EmptyState, GradientTransformation, GradientTransformationExtraArgs,
                   displayed, require_params, with_extra_args_support)
from .leafwise import (as_dtype, is_number, leafwise, step_number, zero_count,
                       zeros_like)
from .masking import is_tree_function, masked, multi_transform, split

__all__ = ["GradientTransformation", "sgd", "adam", "adamw", "rmsprop", "adagrad", "adamax",
           "nadam", "radam", "adadelta", "rprop", "asgd", "lion", "chain", "clip_by_global_norm",
           "apply_updates", "global_norm", "scale", "scale_by_schedule", "add_decayed_weights",
           "set_to_zero", "freeze", "selective_transform", "SGDState", "AdamState",
           "RMSpropState", "AdagradState", "AdamaxState", "NAdamState", "RAdamState",
           "AdadeltaState", "RpropState", "ASGDState", "LionState",
           "ScaleByScheduleState", "AddDecayedWeightsState", "WeightDecaySchedule", "EmptyState"]


@displayed
class SGDState(NamedTuple):
    count: Any
    momentum_buffer: Any


@displayed
class AdamState(NamedTuple):
    count: Any
    exp_avg: Any
    exp_avg_sq: Any
    max_exp_avg_sq: Any


@displayed
class RMSpropState(NamedTuple):
    count: Any
    square_avg: Any
    grad_avg: Any
    momentum_buffer: Any


@displayed
class AdagradState(NamedTuple):
    count: Any
    sum: Any


@displayed
class AdamaxState(NamedTuple):
    count: Any
    exp_avg: Any
    exp_inf: Any


@displayed
class NAdamState(NamedTuple):
    count: Any
    mu_product: Any        # float64 scalar: the product of the momentum coefficients so far
    exp_avg: Any
    exp_avg_sq: Any


@displayed
class RAdamState(NamedTuple):
    count: Any
    exp_avg: Any
    exp_avg_sq: Any


@displayed
class AdadeltaState(NamedTuple):
    count: Any
    square_avg: Any
    acc_delta: Any


@displayed
class RpropState(NamedTuple):
    count: Any
    prev: Any
    step_size: Any


@displayed
class ASGDState(NamedTuple):
    count: Any
    ax: Any         # the average of the parameters (PyTorch's state["ax"])


@displayed
class LionState(NamedTuple):
    count: Any
    exp_avg: Any


@displayed
class ScaleByScheduleState(NamedTuple):
    count: Any


AddDecayedWeightsState = EmptyState


@displayed
class WeightDecaySchedule(NamedTuple):
    """`add_decayed_weights`'s state with a scheduled decay (Optax's name); with a fixed one
    it is an `EmptyState` (`AddDecayedWeightsState`, as in Optax)."""
    count: Any


# ------------------------------------------------------------------ helpers
def _on(x):
    """Whether an optional term is in use: a nonzero number, or an array (whose value may
    change from step to step, as under inject_hyperparams)."""
    return not is_number(x) or x != 0


def _learning_rate(lr, name):
    """A function of the step count giving the rate (a Python float or an array)."""
    if callable(lr):
        return lr
    if is_number(lr):
        if lr < 0:
            raise ValueError(f"{name}: lr must be a non-negative number, an array or a "
                             f"schedule, got {lr!r}")
        return lambda count: float(lr)
    if not hasattr(lr, "dtype"):
        raise TypeError(f"{name}: lr must be a number, an array or a schedule, got "
                        f"{type(lr).__name__} {lr!r}")
    return lambda count: lr


def _check_nonnegative(name, **values):
    for arg, v in values.items():
        if is_number(v) and v < 0:
            raise ValueError(f"{name}: {arg} must be >= 0, got {v!r}")


def _need_params(params, name, weight_decay):
    """Refuse to go on without params where `weight_decay` is in use."""
    if not _on(weight_decay):
        return
    require_params(params, f"{name} with weight_decay", "" if is_number(weight_decay) else (
        " (weight_decay is an array, as inject_hyperparams makes it: pass "
        "static_args=('weight_decay',) to keep it a number, and 0 needs no params)"))


def _plus_decay(d, p, weight_decay):
    """`d + weight_decay * p` (torch's weight decay), `d` where it is not in use."""
    return d + as_dtype(weight_decay, d) * p if _on(weight_decay) else d


def _check_betas(betas, name):
    b1, b2 = betas
    if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
        raise ValueError(f"{name}: betas must be in [0, 1), got {betas}")
    return float(b1), float(b2)


# ------------------------------------------------------------------ optimizers
def _torch_options(factory):
    """`factory` taking PyTorch's keyword-only options too: `maximize` (ascend: the gradients
    are negated before anything else, as PyTorch does) and `foreach`, `capturable`,
    `differentiable` and `fused`, which choose among PyTorch's kernels, not its math (every
    functrans update is differentiable and may be jitted)."""
    @functools.wraps(factory)
    def make(*args, maximize=False, foreach=None, capturable=False, differentiable=False,
             fused=None, **kwargs):
        opt = factory(*args, **kwargs)
        if not maximize:
            return opt

        def update(grads, state, params=None):
            return opt.update(map_arrays(lax.neg, grads), state, params)
        return GradientTransformation(opt.init, update)
    sig = inspect.signature(factory)
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
             for name, default in (("maximize", False), ("foreach", None),
                                   ("capturable", False), ("differentiable", False),
                                   ("fused", None))]
    make.__signature__ = sig.replace(parameters=[*sig.parameters.values(), *extra])
    return make


@_torch_options
def sgd(lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """torch.optim.SGD: `d = g + weight_decay * p`; with momentum,
    `buf = d` on the first step, else `momentum * buf + (1 - dampening) * d`, and
    `d = d + momentum * buf` (Nesterov) or `buf`; the update is `-lr * d`."""
    if nesterov and is_number(momentum) and is_number(dampening) and \
            (momentum <= 0 or dampening != 0):
        raise ValueError("sgd: Nesterov momentum needs momentum > 0 and dampening == 0")
    _check_nonnegative("sgd", momentum=momentum, weight_decay=weight_decay)
    rate = _learning_rate(lr, "sgd")
    use_momentum = _on(momentum)

    def init(params):
        return SGDState(zero_count(), zeros_like(params) if use_momentum else None)

    def update(grads, state, params=None):
        _need_params(params, "sgd", weight_decay)
        lr_t = rate(state.count)

        def leaf(g, p, buf):
            d = _plus_decay(g, p, weight_decay)
            new_buf = None
            if use_momentum:
                mu = as_dtype(momentum, g)
                if _on(dampening):          # the first step takes d itself
                    new_buf = fnp.where(state.count == 0, d,
                                        mu * buf + (1.0 - as_dtype(dampening, g)) * d)
                else:
                    new_buf = mu * buf + d
                d = d + mu * new_buf if nesterov else new_buf
            return -as_dtype(lr_t, g) * d, new_buf
        updates, bufs = leafwise(leaf, grads, params, state.momentum_buffer, outputs=2)
        return updates, SGDState(state.count + 1, bufs if use_momentum else None)
    return GradientTransformation(init, update)


def _adam(lr, betas, eps, weight_decay, amsgrad, decoupled, name, mask=None):
    b1, b2 = _check_betas(betas, name)
    _check_nonnegative(name, eps=eps, weight_decay=weight_decay)
    rate = _learning_rate(lr, name)

    def init(params):
        return AdamState(zero_count(), zeros_like(params), zeros_like(params),
                         zeros_like(params) if amsgrad else None)

    def update(grads, state, params=None):
        _need_params(params, name, weight_decay)
        t = step_number(state.count)
        lr_t = rate(state.count)
        step_size = lr_t / (1.0 - lax.pow(b1, t))
        bc2_sqrt = fnp.sqrt(1.0 - lax.pow(b2, t))

        def leaf(g, p, m, v, vmax, decay=True):
            wd = as_dtype(weight_decay, g)
            if not decoupled:
                g = _plus_decay(g, p, weight_decay)
            m = m + (1.0 - b1) * (g - m)
            v = b2 * v + (1.0 - b2) * (g * g)
            if amsgrad:
                vmax = fnp.maximum(vmax, v)
            denom = fnp.sqrt(vmax if amsgrad else v) / as_dtype(bc2_sqrt, g) + \
                as_dtype(eps, g)
            u = -as_dtype(step_size, g) * (m / denom)
            if _on(weight_decay) and decoupled and decay:
                u = u - (as_dtype(lr_t, g) * wd) * p
            return u, m, v, vmax
        trees = [params, state.exp_avg, state.exp_avg_sq, state.max_exp_avg_sq]
        if mask is not None:
            trees.append(_decay_flags(mask, grads, name))
        updates, m, v, vmax = leafwise(leaf, grads, *trees, outputs=4)
        return updates, AdamState(state.count + 1, m, v, vmax if amsgrad else None)
    return GradientTransformation(init, update)


def _decay_flags(mask, grads, name):
    """A bool for each leaf of `grads`: whether weight decay applies to it."""
    treedef, pairs = split(mask(grads) if is_tree_function(mask) else mask, grads, name,
                           "updates")
    return treedef.unflatten([tree_map(lambda _, f=flag: f, sub) for flag, sub in pairs])


@_torch_options
def adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
         decoupled_weight_decay=False):
    """torch.optim.Adam (weight decay as an L2 term added to the gradient; decoupled, as
    AdamW's, with `decoupled_weight_decay`)."""
    return _adam(lr, betas, eps, weight_decay, amsgrad, bool(decoupled_weight_decay), "adam")


@_torch_options
def adamw(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, mask=None):
    """torch.optim.AdamW (decoupled weight decay: `p -= lr * weight_decay * p`). `mask`
    (Optax's): a pytree of bools with the params' structure (or a prefix of it), or a function
    params -> such a pytree; weight decay applies only where it is True (PyTorch: a parameter
    group with weight_decay=0 for the others), e.g. `mask=lambda p: ft.tree_map(lambda x:
    x.ndim > 1, p)` spares biases and norm scales."""
    return _adam(lr, betas, eps, weight_decay, amsgrad, True, "adamw", mask)


@_torch_options
def rmsprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    """torch.optim.RMSprop: `sq = alpha * sq + (1 - alpha) * g**2`, divided by
    `sqrt(sq) + eps` (or `sqrt(sq - mean(g)**2) + eps` when centered), with optional
    momentum on the scaled gradient."""
    _check_nonnegative("rmsprop", alpha=alpha, eps=eps, weight_decay=weight_decay,
                       momentum=momentum)
    rate = _learning_rate(lr, "rmsprop")
    use_momentum = _on(momentum)

    def init(params):
        return RMSpropState(zero_count(), zeros_like(params),
                            zeros_like(params) if centered else None,
                            zeros_like(params) if use_momentum else None)

    def update(grads, state, params=None):
        _need_params(params, "rmsprop", weight_decay)
        lr_t = rate(state.count)

        def leaf(g, p, sq, ga, buf):
            a = as_dtype(alpha, g)
            g = _plus_decay(g, p, weight_decay)
            sq = a * sq + (1.0 - a) * (g * g)
            if centered:
                ga = ga + (1.0 - a) * (g - ga)
                avg = fnp.sqrt(sq - ga * ga) + as_dtype(eps, g)
            else:
                avg = fnp.sqrt(sq) + as_dtype(eps, g)
            step = g / avg
            if use_momentum:
                buf = as_dtype(momentum, g) * buf + step
                step = buf
            return -as_dtype(lr_t, g) * step, sq, ga, buf
        updates, sq, ga, buf = leafwise(leaf, grads, params, state.square_avg, state.grad_avg,
                                        state.momentum_buffer, outputs=4)
        return updates, RMSpropState(state.count + 1, sq, ga if centered else None,
                                     buf if use_momentum else None)
    return GradientTransformation(init, update)


@_torch_options
def adagrad(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    """torch.optim.Adagrad: `sum += g**2`, step `-lr / (1 + (t - 1) * lr_decay) * g /
    (sqrt(sum) + eps)`."""
    _check_nonnegative("adagrad", lr_decay=lr_decay, weight_decay=weight_decay,
                       initial_accumulator_value=initial_accumulator_value, eps=eps)
    rate = _learning_rate(lr, "adagrad")

    def init(params):
        return AdagradState(zero_count(), zeros_like(params, initial_accumulator_value))

    def update(grads, state, params=None):
        _need_params(params, "adagrad", weight_decay)
        lr_t = rate(state.count)
        clr = lr_t / (1.0 + lax.convert_element_type(state.count, np.float64) * lr_decay) \
            if _on(lr_decay) else lr_t

        def leaf(g, p, acc):
            g = _plus_decay(g, p, weight_decay)
            acc = acc + g * g
            return -as_dtype(clr, g) * (g / (fnp.sqrt(acc) + as_dtype(eps, g))), acc
        updates, acc = leafwise(leaf, grads, params, state.sum, outputs=2)
        return updates, AdagradState(state.count + 1, acc)
    return GradientTransformation(init, update)


@_torch_options
def adamax(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """torch.optim.Adamax: `m = b1 * m + (1 - b1) * g`, `u = max(b2 * u, |g| + eps)`, step
    `-lr / (1 - b1**t) * m / u` (weight decay as an L2 term added to the gradient)."""
    b1, b2 = _check_betas(betas, "adamax")
    _check_nonnegative("adamax", eps=eps, weight_decay=weight_decay)
    rate = _learning_rate(lr, "adamax")

    def init(params):
        return AdamaxState(zero_count(), zeros_like(params), zeros_like(params))

    def update(grads, state, params=None):
        _need_params(params, "adamax", weight_decay)
        clr = rate(state.count) / (1.0 - lax.pow(b1, step_number(state.count)))

        def leaf(g, p, m, u):
            g = _plus_decay(g, p, weight_decay)
            m = m + (1.0 - b1) * (g - m)
            u = fnp.maximum(b2 * u, fnp.abs(g) + as_dtype(eps, g))
            return -as_dtype(clr, g) * (m / u), m, u
        updates, m, u = leafwise(leaf, grads, params, state.exp_avg, state.exp_inf, outputs=3)
        return updates, AdamaxState(state.count + 1, m, u)
    return GradientTransformation(init, update)


@_torch_options
def nadam(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
          decoupled_weight_decay=False):
    """torch.optim.NAdam: Adam with Nesterov momentum whose coefficient
    `mu_t = b1 * (1 - 0.96 ** (t * momentum_decay) / 2)` warms up; the step is
    `-lr * ((1 - mu_t) / (1 - prod mu) * g + mu_{t+1} / (1 - prod mu * mu_{t+1}) * m) /
    (sqrt(v / (1 - b2**t)) + eps)`. Weight decay is an L2 term, or with
    `decoupled_weight_decay` AdamW's `p -= lr * weight_decay * p`."""
    b1, b2 = _check_betas(betas, "nadam")
    _check_nonnegative("nadam", eps=eps, weight_decay=weight_decay,
                       momentum_decay=momentum_decay)
    rate = _learning_rate(lr, "nadam")
    decoupled = decoupled_weight_decay

    def init(params):
        return NAdamState(zero_count(), fnp.ones((), np.float64), zeros_like(params),
                          zeros_like(params))

    def update(grads, state, params=None):
        _need_params(params, "nadam", weight_decay)
        t = step_number(state.count)
        lr_t = rate(state.count)
        bc2 = 1.0 - lax.pow(b2, t)
        mu = b1 * (1.0 - 0.5 * lax.pow(0.96, t * momentum_decay))
        mu_next = b1 * (1.0 - 0.5 * lax.pow(0.96, (t + 1.0) * momentum_decay))
        mu_product = state.mu_product * mu
        coef_g = -lr_t * (1.0 - mu) / (1.0 - mu_product)
        coef_m = -lr_t * mu_next / (1.0 - mu_product * mu_next)

        def leaf(g, p, m, v):
            wd = as_dtype(weight_decay, g)
            if not decoupled:
                g = _plus_decay(g, p, weight_decay)
            m = m + (1.0 - b1) * (g - m)
            v = b2 * v + (1.0 - b2) * (g * g)
            denom = fnp.sqrt(v / as_dtype(bc2, g)) + as_dtype(eps, g)
            u = as_dtype(coef_g, g) * (g / denom) + as_dtype(coef_m, g) * (m / denom)
            if _on(weight_decay) and decoupled:
                u = u - (as_dtype(lr_t, g) * wd) * p
            return u, m, v
        updates, m, v = leafwise(leaf, grads, params, state.exp_avg, state.exp_avg_sq,
                                 outputs=3)
        return updates, NAdamState(state.count + 1, mu_product, m, v)
    return GradientTransformation(init, update)


@_torch_options
def radam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
          decoupled_weight_decay=False):
    """torch.optim.RAdam: Adam whose adaptive term is switched on, with the variance
    rectification `r_t`, once the length of the approximated moving average
    `rho_t = rho_inf - 2 t b2**t / (1 - b2**t)` exceeds 5 (before: plain momentum SGD on the
    bias-corrected mean). Weight decay is an L2 term, or with `decoupled_weight_decay`
    AdamW's `p -= lr * weight_decay * p`."""
    b1, b2 = _check_betas(betas, "radam")
    _check_nonnegative("radam", eps=eps, weight_decay=weight_decay)
    rate = _learning_rate(lr, "radam")
    decoupled = decoupled_weight_decay
    rho_inf = 2.0 / (1.0 - b2) - 1.0

    def init(params):
        return RAdamState(zero_count(), zeros_like(params), zeros_like(params))

    def update(grads, state, params=None):
        _need_params(params, "radam", weight_decay)
        t = step_number(state.count)
        lr_t = rate(state.count)
        bc1 = 1.0 - lax.pow(b1, t)
        bc2 = 1.0 - lax.pow(b2, t)
        rho_t = rho_inf - 2.0 * t * lax.pow(b2, t) / bc2
        rectify = rho_t > 5.0
        if rho_inf > 5.0:        # else rho_t < rho_inf never passes 5
            rho = fnp.maximum(rho_t, 5.0)
            rect = fnp.sqrt((rho - 4.0) * (rho - 2.0) * rho_inf /
                            ((rho_inf - 4.0) * (rho_inf - 2.0) * rho))
        else:
            rect = 1.0

        def leaf(g, p, m, v):
            wd = as_dtype(weight_decay, g)
            if not decoupled:
                g = _plus_decay(g, p, weight_decay)
            m = m + (1.0 - b1) * (g - m)
            v = b2 * v + (1.0 - b2) * (g * g)
            adaptive = as_dtype(fnp.sqrt(bc2) * rect, g) / (fnp.sqrt(v) + as_dtype(eps, g))
            u = -as_dtype(lr_t / bc1, g) * m * fnp.where(rectify, adaptive, 1.0)
            if _on(weight_decay) and decoupled:
                u = u - (as_dtype(lr_t, g) * wd) * p
            return u, m, v
        updates, m, v = leafwise(leaf, grads, params, state.exp_avg, state.exp_avg_sq,
                                 outputs=3)
        return updates, RAdamState(state.count + 1, m, v)
    return GradientTransformation(init, update)


@_torch_options
def adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    """torch.optim.Adadelta: `sq = rho * sq + (1 - rho) * g**2`, the step
    `d = sqrt(acc + eps) / sqrt(sq + eps) * g`, then `acc = rho * acc + (1 - rho) * d**2`;
    the update is `-lr * d` (weight decay as an L2 term added to the gradient)."""
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"adadelta: rho must be in [0, 1], got {rho}")
    _check_nonnegative("adadelta", eps=eps, weight_decay=weight_decay)
    rate = _learning_rate(lr, "adadelta")

    def init(params):
        return AdadeltaState(zero_count(), zeros_like(params), zeros_like(params))

    def update(grads, state, params=None):
        _need_params(params, "adadelta", weight_decay)
        lr_t = rate(state.count)

        def leaf(g, p, sq, acc):
            g = _plus_decay(g, p, weight_decay)
            e = as_dtype(eps, g)
            sq = rho * sq + (1.0 - rho) * (g * g)
            d = fnp.sqrt(acc + e) / fnp.sqrt(sq + e) * g
            acc = rho * acc + (1.0 - rho) * (d * d)
            return -as_dtype(lr_t, g) * d, sq, acc
        updates, sq, acc = leafwise(leaf, grads, params, state.square_avg, state.acc_delta,
                                    outputs=3)
        return updates, AdadeltaState(state.count + 1, sq, acc)
    return GradientTransformation(init, update)


@_torch_options
def rprop(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)):
    """torch.optim.Rprop: each element's step size (starting at `lr`) grows by `etas[1]` while
    its gradient keeps its sign and shrinks by `etas[0]` when it flips (that step then moves
    nothing and forgets the gradient), within `step_sizes`; the update is
    `-sign(g) * step size`."""
    eta_minus, eta_plus = (float(e) for e in etas)
    if not 0.0 < eta_minus < 1.0 < eta_plus:
        raise ValueError(f"rprop: etas must satisfy 0 < etas[0] < 1 < etas[1], got {etas}")
    low, high = (float(v) for v in step_sizes)
    if not is_number(lr):
        raise TypeError("rprop: lr is the initial step size, a number")
    _check_nonnegative("rprop", lr=lr)

    def init(params):
        return RpropState(zero_count(), zeros_like(params), zeros_like(params, lr))

    def update(grads, state, params=None):
        def leaf(g, prev, size):
            product = g * prev
            factor = lax.select(product > 0, lax.full_like(g, eta_plus),
                                lax.select(product < 0, lax.full_like(g, eta_minus),
                                           lax.full_like(g, 1.0)))
            size = fnp.clip(size * factor, low, high)
            g = lax.select(product < 0, lax.full_like(g, 0.0), g)
            return -fnp.sign(g) * size, g, size
        updates, prev, size = leafwise(leaf, grads, state.prev, state.step_size, outputs=3)
        return updates, RpropState(state.count + 1, prev, size)
    return GradientTransformation(init, update)


@_torch_options
def asgd(lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0):
    """torch.optim.ASGD: with `eta = lr / (1 + lambd * lr * t) ** alpha` after t steps (a
    scheduled lr enters it one step late, as in PyTorch), the parameters move to
    `p * (1 - lambd * eta) - eta * (g + weight_decay * p)`; the state's `ax` follows them
    until step t0, then averages them (`ax += (p - ax) / (t - t0)`)."""
    _check_nonnegative("asgd", lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay)
    rate = _learning_rate(lr, "asgd")

    def init(params):
        return ASGDState(zero_count(), zeros_like(params))

    def update(grads, state, params=None):
        require_params(params, "asgd")
        t = lax.convert_element_type(state.count, np.float64)    # steps taken
        lr_t = rate(fnp.maximum(state.count - 1, 0))
        eta = lr_t / (1.0 + lambd * lr_t * t) ** alpha
        mu = 1.0 / fnp.maximum(1.0, t - t0)

        def leaf(g, p, ax):
            g = _plus_decay(g, p, weight_decay)
            e, m = as_dtype(eta, g), as_dtype(mu, g)
            moved = p * (1.0 - lambd * e) - e * g
            return moved - p, fnp.where(m == 1, moved, ax + (moved - ax) * m)
        updates, ax = leafwise(leaf, grads, params, state.ax, outputs=2)
        return updates, ASGDState(state.count + 1, ax)
    return GradientTransformation(init, update)


def lion(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
    """Lion (Chen et al., 2023; Optax's `lion`, with PyTorch-style arguments): the update is
    `-lr * (sign(b1 * m + (1 - b1) * g) + weight_decay * p)`, then
    `m = b2 * m + (1 - b2) * g`. Use a learning rate 3-10x smaller than AdamW's and a weight
    decay as many times larger."""
    b1, b2 = _check_betas(betas, "lion")
    _check_nonnegative("lion", weight_decay=weight_decay)
    rate = _learning_rate(lr, "lion")

    def init(params):
        return LionState(zero_count(), zeros_like(params))

    def update(grads, state, params=None):
        _need_params(params, "lion", weight_decay)
        lr_t = rate(state.count)

        def leaf(g, p, m):
            d = fnp.sign(b1 * m + (1.0 - b1) * g)
            d = _plus_decay(d, p, weight_decay)
            return -as_dtype(lr_t, g) * d, b2 * m + (1.0 - b2) * g
        updates, m = leafwise(leaf, grads, params, state.exp_avg, outputs=2)
        return updates, LionState(state.count + 1, m)
    return GradientTransformation(init, update)


# ------------------------------------------------------------------ building blocks
def scale(step_size):
    """Multiply the updates by `step_size` (a number or an array)."""
    def init(params):
        return EmptyState()

    def update(updates, state, params=None):
        return tree_map(lambda g: as_dtype(step_size, g) * g, updates), state
    return GradientTransformation(init, update)


def scale_by_schedule(step_size_fn):
    """Multiply the updates by `step_size_fn(count)`, count being the number of updates so
    far (e.g. `chain(..., scale_by_schedule(lambda n: -warmup(n)))`)."""
    def init(params):
        return ScaleByScheduleState(zero_count())

    def update(updates, state, params=None):
        s = step_size_fn(state.count)
        return (tree_map(lambda g: as_dtype(s, g) * g, updates),
                ScaleByScheduleState(state.count + 1))
    return GradientTransformation(init, update)


def add_decayed_weights(weight_decay=0.0, mask=None):
    """Add `weight_decay * p` to each update (a number, an array or a schedule of the step
    count). Before an optimizer it is an L2 penalty, `chain(add_decayed_weights(wd),
    sgd(lr))`; `mask` (see `masked`) limits it to some parameters."""
    def init(params):
        return WeightDecaySchedule(zero_count()) if callable(weight_decay) \
            else EmptyState()

    def update(updates, state, params=None):
        require_params(params, "add_decayed_weights")
        new_state = WeightDecaySchedule(state.count + 1) if callable(weight_decay) \
            else state
        if is_number(weight_decay) and weight_decay == 0:
            return updates, new_state
        wd = weight_decay(state.count) if callable(weight_decay) else weight_decay
        return map_arrays(lambda g, p: g + as_dtype(wd, g) * p, updates, params), new_state
    tx = GradientTransformation(init, update)
    return tx if mask is None else masked(tx, mask)


def set_to_zero():
    """Replace every update by zeros: as a `multi_transform` group's transformation it freezes
    those parameters."""
    def init(params):
        return EmptyState()

    def update(updates, state, params=None):
        return tree_map(fnp.zeros_like, updates), state
    return GradientTransformation(init, update)


def freeze(mask):
    """Optax's `freeze`: zero updates where `mask` (a bool, or a pytree of bools shaped like
    the params or a prefix of it) is True; the others pass through unchanged."""
    return masked(set_to_zero(), mask)


def selective_transform(optimizer, *, freeze_mask):
    """Optax's `selective_transform`: `optimizer` for the parameters where `freeze_mask` is
    False, zero updates (and no optimizer state) where it is True."""
    def labels(params):
        return tree_map(lambda frozen: "freeze" if frozen else "train", freeze_mask)
    return multi_transform({"train": optimizer, "freeze": set_to_zero()}, labels)


# ------------------------------------------------------------------ combinators
def chain(*transforms):
    """Apply transformations in sequence, each to the previous one's updates
    (e.g. `chain(clip_by_global_norm(1.0), adam(1e-3))`). Extra keyword arguments of `update`
    go to the transformations that take them."""
    transforms = [with_extra_args_support(t) for t in transforms]

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(grads, state, params=None, **extra_args):
        if len(state) != len(transforms):
            raise ValueError(f"chain of {len(transforms)} transformations got a state of "
                             f"{len(state)}; make the state with this chain's init(params)")
        new_state = []
        for t, s in zip(transforms, state):
            grads, s = t.update(grads, s, params, **extra_args)
            new_state.append(s)
        return grads, tuple(new_state)
    return GradientTransformationExtraArgs(init, update)


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
        return tree_map(lambda g: g * as_dtype(coef, g), grads), state
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
