"""Loops with small bodies: time per iteration of functrans, JAX (jit) and a plain NumPy loop,
measured side by side in one run.

(a) `lax.scan` over STEPS steps of an Adam update of 2 parameters on the Rosenbrock function
    (its gradient by `grad`), stacking the parameters, as Optax's rosenbrock_ademamix
    notebook does;
(b) the same with a `lax.cond` whose true branch calls `debug.print` every 1,000 steps (the
    notebook's `cond_print`; the printed text goes to a string buffer);
(c) `fori_loop` whose body is `tanh(w @ x)` on 32x32 float32 matrices;
(d) `while_loop` over a scalar counter and a vector of 16 floats;
(e) with --per-call: one loop called again and again outside jit with the same function and
    argument types (`for _ in range(CALLS): lax.scan(f, c, xs)`), as a script calls it: thread
    CPU time per call and how often the body is called per call beyond its Python iterations
    (its traces; JAX traces once, then reuses the trace).

Contenders: functrans under `jit`; functrans called without `jit` (as the notebook calls
`jax.lax.scan`); JAX's `jit`; the loop written with NumPy by hand. Figures are microseconds
per iteration: medians over interleaved rounds (see _common.py), and the ratio to the NumPy
loop (median of per-round ratios). With --calls, also the Python function calls per iteration
that cProfile counts in one run of each functrans contender (deterministic, unlike times).

    python benchmarks/bench_loops.py [--steps 10000] [--rounds 7] [--calls] [--quick]
                                     [--per-call [--repeats 100]]
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _threads                              # noqa: E402

_threads.limit(1)

import numpy as np                           # noqa: E402

from _common import optional, interleaved, median, ratio, table   # noqa: E402

import functrans as ft                       # noqa: E402
import functrans.numpy as fnp                # noqa: E402

jax = optional("jax")
if jax is not None:
    import jax.numpy as jnp

LR, B1, B2, EPS = 0.003, 0.9, 0.999, 1e-8
PRINT_EVERY = 1000


# ------------------------------------------------------------------ bodies, once per library
def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


def adam_body(xnp, lax, grad, debug=None):
    """The scan body `(params, m, v, count, i), _ -> (..., params)`; with `debug`, a cond that
    prints the objective every PRINT_EVERY steps."""
    def body(carry, _):
        p, m, v, t, i = carry
        g = grad(rosenbrock)(p)
        m = B1 * m + (1 - B1) * g
        v = B2 * v + (1 - B2) * g * g
        t = t + 1
        step = LR * (m / (1 - B1 ** t)) / (xnp.sqrt(v / (1 - B2 ** t)) + EPS)
        p = p - step
        if debug is not None:
            lax.cond(i % PRINT_EVERY == 0,
                     lambda: (debug.print("objective at {} = {}", i, rosenbrock(p)), 0)[1],
                     lambda: 0)
        return (p, m, v, t, i + 1), p
    return body


def adam_init(xnp):
    z = xnp.zeros(2, dtype=np.float32)
    return (xnp.asarray(np.array([-3.0, 5.0], np.float32)), z, z,
            xnp.asarray(np.float32(0)), xnp.asarray(np.int32(0)))


def numpy_adam(steps, printing):
    p = np.array([-3.0, 5.0], np.float32)
    m = np.zeros(2, np.float32)
    v = np.zeros(2, np.float32)
    t = np.float32(0)
    ys = np.empty((steps, 2), np.float32)
    for i in range(steps):
        d = p[1] - p[0] ** 2
        g = np.array([-2 * (1 - p[0]) - 400.0 * d * p[0], 200.0 * d], np.float32)
        m = B1 * m + (1 - B1) * g
        v = B2 * v + (1 - B2) * g * g
        t = t + 1
        p = p - LR * (m / (1 - B1 ** t)) / (np.sqrt(v / (1 - B2 ** t)) + EPS)
        if printing and i % PRINT_EVERY == 0:
            print(f"objective at {i} = {rosenbrock(p)}")
        ys[i] = p
    return p, ys


def matmul_data():
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((32, 32)) / np.sqrt(32)).astype(np.float32)
    x = rng.standard_normal((32, 32)).astype(np.float32)
    return w, x


def vector_state():
    return np.linspace(-1, 1, 16, dtype=np.float32)


def while_parts(xnp, steps):
    def keep_going(c):
        return c[0] < steps

    def body(c):
        i, v = c
        return i + 1, 0.5 * v + 0.1 * xnp.sin(v) + 0.01
    return keep_going, body


# ------------------------------------------------------------------ contenders per case
def case_contenders(case, steps, eager):
    """{name: zero-argument callable running `steps` iterations} for one case."""
    out = {}
    w, x = matmul_data()
    if case in "ab":
        debug = case == "b"
        ft_body = adam_body(fnp, ft.lax, ft.grad, ft.debug if debug else None)
        init = adam_init(fnp)

        def ft_run(carry):
            return ft.lax.scan(ft_body, carry, length=steps)
        jitted = ft.jit(ft_run)
        out["functrans jit"] = lambda: jitted(init)
        if eager:
            out["functrans no jit"] = lambda: ft_run(init)
        if jax is not None:
            jbody = adam_body(jnp, jax.lax, jax.grad, jax.debug if debug else None)
            jinit = adam_init(jnp)
            jf = jax.jit(lambda carry: jax.lax.scan(jbody, carry, length=steps))
            out["JAX jit"] = lambda: jf(jinit)
        out["NumPy loop"] = lambda: numpy_adam(steps, debug)
    elif case == "c":
        fw, fx = fnp.asarray(w), fnp.asarray(x)

        def ft_run(a, b):
            return ft.lax.fori_loop(0, steps, lambda i, v: fnp.tanh(a @ v), b)
        jitted = ft.jit(ft_run)
        out["functrans jit"] = lambda: jitted(fw, fx)
        if eager:
            out["functrans no jit"] = lambda: ft_run(fw, fx)
        if jax is not None:
            jw, jx = jnp.asarray(w), jnp.asarray(x)
            jf = jax.jit(lambda a, b: jax.lax.fori_loop(0, steps,
                                                        lambda i, v: jnp.tanh(a @ v), b))
            out["JAX jit"] = lambda: jf(jw, jx)

        def numpy_run():
            v = x
            for _ in range(steps):
                v = np.tanh(w @ v)
            return v
        out["NumPy loop"] = numpy_run
    else:
        v0 = vector_state()
        fv = fnp.asarray(v0)
        cond_fn, body_fn = while_parts(fnp, steps)

        def ft_run(v):
            return ft.lax.while_loop(cond_fn, body_fn, (fnp.asarray(np.int32(0)), v))
        jitted = ft.jit(ft_run)
        out["functrans jit"] = lambda: jitted(fv)
        if eager:
            out["functrans no jit"] = lambda: ft_run(fv)
        if jax is not None:
            jcond, jbody = while_parts(jnp, steps)
            jv = jnp.asarray(v0)
            jf = jax.jit(lambda v: jax.lax.while_loop(jcond, jbody, (jnp.int32(0), v)))
            out["JAX jit"] = lambda: jf(jv)

        def numpy_run():
            i, v = 0, v0
            while i < steps:
                i, v = i + 1, 0.5 * v + 0.1 * np.sin(v) + np.float32(0.01)
            return v
        out["NumPy loop"] = numpy_run
    return out


def _quiet(fn):
    """`fn`'s results as NumPy arrays (JAX's asynchronous dispatch waited for), anything it
    prints swallowed."""
    def run():
        with contextlib.redirect_stdout(io.StringIO()):
            return [np.asarray(leaf) for leaf in ft.tree_util.tree_leaves(fn())]
    return run


def check_agreement(contenders):
    """Every contender's last result equals the NumPy loop's (float32 rounding aside)."""
    results = {name: fn()[-1].astype(np.float64) for name, fn in contenders.items()}
    ref = results["NumPy loop"]
    for name, got in results.items():
        if not np.allclose(got, ref, rtol=2e-3, atol=2e-3):
            print(f"  warning: {name} disagrees with the NumPy loop "
                  f"(max difference {np.max(np.abs(got - ref)):.3g})")


def calls_per_iteration(fn, steps):
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    return pstats.Stats(profiler).total_calls / steps


def repeated_loops(xnp, lax, traced, traces):
    """{name: zero-argument callable}: loops whose functions add 1 to `traces[name]` when
    `traced(args)` (called to be traced, not run in Python)."""
    def counted(name, fn):
        traces[name] = 0

        def run(*args):
            traces[name] += traced(args)
            return fn(*args)
        return run
    c0, xs, xs4 = xnp.ones(16), xnp.ones((50, 16)), xnp.ones((4, 16))
    scan_f = counted("scan 50", lambda c, x: (xnp.tanh(c * x + 1.0), c.sum()))
    short_f = counted("scan 4", lambda c, x: (c * x + 1.0, c))
    fori_f = counted("fori_loop 50", lambda i, v: xnp.sin(v) + i)
    while_b = counted("while_loop 100", lambda c: (c[0] + 1, xnp.cos(c[1])))
    false_f = counted("cond", lambda x: x * 2.0)

    def true_f(x):
        return x + 1.0

    def while_c(c):
        return c[0] < 100
    return {"scan 50": lambda: lax.scan(scan_f, c0, xs),
            "scan 4": lambda: lax.scan(short_f, c0, xs4),
            "fori_loop 50": lambda: lax.fori_loop(0, 50, fori_f, c0),
            "while_loop 100": lambda: lax.while_loop(while_c, while_b, (xnp.asarray(0), c0)),
            "cond": lambda: lax.cond(True, true_f, false_f, c0)}


def per_call(repeats):
    """Thread CPU time per call of loops called again and again outside jit, and their
    body's traces per call, JAX's (outside jit too) beside."""
    from functrans.core import Tracer
    libraries = [("functrans", fnp, ft.lax, lambda args: any(
        isinstance(x, Tracer) for x in ft.tree_util.tree_leaves(args)))]
    if jax is not None:
        libraries.append(("JAX", jnp, jax.lax, lambda args: any(
            isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(args))))
    rows = []
    for lib, xnp, lax, traced in libraries:
        traces = {}
        for name, fn in repeated_loops(xnp, lax, traced, traces).items():
            run = _quiet(fn)
            run()
            first = traces[name]
            start = time.thread_time()
            for _ in range(repeats):
                run()
            spent = (time.thread_time() - start) / repeats
            rows.append([f"{lib} {name}", f"{spent * 1e3:8.3f}",
                         f"{(traces[name] - first) / repeats:6.2f}"])
    print(f"(e) loops called {repeats} times outside jit with the same function and types")
    table(rows, ["loop", "ms/call", "traces/call"])
    print()


CASES = {"a": "scan: Adam on 2 parameters",
         "b": "scan: Adam + cond + debug.print every 1000",
         "c": "fori_loop: tanh(w @ x), 32x32",
         "d": "while_loop: counter + 16-vector"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cases", default="abcd")
    parser.add_argument("--no-eager", action="store_true",
                        help="leave out functrans called without jit")
    parser.add_argument("--calls", action="store_true",
                        help="also count Python calls per iteration (cProfile)")
    parser.add_argument("--quick", action="store_true", help="1,000 steps, 3 rounds")
    parser.add_argument("--per-call", action="store_true",
                        help="only (e): loops called repeatedly outside jit")
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    if args.per_call:
        per_call(args.repeats)
        return
    if args.quick:
        args.steps, args.rounds = 1000, 3
    print(f"functrans {ft.__version__ if hasattr(ft, '__version__') else ''}, "
          f"JAX {jax.__version__ if jax is not None else 'absent'}, NumPy {np.__version__}; "
          f"{args.steps} steps, {args.rounds} rounds, one thread\n")
    for case in args.cases:
        contenders = {name: _quiet(fn) for name, fn in
                      case_contenders(case, args.steps, not args.no_eager).items()}
        check_agreement(contenders)         # (also compiles, warms up)
        samples = interleaved(contenders, args.rounds, 1)
        rows = []
        for name in contenders:
            row = [name, f"{median(samples[name]) / args.steps * 1e6:10.2f}",
                   f"{ratio(samples, name, 'NumPy loop'):8.2f}x"]
            if args.calls:
                row.append(f"{calls_per_iteration(contenders[name], args.steps):8.1f}"
                           if name.startswith("functrans") else "")
            rows.append(row)
        print(f"({case}) {CASES[case]}")
        table(rows, ["contender", "us/iter", "vs NumPy"] + (["calls/iter"] if args.calls
                                                            else []))
        print()


if __name__ == "__main__":
    main()
