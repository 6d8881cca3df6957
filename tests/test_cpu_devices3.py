"""Several CPU devices, continued: the splits of indexing, gather and concatenate results,
pmap's unmapped arguments already laid out over its devices (no copy), uncommitted data
meeting an array on another platform (the stand-in GPU), and JAX's explicit-sharding names
(AxisType, AbstractMesh, get_abstract_mesh, use_abstract_mesh, get_mesh, reshard, auto_axes,
explicit_axes, make_single_device_sharding, Shard), compared with JAX 0.10.2 (four CPU devices,
in one subprocess) where it is installed."""
import contextlib
import io
import json
import sys

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import sharding as fs
from functrans.sharding import AxisType, NamedSharding, P
from functrans.test_util import check_grads
from test_cpu_devices import _run, four_cpus  # noqa: F401  (the fixture)

_OPS = """{"i1": lambda a: a[1], "i1:3": lambda a: a[1:3], "col": lambda a: a[:, 1],
 "cols": lambda a: a[:, 0:2], "step": lambda a: a[::2], "rev": lambda a: a[::-1],
 "gather": lambda a: a[np_.array([0, 2, 4, 6])],
 "take1": lambda a: np_.take(a, np_.array([0, 1]), axis=1), "none": lambda a: a[None],
 "cat0": lambda a: np_.concatenate([a, a]), "cat1": lambda a: np_.concatenate([a, a], 1),
 "cat_ones": lambda a: np_.concatenate([a, np_.ones((8, 4))]),
 "cat_short": lambda a: np_.concatenate([a, a[:2]]), "stack": lambda a: np_.stack([a, a]),
 "ds": lambda a: lax.dynamic_slice(a, (2, 0), (4, 4))}"""

# each case's split (trailing Nones dropped), and the values and splits of the API's cases
_CASES = """
def spec_of(x):
    s = tuple(x.sharding.spec)
    while s and s[-1] is None:
        s = s[:-1]
    return repr(s)

got = {}
rows = np.arange(32.0).reshape(8, 4)
auto = make_mesh((2, 2), ("x", "y"), axis_types=(AxisType.Auto,) * 2)
for spec in [P("x", "y"), P(("x", "y"))]:
    a = device_put(rows, NamedSharding(auto, spec))
    for name, f in OPS.items():
        for how, g in (("eager", f), ("jit", jit(f))):
            got[f"{spec} {name} {how}"] = spec_of(g(a))
    got[f"{spec} traced index"] = spec_of(jit(lambda a, i: a[i])(a, 2))
    got[f"{spec} traced ds"] = spec_of(jit(lambda a, i: lax.dynamic_slice(a, (i, 0), (4, 4)))(a, 2))
    b = device_put(rows, NamedSharding(auto, P(None, "y")))
    got[f"{spec} cat mixed"] = spec_of(np_.concatenate([b, a]))

mesh = make_mesh((2, 2), ("x", "y"))
got["types"] = repr((mesh.axis_types, auto.axis_types, list(AxisType)))
am = mesh.abstract_mesh
got["abstract"] = repr((am.axis_names, am.axis_sizes, dict(am.shape), am.size, am.axis_types))
made = sharding.AbstractMesh((2, 2), ("x", "y"))
got["abstract made"] = repr((made.axis_types, made.size, made == am,
                             made == sharding.AbstractMesh((2, 2), ("x", "y"))))
got["no mesh"] = repr((sharding.get_abstract_mesh().axis_names, sharding.get_mesh().empty,
                       sharding.get_mesh().size))
x = device_put(rows, NamedSharding(mesh, P("x", "y")))
got["reshard"] = spec_of(reshard(x, NamedSharding(mesh, P("y"))))
got["reshard tree"] = [spec_of(v) for v in
                       reshard({"a": x, "b": x}, NamedSharding(mesh, P())).values()]
with set_mesh(mesh):
    got["current"] = (sharding.get_abstract_mesh() == am, sharding.get_mesh() == mesh)
    got["reshard P"] = spec_of(reshard(x, P(None, "x")))
    y = reshard(np.arange(4.0), P("x"))
    got["reshard numpy"] = [spec_of(y), y.committed, y.tolist()]
    got["jit reshard"] = spec_of(jit(lambda a: reshard(a * 2, P("y")))(x))
    z = sharding.auto_axes(lambda a: a * 2, out_sharding=P("x"))(x)
    got["auto_axes"] = [spec_of(z), z.tolist()]
with sharding.use_abstract_mesh(am):
    got["use_abstract_mesh"] = (sharding.get_abstract_mesh() == am, sharding.get_mesh().empty)
with set_mesh(auto):
    xa = device_put(rows, NamedSharding(auto, P("x", "y")))
    w = sharding.explicit_axes(lambda a: a * 2, in_sharding=P("x"))(xa)
    got["explicit_axes"] = [spec_of(w), w.tolist()]
    try:
        reshard(xa, P("y"))
        got["reshard auto"] = "no error"
    except ValueError:
        got["reshard auto"] = "ValueError"
r = device_put(np.arange(4.0), NamedSharding(mesh, P("x")))
got["shards"] = [(d.id, repr(s.index), s.replica_id, s.data.tolist(), type(s).__name__)
                 for s, d in zip(r.addressable_shards, mesh.devices.flat)]
s1 = sharding.make_single_device_sharding(mesh.devices.flat[1])
got["single"] = [type(s1).__name__, [d.id for d in s1.device_set],
                device_put(rows, s1).sharding == s1]
print(json.dumps(got))
"""


