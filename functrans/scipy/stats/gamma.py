"""The gamma distribution with shape `a` (SciPy's `gamma`). Derivatives with respect to `a`
exist for `logpdf`/`pdf` only (the incomplete gamma function has none in closed form)."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import promote, nan_unless, safe
from ...core import place_functions as _place_functions


def _y(x, loc, scale):
    y = (x - loc) / scale
    return safe(y > 0, y, 1), y


def logpdf(x, a, loc=0, scale=1):
    x, a, loc, scale = promote(x, a, loc, scale)
    ys, y = _y(x, loc, scale)
    value = special.xlogy(a - 1, ys) - ys - special.gammaln(a) - fnp.log(scale)
    at_zero = fnp.where(a == 1, -fnp.log(scale), fnp.where(a < 1, fnp.inf, -fnp.inf))
    out = fnp.where(y > 0, value, fnp.where(y == 0, at_zero, -fnp.inf))
    return nan_unless((scale > 0) & (a > 0), out)


def pdf(x, a, loc=0, scale=1):
    return fnp.exp(logpdf(x, a, loc, scale))


def cdf(x, a, loc=0, scale=1):
    x, a, loc, scale = promote(x, a, loc, scale)
    ys, y = _y(x, loc, scale)
    return nan_unless((scale > 0) & (a > 0), fnp.where(y > 0, special.gammainc(a, ys), 0))


def logcdf(x, a, loc=0, scale=1):
    return fnp.log(cdf(x, a, loc, scale))


def sf(x, a, loc=0, scale=1):
    x, a, loc, scale = promote(x, a, loc, scale)
    ys, y = _y(x, loc, scale)
    return nan_unless((scale > 0) & (a > 0), fnp.where(y > 0, special.gammaincc(a, ys), 1))


def logsf(x, a, loc=0, scale=1):
    return fnp.log(sf(x, a, loc, scale))


def ppf(q, a, loc=0, scale=1):
    q, a, loc, scale = promote(q, a, loc, scale)
    return nan_unless((scale > 0) & (a > 0), loc + scale * special.gammaincinv(a, q))


def isf(q, a, loc=0, scale=1):
    return ppf(1 - fnp.asarray(q), a, loc, scale)


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
