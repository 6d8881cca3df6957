"""More special functions as elementwise primitives over SciPy's kernels. Where CuPy's
`cupyx.scipy.special` has the kernel a GPU runs it; where it does not (all but sici and
sph_harm_y), the operands go to the host, SciPy computes, and the result comes back.

    spence(x)               Spence's function, int_1^x log(t) / (1 - t) dt
    dawsn(x)                Dawson's integral exp(-x^2) int_0^x exp(t^2) dt
    fresnel_s(x), fresnel_c(x)  the Fresnel integrals S(x) and C(x)
    sici_si(x), sici_ci(x)  the sine and cosine integrals Si(x) and Ci(x)
    hyp1f1(a, b, x), hyp2f1(a, b, c, x)  the hypergeometric functions 1F1 and 2F1
    owens_t(h, a)           Owen's T function
    jv(v, z)                the Bessel function of the first kind of real order v
    wofz(z)                 the Faddeeva function exp(-z^2) erfc(-i z) (complex)
    sph_legendre(n, m, theta)  Y_n^m(theta, 0), the real factor of the spherical harmonic
                            Y_n^m(theta, phi) = sph_legendre(n, m, theta) exp(i m phi)

All are differentiable to any order in their real arguments (owens_t in both; the others in
their last). The hypergeometric functions are differentiable in their parameters a, b, c too,
by their series (as JAX's: SERIES_TERMS terms, so for |x| < 1 with hyp2f1), to any order;
differentiating another parameter (an order or degree) raises NotImplementedError naming it.
"""
from __future__ import annotations

import math

import numpy as np

from ..backends import to_host
from .elementwise import (special_module, in_operand_dtype, mul, add, sub, div, neg, exp, log,
                          sin, cos, erf, sqrt, square, select, eq, lt, max, abs)
from .special import special_primitive

__all__ = ["spence", "dawsn", "fresnel_s", "fresnel_c", "sici_si", "sici_ci", "hyp1f1",
           "hyp2f1", "owens_t", "jv", "wofz", "sph_legendre"]


def _result_dtype(out, operand_dtype):
    """The operands' dtype, or its complex counterpart for a complex result."""
    if out.dtype.kind == "c":
        return np.result_type(operand_dtype, np.complex64)
    return operand_dtype


def _kernel(name, index=None, call=None):
    """impl(xp, *operands): `call(fn, *operands)` (default `fn(*operands)`, output `index` of
    a tuple) with fn CuPy's kernel `name` on a GPU that has it, else SciPy's on the host, in
    float64 (or complex128) whatever the operands' precision: its float32 loops of some
    kernels are less accurate than its float64 values rounded."""
    call = call or (lambda fn, *args: fn(*args))

    def impl(xp, *args):
        dtype = args[0].dtype
        fn = None if xp is np else getattr(special_module(xp), name, None)
        host = fn is None
        if host:
            fn = getattr(special_module(np), name)
            wide = np.result_type(dtype, np.float64)
            args = [np.asarray(to_host(a), wide) for a in args]
        out = call(fn, *args)
        if index is not None:
            out = out[index]
        out = out.astype(_result_dtype(out, dtype), copy=False)
        return xp.asarray(out) if host and xp is not np else out
    impl.__name__ = name
    return impl


def _param_error(name, arg, i, wrt):
    return (f"{name}: the derivative with respect to {arg} (argument {i}) is not implemented; "
            f"differentiate with respect to {wrt} only, or wrap {arg} in "
            "ft.lax.stop_gradient")


def _spence_dx(x, ans):
    """log(x) / (1 - x), continued through x = 1 by its Taylor polynomial there."""
    d = sub(x, 1.0)
    at_one = eq(d, 0.0)
    safe = select(at_one, add(mul(d, 0.0), 0.5), x)
    general = div(log(safe), sub(1.0, safe))
    taylor = sub(add(-1.0, mul(d, 0.5)), div(square(d), 3.0))
    return select(at_one, taylor, general)


spence_p = special_primitive("spence", (_spence_dx,), _kernel("spence"))
dawsn_p = special_primitive("dawsn", (lambda x, ans: sub(1.0, mul(mul(x, 2.0), ans)),),
                            _kernel("dawsn"))


def _half_pi_x2(x):
    return mul(square(x), math.pi / 2)


fresnel_s_p = special_primitive("fresnel_s", (lambda x, ans: sin(_half_pi_x2(x)),),
                                _kernel("fresnel", 0))
fresnel_c_p = special_primitive("fresnel_c", (lambda x, ans: cos(_half_pi_x2(x)),),
                                _kernel("fresnel", 1))


def _sinc(x, ans):
    """sin(x) / x; its Taylor polynomial for |x| < 0.01 (exact to rounding there), whose
    derivatives stay finite near 0, where those of sin(x) / x cancel and divide by x^2."""
    near = lt(abs(x), 0.01)
    safe = select(near, add(mul(x, 0.0), 1.0), x)
    t = square(x)
    taylor = add(1.0, mul(t, add(-1 / 6, mul(t, add(1 / 120, mul(t, -1 / 5040))))))
    return select(near, taylor, div(sin(safe), safe))


