"""`ft.checkpoint` (rematerialization): save only a function's inputs for the backward pass
and recompute its intermediates there, trading compute for memory."""
from __future__ import annotations

import functools

from .core import Primitive, eval_jaxpr
from .interpreters import ad
from .interpreters.partial_eval import trace_to_jaxpr
from .jit import call_jvp, call_batch, inline_lowering, _jit_impl
from .lax._util import wanted
from .tree_util import tree_flatten, tree_unflatten

checkpoint_p = Primitive("checkpoint", multiple_results=True)
checkpoint_p.impl = _jit_impl
checkpoint_p.abstract_eval = lambda *avals, jaxpr, name: jaxpr.out_avals
checkpoint_p.jvp = call_jvp(checkpoint_p)
checkpoint_p.batch = call_batch(checkpoint_p)
checkpoint_p.lowering = inline_lowering


def _checkpoint_vjp(primals, needs, jaxpr, name):
    outs = checkpoint_p.bind(*primals, jaxpr=jaxpr, name=name)

    def backward(cts):
        # recompute the forward pass from the saved inputs, then pull back
        diff_idx = [i for i, w in enumerate(wanted(needs, primals)) if w]

        def f(*dp):
            full = list(primals)
            for i, v in zip(diff_idx, dp):
                full[i] = v
            return eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, *full)
        _, pullback = ad.vjp_flat(f, [primals[i] for i in diff_idx], name="checkpoint")
        got = pullback(list(cts))
        result = [None] * len(primals)
        for i, g in zip(diff_idx, got):
            result[i] = g
        return result
    return outs, backward


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
