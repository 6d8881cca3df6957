"""Shape manipulation with NumPy's signatures, on the structural primitives."""
from __future__ import annotations

import math
import operator

import numpy as np

from .. import dtypes, lax
from ..array import Array
from ..core import Tracer, concrete_host_value
from ..errors import ShapeMismatchError
from ..primitives._util import as_shape, shape_of, dtype_of, canonical_axis
from ..primitives.transfer import place
from ._conversion import asarray, promote
from ._array_api import to_device
from ._reductions import normalize_axes, no_out


def shape(a):
    return tuple(shape_of(asarray(a)))


def ndim(a):
    return len(shape_of(asarray(a)))


def size(a, axis=None):
    s = shape_of(asarray(a))
    return math.prod(s) if axis is None else s[axis]


def _resolve_shape(newshape, total, old):
    if isinstance(newshape, (int, np.integer)) or getattr(newshape, "ndim", None) == 0:
        newshape = (operator.index(newshape),)
    newshape = [operator.index(d) for d in newshape]
    unknown = [i for i, d in enumerate(newshape) if d == -1]
    if len(unknown) > 1:
        raise ValueError(f"reshape: can only specify one unknown dimension, got {newshape}")
    if unknown:
        known = math.prod(d for d in newshape if d != -1)
        if known == 0 or total % known:
            raise ShapeMismatchError(f"cannot reshape an array of shape {old} ({total} "
                                     f"elements) into {tuple(newshape)}")
        newshape[unknown[0]] = total // known
    return tuple(newshape)


def reshape(a, shape=None, order="C", *, newshape=None, copy=None, out_sharding=None):
    """`a` with a new shape (one axis may be -1), its elements read and written in C (row
    major) or F (column major) order. Arrays are immutable, so whether the result shares
    memory (`copy`) cannot be observed."""
    if out_sharding is not None:
        return place(reshape(a, shape, order, newshape=newshape), out_sharding, "reshape")
    if order not in ("C", "F"):
        raise ValueError(f"reshape: order must be 'C' or 'F', got {order!r}")
    shape = newshape if shape is None else shape
    a = asarray(a)
    s = shape_of(a)
    new = _resolve_shape(shape, math.prod(s), s)
    if order == "C":
        return lax.reshape(a, new)
    flipped = lax.reshape(lax.transpose(a, tuple(reversed(range(len(s))))), new[::-1])
    return lax.transpose(flipped, tuple(reversed(range(len(new)))))


def ravel(a, order="C", *, out_sharding=None):
    """`a` flattened in C or F order ('A' and 'K' read as C: memory layout is not visible)."""
    if order not in ("C", "F", "A", "K"):
        raise ValueError(f"ravel: order must be 'C', 'F', 'A' or 'K', got {order!r}")
    return place(reshape(a, (-1,), "F" if order == "F" else "C"), out_sharding, "ravel")


def transpose(a, axes=None):
    a = asarray(a)
    n = len(shape_of(a))
    axes = tuple(reversed(range(n))) if axes is None else \
        tuple(canonical_axis(int(x), n, "axes") for x in axes)
    return lax.transpose(a, axes)


def permute_dims(a, axes):
    return transpose(a, axes)


def matrix_transpose(a):
    a = asarray(a)
    n = len(shape_of(a))
    if n < 2:
        raise ValueError("matrix_transpose needs an array of rank >= 2")
    return lax.transpose(a, tuple(range(n - 2)) + (n - 1, n - 2))


def swapaxes(a, axis1, axis2):
    a = asarray(a)
    n = len(shape_of(a))
    perm = list(range(n))
    i, j = canonical_axis(axis1, n, "axis1"), canonical_axis(axis2, n, "axis2")
    perm[i], perm[j] = perm[j], perm[i]
    return lax.transpose(a, perm)


