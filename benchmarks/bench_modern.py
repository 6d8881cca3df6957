"""Modern workloads on the CPU: functrans's jitted training steps against PyTorch eager and
JAX jit, each library with its default threads and with one thread, in one run.

Workloads (float32; every library runs the same math from the same initial values):
- `block`, `block-tanh`: a transformer block language-model step: batch 8, sequence 64, width
  128, 4 heads, causal softmax attention, a 128-512-128 MLP with exact GELU (`block`, via
  erf) or its tanh approximation (`block-tanh`), pre-layer-norm, tied input/output embedding
  (vocabulary 256), cross-entropy, SGD; written with plain array operations in each library.
  Targets: <= 1.0x PyTorch and <= 1.0x JAX.
- `deep`: a 128-layer tanh net of 64x64 matmuls (plus biases) at batch 32, squared error,
  SGD; the steady-state step. Target: <= 1.0x JAX.
- `lenet`: the blitz's LeNet at batch 64 (`bench_lenet.py`'s contenders). Target: <= 1.0x
  PyTorch, each with its default threads.

Each contender (workload x library x thread setting) lives in its own worker process, so
thread pools never meet and each library reads its thread settings when it is imported: the
one-thread workers get OPENBLAS/OMP/MKL_NUM_THREADS=1, XLA's single-thread flags and one CPU
to run on (`_threads.py`: XLA's runtime otherwise still uses two cores), the default ones
whatever the environment of this script says (on a quiet machine, run it with
no thread variables set). The driver interleaves the workers round by round, pausing
`--settle` seconds before each timed chunk so that the previous worker's spinning thread
pools have gone to sleep, and reports medians; ratios are medians over rounds of the
round's functrans time over the peer's time in the same thread setting.

    python benchmarks/bench_modern.py [--workloads block block-tanh deep lenet]
        [--threads default 1] [--rounds 11] [--seconds 0.25] [--settle 0.2] [--numba]

functrans runs with NumPy's kernels only (`ft.config` `jit_numba` False); `--numba` adds
functrans with numba's compiled kernels (`jit_numba` "auto", the default where numba is
installed) as one more contender; `--chains` makes that one also fuse each program's float
chains into loops (`jit_numba` True).
"""
from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import statistics
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.join(_HERE, "..")

B, T, D, HEADS, HIDDEN, VOCAB = 8, 64, 128, 4, 512, 256
BLOCK_LR = 0.1
DEEP_LAYERS, DEEP_WIDTH, DEEP_BATCH, DEEP_LR = 128, 64, 32, 0.01


# ------------------------------------------------------------------ the models, once
class Ops:
    """The few operations whose spelling differs between the libraries."""

    def __init__(self, lib):
        self.lib = lib
        if lib == "functrans":
            import functrans as ft
            import functrans.numpy as fnp
            self.np, self.erf, self.tanh = fnp, ft.lax.erf, fnp.tanh
            self.stop = ft.lax.stop_gradient
        elif lib == "jax":
            import jax
            import jax.numpy as jnp
            self.np, self.erf, self.tanh = jnp, jax.lax.erf, jnp.tanh
            self.stop = jax.lax.stop_gradient
        else:
            import torch
            self.np, self.erf, self.tanh = torch, torch.erf, torch.tanh
            self.stop = torch.Tensor.detach

    def mean(self, x, axis):
        if self.lib == "torch":
            return x.mean(axis, keepdim=True)
        return x.mean(axis, keepdims=True)

    def sum(self, x, axis):
        if self.lib == "torch":
            return x.sum(axis, keepdim=True)
        return x.sum(axis, keepdims=True)

    def max(self, x, axis):
        if self.lib == "torch":
            return x.amax(axis, keepdim=True)
        return x.max(axis, keepdims=True)

    def permute(self, x, axes):
        return x.permute(*axes) if self.lib == "torch" else x.transpose(axes)

    def swap_last(self, x):
        return x.transpose(-1, -2) if self.lib == "torch" else self.np.swapaxes(x, -1, -2)

    def pick(self, x, index):
        """x[..., index[...]] along the last axis."""
        if self.lib == "torch":
            return self.np.gather(x, -1, index[..., None])[..., 0]
        return self.np.take_along_axis(x, index[..., None], axis=-1)[..., 0]


