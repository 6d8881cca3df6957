"""ft.jit speed against hand-written NumPy, JAX and PyTorch, measured side by side in one run.

1. Training step of the seed's two-layer ReLU net (N=64, D_in=1000, H=100, D_out=10,
   sum-of-squares loss, one SGD step with lr=1e-6): `jit(value_and_grad)` and the update in
   one jitted function, in float32 and float64, against
   - the seed's hand-written NumPy backprop step (in-place update: `w1 -= lr * grad_w1`),
   - the same step under `jax.jit`, and PyTorch's autograd step from the seed.
   Targets: functrans <= 1.10x NumPy, and <= 0.9x JAX.
   Also shown: functrans with the parameters donated (`donate_argnums=0`), and with the
   batch passed as NumPy arrays (as data loaders hand it over; target: within noise of
   functrans arrays).
2. First call (trace + optimize + generate + compile + run) of a freshly defined step
   function, functrans against JAX. Target: JAX's first call >= 5x functrans's.
3. Calling a jitted tiny function (`x * 2 + 1` on 3 float32 elements) against the bare NumPy
   expression (and JAX's jitted call, PyTorch's eager expression). Target: <= 4x NumPy.

Times are medians over interleaved rounds (see _common.py); a peer that cannot be imported
is skipped. `--threads N` (default 1) sets the thread count of OpenBLAS (NumPy, functrans),
XLA (JAX) and PyTorch alike, before they are imported; `--threads 0` keeps each library's
default. One thread is the default because on a shared machine a multithreaded BLAS whose
threads are descheduled by other work measures the scheduler, not the code.

    python benchmarks/bench_jit.py [--rounds 40] [--threads 1] [--quick]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time


def _set_threads(argv):
    """Apply --threads before NumPy, JAX or PyTorch is imported."""
    n = "1"
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            n = argv[i + 1]
        elif a.startswith("--threads="):
            n = a.split("=", 1)[1]
    if int(n) > 0:
        import _threads
        _threads.limit(int(n))
    return int(n)


THREADS = _set_threads(sys.argv)

import numpy as np                           # noqa: E402

from _common import (optional, interleaved, median, ratio, fmt_time, table,  # noqa: E402
                     seed_backprop, seed_loss)

import functrans as ft                       # noqa: E402
import functrans.numpy as fnp                # noqa: E402

jax = optional("jax")
torch = optional("torch")
if torch is not None and THREADS > 0:
    torch.set_num_threads(THREADS)
if jax is not None:
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

N, D_IN, H, D_OUT = 64, 1000, 100, 10
LR = 1e-6


def make_data(dtype):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s).astype(dtype)
            for s in ((N, D_IN), (N, D_OUT), (D_IN, H), (H, D_OUT))]


# ------------------------------------------------------------------ the contenders
def numpy_contender(x, y, w1, w2):
    state = {}

    def reset():
        state["w1"], state["w2"] = w1.copy(), w2.copy()

    def step():
        w1_, w2_ = state["w1"], state["w2"]
        loss, grad_w1, grad_w2 = seed_backprop(x, y, w1_, w2_)
        w1_ -= LR * grad_w1
        w2_ -= LR * grad_w2
        return loss
    return step, reset


def make_ft_step(donate=False):
    def train_step(params, x, y):
        loss, grads = ft.value_and_grad(seed_loss)(params, x, y)
        return loss, tuple(p - LR * g for p, g in zip(params, grads))
    return ft.jit(train_step, donate_argnums=0 if donate else ())


def ft_contender(x, y, w1, w2, donate=False, numpy_batch=False):
    step_fn = make_ft_step(donate)
    xa, ya = (x, y) if numpy_batch else (fnp.asarray(x), fnp.asarray(y))
    state = {}

    def reset():
        state["p"] = (fnp.asarray(w1.copy()), fnp.asarray(w2.copy()))

    def step():
        loss, state["p"] = step_fn(state["p"], xa, ya)
        return loss
    return step, reset


def make_jax_step():
    def loss_fn(params, x, y):
        w1, w2 = params
        y_pred = jnp.maximum(x @ w1, 0) @ w2
        return jnp.sum((y_pred - y) ** 2)

    def train_step(params, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        return loss, tuple(p - LR * g for p, g in zip(params, grads))
    return jax.jit(train_step)


def jax_contender(x, y, w1, w2):
    step_fn = make_jax_step()
    xa, ya = jnp.asarray(x), jnp.asarray(y)
    state = {}

    def reset():
        state["p"] = (jnp.asarray(w1), jnp.asarray(w2))

    def step():
        loss, state["p"] = step_fn(state["p"], xa, ya)
        return loss.block_until_ready()
    return step, reset


def torch_contender(x, y, w1, w2):
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    state = {}

    def reset():
        state["w1"] = torch.from_numpy(w1.copy()).requires_grad_()
        state["w2"] = torch.from_numpy(w2.copy()).requires_grad_()

    def step():
        w1_, w2_ = state["w1"], state["w2"]
        loss = (xt.mm(w1_).clamp(min=0).mm(w2_) - yt).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            w1_ -= LR * w1_.grad
            w2_ -= LR * w2_.grad
            w1_.grad = None
            w2_.grad = None
        return loss
    return step, reset


# ------------------------------------------------------------------ the benchmarks
def bench_step(dtype, rounds, number):
    data = make_data(dtype)
    contenders = {"numpy": numpy_contender(*data), "functrans": ft_contender(*data),
                  "functrans donated": ft_contender(*data, donate=True),
                  "functrans numpy batch": ft_contender(*data, numpy_batch=True)}
    if jax is not None:
        contenders["jax"] = jax_contender(*data)
    if torch is not None:
        contenders["torch"] = torch_contender(*data)
    for step, reset in contenders.values():     # warm up: compile, fill caches
        reset()
        for _ in range(3):
            step()
    samples = interleaved({k: v[0] for k, v in contenders.items()}, rounds, number,
                          setup=lambda name: contenders[name][1]())
    return samples


def bench_first_call(dtype, repeats):
    data = make_data(dtype)
    ft_args = ((fnp.asarray(data[2]), fnp.asarray(data[3])), fnp.asarray(data[0]),
               fnp.asarray(data[1]))
    times = {"functrans": [], "jax": []}
    for _ in range(repeats):
        step_fn = make_ft_step()                  # a new function: nothing cached
        t0 = time.perf_counter()
        step_fn(*ft_args)[0].block_until_ready()
        times["functrans"].append(time.perf_counter() - t0)
        if jax is not None:
            jax_args = ((jnp.asarray(data[2]), jnp.asarray(data[3])), jnp.asarray(data[0]),
                        jnp.asarray(data[1]))
            jstep = make_jax_step()
            t0 = time.perf_counter()
            jstep(*jax_args)[0].block_until_ready()
            times["jax"].append(time.perf_counter() - t0)
    return times


def bench_tiny(rounds, number):
    x_np = np.arange(3, dtype=np.float32)
    x_ft = fnp.asarray(x_np)
    f_ft = ft.jit(lambda x: x * 2 + 1)
    contenders = {"numpy": lambda: x_np * 2 + 1, "functrans": lambda: f_ft(x_ft)}
    if jax is not None:
        x_jax = jnp.asarray(x_np)
        f_jax = jax.jit(lambda x: x * 2 + 1)
        contenders["jax"] = lambda: f_jax(x_jax).block_until_ready()
    if torch is not None:
        x_t = torch.from_numpy(x_np)
        contenders["torch"] = lambda: x_t * 2 + 1
    for fn in contenders.values():
        for _ in range(100):
            fn()
    np.testing.assert_array_equal(np.asarray(f_ft(x_ft)), x_np * 2 + 1)
    return interleaved(contenders, rounds, number)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for every library's kernels (0: library defaults)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for a smoke test")
    args = parser.parse_args()
    rounds = 5 if args.quick else args.rounds
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"jax {getattr(jax, '__version__', 'not installed')}, "
          f"torch {getattr(torch, '__version__', 'not installed')}, {platform.machine()}, "
          f"{os.cpu_count()} cpus, threads: {THREADS or 'library defaults'}")

    rows = []
    verdicts = []
    for dtype in (np.float32, np.float64):
        # short samples (3 steps), many rounds: both sides of a ratio see the same load
        s = bench_step(dtype, 4 * rounds, 3)
        name = np.dtype(dtype).name
        for k in s:
            rows.append([f"train step {name}", k, fmt_time(median(s[k])),
                         f"{ratio(s, k, 'numpy'):.2f}x",
                         f"{ratio(s, k, 'jax'):.2f}x" if "jax" in s else "-"])
        verdicts.append((f"step {name}: functrans / numpy", ratio(s, "functrans", "numpy"),
                         "<= 1.10"))
        verdicts.append((f"step {name}: numpy batch / functrans arrays",
                         ratio(s, "functrans numpy batch", "functrans"), "~1.00 (noise)"))
        if "jax" in s:
            verdicts.append((f"step {name}: functrans / jax", ratio(s, "functrans", "jax"),
                             "<= 0.90"))
    table(rows, ["benchmark", "contender", "median", "vs numpy", "vs jax"])
    print()

    first = bench_first_call(np.float32, 3 if args.quick else 7)
    rows = [["first call f32", k, fmt_time(median(v)), f"{len(v)} runs"]
            for k, v in first.items() if v]
    table(rows, ["benchmark", "contender", "median", ""])
    if first["jax"]:
        verdicts.append(("first call: jax / functrans",
                         median(first["jax"]) / median(first["functrans"]), ">= 5"))
    print()

    s = bench_tiny(rounds, 2000)
    rows = [["tiny call x*2+1", k, fmt_time(median(s[k])), f"{ratio(s, k, 'numpy'):.2f}x"]
            for k in s]
    table(rows, ["benchmark", "contender", "median", "vs numpy"])
    verdicts.append(("tiny call: functrans / numpy", ratio(s, "functrans", "numpy"), "<= 4"))
    if "jax" in s:
        verdicts.append(("tiny call: jax / numpy", ratio(s, "jax", "numpy"), "(reference)"))
    print()

    table([[name, f"{value:.2f}", target] for name, value, target in verdicts],
          ["ratio", "value", "target"])


if __name__ == "__main__":
    main()
