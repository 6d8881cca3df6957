"""The `jax.lax` functions JAX builds on its primitives, under JAX's names and arguments:
shapes (`broadcast`, `broadcasted_iota`, `collapse`, `split`, `tile`, `stack`, `unstack`, ...),
static and dynamic indexing along one axis, `sort_key_val`, logical and arithmetic right
shifts, `cumlogsumexp`, `optimization_barrier` and the convolution wrappers `conv`,
`conv_with_general_padding` and `conv_transpose`. Their derivatives and batching come from
the primitives they are made of (`cumlogsumexp`, here for its place in `ft.lax`'s list, is a
primitive of its own, as JAX's)."""
from __future__ import annotations

import enum
import math

import numpy as np

from ..core import axis_size, is_python_scalar
from ..higher_order.control_flow import scan
from ..primitives._util import broadcast_shapes as _broadcast_shapes, canonical_axis, dtype_of, \
    shape_of, as_shape
from ..primitives.conv import conv_specs, conv_general_dilated, padding_pairs
from ..primitives import (elementwise as _elementwise, reductions as _reductions,
                          shape_ops as _shape_ops)
from ..primitives.reductions import cumlogsumexp
from ..primitives.elementwise import convert_element_type, neg, shift_right
from ..primitives.indexing import dynamic_update_slice_in_dim, gather_axes
from ..primitives.shape_ops import (bitcast_convert_type, broadcast_in_dim, concatenate,
                                    expand_dims, reshape, rev, slice_in_dim, squeeze,
                                    transpose)
from ..primitives.sorting import sort_multiple, top_k
from ..primitives.transfer import place
from ..tree_util import tree_flatten, tree_map, tree_unflatten

__all__ = ["approx_max_k", "approx_min_k", "axis_size", "broadcast", "broadcasted_iota",
           "broadcast_shapes", "broadcast_to_rank", "collapse", "reduce",
           "conv", "conv_transpose", "conv_with_general_padding", "cumlogsumexp",
           "dynamic_update_index_in_dim", "index_in_dim", "index_take", "optimization_barrier",
           "padtype_to_pads", "shift_right_arithmetic", "shift_right_logical", "sort_key_val",
           "split", "stack", "tile", "unstack", "RoundingMethod", "round",
           "reduce_precision"]


class RoundingMethod(enum.IntEnum):
    """How `round` breaks ties (JAX's names and values)."""
    AWAY_FROM_ZERO = 0
    TO_NEAREST_EVEN = 1


def round(x, rounding_method=RoundingMethod.AWAY_FROM_ZERO):
    """`x` rounded to the nearest integer, ties away from zero (JAX's default) or to even
    (`RoundingMethod.TO_NEAREST_EVEN`, NumPy's `rint`)."""
    method = RoundingMethod(rounding_method)
    if method is RoundingMethod.TO_NEAREST_EVEN:
        return _elementwise.round(x)
    whole = _elementwise.trunc(x)
    half = _elementwise.ge(_elementwise.abs(_elementwise.sub(x, whole)), 0.5)  # (exact)
    return _elementwise.select(half, _elementwise.add(whole, _elementwise.sign(x)), whole)


