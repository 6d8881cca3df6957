"""Collectives over named axes: `psum`, `pmean`, `pmax`, `pmin`, `all_gather`, `psum_scatter`,
`ppermute` (and `pshuffle`, `pbroadcast` on top), `all_to_all` (and `pswapaxes`) and
`axis_index`.

Inside `ft.vmap(f, axis_name="i")` each example ("lane") runs `f`; a collective over "i"
combines the lanes' values. They are primitives with every rule, so they compose with grad,
jit and nested vmaps. `ft.pmap` maps each device's lanes with a vmap whose axis *spans* ranks
(`interpreters.batching.Span`): there the batching rules combine their own lanes first and
then call the cross-rank collectives (`cross_rank`: MPI between processes, NCCL between GPUs),
so the axis covers every device of every process:

- batching reduces (or gathers) over the vmap's batch axis; a value that is the same in every
  lane (not batched there) is handled too (`psum` of it is `size * x`);
- forward mode is the collective of the tangents (they are linear, pmax/pmin pick the lane
  holding the extremum);
- reverse mode transposes the whole-batch linear map, as JAX's vmap does: `psum` transposes to
  `psum`, `all_gather` to `psum_scatter` and back, `ppermute` to the inverse permutation,
  `all_to_all` to `all_to_all` with its split and concatenated axes swapped. So
  `vmap(grad(f))` with a collective in `f` gives, in lane i, the derivative of the sum over
  lanes of `f`'s output with respect to lane i's input.

A tuple of names reduces over all of them (gathers in the order given, major first). `psum`
and `pmean` take a whole pytree in one primitive, so that across ranks its leaves travel
together (one buffer per dtype).
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..array import wrap
from ..backends import create, default_device_now
from ..core import (ShapedArray, Tracer, AxisPrimitive, axis_size, axis_frame,
                    unbound_axis_error, is_python_scalar)
from ..interpreters.batching import needs_axis
from ..primitives._util import (def_linear, def_nondiff, shape_of, dtype_of, canonical_axis,
                                moveaxis_to_front, broadcast_batched)
from ..primitives.conversion import asarray
from ..primitives.elementwise import add, mul, div, eq, select, convert_element_type
from ..primitives.reductions import reduce_sum, reduce_max, reduce_min
from ..primitives.shape_ops import (moveaxis, reshape, broadcast_in_dim, full_like,
                                    concatenate, slice_in_dim, squeeze, zeros_or)
from ..tree_util import tree_map, tree_flatten, tree_unflatten
from . import cross_rank

__all__ = ["psum", "pmean", "pmax", "pmin", "all_gather", "psum_scatter", "ppermute",
           "pshuffle", "pbroadcast", "all_to_all", "pswapaxes", "axis_index"]


def _names(axis_name, what):
    names = axis_name if isinstance(axis_name, tuple) else (axis_name,)
    for n in names:
        if n is None or isinstance(n, (int, list)):
            raise TypeError(f"{what}: axis_name must be a name given to ft.vmap(..., "
                            f"axis_name=...) or ft.pmap(..., axis_name=...), or a tuple of "
                            f"such names, got {axis_name!r}")
    return names


def _one_name(axis_name, what):
    names = _names(axis_name, what)
    if len(names) != 1:
        raise NotImplementedError(
            f"{what}: axis_name must be one axis name here, got {axis_name!r}; apply it over "
            "each named axis in turn")
    return names[0]


def _size(name, what):
    """The size of the named axis; an error naming the collective `what` if none is bound."""
    frame = axis_frame(name)
    if frame is None:
        raise unbound_axis_error(name, what)
    return frame.size


def _over_lanes(reduce, x, d, size):
    """`reduce` over the lanes axis `d` of `x` (one lane, as each device's under pmap: just
    that lane, a view)."""
    return squeeze(x, (d,)) if size == 1 else reduce(x, (d,))


def _lanes_first(x, d, size):
    """`x` with its lanes on axis 0 (moved from `d`, or broadcast when it has none)."""
    return moveaxis_to_front(x, d) if d is not None else broadcast_batched(x, None, size, 0)


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
    if frame.global_size != expected:
        raise ValueError(
            f"{prim}: traced for an axis of size {expected} but run under a vmap of size "
            f"{frame.global_size}; trace the function again for this size")


# =================================================================== psum
psum_p = AxisPrimitive("psum", multiple_results=True)
psum_p.impl = lambda xp, *xs, axis_name: [x * axis_size(axis_name) for x in xs]
psum_p.abstract_eval = lambda *avals, axis_name: [a.strip_weak() for a in avals]
psum_p.jvp = lambda primals, tangents, axis_name: (
    psum_p.bind(*primals, axis_name=axis_name),
    cross_rank.bind_nonzero(psum_p, tangents, axis_name=axis_name))
psum_p.vjp = lambda primals, needs, axis_name: (
    psum_p.bind(*primals, axis_name=axis_name),
    lambda cts: cross_rank.bind_nonzero(psum_p, cts, axis_name=axis_name))


@needs_axis
def _psum_batch(frame, vals, dims, axis_name):
    if frame.name != axis_name:
        return psum_p.bind(*vals, axis_name=axis_name), list(dims)
    local = [mul(x, frame.size) if d is None else _over_lanes(reduce_sum, x, d, frame.size)
             for x, d in zip(vals, dims)]
    if frame.span is not None:
        local = cross_rank.allreduce(local, "sum", frame.span, axis_name)
    return local, [None] * len(vals)


psum_p.batch = _psum_batch


def _over_names(prim, x, axis_name, what):
    """`prim` over each named axis in turn, leaf by leaf."""
    names = _names(axis_name, what)

    def one(leaf):
        for n in names:
            leaf = prim.bind(leaf, axis_name=n)
        return leaf
    return _tree_apply(one, x)


def _total(names):
    size = 1
    for n in names:
        size *= axis_size(n)
    return size


def _psum_leaves(leaves, names):
    """psum of all `leaves` at once over each name; Python scalars, the same everywhere, are
    multiplied by the axes' size without communicating."""
    arrays = [i for i, leaf in enumerate(leaves) if not is_python_scalar(leaf)]
    out = [mul(asarray(leaf), _total(names)) if is_python_scalar(leaf) else None
           for leaf in leaves]
    got = [leaves[i] if isinstance(leaves[i], Tracer) else asarray(leaves[i]) for i in arrays]
    for n in names:
        if got:
            got = psum_p.bind(*got, axis_name=n)
    for i, g in zip(arrays, got):
        out[i] = g
    return out


