"""Linear algebra, FFT, stats and signal behaviours fixed to agree with JAX 0.10.2 (values
from NumPy/SciPy or written out; JAX itself only for optional cross-checks)."""
import numpy as np
import pytest
import scipy.linalg as sl
import scipy.stats as ss

import functrans as ft
import functrans.numpy as fnp
import functrans.scipy as fsp
from functrans.test_util import check_grads

A = np.array([[4., 1., 0.5], [0.2, 3., 0.3], [0.1, 0.7, 2.]])      # not symmetric
S = np.array([[4., 1., 0.5], [1., 3., 0.3], [0.5, 0.3, 2.]])       # symmetric positive
HERM_A = (A + A.T) / 2


def _close(got, want, tol=1e-10):
    np.testing.assert_allclose(np.asarray(got), want, rtol=tol, atol=tol)


def _fd_grad(f, x, eps=1e-6):
    g = np.zeros(x.shape + np.shape(f(x)))
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = eps
        g[idx] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps)
    return g


# ------------------------------------------------------------------ 1. symmetrize_input
def test_eigh_eigvalsh_cholesky_use_the_hermitian_part():
    _close(fnp.linalg.eigvalsh(A), np.linalg.eigvalsh(HERM_A))
    _close(fnp.linalg.eigh(A).eigenvalues, np.linalg.eigvalsh(HERM_A))
    _close(fnp.linalg.cholesky(A), np.linalg.cholesky(HERM_A))
    _close(fnp.linalg.cholesky(A, upper=True), np.linalg.cholesky(HERM_A).T)


def test_symmetrize_input_false_reads_one_triangle():
    _close(fnp.linalg.eigvalsh(A, symmetrize_input=False), np.linalg.eigvalsh(A))
    _close(fnp.linalg.eigvalsh(A, "U", symmetrize_input=False), np.linalg.eigvalsh(A, "U"))
    _close(fnp.linalg.eigh(A, symmetrize_input=False).eigenvalues, np.linalg.eigvalsh(A))
    _close(fnp.linalg.cholesky(A, symmetrize_input=False), np.linalg.cholesky(A))
    # as JAX: upper=True transposes the factor of the lower triangle
    _close(fnp.linalg.cholesky(A, upper=True, symmetrize_input=False), np.linalg.cholesky(A).T)


def test_eigh_and_cholesky_gradients_are_symmetric():
    g = ft.grad(lambda a: fnp.linalg.eigvalsh(a)[-1])(S)
    v = np.linalg.eigh(S)[1][:, -1]
    _close(g, np.outer(v, v))                      # JAX's: d lambda = v^T dA v
    g = np.asarray(ft.grad(lambda a: fnp.linalg.cholesky(a)[2, 1])(S))
    _close(g, g.T)
    sym_fd = _fd_grad(lambda a: np.linalg.cholesky((a + a.T) / 2)[2, 1], S)
    _close(g, sym_fd, 1e-6)


def test_multivariate_normal_cov_gradient_is_symmetric():
    x = np.array([1., 2., 0.])
    g = np.asarray(ft.grad(lambda c: fsp.stats.multivariate_normal.logpdf(x, np.zeros(3), c))(S))
    inv = np.linalg.inv(S)
    _close(g, 0.5 * (inv @ np.outer(x, x) @ inv - inv))
    _close(g[0], [-0.1340139, 0.07724445, 0.02191681], 1e-7)      # JAX 0.10.2's


# ------------------------------------------------------------------ 2. scipy.linalg
def test_scipy_cholesky_reads_one_triangle():
    _close(fsp.linalg.cholesky(A), sl.cholesky(A))
    _close(fsp.linalg.cholesky(A)[0], [2., 0.5, 0.25])
    _close(fsp.linalg.cholesky(A, lower=True), sl.cholesky(A, lower=True))
    _close(fsp.linalg.cho_factor(A)[0], np.triu(sl.cho_factor(A)[0]))
    c = A + 1j * np.array([[0., 0.3, -0.2], [0.5, 0., 0.1], [0.4, -0.6, 0.]])
    _close(fsp.linalg.cholesky(c), sl.cholesky(c))
    _close(fsp.linalg.cholesky(c, lower=True), sl.cholesky(c, lower=True))


