"""Sorting, searching and set functions.

`sort`/`argsort` are differentiable (the derivative follows the permutation). Functions
whose output *shape* depends on the values (`nonzero`, `argwhere`, `unique`, …) need
concrete inputs; under jit pass `size=` (and `fill_value=`) to fix the output length.
"""
from __future__ import annotations

from builtins import range as builtins_range
from typing import NamedTuple

import numpy as np

from .. import dtypes, lax
from ..core import Tracer, concrete_host_value, ConcretizationError, format_frame, user_frame
from ..errors import ConcretizationTypeError
from ..primitives._util import shape_of, dtype_of
from ..primitives.transfer import place
from ._conversion import asarray, promote
from ._reductions import normalize_axes
from ._shape import ravel, take


def _axis(a, axis):
    if axis is None:
        return ravel(a), 0
    return a, normalize_axes(axis, len(shape_of(a)))[0]


def sort(a, axis=-1, kind=None, order=None, *, stable=True, descending=False):
    """Sorted copy along `axis` (None: flattened); stable, NaNs last. Differentiable."""
    if order is not None:
        raise NotImplementedError("sort: order= (structured arrays) is not supported")
    a, ax = _axis(asarray(a), axis)
    if descending:
        return lax.rev(lax.sort(lax.rev(a, (ax,)), ax), (ax,))
    return lax.sort(a, ax)


def argsort(a, axis=-1, kind=None, order=None, *, stable=True, descending=False,
            dtype=None):
    """The (stable) permutation sorting `a` along `axis` (int64, or `dtype`)."""
    if order is not None:
        raise NotImplementedError("argsort: order= (structured arrays) is not supported")
    a, ax = _axis(asarray(a), axis)
    if descending:
        n = shape_of(a)[ax]
        flipped = lax.argsort(lax.rev(a, (ax,)), ax)
        out = lax.rev(lax.sub(n - 1, flipped), (ax,))
    else:
        out = lax.argsort(a, ax)
    return out if dtype is None else lax.convert_element_type(out, dtypes.canonicalize(dtype))


def lexsort(keys, axis=-1):
    """The stable permutation sorting by the last key, then the one before, …"""
    keys = [asarray(k) for k in keys]
    if not keys:
        raise TypeError("lexsort needs at least one key")
    from ._shape import take_along_axis
    ax = normalize_axes(axis, len(shape_of(keys[0])))[0]
    order = lax.argsort(keys[0], ax)
    for k in keys[1:]:
        order = take_along_axis(order, lax.argsort(take_along_axis(k, order, ax), ax), ax)
    return order


def partition(a, kth, axis=-1):
    """`a` with the kth element in sorted position (here: fully sorted, which qualifies)."""
    return sort(a, axis)


def argpartition(a, kth, axis=-1):
    return argsort(a, axis)


def sort_complex(a):
    """`a` sorted by real then imaginary part, as a complex array (as NumPy)."""
    a = asarray(a)
    dt = dtype_of(a)
    if dt.kind != "c":
        dt = {np.dtype(np.float64): np.dtype(np.complex128)}.get(
            dt, np.dtype(np.complex64) if dt.kind == "f" else dtypes.default_complex_dtype())
        a = lax.convert_element_type(a, dt)
    return sort(a)


def searchsorted(a, v, side="left", sorter=None, *, method=None):
    """Indices where `v` would be inserted into the 1-D ascending `a` (int64)."""
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    (a, v), dt = promote(a, v)
    a, v = asarray(a, dtype=dt), asarray(v, dtype=dt)
    if len(shape_of(a)) != 1:
        raise ValueError(f"searchsorted: a must be 1-D, got shape {shape_of(a)}")
    if sorter is not None:
        a = take(a, sorter)
    return lax.searchsorted(a, v, side=side)


def _check_method(name, method, options):
    if method not in options:
        raise ValueError(f"{name}: method={method!r} is not one of {list(options)} (JAX's "
                         "names for its algorithms; all give the same result here)")


