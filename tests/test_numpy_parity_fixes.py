"""Regressions found by differential testing against JAX (tests/test_jax_numpy_parity.py):
each pins a behaviour where functrans differed from JAX and NumPy, eagerly and under jit,
with expected values from NumPy/SciPy or worked by hand, so they run without JAX."""
from __future__ import annotations

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
import functrans.scipy.special as fsp
from functrans.test_util import check_grads


def both(f, *args):
    """f(*args) eagerly and under jit, after checking they agree in value and dtype."""
    eager, jitted = f(*args), ft.jit(f)(*args)
    for e, j in zip(ft.tree_util.tree_leaves(eager), ft.tree_util.tree_leaves(jitted)):
        assert np.asarray(e).dtype == np.asarray(j).dtype
        np.testing.assert_array_equal(np.asarray(e), np.asarray(j))
    return eager


def test_lax_div_of_integers_rounds_toward_zero():
    """(It divided as floats: lax.div(int32 -7, 2) gave float64 -3.5; JAX gives int32 -3.)"""
    x = np.array([-7, 7, -7, 7, 6], np.int32)
    y = np.array([2, 2, -2, -2, 3], np.int32)
    out = both(ft.lax.div, x, y)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [-3, 3, 3, -3, 2])
    np.testing.assert_array_equal(both(lambda a: ft.lax.div(a, 2), x), [-3, 3, -3, 3, 3])
    np.testing.assert_array_equal(ft.vmap(ft.lax.div)(x, y), [-3, 3, 3, -3, 2])
    assert both(ft.lax.div, np.float32(7), np.float32(2)) == 3.5


def test_gamma_has_its_sign_and_poles_and_entr_keeps_nan():
    """(gamma was exp(gammaln): |Gamma|, so Gamma(-0.5) came out +3.54 and the poles inf;
    entr(nan) gave 0.)"""
    scipy_special = pytest.importorskip("scipy.special")
    x = np.array([0.0, -0.0, -1.0, -2.0, -0.5, -1.5, -2.5, np.inf, -np.inf, np.nan, 3.0, 0.3])
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(both(fsp.gamma, x), scipy_special.gamma(x), rtol=1e-12)
        np.testing.assert_allclose(both(fsp.entr, x), scipy_special.entr(x), rtol=1e-12)
    assert fsp.gamma(np.float32(-0.5)).dtype == np.float32
    check_grads(fsp.gamma, (np.array([-0.5, -1.5, 2.5, 0.7]),), order=2, modes=("fwd", "rev"))


def test_quantiles_and_median_of_slices_with_nan_are_nan():
    """(NaNs sort last, so median([1, nan, 3]) picked 3: NumPy and JAX give nan.)"""
    a = np.array([[1.0, np.nan, 3.0], [4.0, 2.0, 0.5]])
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(both(lambda a: fnp.median(a, axis=1), a),
                                      np.median(a, axis=1))
        np.testing.assert_allclose(both(lambda a: fnp.quantile(a, np.array([0.1, 0.5]),
                                                               axis=1), a),
                                   np.quantile(a, [0.1, 0.5], axis=1))
        np.testing.assert_array_equal(
            both(lambda a: fnp.percentile(a, 30, axis=0, keepdims=True, method="lower"), a),
            np.percentile(a, 30, axis=0, keepdims=True, method="lower"))
    assert np.isnan(fnp.median(a))
    np.testing.assert_array_equal(fnp.nanmedian(a, axis=1), [2.0, 2.0])
    check_grads(lambda a: fnp.quantile(a, 0.3, axis=1), (np.array([[1.0, 5, 3], [4, 2, 0.5]]),),
                order=2, modes=("fwd", "rev"))


def test_mean_with_an_integer_dtype_truncates_and_keeps_it():
    """(dtype=int64 was used only to convert the input, the mean came back float.)"""
    i = np.array([[1, 2], [-3, -4], [5, 6]])
    out = both(lambda i: fnp.mean(i, axis=1, dtype=np.int32), i)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, np.mean(i, axis=1, dtype=np.int32))
    assert both(lambda i: fnp.mean(i, dtype="int64"), i).dtype == np.int64


def test_nanargmax_of_an_all_nan_slice_is_minus_one():
    """(It gave 0, an index of a NaN; JAX gives -1 and NumPy raises, which jit cannot.)"""
    x = np.array([[np.nan, np.nan], [1.0, 2.0]])
    np.testing.assert_array_equal(both(lambda x: fnp.nanargmax(x, axis=1), x), [-1, 1])
    np.testing.assert_array_equal(both(lambda x: fnp.nanargmin(x, axis=1, keepdims=True), x),
                                  [[-1], [0]])
    assert fnp.nanargmax(np.full(3, np.nan)) == -1 and fnp.nanargmin(x) == 2


