"""Small JAX names the docs use: Array.sharding (one device), ShapeDtypeStruct.like, and the
config name jax_explain_cache_misses."""
import logging

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp

jax = pytest.importorskip("jax")


def test_array_sharding_is_its_single_device():
    x = fnp.ones((2, 3))
    s = x.sharding
    assert s.device_set == x.devices() == {x.device} == s.addressable_devices
    assert (s.is_fully_replicated, s.is_fully_addressable, s.num_devices) == (True, True, 1)
    assert s.shard_shape(x.shape) == (2, 3)
    assert s == fnp.zeros(1).sharding and hash(s) == hash(fnp.zeros(1).sharding)
    assert repr(s) == f"SingleDeviceSharding(device={x.device!r}, memory_kind=device)"
    assert ft.jit(lambda a: a * 2)(x).sharding == s


def test_array_sharding_follows_the_device(fake_gpus):
    gpu = fake_gpus[0]
    x = ft.device_put(fnp.ones(2), gpu)
    assert x.sharding.device_set == {gpu} and x.sharding != fnp.ones(2).sharding


@pytest.mark.parametrize("value", [
    lambda m: m.numpy.ones((2, 3)), lambda m: np.ones(3, np.int8), lambda m: 1.0,
    lambda m: True, lambda m: np.float32(2), lambda m: 1j,
    lambda m: m.ShapeDtypeStruct((4,), np.float16)])
def test_shape_dtype_struct_like_matches_jax(value):
    got = ft.ShapeDtypeStruct.like(value(ft))
    want = jax.ShapeDtypeStruct.like(value(jax))
    assert (got.shape, got.dtype, got.weak_type) == (want.shape, want.dtype, want.weak_type)


def test_shape_dtype_struct_like_under_transforms_and_bad_input():
    seen = []

    def f(x):
        seen.append(ft.ShapeDtypeStruct.like(x))
        return x
    ft.jit(f)(fnp.ones((3, 2)))
    ft.vmap(f)(fnp.ones((3, 2)))
    assert seen == [ft.ShapeDtypeStruct((3, 2), np.float32),
                    ft.ShapeDtypeStruct((2,), np.float32)]
    with pytest.raises(TypeError, match="list object is not a valid functrans value"):
        ft.ShapeDtypeStruct.like([1.0, 2.0])


def test_explain_cache_misses_is_log_retraces(caplog):
    assert not ft.config.jax_explain_cache_misses
    ft.config.update("jax_explain_cache_misses", True)
    try:
        assert ft.config.log_retraces is True and ft.config.jax_explain_cache_misses
        double = ft.jit(lambda x: 2 * x)
        with caplog.at_level(logging.WARNING, logger="functrans.jit"):
            double(fnp.arange(3))
            double(fnp.arange(3.0))
    finally:
        ft.config.update("jax_explain_cache_misses", False)
    assert ft.config.log_retraces is False
    assert any("retracing" in r.message for r in caplog.records)
