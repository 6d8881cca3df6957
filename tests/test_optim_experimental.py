"""functrans.optim.experimental (Optax's optax.experimental): `aggregating` against Optax
0.2.8 in float64 over several steps (updates, parameters, states and the unbiased mean and
variance EMAs; JAX x64 on for the test only), its names against Optax's, jit, models with
buffers and errors."""
import importlib

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.optim import optax as fo
from functrans.optim.experimental import aggregating as ag
from functrans.tree_util import keystr, tree_flatten_with_path, tree_leaves, tree_map

RTOL, ATOL = 1e-12, 1e-14
rng = np.random.default_rng(0)
PARAMS = {"w": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
PER_EXAMPLE = [{k: rng.standard_normal((4, *np.shape(p))) for k, p in PARAMS.items()}
               for _ in range(7)]


def _run(make, lib_opt, lib_ag, asarray, grads, jit=None, read=None):
    """The updates, params and states after each step of `make(opt, ag)` over `grads`, and
    `read(ag, state)` after each step."""
    tx = make(lib_opt, lib_ag)
    params = {k: asarray(v) for k, v in PARAMS.items()}
    state = tx.init(params)
    step = tx.update if jit is None else jit(tx.update)
    out = []
    for g in grads:
        updates, state = step({k: asarray(v) for k, v in g.items()}, state, params)
        params = lib_opt.apply_updates(params, updates)
        out.append((updates, params, state, None if read is None else read(lib_ag, state)))
    return out


def _compare(make, optax, grads=PER_EXAMPLE, read=None, variance_rtol=RTOL):
    """Our run against Optax's (its steps jitted: op by op they take seconds). Optax divides
    by the int32 counts of the accumulating variance in float32 (JAX's int32 / int32), so
    with accumulation its variances differ from the float64 ones here by ~1e-8:
    `variance_rtol` for the leaves named variance."""
    import jax
    import jax.numpy as jnp
    from optax.experimental import aggregating as theirs
    ours = _run(make, fo, ag, fnp.asarray, grads, read=read)
    want = _run(make, optax, theirs, jnp.asarray, grads, jit=jax.jit, read=read)
    for step, (a, b) in enumerate(zip(ours, want)):
        la, lb = tree_flatten_with_path(a)[0], jax.tree.leaves(b)
        assert len(la) == len(lb), f"step {step}: {len(la)} leaves, Optax has {len(lb)}"
        for (path, x), y in zip(la, lb):
            assert np.shape(x) == np.shape(y)
            rtol = variance_rtol if "variance" in keystr(path) else RTOL
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=ATOL,
                                       err_msg=f"step {step} {keystr(path)}")
    return ours


def test_names_are_optaxs():
    module = importlib.import_module("functrans.optim.experimental.aggregating")
    assert module is ag and fo.experimental.aggregating is ag
    optax = pytest.importorskip("optax")
    import optax.experimental
    assert set(optax.experimental.__all__) <= set(dir(ft.optim.experimental))
    theirs = optax.experimental.aggregating
    public = {n for n, v in vars(theirs).items() if not n.startswith("_")
              and getattr(v, "__module__", None) == theirs.__name__}
    assert public and public <= set(ag.__all__), public - set(ag.__all__)
    for name in ("PerElementUpdates", "AggregatedUpdates", "MaybeAxis"):
        assert hasattr(ag, name)


def test_process_average_then_adamw_matches_optax(optax64_f64):
    def make(opt, agg):
        return agg.process(opt.identity(), agg.average_per_element_updates(0),
                           opt.adamw(0.1, weight_decay=0.01))
    _compare(make, optax64_f64)


@pytest.mark.parametrize("axis, steps", [(0, 3), (None, 2), (0, 1)])
def test_average_incrementally_updates_matches_optax(optax64_f64, axis, steps):
    grads = PER_EXAMPLE if axis is not None else [tree_map(lambda x: x[0], g)
                                                  for g in PER_EXAMPLE]

    def make(opt, agg):
        return agg.process(opt.identity(), agg.average_incrementally_updates(axis, steps),
                           opt.adam(0.1))
    out = _compare(make, optax64_f64, grads)
    if steps > 1:          # zero updates until each round's last microbatch
        for i, (updates, _, _, _) in enumerate(out):
            moved = any(np.any(np.asarray(u) != 0) for u in tree_leaves(updates))
            assert moved == ((i + 1) % steps == 0)


