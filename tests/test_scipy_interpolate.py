"""functrans.scipy.interpolate.RegularGridInterpolator against SciPy's: linear and nearest,
fill values and extrapolation, trailing value axes, derivatives and jit."""
import numpy as np
import pytest
import scipy.interpolate as si

import functrans as ft
import functrans.numpy as fnp
from functrans.scipy.interpolate import RegularGridInterpolator
from functrans.test_util import check_grads

rng = np.random.default_rng(81)
X = np.sort(rng.uniform(0, 5, 6))
Y = np.sort(rng.uniform(-2, 2, 4))
Q = np.stack([rng.uniform(-1, 6, 10), rng.uniform(-3, 3, 10)], -1)


@pytest.mark.parametrize("method", ["linear", "nearest"])
@pytest.mark.parametrize("fill", [np.nan, None, 0.5])
@pytest.mark.parametrize("trailing", [(), (2,)])
def test_matches_scipy(method, fill, trailing):
    v = rng.standard_normal((6, 4) + trailing)
    got = RegularGridInterpolator((X, Y), v, method, fill_value=fill)(Q)
    want = si.RegularGridInterpolator((X, Y), v, method, bounds_error=False,
                                      fill_value=fill)(Q)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, equal_nan=True)


def test_derivatives_jit_and_errors():
    v = rng.standard_normal((6, 4))
    inside = np.stack([rng.uniform(X[0], X[-1], 5), rng.uniform(Y[0], Y[-1], 5)], -1)
    check_grads(lambda v: RegularGridInterpolator((X, Y), v)(inside), (v,), order=2,
                modes=("fwd", "rev"))
    check_grads(lambda q: fnp.sum(RegularGridInterpolator((X, Y), v)(q)), (inside,), order=1,
                modes=("fwd", "rev"))
    interp = RegularGridInterpolator((X, Y), v)
    np.testing.assert_allclose(ft.jit(interp)(Q), interp(Q), rtol=1e-14, equal_nan=True)
    with pytest.raises(NotImplementedError, match="bounds_error"):
        RegularGridInterpolator((X, Y), v, bounds_error=True)
    with pytest.raises(ValueError, match="coordinates"):
        interp(Q[:, :1])
