"""`functrans.scipy.special`: special functions with SciPy's names, differentiable and
batchable (integers are converted to the default float dtype)."""
from __future__ import annotations

import inspect
import math
import operator

import numpy as np

from .. import dtypes, lax
from ..core import place_functions as _place_functions, places_operands
from ..primitives import special as _special, special_more as _more
from ..primitives._util import shape_of, dtype_of, broadcast_shapes as _broadcast_shapes
from ..numpy._conversion import promote_inexact, asarray
from ..numpy._reductions import normalize_axes

__all__ = ["logsumexp", "softmax", "log_softmax", "expit", "logit", "erf", "erfc", "erfinv",
           "gammaln", "gamma", "gammasgn", "beta", "factorial", "poch", "rel_entr", "kl_div",
           "digamma", "polygamma", "betaln", "xlogy", "xlog1py", "entr", "ndtr", "ndtri",
           "log_ndtr", "i0", "i1", "i0e", "i1e", "erfcx", "logaddexp", "gammainc", "gammaincc",
           "gammaincinv", "betainc", "betaincinv", "zeta", "exp1", "expi", "expn", "loggamma",
           "multigammaln", "comb", "bernoulli", "boxcox", "boxcox1p", "spence", "dawsn",
           "fresnel", "sici", "hyp1f1", "hyp2f1", "owens_t", "bessel_jn", "wofz", "sph_harm_y"]


def _unary(lax_fn, name, doc):
    def f(x):
        (x,), _ = promote_inexact(x)
        return lax_fn(x)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc
    return places_operands(f)


expit = _unary(lax.logistic, "expit", "The logistic sigmoid 1 / (1 + exp(-x)).")
erf = _unary(lax.erf, "erf", "The error function.")
erfc = _unary(lax.erfc, "erfc", "The complementary error function 1 - erf(x).")
erfinv = _unary(lax.erf_inv, "erfinv", "The inverse error function.")
gammaln = _unary(lax.lgamma, "gammaln", "log |Gamma(x)|.")
digamma = _unary(lax.digamma, "digamma", "The digamma function, d/dx log Gamma(x).")
i0 = _unary(lax.bessel_i0, "i0", "The modified Bessel function of the first kind, order 0.")
i1 = _unary(lax.bessel_i1, "i1", "The modified Bessel function of the first kind, order 1.")
i0e = _unary(lax.bessel_i0e, "i0e", "exp(-|x|) i0(x), without overflow.")
i1e = _unary(lax.bessel_i1e, "i1e", "exp(-|x|) i1(x), without overflow.")
erfcx = _unary(lax.erfcx, "erfcx", "The scaled complementary error function exp(x^2) erfc(x).")


def _promoted(fn, name, params, doc):
    """`fn` on its arguments promoted to one inexact dtype, taking them by position or by
    the names `params` (SciPy's and JAX's)."""
    signature = inspect.Signature([inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                   for p in params.split()])

    def f(*args, **kwargs):
        if kwargs or len(args) != len(signature.parameters):
            args = signature.bind(*args, **kwargs).args
        args, dt = promote_inexact(*args)
        return fn(*[asarray(a, dtype=dt) for a in args])
    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc
    f.__signature__ = signature
    return f


gammainc = _promoted(_special.gammainc, "gammainc", "a x",
                     "The regularized lower incomplete gamma function P(a, x).")
gammaincc = _promoted(_special.gammaincc, "gammaincc", "a x",
                      "The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x).")
gammaincinv = _promoted(_special.gammaincinv, "gammaincinv", "a y", "x with P(a, x) = y.")
betainc = _promoted(_special.betainc, "betainc", "a b x",
                    "The regularized incomplete beta function I_x(a, b).")
betaincinv = _promoted(_special.betaincinv, "betaincinv", "a b y", "x with I_x(a, b) = y.")
_zeta = _promoted(_special.zeta, "zeta", "x q", "")
exp1 = _promoted(_special.exp1, "exp1", "x",
                 "The exponential integral E1(x) = integral from x to inf of exp(-t) / t.")
