"""Layers with PyTorch's names, argument order, parameter layout, default initialization and
printed form. Parameters are drawn from an explicit `key`; `dtype=None` means the default
float dtype. Every layer is called on a batch: `layer(x)` (layers that use randomness take
`key=`)."""
from __future__ import annotations

import math

from .. import numpy as fnp
from ..primitives._util import shape_of
from . import functional as F
from . import init
from ._utils import default_init as _default_init, float_dtype as _dtype
from .module import Module, field

__all__ = ["Identity", "Linear", "MaxPool2d", "AvgPool2d", "ReLU", "Tanh", "Sigmoid",
           "GELU", "Softmax", "LogSoftmax", "Flatten", "Dropout", "Embedding", "LayerNorm",
           "EmbeddingBag", "Unflatten"]


class Identity(Module):
    """Returns its input; as in PyTorch, any constructor arguments are ignored."""

    def __init__(self, *args, **kwargs):
        pass

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
    """A lookup table of `num_embeddings` vectors of size `embedding_dim` (N(0, 1) init; the
    `padding_idx` row starts at zero and gets no gradient). See `ft.nn.embedding` for
    `max_norm`, `norm_type` and `scale_grad_by_freq`."""
    padding_idx: object = field(static=True)
    max_norm: object = field(static=True)

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False, *, key, dtype=None):
        self.weight, self.padding_idx = _embedding_table(key, num_embeddings, embedding_dim,
                                                         padding_idx, dtype)
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.max_norm = None if max_norm is None else float(max_norm)
        self.norm_type, self.scale_grad_by_freq = float(norm_type), bool(scale_grad_by_freq)
        if sparse:
            raise ValueError("Embedding: sparse=True (sparse gradients) is not supported")
        self.sparse = False

    def __call__(self, ids, *, key=None):
        return F.embedding(ids, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}" + _embedding_options(self)


def _embedding_table(key, num, dim, padding_idx, dtype):
    weight = init.normal(key, (num, dim), dtype=_dtype(dtype))
    if padding_idx is None:
        return weight, None
    if not -num <= padding_idx < num:
        raise ValueError(f"padding_idx ({padding_idx}) must be within num_embeddings ({num})")
    padding_idx = int(padding_idx) % num
    return weight.at[padding_idx].set(0.0), padding_idx


def _embedding_options(m, with_padding=True):
    s = ""
    if with_padding and m.padding_idx is not None:
        s += f", padding_idx={m.padding_idx}"
    if m.max_norm is not None:
        s += f", max_norm={m.max_norm}"
    if m.norm_type != 2:
        s += f", norm_type={m.norm_type}"
    if m.scale_grad_by_freq:
        s += f", scale_grad_by_freq={m.scale_grad_by_freq}"
    return s


class EmbeddingBag(Module):
    """Sums, means or maxima over bags of embeddings, without building the (bag, ids,
    embedding_dim) array of the rows one by one: `bag(ids_2d)` or
    `bag(ids_1d, offsets, per_sample_weights=None)` (see `ft.nn.embedding_bag`)."""
    max_norm: object = field(static=True)
    padding_idx: object = field(static=True)

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, mode="mean", sparse=False, include_last_offset=False,
                 padding_idx=None, *, key, dtype=None):
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"EmbeddingBag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
        if sparse:
            raise ValueError("EmbeddingBag: sparse=True (sparse gradients) is not supported")
        self.weight, self.padding_idx = _embedding_table(key, num_embeddings, embedding_dim,
                                                         padding_idx, dtype)
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.max_norm = None if max_norm is None else float(max_norm)
        self.norm_type, self.scale_grad_by_freq = float(norm_type), bool(scale_grad_by_freq)
        self.mode, self.sparse = mode, False
        self.include_last_offset = bool(include_last_offset)

    def __call__(self, input, offsets=None, per_sample_weights=None, *, key=None):
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type,
                               self.scale_grad_by_freq, self.mode, False, per_sample_weights,
                               self.include_last_offset, self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}" + _embedding_options(self, False)
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


class Unflatten(Module):
    """Splits axis `dim` into `unflattened_size` (the inverse of Flatten)."""

    def __init__(self, dim, unflattened_size):
        self.dim, self.unflattened_size = int(dim), tuple(int(s) for s in unflattened_size)

    def __call__(self, x, *, key=None):
        x = fnp.asarray(x)
        shape = shape_of(x)
        d = self.dim % len(shape) if shape else 0
        return fnp.reshape(x, shape[:d] + self.unflattened_size + shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


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
