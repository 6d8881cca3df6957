"""More pooling, with PyTorch's names, arguments and index conventions: power-average pooling
(`lp_pool1d/2d/3d`, `LPPool1d/2d/3d`), the `*_with_indices` spellings of max pooling (which
always return `(values, indices)`), and fractional max pooling (`fractional_max_pool2d/3d`,
`FractionalMaxPool2d/3d`, Graham 2014), whose pseudo-random windows come from `key=` or, as
in PyTorch, from `_random_samples`."""
from __future__ import annotations

import math

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..primitives._util import dtype_of, shape_of
from ._utils import as_floating, ntuple
from .activations import relu
from .module import Module, field
from .pooling import (adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d,
                      avg_pool1d, avg_pool2d, avg_pool3d, max_pool1d, max_pool2d, max_pool3d)

__all__ = ["lp_pool1d", "lp_pool2d", "lp_pool3d", "LPPool1d", "LPPool2d", "LPPool3d",
           "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
           "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
           "adaptive_max_pool3d_with_indices", "fractional_max_pool2d",
           "fractional_max_pool2d_with_indices", "fractional_max_pool3d",
           "fractional_max_pool3d_with_indices", "FractionalMaxPool2d", "FractionalMaxPool3d"]

_AVG = {1: avg_pool1d, 2: avg_pool2d, 3: avg_pool3d}
_MAX = {1: max_pool1d, 2: max_pool2d, 3: max_pool3d}


