"""functrans.optim.optax's further Optax names (functrans/optim/extras.py): yogi, adan,
sign_sgd, signum, noisy_sgd, polyak_sgd, optimistic_adam(_v2), fromage, sm3 and their blocks;
apply_every, centralize, adaptive_grad_clip, the conditional, monitoring and chaining
wrappers; the per-example clipping and MultiSteps skip functions; the numerics helpers.
Against Optax 0.2.8 in float64 over several steps, under jit, and on bad arguments."""
import collections
import warnings

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.optim import optax as fo
from functrans.tree_util import tree_leaves

from test_optim_optax_api import GRADS, W0, B0, _finite, _state_names, run

RTOL, ATOL = 1e-10, 1e-14


def _decay(lr):
    return lambda count: lr / (1.0 + count.astype(np.float64))


def _norm(m):
    """The library's global norm (Optax's `optax.tree.norm`)."""
    return m.tree.norm


OPTIMIZERS = [
    ("scale_by_yogi", lambda m: m.scale_by_yogi()),
    ("scale_by_yogi_args", lambda m: m.scale_by_yogi(0.8, 0.9, 1e-2, 1e-8, 0.5)),
    ("yogi", lambda m: m.yogi(0.1)),
    ("yogi_schedule", lambda m: m.yogi(_decay(0.1), 0.8, 0.9, 1e-2)),
    ("scale_by_adan", lambda m: m.scale_by_adan()),
    ("scale_by_adan_args", lambda m: m.scale_by_adan(0.9, 0.8, 0.7, 1e-6, 1e-8)),
    ("adan", lambda m: m.adan(0.1)),
    ("adan_decay_masked", lambda m: m.adan(_decay(0.1), weight_decay=0.01,
                                           mask={"w": True, "b": False})),
    ("sign_sgd", lambda m: m.sign_sgd(0.1)),
    ("signum", lambda m: m.signum(0.1)),
    ("signum_schedule", lambda m: m.signum(_decay(0.1), 0.5)),
    ("optimistic_adam_v2", lambda m: m.optimistic_adam_v2(0.1)),
    ("optimistic_adam_v2_args", lambda m: m.optimistic_adam_v2(
        _decay(0.1), alpha=0.5, beta=2.0, b1=0.8, b2=0.9, eps=1e-6, nesterov=False)),
    ("fromage", lambda m: m.fromage(0.1)),
    ("fromage_schedule", lambda m: m.fromage(_decay(0.2), 1e-3)),
    ("scale_by_sm3", lambda m: m.scale_by_sm3()),
    ("scale_by_sm3_args", lambda m: m.scale_by_sm3(0.8, 0.9, 1e-6)),
    ("sm3", lambda m: m.sm3(0.1)),
    ("scale_by_distance_over_gradients", lambda m: m.scale_by_distance_over_gradients()),
    ("scale_by_distance_over_gradients_args",
     lambda m: m.scale_by_distance_over_gradients(1e-3, 1e-6, np.float64, 0.5)),
    ("scale_by_param_block_norm", lambda m: m.scale_by_param_block_norm()),
    ("scale_by_param_block_norm_floor", lambda m: m.scale_by_param_block_norm(5.0)),
]
TRANSFORMS = [
    ("apply_every", lambda m: m.apply_every(3)),
    ("apply_every_adam", lambda m: m.chain(m.apply_every(2), m.adam(0.1))),
    ("centralize", lambda m: m.centralize()),
    ("normalize_by_update_norm", lambda m: m.normalize_by_update_norm(0.5, 1e-3)),
    ("adaptive_grad_clip", lambda m: m.adaptive_grad_clip(0.1)),
    ("adaptive_grad_clip_axis", lambda m: m.adaptive_grad_clip(0.05, 0.5, axis=0)),
    ("conditionally_mask", lambda m: m.conditionally_mask(m.adam(0.1),
                                                          lambda step: step % 2 == 0)),
    ("conditionally_transform", lambda m: m.conditionally_transform(m.adam(0.1),
                                                                    lambda step: step > 2)),
    ("named_chain", lambda m: m.named_chain(("adam", m.scale_by_adam()),
                                            ("lr", m.scale_by_learning_rate(0.1)))),
    ("stateless_with_tree_map", lambda m: m.stateless_with_tree_map(lambda u, p: u * p)),
    ("snapshot", lambda m: m.chain(m.snapshot("norm", _norm(m)), m.sgd(0.1))),
    ("monitor", lambda m: m.monitor({"norm": _norm(m),
                                     "ema": m.measure_with_ema(_norm(m), 0.9)})),
    ("with_extra_args_support", lambda m: m.with_extra_args_support(m.scale(0.5))),
]
CASES = OPTIMIZERS + TRANSFORMS


