"""ft.pmap in one process: it is jit(vmap) over the local devices (pmap == vmap on one
process), composes with jit, grad and vmap, and checks its arguments; several devices of one
process run in threads whose collectives meet (the NumPy-backed fake GPUs stand in for GPUs,
through the generic thread communicator and through the NCCL communicator on a stand-in
NCCL). `ppermute` under vmap; the collectives of an axis spanning ranks with several lanes
per rank. Collectives across processes: tests/test_distributed.py."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.backends import processes
from functrans.interpreters.batching import Span, vmap_flat
from functrans.test_util import check_grads

RNG = np.random.default_rng(0)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def arr(*shape):
    return fnp.asarray(RNG.standard_normal(shape))


def close(a, b, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def one(f, **kw):
    """`f` pmapped over one device: the default one (`pytest --device fakegpu` has two)."""
    return ft.pmap(f, devices=ft.local_devices()[:1], **kw)


def collectives(v, w):
    return {"psum": lax.psum(v, "i"), "pmean": lax.pmean({"a": v, "b": w}, "i"),
            "pmax": lax.pmax(v, "i"), "pmin": lax.pmin(v, "i"),
            "gather": lax.all_gather(v, "i"), "tiled": lax.all_gather(v, "i", axis=1, tiled=True),
            "scatter": lax.psum_scatter(w, "i"), "ring": lax.ppermute(v, "i", [(0, 0)]),
            "index": lax.axis_index("i"), "size": lax.psum(1, "i")}


# ------------------------------------------------------------------ one device
def test_pmap_on_one_device_is_vmap():
    v, w = arr(1, 2, 3), arr(1, 1, 3)
    want = ft.vmap(collectives, axis_name="i")(v, w)
    for g in [one(collectives, axis_name="i"), ft.jit(one(collectives, axis_name="i")),
              one(ft.jit(collectives), axis_name="i")]:
        got = g(v, w)
        for a, b in zip(ft.tree_leaves(got), ft.tree_leaves(want)):
            close(a, b)
    device = ft.backends.default_device_now()
    assert ft.local_devices()[0] is device and ft.local_devices(backend="cpu") == [ft.devices()[0]]
    assert ft.device_count() == ft.local_device_count() == len(ft.devices(device.platform))
    assert ft.process_index() == 0 and ft.process_count() == 1


def test_axes_statics_keywords_donation_and_one_compilation():
    def f(x, scale, y, *, z):
        return x * scale + y, lax.psum(z, "i")

    p = one(f, axis_name="i", in_axes=(1, None, None), out_axes=(1, None),
            static_broadcasted_argnums=(1,))
    x, y, z = arr(2, 1, 3), arr(2, 3), arr(1, 4)
    a, b = p(x, 2.0, y, z=z)
    close(a, np.asarray(x) * 2 + np.asarray(y)[:, None])
    close(b, np.asarray(z)[0])
    p(x, 2.0, y, z=z)
    p(arr(2, 1, 3), 2.0, y, z=z)
    assert p.cache_info().misses == 1
    p(x, 3.0, y, z=z)                   # a new static value compiles again
    assert p.cache_info().misses == 2
    d = one(lambda x: x + 1, donate_argnums=0)
    x = fnp.asarray(np.ones((1, 5)))
    close(d(x), np.full((1, 5), 2.0))
    with pytest.raises(RuntimeError, match="donated"):
        x + 1


def test_derivatives_and_transforms_around_pmap():
    x, c = arr(1, 4), arr(1, 4)

    def f(v):
        return fnp.sin(v) * lax.pmean(v ** 2, "i") + lax.pmax(v, "i") * v

    pm = one(f, axis_name="i")
    vm = ft.vmap(f, axis_name="i")
    check_grads(pm, (x,), order=2, modes=("fwd", "rev"))
    close(ft.grad(lambda a: fnp.sum(pm(a) * c))(x), ft.grad(lambda a: fnp.sum(vm(a) * c))(x))
    close(one(ft.grad(lambda v: fnp.sum(f(v) * 2)), axis_name="i")(x),
          ft.vmap(ft.grad(lambda v: fnp.sum(f(v) * 2)), axis_name="i")(x))
    close(ft.jit(ft.grad(lambda a: fnp.sum(pm(a))))(x), ft.grad(lambda a: fnp.sum(vm(a)))(x))
    # vmap around pmap, and vmap's named axes inside it
    xs = arr(3, 1, 4)
    close(ft.vmap(pm)(xs), ft.vmap(vm)(xs))
    inner = one(ft.vmap(lambda v: lax.psum(v, ("i", "j")) + lax.axis_index("j"),
                        axis_name="j"), axis_name="i")
    y = arr(1, 3, 2)
    close(inner(y), np.asarray(y).sum((0, 1)) + np.arange(3)[None, :, None])


def test_errors():
    f = one(lambda v: lax.psum(v, "i"), axis_name="i")
    with pytest.raises(ValueError, match=r"axis of size 4, but this process has only 1 "
                                         r"device"):
        f(arr(4, 3))
    with pytest.raises(ValueError, match=r"different sizes.*size 1: args\[0\].*size 2: "
                                         r"args\[1\]"):
        one(lambda v, w: v + w)(arr(1, 3), arr(2, 3))
    with pytest.raises(NameError, match="axis name 'j'.*bound here are \\['i'\\].*ft.pmap"):
        one(lambda v: lax.psum(v, "j"), axis_name="i")(arr(1, 3))
    with pytest.raises(ValueError, match="varies across the batch"):
        one(lambda v: v, axis_name="i", out_axes=None)(arr(1, 3))
    with pytest.raises(ValueError, match="ppermute.*more than once"):
        ft.vmap(lambda v: lax.ppermute(v, "i", [(0, 1), (1, 1)]), axis_name="i")(arr(2))
    with pytest.raises(ValueError, match="outside the axis 'i' of size 2"):
        ft.vmap(lambda v: lax.ppermute(v, "i", [(0, 2)]), axis_name="i")(arr(2))


def test_launched_by_mpiexec_without_initialize_or_without_mpi4py(monkeypatch):
    ft.distributed.initialize()                 # a plain process: nothing happens
    assert not ft.distributed.is_initialized() and ft.process_count() == 1
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setenv("PMI_RANK", "0")
    with pytest.raises(RuntimeError, match=r"started by mpiexec.*ft.distributed.initialize"):
        one(lambda v: v)(arr(1, 2))
    monkeypatch.setitem(__import__("sys").modules, "mpi4py", None)
    with pytest.raises(RuntimeError, match=r"functrans\[mpi\]"):
        ft.distributed.initialize()
    monkeypatch.delenv("PMI_SIZE")
    monkeypatch.delenv("PMI_RANK")
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "3")
    assert processes.launcher_size() == 3


def test_importing_functrans_imports_neither_mpi4py_nor_cupy():
    code = ("import sys, functrans; assert 'mpi4py' not in sys.modules, 'mpi4py'; "
            "assert 'cupy' not in sys.modules, 'cupy'")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_helpers_in_one_process():
    n = ft.local_device_count()
    batch = (np.arange(12.0).reshape(6, 2), fnp.arange(6))
    x, y = ft.distributed.shard_batch(batch)
    assert x.shape == (n, 6 // n, 2) and isinstance(x, np.ndarray) and y.shape == (n, 6 // n)
    with pytest.raises(ValueError, match=r"shard_batch: leaf \[0\] has shape \(5, 2\)"):
        ft.distributed.shard_batch((np.zeros((5, 2)),), devices=[1, 2])
    tree = {"w": fnp.ones((2, 3)), "n": 3}
    rep = ft.distributed.replicate(tree)
    assert rep["w"].shape == (n, 2, 3)
    close(ft.distributed.unreplicate(rep)["w"], np.ones((2, 3)))
    assert ft.distributed.broadcast(tree) is tree
    close(ft.distributed.process_allgather(tree)["w"], np.ones((1, 2, 3)))
    ft.distributed.barrier()


def test_devices_of_a_world_of_several_processes():
    class TwoProcesses(processes.World):
        index, count = 1, 2

        def devices_of(self, process):
            return [("cpu", 0), ("cuda", 0)]
    old = processes.world()
    processes.set_world(TwoProcesses())
    try:
        devs = ft.devices()
        assert [d.process_index for d in devs][:2] == [0, 0]
        assert devs[0].platform == "cpu" and "process 0" in repr(devs[0])
        assert ft.devices("cpu")[1] is ft.local_devices(backend="cpu")[0]
        assert ft.device_count("cpu") == 2 and ft.local_device_count("cpu") == 1
        with pytest.raises(ValueError, match="belongs to another process"):
            ft.device_put(fnp.ones(2), devs[0])
    finally:
        processes.set_world(old)


# ------------------------------------------------------------------ ppermute under vmap
def test_ppermute_under_vmap():
    x = arr(4, 3)
    X = np.asarray(x)
    perm = [(0, 1), (1, 2), (3, 0)]
    want = np.zeros_like(X)
    for s, d in perm:
        want[d] = X[s]
    for g in [ft.vmap(lambda v: lax.ppermute(v, "i", perm), axis_name="i"),
              ft.jit(ft.vmap(lambda v: lax.ppermute(v, "i", perm), axis_name="i"))]:
        close(g(x), want)
    # a value the same in every lane, and an inner vmap batching over another axis
    close(ft.vmap(lambda v: lax.ppermute(x[0] + 0 * v, "i", perm), axis_name="i")(x),
          np.where(np.isin(np.arange(4), [1, 2, 0])[:, None], X[0], 0))
    y = arr(2, 4, 3)
    nested = ft.vmap(ft.vmap(lambda v: lax.ppermute(v, "i", perm), axis_name="i"))(y)
    close(nested, np.stack([np.asarray(ft.vmap(lambda v: lax.ppermute(v, "i", perm),
                                               axis_name="i")(y[k])) for k in range(2)]))
    g = ft.vmap(lambda v: fnp.sin(lax.ppermute(v ** 2, "i", perm)), axis_name="i")
    check_grads(g, (x,), order=2, modes=("fwd", "rev"))


# ------------------------------------------------------------------ ranks with several lanes
def _collectives_of_span(v):
    return (lax.psum(v, "i"), lax.pmax(v, "i"), lax.all_gather(v, "i"),
            lax.psum_scatter(fnp.stack([v] * 6), "i"), lax.axis_index("i"),
            lax.ppermute(v, "i", [(0, 5), (2, 1), (5, 3)]),
            lax.psum_scatter(fnp.concatenate([v] * 3), "i", tiled=True))


def test_an_axis_spanning_ranks_with_several_lanes_each():
    """Three ranks (threads) of two lanes each map like one vmap of six lanes."""
    x = arr(6, 2)
    want = ft.vmap(_collectives_of_span, axis_name="i")(x)
    cpu = ft.devices("cpu")[0]
    group = processes.ThreadGroup([cpu] * 3)
    results = [None] * 3

    def run(rank):
        results[rank] = vmap_flat(lambda v: list(_collectives_of_span(v)),
                                  [x[2 * rank:2 * rank + 2]], [0], 2, [0] * 7, "i",
                                  Span(group, rank))
    threads = [threading.Thread(target=run, args=(r,)) for r in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(7):
        close(np.concatenate([np.asarray(results[r][k]) for r in range(3)]),
              np.asarray(want[k]))


# ------------------------------------------------------------------ disable_jit
def test_disable_jit_runs_pmap_op_by_op():
    seen = []

    def f(x, scale):
        seen.append(x)                     # a Python side effect
        return lax.psum(x * scale, "i")
    p = one(f, axis_name="i", static_broadcasted_argnums=1)
    x = arr(1, 3)
    want = p(x, 2.0)
    p(x, 2.0)
    assert len(seen) == 1 and p.cache_info().misses == 1      # traced once, then compiled
    with ft.disable_jit():
        for k in range(3):
            close(p(x, 2.0), want)
            assert len(seen) == 2 + k                         # the Python code runs each call
            assert isinstance(seen[-1].val, ft.Array)         # on values: no trace, no compile
        assert "val = Array(" in repr(seen[-1])               # print shows them
        close(ft.grad(lambda x: fnp.sum(p(x, 2.0)))(x), np.full((1, 3), 2.0))
        close(one(ft.grad(lambda x: fnp.sum(f(x, 3.0))), axis_name="i")(x), np.full((1, 3), 3.0))
        with ft.disable_jit(False):
            n = len(seen)
            close(p(x, 2.0), want)
            assert len(seen) == n                             # compiled again: cached
    assert p.cache_info().misses == 1
    p(x, 2.0)
    assert len(seen) == n


# ------------------------------------------------------------------ several devices
@pytest.fixture
def fake_devices():
    import fakegpu
    registered = bool(ft.devices("fakegpu"))       # `pytest --device fakegpu` did already
    if not registered:
        fakegpu.register()
    try:
        yield ft.devices("fakegpu")
    finally:
        if not registered:
            fakegpu.unregister()


def _check_on_devices(devices):
    n = len(devices)
    v, w = arr(n, 2, 3), arr(n, n, 3)
    V, W = np.asarray(v), np.asarray(w)
    ring = [(q, (q + 1) % n) for q in range(n)]

    def f(v, w):
        return (lax.psum({"v": v, "n": fnp.ones(2, dtype=np.int32)}, "i"), lax.pmax(v, "i"),
                lax.all_gather(v, "i"), lax.psum_scatter(w, "i"), lax.ppermute(v, "i", ring),
                lax.axis_index("i"))
    p = ft.pmap(f, axis_name="i", devices=devices)
    total, top, gathered, scattered, ring_out, index = p(v, w)
    assert total["v"].device is devices[0]
    close(total["v"], np.broadcast_to(V.sum(0), V.shape))
    close(total["n"], np.full((n, 2), n))
    close(top, np.broadcast_to(V.max(0), V.shape))
    close(gathered, np.broadcast_to(V, (n,) + V.shape))
    close(scattered, W.sum(0))
    close(ring_out, np.roll(V, 1, axis=0))
    close(index, np.arange(n))
    # a data-parallel step equals the step on the whole batch
    wts = arr(3, 2)
    x, y = arr(4 * n, 3), arr(4 * n, 2)

    def loss(wts, x, y):
        return fnp.mean((fnp.tanh(x @ wts) - y) ** 2)
    step = ft.pmap(lambda wts, x, y: wts - 0.1 * lax.pmean(ft.grad(loss)(wts, x, y), "i"),
                   axis_name="i", in_axes=(None, 0, 0), devices=devices)
    got = step(wts, fnp.reshape(x, (n, 4, 3)), fnp.reshape(y, (n, 4, 2)))
    close(got, np.broadcast_to(np.asarray(wts - 0.1 * ft.grad(loss)(wts, x, y)), (n, 3, 2)),
          rtol=1e-10)
    return p


def test_disable_jit_runs_pmap_op_by_op_on_every_device(fake_devices):
    seen = []

    def f(v):
        seen.append((v.device, type(v.val)))
        return lax.psum(v, "i")
    p = ft.pmap(f, axis_name="i", devices=fake_devices)
    v = fnp.ones((2, 3))
    with ft.disable_jit():
        close(p(v), np.full((2, 3), 2.0))
        close(p(v), np.full((2, 3), 2.0))
        _check_on_devices(fake_devices)     # every collective, and a data-parallel step
    # once per device and call (each device's thread runs op by op, not only the caller's)
    assert sorted(seen, key=str) == sorted([(d, ft.Array) for d in fake_devices] * 2, key=str)
    assert p.cache_info().misses == 0


def test_several_devices_of_one_process(fake_devices):
    p = _check_on_devices(fake_devices)
    with pytest.raises(ValueError, match="cannot run inside another transform"):
        ft.jit(p)(arr(2, 2, 3), arr(2, 2, 3))
    with pytest.raises(ValueError, match="axis of size 3, but this process has only 2 "):
        p(arr(3, 2, 3), arr(3, 2, 3))
    with pytest.raises(ValueError, match="must have size 2"):
        p(arr(2, 2, 3), arr(3, 2, 3))

    failing = [True]

    def fails_on_device_1(v):
        if failing[0] and v.device == fake_devices[1]:
            raise FloatingPointError("lane 1 failed")
        return lax.psum(v, "i")
    flaky = ft.pmap(fails_on_device_1, axis_name="i", devices=fake_devices)
    with pytest.raises(FloatingPointError, match="lane 1 failed"):     # not a hang
        flaky(arr(2, 3))
    failing[0] = False
    close(flaky(fnp.ones((2, 3))), np.full((2, 3), 2.0))   # the devices still communicate


def test_nccl_communicator_on_a_stand_in(fake_devices, monkeypatch):
    import fakenccl
    from functrans.backends.nccl import NcclGroup
    backend = fake_devices[0].backend
    monkeypatch.setattr(type(backend), "communicator", lambda self, devices, world: NcclGroup(
        devices, world, fakenccl, lambda: 0, lambda a: a.ctypes.data), raising=False)
    fakenccl.calls.clear()
    _check_on_devices(fake_devices)
    # the psum of a pytree: one allReduce per dtype and rank, not one per leaf
    p = ft.pmap(lambda t: lax.psum(t, "i"), axis_name="i", devices=fake_devices)
    fakenccl.calls.clear()
    got = p({"a": arr(2, 3), "b": arr(2, 5), "c": fnp.ones((2, 4), dtype=np.float32),
             "z": fnp.ones((2, 2), dtype=np.complex128)})
    close(got["c"], np.full((2, 4), 2.0))
    close(got["z"], np.full((2, 2), 2.0))
    ops = sorted((op, count, dt) for op, rank, count, dt in fakenccl.calls if rank == 0)
    assert ops == sorted([("allReduce", 3 + 5, fakenccl.NCCL_FLOAT64),     # a and b together
                          ("allReduce", 4, fakenccl.NCCL_FLOAT32),
                          ("allReduce", 2 * 2, fakenccl.NCCL_FLOAT64)]), ops   # z as pairs


# ------------------------------------------------------------------ real GPUs (NCCL)
@pytest.mark.gpu
def test_nccl_on_gpus():
    """One NCCL rank per GPU, through CuPy's cupy.cuda.nccl: a communicator of the first GPU
    alone, then pmap over every GPU (with two or more)."""
    from cupy.cuda import nccl
    import cupy
    from functrans.backends.nccl import NcclGroup
    gpus = ft.devices("cuda")
    group = NcclGroup(gpus[:1], processes.World(), nccl,
                      lambda: cupy.cuda.get_current_stream().ptr, lambda a: a.data.ptr)
    with cupy.cuda.Device(gpus[0].id):
        xs = [cupy.arange(6.0).reshape(2, 3), cupy.ones(4, np.float32),
              cupy.arange(3, dtype=np.int32), cupy.ones(2, np.complex64)]
        for op in ("sum", "max"):
            got = group.allreduce(0, xs[:3] if op == "max" else xs, op)
            for g, x in zip(got, xs):
                assert g.dtype == x.dtype
                np.testing.assert_array_equal(cupy.asnumpy(g), cupy.asnumpy(x))
        np.testing.assert_array_equal(cupy.asnumpy(group.allgather(0, xs[0])),
                                      cupy.asnumpy(xs[0])[None])
        np.testing.assert_array_equal(cupy.asnumpy(group.reduce_scatter(0, xs[0][None])),
                                      cupy.asnumpy(xs[0]))
        np.testing.assert_array_equal(cupy.asnumpy(group.permute(0, xs[0], ((0, 0),))),
                                      cupy.asnumpy(xs[0]))
    if len(gpus) >= 2:
        _check_on_devices(gpus)


def test_a_shorter_axis_maps_over_the_first_devices(fake_devices):
    p = ft.pmap(lambda v: (lax.psum(v, "i"), lax.axis_index("i") + 0 * v.sum()),
                axis_name="i", devices=fake_devices)
    v = arr(1, 3)
    total, index = p(v)
    assert total.device is fake_devices[0]
    close(total, v)
    close(index, [0.0])
    total, index = p(arr(2, 3))                 # both devices again
    close(index, [0.0, 1.0])


def test_backend_and_axis_size(fake_devices):
    on_cpu = ft.pmap(lambda v: v * 2, backend="cpu")
    assert on_cpu(arr(1, 3)).device.platform == "cpu"
    fake = ft.pmap(lambda v: lax.psum(v, "i"), axis_name="i", backend="fakegpu")
    v = arr(2, 3)
    got = fake(v)
    assert got.device is fake_devices[0]
    close(got, np.broadcast_to(np.asarray(v).sum(0), (2, 3)))
    with pytest.raises(ValueError, match="not of backend 'cpu'"):
        ft.pmap(lambda v: v, devices=fake_devices, backend="cpu")(arr(2, 3))
    # no mapped argument: axis_size says over how many devices
    unmapped = ft.pmap(lambda v: v + lax.axis_index("i"), axis_name="i", in_axes=None,
                       axis_size=2, devices=fake_devices)
    close(unmapped(fnp.zeros(3)), np.repeat(np.arange(2.0)[:, None], 3, 1))
    v = arr(1, 3)
    close(ft.pmap(lambda v: v, axis_size=1)(v), v)
    with pytest.raises(ValueError, match="axis_size=2 was given.*mapped axis of size 1"):
        ft.pmap(lambda v: v, axis_size=2, devices=fake_devices)(arr(1, 3))
