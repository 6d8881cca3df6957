"""functrans.scipy.linalg against SciPy (float64 and complex), under jit and vmap, with
derivatives against finite differences."""
import warnings

import numpy as np
import pytest
import scipy.linalg as sl

import functrans as ft
import functrans.numpy as fnp
import functrans.scipy.linalg as fl
from functrans.test_util import check_grads

rng = np.random.default_rng(21)
A = rng.standard_normal((4, 4))
SPD = A @ A.T + 4 * np.eye(4)
B = rng.standard_normal((4, 2))
B1 = rng.standard_normal(4)
C = (rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3)))
HPD = C @ C.conj().T + 3 * np.eye(3)


def _close(got, want, tol=1e-10):
    got = got if isinstance(got, (tuple, list)) else (got,)
    want = want if isinstance(want, (tuple, list)) else (want,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=tol, atol=tol)


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("m", [SPD, HPD], ids=["real", "complex"])
def test_cholesky_and_cho_solve(lower, m):
    b = rng.standard_normal((m.shape[0], 2))
    _close(fl.cholesky(m, lower=lower), sl.cholesky(m, lower=lower))
    factor = fl.cho_factor(m, lower=lower)
    assert factor[1] is lower
    _close(fl.cho_solve(factor, b), sl.cho_solve(sl.cho_factor(m, lower=lower), b))
    _close(fl.cho_solve(factor, b[:, 0]), sl.cho_solve(sl.cho_factor(m, lower=lower), b[:, 0]))


@pytest.mark.parametrize("trans", [0, 1, 2, "N", "T", "C"])
@pytest.mark.parametrize("lower", [True, False])
def test_solve_triangular(trans, lower):
    _close(fl.solve_triangular(A, B, trans=trans, lower=lower),
           sl.solve_triangular(A, B, trans=trans, lower=lower))
    _close(fl.solve_triangular(C, B1[:3], trans=trans, lower=lower, unit_diagonal=True),
           sl.solve_triangular(C, B1[:3], trans=trans, lower=lower, unit_diagonal=True))


def test_lu_family():
    _close(fl.lu(A), sl.lu(A))
    _close(fl.lu(A, permute_l=True), sl.lu(A, permute_l=True))
    _close(fl.lu_factor(A), sl.lu_factor(A))
    for trans in (0, 1, 2):
        for b in (B, B1):
            _close(fl.lu_solve(fl.lu_factor(A), b, trans=trans),
                   sl.lu_solve(sl.lu_factor(A), b, trans=trans))
    _close(fl.lu_solve(fl.lu_factor(C), B1[:3], trans=2),
           sl.lu_solve(sl.lu_factor(C), B1[:3], trans=2))
    jitted = ft.jit(lambda a, b: fl.lu_solve(fl.lu_factor(a), b, trans=1))(A, B)
    _close(jitted, sl.lu_solve(sl.lu_factor(A), B, trans=1))


def test_solve_with_assume_a():
    _close(fl.solve(A, B), sl.solve(A, B))
    _close(fl.solve(A, B1), sl.solve(A, B1))
    _close(fl.solve(np.tril(SPD), B, assume_a="pos", lower=True), sl.solve(SPD, B))
    _close(fl.solve(np.triu(SPD), B, assume_a="pos"), sl.solve(SPD, B))
    _close(fl.solve(np.tril(A), B, assume_a="lower triangular"),
           sl.solve_triangular(A, B, lower=True))
    with pytest.raises(ValueError, match="assume_a"):
        fl.solve(A, B, assume_a="weird")


def test_decompositions_and_matrix_functions():
    _close(fl.eigh(SPD, eigvals_only=True), sl.eigh(SPD, eigvals_only=True))
    w, v = fl.eigh(SPD, lower=False)
    _close(np.asarray(v) @ np.diag(np.asarray(w)) @ np.asarray(v).T, SPD)
    _close(fl.qr(A), sl.qr(A))
    _close(fl.qr(A, mode="r"), sl.qr(A, mode="r"))
    tall = rng.standard_normal((5, 3))
    _close(fl.qr(tall, mode="economic"), sl.qr(tall, mode="economic"))
    _close(fl.svd(A, compute_uv=False), sl.svd(A, compute_uv=False))
    _close(fl.inv(A), sl.inv(A))
    _close(fl.det(A), sl.det(A))
    for side in ("right", "left"):
        _close(fl.polar(A, side), sl.polar(A, side))
    with pytest.raises(NotImplementedError, match="generalized"):
        fl.eigh(SPD, SPD)


