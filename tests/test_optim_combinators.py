"""ft.optim's Optax-style combinators and wrappers: masked, multi_transform,
inject_hyperparams, reduce_on_plateau, add_decayed_weights, scale, scale_by_schedule,
set_to_zero, adamw(mask=); against hand-derived updates, against separately run optimizers,
and against torch.optim parameter groups and schedulers (float64, when torch is installed)."""
import math

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.tree_util import tree_leaves

O = ft.optim
rng = np.random.default_rng(1)
W0 = rng.standard_normal((4, 3))
B0 = rng.standard_normal(4)
X = rng.standard_normal((10, 3))
Y = rng.standard_normal((10, 4))
STEPS = 20


def params0():
    return {"w": fnp.asarray(W0), "b": fnp.asarray(B0)}


def loss_fn(p):
    return fnp.mean((fnp.asarray(X) @ p["w"].T + p["b"] - fnp.asarray(Y)) ** 2)


def run(opt, steps=STEPS, jit=True, with_value=False, params=None):
    """Parameters after each of `steps` updates (w then b, flattened), and the final state."""
    params = params0() if params is None else params
    state = opt.init(params)

    def step(params, state):
        loss, grads = ft.value_and_grad(loss_fn)(params)
        extra = {"value": loss} if with_value else {}
        updates, state = opt.update(grads, state, params, **extra)
        return O.apply_updates(params, updates), state
    if jit:
        step = ft.jit(step)
    out = []
    for _ in range(steps):
        params, state = step(params, state)
        out.append(np.concatenate([np.asarray(params["w"]).ravel(), np.asarray(params["b"])]))
    return np.array(out), state


def torch_run(make_opt, steps=STEPS, make_sched=None, sched_value=False):
    torch = pytest.importorskip("torch")
    w = torch.tensor(W0, requires_grad=True)
    b = torch.tensor(B0, requires_grad=True)
    opts = make_opt(torch, w, b)
    opts = opts if isinstance(opts, tuple) else (opts,)
    sched = make_sched(torch, opts[0]) if make_sched else None
    X_, Y_ = torch.from_numpy(X), torch.from_numpy(Y)
    out = []
    for _ in range(steps):
        for o in opts:
            o.zero_grad()
        loss = ((X_ @ w.T + b - Y_) ** 2).mean()
        loss.backward()
        for o in opts:
            o.step()
        if sched is not None:
            sched.step(loss.item()) if sched_value else sched.step()
        out.append(np.concatenate([w.detach().numpy().ravel(), b.detach().numpy()]))
    return np.array(out)


def close(a, b, rtol=1e-11):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-13)


# ------------------------------------------------------------------ masked
def test_masked_passes_masked_out_updates_through_unchanged():
    grads = {"w": fnp.asarray(np.full((4, 3), 2.0)), "b": fnp.asarray(np.full(4, 3.0))}
    opt = O.masked(O.sgd(0.1, momentum=0.9), {"w": True, "b": False})
    state = opt.init(params0())
    assert isinstance(state.inner_state.momentum_buffer["b"], O.MaskedNode)
    for _ in range(2):
        updates, state = ft.jit(opt.update)(grads, state, params0())
    np.testing.assert_allclose(np.asarray(updates["w"]), -0.1 * 2.0 * 1.9)
    np.testing.assert_array_equal(np.asarray(updates["b"]), 3.0)   # the gradient itself
    assert tree_leaves(state.inner_state.momentum_buffer) == \
        [state.inner_state.momentum_buffer["w"]]


@pytest.mark.parametrize("mask", [{"w": True, "b": False},
                                  lambda p: ft.tree_map(lambda x: x.ndim > 1, p)],
                         ids=["tree", "function"])
def test_masked_weight_decay_leaves_masked_out_parameters_alone(mask):
    plain, _ = run(O.adam(0.05))
    decayed, _ = run(O.chain(O.add_decayed_weights(0.3), O.adam(0.05)))
    only_w, _ = run(O.chain(O.masked(O.add_decayed_weights(0.3), mask), O.adam(0.05)))
    with_mask, _ = run(O.chain(O.add_decayed_weights(0.3, mask=mask), O.adam(0.05)))
    close(only_w, with_mask, rtol=0)
    # w's trajectory is that of decaying everything until b starts to differ: compare the
    # first step, where only each leaf's own gradient matters
    close(only_w[0, :12], decayed[0, :12])
    close(only_w[0, 12:], plain[0, 12:])
    assert not np.allclose(only_w[:, :12], plain[:, :12])


