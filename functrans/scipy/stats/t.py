"""Student's t distribution with `df` degrees of freedom (SciPy's `t`). The CDF and its
inverse go through the incomplete beta function: derivatives with respect to `df` exist for
`logpdf`/`pdf` only."""
from __future__ import annotations

import math

from ... import numpy as fnp
from .. import special
from ._common import promote, nan_unless
from ...core import place_functions as _place_functions


def logpdf(x, df, loc=0, scale=1):
    x, df, loc, scale = promote(x, df, loc, scale)
    y = (x - loc) / scale
    value = (special.gammaln((df + 1) / 2) - special.gammaln(df / 2)
             - 0.5 * fnp.log(df * math.pi) - (df + 1) / 2 * fnp.log1p(y * y / df)
             - fnp.log(scale))
    return nan_unless((scale > 0) & (df > 0), value)


def pdf(x, df, loc=0, scale=1):
    return fnp.exp(logpdf(x, df, loc, scale))


def _tail(y, df):
    """P(T > |y|) for a standardized t variable."""
    return 0.5 * special.betainc(df / 2, fnp.full_like(df, 0.5), df / (df + y * y))


def cdf(x, df, loc=0, scale=1):
    x, df, loc, scale = promote(x, df, loc, scale)
    y = (x - loc) / scale
    tail = _tail(y, df)
    return nan_unless((scale > 0) & (df > 0), fnp.where(y > 0, 1 - tail, tail))


def logcdf(x, df, loc=0, scale=1):
    return fnp.log(cdf(x, df, loc, scale))


def sf(x, df, loc=0, scale=1):
    x, df, loc, scale = promote(x, df, loc, scale)
    return cdf(2 * loc - x, df, loc, scale)


def logsf(x, df, loc=0, scale=1):
    return fnp.log(sf(x, df, loc, scale))


def ppf(q, df, loc=0, scale=1):
    q, df, loc, scale = promote(q, df, loc, scale)
    lower = q < 0.5
    p = fnp.where(lower, q, 1 - q)                       # the smaller tail
    z = special.betaincinv(df / 2, fnp.full_like(df, 0.5), 2 * p)
    y = fnp.sqrt(df * (1 / z - 1))
    return nan_unless((scale > 0) & (df > 0), loc + scale * fnp.where(lower, -y, y))


def isf(q, df, loc=0, scale=1):
    return ppf(1 - fnp.asarray(q), df, loc, scale)


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
