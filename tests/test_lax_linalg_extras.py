"""`ft.lax.linalg.qdwh` (polar decomposition) against jax.lax.linalg.qdwh and
scipy.linalg.polar in float64 and float32: values, iteration counts, dynamic_shape, jit,
vmap, derivatives; householder_product, ormqr, cholesky_update and symmetric_product against
JAX in both precisions, with jit, vmap and derivatives; bad input; `lax.linear_solve_p`."""
import numpy as np
import pytest
import scipy.linalg as sl

import functrans as ft
from functrans import lax
from functrans.lax import linalg as fl
from functrans.test_util import check_grads

jax = pytest.importorskip("jax")
import jax.lax.linalg as jl            # noqa: E402


@pytest.fixture(autouse=True)
def _jax_in_x64(jax_x64):
    """JAX with 64-bit types for each test here (turned on at import, it stayed on for
    every later test of the worker)."""
    yield

rng = np.random.RandomState(7)
X = rng.randn(5, 3)
TOL = {np.float64: 1e-12, np.float32: 2e-5}


def _close(a, b, tol):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def _conditioned(m, n, cond):
    u, _ = np.linalg.qr(rng.randn(m, n))
    v, _ = np.linalg.qr(rng.randn(n, n))
    return (u * np.geomspace(1, 1 / cond, n)) @ v.T


# =============================================================== qdwh
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x", [X, rng.randn(4, 4), rng.randn(6, 1), _conditioned(6, 4, 1e3),
                               _conditioned(4, 4, 1e5)],
                         ids=["5x3", "4x4", "6x1", "c1e3", "c1e5"])
def test_qdwh_matches_jax_and_scipy(x, dtype):
    x = x.astype(dtype)
    u, h, k, ok = fl.qdwh(x)
    ju, jh, jk, jok = jl.qdwh(x)
    assert u.dtype == h.dtype == dtype and k.dtype == np.int64 and ok.dtype == np.bool_
    assert int(k) == int(jk) and bool(ok) == bool(jok) is True
    cond = np.linalg.cond(x.astype(np.float64))
    tol = TOL[dtype] * np.sqrt(cond)          # (the measured errors grow slower)
    _close(u, ju, tol)
    _close(h, jh, tol * np.abs(x).max())
    su, sh = sl.polar(x.astype(np.float64))
    _close(u, su, tol)
    _close(np.asarray(u) @ np.asarray(h), x, tol * np.abs(x).max())


def test_qdwh_complex_and_keywords():
    xc = X + 1j * rng.randn(5, 3)
    for kw in ({}, {"max_iterations": 2}, {"max_iterations": 0}, {"eps": 1e-3},
               {"is_hermitian": True}, {"dynamic_shape": (4, 2)}):
        ours, theirs = fl.qdwh(xc, **kw), jl.qdwh(xc, **kw)
        _close(ours[0], theirs[0], 1e-12)
        _close(ours[1], theirs[1], 1e-12)
        assert (int(ours[2]), bool(ours[3])) == (int(theirs[2]), bool(theirs[3]))
    assert not bool(fl.qdwh(X, max_iterations=2)[3])
    u, h, _, _ = fl.qdwh(X, dynamic_shape=(4, 2))
    _close(np.asarray(u)[:4, :2], sl.polar(X[:4, :2])[0], 1e-12)
    assert not np.asarray(u)[4:].any() and not np.asarray(u)[:, 2:].any()
    u, h, k, ok = fl.qdwh(np.zeros((3, 2)))
    assert not np.asarray(u).any() and not np.asarray(h).any() and bool(ok)


def test_qdwh_jit_and_vmap():
    ju = jl.qdwh(X)[0]
    u, _, k, _ = ft.jit(fl.qdwh, static_argnames=("max_iterations",))(X, max_iterations=10)
    _close(u, ju, 1e-12)
    dyn = ft.jit(lambda x, m, n: fl.qdwh(x, dynamic_shape=(m, n)))(X, 4, 2)
    _close(dyn[0], jl.qdwh(X, dynamic_shape=(4, 2))[0], 1e-12)
    # lanes needing different numbers of Halley steps
    xs = np.stack([X, _conditioned(5, 3, 1e7), np.eye(5, 3)])
    want = jax.vmap(jl.qdwh)(xs)
    for got in (ft.vmap(fl.qdwh)(xs), ft.jit(ft.vmap(fl.qdwh))(xs)):
        _close(got[0], want[0], 1e-8)
        np.testing.assert_array_equal(np.asarray(got[2]), np.asarray(want[2]))
        np.testing.assert_array_equal(np.asarray(got[3]), np.asarray(want[3]))


