"""Training steps on an NVIDIA GPU: functrans (jit, CuPy) against PyTorch CUDA eager and JAX
jit, measured side by side in one run, with kernel launches per step.

Workloads (float32, each a whole jitted training step: forward, backward, SGD update):
1. the seed's two-layer ReLU net (N=64, D_in=1000, H=100, D_out=10, sum-of-squares loss,
   plain SGD, lr=1e-6);
2. the blitz's LeNet (tests/lenet.py; cross-entropy, SGD with momentum 0.9) at batch 64 and
   at batch 1024 (3x32x32 inputs);
3. a wide MLP: batch 1024, 8 linear layers of 4096 x 4096 with ReLU between, MSE loss,
   plain SGD.
Goals: functrans at most 1.2x PyTorch's time on the small nets (1, 2) and within 1.1x on the
wide MLP, with fewer kernel launches per step than the same program unfused ("functrans
unfused": every elementwise primitive its own kernel).

Times are medians over interleaved rounds of `--steps` steps each, the GPU synchronized at
the end of every sample (_common.py; ratios are medians of per-round ratios). Kernel launches
per step are counted two ways: the CUDA kernels CUPTI sees during a few steps (through
torch.profiler, for every contender; it traces kernels of any library in the process), and,
for functrans, the kernel calls its generated code makes (each CuPy function, ElementwiseKernel
or ReductionKernel it calls counted once). A peer that is not installed or has no GPU is
skipped with a note. Without CuPy and a GPU the script says so and exits.

    python benchmarks/bench_gpu.py [--rounds 20] [--steps 10] [--only two_layer lenet64 ...]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")   # JAX shares the GPU

import numpy as np  # noqa: E402

from _common import optional, interleaved, median, ratio, fmt_time, table  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import functrans as ft  # noqa: E402
import functrans.numpy as fnp  # noqa: E402

TWO_LAYER = dict(n=64, d_in=1000, h=100, d_out=10, lr=1e-6)
MLP = dict(batch=1024, width=4096, layers=8, lr=1e-3)
GOALS = {"two_layer": 1.2, "lenet64": 1.2, "lenet1024": 1.2, "wide_mlp": 1.1}


# ------------------------------------------------------------------ functrans
def ft_two_layer(gpu, rng):
    p = TWO_LAYER
    x, y, w1, w2 = ft.device_put([rng.standard_normal(s).astype(np.float32) for s in
                                  ((p["n"], p["d_in"]), (p["n"], p["d_out"]),
                                   (p["d_in"], p["h"]), (p["h"], p["d_out"]))], gpu)

    def step(w1, w2, x, y):
        def loss(w1, w2):
            return fnp.sum((fnp.maximum(x @ w1, 0.0) @ w2 - y) ** 2)
        value, (g1, g2) = ft.value_and_grad(loss, argnums=(0, 1))(w1, w2)
        return w1 - p["lr"] * g1, w2 - p["lr"] * g2, value
    return _carried(ft.jit(step), [w1, w2], x, y)


def ft_lenet(gpu, rng, batch):
    from lenet import Net
    x = ft.device_put(rng.standard_normal((batch, 3, 32, 32)).astype(np.float32), gpu)
    y = ft.device_put(rng.integers(0, 10, batch), gpu)
    with ft.default_device(gpu):
        model = Net(ft.random.key(0))
        opt = ft.optim.sgd(0.001, momentum=0.9)
        state = opt.init(model)
    return _carried(_module_step(opt, ft.nn.cross_entropy), [model, state], x, y)


def ft_wide_mlp(gpu, rng):
    p = MLP
    x, target = ft.device_put([rng.standard_normal((p["batch"], p["width"])).astype(np.float32)
                               for _ in range(2)], gpu)
    with ft.default_device(gpu):
        keys = ft.random.split(ft.random.key(0), p["layers"])
        layers = []
        for i, k in enumerate(keys):
            layers.append(ft.nn.Linear(p["width"], p["width"], key=k))
            if i < p["layers"] - 1:
                layers.append(ft.nn.ReLU())
        model = ft.nn.Sequential(*layers)
        opt = ft.optim.sgd(p["lr"])
        state = opt.init(model)
    return _carried(_module_step(opt, ft.nn.mse_loss), [model, state], x, target)


def _module_step(opt, loss_fn):
    """The jitted training step of an `ft.nn` model: the gradient of `loss_fn(model(x), y)`,
    then the optimizer. (Nothing is donated: CuPy's memory pool hands the previous step's
    buffers to the next, and undonated calls take jit's fast dispatch path.)"""
    def step(model, state, x, y):
        loss, grads = ft.value_and_grad(lambda m: loss_fn(m(x), y))(model)
        updates, state = opt.update(grads, state, model)
        return ft.optim.apply_updates(model, updates), state, loss
    return ft.jit(step)


def _carried(step, carry, *data):
    """A zero-argument `run()` doing one step on the carried state (the step returns the new
    state and the loss); also the jitted step and its current arguments (for lowering)."""
    def run():
        *state, loss = step(*carry, *data)
        carry[:] = state
        return loss
    return run, step, lambda: (*carry, *data)


def ft_sync(out):
    ft.block_until_ready(out)


@contextlib.contextmanager
def unfused():
    """Lowering with no fused kernels: every elementwise primitive its own CuPy call."""
    from functrans.backends.cuda import CupyBackend
    from functrans.compiler.codegen import numpy_kernel
    from functrans.compiler.cupy_backend import CupyLoweringContext

    class Unfused(CupyLoweringContext):
        fuses_reductions = False

        def choose_kernel(self, eqn):
            return numpy_kernel(eqn)
    real = CupyBackend.lowering_context
    CupyBackend.lowering_context = lambda self: Unfused
    try:
        yield
    finally:
        CupyBackend.lowering_context = real


def _from_cupy(value):
    return callable(value) and any(str(m).startswith("cupy") for m in (
        type(value).__module__, getattr(value, "__module__", "")))


def count_generated_calls(run, step, args):
    """Kernel calls one step of `step`'s generated code makes: each call of a CuPy function,
    ufunc, ElementwiseKernel or ReductionKernel from it counts once (a primitive's own kernel
    function, called for lack of a direct lowering, counts as one though it may launch
    more)."""
    space = step.lower(*args()).compile().fn.__globals__
    counts = [0]
    saved = {name: value for name, value in space.items() if _from_cupy(value)}

    def counting(f):
        def counted(*a, **k):
            counts[0] += 1
            return f(*a, **k)
        return counted
    space.update({name: counting(f) for name, f in saved.items()})
    try:
        ft_sync(run())
    finally:
        space.update(saved)
    return counts[0]


# ------------------------------------------------------------------ PyTorch (CUDA, eager)
def torch_two_layer(torch, rng):
    p = TWO_LAYER
    dev = torch.device("cuda")
    x, y, w1, w2 = [torch.from_numpy(rng.standard_normal(s).astype(np.float32)).to(dev)
                    for s in ((p["n"], p["d_in"]), (p["n"], p["d_out"]), (p["d_in"], p["h"]),
                              (p["h"], p["d_out"]))]
    w1.requires_grad_()
    w2.requires_grad_()

    def run():
        loss = (x.mm(w1).clamp(min=0).mm(w2) - y).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            for w in (w1, w2):
                w.sub_(p["lr"] * w.grad)
                w.grad = None
        return loss
    return run


def torch_lenet(torch, rng, batch):
    from bench_lenet import torch_contender
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    return torch_contender(x, y, device="cuda")[0]


def torch_wide_mlp(torch, rng):
    p = MLP
    dev = torch.device("cuda")
    layers = []
    for i in range(p["layers"]):
        layers.append(torch.nn.Linear(p["width"], p["width"]))
        if i < p["layers"] - 1:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=p["lr"])
    x, target = [torch.from_numpy(rng.standard_normal((p["batch"], p["width"]))
                                  .astype(np.float32)).to(dev) for _ in range(2)]

    def run():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(net(x), target)
        loss.backward()
        opt.step()
        return loss
    return run


