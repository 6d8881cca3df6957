"""Reductions with NumPy's signatures (`axis`, `keepdims`, `dtype`)."""
from __future__ import annotations

import builtins
import math

import numpy as np

from .. import dtypes, lax
from ..primitives._util import dtype_of, shape_of
from ..primitives.reductions import reduce_sum_p
from ..primitives.transfer import place
from ..array import wrap
from ._conversion import as_operand, asarray, promote_inexact
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
    kind = dtypes.kind_char(dt)     # int4, uint4, ... too
    if dt == dtypes.bool_ or (kind == "i" and dt.itemsize < 8):
        return dtypes.int64
    if kind == "u" and dt.itemsize < 8:
        return np.dtype(np.uint64)
    return dt


def _reduction_dtype(dtype, a, promote_integers):
    """The dtype a sum or product of `a` computes in: `dtype`, else NumPy's accumulator
    (`promote_integers`), else `a`'s own (booleans as int32, as JAX's)."""
    if dtype is not None:
        return dtypes.canonicalize(dtype)
    if promote_integers:
        return _sum_dtype(dtype_of(a))
    return np.dtype(np.int32) if dtype_of(a) == dtypes.bool_ else dtype_of(a)


def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None,
        promote_integers=True):
    """Sum over `axis` (all axes when None). Booleans and small integers sum as int64 (with
    `promote_integers=False`, in their own type; booleans as int32)."""
    no_out(out, "sum")
    v = numpy_value(a)
    if v is not None and dtype is None and initial is None and where is None and \
            promote_integers:
        try:
            axes = normalize_axes(axis, v.ndim)
            if v.dtype.kind in "fc" and 0 < len(axes) < v.ndim:    # as a compiled program
                return _keep(wrap(reduce_sum_p.impl(np, v, axes)), v.shape, axes, keepdims)
            return wrap(v.sum(axis=axis, keepdims=keepdims))
        except (ValueError, TypeError):
            pass            # let the general path raise a descriptive error
    return _fold(lax.reduce_sum, lax.add, 0, a, axis, dtype, keepdims, initial, where,
                 promote_integers)


def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None,
         promote_integers=True):
    """Product over `axis` (`promote_integers` as in `sum`)."""
    no_out(out, "prod")
    return _fold(lax.reduce_prod, lax.mul, 1, a, axis, dtype, keepdims, initial, where,
                 promote_integers)


def _fold(reduce, combine, unit, a, axis, dtype, keepdims, initial, where, promote_integers):
    """The general path of `sum` and `prod`: `reduce` over the axes, then `combine` with
    `initial`; entries masked out by `where` count as `unit`."""
    a = asarray(a)
    if where is not None:
        a = _masked(a, where, unit)
    axes = normalize_axes(axis, len(shape_of(a)))
    dt = _reduction_dtype(dtype, a, promote_integers)
    out = reduce(lax.convert_element_type(a, dtypes.accumulation_dtype(dt)), axes)
    if initial is not None:
        out = combine(out, initial)
    return _keep(lax.convert_element_type(out, dt), shape_of(a), axes, keepdims)


def _extremum(lax_fn, name):
    def f(a, axis=None, out=None, keepdims=False, initial=None, where=None):
        no_out(out, name)
        a = asarray(a)
        axes = normalize_axes(axis, len(shape_of(a)))
        if initial is not None:             # taken in the array's type, as JAX
            initial = lax.convert_element_type(initial, dtype_of(a))
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


def as_bool(x):
    """`x` as booleans: its nonzero entries are True (NumPy's truth of numbers)."""
    x = as_operand(x)
    if type(x) in (int, float, bool, complex):
        return asarray(bool(x))
    return x if dtype_of(x) == dtypes.bool_ else lax.ne(x, 0)


def _boolean(lax_fn, name):
    def f(a, axis=None, out=None, keepdims=False, where=None):
        no_out(out, name)
        a = as_bool(a)
        if where is not None:
            a = _masked(a, where, name == "all")
        axes = normalize_axes(axis, len(shape_of(a)))
        return _keep(lax_fn(a, axes), shape_of(a), axes, keepdims)
    f.__name__ = name
    return f


all = _boolean(lax.reduce_and, "all")
any = _boolean(lax.reduce_or, "any")


def mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    """Arithmetic mean over `axis`; integers average in the default float dtype (an integer
    `dtype` truncates the mean toward zero)."""
    no_out(out, "mean")
    if dtype is not None and not dtypes.is_inexact(dtypes.canonicalize(dtype)):
        return lax.convert_element_type(mean(a, axis, None, None, keepdims, where),
                                        dtypes.canonicalize(dtype))
    (a,), dt = promote_inexact(a)
    if dtype is not None:
        a = lax.convert_element_type(a, dtypes.canonicalize(dtype))
    if dtypes.accumulation_dtype(dtype_of(a)) != dtype_of(a):      # bfloat16: in float32
        return _in_accumulation_dtype(_mean, a, axis=axis, keepdims=keepdims, where=where)
    shape = shape_of(a)
    axes = normalize_axes(axis, len(shape))
    if where is not None:
        count = sum(lax.broadcast_to(asarray(where), shape), axis=axis, keepdims=keepdims)
        total = sum(a, axis=axis, keepdims=keepdims, where=where)
        return lax.div(total, lax.convert_element_type(count, dtype_of(total)))
    n = math.prod(shape[i] for i in axes)
    return lax.div(sum(a, axis=axis, keepdims=keepdims), float(n) if n else math.nan)


_mean = mean


def _in_accumulation_dtype(f, a, **kwargs):
    """`f(a, **kwargs)` computed in `a`'s accumulation dtype (float32 for bfloat16), rounded
    back to `a`'s dtype."""
    dt = dtype_of(a)
    acc = lax.convert_element_type(a, dtypes.accumulation_dtype(dt))
    return lax.convert_element_type(f(acc, **kwargs), dt)


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, correction=None,
        where=None, mean=None):
    """Variance with `ddof` (NumPy) or `correction` (array API) degrees of freedom removed;
    `mean`, shaped as with `keepdims=True`, replaces the mean it centres on."""
    no_out(out, "var")
    if correction is not None:
        ddof = correction
    (a,), _ = promote_inexact(a)
    if dtype is not None:
        a = lax.convert_element_type(a, dtypes.canonicalize(dtype))
    if dtypes.accumulation_dtype(dtype_of(a)) != dtype_of(a):      # bfloat16: in float32
        return _in_accumulation_dtype(var, a, axis=axis, ddof=ddof, keepdims=keepdims,
                                      where=where, mean=mean)
    shape = shape_of(a)
    axes = normalize_axes(axis, len(shape))
    if mean is None:
        mean = _mean(a, axis=axis, keepdims=True, where=where)
    elif len(shape_of(asarray(mean))) != len(shape):
        raise ValueError(f"var: mean= must have the input's rank {len(shape)} (the shape "
                         f"keepdims=True gives), got shape {shape_of(asarray(mean))}")
    centered = lax.sub(a, lax.convert_element_type(asarray(mean), dtype_of(a)))
    if dtype_of(centered).kind == "c":       # the mean of |x - mean|^2, a real number
        centered = lax.abs(centered)
    ss = sum(lax.square(centered), axis=axis, keepdims=keepdims, where=where)
    if where is None:
        n = math.prod(shape[i] for i in axes)
        return lax.div(ss, float(builtins.max(n - ddof, 0)) or math.nan)
    count = sum(lax.broadcast_to(asarray(where), shape), axis=axis, keepdims=keepdims)
    dof = lax.sub(lax.convert_element_type(count, dtype_of(ss)), float(ddof))
    return lax.div(ss, lax.select(lax.gt(dof, 0.0), dof, lax.full_like(dof, math.nan)))


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, correction=None,
        where=None, mean=None):
    """Standard deviation (the square root of `var`)."""
    return lax.sqrt(var(a, axis, dtype, out, ddof, keepdims, correction=correction,
                        where=where, mean=mean))


def argmax(a, axis=None, out=None, keepdims=False):
    no_out(out, "argmax")
    return _arg(lax.argmax, a, axis, keepdims)


def argmin(a, axis=None, out=None, keepdims=False):
    no_out(out, "argmin")
    return _arg(lax.argmin, a, axis, keepdims)


def _arg(lax_fn, a, axis, keepdims):
    a = asarray(a)
    if axis is not None and not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{lax_fn.__name__}: axis must be an integer or None, got {axis!r} "
                        f"(it picks one axis; reshape first to search several together)")
    if axis is None:
        res = lax_fn(lax.reshape(a, (math.prod(shape_of(a)),)), 0)
        return lax.reshape(res, (1,) * len(shape_of(a))) if keepdims else res
    ax = normalize_axes(axis, len(shape_of(a)))[0]
    return _keep(lax_fn(a, ax), shape_of(a), (ax,), keepdims)


def cumsum(a, axis=None, dtype=None, out=None):
    no_out(out, "cumsum")
    return _running(lax.cumsum, a, axis, dtype)


def cumprod(a, axis=None, dtype=None, out=None):
    no_out(out, "cumprod")
    return _running(lax.cumprod, a, axis, dtype)


