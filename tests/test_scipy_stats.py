"""`functrans.scipy.stats` against SciPy (values, invalid parameters, points outside the
support), derivatives against finite differences, jit and vmap; the incomplete gamma and
beta primitives behind the CDFs."""
from __future__ import annotations

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
import functrans.scipy.special as fsp
import functrans.scipy.stats as fst
from functrans.test_util import check_grads

ss = pytest.importorskip("scipy.stats")
sps = pytest.importorskip("scipy.special")

RNG = np.random.default_rng(0)
X = np.concatenate([RNG.uniform(-3, 3, 6), [-1.0, 0.0]])
POS = RNG.uniform(0.05, 4, 8)
UNIT = RNG.uniform(0.02, 0.98, 8)
Q = RNG.uniform(0.01, 0.99, 8)
CONTINUOUS = {
    "norm": (X, (), {"loc": 0.3, "scale": 1.7}),
    "uniform": (X, (), {"loc": -1.0, "scale": 2.5}),
    "logistic": (X, (), {"loc": 0.2, "scale": 0.8}),
    "expon": (X, (), {"loc": -1.0, "scale": 1.5}),
    "cauchy": (X, (), {"loc": 0.1, "scale": 2.0}),
    "laplace": (X, (), {"loc": 0.3, "scale": 0.7}),
    "gamma": (np.concatenate([POS, [-1.0, 0.0]]), (2.5,), {"scale": 1.3}),
    "beta": (np.concatenate([UNIT, [-0.5, 1.5]]), (2.0, 3.5), {}),
    "t": (X, (3.5,), {"loc": 0.2, "scale": 1.5}),
}
FUNCTIONS = ["logpdf", "pdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf"]


@pytest.mark.parametrize("name", list(CONTINUOUS))
def test_continuous_distributions_match_scipy(name):
    pts, shape, kw = CONTINUOUS[name]
    for fn in FUNCTIONS:
        arg = Q if fn in ("ppf", "isf") else pts
        with np.errstate(all="ignore"):
            want = getattr(getattr(ss, name), fn)(arg, *shape, **kw)
        got = getattr(getattr(fst, name), fn)(arg, *shape, **kw)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-7, atol=1e-12,
                                   err_msg=f"{name}.{fn}")
        jitted = ft.jit(lambda a: getattr(getattr(fst, name), fn)(a, *shape, **kw))(arg)
        np.testing.assert_allclose(np.asarray(jitted), np.asarray(got), rtol=1e-12)
    bad = dict(kw, scale=-1.0)
    assert np.isnan(np.asarray(getattr(fst, name).logpdf(pts[:2], *shape, **bad))).all()
    assert getattr(fst, name).logpdf(np.float32(0.5), *shape, **kw).dtype == np.float32


@pytest.mark.parametrize("name", list(CONTINUOUS))
def test_continuous_derivatives(name):
    pts, shape, kw = CONTINUOUS[name]
    inside = {"uniform": np.array([-0.5, 0.4, 1.1]), "expon": np.array([-0.5, 0.4, 2.0]),
              "laplace": np.array([-0.5, 0.8, 2.0]), "gamma": POS[:3], "beta": UNIT[:3]}
    x = inside.get(name, pts[:3])
    dist = getattr(fst, name)
    check_grads(lambda a: dist.logpdf(a, *shape, **kw), (x,), order=2, modes=("fwd", "rev"))
    check_grads(lambda a: dist.cdf(a, *shape, **kw), (x,), order=2, modes=("fwd", "rev"))
    check_grads(lambda a: dist.ppf(a, *shape, **kw), (Q[:3],), order=1, modes=("fwd", "rev"))
    loc_scale = lambda loc, scale: dist.logpdf(x, *shape, loc=loc, scale=scale)  # noqa: E731
    check_grads(loc_scale, (np.array(kw.get("loc", 0.0)), np.array(kw.get("scale", 1.0))),
                order=1, modes=("fwd", "rev"))
    batched = ft.vmap(lambda a: dist.logpdf(a, *shape, **kw))(x)
    np.testing.assert_allclose(np.asarray(batched), np.asarray(dist.logpdf(x, *shape, **kw)))


