"""Sequence layers, forward + backward, against PyTorch eager, measured side by side.

Each case computes an MSE loss of a layer's output against a fixed target and its gradient
with respect to every parameter: functrans as one `ft.jit(ft.value_and_grad(loss))` call,
PyTorch as `loss.backward()` after zeroing the gradients. float32 on the CPU, same shapes and
configuration on both sides:

- `lstm`: `LSTM(128, 256)`, sequence 50, batch 32 (the issue's target: within 1.5x PyTorch);
- `gru`, `rnn`: the same shapes with `GRU` / tanh `RNN`;
- `transformer`: `TransformerEncoderLayer(256, 8, dim_feedforward=1024, dropout=0.0,
  batch_first=True)` on (32, 50, 256).

Times are medians over interleaved rounds (see _common.py); ratios are functrans / PyTorch
(below 1: functrans is faster). Also printed: functrans's first call (trace + compile).
`--threads N` (default 1) sets OpenBLAS's and PyTorch's threads before they are imported.
`--cpu-time` measures the process's CPU time instead of wall time: with one thread per
contender, that leaves out the time other programs on a busy machine take the core away.

PyTorch's CPU LSTM and GRU run oneDNN's fused RNN kernels; functrans runs NumPy over
OpenBLAS, whose small matrix products (32 x 256 by 256 x 1024 at every time step) are the
larger part of the time.

    python benchmarks/bench_layers_seq.py [--cases lstm gru rnn transformer] [--rounds 15]
                                          [--number 3] [--threads 1] [--cpu-time]
"""
from __future__ import annotations

import argparse
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--cases", nargs="+", default=["lstm", "gru", "rnn", "transformer"],
                    choices=["lstm", "gru", "rnn", "transformer"])
parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
parser.add_argument("--number", type=int, default=3, help="calls per timed chunk (default 3)")
parser.add_argument("--threads", type=int, default=1,
                    help="BLAS / intra-op threads for both libraries (default 1)")
parser.add_argument("--cpu-time", action="store_true",
                    help="measure process CPU time instead of wall time")
args = parser.parse_args()
import _threads  # noqa: E402

_threads.limit(args.threads)

import numpy as np                                   # noqa: E402

from _common import median, ratio, fmt_time, table, optional  # noqa: E402

import functrans as ft                               # noqa: E402
import functrans.numpy as fnp                        # noqa: E402

torch = optional("torch")

BATCH, SEQ, FEATURES, HIDDEN = 32, 50, 128, 256


def case_data(name, rng):
    """(x, target) as float32 NumPy arrays, time-major for the recurrent layers."""
    if name == "transformer":
        x = rng.standard_normal((BATCH, SEQ, HIDDEN))
        y = rng.standard_normal((BATCH, SEQ, HIDDEN))
    else:
        x = rng.standard_normal((SEQ, BATCH, FEATURES))
        y = rng.standard_normal((SEQ, BATCH, HIDDEN))
    return x.astype(np.float32), y.astype(np.float32)


def functrans_model(name, key):
    if name == "lstm":
        return ft.nn.LSTM(FEATURES, HIDDEN, key=key)
    if name == "gru":
        return ft.nn.GRU(FEATURES, HIDDEN, key=key)
    if name == "rnn":
        return ft.nn.RNN(FEATURES, HIDDEN, key=key)
    return ft.nn.TransformerEncoderLayer(HIDDEN, 8, dim_feedforward=1024, dropout=0.0,
                                         batch_first=True, key=key)


def torch_model(name):
    nn = torch.nn
    if name == "lstm":
        return nn.LSTM(FEATURES, HIDDEN)
    if name == "gru":
        return nn.GRU(FEATURES, HIDDEN)
    if name == "rnn":
        return nn.RNN(FEATURES, HIDDEN)
    return nn.TransformerEncoderLayer(HIDDEN, 8, dim_feedforward=1024, dropout=0.0,
                                      batch_first=True)


def output(out):
    return out[0] if isinstance(out, tuple) else out


def functrans_contender(name, x, y):
    model = functrans_model(name, ft.random.key(0))
    xs, ys = fnp.asarray(x), fnp.asarray(y)

    @ft.jit
    def step(m, x, y):
        return ft.value_and_grad(lambda m: ft.nn.mse_loss(output(m(x)), y))(m)

    t0 = time.perf_counter()
    step(model, xs, ys)[0].block_until_ready()
    first = time.perf_counter() - t0

    def run():
        _, grads = step(model, xs, ys)
        ft.tree_util.tree_leaves(grads)[0].block_until_ready()
    return run, first


def torch_contender(name, x, y):
    torch.manual_seed(0)
    model = torch_model(name)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def run():
        for p in model.parameters():
            p.grad = None
        loss = torch.nn.functional.mse_loss(output(model(xt)), yt)
        loss.backward()
    return run


def interleaved(contenders, rounds, number, clock):
    """_common.interleaved with a choice of clock: per-round mean seconds per call."""
    names = list(contenders)
    samples = {n: [] for n in names}
    for r in range(rounds):
        for n in names[r % len(names):] + names[:r % len(names)]:
            t0 = clock()
            for _ in range(number):
                contenders[n]()
            samples[n].append((clock() - t0) / number)
    return samples


def main():
    clock = time.process_time if args.cpu_time else time.perf_counter
    if torch is not None:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rows = []
    print(f"batch {BATCH}, sequence {SEQ}, input {FEATURES} -> hidden {HIDDEN}, float32, "
          f"{args.threads} thread(s), {args.rounds} rounds x {args.number} calls, "
          f"{'CPU' if args.cpu_time else 'wall'} time")
    for name in args.cases:
        x, y = case_data(name, rng)
        ours, first = functrans_contender(name, x, y)
        contenders = {"functrans": ours}
        if torch is not None:
            contenders["pytorch"] = torch_contender(name, x, y)
            contenders["pytorch"]()
        samples = interleaved(contenders, args.rounds, args.number, clock)
        row = [name, fmt_time(median(samples["functrans"])), fmt_time(first)]
        if torch is not None:
            row += [fmt_time(median(samples["pytorch"])),
                    f"{ratio(samples, 'functrans', 'pytorch'):.2f}x"]
        rows.append(row)
    headers = ["layer (fwd+bwd)", "functrans jit", "first call"]
    if torch is not None:
        headers += ["pytorch eager", "ratio"]
    table(rows, headers)


if __name__ == "__main__":
    sys.exit(main())
