"""The Optax-style wrappers that choose between two updates with a `lax.cond`
(conditionally_mask, conditionally_transform, apply_if_finite, MultiSteps) around
optimizers whose params hold nn buffers: both branches give the updates one structure
(None at the buffers), eagerly and under jit; and the one "needs the parameters" error."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.optim import optax as fo
from functrans.tree_util import tree_leaves


def _net():
    return ft.nn.Sequential(ft.nn.Linear(3, 2, key=ft.random.key(0)),
                            ft.nn.BatchNorm1d(2)).eval()


def _grads(net):
    return ft.grad(lambda m: fnp.sum(m(fnp.ones((4, 3))) ** 2))(net)


def _weights(tree):
    return [np.asarray(x) for x in tree_leaves(tree)]


WRAPPED = [
    ("conditionally_mask", lambda tx: fo.conditionally_mask(tx, lambda step: step % 2 == 0)),
    ("conditionally_transform",
     lambda tx: fo.conditionally_transform(tx, lambda step: step % 2 == 0)),
    ("apply_if_finite", lambda tx: fo.apply_if_finite(tx, 2)),
    ("MultiSteps", lambda tx: fo.MultiSteps(tx, 2)),
    ("MultiSteps_skip", lambda tx: fo.MultiSteps(tx, 2, should_skip_update_fn=fo.skip_not_finite)),
]


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("inner", ["adam", "sgd"])
@pytest.mark.parametrize("name,wrap", WRAPPED, ids=[w[0] for w in WRAPPED])
def test_cond_wrappers_around_optimizers_with_buffers(name, wrap, inner, jit):
    net = _net()
    base = fo.adam(0.1) if inner == "adam" else fo.sgd(0.1, momentum=0.9)
    tx = wrap(base)
    update = ft.jit(tx.update) if jit else tx.update
    state = tx.init(net)
    running_var = np.asarray(net[1].running_var)
    applied = []
    for _ in range(4):
        updates, state = update(_grads(net), state, net)
        assert updates[1].running_var is None           # no update for a buffer
        before = _weights(net[0])
        net = fo.apply_updates(net, updates)
        applied.append(any(not np.array_equal(a, b) for a, b in zip(before, _weights(net[0]))))
    np.testing.assert_array_equal(np.asarray(net[1].running_var), running_var)
    expected = {"conditionally_mask": [True, False, True, False],
                "conditionally_transform": [True, True, True, True],
                "apply_if_finite": [True] * 4}.get(name, [False, True, False, True])
    assert applied == expected


def test_conditionally_mask_with_buffers_matches_the_inner_optimizer():
    """On its steps, conditionally_mask(adam) updates as adam run on those steps alone."""
    net, ref = _net(), _net()
    tx = fo.conditionally_mask(fo.adam(0.1), lambda step: step % 2 == 0)
    state, ref_state = tx.init(net), fo.adam(0.1).init(ref)
    for i in range(4):
        updates, state = ft.jit(tx.update)(_grads(net), state, net)
        net = fo.apply_updates(net, updates)
        if i % 2 == 0:
            ref_updates, ref_state = fo.adam(0.1).update(_grads(ref), ref_state, ref)
            ref = fo.apply_updates(ref, ref_updates)
    for a, b in zip(_weights(net), _weights(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


NEEDS_PARAMS = [
    ("scale_by_trust_ratio", lambda: fo.scale_by_trust_ratio()),
    ("keep_params_nonnegative", lambda: fo.keep_params_nonnegative()),
    ("scale_by_novograd with weight_decay", lambda: fo.scale_by_novograd(weight_decay=0.1)),
    ("scale_by_factored_rms", lambda: fo.scale_by_factored_rms()),
    ("scale_by_param_block_rms", lambda: fo.scale_by_param_block_rms()),
    ("add_decayed_weights", lambda: fo.add_decayed_weights(0.1)),
    ("scale_by_distance_over_gradients", lambda: fo.scale_by_distance_over_gradients()),
    ("scale_by_param_block_norm", lambda: fo.scale_by_param_block_norm()),
    ("adaptive_grad_clip", lambda: fo.adaptive_grad_clip(0.1)),
    ("sgd with weight_decay", lambda: ft.optim.sgd(0.1, weight_decay=0.1)),
]


@pytest.mark.parametrize("name,make", NEEDS_PARAMS, ids=[n for n, _ in NEEDS_PARAMS])
def test_updates_that_need_params_share_one_message(name, make):
    p = {"w": fnp.ones((2, 3))}
    tx = make()
    with pytest.raises(ValueError) as info:
        tx.update(p, tx.init(p))
    assert str(info.value) == (f"{name} needs the parameters: call "
                               "opt.update(grads, state, params)")


@pytest.mark.parametrize("after", [lambda: fo.adaptive_grad_clip(0.1),
                                   lambda: fo.scale_by_param_block_norm(),
                                   lambda: fo.add_decayed_weights(1e-2)])
def test_param_scaled_transforms_after_moments_with_buffers(after):
    """After an optimizer of moments (None at buffers), transforms that read the params
    keep None there and update the weights."""
    net = _net()
    opt = fo.chain(fo.scale_by_adam(), after())
    updates, _ = opt.update(_grads(net), opt.init(net), net)
    assert all(np.all(np.isfinite(np.asarray(u))) for u in _weights(updates))
    assert len(_weights(updates)) == 4      # Linear's and BatchNorm's weights and biases
