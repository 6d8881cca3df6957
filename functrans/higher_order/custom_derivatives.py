"""User-defined derivatives: `custom_vjp` (forward + backward functions, like PyTorch's
`autograd.Function`) and `custom_jvp` (a forward-mode rule).

Each works under every transform:
- custom_vjp in forward mode uses the transpose of the user's backward function (the
  backward map is linear in the cotangent; its transpose is the forward derivative);
- custom_jvp in reverse mode transposes the user's (linear-in-tangents) JVP rule the same way;
- both are staged by jit with their rules attached, batched by vmap (rules vmapped too), and
  lowered by inlining the primal function.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from ..array import Array
from ..core import (Primitive, ShapedArray, Tracer, abstractify, eval_jaxpr_on_raw, get_aval,
                    is_concrete, staging_main)
from ..interpreters import ad, batching
from ..interpreters.partial_eval import trace_to_jaxpr
from ..primitives._util import shape_of, dtype_of, is_differentiable, wanted, \
    moveaxis_to_front
from ..primitives.reductions import reduce_sum
from ..primitives.shape_ops import full
from ..primitives.conversion import asarray
from ..tree_util import (tree_flatten, tree_unflatten, tree_map, tree_leaves, tree_structure,
                         tree_flatten_with_path, treedef_is_leaf, keystr)
from .. import dtypes
from .remat import positions_named

__all__ = ["custom_vjp", "custom_jvp", "SymbolicZero", "CustomVJPPrimal"]


def _has_tracer(leaves):
    return any(isinstance(x, Tracer) for x in leaves)


def _signature(fun):
    try:
        return inspect.signature(fun)
    except (TypeError, ValueError):     # a callable without one: arguments as given
        return None


def resolve_args(name, signature, args, kwargs, hint="pass them positionally or as "
                                                     "nondiff_argnums"):
    """The call's arguments by position, as JAX binds them: keywords resolved through the
    signature, defaults filled in; keyword-only arguments cannot be passed (`hint` says what
    to do instead)."""
    if signature is None:
        if kwargs:
            raise TypeError(f"{name}: keyword arguments {sorted(kwargs)} cannot be resolved to "
                            "positions (the function has no signature)")
        return args
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    passed = [k for k in bound.kwargs if k in kwargs]
    if passed:
        raise TypeError(f"{name}: keyword-only arguments {passed} cannot be resolved to "
                        f"positions; {hint}")
    return bound.args


class _Staged:
    """The primal function traced for the abstract signature of one call. Outer refs it uses
    (`refs`, a `ref.Passed`, or None) are extra inputs, and the written ones extra outputs,
    of its jaxpr."""

    def __init__(self, fun, leaves, in_tree, nondiff, name):
        avals = [abstractify(x) for x in leaves]
        box = {}

        def flat_fun(*flat):
            args = _merge(tree_unflatten(in_tree, flat), nondiff)
            outs, box["tree"] = tree_flatten(fun(*args))
            return outs
        states = []
        self.jaxpr, hoisted = trace_to_jaxpr(flat_fun, avals, name=name, states=states)
        # (the records' type, functrans.ref's, makes the ref.Passed: refs sit above this layer)
        self.refs = refs = type(states[0]).passed(states, name) if states else None
        if refs:
            n = len(avals)
            self.jaxpr, hoisted = trace_to_jaxpr(
                lambda *f: _joined(*refs.call(flat_fun, f[:n], list(f[n:]))),
                avals + refs.avals, name=name)
        if hoisted:
            raise TypeError(
                f"{name}: the function closes over a traced value from an enclosing transform "
                "(for example an array created inside the function being differentiated). "
                "Pass it as an explicit argument instead, so its derivative is accounted for.")
        self.out_tree = box["tree"]


def _joined(outs, finals):
    return list(outs) + finals


def _vjp_with_refs(refs, n_in, n_out, fwd, bwd):
    """`fwd` and `bwd` of a custom_vjp function using outer refs (`refs`): the operands
    are followed by the refs' values, the results by the written refs' final values."""
    def fwd_refs(*flat, perturbed=None):
        (out, res), finals = refs.call(
            lambda *f: fwd(*f, perturbed=perturbed and perturbed[:n_in]), flat[:n_in],
            list(flat[n_in:]))
        return _joined(out, finals), res
    fwd_refs.ref_results = refs.n_written
    return fwd_refs, lambda res, cts: bwd(res, cts[:n_out]) + [None] * len(refs.refs)


def _jvp_with_refs(refs, n_in, jvp):
    """The rule of a custom_jvp function using outer refs (as `_vjp_with_refs`)."""
    def jvp_refs(primals, tangents):
        (out, t_out), finals = refs.call(jvp, (primals[:n_in], tangents[:n_in]),
                                         list(primals[n_in:]))
        return _joined(out, finals), list(t_out) + [None] * len(finals)
    jvp_refs.symbolic_zeros, jvp_refs.ref_results = jvp.symbolic_zeros, refs.n_written
    return jvp_refs


def _nonzero_outputs(rule):
    """`nonzero_outputs` of a primitive with custom rules (param `rule`): every output but
    the final values of refs, which depend on the inputs as the function's jaxpr says (None
    when there are none: every output)."""
    def nonzero(needs, fun_jaxpr, **params):
        k = getattr(params[rule], "ref_results", 0)
        if k:
            n = len(fun_jaxpr.out_avals) - k
            return [True] * n + ad.dependent_outputs(fun_jaxpr, needs)[n:]
    return nonzero


def _merge(diff_args, nondiff):
    """Re-insert the non-differentiable arguments at their positions."""
    args = list(diff_args)
    for i, v in sorted(nondiff):
        args.insert(i, v)
    return args


def _split_nondiff(args, nondiff_argnums):
    diff = tuple(a for i, a in enumerate(args) if i not in nondiff_argnums)
    nondiff = tuple((i, args[i]) for i in nondiff_argnums)
    return diff, nondiff


# =================================================================== custom_vjp
def _eval_fun_jaxpr(xp, *raws, fun_jaxpr, fun=None, **_):
    if fun_jaxpr is None:            # called eagerly on concrete values: run the function
        outs = fun(*[asarray(r) for r in raws])
        if any(isinstance(o, Tracer) for o in outs):
            raise TypeError(f"{getattr(fun, '__name__', 'a custom_jvp function')}: the "
                            "function closes over a traced value from an enclosing "
                            "transform; pass it as an explicit argument instead")
        return [o._value if type(o) is Array else np.asarray(o) for o in outs]
    return eval_jaxpr_on_raw(fun_jaxpr.jaxpr, fun_jaxpr.consts, raws)


def _call_with_rules(name):
    """A primitive that evaluates its primal function (param `fun_jaxpr`, which the compiler
    inlines: compiled code only evaluates) and carries the user's derivative rules."""
    p = Primitive(name, multiple_results=True)
    p.impl = _eval_fun_jaxpr
    p.abstract_eval = lambda *avals, fun_jaxpr, **_: fun_jaxpr.out_avals
    p.callee, p.inline = "fun_jaxpr", "early"
    return p


