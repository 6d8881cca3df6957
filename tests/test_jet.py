"""functrans.experimental.jet against jax.experimental.jet, closed forms, finite differences,
and under jit and vmap."""
import math

import numpy as np
import pytest
import scipy.linalg

import functrans as ft
import functrans.numpy as fnp
import functrans.scipy as fsp
from functrans.experimental import jet as jet_module
from functrans.experimental.jet import jet, jet2

RNG = np.random.default_rng(0)
X = RNG.uniform(0.5, 1.5, (3,))
A = RNG.normal(size=(3, 3))


@pytest.fixture(autouse=True)
def x64():
    with ft.enable_x64():
        yield


@pytest.fixture
def jax_jet():
    jax = pytest.importorskip("jax")
    from jax.experimental import jet as jj
    with jax.enable_x64(True):
        yield jax.numpy, jj


# written once for both libraries: m is functrans.numpy or jax.numpy
CASES = {
    "tanh": lambda m, x: m.tanh(x),
    "sin_exp": lambda m, x: m.sin(m.exp(0.5 * x)),
    "log_poly": lambda m, x: m.log(1.0 + x ** 2) * (x ** 3 - 2.0 * x),
    "matmul_tanh": lambda m, x: m.tanh(m.asarray(A) @ m.sin(x)) * x,
    "sum_exp_log": lambda m, x: m.sum(m.exp(-x) * m.log(x)),
    "div_sqrt": lambda m, x: m.sqrt(x) / (2.0 + m.cos(x)),
}


def terms(order, shape=(3,)):
    return [RNG.normal(size=shape) for _ in range(order)]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_jax(jax_jet, name, order):
    jnp, jj = jax_jet
    f = CASES[name]
    series = (terms(order),)
    for ours, theirs in ((jet, jj.jet), (jet2, jj.jet2)):
        y0, ys = ours(lambda x: f(fnp, x), (X,), series)
        z0, zs = theirs(lambda x: f(jnp, x), (X,), series)
        np.testing.assert_allclose(np.asarray(y0), np.asarray(z0), rtol=1e-12)
        assert len(ys) == order
        for a, b in zip(ys, zs):
            assert a.dtype == np.float64
            close(a, b)


def close(a, b, rtol=1e-12):
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(1.0, np.abs(b).max()))


def _derivatives_along(jax, f, x0, series):
    """JAX's nested jvps of f along x(t) = x0 + sum_k x_k t^k / k!, at t = 0 (jitted: JAX's
    eager nested jvps are slow)."""
    @jax.jit
    def all_orders(x0, series):
        def h(t):
            return f(x0 + sum(c * t ** k / math.factorial(k) for k, c in enumerate(series, 1)))
        out = []
        for _ in range(len(series) + 1):
            out.append(h(0.0))
            h = (lambda h: lambda t: jax.jvp(h, (t,), (1.0,))[1])(h)
        return out
    return all_orders(x0, series)


SPD = RNG.uniform(0.2, 0.8, (3, 3))
SPD = SPD @ SPD.T + 3 * np.eye(3)
# (functrans's function, JAX's, the point), a value of m ("fnp"/"jnp") choosing the library
MORE = {
    "erf_gammaln_digamma": lambda sp, m, x: sp.special.erf(x) * sp.special.gammaln(x + 1) +
    sp.special.digamma(x + 1),
    "cbrt_arctan2_logaddexp": lambda sp, m, x: m.cbrt(x) + m.arctan2(x, 1 + x ** 2) +
    m.logaddexp(x, 2 * x),
    "cumprod_sort_where": lambda sp, m, x: m.sort(m.cumprod(x)) + m.where(x > 1, m.sin(x), x),
    "inv_cholesky": lambda sp, m, a: m.linalg.inv(a) + m.linalg.cholesky(a),
    "eigh_svd": lambda sp, m, a: m.linalg.eigh(a)[0] + m.linalg.svd(a, compute_uv=False),
}


@pytest.mark.parametrize("name", sorted(MORE))
def test_more_primitives_match_jax_nested_jvp(name):
    jax = pytest.importorskip("jax")
    import jax.scipy as jsp
    with jax.enable_x64(True):
        x0 = SPD if "inv" in name or "eigh" in name else X
        series = terms(3, x0.shape)
        y0, ys = jet(lambda x: MORE[name](fsp, fnp, x), (x0,), (series,))
        want = _derivatives_along(jax, lambda x: MORE[name](jsp, jax.numpy, x), x0, series)
    for a, b in zip([y0] + ys, want):
        close(a, b)


@pytest.mark.parametrize("name", sorted(CASES) + sorted(MORE))
def test_rules_match_the_nested_jvp_method(name):
    """The Taylor rules (with their fallback) give what nested jvps of the whole function
    give (`nested_jvp`, the method `jet` used before it had rules)."""
    if name in CASES:
        x0, f = X, (lambda x: CASES[name](fnp, x))
    else:
        x0, f = (SPD if "inv" in name or "eigh" in name else X), (
            lambda x: MORE[name](fsp, fnp, x))
    cs = terms(4, x0.shape)
    y0, ys = jet2(f, (x0,), (cs,))
    outs, want = jet_module.nested_jvp(lambda x: [f(x)], [fnp.asarray(x0)], [cs])
    for a, b in zip([y0] + ys, outs + want[0]):
        close(a, b)


