"""The rules of call primitives: primitives that evaluate a jaxpr they carry (jit's call,
checkpoint) and whose transforms recurse into that jaxpr, cached on it. A call primitive's
params are its `callee` jaxpr (param `jaxpr`), a `name`, and whatever else it passes along.

- forward mode binds the primitive on the jvp of the jaxpr;
- reverse mode splits the jaxpr (`ad.vjp_split`) into a forward call that also returns the
  residuals and a backward call from the residuals and output cotangents, so a staged
  function is differentiated as staged (never retraced);
- batching binds it on the batched jaxpr;
- dead code: it computes only the outputs used.
"""
from __future__ import annotations

from ..core import eval_jaxpr_on_raw
from ..primitives._util import moveaxis_to_front, wanted
from . import ad, batching
from .partial_eval import dce_closed


def call_jvp(prim):
    """Forward-mode rule for a call primitive: call the jvp of its jaxpr (cached on it); the
    outputs that do not depend on the inputs with tangents get none."""
    def rule(primals, tangents, jaxpr, name, **params):
        nonzero = tuple(t is not None for t in tangents)
        jvp_jaxpr, out_nz = ad.jvp_jaxpr(jaxpr, nonzero, False)
        given = [t for t, a in zip(tangents, jaxpr.in_avals)
                 if t is not None and ad.inexact_aval(a)]
        res = prim.bind(*primals, *given, jaxpr=jvp_jaxpr, name=f"jvp_{name}", **params)
        n = len(jaxpr.out_avals)
        outs, t_iter = res[:n], iter(res[n:])
        return outs, [next(t_iter) if nz else None for nz in out_nz]
    return rule


def nonzero_outputs(needs, jaxpr, **_):
    """Which outputs of a call of `jaxpr` depend on the inputs flagged in `needs`."""
    return ad.dependent_outputs(jaxpr, needs)


def call_vjp(prim):
    """Reverse-mode rule for a call primitive: a forward call saving residuals, and a
    backward call using them."""
    def rule(primals, needs, jaxpr, name, **params):
        diff = tuple(wanted(needs, primals))
        split = ad.vjp_split(jaxpr, diff)
        res = prim.bind(*primals, jaxpr=split.fwd, name=f"{name}_fwd", **params)
        outs = res[:split.n_out]
        known_cts = res[split.n_out:split.n_out + split.n_known_cts]
        residuals = res[split.n_out + split.n_known_cts:]

        def backward(cts):
            given = [ad.instantiate(c, o) for c, o, inx in zip(cts, outs, split.out_inexact)
                     if inx]
            unknown_cts = prim.bind(*residuals, *given, jaxpr=split.bwd, name=f"{name}_bwd",
                                    **params) if split.bwd.jaxpr.outvars else []
            k_iter, u_iter = iter(known_cts), iter(unknown_cts)
            diff_cts = [next(u_iter) if u else next(k_iter) for u in split.ct_unknown]
            d_iter = iter(diff_cts)
            return [next(d_iter) if d else None for d in diff]
        return outs, backward
    return rule


def call_batch(prim):
    """vmap rule for a call primitive: call the batched jaxpr (cached per batched inputs and
    axis, so that collectives inside see the axis name)."""
    @batching.needs_axis
    def rule(axis, vals, dims, jaxpr, name, **params):
        vals = [v if d is None else moveaxis_to_front(v, d) for v, d in zip(vals, dims)]
        batched = [d is not None for d in dims]
        in_avals = [batching.batched_aval(a, axis.size, v) if b else a
                    for a, b, v in zip(jaxpr.in_avals, batched, vals)]
        closed, out_batched = batching.batch_jaxpr(jaxpr, axis, batched, in_avals=in_avals)
        outs = prim.bind(*vals, jaxpr=closed, name=f"vmap_{name}", **params)
        return outs, [0 if b else None for b in out_batched]
    return rule


def dce_call(used_outputs, eqn):
    """A call computing only its used outputs, from the inputs they need."""
    jaxpr, used_inputs = dce_closed(eqn.params["jaxpr"], used_outputs)
    return eqn.replace(invars=[v for v, u in zip(eqn.invars, used_inputs) if u],
                       outvars=[v for v, u in zip(eqn.outvars, used_outputs) if u],
                       params={**eqn.params, "jaxpr": jaxpr})


def evaluates_jaxpr(prim):
    """Make `prim` (param `jaxpr`, a ClosedJaxpr, besides its own) run and type as that jaxpr,
    the compiler inlining it early; its derivative and batching rules stay its own."""
    prim.impl = lambda xp, *raws, jaxpr, **_: eval_jaxpr_on_raw(jaxpr.jaxpr, jaxpr.consts, raws)
    prim.abstract_eval = lambda *avals, jaxpr, **_: [a.strip_weak() for a in jaxpr.out_avals]
    prim.callee, prim.inline = "jaxpr", "early"
    return prim


def define_call(prim, inline):
    """Give `prim` (params `jaxpr`, `name`, ...) the rules of a call primitive; the compiler
    inlines it `inline` ("early" or "late", see `core.Primitive`)."""
    prim.abstract_eval = lambda *avals, jaxpr, **_: [a.strip_weak() for a in jaxpr.out_avals]
    prim.jvp, prim.vjp, prim.batch = call_jvp(prim), call_vjp(prim), call_batch(prim)
    prim.nonzero_outputs = nonzero_outputs
    prim.dce_rule = dce_call
    prim.callee, prim.inline = "jaxpr", inline
    return prim
