"""ft.export (JAX's jax.export): Exported's fields against JAX, calling it (jit, vmap, grad),
serialize/deserialize round trips over a broad set of functions, reverse-mode derivatives kept
by vjp_order (and the error past it), and deserializing damaged or hostile bytes."""
import collections
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import export, lax
from functrans.test_util import check_grads

F32 = np.float32


def spec(shape, dtype=F32):
    return ft.ShapeDtypeStruct(shape, dtype)


# ----------------------------------------------------------------- fields, against JAX
def test_fields_match_jax():
    jax = pytest.importorskip("jax")
    from jax import export as jexport

    def f(x, i, *, scale):
        return {"y": fnp.sin(x) * i * scale, "i": i}

    def jf(x, i, *, scale):
        return {"y": jax.numpy.sin(x) * i * scale, "i": i}
    args = (spec((3, 2)), spec((), np.int32))
    e = export.export(ft.jit(f))(*args, scale=spec(()))
    jargs = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in args]
    j = jexport.export(jax.jit(jf))(*jargs, scale=jax.ShapeDtypeStruct((), F32))
    assert (e.fun_name, j.fun_name) == ("f", "jf")
    assert str(e.in_tree) == str(j.in_tree) and str(e.out_tree) == str(j.out_tree)
    assert [(a.shape, a.dtype) for a in e.in_avals] == [(a.shape, a.dtype) for a in j.in_avals]
    assert [(a.shape, a.dtype) for a in e.out_avals] == [(a.shape, a.dtype) for a in j.out_avals]
    assert e.platforms == j.platforms == ("cpu",) or ft.default_backend() != "cpu"
    assert e.nr_devices == j.nr_devices == 1
    assert e.in_shardings_hlo == j.in_shardings_hlo and e.out_shardings_hlo == \
        j.out_shardings_hlo
    assert e.calling_convention_version == j.calling_convention_version
    assert (export.minimum_supported_calling_convention_version,
            export.maximum_supported_calling_convention_version) == \
        (jexport.minimum_supported_calling_convention_version,
         jexport.maximum_supported_calling_convention_version)
    assert e.module_kept_var_idx == j.module_kept_var_idx == (0, 1, 2)
    assert e.ordered_effects == e.unordered_effects == () and not e.uses_global_constants
    assert "sin" in e.mlir_module() and e.has_vjp()
    assert export.default_export_platform() == ft.default_backend()


def test_kept_var_idx_leaves_out_unused_arguments():
    e = export.export(ft.jit(lambda a, b, c: a + c))(spec(()), spec(()), spec(()))
    assert e.module_kept_var_idx == (0, 2)


def test_vjp_layout():
    e = export.export(ft.jit(lambda x, i: (x * i, i)))(spec((3,)), spec((), np.int32))
    v = e.vjp()
    # primals, then a cotangent per floating output; cotangents of the floating inputs
    assert [(a.shape, a.dtype) for a in v.in_avals] == [((3,), F32), ((), np.int32),
                                                        ((3,), F32)]
    assert [(a.shape, a.dtype) for a in v.out_avals] == [((3,), F32)]
    np.testing.assert_allclose(v.call(fnp.ones(3), fnp.array(2, fnp.int32),
                                      fnp.array([1., 2., 3.]))[0], [2., 4., 6.])


# ----------------------------------------------------------------- calling
def test_call_under_jit_vmap_grad():
    def f(x, w):
        return fnp.tanh(x @ w).sum(-1)
    x, w = fnp.asarray(np.random.default_rng(0).normal(size=(4, 3)).astype(F32)), \
        fnp.ones((3, 2)) * 0.3
    e = export.export(ft.jit(f))(x, w)
    np.testing.assert_allclose(e.call(x, w), f(x, w), rtol=1e-6)
    np.testing.assert_allclose(ft.jit(e.call)(x, w), f(x, w), rtol=1e-6)
    row = export.export(ft.jit(f))(x[0], w)
    np.testing.assert_allclose(ft.vmap(row.call, (0, None))(x, w), f(x, w), rtol=1e-6)

    def loss(call):
        return lambda w: call(x, w).sum()
    np.testing.assert_allclose(ft.grad(loss(e.call))(w), ft.grad(loss(f))(w), rtol=1e-5)
    np.testing.assert_allclose(ft.jit(ft.grad(loss(e.call)))(w), ft.grad(loss(f))(w),
                               rtol=1e-5)


