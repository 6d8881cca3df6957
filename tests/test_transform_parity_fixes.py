"""JAX parity of the transforms: linearize through staged calls and loops (and has_aux),
default and keyword arguments of custom_jvp/custom_vjp/checkpoint, arrays (never Python
scalars) handed to eager loop and branch bodies, cond's operand=, axis_index over a tuple of
names."""
import functools

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax


def close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)


X = np.array([0.5, 1.0, 2.0], np.float32)
SIN2 = np.sin(np.sin(X))
DSIN2 = np.cos(np.sin(X)) * np.cos(X)
LINEARIZED = {
    "jit": (ft.jit(fnp.sin), np.sin(X), np.cos(X)),
    "jit_times_x": (lambda a: ft.jit(fnp.sin)(a) * a, np.sin(X) * X,
                    np.cos(X) * X + np.sin(X)),
    "scan": (lambda a: lax.scan(lambda c, _: (fnp.sin(c), None), a, None, length=2)[0],
             SIN2, DSIN2),
    "while_loop": (lambda a: lax.while_loop(lambda c: c[1] < 2,
                                            lambda c: (fnp.sin(c[0]), c[1] + 1), (a, 0))[0],
                   SIN2, DSIN2),
    "fori_loop": (lambda a: lax.fori_loop(0, 2, lambda i, c: fnp.sin(c), a), SIN2, DSIN2),
    "checkpoint": (ft.checkpoint(lambda a: fnp.sin(fnp.sin(a))), SIN2, DSIN2),
}


@pytest.mark.parametrize("name", list(LINEARIZED))
def test_linearize_primal_output_is_concrete(name):
    f, want, deriv = LINEARIZED[name]
    out, f_jvp = ft.linearize(f, X)
    assert not isinstance(out, ft.core.Tracer)
    close(out + 1, want + 1)
    close(f_jvp(2 * X), deriv * 2 * X)
    close(f_jvp(X), deriv * X)


def test_linearize_under_outer_transforms():
    f = ft.jit(fnp.sin)
    close(ft.jit(lambda a: ft.linearize(f, a)[1](a))(X), np.cos(X) * X)
    close(ft.grad(lambda a: ft.linearize(f, a)[0].sum())(X), np.cos(X))
    close(ft.grad(lambda a: ft.linearize(f, a)[1](a).sum())(X), np.cos(X) - X * np.sin(X))


def test_linearize_has_aux():
    out, f_jvp, aux = ft.linearize(lambda a: (fnp.sin(a), {"c": ft.jit(fnp.cos)(a), "a": a}),
                                   X, has_aux=True)
    close(out, np.sin(X))
    close(f_jvp(X), np.cos(X) * X)
    assert set(aux) == {"a", "c"} and not isinstance(aux["c"], ft.core.Tracer)
    close(aux["c"] + 0, np.cos(X))
    close(aux["a"], X)
    assert len(ft.linearize(fnp.sin, X)) == 2


def _scaled_jvp():
    @ft.custom_jvp
    def f(a, scale=2.0):
        return a * scale
    f.defjvp(lambda p, t: (p[0] * p[1], t[0] * p[1]))
    return f


def _scaled_vjp():
    @ft.custom_vjp
    def f(a, scale=2.0):
        return a * scale
    f.defvjp(lambda a, scale=2.0: (a * scale, scale), lambda s, g: (g * s, 0.0))
    return f


@pytest.mark.parametrize("make", [_scaled_jvp, _scaled_vjp], ids=["custom_jvp", "custom_vjp"])
def test_custom_derivative_defaults_and_keywords(make):
    f = make()
    assert float(ft.grad(f)(1.0)) == 2.0
    assert float(ft.grad(lambda a: f(a, scale=3.0))(1.0)) == 3.0
    assert float(ft.grad(lambda a: f(a=a, scale=3.0))(1.0)) == 3.0
    assert float(ft.jvp(lambda a: f(a, scale=3.0), (1.0,), (1.0,))[1]) == 3.0
    assert float(f(1.0, scale=3.0)) == 3.0


