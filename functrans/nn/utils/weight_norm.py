"""Weight normalization (Salimans & Kingma, 2016), PyTorch's original form:
`weight_norm(module)` returns a copy whose parameter `weight` is replaced by `weight_g` (the
norms) and `weight_v` (the direction), and whose `weight` reads `g * v / ||v||`, so gradients
reach `g` and `v`. `state_dict()` keys are PyTorch's (`bias`, `weight_g`, `weight_v`).

The norm is taken over every axis but `dim`; `dim=None`, and as in PyTorch `dim=-1`, take it
over the whole tensor. The newer form is `ft.nn.utils.parametrizations.weight_norm`.
"""
from __future__ import annotations

import numpy as np

from ... import numpy as fnp
from ...primitives._util import shape_of
from ..module import Module
from ._reparam import hooked_class, hooks_of, own_parameter, rebuild

__all__ = ["weight_norm", "remove_weight_norm", "norm_except_dim", "weight_norm_value",
           "check_dim"]


def check_dim(dim, shape, fn):
    """`dim` (None: -1, the whole tensor) checked against a weight of shape `shape`."""
    dim = -1 if dim is None else dim
    if not isinstance(dim, (int, np.integer)) or not -len(shape) <= dim < max(len(shape), 1):
        raise ValueError(f"{fn}: dim={dim!r} is out of range for a weight of shape {shape}; "
                         "it names the axis that keeps one norm per slice (None: one norm for "
                         "the whole tensor)")
    return int(dim)


def norm_except_dim(v, pow=2, dim=0):
    """The `pow`-norm of `v` over every axis but `dim`, keeping the axes (`dim=-1`: the norm of
    the whole tensor, a scalar), as PyTorch's `torch.norm_except_dim`."""
    if dim == -1:
        return fnp.linalg.vector_norm(v, ord=pow)
    ndim = len(shape_of(v))
    axes = tuple(a for a in range(ndim) if a != dim % ndim)
    if not axes:
        return fnp.abs(v)
    return fnp.linalg.vector_norm(v, ord=pow, axis=axes, keepdims=True)


def weight_norm_value(v, g, dim=0):
    """`v * (g / norm_except_dim(v, 2, dim))`: PyTorch's `torch._weight_norm`."""
    return v * (g / norm_except_dim(v, 2, dim))


def _hooked_weight(module, name, dim):
    return weight_norm_value(module.__dict__[name + "_v"], module.__dict__[name + "_g"], dim)


def weight_norm(module, name="weight", dim=0):
    """A copy of `module` with its parameter `name` split into `name_g` (the norms over every
    axis but `dim`) and `name_v` (the direction), `name` reading `g * v / ||v||`."""
    fn = "weight_norm"
    weight = own_parameter(module, name, fn)
    dim = check_dim(dim, shape_of(weight), fn)
    hooks = hooks_of(module)
    hooks[name] = (_hooked_weight, (dim,))
    cls = hooked_class(module, hooks)
    return rebuild(module, cls, drop=(name,),
                   params=[(name + "_g", norm_except_dim(weight, 2, dim)), (name + "_v", weight)])


def remove_weight_norm(module, name="weight"):
    """A copy of a `weight_norm` module with the parameter `name` (its current value) back in
    place of `name_g` and `name_v` (last among the parameters, as in PyTorch)."""
    hooks = hooks_of(module) if isinstance(module, Module) else {}
    if hooks.get(name, (None,))[0] is not _hooked_weight:
        raise ValueError(f"remove_weight_norm: weight_norm of {name!r} not found in "
                         f"{type(module).__name__}")
    weight = getattr(module, name)
    del hooks[name]
    cls = hooked_class(module, hooks)
    return rebuild(module, cls, drop=(name + "_g", name + "_v"), params=[(name, weight)])
