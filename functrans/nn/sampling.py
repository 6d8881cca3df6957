"""Spatial transformers: `affine_grid` (sampling grids from batches of affine matrices) and
`grid_sample` (reading an image at those positions), PyTorch's F.affine_grid / F.grid_sample.

A grid holds normalized positions in [-1, 1] per output location, x (width) first: (N, Ho,
Wo, 2) for NCHW input, (N, Do, Ho, Wo, 3) for (N, C, D, H, W) input. With
`align_corners=True`, -1 and 1 are the centres of the corner pixels; with False (the default)
they are the outer edges of the corner pixels. Positions follow PyTorch's kernels step by
step (unnormalize, then pad the coordinate by clipping or reflecting it, then interpolate), so
values and derivatives (with respect to the input and to the grid, zero where a coordinate was
clipped) match PyTorch's. Everything is written with functrans operations, so both functions
compose with `grad`, `jit` and `vmap`.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..primitives._util import dtype_of, shape_of
from ._utils import as_floating

__all__ = ["affine_grid", "grid_sample", "cubic_near", "cubic_far"]

_MODES = ("bilinear", "nearest", "bicubic")
_PADDINGS = ("zeros", "border", "reflection")


def _base_line(n, align_corners, dt):
    """PyTorch's linspace_from_neg_one: n points over [-1, 1], pulled in to the pixel
    centres (scaled by (n - 1) / n) unless `align_corners`; a single point is 0."""
    if n <= 1:
        return np.zeros(n, dt)
    line = np.linspace(-1.0, 1.0, n).astype(dt)
    return line if align_corners else (line * dt.type(n - 1) / dt.type(n)).astype(dt)


def affine_grid(theta, size, align_corners=None):
    """The sampling grid of a batch of affine maps: `theta` (N, 2, 3) with `size` (N, C, H, W)
    gives a grid (N, H, W, 2); `theta` (N, 3, 4) with `size` (N, C, D, H, W) gives
    (N, D, H, W, 3). Each output position's normalized (x, y[, z], 1) is mapped by theta.
    `align_corners=None` means False (PyTorch's default, without its warning)."""
    theta = fnp.asarray(theta)
    if not dtypes.is_inexact(dtype_of(theta)):
        raise TypeError(f"affine_grid: theta must be floating point, got {dtype_of(theta)}; "
                        "convert it with theta.astype(float)")
    size = tuple(int(s) for s in size)
    th = tuple(shape_of(theta))
    if len(size) not in (4, 5):
        raise ValueError(f"affine_grid: size must be (N, C, H, W) or (N, C, D, H, W) for 2-d "
                         f"or 3-d affine maps, got {size}")
    nd = len(size) - 2
    if th != (size[0], nd, nd + 1):
        raise ValueError(f"affine_grid: for size {size}, theta must have shape "
                         f"({size[0]}, {nd}, {nd + 1}) (a batch of {nd}x{nd + 1} affine "
                         f"matrices), got {th}")
    if min(size) <= 0:
        raise ValueError(f"affine_grid: every entry of size must be positive, got {size}")
    dt = np.dtype(dtype_of(theta))
    spatial = size[2:]
    # the base grid (*spatial, nd + 1) holds (x, y[, z], 1): x along the last axis
    lines = [_base_line(n, bool(align_corners), dt) for n in reversed(spatial)]
    mesh = list(np.meshgrid(*lines[::-1], indexing="ij"))     # one per spatial axis
    base = np.stack(mesh[::-1] + [np.ones(spatial, dt)], axis=-1)
    base = fnp.asarray(base.reshape(math.prod(spatial), nd + 1))
    grid = fnp.matmul(base, fnp.swapaxes(theta, 1, 2))           # (N, prod(spatial), nd)
    return lax.reshape(grid, (size[0],) + spatial + (nd,))


def _unnormalize(g, size, align_corners):
    if align_corners:
        return lax.mul(lax.div(lax.add(g, 1.0), 2.0), float(size - 1))
    return lax.div(lax.sub(lax.mul(lax.add(g, 1.0), float(size)), 1.0), 2.0)


def _clip(c, size):
    """c clipped to [0, size - 1], with derivative 0 at and beyond either end (PyTorch's
    clip_coordinates_set_grad)."""
    hi = float(size - 1)
    return lax.select(lax.le(c, 0.0), lax.full_like(c, 0.0),
                      lax.select(lax.ge(c, hi), lax.full_like(c, hi), c))


def _reflect(c, twice_low, twice_high):
    """c reflected into [twice_low / 2, twice_high / 2] (PyTorch's reflect_coordinates), the
    derivative ±1 as the last reflection's direction."""
    if twice_low == twice_high:
        return lax.mul(c, 0.0)
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    c = lax.sub(c, low)
    c = lax.select(lax.lt(c, 0.0), lax.neg(c), c)
    extra = fnp.fmod(c, span)
    odd = lax.ne(fnp.fmod(lax.stop_gradient(lax.floor(lax.div(c, span))), 2.0), 0.0)
    return lax.select(odd, lax.add(lax.sub(span, extra), low), lax.add(extra, low))


def _pad_coordinate(c, size, padding_mode, align_corners):
    """PyTorch's compute_coordinates: the coordinate moved inside by the padding mode."""
    if padding_mode == "border":
        return _clip(c, size)
    if padding_mode == "reflection":
        c = _reflect(c, 0, 2 * (size - 1)) if align_corners else \
            _reflect(c, -1, 2 * size - 1)
        return _clip(c, size)
    return c


def cubic_near(x, a):
    """Keys' cubic convolution kernel with parameter `a` at a distance 0 <= x <= 1."""
    return lax.add(lax.mul(lax.mul(lax.sub(lax.mul(x, a + 2), a + 3), x), x), 1.0)


def cubic_far(x, a):
    """Keys' cubic convolution kernel with parameter `a` at a distance 1 <= x <= 2."""
    return lax.sub(lax.mul(lax.add(lax.mul(lax.sub(lax.mul(x, a), 5 * a), x), 8 * a), x), 4 * a)


def _cubic_weights(t):
    """The four cubic-convolution weights (A = -0.75) of the taps at -1, 0, 1, 2 for the
    fractional offset t, as PyTorch's get_cubic_upsample_coefficients."""
    a = -0.75
    rest = lax.sub(1.0, t)
    return [cubic_far(lax.add(t, 1.0), a), cubic_near(t, a), cubic_near(rest, a),
            cubic_far(lax.add(rest, 1.0), a)]


class _Reader:
    """Reads an (N, C, *spatial) image at integer positions (N, *out) per spatial axis:
    (N, C, prod(out)) values, zero where a position falls outside the image."""

    def __init__(self, x):
        shape = shape_of(x)
        self.n, self.c, self.spatial = shape[0], shape[1], tuple(shape[2:])
        self.flat = lax.reshape(x, (self.n, self.c, math.prod(self.spatial)))
        self.dt = dtype_of(x)

    def __call__(self, positions):
        """`positions`: per spatial axis, float arrays holding whole numbers."""
        flat_index, inside = None, None
        for c, size in zip(positions, self.spatial):
            # whole numbers; anything outside the image becomes -1 or size, then masked
            i = lax.convert_element_type(lax.min(lax.max(c, -1.0), float(size)), np.int64)
            ok = lax.bitwise_and(lax.ge(i, 0), lax.lt(i, size))
            inside = ok if inside is None else lax.bitwise_and(inside, ok)
            i = fnp.clip(i, 0, size - 1)
            flat_index = i if flat_index is None else lax.add(lax.mul(flat_index, size), i)
        count = math.prod(shape_of(flat_index)[1:])
        index = lax.reshape(flat_index, (self.n, 1, count))
        values = fnp.take_along_axis(self.flat, index, axis=2)
        mask = lax.convert_element_type(lax.reshape(inside, (self.n, 1, count)), self.dt)
        return values, mask


def _flat_weight(w, n):
    return lax.reshape(w, (n, 1, math.prod(shape_of(w)[1:])))


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """`input` (N, C, H, W) read at the positions of `grid` (N, Ho, Wo, 2), giving
    (N, C, Ho, Wo); or (N, C, D, H, W) input with a (N, Do, Ho, Wo, 3) grid (`"bilinear"` is
    then trilinear). `grid[..., 0]` is x (along W), `grid[..., 1]` y (along H), normalized to
    [-1, 1]. `mode`: "bilinear", "nearest" (ties to even) or "bicubic" (4-d only);
    `padding_mode` for positions outside: "zeros", "border" (clamped) or "reflection";
    `align_corners=None` means False (PyTorch's default, without its warning).
    Differentiable with respect to input and grid."""
    if mode not in _MODES:
        raise ValueError(f"grid_sample: mode must be 'bilinear', 'nearest' or 'bicubic', got "
                         f"{mode!r}")
    if padding_mode not in _PADDINGS:
        raise ValueError(f"grid_sample: padding_mode must be 'zeros', 'border' or "
                         f"'reflection', got {padding_mode!r}")
    x, g = as_floating(input), as_floating(grid)
    dt = dtypes.result_type(dtype_of(x), dtype_of(g))
    x, g = x.astype(dt), g.astype(dt)
    shape, gshape = tuple(shape_of(x)), tuple(shape_of(g))
    if len(shape) not in (4, 5):
        raise ValueError(f"grid_sample: input must be (N, C, H, W) or (N, C, D, H, W), got "
                         f"shape {shape}")
    nd = len(shape) - 2
    if len(gshape) != nd + 2 or gshape[0] != shape[0] or gshape[-1] != nd:
        want = "(N, Ho, Wo, 2)" if nd == 2 else "(N, Do, Ho, Wo, 3)"
        raise ValueError(f"grid_sample: for input of shape {shape} the grid must be {want} "
                         f"with N = {shape[0]}, got shape {gshape}")
    if mode == "bicubic" and nd != 2:
        raise ValueError("grid_sample: mode 'bicubic' needs 4-d (N, C, H, W) input, got "
                         f"shape {shape}; use 'bilinear' (trilinear) or 'nearest'")
    if min(shape[2:]) <= 0:
        raise ValueError(f"grid_sample: the input's spatial shape {shape[2:]} is empty")
    ac = bool(align_corners)
    read = _Reader(x)
    n, out_spatial = shape[0], gshape[1:-1]
    coords, nan_out = _source_coordinates(g, shape[2:], mode, padding_mode, ac)
    if mode == "bicubic":
        result = _bicubic(read, coords, padding_mode, ac, n)
    else:
        coords = [_pad_coordinate(c, size, padding_mode, ac)
                  for c, size in zip(coords, shape[2:])]
        if mode == "nearest":
            values, mask = read([fnp.round(lax.stop_gradient(c)) for c in coords])
            result = lax.mul(values, mask)
        else:
            result = _linear(read, coords, n)
    if nan_out is not None:
        result = fnp.where(lax.reshape(nan_out, (n, 1, shape_of(result)[2])), np.nan, result)
    return lax.reshape(result, shape[:2] + out_spatial)


def _source_coordinates(g, spatial, mode, padding_mode, align_corners):
    """Per spatial axis (D, H, W order) the unnormalized source coordinate in pixels, and
    where the output is NaN (or None). A non-finite grid entry is replaced first, as
    PyTorch's CPU kernels treat it: border padding clamps NaN and -inf to 0 and inf to the
    last pixel, reflection sends them to 0, zeros padding reads nothing (NaN for the
    interpolating modes, 0 for nearest); bicubic gives NaN."""
    nd = len(spatial)
    coords, bad = [], None
    for a, size in enumerate(spatial):
        comp = g[..., nd - 1 - a]
        ok = lax.is_finite(comp)
        c = _unnormalize(lax.select(ok, comp, lax.full_like(comp, 0.0)), size, align_corners)
        if padding_mode == "border":
            stand_in = lax.select(lax.gt(comp, 0.0), lax.full_like(c, float(size - 1)),
                                  lax.full_like(c, 0.0))
        else:
            stand_in = lax.full_like(c, 0.0 if padding_mode == "reflection" else -2.0)
        coords.append(lax.select(ok, c, stand_in))
        bad = lax.bitwise_not(ok) if bad is None else lax.bitwise_or(bad, lax.bitwise_not(ok))
    nan_out = mode == "bicubic" or (mode == "bilinear" and padding_mode == "zeros")
    return coords, bad if nan_out else None


def _linear(read, coords, n):
    """Bilinear / trilinear interpolation between the 2**nd neighbours."""
    lows = [lax.stop_gradient(lax.floor(c)) for c in coords]
    # PyTorch's weights: (low + 1 - c) for the low neighbour, (c - low) for the high one
    weights = [(lax.sub(lax.add(lo, 1.0), c), lax.sub(c, lo)) for lo, c in zip(lows, coords)]
    total = None
    for bits in itertools.product((0, 1), repeat=len(coords)):
        w = None
        for axis in reversed(range(len(coords))):       # x first, as PyTorch multiplies
            wa = weights[axis][bits[axis]]
            w = wa if w is None else lax.mul(w, wa)
        values, mask = read([lax.add(lo, float(b)) if b else lo for lo, b in zip(lows, bits)])
        term = lax.mul(values, lax.mul(mask, _flat_weight(w, n)))
        total = term if total is None else lax.add(total, term)
    return total


def _bicubic(read, coords, padding_mode, align_corners, n):
    """Bicubic interpolation over the 4 x 4 neighbours; padding moves each tap (not the
    position), as PyTorch's get_value_bounded."""
    (cy, cx), sizes = coords, read.spatial
    ly, lx = (lax.stop_gradient(lax.floor(c)) for c in (cy, cx))
    wy = _cubic_weights(lax.sub(cy, ly))
    wx = _cubic_weights(lax.sub(cx, lx))
    rows = []
    for j in range(4):
        ty = _pad_coordinate(lax.add(ly, float(j - 1)), sizes[0], padding_mode, align_corners)
        row = None
        for i in range(4):
            tx = _pad_coordinate(lax.add(lx, float(i - 1)), sizes[1], padding_mode,
                                 align_corners)
            values, mask = read([lax.stop_gradient(ty), lax.stop_gradient(tx)])
            term = lax.mul(lax.mul(values, mask), _flat_weight(wx[i], n))
            row = term if row is None else lax.add(row, term)
        rows.append(lax.mul(row, _flat_weight(wy[j], n)))
    return lax.add(lax.add(rows[0], rows[1]), lax.add(rows[2], rows[3]))
