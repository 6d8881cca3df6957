"""A two-layer ReLU network in plain NumPy, with the backward pass written by hand.

Ports the NumPy warm-up of "Learning PyTorch with Examples" (seeds 000 and 001): 64 random
inputs of size 1000, a hidden layer of 100 ReLU units, 10 outputs, the summed squared error,
and 500 steps of gradient descent with learning rate 1e-6.

What to notice: every gradient below is derived by hand, one chain-rule line per layer. The
next examples keep the model and change only this part: two_layer_net_arrays runs the same
lines on functrans arrays (on a GPU if you have one), and two_layer_net_autograd lets
`ft.grad` derive them.

    python examples/two_layer_net_numpy.py [--steps 500]
"""
import argparse

import numpy as np
from tqdm import tqdm

# N is the batch size; D_in the input size; H the hidden size; D_out the output size.
N, D_in, H, D_out = 64, 1000, 100, 10
LEARNING_RATE = 1e-6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="training steps (default 500)")
    args = parser.parse_args(argv)

    # Random inputs and targets, and random initial weights (float64, as NumPy makes them).
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, D_in))
    y = rng.standard_normal((N, D_out))
    w1 = rng.standard_normal((D_in, H))
    w2 = rng.standard_normal((H, D_out))

    losses = []
    for t in tqdm(range(args.steps), desc="training", disable=None):
        # Forward pass: compute the prediction.
        h = x.dot(w1)
        h_relu = np.maximum(h, 0)
        y_pred = h_relu.dot(w2)

        # The loss: summed squared error. Print it every 100 steps.
        loss = np.square(y_pred - y).sum()
        losses.append(float(loss))
        if t % 100 == 99:
            tqdm.write(f"{t} {loss}")

        # Backward pass: the gradients of the loss with respect to w1 and w2, by hand.
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.T.dot(grad_y_pred)
        grad_h_relu = grad_y_pred.dot(w2.T)
        grad_h = grad_h_relu.copy()
        grad_h[h < 0] = 0
        grad_w1 = x.T.dot(grad_h)

        # Gradient descent, updating the weights in place.
        w1 -= LEARNING_RATE * grad_w1
        w2 -= LEARNING_RATE * grad_w2

    return {"losses": losses, "w1": w1, "w2": w2}


if __name__ == "__main__":
    main()
