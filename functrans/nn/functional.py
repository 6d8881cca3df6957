"""Functional forms of the layers (PyTorch's `torch.nn.functional` names and argument order,
NCHW images, OIHW kernels). Everything is written with functrans operations, so it is
differentiable, batchable and jittable."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes, lax
from ..higher_order.custom_derivatives import custom_jvp
from .. import numpy as fnp
from ..primitives._util import shape_of, dtype_of
from ..primitives.windowed import reduce_window_max, reduce_window_sum

__all__ = ["relu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax", "one_hot", "linear",
           "conv2d", "max_pool2d", "avg_pool2d", "dropout", "layer_norm", "embedding",
           # normalization, convolutions, pooling, resizing, bags (the layers of nn/
           # normalization.py, conv.py, pooling.py and EmbeddingBag)
           "batch_norm", "group_norm", "instance_norm", "conv1d", "conv_transpose1d",
           "conv_transpose2d", "conv_output_padding", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d", "interpolate",
           "embedding_bag"]


def as_floating(x):
    """`x` as an array of a floating dtype (integers and booleans become the default float)."""
    x = fnp.asarray(x)
    if not dtypes.is_inexact(dtype_of(x)):
        x = lax.convert_element_type(x, dtypes.default_float_dtype())
    return x


# ------------------------------------------------------------------ activations
def relu(x):
    """max(x, 0), with derivative 0 at 0 (as PyTorch); NaN stays NaN."""
    return _relu(as_floating(x))


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
    x = as_floating(x)
    if approximate == "none":
        return lax.mul(lax.mul(x, 0.5), lax.add(lax.erf(lax.mul(x, 1 / math.sqrt(2))), 1.0))
    if approximate == "tanh":
        inner = lax.mul(lax.add(x, lax.mul(lax.mul(lax.square(x), x), 0.044715)),
                        math.sqrt(2 / math.pi))
        return lax.mul(lax.mul(x, 0.5), lax.add(lax.tanh(inner), 1.0))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def sigmoid(x):
    return lax.logistic(as_floating(x))


def tanh(x):
    return lax.tanh(as_floating(x))


def _axis(x, dim, axis, fn):
    if axis is not None:
        dim = axis
    if dim is None:
        raise TypeError(f"{fn} needs dim (the axis to normalize over)")
    return dim % max(len(shape_of(x)), 1)


def log_softmax(x, dim=-1, *, axis=None):
    """log(softmax(x)) along `dim`, computed stably."""
    x = as_floating(x)
    d = _axis(x, dim, axis, "log_softmax")
    shape = shape_of(x)
    keep = shape[:d] + (1,) + shape[d + 1:]
    shifted = lax.sub(x, lax.stop_gradient(lax.reshape(lax.reduce_max(x, (d,)), keep)))
    total = lax.reshape(lax.reduce_sum(lax.exp(shifted), (d,)), keep)
    return lax.sub(shifted, lax.log(total))


def softmax(x, dim=-1, *, axis=None):
    """exp(x) / sum(exp(x)) along `dim`, computed stably."""
    x = as_floating(x)
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
    x = as_floating(x)
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
    x = as_floating(x)
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
    x = as_floating(x)
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


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of `weight` (num_embeddings, embedding_dim) selected by integer ids (a gather;
    its derivative adds into the selected rows), as PyTorch's F.embedding: positions whose id
    is `padding_idx` pass no gradient to that row; rows whose `norm_type`-norm exceeds
    `max_norm` come out scaled to `max_norm` (PyTorch also rewrites those rows of the weight
    in place; here the weight is not changed, and the scaling is applied at every lookup);
    `scale_grad_by_freq` divides each row's gradient by how often its id occurs in `input`."""
    ids = fnp.asarray(input)
    if not dtypes.is_integer(dtype_of(ids)):
        raise TypeError(f"embedding needs integer ids, got {dtype_of(ids)}")
    if sparse:
        raise ValueError("embedding: sparse=True (sparse gradients) is not supported; "
                         "gradients here are dense arrays")
    num = shape_of(weight)[0]
    rows = fnp.take(weight, ids, axis=0)
    if max_norm is not None:
        rows = _renorm(rows, max_norm, norm_type)
    if scale_grad_by_freq:
        rows = _scale_grad(rows, ids, num)
    if padding_idx is not None:
        pad = _padding_index(padding_idx, num, "embedding")
        keep = lax.expand_dims(lax.ne(ids, pad), (len(shape_of(ids)),))
        rows = fnp.where(keep, rows, lax.stop_gradient(rows))
    return rows