def test_adamw_mask_matches_torch_parameter_groups():
    mask = {"w": True, "b": False}
    got, _ = run(O.adamw(0.05, weight_decay=0.2, mask=mask))
    got_fn, _ = run(O.adamw(0.05, weight_decay=0.2, mask=lambda p: ft.tree_map(
        lambda x: x.ndim == 2, p)), jit=False)
    close(got, got_fn, rtol=1e-13)
    # without decay on b: b follows Adam's rule; w AdamW's
    b_only_adam, _ = run(O.multi_transform({"w": O.adamw(0.05, weight_decay=0.2),
                                            "b": O.adam(0.05)}, {"w": "w", "b": "b"}))
    close(got, b_only_adam)
    want = torch_run(lambda torch, w, b: torch.optim.AdamW(
        [{"params": [w]}, {"params": [b], "weight_decay": 0.0}], lr=0.05, weight_decay=0.2))
    close(got, want)


def test_masked_prefix_mask_and_nested_params():
    params = {"enc": {"w": fnp.ones((2, 2)), "b": fnp.ones(2)}, "head": fnp.ones(3)}
    grads = ft.tree_map(lambda x: 2 * x, params)
    opt = O.masked(O.scale(-0.5), {"enc": True, "head": False})
    updates, _ = opt.update(grads, opt.init(params), params)
    np.testing.assert_array_equal(np.asarray(updates["enc"]["w"]), -1.0)
    np.testing.assert_array_equal(np.asarray(updates["enc"]["b"]), -1.0)
    np.testing.assert_array_equal(np.asarray(updates["head"]), 2.0)


def test_mask_structure_errors_name_the_path():
    params = {"enc": {"w": fnp.ones((2, 2)), "b": fnp.ones(2)}, "head": fnp.ones(3)}
    opt = O.masked(O.sgd(0.1), {"enc": {"w": True}, "head": False})
    with pytest.raises(ValueError, match=r"masked: the mask does not match the structure of "
                                         r"the params: at \['enc'\] the dict has keys "
                                         r"\('b', 'w'\) where \('w',\) were expected"):
        opt.init(params)
    opt = O.masked(O.sgd(0.1), {"enc": True, "head": False})
    state = opt.init(params)
    with pytest.raises(ValueError, match=r"masked: the mask does not match the structure of "
                                         r"the updates: at the root the dict has keys"):
        opt.update({"enc": params["enc"]}, state)
    with pytest.raises(ValueError, match=r"at \['head'\] expected list, got Array"):
        O.masked(O.sgd(0.1), {"enc": True, "head": [True]}).init(params)
    with pytest.raises(TypeError, match=r"masked: the mask has Array .* at \['head'\]; its "
                                        r"leaves must be Python bools"):
        O.masked(O.sgd(0.1), {"enc": True, "head": fnp.asarray(True)}).init(params)
    with pytest.raises(ValueError, match=r"adamw: the mask does not match the structure of "
                                         r"the updates: at \['enc'\] expected list"):
        O.adamw(0.1, mask={"enc": [True], "head": True}).update(params, O.adamw(0.1).init(
            params), params)


# ------------------------------------------------------------------ multi_transform
def test_multi_transform_matches_two_torch_optimizers():
    opt = O.multi_transform({"weights": O.adam(0.05), "biases": O.sgd(0.1, momentum=0.9)},
                            {"w": "weights", "b": "biases"})
    got, state = run(opt)
    assert set(state.inner_states) == {"weights", "biases"}
    want = torch_run(lambda torch, w, b: (torch.optim.Adam([w], lr=0.05),
                                          torch.optim.SGD([b], lr=0.1, momentum=0.9)))
    close(got, want)
    by_fn, _ = run(O.multi_transform(
        {"weights": O.adam(0.05), "biases": O.sgd(0.1, momentum=0.9)},
        lambda p: ft.tree_map(lambda x: "weights" if x.ndim == 2 else "biases", p)),
        jit=False)
    close(got, by_fn, rtol=1e-13)