custom_vjp_call_p = _call_with_rules("custom_vjp_call")


def _custom_vjp_vjp(primals, needs, fun_jaxpr, fwd, bwd, name):
    outs, res = fwd(*primals, perturbed=wanted(needs, primals))

    def backward(cts):
        full = [ad.instantiate(c, o) if dtypes.is_inexact(dtype_of(o)) else c
                for c, o in zip(cts, outs)]
        return bwd(res, full)
    return outs, backward


def _custom_vjp_jvp(primals, tangents, fun_jaxpr, fwd, bwd, name):
    outs, res = fwd(*primals, perturbed=[t is not None for t in tangents])
    if all(t is None for t in tangents):
        return outs, [None] * len(outs)
    inexact_out = [i for i, o in enumerate(outs) if dtypes.is_inexact(dtype_of(o))]

    def backward_map(*cts):
        full = [None] * len(outs)
        for i, c in zip(inexact_out, cts):
            full[i] = c
        in_cts = bwd(res, [ad.instantiate(c, outs[i]) if c is None and i in inexact_out else c
                           for i, c in enumerate(full)])
        return [ad.instantiate(c, p) if is_differentiable(p) else p
                for c, p in zip(in_cts, primals)]
    # forward derivative = transpose of the (linear) backward map
    _, pullback = ad.vjp_flat(backward_map, [ad.zeros_like_aval(outs[i]) for i in inexact_out])
    diff_tangents = [t if is_differentiable(p) else None for t, p in zip(tangents, primals)]
    out_t = pullback(diff_tangents)
    t_iter = iter(out_t)
    result = [None] * len(outs)
    for i in inexact_out:
        result[i] = next(t_iter)
    return outs, result


