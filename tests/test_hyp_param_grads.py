"""Derivatives of hyp1f1 and hyp2f1 in their parameters where a parameter is 0 or a negative
integer: an upper one ends the series (the derivatives there were NaN: the series divided by
the zero factor of the Pochhammer symbol), a lower one is a pole unless an upper one ends the
series first. Against mpmath's derivatives, float64 finite differences of SciPy's values, JAX's
where it defines them, under jit and vmap."""
import numpy as np
import pytest
import scipy.special as sp

import functrans as ft
import functrans.scipy.special as fs

mp = pytest.importorskip("mpmath")
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

# (name, point): a parameter at 0 or a negative integer in each
POINTS = [("hyp1f1", (0.0, 1.5, 0.5)), ("hyp1f1", (-2.0, 1.5, 0.7)),
          ("hyp1f1", (-1.0, 0.3, -2.5)), ("hyp1f1", (1.3, 2.0, -0.4)),
          ("hyp2f1", (0.0, 1.5, 2.5, 0.5)), ("hyp2f1", (-2.0, -1.0, 2.5, 0.5)),
          ("hyp2f1", (1.3, -1.0, 2.5, -0.6)), ("hyp2f1", (0.7, -3.0, 1.2, 0.9))]


def _mp_derivative(name, point, orders):
    """mpmath's partial derivative of `orders` (one per parameter) at `point` (x fixed)."""
    mp.mp.dps = 40
    f = getattr(mp, name)
    *params, x = point
    return float(mp.diff(lambda *p: f(*p, x), [mp.mpf(p) for p in params], tuple(orders)))


def _nth(f, i, n):
    for _ in range(n):
        f = ft.grad(f, i)
    return f


@pytest.mark.parametrize("name, point", POINTS)
def test_each_parameter_to_third_order_against_mpmath(name, point):
    f = getattr(fs, name)
    args = tuple(np.float64(v) for v in point)
    for i in range(len(args) - 1):
        for n in (1, 2, 3):
            got = float(_nth(f, i, n)(*args))
            want = _mp_derivative(name, point, [n * (j == i) for j in range(len(args) - 1)])
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13,
                                       err_msg=f"{name}{point}: order {n} in argument {i}")


@pytest.mark.parametrize("name, point", [("hyp1f1", (-2.0, 1.5, 0.7)),
                                         ("hyp2f1", (-2.0, -1.0, 2.5, 0.5)),
                                         ("hyp2f1", (0.0, 0.6, 1.7, -0.8))])
def test_mixed_derivatives_against_mpmath(name, point):
    f = getattr(fs, name)
    args = tuple(np.float64(v) for v in point)
    n = len(args) - 1
    hess = ft.hessian(f, tuple(range(n)))(*args)
    for i in range(n):
        for j in range(n):
            orders = [int(k == i) + int(k == j) for k in range(n)]
            np.testing.assert_allclose(float(hess[i][j]), _mp_derivative(name, point, orders),
                                       rtol=1e-11, atol=1e-13)
    x_then_a = ft.grad(ft.grad(f, n), 0)(*args)      # the series in x and a at once
    h = 1e-6
    shifted = [list(args), list(args)]
    shifted[0][n] += h
    shifted[1][n] -= h
    fd = (float(ft.grad(f, 0)(*shifted[0])) - float(ft.grad(f, 0)(*shifted[1]))) / (2 * h)
    np.testing.assert_allclose(float(x_then_a), fd, rtol=1e-7)


@pytest.mark.parametrize("a", [0.0, -1.0, -2.0, -4.0])
def test_finite_differences_of_scipy_values_in_float64(a):
    """The derivative in a at a non-positive integer is the limit of its neighbours': the
    central difference of SciPy's values across it."""
    h = 1e-6
    for b, x in ((1.5, 0.5), (2.7, -3.0), (0.4, 2.0)):
        fd = (sp.hyp1f1(a + h, b, x) - sp.hyp1f1(a - h, b, x)) / (2 * h)
        got = float(ft.grad(fs.hyp1f1)(np.float64(a), b, x))
        np.testing.assert_allclose(got, fd, rtol=1e-7, atol=1e-9)
        fd = (sp.hyp2f1(a + h, 0.8, b, x / 4) - sp.hyp2f1(a - h, 0.8, b, x / 4)) / (2 * h)
        got = float(ft.grad(fs.hyp2f1)(np.float64(a), 0.8, b, x / 4))
        np.testing.assert_allclose(got, fd, rtol=1e-7, atol=1e-9)


def test_the_other_arguments_as_jax(jax_x64):
    """JAX defines the derivatives in b and x at a negative integer a (its own in a is NaN
    there, and 0 at a = 0): the same values."""
    jss = jax_x64.scipy.special
    for name, point in (("hyp1f1", (-2.0, 1.5, 0.7)), ("hyp2f1", (-3.0, 1.5, 2.5, 0.5))):
        args = tuple(np.float64(v) for v in point)
        for i in range(1, len(args)):
            got = float(ft.grad(getattr(fs, name), i)(*args))
            want = float(jax_x64.grad(getattr(jss, name), i)(*args))
            np.testing.assert_allclose(got, want, rtol=1e-11)


def test_lower_parameters_terminated_series_and_poles():
    # hyp1f1(-3, b, x) is a cubic in x whose coefficients are smooth in b at b = -5
    got = float(ft.grad(fs.hyp1f1, 1)(np.float64(-3.0), np.float64(-5.0), 0.7))
    np.testing.assert_allclose(got, _mp_derivative("hyp1f1", (-3.0, -5.0, 0.7), [0, 1]),
                               rtol=1e-12)
    got = float(ft.grad(fs.hyp2f1, 2)(np.float64(-1.0), 2.0, np.float64(-2.0), 0.3))
    np.testing.assert_allclose(got, _mp_derivative("hyp2f1", (-1.0, 2.0, -2.0, 0.3), [0, 0, 1]),
                               rtol=1e-12)
    # at a pole the derivatives do not exist
    for args in ((1.0, -2.0, 0.5), (-3.0, -2.0, 0.5), (0.5, 0.0, 0.5)):
        for i in (0, 1):
            assert np.isnan(float(ft.grad(fs.hyp1f1, i)(*map(np.float64, args))))
    assert np.isnan(float(ft.grad(fs.hyp2f1, 2)(*map(np.float64, (0.5, 1.0, -1.0, 0.5)))))


def test_jit_vmap_and_float32():
    a = np.array([0.0, -1.0, -2.0, 0.5, -3.0])
    per_point = np.array([float(ft.grad(fs.hyp1f1)(v, 1.5, 0.5)) for v in a])
    assert np.isfinite(per_point).all()
    batched = ft.jit(ft.vmap(ft.grad(fs.hyp1f1), (0, None, None)))(a, 1.5, 0.5)
    np.testing.assert_allclose(np.asarray(batched), per_point, rtol=1e-14)
    got = ft.grad(fs.hyp1f1)(np.float32(-2.0), np.float32(1.5), np.float32(0.5))
    assert got.dtype == np.float32
    np.testing.assert_allclose(float(got), per_point[2], rtol=1e-6)