def _padding_index(padding_idx, num, fn):
    if not -num <= padding_idx < num:
        raise ValueError(f"{fn}: padding_idx {padding_idx} must be within num_embeddings "
                         f"({num})")
    return int(padding_idx) % num


def _renorm(rows, max_norm, norm_type):
    """Rows scaled by max_norm / (norm + 1e-7) where their norm exceeds max_norm, with the
    derivative of the unscaled rows (PyTorch renormalizes the weight outside autograd)."""
    p = float(norm_type)
    a = fnp.abs(rows)
    norm = fnp.max(a, axis=-1, keepdims=True) if p == math.inf else \
        lax.pow(fnp.sum(lax.pow(a, p), axis=-1, keepdims=True), 1.0 / p)
    scale = fnp.where(norm > max_norm, max_norm / (norm + 1e-7), 1.0)
    fixed = lax.stop_gradient(lax.sub(lax.mul(rows, scale.astype(dtype_of(rows))), rows))
    return lax.add(rows, fixed)


def _scale_grad(rows, ids, num):
    """`rows` whose derivative is divided by the count of each id in `ids`."""
    flat = lax.reshape(ids, (math.prod(shape_of(ids)),))
    counts = lax.scatter_add(fnp.zeros((num,), dtype_of(rows)), fnp.ones(shape_of(flat),
                             dtype_of(rows)), flat, axes=(0,), mode="drop")
    inv = lax.expand_dims(lax.div(1.0, fnp.take(counts, ids, axis=0)), (len(shape_of(ids)),))
    still = lax.stop_gradient(rows)
    return lax.add(still, lax.mul(lax.sub(rows, still), inv))


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2,
                  scale_grad_by_freq=False, mode="mean", sparse=False, per_sample_weights=None,
                  include_last_offset=False, padding_idx=None):
    """Sums, means or maxima of bags of embeddings (PyTorch's F.embedding_bag).

    `input` is (B, N) (B bags of N ids) with `offsets` None, or 1-d with `offsets` giving
    where each bag starts (with `include_last_offset`, offsets has B + 1 entries, the last
    one the end). `per_sample_weights` (shape of input, mode "sum" only) scales each
    embedding; ids equal to `padding_idx` are left out of their bag; an empty bag gives
    zeros. In "max" mode the derivative goes to each maximum (shared among equal ones).
    """
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
    if per_sample_weights is not None and mode != "sum":
        raise ValueError(f"embedding_bag: per_sample_weights is only supported for mode='sum' "
                         f"(got mode={mode!r})")
    if scale_grad_by_freq and mode == "max":
        raise ValueError("embedding_bag: scale_grad_by_freq is not supported with mode='max'")
    ids = fnp.asarray(input)
    if not dtypes.is_integer(dtype_of(ids)):
        raise TypeError(f"embedding_bag needs integer ids, got {dtype_of(ids)}")
    if sparse:
        raise ValueError("embedding_bag: sparse=True (sparse gradients) is not supported; "
                         "gradients here are dense arrays")
    num, dim = shape_of(weight)
    rows = fnp.take(weight, ids, axis=0)
    if max_norm is not None:
        rows = _renorm(rows, max_norm, norm_type)
    if scale_grad_by_freq:
        rows = _scale_grad(rows, ids, num)
    dt = dtype_of(rows)
    keep = fnp.ones(shape_of(ids), bool) if padding_idx is None else \
        lax.ne(ids, _padding_index(padding_idx, num, "embedding_bag"))
    weights = lax.convert_element_type(keep, dt)
    if per_sample_weights is not None:
        psw = fnp.asarray(per_sample_weights)
        if shape_of(psw) != shape_of(ids):
            raise ValueError(f"embedding_bag: per_sample_weights has shape {shape_of(psw)} but "
                             f"input has shape {shape_of(ids)}")
        weights = lax.mul(weights, lax.convert_element_type(psw, dt))
    rank = len(shape_of(ids))
    if rank == 2:
        if offsets is not None:
            raise ValueError("embedding_bag: offsets must be None for a 2-d input (each row is "
                             "a bag)")
        count = fnp.sum(lax.convert_element_type(keep, dt), axis=1, keepdims=True)
        if mode == "max":
            masked = fnp.where(lax.expand_dims(keep, (2,)), rows, -np.inf)
            top = fnp.max(masked, axis=1)
            return fnp.where(count > 0, top, 0.0).astype(dt)
        total = fnp.sum(lax.mul(rows, lax.expand_dims(weights, (2,))), axis=1)
        return total if mode == "sum" else lax.div(total, fnp.maximum(count, 1.0))
    if rank != 1:
        raise ValueError(f"embedding_bag: input must be 1-d (with offsets) or 2-d, got shape "
                         f"{shape_of(ids)}")
    if offsets is None:
        raise ValueError("embedding_bag: a 1-d input needs offsets (where each bag starts)")
    offsets = fnp.asarray(offsets)
    if len(shape_of(offsets)) != 1 or not dtypes.is_integer(dtype_of(offsets)):
        raise ValueError(f"embedding_bag: offsets must be a 1-d integer array, got "
                         f"{dtype_of(offsets)} of shape {shape_of(offsets)}")
    bags = shape_of(offsets)[0] - (1 if include_last_offset else 0)
    n = shape_of(ids)[0]
    # the bag of each position; before the first offset or past the end: bag `bags` (dropped)
    seg = lax.sub(fnp.searchsorted(offsets, fnp.arange(n, dtype=dtype_of(offsets)),
                                   side="right"), 1)
    seg = fnp.where((seg < 0) | (seg >= bags), bags, seg)
    counts = lax.scatter_add(fnp.zeros((bags,), dt), lax.convert_element_type(keep, dt), seg,
                             axes=(0,), mode="drop")[:, None]
    if mode == "max":
        masked = fnp.where(lax.expand_dims(keep, (1,)), rows, -np.inf)
        top = lax.scatter_max(fnp.full((bags, dim), -np.inf, dt), masked, seg, axes=(0,),
                              mode="drop")
        return fnp.where(counts > 0, top, 0.0).astype(dt)
    total = lax.scatter_add(fnp.zeros((bags, dim), dt), lax.mul(rows, weights[:, None]), seg,
                            axes=(0,), mode="drop")
    return total if mode == "sum" else lax.div(total, fnp.maximum(counts, 1.0))


