"""Code generation: a jaxpr to the source of a plain Python function over backend kernels.

Each equation becomes one line calling its primitive's kernel (`impl(xp, ...)`) or, where
the primitive has a `lowering`, the code that lowering writes. Nested jit calls are inlined.
The source is kept on the executable so users can read what runs (`ft.jit(f).lower(...)`).
"""
from __future__ import annotations

import math

import numpy as np

from ..core import Literal, Var, Jaxpr, ClosedJaxpr


class LoweringContext:
    """What a primitive's `lowering` gets: names for values and constants, and nesting."""

    def __init__(self, xp):
        self.xp = xp
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
        name = self._const_ids.get(key)
        if name is None:
            name = self.fresh(prefix)
            self._const_ids[key] = name
            self.namespace[name] = value
        return name

    def emit(self, line, indent=1):
        self.lines.append("    " * indent + line)

    def operand(self, v, env):
        if type(v) is Literal:
            val = v.val
            if isinstance(val, float) and not math.isfinite(val):
                return self.const(val)
            return repr(val)
        return env[v]

    def lower_jaxpr(self, jaxpr: Jaxpr, in_names, indent=1):
        """Emit the equations of `jaxpr` with its inputs bound to `in_names`; returns the
        names (or literal texts) of its outputs."""
        env = dict(zip(jaxpr.invars, in_names))
        for eqn in jaxpr.eqns:
            ins = [self.operand(v, env) for v in eqn.invars]
            outs = [self.fresh() for _ in eqn.outvars]
            lowering = eqn.primitive.lowering
            if lowering is not None:
                lowering(self, eqn, ins, outs, indent)
            else:
                self.default_lowering(eqn, ins, outs, indent)
            env.update(zip(eqn.outvars, outs))
        return [self.operand(v, env) for v in jaxpr.outvars]

    def default_lowering(self, eqn, ins, outs, indent):
        prim = eqn.primitive
        impl = self.const(prim.impl, f"{_ident(prim.name)}_")
        args = ", ".join(["xp"] + ins)
        if eqn.params:
            args += ", **" + self.const(eqn.params, "p")
        call = f"{impl}({args})"
        if prim.multiple_results:
            lhs = ", ".join(outs) + ("," if len(outs) == 1 else "")
            self.emit(f"{lhs} = {call}" if outs else call, indent)
        else:
            self.emit(f"{outs[0]} = {call}", indent)


def _ident(name):
    return "".join(c if c.isalnum() else "_" for c in name)


class Executable:
    """A compiled jaxpr: call it with raw arrays, get a list of raw arrays back."""

    def __init__(self, fn, source, jaxpr, device):
        self.fn, self.source, self.jaxpr, self.device = fn, source, jaxpr, device

    def __call__(self, *args):
        return self.fn(*args)

    def as_text(self):
        return f"# optimized jaxpr\n{self.jaxpr}\n\n# generated code\n{self.source}"


def generate(closed: ClosedJaxpr, device, name="jitted"):
    """Generate and compile Python source for `closed` on `device`."""
    jaxpr = closed.jaxpr
    ctx = LoweringContext(device.xp)
    const_names = [ctx.const(_raw(c), "c") for c in closed.consts]
    arg_names = [f"a{i}" for i in range(len(jaxpr.invars))]
    outs = ctx.lower_jaxpr(Jaxpr([], jaxpr.constvars + jaxpr.invars, jaxpr.outvars, jaxpr.eqns),
                           const_names + arg_names)
    fname = _ident(name) or "jitted"
    src = [f"def {fname}({', '.join(arg_names)}):"] + ctx.lines
    src.append(f"    return [{', '.join(outs)}]")
    source = "\n".join(src)
    code = compile(source, f"<functrans jit {fname}>", "exec")
    namespace = dict(ctx.namespace)
    exec(code, namespace)
    return namespace[fname], source


def _raw(value):
    return getattr(value, "_value", value)


def compile_jaxpr(closed: ClosedJaxpr, device, name="jitted") -> Executable:
    """Optimize and compile `closed` for `device` (cached on the jaxpr)."""
    key = ("compiled", device)
    exe = closed.cache.get(key)
    if exe is None:
        from .passes import optimize
        optimized = optimize(closed)
        fn, source = generate(optimized, device, name)
        exe = closed.cache[key] = Executable(fn, source, optimized, device)
    return exe