def test_loops_match_jax_nested_jvp():
    jax = pytest.importorskip("jax")

    def scan(lax, m, a):
        return lax.scan(lambda c, v: (m.sin(c * v), c), 1.0, a)[0]

    def loop(lax, m, a):
        return lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, m.tanh(c[1]) * a),
                              (0, a))[1]
    for f in (scan, loop):
        series = terms(3)
        y0, ys = jet(lambda x: f(ft.lax, fnp, x), (X,), (series,))
        with jax.enable_x64(True):
            want = _derivatives_along(jax, lambda x: f(jax.lax, jax.numpy, x), X, series)
        for a, b in zip([y0] + ys, want):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10)


def test_several_arguments_and_pytree_output_match_jax(jax_jet):
    jnp, jj = jax_jet

    def f(m, x, y):
        return {"a": m.exp(x) * y, "b": (m.tanh(x @ y), m.sum(y ** 3))}
    xs, ys = (X, X[::-1].copy()), (terms(3), terms(3))
    ours = jet(lambda x, y: f(fnp, x, y), xs, ys)
    theirs = jj.jet(lambda x, y: f(jnp, x, y), xs, ys)
    assert ft.tree.structure(ours) == ft.tree.structure(
        ft.tree.map(np.asarray, theirs))
    for a, b in zip(ft.tree.leaves(ours), ft.tree.leaves(theirs)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)


def test_closed_forms_along_a_line():
    """Along x(t) = x0 + t v the k-th term is the k-th directional derivative."""
    v = RNG.normal(size=3)
    line = [v, np.zeros(3), np.zeros(3), np.zeros(3)]
    y0, ys = jet(fnp.exp, (X,), (line,))
    for k, y in enumerate(ys, 1):
        np.testing.assert_allclose(y, np.exp(X) * v ** k, rtol=1e-13)
    _, ys = jet(lambda x: x ** 3, (X,), (line,))
    expect = [3 * X ** 2 * v, 6 * X * v ** 2, 6 * v ** 3, np.zeros(3)]
    for y, e in zip(ys, expect):
        np.testing.assert_allclose(y, e, rtol=1e-13, atol=1e-13)
    # expm along t -> A + t A: expm(A) expm(t A), so term k is expm(A) A^k
    a = SPD / 5
    _, ys = jet(fsp.linalg.expm, (a,), ([a, 0 * a, 0 * a],))
    for k, y in enumerate(ys, 1):
        np.testing.assert_allclose(y, scipy.linalg.expm(a) @ np.linalg.matrix_power(a, k),
                                   rtol=1e-12)
    # the docstring's example: sin(z^3) at z = 0.5, f2 by Faa di Bruno
    h0, h1, h2 = 0.5 ** 3, 3 * 0.5 ** 2, 6 * 0.5
    f0, (f1, f2) = jet(fnp.sin, (h0,), ((h1, h2),))
    np.testing.assert_allclose([f0, f1, f2], [np.sin(h0), np.cos(h0) * h1,
                                              -np.sin(h0) * h1 ** 2 + np.cos(h0) * h2])


def test_terms_are_derivatives_of_the_curve():
    """Finite differences of g(t) = f(x(t)) with x(t) = sum_k x_k t^k / k!."""
    f = CASES["matmul_tanh"]
    series = terms(3)

    def g(t):
        return f(np, X + sum(c * t ** k / math.factorial(k) for k, c in enumerate(series, 1)))
    _, (y1, y2, y3) = jet(lambda x: f(fnp, x), (X,), (series,))
    h = 1e-3
    np.testing.assert_allclose(y1, (g(h) - g(-h)) / (2 * h), rtol=1e-5)
    np.testing.assert_allclose(y2, (g(h) - 2 * g(0) + g(-h)) / h ** 2, rtol=1e-5)
    d3 = (g(2 * h) - 2 * g(h) + 2 * g(-h) - g(-2 * h)) / (2 * h ** 3)
    np.testing.assert_allclose(y3, d3, rtol=1e-4)


def test_matches_repeated_jvp():
    """With only a first term, term k is k nested jvps along it."""
    f = CASES["log_poly"]
    v = RNG.normal(size=3)

    def d(g):
        return lambda x: ft.jvp(g, (x,), (v,))[1]

    _, ys = jet(lambda x: f(fnp, x), (X,), ([v, 0 * v, 0 * v],))

    def g(x):
        return f(fnp, x)
    for y in ys:
        g = d(g)
        np.testing.assert_allclose(y, g(X), rtol=1e-12)


