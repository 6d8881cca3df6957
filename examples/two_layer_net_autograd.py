"""The two-layer ReLU network with gradients from `ft.grad` instead of by hand.

Ports the "Autograd" step of "Learning PyTorch with Examples" (seeds 000, 001 and 002): the
same model, float32 data and learning rate 1e-6, 500 steps.

What to notice:
- The loss is an ordinary Python function of the weights. `ft.value_and_grad(loss_fn,
  argnums=(0, 1))` is a new function returning the loss and its gradients with respect to
  arguments 0 and 1 (w1 and w2). There is no `requires_grad`, no `.backward()`, no
  `.grad` to zero: gradients are return values.
- `ft.jit` compiles that function once for these shapes and reuses it every step. Pass
  `--eager` to run without it: the numbers are the same, only slower.

    python examples/two_layer_net_autograd.py [--steps 500] [--eager]
"""
import argparse

import numpy as np
from tqdm import tqdm

import functrans as ft
import functrans.numpy as fnp

N, D_in, H, D_out = 64, 1000, 100, 10
LEARNING_RATE = 1e-6


def loss_fn(w1, w2, x, y):
    """Summed squared error of the two-layer ReLU net."""
    y_pred = fnp.maximum(x @ w1, 0) @ w2
    return ((y_pred - y) ** 2).sum()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="training steps (default 500)")
    parser.add_argument("--eager", action="store_true", help="do not compile with ft.jit")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)

    def randn(*shape):
        return fnp.asarray(rng.standard_normal(shape).astype(np.float32))
    x, y = randn(N, D_in), randn(N, D_out)
    w1, w2 = randn(D_in, H), randn(H, D_out)

    # loss and gradients with respect to w1 and w2 (arguments 0 and 1)
    loss_and_grads = ft.value_and_grad(loss_fn, argnums=(0, 1))
    if not args.eager:
        loss_and_grads = ft.jit(loss_and_grads)

    losses = []
    for t in tqdm(range(args.steps), desc="training", disable=None):
        loss, (grad_w1, grad_w2) = loss_and_grads(w1, w2, x, y)
        losses.append(float(loss))
        if t % 100 == 99:
            tqdm.write(f"{t} {losses[-1]}")

        w1 = w1 - LEARNING_RATE * grad_w1
        w2 = w2 - LEARNING_RATE * grad_w2

    return {"losses": losses, "w1": w1, "w2": w2}


if __name__ == "__main__":
    main()
