"""`ft.nn.initializers`: JAX's initializers (`jax.nn.initializers`). Each factory returns
`init(key, shape, dtype=...)`; `zeros` and `ones` are initializers themselves. Kernels are laid
out as JAX's (and Flax's): inputs on axis -2, outputs on axis -1, so fans are counted with
`in_axis=-2`, `out_axis=-1` (PyTorch's `ft.nn.init` uses (out, in) and its own names).
The numbers are JAX's for the same key: the samplers are JAX's (see `ft.random`)."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from .. import numpy as fnp
from .. import random
from ..primitives._util import as_shape

__all__ = ["zeros", "ones", "constant", "uniform", "normal", "truncated_normal",
           "variance_scaling", "glorot_uniform", "glorot_normal", "xavier_uniform",
           "xavier_normal", "lecun_uniform", "lecun_normal", "he_uniform", "he_normal",
           "kaiming_uniform", "kaiming_normal", "orthogonal", "delta_orthogonal"]


def _dtype(dtype, fn):
    dtype = dtypes.default_float_dtype() if dtype is None else np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"ft.nn.initializers.{fn}: dtype must be a real floating dtype, got "
                        f"{dtype} (complex initializers are not implemented)")
    return dtype


def zeros(key, shape, dtype=None, out_sharding=None):
    """An array of zeros (`key` is unused), on the device `out_sharding` names, if given."""
    dtype = dtypes.default_float_dtype() if dtype is None else np.dtype(dtype)
    return fnp.zeros(as_shape(shape), dtype, out_sharding=out_sharding)


def ones(key, shape, dtype=None, out_sharding=None):
    """An array of ones (`key` is unused), on the device `out_sharding` names, if given."""
    dtype = dtypes.default_float_dtype() if dtype is None else np.dtype(dtype)
    return fnp.ones(as_shape(shape), dtype, out_sharding=out_sharding)


def constant(value, dtype=None):
    """Initializer filling with `value`."""
    def init(key, shape, dtype=dtype):
        dtype = dtypes.default_float_dtype() if dtype is None else np.dtype(dtype)
        return fnp.full(as_shape(shape), value, dtype)
    return init


def uniform(scale=1e-2, dtype=None):
    """Initializer drawing uniformly from [0, scale)."""
    def init(key, shape, dtype=dtype):
        dtype = _dtype(dtype, "uniform")
        return random.uniform(key, as_shape(shape), dtype) * fnp.asarray(scale, dtype)
    return init


def normal(stddev=1e-2, dtype=None):
    """Initializer drawing from N(0, stddev**2)."""
    def init(key, shape, dtype=dtype):
        dtype = _dtype(dtype, "normal")
        return random.normal(key, as_shape(shape), dtype) * fnp.asarray(stddev, dtype)
    return init


def truncated_normal(stddev=1e-2, dtype=None, lower=-2.0, upper=2.0):
    """Initializer drawing stddev * (a standard normal truncated to [lower, upper])."""
    def init(key, shape, dtype=dtype):
        dtype = _dtype(dtype, "truncated_normal")
        x = random.truncated_normal(key, lower, upper, as_shape(shape), dtype)
        return x * fnp.asarray(stddev, dtype)
    return init


def _size(shape, axis, what):
    try:
        if isinstance(axis, (int, np.integer)):
            return shape[axis]
        return math.prod(shape[a] for a in axis)
    except IndexError:
        raise ValueError(f"ft.nn.initializers.variance_scaling: {what}={axis!r} is out of "
                         f"range for a weight of shape {shape}") from None


def _fans(shape, in_axis, out_axis, batch_axis):
    if isinstance(in_axis, (int, np.integer)) and in_axis == -2 and len(shape) < 2:
        raise ValueError(f"ft.nn.initializers: a weight of shape {shape} has no input axis "
                         "-2; give in_axis (and out_axis) explicitly, or use a 2-D or "
                         "larger shape")
    fan_in = _size(shape, in_axis, "in_axis")
    fan_out = _size(shape, out_axis, "out_axis")
    batch = _size(shape, batch_axis, "batch_axis")
    receptive = math.prod(shape) / fan_in / fan_out / batch
    return fan_in * receptive, fan_out * receptive


_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
_DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")
_TRUNCATED_STD = 0.87962566103423978         # std of a standard normal truncated to [-2, 2]


def variance_scaling(scale, mode, distribution, in_axis=-2, out_axis=-1, batch_axis=(),
                     dtype=None):
    """Initializer with variance `scale / n`, n the fan selected by `mode` ("fan_in",
    "fan_out", "fan_avg", "fan_geo_avg"), drawn from `distribution` ("truncated_normal",
    "normal", "uniform")."""
    if mode not in _MODES:
        raise ValueError(f"ft.nn.initializers.variance_scaling: mode must be one of {_MODES}, "
                         f"got {mode!r}")
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"ft.nn.initializers.variance_scaling: distribution must be one of "
                         f"{_DISTRIBUTIONS}, got {distribution!r}")

    def init(key, shape, dtype=dtype):
        shape = as_shape(shape)
        dtype = _dtype(dtype, "variance_scaling")
        fan_in, fan_out = _fans(shape, in_axis, out_axis, batch_axis)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
             "fan_geo_avg": math.sqrt(fan_in * fan_out)}[mode]
        variance = scale / n
        if distribution == "truncated_normal":
            std = math.sqrt(variance) / _TRUNCATED_STD
            return random.truncated_normal(key, -2.0, 2.0, shape, dtype) * fnp.asarray(
                std, dtype)
        if distribution == "normal":
            return random.normal(key, shape, dtype) * fnp.asarray(math.sqrt(variance), dtype)
        return random.uniform(key, shape, dtype, -1.0) * fnp.asarray(
            math.sqrt(3 * variance), dtype)
    return init


def _family(scale, mode, distribution, doc):
    def factory(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None):
        return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis,
                                dtype)
    factory.__doc__ = doc
    return factory


glorot_uniform = _family(1.0, "fan_avg", "uniform", "Glorot/Xavier uniform: variance 1 / fan_avg.")
glorot_normal = _family(1.0, "fan_avg", "truncated_normal",
                        "Glorot/Xavier normal (truncated): variance 1 / fan_avg.")
lecun_uniform = _family(1.0, "fan_in", "uniform", "LeCun uniform: variance 1 / fan_in.")
lecun_normal = _family(1.0, "fan_in", "truncated_normal",
                       "LeCun normal (truncated): variance 1 / fan_in.")
he_uniform = _family(2.0, "fan_in", "uniform", "He/Kaiming uniform: variance 2 / fan_in.")
he_normal = _family(2.0, "fan_in", "truncated_normal",
                    "He/Kaiming normal (truncated): variance 2 / fan_in.")
for _name, _fn in (("glorot_uniform", glorot_uniform), ("glorot_normal", glorot_normal),
                   ("lecun_uniform", lecun_uniform), ("lecun_normal", lecun_normal),
                   ("he_uniform", he_uniform), ("he_normal", he_normal)):
    _fn.__name__ = _fn.__qualname__ = _name
xavier_uniform, xavier_normal = glorot_uniform, glorot_normal
kaiming_uniform, kaiming_normal = he_uniform, he_normal


def orthogonal(scale=1.0, column_axis=-1, dtype=None):
    """Initializer of (semi-)orthogonal matrices times `scale`: the axis `column_axis`
    indexes columns, all other axes are flattened into rows."""
    def init(key, shape, dtype=dtype):
        shape = as_shape(shape)
        dtype = _dtype(dtype, "orthogonal")
        if len(shape) < 2:
            raise ValueError(f"ft.nn.initializers.orthogonal needs a shape of at least two "
                             f"dimensions, got {shape}")
        n_cols = shape[column_axis]
        n_rows = math.prod(shape) // n_cols
        q = random.orthogonal(key, n_rows, (), dtype, m=n_cols)
        rest = tuple(d for i, d in enumerate(shape) if i != column_axis % len(shape))
        q = fnp.moveaxis(q.reshape(rest + (n_cols,)), -1, column_axis)
        return q * fnp.asarray(scale, dtype)
    return init


def delta_orthogonal(scale=1.0, column_axis=-1, dtype=None):
    """Initializer of convolution kernels (spatial..., in, out; 1 to 3 spatial axes, in <= out)
    that are zero except an orthogonal (in, out) matrix at the spatial centre."""
    def init(key, shape, dtype=dtype):
        shape = as_shape(shape)
        dtype = _dtype(dtype, "delta_orthogonal")
        if len(shape) not in (3, 4, 5):
            raise ValueError(f"ft.nn.initializers.delta_orthogonal needs a 3-D, 4-D or 5-D "
                             f"kernel shape (spatial..., in, out), got {shape}")
        if shape[-1] < shape[-2]:
            raise ValueError(f"ft.nn.initializers.delta_orthogonal needs in <= out (the last "
                             f"two axes), got {shape[-2]} > {shape[-1]}")
        matrix = orthogonal(scale, column_axis, dtype)(key, shape[-2:])
        centre = tuple((k - 1) // 2 for k in shape[:-2])
        return fnp.zeros(shape, dtype).at[centre].set(matrix)
    return init


del _name, _fn