def moveaxis(a, source, destination):
    a = asarray(a)
    n = len(shape_of(a))
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {source} and destination {destination} must "
                         f"name as many axes")
    src = [canonical_axis(s, n, "source") for s in src]
    dst = [canonical_axis(d, n, "destination") for d in dst]
    order = [i for i in range(n) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return lax.transpose(a, order)


def expand_dims(a, axis):
    """`a` with new axes of size 1 at the positions `axis` (of the result)."""
    a = asarray(a)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    ndim = len(shape_of(a)) + len(axes)
    for d in axes:
        if not -ndim <= d < ndim:
            raise IndexError(f"expand_dims: axis {d} is out of bounds for a result of "
                             f"{ndim} dimensions")
    if len({d % ndim for d in axes}) != len(axes):
        raise ValueError(f"expand_dims: repeated axis in {axes}")
    return lax.expand_dims(a, axes)


def squeeze(a, axis=None):
    a = asarray(a)
    s = shape_of(a)
    if axis is None:
        axes = [i for i, d in enumerate(s) if d == 1]
    else:
        axes = normalize_axes(axis, len(s))
    return lax.squeeze(a, axes)


def broadcast_shapes(*shapes):
    """The shape arrays of `shapes` broadcast to (`()` for none)."""
    if not shapes:
        return ()
    from ..primitives._util import broadcast_shapes as b
    return b(*[tuple(s) for s in shapes], opname="broadcast_shapes")


def broadcast_to(array, shape, *, out_sharding=None):
    a = asarray(array)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    broadcast_shapes(shape_of(a), shape)
    return place(lax.broadcast_to(a, shape), out_sharding, "broadcast_to")


def broadcast_arrays(*args):
    """The arguments broadcast against each other (a tuple, as in NumPy 2)."""
    arrays = [asarray(a) for a in args]
    s = broadcast_shapes(*[shape_of(a) for a in arrays])
    return tuple(lax.broadcast_to(a, s) for a in arrays)


def atleast_1d(*arys):
    out = [asarray(a) if len(shape_of(asarray(a))) >= 1 else reshape(a, (1,)) for a in arys]
    return out[0] if len(out) == 1 else out


def atleast_2d(*arys):
    out = []
    for a in arys:
        a = asarray(a)
        n = len(shape_of(a))
        out.append(a if n >= 2 else reshape(a, (1,) * (2 - n) + shape_of(a)))
    return out[0] if len(out) == 1 else out


def atleast_3d(*arys):
    out = []
    for a in arys:
        a = asarray(a)
        s = shape_of(a)
        if len(s) == 0:
            a = reshape(a, (1, 1, 1))
        elif len(s) == 1:
            a = reshape(a, (1, s[0], 1))
        elif len(s) == 2:
            a = reshape(a, s + (1,))
        out.append(a)
    return out[0] if len(out) == 1 else out


def concatenate(arrays, axis=0, dtype=None):
    """Join arrays along an existing axis (`axis=None` flattens them first)."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    arrays, dt = promote(*arrays)
    arrays = [asarray(a, dtype=dt if dtype is None else dtype) for a in arrays]
    if axis is None:
        arrays = [ravel(a) for a in arrays]
        axis = 0
    n = len(shape_of(arrays[0]))
    if n == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    return lax.concatenate(arrays, normalize_axes(axis, n)[0])


concat = concatenate


def stack(arrays, axis=0, out=None, dtype=None):
    """Join arrays along a new axis."""
    no_out(out, "stack")
    arrays = [asarray(a) for a in arrays]
    if not arrays:
        raise ValueError("need at least one array to stack")
    shapes = {shape_of(a) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"stack: all input arrays must have the same shape, got "
                         f"{[shape_of(a) for a in arrays]}")
    n = len(shape_of(arrays[0])) + 1
    ax = normalize_axes(axis, n)[0]
    return concatenate([lax.expand_dims(a, (ax,)) for a in arrays], axis=ax, dtype=dtype)


def hstack(tup, dtype=None):
    arrs = atleast_1d(*tup)
    arrs = [arrs] if not isinstance(arrs, list) else arrs
    return concatenate(arrs, axis=0 if len(shape_of(arrs[0])) == 1 else 1, dtype=dtype)


def vstack(tup, dtype=None):
    arrs = atleast_2d(*tup)
    arrs = [arrs] if not isinstance(arrs, list) else arrs
    return concatenate(arrs, axis=0, dtype=dtype)


row_stack = vstack


def dstack(tup, dtype=None):
    arrs = atleast_3d(*tup)
    arrs = [arrs] if not isinstance(arrs, list) else arrs
    return concatenate(arrs, axis=2, dtype=dtype)


def column_stack(tup):
    cols = []
    for a in tup:
        a = asarray(a)
        cols.append(reshape(a, (-1, 1)) if len(shape_of(a)) <= 1 else a)
    return concatenate(cols, axis=1)


def flip(m, axis=None):
    m = asarray(m)
    return lax.rev(m, normalize_axes(axis, len(shape_of(m))))


def fliplr(m):
    return flip(m, 1)


def flipud(m):
    return flip(m, 0)


def astype(x, dtype, /, *, copy=True, device=None):
    """`x` converted to `dtype` (on `device` if given)."""
    from .. import dtypes
    out = lax.convert_element_type(asarray(x), dtypes.canonicalize(dtype))
    return out if device is None else to_device(out, device)


# ------------------------------------------------------------------ splitting and joining
def array_split(ary, indices_or_sections, axis=0):
    """Split into pieces along `axis`: n nearly equal sections, or at the given indices."""
    ary = asarray(ary)
    ax = normalize_axes(axis, len(shape_of(ary)))[0]
    n = shape_of(ary)[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError("number sections must be larger than 0")
        each, extra = divmod(n, sections)
        sizes = [each + 1] * extra + [each] * (sections - extra)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
    else:
        bounds = [0] + [min(max(int(i) if i >= 0 else n + int(i), 0), n)
                        for i in indices_or_sections] + [n]
    return [lax.slice_in_dim(ary, int(lo), int(max(lo, hi)), axis=ax)
            for lo, hi in zip(bounds[:-1], bounds[1:])]


def split(ary, indices_or_sections, axis=0):
    """Like array_split, but n sections must divide the axis evenly."""
    ary = asarray(ary)
    if isinstance(indices_or_sections, (int, np.integer)):
        n = shape_of(ary)[normalize_axes(axis, len(shape_of(ary)))[0]]
        if n % int(indices_or_sections):
            raise ValueError(f"array split does not result in an equal division: axis of "
                             f"size {n} into {indices_or_sections} sections")
    return array_split(ary, indices_or_sections, axis)


def hsplit(ary, indices_or_sections):
    ary = asarray(ary)
    return split(ary, indices_or_sections, axis=1 if len(shape_of(ary)) > 1 else 0)


def vsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, axis=0)


def dsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, axis=2)


def unstack(x, /, *, axis=0):
    """The slices of x along `axis`, as a tuple."""
    x = asarray(x)
    ax = normalize_axes(axis, len(shape_of(x)))[0]
    return tuple(lax.squeeze(lax.slice_in_dim(x, i, i + 1, axis=ax), (ax,))
                 for i in range(shape_of(x)[ax]))


def _weak(value, like):
    """`value` as an array; a Python scalar (or, under jit, the traced value of one) takes
    the dtype it promotes to with `like`'s (weakly typed, as in arithmetic), so
    `append(int32_array, 1)` stays int32."""
    if type(value) in (bool, int, float, complex) or (
            isinstance(value, Tracer) and value.aval.weak_type):
        return asarray(value, dtype=promote(like, value)[1])
    return asarray(value)


def append(arr, values, axis=None):
    """`values` appended to `arr` along `axis` (both flattened when it is None)."""
    arr = asarray(arr)
    values = _weak(values, arr)
    if axis is None:
        return concatenate([ravel(arr), ravel(values)])
    return concatenate([arr, values], axis=axis)


def tile(A, reps):
    """A repeated `reps` times along each axis."""
    A = asarray(A)
    reps = (int(reps),) if isinstance(reps, (int, np.integer)) else tuple(int(r) for r in reps)
    s = shape_of(A)
    nd = max(len(s), len(reps))
    s = (1,) * (nd - len(s)) + tuple(s)
    reps = (1,) * (nd - len(reps)) + reps
    a = lax.reshape(A, s)
    # interleave a new axis of size r before each axis, broadcast, then merge the pairs
    wide = lax.broadcast_in_dim(a, tuple(x for r, d in zip(reps, s) for x in (r, d)),
                                tuple(range(1, 2 * nd, 2)))
    return lax.reshape(wide, tuple(r * d for r, d in zip(reps, s)))


def repeat(a, repeats, axis=None, *, total_repeat_length=None, out_sharding=None):
    """Each element repeated `repeats` times along `axis` (flattened when None). Traced
    per-element repeats need `total_repeat_length` (the output length is a shape)."""
    if out_sharding is not None:
        return place(repeat(a, repeats, axis, total_repeat_length=total_repeat_length),
                     out_sharding, "repeat")
    a = asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    ax = normalize_axes(axis, len(shape_of(a)))[0]
    s = shape_of(a)
    if isinstance(repeats, (int, np.integer)):
        r = int(repeats)
        wide = lax.broadcast_in_dim(a, s[:ax + 1] + (r,) + s[ax + 1:],
                                    tuple(range(ax + 1)) + tuple(range(ax + 2, len(s) + 1)))
        return lax.reshape(wide, s[:ax] + (s[ax] * r,) + s[ax + 1:])
    from ..core import is_concrete, concrete_host_value
    if is_concrete(repeats) if isinstance(repeats, Tracer) else True:
        reps = np.broadcast_to(concrete_host_value(repeats), (s[ax],))
        return take(a, np.repeat(np.arange(s[ax]), reps), axis=ax)
    if total_repeat_length is None:
        raise TypeError("repeat: traced repeats give an output length that is not known "
                        "while tracing; pass total_repeat_length=")
    from ._sorting import searchsorted
    ends = lax.cumsum(lax.convert_element_type(asarray(repeats), np.int64), 0)
    idx = searchsorted(ends, np.arange(int(total_repeat_length)), side="right")
    return take(a, idx, axis=ax, mode="clip")


# ------------------------------------------------------------------ taking elements
def take(a, indices, axis=None, out=None, mode=None, unique_indices=False,
         indices_are_sorted=False, fill_value=None):
    """Elements of `a` at `indices` along `axis` (of the flattened array when None).

    mode: None/"raise" (NumPy: concrete out-of-bounds indices raise, traced ones clamp),
    "clip" (clamp), "wrap" (modulo), "fill" (JAX's: indices outside [-n, n) give
    `fill_value`, by default NaN, the most negative signed or largest unsigned integer, True)."""
    from ._indexing import getitem
    from ._math import where
    if out is not None:
        raise TypeError("take: out= is not supported (arrays are immutable)")
    a = asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    ax = normalize_axes(axis, len(shape_of(a)))[0]
    n = shape_of(a)[ax]
    idx = asarray(indices)
    if dtype_of(idx) == np.bool_:       # read as 0 and 1, as NumPy and JAX do
        idx = lax.convert_element_type(idx, dtypes.default_int_dtype())
    idx = integer_indices("take", idx, ValueError)
    if mode == "clip":
        idx = _clip_index(idx, n)
    elif mode == "wrap":
        idx = lax.remainder(idx, n)
    elif mode == "fill":
        inside = lax.bitwise_and(lax.ge(idx, -n), lax.lt(idx, n))
        picked = getitem(a, (slice(None),) * ax + (where(inside, idx, 0),))
        rest = len(shape_of(a)) - ax - 1
        inside = lax.reshape(inside, (1,) * ax + shape_of(inside) + (1,) * rest)
        fill = dtypes.default_fill_value(dtype_of(a)) if fill_value is None else fill_value
        return where(inside, picked, lax.convert_element_type(fill, dtype_of(a)))
    elif mode not in (None, "raise"):
        raise ValueError(f"take: mode must be 'raise', 'clip', 'wrap' or 'fill', got {mode!r}")
    return getitem(a, (slice(None),) * ax + (idx,))


def _clip_index(idx, n):
    """Indices clamped into [0, n - 1] (NumPy's mode='clip': negatives clamp to 0)."""
    return lax.min(lax.max(idx, 0), max(n - 1, 0))


def integer_indices(name, indices, error=TypeError):
    """`indices` as an array, which must be of an integer dtype (booleans and floats are
    refused, as JAX refuses them; NumPy reads booleans as 0 and 1 in some functions)."""
    idx = asarray(indices)
    if not np.issubdtype(dtype_of(idx), np.integer):
        raise error(f"{name}: indices must be an integer array, got {dtype_of(idx)}; convert "
                    "them (indices.astype(int)), or use a boolean mask with where() or x[mask]")
    return idx


def take_along_axis(arr, indices, axis=-1, mode=None, fill_value=None, *,
                    wrap_negative_indices=None):
    """`arr` picked along `axis` by `indices` (same rank; other axes broadcast). Negative
    indices count from the end unless `wrap_negative_indices=False` (the default for mode
    "promise_in_bounds", as JAX). Out of range, `mode=None` raises IndexError on concrete
    indices, clamps traced ones (NumPy's rule; JAX's None is "fill"); "clip" clamps; "fill"
    gives `fill_value` (default NaN, the extreme integer, True: `dtypes.default_fill_value`)."""
    from ._indexing import out_of_bounds, fill_scalar
    arr = asarray(arr)
    if axis is None:
        arr, axis = ravel(arr), 0
    rank = len(shape_of(arr))
    ax = normalize_axes(axis, rank)[0]
    n = shape_of(arr)[ax]
    idx = integer_indices("take_along_axis", indices)
    if len(shape_of(idx)) != rank:
        raise ValueError(f"take_along_axis: indices of rank {len(shape_of(idx))} need the "
                         f"rank {rank} of arr")
    kind = lax.GatherScatterMode.CLIP if mode is None else lax.GatherScatterMode.from_any(mode)
    mode_wraps = kind != lax.GatherScatterMode.PROMISE_IN_BOUNDS
    wrap = mode_wraps if wrap_negative_indices is None else wrap_negative_indices
    if mode is None and not isinstance(idx, Tracer):
        raw = np.asarray(idx)
        low = -n if wrap else 0
        if raw.size and (raw.max() >= n or raw.min() < low):
            raise out_of_bounds(int(raw.max() if raw.max() >= n else raw.min()), ax, n)
    if wrap:
        idx = lax.wrap_negative(idx, n)
    if kind in (lax.GatherScatterMode.CLIP, lax.GatherScatterMode.PROMISE_IN_BOUNDS):
        return lax.take_along_axis(arr, idx, ax, mode="clip")
    if kind != lax.GatherScatterMode.FILL_OR_DROP:
        raise ValueError(f"take_along_axis: mode must be None, 'clip', 'fill' or "
                         f"'promise_in_bounds', got {mode!r}")
    fill = dtypes.default_fill_value(dtype_of(arr)) if fill_value is None else fill_value
    return lax.take_along_axis(arr, idx, ax, mode="fill",
                               fill_value=fill_scalar(fill, dtype_of(arr), "take_along_axis"))


def compress(condition, a, axis=None, *, size=None, fill_value=0, out=None):
    """The slices of `a` along `axis` where the (concrete) condition is true; with JAX's
    `size`, that many (traced conditions work), the slots beyond them `fill_value`."""
    from ._sorting import nonzero
    no_out(out, "compress")
    condition = ravel(asarray(condition))
    idx, = nonzero(condition, size=size)
    out = take(a, idx, axis=axis)
    if size is None:
        return out
    found = lax.reduce_sum(lax.convert_element_type(lax.ne(condition, False), np.int64), (0,))
    shape = shape_of(out)
    along = 0 if axis is None else axis % len(shape)
    slots = lax.broadcast_in_dim(lax.lt(lax.iota(int(size), like=out), found), shape, (along,))
    return lax.select(slots, out, lax.full_like(out, fill_value))


def extract(condition, arr, *, size=None, fill_value=0):
    """The elements of `arr` where the (concrete) condition is true, flattened."""
    return compress(ravel(asarray(condition)), ravel(asarray(arr)), size=size,
                    fill_value=fill_value)


def select(condlist, choicelist, default=0):
    """Elementwise: the first choice whose condition holds, else `default`."""
    from ._math import where
    if len(condlist) != len(choicelist):
        raise ValueError("select: condlist and choicelist must have the same length")
    out = default if type(default) in (bool, int, float, complex) else asarray(default)
    for cond, choice in reversed(list(zip(condlist, choicelist))):
        out = where(cond, choice, out)
    return out


def choose(a, choices, out=None, mode="raise"):
    """Elementwise `choices[a[i]][i]` (a and the choices broadcast together)."""
    idx = integer_indices("choose", a, ValueError)
    stacked = stack(broadcast_arrays(*choices, idx)[:-1])
    idx = lax.broadcast_to(idx, shape_of(stacked)[1:])
    n = shape_of(stacked)[0]
    if mode == "clip":
        idx = _clip_index(idx, n)
    elif mode == "wrap":
        idx = lax.remainder(idx, n)
    return squeeze(take_along_axis(stacked, lax.expand_dims(idx, (0,)), 0), 0)


# ------------------------------------------------------------------ rearranging
def roll(a, shift, axis=None):
    """Elements shifted cyclically by `shift` along `axis` (the flattened array when None).
    The shift may be traced."""
    a = asarray(a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), shape_of(a))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if isinstance(shift, Tracer) and len(shape_of(shift)) == 1:    # traced shifts, one each
        shift = [shift[i] for i in range(shape_of(shift)[0])]
    elif not isinstance(shift, Tracer) and np.ndim(shift) == 1:    # an array of shifts
        shift = np.asarray(concrete_host_value(shift, "roll's shift")).tolist()
    shifts = (shift,) * len(axes) if not isinstance(shift, (tuple, list)) else tuple(shift)
    if len(axes) == 1 and len(shifts) > 1:          # several shifts along one axis (NumPy)
        axes = axes * len(shifts)
    if len(shifts) != len(axes):
        raise ValueError("roll: shift and axis must have the same length")
    for sh, ax in zip(shifts, axes):
        ax = normalize_axes(ax, len(shape_of(a)))[0]
        n = shape_of(a)[ax]
        if n == 0:
            continue
        if isinstance(sh, Tracer):
            idx = lax.remainder(lax.sub(lax.iota(n, like=a),
                                        lax.convert_element_type(sh, np.int64)), n)
            a = take(a, idx, axis=ax)
            continue
        k = int(sh) % n
        if k:
            a = lax.concatenate([lax.slice_in_dim(a, n - k, n, axis=ax),
                                 lax.slice_in_dim(a, 0, n - k, axis=ax)], ax)
    return a


def rollaxis(a, axis, start=0):
    a = asarray(a)
    n = len(shape_of(a))
    axis, start = axis % n, start % (n + 1)
    if axis < start:
        start -= 1
    return moveaxis(a, axis, start)


def rot90(m, k=1, axes=(0, 1)):
    """Rotate by 90 degrees k times in the plane of `axes`."""
    m = asarray(m)
    k %= 4
    a0, a1 = axes
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, a0), a1)
    if k == 1:
        return swapaxes(flip(m, a1), a0, a1)
    return flip(swapaxes(m, a0, a1), a1)


