"""ft.jit: tracing and caching per signature, compositions with every transform, static and
donated arguments, retrace reporting, errors, and the inspectable lowering."""
import logging
import warnings

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp


def _arr(*shape, dtype=np.float64, seed=0):
    return fnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


def _loss(params, x, y):
    w1, w2 = params
    return fnp.sum((fnp.maximum(x @ w1, 0) @ w2 - y) ** 2)


def _close(a, b, **kw):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), **kw)


# ------------------------------------------------------------------ basics and caching
def test_jit_matches_eager_and_caches_per_signature():
    calls = []

    def f(x, y):
        calls.append(1)
        return fnp.tanh(x) * y + 1

    jf = ft.jit(f)
    x, y = _arr(5), _arr(5, seed=1)
    _close(jf(x, y), f(x, y), rtol=0, atol=0)
    jf(x, y)
    assert len(calls) == 2                      # one eager call, one trace
    assert jf.cache_info().hits == 1 and jf.cache_info().misses == 1
    jf(_arr(6), _arr(6))                        # new shape: retrace
    jf(x.astype(fnp.float32), y.astype(fnp.float32))   # new dtype: retrace
    info = jf.cache_info()
    assert (info.misses, info.size) == (3, 3)


def test_fast_path_keeps_dtype_shape_and_type_apart():
    jf = ft.jit(lambda x: x * 2 + 1)
    for x in (np.arange(3.0), np.arange(3, dtype=np.float32), np.arange(4.0),
              np.arange(3), np.float32(2.5)):
        for _ in range(3):                      # the second and third calls hit the fast path
            out = jf(fnp.asarray(x))
            assert out.dtype == (x * 2 + 1).dtype and out.shape == np.shape(x)
            np.testing.assert_array_equal(np.asarray(out), x * 2 + 1)


def test_fast_path_keeps_modules_with_other_static_fields_apart():
    """Modules (registered pytree nodes) take the fast path too; their static fields are part
    of its key, and the results come back as modules."""
    jf = ft.jit(lambda m, x: m(x))
    x = fnp.linspace(0.0, 1.0, 5)
    for fn in (fnp.sin, fnp.cos, fnp.sin):
        for _ in range(3):
            np.testing.assert_allclose(np.asarray(jf(ft.nn.Lambda(fn), x)), np.asarray(fn(x)))
    assert jf.cache_info().misses == 2
    assert len(jf._fast) == 2

    lin = ft.nn.Linear(5, 2, key=ft.random.key(0))
    step = ft.jit(lambda m: m.replace(weight=m.weight * 2.0))
    for _ in range(3):
        out = step(lin)
        assert isinstance(out, ft.nn.Linear) and repr(out) == repr(lin)
        np.testing.assert_allclose(np.asarray(out.weight), 2 * np.asarray(lin.weight))
    assert step.cache_info().misses == 1 and len(step._fast) == 1


def test_pytrees_kwargs_and_python_scalars():
    @ft.jit
    def f(params, x, scale=1.0):
        return {"out": params["w"] @ x * scale, "n": params["b"] + 1}

    params = {"w": _arr(2, 3), "b": _arr(2)}
    x = _arr(3)
    got = f(params, x, scale=2.0)
    _close(got["out"], 2.0 * (np.asarray(params["w"]) @ np.asarray(x)))
    _close(got["n"], np.asarray(params["b"]) + 1)
    _close(f(params, np.asarray(x), 3)["out"], 3 * np.asarray(params["w"]) @ np.asarray(x))


def test_python_scalar_arguments_are_weakly_typed_inputs():
    f = ft.jit(lambda x, s: (x * s, s))
    x = _arr(3)
    out, s = f(x, 2.5)
    _close(out, 2.5 * np.asarray(x), rtol=0, atol=0)
    assert isinstance(s, ft.Array) and s.dtype == np.float32 and float(s) == 2.5
    f(x, 3.5)                                    # same signature: no retrace
    assert f.cache_info().misses == 1
    f(x, 3)
    assert "'s' (args[1]) changed from f32[] (a Python scalar) to i64[]" in \
        f.retrace_reasons[-1]


