"""Rectangular LU (`lax.linalg.lu`, `scipy.linalg.lu`/`lu_factor`), `numpy.linalg.slogdet`'s
`method` and `numpy.linalg.svd`'s `subset_by_index`."""
import numpy as np
import pytest
import scipy.linalg as sl

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

fl = ft.scipy.linalg
SHAPES = [(5, 3), (3, 5), (4, 1), (1, 4)]


def _matrix(shape, seed=0):
    """A random matrix with a dominant leading diagonal (well away from rank deficiency)."""
    a = np.random.default_rng(seed).standard_normal(shape)
    k = min(shape[-2:])
    a[..., np.arange(k), np.arange(k)] += 3.0
    return a


def _close(x, y, tol=1e-10):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


# ------------------------------------------------------------------ rectangular LU
@pytest.mark.parametrize("shape", SHAPES)
def test_lax_lu_values(shape):
    a = np.random.default_rng(1).standard_normal(shape)
    m, n = shape
    k = min(m, n)
    packed, pivots, perm = ft.lax.linalg.lu(a)
    ref_packed, ref_piv = sl.lu_factor(a)
    assert packed.shape == (m, n) and pivots.shape == (k,) and perm.shape == (m,)
    assert pivots.dtype == perm.dtype == np.int32
    _close(packed, ref_packed)
    np.testing.assert_array_equal(pivots, ref_piv)
    lower = np.tril(np.asarray(packed), -1)[:, :k] + np.eye(m, k)
    _close(a[np.asarray(perm)], lower @ np.triu(np.asarray(packed))[:k])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_scipy_lu_values(shape, dtype):
    rng = np.random.default_rng(2)
    a = rng.standard_normal(shape).astype(dtype)
    if dtype == np.complex128:
        a = a + 1j * rng.standard_normal(shape)
    tol = 1e-5 if dtype == np.float32 else 1e-10
    p, lower, upper = fl.lu(a)
    for got, want in zip((p, lower, upper), sl.lu(a)):
        assert got.shape == want.shape and got.dtype == want.dtype
        _close(got, want, tol)
    for got, want in zip(fl.lu(a, permute_l=True), sl.lu(a, permute_l=True)):
        _close(got, want, tol)
    packed, piv = fl.lu_factor(a)
    ref_packed, ref_piv = sl.lu_factor(a)
    _close(packed, ref_packed, tol)
    np.testing.assert_array_equal(piv, ref_piv)


def test_lu_batched_and_empty():
    a = np.random.default_rng(3).standard_normal((2, 3, 5, 3))
    p, lower, upper = fl.lu(a)
    assert (p.shape, lower.shape, upper.shape) == ((2, 3, 5, 5), (2, 3, 5, 3), (2, 3, 3, 3))
    _close(np.asarray(p) @ np.asarray(lower) @ np.asarray(upper), a)
    for shape, k in (((0, 3), 0), ((3, 0), 0), ((2, 0, 4), 0)):
        packed, pivots, perm = ft.lax.linalg.lu(np.zeros(shape))
        assert packed.shape == shape and pivots.shape == shape[:-2] + (k,)
        np.testing.assert_array_equal(perm, np.broadcast_to(np.arange(shape[-2]),
                                                            shape[:-1]))


def test_lu_rejects_vectors_and_rectangular_solves():
    with pytest.raises(ValueError):
        fl.lu(np.ones(3))
    with pytest.raises(ValueError, match="square"):
        fl.lu_solve(fl.lu_factor(_matrix((3, 2))), np.ones(3))


@pytest.mark.parametrize("shape", SHAPES + [(2, 4, 3), (2, 3, 4)])
def test_lu_derivatives(shape):
    a = _matrix(shape)
    check_grads(lambda a: ft.lax.linalg.lu(a)[0], (a,), order=2, modes=("fwd", "rev"))
    check_grads(lambda a: fl.lu(a)[1:], (a,), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("shape", [(3, 5, 3), (3, 3, 5)])
def test_lu_vmap_matches_loop(shape):
    a = _matrix(shape, seed=4)
    for i in range(3):
        batched = ft.vmap(lambda x: ft.lax.linalg.lu(x)[i])(a)
        loop = np.stack([np.asarray(ft.lax.linalg.lu(x)[i]) for x in a])
        _close(batched, loop)
    grad = ft.vmap(ft.grad(lambda x: fnp.sum(fl.lu(x)[2] ** 2)))(a)
    loop = np.stack([np.asarray(ft.grad(lambda x: fnp.sum(fl.lu(x)[2] ** 2))(x)) for x in a])
    _close(grad, loop)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 5, 3)])
