"""Functional forms of the layers (PyTorch's `torch.nn.functional` names and argument order,
NCHW images, OIHW kernels). Everything is written with functrans operations, so it is
differentiable, batchable and jittable."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes, lax
from ..custom_derivatives import custom_jvp
from .. import numpy as fnp
from ..lax._util import shape_of, dtype_of
from ..lax.windowed import reduce_window_max, reduce_window_sum

__all__ = ["relu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax", "one_hot", "linear",
           "conv2d", "max_pool2d", "avg_pool2d", "dropout", "layer_norm", "embedding"]


def _floating(x):
    x = fnp.asarray(x)
    if not dtypes.is_inexact(dtype_of(x)):
        x = lax.convert_element_type(x, dtypes.default_float_dtype())
    return x


# ------------------------------------------------------------------ activations
def relu(x):
    """max(x, 0), with derivative 0 at 0 (as PyTorch); NaN stays NaN."""
    return _relu(_floating(x))


@custom_jvp
def _relu(x):
    return lax.max(x, 0.0)


@_relu.defjvp
def _relu_jvp(primals, tangents):
    # the derivative is the mask x > 0: 0 at 0, unlike max's tie rule; multiplying by the
    # mask is branch-free (select is slow on unpredictable masks)
    x, = primals
    t, = tangents
    return lax.max(x, 0.0), lax.mul(t, lax.convert_element_type(lax.gt(x, 0.0), dtype_of(x)))


def gelu(x, approximate="none"):
    """x·Φ(x) with the exact erf (default) or PyTorch's `approximate="tanh"` form."""
    x = _floating(x)
    if approximate == "none":
        return lax.mul(lax.mul(x, 0.5), lax.add(lax.erf(lax.mul(x, 1 / math.sqrt(2))), 1.0))
    if approximate == "tanh":
        inner = lax.mul(lax.add(x, lax.mul(lax.mul(lax.square(x), x), 0.044715)),
                        math.sqrt(2 / math.pi))
        return lax.mul(lax.mul(x, 0.5), lax.add(lax.tanh(inner), 1.0))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def sigmoid(x):
    return lax.logistic(_floating(x))


def tanh(x):
    return lax.tanh(_floating(x))


def _axis(x, dim, axis, fn):
    if axis is not None:
        dim = axis
    if dim is None:
        raise TypeError(f"{fn} needs dim (the axis to normalize over)")
    return dim % max(len(shape_of(x)), 1)


def log_softmax(x, dim=-1, *, axis=None):
    """log(softmax(x)) along `dim`, computed stably."""
    x = _floating(x)
    d = _axis(x, dim, axis, "log_softmax")
    shape = shape_of(x)
    keep = shape[:d] + (1,) + shape[d + 1:]
    shifted = lax.sub(x, lax.stop_gradient(lax.reshape(lax.reduce_max(x, (d,)), keep)))
    total = lax.reshape(lax.reduce_sum(lax.exp(shifted), (d,)), keep)
    return lax.sub(shifted, lax.log(total))


def softmax(x, dim=-1, *, axis=None):
    """exp(x) / sum(exp(x)) along `dim`, computed stably."""
    x = _floating(x)
    d = _axis(x, dim, axis, "softmax")
    shape = shape_of(x)
    keep = shape[:d] + (1,) + shape[d + 1:]
    e = lax.exp(lax.sub(x, lax.stop_gradient(lax.reshape(lax.reduce_max(x, (d,)), keep))))
    return lax.div(e, lax.reshape(lax.reduce_sum(e, (d,)), keep))


def one_hot(x, num_classes, dtype=None, axis=-1):
    """1.0 at each integer label's position along a new axis of size `num_classes` (labels
    outside [0, num_classes) give all zeros). Floats by default, for use in losses."""
    x = fnp.asarray(x)
    if not dtypes.is_integer(dtype_of(x)):
        raise TypeError(f"one_hot needs integer labels, got {dtype_of(x)}")
    shape = shape_of(x)
    axis = axis % (len(shape) + 1)
    classes = fnp.arange(num_classes, dtype=dtype_of(x))
    classes = lax.reshape(classes, (1,) * axis + (num_classes,) + (1,) * (len(shape) - axis))
    hit = lax.eq(lax.expand_dims(x, (axis,)), classes)
    return lax.convert_element_type(hit, dtypes.default_float_dtype() if dtype is None
                                    else np.dtype(dtype))


