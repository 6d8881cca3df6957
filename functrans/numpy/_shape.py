"""Shape manipulation with NumPy's signatures, on the structural primitives."""
from __future__ import annotations

import math

import numpy as np

from .. import lax
from ..lax._util import shape_of, dtype_of
from ._conversion import asarray, promote
from ._reductions import normalize_axes


def shape(a):
    return tuple(shape_of(asarray(a)))


def ndim(a):
    return len(shape_of(asarray(a)))


def size(a, axis=None):
    s = shape_of(asarray(a))
    return math.prod(s) if axis is None else s[axis]


def _resolve_shape(newshape, total, old):
    if isinstance(newshape, (int, np.integer)):
        newshape = (int(newshape),)
    newshape = [int(d) for d in newshape]
    unknown = [i for i, d in enumerate(newshape) if d == -1]
    if len(unknown) > 1:
        raise ValueError(f"reshape: can only specify one unknown dimension, got {newshape}")
    if unknown:
        known = math.prod(d for d in newshape if d != -1)
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape an array of shape {old} ({total} elements) "
                             f"into {tuple(newshape)}")
        newshape[unknown[0]] = total // known
    return tuple(newshape)


def reshape(a, shape=None, order="C", *, newshape=None):
    """`a` with a new shape (one axis may be -1). Only C order is supported."""
    if order != "C":
        raise NotImplementedError("reshape: only order='C' is supported")
    shape = newshape if shape is None else shape
    a = asarray(a)
    s = shape_of(a)
    return lax.reshape(a, _resolve_shape(shape, math.prod(s), s))


def ravel(a, order="C"):
    a = asarray(a)
    return lax.reshape(a, (math.prod(shape_of(a)),))


def transpose(a, axes=None):
    a = asarray(a)
    n = len(shape_of(a))
    axes = tuple(reversed(range(n))) if axes is None else tuple(int(x) % n for x in axes)
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
    i, j = axis1 % n, axis2 % n
    perm[i], perm[j] = perm[j], perm[i]
    return lax.transpose(a, perm)


def moveaxis(a, source, destination):
    a = asarray(a)
    n = len(shape_of(a))
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    src = [s % n for s in src]
    dst = [d % n for d in dst]
    order = [i for i in range(n) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return lax.transpose(a, order)


def expand_dims(a, axis):
    a = asarray(a)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
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
    from ..lax._util import broadcast_shapes as b
    return b(*[tuple(s) for s in shapes], opname="broadcast_shapes")


def broadcast_to(array, shape):
    a = asarray(array)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    broadcast_shapes(shape_of(a), shape)
    return lax.broadcast_to(a, shape)


def broadcast_arrays(*args):
    arrays = [asarray(a) for a in args]
    s = broadcast_shapes(*[shape_of(a) for a in arrays])
    return [lax.broadcast_to(a, s) for a in arrays]


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


def stack(arrays, axis=0, dtype=None):
    """Join arrays along a new axis."""
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
        cols.append(reshape(a, (-1, 1)) if len(shape_of(a)) == 1 else a)
    return concatenate(cols, axis=1)


def flip(m, axis=None):
    m = asarray(m)
    return lax.rev(m, normalize_axes(axis, len(shape_of(m))))


def fliplr(m):
    return flip(m, 1)


def flipud(m):
    return flip(m, 0)


def astype(x, dtype, copy=False):
    from .. import dtypes
    return lax.convert_element_type(asarray(x), dtypes.canonicalize(dtype))
