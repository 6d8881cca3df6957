"""The multinomial distribution: counts `x` (along the last axis) of `n` draws with
probabilities `p` (SciPy's `multinomial`)."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import promote
from ...core import place_functions as _place_functions


def logpmf(x, n, p):
    x, n, p = promote(x, n, p)
    counts_ok = fnp.all((x >= 0) & (x == fnp.floor(x)), axis=-1) & \
        (fnp.sum(x, axis=-1) == n)
    xs = fnp.where(counts_ok[..., None], x, 0)
    terms = special.xlogy(xs, p) - special.gammaln(xs + 1)
    value = special.gammaln(n + 1) + fnp.sum(terms, axis=-1)
    ok = (n >= 0) & (n == fnp.floor(n)) & fnp.all(p >= 0, axis=-1)
    return fnp.where(ok, fnp.where(counts_ok, value, -fnp.inf), fnp.nan)


def pmf(x, n, p):
    return fnp.exp(logpmf(x, n, p))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
