"""Every primitive in functrans.lax (elementwise, reductions, shape_ops, dot, indexing,
sorting, linalg), table-driven: one row per primitive with how to draw its inputs (shapes,
static parameters, values in its well-behaved domain).

For each row, on hypothesis-drawn inputs:
- derivatives: `check_grads(order=2, modes=("fwd", "rev"))` in float64 against finite
  differences (rows marked `nondiff` instead check that the derivative is zero);
- batching: `vmap(f, in_axes)` against a Python loop, with each operand's batch axis drawn
  from first / middle / last / unbatched (at least one batched).
"""
from __future__ import annotations

import importlib
import math
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import functrans as ft
import functrans.numpy as fnp
from functrans import lax, testing as ftst
from functrans.core import Primitive
from functrans.primitives import elementwise as E, reductions as R, shape_ops as S
from functrans.primitives import indexing as I, sorting as SO, linalg as L, linalg_eig as LE
from functrans.primitives import fft as FFT, special as SP, special_more as SM
from functrans.test_util import check_grads

D = importlib.import_module("functrans.primitives.dot")   # `lax.dot` is also a function
EXAMPLES = max(3, settings().max_examples // 5)
F64 = np.float64


class Row:
    """One primitive: `params` draws the static structure (shapes, axes, flags); `build(p)`
    returns `(fn, arg_strategies)`; float args are differentiated, the rest are held fixed.
    Strategies draw inputs in the function's smooth domain (away from kinks and ties).
    `nondiff` rows check for a zero derivative instead of finite differences; rows with
    `derivs=False` (no floating-point input at all) are only batched."""

    def __init__(self, prim, params, build, nondiff=False, derivs=True, name=None):
        self.prim, self.params, self.build = prim, params, build
        self.nondiff, self.derivs = nondiff, derivs
        self.name = name or prim.name

    def __repr__(self):
        return self.name


ROWS = []


def row(prim, params, build, **kw):
    ROWS.append(Row(prim, params, build, **kw))


def floats(shape, low=-2.0, high=2.0, exclude=(), margin=0.1, dtype=F64):
    return ftst.arrays(dtype, shape, low, high, exclude, margin)


@st.composite
def distinct(draw, shape, offset=0.0, step=0.4):
    """Values k * step + offset + [0, 0.1] for distinct k: no ties (max, min, sort are smooth
    there), and arrays drawn with offsets 0 and step / 2 never tie with each other."""
    n = math.prod(shape)
    perm = np.asarray(draw(st.permutations(range(n))), dtype=F64)
    jitter = np.asarray(draw(floats((n,), 0.0, 0.1)))
    return fnp.asarray((perm * step + offset + jitter - 1.0).reshape(shape))


def lattice(shape, offset):
    """Values k + offset for integers k in [-3, 3]."""
    return ints(shape, -3, 3).map(lambda k: fnp.asarray(np.asarray(k, F64) + offset))


def ints(shape, low, high, dtype=np.int64):
    return ftst.integer_arrays(dtype, shape, low, high)


def bools(shape):
    return ftst.boolean_arrays(shape)


# ------------------------------------------------------------------ elementwise rows
UNARY = [  # primitive, domain (low, high), points to keep away from
    (E.neg_p, (-2, 2), ()), (E.exp_p, (-2, 2), ()), (E.exp2_p, (-2, 2), ()),
    (E.log_p, (0.5, 3), ()), (E.log2_p, (0.5, 3), ()), (E.log10_p, (0.5, 3), ()),
    (E.log1p_p, (-0.5, 2), ()), (E.expm1_p, (-2, 2), ()), (E.sin_p, (-3, 3), ()),
    (E.cos_p, (-3, 3), ()), (E.tan_p, (-1.2, 1.2), ()), (E.asin_p, (-0.8, 0.8), ()),
    (E.acos_p, (-0.8, 0.8), ()), (E.atan_p, (-2, 2), ()), (E.sinh_p, (-2, 2), ()),
    (E.cosh_p, (-2, 2), ()), (E.tanh_p, (-2, 2), ()), (E.asinh_p, (-2, 2), ()),
    (E.acosh_p, (1.2, 3), ()), (E.atanh_p, (-0.8, 0.8), ()), (E.sqrt_p, (0.5, 3), ()),
    (E.rsqrt_p, (0.5, 3), ()), (E.cbrt_p, (-2, 2), (0,)), (E.square_p, (-2, 2), ()),
    (E.reciprocal_p, (-2, 2), (0,)), (E.abs_p, (-2, 2), (0,)), (E.logistic_p, (-3, 3), ()),
    (E.erf_p, (-2, 2), ()), (E.erfc_p, (-2, 2), ()), (E.erf_inv_p, (-0.8, 0.8), ()),
    (E.lgamma_p, (0.5, 3), ()), (E.digamma_p, (0.5, 3), ()), (E.bessel_i0_p, (-2, 2), ()),
    (E.bessel_i1_p, (-2, 2), ()), (E.bessel_i0e_p, (-3, 3), (0,)),
    (E.bessel_i1e_p, (-3, 3), (0,)), (E.erfcx_p, (-1.5, 2), ()),
]
for _p, (_lo, _hi), _ex in UNARY:
    row(_p, ftst.shapes(),
        lambda s, p=_p, lo=_lo, hi=_hi, ex=_ex: (p.bind, [floats(s, lo, hi, ex, 0.3)]))

row(E.polygamma_p, ftst.shapes(),
    lambda s: (lambda x: E.polygamma_p.bind(1, x), [floats(s, 0.5, 3)]))

NONDIFF_UNARY = [  # primitive, input kind
    (E.sign_p, "float"), (E.floor_p, "float"), (E.ceil_p, "float"), (E.round_p, "float"),
    (E.trunc_p, "float"), (E.is_finite_p, "float"), (E.isnan_p, "float"),
    (E.isinf_p, "float"), (E.not_p, "int"), (E.signbit_p, "float"),
    (E.population_count_p, "int"),
]


def _any_kind(kind, s):
    return {"float": floats(s, -3, 3), "int": ints(s, -20, 20), "bool": bools(s)}[kind]


for _p, _k in NONDIFF_UNARY:
    row(_p, ftst.shapes(), lambda s, p=_p, k=_k: (p.bind, [_any_kind(k, s)]), nondiff=True,
        derivs=_k == "float")

# float64 read as as wide and as narrower integers (a last axis appears), and int32 pairs
# read back as float64 (the last axis goes)
row(S.bitcast_convert_type_p, st.tuples(ftst.shapes(), st.sampled_from(["int64", "uint16"])),
    lambda p: (lambda x: S.bitcast_convert_type_p.bind(x, new_dtype=np.dtype(p[1])),
               [floats(p[0])]), nondiff=True)
row(S.bitcast_convert_type_p, ftst.shapes(),
    lambda s: (lambda x: S.bitcast_convert_type_p.bind(x, new_dtype=np.dtype(F64)),
               [ints(tuple(s) + (2,), -1000, 1000, np.int32)]),
    derivs=False, name="bitcast_convert_type(int32 pairs)")


BINARY = [  # primitive, domain of x, domain of y, y exclusions
    (E.add_p, (-2, 2), (-2, 2), ()), (E.sub_p, (-2, 2), (-2, 2), ()),
    (E.mul_p, (-2, 2), (-2, 2), ()), (E.div_p, (-2, 2), (-2, 2), (0,)),
    (E.pow_p, (0.5, 2), (-2, 2), ()), (E.atan2_p, (0.5, 2), (-2, 2), ()),
    (E.hypot_p, (0.5, 2), (0.5, 2), ()), (E.logaddexp_p, (-2, 2), (-2, 2), ()),
]
for _p, _dx, _dy, _ey in BINARY:
    row(_p, ftst.broadcastable_shapes(2),
        lambda s, p=_p, dx=_dx, dy=_dy, ey=_ey: (p.bind, [floats(s[0], *dx),
                                                          floats(s[1], *dy, ey, 0.3)]))


for _p in (E.max_p, E.min_p):                   # x and y never tie (the kink)
    row(_p, ftst.broadcastable_shapes(2),
        lambda s, p=_p: (p.bind, [lattice(s[0], 0.25), lattice(s[1], 0.75)]))


def _fractional(shape):
    """k + f with f in [0.2, 0.8]: x / y stays away from the jumps of fmod/remainder when
    y is within 2% of 1."""
    return st.tuples(ints(shape, -3, 3), floats(shape, 0.2, 0.8)).map(
        lambda kf: fnp.asarray(np.asarray(kf[0], F64) + np.asarray(kf[1])))


for _p in (E.rem_p, E.remainder_p):
    row(_p, ftst.broadcastable_shapes(2),
        lambda s, p=_p: (p.bind, [_fractional(s[0]), floats(s[1], 0.98, 1.02)]))

NONDIFF_BINARY = [
    (E.floor_divide_p, "float"), (E.nextafter_p, "float"), (E.eq_p, "float"),
    (E.ne_p, "float"), (E.lt_p, "float"), (E.le_p, "float"), (E.gt_p, "float"),
    (E.ge_p, "float"), (E.and_p, "int"), (E.or_p, "int"), (E.xor_p, "int"),
    (E.gcd_p, "int"), (E.lcm_p, "int"),
]
for _p, _k in NONDIFF_BINARY:
    row(_p, ftst.broadcastable_shapes(2),
        lambda s, p=_p, k=_k: (p.bind, [_any_kind(k, s[0]), _any_kind(k, s[1])]),
        nondiff=True, derivs=_k == "float")
for _p in (E.shift_left_p, E.shift_right_p):
    row(_p, ftst.broadcastable_shapes(2),
        lambda s, p=_p: (p.bind, [ints(s[0], -20, 20), ints(s[1], 0, 5)]), nondiff=True,
        derivs=False)

row(E.select_p, ftst.broadcastable_shapes(3),
    lambda s: (E.select_p.bind, [bools(s[0]), floats(s[1]), floats(s[2])]))
row(E.convert_element_type_p, ftst.shapes(),
    lambda s: (lambda x: E.convert_element_type_p.bind(x, new_dtype=np.dtype(F64)),
               [floats(s, dtype=np.float32)]), name="convert_element_type f32->f64")
ROWS.append(Row(E.convert_element_type_p, ftst.shapes(),
                lambda s: (lambda x: E.convert_element_type_p.bind(x, new_dtype=np.dtype(F64)),
                           [ints(s, -5, 5)]), nondiff=True, derivs=False,
                name="convert_element_type i64->f64"))
row(E.stop_gradient_p, ftst.shapes(), lambda s: (E.stop_gradient_p.bind, [floats(s)]),
    nondiff=True)


def _complex(x, y):
    return E.add_p.bind(E.convert_element_type_p.bind(x, new_dtype=np.dtype(np.complex128)),
                        E.mul_p.bind(E.convert_element_type_p.bind(
                            y, new_dtype=np.dtype(np.complex128)), 1j))


# complex parts, differentiated as real functions of the real and imaginary parts (conj's
# complex result is seen through a complex product's imaginary part)
row(E.real_p, ftst.broadcastable_shapes(2),
    lambda s: (lambda x, y: E.real_p.bind(_complex(x, y)), [floats(s[0]), floats(s[1])]))
row(E.imag_p, ftst.broadcastable_shapes(2),
    lambda s: (lambda x, y: E.imag_p.bind(_complex(x, y)), [floats(s[0]), floats(s[1])]))
row(E.conj_p, ftst.broadcastable_shapes(2),
    lambda s: (lambda x, y: E.imag_p.bind(E.mul_p.bind(E.conj_p.bind(_complex(x, y)),
                                                       0.5 - 2j)),
               [floats(s[0]), floats(s[1])]))


# ------------------------------------------------------------------ reductions
@st.composite
def shape_and_axes(draw, min_dims=0):
    shape = draw(ftst.shapes(min_dims=min_dims))
    axes = tuple(sorted(draw(st.sets(st.integers(0, max(len(shape) - 1, 0)),
                                     max_size=len(shape))))) if shape else ()
    return shape, axes


def _reducer(prim, values=floats):
    def build(p):
        shape, axes = p
        return (lambda x: prim.bind(x, axes=axes)), [values(shape)]
    return build


row(R.reduce_sum_p, shape_and_axes(), _reducer(R.reduce_sum_p))
# (|x| <= 1.25: a product of dozens of 2s reaches 2**30, and the finite differences'
# truncation error with it)
row(R.reduce_prod_p, shape_and_axes(),
    _reducer(R.reduce_prod_p, lambda s: floats(s, -1.25, 1.25)))
row(R.reduce_max_p, shape_and_axes(), _reducer(R.reduce_max_p, distinct))
row(R.reduce_min_p, shape_and_axes(), _reducer(R.reduce_min_p, distinct))
for _p in (R.reduce_and_p, R.reduce_or_p, R.reduce_xor_p):
    row(_p, shape_and_axes(), _reducer(_p, bools), nondiff=True, derivs=False)
    ROWS.append(Row(_p, shape_and_axes(), _reducer(_p, lambda s: ints(s, -40, 40)),
                    nondiff=True, derivs=False, name=f"{_p.name} int64"))


@st.composite
def shape_and_axis(draw, min_dims=1):
    shape = draw(ftst.shapes(min_dims=min_dims))
    return shape, draw(st.integers(0, len(shape) - 1)), draw(st.booleans())


for _p in (R.argmax_p, R.argmin_p):
    row(_p, shape_and_axis(),
        lambda p_, prim=_p: (lambda x: prim.bind(x, axis=p_[1], index_dtype=np.dtype(np.int64)),
                             [floats(p_[0])]), nondiff=True)


def _scan(prim, values=floats):
    def build(p):
        shape, axis, reverse = p
        return (lambda x: prim.bind(x, axis=axis, reverse=reverse)), [values(shape)]
    return build


row(R.cumsum_p, shape_and_axis(), _scan(R.cumsum_p))
row(R.cumprod_p, shape_and_axis(), _scan(R.cumprod_p))
row(R.cummax_p, shape_and_axis(), _scan(R.cummax_p, distinct))
row(R.cummin_p, shape_and_axis(), _scan(R.cummin_p, distinct))
row(R.cumlogsumexp_p, shape_and_axis(), _scan(R.cumlogsumexp_p))


# ------------------------------------------------------------------ structural
@st.composite
def reshape_params(draw):
    shape = draw(ftst.shapes())
    size = math.prod(shape)
    options = [(size,), (1, size), tuple(reversed(shape)), shape + (1,)]
    return shape, draw(st.sampled_from(options))


row(S.reshape_p, reshape_params(),
    lambda p: (lambda x: S.reshape_p.bind(x, new_sizes=p[1]), [floats(p[0])]))


@st.composite
def transpose_params(draw):
    shape = draw(ftst.shapes(min_dims=1))
    return shape, tuple(draw(st.permutations(range(len(shape)))))


row(S.transpose_p, transpose_params(),
    lambda p: (lambda x: S.transpose_p.bind(x, permutation=p[1]), [floats(p[0])]))


@st.composite
def bid_params(draw):
    out = tuple(draw(st.lists(st.integers(1, 3), max_size=3)))
    dims = tuple(sorted(draw(st.sets(st.sampled_from(range(len(out))), max_size=len(out)))
                        if out else ()))
    operand = tuple(out[d] if draw(st.booleans()) else 1 for d in dims)
    return operand, out, dims


row(S.broadcast_in_dim_p, bid_params(),
    lambda p: (lambda x: S.broadcast_in_dim_p.bind(x, shape=p[1], broadcast_dimensions=p[2]),
               [floats(p[0])]))
row(S.rev_p, shape_and_axes(min_dims=1),
    lambda p: (lambda x: S.rev_p.bind(x, dimensions=p[1]), [floats(p[0])]))


@st.composite
def concat_params(draw):
    shape = draw(ftst.shapes(min_dims=1))
    axis = draw(st.integers(0, len(shape) - 1))
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    return [shape[:axis] + (n,) + shape[axis + 1:] for n in sizes], axis


row(S.concatenate_p, concat_params(),
    lambda p: (lambda *xs: S.concatenate_p.bind(*xs, dimension=p[1]),
               [floats(s) for s in p[0]]))


@st.composite
def pad_params(draw):
    shape = draw(ftst.shapes(min_dims=1, max_dims=2))
    config = []
    for d in shape:
        interior = draw(st.integers(0, 2))
        core = d + (d - 1) * interior
        lo = draw(st.integers(-min(core - 1, 2), 2))
        hi = draw(st.integers(-min(core + lo - 1, 2), 2))
        config.append((lo, hi, interior))
    return shape, tuple(config)


row(S.pad_p, pad_params(),
    lambda p: (lambda x, v: S.pad_p.bind(x, v, padding_config=p[1]),
               [floats(p[0]), floats(())]))


@st.composite
def slice_params(draw):
    shape = draw(ftst.shapes(min_dims=1))
    starts, limits, strides = [], [], []
    for d in shape:
        s = draw(st.integers(0, d - 1))
        starts.append(s)
        limits.append(draw(st.integers(s + 1, d)))
        strides.append(draw(st.integers(1, 2)))
    return shape, tuple(starts), tuple(limits), tuple(strides)


row(S.slice_p, slice_params(),
    lambda p: (lambda x: S.slice_p.bind(x, start_indices=p[1], limit_indices=p[2],
                                        strides=p[3]), [floats(p[0])]))
row(S.iota_p, ftst.shapes(),     # (no operands: added to one, which is batched)
    lambda s: (lambda x: E.add_p.bind(x, S.iota_p.bind(
        dtype=np.dtype(F64), shape=s[-1:] or (1,), dimension=0, sharding=None)), [floats(s)]))
row(S.full_like_p, ftst.shapes(),
    lambda s: (lambda x: S.full_like_p.bind(x, fill_value=2.0, dtype=None, shape=None),
               [floats(s)]), nondiff=True)


# ------------------------------------------------------------------ dot_general
@st.composite
def dot_params(draw):
    nb, nc, nl, nr = (draw(st.integers(0, n)) for n in (1, 2, 2, 2))
    size = st.integers(1, 3)
    b = [draw(size) for _ in range(nb)]
    c = [draw(size) for _ in range(nc)]
    lf = [draw(size) for _ in range(nl)]
    rf = [draw(size) for _ in range(nr)]
    lperm = draw(st.permutations(range(nb + nc + nl)))
    rperm = draw(st.permutations(range(nb + nc + nr)))
    lshape = [None] * len(lperm)
    rshape = [None] * len(rperm)
    lroles = b + c + lf
    rroles = b + c + rf
    for pos, role in zip(lperm, range(len(lroles))):
        lshape[pos] = lroles[role]
    for pos, role in zip(rperm, range(len(rroles))):
        rshape[pos] = rroles[role]
    dn = ((tuple(lperm[nb:nb + nc]), tuple(rperm[nb:nb + nc])),
          (tuple(lperm[:nb]), tuple(rperm[:nb])))
    return tuple(lshape), tuple(rshape), dn


row(D.dot_general_p, dot_params(),
    lambda p: (lambda x, y: D.dot_general_p.bind(x, y, dimension_numbers=p[2]),
               [floats(p[0]), floats(p[1])]))


# ------------------------------------------------------------------ indexing
@st.composite
def gather_params(draw):
    shape = draw(ftst.shapes(min_dims=1))
    axes = tuple(sorted(draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
    batch = draw(ftst.shapes(max_dims=2))
    mode = draw(st.sampled_from(["clip", "fill", "promise_in_bounds"]))
    return shape, axes, batch, mode


def _index_strategies(shape, axes, batch, mode):
    slack = 0 if mode == "promise_in_bounds" else 2
    return [ints(batch, -slack, shape[a] - 1 + slack) for a in axes]


row(I.gather_p, gather_params(),
    lambda p: (lambda x, *idx: I.gather_p.bind(x, *idx, axes=p[1], mode=p[3]),
               [floats(p[0])] + _index_strategies(*p)))


@st.composite
def scatter_params(draw, modes=("clip", "drop", "promise_in_bounds")):
    shape, axes, batch, _ = draw(gather_params())
    mode = draw(st.sampled_from(modes))
    rest = tuple(d for i, d in enumerate(shape) if i not in axes)
    return shape, axes, batch, mode, batch + rest


def _scatter_build(prim, extremum=False, nonzero_updates=False):
    def build(p):
        shape, axes, batch, mode, ushape = p
        x, u = (distinct(shape), distinct(ushape, offset=0.2)) if extremum else \
            (floats(shape), floats(ushape, exclude=(0,) if nonzero_updates else ()))
        return (lambda x, u, *idx: prim.bind(x, u, *idx, axes=axes, mode=mode)), \
            [x, u] + _index_strategies(shape, axes, batch, mode)
    return build


row(I.scatter_p, scatter_params(), _scatter_build(I.scatter_p))
row(I.scatter_add_p, scatter_params(), _scatter_build(I.scatter_add_p))
# second derivatives of scatter_mul at exactly-zero updates are not exact (documented)
row(I.scatter_mul_p, scatter_params(), _scatter_build(I.scatter_mul_p, nonzero_updates=True))
row(I.scatter_min_p, scatter_params(), _scatter_build(I.scatter_min_p, extremum=True))
row(I.scatter_max_p, scatter_params(), _scatter_build(I.scatter_max_p, extremum=True))


@st.composite
def window_params(draw):
    shape = draw(ftst.shapes(min_dims=1))
    sizes = tuple(draw(st.integers(0, d)) for d in shape)
    return shape, sizes


row(I.dynamic_slice_p, window_params(),
    lambda p: (lambda x, *starts: I.dynamic_slice_p.bind(x, *starts, slice_sizes=p[1]),
               [floats(p[0])] + [ints((), -2, d + 1) for d in p[0]]))
row(I.dynamic_update_slice_p, window_params(),
    lambda p: (I.dynamic_update_slice_p.bind,
               [floats(p[0]), floats(p[1])] + [ints((), -2, d + 1) for d in p[0]]))


# ------------------------------------------------------------------ sorting
@st.composite
def sort_params(draw):
    shape, axis, _ = draw(shape_and_axis())
    return shape, axis, draw(st.integers(1, 2))


def _sort_build(p):
    shape, axis, n = p
    return (lambda *xs: SO.sort_p.bind(*xs, dimension=axis)), \
        [distinct(shape)] + [floats(shape) for _ in range(n - 1)]


row(SO.sort_p, sort_params(), _sort_build)


@st.composite
def top_k_params(draw):
    shape, axis, _ = draw(shape_and_axis())
    return shape, axis, draw(st.integers(0, shape[axis]))


row(SO.top_k_p, top_k_params(),      # its values (the indices are integers)
    lambda p: ((lambda x: SO.top_k_p.bind(x, k=p[2], axis=p[1])[0]), [distinct(p[0])]))
row(SO.searchsorted_p, st.tuples(st.integers(1, 5), ftst.shapes(), st.booleans()),
    lambda p: (lambda a, v: SO.searchsorted_p.bind(fnp.sort(a), v,
                                                   side="left" if p[2] else "right"),
               [floats((p[0],)), floats(p[1])]), nondiff=True)


# ------------------------------------------------------------------ linear algebra
def _sign_fixed(u, *others):
    """Fix the sign ambiguity of eigen/singular vectors: first row of u positive."""
    sign = lax.sign(u[..., :1, :])
    return (lax.mul(u, sign),) + tuple(lax.mul(o, sign) for o in others)


def _stack_of(strategy_fn, batch, *args):
    if not batch:
        return strategy_fn(*args)
    return st.lists(strategy_fn(*args), min_size=batch[0], max_size=batch[0]).map(
        lambda ms: fnp.stack(ms))


matrix_sizes = st.tuples(st.integers(1, 4), st.sampled_from([(), (2,)]))


@st.composite
def triangular(draw, n):
    """Matrices with a well-conditioned diagonal; the solve reads one triangle, so the
    other holds arbitrary values (their derivative must be zero)."""
    a = np.array(draw(floats((n, n), -0.5, 0.5)))
    a[np.diag_indices(n)] = np.asarray(draw(floats((n,), 1.0, 2.0))) * \
        draw(st.sampled_from([1, -1]))
    return fnp.asarray(a)


@st.composite
def tri_params(draw):
    n, batch = draw(matrix_sizes)
    return n, batch, draw(st.integers(1, 3)), draw(st.booleans()), draw(st.booleans()), \
        draw(st.booleans())


def _tri_build(p):
    n, batch, k, lower, trans, unit = p
    return (lambda a, b: L.triangular_solve_p.bind(a, b, lower=lower, transpose_a=trans,
                                                   unit_diagonal=unit),
            [_stack_of(triangular, batch, n), floats(batch + (n, k))])


row(L.triangular_solve_p, tri_params(), _tri_build)
row(L.cholesky_p, matrix_sizes,
    lambda p: (L.cholesky_p.bind, [_stack_of(ftst.spd_matrices, p[1], p[0])]))


@st.composite
def pivoting_matrices(draw, n):
    """Well-conditioned matrices whose partial-pivoting order is stable under small
    perturbations (distinct pivot magnitudes), with the pivots permuted."""
    a = np.asarray(draw(floats((n, n), -0.3, 0.3)))
    a = a + np.diag(1.0 + np.arange(n) * 0.7)
    perm = np.asarray(draw(st.permutations(range(n))))
    return fnp.asarray(a[perm])


row(L.lu_p, matrix_sizes,
    lambda p: (lambda a: L.lu_p.bind(a)[0], [_stack_of(pivoting_matrices, p[1], p[0])]))
ROWS.append(Row(L.lu_p, matrix_sizes,
                lambda p: (lambda a: tuple(L.lu_p.bind(a)),
                           [_stack_of(pivoting_matrices, p[1], p[0])]),
                derivs=False, name="lu (all outputs)"))
row(L.eigh_p, matrix_sizes,
    lambda p: (lambda a: (lambda w, v: (w,) + _sign_fixed(v))(*L.eigh_p.bind(a)),
               [_stack_of(ftst.symmetric_matrices, p[1], p[0])]))


@st.composite
def svd_params(draw):
    m, n = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return m, n, draw(st.sampled_from([(), (2,)])), draw(st.booleans())


def _svd_build(p):
    m, n, batch, compute_uv = p

    def f(a):
        outs = L.svd_p.bind(a, full_matrices=False, compute_uv=compute_uv)
        if not compute_uv:
            return outs[0]
        s, u, vt = outs
        u, vt_t = _sign_fixed(u, S.moveaxis(vt, -1, -2))
        return s, u, vt_t
    return f, [_stack_of(ftst.well_conditioned_matrices, batch, m, n)]


row(L.svd_p, svd_params(), _svd_build)
row(L.qr_p, svd_params(),
    lambda p: (lambda a: tuple(L.qr_p.bind(a, pivoting=False, full_matrices=False)),
               [_stack_of(ftst.well_conditioned_matrices, p[2], p[0], p[1])]))
# geqrf has no derivatives (asking raises: tests/test_api_gaps.py): batched only
row(L.geqrf_p, svd_params(),
    lambda p: (lambda a: tuple(L.geqrf_p.bind(a)),
               [_stack_of(ftst.well_conditioned_matrices, p[2], p[0], p[1])]), derivs=False)


def _eigvals_parts(a):
    """Power sums of the eigenvalues: smooth, and blind to the order LAPACK returns them in
    (which can change under a perturbation)."""
    w, = LE.eig_p.bind(a, compute_left_eigenvectors=False, compute_right_eigenvectors=False,
                       enable_eigvec_derivs=False)
    sums = [R.reduce_sum(E.pow(w, float(k)), (len(w.shape) - 1,))
            for k in range(1, w.shape[-1] + 1)]
    return tuple(E.real_p.bind(p) for p in sums) + tuple(E.imag_p.bind(p) for p in sums)


@st.composite
def separated_spectrum(draw, n):
    """Non-symmetric matrices with well separated eigenvalues near 1, 1.7, 2.4, ... (so
    LAPACK returns them in an order that small perturbations keep)."""
    a = np.asarray(draw(floats((n, n), -0.2, 0.2)))
    return fnp.asarray(a + np.diag(1.0 + np.arange(n) * 0.7))


# eigenvalues to second order; eigenvectors (first-order checked in tests/test_jax_idioms.py)
# only batched here, since LAPACK's normalization is not twice differentiable everywhere
row(LE.eig_p, matrix_sizes,
    lambda p: (_eigvals_parts, [_stack_of(separated_spectrum, p[1], p[0])]))
ROWS.append(Row(LE.eig_p, matrix_sizes,
                lambda p: (lambda a: tuple(LE.eig_p.bind(a, compute_left_eigenvectors=True,
                                                         compute_right_eigenvectors=True,
                                                         enable_eigvec_derivs=True)),
                           [_stack_of(separated_spectrum, p[1], p[0])]),
                derivs=False, name="eig (all outputs)"))


def _complex_parts(a, b):
    z = E.complex_p.bind(a, b)
    z = E.mul(z, z)
    return E.real_p.bind(z), E.imag_p.bind(z)


row(E.complex_p, ftst.broadcastable_shapes(2),
    lambda p: (_complex_parts, [floats(p[0]), floats(p[1])]))

_FFT_KINDS = st.sampled_from(["fft", "ifft", "rfft", "irfft"])


def _fft_build(p):
    kind, n, lead = p
    lengths = (n,)
    if kind == "irfft":
        def f(a, b):
            out = FFT.fft_p.bind(E.complex_p.bind(a, b), fft_type=kind, fft_lengths=lengths)
            return E.mul(out, out)
        shape = lead + (n // 2 + 1,)
        return f, [floats(shape), floats(shape)]
    if kind == "rfft":
        def f(a):
            out = FFT.fft_p.bind(a, fft_type=kind, fft_lengths=lengths)
            return E.real_p.bind(E.mul(out, out)), E.imag_p.bind(out)
        return f, [floats(lead + (n,))]

    def f(a, b):
        out = FFT.fft_p.bind(E.complex_p.bind(a, b), fft_type=kind, fft_lengths=lengths)
        return E.real_p.bind(E.mul(out, out)), E.imag_p.bind(out)
    return f, [floats(lead + (n,)), floats(lead + (n,))]


row(FFT.fft_p, st.tuples(_FFT_KINDS, st.integers(1, 5), st.sampled_from([(), (2,)])),
    _fft_build)


def _special_row(prim, nshape, low, high):
    """Shape parameters fixed (their derivatives are not implemented), the last argument
    drawn in (low, high)."""
    def build(shape):
        shapes = [np.full(shape, 0.8 + 0.7 * k) for k in range(nshape)]
        return (lambda x: prim.bind(*[fnp.asarray(c) for c in shapes], x),
                [floats(shape, low, high)])
    row(prim, ftst.shapes(max_dims=2), build)


_special_row(SP.gammainc_p, 1, 0.2, 3.0)
_special_row(SP.gammaincc_p, 1, 0.2, 3.0)
_special_row(SP.gammaincinv_p, 1, 0.1, 0.9)
_special_row(SP.betainc_p, 2, 0.1, 0.9)
_special_row(SP.betaincinv_p, 2, 0.1, 0.9)
_special_row(SP.random_gamma_grad_p, 1, 0.2, 3.0)
row(SP.zeta_p, ftst.shapes(max_dims=2),         # (the exponent fixed above 1, q drawn)
    lambda s: (lambda q: SP.zeta_p.bind(fnp.full(s, 2.5, F64), q), [floats(s, 0.5, 3.0)]))


def _fixed_row(prim, fixed, low, high, name=None):
    """The leading arguments fixed at the values `fixed` (derivatives in them are refused),
    the last one drawn in (low, high)."""
    def build(shape):
        consts = [fnp.full(shape, c, F64) for c in fixed]
        return (lambda x: prim.bind(*consts, x), [floats(shape, low, high)])
    row(prim, ftst.shapes(max_dims=2), build, name=name)


_fixed_row(SP.exp1_p, (), 0.2, 3.0)
_fixed_row(SP.expi_p, (), 0.2, 3.0)
_fixed_row(SP.expn_p, (2.0,), 0.2, 3.0)
_fixed_row(SM.spence_p, (), 0.2, 3.0)
_fixed_row(SM.dawsn_p, (), -2.0, 2.0)
_fixed_row(SM.fresnel_s_p, (), -2.0, 2.0)
_fixed_row(SM.fresnel_c_p, (), -2.0, 2.0)
_fixed_row(SM.sici_si_p, (), -3.0, 3.0)
_fixed_row(SM.sici_ci_p, (), 0.2, 3.0)
row(SM.hyp1f1_p, ftst.shapes(max_dims=2),        # every argument drawn
    lambda s: (SM.hyp1f1_p.bind, [floats(s, 0.3, 1.2), floats(s, 1.3, 2.0),
                                  floats(s, -1.5, 1.5)]))
row(SM.hyp2f1_p, ftst.shapes(max_dims=2),
    lambda s: (SM.hyp2f1_p.bind, [floats(s, 0.3, 1.2), floats(s, -0.8, -0.2),
                                  floats(s, 1.3, 2.0), floats(s, -0.6, 0.6)]))
for _series_p, _lows, _highs in ((SM.hyp1f1_series_p, (0.3, 1.3, -1.5), (1.2, 2.0, 1.5)),
                                 (SM.hyp2f1_series_p, (0.3, -0.8, 1.3, -0.6),
                                  (1.2, -0.2, 2.0, 0.6))):
    row(_series_p, st.tuples(ftst.shapes(max_dims=2),
                             st.lists(st.integers(0, 1), min_size=len(_lows) - 1,
                                      max_size=len(_lows) - 1).map(tuple),
                             st.integers(0, 1)),
        lambda p, prim=_series_p, lows=_lows, highs=_highs: (
            partial(prim.bind, orders=p[1], x_order=p[2]),
            [floats(p[0], lo, hi) for lo, hi in zip(lows, highs)]))
_fixed_row(SM.jv_p, (2.0,), 0.3, 4.0)
_fixed_row(SM.sph_legendre_p, (3.0, 1.0), 0.2, 2.9)
row(SM.owens_t_p, ftst.shapes(max_dims=2),      # both arguments drawn
    lambda s: (SM.owens_t_p.bind, [floats(s, -2.0, 2.0), floats(s, -1.5, 1.5)]))
row(SM.wofz_p, ftst.shapes(max_dims=2),          # complex: its real and imaginary parts drawn
    lambda s: (lambda a, b: (lambda w: (E.real_p.bind(w), E.imag_p.bind(w)))(
        SM.wofz_p.bind(E.complex_p.bind(a, b))), [floats(s, -2.0, 2.0), floats(s, 0.1, 2.0)]))


# ================================================================== the tests
DIFF_ROWS = [r for r in ROWS if r.derivs and not r.nondiff]
NONDIFF_ROWS = [r for r in ROWS if r.derivs and r.nondiff]
_SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                     suppress_health_check=[HealthCheck.filter_too_much,
                                            HealthCheck.too_slow])


def _draw_case(r, data):
    """Draw a row's inputs; return the function of its float arguments (the others held
    fixed) and those arguments."""
    fn, strategies = r.build(data.draw(r.params, label="params"))
    args = [data.draw(s, label=f"arg{i}") for i, s in enumerate(strategies)]
    diff = [i for i, a in enumerate(args) if np.asarray(a).dtype.kind == "f"]

    def g(*d):
        full = list(args)
        for i, v in zip(diff, d):
            full[i] = v
        return fn(*full)
    return g, [args[i] for i in diff]


@pytest.mark.parametrize("r", DIFF_ROWS, ids=repr)
@_SETTINGS
@given(data=st.data())
def test_derivatives_match_finite_differences(r, data):
    g, primals = _draw_case(r, data)
    check_grads(g, primals, order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("r", NONDIFF_ROWS, ids=repr)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # e.g. floor_divide by a drawn 0
@_SETTINGS
@given(data=st.data())
def test_nondifferentiable_outputs_have_zero_derivative(r, data):
    g, primals = _draw_case(r, data)
    out = g(*primals)
    _, t_out = ft.jvp(g, tuple(primals), tuple(fnp.ones_like(p) for p in primals))
    t = np.asarray(t_out)
    assert t.dtype == ft.dtypes.float0 or not np.any(t), f"{r.name}: nonzero tangent {t}"
    if np.asarray(out).dtype.kind == "f":
        _, pullback = ft.vjp(g, *primals)
        for c in pullback(fnp.ones_like(out)):
            assert not np.any(np.asarray(c)), f"{r.name}: nonzero cotangent"


def _close(a, b):
    ft.tree_map(lambda x, y: np.testing.assert_allclose(
        np.asarray(x).astype(np.float64), np.asarray(y).astype(np.float64),
        rtol=1e-9, atol=1e-12), a, b)


@pytest.mark.parametrize("r", ROWS, ids=repr)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@_SETTINGS
@given(data=st.data())
def test_batching_matches_a_loop(r, data):
    fn, strategies = r.build(data.draw(r.params, label="params"))
    size = data.draw(st.integers(1, 3), label="batch size")
    samples = [[data.draw(s, label=f"arg{i}[{b}]") for b in range(size)]
               for i, s in enumerate(strategies)]
    in_axes = []
    for i, per in enumerate(samples):
        rank = np.ndim(np.asarray(per[0]))
        in_axes.append(data.draw(st.sampled_from([None] + list(range(rank + 1))),
                                 label=f"in_axes[{i}]"))
    if all(a is None for a in in_axes):
        in_axes[0] = 0
    args = [per[0] if ax is None else fnp.stack(per, axis=ax)
            for per, ax in zip(samples, in_axes)]
    expected = [fn(*[per[0] if ax is None else per[b] for per, ax in zip(samples, in_axes)])
                for b in range(size)]
    expected = ft.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *expected)
    got = ft.vmap(fn, in_axes=tuple(in_axes))(*args)
    _close(got, expected)


def test_every_primitive_has_a_row_and_all_rules():
    """The table covers every primitive defined in these modules, each with jvp, a reverse
    rule (vjp, or reverse mode by transposing jvp) and a batching rule."""
    names = set()
    for mod in ("elementwise", "reductions", "shape_ops", "dot", "indexing", "sorting",
                "linalg", "linalg_eig", "fft", "special", "special_more"):
        m = importlib.import_module(f"functrans.primitives.{mod}")
        for v in vars(m).values():
            if isinstance(v, Primitive):
                names.add(v.name)
                reverse = v.vjp is not None or v.reverse_by_transposing_jvp is not None
                assert v.jvp is not None and reverse and v.batch is not None, v.name
    covered = {r.prim.name for r in ROWS}
    assert names - covered == set()
    assert len(names) >= 115


def test_python_scalars_alone_compute_in_the_default_dtype_as_jax():
    """`lax.sin(1.0)` is float32 (it was a float64 that widened the float32 arrays it met);
    mixed scalars take the widest kind; NumPy scalars keep their dtype."""
    assert lax.sin(1.0).dtype == np.float32 and float(lax.sin(1.0)) == np.sin(np.float32(1.0))
    assert lax.add(1, 2.0).dtype == np.float32 and lax.mul(2, 3).dtype == np.int64
    assert lax.lt(1.0, 2).dtype == np.bool_
    assert lax.broadcast(1.0, (2,)).dtype == lax.expand_dims(1.0, (0,)).dtype == np.float32
    x = fnp.ones(3, np.float32)
    assert (x * lax.exp(2.0)).dtype == np.float32
    assert ft.jit(lambda: lax.sin(1.0))().dtype == np.float32
    assert ft.jit(lambda t: lax.cos(t) * lax.sin(0.5))(x).dtype == np.float32
    assert lax.sin(np.float64(1.0)).dtype == np.float64
    assert float(ft.grad(lax.sin)(1.0)) == pytest.approx(np.cos(1.0), rel=1e-6)


def test_bitcast_convert_type_reads_the_bits_as_jax():
    x = np.array([1.0, -2.5, np.inf], np.float32)
    np.testing.assert_array_equal(np.asarray(lax.bitcast_convert_type(x, np.int32)),
                                  x.view(np.int32))
    wide = lax.bitcast_convert_type(x, np.uint8)
    assert wide.shape == (3, 4)
    np.testing.assert_array_equal(np.asarray(wide), x.view(np.uint8).reshape(3, 4))
    np.testing.assert_array_equal(np.asarray(lax.bitcast_convert_type(wide, np.float32)), x)
    np.testing.assert_array_equal(
        np.asarray(ft.jit(lambda a: lax.bitcast_convert_type(a, np.uint16))(x)),
        x.view(np.uint16).reshape(3, 2))
    with pytest.raises(ValueError, match="last axis of 4"):
        lax.bitcast_convert_type(np.ones(3, np.uint8), np.float32)
    with pytest.raises(TypeError, match="integers and floats"):
        lax.bitcast_convert_type(np.ones(3, np.bool_), np.uint8)
    # Array.view, NumPy's rule: the last axis grows or shrinks
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    for dt in (np.int32, np.uint8, np.uint16):
        np.testing.assert_array_equal(np.asarray(fnp.asarray(a).view(dt)), a.view(dt))
        np.testing.assert_array_equal(np.asarray(ft.jit(lambda v: v.view(dt))(a)), a.view(dt))
    np.testing.assert_array_equal(np.asarray(fnp.asarray(a.view(np.uint8)).view(np.float32)), a)
    with pytest.raises(ValueError, match="multiple of 4"):
        fnp.asarray(np.ones(6, np.uint8)).view(np.float32)


@pytest.mark.parametrize("name", ["erf", "erfc", "erf_inv", "lgamma", "digamma", "bessel_i0",
                                  "bessel_i1", "bessel_i0e", "bessel_i1e", "erfcx", "logistic"])
def test_special_functions_keep_float16_eagerly_as_under_jit(name):
    """SciPy returns float32 or float64 for float16 input; the eager result was that wider
    array while jit (and the aval) said float16."""
    x = np.array([0.25, 0.5, 0.75], np.float16)
    f = getattr(lax, name)
    eager, jitted = f(x), ft.jit(f)(x)
    assert eager.dtype == jitted.dtype == np.float16
    np.testing.assert_array_equal(np.asarray(eager), np.asarray(jitted))


def test_elementwise_lax_functions_check_their_operands_eagerly_as_under_jit():
    """An extra operand was NumPy's `out` eagerly (lax.sin(x, y) overwrote y), and float-only
    functions computed integers in float64 where jit (and JAX) refuse them."""
    x, y = np.array([0.1, 0.2]), np.zeros(2)
    with pytest.raises(TypeError, match="takes 1 positional argument but 2 were given"):
        lax.sin(x, y)               # (as JAX's lax.sin)
    with pytest.raises(TypeError, match="takes 1 operand, got 2"):
        lax.sinh(x, y)
    assert not y.any()
    with pytest.raises(TypeError, match="takes 2 operands, got 1"):
        lax.add(x)
    for f in (lax.sin, ft.jit(lax.sin)):
        with pytest.raises(TypeError, match="needs a floating-point input"):
            f(np.array([1, 2], np.int32))
    assert fnp.sin(np.array([1, 2], np.int32)).dtype == np.float32       # converts, as NumPy


def test_zeta_equals_scipy_as_jax_names_it():
    import scipy.special as sp
    x, q = np.array([2.0, 3.5, 1.5]), np.array([1.0, 0.5, 4.0])
    np.testing.assert_allclose(np.asarray(lax.zeta(x, q)), sp.zeta(x, q), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(ft.scipy.special.zeta(x)), sp.zeta(x), rtol=1e-13)
    g = ft.grad(lambda b: ft.scipy.special.zeta(np.float64(2.5), b))(np.float64(1.5))
    assert float(g) == pytest.approx(-2.5 * sp.zeta(3.5, 1.5), rel=1e-12)
    with pytest.raises(NotImplementedError, match="shape parameter"):
        ft.grad(lambda a: lax.zeta(a, np.float64(1.5)))(np.float64(2.5))


def _eager_jit_vmap(f, *args):
    """`f` eagerly, under jit and under vmap (each array operand stacked twice)."""
    stacked = [np.stack([a, a]) if isinstance(a, np.ndarray) else a for a in args]
    axes = tuple(0 if isinstance(a, np.ndarray) else None for a in args)
    return (lambda: f(*args), lambda: ft.jit(f)(*args),
            lambda: ft.vmap(f, in_axes=axes)(*stacked))


def test_select_refuses_mixed_dtypes_and_bad_predicates_eagerly_as_under_jit_and_vmap():
    """Eagerly and under vmap, select and select_n promoted mixed cases and read any
    predicate's truth, while jit refused them; JAX refuses them all."""
    b, i = np.array([True, False]), np.array([1, 0])
    f32, f64 = np.ones(2, np.float32), np.zeros(2)
    bad = [(lax.select, (b, f32, f64), "select needs cases of one dtype, got float32, float64"),
           (lax.select_n, (b, f32, f64), "select_n needs cases of one dtype"),
           (lax.select_n, (i.astype(np.int32), f32, f64), "got float32, float64"),
           (lax.select, (b, np.ones(2, np.int32), np.ones(2, np.int64)), "int32, int64"),
           (lax.select, (i, f32, f32), "select needs a bool predicate, got int64"),
           (lax.select, (f32, f32, f32), "select needs a bool predicate, got float32"),
           (lax.select_n, (f32, f32, f32), "select_n needs a bool or integer `which`"),
           (lax.select, (b, np.ones(2, np.int32), 2.5), "cases' dtype int32"),
           (lax.select, (b, b, 2), "cases' dtype bool")]
    for f, args, message in bad:
        for run in _eager_jit_vmap(f, *args):
            with pytest.raises(TypeError, match=message):
                run()
    for which in (i, i.astype(np.int32), i.astype(np.uint8), b):     # JAX's which dtypes
        for run in _eager_jit_vmap(lax.select_n, which, f32, f32 + 1):
            out = run()
            assert out.dtype == np.float32 and np.asarray(out).reshape(-1, 2)[0].tolist() == [2, 1]


def test_select_of_python_scalars_gives_one_dtype_eagerly_as_under_jit():
    """Cases that are all Python scalars give their widest kind's default dtype (jit gave
    the first one's: select(c, 1, 2.5) was [1, 2]); one beside an array takes its dtype."""
    c = np.array([True, False])
    for x, y, dtype, want in [(1, 2.5, np.float32, [1, 2.5]), (1.0, 2.0, np.float32, [1, 2]),
                              (True, 2, np.int64, [1, 2]),
                              (np.ones(2, np.float32), 2, np.float32, [1, 2])]:
        for run in _eager_jit_vmap(lambda c: lax.select(c, x, y), c):
            out = run()
            assert out.dtype == dtype and np.asarray(out).reshape(-1, 2)[0].tolist() == want
    out = lax.select(True, 1, 2.5)
    assert out.dtype == np.float32 and float(out) == 1.0
    assert float(lax.select_n(1, 1.0, 2.5)) == 2.5


def test_select_n_clamps_its_index_into_range():
    """Indices past either end pick the first or last case, as JAX's lowering does."""
    which = np.array([-3, 0, 1, 2, 5], np.int32)
    cases = [np.full(5, v, np.float32) for v in (10.0, 11.0, 12.0)]
    for run in _eager_jit_vmap(lax.select_n, which, *cases):
        np.testing.assert_array_equal(np.asarray(run()).reshape(-1)[:5], [10, 10, 11, 12, 12])


def test_where_promotes_before_selecting():
    c = np.array([True, False])
    for run in _eager_jit_vmap(fnp.where, c, np.ones(2, np.float32), np.zeros(2)):
        assert run().dtype == np.float64
    for run in _eager_jit_vmap(fnp.where, c, np.ones(2, np.int32), 2.5):
        assert run().dtype == np.float32
    assert fnp.where(np.array([1, 0]), 1, 2).tolist() == [1, 2]


def test_pad_batched_by_its_padding_value_keeps_the_operand_dtype():
    """vmap over a float32 padding value of float64 data selected between float64 and
    float32 arrays."""
    x, v = np.arange(6.0).reshape(3, 2), np.array([7, 8, 9], np.float32)

    def f(x, v):
        return lax.pad(x, v, [(1, 0, 1)])
    want = np.stack([np.asarray(f(x[k], v[k])) for k in range(3)])
    for out in (ft.vmap(f)(x, v), ft.jit(ft.vmap(f))(x, v)):
        assert out.dtype == np.float64
        np.testing.assert_array_equal(np.asarray(out), want)


@pytest.mark.parametrize("staged", [False, True], ids=["eager", "jit"])
def test_lax_refuses_a_python_scalar_of_a_wider_kind(staged):
    """Under jit `lax.add(int32 array, 2.5)` gave 3 (the float cast into the integers), and
    eagerly 3.5 (NumPy's promotion); both refuse it as JAX's lax refuses it, while
    functrans.numpy promotes."""
    run = ft.jit if staged else (lambda f: f)
    x = fnp.asarray(np.array([1, 2], np.int32))
    with pytest.raises(TypeError, match="wider kind than int32"):
        run(lambda a: lax.add(a, 2.5))(x)
    with pytest.raises(TypeError, match="wider kind than int32"):
        run(lambda a: lax.sub(2.5, a))(x)
    with pytest.raises(TypeError, match="wider kind than float32"):
        run(lambda a: lax.mul(a, 1j))(fnp.asarray(np.ones(2, np.float32)))
    with pytest.raises(TypeError, match="wider kind than bool"):
        run(lambda a: lax.mul(a, 3))(fnp.asarray([True]))
    np.testing.assert_array_equal(run(lambda a: lax.add(a, 2))(x), [3, 4])
    np.testing.assert_array_equal(run(lambda a: lax.mul(a, True))(x), [1, 2])
    np.testing.assert_allclose(run(lambda a: a + 2.5)(x), [3.5, 4.5])
