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