def _functrans_cases(cpus):
    ns = {"np": np, "np_": fnp, "lax": ft.lax, "json": json, "P": P, "AxisType": AxisType,
          "NamedSharding": NamedSharding, "device_put": ft.device_put, "jit": ft.jit,
          "make_mesh": ft.make_mesh, "set_mesh": ft.set_mesh, "reshard": ft.reshard,
          "sharding": fs}
    ns["OPS"] = eval(_OPS, ns)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(_CASES, ns)
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def jax_cases():
    pytest.importorskip("jax")
    return json.loads(_run(
        "import json, numpy as np, jax, jax.numpy as np_\n"
        "jax.config.update('jax_num_cpu_devices', 4)\n"
        "from jax import device_put, jit, lax, make_mesh, set_mesh, reshard, sharding\n"
        "from jax.sharding import NamedSharding, PartitionSpec as P, AxisType\n"
        f"OPS = {_OPS}\n{_CASES}"))


def test_index_gather_concatenate_and_sharding_api_match_jax(four_cpus, jax_cases):
    got = _functrans_cases(four_cpus)
    assert got.keys() == jax_cases.keys()
    wrong = {k: (got[k], jax_cases[k]) for k in got if got[k] != jax_cases[k]}
    assert not wrong


def test_splits_of_slices_without_jax(four_cpus):
    mesh = ft.make_mesh((2, 2), ("x", "y"))
    a = ft.device_put(np.arange(32.0).reshape(8, 4), NamedSharding(mesh, P(("x", "y"))))
    # eagerly a shortened axis loses its split; compiled it keeps what still divides it
    assert a[1:7].sharding.spec == P() and a[:, 1].sharding.spec == P(("x", "y"))
    assert ft.jit(lambda a: a[1:7])(a).sharding.spec == P("x")
    cat = fnp.concatenate([a, a[:2]])
    assert ft.jit(lambda a: fnp.concatenate([a, a[:2]]))(a).sharding.spec == P("x")
    np.testing.assert_array_equal(cat, np.concatenate([np.asarray(a), np.asarray(a)[:2]]))


def test_unmapped_pmap_argument_on_its_devices_is_not_copied(four_cpus, monkeypatch):
    pmap_module = sys.modules["functrans.pmap"]
    mesh = ft.make_mesh((4,), ("i",))
    w = ft.device_put(np.arange(3.0), NamedSharding(mesh, P()))
    split = ft.device_put(np.arange(8.0).reshape(4, 2), NamedSharding(mesh, P("i")))
    moved = []
    real = pmap_module.transfer
    monkeypatch.setattr(pmap_module, "transfer",
                        lambda raw, d: moved.append(raw.shape) or real(raw, d))
    f = ft.pmap(lambda x, w, s: x * w + s.sum(), axis_name="i", in_axes=(0, None, None))
    out = f(np.ones((4, 3)), w, split)
    assert (3,) not in moved and (4, 2) not in moved
    np.testing.assert_array_equal(out, np.ones((4, 3)) * np.arange(3.0) + 28.0)
    # the unmapped result of one pmap fed to the next as an unmapped argument
    total = ft.pmap(lambda x: ft.lax.psum(x, "i"), axis_name="i", out_axes=None)
    s = total(np.arange(12.0).reshape(4, 3))
    assert s.sharding == NamedSharding(ft.sharding.Mesh(np.array(four_cpus), ("i",)), P())
    moved.clear()
    np.testing.assert_array_equal(f(np.ones((4, 3)), s, split),
                                  np.ones((4, 3)) * [18.0, 22.0, 26.0] + 28.0)
    assert (3,) not in moved
    # placed elsewhere: copied to each device as before
    on_one = ft.device_put(np.arange(3.0), four_cpus[1])
    moved.clear()
    f(np.ones((4, 3)), on_one, split)
    assert moved.count((3,)) == 4          # (a call per device)


