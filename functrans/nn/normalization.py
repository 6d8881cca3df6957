"""Normalization layers: LayerNorm, RMSNorm, BatchNorm1d/2d/3d, SyncBatchNorm, GroupNorm,
InstanceNorm1d/2d/3d, LocalResponseNorm (PyTorch's arguments, defaults, initialization,
buffers and printing).

BatchNorm's running statistics are buffers (see `ft.nn.module`): in training mode the layer
records their new values with `update_buffers`, so call the model through `ft.nn.stateful`
(which returns the updated model) or switch to `model = model.eval()`.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..primitives._util import as_shape, shape_of, dtype_of
from ..primitives.windowed import reduce_window_sum
from . import init
from ._utils import as_floating, float_dtype, per_channel
from .module import Module, field

__all__ = ['layer_norm', 'rms_norm', 'batch_norm', 'group_norm', 'instance_norm',
           'local_response_norm', 'LayerNorm', 'RMSNorm', 'BatchNorm1d', 'BatchNorm2d',
           'BatchNorm3d', 'SyncBatchNorm', 'GroupNorm', 'InstanceNorm1d', 'InstanceNorm2d',
           'InstanceNorm3d', 'LocalResponseNorm']


def _trailing_axes(x, normalized_shape, fn):
    """The axes of `x` that `normalized_shape` names: its trailing ones, which must match."""
    normalized_shape = as_shape(normalized_shape, "normalized_shape")
    shape, n = shape_of(x), len(normalized_shape)
    if tuple(shape[len(shape) - n:]) != normalized_shape:
        raise ValueError(f"{fn}: input of shape {shape} does not end with "
                         f"normalized_shape {normalized_shape}")
    return tuple(range(len(shape) - n, len(shape)))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing `normalized_shape` axes (biased variance, as PyTorch),
    then scale by `weight` and shift by `bias`."""
    x = as_floating(input)
    axes = _trailing_axes(x, normalized_shape, "layer_norm")
    mean = fnp.mean(x, axis=axes, keepdims=True)
    centered = lax.sub(x, mean)
    var = fnp.mean(lax.square(centered), axis=axes, keepdims=True)
    out = lax.mul(centered, lax.rsqrt(lax.add(var, eps)))
    if weight is not None:
        out = lax.mul(out, lax.convert_element_type(weight, dtype_of(out)))
    if bias is not None:
        out = lax.add(out, lax.convert_element_type(bias, dtype_of(out)))
    return out


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """Root-mean-square normalization over the trailing `normalized_shape` axes (no
    centering): `x / sqrt(mean(x**2) + eps) * weight`; `eps=None` is the machine epsilon of
    the input's dtype, as in PyTorch."""
    x = as_floating(input)
    axes = _trailing_axes(x, normalized_shape, "rms_norm")
    normalized_shape = as_shape(normalized_shape, "normalized_shape")
    if weight is not None and tuple(shape_of(weight)) != normalized_shape:
        raise ValueError(f"rms_norm: weight has shape {tuple(shape_of(weight))}, it needs "
                         f"normalized_shape {normalized_shape}")
    if eps is None:
        eps = float(np.finfo(dtype_of(x)).eps)
    mean_square = fnp.mean(lax.square(x), axis=axes, keepdims=True)
    out = lax.mul(x, lax.rsqrt(lax.add(mean_square, eps)))
    if weight is not None:
        out = lax.mul(out, lax.convert_element_type(weight, dtype_of(out)))
    return out


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """PyTorch's F.local_response_norm over the channels (axis 1) of (N, C, ...) input:
    `x / (k + alpha * mean of x**2 over `size` neighbouring channels) ** beta`, the window
    zero-padded by size // 2 before and (size - 1) // 2 after each channel."""
    x = as_floating(input)
    shape = shape_of(x)
    if len(shape) < 3:
        raise ValueError(f"local_response_norm needs a 3-d or higher (N, C, ...) input, got "
                         f"shape {shape}")
    if int(size) < 1:
        raise ValueError(f"local_response_norm: size must be a positive int, got {size}")
    size = int(size)
    window = (1, size) + (1,) * (len(shape) - 2)
    pads = ((0, 0), (size // 2, (size - 1) // 2)) + ((0, 0),) * (len(shape) - 2)
    mean_square = lax.div(reduce_window_sum(lax.square(x), window, None, pads), float(size))
    scale = fnp.power(lax.add(lax.mul(mean_square, float(alpha)), float(k)), float(beta))
    return lax.div(x, scale)


def _channel_shape(x, fn, min_rank=2):
    shape = shape_of(x)
    if len(shape) < min_rank:
        raise ValueError(f"{fn} needs an input of shape (N, C, ...), got shape {shape}")
    return shape


def _check_channels(v, c, what, fn):
    if v is not None and tuple(shape_of(v)) != (c,):
        raise ValueError(f"{fn}: {what} has shape {tuple(shape_of(v))} but the input has {c} "
                         f"channels (axis 1); it needs shape ({c},)")


def _affine(out, weight, bias):
    ndim = len(shape_of(out))
    if weight is not None:
        out = lax.mul(out, per_channel(lax.convert_element_type(weight, dtype_of(out)), ndim))
    if bias is not None:
        out = lax.add(out, per_channel(lax.convert_element_type(bias, dtype_of(out)), ndim))
    return out


def _scaled(centered, inv, weight, bias):
    """`_affine(centered * inv, weight, bias)` with the per-channel factors `inv * weight`
    multiplied first: one pass over the data fewer, forward and backward."""
    ndim = len(shape_of(centered))
    if weight is not None:
        inv = lax.mul(inv, lax.convert_element_type(weight, dtype_of(inv)))
    return _affine(lax.mul(centered, per_channel(inv, ndim)), None, bias)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5, *, axis_name=None):
    """PyTorch's F.batch_norm over (N, C, ...) input, statistics per channel (axis 1).

    In training mode the batch's mean and biased variance normalize the input; given running
    statistics, it then returns `(output, new_running_mean, new_running_var)`, updated as
    `(1 - momentum) * running + momentum * batch` with the unbiased batch variance (PyTorch
    updates them in place; here they come back). Otherwise the running statistics normalize
    and only the output is returned. `axis_name` (training only) averages the batch
    statistics over that `vmap` axis with `ft.lax.pmean`, as if its lanes were one batch.
    """
    x = as_floating(input)
    shape = _channel_shape(x, "batch_norm")
    c = shape[1]
    for v, what in ((running_mean, "running_mean"), (running_var, "running_var"),
                    (weight, "weight"), (bias, "bias")):
        _check_channels(v, c, what, "batch_norm")
    ndim = len(shape)
    axes = (0,) + tuple(range(2, ndim))
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: in eval mode (training=False) it needs running_mean "
                             "and running_var")
        dt = dtype_of(x)
        mean = lax.convert_element_type(running_mean, dt)
        inv = lax.rsqrt(lax.add(lax.convert_element_type(running_var, dt), eps))
        return _scaled(lax.sub(x, per_channel(mean, ndim)), inv, weight, bias)
    count = math.prod(shape) // c
    if count == 1 and axis_name is None:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {shape}")
    mean = lax.div(lax.reduce_sum(x, axes), float(count))
    if axis_name is not None:
        mean = lax.pmean(mean, axis_name)
    centered = lax.sub(x, per_channel(mean, ndim))
    var = lax.div(lax.reduce_sum(lax.square(centered), axes), float(count))
    if axis_name is not None:
        var = lax.pmean(var, axis_name)
    out = _scaled(centered, lax.rsqrt(lax.add(var, eps)), weight, bias)
    if running_mean is None and running_var is None:
        return out
    if axis_name is None:
        correction = count / (count - 1)
    else:               # the count over the whole axis, in the statistics' dtype
        total = lax.psum(lax.full((), float(count), dtype_of(var)), axis_name)
        correction = lax.div(total, lax.sub(total, 1.0))
    unbiased = lax.mul(lax.stop_gradient(var), correction)
    new_mean = None if running_mean is None else _running(running_mean, mean, momentum)
    new_var = None if running_var is None else _running(running_var, unbiased, momentum)
    return out, new_mean, new_var


