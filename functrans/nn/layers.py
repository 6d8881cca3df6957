"""Layers with PyTorch's names, argument order, parameter layout, default initialization and
printed form. Parameters are drawn from an explicit `key`; `dtype=None` means the default
float dtype. Every layer is called on a batch: `layer(x)` (layers that use randomness take
`key=`)."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from .. import numpy as fnp
from ..primitives._util import shape_of
from . import functional as F
from . import init
from .module import Module

__all__ = ["Identity", "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "ReLU", "Tanh", "Sigmoid",
           "GELU", "Softmax", "LogSoftmax", "Flatten", "Dropout", "Embedding", "LayerNorm"]


def _dtype(dtype):
    return dtypes.default_float_dtype() if dtype is None else np.dtype(dtype)


def _split(key, n):
    from ..random import split
    if key is None:
        raise TypeError("this layer draws its initial parameters at random: pass key=... "
                        "(e.g. key=ft.random.key(0); split it for each layer)")
    return split(key, n)


def _default_init(key, weight_shape, fan_in, bias, dtype):
    """PyTorch's default: kaiming_uniform(a=sqrt(5)) weights (bound 1/sqrt(fan_in)) and
    uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) biases."""
    wkey, bkey = _split(key, 2)
    weight = init.kaiming_uniform(wkey, weight_shape, a=math.sqrt(5), dtype=dtype)
    if not bias:
        return weight, None
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return weight, init.uniform(bkey, (weight_shape[0],), -bound, bound, dtype)


class Identity(Module):
    def __call__(self, x, *, key=None):
        return x


class Linear(Module):
    """y = x @ weight.T + bias; `weight` is (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True, *, key, dtype=None):
        self.weight, self.bias = _default_init(key, (out_features, in_features), in_features,
                                               bias, _dtype(dtype))
        self.in_features, self.out_features = int(in_features), int(out_features)

    def __call__(self, x, *, key=None):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Conv2d(Module):
    """2-d convolution over NCHW input; `weight` is (out, in/groups, kh, kw)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, *, key, dtype=None):
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        k = F._pair(kernel_size, "kernel_size")
        fan_in = in_channels // groups * k[0] * k[1]
        self.weight, self.bias = _default_init(
            key, (out_channels, in_channels // groups) + k, fan_in, bias, _dtype(dtype))
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = k
        self.stride = F._pair(stride, "stride")
        self.padding = padding if isinstance(padding, str) else F._pair(padding, "padding")
        self.dilation = F._pair(dilation, "dilation")
        self.groups = int(groups)

    def __call__(self, x, *, key=None):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else \
                f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation, self.ceil_mode = padding, dilation, bool(ceil_mode)

    def __call__(self, x, *, key=None):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
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
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class ReLU(Module):
    def __call__(self, x, *, key=None):
        return F.relu(x)


class Tanh(Module):
    def __call__(self, x, *, key=None):
        return F.tanh(x)


class Sigmoid(Module):
    def __call__(self, x, *, key=None):
        return F.sigmoid(x)


class GELU(Module):
    approximate: str = "none"

    def __call__(self, x, *, key=None):
        return F.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


def _implicit_dim(x):
    """PyTorch's legacy choice of softmax axis when none is given."""
    return 0 if len(shape_of(x)) in (0, 1, 3) else 1


class Softmax(Module):
    dim: object = None
    _fn = staticmethod(F.softmax)

    def __call__(self, x, *, key=None):
        return self._fn(x, _implicit_dim(x) if self.dim is None else self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    _fn = staticmethod(F.log_softmax)


class Flatten(Module):
    """Flattens axes start_dim..end_dim into one (by default all but the batch axis)."""
    start_dim: int = 1
    end_dim: int = -1

    def __call__(self, x, *, key=None):
        x = fnp.asarray(x)
        shape = shape_of(x)
        n = len(shape)
        start, end = self.start_dim % max(n, 1), self.end_dim % max(n, 1)
        return fnp.reshape(x, shape[:start] + (math.prod(shape[start:end + 1]),) +
                           shape[end + 1:])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Inverted dropout: in training mode (the default) call with `key=`; `model.eval()`
    returns a copy in which it is the identity."""
    p: float = 0.5
    training: bool = True

    def __call__(self, x, *, key=None):
        return F.dropout(x, self.p, self.training, key=key)

    def extra_repr(self):
        return f"p={self.p}"


class Embedding(Module):
    """A lookup table of `num_embeddings` vectors of size `embedding_dim` (N(0, 1) init)."""

    def __init__(self, num_embeddings, embedding_dim, *, key, dtype=None):
        self.weight = init.normal(key, (num_embeddings, embedding_dim), dtype=_dtype(dtype))
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)

    def __call__(self, ids, *, key=None):
        return F.embedding(ids, self.weight)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class LayerNorm(Module):
    """Normalizes over the trailing `normalized_shape` axes, with learned scale and shift."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, *,
                 dtype=None):
        shape = F._as_shape(normalized_shape)
        dt = _dtype(dtype)
        self.weight = init.ones(shape, dt) if elementwise_affine else None
        self.bias = init.zeros(shape, dt) if elementwise_affine and bias else None
        self.normalized_shape, self.eps = shape, float(eps)
        self.elementwise_affine = bool(elementwise_affine)

    def __call__(self, x, *, key=None):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")
