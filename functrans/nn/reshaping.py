"""Reshaping layers and their functional forms (re-exported by `ft.nn.functional`): padding
(`pad` and ZeroPad, ConstantPad, ReflectionPad, ReplicationPad, CircularPad in 1-3 d), pixel
and channel shuffles, the deprecated upsampling aliases, and `fold` / `unfold` (col2im /
im2col, built on the `conv_patches` primitives)."""
from __future__ import annotations

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..primitives._util import shape_of, dtype_of
from ..primitives.conv import conv_patches, conv_patches_transpose
from ._utils import ntuple
from .module import Module
from .pooling import Upsample, interpolate

__all__ = ["pad", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle",
           "native_channel_shuffle", "upsample", "upsample_nearest", "upsample_bilinear",
           "fold", "unfold",
           "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d",
           "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
           "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d",
           "CircularPad2d", "CircularPad3d", "PixelShuffle", "PixelUnshuffle", "ChannelShuffle",
           "UpsamplingNearest2d", "UpsamplingBilinear2d", "Fold", "Unfold"]


# ------------------------------------------------------------------ padding
_NUMPY_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}
_SCALARS = (bool, int, float, complex, np.generic)


def _pad_pairs(pad, shape):
    """PyTorch's flat pad tuple (last axis first) as per-axis (low, high) pairs, first axis
    first."""
    if isinstance(pad, (int, np.integer)):
        raise TypeError(f"pad: pad must be a tuple of ints (last axis first), got {pad!r}")
    pad = tuple(pad)
    if not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pad):
        raise TypeError(f"pad: pad must be a tuple of ints, got {pad!r}")
    if len(pad) % 2:
        raise ValueError(f"pad: pad {pad} has odd length {len(pad)}; give (low, high) pairs, "
                         "the last axis first")
    rank = len(shape)
    if len(pad) > 2 * rank:
        raise ValueError(f"pad: pad {pad} pads {len(pad) // 2} axes, but the input of shape "
                         f"{shape} has only {rank}; give at most {rank} (low, high) pairs")
    pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)][::-1]
    return [(0, 0)] * (rank - len(pairs)) + pairs


def _crop(a, pairs):
    """Drops -low / -high elements at each axis's ends where they are negative."""
    for ax, (lo, hi) in enumerate(pairs):
        if lo < 0 or hi < 0:
            n = shape_of(a)[ax]
            a = lax.slice_in_dim(a, max(-lo, 0), n - max(-hi, 0), axis=ax)
    return a


