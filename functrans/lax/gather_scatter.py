"""JAX's window-style `lax.gather` and `lax.scatter` family, with XLA's dimension numbers.

Each is built from the axis-style `gather_p` / `scatter*_p` primitives (functrans.primitives.
indexing) plus static slices, reshapes and transposes: the operand axes that the index vector
or a batching dimension addresses become index arrays over the grid "index batch shape x
their window sizes"; the other axes start at 0 and are kept whole (sliced to the window).
Derivatives of every order and vmap therefore come from those primitives' rules.

Out-of-bounds start indices, by `mode` (as JAX on XLA): CLIP clamps each start so its whole
window fits; FILL_OR_DROP makes gather return `fill_value` for a window that does not fit
entirely and scatter skip such a window; PROMISE_IN_BOUNDS clamps in gather and skips in
scatter (what XLA does with unchecked indices); ONE_HOT, in scatter, skips as well.
"""
from __future__ import annotations

import enum
import math
from typing import NamedTuple

import numpy as np

from .. import dtypes
from ..array import Array
from ..core import Tracer, on_operand_device
from ..higher_order.control_flow import while_loop
from ..primitives._util import dtype_of, shape_of
from ..primitives.elementwise import (add, bitwise_and, convert_element_type, ge, gt, le, neg,
                                      select)
from ..primitives.elementwise_more import clamp
from ..primitives.indexing import (dynamic_update_slice, gather_p, scatter_p, scatter_add_p,
                                   scatter_mul_p, scatter_min_p, scatter_max_p)
from ..primitives.reductions import reduce_max
from ..primitives.shape_ops import (broadcast_in_dim, constant, full, full_like, iota, reshape,
                                    slice_ as slice_op, transpose)

__all__ = ["GatherDimensionNumbers", "ScatterDimensionNumbers", "GatherScatterMode", "gather",
           "scatter", "scatter_add", "scatter_sub", "scatter_mul", "scatter_min", "scatter_max",
           "scatter_apply"]


class GatherScatterMode(enum.Enum):
    """How gather and scatter treat start indices whose window does not fit in the operand
    (see the module docstring); strings "clip", "fill"/"drop", "promise_in_bounds" and
    "one_hot" name them too, and None is FILL_OR_DROP (gather's None is PROMISE_IN_BOUNDS)."""
    CLIP = enum.auto()
    FILL_OR_DROP = enum.auto()
    PROMISE_IN_BOUNDS = enum.auto()
    ONE_HOT = enum.auto()

    @staticmethod
    def from_any(s):
        if isinstance(s, GatherScatterMode):
            return s
        names = {"clip": GatherScatterMode.CLIP, None: GatherScatterMode.FILL_OR_DROP,
                 "fill": GatherScatterMode.FILL_OR_DROP, "drop": GatherScatterMode.FILL_OR_DROP,
                 "promise_in_bounds": GatherScatterMode.PROMISE_IN_BOUNDS,
                 "one_hot": GatherScatterMode.ONE_HOT}
        if isinstance(s, str) or s is None:
            if s in names:
                return names[s]
        raise ValueError(f"Unknown gather mode {s!r}: use a GatherScatterMode or one of "
                         f"{[n for n in names if n]}")


class GatherDimensionNumbers(NamedTuple):
    """XLA's gather dimension numbers: `offset_dims` (output axes holding the window axes),
    `collapsed_slice_dims` (operand axes of window size 1 left out of the output),
    `start_index_map` (the operand axis each entry of an index vector starts),
    `operand_batching_dims` / `start_indices_batching_dims` (paired batch axes)."""
    offset_dims: tuple
    collapsed_slice_dims: tuple
    start_index_map: tuple
    operand_batching_dims: tuple = ()
    start_indices_batching_dims: tuple = ()


class ScatterDimensionNumbers(NamedTuple):
    """XLA's scatter dimension numbers: `update_window_dims` (the window axes of `updates`),
    `inserted_window_dims` (operand axes of window size 1 absent from `updates`),
    `scatter_dims_to_operand_dims` (the operand axis each entry of an index vector starts),
    `operand_batching_dims` / `scatter_indices_batching_dims` (paired batch axes)."""
    update_window_dims: tuple
    inserted_window_dims: tuple
    scatter_dims_to_operand_dims: tuple
    operand_batching_dims: tuple = ()
    scatter_indices_batching_dims: tuple = ()


