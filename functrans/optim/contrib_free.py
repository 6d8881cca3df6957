"""Optax's learning-rate-free and wrapper optimizers of `optax.contrib` under its names,
signatures, defaults and state classes, with Optax 0.2.8's math: COCOB (`cocob`), DoG and
DoWG (`dog`, `dowg`), D-Adaptation (`dadapt_adamw`), Prodigy (`prodigy`), MoMo (`momo`,
`momo_adam`, which take the loss: `update(grads, state, params, value=loss)`), Mechanic
(`mechanize`), schedule-free learning (`schedule_free` and its SGD and AdamW forms, with
`schedule_free_eval_params` for the point to evaluate at) and differentially private SGD
(`differentially_private_aggregate` of per-example gradients, `dpsgd`):

    opt = optax.contrib.prodigy()
    state = opt.init(params)
    updates, state = opt.update(grads, state, params)

Scalar states (distance estimates, step sizes) take the lowest floating dtype of the
parameters. Buffers (functrans.buffers) among the parameters get None in the states and no
update."""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import random
from .. import numpy as fnp
from ..buffers import map_arrays
from ..primitives._util import dtype_of, shape_of
from ..tree_util import tree_flatten, tree_map
from .base import (GradientTransformation, GradientTransformationExtraArgs, displayed,
                   require_params, with_extra_args_support)
from .blocks import identity, scale_by_learning_rate, scale_by_rms, trace
from .extras import canonical_key, per_example_global_norm_clip, safe_increment
from .leafwise import as_dtype, buffers_to_none, leafwise, zero_count, zeros_like
from .transforms import add_decayed_weights, chain
from .tree_utils import (tree_cast, tree_dtype, tree_norm, tree_scale, tree_sub, tree_sum,
                         tree_vdot, tree_where)

__all__ = ["COCOBState", "scale_by_cocob", "cocob", "DoGState", "dog", "DoWGState", "dowg",
           "DAdaptAdamWState", "dadapt_adamw", "ProdigyState", "prodigy", "MomoState", "momo",
           "MomoAdamState", "momo_adam", "MechanicState", "mechanize", "ScheduleFreeState",
           "schedule_free", "schedule_free_sgd", "schedule_free_adamw",
           "schedule_free_eval_params", "DifferentiallyPrivateAggregateState",
           "differentially_private_aggregate", "dpsgd"]


@displayed
class COCOBState(NamedTuple):
    init_particles: Any
    cumulative_gradients: Any
    scale: Any
    subgradients: Any
    reward: Any


@displayed
class DoGState(NamedTuple):
    is_init_step: Any
    init_params: Any
    max_dist: Any
    sum_sq_norm_grads: Any


@displayed
class DoWGState(NamedTuple):
    init_params: Any
    weighted_sq_norm_grads: Any
    estim_sq_dist: Any


@displayed
class DAdaptAdamWState(NamedTuple):
    exp_avg: Any
    exp_avg_sq: Any
    grad_sum: Any           # moving average of the D-scaled gradients
    estim_lr: Any           # the distance-to-solution estimate D
    numerator_weighted: Any
    count: Any


@displayed
class ProdigyState(NamedTuple):
    exp_avg: Any
    exp_avg_sq: Any
    grad_sum: Any
    params0: Any            # the initial point
    estim_lr: Any
    numerator_weighted: Any
    count: Any


@displayed
class MomoState(NamedTuple):
    exp_avg: Any
    barf: Any               # moving average of the loss
    gamma: Any              # moving average of <g, p>
    lb: Any                 # the lower bound on the loss
    count: Any


@displayed
class MomoAdamState(NamedTuple):
    exp_avg: Any
    exp_avg_sq: Any
    barf: Any
    gamma: Any
    lb: Any
    count: Any


@displayed
class MechanicState(NamedTuple):
    base_optimizer_state: Any
    count: Any
    r: Any
    m: Any
    v: Any
    s: Any
    x0: Any


@displayed
class ScheduleFreeState(NamedTuple):
    b1: Any
    weight_sum: Any
    step_count: Any
    max_lr: Any
    base_optimizer_state: Any
    z: Any


