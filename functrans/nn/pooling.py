"""Pooling and resizing: functional forms (re-exported by `ft.nn.functional`) and layers:
MaxPool2d, AvgPool2d, AdaptiveAvgPool1d/2d, AdaptiveMaxPool1d/2d (PyTorch's bins: output cell
i covers input positions floor(i * L / out) to ceil((i + 1) * L / out)) and Upsample
(nearest, nearest-exact, linear, bilinear, trilinear, area)."""
from __future__ import annotations

import math

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..primitives._util import shape_of, dtype_of
from ..primitives.windowed import reduce_window_max, reduce_window_sum
from ._utils import as_floating, ntuple
from .module import Module, field

__all__ = ['max_pool2d', 'avg_pool2d', 'adaptive_avg_pool1d', 'adaptive_avg_pool2d', 'adaptive_max_pool1d', 'adaptive_max_pool2d', 'interpolate', 'MaxPool2d', 'AvgPool2d', 'AdaptiveAvgPool1d', 'AdaptiveAvgPool2d', 'AdaptiveMaxPool1d', 'AdaptiveMaxPool2d', 'Upsample']


def _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode, fn):
    if len(shape_of(x)) not in (3, 4):
        raise ValueError(f"{fn} needs a CHW or NCHW input, got shape {shape_of(x)}")
    k = ntuple(kernel_size, 2, "kernel_size")
    s = k if stride is None or stride == () else ntuple(stride, 2, "stride")
    p = ntuple(padding, 2, "padding")
    d = ntuple(dilation, 2, "dilation")
    if any(2 * pi > ki for pi, ki in zip(p, k)):
        raise ValueError(f"{fn}: padding {p} must be at most half the kernel size {k}")
    lead = len(shape_of(x)) - 2
    pads = []
    for size, ki, si, pi, di in zip(shape_of(x)[-2:], k, s, p, d):
        span = size + 2 * pi - di * (ki - 1) - 1
        if span < 0:
            raise ValueError(f"{fn}: the kernel {k} (dilation {d}) is larger than the input's "
                             f"spatial shape {tuple(shape_of(x)[-2:])} with padding {p}; use a "
                             "smaller kernel or pad the input")
        out = (-(-span // si) if ceil_mode else span // si) + 1
        if ceil_mode and (out - 1) * si >= size + pi:
            out -= 1                 # the last window must start inside the input or pad
        pads.append((pi, (out - 1) * si + di * (ki - 1) + 1 - size - pi))
    return ((1,) * lead + k, (1,) * lead + s, ((0, 0),) * lead + tuple(pads),
            (1,) * lead + d)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max pooling over NCHW (or CHW) input; `stride` defaults to `kernel_size`. The
    derivative goes to the first maximum of each window."""
    x = fnp.asarray(x)
    window, strides, pads, dil = _pool_geometry(x, kernel_size, stride, padding, dilation,
                                                ceil_mode, "max_pool2d")
    return reduce_window_max(x, window, strides, pads, dil)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Average pooling over NCHW (or CHW) input, with PyTorch's divisor rules."""
    x = as_floating(x)
    window, strides, pads, dil = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode,
                                                "avg_pool2d")
    total = reduce_window_sum(x, window, strides, pads, dil)
    if divisor_override is not None:
        return lax.div(total, float(divisor_override))
    # count of the window's elements inside the input (or inside the explicit padding)
    sizes = shape_of(x)[-2:]
    p = ntuple(padding, 2, "padding")
    counts = []
    for size, (lo, hi), ki, si, pi in zip(sizes, pads[-2:], window[-2:], strides[-2:], p):
        n_out = (size + lo + hi - ki) // si + 1
        starts = np.arange(n_out) * si - lo
        limit = size + pi if count_include_pad else size
        floor = -pi if count_include_pad else 0
        counts.append(np.minimum(starts + ki, limit) - np.maximum(starts, floor))
    divisor = np.outer(counts[0], counts[1]).astype(dtype_of(total))
    if np.all(divisor == divisor.flat[0]):
        return lax.div(total, float(divisor.flat[0]))
    return lax.div(total, fnp.asarray(divisor))


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


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Maximum over PyTorch's adaptive bins of NCHW or CHW input (the derivative goes to the
    first maximum in row-major order); with `return_indices`, also each maximum's flat
    position `h * W + w` in its input plane, as PyTorch."""
    x = _adaptive_input(input, 2, "adaptive_max_pool2d")
    rank = len(shape_of(x))
    width = shape_of(x)[-1]
    oh, ow = _sizes(output_size, shape_of(x)[-2:], "adaptive_max_pool2d")
    along_w, w_index = _adaptive_max_axis(x, rank - 1, ow)
    values, h_index = _adaptive_max_axis(along_w, rank - 2, oh)
    if not return_indices:
        return values
    w_at = fnp.take_along_axis(w_index, h_index, axis=rank - 2)
    return values, lax.add(lax.mul(h_index, width), w_at)


_LINEAR_MODES = {"linear": 1, "bilinear": 2, "trilinear": 3}


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial axes of (N, C, *spatial) input (PyTorch's F.interpolate).

    Exactly one of `size` (an int or one per spatial axis) and `scale_factor` (a number or
    one per axis; the output size is floor(input size * scale_factor)). Modes: "nearest"
    (PyTorch's legacy rounding: source index floor(i * in / out), or floor(i / scale_factor)
    when a scale factor is given and `recompute_scale_factor` is not true), "nearest-exact",
    "linear" (3-d input), "bilinear" (4-d), "trilinear" (5-d), with `align_corners`, and
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
                             "interpolating modes: linear | bilinear | trilinear")
    else:
        raise ValueError(f"interpolate: mode {mode!r} is not supported; use 'nearest', "
                         "'nearest-exact', 'linear', 'bilinear', 'trilinear' or 'area'")
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported")
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
        if mode in _LINEAR_MODES:
            x = _linear_axis(x, 2 + axis, n_in, n_out, scale, bool(align_corners), dt)
        else:
            src = _nearest_source(n_in, n_out, scale, mode == "nearest-exact")
            x = fnp.take(x, fnp.asarray(src), axis=2 + axis)
    return x


def _scale32(n_in, n_out, scale):
    """PyTorch's compute_scales_value<float>: 1/scale_factor if given, else in/out."""
    if scale is not None and scale > 0:
        return np.float32(1.0 / scale)
    return np.float32(n_in) / np.float32(n_out)


def _nearest_source(n_in, n_out, scale, exact):
    i = np.arange(n_out)
    if not exact and n_out == n_in:
        return i
    if not exact and n_out == 2 * n_in:
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


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation, self.ceil_mode = padding, dilation, bool(ceil_mode)

    def __call__(self, x, *, key=None):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, bool(ceil_mode)
        self.count_include_pad, self.divisor_override = bool(count_include_pad), divisor_override

    def __call__(self, x, *, key=None):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


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
