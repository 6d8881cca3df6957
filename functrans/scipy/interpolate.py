"""`functrans.scipy.interpolate.RegularGridInterpolator`: linear or nearest interpolation on
a rectilinear grid, as jax.scipy.interpolate's (differentiable in the values and the query
points; a pytree, so it passes through jit, vmap and grad as an argument)."""
from __future__ import annotations

import itertools
from functools import partial

import numpy as np

from .. import dtypes
from .. import numpy as fnp
from ..array import Array
from ..backends import default_device
from ..core import Tracer, on_operand_device, operand_device
from ..numpy._conversion import asarray
from ..tree_util import register_pytree_node

__all__ = ["RegularGridInterpolator"]


def _kept(x, device):
    """x as it is if an Array (or traced); else as NumPy data, on no device until a call
    converts it where its query points are, or an Array on `device` (that of the Arrays
    among the other parts: the interpolator runs there, and its leaves meet there when a
    transform converts them, as grad does)."""
    if isinstance(x, (Array, Tracer)):
        return x
    if device is None:
        return np.asarray(x)
    with default_device(device):
        return asarray(x)


def _call_operands(args, kwargs):
    self, xi = args[0], args[1] if len(args) > 1 else kwargs.get("xi")
    return (xi, self.values, self.fill_value) + self.grid


class RegularGridInterpolator:
    """`RegularGridInterpolator(points, values, method="linear", bounds_error=False,
    fill_value=nan)`: `points` one strictly ascending 1-d grid per axis, `values` of shape
    (len(points[0]), ..., len(points[-1]), *trailing). Calling it on `xi` (..., ndim) gives
    the values there; outside the grid `fill_value`, or extrapolation when it is None.
    Integer values become the default float dtype (as JAX). It runs where the first Array
    among the query points, values, fill value and grids lives. A pytree (as JAX's): its
    children are `(grid, values, fill_value)`, so it can be an argument of jitted, mapped
    and differentiated functions."""

    def __init__(self, points, values, method="linear", bounds_error=False,
                 fill_value=np.nan):
        if method not in ("linear", "nearest"):
            raise ValueError(f"RegularGridInterpolator: method must be 'linear' or 'nearest', "
                             f"got {method!r}")
        if bounds_error:
            raise NotImplementedError("RegularGridInterpolator: bounds_error=True is not "
                                      "supported (as in JAX); use fill_value")
        device = operand_device([values, fill_value, *points])
        self.grid = tuple(_kept(p, device) for p in points)
        self.values = _kept(values, device)
        if not dtypes.is_inexact(self.values.dtype):
            self.values = self.values.astype(dtypes.default_float_dtype())
        if len(self.grid) > self.values.ndim:
            raise ValueError(f"RegularGridInterpolator: {len(self.grid)} grids for values of "
                             f"rank {self.values.ndim}")
        for axis, g in enumerate(self.grid):
            if g.ndim != 1 or g.shape[0] != self.values.shape[axis]:
                raise ValueError(f"RegularGridInterpolator: grid {axis} has shape {g.shape}, "
                                 f"values have {self.values.shape[axis]} points on that axis")
        if fill_value is not None:
            fill_value = _kept(fill_value, device)
            if not np.can_cast(fill_value.dtype, self.values.dtype, "same_kind"):
                raise ValueError(f"RegularGridInterpolator: fill_value must be None or of a "
                                 f"dtype that casts to the values' {self.values.dtype}, got "
                                 f"{fill_value.dtype}")
        self.method, self.bounds_error, self.fill_value = method, False, fill_value

    @partial(on_operand_device, operands=_call_operands)
    def __call__(self, xi, method=None):
        method = self.method if method is None else method
        xi = asarray(xi)
        grid, values = tuple(asarray(g) for g in self.grid), asarray(self.values)
        ndim = len(grid)
        if xi.shape[-1] != ndim:
            raise ValueError(f"RegularGridInterpolator: query points have {xi.shape[-1]} "
                             f"coordinates, the grid {ndim} axes")
        lead = xi.shape[:-1]
        xi = fnp.reshape(xi, (-1, ndim))
        indices, weights, outside = [], [], fnp.zeros(xi.shape[0], bool)
        for axis, g in enumerate(grid):
            x = xi[:, axis]
            i = fnp.clip(fnp.searchsorted(g, x, side="right") - 1, 0, max(g.shape[0] - 2, 0))
            width = g[fnp.minimum(i + 1, g.shape[0] - 1)] - g[i]
            t = (x - g[i]) / fnp.where(width == 0, 1, width)
            indices.append(i)
            weights.append(t)
            outside = outside | (x < g[0]) | (x > g[-1])
        trailing = values.shape[ndim:]
        if method == "nearest":
            corner = tuple(fnp.where(t <= 0.5, i, i + 1) for i, t in zip(indices, weights))
            result = values[corner]
        else:
            result = 0
            for upper in itertools.product((0, 1), repeat=ndim):
                corner = tuple(fnp.minimum(i + u, g.shape[0] - 1)
                               for i, u, g in zip(indices, upper, grid))
                weight = 1
                for t, u in zip(weights, upper):
                    weight = weight * (t if u else 1 - t)
                weight = fnp.reshape(weight, weight.shape + (1,) * len(trailing))
                result = result + weight * values[corner]
        if self.fill_value is not None:
            mask = fnp.reshape(outside, outside.shape + (1,) * len(trailing))
            result = fnp.where(mask, asarray(self.fill_value, dtype=result.dtype), result)
        return fnp.reshape(result, lead + trailing)


def _unflatten(aux, children):
    """The interpolator from its children as they are (tracers, or whatever a tree function
    put there), without checking them again."""
    self = object.__new__(RegularGridInterpolator)
    self.method, self.bounds_error = aux
    self.grid, self.values, self.fill_value = tuple(children[0]), children[1], children[2]
    return self


register_pytree_node(RegularGridInterpolator,
                     lambda self: ((self.grid, self.values, self.fill_value),
                                   (self.method, self.bounds_error)),
                     _unflatten)