def test_qdwh_derivatives():
    x = rng.randn(3, 2)
    t = rng.randn(3, 2)
    _, ours = ft.jvp(lambda x: fl.qdwh(x)[0], (x,), (t,))
    _, theirs = jax.jvp(lambda x: jl.qdwh(x)[0], (x,), (t,))
    _close(ours, theirs, 1e-10)
    for i in (0, 1):
        check_grads(lambda x: fl.qdwh(x)[i], (x,), order=2, modes=("fwd", "rev"))
    check_grads(lambda x: ft.jit(fl.qdwh)(x)[0], (x,), order=1, modes=("fwd", "rev"))


@pytest.mark.parametrize("shape", [(5, 3), (3, 3), (3, 5)])
def test_complex_qr_derivatives_match_jax(shape):
    # (qdwh's QR steps need them; R's diagonal is real, as LAPACK's and JAX's)
    m, n = shape
    k = min(m, n)
    a, t = rng.randn(m, n) + 1j * rng.randn(m, n), rng.randn(m, n) + 1j * rng.randn(m, n)
    cts = (rng.randn(m, k) + 1j * rng.randn(m, k), np.triu(rng.randn(k, n) + 1j * rng.randn(k, n)))
    ours = ft.jvp(lambda a: fl.qr(a, full_matrices=False), (a,), (t,))[1]
    theirs = jax.jvp(lambda a: jl.qr(a, full_matrices=False), (a,), (t,))[1]
    for o, w in zip(ours, theirs):
        _close(o, w, 1e-12)
    ours = ft.vjp(lambda a: fl.qr(a, full_matrices=False), a)[1](cts)[0]
    _close(ours, jax.vjp(lambda a: jl.qr(a, full_matrices=False), a)[1](cts)[0], 1e-12)
    check_grads(lambda a: fl.qr(a, full_matrices=False), (a,), order=2, modes=("fwd", "rev"))


def test_complex_qdwh_derivatives():
    x, t = X + 1j * rng.randn(5, 3), rng.randn(5, 3) + 1j * rng.randn(5, 3)
    _, ours = ft.jvp(lambda x: fl.qdwh(x)[0], (x,), (t,))
    _close(ours, jax.jvp(lambda x: jl.qdwh(x)[0], (x,), (t,))[1], 1e-10)
    check_grads(lambda x: fl.qdwh(x)[1], (x,), order=1, modes=("fwd", "rev"))


def test_qdwh_bad_input():
    with pytest.raises(ValueError, match="x must be one .* matrix.*vmap"):
        fl.qdwh(np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match="M >= N"):
        fl.qdwh(X.T)
    with pytest.raises(TypeError, match="x must be a floating-point"):
        fl.qdwh(np.ones((3, 3), int))
    with pytest.raises(TypeError, match="max_iterations"):
        fl.qdwh(X, max_iterations=2.5)
    with pytest.raises(ValueError, match="dynamic_shape"):
        fl.qdwh(X, dynamic_shape=(6, 2))
    with pytest.raises(TypeError, match="dynamic_shape"):
        fl.qdwh(X, dynamic_shape=4)


