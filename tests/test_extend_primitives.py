"""Primitives defined as in JAX's "How JAX primitives work": `ft.extend.core.Primitive` with
`def_impl` / `def_abstract_eval`, and the rule registries of `ft.interpreters.ad`, `.batching`
and `.mlir`. The tutorial's multiply-add primitive, rule by rule (each missing rule raising an
error that names it), then its transforms (eval, jit, jvp, grad, vmap, their compositions, second
order) against plain functrans math and finite differences in float64.

The tutorial imports `jax._src.lax.lax` and `jax._src.api`; their functrans counterparts are
`ft.lax` and `ft` itself."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.core import ShapedArray
from functrans.extend import core
from functrans.interpreters import ad, batching, mlir
from functrans.test_util import check_grads


def _shape_rule(xs, ys, zs):
    assert xs.shape == ys.shape == zs.shape, (xs, ys, zs)
    return ShapedArray(xs.shape, xs.dtype)


def _jvp_rule(prim):
    """The tutorial's JVP: the tangent x' y + x y' + z' computed with the primitive itself."""
    def jvp(primals, tangents):
        x, y, z = primals

        def instantiated(t):
            return lax.full_like(x, 0) if type(t) is ad.Zero else t
        xt, yt, zt = map(instantiated, tangents)
        return prim.bind(x, y, z), prim.bind(xt, y, prim.bind(x, yt, zt))
    return jvp


def _tutorial_transpose(prim):
    """The tutorial's transpose rule: linear in y and z, or in x and z (not z alone)."""
    def transpose(ct, x, y, z):
        if not ad.is_undefined_primal(x):
            assert ad.is_undefined_primal(y)
            ct_y = ad.Zero(y.aval) if type(ct) is ad.Zero else \
                prim.bind(x, ct, lax.full_like(x, 0))
            return None, ct_y, ct
        ct_x = ad.Zero(x.aval) if type(ct) is ad.Zero else prim.bind(ct, y, lax.full_like(y, 0))
        return ct_x, None, ct
    return transpose


def _general_transpose(prim):
    """A transpose rule for each way the JVP uses the primitive linearly (z alone too, as
    second-order reverse mode needs)."""
    def transpose(ct, x, y, z):
        if type(ct) is ad.Zero:
            return None, None, None
        ct_x = prim.bind(ct, y, lax.full_like(y, 0)) if ad.is_undefined_primal(x) else None
        ct_y = prim.bind(x, ct, lax.full_like(x, 0)) if ad.is_undefined_primal(y) else None
        return ct_x, ct_y, ct if ad.is_undefined_primal(z) else None
    return transpose


def _same_axes_batcher(prim):
    """The tutorial's batching rule: every operand batched along the same axis."""
    def batch(vector_arg_values, batch_axes):
        assert batch_axes[0] == batch_axes[1] == batch_axes[2]
        return prim.bind(*vector_arg_values), batch_axes[0]
    return batch


def _any_axes_batcher(prim):
    """A batching rule taking any batch axes: moved to the front, unbatched ones broadcast."""
    def batch(vals, axes):
        n = next(v.shape[a] for v, a in zip(vals, axes) if a is not batching.not_mapped)
        front = [fnp.broadcast_to(v, (n,) + v.shape) if a is batching.not_mapped
                 else fnp.moveaxis(v, a, 0) for v, a in zip(vals, axes)]
        return prim.bind(*front), 0
    return batch


def _multiply_add_impl(x, y, z):
    return np.add(np.multiply(x, y), z)


@pytest.fixture
def multiply_add():
    """`multiply_add(x, y, z)` on a primitive with every rule registered."""
    prim = core.Primitive("multiply_add")
    prim.def_impl(_multiply_add_impl)
    prim.def_abstract_eval(_shape_rule)
    ad.primitive_jvps[prim] = _jvp_rule(prim)
    ad.primitive_transposes[prim] = _general_transpose(prim)
    batching.primitive_batchers[prim] = _any_axes_batcher(prim)
    return lambda x, y, z: prim.bind(x, y, z)


def _ref(x, y, z):
    return x * y + z


def _args(shape=(3,), seed=0):
    rng = np.random.default_rng(seed)
    return [fnp.asarray(rng.standard_normal(shape)) for _ in range(3)]


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-12)