@batching.needs_axis
def _custom_vjp_batch(axis, vals, dims, fun_jaxpr, fwd, bwd, name):
    size = axis.size
    vals = [v if d is None else moveaxis_to_front(v, d) for v, d in zip(vals, dims)]
    in_dims = [None if d is None else 0 for d in dims]
    res_box = {}

    def fwd_b(*args, perturbed=None):
        def f(*xs):
            outs, res = fwd(*xs, perturbed=perturbed)
            res_leaves, res_box["tree"] = tree_flatten(res)
            return list(outs) + res_leaves
        n_out = len(fun_jaxpr.out_avals)
        flat = batching.vmap_flat(f, list(args), in_dims, size, lambda got: [0] * len(got),
                                  axis.name, axis.span)
        return flat[:n_out], tree_unflatten(res_box["tree"], flat[n_out:])

    def bwd_b(res, cts):
        res_leaves, res_tree = tree_flatten(res)

        def g(*xs):
            r = tree_unflatten(res_tree, xs[:len(res_leaves)])
            got = bwd(r, list(xs[len(res_leaves):]))
            return [c if c is not None else full(a.shape, 0, a.dtype)
                    for c, a in zip(got, fun_jaxpr.in_avals)]
        cts_in = batching.vmap_flat(g, res_leaves + list(cts),
                                    [0] * (len(res_leaves) + len(cts)), size,
                                    [0] * len(vals), axis.name, axis.span)
        # an argument shared by the whole batch gets the sum of the examples' cotangents
        return [c if d is not None else reduce_sum(c, (0,)) for c, d in zip(cts_in, in_dims)]
    # the batched primal is the batched fun_jaxpr, all outputs batched like fwd_b's
    batched, _ = batching.batch_jaxpr(fun_jaxpr, axis, [d is not None for d in in_dims],
                                      force_out=True)
    outs = custom_vjp_call_p.bind(*vals, fun_jaxpr=batched, fwd=fwd_b, bwd=bwd_b,
                                  name=f"vmap_{name}")
    return outs, [0] * len(outs)


custom_vjp_call_p.vjp = _custom_vjp_vjp
custom_vjp_call_p.jvp = _custom_vjp_jvp
custom_vjp_call_p.batch = _custom_vjp_batch
custom_vjp_call_p.nonzero_outputs = _nonzero_outputs("fwd")


