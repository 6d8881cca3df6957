"""The Poisson distribution with mean `mu` (SciPy's `poisson`); differentiable in `mu`."""
from __future__ import annotations

import math

from ... import lax, numpy as fnp
from .. import special
from ._common import promote, nan_unless, safe
from ...core import place_functions as _place_functions


def logpmf(k, mu, loc=0):
    k, mu, loc = promote(k, mu, loc)
    k = k - loc
    valid = (k >= 0) & (k == fnp.floor(k))
    ks = safe(valid, k, 0)
    value = special.xlogy(ks, mu) - special.gammaln(ks + 1) - mu
    return nan_unless(mu >= 0, fnp.where(valid, value, -fnp.inf))


def pmf(k, mu, loc=0):
    return fnp.exp(logpmf(k, mu, loc))


def _regularized_gamma(k, mu, loc, gamma, at_mu_zero, below_support):
    """`gamma(floor(k - loc) + 1, mu)` (a regularized incomplete gamma function: the cdf's
    or sf's closed form), `at_mu_zero` where mu is 0, `below_support` where k < loc."""
    k, mu, loc = promote(k, mu, loc)
    k = fnp.floor(k - loc)
    ks = safe(k >= 0, k, 0)
    positive = mu > 0
    mus = safe(positive, mu, 1)
    value = fnp.where(positive, gamma(ks + 1, mus), at_mu_zero)
    return nan_unless(mu >= 0, fnp.where(k >= 0, value, below_support))


def cdf(k, mu, loc=0):
    return _regularized_gamma(k, mu, loc, special.gammaincc, 1, 0)


def logcdf(k, mu, loc=0):
    return fnp.log(cdf(k, mu, loc))


def sf(k, mu, loc=0):
    return _regularized_gamma(k, mu, loc, special.gammainc, 0, 1)


def logsf(k, mu, loc=0):
    return fnp.log(sf(k, mu, loc))


# entropy: -sum of p log p over _WINDOW values of k from max(floor(mu) - _BELOW, 0) (over 12
# standard deviations either side while mu < _ASYMPTOTIC: the mass outside is below 1e-30),
# and beyond, the asymptotic series 1/2 log(2 pi e mu) - sum_j c_j / mu^j (c_1..c_6 exact,
# c_7 and c_8 fitted to high-precision sums; the next term is about -290 / mu^9)
_WINDOW, _BELOW, _ASYMPTOTIC = 288, 128, 100.0
_SERIES = (1 / 12, 1 / 24, 19 / 360, 9 / 80, 863 / 2520, 1375 / 1008, 6.73677, 39.72)


def entropy(mu, loc=0):
    """The Shannon entropy of the Poisson distribution with mean `mu` (0 at mu = 0, NaN for
    mu < 0; `loc` only broadcasts, as JAX's), computed in float64 whatever mu's dtype (SciPy
    has no float32 path either) and differentiable in mu."""
    mu, loc = promote(mu, loc)
    dt = mu.dtype
    mu = fnp.broadcast_to(mu, fnp.broadcast_shapes(mu.shape, loc.shape)).astype(fnp.float64)
    small = mu < _ASYMPTOTIC
    m = safe(small & (mu > 0), mu, 1.0)
    start = fnp.maximum(fnp.floor(lax.stop_gradient(m)) - _BELOW, 0.0)
    k = start[..., None] + fnp.arange(_WINDOW, dtype=fnp.float64)
    log_p = special.xlogy(k, m[..., None]) - special.gammaln(k + 1) - m[..., None]
    summed = -fnp.sum(fnp.exp(log_p) * log_p, axis=-1)
    big = safe(small, 2.0 * _ASYMPTOTIC, mu)
    inv = 1.0 / big
    tail = 0.0
    for c in _SERIES[::-1]:
        tail = (tail + c) * inv
    series = 0.5 * fnp.log(2 * math.pi * math.e * big) - tail
    value = fnp.where(small, fnp.where(mu > 0, summed, 0.0), series)
    return nan_unless(mu >= 0, value).astype(dt)


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