@displayed
class DifferentiallyPrivateAggregateState(NamedTuple):
    rng_key: Any


# ------------------------------------------------------------------ helpers
def _lowest_dtype(params):
    return tree_dtype(params, "lowest")


def _need_value(value, name):
    if value is None:
        raise ValueError(f"{name} needs the latest loss: call opt.update(grads, state, params, "
                         "value=loss), with the loss from ft.value_and_grad")


def _check_shapes(updates, *trees):
    """Raise leafwise's error naming the leaf where a tree's shapes differ from the
    updates'."""
    leafwise(lambda *leaves: (None,), updates, *trees, outputs=1)


def _at(learning_rate, count, like):
    """The learning rate (a number, or a schedule's value in the dtype of `like`)."""
    return as_dtype(learning_rate(count), like) if callable(learning_rate) else learning_rate


def _adam_bias_ratio(b1, b2, count, dtype):
    """`sqrt(1 - b2**t) / (1 - b1**t)` at step `t = count`, in `dtype`."""
    t = count.astype(dtype)
    return fnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)


def _decay_or_identity(weight_decay, mask):
    return identity() if weight_decay is None else add_decayed_weights(weight_decay, mask)


# ------------------------------------------------------------------ COCOB
def scale_by_cocob(alpha=100.0, eps=1e-8):
    """COCOB-Backprop's rescaling (Orabona & Tommasi 2017, Algorithm 2): per element, the
    largest gradient magnitude `L` (from `eps`), the sum `G` of magnitudes, the reward `R`
    and the negative gradient sum `C` set the new point `p0 + C / (L max(G + L, alpha L))
    (L + R)`; the update moves the parameters there."""
    def init(params):
        params = buffers_to_none(params)
        zeros = zeros_like(params)
        return COCOBState(params, zeros, zeros_like(params, eps), zeros, zeros)

    def update(updates, state, params=None):
        require_params(params, "scale_by_cocob")

        def leaf(g, p, p0, total, largest, magnitudes, reward):
            largest = fnp.maximum(largest, fnp.abs(g))
            magnitudes = magnitudes + fnp.abs(g)
            reward = fnp.maximum(reward - g * (p - p0), 0)
            total = total - g
            bet = total / (largest * fnp.maximum(magnitudes + largest, alpha * largest))
            return -p + (p0 + bet * (largest + reward)), total, largest, magnitudes, reward
        u, total, largest, magnitudes, reward = leafwise(
            leaf, buffers_to_none(updates), buffers_to_none(params), state.init_particles,
            state.cumulative_gradients, state.scale, state.subgradients, state.reward,
            outputs=5)
        return u, COCOBState(state.init_particles, total, largest, magnitudes, reward)
    return GradientTransformation(init, update)


def cocob(learning_rate=1.0, alpha=100.0, eps=1e-8, weight_decay=0.0, mask=None):
    """Optax's cocob: decayed weights added to the gradient (`mask` limits them), the
    gradient times `learning_rate` (no sign flip; 1 leaves it learning-rate free), then
    `scale_by_cocob(alpha, eps)`."""
    return chain(add_decayed_weights(weight_decay, mask),
                 scale_by_learning_rate(learning_rate, flip_sign=False),
                 scale_by_cocob(alpha, eps))


# ------------------------------------------------------------------ DoG, DoWG
_DOG_INIT_STEPS = ("distance", "learning_rate", "heuristic")


