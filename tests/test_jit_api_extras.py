"""JAX API around jit and shapes: `Jitted.trace` / `.eval_shape`, `Lowered.out_info` /
`in_tree`, `jit(device=..., backend=...)`, `ShapeDtypeStruct`'s weak_type, len and sharding,
Python scalars in `eval_shape`, and `vmap(spmd_axis_name=...)`. Devices other than the host
are the stand-in of tests/fakegpu.py."""
import warnings

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.backends import cpu
from functrans.tree_util import tree_structure


SDS = ft.ShapeDtypeStruct


def _sds_tuple(s):
    return (tuple(s.shape), np.dtype(s.dtype), bool(s.weak_type))


def pinned(fun, **kw):
    """`ft.jit(fun, **kw)`, its deprecation warning checked."""
    with pytest.warns(DeprecationWarning, match="device and backend arguments are deprecated"):
        return ft.jit(fun, **kw)


@pytest.fixture
def gpu(fake_gpus):
    return fake_gpus


# ------------------------------------------------------------------ ShapeDtypeStruct
def test_shape_dtype_struct_len_ndim_size_and_sharding():
    s = SDS((3, 4), np.float32, sharding=None)
    assert (len(s), s.ndim, s.size) == (3, 2, 12)
    assert s.weak_type is False and s.sharding is None
    with pytest.raises(TypeError, match="len\\(\\) of unsized object"):
        len(SDS((), np.float32))


def test_shape_dtype_struct_equality_and_hash_include_weak_type():
    strong, weak = SDS((2,), np.float32), SDS((2,), np.float32, weak_type=True)
    assert strong != weak and weak == SDS((2,), "float32", weak_type=True)
    assert len({strong, weak, SDS((2,), np.float32)}) == 2
    assert repr(weak) == "ShapeDtypeStruct(shape=(2,), dtype=float32, weak_type=True)"


def test_weak_shape_dtype_struct_traces_as_a_python_scalar_would():
    half = SDS((3,), np.float16)
    assert ft.eval_shape(lambda a, b: a * b, SDS((), np.float32, weak_type=True), half) == half
    assert ft.eval_shape(lambda a, b: a * b, SDS((), np.float32), half).dtype == np.float32
    assert ft.eval_shape(lambda a: a, SDS((2,), np.float32, weak_type=True)).weak_type


# ------------------------------------------------------------------ eval_shape of Python scalars
def test_eval_shape_traces_python_scalars_as_weakly_typed_arrays():
    out = ft.eval_shape(lambda n: n * 2, 3)
    assert out.shape == () and out.dtype.kind == "i" and out.weak_type
    assert ft.eval_shape(lambda a, b: a * b, 2.0, SDS((3,), np.float16)) == \
        SDS((3,), np.float16)
    with pytest.raises(ft.errors.ConcretizationError):     # traced, not a static value
        ft.eval_shape(lambda n: fnp.zeros(n), 3)


def test_eval_shape_of_a_bool_is_not_weakly_typed():
    assert ft.eval_shape(lambda b: b, True) == SDS((), np.bool_)


def test_eval_shape_of_a_returned_python_number_is_weakly_typed():
    # as JAX's: a Python number the function returns is weak (it was reported strong)
    assert ft.eval_shape(lambda: 2.0) == SDS((), np.float32, weak_type=True)
    assert ft.eval_shape(lambda: {"n": 2, "z": 1j, "b": True, "a": fnp.ones(2)}) == {
        "n": SDS((), np.int64, weak_type=True), "z": SDS((), np.complex64, weak_type=True),
        "b": SDS((), np.bool_), "a": SDS((2,), np.float32)}
    assert ft.make_jaxpr(lambda: 2.0, return_shape=True)()[1].weak_type


def test_make_jaxpr_return_shape_keeps_weak_type():
    _, shape = ft.make_jaxpr(lambda a: a * 2, return_shape=True)(3.0)
    assert shape == SDS((), np.float32, weak_type=True)


# ------------------------------------------------------------------ Jitted.trace / eval_shape
def _scale(x, n, y=None):
    return x * n if y is None else (x * n, y)


