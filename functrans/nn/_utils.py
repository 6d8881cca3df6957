"""Helpers shared by the layer modules: dtypes, tuples of ints, PyTorch's default init, p-norms,
whether a value can be checked now, and the refusal of PyTorch's in-place names."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..backends import cpu
from ..core import Tracer, device_like
from ..numpy._conversion import as_floating
from ..primitives._util import dtype_of, shape_of
from . import init

__all__ = ["as_floating", "float_dtype", "ntuple", "per_channel", "split_key", "default_init",
           "p_norm", "on_host"]


def on_host(x):
    """Whether `x` is a concrete value on the CPU, so checking its values costs no device sync
    (values under a transform or on a GPU go unchecked)."""
    return not isinstance(x, Tracer) and device_like(x) is cpu


def float_dtype(dtype):
    """`dtype`, or the default float dtype for None."""
    return dtypes.default_float_dtype() if dtype is None else np.dtype(dtype)


def ntuple(v, n, name):
    """An int or `n` ints as a tuple of `n` ints."""
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    v = tuple(int(e) for e in v)
    if len(v) != n:
        raise ValueError(f"{name} must be an int or {n} ints, got {v}")
    return v


def per_channel(v, ndim):
    """A (C,) vector shaped to broadcast along axis 1 of a rank-`ndim` array."""
    return lax.reshape(v, (1, shape_of(v)[0]) + (1,) * (ndim - 2))


def split_key(key, n):
    from ..random import split
    if key is None:
        raise TypeError("this layer draws its initial parameters at random: pass key=... "
                        "(e.g. key=ft.random.key(0); split it for each layer)")
    return split(key, n)


def default_init(key, weight_shape, fan_in, bias, dtype, bias_size=None):
    """PyTorch's default: kaiming_uniform(a=sqrt(5)) weights (bound 1/sqrt(fan_in)) and
    uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) biases of `bias_size` (default: the weight's
    first axis)."""
    wkey, bkey = split_key(key, 2)
    weight = init.kaiming_uniform(wkey, weight_shape, a=math.sqrt(5), dtype=dtype)
    if not bias:
        return weight, None
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    size = weight_shape[0] if bias_size is None else bias_size
    return weight, init.uniform(bkey, (size,), -bound, bound, dtype)


def p_norm(d, p, axis, keepdims, fn):
    """The p-norm of `d` along `axis` (p = inf, 0 (the count of nonzeros), or any p > 0), with
    PyTorch's derivative: 0, not NaN, where the norm is 0. `fn` names the caller in errors."""
    if p == math.inf:
        return fnp.max(lax.abs(d), axis=axis, keepdims=keepdims)
    if p == 2:
        s = fnp.sum(lax.square(d), axis=axis, keepdims=keepdims)
        zero = lax.eq(s, 0.0)
        return lax.select(zero, s, lax.sqrt(lax.select(zero, lax.full_like(s, 1.0), s)))
    if p == 1:
        return fnp.sum(lax.abs(d), axis=axis, keepdims=keepdims)
    if p == 0:                      # the count of nonzero entries (PyTorch's p=0 norm)
        return fnp.sum(lax.convert_element_type(lax.ne(d, 0.0), dtype_of(d)), axis=axis,
                       keepdims=keepdims)
    if not p > 0:
        raise ValueError(f"{fn}: p must be >= 0 (or inf), got {p}")
    a = lax.abs(d)
    nz = lax.ne(a, 0.0)
    powered = lax.select(nz, lax.pow(lax.select(nz, a, lax.full_like(a, 1.0)), float(p)),
                         lax.full_like(a, 0.0))
    s = fnp.sum(powered, axis=axis, keepdims=keepdims)
    zero = lax.eq(s, 0.0)
    return lax.select(zero, s, lax.pow(lax.select(zero, lax.full_like(s, 1.0), s), 1.0 / p))
