"""The Schur-based functions of functrans.scipy.linalg on the CPU: `sqrtm`, `solve_sylvester`
and `funm` (eager and jitted) against SciPy and jax.scipy.linalg (jitted, CPU), measured side
by side in one run, for n x n float64 matrices.

Times are medians over interleaved rounds of the mean time per call; ratios are medians of
the per-round ratios (see `_common.py`).

    python benchmarks/bench_scipy_linalg.py [--rounds 15] [--sizes 10 50 200]
"""
from __future__ import annotations

import argparse
import os
import sys

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")     # one thread for every contender (set before NumPy)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
import scipy.linalg as sl
from _common import fmt_time, interleaved, median, optional, ratio, table

import functrans as ft
import functrans.numpy as fnp
import functrans.scipy.linalg as fl


def inputs(n, seed=0):
    """A general matrix with eigenvalues off the negative real axis, a second one, and a
    right-hand side: (a, b, c)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)) / np.sqrt(n) + 2 * np.eye(n)
    b = rng.standard_normal((n, n)) / np.sqrt(n) + 2 * np.eye(n)
    return a, b, rng.standard_normal((n, n))


def contenders(name, n):
    a, b, c = inputs(n)
    jax = optional("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        jl = optional("jax.scipy.linalg")
    ours = {"sqrtm": (fl.sqrtm, (a,)),
            "solve_sylvester": (fl.solve_sylvester, (a, b, c)),
            "funm": (lambda a: fl.funm(a, fnp.exp), (a,))}[name]
    peers = {"sqrtm": (sl.sqrtm, lambda: jl.sqrtm),
             "solve_sylvester": (sl.solve_sylvester, lambda: jl.solve_sylvester),
             "funm": (lambda a: sl.funm(a, np.exp, disp=False),
                      lambda: lambda a: jl.funm(a, jax.numpy.exp))}
    fn, args = ours
    jitted = ft.jit(fn)
    out = {"functrans eager": lambda: np.asarray(fn(*args)),
           "functrans jit": lambda: np.asarray(jitted(*args)),
           "scipy": lambda: peers[name][0](*args)}
    if jax is not None:
        jax_args = [jax.numpy.asarray(x) for x in args]
        jax_fn = jax.jit(peers[name][1]())
        out["jax jit"] = lambda: jax_fn(*jax_args).block_until_ready()
    for f in out.values():      # compile and warm up
        f()
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--functions", nargs="+",
                        default=["sqrtm", "solve_sylvester", "funm"])
    args = parser.parse_args()
    rows = []
    for name in args.functions:
        for n in args.sizes:
            cs = contenders(name, n)
            number = 20 if n <= 50 else 3
            samples = interleaved(cs, args.rounds, number)
            for who in cs:
                rows.append([name, str(n), who, fmt_time(median(samples[who])),
                             f"{ratio(samples, who, 'scipy'):7.2f}"])
    table(rows, ["function", "n", "contender", "time", "vs scipy"])


if __name__ == "__main__":
    main()
