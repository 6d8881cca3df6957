"""Staging: tracing a Python function into a jaxpr, and jaxpr-to-jaxpr utilities.

`trace_to_jaxpr` runs a function on `JaxprTracer`s, recording one equation per primitive.
Operations whose inputs are all concrete are not staged: they run at trace time and their
results enter the jaxpr as constants (so known values fold away for free). Effectful
primitives (debug printing) are always staged.

Values of *outer* transforms closed over by the function (e.g. the tracer of an enclosing
`grad`) become extra leading inputs of the jaxpr ("hoisted" constants), so the outer transform
sees them flow into the staged call and differentiates through it.

`partial_eval_jaxpr` splits a jaxpr by dependence on some inputs: the equations that do not
depend on them form the "known" jaxpr (run now), the rest the "unknown" jaxpr, connected by
residuals. With the unknown inputs being cotangents it splits a joint forward-backward jaxpr
into the forward and backward passes; with tangents it is linearization.
"""
from __future__ import annotations

import threading
from ..array import wrap
from .. import dtypes
from ..config import config
from ..core import (Trace, Tracer, new_main, get_aval, is_python_scalar, user_frame, format_frame,
                    reraise_with_context, current_source)
from ..errors import ConcretizationTypeError
from ..jaxpr import Var, Literal, JaxprEqn, Jaxpr, ClosedJaxpr, is_effectful
from .checks import check_jaxpr, check_no_leaks


class JaxprTracer(Tracer):
    __slots__ = ("aval", "var")

    def __init__(self, trace, aval):
        self._trace = trace
        self.aval = aval
        self.var = Var(aval)

    def concrete_value(self, why):
        raise ConcretizationTypeError(
            f"{why} needs a concrete value, but this is a traced value "
            f"({self.aval.str_short()}) inside {self._trace.main.name}, at "
            f"{format_frame(user_frame())}. Under jit, values are abstract (only shape and "
            "dtype are known). Fixes: use ft.lax.cond / ft.lax.switch for if/else, "
            "ft.lax.fori_loop / ft.lax.while_loop / ft.lax.scan for loops, fnp.where for "
            "elementwise choices, or mark the argument static with "
            "ft.jit(f, static_argnums=...) / static_argnames=... if it is a setting rather "
            "than data.")


class JaxprBuilder:
    def __init__(self, states=None):
        self.invars = []
        self.eqns = []
        self.consts = {}            # id(value) -> (var, value)
        self.states = states        # outer mutable state brought in (see trace_to_jaxpr)


class JaxprTrace(Trace):
    is_staging = True

    def new_arg(self, aval):
        t = JaxprTracer(self, aval)
        self.main.payload.invars.append(t.var)
        return t

    def getvar(self, x):
        if isinstance(x, JaxprTracer) and x._trace is self:
            return x.var
        if is_python_scalar(x):
            return Literal(x, get_aval(x))
        consts = self.main.payload.consts
        entry = consts.get(id(x))
        if entry is None:
            entry = consts[id(x)] = (Var(get_aval(x).strip_weak()), x)
        return entry[0]

    def process_primitive(self, prim, args, params):
        invars = [self.getvar(a) for a in args]
        try:
            out_avals = prim.abstract_eval(*[v.aval for v in invars], **params)
        except Exception as e:
            shapes = ", ".join(v.aval.str_short() for v in invars)
            reraise_with_context(e, f"{prim.name} on ({shapes}) at {format_frame(user_frame())}")
        src = current_source()
        if prim.multiple_results:
            outs = [JaxprTracer(self, a) for a in out_avals]
        else:
            outs = [JaxprTracer(self, out_avals)]
        self.main.payload.eqns.append(
            JaxprEqn(prim, invars, params, [t.var for t in outs], src))
        return outs if prim.multiple_results else outs[0]


def _as_output(x):
    """Outputs that are Python scalars become arrays of their default dtype."""
    if is_python_scalar(x):
        import numpy as np
        return wrap(np.asarray(x, dtypes.scalar_dtype(x)))
    return x


class StateUsed(Exception):
    """Raised by a staged function's trace that used mutable state from outside it (see
    `trace_to_jaxpr(states=)`) when its caller threads such state itself: `states` are the
    records, restored already. `threaded(what)` asks their maker (the record type) for an
    object that runs the function again with that state passed in and out as values."""

    def __init__(self, states):
        super().__init__(f"{len(states)} outer state(s) used")
        self.states = states

    def threaded(self, what):
        return type(self.states[0]).threaded(self.states, what)


_journals = threading.local()


