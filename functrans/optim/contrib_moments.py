"""Optax 0.2.8's `contrib` optimizers built on moving moments, under its names, signatures,
defaults and state classes: ADOPT, AdEMAMix (and its simplified form), MADGRAD, ACProp,
Sophia (with Hutchinson's Hessian-diagonal estimator), Muon, GaLore, and the wrapper
`split_real_and_imaginary`:

    opt = optax.contrib.muon(0.02)      # Newton-Schulz on the matrices, AdamW on the rest
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .. import debug, lax, random
from .. import numpy as fnp
from ..api import grad, jvp
from ..buffers import is_buffer, map_arrays
from ..primitives._util import dtype_of, shape_of
from ..tree_util import tree_flatten, tree_leaves, tree_map, tree_structure
from .base import (EmptyState, GradientTransformation, GradientTransformationExtraArgs,
                   displayed, require_params, with_extra_args_support)
from .blocks import (ScaleByAdamState, ScaleByBeliefState, scale_by_adam,
                     scale_by_learning_rate)
from .extras import safe_increment
from .leafwise import (as_dtype, leafwise, mean_hat, no_update, step_number, zero_count,
                       zeros_like)
from .masking import multi_transform
from .transforms import add_decayed_weights, chain
from .tree_utils import (tree_bias_correction, tree_cast, tree_dtype, tree_random_like,
                         tree_size, tree_update_moment, tree_update_moment_per_elem_norm)

__all__ = ["adopt", "scale_by_adopt", "ademamix", "scale_by_ademamix", "ScaleByAdemamixState",
           "simplified_ademamix", "scale_by_simplified_ademamix",
           "ScaleBySimplifiedAdEMAMixState", "madgrad", "scale_by_madgrad", "MadgradState",
           "muon", "scale_by_muon", "MuonState", "MuonDimensionNumbers", "acprop",
           "scale_by_acprop", "sophia", "SophiaState", "hutchinson_estimator_diag_hessian",
           "HutchinsonState", "galore", "scale_by_galore", "GaLoreState",
           "GaLoreDimensionNumbers", "split_real_and_imaginary", "SplitRealAndImaginaryState"]

# Buffers (functrans.buffers) in the params get None in the states and no update, as in the
# other optimizers of ft.optim.


@displayed
class ScaleByAdemamixState(NamedTuple):
    count: Any
    count_m2: Any           # the step count the b3 and alpha schedules see
    m1: Any                 # fast moving average of the gradients
    m2: Any                 # slow moving average of the gradients
    nu: Any


@displayed
class ScaleBySimplifiedAdEMAMixState(NamedTuple):
    t: Any
    m: Any
    n: Any


@displayed
class MadgradState(NamedTuple):
    count: Any
    grad_sum_sq: Any
    s: Any
    x0: Any                 # the parameters at init


@displayed
class MuonState(NamedTuple):
    count: Any
    mu: Any
    ns_coeffs: Any          # the Newton-Schulz coefficients, (3,) or (steps, 3)


class MuonDimensionNumbers(NamedTuple):
    """The axes of a parameter Muon orthogonalizes over: the `reduction_axis` (input) axes and
    the `output_axis` axes; the remaining axes are a batch of matrices."""
    reduction_axis: Any = 0
    output_axis: Any = 1


@displayed
class HutchinsonState(NamedTuple):
    key: Any


@displayed
class SophiaState(NamedTuple):
    count: Any
    mu: Any
    nu: Any                 # moving average of the Hessian diagonal estimates
    hessian_fn_state: Any


@displayed
class GaLoreState(NamedTuple):
    count: Any
    base_optimizer_state: Any
    projector: Any


class GaLoreDimensionNumbers(NamedTuple):
    """The axes of a parameter GaLore flattens into the rows (`reduction_axis`) and the
    columns (`output_axis`) of the matrix it projects; together they must name every axis."""
    reduction_axis: Any = 0
    output_axis: Any = 1


@displayed
class SplitRealAndImaginaryState(NamedTuple):
    inner_state: Any


class SplitRealAndImaginaryArrays(NamedTuple):
    """A complex leaf as two real ones (what the inner transformation of
    `split_real_and_imaginary` sees)."""
    real: Any
    imaginary: Any


# ------------------------------------------------------------------ helpers
def _real_dtype(x):
    return np.finfo(dtype_of(x)).dtype


def _until_started(started, value, start, like):
    """`value` once `started`, `start` before, in the real dtype of `like`."""
    dt = _real_dtype(like)
    return fnp.where(started, fnp.asarray(value, dt), fnp.asarray(start, dt))


def _then_lr(scaling, learning_rate, weight_decay=0.0, mask=None):
    """Optax's usual optimizer: `scaling`, decoupled weight decay, the learning rate."""
    return chain(scaling, add_decayed_weights(weight_decay, mask),
                 scale_by_learning_rate(learning_rate))