def test_nanvar_without_degrees_of_freedom_is_nan():
    """(count - ddof <= 0 divided by 0: inf, where NumPy and JAX give nan.)"""
    out = both(lambda x: fnp.nanvar(x, axis=0, ddof=2), np.array([[1.0, 2, 3], [2, 4, 7]]))
    np.testing.assert_array_equal(out, [np.nan] * 3)
    assert np.isnan(fnp.nanstd(np.array([1.0, np.nan]), ddof=1))
    np.testing.assert_allclose(fnp.nanstd(np.array([1.0, np.nan, 2.0]), ddof=1),
                               np.nanstd([1.0, np.nan, 2.0], ddof=1))


def test_argmax_refuses_a_tuple_of_axes():
    """(axis=(0, 2) silently searched axis 0 only.)"""
    with pytest.raises(TypeError, match="axis must be an integer"):
        fnp.argmax(np.ones((2, 3, 2)), axis=(0, 2))
    with pytest.raises(TypeError, match="axis must be an integer"):
        fnp.nanargmin(np.ones((2, 3)), axis=[1])


def test_complex_values_in_float_power_nan_to_num_and_angle():
    """(float_power cast complex operands to float64, dropping the imaginary part;
    nan_to_num replaced a complex value with an infinite part by 0; angle(nan) gave 0, and
    angle of float64 values used float32's pi.)"""
    z = np.array([1 + 1j, 2 - 0.5j])
    out = both(lambda z: fnp.float_power(z, 2), z)
    assert out.dtype == np.complex128
    np.testing.assert_allclose(out, np.float_power(z, 2))
    assert both(fnp.float_power, np.float32(2), np.int32(3)).dtype == np.float64
    c = np.array([np.nan + 1j * np.inf, 1 - 1j * np.inf, np.inf + 0j], np.complex64)
    np.testing.assert_array_equal(both(fnp.nan_to_num, c), np.nan_to_num(c))
    np.testing.assert_array_equal(both(lambda c: fnp.nan_to_num(c, nan=2.0, posinf=5.0), c),
                                  np.nan_to_num(c, nan=2.0, posinf=5.0))
    x = np.array([np.nan, -1.0, 2.0, -0.0])
    np.testing.assert_array_equal(both(fnp.angle, x), np.angle(x))


@pytest.mark.parametrize("name", ["fabs", "frexp", "isposinf", "isneginf", "heaviside"])
def test_real_only_functions_refuse_complex_values(name):
    """(They returned something for complex input, where NumPy and JAX raise TypeError.)"""
    f = getattr(fnp, name)
    args = (np.array([1 + 1j]),) + ((0.5,) if name == "heaviside" else ())
    with pytest.raises(TypeError, match=f"{name} is not defined for complex values"):
        f(*args)
    with pytest.raises(TypeError, match="complex"):
        ft.jit(f)(*args)


def test_reshape_and_ravel_in_fortran_order():
    """(ravel ignored order='F' and returned C order; reshape refused order='F'.)"""
    x = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(both(lambda x: fnp.ravel(x, order="F"), x), x.ravel("F"))
    np.testing.assert_array_equal(both(lambda x: fnp.reshape(x, (4, -1), order="F"), x),
                                  x.reshape((4, -1), order="F"))
    a = fnp.asarray(x)
    np.testing.assert_array_equal(a.flatten("F"), x.flatten("F"))
    np.testing.assert_array_equal(a.reshape(6, 4, order="F"), x.reshape(6, 4, order="F"))
    with pytest.raises(ValueError, match="order"):
        fnp.reshape(x, -1, order="K")
    check_grads(lambda x: fnp.reshape(x, (4, -1), order="F") ** 2, (x,), order=2,
                modes=("fwd", "rev"))


@pytest.mark.parametrize("call", [
    lambda x: fnp.transpose(x, (0, 1)), lambda x: fnp.transpose(x, (0, 1, 5)),
    lambda x: fnp.permute_dims(x, (1, 0)), lambda x: fnp.moveaxis(x, 0, 3),
    lambda x: fnp.moveaxis(x, (0, 1), 2), lambda x: fnp.swapaxes(x, 1, 3),
    lambda x: ft.lax.transpose(x, (1, 0)), lambda x: ft.lax.reduce_sum(x, (3,)),
    lambda x: ft.lax.argmax(x, 3, np.int64), lambda x: ft.lax.cumsum(x, -4),
    lambda x: fnp.tensordot(x, np.ones((4, 3)), 2)])
