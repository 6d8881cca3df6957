"""`functrans.scipy.ndimage.map_coordinates`: an array sampled at fractional coordinates,
by nearest (order 0) or linear (order 1) interpolation, as jax.scipy.ndimage's;
differentiable in the input and the coordinates (order 1)."""
from __future__ import annotations

import itertools

import numpy as np

from .. import numpy as fnp
from ..numpy._conversion import asarray
from ..core import place_functions as _place_functions

__all__ = ["map_coordinates"]


def _mirror(index, size):
    """Reflection about the edge elements (period 2 (size - 1), edges not repeated)."""
    if size == 1:
        return fnp.zeros_like(index)
    period = 2 * (size - 1)
    return (size - 1) - fnp.abs(index % period - (size - 1))


def _reflect(index, size):
    """Reflection about the array's edges (period 2 size, edges repeated)."""
    r = index % (2 * size)
    return fnp.where(r < size, r, 2 * size - 1 - r)


_MODES = {"constant": lambda i, n: fnp.clip(i, 0, n - 1),   # (out of range: cval)
          "nearest": lambda i, n: fnp.clip(i, 0, n - 1),
          "wrap": lambda i, n: i % n,
          "mirror": _mirror,
          "reflect": _reflect}


def _nodes(coordinate, order):
    """(index, weight) pairs interpolating along one axis."""
    if order == 0:          # the nearest node, halves away from zero
        nearest = fnp.sign(coordinate) * fnp.floor(fnp.abs(coordinate) + 0.5)
        return [(nearest.astype(np.int32), 1.0)]
    lower = fnp.floor(coordinate)
    upper_weight = coordinate - lower
    index = lower.astype(np.int32)
    return [(index, 1 - upper_weight), (index + 1, upper_weight)]


def map_coordinates(input, coordinates, order, mode="constant", cval=0.0):
    """`input` at the points whose coordinates along each axis are `coordinates[axis]`
    (arrays of one shape, the result's). `order` 0 takes the nearest element, 1
    interpolates linearly; `mode` says what lies outside: `cval` ("constant"), the edge
    element ("nearest"), the array repeated ("wrap") or reflected ("mirror", "reflect").
    Integer input is rounded back (halves away from zero)."""
    x = asarray(input)
    coords = [asarray(c) for c in coordinates]
    if len(coords) != x.ndim:
        raise ValueError(f"map_coordinates: {len(coords)} coordinate arrays for an input of "
                         f"rank {x.ndim}; give one per axis")
    if mode not in _MODES:
        raise NotImplementedError(f"map_coordinates: mode must be one of {sorted(_MODES)}, "
                                  f"got {mode!r}")
    if order not in (0, 1):
        raise NotImplementedError(f"map_coordinates: order {order} (only 0 and 1 are "
                                  "supported, as in JAX)")
    if not fnp.issubdtype(x.dtype, fnp.inexact):
        coords = [c.astype(np.float32) if not fnp.issubdtype(c.dtype, fnp.inexact) else c
                  for c in coords]
    per_axis = []
    for c, size in zip(coords, x.shape):
        per_axis.append([(_MODES[mode](i, size), (i >= 0) & (i < size), w)
                         for i, w in _nodes(c, order)])
    fill = asarray(cval, dtype=x.dtype)
    total = None
    for corner in itertools.product(*per_axis):
        indices = tuple(i for i, _, _ in corner)
        value = x[indices]
        if mode == "constant":
            inside = corner[0][1]
            for _, ok, _ in corner[1:]:
                inside = inside & ok
            value = fnp.where(inside, value, fill)
        weight = 1.0
        for _, _, w in corner:
            weight = weight * w
        term = weight * value
        total = term if total is None else total + term
    if fnp.issubdtype(x.dtype, fnp.integer):
        total = fnp.sign(total) * fnp.floor(fnp.abs(total) + 0.5)
    return total.astype(x.dtype)


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