@pytest.mark.parametrize("lower", [True, False])
def test_scipy_cholesky_gradient_lands_in_the_triangle_it_reads(lower):
    f = lambda a: fsp.linalg.cholesky(a, lower=lower)[2, 1 if lower else 2]
    g = np.asarray(ft.grad(f)(S))
    _close(g, _fd_grad(lambda a: sl.cholesky(a, lower=lower)[2, 1 if lower else 2], S), 1e-6)
    assert not np.any(np.triu(g, 1) if lower else np.tril(g, -1))


def test_scipy_eigh_uses_the_hermitian_part():
    for lower in (True, False):
        _close(fsp.linalg.eigh(A, lower=lower, eigvals_only=True), np.linalg.eigvalsh(HERM_A))
    g = ft.grad(lambda a: fsp.linalg.eigh(a)[0][-1])(S)
    _close(np.asarray(g)[0], [0.69289608, 0.42757186, 0.17312831], 1e-7)   # JAX 0.10.2's


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("b", [np.ones(3), np.arange(6.).reshape(3, 2)], ids=["vec", "mat"])
def test_solve_pos_values_and_jax_gradient(lower, b):
    _close(fsp.linalg.solve(A, b, assume_a="pos", lower=lower),
           sl.solve(A, b, assume_a="pos", lower=lower))
    # JAX's derivative: -a^-1 da x with the whole da, the general solve's on symmetric a
    pos = ft.grad(lambda a: fsp.linalg.solve(a, b, assume_a="pos", lower=lower).sum())
    gen = ft.grad(lambda a: fnp.linalg.solve(a, b).sum())
    _close(pos(S), gen(S))
    _close(ft.jit(pos)(S), gen(S))
    check_grads(lambda b: fsp.linalg.solve(S, b, assume_a="pos", lower=lower), (b,), 2)


def test_solve_pos_gradient_matches_jax_repro():
    g = ft.grad(lambda a: fsp.linalg.solve(a, np.ones(3), assume_a="pos")[0])(S)
    _close(np.asarray(g)[0], [-0.03764364, -0.06844298, -0.11977522], 1e-7)


# ------------------------------------------------------------------ 3. qr mode='r'
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (3, 3), (2, 5, 3)])
def test_qr_mode_r_is_the_full_r(shape):
    x = np.random.default_rng(0).normal(size=shape)
    r, = fsp.linalg.qr(x, mode="r")
    assert r.shape == shape
    want = sl.qr(x, mode="r")[0] if len(shape) == 2 else np.stack(
        [sl.qr(m, mode="r")[0] for m in x])
    _close(np.abs(r), np.abs(want))
    q, r = fsp.linalg.qr(x, mode="economic")
    k = min(shape[-2:])
    assert q.shape == shape[:-1] + (k,) and r.shape == shape[:-2] + (k, shape[-1])


def test_qr_mode_r_gradient():
    x = np.random.default_rng(1).normal(size=(5, 3))
    check_grads(lambda a: fsp.linalg.qr(a, mode="r")[0], (x,), 1)


# ------------------------------------------------------------------ 4. multivariate_normal
def test_multivariate_normal_scalar_mean_and_cov_take_samples():
    x = np.array([0.3, 1.])
    logpdf = fsp.stats.multivariate_normal.logpdf
    _close(logpdf(x, 0.1, 2.), ss.multivariate_normal.logpdf(x, 0.1, 2.), 1e-6)
    _close(logpdf(x, 0.1, 2.), [-1.27551212, -1.46801212], 1e-6)
    _close(logpdf(x), ss.multivariate_normal.logpdf(x), 1e-6)
    assert logpdf(np.ones((4, 2)), 0.1, 2.).shape == (4, 2)
    _close(logpdf(x, np.array([0.1, 0.2]), 2.),
           ss.multivariate_normal.logpdf(x, [0.1, 0.2], 2.))
    _close(logpdf(x, None, np.eye(2)), ss.multivariate_normal.logpdf(x, None, np.eye(2)))