# ------------------------------------------------------------------ layers
def linear(x, weight, bias=None):
    """x @ weight.T + bias, with weight of shape (out_features, in_features)."""
    x = fnp.asarray(x)
    if dtype_of(x) != dtype_of(weight):
        x = lax.convert_element_type(x, dtype_of(weight)) \
            if not dtypes.is_inexact(dtype_of(x)) else x
    xs, ws = shape_of(x), shape_of(weight)
    if len(ws) != 2 or not xs or xs[-1] != ws[1]:
        raise ValueError(f"linear: input of shape {xs} needs its last axis to match "
                         f"in_features={ws[1] if len(ws) == 2 else ws} of the weight "
                         f"(shape {ws}, laid out (out_features, in_features))")
    out = lax.dot_general(x, weight, (((len(xs) - 1,), (1,)), ((), ())))
    return out if bias is None else lax.add(out, bias)


def _pair(v, name, n=2):
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    v = tuple(int(e) for e in v)
    if len(v) != n:
        raise ValueError(f"{name} must be an int or {n} ints, got {v}")
    return v


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d convolution of NCHW input with an OIHW kernel (PyTorch's F.conv2d). `padding` is
    an int, a pair, 'valid' or 'same'."""
    x = fnp.asarray(x)
    if len(shape_of(x)) != 4 or len(shape_of(weight)) != 4:
        raise ValueError(f"conv2d needs a 4-d NCHW input and a 4-d OIHW kernel, got shapes "
                         f"{shape_of(x)} and {shape_of(weight)} (add a batch axis with "
                         "x[None] for a single image)")
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"conv2d padding must be an int, a pair, 'valid' or 'same', got "
                             f"{padding!r}")
        pads = padding.upper()
    else:
        pads = tuple((p, p) for p in _pair(padding, "padding"))
    out = lax.conv_general_dilated(x, weight, stride, pads, None, dilation, None, groups)
    if bias is None:
        return out
    return lax.add(out, lax.reshape(bias, (shape_of(bias)[0], 1, 1)))


def _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode, fn):
    if len(shape_of(x)) not in (3, 4):
        raise ValueError(f"{fn} needs a CHW or NCHW input, got shape {shape_of(x)}")
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None or stride == () else _pair(stride, "stride")
    p = _pair(padding, "padding")
    d = _pair(dilation, "dilation")
    if any(2 * pi > ki for pi, ki in zip(p, k)):
        raise ValueError(f"{fn}: padding {p} must be at most half the kernel size {k}")
    lead = len(shape_of(x)) - 2
    pads = []
    for size, ki, si, pi, di in zip(shape_of(x)[-2:], k, s, p, d):
        span = size + 2 * pi - di * (ki - 1) - 1
        if span < 0:
            raise ValueError(f"{fn}: the kernel {k} (dilation {d}) is larger than the input's "
                             f"spatial shape {tuple(shape_of(x)[-2:])} with padding {p}; use a "
                             "smaller kernel or pad the input")
        out = (-(-span // si) if ceil_mode else span // si) + 1
        if ceil_mode and (out - 1) * si >= size + pi:
            out -= 1                 # the last window must start inside the input or pad
        pads.append((pi, (out - 1) * si + di * (ki - 1) + 1 - size - pi))
    return ((1,) * lead + k, (1,) * lead + s, ((0, 0),) * lead + tuple(pads),
            (1,) * lead + d)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max pooling over NCHW (or CHW) input; `stride` defaults to `kernel_size`. The
    derivative goes to the first maximum of each window."""
    x = fnp.asarray(x)
    window, strides, pads, dil = _pool_geometry(x, kernel_size, stride, padding, dilation,
                                                ceil_mode, "max_pool2d")
    return reduce_window_max(x, window, strides, pads, dil)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Average pooling over NCHW (or CHW) input, with PyTorch's divisor rules."""
    x = _floating(x)
    window, strides, pads, dil = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode,
                                                "avg_pool2d")
    total = reduce_window_sum(x, window, strides, pads, dil)
    if divisor_override is not None:
        return lax.div(total, float(divisor_override))
    # count of the window's elements inside the input (or inside the explicit padding)
    sizes = shape_of(x)[-2:]
    p = _pair(padding, "padding")
    counts = []
    for size, (lo, hi), ki, si, pi in zip(sizes, pads[-2:], window[-2:], strides[-2:], p):
        n_out = (size + lo + hi - ki) // si + 1
        starts = np.arange(n_out) * si - lo
        limit = size + pi if count_include_pad else size
        floor = -pi if count_include_pad else 0
        counts.append(np.minimum(starts + ki, limit) - np.maximum(starts, floor))
    divisor = np.outer(counts[0], counts[1]).astype(dtype_of(total))
    if np.all(divisor == divisor.flat[0]):
        return lax.div(total, float(divisor.flat[0]))
    return lax.div(total, fnp.asarray(divisor))


