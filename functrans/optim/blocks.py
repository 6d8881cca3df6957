"""Optax's building blocks under its names, signatures and state classes (`scale_by_adam`,
`trace`, `ema`, ...), and the Optax optimizers built from them that have no PyTorch
namesake here (`amsgrad`, `adabelief`, `lamb`, `lars`, `novograd`). Unlike `sgd`/`adam`/...
(PyTorch's arguments), these take Optax's: `learning_rate`, `b1`, `b2`, `eps_root`. The
moments follow Optax's math (`m = (1 - b1) * g + b1 * m`, bias corrections `1 - b ** t` computed in
Optax's dtype), so code written for Optax runs unchanged:

    opt = ft.optim.chain(ft.optim.scale_by_adam(), ft.optim.scale_by_learning_rate(1e-3))
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..buffers import is_buffer
from ..tree_util import tree_flatten, tree_map
from .base import EmptyState, GradientTransformation, displayed, require_params
from .leafwise import (abs_sq, as_dtype, debiased, leafwise, mean_hat, step_like, step_number,
                       zero_count, zeros_like)
from .masking import masked
from .transforms import add_decayed_weights, chain, scale, scale_by_schedule
from .tree_utils import tree_cast

__all__ = ["identity", "scale_by_adam", "scale_by_amsgrad", "scale_by_belief", "scale_by_rms",
           "scale_by_stddev", "scale_by_trust_ratio", "trace", "scale_by_learning_rate", "clip",
           "scale_by_sign", "ema", "zero_nans", "keep_params_nonnegative", "scale_by_novograd",
           "scale_by_rss", "scale_by_adamax", "scale_by_lion", "scale_by_radam",
           "scale_by_adadelta", "scale_by_rprop", "amsgrad", "adabelief", "lamb", "lars",
           "novograd", "ScaleByAdamState",
           "ScaleByAmsgradState", "ScaleByBeliefState", "ScaleByRmsState",
           "ScaleByRmsWithCountState", "ScaleByRStdDevState", "ScaleByRStdDevWithCountState",
           "TraceState", "EmaState", "ZeroNansState", "NonNegativeParamsState",
           "ScaleByNovogradState", "ScaleByRssState", "ScaleByLionState",
           "ScaleByAdaDeltaState", "ScaleByRpropState", "scale_by_optimistic_gradient",
           "ScaleByOptimisticGradientState"]


@displayed
class ScaleByAdamState(NamedTuple):
    count: Any
    mu: Any
    nu: Any


@displayed
class ScaleByAmsgradState(NamedTuple):
    count: Any
    mu: Any
    nu: Any
    nu_max: Any


@displayed
class ScaleByBeliefState(NamedTuple):
    count: Any
    mu: Any
    nu: Any


@displayed
class ScaleByRmsState(NamedTuple):
    nu: Any


@displayed
class ScaleByRmsWithCountState(NamedTuple):
    count: Any
    nu: Any


@displayed
class ScaleByRStdDevState(NamedTuple):
    mu: Any
    nu: Any


@displayed
class ScaleByRStdDevWithCountState(NamedTuple):
    count: Any
    mu: Any
    nu: Any


@displayed
class TraceState(NamedTuple):
    trace: Any


@displayed
class EmaState(NamedTuple):
    count: Any
    ema: Any


@displayed
class ZeroNansState(NamedTuple):
    found_nan: Any


@displayed
class NonNegativeParamsState(NamedTuple):
    pass


@displayed
class ScaleByNovogradState(NamedTuple):
    count: Any
    mu: Any
    nu: Any                 # one scalar per leaf: the moving average of its squared norm


@displayed
class ScaleByRssState(NamedTuple):
    sum_of_squares: Any


@displayed
class ScaleByLionState(NamedTuple):
    count: Any
    mu: Any


@displayed
class ScaleByAdaDeltaState(NamedTuple):
    e_g: Any                # moving average of the squared gradients
    e_x: Any                # moving average of the squared updates


@displayed
class ScaleByRpropState(NamedTuple):
    step_sizes: Any
    prev_updates: Any


# ------------------------------------------------------------------ helpers
def _ema(g, m, decay):
    d = as_dtype(decay, g)
    return (1.0 - d) * g + d * m


def _empty(params):
    return EmptyState()


# ------------------------------------------------------------------ building blocks
def identity():
    """Leave the updates unchanged (a no-op transformation)."""
    def update(updates, state, params=None):
        return updates, state
    return GradientTransformation(_empty, update)


def scale_by_adam(b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype=None, *, nesterov=False):
    """Adam's rescaling: `mu_hat / (sqrt(nu_hat + eps_root) + eps)` with bias-corrected
    moving averages of `g` and `g**2` (Nesterov's look-ahead mean with `nesterov`)."""
    def init(params):
        return ScaleByAdamState(zero_count(), zeros_like(params, dtype=mu_dtype),
                                zeros_like(params))

    def update(updates, state, params=None):
        t = step_number(state.count)

        def leaf(g, m, v):
            m = _ema(g, m, b1)
            v = _ema(abs_sq(g), v, b2)
            m_hat = mean_hat(g, m, b1, t, nesterov)
            u = m_hat / (fnp.sqrt(debiased(v, b2, t) + as_dtype(eps_root, g)) +
                         as_dtype(eps, g))
            return u, tree_cast(m, mu_dtype), v
        updates, mu, nu = leafwise(leaf, updates, state.mu, state.nu, outputs=3)
        return updates, ScaleByAdamState(state.count + 1, mu, nu)
    return GradientTransformation(init, update)


def scale_by_amsgrad(b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype=None,
                     bias_correction_mu=True, bias_correction_nu=True):
    """AMSGrad's rescaling: Adam's, dividing by the running maximum of the (bias-corrected)
    second moment."""
    def init(params):
        return ScaleByAmsgradState(zero_count(), zeros_like(params, dtype=mu_dtype),
                                   zeros_like(params), zeros_like(params))

    def update(updates, state, params=None):
        t = step_number(state.count)

        def leaf(g, m, v, vmax):
            m = _ema(g, m, b1)
            v = _ema(abs_sq(g), v, b2)
            m_hat = debiased(m, b1, t) if bias_correction_mu else m
            vmax = fnp.maximum(vmax, debiased(v, b2, t) if bias_correction_nu else v)
            u = m_hat / (fnp.sqrt(vmax + as_dtype(eps_root, g)) + as_dtype(eps, g))
            return u, tree_cast(m, mu_dtype), v, vmax
        updates, mu, nu, nu_max = leafwise(leaf, updates, state.mu, state.nu, state.nu_max,
                                           outputs=4)
        return updates, ScaleByAmsgradState(state.count + 1, mu, nu, nu_max)
    return GradientTransformation(init, update)


def scale_by_belief(b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16, *, nesterov=False):
    """AdaBelief's rescaling: Adam's, with the second moment taken of `g - mu` (the
    deviation from the predicted gradient) plus `eps_root`."""
    def init(params):
        return ScaleByBeliefState(zero_count(), zeros_like(params), zeros_like(params))

    def update(updates, state, params=None):
        t = step_number(state.count)

        def leaf(g, m, v):
            m = _ema(g, m, b1)
            v = _ema(abs_sq(g - m), v, b2) + as_dtype(eps_root, g)
            m_hat = mean_hat(g, m, b1, t, nesterov)
            return m_hat / (fnp.sqrt(debiased(v, b2, t)) + as_dtype(eps, g)), m, v
        updates, mu, nu = leafwise(leaf, updates, state.mu, state.nu, outputs=3)
        return updates, ScaleByBeliefState(state.count + 1, mu, nu)
    return GradientTransformation(init, update)


def _rms_scaling(n, eps, eps_in_sqrt):
    return lax.rsqrt(n + eps) if eps_in_sqrt else 1.0 / (fnp.sqrt(n) + eps)


def scale_by_rms(decay=0.9, eps=1e-8, initial_scale=0.0, eps_in_sqrt=True,
                 bias_correction=False):
    """RMSProp's rescaling: `g / sqrt(nu + eps)` (or `/ (sqrt(nu) + eps)`), `nu` the moving
    average of `g**2` starting at `initial_scale`."""
    def init(params):
        nu = zeros_like(params, initial_scale)
        return ScaleByRmsWithCountState(zero_count(), nu) if bias_correction \
            else ScaleByRmsState(nu)

    def update(updates, state, params=None):
        t = step_number(state.count) if bias_correction else None

        def leaf(g, v):
            v = _ema(abs_sq(g), v, decay)
            v_hat = debiased(v, decay, t) if bias_correction else v
            return g * _rms_scaling(v_hat, as_dtype(eps, g), eps_in_sqrt), v
        updates, nu = leafwise(leaf, updates, state.nu, outputs=2)
        if bias_correction:
            return updates, ScaleByRmsWithCountState(state.count + 1, nu)
        return updates, ScaleByRmsState(nu)
    return GradientTransformation(init, update)


def scale_by_stddev(decay=0.9, eps=1e-8, initial_scale=0.0, eps_in_sqrt=True,
                    bias_correction=False):
    """Centered RMSProp's rescaling: `g / sqrt(nu - mu**2 + eps)`, `mu` and `nu` the moving
    averages of `g` and `g**2`."""
    def init(params):
        mu, nu = zeros_like(params), zeros_like(params, initial_scale)
        return ScaleByRStdDevWithCountState(zero_count(), mu, nu) if bias_correction \
            else ScaleByRStdDevState(mu, nu)

    def update(updates, state, params=None):
        t = step_number(state.count) if bias_correction else None

        def leaf(g, m, v):
            m = _ema(g, m, decay)
            v = _ema(abs_sq(g), v, decay)
            m_hat, v_hat = (debiased(m, decay, t), debiased(v, decay, t)) if bias_correction \
                else (m, v)
            return g * _rms_scaling(v_hat - abs_sq(m_hat), as_dtype(eps, g), eps_in_sqrt), \
                m, v
        updates, mu, nu = leafwise(leaf, updates, state.mu, state.nu, outputs=3)
        if bias_correction:
            return updates, ScaleByRStdDevWithCountState(state.count + 1, mu, nu)
        return updates, ScaleByRStdDevState(mu, nu)
    return GradientTransformation(init, update)


def scale_by_trust_ratio(min_norm=0.0, trust_coefficient=1.0, eps=0.0):
    """LARS/LAMB's layer-wise scaling of each update by
    `trust_coefficient * |p| / (|u| + eps)` (1 where either norm is 0)."""
    def update(updates, state, params=None):
        require_params(params, "scale_by_trust_ratio")

        def leaf(u, p):
            p_norm = fnp.maximum(fnp.sqrt(fnp.sum(abs_sq(p))), as_dtype(min_norm, p))
            u_norm = fnp.maximum(fnp.sqrt(fnp.sum(abs_sq(u))), as_dtype(min_norm, u))
            zero = (p_norm == 0.0) | (u_norm == 0.0)
            denom = fnp.where(zero, lax.full_like(u_norm, 1.0), u_norm + as_dtype(eps, u))
            ratio = as_dtype(trust_coefficient, u) * p_norm / denom
            return (u * fnp.where(zero, lax.full_like(ratio, 1.0), ratio),)
        return leafwise(leaf, updates, params, outputs=1)[0], state
    return GradientTransformation(_empty, update)


def trace(decay, nesterov=False, accumulator_dtype=None):
    """Momentum: `t = g + decay * t`; the update is `t` (or `g + decay * t` with
    `nesterov`)."""
    def init(params):
        return TraceState(zeros_like(params, dtype=accumulator_dtype))

    def update(updates, state, params=None):
        def leaf(g, tr):
            d = as_dtype(decay, g)
            tr = g + d * tr
            return (g + d * tr if nesterov else tr), tree_cast(tr, accumulator_dtype)
        updates, tr = leafwise(leaf, updates, state.trace, outputs=2)
        return updates, TraceState(tr)
    return GradientTransformation(init, update)


def scale_by_learning_rate(learning_rate=None, *, flip_sign=True):
    """Multiply the updates by `-learning_rate` (`+` without `flip_sign`); the rate may be a
    number, an array or a schedule of the step count; None gives `identity()`."""
    if learning_rate is None:
        return identity()
    sign = -1.0 if flip_sign else 1.0
    if callable(learning_rate):
        return scale_by_schedule(lambda count: sign * learning_rate(count))
    return scale(sign * learning_rate)


def clip(max_delta):
    """Clip each update element to `[-max_delta, max_delta]`."""
    def update(updates, state, params=None):
        return tree_map(lambda g: fnp.clip(g, -as_dtype(max_delta, g),
                                           as_dtype(max_delta, g)), updates), state
    return GradientTransformation(_empty, update)


@displayed
class ScaleByOptimisticGradientState(NamedTuple):
    is_initial_step: Any
    previous_gradient: Any


def scale_by_optimistic_gradient(alpha=1.0, beta=1.0):
    """Optax's `scale_by_optimistic_gradient`: `(alpha + beta) * g - beta * g_previous` (the
    current gradient stands for the previous one at the first step)."""
    def init(params):
        return ScaleByOptimisticGradientState(fnp.asarray(True), zeros_like(params))

    def update(updates, state, params=None):
        def leaf(g, prev):
            return (alpha + beta) * g - beta * fnp.where(state.is_initial_step, g, prev), g
        updates, previous = leafwise(leaf, updates, state.previous_gradient, outputs=2)
        return updates, ScaleByOptimisticGradientState(fnp.asarray(False), previous)
    return GradientTransformation(init, update)


def scale_by_sign():
    """Replace each update element by its sign."""
    def update(updates, state, params=None):
        return tree_map(fnp.sign, updates), state
    return GradientTransformation(_empty, update)


def ema(decay, debias=True, accumulator_dtype=None):
    """The updates' exponential moving average `e = (1 - decay) * g + decay * e`, divided by
    `1 - decay ** t` with `debias`."""
    def init(params):
        return EmaState(zero_count(), zeros_like(params, dtype=accumulator_dtype))

    def update(updates, state, params=None):
        t = step_number(state.count)

        def leaf(g, e):
            e = _ema(g, e, decay)
            return (debiased(e, decay, t) if debias else e), tree_cast(e, accumulator_dtype)
        updates, e = leafwise(leaf, updates, state.ema, outputs=2)
        return updates, EmaState(state.count + 1, e)
    return GradientTransformation(init, update)


def zero_nans():
    """Replace NaNs in the updates by 0; the state records, per leaf, whether any was found."""
    def init(params):
        return ZeroNansState(tree_map(lambda p: fnp.asarray(False), params))

    def update(updates, state, params=None):
        found = tree_map(lambda g: fnp.any(fnp.isnan(g)), updates)
        return (tree_map(lambda g: fnp.where(fnp.isnan(g), lax.full_like(g, 0), g), updates),
                ZeroNansState(found))
    return GradientTransformation(init, update)


def keep_params_nonnegative():
    """Change each update that would take a parameter below 0 to `-p` (the parameter lands
    on 0)."""
    def init(params):
        return NonNegativeParamsState()

    def update(updates, state, params=None):
        require_params(params, "keep_params_nonnegative")
        return leafwise(lambda u, p: (fnp.where(p + u < 0.0, -p, u),), updates, params,
                        outputs=1)[0], state
    return GradientTransformation(init, update)


def scale_by_novograd(b1=0.9, b2=0.25, eps=1e-8, eps_root=0.0, weight_decay=0.0,
                      mu_dtype=None):
    """NovoGrad's rescaling: per leaf, `nu = b2 * nu + (1 - b2) * |g|**2` (`|g|**2` on the
    first step), `mu = b1 * mu + g / (sqrt(nu + eps_root) + eps) + weight_decay * p` (without
    `b1 * mu` on the first step); the update is `mu`."""
    def init(params):
        nu = tree_map(lambda p: None if is_buffer(p) else lax.full_like(p, 0, shape=()),
                      params, is_leaf=is_buffer)
        return ScaleByNovogradState(zero_count(), zeros_like(params, dtype=mu_dtype), nu)

    def update(updates, state, params=None):
        decay = not isinstance(weight_decay, (int, float)) or weight_decay != 0
        if decay:
            require_params(params, "scale_by_novograd with weight_decay")
        first = state.count == 0
        leaves, treedef = tree_flatten(updates, is_buffer)
        others = [[None] * len(leaves) if t is None else treedef.flatten_up_to(t)
                  for t in (params, state.mu, state.nu)]
        mus, nus = [], []
        for g, p, m, n in zip(leaves, *others):
            if is_buffer(g):
                mus.append(None)
                nus.append(None)
                continue
            sq = fnp.sum(abs_sq(g)).astype(n.dtype)
            n = fnp.where(first, sq, _ema(sq, n, b2))
            step = g / (fnp.sqrt(n + as_dtype(eps_root, n)) + as_dtype(eps, n)).astype(g.dtype)
            if decay:
                step = step + as_dtype(weight_decay, g) * p
            m = fnp.where(first, step, as_dtype(b1, g) * m + step)
            mus.append(tree_cast(m, mu_dtype))
            nus.append(n)
        mu = treedef.unflatten(mus)
        return mu, ScaleByNovogradState(state.count + 1, mu, treedef.unflatten(nus))
    return GradientTransformation(init, update)


def scale_by_rss(initial_accumulator_value=0.1, eps=1e-7):
    """Adagrad's rescaling: `s += g**2` (from `initial_accumulator_value`), the update
    `g / sqrt(s + eps)` (0 where `s` is 0)."""
    def init(params):
        return ScaleByRssState(zeros_like(params, initial_accumulator_value))

    def update(updates, state, params=None):
        def leaf(g, s):
            s = abs_sq(g) + s
            inv = fnp.where(s > 0, lax.rsqrt(s + as_dtype(eps, g)), lax.full_like(s, 0.0))
            return inv * g, s
        updates, s = leafwise(leaf, updates, state.sum_of_squares, outputs=2)
        return updates, ScaleByRssState(s)
    return GradientTransformation(init, update)


def scale_by_adamax(b1=0.9, b2=0.999, eps=1e-8):
    """Adamax's rescaling: `mu_hat / nu`, `mu` the bias-corrected moving average of `g`
    and `nu = max(|g| + eps, b2 * nu)` (an infinity norm, not bias-corrected). The state is
    Optax's `ScaleByAdamState(count, mu, nu)`."""
    def init(params):
        return ScaleByAdamState(zero_count(), zeros_like(params), zeros_like(params))

    def update(updates, state, params=None):
        t = step_number(state.count)

        def leaf(g, m, v):
            m = _ema(g, m, b1)
            v = fnp.maximum(fnp.abs(g) + as_dtype(eps, g), as_dtype(b2, g) * v)
            return debiased(m, b1, t) / v, m, v
        updates, mu, nu = leafwise(leaf, updates, state.mu, state.nu, outputs=3)
        return updates, ScaleByAdamState(state.count + 1, mu, nu)
    return GradientTransformation(init, update)


_LION_MODES = ("hard", "smooth", "refined")


def scale_by_lion(b1=0.9, b2=0.99, mu_dtype=None, *, mode="hard", smooth_beta=1.0):
    """Lion's rescaling: the update is `sign(c)` with `c = (1 - b1) * g + b1 * mu` (with
    `mode="smooth"` `tanh(smooth_beta * c)`, with `"refined"` `c` clipped to `[-1, 1]` by
    its sign), then `mu = (1 - b2) * g + b2 * mu`."""
    if mode not in _LION_MODES:
        raise ValueError(f"scale_by_lion: mode must be one of {list(_LION_MODES)}, "
                         f"got {mode!r}")

    def init(params):
        return ScaleByLionState(zero_count(), zeros_like(params, dtype=mu_dtype))

    def direction(c):
        if mode == "hard":
            return fnp.sign(c)
        if mode == "smooth":
            return fnp.tanh(as_dtype(smooth_beta, c) * c)
        return fnp.where(fnp.abs(c) < 1.0, c, fnp.sign(c))

    def update(updates, state, params=None):
        def leaf(g, m):
            return direction(_ema(g, m, b1)), tree_cast(_ema(g, m, b2), mu_dtype)
        updates, mu = leafwise(leaf, updates, state.mu, outputs=2)
        return updates, ScaleByLionState(state.count + 1, mu)
    return GradientTransformation(init, update)


def _rectification(b2, threshold, t):
    """RAdam's `r` at step `t` (in t's dtype, as Optax computes it) and whether
    `ro >= threshold`."""
    b2_ = as_dtype(b2, t)
    ro_inf = 2.0 / (1.0 - b2_) - 1.0
    b2t = lax.pow(b2_, t)
    ro = ro_inf - 2.0 * t * b2t / (1.0 - b2t)
    r2 = (ro - 4.0) * (ro - 2.0) * ro_inf / ((ro_inf - 4.0) * (ro_inf - 2.0) * ro)
    # NaN (as Optax's sqrt gives) for 2 < ro < 4, without a warning; unused there unless
    # threshold < 4
    r = fnp.where(r2 >= 0.0, fnp.sqrt(fnp.maximum(r2, 0.0)), lax.full_like(r2, np.nan))
    return r, ro >= as_dtype(threshold, t)


def scale_by_radam(b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, threshold=5.0, *,
                   nesterov=False):
    """Rectified Adam's rescaling: with `ro = ro_inf - 2 t b2**t / (1 - b2**t)` and
    `ro_inf = 2 / (1 - b2) - 1`, Adam's update times the rectification
    `r = sqrt((ro - 4)(ro - 2) ro_inf / ((ro_inf - 4)(ro_inf - 2) ro))` once `ro >= threshold`,
    before that the bias-corrected mean alone. The state is `ScaleByAdamState`."""
    def init(params):
        return ScaleByAdamState(zero_count(), zeros_like(params), zeros_like(params))

    def update(updates, state, params=None):
        t = step_number(state.count)

        def leaf(g, m, v):
            m = _ema(g, m, b1)
            v = _ema(abs_sq(g), v, b2)
            m_hat = mean_hat(g, m, b1, t, nesterov)
            r, rectified = _rectification(b2, threshold, step_like(t, g))
            adaptive = as_dtype(r, m_hat) * m_hat / (
                fnp.sqrt(debiased(v, b2, t) + as_dtype(eps_root, g)) + as_dtype(eps, g))
            return fnp.where(rectified, adaptive, m_hat), m, v
        updates, mu, nu = leafwise(leaf, updates, state.mu, state.nu, outputs=3)
        return updates, ScaleByAdamState(state.count + 1, mu, nu)
    return GradientTransformation(init, update)


def scale_by_adadelta(rho=0.9, eps=1e-6):
    """Adadelta's rescaling: `e_g = (1 - rho) * g**2 + rho * e_g`, the update
    `sqrt(e_x + eps) / sqrt(e_g + eps) * g` (`e_x` the previous moving average of squared
    updates), then `e_x = (1 - rho) * u**2 + rho * e_x`."""
    def init(params):
        return ScaleByAdaDeltaState(zeros_like(params), zeros_like(params))

    def update(updates, state, params=None):
        def leaf(g, e_g, e_x):
            e = as_dtype(eps, g)
            e_g = _ema(g * g, e_g, rho)
            u = fnp.sqrt(e_x + e) / fnp.sqrt(e_g + e) * g
            return u, e_g, _ema(u * u, e_x, rho)
        updates, e_g, e_x = leafwise(leaf, updates, state.e_g, state.e_x, outputs=3)
        return updates, ScaleByAdaDeltaState(e_g, e_x)
    return GradientTransformation(init, update)


def scale_by_rprop(learning_rate, eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6,
                   max_step_size=50.0):
    """Rprop's rescaling: each element's step size (from `learning_rate`) is multiplied by
    `eta_plus` while `g * prev` > 0 and by `eta_minus` when it is < 0, clipped to
    `[min_step_size, max_step_size]` (kept as is when it is 0). The stored `prev_updates`
    is `step size * sign(g)` (0 on a sign flip); as in Optax 0.2.8, the update returned is
    the stored value of the step before (0 on a sign flip), so the first update is 0."""
    def init(params):
        return ScaleByRpropState(zeros_like(params, learning_rate), zeros_like(params))

    def update(updates, state, params=None):
        def leaf(g, size, prev):
            s = g * prev
            factor = fnp.where(s > 0, lax.full_like(size, 0.0) + as_dtype(eta_plus, size),
                               lax.full_like(size, 0.0) + as_dtype(eta_minus, size))
            grown = fnp.clip(size * factor, as_dtype(min_step_size, size),
                             as_dtype(max_step_size, size))
            size = fnp.where(s == 0, size, grown)
            zero = lax.full_like(g, 0.0)
            # Optax's update is the previous step's signed step size (0 on a sign flip), one
            # step behind the one stored
            return fnp.where(s < 0, zero, prev), size, fnp.where(s < 0, zero,
                                                                 size * fnp.sign(g))
        updates, sizes, prev = leafwise(leaf, updates, state.step_sizes, state.prev_updates,
                                        outputs=3)
        return updates, ScaleByRpropState(sizes, prev)
    return GradientTransformation(init, update)


# ------------------------------------------------------------------ Optax's optimizers
def amsgrad(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype=None,
            bias_correction_mu=True, bias_correction_nu=True):
    """Optax's amsgrad: `chain(scale_by_amsgrad(...), scale_by_learning_rate(lr))` (the
    maximum is taken of the bias-corrected second moment, unlike `adam(amsgrad=True)`)."""
    return chain(scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype, bias_correction_mu,
                                  bias_correction_nu),
                 scale_by_learning_rate(learning_rate))