def reduce_precision(operand, exponent_bits, mantissa_bits):
    """`operand` rounded to a float format with these many exponent and mantissa bits (kept
    in its dtype; bfloat16 is (8, 7)): the mantissa to nearest, ties to even; where the
    exponent is narrower, beyond its range to +-inf and below its smallest normal to +-0;
    NaN stays NaN (XLA's rules)."""
    x = operand
    dtype = np.dtype(dtype_of(x))
    info = np.finfo(dtype)
    src_m, src_e = info.nmant, info.nexp
    if not (0 <= mantissa_bits and 1 <= exponent_bits):
        raise ValueError(f"reduce_precision needs exponent_bits >= 1 and mantissa_bits >= 0, "
                         f"got {exponent_bits} and {mantissa_bits}")
    uint = np.dtype(f"u{dtype.itemsize}")
    bits = bitcast_convert_type(x, uint)
    ones = int(np.iinfo(uint).max)

    def word(v):
        return np.asarray(v, uint)
    if mantissa_bits < src_m:
        drop = src_m - mantissa_bits
        last = _elementwise.bitwise_and(shift_right(bits, word(drop)), word(1))
        bias = _elementwise.add(last, word((1 << (drop - 1)) - 1))
        bits = _elementwise.bitwise_and(_elementwise.add(bits, bias),
                                        word(ones ^ ((1 << drop) - 1)))
    if exponent_bits < src_e:
        exp_mask = ((1 << src_e) - 1) << src_m
        bias, reduced = (1 << (src_e - 1)) - 1, (1 << (exponent_bits - 1)) - 1
        exponent = _elementwise.bitwise_and(bits, word(exp_mask))
        sign = _elementwise.bitwise_and(bits, word(ones ^ (ones >> 1)))
        inf = _elementwise.bitwise_or(sign, word(exp_mask))
        bits = _elementwise.select(_elementwise.gt(exponent, word((bias + reduced) << src_m)),
                                   inf, bits)
        bits = _elementwise.select(_elementwise.le(exponent, word((bias - reduced) << src_m)),
                                   sign, bits)
    out = bitcast_convert_type(bits, dtype)
    return _elementwise.select(_elementwise.isnan(x), x, out)


def broadcast(operand, sizes, *, out_sharding=None):
    """`operand` with new leading axes of `sizes`."""
    shape = shape_of(operand)
    sizes = as_shape(sizes, "broadcast: sizes")
    return place(broadcast_in_dim(operand, sizes + tuple(shape),
                                  tuple(range(len(sizes), len(sizes) + len(shape)))),
                 out_sharding, "broadcast")


def broadcasted_iota(dtype, shape, dimension, *, out_sharding=None):
    """0, 1, ... along axis `dimension` of an array of `shape`, the same along the others."""
    shape = as_shape(shape)
    dimension = canonical_axis(dimension, len(shape), "broadcasted_iota: axis")
    return place(_shape_ops.broadcasted_iota(dtype, shape, dimension), out_sharding,
                 "broadcasted_iota")


def broadcast_shapes(*shapes):
    """The shape that `shapes` broadcast to (NumPy's rules)."""
    return _broadcast_shapes(*(tuple(s) for s in shapes), opname="broadcast_shapes")


def broadcast_to_rank(x, rank):
    """`x` with leading axes of size 1 up to `rank` axes."""
    shape = shape_of(x)
    if rank < len(shape):
        raise ValueError(f"broadcast_to_rank: rank {rank} is below the operand's "
                         f"{len(shape)}")
    return reshape(x, (1,) * (rank - len(shape)) + tuple(shape))


def collapse(operand, start_dimension, stop_dimension=None):
    """Axes `start_dimension` up to (not including) `stop_dimension` merged into one."""
    shape = tuple(shape_of(operand))
    lo, hi = slice(start_dimension, stop_dimension).indices(len(shape))[:2]
    if lo > hi:
        raise ValueError(f"collapse: start_dimension {start_dimension} is after "
                         f"stop_dimension {stop_dimension}")
    return reshape(operand, shape[:lo] + (math.prod(shape[lo:hi]),) + shape[hi:])


def index_in_dim(operand, index, axis=0, keepdims=True):
    """The static `index` along `axis` (negative counts from the end)."""
    shape = shape_of(operand)
    axis = canonical_axis(axis, len(shape), "index_in_dim: axis")
    size = shape[axis]
    if not -size <= index < size:
        raise IndexError(f"index_in_dim: index {index} is out of bounds for axis {axis} of "
                         f"size {size}")
    index %= size
    out = slice_in_dim(operand, index, index + 1, axis=axis)
    return out if keepdims else squeeze(out, (axis,))