def test_multi_transform_freezes_with_set_to_zero_and_names_bad_labels():
    got, _ = run(O.multi_transform({"train": O.adam(0.05), "frozen": O.set_to_zero()},
                                   {"w": "train", "b": "frozen"}))
    np.testing.assert_array_equal(got[:, 12:], np.broadcast_to(B0, (STEPS, 4)))
    assert not np.allclose(got[-1, :12], W0.ravel())
    with pytest.raises(ValueError, match=r"multi_transform: the label 'bias' at \['b'\] has "
                                         r"no transformation; the transforms are for "
                                         r"\[\"'frozen'\", \"'train'\"\]"):
        O.multi_transform({"train": O.adam(0.05), "frozen": O.set_to_zero()},
                          {"w": "train", "b": "bias"}).init(params0())
    with pytest.raises(ValueError, match=r"multi_transform: param_labels does not match the "
                                         r"structure of the params: at the root"):
        O.multi_transform({"train": O.adam(0.05)}, {"w": "train"}).init(params0())


# ------------------------------------------------------------------ inject_hyperparams
def test_inject_hyperparams_matches_the_plain_optimizer_and_records_the_rate():
    sched = O.cosine_annealing_schedule(0.05, 10, 0.001)
    got, state = run(O.inject_hyperparams(O.adam)(lr=sched, weight_decay=0.1))
    want, _ = run(O.adam(sched, weight_decay=0.1))
    close(got, want, rtol=1e-13)
    assert set(state.hyperparams) == {"lr", "eps", "weight_decay"}
    assert state.hyperparams["lr"].dtype == np.float64          # the params' dtype
    assert float(state.hyperparams["lr"]) == pytest.approx(float(sched(STEPS - 1)), rel=1e-15)
    assert int(state.count) == STEPS
    first = O.inject_hyperparams(O.adam)(lr=sched).init(params0())
    assert float(first.hyperparams["lr"]) == 0.05 and int(first.count) == 0


def test_inject_hyperparams_values_can_be_changed_between_jitted_steps():
    opt = O.inject_hyperparams(O.sgd)(lr=0.1, momentum=0.9)
    params = params0()
    state = opt.init(params)
    step = ft.jit(lambda g, s, p: opt.update(g, s, p))
    grads = ft.grad(loss_fn)(params)
    updates, state = step(grads, state, params)
    close(np.asarray(updates["b"]), -0.1 * np.asarray(grads["b"]), rtol=1e-15)
    state = state._replace(hyperparams={**state.hyperparams, "lr": 0.01, "momentum": 0.0})
    updates, state = step(grads, state, params)
    # momentum 0 from now on: the buffer is the gradient itself
    close(np.asarray(updates["b"]), -0.01 * np.asarray(grads["b"]), rtol=1e-15)
    assert float(state.hyperparams["lr"]) == 0.01
    assert state.hyperparams["lr"].dtype == np.float64
    state.hyperparams["lr"] = 0.0                   # in place, as Optax allows
    updates, state = step(grads, state, params)
    assert all(float(fnp.max(fnp.abs(u))) == 0 for u in tree_leaves(updates))


def test_inject_one_cycle_lr_and_momentum_matches_torch_one_cycle():
    total = STEPS
    opt = O.inject_hyperparams(O.sgd)(lr=O.one_cycle_schedule(0.1, total),
                                      momentum=O.one_cycle_momentum_schedule(total))
    got, state = run(opt)
    want = torch_run(lambda torch, w, b: torch.optim.SGD([w, b], lr=0.1, momentum=0.9),
                     make_sched=lambda torch, o: torch.optim.lr_scheduler.OneCycleLR(
                         o, max_lr=0.1, total_steps=total))
    close(got, want)


