"""Sorting primitives: `sort` (several operands ordered by the first, stably), `top_k` and
`searchsorted`.

`sort(*operands, dimension)` returns every operand permuted along `dimension` by the stable
ascending order of the first (NaNs last, as NumPy); sorting `(x, iota)` gives argsort. The
derivative of a sort is the same permutation applied to the tangents (ties keep their
order, so it is well defined).
"""
from __future__ import annotations

import operator

import numpy as np

from .. import dtypes
from ..core import ShapedArray, on_operand_device
from ._util import (primitive, def_nondiff, shape_of, dtype_of, wanted, bdim_size,
                    broadcast_batched, canonical_axis)
from .shape_ops import broadcast_in_dim, iota, moveaxis, full_like
from .indexing import take_along_axis, add_along_axis


# =============================================================== sort
def _sort_impl(xp, *operands, dimension):
    keys = operands[0]
    stable = {"kind": "stable"} if xp is np else {}     # CuPy always sorts stably
    if len(operands) == 1:
        return [xp.sort(keys, axis=dimension, **stable)]
    order = xp.argsort(keys, axis=dimension, **stable)
    return [xp.take_along_axis(xp.asarray(o), order, axis=dimension) for o in operands]


def _sort_aval(*operands, dimension):
    shape = operands[0].shape
    if not 0 <= dimension < len(shape):
        raise ValueError(f"sort: dimension {dimension} is out of bounds for shape {shape}")
    for o in operands[1:]:
        if o.shape != shape:
            raise ValueError(f"sort: all operands must have the shape of the keys {shape}, "
                             f"got {o.shape}")
    return [ShapedArray(o.shape, o.dtype) for o in operands]


sort_p = primitive("sort", _sort_impl, _sort_aval, multiple_results=True)


def _with_permutation(operands, dimension):
    """The sorted operands and the permutation that sorts them."""
    shape = shape_of(operands[0])
    order = broadcast_in_dim(iota(shape[dimension], like=operands[0]), shape, (dimension,))
    *outs, perm = sort_p.bind(*operands, order, dimension=dimension)
    return outs, perm


def _sort_jvp(primals, tangents, dimension):
    if all(t is None for t in tangents):
        return sort_p.bind(*primals, dimension=dimension), [None] * len(primals)
    outs, perm = _with_permutation(primals, dimension)
    return outs, [None if t is None else
                  take_along_axis(t, perm, dimension, mode="promise_in_bounds")
                  for t in tangents]


def _sort_vjp(primals, needs, dimension):
    want = wanted(needs, primals)
    if not any(want):
        return sort_p.bind(*primals, dimension=dimension), None
    outs, perm = _with_permutation(primals, dimension)

    def backward(cts):
        return [add_along_axis(full_like(c, 0), perm, c, dimension,
                               mode="promise_in_bounds") if w and c is not None else None
                for c, w in zip(cts, want)]
    return outs, backward


def _sort_batch(vals, dims, dimension):
    size = bdim_size(vals, dims)
    vals = [broadcast_batched(v, d, size) for v, d in zip(vals, dims)]
    outs = sort_p.bind(*vals, dimension=dimension + 1)
    return outs, [0] * len(outs)


sort_p.jvp, sort_p.vjp, sort_p.batch = _sort_jvp, _sort_vjp, _sort_batch


def sort(operand, dimension=-1, is_stable=True, num_keys=1):
    """`operand` sorted ascending along `dimension` (stable, NaNs last). A tuple or list of
    operands is permuted together by the order of the first (`num_keys=1`)."""
    if isinstance(operand, (tuple, list)):
        if num_keys != 1:
            raise NotImplementedError(f"sort: num_keys={num_keys}; only the first operand "
                                      "can be the key (num_keys=1)")
        return tuple(sort_multiple(operand, dimension))
    rank = len(shape_of(operand))
    return sort_p.bind(operand, dimension=dimension % rank)[0]


@on_operand_device
def sort_multiple(operands, dimension=-1):
    """All `operands` permuted by the stable ascending order of the first."""
    rank = len(shape_of(operands[0]))
    return sort_p.bind(*operands, dimension=dimension % rank)


def argsort(operand, dimension=-1, index_dtype=dtypes.int64):
    """The stable permutation that sorts `operand` along `dimension`."""
    rank = len(shape_of(operand))
    dimension = dimension % rank
    shape = shape_of(operand)
    order = broadcast_in_dim(iota(shape[dimension], index_dtype, like=operand), shape,
                             (dimension,))
    return sort_p.bind(operand, order, dimension=dimension)[1]


# =============================================================== searchsorted
def _searchsorted_impl(xp, sorted_arr, values, side):
    return xp.searchsorted(sorted_arr, values, side=side).astype(np.int64, copy=False)


