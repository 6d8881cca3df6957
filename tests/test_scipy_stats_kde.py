"""functrans.scipy.stats.gaussian_kde against scipy.stats.gaussian_kde (values of every
method, bandwidth rules, weights, float32), its derivatives against finite differences, and
its use as a pytree under jit and vmap."""
import numpy as np
import pytest

import functrans as ft
import functrans.scipy.stats as fs
from functrans.test_util import check_grads

st = pytest.importorskip("scipy.stats")

rng = np.random.default_rng(11)
CASES = [  # dataset, bw_method, weights
    (rng.normal(size=30), None, None),
    (rng.normal(size=(1, 12)), "silverman", rng.uniform(0.5, 1.0, 12)),
    (rng.normal(size=(2, 40)), "scott", rng.uniform(size=40)),
    (rng.normal(size=(2, 25)), 0.7, None),
    (rng.normal(size=(3, 25)), lambda kde: 0.5 * kde.neff ** (-1.0 / 7), None),
]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gaussian_kde_matches_scipy(case, dtype):
    data, bw, w = CASES[case]
    data = data.astype(dtype)
    w = None if w is None else w.astype(dtype)         # (float64 weights make it float64)
    ours, ref = fs.gaussian_kde(data, bw, w), st.gaussian_kde(data, bw, w)
    tol = dict(rtol=1e-10, atol=1e-14) if dtype == np.float64 else dict(rtol=2e-4, atol=1e-6)
    assert ours.d == ref.d and ours.n == ref.n
    assert ours.dataset.dtype == dtype and ours.weights.dtype == dtype
    for name in ("dataset", "weights", "neff", "covariance", "inv_cov"):
        np.testing.assert_allclose(np.asarray(getattr(ours, name)), getattr(ref, name),
                                   err_msg=name, **tol)
    pts = rng.normal(size=(ours.d, 9)).astype(dtype)
    for name in ("evaluate", "pdf", "logpdf", "__call__"):
        got = getattr(ours, name)(pts)
        assert got.shape == (9,) and got.dtype == dtype, name
        np.testing.assert_allclose(np.asarray(got), getattr(ref, name)(pts), err_msg=name,
                                   **tol)
    far = np.full((ours.d, 2), 30.0, dtype)            # the density underflows: logpdf not
    np.testing.assert_allclose(np.asarray(ours.logpdf(far)), ref.logpdf(far), rtol=1e-5)
    mean, cov = rng.normal(size=ours.d), np.diag(rng.uniform(0.2, 1.0, ours.d))
    np.testing.assert_allclose(float(ours.integrate_gaussian(mean, cov)),
                               ref.integrate_gaussian(mean, cov), **tol)
    other = rng.normal(size=(ours.d, 7)) + 0.5
    np.testing.assert_allclose(float(ours.integrate_kde(fs.gaussian_kde(other))),
                               ref.integrate_kde(st.gaussian_kde(other)), **tol)
    np.testing.assert_allclose(float(fs.gaussian_kde(other).integrate_kde(ours)),
                               st.gaussian_kde(other).integrate_kde(ref), **tol)
    if ours.d == 1:
        np.testing.assert_allclose(float(ours.integrate_box_1d(-0.5, 1.25)),
                                   ref.integrate_box_1d(-0.5, 1.25), **tol)


def test_points_of_several_dimensions_given_as_one_vector():
    data = CASES[2][0]
    ours, ref = fs.gaussian_kde(data), st.gaussian_kde(data)
    np.testing.assert_allclose(np.asarray(ours(np.array([0.3, -0.2]))),
                               ref(np.array([0.3, -0.2])), rtol=1e-12)
    with pytest.raises(ValueError, match=r"points of shape \(3, 2\)"):
        ours(np.ones((3, 2)))


