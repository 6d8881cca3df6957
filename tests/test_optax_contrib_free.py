"""functrans.optim.optax.contrib's learning-rate-free and wrapper optimizers
(functrans/optim/contrib_free.py): cocob, dog, dowg, dadapt_adamw, prodigy, momo, momo_adam,
mechanize, schedule_free (+ _sgd, _adamw, _eval_params), differentially_private_aggregate and
dpsgd. Against Optax 0.2.8 in float64 over six steps, under jit, with buffers among the
params, in float32, on the stand-in GPU and on bad arguments."""
import warnings

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.optim import optax as fo
from functrans.tree_util import tree_leaves

from test_optim_optax_api import GRADS, W0, B0, _finite, _state_names

RTOL, ATOL = 1e-10, 1e-14
LOSSES = [4.0, 3.1, 2.5, 2.6, 1.2, 0.9]          # the `value=` of each step (momo)


def _decay(lr):
    return lambda count: lr / (1.0 + count.astype(np.float64))


def run(lib, make, asarray, jit=False, params=None, value=False):
    """The updates of each step, the final state and params of `make(lib)` over GRADS, the
    params moving by the updates; `value` passes the step's loss."""
    tx = make(lib)
    params = {"w": asarray(W0), "b": asarray(B0)} if params is None else params
    state = tx.init(params)
    step = ft.jit(tx.update) if jit else tx.update
    out = []
    for g, loss in zip(GRADS, LOSSES):
        g = {k: asarray(v).astype(np.asarray(params[k]).dtype)
             for k, v in _finite(g, False).items()}
        extra = {"value": asarray(np.float64(loss))} if value else {}
        updates, state = step(g, state, params, **extra)
        params = lib.apply_updates(params, updates)
        out.append(np.concatenate([np.asarray(updates["w"]).ravel(),
                                   np.asarray(updates["b"])]))
    return np.array(out), state, params


CASES = [
    ("scale_by_cocob", lambda m: m.contrib.scale_by_cocob()),
    ("cocob", lambda m: m.contrib.cocob()),
    ("cocob_args", lambda m: m.contrib.cocob(0.5, 50.0, 1e-6, 0.01,
                                             mask={"w": True, "b": False})),
    ("dog", lambda m: m.contrib.dog()),
    ("dog_distance", lambda m: m.contrib.dog(0.5, ("distance", 1e-3), 1e-6)),
    ("dog_learning_rate", lambda m: m.contrib.dog(_decay(1.0), ("learning_rate", 0.01),
                                                  weight_decay=1e-3)),
    ("dowg", lambda m: m.contrib.dowg()),
    ("dowg_args", lambda m: m.contrib.dowg(0.5, 1e-3, 1e-6, 1e-2,
                                           mask={"w": False, "b": True})),
    ("dadapt_adamw", lambda m: m.contrib.dadapt_adamw()),
    ("dadapt_adamw_args", lambda m: m.contrib.dadapt_adamw(_decay(1.0), (0.8, 0.99), 1e-6,
                                                           1e-4, 0.01)),
    ("prodigy", lambda m: m.contrib.prodigy()),
    ("prodigy_args", lambda m: m.contrib.prodigy(_decay(1.0), (0.8, 0.99), 0.95, 1e-6, 1e-4,
                                                 2.0, 0.01)),
    ("prodigy_safeguard", lambda m: m.contrib.prodigy(safeguard_warmup=True)),
    ("mechanize_adam", lambda m: m.contrib.mechanize(m.adam(1.0))),
    ("mechanize_args", lambda m: m.contrib.mechanize(m.sgd(0.1, 0.9), 1e-3, 1e-6, 1e-5, 3)),
    ("schedule_free_sgd", lambda m: m.contrib.schedule_free_sgd()),
    ("schedule_free_sgd_args", lambda m: m.contrib.schedule_free_sgd(0.5, 3, 0.8, 0.01, 1.5)),
    ("schedule_free_adamw", lambda m: m.contrib.schedule_free_adamw(0.1)),
    ("schedule_free_adamw_args", lambda m: m.contrib.schedule_free_adamw(
        0.1, 2, 0.8, 0.99, 1e-6, 0.01, 1.0)),
    ("schedule_free_schedule", lambda m: m.contrib.schedule_free(m.adam(_decay(0.1)),
                                                                 _decay(0.1), 0.7)),
]
VALUE_CASES = [
    ("momo", lambda m: m.contrib.momo()),
    ("momo_args", lambda m: m.contrib.momo(0.5, 0.8, 0.5, 0.01)),
    ("momo_adapt", lambda m: m.contrib.momo(_decay(1.0), 0.8, -1.0, 0.01, True)),
    ("momo_adam", lambda m: m.contrib.momo_adam()),
    ("momo_adam_args", lambda m: m.contrib.momo_adam(0.5, 0.8, 0.9, 1e-6, 0.5, 0.01)),
    ("momo_adam_adapt", lambda m: m.contrib.momo_adam(_decay(1.0), 0.8, 0.9, 1e-6, -1.0, 0.01,
                                                      True)),
    ("mechanize_momo", lambda m: m.contrib.mechanize(m.contrib.momo(0.5))),
    ("schedule_free_momo", lambda m: m.contrib.schedule_free(m.contrib.momo(0.5), 0.5)),
]
ALL = [(n, f, False) for n, f in CASES] + [(n, f, True) for n, f in VALUE_CASES]
IDS = [c[0] for c in ALL]