def test_derivatives_against_finite_differences():
    x = fnp.asarray(np.linspace(0.2, 1.1, 4))
    e = export.export(ft.jit(lambda x: fnp.sin(x) * fnp.exp(x)))(x)
    check_grads(e.call, (x,), order=2, modes=["rev"])
    r = export.deserialize(e.serialize(vjp_order=2))
    check_grads(r.call, (x,), order=2, modes=["rev"])


def test_kwargs_and_python_scalars():
    e = export.export(ft.jit(lambda x, *, y: x * y))(spec((2,)), y=1.0)
    np.testing.assert_allclose(e.call(fnp.ones(2), y=3.0), [3., 3.])


def test_call_errors_name_the_argument():
    e = export.export(ft.jit(lambda x, y: x + y))(spec((3,)), spec((3,)))
    with pytest.raises(ValueError, match=r"Shape mismatch for args\[1\]\.shape\[0\].*"
                                         r"expected \(3,\) and called with \(4,\)"):
        e.call(fnp.ones(3), fnp.ones(4))
    with pytest.raises(ValueError, match=r"Rank mismatch for args\[0\]"):
        e.call(fnp.ones((3, 1)), fnp.ones(3))
    with pytest.raises(ValueError, match=r"Dtype mismatch for args\[0\]: expected float32 "
                                         r"and called with int32"):
        e.call(fnp.ones(3, fnp.int32), fnp.ones(3))
    with pytest.raises(ValueError, match="same pytree structure"):
        e.call(fnp.ones(3))


def test_platforms_check():
    e = export.export(ft.jit(fnp.cos), platforms=["tpu"])(1.0)
    assert e.platforms == ("tpu",)
    with pytest.raises(ValueError, match=r"exported for platforms '\('tpu',\)' but it is used "
                                         r"on '\('cpu',\)'"):
        e.call(fnp.asarray(1.0, device="cpu"))
    ok = export.export(ft.jit(fnp.cos), platforms=["tpu"],
                       disabled_checks=[export.DisabledSafetyCheck.platform()])(1.0)
    np.testing.assert_allclose(ok.call(1.0), np.cos(1.0), rtol=1e-6)
    back = export.deserialize(ok.serialize())
    assert back.disabled_safety_checks == (export.DisabledSafetyCheck.platform(),)
    np.testing.assert_allclose(back.call(1.0), np.cos(1.0), rtol=1e-6)
    multi = export.export(ft.jit(fnp.cos), platforms=["tpu", "cpu", "cuda", "fakegpu"])(1.0)
    np.testing.assert_allclose(multi.call(1.0), np.cos(1.0), rtol=1e-6)
    with pytest.raises(ValueError, match="platforms"):
        export.export(ft.jit(fnp.cos), platforms="cpu")


def test_on_the_stand_in_gpu(fake_gpus):
    x = fnp.asarray(np.arange(3.0, dtype=F32), device=fake_gpus[0])
    e = export.export(ft.jit(lambda x: x * fnp.arange(3.0)))(x)
    assert e.platforms == ("cpu",)
    with pytest.raises(ValueError, match="fakegpu"):
        e.call(x)
    g = export.deserialize(export.export(ft.jit(lambda x: x * fnp.arange(3.0)),
                                         platforms=["fakegpu"])(x).serialize(vjp_order=1))
    out = g.call(x)
    assert out.device == fake_gpus[0]
    np.testing.assert_allclose(out, [0., 1., 4.])
    np.testing.assert_allclose(ft.grad(lambda x: g.call(x).sum())(x), [0., 1., 2.])


# ----------------------------------------------------------------- reverse mode after a round trip
def test_vjp_order_matches_jax_doc_example():
    x = fnp.float32(0.1)
    blob = export.export(ft.jit(lambda x: x * x * x * 7))(x).serialize(vjp_order=3)
    f = export.deserialize(blob).call
    np.testing.assert_allclose(f(x), 0.007, rtol=1e-5)
    np.testing.assert_allclose(ft.grad(f)(x), 0.21, rtol=1e-5)
    np.testing.assert_allclose(ft.grad(ft.grad(f))(x), 4.2, rtol=1e-5)
    np.testing.assert_allclose(ft.grad(ft.grad(ft.grad(f)))(x), 42., rtol=1e-5)
    with pytest.raises(ValueError, match=r"No VJP is available.*vjp_order=3"):
        ft.grad(ft.grad(ft.grad(ft.grad(f))))(x)


