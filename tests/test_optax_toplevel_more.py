"""functrans.optim.optax's last top-level Optax names: inject_stateful_hyperparams (with
StatefulSchedules fed the update's extra arguments) and WrappedSchedule, the names Optax's
`schedules` holds, matrix_inverse_pth_root, nnls, multi_normal and
tree.unwrap_random_key_data; against Optax 0.2.8 in float64 (JAX x64 on for the test only),
NumPy/SciPy, under jit."""
from typing import NamedTuple

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.optim import optax as fo
from functrans.test_util import check_grads
from functrans.tree_util import tree_leaves


def test_every_public_optax_name_is_here():
    optax = pytest.importorskip("optax")
    contrib_and_friends = {"contrib", "microbatching", "microbatch", "assignment",
                           "experimental"}          # tested in their own files
    missing = [n for n in dir(optax) if not n.startswith("_") and not hasattr(fo, n)
               and n not in contrib_and_friends]
    assert missing == []
    for sub in ("tree_utils", "tree", "transforms", "losses", "schedules"):
        theirs, ours = getattr(optax, sub), getattr(fo, sub)
        missing = [n for n in dir(theirs) if not n.startswith("_") and not hasattr(ours, n)
                   and n != "typing"]
        assert missing == [], sub


class _LossAverage(NamedTuple):
    total: object
    n: object


class _OnPlateau:
    """A StatefulSchedule: `base / (1 + mean of the losses seen)`, fed the update's `value=`."""

    def __init__(self, xp, base):
        self.xp, self.base = xp, base

    def init(self):
        return _LossAverage(self.xp.zeros((), np.float64), self.xp.zeros((), np.int32))

    def update(self, state, **extra_args):
        return _LossAverage(state.total + extra_args["value"], state.n + 1)

    def __call__(self, state, **extra_args):
        return self.base / (1 + state.total / self.xp.maximum(state.n, 1))


def _run(m, xp, jit):
    opt = m.inject_stateful_hyperparams(m.sgd)(
        learning_rate=_OnPlateau(xp, 0.3),
        momentum=lambda count: 0.5 / (1 + count.astype(np.float64)))
    params = {"w": xp.asarray(np.array([1.0, -2.0, 0.5])), "b": xp.asarray(np.array(0.25))}
    state = opt.init(params)
    history = []
    for i in range(4):
        grads = {"w": params["w"] * (i + 1.0), "b": params["b"] - 1.0}
        value = xp.asarray(np.float64(i * 0.5 + 1.0))
        updates, state = (jit(opt.update) if jit else opt.update)(grads, state, params,
                                                                  value=value)
        params = m.apply_updates(params, updates)
        history.append((params, dict(state.hyperparams)))
    return history, state


@pytest.mark.parametrize("jit", [False, True])
def test_inject_stateful_hyperparams_matches_optax(optax64, jit):
    import jax
    import jax.numpy as jnp
    ours, state = _run(fo, fnp, ft.jit if jit else None)
    with pytest.warns(DeprecationWarning):
        theirs, their_state = _run(optax64, jnp, jax.jit if jit else None)
    for (p, h), (tp, th) in zip(ours, theirs):
        for a, b in zip(tree_leaves((p, h)), jax.tree.leaves((tp, th))):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12)
    assert isinstance(state, fo.InjectStatefulHyperparamsState)
    assert set(state.hyperparams_states) == {"learning_rate", "momentum"}
    assert int(state.hyperparams_states["momentum"].count) == 4
    np.testing.assert_allclose(np.asarray(state.hyperparams_states["learning_rate"].total),
                               np.asarray(their_state.hyperparams_states["learning_rate"].total))


def test_wrapped_schedule_and_the_schedules_namespace():
    schedule = fo.WrappedSchedule(lambda count: 2.0 * count)
    state = schedule.init()
    assert isinstance(schedule, fo.schedules.StatefulSchedule)
    for _ in range(3):
        state = schedule.update(state, value=1.0)
    assert int(state.count) == 3 and float(schedule(state)) == 6.0
    assert not isinstance(lambda count: count, fo.schedules.StatefulSchedule)
    assert fo.schedules.inject_hyperparams is fo.inject_hyperparams
    assert fo.schedules.InjectStatefulHyperparamsState is fo.InjectStatefulHyperparamsState
    opt = fo.inject_hyperparams(fo.sgd)(learning_rate=lambda count: 0.1 / (1 + count))
    assert type(opt.init({"w": fnp.ones(2)})) is fo.InjectHyperparamsState   # unchanged
    with pytest.raises(ValueError, match=r"inject_stateful_hyperparams: static_args \['lr'\]"):
        fo.inject_stateful_hyperparams(fo.sgd, static_args="lr")


def _spd(rng, n):
    b = rng.standard_normal((n, n))
    return b @ b.T + 0.5 * np.eye(n)


def _exact_root(m, p, ridge_epsilon=1e-6):
    w, v = np.linalg.eigh(m)
    return (v * (w + ridge_epsilon * w.max()) ** (-1.0 / p)) @ v.T


