"""The Laplace distribution (SciPy's `laplace`)."""
from __future__ import annotations

import math

from ... import numpy as fnp
from ._common import promote, nan_unless
from ...core import place_functions as _place_functions


def logpdf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    return nan_unless(scale > 0, -math.log(2) - fnp.log(scale) - fnp.abs(x - loc) / scale)


def pdf(x, loc=0, scale=1):
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    y = (x - loc) / scale
    low = 0.5 * fnp.exp(fnp.minimum(y, 0))
    high = 1 - 0.5 * fnp.exp(-fnp.maximum(y, 0))
    return nan_unless(scale > 0, fnp.where(y < 0, low, high))


def logcdf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    y = (x - loc) / scale
    low = y - math.log(2)
    high = fnp.log1p(-0.5 * fnp.exp(-fnp.maximum(y, 0)))
    return nan_unless(scale > 0, fnp.where(y < 0, low, high))


def sf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    return cdf(2 * loc - x, loc, scale)


def logsf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    return logcdf(2 * loc - x, loc, scale)


def ppf(q, loc=0, scale=1):
    q, loc, scale = promote(q, loc, scale)
    d = q - 0.5
    return nan_unless((scale > 0) & (q >= 0) & (q <= 1),
                      loc - scale * fnp.sign(d) * fnp.log1p(-2 * fnp.abs(d)))


def isf(q, loc=0, scale=1):
    q, loc, scale = promote(q, loc, scale)
    return 2 * loc - ppf(q, loc, scale)


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