def test_control_flow_custom_jvp_and_jit_inside(jax_jet):
    jnp, jj = jax_jet

    def loop(x):
        return ft.lax.fori_loop(0, 3, lambda i, c: fnp.sin(c) * x, x)

    def unrolled(x):
        c = x
        for _ in range(3):
            c = jnp.sin(c) * x
        return c
    series = (terms(3),)
    ours = jet(ft.jit(loop), (X,), series)
    theirs = jj.jet(unrolled, (X,), series)
    for a, b in zip(ft.tree.leaves(ours), ft.tree.leaves(theirs)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10)
    # custom_jvp: logsumexp-style softplus, and cond
    ours = jet(lambda x: ft.nn.softplus(x) + ft.lax.cond(True, fnp.cos, fnp.sin, x),
               (X,), series)
    theirs = jj.jet(lambda x: jnp.log1p(jnp.exp(x)) + jnp.cos(x), (X,), series)
    for a, b in zip(ft.tree.leaves(ours), ft.tree.leaves(theirs)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10)


def test_under_jit_and_vmap():
    def f(x):
        return fnp.tanh(fnp.sin(x) * x)
    series = terms(3)
    want = jet(f, (X,), (series,))
    got = ft.jit(lambda x, s: jet(f, (x,), (s,)))(X, series)
    for a, b in zip(ft.tree.leaves(got), ft.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    # vmap over a batch of points and terms: each row alone
    xb, sb = RNG.uniform(size=(4, 3)), [RNG.normal(size=(4, 3)) for _ in range(3)]
    y0, ys = ft.vmap(lambda x, s: jet(f, (x,), (s,)))(xb, sb)
    for i in range(4):
        r0, rs = jet(f, (xb[i],), ([s[i] for s in sb],))
        np.testing.assert_allclose(y0[i], r0, rtol=1e-13)
        for a, b in zip(ys, rs):
            np.testing.assert_allclose(a[i], b, rtol=1e-13)
    # and vmap inside the jetted function
    y0, ys = jet(ft.vmap(f), (xb,), (sb,))
    np.testing.assert_allclose(ys[2][1], jet(f, (xb[1],), ([s[1] for s in sb],))[1][2])


def test_dtypes_order_zero_and_integer_outputs():
    x32 = X.astype(np.float32)
    y0, ys = jet(fnp.sin, (x32,), ([np.ones(3)],))      # terms take the primal's dtype
    assert y0.dtype == ys[0].dtype == np.float32
    np.testing.assert_allclose(ys[0], np.cos(x32), rtol=1e-6)
    y0, ys = jet(fnp.sin, (X,), ([],))
    assert ys == [] and np.allclose(y0, np.sin(X))
    (y, n), (ys, ns) = jet(lambda x: (x * 2, fnp.argmax(x)), (X,), (terms(2),))
    assert n.dtype.kind == "i" and all(np.array_equal(t, np.zeros_like(n)) for t in ns)
    (c, one), (cs, ones) = jet(lambda x: (2.0, fnp.ones(3)), (X,), (terms(2),))  # constants
    assert float(c) == 2.0 and all(float(t) == 0 for t in cs)
    assert all(np.array_equal(t, np.zeros(3)) for t in ones)
    z = np.array([1.0 + 2.0j, 0.5 - 1.0j])
    _, (z1, z2) = jet(fnp.exp, (z,), ([np.ones(2, complex), np.zeros(2, complex)],))
    np.testing.assert_allclose(z2, np.exp(z), rtol=1e-13)


@pytest.mark.parametrize("primals, series, err, msg", [
    ((X,), ([X], [X]), ValueError, "1 primals but 2 series"),
    ((X, X), ([X], [X, X]), ValueError, "inconsistent lengths"),
    (((X, X),), ([X],), ValueError, "primal at position 0 is not an array"),
    ((X,), ([(X, X)],), ValueError, "term 0 for argument 0 is not an array"),
    ((X,), ([np.ones(2)],), ValueError, r"shape \(2,\) but the primal has shape \(3,\)"),
    ((np.arange(3),), ([X],), TypeError, "floating or complex primals"),
    ((X,), (X,), TypeError, r"series\[0\] must be a tuple or list"),
    (X, ([X],), TypeError, "primals must be a tuple"),
])
def test_bad_input(primals, series, err, msg):
    with pytest.raises(err, match=msg):
        jet(fnp.sin, primals, series)


def test_module_names():
    assert set(jet_module.__all__) == {"jet", "jet2"}


def test_arrays_on_another_device_stay_there(fake_gpus):
    x = ft.device_put(X, fake_gpus[0])
    y0, ys = jet(fnp.sin, (x,), ([x, x],))
    assert {y0.device, *(y.device for y in ys)} == {fake_gpus[0]}
    np.testing.assert_allclose(ys[1], -np.sin(X) * X ** 2 + np.cos(X) * X)
    g = ft.jit(ft.grad(lambda x: jet(fnp.sin, (x,), ([x],))[1][0].sum()))(x)
    assert g.device == fake_gpus[0]
