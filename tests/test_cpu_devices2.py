"""JAX's placement rules with several CPU devices: uncommitted arrays (made without a
placement) join the committed ones they meet, `x.committed`, and the split results of
operations on arrays laid out over a mesh keep (compared with JAX in a subprocess)."""
import contextlib
import io
import json

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.sharding import NamedSharding, P, shard_map
from test_cpu_devices import _run, four_cpus  # noqa: F401  (the fixture)


def test_committed(four_cpus):
    assert not fnp.ones(3).committed and not (fnp.ones(3) + 1).committed
    assert not ft.device_put(np.ones(3)).committed
    assert ft.device_put(np.ones(3), "cpu").committed
    c1 = ft.device_put(np.ones(3), four_cpus[1])
    assert c1.committed and (c1 * 2).committed and ft.jit(fnp.exp)(c1).committed
    mesh = ft.make_mesh((4,), ("x",))
    assert ft.device_put(np.ones(4), NamedSharding(mesh, P("x"))).committed


def test_uncommitted_arrays_join_committed_ones(four_cpus):
    c1 = ft.device_put(np.arange(3.0), four_cpus[1])
    for got in (c1 + fnp.ones(3), fnp.ones(3) * c1, ft.jit(lambda a, b: a - b)(fnp.ones(3), c1)):
        assert got.device is four_cpus[1] and got.committed
    mesh = ft.make_mesh((2, 2), ("x", "y"))
    s = NamedSharding(mesh, P("x", "y"))
    z = ft.device_put(np.arange(16.0).reshape(4, 4), s)
    add = ft.jit(lambda a, b: a + b)
    for got in (z + fnp.ones((4, 4)), fnp.ones((4, 4)) + z, z + np.ones((4, 4)), z + 2.0,
                add(z, fnp.ones((4, 4))), add(fnp.ones((4, 4)), z), add(z, np.ones((4, 4))),
                add(z, 2.0)):
        assert got.sharding == s
    np.testing.assert_allclose(add(z, fnp.ones((4, 4))), np.arange(16.0).reshape(4, 4) + 1)
    c0 = ft.device_put(np.ones((4, 4)), "cpu")
    for op in (lambda: z + c0, lambda: add(z, c0), lambda: c1 + ft.device_put(np.ones(3), "cpu"),
               lambda: add(c1[:1], ft.device_put(np.ones(1), four_cpus[2]))):
        with pytest.raises(ValueError, match="different devices"):
            op()


_OPS = """{"exp": lambda a: np_.exp(a), "add1": lambda a: a + 1, "sum0": lambda a: a.sum(0),
 "sum1": lambda a: a.sum(1), "sumall": lambda a: a.sum(), "max1": lambda a: a.max(1),
 "mean0": lambda a: a.mean(0), "matmul": lambda a: a @ np_.ones((4, 3)),
 "T": lambda a: a.T, "reshape844": lambda a: a.reshape(8, 2, 2),
 "reshape244": lambda a: a.reshape(2, 4, 4), "square": lambda a: a * a}"""

_GRID = """
specs = [P("x", None), P("x", "y"), P(None, "y"), P(("x", "y"))]
got = {}
for spec in specs:
    a = device_put(np.arange(32.0).reshape(8, 4), NamedSharding(mesh, spec))
    for name, f in OPS.items():
        for how, g in (("eager", f), ("jit", jit(f))):
            s = tuple(g(a).sharding.spec)
            while s and s[-1] is None:
                s = s[:-1]
            got[f"{spec} {name} {how}"] = repr(s)
print(json.dumps(got))
"""


def test_result_splits_match_jax(four_cpus):
    pytest.importorskip("jax")
    jax_code = ("import json, numpy as np, jax, jax.numpy as np_\n"
                "jax.config.update('jax_num_cpu_devices', 4)\n"
                "from jax import device_put, jit\n"
                "from jax.sharding import NamedSharding, PartitionSpec as P, AxisType\n"
                "mesh = jax.make_mesh((2, 2), ('x', 'y'), axis_types=(AxisType.Auto,) * 2)\n"
                f"OPS = {_OPS}\n{_GRID}")
    expected = json.loads(_run(jax_code))
    ns = {"np": np, "np_": fnp, "json": json, "P": P, "NamedSharding": NamedSharding,
          "device_put": ft.device_put, "jit": ft.jit,
          "mesh": ft.make_mesh((2, 2), ("x", "y"))}
    ns["OPS"] = eval(_OPS, ns)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(_GRID, ns)
    got = json.loads(out.getvalue())
    assert got == expected


def test_jitted_shard_map_results_keep_out_specs(four_cpus):
    mesh = ft.make_mesh((2, 2), ("x", "y"))
    z = ft.device_put(np.arange(32.0).reshape(8, 4), NamedSharding(mesh, P("x", "y")))
    rows = ft.jit(shard_map(lambda b: ft.lax.psum(b, "y"), mesh=mesh, in_specs=P("x", "y"),
                            out_specs=P("x")))(z)
    assert rows.sharding == NamedSharding(mesh, P("x"))
    np.testing.assert_allclose(rows, np.arange(32.0).reshape(8, 2, 2).sum(1))
    double = ft.jit(shard_map(lambda b: b * 2, mesh=mesh, in_specs=P("x", "y"),
                              out_specs=P("x", "y")))
    assert double(z).sharding == z.sharding