def pad(input, pad, mode="constant", value=None):
    """Pads `input` (PyTorch's F.pad). `pad` lists (low, high) pairs starting from the last
    axis: (left, right) pads the last axis, (left, right, top, bottom) the last two, and so
    on; negative entries crop. Modes: "constant" (with `value`, default 0; any rank and any
    number of axes), "reflect" (mirror without repeating the edge; each pad less than the
    axis size), "replicate" (repeat the edge) and "circular" (wrap around, at most once);
    the last three pad the last 1, 2 or 3 axes of an input with one or two more axes."""
    x = fnp.asarray(input)
    shape = shape_of(x)
    rank = len(shape)
    pairs = _pad_pairs(pad, shape)
    if mode not in ("constant",) + tuple(_NUMPY_MODE):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or "
                         f"'circular', got {mode!r}")
    if mode == "constant":
        for ax, ((lo, hi), n) in enumerate(zip(pairs, shape)):
            if max(-lo, 0) + max(-hi, 0) > n:       # PyTorch crops before it pads
                raise ValueError(f"pad: pad {(lo, hi)} crops {max(-lo, 0) + max(-hi, 0)} "
                                 f"elements from axis {ax} of input shape {shape}, more "
                                 "than it has")
        value = 0 if value is None else value
        if isinstance(value, _SCALARS):         # cast to the input's dtype, as PyTorch does
            fill = lax.full((), value, dtype_of(x), like=x)
        else:
            fill = lax.convert_element_type(fnp.asarray(value), dtype_of(x))
        return lax.pad(x, fill, [(lo, hi, 0) for lo, hi in pairs])
    if value is not None and not (isinstance(value, _SCALARS) and value == 0):
        raise ValueError(f"pad: mode {mode!r} takes no value (got value={value!r}); use "
                         "mode='constant' to pad with a value")
    k = len(tuple(pad)) // 2
    if k not in (1, 2, 3) or rank not in (k + 1, k + 2):
        raise ValueError(f"pad: {mode} padding of {k} axes (pad of length {2 * k}) needs a "
                         f"{k + 1}-d or {k + 2}-d input, got shape {shape}; pad (left, right) "
                         "works on 2-d or 3-d input, 4 entries on 3-d or 4-d, 6 entries on "
                         "4-d or 5-d")
    for ax in range(rank - k, rank):
        (lo, hi), n = pairs[ax], shape[ax]
        out = n + lo + hi
        if n == 0 and mode != "circular":
            raise ValueError(f"pad: {mode} padding needs non-empty padded axes, but axis "
                             f"{ax} of input shape {shape} is empty")
        if out < 0:
            raise ValueError(f"pad: pad {(lo, hi)} crops axis {ax} of input shape {shape} "
                             f"to a negative size {out}")
        if mode == "reflect" and (lo >= n or hi >= n):
            raise ValueError(f"pad: reflect padding {(lo, hi)} of axis {ax} must be less than "
                             f"its size {n} (input shape {shape}); pad less, or use "
                             "mode='replicate' or 'circular'")
        kept = n - max(-lo, 0) - max(-hi, 0)
        if mode == "circular" and (lo > kept or hi > kept):
            raise ValueError(f"pad: circular padding {(lo, hi)} of axis {ax} (size {n}, "
                             f"{kept} left after cropping) would wrap around more than "
                             "once; pad at most the axis size")
    sizes = tuple(n + lo + hi for n, (lo, hi) in zip(shape[rank - k:], pairs[rank - k:]))
    if mode != "circular" and not any(sizes):
        raise ValueError(f"pad: pad {tuple(pad)} leaves padded axes of sizes {sizes} (input "
                         f"shape {shape}); {mode} padding must leave one of them non-empty")
    if mode == "circular":        # PyTorch crops first and wraps around what is left
        x = _crop(x, pairs)
        widths = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
        return fnp.pad(x, widths, mode="wrap") if any(lo or hi for lo, hi in widths) else x
    # reflect and replicate pad from the whole axis, then crop
    widths = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
    if any(lo or hi for lo, hi in widths):
        x = fnp.pad(x, widths, mode=_NUMPY_MODE[mode])
    return _crop(x, [(min(lo, 0), min(hi, 0)) for lo, hi in pairs])


def _padding(padding, nd, cls):
    if isinstance(padding, (int, np.integer)):
        return (int(padding),) * (2 * nd)
    padding = tuple(int(p) for p in padding)
    if len(padding) != 2 * nd:
        sides = ("left", "right", "top", "bottom", "front", "back")[:2 * nd]
        raise ValueError(f"{cls}: padding must be an int or {2 * nd} ints "
                         f"({', '.join(sides)}), got {padding}")
    return padding