# =============================================================== checks
def _dims(name, field, dims, bound, what, ordered=False):
    """`dims` as a tuple of ints: distinct, in [0, bound), sorted if `ordered`."""
    dims = tuple(int(d) for d in dims)
    if len(set(dims)) != len(dims) or any(not 0 <= d < bound for d in dims):
        raise TypeError(f"{name}: dimension_numbers.{field}={dims} must be distinct axes of "
                        f"{what}")
    if ordered and list(dims) != sorted(dims):
        raise TypeError(f"{name}: dimension_numbers.{field}={dims} must be sorted")
    return dims


def _indices(name, operand, indices):
    """The start indices as an integer Array where the operand lives, of rank >= 1 (the
    last axis is the index vector)."""
    if not isinstance(indices, (Array, Tracer)):
        indices = constant(np.asarray(indices), like=operand)
    if not dtypes.is_integer(dtype_of(indices)):
        raise ValueError(f"{name}: indices must have an integer type, got "
                         f"{dtype_of(indices)}")
    if not shape_of(indices):
        raise TypeError(f"{name}: indices must have at least one axis (the last is the index "
                        "vector), got a scalar; use shape (1,)")
    return indices


class _Plan(NamedTuple):
    """Where each operand axis starts and how the primitive's operand is laid out."""
    indexed: tuple      # operand axes given index arrays (index map and batching), sorted
    windows: tuple      # operand axes that are window axes of the result/updates, sorted
    sizes: tuple        # window size per operand axis
    batch: tuple        # shape of the index batch (indices.shape[:-1])


def _plan(name, operand_shape, indices, index_map, obd, ibd, windows, sizes, map_field,
          ibd_field):
    r = len(operand_shape)
    ishape = shape_of(indices)
    batch = tuple(ishape[:-1])
    if len(index_map) != ishape[-1]:
        raise TypeError(f"{name}: dimension_numbers.{map_field}={index_map} has "
                        f"{len(index_map)} entries but the index vectors (last axis of indices "
                        f"of shape {ishape}) have {ishape[-1]}")
    if set(index_map) & set(obd):
        raise TypeError(f"{name}: dimension_numbers.{map_field}={index_map} and "
                        f"operand_batching_dims={obd} must not share an axis")
    if len(ibd) != len(obd):
        raise TypeError(f"{name}: operand_batching_dims={obd} and {ibd_field}={ibd} must have "
                        "the same length")
    for d, j in zip(obd, ibd):
        if operand_shape[d] != batch[j]:
            raise TypeError(f"{name}: operand axis {d} (operand_batching_dims) has size "
                            f"{operand_shape[d]} but indices axis {j} ({ibd_field}) has size "
                            f"{batch[j]} (operand shape {operand_shape}, indices shape "
                            f"{ishape})")
    for d in range(r):
        if not 0 <= sizes[d] <= operand_shape[d]:
            raise TypeError(f"{name}: the window size {sizes[d]} of operand axis {d} does not "
                            f"fit in the operand of shape {operand_shape}")
    return _Plan(tuple(sorted(set(index_map) | set(obd))), tuple(windows), tuple(sizes), batch)


# =============================================================== shared machinery
def _starts(plan, operand_shape, indices, index_map, obd, ibd, clip, out_of_range):
    """Per indexed operand axis, its window starts (int64, shape of the index batch), and the
    mask of windows that fit (None when clipping). Windows that do not fit start at
    `out_of_range(axis)`."""
    batch, nb = plan.batch, len(plan.batch)
    starts, valid = {}, None
    for k, d in enumerate(index_map):
        s = reshape(slice_op(indices, (0,) * nb + (k,), batch + (k + 1,)), batch)
        s = convert_element_type(s, dtypes.int64)
        hi = operand_shape[d] - plan.sizes[d]
        if clip:
            starts[d] = clamp(np.int64(0), s, np.int64(hi))
            continue
        ok = bitwise_and(ge(s, np.int64(0)), le(s, np.int64(hi)))
        valid = ok if valid is None else bitwise_and(valid, ok)
        starts[d] = s
    if valid is not None:
        for d in index_map:
            starts[d] = select(valid, starts[d], full_like(starts[d], out_of_range(d)))
    for d, j in zip(obd, ibd):
        starts[d] = broadcast_in_dim(iota(batch[j], like=indices), batch, (j,))
    return starts, valid