# ------------------------------------------------------------------ 5. det's derivative
@pytest.mark.parametrize("a", [np.array([[1., 2.], [2., 4.]]), np.zeros((3, 3)), np.eye(3),
                               np.outer([1., 2, 3], [1., -1, 2]), np.diag([1., 0, 0])],
                         ids=["rank1-2x2", "zero", "eye", "rank1-3x3", "rank1-diag"])
def test_det_gradient_is_the_adjugate_and_hessian_holds(a):
    g = np.asarray(ft.grad(fnp.linalg.det)(a))
    _close(g, _fd_grad(lambda x: np.linalg.det(x), a), 1e-6)
    h = np.asarray(ft.hessian(fnp.linalg.det)(a))
    _close(h, _fd_grad(lambda x: np.asarray(ft.grad(fnp.linalg.det)(x)), a), 1e-6)


def test_det_gradient_singular_value():
    _close(ft.grad(fnp.linalg.det)(np.array([[1., 2.], [2., 4.]])), [[4., -2.], [-2., 1.]])


def test_det_derivatives_batched_complex_and_jit():
    rng = np.random.default_rng(2)
    b = rng.normal(size=(2, 3, 3))
    want = np.stack([np.linalg.det(m) * np.linalg.inv(m).T for m in b])
    _close(ft.grad(lambda x: fnp.linalg.det(x).sum())(b), want, 1e-9)
    _close(ft.vmap(ft.grad(fnp.linalg.det))(b), want, 1e-9)
    _close(ft.jit(ft.hessian(fnp.linalg.det))(b[0]), ft.hessian(fnp.linalg.det)(b[0]))
    check_grads(fnp.linalg.det, (b[0],), 2)
    c = b[0] + 1j * b[1]
    t = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))
    _, dt = ft.jvp(fnp.linalg.det, (c,), (t,))
    _close(dt, np.trace(np.linalg.det(c) * np.linalg.inv(c) @ t), 1e-9)
    singular = np.outer([1, 2j, 3], [1, -1j, 2])
    _, dt = ft.jvp(fnp.linalg.det, (singular,), (t,))
    eps = 1e-6
    _close(dt, (np.linalg.det(singular + eps * t) - np.linalg.det(singular - eps * t))
           / (2 * eps), 1e-6)


# ------------------------------------------------------------------ 6. lstsq residuals
RANK_DEFICIENT = np.outer([1., 2, 3, 4, 5], [1., 0, 1]) + np.outer([0., 1, 0, 1, 3], [0., 1, 1])


@pytest.mark.parametrize("shape", ["deficient", (5, 3), (3, 3), (3, 5)])
@pytest.mark.parametrize("ncols", [None, 2])
def test_lstsq_residuals_eager_jit_and_numpy_rule(shape, ncols):
    rng = np.random.default_rng(3)
    a = RANK_DEFICIENT if shape == "deficient" else rng.normal(size=shape)
    b = rng.normal(size=(a.shape[0],) if ncols is None else (a.shape[0], ncols))
    x, resid, rank, s = fnp.linalg.lstsq(a, b)
    want = np.sum(np.atleast_1d((a @ np.linalg.lstsq(a, b)[0] - b).T ** 2).reshape(
        -1, a.shape[0]), axis=-1)
    assert resid.shape == (1 if ncols is None else ncols,)
    _close(resid, want, 1e-9)
    _close(ft.jit(fnp.linalg.lstsq)(a, b)[1], want, 1e-9)
    np_resid = fnp.linalg.lstsq(a, b, numpy_resid=True)[1]
    assert np_resid.shape == np.linalg.lstsq(a, b)[1].shape
    _close(np_resid, np.linalg.lstsq(a, b)[1], 1e-9)


