"""Collectives over named axes: `psum`, `pmean`, `pmax`, `pmin`, `all_gather`, `psum_scatter`
and `axis_index`.

Inside `ft.vmap(f, axis_name="i")` each example ("lane") runs `f`; a collective over "i"
combines the lanes' values. They are primitives with every rule, so they compose with grad,
jit and nested vmaps, and a data-parallel transform over processes can reuse them:

- batching reduces (or gathers) over the vmap's batch axis; a value that is the same in every
  lane (not batched there) is handled too (`psum` of it is `size * x`);
- forward mode is the collective of the tangents (they are linear, pmax/pmin pick the lane
  holding the extremum);
- reverse mode transposes the whole-batch linear map, as JAX's vmap does: `psum` transposes to
  `psum`, `all_gather` to `psum_scatter` and back. So `vmap(grad(f))` with a collective in `f`
  gives, in lane i, the derivative of the sum over lanes of `f`'s output with respect to lane
  i's input.

A tuple of names reduces over all of them (gathers in the order given, major first).
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..array import wrap
from ..backends import create, default_device_now
from ..core import ShapedArray, Tracer, AxisPrimitive, axis_size
from ..interpreters.batching import needs_axis
from ..primitives._util import (def_linear, def_nondiff, shape_of, dtype_of, canonical_axis,
                                moveaxis_to_front)
from ..primitives.conversion import asarray
from ..primitives.elementwise import mul, div, eq, convert_element_type
from ..primitives.reductions import reduce_sum, reduce_max, reduce_min
from ..primitives.shape_ops import moveaxis, reshape, broadcast_in_dim, full_like
from ..tree_util import tree_map

__all__ = ["psum", "pmean", "pmax", "pmin", "all_gather", "psum_scatter", "axis_index"]


def _names(axis_name, what):
    names = axis_name if isinstance(axis_name, tuple) else (axis_name,)
    for n in names:
        if n is None or isinstance(n, (int, list)):
            raise TypeError(f"{what}: axis_name must be a name given to ft.vmap(..., "
                            f"axis_name=...) or a tuple of such names, got {axis_name!r}")
    return names


def _tree_apply(fn, x):
    return tree_map(lambda leaf: fn(leaf if isinstance(leaf, Tracer) else asarray(leaf)), x)


def _collective(name, impl, abstract_eval):
    p = AxisPrimitive(name)
    p.impl = impl
    p.abstract_eval = abstract_eval
    return p


def _same_aval(x, **_):
    return x.strip_weak()


def _check_size(prim, frame, expected):
    if frame.size != expected:
        raise ValueError(
            f"{prim}: traced for an axis of size {expected} but run under a vmap of size "
            f"{frame.size}; trace the function again for this size")


# =================================================================== psum
psum_p = _collective("psum", lambda xp, x, axis_name: x * axis_size(axis_name), _same_aval)
def_linear(psum_p, lambda ct, aval, axis_name: psum_p.bind(ct, axis_name=axis_name))


@needs_axis
def _psum_batch(frame, vals, dims, axis_name):
    (x,), (d,) = vals, dims
    if frame.name != axis_name:
        return psum_p.bind(x, axis_name=axis_name), d
    if d is None:
        return mul(x, frame.size), None
    return reduce_sum(x, (d,)), None


psum_p.batch = _psum_batch


def _over_names(prim, x, axis_name, what):
    """`prim` over each named axis in turn, leaf by leaf."""
    names = _names(axis_name, what)

    def one(leaf):
        for n in names:
            leaf = prim.bind(leaf, axis_name=n)
        return leaf
    return _tree_apply(one, x)


def psum(x, axis_name):
    """Sum of `x` over the lanes of the named vmap axis (or tuple of names); every lane gets
    the total. Works on pytrees (booleans are summed as int32)."""
    x = _tree_apply(lambda leaf: convert_element_type(leaf, np.int32)
                    if dtype_of(leaf) == np.bool_ else leaf, x)
    return _over_names(psum_p, x, axis_name, "psum")


def pmean(x, axis_name):
    """Mean of `x` over the lanes of the named axis (or axes). Works on pytrees."""
    names = _names(axis_name, "pmean")

    def one(leaf):
        if not dtypes.is_inexact(dtype_of(leaf)):
            leaf = convert_element_type(leaf, dtypes.default_float_dtype())
        total, count = leaf, full_like(leaf, 1, shape=())
        for n in names:
            total = psum_p.bind(total, axis_name=n)
            count = psum_p.bind(count, axis_name=n)
        return div(total, count)
    return _tree_apply(one, x)


# =================================================================== pmax / pmin
def _extremum(name, reduce):
    prim = _collective(name, lambda xp, x, axis_name: x, _same_aval)

    @needs_axis
    def batch(frame, vals, dims, axis_name):
        (x,), (d,) = vals, dims
        if frame.name != axis_name:
            return prim.bind(x, axis_name=axis_name), d
        return (x if d is None else reduce(x, (d,))), None

    def weights(x, ans, axis_name):
        # the lanes holding the extremum share its derivative equally
        hit = convert_element_type(eq(x, ans), dtype_of(x))
        return div(hit, psum_p.bind(hit, axis_name=axis_name))

    def jvp(primals, tangents, axis_name):
        x, = primals
        t, = tangents
        ans = prim.bind(x, axis_name=axis_name)
        if t is None:
            return ans, None
        return ans, psum_p.bind(mul(t, weights(x, ans, axis_name)), axis_name=axis_name)

    def vjp(primals, needs, axis_name):
        x, = primals
        ans = prim.bind(x, axis_name=axis_name)
        return ans, lambda ct: (mul(weights(x, ans, axis_name),
                                    psum_p.bind(ct, axis_name=axis_name)),)
    prim.batch, prim.jvp, prim.vjp = batch, jvp, vjp
    return prim


pmax_p = _extremum("pmax", reduce_max)
pmin_p = _extremum("pmin", reduce_min)


def pmax(x, axis_name):
    """Maximum of `x` over the lanes of the named axis (or axes). Works on pytrees."""
    return _over_names(pmax_p, x, axis_name, "pmax")


def pmin(x, axis_name):
    """Minimum of `x` over the lanes of the named axis (or axes). Works on pytrees."""
    return _over_names(pmin_p, x, axis_name, "pmin")


# =================================================================== all_gather / psum_scatter
def _gathered_shape(shape, axis, size, tiled):
    shape = list(shape)
    if tiled:
        shape[axis] *= size
    else:
        shape.insert(axis, size)
    return tuple(shape)


def _all_gather_impl(xp, x, axis_name, axis, axis_size, tiled):
    stacked = xp.stack([x] * axis_size, axis)
    return stacked.reshape(_gathered_shape(x.shape, axis, axis_size, tiled))


def _all_gather_aval(x, axis_name, axis, axis_size, tiled):
    return ShapedArray(_gathered_shape(x.shape, axis, axis_size, tiled), x.dtype)


all_gather_p = _collective("all_gather", _all_gather_impl, _all_gather_aval)


@needs_axis
def _all_gather_batch(frame, vals, dims, axis_name, **params):
    (x,), (d,) = vals, dims
    if frame.name != axis_name:
        inner = dict(params, axis=params["axis"] + 1)
        return all_gather_p.bind(moveaxis_to_front(x, d), axis_name=axis_name, **inner), 0
    _check_size("all_gather", frame, params["axis_size"])
    at, size = params["axis"], frame.size
    if d is None:
        s = shape_of(x)
        out = broadcast_in_dim(x, s[:at] + (size,) + s[at:],
                               tuple(i for i in range(len(s) + 1) if i != at))
    else:
        out = moveaxis(x, d, at)
    if params["tiled"]:
        s = shape_of(out)
        out = reshape(out, s[:at] + (s[at] * s[at + 1],) + s[at + 2:])
    return out, None


def _all_gather_transpose(ct, aval, axis_name, axis, axis_size, tiled):
    return psum_scatter_p.bind(ct, axis_name=axis_name, scatter_dimension=axis,
                               axis_size=axis_size, tiled=tiled)


all_gather_p.batch = _all_gather_batch
def_linear(all_gather_p, _all_gather_transpose)


def all_gather(x, axis_name, *, axis=0, tiled=False):
    """Every lane gets the lanes' values of `x` stacked along a new axis `axis` (or, with
    `tiled=True`, concatenated along the existing axis `axis`). Works on pytrees."""
    names = _names(axis_name, "all_gather")

    def one(leaf):
        nd = len(shape_of(leaf))
        at = canonical_axis(axis, nd if tiled else nd + 1, "all_gather axis")
        for n in reversed(names):
            leaf = all_gather_p.bind(leaf, axis_name=n, axis=at, axis_size=axis_size(n),
                                     tiled=tiled)
        if not tiled and len(names) > 1:
            s = shape_of(leaf)
            k = len(names)
            leaf = reshape(leaf, s[:at] + (math.prod(s[at:at + k]),) + s[at + k:])
        return leaf
    return _tree_apply(one, x)


def _psum_scatter_impl(xp, x, axis_name, **_):
    raise NameError(f"psum_scatter over {axis_name!r} gives each lane a different value, so it "
                    "cannot run outside the vmap of that axis (for example in a jitted "
                    "function whose inputs are not batched there)")


def _scattered_shape(shape, axis_name, at, axis_size, tiled):
    shape = list(shape)
    fits = shape[at] % axis_size == 0 if tiled else shape[at] == axis_size
    if not fits:
        raise ValueError(f"psum_scatter: axis {at} of shape {tuple(shape)} must be "
                         f"{'a multiple of' if tiled else 'equal to'} the size {axis_size} of "
                         f"the axis {axis_name!r}")
    if tiled:
        shape[at] //= axis_size
    else:
        del shape[at]
    return tuple(shape)


def _psum_scatter_aval(x, axis_name, scatter_dimension, axis_size, tiled):
    return ShapedArray(_scattered_shape(x.shape, axis_name, scatter_dimension, axis_size, tiled),
                       x.dtype)


psum_scatter_p = _collective("psum_scatter", _psum_scatter_impl, _psum_scatter_aval)


@needs_axis
def _psum_scatter_batch(frame, vals, dims, axis_name, scatter_dimension, axis_size, tiled):
    (x,), (d,) = vals, dims
    if frame.name != axis_name:
        return psum_scatter_p.bind(moveaxis_to_front(x, d), axis_name=axis_name,
                                   scatter_dimension=scatter_dimension + 1,
                                   axis_size=axis_size, tiled=tiled), 0
    _check_size("psum_scatter", frame, axis_size)
    total = mul(x, frame.size) if d is None else reduce_sum(x, (d,))
    at = scatter_dimension
    if tiled:
        s = shape_of(total)
        total = reshape(total, s[:at] + (frame.size, s[at] // frame.size) + s[at + 1:])
    return total, at


def _psum_scatter_transpose(ct, aval, axis_name, scatter_dimension, axis_size, tiled):
    return all_gather_p.bind(ct, axis_name=axis_name, axis=scatter_dimension,
                             axis_size=axis_size, tiled=tiled)


psum_scatter_p.batch = _psum_scatter_batch
def_linear(psum_scatter_p, _psum_scatter_transpose)


def psum_scatter(x, axis_name, *, scatter_dimension=0, tiled=False):
    """The sum of `x` over the lanes, split along `scatter_dimension`: lane i gets block i
    (that axis must have the axis size, or with `tiled=True` a multiple of it). The transpose
    of `all_gather`. Works on pytrees."""
    names = _names(axis_name, "psum_scatter")

    def one(leaf):
        at = canonical_axis(scatter_dimension, len(shape_of(leaf)), "scatter_dimension")
        sizes = tuple(axis_size(n) for n in names)
        if not tiled and len(names) > 1:
            s = shape_of(leaf)
            if s[at] != math.prod(sizes):
                raise ValueError(f"psum_scatter: axis {at} of shape {s} must have size "
                                 f"{math.prod(sizes)}, the product of the sizes of {names}")
            leaf = reshape(leaf, s[:at] + sizes + s[at + 1:])
        for n, size in zip(names, sizes):
            _scattered_shape(shape_of(leaf), n, at, size, tiled)
            leaf = psum_scatter_p.bind(leaf, axis_name=n, scatter_dimension=at,
                                       axis_size=size, tiled=tiled)
        return leaf
    return _tree_apply(one, x)


# =================================================================== axis_index
def _axis_index_impl(xp, axis_name):
    raise NameError(f"axis_index({axis_name!r}) differs in each lane, so it cannot run outside "
                    "the vmap of that axis (for example in a jitted function whose inputs are "
                    "not batched there)")


axis_index_p = _collective("axis_index", _axis_index_impl,
                           lambda axis_name: ShapedArray((), np.int32))
def_nondiff(axis_index_p)


@needs_axis
def _axis_index_batch(frame, vals, dims, axis_name):
    return wrap(create(default_device_now(), "arange", frame.size, dtype=np.int32)), 0


axis_index_p.batch = _axis_index_batch


def axis_index(axis_name):
    """This lane's position (int32) along the named vmap axis."""
    name, = _names(axis_name, "axis_index")
    return axis_index_p.bind(axis_name=name)
