"""NCCL between GPUs: the communicator of the CuPy backend (`cupy.cuda.nccl`).

Every GPU a pmap maps over is one NCCL rank, in one communicator spanning the GPUs of every
process (ranks numbered process by process); process 0 draws the communicator's unique id
and the world (MPI) hands it to the others. A process with several GPUs creates its ranks in
one NCCL group call and runs each GPU's program in a thread of its own, so the collectives of
its ranks are issued concurrently, as NCCL requires. Collectives run on the current CuPy
stream of their GPU, after the kernels that produced their operands.

Written against CuPy's documented `cupy.cuda.nccl` API (`get_unique_id`, `NcclCommunicator`
with `allReduce`, `allGather`, `reduceScatter`, `send`, `recv`, `abort`, and
`groupStart`/`groupEnd`); the module, the stream and the device pointers are passed in, so
that the logic runs on a stand-in without GPUs (tests/fakenccl.py).
"""
from __future__ import annotations

import threading

from .processes import Group

# NumPy dtype -> the name of NCCL's datatype constant; other dtypes travel as one of these
_NCCL_TYPES = {"int8": "NCCL_INT8", "uint8": "NCCL_UINT8", "int32": "NCCL_INT32",
               "uint32": "NCCL_UINT32", "int64": "NCCL_INT64", "uint64": "NCCL_UINT64",
               "float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64"}
_NCCL_OPS = {"sum": "NCCL_SUM", "max": "NCCL_MAX", "min": "NCCL_MIN"}
_WIDENED = {"bool": "uint8", "int16": "int32", "uint16": "uint32"}
_AS_PAIRS = {"complex64": "float32", "complex128": "float64"}     # sums only


class NcclGroup(Group):
    """The GPUs `devices` of this process and the same number in every other process of
    `world`, one NCCL rank each. `nccl` is `cupy.cuda.nccl`; `stream()` gives the current
    stream's handle and `pointer(array)` an array's device address."""

    def __init__(self, devices, world, nccl, stream, pointer):
        self.devices, self.world, self.nccl = list(devices), world, nccl
        self._stream, self._pointer = stream, pointer
        n = len(self.devices)
        counts = world.allgather_object(n)
        if len(set(counts)) > 1:
            raise ValueError(f"pmap over GPUs needs as many GPUs in every process; the "
                             f"processes map over {counts}")
        self.size = n * world.count
        self.local_ranks = tuple(world.index * n + i for i in range(n))
        uid = world.broadcast_object(nccl.get_unique_id() if world.index == 0 else None)
        self.comms = []
        nccl.groupStart()           # several ranks of one thread initialize together
        try:
            for dev, rank in zip(self.devices, self.local_ranks):
                with dev.backend.activate(dev):
                    self.comms.append(nccl.NcclCommunicator(self.size, uid, rank))
        finally:
            nccl.groupEnd()
        self._barrier = threading.Barrier(n)
        self._verdict = None

    def _local(self, rank):
        i = rank - self.local_ranks[0]
        return self.devices[i], self.comms[i]

    def _wire(self, x, op, xp):
        """`x` flat and C-contiguous in a dtype NCCL has, with that datatype's code."""
        name = x.dtype.name
        x = xp.ascontiguousarray(x).reshape(-1)
        if name in _AS_PAIRS:
            if op != "sum":
                raise TypeError(f"NCCL cannot take the {op} of complex arrays")
            x, name = x.view(_AS_PAIRS[name]), _AS_PAIRS[name]
        elif name in _WIDENED:
            x, name = x.astype(_WIDENED[name]), _WIDENED[name]
        elif name not in _NCCL_TYPES:
            raise TypeError(f"NCCL moves no arrays of dtype {x.dtype}")
        return x, getattr(self.nccl, _NCCL_TYPES[name])

    def allreduce(self, rank, xs, op):
        dev, comm = self._local(rank)
        xp = dev.xp
        out = [None] * len(xs)
        by_dtype = {}
        for i, x in enumerate(xs):
            by_dtype.setdefault(x.dtype, []).append(i)
        for dtype, idx in by_dtype.items():
            flat = xs[idx[0]] if len(idx) == 1 else \
                xp.concatenate([xs[i].reshape(-1) for i in idx])
            wire, code = self._wire(flat, op, xp)
            res = xp.empty_like(wire)
            comm.allReduce(self._pointer(wire), self._pointer(res), wire.size, code,
                           getattr(self.nccl, _NCCL_OPS[op]), self._stream())
            res = _back(res, dtype, (-1,))
            start = 0
            for i in idx:
                n = xs[i].size
                out[i] = res[start:start + n].reshape(xs[i].shape)
                start += n
        return out

    def allgather(self, rank, x):
        dev, comm = self._local(rank)
        wire, code = self._wire(x, "sum", dev.xp)
        res = dev.xp.empty((self.size, wire.size), wire.dtype)
        comm.allGather(self._pointer(wire), self._pointer(res), wire.size, code,
                       self._stream())
        return _back(res, x.dtype, (self.size,) + x.shape)

    def reduce_scatter(self, rank, x):
        dev, comm = self._local(rank)
        wire, code = self._wire(x, "sum", dev.xp)
        res = dev.xp.empty(wire.size // self.size, wire.dtype)
        comm.reduceScatter(self._pointer(wire), self._pointer(res), res.size, code,
                           self.nccl.NCCL_SUM, self._stream())
        return _back(res, x.dtype, x.shape[1:])

    def permute(self, rank, x, pairs):
        dev, comm = self._local(rank)
        wire, code = self._wire(x, "sum", dev.xp)
        count = wire.size
        res = dev.xp.zeros(wire.shape, wire.dtype)
        dst = next((d for s, d in pairs if s == rank), None)
        src = next((s for s, d in pairs if d == rank), None)
        if src == rank:
            res[...] = wire
        stream = self._stream()
        self.nccl.groupStart()
        try:
            if dst is not None and dst != rank:
                comm.send(self._pointer(wire), count, code, dst, stream)
            if src is not None and src != rank:
                comm.recv(self._pointer(res), count, code, src, stream)
        finally:
            self.nccl.groupEnd()
        return _back(res, x.dtype, x.shape)

    def agree(self, rank, digest, describe):
        # the first local rank compares with the other processes for all of them
        if rank == self.local_ranks[0]:
            try:
                self.world.agree(digest, describe)
                self._verdict = None
            except Exception as e:      # noqa: BLE001 - raised by every local rank below
                self._verdict = e
        self._barrier.wait()
        verdict = self._verdict
        self._barrier.wait()
        if verdict is not None:
            raise verdict

    def cancel(self):
        self._barrier.abort()
        for comm in self.comms:
            comm.abort()


def _back(res, dtype, shape):
    """A result that travelled as NCCL's datatype, as `dtype` in `shape`."""
    if res.dtype != dtype:
        res = res.view(dtype) if dtype.kind == "c" else res.astype(dtype)
    return res.reshape(shape)