class _PadNd(Module):
    _mode = "constant"
    _nd = 1

    def __init__(self, padding):
        self.padding = _padding(padding, self._nd, type(self).__name__)

    def __call__(self, x, *, key=None):
        return pad(x, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        self.padding = _padding(padding, self._nd, type(self).__name__)
        self.value = value

    def __call__(self, x, *, key=None):
        return pad(x, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd):
    """Pads with zeros on the last axis; `padding`: an int or (left, right)."""
    _nd = 1


class ZeroPad2d(_ZeroPadNd):
    """Pads with zeros on the last 2 axes; `padding`: an int or (left, right, top, bottom)."""
    _nd = 2


class ZeroPad3d(_ZeroPadNd):
    """Pads with zeros on the last 3 axes; `padding`: an int or (left, right, top, bottom,
    front, back)."""
    _nd = 3


class ConstantPad1d(_ConstantPadNd):
    """Pads with `value` on the last axis; `padding`: an int or (left, right)."""
    _nd = 1


class ConstantPad2d(_ConstantPadNd):
    """Pads with `value` on the last 2 axes; `padding`: an int or (left, right, top, bottom)."""
    _nd = 2


class ConstantPad3d(_ConstantPadNd):
    """Pads with `value` on the last 3 axes; `padding`: an int or (left, right, top, bottom,
    front, back)."""
    _nd = 3


class ReflectionPad1d(_PadNd):
    """Reflection padding (the edge not repeated) on the last axis; `padding`: an int or (left,
    right)."""
    _mode = "reflect"
    _nd = 1


class ReflectionPad2d(_PadNd):
    """Reflection padding (the edge not repeated) on the last 2 axes; `padding`: an int or
    (left, right, top, bottom)."""
    _mode = "reflect"
    _nd = 2


class ReflectionPad3d(_PadNd):
    """Reflection padding (the edge not repeated) on the last 3 axes; `padding`: an int or
    (left, right, top, bottom, front, back)."""
    _mode = "reflect"
    _nd = 3


class ReplicationPad1d(_PadNd):
    """Replication padding (the edge repeated) on the last axis; `padding`: an int or (left,
    right)."""
    _mode = "replicate"
    _nd = 1


class ReplicationPad2d(_PadNd):
    """Replication padding (the edge repeated) on the last 2 axes; `padding`: an int or (left,
    right, top, bottom)."""
    _mode = "replicate"
    _nd = 2


class ReplicationPad3d(_PadNd):
    """Replication padding (the edge repeated) on the last 3 axes; `padding`: an int or (left,
    right, top, bottom, front, back)."""
    _mode = "replicate"
    _nd = 3


class CircularPad1d(_PadNd):
    """Circular padding (wrapping around) on the last axis; `padding`: an int or (left,
    right)."""
    _mode = "circular"
    _nd = 1


class CircularPad2d(_PadNd):
    """Circular padding (wrapping around) on the last 2 axes; `padding`: an int or (left, right,
    top, bottom)."""
    _mode = "circular"
    _nd = 2


class CircularPad3d(_PadNd):
    """Circular padding (wrapping around) on the last 3 axes; `padding`: an int or (left, right,
    top, bottom, front, back)."""
    _mode = "circular"
    _nd = 3


# ------------------------------------------------------------------ pixel and channel shuffles
def _positive(v, name, fn):
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{fn}: {name} must be a positive int, got {v!r}")
    return int(v)


def pixel_shuffle(input, upscale_factor):
    """(*, C * r * r, H, W) -> (*, C, H * r, W * r) with r = `upscale_factor`: each group of
    r * r channels becomes an r-by-r block of pixels."""
    x = fnp.asarray(input)
    r = _positive(upscale_factor, "upscale_factor", "pixel_shuffle")
    shape = shape_of(x)
    if len(shape) < 3:
        raise ValueError(f"pixel_shuffle needs an input of at least 3 dimensions (*, C, H, "
                         f"W), got shape {shape}")
    *lead, c, h, w = shape
    if c % (r * r):
        raise ValueError(f"pixel_shuffle: the channel axis (size {c}, input shape {shape}) "
                         f"must be divisible by upscale_factor ** 2 = {r * r}")
    lead, b = tuple(lead), len(lead)
    x = lax.reshape(x, lead + (c // (r * r), r, r, h, w))
    x = lax.transpose(x, tuple(range(b)) + tuple(b + i for i in (0, 3, 1, 4, 2)))
    return lax.reshape(x, lead + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H * r, W * r) -> (*, C * r * r, H, W) with r = `downscale_factor`: the inverse
    of `pixel_shuffle`."""
    x = fnp.asarray(input)
    r = _positive(downscale_factor, "downscale_factor", "pixel_unshuffle")
    shape = shape_of(x)
    if len(shape) < 3:
        raise ValueError(f"pixel_unshuffle needs an input of at least 3 dimensions (*, C, H, "
                         f"W), got shape {shape}")
    *lead, c, h, w = shape
    if h % r or w % r:
        raise ValueError(f"pixel_unshuffle: height {h} and width {w} (input shape {shape}) "
                         f"must be divisible by downscale_factor {r}")
    lead, b = tuple(lead), len(lead)
    x = lax.reshape(x, lead + (c, h // r, r, w // r, r))
    x = lax.transpose(x, tuple(range(b)) + tuple(b + i for i in (0, 2, 4, 1, 3)))
    return lax.reshape(x, lead + (c * r * r, h // r, w // r))


def channel_shuffle(input, groups):
    """Shuffles the channels of (N, C, *) input: viewed as (N, groups, C / groups, *), the
    two channel axes are swapped."""
    x = fnp.asarray(input)
    g = _positive(groups, "groups", "channel_shuffle")
    shape = shape_of(x)
    if len(shape) < 3:
        raise ValueError(f"channel_shuffle needs an input of more than 2 dimensions (N, C, "
                         f"*), got shape {shape}")
    n, c, *rest = shape
    if c % g:
        raise ValueError(f"channel_shuffle: the {c} channels (input shape {shape}) must be "
                         f"divisible by groups={g}")
    x = lax.reshape(x, (n, g, c // g) + tuple(rest))
    x = lax.transpose(x, (0, 2, 1) + tuple(range(3, len(shape) + 1)))
    return lax.reshape(x, shape)


def native_channel_shuffle(input, groups):
    """`channel_shuffle` (PyTorch's name for its native kernel)."""
    return channel_shuffle(input, groups)


class PixelShuffle(Module):
    """Rearranges (*, C * r * r, H, W) into (*, C, H * r, W * r) (see `pixel_shuffle`)."""

    def __init__(self, upscale_factor):
        self.upscale_factor = _positive(upscale_factor, "upscale_factor", "PixelShuffle")

    def __call__(self, x, *, key=None):
        return pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """Rearranges (*, C, H * r, W * r) into (*, C * r * r, H, W) (see `pixel_unshuffle`)."""

    def __init__(self, downscale_factor):
        self.downscale_factor = _positive(downscale_factor, "downscale_factor",
                                          "PixelUnshuffle")

    def __call__(self, x, *, key=None):
        return pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """Shuffles the channels of (N, C, *) input in `groups` (see `channel_shuffle`)."""

    def __init__(self, groups):
        self.groups = _positive(groups, "groups", "ChannelShuffle")

    def __call__(self, x, *, key=None):
        return channel_shuffle(x, self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"


# ------------------------------------------------------------------ upsampling aliases
def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """PyTorch's deprecated name of `interpolate`."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """PyTorch's deprecated `interpolate(..., mode="nearest")`."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """PyTorch's deprecated `interpolate(..., mode="bilinear", align_corners=True)`."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


class UpsamplingNearest2d(Upsample):
    """`Upsample(size, scale_factor, mode="nearest")` (PyTorch's deprecated alias)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """`Upsample(size, scale_factor, mode="bilinear", align_corners=True)` (PyTorch's
    deprecated alias)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


# ------------------------------------------------------------------ fold / unfold
def _block_geometry(fn, kernel_size, dilation, padding, stride):
    k = ntuple(kernel_size, 2, f"{fn}: kernel_size")
    d = ntuple(dilation, 2, f"{fn}: dilation")
    p = ntuple(padding, 2, f"{fn}: padding")
    s = ntuple(stride, 2, f"{fn}: stride")
    for name, v, low in (("kernel_size", k, 1), ("dilation", d, 1), ("padding", p, 0),
                         ("stride", s, 1)):
        if min(v) < low:
            raise ValueError(f"{fn}: {name} must be {'positive' if low else 'non-negative'}, "
                             f"got {v}")
    return k, d, p, s


def _blocks(fn, spatial, k, d, p, s):
    """The number of sliding blocks along each spatial axis (each must be at least one)."""
    out = tuple((n + 2 * pi - di * (ki - 1) - 1) // si + 1
                for n, ki, di, pi, si in zip(spatial, k, d, p, s))
    if min(out) < 1:
        raise ValueError(f"{fn}: spatial size {tuple(spatial)} with kernel_size={k}, "
                         f"dilation={d}, padding={p}, stride={s} holds {out} sliding blocks; "
                         "each must be at least one (use a smaller kernel or more padding)")
    return out


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """im2col: every `kernel_size` block of (N, C, H, W) (or (C, H, W)) input, zero-padded by
    `padding` and sliding by `stride`, as the columns of (N, C * kh * kw, L) (or
    (C * kh * kw, L)), channels first within a column, blocks in row-major order."""
    x = fnp.asarray(input)
    shape = shape_of(x)
    if len(shape) not in (3, 4):
        raise ValueError(f"unfold needs a 4-d (N, C, H, W) or 3-d (C, H, W) input, got shape "
                         f"{shape}")
    k, d, p, s = _block_geometry("unfold", kernel_size, dilation, padding, stride)
    batched = len(shape) == 4
    if not batched:
        x = lax.expand_dims(x, (0,))
    n, c, h, w = shape_of(x)
    oh, ow = _blocks("unfold", (h, w), k, d, p, s)
    patches = conv_patches(x, k, s, tuple((pi, pi) for pi in p), (1, 1), d)  # (C,kh,kw,N,oh,ow)
    cols = lax.transpose(lax.reshape(patches, (c * k[0] * k[1], n, oh * ow)), (1, 0, 2))
    return cols if batched else lax.reshape(cols, shape_of(cols)[1:])


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """col2im, the adjoint of `unfold`: sums the blocks in the columns of (N, C * kh * kw, L)
    (or (C * kh * kw, L)) input into an (N, C, *output_size) (or (C, *output_size)) image;
    overlapping blocks add up."""
    x = fnp.asarray(input)
    shape = shape_of(x)
    if len(shape) not in (2, 3):
        raise ValueError(f"fold needs a 3-d (N, C * kh * kw, L) or 2-d (C * kh * kw, L) "
                         f"input, got shape {shape}")
    size = ntuple(output_size, 2, "fold: output_size")
    k, d, p, s = _block_geometry("fold", kernel_size, dilation, padding, stride)
    batched = len(shape) == 3
    if not batched:
        x = lax.expand_dims(x, (0,))
    n, ck, length = shape_of(x)
    if ck % (k[0] * k[1]):
        raise ValueError(f"fold: the input's dimension 1 (size {ck}, input shape {shape}) must "
                         f"be divisible by the product of kernel_size {k}")
    oh, ow = _blocks("fold", size, k, d, p, s)
    if length != oh * ow:
        raise ValueError(f"fold: output_size={size}, kernel_size={k}, dilation={d}, "
                         f"padding={p}, stride={s} give {oh} * {ow} = {oh * ow} sliding "
                         f"blocks, but the input (shape {shape}) has {length} columns")
    c = ck // (k[0] * k[1])
    patches = lax.reshape(lax.transpose(x, (1, 0, 2)), (c,) + k + (n, oh, ow))
    out = conv_patches_transpose(patches, (n, c) + size, k, s, tuple((pi, pi) for pi in p),
                                 (1, 1), d)
    return out if batched else lax.reshape(out, shape_of(out)[1:])


def _arg(v):
    return tuple(v) if isinstance(v, list) else v


class Unfold(Module):
    """Extracts sliding blocks as columns (see `unfold`)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        self.kernel_size, self.dilation = _arg(kernel_size), _arg(dilation)
        self.padding, self.stride = _arg(padding), _arg(stride)
        _block_geometry("Unfold", kernel_size, dilation, padding, stride)

    def __call__(self, x, *, key=None):
        return unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Module):
    """Sums columns of sliding blocks into an image of `output_size` (see `fold`)."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        self.output_size, self.kernel_size = _arg(output_size), _arg(kernel_size)
        self.dilation, self.padding, self.stride = _arg(dilation), _arg(padding), _arg(stride)
        ntuple(output_size, 2, "Fold: output_size")
        _block_geometry("Fold", kernel_size, dilation, padding, stride)

    def __call__(self, x, *, key=None):
        return fold(x, self.output_size, self.kernel_size, self.dilation, self.padding,
                    self.stride)

    def extra_repr(self):
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")
