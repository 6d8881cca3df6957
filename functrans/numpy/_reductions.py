"""Reductions with NumPy's signatures (`axis`, `keepdims`, `dtype`)."""
from __future__ import annotations

import builtins
import math

import numpy as np

from .. import dtypes, lax
from ..lax._util import dtype_of, shape_of
from ..array import wrap
from ._conversion import asarray, promote_inexact
from ._fast import numpy_value


def normalize_axes(axis, ndim, name="axis"):
    """A sorted tuple of non-negative axes from None, an int or a sequence."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < builtins.max(ndim, 1) or (ndim == 0 and a not in (0, -1)):
            raise ValueError(f"{name} {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {name}={axis}")
    return tuple(sorted(out)) if ndim else ()


def _keep(out, shape, axes, keepdims):
    if not keepdims:
        return out
    return lax.reshape(out, tuple(1 if i in axes else d for i, d in enumerate(shape)))


def _sum_dtype(dt):
    """NumPy's accumulator: booleans and small signed ints as int64, unsigned as uint64."""
    if dt == dtypes.bool_ or (dt.kind == "i" and dt.itemsize < 8):
        return dtypes.int64
    if dt.kind == "u" and dt.itemsize < 8:
        return np.dtype(np.uint64)
    return dt


def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """Sum over `axis` (all axes when None). Booleans and small integers sum as int64."""
    _no_out(out, "sum")
    v = numpy_value(a)
    if v is not None and dtype is None and initial is None and where is None:
        try:
            return wrap(v.sum(axis=axis, keepdims=keepdims))
        except (ValueError, TypeError):
            pass            # let the general path raise a descriptive error
    a = asarray(a)
    if where is not None:
        a = _masked(a, where, 0)
    axes = normalize_axes(axis, len(shape_of(a)))
    dt = dtypes.canonicalize(dtype) if dtype is not None else _sum_dtype(dtype_of(a))
    a = lax.convert_element_type(a, dt)
    out_ = lax.reduce_sum(a, axes)
    if initial is not None:
        out_ = lax.add(out_, initial)
    return _keep(out_, shape_of(a), axes, keepdims)


def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _no_out(out, "prod")
    a = asarray(a)
    if where is not None:
        a = _masked(a, where, 1)
    axes = normalize_axes(axis, len(shape_of(a)))
    dt = dtypes.canonicalize(dtype) if dtype is not None else _sum_dtype(dtype_of(a))
    a = lax.convert_element_type(a, dt)
    out_ = lax.reduce_prod(a, axes)
    if initial is not None:
        out_ = lax.mul(out_, initial)
    return _keep(out_, shape_of(a), axes, keepdims)


def _extremum(lax_fn, name):
    def f(a, axis=None, out=None, keepdims=False, initial=None, where=None):
        _no_out(out, name)
        a = asarray(a)
        axes = normalize_axes(axis, len(shape_of(a)))
        if where is not None:
            if initial is None:
                raise ValueError(f"{name} with where= needs initial=")
            a = _masked(a, where, initial)
        if initial is not None and math.prod(shape_of(a)) == 0:
            shape = tuple(d for i, d in enumerate(shape_of(a)) if i not in axes)
            return _keep(lax.full(shape, initial, dtype_of(a)), shape_of(a), axes, keepdims)
        res = lax_fn(a, axes)
        if initial is not None:
            res = (lax.max if name == "max" else lax.min)(res, initial)
        return _keep(res, shape_of(a), axes, keepdims)
    f.__name__ = name
    f.__doc__ = f"The {name}imum over `axis` (NaN propagates, as in NumPy)."
    return f


max = amax = _extremum(lax.reduce_max, "max")
min = amin = _extremum(lax.reduce_min, "min")


def _boolean(lax_fn, name):
    def f(a, axis=None, out=None, keepdims=False, where=None):
        _no_out(out, name)
        a = asarray(a)
        if dtype_of(a) != dtypes.bool_:
            a = lax.ne(a, 0)
        if where is not None:
            a = _masked(a, where, name == "all")
        axes = normalize_axes(axis, len(shape_of(a)))
        return _keep(lax_fn(a, axes), shape_of(a), axes, keepdims)
    f.__name__ = name
    return f


