"""Code written for either library works: functrans.nn's activations take PyTorch's `input`
and jax.nn's `x`, scipy.stats' logistic/gumbel ppf and isf SciPy's `q` and JAX's `p`/`x`, and
functrans.numpy's gcd, lcm, trunc (fix) and i0 their operands by JAX's names. Values against
JAX, SciPy and NumPy; the alias mechanism (keyword_alias) on its own; jit, vmap and grad."""
import inspect

import numpy as np
import pytest
import scipy.stats

import functrans as ft
import functrans.numpy as fnp
from functrans.numpy._signatures import keyword_alias, keywords_too
from functrans.scipy import stats

V = np.array([-2.5, -0.3, 0.0, 0.7, 3.0])
M = np.array([[0.5, -1.0, 2.0, 0.1], [1.5, 0.2, -0.4, 3.0]])


# ------------------------------------------------------------------ the mechanism
@keyword_alias(x="input", ax="dim")
def _toy(input, scale=1.0, *, dim=0, **options):
    """A toy."""
    return input * scale, dim, options


def test_alias_is_taken_in_place_of_the_parameter():
    assert _toy(2.0) == _toy(input=2.0) == _toy(x=2.0) == (2.0, 0, {})
    assert _toy(x=2.0, scale=3.0, ax=1, extra=5) == (6.0, 1, {"extra": 5})
    assert _toy(2.0, 3.0, ax=1) == (6.0, 1, {})
    assert _toy.__name__ == "_toy" and _toy.__doc__ == "A toy."


def test_giving_both_names_is_an_error_naming_them():
    for call in (lambda: _toy(1.0, x=2.0), lambda: _toy(input=1.0, x=2.0),
                 lambda: _toy(1.0, dim=1, ax=2)):
        with pytest.raises(TypeError, match=r"_toy\(\) got '(input|dim)' and its alias "
                                            r"'(x|ax)'"):
            call()


def test_the_signature_shows_the_aliases_as_keyword_only():
    sig = inspect.signature(_toy)
    assert list(sig.parameters) == ["input", "scale", "dim", "x", "ax", "options"]
    x = sig.parameters["x"]
    assert x.kind is inspect.Parameter.KEYWORD_ONLY and repr(x.default) == "<alias of input>"
    assert str(sig) == ("(input, scale=1.0, *, dim=0, x=<alias of input>, ax=<alias of dim>, "
                        "**options)")


def test_aliasing_a_missing_or_taken_name_is_refused():
    with pytest.raises(ValueError, match="no parameter 'input'"):
        keyword_alias(x="input")(lambda v: v)
    with pytest.raises(ValueError, match="named 'v'"):
        keyword_alias(v="w")(lambda v, w: v)


def test_keywords_too_names_positional_only_operands():
    def f(a, b, /, *, out=None):
        return a - b, out

    g = keywords_too(f)
    assert g(5, 2) == g(a=5, b=2) == g(5, b=2) == (3, None)
    assert str(inspect.signature(g)) == "(a, b, *, out=None)"
    with pytest.raises(TypeError, match="multiple values"):
        g(5, a=2)


# ------------------------------------------------------------------ jax.nn's x
# name: JAX's keyword arguments besides x (functrans takes them by the same names)
ACTIVATIONS = {"celu": {"alpha": 0.7}, "elu": {"alpha": 1.3}, "glu": {"axis": 1},
               "leaky_relu": {"negative_slope": 0.2}, "log_softmax": {"axis": 1},
               "mish": {}, "relu": {}, "relu6": {}, "selu": {}, "sigmoid": {}, "silu": {},
               "softmax": {"axis": 0}, "softplus": {}}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_take_jaxs_x(jax_x64, name):
    kw = ACTIVATIONS[name]
    ours, theirs = getattr(ft.nn, name), getattr(jax_x64.nn, name)
    x = M * 3
    want = np.asarray(theirs(x=x, **kw))
    got = ours(x=x, **kw)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(ours(x, **kw)))
    np.testing.assert_array_equal(np.asarray(ours(input=x, **kw)), np.asarray(got))
    assert ours is getattr(ft.nn.functional, name)
    assert "x" in inspect.signature(ours).parameters
    with pytest.raises(TypeError, match="'input' and its alias 'x'"):
        ours(x, x=x)


