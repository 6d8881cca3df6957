"""The Pareto distribution with shape `b` (SciPy's `pareto`: density b / y^(b + 1) for
y = (x - loc) / scale >= 1)."""
from __future__ import annotations

from ... import numpy as fnp
from ._common import log1mexp, promote, nan_unless, safe
from ...core import place_functions as _place_functions


def _y(x, b, loc, scale):
    x, b, loc, scale = promote(x, b, loc, scale)
    y = (x - loc) / scale
    inside = y >= 1
    return safe(inside, y, 1), inside, b, scale


def logpdf(x, b, loc=0, scale=1):
    y, inside, b, scale = _y(x, b, loc, scale)
    value = fnp.log(b) - (b + 1) * fnp.log(y) - fnp.log(scale)
    return nan_unless((b > 0) & (scale > 0), fnp.where(inside, value, -fnp.inf))


def pdf(x, b, loc=0, scale=1):
    return fnp.exp(logpdf(x, b, loc, scale))


def cdf(x, b, loc=0, scale=1):
    y, inside, b, scale = _y(x, b, loc, scale)
    return nan_unless((b > 0) & (scale > 0), fnp.where(inside, -fnp.expm1(-b * fnp.log(y)), 0))


def logcdf(x, b, loc=0, scale=1):
    y, inside, b, scale = _y(x, b, loc, scale)
    return nan_unless((b > 0) & (scale > 0),
                      fnp.where(inside, log1mexp(b * fnp.log(y)), -fnp.inf))


def sf(x, b, loc=0, scale=1):
    return fnp.exp(logsf(x, b, loc, scale))


def logsf(x, b, loc=0, scale=1):
    y, inside, b, scale = _y(x, b, loc, scale)
    return nan_unless((b > 0) & (scale > 0), fnp.where(inside, -b * fnp.log(y), 0))


def ppf(q, b, loc=0, scale=1):
    q, b, loc, scale = promote(q, b, loc, scale)
    value = loc + scale * fnp.exp(-fnp.log1p(-q) / b)
    return nan_unless((b > 0) & (scale > 0) & (q >= 0) & (q <= 1), value)


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
