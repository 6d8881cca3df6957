"""ft.optim: 25-step trajectories of every optimizer configuration against the published
update rules written out in NumPy (always) and against torch.optim (when installed), eager
and jitted; schedules against their formulas and torch.optim.lr_scheduler step by step; chain
and clipping; pytree states."""
import math

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp

rng = np.random.default_rng(0)
W0 = rng.standard_normal((5, 3))
B0 = rng.standard_normal(5)
X = rng.standard_normal((8, 3))
Y = rng.standard_normal((8, 5))
STEPS = 25


def np_grads(w, b):
    """Gradients of mean((X w^T + b - Y)^2) in NumPy."""
    r = 2 * (X @ w.T + b - Y) / Y.size
    return r.T @ X, r.sum(0)


def ft_loss(p):
    return fnp.mean((fnp.asarray(X) @ p["w"].T + p["b"] - fnp.asarray(Y)) ** 2)


# ------------------------------------------------------------------ NumPy references
def ref_sgd(lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, lrs=None):
    ps, bufs, out = [W0.copy(), B0.copy()], [None, None], []
    for t in range(STEPS):
        rate = lr if lrs is None else lrs(t)
        gs = np_grads(*ps)
        for i in range(2):
            d = gs[i] + weight_decay * ps[i]
            if momentum:
                bufs[i] = d.copy() if t == 0 else momentum * bufs[i] + (1 - dampening) * d
                d = d + momentum * bufs[i] if nesterov else bufs[i]
            ps[i] = ps[i] - rate * d
        out.append(np.concatenate([p.ravel() for p in ps]))
    return np.array(out)


