"""The processes of a job, and the communicators that connect devices for collectives.

A *world* is the set of processes running one program: a single process unless
`ft.distributed.initialize()` joined an MPI world (it then installs its own `World` with
`set_world`). Everything below the distributed layer asks the world through this module, so
nothing here imports mpi4py.

A *group* connects the ranks a `pmap` axis spans, each rank one device of one process (ranks
are numbered process by process). Kernels of the cross-rank collectives
(`higher_order.collectives`) call its methods with raw arrays (NumPy, CuPy); `rank` is the
caller's rank, which matters where one process holds several ranks (one thread per device).
Every rank must call the same methods in the same order with the same shapes and dtypes;
`agree`, called where a program starts, checks that (by digest) before the program's first
collective, and raises on every rank when it does not hold. Reductions give bit-identical
results on every rank.
"""
from __future__ import annotations

import os
import threading

import numpy as np

__all__ = ["World", "Group", "ThreadGroup", "world", "set_world", "process_index",
           "process_count", "launcher_size", "OPS"]

# reduction name -> the NumPy function combining the ranks' arrays, in rank order
OPS = {"sum": np.add, "max": np.maximum, "min": np.minimum}


class World:
    """One process: the default world (no communication at all)."""
    index = 0
    count = 1
    generation = 0          # changes each time a world is installed (pmap's caches key on it)

    def devices_of(self, process):
        """The `(platform, id)` of each device of process `process`, in `devices()` order."""
        raise ValueError(f"process {process} does not exist in a world of one process")

    def allgather_object(self, obj):
        """Every process's `obj` (picklable), in process order."""
        return [obj]

    def broadcast_object(self, obj, root=0):
        """Process `root`'s `obj` on every process."""
        return obj

    def agree(self, digest, describe):
        """Raise on every process unless all passed the same `digest` (an int); `describe()`
        gives this process's description of what was digested, for the error."""

    def host_group(self):
        """The group of one rank per process over host (NumPy) arrays; None in one process."""
        return None

    def group(self, devices):
        """The group for a pmap over `devices` (this process's) in every process: None when
        there is nothing to communicate (one device, one process)."""
        if len(devices) == 1:
            return None
        native = devices[0].backend.communicator(devices, self)
        return native if native is not None else ThreadGroup(devices)

    def abort(self, code=1):
        """End every process of the job (here: this one)."""
        os._exit(code)

    def __repr__(self):
        return "World(1 process)"


class Group:
    """Ranks connected for collectives. Subclasses implement the methods; `size` is the number
    of ranks, `local_ranks` this process's ranks in the order of its devices."""
    size = 1
    local_ranks = (0,)

    def allreduce(self, rank, xs, op):
        """`op` ("sum", "max", "min") of each array of the list `xs` over the ranks (arrays of
        one dtype travel in one buffer); a list of results."""
        raise NotImplementedError

    def lendable(self, avals):
        """The positions of the operands of an `allreduce` of `avals` (abstract values)
        for which `lend` offers memory: none here."""
        return ()

    def lend(self, rank, avals, positions):
        """For the operands at `positions` of the next `allreduce` of `avals`, arrays to
        compute them in: where the all-reduce would pack them (it then copies nothing, and
        overwrites them with the result)."""
        raise NotImplementedError

    def allgather(self, rank, x):
        """The ranks' `x`, stacked: shape `(size,) + x.shape`."""
        raise NotImplementedError

    def reduce_scatter(self, rank, x):
        """The sum over ranks of `x` (shape `(size,) + rest`), block `rank` of it: `rest`."""
        raise NotImplementedError

    def permute(self, rank, x, pairs):
        """`x` sent along `pairs` ((source rank, destination rank), ...): the value this rank
        receives, or zeros if it receives none."""
        raise NotImplementedError

    def agree(self, rank, digest, describe):
        """`World.agree` for the ranks of this group: raise on every rank unless all passed
        the same `digest`."""
        raise NotImplementedError

    def cancel(self):
        """Wake this process's ranks waiting in a collective after one of them failed (they
        raise); a no-op where ranks are processes."""

    def __repr__(self):
        return f"{type(self).__name__}({self.size} ranks)"


def _combine(op, values):
    """`op` over `values` left to right (the same order on every rank: identical bits)."""
    fn = OPS[op]
    total = values[0].copy()
    for v in values[1:]:
        fn(total, v, out=total)
    return total


