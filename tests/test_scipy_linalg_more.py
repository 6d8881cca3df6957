"""functrans.scipy.linalg's Schur-based functions and the rest of jax.scipy.linalg's names
(schur, hessenberg, sqrtm, expm_frechet, funm, solve_sylvester, eigh_tridiagonal) against
SciPy (and JAX where JAX departs from SciPy) in float64 and float32, with derivatives against
finite differences, under jit and vmap."""
import numpy as np
import pytest
import scipy.linalg as sl

import functrans as ft
import functrans.numpy as fnp
import functrans.scipy.linalg as fl
from functrans.test_util import check_grads

rng = np.random.default_rng(33)
A = rng.standard_normal((4, 4))
B = rng.standard_normal((3, 3))
C = rng.standard_normal((4, 3))
E = rng.standard_normal((4, 4))
SPD = A @ A.T + np.eye(4)
SHIFTED = A + 4 * np.eye(4)             # eigenvalues off the negative real axis
CPLX = A + 1j * E
TOL = {np.float64: 1e-10, np.float32: 2e-4}
DTYPES = [np.float64, np.float32]


def close(got, want, tol=1e-10):
    np.testing.assert_allclose(np.asarray(got), want, rtol=tol, atol=tol)


def stacked(*ms):
    return np.stack(ms)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", ["real", "complex"])
def test_schur_factors_and_matches_scipy(dtype, output):
    a = A.astype(dtype)
    t, z = fl.schur(a, output=output)
    tw, zw = sl.schur(a, output=output)
    assert t.dtype == tw.dtype and z.dtype == zw.dtype
    close(t, tw, TOL[dtype])
    close(z, zw, TOL[dtype])
    tn, zn = np.asarray(t), np.asarray(z)
    close(zn @ tn @ zn.conj().T, a, TOL[dtype])
    if output == "complex":
        close(np.tril(tn, -1), 0)


def test_schur_of_complex_input_batched_jit_vmap_and_errors():
    t, z = fl.schur(CPLX)                   # real output of complex input: complex form
    close(np.asarray(z) @ np.asarray(t) @ np.asarray(z).conj().T, CPLX)
    close(np.tril(np.asarray(t), -1), 0)
    batch = stacked(A, SPD)
    for t, z in (fl.schur(batch), ft.jit(fl.schur)(batch), ft.vmap(fl.schur)(batch)):
        for i, m in enumerate(batch):
            close(t[i], sl.schur(m)[0])
            close(z[i], sl.schur(m)[1])
    t, z = fl.schur(np.zeros((0, 0)))
    assert t.shape == z.shape == (0, 0)
    t, z = fl.schur(np.arange(4).reshape(2, 2))         # ints promote
    assert t.dtype == np.float32
    with pytest.raises(ValueError, match="output must be 'real' or 'complex'"):
        fl.schur(A, output="x")
    with pytest.raises(ValueError, match=r"schur: needs square matrices .*\(3, 4\)"):
        fl.schur(A[:3])
    with pytest.raises(NotImplementedError, match="schur of a float64 matrix of shape"):
        ft.grad(lambda a: fnp.sum(fl.schur(a)[0]))(A)
    with pytest.raises(NotImplementedError, match="no derivative"):
        ft.jvp(lambda a: fl.schur(a)[0], (A,), (A,))


@pytest.mark.parametrize("dtype", DTYPES)
def test_hessenberg(dtype):
    a = A.astype(dtype)
    h = fl.hessenberg(a)
    hw, qw = sl.hessenberg(a, calc_q=True)
    assert h.dtype == dtype
    close(h, hw, TOL[dtype])
    h, q = fl.hessenberg(a, calc_q=True)
    close(q, qw, TOL[dtype])
    close(np.asarray(q) @ np.asarray(h) @ np.asarray(q).T, a, TOL[dtype])
    batch = stacked(A, SPD)
    for h in (ft.jit(fl.hessenberg)(batch), ft.vmap(fl.hessenberg)(batch)):
        close(h, [sl.hessenberg(m) for m in batch])
    h, q = fl.hessenberg(CPLX, calc_q=True)
    close(h, sl.hessenberg(CPLX))
    with pytest.raises(NotImplementedError, match="hessenberg .* has no derivative"):
        ft.grad(lambda a: fnp.sum(fl.hessenberg(a)))(A)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [SPD, SHIFTED, CPLX], ids=["spd", "general", "complex"])