def adabelief(learning_rate, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16, *, nesterov=False):
    """Optax's adabelief: `chain(scale_by_belief(...), scale_by_learning_rate(lr))`."""
    return chain(scale_by_belief(b1, b2, eps, eps_root, nesterov=nesterov),
                 scale_by_learning_rate(learning_rate))


def lamb(learning_rate, b1=0.9, b2=0.999, eps=1e-6, eps_root=0.0, weight_decay=0.0, mask=None):
    """Optax's lamb: Adam's rescaling plus decoupled weight decay, each layer's update then
    scaled by the trust ratio `|p| / |u|`, times `-learning_rate`."""
    return chain(scale_by_adam(b1, b2, eps, eps_root),
                 add_decayed_weights(weight_decay, mask),
                 scale_by_trust_ratio(),
                 scale_by_learning_rate(learning_rate))


def lars(learning_rate, weight_decay=0.0, weight_decay_mask=True, trust_coefficient=0.001,
         eps=0.0, trust_ratio_mask=True, momentum=0.9, nesterov=False):
    """Optax's lars: weight decay, the trust ratio `trust_coefficient * |p| / (|u| + eps)`
    (each under its mask), `-learning_rate`, then momentum (`trace`)."""
    return chain(add_decayed_weights(weight_decay, weight_decay_mask),
                 masked(scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps),
                        trust_ratio_mask),
                 scale_by_learning_rate(learning_rate),
                 trace(momentum, nesterov))


def novograd(learning_rate, b1=0.9, b2=0.25, eps=1e-6, eps_root=0.0, weight_decay=0.0):
    """Optax's novograd: `chain(scale_by_novograd(...), scale_by_learning_rate(lr))`."""
    return chain(scale_by_novograd(b1, b2, eps, eps_root, weight_decay),
                 scale_by_learning_rate(learning_rate))
