"""Pooling and resizing: functional forms (re-exported by `ft.nn.functional`) and layers:
MaxPool1d/2d/3d (with `return_indices`), MaxUnpool1d/2d/3d, AvgPool1d/2d/3d,
AdaptiveAvgPool1d/2d/3d, AdaptiveMaxPool1d/2d/3d (PyTorch's bins: output cell
i covers input positions floor(i * L / out) to ceil((i + 1) * L / out)) and Upsample
(nearest, nearest-exact, linear, bilinear, trilinear, area)."""
from __future__ import annotations

import math

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..backends import cpu
from ..core import Tracer, device_like
from ..primitives._util import shape_of, dtype_of
from ..primitives.windowed import (reduce_window_max, reduce_window_max_argmax_p,
                                   reduce_window_sum)
from ._utils import as_floating, ntuple
from .sampling import cubic_far, cubic_near
from .module import Module, field

__all__ = ['max_pool1d', 'max_pool2d', 'max_pool3d', 'max_unpool1d', 'max_unpool2d',
           'max_unpool3d', 'avg_pool1d', 'avg_pool2d', 'avg_pool3d', 'adaptive_avg_pool1d',
           'adaptive_avg_pool2d', 'adaptive_avg_pool3d', 'adaptive_max_pool1d',
           'adaptive_max_pool2d', 'adaptive_max_pool3d', 'interpolate', 'MaxPool1d',
           'MaxPool2d', 'MaxPool3d', 'MaxUnpool1d', 'MaxUnpool2d', 'MaxUnpool3d', 'AvgPool1d',
           'AvgPool2d', 'AvgPool3d', 'AdaptiveAvgPool1d', 'AdaptiveAvgPool2d',
           'AdaptiveAvgPool3d', 'AdaptiveMaxPool1d', 'AdaptiveMaxPool2d', 'AdaptiveMaxPool3d',
           'Upsample']


_LAYOUTS = {1: "(N, C, L) or (C, L)", 2: "NCHW or CHW", 3: "(N, C, D, H, W) or (C, D, H, W)"}


