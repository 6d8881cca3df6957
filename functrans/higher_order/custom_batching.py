"""User-defined batching: `custom_vmap` (a function with its own vmap rule) and
`sequential_vmap` (one whose vmap runs it lane by lane in a loop), as JAX's
`jax.custom_batching`.

A call binds `custom_vmap_call_p`, carrying the function traced for the call's signature
(`body`, what runs outside vmap and what jit compiles, inlined) and the rule. vmap calls the
rule instead of batching the body; nested vmaps batch the rule's own operations.
Derivatives stay consistent with that: forward mode (as in JAX) and reverse mode (which JAX
refuses) bind the primitive again, on the jvp (or vjp) of the body and with the jvp (or vjp)
of the rule as the rule, so `jvp` or `grad` of a vmapped call differentiate the rule, and of
an unbatched call the function.
"""
from __future__ import annotations

import functools
import inspect

from .. import dtypes
from ..core import (Primitive, Tracer, abstractify, eval_jaxpr, eval_jaxpr_on_raw, get_aval,
                    is_python_scalar)
from ..interpreters import ad
from ..interpreters.batching import needs_axis
from ..interpreters.partial_eval import trace_to_jaxpr, trace_closed, derived
from ..primitives._util import moveaxis_to_front, broadcast_batched, shape_of, wanted
from ..primitives.conversion import asarray
from ..primitives.elementwise import mul
from ..primitives.reductions import reduce_sum
from ..tree_util import tree_flatten, tree_unflatten, tree_map
from .control_flow import map as lax_map
from .custom_derivatives import resolve_args

__all__ = ["custom_vmap", "sequential_vmap"]


# =================================================================== the primitive
custom_vmap_call_p = Primitive("custom_vmap_call", multiple_results=True)
custom_vmap_call_p.impl = lambda xp, *raws, body, rule, name: eval_jaxpr_on_raw(
    body.jaxpr, body.consts, raws)
custom_vmap_call_p.abstract_eval = lambda *avals, body, **_: body.out_avals
custom_vmap_call_p.callee, custom_vmap_call_p.inline = "body", "early"


def _bind(vals, body, rule, name):
    return custom_vmap_call_p.bind(*vals, body=body, rule=rule, name=name)


def _checked(name, outs, flags, out_avals, size):
    """The rule's flat outputs as arrays, each checked against the function's output."""
    got = []
    for i, (o, b, aval) in enumerate(zip(outs, flags, out_avals)):
        o = asarray(o)
        a = get_aval(o)
        want = ((size,) if b else ()) + tuple(aval.shape)
        if tuple(a.shape) != want or a.dtype != aval.dtype:
            raise ValueError(
                f"custom_vmap rule of {name}: output {i} is {a.str_short()} with out_batched "
                f"{b}, but the function's output {i} is {aval.str_short()}, so the rule must "
                f"return {aval.dtype.name}{list(want)} (a batched output has the axis size "
                f"{size} as its leading axis)")
        got.append(o)
    return got


@needs_axis
def _batch(axis, vals, dims, body, rule, name):
    vals = [v if d is None else moveaxis_to_front(v, d) for v, d in zip(vals, dims)]
    outs, flags = rule(axis.size, [d is not None for d in dims], vals)
    outs = _checked(name, outs, flags, body.out_avals, axis.size)
    return outs, [0 if b else None for b in flags]


custom_vmap_call_p.batch = _batch


class _UserRule:
    """The user's rule on flat lists: `(size, in_batched, vals) -> (outs, out_batched)`."""

    def __init__(self, rule, in_tree, out_tree, name):
        self.rule, self.in_tree, self.out_tree, self.name = rule, in_tree, out_tree, name

    def __call__(self, size, batched, vals):
        args = tree_unflatten(self.in_tree, vals)
        in_batched = list(tree_unflatten(self.in_tree, batched))
        got = self.rule(size, in_batched, *args)
        if not isinstance(got, tuple) or len(got) != 2:
            raise TypeError(f"custom_vmap rule of {self.name} must return a pair (outputs, "
                            f"out_batched), got {type(got).__name__}")
        out, out_batched = got
        leaves, tree = tree_flatten(out)
        flags, flag_tree = tree_flatten(out_batched)
        if tree != self.out_tree:
            raise ValueError(f"custom_vmap rule of {self.name} returned outputs of structure "
                             f"{tree}, but the function returns {self.out_tree}")
        if flag_tree != tree or not all(isinstance(b, bool) for b in flags):
            raise ValueError(f"custom_vmap rule of {self.name}: out_batched must be a pytree "
                             f"of bools of the outputs' structure {tree}, got {out_batched!r}")
        return leaves, flags


