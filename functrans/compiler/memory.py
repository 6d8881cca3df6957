"""Memory planning by liveness: results are written into buffers that are already dead
(`out=`) instead of fresh allocations.

The planner sees the program as a list of instructions (an equation and its `Kernel`, which
says whether the kernel returns a fresh array, a view of its input, or something unknown,
and whether it can write into a given buffer). It tracks *storages*: memory allocated by a
fresh kernel in this program (or a donated input). Every value maps to the storages it may
share memory with: a fresh result to its own, a view (reshape, transpose, broadcast, slice)
to its input's, and a result of an unknown kernel to all of its inputs' (it may be a view or
the input itself). A storage is dead after the last use of every value that may share it, and
never dead if one of them is an output; inputs (unless donated) and constants are never
written. An instruction may write into
- a dead storage of the same shape and dtype, or
- in place into an operand that dies at this instruction, where the kernel allows it (an
  elementwise kernel, for any of its operands) and that operand is the storage's array itself
  (never a view of it, so input and output coincide exactly).
Kernels whose results could depend on memory order (transcendental functions take a
different code path for strided data) get a buffer only when it and all their array inputs
of two or more dimensions are known to be C-contiguous (NumPy would then lay the result out
in C order too), so the jitted result equals the eager one bit for bit.
Buffers no instruction writes into again are released (`del`) after their last use, so a
function's peak memory follows its liveness too.

With `pool=True` the plan also names the buffers the executable may keep from one call to
the next (`Plan.slots`): those a kernel can create by writing into a given C-contiguous
array, that never hold a value an output can see. The code generator gives each slot a
region of one block of memory, regions of slots alive at the same time apart
(`arena_layout`), so the block is about as large as the most the slots ever hold at once.

A kernel may lend memory for some of its operands (`Kernel.lends`: a collective packing its
operands into one buffer). An operand computed by a kernel that can write into a given
C-contiguous array is then computed there (`Plan.lent`), when nothing but that kernel's
results reads its memory afterwards (the kernel may overwrite it) and no output can see it;
such memory is never handed to another value.
"""
from __future__ import annotations

import math

from ..jaxpr import Var

FRESH, VIEW, OPAQUE = "fresh", "view", "opaque"
FOREVER = math.inf
REUSE_MIN_BYTES = 4096       # below this, allocating is as cheap as passing out=


class Storage:
    """Memory holding one fresh result (or a donated input) from its creation to `end`, the
    last instruction using it (FOREVER if an output can see it); `c`: C-contiguous."""
    __slots__ = ("shape", "dtype", "c", "end", "buffer")

    def __init__(self, shape, dtype, c):
        self.shape, self.dtype, self.c = shape, dtype, c
        self.end = -1
        self.buffer = None


class Buffer:
    """An array at run time, holding one storage after another; `holder` is the value
    whose name currently refers to it; `slot`: its index in `Plan.slots` if the executable
    keeps it between calls, else None."""
    __slots__ = ("c", "holder", "storages", "slot", "lent")

    def __init__(self, storage, holder, lent=False):
        self.c = storage.c
        self.holder = holder
        self.storages = [storage]
        self.slot = None
        self.lent = lent
        storage.buffer = self


class Slot:
    """A buffer kept between calls: written first by instruction `start`, last used by
    instruction `stop`."""
    __slots__ = ("shape", "dtype", "start", "stop")

    def __init__(self, shape, dtype, start, stop):
        self.shape, self.dtype, self.start, self.stop = shape, dtype, start, stop

    @property
    def nbytes(self):
        return math.prod(self.shape) * self.dtype.itemsize


class Plan:
    """`target[k]`: the value whose array instruction k writes its result into (absent:
    allocate); `slot_of[k]`: the slot instruction k writes its result into instead of
    allocating; `release[k]`: values whose names can be dropped after instruction k;
    `slots`: the buffers kept between calls; `lent[k] = (j, i)`: instruction k's result is
    the memory instruction j lends for its operand at position i (k computes it there, or
    is a reshape of it); `owned`: the positions of outputs that are C-contiguous arrays of
    their own, which nothing else the program returns or was given can see (a loop may
    donate them to its next iteration)."""

    def __init__(self):
        self.target = {}
        self.slot_of = {}
        self.lent = {}
        self.release = {}
        self.slots = []
        self.owned = ()


def _owned_size(aval, min_bytes):
    shape = getattr(aval, "shape", None)
    if not shape:
        return False
    return math.prod(shape) * aval.dtype.itemsize >= max(min_bytes, 1)


