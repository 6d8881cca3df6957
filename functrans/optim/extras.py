"""More of Optax's API under its names, signatures, defaults and state classes: the optimizers
yogi, adan, sign_sgd, signum, noisy_sgd, polyak_sgd, optimistic_adam(_v2), fromage, sm3 and
their building blocks; the transformations and wrappers apply_every, centralize,
adaptive_grad_clip, conditionally_mask/transform, snapshot, monitor, measure_with_ema,
named_chain, stateless(_with_tree_map); the per-example clipping functions, the
`MultiSteps` skip functions, `scale_gradient`, and the numerics helpers safe_norm,
safe_increment, incremental_update, periodic_update. Each follows Optax 0.2.8's math:

    opt = optax.chain(optax.scale_by_yogi(), optax.scale_by_learning_rate(1e-2))
"""
from __future__ import annotations

import collections
import functools
import warnings
from typing import Any, NamedTuple

import numpy as np

from .. import lax, random
from .. import numpy as fnp
from ..higher_order.custom_derivatives import custom_vjp
from ..primitives._util import dtype_of, shape_of
from ..buffers import is_buffer, map_arrays
from ..tree_util import tree_flatten, tree_leaves, tree_map, tree_unflatten
from .base import (EmptyState, GradientTransformation, GradientTransformationExtraArgs,
                   displayed, require_params, with_extra_args_support)
from .blocks import (ScaleByAdamState, ema, identity, scale_by_adam,
                     scale_by_learning_rate, scale_by_optimistic_gradient, scale_by_sign,
                     scale_by_trust_ratio)
from .leafwise import abs_sq, as_dtype, buffers_to_none, leafwise, zeros_like
from .transforms import add_decayed_weights, chain, scale
from .tree_utils import (tree_add_scale, tree_bias_correction, tree_norm, tree_random_like,
                         tree_scale, tree_sub, tree_update_moment,
                         tree_update_moment_per_elem_norm, tree_vdot)

# Buffers (functrans.buffers) in the params get None in the states and no update, as in the
# other optimizers of ft.optim.

__all__ = ["safe_norm", "safe_root_mean_squares", "safe_increment", "safe_int32_increment",
           "incremental_update", "periodic_update", "init_empty_state", "stateless",
           "stateless_with_tree_map", "scale_by_yogi", "yogi", "ScaleByAdanState",
           "scale_by_adan", "adan", "sign_sgd", "signum", "AddNoiseState", "add_noise",
           "noisy_sgd", "scale_by_polyak", "polyak_sgd", "optimistic_adam",
           "optimistic_adam_v2", "fromage", "ScaleBySM3State", "scale_by_sm3", "sm3",
           "ScaleByDistanceOverGradientsState", "scale_by_distance_over_gradients",
           "scale_by_param_block_norm", "ApplyEvery", "apply_every", "centralize",
           "adaptive_grad_clip", "unitwise_norm", "unitwise_clip", "per_example_global_norm_clip",
           "per_example_layer_norm_clip", "scale_gradient", "skip_large_updates",
           "skip_not_finite", "ConditionallyMaskState", "conditionally_mask",
           "ConditionallyTransformState", "conditionally_transform", "SnapshotState",
           "snapshot", "MonitorState", "monitor", "measure_with_ema", "named_chain",
           "AdaptiveGradClipState", "ClipState", "ClipByGlobalNormState", "ScaleState",
           "ScaleByTrustRatioState", "normalize_by_update_norm", "power_iteration"]

# Optax's names for the empty states of its stateless transformations
AdaptiveGradClipState = ClipState = ClipByGlobalNormState = ScaleState = \
    ScaleByTrustRatioState = EmptyState


@displayed
class ScaleByAdanState(NamedTuple):
    m: Any                  # moving average of the gradients
    v: Any                  # moving average of the gradient differences
    n: Any                  # moving average of the squared look-ahead gradients
    g: Any                  # the previous gradient
    t: Any                  # the step count


@displayed
class AddNoiseState(NamedTuple):
    count: Any
    rng_key: Any


@displayed
class ScaleBySM3State(NamedTuple):
    mu: Any                 # per leaf, one accumulator per axis
    nu: Any                 # momentum


@displayed
class ScaleByDistanceOverGradientsState(NamedTuple):
    max_dist: Any
    grad_sum_of_squares: Any
    init_params: Any


@displayed
class ApplyEvery(NamedTuple):
    count: Any
    grad_acc: Any


@displayed
class ConditionallyMaskState(NamedTuple):
    step: Any
    inner_state: Any


@displayed
class ConditionallyTransformState(NamedTuple):
    inner_state: Any
    step: Any


@displayed
class SnapshotState(NamedTuple):
    measurement: Any


@displayed
class MonitorState(NamedTuple):
    measurements: Any
    measure_states: Any


