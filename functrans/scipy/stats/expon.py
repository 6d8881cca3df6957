"""The exponential distribution (SciPy's `expon`: rate 1 / scale, starting at loc)."""
from __future__ import annotations

from ... import numpy as fnp
from ._common import promote, nan_unless, safe
from ...core import place_functions as _place_functions


def _y(x, loc, scale):
    x, loc, scale = promote(x, loc, scale)
    y = (x - loc) / scale
    inside = y >= 0
    return safe(inside, y, 0), inside, scale


def logpdf(x, loc=0, scale=1):
    y, inside, scale = _y(x, loc, scale)
    return nan_unless(scale > 0, fnp.where(inside, -y - fnp.log(scale), -fnp.inf))


def pdf(x, loc=0, scale=1):
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    y, inside, scale = _y(x, loc, scale)
    return nan_unless(scale > 0, fnp.where(inside, -fnp.expm1(-y), 0))


def logcdf(x, loc=0, scale=1):
    y, inside, scale = _y(x, loc, scale)
    positive = y > 0
    value = fnp.log(-fnp.expm1(-safe(positive, y, 1)))
    return nan_unless(scale > 0, fnp.where(positive, value, -fnp.inf))


def sf(x, loc=0, scale=1):
    y, inside, scale = _y(x, loc, scale)
    return nan_unless(scale > 0, fnp.where(inside, fnp.exp(-y), 1))


def logsf(x, loc=0, scale=1):
    y, inside, scale = _y(x, loc, scale)
    return nan_unless(scale > 0, fnp.where(inside, -y, 0))


def ppf(q, loc=0, scale=1):
    q, loc, scale = promote(q, loc, scale)
    return nan_unless((scale > 0) & (q >= 0) & (q <= 1), loc - scale * fnp.log1p(-q))


def isf(q, loc=0, scale=1):
    q, loc, scale = promote(q, loc, scale)
    return nan_unless((scale > 0) & (q >= 0) & (q <= 1), loc - scale * fnp.log(q))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
