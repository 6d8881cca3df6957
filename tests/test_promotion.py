"""Type promotion: JAX's and PyTorch's rule where integers or bools meet floats (the float's
width is kept), NumPy's within a kind, weak Python scalars; eager and jit agree on the dtype
of every result over a grid of operations and dtype pairs; JAX is the oracle where
installed."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import dtypes

DTYPES = [np.bool_, np.int8, np.uint8, np.int32, np.int64, np.float16, np.float32, np.float64,
          np.complex64, np.complex128]

BINARY = {
    "add": fnp.add, "subtract": fnp.subtract, "multiply": fnp.multiply,
    "true_divide": fnp.true_divide, "maximum": fnp.maximum, "where": lambda a, b:
    fnp.where(True, a, b), "matmul": lambda a, b: fnp.matmul(a[None], b[:, None]),
    "dot": fnp.dot, "concatenate": lambda a, b: fnp.concatenate([a, b]),
    "power": fnp.power, "hypot": fnp.hypot, "arctan2": fnp.arctan2,
    "equal": fnp.equal, "logaddexp": fnp.logaddexp, "op_add": lambda a, b: a + b,
    "op_truediv": lambda a, b: a / b, "op_matmul": lambda a, b: a @ b,
    "stack": lambda a, b: fnp.stack([a, b]), "array_of_list": lambda a, b: fnp.array([a, b]),
}
_FLOAT_ONLY = {"hypot", "arctan2", "logaddexp"}
_NO_BOOL_PAIR = {"subtract", "power"}


def _sample(dt):
    return np.ones(3, dtype=dt)


def _applicable(name, d1, d2):
    kinds = {np.dtype(d1).kind, np.dtype(d2).kind}
    if name in _FLOAT_ONLY and "c" in kinds:
        return False
    if name in _NO_BOOL_PAIR and kinds == {"b"}:
        return False
    return True


PAIRS = [(n, d1, d2) for n in BINARY for d1, d2 in itertools.product(DTYPES, DTYPES)
         if _applicable(n, d1, d2)]


@pytest.mark.parametrize("name", list(BINARY))
def test_eager_and_jit_agree_on_every_result_dtype(name):
    fn = BINARY[name]
    jitted = ft.jit(fn)
    for _, d1, d2 in [p for p in PAIRS if p[0] == name]:
        a, b = fnp.asarray(_sample(d1)), fnp.asarray(_sample(d2))
        eager = fn(a, b)
        staged = jitted(a, b)
        assert eager.dtype == staged.dtype, (name, d1, d2, eager.dtype, staged.dtype)
        np.testing.assert_allclose(np.asarray(staged), np.asarray(eager))


@pytest.mark.parametrize("scalar", [True, 2, 2.5, 1j])
def test_weak_python_scalars_agree_eager_and_jit(scalar):
    for dt in DTYPES:
        a = fnp.asarray(_sample(dt))
        for fn in (lambda x: x + scalar, lambda x: scalar * x, lambda x: fnp.maximum(x, scalar)
                   if not isinstance(scalar, complex) else x - scalar):
            assert fn(a).dtype == ft.jit(fn)(a).dtype
    assert (fnp.ones(3, dtype=fnp.float32) * 2.5).dtype == np.float32
    assert (fnp.ones(3, dtype=fnp.int8) + 300 // 3).dtype == np.int8


@pytest.mark.parametrize("scalar", [3, 2.5, 1j])
def test_arithmetic_of_python_scalar_arguments_stays_weak_under_jit(scalar):
    # eagerly `s * 2 - 1` of a Python scalar is a Python scalar; jit traced it as a strong
    # float32 (int64, ...), which then widened float16 (int8) arrays
    def fn(s, y):
        return (s * 2 - 1) * y
    for dt in DTYPES:
        y = fnp.asarray(_sample(dt))
        assert ft.jit(fn)(scalar, y).dtype == fn(scalar, y).dtype, dt


def test_integers_meeting_floats_keep_the_float_width():
    x32, i64 = fnp.ones(3, dtype=fnp.float32), fnp.arange(3)
    assert (x32 / i64).dtype == np.float32
    assert (x32 * i64).dtype == np.float32
    assert (x32 + fnp.ones(3, dtype=bool)).dtype == np.float32
    assert (fnp.ones(3, dtype=fnp.float16) + fnp.ones(3, dtype=fnp.int64)).dtype == np.float16
    assert (fnp.ones(3, dtype=fnp.complex64) * i64).dtype == np.complex64
    assert (x32 + fnp.ones(3, dtype=fnp.float64)).dtype == np.float64       # widest float
    assert (fnp.ones(3, dtype=fnp.complex64) + fnp.ones(3, dtype=fnp.float64)).dtype \
        == np.complex128
    assert (fnp.ones(3, dtype=fnp.int8) + fnp.ones(3, dtype=fnp.uint8)).dtype == np.int16
    assert fnp.result_type(fnp.float32, fnp.int64) == np.float32
    assert fnp.promote_types(fnp.int32, fnp.float16) == np.float16


def test_a_float32_model_stays_float32_with_integer_inputs_eager_and_jit():
    layer = ft.nn.Linear(3, 2, key=ft.random.key(0))
    x = fnp.arange(6).reshape(2, 3)                      # integer features
    out = layer(x.astype(fnp.float32) / fnp.arange(1, 4))
    assert out.dtype == np.float32
    jitted = ft.jit(lambda m, x: m(x / fnp.arange(1, 4)))(layer, x.astype(fnp.float32))
    assert jitted.dtype == np.float32
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(out), rtol=1e-6)


def test_matches_jax_promotion_where_jax_is_installed():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    for d1, d2 in itertools.product(DTYPES, DTYPES):
        kinds = {np.dtype(d1).kind, np.dtype(d2).kind}
        if not kinds & {"f", "c"}:
            continue                 # int with int: NumPy's table (JAX differs for u64)
        ours = dtypes.promote_types(d1, d2)
        theirs = jnp.promote_types(d1, d2)         # the lattice, before x64 canonicalizes
        assert ours == theirs, (d1, d2, ours, theirs)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int32", "bool", "complex128"])
@pytest.mark.parametrize("value", [2, 2.5, True])
def test_converting_a_python_scalar_gives_an_array_of_that_dtype(value, dtype):
    """(NumPy reads a missing dtype, None, as float64: a Python int converted to float64 once
    stayed a Python int, and `jit` of `fnp.pad` on float64 arrays failed.)"""
    got = ft.lax.convert_element_type(value, dtype)
    assert isinstance(got._value, np.ndarray) and got.dtype == np.dtype(dtype)
    x = np.ones((2, 3), dtype)
    np.testing.assert_array_equal(np.asarray(ft.jit(lambda a: fnp.pad(a, 1))(x)),
                                  np.pad(x, 1))


def test_mixed_float_layers_promote_and_lax_products_refuse_alike_eagerly_and_under_jit():
    """A float64 batch through float32 layers computes in float64 eagerly and under jit (and
    its gradients keep the parameters' float32); `lax.dot_general` itself never promotes,
    eagerly as when traced (NumPy would promote silently)."""
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    lin = ft.nn.Linear(3, 4, key=ft.random.key(0))
    lstm = ft.nn.LSTM(3, 4, key=ft.random.key(1))
    gru = ft.nn.GRU(3, 4, key=ft.random.key(2))
    norm = ft.nn.LayerNorm(3)
    for layer, f in ((lin, lambda m, x: m(x)), (lstm, lambda m, x: m(x)[0]),
                     (gru, lambda m, x: m(x)[0]), (norm, lambda m, x: m(x))):
        eager, jitted = f(layer, x), ft.jit(f)(layer, x)
        assert eager.dtype == jitted.dtype == np.float64
        np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-12)
        grads = ft.jit(ft.grad(lambda m: fnp.sum(f(m, x))))(layer)
        assert all(g.dtype == np.float32 for g in ft.tree_util.tree_leaves(grads))
    dims = (((1,), (0,)), ((), ()))
    w = np.ones((3, 4), np.float32)
    for run in (lambda a: ft.lax.dot_general(a, w, dims),
                ft.jit(lambda a: ft.lax.dot_general(a, w, dims)),
                lambda a: ft.lax.add(a, w[:, :3].T), ft.jit(lambda a: ft.lax.add(a, w[:, :3].T))):
        with pytest.raises(TypeError, match="mixed dtypes float64 and float32"):
            run(x[0])


def test_rules_that_mixed_dtypes_eagerly_work_under_jit():
    """Found by refusing mixed dtypes eagerly as tracing does: the reverse rule of irfft
    multiplied a complex spectrum by real weights, and xlogy gave a Python-scalar x the
    default float type instead of y's."""
    from functrans.scipy.special import xlogy
    z = np.array([1.0 + 0.5j, 2.0 - 1.0j, 0.5 + 0.0j, -1.0 + 2.0j, 0.25 - 0.5j])
    f = lambda z: fnp.sum(fnp.fft.irfft(z) ** 2)        # noqa: E731
    np.testing.assert_allclose(np.asarray(ft.jit(ft.grad(f))(z)), np.asarray(ft.grad(f)(z)),
                               rtol=1e-13)
    y = np.float64(3.0)
    assert ft.jit(lambda y: xlogy(2.0, y))(y).dtype == np.float64
    from functrans.scipy.special import logsumexp
    for x in (np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0], np.float32)):
        for run in (lambda x: logsumexp(x, b=2.0), ft.jit(lambda x: logsumexp(x, b=2.0))):
            got = run(x)
            assert got.dtype == x.dtype
            np.testing.assert_allclose(float(got), math.log(2.0) + float(logsumexp(x)),
                                       rtol=1e-6)
    assert float(ft.jit(ft.grad(lambda y: xlogy(0.0, y)))(np.float64(0.0))) == 0.0