def test_axes_out_of_range_and_mismatched_contractions_raise(call):
    """(Each returned a wrong result: a partial permutation was taken for the identity, axes
    wrapped around modulo the rank, and tensordot contracted (3, 4) with (4, 3) because the
    eager kernel only compared the flattened sizes.)"""
    x = np.ones((2, 3, 4))
    with pytest.raises(ValueError):
        call(x)
    with pytest.raises(ValueError):
        ft.jit(call)(x)


def test_python_scalars_in_append_diff_select_and_heaviside_are_weak():
    """(They became arrays of the default type first: diff(int32, prepend=1) and
    select([c], [int32]) gave int64; with default float64, append(float32, 5.0) gave
    float64.)"""
    i, f = np.arange(5, dtype=np.int32), np.ones(3, np.float32)
    assert both(lambda i: fnp.diff(i, prepend=1), i).dtype == np.int32
    assert both(lambda i: fnp.append(i, 5), i).dtype == np.int32
    assert both(lambda i: fnp.select([i > 2], [i]), i).dtype == np.int32
    np.testing.assert_array_equal(fnp.diff(i, prepend=7), np.diff(i, prepend=7))
    ft.config.update("default_float_dtype", "float64")
    try:
        assert fnp.append(f, 5.0).dtype == np.float32
        assert fnp.select([f > 0], [f], 9.0).dtype == np.float32
        assert fnp.heaviside(1.5, f).dtype == np.float32
        assert fnp.append(i, 2.5).dtype == np.float64
    finally:
        ft.config.update("default_float_dtype", "float32")


@pytest.mark.parametrize("mode", ["reflect", "symmetric"])
def test_pad_with_odd_reflection(mode):
    """(reflect_type='odd' was ignored: the even reflection came back.)"""
    for n in (1, 2, 4):
        a = np.array([3, 1, 9, 4][:n])
        for width in ((2, 3), (7, 1), (0, 5)):
            np.testing.assert_array_equal(
                both(lambda a, w=width: fnp.pad(a, w, mode=mode, reflect_type="odd"), a),
                np.pad(a, width, mode=mode, reflect_type="odd"))
    b = np.random.default_rng(0).standard_normal((3, 4))

    def f(b):
        return fnp.pad(b, ((2, 5), (1, 3)), mode=mode, reflect_type="odd")
    np.testing.assert_allclose(both(f, b), np.pad(b, ((2, 5), (1, 3)), mode=mode,
                                                  reflect_type="odd"))
    check_grads(f, (b,), order=2, modes=("fwd", "rev"))


def test_unravel_index_clamps_out_of_range_indices():
    """(Indices wrapped modulo the size: 6 in a (2, 3) array became (0, 0); JAX clamps it to
    (1, 2) and takes negatives from the end.)"""
    i = np.array([-1, 6, -7, -6, 5, 3])
    rows, cols = both(lambda i: fnp.unravel_index(i, (2, 3)), i)
    np.testing.assert_array_equal(rows, [1, 1, 0, 0, 1, 1])
    np.testing.assert_array_equal(cols, [2, 2, 0, 0, 2, 0])


def test_population_count_counts_the_bit_pattern_in_the_operand_dtype():
    """(lax.population_count counted the bits of |x| and returned uint8, which is NumPy's
    bitwise_count; JAX's keeps the dtype and counts two's-complement bits.)"""
    x = np.array([-1, -2, 0, 5, -128, 127], np.int8)
    out = both(ft.lax.population_count, x)
    assert out.dtype == np.int8
    np.testing.assert_array_equal(out, [8, 7, 0, 2, 1, 7])
    np.testing.assert_array_equal(ft.lax.population_count(np.array([-1, -2**31], np.int32)),
                                  [32, 1])
    np.testing.assert_array_equal(both(fnp.bitwise_count, x), np.bitwise_count(x))
    assert fnp.bitwise_count(x).dtype == np.uint8


