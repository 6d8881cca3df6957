"""JAX code runs unchanged, keyword arguments included: for every public callable that both
`jax.X` and `functrans.X` have (X over the namespaces below), each parameter JAX lets a caller
pass by keyword (positional-or-keyword or keyword-only, not private) is one functrans takes
under the same name, or functrans takes **kwargs. The exceptions are listed in ALLOWED, each
with its reason; an entry that is no longer needed fails too, so the list stays exact."""
import importlib
import inspect

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.scipy.stats  # noqa: E402

import functrans  # noqa: E402
import functrans as ft  # noqa: E402
import functrans.numpy as fnp  # noqa: E402
from functrans import lax  # noqa: E402
from functrans.sharding import NamedSharding, P, SingleDeviceSharding  # noqa: E402

NAMESPACES = ["", "numpy", "numpy.linalg", "numpy.fft", "lax", "lax.linalg", "nn",
              "nn.initializers", "random", "scipy.special", "scipy.linalg", "scipy.signal",
              "tree_util", "tree"] + sorted(
    "scipy.stats." + n for n, m in vars(jax.scipy.stats).items()
    if inspect.ismodule(m) and not n.startswith("_"))

# (namespace, name): (JAX's parameters functrans does not take by that name, why)
ALLOWED = {
    # JAX's constructor is internal (users make refs with new_ref); functrans's Ref boxes a
    # value, and functrans/ref.py belongs to other work now
    ("", "Ref"): (("aval", "refs"), "internal constructor"),
    # NumPy's matrix_rank(A, tol=None, hermitian=False, *, rtol=None): NumPy's names win
    ("numpy.linalg", "matrix_rank"): (("M",), "NumPy's name is A"),
}

_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _module(root, sub):
    try:
        return importlib.import_module(root + ("." + sub if sub else ""))
    except ImportError:
        return None


def _signature(f):
    try:
        return inspect.signature(f)
    except (TypeError, ValueError):        # builtins and ufunc objects without one
        return None


def _missing(theirs, ours):
    """JAX's keyword-able parameters of `theirs` that `ours` does not take by keyword."""
    ours = ours.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in ours.values()):
        return set()
    return {p.name for p in theirs.parameters.values()
            if p.kind in _KEYWORD and not p.name.startswith("_")
            and not (p.name in ours and ours[p.name].kind in _KEYWORD)}


def _differences(sub):
    jm, fm = _module("jax", sub), _module("functrans", sub)
    if jm is None or fm is None:
        return {}
    found = {}
    for name in sorted(dir(jm)):
        theirs, ours = getattr(jm, name), getattr(fm, name, None)
        if name.startswith("_") or not callable(theirs) or not callable(ours):
            continue
        js, fs = _signature(theirs), _signature(ours)
        missing = _missing(js, fs) if js is not None and fs is not None else set()
        if missing:
            found[name] = missing
    return found


@pytest.mark.parametrize("sub", NAMESPACES)
def test_jax_keywords_are_accepted(sub):
    found = _differences(sub)
    unexplained = {name: sorted(missing - set(ALLOWED.get((sub, name), ((), ""))[0]))
                   for name, missing in found.items()}
    assert {n: m for n, m in unexplained.items() if m} == {}
    stale = {name: sorted(set(params) - found.get(name, set()))
             for (s, name), (params, _) in ALLOWED.items() if s == sub}
    assert {n: m for n, m in stale.items() if m} == {}, "allowlist entries no longer needed"


def test_the_namespaces_exist_on_both_sides():
    assert [s for s in NAMESPACES if _module("functrans", s) is None] == []


def test_the_comparison_finds_what_it_looks_for():
    def theirs(x, /, a, b=1, *args, c=2, _private=0, **kw):
        pass

    def ours(y, a, /, b=1, *, d=3):
        pass

    def loose(y, **kwargs):
        pass

    assert _missing(inspect.signature(theirs), inspect.signature(ours)) == {"a", "c"}
    assert _missing(inspect.signature(theirs), inspect.signature(loose)) == set()