def test_trace_gives_jaxpr_out_info_trees_and_lowers():
    calls = []

    def f(x, y):
        calls.append(1)
        return {"s": x + y, "p": x * 2}
    x = np.ones(3, np.float32)
    traced = ft.jit(f).trace(x, 1.0)
    assert "add" in str(traced.jaxpr) and traced.jaxpr.out_avals[0].shape == (3,)
    assert traced.out_info == {"p": SDS((3,), np.float32), "s": SDS((3,), np.float32)}
    assert traced.in_tree == tree_structure(((x, 1.0), {}))
    assert traced.out_tree == tree_structure({"p": 0, "s": 0})
    compiled = traced.lower().compile()
    np.testing.assert_array_equal(compiled(x, 1.0)["s"], np.full(3, 2.0, np.float32))
    assert len(calls) == 1


def test_trace_leaves_static_arguments_out_of_in_tree():
    x = SDS((3,), np.float32)
    jitted = ft.jit(_scale, static_argnums=1)
    assert jitted.trace(x, 2).in_tree == tree_structure(((x,), {}))
    traced = jitted.trace(x, 2, y=3.0)
    assert str(traced.in_tree) == "PyTreeDef(((*,), {'y': *}))"
    assert traced.out_info == (SDS((3,), np.float32), SDS((), np.float32, weak_type=True))


def test_jitted_eval_shape_computes_nothing_and_keeps_weak_types():
    jitted = ft.jit(lambda a, b: (a @ b, a.sum() + 1))
    out = jitted.eval_shape(SDS((2, 3), np.float32), np.ones((3, 5), np.float32))
    assert out == (SDS((2, 5), np.float32), SDS((), np.float32))
    scalar = ft.jit(lambda n: n * 2).eval_shape(3)
    assert scalar.shape == () and scalar.dtype.kind == "i" and scalar.weak_type


def test_lowered_out_info_and_in_tree():
    lowered = ft.jit(_scale, static_argnums=1).lower(SDS((3,), np.float32), 2, y=1.5)
    assert lowered.in_tree == tree_structure(((0,), {"y": 0}))
    assert lowered.out_tree == tree_structure((0, 0))
    # the compiled function returns Arrays: on its device (the default one), never weakly typed
    here = ft.backends.default_device_now()
    assert [(s.shape, s.dtype, s.weak_type, s.device) for s in lowered.out_info] == \
        [((3,), np.float32, False, here), ((), np.float32, False, here)]


# ------------------------------------------------------------------ jit(device=, backend=)
def test_jit_backend_cpu_runs_and_warns_as_deprecated():
    f = pinned(lambda a: a + 1, backend="cpu")
    out = f(np.ones(2))
    assert out.device is cpu
    np.testing.assert_array_equal(out, [2.0, 2.0])
    assert f(1) == 2


def test_jit_device_and_backend_errors():
    with pytest.raises(ValueError, match="can't specify both a device and a backend"):
        pinned(lambda a: a, device="cpu", backend="cpu")
    with pytest.raises(ValueError, match="no backend for platform 'tpu'"):
        pinned(lambda a: a, backend="tpu")
    with pytest.raises(ValueError, match="unknown device 'tpu:0'"):
        pinned(lambda a: a, device="tpu:0")


def test_jit_decorator_form_takes_device():
    with pytest.warns(DeprecationWarning):
        @ft.jit(device="cpu")
        def f(a):
            return a * 3
    assert f(2.0) == 6.0


def test_jit_device_moves_arguments_and_runs_there(gpu):
    dev0, dev1 = gpu
    x = np.arange(4.0)
    f = pinned(lambda a, b: a * b + 1.0, device=dev1)
    for args in [(x, 2.0), (ft.device_put(x, cpu), 2.0), (ft.device_put(x, dev0), 2.0),
                 (ft.device_put(x, dev1), ft.device_put(2.0, dev0))]:
        out = f(*args)
        assert out.device is dev1
        np.testing.assert_array_equal(out, x * 2.0 + 1.0)
    # arguments already there take the fast path; others keep going to the device
    on_dev1 = ft.device_put(x, dev1)
    hits = f.cache_info().hits
    assert f(on_dev1, on_dev1).device is dev1 and f(on_dev1, on_dev1).device is dev1
    assert f(x, x).device is dev1
    assert f.cache_info().hits >= hits + 2


def test_jit_device_without_array_arguments(gpu):
    dev = gpu[0]
    assert pinned(lambda: fnp.arange(3.0), device=dev)().device is dev
    assert pinned(lambda n: fnp.ones(2) * n, device=dev)(3.0).device is dev
    assert pinned(lambda n: fnp.ones(2) * n, backend="fakegpu")(3.0).device is dev