def test_sqrtm_matches_scipy(m, dtype):
    m = m.astype(np.result_type(dtype, np.complex64) if np.iscomplexobj(m) else dtype)
    x = fl.sqrtm(m)
    assert x.dtype == np.result_type(dtype, np.complex64)       # complex, as JAX's
    close(x, sl.sqrtm(m), TOL[dtype] * 10)
    close(np.asarray(x) @ np.asarray(x), m, TOL[dtype] * 10)


def test_sqrtm_like_jax_on_the_branch_cut_singular_batched_jit_vmap(jax_x64):
    import jax.scipy.linalg as jl
    close(fl.sqrtm(A), np.asarray(jl.sqrtm(A)))      # A has a negative eigenvalue
    close(fl.sqrtm(np.zeros((3, 3))), np.zeros((3, 3)))
    close(fl.sqrtm(np.diag([4.0, 0.0, 0.0])), np.diag([2.0, 0.0, 0.0]))
    batch = stacked(SPD, SHIFTED)
    want = [sl.sqrtm(m) for m in batch]
    for got in (fl.sqrtm(batch), ft.jit(fl.sqrtm)(batch), ft.vmap(fl.sqrtm)(batch)):
        close(got, want)
    with pytest.raises(NotImplementedError, match="blocksize"):
        fl.sqrtm(SPD, blocksize=2)


def _parts(f):
    """A complex-valued f as the real array (real part, imaginary part)."""
    return lambda *args: fnp.stack([fnp.real(f(*args)), fnp.imag(f(*args))])