def ref_adam(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
             decoupled=False, lrs=None):
    b1, b2 = betas
    ps = [W0.copy(), B0.copy()]
    m, v, vmax = [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps], \
        [np.zeros_like(p) for p in ps]
    out = []
    for t in range(1, STEPS + 1):
        rate = lr if lrs is None else lrs(t - 1)
        gs = np_grads(*ps)
        for i in range(2):
            g = gs[i]
            if decoupled:
                ps[i] = ps[i] * (1 - rate * weight_decay)
            elif weight_decay:
                g = g + weight_decay * ps[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            vmax[i] = np.maximum(vmax[i], v[i])
            vhat = (vmax[i] if amsgrad else v[i]) / (1 - b2 ** t)
            ps[i] = ps[i] - rate * (m[i] / (1 - b1 ** t)) / (np.sqrt(vhat) + eps)
        out.append(np.concatenate([p.ravel() for p in ps]))
    return np.array(out)


def ref_rmsprop(lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    ps = [W0.copy(), B0.copy()]
    sq, ga, buf = ([np.zeros_like(p) for p in ps] for _ in range(3))
    out = []
    for _ in range(STEPS):
        gs = np_grads(*ps)
        for i in range(2):
            g = gs[i] + weight_decay * ps[i]
            sq[i] = alpha * sq[i] + (1 - alpha) * g * g
            ga[i] = alpha * ga[i] + (1 - alpha) * g
            avg = np.sqrt(sq[i] - ga[i] ** 2 if centered else sq[i]) + eps
            if momentum:
                buf[i] = momentum * buf[i] + g / avg
                ps[i] = ps[i] - lr * buf[i]
            else:
                ps[i] = ps[i] - lr * g / avg
        out.append(np.concatenate([p.ravel() for p in ps]))
    return np.array(out)


def ref_adagrad(lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    ps = [W0.copy(), B0.copy()]
    acc = [np.full_like(p, initial_accumulator_value) for p in ps]
    out = []
    for t in range(1, STEPS + 1):
        gs = np_grads(*ps)
        for i in range(2):
            g = gs[i] + weight_decay * ps[i]
            acc[i] = acc[i] + g * g
            ps[i] = ps[i] - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(acc[i]) + eps)
        out.append(np.concatenate([p.ravel() for p in ps]))
    return np.array(out)


def ref_adamax(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, lrs=None):
    b1, b2 = betas
    ps = [W0.copy(), B0.copy()]
    m, u = [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps]
    out = []
    for t in range(1, STEPS + 1):
        rate = lr if lrs is None else lrs(t - 1)
        gs = np_grads(*ps)
        for i in range(2):
            g = gs[i] + weight_decay * ps[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            u[i] = np.maximum(b2 * u[i], np.abs(g) + eps)
            ps[i] = ps[i] - rate / (1 - b1 ** t) * m[i] / u[i]
        out.append(np.concatenate([p.ravel() for p in ps]))
    return np.array(out)


def ref_nadam(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
              decoupled_weight_decay=False):
    b1, b2 = betas
    ps = [W0.copy(), B0.copy()]
    m, v = [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps]
    mu_product, out = 1.0, []
    for t in range(1, STEPS + 1):
        gs = np_grads(*ps)
        mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product *= mu
        for i in range(2):
            g = gs[i]
            if decoupled_weight_decay:
                ps[i] = ps[i] * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * ps[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            denom = np.sqrt(v[i] / (1 - b2 ** t)) + eps
            ps[i] = ps[i] - lr * (1 - mu) / (1 - mu_product) * g / denom \
                - lr * mu_next / (1 - mu_product * mu_next) * m[i] / denom
        out.append(np.concatenate([p.ravel() for p in ps]))
    return np.array(out)


def ref_radam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
              decoupled_weight_decay=False):
    """RAdam as in Liu et al. (2020), Algorithm 2, with PyTorch's eps and weight decay."""
    b1, b2 = betas
    ps = [W0.copy(), B0.copy()]
    m, v = [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps]
    rho_inf = 2 / (1 - b2) - 1
    out = []
    for t in range(1, STEPS + 1):
        gs = np_grads(*ps)
        for i in range(2):
            g = gs[i]
            if decoupled_weight_decay:
                ps[i] = ps[i] * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * ps[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            m_hat = m[i] / (1 - b1 ** t)
            rho = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
            if rho > 5:
                r = math.sqrt((rho - 4) * (rho - 2) * rho_inf /
                              ((rho_inf - 4) * (rho_inf - 2) * rho))
                ps[i] = ps[i] - lr * m_hat * r * math.sqrt(1 - b2 ** t) / (np.sqrt(v[i]) + eps)
            else:
                ps[i] = ps[i] - lr * m_hat
        out.append(np.concatenate([p.ravel() for p in ps]))
    return np.array(out)


def ref_adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    ps = [W0.copy(), B0.copy()]
    sq, acc = [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps]
    out = []
    for _ in range(STEPS):
        gs = np_grads(*ps)
        for i in range(2):
            g = gs[i] + weight_decay * ps[i]
            sq[i] = rho * sq[i] + (1 - rho) * g * g
            d = np.sqrt(acc[i] + eps) / np.sqrt(sq[i] + eps) * g
            acc[i] = rho * acc[i] + (1 - rho) * d * d
            ps[i] = ps[i] - lr * d
        out.append(np.concatenate([p.ravel() for p in ps]))
    return np.array(out)


def ref_rprop(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)):
    ps = [W0.copy(), B0.copy()]
    prev, size = [np.zeros_like(p) for p in ps], [np.full_like(p, lr) for p in ps]
    out = []
    for _ in range(STEPS):
        gs = np_grads(*ps)
        for i in range(2):
            g = gs[i].copy()
            s = np.sign(g * prev[i])
            size[i] = np.clip(size[i] * np.select([s > 0, s < 0], etas[::-1], 1.0),
                              *step_sizes)
            g[s < 0] = 0
            ps[i] = ps[i] - np.sign(g) * size[i]
            prev[i] = g
        out.append(np.concatenate([p.ravel() for p in ps]))
    return np.array(out)


def ref_lion(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
    b1, b2 = betas
    ps = [W0.copy(), B0.copy()]
    m = [np.zeros_like(p) for p in ps]
    out = []
    for _ in range(STEPS):
        gs = np_grads(*ps)
        for i in range(2):
            ps[i] = ps[i] - lr * (np.sign(b1 * m[i] + (1 - b1) * gs[i]) + weight_decay * ps[i])
            m[i] = b2 * m[i] + (1 - b2) * gs[i]
        out.append(np.concatenate([p.ravel() for p in ps]))
    return np.array(out)


CONFIGS = {
    "sgd": (dict(lr=0.1), "sgd", "SGD"),
    "sgd_momentum": (dict(lr=0.05, momentum=0.9), "sgd", "SGD"),
    "sgd_dampening_wd": (dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01), "sgd",
                         "SGD"),
    "sgd_nesterov": (dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01), "sgd",
                     "SGD"),
    "adam": (dict(lr=0.05), "adam", "Adam"),
    "adam_betas_wd": (dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1), "adam",
                      "Adam"),
    "adam_amsgrad": (dict(lr=0.05, amsgrad=True), "adam", "Adam"),
    "adamw": (dict(lr=0.05), "adamw", "AdamW"),
    "adamw_amsgrad": (dict(lr=0.05, weight_decay=0.1, amsgrad=True), "adamw", "AdamW"),
    "rmsprop": (dict(lr=0.01), "rmsprop", "RMSprop"),
    "rmsprop_centered_momentum": (dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True,
                                       weight_decay=0.1), "rmsprop", "RMSprop"),
    "adagrad": (dict(lr=0.1), "adagrad", "Adagrad"),
    "adagrad_decay": (dict(lr=0.1, lr_decay=0.01, weight_decay=0.1,
                           initial_accumulator_value=0.1, eps=1e-8), "adagrad", "Adagrad"),
    "adamax": (dict(), "adamax", "Adamax"),
    "adamax_wd": (dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1), "adamax",
                  "Adamax"),
    "nadam": (dict(), "nadam", "NAdam"),
    "nadam_wd": (dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1, momentum_decay=0.01),
                 "nadam", "NAdam"),
    "nadam_decoupled": (dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True), "nadam",
                        "NAdam"),
    "radam": (dict(), "radam", "RAdam"),
    # rho_t passes 5 at step 6 with beta2 = 0.999 and at step 3 with beta2 = 0.9
    "radam_wd": (dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1), "radam",
                 "RAdam"),
    "radam_decoupled": (dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True), "radam",
                        "RAdam"),
    "adadelta": (dict(), "adadelta", "Adadelta"),
    "adadelta_wd": (dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1), "adadelta", "Adadelta"),
    "rprop": (dict(), "rprop", "Rprop"),
    "rprop_etas": (dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2)), "rprop", "Rprop"),
}


