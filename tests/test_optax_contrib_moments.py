"""functrans.optim.optax.contrib's moment-based optimizers (functrans/optim/contrib_moments.py):
adopt, ademamix, simplified_ademamix, madgrad, acprop, sophia (with Hutchinson's estimator),
muon, galore and split_real_and_imaginary. Against Optax 0.2.8 in float64 over several steps,
under jit, with a model holding buffers, and on bad arguments."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.optim import optax as fo
from functrans.tree_util import tree_leaves

RTOL, ATOL = 1e-10, 1e-13
rng = np.random.default_rng(7)
PARAMS = {"w": rng.standard_normal((3, 4)), "v": rng.standard_normal((5, 3)),
          "b": rng.standard_normal(4)}
GRADS = [{k: rng.standard_normal(np.shape(p)) * 10.0 ** rng.integers(-1, 2)
          for k, p in PARAMS.items()} for _ in range(6)]
STACK = {"k": rng.standard_normal((2, 3, 4)), "b": rng.standard_normal(3)}
STACK_GRADS = [{k: rng.standard_normal(np.shape(p)) for k, p in STACK.items()}
               for _ in range(6)]


@pytest.fixture
def optax64(jax_x64):
    """Optax with JAX in float64, and functrans's default float float64 (both restored)."""
    optax = pytest.importorskip("optax")
    old = ft.config.default_float_dtype
    ft.config.update("default_float_dtype", "float64")
    yield optax
    ft.config.update("default_float_dtype", old)


def _decay(lr):
    return lambda count: lr / (1.0 + count.astype(np.float64))


def _objective(xnp):
    """A smooth, non-quadratic loss of the params (Sophia's Hessian estimates)."""
    def loss(params):
        return sum(xnp.sum(xnp.cos(p) * p ** 2 + 0.1 * p ** 4) for p in tree_leaves(params))
    return loss


def run(lib, make, asarray, params=PARAMS, grads=GRADS, jit=False, extra=None):
    """The params after each step and the final state of `make(lib)` over `grads`;
    `extra(lib)` gives keyword arguments of update."""
    tx = make(lib)
    params = {k: asarray(v) for k, v in params.items()}
    state = tx.init(params)
    kwargs = extra(lib) if extra else {}

    def step(g, s, p):
        return tx.update(g, s, p, **kwargs)
    if lib is not fo:
        import jax
        step = jax.jit(step)          # Optax's muon runs op by op for seconds otherwise
    elif jit:
        step = ft.jit(step)
    out = []
    for g in grads:
        updates, state = step({k: asarray(v) for k, v in g.items()}, state, params)
        params = lib.apply_updates(params, updates)
        out.append(np.concatenate([np.asarray(params[k]).ravel() for k in sorted(params)]))
    return np.array(out), state


_SAME_CLASS = {"PartitionState": "MultiTransformState"}    # Optax's name for the class


def _structure(state):
    """The state's NamedTuple classes and fields, dict keys and sequence lengths, in order,
    with its array leaves."""
    if hasattr(state, "_fields"):
        name = type(state).__name__
        head = [(_SAME_CLASS.get(name, name), state._fields)]
        parts = [_structure(x) for x in state]
    elif isinstance(state, dict):
        head = [sorted(state)]
        parts = [_structure(state[k]) for k in sorted(state)]
    elif isinstance(state, (tuple, list)):
        head = [len(state)]
        parts = [_structure(x) for x in state]
    else:
        return [], [] if state is None else [state]
    return head + [h for p in parts for h in p[0]], [x for p in parts for x in p[1]]


def _compare_states(ours, theirs, rtol=RTOL, atol=ATOL):
    (our_names, a), (their_names, b) = _structure(ours), _structure(theirs)
    assert our_names == their_names
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert np.shape(x) == np.shape(y)
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def _c(m):
    return m.contrib


def _dims(m, **kw):
    return m.contrib.MuonDimensionNumbers(**kw)