# ------------------------------------------------------------------ ADOPT
def scale_by_adopt(b1=0.9, b2=0.9999, eps=1e-6, mu_dtype=None, *, nesterov=False,
                   use_clipping=True, clip_value_fn=lambda x: x ** 0.25):
    """ADOPT's rescaling (Taniguchi et al. 2024): the gradient is divided by the root of the
    second moment of the steps before it (`max(sqrt(nu), eps)`), clipped to
    `+-clip_value_fn(step)` with `use_clipping`, and then averaged into the momentum; the
    first step only initializes the second moment."""
    def init(params):
        return ScaleByAdamState(zero_count(), zeros_like(params, dtype=mu_dtype),
                                zeros_like(params))

    def update(updates, state, params=None):
        started = state.count > 0
        bound = clip_value_fn(state.count) if use_clipping else None

        def leaf(g, m, v):
            d1 = _until_started(started, b1, 1.0, g)
            step = g / fnp.maximum(fnp.sqrt(v), as_dtype(eps, v))
            if use_clipping:
                step = fnp.clip(step, -bound, bound)
            v = tree_update_moment_per_elem_norm(g, v, _until_started(started, b2, 0.0, g), 2)
            m = tree_update_moment(step, m, d1, 1)
            out = tree_update_moment(step, m, d1, 1) if nesterov else m
            return out, tree_cast(m, mu_dtype), v
        updates, mu, nu = leafwise(leaf, updates, state.mu, state.nu, outputs=3)
        return updates, ScaleByAdamState(safe_increment(state.count), mu, nu)
    return GradientTransformation(init, update)


def adopt(learning_rate, b1=0.9, b2=0.9999, eps=1e-6, mu_dtype=None, *, nesterov=False,
          use_clipping=True, clip_value_fn=lambda x: x ** 0.25):
    """Optax's contrib.adopt: `scale_by_adopt`, then the learning rate."""
    return chain(scale_by_adopt(b1, b2, eps, mu_dtype, nesterov=nesterov,
                                use_clipping=use_clipping, clip_value_fn=clip_value_fn),
                 scale_by_learning_rate(learning_rate))


# ------------------------------------------------------------------ AdEMAMix
def scale_by_ademamix(b1=0.9, b2=0.999, b3=0.9999, alpha=6.0, eps=1e-8, eps_root=0.0,
                      mu_dtype=None):
    """AdEMAMix's rescaling (Pagliardini et al. 2024): `(m1_hat + alpha * m2) /
    (sqrt(nu_hat + eps_root) + eps)`, Adam's with a second, slow and uncorrected moving
    average `m2` (decay `b3`); `b3` and `alpha` may be schedules of the step count. The
    moments are kept in `mu_dtype`."""
    def init(params):
        return ScaleByAdemamixState(zero_count(), zero_count(),
                                    *(zeros_like(params, dtype=mu_dtype) for _ in range(3)))

    def update(updates, state, params=None):
        c_b3 = b3(state.count_m2) if callable(b3) else b3
        c_alpha = alpha(state.count_m2) if callable(alpha) else alpha
        count = safe_increment(state.count)

        def leaf(g, m1, m2, v):
            m1 = tree_update_moment(g, m1, b1, 1)
            m2 = tree_update_moment(g, m2, c_b3, 1)
            v = tree_update_moment_per_elem_norm(g, v, b2, 2)
            v_hat = tree_bias_correction(v, b2, count)
            u = ((tree_bias_correction(m1, b1, count) + c_alpha * m2)
                 / (fnp.sqrt(v_hat + as_dtype(eps_root, v_hat)) + as_dtype(eps, v_hat)))
            return (u, *(tree_cast(x, mu_dtype) for x in (m1, m2, v)))
        updates, m1, m2, nu = leafwise(leaf, updates, state.m1, state.m2, state.nu,
                                       outputs=4)
        return updates, ScaleByAdemamixState(count, safe_increment(state.count_m2), m1, m2,
                                             nu)
    return GradientTransformation(init, update)


def ademamix(learning_rate, b1=0.9, b2=0.999, b3=0.9999, alpha=5.0, eps=1e-8, eps_root=0.0,
             mu_dtype=None, weight_decay=0.0, mask=None):
    """Optax's contrib.ademamix: `scale_by_ademamix`, decoupled weight decay (`mask` limits
    it), then the learning rate. (Optax's default `alpha` is 5 here and 6 in
    `scale_by_ademamix`.)"""
    return _then_lr(scale_by_ademamix(b1, b2, b3, alpha, eps, eps_root, mu_dtype),
                    learning_rate, weight_decay, mask)