def test_lu_jit_matches_eager(shape):
    a = _matrix(shape, seed=5)
    for got, want in zip(ft.jit(ft.lax.linalg.lu)(a), ft.lax.linalg.lu(a)):
        assert got.shape == want.shape and got.dtype == want.dtype
        _close(got, want)
    for got, want in zip(ft.jit(fl.lu_factor)(a), fl.lu_factor(a)):
        _close(got, want)

    def loss(x):
        return fnp.sum(fnp.sin(fl.lu(x)[1])) + fnp.sum(fl.lu(x)[2] ** 2)
    _close(ft.jit(ft.grad(loss))(a), ft.grad(loss)(a))


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 3)])
def test_lu_matches_jax(shape, jax_x64):
    jax = jax_x64
    rng = np.random.default_rng(6)
    a = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    t = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    for got, want in zip(ft.lax.linalg.lu(a), jax.lax.linalg.lu(a)):
        np.testing.assert_array_equal(np.asarray(got).shape, np.asarray(want).shape)
        _close(got, want)
    _close(ft.jvp(lambda x: ft.lax.linalg.lu(x)[0], (a,), (t,))[1],
           jax.jvp(lambda x: jax.lax.linalg.lu(x)[0], (a,), (t,))[1])
    _close(ft.vjp(lambda x: ft.lax.linalg.lu(x)[0], a)[1](t)[0],
           jax.vjp(lambda x: jax.lax.linalg.lu(x)[0], a)[1](t)[0])
    if len(shape) == 2:                         # jax.scipy.linalg.lu takes single matrices
        for got, want in zip(fl.lu(a), jax.scipy.linalg.lu(a)):
            _close(got, want)


# ------------------------------------------------------------------ slogdet(method=)
def test_slogdet_qr_values():
    a = np.random.default_rng(7).standard_normal((6, 4, 4))
    sign, logabs = np.linalg.slogdet(a)
    assert set(sign) == {-1.0, 1.0}          # both signs are exercised
    for method in (None, "lu", "qr"):
        got = fnp.linalg.slogdet(a, method=method)
        _close(got.sign, sign)
        _close(got.logabsdet, logabs)
        jitted = ft.jit(lambda x: fnp.linalg.slogdet(x, method=method))(a)
        _close(jitted.sign, sign)
        _close(jitted.logabsdet, logabs)


def test_slogdet_qr_derivatives_and_errors():
    a = np.random.default_rng(8).standard_normal((2, 3, 3))
    check_grads(lambda x: fnp.linalg.slogdet(x, method="qr").logabsdet, (a,), order=2,
                modes=("fwd", "rev"))
    _close(ft.grad(lambda x: fnp.sum(fnp.linalg.slogdet(x, method="qr").logabsdet))(a),
           np.linalg.inv(a).transpose(0, 2, 1))
    with pytest.raises(ValueError, match="method"):
        fnp.linalg.slogdet(a, method="svd")
    with pytest.raises(NotImplementedError):
        fnp.linalg.slogdet(a + 1j, method="qr")


def test_slogdet_qr_matches_jax(jax_x64):
    jax = jax_x64
    a = np.random.default_rng(9).standard_normal((4, 5, 5))
    for got, want in zip(fnp.linalg.slogdet(a, method="qr"),
                         jax.numpy.linalg.slogdet(a, method="qr")):
        _close(got, want)


# ------------------------------------------------------------------ svd(subset_by_index=)
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 4)])
def test_svd_subset_values(shape):
    a = np.random.default_rng(10).standard_normal(shape)
    U, S, Vh = np.linalg.svd(a, full_matrices=False)
    u, s, vh = fnp.linalg.svd(a, full_matrices=False, subset_by_index=(1, 3))
    _close(s, S[..., 1:3])
    _close(np.abs(u), np.abs(U[..., :, 1:3]))        # vectors up to sign
    _close(np.abs(vh), np.abs(Vh[..., 1:3, :]))
    _close(np.asarray(u) * np.asarray(s)[..., None, :] @ np.asarray(vh),
           U[..., :, 1:3] * S[..., None, 1:3] @ Vh[..., 1:3, :])
    _close(fnp.linalg.svd(a, compute_uv=False, full_matrices=False, subset_by_index=(0, 2)),
           S[..., :2])
    jitted = ft.jit(lambda x: fnp.linalg.svd(x, full_matrices=False,
                                             subset_by_index=(1, 3)))(a)
    for got, want in zip(jitted, (u, s, vh)):
        _close(got, want)
    full = fnp.linalg.svd(a, subset_by_index=(0, min(shape[-2:])))   # all: full matrices
    assert full.U.shape == shape[:-1] + (shape[-2],) and full.Vh.shape[-1] == shape[-1]


def test_svd_subset_errors():
    a = np.ones((4, 3))
    with pytest.raises(ValueError, match="full_matrices"):
        fnp.linalg.svd(a, subset_by_index=(0, 2))
    for bad in [(2, 2), (1, 4), (-1, 2), (1,)]:
        with pytest.raises(ValueError, match="subset_by_index"):
            fnp.linalg.svd(a, full_matrices=False, subset_by_index=bad)


def test_svd_subset_derivatives():
    a = np.random.default_rng(11).standard_normal((5, 3))

    def kept_part(x):
        u, s, vh = fnp.linalg.svd(x, full_matrices=False, subset_by_index=(0, 2))
        return fnp.matmul(u * s[None, :], vh)
    check_grads(lambda x: fnp.linalg.svd(x, full_matrices=False, subset_by_index=(1, 3)).S,
                (a,), order=2, modes=("fwd", "rev"))
    check_grads(kept_part, (a,), order=1, modes=("fwd", "rev"))


def test_svd_subset_matches_jax(jax_x64):
    jax = jax_x64
    a = np.random.default_rng(12).standard_normal((4, 3))
    for got, want in zip(fnp.linalg.svd(a, subset_by_index=(0, 3)),
                         jax.numpy.linalg.svd(a, subset_by_index=(0, 3))):
        assert got.shape == want.shape
    with pytest.raises(ValueError, match="full_matrices"):
        jax.numpy.linalg.svd(a, subset_by_index=(0, 2))
