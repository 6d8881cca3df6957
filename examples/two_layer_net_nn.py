"""The two-layer ReLU network built from `ft.nn` layers, its parameters updated by hand.

Ports the "nn" step of "Learning PyTorch with Examples" (seeds 000 and 001):
`Sequential(Linear(D_in, H), ReLU(), Linear(H, D_out))`, the summed squared error
(`MSELoss(reduction='sum')`), 500 steps of gradient descent with learning rate 1e-4, each
parameter updated by hand.

What to notice:
- Layers draw their initial weights (PyTorch's initialization) from an explicit random key,
  split into one key per layer, instead of a hidden global generator.
- The model is a value: a pytree whose leaves are its weights and biases. The gradient of a
  loss with respect to the model is a model-shaped tree of gradients, so the seed's
  `for param in model.parameters(): param -= learning_rate * param.grad` becomes one
  `ft.tree_map` that builds the next model. There is no `zero_grad()` and no
  `torch.no_grad()`: nothing is recorded outside `ft.value_and_grad`.
- The whole step (loss, gradients, update) is one function compiled by `ft.jit`.

    python examples/two_layer_net_nn.py [--steps 500]
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


@ft.jit
def train_step(model, x, y):
    """One step of gradient descent; returns the new model and the loss before the step."""
    loss, grads = ft.value_and_grad(lambda m: loss_fn(m(x), y))(model)
    model = ft.tree_map(lambda param, grad: param - LEARNING_RATE * grad, model, grads)
    return model, loss


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="training steps (default 500)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x = fnp.asarray(rng.standard_normal((N, D_in)).astype(np.float32))
    y = fnp.asarray(rng.standard_normal((N, D_out)).astype(np.float32))
    model = build_model(ft.random.key(0))
    print(model)

    losses = []
    for t in tqdm(range(args.steps), desc="training", disable=None):
        model, loss = train_step(model, x, y)
        losses.append(float(loss))
        if t % 100 == 99:
            tqdm.write(f"{t} {losses[-1]}")

    return {"losses": losses, "model": model}


if __name__ == "__main__":
    main()
