"""The MPI world and its communicator over host arrays, through mpi4py (imported only by
`ft.distributed.initialize()`).

Data travel zero-copy: NumPy arrays go to mpi4py's buffer-based calls (`Allreduce`,
`Allgather`, `Reduce_scatter_block`, `Isend`/`Recv`) as they are when C-contiguous, and
`allreduce` packs the operands of one dtype into one buffer reduced in place (one MPI call per
dtype for a whole gradient pytree). functrans talks on its own duplicate of the world
communicator, so the user's MPI calls never interleave with its collectives.
"""
from __future__ import annotations

import math
import sys

import numpy as np
from mpi4py import MPI

from ..backends import cpu, devices as all_devices
from ..backends.processes import World, Group, disagreement_error

_MPI_OPS = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
_PERMUTE_TAG = 7311


class MPIWorld(World):
    """The processes of an MPI communicator (normally `MPI.COMM_WORLD`)."""

    def __init__(self, comm):
        self.comm = comm.Dup()
        self.index, self.count = self.comm.Get_rank(), self.comm.Get_size()
        mine = [(d.platform, d.id) for d in all_devices()]
        self._devices = self.comm.allgather(mine)
        self._host_group = MPIGroup(self) if self.count > 1 else None

    def devices_of(self, process):
        return list(self._devices[process])

    def allgather_object(self, obj):
        return self.comm.allgather(obj)

    def broadcast_object(self, obj, root=0):
        return self.comm.bcast(obj, root=root)

    def agree(self, digest, describe):
        # one all-reduce of the largest digest and of the largest negated one (blocking: a
        # nonblocking one left pending slows MPICH's next collectives down more than it saves)
        mine = np.array([digest, -digest], np.int64)
        top = np.empty(2, np.int64)
        self.comm.Allreduce(mine, top, op=MPI.MAX)
        if top[0] != -top[1]:               # the largest and the smallest digest differ
            raise disagreement_error(self.comm.allgather(list(describe())))

    def host_group(self):
        return self._host_group

    def group(self, devices):
        if self.count == 1:
            return World.group(self, devices)
        if len(devices) == 1 and devices[0] is cpu:
            return self._host_group
        native = devices[0].backend.communicator(devices, self)
        if native is not None:
            return native
        if len(devices) == 1:
            return MPIGroup(self, devices[0])
        raise ValueError(
            f"pmap over {len(devices)} {devices[0].platform} devices per process needs a "
            f"communicator between them and the other processes' devices, which the "
            f"{devices[0].platform} backend does not offer; map over one device per process "
            "(pmap(..., devices=[...])) or start one process per device")

    def barrier(self):
        self.comm.Barrier()

    def abort(self, code=1):
        self.comm.Abort(code)

    def __repr__(self):
        return f"MPIWorld(process {self.index} of {self.count})"


