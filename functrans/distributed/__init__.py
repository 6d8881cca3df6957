"""Data-parallel training over processes: MPI through mpi4py (and NCCL between GPUs).

    # mpiexec -n 2 python train.py
    import functrans as ft
    ft.distributed.initialize()                  # joins the MPI world (no-op without mpiexec)
    params = ft.distributed.broadcast(init(key))  # process 0's initial parameters everywhere

    @ft.pmap(axis_name="batch")
    def step(params, x, y):
        grads = ft.grad(loss)(params, x, y)
        grads = ft.lax.pmean(grads, "batch")      # all-reduced across every process
        return sgd(params, grads)

    params = ft.distributed.replicate(params)    # one copy per local device
    for x, y in batches:                         # the same global batches in every process
        params = step(params, *ft.distributed.shard_batch((x, y)))
    ft.save("net.ftz", ft.distributed.unreplicate(params))   # written by process 0 only

`initialize()` installs an exception hook that aborts the whole job when any process dies of
an uncaught exception (instead of leaving the others waiting in a collective). Importing
functrans never imports mpi4py; `initialize()` does, when the process was started by an MPI
launcher.
"""
from __future__ import annotations

import sys

import numpy as np

from ..array import Array, wrap
from ..backends import (local_devices, local_device_count, processes, process_index,
                        process_count, to_host, device_of_raw, transfer, cpu)
from ..tree_util import tree_flatten, tree_flatten_with_path, tree_unflatten, keystr

__all__ = ["initialize", "is_initialized", "shutdown", "process_index", "process_count",
           "shard_batch", "broadcast", "process_allgather", "replicate", "unreplicate", "barrier"]


def initialize(*, abort_on_exception=True):
    """Join the MPI world when this process was started by an MPI launcher (`mpiexec`,
    `mpirun`, `srun`; recognized by the variables MPICH's Hydra, Open MPI and MVAPICH set);
    a no-op in a plain process or when already joined. Afterwards `ft.process_index()`,
    `ft.process_count()` and `ft.devices()` describe the whole job and `ft.pmap`'s
    collectives span every process. With `abort_on_exception` (default), an uncaught
    exception in any process aborts the job within seconds. Call it once, early, in every
    process."""
    if is_initialized() or processes.launcher_size() == 0:
        return
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError(
            f"this process was started by an MPI launcher ({processes.launcher_size()} "
            f"processes), but mpi4py cannot be imported ({e}); install the extra: "
            "pip install 'functrans[mpi]' (mpi4py and the mpich wheel, which brings mpiexec)"
        ) from None
    from .mpi import MPIWorld
    world = MPIWorld(MPI.COMM_WORLD)
    processes.set_world(world)
    if abort_on_exception:
        _abort_on_uncaught_exceptions(world)


def is_initialized():
    """Whether `initialize()` joined an MPI world."""
    return type(processes.world()) is not processes.World


def _abort_on_uncaught_exceptions(world):
    previous = sys.excepthook

    def hook(kind, value, tb):
        try:
            previous(kind, value, tb)
            sys.stderr.write(f"functrans: process {world.index} of {world.count} failed; "
                             "aborting the MPI job\n")
            sys.stderr.flush()
            sys.stdout.flush()
        finally:
            world.abort(1)
    hook.previous = previous
    sys.excepthook = hook


def shutdown():
    """Leave the MPI world `initialize()` joined, once every process has called this: this
    process is a single-process job again (and the abort-on-exception hook is removed). A
    no-op when not initialized. (MPI itself stays up until exit, so `initialize()` may join
    again.)"""
    if not is_initialized():
        return
    barrier()
    previous = getattr(sys.excepthook, "previous", None)
    if previous is not None:
        sys.excepthook = previous
    processes.set_world(processes.World())


def barrier():
    """Wait until every process reaches this call."""
    world = processes.world()
    if world.count > 1:
        world.barrier()


