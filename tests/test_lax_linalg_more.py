"""`ft.lax.linalg`'s functions beyond the core decompositions, against jax.lax.linalg and
SciPy in float64: hessenberg, tridiagonal, schur, tridiagonal_solve (with derivatives),
householder_product, ormqr, cholesky_update, symmetric_product, lu_pivots_to_permutation,
JAX's eigh/svd keywords and enums, and the *_p names."""
import numpy as np
import pytest
import scipy.linalg as sl

import functrans as ft
from functrans.lax import linalg as fl
from functrans.test_util import check_grads

try:
    import jax
    import jax.lax.linalg as jl
except ImportError:           # pragma: no cover
    jax = jl = None

needs_jax = pytest.mark.skipif(jax is None, reason="jax is not installed")
rng = np.random.RandomState(0)
A = rng.randn(5, 5)
SPD = A @ A.T + 5 * np.eye(5)
B = rng.randn(3, 5, 5)


def _close(a, b, tol=1e-10):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def test_the_jax_names_exist():
    if jl is None:
        pytest.skip("jax is not installed")
    missing = {n for n in dir(jl) if not n.startswith("_")} - set(dir(fl))
    # built from other primitives in functrans (no primitive of their own)
    assert missing == {"cholesky_update_p", "householder_product_p", "ormqr_p",
                       "symmetric_product_p"}
    for name in ("cholesky_p", "eigh_p", "svd_p", "qr_p", "lu_p", "hessenberg_p",
                 "tridiagonal_solve_p"):
        assert isinstance(getattr(fl, name), ft.core.Primitive)


@pytest.mark.parametrize("dt", [np.float64, np.complex128])
def test_hessenberg(dt):
    a = (A + (1j * A.T if dt == np.complex128 else 0)).astype(dt)
    h, taus = fl.hessenberg(a)
    H = np.triu(np.asarray(h), -1)
    q = np.eye(5, dtype=dt)
    q[1:, 1:] = np.asarray(fl.householder_product(np.asarray(h)[1:, :-1], taus))
    _close(q @ H @ q.conj().T, a)
    _close(H, sl.hessenberg(a))
    if jl is not None:
        with jax.enable_x64(True):
            jh, jt = jl.hessenberg(a)
        _close(h, jh)
        _close(taus, jt)
    batched = fl.hessenberg(B)[0]
    _close(batched, np.stack([np.asarray(fl.hessenberg(b)[0]) for b in B]))
    _close(ft.vmap(lambda b: fl.hessenberg(b)[0])(B), batched)
    _close(ft.jit(lambda b: fl.hessenberg(b)[0])(B), batched)


@pytest.mark.parametrize("lower", [True, False])
def test_tridiagonal(lower):
    arr, d, e, taus = fl.tridiagonal(SPD, lower=lower)
    T = np.diag(np.asarray(d)) + np.diag(np.asarray(e), 1) + np.diag(np.asarray(e), -1)
    _close(np.linalg.eigvalsh(T), np.linalg.eigvalsh(SPD))
    if jl is not None:
        with jax.enable_x64(True):
            out = jl.tridiagonal(SPD, lower=lower)
        for got, want in zip((arr, d, e, taus), out):
            _close(got, want)
    _close(ft.vmap(lambda m: fl.tridiagonal(m)[1])(np.stack([SPD, 2 * SPD])),
           np.stack([d, 2 * np.asarray(d)]) if lower else
           np.stack([fl.tridiagonal(SPD)[1], fl.tridiagonal(2 * SPD)[1]]))


def test_schur():
    t, z = fl.schur(A)
    _close(np.asarray(z) @ np.asarray(t) @ np.asarray(z).T, A)
    _close(t, sl.schur(A)[0])
    _close(fl.schur(A, compute_schur_vectors=False), t)
    if jl is not None:
        with jax.enable_x64(True):
            jt, jz = jl.schur(A)
        _close(t, jt)
        _close(z, jz)
    with pytest.raises(NotImplementedError, match="sort"):
        fl.schur(A, sort_eig_vals=True)
    with pytest.raises(NotImplementedError, match="derivative"):
        ft.grad(lambda a: fl.schur(a)[0].sum())(A)


def _tds_args(batch=()):
    r = np.random.RandomState(1)
    dl, d, du = (r.randn(*batch, 6) for _ in range(3))
    dl[..., 0] = 0
    du[..., -1] = 0
    d += 4
    return dl, d, du, r.randn(*batch, 6, 2)


def _dense(dl, d, du):
    return np.diag(d) + np.diag(dl[1:], -1) + np.diag(du[:-1], 1)


