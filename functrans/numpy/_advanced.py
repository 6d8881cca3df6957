"""Advanced (integer-array) indexing on the `gather` primitive, with NumPy's placement rule:
the index arrays (and any integers beside them) broadcast to one shape B; when they are next
to each other in the index (not separated by a slice, None or Ellipsis), B replaces their
axes in place, otherwise B comes first."""
from __future__ import annotations

import numpy as np

from .. import lax
from ..core import Tracer
from ..primitives._util import shape_of, broadcast_shapes
from ..primitives.indexing import wrap_negative
from ._indexing import basic_getitem, out_of_bounds


def advanced_index_arrays(entries, shape, fill=None):
    """The integer-array (and integer) entries as index arrays of one broadcast shape, each
    wrapped to non-negative values: `(axes, arrays, mode)`. Out-of-bounds indices clamp, or
    with a `fill` value read that; the gather checks nothing where concrete indices are all
    in bounds."""
    axes = [i for i, e in enumerate(entries) if not isinstance(e, slice)]
    arrays = [entries[a] for a in axes]
    try:
        batch = broadcast_shapes(*[shape_of(a) for a in arrays], opname="indexing")
    except ValueError:
        shown = " ".join(str(tuple(shape_of(a))) for a in arrays)
        raise IndexError(f"shape mismatch: indexing arrays could not be broadcast together "
                         f"with shapes {shown}") from None
    out, checked = [], True
    for a, i in zip(axes, arrays):
        d = shape[a]
        if isinstance(i, Tracer):
            checked = False
            i = lax.broadcast_to(wrap_negative(i, d), batch)
        else:
            i = np.asarray(i)
            if i.size and d == 0:
                raise out_of_bounds(int(i.flat[0]), a, d)
            i = np.broadcast_to(np.where(i < 0, i + d, i), batch)
            if i.size and (i.max() >= d or i.min() < 0):
                checked = False
        out.append(i)
    mode = "promise_in_bounds" if checked else "clip" if fill is None else "fill"
    return axes, out, mode


def advanced_getitem(x, entries, breaks=(), fill=None):
    """`x[entries]` where some entries are integer arrays (x already has its None axes;
    `breaks` are entry positions an empty Ellipsis separates); out-of-bounds indices clamp,
    or read `fill`."""
    shape = shape_of(x)
    sliced = basic_getitem(x, [e if isinstance(e, slice) else slice(None) for e in entries])
    axes, arrays, mode = advanced_index_arrays(entries, shape_of(sliced), fill)
    out = lax.gather_axes(sliced, *arrays, axes=axes, mode=mode,
                          fill_value=fill if mode == "fill" else None)
    first, last = axes[0], axes[-1]
    adjacent = axes == list(range(first, last + 1)) and \
        not any(first < b <= last for b in breaks)
    if adjacent and first > 0:
        nb = len(shape_of(arrays[0]))
        rest = len(shape) - len(axes)
        perm = [nb + j for j in range(first)] + list(range(nb)) + \
            [nb + j for j in range(first, rest)]
        out = lax.transpose(out, perm)
    return out
