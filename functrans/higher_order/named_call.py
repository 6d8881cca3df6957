"""`ft.named_call`: a function whose staged form is one call equation carrying its name, so
the name shows in `make_jaxpr` and in `jit(...).lower(...).as_text()`. The compiler inlines
it early; every transform goes through the call primitive's rules. Outside staging (eager
code, eager grad) the function simply runs."""
from __future__ import annotations

import functools

from ..core import Primitive, abstractify, eval_jaxpr_on_raw, staging_main
from ..interpreters.calls import define_call
from ..interpreters.partial_eval import trace_to_jaxpr
from ..tree_util import tree_flatten, tree_unflatten

__all__ = ["named_call"]

named_call_p = define_call(Primitive("named_call", multiple_results=True), inline="early")
named_call_p.impl = lambda xp, *args, jaxpr, name: eval_jaxpr_on_raw(jaxpr.jaxpr, jaxpr.consts,
                                                                     args)


def named_call(fun, *, name=None):
    """`fun`, staged under `name` (default: its `__name__`) as one call equation."""
    name = getattr(fun, "__name__", "named_call") if name is None else str(name)

    @functools.wraps(fun)
    def named(*args, **kwargs):
        if staging_main() is None:
            return fun(*args, **kwargs)
        leaves, in_tree = tree_flatten((args, kwargs))
        box = {}

        def flat_fun(*flat):
            a, kw = tree_unflatten(in_tree, list(flat))
            outs, box["tree"] = tree_flatten(fun(*a, **kw))
            return outs
        closed, hoisted = trace_to_jaxpr(flat_fun, [abstractify(x) for x in leaves],
                                         name=name)
        outs = named_call_p.bind(*hoisted, *leaves, jaxpr=closed, name=name)
        return tree_unflatten(box["tree"], outs)
    return named