def scale_by_simplified_ademamix(b1=0.99, b2=0.95, alpha=0.0, eps=1e-8, eps_root=0.0):
    """Simplified AdEMAMix's rescaling (Morwani et al. 2024): an unnormalized momentum
    `m = g + b1 * m`, the update `(m + alpha * g) / (sqrt(n_hat + eps_root) + eps)` with
    Adam's bias-corrected second moment `n`; `alpha` may be a schedule."""
    def init(params):
        return ScaleBySimplifiedAdEMAMixState(zero_count(), zeros_like(params),
                                              zeros_like(params))

    def update(updates, state, params=None):
        c_alpha = alpha(state.t) if callable(alpha) else alpha
        t = safe_increment(state.t)

        def leaf(g, m, n):
            m = g + b1 * m
            n = g * g + b2 * (n - g * g)
            n_hat = tree_bias_correction(n, b2, t)
            u = (m + c_alpha * g) / (fnp.sqrt(n_hat + as_dtype(eps_root, n_hat))
                                     + as_dtype(eps, n_hat))
            return u, m, n
        updates, m, n = leafwise(leaf, updates, state.m, state.n, outputs=3)
        return updates, ScaleBySimplifiedAdEMAMixState(t, m, n)
    return GradientTransformation(init, update)


def simplified_ademamix(learning_rate, b1=0.99, b2=0.95, alpha=0.0, eps=1e-8, eps_root=0.0,
                        weight_decay=0.0, mask=None):
    """Optax's contrib.simplified_ademamix: `scale_by_simplified_ademamix`, decoupled weight
    decay (`mask` limits it), then the learning rate."""
    return _then_lr(scale_by_simplified_ademamix(b1, b2, alpha, eps, eps_root),
                    learning_rate, weight_decay, mask)


# ------------------------------------------------------------------ MADGRAD
def scale_by_madgrad(learning_rate, momentum=0.9, eps=1e-6):
    """MADGRAD (Defazio and Jelassi 2021), whose updates already carry the learning rate (a
    number or a schedule): dual averaging of the gradients weighted by
    `(lr + eps) * sqrt(step)`, scaled by the cube root of their weighted squares, from the
    initial parameters, with momentum `momentum` towards the current ones."""
    def init(params):
        return MadgradState(zero_count(), zeros_like(params), zeros_like(params),
                            tree_map(lambda p: None if is_buffer(p) else p, params,
                                     is_leaf=is_buffer))

    def update(updates, state, params=None):
        require_params(params, "scale_by_madgrad")
        lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
        # the root in float32, as Optax's (the square root of an int32 count)
        weight = (lr + eps) * fnp.sqrt((state.count + 1).astype(np.float32))

        def leaf(g, sq, s, p, p0):
            w = as_dtype(weight, g)
            sq = sq + w * g ** 2
            s = s + w * g
            z = p0 - s / (fnp.cbrt(sq) + as_dtype(eps, sq))
            return (1 - momentum) * z + momentum * p - p, sq, s
        updates, sq, s = leafwise(leaf, updates, state.grad_sum_sq, state.s, params,
                                  state.x0, outputs=3)
        return updates, MadgradState(safe_increment(state.count), sq, s, state.x0)
    return GradientTransformation(init, update)


def madgrad(learning_rate, momentum=0.9, weight_decay=0.0, eps=1e-6):
    """Optax's contrib.madgrad: `weight_decay * p` added to the gradients, then
    `scale_by_madgrad`."""
    return chain(add_decayed_weights(weight_decay),
                 scale_by_madgrad(learning_rate, momentum, eps))


# ------------------------------------------------------------------ ACProp
def scale_by_acprop(b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16):
    """ACProp's rescaling (Zhuang et al. 2021): the gradient divided by the root of the
    bias-corrected second moment of the past prediction errors `g - mu` (the first step
    divides by 1); the state is AdaBelief's."""
    def init(params):
        return ScaleByBeliefState(zero_count(), zeros_like(params), zeros_like(params))

    def update(updates, state, params=None):
        first = state.count == 0
        count = safe_increment(state.count)
        t = fnp.where(first, count, state.count)

        def leaf(g, m, v):
            v_hat = fnp.where(first, 1, tree_bias_correction(v, b2, t))
            new_v = tree_update_moment_per_elem_norm(g - m, v, b2, 2)
            return (g / (fnp.sqrt(v_hat) + as_dtype(eps, v_hat)),
                    tree_update_moment(g, m, b1, 1), new_v + as_dtype(eps_root, new_v))
        updates, mu, nu = leafwise(leaf, updates, state.mu, state.nu, outputs=3)
        return updates, ScaleByBeliefState(count, mu, nu)
    return GradientTransformation(init, update)