def _compare_states(ours, theirs):
    assert _state_names(ours) == _state_names(theirs)
    a, b = tree_leaves(ours), tree_leaves(theirs)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name, make", CASES, ids=[c[0] for c in CASES])
def test_matches_optax(name, make, optax64):
    import jax.numpy as jnp
    ours, our_state = run(fo, make, fnp.asarray)
    theirs, their_state = run(optax64, make, jnp.asarray)
    assert np.isfinite(ours).all() and np.abs(ours).max() > 0
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)
    _compare_states(our_state, their_state)


def test_named_chain_state_is_ordered_by_name(optax64):
    _, state = run(fo, dict(TRANSFORMS)["named_chain"], fnp.asarray)
    assert isinstance(state, collections.OrderedDict) and list(state) == ["adam", "lr"]
    with pytest.raises(ValueError, match="names must be unique"):
        fo.named_chain(("a", fo.identity()), ("a", fo.scale(2.0)))


def test_optimistic_adam_v1_matches_optax_and_warns(optax64):
    import jax.numpy as jnp

    def make(m):
        with pytest.warns(DeprecationWarning):
            return m.optimistic_adam(0.1, 0.05)
    ours, our_state = run(fo, make, fnp.asarray)
    theirs, their_state = run(optax64, make, jnp.asarray)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)
    _compare_states(our_state, their_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ValueError, match="optimistic_adam_v2"):
            fo.optimistic_adam(_decay(0.1))


def test_noisy_sgd_matches_optax_draws(optax64):
    """The same key gives the same noise as Optax's (functrans.random is JAX's threefry)."""
    import jax
    import jax.numpy as jnp
    for make in (lambda m: m.noisy_sgd(0.1, key=3),
                 lambda m: m.chain(m.add_noise(0.5, 0.3, 7), m.scale(-1.0))):
        ours, our_state = run(fo, make, fnp.asarray)
        theirs, their_state = run(optax64, make, jnp.asarray)
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)
        ours_noise = ours - run(fo, lambda m: m.sgd(0.1), fnp.asarray)[0]
        assert np.abs(ours_noise).max() > 1e-3       # the noise is there
        s1, s2 = our_state[0], their_state[0]
        assert type(s1).__name__ == type(s2).__name__ == "AddNoiseState"
        assert int(s1.count) == int(s2.count) == len(GRADS)
        np.testing.assert_array_equal(np.asarray(s1.rng_key),
                                      np.asarray(jax.random.key_data(s2.rng_key)))


def test_add_noise_key_arguments():
    key = ft.random.PRNGKey(3)
    params = {"x": fnp.zeros(3)}
    a = fo.add_noise(1.0, 0.5, key)
    b = fo.add_noise(1.0, 0.5, 3)
    ua, _ = a.update(params, a.init(params))
    ub, _ = b.update(params, b.init(params))
    np.testing.assert_array_equal(ua["x"], ub["x"])
    with pytest.warns(DeprecationWarning, match="add_noise: \"seed\"") as caught:
        c = fo.add_noise(1.0, 0.5, seed=3)
    assert caught[0].filename == __file__           # the warnings point at the caller
    np.testing.assert_array_equal(c.update(params, c.init(params))[0]["x"], ua["x"])
    with pytest.warns(UserWarning, match="add_noise: no key") as caught:
        fo.add_noise(1.0, 0.5)
    assert caught[0].filename == __file__
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="only one"):
        fo.add_noise(1.0, 0.5, 3, seed=3)
    with pytest.raises(TypeError, match=r"key must be an int seed .* float32\[3\]"):
        fo.add_noise(1.0, 0.5, np.zeros(3, np.float32))