def _index_arrays(plan, starts, like):
    """The index arrays over the grid (index batch + windows of indexed axes), and the grid."""
    nb = len(plan.batch)
    win = [d for d in plan.indexed if d in plan.windows]
    grid = plan.batch + tuple(plan.sizes[d] for d in win)
    if not plan.indexed:       # no indexed axis: a leading size-1 axis indexed at 0 carries B
        return [full(grid, 0, dtypes.int64, like=like)], grid
    out = []
    for d in plan.indexed:
        a = broadcast_in_dim(starts[d], grid, tuple(range(nb)))
        if d in win:
            k = nb + win.index(d)
            a = add(a, broadcast_in_dim(iota(grid[k], like=like), grid, (k,)))
        out.append(a)
    return out, grid


def _kept(plan, r):
    return [d for d in range(r) if d not in plan.indexed]


def _window_order(plan, r):
    """The window axes in the order the primitive lays them out (after the index batch)."""
    return [d for d in plan.indexed if d in plan.windows] + \
        [d for d in _kept(plan, r) if d in plan.windows]


def _primitive_operand(plan, x):
    """`x` cut to the window along the kept axes (which start at 0), with a leading size-1
    axis when no axis is indexed; and the axes the index arrays address."""
    shape = shape_of(x)
    kept = _kept(plan, len(shape))
    limits = tuple(plan.sizes[d] if d in kept else n for d, n in enumerate(shape))
    if limits != tuple(shape):
        x = slice_op(x, (0,) * len(shape), limits)
    if not plan.indexed:
        return reshape(x, (1,) + limits), (0,)
    return x, plan.indexed


# =============================================================== gather
@on_operand_device
def gather(operand, start_indices, dimension_numbers, slice_sizes, *, indices_are_sorted=False,
           unique_indices=False, mode=None, fill_value=None):
    """XLA's gather, as `jax.lax.gather`: the windows of `slice_sizes` starting at the index
    vectors (last axis of `start_indices`); `dimension_numbers` is a GatherDimensionNumbers.
    `indices_are_sorted` and `unique_indices` are accepted hints."""
    del indices_are_sorted, unique_indices
    name = "gather"
    mode = GatherScatterMode.PROMISE_IN_BOUNDS if mode is None else \
        GatherScatterMode.from_any(mode)
    if mode is GatherScatterMode.ONE_HOT:
        raise NotImplementedError("gather: mode ONE_HOT is not supported (nor by jax.lax."
                                  "gather); use CLIP, FILL_OR_DROP or PROMISE_IN_BOUNDS")
    dn = dimension_numbers
    oshape = tuple(shape_of(operand))
    r = len(oshape)
    indices = _indices(name, operand, start_indices)
    ishape = shape_of(indices)
    sizes = tuple(int(s) for s in slice_sizes)
    if len(sizes) != r:
        raise TypeError(f"{name}: slice_sizes={sizes} must have one entry per axis of the "
                        f"operand of shape {oshape}")
    what = f"the operand of shape {oshape}"
    collapsed = _dims(name, "collapsed_slice_dims", dn.collapsed_slice_dims, r, what, True)
    obd = _dims(name, "operand_batching_dims", dn.operand_batching_dims, r, what, True)
    index_map = _dims(name, "start_index_map", dn.start_index_map, r, what)
    ibd = _dims(name, "start_indices_batching_dims", dn.start_indices_batching_dims,
                len(ishape) - 1, f"the index batch of indices of shape {ishape}")
    if set(collapsed) & set(obd):
        raise TypeError(f"{name}: collapsed_slice_dims={collapsed} and operand_batching_dims="
                        f"{obd} must not share an axis")
    for field, dims in (("collapsed_slice_dims", collapsed), ("operand_batching_dims", obd)):
        for d in dims:
            if sizes[d] != 1:
                raise TypeError(f"{name}: slice_sizes[{d}]={sizes[d]} must be 1 for an axis "
                                f"in {field}={dims}")
    windows = tuple(d for d in range(r) if d not in collapsed and d not in obd)
    out_rank = len(ishape) - 1 + len(windows)
    offset_dims = _dims(name, "offset_dims", dn.offset_dims, out_rank,
                        f"the output (of rank {out_rank})", True)
    if len(offset_dims) != len(windows):
        raise TypeError(f"{name}: offset_dims={offset_dims} must name one output axis per "
                        f"operand axis that is neither collapsed nor batching ({windows}), "
                        f"for an operand of shape {oshape}")
    plan = _plan(name, oshape, indices, index_map, obd, ibd, windows, sizes,
                 "start_index_map", "start_indices_batching_dims")
    fill = mode is GatherScatterMode.FILL_OR_DROP
    starts, valid = _starts(plan, oshape, indices, index_map, obd, ibd, not fill,
                            lambda d: 0)
    idx, grid = _index_arrays(plan, starts, indices)
    x, axes = _primitive_operand(plan, operand)
    y = gather_p.bind(x, *idx, axes=axes, mode="promise_in_bounds", fill_value=None)
    nb = len(plan.batch)
    kept = _kept(plan, r)
    y = reshape(y, grid + tuple(plan.sizes[d] for d in kept if d in windows))
    order = _window_order(plan, r)
    perm, batch_axis = [], iter(range(nb))
    for p in range(out_rank):
        perm.append(nb + order.index(windows[offset_dims.index(p)]) if p in offset_dims
                    else next(batch_axis))
    out = transpose(y, perm)
    if valid is None:
        return out
    out_shape = shape_of(out)
    batch_positions = tuple(p for p in range(out_rank) if p not in offset_dims)
    return select(broadcast_in_dim(valid, out_shape, batch_positions), out,
                  full(out_shape, dtypes.default_fill_value(dtype_of(out)) if fill_value is None
                       else fill_value, dtype_of(out), like=out))


