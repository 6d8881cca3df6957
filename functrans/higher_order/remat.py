"""`ft.checkpoint` (rematerialization): save only a function's inputs for the backward pass
(or, with a policy, the intermediates it allows) and recompute the rest there, trading
compute for memory.

Under reverse mode a checkpointed call becomes two equations: the forward one (the function,
plus the intermediates the policy saves) and the backward one, which takes the cotangents and
recomputes what was not saved before pulling back. Because the backward equation depends on
the cotangents, splitting a jitted function into forward and backward passes (grad of jit)
keeps the recomputation in the backward pass.
"""
from __future__ import annotations

import functools
import inspect
import types
from typing import NamedTuple

import numpy as np

from .. import dtypes
from ..core import AxisPrimitive, abstractify, eval_jaxpr_on_raw
from ..jaxpr import ClosedJaxpr, Jaxpr, Var
from ..interpreters import ad
from ..interpreters.calls import define_call
from ..interpreters.partial_eval import trace_to_jaxpr, dce_jaxpr, derived
from ..primitives._util import primitive, wanted
from ..tree_util import tree_flatten, tree_unflatten

__all__ = ["checkpoint", "remat", "checkpoint_name", "checkpoint_policies", "Offloadable",
           "Recompute", "Saveable"]


class _Removed:
    def __repr__(self):
        return "Deprecated"


_REMOVED = _Removed()        # the default of JAX's removed `concrete`

# inlined late by the compiler, so that the recomputation is never merged with the original
checkpoint_p = define_call(AxisPrimitive("checkpoint", multiple_results=True), inline="late")
checkpoint_p.impl = lambda xp, *args, jaxpr, name, policy, refs=None: eval_jaxpr_on_raw(
    jaxpr.jaxpr, jaxpr.consts, args)
_call_jvp = checkpoint_p.jvp
# (the jvp's equation takes tangents after the refs' values: it reruns nothing)
checkpoint_p.jvp = lambda primals, tangents, refs=None, **params: _call_jvp(
    primals, tangents, **params)


def _checkpoint_vjp(primals, needs, jaxpr, name, policy, refs=None):
    diff = tuple(wanted(needs, primals))
    n_refs, n_written = (len(refs.refs), refs.n_written) if refs else (0, 0)
    fwd, bwd, ct_unknown, rerun = derived(
        jaxpr, ("remat", diff, policy, n_refs, n_written),
        lambda: _remat_split(jaxpr, diff, policy, n_refs, n_written))
    n_out = len(jaxpr.out_avals)
    res = checkpoint_p.bind(*primals, jaxpr=fwd, name=name, policy=policy)
    outs, saved = res[:n_out], res[n_out:]
    inexact = [dtypes.is_inexact(a.dtype) for a in jaxpr.out_avals]

    def backward(cts):
        given = [ad.instantiate(c, o) for c, o, inx in zip(cts, outs, inexact) if inx]
        now = refs.now() if rerun else None
        args = primals if now is None else list(primals[:len(primals) - n_refs]) + now
        got = checkpoint_p.bind(*args, *saved, *given, jaxpr=bwd, name=f"{name}_bwd",
                                policy=policy)
        if rerun:
            if now is not None:
                refs.write_back(got[len(got) - n_written:])
            got = got[:len(got) - n_written]
        got = iter(got)
        diff_cts = iter(next(got) if u else None for u in ct_unknown)
        return [next(diff_cts) if d else None for d in diff]
    return outs, backward


checkpoint_p.vjp = _checkpoint_vjp