def _rule_outputs(rule, size, batched, vals):
    """`rule`'s flat outputs as a function of `vals` (for jvp_flat / vjp_flat), and a box that
    receives its out_batched."""
    box = {}

    def f(*xs):
        outs, box["flags"] = rule(size, batched, list(xs))
        return outs
    return f, box


# =================================================================== forward mode
class _JvpRule:
    """The rule of the jvp of a custom_vmap call: the jvp of its rule. Inputs: primals, then
    the nonzero tangents; outputs: outputs, then the tangents of the inexact ones."""

    def __init__(self, rule, nonzeros, out_avals):
        self.rule, self.nonzeros, self.out_avals = rule, nonzeros, out_avals

    def __call__(self, size, batched, vals):
        n = len(self.nonzeros)
        primals, pb = list(vals[:n]), list(batched[:n])
        t_iter = iter(zip(vals[n:], batched[n:]))
        tangents = [None] * n
        for i, z in enumerate(self.nonzeros):
            if z:
                t, tb = next(t_iter)
                if tb != pb[i]:           # a primal and its tangent batched alike
                    primals[i], pb[i] = broadcast_batched(primals[i], None, size, 0), True
                    t = t if tb else broadcast_batched(t, None, size, 0)
                tangents[i] = t
        f, box = _rule_outputs(self.rule, size, pb, primals)
        outs, out_t = ad.jvp_flat(f, primals, tangents)
        flags = list(box["flags"])
        for o, t, aval in zip(outs, out_t, self.out_avals):
            if dtypes.is_inexact(aval.dtype):
                t = ad.instantiate(t, o)
                outs.append(t)
                flags.append(len(shape_of(t)) > len(aval.shape))
        return outs, flags


def _jvp(primals, tangents, body, rule, name):
    nonzeros = tuple(t is not None and dtypes.is_inexact(get_aval(p).dtype)
                     for p, t in zip(primals, tangents))
    jaxpr, _ = ad.jvp_jaxpr(body, nonzeros, True)
    got = _bind(list(primals) + [t for t, z in zip(tangents, nonzeros) if z], jaxpr,
                _JvpRule(rule, nonzeros, body.out_avals), f"jvp_{name}")
    n = len(body.out_avals)
    t_iter = iter(got[n:])
    return got[:n], [next(t_iter) if dtypes.is_inexact(a.dtype) else None
                     for a in body.out_avals]


# =================================================================== reverse mode
def _vjp_body(body, diff):
    """The jaxpr `(primals, cotangents of the inexact outputs) -> cotangents of the inputs
    flagged in diff`, cached on `body`."""
    n = len(body.in_avals)
    inexact = [dtypes.is_inexact(a.dtype) for a in body.out_avals]

    def build():
        def f(*args):
            primals, ct_iter = list(args[:n]), iter(args[n:])
            _, pullback = ad.vjp_flat(lambda *xs: eval_jaxpr(body.jaxpr, body.consts, *xs),
                                      primals)
            cts = pullback([next(ct_iter) if inx else None for inx in inexact])
            return [ad.instantiate(c, p) for c, p, d in zip(cts, primals, diff) if d]
        ct_avals = [a for a, inx in zip(body.out_avals, inexact) if inx]
        return trace_closed(f, list(body.in_avals) + ct_avals, "vjp")
    return derived(body, ("custom_vmap_vjp", diff), build)


class _VjpRule:
    """The rule of the vjp of a custom_vmap call: the vjp of its rule, transposing the whole
    batch as the collectives do: an unbatched output is every lane's (its cotangent sums the
    lanes'), and each lane gets the derivative for its own copy of an unbatched input."""

    def __init__(self, rule, diff, out_avals):
        self.rule, self.diff, self.out_avals = rule, diff, out_avals

    def __call__(self, size, batched, vals):
        n = len(self.diff)
        primals, pb = list(vals[:n]), list(batched[:n])
        for i, d in enumerate(self.diff):
            if d and not pb[i]:         # each lane's derivative for its copy of the input
                primals[i], pb[i] = broadcast_batched(primals[i], None, size, 0), True
        f, box = _rule_outputs(self.rule, size, pb, primals)
        outs, pullback = ad.vjp_flat(f, primals)
        ct_iter = iter(zip(vals[n:], batched[n:]))
        cts = []
        for o, ob, aval in zip(outs, box["flags"], self.out_avals):
            if not dtypes.is_inexact(aval.dtype):
                cts.append(None)
                continue
            c, cb = next(ct_iter)
            if not ob:                  # the output of every lane: the lanes' cotangents sum
                c = reduce_sum(c, (0,)) if cb else mul(c, size)
            elif not cb:
                c = broadcast_batched(c, None, size, 0)
            cts.append(c)
        in_cts = pullback(cts)
        return ([ad.instantiate(c, p) for c, p, d in zip(in_cts, primals, self.diff) if d],
                [True] * sum(self.diff))


