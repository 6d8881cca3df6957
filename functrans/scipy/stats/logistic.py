"""The logistic distribution (SciPy's `logistic`)."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import promote, nan_unless
from ...core import place_functions as _place_functions
from ...numpy._signatures import keyword_alias


def logpdf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    y = fnp.abs((x - loc) / scale)
    return nan_unless(scale > 0, -y - 2 * fnp.log1p(fnp.exp(-y)) - fnp.log(scale))


def pdf(x, loc=0, scale=1):
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    return nan_unless(scale > 0, special.expit((x - loc) / scale))


def logcdf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    return nan_unless(scale > 0, -fnp.logaddexp(0, (loc - x) / scale))


def sf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    return nan_unless(scale > 0, special.expit((loc - x) / scale))


def logsf(x, loc=0, scale=1):
    x, loc, scale = promote(x, loc, scale)
    return nan_unless(scale > 0, -fnp.logaddexp(0, (x - loc) / scale))


@keyword_alias(x="q")     # JAX's name
def ppf(q, loc=0, scale=1):
    q, loc, scale = promote(q, loc, scale)
    return nan_unless(scale > 0, loc + scale * special.logit(q))


@keyword_alias(x="q")     # JAX's name
def isf(q, loc=0, scale=1):
    q, loc, scale = promote(q, loc, scale)
    return nan_unless(scale > 0, loc - scale * special.logit(q))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