# ------------------------------------------------------------------ numerics
def safe_increment(count):
    """`count + 1`, staying at the dtype's maximum instead of overflowing (integer or float
    counts)."""
    count = fnp.asarray(count)
    dt = np.dtype(dtype_of(count))
    if np.issubdtype(dt, np.integer):
        top = np.iinfo(dt).max
    elif np.issubdtype(dt, np.floating):
        top = np.finfo(dt).max
    else:
        raise ValueError(f"safe_increment: the count has dtype {dt}; pass an integer or "
                         "floating count")
    top = fnp.asarray(top, dt)
    return fnp.where(count < top, count + fnp.asarray(1, dt), top)


safe_int32_increment = safe_increment


def safe_norm(x, min_norm, ord=None, axis=None, keepdims=False):
    """`fnp.linalg.norm(x, ord, axis, keepdims)`, but `min_norm` where the norm is at most
    `min_norm`, with a gradient that stays finite (0) at `x = 0`."""
    x = fnp.asarray(x)
    norm = fnp.linalg.norm(x, ord=ord, axis=axis, keepdims=True)
    small = norm <= min_norm
    x = fnp.where(small, fnp.ones_like(x), x)
    if not keepdims:
        norm = fnp.squeeze(norm, axis=axis)
    masked_norm = fnp.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
    return fnp.where(norm <= min_norm, as_dtype(min_norm, masked_norm), masked_norm)


def safe_root_mean_squares(x, min_rms):
    """The root mean square of `x`, `min_rms` where it is at most `min_rms` (with a finite
    gradient at `x = 0`)."""
    x = fnp.asarray(x)
    rms = fnp.sqrt(fnp.mean(abs_sq(x)))
    small = rms <= min_rms
    x = fnp.where(small, fnp.ones_like(x), x)
    safe = fnp.sqrt(fnp.mean(abs_sq(x)))
    return fnp.where(small, as_dtype(min_rms, safe), safe)


def incremental_update(new_tensors, old_tensors, step_size):
    """`step_size * new + (1 - step_size) * old` over matching leaves (Polyak averaging of
    target networks); None leaves stay None."""
    return tree_map(lambda new, old: None if new is None else
                    step_size * new + (1.0 - step_size) * old,
                    new_tensors, old_tensors, is_leaf=lambda x: x is None)


def periodic_update(new_tensors, old_tensors, steps, update_period):
    """`new_tensors` when `steps` is a multiple of `update_period`, else `old_tensors` (a
    `lax.cond`, so it runs under jit)."""
    return lax.cond(fnp.mod(steps, update_period) == 0, lambda: new_tensors,
                    lambda: old_tensors)


# ------------------------------------------------------------------ stateless builders
def init_empty_state(params):
    """The `init` of a transformation without state: `EmptyState()`."""
    return EmptyState()


def stateless(f):
    """A transformation without state whose update is `f(updates, params)`."""
    def update(updates, state, params=None):
        return f(updates, params), EmptyState()
    return GradientTransformation(init_empty_state, update)


def stateless_with_tree_map(f):
    """A transformation without state applying `f(update, param)` leaf by leaf (`param` None
    when the update gets no params)."""
    def update(updates, state, params=None):
        if params is None:
            return tree_map(lambda u: f(u, None), updates), EmptyState()
        return tree_map(f, updates, params), EmptyState()
    return GradientTransformation(init_empty_state, update)


# ------------------------------------------------------------------ optimizers and blocks
def scale_by_yogi(b1=0.9, b2=0.999, eps=1e-3, eps_root=0.0, initial_accumulator_value=1e-6):
    """Yogi's rescaling: Adam's, with the second moment moving additively,
    `nu -= (1 - b2) * sign(nu - g**2) * g**2`; both moments start at
    `initial_accumulator_value`. The state is `ScaleByAdamState`."""
    def init(params):
        return ScaleByAdamState(fnp.zeros((), np.int32),
                                zeros_like(params, initial_accumulator_value),
                                zeros_like(params, initial_accumulator_value))

    def update(updates, state, params=None):
        count = safe_increment(state.count)

        def leaf(g, m, v):
            m = tree_update_moment(g, m, b1, 1)
            v = v - (1 - b2) * fnp.sign(v - abs_sq(g)) * abs_sq(g)
            u = tree_bias_correction(m, b1, count) / (
                fnp.sqrt(tree_bias_correction(v, b2, count) + eps_root) + eps)
            return u, m, v
        updates, mu, nu = leafwise(leaf, updates, state.mu, state.nu, outputs=3)
        return updates, ScaleByAdamState(count, mu, nu)
    return GradientTransformation(init, update)


