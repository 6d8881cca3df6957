"""Checking derivatives numerically: `check_grads` (JAX's signature), `check_jvp`, `check_vjp`.

Forward mode is compared with central differences along a random direction; reverse mode with
the forward result by the dot-product identity <J t, c> = <t, J^T c>, which checks the whole
Jacobian in one random projection. `order=2` checks the derivatives of the derivatives too.
Complex inputs and outputs are checked with JAX's convention: <t, conj(vjp(conj(c)))> against
<J t, c>, with the real part of the complex inner product.
"""
from __future__ import annotations

import numpy as np

from . import dtypes
from .api import jvp, vjp
from .array import Array, wrap
from .backends import default_device_now, transfer
from .core import get_aval, is_python_scalar
from .tree_util import tree_flatten, tree_map, tree_leaves

__all__ = ["check_grads", "check_jvp", "check_vjp", "numerical_jvp"]

_EPS = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-3, np.dtype(np.float16): 1e-2}
_TOL = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 2e-2, np.dtype(np.float16): 1e-1}
if "bfloat16" in dtypes.ML_DTYPES:     # 8 mantissa bits: wide steps, loose tolerances
    _EPS[dtypes.ML_DTYPES["bfloat16"]] = _TOL[dtypes.ML_DTYPES["bfloat16"]] = 1e-1


def _np(x):
    return np.asarray(x)


def _host(x):
    """`x` as a NumPy array of the dtype functrans gives it (a Python float is the default
    float, as the transforms take it, not float64)."""
    return np.asarray(x, get_aval(x).dtype) if is_python_scalar(x) else np.asarray(x)


def _dtype_of_tree(tree):
    """The real dtype of the least precise float or complex leaf (tolerances go by it)."""
    leaves = [np.dtype(np.finfo(_host(x).dtype).dtype) for x in tree_leaves(tree)
              if dtypes.is_inexact(_host(x).dtype)]
    if not leaves:
        return np.dtype(np.float64)
    return min(leaves, key=lambda d: d.itemsize)


def _wide(dtype):
    """float64, or complex128 for complex data: where differences are taken."""
    return np.dtype(np.complex128 if np.dtype(dtype).kind == "c" else np.float64)


def _placed_like(host, x):
    """The NumPy array `host` as an Array on the device of `x` (for NumPy `x`, the default
    device, where the transforms put it)."""
    return wrap(transfer(host, x.device if isinstance(x, Array) else default_device_now()))


def _random_like(tree, rng):
    def one(x):
        a = _host(x)
        if not dtypes.is_inexact(a.dtype):
            return np.zeros(a.shape, dtypes.float0)
        r = rng.standard_normal(a.shape)
        if a.dtype.kind == "c":
            r = r + 1j * rng.standard_normal(a.shape)
        return _placed_like(r.astype(a.dtype), x)
    return tree_map(one, tree)


def _add_scaled(xs, ts, eps):
    def one(x, t):
        a = _host(x)
        if not dtypes.is_inexact(a.dtype):
            return x
        wide = _wide(a.dtype)
        moved = (a.astype(wide) + eps * np.asarray(t, wide)).astype(a.dtype)
        return _placed_like(moved, x)
    return tree_map(one, xs, ts)


def _inner(a, b):
    """The real part of the inner product <a, b> of two pytrees (conjugating a)."""
    total = 0.0
    for x, y in zip(tree_leaves(a), tree_leaves(b)):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype == dtypes.float0 or y.dtype == dtypes.float0:
            continue
        total += float(np.real(np.sum(np.conj(x.astype(_wide(x.dtype)))
                                      * y.astype(_wide(y.dtype)))))
    return total


def numerical_jvp(f, primals, tangents, eps):
    """(f(x + eps t) - f(x - eps t)) / (2 eps), leafwise, in float64."""
    plus = f(*_add_scaled(primals, tangents, eps))
    minus = f(*_add_scaled(primals, tangents, -eps))
    def difference(p, m):
        wide = _wide(np.asarray(p).dtype)
        return (np.asarray(p, wide) - np.asarray(m, wide)) / (2 * eps)
    return tree_map(difference, plus, minus)