def acprop(learning_rate, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16, weight_decay=0.0,
           mask=None):
    """Optax's contrib.acprop: `scale_by_acprop`, decoupled weight decay (`mask` limits it),
    then the learning rate."""
    return _then_lr(scale_by_acprop(b1, b2, eps, eps_root), learning_rate, weight_decay, mask)


# ------------------------------------------------------------------ Sophia
def hutchinson_estimator_diag_hessian(random_seed=None):
    """Hutchinson's estimate of the Hessian diagonal of `obj_fn` at the params: `z * (H z)`
    for random signs `z` (Rademacher, a fresh split of the state's key each update; the key
    starts at `random_seed`, default `random.PRNGKey(0)`). Call
    `update(grads, state, params, obj_fn=lambda params: loss)`; buffers get None."""
    def init(params):
        return HutchinsonState(random.PRNGKey(0) if random_seed is None else random_seed)

    def update(updates, state, params=None, obj_fn=None, **extra_args):
        require_params(params, "hutchinson_estimator_diag_hessian")
        if obj_fn is None:
            raise ValueError("hutchinson_estimator_diag_hessian needs the objective: call "
                             "update(grads, state, params, obj_fn=lambda params: loss)")
        key, subkey = random.split(state.key)
        leaves, treedef = tree_flatten(params, is_buffer)
        where = [i for i, x in enumerate(leaves) if not is_buffer(x)]
        weights = [leaves[i] for i in where]
        signs = tree_cast(tree_random_like(subkey, weights, random.rademacher, np.float32),
                          tree_dtype(weights, "lowest"))

        def grads_at(ws):
            full = list(leaves)
            for i, w in zip(where, ws):
                full[i] = w
            g = treedef.flatten_up_to(grad(obj_fn)(treedef.unflatten(full)))
            return [g[i] for i in where]
        hvp = jvp(grads_at, (weights,), (signs,))[1]
        product = [None] * len(leaves)
        for i, h, z in zip(where, hvp, signs):
            product[i] = h * z
        return treedef.unflatten(product), HutchinsonState(key)
    return GradientTransformationExtraArgs(init, update)


def scale_by_sophia(b1=0.965, b2=0.99, eps=1e-8, gamma=0.01, clip_threshold=1.0,
                    update_interval=10, hessian_diagonal_fn=hutchinson_estimator_diag_hessian(),
                    mu_dtype=None, verbose=False, print_win_rate_every_n_steps=0):
    """Sophia's rescaling (Liu et al. 2023): the bias-corrected momentum divided by
    `max(gamma * h, eps)`, clipped to `+-clip_threshold` (None: no clipping), `h` the moving
    average (decay `b2`) of `hessian_diagonal_fn`'s estimates, refreshed every
    `update_interval` updates from the first. Extra keyword arguments of `update` (the
    estimator's `obj_fn=`) go to `hessian_diagonal_fn`; `verbose` prints the share of
    unclipped elements every `print_win_rate_every_n_steps` updates."""
    hess = with_extra_args_support(hessian_diagonal_fn)

    def init(params):
        return SophiaState(zero_count(), zeros_like(params, dtype=mu_dtype), zeros_like(params),
                           hess.init(params))

    def update(updates, state, params=None, **hess_fn_kwargs):
        require_params(params, "sophia")
        count = safe_increment(state.count)

        def leaf(g, m, h):
            m = tree_update_moment(g, m, b1, 1)
            u = tree_bias_correction(m, b1, count) / fnp.maximum(gamma * h, as_dtype(eps, h))
            return u, tree_cast(m, mu_dtype)
        new, mu = leafwise(leaf, updates, state.mu, state.nu, outputs=2)
        if clip_threshold is not None:
            if verbose:
                kept = sum(fnp.sum(fnp.abs(u) < clip_threshold) for u in tree_leaves(new))
                rate = kept / tree_size(new)
                lax.cond(count % print_win_rate_every_n_steps == 0,
                         lambda: debug.print("Sophia optimizer win rate: {}", rate),
                         lambda: None)
            new = tree_map(lambda u: fnp.clip(u, -clip_threshold, clip_threshold), new)

        def refresh(hess_state, nu):
            diag, hess_state = hess.update(updates, hess_state, params, **hess_fn_kwargs)
            return hess_state, leafwise(lambda d, n: (tree_update_moment(d, n, b2, 1),),
                                        diag, nu, outputs=1)[0]
        hess_state, nu = lax.cond(state.count % update_interval == 0, refresh,
                                  lambda h, n: (h, n), state.hessian_fn_state, state.nu)
        return new, SophiaState(count, mu, nu, hess_state)
    return GradientTransformationExtraArgs(init, update)