# ------------------------------------------------------------------ 7. structured matrices
def test_toeplitz_hankel_circulant_companion_batch():
    c = np.arange(6.).reshape(2, 3)
    r = np.arange(8.).reshape(2, 4) + 10
    _close(fsp.linalg.toeplitz(c), np.stack([sl.toeplitz(v) for v in c]))
    _close(fsp.linalg.toeplitz(c, r), np.stack([sl.toeplitz(u, v) for u, v in zip(c, r)]))
    _close(fsp.linalg.toeplitz(c[0], r), np.stack([sl.toeplitz(c[0], v) for v in r]))
    assert fsp.linalg.toeplitz(np.ones((2, 1, 3)), np.ones((4, 5))).shape == (2, 4, 3, 5)
    _close(fsp.linalg.toeplitz(np.array(3.)), [[3.]])
    cc = c + 1j
    _close(fsp.linalg.toeplitz(cc), np.stack([sl.toeplitz(v) for v in cc]))
    _close(fsp.linalg.hankel(c), np.stack([sl.hankel(v) for v in c]))
    _close(fsp.linalg.hankel(c, r[0]), np.stack([sl.hankel(v, r[0]) for v in c]))
    _close(fsp.linalg.circulant(c), np.stack([sl.circulant(v) for v in c]))
    poly = c + 1
    _close(fsp.linalg.companion(poly), np.stack([sl.companion(v) for v in poly]))
    _close(fsp.linalg.companion(np.ones((2, 2, 3)))[1, 1], sl.companion(np.ones(3)))
    with pytest.raises(ValueError):
        fsp.linalg.hankel(np.array(3.))
    _close(ft.grad(lambda v: fsp.linalg.toeplitz(v).sum())(np.ones(3)), [3., 4., 2.])


# ------------------------------------------------------------------ 8. expm
def test_expm_nan_when_squarings_do_not_suffice():
    assert np.all(np.isnan(fsp.linalg.expm(1000 * np.eye(2), max_squarings=2)))
    out = np.asarray(fsp.linalg.expm(np.stack([np.eye(2), 1000 * np.eye(2)]), max_squarings=2))
    _close(out[0], sl.expm(np.eye(2)))
    assert np.all(np.isnan(out[1]))
    x = np.random.default_rng(0).normal(size=(4, 4)) * 10     # needs 3; JAX's cut allows 2
    assert np.all(np.isfinite(fsp.linalg.expm(x, max_squarings=2)))


def test_expm_upper_triangular_and_empty():
    t = np.triu(np.random.default_rng(4).normal(size=(4, 4)))
    _close(fsp.linalg.expm(t, upper_triangular=True), sl.expm(t), 1e-9)
    assert fsp.linalg.expm(np.zeros((0, 0))).shape == (0, 0)
    assert fsp.linalg.expm(np.zeros((2, 0, 0))).shape == (2, 0, 0)


# ------------------------------------------------------------------ 9. crashes
def test_lu_solve_with_a_stack_of_factors():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(2, 3, 3))
    lu, piv = fsp.linalg.lu_factor(a)
    b = rng.normal(size=(2, 3))
    _close(fsp.linalg.lu_solve((lu, piv), b), np.linalg.solve(a, b[..., None])[..., 0])
    bm = rng.normal(size=(2, 3, 2))
    for trans, op in ((0, a), (1, np.swapaxes(a, -1, -2)), (2, np.swapaxes(a, -1, -2))):
        _close(fsp.linalg.lu_solve((lu, piv), bm, trans=trans), np.linalg.solve(op, bm))


@pytest.mark.parametrize("shape", [(0, 0), (2, 0, 0), (3, 0), (0, 3)])
def test_pinv_and_norms_of_empty_matrices(shape):
    x = np.zeros(shape)
    assert fnp.linalg.pinv(x).shape == shape[:-2] + shape[:-3:-1]
    for ord in (None, "fro", "nuc", 1, 2, np.inf):
        _close(fnp.linalg.norm(x, ord, axis=(-2, -1)), np.zeros(shape[:-2]))