def test_activations_by_x_under_jit_vmap_and_grad():
    f = ft.jit(lambda v: ft.nn.softmax(x=v, axis=-1))
    np.testing.assert_allclose(np.asarray(f(M)), np.asarray(ft.nn.softmax(M, -1)), rtol=1e-15)
    rows = ft.vmap(lambda r: ft.nn.log_softmax(x=r))(M)
    np.testing.assert_allclose(np.asarray(rows), np.asarray(ft.nn.log_softmax(M, 1)),
                               rtol=1e-14)
    g = ft.grad(lambda v: ft.nn.silu(x=v).sum())(V)
    s = 1 / (1 + np.exp(-V))
    np.testing.assert_allclose(np.asarray(g), s * (1 + V * (1 - s)), rtol=1e-13)
    layer = ft.nn.ReLU()
    np.testing.assert_array_equal(np.asarray(layer(V)), np.maximum(V, 0))


# ------------------------------------------------------------------ scipy.stats' q, p, x
QUANTILES = np.array([0.01, 0.25, 0.5, 0.9, 0.999])


@pytest.mark.parametrize("dist, method, alias", [("logistic", "ppf", "x"),
                                                 ("logistic", "isf", "x"),
                                                 ("gumbel_l", "ppf", "p"),
                                                 ("gumbel_r", "ppf", "p")])
def test_quantile_functions_take_scipys_and_jaxs_names(jax_x64, dist, method, alias):
    ours = getattr(getattr(stats, dist), method)
    want = getattr(getattr(scipy.stats, dist), method)(q=QUANTILES, loc=0.5, scale=2.0)
    jax_fn = getattr(getattr(jax_x64.scipy.stats, dist), method)
    np.testing.assert_allclose(np.asarray(jax_fn(**{alias: QUANTILES}, loc=0.5, scale=2.0)),
                               want, rtol=1e-12)
    for kw in ({"q": QUANTILES}, {alias: QUANTILES}):
        np.testing.assert_allclose(np.asarray(ours(**kw, loc=0.5, scale=2.0)), want,
                                   rtol=1e-12)
    np.testing.assert_allclose(np.asarray(ft.jit(lambda q: ours(**{alias: q}))(QUANTILES)),
                               np.asarray(ours(QUANTILES)), rtol=1e-15)
    with pytest.raises(TypeError, match=f"'q' and its alias '{alias}'"):
        ours(QUANTILES, **{alias: QUANTILES})


# ------------------------------------------------------------------ numpy's operands by name
def test_gcd_lcm_trunc_i0_take_their_operands_by_name(jax_x64):
    jnp = jax_x64.numpy
    a, b = np.array([12, 18, -7, 0]), np.array([8, 27, 21, 5])
    for name in ("gcd", "lcm"):
        got = getattr(fnp, name)(x1=a, x2=b)
        np.testing.assert_array_equal(np.asarray(got), getattr(np, name)(a, b))
        np.testing.assert_array_equal(np.asarray(got),
                                      np.asarray(getattr(jnp, name)(x1=a, x2=b)))
        np.testing.assert_array_equal(np.asarray(getattr(fnp, name)(a, x2=b)), np.asarray(got))
        with pytest.raises(TypeError):
            getattr(fnp, name)(a, x1=b)
    for name in ("trunc", "i0"):
        got = getattr(fnp, name)(x=V)
        np.testing.assert_allclose(np.asarray(got), getattr(np, name)(V), rtol=1e-15)
        np.testing.assert_allclose(np.asarray(got), np.asarray(getattr(jnp, name)(x=V)),
                                   rtol=1e-14)
    np.testing.assert_array_equal(np.asarray(fnp.fix(x=V)), np.fix(x=V))
    np.testing.assert_array_equal(np.asarray(ft.jit(lambda v: fnp.trunc(x=v))(V)), np.trunc(V))
    np.testing.assert_allclose(np.asarray(ft.vmap(lambda v: fnp.i0(x=v))(V)), np.i0(V),
                               rtol=1e-15)
    np.testing.assert_allclose(np.asarray(ft.grad(lambda v: fnp.i0(x=v))(1.5)),
                               scipy.special.i1(1.5), rtol=1e-6)
    assert str(inspect.signature(fnp.gcd)) == "(x1, x2, *, out=None, where=None)"
    assert fnp.add.__name__ == "add"        # the other ufuncs stay positional-only
    with pytest.raises(TypeError):
        fnp.add(x1=1, x2=2)
