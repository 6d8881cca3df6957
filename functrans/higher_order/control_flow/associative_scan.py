"""`associative_scan`: all prefix combinations of an associative function in O(log n)
rounds, written with slices and concatenations only, so every transform applies to it as to
any other code (no primitive of its own)."""
from __future__ import annotations

from ...core import get_aval, on_operand_device
from ...primitives._util import shape_of
from ...primitives.shape_ops import (concatenate, expand_dims, moveaxis, reshape, rev,
                                     slice_in_dim)
from ...tree_util import tree_flatten, tree_unflatten
from .common import as_value


@on_operand_device
def associative_scan(fn, elems, reverse=False, axis=0):
    """Inclusive prefix combinations along `axis`: out[i] = fn(... fn(e[0], e[1]) ..., e[i]).

    `fn` must be associative and elementwise along `axis`: it takes two pytrees shaped like
    `elems` (with any length along `axis`) and returns one. `reverse=True` scans from the
    end, the later element first: out[i] = fn(fn(e[n-1], e[n-2]) ..., e[i]).
    """
    leaves, tree = tree_flatten(elems)
    if not leaves:
        raise ValueError("associative_scan: elems has no arrays to scan over")
    leaves = [as_value(x, "associative_scan") for x in leaves]
    ndim = len(shape_of(leaves[0]))
    if not -ndim <= axis < max(ndim, 1):
        raise ValueError(f"associative_scan: axis={axis} is out of range for elems of rank {ndim}")
    axis %= max(ndim, 1)
    lengths = {shape_of(x)[axis] if len(shape_of(x)) > axis else None for x in leaves}
    if len(lengths) != 1 or None in lengths:
        shapes = ", ".join(get_aval(x).str_short() for x in leaves)
        raise ValueError(f"associative_scan: every leaf of elems needs the same length along "
                         f"axis {axis}; got {shapes}")
    leaves = [moveaxis(x, axis, 0) for x in leaves]
    if reverse:
        leaves = [rev(x, (0,)) for x in leaves]

    def combine(a, b):
        out = fn(tree_unflatten(tree, [moveaxis(x, 0, axis) for x in a]),
                 tree_unflatten(tree, [moveaxis(x, 0, axis) for x in b]))
        flat, out_tree = tree_flatten(out)
        if out_tree != tree:
            raise TypeError(f"associative_scan: fn must return the structure of elems "
                            f"({tree}), got {out_tree}")
        return [moveaxis(as_value(x, "associative_scan"), axis, 0) for x in flat]

    out = _scan(combine, leaves)
    if reverse:
        out = [rev(x, (0,)) for x in out]
    return tree_unflatten(tree, [moveaxis(x, 0, axis) for x in out])


def _every_other(xs, start, stop=None):
    return [slice_in_dim(x, start, shape_of(x)[0] if stop is None else stop, 2) for x in xs]


def _scan(combine, xs):
    """Prefix combinations along axis 0: pair neighbours, scan the pairs (the odd positions),
    then fill in the even positions from them."""
    n = shape_of(xs[0])[0]
    if n < 2:
        return xs
    odd = _scan(combine, combine(_every_other(xs, 0, n - 1), _every_other(xs, 1)))
    tail = _every_other(xs, 2)
    if n > 2:
        prev = odd if n % 2 else [slice_in_dim(o, 0, shape_of(o)[0] - 1) for o in odd]
        tail = combine(prev, tail)
    even = [concatenate([slice_in_dim(x, 0, 1), t], 0) for x, t in zip(xs, tail)]
    return [_interleave(e, o, n) for e, o in zip(even, odd)]


def _interleave(even, odd, n):
    """even[0], odd[0], even[1], odd[1], ... (n elements; even has the extra one if n is odd)."""
    if n % 2:
        odd = concatenate([odd, slice_in_dim(even, 0, 1)], 0)     # a filler, cut off below
    pairs = concatenate([expand_dims(even, (1,)), expand_dims(odd, (1,))], 1)
    flat = reshape(pairs, (2 * shape_of(even)[0],) + tuple(shape_of(even)[1:]))
    return slice_in_dim(flat, 0, n)
