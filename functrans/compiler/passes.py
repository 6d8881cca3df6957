"""Optimization passes over jaxprs, run before code generation.

`optimize(closed, device)` runs, in order (constants first move to `device`, once per
compiled program):

1. inlining of the call primitives that declare `inline = "early"` (nested `jit` calls;
   `custom_vjp` / `custom_jvp` calls: compiled code only evaluates, so a custom derivative's
   function is just its primal jaxpr), so the passes see one flat program;
2. `simplify`: one forward walk that, for each equation, applies
   - common-subexpression elimination (same primitive, parameters and inputs: computed once;
     operands of commutative ops are put in a canonical order first),
   - constant folding (inputs all known: evaluated now with the backend kernels; `full_like`
     needs only its input's shape, so it always folds, to a broadcast scalar that costs no
     memory; results over `FOLD_LIMIT_BYTES` are left to run time),
   - algebraic simplification (`rules.py`: x*1, x+0, double negation, transpose of transpose,
     no-op reshapes/broadcasts/conversions, pow(x, 2) -> square, the tests of a max/min
     derivative, broadcasts an elementwise op does implicitly anyway, stop_gradient, ...);
3. dead-code elimination (effectful equations, and calls whose jaxprs have effects, stay);
4. inlining of the calls that declare `inline = "late"` (`checkpoint`), each body optimized
   on its own first: CSE runs before this step, so a rematerialized forward pass is never
   merged with the original one;
5. elementwise fusion (`fusion.py`); for backends whose kernels can also reduce (CUDA), a
   sum/max/min of a fused group joins the group.

Equations with nested jaxprs other than those inlined are left alone (their bodies are
optimized when they are lowered), and effectful ones are never removed, merged or reordered.
Memory planning happens during code generation (`memory.py`), where the kernels are known.
"""
from __future__ import annotations

import numpy as np

from ..backends import transfer
from ..core import ShapedArray
from ..jaxpr import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var, is_effectful, param_jaxprs
from ..interpreters.partial_eval import dce_jaxpr
from ..primitives.shape_ops import full_like_p
from .codegen import lowering_context
from .fusion import fuse, fuse_reductions
from .gemm import fuse_products
from .rules import RULES, canonical_operands

FOLD_LIMIT_BYTES = 1 << 16


def raw_value(value, device):
    """The backend buffer behind a constant (an Array's value, or the value itself), on
    `device` (trace-time constants are created on the default device; a program runs on the
    device of its arguments)."""
    raw = getattr(value, "_value", value)
    if type(raw) in (int, float, bool, complex) or not hasattr(raw, "dtype"):
        return raw
    return transfer(raw, device)


def optimize(closed: ClosedJaxpr, device) -> ClosedJaxpr:
    """The optimized form of `closed` for `device` (consts become raw buffers there)."""
    jaxpr, consts = closed.jaxpr, [raw_value(c, device) for c in closed.consts]
    jaxpr, consts = inline_calls(jaxpr, consts, "early", device)
    jaxpr, consts = simplify(jaxpr, consts, device.xp)
    jaxpr, consts = dce(jaxpr, consts)
    jaxpr, consts = inline_calls(jaxpr, consts, "late", device, optimize_bodies=True)
    jaxpr, consts = dce(jaxpr, consts)
    if device.xp is np:
        jaxpr = fuse_products(jaxpr)
    jaxpr = fuse(jaxpr)
    if lowering_context(device).fuses_reductions:
        jaxpr = fuse_reductions(jaxpr)
    return ClosedJaxpr(jaxpr, consts)


def optimize_open(jaxpr: Jaxpr, device, consts=()):
    """Optimize `jaxpr` (a nested body) with `consts` for its constvars; returns the new
    `(jaxpr, consts)` (folding may add constants)."""
    closed = optimize(ClosedJaxpr(jaxpr, list(consts)), device)
    return closed.jaxpr, closed.consts


def has_subjaxprs(params):
    return next(param_jaxprs(params), None) is not None


