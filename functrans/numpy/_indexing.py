"""Indexing: `x[idx]` with NumPy semantics.

- Basic indexing (integers, slices, None, Ellipsis) lowers to `slice`, `rev` and `reshape`.
- Traced integer scalars (e.g. a loop counter under jit) use `dynamic_slice`; negative
  values wrap as in NumPy.
- Integer arrays (and concrete boolean masks, turned into integer arrays) use `gather`,
  with NumPy's placement of the indexed dimensions (see `_advanced`).
- Out-of-bounds integer indices follow JAX's rule, the same eagerly and under every
  transform: after negative values wrap, a read clamps them into range (`x[5]` of three
  elements is `x[2]`); `x.at[idx].get(mode="fill", fill_value=v)` reads `v` there instead.
  (Updates drop them: see `_at`.) Boolean masks need concrete values: under jit use
  `fnp.where(mask, x, other)` instead.

Eager NumPy-backed arrays indexed by concrete indices take a fast path straight to NumPy.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes, lax
from ..array import Array, wrap
from ..core import (Tracer, concrete_value, concrete_host_value, ConcretizationError,
                    format_frame, user_frame)
from ..errors import IndexTypeError, NonConcreteBooleanIndexError
from ..primitives._util import shape_of, dtype_of
from ._conversion import asarray
from ._dslice import Slice, has_dslice

_NDARRAY = np.ndarray


# ------------------------------------------------------------------ the eager fast path
def raw_index(idx):
    """The index with Arrays replaced by their NumPy values, or None if it holds a tracer
    (or anything NumPy should not see)."""
    if type(idx) is tuple:
        out = []
        for e in idx:
            r = _raw_entry(e)
            if r is _NOT_RAW:
                return None
            out.append(r)
        return tuple(out)
    r = _raw_entry(idx)
    return None if r is _NOT_RAW else r


_NOT_RAW = object()


def _raw_entry(e):
    t = type(e)
    if t is int or t is slice or e is None or e is Ellipsis or t is _NDARRAY:
        return e
    if t is Array:
        v = e._value
        return v if isinstance(v, (_NDARRAY, np.generic)) else _NOT_RAW
    if isinstance(e, (np.integer, np.bool_)) or t is bool:
        return e
    if t is list and not any(isinstance(v, (Tracer, list, tuple)) for v in e):
        return e
    return _NOT_RAW


def getitem(x, idx):
    """`x[idx]` with NumPy's semantics, out-of-bounds indices clamped (see the module
    docstring)."""
    if type(x) is Array:
        v = x._value
        if type(v) is _NDARRAY:
            t = type(idx)
            raw = idx if t is int or t is slice else idx._value if t is Array else \
                raw_index(idx)
            if raw is not None:
                try:
                    return wrap(v[raw])
                except IndexError:
                    pass            # the general path raises with the user's source line
    return _getitem(asarray(x), idx)


# ------------------------------------------------------------------ normalizing an index
class Index:
    """An index normalized against a shape: one entry per axis of `expanded_shape` (the
    shape after inserting the None axes). Entries are slices, static ints, traced integer
    scalars or integer arrays (concrete NumPy arrays or tracers)."""

    def __init__(self, shape, idx):
        entries, new_axes, breaks = _expand(shape, idx)
        self.new_axes = new_axes                  # positions of None axes in expanded shape
        self.breaks = breaks                      # where an empty Ellipsis separates entries
        self.entries = entries
        expanded = list(shape)
        for p in new_axes:
            expanded.insert(p, 1)
        self.expanded_shape = tuple(expanded)

    def kinds(self):
        return {entry_kind(e) for e in self.entries}


def entry_kind(e):
    if isinstance(e, slice):
        return "slice"
    if isinstance(e, int):
        return "int"
    if isinstance(e, Tracer) and not shape_of(e):
        return "scalar"
    return "array"


def _expand(shape, idx):
    """Entries per axis (None axes inserted as full slices), the None positions, and the
    positions of Ellipses that expanded to no axes (NumPy still counts those as separating
    advanced indices)."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    items = [_classify(e) for e in idx]
    consumed = sum(n for n, _ in items)
    ellipses = sum(1 for n, e in items if e is Ellipsis)
    if ellipses > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > len(shape):
        raise IndexError(f"too many indices for array: array is {len(shape)}-dimensional, but "
                         f"{consumed} were indexed")
    entries, new_axes, breaks = [], [], set()
    axis = 0
    for n, e in items:
        if e is Ellipsis:
            fill = len(shape) - consumed
            if not fill:
                breaks.add(len(entries))
            entries.extend([slice(None)] * fill)
            axis += fill
        elif e is None:
            new_axes.append(len(entries))
            entries.append(slice(None))
        elif isinstance(e, _ScalarMask):      # a new axis, of length 1 if True, 0 if False
            new_axes.append(len(entries))
            entries.append(np.arange(int(e.value)))
        elif isinstance(e, np.ndarray) and e.dtype == np.bool_:   # a mask over n axes
            _check_mask(e, shape[axis:axis + n], axis)
            entries.extend(np.nonzero(e))
            axis += n
        else:
            entries.append(e)
            axis += 1
    entries.extend([slice(None)] * (len(shape) - axis))
    return entries, new_axes, breaks