def yogi(learning_rate, b1=0.9, b2=0.999, eps=1e-3):
    """Optax's yogi: `scale_by_yogi`, then the learning rate."""
    return chain(scale_by_yogi(b1=b1, b2=b2, eps=eps), scale_by_learning_rate(learning_rate))


def scale_by_adan(b1=0.98, b2=0.92, b3=0.99, eps=1e-8, eps_root=0.0):
    """Adan's rescaling (Xie et al. 2022, Algorithm 1): moving averages `m` of `g`, `v` of the
    gradient difference `g - g_prev` (0 at the first step) and `n` of
    `(g + (1 - b2) (g - g_prev))**2`; the update is `(m_hat + (1 - b2) v_hat) /
    (sqrt(n_hat + eps_root) + eps)` with bias corrections."""
    def init(params):
        zeros = zeros_like(params)
        return ScaleByAdanState(zeros, zeros, zeros, zeros, fnp.zeros((), np.int32))

    def update(updates, state, params=None):
        first = state.t == 0
        t = safe_increment(state.t)

        def leaf(g, m, v, n, prev):
            diff = fnp.where(first, fnp.zeros_like(g), g - prev)
            m = tree_update_moment(g, m, b1, 1)
            v = tree_update_moment(diff, v, b2, 1)
            n = tree_update_moment_per_elem_norm(tree_add_scale(g, 1 - b2, diff), n, b3, 2)
            u = tree_add_scale(tree_bias_correction(m, b1, t), 1 - b2,
                               tree_bias_correction(v, b2, t))
            return u / (fnp.sqrt(tree_bias_correction(n, b3, t) + eps_root) + eps), m, v, n, g
        u, m, v, n, g = leafwise(leaf, updates, state.m, state.v, state.n, state.g, outputs=5)
        return u, ScaleByAdanState(m, v, n, g, t)
    return GradientTransformation(init, update)


def adan(learning_rate, b1=0.98, b2=0.92, b3=0.99, eps=1e-8, eps_root=1e-8, weight_decay=0.0,
         mask=None):
    """Optax's adan: `scale_by_adan`, decoupled weight decay (`mask` limits it), then the
    learning rate."""
    return chain(scale_by_adan(b1=b1, b2=b2, b3=b3, eps=eps, eps_root=eps_root),
                 add_decayed_weights(weight_decay, mask),
                 scale_by_learning_rate(learning_rate))


def sign_sgd(learning_rate):
    """Optax's sign_sgd: the sign of the gradient, times `-learning_rate`."""
    return chain(scale_by_sign(), scale_by_learning_rate(learning_rate))


def signum(learning_rate, beta=0.9, accumulator_dtype=None):
    """Optax's signum: the sign of the gradients' moving average (`ema` without debiasing),
    times `-learning_rate`."""
    return chain(ema(beta, debias=False, accumulator_dtype=accumulator_dtype),
                 scale_by_sign(), scale_by_learning_rate(learning_rate))


def canonical_key(key, name, seed=None):
    """The key's data on the host (NumPy) from an int seed or a key, so that `init` puts it
    with the params; `name` (the transformation, called by the user) heads the warnings and
    the error for anything else. `seed` is the key's deprecated name; no key at all means 0,
    with a warning."""
    if seed is not None:
        warnings.warn(f'{name}: "seed" is deprecated, use "key"', DeprecationWarning,
                      stacklevel=3)
        if key is not None:
            raise ValueError(f"{name}: pass only one of seed and key")
        key = seed
    if key is None:
        warnings.warn(f"{name}: no key given, using 0; pass key= (Optax will require it)",
                      stacklevel=3)
        key = 0
    if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)):
        arr = np.asarray(key)
        if arr.dtype != np.uint32 or arr.shape != (2,):
            raise TypeError(f"{name}: key must be an int seed or a key made by "
                            f"functrans.random.key/PRNGKey (uint32[2]), got "
                            f"{arr.dtype.name}{list(arr.shape)}")
        return arr
    return np.asarray(random.PRNGKey(int(key)))


def add_noise(eta, gamma, key=None, *, seed=None):
    """Add Gaussian noise of variance `eta / t**gamma` at step `t` (Neelakantan et al.
    2015). `key` is an int seed or a key of `functrans.random`; `seed` is its deprecated
    name."""
    key = canonical_key(key, "add_noise", seed)

    def init(params):
        return AddNoiseState(fnp.zeros((), np.int32), fnp.asarray(key))

    def update(updates, state, params=None):
        count = safe_increment(state.count)
        std = fnp.sqrt(eta / count.astype(np.float64) ** gamma)
        rng_key, sample_key = random.split(state.rng_key)
        noise = tree_random_like(sample_key, updates)
        return (tree_map(lambda g, z: g + as_dtype(std, g) * z, updates, noise),
                AddNoiseState(count, rng_key))
    return GradientTransformation(init, update)


