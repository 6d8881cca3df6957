"""The von Mises distribution on the circle with concentration `kappa` (SciPy's
`vonmises`: density exp(kappa cos x) / (2 pi I0(kappa)), periodic in x)."""
from __future__ import annotations

import math

from ... import numpy as fnp
from .. import special
from ._common import promote, nan_unless
from ...core import place_functions as _place_functions


def logpdf(x, kappa):
    x, kappa = promote(x, kappa)
    value = kappa * (fnp.cos(x) - 1) - math.log(2 * math.pi) - fnp.log(special.i0e(kappa))
    return nan_unless(kappa > 0, value)


def pdf(x, kappa):
    return fnp.exp(logpdf(x, kappa))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