def test_cache_is_bounded_and_least_recently_used_goes_first():
    ft.config.update("jit_cache_size", 2)
    try:
        jf = ft.jit(lambda x: x + 1)
        a, b, c = _arr(1), _arr(2), _arr(3)
        jf(a), jf(b), jf(a), jf(c)              # b is the least recently used
        assert jf.cache_info().size == 2
        misses = jf.cache_info().misses
        jf(a)
        assert jf.cache_info().misses == misses
        jf(b)
        assert jf.cache_info().misses == misses + 1
    finally:
        ft.config.update("jit_cache_size", 256)


def test_retrace_reasons_name_the_argument(caplog):
    jf = ft.jit(lambda params, x: params[0] * x)
    jf((_arr(3),), _arr(3))
    ft.config.update("log_retraces", True)
    try:
        with caplog.at_level(logging.WARNING, logger="functrans.jit"):
            jf((_arr(4),), _arr(4))
    finally:
        ft.config.update("log_retraces", False)
    reason = jf.retrace_reasons[-1]
    assert "params" in reason and "f64[3] to f64[4]" in reason, reason
    assert any("retracing" in r.message and "f64[4]" in r.message for r in caplog.records)
    jf([_arr(4)], _arr(4))
    assert "structure" in jf.retrace_reasons[-1]


