"""Array creation. New arrays are constants on the default device; inside a transform they
enter the trace as constants (they depend on no traced value)."""
from __future__ import annotations

import math
import operator

import numpy as np

from .. import dtypes, lax
from ..array import wrap
from ..backends import create, default_device_now, get_device
from ..core import Tracer
from ..meshes import device_or_out_sharding
from ..primitives.transfer import moved
from ..errors import ConcretizationTypeError, format_frame, user_frame
from ..primitives._util import as_shape, shape_of, dtype_of, broadcast_shapes
from ._conversion import asarray


def _dev(device, out_sharding=None, what=None):
    """The device a new array goes to: `device`, or the one JAX's `out_sharding` names."""
    device = device_or_out_sharding(device, out_sharding, what)
    return default_device_now() if device is None else get_device(device)


def _dt(dtype, default_kind=2):
    return dtypes.default_dtype_for_kind(default_kind) if dtype is None else \
        dtypes.canonicalize(dtype)


def full(shape, fill_value, dtype=None, *, device=None, out_sharding=None):
    """An array of `shape` filled with `fill_value` (default dtype from the value)."""
    device = device_or_out_sharding(device, out_sharding, "full")
    if isinstance(fill_value, Tracer) or (hasattr(fill_value, "shape") and shape_of(fill_value)):
        out = lax.broadcast_to(asarray(fill_value, dtype=dtype), as_shape(shape))
        return out if device is None else moved(out, get_device(device))
    if dtype is None:
        dtype = dtypes.scalar_dtype(fill_value) if type(fill_value) in (bool, int, float, complex) \
            else dtype_of(asarray(fill_value))
    return wrap(create(_dev(device), "full", as_shape(shape), fill_value,
                       dtype=dtypes.canonicalize(dtype)))


def zeros(shape, dtype=None, *, device=None, out_sharding=None):
    return wrap(create(_dev(device, out_sharding, "zeros"), "zeros", as_shape(shape),
                       dtype=_dt(dtype)))


def ones(shape, dtype=None, *, device=None, out_sharding=None):
    return wrap(create(_dev(device, out_sharding, "ones"), "ones", as_shape(shape),
                       dtype=_dt(dtype)))


def empty(shape, dtype=None, *, device=None, out_sharding=None):
    """Zeros (functrans never exposes uninitialized memory)."""
    return wrap(create(_dev(device, out_sharding, "empty"), "zeros", as_shape(shape),
                       dtype=_dt(dtype)))


def _like(a, dtype, shape, fill, device, out_sharding, what):
    """An array filled with `fill`, of `a`'s shape and dtype unless given, on `device` (or
    the one `out_sharding` names; else where `a` lives)."""
    device = device_or_out_sharding(device, out_sharding, what)
    if isinstance(a, Tracer):
        out = lax.full_like(a, fill, dtype=None if dtype is None else dtypes.canonicalize(dtype),
                            shape=None if shape is None else as_shape(shape))
        return out if device is None else moved(out, get_device(device))
    a = asarray(a)
    dt = dtype_of(a) if dtype is None else dtypes.canonicalize(dtype)
    return wrap(create(a.device if device is None else get_device(device), "full",
                       shape_of(a) if shape is None else as_shape(shape), fill, dtype=dt))


def zeros_like(a, dtype=None, shape=None, *, device=None, out_sharding=None):
    return _like(a, dtype, shape, 0, device, out_sharding, "zeros_like")


def ones_like(a, dtype=None, shape=None, *, device=None, out_sharding=None):
    return _like(a, dtype, shape, 1, device, out_sharding, "ones_like")


def empty_like(prototype, dtype=None, shape=None, *, device=None):
    """Zeros like `prototype` (functrans never exposes uninitialized memory)."""
    return _like(prototype, dtype, shape, 0, device, None, "empty_like")