def test_custom_derivative_nondiff_argnums_by_keyword_and_default():
    @functools.partial(ft.custom_jvp, nondiff_argnums=(1,))
    def power(a, n=2):
        return a ** n
    power.defjvp(lambda n, p, t: (p[0] ** n, n * p[0] ** (n - 1) * t[0]))

    @functools.partial(ft.custom_vjp, nondiff_argnums=(1,))
    def vpower(a, n=2):
        return a ** n
    vpower.defvjp(lambda a, n: (a ** n, a), lambda n, r, g: (g * n * r ** (n - 1),))
    for f in (power, vpower):
        assert float(ft.grad(f)(3.0)) == 6.0
        assert float(ft.grad(lambda a: f(a, n=3))(3.0)) == 27.0


def test_custom_jvp_keyword_only_argument_is_refused():
    @ft.custom_jvp
    def f(a, *, scale=2.0):
        return a * scale
    f.defjvp(lambda p, t: (p[0] * 2.0, t[0] * 2.0))
    assert float(ft.grad(f)(1.0)) == 2.0
    with pytest.raises(TypeError, match="keyword-only"):
        ft.grad(lambda a: f(a, scale=3.0))(1.0)


def test_checkpoint_keyword_arguments():
    f = ft.checkpoint(lambda a, b: a * b)
    assert float(f(1.0, b=2.0)) == 2.0
    assert float(ft.grad(lambda b: f(1.0, b=b))(3.0)) == 1.0
    assert float(ft.grad(lambda a: f(a=a, b=3.0))(1.0)) == 3.0
    g = ft.checkpoint(lambda a, n, scale: a ** n * scale, static_argnums=(1,))
    assert float(ft.grad(lambda a: g(a, 3, scale=2.0))(1.0)) == 6.0
    assert float(ft.checkpoint(lambda a, n: a * n, static_argnums=-1)(2.0, 3)) == 6.0
    with pytest.raises(ValueError, match="static_argnums"):
        ft.checkpoint(lambda a, n: a * n, static_argnums=(1,))(2.0, n=3)


def test_eager_loop_and_branch_bodies_get_arrays():
    assert float(lax.fori_loop(0, 3, lambda i, c: c.astype(fnp.float32) + 1, 0.0)) == 3.0
    assert float(lax.scan(lambda c, z: (c + z, c.shape), 0.0, fnp.ones(3))[0]) == 3.0
    assert float(lax.cond(True, lambda c: c.astype(fnp.float32), lambda c: c * 1.0, 1.0)) == 1.0
    assert int(lax.switch(1, [lambda c: c * 2, lambda c: c.astype(c.dtype) + 1], 1)) == 2
    assert float(lax.while_loop(lambda c: (c < 3.0).any(), lambda c: c + 1, 0.0)) == 3.0
    seen = []
    lax.fori_loop(0, 2, lambda i, c: seen.append(i) or c, 0.0)
    assert all(hasattr(i, "dtype") and np.issubdtype(i.dtype, np.integer) for i in seen)


def test_eager_loops_keep_the_dtype_a_python_scalar_carry_settles_to():
    h = fnp.ones((), fnp.float16)
    loops = [lambda: lax.fori_loop(0, 3, lambda i, c: c + h, 0.0),
             lambda: lax.while_loop(lambda c: c < 3.0, lambda c: c + h, 0.0),
             lambda: lax.scan(lambda c, x: (c + x, c), 0.0, fnp.ones(3, fnp.float16))[0]]
    for loop in loops:
        assert loop().dtype == np.float16 == ft.jit(loop)().dtype
    # a body that needs concrete values still runs eagerly
    assert int(lax.fori_loop(0, 3, lambda i, c: c + 1 if c < 2 else c * 10, 0)) == 20


def test_cond_and_switch_operand_keyword():
    assert float(lax.cond(True, lambda a: a, lambda a: -a, operand=1.0)) == 1.0
    assert float(lax.cond(False, lambda a: a, lambda a: -a, operand=1.0)) == -1.0
    assert float(ft.jit(lambda p: lax.cond(p, lambda a: a, lambda a: -a, operand=1.0))(False)) \
        == -1.0
    assert int(lax.switch(0, [lambda c: c], operand=1)) == 1
    with pytest.raises(TypeError, match="operand"):
        lax.cond(True, lambda a, b: a, lambda a, b: -a, 1.0, operand=2.0)