def dynamic_update_index_in_dim(operand, update, index, axis, *, allow_negative_indices=True):
    """`operand` with `update` written at the (traced) `index` along `axis`; `update` has
    that axis of size 1, or not at all."""
    rank = len(shape_of(operand))
    axis = canonical_axis(axis, rank, "dynamic_update_index_in_dim: axis")
    if len(shape_of(update)) == rank - 1:
        update = expand_dims(update, (axis,))
    return dynamic_update_slice_in_dim(operand, update, index, axis,
                                       allow_negative_indices=allow_negative_indices)


def index_take(src, idxs, axes):
    """`src` indexed at the integer arrays `idxs`, one per axis of `axes` (all of the same
    shape, which leads the result; the other axes follow)."""
    axes = tuple(canonical_axis(a, len(shape_of(src)), "index_take: axis") for a in axes)
    if len(idxs) != len(axes):
        raise ValueError(f"index_take: {len(idxs)} index arrays for {len(axes)} axes")
    return gather_axes(src, *idxs, axes=axes)


def split(operand, sizes, axis=0):
    """Consecutive pieces of `operand` along `axis`, of `sizes` (which sum to its length)."""
    shape = shape_of(operand)
    axis = canonical_axis(axis, len(shape), "split: axis")
    sizes = [int(s) for s in sizes]
    if sum(sizes) != shape[axis] or any(s < 0 for s in sizes):
        raise ValueError(f"split: sizes {sizes} must be non-negative and sum to the length "
                         f"{shape[axis]} of axis {axis}")
    starts = np.cumsum([0] + sizes)
    return [slice_in_dim(operand, int(lo), int(hi), axis=axis)
            for lo, hi in zip(starts[:-1], starts[1:])]


def tile(operand, reps):
    """`operand` repeated `reps[i]` times along axis i (one count per axis)."""
    shape = tuple(shape_of(operand))
    reps = tuple(int(r) for r in reps)
    if len(reps) != len(shape):
        raise ValueError(f"tile: {len(reps)} repetition counts for an operand of rank "
                         f"{len(shape)}")
    inner = tuple(d for pair in zip(reps, shape) for d in pair)
    tiled = broadcast_in_dim(operand, inner, tuple(range(1, 2 * len(shape), 2)))
    return reshape(tiled, tuple(r * s for r, s in zip(reps, shape)))


def stack(operands, axis=0):
    """`operands` (of one shape) stacked along a new axis."""
    operands = list(operands)
    if not operands:
        raise ValueError("stack: needs at least one operand")
    rank = len(shape_of(operands[0])) + 1
    axis = canonical_axis(axis, rank, "stack: axis")
    return concatenate([expand_dims(x, (axis,)) for x in operands], axis)


def unstack(x, axis=0):
    """The slices of `x` along `axis`, that axis removed."""
    shape = shape_of(x)
    axis = canonical_axis(axis, len(shape), "unstack: axis")
    return tuple(index_in_dim(x, i, axis, keepdims=False) for i in range(shape[axis]))


def sort_key_val(keys, values, dimension=-1, is_stable=True):
    """`keys` sorted along `dimension` (NaNs last) and `values` permuted with them."""
    sorted_keys, sorted_values = sort_multiple([keys, values], dimension)
    return sorted_keys, sorted_values


def shift_right_arithmetic(x, y):
    """`x >> y`, filling with the top bit (unsigned integers too, as their signed bits: as in
    JAX)."""
    return _shift_as(x, y, "i")


def shift_right_logical(x, y):
    """`x >> y`, filling with zeros (signed integers too, as their unsigned bits)."""
    return _shift_as(x, y, "u")


