"""JAX's shape helpers for convolutions and windows (`conv_shape_tuple`,
`conv_general_shape_tuple`, `conv_transpose_shape_tuple`, `reduce_window_shape_tuple`,
`conv_general_permutations`): each result shape is found by tracing the operation itself on
abstract operands, so helper and operation never disagree."""
from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from ..core import ShapedArray
from ..interpreters.partial_eval import trace_to_jaxpr
from ..primitives.conv import ConvDimensionNumbers, conv_general_dilated, conv_specs
from ..primitives.elementwise import max as max_
from ..primitives.windowed import reduce_window
from .helpers import conv_transpose

__all__ = ["ConvGeneralDilatedDimensionNumbers", "conv_general_permutations",
           "conv_general_shape_tuple", "conv_shape_tuple", "conv_transpose_shape_tuple",
           "reduce_window_shape_tuple"]

ConvGeneralDilatedDimensionNumbers = Optional[Union[Tuple[str, str, str], ConvDimensionNumbers]]


def _traced_shape(fn, *shapes):
    avals = [ShapedArray(tuple(int(d) for d in s), np.dtype(np.float32)) for s in shapes]
    closed, _ = trace_to_jaxpr(lambda *xs: [fn(*xs)], avals, name="shape")
    return tuple(closed.jaxpr.outvars[0].aval.shape)


def conv_shape_tuple(lhs_shape, rhs_shape, strides, pads, batch_group_count=1):
    """The shape of `conv_general_dilated` of NCHW `lhs_shape` and OIHW `rhs_shape`."""
    return _traced_shape(lambda x, w: conv_general_dilated(
        x, w, strides, pads, batch_group_count=batch_group_count), lhs_shape, rhs_shape)


def conv_general_shape_tuple(lhs_shape, rhs_shape, window_strides, padding, dimension_numbers):
    """The shape of `conv_general_dilated` of these shapes in the `dimension_numbers`
    layouts."""
    return _traced_shape(lambda x, w: conv_general_dilated(
        x, w, window_strides, padding, dimension_numbers=dimension_numbers),
        lhs_shape, rhs_shape)


def conv_transpose_shape_tuple(lhs_shape, rhs_shape, window_strides, padding,
                               dimension_numbers):
    """The shape of `conv_transpose` of these shapes in the `dimension_numbers` layouts."""
    return _traced_shape(lambda x, w: conv_transpose(
        x, w, window_strides, padding, dimension_numbers=dimension_numbers),
        lhs_shape, rhs_shape)


def reduce_window_shape_tuple(operand_shape, window_dimensions, window_strides, padding,
                              base_dilation=None, window_dilation=None):
    """The shape of `reduce_window` over `operand_shape` (`padding`: (low, high) pairs)."""
    return _traced_shape(lambda x: reduce_window(
        x, -np.inf, max_, window_dimensions, window_strides, tuple(map(tuple, padding)),
        base_dilation, window_dilation), operand_shape)


def conv_general_permutations(dimension_numbers):
    """For layout strings `(lhs, rhs, out)`, the axis orders taking each to NCHW / OIHW /
    NCHW (spatial axes in the order `rhs` names them)."""
    if not (isinstance(dimension_numbers, (tuple, list)) and len(dimension_numbers) == 3 and
            all(isinstance(s, str) for s in dimension_numbers)):
        raise TypeError(f"conv_general_permutations: dimension_numbers must be three layout "
                        f"strings such as ('NHWC', 'HWIO', 'NHWC'), got {dimension_numbers!r}")
    for spec, chars in zip(dimension_numbers, ("NC", "OI", "NC")):
        if any(spec.count(c) != 1 for c in chars):
            raise TypeError(f"conv_general_permutations: layout {spec!r} must contain "
                            f"{chars[0]!r} and {chars[1]!r} exactly once")
    n = len(dimension_numbers[0])
    return conv_specs(n, n, tuple(dimension_numbers))