class MPIGroup(Group):
    """One rank per process, on host memory: a process's arrays on `device` (the CPU, or a
    device whose backend has no communicator: staged through host copies).

    Data go through staging buffers the group keeps (one per dtype and role, grown as
    needed): MPI moves a buffer it has seen before much faster than a newly allocated one
    (MPICH caches what it learns about memory by address). Results are views of the receiving
    buffer; a buffer is reused only once no result viewing it is alive any more (as in a
    training loop, where a step's gradients are dead before the next step's all-reduce), and
    replaced by a new one otherwise, so what a collective returned is never overwritten."""

    def __init__(self, world, device=cpu):
        self.world, self.comm, self.device = world, world.comm, device
        self.size, self.local_ranks = world.count, (world.index,)
        self._buffers = {}
        self._lent = {}     # dtype -> (buffer, {operand position: its region}) from `lend`

    def _stage(self, dtype, n, role):
        """A C-contiguous buffer of `n` elements of `dtype` for `role`, kept for the next
        call, which no array returned earlier views."""
        key = (dtype, role)
        buf = self._buffers.get(key)
        # references: the dict, `buf` and getrefcount's argument; more are live views
        if buf is None or buf.size < n or sys.getrefcount(buf) > 3:
            buf = self._buffers[key] = np.empty(max(n, 1), dtype)
        return buf[:n]

    def _host(self, x):
        return np.asarray(x) if self.device is cpu else np.asarray(self.device.backend.to_host(x))

    def _back(self, host):
        return host if self.device is cpu else self.device.backend.from_host(host, self.device)

    def lendable(self, avals):
        if self.device is not cpu:
            return ()
        return tuple(i for i, a in enumerate(avals) if _wire_dtype(a.dtype) == a.dtype)

    def lend(self, rank, avals, positions):
        self._lent = {}
        for dtype, (total, places) in _packing(avals).items():
            if any(i in positions for i, _, _ in places):
                buf = self._stage(dtype, total, "reduce")
                self._lent[dtype] = buf, {i: buf[at:at + n].reshape(avals[i].shape)
                                          for i, at, n in places}
        return [self._lent[np.dtype(avals[i].dtype)][1][i] for i in positions]

    def allreduce(self, rank, xs, op):
        mpi_op = _MPI_OPS[op]
        hosts = [self._host(x) for x in xs]
        out = [None] * len(hosts)
        for dtype, (total, places) in _packing(hosts).items():
            buf, regions = self._lent.get(dtype, (None, None))
            if buf is not None and buf.size == total and \
                    any(hosts[i] is regions.get(i) for i, _, _ in places):
                del self._lent[dtype]           # operands were computed in place (`lend`)
            else:
                buf = self._stage(_wire_dtype(dtype), total, "reduce")
                regions = {i: buf[at:at + n].reshape(hosts[i].shape) for i, at, n in places}
            for i, _, _ in places:      # pack what was not computed in place (any layout)
                if hosts[i] is not regions[i]:
                    np.copyto(regions[i], hosts[i], casting="unsafe")
            self.comm.Allreduce(MPI.IN_PLACE, buf, op=mpi_op)
            for i, _, _ in places:
                res = regions[i] if buf.dtype == dtype else regions[i].astype(dtype)
                out[i] = self._back(res)
        return out

    def allgather(self, rank, x):
        h = self._host(x)
        send = self._stage(h.dtype, h.size, "send")
        np.copyto(send.reshape(h.shape), h)
        recv = self._stage(h.dtype, h.size * self.size, "recv")
        self.comm.Allgather(send, recv)
        return self._back(recv.reshape((self.size,) + h.shape))

    def reduce_scatter(self, rank, x):
        h = self._host(x)
        wire = _wire_dtype(h.dtype)
        send = self._stage(wire, h.size, "send")
        np.copyto(send.reshape(h.shape), h, casting="unsafe")
        recv = self._stage(wire, h.size // self.size, "recv")
        self.comm.Reduce_scatter_block(send, recv, op=MPI.SUM)
        res = recv.reshape(h.shape[1:])
        return self._back(res if wire == h.dtype else res.astype(h.dtype))

    def permute(self, rank, x, pairs):
        me = self.world.index
        h = self._host(x)
        dst = next((d for s, d in pairs if s == me), None)
        src = next((s for s, d in pairs if d == me), None)
        request = None
        if dst is not None and dst != me:
            send = self._stage(h.dtype, h.size, "send")
            np.copyto(send.reshape(h.shape), h)
            request = self.comm.Isend(send, dest=dst, tag=_PERMUTE_TAG)
        if src is None:
            res = np.zeros_like(h)
        elif src == me:
            res = h.copy()
        else:
            recv = self._stage(h.dtype, h.size, "recv")
            self.comm.Recv(recv, source=src, tag=_PERMUTE_TAG)
            res = recv.reshape(h.shape)
        if request is not None:
            request.Wait()
        return self._back(res)

    def agree(self, rank, digest, describe):
        self.world.agree(digest, describe)


def _packing(arrays):
    """How `allreduce` lays out operands (anything with `shape` and `dtype`): for each dtype,
    in order of appearance, `(total size, [(operand position, offset, size), ...])`."""
    layout = {}
    for i, a in enumerate(arrays):
        n = math.prod(a.shape)
        entry = layout.setdefault(np.dtype(a.dtype), [0, []])
        entry[1].append((i, entry[0], n))
        entry[0] += n
    return layout


def _wire_dtype(dtype):
    """The dtype an array travels in: its own, except those MPI cannot reduce (float16 sums
    in float32; bools compare as bytes)."""
    if dtype == np.float16:
        return np.dtype(np.float32)
    if dtype == np.bool_:
        return np.dtype(np.uint8)
    return dtype
