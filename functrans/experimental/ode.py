"""`ft.experimental.ode.odeint`: JAX's adaptive Dormand-Prince ODE solver.

The solution is differentiable in reverse mode in `y0`, `t` and `*args` by the adjoint
method (Chen et al. 2018, appendix C): the backward pass integrates the augmented system
backwards in time instead of differentiating through the solver's steps.
"""
import math
import operator

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..api import vjp, vmap
from ..array import Array
from ..errors import ArgumentError
from ..extra_transforms import closure_convert
from ..flatten_util import ravel_pytree
from ..higher_order.custom_derivatives import custom_vjp
from ..tree_util import tree_leaves, tree_map

__all__ = ["odeint"]

# Dormand-Prince 5(4): nodes, stage coefficients, 5th-order weights and the error weights
# (5th minus 4th order)
_ALPHA = np.array([1 / 5, 3 / 10, 4 / 5, 8 / 9, 1., 1.])
_BETA = [
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    [35 / 384, 0., 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
]
_C_SOL = np.array([35 / 384, 0., 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.])
_C_ERR = np.array([35 / 384 - 1951 / 21600, 0., 500 / 1113 - 22642 / 50085,
                   125 / 192 - 451 / 720, -2187 / 6784 + 12231 / 42400,
                   11 / 84 - 649 / 6300, -1. / 60.])
# weights giving the solution at the middle of a step, for the dense-output polynomial
_C_MID = np.array([6025192743 / 30085553152, 0., 51252292925 / 65400821598,
                   -2691868925 / 45128329728, 187940372067 / 1594534317056,
                   -1776094331 / 19743644256, 11237099 / 235043384]) / 2


def _rk_step(func, y0, f0, t0, dt):
    """One Dormand-Prince step: the new state, its derivative, the error estimate and the
    seven stage derivatives (rows of `k`)."""
    dt_y = dt.astype(f0.dtype)
    ks = [f0]
    for i in range(6):
        coeffs = fnp.asarray(np.array(_BETA[i]), f0.dtype)
        yi = y0 + dt_y * fnp.dot(coeffs, fnp.stack(ks))
        ks.append(func(yi, t0 + dt * _ALPHA[i]))
    k = fnp.stack(ks)
    y1 = dt_y * fnp.dot(fnp.asarray(_C_SOL, f0.dtype), k) + y0
    y1_error = dt_y * fnp.dot(fnp.asarray(_C_ERR, f0.dtype), k)
    return y1, ks[-1], y1_error, k


def _interp_fit(y0, y1, k, dt):
    """Coefficients (highest power first) of the quartic through the step, in the step's
    fraction of time."""
    dt = dt.astype(y0.dtype)
    y_mid = y0 + dt * fnp.dot(fnp.asarray(_C_MID, y0.dtype), k)
    dy0, dy1 = k[0], k[-1]
    a = -2. * dt * dy0 + 2. * dt * dy1 - 8. * y0 - 8. * y1 + 16. * y_mid
    b = 5. * dt * dy0 - 3. * dt * dy1 + 18. * y0 + 14. * y1 - 32. * y_mid
    c = -4. * dt * dy0 + dt * dy1 - 11. * y0 - 5. * y1 + 16. * y_mid
    return fnp.stack([a, b, c, dt * dy0, y0])


def _initial_step_size(func, t0, y0, order, rtol, atol, f0):
    """Hairer, Norsett & Wanner, Solving ODEs I, section II.4."""
    scale = atol + fnp.abs(y0) * rtol
    d0 = fnp.linalg.norm(y0 / scale.astype(y0.dtype))
    d1 = fnp.linalg.norm(f0 / scale.astype(y0.dtype))
    h0 = fnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
    f1 = func(y0 + h0.astype(y0.dtype) * f0, t0 + h0)
    d2 = fnp.linalg.norm((f1 - f0) / scale.astype(y0.dtype)) / h0
    h1 = fnp.where((d1 <= 1e-15) & (d2 <= 1e-15), fnp.maximum(1e-6, h0 * 1e-3),
                   (0.01 / fnp.maximum(d1, d2)) ** (1. / (order + 1.)))
    return fnp.minimum(100. * h0, h1)


def _error_ratio(error, rtol, atol, y0, y1):
    tol = atol + rtol * fnp.maximum(fnp.abs(y0), fnp.abs(y1))
    ratio = error / tol.astype(error.dtype)
    squared = ratio.real ** 2 + ratio.imag ** 2 if fnp.iscomplexobj(ratio) else ratio ** 2
    return fnp.sqrt(fnp.mean(squared))


def _next_step_size(last_step, ratio, safety=0.9, ifactor=10.0, dfactor=0.2, order=5.0):
    dfactor = fnp.where(ratio < 1, 1.0, dfactor)
    factor = fnp.minimum(ifactor, fnp.maximum(ratio ** (-1.0 / order) * safety, dfactor))
    return fnp.where(ratio == 0, last_step * ifactor, last_step * factor)


def _solve(func, rtol, atol, mxstep, hmax, y0, ts, *args):
    """The flat solver: `func(y, t, *args)` on 1-d `y`; rows of the result at `ts`."""
    def f(y, t):
        return func(y, t, *args)

    def to_target(carry, target_t):
        def cond(state):
            i, _, _, t, dt, _, _ = state
            return (t < target_t) & (i < mxstep) & (dt > 0)

        def body(state):
            i, y, fy, t, dt, last_t, coeffs = state
            next_y, next_f, error, k = _rk_step(f, y, fy, t, dt)
            ratio = _error_ratio(error, rtol, atol, y, next_y)
            new_coeffs = _interp_fit(y, next_y, k, dt)
            new_dt = fnp.clip(_next_step_size(dt, ratio), 0., hmax)
            accept = ratio <= 1.
            new = [i + 1, next_y, next_f, t + dt, new_dt, t, new_coeffs]
            old = [i + 1, y, fy, t, new_dt, last_t, coeffs]
            return [fnp.where(accept, a, b) for a, b in zip(new, old)]

        _, *carry = lax.while_loop(cond, body, [0] + carry)
        _, _, t, _, last_t, coeffs = carry
        s = ((target_t - last_t) / (t - last_t)).astype(coeffs.dtype)
        y_target = coeffs[0]
        for c in coeffs[1:]:
            y_target = y_target * s + c
        return carry, y_target

    f0 = f(y0, ts[0])
    dt = fnp.clip(_initial_step_size(f, ts[0], y0, 4, rtol, atol, f0), 0., hmax)
    carry = [y0, f0, ts[0], dt, ts[0], fnp.stack([y0] * 5)]
    _, ys = lax.scan(to_target, carry, ts[1:])
    return fnp.concatenate((y0[None], ys))


def _solve_fwd(func, rtol, atol, mxstep, hmax, y0, ts, *args):
    ys = _solve_diff(func, rtol, atol, mxstep, hmax, y0, ts, *args)
    return ys, (ys, ts, args)


def _solve_bwd(func, rtol, atol, mxstep, hmax, residuals, g):
    ys, ts, args = residuals

    def augmented(state, minus_t, *args):
        # integrated in negated time, so that the time points increase
        y, y_bar, *_ = state
        y_dot, pullback = vjp(func, y, -minus_t, *args)
        return (-y_dot, *pullback(y_bar))

    def back_one_interval(carry, i):
        y_bar, t0_bar, args_bar = carry
        # moving the i-th output time moves the output along the solution
        t_bar = fnp.dot(func(ys[i], ts[i], *args), g[i]).real
        t0_bar = t0_bar - t_bar
        _, y_bar, t0_bar, args_bar = odeint(
            augmented, (ys[i], y_bar, t0_bar, args_bar), fnp.stack([-ts[i], -ts[i - 1]]),
            *args, rtol=rtol, atol=atol, mxstep=mxstep, hmax=hmax)
        y_bar, t0_bar, args_bar = tree_map(operator.itemgetter(1), (y_bar, t0_bar, args_bar))
        return (y_bar + g[i - 1], t0_bar, args_bar), t_bar

    init = (g[-1], fnp.zeros((), ts.dtype), tree_map(fnp.zeros_like, args))
    (y_bar, t0_bar, args_bar), rev_ts_bar = lax.scan(
        back_one_interval, init, fnp.arange(len(ts) - 1, 0, -1))
    ts_bar = fnp.concatenate([t0_bar[None].astype(ts.dtype), rev_ts_bar[::-1]])
    return (y_bar, ts_bar, *args_bar)


_solve_diff = custom_vjp(_solve, nondiff_argnums=(0, 1, 2, 3, 4))
_solve_diff.defvjp(_solve_fwd, _solve_bwd)


def _check_args(y0, t, args):
    for leaf in tree_leaves(args):
        if not isinstance(leaf, (Array, np.ndarray, np.generic, int, float, complex, bool)) \
                and not hasattr(leaf, "aval"):
            raise ArgumentError(f"odeint: the *args passed on to func must be arrays, scalars "
                                f"or pytrees of them; got {type(leaf).__name__}: {leaf!r}")
    t = fnp.asarray(t)
    if t.ndim != 1 or not fnp.issubdtype(t.dtype, fnp.floating):
        raise ArgumentError(f"odeint: t must be a 1-d array of floats (increasing times); got "
                            f"{t.dtype} of shape {t.shape}")
    leaves = tree_leaves(y0)
    if not leaves:
        raise ArgumentError(f"odeint: y0 must be an array or a pytree of arrays; got {y0!r}")
    return t


def odeint(func, y0, t, *args, rtol=1.4e-8, atol=1.4e-8, mxstep=math.inf, hmax=math.inf):
    """Solves `dy/dt = func(y, t, *args)` from `y(t[0]) = y0` by adaptive Dormand-Prince
    Runge-Kutta steps; returns `y` at each time of the 1-d increasing `t`, as a pytree like
    `y0` with a leading axis of length `len(t)`. `rtol`/`atol` bound the local error, `mxstep`
    the steps between two output times, `hmax` the step size. Differentiable in reverse mode
    (adjoint method) in `y0`, `t`, `args` and values `func` closes over; jit- and vmap-able."""
    if not callable(func):
        raise ArgumentError(f"odeint: func must be callable as func(y, t, *args); got "
                            f"{type(func).__name__}")
    t = _check_args(y0, t, args)
    y0 = tree_map(lambda x: x if fnp.issubdtype(fnp.result_type(x), fnp.inexact)
                  else fnp.asarray(x, fnp.result_type(float)), y0)
    converted, consts = closure_convert(func, y0, t[0], *args)
    flat_y0, unravel = ravel_pytree(y0)

    def flat_func(y, t, *args):
        out = converted(unravel(y), t, *args)
        flat_out, _ = ravel_pytree(out)
        if flat_out.shape != y.shape:
            raise ArgumentError(f"odeint: func must return the structure and shapes of y0 "
                                f"({y.shape[0]} values in all); it returned {out!r}")
        return flat_out.astype(y.dtype)

    out = _solve_diff(flat_func, rtol, atol, mxstep, hmax, flat_y0, t, *args, *consts)
    return vmap(unravel)(out)
