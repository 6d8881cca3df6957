"""spence, dawsn, fresnel, sici, hyp1f1, hyp2f1, owens_t, bessel_jn, wofz and sph_harm_y of
functrans.scipy.special, and scipy.stats.poisson.entropy: values against scipy.special in
float64 and float32 (eager and under jit), derivatives against finite differences (and JAX's
for the complex ones), jit, vmap, errors, and on the stand-in GPU."""
import numpy as np
import pytest
import scipy.special as sp
import scipy.stats

import functrans as ft
import functrans.scipy.special as fs
from functrans.scipy.stats import poisson
from functrans.primitives import special_more
from functrans.test_util import check_grads

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

X = np.concatenate([-np.logspace(-3, 2.5, 9), [-0.0, 0.0, 1.0], np.logspace(-4, 2.5, 15),
                    [1e10, np.inf, -np.inf, np.nan]])


def _ulps(got, want, dtype):
    """The largest distance of `got` from SciPy's float64 `want` rounded to `dtype`, in units
    in the last place of that rounded value (NaNs and infinities must agree exactly)."""
    got = np.asarray(got)
    assert got.dtype == dtype
    want = np.asarray(want).astype(dtype)
    parts = (got.real, want.real), (got.imag, want.imag)
    worst = 0.0
    for g, w in parts if got.dtype.kind == "c" else parts[:1]:
        np.testing.assert_array_equal(np.isfinite(g), np.isfinite(w))
        fin = np.isfinite(w)
        np.testing.assert_array_equal(g[~fin], w[~fin])
        if fin.any():
            gap = np.abs(g[fin] - w[fin]) / np.spacing(np.abs(w[fin]))
            worst = max(worst, float(np.max(gap)))
    return worst


def _wide(args):
    """The (rounded) arguments in float64, for SciPy's reference values."""
    return [np.asarray(a, np.float64) for a in args]


