"""The two-layer ReLU network trained with the Adam optimizer from `ft.optim`.

Ports the "optim" step of "Learning PyTorch with Examples" (seeds 000 and 001): the same
`Sequential` model and summed squared error, Adam with learning rate 1e-4, 500 steps.

What to notice:
- An optimizer is a pair of pure functions. `optimizer.init(model)` makes its state (Adam's
  running averages and step count, shaped like the model); `optimizer.update(grads, state,
  model)` returns the updates to add and the next state; `ft.optim.apply_updates` adds them.
  This replaces `optimizer.zero_grad()`, `loss.backward()` and `optimizer.step()`, which
  change tensors in place.
- The math is PyTorch's: the same model trained with `torch.optim.Adam` follows the same
  losses.
- The optimizer state is just another argument of the jitted step, returned updated.

    python examples/two_layer_net_optim.py [--steps 500]
"""
import argparse

import numpy as np
from tqdm import tqdm

import functrans as ft
import functrans.numpy as fnp

N, D_in, H, D_out = 64, 1000, 100, 10
LEARNING_RATE = 1e-4


def build_model(key):
    """The seed's Sequential, its two Linear layers initialized from `key`."""
    key1, key2 = ft.random.split(key)
    return ft.nn.Sequential(
        ft.nn.Linear(D_in, H, key=key1),
        ft.nn.ReLU(),
        ft.nn.Linear(H, D_out, key=key2),
    )


loss_fn = ft.nn.MSELoss(reduction="sum")
optimizer = ft.optim.adam(LEARNING_RATE)


@ft.jit
def train_step(model, opt_state, x, y):
    """One Adam step; returns the new model and optimizer state, and the loss before it."""
    loss, grads = ft.value_and_grad(lambda m: loss_fn(m(x), y))(model)
    updates, opt_state = optimizer.update(grads, opt_state, model)
    return ft.optim.apply_updates(model, updates), opt_state, loss


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="training steps (default 500)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x = fnp.asarray(rng.standard_normal((N, D_in)).astype(np.float32))
    y = fnp.asarray(rng.standard_normal((N, D_out)).astype(np.float32))
    model = build_model(ft.random.key(0))
    opt_state = optimizer.init(model)

    losses = []
    for t in tqdm(range(args.steps), desc="training", disable=None):
        model, opt_state, loss = train_step(model, opt_state, x, y)
        losses.append(float(loss))
        if t % 100 == 99:
            tqdm.write(f"{t} {losses[-1]}")

    return {"losses": losses, "model": model, "opt_state": opt_state}


if __name__ == "__main__":
    main()