# =============================================================== the other four
A = rng.randn(2, 5, 3)
TAUS = rng.randn(2, 3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_householder_ormqr_vs_jax(dtype):
    a, taus = A.astype(dtype), TAUS.astype(dtype)
    tol = TOL[dtype] * 10
    want = jl.householder_product(a, taus)
    for got in (fl.householder_product(a, taus), ft.jit(fl.householder_product)(a, taus),
                ft.vmap(fl.householder_product)(a, taus)):
        assert got.dtype == dtype
        _close(got, want, tol)
    for left in (True, False):
        for tr in (True, False):
            c = rng.randn(2, 5, 2) if left else rng.randn(2, 4, 5)
            c = c.astype(dtype)
            want = jl.ormqr(a, taus[:, :2], c, left=left, transpose=tr)
            f = ft.jit(lambda a, t, c: fl.ormqr(a, t, c, left=left, transpose=tr))
            _close(f(a, taus[:, :2], c), want, tol)
            _close(ft.vmap(f)(a, taus[:, :2], c), want, tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cholesky_update_and_symmetric_product_vs_jax(dtype):
    m = rng.randn(4, 4)
    r = np.linalg.cholesky(m @ m.T + 4 * np.eye(4)).T.astype(dtype)
    w = rng.randn(4).astype(dtype)
    tol = TOL[dtype] * 10
    want = jl.cholesky_update(r, w)
    _close(fl.cholesky_update(r, w), want, tol)
    _close(ft.jit(fl.cholesky_update)(r, w), want, tol)
    _close(ft.vmap(fl.cholesky_update)(np.stack([r, r]), np.stack([w, 2 * w]))[1],
           jl.cholesky_update(r, 2 * w), tol)
    a, c = rng.randn(2, 3, 4).astype(dtype), rng.randn(2, 3, 3).astype(dtype)
    for sym in (False, True):
        want = jl.symmetric_product(a, c, alpha=2., beta=.5, symmetrize_output=sym)
        f = ft.jit(lambda a, c: fl.symmetric_product(
            a, c, alpha=2., beta=.5, symmetrize_output=sym))
        _close(f(a, c), want, tol)
        _close(ft.vmap(f)(a, c), want, tol)


def test_the_four_derivatives():
    # JAX has no derivative rules for these; functrans's are compositions of primitives
    a, taus = A[0], TAUS[0]
    c = rng.randn(5, 2)
    r = np.triu(rng.randn(3, 3)) + 4 * np.eye(3)
    cases = [(fl.householder_product, (a, taus)),
             (lambda a, t, c: fl.ormqr(a, t, c, transpose=True), (a, taus, c)),
             (fl.cholesky_update, (r, rng.randn(3))),
             (lambda a, c: fl.symmetric_product(a, c, alpha=2., beta=3.,
                                                symmetrize_output=True), (a, np.eye(5)))]
    for f, args in cases:
        check_grads(f, args, order=2, modes=("fwd", "rev"))


def test_the_four_bad_input():
    with pytest.raises(TypeError, match="householder_product: a must be a floating"):
        fl.householder_product(np.ones((3, 3), int), np.ones(3))
    with pytest.raises(ValueError, match="ormqr: taus .* k <= min"):
        fl.ormqr(A[0], np.ones(4), np.ones((5, 2)))
    with pytest.raises(ValueError, match="ormqr: c must have .* 5 rows"):
        fl.ormqr(A[0], TAUS[0], np.ones((3, 2)))
    with pytest.raises(ValueError, match="ormqr: c must have .* 5 columns"):
        fl.ormqr(A[0], TAUS[0], np.ones((5, 2)), left=False)
    with pytest.raises(ValueError, match="ormqr: c must be a"):
        fl.ormqr(A[0], TAUS[0], np.ones(5))
    with pytest.raises(ValueError, match="r_matrix of shape .* w_vector"):
        fl.cholesky_update(np.eye(3), np.ones(2))
    with pytest.raises(TypeError, match="cholesky_update: w_vector"):
        fl.cholesky_update(np.eye(3), np.ones(3, int))
    with pytest.raises(ValueError, match="c_matrix must have shape"):
        fl.symmetric_product(A, np.ones((2, 3, 3)))
    with pytest.raises(TypeError, match="a_matrix must be a floating"):
        fl.symmetric_product(np.ones((3, 2), int), np.eye(3))


# =============================================================== lax *_p names
def test_linear_solve_p_is_custom_linear_solves_primitive():
    assert lax.linear_solve_p.name == "custom_linear_solve"
    jaxpr = ft.make_jaxpr(lambda b: lax.custom_linear_solve(lambda v: 2. * v, b,
                                                            lambda mv, b: b / 2.))(np.ones(3))
    assert any(e.primitive is lax.linear_solve_p for e in jaxpr.jaxpr.eqns)
    assert set(dir(jl)) - set(dir(fl)) == {"cholesky_update_p", "householder_product_p",
                                           "ormqr_p", "symmetric_product_p"}


def test_qdwh_stays_on_the_device_of_x(fake_gpus):
    x = ft.device_put(X, fake_gpus[0])
    for f in (fl.qdwh, ft.jit(fl.qdwh)):
        u, h, k, ok = f(x)
        assert {a.device for a in (u, h, k, ok)} == {fake_gpus[0]}
        _close(u, jl.qdwh(X)[0], 1e-12)