def test_the_tutorial_rule_by_rule():
    prim = core.Primitive("multiply_add")

    def square_add(a, b):
        return prim.bind(a, a, b)
    with pytest.raises(NotImplementedError, match="'multiply_add'.*def_impl"):
        square_add(2.0, 10.0)
    prim.def_impl(_multiply_add_impl)
    assert square_add(2.0, 10.0) == 14.0

    with pytest.raises(NotImplementedError, match="Abstract evaluation for 'multiply_add'.*"
                       "def_abstract_eval"):
        ft.jit(square_add)(2.0, 10.0)
    prim.def_abstract_eval(_shape_rule)

    def lowering(ctx, xc, yc, zc):
        raise AssertionError("functrans never calls a lowering rule")
    mlir.register_lowering(prim, lowering, platform="cpu")
    assert ft.jit(square_add)(2.0, 10.0) == 14.0
    assert ft.jit(square_add, static_argnums=1)(2.0, 10.0) == 14.0

    for transform in (lambda: ft.jvp(square_add, (2.0, 10.0), (1.0, 1.0)),
                      lambda: ft.grad(square_add)(2.0, 10.0)):
        with pytest.raises(NotImplementedError, match="Differentiation rule for "
                           "'multiply_add'.*primitive_jvps"):
            transform()
    ad.primitive_jvps[prim] = _jvp_rule(prim)
    out, tangent = ft.jvp(square_add, (2.0, 10.0), (1.0, 1.0))
    assert (out, tangent) == (14.0, 5.0)            # x' y + x y' + z' = 2 + 2 + 1
    out, tangent = ft.jit(lambda p, t: ft.jvp(square_add, p, t))((2.0, 10.0), (1.0, 1.0))
    assert (out, tangent) == (14.0, 5.0)

    with pytest.raises(NotImplementedError, match="Transpose rule .* for 'multiply_add'.*"
                       "primitive_transposes"):
        ft.grad(square_add)(2.0, 10.0)
    ad.primitive_transposes[prim] = _tutorial_transpose(prim)
    assert ft.grad(square_add)(2.0, 10.0) == 4.0
    assert ft.jit(ft.grad(square_add))(2.0, 10.0) == 4.0

    a, b = np.array([2.0, 3.0]), np.array([10.0, 20.0])
    with pytest.raises(NotImplementedError, match="Batching rule for 'multiply_add'.*"
                       "primitive_batchers"):
        ft.vmap(square_add)(a, b)
    batching.primitive_batchers[prim] = _same_axes_batcher(prim)
    _close(ft.vmap(square_add, in_axes=0, out_axes=0)(a, b), [14.0, 29.0])
    _close(ft.jit(ft.vmap(square_add))(a, b), [14.0, 29.0])
    _close(ft.jit(ft.vmap(ft.grad(square_add)))(a, b), 2 * a)


def test_eval_and_jit_against_plain_math(multiply_add):
    args = _args((2, 3))
    _close(multiply_add(*args), _ref(*args))
    _close(ft.jit(multiply_add)(*args), _ref(*args))
    assert multiply_add(*args).dtype == np.float64
    f = ft.jit(lambda x, y, z: fnp.sin(multiply_add(x, y, z)) * 2.0)
    _close(f(*args), fnp.sin(_ref(*args)) * 2.0)


def test_derivatives_against_plain_math(multiply_add):
    args = _args()
    tangents = _args(seed=1)

    def loss(f):
        return lambda x, y, z: fnp.sum(fnp.tanh(f(x, y, z)) * x)
    for argnums in (0, 1, 2, (0, 1, 2)):
        want = ft.grad(loss(_ref), argnums)(*args)
        _close(ft.grad(loss(multiply_add), argnums)(*args), want)
        _close(ft.jit(ft.grad(loss(multiply_add), argnums))(*args), want)
    for got, want in zip(ft.jvp(multiply_add, args, tangents), ft.jvp(_ref, args, tangents)):
        _close(got, want)
    hess = ft.hessian(loss(multiply_add))(*args)
    _close(hess, ft.hessian(loss(_ref))(*args))
    _close(ft.grad(lambda x: ft.grad(loss(multiply_add))(x, *args[1:]).sum())(args[0]),
           ft.grad(lambda x: ft.grad(loss(_ref))(x, *args[1:]).sum())(args[0]))


def test_derivatives_against_finite_differences(multiply_add):
    def f(x, y, z):
        return fnp.sin(multiply_add(x, fnp.exp(y), z * x))
    check_grads(f, _args(), order=2, modes=("fwd", "rev"))
    check_grads(ft.jit(f), _args(seed=3), order=1, modes=("rev",))


def test_vmap_and_its_compositions(multiply_add):
    xs, ys, zs = _args((4, 3))
    _close(ft.vmap(multiply_add)(xs, ys, zs), _ref(xs, ys, zs))
    _close(ft.vmap(multiply_add, in_axes=(1, None, 0))(xs.T, ys[0], zs),
           _ref(xs, ys[0], zs))

    def loss(f):
        return lambda x, y, z: fnp.sum(f(x, y, z) ** 2)
    want = ft.vmap(ft.grad(loss(_ref)))(xs, ys, zs)
    _close(ft.vmap(ft.grad(loss(multiply_add)))(xs, ys, zs), want)
    _close(ft.jit(ft.vmap(ft.grad(loss(multiply_add))))(xs, ys, zs), want)
    _close(ft.grad(lambda x: loss(multiply_add)(x, ys, zs))(xs),
           ft.grad(lambda x: loss(_ref)(x, ys, zs))(xs))
    _close(ft.vmap(lambda x, t: ft.jvp(lambda u: multiply_add(u, u, u), (x,), (t,))[1])(xs, ys),
           ys * (2 * xs + 1))