def noisy_sgd(learning_rate, eta=0.01, gamma=0.55, key=None, *, seed=None):
    """Optax's noisy_sgd: `add_noise(eta, gamma, key)`, then the learning rate."""
    return chain(add_noise(eta, gamma, key, seed=seed), scale_by_learning_rate(learning_rate))


_POLYAK_VARIANTS = ("sps", "sps+")


def scale_by_polyak(f_min=0.0, max_learning_rate=1.0, eps=0.0, variant="sps"):
    """Scale the updates by the Polyak step size `min((f - f_min) / (|g|**2 + eps),
    max_learning_rate)` (0 where `|g|**2 + eps` is at most the float64 epsilon); `f` is the
    loss, passed as `update(..., value=f)`. `variant="sps+"` clips `f - f_min` at 0."""
    if variant not in _POLYAK_VARIANTS:
        raise ValueError(f"scale_by_polyak: variant must be one of {list(_POLYAK_VARIANTS)}, "
                         f"got {variant!r}")

    def update(updates, state, params=None, *, value=None, **extra_args):
        if value is None:
            raise TypeError("scale_by_polyak needs the loss: call opt.update(grads, state, "
                            "params, value=loss)")
        sq_norm = tree_norm(updates, squared=True)
        gap = fnp.asarray(value - f_min).astype(dtype_of(sq_norm))
        if variant == "sps+":
            gap = fnp.maximum(gap, fnp.zeros_like(gap))
        tiny = sq_norm + eps <= np.finfo(float).eps
        denom = fnp.where(tiny, fnp.ones_like(sq_norm), sq_norm + eps)
        step = fnp.where(tiny, fnp.zeros_like(sq_norm),
                         fnp.minimum(gap / denom, max_learning_rate))
        return tree_map(lambda g: as_dtype(step, g) * g, updates), state
    return GradientTransformationExtraArgs(init_empty_state, update)


def polyak_sgd(max_learning_rate=1.0, scaling=1.0, f_min=0.0, eps=0.0, variant="sps"):
    """Optax's polyak_sgd: SGD with rate `scaling`, then `scale_by_polyak`; call
    `opt.update(grads, state, params, value=loss)`."""
    return chain(chain(identity(), scale_by_learning_rate(scaling)),
                 scale_by_polyak(f_min=f_min, max_learning_rate=max_learning_rate, eps=eps,
                                 variant=variant))


def optimistic_adam(learning_rate, optimism=None, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0,
                    mu_dtype=None, *, nesterov=True):
    """Optax's deprecated optimistic_adam: `scale_by_adam`, then
    `scale_by_optimistic_gradient(alpha=learning_rate, beta=optimism)` (`optimism` defaults to
    the learning rate), then `-1`. Prefer `optimistic_adam_v2`."""
    warnings.warn("optimistic_adam is deprecated, use optimistic_adam_v2",
                  DeprecationWarning, stacklevel=2)
    if callable(learning_rate):
        raise ValueError("optimistic_adam takes no learning rate schedule; "
                         "optimistic_adam_v2 does")
    return chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
                 scale_by_optimistic_gradient(
                     alpha=learning_rate,
                     beta=learning_rate if optimism is None else optimism),
                 scale_by_learning_rate(1.0))


def optimistic_adam_v2(learning_rate, *, alpha=1.0, beta=1.0, b1=0.9, b2=0.999, eps=1e-8,
                       eps_root=0.0, mu_dtype=None, nesterov=True):
    """Optax's optimistic_adam_v2: `scale_by_adam`, `scale_by_optimistic_gradient(alpha,
    beta)`, then the learning rate (a number or a schedule)."""
    return chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
                 scale_by_optimistic_gradient(alpha=alpha, beta=beta),
                 scale_by_learning_rate(learning_rate))


def fromage(learning_rate, min_norm=1e-6):
    """Optax's fromage (Bernstein et al. 2020): the trust ratio `|p| / |g|`, times
    `-lr / sqrt(1 + lr**2)`, plus `(1 / sqrt(1 + lr**2) - 1) * p`."""
    if not callable(learning_rate):
        mult = 1 / (1 + learning_rate ** 2) ** 0.5
        return chain(scale_by_trust_ratio(min_norm),
                     scale_by_learning_rate(learning_rate * mult),
                     add_decayed_weights(mult - 1))

    def mult(count):
        return 1 / (1 + learning_rate(count) ** 2) ** 0.5
    return chain(scale_by_trust_ratio(min_norm),
                 scale_by_learning_rate(lambda c: mult(c) * learning_rate(c)),
                 add_decayed_weights(lambda c: mult(c) - 1))


