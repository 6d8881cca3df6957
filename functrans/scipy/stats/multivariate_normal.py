"""The multivariate normal distribution (SciPy's `multivariate_normal`): `cov` a matrix, a
vector (its diagonal) or a scalar (times the identity); the last axis of `x` is the
variable, unless mean (or None) and cov are both scalars: then each entry of x is a sample of
one variable. Differentiable in `x`, `mean` and `cov`."""
from __future__ import annotations

from ... import numpy as fnp
from ... import lax
from ._common import promote, LOG_2PI
from ...core import place_functions as _place_functions


def logpdf(x, mean=None, cov=1, allow_singular=False):
    if allow_singular:
        raise NotImplementedError("multivariate_normal.logpdf: allow_singular=True is not "
                                  "supported; pass a positive definite covariance")
    x = fnp.asarray(x)
    k = x.shape[-1] if x.ndim else 1
    if mean is None:
        mean = fnp.zeros(k if fnp.ndim(cov) else (), x.dtype if x.dtype.kind == "f" else None)
    x, mean, cov = promote(x, mean, cov)
    if mean.ndim == 0 and cov.ndim == 0:
        # one variable (SciPy's and JAX's rule): every entry of x is a sample
        return -0.5 * (LOG_2PI + fnp.log(cov) + fnp.square(x - mean) / cov)
    if x.ndim == 0:
        x = x[None]
    d = x - mean
    if cov.ndim < 2:
        var = fnp.broadcast_to(cov, (k,))
        maha = fnp.sum(d * d / var, axis=-1)
        logdet = fnp.sum(fnp.log(var))
    else:
        if cov.shape[-2:] != (k, k):
            raise ValueError(f"multivariate_normal.logpdf: cov of shape {cov.shape} does not "
                             f"fit variables of size {k}")
        chol = fnp.linalg.cholesky(cov)
        rhs = fnp.broadcast_to(d, fnp.broadcast_shapes(d.shape, cov.shape[:-1]))[..., None]
        chol = fnp.broadcast_to(chol, rhs.shape[:-2] + (k, k))
        z = lax.linalg.triangular_solve(chol, rhs, left_side=True, lower=True)[..., 0]
        maha = fnp.sum(z * z, axis=-1)
        logdet = 2 * fnp.sum(fnp.log(fnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    return -0.5 * (k * LOG_2PI + logdet + maha)


def pdf(x, mean=None, cov=1, allow_singular=False):
    return fnp.exp(logpdf(x, mean, cov, allow_singular))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