def _both(f, *args):
    """f(*args) eagerly and under jit (equal), as NumPy."""
    eager, jitted = f(*args), ft.jit(f)(*args)
    for a, b in zip(eager if isinstance(eager, tuple) else (eager,),
                    jitted if isinstance(jitted, tuple) else (jitted,)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    return eager


# SciPy computes in float64 for float32 input too: the float32 values are its float64 ones
# rounded, exactly; the composite sph_harm_y stays within 2 ulps
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["spence", "dawsn", "fresnel", "sici"])
def test_unary_functions_match_scipy(name, dtype):
    x = X.astype(dtype)
    got = _both(getattr(fs, name), x)
    want = getattr(sp, name)(x.astype(np.float64))
    for g, w in zip(got, want) if isinstance(got, tuple) else ((got, want),):
        assert _ulps(g, w, dtype) == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_hypergeometric_functions_match_scipy(dtype):
    a = np.array([-2.0, -0.5, 0.0, 0.5, 1.0, 3.7, 12.0])[:, None, None]
    b = np.array([-1.5, 0.5, 1.0, 2.5, 10.0])[None, :, None]
    x = np.array([-60.0, -5.0, -0.3, 0.0, 0.4, 2.0, 30.0, 700.0, np.nan])
    args = [v.astype(dtype) for v in (a, b, x)]
    assert _ulps(_both(fs.hyp1f1, *args), sp.hyp1f1(*_wide(args)), dtype) == 0
    # SciPy hangs at x = inf (and slows beyond 1e9): x is clipped to 1e8, where 1F1 overflows
    big = np.array([1e9, 1e300, np.inf], dtype)
    np.testing.assert_array_equal(np.asarray(fs.hyp1f1(dtype(0.5), dtype(2.5), big)), np.inf)
    c = np.array([-2.5, 0.5, 1.0, 4.0])[:, None, None]
    x = np.array([-5.0, -0.9, -0.2, 0.0, 0.3, 0.75, 0.99, 1.0, np.nan])
    a, b = a[:, None], b[:, None]
    args = [v.astype(dtype) for v in (a, b, c, x)]
    assert _ulps(_both(fs.hyp2f1, *args), sp.hyp2f1(*_wide(args)), dtype) == 0
    assert fs.hyp2f1(1, 2, 3, 0.5).dtype == ft.dtypes.default_float_dtype()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_owens_t_matches_scipy(dtype):
    h = np.array([-np.inf, -3.0, -0.5, 0.0, 0.2, 1.0, 4.0, 40.0, np.inf, np.nan])[:, None]
    a = np.array([-np.inf, -2.0, -1.0, -0.1, 0.0, 0.5, 1.0, 7.0, 1e5, np.inf, np.nan])
    args = h.astype(dtype), a.astype(dtype)
    assert _ulps(_both(fs.owens_t, *args), sp.owens_t(*_wide(args)), dtype) == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bessel_jn_matches_scipy(dtype):
    z = np.array([[-30.0, -2.5, -0.0, 0.0, 1e-3], [0.7, 5.0, 40.0, 1e3, np.nan]]).astype(dtype)
    got = _both(lambda v: fs.bessel_jn(v, v=6), z)
    assert got.shape == (7, 2, 5)
    assert _ulps(got, sp.jv(np.arange(7)[:, None, None], *_wide([z])), dtype) == 0
    assert fs.bessel_jn(np.float32(2.0), v=0, n_iter=10).shape == (1,)


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_wofz_matches_scipy(dtype):
    re = np.array([-np.inf, -30.0, -2.0, -0.1, 0.0, 0.5, 3.0, 1e4, np.inf])
    im = np.array([-6.0, -1.0, -0.0, 0.0, 0.2, 4.0, 1e3])[:, None]
    z = (re + 1j * im).astype(dtype)
    assert _ulps(_both(fs.wofz, z), sp.wofz(z.astype(np.complex128)), dtype) == 0
    real = np.array([0.0, 1.5, -7.0], dtype().real.dtype)
    assert _ulps(fs.wofz(real), sp.wofz(real.astype(np.float64)), dtype) == 0
    assert fs.wofz(2).dtype == np.result_type(ft.dtypes.default_float_dtype(), np.complex64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sph_harm_y_matches_scipy(dtype):
    n = np.array([0, 1, 2, 3, 5, 8, 2])[:, None]
    m = np.array([0, 1, -1, 2, -3, 4, 3])[:, None]          # the last |m| > n: 0
    theta = np.array([0.0, 0.3, 1.0, np.pi / 2, 2.9, np.pi])
    phi = np.array([0.0, 0.4, 1.7, 3.1, 5.0, 2 * np.pi])
    got = _both(fs.sph_harm_y, n, m, theta.astype(dtype), phi.astype(dtype))
    complex_dtype = np.result_type(dtype, np.complex64)
    want = sp.sph_harm_y(n, m, theta, phi)
    # float32: L(theta) and exp(i m phi) rounded apart, then multiplied (measured: <= 3 ulps,
    # relative to the larger part)
    got = np.asarray(got)
    assert got.dtype == complex_dtype
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(got, want, rtol=2 * eps, atol=2 * eps)
    clipped = fs.sph_harm_y(np.array([5, 2]), np.array([1, 1]), 0.7, 0.2, n_max=3)
    np.testing.assert_allclose(np.asarray(clipped), sp.sph_harm_y([3, 2], 1, 0.7, 0.2),
                               rtol=1e-6)


def test_derivatives_against_finite_differences():
    x = np.array([0.2, 0.9, 1.7, 3.5])
    check_grads(fs.spence, (x,), order=2)
    check_grads(fs.spence, (np.array([1.0]),), order=2)           # the Taylor branch
    check_grads(fs.dawsn, (x - 2.0,), order=2)
    for i in (0, 1):
        check_grads(lambda v: fs.fresnel(v)[i], (x - 1.5,), order=2)
        check_grads(lambda v: fs.sici(v)[i], (x - 1.5,), order=2)
    check_grads(lambda v: fs.sici(v)[0], (np.array([0.0]),), order=2)
    check_grads(lambda v: fs.hyp1f1(1.3, 2.2, v), (np.array([-8.0, -0.5, 0.4, 6.0]),), order=2)
    check_grads(lambda v: fs.hyp2f1(0.3, 1.2, 2.5, v), (np.array([-3.0, -0.4, 0.3, 0.8]),),
                order=2)
    check_grads(fs.owens_t, (np.array([-1.5, 0.0, 0.4, 2.0]), np.array([0.3, -2.0, 1.0, 5.0])),
                order=2)
    check_grads(lambda v: fs.bessel_jn(v, v=4), (np.array([-3.0, 0.0, 0.5, 12.0]),), order=2)
    n, m = np.array([3, 2, 4, 1, 5]), np.array([1, -2, 0, 1, 5])
    theta, phi = np.array([0.05, 0.4, 1.3, 2.0, 3.0]), np.array([0.1, 2.0, 0.7, 4.0, 1.1])
    for part in (np.real, np.imag):
        check_grads(lambda t, p: part(fs.sph_harm_y(n, m, t, p)), (theta, phi), order=2)
    check_grads(poisson.entropy, (np.array([0.05, 1.0, 7.5, 99.0, 101.0, 3e3]),), order=2)


def test_wofz_derivative():
    z = np.array([0.3 + 0.5j, -1.2 + 0.1j, 2.0 - 0.7j, 0.0j])
    t = np.array([1 + 0.5j, -0.3j, 0.7, 1.0])
    h = 1e-6
    fd = (np.asarray(fs.wofz(z + h * t)) - np.asarray(fs.wofz(z - h * t))) / (2 * h)
    _, got = ft.jvp(fs.wofz, (z,), (t,))
    np.testing.assert_allclose(np.asarray(got), fd, rtol=1e-8)
    # second order: d/dz (w') = -2 w - 2 z w'
    w, dw = sp.wofz(z), -2 * z * sp.wofz(z) + 2j / np.sqrt(np.pi)
    _, second = ft.jvp(lambda v: ft.jvp(fs.wofz, (v,), (t,))[1], (z,), (t,))
    np.testing.assert_allclose(np.asarray(second), (-2 * w - 2 * z * dw) * t * t, rtol=1e-12)


def test_complex_derivatives_match_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    z = np.array([0.3 + 0.5j, -1.2 + 0.1j, 2.0 - 0.7j])
    ct = np.array([0.4 - 1j, 1.0, 0.2 + 0.3j])
    np.testing.assert_allclose(np.asarray(ft.vjp(fs.wofz, z)[1](ct)[0]),
                               np.asarray(jax.vjp(jax.scipy.special.wofz, z)[1](ct)[0]),
                               rtol=1e-12)
    n, m = np.array([3, 2]), np.array([1, -2])
    theta, phi = np.array([0.4, 1.1]), np.array([0.3, 2.0])
    got = ft.vjp(lambda a, b: fs.sph_harm_y(n, m, a, b), theta, phi)[1](ct[:2])
    want = jax.vjp(lambda a, b: jax.scipy.special.sph_harm_y(n, m, a, b, n_max=3),
                   theta, phi)[1](ct[:2])
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12)