def _running(scan, a, axis, dtype):
    """`cumsum` or `cumprod` by `scan`: over the flattened array when `axis` is None, in
    NumPy's accumulator dtype unless `dtype` is given."""
    a = asarray(a)
    if axis is None:
        a, axis = lax.reshape(a, (math.prod(shape_of(a)),)), 0
    dt = dtypes.canonicalize(dtype) if dtype is not None else _sum_dtype(dtype_of(a))
    out = scan(lax.convert_element_type(a, dtypes.accumulation_dtype(dt)),
               normalize_axes(axis, len(shape_of(a)))[0])
    return lax.convert_element_type(out, dt)


def _cumulative(name, scan, initial, x, axis, dtype, include_initial):
    x = asarray(x)
    nd = len(shape_of(x))
    if nd == 0:
        raise ValueError(f"{name}: needs an array of at least one dimension")
    if axis is None:
        if nd > 1:
            raise ValueError(f"{name}: axis is required for an array of {nd} dimensions")
        axis = 0
    ax = normalize_axes(axis, nd)[0]
    out = scan(x, ax, dtype)
    if not include_initial:
        return out
    shape = list(shape_of(out))
    shape[ax] = 1
    first = lax.full(tuple(shape), initial, dtype_of(out), like=out)
    return lax.concatenate([first, out], ax)


def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial=False):
    """Running sums along `axis` (the array API standard's function); `include_initial`
    puts a leading 0."""
    return _cumulative("cumulative_sum", cumsum, 0, x, axis, dtype, include_initial)


def cumulative_prod(x, /, *, axis=None, dtype=None, include_initial=False):
    """Running products along `axis`; `include_initial` puts a leading 1."""
    return _cumulative("cumulative_prod", cumprod, 1, x, axis, dtype, include_initial)


def count_nonzero(a, axis=None, keepdims=False):
    return sum(as_bool(a), axis=axis, keepdims=keepdims)


def ptp(a, axis=None, out=None, keepdims=False):
    return lax.sub(max(a, axis, keepdims=keepdims), min(a, axis, keepdims=keepdims))


def _masked(a, where, fill):
    from ._math import where as where_
    return where_(where, a, fill)


def no_out(out, name):
    """Refuse NumPy's `out=` (arrays are immutable)."""
    if out is not None:
        raise TypeError(f"{name}: functrans arrays are immutable, so out= is not supported; "
                        "use the returned array")


# ------------------------------------------------------------------ NaN-ignoring reductions
def _nan_filled(a, fill):
    """`a` with NaNs replaced by `fill` (integers have no NaNs)."""
    a = asarray(a)
    if not dtypes.is_inexact(dtype_of(a)):
        return a
    return lax.select(lax.isnan(a), lax.full_like(a, fill), a)


def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """Sum treating NaNs as zero."""
    return sum(_nan_filled(a, 0), axis, dtype, out, keepdims, initial, where)


def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """Product treating NaNs as one."""
    return prod(_nan_filled(a, 1), axis, dtype, out, keepdims, initial, where)


def _not_nan(a):
    return lax.bitwise_not(lax.isnan(a)) if dtypes.is_inexact(dtype_of(a)) else \
        lax.full_like(a, True, dtype=dtypes.bool_)


def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    """Mean over the non-NaN values (NaN where there are none)."""
    no_out(out, "nanmean")
    (a,), _ = promote_inexact(a)
    valid = _not_nan(a)
    if where is not None:
        valid = lax.bitwise_and(valid, lax.broadcast_to(asarray(where), shape_of(a)))
    return mean(a, axis, dtype, keepdims=keepdims, where=valid)


def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, correction=None,
           where=None, mean=None):
    """Variance over the non-NaN values."""
    no_out(out, "nanvar")
    (a,), _ = promote_inexact(a)
    valid = _not_nan(a)
    if where is not None:
        valid = lax.bitwise_and(valid, lax.broadcast_to(asarray(where), shape_of(a)))
    return var(a, axis, dtype, ddof=ddof, keepdims=keepdims, correction=correction,
               where=valid, mean=mean)


def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, correction=None,
           where=None, mean=None):
    return lax.sqrt(nanvar(a, axis, dtype, out, ddof, keepdims, correction=correction,
                           where=where, mean=mean))


