"""functrans.scipy.linalg's Schur-based functions and the rest of jax.scipy.linalg's names
(schur, hessenberg, sqrtm, expm_frechet, funm, solve_sylvester, eigh_tridiagonal) against
SciPy (and JAX where JAX departs from SciPy) in float64 and float32, with derivatives against
finite differences, under jit and vmap."""
from functools import partial

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
    assert fl.sqrtm(np.zeros((2, 0, 0))).shape == (2, 0, 0)
    close(fl.sqrtm(np.diag([4.0, 0.0, 0.0])), np.diag([2.0, 0.0, 0.0]))
    for none in ([[0.0, 1.0], [0.0, 0.0]], [[4.0, 1.0, 2.0], [0.0, 0.0, 3.0], [0.0] * 3]):
        assert np.isnan(np.asarray(fl.sqrtm(np.array(none)))).all()  # no square root
        assert np.isnan(np.asarray(jl.sqrtm(np.array(none)))).all()
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
    check_grads(_parts(fl.sqrtm), (SPD,), order=2, modes=("fwd", "rev"))
    check_grads(_parts(fl.sqrtm), (SHIFTED,), order=2, modes=("fwd", "rev"))
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
    close(ft.vmap(lambda a: fl.funm(a, fnp.exp))(stacked(A, SPD / 4)),
          [sl.expm(A), sl.expm(SPD / 4)])
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
                    order=2, modes=("fwd", "rev"))
    g = ft.grad(lambda a, b: fnp.sum(fl.solve_sylvester(a, b, C) ** 2), (0, 1))
    want = [g(A, b) for b in (B, B.T)]
    for got in (ft.vmap(g, in_axes=(None, 0))(A, stacked(B, B.T)),
                ft.jit(ft.vmap(g, in_axes=(None, 0)))(A, stacked(B, B.T))):
        for k in range(2):
            close(got[k], [w[k] for w in want])


def _complex_derivatives_agree(f, primals, tangents, cotangent):
    """f's jvp against central differences, and its vjp against the jvp: <ct, J t> =
    <J^T ct, t> (transposes, not adjoints: JAX's convention for complex functions)."""
    _, tangent_out = ft.jvp(f, primals, tangents)
    eps = 1e-6
    ahead = f(*(p + eps * t for p, t in zip(primals, tangents)))
    behind = f(*(p - eps * t for p, t in zip(primals, tangents)))
    close(tangent_out, (np.asarray(ahead) - np.asarray(behind)) / (2 * eps), 1e-7)
    cts = ft.vjp(f, *primals)[1](cotangent)
    close(np.sum(cotangent * np.asarray(tangent_out)),
          sum(np.sum(np.asarray(c) * t) for c, t in zip(cts, tangents)))


def test_complex_derivatives_of_sqrtm_and_solve_sylvester():
    def cplx(*shape):
        return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    primals, tangents = (CPLX, B + 1j * B.T, cplx(4, 3)), (cplx(4, 4), cplx(3, 3), cplx(4, 3))
    for method in ("schur", "eigen"):
        _complex_derivatives_agree(partial(fl.solve_sylvester, method=method), primals,
                                   tangents, cplx(4, 3))
    _complex_derivatives_agree(fl.sqrtm, (SPD + 1j * A,), (cplx(4, 4),), cplx(4, 4))


def test_sqrtm_and_solve_sylvester_are_one_host_primitive_each():
    """The Schur recurrences run in LAPACK, not as a Python loop of operations."""
    for f, args in ((fl.sqrtm, (A,)), (fl.solve_sylvester, (A, B, C))):
        names = [str(e.primitive) for e in ft.make_jaxpr(f)(*args).jaxpr.eqns]
        assert names.count("sqrtm") + names.count("sylvester") == 1 and len(names) <= 2, names


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


@pytest.mark.parametrize("dtype", DTYPES)
def test_rsf2csf_matches_scipy(dtype):
    a = rng.standard_normal((5, 5)).astype(dtype)
    t, z = sl.schur(a)
    got = fl.rsf2csf(t, z)
    want = sl.rsf2csf(t, z)
    for g, w in zip(got, want):
        assert g.dtype == np.result_type(dtype, np.complex64)
        close(g, w, TOL[dtype])
    tc, zc = (np.asarray(x) for x in got)
    close(np.tril(tc, -1), 0)
    close(zc @ tc @ zc.conj().T, a, TOL[dtype] * 10)
    for g, w in zip(ft.jit(fl.rsf2csf)(t, z), want):
        close(g, w, TOL[dtype])