@pytest.mark.parametrize("name, point", [
    ("hyp1f1", (0.7, 1.3, 0.5)), ("hyp1f1", (2.0, 3.5, -1.2)),
    ("hyp2f1", (2.0, 0.5, 3.5, -0.4))])
def test_parameter_derivatives_by_their_series(jax_x64, name, point):
    """Derivatives in every parameter (they were refused), as JAX's series give them, to
    second order in both modes, under jit and vmap."""
    f = getattr(fs, name)
    args = tuple(np.float64(v) for v in point)
    for i in range(len(args)):
        got = ft.grad(f, i)(*args)
        want = jax_x64.grad(getattr(jax_x64.scipy.special, name), i)(*args)
        np.testing.assert_allclose(float(got), float(want), rtol=1e-11)
    check_grads(f, args, order=2, modes=("fwd", "rev"))
    batch = [np.array([v, v * 0.9]) for v in args]
    per_point = ft.vmap(ft.grad(f, 0))(*batch)
    np.testing.assert_allclose(np.asarray(ft.jit(ft.vmap(ft.grad(f, 0)))(*batch)),
                               np.asarray(per_point), rtol=1e-13)
    for k in range(2):
        np.testing.assert_allclose(float(per_point[k]),
                                   float(ft.grad(f, 0)(*[b[k] for b in batch])), rtol=1e-13)


