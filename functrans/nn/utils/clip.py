"""Gradient clipping and flat parameter vectors, as in `torch.nn.utils`, returning new trees.

PyTorch's versions change `.grad` or the parameters in place and are spelled with a trailing
underscore; arrays here are immutable, so each returns its result (`grads, norm =
clip_grad_norm(grads, 1.0)`), and the underscored names raise, pointing here. They take any
pytree of gradients (a model-shaped tree from `ft.grad`, a list, a dict); buffers and None
leaves are left alone. Inside an optimizer chain, `ft.optim.clip_by_global_norm` does the same.
"""
from __future__ import annotations

import math

from ... import lax
from ... import numpy as fnp
from ...buffers import is_buffer, map_arrays
from ...core import Tracer
from ...primitives._util import dtype_of, shape_of
from ...tree_util import tree_flatten, tree_flatten_with_path, tree_unflatten
from ..in_place import refuse_in_place

__all__ = ["clip_grad_norm", "clip_grad_value", "clip_grads_with_norm", "get_total_norm",
           "parameters_to_vector", "vector_to_parameters", "clip_grad_norm_",
           "clip_grad_value_", "clip_grads_with_norm_"]


def _arrays(tree):
    leaves, _ = tree_flatten(tree, is_buffer)
    return [x for x in leaves if not is_buffer(x)]


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The `norm_type`-norm of all arrays of `tensors` together, as if concatenated into one
    vector (`float("inf")`: the largest magnitude)."""
    norm_type = float(norm_type)
    arrays = _arrays(tensors)
    if not arrays:
        return fnp.asarray(0.0)
    dtype = fnp.result_type(*arrays)
    norms = fnp.stack([fnp.linalg.vector_norm(x, ord=norm_type).astype(dtype) for x in arrays])
    total = fnp.linalg.vector_norm(norms, ord=norm_type)
    if error_if_nonfinite:
        if isinstance(total, Tracer):
            raise ValueError("get_total_norm(error_if_nonfinite=True) needs concrete values, "
                             "but it was called under a transformation (jit, grad, vmap); "
                             "check the returned norm outside it, or turn on "
                             "ft.config.update('debug_nans', True)")
        if not math.isfinite(float(total)):
            raise RuntimeError(f"The total norm of order {norm_type} of the gradients is "
                               f"non-finite ({float(total)}), so they cannot be clipped; pass "
                               "error_if_nonfinite=False to scale them by it anyway")
    return total


def clip_grads_with_norm(grads, max_norm, total_norm, foreach=None):
    """`grads` scaled by `min(1, max_norm / (total_norm + 1e-6))`, PyTorch's coefficient."""
    coef = lax.min(lax.div(fnp.asarray(max_norm, dtype_of(total_norm)),
                           lax.add(total_norm, 1e-6)), 1.0)
    return map_arrays(lambda g: g * coef.astype(dtype_of(g)), grads)


def clip_grad_norm(grads, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """`(clipped grads, total norm)`: the gradients scaled so that their joint
    `norm_type`-norm is at most `max_norm` (torch.nn.utils.clip_grad_norm_)."""
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    return clip_grads_with_norm(grads, max_norm, total), total


def clip_grad_value(grads, clip_value, foreach=None):
    """The gradients clipped elementwise to `[-clip_value, clip_value]`."""
    return map_arrays(lambda g: fnp.clip(g, -clip_value, clip_value).astype(dtype_of(g)), grads)


def parameters_to_vector(parameters):
    """Every parameter array (a module's, or any tree's; buffers left out), flattened and
    concatenated into one vector, in PyTorch's order for a module."""
    from ..module import Module
    arrays = parameters.parameters() if isinstance(parameters, Module) else _arrays(parameters)
    if not arrays:
        raise ValueError("parameters_to_vector: no parameter arrays were given")
    return fnp.concatenate([fnp.ravel(x) for x in arrays])


def vector_to_parameters(vec, parameters):
    """`parameters` (a module or any tree of arrays) with its parameter arrays taken, in order,
    from the vector `vec` (the inverse of `parameters_to_vector`); buffers are kept."""
    from ..module import Module, dotted_name
    if len(shape_of(vec)) != 1:
        raise ValueError(f"vector_to_parameters: vec must be 1-d, got shape {shape_of(vec)}")
    if isinstance(parameters, Module):          # PyTorch's order, which parameters() gives
        named = parameters.named_parameters()
        values = dict(zip([n for n, _ in named], _pieces(vec, [v for _, v in named])))
        pairs, treedef = tree_flatten_with_path(parameters, is_buffer)
        return tree_unflatten(treedef, [x if is_buffer(x) else values.get(dotted_name(p), x)
                                        for p, x in pairs])
    leaves, treedef = tree_flatten(parameters, is_buffer)
    pieces = iter(_pieces(vec, [x for x in leaves if not is_buffer(x)]))
    return tree_unflatten(treedef, [x if is_buffer(x) else next(pieces) for x in leaves])


def _pieces(vec, arrays):
    total = sum(math.prod(shape_of(x)) for x in arrays)
    if shape_of(vec)[0] != total:
        raise ValueError(f"vector_to_parameters: vec has {shape_of(vec)[0]} elements but the "
                         f"parameters have {total}")
    out, start = [], 0
    for x in arrays:
        size = math.prod(shape_of(x))
        out.append(fnp.reshape(vec[start:start + size], shape_of(x)).astype(dtype_of(x)))
        start += size
    return out


clip_grad_norm_ = refuse_in_place("clip_grad_norm_", "grads, norm = ft.nn.utils."
                                  "clip_grad_norm(grads, max_norm)", "the parameters' .grad")
clip_grad_value_ = refuse_in_place("clip_grad_value_", "grads = ft.nn.utils.clip_grad_value("
                                   "grads, clip_value)", "the parameters' .grad")
clip_grads_with_norm_ = refuse_in_place("clip_grads_with_norm_", "grads = ft.nn.utils."
                                        "clip_grads_with_norm(grads, max_norm, total_norm)",
                                        "the parameters' .grad")