def _scale_by_dog(init_step, eps):
    """DoG's global step size `max_k |x_k - x_0| / sqrt(sum_k |g_k|**2 + eps)` (Ivgi et al.
    2023), the first distance set by `init_step`."""
    kind, value = init_step

    def init(params):
        params = buffers_to_none(params)
        if kind == "distance":
            r_eps = value
        elif kind == "heuristic":
            r_eps = value * (1 + tree_norm(params))
        else:
            r_eps = 0.0
        dtype = _lowest_dtype(params)
        return DoGState(fnp.asarray(True), params, fnp.asarray(r_eps, dtype=dtype),
                        fnp.zeros((), dtype))

    def update(updates, state, params=None):
        require_params(params, "dog")
        updates, dtype = buffers_to_none(updates), dtype_of(state.max_dist)
        _check_shapes(updates, params, state.init_params)
        dist = tree_norm(tree_sub(state.init_params, buffers_to_none(params)))
        max_dist = fnp.maximum(state.max_dist, dist).astype(dtype)
        sum_sq = (state.sum_sq_norm_grads + tree_norm(updates, squared=True)).astype(dtype)
        lr = max_dist / fnp.sqrt(sum_sq + eps)
        if kind == "learning_rate":
            lr = fnp.where(state.is_init_step, value, lr)
        return tree_scale(lr, updates), DoGState(fnp.asarray(False), state.init_params,
                                                 max_dist, sum_sq)
    return GradientTransformation(init, update)


def dog(learning_rate=1.0, init_step=("heuristic", 1e-6), eps=1e-8, weight_decay=None,
        mask=None):
    """Optax's dog (Distance over Gradients, Ivgi et al. 2023): decayed weights added when
    `weight_decay` is given (`mask` limits them), then the step size
    `max_{k<=t} |x_k - x_0| / sqrt(sum_{k<=t} |g_k|**2 + eps)` and `-learning_rate`.
    `init_step` is `("distance", r0)` (the first distance), `("learning_rate", lr0)` (the
    first step size) or `("heuristic", a)` (`r0 = a (1 + |x_0|)`; `init` needs the real
    parameters then)."""
    if (not isinstance(init_step, (tuple, list)) or len(init_step) != 2
            or init_step[0] not in _DOG_INIT_STEPS):
        raise ValueError(f"dog: init_step must be a pair (kind, value) with kind one of "
                         f"{list(_DOG_INIT_STEPS)}, got {init_step!r}")
    return chain(_decay_or_identity(weight_decay, mask), _scale_by_dog(tuple(init_step), eps),
                 scale_by_learning_rate(learning_rate))


def _scale_by_dowg(init_estim_sq_dist, eps):
    """DoWG's global step size `r2 / (sqrt(sum_k r2_k |g_k|**2) + eps)`, `r2` the largest
    squared distance from the initial point so far (Khaled et al. 2023)."""
    def init(params):
        params = buffers_to_none(params)
        dtype = _lowest_dtype(params)
        first = eps if init_estim_sq_dist is None else init_estim_sq_dist
        return DoWGState(params, fnp.zeros((), dtype), fnp.asarray(first, dtype=dtype))

    def update(updates, state, params=None):
        require_params(params, "dowg")
        updates, dtype = buffers_to_none(updates), dtype_of(state.estim_sq_dist)
        _check_shapes(updates, params, state.init_params)
        sq_dist = tree_norm(tree_sub(state.init_params, buffers_to_none(params)), squared=True)
        estim = fnp.maximum(state.estim_sq_dist, sq_dist).astype(dtype)
        weighted = (estim * tree_norm(updates, squared=True)
                    + state.weighted_sq_norm_grads).astype(dtype)
        lr = estim / (fnp.sqrt(weighted) + eps)
        return tree_scale(lr, updates), DoWGState(state.init_params, weighted, estim)
    return GradientTransformation(init, update)


def dowg(learning_rate=1.0, init_estim_sq_dist=None, eps=1e-4, weight_decay=None, mask=None):
    """Optax's dowg (Distance over Weighted Gradients, Khaled et al. 2023): decayed weights
    added when `weight_decay` is given, then the step size `r2_t / (sqrt(sum_{k<=t} r2_k
    |g_k|**2) + eps)`, `r2_t` the largest squared distance from the initial point (starting
    at `init_estim_sq_dist`, `eps` when None), and `-learning_rate`."""
    return chain(_decay_or_identity(weight_decay, mask),
                 _scale_by_dowg(init_estim_sq_dist, eps),
                 scale_by_learning_rate(learning_rate))