def test_uncommitted_data_joins_an_array_on_the_fake_gpu(fake_gpus):
    g0, g1 = fake_gpus
    x = ft.device_put(np.arange(3.0), g0)
    add = ft.jit(lambda a, b: a + b)
    for other in (fnp.ones(3), np.ones(3), ft.device_put(np.ones(3))):
        for got in (x + other, other + x, add(x, other), add(other, x),
                    fnp.concatenate([other, x]), fnp.where(x > 0, other, x)):
            assert got.device is g0 and got.committed
        np.testing.assert_array_equal(x + other, np.arange(3.0) + 1)
    np.testing.assert_array_equal(fnp.stack([fnp.zeros(3), x]), [[0, 0, 0], [0, 1, 2]])
    for committed in (ft.device_put(np.ones(3), "cpu"), ft.device_put(np.ones(3), g1)):
        for op in (lambda: x + committed, lambda: add(committed, x)):
            with pytest.raises(ValueError, match="different devices|is on"):
                op()
    # an uncommitted array on the stand-in GPU (the default device there) joins the cpu
    ft.config.update("default_device", "fakegpu:0")
    try:
        loose = fnp.ones(3)
        assert loose.device is g0 and not loose.committed
        c = ft.device_put(np.arange(3.0), "cpu")
        assert (loose + c).device is ft.backends.cpu and add(c, loose).device is ft.backends.cpu
    finally:
        ft.config.update("default_device", "cpu")


def test_sharding_api_without_jax(four_cpus):
    mesh = ft.make_mesh((2, 2), ("x", "y"))
    assert mesh.axis_types == (AxisType.Explicit,) * 2
    assert ft.sharding.Mesh(np.array(four_cpus), "i").axis_types == (AxisType.Auto,)
    assert fs.get_mesh().empty and fs.get_abstract_mesh() == fs.AbstractMesh((), ())
    with ft.set_mesh(mesh):
        assert fs.get_mesh() is mesh and fs.get_abstract_mesh() == mesh.abstract_mesh
        y = ft.reshard({"w": np.ones((4, 2))}, {"w": P(None, "y")})["w"]
        assert y.sharding == NamedSharding(mesh, P(None, "y"))
        with pytest.raises(ValueError, match="2 shardings for 1 arrays"):
            ft.reshard({"w": np.ones(2)}, [P(), P()])
    with pytest.raises(ValueError, match="needs a mesh"):
        ft.reshard(np.ones(4), P("x"))
    with pytest.raises(TypeError, match="AbstractMesh"):
        fs.use_abstract_mesh(mesh)
    with pytest.raises(ValueError, match="axis_types"):
        ft.make_mesh((2, 2), ("x", "y"), axis_types=(AxisType.Auto,))
    x = ft.device_put(np.arange(8.0), NamedSharding(mesh, P("y")))
    shards = x.addressable_shards
    assert all(type(s) is ft.Shard for s in shards)
    assert [s.replica_id for s in shards] == [0, 0, 1, 1]
    again = ft.Shard(four_cpus[3], x.sharding, x.shape)
    assert (again.index, again.replica_id, again.data) == (shards[3].index, 1, None)
    assert fs.make_single_device_sharding("cpu:2").device is four_cpus[2]
    moved = NamedSharding(mesh, P("x"))
    check_grads(lambda a: ft.reshard(a, moved) ** 2, (np.arange(8.0),), order=2)
    np.testing.assert_array_equal(ft.vmap(lambda r: ft.reshard(r, moved) * 2)(np.ones((2, 4))),
                                  np.full((2, 4), 2.0))
