"""functrans.custom_derivatives.linear_call against JAX's, under grad, jvp, jit, vmap,
linear_transpose and higher-order derivatives."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.custom_derivatives import linear_call
from functrans.experimental.jet import jet

RNG = np.random.default_rng(0)
M = RNG.normal(size=(3, 4))


@pytest.fixture(autouse=True)
def x64():
    with ft.enable_x64():
        yield


def div(r, x):
    return x / r


def div_t(r, ct):
    return ct / r


def div_add(lc, x, d):
    return x + lc(div, div_t, d, x)


def custom_id(lc, x):
    """The identity, with a deliberately wrong transpose (7 times), to see which is used."""
    return lc(lambda _, x: x, lambda _, ct: 7.0 * ct, (), x)


def test_a_python_number_from_the_transpose_takes_the_inputs_dtype():
    def seven(x):   # JAX's docstring example: a transpose returning the Python float 7.0
        return linear_call(lambda _, x: x, lambda _, ct: 7.0, (), x)
    for dtype in (np.float32, np.float64):
        g = ft.grad(seven)(dtype(1.0))
        assert g.dtype == dtype and float(g) == 7.0


def transpose(f, example):
    return lambda y: ft.linear_transpose(f, example)(y)[0]


def test_jax_docstring_examples(jax_x64):
    jlc = jax_x64.custom_derivatives.linear_call
    assert float(div_add(linear_call, 9.0, 3.0)) == float(div_add(jlc, 9.0, 3.0)) == 12.0
    ours = transpose(lambda x: div_add(linear_call, x, 3.0), 1.0)(18.0)
    theirs = jax_x64.linear_transpose(lambda x: div_add(jlc, x, 3.0), 1.0)(18.0)[0]
    assert float(ours) == float(theirs) == 24.0
    cid = (lambda x: custom_id(linear_call, x))
    assert float(cid(1.0)) == 1.0
    t1 = transpose(cid, 1.0)
    t2 = transpose(t1, 1.0)
    t3 = transpose(t2, 1.0)
    assert [float(t(1.0)) for t in (t1, t2, t3)] == [7.0, 1.0, 7.0]


def test_grad_uses_the_transpose_and_jvp_the_function(jax_x64):
    x = RNG.normal(size=4)
    for lc, lib in ((linear_call, ft), (jax_x64.custom_derivatives.linear_call, jax_x64)):
        g = lib.grad(lambda x: (custom_id(lc, x) ** 2).sum())(x)
        np.testing.assert_allclose(g, 14 * x)
        _, t = lib.jvp(lambda x: custom_id(lc, x), (x,), (x,))
        np.testing.assert_allclose(t, x)
        np.testing.assert_allclose(lib.jit(lib.grad(lambda x: custom_id(lc, x).sum()))(x),
                                   np.full(4, 7.0))


def matvec(lc, m, r, x):
    """A matrix product with its true transpose, pytree residuals and linear inputs."""
    def f(r, v):
        return {"y": (r["a"] @ v[0]) * r["scale"], "z": v[1] * 2.0}

    def f_t(r, ct):
        return ((r["a"].T @ ct["y"]) * r["scale"], ct["z"] * 2.0)
    out = lc(f, f_t, r, x)
    return m.sum(m.sin(out["y"])) + m.sum(out["z"] ** 3)


def test_pytrees_match_jax_and_finite_differences(jax_x64):
    r = {"a": M, "scale": np.float64(1.5)}
    x = (RNG.normal(size=4), RNG.normal(size=2))
    ours = ft.grad(lambda x: matvec(linear_call, fnp, r, x))(x)
    jlc = jax_x64.custom_derivatives.linear_call
    theirs = jax_x64.grad(lambda x: matvec(jlc, jax_x64.numpy, r, x))(x)
    for a, b in zip(ft.tree.leaves(ours), ft.tree.leaves(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    ft.test_util.check_grads(lambda x0, x1: matvec(linear_call, fnp, r, (x0, x1)), x, order=2,
                             modes=("fwd", "rev"))


def test_jit_and_vmap():
    d = np.arange(1.0, 4.0)
    x = RNG.normal(size=3)
    want = x + x / d
    np.testing.assert_allclose(ft.jit(lambda x, d: div_add(linear_call, x, d))(x, d), want)
    f = ft.vmap(lambda x, d: div_add(linear_call, x, d))
    np.testing.assert_allclose(f(x, d), want)
    np.testing.assert_allclose(ft.jit(f)(x, d), want)
    # per-example gradients: d/dx (x + x/d) = 1 + 1/d
    g = ft.vmap(ft.grad(lambda x, d: div_add(linear_call, x, d)))
    np.testing.assert_allclose(g(x, d), 1 + 1 / d)
    # grad of a vmapped call, with an unbatched linear input and a batched residual
    h = ft.grad(lambda s: ft.vmap(lambda d: div_add(linear_call, s, d))(d).sum())
    np.testing.assert_allclose(h(2.0), np.sum(1 + 1 / d))
    # the custom transpose survives vmap: 7 per example
    np.testing.assert_allclose(ft.vmap(ft.grad(lambda x: custom_id(linear_call, x)))(x),
                               np.full(3, 7.0))
    np.testing.assert_allclose(ft.grad(lambda x: ft.vmap(lambda x: custom_id(linear_call, x))(
        x).sum())(x), np.full(3, 7.0))


def test_higher_order_and_jet():
    def f(x):
        return fnp.sin(div_add(linear_call, x, 3.0))
    x = 0.7
    c = 4.0 / 3.0
    np.testing.assert_allclose(ft.grad(ft.grad(f))(x), -np.sin(c * x) * c ** 2)
    np.testing.assert_allclose(ft.jacfwd(ft.jacrev(f))(x), -np.sin(c * x) * c ** 2)
    _, (y1, y2) = jet(f, (x,), ([1.0, 0.0],))
    np.testing.assert_allclose([y1, y2], [np.cos(c * x) * c, -np.sin(c * x) * c ** 2])


def test_closed_over_values_and_errors():
    s = np.float64(2.0)

    def f(x, s):     # the functions close over s, not differentiated
        return linear_call(lambda _, v: v * s, lambda _, ct: ct * s, (), x)
    np.testing.assert_allclose(ft.jit(ft.grad(f))(1.5, s), 2.0)
    np.testing.assert_allclose(ft.grad(f)(1.5, s), 2.0)
    # under grad(jit(f)) fun_transpose is traced after jit's trace ended (JAX fails too)
    with pytest.raises(ft.errors.UnexpectedTracerError, match="through residual_args"):
        ft.grad(ft.jit(f))(1.5, s)

    def g(x, s):     # ... so pass s as a residual
        return linear_call(lambda r, v: v * r, lambda r, ct: ct * r, s, x)
    np.testing.assert_allclose(ft.grad(ft.jit(g))(1.5, s), 2.0)
    with pytest.raises(TypeError, match="residual_args .* depend on the differentiated"):
        ft.grad(lambda d: div_add(linear_call, 9.0, d))(3.0)
    with pytest.raises(TypeError, match="residual_args .* depend on the differentiated"):
        ft.grad(f, argnums=1)(1.5, s)
    with pytest.raises(TypeError, match="residual_args .* depend on the differentiated"):
        ft.jvp(lambda d: div_add(linear_call, 9.0, d), (3.0,), (1.0,))

    def bad(x):
        return linear_call(lambda _, x: x, lambda _, ct: (ct, ct), (), x)
    assert float(bad(1.0)) == 1.0       # fun_transpose is traced only when transposing
    with pytest.raises(TypeError, match="fun_transpose must return a pytree like linear_args"):
        ft.grad(bad)(1.0)

    def bad_shape(x):
        return linear_call(lambda _, x: x, lambda _, ct: ct[:1], (), x)
    with pytest.raises(TypeError, match=r"output leaves \(shape, dtype\)"):
        ft.grad(lambda x: bad_shape(x).sum())(np.ones(2))


def test_arrays_on_another_device_stay_there(fake_gpus):
    x = ft.device_put(np.arange(1.0, 4.0), fake_gpus[0])

    def f(x):       # a Python number as the residual joins x's device
        return linear_call(lambda r, v: v * r, lambda r, ct: ct * r, 2.0, x)
    assert f(x).device == fake_gpus[0]
    assert ft.vmap(f)(x).device == fake_gpus[0]
    g = ft.grad(lambda x: f(x).sum())(x)
    assert g.device == fake_gpus[0]
    np.testing.assert_allclose(g, np.full(3, 2.0))
