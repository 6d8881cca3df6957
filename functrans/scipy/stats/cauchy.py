"""The Cauchy distribution (SciPy's `cauchy`)."""
from __future__ import annotations

import math

from ... import numpy as fnp
from ._common import promote, nan_unless
from ...core import place_functions as _place_functions


def logpdf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    y = (x - loc) / scale
    return nan_unless(scale > 0, -math.log(math.pi) - fnp.log(scale) - fnp.log1p(y * y))


def pdf(x, loc=0, scale=1):
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    return nan_unless(scale > 0, 0.5 + fnp.arctan((x - loc) / scale) / math.pi)


def logcdf(x, loc=0, scale=1):
    return fnp.log(cdf(x, loc, scale))


def sf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    return nan_unless(scale > 0, 0.5 - fnp.arctan((x - loc) / scale) / math.pi)


def logsf(x, loc=0, scale=1):
    return fnp.log(sf(x, loc, scale))


def ppf(q, loc=0, scale=1):
    q, loc, scale = promote(q, loc, scale)
    return nan_unless((scale > 0) & (q >= 0) & (q <= 1), loc + scale * fnp.tan(math.pi * (q - 0.5)))


def isf(q, loc=0, scale=1):
    q, loc, scale = promote(q, loc, scale)
    return nan_unless((scale > 0) & (q >= 0) & (q <= 1), loc - scale * fnp.tan(math.pi * (q - 0.5)))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
