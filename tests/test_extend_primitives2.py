"""The rest of JAX's primitive-definition API: effects (`def_effectful_abstract_eval`, a
jaxpr's `effects`, equations `jit` keeps though their results are unused), the rule helpers of
`ad` (`deflinear`, `deflinear2`, `defjvp2`, `defjvp_zero`, `defbilinear`,
`get_primitive_transpose`) and `batching` (`defvectorized`, `defbroadcasting`), and reverse
mode tracing a JVP rule once per primitive, params, shapes and dtypes (not once per call)."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.core import ShapedArray
from functrans.extend import core
from functrans.interpreters import ad, batching
from functrans.test_util import check_grads


def _same_aval(a, *rest):
    return ShapedArray(a.shape, a.dtype)


def _unary(name, impl):
    prim = core.Primitive(name)
    prim.def_impl(impl)
    prim.def_abstract_eval(_same_aval)
    return prim


def _x(shape=(4,), seed=0):
    return fnp.asarray(np.random.default_rng(seed).standard_normal(shape))


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-12)


class _Log(core.Effect):
    def __repr__(self):
        return "Log"


_LOG = _Log()


def _effectful(calls, effects):
    prim = core.Primitive("log_value")

    def impl(x):
        calls.append(np.asarray(x))
        return x
    prim.def_impl(impl)
    prim.def_effectful_abstract_eval(lambda a: (_same_aval(a), effects))
    return prim


def test_effects_reach_the_jaxpr_and_jit_keeps_the_equation():
    calls = []
    prim = _effectful(calls, {_LOG})

    def f(x):
        prim.bind(x)            # result unused: only the effect matters
        return x * 2.0
    jaxpr = ft.make_jaxpr(f)(1.0)
    assert jaxpr.effects == {_LOG} == jaxpr.eqns[0].effects == jaxpr.jaxpr.effects
    assert [e.primitive.name for e in jaxpr.eqns] == ["log_value", "mul"]
    assert ft.make_jaxpr(ft.jit(f))(1.0).effects == {_LOG}      # through the call
    assert ft.make_jaxpr(lambda x: x * 2.0)(1.0).effects == core.no_effects == frozenset()
    jf = ft.jit(f)
    assert jf(1.0) == 2.0 and jf(3.0) == 6.0
    assert [float(c) for c in calls] == [1.0, 3.0]      # run on every call, not traced away

    pure_calls = []
    pure = _unary("log_value", lambda x: pure_calls.append(x) or x)
    assert ft.jit(lambda x: (pure.bind(x), x * 2.0)[1])(1.0) == 2.0
    assert pure_calls == []                             # a pure unused result is dropped


def test_an_empty_effect_set_and_a_bad_one():
    prim = _effectful([], set())
    assert ft.make_jaxpr(prim.bind)(1.0).effects == frozenset()
    bad = _effectful([], 3)
    with pytest.raises(TypeError, match="'log_value' must return .*effects a set.*got int"):
        ft.make_jaxpr(bad.bind)(1.0).effects


def test_effects_as_in_jax():
    jax = pytest.importorskip("jax")
    from jax.extend import core as jcore
    from jax.interpreters import mlir

    class JLog(jcore.Effect):
        pass
    from jax._src import effects
    effects.lowerable_effects.add_type(JLog)
    jprim = jcore.Primitive("log_value")
    jprim.def_impl(lambda x: x)
    jprim.def_effectful_abstract_eval(lambda a: (a, {JLog()}))
    mlir.register_lowering(jprim, mlir.lower_fun(lambda x: x, multiple_results=False))

    def jf(x):
        jprim.bind(x)
        return x * 2.0
    want = jax.make_jaxpr(jf)(1.0)
    prim = _effectful([], {_LOG})
    got = ft.make_jaxpr(lambda x: (prim.bind(x), x * 2.0)[1])(1.0)
    assert len(got.effects) == len(want.effects) == 1
    assert [len(e.effects) for e in got.eqns] == [len(e.effects) for e in want.eqns] == [1, 0]
    assert core.no_effects == jcore.no_effects


def _rev():
    """A linear primitive: the reversal of a vector, its own transpose."""
    prim = _unary("rev", lambda x: np.flip(np.asarray(x), -1))
    ad.deflinear(prim, lambda ct: [prim.bind(ct)])
    batching.defvectorized(prim)
    return prim


def test_deflinear():
    rev = _rev()
    x, w = _x(), _x(seed=1)

    def f(x):
        return fnp.sum(fnp.sin(rev.bind(x)) * w)

    def f_ref(x):
        return fnp.sum(fnp.sin(x[::-1]) * w)
    _close(rev.bind(x), x[::-1])
    _close(ft.grad(f)(x), ft.grad(f_ref)(x))
    _close(ft.jit(ft.grad(f))(x), ft.grad(f_ref)(x))
    _close(ft.jvp(rev.bind, (x,), (w,))[1], w[::-1])
    _close(ft.linear_transpose(rev.bind, x)(w)[0], w[::-1])
    _close(ft.hessian(f)(x), ft.hessian(f_ref)(x))
    check_grads(f, (x,), order=2, modes=("fwd", "rev"))
    xs = _x((3, 4), seed=2)
    _close(ft.vmap(ft.grad(f))(xs), ft.vmap(ft.grad(f_ref))(xs))


def test_deflinear_of_two_arguments_and_deflinear2():
    add_p = core.Primitive("my_add")
    add_p.def_impl(np.add)
    add_p.def_abstract_eval(_same_aval)
    ad.deflinear(add_p, lambda ct: [ct, ct])

    tile = _unary("tile2", lambda x: np.concatenate([x, x]))
    tile.def_abstract_eval(lambda a: ShapedArray((2 * a.shape[0],), a.dtype))
    seen = []

    def tile_transpose(ct, x):
        seen.append(x)
        n = x.aval.shape[0]
        return [ct[:n] + ct[n:]]
    ad.deflinear2(tile, tile_transpose)
    x, y = _x(), _x(seed=1)
    w = _x((8,), seed=2)

    def f(x, y):
        return fnp.sum(fnp.tanh(tile.bind(add_p.bind(x, y * x))) * w)

    def f_ref(x, y):
        return fnp.sum(fnp.tanh(fnp.concatenate([x + y * x] * 2)) * w)
    _close(f(x, y), f_ref(x, y))
    for argnums in (0, 1, (0, 1)):
        _close(ft.grad(f, argnums)(x, y), ft.grad(f_ref, argnums)(x, y))
    assert ad.is_undefined_primal(seen[0]) and seen[0].aval.shape == (4,)
    check_grads(f, (x, y), order=2, modes=("fwd", "rev"))
    _close(ft.jit(ft.grad(f))(x, y), ft.grad(f_ref)(x, y))
    _close(ft.vjp(lambda x: tile.bind(x)[3:6], x)[1](fnp.ones(3, x.dtype))[0], [1, 1, 0, 1])


def test_defjvp2_and_defjvp_zero():
    exp_p = _unary("my_exp", np.exp)
    ad.defjvp2(exp_p, lambda g, ans, x: g * ans)
    floor_p = _unary("my_floor", np.floor)
    ad.defjvp_zero(floor_p)
    x = _x()

    def f(x):
        return fnp.sum(exp_p.bind(fnp.sin(x)) + floor_p.bind(x) * x)
    _close(ft.grad(f)(x), fnp.exp(fnp.sin(x)) * fnp.cos(x) + fnp.floor(x))
    check_grads(f, (x,), order=2, modes=("fwd", "rev"))
    out, t = ft.jvp(floor_p.bind, (x,), (x,))
    _close(out, fnp.floor(x))
    _close(t, fnp.zeros(4))
    _close(ft.grad(lambda x: fnp.sum(floor_p.bind(x)))(x), fnp.zeros(4))
    with pytest.raises(ValueError, match="defjvp2: pair has multiple results"):
        pair = core.Primitive("pair")
        pair.multiple_results = True
        ad.defjvp2(pair, None)


def test_defbilinear_and_get_primitive_transpose():
    mul_p = core.Primitive("my_mul")
    mul_p.def_impl(np.multiply)
    mul_p.def_abstract_eval(_same_aval)
    ad.defbilinear(mul_p, lambda ct, x, y: mul_p.bind(ct, y), lambda ct, x, y: mul_p.bind(x, ct))
    x, y = _x(), _x(seed=1)

    def f(x, y):
        return fnp.sum(fnp.sin(mul_p.bind(x, mul_p.bind(y, x))))
    want = ft.grad(lambda x, y: fnp.sum(fnp.sin(x * y * x)), (0, 1))(x, y)
    _close(ft.grad(f, (0, 1))(x, y), want)
    check_grads(f, (x, y), order=2, modes=("fwd", "rev"))
    assert ad.get_primitive_transpose(mul_p) is ad.primitive_transposes[mul_p]
    with pytest.raises(NotImplementedError, match="Transpose rule .* for 'nothing'"):
        ad.get_primitive_transpose(core.Primitive("nothing"))


def test_defvectorized():
    cos_p = _unary("my_cos", np.cos)
    ad.defjvp(cos_p, lambda g, x: -g * fnp.sin(x))
    batching.defvectorized(cos_p)
    xs = _x((3, 4))
    _close(ft.vmap(cos_p.bind)(xs), fnp.cos(xs))
    _close(ft.vmap(cos_p.bind, in_axes=1, out_axes=1)(xs), fnp.cos(xs))
    _close(ft.jit(ft.vmap(ft.grad(lambda x: fnp.sum(cos_p.bind(x)))))(xs), -fnp.sin(xs))
    _close(ft.vmap(ft.vmap(cos_p.bind), in_axes=1)(xs), fnp.cos(xs.T))

    two = core.Primitive("two_in")
    two.def_impl(np.add)
    two.def_abstract_eval(_same_aval)
    batching.defvectorized(two)
    _close(ft.vmap(two.bind)(xs, xs), 2 * xs)
    _close(ft.vmap(lambda a: two.bind(a, a))(xs), 2 * xs)
    with pytest.raises(ValueError, match="two_in needs its operands batched along the same "
                       r"axis, got batch axes \(0, 1\).*defbroadcasting"):
        ft.vmap(two.bind, in_axes=(0, 1))(xs, xs.T)


def test_defbroadcasting():
    hypot = core.Primitive("my_hypot")
    hypot.def_impl(np.hypot)
    hypot.def_abstract_eval(
        lambda a, b: ShapedArray(np.broadcast_shapes(a.shape, b.shape), a.dtype))
    batching.defbroadcasting(hypot)
    a, b, m = _x((3,)), _x((3,), seed=1), _x((3, 5), seed=2)
    np_a, np_b, np_m = map(np.asarray, (a, b, m))
    cases = [((0, 0), (a, b), np.hypot(np_a, np_b)),
             ((0, None), (a, b), np.stack([np.hypot(u, np_b) for u in np_a])),
             ((None, 1), (b, m), np.stack([np.hypot(np_b, c) for c in np_m.T])),
             ((0, 0), (a, m), np.stack([np.hypot(u, r) for u, r in zip(np_a, np_m)])),
             ((1, 0), (m.T, m), np.hypot(np_m, np_m)),
             ((0, None), (a, 2.0), np.hypot(np_a, 2.0))]
    for in_axes, args, want in cases:
        _close(ft.vmap(hypot.bind, in_axes=in_axes)(*args), want)
        _close(ft.jit(ft.vmap(hypot.bind, in_axes=in_axes))(*args), want)
    _close(ft.vmap(ft.vmap(hypot.bind, in_axes=(0, None)), in_axes=(None, 0))(a, b),
           np.hypot(np_a[None, :], np_b[:, None]))


def _counted_square(calls):
    """A primitive `x * x * scale` whose JVP rule counts its calls."""
    prim = core.Primitive("scaled_square")
    prim.def_impl(lambda x, *, scale: np.asarray(x) ** 2 * scale)
    prim.def_abstract_eval(lambda a, *, scale: _same_aval(a))

    def jvp(primals, tangents, *, scale):
        calls.append(scale)
        (x,), (t,) = primals, tangents
        return prim.bind(x, scale=scale), 2.0 * scale * x * t
    ad.primitive_jvps[prim] = jvp
    batching.defvectorized(prim)
    return prim


def test_reverse_mode_traces_a_jvp_rule_once_per_shape_and_params():
    calls = []
    prim = _counted_square(calls)

    def grad_of(scale):
        return ft.grad(lambda x: fnp.sum(prim.bind(x, scale=scale)))
    x = _x()
    _close(grad_of(3.0)(x), 6.0 * x)
    n = len(calls)
    for seed in range(1, 4):                    # other values: the traced rule is reused
        y = _x(seed=seed)
        _close(grad_of(3.0)(y), 6.0 * y)
    assert len(calls) == n
    _close(grad_of(5.0)(x), 10.0 * x)           # other params: traced anew
    assert len(calls) == n + 1
    _close(grad_of(3.0)(_x((2, 3))), 6.0 * _x((2, 3)))      # another shape too
    assert len(calls) == n + 2
    _close(grad_of(3.0)(x.astype(np.float32)), 6.0 * x.astype(np.float32))
    assert len(calls) == n + 3
    _close(ft.grad(lambda x: fnp.sum(prim.bind(x, scale=3.0) + prim.bind(x, scale=3.0)))(x),
           12.0 * x)
    assert len(calls) == n + 3


def test_a_jvp_rule_that_needs_concrete_primals_still_works():
    calls = []
    prim = core.Primitive("relu_ish")
    prim.def_impl(lambda x: np.maximum(x, 0.0))
    prim.def_abstract_eval(_same_aval)

    def jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        calls.append(1)
        slope = 1.0 if float(x) > 0 else 0.5       # Python control flow on the value
        return prim.bind(x), slope * t
    ad.primitive_jvps[prim] = jvp
    f = ft.grad(lambda x: prim.bind(x) * 3.0)
    assert (f(2.0), f(-2.0), f(1.0)) == (3.0, 1.5, 3.0)
    assert len(calls) >= 3                      # traced at each value


def test_python_scalar_operands_key_the_cache():
    calls = []
    prim = core.Primitive("axpy")
    prim.def_impl(lambda a, x, y: a * np.asarray(x) + y)
    prim.def_abstract_eval(lambda a, x, y: _same_aval(x))

    def jvp(primals, tangents):
        calls.append(1)
        a, x, y = primals
        _, tx, ty = map(ad.instantiate_zeros, tangents)
        return prim.bind(a, x, y), a * tx + ty
    ad.primitive_jvps[prim] = jvp
    x, y = _x(), _x(seed=1)
    for a in (2.0, 3.0, 2.0):
        _close(ft.grad(lambda x, y: fnp.sum(prim.bind(a, x, y) ** 2), (0, 1))(x, y),
               (2 * a * (a * x + y), 2 * (a * x + y)))
    assert len(calls) == 2


def test_cached_transposes_under_outer_transforms(fake_gpus):
    calls = []
    prim = _counted_square(calls)

    def loss(x):
        return fnp.sum(fnp.sin(prim.bind(x, scale=2.0)))

    def loss_ref(x):
        return fnp.sum(fnp.sin(2.0 * x * x))
    x = _x()
    for f in (ft.grad, lambda g: ft.jit(ft.grad(g)), ft.hessian,
              lambda g: ft.jacrev(ft.grad(g))):
        _close(f(loss)(x), f(loss_ref)(x))
    xs = _x((3, 4), seed=1)
    _close(ft.vmap(ft.grad(loss))(xs), ft.vmap(ft.grad(loss_ref))(xs))
    xd = ft.device_put(x, fake_gpus[0])
    got = ft.grad(loss)(xd)
    assert got.device == fake_gpus[0]
    _close(got, ft.grad(loss_ref)(x))