def resize(a, new_shape):
    """`a` flattened, repeated cyclically and reshaped to `new_shape`."""
    a = ravel(asarray(a))
    new_shape = as_shape(new_shape, "resize: new_shape")
    total = math.prod(new_shape)
    n = shape_of(a)[0]
    if n == 0 or total == 0:
        from ._creation import zeros
        return zeros(new_shape, dtype_of(a))
    reps = -(-total // n)
    return reshape(lax.slice_in_dim(tile(a, reps), 0, total), new_shape)


def delete(arr, obj, axis=None, *, assume_unique_indices=False):
    """`arr` without the entries `obj` along `axis`: concrete ones, or with
    `assume_unique_indices` (distinct indices, as JAX) traced integer ones too."""
    arr = asarray(arr)
    if axis is None:
        arr, axis = ravel(arr), 0
    ax = normalize_axes(axis, len(shape_of(arr)))[0]
    n = shape_of(arr)[ax]
    if isinstance(obj, Tracer) and assume_unique_indices:
        from ._sorting import isin
        idx = lax.wrap_negative(ravel(obj), n)
        gone = lax.convert_element_type(isin(lax.iota(np.int64, n), idx), np.int8)
        kept = lax.sort_multiple((gone, lax.iota(np.int64, n)), 0)[1]    # in order, first
        return take(arr, lax.slice_in_dim(kept, 0, n - shape_of(idx)[0]), axis=ax)
    keep = np.ones(n, bool)
    keep[np.arange(n)[obj] if isinstance(obj, slice) else np.asarray(obj)] = False
    return take(arr, np.nonzero(keep)[0], axis=ax)


def insert(arr, obj, values, axis=None):
    """`arr` with `values` inserted before the (concrete) indices `obj` along `axis`."""
    arr = asarray(arr)
    if axis is None:
        arr, axis = ravel(arr), 0
    ax = normalize_axes(axis, len(shape_of(arr)))[0]
    n = shape_of(arr)[ax]
    scalar = isinstance(obj, (int, np.integer))
    positions = np.arange(n + 1)[obj] if isinstance(obj, slice) else np.atleast_1d(obj)
    positions = np.where(positions < 0, positions + n, positions)
    values = asarray(values, dtype=dtype_of(arr))
    vshape = list(shape_of(arr))
    vshape[ax] = len(positions)
    if scalar:
        v = values if len(shape_of(values)) == len(vshape) else expand_dims(values, ax) \
            if len(shape_of(values)) == len(vshape) - 1 else values
        values = broadcast_to(v, vshape)
    else:
        values = broadcast_to(moveaxis(values, -1, ax) if len(shape_of(values)) == len(vshape)
                              else values, vshape)
    # each value goes just before the original element at its position
    order = np.argsort(np.concatenate([2 * np.arange(n) + 1, 2 * positions]), kind="stable")
    return take(concatenate([arr, values], axis=ax), order, axis=ax)


def block(arrays):
    """Assemble an array from nested lists of blocks (the innermost lists join along the
    last axis)."""
    def depth(x):
        return 1 + depth(x[0]) if isinstance(x, list) and x else 0
    d = depth(arrays)
    rank = max(d, max(len(shape_of(asarray(x))) for x in _leaves(arrays)))

    def assemble(x, level):
        if not isinstance(x, list):
            x = asarray(x)
            return reshape(x, (1,) * (rank - len(shape_of(x))) + tuple(shape_of(x)))
        return concatenate([assemble(y, level + 1) for y in x], axis=level - d)
    return assemble(arrays, 0)


def _leaves(nested):
    if isinstance(nested, list):
        return [leaf for x in nested for leaf in _leaves(x)]
    return [nested]


# ------------------------------------------------------------------ diagonals and triangles
def diagonal(a, offset=0, axis1=0, axis2=1):
    """The diagonal of the (axis1, axis2) planes, as the last axis."""
    a = asarray(a)
    rank = len(shape_of(a))
    axis1, axis2 = normalize_axes(axis1, rank)[0], normalize_axes(axis2, rank)[0]
    if axis1 == axis2:
        raise ValueError("diagonal: axis1 and axis2 cannot be the same")
    n1, n2 = shape_of(a)[axis1], shape_of(a)[axis2]
    start1, start2 = max(-offset, 0), max(offset, 0)
    k = max(min(n1 - start1, n2 - start2), 0)
    i = np.arange(k)
    out = lax.gather_axes(a, i + start1, i + start2, axes=(axis1, axis2),
                          mode="promise_in_bounds")
    return moveaxis(out, 0, -1)


def diag(v, k=0):
    """The k-th diagonal of a 2-D array, or a 2-D array with 1-D `v` on its k-th diagonal."""
    v = asarray(v)
    s = shape_of(v)
    if len(s) == 2:
        return diagonal(v, k)
    if len(s) != 1:
        raise ValueError(f"diag: input must be 1-D or 2-D, got shape {s}")
    n = s[0] + abs(k)
    rows, cols = np.arange(s[0]) + max(-k, 0), np.arange(s[0]) + max(k, 0)
    from ._creation import zeros
    return lax.scatter_axes(zeros((n, n), dtype_of(v)), v, rows, cols, axes=(0, 1),
                            mode="promise_in_bounds")


def diagflat(v, k=0):
    return diag(ravel(v), k)


def _tri_mask(shape, k, upper):
    m, n = shape[-2:]
    return np.triu(np.ones((m, n), bool), k) if upper else np.tril(np.ones((m, n), bool), k)


def tril(m, k=0):
    """The lower triangle (on and below the k-th diagonal) of the last two axes."""
    from ._math import where
    m = asarray(m)
    return where(_tri_mask(shape_of(m), k, upper=False), m, lax.full_like(m, 0))


def triu(m, k=0):
    """The upper triangle (on and above the k-th diagonal) of the last two axes."""
    from ._math import where
    m = asarray(m)
    return where(_tri_mask(shape_of(m), k, upper=True), m, lax.full_like(m, 0))


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """The sum along the diagonal."""
    from ._reductions import sum as sum_
    return sum_(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype, out=out)


# ------------------------------------------------------------------ differences
def diff(a, n=1, axis=-1, prepend=None, append=None):
    """The n-th discrete difference along `axis`."""
    from ._math import subtract, not_equal
    a = asarray(a)
    ax = normalize_axes(axis, len(shape_of(a)))[0]
    parts = []
    for extra in (prepend, a, append):
        if extra is None:
            continue
        extra = _weak(extra, a)
        if len(shape_of(extra)) == 0:
            s = list(shape_of(a))
            s[ax] = 1
            extra = broadcast_to(extra, s)
        parts.append(extra)
    a = concatenate(parts, axis=ax) if len(parts) > 1 and n else a     # n=0: `a` as given
    for _ in range(n):
        m = shape_of(a)[ax]
        hi, lo = lax.slice_in_dim(a, 1, m, axis=ax), lax.slice_in_dim(a, 0, m - 1, axis=ax)
        a = not_equal(hi, lo) if dtype_of(a) == np.bool_ else subtract(hi, lo)
    return a


def ediff1d(ary, to_end=None, to_begin=None):
    d = diff(ravel(ary))
    parts = [ravel(asarray(x)) for x in (to_begin,) if x is not None] + [d] + \
        [ravel(asarray(x)) for x in (to_end,) if x is not None]
    return concatenate(parts) if len(parts) > 1 else d


# ------------------------------------------------------------------ padding
_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap", "empty", "maximum",
              "minimum", "mean", "linear_ramp")


