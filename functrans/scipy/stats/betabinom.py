"""The beta-binomial distribution: binomial with a Beta(a, b) success probability (SciPy's
`betabinom`)."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import promote, nan_unless, safe
from ._discrete import integer_in
from ...core import place_functions as _place_functions


def logpmf(k, n, a, b, loc=0):
    k, n, a, b, loc = promote(k, n, a, b, loc)
    k = k - loc
    valid = integer_in(k, 0, n)
    ks = safe(valid, k, 0)
    value = (special.gammaln(n + 1) - special.gammaln(ks + 1) - special.gammaln(n - ks + 1)
             + special.betaln(ks + a, n - ks + b) - special.betaln(a, b))
    ok = (n >= 0) & (n == fnp.floor(n)) & (a > 0) & (b > 0)
    return nan_unless(ok, fnp.where(valid, value, -fnp.inf))


def pmf(k, n, a, b, loc=0):
    return fnp.exp(logpmf(k, n, a, b, loc))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