def psum(x, axis_name, *, axis_index_groups=None):
    """Sum of `x` over the lanes of the named vmap or pmap axis (or tuple of names); every
    lane gets the total. Works on pytrees, whose leaves travel together (booleans are summed
    as int32). `axis_index_groups` must be None (as under JAX's vmap)."""
    _no_groups(axis_index_groups, "psum")
    names = _names(axis_name, "psum")
    leaves, tree = tree_flatten(x)
    leaves = [convert_element_type(leaf, np.int32) if dtype_of(leaf) == np.bool_ else leaf
              for leaf in leaves]
    return tree_unflatten(tree, _psum_leaves(leaves, names))


def pmean(x, axis_name, *, axis_index_groups=None):
    """Mean of `x` over the lanes of the named axis (or axes). Works on pytrees, whose leaves
    travel together."""
    _no_groups(axis_index_groups, "pmean")
    names = _names(axis_name, "pmean")
    leaves, tree = tree_flatten(x)
    leaves = [leaf if dtypes.is_inexact(dtype_of(leaf)) else
              convert_element_type(asarray(leaf), dtypes.default_float_dtype())
              for leaf in leaves]
    count = _total(names)
    return tree_unflatten(tree, [div(t, count) for t in _psum_leaves(leaves, names)])


# =================================================================== pmax / pmin
def _extremum(name, reduce):
    prim = _collective(name, lambda xp, x, axis_name: x, _same_aval)

    @needs_axis
    def batch(frame, vals, dims, axis_name):
        (x,), (d,) = vals, dims
        if frame.name != axis_name:
            return prim.bind(x, axis_name=axis_name), d
        local = x if d is None else _over_lanes(reduce, x, d, frame.size)
        if frame.span is not None:
            local, = cross_rank.allreduce([local], name[1:], frame.span, axis_name)
        return local, None

    def weights(x, ans, axis_name):
        # the lanes holding the extremum share its derivative equally
        hit = convert_element_type(eq(x, ans), dtype_of(x))
        return div(hit, psum_p.bind(hit, axis_name=axis_name)[0])

    def jvp(primals, tangents, axis_name):
        x, = primals
        t, = tangents
        ans = prim.bind(x, axis_name=axis_name)
        if t is None:
            return ans, None
        return ans, psum_p.bind(mul(t, weights(x, ans, axis_name)), axis_name=axis_name)[0]

    def vjp(primals, needs, axis_name):
        x, = primals
        ans = prim.bind(x, axis_name=axis_name)
        return ans, lambda ct: (mul(weights(x, ans, axis_name),
                                    psum_p.bind(ct, axis_name=axis_name)[0]),)
    prim.batch, prim.jvp, prim.vjp = batch, jvp, vjp
    return prim