def _classify(e):
    """(number of axes consumed, normalized entry)."""
    if e is None or e is Ellipsis:
        return 0, e
    if isinstance(e, (bool, np.bool_)):
        return 0, _ScalarMask(bool(e))
    if isinstance(e, slice):
        return 1, slice(*(None if v is None else _static_slice_part(v)
                          for v in (e.start, e.stop, e.step)))
    if isinstance(e, (int, np.integer)):
        return 1, int(e)
    if isinstance(e, (list, tuple)):
        e = np.asarray(e)
        if e.dtype == np.float64 and e.size == 0:
            e = e.astype(np.int64)
    if isinstance(e, (Array, Tracer)):
        dt = dtype_of(e)
        if isinstance(e, Tracer):
            try:
                e = concrete_host_value(e)
            except ConcretizationError:
                if dt == dtypes.bool_:
                    raise NonConcreteBooleanIndexError(_mask_under_trace_message(e)) from None
                if not dtypes.is_integer(dt):
                    raise IndexTypeError(f"arrays used as indices must be integers or "
                                         f"booleans, got {dt}") from None
                return 1, e
        else:
            e = np.asarray(e)
    if isinstance(e, np.ndarray):
        if e.dtype == np.bool_:
            if e.ndim == 0:
                return 0, _ScalarMask(bool(e))
            return e.ndim, e
        if not dtypes.is_integer(e.dtype):
            raise IndexTypeError(f"arrays used as indices must be integers or booleans, got "
                                 f"{e.dtype}")
        return 1, int(e) if e.ndim == 0 else e
    raise IndexTypeError(f"only integers, slices (':'), ellipsis ('...'), None and integer "
                         f"or boolean arrays are valid indices, got {type(e).__name__}")