def test_take_mode_fill():
    """(mode='fill', JAX's default for take, and fill_value= were refused.)"""
    a = np.arange(6.0).reshape(2, 3)
    i = np.array([[0, 5], [-3, -4]])
    out = both(lambda a, i: fnp.take(a, i, axis=1, mode="fill"), a, i)
    expected = np.where(np.array([[1, 0], [1, 0]], bool)[None], a[:, i % 3], np.nan)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(fnp.take(a.astype(np.int32), i, 1, mode="fill")[0, :, 1],
                                  [np.iinfo(np.int32).min] * 2)
    np.testing.assert_array_equal(fnp.take(a, np.array([7, 2]), mode="fill", fill_value=-1),
                                  [-1.0, 2.0])
    check_grads(lambda a: fnp.take(a, i, 1, mode="fill", fill_value=0.0), (a,), order=2,
                modes=("fwd", "rev"))


def test_lax_signatures_of_jax():
    """(iota(dtype, size), full without a dtype, reshape's dimensions, slice_in_dim with None
    or negative bounds, sort's is_stable and sequence of operands, and the
    preferred_element_type of dot/dot_general were refused.)"""
    lax = ft.lax
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    assert lax.iota(np.int32, 4).dtype == np.int32 and lax.iota("float32", 3).dtype == np.float32
    np.testing.assert_array_equal(lax.iota(3), [0, 1, 2])
    assert lax.full((2,), 3.0).dtype == np.float32 and lax.full((), True).dtype == np.bool_
    np.testing.assert_array_equal(both(lambda a: lax.reshape(a, (3, 2), (1, 0)), a),
                                  a.T.reshape(3, 2))
    np.testing.assert_array_equal(lax.slice_in_dim(np.arange(5), -3, None), [2, 3, 4])
    np.testing.assert_array_equal(lax.sort(np.array([3.0, 1, 2]), is_stable=True), [1, 2, 3])
    _, vals = lax.sort((np.array([3, 1, 2]), np.array([0, 1, 2])))
    np.testing.assert_array_equal(vals, [1, 2, 0])
    out = both(lambda a: lax.dot(a, a.T, preferred_element_type=np.float64), a)
    assert out.dtype == np.float64
    i = a.astype(np.int32)
    out = both(lambda i: lax.dot_general(i, i, (((1,), (1,)), ((), ())),
                                         preferred_element_type=np.float32), i)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, a @ a.T)
    assert ft.grad(lambda a: lax.dot(a, a.T, preferred_element_type=np.float64).sum())(
        a).dtype == np.float32


def test_polygamma_orders_sort_complex_column_stack_polyint_and_linalg_outer():
    """(polygamma took one order only, int(n) of an array; sort_complex kept integers;
    column_stack refused 0-d arrays; polyint refused an array of constants k;
    linalg.outer flattened matrices where the array API and JAX refuse them.)"""
    scipy_special = pytest.importorskip("scipy.special")
    n, x = np.array([0, 1, 2]), np.array([0.5, 1.5, 3.0])
    np.testing.assert_allclose(both(fsp.polygamma, n, x), scipy_special.polygamma(n, x),
                               rtol=1e-12)
    assert fsp.polygamma(np.array([[0], [1]]), x).shape == (2, 3)
    check_grads(lambda x: fsp.polygamma(n, x), (x,), order=1, modes=("fwd", "rev"))
    out = fnp.sort_complex(np.array([3, 1, 2], np.int32))
    assert out.dtype.kind == "c"
    np.testing.assert_array_equal(out, [1, 2, 3])
    np.testing.assert_array_equal(fnp.column_stack((np.float32(1), np.float32(2))), [[1, 2]])
    p = np.array([3.0, 6.0])
    np.testing.assert_allclose(fnp.polyint(p, 2, k=np.array([1.0, 2.0])),
                               np.polyint(p, 2, k=np.array([1.0, 2.0])))
    np.testing.assert_allclose(fnp.polyint(p, 2, k=5.0), np.polyint(p, 2, k=5.0))
    with pytest.raises(ValueError, match="one-dimensional"):
        fnp.linalg.outer(np.ones((2, 2)), np.ones(3))
    assert fnp.linalg.outer(np.ones(2), np.ones(3)).shape == (2, 3)