# ------------------------------------------------------------------ normalization
def _channel_shape(x, fn, min_rank=2):
    shape = shape_of(x)
    if len(shape) < min_rank:
        raise ValueError(f"{fn} needs an input of shape (N, C, ...), got shape {shape}")
    return shape


def _per_channel(v, ndim):
    """A (C,) vector shaped to broadcast along axis 1 of a rank-`ndim` array."""
    return lax.reshape(v, (1, shape_of(v)[0]) + (1,) * (ndim - 2))


def _check_channels(v, c, what, fn):
    if v is not None and tuple(shape_of(v)) != (c,):
        raise ValueError(f"{fn}: {what} has shape {tuple(shape_of(v))} but the input has {c} "
                         f"channels (axis 1); it needs shape ({c},)")


def _affine(out, weight, bias):
    ndim = len(shape_of(out))
    if weight is not None:
        out = lax.mul(out, _per_channel(lax.convert_element_type(weight, dtype_of(out)), ndim))
    if bias is not None:
        out = lax.add(out, _per_channel(lax.convert_element_type(bias, dtype_of(out)), ndim))
    return out


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
        return _affine(lax.mul(lax.sub(x, _per_channel(mean, ndim)), _per_channel(inv, ndim)),
                       weight, bias)
    count = math.prod(shape) // c
    if count == 1 and axis_name is None:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {shape}")
    mean = lax.div(lax.reduce_sum(x, axes), float(count))
    if axis_name is not None:
        mean = lax.pmean(mean, axis_name)
    centered = lax.sub(x, _per_channel(mean, ndim))
    var = lax.div(lax.reduce_sum(lax.square(centered), axes), float(count))
    if axis_name is not None:
        var = lax.pmean(var, axis_name)
    out = _affine(lax.mul(centered, _per_channel(lax.rsqrt(lax.add(var, eps)), ndim)),
                  weight, bias)
    if running_mean is None and running_var is None:
        return out
    total = count if axis_name is None else lax.psum(count, axis_name)
    unbiased = lax.mul(lax.stop_gradient(var), lax.div(total, lax.sub(total, 1.0)) if
                       axis_name is not None else count / (count - 1))
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