def full_like(a, fill_value, dtype=None, shape=None, *, device=None, out_sharding=None):
    if isinstance(fill_value, Tracer) or np.ndim(fill_value):     # broadcast onto zeros
        base = zeros_like(a, dtype, shape, device=device, out_sharding=out_sharding)
        if not isinstance(fill_value, Tracer):
            fill_value = asarray(fill_value, device=base.device)
        return lax.add(base, lax.convert_element_type(fill_value, dtype_of(base)))
    return _like(a, dtype, shape, fill_value, device, out_sharding, "full_like")


def arange(start, stop=None, step=None, dtype=None, *, device=None, out_sharding=None):
    """Evenly spaced values in [start, stop). Integers give int64, floats the default float."""
    for v in (start, stop, step):
        if isinstance(v, Tracer):
            raise ConcretizationTypeError(
                f"arange needs concrete bounds (its length is its shape), got a traced value at "
                f"{format_frame(user_frame())}; under jit mark the bound static with "
                "static_argnums")
    if stop is None:
        start, stop = 0, start
    step = 1 if step is None else step
    vals = [v for v in (start, stop, step)]
    if dtype is None:
        dtype = dtypes.result_type(*[v if type(v) in (int, float, bool) else
                                     np.asarray(v).dtype for v in vals])
    dtype = dtypes.canonicalize(dtype)
    host = np.arange(start, stop, step, dtype=np.float64 if dtype.kind == "f" else None)
    return wrap(create(_dev(device, out_sharding, "arange"), "asarray", host.astype(dtype)))


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *,
             device=None):
    """`num` evenly spaced values from `start` to `stop` (included unless `endpoint=False`);
    array endpoints give one such sequence per element, along `axis`. Differentiable in
    the endpoints, which may be traced."""
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"linspace: num must be non-negative, got {num}")
    if isinstance(start, Tracer) or isinstance(stop, Tracer):
        return _traced_linspace(start, stop, num, endpoint, retstep, dtype, axis)
    from ._conversion import promote_inexact
    dt = _dt(dtype) if dtype is not None else promote_inexact(start, stop)[1]
    work = np.complex128 if dt.kind == "c" else np.float64    # (float64 dropped imaginary parts)
    host, step = np.linspace(np.asarray(start, work), np.asarray(stop, work),
                             int(num), endpoint=endpoint, retstep=True, axis=axis)
    out = wrap(create(_dev(device), "asarray", host.astype(dt)))
    if not retstep:
        return out
    step_dt = dt if dt.kind in "fc" else dtypes.default_float_dtype()
    return out, wrap(create(_dev(device), "asarray", np.asarray(step, step_dt)))


def _traced_linspace(start, stop, num, endpoint, retstep, dtype, axis):
    from ._conversion import promote_inexact
    (start, stop), dt = promote_inexact(start, stop)
    start, stop = asarray(start, dtype=dt), asarray(stop, dtype=dt)
    shape = broadcast_shapes(shape_of(start), shape_of(stop), opname="linspace")
    start, stop = lax.broadcast_to(start, shape), lax.broadcast_to(stop, shape)
    div = num - 1 if endpoint else num
    out_shape = (num,) + shape
    dims = tuple(range(1, len(shape) + 1))
    step = lax.div(lax.sub(stop, start), lax.full_like(start, div if div > 0 else math.nan))
    ramp = lax.broadcast_in_dim(lax.convert_element_type(lax.iota(num, like=start), dt),
                                out_shape, (0,))
    out = lax.broadcast_in_dim(start, out_shape, dims)
    if div > 0:                 # (one value with its endpoint: start, where the step is NaN)
        out = lax.add(out, lax.mul(ramp, lax.broadcast_in_dim(step, out_shape, dims)))
    if endpoint and num > 1:
        last = lax.reshape(stop, (1,) + shape)
        out = lax.concatenate([lax.slice_in_dim(out, 0, num - 1, axis=0), last], 0)
    out = lax.moveaxis(out, 0, axis % (len(shape) + 1))
    if dtype is not None:
        out = lax.convert_element_type(out, dtypes.canonicalize(dtype))
    return (out, step) if retstep else out


