"""The normal distribution (SciPy's `norm`, location `loc`, scale `scale`)."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import promote, nan_unless, LOG_2PI
from ...core import place_functions as _place_functions


def logpdf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    y = (x - loc) / scale
    return nan_unless(scale > 0, -0.5 * y * y - fnp.log(scale) - 0.5 * LOG_2PI)


def pdf(x, loc=0, scale=1):
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    return nan_unless(scale > 0, special.ndtr((x - loc) / scale))


def logcdf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    return nan_unless(scale > 0, special.log_ndtr((x - loc) / scale))


def sf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    return nan_unless(scale > 0, special.ndtr((loc - x) / scale))


def logsf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    return nan_unless(scale > 0, special.log_ndtr((loc - x) / scale))


def ppf(q, loc=0, scale=1):
    q, loc, scale = promote(q, loc, scale)
    return nan_unless(scale > 0, loc + scale * special.ndtri(q))


def isf(q, loc=0, scale=1):
    q, loc, scale = promote(q, loc, scale)
    return nan_unless(scale > 0, loc - scale * special.ndtri(q))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
