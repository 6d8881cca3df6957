"""Indexing primitives: `gather` and the `scatter` family (integer-array indexing and its
functional updates), `dynamic_slice` and `dynamic_update_slice` (windows at traced offsets).
JAX's window-style `lax.gather` / `lax.scatter*` (dimension numbers) are built on these in
`functrans.lax.gather_scatter`.

`gather_axes(x, *indices, axes)`: the index arrays (one per axis in `axes`, all of one shape B)
pick elements along those axes; the other axes are kept whole. The output has shape
`B + [x.shape[i] for i not in axes]`, i.e. NumPy's `x[i0, i1, ...]` with the indexed axes
moved to the front. `scatter*_axes(x, updates, *indices, axes)` writes `updates` (shape
`B + rest`) back at those positions: `scatter` assigns, `scatter_add` accumulates (duplicate
indices add up), `scatter_mul`/`scatter_min`/`scatter_max` combine.

Out-of-bounds indices, by `mode`: "clip" clamps them into range (gather's default, as JAX),
"fill" makes gather return `fill_value` there (0 unless given), "drop" makes a scatter skip
those updates (a scatter's default), and "promise_in_bounds" checks nothing (functrans.numpy
uses it after checking concrete indices itself). `dynamic_slice` and `dynamic_update_slice` clamp the start so the window fits.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..backends import backend_of_xp
from ..core import ShapedArray, on_operand_device
from ._util import primitive, shape_of, dtype_of, wanted, bdim_size, broadcast_batched
from .elementwise import (add, mul, div, select, eq, convert_element_type, max as lax_max,
                          min as lax_min, lt)
from .shape_ops import (moveaxis, full_like, full, reshape, broadcast_in_dim, iota, constant,
                        zeros_or)

GATHER_MODES = ("clip", "fill", "promise_in_bounds")
SCATTER_MODES = ("clip", "drop", "promise_in_bounds")
_TRANSPOSED_MODE = {"clip": "clip", "fill": "drop", "drop": "fill",
                    "promise_in_bounds": "promise_in_bounds"}


def _rest_axes(ndim, axes):
    return [i for i in range(ndim) if i not in axes]


def _check_indices(name, x, indices, axes):
    if len(indices) != len(axes):
        raise ValueError(f"{name}: {len(indices)} index arrays for {len(axes)} axes {axes}")
    if len(set(axes)) != len(axes) or any(not 0 <= a < len(x.shape) for a in axes):
        raise ValueError(f"{name}: axes {axes} are invalid for an operand of shape {x.shape}")
    shapes = {i.shape for i in indices}
    if len(shapes) > 1:
        raise ValueError(f"{name}: index arrays must share one shape, got "
                         f"{[i.shape for i in indices]}")
    for i in indices:
        if not dtypes.is_integer(i.dtype):
            raise TypeError(f"{name}: index arrays must be integers, got {i.dtype}")
    return indices[0].shape if indices else ()


def _raw_positions(xp, x_shape, indices, axes, mode):
    """The index arrays as a tuple for NumPy advanced indexing, plus the in-bounds mask."""
    sizes = [x_shape[a] for a in axes]
    if mode == "clip":
        return tuple(xp.clip(i, 0, max(n - 1, 0)) for i, n in zip(indices, sizes)), None
    if mode == "promise_in_bounds":
        return tuple(indices), None
    valid = None
    for i, n in zip(indices, sizes):
        ok = (i >= 0) & (i < n)
        valid = ok if valid is None else valid & ok
    if valid is None or bool(valid.all()):
        return tuple(indices), None
    return tuple(xp.where(valid, i, 0) for i in indices), valid


def _front(xp, x, axes):
    """A view of `x` with `axes` moved to the front, in order."""
    return xp.moveaxis(x, axes, tuple(range(len(axes)))) if axes else x


# =============================================================== gather
def _gather_impl(xp, x, *indices, axes, mode, fill_value=None):
    x = xp.asarray(x)
    pos, valid = _raw_positions(xp, x.shape, indices, axes, mode)
    out = _front(xp, x, axes)[pos]
    if valid is not None:
        mask = valid.reshape(valid.shape + (1,) * (out.ndim - valid.ndim))
        out = xp.where(mask, out, xp.asarray(0 if fill_value is None else fill_value,
                                             dtype=out.dtype))
    return out


def _gather_aval(x, *indices, axes, mode, fill_value=None):
    batch = _check_indices("gather", x, indices, axes)
    if mode not in GATHER_MODES:
        raise ValueError(f"gather: mode must be one of {GATHER_MODES}, got {mode!r}")
    for a in axes:
        if x.shape[a] == 0 and math.prod(batch):
            raise IndexError(f"gather: cannot index axis {a} of size 0 (shape {x.shape})")
    rest = [x.shape[i] for i in _rest_axes(len(x.shape), axes)]
    return ShapedArray(tuple(batch) + tuple(rest), x.dtype)


gather_p = primitive("gather", _gather_impl, _gather_aval)


def _gather_jvp(primals, tangents, axes, mode, fill_value=None):
    x, *indices = primals
    out = gather_p.bind(x, *indices, axes=axes, mode=mode, fill_value=fill_value)
    t = tangents[0]
    return out, None if t is None else gather_p.bind(t, *indices, axes=axes, mode=mode)


def _gather_vjp(primals, needs, axes, mode, fill_value=None):
    x, *indices = primals
    out = gather_p.bind(x, *indices, axes=axes, mode=mode, fill_value=fill_value)
    n_idx = len(indices)
    if not wanted(needs, primals)[0]:
        return out, None

    def backward(ct):
        zeros = full_like(x, 0)
        return (scatter_add_p.bind(zeros, ct, *indices, axes=axes,
                                   mode=_TRANSPOSED_MODE[mode]),) + (None,) * n_idx
    return out, backward


def _batch_indices_front(indices, idims, size):
    """Every index array batched at axis 0."""
    return [broadcast_batched(i, d, size) for i, d in zip(indices, idims)]


def _iota_index(size, batch_shape, like):
    """An index array of shape `(size,) + batch_shape` holding its position along axis 0 (on
    the device of `like`)."""
    return broadcast_in_dim(iota(size, like=like), (size,) + tuple(batch_shape), (0,))


def _gather_batch(vals, dims, axes, mode, fill_value=None):
    x, *indices = vals
    dx, *idims = dims
    size = bdim_size(vals, dims)
    if all(d is None for d in idims):
        rank = len(shape_of(x))
        logical = [a for a in range(rank) if a != dx]
        new_axes = tuple(logical[a] for a in axes)
        batch_rank = len(shape_of(indices[0])) if indices else 0
        rest = _rest_axes(rank, new_axes)
        return (gather_p.bind(x, *indices, axes=new_axes, mode=mode, fill_value=fill_value),
                batch_rank + rest.index(dx))
    indices = _batch_indices_front(indices, idims, size)
    if dx is None:
        return gather_p.bind(x, *indices, axes=axes, mode=mode, fill_value=fill_value), 0
    x = moveaxis(x, dx, 0)
    lead = _iota_index(size, shape_of(indices[0])[1:], x) if indices else iota(size, like=x)
    return gather_p.bind(x, lead, *indices, axes=(0,) + tuple(a + 1 for a in axes),
                         mode=mode, fill_value=fill_value), 0


gather_p.jvp, gather_p.vjp, gather_p.batch = _gather_jvp, _gather_vjp, _gather_batch


# =============================================================== scatter family
_COMBINE = {"scatter": None, "scatter_add": "add", "scatter_mul": "multiply",
            "scatter_min": "minimum", "scatter_max": "maximum"}


def _scatter_impl_for(name):
    ufunc_name = _COMBINE[name]

    def impl(xp, x, updates, *indices, axes, mode, out=None):
        x = xp.asarray(x)
        out = _copy_into(xp, out, x)
        pos, valid = _raw_positions(xp, x.shape, indices, axes, mode)
        updates = xp.asarray(updates, dtype=x.dtype)
        if valid is not None:
            pos = tuple(i[valid] for i in pos)
            updates = updates[valid]
        view = _front(xp, out, axes)
        if ufunc_name is None:
            view[pos] = updates
        else:
            backend_of_xp(xp).scatter_combine(xp, ufunc_name, view, pos, updates)
        return out
    return impl


def _scatter_aval_for(name):
    def abstract_eval(x, updates, *indices, axes, mode):
        batch = _check_indices(name, x, indices, axes)
        if mode not in SCATTER_MODES:
            raise ValueError(f"{name}: mode must be one of {SCATTER_MODES}, got {mode!r}")
        rest = [x.shape[i] for i in _rest_axes(len(x.shape), axes)]
        expected = tuple(batch) + tuple(rest)
        if tuple(updates.shape) != expected:
            raise ValueError(f"{name}: updates of shape {updates.shape} do not fit: indexing "
                             f"an operand of shape {x.shape} at axes {axes} with indices of "
                             f"shape {batch} selects shape {expected}")
        if updates.dtype != x.dtype:
            raise TypeError(f"{name}: updates have dtype {updates.dtype} but the operand has "
                            f"{x.dtype}; convert one (functrans.numpy does it for you)")
        return ShapedArray(x.shape, x.dtype)
    return abstract_eval


def _scatter_primitive(name):
    p = primitive(name, _scatter_impl_for(name), _scatter_aval_for(name))
    p.batch = _scatter_batch_for(p)
    p.impl_out, p.impl_inplace = True, (0,)
    return p


def _scatter_batch_for(prim):
    def rule(vals, dims, axes, mode):
        x, u, *indices = vals
        dx, du, *idims = dims
        size = bdim_size(vals, dims)
        x = broadcast_batched(x, dx, size)
        batch_rank = len(shape_of(indices[0])) if indices else 0
        if all(d is None for d in idims):
            # the batch axis is one more kept axis of the operand (axis 0)
            new_axes = tuple(a + 1 for a in axes)
            rest = _rest_axes(len(shape_of(x)), new_axes)
            u = moveaxis(broadcast_batched(u, du, size), 0, batch_rank + rest.index(0))
            return prim.bind(x, u, *indices, axes=new_axes, mode=mode), 0
        indices = _batch_indices_front(indices, idims, size)
        lead = _iota_index(size, shape_of(indices[0])[1:], x)
        u = broadcast_batched(u, du, size)
        return prim.bind(x, u, lead, *indices, axes=(0,) + tuple(a + 1 for a in axes),
                         mode=mode), 0
    return rule


scatter_p = _scatter_primitive("scatter")
scatter_add_p = _scatter_primitive("scatter_add")
scatter_mul_p = _scatter_primitive("scatter_mul")
scatter_min_p = _scatter_primitive("scatter_min")
scatter_max_p = _scatter_primitive("scatter_max")


def _gather_back(v, indices, axes, mode):
    """The values of `v` at the scatter positions (0 for updates a "drop" scatter skips)."""
    return gather_p.bind(v, *indices, axes=axes, mode=_TRANSPOSED_MODE[mode])


# -- scatter_add: linear in (operand, updates) jointly
def _scatter_add_jvp(primals, tangents, axes, mode):
    x, u, *indices = primals
    out = scatter_add_p.bind(x, u, *indices, axes=axes, mode=mode)
    tx, tu = tangents[:2]
    if tx is None and tu is None:
        return out, None
    if tu is None:
        return out, tx
    return out, scatter_add_p.bind(zeros_or(tx, x), tu, *indices, axes=axes, mode=mode)


def _scatter_add_vjp(primals, needs, axes, mode):
    x, u, *indices = primals
    out = scatter_add_p.bind(x, u, *indices, axes=axes, mode=mode)
    want_x, want_u = wanted(needs, primals)[:2]

    def backward(ct):
        return (ct if want_x else None,
                _gather_back(ct, indices, axes, mode) if want_u else None) + (None,) * len(indices)
    return out, backward


scatter_add_p.jvp, scatter_add_p.vjp = _scatter_add_jvp, _scatter_add_vjp


# -- scatter (assignment): with duplicate indices one update wins; the derivative follows it
def _scatter_jvp(primals, tangents, axes, mode):
    x, u, *indices = primals
    out = scatter_p.bind(x, u, *indices, axes=axes, mode=mode)
    tx, tu = tangents[:2]
    if tx is None and tu is None:
        return out, None
    return out, scatter_p.bind(zeros_or(tx, x), zeros_or(tu, u), *indices, axes=axes,
                               mode=mode)


def _winners(x, u, indices, axes, mode):
    """1.0 for each update element that ended up in the output, 0.0 for overwritten ones."""
    ushape = shape_of(u)
    ids = reshape(iota(math.prod(ushape), like=u), ushape)
    written = scatter_p.bind(full(shape_of(x), -1, ids.dtype, like=x), ids, *indices, axes=axes,
                             mode=mode)
    return convert_element_type(eq(_gather_back(written, indices, axes, mode), ids),
                                dtype_of(u))


def _scatter_vjp(primals, needs, axes, mode):
    x, u, *indices = primals
    out = scatter_p.bind(x, u, *indices, axes=axes, mode=mode)
    want_x, want_u = wanted(needs, primals)[:2]

    def backward(ct):
        cx = scatter_p.bind(ct, full_like(u, 0), *indices, axes=axes, mode=mode) \
            if want_x else None
        cu = mul(_gather_back(ct, indices, axes, mode), _winners(x, u, indices, axes, mode)) \
            if want_u else None
        return (cx, cu) + (None,) * len(indices)
    return out, backward


scatter_p.jvp, scatter_p.vjp = _scatter_jvp, _scatter_vjp


# -- scatter_mul: out = x * (product of the updates landing at each position)
def _product_of_others(x, u, indices, axes, mode):
    """For each update, the product of the *other* updates landing at its position; exact
    when some updates are zero (zeros are counted instead of divided by)."""
    is_zero = eq(u, 0)
    nonzero_u = select(is_zero, full_like(u, 1), u)
    prod_nonzero = _gather_back(
        scatter_mul_p.bind(full_like(x, 1), nonzero_u, *indices, axes=axes, mode=mode),
        indices, axes, mode)
    zero_count = _gather_back(
        scatter_add_p.bind(full_like(x, 0), convert_element_type(is_zero, dtype_of(u)),
                           *indices, axes=axes, mode=mode), indices, axes, mode)
    zero = full_like(u, 0)
    return select(is_zero, select(eq(zero_count, 1), prod_nonzero, zero),
                  select(eq(zero_count, 0), div(prod_nonzero, nonzero_u), zero))


def _scatter_mul_jvp(primals, tangents, axes, mode):
    x, u, *indices = primals
    out = scatter_mul_p.bind(x, u, *indices, axes=axes, mode=mode)
    tx, tu = tangents[:2]
    t = None
    if tx is not None:
        t = scatter_mul_p.bind(tx, u, *indices, axes=axes, mode=mode)
    if tu is not None:
        spread = scatter_add_p.bind(full_like(x, 0),
                                    mul(tu, _product_of_others(x, u, indices, axes, mode)),
                                    *indices, axes=axes, mode=mode)
        term = mul(x, spread)
        t = term if t is None else add(t, term)
    return out, t


def _scatter_mul_vjp(primals, needs, axes, mode):
    x, u, *indices = primals
    out = scatter_mul_p.bind(x, u, *indices, axes=axes, mode=mode)
    want_x, want_u = wanted(needs, primals)[:2]

    def backward(ct):
        cx = scatter_mul_p.bind(ct, u, *indices, axes=axes, mode=mode) if want_x else None
        cu = None
        if want_u:
            cu = mul(_gather_back(mul(ct, x), indices, axes, mode),
                     _product_of_others(x, u, indices, axes, mode))
        return (cx, cu) + (None,) * len(indices)
    return out, backward


scatter_mul_p.jvp, scatter_mul_p.vjp = _scatter_mul_jvp, _scatter_mul_vjp


# -- scatter_min / scatter_max: ties share the derivative equally (as reduce_max)
def _extremum_scatter_rules(prim):
    def weights(x, u, out, indices, axes, mode):
        dt = dtype_of(x)
        hit_x = convert_element_type(eq(x, out), dt)
        hit_u = convert_element_type(eq(u, _gather_back(out, indices, axes, mode)), dt)
        count = add(hit_x, scatter_add_p.bind(full_like(x, 0), hit_u, *indices, axes=axes,
                                              mode=mode))
        return hit_x, hit_u, count

    def jvp(primals, tangents, axes, mode):
        x, u, *indices = primals
        out = prim.bind(x, u, *indices, axes=axes, mode=mode)
        tx, tu = tangents[:2]
        if tx is None and tu is None:
            return out, None
        hit_x, hit_u, count = weights(x, u, out, indices, axes, mode)
        total = scatter_add_p.bind(mul(zeros_or(tx, x), hit_x), mul(zeros_or(tu, u), hit_u),
                                   *indices, axes=axes, mode=mode)
        return out, div(total, count)

    def vjp(primals, needs, axes, mode):
        x, u, *indices = primals
        out = prim.bind(x, u, *indices, axes=axes, mode=mode)
        want_x, want_u = wanted(needs, primals)[:2]

        def backward(ct):
            hit_x, hit_u, count = weights(x, u, out, indices, axes, mode)
            share = div(ct, count)
            cx = mul(share, hit_x) if want_x else None
            cu = mul(_gather_back(share, indices, axes, mode), hit_u) if want_u else None
            return (cx, cu) + (None,) * len(indices)
        return out, backward
    prim.jvp, prim.vjp = jvp, vjp


_extremum_scatter_rules(scatter_min_p)
_extremum_scatter_rules(scatter_max_p)


# =============================================================== dynamic_slice
def _clamped_starts(starts, shape, sizes):
    return [min(max(int(s), 0), d - n) for s, d, n in zip(starts, shape, sizes)]


def _dynamic_slice_impl(xp, x, *starts, slice_sizes):
    x = xp.asarray(x)
    begin = _clamped_starts(starts, x.shape, slice_sizes)
    return x[tuple(slice(b, b + n) for b, n in zip(begin, slice_sizes))]


def _check_starts(name, x, starts):
    if len(starts) != len(x.shape):
        raise ValueError(f"{name}: {len(starts)} start indices for an operand of rank "
                         f"{len(x.shape)}")
    for s in starts:
        if s.shape != () or not dtypes.is_integer(s.dtype):
            raise TypeError(f"{name}: start indices must be integer scalars, got "
                            f"{s.str_short()}")


def _dynamic_slice_aval(x, *starts, slice_sizes):
    _check_starts("dynamic_slice", x, starts)
    if len(slice_sizes) != len(x.shape) or any(
            not 0 <= n <= d for n, d in zip(slice_sizes, x.shape)):
        raise ValueError(f"dynamic_slice: slice_sizes {slice_sizes} do not fit in an operand "
                         f"of shape {x.shape}")
    return ShapedArray(slice_sizes, x.dtype)


dynamic_slice_p = primitive("dynamic_slice", _dynamic_slice_impl, _dynamic_slice_aval)
dynamic_slice_p.kernel_kind = "dynamic_slice"


def _dynamic_slice_jvp(primals, tangents, slice_sizes):
    x, *starts = primals
    out = dynamic_slice_p.bind(x, *starts, slice_sizes=slice_sizes)
    t = tangents[0]
    return out, None if t is None else dynamic_slice_p.bind(t, *starts,
                                                            slice_sizes=slice_sizes)


def _dynamic_slice_vjp(primals, needs, slice_sizes):
    x, *starts = primals
    out = dynamic_slice_p.bind(x, *starts, slice_sizes=slice_sizes)
    if not wanted(needs, primals)[0]:
        return out, None
    return out, lambda ct: (dynamic_update_slice_p.bind(full_like(x, 0), ct, *starts),) + \
        (None,) * len(starts)


def _window_indices(starts, sdims, shape, sizes, size, like):
    """Index arrays of shape `(size,) + sizes` covering each example's clamped window (on
    the device of `like`)."""
    grid = (size,) + tuple(sizes)
    out = []
    for k, (s, sdim, d, n) in enumerate(zip(starts, sdims, shape, sizes)):
        s = broadcast_batched(convert_element_type(s, dtypes.int64), sdim, size)
        s = lax_min(lax_max(s, 0), d - n)
        offsets = broadcast_in_dim(iota(n, like=like), grid, (k + 1,))
        out.append(add(broadcast_in_dim(s, grid, (0,)), offsets))
    return out


def _dynamic_slice_batch(vals, dims, slice_sizes):
    x, *starts = vals
    dx, *sdims = dims
    size = bdim_size(vals, dims)
    if all(d is None for d in sdims):
        x = moveaxis(x, dx, 0)
        return dynamic_slice_p.bind(x, 0, *starts, slice_sizes=(size,) + tuple(slice_sizes)), 0
    shape = shape_of(x) if dx is None else tuple(
        d for i, d in enumerate(shape_of(x)) if i != dx)
    idx = _window_indices(starts, sdims, shape, slice_sizes, size, x)
    if dx is None:
        return gather_p.bind(x, *idx, axes=tuple(range(len(shape))),
                             mode="promise_in_bounds"), 0
    x = moveaxis(x, dx, 0)
    lead = _iota_index(size, slice_sizes, x)
    return gather_p.bind(x, lead, *idx, axes=tuple(range(len(shape) + 1)),
                         mode="promise_in_bounds"), 0


dynamic_slice_p.jvp, dynamic_slice_p.vjp = _dynamic_slice_jvp, _dynamic_slice_vjp
dynamic_slice_p.batch = _dynamic_slice_batch


# =============================================================== dynamic_update_slice
def _copy_into(xp, out, x):
    """The array an update kernel writes: a copy of `x`, in `out` if given (which may be `x`
    itself, updated in place under jit when nothing else can see it)."""
    if out is None:
        return x.copy()
    if out is not x:
        xp.copyto(out, x)
    return out


def _dus_impl(xp, x, update, *starts, out=None):
    x = xp.asarray(x)
    update = xp.asarray(update)
    if update.dtype != x.dtype:                     # as tracing does (NumPy would cast)
        _dus_aval(ShapedArray(x.shape, x.dtype), ShapedArray(update.shape, update.dtype),
                  *starts)
    begin = _clamped_starts(starts, x.shape, update.shape)
    out = _copy_into(xp, out, x)
    out[tuple(slice(b, b + n) for b, n in zip(begin, update.shape))] = update
    return out


def _dus_aval(x, update, *starts):
    _check_starts("dynamic_update_slice", x, starts)
    if len(update.shape) != len(x.shape) or any(
            n > d for n, d in zip(update.shape, x.shape)):
        raise ValueError(f"dynamic_update_slice: an update of shape {update.shape} does not "
                         f"fit in an operand of shape {x.shape}")
    if update.dtype != x.dtype:
        raise TypeError(f"dynamic_update_slice: update dtype {update.dtype} differs from the "
                        f"operand's {x.dtype}")
    return ShapedArray(x.shape, x.dtype)


dynamic_update_slice_p = primitive("dynamic_update_slice", _dus_impl, _dus_aval)
dynamic_update_slice_p.impl_out, dynamic_update_slice_p.impl_inplace = True, (0,)


def _dus_jvp(primals, tangents):
    x, u, *starts = primals
    out = dynamic_update_slice_p.bind(x, u, *starts)
    tx, tu = tangents[:2]
    if tx is None and tu is None:
        return out, None
    return out, dynamic_update_slice_p.bind(zeros_or(tx, x), zeros_or(tu, u), *starts)


def _dus_vjp(primals, needs):
    x, u, *starts = primals
    out = dynamic_update_slice_p.bind(x, u, *starts)
    want_x, want_u = wanted(needs, primals)[:2]

    def backward(ct):
        cx = dynamic_update_slice_p.bind(ct, full_like(u, 0), *starts) if want_x else None
        cu = dynamic_slice_p.bind(ct, *starts, slice_sizes=tuple(shape_of(u))) \
            if want_u else None
        return (cx, cu) + (None,) * len(starts)
    return out, backward


def _dus_batch(vals, dims):
    x, u, *starts = vals
    dx, du, *sdims = dims
    size = bdim_size(vals, dims)
    x = broadcast_batched(x, dx, size)
    u = broadcast_batched(u, du, size)
    if all(d is None for d in sdims):
        return dynamic_update_slice_p.bind(x, u, 0, *starts), 0
    ushape = shape_of(u)[1:]
    idx = _window_indices(starts, sdims, shape_of(x)[1:], ushape, size, x)
    lead = _iota_index(size, ushape, x)
    return scatter_p.bind(x, u, lead, *idx, axes=tuple(range(len(ushape) + 1)),
                          mode="promise_in_bounds"), 0


dynamic_update_slice_p.jvp, dynamic_update_slice_p.vjp = _dus_jvp, _dus_vjp
dynamic_update_slice_p.batch = _dus_batch


# =============================================================== user-facing
def _as_index(i, x):
    """An index as an array where `x` lives: Python/NumPy integers and NumPy index arrays
    are index values (like the ints of a slice), placed with `x`."""
    if isinstance(i, (int, np.integer)):
        return constant(np.asarray(i, dtypes.int64), like=x)
    if isinstance(i, np.ndarray):
        return constant(i, like=x)
    return i


def _indices_for(x, indices):
    return [_as_index(i, x) for i in indices]


def _start_indices(x, indices, allow_negative_indices=True):
    """Start indices of a window as arrays, negative ones counted from the end of their axis
    (as JAX; then clamped to fit by the kernels) where `allow_negative_indices` (one bool, or
    one per axis) says so; where not, a negative Python int is an error and a negative array
    clamps to 0."""
    wraps = allow_negative_indices if isinstance(allow_negative_indices, (tuple, list)) \
        else (allow_negative_indices,) * len(shape_of(x))
    out = []
    for axis, (i, size, wrap) in enumerate(zip(indices, shape_of(x), wraps)):
        if isinstance(i, (int, np.integer)):
            if i < 0 and not wrap:
                raise ValueError(f"start index {i} of axis {axis} (size {size}) is negative "
                                 "with allow_negative_indices=False; pass a non-negative "
                                 "start, or allow_negative_indices=True to count from the end")
            out.append(_as_index(int(i) + size if i < 0 else i, x))
        elif wrap and dtype_of(i).kind == "i":
            out.append(wrap_negative(_as_index(i, x), size))
        else:
            out.append(_as_index(i, x))
    return out


def _normalize_axes(name, x, axes):
    rank = len(shape_of(x))
    for a in axes:
        if not -rank <= a < rank:
            raise ValueError(f"{name}: axis {a} is out of bounds for an operand of rank {rank}")
    return tuple(int(a) % rank for a in axes)


@on_operand_device
def gather_axes(x, *indices, axes, mode="clip", fill_value=None):
    """`x` indexed along `axes` by integer arrays of one shape B: shape B + the other axes.
    Out-of-bounds positions clamp (`mode="clip"`) or read `fill_value` (`mode="fill"`;
    0 unless given)."""
    return gather_p.bind(x, *_indices_for(x, indices),
                         axes=_normalize_axes("gather_axes", x, axes),
                         mode=mode, fill_value=fill_value)


def _scatter_fn(prim):
    @on_operand_device
    def f(x, updates, *indices, axes, mode="drop"):
        return prim.bind(x, updates, *_indices_for(x, indices),
                         axes=_normalize_axes(prim.name + "_axes", x, axes), mode=mode)
    f.__name__ = f.__qualname__ = prim.name + "_axes"
    f.__doc__ = (f"`{f.__name__}`: combine `updates` (shape B + the non-indexed axes) into `x` "
                 "at the positions the index arrays give along `axes`.")
    return f


scatter_axes = _scatter_fn(scatter_p)
scatter_add_axes = _scatter_fn(scatter_add_p)
scatter_mul_axes = _scatter_fn(scatter_mul_p)
scatter_min_axes = _scatter_fn(scatter_min_p)
scatter_max_axes = _scatter_fn(scatter_max_p)


@on_operand_device
def dynamic_slice(operand, start_indices, slice_sizes, *, allow_negative_indices=True):
    """The window of `slice_sizes` at (possibly traced) `start_indices`, clamped to fit;
    negative starts count from the end while `allow_negative_indices` (one bool or one per
    axis) holds."""
    return dynamic_slice_p.bind(
        operand, *_start_indices(operand, start_indices, allow_negative_indices),
        slice_sizes=tuple(int(s) for s in slice_sizes))


@on_operand_device
def dynamic_update_slice(operand, update, start_indices, *, allow_negative_indices=True):
    """`operand` with `update` written at (possibly traced) `start_indices`, clamped to fit
    (`allow_negative_indices` as in `dynamic_slice`)."""
    return dynamic_update_slice_p.bind(
        operand, update, *_start_indices(operand, start_indices, allow_negative_indices))


def dynamic_slice_in_dim(operand, start_index, slice_size, axis=0, *,
                         allow_negative_indices=True):
    """`slice_size` elements along `axis` from a (possibly traced) `start_index`, clamped."""
    shape = shape_of(operand)
    axis %= len(shape)
    starts = [0] * len(shape)
    starts[axis] = start_index
    return dynamic_slice(operand, starts,
                         [slice_size if i == axis else s for i, s in enumerate(shape)],
                         allow_negative_indices=allow_negative_indices)


def dynamic_index_in_dim(operand, index, axis=0, keepdims=True, *, allow_negative_indices=True):
    """Element `index` (possibly traced) along `axis`; `keepdims=False` drops that axis."""
    out = dynamic_slice_in_dim(operand, index, 1, axis,
                               allow_negative_indices=allow_negative_indices)
    return out if keepdims else reshape(out, tuple(
        s for i, s in enumerate(shape_of(operand)) if i != axis % len(shape_of(operand))))


def dynamic_update_slice_in_dim(operand, update, start_index, axis, *,
                                allow_negative_indices=True):
    """`operand` with `update` written from (possibly traced) `start_index` along `axis`."""
    starts = [0] * len(shape_of(operand))
    starts[axis % len(starts)] = start_index
    return dynamic_update_slice(operand, update, starts,
                                allow_negative_indices=allow_negative_indices)


def along_axis_indices(shape, indices, axis):
    """Index arrays for every axis: `indices` along `axis`, positions elsewhere (broadcast
    against `indices` as NumPy's take_along_axis does)."""
    ishape = shape_of(indices)
    rank = len(shape)
    out_shape = tuple(ishape[i] if i == axis else max(shape[i], ishape[i])
                      for i in range(rank))
    return [broadcast_in_dim(indices, out_shape, tuple(range(rank))) if i == axis
            else broadcast_in_dim(iota(shape[i], like=indices), out_shape, (i,))
            for i in range(rank)]


@on_operand_device
def take_along_axis(x, indices, axis, mode="clip", fill_value=None):
    """`x` picked along `axis` by `indices` of x's rank, as NumPy's take_along_axis
    (`fill_value` read out of bounds with `mode="fill"`)."""
    shape = shape_of(x)
    return gather_p.bind(x, *along_axis_indices(shape, indices, axis),
                         axes=tuple(range(len(shape))), mode=mode, fill_value=fill_value)


@on_operand_device
def add_along_axis(x, indices, updates, axis, mode="drop"):
    """`x` with `updates` added at the places `take_along_axis(x, indices, axis)` reads (the
    transpose of take_along_axis; duplicate indices accumulate)."""
    shape = shape_of(x)
    return scatter_add_p.bind(x, updates, *along_axis_indices(shape, indices, axis),
                              axes=tuple(range(len(shape))), mode=mode)


def wrap_negative(i, size):
    """Integer index `i` with NumPy's negative wrap-around (`i < 0` means `i + size`)."""
    return select(lt(i, 0), add(i, size), i)


__all__ = ["gather_axes", "scatter_axes", "scatter_add_axes", "scatter_mul_axes",
           "scatter_min_axes", "scatter_max_axes",
           "dynamic_slice", "dynamic_update_slice", "take_along_axis", "add_along_axis",
           "dynamic_slice_in_dim", "dynamic_index_in_dim", "dynamic_update_slice_in_dim"]
