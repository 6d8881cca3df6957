"""Incomplete gamma and beta functions and their inverses, as elementwise primitives whose
kernels are SciPy's (CuPy's `cupyx.scipy.special` on a GPU):

    gammainc(a, x)     regularized lower incomplete gamma P(a, x)
    gammaincc(a, x)    regularized upper incomplete gamma Q(a, x) = 1 - P(a, x)
    gammaincinv(a, p)  x with P(a, x) = p
    betainc(a, b, x)   regularized incomplete beta I_x(a, b)
    betaincinv(a, b, y)  x with I_x(a, b) = y

They are differentiable in `x` (and `p`, `y` for the inverses), in both modes, to any order;
derivatives with respect to the shape parameters `a`, `b` have no closed form and raise
NotImplementedError (as JAX's betainc does).
"""
from __future__ import annotations

from ..core import ShapedArray
from ._util import primitive, shape_of, elementwise_aval, wanted
from .elementwise import (special_module, batch_elementwise, unbroadcast, mul, exp, log, log1p,
                          sub, add, neg, lgamma, div)
from .shape_ops import broadcast_to

_NAMES = {"gammainc": "gammainc", "gammaincc": "gammaincc", "gammaincinv": "gammaincinv",
          "betainc": "betainc", "betaincinv": "betaincinv"}


def _shape_param_error(name, i):
    return NotImplementedError(
        f"{name}: the derivative with respect to its shape parameter (argument {i}) is not "
        "implemented (it has no closed form); differentiate with respect to the last argument "
        "only, or wrap the shape parameter in ft.lax.stop_gradient")


def _special(name, nargs, last_partial):
    sp_name = _NAMES[name]

    def impl(xp, *args):
        out = getattr(special_module(xp), sp_name)(*args)
        arrays = [a.dtype for a in args if hasattr(a, "dtype") and a.dtype.kind == "f"]
        return out.astype(arrays[0] if arrays else out.dtype, copy=False)

    def abstract_eval(*avals):
        aval = elementwise_aval(name, *avals)
        if aval.dtype.kind != "f":
            raise TypeError(f"{name} needs real floating-point inputs, got {aval.dtype}")
        return ShapedArray(aval.shape, aval.dtype)

    p = primitive(name, impl, abstract_eval)
    p.elementwise = True

    def jvp(primals, tangents):
        ans = p.bind(*primals)
        for i, t in enumerate(tangents[:-1]):
            if t is not None:
                raise _shape_param_error(name, i)
        t = tangents[-1]
        if t is None:
            return ans, None
        out = mul(t, last_partial(*primals, ans))
        return ans, out if shape_of(out) == shape_of(ans) else broadcast_to(out, shape_of(ans))

    def vjp(primals, needs):
        ans = p.bind(*primals)
        want = wanted(needs, primals)
        for i, w in enumerate(want[:-1]):
            if w:
                raise _shape_param_error(name, i)

        def backward(ct):
            c = mul(ct, last_partial(*primals, ans))
            return (None,) * (nargs - 1) + (unbroadcast(c, shape_of(primals[-1])),)
        return ans, backward
    p.jvp, p.vjp = jvp, vjp
    batch_elementwise(p)
    return p


def _gamma_density(a, x):
    """x^(a-1) e^-x / Gamma(a): d P(a, x) / dx."""
    return exp(sub(sub(mul(sub(a, 1.0), log(x)), x), lgamma(a)))


def _beta_density(a, b, x):
    """x^(a-1) (1-x)^(b-1) / B(a, b): d I_x(a, b) / dx."""
    log_b = sub(add(lgamma(a), lgamma(b)), lgamma(add(a, b)))
    return exp(sub(add(mul(sub(a, 1.0), log(x)), mul(sub(b, 1.0), log1p(neg(x)))), log_b))


gammainc_p = _special("gammainc", 2, lambda a, x, ans: _gamma_density(a, x))
gammaincc_p = _special("gammaincc", 2, lambda a, x, ans: neg(_gamma_density(a, x)))
gammaincinv_p = _special("gammaincinv", 2,
                         lambda a, p, ans: div(1.0, _gamma_density(a, ans)))
betainc_p = _special("betainc", 3, lambda a, b, x, ans: _beta_density(a, b, x))
betaincinv_p = _special("betaincinv", 3,
                        lambda a, b, y, ans: div(1.0, _beta_density(a, b, ans)))


def gammainc(a, x):
    return gammainc_p.bind(a, x)


def gammaincc(a, x):
    return gammaincc_p.bind(a, x)


def gammaincinv(a, p):
    return gammaincinv_p.bind(a, p)


def betainc(a, b, x):
    return betainc_p.bind(a, b, x)


def betaincinv(a, b, y):
    return betaincinv_p.bind(a, b, y)


__all__ = ["gammainc", "gammaincc", "gammaincinv", "betainc", "betaincinv"]