def _nan_extremum(fn, name, fill):
    def f(a, axis=None, out=None, keepdims=False, initial=None, where=None):
        a = asarray(a)
        res = fn(_nan_filled(a, fill), axis, out, keepdims, initial, where)
        if initial is not None or not dtypes.is_inexact(dtype_of(a)):
            return res      # `initial` takes part in every slice: none is all NaN
        all_nan = all(lax.isnan(a), axis=axis, keepdims=keepdims)
        return lax.select(all_nan, lax.full_like(res, math.nan), res)
    f.__name__ = name
    f.__doc__ = f"The {name[3:]}imum ignoring NaNs (NaN where a slice is all NaN)."
    return f


nanmax = _nan_extremum(max, "nanmax", -math.inf)
nanmin = _nan_extremum(min, "nanmin", math.inf)


def _nan_arg(fn, a, axis, out, keepdims, fill):
    a = asarray(a)
    res = fn(_nan_filled(a, fill), axis, out, keepdims)
    if not dtypes.is_inexact(dtype_of(a)):
        return res
    all_nan = all(lax.isnan(a), axis=axis, keepdims=keepdims)
    return lax.select(all_nan, lax.full_like(res, -1), res)


def nanargmax(a, axis=None, out=None, keepdims=False):
    """argmax ignoring NaNs (-1 where a slice is all NaN, as JAX)."""
    return _nan_arg(argmax, a, axis, out, keepdims, -math.inf)


def nanargmin(a, axis=None, out=None, keepdims=False):
    """argmin ignoring NaNs (-1 where a slice is all NaN, as JAX)."""
    return _nan_arg(argmin, a, axis, out, keepdims, math.inf)


def nancumsum(a, axis=None, dtype=None, out=None):
    return cumsum(_nan_filled(a, 0), axis, dtype, out)


def nancumprod(a, axis=None, dtype=None, out=None):
    return cumprod(_nan_filled(a, 1), axis, dtype, out)


# ------------------------------------------------------------------ order statistics
_QUANTILE_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
             keepdims=False, *, weights=None):
    """The q-th quantiles (q in [0, 1]) over `axis`; the axes of q come first. Methods:
    linear (default), lower, higher, midpoint, nearest. Differentiable (through sort)."""
    no_out(out, "quantile")
    return _quantile(a, q, axis, method, keepdims, ignore_nan=False, weights=weights)


def nanquantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                keepdims=False, *, weights=None):
    """quantile ignoring NaNs."""
    no_out(out, "nanquantile")
    return _quantile(a, q, axis, method, keepdims, ignore_nan=True, weights=weights)


def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False, *, weights=None, out_sharding=None):
    """quantile with q in percent."""
    return place(quantile(a, _fraction(q), axis, out, overwrite_input, method, keepdims,
                          weights=weights), out_sharding, "percentile")


def _fraction(q):
    """q / 100: a Python number stays one (weak, so it takes the data's precision, as it
    does under jit)."""
    if type(q) in (int, float):
        return q / 100.0
    return lax.div(*promote_inexact(q, 100.0)[0])


def nanpercentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                  keepdims=False, *, weights=None):
    return nanquantile(a, _fraction(q), axis, out, overwrite_input, method, keepdims,
                       weights=weights)


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """The median over `axis` (mean of the two middle values for even counts)."""
    no_out(out, "median")
    return _quantile(a, 0.5, axis, "linear", keepdims, ignore_nan=False)


def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    no_out(out, "nanmedian")
    return _quantile(a, 0.5, axis, "linear", keepdims, ignore_nan=True)


