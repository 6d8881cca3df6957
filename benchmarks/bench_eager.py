"""Eager speed against plain NumPy, measured in one run (issue #2's acceptance targets).

1. The seed's two-layer ReLU net step (N=64, D_in=1000, H=100, D_out=10, sum of squares):
   eager `ft.value_and_grad` against the seed's hand-written NumPy backprop, in float32 and
   float64. Target: ratio <= 3.
2. Tiny arrays (3 elements): one eager functrans operation against the same NumPy
   operation, per operation. Target: ratio <= 5.

Each repeat times functrans and then NumPy back to back (so both see the same machine load);
the numbers are medians over repeats of the mean time per call, and the ratio is the median
of the per-repeat ratios.

    python benchmarks/bench_eager.py [--repeats 15]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import timeit

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import functrans as ft                      # noqa: E402
import functrans.numpy as fnp               # noqa: E402
from _common import seed_backprop, seed_loss  # noqa: E402


def compare(f_ft, f_np, repeats, number):
    """(median seconds per call of f_ft, of f_np, median of the per-repeat ratios)."""
    t_ft, t_np = [], []
    for _ in range(repeats):
        t_ft.append(timeit.timeit(f_ft, number=number) / number)
        t_np.append(timeit.timeit(f_np, number=number) / number)
    ratios = [a / b for a, b in zip(t_ft, t_np)]
    return statistics.median(t_ft), statistics.median(t_np), statistics.median(ratios)


# ------------------------------------------------------------------ the two-layer net
def bench_net(dtype, repeats):
    rng = np.random.default_rng(0)
    N, D_in, H, D_out = 64, 1000, 100, 10
    x, y = (rng.standard_normal(s).astype(dtype) for s in ((N, D_in), (N, D_out)))
    w1, w2 = (rng.standard_normal(s).astype(dtype) for s in ((D_in, H), (H, D_out)))
    step = ft.value_and_grad(seed_loss)
    params = (fnp.asarray(w1), fnp.asarray(w2))
    xa, ya = fnp.asarray(x), fnp.asarray(y)
    loss, (g1, g2) = step(params, xa, ya)
    ref_loss, ref_g1, ref_g2 = seed_backprop(x, y, w1, w2)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(np.asarray(g1), ref_g1, rtol=tol, atol=tol * np.abs(ref_g1).max())
    np.testing.assert_allclose(float(loss), ref_loss, rtol=tol)
    return compare(lambda: step(params, xa, ya), lambda: seed_backprop(x, y, w1, w2), repeats, 10)


# ------------------------------------------------------------------ tiny arrays
def tiny_ops():
    a_np = np.array([0.5, 1.5, 2.5], np.float32)
    b_np = np.array([1.0, 2.0, 3.0], np.float32)
    m_np = np.arange(9, dtype=np.float32).reshape(3, 3)
    a, b, m = fnp.asarray(a_np), fnp.asarray(b_np), fnp.asarray(m_np)
    idx_np = np.array([2, 0])
    idx = fnp.asarray(idx_np)
    return [
        ("add  a + b", lambda: a + b, lambda: a_np + b_np),
        ("mul  a * b", lambda: a * b, lambda: a_np * b_np),
        ("sin  fnp.sin(a)", lambda: fnp.sin(a), lambda: np.sin(a_np)),
        ("exp  fnp.exp(a)", lambda: fnp.exp(a), lambda: np.exp(a_np)),
        ("sum  fnp.sum(a)", lambda: fnp.sum(a), lambda: np.sum(a_np)),
        ("sum  a.sum()", lambda: a.sum(), lambda: a_np.sum()),
        ("matmul  m @ a", lambda: m @ a, lambda: m_np @ a_np),
        ("index  a[1]", lambda: a[1], lambda: a_np[1]),
        ("index  a[1:]", lambda: a[1:], lambda: a_np[1:]),
        ("index  a[idx]", lambda: a[idx], lambda: a_np[idx_np]),
        ("maximum  fnp.maximum(a, 0.)", lambda: fnp.maximum(a, 0.0),
         lambda: np.maximum(a_np, 0.0)),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    print(f"numpy {np.__version__}, functrans {ft.__version__}; medians over "
          f"{args.repeats} repeats\n")
    print("two-layer net step (value_and_grad vs hand-written NumPy backprop), target <= 3x")
    for dtype in (np.float32, np.float64):
        t_ft, t_np, ratio = bench_net(dtype, args.repeats)
        print(f"  {np.dtype(dtype).name:8s} functrans {t_ft * 1e6:9.1f} us   numpy "
              f"{t_np * 1e6:9.1f} us   ratio {ratio:5.2f}x")
    print("\ntiny arrays (3 elements), per operation, target <= 5x")
    for name, f_ft, f_np in tiny_ops():
        np.testing.assert_allclose(np.asarray(f_ft()), np.asarray(f_np()), rtol=1e-6)
        t_ft, t_np, ratio = compare(f_ft, f_np, args.repeats, 2000)
        print(f"  {name:30s} functrans {t_ft * 1e9:8.0f} ns   numpy {t_np * 1e9:7.0f} ns   "
              f"ratio {ratio:5.2f}x")


if __name__ == "__main__":
    main()
