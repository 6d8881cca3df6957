"""JAX's smaller top-level functions: custom_gradient, linear_transpose, closure_convert,
named_call, disable_jit, ensure_compile_time_eval, clear_caches and pure_callback (under jit, vmap with
each vmap_method, and grad through custom_jvp)."""
import inspect

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp


# ------------------------------------------------------------------ custom_gradient
def test_custom_gradient():
    @ft.custom_gradient
    def clipped_sin(x):
        return fnp.sin(x), lambda g: (fnp.clip(g * fnp.cos(x), -0.5, 0.5),)
    x = np.array([0.0, 1.0, 2.0])
    np.testing.assert_allclose(np.asarray(clipped_sin(x)), np.sin(x))
    g = ft.grad(lambda x: clipped_sin(x).sum())(x)
    np.testing.assert_allclose(np.asarray(g), np.clip(np.cos(x), -0.5, 0.5))
    np.testing.assert_allclose(np.asarray(ft.jit(ft.grad(lambda x: clipped_sin(x).sum()))(x)),
                               np.asarray(g))
    np.testing.assert_allclose(np.asarray(ft.vmap(ft.grad(clipped_sin))(x)), np.asarray(g))

    @ft.custom_gradient
    def product(x, y):
        return x * y, lambda ct: (ct * y * 10, ct * x)       # deliberately not the true vjp
    gx, gy = ft.grad(product, argnums=(0, 1))(2.0, 3.0)
    assert (float(gx), float(gy)) == (30.0, 2.0)

    @ft.custom_gradient
    def wrong(x, y):
        return x * y, lambda ct: (ct,)
    with pytest.raises(TypeError, match="returned 1 cotangents for 2 arguments"):
        ft.grad(wrong)(1.0, 2.0)


# ------------------------------------------------------------------ linear_transpose
def test_linear_transpose():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 3))

    def f(x):
        return {"mat": a @ x["v"], "sum": 3.0 * x["v"].sum() - x["w"][::-1].sum()}
    primals = {"v": np.zeros(3), "w": ft.ShapeDtypeStruct((2,), np.float64)}
    t = ft.linear_transpose(f, primals)
    ct = {"mat": np.array([1.0, -2.0]), "sum": np.float64(0.5)}
    (got,) = t(ct)
    np.testing.assert_allclose(np.asarray(got["v"]), a.T @ ct["mat"] + 1.5)
    np.testing.assert_allclose(np.asarray(got["w"]), [-0.5, -0.5])
    # <f(x), y> == <x, f^T(y)>
    x = {"v": rng.normal(size=3), "w": rng.normal(size=2)}
    lhs = np.dot(np.asarray(f(x)["mat"]), ct["mat"]) + float(f(x)["sum"]) * 0.5
    rhs = np.dot(x["v"], np.asarray(got["v"])) + np.dot(x["w"], np.asarray(got["w"]))
    assert abs(lhs - rhs) < 1e-12
    np.testing.assert_allclose(np.asarray(ft.jit(t)(ct)[0]["v"]), np.asarray(got["v"]))
    with pytest.raises(TypeError, match="not linear"):
        ft.linear_transpose(lambda x: x + 1.0, np.zeros(3))
    with pytest.raises(TypeError, match="cotangent leaf 0 is f32\\[2\\]"):
        ft.linear_transpose(lambda x: a @ x, np.zeros(3))(np.ones(2, np.float32))
    with pytest.raises(TypeError, match="dtype int64"):
        ft.linear_transpose(lambda x: 2 * x, np.zeros(3, np.int64))


@pytest.mark.parametrize("fn, what", [
    (fnp.sin, "sin to a value"), (lambda x: x * x, "mul of two values"),
    (lambda x: fnp.dot(x, x), "dot_general of two values"), (lambda x: 2.0 / x, "div to"),
    (lambda x: fnp.where(x > 0, x, 0.0), "gt to"), (lambda x: x.max(), "reduce_max to"),
    (ft.jit(lambda x: fnp.exp(x) - 1), "exp to"), (fnp.abs, "abs to")])
