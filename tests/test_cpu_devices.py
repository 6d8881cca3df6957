"""Several CPU devices in one process (JAX's `jax_num_cpu_devices`): placement, jit, pmap,
meshes, arrays laid out over several devices and shard_map. The `four_cpus` fixture gives the
process four CPU devices for one test and one again afterwards; the setting itself (read
once, at the first listing of the devices) and the comparison with JAX run in subprocesses."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.sharding import NamedSharding, P, shard_map


@pytest.fixture
def four_cpus():
    backend = ft.backends.get_backend("cpu")
    before = ft.config.default_device
    ft.config.update("default_device", "cpu")
    try:
        yield backend.set_device_count(4)
    finally:
        backend.set_device_count(1)
        ft.config.update("default_device", before)


def _run(code, env=None):
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, env={**os.environ, **(env or {})}, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_one_cpu_device_by_default():
    assert ft.devices("cpu") == [ft.backends.cpu] and repr(ft.backends.cpu) == "cpu"
    assert type(fnp.ones(2, device="cpu")._value) is np.ndarray


def test_devices_placement_and_mixing(four_cpus):
    assert ft.devices("cpu") == four_cpus and ft.device_count() == 4
    assert [d.id for d in four_cpus] == [0, 1, 2, 3]
    assert [str(d) for d in four_cpus] == ["cpu", "cpu:1", "cpu:2", "cpu:3"]
    assert ft.backends.get_device("cpu:2") is four_cpus[2]
    x = ft.device_put(np.arange(4.0), four_cpus[2])
    assert x.device is four_cpus[2] and x.sharding.device is four_cpus[2]
    y = fnp.sin(x) * 2 + x.sum()
    assert y.device is four_cpus[2] and y[1].device is four_cpus[2]
    np.testing.assert_allclose(y, np.sin(np.arange(4.0)) * 2 + 6)
    assert fnp.asarray(np.ones(2), device="cpu:3").device is four_cpus[3]
    assert fnp.zeros(2, device=four_cpus[1]).device is four_cpus[1]
    with ft.default_device(four_cpus[1]):
        a = fnp.eye(3) * 2
        assert fnp.linalg.inv(a).device is four_cpus[1]
        assert ft.random.normal(ft.random.key(0), (2,)).device is four_cpus[1]
    z = ft.device_put(np.arange(4.0), "cpu:1")
    with pytest.raises(ValueError, match="different devices .*cpu:1, cpu:2"):
        x + z
    with pytest.raises(ValueError, match="different devices"):
        ft.jit(lambda a, b: a + b)(x, z)
    back = ft.device_put(x, "cpu")
    assert type(back._value) is np.ndarray and back.device is ft.backends.cpu


def test_jit_and_grad_run_on_the_arguments_device(four_cpus):
    x = ft.device_put(np.linspace(0, 1, 6).reshape(2, 3), four_cpus[3])
    f = ft.jit(lambda a: fnp.tanh(a @ a.T).sum() + fnp.ones(()))
    out = f(x)
    assert out.device is four_cpus[3]
    h = np.linspace(0, 1, 6).reshape(2, 3)
    np.testing.assert_allclose(out, np.tanh(h @ h.T).sum() + 1, rtol=1e-12)
    g = ft.grad(lambda a: (fnp.sin(a) ** 2).sum())(x)
    assert g.device is four_cpus[3]
    np.testing.assert_allclose(g, np.sin(2 * h), rtol=1e-12)
    assert ft.vmap(lambda r: r @ r)(x).device is four_cpus[3]


def test_pmap_over_the_cpu_devices(four_cpus):
    out = ft.pmap(lambda a: ft.lax.psum(a * 2, "i"), axis_name="i")(fnp.arange(4.0))
    np.testing.assert_allclose(out, [12.0] * 4)
    idx = ft.pmap(lambda a: a + ft.lax.axis_index("i"), axis_name="i")(fnp.zeros(4))
    np.testing.assert_allclose(idx, [0, 1, 2, 3])


def test_named_sharding_shards_and_computation(four_cpus):
    mesh = ft.make_mesh((2, 2), ("x", "y"))
    assert mesh.devices.tolist() == [four_cpus[:2], four_cpus[2:]]
    s = NamedSharding(mesh, P("x"))
    data = np.arange(16.0).reshape(4, 4)
    z = ft.device_put(data, s)
    assert z.sharding == s and z.devices() == set(four_cpus) and not z.is_fully_replicated
    shards = z.addressable_shards
    assert [sh.device for sh in shards] == four_cpus
    assert [sh.replica_id for sh in shards] == [0, 1, 0, 1]
    assert [sh.index[0] for sh in shards] == [slice(0, 2), slice(0, 2), slice(2, 4),
                                              slice(2, 4)]
    for sh in shards:
        assert sh.data.device is sh.device
        np.testing.assert_array_equal(sh.data, data[sh.index])
    w = ft.jit(lambda a: fnp.sin(a) * 2)(z)
    assert w.sharding == s
    np.testing.assert_allclose(w, np.sin(data) * 2)
    assert fnp.sum(z).sharding == NamedSharding(mesh, P())
    assert (z + fnp.ones((4, 4))).sharding == s          # uncommitted: joins the mesh
    with pytest.raises(ValueError, match="different devices"):
        z + ft.device_put(np.ones((4, 4)), "cpu")        # committed to another device
    cols = ft.device_put(z, NamedSharding(mesh, P(None, "y")))
    assert [sh.index[1] for sh in cols.addressable_shards] == [slice(0, 2), slice(2, 4)] * 2
    np.testing.assert_array_equal(ft.device_put(cols, "cpu:1"), data)
    built = ft.make_array_from_callback((4, 4), s, lambda index: data[index])
    assert built.sharding == s
    np.testing.assert_array_equal(built, data)
    parts = [sh.data for sh in shards]
    again = ft.make_array_from_single_device_arrays((4, 4), s, parts)
    np.testing.assert_array_equal(again, data)
    with pytest.raises(ValueError, match="4 devices, so 4 arrays are needed, got 3"):
        ft.make_array_from_single_device_arrays((4, 4), s, parts[:3])


def test_shard_map_with_collectives(four_cpus):
    mesh = ft.make_mesh((2, 2), ("x", "y"))
    data = np.arange(32.0).reshape(8, 4)
    z = ft.device_put(data, NamedSharding(mesh, P("x", "y")))
    total = shard_map(lambda b: ft.lax.psum(b.sum(), ("x", "y")) * fnp.ones(1), mesh=mesh,
                      in_specs=P("x", "y"), out_specs=P())(z)
    np.testing.assert_allclose(total, [data.sum()])
    rows = shard_map(lambda b: ft.lax.psum(b, "y"), mesh=mesh, in_specs=P("x", "y"),
                     out_specs=P("x"))(z)
    np.testing.assert_allclose(rows, data.reshape(8, 2, 2).sum(1))
    assert rows.sharding == NamedSharding(mesh, P("x"))
    double = shard_map(lambda b: b * 2, mesh=mesh, in_specs=P("x", "y"),
                       out_specs=P("x", "y"))
    np.testing.assert_allclose(ft.jit(double)(z), data * 2)
    g = ft.grad(lambda a: (double(a) ** 2).sum())(z)
    np.testing.assert_allclose(g, 8 * data)
    index = shard_map(lambda b: ft.lax.axis_index("x") + 0 * b, mesh=mesh, in_specs=P("x"),
                      out_specs=P("x"))(np.zeros(4))
    np.testing.assert_allclose(index, [0, 0, 1, 1])
    with pytest.raises(ValueError, match="cannot be split evenly"):
        double(np.ones((3, 4)))


def test_visualize_array_sharding(four_cpus, capsys):
    mesh = ft.make_mesh((2, 2), ("x", "y"))
    ft.debug.visualize_array_sharding(ft.device_put(np.ones((4, 4)),
                                                    NamedSharding(mesh, P("x"))))
    text = capsys.readouterr().out
    assert "CPU 0,1" in text and "CPU 2,3" in text and text.count("\n") == 5


def test_refused_on_other_platforms(fake_gpus):
    two = NamedSharding(ft.sharding.Mesh(np.array(fake_gpus), ("x",)), P("x"))
    with pytest.raises(NotImplementedError, match="CPU devices only"):
        ft.device_put(np.ones(4), two)


def test_the_setting_and_xla_flags_in_a_fresh_process():
    out = _run("""
        import functrans as ft
        ft.config.update("jax_num_cpu_devices", 3)
        print([str(d) for d in ft.devices()], ft.local_device_count())
        try:
            ft.config.update("jax_num_cpu_devices", 2)
        except RuntimeError as e:
            print("refused:", "right after importing functrans" in str(e))
    """)
    assert out.split("\n")[:2] == ["['cpu', 'cpu:1', 'cpu:2'] 3", "refused: True"]
    out = _run("import functrans as ft; print(ft.device_count())",
               {"XLA_FLAGS": "--xla_force_host_platform_device_count=5"})
    assert out.strip() == "5"


def test_matches_jax_with_several_cpu_devices():
    pytest.importorskip("jax")
    code = """
        import json
        import numpy as np
        if LIB == "jax":
            import jax as ft, jax.numpy as fnp
            from jax.sharding import NamedSharding, PartitionSpec as P
        else:
            import functrans as ft, functrans.numpy as fnp
            from functrans.sharding import NamedSharding, P
        ft.config.update("jax_num_cpu_devices", 4)
        mesh = ft.make_mesh((2, 2), ("a", "b"))
        x = ft.device_put(np.arange(24.0).reshape(4, 6), NamedSharding(mesh, P("b", "a")))
        shards = [[s.device.id, [[i.start, i.stop] for i in s.index], s.replica_id,
                   np.asarray(s.data).tolist()] for s in x.addressable_shards]
        p = ft.pmap(lambda v: ft.lax.pmean(v ** 2, "i"), axis_name="i")(np.arange(4.0))
        f = ft.shard_map(lambda v: ft.lax.psum(v, "a"), mesh=mesh, in_specs=P("b", "a"),
                         out_specs=P("b"))
        print(json.dumps([ft.device_count(), [d.id for d in ft.devices()], shards,
                          np.asarray(p).tolist(), np.asarray(f(x)).tolist(),
                          str(ft.devices()[3])]))
    """
    got = [json.loads(_run(code.replace("LIB", repr(lib)))) for lib in ("jax", "functrans")]
    assert got[0][:5] == got[1][:5]
    assert got[0][5] == got[1][5] == "cpu:3"


def test_device_put_with_a_partition_spec_under_set_mesh():
    mesh = ft.make_mesh((1,), ("i",))
    with ft.set_mesh(mesh):
        x = ft.device_put(np.arange(4.0), ft.P("i"))
    assert x.device == mesh.devices.flat[0] and x.committed
    with pytest.raises(ValueError, match="PartitionSpec, which needs a mesh"):
        ft.device_put(np.arange(4.0), ft.P("i"))