def _run_polyak(lib, make, asarray, jit=False):
    tx = make(lib)
    params = {"w": asarray(W0), "b": asarray(B0)}
    state = tx.init(params)
    step = ft.jit(tx.update) if jit and lib is fo else tx.update
    out = []
    for i, g in enumerate(GRADS):
        g = {k: asarray(v) for k, v in _finite(g, False).items()}
        value = asarray(np.float64(3.0 - i))          # crosses f_min: "sps+" clips there
        updates, state = step(g, state, params, value=value)
        params = lib.apply_updates(params, updates)
        out.append(np.concatenate([np.asarray(updates["w"]).ravel(), updates["b"]]))
    return np.array(out), state


POLYAK = [("scale_by_polyak", lambda m: m.scale_by_polyak()),
          ("scale_by_polyak_plus", lambda m: m.scale_by_polyak(0.5, 0.2, 1e-3, "sps+")),
          ("polyak_sgd", lambda m: m.polyak_sgd()),
          ("polyak_sgd_args", lambda m: m.polyak_sgd(0.5, _decay(1.0), 1.0, 0.1, "sps+"))]


@pytest.mark.parametrize("name, make", POLYAK, ids=[c[0] for c in POLYAK])
def test_polyak_matches_optax(name, make, optax64):
    import jax.numpy as jnp
    ours, our_state = _run_polyak(fo, make, fnp.asarray)
    theirs, their_state = _run_polyak(optax64, make, jnp.asarray)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)
    _compare_states(our_state, their_state)
    jitted, _ = _run_polyak(fo, make, fnp.asarray, jit=True)
    np.testing.assert_allclose(jitted, ours, rtol=1e-12, atol=1e-15)


def test_polyak_bad_arguments():
    with pytest.raises(ValueError, match="variant must be one of"):
        fo.scale_by_polyak(variant="spsp")
    tx = fo.polyak_sgd()
    params = {"x": fnp.ones(2)}
    with pytest.raises(TypeError, match="value=loss"):
        tx.update(params, tx.init(params), params)
    u, _ = tx.update({"x": fnp.zeros(2)}, tx.init(params), params, value=1.0)
    np.testing.assert_array_equal(u["x"], 0.0)        # a zero gradient: no step


JIT_CASES = OPTIMIZERS + TRANSFORMS[:-3] + [
    ("noisy_sgd", lambda m: m.noisy_sgd(0.1, key=3))]


@pytest.mark.parametrize("name, make", JIT_CASES, ids=[c[0] for c in JIT_CASES])
def test_jit_equals_eager(name, make):
    eager, s1 = run(fo, make, fnp.asarray)
    jitted, s2 = run(fo, make, fnp.asarray, jit=True)
    np.testing.assert_allclose(jitted, eager, rtol=1e-12, atol=1e-15)
    for a, b in zip(tree_leaves(s1), tree_leaves(s2), strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-12, atol=1e-15)


def test_float32_params_stay_float32():
    params = {"w": fnp.asarray(W0, np.float32), "b": fnp.asarray(B0, np.float32)}
    grads = {k: fnp.asarray(v, np.float32) for k, v in _finite(GRADS[0], False).items()}
    for _, make in OPTIMIZERS[:16] + [("noisy", lambda m: m.noisy_sgd(0.1, key=0))]:
        tx = make(fo)
        u, _ = tx.update(grads, tx.init(params), params)
        assert {str(x.dtype) for x in tree_leaves(u)} == {"float32"}