def test_vjp_order_0_refuses_reverse_mode():
    r = export.deserialize(export.export(ft.jit(fnp.sin))(spec((2,))).serialize())
    assert not r.has_vjp()
    np.testing.assert_allclose(r.call(fnp.ones(2)), np.sin(np.ones(2)), rtol=1e-6)
    with pytest.raises(ValueError, match=r"No VJP is available.*vjp_order=0"):
        ft.grad(lambda x: r.call(x).sum())(fnp.ones(2))
    with pytest.raises(ValueError, match="vjp_order"):
        export.export(ft.jit(fnp.sin))(spec(())).serialize(vjp_order=-1)


# ----------------------------------------------------------------- round trips
@ft.custom_jvp
def _soft(x):
    return fnp.log1p(fnp.exp(x))


_soft.defjvp(lambda p, t: (_soft(p[0]), t[0] * 2.0))     # deliberately not the true slope


@ft.custom_vjp
def _clip_grad(x):
    return fnp.sin(x)


_clip_grad.defvjp(lambda x: (fnp.sin(x), x), lambda x, g: (fnp.clip(g * fnp.cos(x), -.1, .1),))


def _mlp_step(params, x, y):
    def loss(p):
        h = fnp.tanh(x @ p["w1"] + p["b1"])
        return ((h @ p["w2"] - y) ** 2).mean()
    g = ft.grad(loss)(params)
    return ft.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, g), loss(params)


_R = np.random.default_rng(1)
_A = fnp.asarray(_R.normal(size=(3, 3)).astype(F32) + 3 * np.eye(3, dtype=F32))
_V = fnp.asarray(_R.normal(size=(5,)).astype(F32))
CASES = {
    "mlp_grad_step": (_mlp_step, ({"w1": fnp.ones((3, 4)) * .1, "b1": fnp.zeros(4),
                                   "w2": fnp.ones((4, 2)) * .2}, fnp.ones((5, 3)),
                                  fnp.zeros((5, 2)))),
    "scan": (lambda x: lax.scan(lambda c, a: (c * 0.5 + a, c * a), 1.0, x), (_V,)),
    "while": (lambda x: lax.while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, c[1] * 1.5),
                                       (0, x)), (_V,)),
    "fori_cond_switch": (lambda x, i: lax.fori_loop(0, 3, lambda k, c: lax.cond(
        c.sum() > 0, lambda c: c - 1.0, lambda c: lax.switch(i, [fnp.sin, fnp.cos], c), c), x),
        (_V, fnp.array(1))),
    "conv": (lambda x, k: lax.conv_general_dilated(x, k, (1, 1), "SAME", rhs_dilation=(2, 1)),
             (fnp.asarray(_R.normal(size=(1, 2, 6, 5)).astype(F32)),
              fnp.asarray(_R.normal(size=(3, 2, 3, 3)).astype(F32)))),
    "custom_rules": (lambda x: _soft(x) + _clip_grad(x) + ft.checkpoint(
        fnp.sin, policy=ft.checkpoint_policies.dots_saveable)(x), (_V,)),
    "random": (lambda k: (ft.random.normal(k, (3,)),
                          ft.random.uniform(ft.random.split(k)[1], (2, 2)),
                          ft.random.permutation(k, 6), ft.random.bernoulli(k, 0.3, (4,))),
               (ft.random.key(3),)),
    "sorting": (lambda x: (fnp.sort(x), fnp.argsort(x), lax.top_k(x, 2), fnp.cumsum(x),
                           fnp.searchsorted(fnp.sort(x), 0.0), lax.sort((x, -x), num_keys=1)),
                (_V,)),
    "linalg": (lambda a: (fnp.linalg.inv(a), fnp.linalg.cholesky(a @ a.T), fnp.linalg.qr(a),
                          fnp.linalg.eigh(a + a.T), fnp.linalg.solve(a, fnp.ones(3)),
                          fnp.linalg.slogdet(a), fnp.linalg.svd(a, compute_uv=False),
                          ft.scipy.linalg.lu_factor(a),
                          lax.custom_linear_solve(lambda v: a @ v, fnp.ones(3),
                                                  lambda mv, b: fnp.linalg.solve(a, b))),
               (_A,)),
    "indexing": (lambda x, i: (x[i], x[1:4:2], x.at[i].add(2.), x.at[fnp.array([0, 2])].max(0.),
                               fnp.take(x, fnp.array([4, 0])), lax.dynamic_slice(x, (i,), (2,)),
                               x.reshape(5, 1)[:, fnp.newaxis] * fnp.arange(3)), (_V, 2)),
    "dtypes_and_params": (lambda x: (x.astype(fnp.float16), x.astype(fnp.int32) // 2,
                                     lax.bitcast_convert_type(x, fnp.uint32),
                                     fnp.dot(x, x, precision=lax.Precision.HIGHEST),
                                     fnp.fft.rfft(x), fnp.pad(x, (1, 2), mode="reflect"),
                                     fnp.clip(x, 0, 1), ft.nn.softmax(x), fnp.round(x, 2),
                                     lax.reduce_window(x, -fnp.inf, lax.max, (2,), (1,), "VALID"),
                                     fnp.isnan(x), fnp.float64(2.5) * x.astype(fnp.float64)),
                          (_V,)),
    "nested_jit_vmap_named": (lambda x: ft.jit(lambda y: fnp.exp(y) / 2)(x) + ft.vmap(
        lambda r: ft.named_call(fnp.cos, name="c")(r))(x.reshape(5, 1)).ravel(), (_V,)),
    "constants": (lambda x: x + fnp.asarray(np.arange(5.0)) + fnp.asarray(_R.normal(size=5)),
                  (_V.astype(fnp.float64),)),
}