@pytest.mark.parametrize("name", ["dot", "inner", "outer", "kron", "isin", "betaln", "xlogy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_functions_with_a_python_scalar_give_the_arrays_type_eagerly_and_under_jit(name,
                                                                                   dtype):
    """(They turned the scalar into an array of the default float type and then mixed it
    with the other operand: NumPy promoted eagerly, tracing refused.)"""
    import functrans.scipy.special as fsp
    fn = getattr(fsp, name) if name in ("betaln", "xlogy") else getattr(fnp, name)
    x = np.linspace(0.5, 2.0, 6, dtype=dtype).reshape(2, 3)
    eager = fn(x, 2.0)
    jitted = ft.jit(lambda x: fn(x, 2.0))(x)
    assert eager.dtype == jitted.dtype
    assert eager.dtype == (np.bool_ if name == "isin" else dtype)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_as_floating_turns_only_integers_and_booleans_into_the_default_float(dtype):
    from functrans.numpy._conversion import as_floating
    x = np.arange(3).astype(dtype)
    want = dtype if np.dtype(dtype).kind in "fc" else dtypes.default_float_dtype()
    for got in (as_floating(x), ft.jit(as_floating)(x)):
        assert got.dtype == want
        np.testing.assert_array_equal(np.asarray(got), x.astype(want))


def test_as_floating_places_data_where_like_lives(fake_gpus):
    from functrans.numpy._conversion import as_floating
    cpu, gpu = ft.devices("cpu")[0], fake_gpus[0]
    on_gpu = ft.device_put(np.zeros(2), gpu)
    assert as_floating([1, 2], like=on_gpu).device is gpu
    assert as_floating([1, 2]).device is cpu
    assert as_floating(ft.device_put(np.arange(2), cpu), like=on_gpu).device is cpu
    key = ft.device_put(ft.random.key(0), gpu)
    assert ft.random.bernoulli(key, np.array([0, 1])).device is gpu


@pytest.mark.parametrize("op", ["mul", "add", "sub", "pow"])
@pytest.mark.parametrize("scalar", [3, True, 2.5])
@pytest.mark.parametrize("arg", [1.5, 2, 1j])
def test_python_scalars_with_python_number_arguments_keep_the_widest_kind(op, scalar, arg):
    """A jitted function's Python-number argument is weak, like the scalar it meets: the
    wider kind wins on either side, as in Python (`3 * x` with x = 1.5 was an int64 4)."""
    fn = {"mul": lambda a, b: a * b, "add": lambda a, b: a + b, "sub": lambda a, b: a - b,
          "pow": lambda a, b: a ** b}[op]
    for f in (lambda x: fn(scalar, x), lambda x: fn(x, scalar)):
        want = f(arg)
        got = ft.jit(f)(arg)
        assert got.dtype.kind == np.asarray(want).dtype.kind, (got.dtype, scalar, arg)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)
