"""pmap's results over several CPU devices are laid out over them, as JAX's are: a
NamedSharding over a mesh whose one axis is the mapped one, a shard per device, and such a
result fed back into pmap reaches each device as a view of its block (no copy)."""
import importlib
import json

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.sharding import NamedSharding, P, SingleDeviceSharding
import test_cpu_devices

pmap_module = importlib.import_module("functrans.pmap")
four_cpus = test_cpu_devices.four_cpus      # the fixture: four CPU devices for one test


def test_layout_matches_jax():
    pytest.importorskip("jax")
    code = """
        import json
        import numpy as np
        if LIB == "jax":
            import jax as ft
        else:
            import functrans as ft
        ft.config.update("jax_num_cpu_devices", 4)

        def describe(x):
            s = x.sharding
            return [list(x.shape), list(s.mesh.axis_names), list(s.mesh.devices.shape),
                    [str(p) for p in s.spec],
                    [[d.device.id, [[i.start, i.stop] for i in d.index], d.replica_id,
                      np.asarray(d.data).tolist()] for d in x.addressable_shards],
                    np.asarray(x).tolist()]
        data = np.arange(12.0).reshape(4, 3)
        double = ft.pmap(lambda a: a * 2, axis_name="i")
        x = double(data)
        again = double(x)
        total = ft.pmap(lambda a: ft.lax.psum(a.sum(), "i"), axis_name="i", out_axes=None)(x)
        moved = ft.pmap(lambda a: a + 1, axis_name="j", out_axes=1)(data)
        unnamed = ft.pmap(lambda a: -a, devices=ft.devices()[:2])(data[:2])
        print(json.dumps([describe(v) for v in (x, again, total, moved, unnamed)]))
    """
    jax_out, ours = (json.loads(test_cpu_devices._run(code.replace("LIB", repr(lib))))
                     for lib in ("jax", "functrans"))
    assert ours == jax_out


def test_shards_and_computation_on_the_result(four_cpus):
    data = np.arange(8.0).reshape(4, 2)
    x = ft.pmap(lambda a: fnp.sin(a), axis_name="i")(data)
    mesh = x.sharding.mesh
    assert x.sharding == NamedSharding(mesh, P("i"))
    assert mesh.axis_names == ("i",) and list(mesh.devices) == four_cpus
    assert x.devices() == set(four_cpus) and not x.is_fully_replicated
    for i, shard in enumerate(x.addressable_shards):
        assert shard.device is four_cpus[i] and shard.data.device is four_cpus[i]
        assert shard.index == (slice(i, i + 1), slice(None))
        np.testing.assert_allclose(shard.data, np.sin(data[i:i + 1]))
    assert (x * 2 + 1).sharding == x.sharding
    assert ft.jit(lambda a: a.T @ a)(x).sharding == NamedSharding(mesh, P())
    np.testing.assert_allclose(fnp.cos(x), np.cos(np.sin(data)))
    host = ft.device_put(x, "cpu")
    assert type(host._value) is np.ndarray
    np.testing.assert_allclose(host, np.sin(data))


def test_fed_back_without_a_copy(four_cpus, monkeypatch):
    step = ft.pmap(lambda a: a + 1, axis_name="i")
    x = step(np.zeros((4, 3)))
    blocks = pmap_module._blocks(x, 0, four_cpus)
    base = ft.backends.to_host(x._value)
    assert [b.device for b in blocks] == four_cpus
    assert all(np.shares_memory(ft.backends.to_host(b._value), base) for b in blocks)
    np.testing.assert_array_equal(np.concatenate([np.asarray(b) for b in blocks]),
                                  np.ones((4, 3)))
    sliced = []
    original = pmap_module.slice_in_dim
    monkeypatch.setattr(pmap_module, "slice_in_dim",
                        lambda *a, **k: sliced.append(1) or original(*a, **k))
    for _ in range(3):
        x = step(x)
    assert not sliced
    np.testing.assert_array_equal(x, np.full((4, 3), 4.0))
    # laid out otherwise (over two of the devices, over another axis): sliced as any array
    assert pmap_module._blocks(x, 0, four_cpus[:2]) is None
    moved = ft.pmap(lambda a: a, axis_name="i", out_axes=1)(np.ones((4, 2)))
    assert pmap_module._blocks(moved, 0, four_cpus) is None
    np.testing.assert_array_equal(step(moved.T), np.full((4, 2), 2.0))
    assert sliced


def test_training_loop_matches_one_device(four_cpus):
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 5))

    def loss(w, x, y):
        return fnp.mean((x @ w - y) ** 2)

    @ft.pmap
    def replicate(w):
        return w

    def update(w, x, y):
        g = ft.lax.pmean(ft.grad(loss)(w, x, y), "batch")
        return w - 0.1 * g
    step = ft.pmap(update, axis_name="batch")
    w = replicate(np.zeros((4, 3)))
    w_one = np.zeros(3)
    for _ in range(5):
        w = step(w, xs, ys)
        grads = [np.asarray(ft.grad(loss)(w_one, xs[i], ys[i])) for i in range(4)]
        w_one = w_one - 0.1 * np.mean(grads, axis=0)
        assert w.sharding.spec == P("batch") and len(w.addressable_shards) == 4
    np.testing.assert_allclose(w, np.tile(w_one, (4, 1)), rtol=1e-12)


def test_unmapped_output_is_replicated(four_cpus):
    f = ft.pmap(lambda a: (a * 2, ft.lax.psum(a, "i")), axis_name="i", out_axes=(0, None))
    mapped, total = f(np.arange(4.0))
    assert total.sharding == NamedSharding(mapped.sharding.mesh, P())
    assert total.is_fully_replicated and total.shape == ()
    assert [s.replica_id for s in total.addressable_shards] == [0, 1, 2, 3]
    assert float(total) == 6.0
    g = ft.pmap(lambda a, t: a + t, axis_name="i", in_axes=(0, None))
    np.testing.assert_array_equal(g(mapped, total), [6.0, 8.0, 10.0, 12.0])


def test_one_device_stays_on_it():
    out = ft.pmap(lambda a: a * 2, devices=ft.local_devices()[:1])(np.ones((1, 2)))
    assert isinstance(out.sharding, SingleDeviceSharding)
    assert out.device is ft.local_devices()[0]
