"""`ft.lax`: the primitive operations (no dtype promotion, explicit shapes), structured
control flow, collectives over named vmap axes, and the functions built directly on them.
Each primitive and all its rules live in one module here: elementwise, reductions, shape_ops,
dot, indexing, sorting, linalg, conv, control_flow, parallel.
"""
from .elementwise import (
    neg, exp, exp2, log, log2, log10, log1p, expm1, sin, cos, tan, asin, acos, atan, sinh, cosh,
    tanh, asinh, acosh, atanh, sqrt, rsqrt, cbrt, square, reciprocal, abs, sign, floor, ceil,
    round, trunc, logistic, erf, erfc, erf_inv, lgamma, digamma, polygamma, is_finite, isnan,
    isinf, bitwise_not, add, sub, mul, div, pow, max, min, atan2, hypot, logaddexp, rem,
    remainder, floor_divide, nextafter, eq, ne, lt, le, gt, ge, bitwise_and, bitwise_or,
    bitwise_xor, shift_left, shift_right, select, convert_element_type, stop_gradient,
    population_count, bessel_i0, bessel_i1, gcd, lcm, signbit, real, imag, conj,
)
from .reductions import (
    reduce_sum, reduce_max, reduce_min, reduce_prod, reduce_and, reduce_or, argmax, argmin,
    cumsum, cumprod, cummax, cummin,
)
from .shape_ops import (
    reshape, transpose, moveaxis, broadcast_in_dim, broadcast_to, rev, concatenate, pad,
    slice_ as slice, slice_in_dim, full_like, full, constant, squeeze, expand_dims, iota,
)
from .dot import dot_general, dot
from .conv import conv_general_dilated, conv_dimension_numbers
from .windowed import reduce_window, reduce_window_max, reduce_window_sum
from .indexing import (
    gather, scatter, scatter_add, scatter_mul, scatter_min, scatter_max, dynamic_slice,
    dynamic_update_slice, take_along_axis, add_along_axis, wrap_negative,
)
from .sorting import sort, sort_multiple, argsort, searchsorted
from . import linalg
from .parallel import psum, pmean, pmax, pmin, all_gather, psum_scatter, axis_index
from .control_flow import cond, switch, while_loop, fori_loop, scan, map
from .transfer import device_put
