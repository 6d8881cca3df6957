"""Code generation: an optimized jaxpr becomes the source of a plain Python function over the
backend's kernels, with temporaries written into planned buffers.

Each equation becomes a line or two: a direct call of the NumPy/CuPy function behind it
(ufuncs, `where`/`copyto`, `dot`, `sum`, `reshape`, ...) bound to a name in the generated
module, taking `out=` when the memory plan (`memory.py`) gives it a dead buffer; `fused`
groups become chains of such calls computing in place; anything else calls the primitive's
kernel (`impl(xp, ...)`). The source is kept so users can read what runs
(`ft.jit(f).lower(...).as_text()`).

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

import numpy as np

from ..array import wrap
from ..core import Literal, Var, Jaxpr, ClosedJaxpr
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
    `exact`: the result does not depend on memory layout.
    """
    __slots__ = ("kind", "emit", "accepts_out", "inplace", "exact", "c_layout")

    def __init__(self, kind, emit, accepts_out=False, inplace=(), exact=True,
                 c_layout=lambda c: False):
        self.kind, self.emit, self.accepts_out = kind, emit, accepts_out
        self.inplace, self.exact, self.c_layout = inplace, exact, c_layout


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
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lhs, rhs = eqn.invars
    if lb or len(lc) != 1 or type(lhs) is not Var or type(rhs) is not Var or \
            len(lhs.aval.shape) != 2 or len(rhs.aval.shape) != 2 or \
            eqn.primitive.impl.__name__ != "_dot_impl":
        return None
    a_t = "" if lc[0] == 1 else ".T"
    b_t = "" if rc[0] == 0 else ".T"

    def emit(ctx, eqn, ins, outs, buf, indent):
        ctx.emit(f"{outs[0]} = {ctx.kernel('dot')}({ins[0]}{a_t}, {ins[1]}{b_t})", indent)
    return Kernel(FRESH, emit, c_layout=_always_c)


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
        ctx.emit(f"{outs[0]} = {fn}({ins[0]}, axis={axes!r}{dtype})", indent)
    return Kernel(FRESH, emit, c_layout=_always_c)


def _view_method_kernel(eqn, method, param, c_layout):
    """`x.reshape(shape)` / `x.transpose(perm)`: a view (or, for reshape, maybe a copy)."""
    arg = eqn.params[param]

    def emit(ctx, eqn, ins, outs, buf, indent):
        ctx.emit(f"{outs[0]} = {ins[0]}.{method}({arg!r})", indent)
    if type(eqn.invars[0]) is not Var:
        return None
    return Kernel(VIEW, emit, c_layout=c_layout)


def default_emit(ctx, eqn, ins, outs, buf, indent):
    """Call the primitive's kernel `impl(xp, *ins, **params)`."""
    prim = eqn.primitive
    impl = ctx.const(prim.impl, f"{_ident(prim.name)}_")
    args = ", ".join(["xp"] + list(ins))
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
    return Kernel(VIEW if getattr(prim, "view", False) and len(eqn.outvars) == 1 else OPAQUE,
                  default_emit)


