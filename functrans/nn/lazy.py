"""PyTorch's lazy layers, whose input size comes from the first input: `LazyLinear`,
`LazyConv1d`/`2d`/`3d`, `LazyConvTranspose1d`/`2d`/`3d`, `LazyBatchNorm1d`/`2d`/`3d` and
`LazyInstanceNorm1d`/`2d`/`3d`.

PyTorch's lazy module allocates its parameters during its first forward call and turns into
the ordinary layer in place. Modules here are immutable pytrees whose parameters exist from
construction, so the first call cannot change the model: instead `init_lazy(model, *example)`
runs the model once on example inputs and returns a model in which every lazy layer that ran
is replaced by the ordinary layer (`Linear`, `Conv2d`, ...) built for the input it saw, as
Flax infers shapes in `model.init(key, x)`. A lazy layer keeps the `key` it was given (as a
non-persistent buffer: neither a parameter nor saved), so its parameters are the ones the
ordinary layer would draw from that key (the norm layers take no key, as their ordinary
layers). Until then it has no parameters, and calling it outside `init_lazy` raises, saying
what to do.

    class Net(ft.nn.Module):
        def __init__(self, key):
            k1, k2 = ft.random.split(key)
            self.conv = ft.nn.LazyConv2d(6, 5, key=k1)
            self.fc = ft.nn.LazyLinear(10, key=k2)

        def __call__(self, x):
            return self.fc(ft.nn.relu(self.conv(x)).reshape(x.shape[0], -1))

    model = ft.nn.init_lazy(Net(ft.random.key(0)), images[:1])    # now Conv2d and Linear
"""
from __future__ import annotations

import threading

from .. import numpy as fnp
from ..core import places_operands
from ..primitives._util import shape_of
from ..tree_util import tree_map
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .discarded import refuse_discarded
from .layers import Linear
from .module import Module, stateful
from .normalization import (BatchNorm1d, BatchNorm2d, BatchNorm3d, InstanceNorm1d,
                            InstanceNorm2d, InstanceNorm3d)

__all__ = ["init_lazy", "LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d",
           "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d",
           "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyInstanceNorm1d",
           "LazyInstanceNorm2d", "LazyInstanceNorm3d"]

_state = threading.local()


def _sessions():
    """The `init_lazy` calls running in this thread, innermost last: each a dict
    id(lazy layer) -> (the layer, the layer it became)."""
    stack = getattr(_state, "stack", None)
    if stack is None:
        stack = _state.stack = []
    return stack


class _LazyModule(Module):
    """A layer of class `cls_to_become` missing its input size (see the module docstring)."""
    cls_to_become = None

    def _keep(self, key, dtype, **config):
        self.config = tuple(config.items())     # the other constructor arguments (static)
        self.dtype = dtype
        if key is not None:
            # a copy: one key given to two lazy layers is not one array at two places
            self.register_buffer("key", fnp.array(key), persistent=False)

    def _in_size(self, x):
        raise NotImplementedError

    def _build(self, in_size):
        key = getattr(self, "key", None)
        keyed = {} if key is None else {"key": key}
        return self.cls_to_become(in_size, **dict(self.config), **keyed, dtype=self.dtype)

    def materialize(self, x):
        """The `cls_to_become` layer for input `x`, its parameters drawn from this key (and in
        this layer's training mode)."""
        layer = self._build(self._in_size(x))
        return layer if getattr(self, "training", True) else layer.eval()

    def _probe(self, layer):
        """The layer as `init_lazy`'s call runs it."""
        return layer

    def __call__(self, x, *args, **kwargs):
        stack = _sessions()
        if not stack:
            name = self.cls_to_become.__name__
            raise RuntimeError(
                f"{type(self).__name__}({self._arguments()}) has no parameters yet: its input "
                f"size comes from its first input, and functrans modules are immutable, so that "
                "call cannot add them. Initialize the model once on an example input, keeping "
                "the model it returns: `model = ft.nn.init_lazy(model, x)` (each lazy layer "
                f"becomes a {name}), or construct ft.nn.{name} with the input size.")
        made = stack[-1].get(id(self))
        if made is None or made[0] is not self:
            made = stack[-1][id(self)] = (self, self.materialize(x))
        return self._probe(made[1])(x, *args, **kwargs)

    def _arguments(self):
        return ", ".join(f"{k}={v!r}" for k, v in self.config)

    def extra_repr(self):
        """PyTorch's: the ordinary layer's, with input size 0 until the first call."""
        return self._build(0).extra_repr()


@places_operands      # left unwrapped: refuse_discarded looks at its caller's frame
def init_lazy(model, *args, **kwargs):
    """`model` with each lazy layer (`LazyLinear`, `LazyConv2d`, ...) replaced by the ordinary
    layer for the input it gets when `model(*args, **kwargs)` runs (once, eagerly; a small
    batch is enough). Buffer updates of that call (BatchNorm statistics) are discarded; lazy
    layers the call does not reach stay lazy. `model` may itself be a lazy layer."""
    if not isinstance(model, Module):
        raise TypeError(f"init_lazy takes a Module, got {type(model).__name__}")
    refuse_discarded("init_lazy", "model = ft.nn.init_lazy(model, x)")
    made = {}
    stack = _sessions()
    stack.append(made)
    try:
        stateful(model)(*args, **kwargs)
    finally:
        stack.pop()

    def ran(m):
        return isinstance(m, _LazyModule) and made.get(id(m), (None,))[0] is m
    return tree_map(lambda m: made[id(m)][1] if ran(m) else m, model, is_leaf=ran)