# =================================================================== inlining
def inline_calls(jaxpr, consts, stage, device, optimize_bodies=False):
    """Replace the equations of the call primitives that declare `inline == stage` by the
    equations of their jaxprs (with fresh variables, so one jaxpr can be inlined many
    times)."""
    def should_inline(eqn):
        return eqn.primitive.inline == stage and \
            isinstance(eqn.params.get(eqn.primitive.callee), ClosedJaxpr)
    if not any(should_inline(e) for e in jaxpr.eqns):
        return jaxpr, consts
    constvars, consts = list(jaxpr.constvars), list(consts)
    env = {}

    def read(v):
        return env.get(v, v) if type(v) is Var else v

    eqns = []
    for eqn in jaxpr.eqns:
        invars = [read(v) for v in eqn.invars]
        if not should_inline(eqn):
            eqns.append(eqn.replace(invars=invars) if invars != eqn.invars else eqn)
            continue
        closed = eqn.params[eqn.primitive.callee]
        body, body_consts = closed.jaxpr, [raw_value(c, device) for c in closed.consts]
        if optimize_bodies:
            body, body_consts = optimize_open(body, device, body_consts)
        body, body_consts = inline_calls(body, body_consts, stage, device, optimize_bodies)
        inner = dict(zip(body.invars, invars))
        for cv, c in zip(body.constvars, body_consts):
            nv = Var(cv.aval)
            constvars.append(nv)
            consts.append(c)
            inner[cv] = nv
        for e in body.eqns:
            outs = [Var(v.aval) for v in e.outvars]
            inner.update(zip(e.outvars, outs))
            eqns.append(e.replace(invars=[inner.get(v, v) if type(v) is Var else v
                                          for v in e.invars], outvars=outs))
        for ov, iv in zip(eqn.outvars, body.outvars):
            env[ov] = inner.get(iv, iv) if type(iv) is Var else iv
    outvars = [read(v) for v in jaxpr.outvars]
    return _outputs_as_vars(Jaxpr(constvars, jaxpr.invars, outvars, eqns), consts, device.xp)


def _outputs_as_vars(jaxpr, consts, xp):
    """Outputs must be arrays: a Literal output becomes a constant of its aval's dtype."""
    if all(type(v) is Var for v in jaxpr.outvars):
        return jaxpr, consts
    constvars, consts, outvars = list(jaxpr.constvars), list(consts), []
    for v in jaxpr.outvars:
        if type(v) is Literal:
            nv = Var(v.aval.strip_weak())
            constvars.append(nv)
            consts.append(xp.asarray(v.val, dtype=v.aval.dtype))
            v = nv
        outvars.append(v)
    return Jaxpr(constvars, jaxpr.invars, outvars, jaxpr.eqns), consts


# =================================================================== dead code
def dce(jaxpr, consts):
    """Dead code (`partial_eval.dce_jaxpr`) and the constants only it used."""
    new, _ = dce_jaxpr(jaxpr, prune_constvars=True)
    kept = set(new.constvars)
    return new, [c for v, c in zip(jaxpr.constvars, consts) if v in kept]


# =================================================================== simplification
def simplify(jaxpr, consts, xp, cse=True):
    """Common subexpressions, constant folding and algebraic rules in one forward walk."""
    s = Simplifier(xp, cse)
    s.count_uses(jaxpr)
    for v, c in zip(jaxpr.constvars, consts):
        s.add_const_var(v, c)
    for eqn in jaxpr.eqns:
        outs = s.bind_eqn(eqn)
        for ov, new in zip(eqn.outvars, outs):
            if new is not ov:
                s.subst[ov] = new
                if type(new) is Var:        # its readers are now `new`'s too
                    s.uses[new] = s.uses.get(new, 0) + s.uses.get(ov, 0)
    outvars = [s.atom(v) for v in jaxpr.outvars]
    return _outputs_as_vars(Jaxpr(s.constvars, jaxpr.invars, outvars, s.eqns), s.consts, xp)


