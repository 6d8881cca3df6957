"""vjp's pullback is a pytree, as JAX's: its leaves are the residuals, so jitted functions can
return it and take it (JAX's "VJP objects" guide), and `fwd_and_bwd` splits reverse mode."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp

RNG = np.random.default_rng(0)


def layer(W, x):
    return fnp.tanh(x @ W)


def params():
    return (fnp.asarray(RNG.standard_normal((3, 3)) * 0.5),
            fnp.asarray(RNG.standard_normal((3, 3)) * 0.5),
            fnp.asarray(RNG.standard_normal((2, 3))))


def close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)


def test_jitted_forward_returns_the_pullback_and_a_jitted_backward_takes_it():
    W1, W2, x0 = params()
    fwd = ft.jit(lambda W, x: ft.vjp(layer, W, x))
    bwd = ft.jit(lambda f_vjp, ct: f_vjp(ct))
    x1, res1 = fwd(W1, x0)
    x2, res2 = fwd(W2, x1)
    dW2, dx1 = bwd(res2, fnp.ones_like(x2))
    dW1, dx0 = bwd(res1, dx1)
    want = ft.grad(lambda W1, W2, x: layer(W2, layer(W1, x)).sum(), (0, 1, 2))(W1, W2, x0)
    for got, ref in zip((dW1, dW2, dx0), want):
        close(got, ref)
    leaves = ft.tree_util.tree_leaves(res1)
    assert leaves and all(isinstance(v, ft.Array) for v in leaves)
    # one trace of each: the pullbacks of one forward trace share their structure
    assert fwd.cache_info().misses == 1 and bwd.cache_info().misses == 1


def test_eager_pullback_passes_through_jit_and_tree_functions():
    W, _, x = params()
    y, f_vjp = ft.vjp(layer, W, x)
    ct = fnp.ones_like(y)
    eager = f_vjp(ct)
    for got, ref in zip(ft.jit(lambda f, c: f(c))(f_vjp, ct), eager):
        close(got, ref)
    # the leaves are its residuals: mapping over them gives another pullback
    doubled = ft.tree_util.tree_map(lambda r: r, f_vjp)
    for got, ref in zip(doubled(ct), eager):
        close(got, ref)
    with pytest.raises(ValueError, match="cotangent leaf 0 has shape"):
        doubled(fnp.ones((5,)))
    # integer inputs get float0 cotangents, staged or not
    _, g = ft.vjp(lambda a, n: a * n, 2.0, 3)
    assert float(ft.jit(lambda g: g(1.0)[0])(g)) == 3.0
    assert g(1.0)[1].dtype == ft.dtypes.float0


def test_fwd_and_bwd_matches_jax(jax_x64):
    jax = pytest.importorskip("jax")
    W, _, x = params()
    Wj, xj = np.asarray(W), np.asarray(x)
    for argnums in (0, 1, (0, 1)):
        for jitted in (True, False):
            fwd, bwd = ft.fwd_and_bwd(layer, argnums, jitted=jitted)
            jfwd, jbwd = jax.fwd_and_bwd(lambda W, x: jax.numpy.tanh(x @ W), argnums)
            y, res = fwd(W, x)
            jy, jres = jfwd(Wj, xj)
            close(y, jy)
            got, want = bwd(res, fnp.ones_like(y)), jbwd(jres, np.ones_like(jy))
            assert isinstance(got, tuple) == isinstance(want, tuple)
            for a, b in zip(ft.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
    fwd, bwd = ft.fwd_and_bwd(lambda W, x: (layer(W, x), {"n": 3}), 1, has_aux=True)
    y, res, aux = fwd(W, x)
    assert int(aux["n"]) == 3 and bwd(res, fnp.ones_like(y)).shape == (2, 3)