def test_axis_index_over_a_tuple_of_names():
    def nested(names):
        return ft.vmap(ft.vmap(lambda x: lax.axis_index(names), axis_name="j"),
                       axis_name="i")(fnp.ones((2, 3)))
    got = nested(("i", "j"))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(got), [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(np.asarray(nested(("j", "i"))), [[0, 2, 4], [1, 3, 5]])
    np.testing.assert_array_equal(np.asarray(nested(("i",))), [[0, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(np.asarray(nested("j")), [[0, 1, 2], [0, 1, 2]])


def test_against_jax():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    o, f_jvp = jax.linearize(jax.jit(jnp.sin), X)
    out, f_jvp_ft = ft.linearize(ft.jit(fnp.sin), X)
    close(out, o)
    close(f_jvp_ft(X), f_jvp(X))
    got = jax.vmap(jax.vmap(lambda x: jax.lax.axis_index(("i", "j")), axis_name="j"),
                   axis_name="i")(jnp.ones((2, 3)))
    np.testing.assert_array_equal(np.asarray(got), [[0, 1, 2], [3, 4, 5]])


def test_disable_jit_runs_only_the_branch_taken():
    calls = []

    def taken(x):
        calls.append("taken")
        return x + 1.0

    def untaken(x):
        calls.append("untaken")
        return x * float(x)            # needs a concrete value: it cannot be traced
    with ft.disable_jit():
        assert float(ft.lax.cond(True, taken, untaken, 1.0)) == 2.0
        assert float(ft.lax.switch(0, [taken, untaken], 1.0)) == 2.0
    assert calls == ["taken", "taken"]
    with pytest.raises(ft.ConcretizationError):       # outside, both are traced, as JAX's
        ft.lax.cond(True, taken, untaken, 1.0)


def test_custom_jvp_rule_tangent_of_the_wrong_shape_is_an_error():
    # (jvp returned a (3,) tangent for a scalar output; grad failed in a reshape)
    @ft.custom_jvp
    def total(x):
        return fnp.sum(x)
    total.defjvp(lambda p, t: (total(p[0]), t[0] * 2))
    for run in (lambda: ft.jvp(total, (fnp.ones(3),), (fnp.ones(3),)),
                lambda: ft.grad(total)(fnp.ones(3)), lambda: ft.jit(ft.grad(total))(fnp.ones(3))):
        with pytest.raises(TypeError, match=r"tangent output 0 has shape \(3,\), but its "
                                            r"primal output has shape \(\)"):
            run()


def test_custom_vjp_under_vmap_sums_the_cotangents_of_shared_arguments():
    # the batched backward pass gave every argument a batched cotangent, also one the whole
    # batch shares: grad was wrong (off by 21 here) and jvp failed on shapes
    @ft.custom_vjp
    def apply(a, v):
        return a @ v
    apply.defvjp(lambda a, v: (apply(a, v), (a, v)),
                 lambda r, ct: (fnp.outer(ct, r[1]), r[0].T @ ct))
    rng = np.random.default_rng(0)
    a, vs = rng.normal(size=(3, 4)), rng.normal(size=(5, 4))

    def batched(a):
        return ft.vmap(lambda v: apply(a, v))(vs)
    for fn in (ft.grad(lambda a: fnp.sum(batched(a) ** 2)),
               ft.jit(ft.grad(lambda a: fnp.sum(batched(a) ** 2)))):
        np.testing.assert_allclose(np.asarray(fn(a)), 2 * ((vs @ a.T).T @ vs), rtol=1e-12)
    _, t = ft.jvp(batched, (a,), (np.ones_like(a),))
    np.testing.assert_allclose(np.asarray(t), vs @ np.ones_like(a).T, rtol=1e-12)
    two = np.stack([a, 2 * a])           # the other way round: a batched, v shared
    g = ft.grad(lambda v: fnp.sum(ft.vmap(lambda m: apply(m, v))(two) ** 2))(vs[0])
    np.testing.assert_allclose(np.asarray(g), 2 * (a.T @ (a @ vs[0])) * 5, rtol=1e-12)