def test_linear_transpose_refuses_non_linear_functions(fn, what):
    # (it returned the transpose of the derivative at zero: sin gave ones, x * x zeros)
    with pytest.raises(TypeError, match=f"is not linear: it applies {what}"):
        ft.linear_transpose(fn, np.zeros(3))


def test_linear_transpose_of_linear_pieces():
    x, ct = np.arange(1.0, 4.0), np.array([1.0, -2.0, 0.5])
    mask = np.array([True, False, True])
    for fn in (lambda v: v / 2.0, lambda v: fnp.where(mask, v, 0.0), fnp.cumsum,
               lambda v: v[::-1][fnp.array([0, 2, 2])], ft.jit(lambda v: 3 * v - v),
               lambda v: ft.lax.scan(lambda c, e: (c + e, 2 * e), 0.0, v)[1],
               lambda v: fnp.fft.fft(v).real):
        (got,) = ft.linear_transpose(fn, x)(ct)      # <f(x), ct> == <x, f^T(ct)>
        np.testing.assert_allclose(np.dot(np.asarray(fn(x)), ct), np.dot(x, np.asarray(got)),
                                   rtol=1e-12)


# ------------------------------------------------------------------ closure_convert
def test_closure_convert():
    def outer(c):
        def inner(x):
            return fnp.sin(x) * c
        converted, consts = ft.closure_convert(inner, 1.0)
        return converted(2.0, *consts), len(consts)
    value, n = outer(3.0)
    assert n == 0 and abs(float(value) - 3 * np.sin(2.0)) < 1e-6     # float32, as in JAX
    g = ft.grad(lambda c: outer(c)[0])(3.0)
    assert abs(float(g) - np.sin(2.0)) < 1e-6

    # the use it exists for: a custom_vjp whose backward pass must reach the closed-over c
    def apply(fn, x, *consts):
        return fn(x, *consts)
    apply = ft.custom_vjp(apply, nondiff_argnums=(0,))

    def fwd(fn, x, *consts):
        return fn(x, *consts), (x, consts)

    def bwd(fn, res, ct):
        x, consts = res
        return ft.vjp(fn, x, *consts)[1](ct)
    apply.defvjp(fwd, bwd)

    def solve_like(c, x):
        conv, consts = ft.closure_convert(lambda x: fnp.sin(x) * c, x)
        return apply(conv, x, *consts)
    gc, gx = ft.grad(solve_like, argnums=(0, 1))(3.0, 2.0)
    assert abs(float(gc) - np.sin(2.0)) < 1e-6 and abs(float(gx) - 3 * np.cos(2.0)) < 1e-6
    conv, consts = ft.closure_convert(lambda x: x * 2.0, np.ones(2))
    with pytest.raises(TypeError, match="structured like the examples"):
        conv(np.ones(2), np.ones(2))


def test_closure_convert_hoists_only_traced_values():
    captured = {}

    def f(c, k):
        d = np.float64(5.0)                              # a constant: stays closed over
        conv, consts = ft.closure_convert(lambda x: x * c + d + k[0], 1.0)  # k: ints
        captured["kinds"] = [h.dtype.kind for h in consts]
        return conv(2.0, *consts)
    out = ft.jvp(lambda c: f(c, np.array([4])), (3.0,), (1.0,))
    assert [float(v) for v in out] == [15.0, 2.0] and captured["kinds"] == ["f"]
    out = ft.jit(lambda c, k: ft.jvp(lambda c: f(c, k), (c,), (1.0,)))(3.0, np.array([4]))
    assert [float(v) for v in out] == [15.0, 2.0]
    assert "i" not in captured["kinds"]                  # the traced ints stay closed over