sici_si_p = special_primitive("sici_si", (_sinc,), _kernel("sici", 0))
sici_ci_p = special_primitive("sici_ci", (lambda x, ans: div(cos(x), x),), _kernel("sici", 1))


# SciPy's hyp1f1 takes time proportional to x beyond about 1e9 (it hangs at x = inf): x is
# clipped to 1e8, where 1F1 has overflowed already unless b - a > 5e6
def _hyp1f1_clipped(fn, a, b, x):
    return fn(a, b, np.minimum(x, 1e8))


# Derivatives in the parameters, by the series. The terms of pFq(u; l; x) are
# t_k = prod (u)_k / prod (l)_k x^k / k!; log t_k is a sum of one function of each parameter p,
# log (p)_k (negated for a lower parameter), whose m-th derivative is
# (-1)^(m-1) (m-1)! sum_{j<k} (p + j)^-m. So the n-th derivative of t_k in p is t_k times the
# complete Bell polynomial Y_n of those derivatives, a mixed derivative has one such factor per
# parameter, and the r-th derivative in x turns x^k / k! into x^(k-r) / (k-r)!.
SERIES_TERMS = 250          # terms up to x^250, as many as JAX's sums take at most


def _bell(n, d):
    """The complete Bell polynomial Y_n(d[0], ..., d[n - 1])."""
    y = [1.0]
    for m in range(n):
        y.append(sum(math.comb(m, i) * y[m - i] * d[i] for i in range(m + 1)))
    return y[n]


def _param_factor(xp, n, d, hit, upper):
    """The factor that the n-th derivative in one parameter p puts on a term t_k of the
    series: the Bell polynomial Y_n(d) of the derivatives d of log (p)_k over its nonzero
    factors p + j. Where one factor was zero (`hit`: p is a non-positive integer that k has
    passed), an upper parameter's (p)_k = (p + j) R(p) has n-th derivative
    n R^(n-1)(p) = n R Y_(n-1)(d) there, and a lower parameter's term has a pole (NaN)."""
    if not upper:
        return xp.where(hit, np.nan, _bell(n, d))
    return xp.where(hit, n * _bell(n - 1, d), _bell(n, d))


def _series_impl(n_upper):
    """impl(xp, *params, x, orders, x_order): the derivative of pFq (`n_upper` upper
    parameters) `orders[i]` times in parameter i and `x_order` times in x, by its series, in
    float64 (or wider) whatever the operands' precision. At a non-positive integer upper
    parameter the series ends and its derivatives there are the limits of the terms' own; at
    a pole (a lower one reached before any upper parameter ends the series) they are NaN."""
    def impl(xp, *args, orders, x_order):
        wide = np.result_type(*[getattr(a, "dtype", np.float64) for a in args], np.float64)
        *params, x = xp.broadcast_arrays(*[xp.asarray(a, wide) for a in args])
        sums = [[0.0] * n for n in orders]      # sum_{j<k} (p + j)^-m for m = 1, ..., order
        hits = [xp.zeros(x.shape, bool) for _ in params]    # some p + j, j < k, was 0
        # t: prod (u)_k / prod (l)_k x^(k - x_order) / (k - x_order)! over the nonzero
        # factors, its factor in x once k >= x_order
        t, total = xp.ones_like(x), xp.zeros_like(x)
        with np.errstate(all="ignore"):
            for k in range(SERIES_TERMS + 1):
                if k >= x_order:
                    term, ended = t, xp.zeros(x.shape, bool)
                    for i, (n, s, hit) in enumerate(zip(orders, sums, hits)):
                        if i < n_upper and not n:       # (p)_k = 0: the series has ended
                            ended = ended | hit
                            continue
                        sign = 1.0 if i < n_upper else -1.0
                        d = [sign * (-1) ** m * math.factorial(m) * s[m] for m in range(n)]
                        term = term * _param_factor(xp, n, d, hit, i < n_upper)
                    total = total + xp.where(ended, 0.0, term)
                for i, (p, s) in enumerate(zip(params, sums)):
                    shifted = p + k
                    zero = shifted == 0
                    hits[i] = hits[i] | zero
                    shifted = xp.where(zero, 1.0, shifted)
                    for m in range(len(s)):
                        s[m] = s[m] + xp.where(zero, 0.0, shifted ** -(m + 1))
                    t = t * shifted if i < n_upper else t / shifted
                if k + 1 > x_order:
                    t = t * x / (k + 1 - x_order)
        return in_operand_dtype(total, args)
    return impl


def _series_primitive(name, n_upper, n_lower):
    """The derivatives of pFq by its series as a primitive of the parameters and x, with the
    static parameters `orders` (one per parameter) and `x_order`; each partial derivative is
    the primitive again with one order more."""
    def raise_order(i):
        def partial(*operands_and_ans, orders, x_order):
            operands = operands_and_ans[:-1]
            if i < len(orders):
                orders = orders[:i] + (orders[i] + 1,) + orders[i + 1:]
            else:
                x_order += 1
            return p.bind(*operands, orders=orders, x_order=x_order)
        return partial
    p = special_primitive(name, tuple(raise_order(i) for i in range(n_upper + n_lower + 1)),
                          _series_impl(n_upper))
    return p