def test_dynamic_slices_count_negative_starts_from_the_end():
    """(A negative start was clamped to 0; JAX counts it from the end, then clamps.)"""
    x = np.arange(20.0).reshape(4, 5)
    cases = {(-1, 0): x[2:4, 0:2], (-4, -1): x[0:2, 3:5], (-5, -9): x[0:2, 0:2]}
    for starts, expected in cases.items():
        np.testing.assert_array_equal(ft.lax.dynamic_slice(x, starts, (2, 2)), expected)
        traced = ft.jit(lambda x, i, j: ft.lax.dynamic_slice(x, (i, j), (2, 2)))
        np.testing.assert_array_equal(traced(x, *map(np.int64, starts)), expected)
    out = both(lambda x: ft.lax.dynamic_update_slice(x, -np.ones((2, 2)), (-1, -2)), x)
    expected = x.copy()
    expected[2:, 3:] = -1
    np.testing.assert_array_equal(out, expected)
    f = ft.jit(lambda a, i: a.at[i].set(9.0, mode="clip"))       # still clamped: -5 -> 0
    np.testing.assert_array_equal(f(np.arange(3.0), np.int64(-5)), [9.0, 1.0, 2.0])


def test_lax_slice_past_the_end_raises_eagerly_too():
    """(Eagerly the kernel sliced NumPy-style and returned a short result.)"""
    with pytest.raises(ValueError, match="invalid for shape"):
        ft.lax.slice(np.ones((4, 5)), (0, 0), (5, 5))
    with pytest.raises(ValueError, match="invalid for shape"):
        ft.lax.slice(np.ones((4, 5)), (0,), (2,))


def test_logaddexp2_scalars_are_weak_and_linspace_step_has_the_samples_type():
    """(With default float64, logaddexp2(float32, 2) gave float64; linspace's retstep gave a
    NumPy float64 whatever the dtype, and float64 endpoints gave float32 samples.)"""
    step = fnp.linspace(0, 1, 5, retstep=True)[1]
    assert step.dtype == np.float32 and float(step) == 0.25
    assert fnp.linspace(np.float64(0), 1, 3, retstep=True)[1].dtype == np.float64
    assert fnp.linspace(np.array([0.0, 1.0]), 2.0, 3).dtype == np.float64
    ft.config.update("default_float_dtype", "float64")
    try:
        assert fnp.logaddexp2(np.ones(3, np.float32), 2).dtype == np.float32
    finally:
        ft.config.update("default_float_dtype", "float32")
    np.testing.assert_allclose(fnp.logaddexp2(np.ones(3, np.float32), 2), np.logaddexp2(1, 2),
                               rtol=1e-6)


def test_lax_refuses_mixed_dtypes_eagerly_as_under_jit():
    """(Eagerly lax.concatenate promoted, dynamic_update_slice cast the update and
    lax.complex took int or mixed parts; under jit all three raised.)"""
    a, b = np.ones((2, 3), np.float32), np.ones((2, 3))
    calls = [lambda a, b: ft.lax.concatenate([a, b], 0),
             lambda a, b: ft.lax.dynamic_update_slice(a, b[:1], (0, 0)),
             lambda a, b: ft.lax.complex(a, b),
             lambda a, b: ft.lax.complex(b.astype(np.int32), b.astype(np.int32))]
    for call in calls:
        with pytest.raises(TypeError):
            call(a, b)
        with pytest.raises(TypeError):
            ft.jit(call)(a, b)
    assert ft.lax.complex(a, a[0]).dtype == np.complex64


def test_array_methods_of_jax_arrays():
    """(sort, argsort, argpartition, ptp, take, repeat, compress, choose, diagonal, trace,
    nonzero and searchsorted were missing as methods, and np.cumsum(x, axis) failed on traced
    values because the cumsum method refused out=.)"""
    x = np.array([[3.0, 1, 2], [0, 5, 4]])
    a = fnp.asarray(x)
    np.testing.assert_array_equal(a.sort(), np.sort(x))
    np.testing.assert_array_equal(a.argsort(0), np.argsort(x, 0))
    np.testing.assert_array_equal(a.ptp(), np.ptp(x))
    np.testing.assert_array_equal(a.take(np.array([0, 2]), 1), x.take([0, 2], 1))
    np.testing.assert_array_equal(a.repeat(2), x.repeat(2))
    np.testing.assert_array_equal(a.compress(np.array([True, False]), 0), x.compress([1, 0], 0))
    np.testing.assert_array_equal(a.diagonal(), x.diagonal())
    assert a.trace() == x.trace() and a.argpartition(1).shape == (2, 3)
    np.testing.assert_array_equal(a.nonzero()[1], x.nonzero()[1])
    np.testing.assert_array_equal(fnp.asarray([1.0, 3, 5]).searchsorted(np.array([2.0, 5])),
                                  [1, 2])
    np.testing.assert_array_equal(fnp.asarray(np.array([0, 2, 1])).choose(
        [np.arange(3) * 10, np.arange(3), -np.arange(3)]), [0, -1, 2])
    np.testing.assert_array_equal(fnp.apply_along_axis(np.cumsum, 0, x),
                                  np.apply_along_axis(np.cumsum, 0, x))