def test_tridiagonal_solve_values():
    dl, d, du, b = _tds_args()
    x = fl.tridiagonal_solve(dl, d, du, b)
    _close(x, np.linalg.solve(_dense(dl, d, du), b))
    if jl is not None:
        with jax.enable_x64(True):
            _close(x, jl.tridiagonal_solve(dl, d, du, b))
    bdl, bd, bdu, bb = _tds_args((3,))
    want = np.stack([np.linalg.solve(_dense(*m[:3]), m[3]) for m in zip(bdl, bd, bdu, bb)])
    _close(fl.tridiagonal_solve(bdl, bd, bdu, bb), want)
    _close(ft.vmap(fl.tridiagonal_solve)(bdl, bd, bdu, bb), want)
    _close(ft.jit(fl.tridiagonal_solve)(bdl, bd, bdu, bb), want)
    _close(ft.vmap(fl.tridiagonal_solve, (None, None, None, 0))(dl, d, du, bb),
           np.stack([np.linalg.solve(_dense(dl, d, du), m) for m in bb]))


def test_tridiagonal_solve_derivatives():
    args = _tds_args()
    check_grads(fl.tridiagonal_solve, args, order=2, modes=("fwd", "rev"))
    if jl is not None:
        def loss(mod):
            return lambda *a: (mod.tridiagonal_solve(*a) ** 2).sum()
        got = ft.grad(loss(fl), argnums=(0, 1, 2, 3))(*args)
        with jax.enable_x64(True):
            want = jax.grad(loss(jl), argnums=(0, 1, 2, 3))(*args)
        for g, w, keep in zip(got, want, ["1:", ":", ":-1", ":"]):
            sl_ = eval(f"np.s_[{keep}]")
            _close(np.asarray(g)[sl_], np.asarray(w)[sl_])


def test_tridiagonal_solve_bad_input():
    dl, d, du, b = _tds_args()
    with pytest.raises(ValueError, match="tridiagonal_solve"):
        fl.tridiagonal_solve(dl[:5], d, du, b)
    with pytest.raises(TypeError, match="dtype"):
        fl.tridiagonal_solve(dl.astype(np.float32), d, du, b)


@pytest.mark.parametrize("shape", [(5, 3), (4, 4), (2, 6, 3)])
def test_householder_product_and_ormqr(shape):
    a = np.random.RandomState(2).randn(*shape)
    h, taus = fl.geqrf(a)
    q = fl.householder_product(h, taus)
    m, n = shape[-2:]
    assert q.shape == shape
    _close(np.asarray(q)[..., :, :n] @ np.triu(np.asarray(h))[..., :n, :], a)
    c = np.random.RandomState(3).randn(*shape[:-2], m, 2)
    if jl is not None:
        with jax.enable_x64(True):
            h, taus = np.asarray(h), np.asarray(taus)
            _close(q, jl.householder_product(h, taus))
            for left, tr in [(True, False), (True, True)]:
                _close(fl.ormqr(h, taus, c, left=left, transpose=tr),
                       jl.ormqr(h, taus, c, left=left, transpose=tr))
            ct = np.swapaxes(c, -1, -2)
            _close(fl.ormqr(h, taus, ct, left=False), jl.ormqr(h, taus, ct, left=False))
    check_grads(lambda x: fl.householder_product(x, taus), (np.asarray(h),), order=1,
                modes=("fwd", "rev"))
    _close(ft.jit(fl.householder_product)(h, taus), q)


def test_cholesky_update():
    r = np.linalg.cholesky(SPD).T
    w = rng.randn(5)
    got = fl.cholesky_update(r, w)
    _close(got, np.linalg.cholesky(SPD + np.outer(w, w)).T)
    if jl is not None:
        with jax.enable_x64(True):
            _close(got, jl.cholesky_update(r, w))
    check_grads(lambda r, w: fl.cholesky_update(r, w), (r, w), order=1, modes=("fwd", "rev"))
    with pytest.raises(ValueError, match="cholesky_update"):
        fl.cholesky_update(r, w[:3])


@pytest.mark.parametrize("symmetrize", [False, True])
def test_symmetric_product(symmetrize):
    a = rng.randn(2, 4, 3)
    c = np.stack([SPD[:4, :4]] * 2)
    got = fl.symmetric_product(a, c, alpha=2.0, beta=0.5, symmetrize_output=symmetrize)
    want = 2 * a @ np.swapaxes(a, -1, -2) + 0.5 * c
    _close(got, want)
    if jl is not None:
        with jax.enable_x64(True):
            j = jl.symmetric_product(a, c, alpha=2.0, beta=0.5, symmetrize_output=symmetrize)
        _close(np.tril(np.asarray(got)), np.tril(np.asarray(j)))


