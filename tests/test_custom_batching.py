"""ft.custom_batching.custom_vmap and sequential_vmap against jax.custom_batching: the rule
runs under vmap (jit on either side, nested vmaps batch the rule), the function elsewhere;
forward mode as in JAX (jvp of the rule under vmap, of the function outside), and reverse mode
(which JAX refuses) consistent with it, checked against finite differences in float64."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.custom_batching import custom_vmap, sequential_vmap
from functrans.test_util import check_grads

jax = pytest.importorskip("jax")
jnp = jax.numpy
jcb = jax.custom_batching

RNG = np.random.default_rng(0)


# JAX in float64 (as functrans keeps NumPy's float64) for each test, then restored
pytestmark = pytest.mark.usefixtures("jax_x64")


def arr(*shape):
    return RNG.standard_normal(shape)


def close(a, b, rtol=1e-12, atol=1e-12):
    for x, y in zip(ft.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def sin_times(cv, np_):
    """`sin(x) * y` whose vmap rule computes `cos(xs) * ys` (so a test sees which ran)."""
    calls = []

    @cv
    def f(x, y):
        return np_.sin(x) * y

    @f.def_vmap
    def rule(axis_size, in_batched, xs, ys):
        calls.append((axis_size, list(in_batched)))
        return np_.cos(xs) * ys, True
    return f, calls


def test_the_rule_runs_under_vmap_and_the_function_elsewhere():
    f, calls = sin_times(custom_vmap, fnp)
    g, _ = sin_times(jcb.custom_vmap, jnp)
    x, y = arr(3), arr(3)
    close(f(x[0], y[0]), np.sin(x[0]) * y[0])
    close(ft.jit(f)(x, y), np.sin(x) * y)
    for h in [ft.vmap(f), ft.jit(ft.vmap(f)), ft.vmap(ft.jit(f))]:
        close(h(x, y), np.cos(x) * y)
    assert calls[0] == (3, [True, True])
    close(ft.vmap(f, in_axes=(0, None))(x, 2.0), jax.vmap(g, in_axes=(0, None))(x, 2.0))
    assert calls[-1] == (3, [True, False])
    # nested vmaps: the inner one calls the rule, the outer one batches the rule's operations
    calls.clear()
    z = arr(2, 3)
    close(ft.vmap(ft.vmap(f))(z, z), jax.vmap(jax.vmap(g))(z, z))
    close(ft.vmap(ft.vmap(f, in_axes=(0, None)), in_axes=(None, 0))(x, y[:2]),
          np.broadcast_to(np.cos(x) * y[:2, None], (2, 3)))
    assert [c[0] for c in calls] == [3, 3]


def test_pytrees_and_keywords():
    @custom_vmap
    def f(d, scale=2.0):
        return {"a": d["x"] * scale, "b": (d["y"],)}

    @f.def_vmap
    def rule(axis_size, in_batched, d, scale):
        assert in_batched == [{"x": True, "y": False}, False]
        return {"a": d["x"] + 100.0, "b": (d["y"],)}, {"a": True, "b": (False,)}
    x = arr(4)
    got = ft.vmap(f, in_axes=({"x": 0, "y": None},))({"x": x, "y": 5.0})
    close(got["a"], x + 100.0)
    close(got["b"][0], 5.0)
    close(f({"x": 1.0, "y": 2.0}, scale=3.0)["a"], 3.0)


def test_forward_mode_matches_jax():
    f, _ = sin_times(custom_vmap, fnp)
    g, _ = sin_times(jcb.custom_vmap, jnp)
    x, y, tx, ty = arr(3), arr(3), arr(3), arr(3)
    close(ft.jvp(f, (x[0], y[0]), (tx[0], ty[0])), jax.jvp(g, (x[0], y[0]), (tx[0], ty[0])))
    close(ft.jvp(ft.vmap(f), (x, y), (tx, ty)), jax.jvp(jax.vmap(g), (x, y), (tx, ty)))
    close(ft.vmap(lambda a, b, s, t: ft.jvp(f, (a, b), (s, t)))(x, y, tx, ty),
          jax.vmap(lambda a, b, s, t: jax.jvp(g, (a, b), (s, t)))(x, y, tx, ty))
    # an unbatched primal with a batched tangent
    close(ft.vmap(lambda a, t: ft.jvp(f, (a, y[0]), (t, 0.0 * t)), in_axes=(None, 0))(x[0], tx),
          (np.broadcast_to(np.cos(x[0]) * y[0], (3,)), -np.sin(x[0]) * y[0] * tx))


def test_reverse_mode_differentiates_what_runs():
    f, _ = sin_times(custom_vmap, fnp)
    x, y = arr(3), arr(3)
    close(ft.grad(f)(x[0], y[0]), np.cos(x[0]) * y[0])                   # the function
    close(ft.grad(lambda a: fnp.sum(ft.vmap(f)(a, y)))(x), -np.sin(x) * y)   # the rule
    close(ft.vmap(ft.grad(f))(x, y), -np.sin(x) * y)
    close(ft.vmap(ft.grad(f, argnums=1), in_axes=(0, None))(x, y[0]), np.cos(x))
    close(ft.jit(ft.vmap(ft.grad(f)))(x, y), -np.sin(x) * y)
    check_grads(f, (x[0], y[0]), order=2, modes=("fwd", "rev"))
    for h in [ft.vmap(f), ft.jit(ft.vmap(f))]:
        check_grads(h, (x, y), order=2, modes=("fwd", "rev"))
    check_grads(ft.vmap(f, in_axes=(0, None)), (x, y[0]), order=2, modes=("fwd", "rev"))

    # a rule that mixes lanes: vmap(grad) transposes the whole batch (an unbatched output's
    # cotangent is the sum of the lanes')
    @custom_vmap
    def total(x):
        return x ** 2

    @total.def_vmap
    def total_rule(axis_size, in_batched, xs):
        return fnp.sum(xs ** 3), False
    close(ft.vmap(ft.grad(total))(x), np.full(3, 3.0) * 3 * x ** 2)
    check_grads(ft.vmap(total, out_axes=None), (x,), order=2, modes=("fwd", "rev"))


def test_custom_vjp_around_custom_vmap_as_in_jax_docs():
    @ft.custom_vjp
    @custom_vmap
    def f(x, y):
        return fnp.sin(x) * y

    @f.def_vmap
    def f_vmap_rule(axis_size, in_batched, xs, ys):
        return fnp.cos(xs) * ys, True

    def f_fwd(x, y):
        return f(x, y), (fnp.cos(x), fnp.sin(x), y)

    def f_bwd(res, g):
        cos_x, sin_x, y = res
        return (cos_x * g * y, sin_x * g)
    f.defvjp(f_fwd, f_bwd)
    close(ft.vmap(f)(fnp.zeros(3), fnp.ones(3)), np.ones(3))
    close(ft.grad(f)(fnp.zeros(()), fnp.ones(())), 1.0)


def test_sequential_vmap():
    seen = []

    @sequential_vmap
    def f(x, y):
        seen.append(x.shape)
        return {"s": fnp.sin(x) * y, "n": fnp.sum(x)}

    @jcb.sequential_vmap
    def g(x, y):
        return {"s": jnp.sin(x) * y, "n": jnp.sum(x)}
    x, y = arr(4, 2), arr(2)
    want = jax.vmap(g, in_axes=(0, None))(x, y)
    for h in [ft.vmap(f, in_axes=(0, None)), ft.jit(ft.vmap(f, in_axes=(0, None)))]:
        close(h(x, y), want)
    assert seen and all(s == (2,) for s in seen)          # one lane at a time
    assert "scan" in str(ft.make_jaxpr(ft.vmap(f, in_axes=(0, None)))(x, y))
    check_grads(ft.vmap(lambda a, b: f(a, b)["s"]), (x, arr(4, 2)), order=2,
                modes=("fwd", "rev"))


def test_errors():
    x = fnp.asarray(arr(3))
    bad_rules = [
        (lambda n, inb, x: (x * 3, False),
         r"output 0 is f64\[3\] with out_batched False.*must return float64\[\]"),
        (lambda n, inb, x: (x[0], True), r"must return float64\[3\]"),
        (lambda n, inb, x: ((x, x), True), r"returned outputs of structure"),
        (lambda n, inb, x: x, r"must return a pair \(outputs, out_batched\)"),
        (lambda n, inb, x: (x.astype(np.float32), True), r"f32\[3\].*must return float64"),
        (lambda n, inb, x: (x, (True,)), r"out_batched must be a pytree of bools"),
    ]
    for rule, message in bad_rules:
        f = custom_vmap(lambda x: x * 2)
        f.def_vmap(rule)
        with pytest.raises((ValueError, TypeError), match=message):
            ft.vmap(f)(x)
    f = custom_vmap(lambda x: x * 2)
    with pytest.raises(AttributeError, match="has no vmap rule; define one with"):
        ft.vmap(f)(x)
    with pytest.raises(TypeError, match="vmap_rule must be callable"):
        f.def_vmap(3)
    g = custom_vmap(lambda x, *, k: x * k)
    g.def_vmap(lambda n, inb, x: (x, True))
    with pytest.raises(TypeError, match="keyword-only arguments"):
        ft.vmap(lambda v: g(v, k=2.0))(x)

    def closes_over(v):
        h = custom_vmap(lambda x: x * v)
        h.def_vmap(lambda n, inb, xs: (xs, True))
        return fnp.sum(ft.vmap(h)(x))
    close(closes_over(2.0), np.sum(np.asarray(x)))       # a concrete value is fine
    with pytest.raises(TypeError, match="closes over a traced value"):
        ft.grad(closes_over)(fnp.ones(()))