class StateJournal:
    """Opened with `with`: notes the mutable state from outside any trace (refs) written
    meanwhile (`note_state_write`); `written` lists it and `undo()` gives it back the values it
    had when first written. An eager while_loop drops its cond_fun's last writes with one."""

    def __enter__(self):
        self.before = {}
        _journals.__dict__.setdefault("open", []).append(self)
        return self

    def __exit__(self, *exc):
        _journals.open.remove(self)

    written = property(lambda self: [obj for obj, _, _ in self.before.values()])

    def undo(self):
        for obj, attr, value in self.before.values():
            setattr(obj, attr, value)


def note_state_write(obj, attr):
    """`obj.attr` (mutable state) is about to be written: the open journals note its value."""
    for j in getattr(_journals, "open", ()):
        j.before.setdefault(id(obj), (obj, attr, getattr(obj, attr)))


def trace_to_jaxpr(fun, in_avals, name="jit", states=None):
    """Trace `fun(*tracers) -> list of outputs` to `(ClosedJaxpr, hoisted)`.

    The jaxpr's inputs are `hoisted + in_avals`: `hoisted` are the tracers of enclosing
    transforms the function closed over, to be passed as leading arguments.

    `states`, a list, lets the function use mutable state from outside it (the refs of
    `functrans.ref`): what brings some in appends a record to it (the builder's `states`)
    and takes an extra input (`new_arg`, after `in_avals`); the record's `outputs()` (its
    final value, if it changed) become extra outputs after the function's, and its
    `restore()` runs when tracing ends. Without `states` such state is an error.
    """
    builder = JaxprBuilder(states)
    with new_main(JaxprTrace, builder, name) as main:
        trace = main.trace
        tracers = [trace.new_arg(a) for a in in_avals]
        try:
            outs = fun(*tracers)
            if states:
                outs = list(outs) + [v for s in states for v in s.outputs()]
        finally:
            for s in reversed(states or ()):
                s.restore()
        outvars = [trace.getvar(_as_output(o)) for o in outs]
    if config.check_tracer_leaks:
        del tracers, outs
        check_no_leaks(trace, name)
    constvars, constvals, hoisted_vars, hoisted = [], [], [], []
    for var, val in builder.consts.values():
        if isinstance(val, Tracer):
            hoisted_vars.append(var)
            hoisted.append(val)
        else:
            constvars.append(var)
            constvals.append(val)
    jaxpr = Jaxpr(constvars, hoisted_vars + builder.invars, outvars, builder.eqns)
    if config.enable_checks:
        check_jaxpr(jaxpr, name)
    return ClosedJaxpr(jaxpr, constvals), hoisted


def trace_closed(fun, in_avals, name):
    """Trace `fun` (flat list in, flat list out) to a ClosedJaxpr that closes over no tracer
    of an enclosing transform (as the jaxprs derived from other jaxprs never do)."""
    closed, hoisted = trace_to_jaxpr(fun, in_avals, name=name)
    assert not hoisted, "derived jaxprs close over no tracers"
    return closed


def derived(closed, key, build):
    """What `build()` derives from `closed` (its jvp, vjp split, batched form, ...), cached on
    it under `key`. Threads that build the same derivation at once all use the first stored."""
    got = closed.cache.get(key)
    if got is None:
        got = closed.cache.setdefault(key, build())
    return got


def closed_to_open(closed: ClosedJaxpr):
    """The jaxpr with its consts as leading inputs, and the consts."""
    j = closed.jaxpr
    return Jaxpr([], j.constvars + j.invars, j.outvars, j.eqns), list(closed.consts)


# ------------------------------------------------------------------ dead code
def dce_jaxpr(jaxpr: Jaxpr, used_outputs=None, prune_constvars=False):
    """Drop equations whose results are unused (effectful ones stay), the only dead-code
    elimination (the compiler's too). An equation some of whose results are unused is
    narrowed by its primitive's `dce_rule(used_outputs, eqn) -> eqn`, where it has one (a
    call computes only the used outputs of its jaxpr, a scan stops stacking unused outputs).

    Returns `(new_jaxpr, used_inputs)`; with `prune_constvars` unused constvars go too.
    """
    if used_outputs is None:
        used_outputs = [True] * len(jaxpr.outvars)
    outvars = [v for v, u in zip(jaxpr.outvars, used_outputs) if u]
    live = {v for v in outvars if type(v) is Var}
    new_eqns = []
    for eqn in reversed(jaxpr.eqns):
        used = [v in live for v in eqn.outvars]
        effectful = is_effectful(eqn.primitive, eqn.params)
        if not any(used) and not effectful:
            continue
        if eqn.primitive.dce_rule is not None and not effectful and not all(used):
            eqn = eqn.primitive.dce_rule(used, eqn)
        new_eqns.append(eqn)
        live.update(v for v in eqn.invars if type(v) is Var)
    new_eqns.reverse()
    used_inputs = [v in live for v in jaxpr.invars]
    constvars = [v for v in jaxpr.constvars if v in live] if prune_constvars \
        else jaxpr.constvars
    return Jaxpr(constvars, jaxpr.invars, outvars, new_eqns), used_inputs