def _remat_split(jaxpr, diff, policy, n_refs=0, n_written=0):
    """The forward jaxpr `primals -> outputs + saved` and the backward jaxpr `primals + saved
    + output cotangents -> cotangents of the diff inputs` (those that are not zero; see the
    returned flags). A residual of reverse mode is saved when `policy` allows it for the
    equation that makes it, else recomputed in the backward jaxpr from the primals and the
    saved values.

    The last `n_refs` inputs are the values of outer refs and the last `n_written` outputs
    the final values of those written: when anything is recomputed, the backward jaxpr also
    recomputes those final values (returned after the cotangents; the last flag says so), as
    JAX's recomputation writes the refs again."""
    split = ad.vjp_split(jaxpr, diff)
    fj = split.fwd.jaxpr
    n_out, n_known = split.n_out, split.n_known_cts
    res_vars = fj.outvars[n_out + n_known:]
    producer = {v: e for e in fj.eqns for v in e.outvars}
    available = set(fj.invars) | set(fj.constvars)

    def saveable(v):
        e = producer[v]
        return policy is not None and _saves(policy(e.primitive, *[x.aval for x in e.invars],
                                                    **e.params))
    saved, need = [], set()

    def want(v, forced=False):
        if type(v) is not Var or v in available or v in need or v in saved:
            return
        if saveable(v) and not forced:
            saved.append(v)
        else:
            need.add(v)

    def recomputed():
        eqns = []
        for eqn in reversed(fj.eqns):
            if any(v in need for v in eqn.outvars):
                eqns.append(eqn)
                for v in eqn.invars:
                    want(v)
        return eqns[::-1]
    for r in res_vars:
        want(r)
    recompute = recomputed()
    finals = fj.outvars[n_out - n_written:n_out] if recompute and n_written else []
    if finals:
        for v in finals:
            want(v, forced=True)
        recompute = recomputed()
    fwd, _ = dce_jaxpr(Jaxpr(fj.constvars, fj.invars, fj.outvars[:n_out] + saved, fj.eqns))
    bj = split.bwd.jaxpr
    n_res = len(res_vars)
    sub = dict(zip(bj.invars[:n_res], res_vars))

    def s(v):
        return sub.get(v, v) if type(v) is Var else v
    bwd_eqns = [e.replace(invars=[s(v) for v in e.invars]) for e in bj.eqns]
    bwd = Jaxpr(fj.constvars, list(fj.invars) + saved + bj.invars[n_res:],
                [s(v) for v in bj.outvars] + finals, recompute + bwd_eqns)
    bwd, _ = dce_jaxpr(bwd)
    return (ClosedJaxpr(fwd, split.fwd.consts), ClosedJaxpr(_renamed(bwd), split.fwd.consts),
            split.ct_unknown, bool(n_refs) and (bool(finals) or bool(recompute)))


def _renamed(jaxpr):
    """`jaxpr` with variables of its own (the backward jaxpr is built from the forward one's
    equations; two jaxprs never share variables)."""
    new = {}

    def r(v):
        if type(v) is not Var:
            return v
        if v not in new:
            new[v] = Var(v.aval)
        return new[v]
    return Jaxpr([r(v) for v in jaxpr.constvars], [r(v) for v in jaxpr.invars],
                 [r(v) for v in jaxpr.outvars],
                 [e.replace(invars=[r(v) for v in e.invars], outvars=[r(v) for v in e.outvars])
                  for e in jaxpr.eqns])