def test_retrace_logging_from_the_environment():
    import os
    import subprocess
    import sys
    code = ("import functrans as ft, functrans.numpy as fnp\n"
            "f = ft.jit(lambda x: x + 1)\n"
            "f(fnp.ones(2)); f(fnp.ones(3))\n")
    env = dict(os.environ, FUNCTRANS_LOG_RETRACES="1")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    run = subprocess.run([sys.executable, "-c", code], env=env, cwd=root,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "jit(<lambda>): retracing" in run.stderr and "f32[2] to f32[3]" in run.stderr


def test_equal_static_values_of_other_types_trace_apart():
    # 2 == 2.0 and 1 == True: one cache entry for both gave int32 powers and the other branch
    f = ft.jit(lambda a, p: a ** p, static_argnums=1)
    xi = np.arange(1, 4, dtype=np.int32)
    assert f(xi, 2).dtype == np.int32 and f(xi, 2.0).dtype == np.float32
    g = ft.jit(lambda a, flag: a * 7 if flag is True else a, static_argnames="flag")
    np.testing.assert_array_equal(np.asarray(g(xi, flag=1)), [1, 2, 3])
    np.testing.assert_array_equal(np.asarray(g(xi, flag=True)), [7, 14, 21])
    assert g.retrace_reasons[-1] == "static arguments changed from (flag=1) to (flag=True)"


def test_static_argument_numbers_and_names_the_function_cannot_take():
    def f(x, y=2):
        return x * y
    with pytest.raises(ValueError, match=r"static_argnums=\(5,\), but .*f \(defined .* takes 2 positional"):
        ft.jit(f, static_argnums=5)
    with pytest.raises(ValueError, match=r"static_argnames names \[.z.\], which .*f \(defined"):
        ft.jit(f, static_argnames="z")
    assert float(ft.jit(lambda *a: a[0], static_argnums=3)(1.0)) == 1.0    # (*args: any)
    assert float(ft.jit(f, static_argnums=-1)(3.0)) == 6.0


def test_static_arguments_and_their_retrace_reason():
    f = ft.jit(lambda x, n, *, mode="a": x * n if mode == "a" else x - n,
               static_argnums=1, static_argnames="mode")
    x = _arr(3)
    _close(f(x, 3), 3 * np.asarray(x))
    _close(f(x, 4, mode="b"), np.asarray(x) - 4)
    assert "static" in f.retrace_reasons[-1]
    with pytest.raises(TypeError, match="static argument 1 has unhashable type list"):
        f(x, [1])


def test_non_array_argument_error_names_the_path():
    f = ft.jit(lambda params: params["w"] * 2)
    with pytest.raises(TypeError, match=r"'params' \(args\[0\]\['w'\]\).*str"):
        f({"w": "hello"})


# ------------------------------------------------------------------ control flow errors
def test_python_if_on_traced_value_names_value_line_argument_and_fixes():
    def f(x, n):
        if n > 0:                               # the offending line
            return x * 2
        return x

    with pytest.raises(ft.ConcretizationError) as info:
        ft.jit(f)(_arr(3), fnp.asarray(2))
    msg = str(info.value)
    assert "bool[]" in msg and "bool()" in msg
    assert "test_jit.py" in msg and "(in f)" in msg
    assert "'n'" in msg and "static" in msg
    assert "ft.lax.cond" in msg
    # marking it static fixes it
    g = ft.jit(f, static_argnums=1)
    _close(g(_arr(3), 2), 2 * np.asarray(_arr(3)))


# ------------------------------------------------------------------ compositions
def test_grad_of_jit_and_jit_of_grad_agree_with_eager():
    params = (_arr(5, 4), _arr(4, 2, seed=1))
    x, y = _arr(3, 5, seed=2), _arr(3, 2, seed=3)
    want = ft.grad(_loss)(params, x, y)
    for got in (ft.grad(ft.jit(_loss))(params, x, y), ft.jit(ft.grad(_loss))(params, x, y)):
        for a, b in zip(got, want):
            _close(a, b, rtol=1e-12)


def test_vmap_of_jit_and_jit_of_vmap_and_jit_in_jit():
    w = _arr(4, 3)
    f = lambda x: fnp.tanh(x @ w).sum()    # noqa: E731
    xs = _arr(6, 4, seed=1)
    want = np.array([float(f(x)) for x in xs])
    _close(ft.vmap(ft.jit(f))(xs), want, rtol=1e-12)
    _close(ft.jit(ft.vmap(f))(xs), want, rtol=1e-12)
    inner = ft.jit(lambda x: x * 2)
    outer = ft.jit(lambda x: inner(x) + inner(x + 1))
    _close(outer(xs), 4 * np.asarray(xs) + 2)
    assert "jit" not in str(outer.lower(xs).compile().jaxpr)     # inlined


def test_jvp_and_hessian_through_jit():
    f = ft.jit(lambda x: fnp.sum(fnp.sin(x) ** 2))
    x, t = _arr(4), _arr(4, seed=1)
    out, tan = ft.jvp(f, (x,), (t,))
    xv, tv = np.asarray(x), np.asarray(t)
    _close(tan, np.sum(2 * np.sin(xv) * np.cos(xv) * tv), rtol=1e-12)
    _close(ft.hessian(f)(x), np.diag(2 * np.cos(2 * xv)), rtol=1e-10, atol=1e-12)


def test_jit_closing_over_outer_tracer_is_retraced_per_call():
    def outer(a):
        return ft.jit(lambda x: x * a)(fnp.ones(3)).sum()

    assert float(ft.grad(outer)(fnp.asarray(2.0))) == 3.0


# ------------------------------------------------------------------ donation
def test_donated_argument_memory_is_reused_and_the_array_invalidated():
    @ft.jit
    def plain(w, g):
        return w - 0.1 * g

    step = ft.jit(lambda w, g: w - 0.1 * g, donate_argnums=0)
    w, g = _arr(64, 64), _arr(64, 64, seed=1)
    w_np = np.asarray(w).copy()
    raw_id = id(w._value)                       # (holding the array would refuse donation)
    out = step(w, g)
    _close(out, w_np - 0.1 * np.asarray(g), rtol=0, atol=0)
    assert id(out._value) == raw_id             # written into the donated buffer
    with pytest.raises(RuntimeError, match="donated"):
        w + 1
    # without donation the input is untouched
    w2 = fnp.asarray(w_np.copy())
    plain(w2, g)
    np.testing.assert_array_equal(np.asarray(w2), w_np)


def test_donation_is_refused_when_someone_else_sees_the_memory():
    step = ft.jit(lambda w: w * 3.0, donate_argnums=0)
    base = np.ones((64, 64))
    w = fnp.asarray(base)                       # the user still holds `base`
    keep = base.copy()
    if w._value is base:                        # asarray shared the buffer
        out = step(w)
        np.testing.assert_array_equal(base, keep)
        assert out._value is not base
    same = _arr(64, 64)
    both = ft.jit(lambda a, b: a * 2 + b, donate_argnums=0)
    copy = np.asarray(same).copy()
    _close(both(same, same), 3 * copy, rtol=0, atol=0)     # the same array twice: not reused
    np.testing.assert_array_equal(np.asarray(same), copy)


# ------------------------------------------------------------------ inspection
def test_lower_shows_jaxprs_and_generated_code():
    f = ft.jit(lambda x: fnp.exp(x) * 1.0 + 0.0)
    text = f.lower(_arr(3)).as_text()
    assert "# jaxpr" in text and "# optimized jaxpr" in text and "# generated code" in text
    assert "def " in text and "exp(a0)" in text
    code = text.split("# generated code")[1]
    assert "multiply" not in code and "add(" not in code   # x*1 and x+0 are gone
    lowered = f.lower(ft.ShapeDtypeStruct((3,), np.float32))
    assert "f32[3]" in lowered.as_text()


def test_python_scalar_arguments_keep_their_traced_dtype():
    """A Python float is a weakly typed float32 in the trace, as in JAX: an operation on it
    alone gives float32 (NumPy would compute float64), while next to a float64 array it
    stays exact (0.1, not float32's 0.1); the same through checkpoint's eager evaluation."""
    sin = ft.jit(lambda x: fnp.sin(x))
    assert sin(1.0).dtype == np.float32
    np.testing.assert_allclose(sin(1.0), np.sin(np.float32(1.0)), rtol=1e-7)
    scaled = ft.jit(lambda x, s: x * s)(fnp.ones(2, dtype=np.float64), 0.1)
    assert scaled.dtype == np.float64 and np.asarray(scaled)[0] == 0.1
    assert ft.jit(lambda x, s: x + s)(fnp.ones(2, dtype=np.float16), 1.0).dtype == np.float16
    assert ft.checkpoint(lambda x: fnp.sin(x))(1.0).dtype == np.float32
    assert ft.grad(ft.jit(lambda x: fnp.sin(x)))(1.0).dtype == np.float32


# ------------------------------------------------------------------ floating-point warnings
@pytest.mark.parametrize("threads", [False, True])
def test_compiled_code_is_quiet_about_discarded_branches(threads):
    # JAX's and PyTorch's compiled code never warns about a log of 0 that `where` discards;
    # the user's NumPy error state is theirs again after the call, and after an error
    with ft.default_device(ft.devices("cpu")[0]):       # (host programs: NumPy's warnings)
        _quiet_about_discarded_branches(threads)


def _quiet_about_discarded_branches(threads):
    n = 512 if threads else 3

    def f(x):
        y = fnp.where(x > 0, fnp.log(x), 0.0) + fnp.sum(fnp.where(x != 0, 1 / x, 0.0))
        return y @ x if threads else y     # (a large product: split over the threads)
    jf = ft.jit(f)
    x = np.full((n, n), 2.0)
    x[0, :2] = 0.0, -1.0
    before = np.geterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for arg in (x, x, fnp.asarray(x), fnp.asarray(x)):     # first calls and fast paths
            y = np.asarray(jf(arg))
    assert ("par_enter" in jf.lower(x).as_text()) == threads
    with np.errstate(all="ignore"):
        want = np.where(x > 0, np.log(x), 0.0) + np.sum(np.where(x != 0, 1 / x, 0.0))
        want = want @ x if threads else want
    np.testing.assert_allclose(y, want, rtol=1e-12)
    assert np.geterr() == before
    with pytest.warns(RuntimeWarning):                # eager NumPy, outside: as before
        np.log(np.zeros(1))

    def fails(v):
        raise ValueError("from the callback")
    bad = ft.jit(lambda v: ft.pure_callback(fails, v, v) / 0)
    with pytest.raises(Exception):
        bad(1.0)
    assert np.geterr() == before