def _searchsorted_aval(sorted_arr, values, side):
    if len(sorted_arr.shape) != 1:
        raise ValueError(f"searchsorted: the sorted array must be 1-D, got shape "
                         f"{sorted_arr.shape}")
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    return ShapedArray(values.shape, dtypes.int64)


searchsorted_p = primitive("searchsorted", _searchsorted_impl, _searchsorted_aval)
def_nondiff(searchsorted_p)


def _searchsorted_batch(vals, dims, side):
    a, v = vals
    da, dv = dims
    if da is None:
        return searchsorted_p.bind(a, v, side=side), dv
    # a sorted array per example: count the elements before each value
    from .elementwise import lt, le, convert_element_type
    from .reductions import reduce_sum
    size = bdim_size(vals, dims)
    a = moveaxis(a, da, 0)
    v = broadcast_batched(v, dv, size)
    vshape = shape_of(v)
    n = shape_of(a)[1]
    full_shape = vshape + (n,)
    a_b = broadcast_in_dim(a, full_shape, (0, len(full_shape) - 1))
    v_b = broadcast_in_dim(v, full_shape, tuple(range(len(vshape))))
    before = (lt if side == "left" else le)(a_b, v_b)
    return reduce_sum(convert_element_type(before, dtypes.int64), (len(vshape),)), 0


searchsorted_p.batch = _searchsorted_batch


@on_operand_device
def searchsorted(sorted_arr, values, side="left"):
    """Insertion points of `values` in the 1-D ascending `sorted_arr` (int64)."""
    return searchsorted_p.bind(sorted_arr, values, side=side)


# =============================================================== top_k
def _descending_order(xp, x, axis):
    """The stable order of `x` along `axis` from the largest (NaN first, as JAX's top_k)."""
    stable = {"kind": "stable"} if xp is np else {}
    if x.dtype.kind in "biu":     # ~x decreases as x increases, with no overflow (as -x has)
        return xp.argsort(~x, axis=axis, **stable)
    order = xp.argsort(-x, axis=axis, **stable)                 # NaNs last
    nan = xp.isnan(xp.take_along_axis(x, order, axis=axis))
    if nan.any():
        order = xp.take_along_axis(order, xp.argsort(~nan, axis=axis, **stable), axis=axis)
    return order


def _top_k_impl(xp, operand, k, axis):
    idx = xp.take(_descending_order(xp, operand, axis), xp.arange(k), axis=axis)
    idx = idx.astype(np.int32, copy=False)
    return [xp.take_along_axis(operand, idx, axis=axis), idx]


def _top_k_aval(operand, k, axis):
    shape = operand.shape
    if not 0 <= axis < len(shape):
        raise ValueError(f"top_k: axis {axis} is out of bounds for shape {shape}")
    if not 0 <= k <= shape[axis]:
        raise ValueError(f"top_k: k={k} is out of range for an axis of size {shape[axis]}")
    if dtypes.kind_char(operand.dtype) not in "biuf":
        raise TypeError(f"top_k orders real numbers, got {operand.dtype}")
    out = shape[:axis] + (k,) + shape[axis + 1:]
    return [ShapedArray(out, operand.dtype), ShapedArray(out, dtypes.int32)]


top_k_p = primitive("top_k", _top_k_impl, _top_k_aval, multiple_results=True)


def _top_k_jvp(primals, tangents, k, axis):
    values, idx = outs = top_k_p.bind(*primals, k=k, axis=axis)
    t, = tangents
    return outs, [None if t is None else
                  take_along_axis(t, idx, axis, mode="promise_in_bounds"), None]


def _top_k_vjp(primals, needs, k, axis):
    x, = primals
    values, idx = outs = top_k_p.bind(x, k=k, axis=axis)
    if not wanted(needs, primals)[0]:
        return outs, None
    return outs, lambda cts: [None if cts[0] is None else add_along_axis(
        full_like(x, 0), idx, cts[0], axis, mode="promise_in_bounds")]


def _top_k_batch(vals, dims, k, axis):
    x, = vals
    d, = dims
    axis = axis + (d <= axis)
    return top_k_p.bind(x, k=k, axis=axis), [d, d]


top_k_p.jvp, top_k_p.vjp, top_k_p.batch = _top_k_jvp, _top_k_vjp, _top_k_batch


def top_k(operand, k, *, axis=-1):
    """The `k` largest entries along `axis` (the last by default), in descending order, and
    their int32 indices (as JAX's: NaN above everything, the lower index first among equal
    values)."""
    axis, k = canonical_axis(axis, len(shape_of(operand)), "top_k: axis"), operator.index(k)
    _top_k_aval(ShapedArray(shape_of(operand), dtype_of(operand)), k, axis)     # or raises
    return tuple(top_k_p.bind(operand, k=k, axis=axis))


__all__ = ["sort", "sort_multiple", "argsort", "searchsorted", "top_k"]
