"""The normal distribution truncated to [a, b] in standard units (SciPy's `truncnorm`:
bounds a and b apply to (x - loc) / scale). The mass between the bounds is taken in log
space from whichever tail keeps it accurate, so far tails stay finite."""
from __future__ import annotations

import math


from ... import numpy as fnp
from .. import special
from ._common import LOG_2PI, log1mexp, nan_unless, promote, safe
from ...core import place_functions as _place_functions


def _log_mass(lo, hi):
    """log(Phi(hi) - Phi(lo)) for lo <= hi: from the right tail when lo > 0, the left when
    hi < 0, else from 1 minus both tails."""
    right, left = lo > 0, hi < 0
    p_right, q_right = special.log_ndtr(-safe(right, lo, 1.0)), special.log_ndtr(
        -safe(right, hi, 2.0))
    p_left, q_left = special.log_ndtr(safe(left, hi, -1.0)), special.log_ndtr(
        safe(left, lo, -2.0))
    from_right = p_right + log1mexp(safe(right, p_right - q_right, 1.0))
    from_left = p_left + log1mexp(safe(left, p_left - q_left, 1.0))
    central = fnp.log1p(-special.ndtr(lo) - special.ndtr(-hi))
    equal = lo == hi
    value = fnp.where(right, from_right, fnp.where(left, from_left, central))
    return fnp.where(equal, -fnp.inf, value)


def _standard(x, a, b, loc, scale):
    x, a, b, loc, scale = promote(x, a, b, loc, scale)
    return (x - loc) / scale, a, b, scale, (scale > 0) & (a < b)


def logpdf(x, a, b, loc=0, scale=1):
    y, a, b, scale, ok = _standard(x, a, b, loc, scale)
    inside = (y >= a) & (y <= b)
    value = -0.5 * y * y - 0.5 * LOG_2PI - _log_mass(a, b) - fnp.log(scale)
    return nan_unless(ok, fnp.where(inside, value, -fnp.inf))


def pdf(x, a, b, loc=0, scale=1):
    return fnp.exp(logpdf(x, a, b, loc, scale))


def _log_cdf_and_sf(x, a, b, loc, scale):
    """log cdf and log sf, each taken from the other where the other is small (near 1 the
    direct difference of two log masses loses its digits)."""
    y, a, b, scale, ok = _standard(x, a, b, loc, scale)
    inside = (y > a) & (y < b)
    mass = _log_mass(a, b)
    below = _log_mass(a, safe(inside, y, b)) - mass
    above = _log_mass(safe(inside, y, a), b) - mass
    half = -math.log(2.0)
    log_cdf = fnp.where(above < half, log1mexp(-safe(above < half, above, -1.0)), below)
    log_sf = fnp.where(below < half, log1mexp(-safe(below < half, below, -1.0)), above)
    log_cdf = fnp.where(inside, log_cdf, fnp.where(y >= b, 0.0, -fnp.inf))
    log_sf = fnp.where(inside, log_sf, fnp.where(y <= a, 0.0, -fnp.inf))
    return nan_unless(ok, log_cdf), nan_unless(ok, log_sf)


def logcdf(x, a, b, loc=0, scale=1):
    return _log_cdf_and_sf(x, a, b, loc, scale)[0]


def cdf(x, a, b, loc=0, scale=1):
    return fnp.exp(logcdf(x, a, b, loc, scale))


def logsf(x, a, b, loc=0, scale=1):
    return _log_cdf_and_sf(x, a, b, loc, scale)[1]


def sf(x, a, b, loc=0, scale=1):
    return fnp.exp(logsf(x, a, b, loc, scale))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
