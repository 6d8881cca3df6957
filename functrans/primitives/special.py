"""Incomplete gamma and beta functions and their inverses, as elementwise primitives whose
kernels are SciPy's (CuPy's `cupyx.scipy.special` on a GPU):

    gammainc(a, x)     regularized lower incomplete gamma P(a, x)
    gammaincc(a, x)    regularized upper incomplete gamma Q(a, x) = 1 - P(a, x)
    gammaincinv(a, p)  x with P(a, x) = p
    betainc(a, b, x)   regularized incomplete beta I_x(a, b)
    betaincinv(a, b, y)  x with I_x(a, b) = y
    exp1(x), expi(x)   the exponential integrals E1(x) = int_x^inf e^-t / t dt and Ei(x)
    expn(n, x)         the generalized exponential integral E_n(x) (NaN for non-integer n)
    random_gamma_grad(a, x)  d x / d a of a Gamma(a) sample x at a fixed quantile (own kernel)

They are differentiable in `x` (and `p`, `y` for the inverses), in both modes, to any order;
gammainc and gammaincc also in `a` (through `igamma_grad_a`, as JAX), to first order;
other derivatives with respect to the shape parameters `a`, `b` have no closed form and raise
NotImplementedError (as JAX's betainc does).
"""
from __future__ import annotations

import numpy as np

from ..core import ShapedArray
from ._util import primitive, shape_of, elementwise_aval, wanted
from .elementwise import (special_module, in_operand_dtype, batch_elementwise, unbroadcast,
                          mul, exp, log, log1p, sub, add, neg, lgamma, digamma, div, max,
                          select, ge, gt, eq, square)
from .shape_ops import broadcast_to, full_like

_NAMES = {"gammainc": "gammainc", "gammaincc": "gammaincc", "gammaincinv": "gammaincinv",
          "betainc": "betainc", "betaincinv": "betaincinv", "zeta": "zeta", "exp1": "exp1",
          "expi": "expi"}


def _shape_param_error(name, i):
    return (f"{name}: the derivative with respect to its shape parameter (argument {i}) is not "
            "implemented (it has no closed form); differentiate with respect to the last "
            "argument only, or wrap the shape parameter in ft.lax.stop_gradient")


def special_primitive(name, partials, impl=None, *, kinds="f", out_dtype=None):
    """An elementwise primitive of `len(partials)` operands. `partials[i]` is the derivative
    with respect to operand i as a function `(*operands, ans, **params)`, or a string: the
    message of the NotImplementedError raised when operand i is differentiated. The kernel is
    SciPy's function `name` (CuPy's on a GPU), or `impl(xp, *operands, **params)`. The
    operands' dtype kind must be in `kinds`; `out_dtype(dtype)` gives the result's dtype (the
    operands' if None). `params` are the primitive's static parameters, if it has any."""
    def scipy_impl(xp, *args):
        return in_operand_dtype(getattr(special_module(xp), _NAMES[name])(*args), args)
    impl = impl or scipy_impl
    nargs = len(partials)

    def abstract_eval(*avals, **params):
        aval = elementwise_aval(name, *avals)
        if aval.dtype.kind not in kinds:
            wanted_kind = "real or complex floating-point" if "c" in kinds else \
                "real floating-point"
            raise TypeError(f"{name} needs {wanted_kind} inputs, got {aval.dtype}")
        dtype = aval.dtype if out_dtype is None else out_dtype(aval.dtype)
        return ShapedArray(aval.shape, dtype)

    p = primitive(name, impl, abstract_eval)
    p.elementwise = True

    def refuse(i):
        raise NotImplementedError(partials[i])

    def jvp(primals, tangents, **params):
        ans = p.bind(*primals, **params)
        out = None
        for i, t in enumerate(tangents):
            if t is None:
                continue
            if isinstance(partials[i], str):
                refuse(i)
            term = mul(t, partials[i](*primals, ans, **params))
            out = term if out is None else add(out, term)
        if out is None or shape_of(out) == shape_of(ans):
            return ans, out
        return ans, broadcast_to(out, shape_of(ans))

    def vjp(primals, needs, **params):
        ans = p.bind(*primals, **params)
        want = wanted(needs, primals)
        for i, w in enumerate(want):
            if w and isinstance(partials[i], str):
                refuse(i)

        def backward(ct):
            return tuple(unbroadcast(mul(ct, partials[i](*primals, ans, **params)),
                                     shape_of(primals[i]))
                         if want[i] else None for i in range(nargs))
        return ans, backward
    p.jvp, p.vjp = jvp, vjp
    batch_elementwise(p)
    return p