# ------------------------------------------------------------------ closed forms, errors
def test_sm3_closed_form_and_errors():
    g = np.array([[1.0, -2.0], [3.0, 0.5]])
    u, s = fo.scale_by_sm3(b1=0.0, eps=0.0).update({"x": fnp.asarray(g)},
                                                   fo.scale_by_sm3().init({"x": fnp.ones((2, 2))}))
    np.testing.assert_allclose(u["x"], np.sign(g), rtol=1e-12)    # g / sqrt(g**2)
    np.testing.assert_allclose(s.mu["x"][0], [4.0, 9.0])          # row maxima of g**2
    np.testing.assert_allclose(s.mu["x"][1], [9.0, 4.0])          # column maxima
    with pytest.raises(ValueError, match="real parameters"):
        fo.sm3(0.1).init({"x": fnp.ones(2, np.complex128)})
    with pytest.raises(ValueError, match="at least 1 dimension"):
        fo.sm3(0.1).init({"x": fnp.asarray(1.0)})


def test_transforms_that_need_params_say_so():
    g = {"x": fnp.ones(3)}
    for tx in (fo.scale_by_param_block_norm(), fo.adaptive_grad_clip(0.1),
               fo.scale_by_distance_over_gradients()):
        with pytest.raises(ValueError, match="needs the parameters"):
            tx.update(g, tx.init(g))
    with pytest.raises(ValueError, match="axis="):
        fo.adaptive_grad_clip(0.1).update({"x": fnp.ones((1, 2, 2, 2, 2, 2))}, None,
                                          {"x": fnp.ones((1, 2, 2, 2, 2, 2))})
    with pytest.raises(TypeError, match="dict"):
        fo.monitor([fo.identity()])


def test_stateless_and_init_empty_state():
    tx = fo.stateless(lambda u, p: ft.tree_util.tree_map(lambda a: 2 * a, u))
    assert tx.init({"x": fnp.ones(2)}) == fo.EmptyState() == fo.init_empty_state(None)
    np.testing.assert_array_equal(tx.update({"x": fnp.ones(2)}, None)[0]["x"], [2.0, 2.0])
    tx = fo.stateless_with_tree_map(lambda u, p: u * 3 if p is None else u * p)
    np.testing.assert_array_equal(tx.update({"x": fnp.ones(2)}, None)[0]["x"], [3.0, 3.0])
    assert fo.ScaleByTrustRatioState is fo.EmptyState and fo.ClipState is fo.EmptyState


# ------------------------------------------------------------------ functions
def test_per_example_clipping_matches_optax(optax64):
    import jax.numpy as jnp
    r = np.random.default_rng(5)
    grads = {"a": r.standard_normal((6, 3, 2)), "b": r.standard_normal((6, 4)) * 3.0}
    grads["b"][2] = 0.0
    grads["a"][2] = 0.0                             # a zero example: multiplier 1, not NaN
    for fn, args in (("per_example_global_norm_clip", (2.0,)),
                     ("per_example_layer_norm_clip", (2.0,)),
                     ("per_example_layer_norm_clip", (2.0, False))):
        ours = getattr(fo, fn)({k: fnp.asarray(v) for k, v in grads.items()}, *args)
        theirs = getattr(optax64, fn)({k: jnp.asarray(v) for k, v in grads.items()}, *args)
        for a, b in zip(tree_leaves(ours), tree_leaves(theirs), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL, atol=ATOL)
    clipped, n = fo.per_example_global_norm_clip({"x": fnp.asarray([[3.0, 4.0], [0.3, 0.4]])},
                                                 1.0)
    np.testing.assert_allclose(clipped["x"], [0.6 + 0.3, 0.8 + 0.4])
    assert int(n) == 1
    for fn in (fo.per_example_global_norm_clip, fo.per_example_layer_norm_clip):
        with pytest.raises(ValueError, match=r"batch dimension .* \[\(3,\), \(4,\)\]"):
            fn({"a": fnp.ones(3), "b": fnp.ones(4)}, 1.0)