@pytest.mark.parametrize("name", ["fft", "ifft", "irfft", "hfft", "fftn", "ifftn", "irfftn"])
def test_fft_of_empty_input_is_empty(name):
    f = getattr(fnp.fft, name)
    out = f(np.zeros((0,)))
    assert out.shape == (0,)
    assert f(np.zeros((3, 0))).shape == (3, 0)
    assert out.dtype == (np.float64 if name in ("irfft", "hfft", "irfftn") else np.complex128)
    with pytest.raises(ValueError):
        f(np.ones(3), 0) if name in ("fft", "ifft", "irfft", "hfft") else f(np.ones(3), (0,))


def test_fft_edge_cases():
    assert fnp.fft.irfft(np.ones(1)).shape == (0,)
    assert fnp.fft.hfft(np.ones(1)).shape == (0,)
    out = fnp.fft.fftn(np.float64(3.))
    assert out.shape == () and out.dtype == np.complex128 and complex(out) == 3
    x = np.arange(6.).reshape(2, 3)
    _close(fnp.fft.fftn(x, axes=()), x.astype(complex))
    _close(fnp.fft.ifftn(x, axes=()), x.astype(complex))
    assert fnp.fft.fftfreq(0).shape == (0,)
    assert np.isnan(np.asarray(fnp.fft.rfftfreq(0))).all()
    with pytest.raises(ValueError):
        fnp.fft.rfft(np.zeros(0))


def test_dctn_with_integer_axes_and_s():
    import scipy.fft as sf
    x = np.random.default_rng(6).normal(size=(3, 4))
    _close(fsp.fft.dctn(x, axes=1), sf.dctn(x, axes=1))
    _close(fsp.fft.idctn(x, axes=1), sf.idctn(x, axes=1))
    _close(fsp.fft.dctn(x, s=3, axes=1), sf.dctn(x, s=3, axes=1))


# ------------------------------------------------------------------ 10. dtypes
@pytest.mark.parametrize("name", ["convolve", "correlate", "fftconvolve"])
def test_signal_integer_inputs_give_floats(name):
    f = getattr(fsp.signal, name)
    out = f(np.arange(3, dtype=np.int32), np.arange(2, dtype=np.int32))
    assert out.dtype.kind == "f"
    import scipy.signal as sg
    _close(out, getattr(sg, name)(np.arange(3), np.arange(2)))
    assert f(np.ones(3, bool), np.ones(2, bool)).dtype.kind == "f"
    assert fsp.signal.convolve2d(np.ones((3, 3), int), np.ones((2, 2), int)).dtype.kind == "f"


def test_lu_permutation_of_complex_input_is_real():
    c = np.array([[1., 2j], [3., 4.]])
    p, l, u = fsp.linalg.lu(c)
    assert p.dtype == sl.lu(c)[0].dtype == np.float64
    _close(p, sl.lu(c)[0])


# ------------------------------------------------------------------ optional JAX cross-check
def test_against_jax_when_installed():
    jax = pytest.importorskip("jax")
    with jax.enable_x64(True):              # (set for this test only: others compare float32)
        _against_jax(jax)


def _against_jax(jax):
    import jax.numpy as jnp
    import jax.scipy as jsp
    _close(ft.grad(lambda a: fnp.linalg.eigvalsh(a)[-1])(S),
           jax.grad(lambda a: jnp.linalg.eigvalsh(a)[-1])(S))
    _close(fsp.linalg.qr(np.ones((5, 3)), mode="r")[0].shape,
           jsp.linalg.qr(np.ones((5, 3)), mode="r")[0].shape)
    a = np.random.default_rng(7).normal(size=(3, 3))
    _close(ft.hessian(fnp.linalg.det)(a), jax.hessian(jnp.linalg.det)(a), 1e-9)
    _close(fnp.linalg.lstsq(RANK_DEFICIENT, np.arange(5.))[1],
           jnp.linalg.lstsq(RANK_DEFICIENT, np.arange(5.))[1], 1e-9)
