"""`x.at[idx].set(v)` and friends: functional index updates, returning a new array.

    x.at[idx].set(v)       x[idx] = v          (duplicate indices: one of the values wins;
                                                on NumPy the last, on GPU unspecified)
    x.at[idx].add(v)       x[idx] += v         (duplicate indices accumulate)
    x.at[idx].subtract(v)  x[idx] -= v
    x.at[idx].multiply(v)  x[idx] *= v         (duplicates multiply together)
    x.at[idx].divide(v)    x[idx] /= v
    x.at[idx].power(v)     x[idx] **= v
    x.at[idx].min(v)       x[idx] = minimum(x[idx], v)   (duplicates combine)
    x.at[idx].max(v)       x[idx] = maximum(x[idx], v)
    x.at[idx].apply(f)     x[idx] = f(x[idx])
    x.at[idx].get()        x[idx]

`v` broadcasts to the shape of `x[idx]` and is converted to x's dtype. Out-of-bounds integer
indices follow JAX's rule, eagerly and under every transform alike: after negative values
wrap once, an update there is dropped (`mode=None`, "drop", "fill" or "promise_in_bounds")
or lands at the clamped index (`mode="clip"`); `get` clamps (or reads `fill_value` with
`mode="fill"`). An out-of-bounds update never lands in an in-bounds element.

Windows of unit-stride slices and (possibly traced) integers update through
`dynamic_update_slice`; any other index (arrays, masks, strides) through the scatter
primitives, at positions computed by indexing coordinate arrays with the same index.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes, lax
from ..array import Array, wrap
from ..backends import HOST_TYPES, create
from ..core import Tracer, device_like
from ..primitives._util import shape_of, dtype_of
from ..primitives.indexing import wrap_negative
from ._conversion import asarray
from ._dslice import has_dslice, unwrapped
from ._indexing import getitem, getitem_mode, Index, entry_kind, raw_index

_SCATTER = {"set": lax.scatter_axes, "add": lax.scatter_add_axes,
            "multiply": lax.scatter_mul_axes, "min": lax.scatter_min_axes,
            "max": lax.scatter_max_axes}
_UFUNC_AT = {"add": np.add, "multiply": np.multiply, "min": np.minimum, "max": np.maximum}
_COMBINE = {"add": lax.add, "multiply": lax.mul, "min": lax.min, "max": lax.max}


class IndexUpdateHelper:
    """`x.at`: index it (`x.at[idx]`) to get the update methods."""
    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __getitem__(self, idx):
        return IndexUpdateRef(self.array, idx)

    def __repr__(self):
        return f"_IndexUpdateHelper({self.array!r})"


class IndexUpdateRef:
    """`x.at[idx]`: call `.set`, `.add`, `.subtract`, `.multiply`, `.divide`, `.power`,
    `.min`, `.max`, `.apply` or `.get` on it. Each takes `mode=` (what out-of-bounds indices
    do, see the module docstring) and JAX's hints `indices_are_sorted` / `unique_indices`
    (accepted, not needed)."""
    __slots__ = ("array", "index")

    def __init__(self, array, index):
        self.array, self.index = array, index

    def get(self, *, indices_are_sorted=False, unique_indices=False, mode=None,
            fill_value=None):
        """`x[idx]`; out-of-bounds indices clamp, or read `fill_value` with `mode="fill"`
        (default NaN for inexact dtypes, the extreme value for integers)."""
        return getitem_mode(self.array, self.index, mode, fill_value)

    def set(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """A copy of x with `x[idx] = values`."""
        return _update(self.array, self.index, values, "set", mode)

    def add(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """A copy of x with `x[idx] += values` (duplicate indices accumulate)."""
        return _update(self.array, self.index, values, "add", mode)

    def subtract(self, values, *, indices_are_sorted=False, unique_indices=False,
                 mode=None):
        """A copy of x with `x[idx] -= values` (duplicate indices accumulate)."""
        from ._math import negative
        return _update(self.array, self.index, negative(values), "add", mode)

    def multiply(self, values, *, indices_are_sorted=False, unique_indices=False,
                 mode=None):
        """A copy of x with `x[idx] *= values` (duplicate indices multiply together)."""
        return _update(self.array, self.index, values, "multiply", mode)

    mul = multiply

    def min(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """A copy of x with `x[idx] = minimum(x[idx], values)`."""
        return _update(self.array, self.index, values, "min", mode)

    def max(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """A copy of x with `x[idx] = maximum(x[idx], values)`."""
        return _update(self.array, self.index, values, "max", mode)

    def divide(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """A copy of x with `x[idx] /= values` (x must be floating-point)."""
        from ._math import true_divide
        return self._apply(lambda cur: true_divide(cur, values), "divide", mode)

    def power(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """A copy of x with `x[idx] **= values`."""
        from ._math import power
        return self._apply(lambda cur: power(cur, values), "power", mode)

    def apply(self, func, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """A copy of x with `x[idx] = func(x[idx])` (func elementwise)."""
        return self._apply(func, "apply", mode)

    def _apply(self, func, name, mode):
        x = asarray(self.array)
        if name == "divide" and not dtypes.is_inexact(dtype_of(x)):
            raise TypeError(f"x.at[...].divide: x has dtype {dtype_of(x)}; in-place true "
                            "division needs a floating-point array (convert with .astype)")
        current = getitem_mode(x, self.index, "clip" if mode == "clip" else None)
        return _update(x, self.index, func(current), "set", mode)

    def __repr__(self):
        return f"_IndexUpdateRef({self.array!r}, {self.index!r})"


UPDATE_MODES = (None, "drop", "fill", "promise_in_bounds", "clip")


def _update(x, idx, values, kind, mode=None):
    if mode not in UPDATE_MODES:
        raise ValueError(f"x.at[...]: mode must be one of {UPDATE_MODES[1:]}, got {mode!r}")
    clip = mode == "clip"
    if not clip and type(x) is Array and type(x._value) is np.ndarray \
            and not isinstance(values, Tracer) \
            and (type(values) is not Array or type(values._value) in HOST_TYPES):
        raw = raw_index(idx)
        if raw is not None:
            try:
                return _numpy_update(x._value, raw, values, kind)
            except IndexError:
                pass            # out of bounds: the general path drops those updates
    return _traced_update(asarray(x), idx, values, kind, clip)


def _numpy_update(x, raw, values, kind):
    v = np.asarray(values._value if type(values) is Array else values).astype(x.dtype,
                                                                                copy=False)
    out = x.copy()
    if kind == "set":
        out[raw] = v
    else:
        _UFUNC_AT[kind].at(out, raw, v)
    return wrap(out)


def _traced_update(x, idx, values, kind, clip=False):
    shape = shape_of(x)
    v = values if isinstance(values, (Array, Tracer)) else asarray(values, device=device_like(x))
    v = lax.convert_element_type(v, dtype_of(x))
    window = None if has_dslice(idx) else _window(Index(shape, idx), shape, clip)
    if window is _DROPPED:
        return x
    if window is not None:
        starts, sizes, target_shape, in_bounds = window
        v = lax.reshape(_fit(v, target_shape), sizes)
        current = lax.dynamic_slice(x, starts, sizes) \
            if kind != "set" or in_bounds is not None else None
        if kind != "set":
            v = _COMBINE[kind](current, v)
        if in_bounds is not None:      # out of bounds: write back what is there
            v = lax.select(lax.broadcast_to(in_bounds, sizes), v, current)
        return lax.dynamic_update_slice(x, v, starts)
    if clip:
        idx = unwrapped(idx)
        positions = [getitem(_coordinates(x, axis), idx) for axis in range(len(shape))]
        mode = "promise_in_bounds"
    else:       # out-of-bounds elements get position -1, which the scatter drops
        positions = [getitem_mode(_coordinates(x, axis), idx, "fill", -1)
                     for axis in range(len(shape))]
        mode = "drop"
    v = _fit(v, shape_of(positions[0]))
    return _SCATTER[kind](x, v, *positions, axes=tuple(range(len(shape))), mode=mode)


def _fit(v, shape):
    """`v` broadcast to `shape` (leading axes of size 1 beyond its rank dropped, as NumPy
    assignment allows)."""
    s = shape_of(v)
    while len(s) > len(shape) and s[0] == 1:
        s = s[1:]
    if s != shape_of(v):
        v = lax.reshape(v, s)
    from ._shape import broadcast_to
    return broadcast_to(v, shape)


_DROPPED = object()


def _window(index, shape, clip):
    """`(starts, sizes, shape of x[idx], in_bounds)` when the index picks a window of
    unit-stride slices and integers (static or traced) of x, else None; `in_bounds` is a
    traced boolean when traced integers may fall outside (None: they cannot, or they clamp).
    `_DROPPED` when a static integer is out of bounds and the update is dropped."""
    if index.kinds() - {"slice", "int", "scalar"}:
        return None
    starts, sizes, target = [], [], []
    in_bounds = None
    axis = 0
    for i, e in enumerate(index.entries):
        if i in index.new_axes:
            target.append(1)
            continue
        d = shape[axis]
        k = entry_kind(e)
        if k == "slice":
            start, stop, step = e.indices(d)
            count = len(range(start, stop, step))
            if step != 1 and count > 1:
                return None
            starts.append(start if count else 0)
            sizes.append(count)
            target.append(count)
        elif k == "int":
            if not -d <= e < d:
                if not clip or d == 0:
                    return _DROPPED
                e = min(max(e + d if e < 0 else e, 0), d - 1)
            starts.append(e % d)
            sizes.append(1)
        else:
            s = wrap_negative(e, d)
            starts.append(lax.max(s, 0) if clip else s)     # dynamic_slice would wrap again
            sizes.append(1)
            if not clip:
                ok = lax.bitwise_and(lax.ge(s, 0), lax.lt(s, d))
                in_bounds = ok if in_bounds is None else lax.bitwise_and(in_bounds, ok)
        axis += 1
    return starts, sizes, tuple(target), in_bounds


def _coordinates(x, axis):
    """An array of x's shape holding each element's coordinate along `axis` (a broadcast
    view: it costs no memory), on x's device."""
    shape = shape_of(x)
    device = device_like(x)
    n = shape[axis]
    line = create(device, "arange", n).reshape((1,) * axis + (n,) + (1,) * (len(shape) - axis - 1))
    return wrap(device.xp.broadcast_to(line, shape))