def test_jit_with_and_without_device_keep_separate_caches(gpu):
    def f(a):
        return a + 1.0
    on_gpu = ft.device_put(np.ones(2), gpu[0])
    assert ft.jit(f)(on_gpu).device is gpu[0]
    assert pinned(f, device="cpu")(on_gpu).device is cpu
    assert ft.jit(f)(on_gpu).device is gpu[0]


def test_jit_device_lowers_and_compiles_for_that_device(gpu):
    f = pinned(lambda a: a * 2.0, device=gpu[1])
    lowered = f.lower(SDS((3,), np.float32))
    assert lowered.out_info.device is gpu[1]
    out = lowered.compile()(ft.device_put(np.ones(3, np.float32), gpu[0]))
    assert out.device is gpu[1]
    assert f.eval_shape(np.ones(3, np.float32)) == SDS((3,), np.float32)
    assert pinned(lambda: fnp.arange(3.0), device=gpu[1]).lower().out_info.device is gpu[1]


def test_jit_device_composes_with_grad():
    f = pinned(lambda a: (a * a).sum(), device="cpu")
    np.testing.assert_allclose(ft.grad(f)(fnp.arange(3.0)), [0.0, 2.0, 4.0])


# ------------------------------------------------------------------ vmap(spmd_axis_name=)
def test_vmap_accepts_and_ignores_spmd_axis_name():
    x = np.arange(6.0).reshape(2, 3)
    out = ft.vmap(lambda r: r.sum(), spmd_axis_name="data")(x)
    np.testing.assert_array_equal(out, [3.0, 12.0])
    named = ft.vmap(lambda r: ft.lax.psum(r, "b"), axis_name="b", spmd_axis_name=("x", "y"))
    np.testing.assert_array_equal(named(x), np.broadcast_to(x.sum(0), (2, 3)))


# ------------------------------------------------------------------ against JAX
def test_against_jax():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        jf = jax.jit(_scale, static_argnums=1, backend="cpu")
        ff = ft.jit(_scale, static_argnums=1, backend="cpu")
    x = np.ones(3, np.float32)
    jt, tt = jf.trace(x, 2, y=3.0), ff.trace(x, 2, y=3.0)
    assert str(jt.in_tree) == str(tt.in_tree) and str(jt.out_tree) == str(tt.out_tree)
    assert [_sds_tuple(s) for s in jt.out_info] == [_sds_tuple(s) for s in tt.out_info]
    jl, tl = jf.lower(x, 2, y=3.0), ff.lower(x, 2, y=3.0)
    assert str(jl.in_tree) == str(tl.in_tree)
    assert [_sds_tuple(s) for s in jl.out_info] == [_sds_tuple(s) for s in tl.out_info]
    for fun, args in [(lambda a: a * 2, (3.0,)), (lambda a: a * 2, (2,)),
                      (lambda a, b: a + b, (1.0, np.ones(2, np.float16))),
                      (lambda b: b, (True,))]:
        j, t = jax.eval_shape(fun, *args), ft.eval_shape(fun, *args)
        assert (j.shape, j.weak_type, j.dtype.kind) == (t.shape, t.weak_type, t.dtype.kind)
        assert _sds_tuple(jax.jit(fun).eval_shape(*args))[::2] == \
            _sds_tuple(ft.jit(fun).eval_shape(*args))[::2]
    for shape in [(3, 4), ()]:
        js, fs = jax.ShapeDtypeStruct(shape, jnp.float32), SDS(shape, np.float32)
        assert (js.ndim, js.size, js.sharding) == (fs.ndim, fs.size, fs.sharding)
        assert (len(js) if shape else None) == (len(fs) if shape else None)
    jw = jax.ShapeDtypeStruct((2,), jnp.float32, weak_type=True)
    assert repr(jw) == repr(SDS((2,), np.float32, weak_type=True))
    assert (jw == jax.ShapeDtypeStruct((2,), jnp.float32)) == \
        (SDS((2,), np.float32, weak_type=True) == SDS((2,), np.float32))
    xs = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(jax.vmap(jnp.sum, spmd_axis_name="d")(xs),
                               ft.vmap(fnp.sum, spmd_axis_name="d")(xs))