def test_bool_integer_arithmetic_and_complex_linspace_agree_eagerly_and_under_jit():
    """remainder, power and the shifts of two bools are int8 (NumPy's loops) under jit too
    (it gave bool); linspace between complex endpoints kept only their real parts eagerly."""
    b = np.array([True, False, True])
    for name in ("remainder", "fmod", "power", "left_shift", "right_shift", "floor_divide"):
        f = getattr(fnp, name)
        with np.errstate(divide="ignore"):
            want = getattr(np, name)(b, np.array([True, True, True]))
            for got in (f(b, np.array([True, True, True])),
                        ft.jit(f)(b, np.array([True, True, True]))):
                assert got.dtype == want.dtype == np.int8, name
                np.testing.assert_array_equal(np.asarray(got), want)
    x = np.array([0.5 + 1j, 0.25, -1j], np.complex64)
    np.testing.assert_allclose(np.asarray(fnp.linspace(x, 2 * x, 4)), np.linspace(x, 2 * x, 4),
                               rtol=1e-6)
    np.testing.assert_allclose(np.asarray(fnp.linspace(0, 1 + 1j, 3)), [0, 0.5 + 0.5j, 1 + 1j])
    np.testing.assert_allclose(np.asarray(ft.jit(lambda a: fnp.linspace(a, 2 * a, 4))(x)),
                               np.linspace(x, 2 * x, 4), rtol=1e-6)


def test_unravel_index_takes_an_int_shape_as_numpy():
    got, = fnp.unravel_index(np.array([1, 3, -1]), 4)
    np.testing.assert_array_equal(np.asarray(got), [1, 3, 3])


# ------------------------------------------------------------------ found by an eager/jit/vmap sweep
def test_digitize_with_traced_decreasing_bins():
    # under jit and vmap the bins' order was taken to be increasing: wrong bins, silently
    x, b = np.array([0.5, -1.5, 2.0]), np.array([1.0, 0.0, -1.0])
    for right in (False, True):
        want = np.digitize(x, b, right)
        for fn in (fnp.digitize, ft.jit(fnp.digitize, static_argnums=2)):
            np.testing.assert_array_equal(np.asarray(fn(x, b, right)), want)
    xs = np.array([[0.5, -1.5, 2.0], [0.3, 0.1, -0.2]])
    np.testing.assert_array_equal(np.asarray(ft.vmap(fnp.digitize)(xs, np.stack([b, -b]))),
                                  [np.digitize(xs[0], b), np.digitize(xs[1], -b)])


def test_percentile_of_a_python_number_keeps_the_datas_precision():
    # q / 100 of a Python number was computed in float32 eagerly (-1.4800000004 here)
    x = np.array([0.5, -1.5, 2.0])
    for fn in (fnp.percentile, fnp.nanpercentile, ft.jit(fnp.percentile)):
        assert float(fn(x, 0.5)) == np.percentile(x, 0.5)


@pytest.mark.parametrize("y", [2, 2.0])
def test_derivatives_with_a_python_number_operand_under_jit(y):
    # atan2's derivative squared the Python number into an int64 (float64 with 2.0) array
    for dt in (np.float32, np.float64):
        x = np.array([0.5, -1.5, 2.0], dt)
        g = ft.grad(lambda x: fnp.sum(fnp.arctan2(x, y)))
        want = y / (x.astype(np.float64) ** 2 + y * y)
        for fn in (g, ft.jit(g)):
            got = fn(x)
            assert got.dtype == dt
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_power_rules_keep_their_python_exponent():
    # a change that made Python-number operands arrays in every derivative rule lost these:
    # x ** 0 had derivative NaN at 0 (0 * 0 ** -1), and x ** 2's went through pow
    for fn in (ft.grad(lambda x: x ** 0), ft.jit(ft.grad(lambda x: x ** 0))):
        assert float(fn(0.0)) == 0.0
    jaxpr = str(ft.make_jaxpr(ft.grad(lambda x: x ** 2))(3.0))
    assert jaxpr.count("pow") == 1 and float(ft.grad(lambda x: x ** 2)(3.0)) == 6.0