@pytest.mark.parametrize("p", [1, 2, 4, 8])
def test_matrix_inverse_pth_root_matches_optax(optax64, p):
    import jax.numpy as jnp
    m = _spd(np.random.default_rng(p), 5)
    root, error = fo.matrix_inverse_pth_root(m, p)
    their_root, their_error = optax64.matrix_inverse_pth_root(jnp.asarray(m), p)
    np.testing.assert_allclose(np.asarray(root), np.asarray(their_root), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(float(error), float(their_error), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("p", [1, 2, 3, 4, 5, 8])
def test_matrix_inverse_pth_root_against_the_eigendecomposition(p):
    """Every positive integer p (Optax 0.2.8 takes the nearest power of 2 for others)."""
    m = _spd(np.random.default_rng(10 + p), 6)
    root, error = ft.jit(fo.matrix_inverse_pth_root, static_argnums=1)(fnp.asarray(m), p)
    assert root.dtype == np.float64 and float(error) < 1e-6
    np.testing.assert_allclose(np.asarray(root), _exact_root(m, p), rtol=1e-6, atol=1e-7)
    root32, _ = fo.matrix_inverse_pth_root(fnp.asarray(m, np.float32), p)
    assert root32.dtype == np.float32
    np.testing.assert_allclose(np.asarray(root32), _exact_root(m, p), rtol=1e-3, atol=1e-4)
    one, _ = fo.matrix_inverse_pth_root(np.array([[4.0]]), p)
    np.testing.assert_allclose(np.asarray(one), [[(4.0 * (1 + 1e-6)) ** (-1.0 / p)]], rtol=1e-9)
    with pytest.raises(TypeError, match="p must be a positive integer known at trace time"):
        fo.matrix_inverse_pth_root(m, 0.5)
    with pytest.raises(ValueError, match="p must be a positive integer, got 0"):
        fo.matrix_inverse_pth_root(m, 0)


def test_nnls_matches_optax_and_scipy(optax64):
    import jax.numpy as jnp
    from scipy.optimize import nnls as scipy_nnls
    rng = np.random.default_rng(20)
    a, b, bs = rng.standard_normal((8, 5)), rng.standard_normal(8), rng.standard_normal((8, 3))
    for rhs, iters in ((b, 60), (bs, 60), (b, 3000)):
        ours = fo.nnls(a, rhs, iters)
        theirs = optax64.nnls(jnp.asarray(a), jnp.asarray(rhs), iters)
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(fo.nnls(a, b, 3000)), scipy_nnls(a, b)[0], atol=1e-9)
    jitted = ft.jit(fo.nnls, static_argnums=(2,))(a, bs, 3000)
    for k in range(3):
        np.testing.assert_allclose(np.asarray(jitted[:, k]), scipy_nnls(a, bs[:, k])[0],
                                   atol=1e-9)
    assert fo.nnls(a.astype(np.float32), b.astype(np.float32), 10).dtype == np.float32
    np.testing.assert_allclose(np.asarray(fo.nnls(a, b, 60, L=100.0)),
                               np.asarray(optax64.nnls(jnp.asarray(a), jnp.asarray(b), 60,
                                                       L=100.0)), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match=r"nnls: A must be \(M, N\).*A \(8, 5\) and b \(7,\)"):
        fo.nnls(a, b[:7], 10)


def test_multi_normal_matches_optax_and_its_moments(optax64):
    import jax.numpy as jnp
    rng = np.random.default_rng(30)
    loc, log_scale = rng.standard_normal((2, 3)), 0.3 * rng.standard_normal(3)
    ours = fo.multi_normal(loc, log_scale)
    theirs = optax64.multi_normal(jnp.asarray(loc), jnp.asarray(log_scale))
    x = rng.standard_normal((4, 2, 3))
    np.testing.assert_allclose(np.asarray(ours.log_prob(x)), np.asarray(theirs.log_prob(x)),
                               rtol=1e-12)
    assert ours.log_prob(x).shape == (4,)
    np.testing.assert_array_equal(np.asarray(ours.log_scale), log_scale)
    assert [np.asarray(v).tolist() for v in ours.params] == [loc.tolist(), log_scale.tolist()]
    draws = np.asarray(ft.jit(lambda k: ours.sample((20000,), k))(ft.random.key(0)))
    assert draws.shape == (20000, 2, 3)
    scale = np.exp(log_scale)
    assert np.all(np.abs(draws.mean(0) - loc) < 5 * scale / np.sqrt(20000))
    np.testing.assert_allclose(draws.std(0), np.broadcast_to(scale, (2, 3)), rtol=0.03)
    check_grads(lambda m, s, v: fo.multi_normal(m, s).log_prob(v),
                (fnp.asarray(loc), fnp.asarray(log_scale), fnp.asarray(x)), order=2)


def test_tree_unwrap_random_key_data():
    keys = {"k": ft.random.key(3), "x": fnp.ones(2)}
    out = fo.tree.unwrap_random_key_data(keys)
    assert fo.tree_utils.tree_unwrap_random_key_data(keys) is keys and out is keys
    np.testing.assert_array_equal(np.asarray(out["k"]), np.asarray(ft.random.key_data(
        ft.random.key(3))))
