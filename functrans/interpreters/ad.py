"""Automatic differentiation: forward mode (JVPTrace) and reverse mode (ReverseTrace).

Forward mode carries a tangent beside each primal and applies each primitive's `jvp` rule.

Reverse mode runs the function forward once, recording on a tape, for each primitive applied
to a differentiable tracer, the ids of its inputs and outputs and the `backward` closure its
`vjp` rule returned. The backward pass walks the tape in reverse, accumulating cotangents.
Rules are written with functrans operations, so the backward pass is itself traceable: run
under an outer transform, it is recorded, staged or batched like any other code. That is how
grad-of-grad, jit-of-grad, vmap-of-grad and jacfwd-of-jacrev work.

A tangent or cotangent of None is a symbolic zero and costs nothing.
"""
from __future__ import annotations


from .. import dtypes
from ..core import (Trace, Tracer, OpaqueAval, new_main, get_aval, concrete_value, is_python_scalar,
                    eval_jaxpr, with_noted_source)
from ..jaxpr import ClosedJaxpr, Jaxpr, Literal
from ..primitives._util import wanted
from ..primitives.elementwise import add
from ..primitives.shape_ops import full_like, zeros_or as instantiate
from .partial_eval import derived, trace_closed, closed_to_open, partial_eval_jaxpr
from . import rule_registries
from .rule_registries import (Zero, UndefinedPrimal, is_undefined_primal, instantiate_zeros,
                              defjvp, defjvp2, deflinear, deflinear2, defbilinear,
                              get_primitive_transpose, primitive_jvps, primitive_transposes,
                              jvp_tangent_map)

defjvp_zero = rule_registries.defjvp_zero   # JAX keeps it in its private jax._src.interpreters.ad

# the names of JAX's `jax.interpreters.ad` (the rest is functrans's own)
__all__ = ["JVPTrace", "JVPTracer", "Zero", "UndefinedPrimal", "is_undefined_primal",
           "instantiate_zeros", "defjvp", "defjvp2", "deflinear", "deflinear2", "defbilinear",
           "get_primitive_transpose", "primitive_jvps", "primitive_transposes"]


def zeros_like_aval(x):
    """Zeros shaped and typed like `x` (placed where `x` lives)."""
    return full_like(x, 0)


def _is_inexact(x):
    if is_python_scalar(x):
        return False
    return dtypes.is_inexact(get_aval(x).dtype)


# =================================================================== forward mode
class PrimalTracer(Tracer):
    """A tracer carrying a primal value (its aval and concrete value are the primal's)."""
    __slots__ = ("primal", "_aval")

    @property
    def aval(self):
        if self._aval is None:
            self._aval = get_aval(self.primal).strip_weak()
        return self._aval

    def concrete_value(self, why):
        return concrete_value(self.primal, why)


class JVPTracer(PrimalTracer):
    __slots__ = ("tangent",)

    def __init__(self, trace, primal, tangent):
        self._trace = trace
        self.primal = primal
        self.tangent = tangent
        self._aval = None

    def underlying(self):
        return self.primal


class JVPTrace(Trace):
    def process_primitive(self, prim, args, params):
        primals, tangents = [], []
        for a in args:
            if type(a) is JVPTracer and a._trace is self:
                primals.append(a.primal)
                tangents.append(a.tangent)
            else:
                primals.append(a)
                tangents.append(None)
        if prim.jvp is None:
            raise NotImplementedError(
                f"forward-mode differentiation (jvp, jacfwd, hessian) of {prim.name} is not "
                "implemented; use reverse mode (grad, vjp, jacrev) for this operation")
        out, t_out = prim.jvp(primals, tangents, **params)
        if prim.multiple_results:
            return [o if t is None else JVPTracer(self, o, t) for o, t in zip(out, t_out)]
        return out if t_out is None else JVPTracer(self, out, t_out)


def jvp_flat(fun, primals, tangents):
    """Forward mode on flat lists: `(outputs, output_tangents)`; None tangents are zeros."""
    with new_main(JVPTrace, None, "jvp") as main:
        trace = main.trace
        ins = [p if t is None else JVPTracer(trace, p, t) for p, t in zip(primals, tangents)]
        outs = fun(*ins)
        out_primals, out_tangents = [], []
        for o in outs:
            if type(o) is JVPTracer and o._trace is trace:
                out_primals.append(o.primal)
                out_tangents.append(o.tangent)
            else:
                out_primals.append(o)
                out_tangents.append(None)
    return out_primals, out_tangents


# =================================================================== reverse mode
class Tape:
    __slots__ = ("entries", "next_id")

    def __init__(self):
        self.entries = []       # (input ids, output ids, backward, multiple_results)
        self.next_id = 0

    def new_id(self):
        i = self.next_id
        self.next_id = i + 1
        return i


class ReverseTracer(PrimalTracer):
    __slots__ = ("id",)

    def __init__(self, trace, primal, id):
        self._trace = trace
        self.primal = primal
        self.id = id
        self._aval = None

    def underlying(self):
        return self.primal