# Optax's warm-up schedule computes in float32 (0.5 * 1/3 -> 0.16666669); ours rounds the
# float64 value to float32 (0.16666667)
RTOLS = {"schedule_free_sgd_args": 2e-6}


def _compare_states(ours, theirs, rtol=RTOL):
    assert _state_names(ours) == _state_names(theirs)
    a, b = tree_leaves(ours), tree_leaves(theirs)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=ATOL)


@pytest.mark.parametrize("name, make, value", ALL, ids=IDS)
def test_matches_optax(name, make, value, optax64):
    import jax.numpy as jnp
    rtol = RTOLS.get(name, RTOL)
    ours, our_state, our_params = run(fo, make, fnp.asarray, value=value)
    theirs, their_state, their_params = run(optax64, make, jnp.asarray, value=value)
    assert np.isfinite(ours).all() and np.abs(ours).max() > 0
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=ATOL)
    _compare_states(our_state, their_state, rtol)
    for k in our_params:
        np.testing.assert_allclose(our_params[k], their_params[k], rtol=rtol, atol=ATOL)


@pytest.mark.parametrize("name, make, value", ALL, ids=IDS)
def test_jit_equals_eager(name, make, value):
    eager, s1, _ = run(fo, make, fnp.asarray, value=value)
    jitted, s2, _ = run(fo, make, fnp.asarray, jit=True, value=value)
    np.testing.assert_allclose(jitted, eager, rtol=1e-12, atol=1e-15)
    for x, y in zip(tree_leaves(s1), tree_leaves(s2), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-12, atol=1e-15)


def test_state_fields_are_optax(optax64):
    names = ["COCOBState", "DoGState", "DoWGState", "DAdaptAdamWState", "ProdigyState",
             "MomoState", "MomoAdamState", "MechanicState", "ScheduleFreeState",
             "DifferentiallyPrivateAggregateState"]
    for name in names:
        assert getattr(fo.contrib, name)._fields == getattr(optax64.contrib, name)._fields
    ours = set(fo.contrib.contrib_free.__all__)
    assert ours <= set(dir(optax64.contrib))
    assert {"cocob", "dog", "dowg", "prodigy", "momo", "mechanize", "dpsgd"} <= ours


def test_mechanize_starts_from_the_first_update(optax64):
    """Mechanic counts from the params of its first update, not from those given to init
    (pre-trained weights loaded in between)."""
    import jax.numpy as jnp

    def steps(lib, asarray):
        tx = lib.contrib.mechanize(lib.adam(1.0))
        state = tx.init({"w": asarray(np.zeros_like(W0)), "b": asarray(np.zeros_like(B0))})
        params = {"w": asarray(W0), "b": asarray(B0)}
        for g in GRADS[:4]:
            updates, state = tx.update({k: asarray(v) for k, v in _finite(g, False).items()},
                                       state, params)
            params = lib.apply_updates(params, updates)
        return params, state.x0
    ours, theirs = steps(fo, fnp.asarray), steps(optax64, jnp.asarray)
    for k in ("w", "b"):
        np.testing.assert_allclose(ours[0][k], theirs[0][k], rtol=RTOL, atol=ATOL)
        np.testing.assert_array_equal(ours[1][k], {"w": W0, "b": B0}[k])


