"""Code generation: an optimized jaxpr becomes the source of a plain Python function over the
backend's kernels (`kernels`), with temporaries written into planned buffers (`memory`). The
source is kept so users can read what runs (`ft.jit(f).lower(...).as_text()`).

Temporaries that no output can see live in slots of one block of memory, the arena, which
the `Executable` keeps for its next call; the generated function takes the arena's arrays as
its last argument, `pool`.

Primitives with their own code (control flow) set
`prim.lowering = lowering(ctx, eqn, ins, outs, indent)`, where `ins` are the Python
expressions of the inputs and `outs` the names to assign, and use the `LoweringContext`:

- `ctx.emit(line, indent)` writes one line at an indentation level (blocks nest: emit
  `while ...:` at `indent` and its body at `indent + 1`);
- `ctx.lower_jaxpr(jaxpr, in_names, indent)` optimizes a nested jaxpr (a ClosedJaxpr, or a
  Jaxpr without constvars) and writes its code with its inputs bound to `in_names`,
  returning the expressions of its outputs (the body plans its own buffers and never writes
  into its inputs, so it can run any number of times, e.g. as a loop body);
- `ctx.fresh(prefix)` is a new local name, `ctx.const(value, prefix)` a module-level name
  bound to `value` (kernels, parameters, constant arrays), `ctx.xp` the array module and
  `ctx.device` the device the code runs on.

Such a primitive's results are assumed to share memory with any of its inputs (the planner
never writes into them), which is always safe.
"""
from __future__ import annotations

import builtins
import keyword
import math

import numpy as np

from ..jaxpr import Literal, Var, Jaxpr, ClosedJaxpr
from . import memory, parallel
from .fusion import is_elementwise
from .kernels import numpy_kernel, identifier