def sophia(learning_rate, b1=0.965, b2=0.99, eps=1e-8, weight_decay=1e-4,
           weight_decay_mask=None, gamma=0.01, clip_threshold=1.0, update_interval=10,
           hessian_diagonal_fn=hutchinson_estimator_diag_hessian(), mu_dtype=None,
           verbose=False, print_win_rate_every_n_steps=0):
    """Optax's contrib.sophia: Sophia's rescaling, decoupled weight decay
    (`weight_decay_mask` limits it), then the learning rate. Call
    `update(grads, state, params, obj_fn=lambda params: loss)` for the default Hutchinson
    estimator."""
    return _then_lr(scale_by_sophia(b1, b2, eps, gamma, clip_threshold, update_interval,
                                    hessian_diagonal_fn, mu_dtype, verbose,
                                    print_win_rate_every_n_steps),
                    learning_rate, weight_decay, weight_decay_mask)


# ------------------------------------------------------------------ matrices of parameters
def _axes(axis, ndim):
    return tuple(a % ndim for a in ((axis,) if isinstance(axis, int) else axis))


def _as_matrices(x, dims, who, batched):
    """`(x3, back)`: `x` as a stack of matrices `(batch, rows, columns)`, its rows the
    `dims.reduction_axis` axes, its columns the `dims.output_axis` ones and its batch the
    others (none allowed unless `batched`), and `back(y)` the inverse."""
    shape = shape_of(x)
    if len(shape) < 2:
        raise ValueError(f"{who} orthogonalizes parameters of 2 or more dimensions, got "
                         f"shape {shape}; give it only matrices (or stacks of them)")
    rows, cols = _axes(dims.reduction_axis, len(shape)), _axes(dims.output_axis, len(shape))
    if set(rows) & set(cols):
        raise ValueError(f"{who}: the reduction axes {rows} and the output axes {cols} must "
                         f"be disjoint (dimension numbers {dims}, shape {shape})")
    batch = tuple(sorted(set(range(len(shape))) - set(rows) - set(cols)))
    if batch and not batched:
        raise ValueError(f"{who}: the reduction axes {rows} and the output axes {cols} must "
                         f"name all the axes of shape {shape}")
    order = batch + rows + cols
    sizes = [math.prod(shape[a] for a in axes) for axes in (batch, rows, cols)]

    def back(y):
        return fnp.transpose(fnp.reshape(y, [shape[a] for a in order]), np.argsort(order))
    return fnp.reshape(fnp.transpose(x, order), sizes), back


def _leaf_dims(spec, tree, cls, fallback):
    """One entry of `spec` (dimension numbers, or None) for each leaf of `tree`, buffers
    included: `spec` is None or one `cls` (each leaf gets `fallback(leaf, spec)`), a tree of
    `cls`/None with the structure of `tree` or a prefix of it, or a function of the tree
    returning one of those."""
    if callable(spec):
        spec = spec(tree)
    leaves = tree_leaves(tree, no_update)
    if spec is None or isinstance(spec, cls):
        return [fallback(x, spec) for x in leaves]
    specs, treedef = tree_flatten(spec, lambda x: x is None or isinstance(x, cls))
    try:
        subtrees = treedef.flatten_up_to(tree)
    except ValueError as e:
        raise ValueError(f"the weight dimension numbers do not match the structure of the "
                         f"params: {e}. Give a {cls.__name__}, or a pytree of them (None for "
                         "a leaf left out) with the params' structure or a prefix of it") \
            from None
    return [d for d, sub in zip(specs, subtrees) for _ in tree_leaves(sub, no_update)]


def _given(x, dims):
    """The dimension numbers of every leaf when one set (or None) is given for all."""
    return dims


def _per_leaf(values, tree):
    """`values` (one per leaf of `tree`, buffers included) in `tree`'s structure, for
    `leafwise`."""
    return tree_structure(tree, no_update).unflatten(values)


# ------------------------------------------------------------------ Muon
_NS_PRESETS = {"standard": (3.4445, -4.775, 2.0315),
               "dion": ((4.0848, -6.8946, 2.927), (3.9505, -6.3029, 2.6377),
                        (3.7418, -5.5913, 2.3037), (2.8769, -3.1427, 1.2046),
                        (2.8366, -3.0525, 1.2012))}
_PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")


def _gram(x, conj=True):
    return fnp.matmul(x, fnp.swapaxes(fnp.conj(x) if conj else x, -1, -2))