# ------------------------------------------------------------------ D-Adaptation, Prodigy
def dadapt_adamw(learning_rate=1.0, betas=(0.9, 0.999), eps=1e-8, estim_lr0=1e-6,
                 weight_decay=0.0):
    """Optax's dadapt_adamw (Defazio & Mishchenko 2023): AdamW whose base step size `D`
    (from `estim_lr0`) grows to an estimate of the distance to the solution;
    `learning_rate` (a number or a schedule, 1 as its peak) multiplies it."""
    b1, b2 = betas
    sb2 = b2 ** 0.5

    def init(params):
        params = buffers_to_none(params)
        dtype, zeros = _lowest_dtype(params), zeros_like(params)
        return DAdaptAdamWState(zeros, zeros, zeros, fnp.asarray(estim_lr0, dtype=dtype),
                                fnp.zeros((), dtype), zero_count())

    def update(updates, state, params=None, **extra_args):
        require_params(params, "dadapt_adamw")
        updates, params = buffers_to_none(updates), buffers_to_none(params)
        dtype = dtype_of(state.numerator_weighted)
        count = safe_increment(state.count)
        dlr = (state.estim_lr * _at(learning_rate, state.count, state.estim_lr)
               * _adam_bias_ratio(b1, b2, count, dtype)).astype(dtype)

        def leaf(g, m, v, s, p):
            weighted_sum = s / (fnp.sqrt(v) + eps)
            m = b1 * m + (1 - b1) * dlr * g
            v = b2 * v + (1 - b2) * g * g
            s = sb2 * s + (1 - sb2) * dlr * g
            return -weight_decay * dlr * p - m / (fnp.sqrt(v) + eps), m, v, s, weighted_sum
        u, m, v, s, weighted_sum = leafwise(leaf, updates, state.exp_avg, state.exp_avg_sq,
                                            state.grad_sum, params, outputs=5)
        numerator_acum = tree_vdot(updates, weighted_sum)
        numerator = sb2 * state.numerator_weighted + (1 - sb2) * dlr * numerator_acum
        estimate = numerator / ((1 - sb2) * tree_sum(tree_map(fnp.abs, s)))
        estim_lr = fnp.maximum(state.estim_lr, estimate)
        return u, DAdaptAdamWState(m, v, s, estim_lr, numerator, count)
    return GradientTransformationExtraArgs(init, update)


def prodigy(learning_rate=1.0, betas=(0.9, 0.999), beta3=None, eps=1e-8, estim_lr0=1e-6,
            estim_lr_coef=1.0, weight_decay=0.0, safeguard_warmup=False):
    """Optax's prodigy (Mishchenko & Defazio 2023): Adam on gradients scaled by a step size
    `D` (from `estim_lr0`) that grows to an estimate of the distance to the solution,
    `estim_lr_coef` times it; `beta3` (default `sqrt(b2)`) averages the estimate's terms;
    `safeguard_warmup` leaves the learning rate out of them."""
    b1, b2 = betas
    b3 = b2 ** 0.5 if beta3 is None else beta3

    def init(params):
        params = buffers_to_none(params)
        dtype, zeros = _lowest_dtype(params), zeros_like(params)
        return ProdigyState(zeros, zeros, zeros, params, fnp.asarray(estim_lr0, dtype=dtype),
                            fnp.zeros((), dtype), zero_count())

    def update(updates, state, params=None, **extra_args):
        require_params(params, "prodigy")
        updates, params = buffers_to_none(updates), buffers_to_none(params)
        d = state.estim_lr
        count = safe_increment(state.count)
        dlr = (d * _at(learning_rate, state.count, d)
               * _adam_bias_ratio(b1, b2, count, dtype_of(d))).astype(dtype_of(d))
        sum_scale = d if safeguard_warmup else dlr

        def leaf(g, m, v, s, p):
            dg = d * g
            m = b1 * m + (1 - b1) * dg
            v = b2 * v + (1 - b2) * dg * dg
            s = b3 * s + sum_scale * dg / estim_lr0
            return -weight_decay * dlr * p - dlr * m / (fnp.sqrt(v) + d * eps), m, v, s
        u, m, v, s = leafwise(leaf, updates, state.exp_avg, state.exp_avg_sq, state.grad_sum,
                              params, outputs=4)
        numerator_acum = tree_vdot(updates, tree_sub(state.params0, params))
        numerator = b3 * state.numerator_weighted + (d / estim_lr0) * dlr * numerator_acum
        estimate = estim_lr_coef * numerator / tree_sum(tree_map(fnp.abs, s))
        return u, ProdigyState(m, v, s, state.params0, fnp.maximum(d, estimate), numerator,
                               count)
    return GradientTransformationExtraArgs(init, update)


