"""Normalization layers with running statistics or groups: BatchNorm1d, BatchNorm2d, GroupNorm,
InstanceNorm2d (PyTorch's arguments, defaults, initialization, buffers and printing).

BatchNorm's running statistics are buffers (see `ft.nn.module`): in training mode the layer
records their new values with `update_buffers`, so call the model through `ft.nn.stateful`
(which returns the updated model) or switch to `model = model.eval()`.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import numpy as fnp
from . import functional as F
from . import init
from ._utils import float_dtype
from .module import Module, field

__all__ = ["BatchNorm1d", "BatchNorm2d", "GroupNorm", "InstanceNorm2d"]


class _NormBase(Module):
    momentum: object = field(static=True)      # a float or None (cumulative average)
    _ranks = ()

    def _setup(self, num_features, eps, momentum, affine, track_running_stats, bias, dtype):
        dt = float_dtype(dtype)
        self.num_features, self.eps = int(num_features), float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        self.weight = init.ones((num_features,), dt) if affine else None
        self.bias = init.zeros((num_features,), dt) if affine and bias else None
        if track_running_stats:
            self.register_buffer("running_mean", init.zeros((num_features,), dt))
            self.register_buffer("running_var", init.ones((num_features,), dt))
            self.register_buffer("num_batches_tracked", fnp.zeros((), np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.training = True

    def _check_input(self, x):
        x = fnp.asarray(x)
        if x.ndim not in self._ranks:
            raise ValueError(f"{type(self).__name__}: expected "
                             f"{' or '.join(f'{r}D' for r in self._ranks)} input (got "
                             f"{x.ndim}D input of shape {x.shape})")
        return x

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    axis_name: object = field(static=True)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, *, bias=True, axis_name=None, dtype=None):
        self._setup(num_features, eps, momentum, affine, track_running_stats, bias, dtype)
        self.axis_name = axis_name

    def __call__(self, x, *, key=None):
        """Training mode normalizes with the batch's statistics and, with
        `track_running_stats`, records the updated running statistics (call the model
        through `ft.nn.stateful`); eval mode uses the running statistics."""
        x = self._check_input(x)
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): the input of shape "
                             f"{x.shape} has {x.shape[1]} channels (axis 1), expected "
                             f"{self.num_features}")
        if not self.training:
            if self.track_running_stats:
                return F.batch_norm(x, self.running_mean, self.running_var, self.weight,
                                    self.bias, False, 0.0, self.eps)
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps,
                                axis_name=self.axis_name)
        if not self.track_running_stats:
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps,
                                axis_name=self.axis_name)
        count = self.get_buffer("num_batches_tracked") + 1
        factor = 1.0 / count.astype(np.float64) if self.momentum is None else self.momentum
        out, mean, var = F.batch_norm(x, self.get_buffer("running_mean"),
                                      self.get_buffer("running_var"), self.weight, self.bias,
                                      True, factor, self.eps, axis_name=self.axis_name)
        self.update_buffers(running_mean=mean, running_var=var, num_batches_tracked=count)
        return out

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.axis_name is None else s + f", axis_name={self.axis_name!r}"


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) input over the batch (and length) axes.
    `momentum=None` makes the running statistics a cumulative average; `axis_name` averages
    the batch statistics over that `vmap` axis."""
    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of NCHW input over the batch and spatial axes.
    `momentum=None` makes the running statistics a cumulative average; `axis_name` averages
    the batch statistics over that `vmap` axis."""
    _ranks = (4,)


class GroupNorm(Module):
    """Normalizes each sample's channels in `num_groups` groups (over the group's channels
    and all positions), then applies a per-channel scale and shift."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, *, bias=True,
                 dtype=None):
        if num_groups < 1 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        dt = float_dtype(dtype)
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps, self.affine = float(eps), bool(affine)
        self.weight = init.ones((num_channels,), dt) if affine else None
        self.bias = init.zeros((num_channels,), dt) if affine and bias else None

    def __call__(self, x, *, key=None):
        x = fnp.asarray(x)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm({self.num_groups}, {self.num_channels}): expected "
                             f"input of shape (N, {self.num_channels}, ...), got {x.shape}")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")


class InstanceNorm2d(_NormBase):
    """Normalizes each (sample, channel) plane of NCHW (or CHW) input over its positions.
    With `track_running_stats`, training mode records running averages of the instances'
    statistics (call the model through `ft.nn.stateful`) and eval mode uses them."""
    _ranks = (3, 4)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, *, bias=True, dtype=None):
        self._setup(num_features, eps, momentum, affine, track_running_stats, bias, dtype)

    def __call__(self, x, *, key=None):
        x = self._check_input(x)
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        if x.shape[1] != self.num_features:
            if self.affine or self.track_running_stats:
                raise ValueError(f"InstanceNorm2d({self.num_features}): expected input's size "
                                 f"at dim=1 to match num_features ({self.num_features}), but "
                                 f"got: {x.shape[1]}")
            warnings.warn(f"InstanceNorm2d: input's size at dim=1 ({x.shape[1]}) does not "
                          f"match num_features ({self.num_features}); it is not used because "
                          "affine=False", stacklevel=2)
        use_input_stats = self.training or not self.track_running_stats
        if self.track_running_stats and use_input_stats and self.momentum is not None:
            out, mean, var = F.instance_norm(x, self.get_buffer("running_mean"),
                                             self.get_buffer("running_var"), self.weight,
                                             self.bias, True, self.momentum, self.eps)
            self.update_buffers(running_mean=mean, running_var=var)
        else:
            tracked = self.track_running_stats and not use_input_stats
            out = F.instance_norm(x, self.running_mean if tracked else None,
                                  self.running_var if tracked else None, self.weight,
                                  self.bias, use_input_stats, 0.0, self.eps)
        return out[0] if unbatched else out
