"""Keyword arguments of `jax.lax` / `jax.numpy` functions that JAX code passes: each one
against JAX's result (with x64, so that the dtypes agree), under jit where JAX allows it,
with derivative checks where the argument brings new differentiable semantics."""
import numpy as np
import pytest

import functrans as ft
import functrans.lax as fl
import functrans.numpy as fnp
from functrans.test_util import check_grads

rng = np.random.default_rng(0)


@pytest.fixture
def jx(jax_x64):
    """(jax.lax, jax.numpy) with x64 on for the test; skipped without JAX."""
    import jax.numpy
    return jax_x64.lax, jax.numpy


def same(ours, theirs, exact=False):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    if exact:
        np.testing.assert_array_equal(ours, theirs)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------ convolutions
CONV_DNS = [None, ("NHWC", "HWIO", "NHWC")]


def _layout(x, w, dn):
    return (x, w) if dn is None else (x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0))


@pytest.mark.parametrize("dn", CONV_DNS)
@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_batch_group_count(jx, dn, padding):
    lax, _ = jx
    x, w = _layout(rng.normal(size=(6, 4, 5, 5)), rng.normal(size=(6, 4, 3, 3)), dn)

    def f(lx, x, w):
        return lx.conv_general_dilated(x, w, (1, 2), padding, rhs_dilation=(2, 1),
                                       dimension_numbers=dn, batch_group_count=3)
    same(f(fl, x, w), f(lax, x, w))
    same(ft.jit(lambda x, w: f(fl, x, w))(x, w), f(lax, x, w))


def test_batch_group_count_grads():
    x, w = rng.normal(size=(4, 2, 5, 4)), rng.normal(size=(6, 2, 3, 2))
    check_grads(lambda x, w: fl.conv_general_dilated(x, w, (1, 1), "SAME",
                                                     batch_group_count=2),
                (x, w), order=2, modes=("fwd", "rev"))


def test_batch_group_count_errors():
    x, w = np.ones((5, 2, 4, 4)), np.ones((6, 2, 3, 3))
    with pytest.raises(ValueError, match="batch_group_count=2"):
        fl.conv_general_dilated(x, w, (1, 1), "VALID", batch_group_count=2)
    with pytest.raises(ValueError, match="feature_group_count must then be 1"):
        fl.conv_general_dilated(np.ones((4, 4, 4, 4)), w, (1, 1), "VALID",
                                batch_group_count=2, feature_group_count=2)


@pytest.mark.parametrize("dtypes", [("int8", "int32"), ("float32", "float64"),
                                    ("float64", "float64")])