# ------------------------------------------------------------------ convolutions
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
    x = as_floating(x)
    x, added = _unbatched(x, nd, fn)
    if len(shape_of(weight)) != nd + 2:
        raise ValueError(f"{fn} needs a {nd + 2}-d kernel (out, in/groups, *kernel), got shape "
                         f"{shape_of(weight)}")
    stride, dilation = _pair(stride, "stride", nd), _pair(dilation, "dilation", nd)
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"{fn}: padding must be an int, a tuple, 'valid' or 'same', got "
                             f"{padding!r}")
        if padding == "same" and any(s != 1 for s in stride):
            raise ValueError(f"{fn}: padding='same' is not supported for strided convolutions "
                             f"(stride {stride})")
        pads = padding.upper()
    else:
        pads = tuple((p, p) for p in _pair(padding, "padding", nd))
    out = lax.conv_general_dilated(x, weight, stride, pads, None, dilation, None, groups)
    if bias is not None:
        out = lax.add(out, _per_channel(bias, nd + 2))
    return lax.squeeze(out, (0,)) if added else out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d convolution of (N, C, L) or (C, L) input with an (out, in/groups, k) kernel
    (PyTorch's F.conv1d); `padding` is an int, a 1-tuple, 'valid' or 'same'."""
    return _conv_nd(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


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
    x = as_floating(x)
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
    stride, dilation = _pair(stride, "stride", nd), _pair(dilation, "dilation", nd)
    padding = _pair(padding, "padding", nd)
    output_padding = _pair(output_padding, "output_padding", nd)
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
        out = lax.add(out, _per_channel(bias, nd + 2))
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


# ------------------------------------------------------------------ adaptive pooling
def _sizes(output_size, spatial, fn):
    """PyTorch's output_size: an int or a tuple whose None entries keep the input's size."""
    nd = len(spatial)
    out = (output_size,) * nd if output_size is None or isinstance(
        output_size, (int, np.integer)) else tuple(output_size)
    if len(out) != nd:
        raise ValueError(f"{fn}: output_size must be an int or {nd} entries, got "
                         f"{output_size!r}")
    out = tuple(s if o is None else int(o) for o, s in zip(out, spatial))
    if any(o < 1 for o in out):
        raise ValueError(f"{fn}: output_size must be positive, got {output_size!r}")
    return out


def _bins(size, out):
    """PyTorch's adaptive bins of an axis of `size` into `out`: [floor(i*size/out),
    ceil((i+1)*size/out)). Returns (index matrix (out, widest), valid mask)."""
    starts = np.arange(out) * size // out
    ends = ((np.arange(out) + 1) * size + out - 1) // out
    width = int((ends - starts).max())
    idx = starts[:, None] + np.arange(width)[None, :]
    valid = idx < ends[:, None]
    return np.where(valid, idx, (ends - 1)[:, None]), valid


def _adaptive_input(x, nd, fn):
    x = fnp.asarray(x)
    rank = len(shape_of(x))
    if rank not in (nd + 1, nd + 2):
        raise ValueError(f"{fn} needs a {nd + 1}-d or {nd + 2}-d input, got shape "
                         f"{shape_of(x)}")
    return x


def _adaptive_avg_axis(x, axis, out):
    shape = shape_of(x)
    size = shape[axis]
    if size % out == 0:
        split = shape[:axis] + (out, size // out) + shape[axis + 1:]
        return fnp.mean(lax.reshape(x, split), axis=axis + 1)
    idx, valid = _bins(size, out)
    weights = (valid / valid.sum(1, keepdims=True)).astype(dtype_of(x))   # (out, width)
    windows = fnp.take(x, fnp.asarray(idx), axis=axis)        # (..., out, width, ...)
    w = weights.reshape(weights.shape + (1,) * (len(shape) - axis - 1))
    return fnp.sum(lax.mul(windows, fnp.asarray(w)), axis=axis + 1)


def _adaptive_max_axis(x, axis, out):
    """(max over each bin along `axis`, the input index of the first maximum)."""
    shape = shape_of(x)
    size = shape[axis]
    if size % out == 0:
        windows = lax.reshape(x, shape[:axis] + (out, size // out) + shape[axis + 1:])
    else:
        windows = fnp.take(x, fnp.asarray(_bins(size, out)[0]), axis=axis)
    pos = fnp.argmax(windows, axis=axis + 1, keepdims=True)
    values = lax.squeeze(fnp.take_along_axis(windows, pos, axis=axis + 1), (axis + 1,))
    # a bin's padding repeats its last element, after it, so the first maximum is a real one
    starts = (np.arange(out) * size // out).reshape((out,) + (1,) * (len(shape) - axis - 1))
    index = lax.add(lax.convert_element_type(lax.squeeze(pos, (axis + 1,)), np.int64),
                    fnp.asarray(starts.astype(np.int64)))
    return values, index


def adaptive_avg_pool1d(input, output_size):
    """Average over PyTorch's adaptive bins of the last axis of (N, C, L) or (C, L) input."""
    x = as_floating(_adaptive_input(input, 1, "adaptive_avg_pool1d"))
    (o,) = _sizes(output_size, shape_of(x)[-1:], "adaptive_avg_pool1d")
    return _adaptive_avg_axis(x, len(shape_of(x)) - 1, o)


def adaptive_avg_pool2d(input, output_size):
    """Average over PyTorch's adaptive bins (rows floor(i*H/oh) to ceil((i+1)*H/oh), columns
    alike) of NCHW or CHW input; `output_size` an int or (oh, ow), None keeping a size."""
    x = as_floating(_adaptive_input(input, 2, "adaptive_avg_pool2d"))
    rank = len(shape_of(x))
    shape = shape_of(x)
    oh, ow = _sizes(output_size, shape[-2:], "adaptive_avg_pool2d")
    if oh == ow == 1:             # global average pooling
        flat = lax.reshape(x, (math.prod(shape[:-2]), shape[-2] * shape[-1]))
        return lax.reshape(lax.div(_row_sums(flat), float(shape[-2] * shape[-1])),
                           shape[:-2] + (1, 1))
    return _adaptive_avg_axis(_adaptive_avg_axis(x, rank - 1, ow), rank - 2, oh)


def _row_sums(x):
    """The sums of the rows of matrix `x`, as a product with a vector of ones: NumPy sums
    along a short last axis several times slower than BLAS does this."""
    return lax.dot_general(x, lax.full((shape_of(x)[1],), 1, dtype_of(x)),
                           (((1,), (0,)), ((), ())))


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Maximum over PyTorch's adaptive bins of the last axis of (N, C, L) or (C, L) input;
    with `return_indices`, also the position of each maximum."""
    x = _adaptive_input(input, 1, "adaptive_max_pool1d")
    (o,) = _sizes(output_size, shape_of(x)[-1:], "adaptive_max_pool1d")
    values, index = _adaptive_max_axis(x, len(shape_of(x)) - 1, o)
    return (values, index) if return_indices else values


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Maximum over PyTorch's adaptive bins of NCHW or CHW input (the derivative goes to the
    first maximum in row-major order); with `return_indices`, also each maximum's flat
    position `h * W + w` in its input plane, as PyTorch."""
    x = _adaptive_input(input, 2, "adaptive_max_pool2d")
    rank = len(shape_of(x))
    width = shape_of(x)[-1]
    oh, ow = _sizes(output_size, shape_of(x)[-2:], "adaptive_max_pool2d")
    along_w, w_index = _adaptive_max_axis(x, rank - 1, ow)
    values, h_index = _adaptive_max_axis(along_w, rank - 2, oh)
    if not return_indices:
        return values
    w_at = fnp.take_along_axis(w_index, h_index, axis=rank - 2)
    return values, lax.add(lax.mul(h_index, width), w_at)


# ------------------------------------------------------------------ interpolation
_LINEAR_MODES = {"linear": 1, "bilinear": 2, "trilinear": 3}


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial axes of (N, C, *spatial) input (PyTorch's F.interpolate).

    Exactly one of `size` (an int or one per spatial axis) and `scale_factor` (a number or
    one per axis; the output size is floor(input size * scale_factor)). Modes: "nearest"
    (PyTorch's legacy rounding: source index floor(i * in / out), or floor(i / scale_factor)
    when a scale factor is given and `recompute_scale_factor` is not true), "nearest-exact",
    "linear" (3-d input), "bilinear" (4-d), "trilinear" (5-d), with `align_corners`, and
    "area" (adaptive average pooling). Index and weight arithmetic follows PyTorch's CPU
    kernels, in the input's precision.
    """
    x = as_floating(input)
    shape = shape_of(x)
    nd = len(shape) - 2
    if nd < 1:
        raise ValueError(f"interpolate needs (N, C, *spatial) input, got shape {shape}")
    if mode in _LINEAR_MODES:
        if _LINEAR_MODES[mode] != nd:
            raise ValueError(f"interpolate: got {len(shape)}D input, but {mode} mode needs "
                             f"{_LINEAR_MODES[mode] + 2}D input")
    elif mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise ValueError("interpolate: align_corners option can only be set with the "
                             "interpolating modes: linear | bilinear | trilinear")
    else:
        raise ValueError(f"interpolate: mode {mode!r} is not supported; use 'nearest', "
                         "'nearest-exact', 'linear', 'bilinear', 'trilinear' or 'area'")
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    spatial = shape[2:]
    if size is not None:
        out = _sizes(size, spatial, "interpolate")
        scales = (None,) * nd
    else:
        factors = (scale_factor,) * nd if isinstance(scale_factor, (int, float)) else \
            tuple(scale_factor)
        if len(factors) != nd:
            raise ValueError(f"interpolate: scale_factor must be a number or {nd} numbers, got "
                             f"{scale_factor!r}")
        out = tuple(math.floor(float(s) * float(f)) for s, f in zip(spatial, factors))
        if any(o < 1 for o in out):
            raise ValueError(f"interpolate: scale_factor {scale_factor!r} gives output size "
                             f"{out} for input size {spatial}")
        scales = (None,) * nd if recompute_scale_factor else tuple(float(f) for f in factors)
    if mode == "area":
        for axis, o in enumerate(out):
            x = _adaptive_avg_axis(x, 2 + axis, o)
        return x
    dt = np.dtype(dtype_of(x))
    for axis, (n_in, n_out, scale) in enumerate(zip(spatial, out, scales)):
        if mode in _LINEAR_MODES:
            x = _linear_axis(x, 2 + axis, n_in, n_out, scale, bool(align_corners), dt)
        else:
            src = _nearest_source(n_in, n_out, scale, mode == "nearest-exact")
            x = fnp.take(x, fnp.asarray(src), axis=2 + axis)
    return x


def _scale32(n_in, n_out, scale):
    """PyTorch's compute_scales_value<float>: 1/scale_factor if given, else in/out."""
    if scale is not None and scale > 0:
        return np.float32(1.0 / scale)
    return np.float32(n_in) / np.float32(n_out)


def _nearest_source(n_in, n_out, scale, exact):
    i = np.arange(n_out)
    if not exact and n_out == n_in:
        return i
    if not exact and n_out == 2 * n_in:
        return i >> 1
    s = _scale32(n_in, n_out, scale)
    pos = (i + 0.5) * np.float64(s) if exact else i.astype(np.float32) * s
    return np.minimum(np.floor(pos.astype(np.float32)).astype(np.int64), n_in - 1)


def _linear_axis(x, axis, n_in, n_out, scale, align_corners, dt):
    """Linear interpolation along `axis` with PyTorch's source positions and weights."""
    if n_out == n_in and not align_corners:
        return x
    i = np.arange(n_out).astype(dt)
    if align_corners:
        s = dt.type(n_in - 1) / dt.type(n_out - 1) if n_out > 1 else dt.type(0)
        src = s * i
    else:
        s = dt.type(1.0 / scale) if scale is not None and scale > 0 else \
            dt.type(n_in) / dt.type(n_out)
        src = np.maximum(s * (i + dt.type(0.5)) - dt.type(0.5), dt.type(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam = np.clip(src - i0.astype(dt), 0, 1).astype(dt)
    i1 = i0 + (i0 < n_in - 1)
    shape = (n_out,) + (1,) * (len(shape_of(x)) - axis - 1)
    lo = lax.mul(fnp.take(x, fnp.asarray(i0), axis=axis),
                 fnp.asarray((1 - lam).astype(dt).reshape(shape)))
    hi = lax.mul(fnp.take(x, fnp.asarray(i1), axis=axis), fnp.asarray(lam.reshape(shape)))
    return lax.add(lo, hi)


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