expi = _promoted(_special.expi, "expi", "x",
                 "The exponential integral Ei(x) = -(principal value) integral from -x to inf "
                 "of exp(-t) / t.")
expn = _promoted(_special.expn, "expn", "n x",
                 "The generalized exponential integral E_n(x) = integral from 1 to inf of "
                 "exp(-x t) / t^n (NaN for non-integer n); differentiable in x.")


def _real(name, *args):
    """The arguments promoted to one real floating dtype; complex ones are a ValueError (as
    JAX's)."""
    args, dt = promote_inexact(*args)
    if dt.kind == "c":
        raise ValueError(f"{name} does not support complex-valued inputs (got {dt}); pass "
                         "real arrays")
    return [asarray(a, dtype=dt) for a in args]


def spence(x):
    """Spence's function, the integral from 1 to x of log(t) / (1 - t) (NaN for x < 0)."""
    return _more.spence(*_real("spence", x))


def dawsn(x):
    """Dawson's integral exp(-x^2) times the integral from 0 to x of exp(t^2)."""
    return _more.dawsn(*_real("dawsn", x))


def fresnel(x):
    """The Fresnel integrals (S(x), C(x)): the integrals from 0 to x of sin(pi t^2 / 2) and
    cos(pi t^2 / 2)."""
    x, = _real("fresnel", x)
    return _more.fresnel_s(x), _more.fresnel_c(x)


def sici(x):
    """The sine and cosine integrals (Si(x), Ci(x)); Ci(x) = Ci(|x|) for x < 0 (as SciPy's
    for real input)."""
    x, = _real("sici", x)
    return _more.sici_si(x), _more.sici_ci(x)


def hyp1f1(a, b, x):
    """Kummer's confluent hypergeometric function 1F1(a; b; x) (SciPy's values);
    differentiable in x, and in a and b by their series (as JAX's)."""
    return _more.hyp1f1(*_real("hyp1f1", a, b, x))


def hyp2f1(a, b, c, x):
    """The Gauss hypergeometric function 2F1(a, b; c; x) (SciPy's values); differentiable in
    x, and in a, b and c by their series for |x| < 1 (as JAX's)."""
    return _more.hyp2f1(*_real("hyp2f1", a, b, c, x))


def owens_t(h, a):
    """Owen's T function: the integral from 0 to a of exp(-h^2 (1 + t^2) / 2) / (1 + t^2),
    over 2 pi; differentiable in h and a."""
    return _more.owens_t(*_real("owens_t", h, a))


def bessel_jn(z, *, v, n_iter=50):
    """The Bessel functions of the first kind J_0(z), ..., J_v(z) of real z, stacked on a new
    first axis (shape (v + 1, *z.shape)); differentiable in z. `n_iter` (the iterations of
    JAX's recurrence) is accepted and unused: the values are SciPy's, to full precision."""
    try:
        v, n_iter = operator.index(v), operator.index(n_iter)
    except TypeError:
        raise TypeError(f"bessel_jn: v and n_iter must be Python integers, got v={v!r}, "
                        f"n_iter={n_iter!r}") from None
    if v < 0:
        raise ValueError(f"bessel_jn: the highest order v must be >= 0, got {v}")
    z, = _real("bessel_jn", z)
    orders = np.arange(v + 1, dtype=dtype_of(z)).reshape((v + 1,) + (1,) * len(shape_of(z)))
    return _more.jv(asarray(orders), lax.expand_dims(z, (0,)))


def wofz(z):
    """The Faddeeva function w(z) = exp(-z^2) erfc(-i z), complex (real input is promoted to
    complex); differentiable (holomorphic)."""
    (z,), dt = promote_inexact(z)
    return _more.wofz(asarray(z, dtype=np.result_type(dt, np.complex64)))