# =============================================================== scatter family
def _scatter_layout(name, operand, indices, updates_shape, dn, mode):
    """The plan, index arrays, and how to lay out updates for the primitive."""
    oshape = tuple(shape_of(operand))
    r = len(oshape)
    ishape = shape_of(indices)
    ushape = tuple(updates_shape)
    what = f"the operand of shape {oshape}"
    uwd = _dims(name, "update_window_dims", dn.update_window_dims, len(ushape),
                f"updates of shape {ushape}", True)
    inserted = _dims(name, "inserted_window_dims", dn.inserted_window_dims, r, what, True)
    obd = _dims(name, "operand_batching_dims", dn.operand_batching_dims, r, what, True)
    index_map = _dims(name, "scatter_dims_to_operand_dims", dn.scatter_dims_to_operand_dims,
                      r, what)
    ibd = _dims(name, "scatter_indices_batching_dims", dn.scatter_indices_batching_dims,
                len(ishape) - 1, f"the index batch of indices of shape {ishape}")
    if set(inserted) & set(obd):
        raise TypeError(f"{name}: inserted_window_dims={inserted} and operand_batching_dims="
                        f"{obd} must not share an axis")
    windows = tuple(d for d in range(r) if d not in inserted and d not in obd)
    if len(uwd) != len(windows):
        raise TypeError(f"{name}: update_window_dims={uwd} must name one updates axis per "
                        f"operand axis that is neither inserted nor batching ({windows}), for "
                        f"an operand of shape {oshape}")
    scatter_axes = [i for i in range(len(ushape)) if i not in uwd]
    if tuple(ushape[i] for i in scatter_axes) != tuple(ishape[:-1]):
        raise TypeError(f"{name}: updates of shape {ushape} have scatter axes (those not in "
                        f"update_window_dims={uwd}) of shape "
                        f"{tuple(ushape[i] for i in scatter_axes)}, but the index batch of "
                        f"indices of shape {ishape} is {tuple(ishape[:-1])}")
    sizes = [1] * r
    for d, u in zip(windows, uwd):
        sizes[d] = ushape[u]
    plan = _plan(name, oshape, indices, index_map, obd, ibd, windows, sizes,
                 "scatter_dims_to_operand_dims", "scatter_indices_batching_dims")
    clip = mode is GatherScatterMode.CLIP
    starts, _ = _starts(plan, oshape, indices, index_map, obd, ibd, clip, lambda d: oshape[d])
    idx, grid = _index_arrays(plan, starts, indices)
    order = _window_order(plan, r)
    perm = scatter_axes + [uwd[windows.index(d)] for d in order]
    target = grid + tuple(plan.sizes[d] for d in _kept(plan, r))
    return plan, idx, perm, target, clip