def dropout(x, p=0.5, training=True, *, key=None):
    """Zero each element with probability `p` and scale the rest by 1/(1-p) (inverted
    dropout, as PyTorch); the identity when not training or p == 0."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    x = _floating(x)
    if not training or p == 0.0:
        return x
    if key is None:
        raise ValueError("dropout in training mode needs a random key: pass key=... (split a "
                         "fresh one each step), or use training=False / model.eval() for "
                         "inference")
    if p == 1.0:
        return lax.full_like(x, 0)
    from ..random import bernoulli
    keep = bernoulli(key, 1.0 - p, shape_of(x))
    return lax.select(keep, lax.mul(x, 1.0 / (1.0 - p)), 0.0)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing `normalized_shape` axes (biased variance, as PyTorch),
    then scale by `weight` and shift by `bias`."""
    x = _floating(x)
    normalized_shape = _as_shape(normalized_shape)
    shape = shape_of(x)
    n = len(normalized_shape)
    if tuple(shape[len(shape) - n:]) != normalized_shape:
        raise ValueError(f"layer_norm: input of shape {shape} does not end with "
                         f"normalized_shape {normalized_shape}")
    axes = tuple(range(len(shape) - n, len(shape)))
    mean = fnp.mean(x, axis=axes, keepdims=True)
    centered = lax.sub(x, mean)
    var = fnp.mean(lax.square(centered), axis=axes, keepdims=True)
    out = lax.mul(centered, lax.rsqrt(lax.add(var, eps)))
    if weight is not None:
        out = lax.mul(out, weight)
    if bias is not None:
        out = lax.add(out, bias)
    return out


def _as_shape(s):
    return (int(s),) if isinstance(s, (int, np.integer)) else tuple(int(d) for d in s)


def embedding(ids, weight):
    """Rows of `weight` (num_embeddings, embedding_dim) selected by integer `ids` (a gather;
    its derivative adds into the selected rows)."""
    ids = fnp.asarray(ids)
    if not dtypes.is_integer(dtype_of(ids)):
        raise TypeError(f"embedding needs integer ids, got {dtype_of(ids)}")
    return fnp.take(weight, ids, axis=0)


# ------------------------------------------------------------------ more activations, losses
# and attention: defined in their own modules (imported last, as they build on the above)
from .activations import (leaky_relu, elu, selu, celu, silu, mish, softplus,  # noqa: E402
                          softsign, hardtanh, relu6, hardsigmoid, hardswish, prelu, softmin,
                          logsigmoid)
from .losses import (mse_loss, l1_loss, cross_entropy, nll_loss,  # noqa: E402
                     binary_cross_entropy, binary_cross_entropy_with_logits, huber_loss,
                     smooth_l1_loss, kl_div, cosine_embedding_loss, margin_ranking_loss,
                     triplet_margin_loss, pairwise_distance)
from .attention import scaled_dot_product_attention  # noqa: E402
__all__ += ["leaky_relu", "elu", "selu", "celu", "silu", "mish", "softplus", "softsign",
            "hardtanh", "relu6", "hardsigmoid", "hardswish", "prelu", "softmin", "logsigmoid",
            "mse_loss", "l1_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
            "binary_cross_entropy_with_logits", "huber_loss", "smooth_l1_loss", "kl_div",
            "cosine_embedding_loss", "margin_ranking_loss", "triplet_margin_loss",
            "pairwise_distance", "scaled_dot_product_attention"]