class custom_vjp:
    """A function with a user-defined reverse-mode derivative.

        @ft.custom_vjp
        def f(x): ...
        def f_fwd(x): return f(x), residuals
        def f_bwd(residuals, g): return (cotangent_for_x,)
        f.defvjp(f_fwd, f_bwd)

    `bwd` returns one cotangent per (non-`nondiff_argnums`) argument, shaped like it (None
    means zero); `nondiff_argnames` names more such arguments (by parameter name).
    Non-differentiable arguments come first in `fwd`/`bwd`'s residual-free signature as in
    JAX: `bwd(*nondiff_args, residuals, g)`.
    """

    def __init__(self, fun, nondiff_argnums=(), nondiff_argnames=()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.signature = _signature(fun)
        self.nondiff_argnums = tuple(sorted(set(nondiff_argnums) |
                                            positions_named(fun, nondiff_argnames)))
        self.fwd = self.bwd = None
        self.symbolic_zeros = False

    def defvjp(self, fwd, bwd, symbolic_zeros=False, optimize_remat=False):
        """Set `fwd(*args) -> (out, residuals)` and `bwd(residuals, g) -> cotangents`. With
        `symbolic_zeros=True` fwd's array arguments come as `CustomVJPPrimal`s (`.value`,
        `.perturbed`: whether a derivative is wanted for it). `optimize_remat` is accepted
        for JAX's code and changes no result."""
        self.fwd, self.bwd, self.symbolic_zeros = fwd, bwd, bool(symbolic_zeros)
        return self

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)

    def __call__(self, *args, **kwargs):
        name = getattr(self.fun, "__name__", "custom_vjp")
        if self.fwd is None:
            raise AttributeError(f"custom_vjp function {name} has no derivative: call "
                                 f"{name}.defvjp(fwd, bwd) first")
        args = resolve_args(f"custom_vjp {name}", self.signature, args, kwargs)
        diff_args, nondiff = _split_nondiff(args, self.nondiff_argnums)
        leaves, in_tree = tree_flatten(diff_args)
        if not _has_tracer(leaves):
            return self.fun(*args)
        for i, v in nondiff:
            if _has_tracer(tree_leaves(v)):
                raise TypeError(f"custom_vjp {name}: nondiff argument {i} is a traced value; "
                                "nondiff_argnums are for static values (functions, settings)")
        staged = _Staged(self.fun, leaves, in_tree, nondiff, f"custom_vjp({name})")
        out_tree = staged.out_tree
        nondiff_vals = [v for _, v in nondiff]
        user_fwd, user_bwd, symbolic = self.fwd, self.bwd, self.symbolic_zeros
        diff_positions = [i for i in range(len(args)) if i not in self.nondiff_argnums]

        def fwd_flat(*flat, perturbed=None):
            if symbolic:
                flat = [CustomVJPPrimal(x, True if perturbed is None else bool(p))
                        for x, p in zip(flat, perturbed or flat)]
            out, res = user_fwd(*_merge(tree_unflatten(in_tree, flat), nondiff))
            out_leaves, tree = tree_flatten(out)
            if tree != out_tree:
                raise TypeError(f"custom_vjp {name}: fwd returned output structure {tree}, "
                                f"but the function returns {out_tree}")
            return out_leaves, res

        def bwd_flat(res, cts):
            got = user_bwd(*nondiff_vals, res, tree_unflatten(out_tree, cts))
            if not isinstance(got, (tuple, list)):
                raise TypeError(f"custom_vjp {name}: bwd must return a tuple with one "
                                f"cotangent per argument, got {type(got).__name__}")
            if len(got) != len(diff_args):
                raise TypeError(f"custom_vjp {name}: bwd returned {len(got)} cotangents for "
                                f"{len(diff_args)} differentiable arguments")
            flat = []
            for k, (arg, ct) in enumerate(zip(diff_args, got)):
                flat.extend(_cotangent_leaves(name, diff_positions[k], arg, ct))
            return flat
        refs, n = staged.refs, out_tree.num_leaves
        if refs:
            fwd_flat, bwd_flat = _vjp_with_refs(refs, len(leaves), n, fwd_flat, bwd_flat)
        outs = custom_vjp_call_p.bind(*leaves, *(refs.initial if refs else ()),
                                      fun_jaxpr=staged.jaxpr, fwd=fwd_flat, bwd=bwd_flat,
                                      name=name)
        if refs:
            refs.write_back(outs[n:])
        return tree_unflatten(out_tree, outs[:n])