def sph_harm_y(n, m, theta, phi, diff_n=None, n_max=None):
    """The spherical harmonic Y_n^m(theta, phi) of integer degree n and order m at colatitude
    theta and longitude phi (SciPy's convention, with the Condon-Shortley phase; 0 where
    |m| > n), complex, broadcast over the four arguments; differentiable in theta and phi.
    `n_max`, when given, clips n to it (as JAX's); `diff_n` is not supported (as in JAX)."""
    if diff_n is not None:
        raise NotImplementedError("sph_harm_y: the diff_n argument is not supported (as in "
                                  "JAX); differentiate with ft.grad or ft.jacfwd instead")
    n, m = asarray(n), asarray(m)
    for name, arg in (("n", n), ("m", m)):
        if dtype_of(arg).kind not in "iu":
            raise TypeError(f"sph_harm_y: the {'degree' if name == 'n' else 'order'} {name} "
                            f"must be integers, got {dtype_of(arg)}")
    theta, phi = _real("sph_harm_y", theta, phi)
    if n_max is not None:
        try:
            n = lax.min(n, lax.full_like(n, operator.index(n_max)))
        except TypeError:
            raise TypeError(f"sph_harm_y: n_max must be a Python integer, got {n_max!r}") \
                from None
    dt = dtype_of(theta)
    n, m = lax.convert_element_type(n, dt), lax.convert_element_type(m, dt)
    shape = _broadcast_shapes(*(shape_of(a) for a in (n, m, theta, phi)), opname="sph_harm_y")
    n, m, theta, phi = (lax.broadcast_to(a, shape) for a in (n, m, theta, phi))
    radial = _more.sph_legendre(n, m, theta)
    angle = lax.mul(m, phi)
    return lax.complex(lax.mul(radial, lax.cos(angle)), lax.mul(radial, lax.sin(angle)))


def zeta(x, q=None):
    """Hurwitz's zeta function sum_k (k + q)^-x (Riemann's where q is None); differentiable in
    q."""
    return _zeta(x, 1.0 if q is None else q)


def loggamma(x):
    """The principal branch of log Gamma(x) for real x: gammaln(x) for x >= 0, NaN for
    x < 0 (as SciPy for real input); complex input is not supported."""
    (x,), dt = promote_inexact(x)
    if dt.kind == "c":
        raise NotImplementedError("loggamma: complex input is not supported; take gammaln of "
                                  "real arguments")
    x = asarray(x)
    return lax.select(lax.lt(x, 0.0), lax.full_like(x, math.nan), lax.lgamma(x))


def multigammaln(a, d):
    """The log of the multivariate gamma function of dimension `d` (a Python int):
    d (d - 1) / 4 log(pi) + sum over j < d of gammaln(a - j / 2)."""
    if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1:
        raise ValueError(f"multigammaln: d must be a positive Python integer, got {d!r}")
    (a,), _ = promote_inexact(a)
    a = asarray(a)
    total = lax.full_like(a, d * (d - 1) / 4.0 * math.log(math.pi))
    for j in range(int(d)):
        total = lax.add(total, lax.lgamma(lax.sub(a, j / 2.0)))
    return total


def comb(N, k, *, repetition=False):
    """The number of combinations of N things taken k at a time, Gamma(N + 1) / (Gamma(k +
    1) Gamma(N - k + 1)) for real N and k (0 where k > N, N < 0 or k < 0); with `repetition`,
    comb(N + k - 1, k) (1 for k = 0). Floats, as SciPy's comb(exact=False) and JAX's."""
    (N, k), dt = promote_inexact(N, k)
    N, k = asarray(N, dtype=dt), asarray(k, dtype=dt)
    given = N
    if repetition:
        N = lax.sub(lax.add(N, k), 1.0)
    rest = lax.add(lax.sub(N, k), 1.0)
    top = lax.add(N, 1.0)
    log_value = lax.sub(lax.lgamma(top), lax.add(lax.lgamma(lax.add(k, 1.0)),
                                                 lax.lgamma(rest)))
    sign = lax.mul(lax.mul(gammasgn(top), gammasgn(lax.add(k, 1.0))), gammasgn(rest))
    value = lax.mul(sign, lax.exp(log_value))
    ok = lax.bitwise_and(lax.bitwise_and(lax.le(k, N), lax.ge(N, 0.0)), lax.ge(k, 0.0))
    out = lax.select(ok, value, lax.full_like(value, 0.0))
    if repetition:              # one way to take none of N >= 0 things (also of none)
        none = lax.bitwise_and(lax.eq(k, 0.0), lax.ge(given, 0.0))
        out = lax.select(none, lax.full_like(out, 1.0), out)
    return out


