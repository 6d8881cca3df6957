"""fnp.ufunc / fnp.frompyfunc (JAX's jnp.ufunc: __call__, reduce, accumulate, at, outer,
reduceat), fnp.fromfile and the NumPy type aliases of jax.numpy, against JAX and NumPy."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads


def _affine(x, y):
    return x * y + 1


def _pair(m, identity=1):
    return m.frompyfunc(_affine, 2, 1, identity=identity)


A = np.arange(1.0, 7.0, dtype=np.float32).reshape(2, 3)

CASES = [
    ("call", lambda u, m, a: u(a, 2.0)),
    ("reduce", lambda u, m, a: u.reduce(a)),
    ("reduce axis 1", lambda u, m, a: u.reduce(a, axis=1)),
    ("reduce all", lambda u, m, a: u.reduce(a, axis=None)),
    ("reduce keepdims", lambda u, m, a: u.reduce(a, axis=1, keepdims=True)),
    ("reduce initial", lambda u, m, a: u.reduce(a, axis=0, initial=2.0)),
    ("reduce where", lambda u, m, a: u.reduce(a, where=a > 2)),
    ("reduce where axis 1", lambda u, m, a: u.reduce(a, axis=1, where=a > 2)),
    ("reduce negative axis", lambda u, m, a: u.reduce(a, axis=-1)),
    ("accumulate", lambda u, m, a: u.accumulate(a)),
    ("accumulate axis 1", lambda u, m, a: u.accumulate(a, axis=1)),
    ("outer", lambda u, m, a: u.outer(a[0], a[1, :2])),
    ("at", lambda u, m, a: u.at(a, (0, m.array([0, 2, 0])), m.array([3.0, 4.0, 5.0]),
                                inplace=False)),
    ("at scalar b", lambda u, m, a: u.at(a.ravel(), m.array([0, 0, 2]), 3.0, inplace=False)),
    ("reduceat", lambda u, m, a: u.reduceat(m.arange(8.0), m.array([0, 4, 1, 5]))),
    ("reduceat axis 1", lambda u, m, a: u.reduceat(a, m.array([0, 2]), axis=1)),
]


@pytest.mark.parametrize("name,op", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("identity", [1, None])
def test_ufunc_methods_match_jax(name, op, identity):
    jax = pytest.importorskip("jax")
    if identity is None and "where" in name:
        pytest.skip("where= needs an identity (tested below)")
    want = op(_pair(jax.numpy, identity), jax.numpy, jax.numpy.asarray(A))
    got = op(_pair(fnp, identity), fnp, fnp.asarray(A))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got.shape == want.shape and got.dtype == want.dtype
    jitted = ft.jit(lambda a: op(_pair(fnp, identity), fnp, a))(fnp.asarray(A))
    np.testing.assert_allclose(jitted, want, rtol=1e-6)


def test_ufunc_attributes_and_unary_and_multiple_outputs():
    jax = pytest.importorskip("jax")
    u, ju = _pair(fnp), _pair(jax.numpy)
    assert (u.nin, u.nout, u.nargs, u.identity, u.__name__) == \
        (ju.nin, ju.nout, ju.nargs, ju.identity, ju.__name__)
    neg, jneg = fnp.frompyfunc(lambda x: -x, 1, 1), jax.numpy.frompyfunc(lambda x: -x, 1, 1)
    idx = np.array([1, 1, 3])
    np.testing.assert_array_equal(neg.at(fnp.arange(5.0), idx, inplace=False),
                                  jneg.at(jax.numpy.arange(5.0), idx, inplace=False))
    two = fnp.frompyfunc(lambda x: (x, x * 2), 1, 2)
    a, b = two(fnp.arange(3.0))
    np.testing.assert_array_equal(b, [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(a, [0.0, 1.0, 2.0])
    assert float(_pair(fnp).reduce(fnp.zeros((0,)))) == 1.0
    named = fnp.ufunc(_affine, 2, 1, name="affine", call=lambda x, y: x * y + 1)
    assert repr(named) == "<fnp.ufunc 'affine'>"
    np.testing.assert_array_equal(named(fnp.ones(3), 2.0), [3.0, 3.0, 3.0])


def test_ufunc_derivatives_and_vmap():
    u = _pair(fnp)
    x = fnp.asarray(np.array([[0.3, -0.5, 0.7], [1.1, 0.2, -0.4]]))
    check_grads(lambda a: u.reduce(a, axis=1), (x,), order=2)
    check_grads(lambda a: u.accumulate(a), (x,), order=1)
    check_grads(lambda a: u.at(a, (1, fnp.array([0, 0])), 2.0, inplace=False), (x,), order=1)
    check_grads(lambda a: u.reduceat(a, fnp.array([0, 2, 1]), axis=1), (x,), order=1)
    check_grads(lambda a: u.outer(a[0], a[1]), (x,), order=1)
    np.testing.assert_allclose(ft.vmap(lambda r: u.reduce(r))(x), u.reduce(x, axis=1),
                               rtol=1e-12)
    np.testing.assert_allclose(ft.vmap(lambda r: u.reduceat(r, fnp.array([0, 1])))(x),
                               u.reduceat(x, fnp.array([0, 1]), axis=1), rtol=1e-12)


def test_ufunc_errors():
    u, plain = _pair(fnp), _pair(fnp, None)
    a = fnp.asarray(A)
    with pytest.raises(NotImplementedError, match="inplace=False"):
        u.at(a, 0, 1.0)
    with pytest.raises(ValueError, match="needs an identity or initial"):
        plain.reduce(a, where=a > 2)
    with pytest.raises(ValueError, match="zero-size array"):
        plain.reduce(fnp.zeros((0,)))
    with pytest.raises(ValueError, match="only for ufuncs of two inputs and one output"):
        fnp.frompyfunc(lambda x: -x, 1, 1).reduce(a)
    with pytest.raises(ValueError, match="out of bounds"):
        u.reduce(a, axis=2)
    with pytest.raises(NotImplementedError, match="tuple of axes"):
        u.reduce(a, axis=(0, 1))
    with pytest.raises(IndexError, match="out of range"):
        u.reduceat(fnp.arange(4.0), fnp.array([0, 4]))
    with pytest.raises(ValueError, match="1-d integer"):
        u.reduceat(fnp.arange(4.0), fnp.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="takes 2 arguments, got 1"):
        u(a)
    with pytest.raises(ValueError, match="nin and nout"):
        fnp.ufunc(_affine, 0, 1)
    with pytest.raises(ValueError, match="needs one output and b"):
        u.at(a, 0, inplace=False)


def test_fromfile_reads_like_numpy(tmp_path):
    data = np.arange(10, dtype=np.int32)
    path = tmp_path / "data.bin"
    data.tofile(path)
    np.testing.assert_array_equal(fnp.fromfile(path, dtype=np.int32),
                                  np.fromfile(path, dtype=np.int32))
    got = fnp.fromfile(path, dtype=np.int32, count=3, offset=8)
    assert isinstance(got, ft.Array) and got.tolist() == [2, 3, 4]
    text = tmp_path / "data.txt"
    text.write_text("1.5, 2.5, 3.5")
    np.testing.assert_array_equal(fnp.fromfile(text, sep=","),
                                  np.fromfile(text, sep=","))
    with pytest.raises(FileNotFoundError):
        fnp.fromfile(tmp_path / "missing.bin")


def test_numpy_type_aliases_match_jax():
    jnp = pytest.importorskip("jax.numpy")
    for name in ("character", "flexible", "object_", "ComplexWarning"):
        assert getattr(fnp, name) is getattr(jnp, name)
    assert issubclass(fnp.ComplexWarning, RuntimeWarning)
    assert fnp.issubdtype(np.str_, fnp.character) and fnp.issubdtype(np.str_, fnp.flexible)
