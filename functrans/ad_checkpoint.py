"""`ft.ad_checkpoint`: rematerialization (`checkpoint`, names and policies) and a look at what
reverse mode keeps for the backward pass, as JAX's `jax.ad_checkpoint`.

    >>> ft.ad_checkpoint.print_saved_residuals(lambda x: fnp.sin(fnp.sin(x)), 1.0)
    f32[] output of cos from <stdin>:1 (<lambda>)
    f32[] output of cos from <stdin>:1 (<lambda>)

The residuals are those of the staged function (as `grad` of a `jit`ted function saves them):
functrans splits its jaxpr into a forward pass that returns them and a backward pass that
reads them. Each is described by where it comes from: an argument (with its pytree path), a
constant, or the operation that computes it (looking inside `jit` and `checkpoint` calls);
`checkpoint_name` labels show as `named '...'`.

A policy answers with a bool or with `Saveable`, `Recompute` or `Offloadable(src, dst)` (as
JAX's); with one memory space per device, an offloaded value is saved.
"""
from __future__ import annotations

import builtins

from .api import param_names
from .core import abstractify
from .higher_order.remat import (checkpoint, remat, checkpoint_name, checkpoint_policies, name_p,
                                 Offloadable, Recompute, Saveable)
from .interpreters.ad import inexact_aval, vjp_split
from .interpreters.partial_eval import trace_to_jaxpr
from .jaxpr import ClosedJaxpr, Literal
from .tree_util import keystr, tree_flatten, tree_flatten_with_path, tree_unflatten

__all__ = ["checkpoint", "remat", "checkpoint_name", "checkpoint_policies", "saved_residuals",
           "print_saved_residuals", "Offloadable", "Recompute", "Saveable"]


def saved_residuals(f, *args, **kwargs):
    """The values reverse mode saves on the forward pass of `f(*args, **kwargs)` for the
    backward pass (differentiating every float argument): a list of `(aval, description)`."""
    leaves, in_tree = tree_flatten((args, kwargs))

    def flat_f(*flat):
        a, kw = tree_unflatten(in_tree, list(flat))
        return tree_flatten(f(*a, **kw))[0]
    closed, hoisted = trace_to_jaxpr(flat_f, [abstractify(x) for x in leaves],
                                     name="saved_residuals")
    # values of enclosing transforms the function closes over lead the inputs; they are
    # constants here
    diff = tuple(i >= len(hoisted) and inexact_aval(a) for i, a in enumerate(closed.in_avals))
    split = vjp_split(closed, diff)
    fwd = split.fwd.jaxpr
    names = [None] * len(hoisted) + _argument_names(f, args, kwargs)

    def outer(j):
        return "from a constant" if names[j] is None else f"from the argument {names[j]}"
    made_by = {v: i for i, e in enumerate(fwd.eqns) for v in e.outvars}

    def order(v):          # arguments first, then constants, then in the order computed
        if v in made_by:
            return (2, made_by[v])
        return (0, fwd.invars.index(v)) if v in fwd.invars else (1, 0)
    residuals = sorted(fwd.outvars[split.n_out + split.n_known_cts:], key=order)
    return [(v.aval, _describe(fwd, v, outer)) for v in residuals]


def print_saved_residuals(f, *args, **kwargs):
    """Print the values reverse mode saves for `f(*args, **kwargs)`, one a line: shape and
    dtype, and where each comes from (see `saved_residuals`)."""
    for aval, what in saved_residuals(f, *args, **kwargs):
        builtins.print(f"{aval.str_short()} {what}")


def _argument_names(f, args, kwargs):
    """A name for each leaf of `(args, kwargs)`: the parameter's and the leaf's pytree path."""
    params = param_names(f)
    out = []
    for i, a in enumerate(args):
        base = params[i] if i < len(params) else f"args[{i}]"
        out += [base + keystr(path) for path, _ in tree_flatten_with_path(a)[0]]
    for k, a in sorted(kwargs.items()):        # (args, kwargs) flattens dicts by sorted key
        out += [k + keystr(path) for path, _ in tree_flatten_with_path(a)[0]]
    return out


def _describe(jaxpr, v, outer):
    """Where the value of `v` in `jaxpr` comes from; `outer(j)` describes its input `j`."""
    if type(v) is Literal:
        return "from a literal"
    if v in jaxpr.constvars:
        return "from a constant"
    if v in jaxpr.invars:
        return outer(jaxpr.invars.index(v))
    eqn = next(e for e in jaxpr.eqns if v in e.outvars)
    prim = eqn.primitive
    callee = eqn.params.get(prim.callee) if prim.callee else None
    if isinstance(callee, ClosedJaxpr):       # a call (jit, checkpoint): look inside
        inner = callee.jaxpr.outvars[eqn.outvars.index(v)]
        return _describe(callee.jaxpr, inner,
                         lambda j: _describe(jaxpr, eqn.invars[j], outer))
    what = f"named {eqn.params['name']!r}" if prim is name_p else f"output of {prim.name}"
    return f"{what} from {_where(eqn.source_info)}"


def _where(source):
    if source is None:
        return "an unknown place"
    filename, line, function = source
    return f"{filename}:{line} ({function})"
