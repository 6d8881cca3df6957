"""The negative binomial distribution: failures before the `n`-th success, probability `p`
each (SciPy's `nbinom`; n may be fractional)."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import promote, nan_unless, safe
from ._discrete import integer_in
from ...core import place_functions as _place_functions


def logpmf(k, n, p, loc=0):
    k, n, p, loc = promote(k, n, p, loc)
    k = k - loc
    valid = integer_in(k, 0)
    ks = safe(valid, k, 0)
    value = (special.gammaln(ks + n) - special.gammaln(n) - special.gammaln(ks + 1)
             + special.xlogy(n, p) + special.xlog1py(ks, -p))
    return nan_unless((n > 0) & (p > 0) & (p <= 1), fnp.where(valid, value, -fnp.inf))


def pmf(k, n, p, loc=0):
    return fnp.exp(logpmf(k, n, p, loc))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