def _series_partial(series_p, i, n_params):
    """The derivative of pFq in its parameter i, as `(*params, x, ans) -> value`."""
    orders = tuple(int(j == i) for j in range(n_params))
    return lambda *operands_and_ans: series_p.bind(*operands_and_ans[:-1], orders=orders,
                                                   x_order=0)


hyp1f1_series_p = _series_primitive("hyp1f1_series", 1, 1)
hyp2f1_series_p = _series_primitive("hyp2f1_series", 2, 1)
hyp1f1_p = special_primitive("hyp1f1", (
    _series_partial(hyp1f1_series_p, 0, 2), _series_partial(hyp1f1_series_p, 1, 2),
    lambda a, b, x, ans: mul(div(a, b), hyp1f1_p.bind(add(a, 1.0), add(b, 1.0), x))),
    _kernel("hyp1f1", call=_hyp1f1_clipped))
hyp2f1_p = special_primitive("hyp2f1", (
    _series_partial(hyp2f1_series_p, 0, 3), _series_partial(hyp2f1_series_p, 1, 3),
    _series_partial(hyp2f1_series_p, 2, 3),
    lambda a, b, c, x, ans: mul(div(mul(a, b), c),
                                hyp2f1_p.bind(add(a, 1.0), add(b, 1.0), add(c, 1.0), x))),
    _kernel("hyp2f1"))


def _owens_t_dh(h, a, ans):
    """-exp(-h^2 / 2) erf(a h / sqrt 2) / (2 sqrt(2 pi))."""
    return mul(exp(mul(square(h), -0.5)),
               mul(erf(mul(mul(a, h), 1 / math.sqrt(2.0))), -0.5 / math.sqrt(2 * math.pi)))


def _owens_t_da(h, a, ans):
    """exp(-h^2 (1 + a^2) / 2) / (2 pi (1 + a^2))."""
    s = add(square(a), 1.0)
    return div(exp(mul(mul(square(h), s), -0.5)), mul(s, 2 * math.pi))


owens_t_p = special_primitive("owens_t", (_owens_t_dh, _owens_t_da), _kernel("owens_t"))

# J_v' = (J_{v-1} - J_{v+1}) / 2 (J_{-1} = -J_1 for the integer orders)
jv_p = special_primitive("jv", (
    _param_error("bessel_jn", "the order v", 0, "z"),
    lambda v, z, ans: mul(sub(jv_p.bind(sub(v, 1.0), z), jv_p.bind(add(v, 1.0), z)), 0.5)),
    _kernel("jv"))

# w' = -2 z w + 2 i / sqrt(pi)
wofz_p = special_primitive(
    "wofz", (lambda z, ans: add(mul(mul(z, -2.0), ans), 2j / math.sqrt(math.pi)),),
    _kernel("wofz"), kinds="c")


def _sph_harm_at_zero(fn, n, m, theta):
    return fn(n.astype(np.int64), m.astype(np.int64), theta, theta * 0).real


def _ladder(n, k):
    """sqrt((n - k)(n + k + 1)), 0 where that is negative (|m| > n, Y = 0 there)."""
    return sqrt(max(mul(sub(n, k), add(add(n, k), 1.0)), 0.0))


def _sph_legendre_dtheta(n, m, theta, ans):
    """(sqrt((n-m)(n+m+1)) Y_n^{m+1} - sqrt((n+m)(n-m+1)) Y_n^{m-1}) / 2 at phi = 0."""
    up = mul(_ladder(n, m), sph_legendre_p.bind(n, add(m, 1.0), theta))
    down = mul(_ladder(n, neg(m)), sph_legendre_p.bind(n, sub(m, 1.0), theta))
    return mul(sub(up, down), 0.5)


sph_legendre_p = special_primitive("sph_legendre", (
    _param_error("sph_harm_y", "the degree n", 0, "theta and phi"),
    _param_error("sph_harm_y", "the order m", 1, "theta and phi"), _sph_legendre_dtheta),
    _kernel("sph_harm_y", call=_sph_harm_at_zero))


def spence(x):
    return spence_p.bind(x)


def dawsn(x):
    return dawsn_p.bind(x)


def fresnel_s(x):
    return fresnel_s_p.bind(x)


def fresnel_c(x):
    return fresnel_c_p.bind(x)


def sici_si(x):
    return sici_si_p.bind(x)


def sici_ci(x):
    return sici_ci_p.bind(x)


def hyp1f1(a, b, x):
    return hyp1f1_p.bind(a, b, x)


def hyp2f1(a, b, c, x):
    return hyp2f1_p.bind(a, b, c, x)


def owens_t(h, a):
    return owens_t_p.bind(h, a)


def jv(v, z):
    return jv_p.bind(v, z)


def wofz(z):
    return wofz_p.bind(z)


def sph_legendre(n, m, theta):
    return sph_legendre_p.bind(n, m, theta)
