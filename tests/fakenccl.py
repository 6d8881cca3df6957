"""A stand-in for `cupy.cuda.nccl`, for testing functrans' NCCL communicator
(`functrans.backends.nccl.NcclGroup`) without GPUs. A test double, not NCCL.

It offers the names NcclGroup uses, with CuPy's signatures: `get_unique_id`, `groupStart`,
`groupEnd`, the datatype and reduction constants, and `NcclCommunicator(ndev, uid, rank)`
with `allReduce`, `allGather`, `reduceScatter`, `send`, `recv` (device pointers and element
counts, as NCCL takes them) and `abort`. Ranks are threads of this process; buffers are host
memory (the fakegpu arrays) read and written through the pointers given, so a wrong pointer,
count or datatype shows up as wrong numbers. Collectives block until every rank of the
communicator has called them, and reduce in rank order.
"""
import ctypes
import os
import threading

import numpy as np

(NCCL_INT8, NCCL_UINT8, NCCL_INT32, NCCL_UINT32, NCCL_INT64, NCCL_UINT64, NCCL_FLOAT16,
 NCCL_FLOAT32, NCCL_FLOAT64) = range(9)
NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN = range(4)
available = True

_DTYPES = {NCCL_INT8: np.int8, NCCL_UINT8: np.uint8, NCCL_INT32: np.int32,
           NCCL_UINT32: np.uint32, NCCL_INT64: np.int64, NCCL_UINT64: np.uint64,
           NCCL_FLOAT16: np.float16, NCCL_FLOAT32: np.float32, NCCL_FLOAT64: np.float64}
_OPS = {NCCL_SUM: np.add, NCCL_PROD: np.multiply, NCCL_MAX: np.maximum, NCCL_MIN: np.minimum}

_cliques = {}
_lock = threading.Lock()
calls = []          # (operation, rank, count, datatype) of every call, for tests to inspect


def get_unique_id():
    return tuple(os.urandom(128))


def groupStart():
    pass


def groupEnd():
    pass


def _memory(ptr, count, datatype):
    dtype = np.dtype(_DTYPES[datatype])
    raw = (ctypes.c_byte * (count * dtype.itemsize)).from_address(ptr)
    return np.frombuffer(raw, dtype, count)


class _Clique:
    def __init__(self, size):
        self.size = size
        self.barrier = threading.Barrier(size, timeout=60)
        self.slots = [None] * size
        self.mail = {}
        self.arrived = threading.Condition()
        self.ranks = set()

    def exchange(self, rank, value):
        self.slots[rank] = value
        self.barrier.wait()
        got = list(self.slots)
        self.barrier.wait()
        return got


class NcclCommunicator:
    def __init__(self, ndev, commId, rank):
        with _lock:
            clique = _cliques.setdefault(tuple(commId), _Clique(ndev))
        if clique.size != ndev or not 0 <= rank < ndev or rank in clique.ranks:
            raise RuntimeError(f"invalid NCCL rank {rank} of {ndev}")
        clique.ranks.add(rank)
        self._clique, self._rank = clique, rank

    def rank_id(self):
        return self._rank

    def size(self):
        return self._clique.size

    def _log(self, op, count, datatype):
        calls.append((op, self._rank, count, datatype))

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
        self._log("allReduce", count, datatype)
        got = self._clique.exchange(self._rank, _memory(sendbuf, count, datatype).copy())
        total = got[0].copy()
        for g in got[1:]:
            _OPS[op](total, g, out=total)
        _memory(recvbuf, count, datatype)[...] = total

    def allGather(self, sendbuf, recvbuf, count, datatype, stream):
        self._log("allGather", count, datatype)
        got = self._clique.exchange(self._rank, _memory(sendbuf, count, datatype).copy())
        _memory(recvbuf, count * self._clique.size, datatype)[...] = np.concatenate(got)

    def reduceScatter(self, sendbuf, recvbuf, recvcount, datatype, op, stream):
        self._log("reduceScatter", recvcount, datatype)
        n = self._clique.size
        got = self._clique.exchange(self._rank,
                                    _memory(sendbuf, recvcount * n, datatype).copy())
        part = slice(self._rank * recvcount, (self._rank + 1) * recvcount)
        total = got[0][part].copy()
        for g in got[1:]:
            _OPS[op](total, g[part], out=total)
        _memory(recvbuf, recvcount, datatype)[...] = total

    def send(self, sendbuf, count, datatype, peer, stream):
        self._log("send", count, datatype)
        c = self._clique
        with c.arrived:
            c.mail[(self._rank, peer)] = _memory(sendbuf, count, datatype).copy()
            c.arrived.notify_all()

    def recv(self, recvbuf, count, datatype, peer, stream):
        self._log("recv", count, datatype)
        c = self._clique
        with c.arrived:
            if not c.arrived.wait_for(lambda: (peer, self._rank) in c.mail, timeout=60):
                raise RuntimeError("fake NCCL: nothing arrived")
            _memory(recvbuf, count, datatype)[...] = c.mail.pop((peer, self._rank))

    def abort(self):
        self._clique.barrier.abort()
