"""ft.optim under Optax's names: the building blocks (scale_by_adam, trace, ema, ...), the
optimizers amsgrad/adabelief/lamb/lars/novograd, the schedules, the losses and the
functrans.optim.optax namespace (sgd/adam/adamw/... with Optax's arguments). Against closed
forms, under jit, on bad arguments, and against Optax itself in float64 when it is
installed."""
import math

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.optim import optax as ft_optax
from functrans.tree_util import tree_leaves
from optax_compare import assert_gradients_match_jax

O = ft.optim
rng = np.random.default_rng(3)
W0 = rng.standard_normal((3, 4))
B0 = np.abs(rng.standard_normal(4)) * 0.1
# gradients of varying size and sign, one set per step
GRADS = [{"w": rng.standard_normal((3, 4)) * 10.0 ** rng.integers(-2, 2),
          "b": rng.standard_normal(4)} for _ in range(6)]
GRADS[3]["w"][1, 2] = np.nan        # zero_nans must see one


def _finite(g, allow_nan):
    return g if allow_nan else {k: np.nan_to_num(v) for k, v in g.items()}


def run(lib, make, asarray, jit=False, allow_nan=False):
    """The updates of each step and the final state of `make(lib)` over GRADS, the params
    moving by the updates."""
    tx = make(lib)
    params = {"w": asarray(W0), "b": asarray(B0)}
    state = tx.init(params)
    step = ft.jit(tx.update) if jit else tx.update
    out = []
    for g in GRADS:
        g = {k: asarray(v) for k, v in _finite(g, allow_nan).items()}
        updates, state = step(g, state, params)
        params = lib.apply_updates(params, updates)
        out.append(np.concatenate([np.asarray(updates["w"]).ravel(),
                                   np.asarray(updates["b"])]))
    return np.array(out), state


def _state_names(state):
    """The class names of the states that have fields, outermost first."""
    if isinstance(state, tuple) and not hasattr(state, "_fields"):
        return [n for s in state for n in _state_names(s)]
    return [type(state).__name__] if getattr(state, "_fields", ()) else []


def _decay(lr):
    """A schedule computed in float64 by both libraries (Optax's own schedules round to
    float32)."""
    return lambda count: lr / (1.0 + count.astype(np.float64))


TRANSFORMS = [
    ("identity", lambda m: m.identity()),
    ("scale_by_adam", lambda m: m.scale_by_adam()),
    ("scale_by_adam_args", lambda m: m.scale_by_adam(0.8, 0.99, 1e-6, 1e-8, nesterov=True)),
    ("scale_by_amsgrad", lambda m: m.scale_by_amsgrad()),
    ("scale_by_amsgrad_nobc", lambda m: m.scale_by_amsgrad(bias_correction_nu=False)),
    ("scale_by_belief", lambda m: m.scale_by_belief()),
    ("scale_by_belief_nesterov", lambda m: m.scale_by_belief(0.8, 0.9, nesterov=True)),
    ("scale_by_rms", lambda m: m.scale_by_rms()),
    ("scale_by_rms_args", lambda m: m.scale_by_rms(0.8, 1e-6, 0.1, False, True)),
    ("scale_by_stddev", lambda m: m.scale_by_stddev(initial_scale=0.1)),
    ("scale_by_stddev_args", lambda m: m.scale_by_stddev(0.8, 1e-6, 0.5, False, True)),
    ("scale_by_trust_ratio", lambda m: m.scale_by_trust_ratio(0.1, 0.5, 1e-3)),
    ("trace", lambda m: m.trace(0.9)),
    ("trace_nesterov", lambda m: m.trace(0.7, nesterov=True)),
    ("scale_by_learning_rate", lambda m: m.scale_by_learning_rate(0.1)),
    ("scale_by_learning_rate_schedule",
     lambda m: m.scale_by_learning_rate(_decay(0.1), flip_sign=False)),
    ("clip", lambda m: m.clip(0.5)),
    ("scale_by_sign", lambda m: m.scale_by_sign()),
    ("ema", lambda m: m.ema(0.9)),
    ("ema_nodebias", lambda m: m.ema(0.6, debias=False)),
    ("keep_params_nonnegative",
     lambda m: m.chain(m.scale_by_learning_rate(0.1), m.keep_params_nonnegative())),
    ("amsgrad", lambda m: m.amsgrad(0.1)),
    ("adabelief", lambda m: m.adabelief(0.1)),
    ("lamb", lambda m: m.lamb(0.1, weight_decay=0.01)),
    ("lamb_masked", lambda m: m.lamb(_decay(0.2), weight_decay=0.1,
                                     mask={"w": True, "b": False})),
    ("scale_by_novograd", lambda m: m.scale_by_novograd()),
    ("novograd", lambda m: m.novograd(0.1)),
    ("novograd_args", lambda m: m.novograd(_decay(0.1), 0.8, 0.5, 1e-4, 1e-6, 0.05)),
    ("lars", lambda m: m.lars(0.1)),
    ("scale_by_rss", lambda m: m.scale_by_rss()),
    ("scale_by_rss_args", lambda m: m.scale_by_rss(0.0, 1e-4)),
    ("scale_by_adamax", lambda m: m.scale_by_adamax()),
    ("scale_by_adamax_args", lambda m: m.scale_by_adamax(0.8, 0.5, 1e-3)),
    ("scale_by_lion", lambda m: m.scale_by_lion()),
    ("scale_by_lion_smooth", lambda m: m.scale_by_lion(0.8, 0.9, mode="smooth",
                                                       smooth_beta=0.7)),
    ("scale_by_lion_refined", lambda m: m.scale_by_lion(mode="refined")),
    ("scale_by_radam", lambda m: m.scale_by_radam()),
    # b2=0.5: ro_inf = 3, below the threshold 5 (never rectified) but above 2
    ("scale_by_radam_short", lambda m: m.scale_by_radam(b2=0.5)),
    ("scale_by_adadelta", lambda m: m.scale_by_adadelta()),
    ("scale_by_adadelta_args", lambda m: m.scale_by_adadelta(0.5, 1e-3)),
    ("scale_by_rprop", lambda m: m.scale_by_rprop(0.1)),
    ("scale_by_rprop_args", lambda m: m.scale_by_rprop(0.01, 0.3, 2.0, 5e-3, 0.05)),
    ("lars_args", lambda m: m.lars(0.5, 0.01, {"w": True, "b": False}, 0.01, 1e-3,
                                   lambda p: {"w": True, "b": False}, 0.8, True)),
]
IDS = [c[0] for c in TRANSFORMS]