# ------------------------------------------------------------------ pytrees between processes
def shard_batch(batch, devices=None):
    """This process's part of a global batch, laid out for `pmap`: every leaf of `batch` (a
    pytree of arrays whose leading axis holds the global batch, the same in every process)
    is cut into one block per device of every process (process by process), and this
    process's blocks come back stacked, shape `(local devices, batch / devices, ...)`. The
    batch size must be a multiple of the number of devices (drop or pad the last batch)."""
    n_local = len(devices) if devices is not None else local_device_count()
    count, index = process_count(), process_index()
    total = n_local * count
    pairs, tree = tree_flatten_with_path(batch)
    out = []
    for path, x in pairs:
        shape = tuple(getattr(x, "shape", np.shape(x)))
        if not shape or shape[0] % total:
            raise ValueError(
                f"shard_batch: leaf {keystr(path) or '<root>'} has shape {shape}, whose "
                f"leading axis is not a multiple of the {total} devices of all processes "
                f"({count} process(es) x {n_local}); drop or pad the last batch "
                "(ft.data.batches(..., drop_last=True))")
        rows = shape[0] // count
        part = x[index * rows:(index + 1) * rows]
        out.append(part.reshape((n_local, rows // n_local) + shape[1:]))
    return tree_unflatten(tree, out)


def _host_leaves(tree, what):
    pairs, treedef = tree_flatten_with_path(tree)
    hosts = []
    for path, x in pairs:
        raw = x._value if type(x) is Array else x
        h = np.asarray(to_host(raw))
        if h.dtype.kind not in "biufc":
            raise TypeError(f"{what}: leaf {keystr(path) or '<root>'} is a "
                            f"{type(x).__name__}; only arrays and numbers travel")
        hosts.append(h)
    return pairs, treedef, hosts


def _like(x, host):
    """`host` as the kind of value `x` was: an Array on its device, NumPy, or a scalar."""
    if type(x) is Array:
        dev = device_of_raw(x._value)
        return wrap(host if dev is cpu else transfer(host, dev))
    if isinstance(x, np.ndarray):
        return host
    if isinstance(x, (bool, int, float, complex)):
        return type(x)(host.item())
    return wrap(host)


def _check_same(world, what, pairs, hosts):
    mine = [(keystr(p) or "<root>", h.shape, h.dtype.str) for (p, _), h in zip(pairs, hosts)]
    everyone = world.allgather_object(mine)
    if any(e != everyone[0] for e in everyone):
        first = next(i for i, e in enumerate(everyone) if e != everyone[0])
        raise ValueError(f"{what}: the pytrees differ between processes: process 0 has "
                         f"{_summary(everyone[0])}, process {first} has "
                         f"{_summary(everyone[first])}")


def _summary(leaves):
    return "[" + ", ".join(f"{p}: {np.dtype(d).name}{list(s)}" for p, s, d in leaves) + "]"


def broadcast(tree, root=0):
    """Process `root`'s values of `tree` in every process (e.g. the initial parameters, so that
    every process starts from the same ones). Every process passes a pytree of the same
    structure, shapes and dtypes; leaves keep their kind (Array on its device, NumPy array,
    Python scalar). Leaves of one dtype travel in one message."""
    world = processes.world()
    if world.count == 1:
        return tree
    pairs, treedef, hosts = _host_leaves(tree, "broadcast")
    _check_same(world, "broadcast", pairs, hosts)
    comm = world.comm
    got = [None] * len(hosts)
    by_dtype = {}
    for i, h in enumerate(hosts):
        by_dtype.setdefault(h.dtype, []).append(i)
    for dtype, idx in by_dtype.items():
        buf = np.concatenate([hosts[i].reshape(-1) for i in idx]) if idx else None
        comm.Bcast(buf, root=root)
        start = 0
        for i in idx:
            n = hosts[i].size
            got[i] = buf[start:start + n].reshape(hosts[i].shape)
            start += n
    return tree_unflatten(treedef, [_like(x, g) for (_, x), g in zip(pairs, got)])


def process_allgather(tree, tiled=False):
    """Every process's `tree`, leaf by leaf, in every process: stacked on a new leading axis
    (one entry per process), or with `tiled=True` concatenated along the leading axis. For
    saving or evaluating values that differ between processes. Leaves come back as Arrays on
    the host."""
    world = processes.world()
    pairs, treedef, hosts = _host_leaves(tree, "process_allgather")
    if world.count == 1:
        out = [h if tiled else h[None] for h in hosts]
    else:
        _check_same(world, "process_allgather", pairs, hosts)
        out = []
        for h in hosts:
            h = np.ascontiguousarray(h)
            res = np.empty((world.count,) + h.shape, h.dtype)
            world.comm.Allgather(h, res)
            out.append(res.reshape((-1,) + h.shape[1:]) if tiled and h.ndim else res)
    return tree_unflatten(treedef, [wrap(o) for o in out])


def replicate(tree, devices=None):
    """`tree` with a leading axis of one copy per local device (`pmap`'s devices): how
    parameters enter a pmapped training step."""
    n = len(devices) if devices is not None else len(local_devices())
    leaves, treedef = tree_flatten(tree)
    out = []
    for x in leaves:
        raw = x._value if type(x) is Array else np.asarray(x)
        xp = np if type(raw) is np.ndarray else device_of_raw(raw).xp
        out.append(wrap(xp.stack([raw] * n)))
    return tree_unflatten(treedef, out)


def unreplicate(tree):
    """The first device's copy of a replicated pytree (each leaf's entry 0): the parameters
    to save or evaluate after pmapped training."""
    leaves, treedef = tree_flatten(tree)
    return tree_unflatten(treedef, [x[0] for x in leaves])