class _ScalarMask:
    """A boolean scalar index: NumPy's new axis of length 1 (True) or 0 (False)."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _static_slice_part(v):
    if isinstance(v, Tracer):
        try:
            v = concrete_value(v)
        except ConcretizationError:
            raise IndexError(
                f"slice bounds must be concrete (a slice's length is its shape), got a traced "
                f"value at {format_frame(user_frame())}. For a window of fixed size at a "
                "traced start use ft.lax.dynamic_slice(x, (start, ...), sizes).") from None
    return int(v)


def _mask_under_trace_message(mask):
    return (f"boolean mask indexing needs a concrete mask (its result's shape depends on the "
            f"mask's values), but this mask ({mask.aval.str_short()}) is traced, at "
            f"{format_frame(user_frame())}. Use fnp.where(mask, x, other) to select "
            "elementwise, or x.sum(where=mask) for masked reductions.")


def _check_mask(mask, dims, axis):
    if tuple(mask.shape) != tuple(dims):
        raise IndexError(f"boolean index of shape {mask.shape} does not match the indexed "
                         f"axes {axis}..{axis + len(mask.shape) - 1} of sizes {tuple(dims)}")


def clamp_index(i, axis, size):
    """Static index `i` (negative values wrap once) clamped into `[0, size)`; an axis of
    size 0 has no element to read (IndexError)."""
    if size == 0:
        raise out_of_bounds(i, axis, size)
    if i < 0:
        i += size
    return min(max(i, 0), size - 1)


def out_of_bounds(i, axis, size):
    return IndexError(f"index {i} is out of bounds for axis {axis} with size {size} (at "
                      f"{format_frame(user_frame())})")


GET_MODES = (None, "clip", "promise_in_bounds", "fill", "drop")


def getitem_mode(x, idx, mode=None, fill_value=None):
    """`x[idx]` with out-of-bounds indices clamped (`mode` None, "clip",
    "promise_in_bounds") or reading `fill_value` (`mode` "fill" or "drop")."""
    if mode not in GET_MODES:
        raise ValueError(f"x.at[...].get: mode must be one of {GET_MODES[1:]}, got {mode!r}")
    if mode in ("fill", "drop"):
        x = asarray(x)
        fill = dtypes.default_fill_value(dtype_of(x)) if fill_value is None else fill_value
        return _getitem(x, idx, fill=fill_scalar(fill, dtype_of(x)))
    return getitem(x, idx)


def fill_scalar(v, dtype, name="x.at[...].get"):
    """A fill value as a Python scalar of `dtype`'s kind (a parameter of the primitive)."""
    if isinstance(v, Tracer):
        raise TypeError(f"{name}: fill_value must be a concrete number, not a traced value")
    return np.asarray(v).astype(dtype).item()


# ------------------------------------------------------------------ the general path
def _getitem(x, idx, fill=None):
    if has_dslice(idx):
        x, idx = take_dslices(x, idx, fill)
    shape = shape_of(x)
    index = Index(shape, idx)
    kinds = index.kinds()
    if index.new_axes:
        x = lax.reshape(x, index.expanded_shape)
    if fill is not None and kinds & {"int", "scalar"}:
        # a read that fills goes through gather: integers become 0-d index arrays
        index.entries = [np.asarray(e) if entry_kind(e) == "int" else e
                         for e in index.entries]
        kinds = index.kinds() | {"array"}
    if "array" in kinds:
        from ._advanced import advanced_getitem
        return advanced_getitem(x, index.entries, index.breaks, fill)
    if "scalar" in kinds:
        return _dynamic_getitem(x, index.entries)
    return basic_getitem(x, index.entries)


def basic_getitem(x, entries):
    """Slices and static integers: slice (reversed where a step is negative) and reshape."""
    shape = shape_of(x)
    starts, limits, strides, flips, out_shape = [], [], [], [], []
    for axis, (e, d) in enumerate(zip(entries, shape)):
        if isinstance(e, slice):
            start, stop, step = e.indices(d)
            count = len(range(start, stop, step))
            if step < 0:
                flips.append(axis)
                start, step = d - 1 - start, -step
            if count == 0:
                start = 0
            starts.append(start)
            limits.append(start + (count - 1) * step + 1 if count else start)
            strides.append(step)
            out_shape.append(count)
        else:
            e = clamp_index(e, axis, d)
            starts.append(e)
            limits.append(e + 1)
            strides.append(1)
    out = lax.rev(x, flips) if flips else x
    out = lax.slice(out, starts, limits, strides)
    return lax.reshape(out, tuple(out_shape))


def _dynamic_getitem(x, entries):
    """Slices, static ints and traced integer scalars: slice statically, then take the
    traced positions with `dynamic_slice` (clamped into range)."""
    traced = [entry_kind(e) == "scalar" for e in entries]
    y = basic_getitem(x, [slice(None) if t else e for e, t in zip(entries, traced)])
    kept = [e for e, t in zip(entries, traced) if t or isinstance(e, slice)]
    kept_traced = [entry_kind(e) == "scalar" for e in kept]
    yshape = shape_of(y)
    starts = [e if t else 0 for e, t in zip(kept, kept_traced)]    # negatives wrap there
    sizes = [1 if t else d for t, d in zip(kept_traced, yshape)]
    y = lax.dynamic_slice(y, starts, sizes)
    return lax.reshape(y, tuple(d for d, t in zip(yshape, kept_traced) if not t))


