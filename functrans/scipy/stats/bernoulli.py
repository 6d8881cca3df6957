"""The Bernoulli distribution with success probability `p` (SciPy's `bernoulli`)."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import promote, nan_unless
from ...core import place_functions as _place_functions


def logpmf(k, p, loc=0):
    k, p, loc = promote(k, p, loc)
    k = k - loc
    value = special.xlogy(k, p) + special.xlog1py(1 - k, -p)
    out = fnp.where((k == 0) | (k == 1), value, -fnp.inf)
    return nan_unless((p >= 0) & (p <= 1), out)


def pmf(k, p, loc=0):
    return fnp.exp(logpmf(k, p, loc))


def cdf(k, p, loc=0):
    k, p, loc = promote(k, p, loc)
    k = k - loc
    out = fnp.where(k < 0, 0, fnp.where(k < 1, 1 - p, 1))
    return nan_unless((p >= 0) & (p <= 1), out)


def logcdf(k, p, loc=0):
    return fnp.log(cdf(k, p, loc))


def sf(k, p, loc=0):
    return 1 - cdf(k, p, loc)


def logsf(k, p, loc=0):
    return fnp.log(sf(k, p, loc))


def ppf(q, p, loc=0):
    q, p, loc = promote(q, p, loc)
    out = fnp.where(q > 1 - p, 1.0, 0.0)
    out = fnp.where(q == 0, -1.0, out)
    return nan_unless((p >= 0) & (p <= 1) & (q >= 0) & (q <= 1), out + loc)


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
