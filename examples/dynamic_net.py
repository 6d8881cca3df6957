"""Control flow and weight sharing: a network whose depth is drawn at random on every pass,
compiled once.

Ports the "dynamic graphs" step of "Learning PyTorch with Examples" (seeds 000 and 001): the
`DynamicNet` applies an input layer, then the same middle layer 0, 1, 2 or 3 times (drawn at
random for each forward pass), then an output layer; summed squared error, SGD with
momentum 0.9 and learning rate 1e-4, 500 steps.

What to notice:
- PyTorch re-records its graph on every pass, so a Python `for` loop over a random count
  just works there. Under `ft.jit` a Python loop would be unrolled while tracing, and every
  new depth would trace and compile again. `ft.lax.fori_loop(0, depth, body, h)` is a loop
  *inside* the traced program: `depth` is an ordinary (traced) argument, the program is
  traced once, and every depth runs the same compiled code. `ft.grad` differentiates
  through it, however many times the loop ran.
- Weight sharing needs nothing special: the loop body uses the one `middle_linear`, and its
  gradient adds up the contributions of every use.
- A layer that took no part in a pass has a zero gradient here, where PyTorch leaves its
  `.grad` at None and `torch.optim.SGD` skips it (its momentum too). To train exactly as the
  seed does, the step keeps the middle layer and its momentum unchanged when the depth is 0.

    python examples/dynamic_net.py [--steps 500]
"""
import argparse
import random

import numpy as np
from tqdm import tqdm

import functrans as ft
import functrans.numpy as fnp

N, D_in, H, D_out = 64, 1000, 100, 10
LEARNING_RATE = 1e-4
MOMENTUM = 0.9


class DynamicNet(ft.nn.Module):
    def __init__(self, D_in, H, D_out, *, key):
        keys = ft.random.split(key, 3)
        self.input_linear = ft.nn.Linear(D_in, H, key=keys[0])
        self.middle_linear = ft.nn.Linear(H, H, key=keys[1])
        self.output_linear = ft.nn.Linear(H, D_out, key=keys[2])

    def __call__(self, x, depth):
        """`depth` (0 to 3 in the seed) is how many times the middle layer is applied."""
        h_relu = ft.nn.relu(self.input_linear(x))
        h_relu = ft.lax.fori_loop(0, depth, lambda i, h: ft.nn.relu(self.middle_linear(h)),
                                  h_relu)
        return self.output_linear(h_relu)


criterion = ft.nn.MSELoss(reduction="sum")
optimizer = ft.optim.sgd(LEARNING_RATE, momentum=MOMENTUM)


def keep_if(unused, new, old):
    """`old` where `unused` (a traced boolean) holds, else `new`, leaf by leaf."""
    return ft.tree_map(lambda n, o: fnp.where(unused, o, n), new, old)


@ft.jit
def train_step(model, opt_state, x, y, depth):
    """One SGD-with-momentum step at the given depth; returns the new model and optimizer
    state, and the loss before the step."""
    loss, grads = ft.value_and_grad(lambda m: criterion(m(x, depth), y))(model)
    updates, new_state = optimizer.update(grads, opt_state, model)
    new_model = ft.optim.apply_updates(model, updates)
    # As in PyTorch, a middle layer that was not used is not updated, momentum included.
    unused = depth == 0
    new_model = new_model.replace(
        middle_linear=keep_if(unused, new_model.middle_linear, model.middle_linear))
    buffers = new_state.momentum_buffer
    new_state = new_state._replace(momentum_buffer=buffers.replace(middle_linear=keep_if(
        unused, buffers.middle_linear, opt_state.momentum_buffer.middle_linear)))
    return new_model, new_state, loss


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="training steps (default 500)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x = fnp.asarray(rng.standard_normal((N, D_in)).astype(np.float32))
    y = fnp.asarray(rng.standard_normal((N, D_out)).astype(np.float32))
    model = DynamicNet(D_in, H, D_out, key=ft.random.key(0))
    opt_state = optimizer.init(model)
    depths = random.Random(0)          # the seed's random.randint(0, 3), seeded

    losses, used_depths = [], []
    for t in tqdm(range(args.steps), desc="training", disable=None):
        depth = depths.randint(0, 3)
        model, opt_state, loss = train_step(model, opt_state, x, y, depth)
        losses.append(float(loss))
        used_depths.append(depth)
        if t % 100 == 99:
            tqdm.write(f"{t} {losses[-1]}")

    print(f"compiled {train_step.cache_info().misses} time(s) for depths "
          f"{sorted(set(used_depths))}")
    return {"losses": losses, "depths": used_depths, "model": model,
            "compilations": train_step.cache_info().misses}


if __name__ == "__main__":
    main()
