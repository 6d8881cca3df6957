"""Convolution layers with PyTorch's names, arguments, weight layouts, initialization and
printing: Conv1d, Conv2d, Conv3d (weights (out, in/groups, *kernel)), ConvTranspose1d,
ConvTranspose2d and ConvTranspose3d (weights (in, out/groups, *kernel))."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..primitives._util import shape_of
from ._utils import as_floating, default_init, float_dtype, ntuple, per_channel
from .module import Module

__all__ = ['conv1d', 'conv2d', 'conv3d', 'conv_tbc', 'conv_transpose1d', 'conv_transpose2d',
           'conv_transpose3d', 'conv_output_padding', 'Conv1d', 'Conv2d', 'Conv3d',
           'ConvTranspose1d', 'ConvTranspose2d', 'ConvTranspose3d']


def _unbatched(x, nd, fn):
    """`(x with a batch axis, whether one was added)` for an input of rank nd + 1 or nd + 2."""
    rank = len(shape_of(x))
    if rank == nd + 1:
        return lax.expand_dims(x, (0,)), True
    if rank != nd + 2:
        raise ValueError(f"{fn} needs a {nd + 1}-d (unbatched) or {nd + 2}-d (batched) input, "
                         f"got shape {shape_of(x)}")
    return x, False


def _conv_nd(x, weight, bias, stride, padding, dilation, groups, nd, fn):
    # NumPy operands go to the default device, as the input does
    x, weight = as_floating(x), fnp.asarray(weight)
    bias = None if bias is None else fnp.asarray(bias)
    x, added = _unbatched(x, nd, fn)
    if len(shape_of(weight)) != nd + 2:
        raise ValueError(f"{fn} needs a {nd + 2}-d kernel (out, in/groups, *kernel), got shape "
                         f"{shape_of(weight)}")
    stride, dilation = ntuple(stride, nd, "stride"), ntuple(dilation, nd, "dilation")
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"{fn}: padding must be an int, a tuple, 'valid' or 'same', got "
                             f"{padding!r}")
        if padding == "same" and any(s != 1 for s in stride):
            raise ValueError(f"{fn}: padding='same' is not supported for strided convolutions "
                             f"(stride {stride})")
        pads = padding.upper()
    else:
        pads = tuple((p, p) for p in ntuple(padding, nd, "padding"))
    out = lax.conv_general_dilated(x, weight, stride, pads, None, dilation, None, groups)
    if bias is not None:
        out = lax.add(out, per_channel(bias, nd + 2))
    return lax.squeeze(out, (0,)) if added else out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d convolution of (N, C, L) or (C, L) input with an (out, in/groups, k) kernel
    (PyTorch's F.conv1d); `padding` is an int, a 1-tuple, 'valid' or 'same'."""
    return _conv_nd(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d convolution of NCHW (or CHW) input with an OIHW kernel (PyTorch's F.conv2d);
    `padding` is an int, a pair, 'valid' or 'same'."""
    return _conv_nd(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-d convolution of (N, C, D, H, W) or (C, D, H, W) input with an
    (out, in/groups, kd, kh, kw) kernel (PyTorch's F.conv3d); `padding` is an int, a triple,
    'valid' or 'same'."""
    return _conv_nd(input, weight, bias, stride, padding, dilation, groups, 3, "conv3d")


def conv_tbc(input, weight, bias, pad=0):
    """1-d convolution in the (time, batch, channels) layout (PyTorch's F.conv_tbc): `input`
    (T, B, C_in), `weight` (k, C_in, C_out), `bias` (C_out,) or None, `pad` steps of zeros at
    each end of time (negative crops); the output is (T + 2·pad - k + 1, B, C_out)."""
    fn = "conv_tbc"
    x, weight = as_floating(input), fnp.asarray(weight)
    xs, ws = shape_of(x), shape_of(weight)
    if len(xs) != 3 or len(ws) != 3 or xs[2] != ws[1]:
        raise ValueError(f"{fn}: input must be (time, batch, in_channels) and weight "
                         f"(kernel_width, in_channels, out_channels) with matching "
                         f"in_channels, got shapes {xs} and {ws}")
    if not isinstance(pad, (int, np.integer)) or isinstance(pad, bool):
        raise TypeError(f"{fn}: pad must be an int (the zeros added at each end of time), got "
                        f"{pad!r}")
    steps = xs[0] + 2 * int(pad) - ws[0] + 1
    if steps < 0:
        raise ValueError(f"{fn}: a kernel of width {ws[0]} does not fit {xs[0]} steps padded "
                         f"by {pad} at each end")
    if steps == 0:
        out = fnp.zeros((0, xs[1], ws[2]), dtypes.result_type(x.dtype, weight.dtype))
    else:
        out = lax.conv_general_dilated(x, weight, (1,), [(int(pad), int(pad))],
                                       dimension_numbers=("WNC", "WIO", "WNC"))
    if bias is not None:
        bias = fnp.asarray(bias)
        if shape_of(bias) != (ws[2],):
            raise ValueError(f"{fn}: bias must have shape ({ws[2]},) (out_channels), got "
                             f"{shape_of(bias)}")
        out = lax.add(out, bias)
    return out


def conv_output_padding(input_size, output_size, stride, padding, kernel_size, dilation):
    """The output_padding that makes a transposed convolution of spatial size `input_size`
    produce `output_size` (PyTorch's ConvTranspose `output_size=` argument)."""
    nd = len(input_size)
    if len(output_size) == nd + 2:
        output_size = output_size[2:]
    if len(output_size) != nd:
        raise ValueError(f"output_size must have {nd} or {nd + 2} entries, got {output_size}")
    result = []
    for i in range(nd):
        smallest = ((input_size[i] - 1) * stride[i] - 2 * padding[i] +
                    dilation[i] * (kernel_size[i] - 1) + 1)
        largest = smallest + stride[i] - 1
        if not smallest <= output_size[i] <= largest:
            raise ValueError(f"requested an output size of {tuple(output_size)}, but valid "
                             f"sizes along spatial axis {i} range from {smallest} to {largest} "
                             f"(for an input of spatial size {tuple(input_size)})")
        result.append(output_size[i] - smallest)
    return tuple(result)


def _conv_transpose_nd(x, weight, bias, stride, padding, output_padding, groups, dilation, nd,
                       fn):
    # NumPy operands go to the default device, as the input does
    x, weight = as_floating(x), fnp.asarray(weight)
    bias = None if bias is None else fnp.asarray(bias)
    x, added = _unbatched(x, nd, fn)
    ws = shape_of(weight)
    if len(ws) != nd + 2:
        raise ValueError(f"{fn} needs a {nd + 2}-d kernel (in, out/groups, *kernel), got shape "
                         f"{ws}")
    cin, cout_g, k = ws[0], ws[1], ws[2:]
    if shape_of(x)[1] != cin or cin % groups:
        raise ValueError(f"{fn}: the input has {shape_of(x)[1]} channels (shape "
                         f"{shape_of(x)}) but the kernel of shape {ws} takes {cin} input "
                         f"channels in {groups} group(s)")
    stride, dilation = ntuple(stride, nd, "stride"), ntuple(dilation, nd, "dilation")
    padding = ntuple(padding, nd, "padding")
    output_padding = ntuple(output_padding, nd, "output_padding")
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= s and op >= d:
            raise ValueError(f"{fn}: output_padding {output_padding} must be smaller than "
                             f"either stride {stride} or dilation {dilation}")
    # the transposed convolution is a convolution of the input dilated by `stride` with the
    # kernel flipped and its in/out axes swapped within each group
    w = lax.reshape(weight, (groups, cin // groups, cout_g) + tuple(k))
    w = lax.transpose(w, (0, 2, 1) + tuple(range(3, nd + 3)))
    w = lax.rev(lax.reshape(w, (groups * cout_g, cin // groups) + tuple(k)),
                tuple(range(2, nd + 2)))
    pads = tuple((d * (ki - 1) - p, d * (ki - 1) - p + op)
                 for ki, p, op, d in zip(k, padding, output_padding, dilation))
    out = lax.conv_general_dilated(x, w, (1,) * nd, pads, stride, dilation, None, groups)
    if bias is not None:
        out = lax.add(out, per_channel(bias, nd + 2))
    return lax.squeeze(out, (0,)) if added else out


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed 1-d convolution (PyTorch's F.conv_transpose1d) of (N, C_in, L) or
    (C_in, L) input with an (in, out/groups, k) kernel; output length
    `(L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1`."""
    return _conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups,
                              dilation, 1, "conv_transpose1d")


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed 2-d convolution (PyTorch's F.conv_transpose2d) of NCHW (or CHW) input with
    an (in, out/groups, kh, kw) kernel."""
    return _conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups,
                              dilation, 2, "conv_transpose2d")


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed 3-d convolution (PyTorch's F.conv_transpose3d) of (N, C_in, D, H, W) (or
    unbatched) input with an (in, out/groups, kd, kh, kw) kernel."""
    return _conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups,
                              dilation, 3, "conv_transpose3d")


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


class _ConvForward(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", *, key, dtype=None):
        self._setup(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                    bias, padding_mode, 0, key, dtype)

    def __call__(self, x, *, key=None):
        x, padding = self._input(x)
        return _conv_nd(x, self.weight, self.bias, self.stride, padding, self.dilation,
                        self.groups, self._nd, type(self).__name__)


class Conv1d(_ConvForward):
    """1-d convolution over (N, C, L) or (C, L) input; `weight` is (out, in/groups, k)."""
    _nd = 1


class Conv2d(_ConvForward):
    """2-d convolution over NCHW (or CHW) input; `weight` is (out, in/groups, kh, kw)."""
    _nd = 2


class Conv3d(_ConvForward):
    """3-d convolution over (N, C, D, H, W) or (C, D, H, W) input; `weight` is
    (out, in/groups, kd, kh, kw)."""
    _nd = 3


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
            output_padding = conv_output_padding(spatial, tuple(output_size), self.stride,
                                                   self.padding, self.kernel_size,
                                                   self.dilation)
        return type(self)._fn(x, self.weight, self.bias, self.stride, self.padding,
                              output_padding, self.groups, self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-d convolution over (N, C, L) or (C, L) input; `weight` is
    (in, out/groups, k)."""
    _nd = 1
    _fn = staticmethod(conv_transpose1d)


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-d convolution over NCHW (or CHW) input; `weight` is
    (in, out/groups, kh, kw)."""
    _nd = 2
    _fn = staticmethod(conv_transpose2d)


class ConvTranspose3d(_ConvTransposeNd):
    """Transposed 3-d convolution over (N, C, D, H, W) or (C, D, H, W) input; `weight` is
    (in, out/groups, kd, kh, kw)."""
    _nd = 3
    _fn = staticmethod(conv_transpose3d)