def digitize(x, bins, right=False, *, method=None):
    """The bin of each value: i with bins[i-1] <= x < bins[i] (reversed for decreasing
    bins; `right` flips which edge is closed). `method` names JAX's search algorithm."""
    if method is not None:
        _check_method("digitize", method, ("compare_all", "scan", "scan_unrolled", "sort"))
    bins = asarray(bins)
    side = "left" if right else "right"
    n = shape_of(bins)[0] if shape_of(bins) else 0

    def increasing():
        return searchsorted(bins, x, side=side)

    def decreasing():
        return lax.sub(n, searchsorted(lax.rev(bins, (0,)), x, side=side))
    if n < 2:
        return increasing()
    if not isinstance(bins, Tracer):
        b = concrete_host_value(bins, "digitize's bins")
        return decreasing() if b[0] > b[-1] else increasing()
    up, down = increasing(), decreasing()            # traced bins: their order decides
    return lax.select(lax.broadcast_to(lax.gt(bins[0], bins[-1]), shape_of(up)), down, up)


# ------------------------------------------------------------------ value-dependent shapes
def _concrete(x, name):
    try:
        return concrete_host_value(x, name)
    except ConcretizationError:
        raise ConcretizationTypeError(
            f"{name} needs a concrete array: its output shape depends on the values, which "
            f"are not known under jit/vmap (at {format_frame(user_frame())}). Pass size= "
            "(and fill_value=) to fix the output length, or use fnp.where(cond, x, y) to "
            "select elementwise.") from None


def nonzero(a, *, size=None, fill_value=None):
    """Indices of the nonzero elements, one int64 array per axis. With `size` the result
    has that length (padded with `fill_value`, default 0, or truncated), which works on
    traced values too."""
    a = asarray(a)
    if len(shape_of(a)) == 0:
        raise ValueError("nonzero of a 0-d array is not supported; use atleast_1d first")
    if size is None:
        return tuple(lax.constant(i, like=a) for i in np.nonzero(_concrete(a, "nonzero")))
    return _nonzero_sized(a, int(size), fill_value)


def _nonzero_sized(a, size, fill_value):
    shape = shape_of(a)
    flat = lax.ne(ravel(a), lax.full_like(ravel(a), 0))
    n = shape_of(flat)[0]
    # slot k of the output takes the position of the k-th nonzero element
    rank = lax.sub(lax.cumsum(lax.convert_element_type(flat, np.int64), 0), 1)
    slot = lax.select(flat, rank, lax.full_like(rank, size))
    fill = 0 if fill_value is None else fill_value
    positions = lax.scatter_axes(lax.full((size,), -1, np.int64, like=a), lax.iota(n, like=a),
                                 slot, axes=(0,), mode="drop")
    found = lax.ge(positions, 0)
    coords = np.unravel_index(np.arange(max(n, 1)), shape) if n else \
        [np.zeros(1, np.int64)] * len(shape)
    out = []
    for axis, c in enumerate(coords):
        picked = lax.gather_axes(lax.constant(c.astype(np.int64), like=a),
                                 lax.max(positions, 0), axes=(0,), mode="clip")
        f = fill[axis] if isinstance(fill, (tuple, list)) else fill
        out.append(lax.select(found, picked, lax.full_like(picked, f)))
    return tuple(out)


def flatnonzero(a, *, size=None, fill_value=None):
    return nonzero(ravel(a), size=size, fill_value=fill_value)[0]


def argwhere(a, *, size=None, fill_value=None):
    """Indices of the nonzero elements as rows, shape (count, ndim)."""
    a = asarray(a)
    if len(shape_of(a)) == 0:
        a = lax.reshape(a, (1,))
        idx = nonzero(a, size=size, fill_value=fill_value)
        return lax.reshape(idx[0], (shape_of(idx[0])[0], 0))
    from ._shape import stack
    return stack(nonzero(a, size=size, fill_value=fill_value), axis=-1)


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None,
           *, equal_nan=True, size=None, fill_value=None, sorted=True):
    """The sorted unique values (of a concrete array), with NumPy's optional outputs.
    With `size` the results have that many entries (values padded with `fill_value`, default
    the smallest unique value; first indices with the smallest value's, counts with 0), which
    works on traced values too (flattened input, `axis=None`). `sorted=False` is accepted
    (the values come sorted all the same, as in JAX)."""
    if size is not None:
        if axis is not None:
            raise NotImplementedError("unique(size=...) with an axis: flatten the input or "
                                      "pass axis=None")
        res = _unique_all_sized(ravel(asarray(ar)), int(size), fill_value, equal_nan)
        wanted = (return_index, return_inverse, return_counts)
        res = (res[0],) + tuple(r for r, want in zip(res[1:], wanted) if want)
        return res if len(res) > 1 else res[0]
    raw = _concrete(asarray(ar), "unique")
    res = np.unique(raw, return_index, return_inverse, return_counts, axis=axis,
                    equal_nan=equal_nan)
    if isinstance(res, tuple):
        return tuple(asarray(r) for r in res)
    return asarray(res)


