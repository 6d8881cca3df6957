"""LeNet training step (the blitz's CIFAR-10 net: conv 3->6 5x5, max-pool 2, conv 6->16 5x5,
max-pool 2, fc 400->120->84->10, cross-entropy, SGD with momentum 0.9), float32, on the CPU.

Times one jitted functrans step against PyTorch eager (and JAX jit when importable) in one run.
Each contender lives in its own worker process (their thread pools would otherwise fight over
the cores: PyTorch's OpenMP threads, OpenBLAS's and XLA's all spin while idle), and the driver
interleaves them round by round so that machine load affects them alike; before each timed
chunk it pauses `--settle` seconds, so the thread pools of the contender timed just before
(OpenBLAS's threads keep spinning for a while after their last call) have gone to sleep and do
not steal the cores from the next one. Prints medians and ratios, plus the first call of each
jitted step (trace + compile).

    python benchmarks/bench_lenet.py [--batch 4 64] [--rounds 15] [--steps 20] [--threads N]
                                     [--settle 0.2] [--malloc-cache]

`--threads N` caps every contender's thread pools (OpenBLAS, OpenMP, PyTorch, XLA) at N; by
default each library picks its own. `--malloc-cache` tells glibc's malloc (in every contender)
to keep freed memory instead of returning large blocks to the system: NumPy allocates each
result afresh, and on Linux a large fresh block costs a page fault per 4 KiB when first
written, which PyTorch's caching allocator avoids.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time

import numpy as np

_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path[:0] = [_ROOT, os.path.join(_ROOT, "tests")]

import functrans as ft  # noqa: E402
from lenet import Net, classifier_step, torch_net  # noqa: E402   the tests' LeNet

LR, MOMENTUM = 0.001, 0.9


def _stepper(step, params, state, x, y):
    """`run()`, one jitted step on the carried (params, state), and the first call's time
    (trace + compile)."""
    carry = [params, state]

    def run():
        carry[0], carry[1], loss = step(carry[0], carry[1], x, y)
        return loss
    t0 = time.perf_counter()
    run().block_until_ready()
    return run, time.perf_counter() - t0


# ------------------------------------------------------------------ functrans
def functrans_contender(x, y):
    model = Net(ft.random.key(0))
    opt = ft.optim.sgd(LR, momentum=MOMENTUM)
    return _stepper(classifier_step(opt), model, opt.init(model), ft.numpy.asarray(x), ft.numpy.asarray(y))


# ------------------------------------------------------------------ PyTorch eager
def torch_contender(x, y, device="cpu"):
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    net = torch_net().to(device)
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    crit = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def run():
        opt.zero_grad()
        loss = crit(net(xt), yt)
        loss.backward()
        opt.step()
        return loss
    return run, None


# ------------------------------------------------------------------ JAX jit
def jax_contender(x, y):
    import jax
    import jax.numpy as jnp

    def init(key):
        shapes = [(6, 3, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 400), (120,), (84, 120),
                  (84,), (10, 84), (10,)]
        keys = jax.random.split(key, len(shapes))
        return [jax.random.uniform(k, s, jnp.float32, -0.1, 0.1) for k, s in zip(keys, shapes)]

    def conv(x, w, b):
        out = jax.lax.conv_general_dilated(x, w, (1, 1), "VALID",
                                           dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return out + b[None, :, None, None]

    def pool(x):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2),
                                     "VALID")

    def loss_fn(p, x, y):
        h = pool(jax.nn.relu(conv(x, p[0], p[1])))
        h = pool(jax.nn.relu(conv(h, p[2], p[3])))
        h = h.reshape(h.shape[0], -1)
        h = jax.nn.relu(h @ p[4].T + p[5])
        h = jax.nn.relu(h @ p[6].T + p[7])
        logits = h @ p[8].T + p[9]
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], 1))

    @jax.jit
    def step(p, bufs, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        bufs = [MOMENTUM * b + gi for b, gi in zip(bufs, g)]
        return [pi - LR * b for pi, b in zip(p, bufs)], bufs, loss

    params = init(jax.random.key(0))
    return _stepper(step, params, [jnp.zeros_like(p) for p in params], jnp.asarray(x),
                    jnp.asarray(y))


# ------------------------------------------------------------------ driver
CONTENDERS = {"functrans (jit)": functrans_contender, "PyTorch (eager)": torch_contender,
              "JAX (jit)": jax_contender}


def _time(run, steps):
    t0 = time.perf_counter()
    for _ in range(steps):
        out = run()
    getattr(out, "block_until_ready", lambda: None)()
    return (time.perf_counter() - t0) / steps


def _worker(name, batch, conn):
    """Build one contender, then time `steps` steps whenever the driver asks."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    try:
        run, first = CONTENDERS[name](x, y)
    except ImportError as e:
        conn.send(("missing", str(e)))
        return
    for _ in range(3):
        run()
    conn.send(("ready", first))
    while True:
        steps = conn.recv()
        if steps is None:
            return
        conn.send(_time(run, steps))


def bench(batch, rounds, steps, settle):
    ctx = multiprocessing.get_context("spawn")
    workers = {}
    for name in CONTENDERS:
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(name, batch, there), daemon=True)
        proc.start()
        status, info = here.recv()
        if status == "missing":
            print(f"  ({name} skipped: {info})")
            proc.join()
            continue
        workers[name] = (proc, here, info)
    times = {name: [] for name in workers}
    for _ in range(rounds):
        for name, (_, conn, _) in workers.items():
            time.sleep(settle)
            conn.send(steps)
            times[name].append(conn.recv())
    for proc, conn, _ in workers.values():
        conn.send(None)
        proc.join()
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"\nbatch {batch} (3x32x32 float32), median of {rounds} rounds x {steps} steps; "
          "ratio = median over rounds of the round's time / PyTorch's:")
    base = times.get("PyTorch (eager)")
    for name, m in med.items():
        ratio = ""
        if base:      # paired by round, so a burst of machine load cancels out
            ratio = f"  {statistics.median(t / b for t, b in zip(times[name], base)):5.2f}x " \
                    "PyTorch"
        first = workers[name][2]
        first = f"   first call {first * 1e3:7.1f} ms" if first is not None else ""
        print(f"  {name:16s} {m * 1e3:8.3f} ms/step{ratio}{first}")
    return med


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[4, 64])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--settle", type=float, default=0.2)
    parser.add_argument("--malloc-cache", action="store_true")
    args = parser.parse_args()
    if args.malloc_cache:     # read by glibc when each worker process starts
        os.environ["MALLOC_MMAP_THRESHOLD_"] = os.environ["MALLOC_TRIM_THRESHOLD_"] = \
            str(2 ** 31)
    if args.threads:          # inherited by the worker processes, read when they import
        import _threads
        _threads.limit(args.threads)
    for b in args.batch:
        bench(b, args.rounds, args.steps, args.settle)


if __name__ == "__main__":
    main()