def _pool_geometry(x, nd, kernel_size, stride, padding, dilation, ceil_mode, fn):
    """(window, strides, (lo, hi) pads, dilation) over all axes of `x` for PyTorch's pooling
    of its last `nd` axes; the high pads make room for ceil_mode's partial windows."""
    shape = shape_of(x)
    if len(shape) not in (nd + 1, nd + 2):
        raise ValueError(f"{fn} needs a {_LAYOUTS[nd]} input (batched or unbatched), got "
                         f"shape {shape}")
    k = ntuple(kernel_size, nd, "kernel_size")
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else \
        ntuple(stride, nd, "stride")
    p = ntuple(padding, nd, "padding")
    d = ntuple(dilation, nd, "dilation")
    if any(v < 1 for v in k + s + d) or any(v < 0 for v in p):
        raise ValueError(f"{fn}: kernel_size {k}, stride {s} and dilation {d} must be positive "
                         f"and padding {p} non-negative")
    if any(2 * pi > ki for pi, ki in zip(p, k)):
        raise ValueError(f"{fn}: padding {p} must be at most half the kernel size {k}")
    lead = len(shape) - nd
    pads = []
    for size, ki, si, pi, di in zip(shape[lead:], k, s, p, d):
        span = size + 2 * pi - di * (ki - 1) - 1
        if span < 0:
            raise ValueError(f"{fn}: the kernel {k} (dilation {d}) is larger than the input's "
                             f"spatial shape {tuple(shape[lead:])} with padding {p}; use a "
                             "smaller kernel or pad the input")
        out = (-(-span // si) if ceil_mode else span // si) + 1
        if ceil_mode and (out - 1) * si >= size + pi:
            out -= 1                 # the last window must start inside the input or pad
        pads.append((pi, (out - 1) * si + di * (ki - 1) + 1 - size - pi))
    return ((1,) * lead + k, (1,) * lead + s, ((0, 0),) * lead + tuple(pads),
            (1,) * lead + d)


def _max_pool(x, nd, kernel_size, stride, padding, dilation, ceil_mode, return_indices, fn):
    x = fnp.asarray(x)
    geometry = _pool_geometry(x, nd, kernel_size, stride, padding, dilation, ceil_mode, fn)
    if return_indices:
        return _max_with_indices(x, nd, *geometry)
    return reduce_window_max(x, *geometry)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max pooling over (N, C, L) or (C, L) input; `stride` defaults to `kernel_size`. The
    derivative goes to the first maximum of each window; `return_indices` also gives the
    position of each maximum along L."""
    return _max_pool(input, 1, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, "max_pool1d")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max pooling over NCHW (or CHW) input; `stride` defaults to `kernel_size`. The
    derivative goes to the first maximum of each window; `return_indices` also gives each
    maximum's flat position `h * W + w` in its plane."""
    return _max_pool(input, 2, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, "max_pool2d")


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max pooling over (N, C, D, H, W) or (C, D, H, W) input; `stride` defaults to
    `kernel_size`; `return_indices` also gives each maximum's flat position
    `(d * H + h) * W + w` in its volume."""
    return _max_pool(input, 3, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, "max_pool3d")


def _max_with_indices(x, nd, window, strides, pads, dilation):
    """(maxima, flat position of each maximum in its sample's and channel's spatial block)."""
    values, offset = reduce_window_max_argmax_p.bind(
        x, window_dimensions=window, window_strides=strides, padding=pads,
        window_dilation=dilation)
    offset = lax.convert_element_type(offset, np.int64)
    shape, out_shape = shape_of(x)[-nd:], shape_of(values)[-nd:]
    k, s, d, lo = window[-nd:], strides[-nd:], dilation[-nd:], [p[0] for p in pads[-nd:]]
    flat = None
    for i in range(nd):
        # the window offset along axis i, then the input position it points at
        along = fnp.remainder(fnp.floor_divide(offset, math.prod(k[i + 1:])), k[i])
        start = (np.arange(out_shape[i]) * s[i] - lo[i]).reshape(
            (out_shape[i],) + (1,) * (nd - 1 - i))
        pos = lax.add(lax.mul(along, d[i]), fnp.asarray(start.astype(np.int64)))
        if lo[i]:
            # a window of nothing but -inf keeps its first offset, which may be padding:
            # PyTorch reports the window's first position inside the input then
            lift = lax.mul(fnp.floor_divide(lax.sub(d[i] - 1, pos), d[i]), d[i])
            pos = fnp.where(lax.lt(pos, 0), lax.add(pos, lift), pos)
        flat = pos if flat is None else lax.add(lax.mul(flat, shape[i]), pos)
    return values, flat


def _unpool_size(in_spatial, kernel_size, stride, padding, output_size, fn):
    nd = len(in_spatial)
    k = ntuple(kernel_size, nd, "kernel_size")
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else \
        ntuple(stride, nd, "stride")
    p = ntuple(padding, nd, "padding")
    default = tuple((n - 1) * si - 2 * pi + ki for n, ki, si, pi in zip(in_spatial, k, s, p))
    if output_size is None:
        return default
    size = tuple(int(o) for o in output_size)
    if len(size) in (nd + 1, nd + 2):
        size = size[-nd:]
    if len(size) != nd:
        raise ValueError(f"{fn}: output_size must have {nd} (or {nd + 1}/{nd + 2} with the "
                         f"leading axes) entries, got {tuple(output_size)}")
    for o, dflt, si in zip(size, default, s):
        if not dflt - si < o < dflt + si:
            raise ValueError(f"{fn}: output_size {size} must lie strictly between "
                             f"{tuple(a - b for a, b in zip(default, s))} and "
                             f"{tuple(a + b for a, b in zip(default, s))} for an input of "
                             f"spatial shape {tuple(in_spatial)}")
    return size


def _max_unpool(x, indices, nd, kernel_size, stride, padding, output_size, fn):
    x = fnp.asarray(x)
    indices = fnp.asarray(indices)
    shape = shape_of(x)
    if len(shape) not in (nd + 1, nd + 2) or tuple(shape_of(indices)) != tuple(shape):
        raise ValueError(f"{fn} needs a {nd + 1}-d or {nd + 2}-d input and indices of the same "
                         f"shape (the max_pool{nd}d(..., return_indices=True) pair), got "
                         f"shapes {shape} and {tuple(shape_of(indices))}")
    out = _unpool_size(shape[-nd:], kernel_size, stride, padding, output_size, fn)
    lead = shape[:-nd]
    rows = math.prod(lead)
    flat_x = lax.reshape(x, (rows, math.prod(shape[-nd:])))
    flat_i = lax.reshape(lax.convert_element_type(indices, np.int64), shape_of(flat_x))
    # indices known now on the host are checked (as PyTorch does); traced or on a GPU (no
    # sync), an index outside the output is dropped
    if not isinstance(flat_i, Tracer) and device_like(flat_i) is cpu:
        bad = np.asarray((flat_i < 0) | (flat_i >= math.prod(out)))
        if bad.any():
            raise IndexError(f"{fn}: index {int(np.asarray(flat_i)[bad][0])} is outside the "
                             f"output's spatial size {out} ({math.prod(out)} positions); pass "
                             "the indices max_pool returned for this input, or the "
                             "output_size it was pooled from")
    else:
        flat_i = fnp.where(lax.lt(flat_i, 0), math.prod(out), flat_i)
    row = fnp.asarray(np.arange(rows, dtype=np.int64)[:, None])
    result = fnp.zeros((rows, math.prod(out)), dtype_of(x)).at[row, flat_i].set(flat_x)
    return lax.reshape(result, tuple(lead) + out)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max_pool1d: each value put back at its index along L (zeros
    elsewhere); the output length is `(L - 1) * stride - 2 * padding + kernel_size` unless
    `output_size` says otherwise."""
    return _max_unpool(input, indices, 1, kernel_size, stride, padding, output_size,
                       "max_unpool1d")


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max_pool2d: each value put back at its flat index in its plane
    (zeros elsewhere)."""
    return _max_unpool(input, indices, 2, kernel_size, stride, padding, output_size,
                       "max_unpool2d")


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max_pool3d: each value put back at its flat index in its volume
    (zeros elsewhere)."""
    return _max_unpool(input, indices, 3, kernel_size, stride, padding, output_size,
                       "max_unpool3d")


def _avg_pool(x, nd, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, fn):
    x = as_floating(x)
    window, strides, pads, dil = _pool_geometry(x, nd, kernel_size, stride, padding, 1,
                                                ceil_mode, fn)
    total = reduce_window_sum(x, window, strides, pads, dil)
    if divisor_override is not None:
        if int(divisor_override) == 0:
            raise ValueError(f"{fn}: divisor_override must be non-zero, got {divisor_override}")
        return lax.div(total, float(divisor_override))
    # count of the window's elements inside the input (or inside the explicit padding)
    sizes = shape_of(x)[-nd:]
    p = ntuple(padding, nd, "padding")
    divisor = np.ones((), np.int64)
    for size, (lo, hi), ki, si, pi in zip(sizes, pads[-nd:], window[-nd:], strides[-nd:], p):
        n_out = (size + lo + hi - ki) // si + 1
        starts = np.arange(n_out) * si - lo
        limit = size + pi if count_include_pad else size
        floor = -pi if count_include_pad else 0
        divisor = np.multiply.outer(divisor, np.minimum(starts + ki, limit) -
                                    np.maximum(starts, floor))
    divisor = divisor.astype(dtype_of(total))
    if np.all(divisor == divisor.flat[0]):
        return lax.div(total, float(divisor.flat[0]))
    return lax.div(total, fnp.asarray(divisor))


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Average pooling over (N, C, L) or (C, L) input, with PyTorch's divisor rules."""
    return _avg_pool(input, 1, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     None, "avg_pool1d")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Average pooling over NCHW (or CHW) input, with PyTorch's divisor rules."""
    return _avg_pool(input, 2, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, "avg_pool2d")


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Average pooling over (N, C, D, H, W) or (C, D, H, W) input, with PyTorch's divisor
    rules (`count_include_pad`, `divisor_override`)."""
    return _avg_pool(input, 3, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, "avg_pool3d")


def _sizes(output_size, spatial, fn):
    """PyTorch's output_size: an int or a tuple whose None entries keep the input's size."""
    nd = len(spatial)
    out = (output_size,) * nd if output_size is None or isinstance(
        output_size, (int, np.integer)) else tuple(output_size)
    if len(out) != nd:
        raise ValueError(f"{fn}: output_size must be an int or {nd} entries, got "
                         f"{output_size!r}")
    out = tuple(s if o is None else int(o) for o, s in zip(out, spatial))
    if any(o < 1 for o in out):
        raise ValueError(f"{fn}: output_size must be positive, got {output_size!r}")
    return out


def _bins(size, out):
    """PyTorch's adaptive bins of an axis of `size` into `out`: [floor(i*size/out),
    ceil((i+1)*size/out)). Returns (index matrix (out, widest), valid mask)."""
    starts = np.arange(out) * size // out
    ends = ((np.arange(out) + 1) * size + out - 1) // out
    width = int((ends - starts).max())
    idx = starts[:, None] + np.arange(width)[None, :]
    valid = idx < ends[:, None]
    return np.where(valid, idx, (ends - 1)[:, None]), valid


def _adaptive_input(x, nd, fn):
    x = fnp.asarray(x)
    rank = len(shape_of(x))
    if rank not in (nd + 1, nd + 2):
        raise ValueError(f"{fn} needs a {nd + 1}-d or {nd + 2}-d input, got shape "
                         f"{shape_of(x)}")
    return x


def _adaptive_avg_axis(x, axis, out):
    shape = shape_of(x)
    size = shape[axis]
    if size % out == 0:
        split = shape[:axis] + (out, size // out) + shape[axis + 1:]
        return fnp.mean(lax.reshape(x, split), axis=axis + 1)
    idx, valid = _bins(size, out)
    weights = (valid / valid.sum(1, keepdims=True)).astype(dtype_of(x))   # (out, width)
    windows = fnp.take(x, fnp.asarray(idx), axis=axis)        # (..., out, width, ...)
    w = weights.reshape(weights.shape + (1,) * (len(shape) - axis - 1))
    return fnp.sum(lax.mul(windows, fnp.asarray(w)), axis=axis + 1)


def _adaptive_max_axis(x, axis, out):
    """(max over each bin along `axis`, the input index of the first maximum)."""
    shape = shape_of(x)
    size = shape[axis]
    if size % out == 0:
        windows = lax.reshape(x, shape[:axis] + (out, size // out) + shape[axis + 1:])
    else:
        windows = fnp.take(x, fnp.asarray(_bins(size, out)[0]), axis=axis)
    pos = fnp.argmax(windows, axis=axis + 1, keepdims=True)
    values = lax.squeeze(fnp.take_along_axis(windows, pos, axis=axis + 1), (axis + 1,))
    # a bin's padding repeats its last element, after it, so the first maximum is a real one
    starts = (np.arange(out) * size // out).reshape((out,) + (1,) * (len(shape) - axis - 1))
    index = lax.add(lax.convert_element_type(lax.squeeze(pos, (axis + 1,)), np.int64),
                    fnp.asarray(starts.astype(np.int64)))
    return values, index


def adaptive_avg_pool1d(input, output_size):
    """Average over PyTorch's adaptive bins of the last axis of (N, C, L) or (C, L) input."""
    x = as_floating(_adaptive_input(input, 1, "adaptive_avg_pool1d"))
    (o,) = _sizes(output_size, shape_of(x)[-1:], "adaptive_avg_pool1d")
    return _adaptive_avg_axis(x, len(shape_of(x)) - 1, o)


def adaptive_avg_pool2d(input, output_size):
    """Average over PyTorch's adaptive bins (rows floor(i*H/oh) to ceil((i+1)*H/oh), columns
    alike) of NCHW or CHW input; `output_size` an int or (oh, ow), None keeping a size."""
    x = as_floating(_adaptive_input(input, 2, "adaptive_avg_pool2d"))
    rank = len(shape_of(x))
    shape = shape_of(x)
    oh, ow = _sizes(output_size, shape[-2:], "adaptive_avg_pool2d")
    if oh == ow == 1:             # global average pooling
        flat = lax.reshape(x, (math.prod(shape[:-2]), shape[-2] * shape[-1]))
        return lax.reshape(lax.div(_row_sums(flat), float(shape[-2] * shape[-1])),
                           shape[:-2] + (1, 1))
    return _adaptive_avg_axis(_adaptive_avg_axis(x, rank - 1, ow), rank - 2, oh)


def _row_sums(x):
    """The sums of the rows of matrix `x`, as a product with a vector of ones: NumPy sums
    along a short last axis several times slower than BLAS does this."""
    return lax.dot_general(x, lax.full((shape_of(x)[1],), 1, dtype_of(x)),
                           (((1,), (0,)), ((), ())))


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Maximum over PyTorch's adaptive bins of the last axis of (N, C, L) or (C, L) input;
    with `return_indices`, also the position of each maximum."""
    x = _adaptive_input(input, 1, "adaptive_max_pool1d")
    (o,) = _sizes(output_size, shape_of(x)[-1:], "adaptive_max_pool1d")
    values, index = _adaptive_max_axis(x, len(shape_of(x)) - 1, o)
    return (values, index) if return_indices else values


def _adaptive_max_nd(x, nd, output_size, return_indices, fn):
    """Separable adaptive max over the last `nd` axes, last axis first: each axis' first
    maximum, so the overall choice is the first maximum in row-major order, as in PyTorch."""
    x = _adaptive_input(x, nd, fn)
    rank = len(shape_of(x))
    spatial = shape_of(x)[-nd:]
    sizes = _sizes(output_size, spatial, fn)
    indices = []                  # per reduced axis (last first), the chosen input position
    for axis in range(rank - 1, rank - nd - 1, -1):
        x, index = _adaptive_max_axis(x, axis, sizes[axis - rank + nd])
        indices = [fnp.take_along_axis(i, index, axis=axis) for i in indices] + [index]
    if not return_indices:
        return x
    flat = indices[-1]
    for i, size in zip(reversed(indices[:-1]), spatial[1:]):
        flat = lax.add(lax.mul(flat, size), i)
    return x, flat


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Maximum over PyTorch's adaptive bins of NCHW or CHW input (the derivative goes to the
    first maximum in row-major order); with `return_indices`, also each maximum's flat
    position `h * W + w` in its input plane, as PyTorch."""
    return _adaptive_max_nd(input, 2, output_size, return_indices, "adaptive_max_pool2d")


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Maximum over PyTorch's adaptive bins of (N, C, D, H, W) or (C, D, H, W) input; with
    `return_indices`, also each maximum's flat position `(d * H + h) * W + w`."""
    return _adaptive_max_nd(input, 3, output_size, return_indices, "adaptive_max_pool3d")


def adaptive_avg_pool3d(input, output_size):
    """Average over PyTorch's adaptive bins of (N, C, D, H, W) or (C, D, H, W) input;
    `output_size` an int or three entries, None keeping a size."""
    x = as_floating(_adaptive_input(input, 3, "adaptive_avg_pool3d"))
    rank = len(shape_of(x))
    sizes = _sizes(output_size, shape_of(x)[-3:], "adaptive_avg_pool3d")
    for axis, o in zip(range(rank - 3, rank), sizes):
        x = _adaptive_avg_axis(x, axis, o)
    return x


_LINEAR_MODES = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial axes of (N, C, *spatial) input (PyTorch's F.interpolate).

    Exactly one of `size` (an int or one per spatial axis) and `scale_factor` (a number or
    one per axis; the output size is floor(input size * scale_factor)). Modes: "nearest"
    (PyTorch's legacy rounding: source index floor(i * in / out), or floor(i / scale_factor)
    when a scale factor is given and `recompute_scale_factor` is not true), "nearest-exact",
    "linear" (3-d input), "bilinear" and "bicubic" (4-d; cubic convolution with a = -0.75 and
    border-clamped taps; `antialias=True` widens the filter by the downscaling factor and
    normalizes its weights, with a = -0.5 for bicubic), "trilinear" (5-d), with
    `align_corners`, and
    "area" (adaptive average pooling). Index and weight arithmetic follows PyTorch's CPU
    kernels, in the input's precision.
    """
    x = as_floating(input)
    shape = shape_of(x)
    nd = len(shape) - 2
    if nd < 1:
        raise ValueError(f"interpolate needs (N, C, *spatial) input, got shape {shape}")
    if mode in _LINEAR_MODES:
        if _LINEAR_MODES[mode] != nd:
            raise ValueError(f"interpolate: got {len(shape)}D input, but {mode} mode needs "
                             f"{_LINEAR_MODES[mode] + 2}D input")
    elif mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise ValueError("interpolate: align_corners option can only be set with the "
                             "interpolating modes: linear | bilinear | bicubic | trilinear")
    else:
        raise ValueError(f"interpolate: mode {mode!r} is not supported; use 'nearest', "
                         "'nearest-exact', 'linear', 'bilinear', 'bicubic', 'trilinear' or 'area'")
    if antialias and mode not in ("bilinear", "bicubic"):
        raise ValueError(f"interpolate: antialias=True needs mode 'bilinear' or 'bicubic', "
                         f"got {mode!r}")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    spatial = shape[2:]
    if size is not None:
        out = _sizes(size, spatial, "interpolate")
        scales = (None,) * nd
    else:
        factors = (scale_factor,) * nd if isinstance(scale_factor, (int, float)) else \
            tuple(scale_factor)
        if len(factors) != nd:
            raise ValueError(f"interpolate: scale_factor must be a number or {nd} numbers, got "
                             f"{scale_factor!r}")
        out = tuple(math.floor(float(s) * float(f)) for s, f in zip(spatial, factors))
        if any(o < 1 for o in out):
            raise ValueError(f"interpolate: scale_factor {scale_factor!r} gives output size "
                             f"{out} for input size {spatial}")
        scales = (None,) * nd if recompute_scale_factor else tuple(float(f) for f in factors)
    if mode == "area":
        for axis, o in enumerate(out):
            x = _adaptive_avg_axis(x, 2 + axis, o)
        return x
    dt = np.dtype(dtype_of(x))
    for axis, (n_in, n_out, scale) in enumerate(zip(spatial, out, scales)):
        if antialias:
            x = _antialias_axis(x, 2 + axis, n_in, n_out, scale, bool(align_corners),
                                mode == "bicubic", dt)
        elif mode == "bicubic":
            x = _cubic_axis(x, 2 + axis, n_in, n_out, scale, bool(align_corners), dt)
        elif mode in _LINEAR_MODES:
            x = _linear_axis(x, 2 + axis, n_in, n_out, scale, bool(align_corners), dt)
        else:
            src = _nearest_source(n_in, n_out, scale, mode == "nearest-exact", nd == 2)
            x = fnp.take(x, fnp.asarray(src), axis=2 + axis)
    return x


def _scale32(n_in, n_out, scale):
    """PyTorch's compute_scales_value<float>: 1/scale_factor if given, else in/out."""
    if scale is not None and scale > 0:
        return np.float32(1.0 / scale)
    return np.float32(n_in) / np.float32(n_out)


def _nearest_source(n_in, n_out, scale, exact, shortcut):
    """Source indices of "nearest"/"nearest-exact". PyTorch's 2-d nearest kernel maps a
    same-size or double-size axis directly even when a scale factor says otherwise; its 1-d
    and 3-d kernels always use the scale (`shortcut`)."""
    i = np.arange(n_out)
    if shortcut and not exact and n_out == n_in:
        return i
    if shortcut and not exact and n_out == 2 * n_in:
        return i >> 1
    s = _scale32(n_in, n_out, scale)
    pos = (i + 0.5) * np.float64(s) if exact else i.astype(np.float32) * s
    return np.minimum(np.floor(pos.astype(np.float32)).astype(np.int64), n_in - 1)


def _linear_axis(x, axis, n_in, n_out, scale, align_corners, dt):
    """Linear interpolation along `axis` with PyTorch's source positions and weights."""
    if n_out == n_in and not align_corners:
        return x
    i = np.arange(n_out).astype(dt)
    if align_corners:
        s = dt.type(n_in - 1) / dt.type(n_out - 1) if n_out > 1 else dt.type(0)
        src = s * i
    else:
        s = dt.type(1.0 / scale) if scale is not None and scale > 0 else \
            dt.type(n_in) / dt.type(n_out)
        src = np.maximum(s * (i + dt.type(0.5)) - dt.type(0.5), dt.type(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam = np.clip(src - i0.astype(dt), 0, 1).astype(dt)
    i1 = i0 + (i0 < n_in - 1)
    shape = (n_out,) + (1,) * (len(shape_of(x)) - axis - 1)
    lo = lax.mul(fnp.take(x, fnp.asarray(i0), axis=axis),
                 fnp.asarray((1 - lam).astype(dt).reshape(shape)))
    hi = lax.mul(fnp.take(x, fnp.asarray(i1), axis=axis), fnp.asarray(lam.reshape(shape)))
    return lax.add(lo, hi)


def _cubic_axis(x, axis, n_in, n_out, scale, align_corners, dt):
    """Cubic convolution (a = -0.75) along `axis` over four border-clamped taps, at PyTorch's
    source positions (not clamped at 0, unlike linear)."""
    i = np.arange(n_out).astype(dt)
    if align_corners:
        src = (dt.type(n_in - 1) / dt.type(n_out - 1) if n_out > 1 else dt.type(0)) * i
    else:
        s = dt.type(1.0 / scale) if scale is not None and scale > 0 else \
            dt.type(n_in) / dt.type(n_out)
        src = s * (i + dt.type(0.5)) - dt.type(0.5)
    i0 = np.floor(src)
    t = (src - i0).astype(dt)
    a = -0.75
    weights = (cubic_far(t + 1, a), cubic_near(t, a), cubic_near(1 - t, a),
               cubic_far(2 - t, a))
    shape = (n_out,) + (1,) * (len(shape_of(x)) - axis - 1)
    out = None
    for k, w in enumerate(weights):
        idx = np.clip(i0.astype(np.int64) - 1 + k, 0, n_in - 1)
        term = lax.mul(fnp.take(x, fnp.asarray(idx), axis=axis),
                       fnp.asarray(w.astype(dt).reshape(shape)))
        out = term if out is None else lax.add(out, term)
    return out


def _antialias_axis(x, axis, n_in, n_out, scale, align_corners, cubic, dt):
    """Antialiased linear or cubic (a = -0.5) resampling along `axis`: a (n_out, n_in) matrix
    of the filter, stretched by the downscaling factor and normalized per output."""
    if align_corners:
        s = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        s = 1.0 / scale if scale is not None and scale > 0 else n_in / n_out
    support = (2.0 if cubic else 1.0) * max(s, 1.0)
    center = s * (np.arange(n_out) + 0.5)
    lo = np.maximum((center - support + 0.5).astype(np.int64), 0)
    hi = np.minimum((center + support + 0.5).astype(np.int64), n_in)
    j = np.arange(n_in)
    d = np.abs((j[None, :] - center[:, None] + 0.5) / max(s, 1.0))
    if cubic:
        a = -0.5
        w = np.where(d < 1, ((a + 2) * d - (a + 3)) * d * d + 1,
                     np.where(d < 2, (((d - 5) * d + 8) * d - 4) * a, 0.0))
    else:
        w = np.maximum(1 - d, 0.0)
    w = np.where((j[None, :] >= lo[:, None]) & (j[None, :] < hi[:, None]), w, 0.0)
    total = w.sum(axis=1, keepdims=True)
    w = np.where(total != 0, w / np.where(total != 0, total, 1.0), w).astype(dt)
    out = fnp.tensordot(x, fnp.asarray(w.T), axes=([axis], [0]))
    return fnp.moveaxis(out, -1, axis)


class _MaxPoolNd(Module):
    _nd = 0

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation, self.ceil_mode = padding, dilation, bool(ceil_mode)
        self.return_indices = bool(return_indices)

    def __call__(self, x, *, key=None):
        return _max_pool(x, self._nd, self.kernel_size, self.stride, self.padding,
                         self.dilation, self.ceil_mode, self.return_indices,
                         type(self).__name__)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Max pooling over (N, C, L) or (C, L) input (`return_indices` also gives the positions
    of the maxima, for MaxUnpool1d)."""
    _nd = 1


class MaxPool2d(_MaxPoolNd):
    """Max pooling over NCHW or CHW input (`return_indices` also gives each maximum's flat
    position in its plane, for MaxUnpool2d)."""
    _nd = 2


class MaxPool3d(_MaxPoolNd):
    """Max pooling over (N, C, D, H, W) or (C, D, H, W) input (`return_indices` also gives
    each maximum's flat position in its volume, for MaxUnpool3d)."""
    _nd = 3


class _AvgPoolNd(Module):
    _nd = 0

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, bool(ceil_mode)
        self.count_include_pad, self.divisor_override = bool(count_include_pad), divisor_override

    def __call__(self, x, *, key=None):
        return _avg_pool(x, self._nd, self.kernel_size, self.stride, self.padding,
                         self.ceil_mode, self.count_include_pad, self.divisor_override,
                         type(self).__name__)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """Average pooling over (N, C, L) or (C, L) input, with PyTorch's divisor rules."""
    _nd = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        # PyTorch keeps AvgPool1d's sizes as 1-tuples (and prints them so)
        super().__init__(ntuple(kernel_size, 1, "kernel_size"),
                         ntuple(kernel_size if stride is None else stride, 1, "stride"),
                         ntuple(padding, 1, "padding"), ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """Average pooling over NCHW or CHW input, with PyTorch's divisor rules."""
    _nd = 2


class AvgPool3d(_AvgPoolNd):
    """Average pooling over (N, C, D, H, W) or (C, D, H, W) input, with PyTorch's divisor
    rules."""
    _nd = 3


class _MaxUnpoolNd(Module):
    _nd = 0

    def __init__(self, kernel_size, stride=None, padding=0):
        nd = self._nd
        self.kernel_size = ntuple(kernel_size, nd, "kernel_size")
        self.stride = self.kernel_size if stride is None else ntuple(stride, nd, "stride")
        self.padding = ntuple(padding, nd, "padding")

    def __call__(self, input, indices, output_size=None, *, key=None):
        return _max_unpool(input, indices, self._nd, self.kernel_size, self.stride,
                           self.padding, output_size, type(self).__name__)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Puts MaxPool1d's maxima back at their indices, zeros elsewhere."""
    _nd = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """Puts MaxPool2d's maxima back at their indices in each plane, zeros elsewhere."""
    _nd = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """Puts MaxPool3d's maxima back at their indices in each volume, zeros elsewhere."""
    _nd = 3


def _output_size(output_size):
    return output_size if output_size is None or isinstance(output_size, int) else \
        tuple(output_size)


class _Adaptive(Module):
    output_size: object = field(static=True)      # an int or a tuple, None keeping a size

    def __init__(self, output_size):
        self.output_size = _output_size(output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_Adaptive):
    """Averages (N, C, L) or (C, L) input over `output_size` adaptive bins."""

    def __call__(self, x, *, key=None):
        return adaptive_avg_pool1d(x, self.output_size)


class AdaptiveAvgPool2d(_Adaptive):
    """Averages NCHW or CHW input over adaptive bins; `output_size` is an int or (oh, ow),
    where None keeps that input size (`AdaptiveAvgPool2d(1)` is global average pooling)."""

    def __call__(self, x, *, key=None):
        return adaptive_avg_pool2d(x, self.output_size)


class _AdaptiveMax(_Adaptive):
    def __init__(self, output_size, return_indices=False):
        self.output_size = _output_size(output_size)
        self.return_indices = bool(return_indices)


class AdaptiveMaxPool1d(_AdaptiveMax):
    """Maximum of (N, C, L) or (C, L) input over adaptive bins (`return_indices` also gives
    their positions)."""

    def __call__(self, x, *, key=None):
        return adaptive_max_pool1d(x, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(_AdaptiveMax):
    """Maximum of NCHW or CHW input over adaptive bins (`return_indices` also gives each
    maximum's flat position in its plane)."""

    def __call__(self, x, *, key=None):
        return adaptive_max_pool2d(x, self.output_size, self.return_indices)


class AdaptiveAvgPool3d(_Adaptive):
    """Averages (N, C, D, H, W) or (C, D, H, W) input over adaptive bins; `output_size` an
    int or (od, oh, ow), where None keeps that input size."""

    def __call__(self, x, *, key=None):
        return adaptive_avg_pool3d(x, self.output_size)


class AdaptiveMaxPool3d(_AdaptiveMax):
    """Maximum of (N, C, D, H, W) or (C, D, H, W) input over adaptive bins
    (`return_indices` also gives each maximum's flat position in its volume)."""

    def __call__(self, x, *, key=None):
        return adaptive_max_pool3d(x, self.output_size, self.return_indices)


class Upsample(Module):
    """Resizes the spatial axes to `size` or by `scale_factor` (see `ft.nn.interpolate`)."""
    size: object = field(static=True)
    scale_factor: object = field(static=True)
    align_corners: object = field(static=True)
    recompute_scale_factor: object = field(static=True)

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        self.size = _output_size(size)
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def __call__(self, x, *, key=None):
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                           recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self):
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else \
            f"size={self.size!r}"
        return info + f", mode={self.mode!r}"