def _scatter_with(prim, name, operand, indices, updates, dn, mode, negate=False):
    mode = GatherScatterMode.from_any(mode)
    indices = _indices(name, operand, indices)
    if dtype_of(updates) != dtype_of(operand):
        raise TypeError(f"{name}: updates have dtype {dtype_of(updates)} but the operand has "
                        f"{dtype_of(operand)}; they must match (as in jax.lax)")
    plan, idx, perm, target, clip = _scatter_layout(name, operand, indices, shape_of(updates),
                                                    dn, mode)
    u = reshape(transpose(updates, perm), target)
    return _scatter_into(prim, plan, operand, neg(u) if negate else u, idx, clip)


def _scatter_into(prim, plan, operand, updates, idx, clip):
    """`operand` with the laid-out `updates` scattered at `idx` by `prim` (out-of-bounds
    windows clamped where `clip`, else dropped)."""
    x, axes = _primitive_operand(plan, operand)
    y = prim.bind(x, updates, *idx, axes=axes, mode="promise_in_bounds" if clip else "drop")
    if not plan.indexed:
        y = reshape(y, shape_of(y)[1:])
    if shape_of(y) != tuple(shape_of(operand)):
        y = dynamic_update_slice(operand, y, [0] * len(shape_of(y)))
    return y


def _scatter_fn(prim, name, doc, negate=False):
    @on_operand_device
    def f(operand, scatter_indices, updates, dimension_numbers, *, indices_are_sorted=False,
          unique_indices=False, mode=None):
        del indices_are_sorted, unique_indices
        return _scatter_with(prim, name, operand, scatter_indices, updates, dimension_numbers,
                             mode, negate)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"XLA's scatter, as `jax.lax.{name}`: {doc} the windows of `updates` at the "
                 "index vectors (last axis of `scatter_indices`); `dimension_numbers` is a "
                 "ScatterDimensionNumbers. `indices_are_sorted` and `unique_indices` are "
                 "accepted hints.")
    return f


scatter = _scatter_fn(scatter_p, "scatter", "writes (one of several updates to a place wins)")
scatter_add = _scatter_fn(scatter_add_p, "scatter_add", "adds")
scatter_sub = _scatter_fn(scatter_add_p, "scatter_sub", "subtracts", negate=True)
scatter_mul = _scatter_fn(scatter_mul_p, "scatter_mul", "multiplies in")
scatter_min = _scatter_fn(scatter_min_p, "scatter_min", "takes the minimum with")
scatter_max = _scatter_fn(scatter_max_p, "scatter_max", "takes the maximum with")


@on_operand_device
def scatter_apply(operand, scatter_indices, func, dimension_numbers, *, update_shape=(),
                  indices_are_sorted=False, unique_indices=False, mode=None):
    """`jax.lax.scatter_apply`: `func` applied (elementwise) to `operand` at the places a
    scatter of updates of `update_shape` would reach, once per update landing there."""
    del indices_are_sorted
    name = "scatter_apply"
    mode = GatherScatterMode.from_any(mode)
    indices = _indices(name, operand, scatter_indices)
    plan, idx, perm, target, clip = _scatter_layout(name, operand, indices, update_shape,
                                                    dimension_numbers, mode)
    zeros = full(shape_of(operand), 0, dtypes.int64, like=operand)
    ones = full(target, 1, dtypes.int64, like=operand)
    counts = _scatter_into(scatter_add_p, plan, zeros, ones, idx, clip)
    if unique_indices or math.prod(target) <= 1:
        return select(gt(counts, np.int64(0)), func(operand), operand)

    def body(state):
        i, x = state
        return add(i, np.int64(1)), select(gt(counts, i), func(x), x)
    return while_loop(lambda state: gt(reduce_max(counts), state[0]), body,
                      (constant(np.int64(0), like=operand), operand))[1]
