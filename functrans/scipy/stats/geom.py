"""The geometric distribution: the trial of the first success, probability `p` each
(SciPy's `geom`, support 1, 2, ...)."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import promote, nan_unless, safe
from ._discrete import integer_in
from ...core import place_functions as _place_functions


def logpmf(k, p, loc=0):
    k, p, loc = promote(k, p, loc)
    k = k - loc
    valid = integer_in(k, 1)
    ks = safe(valid, k, 1)
    value = special.xlog1py(ks - 1, -p) + fnp.log(p)
    return nan_unless((p > 0) & (p <= 1), fnp.where(valid, value, -fnp.inf))


def pmf(k, p, loc=0):
    return fnp.exp(logpmf(k, p, loc))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
