"""The Poisson distribution with mean `mu` (SciPy's `poisson`); differentiable in `mu`."""
from __future__ import annotations

from ... import numpy as fnp
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


def cdf(k, mu, loc=0):
    k, mu, loc = promote(k, mu, loc)
    k = fnp.floor(k - loc)
    ks = safe(k >= 0, k, 0)
    positive = mu > 0
    mus = safe(positive, mu, 1)
    value = fnp.where(positive, special.gammaincc(ks + 1, mus), 1)
    return nan_unless(mu >= 0, fnp.where(k >= 0, value, 0))


def logcdf(k, mu, loc=0):
    return fnp.log(cdf(k, mu, loc))


def sf(k, mu, loc=0):
    k, mu, loc = promote(k, mu, loc)
    k = fnp.floor(k - loc)
    ks = safe(k >= 0, k, 0)
    positive = mu > 0
    mus = safe(positive, mu, 1)
    value = fnp.where(positive, special.gammainc(ks + 1, mus), 0)
    return nan_unless(mu >= 0, fnp.where(k >= 0, value, 1))


def logsf(k, mu, loc=0):
    return fnp.log(sf(k, mu, loc))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
