"""functrans.scipy.optimize.minimize (BFGS) against SciPy's minima, eagerly and under jit."""
import numpy as np
import pytest
import scipy.optimize as so

import functrans as ft
import functrans.numpy as fnp
from functrans.scipy.optimize import minimize


def rosen(x):
    return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


@pytest.mark.parametrize("x0", [[-1.2, 1.0], [-1.2, 1.0, 0.5, -0.3], [2.0, 2.0, 2.0]])
def test_bfgs_finds_scipys_minimum(x0):
    x0 = np.array(x0)
    got = minimize(rosen, x0, method="BFGS")
    want = so.minimize(lambda x: float(rosen(fnp.asarray(x))), x0, method="BFGS")
    assert bool(got.success) and int(got.status) == 0
    np.testing.assert_allclose(got.x, want.x, atol=1e-4)
    assert float(got.fun) < 1e-9 and np.max(np.abs(np.asarray(got.jac))) <= 1e-5
    jitted = ft.jit(lambda x: minimize(rosen, x, method="BFGS"))(x0)
    np.testing.assert_allclose(jitted.x, got.x, rtol=1e-10)


def test_args_tolerances_float32_and_status():
    target = np.array([1.0, 2.0, 3.0])
    q = minimize(lambda x, a, w: fnp.sum(w * (x - a) ** 2), np.zeros(3), args=(target, 2.0),
                 method="BFGS")
    np.testing.assert_allclose(q.x, target, atol=1e-6)
    h = np.asarray(q.hess_inv)
    np.testing.assert_allclose(h, h.T, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(h) > 0)
    r32 = minimize(rosen, np.array([-1.2, 1.0], np.float32), method="BFGS",
                   options={"gtol": 1e-3})
    assert r32.x.dtype == np.float32
    np.testing.assert_allclose(r32.x, [1.0, 1.0], atol=2e-2)
    short = minimize(rosen, np.array([-1.2, 1.0]), method="BFGS", options={"maxiter": 3})
    assert int(short.status) == 1 and not bool(short.success) and int(short.nit) == 3


def test_bad_arguments():
    with pytest.raises(ValueError, match="BFGS"):
        minimize(rosen, np.zeros(2), method="Nelder-Mead")
    with pytest.raises(ValueError, match="unknown options"):
        minimize(rosen, np.zeros(2), method="BFGS", options={"xatol": 1.0})
    with pytest.raises(ValueError, match="1-d"):
        minimize(rosen, np.zeros((2, 2)), method="BFGS")
