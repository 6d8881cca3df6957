"""ft.optim's PyTorch optimizers against torch.optim with random hyperparameters (every
option: momentum, dampening, Nesterov, weight decay coupled and decoupled, AMSGrad, centered
RMSprop, `maximize`, ...), six steps of random gradients on two float64 parameters, jitted
and not: the parameters (and ASGD's average) equal PyTorch's after every step."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import given, strategies as st

import functrans as ft
import functrans.numpy as fnp
from fuzzing import fuzz_settings

torch = pytest.importorskip("torch")

LR = st.sampled_from([1e-3, 0.01, 0.1])
DECAY = st.sampled_from([0.0, 0.01, 0.3])
BETAS = st.sampled_from([(0.9, 0.999), (0.5, 0.9), (0.0, 0.99)])


def _sgd(draw):
    momentum = draw(st.sampled_from([0.0, 0.5, 0.9]))
    dampening = draw(st.sampled_from([0.0, 0.25]))
    nesterov = momentum > 0 and dampening == 0 and draw(st.booleans())
    return dict(lr=draw(LR), momentum=momentum, dampening=dampening, nesterov=nesterov,
                weight_decay=draw(DECAY))


OPTIONS = {
    "SGD": ("sgd", _sgd),
    "Adam": ("adam", lambda d: dict(lr=d(LR), betas=d(BETAS), weight_decay=d(DECAY),
                                    amsgrad=d(st.booleans()),
                                    decoupled_weight_decay=d(st.booleans()))),
    "AdamW": ("adamw", lambda d: dict(lr=d(LR), betas=d(BETAS), weight_decay=d(DECAY),
                                      amsgrad=d(st.booleans()))),
    "RMSprop": ("rmsprop", lambda d: dict(lr=d(LR), alpha=d(st.sampled_from([0.9, 0.99])),
                                          weight_decay=d(DECAY),
                                          momentum=d(st.sampled_from([0.0, 0.9])),
                                          centered=d(st.booleans()))),
    "Adagrad": ("adagrad", lambda d: dict(lr=d(LR), lr_decay=d(st.sampled_from([0.0, 0.1])),
                                          weight_decay=d(DECAY),
                                          initial_accumulator_value=d(
                                              st.sampled_from([0.0, 0.5])))),
    "Adamax": ("adamax", lambda d: dict(lr=d(LR), betas=d(BETAS), weight_decay=d(DECAY))),
    "NAdam": ("nadam", lambda d: dict(lr=d(LR), betas=d(BETAS), weight_decay=d(DECAY),
                                      momentum_decay=d(st.sampled_from([4e-3, 0.1])),
                                      decoupled_weight_decay=d(st.booleans()))),
    "RAdam": ("radam", lambda d: dict(lr=d(LR), betas=d(BETAS), weight_decay=d(DECAY),
                                      decoupled_weight_decay=d(st.booleans()))),
    "Adadelta": ("adadelta", lambda d: dict(lr=d(st.sampled_from([1.0, 0.1])),
                                            rho=d(st.sampled_from([0.9, 0.5])),
                                            weight_decay=d(DECAY))),
    "Rprop": ("rprop", lambda d: dict(lr=d(LR), etas=d(st.sampled_from([(0.5, 1.2),
                                                                        (0.3, 2.0)])),
                                      step_sizes=d(st.sampled_from([(1e-6, 50.0),
                                                                    (1e-3, 0.05)])))),
    "ASGD": ("asgd", lambda d: dict(lr=d(LR), lambd=d(st.sampled_from([1e-4, 0.1])),
                                    alpha=d(st.sampled_from([0.75, 0.5])),
                                    t0=d(st.sampled_from([0.0, 2.0, 1e6])),
                                    weight_decay=d(DECAY))),
}


@st.composite
def configurations(draw):
    name = draw(st.sampled_from(sorted(OPTIONS)))
    ours, options = OPTIONS[name]
    kwargs = options(draw)
    kwargs["maximize"] = draw(st.booleans())
    return name, ours, kwargs


def _torch_steps(name, kwargs, params, grads):
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # ASGD's eta and mu are scalars of this dtype
    try:
        return _torch_run(name, kwargs, params, grads)
    finally:
        torch.set_default_dtype(before)


def _torch_run(name, kwargs, params, grads):
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    opt = getattr(torch.optim, name)(tensors, **kwargs)
    trajectory = []
    for step in grads:
        for t, g in zip(tensors, step):
            t.grad = torch.tensor(g)
        opt.step()
        averages = [opt.state[t]["ax"].numpy().copy() for t in tensors] if name == "ASGD" \
            else None
        trajectory.append(([t.detach().numpy().copy() for t in tensors], averages))
    return trajectory


@fuzz_settings(40)
@given(configurations(), st.booleans(), st.integers(0, 2 ** 16))
def test_trajectories_equal_torch(config, jitted, seed):
    name, ours, kwargs = config
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((3, 2)), rng.standard_normal(4)]
    grads = [[rng.standard_normal(p.shape) for p in params] for _ in range(6)]
    expected = _torch_steps(name, kwargs, params, grads)
    opt = getattr(ft.optim, ours)(**kwargs)
    update = ft.jit(opt.update) if jitted else opt.update
    p = [fnp.asarray(a) for a in params]
    state = opt.init(p)
    for step, (want, averages) in zip(grads, expected):
        updates, state = update([fnp.asarray(g) for g in step], state, p)
        p = ft.optim.apply_updates(p, updates)
        for a, b in zip(p, want):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-10, atol=1e-12)
        if averages is not None:
            for a, b in zip(state.ax, averages):
                np.testing.assert_allclose(np.asarray(a), b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_signatures_take_torchs_arguments(name):
    """Every argument of torch.optim's constructor (but `params`) is accepted, with
    PyTorch's default."""
    ours = inspect.signature(getattr(ft.optim, OPTIONS[name][0])).parameters
    for arg, p in inspect.signature(getattr(torch.optim, name)).parameters.items():
        if arg == "params":
            continue
        assert arg in ours, arg
        if not (name == "SGD" and arg == "lr"):    # ours has no default rate
            assert ours[arg].default == p.default, arg


