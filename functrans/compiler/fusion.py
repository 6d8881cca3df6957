"""Elementwise fusion: chains of elementwise equations become one `fused` equation.

A group is a set of elementwise equations of one output shape whose intermediate results are
used only inside the group (each by exactly one equation), ending in one root whose result
leaves the group. The group becomes a `fused` equation carrying the small jaxpr of its
members, placed where the root was. How a backend runs it is its own business: the NumPy
code generator writes it as a chain of ufunc calls computing in place into one buffer
(`codegen.py`); a CuPy backend can write it as a single ElementwiseKernel.
"""
from __future__ import annotations

from ..core import Primitive, eval_jaxpr_on_raw
from ..jaxpr import Jaxpr, JaxprEqn, Var
from ..primitives.reductions import reduce_sum_p, reduce_max_p, reduce_min_p

fused_p = Primitive("fused", multiple_results=True)


fused_p.impl = lambda xp, *args, jaxpr: eval_jaxpr_on_raw(jaxpr, [], args)
fused_p.abstract_eval = lambda *avals, jaxpr: jaxpr.out_avals


def is_elementwise(eqn):
    p = eqn.primitive
    return (p.elementwise and not p.multiple_results and not p.effectful
            and p.lowering is None and len(eqn.outvars) == 1
            and hasattr(eqn.outvars[0].aval, "shape") and not eqn.params.get("jaxpr"))


def readers(jaxpr: Jaxpr):
    """Each variable's readers: the indices of the equations reading it, and None for each
    time it is an output of `jaxpr` (which must be materialized)."""
    uses = {}
    for i, eqn in enumerate(jaxpr.eqns):
        for v in eqn.invars:
            if type(v) is Var:
                uses.setdefault(v, []).append(i)
    for v in jaxpr.outvars:
        if type(v) is Var:
            uses.setdefault(v, []).append(None)
    return uses


def fuse(jaxpr: Jaxpr) -> Jaxpr:
    """`jaxpr` with its elementwise chains grouped into `fused` equations."""
    eqns = jaxpr.eqns
    uses = readers(jaxpr)
    group_of = {}                                    # eqn index -> root index
    members = {}                                     # root index -> member indices
    for i in reversed(range(len(eqns))):
        eqn = eqns[i]
        if not is_elementwise(eqn):
            continue
        out = eqn.outvars[0]
        users = uses.get(out, [])
        root = group_of.get(users[0]) if len(users) == 1 and users[0] is not None else None
        if root is not None and eqns[root].outvars[0].aval.shape == out.aval.shape:
            group_of[i] = root
            members[root].append(i)
        else:
            group_of[i] = i
            members[i] = [i]
    new_eqns = []
    for i, eqn in enumerate(eqns):
        root = group_of.get(i)
        if root is None or len(members[root]) == 1:
            new_eqns.append(eqn)
        elif root == i:
            new_eqns.append(_fused_eqn([eqns[j] for j in sorted(members[root])]))
    return Jaxpr(jaxpr.constvars, jaxpr.invars, jaxpr.outvars, new_eqns)


def fuse_reductions(jaxpr: Jaxpr, reductions=(reduce_sum_p, reduce_max_p, reduce_min_p)):
    """`jaxpr` with each reduction whose operand is computed by an elementwise chain (a
    `fused` group or one elementwise equation) used by nothing else folded into that chain:
    the chain becomes a `fused` group ending in the reduction, for backends that run such a
    group as one kernel."""
    eqns = list(jaxpr.eqns)
    uses = {}
    for eqn in eqns:
        for v in eqn.invars:
            if type(v) is Var:
                uses[v] = uses.get(v, 0) + 1
    for v in jaxpr.outvars:
        if type(v) is Var:
            uses[v] = uses.get(v, 0) + 1
    producer = {v: i for i, eqn in enumerate(eqns) for v in eqn.outvars}
    for i, eqn in enumerate(eqns):
        if eqn.primitive not in reductions or type(eqn.invars[0]) is not Var:
            continue
        v = eqn.invars[0]
        j = producer.get(v)
        if j is None or uses[v] != 1 or eqns[j] is None:
            continue
        chain = _members(eqns[j])
        if chain is None:
            continue
        eqns[i] = _fused_eqn(chain + [eqn])
        eqns[j] = None
    return Jaxpr(jaxpr.constvars, jaxpr.invars, jaxpr.outvars, [e for e in eqns if e is not None])


def _members(eqn):
    """The elementwise equations `eqn` stands for (reading the outer variables), or None."""
    if eqn.primitive is fused_p:
        body = eqn.params["jaxpr"]
        if not all(is_elementwise(e) for e in body.eqns):
            return None
        outer = dict(zip(body.invars, eqn.invars))
        return [e.replace(invars=[outer.get(v, v) if type(v) is Var else v for v in e.invars])
                for e in body.eqns]
    return [eqn] if is_elementwise(eqn) else None


def _fused_eqn(group):
    """One `fused` equation computing the last of `group` from the values the group reads."""
    defined = {v for e in group for v in e.outvars}
    outer, inner = [], {}
    for e in group:
        for v in e.invars:
            if type(v) is Var and v not in defined and v not in inner:
                inner[v] = Var(v.aval)
                outer.append(v)
    sub_eqns = [e.replace(invars=[inner.get(v, v) if type(v) is Var else v for v in e.invars])
                for e in group]
    root_out = group[-1].outvars
    body = Jaxpr([], [inner[v] for v in outer], root_out, sub_eqns)
    return JaxprEqn(fused_p, outer, {"jaxpr": body}, list(root_out), group[-1].source_info)
