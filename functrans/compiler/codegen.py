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
import math

import numpy as np

from ..jaxpr import Literal, Var, Jaxpr, ClosedJaxpr
from . import memory
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

    def kernel(self, np_name):
        """The generated module's name for the backend function `xp.<np_name>`."""
        name = np_name if np_name not in vars(builtins) else f"xp_{np_name}"
        if name not in self.namespace:
            self.namespace[name] = getattr(self.xp, np_name)
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
        instrs, groups = _expand(jaxpr.eqns, self.choose_kernel)
        plan = memory.plan(instrs, jaxpr.invars, jaxpr.outvars, donated=list(donated),
                           c_inputs=c_inputs, pool=self.keeps_arena)
        slot_names = [self.fresh("buf") for _ in plan.slots]
        ticks = []              # the clock at the start and the end of each instruction
        for k, (eqn, kernel) in enumerate(instrs):
            self._clock += 1
            start = self._clock
            if k in groups:
                self.emit(f"# fused: {groups[k]}", indent)
            ins = [self.operand(v, env) for v in eqn.invars]
            outs = [self.fresh() for _ in eqn.outvars]
            target = plan.target.get(k)
            if target in donated:        # the donated array, or where it is None...
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
            kernel.emit(self, eqn, ins, outs, buf, indent)
            env.update(zip(eqn.outvars, outs))
            dead = plan.release.get(k)
            if dead:
                self.emit(f"del {', '.join(env[v] for v in dead)}", indent)
            ticks.append((start, self._clock))
        for name, slot in zip(slot_names, plan.slots):
            slot.start, slot.stop = ticks[slot.start][0], ticks[slot.stop][1]
            self.slots.append((name, slot))
        self.owned = plan.owned
        return [self.operand(v, env) for v in jaxpr.outvars]


_LOWERING_CONTEXTS = {}


def register_lowering(platform, context_class):
    """Lower programs for the devices of `platform` with `context_class` (a LoweringContext
    subclass); other platforms use LoweringContext (NumPy's function names)."""
    _LOWERING_CONTEXTS[platform] = context_class


def lowering_context(device):
    """The LoweringContext class for `device`."""
    return _LOWERING_CONTEXTS.get(device.platform, LoweringContext)


def _expand(eqns, choose_kernel):
    """The instructions `(eqn, kernel)` for `eqns`; a `fused` group the backend has no single
    kernel for is unpacked into its members (reading the group's inputs). `groups` marks
    where each unpacked group starts."""
    instrs, groups = [], {}
    for eqn in eqns:
        kernel = choose_kernel(eqn)
        if kernel is not None:
            instrs.append((eqn, kernel))
            continue
        body = eqn.params["jaxpr"]
        env = dict(zip(body.invars, eqn.invars))
        env.update(zip(body.outvars, eqn.outvars))    # the group's result is the equation's
        groups[len(instrs)] = " -> ".join(e.primitive.name for e in body.eqns)
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


def generate(closed: ClosedJaxpr, device, name="jitted", donated=()):
    """Generate and compile Python source for an optimized `closed` on `device`.

    Returns `(fn, source, namespace, signature, slots)`: `signature` is `(argument names,
    body lines, output expressions)`; with `slots` (`memory.Slot`s) the function takes one
    more argument, the arrays of an arena (`Executable.take_arena`)."""
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
    while fname in ctx.namespace:        # jit(fnp.sin) must not shadow the `sin` kernel
        fname = "jit_" + fname
    params = arg_names + list(donated_names.values())
    src = [f"def {fname}({', '.join(params + (['pool'] if ctx.slots else []))}):"]
    if ctx.slots:
        src.append(f"    _, {', '.join(n for n, _ in ctx.slots)}, = pool")
    src += ctx.lines
    src.append(f"    return [{', '.join(outs)}]")
    appendix = ctx.appendix()
    if appendix:
        src += ["", "# the kernels it launches:"] + [f"# {line}" for line in appendix.splitlines()]
    source = "\n".join(src)
    fn = compile_source(source, fname, dict(ctx.namespace))
    return fn, source, ctx.namespace, (arg_names, ctx.lines, outs), [s for _, s in ctx.slots]
