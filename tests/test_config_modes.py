"""JAX's trace-affecting settings (functrans.config, functrans/toplevel.py):
numpy_rank_promotion, numpy_dtype_promotion, log_compiles, explain_cache_misses,
enable_checks and check_tracer_leaks, against JAX where JAX has the same behaviour."""
import logging
import warnings

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.dtypes import TypePromotionError
from functrans.interpreters.checks import check_jaxpr, JaxprTypeError


def _raises(f):
    try:
        f()
    except Exception as e:          # noqa: BLE001 (the kind is compared below)
        return type(e)
    return None


RANK_CASES = [
    ("add", lambda m, a, b: m.add(a, b)),
    ("operator", lambda m, a, b: a * b),
    ("arctan2", lambda m, a, b: m.arctan2(a, b)),
    ("equal", lambda m, a, b: a == b),
    ("clip", lambda m, a, b: m.clip(a, b, 5.0)),
    ("where", lambda m, a, b: m.where(a > 0, b, 0.0)),
    ("scalar", lambda m, a, b: m.add(a, 1.0)),
    ("0-d array", lambda m, a, b: m.add(a, m.asarray(2.0))),
    ("same rank", lambda m, a, b: m.add(a, m.ones((1, 3)))),
    ("matmul", lambda m, a, b: m.matmul(m.ones((2, 2, 3)), m.ones((3, 4)))),
    ("jit", lambda m, a, b: _jit(m)(lambda x, y: x - y)(a, b)),
]


def _jit(m):
    if m is fnp:
        return ft.jit
    import jax
    return jax.jit


@pytest.mark.parametrize("name,op", RANK_CASES, ids=[c[0] for c in RANK_CASES])
def test_rank_promotion_raise_matches_jax(name, op):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    with jax.numpy_rank_promotion("raise"):
        want = _raises(lambda: op(jnp, jnp.ones((2, 3)), jnp.ones(3)))
    with ft.numpy_rank_promotion("raise"):
        got = _raises(lambda: op(fnp, fnp.ones((2, 3)), fnp.ones(3)))
    assert got is want                      # ValueError or None
    np.testing.assert_allclose(op(fnp, fnp.ones((2, 3)), fnp.ones(3)),
                               op(jnp, jnp.ones((2, 3)), jnp.ones(3)))