def _newton_schulz(x, coeffs, steps, preconditioning, eps):
    """The orthogonalized stack of matrices `x` (rows <= columns): `steps` quintic
    Newton-Schulz iterations, coefficients `coeffs` (one row per step when 2-d), after the
    `preconditioning` normalization (AOL and Schatten rescale within the first step)."""
    eps_ = as_dtype(eps, x)
    if preconditioning == "frobenius":
        x = x / (fnp.linalg.norm(x, "fro", axis=(-2, -1), keepdims=True) + eps_)
    elif preconditioning == "spectral":
        x = x / (fnp.linalg.norm(x, 2, axis=(-2, -1), keepdims=True) + eps_)
    coeffs = coeffs.astype(dtype_of(x))
    rows = list(coeffs) if coeffs.ndim == 2 else [coeffs] * steps
    for i, (a, b, c) in enumerate(rows):
        if i == 0 and preconditioning == "aol":
            gram = _gram(x)
            s = lax.rsqrt(fnp.maximum(fnp.sum(fnp.abs(gram), axis=-1), eps))[..., None]
            x, gram = x * s, gram * s * fnp.swapaxes(s, -1, -2)
        elif i == 0 and preconditioning == "schatten":
            gram = _gram(x, conj=False)
            s = lax.rsqrt(fnp.maximum(fnp.linalg.norm(gram, "fro", axis=(-2, -1)),
                                      eps))[..., None, None]
            x, gram = x * s, gram * s ** 2
        else:
            gram = _gram(x)
        x = a * x + fnp.matmul(b * gram + c * fnp.matmul(gram, gram), x)
    return x


def _orthogonalize(x, dims, coeffs, steps, preconditioning, eps):
    if dims is None:
        if len(shape_of(x)) != 2:
            raise ValueError(f"scale_by_muon: a parameter of shape {shape_of(x)} needs "
                             "weight_dimension_numbers (a MuonDimensionNumbers saying which "
                             "axes form the matrix); only 2-d ones go without")
        dims = MuonDimensionNumbers()
    x3, back = _as_matrices(x, dims, "scale_by_muon", batched=True)
    wide = shape_of(x3)[1] <= shape_of(x3)[2]
    if not wide:
        x3 = fnp.swapaxes(x3, -1, -2)
    y = _newton_schulz(x3, coeffs, steps, preconditioning, eps)
    return back(y if wide else fnp.swapaxes(y, -1, -2))


def _check_ns_coeffs(coeffs):
    if coeffs.ndim not in (1, 2) or shape_of(coeffs)[-1] != 3:
        raise ValueError(f"ns_coeffs must have shape (3,) or (n, 3), got {shape_of(coeffs)}")


def scale_by_muon(ns_coeffs=_NS_PRESETS["standard"], ns_steps=5, beta=0.95, eps=1e-8,
                  mu_dtype=None, *, nesterov=True, adaptive=False, preconditioning="frobenius",
                  weight_dimension_numbers=None):
    """Muon's rescaling (Jordan et al. 2024): the bias-corrected momentum (Nesterov's with
    `nesterov`) of each parameter, orthogonalized by `ns_steps` Newton-Schulz iterations
    (coefficients `ns_coeffs`, (3,) or one row per step) after a `preconditioning`
    normalization ("frobenius", "spectral", "aol" or "schatten"); with `adaptive` scaled by
    its inner product with the momentum. `weight_dimension_numbers` (a MuonDimensionNumbers,
    a pytree of them, or a function of the updates returning one) says which axes form the
    matrices; without it every parameter must be 2-d."""
    if preconditioning not in _PRECONDITIONINGS:
        raise ValueError(f"scale_by_muon: unknown preconditioning {preconditioning!r}; use "
                         f"one of {_PRECONDITIONINGS}")

    def init(params):
        coeffs = fnp.asarray(ns_coeffs)
        _check_ns_coeffs(coeffs)
        if coeffs.ndim == 2:
            if shape_of(coeffs)[0] > ns_steps:
                raise ValueError(f"scale_by_muon: {shape_of(coeffs)[0]} rows of ns_coeffs "
                                 f"for ns_steps={ns_steps}; give at most one row per step")
            coeffs = coeffs[-ns_steps:]
        return MuonState(zero_count(), zeros_like(params, dtype=mu_dtype), coeffs)

    def update(updates, state, params=None):
        t = step_number(state.count)

        def leaf(g, m):
            m = tree_update_moment(g, m, beta, 1)
            return mean_hat(g, m, beta, t, nesterov), tree_cast(m, mu_dtype)
        mu_hat, mu = leafwise(leaf, updates, state.mu, outputs=2)
        dims = _per_leaf(_leaf_dims(weight_dimension_numbers, updates, MuonDimensionNumbers,
                                    _given), updates)

        def orthogonal(m_hat, d):
            u = _orthogonalize(m_hat, d, state.ns_coeffs, ns_steps, preconditioning, eps)
            return (fnp.sum(fnp.conj(m_hat) * u) * u if adaptive else u),
        new, = leafwise(orthogonal, mu_hat, dims, outputs=1, same_shape=False)
        return new, MuonState(safe_increment(state.count), mu, state.ns_coeffs)
    return GradientTransformation(init, update)