# ------------------------------------------------------------------ named_call
def test_named_call():
    def layer(w, x):
        return fnp.tanh(x @ w)
    dense = ft.named_call(layer, name="dense")
    assert ft.named_call(layer).__name__ == "layer"

    def loss(w, x):
        return dense(w, x).sum()
    w, x = np.linspace(-1, 1, 6).reshape(3, 2), np.arange(6.0).reshape(2, 3) / 10
    text = str(ft.make_jaxpr(loss)(w, x))
    assert "named_call[name='dense']" in text and "tanh" in text
    assert "named_call" in ft.jit(ft.grad(loss)).lower(w, x).as_text()
    np.testing.assert_allclose(np.asarray(loss(w, x)), np.tanh(x @ w).sum())
    np.testing.assert_allclose(np.asarray(ft.jit(loss)(w, x)), np.tanh(x @ w).sum())
    ft.test_util.check_grads(ft.jit(loss), (w, x), order=2, modes=("fwd", "rev"))
    per_row = ft.jit(ft.vmap(dense, (None, 0)))(w, x)
    np.testing.assert_allclose(np.asarray(per_row), np.tanh(x @ w))


# ------------------------------------------------------------------ jit controls
def test_disable_jit_runs_python_and_nests():
    seen = []

    @ft.jit
    def f(x):
        seen.append(type(x).__name__)
        return x * 2
    f(1.0)
    with ft.disable_jit():
        assert float(f(np.float64(2.0))) == 4.0
        assert seen[-1] == "float64"                    # the Python code ran on the value
        with ft.disable_jit(False):
            f(np.ones(3))
            assert seen[-1] != "ndarray"                # compiled: traced with a tracer
    n = len(seen)
    f(1.0)
    assert len(seen) == n                               # cached again, not re-run


def test_clear_caches():
    traces = []

    @ft.jit
    def f(x):
        traces.append(1)
        return x + 1
    f(1.0)
    f(2.0)
    assert len(traces) == 1
    ft.clear_caches()
    f(3.0)
    assert len(traces) == 2 and f.cache_info().misses == 2


def test_ensure_compile_time_eval():
    kinds = []

    @ft.jit
    def f(x):
        with ft.ensure_compile_time_eval():
            n = ft.lax.fori_loop(0, 4, lambda i, c: c + i, 0)
            m = ft.lax.cond(n > 5, lambda: n * 2, lambda: n)
            kinds.append((type(n).__name__, type(m).__name__))
            k = int(m)                                   # concrete: usable in Python
        return x * k
    assert float(f(1.0)) == 12.0
    assert kinds == [("Array", "Array")]
    with pytest.raises(ft.ConcretizationError):
        @ft.jit
        def g(x):
            with ft.ensure_compile_time_eval():
                return int(x)                            # a traced value stays traced
        g(1.0)


# ------------------------------------------------------------------ pure_callback
def _spec(x):
    return ft.ShapeDtypeStruct(x.shape, x.dtype)


def test_pure_callback_eager_jit_and_pytrees():
    calls = []

    def host(x, scale=1.0):
        calls.append(type(x))
        return {"s": np.sinc(x) * scale, "n": np.array(x.size)}
    x = np.linspace(0, 1, 4)
    shapes = {"s": _spec(x), "n": ft.ShapeDtypeStruct((), np.int64)}
    out = ft.pure_callback(host, shapes, x, scale=2.0)
    np.testing.assert_allclose(np.asarray(out["s"]), 2 * np.sinc(x))
    assert int(out["n"]) == 4 and calls == [np.ndarray]

    @ft.jit
    def f(x):
        return ft.pure_callback(host, shapes, x)["s"] * 3
    np.testing.assert_allclose(np.asarray(f(x)), 3 * np.sinc(x))
    np.testing.assert_allclose(np.asarray(f(x)), 3 * np.sinc(x))
    assert len(calls) == 3 and all(c is np.ndarray for c in calls)   # runs at each call
    with pytest.raises(TypeError, match=r"returned float64\[4\] as result 0, but "
                                        r"result_shape_dtypes says float32\[4\]"):
        ft.pure_callback(lambda x: x, ft.ShapeDtypeStruct((4,), np.float32), x)
    with pytest.raises(TypeError, match="returned a"):
        ft.pure_callback(lambda x: (x, x), _spec(x), x)
    with pytest.raises(TypeError, match="leaf 0 is a int"):
        ft.pure_callback(lambda x: x, 3, x)
    with pytest.raises(ValueError, match="vmap_method must be one of"):
        ft.pure_callback(lambda x: x, _spec(x), x, vmap_method="loop")


