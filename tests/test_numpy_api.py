"""functrans.numpy against NumPy on hypothesis-drawn inputs: values and dtypes (NumPy 2
promotion, weak Python scalars, integers -> the default float for float-valued functions),
plus derivatives of the composite functions."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import functrans as ft
import functrans.numpy as fnp
from functrans import testing as ftst
from functrans.test_util import check_grads

EXAMPLES = max(5, settings().max_examples // 3)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
DEFAULT_FLOAT = np.dtype(np.float32)


def assert_same(got, expected, rtol=1e-6, atol=1e-6, check_dtype=True):
    got_leaves = got if isinstance(got, (tuple, list)) else [got]
    exp_leaves = expected if isinstance(expected, (tuple, list)) else [expected]
    assert len(got_leaves) == len(exp_leaves)
    for g, e in zip(got_leaves, exp_leaves):
        g, e = np.asarray(g), np.asarray(e)
        assert g.shape == e.shape, (g.shape, e.shape)
        if check_dtype:
            assert g.dtype == e.dtype, (g.dtype, e.dtype)
        if e.dtype.kind in "fc":
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
        else:
            np.testing.assert_array_equal(g, e)


def np_arrays(dtype=np.float64, shape=None, low=-2.0, high=2.0, exclude=()):
    return ftst.arrays(dtype, ftst.shapes() if shape is None else shape, low, high,
                       exclude, as_numpy=True)


# ================================================================== elementwise ufuncs
UNARY_FLOAT = [  # name, domain
    ("exp", (-3, 3)), ("exp2", (-3, 3)), ("expm1", (-3, 3)), ("log", (0.1, 5)),
    ("log2", (0.1, 5)), ("log10", (0.1, 5)), ("log1p", (-0.5, 5)), ("sqrt", (0, 5)),
    ("cbrt", (-5, 5)), ("reciprocal", (0.5, 5)), ("sin", (-5, 5)), ("cos", (-5, 5)),
    ("tan", (-1.4, 1.4)), ("arcsin", (-1, 1)), ("arccos", (-1, 1)), ("arctan", (-5, 5)),
    ("sinh", (-3, 3)), ("cosh", (-3, 3)), ("tanh", (-3, 3)), ("arcsinh", (-3, 3)),
    ("arccosh", (1, 5)), ("arctanh", (-0.9, 0.9)), ("rint", (-5, 5)), ("fabs", (-5, 5)),
    ("deg2rad", (-5, 5)), ("rad2deg", (-5, 5)), ("sinc", (-3, 3)), ("i0", (-3, 3)),
    ("spacing", (-5, 5)),
]
UNARY_SAME = [  # keep their dtype (integers too)
    ("square", (-5, 5)), ("negative", (-5, 5)), ("absolute", (-5, 5)), ("sign", (-5, 5)),
    ("floor", (-5, 5)), ("ceil", (-5, 5)), ("trunc", (-5, 5)), ("positive", (-5, 5)),
    ("isfinite", (-5, 5)), ("isnan", (-5, 5)), ("isinf", (-5, 5)), ("signbit", (-5, 5)),
]


@pytest.mark.parametrize("name,domain", UNARY_FLOAT + UNARY_SAME, ids=lambda v: str(v))
@SETTINGS
@given(data=st.data())
def test_unary_float_inputs_match_numpy(name, domain, data):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    x = data.draw(np_arrays(dtype, low=domain[0], high=domain[1]))
    with np.errstate(all="ignore"):
        expected = getattr(np, name)(x)
    assert_same(getattr(fnp, name)(x), expected, rtol=2e-6 if dtype == np.float32 else 1e-12,
                atol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("name,domain", UNARY_FLOAT, ids=lambda v: str(v))
@SETTINGS
@given(data=st.data())
def test_float_functions_of_integers_give_the_default_float(name, domain, data):
    lo, hi = math.ceil(domain[0]), math.floor(domain[1])
    x = data.draw(ftst.integer_arrays(np.int64, ftst.shapes(), lo, hi, as_numpy=True))
    got = getattr(fnp, name)(x)
    assert got.dtype == DEFAULT_FLOAT
    with np.errstate(all="ignore"):
        expected = getattr(np, name)(x.astype(DEFAULT_FLOAT))
    assert_same(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["square", "negative", "absolute", "sign", "floor", "ceil",
                                  "trunc", "positive", "bitwise_count", "invert"])
@SETTINGS
@given(x=ftst.integer_arrays(np.int32, ftst.shapes(), -50, 50, as_numpy=True))
def test_integer_preserving_functions_keep_integers(name, x):
    assert_same(getattr(fnp, name)(x), getattr(np, name)(x))


@pytest.mark.parametrize("name", ["isfinite", "isnan", "isinf", "signbit", "square",
                                  "absolute", "sign", "floor"])
def test_integer_inputs_give_the_same_dtype_eagerly_and_under_jit(name):
    x = np.array([-3, 0, 7], np.int32)
    expected = getattr(np, name)(x)
    assert_same(getattr(fnp, name)(x), expected)
    assert_same(ft.jit(getattr(fnp, name))(x), expected)


BINARY = [  # name, domain of x, domain of y
    ("add", (-5, 5), (-5, 5)), ("subtract", (-5, 5), (-5, 5)),
    ("multiply", (-5, 5), (-5, 5)), ("true_divide", (-5, 5), (0.5, 5)),
    ("floor_divide", (-5, 5), (0.5, 5)), ("remainder", (-5, 5), (0.5, 5)),
    ("fmod", (-5, 5), (0.5, 5)), ("power", (0.1, 3), (-2, 2)), ("maximum", (-5, 5), (-5, 5)),
    ("minimum", (-5, 5), (-5, 5)), ("fmax", (-5, 5), (-5, 5)), ("fmin", (-5, 5), (-5, 5)),
    ("arctan2", (-5, 5), (-5, 5)), ("hypot", (-5, 5), (-5, 5)),
    ("logaddexp", (-5, 5), (-5, 5)), ("logaddexp2", (-5, 5), (-5, 5)),
    ("copysign", (-5, 5), (-5, 5)), ("nextafter", (-5, 5), (-5, 5)),
    ("heaviside", (-5, 5), (-5, 5)), ("equal", (-2, 2), (-2, 2)),
    ("not_equal", (-2, 2), (-2, 2)), ("less", (-2, 2), (-2, 2)),
    ("less_equal", (-2, 2), (-2, 2)), ("greater", (-2, 2), (-2, 2)),
    ("greater_equal", (-2, 2), (-2, 2)), ("float_power", (0.1, 3), (-2, 2)),
]


@pytest.mark.parametrize("name,dx,dy", BINARY, ids=lambda v: str(v))
@SETTINGS
@given(data=st.data())
def test_binary_functions_match_numpy_with_broadcasting(name, dx, dy, data):
    sx, sy = data.draw(ftst.broadcastable_shapes(2))
    tx, ty = data.draw(st.sampled_from([(np.float32, np.float32), (np.float64, np.float64),
                                        (np.float32, np.float64)]))
    x = data.draw(np_arrays(tx, sx, *dx))
    y = data.draw(np_arrays(ty, sy, *dy))
    with np.errstate(all="ignore"):
        expected = getattr(np, name)(x, y)
    f32 = np.float32 in (tx, ty) and expected.dtype != np.float64
    assert_same(getattr(fnp, name)(x, y), expected, rtol=3e-6 if f32 else 1e-12,
                atol=3e-6 if f32 else 1e-12)


@pytest.mark.parametrize("name", ["bitwise_and", "bitwise_or", "bitwise_xor", "gcd", "lcm",
                                  "left_shift", "right_shift", "add", "multiply",
                                  "floor_divide", "remainder"])
@SETTINGS
@given(data=st.data())
def test_integer_binary_functions_match_numpy(name, data):
    sx, sy = data.draw(ftst.broadcastable_shapes(2))
    x = data.draw(ftst.integer_arrays(np.int64, sx, -20, 20, as_numpy=True))
    y = data.draw(ftst.integer_arrays(np.int32, sy, 1, 5, as_numpy=True))
    assert_same(getattr(fnp, name)(x, y), getattr(np, name)(x, y))


# ------------------------------------------------------------------ promotion rules
@given(x=np_arrays(np.float32))
@SETTINGS
def test_python_floats_are_weak_with_float32_arrays(x):
    for out in (fnp.asarray(x) * 2.0, fnp.multiply(x, 2.0), 2.0 - fnp.asarray(x),
                fnp.asarray(x) / 3, fnp.maximum(x, 0.5)):
        assert out.dtype == np.float32


@given(x=ftst.integer_arrays(np.int64, ftst.shapes(), -5, 5, as_numpy=True))
@SETTINGS
def test_integers_meet_python_floats_in_the_default_float(x):
    a = fnp.asarray(x)
    assert (a * 2.5).dtype == DEFAULT_FLOAT
    assert fnp.multiply(x, 2.5).dtype == DEFAULT_FLOAT
    np.testing.assert_allclose(np.asarray(a * 2.5), x * np.float32(2.5))
    assert (a * 2).dtype == np.int64                     # an int stays int
    assert (a / 2).dtype == DEFAULT_FLOAT                 # true division of integers
    assert fnp.true_divide(x, x + 100).dtype == DEFAULT_FLOAT
    assert fnp.mean(x).dtype == DEFAULT_FLOAT


def test_float64_numpy_inputs_stay_float64():
    x = np.linspace(0, 1, 5)
    assert fnp.asarray(x).dtype == np.float64
    assert (fnp.asarray(x) * 2.0).dtype == np.float64
    assert fnp.sin(x).dtype == np.float64
    assert fnp.sum(x).dtype == np.float64
    assert (fnp.asarray(x) + fnp.ones(5)).dtype == np.float64   # f64 + f32 -> f64
    assert fnp.asarray([1.0, 2.0]).dtype == DEFAULT_FLOAT       # Python floats: default
    assert (fnp.asarray(np.int8(3)) + 1).dtype == np.int8       # weak int keeps int8


def test_promotion_under_jit_and_grad_matches_eager():
    x32 = fnp.asarray(np.arange(3, dtype=np.float32))
    i64 = fnp.asarray(np.arange(3))
    for f in (lambda a, b: a * 2.0, lambda a, b: b * 2.5, lambda a, b: b / 2,
              lambda a, b: a + b, lambda a, b: fnp.exp(b)):
        assert ft.jit(f)(x32, i64).dtype == f(x32, i64).dtype
    assert ft.grad(lambda a: (a * 2.0).sum())(x32).dtype == np.float32


# ================================================================== reductions
REDUCTIONS = ["sum", "prod", "mean", "max", "min", "var", "std", "all", "any", "argmax",
              "argmin", "ptp", "count_nonzero", "median"]


@st.composite
def array_and_axis(draw, dtype=np.float64, min_dims=1, multi=True):
    x = draw(np_arrays(dtype, ftst.shapes(min_dims=min_dims)))
    choices = [None] + list(range(-x.ndim, x.ndim))
    if multi and x.ndim >= 2:
        choices.append((0, x.ndim - 1))
    return x, draw(st.sampled_from(choices)), draw(st.booleans())


@pytest.mark.parametrize("name", REDUCTIONS)
@SETTINGS
@given(data=st.data())
def test_reductions_match_numpy(name, data):
    multi = name not in ("argmax", "argmin")
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    x, axis, keepdims = data.draw(array_and_axis(dtype, multi=multi))
    kw = {} if name == "count_nonzero" and axis is None else {"keepdims": keepdims}
    expected = getattr(np, name)(x, axis=axis, **kw)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert_same(getattr(fnp, name)(x, axis=axis, **kw), expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", ["sum", "prod", "cumsum", "cumprod", "mean", "max"])
@SETTINGS
@given(x=ftst.integer_arrays(np.int32, ftst.shapes(min_dims=1), -3, 3, as_numpy=True))
def test_integer_reductions_accumulate_like_numpy(name, x):
    got = getattr(fnp, name)(x)
    expected = getattr(np, name)(x)
    if name == "mean":
        assert got.dtype == DEFAULT_FLOAT
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6)
    else:
        assert_same(got, expected)


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@SETTINGS
@given(data=st.data())
def test_cumulative_ops_match_numpy(name, data):
    x = data.draw(np_arrays(np.float64, ftst.shapes(min_dims=1)))
    axis = data.draw(st.sampled_from([None] + list(range(x.ndim))))
    assert_same(getattr(fnp, name)(x, axis=axis), getattr(np, name)(x, axis=axis))


NAN_REDUCTIONS = ["nansum", "nanprod", "nanmean", "nanvar", "nanstd", "nanmax", "nanmin",
                  "nanmedian", "nanargmax", "nanargmin", "nancumsum", "nancumprod"]


@pytest.mark.parametrize("name", NAN_REDUCTIONS)
@SETTINGS
@given(data=st.data())
def test_nan_reductions_match_numpy(name, data):
    x = data.draw(np_arrays(np.float64, ftst.shapes(min_dims=1)))
    mask = data.draw(ftst.boolean_arrays(x.shape, as_numpy=True))
    x = np.where(mask, np.nan, x)
    axis = data.draw(st.sampled_from([None] + list(range(x.ndim))))
    if name in ("nanargmax", "nanargmin"):
        x = np.where(np.isnan(x).all(axis=axis, keepdims=True), 0.0, x)  # NumPy raises there
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = getattr(np, name)(x, axis=axis)
        got = getattr(fnp, name)(x, axis=axis)
    assert_same(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "midpoint", "nearest"])
@SETTINGS
@given(data=st.data())
def test_quantiles_match_numpy(method, data):
    x, axis, keepdims = data.draw(array_and_axis())
    q = data.draw(st.one_of(st.floats(0, 1), st.lists(st.floats(0, 1), min_size=1,
                                                       max_size=3).map(np.asarray)))
    assert_same(fnp.quantile(x, q, axis=axis, method=method, keepdims=keepdims),
                np.quantile(x, q, axis=axis, method=method, keepdims=keepdims), rtol=1e-10,
                atol=1e-12)
    assert_same(fnp.percentile(x, np.asarray(q) * 100, axis=axis, method=method),
                np.percentile(x, np.asarray(q) * 100, axis=axis, method=method), rtol=1e-9,
                atol=1e-12)


@SETTINGS
@given(data=st.data())
def test_average_and_weights_match_numpy(data):
    x = data.draw(np_arrays(np.float64, ftst.shapes(min_dims=1)))
    axis = data.draw(st.integers(0, x.ndim - 1))
    w = data.draw(np_arrays(np.float64, (x.shape[axis],), 0.5, 2.0))
    assert_same(fnp.average(x, axis=axis, weights=w), np.average(x, axis=axis, weights=w),
                rtol=1e-12)
    assert_same(fnp.average(x), np.average(x), rtol=1e-12)


def test_reduction_where_and_initial():
    x = np.arange(12.0).reshape(3, 4)
    m = x % 3 == 0
    assert_same(fnp.sum(x, axis=1, where=m), np.sum(x, axis=1, where=m))
    assert_same(fnp.mean(x, axis=0, where=m), np.mean(x, axis=0, where=m))
    assert_same(fnp.max(x, axis=1, where=m, initial=-1.0),
                np.max(x, axis=1, where=m, initial=-1.0))
    assert_same(fnp.var(x, axis=1, where=m), np.var(x, axis=1, where=m))
    assert_same(fnp.sum(x, initial=5.0), np.sum(x, initial=5.0))


# ================================================================== shape manipulation
@SETTINGS
@given(data=st.data())
def test_shape_functions_match_numpy(data):
    x = data.draw(np_arrays(np.float64, ftst.shapes(min_dims=2, max_dims=3)))
    n = x.ndim
    ax = data.draw(st.integers(-n, n - 1))
    perm = data.draw(st.permutations(range(n)))
    assert_same(fnp.reshape(x, (-1,)), np.reshape(x, (-1,)))
    assert_same(fnp.ravel(x), np.ravel(x))
    assert_same(fnp.transpose(x, perm), np.transpose(x, perm))
    assert_same(fnp.swapaxes(x, 0, -1), np.swapaxes(x, 0, -1))
    assert_same(fnp.moveaxis(x, 0, ax), np.moveaxis(x, 0, ax))
    assert_same(fnp.expand_dims(x, ax), np.expand_dims(x, ax))
    assert_same(fnp.squeeze(fnp.expand_dims(x, 0), 0), x)
    assert_same(fnp.broadcast_to(x, (2,) + x.shape), np.broadcast_to(x, (2,) + x.shape))
    assert_same(fnp.concatenate([x, x], axis=ax), np.concatenate([x, x], axis=ax))
    assert_same(fnp.stack([x, x], axis=ax), np.stack([x, x], axis=ax))
    assert_same(fnp.hstack([x, x]), np.hstack([x, x]))
    assert_same(fnp.vstack([x, x]), np.vstack([x, x]))
    assert_same(fnp.flip(x, ax), np.flip(x, ax))
    assert_same(fnp.rot90(x), np.rot90(x))
    sections = data.draw(st.integers(1, 4))
    assert_same(fnp.array_split(x, sections, axis=ax), np.array_split(x, sections, axis=ax))
    cuts = sorted(data.draw(st.lists(st.integers(0, x.shape[ax]), max_size=3)))
    assert_same(fnp.split(x, cuts, axis=ax), np.split(x, cuts, axis=ax))
    reps = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    assert_same(fnp.tile(x, reps), np.tile(x, reps))
    r = data.draw(st.integers(0, 3))
    assert_same(fnp.repeat(x, r, axis=ax), np.repeat(x, r, axis=ax))
    counts = data.draw(st.lists(st.integers(0, 3), min_size=x.shape[ax],
                                max_size=x.shape[ax]))
    assert_same(fnp.repeat(x, counts, axis=ax), np.repeat(x, counts, axis=ax))
    shift = data.draw(st.integers(-7, 7))
    assert_same(fnp.roll(x, shift, axis=ax), np.roll(x, shift, axis=ax))
    assert_same(fnp.roll(x, shift), np.roll(x, shift))
    k = data.draw(st.integers(-2, 2))
    assert_same(fnp.triu(x, k), np.triu(x, k))
    assert_same(fnp.tril(x, k), np.tril(x, k))
    assert_same(fnp.diagonal(x, k), np.diagonal(x, k))
    assert_same(fnp.trace(x, k), np.trace(x, k))
    assert_same(fnp.diff(x, axis=ax), np.diff(x, axis=ax))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap",
                                  "maximum", "minimum", "mean", "linear_ramp", "empty"])
@SETTINGS
@given(data=st.data())
def test_pad_modes_match_numpy(mode, data):
    x = data.draw(np_arrays(np.float64, ftst.shapes(min_dims=1, max_dims=2)))
    widths = [tuple(data.draw(st.integers(0, 5)) for _ in range(2)) for _ in range(x.ndim)]
    kw = {"constant_values": 1.5} if mode == "constant" else \
        {"end_values": -1.0} if mode == "linear_ramp" else {}
    got = fnp.pad(x, widths, mode=mode, **kw)
    expected = np.pad(x, widths, mode="constant" if mode == "empty" else mode, **kw)
    assert_same(got, expected, rtol=1e-12, atol=1e-12)


def test_diag_and_friends():
    v = np.arange(1.0, 4.0)
    m = np.arange(12.0).reshape(3, 4)
    for k in (-1, 0, 2):
        assert_same(fnp.diag(v, k), np.diag(v, k))
        assert_same(fnp.diag(m, k), np.diag(m, k))
    assert_same(fnp.diagflat(m[:2, :2]), np.diagflat(m[:2, :2]))
    assert_same(fnp.kron(m[:2, :3], v[:2]), np.kron(m[:2, :3], v[:2]))
    assert_same(fnp.kron(v, m), np.kron(v, m))
    assert_same(fnp.take(m, [0, -1, 2], axis=1), np.take(m, [0, -1, 2], axis=1))
    assert_same(fnp.take(m, [[1, 13]], mode="clip"), np.take(m, [[1, 13]], mode="clip"))
    assert_same(fnp.take(m, [5, -7], axis=1, mode="wrap"),
                np.take(m, [5, -7], axis=1, mode="wrap"))
    idx = np.argsort(m, axis=1)[:, ::-1]
    assert_same(fnp.take_along_axis(m, idx, axis=1), np.take_along_axis(m, idx, axis=1))
    assert_same(fnp.delete(m, [0, 2], axis=1), np.delete(m, [0, 2], axis=1))
    assert_same(fnp.insert(v, 1, 9.0), np.insert(v, 1, 9.0))
    assert_same(fnp.append(v, m[0]), np.append(v, m[0]))
    assert_same(fnp.select([v > 2, v < 2], [v, -v], 7.0), np.select([v > 2, v < 2], [v, -v], 7.0))
    assert_same(fnp.where(m > 5, m, -m), np.where(m > 5, m, -m))
    assert_same(fnp.block([[m, m], [m, m]]), np.block([[m, m], [m, m]]))
    assert_same(fnp.resize(v, (2, 5)), np.resize(v, (2, 5)))
    assert_same(fnp.unstack(m), tuple(m))
    expected = m.copy()
    np.put_along_axis(expected, idx[:, :1], -1.0, axis=1)
    assert_same(fnp.put_along_axis(m, idx[:, :1], -1.0, axis=1, inplace=False), expected)
    assert_same(m[fnp.ix_([0, 2], [1, 3])], m[np.ix_([0, 2], [1, 3])])
    assert_same(fnp.fromfunction(lambda i, j: i * 10 + j, (2, 3)),
                np.fromfunction(lambda i, j: i * 10 + j, (2, 3)).astype(DEFAULT_FLOAT))
    assert_same(fnp.compress(v > 1, v), np.compress(v > 1, v))
    assert_same(fnp.choose(np.array([0, 1, 0]), [v, -v]), np.choose(np.array([0, 1, 0]), [v, -v]))


# ================================================================== sorting and searching
@SETTINGS
@given(data=st.data())
def test_sorting_and_searching_match_numpy(data):
    x = data.draw(np_arrays(np.float64, ftst.shapes(min_dims=1)))
    ax = data.draw(st.sampled_from([None, -1, 0]))
    assert_same(fnp.sort(x, axis=ax), np.sort(x, axis=ax))
    assert_same(fnp.argsort(x, axis=ax), np.argsort(x, axis=ax, kind="stable"))
    flat = np.sort(x.ravel())
    v = data.draw(np_arrays(np.float64))
    for side in ("left", "right"):
        assert_same(fnp.searchsorted(flat, v, side=side), np.searchsorted(flat, v, side=side))
    assert_same(fnp.unique(x), np.unique(x))
    for got, exp in zip(fnp.unique(x, return_index=True, return_inverse=True,
                                   return_counts=True),
                        np.unique(x, return_index=True, return_inverse=True,
                                  return_counts=True)):
        assert_same(got, exp)
    assert_same(fnp.nonzero(x > 0), np.nonzero(x > 0))
    assert_same(fnp.where(x > 0), np.where(x > 0))
    assert_same(fnp.argwhere(x > 0), np.argwhere(x > 0))
    assert_same(fnp.flatnonzero(x > 0), np.flatnonzero(x > 0))
    bins = np.array([-1.0, 0.0, 0.5, 1.5])
    assert_same(fnp.digitize(x, bins), np.digitize(x, bins))
    assert_same(fnp.digitize(x, bins, right=True), np.digitize(x, bins, right=True))
    assert_same(fnp.isin(x, x.ravel()[:2]), np.isin(x, x.ravel()[:2]))
    keys = (x.ravel(), np.round(x.ravel()))
    assert_same(fnp.lexsort(keys), np.lexsort(keys))


def test_sort_descending_is_stable():
    x = np.array([3.0, 1.0, 3.0, 2.0, 1.0])
    assert_same(fnp.sort(x, descending=True), np.sort(x)[::-1])
    assert_same(fnp.argsort(x, descending=True), np.array([0, 2, 3, 1, 4]))


def test_value_dependent_shapes_with_size_work_under_jit():
    x = np.array([0.0, 2.0, 0.0, -1.0, 3.0])
    got = ft.jit(lambda a: fnp.nonzero(a, size=4, fill_value=-1))(x)
    assert_same(got, (np.array([1, 3, 4, -1]),))
    m = np.array([[0, 1], [1, 1]])
    assert_same(ft.jit(lambda a: fnp.nonzero(a, size=2))(m), (np.array([0, 1]),
                                                               np.array([1, 0])))
    assert_same(ft.jit(lambda a: fnp.unique(a, size=4, fill_value=9.0))(
        np.array([3.0, 1.0, 3.0])), np.array([1.0, 3.0, 9.0, 9.0]))
    assert_same(ft.jit(lambda a: fnp.bincount(a, length=4))(np.array([0, 1, 1, 3, 7])),
                np.array([1, 2, 0, 1]))
    assert_same(fnp.bincount(np.array([0, 1, 1, 3]), weights=np.array([0.5, 1.0, 1.0, 2.0])),
                np.bincount(np.array([0, 1, 1, 3]), weights=np.array([0.5, 1.0, 1.0, 2.0])))
    h, e = fnp.histogram(np.array([0.1, 0.5, 0.5, 0.9, 1.0]), bins=4, range=(0, 1))
    h0, e0 = np.histogram(np.array([0.1, 0.5, 0.5, 0.9, 1.0]), bins=4, range=(0, 1))
    assert_same(h, h0)
    np.testing.assert_allclose(np.asarray(e), e0, rtol=1e-6)


# ================================================================== linear algebra
@st.composite
def einsum_cases(draw):
    letters = "abcde"
    sizes = {c: draw(st.integers(1, 3)) for c in letters}
    n_ops = draw(st.integers(1, 3))
    terms = ["".join(draw(st.lists(st.sampled_from(letters), max_size=3)))
             for _ in range(n_ops)]
    used = sorted(set("".join(terms)))
    out = "".join(draw(st.permutations(used))[:draw(st.integers(0, len(used)))])
    ops = [draw(np_arrays(np.float64, tuple(sizes[c] for c in t))) for t in terms]
    explicit = draw(st.booleans())
    return ",".join(terms) + ("->" + out if explicit else ""), ops


@SETTINGS
@given(case=einsum_cases())
def test_einsum_matches_numpy(case):
    subscripts, ops = case
    assert_same(fnp.einsum(subscripts, *ops), np.einsum(subscripts, *ops), rtol=1e-10,
                atol=1e-12)


def test_einsum_ellipsis_and_broadcasting():
    a, b = np.random.default_rng(0).standard_normal((2, 2, 3, 4))
    c = np.ones((4, 5))
    for s, ops in [("...ij,jk->...ik", (a, c)), ("...j,jk", (a, c)), ("i...->...", (a,)),
                   ("ijk,ijk->ik", (a, b)), ("ijk->kji", (a,))]:
        assert_same(fnp.einsum(s, *ops), np.einsum(s, *ops), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(data=st.data())
def test_products_match_numpy(data):
    n, m, k = (data.draw(st.integers(1, 4)) for _ in range(3))
    a = data.draw(np_arrays(np.float64, (n, m)))
    b = data.draw(np_arrays(np.float64, (m, k)))
    v = data.draw(np_arrays(np.float64, (m,)))
    batch = data.draw(np_arrays(np.float64, (2, n, m)))
    assert_same(fnp.dot(a, b), np.dot(a, b), rtol=1e-12, atol=1e-12)
    assert_same(fnp.matmul(a, v), np.matmul(a, v), rtol=1e-12, atol=1e-12)
    assert_same(fnp.matmul(batch, b), np.matmul(batch, b), rtol=1e-12, atol=1e-12)
    assert_same(fnp.matmul(v, b), np.matmul(v, b), rtol=1e-12, atol=1e-12)
    assert_same(fnp.tensordot(batch, b, axes=1), np.tensordot(batch, b, axes=1), rtol=1e-12,
                atol=1e-12)
    assert_same(fnp.outer(v, v), np.outer(v, v))
    assert_same(fnp.inner(a, a), np.inner(a, a), rtol=1e-12, atol=1e-12)
    assert_same(fnp.vdot(a, a), np.vdot(a, a), rtol=1e-12)
    assert_same(fnp.linalg.multi_dot([a, b, b.T]), np.linalg.multi_dot([a, b, b.T]),
                rtol=1e-12, atol=1e-12)
    assert_same(fnp.matvec(batch, v), np.matvec(batch, v), rtol=1e-12, atol=1e-12)
    assert_same(fnp.vecmat(v, b), np.vecmat(v, b), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(data=st.data())
def test_linalg_matches_numpy(data):
    n = data.draw(st.integers(1, 4))
    a = np.asarray(data.draw(ftst.well_conditioned_matrices(n)))
    spd = np.asarray(data.draw(ftst.spd_matrices(n)))
    b = data.draw(np_arrays(np.float64, (n, 2)))
    tol = dict(rtol=1e-9, atol=1e-10)
    assert_same(fnp.linalg.solve(a, b), np.linalg.solve(a, b), **tol)
    assert_same(fnp.linalg.solve(a, b[:, 0]), np.linalg.solve(a, b[:, 0]), **tol)
    assert_same(fnp.linalg.inv(a), np.linalg.inv(a), **tol)
    assert_same(fnp.linalg.det(a), np.linalg.det(a), **tol)
    assert_same(tuple(fnp.linalg.slogdet(a)), tuple(np.linalg.slogdet(a)), **tol)
    assert_same(fnp.linalg.cholesky(spd), np.linalg.cholesky(spd), **tol)
    assert_same(fnp.linalg.cholesky(spd, upper=True), np.linalg.cholesky(spd, upper=True),
                **tol)
    assert_same(fnp.linalg.eigvalsh(spd), np.linalg.eigvalsh(spd), **tol)
    w, v = fnp.linalg.eigh(spd)
    np.testing.assert_allclose(np.asarray(v) @ np.diag(np.asarray(w)) @ np.asarray(v).T, spd,
                               **tol)
    assert_same(fnp.linalg.svd(a, compute_uv=False), np.linalg.svd(a, compute_uv=False), **tol)
    u, s, vh = fnp.linalg.svd(a)
    np.testing.assert_allclose((np.asarray(u) * np.asarray(s)) @ np.asarray(vh), a, **tol)
    q, r = fnp.linalg.qr(a)
    q0, r0 = np.linalg.qr(a)
    assert_same((q, r), (q0, r0), **tol)
    assert_same(fnp.linalg.pinv(a), np.linalg.pinv(a), **tol)
    for p in (0, 1, 3, -2):
        assert_same(fnp.linalg.matrix_power(a, p), np.linalg.matrix_power(a, p), **tol)
    assert_same(fnp.linalg.matrix_rank(a), np.linalg.matrix_rank(a))
    assert_same(fnp.linalg.cond(a), np.linalg.cond(a), **tol)


def test_eigh_reads_one_triangle_as_numpy():
    # with symmetrize_input=False; by default they take (a + a^H) / 2, as JAX
    a = np.array([[2.0, 100.0], [0.5, 3.0]])
    for uplo in ("L", "U"):
        w, v = fnp.linalg.eigh(a, UPLO=uplo, symmetrize_input=False)
        w0, v0 = np.linalg.eigh(a, UPLO=uplo)
        np.testing.assert_allclose(np.asarray(w), w0, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(fnp.linalg.cholesky(np.array([[4.0, 99.0],
                                                                        [2.0, 5.0]]),
                                                              symmetrize_input=False)),
                               np.linalg.cholesky(np.array([[4.0, 99.0], [2.0, 5.0]])))


@pytest.mark.parametrize("ord_", [None, 1, 2, np.inf, -np.inf, 0, 3, -1])
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")   # 0 ** -1, as NumPy
def test_vector_norms_match_numpy(ord_):
    x = np.array([[3.0, -4.0, 0.5], [1.0, 0.0, -2.0]])
    assert_same(fnp.linalg.norm(x[0], ord_), np.linalg.norm(x[0], ord_), rtol=1e-12)
    assert_same(fnp.linalg.norm(x, ord_, axis=1), np.linalg.norm(x, ord_, axis=1), rtol=1e-12)
    assert_same(fnp.linalg.norm(x, ord_, axis=0, keepdims=True),
                np.linalg.norm(x, ord_, axis=0, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("ord_", [None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf])
def test_matrix_norms_match_numpy(ord_):
    x = np.random.default_rng(3).standard_normal((2, 3, 4))
    assert_same(fnp.linalg.norm(x, ord_, axis=(1, 2)), np.linalg.norm(x, ord_, axis=(1, 2)),
                rtol=1e-10)
    assert_same(fnp.linalg.norm(x, ord_, axis=(2, 1), keepdims=True),
                np.linalg.norm(x, ord_, axis=(2, 1), keepdims=True), rtol=1e-10)
    assert_same(fnp.linalg.norm(x[0], ord_), np.linalg.norm(x[0], ord_), rtol=1e-10)


def test_lstsq_matches_numpy():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    for got, exp in zip(fnp.linalg.lstsq(a, b), np.linalg.lstsq(a, b)):
        assert_same(got, exp, rtol=1e-9, atol=1e-12, check_dtype=False)


# ================================================================== misc NumPy functions
def test_statistics_and_signal_functions_match_numpy():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 6))
    tol = dict(rtol=1e-10, atol=1e-12)
    assert_same(fnp.cov(x), np.cov(x), **tol)
    assert_same(fnp.cov(x, rowvar=False, bias=True), np.cov(x, rowvar=False, bias=True), **tol)
    w = np.arange(1, 7)
    assert_same(fnp.cov(x, fweights=w), np.cov(x, fweights=w), **tol)
    assert_same(fnp.cov(x, aweights=w / 3.0, ddof=0), np.cov(x, aweights=w / 3.0, ddof=0),
                **tol)
    assert_same(fnp.corrcoef(x), np.corrcoef(x), **tol)
    for mode in ("full", "same", "valid"):
        assert_same(fnp.convolve(x[0], x[1, :3], mode), np.convolve(x[0], x[1, :3], mode), **tol)
        assert_same(fnp.correlate(x[0], x[1, :3], mode), np.correlate(x[0], x[1, :3], mode),
                    **tol)
    xp = np.cumsum(rng.uniform(0.1, 1, 6))
    xs = np.linspace(-1, 6, 20)
    assert_same(fnp.interp(xs, xp, x[0]), np.interp(xs, xp, x[0]), **tol)
    assert_same(fnp.interp(xs, xp, x[0], left=-5, right=5),
                np.interp(xs, xp, x[0], left=-5, right=5), **tol)
    assert_same(fnp.gradient(x[0]), np.gradient(x[0]), **tol)
    assert_same(fnp.gradient(x, 0.5, axis=1), np.gradient(x, 0.5, axis=1), **tol)
    assert_same(fnp.gradient(x[0], xp), np.gradient(x[0], xp), **tol)
    assert_same(fnp.gradient(x[0], edge_order=2), np.gradient(x[0], edge_order=2), **tol)
    assert_same(fnp.trapezoid(x, dx=0.3), np.trapezoid(x, dx=0.3), **tol)
    assert_same(fnp.trapezoid(x[0], xp), np.trapezoid(x[0], xp), **tol)
    phase = np.cumsum(rng.uniform(0, 3, 10))
    assert_same(fnp.unwrap(phase), np.unwrap(phase), **tol)
    p = np.array([2.0, -1.0, 0.5])
    assert_same(fnp.polyval(p, xs), np.polyval(p, xs), **tol)
    assert_same(fnp.polyfit(xs, np.polyval(p, xs), 2), np.polyfit(xs, np.polyval(p, xs), 2),
                rtol=1e-8, atol=1e-10)
    assert_same(fnp.polyder(p), np.polyder(p), **tol)
    assert_same(fnp.polyint(p), np.polyint(p), **tol)
    assert_same(fnp.polymul(p, p[:2]), np.polymul(p, p[:2]), **tol)
    assert_same(fnp.polyadd(p, p[:2]), np.polyadd(p, p[:2]), **tol)
    assert_same(fnp.vander(p, 4), np.vander(p, 4), **tol)
    assert_same(fnp.cross(x[:, :3], x[:, 3:]), np.cross(x[:, :3], x[:, 3:]), **tol)
    assert_same(fnp.unravel_index(np.array([3, 7]), (2, 4)),
                np.unravel_index(np.array([3, 7]), (2, 4)))
    assert_same(fnp.ravel_multi_index((np.array([0, 1]), np.array([3, 3])), (2, 4)),
                np.ravel_multi_index((np.array([0, 1]), np.array([3, 3])), (2, 4)))
    assert_same(fnp.indices((2, 3)), np.indices((2, 3)))
    assert_same(fnp.tril_indices(3, -1), np.tril_indices(3, -1))
    assert_same(fnp.apply_along_axis(lambda r: r.sum() * r, 1, x),
                np.apply_along_axis(lambda r: r.sum() * r, 1, x), **tol)
    assert_same(fnp.apply_along_axis(lambda r: fnp.max(r), 0, x),
                np.apply_along_axis(np.max, 0, x), **tol)


def test_frexp_ldexp_modf_match_numpy():
    x = np.array([0.0, 1.0, -3.5, 1e-300, 6e5, np.inf, 0.75])
    assert_same(fnp.frexp(x), np.frexp(x))
    assert_same(fnp.ldexp(np.array([0.5, -0.75]), np.array([2, -3])),
                np.ldexp(np.array([0.5, -0.75]), np.array([2, -3])))
    assert_same(fnp.modf(x[:5]), np.modf(x[:5]))


# ================================================================== derivatives of composites
def _grads(f, *args):
    check_grads(f, args, order=2, modes=("fwd", "rev"))


def test_composite_functions_are_differentiable():
    rng = np.random.default_rng(6)
    x = fnp.asarray(rng.standard_normal((3, 4)))
    a = fnp.asarray(np.array([[2.0, 0.3, -0.5], [0.1, -1.5, 0.4], [0.7, 0.2, 1.8]]))
    m = rng.standard_normal((3, 3))
    spd = fnp.asarray(m @ m.T + 3 * np.eye(3))
    b = fnp.asarray(rng.standard_normal((3, 2)))
    _grads(lambda x: fnp.quantile(x, 0.3, axis=1), x)
    _grads(lambda x: fnp.median(x), x)
    _grads(lambda x: fnp.var(x, axis=0, ddof=1), x)
    _grads(lambda x: fnp.pad(x, ((1, 2), (3, 1)), mode="reflect"), x)
    _grads(lambda x: fnp.pad(x, 2, mode="wrap"), x)
    _grads(lambda x: fnp.roll(x, 3, axis=1), x)
    _grads(lambda x: fnp.einsum("ij,kj->ik", x, x), x)
    _grads(lambda x: fnp.cumprod(x, axis=1), x)
    _grads(lambda x: fnp.sort(x, axis=0), x)
    _grads(lambda x: fnp.linalg.norm(x), x)
    _grads(lambda x: fnp.linalg.norm(x, "nuc"), x)
    _grads(lambda x: fnp.tile(x, (2, 1)) * fnp.repeat(x, 2, axis=0), x)
    _grads(lambda a, b: fnp.linalg.solve(a, b), a, b)
    _grads(fnp.linalg.inv, a)
    _grads(fnp.linalg.det, a)
    _grads(lambda a: fnp.linalg.slogdet(a)[1], a)
    _grads(fnp.linalg.pinv, x)
    _grads(lambda a: fnp.linalg.matrix_power(a, 3), a)
    _grads(fnp.linalg.cholesky, spd)
    _grads(fnp.linalg.eigvalsh, spd)
    _grads(lambda x: fnp.trace(x) + fnp.diagonal(x, 1).sum(), x)
    _grads(lambda x: fnp.interp(fnp.asarray([0.3, 1.7]), fnp.asarray([0.0, 1.0, 2.0]), x[0, :3]),
           x)
    _grads(lambda x: fnp.convolve(x[0], x[1, :2]), x)
    _grads(lambda x: fnp.nanmean(fnp.where(x > 1.0, fnp.nan, x), axis=1), x)


def test_det_derivative_is_exact_for_pivoted_matrices():
    a = np.array([[0.1, 2.0, 0.3], [1.5, 0.2, -0.4], [0.3, -0.7, 3.0]])
    g = ft.grad(fnp.linalg.det)(a)
    np.testing.assert_allclose(np.asarray(g), np.linalg.det(a) * np.linalg.inv(a).T,
                               rtol=1e-12)


def test_square_of_booleans_is_int8_in_the_trace_too():
    b = np.array([True, False])
    assert ft.make_jaxpr(fnp.square)(b).out_avals[0].dtype == np.int8
    assert_same(ft.jit(fnp.square)(b), np.square(b))


def test_dtypes_kept_where_numpy_keeps_them():
    """tril/triu of bool stay bool, heaviside and spacing keep a float16 input's dtype, and
    spacing(-0.0) is the smallest positive subnormal, as in NumPy."""
    b = np.array([[True, True], [False, True]])
    for fn in ("tril", "triu"):
        got = getattr(fnp, fn)(fnp.asarray(b))
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(np.asarray(got), getattr(np, fn)(b))
    h = np.array([-1.5, 0.0, 2.0], np.float16)
    assert fnp.heaviside(fnp.asarray(h), 0.5).dtype == np.float16
    np.testing.assert_array_equal(np.asarray(fnp.heaviside(fnp.asarray(h), 0.5)),
                                  np.heaviside(h, 0.5))
    assert fnp.spacing(fnp.asarray(h)).dtype == np.float16
    for dt in (np.float32, np.float64):
        x = np.array([0.1257, -1.5, 0.0, -0.0, 3.0], dt)
        np.testing.assert_array_equal(np.asarray(fnp.spacing(fnp.asarray(x))), np.spacing(x))