def scale_by_sm3(b1=0.9, b2=1.0, eps=1e-8):
    """SM3's rescaling (Anil et al. 2019): per leaf one accumulator per axis; the second
    moment of each element is the least of its axes' accumulators plus `g**2` (times
    `1 - b2` unless `b2` is 1), the update `g / sqrt(that + eps)` (0 where it is 0) under
    momentum `b1`. Leaves must be real and at least 1-d."""
    def check(p):
        if fnp.iscomplexobj(p):
            raise ValueError(f"scale_by_sm3 takes real parameters, got "
                             f"{np.dtype(dtype_of(p)).name}")
        if len(shape_of(p)) == 0:
            raise ValueError("scale_by_sm3 takes parameters of at least 1 dimension, got a "
                             "0-d one; reshape it to (1,)")

    def init(params):
        def per_axis(p):
            if is_buffer(p):
                return None
            check(p)
            return [fnp.zeros((n,), dtype_of(p)) for n in shape_of(p)]
        return ScaleBySM3State(tree_map(per_axis, params, is_leaf=is_buffer),
                               zeros_like(params))

    def expanded(v, shape, axis):
        return fnp.reshape(v, [1] * axis + [shape[axis]] + [1] * (len(shape) - axis - 1))

    def leaf(g, vs):
        vs = [expanded(v, shape_of(g), i) for i, v in enumerate(vs)]
        acc = (1.0 - b2 if b2 != 1.0 else 1.0) * g ** 2 + b2 * functools.reduce(fnp.minimum,
                                                                                vs)
        nd = len(shape_of(g))
        new_mu = [acc] if nd < 2 else [
            fnp.max(acc, axis=tuple(a for a in range(nd) if a != i)) for i in range(nd)]
        scaled = g * fnp.where(acc > 0, lax.rsqrt(acc + eps), fnp.zeros_like(acc))
        return scaled, new_mu

    def update(updates, state, params=None):
        up, mu = leafwise(leaf, updates, state.mu, outputs=2, same_shape=False)
        nu = tree_update_moment(up, state.nu, b1, 1)
        return nu, ScaleBySM3State(mu, nu)
    return GradientTransformation(init, update)


def sm3(learning_rate, momentum=0.9):
    """Optax's sm3: `scale_by_sm3(momentum)`, then `scale(-learning_rate)`."""
    return chain(scale_by_sm3(momentum), scale(-learning_rate))


def _l2(x, y=0.0):
    return fnp.sqrt(fnp.sum(fnp.square(x - y)))


def scale_by_distance_over_gradients(reps_rel=1e-6, eps=1e-8, param_dtype=np.float32,
                                     global_scale=1.0):
    """DoG's per-leaf step size (Ivgi et al. 2023): `global_scale * d / sqrt(G + eps)` times
    the gradient, `d` the largest distance the leaf has moved from its initial value
    (`param_dtype` copy, at least `reps_rel * (1 + |p0|)`), `G` the sum of its squared
    gradients so far (shape (1,), as Optax's)."""
    def init(params):
        def each(fn):
            return tree_map(lambda p: None if is_buffer(p) else fn(p), params,
                            is_leaf=is_buffer)
        return ScaleByDistanceOverGradientsState(
            each(lambda p: reps_rel * (1 + _l2(p))), each(lambda p: fnp.zeros(1)),
            each(lambda p: fnp.asarray(p).astype(param_dtype)))

    def update(updates, state, params=None):
        require_params(params, "scale_by_distance_over_gradients")

        def leaf(g, d, s, p, p0):
            d = fnp.maximum(d, _l2(p, p0))
            s = s + fnp.sum(fnp.square(g))
            return global_scale * (d / fnp.sqrt(s + eps)) * g, d, s
        updates, max_dist, g_sos = leafwise(leaf, updates, state.max_dist,
                                            state.grad_sum_of_squares, params,
                                            state.init_params, outputs=3, same_shape=False)
        return updates, ScaleByDistanceOverGradientsState(max_dist, g_sos, state.init_params)
    return GradientTransformation(init, update)


def scale_by_param_block_norm(min_scale=1e-3):
    """Scale each leaf's update by its parameter's norm (`safe_norm(p, min_scale)`)."""
    def update(updates, state, params=None):
        require_params(params, "scale_by_param_block_norm")
        return map_arrays(lambda u, p: u * safe_norm(p, min_scale), updates, params), state
    return GradientTransformation(init_empty_state, update)