def bernoulli(n):
    """The Bernoulli numbers B_0, ..., B_n (B_1 = -1/2), for a Python integer n >= 0, in the
    default float dtype (exact to its precision)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"bernoulli: n must be a non-negative Python integer, got {n!r}")
    import scipy.special
    values = scipy.special.bernoulli(int(n)) if n > 0 else np.ones(1)
    return asarray(values, dtype=dtypes.default_float_dtype())


def _box_cox(log_fn, x, lmbda):
    """(exp(lmbda log_fn(x)) - 1) / lmbda, log_fn(x) at lmbda = 0 (there with the derivative
    log_fn(x)^2 / 2 in lmbda)."""
    (x, lmbda), dt = promote_inexact(x, lmbda)
    x, lmbda = _broadcast_pair(asarray(x, dtype=dt), asarray(lmbda, dtype=dt))
    logx = log_fn(x)
    zero = lax.eq(lmbda, 0.0)
    safe = lax.select(zero, lax.full_like(lmbda, 1.0), lmbda)
    general = lax.div(lax.expm1(lax.mul(safe, logx)), safe)
    slope = lax.mul(lax.square(logx), 0.5)
    slope = lax.select(lax.is_finite(slope), slope, lax.full_like(slope, 0.0))
    at_zero = lax.add(logx, lax.mul(lmbda, slope))
    return lax.select(zero, at_zero, general)


def boxcox(x, lmbda):
    """The Box-Cox transform (x^lmbda - 1) / lmbda, log(x) at lmbda = 0."""
    return _box_cox(lax.log, x, lmbda)


def boxcox1p(x, lmbda):
    """The Box-Cox transform of 1 + x: ((1 + x)^lmbda - 1) / lmbda, log1p(x) at
    lmbda = 0."""
    return _box_cox(lax.log1p, x, lmbda)


def logaddexp(x1, x2):
    """log(exp(x1) + exp(x2)), without overflow."""
    (a, b), _ = promote_inexact(x1, x2)
    return lax.logaddexp(a, b)


def logit(x):
    """log(x / (1 - x)), the inverse of expit."""
    (x,), _ = promote_inexact(x)
    return lax.log(lax.div(x, lax.sub(1.0, x)))


def gammasgn(x):
    """The sign of Gamma(x): 1 or -1 (-1 at -0.0), NaN at the poles x = -1, -2, ..., at -inf
    and at NaN (as SciPy and JAX)."""
    (x,), _ = promote_inexact(x)
    x = asarray(x)
    one = lax.full_like(x, 1.0)
    whole = lax.floor(x)
    odd_below = lax.bitwise_and(lax.lt(x, 0.0), lax.ne(lax.rem(whole, 2.0), 0.0))
    sign = lax.select(lax.bitwise_or(odd_below, lax.bitwise_and(lax.eq(x, 0.0),
                                                                lax.signbit(x))),
                      lax.neg(one), one)
    undefined = lax.bitwise_or(lax.bitwise_and(lax.lt(x, 0.0), lax.eq(x, whole)), lax.isnan(x))
    return lax.select(undefined, lax.full_like(x, math.nan), sign)


def gamma(x):
    """Gamma(x): exp(gammaln(x)) with Gamma's sign; NaN at the poles x = -1, -2, ... and at
    -inf, +-inf at +-0 (as SciPy)."""
    (x,), _ = promote_inexact(x)
    x = asarray(x)
    return lax.mul(gammasgn(x), lax.exp(lax.lgamma(x)))


def beta(a, b):
    """B(a, b) = Gamma(a) Gamma(b) / Gamma(a + b), with its sign (exp(betaln) times the
    three gamma signs)."""
    (a, b), dt = promote_inexact(a, b)
    a, b = asarray(a, dtype=dt), asarray(b, dtype=dt)
    sign = lax.mul(lax.mul(gammasgn(a), gammasgn(b)), gammasgn(lax.add(a, b)))
    return lax.mul(sign, lax.exp(betaln(a, b)))


def factorial(n, exact=False):
    """n! as Gamma(n + 1) for real n (0 for n < 0, as SciPy); `exact=True` (Python integers
    in SciPy) is not available on arrays."""
    if exact:
        raise NotImplementedError("factorial(exact=True): exact integer factorials are not "
                                  "available on arrays; use math.factorial on Python ints")
    (n,), _ = promote_inexact(n)
    n = asarray(n)
    value = lax.exp(lax.lgamma(lax.add(n, 1.0)))
    return lax.select(lax.lt(n, 0.0), lax.full_like(n, 0.0), value)


def poch(z, m):
    """The Pochhammer symbol Gamma(z + m) / Gamma(z) (1 where m == 0; NaN where z is a pole
    of Gamma, as JAX: SciPy gives the limit there)."""
    (z, m), dt = promote_inexact(z, m)
    z, m = asarray(z, dtype=dt), asarray(m, dtype=dt)
    ratio = lax.div(gamma(lax.add(z, m)), gamma(z))
    return lax.select(lax.eq(m, 0.0), lax.add(lax.mul(ratio, 0.0), 1.0), ratio)


def rel_entr(p, q):
    """p log(p / q) for p > 0 and q > 0, 0 for p == 0 and q >= 0, inf otherwise; NaN stays
    NaN (as SciPy; JAX gives inf)."""
    (p, q), dt = promote_inexact(p, q)
    p, q = asarray(p, dtype=dt), asarray(q, dtype=dt)
    p, q = lax.add(lax.mul(q, 0.0), p), lax.add(lax.mul(p, 0.0), q)     # broadcast both
    both = lax.bitwise_and(lax.gt(p, 0.0), lax.gt(q, 0.0))
    empty = lax.bitwise_and(lax.eq(p, 0.0), lax.ge(q, 0.0))
    one = lax.full_like(p, 1.0)
    safe_p, safe_q = lax.select(both, p, one), lax.select(both, q, one)
    # log(p / q), SciPy's, keeps its accuracy where p is near q (a difference of logs
    # cancels there); the difference where the ratio overflows or underflows
    ratio = lax.div(safe_p, safe_q)
    direct = lax.bitwise_and(lax.gt(ratio, 0.0), lax.lt(ratio, math.inf))
    log_ratio = lax.select(direct, lax.log(lax.select(direct, ratio, one)),
                           lax.sub(lax.log(safe_p), lax.log(safe_q)))
    value = lax.mul(safe_p, log_ratio)
    edge = lax.select(empty, lax.full_like(p, 0.0), lax.full_like(p, math.inf))
    out = lax.select(both, value, edge)
    nan = lax.bitwise_or(lax.isnan(p), lax.isnan(q))
    return lax.select(nan, lax.full_like(p, math.nan), out)


def kl_div(p, q):
    """p log(p / q) - p + q for p > 0 and q > 0, q for p == 0 and q >= 0, inf otherwise."""
    (p, q), dt = promote_inexact(p, q)
    p, q = asarray(p, dtype=dt), asarray(q, dtype=dt)
    return lax.add(lax.sub(rel_entr(p, q), p), q)


def polygamma(n, x):
    """The n-th derivative of digamma (n a non-negative integer, or an array of them
    broadcasting with x)."""
    (x,), _ = promote_inexact(x)
    if isinstance(n, (int, np.integer)):
        return lax.polygamma(int(n), x)
    n, x = asarray(n), asarray(x)
    shape = _broadcast_shapes(shape_of(n), shape_of(x))
    n, x = lax.broadcast_to(n, shape), lax.broadcast_to(x, shape)
    return lax.polygamma(lax.convert_element_type(n, dtype_of(x)), x)


def betaln(a, b):
    """log |B(a, b)| = gammaln(a) + gammaln(b) - gammaln(a + b)."""
    (a, b), dt = promote_inexact(a, b)
    a, b = asarray(a, dtype=dt), asarray(b, dtype=dt)
    return lax.sub(lax.add(lax.lgamma(a), lax.lgamma(b)), lax.lgamma(lax.add(a, b)))


def _x_times(fn, x, y, edge):
    """x * fn(y), taken as 0 where x == 0 and y is not above `edge`, fn's singularity (y is
    replaced there, so neither the value nor its derivative sees it). Elsewhere the product
    itself is kept, so the derivative in x at x == 0 is fn(y), as in JAX."""
    (x, y), dt = promote_inexact(x, y)
    x, y = asarray(x, dtype=dt), asarray(y, dtype=dt)     # (a Python scalar takes y's type)
    y = lax.add(lax.mul(x, 0.0), y)                        # broadcast y against x
    bad = lax.bitwise_and(lax.eq(x, 0.0), lax.bitwise_not(lax.gt(y, edge)))
    safe_y = lax.select(bad, lax.full_like(y, edge + 1.0), y)
    return lax.select(bad, lax.full_like(safe_y, 0.0), lax.mul(x, fn(safe_y)))


def xlogy(x, y):
    """x * log(y), taken as 0 where x == 0 (also for y == 0)."""
    return _x_times(lax.log, x, y, 0.0)


def xlog1py(x, y):
    """x * log1p(y), taken as 0 where x == 0 (also for y == -1)."""
    return _x_times(lax.log1p, x, y, -1.0)


def entr(x):
    """-x log x for x > 0, 0 at 0, -inf for x < 0."""
    (x,), _ = promote_inexact(x)
    x = asarray(x)
    positive = lax.gt(x, 0.0)
    safe = lax.select(positive, x, lax.full_like(x, 1.0))
    out = lax.neg(lax.mul(safe, lax.log(safe)))
    out = lax.select(positive, out, lax.mul(x, 0.0))       # 0 at 0, NaN stays NaN
    return lax.select(lax.lt(x, 0.0), lax.full_like(x, -math.inf), out)


def ndtr(x):
    """The standard normal CDF."""
    (x,), _ = promote_inexact(x)
    return lax.mul(lax.erfc(lax.mul(x, -1.0 / math.sqrt(2.0))), 0.5)


def log_ndtr(x, series_order=3):
    """log of the standard normal CDF, accurate in both tails (far in the lower one, from
    `series_order` terms of the asymptotic series, as JAX)."""
    if not isinstance(series_order, (int, np.integer)) or not 0 <= series_order <= 30:
        raise ValueError(f"log_ndtr: series_order must be an integer in [0, 30], got "
                         f"{series_order!r}")
    (x,), dt = promote_inexact(x)
    x = asarray(x)
    # far in the lower tail: log(phi(x) / -x) plus the asymptotic series of Mills' ratio
    cut = -20.0 if dt.itemsize >= 8 else -10.0
    lower = lax.lt(x, cut)
    safe = lax.select(lower, x, lax.full_like(x, cut))
    inv2 = lax.reciprocal(lax.square(safe))
    series = lax.full_like(x, 1.0)
    term = lax.full_like(x, 1.0)
    for k in range(1, series_order + 1):
        term = lax.mul(term, lax.mul(inv2, -(2.0 * k - 1.0)))
        series = lax.add(series, term)
    asym = lax.add(lax.sub(lax.mul(lax.square(safe), -0.5), lax.log(lax.neg(safe))),
                   lax.add(-0.5 * math.log(2 * math.pi), lax.log(series)))
    # upper half: log1p(-ndtr(-x)) keeps the tiny deficit below 1
    mid = lax.select(lower, lax.full_like(x, 0.0), x)
    pos, neg = lax.max(mid, 0.0), lax.min(mid, 0.0)
    direct = lax.select(lax.gt(mid, 0.0), lax.log1p(lax.neg(ndtr(lax.neg(pos)))),
                        lax.log(ndtr(neg)))
    return lax.select(lower, asym, direct)


def ndtri(p):
    """The inverse of the standard normal CDF."""
    (p,), _ = promote_inexact(p)
    return lax.mul(lax.erf_inv(lax.sub(lax.mul(p, 2.0), 1.0)), math.sqrt(2.0))


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False, where=None):
    """log(sum(b * exp(a))) over `axis`, without overflow; with `return_sign` also the sign
    of the sum (for negative weights b)."""
    from ..numpy import _reductions as R
    (a,), dt = promote_inexact(a)
    a = asarray(a)
    if b is not None:
        (a, b), dt = promote_inexact(a, b)
        a, b = _broadcast_pair(asarray(a, dtype=dt), asarray(b, dtype=dt))
    if where is not None:
        a = lax.select(lax.broadcast_to(asarray(where), shape_of(a)),
                       a, lax.full_like(a, -math.inf))
    axes = normalize_axes(axis, len(shape_of(a)))
    complex_result = dtype_of(a).kind == "c" and not return_sign
    # shifting by the largest real part keeps exp in range (and a complex log principal)
    real = lax.real(a) if dtype_of(a).kind == "c" else a
    if b is not None:              # terms of weight 0 take no part (nor in the shift)
        real = lax.select(lax.eq(b, lax.full_like(b, 0)), lax.full_like(real, -math.inf), real)
    m = R.max(real, axis=axes, keepdims=True)
    m = lax.stop_gradient(lax.select(lax.is_finite(m), m, lax.full_like(m, 0.0)))
    e = lax.exp(lax.sub(a, lax.convert_element_type(m, dtype_of(a))))
    if b is not None:
        e = lax.mul(e, b)
    total = R.sum(e, axis=axes, keepdims=True)
    sign = lax.sign(total)
    if complex_result:             # log(sum(b * exp(a))) itself, its phase included
        out = lax.add(lax.log(total), lax.convert_element_type(m, dtype_of(a)))
    elif dtype_of(a).kind == "c":
        out = lax.add(lax.log(lax.abs(total)), m)
    else:
        out = lax.add(_log_abs_sum(e, axes, total), m)
    if not keepdims:
        out = lax.reshape(out, tuple(d for i, d in enumerate(shape_of(out)) if i not in axes))
        sign = lax.reshape(sign, shape_of(out))
    if return_sign:
        return out, sign
    if b is not None and not complex_result:
        out = lax.select(lax.lt(sign, 0.0), lax.full_like(out, math.nan), out)
    return out


def _log_abs_sum(e, axes, total):
    """log|total| for total = sum(e) over `axes`: where the largest terms dominate, as
    log|top| + log1p(rest / top), which keeps the relative precision of a result near 0
    (log(1 + 4e-8) taken directly is off by 2e-9 of itself)."""
    from ..numpy import _reductions as R
    zeros = lax.full_like(e, 0.0)
    size = lax.abs(e)
    largest = lax.stop_gradient(R.max(size, axis=axes, keepdims=True))
    at_max = lax.eq(size, lax.broadcast_to(largest, shape_of(e)))
    top = R.sum(lax.select(at_max, e, zeros), axis=axes, keepdims=True)
    rest = R.sum(lax.select(at_max, zeros, e), axis=axes, keepdims=True)
    nonzero = lax.ne(top, 0.0)
    ratio = lax.div(rest, lax.select(nonzero, top, lax.full_like(top, 1.0)))
    small = lax.bitwise_and(nonzero, lax.lt(lax.abs(ratio), 0.5))
    ratio = lax.select(small, ratio, lax.full_like(ratio, 0.0))
    refined = lax.add(lax.log(lax.abs(lax.select(small, top, lax.full_like(top, 1.0)))),
                      lax.log1p(ratio))
    return lax.select(small, refined, lax.log(lax.abs(total)))


def _broadcast_pair(a, b):
    from ..numpy._shape import broadcast_arrays
    return broadcast_arrays(a, b)


def softmax(x, axis=None):
    """exp(x) / sum(exp(x)) over `axis` (all axes when None), computed stably."""
    return lax.exp(log_softmax(x, axis))


def log_softmax(x, axis=None):
    """x - logsumexp(x) over `axis` (all axes when None)."""
    (x,), _ = promote_inexact(x)
    return lax.sub(x, logsumexp(x, axis=axis, keepdims=True))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
