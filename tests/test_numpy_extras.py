"""NumPy functions jax.numpy also offers (`functrans/numpy/_numpy_extras.py`): against NumPy
(and JAX where installed), under jit, with derivatives, and the errors for in-place calls."""
import io

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

rng = np.random.default_rng(17)


def _numpy_in_place(fn, a, *args, **kwargs):
    a = np.array(a)
    fn(a, *args, **kwargs)
    return a


@pytest.mark.parametrize("shape,val,wrap", [((4, 4), 3.0, False), ((5, 3), [1.0, 2.0], False),
                                            ((5, 3), [1.0, 2.0], True), ((3, 5), 7.0, False),
                                            ((3, 3, 3), [1.0, 2.0], False)])
def test_fill_diagonal_matches_numpy(shape, val, wrap):
    a = rng.standard_normal(shape)
    got = fnp.fill_diagonal(a, val, wrap=wrap, inplace=False)
    np.testing.assert_array_equal(got, _numpy_in_place(np.fill_diagonal, a, val, wrap=wrap))
    jitted = ft.jit(lambda a: fnp.fill_diagonal(a, val, wrap=wrap, inplace=False))(a)
    np.testing.assert_array_equal(jitted, got)


@pytest.mark.parametrize("mode", [None, "clip", "wrap"])
def test_put_matches_numpy_for_indices_in_bounds_and_jax_beyond(mode):
    a = rng.standard_normal((3, 4))
    ind, v = np.array([0, 5, -1, 5]), np.array([10.0, 20.0, 30.0])
    want = _numpy_in_place(np.put, a, ind, v, mode=mode or "raise")
    np.testing.assert_array_equal(fnp.put(a, ind, v, mode=mode, inplace=False), want)
    far = np.array([1, 40])
    got = ft.jit(lambda a, i: fnp.put(a, i, np.array([7.0, 8.0]), mode=mode, inplace=False))(
        a, far)
    expected = a.ravel().copy()
    expected[1] = 7.0
    if mode == "clip":
        expected[-1] = 8.0
    elif mode == "wrap":
        expected[40 % 12] = 8.0
    np.testing.assert_array_equal(np.asarray(got).ravel(), expected)
    with pytest.raises(IndexError, match="out of bounds"):
        fnp.put(a, far, 1.0, mode="raise", inplace=False)


def test_in_place_calls_say_what_to_do():
    for call in (lambda: fnp.fill_diagonal(np.zeros((2, 2)), 1.0),
                 lambda: fnp.put(np.zeros(3), [0], 1.0)):
        with pytest.raises(ValueError, match="inplace=False"):
            call()


def test_piecewise_matches_numpy_and_differentiates():
    x = np.linspace(-3, 3, 13)
    conds = [x < -1, x > 1]
    funcs = [lambda v, s: -v, lambda v, s: v ** 2 * s, lambda v, s: s * v]
    got = fnp.piecewise(x, conds, funcs, 0.5)
    np.testing.assert_allclose(got, np.piecewise(x, conds, funcs, 0.5), rtol=1e-15)
    ints = np.arange(-3, 4)
    np.testing.assert_array_equal(fnp.piecewise(ints, [ints < 0], [lambda v: -v * 2.5, 1]),
                                  np.piecewise(ints, [ints < 0], [lambda v: -v * 2.5, 1]))
    np.testing.assert_array_equal(fnp.piecewise(x, [x > 0], [2.0]), np.piecewise(x, [x > 0],
                                                                                 [2.0]))

    def f(x):
        return fnp.sum(fnp.piecewise(x, [x < -1, x > 1], [fnp.sin, fnp.exp, fnp.cos]))
    check_grads(f, (np.array([-2.0, -0.5, 0.3, 1.7]),), order=2, modes=("fwd", "rev"))
    np.testing.assert_allclose(ft.jit(f)(x), f(x), rtol=1e-14)