def test_python_numbers_passed_to_jit_reach_shape_kernels():
    # a Python number argument reached `.reshape` of generated code as a float
    x, h = fnp.asarray([1.0, 2.0]), fnp.asarray([1.0, 2.0], dtype=np.float16)
    for fn, args in [(fnp.append, (x, 2.5)), (fnp.append, (h, 2.5)), (fnp.append, (x, 2)),
                     (fnp.isin, (x, 2.0)), (fnp.kron, (x, 2.0)), (fnp.outer, (x, 2.0)),
                     (lambda s: fnp.reshape(s, (1, 1)), (3.0,)),
                     (lambda a, b: fnp.linspace(a, b, num=3), (x.astype(np.float32), 0.5)),
                     (lambda s, y: fnp.stack([s * 2, y[0]]), (1.5, h))]:
        eager, jitted = fn(*args), ft.jit(fn)(*args)
        assert eager.dtype == jitted.dtype
        np.testing.assert_array_equal(np.asarray(jitted), np.asarray(eager))


@pytest.mark.parametrize("start, stop, num, endpoint", [(1.0, 8.0, 4, True),
                                                         (-1.0, -1000.0, 4, True),
                                                         (2.0, 32.0, 5, False), (1.0, 8.0, 1, True)])
def test_geomspace_and_logspace_of_traced_endpoints(start, stop, num, endpoint):
    # they handed the traced endpoints to NumPy: every jit and vmap of them failed
    geo = ft.jit(lambda a, b: fnp.geomspace(a, b, num=num, endpoint=endpoint))
    np.testing.assert_allclose(np.asarray(geo(np.float64(start), np.float64(stop))),
                               np.geomspace(start, stop, num, endpoint), rtol=1e-12)
    log = ft.jit(lambda a: fnp.logspace(a, 2.0, num=num, endpoint=endpoint, base=2.0))
    np.testing.assert_allclose(np.asarray(log(np.float64(start))),
                               np.logspace(start, 2.0, num, endpoint, base=2.0), rtol=1e-12)
    want = np.geomspace(start, stop, num, endpoint)    # with a Python endpoint beside it
    for got in (ft.jit(lambda a: fnp.geomspace(a, stop, num, endpoint))(np.float64(start)),
                ft.jit(lambda b: fnp.geomspace(start, b, num, endpoint))(np.float64(stop))):
        assert got.dtype == np.float64
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)
    # geomspace(a, 8, 4) = [a, a^(2/3) 2, a^(1/3) 4, 8]: 1 + 4/3 + 4/3 at a = 1
    assert float(ft.grad(lambda a: fnp.sum(fnp.geomspace(a, 8.0, 4)))(1.0)) == \
        pytest.approx(11 / 3, rel=1e-6)


def test_linspace_of_traced_endpoints_one_value_and_python_stop():
    # num=1 gave NaN (0 times the NaN step), and a Python stop became float32 next to a
    # float64 start (a dtype error)
    f = ft.jit(lambda a: fnp.linspace(a, 2.0, 1, retstep=True))
    out, step = f(np.float64(0.5))
    assert np.asarray(out).tolist() == [0.5] and np.isnan(float(step)) and out.dtype == np.float64


def test_roll_takes_an_array_of_shifts_eagerly_as_under_jit():
    # eagerly int() of the (1,)-shaped shift raised; jit worked
    x, m = np.array([1, -3, 4], np.int32), np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(np.asarray(fnp.roll(x, np.array([2]))), np.roll(x, 2))
    np.testing.assert_array_equal(np.asarray(fnp.roll(m, np.array([1, 2]), 0)),
                                  np.roll(m, np.array([1, 2]), 0))
    np.testing.assert_array_equal(np.asarray(ft.jit(fnp.roll)(x, fnp.asarray([2]))),
                                  np.roll(x, 2))


def test_copysign_refuses_complex_values_eagerly_and_under_jit():
    # (as NumPy and JAX; eagerly it returned |c| with 2's sign)
    c = fnp.asarray(np.array([0.5 + 1j], np.complex64))
    for fn in (fnp.copysign, ft.jit(fnp.copysign)):
        with pytest.raises(TypeError, match="copysign is not defined for complex"):
            fn(c, 2)


def test_searchsorted_of_complex_arrays_under_vmap():
    # the Python number stayed float32 beside complex64 rows: vmap's comparison refused it
    cs = np.array([[0.5 + 1j, 1, 2 - 1j], [0.1, 0.2, 0.3]], np.complex64)
    got = ft.vmap(lambda a: fnp.searchsorted(a, 0.5))(cs)
    np.testing.assert_array_equal(np.asarray(got), [np.searchsorted(r, 0.5) for r in cs])


