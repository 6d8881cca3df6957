"""Gaps against the APIs functrans follows (JAX, NumPy, PyTorch), each closed with its tests:
bitwise lax reductions, qr(mode='raw'), the logistic of complex values, bfloat16 in safetensors
files, disable_jit over pmap and PyTorch's lazy layers. Peers are compared where installed
(skipped otherwise); the rest runs without them."""
from __future__ import annotations

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax

import fakegpu


# ------------------------------------------------------------------ bitwise reductions
_BITWISE = {"reduce_and": np.bitwise_and, "reduce_or": np.bitwise_or,
            "reduce_xor": np.bitwise_xor}


def _operand(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.random(shape) < 0.6
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


@pytest.mark.parametrize("name", sorted(_BITWISE))
@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int32, np.uint32, np.int64])
@pytest.mark.parametrize("shape, axes", [((5,), (0,)), ((3, 4, 5), (0, 2)), ((3, 4), (1,)),
                                         ((3, 4), ()), ((2, 0, 3), (1,)), ((3, 7), (0, 1))])
def test_bitwise_reductions_are_numpys_bitwise_reductions(name, dtype, shape, axes):
    x = _operand(dtype, shape)
    want = _BITWISE[name].reduce(x, axis=axes)
    for f in (getattr(lax, name), ft.jit(getattr(lax, name), static_argnums=1)):
        got = np.asarray(f(x, axes))
        assert got.dtype == x.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", sorted(_BITWISE))
def test_bitwise_reductions_batch_and_have_no_derivative(name):
    x = _operand(np.int16, (4, 3, 5), seed=1)
    f = getattr(lax, name)
    got = ft.vmap(lambda r: f(r, (1,)), in_axes=1)(x)
    np.testing.assert_array_equal(got, _BITWISE[name].reduce(x, axis=2).T)
    _, t = ft.jvp(lambda v: f(lax.convert_element_type(v, np.int32)),
                  (np.ones(3),), (np.ones(3),))
    assert t.dtype == ft.dtypes.float0


@pytest.mark.parametrize("name", sorted(_BITWISE))
@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_bitwise_reductions_refuse_inexact_operands(name, dtype):
    with pytest.raises(TypeError, match=f"{name} needs a bool or integer operand"):
        getattr(lax, name)(np.ones(3, dtype))


def test_all_and_any_stay_truth_tests_of_integers():
    x = np.array([[6, 3, 0], [7, 1, 2]], np.int32)
    np.testing.assert_array_equal(fnp.all(x, axis=1), [False, True])
    np.testing.assert_array_equal(fnp.any(x, axis=0), [True, True, True])
    assert lax.reduce_and(x[1]) == 0 and lax.reduce_or(x[0]) == 7    # bitwise: 7&1&2, 6|3|0


@pytest.mark.parametrize("name", sorted(_BITWISE))
@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int64])
@pytest.mark.parametrize("shape, axes", [((7, 3), (0,)), ((2, 5, 3), (0, 2)), ((0, 3), (0,)),
                                         ((4,), ())])
def test_bitwise_reductions_on_an_array_module_without_ufunc_reduce(name, dtype, shape, axes):
    """CuPy's bitwise ufuncs have no `reduce`; the stand-in GPU refuses it as CuPy does."""
    dev = fakegpu.register().devices()[0]
    x = _operand(dtype, shape, seed=2)
    got = getattr(lax, name)(ft.device_put(x, dev), axes)
    assert got.device is dev
    np.testing.assert_array_equal(np.asarray(ft.device_put(got, "cpu")),
                                  _BITWISE[name].reduce(x, axis=axes))


@pytest.mark.parametrize("name", ["bitwise_and", "bitwise_or", "bitwise_xor"])
@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int64])
def test_bitwise_ops_against_jax(name, dtype):
    jax = pytest.importorskip("jax")
    x, y = _operand(dtype, (3, 4), seed=3), _operand(dtype, (3, 4), seed=4)
    with jax.enable_x64(True):
        want = np.asarray(getattr(jax.lax, name)(x, y))
        want_not = np.asarray(jax.lax.bitwise_not(x))
        reductions = {r: np.asarray(getattr(jax.lax, r)(x, (1,))) for r in _BITWISE}
    for got, expected in [(getattr(lax, name)(x, y), want), (lax.bitwise_not(x), want_not)] + \
            [(getattr(lax, r)(x, (1,)), reductions[r]) for r in _BITWISE]:
        got = np.asarray(got)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