def _scale_by_shape(weight_dimension_numbers, consistent_rms):
    """Muon's scaling of each orthogonalized update by its shape: `sqrt(max(1, fan_out /
    fan_in))` (width transfer), or `sqrt(max(fan_in, fan_out)) * consistent_rms`."""
    def update(updates, state, params=None):
        dims = _leaf_dims(weight_dimension_numbers, updates, MuonDimensionNumbers,
                          _given)

        def leaf(u, d):
            d = MuonDimensionNumbers() if d is None else d
            shape = shape_of(u)
            fan_in = math.prod(shape[a] for a in _axes(d.reduction_axis, len(shape)))
            fan_out = math.prod(shape[a] for a in _axes(d.output_axis, len(shape)))
            if consistent_rms is None:
                return math.sqrt(max(1, fan_out / fan_in)) * u,
            return math.sqrt(max(fan_in, fan_out)) * consistent_rms * u,
        return leafwise(leaf, updates, _per_leaf(dims, updates), outputs=1,
                        same_shape=False)[0], state
    return GradientTransformation(lambda params: EmptyState(), update)


def muon(learning_rate, ns_coeffs=_NS_PRESETS["standard"], ns_steps=5, beta=0.95, eps=1e-8,
         weight_decay=0.0, weight_decay_mask=None, mu_dtype=None, *, nesterov=True,
         adaptive=False, preconditioning="frobenius", adam_b1=0.9, adam_b2=0.999,
         adam_eps_root=0.0, adam_weight_decay=0.0, adam_learning_rate=None,
         muon_weight_dimension_numbers=None, consistent_rms=None):
    """Optax's contrib.muon: `scale_by_muon`, the shape scaling (width transfer, or
    `consistent_rms`), decoupled weight decay and the learning rate for the matrices, AdamW
    (`adam_*` arguments; `adam_learning_rate` defaults to `learning_rate`) for the rest.
    The matrices are the 2-d parameters, or with `muon_weight_dimension_numbers` (a pytree of
    MuonDimensionNumbers / None with the params' structure or a prefix of it, or a function
    of the params returning one) those given dimension numbers. `ns_coeffs` may be a preset:
    "standard" or "dion"."""
    from .optax import adamw     # built on this module (optax.contrib), so imported late
    if isinstance(ns_coeffs, str):
        if ns_coeffs not in _NS_PRESETS:
            raise ValueError(f"muon: unknown ns_coeffs preset {ns_coeffs!r}; use one of "
                             f"{sorted(_NS_PRESETS)} or the coefficients")
        ns_coeffs = _NS_PRESETS[ns_coeffs]
    dims = MuonDimensionNumbers() if muon_weight_dimension_numbers is None \
        else muon_weight_dimension_numbers

    def labels(params):
        if muon_weight_dimension_numbers is None:
            return tree_map(lambda p: "muon" if not is_buffer(p) and len(shape_of(p)) == 2
                            else "adam", params, is_leaf=is_buffer)
        found = _leaf_dims(dims, params, MuonDimensionNumbers, _given)
        return _per_leaf(["adam" if d is None else "muon" for d in found], params)
    return multi_transform(
        {"muon": chain(scale_by_muon(ns_coeffs, ns_steps, beta, eps, mu_dtype,
                                     nesterov=nesterov, adaptive=adaptive,
                                     preconditioning=preconditioning,
                                     weight_dimension_numbers=dims),
                       _scale_by_shape(dims, consistent_rms),
                       add_decayed_weights(weight_decay, weight_decay_mask),
                       scale_by_learning_rate(learning_rate)),
         "adam": adamw(learning_rate if adam_learning_rate is None else adam_learning_rate,
                       adam_b1, adam_b2, eps, adam_eps_root, mu_dtype,
                       weight_decay=adam_weight_decay, nesterov=nesterov)},
        labels)


# ------------------------------------------------------------------ GaLore
def _galore_leaf_dims(x, dims):
    """GaLore's dimension numbers of a leaf when none are given per leaf: `dims` for
    parameters of 2 or more dimensions, or without `dims` (0, 1) for 2-d ones; else None
    (the leaf goes to the base optimizer whole)."""
    if no_update(x):
        return None
    nd = len(shape_of(x))
    if dims is None:
        return GaLoreDimensionNumbers() if nd == 2 else None
    return dims if nd >= 2 else None


