"""The uniform distribution on [loc, loc + scale] (SciPy's `uniform`)."""
from __future__ import annotations

from ... import numpy as fnp
from ._common import promote, nan_unless
from ...core import place_functions as _place_functions


def logpdf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    inside = (x >= loc) & (x <= loc + scale)
    return nan_unless(scale > 0, fnp.where(inside, -fnp.log(scale), -fnp.inf))


def pdf(x, loc=0, scale=1):
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    return nan_unless(scale > 0, fnp.clip((x - loc) / scale, 0, 1))


def logcdf(x, loc=0, scale=1):
    return fnp.log(cdf(x, loc, scale))


def sf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    return nan_unless(scale > 0, fnp.clip((loc + scale - x) / scale, 0, 1))


def logsf(x, loc=0, scale=1):
    return fnp.log(sf(x, loc, scale))


def ppf(q, loc=0, scale=1):
    q, loc, scale = promote(q, loc, scale)
    return nan_unless((scale > 0) & (q >= 0) & (q <= 1), loc + q * scale)


def isf(q, loc=0, scale=1):
    return ppf(1 - fnp.asarray(q), loc, scale)


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