def _running(old, batch, momentum):
    """`momentum * batch + (1 - momentum) * old`, in `old`'s dtype, with no derivative;
    `momentum` a number or an array (the cumulative average's 1 / count)."""
    dt = dtype_of(old)
    batch = lax.convert_element_type(lax.stop_gradient(batch), dt)
    old = lax.stop_gradient(lax.convert_element_type(old, dt))
    if isinstance(momentum, (int, float)):
        m, rest = float(momentum), 1.0 - float(momentum)
    else:
        m = lax.convert_element_type(lax.stop_gradient(momentum), dt)
        rest = lax.sub(1.0, m)
    return lax.add(lax.mul(batch, m), lax.mul(old, rest))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """PyTorch's F.group_norm: (N, C, ...) input, channels split into `num_groups` groups,
    each normalized over its channels and all spatial positions; then per-channel affine."""
    x = as_floating(input)
    shape = _channel_shape(x, "group_norm")
    n, c = shape[:2]
    if num_groups < 1 or c % num_groups:
        raise ValueError(f"group_norm: the {c} channels of the input (shape {shape}) do not "
                         f"split into num_groups={num_groups} groups")
    _check_channels(weight, c, "weight", "group_norm")
    _check_channels(bias, c, "bias", "group_norm")
    grouped = lax.reshape(x, (n, num_groups, math.prod(shape) // (n * num_groups)))
    mean = fnp.mean(grouped, axis=2, keepdims=True)
    centered = lax.sub(grouped, mean)
    var = fnp.mean(lax.square(centered), axis=2, keepdims=True)
    out = lax.reshape(lax.mul(centered, lax.rsqrt(lax.add(var, eps))), shape)
    return _affine(out, weight, bias)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """PyTorch's F.instance_norm: each (sample, channel) of (N, C, ...) input normalized over
    its spatial positions. Given running statistics with `use_input_stats`, returns
    `(output, new_running_mean, new_running_var)`, the running statistics moved toward the
    batch averages of the instances' means and unbiased variances (PyTorch updates them in
    place); without `use_input_stats` the running statistics normalize."""
    x = as_floating(input)
    shape = _channel_shape(x, "instance_norm", 3)
    c = shape[1]
    for v, what in ((running_mean, "running_mean"), (running_var, "running_var"),
                    (weight, "weight"), (bias, "bias")):
        _check_channels(v, c, what, "instance_norm")
    if not use_input_stats:
        return batch_norm(x, running_mean, running_var, weight, bias, False, momentum, eps)
    axes = tuple(range(2, len(shape)))
    count = math.prod(shape[2:])
    if count == 1:
        raise ValueError(f"instance_norm: expected more than 1 spatial element when training, "
                         f"got input of shape {shape}")
    mean = fnp.mean(x, axis=axes, keepdims=True)
    centered = lax.sub(x, mean)
    var = fnp.mean(lax.square(centered), axis=axes, keepdims=True)
    out = _affine(lax.mul(centered, lax.rsqrt(lax.add(var, eps))), weight, bias)
    if running_mean is None and running_var is None:
        return out
    new_mean = None if running_mean is None else \
        _running(running_mean, fnp.mean(lax.reshape(mean, shape[:2]), axis=0), momentum)
    new_var = None if running_var is None else _running(
        running_var, lax.mul(fnp.mean(lax.reshape(var, shape[:2]), axis=0), count / (count - 1)),
        momentum)
    return out, new_mean, new_var


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
                return batch_norm(x, self.running_mean, self.running_var, self.weight,
                                    self.bias, False, 0.0, self.eps)
            return batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps,
                                axis_name=self.axis_name)
        if not self.track_running_stats:
            return batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps,
                                axis_name=self.axis_name)
        count = self.get_buffer("num_batches_tracked") + 1
        factor = 1.0 / count.astype(np.float64) if self.momentum is None else self.momentum
        out, mean, var = batch_norm(x, self.get_buffer("running_mean"),
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


class BatchNorm3d(_BatchNorm):
    """Batch normalization of (N, C, D, H, W) input over the batch and spatial axes.
    `momentum=None` makes the running statistics a cumulative average; `axis_name` averages
    the batch statistics over that `vmap` axis."""
    _ranks = (5,)


class SyncBatchNorm(_BatchNorm):
    """PyTorch's SyncBatchNorm: batch normalization of (N, C, ...) input whose training-mode
    statistics are averaged over the named axis `process_group` (the `axis_name` of the
    enclosing `ft.vmap` or `ft.pmap`), as if all its lanes or devices held one batch. With
    `process_group=None` it is plain batch normalization (PyTorch's single-process fallback).
    `SyncBatchNorm.convert_sync_batchnorm(model, "batch")` returns a copy of a model with
    every BatchNorm*d replaced."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, process_group=None, *, bias=True, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, bias=bias,
                         axis_name=process_group, dtype=dtype)

    def __call__(self, x, *, key=None):
        """As BatchNorm; statistics are shared over `process_group` in training mode only
        (PyTorch does not synchronize in eval mode, even without running statistics)."""
        if not self.training and self.axis_name is not None:
            return _BatchNorm.__call__(self.replace(axis_name=None), x)
        return _BatchNorm.__call__(self, x)

    @property
    def process_group(self):
        """The named axis the statistics are averaged over (None: this batch only)."""
        return self.axis_name

    def _check_input(self, x):
        x = fnp.asarray(x)
        if x.ndim < 2:
            raise ValueError(f"SyncBatchNorm: expected at least 2D input (got {x.ndim}D input "
                             f"of shape {x.shape})")
        return x

    def extra_repr(self):
        s = _NormBase.extra_repr(self)
        return s if self.axis_name is None else s + f", process_group={self.axis_name!r}"

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """A copy of `module` with every BatchNorm1d/2d/3d (itself included) replaced by a
        SyncBatchNorm over `process_group` holding the same parameters, running statistics
        and training flag; the original is unchanged."""
        from ..tree_util import tree_map

        def convert(m):
            if not isinstance(m, _BatchNorm):
                return m
            new = cls(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats,
                      process_group, bias=m.bias is not None)
            return new.replace(weight=m.weight, bias=m.bias, running_mean=m.running_mean,
                               running_var=m.running_var,
                               num_batches_tracked=m.num_batches_tracked, training=m.training)
        return tree_map(convert, module, is_leaf=lambda m: isinstance(m, _BatchNorm))


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
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")


class _InstanceNorm(_NormBase):

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, *, bias=True, dtype=None):
        self._setup(num_features, eps, momentum, affine, track_running_stats, bias, dtype)

    def __call__(self, x, *, key=None):
        x = self._check_input(x)
        unbatched = x.ndim == self._ranks[0]
        if unbatched:
            x = x[None]
        if x.shape[1] != self.num_features:
            if self.affine or self.track_running_stats:
                raise ValueError(f"{type(self).__name__}({self.num_features}): expected "
                                 f"input's size at dim=1 to match num_features "
                                 f"({self.num_features}), but got: {x.shape[1]}")
            warnings.warn(f"{type(self).__name__}: input's size at dim=1 ({x.shape[1]}) does "
                          f"not match num_features ({self.num_features}); it is not used because "
                          "affine=False", stacklevel=2)
        use_input_stats = self.training or not self.track_running_stats
        if self.track_running_stats and use_input_stats and self.momentum is not None:
            out, mean, var = instance_norm(x, self.get_buffer("running_mean"),
                                             self.get_buffer("running_var"), self.weight,
                                             self.bias, True, self.momentum, self.eps)
            self.update_buffers(running_mean=mean, running_var=var)
        else:
            tracked = self.track_running_stats and not use_input_stats
            out = instance_norm(x, self.running_mean if tracked else None,
                                  self.running_var if tracked else None, self.weight,
                                  self.bias, use_input_stats, 0.0, self.eps)
        return out[0] if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Normalizes each (sample, channel) row of (N, C, L) (or (C, L)) input over its length.
    With `track_running_stats`, training mode records running averages of the instances'
    statistics (call the model through `ft.nn.stateful`) and eval mode uses them."""
    _ranks = (2, 3)


class InstanceNorm2d(_InstanceNorm):
    """Normalizes each (sample, channel) plane of NCHW (or CHW) input over its positions.
    With `track_running_stats`, training mode records running averages of the instances'
    statistics (call the model through `ft.nn.stateful`) and eval mode uses them."""
    _ranks = (3, 4)


class InstanceNorm3d(_InstanceNorm):
    """Normalizes each (sample, channel) volume of (N, C, D, H, W) (or unbatched) input over
    its positions; running statistics as InstanceNorm2d."""
    _ranks = (4, 5)


class RMSNorm(Module):
    """Root-mean-square normalization over the trailing `normalized_shape` axes, with a
    learned scale (`eps=None`: the machine epsilon of the input's dtype)."""
    eps: object = field(static=True)

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, *, dtype=None):
        shape = as_shape(normalized_shape, "normalized_shape")
        self.normalized_shape = shape
        self.eps = None if eps is None else float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.weight = init.ones(shape, float_dtype(dtype)) if elementwise_affine else None

    def __call__(self, x, *, key=None):
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class LocalResponseNorm(Module):
    """Divides each channel of (N, C, ...) input by a power of the mean square over `size`
    neighbouring channels (see `local_response_norm`)."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        self.size, self.alpha, self.beta, self.k = int(size), float(alpha), float(beta), float(k)

    def __call__(self, x, *, key=None):
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class LayerNorm(Module):
    """Normalizes over the trailing `normalized_shape` axes, with learned scale and shift."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, *,
                 dtype=None):
        shape = as_shape(normalized_shape, "normalized_shape")
        dt = float_dtype(dtype)
        self.weight = init.ones(shape, dt) if elementwise_affine else None
        self.bias = init.zeros(shape, dt) if elementwise_affine and bias else None
        self.normalized_shape, self.eps = shape, float(eps)
        self.elementwise_affine = bool(elementwise_affine)

    def __call__(self, x, *, key=None):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")