@pytest.mark.parametrize("name, make", [c for c in CASES if "schedule_free" in c[0]],
                         ids=[c[0] for c in CASES if "schedule_free" in c[0]])
def test_schedule_free_eval_params_match_optax(name, make, optax64):
    import jax.numpy as jnp
    _, our_state, our_params = run(fo, make, fnp.asarray)
    _, their_state, their_params = run(optax64, make, jnp.asarray)
    ours = fo.contrib.schedule_free_eval_params(our_state, our_params)
    theirs = optax64.contrib.schedule_free_eval_params(their_state, their_params)
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=RTOLS.get(name, RTOL), atol=ATOL)
        assert not np.allclose(ours[k], our_params[k])


def test_schedule_free_state_dtype(optax64):
    import jax.numpy as jnp

    def make(m):
        return m.contrib.schedule_free_sgd(0.1, state_dtype=np.float32)
    ours, our_state, _ = run(fo, make, fnp.asarray)
    theirs, their_state, _ = run(optax64, make, jnp.asarray)
    assert {np.asarray(z).dtype for z in tree_leaves(our_state.z)} == {np.dtype(np.float32)}
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ differential privacy
BATCH = 5
PER_EXAMPLE = [{"w": np.random.default_rng(i).standard_normal((BATCH, 3, 4)) * (i + 1),
                "b": np.random.default_rng(10 + i).standard_normal((BATCH, 4))}
               for i in range(6)]

DP_CASES = [
    ("aggregate_no_noise", lambda m: m.contrib.differentially_private_aggregate(1.0, 0.0, 3)),
    ("aggregate_noise", lambda m: m.contrib.differentially_private_aggregate(2.0, 0.7, 4)),
    ("dpsgd", lambda m: m.contrib.dpsgd(0.1, 1.5, 0.5, 7)),
    ("dpsgd_momentum", lambda m: m.contrib.dpsgd(_decay(0.1), 1.5, 0.0, 7, 0.9, True)),
]


def _run_dp(lib, make, asarray, jit=False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)     # Optax's dpsgd passes seed=
        tx = make(lib)
    params = {"w": asarray(W0), "b": asarray(B0)}
    state = tx.init(params)
    step = ft.jit(tx.update) if jit else tx.update
    out = []
    for g in PER_EXAMPLE:
        updates, state = step({k: asarray(v) for k, v in g.items()}, state, params)
        params = lib.apply_updates(params, updates)
        out.append(np.concatenate([np.asarray(updates["w"]).ravel(),
                                   np.asarray(updates["b"])]))
    return np.array(out), state


def _key_data(state):
    import jax
    s = state[0] if isinstance(state, tuple) and not hasattr(state, "_fields") else state
    k = s.rng_key
    return np.asarray(jax.random.key_data(k) if isinstance(k, jax.Array) else k)


@pytest.mark.parametrize("name, make", DP_CASES, ids=[c[0] for c in DP_CASES])
def test_dp_matches_optax(name, make, optax64):
    """The clipping, the noise (functrans.random draws JAX's bits) and the key chain."""
    import jax.numpy as jnp
    ours, our_state = _run_dp(fo, make, fnp.asarray)
    theirs, their_state = _run_dp(optax64, make, jnp.asarray)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(_key_data(our_state), _key_data(their_state))
    jitted, _ = _run_dp(fo, make, fnp.asarray, jit=True)
    np.testing.assert_allclose(jitted, ours, rtol=1e-12, atol=1e-15)