def _assert_trees_close(got, want):
    got_l, got_t = ft.tree_util.tree_flatten(got)
    want_l, want_t = ft.tree_util.tree_flatten(want)
    assert got_t == want_t
    for g, w in zip(got_l, want_l):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip(name):
    f, args = CASES[name]
    e = export.export(ft.jit(f))(*args)
    blob = e.serialize()
    assert isinstance(blob, bytearray) and blob[:8] == b"FTEXPORT"
    back = export.deserialize(blob)
    assert back.fun_name == e.fun_name and back.in_tree == e.in_tree and \
        back.out_tree == e.out_tree and back.in_avals == e.in_avals and \
        back.out_avals == e.out_avals
    want = ft.jit(f)(*args)
    _assert_trees_close(e.call(*args), want)
    _assert_trees_close(back.call(*args), want)
    _assert_trees_close(ft.jit(back.call)(*args), want)
    assert back.serialize() == blob          # the format is deterministic


def test_custom_rules_survive_in_the_serialized_vjp():
    f, (x,) = CASES["custom_rules"]
    want = ft.grad(lambda x: f(x).sum())(x)             # uses _soft's deliberate slope
    e = export.export(ft.jit(f))(x)
    back = export.deserialize(e.serialize(vjp_order=1))
    np.testing.assert_allclose(ft.grad(lambda x: back.call(x).sum())(x), want, rtol=1e-6)
    np.testing.assert_allclose(ft.grad(lambda x: e.call(x).sum())(x), want, rtol=1e-6)


def test_mlp_training_from_a_blob():
    f, (params, x, y) = CASES["mlp_grad_step"]
    back = export.deserialize(export.export(ft.jit(f))(params, x, y).serialize())
    p1, p2 = params, params
    for _ in range(3):
        p1, l1 = back.call(p1, x, y)
        p2, l2 = f(p2, x, y)
    _assert_trees_close((p1, l1), (p2, l2))


def test_deserialize_in_another_process(tmp_path):
    path = tmp_path / "f.bin"
    e = export.export(ft.jit(lambda x: fnp.tanh(x) * 3), platforms=["cpu"])(spec((2,)))
    path.write_bytes(e.serialize(vjp_order=1))
    code = ("import functrans as ft, functrans.numpy as fnp, sys\n"
            "e = ft.export.deserialize(open(sys.argv[1], 'rb').read())\n"
            "g = ft.grad(lambda x: e.call(x).sum())(fnp.zeros(2))\n"
            "print(e.call(fnp.ones(2)).tolist(), g.tolist())\n")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, timeout=120,
                         env={**os.environ, "FUNCTRANS_DEVICE": "cpu"}).stdout
    values = [float(v) for v in out.replace("[", " ").replace("]", " ").replace(",", " ")
              .split()]
    np.testing.assert_allclose(values, [3 * np.tanh(1.0)] * 2 + [3.0, 3.0], rtol=1e-6)


# ----------------------------------------------------------------- what cannot be serialized
def test_callback_refused_at_serialize_naming_primitive_and_param():
    e = export.export(ft.jit(lambda x: ft.pure_callback(np.sin, spec((2,)), x)))(spec((2,)))
    np.testing.assert_allclose(e.call(fnp.ones(2)), np.sin(np.ones(2)), rtol=1e-6)
    with pytest.raises(TypeError, match=r"primitive 'pure_callback'.*param 'callback'"):
        e.serialize()


