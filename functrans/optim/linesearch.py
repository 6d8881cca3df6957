"""Optax's L-BFGS and line searches, with Optax's names, arguments, defaults and states:
`scale_by_lbfgs`, `scale_by_backtracking_linesearch` (sufficient decrease),
`scale_by_zoom_linesearch` (strong Wolfe conditions), `lbfgs` (their chain) and
`value_and_grad_from_state`, which reuses the value and gradient a line search computed at
the new parameters:

    solver = optax.lbfgs()
    state = solver.init(params)
    value_and_grad = optax.value_and_grad_from_state(f)
    value, grad = value_and_grad(params, state=state)
    updates, state = solver.update(grad, state, params, value=value, grad=grad, value_fn=f)

The line searches loop with `lax.while_loop` and `lax.cond`, so an update runs eagerly or
under `ft.jit` alike. Float scalars of the states (learning rates, values, errors, the
L-BFGS weights) take the real dtype of the first parameter leaf.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, NamedTuple

import numpy as np

from .. import debug, lax
from .. import numpy as fnp
from ..api import grad as _grad, value_and_grad as _value_and_grad
from ..primitives._util import dtype_of, shape_of
from ..tree_util import tree_leaves, tree_map
from .base import GradientTransformation, GradientTransformationExtraArgs, displayed
from .blocks import identity, scale_by_learning_rate
from .extras import safe_increment
from .transforms import chain, scale
from .tree_utils import (tree_add_scale, tree_cast_like, tree_conj, tree_get, tree_norm,
                         tree_real, tree_scale, tree_sub, tree_vdot, tree_where,
                         tree_zeros_like)

__all__ = ["scale_by_lbfgs", "ScaleByLBFGSState", "lbfgs", "scale_by_backtracking_linesearch",
           "ScaleByBacktrackingLinesearchState", "BacktrackingLinesearchInfo",
           "scale_by_zoom_linesearch", "ScaleByZoomLinesearchState", "ZoomLinesearchInfo",
           "value_and_grad_from_state"]


def _real_dtype(params, name):
    leaves = tree_leaves(params)
    if not leaves:
        raise ValueError(f"{name}: the params have no array leaves; pass the parameters "
                         "being optimized (an array or a pytree of arrays)")
    return np.empty((), dtype_of(leaves[0])).real.dtype


def _scalar(x, dtype):
    return fnp.asarray(x).astype(dtype)


def _divide_or_nan(num, den):
    """`num / den`, NaN where `den` is 0 (without NumPy's divide-by-zero warning)."""
    nonzero = den != 0
    return fnp.where(nonzero, num / fnp.where(nonzero, den, 1), np.nan)


def _need(name, params, value, grad, value_fn):
    missing = [arg for arg, given in (("value", value), ("grad", grad), ("value_fn", value_fn))
               if given is None]
    if params is None:
        missing.insert(0, "params")
    if missing:
        raise TypeError(
            f"{name}.update: missing {', '.join(missing)}: the line search evaluates the "
            "objective along the update direction. Call opt.update(grads, state, params, "
            "value=value, grad=grads, value_fn=f) with value, grads = ft.value_and_grad(f)("
            "params) or optax.value_and_grad_from_state(f)(params, state=state)")


def _fn_kwargs(name, value_fn, extra_args):
    """The extra keyword arguments `value_fn` takes; a TypeError for the others."""
    try:
        accepted = inspect.signature(value_fn).parameters
    except (TypeError, ValueError):     # no signature to read: pass them all
        return dict(extra_args)
    unused = sorted(k for k in extra_args if k not in accepted)
    if unused:
        raise TypeError(f"{name}.update: value_fn takes no keyword argument(s) {unused}; pass "
                        "update only the extra keyword arguments value_fn accepts")
    return dict(extra_args)


# ------------------------------------------------------------------ L-BFGS
@displayed
class ScaleByLBFGSState(NamedTuple):
    """The step count, the last params and updates, and the `memory_size` last differences
    of params and of updates (stacked on a leading axis) with their weights
    `1 / <d_updates, d_params>`."""
    count: Any
    params: Any
    updates: Any
    diff_params_memory: Any
    diff_updates_memory: Any
    weights_memory: Any


def _at(memory, i):
    return tree_map(lambda x: x[i], memory)


def _precondition(updates, diff_params, diff_updates, weights, gamma, newest):
    """The two-loop recursion: the L-BFGS inverse-Hessian estimate (`gamma * I` updated by
    the stored pairs, oldest first) times `updates`."""
    memory_size = shape_of(weights)[0]
    order = (newest + fnp.arange(memory_size)) % memory_size

    def backward(vec, i):
        alpha = weights[i] * tree_real(tree_vdot(_at(diff_params, i), vec))
        return tree_cast_like(tree_add_scale(vec, -alpha, _at(diff_updates, i)), vec), alpha
    vec, alphas = lax.scan(backward, updates, order, reverse=True)
    vec = tree_cast_like(tree_scale(gamma, vec), updates)

    def forward(vec, i_alpha):
        i, alpha = i_alpha
        beta = weights[i] * tree_real(tree_vdot(_at(diff_updates, i), vec))
        return tree_cast_like(tree_add_scale(vec, alpha - beta, _at(diff_params, i)), vec), beta
    vec, _ = lax.scan(forward, vec, (order, alphas))
    return vec


def scale_by_lbfgs(memory_size=10, scale_init_precond=True):
    """Optax's L-BFGS direction: the updates times an inverse-Hessian estimate built from the
    last `memory_size` differences of params and updates (the memory is updated first, with
    the step just taken). The initial estimate is `gamma * I` with
    `gamma = <dw, du> / <du, du>` of the newest pair when `scale_init_precond` (1 otherwise);
    at the first step it is `min(1, 1 / |updates|)`. Chain a line search after it (`lbfgs`)."""
    if not isinstance(memory_size, (int, np.integer)) or memory_size < 1:
        raise ValueError(f"scale_by_lbfgs: memory_size must be an int >= 1, got {memory_size!r}")

    def init(params):
        zeros = tree_zeros_like(params)
        stacked = tree_map(lambda p: fnp.zeros((memory_size, *shape_of(p)), dtype_of(p)),
                           params)
        return ScaleByLBFGSState(fnp.zeros((), np.int32), zeros, zeros, stacked, stacked,
                                 fnp.zeros(memory_size, _real_dtype(params, "scale_by_lbfgs")))

    def update(updates, state, params=None):
        if params is None:
            raise TypeError("scale_by_lbfgs.update: missing params: the differences of "
                            "params make the curvature pairs; call "
                            "opt.update(grads, state, params)")
        count = state.count
        newest = count % memory_size
        started = count > 0
        d_params = tree_sub(params, state.params)
        d_updates = tree_sub(updates, state.updates)
        curvature = tree_real(tree_vdot(d_updates, d_params))
        weight = fnp.where(curvature == 0, 0.0, _divide_or_nan(1.0, curvature))
        d_params, d_updates, weight = tree_map(
            lambda x: fnp.where(started, x, fnp.zeros_like(x)), (d_params, d_updates, weight))
        previous = (count - 1) % memory_size
        diff_params, diff_updates, weights = tree_map(
            lambda memory, x: memory.at[previous].set(x.astype(dtype_of(memory))),
            (state.diff_params_memory, state.diff_updates_memory, state.weights_memory),
            (d_params, d_updates, weight))

        if scale_init_precond:
            squared = tree_norm(d_updates, squared=True)
            gamma = fnp.where(squared > 0, _divide_or_nan(curvature, squared), 1.0)
            norm = tree_norm(lax.stop_gradient(updates))
            first = fnp.where(norm == 0, 1.0, fnp.minimum(1.0, _divide_or_nan(1.0, norm)))
            gamma = fnp.where(started, gamma, first)
        else:
            gamma = 1.0
        direction = _precondition(updates, diff_params, diff_updates, weights, gamma, newest)
        count = safe_increment(count)
        return direction, ScaleByLBFGSState(count, params, updates, diff_params,
                                            diff_updates, weights)
    return GradientTransformation(init, update)


# ------------------------------------------------------------------ backtracking
@displayed
class BacktrackingLinesearchInfo(NamedTuple):
    """The number of trial steps and the sufficient-decrease violation (0 on success)."""
    num_linesearch_steps: Any
    decrease_error: Any


@displayed
class ScaleByBacktrackingLinesearchState(NamedTuple):
    """The learning rate found, the value at the new params, the gradient there (None
    unless `store_grad`) and the search's `info`."""
    learning_rate: Any
    value: Any
    grad: Any
    info: BacktrackingLinesearchInfo


class _BacktrackingSearch(NamedTuple):
    learning_rate: Any
    new_value: Any
    new_grad: Any
    decrease_error: Any
    iter_num: Any


def scale_by_backtracking_linesearch(max_backtracking_steps, slope_rtol=1e-4,
                                     decrease_factor=0.8, increase_factor=1.5,
                                     max_learning_rate=1.0, atol=0.0, rtol=0.0,
                                     store_grad=False, verbose=False):
    """Optax's backtracking line search: starting from
    `min(increase_factor * previous rate, max_learning_rate)`, the rate shrinks by
    `decrease_factor` until `f(w + lr u) <= (1 + rtol) f(w) + lr slope_rtol <u, grad f(w)>
    + atol` (at most `max_backtracking_steps` times); the updates are scaled by it (by 0
    when every trial gave inf or NaN). `update` takes `value=`, `grad=`, `value_fn=` and
    the keyword arguments `value_fn` needs; `store_grad` keeps the gradient at the new params
    for `value_and_grad_from_state`."""
    name = "scale_by_backtracking_linesearch"

    def init(params):
        real = _real_dtype(params, name)
        return ScaleByBacktrackingLinesearchState(
            _scalar(1.0, real), _scalar(np.inf, real),
            tree_zeros_like(params) if store_grad else None,
            BacktrackingLinesearchInfo(fnp.zeros((), np.int32), _scalar(np.inf, real)))

    def decrease_error(stepsize, slope, value, new_value):
        error = new_value - (1.0 + rtol) * value - stepsize * slope_rtol * slope
        return fnp.maximum(fnp.where(fnp.isnan(error), np.inf, error), 0.0)

    def update(updates, state, params=None, *, value=None, grad=None, value_fn=None,
               **extra_args):
        _need(name, params, value, grad, value_fn)
        fn = functools.partial(value_fn, **_fn_kwargs(name, value_fn, extra_args))
        real = dtype_of(state.value)
        value = _scalar(value, real)
        slope = tree_real(tree_vdot(updates, tree_conj(grad))).astype(real)

        def running(search):
            return ~(search.decrease_error <= atol) & (search.iter_num <= max_backtracking_steps)

        def step(search):
            lr = fnp.where(search.iter_num > 0, decrease_factor * search.learning_rate,
                           search.learning_rate)
            new_params = tree_add_scale(params, lr, updates)
            new_value = fn(new_params)
            error = decrease_error(lr, slope, value, new_value)
            new_grad = search.new_grad
            if store_grad:
                new_grad = lax.cond((error <= atol) | (search.iter_num == max_backtracking_steps),
                                    lambda p: tree_cast_like(_grad(fn)(p), p),
                                    lambda p: search.new_grad, new_params)
            return tree_cast_like(_BacktrackingSearch(lr, new_value, new_grad, error,
                                                      search.iter_num + 1), search)

        start = fnp.minimum(increase_factor * state.learning_rate, max_learning_rate)
        search = _BacktrackingSearch(_scalar(start, real), value, tree_zeros_like(params),
                                     _scalar(np.inf, real), fnp.zeros((), np.int32))
        search = lax.while_loop(running, step, search)
        lr = fnp.where(fnp.isinf(search.decrease_error), 0.0, search.learning_rate)
        if verbose:
            _report(search.decrease_error > atol,
                    f"{name}: no learning rate with sufficient decrease found (decrease "
                    "error {}, learning rate {}; 0 is used when the error is infinite)",
                    search.decrease_error, search.learning_rate)
        new_state = ScaleByBacktrackingLinesearchState(
            lr, search.new_value, search.new_grad if store_grad else None,
            BacktrackingLinesearchInfo(search.iter_num, search.decrease_error))
        return (tree_cast_like(tree_scale(lr, updates), updates),
                tree_cast_like(new_state, state))
    return GradientTransformationExtraArgs(init, update)


def _report(condition, fmt, *args):
    lax.cond(condition, lambda: debug.print(fmt, *args), lambda: None)


# ------------------------------------------------------------------ zoom
@displayed
class ZoomLinesearchInfo(NamedTuple):
    """The number of trial steps and the violations of the sufficient-decrease and the
    curvature conditions at the step taken (0 where satisfied)."""
    num_linesearch_steps: Any
    decrease_error: Any
    curvature_error: Any


@displayed
class ScaleByZoomLinesearchState(NamedTuple):
    """The learning rate found, the value and the gradient at the new params (for
    `value_and_grad_from_state`) and the search's `info`."""
    learning_rate: Any
    value: Any
    grad: Any
    info: ZoomLinesearchInfo


class _ZoomSearch(NamedTuple):
    """The zoom search's loop state: the last trial, the bracket [low, high] (low has the
    lower value, not the smaller stepsize) and the best trial with sufficient decrease."""
    count: Any
    stepsize: Any
    value: Any
    grad: Any
    slope: Any
    decrease_error: Any
    curvature_error: Any
    error: Any
    interval_found: Any
    done: Any
    failed: Any
    low: Any
    value_low: Any
    slope_low: Any
    high: Any
    value_high: Any
    slope_high: Any
    cubic_ref: Any
    value_cubic_ref: Any
    safe_stepsize: Any
    safe_value: Any
    safe_grad: Any


def _cubic_min(a, fa, fpa, b, fb, c, fc):
    """The local minimizer of the cubic through (a, fa), (b, fb), (c, fc) with slope fpa at
    a; NaN when there is none."""
    db, dc = b - a, c - a
    rb, rc = fb - fa - fpa * db, fc - fa - fpa * dc
    denom = (db * dc) ** 2 * (db - dc)
    cubic = _divide_or_nan(dc ** 2 * rb - db ** 2 * rc, denom)
    quad = _divide_or_nan(-(dc ** 3) * rb + db ** 3 * rc, denom)
    radical = quad * quad - 3.0 * cubic * fpa
    root = fnp.sqrt(fnp.where(radical >= 0, radical, 0.0))
    return fnp.where(radical >= 0, a + _divide_or_nan(root - quad, 3.0 * cubic), np.nan)


def _quad_min(a, fa, fpa, b, fb):
    """The critical point of the parabola through (a, fa), (b, fb) with slope fpa at a."""
    db = b - a
    curv = _divide_or_nan(fb - fa - fpa * db, db ** 2)
    return a - _divide_or_nan(fpa, 2.0 * curv)


def scale_by_zoom_linesearch(max_linesearch_steps, max_learning_rate=None, tol=0.0,
                             increase_factor=2.0, slope_rtol=1e-4, curv_rtol=0.9,
                             approx_dec_rtol=1e-6, stepsize_precision=1e-5,
                             initial_guess_strategy="keep", verbose=False):
    """Optax's zoom line search (Nocedal and Wright's algorithms 3.5 and 3.6): a learning
    rate satisfying the strong Wolfe conditions, sufficient decrease
    `f(w + lr u) <= f(w) + slope_rtol lr <u, grad f(w)> + tol` (or Hager and Zhang's
    approximate decrease near a minimum, unless `approx_dec_rtol` is None) and small
    curvature `|<grad f(w + lr u), u>| <= curv_rtol |<grad f(w), u>| + tol`. The rate grows
    by `increase_factor` from the initial guess (1 with `initial_guess_strategy="one"`, the
    previous rate with "keep") until an interval holds one, then the interval shrinks by
    cubic, quadratic or bisection steps; at most `max_linesearch_steps` trials, after which
    the best rate with sufficient decrease is taken if any. `update` takes `value=`,
    `grad=`, `value_fn=` and the keyword arguments `value_fn` needs."""
    name = "scale_by_zoom_linesearch"
    if initial_guess_strategy not in ("one", "keep"):
        raise ValueError(f"{name}: initial_guess_strategy must be 'one' or 'keep', got "
                         f"{initial_guess_strategy!r}")

    def init(params):
        real = _real_dtype(params, name)
        inf = _scalar(np.inf, real)
        return ScaleByZoomLinesearchState(
            _scalar(1.0, real), inf, tree_zeros_like(params),
            ZoomLinesearchInfo(fnp.zeros((), np.int32), inf, inf))

    def update(updates, state, params=None, *, value=None, grad=None, value_fn=None,
               **extra_args):
        _need(name, params, value, grad, value_fn)
        fn_value_and_grad = functools.partial(
            _value_and_grad(value_fn), **_fn_kwargs(name, value_fn, extra_args))
        real = dtype_of(state.value)
        value_init = _scalar(value, real)
        grad = tree_cast_like(grad, params)
        slope_init = tree_real(tree_vdot(updates, grad)).astype(real)
        guess = (_scalar(1.0, real) if initial_guess_strategy == "one"
                 else state.learning_rate)

        def on_line(stepsize):
            value, grad = fn_value_and_grad(tree_add_scale(params, stepsize, updates))
            return value, grad, tree_real(tree_vdot(tree_conj(grad), updates))

        def errors(stepsize, value, slope):
            decrease = value - value_init - slope_rtol * stepsize * slope_init
            if approx_dec_rtol is not None:
                approx = fnp.maximum(slope - (2 * slope_rtol - 1.0) * slope_init,
                                     value - value_init - approx_dec_rtol * fnp.abs(value_init))
                decrease = fnp.minimum(approx, decrease)
            decrease = fnp.maximum(decrease, 0.0)
            curvature = fnp.maximum(fnp.abs(slope) - curv_rtol * fnp.abs(slope_init), 0.0)
            decrease, curvature = (fnp.where(fnp.isnan(e), np.inf, e)
                                   for e in (decrease, curvature))
            return decrease, curvature, fnp.maximum(decrease, curvature)

        def search_interval(s):
            stepsize = fnp.where(s.count == 0, guess, increase_factor * s.stepsize)
            if max_learning_rate is not None:
                at_max = stepsize >= max_learning_rate
                stepsize = fnp.minimum(stepsize, max_learning_rate)
            else:
                at_max = fnp.asarray(False)
            value, grad, slope = on_line(stepsize)
            decrease, curvature, error = errors(stepsize, value, slope)
            safe = tree_where(decrease <= tol, [stepsize, value, grad],
                              [s.safe_stepsize, s.safe_value, s.safe_grad])
            high_is_new = (decrease > 0.0) | ((value >= s.value) & (s.count > 0))
            low_is_new = (slope >= 0.0) & ~high_is_new
            bracket = tree_where(low_is_new,
                                 [stepsize, value, slope, s.stepsize, s.value, s.slope],
                                 [s.stepsize, s.value, s.slope, stepsize, value, slope])
            interval_found = high_is_new | low_is_new | (error <= tol)
            done = (error <= tol) | (at_max & ~interval_found)
            failed = (s.count + 1 >= max_linesearch_steps) & ~done
            return _ZoomSearch(s.count + 1, stepsize, value, grad, slope, decrease, curvature,
                               error, interval_found, done, failed, *bracket,
                               bracket[0], bracket[1], *safe)

        def zoom(s):
            delta = fnp.abs(s.high - s.low)
            left, right = fnp.minimum(s.high, s.low), fnp.maximum(s.high, s.low)
            cubic = _cubic_min(s.low, s.value_low, s.slope_low, s.high, s.value_high,
                               s.cubic_ref, s.value_cubic_ref)
            use_cubic = (cubic > left + 0.2 * delta) & (cubic < right - 0.2 * delta)
            quad = _quad_min(s.low, s.value_low, s.slope_low, s.high, s.value_high)
            use_quad = ~use_cubic & (quad > left + 0.1 * delta) & (quad < right - 0.1 * delta)
            middle = fnp.where(use_cubic, cubic, fnp.where(use_quad, quad,
                                                           (s.low + s.high) / 2.0))
            value, grad, slope = on_line(middle)
            decrease, curvature, error = errors(middle, value, slope)
            safe = tree_where((decrease <= tol) & (value < s.safe_value),
                              [middle, value, grad],
                              [s.safe_stepsize, s.safe_value, s.safe_grad])
            done = error <= tol
            high_is_middle = (decrease > 0.0) | (value >= s.value_low)
            high_is_low = (slope * (s.high - s.low) >= 0.0) & ~high_is_middle
            point = [middle, value, slope]
            low = [s.low, s.value_low, s.slope_low]
            high = tree_where(high_is_middle, point, [s.high, s.value_high, s.slope_high])
            high = tree_where(high_is_low, low, high)
            low = tree_where(~high_is_middle, point, low)
            cubic_ref = tree_where(high_is_middle | high_is_low, [s.high, s.value_high],
                                   [s.low, s.value_low])
            stalled = (s.count + 1 >= max_linesearch_steps) | (
                (delta <= stepsize_precision) & (safe[0] > 0.0))
            return _ZoomSearch(s.count + 1, middle, value, grad, slope, decrease, curvature,
                               error, s.interval_found, done, stalled & ~done, *low, *high,
                               *cubic_ref, *safe)

        def fall_back(s):
            """The best step with sufficient decrease (the last trial if none, or no step
            if that one left the domain)."""
            use_safe = (s.safe_stepsize > 0.0) | fnp.isinf(s.decrease_error)
            stepsize, value, grad = tree_where(use_safe,
                                               [s.safe_stepsize, s.safe_value, s.safe_grad],
                                               [s.stepsize, s.value, s.grad])
            return s._replace(stepsize=stepsize, value=value, grad=grad)

        def step(s):
            new = lax.cond(s.interval_found, zoom, search_interval, s)
            new = lax.cond(new.failed, fall_back, lambda x: x, tree_cast_like(new, s))
            return tree_cast_like(new, s)

        zero, inf = _scalar(0.0, real), _scalar(np.inf, real)
        false = fnp.asarray(False)
        start = _ZoomSearch(fnp.zeros((), np.int32), zero, value_init, grad, slope_init,
                            inf, inf, inf, false, false, false,
                            zero, value_init, slope_init, zero, value_init, slope_init,
                            zero, value_init, zero, value_init, grad)
        final = lax.while_loop(lambda s: ~(s.done | s.failed), step, start)
        if verbose:
            _report(final.error > tol,
                    f"{name}: the step taken misses the conditions (decrease error {{}}, "
                    "curvature error {}, learning rate {}, slope at 0 {} (must be negative))",
                    final.decrease_error, final.curvature_error, final.stepsize, slope_init)
        new_state = ScaleByZoomLinesearchState(
            final.stepsize, final.value, final.grad,
            ZoomLinesearchInfo(final.count, final.decrease_error, final.curvature_error))
        return (tree_cast_like(tree_scale(final.stepsize, updates), updates),
                tree_cast_like(new_state, state))
    return GradientTransformationExtraArgs(init, update)


def lbfgs(learning_rate=None, memory_size=10, scale_init_precond=True,
          linesearch=scale_by_zoom_linesearch(max_linesearch_steps=20,
                                              initial_guess_strategy="one")):
    """Optax's lbfgs: `scale_by_lbfgs`, then `-learning_rate` (-1 when None), then the line
    search (none when None). Its update takes `value=`, `grad=` and `value_fn=` for the
    line search; see `value_and_grad_from_state`."""
    return chain(scale_by_lbfgs(memory_size=memory_size, scale_init_precond=scale_init_precond),
                 scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate),
                 identity() if linesearch is None else linesearch)


def value_and_grad_from_state(value_fn):
    """`ft.value_and_grad(value_fn)` that reuses the value and gradient a line search stored
    in the optimizer state: `value_and_grad(params, *args, state=opt_state, **kwargs)`.
    They are computed afresh while the stored value is inf or NaN (before the first
    update)."""
    def value_and_grad(params, *fn_args, state, **fn_kwargs):
        value = tree_get(state, "value")
        grad = tree_get(state, "grad")
        if value is None or grad is None:
            raise ValueError(
                "value_and_grad_from_state: the optimizer state holds no "
                f"{'value' if value is None else 'grad'}; it needs a line search that stores "
                "them (scale_by_zoom_linesearch, or scale_by_backtracking_linesearch with "
                "store_grad=True) in the optimizer")

        def fresh(p, args, kwargs):
            return tree_cast_like(_value_and_grad(value_fn)(p, *args, **kwargs),
                                  (value, grad))
        return lax.cond(fnp.isfinite(value), lambda *_: (value, grad), fresh,
                        params, fn_args, fn_kwargs)
    return value_and_grad