# before a round's first step the unbiased EMAs are 0 / 0: NaN, as in Optax
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide")
@pytest.mark.parametrize("steps", [1, 3])
def test_add_mean_variance_to_opt_matches_optax(optax64_f64, steps):
    def make(opt, agg):
        return agg.add_mean_variance_to_opt(opt.adam(0.05), ema_decay=0.8, per_elt_axis=0,
                                            accumulation_steps=steps)

    def read(agg, state):
        mean, variance = agg.get_unbiased_mean_and_variance_ema(state)
        return {"mean": mean, "variance": variance}
    out = _compare(make, optax64_f64, read=read, variance_rtol=RTOL if steps == 1 else 1e-7)
    # the pooled variance over a round is the sample variance of all its examples
    if steps == 3:
        mean, var = out[2][3]["mean"], out[2][3]["variance"]
        stack = np.concatenate([g["w"] for g in PER_EXAMPLE[:3]])
        np.testing.assert_allclose(np.asarray(mean["w"]), stack.mean(0), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(var["w"]), stack.var(0, ddof=1), rtol=1e-12)


def test_several_per_example_axes_match_optax(optax64_f64):
    grads = [tree_map(lambda x: np.stack([x, 2 * x[::-1]], axis=1), g) for g in PER_EXAMPLE]

    def make(opt, agg):
        return agg.process(opt.identity(),
                           agg.get_per_element_mean_and_sum_sq_diff_grads([0, 1], 2),
                           opt.chain(agg.track_per_element_mean_and_variance_with_ema(0.5),
                                     opt.sgd(0.1)), aggregator_has_aux=True)
    _compare(make, optax64_f64, grads[:4], variance_rtol=1e-7)
    assert ag.get_batch_size_from_per_elt_updates(grads[0], [0, 1]) == 8


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide")
def test_jit_matches_eager():
    opt = ag.add_mean_variance_to_opt(fo.adam(0.05), accumulation_steps=2)
    eager = _run(lambda o, a: opt, fo, ag, fnp.asarray, PER_EXAMPLE[:4],
                 read=lambda a, s: a.get_unbiased_mean_and_variance_ema(s))
    jitted = _run(lambda o, a: opt, fo, ag, fnp.asarray, PER_EXAMPLE[:4], jit=ft.jit,
                  read=lambda a, s: a.get_unbiased_mean_and_variance_ema(s))
    for a, b in zip(tree_leaves(eager), tree_leaves(jitted)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
    assert isinstance(opt, ag.Aggregator)
    plain = ag.process(fo.identity(), fo.identity(), fo.sgd(0.1))
    assert not isinstance(plain, ag.Aggregator)


class _Net(ft.nn.Module):
    def __init__(self):
        self.fc = ft.nn.Linear(3, 2, key=ft.random.key(0))
        self.register_buffer("seen", fnp.zeros((), np.int32))

    def __call__(self, x):
        return self.fc(x)


def test_models_with_buffers_get_no_buffer_updates():
    net = _Net()
    xs = fnp.asarray(rng.standard_normal((4, 3)), np.float32)
    per_example = ft.vmap(ft.grad(lambda m, x: fnp.sum(m(x) ** 2)), (None, 0))(net, xs)
    for opt in (ag.add_mean_variance_to_opt(fo.adam(0.1), accumulation_steps=2),
                ag.process(fo.identity(), ag.average_incrementally_updates(0, 2),
                           fo.sgd(0.1))):
        state = opt.init(net)
        model = net
        for step in range(2):
            updates, state = opt.update(per_example, state, model)
            model = fo.apply_updates(model, updates)
            assert updates.seen is None and int(model.seen) == 0
            moved = not np.allclose(np.asarray(model.fc.weight), np.asarray(net.fc.weight))
            assert moved == (step == 1)


def test_errors():
    with pytest.raises(ValueError, match="accumulation_steps must be an integer >= 1"):
        ag.accumulate_avg_updates(0)
    with pytest.raises(ValueError, match="accumulation_steps"):
        ag.get_per_element_mean_and_sum_sq_diff_grads(0, 0)
    assert ag.accumulate_avg_updates(1).update(PARAMS, None)[0] is PARAMS
    with pytest.raises(ValueError, match="same batch size"):
        ag.get_batch_size_from_per_elt_updates({"a": np.zeros((2, 3)), "b": np.zeros((3,))}, 0)
    with pytest.raises(ValueError, match="no PerElementMeanAndVarianceEMAState"):
        ag.get_unbiased_mean_and_variance_ema(fo.adam(0.1).init(PARAMS))
