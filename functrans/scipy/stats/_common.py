"""Helpers shared by the distributions: promotion of the arguments, standardization, and
SciPy's conventions for invalid parameters (NaN) and points outside the support."""
from __future__ import annotations

import math

from ... import numpy as fnp
from ...numpy._conversion import promote_inexact

LOG_2PI = math.log(2 * math.pi)


def promote(*args):
    """The arguments as arrays of one inexact dtype (integers become the default float)."""
    args, dt = promote_inexact(*args)
    return [fnp.asarray(a, dtype=dt) for a in args]


def nan_unless(ok, value):
    """`value` where `ok`, NaN elsewhere (SciPy's answer for invalid parameters)."""
    return fnp.where(ok, value, fnp.nan)


def safe(ok, x, fill):
    """`x` where `ok`, `fill` elsewhere: evaluates a branch only at safe points, so neither
    its value nor its derivative meets a singularity it does not use."""
    return fnp.where(ok, x, fill)


def log1mexp(a):
    """log(1 - exp(-a)) for a >= 0, accurate at both ends (log(-expm1(-a)) below log 2,
    log1p(-exp(-a)) above)."""
    small = a < math.log(2)
    return fnp.where(small, fnp.log(-fnp.expm1(-safe(small, a, 1.0))),
                     fnp.log1p(-fnp.exp(-safe(small, 1.0, a))))