def test_tree_nodes_need_registration():
    Pair = collections.namedtuple("Pair", "a b")
    e = export.export(ft.jit(lambda p: Pair(p.b, p.a)))(Pair(spec(()), spec((2,))))
    with pytest.raises(TypeError, match="register_namedtuple_serialization"):
        e.serialize()
    export.register_namedtuple_serialization(Pair, serialized_name="test_export.Pair")
    with pytest.raises(ValueError, match="Duplicate"):
        export.register_namedtuple_serialization(Pair, serialized_name="other")
    back = export.deserialize(e.serialize())
    out = back.call(Pair(fnp.float32(1), fnp.ones(2)))
    assert type(out) is Pair and out.b.shape == ()


def test_symbolic_shapes_not_implemented():
    with pytest.raises(NotImplementedError, match="concrete shapes"):
        export.symbolic_shape("b, 4")
    assert not export.is_symbolic_dim(3)


# ----------------------------------------------------------------- hostile bytes
def _blob():
    return bytes(export.export(ft.jit(lambda x, i: (lax.scan(
        lambda c, a: (c + a, c), 0.0, x)[1] * i, fnp.sort(x))))(
        fnp.ones(4), fnp.array(2)).serialize(vjp_order=1))


def test_every_truncation_is_refused():
    blob = _blob()
    for n in [*range(400), *range(400, len(blob), 7)]:
        with pytest.raises(export.DeserializationError):
            export.deserialize(blob[:n])
    with pytest.raises(export.DeserializationError, match="follow the end"):
        export.deserialize(blob + b"\0")


def test_byte_flips_raise_only_deserialization_errors():
    blob = _blob()
    rng = np.random.default_rng(0)
    refused = 0
    for _ in range(400):
        b = bytearray(blob)
        for at in rng.integers(0, len(b), rng.integers(1, 4)):
            b[at] = rng.integers(0, 256)
        try:
            export.deserialize(b)
        except export.DeserializationError:
            refused += 1
    assert refused > 300


def test_header_version_and_names():
    blob = _blob()
    with pytest.raises(export.DeserializationError, match="not an Exported"):
        export.deserialize(b"PK\x03\x04" + blob[4:])
    with pytest.raises(export.DeserializationError, match="format version 2"):
        export.deserialize(blob[:8] + struct.pack("<H", 2) + blob[10:])
    with pytest.raises(export.DeserializationError, match="unknown primitive 'nosuch'"):
        export.deserialize(blob.replace(b"\x04\x00\x00\x00sort", b"\x06\x00\x00\x00nosuch"))
    with pytest.raises(TypeError, match="bytes"):
        export.deserialize("text")


def _array_blob(dims, nbytes):
    """A blob whose function returns one float32 constant of shape `dims`, declaring
    `nbytes` bytes of data (then none)."""
    e = export.export(ft.jit(lambda: fnp.asarray(np.ones(3, F32))))()
    blob = bytes(e.serialize())
    at = blob.index(b"A\x07\x00\x00\x00float32\x01")
    head = b"A\x07\x00\x00\x00float32" + bytes([len(dims)]) + struct.pack(
        f"<{len(dims)}Q", *dims) + b"\0" + struct.pack("<Q", nbytes)
    return blob[:at] + head


def test_declared_sizes_are_checked_before_allocating():
    with pytest.raises(export.DeserializationError, match=r"needs \d+ bytes but only 0"):
        export.deserialize(_array_blob((1 << 40,), 4 << 40))          # 4 TiB: not allocated
    with pytest.raises(export.DeserializationError, match="the data says"):
        export.deserialize(_array_blob((1 << 40,), 12))
    with pytest.raises(export.DeserializationError, match="at most 64"):
        export.deserialize(_array_blob((1,) * 65, 4))
    blob = _blob()
    at = blob.index(b"\x02\x00\x00\x00\x02")                            # in_tree's 2 children
    with pytest.raises(export.DeserializationError, match="cannot fit"):
        export.deserialize(blob[:at] + struct.pack("<I", 1 << 31) + blob[at + 4:])


def test_equations_are_type_checked():
    blob = _blob()
    # a product of float32 values declared float64
    at = blob.index(b"\x03\x00\x00\x00mul")
    typed = blob.index(b"float32", at)
    bad = blob[:typed] + b"float64" + blob[typed + 7:]
    with pytest.raises(export.DeserializationError,
                       match=r"an output of 'mul' is f64\[4\] in the data but f32\[4\] by "
                             "its definition"):
        export.deserialize(bad)