pmax_p = _extremum("pmax", reduce_max)
pmin_p = _extremum("pmin", reduce_min)


def pmax(x, axis_name, *, axis_index_groups=None):
    """Maximum of `x` over the lanes of the named axis (or axes). Works on pytrees."""
    _no_groups(axis_index_groups, "pmax")
    return _over_names(pmax_p, x, axis_name, "pmax")


def pmin(x, axis_name, *, axis_index_groups=None):
    """Minimum of `x` over the lanes of the named axis (or axes). Works on pytrees."""
    _no_groups(axis_index_groups, "pmin")
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
    if frame.span is not None:
        lanes = _lanes_first(x, d, size)
        got = cross_rank.allgather(lanes, frame.span, axis_name)       # (ranks, lanes, ...)
        out = moveaxis(reshape(got, (frame.global_size,) + shape_of(lanes)[1:]), 0, at)
    elif d is None:
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


def all_gather(x, axis_name, *, axis_index_groups=None, axis=0, tiled=False, to="varying"):
    """Every lane gets the lanes' values of `x` stacked along a new axis `axis` (or, with
    `tiled=True`, concatenated along the existing axis `axis`). Works on pytrees. JAX's `to`
    (the result's manual axis type) must be its default, "varying"."""
    _no_groups(axis_index_groups, "all_gather")
    if to != "varying":
        raise NotImplementedError(f"all_gather: to={to!r} is not supported (functrans tracks "
                                  f"no manual axis types); leave it out")
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


