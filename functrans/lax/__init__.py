"""`ft.lax`: the primitive operations (no dtype promotion, explicit shapes), structured
control flow, collectives over named axes, and the functions built directly on them.

This is a namespace: first-order primitives live in `functrans.primitives` (one module per
family, each primitive with all its rules), control flow and collectives in
`functrans.higher_order`.
"""
from ..primitives.elementwise import (
    neg, log2, log10, asin, acos, atan, sinh, cosh, asinh, acosh, atanh, square, reciprocal,
    abs, sign, floor, ceil, trunc, erf, erfc, erf_inv, lgamma, digamma, polygamma, is_finite,
    isnan, isinf, bitwise_not, add, sub, mul, div, pow, max, min, atan2, hypot, logaddexp, rem,
    remainder, floor_divide, nextafter, eq, ne, lt, le, gt, ge, bitwise_and, bitwise_or,
    bitwise_xor, shift_left, shift_right, select, convert_element_type, stop_gradient,
    population_count, bitwise_count, bessel_i0, bessel_i1, bessel_i0e, bessel_i1e, erfcx, gcd,
    lcm, signbit, real, imag, conj,
    make_complex as complex, select_n,
)
from ..primitives.elementwise_more import clamp, integer_pow
from ..primitives.reductions import (
    reduce_sum, reduce_max, reduce_min, reduce_prod, reduce_and, reduce_or, reduce_xor, argmax,
    argmin, cumsum, cumprod, cummax, cummin,
)
from ..primitives.shape_ops import (
    reshape, transpose, moveaxis, broadcast_in_dim, broadcast_to, rev, concatenate, pad,
    slice_ as slice, slice_in_dim, full_like, full, constant, squeeze, expand_dims, iota,
    bitcast_convert_type,
)
from ..primitives.dot import dot_general, dot, batch_matmul
from ..primitives.conv import (conv_general_dilated, conv_dimension_numbers,
                               ConvDimensionNumbers)
from ..primitives.windowed import reduce_window, reduce_window_max, reduce_window_sum
from ..primitives.indexing import (
    gather_axes, scatter_axes, scatter_add_axes, scatter_mul_axes, scatter_min_axes,
    scatter_max_axes, dynamic_slice,
    dynamic_update_slice, take_along_axis, add_along_axis, wrap_negative,
    dynamic_slice_in_dim, dynamic_index_in_dim, dynamic_update_slice_in_dim,
)
from ..primitives.sorting import sort, sort_multiple, argsort, searchsorted, top_k
from ..primitives.special import (random_gamma_grad, gammainc as igamma,
                                  gammaincc as igammac, betainc, zeta, igamma_grad_a)
from ..primitives.rng import RandomAlgorithm, rng_bit_generator, rng_uniform
from ..primitives.transfer import device_put
from ..higher_order.collectives import (
    psum, pmean, pmax, pmin, all_gather, psum_scatter, ppermute, pshuffle, pbroadcast,
    all_to_all, pswapaxes, axis_index)
from ..higher_order.control_flow import (cond, switch, while_loop, fori_loop, scan, map,
                                         associative_scan)
from ..higher_order.custom_solve import custom_linear_solve, custom_root
from .accuracy import (Tolerance, AccuracyMode, exp, exp2, log, log1p, expm1, sin, cos, tan,
                       tanh, logistic, sqrt, rsqrt, cbrt)
from ..primitives.precision import Precision, DotAlgorithm, DotAlgorithmPreset, PrecisionLike
from .helpers import (
    RoundingMethod, round, reduce_precision, approx_max_k, approx_min_k, axis_size,
    reduce, broadcast, broadcasted_iota, broadcast_shapes, broadcast_to_rank, collapse, conv,
    conv_transpose, conv_with_general_padding, cumlogsumexp, dynamic_update_index_in_dim,
    index_in_dim, index_take, optimization_barrier, padtype_to_pads, shift_right_arithmetic,
    shift_right_logical, sort_key_val, split, stack, tile, unstack,
)
from .gather_scatter import (
    GatherDimensionNumbers, ScatterDimensionNumbers, GatherScatterMode, gather, scatter,
    scatter_add, scatter_sub, scatter_mul, scatter_min, scatter_max, scatter_apply)
from .shapes import (
    ConvGeneralDilatedDimensionNumbers, conv_general_permutations, conv_general_shape_tuple,
    conv_shape_tuple, conv_transpose_shape_tuple, reduce_window_shape_tuple)
from .extras import (
    clz, mulhi, empty, broadcast_like, FftType, fft, platform_dependent, create_token, after_all,
    composite, with_sharding_constraint, DotDimensionNumbers)
from .products import (RaggedDotDimensionNumbers, ragged_dot, ragged_dot_general,
                       conv_general_dilated_patches, conv_general_dilated_local)
from .primitive_objects import *      # noqa: F401,F403 - JAX's `lax.exp_p`, ... names
from . import linalg
