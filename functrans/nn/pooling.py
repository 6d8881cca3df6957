"""Adaptive pooling and resizing layers: AdaptiveAvgPool1d/2d, AdaptiveMaxPool1d/2d (PyTorch's
bins: output cell i covers input positions floor(i * L / out) to ceil((i + 1) * L / out)) and
Upsample (nearest, nearest-exact, linear, bilinear, trilinear, area)."""
from __future__ import annotations

from . import functional as F
from .module import Module, field

__all__ = ["AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
           "Upsample"]


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
        return F.adaptive_avg_pool1d(x, self.output_size)


class AdaptiveAvgPool2d(_Adaptive):
    """Averages NCHW or CHW input over adaptive bins; `output_size` is an int or (oh, ow),
    where None keeps that input size (`AdaptiveAvgPool2d(1)` is global average pooling)."""

    def __call__(self, x, *, key=None):
        return F.adaptive_avg_pool2d(x, self.output_size)


class _AdaptiveMax(_Adaptive):
    def __init__(self, output_size, return_indices=False):
        self.output_size = _output_size(output_size)
        self.return_indices = bool(return_indices)


class AdaptiveMaxPool1d(_AdaptiveMax):
    """Maximum of (N, C, L) or (C, L) input over adaptive bins (`return_indices` also gives
    their positions)."""

    def __call__(self, x, *, key=None):
        return F.adaptive_max_pool1d(x, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(_AdaptiveMax):
    """Maximum of NCHW or CHW input over adaptive bins (`return_indices` also gives each
    maximum's flat position in its plane)."""

    def __call__(self, x, *, key=None):
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)


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
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self):
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else \
            f"size={self.size!r}"
        return info + f", mode={self.mode!r}"