def _special(name, nargs, last_partial, impl=None):
    """An elementwise primitive differentiable in its last argument by `last_partial(*args,
    ans)` only (the others are shape parameters)."""
    errors = tuple(_shape_param_error(name, i) for i in range(nargs - 1))
    return special_primitive(name, errors + (last_partial,), impl)


def _gamma_density(a, x):
    """x^(a-1) e^-x / Gamma(a): d P(a, x) / dx."""
    return exp(sub(sub(mul(sub(a, 1.0), log(x)), x), lgamma(a)))


def _beta_density(a, b, x):
    """x^(a-1) (1-x)^(b-1) / B(a, b): d I_x(a, b) / dx."""
    log_b = sub(add(lgamma(a), lgamma(b)), lgamma(add(a, b)))
    return exp(sub(add(mul(sub(a, 1.0), log(x)), mul(sub(b, 1.0), log1p(neg(x)))), log_b))


# in a, as JAX: igamma_grad_a (itself differentiable in x only)
gammainc_p = special_primitive("gammainc", (lambda a, x, ans: igamma_grad_a(a, x),
                                            lambda a, x, ans: _gamma_density(a, x)))
gammaincc_p = special_primitive("gammaincc", (lambda a, x, ans: neg(igamma_grad_a(a, x)),
                                              lambda a, x, ans: neg(_gamma_density(a, x))))
gammaincinv_p = _special("gammaincinv", 2,
                         lambda a, p, ans: div(1.0, _gamma_density(a, ans)))
betainc_p = _special("betainc", 3, lambda a, b, x, ans: _beta_density(a, b, x))
betaincinv_p = _special("betaincinv", 3,
                        lambda a, b, y, ans: div(1.0, _beta_density(a, b, ans)))

# Hurwitz's zeta(x, q) = sum over k >= 0 of (k + q)^-x, differentiable in q
zeta_p = _special("zeta", 2, lambda x, q, ans: neg(mul(x, zeta_p.bind(add(x, 1.0), q))))


# the exponential integrals: E1' = -e^-x / x, Ei' = e^x / x, d E_n / dx = -E_{n-1} (n >= 1)
exp1_p = _special("exp1", 1, lambda x, ans: neg(div(exp(neg(x)), x)))
expi_p = _special("expi", 1, lambda x, ans: div(exp(x), x))


def _expn_impl(xp, n, x):
    """SciPy's expn at integer n, NaN elsewhere (SciPy truncates n there, with a warning)."""
    whole = n == xp.floor(n)
    out = special_module(xp).expn(xp.where(whole, n, 1.0), x)
    return in_operand_dtype(xp.where(whole, out, xp.nan), (n, x))


def _expn_dx(n, x, ans):
    """-E_{n-1}(x); for n = 0, d/dx e^-x / x = -e^-x (x + 1) / x^2 (SciPy has no E_-1)."""
    previous = neg(expn_p.bind(max(sub(n, 1.0), 0.0), x))
    zeroth = neg(div(mul(exp(neg(x)), add(x, 1.0)), square(x)))
    return select(ge(n, 1.0), previous, zeroth)


expn_p = _special("expn", 2, _expn_dx, impl=_expn_impl)


def exp1(x):
    return exp1_p.bind(x)


def expi(x):
    return expi_p.bind(x)


def expn(n, x):
    return expn_p.bind(n, x)


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


def zeta(x, q):
    return zeta_p.bind(x, q)


__all__ = ["gammainc", "gammaincc", "gammaincinv", "betainc", "betaincinv", "zeta",
           "exp1", "expi", "expn", "random_gamma_grad", "igamma_grad_a", "special_primitive"]


