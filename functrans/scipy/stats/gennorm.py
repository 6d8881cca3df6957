"""The generalized normal distribution with shape `beta` (SciPy's `gennorm`: density
beta / (2 Gamma(1 / beta)) exp(-|x|^beta); beta 2 is a normal, 1 a Laplace)."""
from __future__ import annotations

import math

from ... import numpy as fnp
from .. import special
from ._common import nan_unless, promote
from ...core import place_functions as _place_functions


def logpdf(x, beta):
    x, beta = promote(x, beta)
    value = fnp.log(beta) - math.log(2.0) - special.gammaln(1 / beta) - fnp.abs(x) ** beta
    return nan_unless(beta > 0, value)


def pdf(x, beta):
    return fnp.exp(logpdf(x, beta))


def cdf(x, beta):
    x, beta = promote(x, beta)
    tail = 0.5 * special.gammaincc(1 / beta, fnp.abs(x) ** beta)     # (no cancellation)
    return nan_unless(beta > 0, fnp.where(x < 0, tail, 1 - tail))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