def _vjp(primals, needs, body, rule, name):
    outs = _bind(primals, body, rule, name)
    diff = tuple(wanted(needs, primals))

    def backward(cts):
        given = [ad.instantiate(c, o) for c, o, a in zip(cts, outs, body.out_avals)
                 if dtypes.is_inexact(a.dtype)]
        got = iter(_bind(list(primals) + given, _vjp_body(body, diff),
                         _VjpRule(rule, diff, body.out_avals), f"vjp_{name}"))
        return [next(got) if d else None for d in diff]
    return outs, backward


custom_vmap_call_p.jvp, custom_vmap_call_p.vjp = _jvp, _vjp


# =================================================================== the decorators
class custom_vmap:
    """A function with its own vmap rule. Define the rule with `f.def_vmap(rule)`:
    `rule(axis_size, in_batched, *args) -> (out, out_batched)`, where `in_batched` has one
    pytree of bools per argument (which leaves carry the batch, at axis 0), the batched
    leaves of `args` have the batch at axis 0, and `out_batched` is a pytree of bools of
    `out`'s structure. Outside vmap the function itself runs (and jit compiles it)."""

    def __init__(self, fun):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.vmap_rule = None
        # an instance attribute too, so that ft.custom_vjp(custom_vmap(f)) (which copies the
        # wrapped function's attributes) offers .def_vmap, as in JAX
        self.def_vmap = self.def_vmap
        try:
            self._signature = inspect.signature(fun)
        except (TypeError, ValueError):
            self._signature = None

    def def_vmap(self, vmap_rule):
        """Set the vmap rule (see the class); returns it, so this works as a decorator."""
        if not callable(vmap_rule):
            raise TypeError(f"def_vmap: vmap_rule must be callable, got {vmap_rule!r}")
        self.vmap_rule = vmap_rule
        return vmap_rule

    @property
    def _name(self):
        return getattr(self.fun, "__name__", "custom_vmap function")

    def __call__(self, *args, **kwargs):
        name = self._name
        if self.vmap_rule is None:
            raise AttributeError(f"custom_vmap function {name} has no vmap rule; define one "
                                 f"with @{name}.def_vmap")
        args = resolve_args(name, self._signature, args, kwargs, "make them positional")
        leaves, in_tree = tree_flatten(tuple(args))
        if not any(isinstance(x, Tracer) for x in leaves):
            return self.fun(*args)          # no transform: nothing can batch it
        leaves = [x if isinstance(x, Tracer) or is_python_scalar(x) else asarray(x)
                  for x in leaves]
        box = {}

        def flat_fun(*flat):
            out, box["tree"] = tree_flatten(self.fun(*tree_unflatten(in_tree, flat)))
            return out
        body, hoisted = trace_to_jaxpr(flat_fun, [abstractify(x) for x in leaves], name=name)
        if hoisted:
            raise TypeError(f"custom_vmap function {name} closes over a traced value from an "
                            "enclosing transform; pass it as an explicit argument instead")
        outs = _bind(leaves, body, _UserRule(self.vmap_rule, in_tree, box["tree"], name), name)
        return tree_unflatten(box["tree"], outs)


def sequential_vmap(f):
    """`f` as a custom_vmap function whose vmap rule runs `f` on one lane at a time in a loop
    (`lax.map`), for functions that cannot be batched otherwise."""
    fun = custom_vmap(f)

    @fun.def_vmap
    def rule(axis_size, in_batched, *args):
        leaves, tree = tree_flatten(args)
        flags, _ = tree_flatten(list(in_batched))
        lanes = [x for x, b in zip(leaves, flags) if b]

        def one(lane):
            it = iter(lane)
            return f(*tree_unflatten(tree, [next(it) if b else x
                                            for x, b in zip(leaves, flags)]))
        out = lax_map(one, lanes)
        return out, tree_map(lambda _: True, out)
    return fun
