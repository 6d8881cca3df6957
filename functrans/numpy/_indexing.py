"""Indexing: `x[idx]` with NumPy semantics.

Basic indexing (integers, slices, None, Ellipsis) lowers to the `slice`, `rev` and `reshape`
primitives, so it costs no copy and every transform already knows it.
"""
from __future__ import annotations

import numpy as np

from .. import lax
from ..array import Array
from ..core import Tracer, is_concrete, concrete_value
from ..lax._util import shape_of
from ._conversion import asarray


def _is_basic(entry):
    return entry is None or entry is Ellipsis or isinstance(entry, (slice, int, np.integer)) \
        and not isinstance(entry, bool)


def _static_int(entry):
    """An index entry that is a concrete 0-d integer array, as a Python int (else None)."""
    if isinstance(entry, (Array, Tracer)) and len(shape_of(entry)) == 0 and is_concrete(entry):
        v = np.asarray(concrete_value(entry))
        if v.dtype.kind in "iu":
            return int(v)
    return None


def normalize_index(idx, ndim):
    """The index as a tuple with Ellipsis expanded (None entries kept)."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    idx = tuple(_static_int(e) if _static_int(e) is not None else e for e in idx)
    n_ell = sum(1 for e in idx if e is Ellipsis)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(1 for e in idx if e is not None and e is not Ellipsis)
    if used > ndim:
        raise IndexError(f"too many indices for array: array is {ndim}-dimensional, but "
                         f"{used} were indexed")
    if n_ell:
        i = idx.index(Ellipsis)
        idx = idx[:i] + (slice(None),) * (ndim - used) + idx[i + 1:]
    else:
        idx = idx + (slice(None),) * (ndim - used)
    return idx


def getitem(x, idx):
    x = asarray(x)
    shape = shape_of(x)
    idx = normalize_index(idx, len(shape))
    if all(_is_basic(e) for e in idx):
        return _basic_getitem(x, idx, shape)
    from ._advanced import advanced_getitem
    return advanced_getitem(x, idx)


def _basic_getitem(x, idx, shape):
    starts, limits, strides, flips = [], [], [], []
    out_shape = []
    axis = 0
    for e in idx:
        if e is None:
            out_shape.append(1)
            continue
        d = shape[axis]
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
            i = int(e)
            if not -d <= i < d:
                raise IndexError(f"index {i} is out of bounds for axis {axis} with size {d}")
            i %= d
            starts.append(i)
            limits.append(i + 1)
            strides.append(1)
        axis += 1
    out = lax.rev(x, flips) if flips else x
    out = lax.slice(out, starts, limits, strides)
    return lax.reshape(out, tuple(out_shape))