# ------------------------------------------------------------------ MoMo
def _momo_step(alpha, weight_decay, barf, gamma, iprod, lb, sq_norm, lb_scale, max_step):
    """MoMo's Polyak-type step `min(max_step, max(0, (1 + a wd)(barf - lb_scale lb - gamma)
    + iprod) / sq_norm)`, 0 where `sq_norm` is at most the float64 epsilon."""
    gap = (1 + alpha * weight_decay) * (barf - lb_scale * lb - gamma) + iprod
    tiny = sq_norm <= np.finfo(float).eps
    t1 = fnp.maximum(gap, 0.0) / fnp.where(tiny, fnp.ones_like(sq_norm), sq_norm)
    return fnp.minimum(max_step, fnp.where(tiny, fnp.zeros_like(t1), t1))


def _momo_lower_bound(alpha, weight_decay, barf, gamma, iprod, lb, lower_bound, lb_scale):
    """The lower bound reset when the model's value drops below it (`adapt_lower_bound`)."""
    shrink = 1 + alpha * weight_decay
    cap = shrink * (barf - gamma) + iprod
    return fnp.where(cap < shrink * lb_scale * lb,
                     fnp.maximum(cap / (2 * lb_scale * shrink), lower_bound), lb)


def momo(learning_rate=1.0, beta=0.9, lower_bound=0.0, weight_decay=0.0,
         adapt_lower_bound=False):
    """Optax's momo (Schaipp et al. 2023, model-based momentum): heavy-ball momentum whose
    step is the smaller of `learning_rate` and a Polyak step from moving averages of the
    loss, the gradients and `<g, p>` against `lower_bound` (raised as the loss falls when
    `adapt_lower_bound`). Call `opt.update(grads, state, params, value=loss)`."""
    def init(params):
        params = buffers_to_none(params)
        dtype = _lowest_dtype(params)
        return MomoState(zeros_like(params), fnp.zeros((), dtype), fnp.zeros((), dtype),
                         fnp.asarray(lower_bound, dtype=dtype), zero_count())

    def update(updates, state, params, *, value, **extra_args):
        require_params(params, "momo")
        _need_value(value, "momo")
        updates, params = buffers_to_none(updates), buffers_to_none(params)
        dtype = dtype_of(state.barf)
        bt = fnp.where(state.count == 0, fnp.zeros((), dtype), fnp.asarray(beta, dtype=dtype))
        barf = bt * state.barf + (1 - bt) * fnp.asarray(value).astype(dtype)
        exp_avg, = leafwise(lambda g, m, p: (bt * m + (1 - bt) * g,), updates, state.exp_avg,
                            params, outputs=1)
        gamma = bt * state.gamma + (1 - bt) * tree_vdot(updates, params)
        sq_norm = tree_norm(exp_avg, squared=True)
        iprod = tree_vdot(exp_avg, params)
        alpha = _at(learning_rate, state.count, barf)
        lb = state.lb
        if adapt_lower_bound:
            lb = _momo_lower_bound(alpha, weight_decay, barf, gamma, iprod, lb, lower_bound, 1)
        tau = _momo_step(alpha, weight_decay, barf, gamma, iprod, lb, sq_norm, 1, alpha)
        shrink = (alpha * weight_decay) / (1 + alpha * weight_decay)
        u = tree_map(lambda m, p: -shrink * p - tau * m, exp_avg, params)
        new_lb = state.lb
        if adapt_lower_bound:
            new_lb = fnp.maximum((barf + iprod - gamma) - 0.5 * tau * sq_norm, lower_bound)
        return u, MomoState(exp_avg, barf, gamma, new_lb, safe_increment(state.count))
    return GradientTransformationExtraArgs(init, update)