def checkpoint(fun, *, prevent_cse=True, policy=None, static_argnums=(), static_argnames=(),
               concrete=_REMOVED):
    """`fun`, but under reverse mode its intermediates are recomputed in the backward pass
    instead of being stored. By default only the inputs are kept; `policy(prim, *avals,
    **params)` says which intermediates may be saved instead, answering a bool or
    `Saveable`, `Recompute` or `Offloadable(src, dst)` (saved; see `ft.checkpoint_policies`).
    Also available as `ft.remat`. Arguments named by `static_argnums` / `static_argnames` are
    passed as Python values, not traced.

    `prevent_cse` is accepted for JAX compatibility: the recomputation is a separate
    equation, never merged with the forward pass. JAX's removed `concrete` raises, as there."""
    if concrete is not _REMOVED:
        raise NotImplementedError("checkpoint: the `concrete` option was removed from JAX "
                                  "(v0.10.0); mark the arguments that must stay Python values "
                                  "with static_argnums or static_argnames instead")
    static_argnums = (static_argnums,) if isinstance(static_argnums, int) else \
        tuple(static_argnums)
    static_argnames = {static_argnames} if isinstance(static_argnames, str) else \
        set(static_argnames)
    named = positions_named(fun, static_argnames)

    @functools.wraps(fun)
    def remat_f(*args, **kwargs):
        static = _static_positions(static_argnums, len(args)) | \
            {i for i in named if i < len(args)}
        dyn = [a for i, a in enumerate(args) if i not in static]
        static_kwargs = {k: v for k, v in kwargs.items() if k in static_argnames}
        kwargs = {k: v for k, v in kwargs.items() if k not in static_argnames}
        leaves, treedef = tree_flatten((dyn, kwargs))
        box = {}

        def flat_fun(*flat):
            dyn_args, dyn_kwargs = tree_unflatten(treedef, flat)
            it = iter(dyn_args)
            full = [a if i in static else next(it) for i, a in enumerate(args)]
            outs, box["tree"] = tree_flatten(fun(*full, **dyn_kwargs, **static_kwargs))
            return outs
        name = f"checkpoint({getattr(fun, '__name__', 'f')})"
        avals = [abstractify(x) for x in leaves]
        states = []
        closed, hoisted = trace_to_jaxpr(flat_fun, avals, name=name, states=states)
        # outer refs: their values are extra inputs and the written ones' extra outputs; the
        # backward pass reads and writes them again when it recomputes (as JAX)
        passed = type(states[0]).passed(states, name) if states else None
        extra = {}
        if passed:
            def with_refs(*flat):
                outs, values = passed.call(flat_fun, flat[:len(leaves)],
                                           list(flat[len(leaves):]))
                return outs + values
            closed, hoisted = trace_to_jaxpr(
                with_refs, avals + [abstractify(v) for v in passed.initial], name=name)
            leaves += passed.initial
            extra["refs"] = passed.live()
        outs = checkpoint_p.bind(*hoisted, *leaves, jaxpr=closed,
                                 name=getattr(fun, "__name__", "checkpoint"), policy=policy,
                                 **extra)
        if passed:
            n = box["tree"].num_leaves
            passed.write_back(outs[n:])
            outs = outs[:n]
        return tree_unflatten(box["tree"], outs)
    return remat_f


def positions_named(fun, names):
    """The positions of `fun`'s positional parameters called `names`."""
    if not names:
        return set()
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        return set()
    return {i for i, p in enumerate(params) if p.name in names and
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)}


def _static_positions(static_argnums, nargs):
    """`static_argnums` as positions of the `nargs` positional arguments (keyword arguments
    are never static, as in JAX)."""
    for i in static_argnums:
        if not -nargs <= i < nargs:
            raise ValueError(f"checkpoint: static_argnums={static_argnums} names positional "
                             f"argument {i}, but the function was called with {nargs}")
    return {i % nargs for i in static_argnums}


remat = checkpoint


# =================================================================== names and policies
class Offloadable(NamedTuple):
    """A policy's answer: save the value in memory `dst` (moved there from `src`). On one
    host memory space functrans simply saves it."""
    src: str
    dst: str


class RecomputeType:
    def __repr__(self):
        return "Recompute"


class SaveableType:
    def __repr__(self):
        return "Saveable"


Recompute = RecomputeType()     # a policy's answer: recompute the value in the backward pass
Saveable = SaveableType()       # a policy's answer: save the value for the backward pass


def _saves(answer):
    """Whether a policy's answer (a bool, `Saveable`, `Recompute` or `Offloadable(...)`) saves
    the value."""
    if answer is Saveable or isinstance(answer, Offloadable):
        return True
    if answer is Recompute:
        return False
    if isinstance(answer, (bool, np.bool_)):
        return bool(answer)
    raise TypeError("checkpoint: a policy must return a bool or ft.ad_checkpoint.Recompute, "
                    f"Saveable or Offloadable(src, dst), got {answer!r} of type "
                    f"{type(answer).__name__}")