def test_polynomials_match_numpy_and_differentiate():
    r = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(fnp.poly(r), np.poly(r), rtol=1e-14)
    m = rng.standard_normal((3, 3))
    np.testing.assert_allclose(np.real(fnp.poly(m)), np.poly(m), rtol=1e-10, atol=1e-12)
    u, v = np.array([1.0, 3.0, 5.0, 7.0]), np.array([2.0, 1.0])
    q, rem = fnp.polydiv(u, v)
    nq, nr = np.polydiv(u, v)
    np.testing.assert_allclose(q, nq, rtol=1e-14)
    np.testing.assert_allclose(rem[-1:], nr, rtol=1e-14)
    np.testing.assert_allclose(fnp.polydiv(u, v, trim_leading_zeros=True)[1], nr, rtol=1e-14)
    p = np.array([0.0, 2.0, -3.0, -11.0, 6.0, 0.0])
    np.testing.assert_allclose(np.sort_complex(np.asarray(fnp.roots(p))),
                               np.sort_complex(np.roots(p).astype(complex)), atol=1e-12)
    check_grads(lambda r: fnp.poly(r), (r,), order=2, modes=("fwd", "rev"))
    check_grads(lambda u, v: fnp.polydiv(u, v)[0], (u, v), order=2, modes=("fwd", "rev"))
    with pytest.raises(ValueError, match="strip_zeros=False"):
        ft.jit(lambda p: fnp.roots(p))(p)


@pytest.mark.parametrize("bitorder", ["big", "little"])
def test_packbits_and_unpackbits_match_numpy(bitorder):
    bits = rng.integers(0, 2, (3, 11)).astype(np.uint8)
    for axis in (None, 0, 1):
        np.testing.assert_array_equal(fnp.packbits(bits, axis=axis, bitorder=bitorder),
                                      np.packbits(bits, axis=axis, bitorder=bitorder))
    packed = rng.integers(0, 256, (2, 3)).astype(np.uint8)
    for axis, count in ((None, None), (1, 5), (0, -3), (None, 50)):
        np.testing.assert_array_equal(
            fnp.unpackbits(packed, axis=axis, count=count, bitorder=bitorder),
            np.unpackbits(packed, axis=axis, count=count, bitorder=bitorder))
    np.testing.assert_array_equal(ft.jit(lambda b: fnp.packbits(b, axis=1))(bits),
                                  np.packbits(bits, axis=1))


def test_mask_indices_and_host_helpers():
    for got, want in zip(fnp.mask_indices(4, fnp.triu, 1), np.mask_indices(4, np.triu, 1)):
        np.testing.assert_array_equal(got, want)
    buf = io.BytesIO()
    fnp.save(buf, fnp.arange(5.0))
    buf.seek(0)
    loaded = fnp.load(buf)
    assert isinstance(loaded, fnp.ndarray)
    np.testing.assert_array_equal(loaded, np.arange(5.0))
    np.testing.assert_array_equal(fnp.frombuffer(np.arange(3, dtype=np.int16).tobytes(),
                                                 np.int16), [0, 1, 2])
    np.testing.assert_array_equal(fnp.fromiter(range(4), np.int32), np.arange(4))
    np.testing.assert_array_equal(fnp.fromstring("1 2 3", sep=" "), [1.0, 2.0, 3.0])
    assert fnp.array_repr(fnp.ones(2)).startswith("Array([1., 1.]")
    assert fnp.iterable(fnp.ones(2)) and not fnp.iterable(3)
    path, report = fnp.einsum_path("ij,jk,kl->il", fnp.ones((2, 30)), fnp.ones((30, 4)),
                                   fnp.ones((4, 5)))
    assert path[0] == "einsum_path" and "Optimized" in report
    with fnp.printoptions(precision=2):
        assert fnp.get_printoptions()["precision"] == 2


def test_poly_and_piecewise_match_jax():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    prev = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        m = rng.standard_normal((4, 4))
        np.testing.assert_allclose(fnp.poly(m), jnp.poly(jnp.asarray(m)), rtol=1e-10,
                                   atol=1e-12)
        x = np.linspace(-2, 2, 9)
        conds = [x < 0, x > 1]
        funcs = [lambda v: -v, 3.0, lambda v: v * 2]
        np.testing.assert_allclose(fnp.piecewise(x, conds, funcs),
                                   jnp.piecewise(jnp.asarray(x), [jnp.asarray(c) for c in conds],
                                                 funcs), rtol=1e-15)
        u, v = np.array([1.0, 3.0, 5.0, 7.0]), np.array([2.0, 1.0])
        for got, want in zip(fnp.polydiv(u, v), jnp.polydiv(jnp.asarray(u), jnp.asarray(v))):
            np.testing.assert_allclose(got, want, rtol=1e-14)
    finally:
        jax.config.update("jax_enable_x64", prev)


@pytest.mark.parametrize("kwargs", [dict(bins=5), dict(bins=(3, 4), range=[(-2, 2), (-1, 3)]),
                                    dict(bins=np.linspace(-3, 3, 7)),
                                    dict(bins=[np.linspace(-2, 2, 5), np.array([-3.0, 0.0, 3.0])],
                                         weights=True),
                                    dict(bins=4, density=True)])
