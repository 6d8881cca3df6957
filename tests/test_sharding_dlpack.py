"""functrans.sharding (one-device shardings, meshes, make_array_from_*), functrans.dlpack,
live_arrays and copy_to_host_async, against JAX's behaviour where it can be compared."""
import gc

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.sharding import Mesh, NamedSharding, PartitionSpec, SingleDeviceSharding


def test_partition_spec_and_mesh_match_jax():
    jax = pytest.importorskip("jax")
    for spec in [("x", None), (("x", "y"), None), (), (None,), ("x",)]:
        assert repr(ft.P(*spec)) == repr(jax.P(*spec))
        assert tuple(ft.P(*spec)) == tuple(jax.P(*spec))
    assert (ft.P() == ft.P(None)) == (jax.P() == jax.P(None))
    m, jm = ft.make_mesh((1,), ("x",)), jax.make_mesh((1,), ("x",))
    assert dict(m.shape) == dict(jm.shape) and m.size == jm.size == 1
    assert m.axis_names == jm.axis_names and m.devices.shape == jm.devices.shape
    s, js = ft.NamedSharding(m, ft.P("x")), jax.NamedSharding(jm, jax.P("x"))
    assert s.is_fully_replicated == js.is_fully_replicated
    assert s.num_devices == js.num_devices and s.shard_shape((4, 3)) == js.shard_shape((4, 3))
    with pytest.raises(TypeError, match="mesh axis name"):
        ft.P(3)
    with pytest.raises(ValueError, match="names mesh axes"):
        ft.NamedSharding(m, ft.P("y"))
    with pytest.raises(ValueError, match="one name per axis"):
        Mesh(np.array(ft.devices()[:1]), ("x", "y"))
    with pytest.raises(ValueError, match="needs 64 devices"):
        ft.make_mesh((64,), ("x",))


def test_make_array_functions_match_jax():
    jax = pytest.importorskip("jax")
    seen, jseen = [], []
    m = ft.make_mesh((1, 1), ("a", "b"))
    s = NamedSharding(m, PartitionSpec("a", "b"))
    js = jax.NamedSharding(jax.make_mesh((1, 1), ("a", "b")), jax.P("a", "b"))
    data = np.arange(6.0).reshape(2, 3)
    out = ft.make_array_from_callback((2, 3), s, lambda i: (seen.append(i), data[i])[1])
    want = jax.make_array_from_callback((2, 3), js, lambda i: (jseen.append(i), data[i])[1])
    np.testing.assert_array_equal(out, want)
    assert seen == jseen and out.dtype == data.dtype      # (NumPy data keeps its dtype)
    one = fnp.arange(3.0)
    assert ft.make_array_from_single_device_arrays((3,), s, [one]) is one
    np.testing.assert_array_equal(ft.make_array_from_process_local_data(s, data),
                                  jax.make_array_from_process_local_data(js, data))
    placed = ft.device_put(data, SingleDeviceSharding(ft.devices()[0]))
    assert placed.sharding == SingleDeviceSharding(ft.devices()[0])
    assert isinstance(placed.sharding, ft.sharding.Sharding) and \
        isinstance(s, ft.sharding.Sharding)
    with pytest.raises(ValueError, match="returned shape"):
        ft.make_array_from_callback((3, 3), s, lambda i: data)
    with pytest.raises(ValueError, match="one array is needed, got 2"):
        ft.make_array_from_single_device_arrays((3,), s, [one, one])
    with pytest.raises(ValueError, match="expected"):
        ft.make_array_from_single_device_arrays((4,), s, [one])
    with pytest.raises(ValueError, match="differs from global_shape"):
        ft.make_array_from_process_local_data(s, data, (4, 3))
    with pytest.raises(TypeError, match="NamedSharding"):
        ft.device_put(data, m)


def test_shardings_over_several_devices_are_refused(fake_gpus):
    mesh = Mesh(np.array(fake_gpus), ("x",))
    assert mesh.size == 2 and mesh.shape == {"x": 2}
    split = NamedSharding(mesh, PartitionSpec("x"))
    assert not split.is_fully_replicated and split.shard_shape((4, 3)) == (2, 3)
    assert NamedSharding(mesh, PartitionSpec()).is_fully_replicated
    with pytest.raises(ValueError, match="cannot be split evenly"):
        split.shard_shape((3,))
    for call in (lambda: ft.device_put(np.ones(4), split),
                 lambda: ft.make_array_from_callback((4,), split, lambda i: np.ones(4)),
                 lambda: ft.make_array_from_process_local_data(split, np.ones(4))):
        with pytest.raises(NotImplementedError, match="spans 2 devices"):
            call()
    one = NamedSharding(Mesh(np.array(fake_gpus[1:]), ("x",)), PartitionSpec("x"))
    x = ft.device_put(np.ones(4), one)
    assert x.device == fake_gpus[1]
    with pytest.raises(ValueError, match="but the sharding's device"):
        ft.make_array_from_single_device_arrays((4,), one, [fnp.ones(4)])


def test_dlpack_from_numpy_and_torch():
    jax = pytest.importorskip("jax")
    torch = pytest.importorskip("torch")
    t = torch.arange(6.0).reshape(2, 3)
    x = ft.dlpack.from_dlpack(t)
    np.testing.assert_array_equal(x, jax.dlpack.from_dlpack(t))
    assert x.dtype == np.float32
    host = np.arange(4)
    shared = ft.dlpack.from_dlpack(host)                # on the cpu, whatever the default
    copied = ft.dlpack.from_dlpack(host, copy=True)
    assert shared.device == ft.devices("cpu")[0]
    host[0] = 7
    assert int(shared[0]) == 7 and int(copied[0]) == 0
    y = ft.dlpack.from_dlpack(host, device=SingleDeviceSharding(ft.devices()[0]))
    assert y.device == ft.devices()[0]
    assert all(ft.dlpack.is_supported_dtype(d) == jax.dlpack.is_supported_dtype(np.dtype(d))
               for d in ["bool", "int8", "uint64", "float16", "float64", "complex128"])
    with pytest.raises(TypeError, match="no __dlpack__"):
        ft.dlpack.from_dlpack([1, 2])


def test_live_arrays_and_copy_to_host_async(fake_gpus):
    gc.collect()
    x = fnp.arange(5.0)
    g = ft.device_put(np.ones(2), fake_gpus[0])
    assert any(a is x for a in ft.live_arrays())
    assert any(a is g for a in ft.live_arrays()) and \
        not any(a is g for a in ft.live_arrays("cpu"))
    assert any(a is x for a in ft.live_arrays("cpu"))
    before = len(ft.live_arrays())
    del x
    gc.collect()
    assert len(ft.live_arrays()) == before - 1
    assert ft.copy_to_host_async({"a": g, "b": [fnp.ones(2)]}) is None
    assert g.copy_to_host_async() is None
    np.testing.assert_array_equal(g, np.ones(2))
    with pytest.raises(TypeError, match="expected Arrays"):
        ft.copy_to_host_async(np.ones(2))