def test_skip_functions_match_optax_and_work_with_multisteps(optax64):
    import jax.numpy as jnp
    for g in (GRADS[0], GRADS[3]):                  # GRADS[3] holds a NaN
        for fn, args in (("skip_not_finite", ()), ("skip_large_updates", (50.0,))):
            ours = getattr(fo, fn)({k: fnp.asarray(v) for k, v in g.items()}, 0, None, *args)
            theirs = getattr(optax64, fn)({k: jnp.asarray(v) for k, v in g.items()}, 0, None,
                                          *args)
            assert bool(ours[0]) == bool(theirs[0])
            for k in theirs[1]:
                np.testing.assert_allclose(np.asarray(ours[1][k]), np.asarray(theirs[1][k]),
                                           rtol=RTOL)
    assert bool(fo.skip_not_finite({"x": fnp.asarray([np.inf])}, 0, None)[0])
    opt = fo.MultiSteps(fo.sgd(1.0), every_k_schedule=1,
                        should_skip_update_fn=fo.skip_not_finite)
    params = {"x": fnp.ones(2)}
    state = opt.init(params)
    u, state = opt.update({"x": fnp.asarray([np.nan, 1.0])}, state, params)
    np.testing.assert_array_equal(u["x"], [0.0, 0.0])
    u, state = opt.update({"x": fnp.asarray([1.0, 1.0])}, state, params)
    np.testing.assert_array_equal(u["x"], [-1.0, -1.0])


def test_scale_gradient():
    x = fnp.asarray([1.0, 2.0])

    def loss(s):
        return lambda x: fnp.sum(fo.scale_gradient({"a": x ** 2}, s)["a"])
    np.testing.assert_allclose(ft.grad(loss(0.5))(x), 0.5 * 2 * np.asarray(x))
    np.testing.assert_allclose(ft.jit(ft.grad(loss(-3.0)))(x), -3.0 * 2 * np.asarray(x))
    np.testing.assert_allclose(ft.grad(loss(1.0))(x), 2 * np.asarray(x))
    np.testing.assert_array_equal(ft.grad(loss(0.0))(x), [0.0, 0.0])
    np.testing.assert_array_equal(fo.scale_gradient({"a": x}, 0.5)["a"], x)


def test_numerics_match_optax(optax64):
    import jax.numpy as jnp
    r = np.random.default_rng(2)
    x = r.standard_normal((3, 4))
    for args, kwargs in (((0.1,), {}), ((10.0,), {}), ((0.5,), {"axis": 1}),
                         ((2.5,), {"axis": 0, "keepdims": True}), ((1.0,), {"ord": 1}),
                         ((1.0,), {"ord": "fro", "axis": (0, 1)})):
        np.testing.assert_allclose(fo.safe_norm(fnp.asarray(x), *args, **kwargs),
                                   optax64.safe_norm(jnp.asarray(x), *args, **kwargs),
                                   rtol=1e-13)
    for v in (x, np.zeros(3), x * 1e-3):
        np.testing.assert_allclose(fo.safe_root_mean_squares(fnp.asarray(v), 0.1),
                                   optax64.safe_root_mean_squares(jnp.asarray(v), 0.1),
                                   rtol=1e-13)
    # finite, zero gradients at 0
    np.testing.assert_array_equal(ft.grad(lambda v: fo.safe_norm(v, 1e-3))(fnp.zeros(3)), 0.0)
    np.testing.assert_array_equal(
        ft.grad(lambda v: fo.safe_root_mean_squares(v, 1e-3))(fnp.zeros(3)), 0.0)
    for c in (np.int32(5), np.int32(2 ** 31 - 1), np.float32(3.0),
              np.float32(np.finfo(np.float32).max)):
        ours = fo.safe_increment(fnp.asarray(c))
        assert ours.dtype == c.dtype and ours == optax64.safe_increment(jnp.asarray(c))
    assert fo.safe_int32_increment(fnp.asarray(np.int32(7))) == 8
    with pytest.raises(ValueError, match="integer or floating"):
        fo.safe_increment(fnp.asarray(True))
    g = {"a": fnp.asarray(x), "b": None}
    m = {"a": fnp.asarray(x[::-1].copy()), "b": None}
    jg = {"a": jnp.asarray(x), "b": None}
    jm = {"a": jnp.asarray(x[::-1].copy()), "b": None}
    for fn, args in (("update_moment", (0.9, 2)), ("update_moment_per_elem_norm", (0.9, 2)),
                     ("update_infinity_moment", (0.9, 1e-3)), ("incremental_update", (0.3,))):
        ours, theirs = getattr(fo, fn)(g, m, *args), getattr(optax64, fn)(jg, jm, *args)
        assert ours["b"] is None
        np.testing.assert_allclose(ours["a"], theirs["a"], rtol=1e-13)
    np.testing.assert_allclose(fo.bias_correction(g, 0.9, fnp.asarray(3))["a"],
                               optax64.bias_correction(jg, 0.9, jnp.asarray(3))["a"],
                               rtol=1e-13)