def momo_adam(learning_rate=1e-2, b1=0.9, b2=0.999, eps=1e-8, lower_bound=0.0,
              weight_decay=0.0, adapt_lower_bound=False):
    """Optax's momo_adam: MoMo with Adam's preconditioning (`eps + sqrt(v_hat)`) and bias
    corrections. Call `opt.update(grads, state, params, value=loss)`."""
    def init(params):
        params = buffers_to_none(params)
        dtype, zeros = _lowest_dtype(params), zeros_like(params)
        return MomoAdamState(zeros, zeros, fnp.zeros((), dtype), fnp.zeros((), dtype),
                             fnp.asarray(lower_bound, dtype=dtype), zero_count())

    def update(updates, state, params, *, value, **extra_args):
        require_params(params, "momo_adam")
        _need_value(value, "momo_adam")
        updates, params = buffers_to_none(updates), buffers_to_none(params)
        dtype = dtype_of(state.barf)
        count = safe_increment(state.count)
        t = count.astype(dtype)
        barf = b1 * state.barf + (1 - b1) * fnp.asarray(value).astype(dtype)
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t

        def leaf(g, m, v, p):
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            precond = eps + fnp.sqrt(v / bc2)
            return m, v, m / precond
        exp_avg, exp_avg_sq, weighted = leafwise(
            leaf, updates, state.exp_avg, state.exp_avg_sq, params, outputs=3)
        sq_norm = tree_vdot(exp_avg, weighted)
        gamma = b1 * state.gamma + (1 - b1) * tree_vdot(updates, params)
        iprod = tree_vdot(exp_avg, params)
        alpha = _at(learning_rate, state.count, barf)
        lb = state.lb
        if adapt_lower_bound:
            lb = _momo_lower_bound(alpha, weight_decay, barf, gamma, iprod, lb, lower_bound,
                                   bc1)
        tau = _momo_step(alpha, weight_decay, barf, gamma, iprod, lb, sq_norm, bc1,
                         alpha / bc1)
        shrink = (alpha * weight_decay) / (1 + alpha * weight_decay)
        u = tree_map(lambda w, p: -shrink * p - tau * w, weighted, params)
        new_lb = state.lb
        if adapt_lower_bound:
            new_lb = fnp.maximum(((barf + iprod - gamma) - 0.5 * tau * sq_norm) / bc1,
                                 lower_bound)
        return u, MomoAdamState(exp_avg, exp_avg_sq, barf, gamma, new_lb, count)
    return GradientTransformationExtraArgs(init, update)


# ------------------------------------------------------------------ Mechanic
def mechanize(base_optimizer, weight_decay=1e-2, eps=1e-8, s_init=1e-6, num_betas=6):
    """Optax's mechanize (Mechanic, Cutkosky et al. 2023): learns a scale `s` (a sum over
    `num_betas` coin-betting learners, each from `s_init / num_betas`) for the updates of
    `base_optimizer` (e.g. `adam(1.0)`), counted from the parameters of the first update;
    `weight_decay` acts on the gradients the scale sees."""
    base_optimizer = with_extra_args_support(base_optimizer)

    def init(params):
        arrays = buffers_to_none(params)
        dtype = _lowest_dtype(arrays)
        zeros = fnp.zeros((num_betas,), dtype)
        return MechanicState(base_optimizer.init(params), zero_count(), zeros, zeros, zeros,
                             fnp.full((num_betas,), s_init, dtype), arrays)

    def update(updates, state, params=None, **extra_args):
        require_params(params, "mechanize")
        base_updates, base_state = base_optimizer.update(
            updates, state.base_optimizer_state, params, **extra_args)
        base_updates, updates, params = map(buffers_to_none, (base_updates, updates, params))
        x0 = tree_where(state.count == 0, params, state.x0)
        s_sum = fnp.sum(state.s)
        decay = weight_decay * s_sum * tree_norm(updates) / (tree_norm(params) + eps)
        updates = tree_map(lambda g, p: g + decay * p, updates, params)
        delta_prev = tree_map(lambda p, p0: (p0 - p) / (s_sum + eps), params, x0)
        delta = tree_sub(delta_prev, base_updates)
        h = tree_vdot(updates, delta_prev)
        dtype = dtype_of(state.s)
        betas = fnp.asarray([1.0 - 0.1 ** i for i in range(1, num_betas + 1)], dtype=dtype)
        m = fnp.maximum(betas * state.m, fnp.abs(h) + eps)
        v = betas ** 2 * state.v + h ** 2
        r = betas * state.r + fnp.clip(h, -state.m, state.m) * state.s
        s = ((s_init / num_betas) * m + fnp.maximum(0.0, r)) / (fnp.sqrt(v) + eps)
        s_total = fnp.sum(s)
        moved = tree_map(lambda p0, d, p: (p0 - s_total * d) - p, x0, delta, params)
        return moved, MechanicState(base_state, safe_increment(state.count), r, m, v, s, x0)
    return GradientTransformationExtraArgs(init, update)


