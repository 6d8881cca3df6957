"""JAX's `accuracy=` of the transcendental lax functions (`lax.Tolerance`, `lax.AccuracyMode`):
checked as JAX checks it, recorded on the equation, and changing no value (every kernel is at
full accuracy) under jit, vmap and grad; and `precision=` of products and convolutions,
refused where JAX refuses it."""
import inspect
import re

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.test_util import check_grads

jax = pytest.importorskip("jax")
jlax = jax.lax

NAMES = ["exp", "exp2", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "logistic",
         "sqrt", "rsqrt", "cbrt"]
TOL = lax.Tolerance(atol=1e-3, rtol=1e-4, ulps=2)
ACCURACIES = [None, TOL, lax.AccuracyMode.HIGHEST, lax.AccuracyMode.DEFAULT]


def _x(shape=(5,)):
    return np.random.default_rng(0).uniform(0.2, 1.2, shape)     # in every domain


def test_the_functions_taking_accuracy_are_jax_s():
    takes = {n for n in dir(jlax) if not n.startswith("_") and callable(getattr(jlax, n))
             and "accuracy" in _params(getattr(jlax, n))}
    assert takes == set(NAMES)
    for n in NAMES:
        assert str(inspect.signature(getattr(lax, n))) == "(x, *, accuracy=None)"


def _params(f):
    try:
        return inspect.signature(f).parameters
    except (TypeError, ValueError):
        return {}