@pytest.mark.parametrize("name, point", [
    ("hyp1f1", (0.7, 1.3, 0.5)), ("hyp1f1", (-1.4, 2.2, -2.5)),
    ("hyp2f1", (0.6, -0.3, 1.7, 0.45)), ("hyp2f1", (1.5, 0.8, 2.5, -0.7))])
def test_primitives_differentiate_their_parameters(name, point):
    """The primitives themselves (not only the functions over them) differentiate a, b, c:
    float64 finite differences to third order forward and second order in reverse, and jvp
    and vjp agree."""
    f = getattr(special_more, name)
    args = tuple(np.float64(v) for v in point)
    check_grads(f, args, order=2, modes=("fwd", "rev"))
    check_grads(f, args, order=3, modes=("fwd",))
    tangents = tuple(np.float64(t) for t in (0.3, -1.1, 0.7, 0.2)[:len(args)])
    _, t_out = ft.jvp(f, args, tangents)
    _, pullback = ft.vjp(f, *args)
    cts = pullback(np.float64(1.0))
    np.testing.assert_allclose(float(t_out), sum(float(c) * t for c, t in zip(cts, tangents)),
                               rtol=1e-12)


def test_parameter_derivatives_of_the_primitive_in_float32_and_the_refused_orders():
    got = ft.grad(lambda a: special_more.hyp1f1(a, 2.0, 1.0))(np.array(0.7, np.float32))
    assert got.dtype == np.float32
    want = ft.grad(lambda a: special_more.hyp1f1(a, 2.0, 1.0))(np.float64(0.7))
    np.testing.assert_allclose(float(got), float(want), rtol=1e-6)
    with pytest.raises(NotImplementedError, match="respect to the order v"):
        ft.grad(lambda v: special_more.jv(v, 1.0))(0.7)


def test_jit_and_vmap():
    x = np.array([0.2, 1.0, 4.0])
    for f in (fs.spence, fs.dawsn, lambda v: fs.fresnel(v)[0], lambda v: fs.sici(v)[1],
              lambda v: fs.hyp1f1(0.5, v, v), lambda v: fs.hyp2f1(v, 1.0, 3.0, v / 5),
              lambda v: fs.owens_t(v, v - 1.0), lambda v: fs.wofz(v + 1j),
              lambda v: fs.sph_harm_y(np.array(3), np.array(-1), v / 2, v), poisson.entropy):
        want = np.asarray(f(x))
        np.testing.assert_allclose(np.asarray(ft.jit(f)(x)), want, rtol=1e-14)
        np.testing.assert_allclose(np.asarray(ft.vmap(f)(x)), want, rtol=1e-14)
    grid = ft.vmap(lambda v: fs.bessel_jn(v, v=3), out_axes=1)(x)
    np.testing.assert_allclose(np.asarray(grid), sp.jv(np.arange(4)[:, None], x), rtol=1e-14)
    dvals = ft.vmap(ft.grad(lambda v: fs.owens_t(v, 0.5)))(x)
    np.testing.assert_allclose(np.asarray(dvals), np.asarray(ft.grad(
        lambda v: fs.owens_t(v, 0.5).sum())(x)), rtol=1e-14)