class CustomVJPPrimal:
    """An argument of a custom_vjp `fwd` defined with `symbolic_zeros=True`: its `value`,
    and whether a derivative is wanted for it (`perturbed`)."""
    __slots__ = ("value", "perturbed")

    def __init__(self, value, perturbed):
        self.value, self.perturbed = value, perturbed

    def __repr__(self):
        return f"CustomVJPPrimal(value={self.value!r}, perturbed={self.perturbed})"


def _cotangent_leaves(name, position, arg, ct):
    """The cotangent leaves for argument `position` (`arg`) from what bwd returned for it
    (`ct`: the argument's structure, None standing for zeros of any subtree): None for
    zeros. Errors show both structures, or the leaf's path and both shapes."""
    ct_tree = tree_structure(ct, is_leaf=_is_none)
    try:
        parts = ct_tree.flatten_up_to(arg)
    except ValueError:
        parts = None
    if parts is None or any(c is not None and not treedef_is_leaf(tree_structure(p))
                            for c, p in zip(tree_leaves(ct, is_leaf=_is_none), parts)):
        raise TypeError(f"custom_vjp {name}: bwd returned a cotangent of structure {ct_tree} "
                        f"for argument {position}, whose structure is {tree_structure(arg)}; "
                        "return the argument's structure (None stands for zeros of a whole "
                        "subtree)")
    out = []
    for c, p in zip(tree_leaves(ct, is_leaf=_is_none), parts):
        if c is None:
            out.extend([None] * tree_structure(p).num_leaves)
            continue
        if shape_of(c) != shape_of(p):
            path = tree_flatten_with_path(arg)[0][len(out)][0]
            raise ValueError(f"custom_vjp {name}: bwd returned a cotangent of shape "
                             f"{shape_of(c)} for argument {position}{keystr(path)}, of shape "
                             f"{shape_of(p)}; a cotangent has its argument's shape")
        out.append(c)
    return out


def _is_none(x):
    return x is None


# =================================================================== custom_jvp
custom_jvp_call_p = _call_with_rules("custom_jvp_call")


def _custom_jvp_jvp(primals, tangents, fun_jaxpr, jvp, name, fun=None):
    tans = tangents if getattr(jvp, "symbolic_zeros", False) else \
        [ad.instantiate(t, p) if is_differentiable(p) else None
         for t, p in zip(tangents, primals)]
    outs, out_t = jvp(primals, tans)
    return outs, out_t


def _custom_jvp_vjp(primals, needs, fun_jaxpr, jvp, name, fun=None):
    # linearized now, as JAX does: the rule runs once (its primal outputs are the results, and
    # its ref writes the ones applied; the function itself does not run) and the backward
    # pass replays its tangent map
    diff_idx = [i for i, w in enumerate(wanted(needs, primals)) if w]
    box = {}

    def linear(*ts):
        full = [None] * len(primals)
        for i, t in zip(diff_idx, ts):
            full[i] = t
        box["outs"], out_t = jvp(primals, full)
        return [ad.instantiate(t, o) if dtypes.is_inexact(dtype_of(o)) else o
                for t, o in zip(out_t, box["outs"])]
    _, pullback = ad.vjp_flat(linear, [ad.zeros_like_aval(primals[i]) for i in diff_idx])

    def backward(cts):
        result = [None] * len(primals)
        for i, g in zip(diff_idx, pullback(list(cts))):
            result[i] = g
        return result
    return list(box["outs"]), backward