class Simplifier:
    """The state of the `simplify` walk; algebraic rules (`rules.py`) call back into it to
    inspect producers and constants and to add equations (which are simplified in turn)."""

    def __init__(self, xp, cse=True):
        self.xp = xp
        self.cse = cse
        self.eqns = []
        self.constvars, self.consts = [], []
        self.const_of = {}          # constvar -> raw value
        self.subst = {}             # replaced var -> its replacement atom
        self.producer = {}          # var -> the equation (in the new program) defining it
        self.table = {}             # CSE key -> output atoms
        self._scalar_consts = {}
        self.uses = {}              # var of the original program -> how often it is read

    def count_uses(self, jaxpr):
        for a in [a for e in jaxpr.eqns for a in e.invars] + list(jaxpr.outvars):
            if type(a) is Var:
                self.uses[a] = self.uses.get(a, 0) + 1

    def used_once(self, a):
        """`a` is a variable of the original program that one equation or output reads."""
        return self.uses.get(a) == 1

    # -- atoms and constants
    def atom(self, v):
        return self.subst.get(v, v) if type(v) is Var else v

    def add_const_var(self, var, value):
        self.constvars.append(var)
        self.consts.append(value)
        self.const_of[var] = value

    def new_const(self, value, aval):
        """A constvar holding `value` (uniform scalar constants are shared)."""
        key = _uniform_key(value)
        if key is not None:
            got = self._scalar_consts.get(key)
            if got is not None:
                return got
        var = Var(aval.strip_weak())
        self.add_const_var(var, value)
        if key is not None:
            self._scalar_consts[key] = var
        return var

    def known(self, a):
        """The value of atom `a` if known at compile time (a Literal or a constant)."""
        if type(a) is Literal:
            return a.val
        return self.const_of.get(a, _UNKNOWN)

    def scalar_value(self, a):
        """The Python number `a` equals everywhere, if it is a uniform constant, else None."""
        if type(a) is Literal:
            return a.val if type(a.val) in (int, float, bool) else None
        value = self.const_of.get(a)
        if value is None:
            return None
        return _uniform_scalar(value)

    def defined_by(self, a, prim):
        """The equation producing `a` if it is an application of `prim`, else None."""
        eqn = self.producer.get(a) if type(a) is Var else None
        return eqn if eqn is not None and eqn.primitive is prim else None

    # -- adding equations
    def bind(self, prim, invars, **params):
        """Add `prim(*invars, **params)` to the program (simplified); returns its output atom
        (or list of atoms for multiple-result primitives)."""
        avals = prim.abstract_eval(*[v.aval for v in invars], **params)
        out_avals = avals if prim.multiple_results else [avals]
        outs = self._bind(prim, list(invars), params, out_avals, None)
        return outs if prim.multiple_results else outs[0]

    def bind_eqn(self, eqn):
        invars = [self.atom(v) for v in eqn.invars]
        return self._bind(eqn.primitive, invars, eqn.params, [v.aval for v in eqn.outvars], eqn)

    def _bind(self, prim, invars, params, out_avals, eqn):
        if is_effectful(prim, params) or has_subjaxprs(params):   # left as they are
            return self._emit(prim, invars, params, out_avals, eqn)
        invars = canonical_operands(prim, invars)
        key = _cse_key(prim, invars, params) if self.cse else None
        if key is not None:
            got = self.table.get(key)
            if got is not None:
                return got
        outs = self._fold(prim, invars, params, out_avals)
        if outs is None:
            rule = RULES.get(prim)
            outs = rule(self, invars, params, out_avals) if rule is not None else None
        if outs is None:
            outs = self._emit(prim, invars, params, out_avals, eqn)
        if key is not None:
            self.table[key] = outs
        return outs

    def _emit(self, prim, invars, params, out_avals, eqn):
        if eqn is not None:
            outvars = eqn.outvars
            new = eqn.replace(invars=invars) if invars != eqn.invars else eqn
        else:
            outvars = [Var(a) for a in out_avals]
            new = JaxprEqn(prim, invars, params, outvars)
        self.eqns.append(new)
        for v in outvars:
            self.producer[v] = new
        return list(outvars)

    # -- constant folding
    def _fold(self, prim, invars, params, out_avals):
        if not all(isinstance(a, ShapedArray) for a in out_avals):
            return None
        if prim is full_like_p:
            aval, = out_avals
            scalar = self.xp.full((), params["fill_value"], dtype=aval.dtype)
            value = self.xp.broadcast_to(scalar, aval.shape) if aval.shape else scalar
            return [self.new_const(value, aval)]
        values = [self.known(a) for a in invars]
        if prim.impl is None or any(v is _UNKNOWN for v in values):
            return None
        try:
            out = prim.impl(self.xp, *values, **params)
        except Exception:           # let it fail at run time, with the usual message
            return None
        outs = out if prim.multiple_results else [out]
        result = []
        for o, aval in zip(outs, out_avals):
            if not hasattr(o, "dtype") or o.dtype != aval.dtype or \
                    tuple(np.shape(o)) != tuple(aval.shape) or _footprint(o) > FOLD_LIMIT_BYTES:
                return None
            result.append(self.new_const(o, aval))
        return result


_UNKNOWN = object()


def _footprint(value):
    """Bytes of memory a folded constant keeps alive (a broadcast scalar costs nothing)."""
    base = value
    while getattr(base, "base", None) is not None:
        base = base.base
    return getattr(base, "nbytes", 0)


def _uniform_scalar(value, limit=4096):
    """The Python number a (small or broadcast) constant array equals everywhere, or None."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return value if type(value) in (int, float, bool) else None
    if value.size == 0 or value.dtype.kind not in "biuf":
        return None
    if value.size == 1 or all(s == 0 for s in value.strides):
        scalar = value[(0,) * value.ndim].item()
    elif value.size <= limit:
        flat = value.reshape(-1)
        if not bool((flat == flat[0]).all()):
            return None
        scalar = flat[0].item()
    else:
        return None
    return scalar if scalar == scalar else None       # NaN is no neutral element


def _uniform_key(value):
    """A key under which equal broadcast scalars are shared, or None."""
    strides = getattr(value, "strides", None)
    if strides is None or not all(s == 0 for s in strides) or value.size == 0:
        return None
    first = value[(0,) * value.ndim]
    return (value.shape, value.dtype.str, first.tobytes(), type(value))


# =================================================================== CSE keys
def _cse_key(prim, invars, params):
    try:
        key = (prim, tuple(_atom_key(v) for v in invars), _param_key(params))
        hash(key)
    except TypeError:
        return None
    return key


def _atom_key(a):
    if type(a) is Literal:
        return ("lit", type(a.val), repr(a.val))
    return a


def _param_key(params):
    return tuple((k, _value_key(v)) for k, v in sorted(params.items()))


def _value_key(v):
    if isinstance(v, (tuple, list)):
        return (type(v), tuple(_value_key(u) for u in v))
    if isinstance(v, float):
        return (float, repr(v))
    return (type(v), v)
