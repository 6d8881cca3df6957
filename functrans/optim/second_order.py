"""Optax's `optax.second_order` (deprecated in Optax 0.2.7, to go in 0.2.9; each call warns
as Optax's do): curvature of a loss `loss(params, inputs, targets)` as flat vectors over
`ravel_pytree(params)`.

    hessian_diag(loss, params, x, y)      # the Hessian's diagonal, one entry per parameter
"""
from __future__ import annotations

import functools
import warnings

from .. import numpy as fnp
from ..api import grad, jvp, vmap
from ..flatten_util import ravel_pytree

__all__ = ["hvp", "hessian_diag", "fisher_diag"]


def _deprecated(fun):
    @functools.wraps(fun)
    def warned(*args, **kwargs):
        warnings.warn(f"{fun.__name__} is deprecated (Optax removes optax.second_order in "
                      "0.2.9); use ft.jvp(ft.grad(...)) or ft.hessian", DeprecationWarning,
                      stacklevel=2)
        return fun(*args, **kwargs)
    return warned


def _hvp(loss, v, params, inputs, targets):
    _, unravel = ravel_pytree(params)
    return jvp(grad(lambda p: loss(p, inputs, targets)), (params,), (unravel(v),))[1]


@_deprecated
def hvp(loss, v, params, inputs, targets):
    """The Hessian of `loss` at `(params, inputs, targets)` times `v` (a vector of the size of
    `ravel_pytree(params)`), as a tree like `params`."""
    return _hvp(loss, v, params, inputs, targets)


@_deprecated
def hessian_diag(loss, params, inputs, targets):
    """The diagonal of the Hessian of `loss` at `(params, inputs, targets)` over the
    parameters, a vector (one Hessian-vector product per parameter)."""
    flat = ravel_pytree(params)[0]

    def entry(e):
        return fnp.vdot(e, ravel_pytree(_hvp(loss, e, params, inputs, targets))[0])
    return vmap(entry)(fnp.eye(flat.shape[0], dtype=flat.dtype))


@_deprecated
def fisher_diag(negative_log_likelihood, params, inputs, targets):
    """The diagonal of the observed Fisher information, the squared gradient of
    `negative_log_likelihood` at `(params, inputs, targets)`, as a vector."""
    return fnp.square(ravel_pytree(grad(negative_log_likelihood)(params, inputs, targets))[0])
