"""Timing helpers shared by the benchmark scripts.

The machines these run on are noisy and shared, so contenders are measured side by side:
every round times each contender once (in a rotating order), and the reported figure is the
median over rounds of the mean time per call within a round. Ratios are medians of the
per-round ratios, so a slow moment hits both sides of a ratio alike.
"""
from __future__ import annotations

import importlib
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def optional(module):
    """The module, or None when it cannot be imported (that peer is then skipped)."""
    try:
        return importlib.import_module(module)
    except Exception:
        return None


def with_numba(fn, setting=True):
    """`fn` run with functrans's `jit_numba` setting at `setting` (True: numba's compiled
    loops and fused chains; False: NumPy's kernels only), or None where the setting needs
    numba and it is not installed."""
    if setting and optional("numba") is None:
        return None
    import functrans as ft

    def run():
        before = ft.config.jit_numba
        ft.config.update("jit_numba", setting)
        try:
            return fn()
        finally:
            ft.config.update("jit_numba", before)
    return run


def interleaved(contenders, rounds, number, setup=None):
    """Per-round mean seconds per call for each contender: `{name: [seconds, ...]}`.

    `contenders` maps names to zero-argument callables; `setup(name)`, if given, runs
    untimed before each contender's turn in a round (e.g. to reset its state).
    """
    names = list(contenders)
    samples = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            if setup is not None:
                setup(n)
            fn = contenders[n]
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            samples[n].append((time.perf_counter() - t0) / number)
    return samples


# ------------------------------------------------------------------ the seed's two-layer net
def seed_backprop(x, y, w1, w2):
    """The seed's hand-written NumPy forward and backward pass: (loss, grad_w1, grad_w2)."""
    h = x.dot(w1)
    h_relu = np.maximum(h, 0)
    y_pred = h_relu.dot(w2)
    loss = np.square(y_pred - y).sum()
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h_relu.T.dot(grad_y_pred)
    grad_h_relu = grad_y_pred.dot(w2.T)
    grad_h = grad_h_relu.copy()
    grad_h[h < 0] = 0
    grad_w1 = x.T.dot(grad_h)
    return loss, grad_w1, grad_w2


def seed_loss(params, x, y):
    """The same net's summed squared error in functrans."""
    import functrans.numpy as fnp
    w1, w2 = params
    return fnp.sum((fnp.maximum(x @ w1, 0) @ w2 - y) ** 2)


def median(xs):
    return statistics.median(xs)


def ratio(samples, a, b):
    """Median over rounds of samples[a] / samples[b]."""
    return statistics.median(x / y for x, y in zip(samples[a], samples[b]))


def fmt_time(seconds):
    if seconds >= 1e-1:
        return f"{seconds:8.3f} s "
    if seconds >= 1e-4:
        return f"{seconds * 1e3:8.3f} ms"
    return f"{seconds * 1e6:8.2f} us"


def table(rows, headers):
    """Print rows (lists of strings) as an aligned text table."""
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