def layer_norm(o, x, g, b):
    xc = x - o.mean(x, -1)
    return xc * (1.0 / o.np.sqrt(o.mean(xc * xc, -1) + 1e-5)) * g + b


def gelu(o, x, approximate):
    if approximate:
        inner = (x + 0.044715 * (x * x * x)) * math.sqrt(2 / math.pi)
        return 0.5 * x * (1.0 + o.tanh(inner))
    return 0.5 * x * (1.0 + o.erf(x * (1 / math.sqrt(2))))


def block_loss(o, p, tokens, targets, mask, approximate):
    """The transformer block language model's mean cross-entropy."""
    hd = D // HEADS
    x = p["embed"][tokens] + p["pos"]                                     # (B, T, D)
    h = layer_norm(o, x, p["ln1_g"], p["ln1_b"])

    def heads(w):                                                        # (B, H, T, hd)
        return o.permute((h @ w).reshape(B, T, HEADS, hd), (0, 2, 1, 3))
    q, k, v = heads(p["wq"]), heads(p["wk"]), heads(p["wv"])
    s = (q @ o.swap_last(k)) * (1 / math.sqrt(hd)) + mask                # (B, H, T, T)
    e = o.np.exp(s - o.stop(o.max(s, -1)))
    a = e / o.sum(e, -1)
    att = o.permute(a @ v, (0, 2, 1, 3)).reshape(B, T, D)
    x = x + att @ p["wo"] + p["bo"]
    h = layer_norm(o, x, p["ln2_g"], p["ln2_b"])
    x = x + gelu(o, h @ p["w1"] + p["b1"], approximate) @ p["w2"] + p["b2"]
    h = layer_norm(o, x, p["lnf_g"], p["lnf_b"])
    logits = h @ o.swap_last(p["embed"])                                # (B, T, V)
    shifted = logits - o.stop(o.max(logits, -1))
    logp = shifted - o.np.log(o.sum(o.np.exp(shifted), -1))
    return -o.pick(logp, targets).mean()


def block_data():
    """NumPy parameters, tokens, targets and the causal mask."""
    import numpy as np
    rng = np.random.default_rng(0)

    def normal(*shape, scale=0.02):
        return (rng.standard_normal(shape) * scale).astype(np.float32)
    p = {"embed": normal(VOCAB, D), "pos": normal(T, D)}
    for name in ("wq", "wk", "wv", "wo"):
        p[name] = normal(D, D)
    p.update(w1=normal(D, HIDDEN), b1=np.zeros(HIDDEN, np.float32), w2=normal(HIDDEN, D),
             bo=np.zeros(D, np.float32), b2=np.zeros(D, np.float32))
    for ln in ("ln1", "ln2", "lnf"):
        p[ln + "_g"], p[ln + "_b"] = np.ones(D, np.float32), np.zeros(D, np.float32)
    tokens = rng.integers(0, VOCAB, (B, T + 1))
    mask = np.triu(np.full((T, T), -1e9, np.float32), 1)
    return p, tokens[:, :-1].copy(), tokens[:, 1:].copy(), mask


def deep_loss(o, p, x, y):
    h = x
    for w, b in p:
        h = o.tanh(h @ w + b)
    d = h - y
    return (d * d).mean()


def deep_data():
    import numpy as np
    rng = np.random.default_rng(0)
    p = [((rng.standard_normal((DEEP_WIDTH, DEEP_WIDTH)) / math.sqrt(DEEP_WIDTH))
          .astype(np.float32), np.zeros(DEEP_WIDTH, np.float32)) for _ in range(DEEP_LAYERS)]
    x = rng.standard_normal((DEEP_BATCH, DEEP_WIDTH)).astype(np.float32)
    y = rng.standard_normal((DEEP_BATCH, DEEP_WIDTH)).astype(np.float32)
    return p, x, y


