"""Special functions on the CPU: functrans's host kernels against SciPy, and an exact-GELU
training step against PyTorch, measured side by side in one run.

1. Kernels: erf, erfc, erfinv, gammaln (lgamma) and digamma on 262144 elements, float32 and
   float64: `scipy.special.<name>` against `functrans.backends.special.<name>` (what the
   primitives' host kernels call; float64 goes to SciPy there too) with NumPy's kernels only
   (`ft.config` `jit_numba` False), and with numba installed against the same with its
   compiled variants (equal bit for bit).
   Target: float32 at least 5x faster than SciPy.
2. Accuracy: the largest error in float32 ulps against SciPy's float64 values over dense
   sweeps (every k-th float32 of a range, tails, subnormals and special values included).
3. `value_and_grad` of sum(gelu(x @ W)) with the exact GELU (erf), x 512 x 128, W 128 x 512
   (a transformer MLP's first layer): functrans jitted, with its host kernels (and their
   compiled variants, with numba) and with SciPy's (`MIN_SIZE` raised), against PyTorch eager
   on one thread.

Times are medians over interleaved rounds of the mean time per call; ratios are medians of
the per-round ratios (see `_common.py`).

    python benchmarks/bench_special.py [--rounds 15] [--quick]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")     # one thread, like PyTorch below (set before NumPy)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
import scipy.special as sc
from _common import fmt_time, interleaved, median, optional, ratio, table, with_numba

import functrans as ft
import functrans.numpy as fnp
from functrans.backends import special

N = 262144
FUNCTIONS = ("erf", "erfc", "erfinv", "gammaln", "digamma", "expit")


def kernel_inputs(name, dtype, n=N, seed=0):
    """Typical arguments: standard normal for erf/erfc, 4 times that for expit (gates of
    recurrent layers), uniform on (-1, 1) for erfinv, uniform on (0.1, 20) for
    gammaln/digamma."""
    rng = np.random.default_rng(seed)
    if name in ("erf", "erfc"):
        x = rng.standard_normal(n)
    elif name == "expit":
        x = 4 * rng.standard_normal(n)
    elif name == "erfinv":
        x = rng.uniform(-1, 1, n)
    else:
        x = rng.uniform(0.1, 20, n)
    return x.astype(dtype)


def cpu_interleaved(contenders, rounds, number):
    """Like `_common.interleaved`, in CPU seconds of this process (time.process_time): on a
    shared machine this leaves out the time other processes hold the core."""
    names = list(contenders)
    samples = {n: [] for n in names}
    for r in range(rounds):
        for n in names[r % len(names):] + names[:r % len(names)]:
            fn = contenders[n]
            t0 = time.process_time()
            for _ in range(number):
                fn()
            samples[n].append((time.process_time() - t0) / number)
    return samples


def time_kernels(names=FUNCTIONS, dtypes=(np.float32, np.float64), rounds=15, number=5,
                 inputs=kernel_inputs):
    """Rows (name, dtype, scipy s, functrans s, scipy / functrans, the same ratio in CPU
    time, and with numba: functrans+numba s, scipy / functrans+numba, or None)."""
    rows = []
    for name in names:
        for dtype in dtypes:
            x = inputs(name, dtype)
            ref, fast = getattr(sc, name), getattr(special, name)
            contenders = {"scipy": lambda ref=ref, x=x: ref(x),
                          "functrans": with_numba(lambda fast=fast, x=x: fast(x), False)}
            compiled = with_numba(lambda fast=fast, x=x: fast(x))
            if compiled is not None:
                compiled()                          # compile
                contenders["numba"] = compiled
            wall = interleaved(contenders, rounds, number)
            cpu = cpu_interleaved(contenders, rounds, number)
            numba_columns = ((median(wall["numba"]), ratio(wall, "scipy", "numba"))
                             if compiled is not None else (None, None))
            rows.append((name, np.dtype(dtype).name, median(wall["scipy"]),
                         median(wall["functrans"]), ratio(wall, "scipy", "functrans"),
                         ratio(cpu, "scipy", "functrans")) + numba_columns)
    return rows


def _sweep(lo, hi, n):
    """About n float32 numbers spread evenly (by bit pattern) over [lo, hi), lo, hi >= 0."""
    a, b = np.float32(lo).view(np.int32), np.float32(hi).view(np.int32)
    return np.arange(a, b, max(1, (b - a) // n), dtype=np.int32).view(np.float32)


def ulp_errors(got, ref, dtype=np.float32):
    """|got - ref| in units of the spacing of `dtype` at ref (ref computed in float64);
    0 where both are equal or both NaN, inf where only one is NaN."""
    ref = np.asarray(ref, np.float64)
    got = np.asarray(got, np.float64)
    with np.errstate(all="ignore"):
        rounded = np.abs(ref).astype(dtype)            # overflows exactly where dtype does
        err = np.abs(got - ref) / np.spacing(rounded).astype(np.float64)
        same = (got == np.copysign(rounded.astype(np.float64), ref)) | (got == ref)
    err[same | (np.isnan(got) & np.isnan(ref))] = 0.0
    err[np.isnan(err)] = np.inf
    return err


def accuracy_sweeps(n=1_000_000):
    """{name: {range label: float32 arguments}} for the accuracy table."""
    pos = np.concatenate([_sweep(0, 3.4e38, n), _sweep(0, 12, n)])
    everything = np.concatenate([pos, -pos, np.float32([0, -0.0, np.inf, -np.inf, np.nan])])
    unit = np.concatenate([_sweep(0, 1, n), _sweep(0.99, 1, n // 4)])
    unit = np.concatenate([unit, -unit, np.float32([1, -1, 2, -2, np.inf, -np.inf, np.nan])])
    sweeps = {}
    for name in ("erf", "erfc"):
        sweeps[name] = {"all float32 (sampled)": everything,
                        "[-12, 12]": np.concatenate([_sweep(0, 12, n), -_sweep(0, 12, n)])}
    sweeps["erfinv"] = {"[-1, 1] and beyond": unit,
                        "[0.99, 1)": _sweep(0.99, 1, n)}
    for name in ("gammaln", "digamma"):
        sweeps[name] = {"x > 0 (sampled)": _sweep(0, 3.4e38, n),
                        "(0, 12]": _sweep(1e-30, 12, n),
                        "x < 0 (SciPy's own)": -_sweep(1e-30, 40, n // 4)}
    return sweeps


def accuracy(n=1_000_000):
    """Rows (name, range, count, max ulp error, mean ulp error) of the float32 kernels against
    SciPy in float64."""
    rows = []
    for name, ranges in accuracy_sweeps(n).items():
        fast, ref = getattr(special, name), getattr(sc, name)
        for label, x in ranges.items():
            err = ulp_errors(fast(x), ref(x.astype(np.float64)))
            rows.append((name, label, x.size, float(err.max()), float(err.mean())))
    return rows


@contextlib.contextmanager
def scipy_kernels():
    """Within: functrans's host kernels hand every array to SciPy."""
    saved = dict(special.MIN_SIZE)
    special.MIN_SIZE.update(dict.fromkeys(saved, float("inf")))
    try:
        yield
    finally:
        special.MIN_SIZE.update(saved)