# =================================================================== lowering
class LoweringContext:
    """Collects the lines and the module namespace of one generated function for `device`
    (see the module docstring for what primitive lowerings may call). `choose_kernel(eqn)`
    picks how each equation runs: a backend for another array module supplies a subclass
    (`Backend.lowering_context`) with its own kernels (e.g. one kernel for a whole `fused`
    group), falling back to `numpy_kernel`."""

    choose_kernel = staticmethod(numpy_kernel)

    def __init__(self, device):
        self.device = device
        self.xp = xp = device.xp
        self.namespace = {"xp": xp}
        self.lines = []
        self._count = 0
        self._const_ids = {}

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

    def lower_jaxpr(self, jaxpr, in_names, indent=1):
        """Optimize `jaxpr` (a ClosedJaxpr, or a Jaxpr without constvars) and emit its code
        with its inputs bound to `in_names`; returns the expressions of its outputs."""
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
        return self.lower_block(block, names + list(in_names), indent)

    def lower_block(self, jaxpr: Jaxpr, in_names, indent=1, donated=None, c_inputs=()):
        """Emit the (already optimized) equations of `jaxpr` with planned buffers.

        `donated` maps input variables whose arrays may be overwritten to the names holding
        those arrays (or None, which makes a kernel allocate)."""
        donated = donated or {}
        env = dict(zip(jaxpr.invars, in_names))
        instrs, groups = _expand(jaxpr.eqns, self.choose_kernel)
        plan = memory.plan(instrs, jaxpr.invars, jaxpr.outvars, donated=list(donated),
                           c_inputs=c_inputs)
        buffer_names = dict(donated)
        for k, (eqn, kernel) in enumerate(instrs):
            if k in groups:
                self.emit(f"# fused: {groups[k]}", indent)
            ins = [self.operand(v, env) for v in eqn.invars]
            outs = [self.fresh() for _ in eqn.outvars]
            target = plan.target.get(k)
            buf = None if target is None else buffer_names.get(target, env.get(target))
            kernel.emit(self, eqn, ins, outs, buf, indent)
            env.update(zip(eqn.outvars, outs))
            dead = plan.release.get(k)
            if dead:
                self.emit(f"del {', '.join(env[v] for v in dead)}", indent)
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
    None), get a list of raw arrays back."""

    def __init__(self, fn, source, jaxpr, device, body, namespace, signature):
        self.fn, self.source, self.jaxpr, self.device = fn, source, jaxpr, device
        self._body, self._namespace, self._signature = body, namespace, signature
        self._array_fns = {}
        self._on_host = device.platform == "cpu"

    def __call__(self, *args):
        if self._on_host:
            return self.fn(*args)
        with self.device.backend.activate(self.device):
            return self.fn(*args)

    def as_text(self):
        return f"# optimized jaxpr\n{self.jaxpr}\n\n# generated code\n{self.source}"

    def array_function(self, out_tree, name):
        """A variant taking `ft.Array`s and returning the output pytree of Arrays (the
        dispatch fast path: no list of raw values in between)."""
        fn = self._array_fns.get(out_tree)
        if fn is None:
            arg_names, outs = self._signature
            params = [f"x{i}" for i in range(len(arg_names))]
            namespace = dict(self._namespace, wrap=wrap, out_tree=out_tree)
            lines = [f"def {name}({', '.join(params)}):"]
            lines += [f"    {a} = {p}._value" for a, p in zip(arg_names, params)]
            lines += self._body
            lines.append(f"    return {_tree_expression(out_tree, outs)}")
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


def _tree_expression(tree, names):
    """Python source building the pytree `tree` of Arrays wrapping `names`."""
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
        raise _NotSimple
    try:
        return build(tree)
    except _NotSimple:
        return f"out_tree.unflatten([{', '.join(f'wrap({n})' for n in names)}])"


class _NotSimple(Exception):
    pass


def _compile(source, name, namespace):
    code = compile(source, f"<functrans jit {name}>", "exec")
    exec(code, namespace)
    return namespace[name]


def generate(closed: ClosedJaxpr, device, name="jitted", donated=()):
    """Generate and compile Python source for an optimized `closed` on `device`.

    Returns `(fn, source, body_lines, namespace, (arg_names, out_expressions))`."""
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
    src = [f"def {fname}({', '.join(params)}):"] + ctx.lines
    src.append(f"    return [{', '.join(outs)}]")
    appendix = ctx.appendix()
    if appendix:
        src += ["", "# the kernels it launches:"] + [f"# {line}" for line in appendix.splitlines()]
    source = "\n".join(src)
    fn = _compile(source, fname, dict(ctx.namespace))
    return fn, source, ctx.lines, ctx.namespace, (arg_names, outs)


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
            fn, source, body, namespace, signature = generate(optimized, device, name, donated)
        exe = closed.cache[key] = Executable(fn, source, optimized, device, body, namespace,
                                             signature)
    return exe
