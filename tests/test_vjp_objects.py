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


def test_args_res_holds_the_arguments_read_as_they_were():
    """JAX's `args_res`: per argument, the values the backward pass reads verbatim
    (`NotNeeded()` for the others); `opaque_residuals` the computed ones."""
    from functrans.vjp_function import NotNeeded
    W, _, x = params()
    y, f_vjp = ft.vjp(layer, W, x)
    assert f_vjp.args_res[0] is W and f_vjp.args_res[1] is x
    assert len(f_vjp.opaque_residuals) == 1 and f_vjp.structured_residuals == []
    _, g_vjp = ft.vjp(lambda a, b: fnp.sin(a) + b, x, x * 2)      # b is not read
    assert g_vjp.args_res[1] == NotNeeded() and repr(g_vjp.args_res[1]) == "NotNeeded()"
    close(g_vjp(fnp.ones_like(x))[0], fnp.cos(x))


def test_saveable_args_leave_weights_out_until_restored():
    """The VJP objects guide's pipeline: weights left out of the saved state (no leaves for
    them), restored by assignment or `replace`, eagerly and inside jit."""
    from functrans.vjp_function import NotSaveable
    W1, W2, x0 = params()
    y, f_vjp = ft.vjp(layer, W1, x0, saveable_args=(False, True))
    assert f_vjp.args_res[0] == NotSaveable() and f_vjp.args_res[1] is x0
    leaves = ft.tree_util.tree_leaves(f_vjp)
    assert not any(leaf is W1 for leaf in leaves) and len(leaves) == 2
    with pytest.raises(ValueError, match=r"needs argument 0, left out by saveable_args"):
        f_vjp(fnp.ones_like(y))
    restored = f_vjp.replace(args_res=[W1, f_vjp.args_res[1]])
    f_vjp.args_res[0] = W1
    want = ft.vjp(layer, W1, x0)[1](fnp.ones_like(y))
    for fn in (f_vjp, restored):
        for got, ref in zip(fn(fnp.ones_like(y)), want):
            close(got, ref)

    def bwd_light(f_vjp, W, y_bar):
        f_vjp.args_res[0] = W
        return f_vjp(y_bar)
    fwd = ft.jit(lambda W, x: ft.vjp(layer, W, x, saveable_args=(False, True)))
    bwd = ft.jit(bwd_light)
    x1, res1 = fwd(W1, x0)
    x2, res2 = fwd(W2, x1)
    dW2, dx1 = bwd(res2, W2, fnp.ones_like(x2))
    dW1, dx0 = bwd(res1, W1, dx1)
    ref = ft.grad(lambda W1, W2, x: layer(W2, layer(W1, x)).sum(), (0, 1, 2))(W1, W2, x0)
    for got, r in zip((dW1, dW2, dx0), ref):
        close(got, r)


def test_saveable_args_match_containers_by_their_children():
    """A tuple entry lines up with a dict's children (sorted keys); a bool covers a subtree;
    restoring may assign the whole original argument; bad specs are named."""
    from functrans.vjp_function import NotSaveable
    d = {"hi": fnp.ones((4, 5)), "bye": fnp.ones((3, 4)) * 2}
    g = lambda d: d["bye"] @ d["hi"]
    _, g_vjp = ft.vjp(g, d, saveable_args=((True, False),))
    assert g_vjp.args_res[0]["hi"] == NotSaveable() and g_vjp.args_res[0]["bye"] is d["bye"]
    g_vjp.args_res = [d]
    got, = g_vjp(fnp.ones((3, 5)))
    want, = ft.vjp(g, d)[1](fnp.ones((3, 5)))
    for k in d:
        close(got[k], want[k])
    with pytest.raises(ValueError, match=r"saveable_args\[0\] has 3 entries but the argument "
                                         "there has 2 children"):
        ft.vjp(g, d, saveable_args=((True, False, True),))
    with pytest.raises(TypeError, match="saveable_args is str"):
        ft.vjp(g, d, saveable_args="no")
