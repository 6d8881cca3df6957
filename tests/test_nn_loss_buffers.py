"""The tensor arguments of the loss modules (class `weight`, BCEWithLogitsLoss's `pos_weight`)
are buffers, as PyTorch registers them: listed by `named_buffers()` and `state_dict()` under
PyTorch's keys, never by `parameters()`, and never changed by a gradient or optimizer step."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp

from torch_port import assert_close

RNG = np.random.default_rng(0)
W3, P3 = RNG.random(3) + 0.5, RNG.random(3) + 0.5
X = RNG.standard_normal((4, 3))
LABELS = np.array([0, 2, 1, 2])
BITS = RNG.integers(0, 2, (4, 3)).astype(np.float64)
PROBS = 1 / (1 + np.exp(-X))

# (name, ours-or-torch constructor of the same arguments, inputs); `T` is the tensor type
CASES = [
    ("CrossEntropyLoss(w)", lambda m, T: m.CrossEntropyLoss(T(W3)), (X, LABELS)),
    ("CrossEntropyLoss(w, smooth)", lambda m, T: m.CrossEntropyLoss(
        weight=T(W3), ignore_index=1, label_smoothing=0.1), (X, LABELS)),
    ("CrossEntropyLoss()", lambda m, T: m.CrossEntropyLoss(), (X, LABELS)),
    ("NLLLoss(w)", lambda m, T: m.NLLLoss(T(W3), reduction="sum"), (X, LABELS)),
    ("BCELoss(w)", lambda m, T: m.BCELoss(weight=T(W3)), (PROBS, BITS)),
    ("BCEWithLogitsLoss(w, pos_weight)", lambda m, T: m.BCEWithLogitsLoss(
        weight=T(W3), pos_weight=T(P3)), (X, BITS)),
    ("BCEWithLogitsLoss(pos_weight)", lambda m, T: m.BCEWithLogitsLoss(pos_weight=T(P3)),
     (X, BITS)),
    ("MultiLabelSoftMarginLoss(w)", lambda m, T: m.MultiLabelSoftMarginLoss(weight=T(W3)),
     (X, BITS)),
    ("MultiMarginLoss(w)", lambda m, T: m.MultiMarginLoss(p=2, margin=0.5, weight=T(W3)),
     (X, LABELS)),
]


@pytest.mark.parametrize("make, inputs", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_loss_tensors_are_buffers_with_torchs_keys(make, inputs):
    ours = make(ft.nn, fnp.asarray)
    assert ours.parameters() == [] and ours.named_parameters() == []
    assert all(n in ("weight", "pos_weight") for n, _ in ours.named_buffers())
    got = ours(*inputs)
    torch = pytest.importorskip("torch")
    theirs = make(torch.nn, torch.from_numpy)
    assert ours.named_parameters() == list(theirs.named_parameters()) == []
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    assert_close(got, theirs(*map(torch.from_numpy, inputs)), 1e-12, 1e-14)
    # torch's state_dict (different values) loads into ours, and the loss follows it
    changed = {k: v * 2 + 1 for k, v in theirs.state_dict().items()}
    theirs.load_state_dict(changed)
    ours = ours.load_state_dict(changed)
    for (_, a), (_, b) in zip(ours.named_buffers(), theirs.named_buffers()):
        assert_close(a, b, 0, 0)
    assert_close(ours(*inputs), theirs(*map(torch.from_numpy, inputs)), 1e-12, 1e-14)


class _Classifier(ft.nn.Module):
    def __init__(self, key):
        self.fc = ft.nn.Linear(3, 3, key=key, dtype=np.float64)
        self.loss = ft.nn.CrossEntropyLoss(weight=fnp.asarray(W3))
        self.bce = ft.nn.BCEWithLogitsLoss(weight=fnp.asarray(W3), pos_weight=fnp.asarray(P3))

    def __call__(self, x, y, bits):
        z = self.fc(x)
        return self.loss(z, y) + self.bce(z, bits)


@pytest.mark.parametrize("opt", [ft.optim.sgd(0.1, momentum=0.9, weight_decay=0.1),
                                 ft.optim.adamw(0.1, weight_decay=0.5)], ids=["sgd", "adamw"])
def test_optimizer_steps_leave_loss_weights_unchanged(opt):
    model = _Classifier(ft.random.key(1))
    assert [n for n, _ in model.named_parameters()] == ["fc.weight", "fc.bias"]
    assert list(model.state_dict()) == ["fc.weight", "fc.bias", "loss.weight", "bce.weight",
                                        "bce.pos_weight"]

    @ft.jit
    def step(model, state):
        grads = ft.grad(lambda m: m(X, LABELS, BITS))(model)
        updates, state = opt.update(grads, state, model)
        return ft.optim.apply_updates(model, updates), state, grads

    state = opt.init(model)
    new = model
    for _ in range(2):
        new, state, grads = step(new, state)
    assert [n for n, _ in grads.named_parameters()] == ["fc.weight", "fc.bias"]
    assert grads.loss.weight is None and grads.bce.pos_weight is None
    assert not np.allclose(np.asarray(new.fc.weight), np.asarray(model.fc.weight))
    for name in ("loss.weight", "bce.weight", "bce.pos_weight"):
        want = P3 if name.endswith("pos_weight") else W3
        np.testing.assert_array_equal(np.asarray(new.get_buffer(name)), want, err_msg=name)