def test_conv_preferred_element_type(jx, dtypes):
    lax, _ = jx
    src, want = dtypes
    x = rng.integers(-4, 4, size=(2, 3, 6, 5)).astype(src)
    w = rng.integers(-4, 4, size=(4, 3, 3, 2)).astype(src)
    for name, call in [
            ("conv", lambda lx, x, w, **k: lx.conv(x, w, (1, 1), "SAME", **k)),
            ("conv_general_dilated", lambda lx, x, w, **k: lx.conv_general_dilated(
                x, w, (2, 1), "VALID", feature_group_count=1, **k)),
            ("conv_with_general_padding", lambda lx, x, w, **k: lx.conv_with_general_padding(
                x, w, (1, 1), ((1, 0), (0, 2)), (2, 1), (1, 2), **k)),
            ("conv_transpose", lambda lx, x, w, **k: lx.conv_transpose(
                x, w, (2, 2), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW"), **k))]:
        kw = dict(precision=lax.Precision.HIGHEST, preferred_element_type=np.dtype(want))
        ours = call(fl, x, w, **dict(kw, precision=fl.Precision.HIGHEST))
        same(ours, call(lax, x, w, **kw), exact=src == "int8")
        same(ft.jit(lambda x, w: call(fl, x, w, preferred_element_type=want))(x, w), ours)


def test_conv_preferred_element_type_grads(jx):
    lax, _ = jx
    x, w = rng.normal(size=(2, 3, 5, 5)), rng.normal(size=(4, 3, 3, 3))
    check_grads(lambda x, w: fl.conv(x, w, (1, 1), "SAME", preferred_element_type=np.float64),
                (x, w), order=1, modes=("fwd", "rev"))
    x, w = x.astype(np.float32), w.astype(np.float32)

    def loss(lx, x, w):
        return (lx.conv(x, w, (1, 1), "SAME", preferred_element_type=np.float64) ** 2).sum()
    import jax
    for ours, theirs in zip(ft.grad(lambda x, w: loss(fl, x, w), (0, 1))(x, w),
                            jax.grad(lambda x, w: loss(lax, x, w), (0, 1))(x, w)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4)
        assert ours.dtype == theirs.dtype == np.float32


def test_batch_matmul_precision(jx):
    lax, _ = jx
    a, b = rng.normal(size=(3, 2, 4)).astype(np.float32), rng.normal(size=(3, 4, 5))
    b = b.astype(np.float32)
    same(fl.batch_matmul(a, b, precision=fl.Precision.HIGHEST),
         lax.batch_matmul(a, b, precision=lax.Precision.HIGHEST))
    assert fl.batch_matmul(a, b, preferred_element_type=np.float64).dtype == np.float64


def test_multi_dot_precision(jx):
    _, jnp = jx
    arrays = [rng.normal(size=s) for s in ((3, 4), (4, 2), (2,))]
    same(fnp.linalg.multi_dot(arrays, precision="highest"),
         jnp.linalg.multi_dot(arrays, precision="highest"))


# ------------------------------------------------------------------ sized set functions
SET_X = np.array([3, 1, 3, 7, 1, 5, 3])
SET_Y = np.array([5, 2, 3, 9])


def _leaves(r):
    return tuple(r) if isinstance(r, tuple) else (r,)


def _same_result(ours, theirs, exact=True):
    for o, t in zip(_leaves(ours), _leaves(theirs), strict=True):
        same(o, t, exact=exact)


SET_CALLS = [
    ("unique", lambda m, x, y, **k: m.unique(x, True, True, True, **k)),
    ("unique_values", lambda m, x, y, **k: m.unique_values(x, **k)),
    ("unique_all", lambda m, x, y, **k: tuple(m.unique_all(x, **k))),
    ("unique_counts", lambda m, x, y, **k: tuple(m.unique_counts(x, **k))),
    ("unique_inverse", lambda m, x, y, **k: tuple(m.unique_inverse(x.reshape(-1, 1), **k))),
    ("intersect1d", lambda m, x, y, **k: m.intersect1d(x, y, **k)),
    ("intersect1d_indices", lambda m, x, y, **k: m.intersect1d(x, y, return_indices=True,
                                                               **k)),
    ("union1d", lambda m, x, y, **k: m.union1d(x, y, **k)),
    ("setdiff1d", lambda m, x, y, **k: m.setdiff1d(x, y, **k)),
    ("setxor1d", lambda m, x, y, **k: m.setxor1d(x, y, **k)),
]


@pytest.mark.parametrize("name,call", SET_CALLS, ids=[c[0] for c in SET_CALLS])
@pytest.mark.parametrize("size", [3, 12])
@pytest.mark.parametrize("fill_value", [None, -9])
@pytest.mark.parametrize("y", [SET_Y, SET_Y.astype(np.float64), SET_X + 100],
                         ids=["int", "float", "disjoint"])
def test_set_functions_sized(jx, name, call, size, fill_value, y):
    _, jnp = jx
    theirs = call(jnp, SET_X, y, size=size, fill_value=fill_value)
    _same_result(call(fnp, SET_X, y, size=size, fill_value=fill_value), theirs)
    jitted = ft.jit(lambda x, y: call(fnp, x, y, size=size, fill_value=fill_value))
    _same_result(jitted(SET_X, y), theirs)


@pytest.mark.parametrize("equal_nan", [True, False])
def test_unique_sized_nan(jx, equal_nan):
    _, jnp = jx
    x = np.array([2., np.nan, 1., np.nan, 2.])
    for size in (2, 5):
        _same_result(fnp.unique(x, True, True, True, equal_nan=equal_nan, size=size),
                     jnp.unique(x, True, True, True, equal_nan=equal_nan, size=size))


@pytest.mark.parametrize("name,call", SET_CALLS, ids=[c[0] for c in SET_CALLS])
def test_set_functions_sized_vmap(name, call):
    xs = np.array([[3, 1, 3, 7, 1, 5, 3], [0, 0, 0, 0, 9, 9, 2]])
    ys = np.array([[5, 2, 3, 9], [9, 9, 4, 0]])
    batched = ft.vmap(lambda x, y: call(fnp, x, y, size=5))(xs, ys)
    for i in range(2):
        row = call(fnp, xs[i], ys[i], size=5)
        for b, r in zip(_leaves(batched), _leaves(row), strict=True):
            np.testing.assert_array_equal(np.asarray(b)[i], np.asarray(r))


def test_set_functions_unsized_and_errors():
    np.testing.assert_array_equal(fnp.setxor1d(SET_X, SET_Y), np.setxor1d(SET_X, SET_Y))
    np.testing.assert_array_equal(fnp.unique(SET_X, sorted=True), np.unique(SET_X))
    with pytest.raises(ValueError, match="fill_value"):
        fnp.unique(np.array([], np.int64), size=3)
    with pytest.raises(NotImplementedError, match="axis=None"):
        fnp.unique(np.ones((2, 2)), axis=0, size=2)


# ------------------------------------------------------------------ reductions
@pytest.mark.parametrize("dt", ["bool", "int8", "uint8", "int32", "uint32", "float16",
                                "float32"])
@pytest.mark.parametrize("name", ["sum", "prod"])
@pytest.mark.parametrize("promote_integers", [True, False])
def test_promote_integers(jx, dt, name, promote_integers):
    _, jnp = jx
    x = (np.arange(12).reshape(3, 4) % 3).astype(dt)
    for axis in (None, 1):
        theirs = getattr(jnp, name)(x, axis=axis, promote_integers=promote_integers)
        same(getattr(fnp, name)(x, axis=axis, promote_integers=promote_integers), theirs,
             exact=True)
        jitted = ft.jit(lambda x: getattr(fnp, name)(x, axis=axis,
                                                     promote_integers=promote_integers))
        same(jitted(x), theirs, exact=True)


@pytest.mark.parametrize("name", ["var", "std", "nanvar", "nanstd"])
def test_var_std_mean(jx, name):
    _, jnp = jx
    x = np.arange(12.).reshape(3, 4) ** 1.5
    x[0, 1] = np.nan if name.startswith("nan") else x[0, 1]
    for axis, ddof in [(1, 0), (0, 1), (None, 0)]:
        m = np.nanmean(x, axis=axis, keepdims=True) + 0.5
        theirs = getattr(jnp, name)(x, axis=axis, ddof=ddof, mean=m)
        same(getattr(fnp, name)(x, axis=axis, ddof=ddof, mean=m), theirs)
        same(ft.jit(lambda x, m: getattr(fnp, name)(x, axis=axis, ddof=ddof, mean=m))(x, m),
             theirs)


def test_var_mean_grads_and_errors():
    x = rng.normal(size=(3, 4))
    check_grads(lambda x, m: fnp.var(x, axis=1, mean=m), (x, rng.normal(size=(3, 1))),
                order=2, modes=("fwd", "rev"))
    with pytest.raises(ValueError, match="mean= must have the input's rank 2"):
        fnp.var(x, axis=1, mean=np.zeros(3))


# ------------------------------------------------------------------ take_along_axis
@pytest.mark.parametrize("dt", ["float64", "float32", "int64", "uint8", "bool"])
@pytest.mark.parametrize("mode", ["clip", "fill", "promise_in_bounds"])
@pytest.mark.parametrize("wrap", [None, True, False])
def test_take_along_axis_modes(jx, dt, mode, wrap):
    _, jnp = jx
    a = np.arange(12.).reshape(3, 4).astype(dt)
    i = np.array([[0, 3, -1, 5, -6]] * 3)
    for fill_value in (None, 1):
        kw = dict(mode=mode, fill_value=fill_value, wrap_negative_indices=wrap)
        theirs = jnp.take_along_axis(a, i, 1, **kw)
        for ours in (fnp.take_along_axis(a, i, 1, **kw),
                     ft.jit(lambda a, i: fnp.take_along_axis(a, i, 1, **kw))(a, i)):
            np.testing.assert_array_equal(ours, theirs)
            assert ours.dtype == theirs.dtype


def test_take_along_axis_fill_grads_and_errors():
    i = np.array([[0, 2, 7], [-1, 1, -9]])
    check_grads(lambda a: fnp.take_along_axis(a, i, 1, mode="fill", fill_value=0.5),
                (rng.normal(size=(2, 3)),), order=2, modes=("fwd", "rev"))
    with pytest.raises(IndexError, match="-1 is out of bounds"):
        fnp.take_along_axis(np.ones((2, 3)), i[:, :2], 1, wrap_negative_indices=False)
    with pytest.raises(ValueError, match="mode must be"):
        fnp.take_along_axis(np.ones((2, 3)), i[:, :2], 1, mode="one_hot")


def test_take_along_axis_fill_under_vmap_jit_and_grad(jx):
    jax = pytest.importorskip("jax")
    _, jnp = jx
    a = rng.normal(size=(4, 2, 3))
    i = np.array([[[0, 2, 7], [-1, 1, -9]]] * 4) + np.arange(4)[:, None, None] % 2

    def take(lib, fill):
        return lambda a, i: lib.take_along_axis(a, i, 1, mode="fill", fill_value=fill)
    for fill in (None, 0.5):
        want = jax.vmap(take(jnp, fill))(a, i)
        np.testing.assert_array_equal(ft.vmap(take(fnp, fill))(a, i), want)
        np.testing.assert_array_equal(ft.vmap(take(fnp, fill), (0, None))(a, i[0]),
                                      jax.vmap(take(jnp, fill), (0, None))(a, i[0]))
        np.testing.assert_array_equal(ft.jit(ft.vmap(take(fnp, fill)))(a, i), want)

    def loss(lib, grad, jit):
        return jit(grad(lambda a: (take(lib, 0.5)(a, i[0]) ** 2).sum()))
    np.testing.assert_allclose(loss(fnp, ft.grad, ft.jit)(a[0]),
                               loss(jnp, jax.grad, jax.jit)(a[0]))
    c = (a[0] + 1j * a[1]).astype(np.complex128)
    np.testing.assert_array_equal(fnp.take_along_axis(c, i[0], 1, mode="fill"),
                                  jnp.take_along_axis(c, i[0], 1, mode="fill"))
    # a fill value is converted to the array's dtype as JAX converts it (wrapping unsigned)
    u = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.testing.assert_array_equal(
        fnp.take_along_axis(u, i[0], 1, mode="fill", fill_value=-1),
        jnp.take_along_axis(u, i[0], 1, mode="fill", fill_value=-1))
    with pytest.raises(TypeError, match="take_along_axis: fill_value must be a concrete"):
        ft.jit(lambda f: fnp.take_along_axis(a[0], i[0], 1, mode="fill", fill_value=f))(2.0)


# ------------------------------------------------------------------ lax indexing and names
@pytest.mark.parametrize("start", [-3, -12, 3, 8])
@pytest.mark.parametrize("allow", [True, False])
def test_dynamic_slices_allow_negative_indices(jx, start, allow):
    lax, _ = jx
    x = np.arange(30).reshape(10, 3)
    u = -np.ones((2, 3), np.int64)
    calls = [
        lambda lx, s, **k: lx.dynamic_slice(x, (s, 0), (4, 2), **k),
        lambda lx, s, **k: lx.dynamic_slice_in_dim(x, s, 4, 0, **k),
        lambda lx, s, **k: lx.dynamic_index_in_dim(x, s, 0, False, **k),
        lambda lx, s, **k: lx.dynamic_update_slice(x, u, (s, 0), **k),
        lambda lx, s, **k: lx.dynamic_update_slice_in_dim(x, u, s, 0, **k),
        lambda lx, s, **k: lx.dynamic_update_index_in_dim(x, u[0], s, 0, **k)]
    for call in calls:
        kw = dict(allow_negative_indices=allow)
        # traced starts never raise: negative ones clamp to 0 when not allowed
        same(ft.jit(lambda s: call(fl, s, **kw))(start),
             call(lax, np.asarray(start), **kw), exact=True)
        if start < 0 and not allow:
            with pytest.raises(ValueError, match="allow_negative_indices=False"):
                call(fl, start, **kw)
        else:
            same(call(fl, start, **kw), call(lax, start, **kw), exact=True)


def test_dynamic_slice_allow_negative_per_axis(jx):
    lax, _ = jx
    x = np.arange(30).reshape(5, 6)
    starts = (np.asarray(-2), np.asarray(-2))
    same(fl.dynamic_slice(x, starts, (2, 2), allow_negative_indices=(True, False)),
         lax.dynamic_slice(x, starts, (2, 2), allow_negative_indices=(True, False)), exact=True)


def test_renamed_parameters_and_mul_out_dtype(jx):
    lax, _ = jx
    x = np.arange(10.)
    same(fl.slice_in_dim(x, start_index=2, limit_index=None, stride=3),
         lax.slice_in_dim(x, start_index=2, limit_index=None, stride=3))
    same(fl.polygamma(m=2, x=np.array([0.5, 3.0])), lax.polygamma(m=2., x=np.array([0.5, 3.])))
    a = (np.arange(4) * 40).astype(np.int8)
    same(fl.mul(a, a, out_dtype=np.int32), lax.mul(a, a, out_dtype=np.int32), exact=True)
    same(fl.mul(a, a), lax.mul(a, a), exact=True)
    f = np.arange(4, dtype=np.float32)
    same(ft.jit(lambda f: fl.mul(f, f, out_dtype=np.float64))(f),
         lax.mul(f, f, out_dtype=np.float64))
    same(fl.exp(f, accuracy=None), lax.exp(f, accuracy=None))
    with pytest.raises(TypeError, match="out_dtype"):
        fl.add(f, f, out_dtype=np.float64)


# ------------------------------------------------------------------ reduce_window
RW_CASES = [((2, 2), (1, 1), "VALID", (2, 1), None),
            ((2, 3), (1, 2), ((1, 0), (0, 2)), (2, 3), (1, 2)),
            ((2, 2), (1, 1), "SAME", (2, 1), None),
            ((3, 1), (2, 1), "SAME", (3, 2), (1, 1))]


@pytest.mark.parametrize("case", RW_CASES)
@pytest.mark.parametrize("op", ["add", "max"])
@pytest.mark.parametrize("dt", ["float64", "int32"])
def test_reduce_window_base_dilation(jx, case, op, dt):
    lax, _ = jx
    x = (rng.permutation(20).reshape(4, 5) - 7).astype(dt)
    window, strides, padding, base, wdil = case

    def f(lx, x):
        lowest = -np.inf if dt == "float64" else np.iinfo(dt).min
        init = np.array(0 if op == "add" else lowest, dt)
        return lx.reduce_window(x, init, getattr(lx, op), window, strides, padding, base, wdil)
    same(f(fl, x), f(lax, x), exact=True)
    same(ft.jit(lambda x: f(fl, x))(x), f(lax, x), exact=True)


@pytest.mark.parametrize("op", ["add", "max"])
def test_reduce_window_base_dilation_grads(op):
    x = rng.permutation(20).reshape(4, 5) * 0.37     # distinct: max is differentiable
    init = 0. if op == "add" else -np.inf
    check_grads(lambda x: fl.reduce_window(x, init, getattr(fl, op), (2, 3), (1, 2),
                                           ((1, 0), (0, 2)), base_dilation=(2, 3)),
                (x,), order=2, modes=("fwd", "rev"))


def test_reduce_window_base_dilation_error():
    with pytest.raises(ValueError, match="base_dilation must be one positive integer"):
        fl.reduce_window(np.ones((3, 3)), 0., fl.add, (2, 2), base_dilation=(2,))


# ------------------------------------------------------------------ collectives
@pytest.mark.parametrize("name", ["psum", "pmean", "pmax", "pmin", "all_gather",
                                  "psum_scatter"])
def test_axis_index_groups(name):
    x = np.arange(8.).reshape(4, 2)
    if name == "psum_scatter":
        x = np.arange(16.).reshape(4, 4)
    f = getattr(fl, name)
    same(ft.vmap(lambda v: f(v, "i", axis_index_groups=None), axis_name="i")(x),
         ft.vmap(lambda v: f(v, "i"), axis_name="i")(x))
    with pytest.raises(NotImplementedError, match="axis_index_groups"):
        ft.vmap(lambda v: f(v, "i", axis_index_groups=[[0, 1], [2, 3]]), axis_name="i")(x)


# ------------------------------------------------------------------ numpy keywords
UFUNCS = ["add", "subtract", "multiply", "maximum", "minimum", "logaddexp", "logaddexp2",
          "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or",
          "bitwise_xor"]


@pytest.mark.parametrize("name", UFUNCS + ["negative"])
def test_ufunc_out_where(jx, name):
    _, jnp = jx
    args = (np.arange(3), np.array([2, 0, 1])) if name != "negative" else (np.arange(3),)
    if name.startswith("logaddexp"):
        args = tuple(a.astype(np.float64) for a in args)
    same(getattr(fnp, name)(*args, out=None, where=None),
         getattr(jnp, name)(*args, out=None, where=None))
    with pytest.raises(TypeError, match="immutable"):
        getattr(fnp, name)(*args, out=np.zeros(3))
    with pytest.raises(NotImplementedError, match="where="):
        getattr(fnp, name)(*args, where=np.array([True, False, True]))


@pytest.mark.parametrize("name,call", [
    ("around", lambda m, **k: m.around(np.array([1.25, 2.5]), 1, **k)),
    ("round", lambda m, **k: m.round(np.array([1.25, 2.5]), **k)),
    ("modf", lambda m, **k: m.modf(np.array([1.25, -2.5]), **k)),
    ("outer", lambda m, **k: m.outer(np.arange(2.), np.arange(3.), **k)),
    ("compress", lambda m, **k: m.compress(np.array([1, 0, 1]), np.arange(3.), **k)),
    ("isposinf", lambda m, **k: m.isposinf(np.array([np.inf, -np.inf, 1.]), **k)),
    ("isneginf", lambda m, **k: m.isneginf(np.array([np.inf, -np.inf, 1.]), **k)),
    ("einsum", lambda m, **k: m.einsum("ij,j->i", np.ones((2, 3)), np.arange(3.), **k)),
    ("stack", lambda m, **k: m.stack([np.arange(2.), np.ones(2)], 1, **k))])
def test_out_none(jx, name, call):
    _, jnp = jx
    _same_result(call(fnp, out=None), call(jnp, out=None), exact=False)
    with pytest.raises(TypeError, match="immutable"):
        call(fnp, out=np.zeros(3))


def test_array_ndmin_order(jx):
    _, jnp = jx
    for obj in ([1, 2], np.ones((2, 3)), np.float64(3.0)):
        for ndmin in (0, 1, 3):
            same(fnp.array(obj, ndmin=ndmin, order="K"), jnp.array(obj, ndmin=ndmin))
    same(fnp.asarray([1, 2], order="K"), jnp.asarray([1, 2], order="K"))
    same(ft.jit(lambda x: fnp.array(x, ndmin=3))(np.ones(2)), np.ones((1, 1, 2)))
    with pytest.raises(NotImplementedError, match="order='F'"):
        fnp.asarray([1, 2], order="F")


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("dtypes", [("int8", "int32"), ("float32", "float64"),
                                    ("float64", "float32")])
def test_convolve_correlate_vecdot_preferred_element_type(jx, mode, dtypes):
    _, jnp = jx
    src, want = dtypes
    a, v = np.array([1, -2, 3, 4], src), np.array([2, 1, -1], src)
    for name in ("convolve", "correlate"):
        theirs = None
        if np.dtype(want).itemsize >= np.dtype(src).itemsize:   # JAX refuses narrower ones
            theirs = getattr(jnp, name)(a, v, mode, precision="highest",
                                        preferred_element_type=want)
        ours = getattr(fnp, name)(a, v, mode, precision="highest", preferred_element_type=want)
        assert ours.dtype == np.dtype(want)
        if theirs is not None:
            same(ours, theirs)
        np.testing.assert_allclose(ours, getattr(np, name)(a.astype(np.float64), v, mode),
                                   rtol=1e-6)
    x = np.arange(6).reshape(2, 3).astype(src)
    if np.dtype(want).itemsize >= np.dtype(src).itemsize:
        same(fnp.vecdot(x, x, precision=None, preferred_element_type=want),
             jnp.vecdot(x, x, precision=None, preferred_element_type=want))


def test_convolve_preferred_element_type_grads():
    check_grads(lambda a, v: fnp.convolve(a, v, preferred_element_type=np.float64),
                (rng.normal(size=5), rng.normal(size=3)), order=2, modes=("fwd", "rev"))


def test_polynomial_and_window_keywords(jx):
    _, jnp = jx
    a1, a2 = np.array([0, 0, 1., 2]), np.array([0, 3.])
    for trim in (False, True):
        same(fnp.polymul(a1, a2, trim_leading_zeros=trim),
             jnp.polymul(a1, a2, trim_leading_zeros=trim))
    same(fnp.polymul(np.zeros(2), a2, trim_leading_zeros=True),
         jnp.polymul(np.zeros(2), a2, trim_leading_zeros=True))
    same(fnp.polyval(np.array([1., 2, 3]), np.array([2., -1]), unroll=2),
         jnp.polyval(np.array([1., 2, 3]), np.array([2., -1]), unroll=2))
    np.testing.assert_allclose(fnp.kaiser(M=7, beta=2.5), jnp.kaiser(M=7, beta=2.5),
                               rtol=1e-6)


def test_digitize_isin_method(jx):
    _, jnp = jx
    x, bins = np.array([0.5, 2.5, -1., 7.]), np.array([0, 1, 2, 3.])
    for m in ("scan", "scan_unrolled", "sort", "compare_all"):
        # (values only: JAX's digitize gives int32 even with x64, functrans NumPy's int64)
        np.testing.assert_array_equal(fnp.digitize(x, bins, method=m),
                                      jnp.digitize(x, bins, method=m))
    for m in ("auto", "compare_all", "binary_search", "sort"):
        same(fnp.isin(np.arange(4), np.array([1, 3]), method=m),
             jnp.isin(np.arange(4), np.array([1, 3]), method=m), exact=True)
    with pytest.raises(ValueError, match="method='bogus'"):
        fnp.digitize(x, bins, method="bogus")
    with pytest.raises(ValueError, match="method='bogus'"):
        fnp.isin(x, bins, method="bogus")


@pytest.mark.parametrize("trim", ["fb", "f", "b"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
def test_trim_zeros_axis(jx, trim, axis):
    _, jnp = jx
    for x in (np.array([[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 2, 0.]]), np.zeros((2, 3))):
        same(fnp.trim_zeros(x, trim, axis=axis), jnp.trim_zeros(x, trim, axis=axis))
    v = np.array([0, 0, 1, 2, 0.])
    same(fnp.trim_zeros(v, trim), jnp.trim_zeros(v, trim))


def test_delete_assume_unique_indices(jx):
    _, jnp = jx
    x = np.arange(12).reshape(3, 4)
    for obj, axis in [(np.array([1, -1]), None), (np.array([0, 2]), 1), (np.array(1), 0)]:
        def f(m, i):
            return m.delete(x, i, axis=axis, assume_unique_indices=True)
        theirs = f(jnp, obj)
        same(f(fnp, obj), theirs, exact=True)
        same(ft.jit(lambda i: f(fnp, i))(obj), theirs, exact=True)
    same(ft.vmap(lambda i: fnp.delete(np.arange(5), i, assume_unique_indices=True))(
        np.array([[0, 4], [2, 1]])), np.array([[1, 2, 3], [0, 3, 4]]), exact=True)
    check_grads(lambda a: fnp.delete(a, np.array([1]), assume_unique_indices=True),
                (rng.normal(size=4),), order=1, modes=("fwd", "rev"))


def test_index_dtypes_and_dot_dimension_numbers(jx):
    lax, jnp = jx
    a = np.array([3, 1, 2, 1])
    for descending in (False, True):
        same(fnp.argsort(a, descending=descending, dtype=np.int32),
             jnp.argsort(a, descending=descending, dtype=np.int32), exact=True)
    coords = (np.array([1, 2]), np.array([0, 3]))
    same(fnp.ravel_multi_index(coords, (3, 4), dtype=np.int16),
         jnp.ravel_multi_index(coords, (3, 4), dtype=np.int16), exact=True)
    x, y = rng.normal(size=(5, 2, 3)), rng.normal(size=(5, 3, 4))
    dn = (((2,), (1,)), ((0,), (0,)))
    same(fl.dot(x, y, dimension_numbers=dn), lax.dot(x, y, dimension_numbers=dn))


def test_new_arguments_on_a_non_default_device(fake_gpus):
    """Operands on the stand-in GPU (cpu the default): what the new arguments create
    (iotas, fills, paddings) joins the operands' device."""
    gpu = fake_gpus[0]

    def put(x):
        return ft.device_put(np.asarray(x), gpu)
    x, y = put(SET_X), put(SET_Y)
    results = [
        *fnp.unique(x, True, True, True, size=6), fnp.intersect1d(x, y, size=4),
        fnp.setxor1d(x, y, size=4), fnp.setdiff1d(x, y, size=4), fnp.union1d(x, y, size=8),
        fnp.take_along_axis(put(np.arange(6.).reshape(2, 3)), put(np.array([[0, 5]] * 2)), 1,
                            mode="fill"),
        ft.jit(lambda a, i: fnp.delete(a, i, assume_unique_indices=True))(
            put(np.arange(5.)), put(np.array([1]))),
        fl.reduce_window(put(np.ones((3, 3))), 0., fl.add, (2, 2), base_dilation=(2, 1)),
        fl.conv_general_dilated(put(np.ones((4, 2, 5, 5))), put(np.ones((6, 2, 3, 3))), (1, 1),
                                "VALID", batch_group_count=2),
        fl.dynamic_slice(put(np.arange(6.)), (-2,), (2,)),
        fnp.var(put(np.arange(6.)), mean=put(np.array([1.0])))]
    for r in results:
        assert r.device == gpu, r


def test_array_method_keywords(jx):
    _, jnp = jx
    a = np.arange(12.).reshape(3, 4) ** 1.5
    ours, theirs = fnp.asarray(a), jnp.asarray(a)
    mask = np.arange(12).reshape(3, 4) % 3 > 0
    for name, kw in [("var", dict(axis=1, correction=1, where=mask)),
                     ("std", dict(axis=0, where=mask)),
                     ("all", dict(axis=1, where=mask)), ("any", dict(where=mask)),
                     ("round", dict(decimals=1, out=None)),
                     ("swapaxes", dict(axis1=0, axis2=1)),
                     ("dot", dict(b=a.T, precision=None, preferred_element_type=np.float64))]:
        same(getattr(ours, name)(**kw), getattr(theirs, name)(**kw))
    # (values: JAX's searchsorted gives int32 even with x64, functrans NumPy's int64)
    np.testing.assert_array_equal(fnp.asarray(np.arange(5.)).searchsorted(2.5, method="sort"),
                                  jnp.asarray(np.arange(5.)).searchsorted(2.5, method="sort"))
    same(ours.var(axis=1, mean=a.mean(1, keepdims=True)), np.var(a, axis=1))


@pytest.mark.parametrize("name", ["union1d", "setxor1d", "setdiff1d", "intersect1d"])
def test_set_functions_sized_nan(jx, name):
    _, jnp = jx
    for a, b in [(np.array([1.5, np.nan]), np.array([np.nan, 2.])),
                 (np.array([np.nan, np.nan, 1.]), np.array([3.]))]:
        _same_result(getattr(fnp, name)(a, b, size=5), getattr(jnp, name)(a, b, size=5))


def test_vmap_sum_match_sums_varying_outputs_whose_out_axes_is_none(jx):
    import jax
    x = rng.standard_normal((4, 3))

    def f(v, c):
        return 2.0 * v, c, v.sum()
    axes = dict(in_axes=(0, None), out_axes=(None, None, 0), sum_match=True)
    ours = ft.vmap(f, **axes)(fnp.asarray(x), 5.0)
    theirs = jax.vmap(f, **axes)(jx[1].asarray(x), 5.0)
    for a, b in zip(ours, theirs):
        same(a, b)
    same(ft.jit(ft.vmap(f, **axes))(fnp.asarray(x), 5.0)[0], theirs[0])
    # summing over the mapped axis is the transpose of broadcasting along it
    g = ft.grad(lambda w: ft.vmap(lambda v: fnp.sin(v * w), out_axes=None,
                                  sum_match=True)(fnp.asarray(x)).sum())
    want = jax.grad(lambda w: jax.vmap(lambda v: jax.numpy.sin(v * w), out_axes=None,
                                       sum_match=True)(x).sum())
    same(g(np.float64(0.7)), want(np.float64(0.7)))
    check_grads(lambda x: ft.vmap(lambda v: v ** 3, out_axes=None, sum_match=True)(x),
                (fnp.asarray(x),), order=2)
    # nested: the inner sum, then the outer stack
    inner = ft.vmap(ft.vmap(lambda v: v * v, out_axes=None, sum_match=True))
    same(inner(fnp.asarray(x)), (x * x).sum(1))
    with pytest.raises(ValueError, match="varies across the batch"):
        ft.vmap(lambda v: v, out_axes=None)(fnp.asarray(x))


def test_key_impl_and_dtype(jx):
    import jax
    assert np.array_equal(ft.random.key(7, impl="threefry2x32"),
                          jax.random.key_data(jax.random.key(7, impl="threefry2x32")))
    assert np.array_equal(ft.random.PRNGKey(7, impl="threefry2x32"), ft.random.key(7))
    assert np.array_equal(ft.random.key(7, dtype=ft.random.key_dtype()), ft.random.key(7))
    k = ft.random.wrap_key_data(np.array([0, 7], np.uint32), dtype=np.uint32)
    assert np.array_equal(k, ft.random.key(7))
    with pytest.raises(ValueError, match="one generator, 'threefry2x32'; got impl='rbg'"):
        ft.random.key(0, impl="rbg")
    with pytest.raises(ValueError, match="impl or dtype, not both"):
        ft.random.key(0, impl="threefry2x32", dtype=np.uint32)
    with pytest.raises(ValueError, match="uint32 words"):
        ft.random.wrap_key_data(np.zeros(2, np.uint32), dtype=np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_ndtr_series_order_as_jax(jx, dtype):
    import jax.scipy.special as jss
    # the far lower tail, where the series is summed (above it JAX's float32 log1p(-ndtr(-x))
    # is off by 2e-5 at x = 3, where functrans matches SciPy)
    x = np.array([-40.0, -30.0, -20.5, -12.0, -10.5], dtype)
    for order in (0, 1, 2, 3, 5, 30):
        same(ft.scipy.special.log_ndtr(x, series_order=order),
             jss.log_ndtr(jx[1].asarray(x), series_order=order))
    same(ft.scipy.special.log_ndtr(x), jss.log_ndtr(jx[1].asarray(x)))
    for bad in (-1, 31, 2.0):
        with pytest.raises(ValueError, match="series_order"):
            ft.scipy.special.log_ndtr(x, series_order=bad)


def test_dft_dtype(jx):
    import jax.scipy.linalg as jsl
    for dt in (np.complex64, np.complex128):
        same(ft.scipy.linalg.dft(5, "sqrtn", dtype=dt), jsl.dft(5, "sqrtn", dtype=dt))
    assert ft.scipy.linalg.dft(2).dtype == ft.dtypes.default_complex_dtype()
    with pytest.raises(ValueError, match="complex floating-point"):
        ft.scipy.linalg.dft(3, dtype=np.float32)