def test_dp_clipping_closed_form():
    """Without noise: each example scaled to norm at most the clip, summed, over the
    batch."""
    g = PER_EXAMPLE[2]
    norms = np.sqrt((g["w"] ** 2).sum((1, 2)) + (g["b"] ** 2).sum(1))
    clip = float(np.median(norms))
    factor = np.minimum(1.0, clip / norms)
    tx = fo.contrib.differentially_private_aggregate(clip, 0.0, key=0)
    u, _ = tx.update({k: fnp.asarray(v) for k, v in g.items()}, tx.init(None))
    for k in g:
        want = np.tensordot(factor, g[k], axes=1) / BATCH
        np.testing.assert_allclose(u[k], want, rtol=1e-13)


def test_dp_noise_scale():
    """Zero gradients: the output is Gaussian noise of deviation clip * multiplier / batch,
    fresh at every step."""
    clip, mult, batch = 1.5, 2.0, 4
    tx = fo.contrib.differentially_private_aggregate(clip, mult, key=11)
    grads = {"a": fnp.zeros((batch, 40000)), "b": fnp.zeros((batch, 200, 200))}
    state = tx.init(None)
    first, state = tx.update(grads, state)
    second, _ = tx.update(grads, state)
    for u in (first, second):
        for x in tree_leaves(u):
            x = np.asarray(x) * batch
            assert abs(x.mean()) < 0.05
            assert abs(x.std() / (clip * mult) - 1) < 0.02
    assert not np.allclose(first["a"], second["a"])
    assert not np.allclose(first["a"], first["b"].ravel())