def test_rsf2csf_batched_vmap_derivatives_errors():
    pairs = [sl.schur(m) for m in (A, B @ B.T + A[:3, :3])[:1] + (SHIFTED,)]
    ts, zs = stacked(*(p[0] for p in pairs)), stacked(*(p[1] for p in pairs))
    want = [sl.rsf2csf(t, z) for t, z in pairs]
    for got in (fl.rsf2csf(ts, zs), ft.vmap(fl.rsf2csf)(ts, zs)):
        for k in range(2):
            close(got[k], [w[k] for w in want])
    # differentiable where the quasi-triangular pattern of T holds (perturbed in its
    # nonzero entries: which blocks are split stays the same)
    t, z = pairs[0]
    mask = np.abs(t) > 1e-12
    check_grads(lambda x, z: _parts(lambda x, z: fl.rsf2csf(t + mask * x, z)[0])(x, z),
                (np.zeros_like(t), z), order=1, modes=("fwd", "rev"))
    for empty in (fl.rsf2csf(np.zeros((0, 0)), np.zeros((0, 0)))[0], fl.funm(
            np.zeros((0, 0)), fnp.exp), fl.solve_sylvester(A, np.zeros((0, 0)), C[:, :0])):
        assert 0 in empty.shape
    t1, z1 = fl.rsf2csf(np.ones((1, 1)), np.ones((1, 1)))
    close(t1, [[1]])
    with pytest.raises(ValueError, match="T and Z must be n x n alike"):
        fl.rsf2csf(t, z[:3, :3])


QR_CASES = [("right", (5, 3), (2, 5)), ("left", (5, 3), (3, 2)), ("right", (5, 3), (5,)),
            ("left", (5, 3), (3,)), ("right", (3, 5), (2, 3)), ("left", (3, 5), (3, 4))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode,a_shape,c_shape", QR_CASES)
def test_qr_multiply_matches_scipy(mode, a_shape, c_shape, dtype):
    a = rng.standard_normal(a_shape).astype(dtype)
    c = rng.standard_normal(c_shape).astype(dtype)
    for conjugate in (False, True):
        got = fl.qr_multiply(a, c, mode, conjugate=conjugate)
        want = sl.qr_multiply(a, c, mode, conjugate=conjugate)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == dtype
            close(g, w, TOL[dtype])
    jitted = ft.jit(lambda a, c: fl.qr_multiply(a, c, mode))(a, c)
    close(jitted[0], sl.qr_multiply(a, c, mode)[0], TOL[dtype])


def test_qr_multiply_complex_batched_derivatives_errors():
    a = CPLX[:, :3]
    c = rng.standard_normal((2, 4)) + 1j
    for conjugate in (False, True):
        close(fl.qr_multiply(a, c, conjugate=conjugate)[0],
              sl.qr_multiply(a, c, conjugate=conjugate)[0])
    aa, cc = stacked(A[:, :3], SPD[:, :3]), stacked(C.T[:2], C.T[1:])
    want = [sl.qr_multiply(x, y)[0] for x, y in zip(aa, cc)]
    close(fl.qr_multiply(aa, cc)[0], want)
    close(ft.vmap(lambda x, y: fl.qr_multiply(x, y)[0])(aa, cc), want)
    check_grads(lambda a, c: fl.qr_multiply(a, c, "left"), (A[:, :3], C[:3]), order=1,
                modes=("fwd", "rev"))
    with pytest.raises(ValueError, match=r"c of shape \(2, 3\) does not fit q of shape "
                                         r"\(4, 3\) for mode 'right' \(needs 4 columns\)"):
        fl.qr_multiply(A[:, :3], C[:2])
    with pytest.raises(NotImplementedError, match="pivoting"):
        fl.qr_multiply(A, C, pivoting=True)
    with pytest.raises(ValueError, match="mode must be 'left' or 'right'"):
        fl.qr_multiply(A, C, "middle")


@pytest.mark.parametrize("n", [0, 1, 2, 5, 12])
def test_special_matrices_of_n(n):
    for kind in (None, "lower", "upper"):
        for ours, theirs in ((fl.pascal, sl.pascal), (fl.invpascal, sl.invpascal)):
            got = ours(n, kind)
            assert got.dtype == np.float32                  # the default float, as JAX's
            close(got, theirs(n, kind or "symmetric").astype(np.float64), 1e-6)
    close(fl.invhilbert(n), sl.invhilbert(n), 1e-6)
    if n:
        for full in (False, True):
            got = fl.helmert(n, full)
            assert got.dtype == np.float32
            close(got, sl.helmert(n, full), 1e-6)
    with pytest.raises(ValueError, match="kind must be"):
        fl.pascal(3, "diagonal")
    with pytest.raises(ValueError, match="kind must be"):
        fl.invpascal(3, "diagonal")


def test_special_matrices_in_float64():
    ft.config.update("default_float_dtype", "float64")
    try:
        assert fl.pascal(30).dtype == np.float64
        np.testing.assert_allclose(fl.pascal(30), sl.pascal(30, exact=False), rtol=1e-15)
        close(fl.invhilbert(8), sl.invhilbert(8), 0)
        close(np.asarray(fl.invhilbert(5)) @ sl.hilbert(5), np.eye(5), 1e-8)
    finally:
        ft.config.update("default_float_dtype", "float32")


def test_hadamard():
    for n in (1, 2, 4, 16):
        got = fl.hadamard(n)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, sl.hadamard(n))
    assert fl.hadamard(4, dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError, match="power of 2, got 6"):
        fl.hadamard(6)