def test_inject_hyperparams_float32_and_static_args():
    params = {"w": fnp.ones(3, dtype=np.float32)}
    grads = {"w": fnp.ones(3, dtype=np.float32)}
    opt = O.inject_hyperparams(O.sgd)(lr=O.exponential_schedule(0.1, 0.5))
    state = opt.init(params)
    assert state.hyperparams["lr"].dtype == np.float32
    with pytest.raises(ValueError, match=r"sgd with weight_decay needs the parameters.*"
                                         r"static_args=\('weight_decay',\)"):
        opt.update(grads, state)
    opt = O.inject_hyperparams(O.sgd, static_args="weight_decay")(lr=0.1)
    updates, state = ft.jit(opt.update)(grads, opt.init(params))
    assert updates["w"].dtype == np.float32 and "weight_decay" not in state.hyperparams
    with pytest.raises(ValueError, match=r"static_args \['wd'\] are not arguments of sgd"):
        O.inject_hyperparams(O.sgd, static_args=("wd",))
    f64 = O.inject_hyperparams(O.sgd, hyperparam_dtype=np.float64)(lr=0.1)
    assert f64.init(params).hyperparams["lr"].dtype == np.float64


# ------------------------------------------------------------------ reduce_on_plateau
PLATEAU_CONFIGS = {
    "min_rel": dict(factor=0.5, patience=1, threshold=0.05, cooldown=1, min_lr=0.01),
    "min_abs": dict(factor=0.3, patience=2, threshold=0.05, threshold_mode="abs"),
    "max_rel": dict(mode="max", factor=0.5, patience=0, threshold=0.04, cooldown=2),
    "min_eps": dict(factor=0.5, patience=0, threshold=0.2, eps=0.01),
}


