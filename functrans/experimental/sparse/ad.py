"""Sparse-aware `grad`, `value_and_grad`, `jacfwd`, `jacrev` and `jacobian`, as JAX's
`jax.experimental.sparse` ones: with respect to a sparse argument they differentiate its
stored `data` only (the indices fixed), and give the derivative the argument's sparsity
pattern: a gradient is a sparse array like the argument; a Jacobian with respect to a BCOO is
a BCOO of shape `output shape + argument shape` whose leading output dimensions are batch
dimensions. Otherwise they are `functrans.grad` and so on.
"""
from __future__ import annotations

import functools
import operator

from ... import api
from ... import numpy as fnp
from ...tree_util import tree_flatten, tree_map, tree_unflatten
from .base import JAXSparse
from .bcoo import BCOO

__all__ = ["grad", "value_and_grad", "jacfwd", "jacrev", "jacobian"]


def _with_data(mat, data):
    leaves, tree = tree_flatten(mat)        # data is every format's first leaf
    return tree_unflatten(tree, [data] + leaves[1:])


def _sparse_jacobian(mat, jac):
    if not isinstance(mat, BCOO):
        raise NotImplementedError(f"sparse Jacobians with respect to {type(mat).__name__} "
                                  f"arguments are not supported; convert it to a BCOO")
    out = tuple(jac.shape[:jac.ndim - mat.data.ndim])
    indices = fnp.broadcast_to(mat.indices, out + tuple(mat.indices.shape))
    return BCOO((jac, indices), shape=out + mat.shape)


def _transform(transform, rebuild, has_value=False):
    def sparse_transform(fun, argnums=0, has_aux=False, **kwargs):
        many = not isinstance(argnums, int)
        nums = tuple(argnums) if many else (operator.index(argnums),)

        @functools.wraps(fun)
        def transformed(*args):
            sparse = {i: args[i] for i in nums if isinstance(args[i], JAXSparse)}

            def on_data(*xs):
                return fun(*[_with_data(sparse[i], x) if i in sparse else x
                             for i, x in enumerate(xs)])

            data_args = [a.data if i in sparse else a for i, a in enumerate(args)]
            out = transform(on_data, argnums=argnums, has_aux=has_aux, **kwargs)(*data_args)
            value, derivs = out if has_value else (None, out)
            if has_aux and not has_value:
                derivs, aux = derivs
            derivs = list(derivs) if many else [derivs]
            derivs = [rebuild(sparse[i], d) if i in sparse else d for i, d in zip(nums, derivs)]
            derivs = tuple(derivs) if many else derivs[0]
            if has_value:
                return value, derivs
            return (derivs, aux) if has_aux else derivs
        return transformed
    return sparse_transform


def _jacobian_of(mat, jac_tree):
    return tree_map(functools.partial(_sparse_jacobian, mat), jac_tree)


grad = _transform(api.grad, _with_data)
grad.__doc__ = "`functrans.grad`, a sparse argument's gradient sparse like it (see module)."
value_and_grad = _transform(api.value_and_grad, _with_data, has_value=True)
value_and_grad.__doc__ = "`functrans.value_and_grad`, sparse-aware as `grad`."
jacfwd = _transform(api.jacfwd, _jacobian_of)
jacfwd.__doc__ = "`functrans.jacfwd`, a BCOO argument's Jacobian a BCOO (see module)."
jacrev = _transform(api.jacrev, _jacobian_of)
jacrev.__doc__ = "`functrans.jacrev`, a BCOO argument's Jacobian a BCOO (see module)."
jacobian = jacrev
