"""functrans.scipy.sparse.linalg (cg, bicgstab) and functrans.scipy.cluster.vq against
NumPy and SciPy: matrices, functions and pytrees, preconditioners, jit."""
import numpy as np
import pytest
import scipy.cluster.vq as svq

import functrans as ft
from functrans.scipy.cluster.vq import vq
from functrans.scipy.sparse.linalg import bicgstab, cg

rng = np.random.default_rng(71)
A = rng.standard_normal((6, 6))
SPD = A @ A.T + 6 * np.eye(6)
B = rng.standard_normal(6)


@pytest.mark.parametrize("solver,matrix", [(cg, SPD), (bicgstab, A + 6 * np.eye(6))])
def test_solvers_on_matrices_functions_and_under_jit(solver, matrix):
    x, info = solver(matrix, B, tol=1e-10)
    assert info is None
    np.testing.assert_allclose(matrix @ np.asarray(x), B, atol=1e-8)
    x, _ = solver(lambda v: matrix @ v, B, M=lambda v: v / np.diag(matrix), tol=1e-10)
    np.testing.assert_allclose(matrix @ np.asarray(x), B, atol=1e-8)
    jitted, _ = ft.jit(lambda b: solver(matrix, b, tol=1e-10))(B)
    np.testing.assert_allclose(matrix @ np.asarray(jitted), B, atol=1e-8)


def test_cg_on_a_pytree_and_its_gradient():
    tree = {"a": B[:3], "b": B[3:]}
    x, _ = cg(lambda t: {"a": 2 * t["a"], "b": 3 * t["b"]}, tree)
    np.testing.assert_allclose(x["a"], B[:3] / 2, rtol=1e-6)
    np.testing.assert_allclose(x["b"], B[3:] / 3, rtol=1e-6)
    g = ft.grad(lambda b: ft.numpy.sum(cg(SPD, b, tol=1e-12)[0]))(B)
    np.testing.assert_allclose(g, np.linalg.solve(SPD, np.ones(6)), atol=1e-6)


def test_vq_matches_scipy():
    obs, book = rng.standard_normal((20, 3)), rng.standard_normal((4, 3))
    codes, dists = vq(obs, book)
    want_codes, want_dists = svq.vq(obs, book)
    np.testing.assert_array_equal(codes, want_codes)
    np.testing.assert_allclose(dists, want_dists, rtol=1e-12)
    codes1, _ = vq(obs[:, 0], book[:, 0])
    np.testing.assert_array_equal(codes1, svq.vq(obs[:, :1], book[:, :1])[0])
    with pytest.raises(ValueError, match="features"):
        vq(obs, book[:, :2])