def _pad_widths(pad_width, rank):
    w = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (rank, 2))
    if (w < 0).any():
        raise ValueError("pad: index can't contain negative values")
    return [tuple(int(v) for v in row) for row in w]


def _source_positions(n, before, after, mode):
    """For each output position along a padded axis, the input position it copies."""
    i = np.arange(-before, n + after)
    if mode == "edge" or n == 1:
        return np.clip(i, 0, n - 1)
    if mode == "wrap":
        return i % n
    if mode == "reflect":
        period = 2 * (n - 1)
        j = i % period
        return np.where(j >= n, period - j, j)
    period = 2 * n                                        # symmetric
    j = i % period
    return np.where(j >= n, period - 1 - j, j)


def pad(array, pad_width, mode="constant", **kwargs):
    """Pad with NumPy's modes: constant (constant_values=), edge, reflect, symmetric, wrap,
    empty (zeros), maximum, minimum, mean, linear_ramp (end_values=). Widths are static."""
    a = asarray(array)
    rank = len(shape_of(a))
    widths = _pad_widths(pad_width, rank)
    if callable(mode):
        raise NotImplementedError("pad: a function as mode is not supported")
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    if mode in ("constant", "empty", "linear_ramp"):
        key = "end_values" if mode == "linear_ramp" else "constant_values"
        values = np.broadcast_to(np.asarray(kwargs.get(key, 0)), (rank, 2)) \
            if not isinstance(kwargs.get(key, 0), (Array, Tracer)) else None
        if values is None:
            raise NotImplementedError(f"pad: {key} must be concrete")
        for ax, (lo, hi) in enumerate(widths):
            for side, w in ((0, lo), (1, hi)):
                if not w:
                    continue
                config = [(0, 0, 0)] * rank
                config[ax] = (w, 0, 0) if side == 0 else (0, w, 0)
                fill = values[ax][side].item()
                if mode == "linear_ramp":
                    a = _linear_ramp(a, ax, w, side, fill)
                else:
                    a = lax.pad(a, lax.convert_element_type(fill, dtype_of(a)), config)
        return a
    if mode in ("maximum", "minimum", "mean"):
        return _stat_pad(a, widths, mode)
    for ax, (lo, hi) in enumerate(widths):
        n = shape_of(a)[ax]
        if not (lo or hi):
            continue
        if n == 0:
            raise ValueError(f"pad: can't extend empty axis {ax} using modes other than "
                             "'constant' or 'empty'")
        if mode in ("reflect", "symmetric") and kwargs.get("reflect_type", "even") == "odd":
            a = _odd_reflection(a, ax, lo, hi, mode)
        else:
            a = take(a, _source_positions(n, lo, hi, mode), axis=ax)
    return a