def reference(kind, kwargs):
    if kind == "sgd":
        return ref_sgd(**kwargs)
    if kind in ("adam", "adamw"):
        kw = dict(kwargs)
        if kind == "adamw":
            kw.setdefault("weight_decay", 1e-2)
        return ref_adam(decoupled=kind == "adamw", **kw)
    return {"rmsprop": ref_rmsprop, "adagrad": ref_adagrad, "adamax": ref_adamax,
            "nadam": ref_nadam, "radam": ref_radam, "adadelta": ref_adadelta,
            "rprop": ref_rprop}[kind](**kwargs)


def trajectory(opt, jit):
    params = {"w": fnp.asarray(W0), "b": fnp.asarray(B0)}
    state = opt.init(params)

    def step(params, state):
        grads = ft.grad(ft_loss)(params)
        updates, state = opt.update(grads, state, params)
        return ft.optim.apply_updates(params, updates), state
    if jit:
        step = ft.jit(step)
    out = []
    for _ in range(STEPS):
        params, state = step(params, state)
        out.append(np.concatenate([np.asarray(params["w"]).ravel(), np.asarray(params["b"])]))
    return np.array(out)


def torch_trajectory(name, kwargs, scheduler=None):
    torch = pytest.importorskip("torch")
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)     # NAdam keeps its mu_product in this dtype
    try:
        return _torch_trajectory(torch, name, kwargs, scheduler)
    finally:
        torch.set_default_dtype(default)


def _torch_trajectory(torch, name, kwargs, scheduler):
    w = torch.tensor(W0, requires_grad=True)
    b = torch.tensor(B0, requires_grad=True)
    opt = getattr(torch.optim, name)([w, b], **kwargs)
    sched = scheduler(opt) if scheduler else None
    X_, Y_ = torch.from_numpy(X), torch.from_numpy(Y)
    out = []
    for _ in range(STEPS):
        opt.zero_grad()
        ((X_ @ w.T + b - Y_) ** 2).mean().backward()
        opt.step()
        if sched:
            sched.step()
        out.append(np.concatenate([w.detach().numpy().ravel(), b.detach().numpy()]))
    return np.array(out)


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_trajectory_matches_update_rule(config):
    kwargs, kind, _ = CONFIGS[config]
    want = reference(kind, kwargs)
    opt = getattr(ft.optim, kind)(**kwargs)
    np.testing.assert_allclose(trajectory(opt, jit=False), want, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(trajectory(opt, jit=True), want, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_trajectory_matches_torch(config):
    kwargs, kind, torch_name = CONFIGS[config]
    want = torch_trajectory(torch_name, kwargs)
    got = trajectory(getattr(ft.optim, kind)(**kwargs), jit=True)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)


def test_lion_matches_its_update_rule():
    for kwargs in (dict(lr=0.01), dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.5)):
        want = ref_lion(**kwargs)
        for jit in (False, True):
            np.testing.assert_allclose(trajectory(ft.optim.lion(**kwargs), jit), want,
                                       rtol=1e-11, atol=1e-13)
    with pytest.raises(ValueError, match="needs the parameters"):
        opt = ft.optim.lion(weight_decay=0.1)
        opt.update({"w": fnp.ones(2)}, opt.init({"w": fnp.ones(2)}))


