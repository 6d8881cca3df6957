"""Spectral normalization (Miyato et al., 2018), PyTorch's original form:
`spectral_norm(module, key=key)` returns a copy whose parameter `weight` is replaced by
`weight_orig`, with the power-iteration vectors in the buffers `weight_u` and `weight_v`, and
whose `weight` reads `weight_orig / sigma`, `sigma = u . (W v)` estimating the largest singular
value of `weight_orig` reshaped to a matrix (axis `dim` first). `state_dict()` keys are
PyTorch's (`bias`, `weight_orig`, `weight_u`, `weight_v`).

In training mode each read of `weight` runs `n_power_iterations` steps of the power method
(no derivative flows through them) and records the new `u` and `v` with `update_buffers`, as
BatchNorm records its running statistics: call the model through `ft.nn.stateful` and keep the
model it returns. In eval mode (`model = model.eval()`) `u` and `v` stay as they are. The
starting vectors are random, drawn from `key` (PyTorch draws them from its global generator).
The newer form is `ft.nn.utils.parametrizations.spectral_norm`.
"""
from __future__ import annotations

import numpy as np

from ... import lax
from ... import numpy as fnp
from ...primitives._util import shape_of
from ..conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ..distance import normalize
from ..module import Module
from ._reparam import hooked_class, hooks_of, own_parameter, rebuild

__all__ = ["spectral_norm", "remove_spectral_norm", "spectral_dim", "weight_matrix",
           "random_unit_vectors", "check_settings"]


def spectral_dim(module, dim):
    """PyTorch's default axis of the output channels: 1 for transposed convolutions, else 0."""
    if dim is not None:
        return dim
    return 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0


def weight_matrix(weight, dim):
    """`weight` as a matrix with axis `dim` as its rows."""
    if dim != 0:
        weight = fnp.moveaxis(weight, dim, 0)
    return fnp.reshape(weight, (shape_of(weight)[0], -1))


def random_unit_vectors(key, weight_mat, eps, fn):
    """Two random unit vectors of the lengths of `weight_mat`'s columns and rows."""
    from ... import random
    if key is None:
        raise ValueError(f"{fn}: the starting vectors of the power method are random: pass "
                         "key=ft.random.key(seed) (PyTorch draws them from its global "
                         "generator)")
    h, w = shape_of(weight_mat)
    ku, kv = random.split(key)
    dtype = weight_mat.dtype
    return (normalize(random.normal(ku, (h,), dtype), dim=0, eps=eps),
            normalize(random.normal(kv, (w,), dtype), dim=0, eps=eps))


def check_settings(weight, n_power_iterations, dim, fn):
    """`dim` as an axis in [0, ndim) of `weight`, after checking it and n_power_iterations."""
    if not isinstance(n_power_iterations, (int, np.integer)) or n_power_iterations <= 0:
        raise ValueError(f"{fn}: expected n_power_iterations to be positive, but got "
                         f"n_power_iterations={n_power_iterations}")
    ndim = len(shape_of(weight))
    if not isinstance(dim, (int, np.integer)) or not -ndim <= dim < ndim:
        raise ValueError(f"{fn}: dim={dim!r} is out of range for a weight of shape "
                         f"{shape_of(weight)} (expected in [-{ndim}, {ndim - 1}])")
    return int(dim) % ndim


def _hooked_weight(module, name, n_power_iterations, dim, eps):
    weight = module.__dict__[name + "_orig"]
    weight_mat = weight_matrix(weight, dim)
    u, v = module.get_buffer(name + "_u"), module.get_buffer(name + "_v")
    if module.__dict__.get("training", True):
        fixed = lax.stop_gradient(weight_mat)
        for _ in range(n_power_iterations):
            v = normalize(fixed.T @ u, dim=0, eps=eps)
            u = normalize(fixed @ v, dim=0, eps=eps)
        module.update_buffers(**{name + "_u": u, name + "_v": v})
    sigma = fnp.dot(u, weight_mat @ v)
    return weight / sigma


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None, *,
                  key=None):
    """A copy of `module` with its parameter `name` divided by its spectral norm, estimated
    by the power method (see the module documentation); `key` draws the starting vectors."""
    fn = "spectral_norm"
    weight = own_parameter(module, name, fn)
    dim = check_settings(weight, n_power_iterations, spectral_dim(module, dim), fn)
    u, v = random_unit_vectors(key, weight_matrix(weight, dim), eps, fn)
    hooks = hooks_of(module)
    hooks[name] = (_hooked_weight, (int(n_power_iterations), dim, float(eps)))
    cls = hooked_class(module, hooks)
    static = () if "training" in module.__dict__ else (("training", True),)
    return rebuild(module, cls, drop=(name,), params=[(name + "_orig", weight)],
                   buffers=[(name + "_u", u), (name + "_v", v)], static=static)


def remove_spectral_norm(module, name="weight"):
    """A copy of a `spectral_norm` module with the parameter `name` (its value with the
    current `u` and `v`, no power iteration) back in place of `name_orig`, `name_u` and
    `name_v` (last among the parameters, as in PyTorch)."""
    hooks = hooks_of(module) if isinstance(module, Module) else {}
    if hooks.get(name, (None,))[0] is not _hooked_weight:
        raise ValueError(f"remove_spectral_norm: spectral_norm of {name!r} not found in "
                         f"{type(module).__name__}")
    weight = _hooked_weight(module.replace(training=False), name, *hooks[name][1])
    del hooks[name]
    cls = hooked_class(module, hooks)
    return rebuild(module, cls, drop=(name + "_orig", name + "_u", name + "_v"),
                   params=[(name, weight)])