@pytest.mark.parametrize("dtype", DTYPES + [np.int64])
def test_leslie_fiedler_convolution_matrix(dtype):
    f, s = np.array([1.5, 2, 1, 3]).astype(dtype), np.array([0.25, 0.75, 2]).astype(dtype)
    for got, want in ((fl.leslie(f, s), sl.leslie(f, s)), (fl.fiedler(f), sl.fiedler(f)),
                      (fl.convolution_matrix(f, 3), sl.convolution_matrix(f, 3))):
        assert got.dtype == dtype
        close(got, want, 0)
    got = fl.fiedler_companion(f)
    assert got.dtype == (np.float32 if dtype == np.int64 else dtype)   # promoted, as JAX
    close(got, sl.fiedler_companion(f), TOL.get(dtype, 1e-6))


@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [1, 2, 3, 6])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_convolution_matrix_modes(m, n, mode):
    a = rng.standard_normal(m)
    got = fl.convolution_matrix(a, n, mode)
    close(got, sl.convolution_matrix(a, n, mode))
    v = rng.standard_normal(n)
    close(np.asarray(got) @ v, np.convolve(a, v, mode))


@pytest.mark.parametrize("coeffs", [[2.0, 3.0], [1.0, 2, 3], [1.0, 2, 3, 4],
                                    [2.0, 1, 3, 4, 5], [1.0, -1, 2, 3, 5, 7, 9]])
def test_fiedler_companion_has_the_roots(coeffs):
    got = fl.fiedler_companion(coeffs)
    close(got, sl.fiedler_companion(coeffs))
    np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(np.asarray(got))),
                               np.sort_complex(np.roots(coeffs)), atol=1e-8)


def test_structured_matrices_batch_jit_vmap_derivatives_errors():
    f, s = rng.standard_normal((2, 4)), rng.standard_normal((2, 3))
    cases = [(fl.leslie, (f, s), lambda f, s: sl.leslie(f, s)),
             (fl.fiedler, (f,), sl.fiedler),
             (fl.fiedler_companion, (f,), sl.fiedler_companion),
             (lambda a: fl.convolution_matrix(a, 3, "same"), (f,),
              lambda a: sl.convolution_matrix(a, 3, "same"))]
    for ours, args, theirs in cases:
        want = [theirs(*(x[i] for x in args)) for i in range(2)]
        close(ours(*args), want)
        close(ft.vmap(ours)(*args), want)
        close(ft.jit(ours)(*args), want)
        check_grads(ours, tuple(x[0] for x in args), order=2, modes=("fwd", "rev"))
    with pytest.raises(ValueError, match="one entry fewer"):
        fl.leslie(f[0], s[0, :2])
    with pytest.raises(ValueError, match="mode must be 'full', 'same' or 'valid'"):
        fl.convolution_matrix(f[0], 3, "circular")
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        fl.convolution_matrix(f[0], 0)
    with pytest.raises(ValueError, match="at least 1-d"):
        fl.convolution_matrix(1.0, 2)
    with pytest.raises(ValueError, match="at least one coefficient"):
        fl.fiedler_companion(np.zeros(0))
    assert fl.fiedler_companion([3.0]).shape == (0, 0)
