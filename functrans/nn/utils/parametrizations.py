"""`torch.nn.utils.parametrizations`: weight and spectral normalization as parametrizations
(see `parametrize`), PyTorch's newer form. The parametrized module is a `Parametrized<Layer>`
whose `state_dict()` keys are PyTorch's (`parametrizations.weight.original0` / `original1` for
weight_norm's `g` / `v`; `parametrizations.weight.original`, `parametrizations.weight.0._u`,
`parametrizations.weight.0._v` for spectral_norm).

As with the original forms, spectral_norm's power method runs on each read of the weight in
training mode and records the new `_u`, `_v` with `update_buffers`: call the model through
`ft.nn.stateful`. Its starting vectors are drawn from `key` and refined by 15 steps of the
power method, as in PyTorch.
"""
from __future__ import annotations

from ... import lax
from ... import numpy as fnp
from ...primitives._util import shape_of
from ..distance import normalize
from ..module import Module
from .parametrize import register_parametrization
from .spectral_norm import check_settings, random_unit_vectors, spectral_dim, weight_matrix
from .weight_norm import check_dim, norm_except_dim, weight_norm_value

__all__ = ["weight_norm", "spectral_norm"]


class _WeightNorm(Module):
    """`(g, v) -> g * v / ||v||`, the norm over every axis but `dim` (-1: the whole tensor)."""

    def __init__(self, dim=0):
        self.dim = -1 if dim is None else dim

    def __call__(self, weight_g, weight_v):
        return weight_norm_value(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """A copy of `module` whose parameter `name` is `g * v / ||v||`, with `g` (the norms over
    every axis but `dim`; `dim=None` or -1: over the whole tensor) and `v` its originals."""
    weight = getattr(module, name, None)
    if dim is not None and hasattr(weight, "shape"):
        dim = check_dim(dim, shape_of(weight), "weight_norm")
    return register_parametrization(module, name, _WeightNorm(dim), unsafe=True)


class _SpectralNorm(Module):
    """`weight -> weight / sigma`, sigma the power method's estimate of the largest singular
    value of `weight` as a matrix with axis `dim` as rows (1-d: `weight / ||weight||`)."""

    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12, *, key=None):
        self.dim = check_settings(weight, n_power_iterations, dim, "spectral_norm")
        self.eps = float(eps)
        self.training = True
        if len(shape_of(weight)) > 1:
            self.n_power_iterations = int(n_power_iterations)
            weight_mat = weight_matrix(weight, self.dim)
            u, v = random_unit_vectors(key, weight_mat, self.eps, "spectral_norm")
            u, v = self._power_method(weight_mat, u, v, 15)
            self.register_buffer("_u", u)
            self.register_buffer("_v", v)

    def _power_method(self, weight_mat, u, v, n):
        weight_mat = lax.stop_gradient(weight_mat)
        for _ in range(n):
            u = normalize(weight_mat @ v, dim=0, eps=self.eps)
            v = normalize(fnp.conj(weight_mat).T @ u, dim=0, eps=self.eps)
        return u, v

    def __call__(self, weight):
        if len(shape_of(weight)) == 1:
            return normalize(weight, dim=0, eps=self.eps)
        weight_mat = weight_matrix(weight, self.dim)
        u, v = self.get_buffer("_u"), self.get_buffer("_v")
        if self.training:
            u, v = self._power_method(weight_mat, u, v, self.n_power_iterations)
            self.update_buffers(_u=u, _v=v)
        sigma = fnp.vdot(u, weight_mat @ v)
        return weight / sigma

    def right_inverse(self, value):
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None, *,
                  key=None):
    """A copy of `module` whose parameter `name` is divided by its spectral norm (see the module
    documentation); `key` draws the power method's starting vectors."""
    weight = getattr(module, name, None)
    if weight is None or not hasattr(weight, "shape"):
        raise ValueError(f"spectral_norm: {type(module).__name__} has no parameter or buffer "
                         f"named {name!r}")
    dim = spectral_dim(module, dim)
    return register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps, key=key))
