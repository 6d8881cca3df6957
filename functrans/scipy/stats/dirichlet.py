"""The Dirichlet distribution with concentrations `alpha` (K,) (SciPy's `dirichlet`): x
holds the K components along its first axis (or K - 1 of them, the last being 1 minus
their sum); points off the simplex have log-density -inf (SciPy raises)."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import promote
from ...core import place_functions as _place_functions


def _on_simplex(x, alpha):
    x, alpha = promote(x, alpha)
    if alpha.ndim != 1:
        raise ValueError(f"dirichlet: alpha must be 1-d, got shape {alpha.shape}")
    if x.shape[0] == alpha.shape[0] - 1:
        x = fnp.concatenate([x, 1 - fnp.sum(x, axis=0, keepdims=True)], axis=0)
    if x.shape[0] != alpha.shape[0]:
        raise ValueError(f"dirichlet: x has {x.shape[0]} components along its first axis; "
                         f"alpha has {alpha.shape[0]}")
    tol = 1e-6 if x.dtype == fnp.float32 else 1e-12
    inside = fnp.all(x >= 0, axis=0) & (fnp.abs(fnp.sum(x, axis=0) - 1) <= tol * x.shape[0])
    return x, alpha, inside


def logpdf(x, alpha):
    x, alpha, inside = _on_simplex(x, alpha)
    shape = (-1,) + (1,) * (x.ndim - 1)
    a = fnp.reshape(alpha, shape)
    value = (fnp.sum(special.xlogy(a - 1, fnp.where(inside, x, 1)), axis=0)
             + special.gammaln(fnp.sum(alpha)) - fnp.sum(special.gammaln(alpha)))
    return fnp.where(fnp.all(alpha > 0), fnp.where(inside, value, -fnp.inf), fnp.nan)


def pdf(x, alpha):
    return fnp.exp(logpdf(x, alpha))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
