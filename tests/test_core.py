"""Core behaviours: weak Python scalars under jit, integer inputs in jvp, effect-preserving
DCE of staged calls."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import dtypes
from functrans.interpreters.partial_eval import dce_jaxpr


@pytest.mark.parametrize("dtype,scalar", [(np.int32, 2), (np.int32, 2.5), (np.float16, 2.0),
                                          (np.uint8, 3), (np.float32, 1)])
def test_python_scalar_arguments_stay_weak_under_jit(dtype, scalar):
    x = fnp.asarray(np.arange(3).astype(dtype))
    f = lambda x, s: x * s
    assert ft.jit(f)(x, scalar).dtype == f(x, scalar).dtype


@pytest.mark.parametrize("dtype,scalar", [(np.int32, 2), (np.int32, 2.5), (np.float16, 2.0),
                                          (np.uint8, 3)])
def test_python_scalar_arguments_stay_weak_in_every_tracing_transform(dtype, scalar):
    """checkpoint, named calls, custom_vjp, make_jaxpr and eval_shape trace a Python scalar
    argument weakly typed, as jit and eager code do (they traced it as a strong float32 or
    int32: float16 * 2.0 became float32)."""
    x = fnp.asarray(np.arange(3).astype(dtype))
    f = lambda x, s: x * s
    want = f(x, scalar).dtype

    @ft.custom_vjp
    def custom(x, s):
        return x * s
    custom.defvjp(lambda x, s: (x * s, None), lambda _, ct: (ct, 0.0))
    for name, transformed in [("checkpoint", ft.checkpoint(f)),
                              ("named_call", ft.named_call(f, name="scaled")),
                              ("custom_vjp", custom)]:
        assert transformed(x, scalar).dtype == want, name
    assert ft.make_jaxpr(f)(x, scalar).out_avals[0].dtype == want
    assert ft.eval_shape(f, x, scalar).dtype == want


def test_jvp_accepts_float0_tangents_for_integer_inputs():
    out, tan = ft.jvp(lambda a, i: a * i, (fnp.ones(2, dtype=fnp.float64), fnp.arange(2)),
                      (fnp.ones(2, dtype=fnp.float64), np.zeros(2, dtypes.float0)))
    np.testing.assert_allclose(np.asarray(tan), [0.0, 1.0])


def test_dce_keeps_calls_whose_body_has_effects(capsys):
    def f(x):
        ft.checkpoint(lambda v: ft.debug.print("inside {}", v) or v * 2)(x)   # result unused
        return x + 1
    closed = ft.make_jaxpr(f)(fnp.ones(()))
    pruned, _ = dce_jaxpr(closed.jaxpr)
    assert any(e.primitive.name == "checkpoint" for e in pruned.eqns)
    ft.jit(f)(fnp.ones(()))
    assert "inside" in capsys.readouterr().out


def test_custom_jvp_rule_serves_forward_over_reverse():
    """The value computed inside reverse mode of a custom_jvp function meets an outer
    forward transform through the custom rule, not through the function's insides."""
    @ft.custom_jvp
    def f(x):
        return fnp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        return f(primals[0]), 2.0 * tangents[0]          # deliberately not cos(x)

    x = fnp.asarray(0.3)
    value_tangent = ft.jvp(lambda x: ft.value_and_grad(f)(x)[0], (x,), (fnp.asarray(1.0),))[1]
    assert float(value_tangent) == 2.0
    assert float(ft.jvp(ft.grad(f), (x,), (fnp.asarray(1.0),))[1]) == 0.0