def plan(instrs, invars, outvars, donated=(), c_inputs=(), min_bytes=None, pool=False,
         together=()):
    """Plan buffers for `instrs`, a list of `(eqn, kernel)`.

    `donated`: input variables whose arrays may be overwritten (C-contiguous and owned by
    nobody else; the caller checks that at run time). `c_inputs`: inputs known to be
    C-contiguous. `pool`: plan slots, buffers kept between calls. `together`: `{k: j}` for
    instructions k still running at instruction j (their operands stay alive through j).
    """
    if min_bytes is None:
        min_bytes = REUSE_MIN_BYTES
    last = {v: -1 for v in invars}
    for k, (eqn, _) in enumerate(instrs):
        for v in eqn.outvars:
            last[v] = k
        for v in eqn.invars:
            if type(v) is Var:
                last[v] = max(last[v], together.get(k, k))
    for v in outvars:
        if type(v) is Var:
            last[v] = FOREVER

    # the storages each value may share memory with, and which values are C-contiguous
    roots, c, creates = {}, {v: True for v in c_inputs}, {}
    given = set()
    for v in donated:
        if _owned_size(v.aval, min_bytes):
            st = Storage(v.aval.shape, v.aval.dtype, True)
            Buffer(st, v)
            roots[v] = (st,)
            c[v] = True
            given.add(st)
    borrowers = _borrowers(instrs)
    for k, (eqn, kernel) in enumerate(instrs):
        in_vars = [v for v in eqn.invars if type(v) is Var]
        c_ins = all(c.get(v, False) for v in in_vars)
        if kernel.kind == FRESH and len(eqn.outvars) == 1:
            out = eqn.outvars[0]
            c[out] = kernel.c_layout(_c_operands(c, in_vars))
            if _owned_size(out.aval, min_bytes) or out in borrowers:
                creates[k] = roots[out] = (Storage(out.aval.shape, out.aval.dtype, c[out]),)
            continue
        shared = tuple({id(s): s for v in in_vars for s in roots.get(v, ())}.values())
        for out in eqn.outvars:
            roots[out] = shared
            if kernel.kind == VIEW:
                c[out] = kernel.c_layout(c_ins)
    for v, sts in roots.items():
        for st in sts:
            st.end = max(st.end, last[v])
    ending = {}
    for sts in roots.values():
        for st in sts:
            ending.setdefault(st.end, {})[id(st)] = st

    free = {}
    first = {}                      # instruction -> the storage it creates a buffer with

    def release(k):
        for st in ending.get(k, {}).values():
            if st.buffer is not None and st is st.buffer.storages[-1] and not st.buffer.lent:
                free.setdefault((st.shape, st.dtype), []).append(st.buffer)

    result = Plan()
    result.lent = _lent_operands(instrs, creates, roots, c)
    release(-1)
    for k, (eqn, kernel) in enumerate(instrs):
        if k in result.lent:
            if k in creates:
                Buffer(creates[k][0], eqn.outvars[0], lent=True)
        elif k in creates:
            st, = creates[k]
            out = eqn.outvars[0]
            chosen = None
            layout_ok = False
            if kernel.accepts_out:
                in_vars = [v for v in eqn.invars if type(v) is Var]
                layout_ok = kernel.exact or _c_operands(c, in_vars)
                if kernel.inplace and layout_ok:
                    chosen = _dying_input(k, st, roots, eqn, kernel.inplace, in_vars)
                if chosen is None and layout_ok:
                    chosen = _take_free(free.get((st.shape, st.dtype), []),
                                        kernel.exact and not kernel.out_c)
            if chosen is not None:
                result.target[k] = chosen.holder
                chosen.holder = out
                chosen.storages.append(st)
                st.buffer = chosen
                c[out] = st.c = chosen.c
            else:
                Buffer(st, out)
                if pool and layout_ok:          # the kernel could write into a slot
                    first[k] = st
        release(k)
    for k, st in first.items():
        buf = st.buffer
        if all(s.end != FOREVER for s in buf.storages):      # no output sees it
            buf.slot = result.slot_of[k] = len(result.slots)
            result.slots.append(Slot(st.shape, st.dtype, k,
                                     max(s.end for s in buf.storages)))
    _plan_releases(result, roots, set(donated))
    result.owned = _owned_outputs(outvars, roots, given)
    return result


def _borrowers(instrs):
    """The values that lent memory might hold: operands of a kernel that lends memory for
    them, and what they are reshapes of (however small: writing into lent memory saves a
    copy)."""
    made_by = {v: eqn for eqn, _ in instrs for v in eqn.outvars}
    found = set()
    for eqn, kernel in instrs:
        for i in kernel.lends[0] if kernel.lends is not None else ():
            v = eqn.invars[i]
            while type(v) is Var:
                found.add(v)
                inner = made_by.get(v)
                if inner is None or inner.primitive.kernel_kind != "reshape":
                    break
                v = inner.invars[0]
    return found