class ReverseTrace(Trace):
    def process_primitive(self, prim, args, params):
        primals, ids = [], []
        for a in args:
            if type(a) is ReverseTracer and a._trace is self:
                primals.append(a.primal)
                ids.append(a.id)
            else:
                primals.append(a)
                ids.append(None)
        needs = tuple(i is not None for i in ids)
        by_jvp = prim.reverse_by_transposing_jvp
        if by_jvp is not None and by_jvp(primals, **params):
            out, backward = transposed_jvp(prim, primals, needs, params)
        elif prim.vjp is None:
            raise NotImplementedError(
                f"reverse-mode differentiation (grad, vjp, jacrev) of {prim.name} is not "
                "implemented; use forward mode (jvp, jacfwd) for this operation")
        else:
            out, backward = prim.vjp(primals, needs, **params)
        if backward is None:
            return out
        backward = with_noted_source(backward)
        tape = self.main.payload
        if prim.multiple_results:
            out_ids, results = [], []
            # outputs that do not depend on the differentiated inputs stay untraced
            nonzero = prim.nonzero_outputs
            nonzero = (nonzero and nonzero(needs, **params)) or [True] * len(out)
            for o, nz in zip(out, nonzero):
                if nz and _is_inexact(o):
                    i = tape.new_id()
                    out_ids.append(i)
                    results.append(ReverseTracer(self, o, i))
                else:
                    out_ids.append(None)
                    results.append(o)
            tape.entries.append((ids, out_ids, backward, True))
            return results
        if not _is_inexact(out):
            return out
        i = tape.new_id()
        tape.entries.append((ids, (i,), backward, False))
        return ReverseTracer(self, out, i)


def backward_pass(tape, out_ids, out_cts, wanted_ids):
    """Propagate cotangents from outputs back through the tape; return those of `wanted_ids`."""
    cts = {}
    for i, ct in zip(out_ids, out_cts):
        if i is not None and ct is not None:
            cts[i] = add(cts[i], ct) if i in cts else ct
    for in_ids, out_ids_e, backward, multiple in reversed(tape.entries):
        if multiple:
            outs = [None if i is None else cts.pop(i, None) for i in out_ids_e]
            if all(c is None for c in outs):
                continue
            in_cts = backward(outs)
        else:
            c = cts.pop(out_ids_e[0], None)
            if c is None:
                continue
            in_cts = backward(c)
        for i, c in zip(in_ids, in_cts):
            if i is not None and c is not None:
                cts[i] = add(cts[i], c) if i in cts else c
    return [cts.get(i) for i in wanted_ids]


def vjp_flat(fun, primals, *, name="vjp"):
    """Reverse mode on flat lists: `(outputs, vjp_fn)` with `vjp_fn(out_cts) -> in_cts`.

    Integer and boolean inputs are not traced; their cotangents are None.
    """
    tape = Tape()
    with new_main(ReverseTrace, tape, name) as main:
        trace = main.trace
        ins, in_ids = [], []
        for p in primals:
            if _is_inexact(p):
                i = tape.new_id()
                ins.append(ReverseTracer(trace, p, i))
                in_ids.append(i)
            else:
                ins.append(p)
                in_ids.append(None)
        outs = fun(*ins)
        out_primals, out_ids = [], []
        for o in outs:
            if type(o) is ReverseTracer and o._trace is trace:
                out_primals.append(o.primal)
                out_ids.append(o.id)
            else:
                out_primals.append(o)
                out_ids.append(None)
    live_ids = [i for i in in_ids if i is not None]

    def vjp_fn(out_cts):
        got = backward_pass(tape, out_ids, out_cts, live_ids)
        it = iter(got)
        return [None if i is None else next(it) for i in in_ids]
    return out_primals, vjp_fn


def transposed_jvp(prim, primals, needs, params):
    """`prim`'s reverse rule as the transpose of its forward rule, which is linear in the
    tangents: reverse mode over the tangent map (at zero tangents) transposes it."""
    out = prim.bind(*primals, **params)
    diff = [i for i, w in enumerate(wanted(needs, primals)) if w]
    outs = out if prim.multiple_results else [out]

    def backward(cts):
        _, pullback = vjp_flat(jvp_tangent_map(prim, primals, diff, params),
                               [zeros_like_aval(primals[i]) for i in diff])
        cts = cts if prim.multiple_results else [cts]
        got = iter(pullback([instantiate(c, o) for c, o in zip(cts, outs)]))
        return [next(got) if i in diff else None for i in range(len(primals))]
    return out, backward


# =================================================================== jaxprs
def inexact_aval(aval):
    """Whether values of `aval` carry derivatives (inexact arrays; never opaque values)."""
    return not isinstance(aval, OpaqueAval) and dtypes.is_inexact(aval.dtype)