# ------------------------------------------------------------------ out_sharding
_X = np.arange(6.0, dtype=np.float32).reshape(2, 3)
OUT_SHARDING_CALLS = {
    "zeros": lambda s: fnp.zeros((2, 3), out_sharding=s),
    "ones": lambda s: fnp.ones(3, out_sharding=s),
    "empty": lambda s: fnp.empty(3, out_sharding=s),
    "full": lambda s: fnp.full(3, 2.0, out_sharding=s),
    "zeros_like": lambda s: fnp.zeros_like(_X, out_sharding=s),
    "ones_like": lambda s: fnp.ones_like(_X, out_sharding=s),
    "full_like": lambda s: fnp.full_like(_X, 4.0, out_sharding=s),
    "arange": lambda s: fnp.arange(4, out_sharding=s),
    "array": lambda s: fnp.array(_X, out_sharding=s),
    "asarray": lambda s: fnp.asarray(_X, out_sharding=s),
    "reshape": lambda s: fnp.reshape(_X, (3, 2), out_sharding=s),
    "ravel": lambda s: fnp.ravel(_X, out_sharding=s),
    "broadcast_to": lambda s: fnp.broadcast_to(_X, (4, 2, 3), out_sharding=s),
    "repeat": lambda s: fnp.repeat(_X, 2, axis=1, out_sharding=s),
    "dot": lambda s: fnp.dot(_X, _X.T, out_sharding=s),
    "matmul": lambda s: fnp.matmul(a=_X, b=_X.T, out_sharding=s),
    "einsum": lambda s: fnp.einsum("ij,kj->ik", _X, _X, out_sharding=s),
    "tensordot": lambda s: fnp.tensordot(_X, _X, 2, out_sharding=s),
    "percentile": lambda s: fnp.percentile(_X, 50.0, out_sharding=s),
    "bincount": lambda s: fnp.bincount(np.array([0, 2, 2]), out_sharding=s),
    "lax.broadcast": lambda s: lax.broadcast(_X, (2,), out_sharding=s),
    "lax.broadcast_in_dim": lambda s: lax.broadcast_in_dim(
        operand=_X, shape=(2, 3, 2), broadcast_dimensions=(0, 1), out_sharding=s),
    "lax.broadcasted_iota": lambda s: lax.broadcasted_iota(np.int32, (2, 3), 1, out_sharding=s),
    "lax.dot": lambda s: lax.dot(_X, _X.T, out_sharding=s),
    "lax.dot_general": lambda s: lax.dot_general(_X, _X, (((1,), (1,)), ((), ())),
                                                 out_sharding=s),
    "lax.reshape": lambda s: lax.reshape(operand=_X, new_sizes=(6,), out_sharding=s),
    "lax.reduce_sum": lambda s: lax.reduce_sum(operand=_X, axes=(0,), out_sharding=s),
    "lax.reduce": lambda s: lax.reduce(_X, 0.0, lax.add, (1,), out_sharding=s),
    "lax.full": lambda s: lax.full((2,), 1.0, sharding=s),
    "lax.full_like": lambda s: lax.full_like(_X, 1.0, sharding=s),
    "lax.empty": lambda s: lax.empty((2,), np.float32, out_sharding=s),
    "lax.conv_general_dilated": lambda s: lax.conv_general_dilated(
        _X[None, None], np.ones((1, 1, 2, 2), np.float32), (1, 1), "VALID", out_sharding=s),
    "random.normal": lambda s: ft.random.normal(ft.random.key(0), (3,), out_sharding=s),
    "random.randint": lambda s: ft.random.randint(ft.random.key(1), (3,), 0, 9, out_sharding=s),
    "random.permutation": lambda s: ft.random.permutation(ft.random.key(2), 5, out_sharding=s),
    "random.gamma": lambda s: ft.random.gamma(ft.random.key(3), 2.0, (2,), out_sharding=s),
    "initializers.zeros": lambda s: ft.nn.initializers.zeros(None, (2,), out_sharding=s),
    "initializers.ones": lambda s: ft.nn.initializers.ones(None, (2,), None, s),
}


def _expected(name):
    return np.asarray(OUT_SHARDING_CALLS[name](None))


@pytest.mark.parametrize("name", sorted(OUT_SHARDING_CALLS))
def test_out_sharding_places_the_result_on_its_one_device(name, fake_gpus):
    call = OUT_SHARDING_CALLS[name]
    gpu = fake_gpus[1]
    mesh = ft.sharding.Mesh(np.array([gpu]), ("x",))
    for sharding in (SingleDeviceSharding(gpu), NamedSharding(mesh, P())):
        out = call(sharding)
        assert out.device == gpu
        np.testing.assert_array_equal(np.asarray(out), _expected(name))
    with ft.set_mesh(mesh):
        assert call(P()).device == gpu
    assert call(None).device == ft.devices("cpu")[0]


