"""The blitz's LeNet end to end: float64 parity with PyTorch (forward, loss, every gradient,
eager and jitted, from identical weights), and a LeNet-style CNN trained on the real digits
data to >= 95% test accuracy in well under a minute."""
import time

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.tree_util import tree_leaves, tree_structure, tree_unflatten

from lenet import Net, classifier_step, torch_net


def test_lenet_matches_pytorch_in_float64():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    torch.manual_seed(0)
    tnet = torch_net().double()
    # the same weights: our leaves line up with torch's parameters()
    net = tree_unflatten(tree_structure(Net(ft.random.key(0))),
                         [fnp.asarray(p.detach().numpy()) for p in tnet.parameters()])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 32, 32))
    y = np.array([3, 1, 4, 1])
    t_loss = F.cross_entropy(tnet(torch.from_numpy(x)), torch.from_numpy(y))
    t_loss.backward()

    def loss(model, x, y):
        return ft.nn.cross_entropy(model(x), y)
    np.testing.assert_allclose(np.asarray(net(x)), tnet(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-13)
    for value_and_grad in (ft.value_and_grad(loss), ft.jit(ft.value_and_grad(loss))):
        value, grads = value_and_grad(net, fnp.asarray(x), fnp.asarray(y))
        np.testing.assert_allclose(float(value), t_loss.item(), rtol=1e-12)
        for (name, g), p in zip(grads.named_parameters(), tnet.parameters()):
            np.testing.assert_allclose(np.asarray(g), p.grad.numpy(), rtol=1e-9, atol=1e-13,
                                       err_msg=name)


def digits_net(key):
    """LeNet adapted to 8x8 digits: 3x3 convolutions padded to keep the size (5x5 ones would
    not fit twice), so the two 2x2 pools take 8x8 to 4x4 to 2x2 and the classifier sees
    16 * 2 * 2 features; the rest is the blitz's net."""
    return Net(key, in_channels=1, kernel_size=3, padding=1, features=16 * 2 * 2)


def test_cnn_learns_the_digits():
    pytest.importorskip("sklearn")
    start = time.perf_counter()
    (x_train, y_train), (x_test, y_test) = ft.data.load_digits()
    key, init_key = ft.random.split(ft.random.key(0))
    model = digits_net(init_key)
    epochs, batch = 15, 32
    steps = epochs * (len(y_train) // batch)
    opt = ft.optim.sgd(ft.optim.cosine_annealing_schedule(0.05, steps), momentum=0.9)
    state = opt.init(model)

    step = classifier_step(opt)

    for _ in range(epochs):
        key, sub = ft.random.split(key)
        for x, y in ft.data.batches((x_train, y_train), batch, key=sub, drop_last=True):
            model, state, loss = step(model, state, x, y)
    predicted = np.asarray(ft.jit(lambda m, x: fnp.argmax(m(x), axis=1))(model, x_test))
    accuracy = np.mean(predicted == y_test)
    elapsed = time.perf_counter() - start
    assert int(state.count) == steps and step.cache_info().misses == 1
    assert accuracy >= 0.95, f"test accuracy {accuracy:.3f}"
    assert elapsed < 60, f"training took {elapsed:.1f} s"
    assert all(np.isfinite(np.asarray(p)).all() for p in tree_leaves(model))
