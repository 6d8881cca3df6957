"""`functrans.experimental.jet`: Taylor-mode propagation of truncated power series, JAX's
`jax.experimental.jet` (`jet`, `jet2`).

Given the primal `x0` and the terms `(x1, ..., xK)` of each argument, `jet` returns the value
and the first `K` terms of `f` along the curve `x(t) = x0 + x1 t + x2 t^2/2! + ... +
xK t^K/K!`: the `k`-th output term is the `k`-th derivative of `f(x(t))` at `t = 0`. With
`factorial_scaled=False` (`jet2`) the terms are the plain Taylor coefficients of both curves
(`x(t) = x0 + x1 t + ... + xK t^K`, output term `k` is the derivative over `k!`).

    >>> y0, (y1, y2) = jet(fnp.sin, (0.125,), ((0.75, 3.0),))   # sin(z^3) at z = 0.5

functrans computes the terms by `K` nested forward-mode passes (`ft.jvp`) along `t`, so every
differentiable function jets, including `jit`, `vmap`, control flow and custom derivatives, and
`jet` composes with `jit` and `vmap` in turn. The cost: each pass carries the values and
derivatives of the pass below, so the work and the traced program grow about threefold per
order (for `tanh(sin(x) * x)`, three operations, orders 1 to 4 trace 15, 55, 183 and 578;
under `jit` that tracing happens once). JAX propagates the coefficients primitive
by primitive instead, at a cost quadratic in `K`, but only for primitives with a jet rule.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from .. import numpy as fnp
from ..api import jvp
from ..numpy._conversion import asarray_like
from ..tree_util import tree_flatten, tree_unflatten

__all__ = ["jet", "jet2"]


def jet(fun, primals, series, factorial_scaled=True):
    """Taylor-mode differentiation: `(fun(*primals), series_out)`, where `series_out` has the
    structure of the output with a list of the `K` output terms at each leaf.

    `primals` is a tuple of arrays (one per positional argument of `fun`) and `series` a tuple
    of as many lists, each holding the `K` terms of its argument (arrays of its shape).
    """
    primals, series, order = _check(primals, series)
    # x(t) = x0 + t (c1 + t (c2 + ...)), in Horner form, with c_k = x_k / k! (factorial-scaled)
    coeffs = series if not factorial_scaled else [
        [c / math.factorial(k) for k, c in enumerate(terms, 1)] for terms in series]
    real = [dtypes.finfo(x.dtype).dtype for x in primals]
    t_dtype = dtypes.result_type(*real) if real else dtypes.default_float_dtype()
    out_tree = []

    def along(t):
        xs = []
        for x, cs in zip(primals, coeffs):
            tt = t.astype(x.dtype)
            acc = None
            for c in reversed(cs):
                acc = c if acc is None else c + tt * acc
            xs.append(x if acc is None else x + tt * acc)
        leaves, tree = tree_flatten(fun(*xs))
        out_tree.append(tree)
        return [[fnp.asarray(y) for y in leaves]]

    def derive(h):          # t -> [f, f', ..., f^(k)] gives t -> [f, ..., f^(k+1)]
        def h_next(t):
            values, tangents = jvp(h, (t,), (asarray_like(1, t, t_dtype),))
            return values + [tangents[-1]]
        return h_next

    h = along
    for _ in range(order):
        h = derive(h)
    first, *rest = h(asarray_like(0, primals[0], t_dtype) if primals else
                     np.zeros((), t_dtype))
    terms = []
    for j, y in enumerate(first):
        if not dtypes.is_inexact(y.dtype):      # integer outputs have zero terms
            terms.append([fnp.zeros_like(y)] * order)
        elif factorial_scaled:
            terms.append([r[j] for r in rest])
        else:
            terms.append([r[j] / math.factorial(k) for k, r in enumerate(rest, 1)])
    return tree_unflatten(out_tree[0], first), tree_unflatten(out_tree[0], terms)


def jet2(fun, primals, series):
    """`jet` with plain Taylor coefficients: `jet(fun, primals, series, factorial_scaled=False)`.
    """
    return jet(fun, primals, series, factorial_scaled=False)


def _check(primals, series):
    """The primals and series as lists of arrays, and the order; clear errors for bad input."""
    for name, v in (("primals", primals), ("series", series)):
        if not isinstance(v, (tuple, list)):
            raise TypeError(f"jet: {name} must be a tuple or list with one entry per argument, "
                            f"got {type(v).__name__}")
    if len(primals) != len(series):
        raise ValueError(f"jet: {len(primals)} primals but {len(series)} series; give one "
                         "list of terms per primal")
    for i, terms in enumerate(series):
        if not isinstance(terms, (tuple, list)):
            raise TypeError(f"jet: series[{i}] must be a tuple or list of terms, got "
                            f"{type(terms).__name__}")
    orders = {len(terms) for terms in series}
    if len(orders) > 1:
        raise ValueError("jet: the series have inconsistent lengths "
                         f"{[len(terms) for terms in series]}; every argument needs as many terms")
    xs, out = [], []
    for i, (x, terms) in enumerate(zip(primals, series)):
        if not _is_leaf(x):
            raise ValueError(f"jet: the primal at position {i} is not an array (got a "
                             f"{type(x).__name__}); pass arrays, one per argument")
        x = fnp.asarray(x)
        if not dtypes.is_inexact(x.dtype):
            raise TypeError(f"jet: the primal at position {i} has dtype {x.dtype}; jet needs "
                            "floating or complex primals (convert it with .astype)")
        cs = []
        for j, c in enumerate(terms):
            if not _is_leaf(c):
                raise ValueError(f"jet: term {j} for argument {i} is not an array")
            c = fnp.asarray(c)
            if c.shape != x.shape:
                raise ValueError(f"jet: term {j} for argument {i} has shape {c.shape} but the "
                                 f"primal has shape {x.shape}; terms take the primal's shape")
            cs.append(c.astype(x.dtype))
        xs.append(x)
        out.append(cs)
    return xs, out, orders.pop() if orders else 0


def _is_leaf(x):
    leaves = tree_flatten(x)[0]
    return len(leaves) == 1 and leaves[0] is x