def _shift_as(x, y, kind):
    """NumPy's right shift of `x`'s bits read as integers of `kind` ("i" sign-fills, "u"
    zero-fills; counts of the width or more give all fill bits), in `x`'s dtype."""
    dtype = np.dtype(dtype_of(x))
    if dtype.kind == kind or dtype.kind not in "iu":
        return shift_right(x, y)
    bits = np.dtype(f"{kind}{dtype.itemsize}")
    shifted = shift_right(convert_element_type(x, bits), convert_element_type(y, bits))
    return convert_element_type(shifted, dtype)


def optimization_barrier(operand):
    """`operand` as it is (JAX keeps the compiler from moving work across it; functrans's
    programs run in the order written)."""
    return operand


def padtype_to_pads(in_shape, window_shape, window_strides, padding):
    """The (low, high) padding pairs that 'SAME', 'SAME_LOWER' or 'VALID' gives a window over
    `in_shape` with `window_strides`."""
    if not isinstance(padding, str):
        raise TypeError(f"padtype_to_pads: padding must be 'SAME', 'SAME_LOWER' or 'VALID', "
                        f"got {padding!r}")
    return list(padding_pairs(padding, in_shape, window_shape, window_strides,
                              (1,) * len(in_shape)))


def conv(lhs, rhs, window_strides, padding, precision=None, preferred_element_type=None):
    """A convolution of NCHW `lhs` with OIHW `rhs` (any number of spatial axes), no
    dilation: `conv_general_dilated` with its defaults."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, precision=precision,
                                preferred_element_type=preferred_element_type)


def conv_with_general_padding(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                              precision=None, preferred_element_type=None):
    """`conv_general_dilated` in NCHW / OIHW with dilations."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                precision=precision,
                                preferred_element_type=preferred_element_type)


_TRANSPOSE_LAYOUTS = {2: ("NC", "IO", "NC"), 3: ("NHC", "HIO", "NHC"),
                      4: ("NHWC", "HWIO", "NHWC"), 5: ("NHWDC", "HWDIO", "NHWDC")}