def test_lu_pivots_to_permutation():
    pivots = np.array([[2, 2, 3, 3], [0, 3, 2, 3]], np.int32)
    got = fl.lu_pivots_to_permutation(pivots, 5)
    assert got.dtype == np.int32 and got.shape == (2, 5)
    if jl is not None:
        np.testing.assert_array_equal(got, jl.lu_pivots_to_permutation(pivots, 5))
    _, piv, perm = fl.lu(A)
    np.testing.assert_array_equal(fl.lu_pivots_to_permutation(piv, 5), perm)
    np.testing.assert_array_equal(ft.vmap(lambda p: fl.lu_pivots_to_permutation(p, 5))(pivots),
                                  got)
    with pytest.raises(ValueError, match="permutation_size"):
        fl.lu_pivots_to_permutation(pivots, 3)


@pytest.mark.parametrize("impl", [None] + list(fl.EighImplementation))
def test_eigh_keywords(impl):
    v, w = fl.eigh(SPD, implementation=impl)
    _close(w, np.linalg.eigvalsh(SPD))
    v2, w2 = fl.eigh(SPD, subset_by_index=(1, 3))
    _close(w2, np.asarray(w)[1:3])
    assert v2.shape == (5, 2)
    lower_only = np.tril(SPD) + np.triu(rng.randn(5, 5), 1)
    _close(fl.eigh(lower_only, symmetrize_input=False)[1], np.linalg.eigvalsh(SPD))
    _close(fl.eigh(lower_only.T, symmetrize_input=False, lower=False)[1],
           np.linalg.eigvalsh(SPD))
    if jl is not None:
        with jax.enable_x64(True):
            jimpl = None if impl is None else jl.EighImplementation(impl.value)
            if jimpl in (None, jl.EighImplementation.QR):
                _close(w, jl.eigh(SPD, implementation=jimpl)[1])
            _close(fl.eigh(lower_only, symmetrize_input=False)[1],
                   jl.eigh(lower_only, symmetrize_input=False)[1])
    with pytest.raises(TypeError, match="EighImplementation"):
        fl.eigh(SPD, implementation="qr")
    g = ft.grad(lambda a: fl.eigh(a, subset_by_index=(4, 5))[1].sum())(SPD)
    _close(g, np.outer(np.linalg.eigh(SPD)[1][:, 4], np.linalg.eigh(SPD)[1][:, 4]), 1e-8)


def test_the_unread_triangle_is_ignored_even_where_not_finite():
    # eigh(symmetrize_input=False) reads one triangle and householder_product the part below
    # the diagonal, as LAPACK (and JAX) do: NaN and inf elsewhere must not leak in
    lower_only = np.tril(SPD) + np.triu(np.full((5, 5), np.nan), 1)
    h, taus = (np.asarray(o) for o in fl.geqrf(A[:, :3]))
    h_nan = np.where(np.triu(np.ones(h.shape, bool)), np.inf, h)

    def eigvals(m, lower):
        return fl.eigh(m, lower=lower, symmetrize_input=False)[1]
    for f in (eigvals, ft.jit(eigvals, static_argnums=1)):
        _close(f(lower_only, True), np.linalg.eigvalsh(SPD))
        _close(f(lower_only.T, False), np.linalg.eigvalsh(SPD))
    q = fl.householder_product(h, taus)
    _close(fl.householder_product(h_nan, taus), q)
    _close(ft.jit(fl.householder_product)(h_nan, taus), q)
    if jl is not None:
        with jax.enable_x64(True):
            _close(fl.householder_product(h_nan, taus), jl.householder_product(h_nan, taus))


@pytest.mark.parametrize("alg", [None] + list(fl.SvdAlgorithm))
def test_svd_keywords(alg):
    a = rng.randn(5, 3)
    s = fl.svd(a, compute_uv=False, algorithm=alg)
    _close(s, np.linalg.svd(a, compute_uv=False))
    u, s2, vh = fl.svd(a, full_matrices=False, subset_by_index=(0, 2))
    _close(s2, np.asarray(s)[:2])
    assert u.shape == (5, 2) and vh.shape == (2, 3)
    # JAX's CPU kernels implement neither subset_by_index nor the Jacobi and polar algorithms
    if jl is not None and alg not in (fl.SvdAlgorithm.JACOBI, fl.SvdAlgorithm.POLAR):
        with jax.enable_x64(True):
            _close(s, jl.svd(a, compute_uv=False, algorithm=None if alg is None else
                             jl.SvdAlgorithm(alg.value)))
    with pytest.raises(ValueError, match="full_matrices=False"):
        fl.svd(a, subset_by_index=(0, 2))
    with pytest.raises(TypeError, match="SvdAlgorithm"):
        fl.svd(a, algorithm="qr")


def test_enums_match_jax():
    if jl is None:
        pytest.skip("jax is not installed")
    for name in ("EigImplementation", "EighImplementation", "SvdAlgorithm"):
        ours = {m.name: m.value for m in getattr(fl, name)}
        assert ours == {m.name: m.value for m in getattr(jl, name)}