def _lent_operands(instrs, creates, roots, c):
    """`Plan.lent`: the operands to compute in the memory their consumer lends, with the
    reshapes between (views of the same memory). Such an operand is read by that consumer
    alone and has no other view (the consumer may overwrite it); between a lender's first
    borrower and the lender itself no other lender runs (each hands out its memory right
    before its first borrower, and takes it back when it runs)."""
    made_by = {v: j for j, (eqn, _) in enumerate(instrs) for v in eqn.outvars}
    reads = {}
    for eqn, _ in instrs:
        for v in eqn.invars:
            if type(v) is Var:
                reads[v] = reads.get(v, 0) + 1
    lent, previous = {}, -1
    for k, (eqn, kernel) in enumerate(instrs):
        if kernel.lends is None:
            continue
        for i in kernel.lends[0]:
            chain, v = [], eqn.invars[i]
            if type(v) is not Var or eqn.invars.count(v) != 1:
                continue
            j = made_by.get(v, -1)
            while j > previous and reads[v] == 1 and instrs[j][0].primitive.kernel_kind == \
                    "reshape":
                chain.append(j)
                v = instrs[j][0].invars[0]
                j = made_by.get(v, -1) if type(v) is Var else -1
            if j <= previous or reads[v] != 1 or j not in creates:
                continue
            writer = instrs[j][1]
            in_vars = [u for u in instrs[j][0].invars if type(u) is Var]
            if not writer.accepts_out or not (writer.exact or _c_operands(c, in_vars)):
                continue
            st, = creates[j]
            mine = {instrs[m][0].outvars[0] for m in chain} | {v}
            if st.end == FOREVER or any(st in rs for u, rs in roots.items()
                                        if u not in mine and u not in eqn.outvars):
                continue
            for m in chain + [j]:
                lent[m] = (k, i)
        if any(lender == k for lender, _ in lent.values()):
            previous = k
    return lent


def _c_operands(c, in_vars):
    """Whether the operands that decide the layout of a fresh kernel's result are known to
    be C-contiguous: those of two or more dimensions (a vector or a scalar, however strided
    or broadcast, never makes NumPy lay a result out other than in C order)."""
    return all(c.get(v, False) for v in in_vars if len(getattr(v.aval, "shape", ())) > 1)


def _owned_outputs(outvars, roots, given):
    """Outputs held in a storage this program created (a donated input passed through may
    have been None at run time, i.e. the caller's array), C-contiguous, seen by no other."""
    out_vars = [v for v in outvars if type(v) is Var]
    owned = []
    for pos, v in enumerate(outvars):
        rs = roots.get(v, ()) if type(v) is Var else ()
        if len(rs) != 1 or out_vars.count(v) != 1 or rs[0] in given:
            continue
        st = rs[0]
        buf = st.buffer
        if buf is None or buf.holder is not v or buf.storages[-1] is not st or not st.c:
            continue
        if not any(st in roots.get(u, ()) for u in out_vars if u is not v):
            owned.append(pos)
    return tuple(owned)


def _take_free(pool, any_layout):
    """A dead buffer from `pool` (the most recently freed: warm in cache), or None."""
    for i in range(len(pool) - 1, -1, -1):
        if any_layout or pool[i].c:
            return pool.pop(i)
    return None


def _dying_input(k, st, roots, eqn, positions, in_vars):
    """The buffer of an operand (at one of `positions`) that dies at instruction `k` and
    may be overwritten in place, or None."""
    for i in positions:
        v = eqn.invars[i]
        if type(v) is not Var:
            continue
        rs = roots.get(v, ())
        if len(rs) != 1:
            continue
        t = rs[0]
        buf = t.buffer
        if t.end != k or buf is None or buf.holder is not v or buf.storages[-1] is not t \
                or (t.shape, t.dtype) != (st.shape, st.dtype):
            continue
        if any(t in roots.get(u, ()) for u in in_vars if u is not v):
            continue
        return buf
    return None


def _plan_releases(result, roots, donated):
    """Drop each name after the last use of the buffers it refers to (the earliest, if it
    may refer to several: dropping one reference early frees nothing still in use); names
    of slots need no dropping, the executable keeps their memory anyway."""
    for v, rs in roots.items():
        if v in donated or not rs or all(st.buffer.slot is not None for st in rs):
            continue
        end = min(max(s.end for s in st.buffer.storages) for st in rs)
        if end != FOREVER:
            result.release.setdefault(end, []).append(v)


ALIGN = 64          # bytes: slots start on cache lines


def arena_layout(slots):
    """Byte offsets for `slots` (objects with `nbytes`, `start`, `stop`) in one block, slots
    alive at the same time apart, and the block's size. Larger slots are placed first, each
    at the lowest offset clear of the slots already placed that it overlaps in time."""
    offsets = [0] * len(slots)
    placed = []                                  # (offset, end, slot index)
    for i in sorted(range(len(slots)), key=lambda i: -slots[i].nbytes):
        s = slots[i]
        size = -(-s.nbytes // ALIGN) * ALIGN
        offset = 0
        for lo, hi, j in sorted(placed):
            t = slots[j]
            if t.start > s.stop or s.start > t.stop:
                continue                         # never alive together
            if lo - offset >= size:
                break
            offset = max(offset, hi)
        offsets[i] = offset
        placed.append((offset, offset + size, i))
    return offsets, max((hi for _, hi, _ in placed), default=0)