class ThreadGroup(Group):
    """Several devices of this process (one world process), one rank each, run by one thread
    each: ranks exchange arrays through memory and reduce them in rank order. For devices
    whose backend offers no communicator of its own."""

    def __init__(self, devices):
        self.devices = list(devices)
        self.size = len(self.devices)
        self.local_ranks = tuple(range(self.size))
        self._slots = [None] * self.size
        self._barrier = threading.Barrier(self.size)

    def _exchange(self, rank, value):
        self._slots[rank] = value
        self._barrier.wait()
        got = list(self._slots)
        self._barrier.wait()            # nobody overwrites a slot before all have read
        return got

    def _here(self, rank, raw):
        """`raw` (any rank's array) on this rank's device."""
        from . import transfer
        return transfer(raw, self.devices[rank])

    def allreduce(self, rank, xs, op):
        got = self._exchange(rank, xs)
        return [_combine(op, [self._here(rank, g[i]) for g in got]) for i in range(len(xs))]

    def allgather(self, rank, x):
        got = self._exchange(rank, x)
        xp = self.devices[rank].xp
        with self.devices[rank].backend.activate(self.devices[rank]):
            return xp.stack([self._here(rank, g) for g in got])

    def reduce_scatter(self, rank, x):
        got = self._exchange(rank, x)
        return _combine("sum", [self._here(rank, g[rank]) for g in got])

    def permute(self, rank, x, pairs):
        got = self._exchange(rank, x)
        src = next((s for s, d in pairs if d == rank), None)
        if src is None:
            xp = self.devices[rank].xp
            with self.devices[rank].backend.activate(self.devices[rank]):
                return xp.zeros(x.shape, x.dtype)
        return self._here(rank, got[src]).copy()

    def agree(self, rank, digest, describe):
        got = self._exchange(rank, (digest, describe()))
        if len({d for d, _ in got}) > 1:
            raise disagreement_error([w for _, w in got], "device")

    def cancel(self):
        self._barrier.abort()


def disagreement_error(descriptions, who="process"):
    """The error for ranks that are about to run different collectives: `descriptions[r]` is
    rank r's list of `(collective, axis name, operand description)`."""
    n = max(len(d) for d in descriptions)
    for i in range(n):
        seen = [d[i] if i < len(d) else None for d in descriptions]
        if len(set(seen)) > 1:
            break
    first = next(s for s in seen if s is not None)
    lines = []
    for r, s in enumerate(seen):
        lines.append(f"{who} {r}: " + ("no such collective" if s is None else
                                        f"{s[0]} over {s[1]!r} of {s[2]}"))
    counts = sorted({len(d) for d in descriptions})
    count_note = "" if len(counts) == 1 else \
        f" ({who}es run {' / '.join(map(str, counts))} collectives)"
    return ValueError(
        f"collective {i + 1} ({first[0]} over axis {first[1]!r}) differs between "
        f"{who}es{count_note}: " + "; ".join(lines) + ". Every " + who + " must call the "
        "same collectives with the same shapes and dtypes (give every process batches of "
        "the same shape, e.g. drop or pad the last batch).")


# ------------------------------------------------------------------ the current world
_current = [World()]


def world():
    """The current world (one process unless `ft.distributed.initialize()` joined MPI)."""
    return _current[0]


def set_world(w):
    """Install `w` as the current world (the distributed layer does this)."""
    w.generation = _current[0].generation + 1
    _current[0] = w


def process_index(backend=None):
    """This process's index in the job (0 in a single process); `backend` (JAX's) is
    accepted: every platform shares the job."""
    return _current[0].index


def process_count(backend=None):
    """The number of processes in the job (1 unless `ft.distributed.initialize()` joined an
    MPI world of several); `backend` (JAX's) is accepted: every platform shares the job."""
    return _current[0].count


# the size of the job, as MPI launchers tell their processes: MPICH's Hydra (and other
# PMI-based launchers, srun included), Open MPI, MVAPICH
_LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def launcher_size():
    """How many processes an MPI launcher (mpiexec, mpirun, srun) started with this one; 0
    when none started it."""
    for var in _LAUNCHER_SIZE_VARIABLES:
        value = os.environ.get(var)
        if value and value.strip().isdigit():
            return int(value)
    return 1 if os.environ.get("PMIX_RANK") is not None else 0
