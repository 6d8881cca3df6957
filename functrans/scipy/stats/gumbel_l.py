"""The left-skewed Gumbel distribution (SciPy's `gumbel_l`: sf exp(-exp(y)))."""
from __future__ import annotations

from ... import numpy as fnp
from ._common import log1mexp, promote, nan_unless
from ...core import place_functions as _place_functions
from ...numpy._signatures import keyword_alias


def _y(x, loc, scale):
    x, loc, scale = promote(x, loc, scale)
    return (x - loc) / scale, scale


def logpdf(x, loc=0, scale=1):
    y, scale = _y(x, loc, scale)
    return nan_unless(scale > 0, y - fnp.exp(y) - fnp.log(scale))


def pdf(x, loc=0, scale=1):
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    y, scale = _y(x, loc, scale)
    return nan_unless(scale > 0, -fnp.expm1(-fnp.exp(y)))


def logcdf(x, loc=0, scale=1):
    y, scale = _y(x, loc, scale)
    return nan_unless(scale > 0, log1mexp(fnp.exp(y)))


def logsf(x, loc=0, scale=1):
    y, scale = _y(x, loc, scale)
    return nan_unless(scale > 0, -fnp.exp(y))


def sf(x, loc=0, scale=1):
    return fnp.exp(logsf(x, loc, scale))


@keyword_alias(p="q")     # JAX's name
def ppf(q, loc=0, scale=1):
    q, loc, scale = promote(q, loc, scale)
    return nan_unless((scale > 0) & (q >= 0) & (q <= 1), loc + scale * fnp.log(-fnp.log1p(-q)))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