@pytest.mark.parametrize("call, error", [
    (lambda i: fnp.choose(i, [np.ones(3), np.zeros(3)]), ValueError),
    (lambda i: fnp.take_along_axis(np.ones((2, 3)), i[None, :2], axis=1), TypeError),
    (lambda i: fnp.put_along_axis(np.ones((2, 3)), i[None, :2], 9.0, 1, inplace=False),
     TypeError),
    (lambda i: fnp.ravel_multi_index((i, i), (2, 3)), TypeError),
])
@pytest.mark.parametrize("jit", [False, True])
def test_index_functions_refuse_boolean_indices_eagerly_and_under_jit(call, error, jit):
    """(Eagerly they read booleans as 0 and 1, under jit gather refused them; JAX refuses
    them in both, with these exception types.)"""
    with pytest.raises(error, match="indices must be an integer array, got bool"):
        (ft.jit(call) if jit else call)(np.array([True, False, True]))


def test_take_reads_boolean_indices_as_integers():
    """(It read them as a mask and failed; NumPy and JAX take them as 0 and 1.)"""
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(both(lambda i: fnp.take(x, i, axis=1), np.array([True, False])),
                                  [[1.0, 0.0], [4.0, 3.0]])
    with pytest.raises(ValueError, match="integer array, got float64"):
        fnp.take(x, np.array([1.0]))


def test_unravel_index_of_narrow_integers_in_a_large_shape():
    """(int8 indices in a shape of 60000 elements overflowed: the sizes did not fit int8;
    JAX computes them and keeps the index dtype, and bools give the default int.)"""
    i, j = both(lambda i: fnp.unravel_index(i, (200, 300)), np.array([1, 5, 127], np.int8))
    assert i.dtype == j.dtype == np.int8
    np.testing.assert_array_equal(np.asarray(j), [1, 5, 127])
    i, j = both(lambda i: fnp.unravel_index(i, (2, 3)), np.array([True, False]))
    assert i.dtype == np.int64 and np.asarray(j).tolist() == [1, 0]


def test_roll_by_a_traced_array_of_shifts_as_eagerly():
    """A traced 1-d shift was subtracted from the positions as a whole under jit and vmap
    (roll(int8[1, 2, 3], [1, 2, 3]) gave [3, 3, 3]); it is one shift per entry, as NumPy."""
    a, s = np.array([1, 2, 3, 4], np.int8), np.array([1, 2], np.uint8)
    want = np.roll(a, s)
    assert fnp.roll(a, s).tolist() == ft.jit(fnp.roll)(a, s).tolist() == want.tolist()
    out = ft.vmap(fnp.roll, (None, 0))(a, np.stack([s, s + 1]))
    assert np.asarray(out).tolist() == [want.tolist(), np.roll(a, s + 1).tolist()]
    b = np.arange(12).reshape(3, 4)
    for axis in (1, (0, 1)):
        out = ft.jit(lambda b, s: fnp.roll(b, s, axis))(b, np.array([1, 2]))
        np.testing.assert_array_equal(np.asarray(out), np.roll(b, [1, 2], axis))


def test_logspace_and_geomspace_take_their_endpoints_dtype_eagerly_as_under_jit():
    """Eagerly they gave the default float dtype (float64 endpoints became float32), while
    traced endpoints kept theirs, as JAX."""
    for f in (fnp.logspace, fnp.geomspace):
        for start, dtype in [(np.array([0.3, 0.6]), np.float64), (1, np.float32),
                             (np.array([1, 2], np.int32), np.float32)]:
            eager, jitted = f(start, 3, 5), ft.jit(lambda s: f(s, 3, 5))(start)
            assert eager.dtype == jitted.dtype == dtype
            np.testing.assert_allclose(np.asarray(eager), np.asarray(jitted), rtol=1e-6)
        assert f(1.0, 2.0, 3, dtype=np.float64).dtype == np.float64


def test_count_nonzero_and_matrix_rank_take_booleans():
    b = np.array([[True, False, True], [False, False, True]])
    for axis in (None, 0, 1):
        np.testing.assert_array_equal(np.asarray(fnp.count_nonzero(b, axis=axis)),
                                      np.count_nonzero(b, axis=axis))
        np.testing.assert_array_equal(
            np.asarray(ft.jit(lambda x: fnp.count_nonzero(x, axis=axis))(b)),
            np.count_nonzero(b, axis=axis))
    for v in (b[0], np.zeros(3, bool)):
        assert int(fnp.linalg.matrix_rank(v)) == np.linalg.matrix_rank(v)
