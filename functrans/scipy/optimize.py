"""`functrans.scipy.optimize.minimize` with method "BFGS", as jax.scipy.optimize offers it:
gradients by autodiff, one `while_loop`, so it runs eagerly and under jit alike."""
from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..api import value_and_grad
from ..core import on_operand_device
from ..numpy._conversion import asarray, promote_inexact
from ..tree_util import tree_leaves

__all__ = ["minimize", "OptimizeResults"]


class OptimizeResults(NamedTuple):
    """What `minimize` found: the point `x`, whether it `success`fully converged, `status`
    (0 converged, 1 out of iterations, 3 the line search failed), `fun` and `jac` there,
    the inverse Hessian estimate `hess_inv`, and the counts of evaluations and iterations."""
    x: Any
    success: Any
    status: Any
    fun: Any
    jac: Any
    hess_inv: Any
    nfev: Any
    njev: Any
    nit: Any


# Armijo's sufficient decrease, and the step halvings a line search may try
_C1 = 1e-4
_HALVINGS = 30


def _leaves(args, kwargs):
    """Where minimize's operands are: x0 and the leaves of `args` (fun is a function)."""
    return tree_leaves((args, kwargs))


@partial(on_operand_device, operands=_leaves)
def minimize(fun, x0, args=(), *, method, tol=None, options=None):
    """The minimum of `fun(x, *args)` from `x0` (a 1-d array), by BFGS with a backtracking
    line search (Armijo's condition). Stops when the largest gradient component is below
    `options["gtol"]` (or `tol`; 1e-5), after `options["maxiter"]` iterations (200 per
    variable), or when no step decreases `fun`. Results may differ from SciPy's and JAX's
    in the steps taken, not in the minimum found."""
    if method.lower() != "bfgs":
        raise ValueError(f"minimize: only method 'BFGS' is supported, got {method!r}")
    options = dict(options or {})
    unknown = set(options) - {"maxiter", "gtol", "norm"}
    if unknown:
        raise ValueError(f"minimize: unknown options {sorted(unknown)} (BFGS takes maxiter, "
                         "gtol)")
    (x0,), _ = promote_inexact(x0)
    x0 = asarray(x0)
    if x0.ndim != 1:
        raise ValueError(f"minimize: x0 must be 1-d, got shape {x0.shape}")
    n = x0.shape[0]
    gtol = options.get("gtol", 1e-5 if tol is None else tol)
    maxiter = options.get("maxiter", 200 * n)
    dtype = x0.dtype

    def value_grad(x):
        value, grad = value_and_grad(lambda v: fun(v, *args))(x)
        return fnp.asarray(value, dtype=dtype), grad

    f0, g0 = value_grad(x0)
    eye = fnp.eye(n, dtype=dtype)

    def search(x, f, g, p):
        """The first of 1, 1/2, 1/4, ... decreasing f enough along p (0 if none)."""
        slope = fnp.dot(g, p)

        def cond(c):
            step, _, _, _, tries, done = c
            return (~done) & (tries < _HALVINGS)

        def body(c):
            step, _, _, _, tries, _ = c
            f_new, g_new = value_grad(x + step * p)
            ok = fnp.isfinite(f_new) & (f_new <= f + _C1 * step * slope)
            return (fnp.where(ok, step, step / 2), f_new, g_new, step, tries + 1, ok)
        init = (fnp.asarray(1.0, dtype), f, g, fnp.asarray(0.0, dtype), 0, fnp.asarray(False))
        _, f_new, g_new, taken, tries, ok = lax.while_loop(cond, body, init)
        return ok, taken, f_new, g_new, tries

    def cond(state):
        _, _, g, _, k, status, _ = state
        return (status < 0) & (k < maxiter) & (fnp.max(fnp.abs(g)) > gtol)

    def body(state):
        x, f, g, h, k, status, evals = state
        p = -(h @ g)
        ok, step, f_new, g_new, tries = search(x, f, g, p)
        s = step * p
        y = g_new - g
        sy = fnp.dot(s, y)
        curved = ok & (sy > 0)
        rho = fnp.where(curved, 1 / fnp.where(curved, sy, 1.0), 0.0)
        left = eye - rho * fnp.outer(s, y)
        h_new = left @ h @ left.T + rho * fnp.outer(s, s)
        x = fnp.where(ok, x + s, x)
        f = fnp.where(ok, f_new, f)
        g = fnp.where(ok, g_new, g)
        h = fnp.where(curved, h_new, h)
        status = fnp.where(ok, status, 3)
        return x, f, g, h, k + 1, status, evals + tries

    init = (x0, f0, g0, eye, 0, -1, 1)
    x, f, g, h, k, status, evals = lax.while_loop(cond, body, init)
    status = fnp.where(status == 3, 3, fnp.where(fnp.max(fnp.abs(g)) <= gtol, 0, 1))
    return OptimizeResults(x=x, success=status == 0, status=status.astype(np.int32), fun=f,
                           jac=g, hess_inv=h, nfev=evals, njev=evals, nit=k)