@pytest.mark.parametrize("method", ["sequential", "expand_dims", "broadcast_all"])
def test_pure_callback_vmap_methods(method):
    seen = []

    def host(a, b):
        seen.append((a.shape, b.shape))
        return np.broadcast_to(a * b + 1, np.broadcast_shapes(a.shape, b.shape))
    xs, y = np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0, 3.0])

    def f(a, b):
        return ft.pure_callback(host, _spec(a), a, b, vmap_method=method)
    out = ft.vmap(f, (0, None))(xs, y)
    np.testing.assert_allclose(np.asarray(out), xs * y + 1)
    expected = {"sequential": [((3,), (3,))] * 2, "expand_dims": [((2, 3), (1, 3))],
                "broadcast_all": [((2, 3), (2, 3))]}[method]
    assert seen == expected
    seen.clear()
    jitted = ft.jit(ft.vmap(f, (0, None)))(xs, y)
    np.testing.assert_allclose(np.asarray(jitted), xs * y + 1)
    nested = ft.vmap(ft.vmap(f, (0, None)), (None, 0))(xs, np.stack([y, 2 * y]))
    want = np.stack([xs * y + 1, xs * 2 * y + 1])
    np.testing.assert_allclose(np.asarray(nested), want)


def test_pure_callback_errors_under_transforms_and_custom_jvp():
    x = np.array([0.5, 1.5])
    with pytest.raises(NotImplementedError, match="no vmap_method was given"):
        ft.vmap(lambda a: ft.pure_callback(np.sin, _spec(a), a))(np.ones((2, 2)))
    with pytest.raises(TypeError, match="has no derivative"):
        ft.grad(lambda a: ft.pure_callback(np.sin, _spec(a), a).sum())(x)

    @ft.custom_jvp
    def host_sin(a):
        return ft.pure_callback(np.sin, _spec(a), a, vmap_method="sequential")

    @host_sin.defjvp
    def _(primals, tangents):
        (a,), (t,) = primals, tangents
        return host_sin(a), ft.pure_callback(np.cos, _spec(a), a,
                                             vmap_method="sequential") * t
    ft.test_util.check_grads(host_sin, (x,), order=1, modes=("fwd", "rev"))
    np.testing.assert_allclose(np.asarray(ft.jit(ft.vmap(ft.grad(host_sin)))(x)), np.cos(x))


# ------------------------------------------------------------------ against JAX
NAMES = ["custom_gradient", "linear_transpose", "closure_convert", "disable_jit",
         "ensure_compile_time_eval", "pure_callback", "clear_caches", "named_call"]


@pytest.mark.parametrize("name", NAMES)
def test_signatures_match_jax(name):
    jax = pytest.importorskip("jax")

    def params(fn):
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]
    assert params(getattr(ft, name)) == params(getattr(jax, name))


def test_values_match_jax():
    jax = pytest.importorskip("jax")
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    ours = ft.linear_transpose(lambda x: (a @ x, x.sum()), np.zeros(3, np.float32))
    theirs = jax.linear_transpose(lambda x: (a @ x, x.sum()), np.zeros(3, np.float32))
    # (a Python 2.0 is float64 to JAX while another test has x64 on)
    ct = (np.ones(2, np.float32), np.float32(2.0))
    np.testing.assert_allclose(np.asarray(ours(ct)[0]), np.asarray(theirs(ct)[0]))

    def host(a, b):
        return (a * b + 1).astype(np.float32)
    xs, y = np.arange(6.0, dtype=np.float32).reshape(2, 3), np.ones(3, np.float32)
    spec = jax.ShapeDtypeStruct((3,), np.float32)
    for method in ("sequential", "expand_dims", "broadcast_all"):
        def f_ft(a, b):
            return ft.pure_callback(host, spec, a, b, vmap_method=method)

        def f_jax(a, b):
            return jax.pure_callback(host, spec, a, b, vmap_method=method)
        np.testing.assert_allclose(np.asarray(ft.vmap(f_ft, (0, None))(xs, y)),
                                   np.asarray(jax.vmap(f_jax, (0, None))(xs, y)))