@pytest.mark.parametrize("name", NAMES)
def test_values_against_jax_under_jit_and_vmap(name):
    f = getattr(lax, name)
    x = _x((3, 5))
    want = np.asarray(getattr(jlax, name)(x))       # JAX with float32 inputs by default
    for acc in ACCURACIES:
        def h(x):
            return f(x, accuracy=acc)
        for g in (h, ft.jit(h), ft.vmap(h), ft.jit(ft.vmap(h))):
            got = g(x.astype(np.float32))
            assert got.dtype == np.float32
            np.testing.assert_allclose(np.asarray(got), want, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(f(x, accuracy=TOL)), np.asarray(f(x)), rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_derivatives_with_an_accuracy(name):
    f = getattr(lax, name)
    x = fnp.asarray(_x())
    for acc in ACCURACIES[1:]:
        got = ft.grad(lambda x: fnp.sum(f(x, accuracy=acc)))(x)
        np.testing.assert_allclose(np.asarray(got),
                                   np.asarray(ft.grad(lambda x: fnp.sum(f(x)))(x)), rtol=1e-14)
    check_grads(lambda x: f(x, accuracy=TOL), (x,), order=2, modes=("fwd", "rev"))


def test_make_jaxpr_records_the_accuracy_as_jax_does():
    x = np.float32(0.5)
    jaxpr = ft.make_jaxpr(lambda x: lax.exp(x, accuracy=TOL))(x)
    assert [e.primitive.name for e in jaxpr.eqns] == ["exp"]
    assert jaxpr.eqns[0].params == {"accuracy": TOL}
    assert "exp[accuracy=Tolerance(atol=0.001, rtol=0.0001, ulps=2)]" in str(jaxpr)
    mode = ft.make_jaxpr(lambda x: lax.sin(x, accuracy=lax.AccuracyMode.HIGHEST))(x)
    want = jax.make_jaxpr(lambda x: jlax.sin(x, accuracy=jlax.AccuracyMode.HIGHEST))(x)
    assert "sin[accuracy=AccuracyMode.HIGHEST]" in str(mode)
    assert "sin[accuracy=AccuracyMode.HIGHEST]" in str(want)
    for f, jf in ((lax.exp, jlax.exp), (lax.tanh, jlax.tanh)):        # None: no param shown
        shown = re.compile(f"= {f.__name__} a\\s")
        assert shown.search(str(ft.make_jaxpr(f)(x))) and shown.search(str(jax.make_jaxpr(jf)(x)))
    # the primal keeps its accuracy under grad; the derivative's own operations have none
    grad_jaxpr = ft.make_jaxpr(ft.grad(lambda x: lax.sin(x, accuracy=TOL)))(x)
    jgrad = jax.make_jaxpr(jax.grad(lambda x: jlax.sin(x, accuracy=jlax.Tolerance(atol=1e-3))))(x)
    for j in (grad_jaxpr, jgrad):
        params = {e.primitive.name: e.params for e in j.eqns}
        assert params["sin"]["accuracy"] is not None and params["cos"].get("accuracy") is None
    batched = ft.make_jaxpr(ft.vmap(lambda x: lax.tan(x, accuracy=TOL)))(np.ones(3, np.float32))
    assert batched.eqns[0].params == {"accuracy": TOL}


def test_jit_caches_by_accuracy_and_merges_like_equations():
    f = ft.jit(lambda x, acc: lax.cos(x, accuracy=acc), static_argnums=1)
    x = np.float32(0.5)
    assert f(x, lax.Tolerance(atol=1e-3)) == f(x, lax.Tolerance(atol=1e-3)) == np.cos(x)
    assert lax.Tolerance(atol=1e-3) == lax.Tolerance(atol=1e-3) != lax.Tolerance(rtol=1e-3)
    assert len({lax.Tolerance(ulps=1), lax.Tolerance(ulps=1)}) == 1
    g = ft.jit(lambda x: lax.log(x, accuracy=TOL) + lax.log(x, accuracy=TOL))
    np.testing.assert_allclose(g(x), 2 * np.log(x))


def test_on_a_device_that_is_not_the_default(fake_gpus):
    x = ft.device_put(fnp.asarray(_x()), fake_gpus[0])
    for f in (lambda x: lax.exp(x, accuracy=TOL),
              ft.jit(lambda x: lax.logistic(x, accuracy=lax.AccuracyMode.DEFAULT)),
              ft.grad(lambda x: fnp.sum(lax.rsqrt(x, accuracy=TOL)))):
        got = f(x)
        assert got.device == fake_gpus[0]


def test_bad_accuracies_are_refused_as_jax_refuses_them():
    for bad in ["highest", 1, 1.0, (1e-3, 0.0), lax.Precision.HIGHEST]:
        with pytest.raises(NotImplementedError, match=re.escape(
                f"Accuracy {bad!r} not supported by lax.exp: pass a lax.Tolerance(atol=")):
            lax.exp(1.0, accuracy=bad)
        with pytest.raises(NotImplementedError):
            jlax.exp(1.0, accuracy=bad)
        with pytest.raises(NotImplementedError, match="not supported by lax.sin"):
            ft.jit(lambda x: lax.sin(x, accuracy=bad))(1.0)
    with pytest.raises(TypeError, match="exp needs a floating-point input, got int"):
        lax.exp(np.arange(3), accuracy=TOL)
    with pytest.raises(TypeError):
        jlax.exp(np.arange(3), accuracy=jlax.Tolerance(atol=1e-3))
    with pytest.raises(TypeError, match="takes 1 positional argument"):
        lax.exp(1.0, TOL)


def test_tolerance_is_checked_as_jax_checks_it():
    for kw in ({"atol": -1.0}, {"rtol": -1e-3}, {"ulps": -1}):
        with pytest.raises(ValueError, match="Tolerances must be non-negative"):
            lax.Tolerance(**kw)
        with pytest.raises(ValueError, match="Tolerances must be non-negative"):
            jlax.Tolerance(**kw)
    with pytest.raises(ValueError, match="At least one of atol, rtol, or ulps must be set"):
        lax.Tolerance()
    with pytest.raises(ValueError, match="At least one of atol, rtol, or ulps must be set"):
        jlax.Tolerance()
    with pytest.raises(TypeError, match="Tolerance: atol must be a real number, got str"):
        lax.Tolerance(atol="a")
    t = lax.Tolerance(rtol=1e-6)
    assert (t.atol, t.rtol, t.ulps) == (0.0, 1e-6, 0)
    assert repr(t) == "Tolerance(atol=0.0, rtol=1e-06, ulps=0)"
    assert [m.name for m in lax.AccuracyMode] == [m.name for m in jlax.AccuracyMode]
    assert [m.value for m in lax.AccuracyMode] == [m.value for m in jlax.AccuracyMode]


# ------------------------------------------------------------------ precision=
GOOD_PRECISIONS = [None, lax.Precision.HIGHEST, "highest", "float32", "high", "bfloat16_3x",
                   "tensorfloat32", "default", "bfloat16", "fastest",
                   (lax.Precision.HIGH, lax.Precision.DEFAULT), ("highest", "default"),
                   lax.DotAlgorithmPreset.F32_F32_F32, "F32_F32_F32", "BF16_BF16_F32",
                   lax.DotAlgorithmPreset.DEFAULT]
BAD_PRECISIONS = ["HIGHEST", "foo", 1, 1.5, (None, None), (lax.Precision.HIGH,),
                  ("high", "x"), (1, 2), ("high",) * 3, [lax.Precision.HIGH] * 2]


def _jax_precision(p):
    if isinstance(p, lax.Precision):
        return jlax.Precision[p.name]
    if isinstance(p, lax.DotAlgorithmPreset):
        return jlax.DotAlgorithmPreset[p.name]
    if type(p) is tuple:
        return tuple(_jax_precision(q) for q in p)
    return p


def _products(precision):
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    img, ker = np.ones((1, 1, 4, 4), np.float32), np.ones((1, 1, 2, 2), np.float32)
    return {
        "dot": lambda L: L.dot(a, a.T, precision=precision),
        "dot_general": lambda L: L.dot_general(a, a, (((1,), (1,)), ((), ())), precision),
        "batch_matmul": lambda L: L.batch_matmul(a[None], a.T[None], precision=precision),
        "conv": lambda L: L.conv(img, ker, (1, 1), "VALID", precision=precision),
        "conv_general_dilated": lambda L: L.conv_general_dilated(
            img, ker, (1, 1), "SAME", precision=precision),
        "conv_transpose": lambda L: L.conv_transpose(
            img, ker, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"),
            precision=precision)}


@pytest.mark.parametrize("precision", GOOD_PRECISIONS, ids=repr)
def test_precisions_jax_takes_are_taken(precision):
    theirs = _products(_jax_precision(precision))
    for name, call in _products(precision).items():
        np.testing.assert_allclose(np.asarray(call(lax)), np.asarray(theirs[name](jlax)),
                                   rtol=1e-6, err_msg=name)
    x = np.arange(4.0, dtype=np.float32).reshape(2, 2)
    assert ft.jit(lambda x: lax.dot(x, x, precision=precision))(x).shape == (2, 2)


@pytest.mark.parametrize("precision", BAD_PRECISIONS, ids=repr)
def test_precisions_jax_refuses_are_refused(precision):
    theirs = _products(precision)
    for name, call in _products(precision).items():
        with pytest.raises(ValueError, match=r"precision=.* is not a precision; pass None, a "
                           r"lax.Precision \(DEFAULT, HIGH, HIGHEST\), one of the strings"):
            call(lax)
        with pytest.raises((ValueError, TypeError)):
            theirs[name](jlax)
    with pytest.raises(ValueError, match="dot_general: precision="):
        ft.jit(lambda x: lax.dot(x, x, precision=precision))(np.ones((2, 2)))


def test_numpy_products_check_precision_as_jax_does():
    jnp = jax.numpy
    a, v = np.arange(4.0).reshape(2, 2), np.arange(3.0)

    def calls(np_):
        return {"matmul": lambda p: np_.matmul(a, a, precision=p),
                "dot": lambda p: np_.dot(a, a, precision=p),
                "tensordot": lambda p: np_.tensordot(a, a, precision=p),
                "inner": lambda p: np_.inner(a, a, precision=p),
                "vdot": lambda p: np_.vdot(a, a, precision=p),
                "vecdot": lambda p: np_.vecdot(a, a, precision=p),
                "einsum": lambda p: np_.einsum("ij,jk", a, a, precision=p),
                "multi_dot": lambda p: np_.linalg.multi_dot([a, a, a], precision=p),
                "convolve": lambda p: np_.convolve(v, v, precision=p),
                "correlate": lambda p: np_.correlate(v, v, precision=p),
                "Array.dot": lambda p: np_.asarray(a).dot(a, precision=p)}
    theirs = calls(jnp)
    for name, call in calls(fnp).items():
        np.testing.assert_allclose(np.asarray(call("highest")),
                                   np.asarray(theirs[name]("highest")), rtol=1e-6)
        with pytest.raises(ValueError, match=f"{name.split('.')[-1]}: precision='foo' is not a "
                           "precision"):
            call("foo")
        with pytest.raises(ValueError):
            theirs[name]("foo")