def test_resample_follows_the_density():
    data, _, w = CASES[2]
    kde = fs.gaussian_kde(data, weights=w)
    draws = kde.resample(ft.random.key(3), (4000, 5))
    assert draws.shape == (2, 4000, 5) and draws.dtype == np.float64
    flat = np.asarray(draws).reshape(2, -1)
    mean = data @ (w / w.sum())
    np.testing.assert_allclose(flat.mean(axis=1), mean, atol=0.05)
    want_cov = np.cov(data, aweights=w) + np.asarray(kde.covariance)
    np.testing.assert_allclose(np.cov(flat), want_cov, atol=0.08)
    # all the weight on one point: the draws are that point plus the kernel's noise
    one = fs.gaussian_kde(data, weights=np.eye(40)[3] + 1e-12)
    near = np.asarray(one.resample(ft.random.key(1), (2000,)))
    np.testing.assert_allclose(near.mean(axis=1), data[:, 3], atol=0.1)
    assert fs.gaussian_kde(data).resample(ft.random.key(0)).shape == (2,)
    f32 = fs.gaussian_kde(data.astype(np.float32)).resample(ft.random.key(0), 3)
    assert f32.shape == (2, 3) and f32.dtype == np.float32


def test_derivatives():
    data, _, w = CASES[2]
    pts = rng.normal(size=(2, 4))
    check_grads(lambda d, x: fs.gaussian_kde(d).logpdf(x), (data[:, :12], pts), order=2)
    check_grads(lambda v: fs.gaussian_kde(data, weights=v).pdf(pts), (w,), order=1)
    check_grads(lambda bw: fs.gaussian_kde(data, bw_method=bw).logpdf(pts),
                (np.float64(0.6),), order=2)
    check_grads(lambda d, m: fs.gaussian_kde(d).integrate_gaussian(m, np.eye(2)),
                (data[:, :10], np.array([0.2, -0.1])), order=1)
    check_grads(lambda d: fs.gaussian_kde(d).integrate_box_1d(-0.5, 1.0), (CASES[0][0],),
                order=1)


def test_pytree_jit_and_vmap():
    data = CASES[3][0]
    kde = fs.gaussian_kde(data, 0.7)
    leaves, tree = ft.tree_util.tree_flatten(kde)
    assert len(leaves) == 5
    back = ft.tree_util.tree_unflatten(tree, leaves)
    pts = rng.normal(size=(2, 6))
    np.testing.assert_allclose(np.asarray(back.pdf(pts)), np.asarray(kde.pdf(pts)), rtol=0)
    jitted = ft.jit(lambda k, x: k.logpdf(x))
    np.testing.assert_allclose(np.asarray(jitted(kde, pts)),
                               st.gaussian_kde(data, 0.7).logpdf(pts), rtol=1e-10)
    made = ft.jit(lambda d: fs.gaussian_kde(d, 0.7))(data)
    assert isinstance(made, fs.gaussian_kde)
    np.testing.assert_allclose(np.asarray(made.pdf(pts)), np.asarray(kde.pdf(pts)), rtol=1e-12)
    sets = rng.normal(size=(3, 2, 25))
    got = ft.vmap(lambda d: fs.gaussian_kde(d).pdf(pts))(sets)
    want = np.stack([st.gaussian_kde(d).pdf(pts) for d in sets])
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10)
    got = ft.vmap(lambda p: kde.logpdf(p[:, None])[0], in_axes=1)(pts)
    np.testing.assert_allclose(np.asarray(got), np.asarray(kde.logpdf(pts)), rtol=1e-12)


def test_bad_arguments():
    data = CASES[2][0]
    with pytest.raises(ValueError, match="weights must be 1-d of length n = 40"):
        fs.gaussian_kde(data, weights=np.ones(39))
    with pytest.raises(ValueError, match="bw_method"):
        fs.gaussian_kde(data, bw_method="wide")
    with pytest.raises(ValueError, match="more than one element"):
        fs.gaussian_kde(np.ones(1))
    with pytest.raises(NotImplementedError, match="complex"):
        fs.gaussian_kde(data + 1j)
    kde = fs.gaussian_kde(data)
    with pytest.raises(NotImplementedError, match="immutable"):
        kde.set_bandwidth("silverman")
    with pytest.raises(AttributeError, match="immutable"):
        kde.weights = np.ones(40)
    with pytest.raises(NotImplementedError, match="integrate_box_1d"):
        kde.integrate_box(np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match="only for 1-d data"):
        kde.integrate_box_1d(0.0, 1.0)
    with pytest.raises(ValueError, match="dimensions 2 and 3"):
        kde.integrate_kde(fs.gaussian_kde(CASES[4][0]))
    with pytest.raises(ValueError, match="mean of shape"):
        kde.integrate_gaussian(np.zeros(3), np.eye(2))