@pytest.mark.parametrize("name", ["zeros", "reshape", "lax.dot_general", "lax.full"])
def test_out_sharding_over_several_devices_or_not_a_sharding_is_refused(name, fake_gpus):
    call = OUT_SHARDING_CALLS[name]
    two = NamedSharding(ft.sharding.Mesh(np.array(fake_gpus), ("x",)), P("x"))
    keyword = "sharding" if name == "lax.full" else "out_sharding"
    with pytest.raises(NotImplementedError, match=f"{keyword}=.*one device"):
        call(two)
    with pytest.raises(NotImplementedError, match=keyword):
        call("cpu")
    with pytest.raises(ValueError, match="needs a mesh"):
        call(P())


def test_out_sharding_under_jit_and_grad():
    here = SingleDeviceSharding(fnp.zeros(()).device)     # (jit runs where its inputs live)
    f = ft.jit(lambda x: fnp.sum(fnp.reshape(x * x, (6,), out_sharding=here)))
    np.testing.assert_allclose(f(_X), np.sum(_X * _X))
    np.testing.assert_allclose(ft.grad(f)(_X), 2 * _X)


def test_device_and_out_sharding_together_are_refused():
    cpu = ft.devices("cpu")[0]
    with pytest.raises(ValueError, match="device or out_sharding"):
        fnp.zeros(3, device=cpu, out_sharding=SingleDeviceSharding(cpu))


def test_like_functions_honour_device(fake_gpus):
    gpu = fake_gpus[0]
    for f in (fnp.zeros_like, fnp.ones_like, fnp.empty_like):
        assert f(_X, device=gpu).device == gpu
    assert fnp.empty_like(prototype=_X).shape == (2, 3)


def test_set_mesh_is_a_setter_and_a_context_manager(fake_gpus):
    one = ft.sharding.Mesh(np.array([fake_gpus[0]]), ("x",))
    with ft.set_mesh(one):
        assert fnp.zeros(2, out_sharding=P()).device == fake_gpus[0]
    with pytest.raises(ValueError, match="needs a mesh"):
        fnp.zeros(2, out_sharding=P())
    ft.set_mesh(one)
    try:
        assert fnp.ones(2, out_sharding=P(None)).device == fake_gpus[0]
    finally:
        ft.set_mesh(None)
    with pytest.raises(NotImplementedError, match="spans 2 devices"):
        ft.set_mesh(ft.sharding.Mesh(np.array(fake_gpus), ("x",)))
    with pytest.raises(TypeError, match="must be a Mesh"):
        ft.set_mesh("x")
    assert ft.sharding.set_mesh is ft.set_mesh
    with pytest.raises(NotImplementedError, match="unreduced"):
        P("x", unreduced={"y"})


# ------------------------------------------------------------------ JAX's other keywords
def square(x):
    return x * x


def test_deprecated_reduce_axes_and_concrete_raise_as_in_jax():
    assert float(ft.grad(square, reduce_axes=())(3.0)) == 6.0
    assert float(ft.value_and_grad(square, reduce_axes=[])(3.0)[1]) == 6.0
    for call in (lambda: ft.grad(square, reduce_axes=("i",)),
                 lambda: ft.value_and_grad(square, reduce_axes=("i",)),
                 lambda: ft.vjp(square, 1.0, reduce_axes=("i",))):
        with pytest.raises(NotImplementedError, match="reduce_axes"):
            call()
    for flag in (True, False):
        with pytest.raises(NotImplementedError, match="concrete.*static_argnums"):
            ft.checkpoint(square, concrete=flag)
        with pytest.raises(NotImplementedError, match="concrete"):
            ft.remat(square, concrete=flag)
        with pytest.raises(NotImplementedError):
            jax.checkpoint(square, concrete=flag)


def test_nondiff_argnames_name_the_nondifferentiable_arguments():
    def power(x, n):
        return x ** n

    f = ft.custom_jvp(power, nondiff_argnames=("n",))
    f.defjvp(lambda n, primals, tangents: (primals[0] ** n,
                                           n * primals[0] ** (n - 1) * tangents[0]))
    g = ft.custom_vjp(power, nondiff_argnames=("n",))
    g.defvjp(lambda x, n: (x ** n, x), lambda n, x, ct: (ct * n * x ** (n - 1),))
    assert f.nondiff_argnums == g.nondiff_argnums == (1,)
    for h in (f, g):
        assert float(ft.grad(h)(2.0, 3)) == 12.0
        assert float(ft.grad(lambda x: h(x, n=3))(2.0)) == 12.0
        np.testing.assert_allclose(ft.vmap(ft.grad(h), (0, None))(np.array([1.0, 2.0]), 3),
                                   [3.0, 12.0])
    assert ft.custom_jvp(power, nondiff_argnums=(1,), nondiff_argnames=("n",)
                         ).nondiff_argnums == (1,)


