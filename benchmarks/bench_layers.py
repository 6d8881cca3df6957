"""Training steps of small networks built from `ft.nn` layers, jitted functrans against
PyTorch eager, float32 on the CPU, with the same shapes and the same optimizer.

Cases (add one by writing a function that returns `{contender name: builder}` and decorating
it with `@case(name, description)`; a builder takes the batch size and returns a zero-argument
`run()` doing one training step):

- `bn_cnn`: examples/batchnorm_classifier.py's network (three 3x3 convolutions with
  BatchNorm2d and ReLU, a max-pooling, global average pooling, a linear layer) on 1x8x8
  images, cross-entropy, SGD with momentum 0.9 and weight decay 5e-4; the functrans step
  returns the updated running statistics (`ft.nn.stateful`).

Each contender runs in its own worker process (thread pools of different libraries would
otherwise fight over the cores), and the driver interleaves them round by round so that
machine load affects them alike, pausing `--settle` seconds before each timed chunk. Prints
the median time per step and the median over rounds of the per-round ratio to PyTorch, both
in wall-clock time and in the worker's CPU time (with one thread per contender, CPU time
leaves out the moments the process waited for a core, which dominate the noise on a shared
machine).

    python benchmarks/bench_layers.py [--case bn_cnn] [--batch 32 128] [--rounds 15]
                                      [--steps 20] [--threads 1] [--settle 0.2]
"""
from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import statistics
import sys
import time

import numpy as np

_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, _ROOT)

CASES = {}


def case(name, description):
    """Register a benchmark case: a function returning {contender name: builder}."""
    def register(fn):
        CASES[name] = (fn, description)
        return fn
    return register


def _example(name):
    path = os.path.join(_ROOT, "examples", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"examples_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _digits_batch(batch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    return x, y


# ------------------------------------------------------------------ bn_cnn
LR, MOMENTUM, WEIGHT_DECAY = 0.05, 0.9, 5e-4


def _functrans_bn_cnn(batch):
    import functrans as ft
    example = _example("batchnorm_classifier")
    x, y = _digits_batch(batch)
    x, y = ft.numpy.asarray(x), ft.numpy.asarray(y)
    net = example.Net(key=ft.random.key(0))
    opt = ft.optim.sgd(LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    step = example.make_train_step(opt)
    carry = [net, opt.init(net)]

    def run():
        carry[0], carry[1], loss = step(carry[0], carry[1], x, y)
        return loss
    return run


def _torch_bn_cnn(batch):
    import torch
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
            self.conv2, self.bn2 = nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32)
            self.pool = nn.MaxPool2d(2)
            self.conv3, self.bn3 = nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64)
            self.gap, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(64, 10)

        def forward(self, x):
            x = torch.relu(self.bn1(self.conv1(x)))
            x = self.pool(torch.relu(self.bn2(self.conv2(x))))
            x = torch.relu(self.bn3(self.conv3(x)))
            return self.fc(self.gap(x).flatten(1))

    torch.manual_seed(0)
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    crit = nn.CrossEntropyLoss()
    x, y = (torch.from_numpy(a) for a in _digits_batch(batch))

    def run():
        opt.zero_grad()
        loss = crit(net(x), y)
        loss.backward()
        opt.step()
        return loss
    return run


@case("bn_cnn", "BatchNorm CNN on 1x8x8 digits (examples/batchnorm_classifier.py), SGD")
def bn_cnn():
    return {"functrans (jit)": _functrans_bn_cnn, "PyTorch (eager)": _torch_bn_cnn}


# ------------------------------------------------------------------ driver
def _time(run, steps):
    """(wall seconds, CPU seconds) per step."""
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        out = run()
    getattr(out, "block_until_ready", lambda: None)()
    return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps


def _worker(case_name, contender, batch, conn):
    """Build one contender, time its first step, then time `steps` steps when asked."""
    try:
        builder = CASES[case_name][0]()[contender]
        run = builder(batch)
    except ImportError as e:
        conn.send(("missing", str(e)))
        return
    t0 = time.perf_counter()
    out = run()
    getattr(out, "block_until_ready", lambda: None)()
    first = time.perf_counter() - t0
    for _ in range(3):
        run()
    conn.send(("ready", first))
    while True:
        steps = conn.recv()
        if steps is None:
            return
        conn.send(_time(run, steps))


def bench(case_name, batch, rounds, steps, settle):
    ctx = multiprocessing.get_context("spawn")
    workers = {}
    for contender in CASES[case_name][0]():
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(case_name, contender, batch, there),
                           daemon=True)
        proc.start()
        status, info = here.recv()
        if status == "missing":
            print(f"  ({contender} skipped: {info})")
            proc.join()
            continue
        workers[contender] = (proc, here, info)
    times = {name: [] for name in workers}
    for r in range(rounds):
        names = list(workers)
        for name in names[r % len(names):] + names[:r % len(names)]:
            time.sleep(settle)
            workers[name][1].send(steps)
            times[name].append(workers[name][1].recv())
    for proc, conn, _ in workers.values():
        conn.send(None)
        proc.join()
    print(f"\n{case_name} ({CASES[case_name][1]}), batch {batch}: median of {rounds} rounds x "
          f"{steps} steps; ratio = median over rounds of the round's time / PyTorch's")
    base = times.get("PyTorch (eager)")
    result = {}
    for name, t in times.items():
        row = []
        for i, kind in enumerate(("wall", "CPU")):
            ts = [x[i] for x in t]
            ratio = statistics.median(a[i] / b[i] for a, b in zip(t, base)) if base else None
            result[name, kind] = (statistics.median(ts), ratio)
            row.append(f"{kind} {statistics.median(ts) * 1e3:7.3f} ms/step" +
                       (f" {ratio:5.2f}x" if ratio is not None else ""))
        print(f"  {name:16s} {'   '.join(row)}   first step {workers[name][2] * 1e3:6.1f} ms")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/OpenMP/PyTorch threads per contender (default 1)")
    parser.add_argument("--settle", type=float, default=0.2)
    args = parser.parse_args()
    import _threads
    _threads.limit(args.threads)                  # inherited by the workers at import
    for name in args.case:
        for b in args.batch:
            bench(name, b, args.rounds, args.steps, args.settle)


if __name__ == "__main__":
    main()