def _assert_close(actual, expected, atol, rtol, what):
    a_leaves, a_tree = tree_flatten(actual)
    e_leaves, e_tree = tree_flatten(expected)
    if a_tree != e_tree:
        raise AssertionError(f"{what}: structures differ: {a_tree} vs {e_tree}")
    for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        a, e = np.asarray(a), np.asarray(e)
        if a.dtype == dtypes.float0 or e.dtype == dtypes.float0:
            continue
        if a.shape != e.shape:
            raise AssertionError(f"{what}: leaf {i} has shape {a.shape}, expected {e.shape}")
        wide = _wide(a.dtype if a.dtype.kind == "c" else e.dtype)
        np.testing.assert_allclose(a.astype(wide), e.astype(wide), atol=atol,
                                   rtol=rtol, err_msg=f"{what} (leaf {i})")


def check_jvp(f, f_jvp, args, atol=None, rtol=None, eps=None, rng=None):
    """Check `f_jvp(args, tangents) -> (out, tangent_out)` against central differences."""
    rng = np.random.default_rng(0) if rng is None else rng
    dt = _dtype_of_tree(args)
    atol = _TOL[dt] if atol is None else atol
    rtol = _TOL[dt] if rtol is None else rtol
    eps = _EPS[dt] if eps is None else eps
    tangents = _random_like(args, rng)
    out, t_out = f_jvp(args, tangents)
    _assert_close(out, f(*args), atol, rtol, "jvp primal output")
    expected = numerical_jvp(f, args, tangents, eps)
    _assert_close(t_out, expected, atol, rtol, "jvp tangent vs finite differences")


def check_vjp(f, f_vjp, args, atol=None, rtol=None, eps=None, rng=None):
    """Check `f_vjp(*args) -> (out, vjp_fn)` with the dot-product identity against central
    differences."""
    rng = np.random.default_rng(1) if rng is None else rng
    dt = _dtype_of_tree(args)
    atol = _TOL[dt] if atol is None else atol
    rtol = _TOL[dt] if rtol is None else rtol
    eps = _EPS[dt] if eps is None else eps
    out, vjp_fn = f_vjp(*args)
    _assert_close(out, f(*args), atol, rtol, "vjp primal output")
    tangents = _random_like(args, rng)
    t_out = numerical_jvp(f, args, tangents, eps)
    cotangent = _random_like(out, rng)
    ct_in = tree_map(_conj, vjp_fn(tree_map(_conj, cotangent)))
    lhs = _inner(tangents, ct_in)
    rhs = _inner(t_out, cotangent)
    scale = max(1.0, abs(lhs), abs(rhs))
    if not abs(lhs - rhs) <= atol + rtol * scale:
        raise AssertionError(f"vjp disagrees with finite differences: <t, J^T c> = {lhs!r} but "
                             f"<J t, c> = {rhs!r} (atol={atol}, rtol={rtol})")


def _conj(x):
    return x.conj() if np.iscomplexobj(x) else x


def check_grads(f, args, order, modes=("fwd", "rev"), atol=None, rtol=None, eps=None):
    """Check the derivatives of `f` at `args` up to `order`, in forward and/or reverse mode,
    against finite differences. Raises AssertionError with the disagreement."""
    args = tuple(args)
    for m in modes:
        if m not in ("fwd", "rev"):
            raise ValueError(f"check_grads: unknown mode {m!r}; use 'fwd' and/or 'rev'")
    rng = np.random.default_rng(0)

    def _check(f, args, order):
        if "fwd" in modes:
            def f_jvp(primals, tangents):
                return jvp(f, tuple(primals), tuple(tangents))
            check_jvp(f, f_jvp, args, atol, rtol, eps, rng)
            if order > 1:
                tangents = _random_like(args, rng)

                def jvp_tangent(*primals_and_tangents):
                    n = len(args)
                    return jvp(f, primals_and_tangents[:n], primals_and_tangents[n:])[1]
                _check(jvp_tangent, args + tuple(tangents), order - 1)
        if "rev" in modes:
            check_vjp(f, lambda *a: vjp(f, *a), args, atol, rtol, eps, rng)
            if order > 1:
                out = f(*args)
                ct = _random_like(out, rng)

                def vjp_ct(*primals_and_ct):
                    n = len(args)
                    primals, c = primals_and_ct[:n], primals_and_ct[n]
                    return vjp(f, *primals)[1](c)
                _check(vjp_ct, args + (ct,), order - 1)
    _check(f, args, order)
