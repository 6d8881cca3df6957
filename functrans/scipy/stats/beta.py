"""The beta distribution with shapes `a`, `b` (SciPy's `beta`). Derivatives with respect to
the shapes exist for `logpdf`/`pdf` only."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import promote, nan_unless, safe
from ...core import place_functions as _place_functions


def logpdf(x, a, b, loc=0, scale=1):
    x, a, b, loc, scale = promote(x, a, b, loc, scale)
    y = (x - loc) / scale
    inside = (y > 0) & (y < 1)
    ys = safe(inside, y, 0.5)
    value = special.xlogy(a - 1, ys) + special.xlog1py(b - 1, -ys) - special.betaln(a, b)
    out = fnp.where(inside, value - fnp.log(scale), -fnp.inf)
    edge0 = fnp.where(a == 1, -special.betaln(a, b), fnp.where(a < 1, fnp.inf, -fnp.inf))
    edge1 = fnp.where(b == 1, -special.betaln(a, b), fnp.where(b < 1, fnp.inf, -fnp.inf))
    out = fnp.where(y == 0, edge0 - fnp.log(scale), fnp.where(y == 1, edge1 - fnp.log(scale), out))
    return nan_unless((scale > 0) & (a > 0) & (b > 0), out)


def pdf(x, a, b, loc=0, scale=1):
    return fnp.exp(logpdf(x, a, b, loc, scale))


def cdf(x, a, b, loc=0, scale=1):
    x, a, b, loc, scale = promote(x, a, b, loc, scale)
    y = fnp.clip((x - loc) / scale, 0, 1)
    return nan_unless((scale > 0) & (a > 0) & (b > 0), special.betainc(a, b, y))


def logcdf(x, a, b, loc=0, scale=1):
    return fnp.log(cdf(x, a, b, loc, scale))


def sf(x, a, b, loc=0, scale=1):
    x, a, b, loc, scale = promote(x, a, b, loc, scale)
    y = fnp.clip((x - loc) / scale, 0, 1)
    return nan_unless((scale > 0) & (a > 0) & (b > 0), special.betainc(b, a, 1 - y))


def logsf(x, a, b, loc=0, scale=1):
    return fnp.log(sf(x, a, b, loc, scale))


def ppf(q, a, b, loc=0, scale=1):
    q, a, b, loc, scale = promote(q, a, b, loc, scale)
    return nan_unless((scale > 0) & (a > 0) & (b > 0), loc + scale * special.betaincinv(a, b, q))


def isf(q, a, b, loc=0, scale=1):
    return ppf(1 - fnp.asarray(q), a, b, loc, scale)


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