def _firsts(s, equal_nan=True):
    """Where each run of equal values of the sorted 1-D `s` starts (NaNs one run with
    `equal_nan`, else each its own)."""
    n = shape_of(s)[0]
    if n == 0:
        return lax.full((0,), True, np.bool_)
    head, tail = lax.slice_in_dim(s, 1, n), lax.slice_in_dim(s, 0, n - 1)
    new = lax.ne(head, tail)
    if equal_nan and dtypes.is_inexact(dtype_of(s)):
        new = lax.bitwise_and(new, lax.bitwise_not(lax.bitwise_and(lax.ne(head, head),
                                                                   lax.ne(tail, tail))))
    return lax.concatenate([lax.full((1,), True, np.bool_), new], 0)


def _compact(keep, values, size, fills):
    """The entries of each 1-D array of `values` where `keep` holds, in order: `size` of them
    (truncated, or padded with the matching entry of `fills`, a scalar or 0-d array), and
    how many were kept."""
    key = lax.convert_element_type(lax.bitwise_not(keep), np.int8)
    n = shape_of(keep)[0]
    count = lax.reduce_sum(lax.convert_element_type(keep, np.int64), (0,))
    valid = lax.lt(lax.iota(np.int64, size), count)
    out = []
    for v, f in zip(lax.sort_multiple((key,) + tuple(values), 0)[1:], fills):
        f = lax.convert_element_type(asarray(f), dtype_of(v))
        if n >= size:
            v = lax.slice_in_dim(v, 0, size)
        else:
            v = lax.concatenate([v, lax.broadcast_to(f, (size - n,))], 0)
        out.append(lax.select(valid, v, lax.broadcast_to(f, (size,))))
    return out, count


def _first_or(values, count, fill_value, default=0):
    """`fill_value`, or the first of `values` when there are some, else `default`."""
    if fill_value is not None:
        return fill_value
    first = lax.reshape(lax.slice_in_dim(values, 0, 1), ())
    return lax.select(lax.gt(count, 0), first, lax.convert_element_type(asarray(default),
                                                                        dtype_of(values)))


def _sorted_with_positions(a):
    """`a` (1-D) stably sorted, and where each sorted entry came from."""
    return lax.sort_multiple((a, lax.iota(np.int64, shape_of(a)[0])), 0)


def _unique_all_sized(a, size, fill_value, equal_nan=True):
    """Sized unique of the 1-D `a`: values, first indices, inverse indices, counts."""
    n = shape_of(a)[0]
    if n == 0 and fill_value is None and size:
        raise ValueError("unique: for an empty input with size > 0, pass fill_value")
    s, perm = _sorted_with_positions(a)
    first = _firsts(s, equal_nan)
    fill = lax.slice_in_dim(s, 0, 1) if fill_value is None else fill_value
    fill = lax.reshape(lax.convert_element_type(asarray(fill), dtype_of(a)), ())
    pos = lax.iota(np.int64, n)
    (values, index, starts), count = _compact(
        first, (s, perm, pos), size + 1,
        (fill, lax.reshape(lax.slice_in_dim(perm, 0, 1), ()) if n else 0, n))
    rank = lax.sub(lax.cumsum(lax.convert_element_type(first, np.int64), 0), 1)
    inverse = lax.sort_multiple((perm, rank), 0)[1]
    counts = lax.sub(lax.slice_in_dim(starts, 1, size + 1), lax.slice_in_dim(starts, 0, size))
    counts = lax.select(lax.lt(lax.iota(np.int64, size), count), counts,
                        lax.full((size,), 0, np.int64))
    return (lax.slice_in_dim(values, 0, size), lax.slice_in_dim(index, 0, size), inverse,
            counts)


def unique_values(x, /, *, size=None, fill_value=None):
    """The distinct values of `x`, sorted (`size`/`fill_value` as in `unique`)."""
    return unique(x, size=size, fill_value=fill_value)


class UniqueAllResult(NamedTuple):
    values: object
    indices: object
    inverse_indices: object
    counts: object


class UniqueCountsResult(NamedTuple):
    values: object
    counts: object


class UniqueInverseResult(NamedTuple):
    values: object
    inverse_indices: object