def dce_closed(closed: ClosedJaxpr, used_outputs, used_inputs=None):
    """`closed` computing only its `used_outputs`, and taking only the inputs it still reads
    (or, given `used_inputs`, exactly those). Returns `(new_closed, used_inputs)`."""
    j, reads = dce_jaxpr(closed.jaxpr, used_outputs, prune_constvars=True)
    used_inputs = reads if used_inputs is None else used_inputs
    kept = set(j.constvars)
    consts = [c for v, c in zip(closed.jaxpr.constvars, closed.consts) if v in kept]
    invars = [v for v, u in zip(j.invars, used_inputs) if u]
    return ClosedJaxpr(Jaxpr(j.constvars, invars, j.outvars, j.eqns), consts), used_inputs


# ------------------------------------------------------------------ hoisting
def hoist_invariant(closed, n_invariant, move=True):
    """Split `closed` (inputs: `n_invariant` loop-invariant ones, then the rest) into `pre`,
    computing once what depends only on invariant inputs, and `loop`, taking `pre`'s outputs
    before all of `closed`'s inputs. Returns `(pre, loop)` (`pre` is empty unless `move`).
    Effectful equations stay in the loop."""
    j = closed.jaxpr
    invariant = set(j.constvars) | set(j.invars[:n_invariant])
    pre_eqns, loop_eqns = [], []
    for eqn in j.eqns:
        if move and not is_effectful(eqn.primitive, eqn.params) and all(
                type(v) is Literal or v in invariant for v in eqn.invars):
            pre_eqns.append(eqn)
            invariant.update(eqn.outvars)
        else:
            loop_eqns.append(eqn)
    computed = {v for e in pre_eqns for v in e.outvars}
    crossing, seen = [], set()
    for v in [v for e in loop_eqns for v in e.invars] + list(j.outvars):
        if type(v) is Var and v in computed and v not in seen:
            seen.add(v)
            crossing.append(v)
    pre = ClosedJaxpr(Jaxpr(j.constvars, j.invars[:n_invariant], crossing, pre_eqns),
                      closed.consts)
    loop = ClosedJaxpr(Jaxpr(j.constvars, crossing + j.invars, j.outvars, loop_eqns),
                       closed.consts)
    return pre, loop


# ------------------------------------------------------------------ split by dependence
def partial_eval_jaxpr(jaxpr: Jaxpr, unknowns):
    """Split an open jaxpr (no constvars) by dependence on the inputs flagged `unknowns`.

    Returns `(known, unknown, out_unknowns, num_res)`:
    - `known(known_inputs) -> known_outputs + residuals`
    - `unknown(residuals + unknown_inputs) -> unknown_outputs`
    where an output is unknown iff it depends on an unknown input.
    """
    assert not jaxpr.constvars
    unknown_vars = {v for v, u in zip(jaxpr.invars, unknowns) if u}
    known_eqns, unknown_eqns = [], []
    for eqn in jaxpr.eqns:
        if any(type(v) is Var and v in unknown_vars for v in eqn.invars):
            unknown_eqns.append(eqn)
            unknown_vars.update(eqn.outvars)
        else:
            known_eqns.append(eqn)
    out_unknowns = [type(v) is Var and v in unknown_vars for v in jaxpr.outvars]
    # residuals: known values the unknown side reads
    residuals, seen = [], set()
    for eqn in unknown_eqns:
        for v in eqn.invars:
            if type(v) is Var and v not in unknown_vars and v not in seen:
                seen.add(v)
                residuals.append(v)
    known_in = [v for v, u in zip(jaxpr.invars, unknowns) if not u]
    unknown_in = [v for v, u in zip(jaxpr.invars, unknowns) if u]
    known_out = [v for v, u in zip(jaxpr.outvars, out_unknowns) if not u]
    unknown_out = [v for v, u in zip(jaxpr.outvars, out_unknowns) if u]
    known = Jaxpr([], known_in, known_out + residuals, known_eqns)
    known, _ = dce_jaxpr(known)
    # residuals are fresh variables on the unknown side
    rename = {v: Var(v.aval) for v in residuals}

    def r(v):
        return rename.get(v, v) if type(v) is Var else v
    unknown = Jaxpr([], [rename[v] for v in residuals] + unknown_in, [r(v) for v in unknown_out],
                    [e.replace(invars=[r(v) for v in e.invars]) for e in unknown_eqns])
    unknown, _ = dce_jaxpr(unknown)
    return known, unknown, out_unknowns, len(residuals)