# ------------------------------------------------------------------ power-average pooling
def _lp_pool(x, nd, norm_type, kernel_size, stride, ceil_mode):
    x = as_floating(x)
    p = float(norm_type)
    if p == math.inf:
        return _MAX[nd](lax.abs(x), kernel_size, stride, 0, 1, ceil_mode)
    if p == -math.inf:
        return lax.neg(_MAX[nd](lax.neg(lax.abs(x)), kernel_size, stride, 0, 1, ceil_mode))
    out = _AVG[nd](fnp.power(x, p), kernel_size, stride, 0, ceil_mode)
    # PyTorch's (sign(out) * relu(|out|)) * prod(kernel) ** (1 / p), same operations
    count = math.prod(ntuple(kernel_size, nd, "kernel_size"))
    out = lax.mul(lax.mul(lax.sign(out), relu(lax.abs(out))), float(count))
    return fnp.power(out, 1.0 / p)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling over (N, C, L) or (C, L) input: (sum of x**p over each window)
    ** (1 / p); p = inf is max pooling of |x|. As PyTorch, a partial window of `ceil_mode` is
    averaged over its size and scaled by the full kernel's."""
    return _lp_pool(input, 1, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling over NCHW or CHW input: (sum of x**p over each window) ** (1 / p)
    (p = 1: sum pooling, p = inf: max pooling of |x|)."""
    return _lp_pool(input, 2, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling over (N, C, D, H, W) or (C, D, H, W) input."""
    return _lp_pool(input, 3, norm_type, kernel_size, stride, ceil_mode)


class _LPPoolNd(Module):
    norm_type: object = field(static=True)
    kernel_size: object = field(static=True)
    stride: object = field(static=True)
    _nd = 0

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        self.norm_type, self.kernel_size, self.stride = norm_type, kernel_size, stride
        self.ceil_mode = bool(ceil_mode)

    def __call__(self, x, *, key=None):
        return _lp_pool(x, self._nd, float(self.norm_type), self.kernel_size, self.stride,
                        self.ceil_mode)

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """Power-average pooling over (N, C, L) or (C, L) input (see `lp_pool1d`)."""
    _nd = 1


class LPPool2d(_LPPoolNd):
    """Power-average pooling over NCHW or CHW input (see `lp_pool2d`)."""
    _nd = 2


class LPPool3d(_LPPoolNd):
    """Power-average pooling over (N, C, D, H, W) or (C, D, H, W) input (see `lp_pool3d`)."""
    _nd = 3


# ------------------------------------------------------------------ *_with_indices
def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    """`(values, indices)` of `max_pool1d` (the indices whatever `return_indices` says)."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    """`(values, indices)` of `max_pool2d`: each maximum's flat position `h * W + w`."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    """`(values, indices)` of `max_pool3d`: each maximum's flat position
    `(d * H + h) * W + w`."""
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    """`(values, indices)` of `adaptive_max_pool1d`."""
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    """`(values, indices)` of `adaptive_max_pool2d` (flat positions `h * W + w`)."""
    return adaptive_max_pool2d(input, output_size, True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    """`(values, indices)` of `adaptive_max_pool3d` (flat positions `(d * H + h) * W + w`)."""
    return adaptive_max_pool3d(input, output_size, True)


# ------------------------------------------------------------------ fractional max pooling
def _fractional_sizes(spatial, kernel, output_size, output_ratio, fn):
    nd = len(spatial)
    if output_size is None and output_ratio is None:
        raise ValueError(f"{fn} requires specifying either an output_size or an output_ratio")
    if output_size is None:
        ratio = (output_ratio,) * nd if isinstance(output_ratio, (int, float)) else \
            tuple(output_ratio)
        if len(ratio) != nd or not all(0 < r < 1 for r in ratio):
            raise ValueError(f"{fn}: output_ratio must be a number or {nd} numbers in (0, 1), "
                             f"got {output_ratio!r}")
        output_size = tuple(int(s * r) for s, r in zip(spatial, ratio))
    out = ntuple(output_size, nd, "output_size")
    for o, s, k in zip(out, spatial, kernel):
        if o < 1 or o + k - 1 > s:
            raise ValueError(f"{fn}: output_size {out} with kernel_size {kernel} does not fit "
                             f"the input's spatial shape {spatial} (each output size plus "
                             "the kernel size minus 1 must be at most the input size)")
    return out


def _intervals(sample, size, out, k):
    """PyTorch's generate_intervals for samples (N, C) in [0, 1): the window starts
    (N, C, out), int64: trunc((i + u) * alpha) - trunc(u * alpha), the last at size - k."""
    if out == 1:
        return fnp.full(shape_of(sample) + (1,), size - k, dtype=np.int64)
    alpha = (size - k) / (out - 1)
    i = fnp.asarray(np.arange(out - 1, dtype=dtype_of(sample)))
    u = sample[..., None]
    starts = lax.sub(lax.convert_element_type(lax.mul(lax.add(i, u), alpha), np.int64),
                     lax.convert_element_type(lax.mul(u, alpha), np.int64))
    last = fnp.full(shape_of(sample) + (1,), size - k, dtype=np.int64)
    return fnp.concatenate([starts, last], axis=-1)


def _fractional_max(x, nd, kernel_size, output_size, output_ratio, samples, key, fn):
    x = as_floating(x)
    shape = shape_of(x)
    if len(shape) not in (nd + 1, nd + 2):
        raise ValueError(f"{fn} needs a {nd + 1}-d or {nd + 2}-d input, got shape {shape}")
    unbatched = len(shape) == nd + 1
    if unbatched:
        x = x[None]
    n, c, spatial = shape_of(x)[0], shape_of(x)[1], tuple(shape_of(x)[2:])
    kernel = ntuple(kernel_size, nd, "kernel_size")
    out = _fractional_sizes(spatial, kernel, output_size, output_ratio, fn)
    if samples is None:
        if key is None:
            raise ValueError(f"{fn} places its windows pseudo-randomly: pass key=... (split a "
                             "fresh one each step), or _random_samples (N, C, "
                             f"{nd}) uniform in [0, 1) as PyTorch")
        from ..random import uniform
        samples = uniform(key, (n, c, nd), dtype_of(x))
    samples = fnp.asarray(samples)
    if tuple(shape_of(samples))[1:] != (c, nd) or shape_of(samples)[0] < n:
        raise ValueError(f"{fn}: _random_samples must have shape (N, {c}, {nd}) with N at "
                         f"least the batch size {n}, got {tuple(shape_of(samples))}")
    samples = lax.convert_element_type(samples[:n], dtype_of(x))
    # sample 0 places the windows along the width (the last axis) in 2-d, along the depth
    # (the first spatial axis) in 3-d, as PyTorch's kernels
    order = [1, 0] if nd == 2 else [0, 1, 2]
    flat_index, window_axes = None, []
    for axis in range(nd):
        starts = _intervals(samples[..., order[axis]], spatial[axis], out[axis], kernel[axis])
        # positions (N, C, out, k) along this axis, broadcast over the other axes
        pos = lax.add(starts[..., None], fnp.asarray(np.arange(kernel[axis], dtype=np.int64)))
        shape_b = [n, c] + [1] * (2 * nd)
        shape_b[2 + axis], shape_b[2 + nd + axis] = out[axis], kernel[axis]
        pos = lax.reshape(pos, tuple(shape_b))
        flat_index = pos if flat_index is None else \
            lax.add(lax.mul(flat_index, spatial[axis]), pos)
        window_axes.append(2 + nd + axis)
    full = (n, c) + out + kernel
    flat_index = lax.reshape(fnp.broadcast_to(flat_index, full),
                             (n, c, math.prod(out) * math.prod(kernel)))
    windows = fnp.take_along_axis(lax.reshape(x, (n, c, math.prod(spatial))), flat_index,
                                  axis=2)
    windows = lax.reshape(windows, (n, c, math.prod(out), math.prod(kernel)))
    flat_index = lax.reshape(flat_index, shape_of(windows))
    best = lax.reshape(lax.argmax(windows, 3), (n, c, math.prod(out), 1))
    values = lax.reshape(fnp.take_along_axis(windows, best, axis=3), (n, c) + out)
    indices = lax.reshape(fnp.take_along_axis(flat_index, best, axis=3), (n, c) + out)
    if unbatched:
        values, indices = values[0], indices[0]
    return values, indices


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None, *, key=None):
    """Fractional max pooling of NCHW or CHW input: the maximum over `kernel_size` windows
    placed at pseudo-random, increasing starts so that the output has `output_size` (or
    `output_ratio` times the input's size). Pass `key=` (or PyTorch's `_random_samples`,
    (N, C, 2) in [0, 1)). With `return_indices`, also each maximum's flat position
    `h * W + w`."""
    values, indices = _fractional_max(input, 2, kernel_size, output_size, output_ratio,
                                      _random_samples, key, "fractional_max_pool2d")
    return (values, indices) if return_indices else values


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None, *,
                                       key=None):
    """`(values, indices)` of `fractional_max_pool2d`."""
    return _fractional_max(input, 2, kernel_size, output_size, output_ratio, _random_samples,
                           key, "fractional_max_pool2d")


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None, *, key=None):
    """Fractional max pooling of (N, C, D, H, W) or (C, D, H, W) input (see
    `fractional_max_pool2d`; `_random_samples` is (N, C, 3))."""
    values, indices = _fractional_max(input, 3, kernel_size, output_size, output_ratio,
                                      _random_samples, key, "fractional_max_pool3d")
    return (values, indices) if return_indices else values


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None, *,
                                       key=None):
    """`(values, indices)` of `fractional_max_pool3d`."""
    return _fractional_max(input, 3, kernel_size, output_size, output_ratio, _random_samples,
                           key, "fractional_max_pool3d")


class _FractionalMaxPoolNd(Module):
    kernel_size: object = field(static=True)
    output_size: object = field(static=True)
    output_ratio: object = field(static=True)
    _nd = 0

    def __init__(self, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                 _random_samples=None):
        nd = self._nd
        name = type(self).__name__
        self.kernel_size = ntuple(kernel_size, nd, "kernel_size")
        self.output_size = None if output_size is None else ntuple(output_size, nd,
                                                                   "output_size")
        self.output_ratio = None if output_ratio is None else \
            (float(output_ratio),) * nd if isinstance(output_ratio, (int, float)) else \
            tuple(float(r) for r in output_ratio)
        if self.output_size is None and self.output_ratio is None:
            raise ValueError(f"{name} requires specifying either an output size, or a "
                             "pooling ratio")
        if self.output_size is not None and self.output_ratio is not None:
            raise ValueError(f"{name}: only one of output_size and output_ratio may be "
                             "specified")
        if self.output_ratio is not None and not all(0 < r < 1 for r in self.output_ratio):
            raise ValueError(f"{name}: output_ratio must be between 0 and 1 (got "
                             f"{output_ratio})")
        self.return_indices = bool(return_indices)
        # a buffer, as in PyTorch (and in its state_dict); None draws from key= per call
        self.register_buffer("_random_samples", None if _random_samples is None else
                             fnp.asarray(_random_samples))

    def __call__(self, x, *, key=None):
        values, indices = _fractional_max(x, self._nd, self.kernel_size, self.output_size,
                                          self.output_ratio, self._random_samples, key,
                                          type(self).__name__)
        return (values, indices) if self.return_indices else values


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """Fractional max pooling of NCHW or CHW input (see `fractional_max_pool2d`): call with
    `key=` (each call places new windows)."""
    _nd = 2


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """Fractional max pooling of (N, C, D, H, W) or (C, D, H, W) input: call with `key=`."""
    _nd = 3
