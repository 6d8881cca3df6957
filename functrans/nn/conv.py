"""Convolution layers with PyTorch's names, arguments, weight layouts, initialization and
printing: Conv1d, Conv2d (weights (out, in/groups, *kernel)), ConvTranspose1d and
ConvTranspose2d (weights (in, out/groups, *kernel))."""
from __future__ import annotations

import math

from .. import numpy as fnp
from . import functional as F
from ._utils import default_init, float_dtype, ntuple
from .module import Module

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]

_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class _ConvNd(Module):
    _nd = 0
    _transposed = False

    def _setup(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
               bias, padding_mode, output_padding, key, dtype):
        nd, name = self._nd, type(self).__name__
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        if padding_mode not in ("zeros",) + tuple(_PAD_MODES):
            raise ValueError(f"{name}: padding_mode must be 'zeros', 'reflect', 'replicate' or "
                             f"'circular', got {padding_mode!r}")
        if self._transposed and padding_mode != "zeros":
            raise ValueError(f"{name}: only 'zeros' padding mode is supported")
        k = ntuple(kernel_size, nd, "kernel_size")
        self.stride = ntuple(stride, nd, "stride")
        self.dilation = ntuple(dilation, nd, "dilation")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"{name}: padding must be an int, a tuple, 'valid' or 'same', "
                                 f"got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 "convolutions")
            self.padding = padding
        else:
            self.padding = ntuple(padding, nd, "padding")
        if self._transposed:
            shape = (in_channels, out_channels // groups) + k
        else:
            shape = (out_channels, in_channels // groups) + k
        self.weight, self.bias = default_init(key, shape, shape[1] * math.prod(k), bias,
                                              float_dtype(dtype), out_channels)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = k
        self.output_padding = ntuple(output_padding, nd, "output_padding")
        self.groups = int(groups)
        self.padding_mode = padding_mode

    def _input(self, x):
        """`x`, padded here for the non-zero padding modes (then the convolution pads
        nothing)."""
        if self.padding_mode == "zeros":
            return x, self.padding
        if self.padding == "same":
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            pads = [(t // 2, t - t // 2) for t in totals]
        elif self.padding == "valid":
            pads = [(0, 0)] * self._nd
        else:
            pads = [(p, p) for p in self.padding]
        x = fnp.asarray(x)
        lead = [(0, 0)] * (x.ndim - self._nd)
        return fnp.pad(x, lead + pads, mode=_PAD_MODES[self.padding_mode]), 0

    def extra_repr(self):
        nd = self._nd
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-d convolution over (N, C, L) or (C, L) input; `weight` is (out, in/groups, k)."""
    _nd = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", *, key, dtype=None):
        self._setup(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                    bias, padding_mode, 0, key, dtype)

    def __call__(self, x, *, key=None):
        x, padding = self._input(x)
        return F.conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                        self.groups)


class Conv2d(_ConvNd):
    """2-d convolution over NCHW (or CHW) input; `weight` is (out, in/groups, kh, kw)."""
    _nd = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", *, key, dtype=None):
        self._setup(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                    bias, padding_mode, 0, key, dtype)

    def __call__(self, x, *, key=None):
        x, padding = self._input(x)
        if fnp.ndim(x) == 3:
            return F.conv2d(x[None], self.weight, self.bias, self.stride, padding,
                            self.dilation, self.groups)[0]
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                        self.groups)


class _ConvTransposeNd(_ConvNd):
    _transposed = True
    _fn = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros", *,
                 key, dtype=None):
        self._setup(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                    bias, padding_mode, output_padding, key, dtype)
        if isinstance(self.padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple, got "
                             f"{padding!r}")

    def __call__(self, x, output_size=None, *, key=None):
        """`output_size` (the spatial size wanted, or the full shape) picks the output
        padding, as in PyTorch."""
        output_padding = self.output_padding
        if output_size is not None:
            spatial = tuple(fnp.shape(x)[-self._nd:])
            output_padding = F.conv_output_padding(spatial, tuple(output_size), self.stride,
                                                   self.padding, self.kernel_size,
                                                   self.dilation)
        return type(self)._fn(x, self.weight, self.bias, self.stride, self.padding,
                              output_padding, self.groups, self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-d convolution over (N, C, L) or (C, L) input; `weight` is
    (in, out/groups, k)."""
    _nd = 1
    _fn = staticmethod(F.conv_transpose1d)


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-d convolution over NCHW (or CHW) input; `weight` is
    (in, out/groups, kh, kw)."""
    _nd = 2
    _fn = staticmethod(F.conv_transpose2d)