# ------------------------------------------------------------------ JAX (jit, on its GPU)
def jax_two_layer(jax, rng):
    import jax.numpy as jnp
    p = TWO_LAYER
    x, y, w1, w2 = [jnp.asarray(rng.standard_normal(s).astype(np.float32)) for s in
                    ((p["n"], p["d_in"]), (p["n"], p["d_out"]), (p["d_in"], p["h"]),
                     (p["h"], p["d_out"]))]

    def loss(w1, w2):
        return jnp.sum((jnp.maximum(x @ w1, 0.0) @ w2 - y) ** 2)

    @jax.jit
    def step(w1, w2):
        value, (g1, g2) = jax.value_and_grad(loss, argnums=(0, 1))(w1, w2)
        return w1 - p["lr"] * g1, w2 - p["lr"] * g2, value
    carry = [w1, w2]

    def run():
        carry[0], carry[1], value = step(*carry)
        return value
    return run


def jax_lenet(jax, rng, batch):
    from bench_lenet import jax_contender
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    return jax_contender(x, y)[0]


def jax_wide_mlp(jax, rng):
    import jax.numpy as jnp
    p = MLP
    keys = jax.random.split(jax.random.key(0), p["layers"])
    bound = 1 / np.sqrt(p["width"])
    params = [(jax.random.uniform(k, (p["width"], p["width"]), jnp.float32, -bound, bound),
               jnp.zeros(p["width"], jnp.float32)) for k in keys]
    x, target = [jnp.asarray(rng.standard_normal((p["batch"], p["width"])).astype(np.float32))
                 for _ in range(2)]

    def loss(params):
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w.T + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        return jnp.mean((h - target) ** 2)

    @jax.jit
    def step(params):
        value, g = jax.value_and_grad(loss)(params)
        return jax.tree_util.tree_map(lambda a, b: a - p["lr"] * b, params, g), value
    carry = [params]

    def run():
        carry[0], value = step(carry[0])
        return value
    return run


