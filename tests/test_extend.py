"""`ft.extend.core` and the primitive objects under JAX's names (`lax.exp_p`, ...): a jaxpr
interpreter written as in JAX's "Writing custom Jaxpr interpreters" runs on functrans's
jaxprs, and composes with grad, vmap and jit."""
import numpy as np
import pytest

import functrans as ft
import functrans.lax as lax
import functrans.numpy as fnp
from functrans.extend import core


def _eval(jaxpr, consts, *args):
    env = {}

    def read(v):
        return v.val if type(v) is core.Literal else env[v]
    for v, x in zip(jaxpr.invars, args):
        env[v] = x
    for v, x in zip(jaxpr.constvars, consts):
        env[v] = x
    for eqn in jaxpr.eqns:
        out = eqn.primitive.bind(*map(read, eqn.invars), **eqn.params)
        for v, x in zip(eqn.outvars, out if eqn.primitive.multiple_results else [out]):
            env[v] = x
    return [read(v) for v in jaxpr.outvars]


def test_the_primitives_of_a_jaxpr_are_lax_s_objects():
    def f(x, w):
        return fnp.sum(fnp.tanh(fnp.arcsin(x) @ w) + fnp.exp(x[:, :1]))
    closed = ft.make_jaxpr(f)(fnp.ones((3, 2)) * 0.5, fnp.ones((2, 4)))
    prims = {e.primitive for e in closed.jaxpr.eqns}
    for p in (lax.asin_p, lax.dot_general_p, lax.tanh_p, lax.exp_p, lax.slice_p,
              lax.reduce_sum_p, lax.add_p):
        assert p in prims, (p.name, prims)
    assert core.primitives.tanh_p is lax.tanh_p and core.primitives.cholesky_p is \
        lax.linalg.cholesky_p
    assert closed.literals is closed.consts


def test_an_interpreter_reproduces_the_function_and_composes():
    const = np.arange(4.0)

    def f(x):
        return fnp.exp(fnp.tanh(x)) * const + lax.cumsum(x, 0)
    x = fnp.linspace(0.1, 0.9, 4)
    closed = ft.make_jaxpr(f)(x)
    np.testing.assert_allclose(_eval(closed.jaxpr, closed.literals, x)[0], f(x), rtol=1e-6)
    np.testing.assert_allclose(core.jaxpr_as_fun(closed)(x)[0], f(x), rtol=1e-6)

    def interpreted(x):
        c = ft.make_jaxpr(f)(x)
        return _eval(c.jaxpr, c.literals, x)[0]
    g = ft.jit(ft.vmap(ft.grad(lambda t: interpreted(t).sum())))
    xs = fnp.stack([x, x * 0.5])
    np.testing.assert_allclose(g(xs), ft.vmap(ft.grad(lambda t: f(t).sum()))(xs), rtol=1e-6)


def test_an_inverse_interpreter_as_in_jax_s_tutorial():
    inverse_registry = {lax.exp_p: fnp.log, lax.tanh_p: fnp.arctanh}

    def inverse(fun):
        def wrapped(y):
            closed = ft.make_jaxpr(fun)(y)
            env = {v: val for v, val in zip(closed.jaxpr.outvars, [y])}
            for eqn in closed.jaxpr.eqns[::-1]:
                env[eqn.invars[0]] = inverse_registry[eqn.primitive](env[eqn.outvars[0]])
            return env[closed.jaxpr.invars[0]]
        return wrapped

    def f(x):
        return fnp.exp(fnp.tanh(x))
    x = (fnp.arange(5) + 1.0) / 5.0
    np.testing.assert_allclose(inverse(f)(f(x)), x, rtol=1e-5)
    want = 1.0 / (fnp.cosh(x) ** -2 * fnp.exp(fnp.tanh(x)))     # 1 / f'(x) at y = f(x)
    got = ft.jit(ft.vmap(ft.grad(inverse(f))))(f(x))
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_check_jaxpr_rejects_a_broken_jaxpr():
    closed = ft.make_jaxpr(lambda x: fnp.sin(x) * 2.0)(fnp.ones(3))
    core.check_jaxpr(closed)
    jaxpr = closed.jaxpr
    broken = core.Jaxpr(jaxpr.constvars, jaxpr.invars, jaxpr.outvars, jaxpr.eqns[::-1])
    with pytest.raises(Exception, match="(?i)bound|read|before"):
        core.check_jaxpr(broken)


def test_names_exist_in_jax():
    jax = pytest.importorskip("jax")
    import jax.extend.core.primitives as jp
    ours = [n for n in dir(lax) if n.endswith("_p")]
    assert len(ours) > 100 and not set(ours) - set(dir(jax.lax))
    assert not set(core.primitives.__all__) - set(dir(jp))
    assert not {"ClosedJaxpr", "Jaxpr", "JaxprEqn", "Literal", "Var", "Primitive",
                "jaxpr_as_fun", "check_jaxpr"} - set(dir(jax.extend.core))