# ------------------------------------------------------------------ schedules
def test_schedules_match_formulas():
    s = ft.optim
    steps = np.arange(30)
    checks = [
        (s.constant_schedule(0.3), np.full(30, 0.3)),
        (s.step_schedule(0.1, 7, 0.5), 0.1 * 0.5 ** (steps // 7)),
        (s.exponential_schedule(0.1, 0.9), 0.1 * 0.9 ** steps),
        (s.cosine_annealing_schedule(0.1, 12, 0.01),
         0.01 + 0.09 * (1 + np.cos(np.pi * steps / 12)) / 2),
        (s.linear_schedule(0.0, 0.2, 10), 0.2 * np.minimum(steps / 10, 1)),
        (s.join_schedules([s.linear_schedule(0.0, 0.2, 10),
                           s.cosine_annealing_schedule(0.2, 20)], [10]),
         np.where(steps < 10, 0.02 * steps, 0.1 * (1 + np.cos(np.pi * (steps - 10) / 20)))),
    ]
    for schedule, want in checks:
        got = [float(schedule(t)) for t in steps]
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-16)
        jitted = ft.jit(schedule)
        np.testing.assert_allclose([float(jitted(fnp.asarray(t, dtype=np.int32)))
                                    for t in steps], want, rtol=1e-14, atol=1e-16)


def test_scheduled_trajectories_match_update_rule_and_torch():
    sched = ft.optim.step_schedule(0.1, 5, 0.5)
    want = ref_sgd(0.1, momentum=0.9, lrs=lambda t: 0.1 * 0.5 ** (t // 5))
    got = trajectory(ft.optim.sgd(sched, momentum=0.9), jit=True)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)
    cos = ft.optim.cosine_annealing_schedule(0.05, 10, 0.001)
    want = ref_adam(0.05, lrs=lambda t: 0.001 + 0.049 * (1 + math.cos(math.pi * t / 10)) / 2)
    np.testing.assert_allclose(trajectory(ft.optim.adam(cos), jit=False), want, rtol=1e-11,
                               atol=1e-13)
    torch = pytest.importorskip("torch")
    lrs = torch.optim.lr_scheduler
    np.testing.assert_allclose(
        got, torch_trajectory("SGD", dict(lr=0.1, momentum=0.9),
                              lambda o: lrs.StepLR(o, 5, 0.5)), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(
        trajectory(ft.optim.adam(cos), jit=True),
        torch_trajectory("Adam", dict(lr=0.05), lambda o: lrs.CosineAnnealingLR(o, 10, 0.001)),
        rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(
        trajectory(ft.optim.rmsprop(ft.optim.exponential_schedule(0.01, 0.9)), jit=True),
        torch_trajectory("RMSprop", dict(lr=0.01), lambda o: lrs.ExponentialLR(o, 0.9)),
        rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------------ combinators and states
def test_clip_by_global_norm_and_chain():
    grads = {"w": fnp.asarray(np.full((2, 2), 3.0)), "b": fnp.asarray([4.0])}
    clip = ft.optim.clip_by_global_norm(1.0)
    clipped, _ = clip.update(grads, clip.init(grads))
    norm = math.sqrt(4 * 9 + 16)
    np.testing.assert_allclose(np.asarray(clipped["w"]), 3.0 / (norm + 1e-6), rtol=1e-12)
    small, _ = ft.optim.clip_by_global_norm(100.0).update(grads, ())
    np.testing.assert_array_equal(np.asarray(small["b"]), [4.0])
    opt = ft.optim.chain(ft.optim.clip_by_global_norm(1.0), ft.optim.sgd(0.5))
    params = {"w": fnp.zeros((2, 2)), "b": fnp.zeros(1)}
    state = opt.init(params)
    updates, state = ft.jit(opt.update)(grads, state, params)
    np.testing.assert_allclose(np.asarray(updates["b"]), [-0.5 * 4.0 / (norm + 1e-6)],
                               rtol=1e-6)
    assert isinstance(state, tuple) and int(state[1].count) == 1


def test_float32_parameters_stay_float32_with_float64_schedules():
    params = {"w": fnp.ones(3, dtype=np.float32)}
    opt = ft.optim.adam(ft.optim.exponential_schedule(0.1, 0.5), weight_decay=0.1)
    state = opt.init(params)
    grads = {"w": fnp.ones(3, dtype=np.float32)}
    for _ in range(3):
        updates, state = opt.update(grads, state, params)
        params = ft.optim.apply_updates(params, updates)
    assert params["w"].dtype == np.float32 and state.exp_avg["w"].dtype == np.float32


def test_weight_decay_needs_params_and_bad_arguments():
    opt = ft.optim.sgd(0.1, weight_decay=0.1)
    grads = {"w": fnp.ones(2)}
    with pytest.raises(ValueError, match="needs the parameters"):
        opt.update(grads, opt.init(grads))
    with pytest.raises(ValueError, match="Nesterov"):
        ft.optim.sgd(0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        ft.optim.adam(0.1, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="lr"):
        ft.optim.adam(-1.0)


# ------------------------------------------------------------------ PyTorch-style schedules
def test_one_cycle_multi_step_and_warmup_cosine_formulas():
    s = ft.optim
    oc = s.one_cycle_schedule(0.1, 10)         # warm-up phase ends at step 0.3 * 10 - 1 = 2
    assert float(oc(0)) == pytest.approx(0.004, rel=1e-15)
    assert float(oc(1)) == pytest.approx(0.1 + (0.004 - 0.1) / 2 * (math.cos(math.pi / 2) + 1),
                                         rel=1e-15)
    assert float(oc(2)) == pytest.approx(0.1, rel=1e-15)
    assert float(oc(9)) == pytest.approx(0.004 / 1e4, rel=1e-12)
    assert float(oc(50)) == float(oc(9))                    # held after total_steps
    lin = s.one_cycle_schedule(1.0, 10, pct_start=0.5, anneal_strategy="linear",
                               div_factor=10, final_div_factor=10, three_phase=True)
    # phases end at steps 4, 8 and 9: 0.1 -> 1 -> 0.1 -> 0.01, linearly
    want = [0.1, 0.325, 0.55, 0.775, 1.0, 0.775, 0.55, 0.325, 0.1, 0.01]
    np.testing.assert_allclose([float(lin(k)) for k in range(10)], want, rtol=1e-14)
    mom = s.one_cycle_momentum_schedule(10, anneal_strategy="linear")
    np.testing.assert_allclose([float(mom(k)) for k in (0, 1, 2, 9)],
                               [0.95, 0.9, 0.85, 0.95], rtol=1e-14)
    ms = s.multi_step_schedule(0.1, [7, 3, 7], gamma=0.5)
    np.testing.assert_allclose([float(ms(k)) for k in range(10)],
                               [0.1] * 3 + [0.05] * 4 + [0.0125] * 3, rtol=1e-15)
    wc = s.warmup_cosine_decay_schedule(0.0, 1.0, 4, 14, end_value=0.1, exponent=2.0)
    steps = np.arange(20)
    c = (1 + np.cos(np.pi * np.minimum(steps - 4, 10) / 10)) / 2
    want = np.where(steps < 4, steps / 4, 0.1 + 0.9 * c ** 2)
    np.testing.assert_allclose([float(wc(k)) for k in steps], want, rtol=1e-14, atol=1e-16)
    jitted = ft.jit(wc)
    np.testing.assert_allclose([float(jitted(fnp.asarray(k, dtype=np.int32))) for k in steps],
                               want, rtol=1e-14, atol=1e-16)


def test_schedule_arguments_are_checked():
    s = ft.optim
    with pytest.raises(ValueError, match="pct_start \\* total_steps == 1"):
        s.one_cycle_schedule(0.1, 10, pct_start=0.1)
    with pytest.raises(ValueError, match="total_steps must be a positive integer"):
        s.one_cycle_schedule(0.1, 0)
    with pytest.raises(ValueError, match="anneal_strategy must be 'cos' or 'linear'"):
        s.one_cycle_momentum_schedule(10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="0 <= warmup_steps < decay_steps"):
        s.warmup_cosine_decay_schedule(0.0, 1.0, 10, 10)
    with pytest.raises(ValueError, match="milestones must be >= 0"):
        s.multi_step_schedule(0.1, [-1, 3])


def _torch_values(torch, make, steps, lr=0.1, key="lr", **opt_kwargs):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, **opt_kwargs)
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0][key])
        opt.step()
        sched.step()
    return out


SCHEDULE_CASES = {
    "one_cycle": (lambda s: s.one_cycle_schedule(0.1, 30),
                  lambda L, o: L.OneCycleLR(o, 0.1, total_steps=30, cycle_momentum=False)),
    "one_cycle_linear_three_phase": (
        lambda s: s.one_cycle_schedule(0.2, 25, pct_start=0.2, anneal_strategy="linear",
                                       div_factor=10.0, final_div_factor=100.0,
                                       three_phase=True),
        lambda L, o: L.OneCycleLR(o, 0.2, total_steps=25, pct_start=0.2,
                                  anneal_strategy="linear", div_factor=10.0,
                                  final_div_factor=100.0, three_phase=True,
                                  cycle_momentum=False)),
    "one_cycle_short": (lambda s: s.one_cycle_schedule(0.1, 3),
                        lambda L, o: L.OneCycleLR(o, 0.1, total_steps=3, cycle_momentum=False)),
    "multi_step": (lambda s: s.multi_step_schedule(0.1, [3, 7, 7, 12], 0.5),
                   lambda L, o: L.MultiStepLR(o, [3, 7, 7, 12], 0.5)),
    "warmup_cosine": (lambda s: s.warmup_cosine_decay_schedule(0.01, 0.1, 5, 30, 0.001),
                      lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.1, 1.0, 5),
                                                      L.CosineAnnealingLR(o, 25, 0.001)], [5])),
}


