"""Complex values: `real`, `imag`, `conj`, `abs` and `angle` against NumPy, and derivatives of
real functions through complex intermediates (JAX's convention: a cotangent pairs with its
value through Re(sum(ct * value))), eagerly, under jit and under vmap."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.test_util import check_grads

C128 = np.complex128


@pytest.fixture(autouse=True)
def float64_and_no_complex_warnings():
    old = ft.config.default_float_dtype
    ft.config.update("default_float_dtype", "float64")
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        yield
    ft.config.update("default_float_dtype", old)


def complex_arrays(n):
    parts = st.lists(st.floats(-3, 3), min_size=n, max_size=n)
    return st.tuples(parts, parts).map(lambda p: np.array(p[0]) + 1j * np.array(p[1]))


@settings(deadline=None)
@given(complex_arrays(5), st.sampled_from([np.complex64, np.complex128]))
def test_parts_match_numpy(z, dtype):
    z = z.astype(dtype)
    a = fnp.asarray(z)
    for ours, theirs in [(fnp.real(a), np.real(z)), (fnp.imag(a), np.imag(z)),
                         (fnp.conj(a), np.conj(z)), (fnp.abs(a), np.abs(z)),
                         (fnp.angle(a), np.angle(z)), (a.real, z.real), (a.imag, z.imag),
                         (a.conj(), z.conj()), (ft.jit(fnp.abs)(a), np.abs(z))]:
        assert ours.dtype == theirs.dtype
        np.testing.assert_allclose(np.asarray(ours), theirs, rtol=1e-6)


def test_real_arrays_are_their_own_real_part():
    x = fnp.asarray([1.0, -2.0])
    assert fnp.real(x) is x and fnp.conj(x) is x and x.real is x
    np.testing.assert_array_equal(np.asarray(fnp.imag(x)), [0.0, 0.0])
    with pytest.raises(TypeError, match="takes a complex array"):
        lax.real(x)


C = np.array([0.3 - 1.2j, 2 + 0.5j, -1 + 0.25j])


def through_complex(x):
    """A real function of real `x` that computes with complex intermediates."""
    z = x.astype(C128) * fnp.asarray(C) + 1j * x
    w = z * fnp.conj(z) + z * z
    return fnp.sum(fnp.real(w) * 2.0 + fnp.imag(w) ** 2 + fnp.abs(z + 0.5) ** 1.5
                   + fnp.angle(z))


def through_complex_numpy(x):
    z = x * C + 1j * x
    w = z * np.conj(z) + z * z
    return np.sum(np.real(w) * 2.0 + np.imag(w) ** 2 + np.abs(z + 0.5) ** 1.5 + np.angle(z))


@settings(deadline=None, max_examples=20)
@given(st.lists(st.floats(0.2, 2.0), min_size=3, max_size=3))
def test_derivatives_through_complex_values(values):
    x = fnp.asarray(np.array(values))
    np.testing.assert_allclose(float(through_complex(x)), through_complex_numpy(np.asarray(x)),
                               rtol=1e-12)
    check_grads(through_complex, (x,), order=2, modes=("fwd", "rev"))
    np.testing.assert_allclose(np.asarray(ft.jit(ft.grad(through_complex))(x)),
                               np.asarray(ft.grad(through_complex)(x)), rtol=1e-12)


def test_gradient_with_respect_to_a_complex_input_follows_jax():
    z = fnp.asarray(np.array([1 + 2j, -0.5 + 0.1j]))
    g = ft.grad(lambda z: fnp.sum(fnp.abs(z) ** 2))(z)       # JAX gives 2 * conj(z)
    np.testing.assert_allclose(np.asarray(g), 2 * np.conj(np.asarray(z)), rtol=1e-12)


def test_abs_at_zero_has_zero_derivative():
    g = ft.grad(lambda x: fnp.sum(fnp.abs(x.astype(C128) * 0.0)))(fnp.asarray([1.0, -2.0]))
    np.testing.assert_array_equal(np.asarray(g), [0.0, 0.0])


def test_batching_matches_a_loop():
    zs = np.array([[1 + 2j, -3 + 0.5j], [0.25 - 1j, 2 + 2j], [0j, -1 - 1j]])
    for fn in (fnp.real, fnp.imag, fnp.conj, fnp.abs, fnp.angle):
        got = ft.vmap(fn)(fnp.asarray(zs))
        want = np.stack([np.asarray(fn(fnp.asarray(z))) for z in zs])
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)
        got = ft.vmap(fn, in_axes=1, out_axes=1)(fnp.asarray(zs))
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)