class LazyLinear(_LazyModule):
    """`Linear` whose in_features is the last axis of its first input (PyTorch's
    LazyLinear); see `init_lazy`."""
    cls_to_become = Linear

    def __init__(self, out_features, bias=True, *, key, dtype=None):
        self._keep(key, dtype, out_features=int(out_features), bias=bool(bias))

    def _in_size(self, x):
        shape = shape_of(fnp.asarray(x))
        if not shape:
            raise ValueError(f"{type(self).__name__} needs an input with a feature axis, got "
                             "a 0-d one")
        return shape[-1]


class _LazyConvNd(_LazyModule):
    def _in_size(self, x):
        nd = self.cls_to_become._nd
        shape = shape_of(fnp.asarray(x))
        if len(shape) not in (nd + 1, nd + 2):
            raise ValueError(f"{type(self).__name__} needs a {nd + 1}-d (unbatched) or "
                             f"{nd + 2}-d (batched) input, got shape {shape}")
        return shape[-nd - 1]                   # the channels


class _LazyConv(_LazyConvNd):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", *, key, dtype=None):
        self._keep(key, dtype, out_channels=out_channels, kernel_size=kernel_size,
                   stride=stride, padding=padding, dilation=dilation, groups=groups,
                   bias=bias, padding_mode=padding_mode)


class _LazyConvTranspose(_LazyConvNd):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, padding_mode="zeros", *, key, dtype=None):
        self._keep(key, dtype, out_channels=out_channels, kernel_size=kernel_size,
                   stride=stride, padding=padding, output_padding=output_padding,
                   groups=groups, bias=bias, dilation=dilation, padding_mode=padding_mode)


class LazyConv1d(_LazyConv):
    """`Conv1d` whose in_channels come from its first input; see `init_lazy`."""
    cls_to_become = Conv1d


class LazyConv2d(_LazyConv):
    """`Conv2d` whose in_channels come from its first input; see `init_lazy`."""
    cls_to_become = Conv2d


class LazyConv3d(_LazyConv):
    """`Conv3d` whose in_channels come from its first input; see `init_lazy`."""
    cls_to_become = Conv3d


class LazyConvTranspose1d(_LazyConvTranspose):
    """`ConvTranspose1d` whose in_channels come from its first input; see `init_lazy`."""
    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvTranspose):
    """`ConvTranspose2d` whose in_channels come from its first input; see `init_lazy`."""
    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyConvTranspose):
    """`ConvTranspose3d` whose in_channels come from its first input; see `init_lazy`."""
    cls_to_become = ConvTranspose3d


class _LazyNorm(_LazyModule):
    # PyTorch's lazy norms default to affine=True, track_running_stats=True, the instance
    # norms too (their ordinary layers to False)
    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, *,
                 bias=True, dtype=None):
        self._keep(None, dtype, eps=eps, momentum=momentum, affine=affine,
                   track_running_stats=track_running_stats, bias=bias)
        self.training = True

    def _probe(self, layer):
        # in eval mode: the statistics it would record in training mode belong to no model
        # (init_lazy discards that call's buffer updates anyway)
        return layer.eval()

    def _in_size(self, x):
        shape = shape_of(fnp.asarray(x))
        ranks = self.cls_to_become._ranks
        if len(shape) not in ranks:
            raise ValueError(f"{type(self).__name__} needs an input of rank "
                             f"{' or '.join(map(str, ranks))}, got shape {shape}")
        return shape[self._channel_axis(len(shape), ranks)]


class _LazyBatchNorm(_LazyNorm):
    def _channel_axis(self, rank, ranks):
        return 1                                # every accepted input is batched


class _LazyInstanceNorm(_LazyNorm):
    def _channel_axis(self, rank, ranks):
        return 1 if rank == ranks[-1] else 0    # batched, or one unbatched instance


class LazyBatchNorm1d(_LazyBatchNorm):
    """`BatchNorm1d` whose num_features comes from its first input; see `init_lazy`."""
    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyBatchNorm):
    """`BatchNorm2d` whose num_features comes from its first input; see `init_lazy`."""
    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyBatchNorm):
    """`BatchNorm3d` whose num_features comes from its first input; see `init_lazy`."""
    cls_to_become = BatchNorm3d


class LazyInstanceNorm1d(_LazyInstanceNorm):
    """`InstanceNorm1d` whose num_features comes from its first input; see `init_lazy`."""
    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyInstanceNorm):
    """`InstanceNorm2d` whose num_features comes from its first input; see `init_lazy`."""
    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyInstanceNorm):
    """`InstanceNorm3d` whose num_features comes from its first input; see `init_lazy`."""
    cls_to_become = InstanceNorm3d
