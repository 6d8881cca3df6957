"""Fit y = sin(x) on [-pi, pi] with a cubic, the same problem solved several ways.

Ports the "fit sin(x)" tutorial (seed 003), one section per step of it, each with the seed's
initial values, learning rate and 2000 steps, printing the loss at t = 99, 199, ...:

  numpy     NumPy, gradients by hand (float64, random start, lr 1e-6)
  arrays    functrans arrays, gradients by hand (float32, random start, lr 1e-6)
  grad      the same loss, gradients from `ft.grad` (float32, random start, lr 1e-6)
  legendre  y = a + b * P3(c + d x) with a custom derivative for the Legendre polynomial
            P3 (`ft.custom_vjp`; start a=0, b=-1, c=0, d=0.3, lr 5e-6)

What to notice: the loss is the same function of (a, b, c, d) throughout; only the way we
get its gradient changes. With `ft.grad` there is no `.grad` to zero after each step, and
the parameters are plain values passed in and returned.

    python examples/polynomial_fit.py [--steps 2000] [--section NAME ...]
"""
import argparse
import math
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

import functrans as ft
import functrans.numpy as fnp

SECTIONS = {}


class Fit(NamedTuple):
    losses: list          # the loss at every step
    result: str           # the fitted function, as the seed prints it
    params: tuple         # the fitted parameters, as floats


def section(fun):
    """Register a fitting method under its name (`fit_numpy` -> "numpy")."""
    SECTIONS[fun.__name__.removeprefix("fit_")] = fun
    return fun


def train(params, loss_and_grads, steps, learning_rate):
    """Gradient descent shared by the functrans sections: `loss_and_grads(params)` returns
    the loss and a tuple of gradients, one per parameter."""
    losses = []
    for t in tqdm(range(steps), desc="training", leave=False, disable=None):
        loss, grads = loss_and_grads(params)
        losses.append(float(loss))
        if t % 100 == 99:
            tqdm.write(f"{t} {losses[-1]}")
        params = tuple(p - learning_rate * g for p, g in zip(params, grads))
    return losses, tuple(float(p) for p in params)


def cubic(params, x):
    a, b, c, d = params
    return a + b * x + c * x ** 2 + d * x ** 3


def cubic_result(a, b, c, d):
    return f"y = {a} + {b} x + {c} x^2 + {d} x^3"


def sine_data(xp, dtype):
    x = xp.linspace(-math.pi, math.pi, 2000, dtype=dtype)
    return x, xp.sin(x)


@section
def fit_numpy(steps, rng):
    """NumPy, gradients by hand."""
    x, y = sine_data(np, np.float64)
    a, b, c, d = rng.standard_normal(4)
    learning_rate = 1e-6
    losses = []
    for t in tqdm(range(steps), desc="training", leave=False, disable=None):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = np.square(y_pred - y).sum()
        losses.append(float(loss))
        if t % 100 == 99:
            tqdm.write(f"{t} {loss}")

        grad_y_pred = 2.0 * (y_pred - y)
        grad_a = grad_y_pred.sum()
        grad_b = (grad_y_pred * x).sum()
        grad_c = (grad_y_pred * x ** 2).sum()
        grad_d = (grad_y_pred * x ** 3).sum()

        a -= learning_rate * grad_a
        b -= learning_rate * grad_b
        c -= learning_rate * grad_c
        d -= learning_rate * grad_d
    params = (float(a), float(b), float(c), float(d))
    return Fit(losses, cubic_result(*params), params)


def random_scalars(rng, n):
    """n float32 scalars drawn from a standard normal, as functrans arrays."""
    return tuple(fnp.asarray(v) for v in rng.standard_normal(n).astype(np.float32))


@section
def fit_arrays(steps, rng):
    """functrans arrays, gradients by hand."""
    x, y = sine_data(fnp, fnp.float32)

    def loss_and_grads(params):
        y_pred = cubic(params, x)
        grad_y_pred = 2.0 * (y_pred - y)
        grads = (grad_y_pred.sum(), (grad_y_pred * x).sum(),
                 (grad_y_pred * x ** 2).sum(), (grad_y_pred * x ** 3).sum())
        return ((y_pred - y) ** 2).sum(), grads
    losses, params = train(random_scalars(rng, 4), loss_and_grads, steps, 1e-6)
    return Fit(losses, cubic_result(*params), params)


@section
def fit_grad(steps, rng):
    """Gradients from ft.grad."""
    x, y = sine_data(fnp, fnp.float32)

    def loss(params):
        return ((cubic(params, x) - y) ** 2).sum()
    # params is a tuple, so the gradient is a tuple of the same shape
    losses, params = train(random_scalars(rng, 4), ft.jit(ft.value_and_grad(loss)), steps,
                           1e-6)
    return Fit(losses, cubic_result(*params), params)


@ft.custom_vjp
def legendre_p3(x):
    """The Legendre polynomial of degree 3, P3(x) = (5x^3 - 3x) / 2."""
    return 0.5 * (5 * x ** 3 - 3 * x)


def _legendre_p3_fwd(x):
    return legendre_p3(x), x              # the output, and x saved for the backward pass


def _legendre_p3_bwd(x, grad_output):
    return (grad_output * 1.5 * (5 * x ** 2 - 1),)   # P3'(x) = (15x^2 - 3) / 2


legendre_p3.defvjp(_legendre_p3_fwd, _legendre_p3_bwd)


@section
def fit_legendre(steps, rng):
    """y = a + b * P3(c + d x), P3 with a custom derivative."""
    x, y = sine_data(fnp, fnp.float32)

    def loss(params):
        a, b, c, d = params
        y_pred = a + b * legendre_p3(c + d * x)
        return ((y_pred - y) ** 2).sum()
    # The seed starts from fixed values: far from them this model does not converge.
    start = tuple(fnp.full((), v, fnp.float32) for v in (0.0, -1.0, 0.0, 0.3))
    losses, (a, b, c, d) = train(start, ft.jit(ft.value_and_grad(loss)), steps, 5e-6)
    return Fit(losses, f"y = {a} + {b} * P3({c} + {d} x)", (a, b, c, d))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000,
                        help="training steps per section (default 2000)")
    parser.add_argument("--section", nargs="+", choices=list(SECTIONS), default=list(SECTIONS),
                        help="which sections to run (default: all)")
    args = parser.parse_args(argv)

    fits = {}
    for name in args.section:
        fit = SECTIONS[name]
        print(f"== {name}: {fit.__doc__}")
        fits[name] = fit(args.steps, np.random.default_rng(0))
        print(f"Result: {fits[name].result}\n")
    return fits


if __name__ == "__main__":
    main()