def _odd_reflection(a, ax, lo, hi, mode):
    """NumPy's reflect_type='odd': each value mirrored through the edge (2 * edge - mirror),
    in chunks of at most one period, each chunk mirroring what the last one made."""
    from ._math import subtract, multiply
    n = shape_of(a)[ax]
    period = max(n - 1, 1) if mode == "reflect" else n
    skip = 1 if mode == "reflect" and n > 1 else 0        # reflect leaves the edge out
    while lo or hi:
        left, right = min(lo, period), min(hi, period)
        m = shape_of(a)[ax]
        parts = [a]
        if left:
            edge = lax.slice_in_dim(a, 0, 1, axis=ax)
            mirror = take(a, np.arange(skip + left - 1, skip - 1, -1), axis=ax)
            parts.insert(0, subtract(multiply(edge, 2), mirror))
        if right:
            edge = lax.slice_in_dim(a, m - 1, m, axis=ax)
            mirror = take(a, np.arange(m - 1 - skip, m - 1 - skip - right, -1), axis=ax)
            parts.append(subtract(multiply(edge, 2), mirror))
        a = concatenate(parts, axis=ax)
        lo, hi = lo - left, hi - right
    return a


def _linear_ramp(a, ax, width, side, end):
    """The ramp from `end` (outermost) to the edge value (exclusive), as NumPy."""
    from ._math import add, multiply, subtract
    n = shape_of(a)[ax]
    edge = lax.slice_in_dim(a, 0, 1, axis=ax) if side == 0 else \
        lax.slice_in_dim(a, n - 1, n, axis=ax)
    shape = [1] * len(shape_of(a))
    shape[ax] = width
    steps = np.arange(width) if side == 0 else np.arange(1, width + 1)
    t = (steps / width).reshape(shape)
    ramp = add(end, multiply(subtract(edge, end), t)) if side == 0 else \
        add(edge, multiply(subtract(end, edge), t))
    ramp = lax.convert_element_type(ramp, dtype_of(a))
    return concatenate([ramp, a] if side == 0 else [a, ramp], axis=ax)


def _stat_pad(a, widths, mode):
    from . import _reductions
    reduce = {"maximum": _reductions.max, "minimum": _reductions.min,
              "mean": _reductions.mean}[mode]
    for ax, (lo, hi) in enumerate(widths):
        if not (lo or hi):
            continue
        stat = reduce(a, axis=ax, keepdims=True)
        if mode == "mean" and not np.issubdtype(dtype_of(a), np.inexact):
            from ._math import rint
            stat = rint(stat)
        stat = lax.convert_element_type(stat, dtype_of(a))
        s = list(shape_of(a))
        parts = []
        if lo:
            s[ax] = lo
            parts.append(broadcast_to(stat, tuple(s)))
        parts.append(a)
        if hi:
            s[ax] = hi
            parts.append(broadcast_to(stat, tuple(s)))
        a = concatenate(parts, axis=ax)
    return a
