"""The seed's DynamicNet ("PyTorch: dynamic graphs"): a random 0-3 reuses of one middle layer
per forward pass, trained with SGD + momentum 0.9, lr 1e-4, on the summed squared error.

Here the depth is a traced argument of one jitted gradient function (a fori_loop with a
traced trip count), so every depth runs the same compiled code without retracing; reverse
mode keeps a record of the loop's iterations. Gradients are checked against the unrolled
Python computation and, when PyTorch is installed, against PyTorch with the same depths."""
import random

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax

N, D_IN, H, D_OUT = 64, 1000, 100, 10


def init(rng, dtype):
    """PyTorch's nn.Linear initialization: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); weights are
    (out, in) as in PyTorch."""
    def linear(fan_in, fan_out):
        bound = 1 / np.sqrt(fan_in)
        return {"w": rng.uniform(-bound, bound, (fan_out, fan_in)).astype(dtype),
                "b": rng.uniform(-bound, bound, fan_out).astype(dtype)}
    return {"input": linear(D_IN, H), "middle": linear(H, H), "output": linear(H, D_OUT)}


def linear(p, x):
    return x @ p["w"].T + p["b"]


def forward(params, x, depth):
    h = fnp.maximum(linear(params["input"], x), 0)
    h = lax.fori_loop(0, depth, lambda i, h: fnp.maximum(linear(params["middle"], h), 0), h)
    return linear(params["output"], h)


def loss_fn(params, x, y, depth):
    return fnp.sum((forward(params, x, depth) - y) ** 2)


def unrolled_loss(params, x, y, depth):
    h = fnp.maximum(linear(params["input"], x), 0)
    for _ in range(depth):
        h = fnp.maximum(linear(params["middle"], h), 0)
    return fnp.sum((linear(params["output"], h) - y) ** 2)


def sgd_momentum(params, grads, velocity, depth, lr=1e-4, momentum=0.9):
    """torch.optim.SGD(lr, momentum): v = momentum * v + g; p = p - lr * v. As in PyTorch, a
    layer that took no part in the forward pass (the middle one at depth 0, whose .grad is
    None there) is left alone, momentum included."""
    new_v = ft.tree_map(lambda v, g: momentum * v + g, velocity, grads)
    new_p = ft.tree_map(lambda p, v: p - lr * v, params, new_v)
    if depth == 0:
        new_v["middle"], new_p["middle"] = velocity["middle"], params["middle"]
    return new_p, new_v


def data(dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D_IN)).astype(dtype)
    y = rng.standard_normal((N, D_OUT)).astype(dtype)
    return rng, x, y


def close(a, b, rtol, atol=0.0):
    for u, v in zip(ft.tree_leaves(a), ft.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=rtol, atol=atol)


def test_gradient_matches_the_unrolled_computation_for_every_depth():
    rng, x, y = data(np.float64)
    params = ft.tree_map(fnp.asarray, init(rng, np.float64))
    x, y = fnp.asarray(x), fnp.asarray(y)
    step = ft.jit(ft.value_and_grad(loss_fn))
    for depth in [0, 1, 2, 3, 2, 0]:
        value, grads = step(params, x, y, depth)
        want_value, want = ft.value_and_grad(unrolled_loss)(params, x, y, depth)
        close(value, want_value, rtol=1e-12)
        close(grads, want, rtol=1e-10, atol=1e-12)
    assert step.cache_info().misses == 1          # one trace serves every depth
    # grad of a jitted loss splits it into a compiled forward and backward pass
    close(ft.grad(ft.jit(loss_fn))(params, x, y, 3), ft.grad(unrolled_loss)(params, x, y, 3),
          rtol=1e-10, atol=1e-12)


def train(steps, dtype, seed=0):
    rng, x, y = data(dtype, seed)
    params = ft.tree_map(fnp.asarray, init(rng, dtype))
    x, y = fnp.asarray(x), fnp.asarray(y)
    velocity = ft.tree_map(fnp.zeros_like, params)
    step = ft.jit(ft.value_and_grad(loss_fn))
    depths = random.Random(seed)
    losses = []
    for _ in range(steps):
        depth = depths.randint(0, 3)
        value, grads = step(params, x, y, depth)
        losses.append(float(value))
        params, velocity = sgd_momentum(params, grads, velocity, depth)
    return losses, params, step