def dependent_outputs(closed, flags):
    """Which outputs of `closed` (a ClosedJaxpr or Jaxpr) depend on the inputs flagged, through
    inexact values: a data-flow reading of the jaxpr, where a primitive with a
    `nonzero_outputs` rule answers for itself (a loop for its carries) and one without
    derivatives (`def_nondiff`) has none. It may call an output dependent whose tangent a
    rule makes zero, never the reverse; unlike `jvp_jaxpr`, it runs no rule's derivative."""
    jaxpr = closed.jaxpr if isinstance(closed, ClosedJaxpr) else closed
    dep = {v: bool(f) for v, f in zip(jaxpr.invars, flags)}
    for eqn in jaxpr.eqns:
        ins = [dep.get(v, False) if type(v) is not Literal else False for v in eqn.invars]
        rule = eqn.primitive.nonzero_outputs
        if not any(ins) or getattr(eqn.primitive.jvp, "no_tangents", False):
            outs = [False] * len(eqn.outvars)
        elif rule is not None:
            outs = rule(ins, **eqn.params) or [True] * len(eqn.outvars)
        else:
            outs = [True] * len(eqn.outvars)
        for v, o in zip(eqn.outvars, outs):
            dep[v] = bool(o) and dtypes.is_inexact(v.aval.dtype)
    return [dep.get(v, False) if type(v) is not Literal else False for v in jaxpr.outvars]


def jvp_jaxpr(closed, nonzeros, instantiate_outs):
    """The forward-mode jaxpr of `closed`: inputs `primals + tangents[nonzeros]`, outputs
    `outs + tangents[out_nonzeros]`. An output tangent is present where it is nonzero or
    `instantiate_outs` asks (a bool, or one per output; inexact outputs only). Returns
    `(jaxpr, out_nonzeros)`; cached."""
    in_avals, out_avals = closed.in_avals, closed.out_avals
    nonzeros = tuple(bool(z) and inexact_aval(a) for z, a in zip(nonzeros, in_avals))
    inst = instantiate_outs
    inst = (inst,) * len(out_avals) if isinstance(inst, bool) else inst
    inst = tuple(bool(i) and inexact_aval(a) for i, a in zip(inst, out_avals))

    def build():
        box = {}

        def f(*args):
            n = len(in_avals)
            t_iter = iter(args[n:])
            tans = [next(t_iter) if z else None for z in nonzeros]
            outs, out_t = jvp_flat(
                lambda *xs: eval_jaxpr(closed.jaxpr, closed.consts, *xs), list(args[:n]), tans)
            box["nz"] = [t is not None or i for t, i in zip(out_t, inst)]
            return list(outs) + [instantiate(t, o) for t, o, z in
                                 zip(out_t, outs, box["nz"]) if z]
        t_avals = [a for a, z in zip(in_avals, nonzeros) if z]
        return trace_closed(f, list(in_avals) + t_avals, "jvp"), box["nz"]
    return derived(closed, ("jvp_jaxpr", nonzeros, inst), build)


class VJPSplit:
    """A jaxpr split for reverse mode of the inputs flagged in `diff`: a forward jaxpr
    (inputs -> outputs, the input cotangents known without the output cotangents, residuals)
    and a backward jaxpr (residuals, output cotangents -> the other input cotangents). Get
    one with `vjp_split` (cached on the jaxpr)."""

    def __init__(self, closed, diff):
        in_avals = closed.in_avals
        out_avals = closed.out_avals
        self.out_inexact = [dtypes.is_inexact(a.dtype) for a in out_avals]
        self.diff = diff
        n_in = len(in_avals)
        ct_avals = [a for a, inx in zip(out_avals, self.out_inexact) if inx]

        def joint(*args):
            primals, cts = list(args[:n_in]), list(args[n_in:])
            diff_idx = [i for i, d in enumerate(diff) if d]

            def f(*dp):
                full = list(primals)
                for i, v in zip(diff_idx, dp):
                    full[i] = v
                return eval_jaxpr(closed.jaxpr, closed.consts, *full)
            outs, vjp_fn = vjp_flat(f, [primals[i] for i in diff_idx], name="vjp")
            ct_iter = iter(cts)
            out_cts = [next(ct_iter) if inx else None for inx in self.out_inexact]
            in_cts = vjp_fn(out_cts)
            return list(outs) + [instantiate(c, primals[i]) for c, i in zip(in_cts, diff_idx)]

        joint_closed = trace_closed(joint, list(in_avals) + ct_avals, "vjp")
        open_j, consts = closed_to_open(joint_closed)
        nc = len(consts)
        unknowns = [False] * (nc + n_in) + [True] * len(ct_avals)
        known, unknown, out_unk, n_res = partial_eval_jaxpr(open_j, unknowns)
        n_out = len(out_avals)
        assert not any(out_unk[:n_out]), "primal outputs cannot depend on cotangents"
        self.ct_unknown = out_unk[n_out:]      # which input cotangents the backward pass computes
        fwd = Jaxpr(known.invars[:nc], known.invars[nc:], known.outvars, known.eqns)
        self.fwd = ClosedJaxpr(fwd, consts)
        self.bwd = ClosedJaxpr(unknown, [])
        self.n_out = n_out
        self.n_known_cts = sum(1 for u in self.ct_unknown if not u)
        self.n_res = n_res


def vjp_split(closed, diff):
    """The `VJPSplit` of `closed` for the inputs flagged in `diff` (a tuple), cached on it."""
    return derived(closed, ("vjp", diff), lambda: VJPSplit(closed, diff))