def unique_counts(x, /, *, size=None, fill_value=None):
    """The distinct values of `x` and how often each occurs (a named tuple; `size` and
    `fill_value` as in `unique`)."""
    values, counts = unique(x, return_counts=True, size=size, fill_value=fill_value)
    return UniqueCountsResult(values, counts)


def unique_inverse(x, /, *, size=None, fill_value=None):
    """The distinct values and, shaped like `x`, where each element is among them (`size`
    and `fill_value` as in `unique`)."""
    values, inverse = unique(x, return_inverse=True, size=size, fill_value=fill_value)
    return UniqueInverseResult(values, lax.reshape(inverse, shape_of(asarray(x))))


def unique_all(x, /, *, size=None, fill_value=None):
    """Values, first indices, inverse indices (shaped like `x`) and counts (named tuple;
    `size` and `fill_value` as in `unique`)."""
    values, index, inverse, counts = unique(x, True, True, True, size=size,
                                            fill_value=fill_value)
    return UniqueAllResult(values, index, lax.reshape(inverse, shape_of(asarray(x))), counts)


def _set_op(name, *arrays, **kw):
    raws = [_concrete(asarray(a), name) for a in arrays]
    res = getattr(np, name)(*raws, **kw)
    return tuple(asarray(r) for r in res) if isinstance(res, tuple) else asarray(res)


def _set_operands(ar1, ar2):
    (a, b), dt = promote(ar1, ar2)
    return ravel(asarray(a, dtype=dt)), ravel(asarray(b, dtype=dt))


def intersect1d(ar1, ar2, assume_unique=False, return_indices=False, *, size=None,
                fill_value=None):
    """The sorted values in both arrays (with `return_indices`, where each first occurs in
    either). With `size` the result has that length, padded with `fill_value` (default the
    first value, or 0; indices with the arrays' lengths), which works under jit."""
    if size is None:
        return _set_op("intersect1d", ar1, ar2, assume_unique=assume_unique,
                       return_indices=return_indices)
    a, b = _set_operands(ar1, ar2)
    size = int(size)
    (sa, pa), (sb, pb) = _sorted_with_positions(a), _sorted_with_positions(b)
    (values, ia), count = _compact(lax.bitwise_and(_firsts(sa), isin(sa, b)), (sa, pa), size,
                                   (0, shape_of(a)[0]))
    fill = _first_or(values, count, fill_value)
    values = lax.select(lax.lt(lax.iota(np.int64, size), count), values,
                        lax.broadcast_to(lax.convert_element_type(asarray(fill),
                                                                  dtype_of(values)), (size,)))
    if not return_indices:
        return values
    (ib,), _ = _compact(lax.bitwise_and(_firsts(sb), isin(sb, a)), (pb,), size,
                        (shape_of(b)[0],))
    return values, ia, ib


def _sized_set(arrays, keep_of, size, fill_value, default_first=True):
    """The sorted distinct values of each of `arrays` that `keep_of(i, sorted_i)` keeps,
    merged in order, `size` of them padded with `fill_value` (default, as JAX's, the
    smallest value, NaN where one is kept, when `default_first`, else 0)."""
    vals, keeps = [], []
    for i, x in enumerate(arrays):
        s = lax.sort(x, 0)
        vals.append(s)
        keeps.append(lax.bitwise_and(_firsts(s), keep_of(i, s)))
    s, keep = lax.sort_multiple((lax.concatenate(vals, 0), lax.concatenate(keeps, 0)), 0)
    (values,), count = _compact(keep, (s,), int(size), (0,))
    valid = lax.lt(lax.iota(np.int64, int(size)), count)
    if fill_value is None and default_first:
        first = lax.broadcast_to(_first_or(values, count, None), (int(size),))
        fill_value = lax.reduce_min(lax.select(valid, values, first), (0,))
    fill = 0 if fill_value is None else fill_value
    return lax.select(valid, values, lax.broadcast_to(
        lax.convert_element_type(asarray(fill), dtype_of(values)), (int(size),)))


def union1d(ar1, ar2, *, size=None, fill_value=None):
    """The sorted values in either array (`size`/`fill_value` as in `unique`)."""
    if size is None:
        return _set_op("union1d", ar1, ar2)
    return unique(lax.concatenate(list(_set_operands(ar1, ar2)), 0), size=size,
                  fill_value=fill_value)