# ------------------------------------------------------------------ contenders
def _jitted_sgd(lib, loss, lr):
    """A jitted `step(params, *data) -> (params, loss)` in functrans or JAX."""
    if lib == "functrans":
        import functrans as ft
        jit, vg, tmap = ft.jit, ft.value_and_grad, ft.tree_util.tree_map
    else:
        import jax
        jit, vg, tmap = jax.jit, jax.value_and_grad, jax.tree_util.tree_map

    @jit
    def step(p, *data):
        value, g = vg(loss)(p, *data)
        return tmap(lambda a, b: a - lr * b, p, g), value
    return step


def _array_module(lib):
    if lib == "functrans":
        import functrans.numpy as fnp
        return fnp.asarray
    import jax.numpy as jnp
    return jnp.asarray


def _functional(lib, loss, params, data, lr):
    """`run()` for functrans or JAX: one jitted step on the carried parameters."""
    to = _array_module(lib)
    step = _jitted_sgd(lib, loss, lr)
    carry = [np_tree_map(to, params)]
    data = [to(d) for d in data]

    def run():
        carry[0], value = step(carry[0], *data)
        return value
    return run


def np_tree_map(f, tree):
    if isinstance(tree, dict):
        return {k: np_tree_map(f, v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(np_tree_map(f, v) for v in tree)
    return f(tree)


def _torch(loss, params, data, lr):
    import torch
    leaves = []

    def leaf(a):
        t = torch.tensor(a, requires_grad=a.dtype.kind == "f")
        leaves.append(t)
        return t
    p = np_tree_map(leaf, params)
    data = [torch.from_numpy(d) for d in data]

    def run():
        value = loss(p, *data)
        value.backward()
        with torch.no_grad():
            for t in leaves:
                t -= lr * t.grad
                t.grad = None
        return value.detach()
    return run


def make_contender(workload, lib):
    """`run()`: one training step of `workload` in `lib` (on carried state); returns loss."""
    lib = "functrans" if lib == NUMBA else lib
    if workload == "lenet":
        sys.path[:0] = [_HERE, os.path.join(_ROOT, "tests")]
        import numpy as np
        import bench_lenet
        rng = np.random.default_rng(0)
        x = rng.standard_normal((64, 3, 32, 32)).astype(np.float32)
        y = rng.integers(0, 10, 64).astype(np.int64)
        fn = {"functrans": bench_lenet.functrans_contender, "torch": bench_lenet.torch_contender,
              "jax": bench_lenet.jax_contender}[lib]
        return fn(x, y)[0]
    o = Ops(lib)
    if workload in ("block", "block-tanh"):
        params, tokens, targets, mask = block_data()
        approximate = workload == "block-tanh"

        def loss(p, tokens, targets, mask):
            return block_loss(o, p, tokens, targets, mask, approximate)
        data, lr = (tokens, targets, mask), BLOCK_LR
    else:
        params, x, y = deep_data()

        def loss(p, x, y):
            return deep_loss(o, p, x, y)
        data, lr = (x, y), DEEP_LR
    if lib == "torch":
        return _torch(loss, params, data, lr)
    return _functional(lib, loss, params, data, lr)


# ------------------------------------------------------------------ workers and driver
def _worker(workload, lib, threads, seconds, conn):
    sys.path[:0] = [_ROOT, _HERE]
    if threads == "1":
        import _threads
        _threads.limit(1)
    try:
        if lib == "torch" and threads == "1":
            import torch
            torch.set_num_threads(1)
        run = make_contender(workload, lib)
    except ImportError as e:
        conn.send(("missing", str(e)))
        return
    first = _value(run())
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < max(seconds, 0.05) or n < 3:      # warm up, size chunks
        _value(run())
        n += 1
    steps = max(1, round(n * seconds / (time.perf_counter() - t0)))
    conn.send(("ready", (first, steps)))
    while True:
        if conn.recv() is None:
            return
        t0 = time.perf_counter()
        for _ in range(steps):
            out = run()
        _value(out)                                                    # wait for the result
        conn.send((time.perf_counter() - t0) / steps)


def _value(loss):
    return float(loss.detach() if hasattr(loss, "detach") else loss)


LIBS = {"functrans": "functrans (jit)", "torch": "PyTorch (eager)", "jax": "JAX (jit)"}
NUMBA = "functrans+numba"      # functrans with numba's kernels (--numba); else jit_numba False
OURS = ("functrans", NUMBA)
_NUMBA_SETTING = ["auto"]


def _start(ctx, workload, lib, threads, seconds):
    saved = dict(os.environ)
    if lib in OURS:
        os.environ["FUNCTRANS_JIT_NUMBA"] = "0" if lib != NUMBA else _NUMBA_SETTING[0]
    try:
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(workload, lib, threads, seconds, there),
                           daemon=True)
        proc.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return proc, here


def bench(workload, thread_settings, rounds, seconds, settle, libs):
    ctx = multiprocessing.get_context("spawn")
    workers = {}
    for threads in thread_settings:
        for lib in libs:
            proc, conn = _start(ctx, workload, lib, threads, seconds)
            status, info = conn.recv()
            if status == "missing":
                print(f"  ({LIBS[lib]} skipped: {info})")
                proc.join()
                continue
            workers[lib, threads] = (proc, conn, info)
    times = {k: [] for k in workers}
    keys = list(workers)
    for r in range(rounds):
        for k in keys[r % len(keys):] + keys[:r % len(keys)]:
            time.sleep(settle)
            workers[k][1].send(True)
            times[k].append(workers[k][1].recv())
    for proc, conn, _ in workers.values():
        conn.send(None)
        proc.join()
    print(f"\n{workload}: median of {rounds} rounds (load average before: "
          f"{os.getloadavg()[0]:.2f})")
    results = {}
    for threads in thread_settings:
        label = "default threads" if threads == "default" else f"{threads} thread"
        for lib in libs:
            if (lib, threads) not in times:
                continue
            t = times[lib, threads]
            first, steps = workers[lib, threads][2]
            print(f"  {label:16s} {libs[lib]:16s} {statistics.median(t) * 1e3:8.3f} ms/step"
                  f"   (loss {first:.4f}, {steps} steps per round)")
        for ours in OURS:
            mine = times.get((ours, threads))
            for lib in libs:
                if lib in OURS or not mine or (lib, threads) not in times:
                    continue
                r = statistics.median(a / b for a, b in zip(mine, times[lib, threads]))
                results[ours, lib, threads] = r
                print(f"  {label:16s} {libs[ours]} / {libs[lib]} = {r:5.2f}x")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["block", "block-tanh", "deep", "lenet"],
                        choices=["block", "block-tanh", "deep", "lenet"])
    parser.add_argument("--threads", nargs="+", default=["default", "1"],
                        choices=["default", "1"])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--seconds", type=float, default=0.25,
                        help="time per contender per round")
    parser.add_argument("--settle", type=float, default=0.2)
    parser.add_argument("--numba", action="store_true",
                        help="also time functrans with numba's compiled kernels")
    parser.add_argument("--chains", action="store_true",
                        help="with --numba: also fuse float chains into loops (jit_numba True)")
    args = parser.parse_args()
    if args.chains:
        _NUMBA_SETTING[0] = "1"
    libs = dict(LIBS, **({NUMBA: "functrans+numba"} if args.numba else {}))
    summary = {}
    for w in args.workloads:
        summary[w] = bench(w, args.threads, args.rounds, args.seconds, args.settle, libs)
    print(f"\nsummary (functrans time / peer time, same thread setting; load average now "
          f"{os.getloadavg()[0]:.2f}):")
    for w, res in summary.items():
        cells = [f"{'' if ours == 'functrans' else '+numba '}vs {LIBS[lib].split()[0]} {th}: "
                 f"{r:.2f}x" for (ours, lib, th), r in res.items()]
        print(f"  {w:11s} " + ";  ".join(cells))


if __name__ == "__main__":
    main()