@pytest.mark.parametrize("name, make", TRANSFORMS, ids=IDS)
def test_transform_matches_optax(name, make, optax64):
    import jax.numpy as jnp
    ours, our_state = run(O, make, fnp.asarray)
    theirs, their_state = run(optax64, make, jnp.asarray)
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-14)
    assert _state_names(our_state) == _state_names(their_state)
    for a, b in zip(tree_leaves(our_state), tree_leaves(their_state), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-14)


def test_zero_nans_matches_optax(optax64):
    import jax.numpy as jnp
    ours, our_state = run(O, lambda m: m.zero_nans(), fnp.asarray, allow_nan=True)
    theirs, their_state = run(optax64, lambda m: m.zero_nans(), jnp.asarray, allow_nan=True)
    np.testing.assert_array_equal(ours, theirs)
    assert not np.isnan(ours).any() and (ours[3] == 0).sum() == 1
    assert bool(our_state.found_nan["w"]) is False      # the last step had none
    assert _state_names(our_state) == _state_names(their_state) == ["ZeroNansState"]


@pytest.mark.parametrize("name, make", TRANSFORMS + [("zero_nans", lambda m: m.zero_nans())],
                         ids=IDS + ["zero_nans"])
def test_transform_jit_equals_eager(name, make):
    eager, s1 = run(O, make, fnp.asarray, allow_nan=True)
    jitted, s2 = run(O, make, fnp.asarray, jit=True, allow_nan=True)
    np.testing.assert_allclose(jitted, eager, rtol=1e-12, atol=1e-15)
    for a, b in zip(tree_leaves(s1), tree_leaves(s2), strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ closed forms
def _one(tx, g, params=None, steps=1):
    params = {"x": fnp.asarray(np.ones_like(g))} if params is None else params
    state = tx.init(params)
    for _ in range(steps):
        u, state = tx.update({"x": fnp.asarray(g)}, state, params)
    return np.asarray(u["x"]), state


G = np.array([0.5, -2.0, 3.0, 0.0])


def test_identity_trace_and_sign_closed_forms():
    u, s = _one(O.identity(), G)
    np.testing.assert_array_equal(u, G)
    assert s == O.EmptyState()
    np.testing.assert_array_equal(_one(O.trace(0.0), G, steps=3)[0], G)
    u, s = _one(O.trace(0.5), G, steps=2)                # g + 0.5 g
    np.testing.assert_allclose(u, 1.5 * G)
    np.testing.assert_allclose(s.trace["x"], 1.5 * G)
    np.testing.assert_allclose(_one(O.trace(0.5, nesterov=True), G, steps=2)[0], 1.75 * G)
    np.testing.assert_array_equal(_one(O.scale_by_sign(), G)[0], [1, -1, 1, 0])
    np.testing.assert_array_equal(_one(O.clip(1.0), G)[0], [0.5, -1.0, 1.0, 0.0])
    np.testing.assert_allclose(_one(O.scale_by_learning_rate(0.1), G)[0], -0.1 * G)
    np.testing.assert_allclose(_one(O.scale_by_learning_rate(0.1, flip_sign=False), G)[0],
                               0.1 * G)
    np.testing.assert_array_equal(_one(O.scale_by_learning_rate(None), G)[0], G)
    u, _ = _one(O.trace(0.9, accumulator_dtype=np.float32), G, steps=2)
    assert u.dtype == np.float64 and _one(O.trace(0.9, accumulator_dtype="float32"),
                                          G)[1].trace["x"].dtype == np.float32


@pytest.mark.parametrize("make, field", [
    (lambda dt: O.scale_by_adam(mu_dtype=dt), "mu"),
    (lambda dt: O.scale_by_amsgrad(mu_dtype=dt), "mu"),
    (lambda dt: O.trace(0.9, accumulator_dtype=dt), "trace"),
    (lambda dt: O.ema(0.9, accumulator_dtype=dt), "ema"),
    (lambda dt: O.scale_by_lion(mu_dtype=dt), "mu"),
    (lambda dt: O.scale_by_novograd(mu_dtype=dt), "mu"),
    (lambda dt: ft_optax.contrib.scale_by_adopt(mu_dtype=dt), "mu"),
    (lambda dt: ft_optax.contrib.scale_by_muon(mu_dtype=dt), "mu")],
    ids=["adam", "amsgrad", "trace", "ema", "lion", "novograd", "adopt", "muon"])
def test_moments_in_a_dtype_keep_it_and_the_params_device(make, field, fake_gpus):
    """A moment kept in a dtype (a Python type meaning the default of its kind, as in
    `astype`) has that dtype at init and after updates, and starts on the params' device."""
    gpu = fake_gpus[0]
    params = {"w": ft.device_put(fnp.asarray(W0), gpu)}
    want = fnp.zeros(1).astype(float).dtype
    tx = make(float)
    state = tx.init(params)
    assert getattr(state, field)["w"].device == gpu
    assert getattr(state, field)["w"].dtype == want != W0.dtype
    for g in GRADS[:2]:
        _, state = tx.update({"w": ft.device_put(fnp.asarray(g["w"]), gpu)}, state, params)
        assert getattr(state, field)["w"].dtype == want


def test_moment_transforms_first_step_closed_forms():
    # bias-corrected moments equal g and g**2 after one step
    u, s = _one(O.scale_by_adam(eps=0.0), G[:3])
    np.testing.assert_allclose(u, np.sign(G[:3]), rtol=1e-12)
    assert s.count == 1 and s._fields == ("count", "mu", "nu")
    np.testing.assert_allclose(s.mu["x"], 0.1 * G[:3])
    u, s = _one(O.ema(0.9), G)
    np.testing.assert_allclose(u, G, rtol=1e-12)
    assert s._fields == ("count", "ema")
    np.testing.assert_allclose(_one(O.ema(0.9, debias=False), G)[0], 0.1 * G, rtol=1e-12)
    u, s = _one(O.scale_by_rms(eps=0.0), G[:3])
    np.testing.assert_allclose(u, G[:3] / np.sqrt(0.1 * G[:3] ** 2), rtol=1e-12)
    assert s._fields == ("nu",)
    u, _ = _one(O.scale_by_stddev(eps=0.0), G[:3])      # nu - mu**2 = 0.09 g**2
    np.testing.assert_allclose(u, G[:3] / np.sqrt(0.09 * G[:3] ** 2), rtol=1e-12)
    u, _ = _one(O.adabelief(1.0, eps=0.0, eps_root=0.0), G[:3])   # the deviation is 0.9 g
    np.testing.assert_allclose(u, -np.sign(G[:3]) / 0.9, rtol=1e-12)


def test_amsgrad_keeps_the_largest_second_moment():
    tx = O.amsgrad(0.1)
    params = {"x": fnp.zeros(2)}
    state = tx.init(params)
    peaks = []
    for g in ([10.0, 1.0], [0.1, 1.0], [0.1, 1.0]):
        _, state = tx.update({"x": fnp.asarray(g)}, state, params)
        inner = state[0]
        assert inner._fields == ("count", "mu", "nu", "nu_max")
        # the bias correction in float32 (the default float dtype), as Optax computes it
        correction = 1 - np.float32(0.999) ** np.float32(int(inner.count))
        np.testing.assert_array_equal(inner.nu_max["x"],
                                      np.maximum(inner.nu_max["x"], inner.nu["x"] / correction))
        peaks.append(np.asarray(inner.nu_max["x"])[0])
    # 100.00129 as Optax's: 1 - 0.999 rounded to float32 is 0.00099998713
    assert peaks[0] == pytest.approx(100.0, rel=2e-5) and peaks == sorted(peaks, reverse=True) and \
        peaks[2] > 40    # the peak decays only through the bias correction, not with nu


def test_lamb_update_norm_is_lr_times_param_norm():
    params = {"w": fnp.asarray(W0), "b": fnp.asarray(B0)}
    tx = O.lamb(0.01, weight_decay=0.1)
    state = tx.init(params)
    for g in GRADS[:2]:
        updates, state = tx.update({k: fnp.asarray(v) for k, v in _finite(g, False).items()},
                                   state, params)
        for k in params:
            assert float(fnp.linalg.norm(updates[k])) == pytest.approx(
                0.01 * float(fnp.linalg.norm(params[k])), rel=1e-10)


def test_novograd_and_lars_first_steps():
    params = {"w": fnp.asarray(W0), "b": fnp.asarray(B0)}
    grads = {k: fnp.asarray(v) for k, v in _finite(GRADS[0], False).items()}
    for tx, coef in ((O.novograd(0.1, eps=0.0), lambda k: 0.1 / np.linalg.norm(grads[k])),
                     (O.lars(0.1, trust_coefficient=0.01),
                      lambda k: 0.001 * np.linalg.norm(params[k]) / np.linalg.norm(grads[k]))):
        updates, state = tx.update(grads, tx.init(params), params)
        for k in params:
            np.testing.assert_allclose(updates[k], -coef(k) * np.asarray(grads[k]),
                                       rtol=1e-12)
    nu = O.scale_by_novograd().init(params).nu          # one scalar per leaf
    assert nu["w"].shape == () and nu["b"].dtype == np.float64


def test_new_optax_blocks_closed_forms():
    """scale_by_rss/adamax/lion/radam/adadelta/rprop on one or two steps, without Optax."""
    g = G[:3]
    np.testing.assert_allclose(_one(O.scale_by_rss(0.0, 0.0), g)[0], np.sign(g), rtol=1e-12)
    np.testing.assert_array_equal(_one(O.scale_by_rss(0.0), G)[0][3], 0.0)    # 0 / 0 -> 0
    u, s = _one(O.scale_by_adamax(eps=0.0), g)          # mu_hat = g, nu = |g|
    np.testing.assert_allclose(u, np.sign(g), rtol=1e-12)
    assert type(s).__name__ == "ScaleByAdamState"
    u, s = _one(O.scale_by_lion(), G, steps=2)           # c = 0.1 g + 0.9 * 0.01 g
    np.testing.assert_array_equal(u, np.sign(G))
    np.testing.assert_allclose(s.mu["x"], (1 - 0.99 ** 2) * G, rtol=1e-12)
    np.testing.assert_allclose(_one(O.scale_by_lion(mode="smooth", smooth_beta=2.0), G)[0],
                               np.tanh(0.2 * G), rtol=1e-12)
    with pytest.raises(ValueError, match="mode must be one of"):
        O.scale_by_lion(mode="soft")
    # ro = 1 on step 1 (below the threshold): the update is the bias-corrected mean, g
    np.testing.assert_allclose(_one(O.scale_by_radam(), G)[0], G, rtol=1e-12)
    u, s = _one(O.scale_by_adadelta(0.5, 1e-6), g)      # sqrt(eps) / sqrt(g**2 / 2 + eps) g
    np.testing.assert_allclose(u, np.sqrt(1e-6) / np.sqrt(0.5 * g ** 2 + 1e-6) * g,
                               rtol=1e-12)
    np.testing.assert_allclose(s.e_x["x"], 0.5 * u ** 2, rtol=1e-12)
    tx = O.chain(O.scale_by_rprop(0.1, max_step_size=0.11), O.scale(-1.0))
    params = {"x": fnp.asarray(np.zeros(2))}
    state = tx.init(params)
    out = []
    for step in ([1.0, 1.0], [1.0, -1.0], [1.0, -1.0]):
        u, state = tx.update({"x": fnp.asarray(step)}, state, params)
        out.append(np.asarray(u["x"]))
    # Optax's update lags a step: 0 first; then -0.1 * sign; the flip gives 0
    np.testing.assert_allclose(out, [[0, 0], [-0.1, 0], [-0.11, 0]], rtol=1e-12)
    np.testing.assert_allclose(state[0].step_sizes["x"], [0.11, 0.05], rtol=1e-12)


def test_zero_nans_and_keep_params_nonnegative_closed_forms():
    u, s = _one(O.zero_nans(), np.array([1.0, np.nan, -2.0]))
    np.testing.assert_array_equal(u, [1.0, 0.0, -2.0])
    assert bool(s.found_nan["x"])
    params = {"x": fnp.asarray([1.0, 0.5, 0.0])}
    u, _ = _one(O.keep_params_nonnegative(), np.array([-2.0, -0.25, 1.0]), params)
    np.testing.assert_array_equal(u, [-1.0, -0.25, 1.0])


def test_blocks_refuse_missing_params():
    for tx in (O.keep_params_nonnegative(), O.scale_by_trust_ratio(), O.lamb(0.1),
               O.novograd(0.1, weight_decay=0.1), O.lars(0.1)):
        with pytest.raises(ValueError, match="needs the parameters"):
            tx.update({"x": fnp.ones(2)}, tx.init({"x": fnp.ones(2)}))
    tx = O.scale_by_adam()
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(2,\)"):
        tx.update({"x": fnp.ones(3)}, tx.init({"x": fnp.ones(2)}))


# ------------------------------------------------------------------ schedules
SCHEDULES = [
    ("warmup_constant_schedule", (0.01, 0.1, 10), {}),
    ("warmup_constant_schedule", (0.01, 0.1, 0), {}),
    ("warmup_exponential_decay_schedule", (0.0, 0.1, 5, 10, 0.5), dict(transition_begin=3)),
    ("warmup_exponential_decay_schedule", (0.01, 0.1, 8, 4, 0.7),
     dict(staircase=True, end_value=0.02)),
    ("sgdr_schedule", ([dict(init_value=0.0, peak_value=0.1, warmup_steps=3, decay_steps=20),
                        dict(init_value=0.01, peak_value=0.05, warmup_steps=0, decay_steps=15,
                             end_value=0.001)],), {}),
    ("piecewise_interpolate_schedule", ("linear", 0.1, {10: 2.0, 25: 0.1, 40: 0.5}), {}),
    ("piecewise_interpolate_schedule", ("cosine", 0.1, {0: 2.0, 30: 0.01}), {}),
    ("piecewise_interpolate_schedule", ("linear", 0.3), {}),
    ("cosine_onecycle_schedule", (50, 0.1), {}),
    ("cosine_onecycle_schedule", (40, 1.0, 0.5, 10.0, 100.0), {}),
    ("linear_onecycle_schedule", (50, 0.1), {}),
    ("linear_onecycle_schedule", (45, 2.0, 0.2, 0.6, 5.0, 50.0), {}),
]
SCHEDULE_IDS = [f"{c[0]}{i}" for i, c in enumerate(SCHEDULES)]
STEPS = np.arange(60)


@pytest.mark.parametrize("name, args, kwargs", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedule_matches_optax(name, args, kwargs, optax64):
    ours = getattr(O, name)(*args, **kwargs)
    theirs = getattr(optax64, name)(*args, **kwargs)
    np.testing.assert_allclose([float(ours(t)) for t in STEPS],
                               [float(theirs(int(t))) for t in STEPS], rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("name, args, kwargs", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedule_under_jit_vmap(name, args, kwargs):
    schedule = getattr(O, name)(*args, **kwargs)
    eager = [float(schedule(t)) for t in STEPS]
    np.testing.assert_allclose(ft.jit(ft.vmap(schedule))(STEPS.astype(np.int32)), eager,
                               rtol=1e-12, atol=1e-15)


def test_schedule_closed_forms():
    s = O.warmup_constant_schedule(0.0, 0.2, 4)
    assert [float(s(t)) for t in (0, 2, 4, 100)] == pytest.approx([0.0, 0.1, 0.2, 0.2])
    s = O.warmup_exponential_decay_schedule(0.0, 1.0, 2, 3, 0.5)
    assert [float(s(t)) for t in (1, 2, 5, 8)] == pytest.approx([0.5, 1.0, 0.5, 0.25])
    s = O.piecewise_interpolate_schedule("linear", 1.0, {10: 3.0, 20: 0.5})
    assert [float(s(t)) for t in (0, 5, 10, 15, 20, 99)] == pytest.approx(
        [1.0, 2.0, 3.0, 2.25, 1.5, 1.5])
    s = O.piecewise_interpolate_schedule("cosine", 1.0, {10: 3.0})
    assert float(s(5)) == pytest.approx(2.0) and float(s(2)) == pytest.approx(
        3.0 + (1.0 - 3.0) * (1 + math.cos(math.pi * 0.2)) / 2)
    s = O.cosine_onecycle_schedule(100, 0.5, pct_start=0.25, div_factor=10.0,
                                   final_div_factor=100.0)
    assert [float(s(t)) for t in (0, 25, 100, 200)] == pytest.approx([0.05, 0.5, 5e-4, 5e-4])
    s = O.linear_onecycle_schedule(100, 1.0, div_factor=10.0, final_div_factor=10.0)
    assert [float(s(t)) for t in (0, 15, 30, 85, 100)] == pytest.approx(
        [0.1, 0.55, 1.0, 0.1, 0.01])
    s = O.sgdr_schedule([dict(init_value=0.0, peak_value=1.0, warmup_steps=2, decay_steps=10)]
                        * 2)
    assert [float(s(t)) for t in (0, 2, 10, 12, 20)] == pytest.approx([0, 1, 0, 1, 0], abs=1e-12)


def test_schedules_refuse_bad_arguments():
    with pytest.raises(ValueError, match="'linear' or 'cosine'"):
        O.piecewise_interpolate_schedule("quadratic", 0.1, {5: 0.5})
    with pytest.raises(ValueError, match="non-negative"):
        O.piecewise_interpolate_schedule("linear", 0.1, {5: -0.5})
    for name in ("cosine_onecycle_schedule", "linear_onecycle_schedule"):
        with pytest.raises(ValueError, match="transition_steps must be positive"):
            getattr(O, name)(0, 0.1)


# ------------------------------------------------------------------ losses
L = O.losses
LOGITS = rng.standard_normal((5, 4)) * 3
PROBS = np.exp(LOGITS[::-1]) / np.exp(LOGITS[::-1]).sum(-1, keepdims=True)
INT_LABELS = np.array([0, 3, 1, 2, 3])
BINARY = (rng.random((5, 4)) > 0.5).astype(np.float64)
PRED = rng.standard_normal((5, 4)) * 2
TARGET = rng.standard_normal((5, 4)) * 2
WHERE = rng.random((5, 4)) > 0.3
WHERE[:, 0] = True

# (name, float args (differentiated), other args, kwargs)
LOSSES = [
    ("softmax_cross_entropy", (LOGITS, PROBS), (), {}),
    ("softmax_cross_entropy", (LOGITS, PROBS), (), dict(axis=0)),
    # Optax's gradient in the labels is NaN where `where` is False (ours 0): logits only
    ("softmax_cross_entropy", (LOGITS,), (PROBS,), dict(where=WHERE)),
    ("softmax_cross_entropy", (LOGITS.reshape(5, 2, 2), PROBS.reshape(5, 2, 2) / 2), (),
     dict(axis=(1, 2))),
    ("softmax_cross_entropy_with_integer_labels", (LOGITS,), (INT_LABELS,), {}),
    ("softmax_cross_entropy_with_integer_labels", (LOGITS.T,), (INT_LABELS,), dict(axis=0)),
    ("softmax_cross_entropy_with_integer_labels", (LOGITS,), (INT_LABELS,),
     dict(where=WHERE | (np.arange(4) == INT_LABELS[:, None]))),
    ("sigmoid_binary_cross_entropy", (LOGITS * 10,), (BINARY,), {}),
    ("l2_loss", (PRED, TARGET), (), {}),
    ("l2_loss", (PRED,), (), {}),
    ("squared_error", (PRED, TARGET), (), {}),
    ("huber_loss", (PRED, TARGET), (), dict(delta=0.7)),
    ("log_cosh", (PRED * 300, TARGET), (), {}),
    ("hinge_loss", (PRED,), (np.sign(TARGET),), {}),
    ("cosine_similarity", (PRED, TARGET), (), {}),
    ("cosine_similarity", (PRED, TARGET), (), dict(epsilon=0.5, axis=0)),
    ("cosine_distance", (PRED, TARGET), (), dict(where=WHERE)),
    ("kl_divergence", (np.log(PROBS), PROBS[::-1].copy()), (), {}),
    ("kl_divergence", (np.log(PROBS), PROBS[::-1].copy()), (), dict(where=WHERE)),
    ("smooth_labels", (PROBS,), (0.1,), {}),
    ("smooth_labels", (PROBS,), (0.2,), dict(where=WHERE)),
]
LOSS_IDS = [f"{c[0]}{i}" for i, c in enumerate(LOSSES)]


def _loss(mod, name, floats, others, kwargs, asarray):
    kwargs = {k: asarray(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    others = tuple(asarray(o) if isinstance(o, np.ndarray) else o for o in others)
    fn = getattr(mod, name)
    return lambda *xs: fn(*xs, *others, **kwargs)


@pytest.mark.parametrize("name, floats, others, kwargs", LOSSES, ids=LOSS_IDS)
def test_loss_matches_optax_values_and_gradients(name, floats, others, kwargs, optax64):
    import jax.numpy as jnp
    ours = _loss(L, name, floats, others, kwargs, fnp.asarray)
    theirs = _loss(optax64.losses, name, floats, others, kwargs, jnp.asarray)
    np.testing.assert_allclose(ours(*map(fnp.asarray, floats)),
                               theirs(*map(jnp.asarray, floats)), rtol=1e-10, atol=1e-13)
    assert_gradients_match_jax(ours, theirs, floats, rng, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name, floats, others, kwargs", LOSSES, ids=LOSS_IDS)
def test_loss_jit_equals_eager(name, floats, others, kwargs):
    fn = _loss(L, name, floats, others, kwargs, fnp.asarray)
    xs = tuple(map(fnp.asarray, floats))
    np.testing.assert_allclose(ft.jit(fn)(*xs), fn(*xs), rtol=1e-12, atol=1e-15)


def test_losses_closed_forms():
    logp = LOGITS - np.log(np.exp(LOGITS).sum(-1, keepdims=True))
    np.testing.assert_allclose(L.softmax_cross_entropy(fnp.asarray(LOGITS), PROBS),
                               -(PROBS * logp).sum(-1), rtol=1e-12)
    np.testing.assert_allclose(
        O.softmax_cross_entropy_with_integer_labels(fnp.asarray(LOGITS), INT_LABELS),
        -logp[np.arange(5), INT_LABELS], rtol=1e-12)
    x = np.array([-800.0, -1.0, 0.0, 2.0, 800.0])
    z = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(L.sigmoid_binary_cross_entropy(fnp.asarray(x), z),
                               [800.0, np.log1p(np.e ** -1), np.log(2), np.log1p(np.e ** -2),
                                800.0], rtol=1e-12)
    e = PRED - TARGET
    np.testing.assert_allclose(L.squared_error(fnp.asarray(PRED), TARGET), e ** 2, rtol=1e-12)
    np.testing.assert_allclose(L.l2_loss(fnp.asarray(PRED), TARGET), e ** 2 / 2, rtol=1e-12)
    np.testing.assert_allclose(
        L.huber_loss(fnp.asarray(PRED), TARGET, delta=1.5),
        np.where(np.abs(e) <= 1.5, e ** 2 / 2, 1.5 * (np.abs(e) - 0.75)), rtol=1e-12)
    np.testing.assert_allclose(L.log_cosh(fnp.asarray(PRED), TARGET), np.log(np.cosh(e)),
                               rtol=1e-10)
    assert float(L.log_cosh(fnp.asarray(1000.0))) == pytest.approx(1000.0 - np.log(2.0))
    np.testing.assert_allclose(L.hinge_loss(fnp.asarray([0.5, 2.0, -0.5]), np.array([1, 1, 1])),
                               [0.5, 0.0, 1.5])
    cos = (PRED * TARGET).sum(-1) / np.linalg.norm(PRED, axis=-1) / np.linalg.norm(TARGET,
                                                                                   axis=-1)
    np.testing.assert_allclose(L.cosine_similarity(fnp.asarray(PRED), TARGET), cos, rtol=1e-12)
    np.testing.assert_allclose(L.cosine_distance(fnp.asarray(PRED), TARGET), 1 - cos,
                               rtol=1e-12)
    q = PROBS[::-1].copy()
    q[0, 1] = 0.0          # 0 log 0 = 0
    np.testing.assert_allclose(
        L.kl_divergence(fnp.asarray(np.log(PROBS)), fnp.asarray(q)),
        np.where(q > 0, q * (np.log(np.where(q > 0, q, 1)) - np.log(PROBS)), 0).sum(-1),
        rtol=1e-12)
    np.testing.assert_allclose(L.smooth_labels(fnp.asarray(np.eye(4)), 0.2),
                               np.eye(4) * 0.8 + 0.05, rtol=1e-12)
    assert O.l2_loss is L.l2_loss and O.smooth_labels is L.smooth_labels


def test_losses_are_stable_and_refuse_bad_arguments():
    big = fnp.asarray([[1000.0, 0.0, -1000.0]])
    assert np.isfinite(L.softmax_cross_entropy(big, np.array([[0.0, 0.0, 1.0]]))).all()
    g = ft.grad(lambda x: fnp.sum(L.softmax_cross_entropy_with_integer_labels(
        x, np.array([2]))))(big)
    np.testing.assert_allclose(g, [[1.0, 0.0, -1.0]], atol=1e-12)
    with pytest.raises(ValueError, match=r"\(5, 4\).*\(4, 5\)"):
        L.squared_error(fnp.asarray(PRED), TARGET.T)
    with pytest.raises(ValueError, match=r"\(5, 4\).*\(4,\)"):
        L.l2_loss(fnp.asarray(PRED), TARGET[0])
    with pytest.raises(ValueError, match=r"labels of shape \(4,\).*logits of shape \(5, 4\)"):
        L.softmax_cross_entropy_with_integer_labels(fnp.asarray(LOGITS), INT_LABELS[:4])
    with pytest.raises(ValueError, match="labels must be integers"):
        L.softmax_cross_entropy_with_integer_labels(fnp.asarray(LOGITS), INT_LABELS * 1.0)
    with pytest.raises(TypeError, match="logits must be real floating point"):
        L.softmax_cross_entropy(fnp.asarray(INT_LABELS[:, None]), PROBS[:, :1])


# ------------------------------------------------------------------ functrans.optim.optax
OPTAX_OPTIMIZERS = [
    ("sgd", lambda m: m.sgd(0.1)),
    ("sgd_momentum", lambda m: m.sgd(learning_rate=0.1, momentum=0.9)),
    ("sgd_nesterov", lambda m: m.sgd(0.1, momentum=0.9, nesterov=True)),
    ("adam", lambda m: m.adam(learning_rate=1e-2)),
    ("adam_args", lambda m: m.adam(1e-2, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8,
                                   nesterov=True)),
    ("adamw", lambda m: m.adamw(1e-2)),
    ("adamw_masked", lambda m: m.adamw(_decay(1e-2), weight_decay=0.1,
                                       mask={"w": True, "b": False})),
    ("nadam", lambda m: m.nadam(1e-2)),
    ("nadamw", lambda m: m.nadamw(1e-2)),
    ("rmsprop", lambda m: m.rmsprop(1e-2)),
    ("rmsprop_centered", lambda m: m.rmsprop(1e-2, centered=True, momentum=0.9)),
    ("rmsprop_args", lambda m: m.rmsprop(1e-2, 0.8, 1e-6, 0.1, False, False, 0.5, True, True)),
    ("linear_schedule", lambda m: m.sgd(m.linear_schedule(0.1, 0.5, 3, 2))),
    ("adagrad", lambda m: m.adagrad(0.1)),
    ("adagrad_args", lambda m: m.adagrad(_decay(0.5), initial_accumulator_value=0.0, eps=1e-4)),
    ("adamax", lambda m: m.adamax(1e-2)),
    ("adamax_args", lambda m: m.adamax(_decay(1e-2), b1=0.8, b2=0.9, eps=1e-4)),
    ("adamaxw", lambda m: m.adamaxw(1e-2)),
    ("adamaxw_masked", lambda m: m.adamaxw(1e-2, 0.8, 0.9, 1e-6, weight_decay=0.1,
                                           mask={"w": True, "b": False})),
    ("lion", lambda m: m.lion(1e-3)),
    ("lion_masked", lambda m: m.lion(_decay(1e-2), b1=0.8, b2=0.95, weight_decay=0.5,
                                     mask=lambda p: {"w": False, "b": True})),
    ("radam", lambda m: m.radam(1e-2)),
    # b2=0.8: ro_inf = 9, ro passes the threshold 4 at step 5; nesterov's look-ahead mean
    ("radam_args", lambda m: m.radam(_decay(1e-2), 0.8, 0.8, 1e-6, 1e-8, threshold=4.0,
                                     nesterov=True)),
    ("adadelta", lambda m: m.adadelta()),
    ("adadelta_args", lambda m: m.adadelta(_decay(2.0), 0.8, 1e-4, weight_decay=0.1,
                                           weight_decay_mask={"w": True, "b": False})),
    ("rprop", lambda m: m.rprop(0.1)),
    ("rprop_args", lambda m: m.rprop(0.02, eta_minus=0.3, eta_plus=1.5, min_step_size=1e-2,
                                     max_step_size=0.04)),
]
OPTAX_IDS = [c[0] for c in OPTAX_OPTIMIZERS]


@pytest.mark.parametrize("name, make", OPTAX_OPTIMIZERS, ids=OPTAX_IDS)
def test_optax_namespace_matches_optax(name, make, optax64):
    """`from functrans.optim import optax`: Optax's arguments, defaults, updates and state
    structure (linear_schedule's values round to float32 in Optax, hence its tolerance)."""
    import jax.numpy as jnp
    ours, our_state = run(ft_optax, make, fnp.asarray)
    theirs, their_state = run(optax64, make, jnp.asarray)
    assert np.isfinite(ours).all()
    tol = 1e-7 if name == "linear_schedule" else 1e-10
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=1e-14)
    assert _state_names(our_state) == _state_names(their_state)
    for a, b in zip(tree_leaves(our_state), tree_leaves(their_state), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=1e-14)


@pytest.mark.parametrize("name, make", OPTAX_OPTIMIZERS, ids=OPTAX_IDS)
def test_optax_namespace_jit_equals_eager(name, make):
    eager, s1 = run(ft_optax, make, fnp.asarray)
    jitted, s2 = run(ft_optax, make, fnp.asarray, jit=True)
    np.testing.assert_allclose(jitted, eager, rtol=1e-12, atol=1e-15)


def test_optax_namespace_closed_forms_and_pytorch_differences():
    """Optax's defaults where ft.optim keeps PyTorch's: adamw decays by 1e-4, not 1e-2; sgd
    with momentum is a trace; an optimizer only ft.optim has (PyTorch's) is named."""
    params = {"w": fnp.asarray(np.ones((2, 2))), "b": fnp.asarray(np.zeros(2))}
    zero = {"w": fnp.zeros((2, 2)), "b": fnp.zeros(2)}
    opt = ft_optax.adamw(0.5)
    updates, _ = opt.update(zero, opt.init(params), params)
    np.testing.assert_allclose(updates["w"], -0.5 * 1e-4 * np.ones((2, 2)), rtol=1e-12)
    torch_style = ft.optim.adamw(0.5)
    updates, _ = torch_style.update(zero, torch_style.init(params), params)
    np.testing.assert_allclose(updates["w"], -0.5 * 1e-2 * np.ones((2, 2)), rtol=1e-12)
    opt = ft_optax.sgd(0.1, momentum=0.5)
    state = opt.init(params)
    g = {"w": fnp.ones((2, 2)), "b": fnp.ones(2)}
    first, state = opt.update(g, state, params)
    second, state = opt.update(g, state, params)
    np.testing.assert_allclose(first["b"], [-0.1, -0.1], rtol=1e-12)
    np.testing.assert_allclose(second["b"], [-0.15, -0.15], rtol=1e-12)    # t = g + 0.5 t
    assert type(state[0]).__name__ == "TraceState"
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        ft_optax.nonexistent


def test_linear_schedule_transition_begin():
    """Optax's transition_begin: the value holds at init_value for that many steps."""
    sched = ft.optim.linear_schedule(1.0, 3.0, transition_steps=4, transition_begin=2)
    got = [float(sched(i)) for i in range(8)]
    np.testing.assert_allclose(got, [1.0, 1.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.0], rtol=1e-12)


@pytest.mark.parametrize("steps", [0, -3])
def test_schedules_without_transition_steps_hold_init_value(steps):
    """Optax's linear and polynomial schedules with `transition_steps <= 0` are the constant
    `init_value` (linear_schedule gave `end_value`); the same as Optax's where installed."""
    for name, sched in (("linear_schedule", ft.optim.linear_schedule(1.0, 2.0, steps)),
                        ("polynomial_schedule",
                         ft.optim.polynomial_schedule(1.0, 2.0, 2.0, steps))):
        assert [float(sched(i)) for i in (0, 5)] == [1.0, 1.0], name
    optax = pytest.importorskip("optax")
    assert float(optax.linear_schedule(1.0, 2.0, steps)(5)) == 1.0


# losses that improve, stall (within rtol), rise and improve again
PLATEAU_VALUES = [5.0, 4.0, 4.0, 3.9999, 4.2, 4.1, 4.3, 3.0, 3.0, 3.0, 3.0, 3.0, 2.0, 2.5,
                  2.5, 2.5, 2.5, 2.5, 2.5, 2.5]


@pytest.mark.parametrize("kwargs", [dict(patience=2), dict(patience=2, cooldown=2),
                                    dict(patience=1, accumulation_size=3, factor=0.5),
                                    dict(patience=1, min_scale=0.05, atol=0.01, rtol=0.0)])
def test_contrib_reduce_on_plateau_matches_optax(optax64, kwargs):
    """optax.contrib.reduce_on_plateau's scale, state and updates, step by step, in float64
    (jitted here, eager in Optax)."""
    import jax.numpy as jnp
    params = {"w": W0, "b": B0}
    ours = ft_optax.contrib.reduce_on_plateau(**kwargs)
    theirs = optax64.contrib.reduce_on_plateau(**kwargs)
    s, t = ours.init(params), theirs.init({k: jnp.asarray(v) for k, v in params.items()})
    step = ft.jit(lambda g, s, v: ours.update(g, s, value=v))
    for i, value in enumerate(PLATEAU_VALUES):
        g = GRADS[i % len(GRADS)]
        g = {k: np.nan_to_num(v) for k, v in g.items()}
        u, s = step(g, s, value)
        v, t = theirs.update({k: jnp.asarray(x) for k, x in g.items()}, t, value=value)
        assert type(s).__name__ == type(t).__name__
        for field in t._fields:
            np.testing.assert_allclose(np.asarray(getattr(s, field)),
                                       np.asarray(getattr(t, field)), rtol=1e-12,
                                       err_msg=f"step {i}: {field}")
        for k in u:
            np.testing.assert_allclose(np.asarray(u[k]), np.asarray(v[k]), rtol=1e-12)
    assert float(s.scale) < 1.0            # the sequence did reduce it


def test_contrib_reduce_on_plateau_state_dtypes_and_errors():
    """The scale takes the parameters' lowest float dtype, the values their highest; bad
    arguments name themselves; a missing value says what to pass."""
    tx = ft_optax.contrib.reduce_on_plateau()
    state = tx.init({"a": fnp.zeros(2, dtype=fnp.float16), "b": fnp.zeros(2)})
    assert state.scale.dtype == np.float16 and state.best_value.dtype == np.float32
    for bad, match in [(dict(factor=1.0), "factor"), (dict(rtol=-1.0), "non-negative"),
                       (dict(rtol=0.0, atol=0.0), "positive"), (dict(rtol=2.0), "rtol")]:
        with pytest.raises(ValueError, match=match):
            ft_optax.contrib.reduce_on_plateau(**bad)
    with pytest.raises(ValueError, match="value=loss"):
        tx.update({"a": fnp.zeros(2, dtype=fnp.float16), "b": fnp.zeros(2)}, state)


def test_scheduled_weight_decay_state_has_optaxs_class(optax64):
    """adamw with a scheduled weight decay: Optax's state classes, `WeightDecaySchedule`
    among them (a fixed decay's state is an EmptyState, `AddDecayedWeightsState`)."""
    import jax.numpy as jnp
    sched = ft.optim.linear_schedule(1e-2, 0.0, 10)
    ours = ft_optax.adamw(1e-3, weight_decay=sched).init({"w": W0})
    theirs = optax64.adamw(1e-3, weight_decay=optax64.linear_schedule(1e-2, 0.0, 10)).init(
        {"w": jnp.asarray(W0)})
    assert [type(s).__name__ for s in ours] == [type(s).__name__ for s in theirs]
    assert ft_optax.AddDecayedWeightsState is ft_optax.EmptyState
    assert type(ft_optax.add_decayed_weights(1e-2).init({"w": W0})) is ft_optax.EmptyState


def test_losses_refuse_complex_and_integer_predictions_as_optax():
    # Optax raises TypeError for both; huber_loss took complex values (abs of the error)
    L = ft.optim.losses
    for bad in (np.array([1.0 + 1.0j, 2.0]), np.array([1, 2])):
        for loss in (L.huber_loss, L.squared_error, L.l2_loss, L.log_cosh):
            with pytest.raises(TypeError, match="predictions must be real floating point"):
                loss(bad, np.zeros(2))


def test_optax_submodules_import_as_optax_s():
    """`import optax.tree_utils as otu` and the like, spelled for functrans's optax (they
    were attributes only)."""
    import importlib
    for name in ("tree_utils", "tree", "transforms", "losses", "schedules", "contrib"):
        module = importlib.import_module(f"functrans.optim.optax.{name}")
        assert module is getattr(ft_optax, name)
    from functrans.optim.optax.tree_utils import tree_add
    from functrans.optim.optax.losses import l2_loss
    got = tree_add({"a": fnp.ones(2)}, {"a": fnp.ones(2)})["a"]
    np.testing.assert_array_equal(got, [2.0, 2.0])
    assert float(l2_loss(fnp.asarray(2.0))) == 2.0