def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0, *,
             device=None):
    """`base ** linspace(start, stop, num)`; the endpoints (and a scalar base) may be
    traced."""
    num = operator.index(num)
    if any(isinstance(v, Tracer) for v in (start, stop, base)):
        if shape_of(base):
            raise NotImplementedError("logspace: an array base with traced endpoints is not "
                                      "supported; pass a scalar base")
        from ._math import power
        out = power(base, _traced_linspace(start, stop, num, endpoint, False, None, axis))
        return out if dtype is None else lax.convert_element_type(out, _dt(dtype))
    from ._conversion import promote_inexact      # the traced path's dtype, as JAX's
    dt = _dt(dtype) if dtype is not None else promote_inexact(start, stop, base)[1]
    host = np.logspace(start, stop, num, endpoint, base, axis=axis).astype(dt)
    return wrap(create(_dev(device), "asarray", host))


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0, *, device=None):
    """`num` values from `start` to `stop` evenly spaced on a log scale (both of one sign);
    real endpoints may be traced."""
    num = operator.index(num)
    if isinstance(start, Tracer) or isinstance(stop, Tracer):
        from ._conversion import promote_inexact
        from ._math import exp, log, abs as abs_, sign
        (start, stop), dt = promote_inexact(start, stop)
        if dt.kind == "c":
            raise NotImplementedError("geomspace: complex traced endpoints are not supported")
        start, stop = asarray(start, dtype=dt), asarray(stop, dtype=dt)
        out = lax.mul(sign(start), exp(_traced_linspace(log(abs_(start)), log(abs_(stop)), num,
                                                        endpoint, False, None, 0)))
        if num > 0:                     # the endpoints exactly, as NumPy gives them
            row = shape_of(out)[1:]

            def edge(v):
                return lax.expand_dims(lax.broadcast_to(v, row), (0,))
            with_stop = endpoint and num > 1
            middle = lax.slice_in_dim(out, 1, num - 1 if with_stop else num, axis=0)
            out = lax.concatenate([edge(start), middle] + ([edge(stop)] if with_stop else []), 0)
        out = lax.moveaxis(out, 0, axis % len(shape_of(out)))
        return out if dtype is None else lax.convert_element_type(out, _dt(dtype))
    from ._conversion import promote_inexact
    dt = _dt(dtype) if dtype is not None else promote_inexact(start, stop)[1]
    host = np.geomspace(start, stop, num, endpoint, axis=axis).astype(dt)
    return wrap(create(_dev(device), "asarray", host))


def eye(N, M=None, k=0, dtype=None, *, device=None):
    N, M = operator.index(N), None if M is None else operator.index(M)
    return wrap(create(_dev(device), "eye", N, M, operator.index(k), dtype=_dt(dtype)))


def identity(n, dtype=None, *, device=None):
    return eye(n, dtype=dtype, device=device)


def tri(N, M=None, k=0, dtype=None, *, device=None):
    host = np.tri(operator.index(N), None if M is None else operator.index(M), operator.index(k),
                  dtype=_dt(dtype))
    return wrap(create(_dev(device), "asarray", host))


def meshgrid(*xi, indexing="xy", sparse=False, copy=True):
    arrays = [asarray(x) for x in xi]
    n = len(arrays)
    shapes = [shape_of(a)[0] if shape_of(a) else 1 for a in arrays]
    out = []
    for i, a in enumerate(arrays):
        s = [1] * n
        s[i] = shapes[i]
        if indexing == "xy" and n >= 2 and i < 2:
            s[0], s[1] = s[1], s[0]
        a = lax.reshape(lax.reshape(a, (math.prod(shape_of(a)),)), tuple(s))
        if not sparse:
            full_shape = list(shapes)
            if indexing == "xy" and n >= 2:
                full_shape[0], full_shape[1] = full_shape[1], full_shape[0]
            a = lax.broadcast_to(a, tuple(full_shape))
        out.append(a)
    return tuple(out)