def gelu_inputs(dtype=np.float32, batch=8 * 64, d_model=128, d_ff=512, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, d_model)).astype(dtype)
    w = (rng.standard_normal((d_model, d_ff)) / np.sqrt(d_model)).astype(dtype)
    return x, w


def functrans_gelu_step(x, w):
    """A zero-argument callable: jitted value_and_grad of sum(gelu(x @ W)) in W."""
    def loss(w, x):
        return fnp.sum(ft.nn.functional.gelu(x @ w))
    step = ft.jit(ft.value_and_grad(loss))
    xa, wa = fnp.asarray(x), fnp.asarray(w)

    def run():
        return step(wa, xa)[1]
    return run


def torch_gelu_step(x, w):
    """The same step in PyTorch eager (forward, backward, gradient read), or None."""
    torch = optional("torch")
    if torch is None:
        return None
    xt = torch.from_numpy(x)
    wt = torch.from_numpy(w.copy()).requires_grad_(True)

    def run():
        wt.grad = None
        loss = torch.nn.functional.gelu(xt @ wt).sum()
        loss.backward()
        return wt.grad
    return run


def time_gelu(rounds=15, number=10, dtype=np.float32):
    """{contender: (median seconds, ratio to PyTorch or None)}."""
    torch = optional("torch")
    if torch is not None:
        torch.set_num_threads(1)
    x, w = gelu_inputs(dtype)
    fast = with_numba(functrans_gelu_step(x, w), False)
    slow = with_numba(functrans_gelu_step(x, w), False)

    def slow_run():
        with scipy_kernels():
            return slow()
    contenders = {"functrans jit": fast, "functrans jit, SciPy kernels": slow_run}
    compiled = with_numba(functrans_gelu_step(x, w))
    if compiled is not None:
        contenders["functrans jit, numba"] = compiled
    pt = torch_gelu_step(x, w)
    if pt is not None:
        contenders["PyTorch eager"] = pt
    for fn in contenders.values():
        fn()                                        # compile, warm up
    samples = interleaved(contenders, rounds, number)
    return {k: (median(v), ratio(samples, k, "PyTorch eager") if pt is not None else None)
            for k, v in samples.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller sweeps")
    args = parser.parse_args(argv)
    rounds = 5 if args.quick else args.rounds
    np.seterr(all="ignore")

    print(f"1. Kernels on {N} elements (median of {rounds} interleaved rounds)")
    rows = [[name, dt, fmt_time(a), fmt_time(b), f"{r:6.2f}x", f"{c:6.2f}x"] +
            ([] if nb is None else [fmt_time(nb), f"{nr:6.2f}x"])
            for name, dt, a, b, r, c, nb, nr in time_kernels(rounds=rounds)]
    table(rows, ["function", "dtype", "SciPy", "functrans", "SciPy / functrans",
                 "same, CPU time"] + (["functrans+numba", "SciPy / functrans+numba"]
                                      if len(rows[0]) > 6 else []))

    print("\n2. float32 accuracy against SciPy in float64 (ulps)")
    rows = [[name, label, str(count), f"{mx:.2f}", f"{mean:.3f}"]
            for name, label, count, mx, mean in accuracy(200_000 if args.quick else 1_000_000)]
    table(rows, ["function", "arguments", "count", "max", "mean"])

    print("\n3. value_and_grad of sum(gelu(x @ W)), exact GELU, x 512x128, W 128x512, float32")
    res = time_gelu(rounds=rounds)
    rows = [[k, fmt_time(t), "" if r is None else f"{r:6.2f}"] for k, (t, r) in res.items()]
    table(rows, ["contender", "time", "ratio to PyTorch"])


if __name__ == "__main__":
    main()