class LoweringContext:
    """Collects the lines and the module namespace of one generated function for `device`
    (see the module docstring for what primitive lowerings may call). `choose_kernel(eqn)`
    picks how each equation runs: a backend for another array module registers a subclass
    for its platform (`register_lowering`) with its own kernels (e.g. one kernel for a whole
    `fused` group), falling back to `numpy_kernel`. `keeps_arena`: temporaries are planned
    into the arena an executable keeps between calls; `fuses_reductions`: a fused group may
    end in a reduction (`fusion.fuse_reductions`)."""

    choose_kernel = staticmethod(numpy_kernel)
    keeps_arena = True
    fuses_reductions = False

    def __init__(self, device):
        self.device = device
        self.xp = xp = device.xp
        self.namespace = {"xp": xp}
        # on the host, large kernels may be split over threads (`parallel`); `uses_threads`
        # records that the program did so
        self.splits_kernels = xp is np
        self.uses_threads = False
        self.pairing = None     # while emitting a pair of products: the first's arguments
        self.later = None       # ...and which of them starts on a worker (0 or 1)
        self.finished = set()   # names assigned by waiting for a started chain
        self.lines = []
        self._count = 0
        self._const_ids = {}
        self.slots = []         # (name, memory.Slot) of every block, in clock ticks
        self.owned = ()         # the last block's outputs that are arrays of their own
        self._clock = 0         # one tick per instruction, nested blocks' included

    def fresh(self, prefix="v"):
        self._count += 1
        return f"{prefix}{self._count}"

    def const(self, value, prefix="k"):
        """A name in the generated module's namespace bound to `value`."""
        key = id(value)
        got = self._const_ids.get(key)
        if got is None:
            name = self.fresh(prefix)
            self._const_ids[key] = (name, value)       # keep value alive: ids stay unique
            self.namespace[name] = value
            return name
        return got[0]

    def scalar(self, value, dtype):
        """The name (`f32_1_0`) of a read-only 0-d array of `dtype` holding the Python number
        `value`: a ufunc takes it in about 0.5 us where it converts a Python float in 0.8 us,
        and picks the same loop (the dtype is the one the loop would convert `value` to)."""
        dtype = np.dtype(dtype)
        text = repr(value)                                  # (-0.0 is not 0.0)
        name = f"{dtype.kind}{dtype.itemsize * 8}_" + "".join(
            c if c.isalnum() else "m" if c == "-" else "p" if c == "+" else "_"
            for c in text.strip("()"))
        if name not in self.namespace:
            array = np.asarray(value, dtype)
            array.flags.writeable = False
            self.namespace[name] = array
        return name

    def kernel(self, np_name):
        """The generated module's name for the backend function `xp.<np_name>`."""
        name = np_name if np_name not in vars(builtins) else f"xp_{np_name}"
        if name not in self.namespace:
            fn = getattr(self.xp, np_name)
            # NumPy's function itself, without the __array_function__ dispatch (NEP 18's
            # `_implementation`) that each call of `np.dot` pays: the generated code passes
            # NumPy arrays only
            self.namespace[name] = getattr(fn, "_implementation", fn) if self.xp is np else fn
        return name

    def emit(self, line, indent=1):
        self.lines.append("    " * indent + line)

    def appendix(self):
        """Text shown after the generated code (a backend's kernel sources), or ""."""
        return ""

    def operand(self, v, env):
        if type(v) is Literal:
            val = v.val
            if isinstance(val, float) and not math.isfinite(val):
                return self.const(val)
            return repr(val)
        return env[v]

    def lower_jaxpr(self, jaxpr, in_names, indent=1, donated=None):
        """Optimize `jaxpr` (a ClosedJaxpr, or a Jaxpr without constvars) and emit its code
        with its inputs bound to `in_names`; returns the expressions of its outputs.
        `donated` maps input positions to names holding arrays the code may overwrite, or
        None at run time (see `lower_block`); `self.owned` then names the output positions
        that are arrays of their own (`memory.Plan.owned`), fit to donate to a next run."""
        from .passes import optimize_open, raw_value
        if isinstance(jaxpr, ClosedJaxpr):
            jaxpr, consts = jaxpr.jaxpr, [raw_value(c, self.device) for c in jaxpr.consts]
        else:
            if jaxpr.constvars:
                raise ValueError("lower_jaxpr: a Jaxpr with constvars needs its values; pass "
                                 "the ClosedJaxpr")
            consts = []
        opt, consts = optimize_open(jaxpr, self.device, consts)
        names = [self.const(c, "c") for c in consts]
        block = Jaxpr([], opt.constvars + opt.invars, opt.outvars, opt.eqns)
        donated = {opt.invars[i]: name for i, name in (donated or {}).items()}
        return self.lower_block(block, names + list(in_names), indent, donated)

    def lower_block(self, jaxpr: Jaxpr, in_names, indent=1, donated=None, c_inputs=()):
        """Emit the (already optimized) equations of `jaxpr` with planned buffers.

        `donated` maps input variables whose arrays may be overwritten (C-contiguous, seen
        by nothing else) to the names holding them; a name may hold None at run time, and a
        kernel planned to write there then writes into a fresh array."""
        donated = donated or {}
        env = dict(zip(jaxpr.invars, in_names))
        results = set(jaxpr.outvars)
        instrs, groups = _expand(jaxpr.eqns, self.choose_kernel)
        pairs = _product_pairs(instrs) if self.splits_kernels else set()
        later = _later_products(instrs, pairs, groups)
        together = {k: k + 1 for k in pairs}
        for d, chain, w in later.values():   # (through the last instruction, w the end)
            for j in [d] + chain:
                together[j] = max(together.get(j, j), min(w, len(instrs) - 1))
        plan = memory.plan(instrs, jaxpr.invars, jaxpr.outvars, donated=list(donated),
                           c_inputs=c_inputs, pool=self.keeps_arena, together=together)
        pairs = {k for k in pairs if k not in plan.lent and k + 1 not in plan.lent
                 and plan.target.get(k) not in donated
                 and plan.target.get(k + 1) not in donated}
        chained = {}            # where a started product's chain starts -> its pair
        for k in pairs:
            d, chain, w = later[k]
            if chain and not any(j in plan.lent or plan.target.get(j) in donated or
                                 instrs[j][1].lends is not None for j in chain):
                chained[chain[0]] = k
            else:               # (the product waited for at its first reader)
                later[k] = (d, [], chain[0] if chain else w)
        slot_names = [self.fresh("buf") for _ in plan.slots]
        split = self._split_chains(instrs, groups, plan, donated) if self.splits_kernels \
            else {}
        lenders = {}            # instruction lending memory -> its name
        lend_at = {}            # instruction -> the lenders to call before it
        for j, (k, _) in sorted(plan.lent.items()):
            if k not in lenders:
                lenders[k] = self.fresh("lent")
                lend_at.setdefault(_chain_start(split, j), []).append(k)
        chain = None            # the row-split chain being written: (last k, rows, ...)
        ticks = []              # the clock at the start and the end of each instruction
        finish_at = {}          # instruction -> the runs started earlier to wait for
        started = {}            # pair -> the run of its started product
        closure = None          # the started chain being written: (pair, function name)
        local_names = set()     # the names the started chains' functions assign
        for k, (eqn, kernel) in enumerate(instrs):
            self._clock += 1
            start = self._clock
            for run, name in finish_at.pop(k, ()):
                self._finish(run, name, indent)
            if k in chained:
                closure = (chained[k], self.fresh("later"))
                self.emit(f"def {closure[1]}():", indent)
                indent += 1
                self._finish(started[closure[0]], None, indent)
            for lender in lend_at.get(k, ()):
                lend = self.const(instrs[lender][1].lends[1], "lend")
                self.emit(f"{lenders[lender]} = {lend}()", indent)
            if k in groups:
                self.emit(f"# fused: {groups[k][0]}", indent)
            if k in split:
                chain = self._open_chain(k, *split[k], indent)
                indent += 1
            ins = [self.operand(v, env) for v in eqn.invars]
            if not eqn.primitive.elementwise:
                ins = [self._as_array(a, v) for a, v in zip(ins, eqn.invars)]
            elif _strong_of_weak(eqn):      # computed in the result's dtype, as traced
                ins = [self._in_dtype(a, _weak_operand_dtype(v, eqn)) if type(v) is Var else a
                       for a, v in zip(ins, eqn.invars)]
            outs = [self.fresh() for _ in eqn.outvars]
            target = plan.target.get(k)
            if k in plan.lent:
                buf = self._lent_region(plan, instrs, lenders, k)
            elif target in donated:        # the donated array, or where it is None...
                own = donated[target]
                if target in eqn.invars:     # ...a copy of the operand updated in place
                    buf = env[target]        # (kernels see that they write into an operand)
                    self.emit(f"{buf} = {own} if {own} is not None else {buf}.copy()", indent)
                else:                        # ...a fresh array
                    buf = self.fresh("buf")
                    aval = target.aval
                    self.emit(f"{buf} = {own} if {own} is not None else xp.empty("
                              f"{tuple(aval.shape)!r}, {self.const(np.dtype(aval.dtype), 'dt')})",
                              indent)
            elif target is not None:
                buf = env.get(target)
            else:
                slot = plan.slot_of.get(k)
                buf = None if slot is None else slot_names[slot]
            if chain is not None:       # rows lo:hi of arrays from outside the chain
                inner = chain["full"]
                ins = [a if a in inner else _rows(a, v, chain["shape"])
                       for a, v in zip(ins, eqn.invars)]
                if buf is not None:
                    inner[outs[0]] = inner.get(buf, buf)
                    buf = buf if buf in inner else f"{buf}[lo:hi]"
                else:
                    inner[outs[0]] = None
            if kernel.kind == memory.VIEW and k in plan.lent:     # a reshape of lent memory
                self.emit(f"{outs[0]} = {buf}", indent)
            else:
                if k in pairs:
                    self.pairing, self.later = [], later[k][0] - k
                kernel.emit(self, eqn, ins, outs, buf, indent)
                if _weak_number(eqn) and eqn.outvars[0] not in results:
                    # a Python number again, weak where it meets arrays (from a device this
                    # reads one number back: such arithmetic of arguments is rare and tiny)
                    kind = np.dtype(eqn.outvars[0].aval.dtype).kind
                    self.emit(f"{outs[0]} = {_PYTHON_NUMBER[kind]}({outs[0]})", indent)
                if k - 1 in pairs:
                    started[k - 1] = self.pairing.pop()
                    self.pairing = None
                    if not later[k - 1][1]:
                        self._finish_before(later[k - 1][2], started[k - 1], None, split,
                                            finish_at)
            env.update(zip(eqn.outvars, outs))
            inside = closure is not None
            if inside:
                local_names.update(outs)
                pair = closure[0]
                if k == later[pair][1][-1]:
                    self.emit(f"return {outs[0]}", indent)
                    indent -= 1
                    run = self.fresh("run")
                    self.emit(f"{run} = {self.const(parallel.start, 'par_start')}"
                              f"({closure[1]})", indent)
                    self._finish_before(later[pair][2], run, outs[0], split, finish_at)
                    closure = None
            # (a started chain's function deletes nothing: it may run after any outer line)
            dead = [] if inside else [env[v] for v in plan.release.get(k, ())
                                      if env[v] not in local_names or env[v] in self.finished]
            if k in lenders:
                dead.append(lenders[k])
            if chain is not None:
                chain["dead"] += dead
                chain["vars"] += eqn.outvars
                if k == chain["last"]:
                    indent -= 1
                    env[eqn.outvars[0]] = self._close_chain(chain, inner[outs[0]], indent,
                                                            eqn)
                    for v in chain["vars"][:-1]:    # later ones may reuse their arrays
                        env[v] = inner[env[v]]
                    dead = [n for n in chain["dead"] if n not in inner]
                    chain = None
                else:
                    dead = []
            if dead:            # (a split chain's members may release a name twice)
                self.emit(f"del {', '.join(dict.fromkeys(dead))}", indent)
            ticks.append((start, self._clock))
        for run, name in finish_at.pop(len(instrs), ()):
            self._finish(run, name, indent)
        for first, (count, _) in split.items():
            _stretch_slots(plan.slots, first, first + count - 1)
        for name, slot in zip(slot_names, plan.slots):
            slot.start, slot.stop = ticks[slot.start][0], ticks[slot.stop][1]
            self.slots.append((name, slot))
        self.owned = plan.owned
        return [self.operand(v, env) for v in jaxpr.outvars]

    def _as_array(self, name, v):
        """The expression for operand `v` of a kernel that is not elementwise: a weakly typed
        scalar may be a Python number (an argument) or a NumPy scalar of another width
        (arithmetic of two of them) at run time, so it is made an array of its traced
        dtype. (Elementwise kernels take it as it is, weakly, as NumPy does.)"""
        if type(v) is not Var or not v.aval.weak_type or v.aval.shape:
            return name
        return self._in_dtype(name, v.aval.dtype)

    def _in_dtype(self, name, dtype):
        """The expression for `name` as an array of `dtype`."""
        return f"{self.kernel('asarray')}({name}, {self.const(np.dtype(dtype), 'dt')})"

    def _finish_before(self, w, run, name, split, finish_at):
        """Wait for `run` (assigning its result to `name`, if any) before instruction w, or
        before the split chain holding w."""
        finish_at.setdefault(_chain_start(split, w), []).append((run, name))

    def _finish(self, run, name, indent):
        call = f"{self.const(parallel.finish, 'par_finish')}({run})"
        if name is None:
            self.emit(call, indent)
        else:
            self.emit(f"{name} = {call}", indent)
            self.finished.add(name)

    def _lent_region(self, plan, instrs, lenders, k):
        """The expression of the lent memory instruction k computes its result in."""
        lender, i = plan.lent[k]
        eqn = instrs[lender][0]
        region = f"{lenders[lender]}[{instrs[lender][1].lends[0].index(i)}]"
        shape = tuple(instrs[k][0].outvars[0].aval.shape)
        return region if shape == tuple(eqn.invars[i].aval.shape) else \
            f"{region}.reshape({shape!r})"

    def _split_chains(self, instrs, groups, plan, donated):
        """The elementwise chains (fused groups, or single elementwise instructions) large
        enough to split by rows over threads: `{first k: (number of instructions, shape)}`.
        Each must write its result into a planned buffer (a slot or a dead operand's
        array), so that the pieces can write their rows of it."""
        split = {}
        k = 0
        while k < len(instrs):
            count = groups[k][1] if k in groups else 1
            eqn = instrs[k + count - 1][0]
            k, first = k + count, k
            if count == 1 and not is_elementwise(eqn):
                continue
            shape = tuple(eqn.outvars[0].aval.shape)
            size = math.prod(shape)
            if not shape or shape[0] < 2 or size < SPLIT_MIN_ELEMENTS or \
                    size * count < SPLIT_MIN_WORK:
                continue
            last = first + count - 1
            if any(plan.target.get(j) in donated for j in range(first, last + 1)):
                continue
            # every member must write into an array from outside the chain (following its
            # writes in place), which later instructions may then reuse whole
            inside = {instrs[j][0].outvars[0]: j for j in range(first, last + 1)}
            if all(_lands_outside(j, inside, plan) for j in range(first, last + 1)):
                split[first] = (count, shape)
        return split

    def _open_chain(self, k, count, shape, indent):
        """Start the function computing rows lo:hi of a split chain (its members are emitted
        inside it, reading the rows of their operands)."""
        name = self.fresh("rows")
        self.emit(f"def {name}(lo, hi):", indent)
        # full: for each value computed inside, the whole array its rows are written into
        # (None: a temporary of the piece)
        return {"name": name, "last": k + count - 1, "shape": shape, "full": {}, "dead": [],
                "vars": [], "count": count}

    def _close_chain(self, chain, full, indent, eqn):
        """Run the chain's row function over the threads; returns the name of its result."""
        self.uses_threads = True
        chunks = self.const(parallel.chunks, "par_chunks")
        shape = chain["shape"]
        block = shape[0]
        if chain["count"] > 1:
            row_bytes = math.prod(shape[1:]) * np.dtype(eqn.outvars[0].aval.dtype).itemsize
            block = max(1, CHAIN_BLOCK_BYTES // max(row_bytes, 1))
        self.emit(f"{chunks}({chain['name']}, {shape[0]}, {block})", indent)
        out = self.fresh()
        self.emit(f"{out} = {full}", indent)
        return out


# elementwise chains are split by rows over threads from this many elements of result, and
# this many element-operations in all: a piece must outweigh handing it to a worker, and its
# NumPy calls handing the GIL back and forth (a chain of three ufuncs on two threads, 2-core
# VM: 0.97x one thread on 256k floats, 1.38x on 1M, 1.65x on 4M)
SPLIT_MIN_ELEMENTS = 1 << 20
SPLIT_MIN_WORK = 1 << 22
# a chain of several members runs over blocks of rows of about this many bytes of result,
# each block through the whole chain while it is in the cache
CHAIN_BLOCK_BYTES = 1 << 18


# adjacent independent matrix products run at once, each on a thread of its own (the
# backward pass of a linear layer or convolution: the input's and the weight's gradients),
# where the smaller has at least this share of the larger's multiply-adds
PAIR_MIN_SHARE = 0.5


def _chain_start(split, j):
    """The first instruction of the row-split chain holding instruction j (j if none does):
    what must happen before j is emitted before the chain's row function."""
    return next((f for f, (n, _) in split.items() if f <= j < f + n), j)


def _later_products(instrs, pairs, groups):
    """For each pair k (products k and k + 1), `(d, chain, w)`: product d, the one read later
    (a weight's gradient), is started on a worker before the other runs; `chain`, the
    instructions from its first reader on that only sum or view it, each read only by the
    next (a convolution kernel's gradient summed over images, then arranged), is started
    after it; the last of them (or the product) is waited for before instruction w,
    its first reader (len(instrs): none). The caller goes on meanwhile, so waking the
    worker costs it nothing; what the worker has not reached when it is read runs on the
    caller then."""
    readers = {}
    for j, (eqn, _) in enumerate(instrs):
        for v in eqn.invars:
            if type(v) is Var:
                readers.setdefault(v, []).append(j)
    # (members of fused groups and of other pairs stay out of chains)
    excluded = {j for g, (_, count) in groups.items() for j in range(g, g + count)}
    excluded |= set(pairs) | {k + 1 for k in pairs}
    end = len(instrs)

    def first_read(v):
        return readers.get(v, [end])[0]

    later = {}
    for k in pairs:
        reads = [first_read(instrs[j][0].outvars[0]) for j in (k, k + 1)]
        d = k if reads[0] > reads[1] else k + 1
        chain, value, w = [], instrs[d][0].outvars[0], reads[d - k]
        while w < end and w not in excluded and readers[value] == [w] and \
                len(instrs[w][0].outvars) == 1 and \
                instrs[w][0].primitive.kernel_kind in _CHAINED_KINDS and \
                (not chain or w == chain[-1] + 1):
            chain.append(w)
            value = instrs[w][0].outvars[0]
            w = first_read(value)
        later[k] = (d, chain, w)
    return later


# what a started product's chain may hold: sums and views, no elementwise chains (which are
# split by rows) nor anything with a lowering of its own
_CHAINED_KINDS = ("reduction", "reshape", "transpose")


def _product_pairs(instrs):
    """The instructions k whose matrix product runs together with that of k + 1."""
    pairs, k = set(), 0
    while k + 1 < len(instrs):
        (first, kernel), (second, other) = instrs[k], instrs[k + 1]
        small, large = sorted((kernel.macs, other.macs))
        if small and small >= PAIR_MIN_SHARE * large and \
                not set(first.outvars) & set(second.invars):
            pairs.add(k)
            k += 2
        else:
            k += 1
    return pairs


def _stretch_slots(slots, first, last):
    """Keep every slot used by instructions first..last alive through all of them: they run
    block of rows by block (or on several threads at once), so a slot that dies at one of
    them is still read for later rows while another one written there is in use."""
    for slot in slots:
        if slot.start <= last and slot.stop >= first:
            slot.start, slot.stop = min(slot.start, first), max(slot.stop, last)


def _lands_outside(j, inside, plan):
    """Whether instruction j writes into a slot, lent memory or, in place, into an array not
    computed by the instructions `inside` (following writes in place into those)."""
    while j not in plan.slot_of and j not in plan.lent:
        target = plan.target.get(j)
        if target is None:
            return False
        j = inside.get(target)
        if j is None:
            return True
    return True


def _rows(expr, v, shape):
    """`expr` (an operand of a split chain) restricted to the rows lo:hi of the chain's
    result, unless it broadcasts along them."""
    if type(v) is Var and len(v.aval.shape) == len(shape) and v.aval.shape[0] == shape[0]:
        return f"{expr}[lo:hi]"
    return expr


_LOWERING_CONTEXTS = {}


def register_lowering(platform, context_class):
    """Lower programs for the devices of `platform` with `context_class` (a LoweringContext
    subclass); other platforms use LoweringContext (NumPy's function names)."""
    _LOWERING_CONTEXTS[platform] = context_class


def lowering_context(device):
    """The LoweringContext class for `device`."""
    return _LOWERING_CONTEXTS.get(device.platform, LoweringContext)


_PYTHON_NUMBER = {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex"}


def _weak_number(eqn):
    """Whether the elementwise `eqn` computes a weakly typed number from weakly typed
    operands alone (`s * 2` of a Python number argument `s`). NumPy gives a float64 NumPy
    scalar, which promotes the float32 arrays it meets where the trace has the default float
    (a `concatenate` of them fails): within a block it is made a Python number again (the
    block's results stay arrays for the code that wraps them)."""
    return eqn.primitive.elementwise and len(eqn.outvars) == 1 and \
        eqn.outvars[0].aval.weak_type and not eqn.outvars[0].aval.shape and _weak_operands(eqn)


def _strong_of_weak(eqn):
    """Whether the elementwise `eqn` makes a strongly typed float or complex result of weakly
    typed operands alone (`abs(s)`, `log(s)` or `float64(s)` of a Python number `s`): NumPy
    would compute it in the number's float64 where the trace declared the result's dtype."""
    out = eqn.outvars[0].aval
    return len(eqn.outvars) == 1 and not out.weak_type and \
        np.dtype(out.dtype).kind in "fc" and _weak_operands(eqn)


def _weak_operand_dtype(v, eqn):
    """The dtype a weak operand `v` of `eqn` (see `_strong_of_weak`) is made an array of: the
    result's, or for a complex number with a real result (`abs`, `real`), the complex dtype
    of the result's precision (a complex cannot become a float)."""
    out = np.dtype(eqn.outvars[0].aval.dtype)
    if np.dtype(v.aval.dtype).kind == "c" and out.kind != "c":
        return np.result_type(out, np.complex64)
    return out


def _weak_operands(eqn):
    """Whether every operand of `eqn` is weakly typed (a Python number, or a literal)."""
    return all(type(v) is not Var or v.aval.weak_type for v in eqn.invars)


def _expand(eqns, choose_kernel):
    """The instructions `(eqn, kernel)` for `eqns`; a `fused` group the backend has no single
    kernel for is unpacked into its members (reading the group's inputs). `groups` maps
    where each unpacked group starts to its description and its number of members."""
    instrs, groups = [], {}
    for eqn in eqns:
        kernel = choose_kernel(eqn)
        if kernel is not None:
            instrs.append((eqn, kernel))
            continue
        body = eqn.params["jaxpr"]
        env = dict(zip(body.invars, eqn.invars))
        env.update(zip(body.outvars, eqn.outvars))    # the group's result is the equation's
        groups[len(instrs)] = (" -> ".join(e.primitive.name for e in body.eqns),
                               len(body.eqns))
        for e in body.eqns:
            member = e.replace(invars=[env.get(v, v) if type(v) is Var else v
                                       for v in e.invars],
                               outvars=[env.get(v, v) for v in e.outvars])
            instrs.append((member, choose_kernel(member)))
    return instrs, groups


def compile_source(source, name, namespace):
    """The function `name` defined by `source`, run in `namespace`."""
    code = compile(source, f"<functrans jit {name}>", "exec")
    exec(code, namespace)
    return namespace[name]


def quiet_lines(namespace, lines, indent=1):
    """`lines` (a function's body, at `indent`) run with NumPy's floating-point errors
    ignored, as JAX's and PyTorch's compiled code runs: a branch that `where` discards may
    divide by zero or take the log of a negative number, and NumPy would warn about it from
    a line of generated code. The user's own state is restored on the way out."""
    namespace["fp_quiet"], namespace["fp_restore"] = _fp_quiet, _fp_restore
    pad = "    " * indent
    return [f"{pad}fp_state = fp_quiet()", f"{pad}try:"] + ["    " + line for line in lines] \
        + [f"{pad}finally:", f"{pad}    fp_restore(fp_state)"]


def _numpy_error_state():
    """NumPy's floating-point error state lives in a context variable from NumPy 2 on:
    setting it costs 0.1 us where `np.errstate` costs 1 us."""
    try:
        from numpy._core._ufunc_config import _extobj_contextvar as state
        with np.errstate(all="ignore"):
            ignore = state.get()
        return (lambda: state.set(ignore)), state.reset
    except (ImportError, AttributeError):
        return (lambda: np.seterr(all="ignore")), (lambda old: np.seterr(**old))


_fp_quiet, _fp_restore = _numpy_error_state()


def generate(closed: ClosedJaxpr, device, name="jitted", donated=()):
    """Generate and compile Python source for an optimized `closed` on `device`.

    Returns `(fn, source, namespace, signature, slots)`: `signature` is `(argument names,
    body lines, output expressions)`, the body None where it must run as `fn` (it splits
    kernels over threads); with `slots` (`memory.Slot`s) the function takes one more
    argument, the arrays of an arena (`Executable.take_arena`)."""
    jaxpr = closed.jaxpr
    ctx = lowering_context(device)(device)
    const_names = [ctx.const(c, "c") for c in closed.consts]
    c_consts = [v for v, c in zip(jaxpr.constvars, closed.consts)
                if getattr(getattr(c, "flags", None), "c_contiguous", False)]
    arg_names = [f"a{i}" for i in range(len(jaxpr.invars))]
    donated_names = {jaxpr.invars[i]: f"d{i}" for i in donated}
    block = Jaxpr([], jaxpr.constvars + jaxpr.invars, jaxpr.outvars, jaxpr.eqns)
    outs = ctx.lower_block(block, const_names + arg_names, donated=donated_names,
                           c_inputs=c_consts)
    fname = identifier(name) or "jitted"
    if fname[0].isdigit():
        fname = "f_" + fname
    # (jit(fnp.sin) must not shadow the `sin` kernel, nor a loop's program be `def while`)
    while fname in ctx.namespace or keyword.iskeyword(fname):
        fname = "jit_" + fname
    params = arg_names + list(donated_names.values())
    src = [f"def {fname}({', '.join(params + (['pool'] if ctx.slots else []))}):"]
    if ctx.slots:
        src.append(f"    _, {', '.join(n for n, _ in ctx.slots)}, = pool")
    body = ctx.lines
    quiet = ctx.xp is np        # (NumPy's floating-point warnings: see `quiet_lines`)
    if ctx.uses_threads:        # the program chooses its threads and holds the BLAS at one
        enter, leave = ctx.const(parallel.enter, "par_enter"), ctx.const(parallel.leave,
                                                                        "par_leave")
        inner = ["    " + line for line in ctx.lines] + [f"        return [{', '.join(outs)}]"]
        src += [f"    threads = {enter}()", "    try:"]
        src += quiet_lines(ctx.namespace, inner, 2) if quiet else inner
        src += ["    finally:", f"        {leave}(threads)"]
        body = None
    elif quiet:
        src += quiet_lines(ctx.namespace, ctx.lines + [f"    return [{', '.join(outs)}]"])
        body = ctx.lines
    else:
        src += ctx.lines
        src.append(f"    return [{', '.join(outs)}]")
    appendix = ctx.appendix()
    if appendix:
        src += ["", "# the kernels it launches:"] + [f"# {line}" for line in appendix.splitlines()]
    source = "\n".join(src)
    fn = compile_source(source, fname, dict(ctx.namespace))
    return fn, source, ctx.namespace, (arg_names, body, outs), [s for _, s in ctx.slots]
