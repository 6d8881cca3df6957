"""Code generation: an optimized jaxpr becomes the source of a plain Python function over the
backend's kernels, with temporaries written into planned buffers.

Each equation becomes a line or two: a direct call of the NumPy/CuPy function behind it
(ufuncs, `where`/`copyto`, `dot`, `sum`, `reshape`, ...) bound to a name in the generated
module, taking `out=` when the memory plan (`memory.py`) gives it a dead buffer; `fused`
groups become chains of such calls computing in place; anything else calls the primitive's
kernel (`impl(xp, ...)`). A primitive whose kernel can write its one result into a given
C-contiguous array of the result's shape and dtype (overlapping no operand) says so with
`prim.impl_out = True`: it is then called as `impl(xp, ..., out=buffer, **params)` when the
plan has a buffer for it. An update kernel (scatter, dynamic_update_slice) also names the
operands the buffer may be, `prim.impl_inplace = (0,)`: when that operand dies there, the
kernel gets the operand's own array (of any layout) and updates it in place. The source is
kept so users can read what runs (`ft.jit(f).lower(...).as_text()`).

Temporaries that no output can see live in slots of one block of memory, the arena, which
the `Executable` keeps for its next call (see there); the generated function takes the
arena's arrays as its last argument, `pool`.

Primitives with their own code (control flow, custom derivatives) set
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
import sys
import weakref

import numpy as np

from ..array import wrap
from ..config import config
from ..core import Literal, Var, Jaxpr, ClosedJaxpr
from ..tree_util import _kind_of
from . import memory
from .fusion import fused_p
from .memory import FRESH, VIEW, OPAQUE


# =================================================================== kernels
class Kernel:
    """How the backend runs one equation, as much as the memory planner needs to know.

    `kind`: FRESH (returns a new array of the output's shape, C-contiguous when
    `c_layout(inputs_c_contiguous)` says so), VIEW (may share its input's memory) or OPAQUE
    (may share memory with any input). `accepts_out`: can write into a given buffer;
    `inplace`: the operand positions that buffer may be (it then is that operand's array);
    `exact`: the result does not depend on memory layout; `out_c`: the buffer must be
    C-contiguous.
    """
    __slots__ = ("kind", "emit", "accepts_out", "inplace", "exact", "out_c", "c_layout")

    def __init__(self, kind, emit, accepts_out=False, inplace=(), exact=True, out_c=False,
                 c_layout=lambda c: False):
        self.kind, self.emit, self.accepts_out = kind, emit, accepts_out
        self.inplace, self.exact, self.out_c, self.c_layout = inplace, exact, out_c, c_layout


def _same_layout(c):
    return c


def _always_c(c):
    return True


# ufuncs whose result is correctly rounded (or exact), hence independent of the loop NumPy
# picks for a memory layout
_EXACT_UFUNCS = {
    "add", "subtract", "multiply", "divide", "negative", "positive", "absolute", "sign",
    "square", "sqrt", "reciprocal", "maximum", "minimum", "fmax", "fmin", "floor", "ceil",
    "rint", "trunc", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or",
    "bitwise_xor", "invert", "left_shift", "right_shift", "isfinite", "isnan", "isinf",
    "copysign", "nextafter",
}


def _generic_ufunc_impl(prim):
    """The NumPy ufunc a primitive's kernel is (lax's `_ufunc_impl`), or None."""
    impl = prim.impl
    name = getattr(prim, "np_name", None)
    if name is None or getattr(impl, "__qualname__", "") != "_ufunc_impl.<locals>.impl":
        return None
    fn = getattr(np, name, None)
    return fn if isinstance(fn, np.ufunc) else None


_PYTHON_TYPE = {"b": bool, "i": int, "u": int, "f": float, "c": complex}


def _weak_or_dtype(a):
    """What NumPy's type resolution sees: a Python type for a (weak) scalar, else a dtype."""
    if type(a) is Literal:
        return type(a.val)
    if a.aval.weak_type and not a.aval.shape:
        return _PYTHON_TYPE.get(a.aval.dtype.kind, a.aval.dtype)
    return a.aval.dtype


def _ufunc_kernel(eqn, ufunc):
    name = ufunc.__name__
    out_aval = eqn.outvars[0].aval
    try:
        resolved = ufunc.resolve_dtypes(tuple(_weak_or_dtype(a) for a in eqn.invars) + (None,))
        matches = resolved[-1] == out_aval.dtype
    except Exception:
        matches = False

    def emit(ctx, eqn, ins, outs, buf, indent):
        fn = ctx.kernel(name)
        extra = f", out={buf}" if buf else ""
        ctx.emit(f"{outs[0]} = {fn}({', '.join(ins)}{extra})", indent)
    if not matches:                 # NumPy's result type differs: run it, plan nothing
        return Kernel(OPAQUE, emit)
    return Kernel(FRESH, emit, accepts_out=True, inplace=tuple(range(len(eqn.invars))),
                  exact=name in _EXACT_UFUNCS, c_layout=_same_layout)


def _select_kernel(eqn):
    def emit(ctx, eqn, ins, outs, buf, indent):
        c, x, y = ins
        if buf is None:
            ctx.emit(f"{outs[0]} = {ctx.kernel('where')}({c}, {x}, {y})", indent)
            return
        copyto = ctx.kernel("copyto")
        if buf == y:
            ctx.emit(f"{copyto}({buf}, {x}, where={c})", indent)
        elif buf == x:
            ctx.emit(f"{copyto}({buf}, {y}, where={ctx.kernel('logical_not')}({c}))", indent)
        else:
            ctx.emit(f"{copyto}({buf}, {y})", indent)
            ctx.emit(f"{copyto}({buf}, {x}, where={c})", indent)
        ctx.emit(f"{outs[0]} = {buf}", indent)
    aval = eqn.outvars[0].aval
    try:
        matches = np.result_type(*[_weak_or_dtype(a) for a in eqn.invars[1:]]) == aval.dtype
    except Exception:
        matches = False
    if not matches:
        return Kernel(OPAQUE, emit)
    return Kernel(FRESH, emit, accepts_out=True, inplace=(1, 2), c_layout=_same_layout)


def _convert_kernel(eqn):
    dtype = np.dtype(eqn.params["new_dtype"])

    def emit(ctx, eqn, ins, outs, buf, indent):
        if buf is None:
            ctx.emit(f"{outs[0]} = {ins[0]}.astype({ctx.const(dtype, 'dt')})", indent)
        else:
            ctx.emit(f"{ctx.kernel('copyto')}({buf}, {ins[0]}, casting='unsafe')", indent)
            ctx.emit(f"{outs[0]} = {buf}", indent)
    x, = eqn.invars
    if type(x) is not Var or not x.aval.shape or x.aval.dtype == dtype:
        return None
    return Kernel(FRESH, emit, accepts_out=True, c_layout=_same_layout)


def _dot_kernel(eqn):
    """`dot_general` as the one BLAS call its kernel (`lax.dot._dot_impl`) makes, on the
    same transposed and reshaped operands, writing into a given buffer: `dot` for a plain
    matrix product, `matmul` over batch axes (products of one-element contractions, which
    the kernel computes with `multiply`, keep the kernel)."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lhs, rhs = eqn.invars
    if type(lhs) is not Var or type(rhs) is not Var or \
            eqn.primitive.impl.__name__ != "_dot_impl":
        return None
    ls, rs = lhs.aval.shape, rhs.aval.shape
    out_shape = tuple(eqn.outvars[0].aval.shape)
    if not lb and len(ls) == 2 and len(rs) == 2 and len(lc) == 1:
        a = "" if lc[0] == 1 else ".T"
        b = "" if rc[0] == 0 else ".T"
        fn, matrix_shape = "dot", None
    else:
        lfree = [i for i in range(len(ls)) if i not in lc and i not in lb]
        rfree = [i for i in range(len(rs)) if i not in rc and i not in rb]
        k = math.prod(ls[i] for i in lc)
        if k == 1:
            return None
        bshape = tuple(ls[i] for i in lb)
        m, n = math.prod(ls[i] for i in lfree), math.prod(rs[i] for i in rfree)
        a = _transposed(list(lb) + lfree + list(lc), ls, bshape + (m, k))
        b = _transposed(list(rb) + list(rc) + rfree, rs, bshape + (k, n))
        fn, matrix_shape = ("matmul" if lb else "dot"), bshape + (m, n)

    def emit(ctx, eqn, ins, outs, buf, indent):
        call = f"{ctx.kernel(fn)}({ins[0]}{a}, {ins[1]}{b}"
        if buf is None:
            reshaped = "" if matrix_shape in (None, out_shape) else f".reshape({out_shape!r})"
            ctx.emit(f"{outs[0]} = {call}){reshaped}", indent)
            return
        target = buf if matrix_shape in (None, out_shape) else f"{buf}.reshape({matrix_shape!r})"
        ctx.emit(f"{call}, out={target})", indent)
        ctx.emit(f"{outs[0]} = {buf}", indent)
    return Kernel(FRESH, emit, accepts_out=True, out_c=True, c_layout=_always_c)


def _transposed(perm, shape, new_shape):
    """Source applying `.transpose(perm).reshape(new_shape)` to an operand of `shape`,
    leaving out the steps that change nothing."""
    text = "" if perm == list(range(len(shape))) else f".transpose({tuple(perm)!r})"
    if tuple(shape[i] for i in perm) != tuple(new_shape):
        text += f".reshape({tuple(new_shape)!r})"
    return text


_REDUCING_UFUNC = {"sum": "add", "prod": "multiply", "max": "maximum", "min": "minimum"}


def _reduce_kernel(eqn):
    prim = eqn.primitive
    np_name = getattr(prim, "reduction", None)
    x, = eqn.invars
    if np_name not in _REDUCING_UFUNC or type(x) is not Var or \
            getattr(prim.impl, "__qualname__", "") != "_reduction.<locals>.impl":
        return None
    axes = eqn.params["axes"]
    typed = np_name in ("sum", "prod")

    def emit(ctx, eqn, ins, outs, buf, indent):
        dtype = f", dtype={ctx.const(x.aval.dtype, 'dt')}" if typed else ""
        if ctx.xp is np:        # what np.sum etc. call, without their Python wrapper
            fn = f"{ctx.kernel(_REDUCING_UFUNC[np_name])}.reduce"
        else:
            fn = ctx.kernel(np_name)
        extra = f", out={buf}" if buf else ""
        ctx.emit(f"{outs[0]} = {fn}({ins[0]}, axis={axes!r}{dtype}{extra})", indent)
    return Kernel(FRESH, emit, accepts_out=True, out_c=True, c_layout=_always_c)


def _view_method_kernel(eqn, method, param, c_layout):
    """`x.reshape(shape)` / `x.transpose(perm)`: a view (or, for reshape, maybe a copy)."""
    arg = eqn.params[param]

    def emit(ctx, eqn, ins, outs, buf, indent):
        ctx.emit(f"{outs[0]} = {ins[0]}.{method}({arg!r})", indent)
    if type(eqn.invars[0]) is not Var:
        return None
    return Kernel(VIEW, emit, c_layout=c_layout)


def default_emit(ctx, eqn, ins, outs, buf, indent):
    """Call the primitive's kernel `impl(xp, *ins, **params)` (with `out=buf` if given)."""
    prim = eqn.primitive
    impl = ctx.const(prim.impl, f"{_ident(prim.name)}_")
    args = ", ".join(["xp"] + list(ins))
    if buf is not None:
        args += f", out={buf}"
    if eqn.params:
        args += ", **" + ctx.const(eqn.params, "p")
    call = f"{impl}({args})"
    if prim.multiple_results:
        lhs = ", ".join(outs) + ("," if len(outs) == 1 else "")
        ctx.emit(f"{lhs} = {call}" if outs else call, indent)
    else:
        ctx.emit(f"{outs[0]} = {call}", indent)


def _custom_emit(ctx, eqn, ins, outs, buf, indent):
    eqn.primitive.lowering(ctx, eqn, ins, outs, indent)


def numpy_kernel(eqn):
    """The Kernel running `eqn` on NumPy (or CuPy, whose functions have the same names);
    None for a `fused` group, which then runs member by member, in place."""
    prim = eqn.primitive
    if prim is fused_p:
        return None
    if prim.lowering is not None:
        return Kernel(OPAQUE, _custom_emit)
    kernel = None
    name = prim.name
    if name == "select":
        kernel = _select_kernel(eqn)
    elif name == "convert_element_type":
        kernel = _convert_kernel(eqn)
    elif name == "dot_general":
        kernel = _dot_kernel(eqn)
    elif name == "reshape":
        kernel = _view_method_kernel(eqn, "reshape", "new_sizes", _same_layout)
    elif name == "transpose":
        kernel = _view_method_kernel(eqn, "transpose", "permutation", lambda c: False)
    elif getattr(prim, "reduction", None):
        kernel = _reduce_kernel(eqn)
    elif getattr(prim, "elementwise", False) and len(eqn.outvars) == 1:
        ufunc = _generic_ufunc_impl(prim)
        if ufunc is not None:
            kernel = _ufunc_kernel(eqn, ufunc)
    if kernel is not None:
        return kernel
    if getattr(prim, "impl_out", False) and len(eqn.outvars) == 1:
        return Kernel(FRESH, default_emit, accepts_out=True, out_c=True, c_layout=_always_c,
                      inplace=getattr(prim, "impl_inplace", ()))
    return Kernel(VIEW if getattr(prim, "view", False) and len(eqn.outvars) == 1 else OPAQUE,
                  default_emit)


# =================================================================== lowering
class LoweringContext:
    """Collects the lines and the module namespace of one generated function for `device`
    (see the module docstring for what primitive lowerings may call). `choose_kernel(eqn)`
    picks how each equation runs: a backend for another array module supplies a subclass
    (`Backend.lowering_context`) with its own kernels (e.g. one kernel for a whole `fused`
    group), falling back to `numpy_kernel`. `keeps_arena`: temporaries are planned into the
    arena an executable keeps between calls."""

    choose_kernel = staticmethod(numpy_kernel)
    keeps_arena = True

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


def _ident(name):
    return "".join(c if c.isalnum() else "_" for c in name)


# =================================================================== executables
class Executable:
    """A compiled jaxpr: call it with raw arrays (and, for donated inputs, their arrays or
    None), get a list of raw arrays back.

    Its temporaries (`slots`) live in one block of memory (the arena) that the executable
    keeps for the next call when `config.jit_buffer_cache` is on: a call checks an arena
    out (or makes one, when none is free: the first call, another thread's call or a
    nested one is running) and checks it back in when it returns, unless a view of it
    outlived the call. At most one arena is kept while idle; `release_buffers()` drops it.
    """

    def __init__(self, fn, source, jaxpr, device, namespace, signature, slots=()):
        self.fn, self.source, self.jaxpr, self.device = fn, source, jaxpr, device
        self._namespace, self._signature = namespace, signature
        self._array_fns = {}
        self._on_host = device.platform == "cpu"
        offsets, self.arena_bytes = memory.arena_layout(slots)
        self._views = [(o, o + s.nbytes, s.dtype, s.shape) for o, s in zip(offsets, slots)]
        self._free = []             # idle arenas (at most one)
        self._counts = None         # reference counts of a fresh arena's arrays
        if slots:
            _WITH_ARENAS.add(self)

    def __call__(self, *args):
        if self._on_host:
            return self._run(*args)
        with self.device.backend.activate(self.device):
            return self._run(*args)

    def _run(self, *args):
        if not self._views:
            return self.fn(*args)
        pool = self.take_arena()
        outs = self.fn(*args, pool)
        self.give_arena(pool)
        return outs

    def take_arena(self):
        """The arrays of an idle arena (the block first, then one view per slot), or of a new
        one."""
        try:
            return self._free.pop()
        except IndexError:
            pass
        pool = _new_arena(self.device.xp, self.arena_bytes, self._views)
        if self._counts is None:
            self._counts = _refcounts(pool)
        return pool

    def give_arena(self, pool):
        """Keep `pool` for the next call, if caching is on, no other arena is idle, and
        nothing but `pool` refers to its arrays (no view of them outlived the call)."""
        if not self._free and config.jit_buffer_cache and _refcounts(pool) == self._counts:
            self._free.append(pool)

    def release_buffers(self):
        """Drop the arena kept between calls."""
        self._free.clear()

    def as_text(self):
        return f"# optimized jaxpr\n{self.jaxpr}\n\n# generated code\n{self.source}"

    def array_function(self, out_tree, name):
        """A variant taking `ft.Array`s and returning the output pytree of Arrays (the
        dispatch fast path: no list of raw values in between)."""
        fn = self._array_fns.get(out_tree)
        if fn is None:
            arg_names, body, outs = self._signature
            params = [f"x{i}" for i in range(len(arg_names))]
            lines = [f"def {name}({', '.join(params)}):"]
            if self._views:         # the arena goes back once the body's frame is gone
                lines += ["    pool = take_arena()",
                          f"    outs = fn({''.join(p + '._value, ' for p in params)}pool)",
                          "    give_arena(pool)"]
                outs = [f"outs[{i}]" for i in range(len(outs))]
            else:
                lines += [f"    {a} = {p}._value" for a, p in zip(arg_names, params)]
                lines += body
            nodes = {}
            lines.append(f"    return {_tree_expression(out_tree, outs, nodes)}")
            namespace = dict(self._namespace, wrap=wrap, fn=self.fn, take_arena=self.take_arena,
                             give_arena=self.give_arena, **nodes)
            fn = _compile("\n".join(lines), name, namespace)
            if not self._on_host:
                fn = self._on_device(fn)
            self._array_fns[out_tree] = fn
        return fn

    def _on_device(self, fn):
        device = self.device

        def run(*args):
            with device.backend.activate(device):
                return fn(*args)
        return run


def release_buffers(closed):
    """Drop the arenas kept by the executables compiled from `closed` and from the jaxprs
    derived from it and cached on it (its derivatives, batched forms, ...)."""
    seen, todo = set(), [closed]
    while todo:
        c = todo.pop()
        if id(c) in seen:
            continue
        seen.add(id(c))
        for value in c.cache.values():
            if isinstance(value, Executable):
                value.release_buffers()
            elif isinstance(value, ClosedJaxpr):
                todo.append(value)
            else:           # e.g. a vjp split, holding its forward and backward jaxprs
                todo.extend(v for v in getattr(value, "__dict__", {}).values()
                            if isinstance(v, ClosedJaxpr))


def _new_arena(xp, nbytes, views):
    block = xp.empty(nbytes, np.uint8)
    return (block,) + tuple(block[lo:hi].view(dtype).reshape(shape)
                            for lo, hi, dtype, shape in views)


def _refcounts(pool):
    return [sys.getrefcount(a) for a in pool]


_WITH_ARENAS = weakref.WeakSet()     # executables with slots, to release when caching stops


def _on_config(name, value):
    if name == "jit_buffer_cache" and not value:
        for exe in list(_WITH_ARENAS):
            exe.release_buffers()


config.on_update(_on_config)


def _tree_expression(tree, names, namespace):
    """Python source building the pytree `tree` of Arrays wrapping `names`; the unflatten
    functions and static data of other node types go into `namespace`."""
    it = iter(names)

    def build(td):
        if td.node_type is None:
            return f"wrap({next(it)})"
        if td.node_type is type(None):
            return "None"
        kids = [build(c) for c in td.children]
        if td.node_type is tuple:
            return f"({', '.join(kids)}{',' if len(kids) == 1 else ''})"
        if td.node_type is list:
            return f"[{', '.join(kids)}]"
        node = f"out_node{len(namespace)}"
        namespace[node] = (_kind_of(td.node_type).unflatten, td.node_data)
        return f"{node}[0]({node}[1], [{', '.join(kids)}])"
    return build(tree)


def _compile(source, name, namespace):
    code = compile(source, f"<functrans jit {name}>", "exec")
    exec(code, namespace)
    return namespace[name]


def generate(closed: ClosedJaxpr, device, name="jitted", donated=()):
    """Generate and compile Python source for an optimized `closed` on `device`.

    Returns `(fn, source, namespace, signature, slots)`: `signature` is `(argument names,
    body lines, output expressions)`; with `slots` (`memory.Slot`s) the function takes one
    more argument, the arrays of an arena (`Executable.take_arena`)."""
    jaxpr = closed.jaxpr
    ctx = device.backend.lowering_context()(device)
    const_names = [ctx.const(c, "c") for c in closed.consts]
    c_consts = [v for v, c in zip(jaxpr.constvars, closed.consts)
                if getattr(getattr(c, "flags", None), "c_contiguous", False)]
    arg_names = [f"a{i}" for i in range(len(jaxpr.invars))]
    donated_names = {jaxpr.invars[i]: f"d{i}" for i in donated}
    block = Jaxpr([], jaxpr.constvars + jaxpr.invars, jaxpr.outvars, jaxpr.eqns)
    outs = ctx.lower_block(block, const_names + arg_names, donated=donated_names,
                           c_inputs=c_consts)
    fname = _ident(name) or "jitted"
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
    fn = _compile(source, fname, dict(ctx.namespace))
    return fn, source, ctx.namespace, (arg_names, ctx.lines, outs), [s for _, s in ctx.slots]


def compile_jaxpr(closed: ClosedJaxpr, device, name="jitted", donated=()) -> Executable:
    """Optimize and compile `closed` for `device` (cached on the jaxpr). `donated` lists the
    inputs whose arrays the code may overwrite; the executable then takes one extra
    argument per donated input: its array, or None when it must not be overwritten."""
    key = ("compiled", device, tuple(donated))
    exe = closed.cache.get(key)
    if exe is None:
        from .passes import optimize
        with device.backend.activate(device):
            optimized = optimize(closed, device)
            fn, source, namespace, signature, slots = generate(optimized, device, name, donated)
        exe = closed.cache[key] = Executable(fn, source, optimized, device, namespace,
                                             signature, slots)
    return exe