def setdiff1d(ar1, ar2, assume_unique=False, *, size=None, fill_value=None):
    """The sorted values of `ar1` not in `ar2` (with `size`, padded with `fill_value`,
    default 0, which works under jit)."""
    if size is None:
        return _set_op("setdiff1d", ar1, ar2, assume_unique=assume_unique)
    a, b = ravel(asarray(ar1)), ravel(asarray(ar2))              # ar1's dtype, as in JAX
    return _sized_set((a,), lambda i, s: isin(s, b, invert=True), size, fill_value,
                      default_first=False)


def setxor1d(ar1, ar2, assume_unique=False, *, size=None, fill_value=None):
    """The sorted values in exactly one of the arrays (`size`/`fill_value` as in
    `intersect1d`; NaNs never match, so one from each array stays)."""
    if size is None:
        return _set_op("setxor1d", ar1, ar2, assume_unique=assume_unique)
    a, b = _set_operands(ar1, ar2)
    return _sized_set((a, b), lambda i, s: isin(s, (b, a)[i], invert=True), size, fill_value)


def isin(element, test_elements, assume_unique=False, invert=False, *, method="auto"):
    """Whether each element occurs in `test_elements` (works on traced values). `method`
    names JAX's algorithm."""
    _check_method("isin", method, ("auto", "compare_all", "binary_search", "sort"))
    (e, t), dt = promote(element, test_elements)
    e, t = asarray(e, dtype=dt), ravel(asarray(t, dtype=dt))
    es = shape_of(e)
    full = es + shape_of(t)
    hits = lax.eq(lax.broadcast_in_dim(e, full, tuple(range(len(es)))),
                  lax.broadcast_in_dim(t, full, (len(es),)))
    found = lax.reduce_or(hits, (len(es),))
    return lax.bitwise_not(found) if invert else found


def bincount(x, weights=None, minlength=0, *, length=None, out_sharding=None):
    """Counts (or summed weights) of each non-negative integer in `x`. The output length is
    `max(x) + 1` (x concrete) or `length` (works on traced values; larger values dropped)."""
    x = asarray(x)
    if not dtypes.is_integer(dtype_of(x)):
        raise TypeError(f"bincount needs integers, got {dtype_of(x)}")
    if length is None:
        raw = _concrete(x, "bincount")
        if raw.size and raw.min() < 0:
            raise ValueError("bincount: x must be non-negative")
        length = max(int(raw.max()) + 1 if raw.size else 0, int(minlength))
    if weights is None:
        w = lax.full(shape_of(x), 1, np.int64)
    else:
        w = asarray(weights)
        if not dtypes.is_inexact(dtype_of(w)):
            w = lax.convert_element_type(w, np.float64 if dtypes.is_integer(dtype_of(w))
                                         else dtypes.default_float_dtype())
    return place(lax.scatter_add_axes(lax.full((int(length),), 0, dtype_of(w)), ravel(w),
                                      ravel(x), axes=(0,), mode="drop"), out_sharding,
                 "bincount")


def _bin_edges(a, bins, range, name):
    """The edges for `bins` (a count over `range`, or over a's extent; or the edges
    themselves), in a's float dtype."""
    if isinstance(bins, (int, np.integer)):
        dt = dtype_of(a) if dtypes.is_inexact(dtype_of(a)) else dtypes.default_float_dtype()
        if range is None:
            try:
                raw = concrete_host_value(a, name)
            except ConcretizationError:
                return _traced_edges(a, int(bins), dt)
            range = (raw.min(), raw.max()) if raw.size else (0.0, 1.0)
        edges = np.histogram_bin_edges(np.zeros(0), int(bins), range=range)
        return asarray(edges.astype(dt))
    return asarray(bins)


def _traced_edges(a, bins, dt):
    """`bins` + 1 edges over the extent of a traced `a`, computed as NumPy computes them: from
    a's minimum and maximum (widened by 1/2 where they are equal), in a's float dtype (float64
    for integers)."""
    from ._creation import linspace
    from ._reductions import max as max_, min as min_
    if not shape_of(a)[0]:
        return asarray(np.histogram_bin_edges(np.zeros(0), bins).astype(dt))
    work = dtype_of(a) if dtypes.is_inexact(dtype_of(a)) else np.dtype(np.float64)
    lo, hi = (lax.convert_element_type(f(a), work) for f in (min_, max_))
    same = lax.eq(lo, hi)
    lo, hi = lax.select(same, lo - 0.5, lo), lax.select(same, hi + 0.5, hi)
    return lax.convert_element_type(linspace(lo, hi, bins + 1), dt)


