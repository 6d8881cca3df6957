"""functrans.scipy.signal against SciPy: N-d convolutions and correlations in every mode
(either input the larger, real, complex and integer), detrend, derivatives and jit."""
import numpy as np
import pytest
import scipy.signal as ss

import functrans as ft
import functrans.numpy as fnp
import functrans.scipy.signal as fs
from functrans.test_util import check_grads

rng = np.random.default_rng(31)
PAIRS = [(rng.standard_normal(9), rng.standard_normal(4)),
         (rng.standard_normal(3), rng.standard_normal(7)),
         (rng.standard_normal((6, 5)), rng.standard_normal((3, 2))),
         (rng.standard_normal((2, 3)), rng.standard_normal((4, 5))),
         (rng.standard_normal((4, 3, 5)) + 1j * rng.standard_normal((4, 3, 5)),
          rng.standard_normal((2, 2, 3)) - 1j * rng.standard_normal((2, 2, 3))),
         (rng.integers(-5, 5, (7, 4)), rng.integers(-3, 3, (2, 3)))]


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("pair", range(len(PAIRS)))
def test_convolve_and_correlate_match_scipy(mode, pair):
    a, b = PAIRS[pair]
    fits = all(x >= y for x, y in zip(a.shape, b.shape)) or \
        all(y >= x for x, y in zip(a.shape, b.shape))
    for name in ("convolve", "correlate"):
        if mode == "valid" and not fits:
            with pytest.raises(ValueError, match="at least as large"):
                getattr(fs, name)(a, b, mode)
            continue
        got = getattr(fs, name)(a, b, mode)
        want = getattr(ss, name)(a, b, mode)
        assert got.shape == want.shape, name
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10, atol=1e-10, err_msg=name)
        if a.ndim == 2 and np.isrealobj(a):
            got2 = getattr(fs, name + "2d")(a, b, mode)
            np.testing.assert_allclose(np.asarray(got2), getattr(ss, name + "2d")(a, b, mode),
                                       rtol=1e-10, atol=1e-10)


def test_fftconvolve_derivatives_and_jit():
    a, b = PAIRS[2]
    np.testing.assert_allclose(fs.fftconvolve(a, b, "same"), ss.fftconvolve(a, b, "same"),
                               rtol=1e-10, atol=1e-12)
    check_grads(lambda x, k: fnp.sum(fnp.sin(fs.convolve(x, k, "same"))), (a, b), order=2,
                modes=("fwd", "rev"))
    np.testing.assert_allclose(ft.jit(lambda x, k: fs.correlate(x, k))(a, b),
                               ss.correlate(a, b), rtol=1e-12)
    with pytest.raises(NotImplementedError, match="boundary"):
        fs.convolve2d(a, b, boundary="wrap")


@pytest.mark.parametrize("kwargs", [dict(), dict(type="constant"), dict(axis=0),
                                    dict(bp=[3, 7]), dict(bp=5, axis=1)])
def test_detrend_matches_scipy(kwargs):
    x = rng.standard_normal((10, 12)) + np.arange(12) * 0.3
    np.testing.assert_allclose(fs.detrend(x, **kwargs), ss.detrend(x, **kwargs), rtol=1e-10,
                               atol=1e-12)
    check_grads(lambda x: fnp.sum(fs.detrend(x, **kwargs) ** 2), (x,), order=1,
                modes=("fwd", "rev"))


def test_numpy_convolve_keeps_memory_linear():
    """np.convolve of long signals: one convolution primitive (it built an (n + m) x n matrix
    of taps, 80 GB at n = 100000)."""
    a, v = rng.standard_normal(100_000), rng.standard_normal(50)
    np.testing.assert_allclose(fnp.convolve(a, v, "same"), np.convolve(a, v, "same"),
                               rtol=1e-9, atol=1e-9)


def test_integrate_trapezoid_matches_scipy():
    import scipy.integrate as si
    y, x = rng.standard_normal((3, 7)), np.sort(rng.standard_normal(7))
    np.testing.assert_allclose(ft.scipy.integrate.trapezoid(y, x), si.trapezoid(y, x),
                               rtol=1e-12)
    np.testing.assert_allclose(ft.scipy.integrate.trapezoid(y, dx=0.5, axis=0),
                               si.trapezoid(y, dx=0.5, axis=0), rtol=1e-12)
