"""The two-layer ReLU network as a custom module, trained with SGD from `ft.optim`.

Ports the "custom nn Module" step of "Learning PyTorch with Examples" (seeds 000 and 001):
a `TwoLayerNet` class holding two Linear layers, the summed squared error, SGD with learning
rate 1e-4, 500 steps.

What to notice:
- A module is a class: subclass `ft.nn.Module`, assign the layers in `__init__` (as in
  PyTorch, minus `super().__init__()`) and define `__call__` (`forward` works too). The
  class becomes an immutable pytree, so `ft.grad`, `ft.jit` and the optimizers see its
  weights as leaves; `print(model)` prints it the way PyTorch does.
- PyTorch's `.clamp(min=0)` is `ft.nn.relu`. Any functrans operation can be used in
  `__call__`, as any tensor operation can in `forward`.

    python examples/two_layer_net_module.py [--steps 500]
"""
import argparse

import numpy as np
from tqdm import tqdm

import functrans as ft
import functrans.numpy as fnp

N, D_in, H, D_out = 64, 1000, 100, 10
LEARNING_RATE = 1e-4


class TwoLayerNet(ft.nn.Module):
    def __init__(self, D_in, H, D_out, *, key):
        key1, key2 = ft.random.split(key)
        self.linear1 = ft.nn.Linear(D_in, H, key=key1)
        self.linear2 = ft.nn.Linear(H, D_out, key=key2)

    def __call__(self, x):
        h_relu = ft.nn.relu(self.linear1(x))
        return self.linear2(h_relu)


criterion = ft.nn.MSELoss(reduction="sum")
optimizer = ft.optim.sgd(LEARNING_RATE)


@ft.jit
def train_step(model, opt_state, x, y):
    """One SGD step; returns the new model and optimizer state, and the loss before it."""
    loss, grads = ft.value_and_grad(lambda m: criterion(m(x), y))(model)
    updates, opt_state = optimizer.update(grads, opt_state, model)
    return ft.optim.apply_updates(model, updates), opt_state, loss


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="training steps (default 500)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x = fnp.asarray(rng.standard_normal((N, D_in)).astype(np.float32))
    y = fnp.asarray(rng.standard_normal((N, D_out)).astype(np.float32))
    model = TwoLayerNet(D_in, H, D_out, key=ft.random.key(0))
    print(model)
    opt_state = optimizer.init(model)

    losses = []
    for t in tqdm(range(args.steps), desc="training", disable=None):
        model, opt_state, loss = train_step(model, opt_state, x, y)
        losses.append(float(loss))
        if t % 100 == 99:
            tqdm.write(f"{t} {losses[-1]}")

    return {"losses": losses, "model": model}


if __name__ == "__main__":
    main()
