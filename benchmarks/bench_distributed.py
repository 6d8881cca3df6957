"""Data-parallel LeNet training over MPI processes: scaling, PyTorch DDP, the all-reduce.

The blitz's LeNet (3x32x32 float32, SGD with momentum 0.9) trained with `ft.pmap` over 2
processes, one BLAS thread each, against the same step in one process and against PyTorch's
DistributedDataParallel (gloo, 2 processes, 1 thread each). Everything runs inside one job of
2 MPI processes, contender after contender in rotating order round by round, so that machine
load hits every contender alike; ratios are medians over rounds of the round's ratio.

- strong scaling: global batch 64 (32 per process) vs the 1-process jitted step on all 64
  (the other process waits without spinning); target <= 0.6x on 2 cores. Beside it, the
  machine's floor: each process running the 1-process step on its own 32 examples at the same
  time, with no communication (what two busy cores give; on a shared virtual machine this is
  well above 0.5x), and strong scaling over that floor (what data parallelism itself adds);
- weak scaling: 64 per process vs the 1-process step on 64 (ideal 1.0x);
- PyTorch DDP on the same two steps; target <= 1.0x;
- the gradient all-reduce of LeNet's parameters against one raw mpi4py `Allreduce` of a
  float32 buffer of the same total size; target <= 1.2x. Measured inside the training step:
  at the moment of the all-reduce, a raw `Allreduce` of as many floats and functrans's
  all-reduce of the ten gradient leaves (packing into one buffer and unpacking included), in
  alternating order, each started after a barrier so that waiting for the slower process is
  not counted (the median over a round's steps). Also on their own: a pmapped `lax.pmean` of the gradient
  pytree (pmap's call and its agreement check, one more small message, included) against the
  raw `Allreduce`, the agreement check alone, and a pmapped psum of 2 floats against a raw
  all-reduce of 2 ints.

    python benchmarks/bench_distributed.py [--rounds 9] [--steps 10]

(it starts `mpiexec -n 2` on itself; the machine's load average is printed before and after,
since other work on the cores distorts scaling figures).
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path[:0] = [_ROOT, os.path.join(_ROOT, "tests")]

LR, MOMENTUM = 0.001, 0.9


def _load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _quiet_barrier(comm):
    """A barrier that sleeps instead of spinning (MPICH's own polls a core at full speed)."""
    request = comm.Ibarrier()
    while not request.Test():
        time.sleep(0.0005)


def _slower(comm, seconds):
    """The largest of the processes' `seconds`, waited for without spinning (a process that
    sat out a 1-process contender must not take a core from the one timing it)."""
    from mpi4py import MPI
    mine, top = np.array([seconds]), np.empty(1)
    request = comm.Iallreduce(mine, top, op=MPI.MAX)
    while not request.Test():
        time.sleep(0.0005)
    return float(top[0])



def _data(batch, seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, 3, 32, 32)).astype(np.float32),
            rng.integers(0, 10, batch).astype(np.int64))


def size_of(tree):
    import functrans as ft
    return sum(int(np.prod(g.shape)) for g in ft.tree_leaves(tree))