def test_dp_key_arguments():
    with pytest.warns(DeprecationWarning, match="aggregate: \"seed\"") as caught:
        a = fo.contrib.differentially_private_aggregate(1.0, 1.0, seed=3)
    assert caught[0].filename == __file__           # the warnings point at the caller
    b = fo.contrib.differentially_private_aggregate(1.0, 1.0, key=ft.random.key(3))
    np.testing.assert_array_equal(a.init(None).rng_key, b.init(None).rng_key)
    with pytest.warns(UserWarning, match="aggregate: no key") as caught:
        fo.contrib.differentially_private_aggregate(1.0, 1.0)
    assert caught[0].filename == __file__
    with pytest.raises(ValueError, match="only one of seed and key"), \
            pytest.warns(DeprecationWarning):
        fo.contrib.differentially_private_aggregate(1.0, 1.0, 2, seed=3)
    with pytest.raises(TypeError, match=r"key must be an int seed .* float32\[3\]"):
        fo.contrib.differentially_private_aggregate(1.0, 1.0, np.zeros(3, np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fo.contrib.dpsgd(0.1, 1.0, 1.0, 5)                  # dpsgd's seed is its own
    tx = fo.contrib.differentially_private_aggregate(1.0, 1.0, key=0)
    with pytest.raises(ValueError, match="batch dimension"):
        tx.update({"w": fnp.ones((3, 2)), "b": fnp.ones((4,))}, tx.init(None))


# ------------------------------------------------------------------ dtypes, buffers, devices
@pytest.mark.parametrize("name, make, value", ALL, ids=IDS)
def test_float32_params_keep_float32(name, make, value):
    params = {"w": fnp.asarray(W0, dtype=np.float32), "b": fnp.asarray(B0, dtype=np.float32)}
    ours, state, params = run(fo, make, fnp.asarray, jit=True, params=params, value=value)
    assert ours.dtype == np.float32 and np.isfinite(ours).all()
    floats = {np.asarray(x).dtype for x in tree_leaves((state, params))
              if np.asarray(x).dtype.kind == "f"}
    assert floats == {np.dtype(np.float32)}
    want, _, _ = run(fo, make, fnp.asarray, value=value)
    np.testing.assert_allclose(ours, want, rtol=2e-3, atol=1e-5)


BUFFER_CASES = [c for c in ALL if c[0] in (
    "cocob", "dog", "dowg", "dadapt_adamw", "prodigy", "momo_adapt", "momo_adam",
    "mechanize_adam", "schedule_free_adamw", "schedule_free_sgd_args")]


@pytest.mark.parametrize("name, make, value", BUFFER_CASES, ids=[c[0] for c in BUFFER_CASES])
def test_buffers_get_no_update_and_no_state(name, make, value):
    """A Buffer among the params (BatchNorm's statistics) is left alone, gets None in the
    states, and the arrays move as they do without it."""
    from functrans.buffers import Buffer
    with_buf = {"w": fnp.asarray(W0), "b": fnp.asarray(B0), "stats": Buffer(fnp.ones(4))}
    tx = make(fo)
    state = tx.init(with_buf)
    step = ft.jit(tx.update)
    for g, loss in zip(GRADS, LOSSES):
        g = {k: fnp.asarray(v) for k, v in _finite(g, False).items()}
        g["stats"] = Buffer(None)
        updates, state = step(g, state, with_buf, **({"value": loss} if value else {}))
        assert updates["stats"] is None
        with_buf = fo.apply_updates(with_buf, updates)
    np.testing.assert_array_equal(with_buf["stats"].value, np.ones(4))
    _, plain_state, plain = run(fo, make, fnp.asarray, value=value)
    for k in ("w", "b"):
        np.testing.assert_allclose(with_buf[k], plain[k], rtol=1e-12)
    assert len(tree_leaves(state)) == len(tree_leaves(plain_state))
    if "schedule_free" in name:
        evaluated = fo.contrib.schedule_free_eval_params(state, with_buf)
        assert evaluated["stats"] is with_buf["stats"]


DEVICE_CASES = [c for c in ALL if c[0] in ("cocob", "dog", "prodigy", "momo", "mechanize_adam",
                                           "schedule_free_adamw")]


@pytest.mark.parametrize("name, make, value", DEVICE_CASES, ids=[c[0] for c in DEVICE_CASES])
def test_params_on_a_device(name, make, value, fake_gpus):
    """Params on the stand-in GPU (the default device the CPU): updates and states stay with
    them, and the steps equal those on the CPU."""
    gpu = fake_gpus[0]
    params = ft.device_put({"w": fnp.asarray(W0), "b": fnp.asarray(B0)}, gpu)
    ours, state, params = run(fo, make, lambda x: ft.device_put(fnp.asarray(x), gpu),
                              params=params, value=value)
    assert {x.device for x in tree_leaves((params, state))} == {gpu}
    want, _, _ = run(fo, make, fnp.asarray, value=value)
    np.testing.assert_allclose(ours, want, rtol=1e-12)


# ------------------------------------------------------------------ bad arguments
@pytest.mark.parametrize("name", ["cocob", "dog", "dowg", "dadapt_adamw", "prodigy",
                                  "mechanize", "schedule_free_sgd"])
def test_params_are_required(name):
    tx = fo.contrib.mechanize(fo.sgd(0.1)) if name == "mechanize" else \
        getattr(fo.contrib, name)()
    params = {"x": fnp.ones(2)}
    with pytest.raises(ValueError, match="needs the parameters"):
        tx.update(params, tx.init(params))


@pytest.mark.parametrize("name", ["momo", "momo_adam"])
def test_momo_needs_params_and_value(name):
    tx = getattr(fo.contrib, name)()
    params = {"x": fnp.ones(2)}
    state = tx.init(params)
    with pytest.raises(TypeError, match="value"):
        tx.update(params, state, params)
    with pytest.raises(ValueError, match="needs the latest loss"):
        tx.update(params, state, params, value=None)
    with pytest.raises(ValueError, match="needs the parameters"):
        tx.update(params, state, None, value=1.0)


def test_dog_bad_init_step():
    for bad in (("guess", 1.0), "heuristic", ("distance",)):
        with pytest.raises(ValueError, match="init_step must be a pair"):
            fo.contrib.dog(init_step=bad)


def test_schedule_free_eval_params_needs_its_state():
    params = {"x": fnp.ones(2)}
    state = fo.chain(fo.contrib.schedule_free_sgd()).init(params)
    with pytest.raises(ValueError, match="needs the ScheduleFreeState .* got tuple"):
        fo.contrib.schedule_free_eval_params(state, params)


def test_shape_mismatch_is_named():
    tx = fo.contrib.prodigy()
    params = {"x": fnp.ones(2)}
    with pytest.raises(ValueError, match=r"at \['x'\] the gradient has shape \(3,\)"):
        tx.update({"x": fnp.ones(3)}, tx.init(params), params)