# ------------------------------------------------------------------ transformations
def apply_every(k=1):
    """Accumulate the updates over `k` steps and emit their sum every `k`-th step (zeros in
    between)."""
    if isinstance(k, (int, np.integer)) and k < 1:
        raise ValueError(f"apply_every: k must be a positive number of steps, got {k}")

    def init(params):
        return ApplyEvery(fnp.zeros((), np.int32), zeros_like(params))

    def update(updates, state, params=None):
        c = state.count % k

        def leaf(g, a):
            a = (c != 0).astype(dtype_of(a)) * a + g
            return (c == k - 1).astype(dtype_of(a)) * a, a
        updates, acc = leafwise(leaf, updates, state.grad_acc, outputs=2)
        return updates, ApplyEvery(safe_increment(state.count) % k, acc)
    return GradientTransformation(init, update)


def _subtract_mean(g):
    nd = len(shape_of(g))
    return g - fnp.mean(g, axis=tuple(range(1, nd)), keepdims=True) if nd > 1 else g


def centralize():
    """Gradient centralization (Yong et al. 2020): subtract from each update of 2 or more
    dimensions its mean over all axes but the first."""
    def update(updates, state, params=None):
        return tree_map(_subtract_mean, updates), state
    return GradientTransformation(init_empty_state, update)


_UNIT_AXES = {2: (0,), 3: (0,), 4: (0, 1, 2), 5: (0, 1, 2, 3)}


def unitwise_norm(x, axis=None):
    """Each unit's L2 norm, broadcast to `x`'s shape: units are slices over `axis`; without
    it the whole of a vector, axis 0 of a matrix or a 3-d array, axes (0, 1, 2) of a 4-d conv
    kernel, (0, 1, 2, 3) of a 5-d one."""
    x = fnp.asarray(x)
    if axis is not None:
        sq = fnp.sum(abs_sq(x), axis=axis, keepdims=True)
    elif fnp.squeeze(x).ndim <= 1:
        sq = fnp.sum(abs_sq(x), keepdims=True)
    elif x.ndim in _UNIT_AXES:
        sq = fnp.sum(abs_sq(x), axis=_UNIT_AXES[x.ndim], keepdims=True)
    else:
        raise ValueError(f"unitwise_norm: x has shape {shape_of(x)}; without axis= it takes "
                         "1 to 5 dimensions; pass axis= (the axes of a unit)")
    return fnp.broadcast_to(fnp.sqrt(sq), shape_of(x))


def unitwise_clip(g_norm, max_norm, grad, div_eps=1e-6):
    """`grad` where `g_norm < max_norm`, else `grad` scaled to norm `max_norm` (the three
    of one shape)."""
    if not shape_of(g_norm) == shape_of(max_norm) == shape_of(grad):
        raise ValueError(f"unitwise_clip: g_norm, max_norm and grad must have one shape, got "
                         f"{shape_of(g_norm)}, {shape_of(max_norm)}, {shape_of(grad)}")
    clipped = grad * (max_norm / fnp.maximum(g_norm, div_eps))
    return fnp.where(g_norm < max_norm, grad, clipped)


def adaptive_grad_clip(clipping, eps=1e-3, axis=None):
    """Adaptive gradient clipping (Brock et al. 2021): scale each unit's gradient (a slice
    over `axis`; by default the whole of a vector, axis 0 of a matrix, the spatial and input
    axes of a convolution kernel) down to norm `clipping * max(|p_unit|, eps)` where it is
    larger."""
    def update(updates, state, params=None):
        require_params(params, "adaptive_grad_clip")

        def leaf(g, p):
            max_norm = clipping * fnp.maximum(unitwise_norm(p, axis), eps)
            return unitwise_clip(unitwise_norm(g, axis), max_norm, g)
        return map_arrays(leaf, updates, params), state
    return GradientTransformation(init_empty_state, update)


def _check_batch_dim(grads, name):
    leaves = tree_leaves(grads)
    sizes = {shape_of(g)[0] if len(shape_of(g)) else None for g in leaves}
    if not leaves or None in sizes or len(sizes) != 1:
        raise ValueError(f"{name} takes gradients with a batch dimension in axis 0 of every "
                         f"leaf, of one size; got shapes "
                         f"{[tuple(shape_of(g)) for g in leaves]}")


def per_example_global_norm_clip(grads, l2_norm_clip):
    """Clip each example's gradients (axis 0 of every leaf) to global norm `l2_norm_clip` and
    sum over the examples; returns `(clipped sum, number of examples clipped)`."""
    _check_batch_dim(grads, "per_example_global_norm_clip")
    leaves = tree_leaves(grads)
    sq = sum(fnp.sum(abs_sq(g).reshape(shape_of(g)[0], -1), axis=1) for g in leaves)
    norms = fnp.sqrt(sq)
    zero = norms == 0                                # no clipping, as Optax's clip / 0
    ratio = l2_norm_clip / fnp.where(zero, fnp.ones_like(norms), norms)
    multipliers = fnp.where(zero, fnp.ones_like(norms),
                            fnp.nan_to_num(fnp.minimum(ratio, 1.0), nan=1.0))
    clipped = tree_map(lambda g: fnp.tensordot(multipliers.astype(dtype_of(g)), g, axes=1),
                       grads)
    return clipped, fnp.sum(multipliers < 1.0)