def test_settings_take_new_val_and_host_queries_backend():
    with ft.debug_nans(new_val=True):
        assert ft.config.debug_nans
    with ft.numpy_rank_promotion(new_val="raise"):
        with pytest.raises(ValueError):
            fnp.ones(2) + fnp.ones((2, 2))
    with ft.default_device(new_val="cpu"):
        assert fnp.zeros(1).device == ft.devices("cpu")[0]
    assert ft.host_count(backend="cpu") == 1 and ft.host_id(backend="cpu") == 0
    assert ft.process_indices(backend="cpu") == ft.host_ids(backend=None) == [0]


def test_make_jaxpr_axis_env_and_shape_dtype_struct_extras():
    assert "add" in str(ft.make_jaxpr(lambda x: x + 1, axis_env=None)(1.0))
    with pytest.raises(NotImplementedError, match="axis_env"):
        ft.make_jaxpr(lambda x: x, axis_env=[("i", 2)])
    s = ft.ShapeDtypeStruct((2,), np.float32, manual_axis_type=None, is_ref=False)
    assert s.shape == (2,)
    with pytest.raises(NotImplementedError, match="is_ref"):
        ft.ShapeDtypeStruct((2,), np.float32, is_ref=True)


def test_lax_and_numpy_take_jax_s_names_by_keyword():
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(lax.reduce_max(operand=x, axes=(1,)), [2.0, 5.0])
    np.testing.assert_array_equal(lax.concatenate(operands=[x, x], dimension=0), np.vstack([x, x]))
    assert lax.expand_dims(array=x, dimensions=(0,)).shape == (1, 2, 3)
    assert lax.squeeze(array=x[None], dimensions=(0,)).shape == (2, 3)
    np.testing.assert_array_equal(lax.dynamic_slice(operand=x, start_indices=(0, 1),
                                                    slice_sizes=(2, 2)), x[:, 1:])
    assert ft.vmap(lambda v: lax.axis_size(axis_name="i"), axis_name="i")(x).tolist() == [2, 2]
    np.testing.assert_array_equal(fnp.matmul(a=x, b=x.T), x @ x.T)
    np.testing.assert_allclose(fnp.fft.fft(a=x, axis=1), np.fft.fft(x, axis=1), rtol=1e-5)
    np.testing.assert_allclose(fnp.fft.fftshift(x=x[0]), np.fft.fftshift(x[0]))
    np.testing.assert_allclose(fnp.fft.rfftfreq(n=4, d=0.5), np.fft.rfftfreq(4, 0.5))
    np.testing.assert_array_equal(fnp.fmax(x1=x, x2=2.0), np.fmax(x, 2.0))
    assert fnp.promote_types(a=np.float16, b=np.float32) == np.float32
    assert fnp.finfo(dtype=np.float32).eps == np.finfo(np.float32).eps
    assert fnp.iinfo(int_type=np.int8).max == 127
    spd = x @ x.T + np.eye(2, dtype=np.float32)
    np.testing.assert_allclose(fnp.linalg.cholesky(a=spd), np.linalg.cholesky(spd), rtol=1e-5)
    assert ft.tree_util.keystr(keys=(ft.tree_util.DictKey("w"),)) == "['w']"


def test_scipy_special_takes_its_arguments_by_name():
    import scipy.special as ss
    from functrans.scipy import special
    a, b, v = np.float64(2.0), np.float64(3.0), np.array([0.2, 0.7])
    np.testing.assert_allclose(special.betainc(a=a, b=b, x=v), ss.betainc(a, b, v), rtol=1e-6)
    np.testing.assert_allclose(special.gammainc(a, x=v), ss.gammainc(a, v), rtol=1e-6)
    np.testing.assert_allclose(special.gammaincc(x=v, a=a), ss.gammaincc(a, v), rtol=1e-6)
    np.testing.assert_allclose(special.expn(n=2, x=v), ss.expn(2, v), rtol=1e-6)
    np.testing.assert_allclose(special.exp1(x=v), ss.exp1(v), rtol=1e-6)
    np.testing.assert_allclose(special.logit(x=v), ss.logit(v), rtol=1e-6)
    with pytest.raises(TypeError):
        special.gammainc(a, v, v)
