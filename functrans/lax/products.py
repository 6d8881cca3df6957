"""Ragged matrix products (`ragged_dot`, `ragged_dot_general`) and the convolutions built on
image patches (`conv_general_dilated_patches`, `conv_general_dilated_local`), as JAX's, made
of `dot_general`, `conv_patches` and shape operations, which give their derivatives and
batching.

A ragged product splits one axis of `lhs` (the ragged axis) into consecutive groups of the
sizes `group_sizes`. The groups become a new axis of `lhs` through a 0/1 mask (each position
of the ragged axis kept in its group's slice only), which `dot_general` then contracts with
the group axis of `rhs` (the ragged axis is a free axis of `lhs`: each row meets its group's
matrix) or keeps in front of the result (the ragged axis is contracted: one product per
group). The masked copy of `lhs` is `g` times its size, and the product does `g` times the
work of a plain one: the sizes are data, so the groups cannot be sliced apart statically.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..primitives._util import canonical_axis, dtype_of, shape_of
from ..primitives.conv import conv_patches, conv_specs, padding_pairs, per_axis
from ..primitives.dot import dot_general
from ..primitives.elementwise import (bitwise_and, convert_element_type, le, lt, mul,
                                      sub)
from ..primitives.reductions import cumsum
from ..primitives.shape_ops import broadcast_in_dim, iota, moveaxis, reshape, transpose
from ..primitives.transfer import place

__all__ = ["RaggedDotDimensionNumbers", "ragged_dot", "ragged_dot_general",
           "conv_general_dilated_patches", "conv_general_dilated_local"]


@dataclasses.dataclass(frozen=True)
class RaggedDotDimensionNumbers:
    """The axes of `ragged_dot_general`: `dot_dimension_numbers` as `dot_general`'s
    (((lhs_contracting, rhs_contracting), (lhs_batch, rhs_batch))), the one ragged axis of
    `lhs` and the group axis of `rhs` (one, or none)."""
    dot_dimension_numbers: tuple
    lhs_ragged_dimensions: tuple
    rhs_group_dimensions: tuple

    def __post_init__(self):
        def ints(dims):
            return tuple(int(d) for d in dims)
        (lc, rc), (lb, rb) = self.dot_dimension_numbers
        object.__setattr__(self, "dot_dimension_numbers",
                           ((ints(lc), ints(rc)), (ints(lb), ints(rb))))
        object.__setattr__(self, "lhs_ragged_dimensions", ints(self.lhs_ragged_dimensions))
        object.__setattr__(self, "rhs_group_dimensions", ints(self.rhs_group_dimensions))


def _group_mask(group_sizes, size, dtype):
    """(..., g, size): 1 where a position of the ragged axis lies in group g (the groups are
    consecutive, from position 0, of the sizes `group_sizes` (..., g)), else 0."""
    ends = cumsum(group_sizes, axis=-1)
    starts = sub(ends, group_sizes)
    lead = shape_of(group_sizes)
    shape = lead + (size,)
    keep = tuple(range(len(lead)))
    position = broadcast_in_dim(iota(dtype_of(group_sizes), size, like=group_sizes), shape,
                                (len(lead),))
    inside = bitwise_and(le(broadcast_in_dim(starts, shape, keep), position),
                         lt(position, broadcast_in_dim(ends, shape, keep)))
    return convert_element_type(inside, dtype)


def ragged_dot_general(lhs, rhs, group_sizes, ragged_dot_dimension_numbers, precision=None,
                       preferred_element_type=None, group_offset=None, out_sharding=None):
    """A matrix product whose `lhs` has one ragged axis, split into consecutive groups of the
    sizes `group_sizes` (JAX's three modes, by the kind of that axis):

    1. a free axis of `lhs`: `rhs` has a group axis, and each group of rows is multiplied by
       its own matrix of `rhs` (rows after the last group give 0); the result is
       `dot_general`'s for `rhs` without its group axis;
    2. a contracted axis: each group of the contraction gives its own product, stacked along a
       new leading axis of size g;
    3. a batch axis: the plain `dot_general` (the groups change nothing).

    `group_sizes` has shape (g,), or (batch axes..., lhs's axes of the ragged axis's kind
    before it..., g). `precision` is ignored as `dot_general`'s is; `group_offset` is not
    supported."""
    if group_offset is not None:
        raise NotImplementedError("ragged_dot_general: group_offset is not supported (nor is "
                                  "it in JAX on CPUs); slice group_sizes instead")
    if out_sharding is not None:
        return place(ragged_dot_general(lhs, rhs, group_sizes, ragged_dot_dimension_numbers,
                                        precision, preferred_element_type), out_sharding,
                     "ragged_dot_general")
    dn = ragged_dot_dimension_numbers
    if not isinstance(dn, RaggedDotDimensionNumbers):
        raise TypeError(f"ragged_dot_general: ragged_dot_dimension_numbers must be a "
                        f"RaggedDotDimensionNumbers, got {dn!r}")
    ls, rs, gs = shape_of(lhs), shape_of(rhs), shape_of(group_sizes)
    (lc, rc), (lb, rb) = dn.dot_dimension_numbers
    lc, lb = (tuple(canonical_axis(a, len(ls), "lhs axis") for a in d) for d in (lc, lb))
    if len(dn.lhs_ragged_dimensions) != 1 or len(dn.rhs_group_dimensions) > 1:
        raise ValueError(f"ragged_dot_general needs one lhs ragged axis and at most one rhs "
                         f"group axis, got {dn}")
    ragged = canonical_axis(dn.lhs_ragged_dimensions[0], len(ls), "lhs ragged axis")
    groups = [canonical_axis(a, len(rs), "rhs group axis") for a in dn.rhs_group_dimensions]
    if np.dtype(dtype_of(group_sizes)).kind not in "iu" or not gs:
        raise TypeError(f"ragged_dot_general requires that group_sizes.dtype is subtype of "
                        f"np.integer, with the groups along its last axis; got "
                        f"{dtype_of(group_sizes)}{list(gs)}")
    g = gs[-1]
    mode = "batch" if ragged in lb else "contracting" if ragged in lc else "free"
    if (mode == "free") != bool(groups):
        raise ValueError(f"ragged_dot_general: with the ragged axis a {mode} axis of lhs, rhs "
                         f"{'needs a' if mode == 'free' else 'has no'} group axis; got {dn}")
    if mode == "batch":
        return dot_general(lhs, rhs, ((lc, rc), (lb, rb)), precision, preferred_element_type)
    if mode == "free" and rs[groups[0]] != g:
        raise TypeError(f"ragged_dot_general: expected rhs group dimension size to be {g} "
                        f"(group_sizes has shape {gs}), got {rs[groups[0]]}")
    # the axes of group_sizes: lhs's batch axes, then its axes of the ragged one's kind before it
    kind = [a for a in range(ragged) if (a in lc) == (mode == "contracting") and a not in lb]
    axes = list(lb) + kind if len(gs) > 1 else []
    want = tuple(ls[a] for a in axes) + (g,)
    if gs != want:
        raise ValueError(f"ragged_dot_general: group_sizes has shape {gs}, expected (g,) or "
                         f"{want} (lhs's batch axes, then its axes of the ragged axis's kind "
                         f"before it, then the groups)")
    n = len(ls)
    mask = _group_mask(group_sizes, ls[ragged], dtype_of(lhs))      # (*axes, g, ragged)
    target = axes + [n, ragged]
    order = sorted(range(len(target)), key=target.__getitem__)
    mask = broadcast_in_dim(transpose(mask, order), ls + (g,), sorted(target))
    grouped = mul(broadcast_in_dim(lhs, ls + (g,), tuple(range(n))), mask)
    if mode == "free":
        return dot_general(grouped, rhs, ((lc + (n,), rc + (groups[0],)), (lb, rb)), precision,
                           preferred_element_type)
    out = dot_general(grouped, rhs, ((lc, rc), (lb, rb)), precision, preferred_element_type)
    return moveaxis(out, n - len(lc), 0)         # the groups after lhs's free axes, to front


def ragged_dot(lhs, rhs, group_sizes, precision=None, preferred_element_type=None,
               group_offset=None, out_sharding=None):
    """`lhs` (m, k) times `rhs` (g, k, n), the rows of `lhs` in consecutive groups of the
    sizes `group_sizes` (g,), each group multiplied by its matrix of `rhs`: (m, n), rows after
    the last group 0 (see `ragged_dot_general`)."""
    ls, rs, gs = shape_of(lhs), shape_of(rhs), shape_of(group_sizes)
    if len(ls) != 2 or len(rs) != 3 or len(gs) != 1:
        raise TypeError(f"ragged_dot needs lhs (m, k), rhs (g, k, n) and group_sizes (g,); got "
                        f"shapes {ls}, {rs} and {gs}")
    dn = RaggedDotDimensionNumbers((((1,), (1,)), ((), ())), (0,), (0,))
    return ragged_dot_general(lhs, rhs, group_sizes, dn, precision, preferred_element_type,
                              group_offset, out_sharding)


def _patches(lhs, filter_shape, window_strides, padding, lhs_dilation, rhs_dilation,
             dimension_numbers, fn):
    """Every window of `lhs`: (C * prod(filter_shape), N, *out_spatial), its first axis in the
    order (C, *window), and the layout specs."""
    nd = len(filter_shape)
    rank = len(shape_of(lhs))
    if rank != nd + 2:
        raise ValueError(f"{fn}: lhs of shape {shape_of(lhs)} needs {rank - 2} spatial axes "
                         f"in filter_shape, got {tuple(filter_shape)}")
    specs = conv_specs(rank, rank, dimension_numbers)
    x = transpose(lhs, specs[0])                    # (N, C, *S), S in the kernel's order
    window = tuple(int(k) for k in filter_shape)
    strides = per_axis(window_strides, nd, f"window_strides ({fn})")
    ld = per_axis(lhs_dilation, nd, f"lhs_dilation ({fn})")
    rd = per_axis(rhs_dilation, nd, f"rhs_dilation ({fn})")
    n, c, spatial = shape_of(x)[0], shape_of(x)[1], shape_of(x)[2:]
    dilated = tuple((d - 1) * f + 1 for d, f in zip(spatial, ld))
    pads = padding_pairs(padding, dilated, window, strides, rd)
    p = conv_patches(x, window, strides, pads, ld, rd)           # (C, *window, N, *out)
    out = shape_of(p)[nd + 2:]
    if any(s < 1 for s in out):
        raise ValueError(f"{fn}: the window {window} (dilation {rd}) does not fit the input's "
                         f"spatial shape {spatial} with padding {pads}")
    return reshape(p, (c * math.prod(window), n) + out), specs


def _to_layout(out, out_spec):
    """(N, C, *spatial) in the layout `out_spec` (the axis of each, in that order)."""
    perm = [0] * len(out_spec)
    for i, axis in enumerate(out_spec):
        perm[axis] = i
    return transpose(out, perm)


def conv_general_dilated_patches(lhs, filter_shape, window_strides, padding,
                                 lhs_dilation=None, rhs_dilation=None, dimension_numbers=None,
                                 precision=None, preferred_element_type=None):
    """The patches a convolution with a kernel of spatial shape `filter_shape` (in the kernel
    layout's order) would meet: an array in the output layout whose feature axis holds each
    flattened patch, C * prod(filter_shape) values in the order (C, *window). The other
    arguments are `conv_general_dilated`'s; `precision` is ignored."""
    p, (_, _, out_spec) = _patches(lhs, filter_shape, window_strides, padding, lhs_dilation,
                                   rhs_dilation, dimension_numbers,
                                   "conv_general_dilated_patches")
    out = _to_layout(moveaxis(p, 1, 0), out_spec)
    if preferred_element_type is None:
        return out
    return convert_element_type(out, preferred_element_type)


def conv_general_dilated_local(lhs, rhs, window_strides, padding, filter_shape,
                               lhs_dilation=None, rhs_dilation=None, dimension_numbers=None,
                               precision=None):
    """An unshared (locally connected) convolution: each output position has its own kernel.
    `rhs` is laid out as `dimension_numbers[1]` with spatial axes of the output's size and an
    input-feature axis of C * prod(filter_shape), in the order (C, *window); the other
    arguments are `conv_general_dilated`'s; `precision` is ignored."""
    p, (_, rhs_spec, out_spec) = _patches(lhs, filter_shape, window_strides, padding,
                                          lhs_dilation, rhs_dilation, dimension_numbers,
                                          "conv_general_dilated_local")
    k, n, out = shape_of(p)[0], shape_of(p)[1], shape_of(p)[2:]
    w = transpose(rhs, rhs_spec)                                  # (O, I, *out)
    if shape_of(w)[1:] != (k,) + out:
        raise ValueError(f"conv_general_dilated_local: rhs of shape {shape_of(rhs)} needs "
                         f"{k} input features (C * prod(filter_shape)) and spatial axes "
                         f"{out} (the output's), in the layout of dimension_numbers")
    o, m = shape_of(w)[0], math.prod(out)
    y = dot_general(reshape(p, (k, n, m)), reshape(w, (o, k, m)), (((0,), (1,)), ((2,), (2,))))
    return _to_layout(transpose(reshape(y, out + (n, o)), (len(out), len(out) + 1)
                                + tuple(range(len(out)))), out_spec)