@batching.needs_axis
def _custom_jvp_batch(axis, vals, dims, fun_jaxpr, jvp, name, fun=None):
    size = axis.size
    vals = [v if d is None else moveaxis_to_front(v, d) for v, d in zip(vals, dims)]
    in_dims = [None if d is None else 0 for d in dims]
    batched, _ = batching.batch_jaxpr(fun_jaxpr, axis, [d is not None for d in in_dims],
                                      force_out=True)
    n_out = len(fun_jaxpr.out_avals)

    def jvp_b(primals, tangents):
        nz = [t is not None for t in tangents]

        def f(*xs):
            ps = list(xs[:len(primals)])
            ts_iter = iter(xs[len(primals):])
            ts = [next(ts_iter) if z else None for z in nz]
            o, t = jvp(ps, ts)
            return list(o) + [ad.instantiate(ti, oi) for ti, oi in zip(t, o)]
        t_list = [t for t in tangents if t is not None]
        t_dims = [d for t, d in zip(tangents, in_dims) if t is not None]
        res = batching.vmap_flat(f, list(primals) + t_list, in_dims + t_dims, size,
                                 [0] * (2 * n_out), axis.name, axis.span)
        return res[:n_out], res[n_out:]
    jvp_b.symbolic_zeros = getattr(jvp, "symbolic_zeros", False)
    outs = custom_jvp_call_p.bind(*vals, fun_jaxpr=batched, jvp=jvp_b, name=f"vmap_{name}")
    return outs, [0] * len(outs)


custom_jvp_call_p.jvp = _custom_jvp_jvp
custom_jvp_call_p.vjp = _custom_jvp_vjp
custom_jvp_call_p.batch = _custom_jvp_batch
custom_jvp_call_p.nonzero_outputs = _nonzero_outputs("jvp")


