"""The two-layer ReLU network with a ReLU whose derivative we define ourselves.

Ports the "Defining new autograd functions" step of "Learning PyTorch with Examples" (seeds
000 and 001, `MyReLU(torch.autograd.Function)`): same model, float32 data, learning rate
1e-6, 500 steps.

What to notice: `@ft.custom_vjp` plays the role of `torch.autograd.Function`.
- `relu` itself is the forward computation.
- `relu_fwd` runs the forward pass and returns the output plus the residuals the backward
  pass needs (PyTorch's `ctx.save_for_backward`).
- `relu_bwd` receives those residuals and the gradient of the loss with respect to the
  output, and returns a tuple with one gradient per input.
Everything else (ft.grad, ft.jit, ft.vmap) uses your rule wherever `relu` appears.

    python examples/two_layer_net_custom_function.py [--steps 500]
"""
import argparse

import numpy as np
from tqdm import tqdm

import functrans as ft
import functrans.numpy as fnp

N, D_in, H, D_out = 64, 1000, 100, 10
LEARNING_RATE = 1e-6


@ft.custom_vjp
def relu(x):
    return fnp.maximum(x, 0)


def relu_fwd(x):
    return relu(x), x                     # the output, and x saved for the backward pass


def relu_bwd(x, grad_output):
    return (fnp.where(x < 0, 0, grad_output),)


relu.defvjp(relu_fwd, relu_bwd)


def loss_fn(w1, w2, x, y):
    y_pred = relu(x @ w1) @ w2
    return ((y_pred - y) ** 2).sum()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="training steps (default 500)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)

    def randn(*shape):
        return fnp.asarray(rng.standard_normal(shape).astype(np.float32))
    x, y = randn(N, D_in), randn(N, D_out)
    w1, w2 = randn(D_in, H), randn(H, D_out)

    loss_and_grads = ft.jit(ft.value_and_grad(loss_fn, argnums=(0, 1)))
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