# ------------------------------------------------------------------ driver
def _synced(run, steps, sync):
    def sample():
        for _ in range(steps):
            out = run()
        sync(out)
    return sample


def cupti_kernels_per_step(torch, run, sync, steps=3):
    """CUDA kernels per step as CUPTI records them (via torch.profiler), or None."""
    try:
        from torch.autograd import DeviceType
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(steps):
                out = run()
            sync(out)
        kernels = [e for e in prof.events() if e.device_type == DeviceType.CUDA and
                   not e.name.startswith(("Memcpy", "Memset"))]
        return len(kernels) / steps
    except Exception as e:        # no CUPTI, or a profiler that cannot trace this process
        print(f"  (kernel tracing unavailable: {type(e).__name__}: {e})")
        return None


def workloads(gpu, rng, torch, jax, only):
    w = {
        "two_layer": (lambda: ft_two_layer(gpu, rng), lambda: torch_two_layer(torch, rng),
                      lambda: jax_two_layer(jax, rng)),
        "lenet64": (lambda: ft_lenet(gpu, rng, 64), lambda: torch_lenet(torch, rng, 64),
                    lambda: jax_lenet(jax, rng, 64)),
        "lenet1024": (lambda: ft_lenet(gpu, rng, 1024), lambda: torch_lenet(torch, rng, 1024),
                      lambda: jax_lenet(jax, rng, 1024)),
        "wide_mlp": (lambda: ft_wide_mlp(gpu, rng), lambda: torch_wide_mlp(torch, rng),
                     lambda: jax_wide_mlp(jax, rng)),
    }
    return {k: v for k, v in w.items() if not only or k in only}


def bench(name, makers, torch, jax, rounds, steps):
    make_ft, make_torch, make_jax = makers
    contenders, syncs, counts = {}, {}, {}
    run, step, args = make_ft()
    run()
    contenders["functrans"], syncs["functrans"] = run, ft_sync
    counts["functrans calls"] = count_generated_calls(run, step, args)
    with unfused():
        run_u, step_u, args_u = make_ft()
        run_u()                                     # traced and compiled without fusion
    contenders["functrans unfused"], syncs["functrans unfused"] = run_u, ft_sync
    counts["functrans unfused calls"] = count_generated_calls(run_u, step_u, args_u)
    if torch is not None:
        contenders["PyTorch"] = make_torch()
        syncs["PyTorch"] = lambda out: torch.cuda.synchronize()
    if jax is not None:
        contenders["JAX"] = make_jax()
        syncs["JAX"] = lambda out: out.block_until_ready()
    for n, r in contenders.items():                 # compile and warm up
        for _ in range(3):
            out = r()
        syncs[n](out)
    samples = interleaved({n: _synced(r, steps, syncs[n]) for n, r in contenders.items()},
                          rounds, 1)
    rows = []
    for n in contenders:
        launches = cupti_kernels_per_step(torch, contenders[n], syncs[n]) if torch else None
        rows.append([n, fmt_time(median(samples[n]) / steps),
                     f"{ratio(samples, n, 'PyTorch'):.2f}x" if "PyTorch" in samples else "-",
                     f"{ratio(samples, n, 'JAX'):.2f}x" if "JAX" in samples else "-",
                     "-" if launches is None else f"{launches:.0f}"])
    print(f"\n== {name}: median of {rounds} rounds x {steps} steps (per step)")
    table(rows, ["contender", "time/step", "vs PyTorch", "vs JAX", "CUDA kernels/step"])
    print(f"  functrans generated-code kernel calls per step: fused "
          f"{counts['functrans calls']}, unfused {counts['functrans unfused calls']}")
    if "PyTorch" in samples:
        r = ratio(samples, "functrans", "PyTorch")
        verdict = "met" if r <= GOALS[name] else "NOT met"
        print(f"  goal functrans <= {GOALS[name]}x PyTorch: {r:.2f}x, {verdict}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--only", nargs="*", choices=list(GOALS), default=None)
    args = parser.parse_args()
    gpus = ft.devices("cuda")
    if not gpus:
        why = ft.backends.get_backend("cuda").unavailable_reason()
        print(f"bench_gpu: no CUDA device, nothing to measure ({why}).")
        return 0
    gpu = gpus[0]
    torch = optional("torch")
    if torch is not None and not torch.cuda.is_available():
        print("  (PyTorch skipped: it has no CUDA device in this installation)")
        torch = None
    jax = optional("jax")
    if jax is not None:
        try:
            jax.devices("gpu")
        except RuntimeError as e:
            print(f"  (JAX skipped: no GPU backend: {e})")
            jax = None
    import cupy
    print(f"device: {gpu} ({cupy.cuda.runtime.getDeviceProperties(gpu.id)['name'].decode()}), "
          f"CuPy {cupy.__version__}, PyTorch {getattr(torch, '__version__', '-')}, "
          f"JAX {getattr(jax, '__version__', '-')}")
    rng = np.random.default_rng(0)
    for name, makers in workloads(gpu, rng, torch, jax, args.only).items():
        bench(name, makers, torch, jax, args.rounds, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
