"""The two-layer ReLU network on functrans arrays, backward pass still by hand; runs on a GPU
when one is available.

Ports the "Tensors" step of "Learning PyTorch with Examples" (seeds 000 and 001): the model,
data sizes, float32 and learning rate 1e-6 of the PyTorch version, 500 steps.

What to notice:
- `functrans.numpy` (imported as `fnp`) speaks NumPy: `x @ w1`, `fnp.maximum`, `.T`, `.sum()`.
- The arrays live on a device: `--device cuda` puts them on the GPU (through CuPy); the
  training code does not change.
- Arrays are immutable. NumPy's `grad_h[h < 0] = 0` becomes `fnp.where(h < 0, 0, grad_h)`,
  and `w1 -= ...` becomes `w1 = w1 - ...`: a new array, not an in-place update.

    python examples/two_layer_net_arrays.py [--steps 500] [--device cpu|cuda]
"""
import argparse

import numpy as np
from tqdm import tqdm

import functrans as ft
import functrans.numpy as fnp

N, D_in, H, D_out = 64, 1000, 100, 10
LEARNING_RATE = 1e-6


def default_device():
    """The first GPU if CuPy sees one, else the CPU."""
    gpus = ft.devices("cuda")
    return gpus[0] if gpus else ft.devices("cpu")[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="training steps (default 500)")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda or cuda:N (default: a GPU if available, else cpu)")
    args = parser.parse_args(argv)
    device = default_device() if args.device is None else args.device

    # The same random data as the NumPy example, as float32 arrays on the chosen device.
    rng = np.random.default_rng(0)

    def randn(*shape):
        return fnp.asarray(rng.standard_normal(shape).astype(np.float32), device=device)
    x, y = randn(N, D_in), randn(N, D_out)
    w1, w2 = randn(D_in, H), randn(H, D_out)
    print(f"running on {x.device}")

    losses = []
    for t in tqdm(range(args.steps), desc="training", disable=None):
        # Forward pass.
        h = x @ w1
        h_relu = fnp.maximum(h, 0)
        y_pred = h_relu @ w2

        # Loss; float() copies the scalar back to the host (like PyTorch's .item()).
        loss = float(((y_pred - y) ** 2).sum())
        losses.append(loss)
        if t % 100 == 99:
            tqdm.write(f"{t} {loss}")

        # Backward pass by hand, as in NumPy, but without in-place updates.
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.T @ grad_y_pred
        grad_h_relu = grad_y_pred @ w2.T
        grad_h = fnp.where(h < 0, 0, grad_h_relu)
        grad_w1 = x.T @ grad_h

        # Gradient descent: each step makes new weight arrays.
        w1 = w1 - LEARNING_RATE * grad_w1
        w2 = w2 - LEARNING_RATE * grad_w2

    return {"losses": losses, "w1": w1, "w2": w2}


if __name__ == "__main__":
    main()