# ------------------------------------------------------------------ schedule-free
def schedule_free_eval_params(state, params):
    """The point to evaluate a schedule-free model at, `x = (y - (1 - b1) z) / b1` from the
    training parameters `y` and the state's `z` (buffers stay as they are)."""
    b1, z = getattr(state, "b1", None), getattr(state, "z", None)
    if b1 is None or z is None:
        raise ValueError(f"schedule_free_eval_params needs the ScheduleFreeState of "
                         f"schedule_free (or schedule_free_sgd / _adamw), got "
                         f"{type(state).__name__}; pass that state, not a chain's tuple")
    return map_arrays(lambda p, zi: (p - (1.0 - b1) * zi) / b1, params, z)


def schedule_free(base_optimizer, learning_rate, b1=0.9, weight_lr_power=2.0,
                  state_dtype=None):
    """Optax's schedule_free (Defazio et al. 2024): `base_optimizer` steps a sequence `z`
    (kept in the state, in `state_dtype` if given); the parameters are
    `y = b1 x + (1 - b1) z`, `x` the average of the `z`s weighted by `max_lr**weight_lr_power`.
    Evaluate at `schedule_free_eval_params(state, params)`."""
    base_optimizer = with_extra_args_support(base_optimizer)

    def init(params):
        arrays = buffers_to_none(params)
        dtype = _lowest_dtype(arrays)
        z = tree_map(fnp.copy, tree_cast(arrays, state_dtype))
        return ScheduleFreeState(fnp.asarray(b1, dtype=dtype), fnp.zeros((), dtype),
                                 fnp.ones((), np.int32), fnp.zeros((), dtype),
                                 base_optimizer.init(params), z)

    def update(updates, state, params=None, **extra_args):
        require_params(params, "schedule_free")
        dtype = dtype_of(state.max_lr)
        lr = fnp.asarray(learning_rate(state.step_count)).astype(dtype) \
            if callable(learning_rate) else learning_rate
        max_lr = fnp.maximum(state.max_lr, lr)
        weight = max_lr ** weight_lr_power
        total = state.weight_sum + weight
        ck = fnp.where(fnp.isnan(weight) | fnp.isnan(total), fnp.full_like(weight, np.nan),
                       fnp.nan_to_num(weight / total, nan=0.0, posinf=np.inf))
        base_updates, base_state = base_optimizer.update(
            updates, state.base_optimizer_state, params, **extra_args)
        params = buffers_to_none(params)
        z = tree_map(lambda zi, u: (zi + u).astype(dtype_of(zi)), state.z,
                     buffers_to_none(base_updates))

        def leaf(p, z_old, z_new):
            x = (1.0 - ck) * ((p - (1.0 - b1) * z_old) / b1) + ck * z_new
            return b1 * x + (1.0 - b1) * z_new - p
        moved = tree_map(leaf, params, state.z, z)
        return moved, ScheduleFreeState(state.b1, total, safe_increment(state.step_count),
                                        max_lr, base_state, z)
    return GradientTransformationExtraArgs(init, update)