def test_asgd_with_a_schedule_takes_the_rate_one_step_late_as_torch():
    params = [np.linspace(-1.0, 1.0, 5)]
    grads = [[np.cos(np.arange(5.0) + k)] for k in range(6)]
    kwargs = dict(lr=0.125, lambd=0.5, alpha=0.75, t0=2.0)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        t = torch.tensor(params[0], requires_grad=True)
        opt = torch.optim.ASGD([t], **kwargs)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 0.5 ** epoch)
        want = []
        for (g,) in grads:
            t.grad = torch.tensor(g)
            opt.step()
            sched.step()
            want.append(t.detach().numpy().copy())
    finally:
        torch.set_default_dtype(before)
    opt = ft.optim.asgd(**dict(kwargs, lr=lambda count: 0.125 * 0.5 ** count))
    p = [fnp.asarray(params[0])]
    state = opt.init(p)
    for (g,), w in zip(grads, want):
        updates, state = opt.update([fnp.asarray(g)], state, p)
        p = ft.optim.apply_updates(p, updates)
        np.testing.assert_allclose(np.asarray(p[0]), w, rtol=1e-12)
    with pytest.raises(ValueError, match="asgd needs the parameters"):
        opt.update([fnp.asarray(g)], state)


def test_maximize_under_inject_hyperparams_and_chain():
    grads = {"w": fnp.asarray([1.0, -2.0])}
    params = {"w": fnp.zeros(2)}
    for opt in (ft.optim.inject_hyperparams(ft.optim.sgd)(lr=0.5, maximize=True),
                ft.optim.chain(ft.optim.clip_by_global_norm(10.0),
                               ft.optim.adam(0.1, maximize=True))):
        updates, _ = opt.update(grads, opt.init(params), params)
        assert np.all(np.sign(np.asarray(updates["w"])) == [1.0, -1.0])