def test_histogram2d_and_dd_match_numpy(kwargs):
    x, y, z = rng.standard_normal((3, 200))
    if kwargs.get("weights") is True:
        kwargs = dict(kwargs, weights=rng.random(200))
    for got, want in zip(fnp.histogram2d(x, y, **kwargs), np.histogram2d(x, y, **kwargs)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    points = np.stack([x, y, z], 1)
    got, got_edges = fnp.histogramdd(points, bins=(2, 3, 4), density=kwargs.get("density"))
    want, want_edges = np.histogramdd(points, bins=(2, 3, 4), density=kwargs.get("density"))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    for g, w in zip(got_edges, want_edges):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_histogram2d_under_jit_with_a_range():
    x, y = rng.standard_normal((2, 100))
    f = ft.jit(lambda x, y: fnp.histogram2d(x, y, bins=4, range=[(-2, 2), (-2, 2)])[0])
    np.testing.assert_array_equal(f(x, y), np.histogram2d(x, y, bins=4,
                                                          range=[(-2, 2), (-2, 2)])[0])
    with pytest.raises(ValueError, match="sample must be"):
        fnp.histogramdd(np.zeros((2, 3, 4)))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_histograms_under_jit_without_a_range_match_eager(dtype):
    """Without range= the bins span the traced data's extent (they needed concrete data);
    edges and counts equal the eager ones, and NumPy's for float data; constant data gets
    NumPy's widened bins."""
    for data in (rng.standard_normal(300) * 3, np.full(7, 2.0), np.arange(40.0)):
        x = fnp.asarray(data.astype(dtype))
        jitted = ft.jit(lambda x: fnp.histogram(x, bins=7))(x)
        eager = fnp.histogram(x, bins=7)
        for got, want in zip(jitted, eager):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
        want = np.histogram(np.asarray(x), bins=7)
        np.testing.assert_array_equal(jitted[0], want[0])
        if dtype != "int32":            # (edges of integers: the default float dtype here)
            np.testing.assert_array_equal(jitted[1], want[1])
    x, y = fnp.asarray(rng.standard_normal((2, 100)).astype(dtype))
    for got, want in zip(ft.jit(lambda x, y: fnp.histogram2d(x, y, bins=4))(x, y),
                         fnp.histogram2d(x, y, bins=4)):
        np.testing.assert_array_equal(got, want)


def test_histogram_density_keeps_float64():
    """A density of float64 data is float64, equal to NumPy's (it came back float32)."""
    x = rng.standard_normal(100)
    got, _ = fnp.histogram(x, 5, density=True)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, np.histogram(x, 5, density=True)[0], rtol=1e-13)


def test_polynomials_of_no_coefficients_or_roots_follow_numpy():
    """poly of no roots is 1.0 (0-d), a constant's derivative is empty and an empty
    polynomial multiplies as zero (these gave [1.], [0.] and an error)."""
    empty, const = np.array([]), np.array([3.0])
    for got, want in [(fnp.poly(empty), np.poly(empty)), (fnp.polyder(const), np.polyder(const)),
                      (fnp.polyder(empty), np.polyder(empty)),
                      (fnp.polyder(np.array([1, 2, 3]), 5), np.polyder(np.array([1, 2, 3]), 5)),
                      (fnp.polymul(empty, np.array([1.0, 2.0])),
                       np.polymul(empty, np.array([1.0, 2.0])))]:
        assert got.shape == np.shape(want) and got.dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(got, want)


def test_float32_stays_float32_with_float64_the_default():
    """With float64 the default float dtype, Python-number spacings and points stayed weak
    nowhere: gradient, polyval and polyint of float32 data came back float64."""
    x = np.array([1.0, 2.0, 4.0, 7.0], np.float32)
    with ft.enable_x64():
        for got, want in [(fnp.gradient(x), np.gradient(x)), (fnp.gradient(x, 0.5),
                                                              np.gradient(x, 0.5)),
                          (fnp.gradient(x, edge_order=2), np.gradient(x, edge_order=2)),
                          (fnp.polyval(x, 2.0), np.float32(np.polyval(x, 2.0))),
                          (fnp.polyint(x), np.polyint(x).astype(np.float32))]:
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, want, rtol=1e-6)
        assert fnp.gradient(x.astype(np.float64)).dtype == np.float64
        assert fnp.polyval(np.array([1, 2]), 3).dtype == np.int64