def test_training_with_random_depths_matches_the_unrolled_reference():
    losses, params, step = train(30, np.float64)
    assert step.cache_info().misses == 1
    rng, x, y = data(np.float64)
    ref = ft.tree_map(fnp.asarray, init(rng, np.float64))
    x, y = fnp.asarray(x), fnp.asarray(y)
    velocity = ft.tree_map(fnp.zeros_like, ref)
    depths = random.Random(0)
    ref_losses = []
    for _ in range(30):
        depth = depths.randint(0, 3)
        value, grads = ft.value_and_grad(unrolled_loss)(ref, x, y, depth)
        ref_losses.append(float(value))
        ref, velocity = sgd_momentum(ref, grads, velocity, depth)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-10)
    close(params, ref, rtol=1e-9, atol=1e-12)


def test_training_inside_one_jitted_scan_matches_the_step_loop():
    """The whole run as one jitted scan over the depths: the carried parameters and momenta
    are updated in place from the second step on, and at depth 0 the middle layer keeps its
    old values (a select whose kept operand is the dying carry)."""
    losses, params, _ = train(12, np.float64)
    rng, x, y = data(np.float64)
    p0 = ft.tree_map(fnp.asarray, init(rng, np.float64))
    x, y = fnp.asarray(x), fnp.asarray(y)
    depths = random.Random(0)
    depths = fnp.asarray([depths.randint(0, 3) for _ in range(12)])

    def body(carry, depth):
        params, velocity = carry
        value, grads = ft.value_and_grad(loss_fn)(params, x, y, depth)
        new_v = ft.tree_map(lambda v, g: 0.9 * v + g, velocity, grads)
        new_p = ft.tree_map(lambda p, v: p - 1e-4 * v, params, new_v)

        def keep(new, old):
            return fnp.where(depth == 0, old, new)
        new_v["middle"] = ft.tree_map(keep, new_v["middle"], velocity["middle"])
        new_p["middle"] = ft.tree_map(keep, new_p["middle"], params["middle"])
        return (new_p, new_v), value
    run = ft.jit(lambda p, v, d: lax.scan(body, (p, v), d))
    (got, _), values = run(p0, ft.tree_map(fnp.zeros_like, p0), depths)
    np.testing.assert_allclose(np.asarray(values), losses, rtol=1e-10)
    close(got, params, rtol=1e-9, atol=1e-12)


def test_matches_pytorch_with_the_same_depths():
    torch = pytest.importorskip("torch")
    rng, x, y = data(np.float64)
    p0 = init(rng, np.float64)

    class DynamicNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.input_linear = torch.nn.Linear(D_IN, H).double()
            self.middle_linear = torch.nn.Linear(H, H).double()
            self.output_linear = torch.nn.Linear(H, D_OUT).double()

        def forward(self, x, depth):
            h_relu = self.input_linear(x).clamp(min=0)
            for _ in range(depth):
                h_relu = self.middle_linear(h_relu).clamp(min=0)
            return self.output_linear(h_relu)
    model = DynamicNet()
    with torch.no_grad():
        for name, layer in [("input", model.input_linear), ("middle", model.middle_linear),
                            ("output", model.output_linear)]:
            layer.weight.copy_(torch.from_numpy(p0[name]["w"]))
            layer.bias.copy_(torch.from_numpy(p0[name]["b"]))
    criterion = torch.nn.MSELoss(reduction="sum")
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    depths = random.Random(0)
    torch_losses = []
    for _ in range(30):
        loss = criterion(model(xt, depths.randint(0, 3)), yt)
        torch_losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    losses, params, _ = train(30, np.float64)
    np.testing.assert_allclose(losses, torch_losses, rtol=1e-9)
    np.testing.assert_allclose(np.asarray(params["middle"]["w"]),
                               model.middle_linear.weight.detach().numpy(), rtol=1e-8, atol=1e-12)


def test_seed_training_run_float32():
    # the seed's run: 500 steps in float32; the loss falls by orders of magnitude
    losses, _, step = train(500, np.float32)
    assert step.cache_info().misses == 1
    assert losses[-1] < 1e-2 * losses[0]
    assert all(np.isfinite(losses))


def test_per_example_gradients_with_per_example_depths():
    rng, x, y = data(np.float64)
    params = ft.tree_map(fnp.asarray, init(rng, np.float64))
    xs, ys = fnp.asarray(x[:6]), fnp.asarray(y[:6])
    depths = fnp.asarray(np.array([0, 3, 1, 2, 3, 0]))
    per_example = ft.jit(ft.vmap(ft.grad(loss_fn), in_axes=(None, 0, 0, 0)))
    got = per_example(params, xs, ys, depths)
    for i in range(6):
        want = ft.grad(unrolled_loss)(params, xs[i], ys[i], int(depths[i]))
        close(ft.tree_map(lambda g: g[i], got), want, rtol=1e-10, atol=1e-12)
