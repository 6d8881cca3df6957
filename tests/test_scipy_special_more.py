"""The exponential integrals (exp1, expi, expn), loggamma, multigammaln, comb, bernoulli,
boxcox and boxcox1p of functrans.scipy.special against scipy.special across their ranges in
float64 and float32, derivatives against finite differences, jit and vmap."""
import numpy as np
import pytest
import scipy.special as sp

import functrans as ft
import functrans.numpy as fnp
import functrans.scipy.special as fs
from functrans.test_util import check_grads

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

X = np.concatenate([-np.logspace(-3, 2.5, 13), [-0.0, 0.0], np.logspace(-4, 2.8, 17),
                    [np.inf, -np.inf, np.nan]])
TOL = {np.float64: dict(rtol=1e-12, atol=0), np.float32: dict(rtol=2e-6, atol=0)}


def _close(got, want, dtype, **extra):
    got = np.asarray(got)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, np.asarray(want).astype(dtype), equal_nan=True,
                               **{**TOL[dtype], **extra})


@pytest.mark.parametrize("name", ["exp1", "expi", "loggamma"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unary_functions_match_scipy(name, dtype):
    x = X.astype(dtype)
    _close(getattr(fs, name)(x), getattr(sp, name)(x.astype(np.float64)), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_expn_matches_scipy(dtype):
    n = np.arange(7.0)[:, None]
    x = X[None, :].astype(dtype)
    _close(fs.expn(n.astype(dtype), x), sp.expn(n.astype(int), x.astype(np.float64)), dtype)
    _close(fs.expn(np.arange(7)[:, None], x), sp.expn(n.astype(int), x.astype(np.float64)),
           dtype)
    assert np.isnan(float(fs.expn(2.5, 1.0)))                      # as JAX (SciPy truncates)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_multigammaln_matches_scipy(dtype):
    a = np.array([2.1, 2.6, 7.5, 40.0, 300.0], dtype)
    for d in (1, 2, 3, 5):
        _close(fs.multigammaln(a, d), sp.multigammaln(a.astype(np.float64), d), dtype,
               rtol=1e-12 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_comb_matches_scipy(dtype):
    N = np.array([5.0, 5.0, 4.5, -1.0, 3.0, 30.0, 0.0, 10.0, 7.5, 2.0], dtype)
    k = np.array([2.0, 7.0, 2.0, 1.0, -1.0, 12.0, 0.0, 10.0, 2.5, 0.0], dtype)
    tol = dict(rtol=1e-12) if dtype == np.float64 else dict(rtol=5e-5)
    _close(fs.comb(N, k), sp.comb(N.astype(np.float64), k.astype(np.float64)), dtype, **tol)
    # with repetition, JAX's (SciPy leaves negative N + k - 1 to binom's extension)
    fine = (N + k - 1 >= k) | (k == 0)
    want = np.where(fine, sp.comb(N.astype(np.float64), k.astype(np.float64),
                                  repetition=True), 0.0)
    _close(fs.comb(N, k, repetition=True), want, dtype, **tol)


def test_bernoulli_matches_scipy():
    for n in (0, 1, 2, 7, 20):
        got = fs.bernoulli(n)
        assert got.shape == (n + 1,) and got.dtype == ft.dtypes.default_float_dtype()
        np.testing.assert_allclose(np.asarray(got), sp.bernoulli(n) if n else [1.0],
                                   rtol=1e-6)
    with pytest.raises(ValueError, match="non-negative Python integer"):
        fs.bernoulli(-1)
    with pytest.raises(ValueError, match="non-negative Python integer"):
        fs.bernoulli(2.5)


@pytest.mark.parametrize("name", ["boxcox", "boxcox1p"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_boxcox_matches_scipy(name, dtype):
    x = np.array([0.0, 1e-3, 0.5, 2.0, 30.0, -0.5, -1.0, -2.0])[:, None].astype(dtype)
    lmbda = np.array([0.0, 1e-9, 0.5, -0.7, 2.0, 1.0])[None, :].astype(dtype)
    want = getattr(sp, name)(x.astype(np.float64), lmbda.astype(np.float64))
    _close(getattr(fs, name)(x, lmbda), want, dtype,
           rtol=1e-12 if dtype == np.float64 else 1e-5)


def test_derivatives():
    pos, neg = np.array([0.05, 0.7, 3.0, 12.0]), np.array([-0.3, -2.0, -9.0])
    check_grads(fs.exp1, (pos,), order=2)
    check_grads(fs.expi, (np.concatenate([pos, neg]),), order=2)
    for n in (0.0, 1.0, 2.0, 3.0):
        check_grads(lambda x: fs.expn(n, x), (pos,), order=2)
    check_grads(fs.loggamma, (np.array([0.3, 1.5, 8.0]),), order=2)
    check_grads(lambda a: fs.multigammaln(a, 3), (np.array([1.7, 4.0, 9.5]),), order=2)
    check_grads(fs.comb, (np.array([5.5, 9.0, 2.3]), np.array([2.2, 4.5, 1.0])), order=2)
    x, lm = np.array([0.4, 1.5, 6.0]), np.array([0.5, -1.2, 2.0])
    check_grads(fs.boxcox, (x, lm), order=2)
    check_grads(fs.boxcox1p, (x - 0.2, lm), order=2)
    check_grads(fs.boxcox, (x, np.zeros(3)), order=1)               # at lmbda = 0
    check_grads(fs.boxcox1p, (x, np.zeros(3)), order=1)
    with pytest.raises(NotImplementedError, match="argument 0"):
        ft.grad(lambda n: fs.expn(n, 1.5))(2.0)


def test_jit_and_vmap():
    x = np.array([0.2, 1.0, 4.0])
    for f in (fs.exp1, fs.expi, fs.loggamma, lambda v: fs.multigammaln(v + 1.0, 2),
              lambda v: fs.expn(2, v), lambda v: fs.comb(v + 3.0, v),
              lambda v: fs.boxcox(v, 0.5), lambda v: fs.boxcox1p(v, 0.0)):
        want = np.asarray(f(x))
        np.testing.assert_allclose(np.asarray(ft.jit(f)(x)), want, rtol=1e-14)
        np.testing.assert_allclose(np.asarray(ft.vmap(f)(x)), want, rtol=1e-14)
    grid = ft.vmap(lambda n: fs.expn(n, fnp.asarray(x)))(np.arange(4.0))
    np.testing.assert_allclose(np.asarray(grid), sp.expn(np.arange(4)[:, None], x),
                               rtol=1e-14)


def test_bad_arguments():
    with pytest.raises(ValueError, match="d must be a positive Python integer"):
        fs.multigammaln(3.0, 0)
    with pytest.raises(ValueError, match="d must be a positive Python integer"):
        fs.multigammaln(3.0, np.array([2, 3]))
    with pytest.raises(NotImplementedError, match="complex"):
        fs.loggamma(np.array([1.0 + 1j]))