all = _boolean(lax.reduce_and, "all")
any = _boolean(lax.reduce_or, "any")


def mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    """Arithmetic mean over `axis`; integers average in the default float dtype."""
    _no_out(out, "mean")
    (a,), dt = promote_inexact(a)
    if dtype is not None:
        a = lax.convert_element_type(a, dtypes.canonicalize(dtype))
    shape = shape_of(a)
    axes = normalize_axes(axis, len(shape))
    if where is not None:
        count = sum(lax.broadcast_to(asarray(where), shape), axis=axis, keepdims=keepdims)
        total = sum(a, axis=axis, keepdims=keepdims, where=where)
        return lax.div(total, lax.convert_element_type(count, dtype_of(total)))
    n = math.prod(shape[i] for i in axes)
    return lax.div(sum(a, axis=axis, keepdims=keepdims), float(n) if n else math.nan)


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, correction=None,
        where=None):
    """Variance with `ddof` (NumPy) or `correction` (array API) degrees of freedom removed."""
    _no_out(out, "var")
    if correction is not None:
        ddof = correction
    (a,), _ = promote_inexact(a)
    if dtype is not None:
        a = lax.convert_element_type(a, dtypes.canonicalize(dtype))
    shape = shape_of(a)
    axes = normalize_axes(axis, len(shape))
    centered = lax.sub(a, mean(a, axis=axis, keepdims=True))
    n = math.prod(shape[i] for i in axes)
    ss = sum(lax.square(centered), axis=axis, keepdims=keepdims)
    return lax.div(ss, float(builtins.max(n - ddof, 0)) or math.nan)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, correction=None,
        where=None):
    return lax.sqrt(var(a, axis, dtype, out, ddof, keepdims, correction=correction))


def argmax(a, axis=None, out=None, keepdims=False):
    _no_out(out, "argmax")
    return _arg(lax.argmax, a, axis, keepdims)


def argmin(a, axis=None, out=None, keepdims=False):
    _no_out(out, "argmin")
    return _arg(lax.argmin, a, axis, keepdims)


def _arg(lax_fn, a, axis, keepdims):
    a = asarray(a)
    if axis is None:
        res = lax_fn(lax.reshape(a, (math.prod(shape_of(a)),)), 0)
        return lax.reshape(res, (1,) * len(shape_of(a))) if keepdims else res
    ax = normalize_axes(axis, len(shape_of(a)))[0]
    return _keep(lax_fn(a, ax), shape_of(a), (ax,), keepdims)


def cumsum(a, axis=None, dtype=None, out=None):
    _no_out(out, "cumsum")
    a = asarray(a)
    if axis is None:
        a, axis = lax.reshape(a, (math.prod(shape_of(a)),)), 0
    dt = dtypes.canonicalize(dtype) if dtype is not None else _sum_dtype(dtype_of(a))
    return lax.cumsum(lax.convert_element_type(a, dt), normalize_axes(axis, len(shape_of(a)))[0])


def cumprod(a, axis=None, dtype=None, out=None):
    _no_out(out, "cumprod")
    a = asarray(a)
    if axis is None:
        a, axis = lax.reshape(a, (math.prod(shape_of(a)),)), 0
    dt = dtypes.canonicalize(dtype) if dtype is not None else _sum_dtype(dtype_of(a))
    return lax.cumprod(lax.convert_element_type(a, dt),
                       normalize_axes(axis, len(shape_of(a)))[0])


cumulative_sum = cumsum
cumulative_prod = cumprod


def count_nonzero(a, axis=None, keepdims=False):
    return sum(lax.ne(asarray(a), 0), axis=axis, keepdims=keepdims)


def ptp(a, axis=None, out=None, keepdims=False):
    return lax.sub(max(a, axis, keepdims=keepdims), min(a, axis, keepdims=keepdims))


def _masked(a, where, fill):
    from ._math import where as where_
    return where_(where, a, fill)


def _no_out(out, name):
    if out is not None:
        raise TypeError(f"{name}: functrans arrays are immutable, so out= is not supported; "
                        "use the returned array")