def _quantile(a, q, axis, method, keepdims, ignore_nan, weights=None):
    if weights is not None:
        raise NotImplementedError("quantile: weights= is not supported")
    if method not in _QUANTILE_METHODS:
        raise ValueError(f"quantile: method must be one of {_QUANTILE_METHODS}, got "
                         f"{method!r}")
    (a,), dt = promote_inexact(a)
    shape = shape_of(a)
    axes = normalize_axes(axis, len(shape))
    # the reduced axes last, flattened into one
    lead = [i for i in range(len(shape)) if i not in axes]
    a = lax.transpose(a, tuple(lead) + axes)
    lead_shape = tuple(shape[i] for i in lead)
    n = math.prod(shape[i] for i in axes)
    srt = lax.sort(lax.reshape(a, lead_shape + (n,)), -1)
    if n == 0:      # no order statistics: a NaN stands in (NumPy's median of an empty slice)
        srt = lax.full(lead_shape + (1,), math.nan, dt)
    real_dt = np.finfo(dt).dtype         # positions are real (complex values sort by parts)
    q = asarray(q, dtype=real_dt)
    q_shape = shape_of(q)
    if ignore_nan:
        count = sum(_not_nan(srt), axis=-1)          # NaNs sort last
        last = lax.convert_element_type(lax.max(lax.sub(count, 1), 0), real_dt)
        full = q_shape + lead_shape
        pos = lax.mul(lax.broadcast_in_dim(q, full, tuple(range(len(q_shape)))),
                      lax.broadcast_in_dim(last, full, tuple(range(len(q_shape), len(full)))))
    else:
        pos = lax.mul(q, float(n - 1))
    lo = lax.floor(pos)
    frac = lax.sub(pos, lo)
    lo_i = lax.convert_element_type(lo, dtypes.int64)
    hi_i = lax.convert_element_type(lax.ceil(pos), dtypes.int64)
    pick = _order_statistic(srt, q_shape, lead_shape, ignore_nan)
    if method == "lower":
        out = pick(lo_i)
    elif method == "higher":
        out = pick(hi_i)
    elif method == "nearest":
        nearest = lax.round(pos, lax.RoundingMethod.TO_NEAREST_EVEN)
        out = pick(lax.convert_element_type(nearest, dtypes.int64))
    elif method == "midpoint":
        out = lax.mul(lax.add(pick(lo_i), pick(hi_i)), 0.5)
    else:
        below, above = pick(lo_i), pick(hi_i)
        if not ignore_nan:
            frac = lax.broadcast_in_dim(frac, q_shape + lead_shape, tuple(range(len(q_shape))))
        diff = lax.sub(above, below)
        weight = lax.convert_element_type(frac, dt)
        out = lax.select(lax.ge(frac, 0.5), lax.sub(above, lax.mul(diff, lax.sub(1.0, weight))),
                         lax.add(below, lax.mul(diff, weight)))
        # at a knot the element itself; towards an infinite end that infinity (their
        # difference is infinite or NaN; opposite infinities give NaN)
        out = lax.select(lax.eq(frac, 0.0), below, out)
        out = lax.select(lax.bitwise_and(lax.bitwise_or(lax.isinf(below), lax.isinf(above)),
                                         lax.gt(frac, 0.0)), lax.add(below, above), out)
    if ignore_nan:
        undefined = lax.eq(count, 0)
    elif n:                         # NaNs sort last: a slice with one has its quantiles NaN
        undefined = lax.isnan(lax.reshape(lax.slice_in_dim(srt, n - 1, n, axis=len(lead_shape)),
                                          lead_shape))
    if ignore_nan or n:
        out = lax.select(lax.broadcast_in_dim(undefined, shape_of(out),
                                              tuple(range(len(q_shape), len(shape_of(out))))),
                         lax.full_like(out, math.nan), out)
    if keepdims:
        kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
        out = lax.reshape(out, q_shape + kept)
    return out


def _order_statistic(srt, q_shape, lead_shape, per_slice):
    """A function from positions (shape q_shape, or q_shape + lead_shape when `per_slice`)
    to the sorted values there, shaped q_shape + lead_shape."""
    last = len(lead_shape)
    if not per_slice:
        return lambda idx: lax.gather_axes(srt, idx, axes=(last,), mode="clip")
    full = q_shape + lead_shape
    nq = len(q_shape)
    lead_idx = [lax.broadcast_in_dim(lax.iota(d, like=srt), full, (nq + i,))
                for i, d in enumerate(lead_shape)]
    return lambda idx: lax.gather_axes(srt, *lead_idx, idx, axes=tuple(range(last + 1)),
                                       mode="clip")


def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """Weighted mean over `axis`; `returned=True` also gives the sum of the weights."""
    (a,), dt = promote_inexact(a)
    if weights is None:
        avg = mean(a, axis, keepdims=keepdims)
        if not returned:
            return avg
        n = math.prod(shape_of(a)) // builtins.max(math.prod(shape_of(avg)), 1)
        return avg, lax.full_like(avg, float(n))
    (a, w), dt = promote_inexact(a, weights)
    w = asarray(w)
    if shape_of(w) != shape_of(a):
        if axis is None or len(shape_of(w)) != 1:
            raise ValueError(f"average: weights of shape {shape_of(w)} differ from a's "
                             f"{shape_of(a)}; 1-D weights need an axis")
        ax = normalize_axes(axis, len(shape_of(a)))[0]
        if shape_of(w)[0] != shape_of(a)[ax]:
            raise ValueError(f"average: weights of length {shape_of(w)[0]} do not match axis "
                             f"{ax} of size {shape_of(a)[ax]}")
        w = lax.broadcast_in_dim(w, shape_of(a), (ax,))
    total = sum(w, axis, keepdims=keepdims)
    avg = lax.div(sum(lax.mul(a, w), axis, keepdims=keepdims), total)
    return (avg, total) if returned else avg