name_p = primitive("name", lambda xp, x, name: x, lambda x, name: x)
name_p.jvp = lambda primals, tangents, name: (name_p.bind(primals[0], name=name), tangents[0])
name_p.vjp = lambda primals, needs, name: (name_p.bind(primals[0], name=name),
                                           lambda ct: (ct,))
name_p.batch = lambda vals, dims, name: (name_p.bind(vals[0], name=name), dims[0])
name_p.lowering = lambda ctx, eqn, ins, outs, indent: ctx.emit(f"{outs[0]} = {ins[0]}", indent)


def checkpoint_name(x, name):
    """`x`, labelled `name` for checkpoint policies (`save_only_these_names`, …)."""
    return name_p.bind(x, name=name)


def _dot(prim):
    return prim.name == "dot_general"      # convolutions too: they are products of patches


def _save_only_these_names(*names):
    return lambda prim, *_, **params: prim is name_p and params["name"] in names


def _save_any_names_but_these(*names):
    return lambda prim, *_, **params: prim is name_p and params["name"] not in names


def _save_anything_except_these_names(*names):
    return lambda prim, *_, **params: not (prim is name_p and params["name"] in names)


def _save_from_both_policies(policy_1, policy_2):
    def policy(*args, **params):
        a, b = policy_1(*args, **params), policy_2(*args, **params)
        if not isinstance(a, (bool, np.bool_)) or not isinstance(b, (bool, np.bool_)):
            raise ValueError("save_from_both_policies: both policies must return bools, got "
                             f"{a!r} and {b!r}; write a policy that combines them instead")
        return bool(a or b)
    return policy


def _dots_saveable(prim, *_, **__):
    return _dot(prim)


def _dots_with_no_batch_dims_saveable(prim, *_, **params):
    return _dot(prim) and not any(params.get("dimension_numbers", ((), ((), ())))[1])


def _offload_dot_with_no_batch_dims(offload_src, offload_dst):
    """(One host: what JAX would offload to host memory is simply saved.)"""
    def policy(prim, *avals, **params):
        if _dots_with_no_batch_dims_saveable(prim, *avals, **params):
            return Offloadable(offload_src, offload_dst)
        return Recompute
    return policy


def _save_and_offload_only_these_names(*, names_which_can_be_saved,
                                       names_which_can_be_offloaded, offload_src, offload_dst):
    saved, offloaded = set(names_which_can_be_saved), set(names_which_can_be_offloaded)
    if saved & offloaded:
        raise ValueError("save_and_offload_only_these_names: the names "
                         f"{sorted(saved & offloaded)} are both saved and offloaded; give each "
                         "name to one of names_which_can_be_saved, names_which_can_be_offloaded")

    def policy(prim, *_, **params):
        if prim is name_p and params["name"] in saved:
            return Saveable
        if prim is name_p and params["name"] in offloaded:
            return Offloadable(offload_src, offload_dst)
        return Recompute
    return policy


checkpoint_policies = types.SimpleNamespace(
    everything_saveable=lambda prim, *_, **__: True,
    nothing_saveable=lambda prim, *_, **__: False,
    dots_saveable=_dots_saveable,
    checkpoint_dots=_dots_saveable,
    dots_with_no_batch_dims_saveable=_dots_with_no_batch_dims_saveable,
    checkpoint_dots_with_no_batch_dims=_dots_with_no_batch_dims_saveable,
    save_only_these_names=_save_only_these_names,
    save_any_names_but_these=_save_any_names_but_these,
    save_anything_except_these_names=_save_anything_except_these_names,
    save_from_both_policies=_save_from_both_policies,
    offload_dot_with_no_batch_dims=_offload_dot_with_no_batch_dims,
    save_and_offload_only_these_names=_save_and_offload_only_these_names,
)
checkpoint_policies.__doc__ = """Policies for `ft.checkpoint(f, policy=...)`: which
intermediates the forward pass may save (the others are recomputed in the backward pass)."""
