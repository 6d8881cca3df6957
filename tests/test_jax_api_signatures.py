"""Top-level functions called with JAX's keyword arguments: device queries (`backend`,
`process_index`, `host_id`), `device_put(src=, donate=, may_alias=)` and
`checkpoint(static_argnames=)`."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp


def test_device_queries_take_jax_s_arguments():
    assert ft.devices(backend="cpu") == ft.devices("cpu")
    assert ft.device_count(backend="cpu") == ft.device_count("cpu") == 1
    assert ft.local_device_count(backend="cpu") == 1
    mine = ft.local_devices()
    assert ft.local_devices(0) == mine
    assert ft.local_devices(process_index=0, backend="cpu") == ft.devices("cpu")
    assert ft.local_devices(host_id=0) == mine
    assert ft.process_index(backend="cpu") == 0 and ft.process_count(backend=None) == 1
    with pytest.raises(ValueError, match="process_index 3"):
        ft.local_devices(3)


def test_device_put_accepts_jax_s_hints():
    x = np.arange(4.0)
    for kw in (dict(donate=True), dict(may_alias=False), dict(src="cpu", may_alias=True)):
        out = ft.device_put(x, "cpu", **kw)
        np.testing.assert_array_equal(np.asarray(out), x)
        assert out.device == ft.devices("cpu")[0]


def _power(x, n):
    for _ in range(n):          # n must stay a Python int
        x = fnp.sin(x) * x
    return fnp.sum(x)


@pytest.mark.parametrize("call", [lambda f, x: f(x, 3), lambda f, x: f(x, n=3)])
def test_checkpoint_static_argnames(call):
    """Named arguments stay Python values, passed by position or by name (JAX 0.10.2 declares
    `static_argnames` but honours it only on its experimental remat3 path)."""
    x = fnp.linspace(0.1, 1.0, 5)
    f = ft.checkpoint(_power, static_argnames="n")
    np.testing.assert_allclose(call(f, x), _power(x, 3), rtol=1e-6)
    ours = ft.grad(lambda x: call(f, x))(x)
    np.testing.assert_allclose(ours, ft.grad(_power)(x, 3), rtol=1e-6)
    np.testing.assert_allclose(ft.jit(ft.grad(lambda x: call(f, x)))(x), ours, rtol=1e-6)


def test_checkpoint_without_static_argnames_traces_the_argument():
    with pytest.raises(TypeError):
        ft.checkpoint(_power)(fnp.ones(3), fnp.asarray(3))


def test_jit_takes_jax_s_sharding_and_compiler_arguments():
    f = ft.jit(lambda x: x * 2, in_shardings=None, out_shardings=None,
               compiler_options={"xla_cpu_enable_fast_math": False})
    np.testing.assert_array_equal(np.asarray(f(fnp.arange(3.0))), [0.0, 2.0, 4.0])
    with pytest.raises(NotImplementedError, match="in_shardings"):
        ft.jit(lambda x: x, in_shardings=("batch",))