class custom_jvp:
    """A function with a user-defined forward-mode derivative.

        @ft.custom_jvp
        def f(x): ...
        @f.defjvp
        def f_jvp(primals, tangents):
            x, = primals; t, = tangents
            return f(x), 2 * t

    Reverse mode transposes the rule, so grad works too. `defjvps(*fns)` gives one function
    per argument, `fn(tangent, primal_out, *primals)`.
    """

    def __init__(self, fun, nondiff_argnums=(), nondiff_argnames=()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.signature = _signature(fun)
        self.nondiff_argnums = tuple(sorted(set(nondiff_argnums) |
                                            positions_named(fun, nondiff_argnames)))
        self.jvp = None
        self.symbolic_zeros = False

    def defjvp(self, jvp, symbolic_zeros=False):
        """Set the rule `jvp(primals, tangents) -> (out, tangent_out)`. With
        `symbolic_zeros=True` the tangent of an argument that is not being differentiated is
        a `SymbolicZero` rather than an array of zeros, and the rule may return one."""
        self.jvp, self.symbolic_zeros = jvp, bool(symbolic_zeros)
        return jvp

    def defjvps(self, *jvps):
        def jvp(primals, tangents):
            out = self(*primals)
            t_out = None
            for fn, t in zip(jvps, tangents):
                if fn is None or t is None:
                    continue
                term = fn(t, out, *primals)
                t_out = term if t_out is None else tree_map(lambda a, b: a + b, t_out, term)
            if t_out is None:
                t_out = tree_map(ad.zeros_like_aval, out)
            return out, t_out
        self.jvp = jvp

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)

    def __call__(self, *args, **kwargs):
        name = getattr(self.fun, "__name__", "custom_jvp")
        if self.jvp is None:
            raise AttributeError(f"custom_jvp function {name} has no JVP rule: define one with "
                                 f"@{name}.defjvp")
        args = resolve_args(f"custom_jvp {name}", self.signature, args, kwargs)
        diff_args, nondiff = _split_nondiff(args, self.nondiff_argnums)
        leaves, in_tree = tree_flatten(diff_args)
        if not _has_tracer(leaves):
            return self.fun(*args)
        leaves = [asarray(x) if type(x) in (bool, int, float, complex) else x for x in leaves]
        nondiff_vals = [v for _, v in nondiff]
        user_jvp, fun, symbolic = self.jvp, self.fun, self.symbolic_zeros
        box = {}
        if staging_main() is None and all(is_concrete(x) for x in leaves):
            # eager transforms of concrete values (grad, jvp): the function runs on the
            # values themselves, so Python control flow on them works, as in JAX
            def flat_fun(*flat):
                outs, box["tree"] = tree_flatten(
                    fun(*_merge(tree_unflatten(in_tree, flat), nondiff)))
                return outs
            staged_jaxpr, extra, refs = None, {"fun": flat_fun}, None
        else:
            staged = _Staged(fun, leaves, in_tree, nondiff, f"custom_jvp({name})")
            box["tree"] = staged.out_tree
            staged_jaxpr, extra, refs = staged.jaxpr, {}, staged.refs

        def jvp_flat(primals, tangents):
            p = tree_unflatten(in_tree, primals)
            zero = SymbolicZero.of if symbolic else _zero_tangent
            t = tree_unflatten(in_tree, [zero(x) if tt is None else tt
                                         for tt, x in zip(tangents, primals)])
            out, t_out = user_jvp(*nondiff_vals, tuple(p), tuple(t)) if nondiff_vals else \
                user_jvp(tuple(p), tuple(t))
            out_leaves, tree = tree_flatten(out)
            t_leaves, t_tree = tree_flatten(t_out)
            box.setdefault("tree", tree)
            out_tree = box["tree"]
            if tree != out_tree or t_tree != out_tree:
                raise TypeError(f"custom_jvp {name}: the rule returned structures {tree} and "
                                f"{t_tree}, but the function returns {out_tree}")
            for i, (o, t) in enumerate(zip(out_leaves, t_leaves)):
                if t is not None and not isinstance(t, SymbolicZero) and \
                        shape_of(t) != shape_of(o):
                    raise TypeError(f"custom_jvp {name}: the rule's tangent output {i} has "
                                    f"shape {shape_of(t)}, but its primal output has shape "
                                    f"{shape_of(o)}; a tangent has its primal's shape")
            return out_leaves, [None if isinstance(t, SymbolicZero) else t for t in t_leaves]
        jvp_flat.symbolic_zeros = symbolic
        n = len(leaves)
        outs = custom_jvp_call_p.bind(
            *leaves, *(refs.initial if refs else ()), fun_jaxpr=staged_jaxpr,
            jvp=_jvp_with_refs(refs, n, jvp_flat) if refs else jvp_flat, name=name, **extra)
        if refs:
            n = box["tree"].num_leaves
            refs.write_back(outs[n:])
            outs = outs[:n]
        return tree_unflatten(box["tree"], outs)


class SymbolicZero:
    """The tangent of an argument that is not being differentiated, as a custom_jvp rule
    defined with `defjvp(..., symbolic_zeros=True)` sees it: its shape and dtype, no data.
    `instantiate()` makes the zeros."""

    def __init__(self, aval):
        self.aval = aval

    @classmethod
    def of(cls, primal):
        aval = get_aval(primal).strip_weak()
        if not is_differentiable(primal):
            aval = ShapedArray(aval.shape, dtypes.float0)
        return cls(aval)

    shape = property(lambda self: self.aval.shape)
    dtype = property(lambda self: self.aval.dtype)

    def instantiate(self):
        return full(self.shape, 0, self.dtype) if self.dtype != dtypes.float0 else \
            np.zeros(self.shape, dtypes.float0)

    def __repr__(self):
        return f"SymbolicZero({self.aval.str_short()})"


def _zero_tangent(x):
    """What a custom_jvp rule gets for an argument not being differentiated: real zeros
    (float0 zeros for integers), as in JAX."""
    if is_differentiable(x):
        return ad.zeros_like_aval(x)
    return np.zeros(shape_of(x), dtypes.float0)