@pytest.mark.parametrize("scale", [1e-3, 0.1, 1.0, 10.0, 60.0])
def test_expm_matches_scipy_across_norms(scale):
    _close(fl.expm(A * scale), sl.expm(A * scale), tol=1e-9 * max(1.0, scale))
    _close(fl.expm(C * scale), sl.expm(C * scale), tol=1e-9 * max(1.0, scale))


def test_expm_of_zero_is_the_identity_without_warnings_and_too_big_is_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _close(fl.expm(np.zeros((3, 3))), np.eye(3))
    # as JAX: NaN once 2^max_squarings leaves the 1-norm at or above 2 theta_13 (A * 10)
    assert np.isnan(np.asarray(fl.expm(A * 10, max_squarings=2))).all()
    assert np.isfinite(np.asarray(fl.expm(A * 8.5, max_squarings=2))).all()


def test_expm_derivatives_jit_and_vmap():
    check_grads(lambda a: fnp.sum(fnp.sin(fl.expm(a))), (A * 0.3,), order=1,
                modes=("fwd", "rev"))
    stack = rng.standard_normal((3, 3, 3))
    batched = ft.vmap(fl.expm)(stack)
    for i in range(3):
        _close(batched[i], sl.expm(stack[i]))
    _close(ft.jit(fl.expm)(A), sl.expm(A))


def test_solve_derivatives():
    check_grads(lambda m, b: fl.cho_solve(fl.cho_factor(m @ m.T + 4 * fnp.eye(4)), b),
                (A, B), order=2, modes=("fwd", "rev"))
    check_grads(lambda a, b: fl.solve_triangular(a + 4 * fnp.eye(4), b, trans=1, lower=True),
                (A, B), order=2, modes=("fwd", "rev"))
    check_grads(lambda a, b: fl.lu_solve(fl.lu_factor(a), b, trans=1), (A, B), order=1,
                modes=("fwd", "rev"))
    check_grads(lambda c, b: fl.lu_solve(fl.lu_factor(c), b, trans=2), (C, B1[:3] + 1j),
                order=2, modes=("fwd", "rev"))


def test_structured_matrices():
    _close(fl.block_diag(np.ones((2, 2)), [1, 2, 3], 5.0),
           sl.block_diag(np.ones((2, 2)), [1, 2, 3], 5.0))
    _close(fl.toeplitz([1.0, 2.0, 3.0], [1.0, 4.0, 5.0, 6.0]),
           sl.toeplitz([1.0, 2.0, 3.0], [1.0, 4.0, 5.0, 6.0]))
    _close(fl.toeplitz([1.0, 2j, 3.0]), sl.toeplitz([1.0, 2j, 3.0]))
    _close(fl.circulant([1.0, 2.0, 3.0]), sl.circulant([1.0, 2.0, 3.0]))
    _close(fl.hankel([1.0, 2.0, 3.0], [3.0, 4.0, 5.0, 6.0]),
           sl.hankel([1.0, 2.0, 3.0], [3.0, 4.0, 5.0, 6.0]))
    _close(fl.hankel([1.0, 2.0, 3.0]), sl.hankel([1.0, 2.0, 3.0]))
    _close(fl.companion([2.0, 3.0, 4.0, 5.0]), sl.companion([2.0, 3.0, 4.0, 5.0]))
    _close(fl.hilbert(4), sl.hilbert(4), tol=1e-6)
    _close(fl.dft(5, "sqrtn"), sl.dft(5, "sqrtn"), tol=1e-6)
    check_grads(lambda c: fnp.sum(fl.toeplitz(c, c[::-1]) ** 2), (B1,), order=2,
                modes=("fwd", "rev"))


def test_bad_arguments():
    with pytest.raises(ValueError, match="square"):
        fl.cholesky(np.ones((2, 3)))
    with pytest.raises(ValueError, match="trans"):
        fl.solve_triangular(A, B, trans=5)
    with pytest.raises(NotImplementedError, match="pivoting"):
        fl.qr(A, pivoting=True)