def _transpose_pads(k, s, padding):
    """(low, high) padding of one axis of a transposed convolution with kernel size `k` and
    stride `s`: for the forward convolution's 'SAME' or 'VALID', or its (low, high) pair."""
    if padding == "SAME":
        total = k + s - 2
        low = k - 1 if s > k - 1 else -(-total // 2)
    elif padding == "VALID":
        total = k + s - 2 + max(k - s, 0)
        low = k - 1
    else:
        low, high = (k - 1 - int(p) for p in padding)
        total = low + high
    return low, total - low


def conv_transpose(lhs, rhs, strides, padding, rhs_dilation=None, dimension_numbers=None,
                   transpose_kernel=False, precision=None, preferred_element_type=None,
                   use_consistent_padding=False):
    """JAX's transposed convolution: `lhs` dilated by `strides` and convolved with `rhs`
    (layouts NHWC / HWIO / NHWC by default). 'SAME' and 'VALID' name the forward
    convolution's padding; explicit (low, high) pairs pad the transposed convolution itself,
    unless `use_consistent_padding` reads them as the forward convolution's too.
    `transpose_kernel` flips the kernel's spatial axes and swaps its channel axes (the
    gradient of the forward convolution, as Keras' Conv2DTranspose). `precision` and
    `preferred_element_type` as in `conv_general_dilated`."""
    rank = len(shape_of(lhs))
    if rank != len(shape_of(rhs)) or rank < 2:
        raise ValueError(f"conv_transpose: lhs and rhs must have the same rank >= 2, got "
                         f"shapes {shape_of(lhs)} and {shape_of(rhs)}")
    if dimension_numbers is None:
        if rank not in _TRANSPOSE_LAYOUTS:
            raise ValueError(f"conv_transpose: no default layouts for rank {rank}; pass "
                             "dimension_numbers")
        dimension_numbers = _TRANSPOSE_LAYOUTS[rank]
    _, rhs_spec, _ = conv_specs(rank, rank, dimension_numbers)
    rhs_dilation = tuple(rhs_dilation or (1,) * (rank - 2))
    if use_consistent_padding or padding in ("SAME", "VALID"):
        sizes = [(shape_of(rhs)[a] - 1) * r + 1 for a, r in zip(rhs_spec[2:], rhs_dilation)]
        per_axis = [padding] * len(strides) if isinstance(padding, str) else list(padding)
        padding = [_transpose_pads(k, s, p) for k, s, p in zip(sizes, strides, per_axis)]
    if transpose_kernel:
        rhs = rev(rhs, tuple(rhs_spec[2:]))
        perm = list(range(rank))
        perm[rhs_spec[0]], perm[rhs_spec[1]] = rhs_spec[1], rhs_spec[0]
        rhs = transpose(rhs, tuple(perm))
    return conv_general_dilated(lhs, rhs, (1,) * (rank - 2), padding, tuple(strides),
                                rhs_dilation, dimension_numbers, precision=precision,
                                preferred_element_type=preferred_element_type)


# computations `reduce` runs as one reduction (`computation(init, reduced)` after it)
_MONOIDS = {_elementwise.add: _reductions.reduce_sum, _elementwise.mul: _reductions.reduce_prod,
            _elementwise.max: _reductions.reduce_max, _elementwise.min: _reductions.reduce_min,
            _elementwise.bitwise_and: _reductions.reduce_and,
            _elementwise.bitwise_or: _reductions.reduce_or,
            _elementwise.bitwise_xor: _reductions.reduce_xor}


def reduce(operands, init_values, computation, dimensions, out_sharding=None):
    """`operands` (an array or a pytree of them) folded along `dimensions` by
    `computation(accumulated, next)`, starting from `init_values`. `lax.add`, `mul`, `max`,
    `min` and the bitwise and/or/xor run as one reduction; any other computation as a scan
    over the reduced elements in order. JAX's `out_sharding` may name the one device the
    results go to."""
    if out_sharding is not None:
        return tree_map(lambda x: place(x, out_sharding, "reduce"),
                        reduce(operands, init_values, computation, dimensions))
    leaves, tree = tree_flatten(operands)
    inits, _ = tree_flatten(init_values)
    if len(inits) != len(leaves):
        raise ValueError(f"reduce: {len(inits)} initial values for {len(leaves)} operands")
    rank = len(shape_of(leaves[0]))
    dims = tuple(sorted({canonical_axis(d, rank, "reduce: axis") for d in dimensions}))
    if len(leaves) == 1 and computation in _MONOIDS:
        return tree_unflatten(tree, [computation(inits[0], _MONOIDS[computation](leaves[0],
                                                                                 dims))])
    kept = [d for d in range(rank) if d not in dims]
    rest = tuple(shape_of(leaves[0])[d] for d in kept)
    rows = [reshape(transpose(x, dims + tuple(kept)), (-1,) + rest) for x in leaves]
    start = [broadcast_in_dim(convert_element_type(i, dtype_of(x)) if is_python_scalar(i) else i,
                              rest, ()) for i, x in zip(inits, leaves)]

    def step(acc, xs):
        out = computation(tree_unflatten(tree, acc), tree_unflatten(tree, xs))
        return tree_flatten(out)[0], None
    result, _ = scan(step, start, rows)
    return tree_unflatten(tree, result)


def approx_max_k(operand, k, reduction_dimension=-1, recall_target=0.95,
                 reduction_input_size_override=-1, aggregate_to_topk=True):
    """The `k` largest entries along `reduction_dimension` and their indices: exactly (JAX
    may approximate on TPUs; on the CPU it is exact too)."""
    return top_k(operand, k, axis=reduction_dimension)


def approx_min_k(operand, k, reduction_dimension=-1, recall_target=0.95,
                 reduction_input_size_override=-1, aggregate_to_topk=True):
    """The `k` smallest entries along `reduction_dimension` and their indices, exactly."""
    values, indices = top_k(neg(operand), k, axis=reduction_dimension)
    return neg(values), indices