def _scattered_shape(shape, axis_name, at, axis_size, tiled, what="psum_scatter: axis"):
    """`shape` with axis `at` split over the lanes of `axis_name`: divided by its size
    (`tiled`) or, as long as it, removed."""
    shape = list(shape)
    fits = shape[at] % axis_size == 0 if tiled else shape[at] == axis_size
    if not fits:
        raise ValueError(f"{what} {at} of shape {tuple(shape)} must be "
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
    total = mul(x, frame.size) if d is None else _over_lanes(reduce_sum, x, d, frame.size)
    at = scatter_dimension
    if frame.span is not None:
        # split the scattered axis into (rank, lane[, block]) and let each rank keep its part
        s, ranks = shape_of(total), frame.span.group.size
        block = (s[at] // axis_size,) if tiled else ()
        total = moveaxis(reshape(total, s[:at] + (ranks, frame.size) + block + s[at + 1:]),
                         at, 0)
        return cross_rank.reduce_scatter(total, frame.span, axis_name), at
    if tiled:
        s = shape_of(total)
        total = reshape(total, s[:at] + (frame.size, s[at] // frame.size) + s[at + 1:])
    return total, at


def _psum_scatter_transpose(ct, aval, axis_name, scatter_dimension, axis_size, tiled):
    return all_gather_p.bind(ct, axis_name=axis_name, axis=scatter_dimension,
                             axis_size=axis_size, tiled=tiled)


psum_scatter_p.batch = _psum_scatter_batch
def_linear(psum_scatter_p, _psum_scatter_transpose)


def psum_scatter(x, axis_name, *, scatter_dimension=0, axis_index_groups=None, tiled=False):
    """The sum of `x` over the lanes, split along `scatter_dimension`: lane i gets block i
    (that axis must have the axis size, or with `tiled=True` a multiple of it). The transpose
    of `all_gather`. Works on pytrees."""
    _no_groups(axis_index_groups, "psum_scatter")
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
    start = 0 if frame.span is None else frame.span.rank * frame.size
    return wrap(create(default_device_now(), "arange", start, start + frame.size,
                       dtype=np.int32)), 0


axis_index_p.batch = _axis_index_batch


def axis_index(axis_name):
    """This lane's position (int32) along the named axis: under pmap, its device's position
    among the devices of every process (process by process). Over a tuple of names, the
    position along those axes flattened (the first name major)."""
    index = None
    for name in _names(axis_name, "axis_index"):
        here = axis_index_p.bind(axis_name=name)
        index = here if index is None else add(mul(index, np.int32(axis_size(name))), here)
    return asarray(np.int32(0)) if index is None else index


# =================================================================== ppermute
def _ppermute_impl(xp, x, axis_name, perm):
    raise NameError(f"ppermute over {axis_name!r} gives each lane a different value, so it "
                    "cannot run outside the vmap or pmap of that axis")


ppermute_p = _collective("ppermute", _ppermute_impl, _same_aval)
def_linear(ppermute_p, lambda ct, aval, axis_name, perm: ppermute_p.bind(
    ct, axis_name=axis_name, perm=tuple((d, s) for s, d in perm)))


def _pick_lanes(rows, perm, first, count):
    """Lanes `first .. first + count` of the result of `perm` over the axis whose lanes are
    the rows of `rows` (zeros where no lane sends)."""
    source = {d: s for s, d in perm}
    lane_like = slice_in_dim(rows, 0, 1)
    parts = []
    for lane in range(first, first + count):
        src = source.get(lane)
        parts.append(zeros_or(None if src is None else slice_in_dim(rows, src, src + 1),
                              lane_like))
    return concatenate(parts, 0)


@needs_axis
def _ppermute_batch(frame, vals, dims, axis_name, perm):
    (x,), (d,) = vals, dims
    if frame.name != axis_name:
        return ppermute_p.bind(x, axis_name=axis_name, perm=perm), d
    lanes = _lanes_first(x, d, frame.size)
    span = frame.span
    if span is None:
        return _pick_lanes(lanes, perm, 0, frame.size), 0
    if frame.size == 1:          # one lane per rank: lanes are ranks
        return cross_rank.permute(lanes, perm, span, axis_name), 0
    got = cross_rank.allgather(lanes, span, axis_name)
    rows = reshape(got, (frame.global_size,) + shape_of(lanes)[1:])
    return _pick_lanes(rows, perm, span.rank * frame.size, frame.size), 0


ppermute_p.batch = _ppermute_batch


def ppermute(x, axis_name, perm):
    """Send each lane's `x` along the named axis: `perm` lists `(source, destination)` lane
    pairs (each lane at most once as a source and once as a destination); a lane no pair
    sends to gets zeros. Under pmap the lanes are the devices of every process, and the
    values travel between processes. Works on pytrees."""
    name = _one_name(axis_name, "ppermute")
    size = _size(name, "ppermute")
    try:
        pairs = tuple((int(s), int(d)) for s, d in perm)
    except (TypeError, ValueError):
        raise TypeError(f"ppermute: perm must be a sequence of (source, destination) pairs "
                        f"of lane indices, got {perm!r}") from None
    for which, got in (("source", [s for s, _ in pairs]), ("destination", [d for _, d in pairs])):
        if len(set(got)) != len(got):
            raise ValueError(f"ppermute: perm {list(pairs)} names a {which} lane more than "
                             "once; each lane sends at most once and receives at most once")
        bad = [i for i in got if not 0 <= i < size]
        if bad:
            raise ValueError(f"ppermute: {which} lane {bad[0]} in perm {list(pairs)} is "
                             f"outside the axis {name!r} of size {size}")
    return _tree_apply(lambda leaf: ppermute_p.bind(leaf, axis_name=name, perm=pairs), x)


def _permutation(perm, size, name):
    try:
        sources = [int(s) for s in perm]
    except (TypeError, ValueError):
        raise TypeError(f"pshuffle: perm must be a sequence of lane indices, got "
                        f"{perm!r}") from None
    if sorted(sources) != list(range(size)):
        raise ValueError(f"pshuffle: perm {sources} must list each lane 0 .. {size - 1} of "
                         f"the axis {name!r} (size {size}) exactly once")
    return sources


def pshuffle(x, axis_name, perm):
    """Lane i gets lane `perm[i]`'s `x`: `perm` is a permutation of the lanes of the named
    axis (`ppermute` with the pairs `(perm[i], i)`). Works on pytrees."""
    name = _one_name(axis_name, "pshuffle")
    sources = _permutation(perm, _size(name, "pshuffle"), name)
    return ppermute(x, name, [(s, d) for d, s in enumerate(sources)])


def pbroadcast(x, axis_name, source):
    """Every lane gets lane `source`'s `x`. Works on pytrees."""
    name = _one_name(axis_name, "pbroadcast")
    size = _size(name, "pbroadcast")
    if not isinstance(source, (int, np.integer)) or not 0 <= source < size:
        raise ValueError(f"pbroadcast: source must be a lane index of the axis {name!r} "
                         f"(0 .. {size - 1}), got {source!r}")
    here = eq(axis_index_p.bind(axis_name=name), np.int32(source))

    def one(leaf):
        kept = select(broadcast_in_dim(here, shape_of(leaf), ()), leaf, full_like(leaf, 0))
        if dtype_of(leaf) == np.bool_:
            return convert_element_type(psum_p.bind(convert_element_type(kept, np.int32),
                                                    axis_name=name)[0], np.bool_)
        return psum_p.bind(kept, axis_name=name)[0]
    return _tree_apply(one, x)


# =================================================================== all_to_all
def _all_to_all_shape(shape, axis_name, split_axis, concat_axis, axis_size, tiled):
    """`shape` scattered over the lanes along `split_axis`, gathered along `concat_axis`."""
    return _gathered_shape(_scattered_shape(shape, axis_name, split_axis, axis_size, tiled,
                                            "all_to_all: split_axis"),
                           concat_axis, axis_size, tiled)


def _all_to_all_aval(x, axis_name, split_axis, concat_axis, axis_size, tiled):
    return ShapedArray(_all_to_all_shape(x.shape, axis_name, split_axis, concat_axis,
                                         axis_size, tiled), x.dtype)


def _all_to_all_impl(xp, x, axis_name, **_):
    raise NameError(f"all_to_all over {axis_name!r} gives each lane a different value, so it "
                    "cannot run outside the vmap or pmap of that axis")


all_to_all_p = _collective("all_to_all", _all_to_all_impl, _all_to_all_aval)


def _exchange(lanes, at, block, span, axis_name):
    """Lanes first (`(lanes, ...)`, axis `at` holding the destinations' chunks of `block`
    entries each): every source lane of the axis first, with only this rank's destinations'
    chunks on axis `at`. Rank r sends rank (r + k) % ranks its chunks in the k-th of
    `ranks - 1` permutations."""
    ranks, rank, size = span.group.size, span.rank, shape_of(lanes)[0]
    width = size * block                  # the chunks of one rank's lanes

    def chunks_for(q):
        return slice_in_dim(lanes, q * width, (q + 1) * width, axis=at)
    got = {}
    for k in range(ranks):
        part = chunks_for((rank + k) % ranks)
        if k:
            part = cross_rank.permute(part, [(r, (r + k) % ranks) for r in range(ranks)], span,
                                      axis_name)
        got[(rank - k) % ranks] = part
    return concatenate([got[p] for p in range(ranks)], 0)


@needs_axis
def _all_to_all_batch(frame, vals, dims, axis_name, split_axis, concat_axis, axis_size, tiled):
    (x,), (d,) = vals, dims
    if frame.name != axis_name:
        return all_to_all_p.bind(moveaxis_to_front(x, d), axis_name=axis_name,
                                 split_axis=split_axis + 1, concat_axis=concat_axis + 1,
                                 axis_size=axis_size, tiled=tiled), 0
    _check_size("all_to_all", frame, axis_size)
    lanes = _lanes_first(x, d, frame.size)
    s, c = split_axis + 1, concat_axis + 1
    block = shape_of(lanes)[s] // axis_size if tiled else 1
    if frame.span is not None:
        lanes = _exchange(lanes, s, block, frame.span, axis_name)
    # (sources, ..., destinations [x block], ...) -> (destinations, sources, ... [block] ...)
    shape = shape_of(lanes)
    out = reshape(lanes, shape[:s] + (frame.size, block) + shape[s + 1:])
    out = moveaxis(out, s, 0)
    if not tiled:
        return moveaxis(squeeze(out, (s + 1,)), 1, c), 0
    out = moveaxis(out, 1, c)             # the sources just before the concatenated axis
    shape = shape_of(out)
    return reshape(out, shape[:c] + (shape[c] * shape[c + 1],) + shape[c + 2:]), 0


def _all_to_all_transpose(ct, aval, axis_name, split_axis, concat_axis, axis_size, tiled):
    return all_to_all_p.bind(ct, axis_name=axis_name, split_axis=concat_axis,
                             concat_axis=split_axis, axis_size=axis_size, tiled=tiled)


all_to_all_p.batch = _all_to_all_batch
def_linear(all_to_all_p, _all_to_all_transpose)


def _no_groups(axis_index_groups, what):
    if axis_index_groups is not None:
        raise NotImplementedError(
            f"{what}: axis_index_groups={axis_index_groups!r} is not supported (JAX takes it "
            "only under pmap, not vmap); reshape the lanes into two named axes with nested "
            "vmaps and use the inner axis name instead")


def all_to_all(x, axis_name, split_axis, concat_axis, *, axis_index_groups=None, tiled=False):
    """Split axis `split_axis` of each lane's `x` into one chunk per lane of the named axis;
    lane j gets chunk j of every lane, stacked along a new axis `concat_axis` of the output
    (lane i's chunk at position i). With `tiled=True`, `split_axis` must be a multiple of the
    axis size and the chunks are concatenated along the existing axis `concat_axis` instead.
    Its transpose is `all_to_all` with the two axes swapped. Works on pytrees."""
    name = _one_name(axis_name, "all_to_all")
    _no_groups(axis_index_groups, "all_to_all")
    size = _size(name, "all_to_all")

    def one(leaf):
        nd = len(shape_of(leaf))
        s = canonical_axis(split_axis, nd, "all_to_all: split_axis")
        c = canonical_axis(concat_axis, nd, "all_to_all: concat_axis")
        _all_to_all_shape(shape_of(leaf), name, s, c, size, tiled)
        return all_to_all_p.bind(leaf, axis_name=name, split_axis=s, concat_axis=c,
                                 axis_size=size, tiled=bool(tiled))
    return _tree_apply(one, x)


def pswapaxes(x, axis_name, axis, *, axis_index_groups=None):
    """Swap the named axis with axis `axis` of each lane's `x` (whose size must be the axis
    size): lane i's entry j becomes lane j's entry i, `all_to_all(x, axis_name, axis,
    axis)`. Works on pytrees."""
    _no_groups(axis_index_groups, "pswapaxes")
    return all_to_all(x, axis_name, axis, axis)
