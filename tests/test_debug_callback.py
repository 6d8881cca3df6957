"""ft.debug.callback and ft.experimental.io_callback: host callbacks see concrete values, as
often as JAX calls them (eagerly, under jit on every call, under vmap once per example, under
grad on the forward pass, in loops once per iteration). Each scenario runs the same program
with JAX and with functrans and compares the values the callbacks saw."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.experimental import io_callback

jax = pytest.importorskip("jax")
from jax.experimental import io_callback as jax_io_callback  # noqa: E402


def _record(seen):
    def cb(*args, **kwargs):
        seen.append(tuple(np.asarray(a).tolist() for a in args) +
                    tuple((k, np.asarray(v).tolist()) for k, v in sorted(kwargs.items())))
    return cb


def _debug_scenarios(m, mnp):
    """name -> program(callback) over the library `m` (jax or functrans), run for effects."""
    dc = m.debug.callback
    xs = mnp.asarray(np.array([0.5, 1.5, 2.5], np.float32))
    return {
        "eager": lambda cb: dc(cb, 1.0, xs, k=2.0),
        "jit, twice": lambda cb: [m.jit(lambda x: (dc(cb, x, x * 2), x)[1])(v)
                                  for v in (1.0, 3.0)],
        "vmap": lambda cb: m.vmap(lambda x, y: dc(cb, x, y), in_axes=(0, None))(xs, 7.0),
        "nested vmap": lambda cb: m.vmap(m.vmap(lambda x: dc(cb, x)))(
            mnp.reshape(mnp.arange(6.0), (2, 3))),
        "jit of vmap": lambda cb: m.jit(m.vmap(lambda x: dc(cb, x)))(xs),
        "grad": lambda cb: m.grad(lambda x: (dc(cb, x), mnp.sin(x))[1])(0.5),
        "grad of jit": lambda cb: m.grad(m.jit(lambda x: (dc(cb, x), mnp.sin(x))[1]))(0.5),
        "grad of grad": lambda cb: m.grad(m.grad(lambda x: (dc(cb, x), mnp.sin(x))[1]))(0.5),
        "jvp": lambda cb: m.jvp(lambda x: (dc(cb, x), x * x)[1], (2.0,), (1.0,)),
        "scan": lambda cb: m.lax.scan(lambda c, x: (dc(cb, c, x), (c + x, None))[1], 0.0, xs),
        "while": lambda cb: m.lax.while_loop(lambda c: c < 3.0,
                                             lambda c: (dc(cb, c), c + 1.0)[1], 0.0),
        "pytrees": lambda cb: dc(lambda d, seq: cb(d["a"], *seq), {"a": 1.0}, [xs, 2.0]),
    }


@pytest.mark.parametrize("name", list(_debug_scenarios(ft, fnp)))
def test_debug_callback_sees_what_jax_sees(name):
    got, want = [], []
    _debug_scenarios(ft, fnp)[name](_record(got))
    _debug_scenarios(jax, jax.numpy)[name](_record(want))
    jax.effects_barrier()
    assert got == want and got


def test_debug_callback_gets_arrays_and_static_leaves_as_they_are():
    seen = []

    def cb(label, x, none, n):
        seen.append((label, type(x), none, type(n)))
    ft.jit(lambda x: ft.debug.callback(cb, "x is", x, None, 3))(fnp.ones(2))
    ft.debug.callback(cb, "x is", np.ones(2), None, 3)
    assert seen == [("x is", ft.Array, None, ft.Array)] * 2


def test_debug_callback_runs_at_run_time_only_and_is_never_dropped():
    seen = []
    f = ft.jit(lambda x: (ft.debug.callback(lambda v: seen.append(float(v)), x * 2), x)[1])
    jaxpr = ft.make_jaxpr(f)(1.0)
    assert seen == []                           # tracing does not call it
    assert "debug_callback[callback=<lambda>]" in str(jaxpr)
    f(1.0)
    misses = f.cache_info().misses
    f(2.0)
    assert seen == [2.0, 4.0] and f.cache_info().misses == misses


def test_debug_callback_leaves_values_and_derivatives_alone():
    def f(x):
        ft.debug.callback(lambda v: None, x, ordered=True, partitioned=False)
        return fnp.sin(x) * x
    x = fnp.asarray(np.array([0.3, 1.2]))
    for transform in (lambda g: g, ft.jit, ft.vmap):
        np.testing.assert_allclose(transform(f)(x), np.sin([0.3, 1.2]) * [0.3, 1.2])
    ft.test_util.check_grads(lambda v: f(v).sum(), (x,), order=2, modes=["fwd", "rev"])


def test_debug_callback_refuses_a_non_callable():
    with pytest.raises(TypeError, match="must be callable, got a int"):
        ft.debug.callback(3, 1.0)


# =================================================================== io_callback
SDS = (ft.ShapeDtypeStruct((), np.float32), jax.ShapeDtypeStruct((), np.float32))


def _io_scenarios(m, mnp, io, sds):
    xs = mnp.asarray(np.array([0.5, 1.5, 2.5], np.float32))

    def double(cb):
        return lambda x: (cb(x), np.asarray(x, np.float32) * 2)[1]
    return {
        "eager": lambda cb: io(double(cb), sds, 1.0),
        "jit, twice": lambda cb: [m.jit(lambda x: io(double(cb), sds, x))(v) for v in (1., 3.)],
        "jit, result unused": lambda cb: m.jit(lambda x: (io(double(cb), sds, x), x)[1])(4.),
        "vmap": lambda cb: m.vmap(lambda x: io(double(cb), sds, x))(xs),
        "scan": lambda cb: m.lax.scan(lambda c, x: (c + io(double(cb), sds, x), None), 0., xs),
        "grad, input stopped": lambda cb: m.grad(
            lambda x: io(double(cb), sds, m.lax.stop_gradient(x)) + x)(1.0),
        "pytree results": lambda cb: io(lambda a, b: (cb(a), (a, b))[1], (sds, sds), 1., b=2.),
    }


@pytest.mark.parametrize("name", list(_io_scenarios(ft, fnp, io_callback, SDS[0])))
def test_io_callback_runs_and_returns_what_jax_does(name):
    got, want = [], []
    out = _io_scenarios(ft, fnp, io_callback, SDS[0])[name](_record(got))
    ref = _io_scenarios(jax, jax.numpy, jax_io_callback, SDS[1])[name](_record(want))
    assert got == want and got
    for a, b in zip(ft.tree_leaves(out), jax.tree_util.tree_leaves(ref)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert np.asarray(a).dtype == np.asarray(b).dtype


@pytest.mark.parametrize("case", ["ordered under vmap", "grad", "jvp"])
def test_io_callback_refuses_what_jax_refuses(case):
    def run(m, mnp, io, sds):
        def f(x):
            return io(lambda v: v, sds, x, ordered=case.startswith("ordered"))
        if case == "grad":
            return m.grad(f)(1.0)
        if case == "jvp":
            return m.jvp(f, (1.0,), (1.0,))
        return m.vmap(f)(mnp.arange(3.0))
    with pytest.raises(ValueError):
        run(jax, jax.numpy, jax_io_callback, SDS[1])
    with pytest.raises(ValueError, match="ordered=False" if case.startswith("o") else
                       "no derivative"):
        run(ft, fnp, io_callback, SDS[0])


def test_io_callback_checks_what_the_callback_returns():
    with pytest.raises(TypeError, match=r"io_callback: <lambda> returned float32\[\] as result "
                                        r"0, but result_shape_dtypes says float32\[2\]"):
        io_callback(lambda x: np.float32(x), ft.ShapeDtypeStruct((2,), np.float32), 1.0)
    assert io_callback(lambda: None, None) is None
    with pytest.raises(ValueError, match="sharding"):
        io_callback(lambda: None, None, sharding=object())


def test_experimental_namespace():
    import functrans.experimental as fe
    assert ft.experimental is fe and fe.io_callback is io_callback
    assert "io_callback" in fe.__all__