# ------------------------------------------------------------------ ds(start, size, stride)
def _axes_taken(e):
    """How many axes of x index entry `e` consumes (None for an Ellipsis)."""
    if e is Ellipsis:
        return None
    if e is None or isinstance(e, (bool, np.bool_)):
        return 0
    if isinstance(e, list):
        e = np.asarray(e)
    if isinstance(e, (np.ndarray, Array, Tracer)) and dtype_of(e) == dtypes.bool_:
        return len(shape_of(e))
    return 1


def _dslice_axes(ndim, entries):
    """The axis of x each Slice entry indexes: {position in entries: axis}."""
    taken = [_axes_taken(e) for e in entries]
    rest = ndim - sum(n for n in taken if n is not None)
    axes, axis = {}, 0
    for i, (e, n) in enumerate(zip(entries, taken)):
        if type(e) is Slice:
            if axis >= ndim:
                raise IndexError(f"too many indices for array: array is {ndim}-dimensional")
            axes[i] = axis
        axis += rest if n is None else n
    return axes


def _check_dslice(s, d):
    if s.stride == 1 and s.size > d:
        raise IndexError(f"ds: a window of size {s.size} does not fit an axis of length {d}")


def dslice_shape(shape, idx):
    """`(shape, idx)` with each Slice of `idx` replaced by `:` over an axis of its size (for
    finding the shape of `x[idx]`)."""
    entries = list(idx) if type(idx) is tuple else [idx]
    shape = list(shape)
    for i, axis in _dslice_axes(len(shape), entries).items():
        _check_dslice(entries[i], shape[axis])
        shape[axis] = entries[i].size
        entries[i] = slice(None)
    return tuple(shape), tuple(entries)


def take_dslices(x, idx, fill=None):
    """`(y, idx')`: each Slice of `idx` taken from x along its axis and replaced by `:` in
    idx'. A unit-stride read moves the window into range (a negative start wrapping once
    unless the index holds arrays);
    a strided one clamps each position; with `fill`, a window that does not fit (strided: a
    position out of range) reads `fill` instead (as JAX)."""
    entries = list(idx) if type(idx) is tuple else [idx]
    # JAX wraps a negative start only where it reads by dynamic_slice: no fill, no arrays
    wrappable = fill is None and not any(
        isinstance(e, (np.ndarray, list, Array, Tracer)) and np.ndim(e) for e in entries)
    for i, axis in _dslice_axes(len(shape_of(x)), entries).items():
        s, d = entries[i], shape_of(x)[axis]
        _check_dslice(s, d)
        start, wrap = s.start, s.stride == 1 and wrappable
        if isinstance(start, (Array, Tracer)):
            start = lax.convert_element_type(start, dtypes.int64)
            if wrap:
                start = lax.select(lax.lt(start, 0), lax.add(start, np.int64(d)), start)
        else:
            start = np.int64(start + d if wrap and start < 0 else start)
        if s.stride == 1 and s.size == d:       # the whole axis, wherever it starts (as JAX)
            pass
        elif s.stride == 1 and fill is None:
            start = max(start, 0) if type(start) is np.int64 else lax.max(start, np.int64(0))
            x = lax.dynamic_slice_in_dim(x, start, s.size, axis, allow_negative_indices=False)
        else:
            steps = lax.mul(lax.iota(dtypes.int64, s.size, like=x), np.int64(s.stride))
            positions = lax.add(start, steps)
            if fill is not None and s.stride == 1:      # the whole window, or none of it
                fits = lax.bitwise_and(lax.ge(start, 0), lax.le(start, np.int64(d - s.size)))
                positions = lax.select(lax.broadcast_to(fits, (s.size,)), positions,
                                       lax.full((s.size,), -1, dtypes.int64, like=x))
            y = lax.gather_axes(x, positions, axes=(axis,), mode="clip" if fill is None
                                else "fill", fill_value=fill)
            x = lax.moveaxis(y, 0, axis) if axis else y
        entries[i] = slice(None)
    return x, tuple(entries)