@pytest.mark.parametrize("case", sorted(SCHEDULE_CASES))
def test_schedules_match_torch_step_by_step(case):
    torch = pytest.importorskip("torch")
    ours, theirs = SCHEDULE_CASES[case]
    schedule = ours(ft.optim)
    steps = 25 if case == "one_cycle_linear_three_phase" else 30
    steps = 3 if case == "one_cycle_short" else steps
    want = _torch_values(torch, lambda o: theirs(torch.optim.lr_scheduler, o), steps)
    np.testing.assert_allclose([float(schedule(k)) for k in range(steps)], want, rtol=1e-14)


@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_momentum_matches_torch(three_phase):
    torch = pytest.importorskip("torch")
    want = _torch_values(torch, lambda o: torch.optim.lr_scheduler.OneCycleLR(
        o, 0.1, total_steps=20, three_phase=three_phase, base_momentum=0.8), 20,
        key="momentum", momentum=0.9)
    schedule = ft.optim.one_cycle_momentum_schedule(20, base_momentum=0.8,
                                                    three_phase=three_phase)
    np.testing.assert_allclose([float(schedule(k)) for k in range(20)], want, rtol=1e-14)


@pytest.mark.parametrize("kind,torch_name,schedule,torch_sched", [
    ("adam", "Adam", lambda s: s.one_cycle_schedule(0.05, STEPS),
     lambda L, o: L.OneCycleLR(o, 0.05, total_steps=STEPS, cycle_momentum=False)),
    ("nadam", "NAdam", lambda s: s.multi_step_schedule(0.05, [5, 15], 0.3),
     lambda L, o: L.MultiStepLR(o, [5, 15], 0.3)),
    ("radam", "RAdam", lambda s: s.warmup_cosine_decay_schedule(0.01, 0.05, 5, 40),
     lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.2, 1.0, 5), L.CosineAnnealingLR(o, 35)],
                                 [5])),
])
def test_scheduled_new_trajectories_match_torch(kind, torch_name, schedule, torch_sched):
    torch = pytest.importorskip("torch")
    got = trajectory(getattr(ft.optim, kind)(schedule(ft.optim)), jit=True)
    want = torch_trajectory(torch_name, dict(lr=0.05),
                            lambda o: torch_sched(torch.optim.lr_scheduler, o))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