def test_periodic_update_eager_and_jit():
    new, old = {"a": fnp.ones(2)}, {"a": fnp.zeros(2)}
    for step in (ft.jit(fo.periodic_update), fo.periodic_update):
        np.testing.assert_array_equal(step(new, old, fnp.asarray(6), 3)["a"], [1.0, 1.0])
        np.testing.assert_array_equal(step(new, old, fnp.asarray(7), 3)["a"], [0.0, 0.0])


def test_tree_map_params_on_an_optimizer_state():
    params = {"w": fnp.ones((2, 3)), "b": fnp.ones(3)}
    opt = fo.yogi(0.1)
    state = fo.tree_map_params(opt, lambda p: p * 0 + 7.0, opt.init(params))
    assert float(state[0].mu["w"][0, 0]) == 7.0 and int(state[0].count) == 0


BUFFER_CASES = [c for c in OPTIMIZERS if c[0] in (
    "yogi", "adan", "sign_sgd", "signum", "sm3", "scale_by_distance_over_gradients",
    "scale_by_param_block_norm")] + [
    ("noisy_sgd", lambda m: m.noisy_sgd(0.1, key=1)),
    ("apply_every", lambda m: m.apply_every(1)), ("centralize", lambda m: m.centralize()),
    ("adaptive_grad_clip", lambda m: m.adaptive_grad_clip(0.1)),
    ("adan_decay", lambda m: m.adan(0.1, weight_decay=0.1)),
    ("fromage", lambda m: m.fromage(0.1)),
    ("optimistic_adam_v2", lambda m: m.optimistic_adam_v2(0.1)),
    ("adamw", lambda m: m.adamw(0.1)), ("lamb", lambda m: m.lamb(0.1, weight_decay=0.1))]


@pytest.mark.parametrize("name, make", BUFFER_CASES, ids=[c[0] for c in BUFFER_CASES])
def test_buffers_get_no_update_and_no_state(name, make):
    """A Buffer among the params (BatchNorm's statistics) is left alone; the arrays move as
    they do without it."""
    from functrans.buffers import Buffer
    w = fnp.asarray(W0)
    with_buf = {"w": w, "stats": Buffer(fnp.ones(4))}

    def loss(p):
        return fnp.sum(p["w"] ** 3)
    tx = make(fo)
    state = tx.init(with_buf)
    plain_tx = make(fo)
    plain_state = plain_tx.init({"w": w})
    for _ in range(3):
        g = ft.grad(loss)(with_buf)
        u, state = ft.jit(tx.update)(g, state, with_buf)
        with_buf = fo.apply_updates(with_buf, u)
        pu, plain_state = plain_tx.update({"w": g["w"]}, plain_state, {"w": w})
        w = fo.apply_updates({"w": w}, pu)["w"]
    np.testing.assert_array_equal(with_buf["stats"].value, np.ones(4))
    np.testing.assert_allclose(with_buf["w"], w, rtol=1e-12)
    assert not np.array_equal(w, W0)
    assert len(tree_leaves(state)) == len(tree_leaves(plain_state))


DEVICE_CASES = OPTIMIZERS + TRANSFORMS[:5] + [
    ("noisy_sgd", lambda m: m.noisy_sgd(0.1, key=3))]