# ------------------------------------------------------------------ gamma sample derivative
def _gamma_sample_grad_impl(xp, a, x):
    """d x / d a for x ~ Gamma(a) held at a fixed quantile: -(dP(a, x)/da) / (dP(a, x)/dx),
    computed in float64 with the derivative carried through P's series (x <= a + 1) or
    through the continued fraction of Q = 1 - P (x > a + 1)."""
    out_dtype = np.result_type(a.dtype, x.dtype)
    a, x = xp.broadcast_arrays(xp.asarray(a, np.float64), xp.asarray(x, np.float64))
    sp = special_module(xp)
    positive = x > 0
    x = xp.where(positive, x, 1.0)
    use_series = x <= a + 1.0
    # series: P = x^a e^-x / Gamma(a + 1) * sum_n t_n, t_0 = 1, t_n = t_{n-1} x / (a + n)
    s_a, s_x = xp.where(use_series, a, 1.0), xp.where(use_series, x, 0.5)
    term, dterm = xp.ones_like(s_a), xp.zeros_like(s_a)
    total, dtotal = term.copy(), dterm.copy()
    for n in range(1, 2000):
        ratio = s_x / (s_a + n)
        term = term * ratio
        dterm = dterm * ratio - term / (s_a + n)
        total += term
        dtotal += dterm
        if n % 16 == 0 and bool(xp.all((xp.abs(term) <= 1e-17 * total) &
                                       (xp.abs(dterm) <= 1e-17 * xp.abs(dtotal) + 1e-300))):
            break
    series = -(s_x / s_a) * ((xp.log(s_x) - sp.digamma(s_a + 1.0)) * total + dtotal)
    # continued fraction Q = x^a e^-x / Gamma(a) * A/B, through the recurrences of A and B
    c_a, c_x = xp.where(use_series, 0.5, a), xp.where(use_series, 2.0, x)
    a_prev, a_cur = xp.ones_like(c_a), xp.zeros_like(c_a)          # A_{-1}, A_0
    b_prev, b_cur = xp.zeros_like(c_a), xp.ones_like(c_a)          # B_{-1}, B_0
    da_prev, da_cur, db_prev, db_cur = (xp.zeros_like(c_a) for _ in range(4))
    value, ratio = xp.zeros_like(c_a), xp.zeros_like(c_a)
    for n in range(1, 2000):
        if n == 1:
            an, dan = xp.ones_like(c_a), xp.zeros_like(c_a)
        else:
            an, dan = -(n - 1) * (n - 1 - c_a), xp.full_like(c_a, n - 1.0)
        bn = c_x + 2 * n - 1 - c_a                                  # d bn / da = -1
        a_new = bn * a_cur + an * a_prev
        b_new = bn * b_cur + an * b_prev
        da_new = -a_cur + bn * da_cur + dan * a_prev + an * da_prev
        db_new = -b_cur + bn * db_cur + dan * b_prev + an * db_prev
        scale = 1.0 / b_new                                         # keeps B_n at 1
        a_prev, b_prev, da_prev, db_prev = (v * scale for v in (a_cur, b_cur, da_cur, db_cur))
        a_cur, da_cur, db_cur = a_new * scale, da_new * scale, db_new * scale
        b_cur = xp.ones_like(c_a)
        new_value, new_ratio = a_cur, da_cur - a_cur * db_cur      # A/B and d(A/B)/da
        done = bool(xp.all((xp.abs(new_value - value) <= 1e-16 * xp.abs(new_value)) &
                           (xp.abs(new_ratio - ratio) <= 1e-15 * xp.abs(new_ratio))))
        value, ratio = new_value, new_ratio
        if done:
            break
    fraction = c_x * ((xp.log(c_x) - sp.digamma(c_a)) * value + ratio)
    out = xp.where(use_series, series, fraction)
    return xp.where(positive, out, 0.0).astype(out_dtype, copy=False)


def _gamma_sample_grad_dx(a, x, g):
    """d/dx of g = -P_a / P_x: -(log x - digamma(a)) - g ((a - 1) / x - 1)."""
    return sub(neg(sub(log(x), digamma(a))), mul(g, sub(div(sub(a, 1.0), x), 1.0)))


random_gamma_grad_p = _special("random_gamma_grad", 2, _gamma_sample_grad_dx,
                               impl=_gamma_sample_grad_impl)


def igamma_grad_a(a, x):
    """d P(a, x) / d a, the derivative of the regularized lower incomplete gamma function in
    its shape parameter: -random_gamma_grad(a, x) times d P / dx (0 at x = 0; NaN for x < 0
    or a <= 0); differentiable in x (not in a)."""
    inside = gt(x, 0.0)
    x1, a1 = select(inside, x, full_like(x, 1.0)), select(gt(a, 0.0), a, full_like(a, 1.0))
    out = neg(mul(random_gamma_grad(a1, x1), _gamma_density(a1, x1)))
    edge = select(eq(x, 0.0), full_like(out, 0.0), full_like(out, np.nan))
    return select(gt(a, 0.0), select(inside, out, edge), full_like(out, np.nan))


def random_gamma_grad(a, x):
    """The reparameterization derivative d x / d a of a Gamma(a) sample x (a fixed quantile
    of the distribution); differentiable in x (not in a, as the other shape parameters)."""
    return random_gamma_grad_p.bind(a, x)