def test_shape_parameter_derivatives_of_densities():
    check_grads(lambda a: fst.gamma.logpdf(POS[:3], a), (np.array(2.5),), order=2)
    check_grads(lambda a, b: fst.beta.logpdf(UNIT[:3], a, b), (np.array(2.0), np.array(3.0)),
                order=2)
    check_grads(lambda df: fst.t.logpdf(X[:3], df), (np.array(3.5),), order=2)
    # P(a, x) in a through igamma_grad_a (as JAX); I_x(a, b) has no such rule
    check_grads(lambda a: fst.gamma.cdf(1.0, a), (np.array(2.0),), order=1)
    with pytest.raises(NotImplementedError, match="shape parameter"):
        ft.grad(lambda a: fst.beta.cdf(0.3, a, 2.0))(2.0)


def test_discrete_distributions_match_scipy():
    k = np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 5.5, 7.0])
    for fn in ("logpmf", "pmf", "cdf", "logcdf", "sf", "logsf"):
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(np.asarray(getattr(fst.poisson, fn)(k, 2.3)),
                                       getattr(ss.poisson, fn)(k, 2.3), rtol=1e-10)
            np.testing.assert_allclose(np.asarray(getattr(fst.bernoulli, fn)(k, 0.3)),
                                       getattr(ss.bernoulli, fn)(k, 0.3), rtol=1e-10)
    np.testing.assert_array_equal(np.asarray(fst.bernoulli.ppf(Q, 0.3)), ss.bernoulli.ppf(Q, 0.3))
    check_grads(lambda mu: fst.poisson.logpmf(k[1:5], mu), (np.array(2.3),), order=2)
    check_grads(lambda mu: fst.poisson.cdf(k[1:5], mu), (np.array(2.3),), order=2)
    check_grads(lambda p: fst.bernoulli.logpmf(np.array([0.0, 1.0]), p), (np.array(0.3),),
                order=2)


def test_multivariate_normal():
    a = RNG.standard_normal((3, 3))
    cov = a @ a.T + np.eye(3)
    x, mean = RNG.standard_normal((4, 3)), RNG.standard_normal(3)
    for c in (cov, np.array([1.0, 2.0, 3.0]), 2.0):
        np.testing.assert_allclose(np.asarray(fst.multivariate_normal.logpdf(x, mean, c)),
                                   ss.multivariate_normal.logpdf(x, mean, c), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(fst.multivariate_normal.pdf(x[0], mean, cov)),
                               ss.multivariate_normal.pdf(x[0], mean, cov), rtol=1e-10)
    check_grads(lambda x, m, c: fst.multivariate_normal.logpdf(x, m, c), (x, mean, cov),
                order=2, modes=("fwd", "rev"))
    with pytest.raises(ValueError, match="cov"):
        fst.multivariate_normal.logpdf(x, mean, np.eye(2))


def test_incomplete_gamma_and_beta():
    a = np.array([0.5, 2.0, 5.0])
    x = np.array([0.3, 1.5, 4.0])
    for fn in ("gammainc", "gammaincc"):
        np.testing.assert_allclose(np.asarray(getattr(fsp, fn)(a, x)), getattr(sps, fn)(a, x))
    np.testing.assert_allclose(np.asarray(fsp.betainc(a, a + 1, x / 5)),
                               sps.betainc(a, a + 1, x / 5))
    np.testing.assert_allclose(np.asarray(fsp.gammaincinv(a, x / 5)), sps.gammaincinv(a, x / 5))
    np.testing.assert_allclose(np.asarray(fsp.betaincinv(a, a, x / 5)),
                               sps.betaincinv(a, a, x / 5))
    check_grads(lambda x: fsp.gammaincc(a, x), (x,), order=2, modes=("fwd", "rev"))
    check_grads(lambda x: fsp.betainc(a, a + 1, x), (x / 5,), order=2, modes=("fwd", "rev"))
    check_grads(lambda p: fsp.betaincinv(a, a + 1, p), (x / 5,), order=2, modes=("fwd", "rev"))
    out = ft.vmap(lambda x: fsp.gammainc(a, x))(fnp.stack([x, x]))
    np.testing.assert_allclose(np.asarray(out), np.stack([sps.gammainc(a, x)] * 2))
