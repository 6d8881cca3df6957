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