def scale_by_galore(rank=128, update_proj_gap=200, scale=1.0, base_optimizer=None,
                    weight_dimension_numbers=None):
    """GaLore (Zhao et al. 2024): each matrix gradient is projected onto its top `rank`
    singular vectors (left ones for tall matrices, right ones for wide; the SVD taken in
    float32 every `update_proj_gap` updates from the first), `base_optimizer` (default
    `scale_by_adam()`) runs in that space, and its update is projected back and scaled by
    `scale`. Which parameters count as matrices, with which axes as rows and columns:
    `weight_dimension_numbers` (see `GaLoreDimensionNumbers`; default the 2-d ones); the
    others go to `base_optimizer` whole."""
    if base_optimizer is None:
        base_optimizer = scale_by_adam()
    if not isinstance(rank, int) or isinstance(rank, bool):
        raise TypeError(f"scale_by_galore: rank must be an int, got {type(rank).__name__}")
    if rank <= 0:
        raise ValueError(f"scale_by_galore: rank must be positive, got {rank}")

    def dims_of(tree):
        return _leaf_dims(weight_dimension_numbers, tree, GaLoreDimensionNumbers,
                          _galore_leaf_dims)

    def matrix(x, d):
        x2, back = _as_matrices(x, d, "scale_by_galore", batched=False)
        x2 = x2[0]
        m, n = shape_of(x2)
        return x2, back, m >= n, min(rank, m, n)

    def init(params):
        if not tree_leaves(params):
            return GaLoreState(zero_count(), base_optimizer.init(params), params)

        def shapes(p, d):
            if d is None:
                return fnp.zeros((0, 0), dtype_of(p)), fnp.zeros_like(p)
            p2, _, left, r = matrix(p, d)
            m, n = shape_of(p2)
            return (fnp.zeros((m if left else n, r), dtype_of(p)),
                    fnp.zeros((r, n) if left else (m, r), dtype_of(p)))
        projectors, proxies = leafwise(shapes, params, _per_leaf(dims_of(params), params),
                                       outputs=2, same_shape=False)
        return GaLoreState(zero_count(), base_optimizer.init(proxies), projectors)

    def update(updates, state, params=None):
        refresh = state.count % update_proj_gap == 0
        dims = _per_leaf(dims_of(updates), updates)

        def project(g, p, d):
            """The gradient in the low-rank space, the projector, and the map of an update
            there back to the gradient's shape (None: the leaf is not projected)."""
            if d is None:
                return g, p, None
            g2, back, left, r = matrix(g, d)

            def fresh():
                u, _, vh = fnp.linalg.svd(g2.astype(np.float32), full_matrices=False)
                return (u[:, :r] if left else vh[:r, :].T).astype(dtype_of(g))
            p = lax.cond(refresh, fresh, lambda: p)

            def project_back(u):
                full = fnp.matmul(p, u) if left else fnp.matmul(u, p.T)
                return (scale * back(full)).astype(dtype_of(g))
            return (fnp.matmul(p.T, g2) if left else fnp.matmul(g2, p)), p, project_back
        low, projectors, backs = leafwise(project, updates, state.projector, dims, outputs=3,
                                          same_shape=False)
        low, base_state = base_optimizer.update(low, state.base_optimizer_state, None)
        new, = leafwise(lambda u, back: (u if back is None else back(u),), low, backs,
                        outputs=1, same_shape=False)
        return new, GaLoreState(safe_increment(state.count), base_state, projectors)
    return GradientTransformation(init, update)


def galore(learning_rate, rank=128, update_proj_gap=200, scale=1.0, base_optimizer=None,
           weight_decay=0.0, mask=None, weight_dimension_numbers=None):
    """Optax's contrib.galore: `scale_by_galore`, decoupled weight decay (`mask` limits it),
    then the learning rate."""
    return _then_lr(scale_by_galore(rank, update_proj_gap, scale, base_optimizer,
                                    weight_dimension_numbers),
                    learning_rate, weight_decay, mask)


# ------------------------------------------------------------------ complex parameters
def _split(x):
    return SplitRealAndImaginaryArrays(fnp.real(x), fnp.imag(x)) if fnp.iscomplexobj(x) else x


def _join(x):
    return lax.complex(x.real, x.imaginary) if isinstance(x, SplitRealAndImaginaryArrays) \
        else x


def split_real_and_imaginary(inner):
    """`inner` run on the real and the imaginary parts of complex parameters as separate
    real ones (`SplitRealAndImaginaryArrays` leaves), its updates joined back into complex
    ones: for transformations that would mishandle complex numbers."""
    def init(params):
        return SplitRealAndImaginaryState(inner.init(map_arrays(_split, params)))

    def update(updates, state, params=None):
        new, inner_state = inner.update(map_arrays(_split, updates), state.inner_state,
                                        None if params is None else map_arrays(_split, params))
        new = tree_map(_join, new,
                       is_leaf=lambda x: isinstance(x, SplitRealAndImaginaryArrays))
        return new, SplitRealAndImaginaryState(inner_state)
    return GradientTransformation(init, update)
