"""Weight initializers with PyTorch's `torch.nn.init` names and formulas, as pure functions:
each takes a key (where random) and a shape and returns a new array, instead of filling a
tensor in place.

    w = ft.nn.init.xavier_uniform(key, (out_features, in_features))
    layer = layer.replace(weight=w)

Fans follow PyTorch: fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive
field, where the receptive field is the product of shape[2:].
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..core import is_concrete
from .in_place import refuse_in_place

__all__ = ["calculate_gain", "uniform", "normal", "trunc_normal", "constant", "zeros", "ones",
           "eye", "dirac", "xavier_uniform", "xavier_normal", "kaiming_uniform",
           "kaiming_normal", "orthogonal", "sparse"]


def _dtype(dtype):
    return dtypes.default_float_dtype() if dtype is None else np.dtype(dtype)


def _fans(shape, fn):
    if len(shape) < 2:
        raise ValueError(f"{fn} needs at least 2 dimensions to compute fans, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (PyTorch's table)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def uniform(key, shape, a=0.0, b=1.0, dtype=None):
    """Uniform on [a, b)."""
    from ..random import uniform as draw
    return draw(key, shape, _dtype(dtype), a, b)


def normal(key, shape, mean=0.0, std=1.0, dtype=None):
    """Normal with the given mean and standard deviation."""
    from ..random import normal as draw
    return lax.add(lax.mul(draw(key, shape, _dtype(dtype)), float(std)), float(mean))


def trunc_normal(key, shape, mean=0.0, std=1.0, a=-2.0, b=2.0, dtype=None):
    """Normal with the given mean and standard deviation, truncated to [a, b] (absolute
    bounds, as PyTorch's)."""
    from ..random import truncated_normal
    lo, hi = (float(a) - mean) / std, (float(b) - mean) / std
    return lax.add(lax.mul(truncated_normal(key, lo, hi, shape, _dtype(dtype)), float(std)),
                   float(mean))


def constant(shape, value, dtype=None):
    return fnp.full(shape, value, _dtype(dtype))


def zeros(shape, dtype=None):
    return fnp.zeros(shape, _dtype(dtype))


def ones(shape, dtype=None):
    return fnp.ones(shape, _dtype(dtype))


def eye(shape, dtype=None):
    """The identity matrix of a 2-d `shape` (ones on the diagonal of a non-square one)."""
    if len(shape) != 2:
        raise ValueError(f"eye needs a 2-d shape, got {shape}")
    return fnp.eye(*shape, dtype=_dtype(dtype))


def dirac(shape, groups=1, dtype=None):
    """A convolution kernel (out, in, *window) passing its input through: in each of the
    `groups`, output channel i takes input channel i at the window's centre."""
    if not 3 <= len(shape) <= 5:
        raise ValueError(f"dirac needs a 3-, 4- or 5-d kernel shape, got {shape}")
    if shape[0] % groups:
        raise ValueError(f"dirac: the output channels ({shape[0]}) must divide into {groups} "
                         "groups")
    out = np.zeros(shape, _dtype(dtype))
    per_group = shape[0] // groups
    centre = tuple(k // 2 for k in shape[2:])
    for g in range(groups):
        for i in range(min(per_group, shape[1])):
            out[(g * per_group + i, i) + centre] = 1
    return fnp.asarray(out)


def xavier_uniform(key, shape, gain=1.0, dtype=None):
    """Glorot uniform: bound = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape, "xavier_uniform")
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out)) if fan_in + fan_out else 0.0
    return uniform(key, shape, -bound, bound, dtype)


def xavier_normal(key, shape, gain=1.0, dtype=None):
    """Glorot normal: std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape, "xavier_normal")
    std = gain * math.sqrt(2.0 / (fan_in + fan_out)) if fan_in + fan_out else 0.0
    return normal(key, shape, 0.0, std, dtype)


def _kaiming_std(shape, a, mode, nonlinearity, fn):
    fan_in, fan_out = _fans(shape, fn)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{fn}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    if not fan:                 # an array with no elements (Linear(0, n)): nothing to scale
        return 0.0
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform(key, shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu", dtype=None):
    """He uniform: bound = gain * sqrt(3 / fan). With a = sqrt(5) this is the default
    initialization of PyTorch's Linear and Conv weights (bound 1/sqrt(fan_in))."""
    bound = math.sqrt(3.0) * _kaiming_std(shape, a, mode, nonlinearity, "kaiming_uniform")
    return uniform(key, shape, -bound, bound, dtype)


def kaiming_normal(key, shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu", dtype=None):
    """He normal: std = gain / sqrt(fan)."""
    return normal(key, shape, 0.0, _kaiming_std(shape, a, mode, nonlinearity, "kaiming_normal"),
                  dtype)


def orthogonal(key, shape, gain=1.0, dtype=None):
    """A (semi-)orthogonal matrix (trailing axes flattened), from the QR decomposition of a
    normal matrix with the signs fixed as PyTorch does. Needs a concrete key (runs on the
    host)."""
    if len(shape) < 2:
        raise ValueError(f"orthogonal needs at least 2 dimensions, got shape {shape}")
    if not is_concrete(key):
        raise TypeError("orthogonal initialization runs on the host and needs a concrete key, "
                        "not a traced one; initialize outside jit/vmap")
    rows, cols = shape[0], math.prod(shape[1:])
    from ..random import normal as draw
    flat = np.asarray(draw(key, (rows, cols), np.float64))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return fnp.asarray((gain * q).reshape(shape).astype(_dtype(dtype)))


def sparse(key, shape, sparsity, std=0.01, dtype=None):
    """A 2-d normal(0, std) matrix in which `ceil(sparsity * rows)` random entries of each
    column are zero (Martens, 2010). Needs a concrete key (runs on the host)."""
    if len(shape) != 2:
        raise ValueError(f"sparse needs a 2-d shape, got {shape}")
    if not is_concrete(key):
        raise TypeError("sparse initialization runs on the host and needs a concrete key, not "
                        "a traced one; initialize outside jit/vmap")
    from ..random import split
    rows, cols = shape
    k_values, k_zeros = split(key, 2)
    values = np.array(normal(k_values, shape, 0.0, std, dtype))
    from ..random import uniform as draw
    scores = np.asarray(draw(k_zeros, shape))
    zeros = np.argsort(scores, axis=0)[:int(math.ceil(sparsity * rows))]
    np.put_along_axis(values, zeros, 0, axis=0)
    return fnp.asarray(values)


_NO_KEY = ("constant", "zeros", "ones", "eye", "dirac")
for _name in ("uniform", "normal", "trunc_normal", "constant", "zeros", "ones", "eye", "dirac",
              "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
              "orthogonal", "sparse"):
    globals()[f"{_name}_"] = refuse_in_place(
        f"{_name}_", f"layer = layer.replace(weight=ft.nn.init.{_name}("
        f"{'' if _name in _NO_KEY else 'key, '}layer.weight.shape, ...))", "an array")
    __all__.append(f"{_name}_")
