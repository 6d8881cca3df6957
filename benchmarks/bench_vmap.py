"""Per-example gradients of the seed's two-layer net (N=64, D_in=1000, H=100, D_out=10,
float32): `jit(vmap(grad(loss)))` against one batched `jit(grad)` of the summed loss, with
JAX's `jit(vmap(grad))` and PyTorch's `torch.func.vmap(grad)` measured in the same run, and
functrans with NumPy's kernels only (`ft.config` `jit_numba` False) and with its compiled
loops where numba is installed.

    python benchmarks/bench_vmap.py [--threads 1] [--repeats 15] [--number 20]

The target: functrans's per-example gradients within 3x the time of its batched gradient.
Each (per-example) w1 gradient is 64x the size of the batched one (25.6 MB against 0.4 MB),
so the per-example computation is bound by writing that memory. Timings are the best over
`--repeats` rounds of the mean of `--number` calls, the systems interleaved round by round
so that load from other processes affects them alike.
"""
import argparse
import os
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=int, default=1,
                    help="BLAS / intra-op threads for every library (default 1)")
parser.add_argument("--repeats", type=int, default=15)
parser.add_argument("--number", type=int, default=20)
args = parser.parse_args()
import _threads  # noqa: E402

_threads.limit(args.threads)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

import functrans as ft  # noqa: E402
import functrans.numpy as fnp  # noqa: E402
from _common import with_numba  # noqa: E402

N, D_IN, H, D_OUT = 64, 1000, 100, 10
rng = np.random.default_rng(0)
X = rng.standard_normal((N, D_IN)).astype(np.float32)
Y = rng.standard_normal((N, D_OUT)).astype(np.float32)
W1 = rng.standard_normal((D_IN, H)).astype(np.float32)
W2 = rng.standard_normal((H, D_OUT)).astype(np.float32)


def _functrans_fns():
    def loss(p, x, y):
        return fnp.sum((fnp.maximum(x @ p[0], 0) @ p[1] - y) ** 2)
    per_example = ft.jit(ft.vmap(ft.grad(loss), in_axes=(None, 0, 0)))
    batched = ft.jit(ft.grad(loss))
    p, x, y = (fnp.asarray(W1), fnp.asarray(W2)), fnp.asarray(X), fnp.asarray(Y)
    pe = per_example(p, x, y)
    total = batched(p, x, y)
    for g_pe, g in zip(pe, total):            # the per-example gradients sum to the batched
        np.testing.assert_allclose(np.asarray(g_pe).sum(0), np.asarray(g), rtol=2e-3,
                                   atol=2e-3 * float(np.abs(np.asarray(g)).max()))
    return (lambda: per_example(p, x, y)), (lambda: batched(p, x, y))


def jax_fns():
    import jax
    import jax.numpy as jnp

    def loss(p, x, y):
        return jnp.sum((jnp.maximum(x @ p[0], 0) @ p[1] - y) ** 2)
    per_example = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, 0)))
    batched = jax.jit(jax.grad(loss))
    p, x, y = (jnp.asarray(W1), jnp.asarray(W2)), jnp.asarray(X), jnp.asarray(Y)
    return (lambda: jax.block_until_ready(per_example(p, x, y)),
            lambda: jax.block_until_ready(batched(p, x, y)))


def torch_fns():
    import torch
    from torch.func import grad, vmap
    torch.set_num_threads(args.threads)

    def loss(p, x, y):
        return (((x @ p[0]).clamp(min=0) @ p[1] - y) ** 2).sum()
    per_example = vmap(grad(loss), in_dims=(None, 0, 0))
    p = (torch.from_numpy(W1), torch.from_numpy(W2))
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    batched_grad = grad(loss)
    return (lambda: per_example(p, x, y)), (lambda: batched_grad(p, x, y))


def functrans_fns(setting):
    """functrans's, compiled and run with `ft.config` `jit_numba` at `setting` (False: NumPy's
    kernels only; True: numba's loops and fused chains, numba installed)."""
    build = with_numba(_functrans_fns, setting)
    if build is None:
        raise ImportError("numba is not installed")
    return tuple(with_numba(f, setting) for f in build())


def main():
    systems = {"functrans": functrans_fns(False)}
    for name, make in [("functrans + numba", lambda: functrans_fns(True)), ("JAX", jax_fns),
                       ("PyTorch torch.func", torch_fns)]:
        try:
            systems[name] = make()
        except ImportError as e:
            print(f"({name} not measured: {e})")
    best = {(s, k): float("inf") for s in systems for k in (0, 1)}
    for fns in systems.values():              # warm up (compile)
        for f in fns:
            f()
    for _ in range(args.repeats):
        for s, fns in systems.items():
            for k, f in enumerate(fns):
                start = time.perf_counter()
                for _ in range(args.number):
                    f()
                best[s, k] = min(best[s, k], (time.perf_counter() - start) / args.number)
    print(f"per-example gradients of the two-layer net (N={N}, D_in={D_IN}, H={H}, "
          f"D_out={D_OUT}, float32), {args.threads} thread(s)")
    print(f"{'':22s}{'per-example ms':>16s}{'batched ms':>12s}{'ratio':>8s}")
    for s in systems:
        pe, b = best[s, 0] * 1e3, best[s, 1] * 1e3
        print(f"{s:22s}{pe:16.3f}{b:12.3f}{pe / b:8.2f}")
    ours = best["functrans", 0] / best["functrans", 1]
    print(f"functrans per-example / batched = {ours:.2f} (target <= 3): "
          f"{'met' if ours <= 3 else 'NOT met'}")
    for s in systems:
        if not s.startswith("functrans"):
            print(f"functrans per-example vs {s} per-example: "
                  f"{best[s, 0] / best['functrans', 0]:.2f}x faster")


if __name__ == "__main__":
    main()
