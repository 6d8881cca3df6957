"""Complex values: `real`, `imag`, `conj`, `abs`, `angle` and `logsumexp` against NumPy and
SciPy; derivatives of many operations on complex values against finite differences, their
batching against a loop and jit against eager; derivatives of real functions through complex
intermediates (JAX's convention: a cotangent pairs with its value through
Re(sum(ct * value))), eagerly, under jit and under vmap."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.scipy.special import logsumexp
from functrans.test_util import check_grads

C128 = np.complex128


@pytest.fixture(autouse=True)
def float64_and_no_complex_warnings():
    old = ft.config.default_float_dtype
    ft.config.update("default_float_dtype", "float64")
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        yield
    ft.config.update("default_float_dtype", old)


def complex_arrays(n):
    parts = st.lists(st.floats(-3, 3), min_size=n, max_size=n)
    return st.tuples(parts, parts).map(lambda p: np.array(p[0]) + 1j * np.array(p[1]))


@settings(deadline=None)
@given(complex_arrays(5), st.sampled_from([np.complex64, np.complex128]))
def test_parts_match_numpy(z, dtype):
    z = z.astype(dtype)
    a = fnp.asarray(z)
    for ours, theirs in [(fnp.real(a), np.real(z)), (fnp.imag(a), np.imag(z)),
                         (fnp.conj(a), np.conj(z)), (fnp.abs(a), np.abs(z)),
                         (fnp.angle(a), np.angle(z)), (a.real, z.real), (a.imag, z.imag),
                         (a.conj(), z.conj()), (ft.jit(fnp.abs)(a), np.abs(z))]:
        assert ours.dtype == theirs.dtype
        np.testing.assert_allclose(np.asarray(ours), theirs, rtol=1e-6)


def test_real_arrays_are_their_own_real_part():
    x = fnp.asarray([1.0, -2.0])
    assert fnp.real(x) is x and fnp.conj(x) is x and x.real is x
    np.testing.assert_array_equal(np.asarray(fnp.imag(x)), [0.0, 0.0])
    with pytest.raises(TypeError, match="takes a complex array"):
        lax.real(x)


C = np.array([0.3 - 1.2j, 2 + 0.5j, -1 + 0.25j])


def through_complex(x):
    """A real function of real `x` that computes with complex intermediates."""
    z = x.astype(C128) * fnp.asarray(C) + 1j * x
    w = z * fnp.conj(z) + z * z
    return fnp.sum(fnp.real(w) * 2.0 + fnp.imag(w) ** 2 + fnp.abs(z + 0.5) ** 1.5
                   + fnp.angle(z))


def through_complex_numpy(x):
    z = x * C + 1j * x
    w = z * np.conj(z) + z * z
    return np.sum(np.real(w) * 2.0 + np.imag(w) ** 2 + np.abs(z + 0.5) ** 1.5 + np.angle(z))


@settings(deadline=None, max_examples=20)
@given(st.lists(st.floats(0.2, 2.0), min_size=3, max_size=3))
def test_derivatives_through_complex_values(values):
    x = fnp.asarray(np.array(values))
    np.testing.assert_allclose(float(through_complex(x)), through_complex_numpy(np.asarray(x)),
                               rtol=1e-12)
    check_grads(through_complex, (x,), order=2, modes=("fwd", "rev"))
    np.testing.assert_allclose(np.asarray(ft.jit(ft.grad(through_complex))(x)),
                               np.asarray(ft.grad(through_complex)(x)), rtol=1e-12)


def test_gradient_with_respect_to_a_complex_input_follows_jax():
    z = fnp.asarray(np.array([1 + 2j, -0.5 + 0.1j]))
    g = ft.grad(lambda z: fnp.sum(fnp.abs(z) ** 2))(z)       # JAX gives 2 * conj(z)
    np.testing.assert_allclose(np.asarray(g), 2 * np.conj(np.asarray(z)), rtol=1e-12)


def test_abs_at_zero_has_zero_derivative():
    g = ft.grad(lambda x: fnp.sum(fnp.abs(x.astype(C128) * 0.0)))(fnp.asarray([1.0, -2.0]))
    np.testing.assert_array_equal(np.asarray(g), [0.0, 0.0])


def test_batching_matches_a_loop():
    zs = np.array([[1 + 2j, -3 + 0.5j], [0.25 - 1j, 2 + 2j], [0j, -1 - 1j]])
    for fn in (fnp.real, fnp.imag, fnp.conj, fnp.abs, fnp.angle):
        got = ft.vmap(fn)(fnp.asarray(zs))
        want = np.stack([np.asarray(fn(fnp.asarray(z))) for z in zs])
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)
        got = ft.vmap(fn, in_axes=1, out_axes=1)(fnp.asarray(zs))
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)


_M = np.array([[0.5 - 1j, 2.0, 0.25j], [1j, -1.0, 0.5], [0.3, 0.2 + 0.1j, 1.5]])
_EYE3 = 3 * np.eye(3)

COMPLEX_FUNCTIONS = {
    **{name: getattr(fnp, name) for name in (
        "exp", "exp2", "expm1", "log", "log1p", "log2", "log10", "sqrt", "square",
        "reciprocal", "sin", "cos", "tan", "sinh", "cosh", "tanh", "arcsin", "arccos",
        "arctan", "arcsinh", "arccosh", "arctanh", "abs", "conj", "sign", "real", "imag",
        "angle")},
    "logistic": lambda z: ft.lax.logistic(z) + ft.nn.silu(z),
    "power": lambda z: z ** 3 + z ** (0.5 + 0.3j) + z ** z,
    "divide": lambda z: (z + 2) / (z * z + 1),
    "matmul": lambda z: fnp.asarray(_M) @ z,
    "einsum": lambda z: fnp.einsum("ij,jk->ik", z, z),
    "reductions": lambda z: fnp.sum(z * z, axis=0) + fnp.prod(z, axis=1) + fnp.mean(z),
    "cumsum": fnp.cumsum,
    "indexing": lambda z: z[1:, ::-1] * z[0] + z.T[:2],
    "where": lambda z: fnp.where(fnp.real(z) > 0.6, z * z, z),
    "concatenate": lambda z: fnp.concatenate([z, fnp.outer(z[0], z[1])]),
    "inv": lambda z: fnp.linalg.inv(z + _EYE3),
    "det": lambda z: fnp.linalg.det(z + _EYE3),
    "solve": lambda z: fnp.linalg.solve(z + _EYE3, z[0]),
    "logsumexp": lambda z: logsumexp(z, axis=1),
    "pinv": fnp.linalg.pinv,
    "slogdet": lambda z: fnp.linalg.slogdet(z + _EYE3)[1] + fnp.linalg.slogdet(z + _EYE3)[0],
    "matrix_power": lambda z: fnp.linalg.matrix_power(z + _EYE3, -2),
    "norm": lambda z: fnp.linalg.norm(z) + fnp.linalg.vector_norm(z, axis=0),
    "cross_and_multi_dot": lambda z: fnp.linalg.cross(z[0], z[1]) + fnp.linalg.multi_dot(
        [z, z, z])[0],
    "cholesky": lambda z: fnp.linalg.cholesky(z @ fnp.conj(z).T + _EYE3),
    "eigvalsh": lambda z: fnp.linalg.eigvalsh(z + _EYE3),
    # eigenvectors have a free phase each: differentiate phase-invariant functions of them
    "eigh": lambda z: (lambda w, v: (v * fnp.sin(w).astype(v.dtype)[None, :]) @ fnp.conj(v).T
                       + fnp.abs(v) ** 2)(*fnp.linalg.eigh(z @ fnp.conj(z).T + _EYE3)),
}


@pytest.mark.parametrize("name", sorted(COMPLEX_FUNCTIONS))
def test_complex_derivatives_match_finite_differences(name):
    """g on z = x + iy, seen as a real function of (x, y): forward and reverse derivatives of
    orders 1 and 2 against central differences, whatever the convention."""
    g = COMPLEX_FUNCTIONS[name]

    def f(x, y):
        w = g(x.astype(C128) + 1j * y)
        return fnp.sum(fnp.real(w) ** 2 * 0.5 + fnp.imag(w) * 0.7) if \
            fnp.iscomplexobj(w) else fnp.sum(w ** 2 * 0.5)
    rng = np.random.default_rng(sorted(COMPLEX_FUNCTIONS).index(name))
    x, y = rng.uniform(0.3, 0.9, (3, 3)), rng.uniform(0.1, 0.5, (3, 3))
    check_grads(f, (fnp.asarray(x), fnp.asarray(y)), order=2, modes=("fwd", "rev"))


def test_complex_sign_has_the_derivative_of_z_over_abs_z():
    z = fnp.asarray(np.array([0j, 1 + 1j, -2 + 0j]))
    # d Re(z/|z|) = (y^2 dx - x y dy) / |z|^3; JAX's convention: grad = d/dx - i d/dy
    got = ft.grad(lambda z: fnp.real(fnp.sum(fnp.sign(z))))(z)
    np.testing.assert_allclose(np.asarray(got), [0, (1 + 1j) / 8 ** 0.5, 0], atol=1e-15)
    assert float(ft.grad(lambda x: fnp.sum(fnp.sign(x)))(fnp.asarray([2.0]))[0]) == 0.0


def test_complex_logsumexp_matches_scipy():
    sp = pytest.importorskip("scipy.special")
    a = np.array([[0.5 + 0.2j, 0.1 - 0.3j, 1 + 1j], [3 + 3j, -1 + 0j, 2 - 2j]])
    b = np.array([[1, -2, 0.5], [1, 1, -1]])
    for kw in (dict(axis=1), dict(axis=None), dict(axis=1, b=b), dict(axis=0, return_sign=True),
               dict(axis=1, b=b, return_sign=True)):
        ours = logsumexp(fnp.asarray(a), **{k: fnp.asarray(v) if k == "b" else v
                                            for k, v in kw.items()})
        theirs = sp.logsumexp(a, **kw)
        for o, t in zip(ft.tree_leaves(ours), theirs if isinstance(theirs, tuple) else [theirs]):
            np.testing.assert_allclose(np.asarray(o), t, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(COMPLEX_FUNCTIONS))
def test_complex_jit_matches_eager(name):
    g = COMPLEX_FUNCTIONS[name]
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0.3, 0.9, (3, 3)), rng.uniform(0.1, 0.5, (3, 3))
    z = fnp.asarray(x + 1j * y)
    np.testing.assert_allclose(np.asarray(ft.jit(g)(z)), np.asarray(g(z)), rtol=1e-12,
                               atol=1e-14)

    def f(x, y):
        return fnp.sum(fnp.abs(g(x.astype(C128) + 1j * y)) ** 2)
    for a, b in zip(ft.jit(ft.grad(f, argnums=(0, 1)))(fnp.asarray(x), fnp.asarray(y)),
                    ft.grad(f, argnums=(0, 1))(fnp.asarray(x), fnp.asarray(y))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(COMPLEX_FUNCTIONS))
def test_complex_batching_matches_a_loop(name):
    g = COMPLEX_FUNCTIONS[name]
    rng = np.random.default_rng(0)
    zs = rng.uniform(0.3, 0.9, (4, 3, 3)) + 1j * rng.uniform(0.1, 0.5, (4, 3, 3))
    want = np.stack([np.asarray(g(fnp.asarray(z))) for z in zs])
    for axis in (0, 2):
        got = ft.vmap(g, in_axes=axis)(fnp.asarray(np.moveaxis(zs, 0, axis)))
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10, atol=1e-12)


_Z = np.array([[1.0 + 0.5j, 0.2 - 1j, 0.3], [0.1j, -0.7 + 0.2j, 1.1], [0.4, 0.9 - 0.3j, -0.2j],
               [0.6 + 0.6j, 0.0, 0.5 - 0.5j]])
_HERM = _Z.conj().T @ _Z + np.eye(3)
_L = fnp.linalg


@pytest.mark.parametrize("name,ours,numpys,a", [
    ("cholesky", _L.cholesky, np.linalg.cholesky, _HERM),
    ("cholesky upper", lambda m: _L.cholesky(m, upper=True),
     lambda m: np.linalg.cholesky(m, upper=True), _HERM),
    ("qr", lambda m: _L.qr(m)[0] @ _L.qr(m)[1], lambda m: m, _Z),
    ("eigvalsh", _L.eigvalsh, np.linalg.eigvalsh, _HERM),
    ("eigvalsh of the upper triangle", lambda m: _L.eigvalsh(m, UPLO="U",
                                                             symmetrize_input=False),
     lambda m: np.linalg.eigvalsh(m, UPLO="U"), _Z[:3]),
    ("eigh", lambda m: (lambda w, v: (v * w[None, :]) @ fnp.conj(v).T)(*_L.eigh(m)),
     lambda m: m, _HERM),
    ("svd", lambda m: (lambda u, s, vh: (u * s.astype(m.dtype)[None, :]) @ vh)(
        *_L.svd(m, full_matrices=False)), lambda m: m, _Z),
    ("svdvals", _L.svdvals, lambda m: np.linalg.svd(m, compute_uv=False), _Z),
    ("pinv", _L.pinv, np.linalg.pinv, _Z),
    ("lstsq", lambda m: _L.lstsq(m, m[:, 0])[0],
     lambda m: np.linalg.lstsq(m, m[:, 0], rcond=None)[0], _Z),
    ("2-norm", lambda m: _L.norm(m, 2), lambda m: np.linalg.norm(m, 2), _Z),
    ("cond", _L.cond, np.linalg.cond, _Z[:3]),
    ("matrix_rank", _L.matrix_rank, np.linalg.matrix_rank, _Z),
])
def test_complex_decompositions_match_numpy(name, ours, numpys, a):
    want = numpys(a)
    for fn in (ours, ft.jit(ours)):
        np.testing.assert_allclose(np.asarray(fn(fnp.asarray(a))), want, rtol=1e-10,
                                   atol=1e-12)
    batch = np.stack([a, 2 * a])
    np.testing.assert_allclose(np.asarray(ft.vmap(ours)(fnp.asarray(batch))),
                               np.stack([numpys(a), numpys(2 * a)]), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fn", [lambda m: _L.svdvals(m), lambda m: _L.norm(m, 2),
                                lambda m: _L.norm(m, "nuc"), lambda m: _L.cond(m),
                                lambda m: _L.svdvals(m[:2])])
def test_complex_singular_values_have_first_derivatives(fn):
    def f(x, y):
        return fnp.sum(fn(x.astype(C128) + 1j * y) ** 2)
    check_grads(f, (fnp.asarray(_HERM.real), fnp.asarray(_Z[:3].imag)), order=1,
                modes=("fwd", "rev"))


@pytest.mark.parametrize("fn", [lambda m: _L.svd(m)[0],
                                lambda m: ft.grad(lambda m: fnp.sum(_L.svdvals(m)))(m)])
def test_complex_decomposition_derivatives_raise_instead_of_being_wrong(fn):
    with pytest.raises(NotImplementedError, match="real matrices only.*complex128"):
        ft.grad(lambda m: fnp.sum(fnp.abs(fn(m))))(fnp.asarray(_HERM))


@pytest.mark.parametrize("name,args", [
    ("var", (_Z,)), ("std", (_Z,)), ("median", (_Z,)), ("vdot", (_Z, _Z)),
    ("cov", (_Z,)), ("corrcoef", (_Z,)), ("correlate", (_Z[0], _Z[1])),
    ("iscomplex", (_Z,)), ("isreal", (_Z,)), ("nanvar", (_Z,)), ("sort", (_Z,)),
])
def test_complex_statistics_match_numpy(name, args):
    """Functions whose complex forms conjugate, take magnitudes or look at the imaginary
    part (each of these was wrong or refused before)."""
    want = getattr(np, name)(*args)
    got = getattr(fnp, name)(*[fnp.asarray(a) for a in args])
    assert np.asarray(got).dtype == want.dtype
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12)