def test_rank_promotion_raise_message_warn_and_restore():
    a, b = fnp.ones((2, 3)), fnp.arange(3.0)
    with ft.numpy_rank_promotion("raise"):
        with pytest.raises(ValueError, match=r"subtract: operands of shapes \(2, 3\) \(3,\) "
                                             "have different ranks"):
            a - b
        with pytest.raises(ValueError, match="different ranks"):
            fnp.copysign(a, b)
        out = ft.vmap(lambda x: x + b)(a)       # per example the ranks agree
        np.testing.assert_allclose(out, np.ones((2, 3)) + np.arange(3.0))
    with ft.numpy_rank_promotion("warn"):
        with pytest.warns(UserWarning, match="implicit rank promotion"):
            out = a + b
    np.testing.assert_allclose(out, np.ones((2, 3)) + np.arange(3.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a + b                                   # "allow" again
    assert ft.config.numpy_rank_promotion == "allow"
    with pytest.raises(ValueError, match="must be one of 'allow', 'warn', 'raise'"):
        ft.config.update("numpy_rank_promotion", "never")


def test_rank_promotion_is_part_of_jits_cache_key():
    f = ft.jit(lambda x, y: x * y)
    a, b = fnp.ones((2, 3)), fnp.ones(3)
    f(a, b)
    f(a, b)                                     # cached (and on the fast path)
    with ft.numpy_rank_promotion("raise"):
        with pytest.raises(ValueError, match="different ranks"):
            f(a, b)
    assert f(a, b).shape == (2, 3)
    assert "numpy_rank_promotion from 'allow' to 'raise'" in f.retrace_reasons[-1]


DTYPE_CASES = [(dt, sc) for dt in ["bool", "uint8", "int32", "float32", "complex64"]
               for sc in [True, 2, 1.5, 1j]]


@pytest.mark.parametrize("dt,scalar", DTYPE_CASES)
def test_strict_promotion_of_weak_scalars_matches_jax(dt, scalar):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    with jax.numpy_dtype_promotion("strict"):
        want = _raises(lambda: jnp.ones(3, dt) + scalar)
    with ft.numpy_dtype_promotion("strict"):
        got = _raises(lambda: fnp.ones(3, dt) + scalar)
        got_jit = _raises(lambda: ft.jit(lambda x, s: x + s)(fnp.ones(3, dt), scalar))
    assert (got, got_jit) == ((TypePromotionError,) * 2 if want else (None, None))


STRICT_OPS = [
    ("add", lambda m, a, b: m.add(a, b)),
    ("where", lambda m, a, b: m.where(True, a, b)),
    ("concatenate", lambda m, a, b: m.concatenate([a, b])),
    ("promote_types", lambda m, a, b: m.promote_types(a.dtype, b.dtype)),
    ("result_type", lambda m, a, b: m.result_type(a, b)),
    ("jit", lambda m, a, b: _jit(m)(lambda x, y: x * y)(a, b)),
    ("astype", lambda m, a, b: a.astype(b.dtype) + b),
    ("mean of ints", lambda m, a, b: m.mean(m.ones(3, "int32"))),
    ("true divide", lambda m, a, b: m.ones(3, "int32") / m.ones(3, "int32")),
]


@pytest.mark.parametrize("pair", [("float32", "float64"), ("int32", "int64"),
                                  ("int32", "float32"), ("bool", "int32"),
                                  ("float32", "float32")])
@pytest.mark.parametrize("name,op", STRICT_OPS, ids=[c[0] for c in STRICT_OPS])
def test_strict_promotion_of_arrays_matches_jax(name, op, pair):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    x64 = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        with jax.numpy_dtype_promotion("strict"):
            want = _raises(lambda: op(jnp, jnp.ones(3, pair[0]), jnp.ones(3, pair[1])))
    finally:
        jax.config.update("jax_enable_x64", x64)
    with ft.numpy_dtype_promotion("strict"):
        got = _raises(lambda: op(fnp, fnp.ones(3, pair[0]), fnp.ones(3, pair[1])))
    assert got is (TypePromotionError if want else None), (want, got)


def test_strict_promotion_message_and_standard_again():
    with ft.numpy_dtype_promotion("strict"):
        with pytest.raises(TypePromotionError, match="float32, float64 have no implicit "
                                                     "promotion path"):
            fnp.ones(3, "float32") + np.ones(3)
        g = ft.grad(lambda x: fnp.sum(fnp.tanh(x) * 2.0))(fnp.ones(3))     # one dtype: fine
    assert g.dtype == np.float32
    assert (fnp.ones(3, "float32") + np.ones(3)).dtype == np.float64
    with pytest.raises(ValueError, match="'standard', 'strict'"):
        ft.config.update("jax_numpy_dtype_promotion", "loose")
    ft.config.update("jax_numpy_dtype_promotion", "strict")
    try:
        assert ft.config.jax_numpy_dtype_promotion == "strict"
        with pytest.raises(TypePromotionError):
            fnp.ones(3, "int32") + fnp.ones(3, "int64")
    finally:
        ft.config.update("numpy_dtype_promotion", "standard")


def test_log_compiles_logs_each_compilation(caplog):
    def scaled(x, y):
        return x * y
    f = ft.jit(scaled)
    with caplog.at_level(logging.WARNING, logger="functrans.compiler"):
        f(fnp.ones(3), 2.0)
        assert not caplog.records              # off by default
        with ft.log_compiles():
            f(fnp.ones(4), 2.0)
            f(fnp.ones(4), 3.0)                 # cached: not compiled again
    assert len(caplog.records) == 1
    where = ft.backends.default_device_now()
    assert f"Compiled scaled for {where} with input types (f32[4], f32[])" in caplog.text


def test_explain_cache_misses_logs_what_changed(caplog):
    def plus(x, n):
        return x + n
    f = ft.jit(plus, static_argnums=1)
    f(fnp.ones(3), 1)
    with caplog.at_level(logging.WARNING, logger="functrans.jit"), \
            ft.explain_cache_misses():
        assert ft.config.jax_explain_cache_misses
        f(fnp.ones(4), 1)
        f(fnp.ones(4), 2)
        f(fnp.ones(4, "int32"), 2)
    assert not ft.config.log_retraces
    text = caplog.text
    assert "changed from f32[3] to f32[4]" in text
    assert "static arguments changed from (1=1) to (1=2)" in text
    assert "changed from f32[4] to i32[4]" in text


def test_enable_checks_type_checks_traced_jaxprs():
    with ft.enable_checks():
        out = ft.jit(ft.grad(lambda x: fnp.sum(ft.lax.fori_loop(
            0, 3, lambda i, c: fnp.sin(c) * 2, x))))(fnp.ones(3))
    want = ft.grad(lambda x: fnp.sum(ft.lax.fori_loop(
        0, 3, lambda i, c: fnp.sin(c) * 2, x)))(fnp.ones(3))
    np.testing.assert_allclose(out, want, rtol=1e-6)
    closed = ft.make_jaxpr(lambda x: fnp.sin(x) * 2)(fnp.ones(3))
    check_jaxpr(closed)
    jaxpr = closed.jaxpr
    eqn = jaxpr.eqns[0]
    bad_out = type(eqn.outvars[0])(ft.core.ShapedArray((4,), np.float32))
    jaxpr.eqns[0] = eqn.replace(outvars=[bad_out])
    with pytest.raises(JaxprTypeError, match="equation 0, sin has outputs"):
        check_jaxpr(jaxpr)
    jaxpr.eqns[0] = eqn
    jaxpr.eqns.reverse()
    with pytest.raises(JaxprTypeError, match="read before it is bound"):
        check_jaxpr(jaxpr)


def test_check_tracer_leaks_finds_a_kept_tracer():
    kept = []

    def leaks(x):
        y = fnp.sin(x)
        kept.append(y)
        return y * 2

    def clean(x):
        return fnp.sum(fnp.cos(x) * ft.lax.fori_loop(0, 2, lambda i, c: c + 1.0, x))
    ft.jit(leaks)(fnp.ones(3))                  # not checked: no error
    kept.clear()
    with ft.checking_leaks():
        with pytest.raises(ft.UnexpectedTracerError, match=r"jit\(leaks\) leaked 1 tracer"):
            ft.jit(leaks)(fnp.ones(2))
        kept.clear()
        np.testing.assert_allclose(ft.jit(ft.grad(clean))(fnp.ones(3)),
                                   ft.grad(clean)(fnp.ones(3)), rtol=1e-6)
    assert not ft.config.check_tracer_leaks