@pytest.mark.parametrize("config", sorted(PLATEAU_CONFIGS))
def test_reduce_on_plateau_matches_torch(config):
    kw = dict(PLATEAU_CONFIGS[config])
    lr, monitor = 0.05, (lambda loss: 1 / loss) if kw.get("mode") == "max" else (lambda l: l)
    ours = dict(kw)
    ours["min_scale"] = ours.pop("min_lr", 0.0) / lr
    ours["eps"] = ours.pop("eps", 1e-8) / lr
    opt = O.chain(O.sgd(lr), O.reduce_on_plateau(**ours))
    params, state = params0(), opt.init(params0())

    @ft.jit
    def step(params, state):
        loss, grads = ft.value_and_grad(loss_fn)(params)
        updates, state = opt.update(grads, state, params, value=monitor(loss))
        return O.apply_updates(params, updates), state
    got, scales = [], []
    for _ in range(30):
        params, state = step(params, state)
        got.append(np.concatenate([np.asarray(params["w"]).ravel(), np.asarray(params["b"])]))
        scales.append(float(state[1].scale))
    torch = pytest.importorskip("torch")
    w, b = torch.tensor(W0, requires_grad=True), torch.tensor(B0, requires_grad=True)
    topt = torch.optim.SGD([w, b], lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    want, lrs = [], []
    for _ in range(30):
        topt.zero_grad()
        loss = ((torch.from_numpy(X) @ w.T + b - torch.from_numpy(Y)) ** 2).mean()
        loss.backward()
        topt.step()
        sched.step(monitor(loss.item()))
        want.append(np.concatenate([w.detach().numpy().ravel(), b.detach().numpy()]))
        lrs.append(topt.param_groups[0]["lr"])
    close(np.array(got), np.array(want))
    np.testing.assert_allclose(lr * np.array(scales), lrs, rtol=1e-12)
    assert len(set(lrs)) > 1           # the schedule did reduce


def test_reduce_on_plateau_accumulates_and_steps_like_an_epoch_scheduler():
    values = [5.0, 3.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.0, 6.0, 6.0, 6.0, 6.0, 6.0, 6.0]
    opt = O.reduce_on_plateau(factor=0.5, patience=1, accumulation_size=2)
    g = {"w": fnp.ones(2)}
    state = opt.init(g)
    update = ft.jit(lambda s, v: opt.update(g, s, value=v))
    applied = []
    for v in values:
        u, state = update(state, fnp.asarray(v))
        applied.append(float(u["w"][0]))
    # decisions on the means 4, 4, 4, 3, 6, 6, 6: best; bad; bad -> halve; best; bad;
    # bad -> halve; bad. A new scale applies from the update after the decision.
    expected_scales = [1, 1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert applied == expected_scales
    assert float(state.scale) == 0.25 and int(state.plateau_count) == 1
    assert int(state.count) == 0 and float(state.best_value) == 3.0


def test_reduce_on_plateau_needs_a_scalar_value_and_chain_passes_it_on():
    opt = O.chain(O.adam(0.1), O.reduce_on_plateau())
    params = params0()
    state = opt.init(params)
    with pytest.raises(ValueError, match=r"reduce_on_plateau needs the monitored value: "
                                         r"opt.update\(grads, state, params, value=loss\)"):
        opt.update(params, state, params)
    with pytest.raises(ValueError, match=r"value must be a scalar, got shape \(2,\)"):
        opt.update(params, state, params, value=fnp.ones(2))
    _, s = opt.update(params, state, params, value=0.1)       # a Python float, exactly
    assert float(s[1].best_value) == 0.1 and s[1].best_value.dtype == np.float64
    with pytest.raises(TypeError):           # a plain optimizer takes no extra arguments
        O.adam(0.1).update(params, state[0], params, value=1.0)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        O.reduce_on_plateau(mode="lowest")
    with pytest.raises(ValueError, match=r"factor must be in \[0, 1\)"):
        O.reduce_on_plateau(factor=1.5)


# ------------------------------------------------------------------ building blocks
def test_scale_scale_by_schedule_and_scheduled_weight_decay():
    params = {"w": fnp.asarray([1.0, -2.0])}
    grads = {"w": fnp.asarray([0.5, 0.25])}
    u, _ = O.scale(-2.0).update(grads, O.scale(-2.0).init(params))
    np.testing.assert_array_equal(np.asarray(u["w"]), [-1.0, -0.5])
    sbs = O.scale_by_schedule(O.exponential_schedule(1.0, 0.5))
    state = sbs.init(params)
    for k in range(3):
        u, state = ft.jit(sbs.update)(grads, state)
        np.testing.assert_allclose(np.asarray(u["w"]), 0.5 ** k * np.array([0.5, 0.25]))
    wd = O.add_decayed_weights(O.step_schedule(0.1, 1, 0.5))
    state = wd.init(params)
    for k in range(2):
        u, state = wd.update(grads, state, params)
        np.testing.assert_allclose(np.asarray(u["w"]),
                                   [0.5 + 0.1 * 0.5 ** k, 0.25 - 0.2 * 0.5 ** k])
    with pytest.raises(ValueError, match="add_decayed_weights needs the parameters"):
        O.add_decayed_weights(0.1).update(grads, O.EmptyState())
    chained = O.chain(O.add_decayed_weights(0.1), O.sgd(0.5))
    got, _ = run(chained)
    want, _ = run(O.sgd(0.5, weight_decay=0.1))
    close(got, want, rtol=1e-13)


def test_chain_checks_its_state():
    with pytest.raises(ValueError, match="chain of 2 transformations got a state of 1"):
        O.chain(O.scale(1.0), O.scale(2.0)).update({"w": fnp.ones(1)}, (O.EmptyState(),))


def test_float32_states_of_the_new_optimizers():
    params = {"w": fnp.ones(3, dtype=np.float32)}
    for opt in (O.adamax(), O.nadam(weight_decay=0.1), O.radam(decoupled_weight_decay=True,
                                                               weight_decay=0.1)):
        state = opt.init(params)
        p = params
        for _ in range(7):       # RAdam rectifies from step 6
            u, state = ft.jit(opt.update)(params, state, p)
            p = O.apply_updates(p, u)
        assert p["w"].dtype == np.float32 and u["w"].dtype == np.float32
        assert all(x.dtype in (np.float32, np.int32, np.float64) for x in tree_leaves(state))
        assert np.isfinite(np.asarray(p["w"])).all()


def test_new_optimizers_reject_bad_arguments():
    with pytest.raises(ValueError, match="nadam: momentum_decay must be >= 0"):
        O.nadam(momentum_decay=-1.0)
    with pytest.raises(ValueError, match=r"radam: betas must be in \[0, 1\)"):
        O.radam(betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="adamax: eps must be >= 0"):
        O.adamax(eps=-1e-8)
    with pytest.raises(TypeError, match="adamax: lr must be a number, an array or a "
                                        "schedule, got str"):
        O.adamax("0.1")


def test_radam_with_a_small_beta2_never_rectifies():
    # rho_inf = 2 / (1 - 0.6) - 1 = 4 <= 5: PyTorch takes the un-adapted step at every t
    got, _ = run(O.radam(0.01, betas=(0.9, 0.6)), steps=5)
    params = [W0.copy(), B0.copy()]
    m = [np.zeros_like(p) for p in params]
    for t in range(1, 6):
        r = 2 * (X @ params[0].T + params[1] - Y) / Y.size
        for i, g in enumerate((r.T @ X, r.sum(0))):
            m[i] = 0.9 * m[i] + 0.1 * g
            params[i] = params[i] - 0.01 * m[i] / (1 - 0.9 ** t)
    close(got[-1], np.concatenate([params[0].ravel(), params[1]]))
    assert math.isfinite(got[-1].sum())


# ------------------------------------------------------------------ MultiSteps, apply_if_finite
def _batch_loss(p, x, y):
    return fnp.mean((x @ p["w"].T + p["b"] - y) ** 2)


@pytest.mark.parametrize("use_grad_mean", [True, False])
def test_multi_steps_equals_the_inner_optimizer_on_accumulated_gradients(use_grad_mean):
    k = 3
    pieces = [(X[i:i + 2], Y[i:i + 2]) for i in range(0, 10, 2)][:2 * k]
    opt = O.MultiSteps(O.adam(0.05), every_k_schedule=k, use_grad_mean=use_grad_mean)

    @ft.jit
    def step(p, s, x, y):
        u, s = opt.update(ft.grad(_batch_loss)(p, x, y), s, p)
        return O.apply_updates(p, u), s
    p, s = params0(), opt.init(params0())
    ref, inner = params0(), O.adam(0.05).init(params0())
    for i, (x, y) in enumerate(pieces):
        before = p
        p, s = step(p, s, x, y)
        stepped = (i + 1) % k == 0
        assert bool(opt.has_updated(s)) == stepped and int(s.gradient_step) == (i + 1) // k
        if not stepped:
            for a, b in zip(tree_leaves(p), tree_leaves(before)):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
            continue
        grads = [ft.grad(_batch_loss)(ref, *xy) for xy in pieces[i + 1 - k:i + 1]]
        total = ft.tree_map(lambda *g: sum(g) / (k if use_grad_mean else 1), *grads)
        u, inner = O.adam(0.05).update(total, inner, ref)
        ref = O.apply_updates(ref, u)
        for a, b in zip(tree_leaves(p), tree_leaves(ref)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12)


def test_multi_steps_schedule_buffers_and_chain():
    opt = O.MultiSteps(O.sgd(0.1), every_k_schedule=lambda n: 1 + n)   # 1, then 2, then 3
    net = ft.nn.Sequential(ft.nn.Linear(3, 2, key=ft.random.key(0)),
                           ft.nn.BatchNorm1d(2)).eval()
    s = opt.init(net)
    grads = ft.grad(lambda m: fnp.sum(m(fnp.ones((4, 3)))))(net)
    updated = []
    for _ in range(6):
        u, s = ft.jit(opt.update)(grads, s, net)
        net = O.apply_updates(net, u)
        updated.append(bool(opt.has_updated(s)))
    assert updated == [True, False, True, False, False, True]
    np.testing.assert_array_equal(np.asarray(net[1].running_var), np.ones(2))
    tx = O.chain(O.clip_by_global_norm(1.0), opt.gradient_transformation())
    u, _ = tx.update(grads, tx.init(net), net)
    with pytest.raises(ValueError, match="every_k_schedule must be >= 1"):
        O.MultiSteps(O.sgd(0.1), 0)


def test_apply_if_finite_skips_non_finite_gradients():
    opt = O.apply_if_finite(O.sgd(0.1, momentum=0.9), max_consecutive_errors=2)
    p, s = params0(), opt.init(params0())
    good = ft.grad(loss_fn)(p)
    bad = {"w": good["w"].at[0, 0].set(np.nan), "b": good["b"]}
    u, s = opt.update(good, s, p)
    momentum = s.inner_state
    for i in range(2):
        u, s = ft.jit(opt.update)(bad, s, p)
        assert all(not np.asarray(x).any() for x in tree_leaves(u))
        assert int(s.notfinite_count) == i + 1 and not bool(s.last_finite)
        for a, b in zip(tree_leaves(s.inner_state), tree_leaves(momentum)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    u, s = opt.update(bad, s, p)                    # a third in a row goes through
    assert np.isnan(np.asarray(u["w"])[0, 0]) and int(s.total_notfinite) == 3
    u, s = opt.update(good, s, p)
    assert int(s.notfinite_count) == 0 and bool(s.last_finite)


# ------------------------------------------------------------------ Optax's schedule names
_OPTAX_SCHEDULES = [
    ("cosine_decay_schedule", (0.1, 50), dict(alpha=0.1, exponent=2.0),
     lambda t: 0.1 * (0.9 * ((1 + np.cos(np.pi * min(t, 50) / 50)) / 2) ** 2 + 0.1)),
    ("exponential_decay", (0.1, 10, 0.5), dict(transition_begin=5, staircase=True,
                                                end_value=0.01),
     lambda t: 0.1 if t <= 5 else max(0.1 * 0.5 ** np.floor((t - 5) / 10), 0.01)),
    ("exponential_decay", (0.1, 10, 1.5), dict(end_value=0.4),
     lambda t: min(0.1 * 1.5 ** (t / 10), 0.4)),
    ("exponential_decay", (0.1, 0, 0.5), {}, lambda t: 0.1),
    ("polynomial_schedule", (1.0, 0.1, 2.0, 30), dict(transition_begin=4),
     lambda t: 0.9 * (1 - min(max(t - 4, 0), 30) / 30) ** 2 + 0.1),
    ("piecewise_constant_schedule", (0.1,), dict(boundaries_and_scales={20: 0.5, 5: 0.1}),
     lambda t: 0.1 * (0.1 if t >= 5 else 1) * (0.5 if t >= 20 else 1)),
]


@pytest.mark.parametrize("name, args, kwargs, formula", _OPTAX_SCHEDULES,
                         ids=[f"{c[0]}{i}" for i, c in enumerate(_OPTAX_SCHEDULES)])
def test_optax_schedules(name, args, kwargs, formula):
    schedule = getattr(ft.optim, name)(*args, **kwargs)
    steps = np.arange(80)
    want = np.array([formula(t) for t in steps])
    np.testing.assert_allclose([float(schedule(t)) for t in steps], want, rtol=1e-12,
                               atol=1e-15)
    jitted = ft.jit(ft.vmap(schedule))(steps.astype(np.int32))         # under transforms
    np.testing.assert_allclose(jitted, want, rtol=1e-12, atol=1e-15)
    optax = pytest.importorskip("optax")
    theirs = getattr(optax, name)(*args, **kwargs)
    np.testing.assert_allclose(want, [float(theirs(int(t))) for t in steps], rtol=1e-6,
                               atol=1e-9)


def test_optax_schedules_drive_an_optimizer_and_refuse_bad_arguments():
    opt = ft.optim.sgd(ft.optim.cosine_decay_schedule(0.1, 10))
    params = {"w": fnp.ones(3)}
    state = opt.init(params)
    for _ in range(3):
        updates, state = opt.update({"w": fnp.ones(3)}, state, params)
    np.testing.assert_allclose(updates["w"], -0.1 * (1 + np.cos(np.pi * 2 / 10)) / 2,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="decay_steps must be positive"):
        ft.optim.cosine_decay_schedule(0.1, 0)
    with pytest.raises(ValueError, match="decay_rate must not be 0"):
        ft.optim.exponential_decay(0.1, 10, 0.0)
    with pytest.raises(ValueError, match="scales must be non-negative"):
        ft.optim.piecewise_constant_schedule(0.1, {5: -1.0})
