"""The chi-squared distribution with `df` degrees of freedom (SciPy's `chi2`): the gamma
distribution with shape df / 2 and scale 2."""
from __future__ import annotations

from . import gamma
from ._common import promote


def _args(x, df, loc, scale):
    x, df, loc, scale = promote(x, df, loc, scale)
    return x, df / 2, loc, 2 * scale


def logpdf(x, df, loc=0, scale=1):
    return gamma.logpdf(*_args(x, df, loc, scale))


def pdf(x, df, loc=0, scale=1):
    return gamma.pdf(*_args(x, df, loc, scale))


def cdf(x, df, loc=0, scale=1):
    return gamma.cdf(*_args(x, df, loc, scale))


def logcdf(x, df, loc=0, scale=1):
    return gamma.logcdf(*_args(x, df, loc, scale))


def sf(x, df, loc=0, scale=1):
    return gamma.sf(*_args(x, df, loc, scale))


def logsf(x, df, loc=0, scale=1):
    return gamma.logsf(*_args(x, df, loc, scale))
