"""truncnorm, gennorm, sem, rankdata and mode in functrans.scipy.stats against scipy.stats."""
import numpy as np
import pytest
import scipy.stats as st

import functrans as ft
import functrans.scipy.stats as fs
from functrans.test_util import check_grads

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
X = np.array([-3.0, -1.0, -0.2, 0.0, 0.5, 1.5, 2.9, 5.0, 10.0, 30.0])
rng = np.random.default_rng(41)


@pytest.mark.parametrize("a,b", [(-1.0, 2.0), (0.5, 3.0), (-4.0, -0.5), (8.0, 12.0),
                                 (-30.0, -25.0), (-np.inf, 1.0), (0.0, np.inf)])
def test_truncnorm_matches_scipy_also_in_far_tails(a, b):
    for fn in ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"):
        np.testing.assert_allclose(np.asarray(getattr(fs.truncnorm, fn)(X, a, b)),
                                   getattr(st.truncnorm, fn)(X, a, b), rtol=1e-8,
                                   atol=1e-300, err_msg=fn)
    np.testing.assert_allclose(fs.truncnorm.logpdf(X, a, b, 0.5, 2.0),
                               st.truncnorm.logpdf(X, a, b, 0.5, 2.0), rtol=1e-8)


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0, 3.5])
def test_gennorm_matches_scipy(beta):
    for fn in ("logpdf", "pdf", "cdf"):
        np.testing.assert_allclose(np.asarray(getattr(fs.gennorm, fn)(X, beta)),
                                   getattr(st.gennorm, fn)(X, beta), rtol=1e-10,
                                   atol=1e-300, err_msg=fn)


def test_derivatives():
    check_grads(lambda x: fs.truncnorm.logpdf(x, -1.0, 2.0), (np.array([-0.5, 0.3, 1.2]),),
                order=2, modes=("fwd", "rev"))
    check_grads(lambda b: fs.gennorm.logpdf(np.array([-0.5, 0.3, 1.2]), b),
                (np.float64(1.7),), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("method", ["average", "min", "max", "dense", "ordinal"])
def test_rankdata_matches_scipy(method):
    a = rng.integers(0, 5, (4, 9)).astype(float)
    for axis in (None, 0, 1):
        got = fs.rankdata(a, method, axis=axis)
        want = st.rankdata(a, method, axis=axis)
        np.testing.assert_array_equal(got, want)
        assert (got.dtype.kind == "f") == (want.dtype.kind == "f")
    jitted = ft.jit(lambda a: fs.rankdata(a, method, axis=1))(a)
    np.testing.assert_array_equal(jitted, st.rankdata(a, method, axis=1))


def test_rankdata_nan_mode_and_sem():
    assert np.isnan(np.asarray(fs.rankdata(np.array([1.0, np.nan, 2.0])))).all()
    a = rng.integers(0, 4, (5, 8))
    for axis in (0, 1, None):
        got, want = fs.mode(a, axis=axis), st.mode(a, axis=axis)
        np.testing.assert_array_equal(got.mode, want.mode)
        np.testing.assert_array_equal(got.count, want.count)
    got = fs.mode(a, axis=0, keepdims=True)
    assert got.mode.shape == st.mode(a, axis=0, keepdims=True).mode.shape
    x = rng.standard_normal((6, 4))
    np.testing.assert_allclose(fs.sem(x), st.sem(x), rtol=1e-12)
    np.testing.assert_allclose(fs.sem(x, axis=None, ddof=0), st.sem(x, axis=None, ddof=0),
                               rtol=1e-12)
    x[2, 1] = np.nan
    np.testing.assert_allclose(fs.sem(x, nan_policy="omit"), st.sem(x, nan_policy="omit"),
                               rtol=1e-12)