def per_example_layer_norm_clip(grads, global_l2_norm_clip, uniform=True):
    """`per_example_global_norm_clip` leaf by leaf, leaf `i` to
    `global_l2_norm_clip * sqrt(1 / leaves)` (`uniform`) or
    `* sqrt(size_i / total size)`; returns `(tree of clipped sums, tree of counts)`."""
    _check_batch_dim(grads, "per_example_layer_norm_clip")
    leaves, treedef = tree_flatten(grads)
    if uniform:
        clips = [global_l2_norm_clip * (1.0 / len(leaves)) ** 0.5] * len(leaves)
    else:
        sizes = [int(np.prod(shape_of(g)[1:])) for g in leaves]
        clips = [global_l2_norm_clip * (s / sum(sizes)) ** 0.5 for s in sizes]
    results = [per_example_global_norm_clip(g, c) for g, c in zip(leaves, clips)]
    return (tree_unflatten(treedef, [r[0] for r in results]),
            tree_unflatten(treedef, [r[1] for r in results]))


def scale_gradient(inputs, scale):
    """`inputs` unchanged in the forward pass, their gradient multiplied by `scale` in the
    backward pass (a pytree; `scale` 0 stops the gradient)."""
    if isinstance(scale, (int, float)):
        if scale == 1.0:
            return inputs
        if scale == 0.0:
            return tree_map(lax.stop_gradient, inputs)

    @custom_vjp
    def scaled(x):
        return x

    def fwd(x):
        return x, None

    def bwd(_, g):
        return (tree_map(lambda t: t * scale, g),)
    scaled.defvjp(fwd, bwd)
    return scaled(inputs)


def skip_large_updates(updates, gradient_step, params, max_squared_norm):
    """A `MultiSteps` `should_skip_update_fn`: skip when the updates' squared norm is not
    below `max_squared_norm` (NaN included); returns `(skip, {"should_skip",
    "norm_squared"})`."""
    norm_sq = sum((fnp.sum(p ** 2) for p in tree_leaves(updates)), fnp.asarray(0.0))
    skip = fnp.logical_not(norm_sq < max_squared_norm)
    return skip, {"should_skip": skip, "norm_squared": norm_sq}


def skip_not_finite(updates, gradient_step, params):
    """A `MultiSteps` `should_skip_update_fn`: skip when any update element is NaN or
    infinite; returns `(skip, {"should_skip", "num_not_finite"})`."""
    count = sum((fnp.sum(fnp.logical_not(fnp.isfinite(p))) for p in tree_leaves(updates)),
                fnp.asarray(0, np.int32))
    skip = count > 0
    return skip, {"should_skip": skip, "num_not_finite": count}


def _conditionally(inner, should_transform_fn, forward_extra_args, mask):
    inner = with_extra_args_support(inner)
    make_state = ConditionallyMaskState if mask else (
        lambda step, s: ConditionallyTransformState(s, step))

    def init(params):
        return make_state(fnp.zeros((), np.int32), inner.init(params))

    def update(updates, state, params=None, **extra_args):
        def accept():
            new_updates, inner_state = inner.update(updates, state.inner_state, params,
                                                    **extra_args)
            return buffers_to_none(new_updates), inner_state

        def reject():
            return (buffers_to_none(tree_map(fnp.zeros_like, updates) if mask else updates),
                    state.inner_state)
        cond = should_transform_fn(state.step, **(extra_args if forward_extra_args else {}))
        updates, inner_state = lax.cond(cond, accept, reject)
        return updates, make_state(safe_increment(state.step), inner_state)
    return GradientTransformationExtraArgs(init, update)


def conditionally_mask(inner, should_transform_fn, forward_extra_args=False):
    """`inner` on the steps where `should_transform_fn(step)` is True, zero updates (and the
    inner state unchanged) on the others; a `lax.cond`, so it runs under jit."""
    return _conditionally(inner, should_transform_fn, forward_extra_args, mask=True)


def conditionally_transform(inner, should_transform_fn, forward_extra_args=False):
    """`inner` on the steps where `should_transform_fn(step)` is True, the updates passed
    through unchanged (and the inner state kept) on the others."""
    return _conditionally(inner, should_transform_fn, forward_extra_args, mask=False)


# ------------------------------------------------------------------ monitoring, chaining
def snapshot(measure_name, measure):
    """Record `measure(updates)` in the state as `{measure_name: value}` (`measure(params)`
    at init); the updates pass through."""
    def init(params):
        return SnapshotState({measure_name: measure(params)})

    def update(updates, state, params=None):
        return updates, SnapshotState({measure_name: measure(updates)})
    return GradientTransformation(init, update)