def test_sqrtm_derivatives():
    check_grads(_parts(fl.sqrtm), (SPD,), order=1, modes=("fwd", "rev"))
    check_grads(_parts(fl.sqrtm), (SHIFTED,), order=1, modes=("fwd", "rev"))
    # d sqrtm solves x dx + dx x = da: vmap and jit of the derivative
    g = ft.grad(lambda a: fnp.real(fnp.trace(fl.sqrtm(a))))
    want = [g(m) for m in (SPD, SHIFTED)]
    close(ft.vmap(g)(stacked(SPD, SHIFTED)), want)
    close(ft.jit(g)(SPD), want[0])
    # trace(sqrt(a)) has gradient inv(sqrt(a))^T / 2
    close(want[0], np.linalg.inv(sl.sqrtm(SPD)).T / 2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_expm_frechet(dtype):
    a, e = A.astype(dtype), E.astype(dtype)
    value, frechet = fl.expm_frechet(a, e)
    vw, fw = sl.expm_frechet(a, e)
    assert value.dtype == frechet.dtype == dtype
    close(value, vw, TOL[dtype] * 10)
    close(frechet, fw, TOL[dtype] * 10)
    close(fl.expm_frechet(a, e, compute_expm=False), fw, TOL[dtype] * 10)
    batch = stacked(A, SPD / 4), stacked(E, E.T)
    close(ft.vmap(lambda a, e: fl.expm_frechet(a, e)[1])(*batch),
          [sl.expm_frechet(a, e)[1] for a, e in zip(*batch)])
    close(ft.jit(fl.expm_frechet)(A, E)[1], sl.expm_frechet(A, E)[1])
    with pytest.raises(ValueError, match="same shape"):
        fl.expm_frechet(A, E[:3, :3])


def test_expm_frechet_derivatives():
    check_grads(lambda a, e: fl.expm_frechet(a, e, compute_expm=False), (A / 2, E), order=2,
                modes=("fwd", "rev"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("func,scipy_func", [(fnp.exp, np.exp), (fnp.sin, np.sin),
                                             (lambda x: x ** 2 + 1, lambda x: x ** 2 + 1)],
                         ids=["exp", "sin", "poly"])
def test_funm(func, scipy_func, dtype):
    a = A.astype(dtype)
    f = fl.funm(a, func)
    assert f.dtype == np.result_type(dtype, np.complex64)
    close(f, sl.funm(a, scipy_func), TOL[dtype] * 10)
    f, err = fl.funm(a, func, disp=False)
    _, err_want = sl.funm(a, scipy_func, disp=False)
    assert 0 < float(err) < 1e3 * max(err_want, np.finfo(dtype).eps)
    close(ft.jit(lambda a: fl.funm(a, func))(a), sl.funm(a, scipy_func), TOL[dtype] * 10)


def test_funm_cases_and_errors():
    close(fl.funm(SPD, fnp.sqrt), sl.sqrtm(SPD))
    close(fl.funm(np.triu(A), fnp.exp), sl.expm(np.triu(A)))
    close(fl.funm(np.eye(3), fnp.exp), np.e * np.eye(3))     # repeated eigenvalues
    close(fl.funm(CPLX, fnp.exp), sl.expm(CPLX))
    with pytest.raises(ValueError, match=r"funm: needs one square matrix .*\(2, 4, 4\)"):
        fl.funm(stacked(A, A), fnp.exp)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", ["schur", "eigen"])
def test_solve_sylvester_matches_scipy(method, dtype):
    a, b, c = (m.astype(dtype) for m in (A, B, C))
    x = fl.solve_sylvester(a, b, c, method=method)
    assert x.dtype == dtype
    close(x, sl.solve_sylvester(a, b, c), TOL[dtype] * 10)
    x = np.asarray(x)
    close(a @ x + x @ b, c, TOL[dtype] * 10)
    # (SciPy 1.17's answer for complex A and real B is wrong: checked by the residual)
    cc = C + 1j * C[::-1]
    x = np.asarray(fl.solve_sylvester(CPLX, B, cc, method=method))
    close(CPLX @ x + x @ B, cc)
    close(fl.solve_sylvester(CPLX, B + 1j * B.T, cc, method=method),
          sl.solve_sylvester(CPLX, B + 1j * B.T, cc))


def test_solve_sylvester_batched_singular_jit_vmap_errors():
    bb = stacked(B, B.T)
    cc = stacked(C, 2 * C)
    want = [sl.solve_sylvester(A, b, c) for b, c in zip(bb, cc)]
    close(fl.solve_sylvester(A, bb, cc), want)                  # batch axes broadcast
    close(ft.vmap(fl.solve_sylvester, in_axes=(None, 0, 0))(A, bb, cc), want)
    close(ft.jit(fl.solve_sylvester)(A, B, C), sl.solve_sylvester(A, B, C))
    # a + b singular (eigenvalue 1 of a, -1 of b): no unique solution, NaN as in JAX
    x = fl.solve_sylvester(np.diag([1.0, 2.0]), np.diag([-1.0, 3.0]), np.ones((2, 2)))
    assert np.isnan(np.asarray(x)).all()
    with pytest.raises(ValueError, match=r"C must be \(…, 4, 3\)"):
        fl.solve_sylvester(A, B, C.T)
    with pytest.raises(ValueError, match="method must be 'schur' or 'eigen'"):
        fl.solve_sylvester(A, B, C, method="bartels")


def test_solve_sylvester_derivatives():
    for method in ("schur", "eigen"):
        check_grads(lambda a, b, c: fl.solve_sylvester(a, b, c, method=method), (A, B, C),
                    order=1, modes=("fwd", "rev"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_eigh_tridiagonal(dtype):
    d, e = rng.standard_normal(5).astype(dtype), rng.standard_normal(4).astype(dtype)
    w = fl.eigh_tridiagonal(d, e, eigvals_only=True)
    assert w.dtype == dtype
    close(w, sl.eigh_tridiagonal(d, e, eigvals_only=True), TOL[dtype])
    w, v = fl.eigh_tridiagonal(d, e)
    t = np.diag(d) + np.diag(e, 1) + np.diag(e, -1)
    close(t @ np.asarray(v), np.asarray(v) * np.asarray(w), TOL[dtype] * 10)
    close(fl.eigh_tridiagonal(d, e, eigvals_only=True, select="i", select_range=(1, 3)),
          sl.eigh_tridiagonal(d, e, eigvals_only=True, select="i", select_range=(1, 3)),
          TOL[dtype])
    close(ft.jit(lambda d, e: fl.eigh_tridiagonal(d, e, eigvals_only=True))(d, e),
          sl.eigh_tridiagonal(d, e, eigvals_only=True), TOL[dtype])
    close(ft.vmap(lambda d: fl.eigh_tridiagonal(d, e, eigvals_only=True))(stacked(d, 2 * d)),
          [sl.eigh_tridiagonal(x, e, eigvals_only=True) for x in (d, 2 * d)], TOL[dtype] * 10)


def test_eigh_tridiagonal_derivatives_and_errors():
    d, e = rng.standard_normal(4), rng.standard_normal(3)
    check_grads(lambda d, e: fl.eigh_tridiagonal(d, e, eigvals_only=True), (d, e), order=2,
                modes=("fwd", "rev"))
    with pytest.raises(ValueError, match=r"d must be \(n,\) and e \(n - 1,\)"):
        fl.eigh_tridiagonal(d, e[:2])
    with pytest.raises(NotImplementedError, match="select must be 'a' or 'i'"):
        fl.eigh_tridiagonal(d, e, select="v", select_range=(0, 1))
    with pytest.raises(ValueError, match="must be real"):
        fl.eigh_tridiagonal(d, e * 1j)