def test_defjvp_and_multiple_results():
    sin_p = core.Primitive("my_sin")
    sin_p.def_impl(np.sin)
    sin_p.def_abstract_eval(lambda a: ShapedArray(a.shape, a.dtype))
    ad.defjvp(sin_p, lambda g, x: g * fnp.cos(x))
    batching.primitive_batchers[sin_p] = lambda vals, dims: (sin_p.bind(*vals), dims[0])

    sincos_p = core.Primitive("sincos")
    sincos_p.multiple_results = True
    sincos_p.def_impl(lambda x: (np.sin(x), np.cos(x)))
    sincos_p.def_effectful_abstract_eval(
        lambda a: ([ShapedArray(a.shape, a.dtype)] * 2, set()))

    def sincos_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        s, c = sincos_p.bind(x)
        if type(t) is ad.Zero:
            return [s, c], [ad.Zero(t.aval)] * 2
        return [s, c], [t * c, -t * s]
    ad.primitive_jvps[sincos_p] = sincos_jvp
    batching.primitive_batchers[sincos_p] = lambda v, d: (sincos_p.bind(*v), [d[0]] * 2)

    def f(x):
        s, c = sincos_p.bind(x)
        return fnp.sum(s * c + sin_p.bind(x * 2.0))

    def f_ref(x):
        return fnp.sum(fnp.sin(x) * fnp.cos(x) + fnp.sin(x * 2.0))
    x = _args(seed=5)[0]
    _close(f(x), f_ref(x))
    _close(ft.grad(f)(x), ft.grad(f_ref)(x))
    _close(ft.jit(ft.vmap(ft.grad(f)))(fnp.stack([x, 2 * x])),
           ft.vmap(ft.grad(f_ref))(fnp.stack([x, 2 * x])))
    check_grads(f, (x,), order=2, modes=("fwd", "rev"))


def test_rule_errors():
    prim = core.Primitive("three_in")
    prim.def_impl(_multiply_add_impl)
    prim.def_abstract_eval(_shape_rule)
    ad.primitive_jvps[prim] = _jvp_rule(prim)
    ad.primitive_transposes[prim] = lambda ct, x, y, z: (ct,)
    with pytest.raises(ValueError, match="transpose rule of three_in returned 1 cotangents "
                       "for its 3 arguments"):
        ft.grad(lambda x: prim.bind(x, 2.0, 1.0))(3.0)
    with pytest.raises(TypeError, match="three_in must be callable"):
        batching.primitive_batchers[prim] = None
    with pytest.raises(TypeError, match="prim must be a Primitive"):
        mlir.register_lowering("three_in", lambda ctx, *a: a)
    pair = core.Primitive("pair")
    pair.multiple_results = True
    with pytest.raises(ValueError, match="defjvp: pair has multiple results"):
        ad.defjvp(pair, None)


def test_every_primitive_is_a_primitive():
    assert isinstance(lax.sin_p, core.Primitive)
    assert isinstance(core.Primitive("p"), ft.core.Primitive)
    assert not isinstance(lax.sin, core.Primitive)


def test_on_a_device_that_is_not_the_default(fake_gpus, multiply_add):
    dev = fake_gpus[0]
    args = [ft.device_put(a, dev) for a in _args()]

    def loss(x, y, z):
        return fnp.sum(multiply_add(x, y, z) ** 2)
    for got, want in ((multiply_add(*args), _ref(*args)),
                      (ft.jit(ft.grad(loss))(*args), 2 * _ref(*args) * args[1])):
        assert got.device == dev
        _close(got, want)


def test_the_names_exist_in_jax():
    pytest.importorskip("jax")
    import jax.core
    import jax.extend.core
    import jax.interpreters.ad
    import jax.interpreters.batching
    import jax.interpreters.mlir
    assert not set(ad.__all__) - set(dir(jax.interpreters.ad))
    assert "primitive_batchers" in dir(jax.interpreters.batching)
    assert batching.not_mapped is None         # older JAX's name; 0.10 has just None
    assert "register_lowering" in dir(jax.interpreters.mlir)
    assert "ShapedArray" in dir(jax.core)
    assert {"def_impl", "def_abstract_eval", "def_effectful_abstract_eval",
            "multiple_results"} <= set(dir(jax.extend.core.Primitive)) &\
        set(dir(core.Primitive("p")))
