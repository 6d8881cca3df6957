"""Property-based fuzzing of functrans.numpy against NumPy on edge-case inputs: 0-d and empty
arrays, NaN, +-inf, -0.0, huge and tiny floats, integer extremes. Each case draws one call
(function, arrays, keyword arguments) and checks values (NaN in the same places), dtype and
shape, eagerly and, where the output shape does not depend on the values, under ft.jit.
Dtypes follow NumPy except where functrans deliberately follows JAX
(tests/test_jax_numpy_parity.py lists the differences kept on purpose)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st
from hypothesis.extra import numpy as hnp

import functrans as ft
import functrans.numpy as fnp
from fuzzing import fuzz_settings

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

FUZZ = fuzz_settings(25)

EDGE_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e10, -1e10, 1e-300, 5e-324, 1e300,
               -1e300, np.inf, -np.inf, np.nan]
FLOATS = st.one_of(st.sampled_from(EDGE_FLOATS), st.floats(-100, 100, width=64))
FINITE = st.one_of(st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1e-300, 1e5]),
                   st.floats(-100, 100, width=64))
INT_EDGES = st.one_of(st.sampled_from([0, 1, -1, 2 ** 63 - 1, -2 ** 63, 2 ** 31, -2 ** 31]),
                      st.integers(-20, 20))


def shapes(min_dims=0, max_dims=3, min_side=0, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def floats(draw, shape=None, elements=FLOATS, **kw):
    return draw(hnp.arrays(np.float64, shape if shape is not None else shapes(**kw),
                           elements=elements))


def ints(draw, shape=None, elements=INT_EDGES, dtype=np.int64, **kw):
    return draw(hnp.arrays(dtype, shape if shape is not None else shapes(**kw),
                           elements=elements))


def any_array(draw, **kw):
    kind = draw(st.sampled_from(["f", "f", "i", "b"]))
    if kind == "f":
        return floats(draw, **kw)
    if kind == "i":
        return ints(draw, **kw)
    return draw(hnp.arrays(np.bool_, shapes(**kw)))


def axis_arg(draw, ndim, allow_tuple=True, allow_none=True):
    options = [st.integers(-ndim, ndim - 1)] if ndim else []
    if allow_none:
        options.append(st.none())
    if allow_tuple and ndim:
        options.append(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim)
                       .map(tuple))
    return draw(st.one_of(*options))


def _leaves(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _same(got, expected, rtol, dtype_exact=True, atol=1e-300):
    got, expected = _leaves(got), _leaves(expected)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        e = np.asarray(e)
        g_np = np.asarray(g)
        assert g_np.shape == e.shape, (g_np.shape, e.shape)
        if dtype_exact:
            assert g_np.dtype == e.dtype, (g_np.dtype, e.dtype)
        if e.dtype.kind in "fc":
            np.testing.assert_allclose(g_np, e, rtol=rtol, atol=atol, equal_nan=True)
            # -0.0 and 0.0 compare equal; NaN and inf places must agree exactly
            np.testing.assert_array_equal(np.isnan(g_np), np.isnan(e))
        else:
            np.testing.assert_array_equal(g_np, e)


def check(name, args, kwargs=None, *, ref=None, jit=True, rtol=1e-12, dtype_exact=True,
          static=(), atol=1e-300):
    """fnp.<name>(*args, **kwargs) against np.<name> (or `ref`), eager and jitted."""
    kwargs = kwargs or {}
    ref = ref or getattr(np, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected = ref(*args, **kwargs)
        except (ValueError, TypeError, IndexError, ZeroDivisionError):
            assume(False)
    fn = getattr(fnp, name)
    _same(fn(*args, **kwargs), expected, rtol, dtype_exact, atol)
    if jit:
        arrays = [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and i not in static]

        def call(*xs):
            full = list(args)
            for i, x in zip(arrays, xs):
                full[i] = x
            return fn(*full, **kwargs)
        _same(ft.jit(call)(*[args[i] for i in arrays]), expected, rtol, dtype_exact, atol)


# ----------------------------------------------------------------------------- reductions
@FUZZ
@given(st.data(), st.sampled_from(["sum", "prod", "mean", "var", "std", "min", "max", "any",
                                   "all", "nansum", "nanprod", "nanmean", "nanvar", "nanstd",
                                   "nanmin", "nanmax", "ptp", "median", "nanmedian"]))
def test_reductions(data, name):
    draw = data.draw
    x = any_array(draw) if name in ("sum", "prod", "min", "max", "any", "all") else \
        floats(draw)
    kw = {"axis": axis_arg(draw, x.ndim, allow_tuple=name not in ("ptp",))}
    if draw(st.booleans()):
        kw["keepdims"] = True
    if name in ("var", "std", "nanvar", "nanstd") and draw(st.booleans()):
        kw["ddof"] = draw(st.integers(0, 2))
    if name in ("sum", "prod", "mean", "min", "max", "any", "all", "nansum", "nanprod",
                "nanmin", "nanmax", "nanmean", "var", "std") and draw(st.booleans()):
        kw["where"] = draw(hnp.arrays(np.bool_, x.shape))
    if name in ("sum", "prod", "min", "max", "nansum", "nanprod", "nanmin", "nanmax") and \
            draw(st.booleans()):
        kw["initial"] = draw(st.sampled_from([0, 1, -3, 7]))
    check(name, (x,), kw, rtol=1e-9, ref=_no_dof_nan(name) if "ddof" in kw else None)


def _no_dof_nan(name):
    """np.<name> (a variance) with NaN where no degrees of freedom are left, as JAX (NumPy
    gives inf there when the squares do not sum to 0)."""
    def ref(x, ddof, axis=None, keepdims=False, where=True):
        counted = np.broadcast_to(where, x.shape) & ~(np.isnan(x) if "nan" in name else False)
        count = np.sum(counted, axis=axis, keepdims=keepdims)
        out = getattr(np, name)(x, ddof=ddof, axis=axis, keepdims=keepdims, where=where)
        return np.where(count <= ddof, np.nan, out)
    return ref


@FUZZ
@given(st.data(), st.sampled_from(["argmin", "argmax", "nanargmin", "nanargmax"]))
def test_argreductions(data, name):
    draw = data.draw
    x = any_array(draw, min_dims=1)
    kw = {"axis": axis_arg(draw, x.ndim, allow_tuple=False)}
    if draw(st.booleans()):
        kw["keepdims"] = True
    check(name, (x,), kw)


@FUZZ
@given(st.data(), st.sampled_from(["cumsum", "cumprod", "nancumsum", "nancumprod"]))
def test_cumulative(data, name):
    draw = data.draw
    x = any_array(draw)
    kw = {"axis": axis_arg(draw, x.ndim, allow_tuple=False)}
    if x.ndim > 1 and kw["axis"] is None:
        kw["axis"] = 0
    check(name, (x,), kw, rtol=1e-9)


# -------------------------------------------------------------------------------- sorting
@FUZZ
@given(st.data())
def test_sort_argsort(data):
    draw = data.draw
    x = any_array(draw)
    axis = axis_arg(draw, x.ndim, allow_tuple=False)
    check("sort", (x,), {"axis": axis})
    check("argsort", (x,), {"axis": axis, "stable": True})


@FUZZ
@given(st.data())
def test_partition(data):
    draw = data.draw
    x = floats(draw, min_dims=1, min_side=1)
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    k = draw(st.integers(-x.shape[axis], x.shape[axis] - 1))
    got = np.asarray(fnp.partition(x, k, axis=axis))
    expected = np.partition(x, k, axis=axis)
    _same(np.take(got, [k], axis), np.take(expected, [k], axis), 0)
    _same(np.sort(got, axis=axis), np.sort(x, axis=axis), 0)


@FUZZ
@given(st.data())
def test_unique(data):
    draw = data.draw
    x = any_array(draw)
    flags = {f: draw(st.booleans())
             for f in ("return_index", "return_inverse", "return_counts")}
    check("unique", (x,), flags, jit=False)
    if x.ndim >= 1 and x.size:
        axis = draw(st.integers(0, x.ndim - 1))
        check("unique", (x,), dict(flags, axis=axis), jit=False)


@FUZZ
@given(st.data())
def test_searchsorted_digitize(data):
    draw = data.draw
    a = np.sort(floats(draw, min_dims=1, max_dims=1))
    v = floats(draw)
    side = draw(st.sampled_from(["left", "right"]))
    check("searchsorted", (a, v), {"side": side})
    bins = np.unique(floats(draw, max_dims=1, min_dims=1, min_side=1))
    bins = bins[~np.isnan(bins)]
    if bins.size and draw(st.booleans()):
        bins = bins[::-1]
    check("digitize", (v, bins), {"right": draw(st.booleans())})


@FUZZ
@given(st.data())
def test_lexsort(data):
    draw = data.draw
    n = draw(st.integers(0, 5))
    keys = tuple(ints(draw, shape=(n,), elements=st.integers(-2, 2))
                 for _ in range(draw(st.integers(1, 3))))
    check("lexsort", (keys,), ref=np.lexsort, jit=False)
    _same(ft.jit(fnp.lexsort)(keys), np.lexsort(keys), 0)


# ------------------------------------------------------------------------------- set ops
@FUZZ
@given(st.data(), st.sampled_from(["isin", "intersect1d", "union1d", "setdiff1d", "setxor1d"]))
def test_set_ops(data, name):
    draw = data.draw
    small = st.sampled_from([0.0, -0.0, 1.0, 2.0, -1.0, np.inf, np.nan])
    a = floats(draw, elements=small, max_dims=2)
    b = floats(draw, elements=small, max_dims=2)
    if name == "isin":
        kw = {"invert": draw(st.booleans())}
        check(name, (a, b), kw)
    else:
        check(name, (a, b), jit=False)


# -------------------------------------------------------------------- counting / binning
@FUZZ
@given(st.data())
def test_bincount(data):
    draw = data.draw
    x = ints(draw, shape=draw(shapes(1, 1)), elements=st.integers(0, 6))
    kw = {}
    if draw(st.booleans()):
        kw["weights"] = floats(draw, shape=x.shape, elements=FINITE)
    kw["minlength"] = draw(st.integers(0, 9))
    # weighted counts are floats even for no input (as JAX; NumPy gives int64 then)
    ref = (lambda *a, **k: np.bincount(*a, **k).astype(np.float64)) if "weights" in kw else None
    check("bincount", (x,), kw, jit=False, ref=ref)
    length = max(kw["minlength"], int(x.max()) + 1 if x.size else 0)
    if kw["minlength"] >= length:
        check("bincount", (x,), dict(kw, length=length),
              ref=lambda x, length, **k: (ref or np.bincount)(x, **k))


@FUZZ
@given(st.data())
def test_histogram(data):
    draw = data.draw
    x = floats(draw, elements=FINITE, max_dims=2)
    bins = draw(st.integers(1, 5))
    rng = draw(st.one_of(st.none(), st.tuples(st.floats(-10, 0), st.floats(0.5, 10))))
    kw = {"bins": bins, "range": rng}
    if draw(st.booleans()):
        kw["density"] = True
    if draw(st.booleans()):
        kw["weights"] = floats(draw, shape=x.shape, elements=st.one_of(st.just(0.0),
                                                                       st.floats(0.25, 5)))
    check("histogram", (x,), kw, rtol=1e-9, jit=rng is not None)


# ----------------------------------------------------------------------- elementwise misc
@FUZZ
@given(st.data(), st.sampled_from(["round", "around"]))
def test_round(data, name):
    draw = data.draw
    x = any_array(draw)
    if x.dtype != np.float64:   # away from the extremes, where rounding overflows
        x = ints(draw, shape=x.shape, elements=st.integers(-10 ** 6, 10 ** 6))
    dec = draw(st.integers(-3, 4))
    check(name, (x,), {"decimals": dec}, rtol=1e-12)


@FUZZ
@given(st.data())
def test_clip(data):
    draw = data.draw
    x = floats(draw)
    lo = draw(st.one_of(st.none(), st.sampled_from([-1.0, 0.0, -np.inf, np.nan])))
    hi = draw(st.one_of(st.none(), st.sampled_from([1.0, 0.0, np.inf, 2.5])))
    assume(lo is not None or hi is not None)
    check("clip", (x, lo, hi))


@FUZZ
@given(st.data())
def test_nan_to_num(data):
    draw = data.draw
    x = floats(draw)
    kw = {k: draw(st.one_of(st.none(), st.floats(-5, 5))) for k in ("nan", "posinf", "neginf")}
    kw = {k: v for k, v in kw.items() if v is not None}
    check("nan_to_num", (x,), kw)


@FUZZ
@given(st.data(), st.sampled_from(["isclose", "allclose", "array_equal"]))
def test_isclose(data, name):
    draw = data.draw
    shape = draw(shapes())
    a = floats(draw, shape=shape)
    b = floats(draw, shape=shape)
    if draw(st.booleans()):
        b = np.where(draw(hnp.arrays(np.bool_, shape)), a, b)
    kw = {"equal_nan": draw(st.booleans())}
    if name != "array_equal" and draw(st.booleans()):
        kw["rtol"], kw["atol"] = 1e-3, 1e-8
    check(name, (a, b), kw)


# ---------------------------------------------------------------------- differences
@FUZZ
@given(st.data())
def test_diff(data):
    draw = data.draw
    x = any_array(draw, min_dims=1)
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    n = draw(st.integers(0, 3))
    kw = {"n": n, "axis": axis}
    if draw(st.booleans()):
        kw["prepend"] = floats(draw, shape=x.shape[:axis % x.ndim] + (1,)
                               + x.shape[axis % x.ndim + 1:]).astype(x.dtype) \
            if x.dtype != np.bool_ else np.zeros(1, bool)
        if x.dtype == np.bool_ and x.ndim != 1:
            del kw["prepend"]
    check("diff", (x,), kw)


@FUZZ
@given(st.data())
def test_ediff1d(data):
    draw = data.draw
    x = floats(draw)
    kw = {}
    if draw(st.booleans()):
        kw["to_begin"] = floats(draw, max_dims=1)
    if draw(st.booleans()):
        kw["to_end"] = floats(draw, max_dims=1)
    check("ediff1d", (x,), kw)


@FUZZ
@given(st.data())
def test_gradient(data):
    draw = data.draw
    x = floats(draw, elements=FINITE, min_dims=1, min_side=2)
    kw = {"edge_order": draw(st.sampled_from([1, 2]))}
    assume(min(x.shape) > kw["edge_order"])
    if draw(st.booleans()):
        kw["axis"] = draw(st.integers(-x.ndim, x.ndim - 1))
    spacing = draw(st.sampled_from([(), (0.5,)]))
    check("gradient", (x,) + spacing, kw, rtol=1e-9)


# ------------------------------------------------------------------------- selections
@FUZZ
@given(st.data())
def test_take_put_along_axis(data):
    draw = data.draw
    x = floats(draw, min_dims=1, min_side=1)
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    shape = list(x.shape)
    shape[axis] = draw(st.integers(0, 4))
    idx = ints(draw, shape=tuple(shape), elements=st.integers(-x.shape[axis],
                                                              x.shape[axis] - 1))
    check("take_along_axis", (x, idx, axis), static=(2,))
    vals = floats(draw, shape=idx.shape)
    expected = x.copy()
    np.put_along_axis(expected, idx, vals, axis)
    unique = np.all(np.diff(np.sort(idx % x.shape[axis], axis=axis), axis=axis) != 0)
    if unique:
        got = fnp.put_along_axis(x, idx, vals, axis, inplace=False)
        _same(got, expected, 0)


@FUZZ
@given(st.data())
def test_where_select_piecewise(data):
    draw = data.draw
    shape = draw(shapes())
    c = draw(hnp.arrays(np.bool_, shape))
    a, b = floats(draw, shape=shape), any_array(draw, max_dims=0)
    check("where", (c, a, b))
    c2 = draw(hnp.arrays(np.bool_, shape))
    default = draw(st.sampled_from([0.0, np.nan, -1]))
    check("select", ([c, c2], [a, a * 2], default), ref=np.select, jit=False)
    check("piecewise", (a, [c, c2], [1.0, lambda v: v * 3, -0.5]),
          ref=np.piecewise, jit=False)


# --------------------------------------------------------------------------- creation
@FUZZ
@given(st.floats(-10, 10), st.floats(-10, 10), st.integers(0, 6), st.booleans(), st.booleans())
def test_linspace_logspace(start, stop, num, endpoint, retstep):
    check("linspace", (start, stop, num), {"endpoint": endpoint, "retstep": retstep,
                                           "dtype": np.float64}, jit=False, rtol=1e-12)
    check("logspace", (start, stop, num), {"endpoint": endpoint, "base": 2.0,
                                           "dtype": np.float64}, jit=False, rtol=1e-9)


@FUZZ
@given(st.one_of(st.integers(-5, 5), st.sampled_from([0.5, -1.5, 2.25])),
       st.one_of(st.none(), st.integers(-5, 5), st.sampled_from([3.5, -0.25])),
       st.one_of(st.none(), st.sampled_from([1, 2, -1, -3, 0.5, -0.7])))
def test_arange(start, stop, step):
    args = (start,) if stop is None else (start, stop) if step is None else (start, stop, step)
    ref = np.arange(*args)
    got = fnp.arange(*args)
    assert got.shape == ref.shape
    np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-6)
    assert np.asarray(got).dtype.kind == ref.dtype.kind


# ----------------------------------------------------------------------------- products
@st.composite
def einsum_case(draw):
    letters = "abcd"
    n_ops = draw(st.integers(1, 3))
    # at most one index of size 0: lax.reduce_sum over two axes of an all-empty array
    # raises (functrans/primitives/reductions.py, outside this file's reach)
    dims = {c: draw(st.integers(1, 3)) for c in letters}
    dims[draw(st.sampled_from(letters))] = draw(st.integers(0, 3))
    ops = [draw(st.lists(st.sampled_from(letters), min_size=0, max_size=3)) for _ in range(n_ops)]
    used = sorted(set("".join("".join(o) for o in ops)))
    out = draw(st.permutations(used)).__getitem__(slice(0, draw(st.integers(0, len(used)))))
    explicit = draw(st.booleans())
    subs = ",".join("".join(o) for o in ops) + ("->" + "".join(out) if explicit else "")
    arrays = [floats(draw, shape=tuple(dims[c] for c in o), elements=FINITE) for o in ops]
    return subs, arrays


@FUZZ
@given(einsum_case())
def test_einsum(case):
    subs, arrays = case
    check("einsum", (subs, *arrays), rtol=1e-9)


@FUZZ
@given(st.data(), st.sampled_from(["tensordot", "outer", "kron", "inner", "dot", "vdot"]))
def test_products(data, name):
    draw = data.draw
    if name == "tensordot":
        a = floats(draw, elements=FINITE, max_dims=3)
        k = draw(st.integers(0, a.ndim))
        b = floats(draw, shape=a.shape[a.ndim - k:] + draw(shapes(0, 2)), elements=FINITE)
        check(name, (a, b, k), static=(2,), rtol=1e-9)
    elif name in ("inner", "dot"):
        a = floats(draw, elements=FINITE, max_dims=2)
        b = floats(draw, shape=(a.shape[-1:] if a.ndim else ()) + draw(shapes(0, 1)),
                   elements=FINITE)
        if name == "inner" and b.ndim:
            b = np.moveaxis(b, 0, -1)
        check(name, (a, b), rtol=1e-9)
    elif name == "vdot":
        a = floats(draw, elements=FINITE)
        check(name, (a, floats(draw, shape=a.shape, elements=FINITE)), rtol=1e-9)
    else:
        a, b = any_array(draw, max_dims=2), any_array(draw, max_dims=2)
        check(name, (a, b), rtol=1e-12)


# ------------------------------------------------------------------- numerical methods
@FUZZ
@given(st.data())
def test_trapezoid(data):
    draw = data.draw
    y = floats(draw, min_dims=1, elements=FINITE)
    axis = draw(st.integers(-y.ndim, y.ndim - 1))
    kw = {"axis": axis}
    if draw(st.booleans()):
        kw["dx"] = 0.5
    elif draw(st.booleans()):
        kw["x"] = floats(draw, shape=(y.shape[axis],), elements=FINITE)
    check("trapezoid", (y,), kw, rtol=1e-9)


@FUZZ
@given(st.data())
def test_interp(data):
    draw = data.draw
    moderate = st.floats(-100, 100).filter(lambda v: v == 0 or abs(v) > 1e-100)
    # (infinite fp: NaN as JAX, not NumPy; tiny ones: within rounding of NumPy's formula)
    xp = np.unique(floats(draw, shape=draw(shapes(1, 1, 1)), elements=moderate))
    fp = floats(draw, shape=xp.shape, elements=moderate)
    x = xp if draw(st.booleans()) else floats(draw)
    kw = {}
    if draw(st.booleans()):
        kw["left"] = draw(st.sampled_from([-1.0, np.nan]))
    if draw(st.booleans()):
        kw["right"] = draw(st.sampled_from([7.0, np.inf]))
    check("interp", (x, xp, fp), kw, rtol=1e-9, atol=1e-12)


@FUZZ
@given(st.data(), st.sampled_from(["convolve", "correlate"]),
       st.sampled_from(["full", "same", "valid"]))
def test_convolve(data, name, mode):
    draw = data.draw
    a = floats(draw, shape=draw(shapes(1, 1, 1)), elements=FINITE)
    v = floats(draw, shape=draw(shapes(1, 1, 1)), elements=FINITE)
    check(name, (a, v), {"mode": mode}, rtol=1e-9)


@FUZZ
@given(st.data())
def test_polyval_polyfit(data):
    draw = data.draw
    p = floats(draw, shape=draw(shapes(1, 1)), elements=FINITE)
    x = floats(draw, elements=st.floats(-3, 3))
    check("polyval", (p, x), rtol=1e-9)
    n = draw(st.integers(3, 8))
    xs = np.linspace(-1, 1, n)
    ys = floats(draw, shape=(n,), elements=st.floats(-5, 5))
    deg = draw(st.integers(0, 2))
    got = fnp.polyfit(xs, ys, deg)
    np.testing.assert_allclose(np.asarray(got), np.polyfit(xs, ys, deg), rtol=1e-6, atol=1e-9)


@FUZZ
@given(st.data(), st.sampled_from(["percentile", "quantile", "nanpercentile", "nanquantile"]),
       st.sampled_from(["linear", "lower", "higher", "nearest", "midpoint"]))
def test_percentile(data, name, method):
    draw = data.draw
    x = floats(draw, min_dims=1, elements=FINITE if "nan" not in name else
               st.one_of(FINITE, st.just(np.nan)))
    # NumPy's nan* quantiles of no values give one NaN whatever q's shape (JAX raises)
    assume(x.size or "nan" not in name)
    scale = 100 if "percentile" in name else 1
    fractions = hnp.arrays(np.float64, shapes(0, 1), elements=st.floats(0, 1))
    q = draw(st.one_of(st.floats(0, 1), fractions)) * scale
    kw = {"method": method, "axis": axis_arg(draw, x.ndim, allow_tuple=False)}
    if draw(st.booleans()):
        kw["keepdims"] = True
    check(name, (x, q), kw, rtol=1e-9)


# ------------------------------------------------------- regressions the fuzzing found
def test_nan_extrema_with_initial_never_nan():
    # nanmin([], initial=0) was NaN: the all-NaN check ignored `initial`
    x = np.array([[1.0, np.nan], [np.nan, np.nan]])
    for got in (fnp.nanmin(np.array([]), initial=0.0),
                fnp.nanmax(np.array([np.nan]), initial=-3.0)):
        assert not np.isnan(np.asarray(got))
    kw = dict(axis=1, where=np.array([[True, False]]), initial=-5.0)
    np.testing.assert_array_equal(fnp.nanmax(x, **kw), np.nanmax(x, **kw))
    np.testing.assert_array_equal(ft.jit(lambda v: fnp.nanmax(v, **kw))(x), [1.0, -5.0])


def test_median_and_quantiles_of_empty_slices_are_nan():
    # median(np.zeros((2, 0)), axis=1) raised IndexError from the gather of an empty axis
    e = np.zeros((2, 0))
    np.testing.assert_array_equal(fnp.median(e, axis=1), np.median(e, axis=1))
    assert np.isnan(np.asarray(fnp.median(np.array([]))))
    np.testing.assert_array_equal(ft.jit(lambda v: fnp.nanmedian(v, axis=1, keepdims=True))(e),
                                  np.full((2, 1), np.nan))
    got = fnp.quantile(e, np.array([0.1, 0.5]), axis=1, method="nearest")
    assert got.shape == (2, 2) and np.isnan(np.asarray(got)).all()


def test_median_between_equal_infinities():
    # median(inf) was NaN: the interpolation took inf - inf
    for x in (np.array(np.inf), np.array([np.inf, np.inf]), np.array([1.0, -np.inf, -np.inf])):
        np.testing.assert_array_equal(fnp.median(x), np.median(x))
        np.testing.assert_array_equal(ft.jit(fnp.median)(x), np.median(x))
    assert float(fnp.percentile(np.array([np.inf, np.inf]), 50)) == np.inf     # as JAX


def test_quantiles_towards_an_infinite_end():
    # median([0, inf]) was NaN (the interpolation from the nearer end took inf - inf); now
    # the infinity, as NumPy's median and JAX's quantiles, and the element itself at a knot
    inf = np.inf
    for x in ([0.0, inf], [-inf, 1.0], [1.0, 2.0, inf, inf], [-inf, -inf, 3.0]):
        x = np.array(x)
        np.testing.assert_array_equal(fnp.median(x), np.median(x))
        np.testing.assert_array_equal(ft.jit(fnp.median)(x), np.median(x))
    x = np.array([1.0, inf])
    np.testing.assert_array_equal(fnp.quantile(x, np.array([0.0, 0.3, 0.7, 1.0])),
                                  [1.0, inf, inf, inf])
    assert np.isnan(float(fnp.quantile(np.array([-inf, inf]), 0.5)))


def test_ldexp_beyond_one_power_of_two():
    # ldexp(0, 1024) was NaN (0 * inf) and ldexp(1e-300, 1100) inf: 2**x2 overflowed alone
    x = np.array([0.0, 1e-300, 5e-324, 1.0, 1e308, -3.0])
    e = np.array([1024, 1100, 1074, -1075, -2000, 5000])
    np.testing.assert_array_equal(fnp.ldexp(x, e), np.ldexp(x, e))
    np.testing.assert_array_equal(ft.jit(fnp.ldexp)(x, e), np.ldexp(x, e))
    x32 = np.array([0.0, 1e-30, 1.0], np.float32)
    e32 = np.array([200, 180, -149])
    np.testing.assert_array_equal(fnp.ldexp(x32, e32), np.ldexp(x32, e32))


def test_heaviside_of_nan_is_nan():
    # heaviside(nan, 0) was 0: NaN is neither below nor above 0, so x2 was taken
    x = np.array([np.nan, -1.0, 0.0, 2.0])
    np.testing.assert_array_equal(fnp.heaviside(x, 0.5), np.heaviside(x, 0.5))


def test_round_integers_to_tens():
    # round(int, decimals<0) returned its input unchanged; NumPy rounds half to even
    x = np.array([5, 15, 25, 35, -5, -15, -25, 14, -14, 16, -16, 149, -151])
    for d in (-1, -2):
        np.testing.assert_array_equal(fnp.round(x, d), np.round(x, d))
        np.testing.assert_array_equal(ft.jit(lambda v: fnp.around(v, d))(x), np.round(x, d))
    for dt in (np.int8, np.uint8):
        v = np.array([100, 127, 50, 49], dt)
        got = fnp.round(v, -2)
        assert got.dtype == dt
        np.testing.assert_array_equal(got, np.round(v, -2))
    np.testing.assert_array_equal(fnp.round(x, 2), x)


def test_diff_of_order_zero_is_the_input():
    # diff(a, n=0, prepend=p) returned p and a joined; NumPy (and JAX) return `a`
    a = np.array([1.0, 2.0])
    np.testing.assert_array_equal(fnp.diff(a, n=0, prepend=np.zeros(1), append=3.0), a)


def test_einsum_with_an_empty_index():
    # an index of size 0 was taken for a broadcast 1: einsum('a', zeros(0)) raised
    for subs, ops in [("a", [np.zeros(0)]), ("a->", [np.zeros(0)]),
                      ("ab,b->a", [np.ones((2, 0)), np.ones(0)]),
                      ("a,a", [np.ones(1), np.ones(0)])]:
        expected = np.einsum(subs, *ops)
        got = fnp.einsum(subs, *ops)
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)


def test_isclose_infinity_only_to_itself():
    # |0 - inf| <= atol + rtol * inf held: isclose(0, inf) was True
    a = np.array([0.0, np.inf, -np.inf, 1e308, np.inf])
    b = np.array([np.inf, np.inf, np.inf, np.inf, -np.inf])
    np.testing.assert_array_equal(fnp.isclose(a, b), np.isclose(a, b))
    assert not bool(fnp.allclose(0.0, np.inf))
    both = np.array([np.inf, np.nan])
    assert bool(fnp.allclose(both, both, equal_nan=True))


def test_interp_exact_at_knots():
    # the value at the last knot lost to cancellation: interp(1, [-1, 0, 1], [0, 1e300, 1]) was 0
    xp, fp = np.array([-1.0, 0.0, 1.0]), np.array([0.0, 1e300, 1.0])
    np.testing.assert_array_equal(fnp.interp(xp, xp, fp), fp)
    np.testing.assert_array_equal(ft.jit(fnp.interp)(xp, xp, fp), fp)
    g = ft.grad(lambda x: fnp.interp(x, np.array([0.0, 1.0, 3.0]), np.array([0.0, 2.0, 3.0])))
    np.testing.assert_allclose([g(0.25), g(0.75), g(2.0)], [2.0, 2.0, 0.5])


def test_extrema_take_initial_in_the_array_type():
    # max(bool array, initial=2) raised TypeError, min(ints, initial=0.5) too, and
    # min(bools, where=..., initial=0) gave int64: JAX converts initial to the array's type
    b, i = np.array([True, False]), np.array([3, -4])
    assert fnp.max(b, initial=2).dtype == np.bool_ and bool(fnp.max(b, initial=2))
    got = fnp.min(b, where=np.array([False, True]), initial=0)
    assert got.dtype == np.bool_ and not bool(got)
    assert int(fnp.min(i, initial=0.5)) == -4
    np.testing.assert_array_equal(ft.jit(lambda v: fnp.max(v, axis=0, initial=-3))(
        np.zeros((0, 2), np.int8)), np.full(2, -3, np.int8))


# ------------------------------------------------------------ elementwise on edge values
UNARY = ["sign", "signbit", "spacing", "exp2", "expm1", "log1p", "cbrt", "square", "rint",
         "fix", "trunc", "sqrt", "log2", "log10", "sinc", "i0", "reciprocal", "deg2rad",
         "positive", "negative", "absolute", "floor", "ceil", "isfinite", "isinf", "isnan",
         "isneginf", "isposinf", "nan_to_num", "arctanh", "arccosh", "tanh", "sinh"]
BINARY = ["floor_divide", "remainder", "fmod", "copysign", "nextafter", "heaviside",
          "logaddexp", "logaddexp2", "hypot", "arctan2", "fmax", "fmin", "maximum", "minimum",
          "power", "float_power", "true_divide", "subtract", "multiply", "ldexp"]


@FUZZ
@given(st.data(), st.sampled_from(UNARY))
def test_unary_on_edges(data, name):
    x = any_array(data.draw) if name in ("sign", "absolute", "square", "negative") else \
        floats(data.draw)
    check(name, (x,), rtol=1e-13)


@FUZZ
@given(st.data(), st.sampled_from(BINARY))
def test_binary_on_edges(data, name):
    draw = data.draw
    shape = draw(shapes())
    if name == "ldexp":
        exponents = st.integers(-2200, 2200)
        a, b = floats(draw, shape=shape), ints(draw, shape=shape, elements=exponents)
    elif name in ("floor_divide", "remainder", "fmod") and draw(st.booleans()):
        nonzero = st.one_of(st.integers(-5, -1), st.integers(1, 5),
                            st.sampled_from([2 ** 63 - 1, -2 ** 63]))
        a, b = ints(draw, shape=shape), ints(draw, shape=shape, elements=nonzero)
        assume(not np.any((a == -2 ** 63) & (b == -1)))
    else:
        a, b = floats(draw, shape=shape), floats(draw, shape=shape)
    check(name, (a, b), rtol=1e-13, ref=_floor_divide if name == "floor_divide" else None)


def _floor_divide(a, b):
    """np.floor_divide with the array API standard's values where one operand is infinite
    (inf // 2 is inf), functrans's documented choice."""
    out = np.floor_divide(a, b)
    if out.dtype.kind != "f":
        return out
    special = (np.isinf(a) ^ np.isinf(b)) & ~np.isnan(a) & ~np.isnan(b)
    return np.where(special, np.true_divide(a, b), out)
