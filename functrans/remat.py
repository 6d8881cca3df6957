"""`ft.checkpoint` (rematerialization): save only a function's inputs for the backward pass
and recompute its intermediates there, trading compute for memory."""
from __future__ import annotations

import functools

from . import dtypes
from .core import ClosedJaxpr, eval_jaxpr
from .interpreters import ad
from .interpreters.batching import AxisPrimitive
from .interpreters.partial_eval import trace_to_jaxpr, dce_jaxpr
from .jit import call_jvp, call_batch, inline_lowering, _jit_impl, _derived, _trace_closed
from .lax._util import wanted
from .tree_util import tree_flatten, tree_unflatten

checkpoint_p = AxisPrimitive("checkpoint", multiple_results=True)
checkpoint_p.impl = _jit_impl
checkpoint_p.abstract_eval = lambda *avals, jaxpr, name: jaxpr.out_avals
checkpoint_p.jvp = call_jvp(checkpoint_p)
checkpoint_p.batch = call_batch(checkpoint_p)
checkpoint_p.lowering = inline_lowering


def _checkpoint_vjp(primals, needs, jaxpr, name):
    outs = checkpoint_p.bind(*primals, jaxpr=jaxpr, name=name)
    diff = tuple(wanted(needs, primals))
    inexact = [dtypes.is_inexact(a.dtype) for a in jaxpr.out_avals]

    def backward(cts):
        # one equation that takes the cotangents: staged by jit, it stays in the backward
        # pass, where the forward computation is redone from the saved inputs
        given = [ad.instantiate(c, o) for c, o, inx in zip(cts, outs, inexact) if inx]
        bwd = _derived(jaxpr, ("remat_bwd", diff), lambda: _backward_jaxpr(jaxpr, diff))
        got = iter(checkpoint_p.bind(*primals, *given, jaxpr=bwd, name=f"{name}_bwd"))
        return [next(got) if d else None for d in diff]
    return outs, backward


def _backward_jaxpr(jaxpr, diff):
    """`(primals, output cotangents) -> cotangents of the diff inputs`: recompute, pull back."""
    n = len(jaxpr.in_avals)
    inexact = [dtypes.is_inexact(a.dtype) for a in jaxpr.out_avals]
    diff_idx = [i for i, d in enumerate(diff) if d]

    def f(*args):
        primals, cts = list(args[:n]), iter(args[n:])

        def fwd(*dp):
            full = list(primals)
            for i, v in zip(diff_idx, dp):
                full[i] = v
            return eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, *full)
        _, pullback = ad.vjp_flat(fwd, [primals[i] for i in diff_idx], name="checkpoint")
        got = pullback([next(cts) if inx else None for inx in inexact])
        return [ad.instantiate(g, primals[i]) for g, i in zip(got, diff_idx)]
    ct_avals = [a for a, inx in zip(jaxpr.out_avals, inexact) if inx]
    closed = _trace_closed(f, list(jaxpr.in_avals) + ct_avals, "checkpoint_bwd")
    return ClosedJaxpr(dce_jaxpr(closed.jaxpr)[0], closed.consts)


checkpoint_p.vjp = _checkpoint_vjp


def checkpoint(fun, *, prevent_cse=True, policy=None, static_argnums=()):
    """`fun`, but under reverse mode its intermediates are recomputed in the backward pass
    instead of being stored (only the inputs are kept). Also available as `ft.remat`."""
    from .api import _abstractify
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun)
    def remat_f(*args):
        dyn = [a for i, a in enumerate(args) if i not in static]
        leaves, treedef = tree_flatten(dyn)
        box = {}

        def flat_fun(*flat):
            it = iter(tree_unflatten(treedef, flat))
            full = [a if i in static else next(it) for i, a in enumerate(args)]
            outs, box["tree"] = tree_flatten(fun(*full))
            return outs
        closed, hoisted = trace_to_jaxpr(flat_fun, [_abstractify(x) for x in leaves],
                                         name=f"checkpoint({getattr(fun, '__name__', 'f')})")
        outs = checkpoint_p.bind(*hoisted, *leaves, jaxpr=closed,
                                 name=getattr(fun, "__name__", "checkpoint"))
        return tree_unflatten(box["tree"], outs)
    return remat_f


remat = checkpoint
