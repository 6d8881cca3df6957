"""`random.normal` with a complex dtype: real and imaginary parts of variance 1/2 drawn from
the two halves of the key, as JAX draws them."""
import numpy as np
import pytest

import functrans as ft


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_complex_normal_matches_jax_and_has_unit_variance(dtype):
    if dtype == "complex128":
        ft.config.update("jax_enable_x64", True)
    try:
        z = np.asarray(ft.random.normal(ft.random.PRNGKey(1), (20000,), dtype))
        assert z.dtype == np.dtype(dtype)
        assert abs(z.real.var() - 0.5) < 0.03 and abs(z.imag.var() - 0.5) < 0.03
        assert abs(np.mean(z.real * z.imag)) < 0.02
        jitted = ft.jit(lambda k: ft.random.normal(k, (20000,), dtype))(ft.random.PRNGKey(1))
        np.testing.assert_array_equal(np.asarray(jitted), z)
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", dtype == "complex128")
        theirs = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (20000,), dtype))
        np.testing.assert_allclose(z, theirs, rtol=0, atol=1e-4)     # as the real draws
    finally:
        ft.config.update("jax_enable_x64", False)


def test_noisy_sgd_on_complex_parameters():
    opt = ft.optim.optax.noisy_sgd(0.1, key=ft.random.PRNGKey(0))
    params = {"w": ft.numpy.asarray(np.array([1 + 2j, 3 - 1j], np.complex64))}
    updates, _ = opt.update(params, opt.init(params), params)
    assert updates["w"].dtype == np.complex64
