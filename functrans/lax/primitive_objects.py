"""JAX's names for the primitive objects (`lax.exp_p`, `lax.dot_general_p`, ...), for code that
interprets jaxprs: each is the functrans primitive that stages the same operation, so
`eqn.primitive is lax.exp_p` holds in a jaxpr of `fnp.exp`. Their params are functrans's
(`eqn.params` is what `eqn.primitive.bind(*args, **eqn.params)` takes)."""
from ..primitives.elementwise import (
    abs_p, acos_p, acosh_p, add_p, and_p, asin_p, asinh_p, atan_p, atan2_p, atanh_p,
    bessel_i0e_p, bessel_i1e_p, cbrt_p, ceil_p, complex_p, convert_element_type_p, cos_p,
    cosh_p, digamma_p, div_p, eq_p, erf_inv_p, erf_p, erfc_p, exp_p, exp2_p, expm1_p, floor_p,
    ge_p, gt_p, imag_p, is_finite_p, le_p, lgamma_p, log_p, log1p_p, logistic_p, lt_p, max_p,
    min_p, mul_p, ne_p, neg_p, nextafter_p, not_p, or_p, polygamma_p, population_count_p,
    pow_p, real_p, rem_p, round_p, rsqrt_p, shift_left_p, sign_p, sin_p, sinh_p, sqrt_p,
    square_p, stop_gradient_p, sub_p, tan_p, tanh_p, xor_p, conj_p,
)
from ..primitives.elementwise_more import clamp_p, integer_pow_p
from ..primitives.fft import fft_p
from ..primitives.reductions import (
    argmax_p, argmin_p, cummax_p, cummin_p, cumprod_p, cumsum_p, reduce_and_p, reduce_max_p,
    reduce_min_p, reduce_or_p, reduce_prod_p, reduce_sum_p, reduce_xor_p,
)
from ..primitives.shape_ops import (
    bitcast_convert_type_p, broadcast_in_dim_p, concatenate_p, iota_p, pad_p, reshape_p, rev_p,
    slice_p, transpose_p,
)
from ..primitives.dot import dot_general_p
from ..primitives.indexing import (
    dynamic_slice_p, dynamic_update_slice_p, gather_p, scatter_p, scatter_add_p,
    scatter_max_p, scatter_min_p, scatter_mul_p,
)
from ..primitives.windowed import reduce_window_max_p, reduce_window_sum_p
from ..primitives.sorting import sort_p, top_k_p
from ..primitives.special import (gammainc_p as igamma_p, gammaincc_p as igammac_p,
                                  betainc_p as regularized_incomplete_beta_p, zeta_p)
from ..primitives.rng import rng_bit_generator_p, rng_uniform_p
from ..primitives.transfer import device_put_p
from ..higher_order.collectives import (all_gather_p, all_to_all_p, axis_index_p, pmax_p,
                                        pmin_p, ppermute_p, psum_p)
from ..higher_order.control_flow.cond import cond_p
from ..higher_order.control_flow.scan import scan_p
from ..higher_order.control_flow.while_loop import while_p
from ..higher_order.custom_solve import linear_solve_p
from .extras import clz_p
from ..primitives.reductions import cumlogsumexp_p

__all__ = [name for name in dir() if name.endswith("_p")]