def _functrans(rank, count):
    import functrans as ft
    from lenet import Net, classifier_step
    opt = ft.optim.sgd(LR, momentum=MOMENTUM)

    @ft.pmap(axis_name="batch")
    def dp_step(model, state, x, y):
        loss, grads = ft.value_and_grad(lambda m: ft.nn.cross_entropy(m(x), y))(model)
        grads = ft.lax.pmean(grads, "batch")
        updates, state = opt.update(grads, state, model)
        return ft.optim.apply_updates(model, updates), state, loss

    model = ft.distributed.broadcast(Net(ft.random.key(0)))
    single = classifier_step(opt)
    carry = {"single": [model, opt.init(model)], "alone": [model, opt.init(model)],
             "strong": list(ft.distributed.replicate((model, opt.init(model)))),
             "weak": list(ft.distributed.replicate((model, opt.init(model))))}
    x64, y64 = _data(64, 0)
    share = slice(rank * 64 // count, (rank + 1) * 64 // count)
    xs, ys = ft.numpy.asarray(x64[share][None]), ft.numpy.asarray(y64[share][None])
    xw, yw = (ft.numpy.asarray(a[None]) for a in _data(64, 1 + rank))
    xa, ya = ft.numpy.asarray(x64), ft.numpy.asarray(y64)

    def run_single():
        c = carry["single"]
        c[0], c[1], loss = single(c[0], c[1], xa, ya)
        return loss

    def run_alone():            # this process's 32 examples, no communication at all
        c = carry["alone"]
        c[0], c[1], loss = single(c[0], c[1], xs[0], ys[0])
        return loss

    def run_dp(which, x, y):
        def run():
            c = carry[which]
            c[0], c[1], loss = dp_step(c[0], c[1], x, y)
            return loss
        return run

    group = ft.backends.processes.world().host_group()
    plain_allreduce = group.allreduce
    raw_in, raw_out = np.ones(size_of(model), np.float32), np.empty(size_of(model), np.float32)
    spent = {"ft": 0.0, "raw": 0.0, "calls": 0}

    def timed_allreduce(*args):
        # the same moment of the step, twice: one raw Allreduce of as many floats and
        # functrans's all-reduce of the gradient leaves, in alternating order (the first
        # collective after the computation tends to be the slower), each after a barrier, so
        # that waiting for the slower process is not counted
        order = ["raw", "ft"] if spent["calls"] % 2 else ["ft", "raw"]
        spent["calls"] += 1
        out = None
        for which in order:
            group.comm.Barrier()
            t0 = time.perf_counter()
            if which == "raw":
                group.comm.Allreduce(raw_in, raw_out)
            else:
                out = plain_allreduce(*args)
            spent[which] = time.perf_counter() - t0
        return out
    strong = run_dp("strong", xs, ys)

    def in_step():
        """Seconds of the all-reduce inside one strong-scaling step: functrans's, and a raw
        one at the same moment."""
        group.allreduce = timed_allreduce
        try:
            strong()
        finally:
            del group.allreduce
        return {"ft allreduce in step": spent["ft"], "raw Allreduce in step": spent["raw"]}
    in_step.self_timed = True

    grads = ft.distributed.replicate(ft.grad(
        lambda m: ft.nn.cross_entropy(m(xa), ya))(model))
    reduce = ft.pmap(lambda g: ft.lax.pmean(g, "batch"), axis_name="batch")
    size = size_of(model)
    small = ft.pmap(lambda v: ft.lax.psum(v, "batch"), axis_name="batch")
    tiny = ft.numpy.ones((1, 2))
    return ({"ft 1 process": run_single, "ft 1 process x 32 on each core": run_alone,
             "ft strong": strong,
             "ft weak": run_dp("weak", xw, yw), "all-reduces in step": in_step,
             "ft allreduce pmapped": lambda: reduce(grads),
             "ft psum of 2 floats": lambda: small(tiny)}, size)


def _torch(rank, count, port):
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from lenet import torch_net
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=count)
    torch.manual_seed(0)
    runs = {}
    for which, (x, y) in {"strong": _data(64, 0), "weak": _data(64, 1 + rank)}.items():
        if which == "strong":
            share = slice(rank * 64 // count, (rank + 1) * 64 // count)
            x, y = x[share], y[share]
        net = DistributedDataParallel(torch_net())
        opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
        crit = torch.nn.CrossEntropyLoss()
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def run(net=net, opt=opt, crit=crit, xt=xt, yt=yt):
            opt.zero_grad()
            loss = crit(net(xt), yt)
            loss.backward()
            opt.step()
            return loss
        runs[f"DDP {which}"] = run
    return runs


def worker(rounds, steps):
    import functrans as ft
    ft.distributed.initialize()
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank, count = comm.Get_rank(), comm.Get_size()
    contenders, size = _functrans(rank, count)
    port = comm.bcast(_free_port() if rank == 0 else None)
    try:
        contenders.update(_torch(rank, count, port))
    except ImportError as e:
        if rank == 0:
            print(f"  (PyTorch DDP skipped: {e})")
    buf = np.ones(size, np.float32)
    out = np.empty_like(buf)
    ints, ints_out = np.ones(2, np.int64), np.empty(2, np.int64)
    world = ft.backends.processes.world()
    contenders["raw Allreduce"] = lambda: comm.Allreduce(buf, out)
    contenders["raw Allreduce of 2 ints"] = lambda: comm.Allreduce(ints, ints_out, op=MPI.MAX)
    contenders["agreement check"] = lambda: world.agree(12345, list)
    only_first = {"ft 1 process"}
    for name, run in contenders.items():                # warm up (and compile)
        if rank == 0 or name not in only_first:
            for _ in range(3):
                run()
    names = list(contenders)
    times = {n: [] for n in names if not getattr(contenders[n], "self_timed", False)}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            _quiet_barrier(comm)
            elapsed = 0.0
            run = contenders[name]
            if getattr(run, "self_timed", False):      # it reports several timings
                samples = [run() for _ in range(steps)]
                for key in samples[0]:
                    times.setdefault(key, []).append(
                        _slower(comm, statistics.median(s[key] for s in samples)))
                continue
            if rank == 0 or name not in only_first:
                if name.startswith(("ft s", "ft w", "ft 1", "DDP")):      # training steps
                    t0 = time.perf_counter()
                    for _ in range(steps):
                        res = run()
                    getattr(res, "block_until_ready", lambda: None)()
                    elapsed = (time.perf_counter() - t0) / steps
                else:       # the median call: a descheduled process's 5 ms skews the mean
                    elapsed = statistics.median(_timed_call(run) for _ in range(20 * steps))
            times[name].append(_slower(comm, elapsed))
    if rank == 0:
        report(times, size)


def _timed_call(run):
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def _ratio(times, a, b):
    if a not in times or b not in times:
        return float("nan")
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


def report(times, size):
    print(f"median over {len(next(iter(times.values())))} rounds of the slower process's time "
          "per call (training steps: the mean over a round; shorter calls: the median call, "
          "so that a process descheduled by other work does not dominate):")
    for name, t in times.items():
        print(f"  {name:26s} {statistics.median(t) * 1e3:9.3f} ms")
    rows = [
        ("strong scaling: 2 processes x 32 / 1 process x 64", "ft strong", "ft 1 process",
         "<= 0.6"),
        ("the machine's floor: 1-process steps x 32 on both cores at once / x 64",
         "ft 1 process x 32 on each core", "ft 1 process", ""),
        ("strong scaling / that floor (what data parallelism adds)", "ft strong",
         "ft 1 process x 32 on each core", ""),
        ("weak scaling: 2 processes x 64 / 1 process x 64", "ft weak", "ft 1 process",
         "ideal 1.0"),
        ("functrans / PyTorch DDP, global batch 64", "ft strong", "DDP strong", "<= 1.0"),
        ("functrans / PyTorch DDP, 64 per process", "ft weak", "DDP weak", "<= 1.0"),
        (f"gradient all-reduce in the step ({size} floats, 10 leaves) / raw Allreduce there",
         "ft allreduce in step", "raw Allreduce in step", "<= 1.2"),
        ("pmapped pmean of the gradients on its own / raw Allreduce", "ft allreduce pmapped",
         "raw Allreduce", ""),
        ("agreement check / raw Allreduce of 2 ints", "agreement check",
         "raw Allreduce of 2 ints", ""),
        ("pmapped psum of 2 floats / raw Allreduce of 2 ints", "ft psum of 2 floats",
         "raw Allreduce of 2 ints", ""),
    ]
    print("ratios (median of per-round ratios):")
    for label, a, b, target in rows:
        print(f"  {label:72s} {_ratio(times, a, b):6.2f}x  {target}")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.rounds, args.steps)
        return
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(mpiexec):
        mpiexec = "mpiexec"
    print(f"{os.cpu_count()} cores; load average before: {_load()}")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.abspath(_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(
            os.pathsep) if p]))
    subprocess.run([mpiexec, "-n", "2", sys.executable, os.path.abspath(__file__), "--worker",
                    "--rounds", str(args.rounds), "--steps", str(args.steps)], env=env,
                   check=True)
    print(f"load average after: {_load()}")


if __name__ == "__main__":
    main()
