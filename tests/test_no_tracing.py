"""`ft.no_tracing()` (JAX's `jax.no_tracing`): a jitted function that would trace raises."""
import pytest

import functrans as ft
import functrans.numpy as fnp


def test_no_tracing_refuses_retraces_only():
    def double(x):
        return x * 2
    f = ft.jit(double)
    f(fnp.ones(3))
    with ft.no_tracing():
        assert ft.config.no_tracing and ft.config.jax_no_tracing
        assert f(fnp.ones(3)).tolist() == [2, 2, 2]          # compiled already
        assert (fnp.ones(2) + 1).tolist() == [2, 2]          # eager: no tracing
        with pytest.raises(RuntimeError, match=r"double \(defined at .*test_no_tracing.py:\d+\)"
                           r".*'no_tracing' is set"):
            f(fnp.ones(4))
        with pytest.raises(RuntimeError, match="no_tracing"):
            ft.jit(lambda x: x + 1)(fnp.ones(3))
        with ft.no_tracing(False):
            assert f(fnp.ones(5)).shape == (5,)
    assert not ft.config.no_tracing
    assert f(fnp.ones(4)).shape == (4,)


def test_jax_name():
    ft.config.update("jax_no_tracing", True)
    try:
        with pytest.raises(RuntimeError, match="no_tracing"):
            ft.jit(lambda x: x - 1)(fnp.ones(3))
    finally:
        ft.config.update("jax_no_tracing", False)