@pytest.mark.parametrize("name, make", DEVICE_CASES, ids=[c[0] for c in DEVICE_CASES])
def test_params_on_a_device(name, make, fake_gpus):
    """Params on the stand-in GPU (the default device the CPU): updates and states stay
    with them, and the steps equal those on the CPU."""
    gpu = fake_gpus[0]
    tx = make(fo)
    params = ft.device_put({"w": fnp.asarray(W0), "b": fnp.asarray(B0)}, gpu)
    state = tx.init(params)
    for g in GRADS[:3]:
        g = ft.device_put({k: fnp.asarray(v) for k, v in _finite(g, False).items()}, gpu)
        updates, state = tx.update(g, state, params)
        params = fo.apply_updates(params, updates)
    assert {x.device for x in tree_leaves((params, updates, state))} == {gpu}
    want, _ = run(fo, make, fnp.asarray)
    np.testing.assert_allclose(np.concatenate([np.asarray(updates["w"]).ravel(),
                                               updates["b"]]), want[2], rtol=1e-12)


def test_unitwise_norm_and_clip_match_optax_and_transforms_module(optax64):
    import jax.numpy as jnp
    import functrans.optim.optax.transforms as fot
    r = np.random.default_rng(7)
    for shape, axis in (((5,), None), ((1, 5), None), ((3, 4), None), ((2, 3, 4), None),
                        ((2, 2, 3, 4), None), ((2, 2, 2, 3, 4), None), ((3, 4), 1),
                        ((2, 3, 4), (1, 2))):
        x = r.standard_normal(shape)
        np.testing.assert_allclose(fot.unitwise_norm(fnp.asarray(x), axis),
                                   optax64.transforms.unitwise_norm(jnp.asarray(x), axis),
                                   rtol=1e-13)
    g, n, m = r.standard_normal((3, 3)), np.abs(r.standard_normal((3, 3))), np.ones((3, 3))
    np.testing.assert_allclose(
        fot.unitwise_clip(fnp.asarray(n), fnp.asarray(m), fnp.asarray(g)),
        optax64.transforms.unitwise_clip(jnp.asarray(n), jnp.asarray(m), jnp.asarray(g)),
        rtol=1e-13)
    with pytest.raises(ValueError, match=r"one shape, got \(3, 3\), \(3,\), \(3, 3\)"):
        fot.unitwise_clip(fnp.asarray(n), fnp.ones(3), fnp.asarray(g))
    with pytest.raises(ValueError, match="axis="):
        fot.unitwise_norm(fnp.ones((1, 2, 2, 2, 2, 2)))
    names = [n for n in dir(optax64.transforms) if not n.startswith("_")]
    assert [n for n in names if not hasattr(fot, n)] == []


def test_power_iteration_matches_optax(optax64):
    import jax
    import jax.numpy as jnp
    r = np.random.default_rng(11)
    a = r.standard_normal((6, 6))
    a = a @ a.T
    top = np.linalg.eigvalsh(a)[-1]
    for kwargs, jkwargs in (({}, {}), ({"num_iters": 3}, {"num_iters": 3}),
                            ({"key": ft.random.PRNGKey(5), "error_tolerance": 1e-9},
                             {"key": jax.random.PRNGKey(5), "error_tolerance": 1e-9})):
        eig, vec = fo.power_iteration(fnp.asarray(a), **kwargs)
        jeig, jvec = optax64.power_iteration(jnp.asarray(a), **jkwargs)
        np.testing.assert_allclose(eig, jeig, rtol=1e-12)
        np.testing.assert_allclose(vec, jvec, rtol=1e-10, atol=1e-14)
        jitted = ft.jit(lambda m: fo.power_iteration(m, **kwargs))(fnp.asarray(a))
        np.testing.assert_allclose(jitted[0], eig, rtol=1e-13)
    assert abs(float(eig) - top) < 1e-6 * top
    v0 = {"x": fnp.ones(6, np.float64)}
    eig, vec = fo.power_iteration(lambda v: {"x": fnp.asarray(a) @ v["x"]}, v0=v0)
    np.testing.assert_allclose(eig, top, rtol=1e-6)
    assert set(vec) == {"x"} and float(fnp.linalg.norm(vec["x"])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="pass v0"):
        fo.power_iteration(lambda v: v)
    with pytest.raises(ValueError, match=r"square, got shape \(2, 3\)"):
        fo.power_iteration(fnp.ones((2, 3)))


def test_apply_every_rejects_nonpositive_k():
    with pytest.raises(ValueError, match="positive number of steps, got 0"):
        fo.apply_every(0)
