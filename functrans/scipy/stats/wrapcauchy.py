"""The wrapped Cauchy distribution on [0, 2 pi] with shape `c` in (0, 1) (SciPy's
`wrapcauchy`)."""
from __future__ import annotations

import math

from ... import numpy as fnp
from ._common import promote, nan_unless
from ...core import place_functions as _place_functions


def logpdf(x, c):
    x, c = promote(x, c)
    value = (fnp.log1p(-c * c) - math.log(2 * math.pi)
             - fnp.log1p(c * c - 2 * c * fnp.cos(x)))
    inside = (x >= 0) & (x <= 2 * math.pi)
    return nan_unless((c > 0) & (c < 1), fnp.where(inside, value, -fnp.inf))


def pdf(x, c):
    return fnp.exp(logpdf(x, c))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