def _bin_index(a, edges):
    """The bin of each element of 1-d `a` among `edges` (the last bin closed on the right),
    and the number of bins n, the index of everything outside them."""
    n = shape_of(edges)[0] - 1
    (a, edges), _ = promote(a, edges)            # integers against float edges, say
    idx = lax.sub(searchsorted(edges, a, side="right"), 1)
    last = lax.eq(a, edges[n])
    idx = lax.select(last, lax.full_like(idx, n - 1), idx)
    inside = lax.bitwise_and(lax.ge(idx, 0), lax.lt(idx, n))
    return lax.select(inside, idx, lax.full_like(idx, n)), n


def histogram(a, bins=10, range=None, weights=None, density=None):
    """Counts of `a` in `bins` (an int, over `range` or a's extent, or the edges).
    Returns `(hist, bin_edges)`."""
    a = ravel(asarray(a))
    edges = _bin_edges(a, bins, range, "histogram")
    idx, n = _bin_index(a, edges)
    hist = bincount(idx, weights, length=n)
    if density:
        from ._reductions import sum as sum_
        from ._shape import diff
        hist = _in_edges_dtype(hist, edges)
        hist = hist / sum_(hist) / _in_edges_dtype(diff(edges), edges)
    return hist, edges


def _in_edges_dtype(x, edges):
    """`x` in the float dtype of the bin edges (densities are divided there: NumPy's are
    float64 for float64 data)."""
    dt = dtype_of(edges)
    return lax.convert_element_type(x, dt if dtypes.is_inexact(dt) else
                                    dtypes.default_float_dtype())


def histogramdd(sample, bins=10, range=None, weights=None, density=None):
    """Counts of the D-dimensional points `sample` ((N, D), or D arrays of N) in a grid of
    bins: per axis a count (over `range[d]`, or the data's concrete extent) or edges.
    Returns `(hist, [edges per axis])`."""
    if isinstance(sample, (list, tuple)):
        columns = [ravel(asarray(c)) for c in sample]
    else:
        sample = asarray(sample)
        if len(shape_of(sample)) != 2:
            raise ValueError(f"histogramdd: sample must be (N, D) or a sequence of D arrays, "
                             f"got shape {shape_of(sample)}")
        columns = [sample[:, d] for d in builtins_range(shape_of(sample)[1])]
    dims = len(columns)
    per_axis = list(bins) if isinstance(bins, (list, tuple)) or \
        (hasattr(bins, "__len__") and not isinstance(bins, (int, np.integer))) else [bins] * dims
    ranges = list(range) if range is not None else [None] * dims
    if len(per_axis) != dims or len(ranges) != dims:
        raise ValueError(f"histogramdd: {len(per_axis)} bins and {len(ranges)} ranges for "
                         f"{dims} dimensions")
    edges, flat, counts = [], None, []
    for column, b, r in zip(columns, per_axis, ranges):
        e = _bin_edges(column, b, r, "histogramdd")
        idx, n = _bin_index(column, e)
        edges.append(e)
        counts.append(n)
        outside = lax.eq(idx, n)
        if flat is None:
            flat, bad = idx, outside
        else:
            flat, bad = lax.add(lax.mul(flat, n), idx), lax.bitwise_or(bad, outside)
    total = int(np.prod(counts))
    flat = lax.select(bad, lax.full_like(flat, total), flat)
    hist = lax.reshape(bincount(flat, weights, length=total), tuple(counts))
    if density:
        from ._reductions import sum as sum_
        from ._shape import diff
        hist = _in_edges_dtype(hist, edges[0])
        hist = hist / sum_(hist)
        for d, e in enumerate(edges):
            shape = tuple(counts[d] if k == d else 1 for k in builtins_range(dims))
            hist = hist / lax.reshape(_in_edges_dtype(diff(e), e), shape)
    return hist, edges


def histogram2d(x, y, bins=10, range=None, weights=None, density=None):
    """Counts of the points (x, y) in a grid of bins (as histogramdd; `bins` an int, a pair
    of counts or of edges, or one array of edges for both axes, as NumPy reads it). Returns
    `(hist, xedges, yedges)`."""
    if not isinstance(bins, (int, np.integer)) and len(bins) != 2:
        bins = [bins, bins]
    hist, (xedges, yedges) = histogramdd([x, y], bins, range, weights, density)
    return hist, xedges, yedges