def monitor(measures):
    """Record several measurements of the updates in the state (`MonitorState.measurements`,
    a dict): each of `measures` (a dict) is a function of the updates or a transformation
    whose output is the measurement; the updates pass through."""
    if not isinstance(measures, dict):
        raise TypeError(f"monitor: measures must be a dict of name -> function or "
                        f"transformation, got {type(measures).__name__}")
    txs = {name: with_extra_args_support(
        stateless(lambda u, _, m=m: m(u)) if callable(m) else m)
        for name, m in measures.items()}

    def init(params):
        return MonitorState({}, tuple(tx.init(params) for tx in txs.values()))

    def update(updates, state, params=None, **extra_args):
        measurements, states = {}, []
        for (name, tx), s in zip(txs.items(), state.measure_states):
            measurements[name], s = tx.update(updates, s, params, **extra_args)
            states.append(s)
        return updates, MonitorState(measurements, tuple(states))
    return GradientTransformationExtraArgs(init, update)


def measure_with_ema(measure, decay, debias=True, accumulator_dtype=None):
    """The exponential moving average of `measure(updates)` (`ema(decay, debias)`); its
    output replaces the updates, so use it inside `monitor`."""
    base = ema(decay, debias, accumulator_dtype)
    return chain(stateless(lambda updates, _: measure(updates)),
                 GradientTransformation(lambda params: base.init(measure(params)),
                                        base.update))


def named_chain(*args):
    """`chain` of `(name, transformation)` pairs whose state is an OrderedDict by name."""
    names = [name for name, _ in args]
    if len(names) != len(set(names)):
        raise ValueError(f"named_chain: the names must be unique, got {names}")
    txs = [(name, with_extra_args_support(tx)) for name, tx in args]

    def init(params):
        return collections.OrderedDict((name, tx.init(params)) for name, tx in txs)

    def update(updates, state, params=None, **extra_args):
        new_state = collections.OrderedDict()
        for name, tx in txs:
            updates, new_state[name] = tx.update(updates, state[name], params, **extra_args)
        return updates, new_state
    return GradientTransformationExtraArgs(init, update)


def normalize_by_update_norm(scale_factor=1.0, eps=1e-6):
    """Divide the updates by `(global norm + eps) / scale_factor`: a step of norm about
    `scale_factor`."""
    def update(updates, state, params=None):
        g_norm = (tree_norm(updates) + eps) / scale_factor
        return tree_map(lambda g: g / as_dtype(g_norm, g), updates), state
    return GradientTransformation(init_empty_state, update)


def _normalize_tree(x):
    return tree_scale(1.0 / tree_norm(x), x)


def power_iteration(matrix, *, v0=None, num_iters=100, error_tolerance=1e-6, precision=None,
                    key=None):
    """The dominant eigenvalue of `matrix` (an array, or a function `v -> matrix @ v` of
    pytrees, then with `v0` required) and its unit eigenvector, by power iteration from `v0`
    (uniform on [-1, 1] from `key`, default key 0) until the residual `|Av - lambda v|` is
    below `error_tolerance * |lambda|` or `num_iters` steps. A `lax.while_loop`, so it runs
    under jit; `precision` is accepted for Optax's signature (the products are exact in the
    dtype)."""
    if callable(matrix):
        mvp = matrix
        if v0 is None:
            raise ValueError("power_iteration: pass v0 when matrix is a function (its pytree "
                             "structure is unknown)")
    else:
        matrix = fnp.asarray(matrix)
        if matrix.ndim != 2 or shape_of(matrix)[0] != shape_of(matrix)[1]:
            raise ValueError(f"power_iteration: matrix must be square, got shape "
                             f"{shape_of(matrix)}")

        def mvp(v):
            return fnp.matmul(matrix, v)
        if v0 is None:
            v0 = random.uniform(random.PRNGKey(0) if key is None else key,
                                shape_of(matrix)[-1:], dtype_of(matrix), -1.0, 1.0)
    v0 = _normalize_tree(v0)

    def cond(carry):
        eigvec, z, eig, i = carry
        residual = tree_norm(tree_sub(z, tree_scale(eig, eigvec)))
        return ~(fnp.abs(residual) < error_tolerance * fnp.abs(eig)) & (i < num_iters)

    def body(carry):
        _, z, _, i = carry
        eigvec = _normalize_tree(z)
        z = mvp(eigvec)
        return eigvec, z, tree_vdot(eigvec, z), i + 1

    z0 = mvp(v0)
    _, z, eig, _ = lax.while_loop(cond, body, (v0, z0, fnp.zeros_like(tree_vdot(v0, z0)),
                                               fnp.asarray(0, np.int32)))
    return eig, _normalize_tree(z)