def test_poisson_entropy():
    mu = np.array([0.0, 1e-8, 1e-3, 0.5, 1.0, 5.0, 37.3, 99.9, 100.0, 150.5, 999.0])
    np.testing.assert_allclose(np.asarray(poisson.entropy(mu)), scipy.stats.poisson.entropy(mu),
                               rtol=1e-10)
    # SciPy's own sum is good to 1e-10 or so and fails to converge far out; high-precision
    # sums (mpmath), which ours match within 41 ulps (measured over mu in [1e-6, 1e4])
    exact = {1e-3: 0.0079081018046324832, 0.5: 0.92763746749579737, 37.3: 3.2261700302239087,
             150.5: 3.9253645101691157, 1e4: 6.0241003854427113, 1e5: 7.1754004323522869}
    np.testing.assert_allclose(np.asarray(poisson.entropy(np.array(list(exact)))),
                               list(exact.values()), rtol=1e-14)
    edge = np.asarray(poisson.entropy(np.array([-1.0, np.nan, np.inf])))
    assert np.isnan(edge[0]) and np.isnan(edge[1]) and edge[2] == np.inf
    got = poisson.entropy(mu.astype(np.float32), np.zeros((2, 1), np.float32))
    assert got.shape == (2, mu.size) and got.dtype == np.float32
    assert _ulps(got[0], poisson.entropy(mu.astype(np.float32).astype(np.float64)),
                 np.float32) <= 1


def test_bad_arguments():
    for f in (fs.spence, fs.dawsn, fs.fresnel, fs.sici, lambda v: fs.bessel_jn(v, v=2)):
        with pytest.raises(ValueError, match="complex"):
            f(np.array([1.0 + 1j]))
    with pytest.raises(ValueError, match="complex"):
        fs.hyp1f1(1.0, 2.0, 1j)
    with pytest.raises(TypeError, match="v and n_iter must be Python integers"):
        fs.bessel_jn(1.0, v=2.5)
    with pytest.raises(ValueError, match="v must be >= 0"):
        fs.bessel_jn(1.0, v=-1)
    with pytest.raises(NotImplementedError, match="diff_n"):
        fs.sph_harm_y(1, 0, 0.5, 0.5, diff_n=1)
    with pytest.raises(TypeError, match="degree n must be integers"):
        fs.sph_harm_y(1.0, 0, 0.5, 0.5)
    with pytest.raises(TypeError, match="n_max must be a Python integer"):
        fs.sph_harm_y(1, 0, 0.5, 0.5, n_max=2.5)
    # the integer arguments of the underlying primitives are not differentiable either
    one = np.array(1.0)
    with pytest.raises(NotImplementedError, match="respect to the order v"):
        ft.grad(lambda v: special_more.jv(v, one))(one)
    with pytest.raises(NotImplementedError, match="respect to the order m"):
        ft.grad(lambda m: special_more.sph_legendre(one, m, one))(one)


def test_on_a_non_default_device(fake_gpus):
    device = fake_gpus[1]
    x = ft.device_put(np.array([0.3, 1.2, 2.5]), device)
    cases = (fs.spence, fs.dawsn, lambda v: fs.fresnel(v)[1], lambda v: fs.sici(v)[0],
             lambda v: fs.hyp1f1(1.5, 2.0, v), lambda v: fs.hyp2f1(0.5, 1.0, 2.0, v / 3),
             lambda v: fs.owens_t(v, 0.7), lambda v: fs.bessel_jn(v, v=2), fs.wofz,
             lambda v: fs.sph_harm_y(np.array([2, 3, 1]), np.array([1, -1, 0]), v, 0.4),
             poisson.entropy)
    host = np.asarray(x)
    for f in cases:
        for g in (f, ft.jit(f)):
            got = g(x)
            assert got.device == device
            np.testing.assert_allclose(np.asarray(got), np.asarray(f(host)), rtol=1e-15)
        grad = ft.grad(lambda v: ft.numpy.sum(ft.numpy.real(f(v))))(x)
        assert grad.device == device