CASES = [
    ("adopt", lambda m: _c(m).adopt(0.1)),
    ("adopt_nesterov_schedule", lambda m: _c(m).adopt(_decay(0.1), 0.8, 0.99, 1e-4,
                                                      nesterov=True)),
    ("adopt_no_clipping", lambda m: _c(m).adopt(0.1, use_clipping=False)),
    ("scale_by_adopt_clip_fn", lambda m: _c(m).scale_by_adopt(
        clip_value_fn=lambda c: 0.5 + c.astype(np.float64))),
    ("scale_by_ademamix", lambda m: _c(m).scale_by_ademamix()),
    ("scale_by_ademamix_args", lambda m: _c(m).scale_by_ademamix(0.8, 0.9, 0.99, 2.0, 1e-6,
                                                                 1e-8)),
    ("ademamix", lambda m: _c(m).ademamix(0.1)),
    ("ademamix_schedules_decay", lambda m: _c(m).ademamix(
        _decay(0.1), b3=lambda c: 0.99 - 0.01 / (1.0 + c.astype(np.float64)),
        alpha=lambda c: 1.0 + c.astype(np.float64), weight_decay=0.1,
        mask={"w": True, "v": False, "b": True})),
    ("scale_by_simplified_ademamix", lambda m: _c(m).scale_by_simplified_ademamix()),
    ("scale_by_simplified_ademamix_args",
     lambda m: _c(m).scale_by_simplified_ademamix(0.9, 0.8, 2.0, 1e-6, 1e-8)),
    ("simplified_ademamix", lambda m: _c(m).simplified_ademamix(0.1)),
    ("simplified_ademamix_schedules", lambda m: _c(m).simplified_ademamix(
        _decay(0.1), alpha=lambda c: 0.5 * c.astype(np.float64), weight_decay=0.05)),
    ("scale_by_madgrad", lambda m: _c(m).scale_by_madgrad(0.05)),
    ("madgrad", lambda m: _c(m).madgrad(0.1)),
    ("madgrad_args", lambda m: _c(m).madgrad(_decay(0.1), 0.5, 0.01, 1e-5)),
    ("scale_by_acprop", lambda m: _c(m).scale_by_acprop()),
    ("acprop", lambda m: _c(m).acprop(0.1)),
    ("acprop_args", lambda m: _c(m).acprop(_decay(0.1), 0.8, 0.9, 1e-8, 1e-10, 0.01,
                                           {"w": True, "v": True, "b": False})),
    ("muon", lambda m: _c(m).muon(0.1)),
    ("muon_dion_decay", lambda m: _c(m).muon(0.1, "dion", weight_decay=0.1,
                                             adam_weight_decay=0.01, adam_learning_rate=0.05)),
    ("muon_plain_adaptive_spectral", lambda m: _c(m).muon(
        _decay(0.1), beta=0.9, nesterov=False, adaptive=True, preconditioning="spectral")),
    ("muon_aol", lambda m: _c(m).muon(0.1, preconditioning="aol", consistent_rms=0.2)),
    ("muon_schatten", lambda m: _c(m).muon(0.1, preconditioning="schatten", ns_steps=3)),
    ("muon_coefficient_rows", lambda m: _c(m).muon(
        0.1, ((3.0, -3.2, 1.2), (2.5, -2.0, 0.5), (2.0, -1.5, 0.5)), ns_steps=4)),
    ("muon_dimension_tree", lambda m: _c(m).muon(0.1, muon_weight_dimension_numbers={
        "w": _dims(m, reduction_axis=1, output_axis=0), "v": None, "b": None})),
    ("scale_by_muon_tree", lambda m: m.chain(_c(m).scale_by_muon(
        beta=0.8, weight_dimension_numbers={"w": _dims(m), "v": _dims(m)}), m.sgd(0.1))),
    ("scale_by_muon_function", lambda m: _c(m).scale_by_muon(
        ns_steps=4, weight_dimension_numbers=lambda u: {"w": _dims(m), "v": _dims(m)})),
]
# scale_by_muon works on matrices only: its case runs on the 2-d params
ONLY_MATRICES = {"scale_by_muon_tree", "scale_by_muon_function"}
STACK_CASES = [
    ("muon_stacked_matrices", lambda m: _c(m).muon(0.1, muon_weight_dimension_numbers={
        "k": _dims(m, reduction_axis=(1,), output_axis=(2,)), "b": None})),
    ("muon_stacked_two_axes", lambda m: _c(m).muon(0.1, muon_weight_dimension_numbers=(
        lambda p: {"k": _dims(m, reduction_axis=(0, 1), output_axis=-1), "b": None}))),
]
SOPHIA_CASES = [
    ("sophia", lambda m: _c(m).sophia(0.1)),
    ("sophia_every_2_unclipped", lambda m: _c(m).sophia(
        _decay(0.1), 0.9, 0.9, 1e-6, 0.01, {"w": True, "v": False, "b": True}, gamma=0.05,
        clip_threshold=None, update_interval=2)),
    ("sophia_seed", lambda m: _c(m).sophia(
        0.1, update_interval=3, clip_threshold=0.5,
        hessian_diagonal_fn=_c(m).hutchinson_estimator_diag_hessian(
            m is fo and ft.random.PRNGKey(5) or __import__("jax").random.PRNGKey(5)))),
]


def _params_for(name):
    if name in ONLY_MATRICES:
        return ({k: v for k, v in PARAMS.items() if k != "b"},
                [{k: v for k, v in g.items() if k != "b"} for g in GRADS])
    return PARAMS, GRADS


@pytest.mark.parametrize("name, make", CASES, ids=[c[0] for c in CASES])
def test_matches_optax(name, make, optax64):
    import jax.numpy as jnp
    params, grads = _params_for(name)
    ours, our_state = run(fo, make, fnp.asarray, params, grads)
    theirs, their_state = run(optax64, make, jnp.asarray, params, grads)
    assert np.isfinite(ours).all() and not np.allclose(ours[-1], ours[0])
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)
    _compare_states(our_state, their_state)