def _warmed_up(learning_rate, warmup_steps):
    """Optax's warm-up (its schedule's values in the default float dtype, as Optax's)."""
    if warmup_steps is None:
        return learning_rate
    from .optax import warmup_constant_schedule     # that module imports this one
    return warmup_constant_schedule(0.0, learning_rate, warmup_steps)


def schedule_free_sgd(learning_rate=1.0, warmup_steps=None, b1=0.9, weight_decay=None,
                      weight_lr_power=2.0, state_dtype=None):
    """Optax's schedule_free_sgd: `schedule_free` over Optax's `sgd(learning_rate)` (after
    `add_decayed_weights(weight_decay)` when given), the rate warmed up linearly from 0 over
    `warmup_steps` when given."""
    learning_rate = _warmed_up(learning_rate, warmup_steps)
    sgd = chain(identity(), scale_by_learning_rate(learning_rate))
    if weight_decay is not None:
        sgd = chain(add_decayed_weights(weight_decay), sgd)
    return schedule_free(sgd, learning_rate=learning_rate, b1=b1,
                         weight_lr_power=weight_lr_power, state_dtype=state_dtype)


def schedule_free_adamw(learning_rate=0.0025, warmup_steps=None, b1=0.9, b2=0.999, eps=1e-8,
                        weight_decay=0.0, weight_lr_power=2.0, state_dtype=None):
    """Optax's schedule_free_adamw: `schedule_free` over AdamW without momentum
    (`scale_by_rms` with bias correction, decoupled weight decay, the learning rate), the
    rate warmed up linearly from 0 over `warmup_steps` when given."""
    learning_rate = _warmed_up(learning_rate, warmup_steps)
    adamw = chain(scale_by_rms(decay=b2, eps=eps, eps_in_sqrt=False, bias_correction=True),
                  add_decayed_weights(weight_decay), scale_by_learning_rate(learning_rate))
    return schedule_free(adamw, learning_rate=learning_rate, b1=b1,
                         weight_lr_power=weight_lr_power, state_dtype=state_dtype)


# ------------------------------------------------------------------ differential privacy
def differentially_private_aggregate(l2_norm_clip, noise_multiplier, key=None, *, seed=None):
    """DP-SGD's aggregation (Abadi et al. 2016): the gradients carry one example per row of
    axis 0 of every leaf; each example's gradients are clipped to global norm `l2_norm_clip`,
    summed, given Gaussian noise of deviation `l2_norm_clip * noise_multiplier` (from `key`,
    an int seed or a functrans.random key) and divided by the number of examples. `seed` is
    the deprecated name of `key`."""
    key = canonical_key(key, "differentially_private_aggregate", seed)
    noise_std = l2_norm_clip * noise_multiplier

    def init(params):
        return DifferentiallyPrivateAggregateState(fnp.asarray(key))

    def update(updates, state, params=None):
        leaves, treedef = tree_flatten(buffers_to_none(updates))
        clipped, _ = per_example_global_norm_clip(leaves, l2_norm_clip)
        batch = shape_of(leaves[0])[0]
        keys = random.split(state.rng_key, len(leaves) + 1)
        noised = [(g + noise_std * random.normal(keys[i + 1], shape_of(g), dtype_of(g))) / batch
                  for i, g in enumerate(clipped)]
        return treedef.unflatten(noised), DifferentiallyPrivateAggregateState(keys[0])
    return GradientTransformation(init, update)


def dpsgd(learning_rate, l2_norm_clip, noise_multiplier, seed, momentum=None, nesterov=False):
    """Optax's dpsgd: `differentially_private_aggregate(l2_norm_clip, noise_multiplier,
    key=seed)` of per-example gradients, momentum (`trace`) when `momentum` is given, then
    `-learning_rate`."""
    return chain(differentially_private_aggregate(l2_norm_clip, noise_multiplier, key=seed),
                 identity() if momentum is None else trace(decay=momentum, nesterov=nesterov),
                 scale_by_learning_rate(learning_rate))
