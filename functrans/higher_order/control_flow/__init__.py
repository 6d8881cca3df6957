"""Structured control flow: `cond`, `switch`, `while_loop`, `fori_loop`, `scan`, `map`.

Run eagerly (no jit) with a concrete predicate or trip count, they are plain Python control
flow: every transform then sees ordinary operations (grad records them on its tape). Under jit
(a staging trace is active), or when the predicate differs across a vmap, they bind
primitives carrying the traced bodies as jaxprs:

- `cond` (an index choosing one of several branches),
- `while` (a predicate jaxpr and a body jaxpr over a carry),
- `scan` (a body over a carry and the slices of stacked inputs, stacking its outputs;
  `fori_loop` with concrete bounds uses it, so that it is reverse-differentiable),
- `while_save` and `reverse_replay`: reverse mode of a loop whose trip count is known only at
  run time. The forward loop appends each iteration's residuals to a `LoopRecord` (an opaque
  Python list, see `core.OpaqueValue`); the backward loop walks it in reverse. JAX refuses
  this case; the lowered code here is Python, so it can keep the record.

Each primitive has its rules beside it: a kernel (the lowered code of the equation alone), jvp
(the carry grows a tangent part), vjp (the body is split into a forward part saving residuals
and a backward part using them), batching (a batched predicate turns `cond` into a select and
runs `while` until every lane is done, freezing finished lanes), and lowering to real Python
`if`/`while`/`for` in the generated code. Values that stay the same over a loop's iterations
are computed once before it.
"""
from __future__ import annotations

import numpy as np

from ... import dtypes
from ...core import (Tracer, Var, Jaxpr, JaxprEqn, ClosedJaxpr, Literal, OpaqueAval, OpaqueValue,
                    ShapedArray, get_aval, eval_jaxpr, is_concrete, concrete_value,
                    is_python_scalar, _state, _param_jaxprs)
from ...interpreters import ad, batching
from ...interpreters.batching import AxisPrimitive, needs_axis, batch_jaxpr, to_front
from ...interpreters.partial_eval import trace_to_jaxpr, dce_jaxpr
from ...tree_util import tree_flatten, tree_unflatten, tree_structure, keystr
from ...tree_util import tree_flatten_with_path
from ...primitives._util import shape_of, dtype_of, wanted
from ...primitives.elementwise import select, eq, lt, add, convert_element_type, max as lax_max, \
    min as lax_min
from ...primitives.reductions import reduce_or
from ...primitives.shape_ops import broadcast_in_dim, moveaxis

__all__ = ["cond", "switch", "while_loop", "fori_loop", "scan", "map"]


# =================================================================== helpers
def _staging():
    """Whether a jit (or make_jaxpr) is tracing: loops are then staged, not unrolled."""
    return bool(_state.staging)


def _as_value(x, what):
    from ...numpy._conversion import asarray
    if isinstance(x, Tracer):
        return x
    try:
        return asarray(x)
    except Exception:
        raise TypeError(f"{what}: {type(x).__name__} is not an array; loop carries, operands "
                        "and results must be arrays or numbers (pytrees of them)") from None


def _leaf_avals(leaves):
    return [get_aval(x).strip_weak() for x in leaves]


def _carry_leaves(val, what):
    """The leaves of a loop's initial carry and their avals: Python scalars stay weakly typed
    (their dtype follows what the body makes of them, as in JAX)."""
    leaves, tree = tree_flatten(val)
    leaves = [x if is_python_scalar(x) else _as_value(x, what) for x in leaves]
    return leaves, tree, [get_aval(x) for x in leaves]


def _carry_arrays(leaves, avals):
    from ...numpy._conversion import asarray
    return [asarray(x, dtype=a.dtype) if is_python_scalar(x) else x
            for x, a in zip(leaves, avals)]


def _path_names(tree):
    return [keystr(p) or "" for p, _ in
            tree_flatten_with_path(tree_unflatten(tree, [0] * tree.num_leaves))[0]]


def _conform(what, leaves, tree, avals, want_tree, where):
    """Results of a body (`leaves` with structure `tree`) made to match the carry (`avals`,
    `want_tree`). Returns `(leaves, avals)`: weakly typed results take the carry's dtype; a
    weakly typed carry takes the result's dtype; anything else that differs is an error
    naming the carry path."""
    if tree != want_tree:
        raise TypeError(f"{what}: {where} returns a carry with structure {tree}, but the carry "
                        f"has structure {want_tree}; it must keep the same structure")
    out, out_avals = [], []
    for x, aval, path in zip(leaves, avals, _path_names(tree)):
        got = get_aval(x)
        if tuple(got.shape) != tuple(aval.shape):
            raise TypeError(f"{what}: {where} changes the shape of carry{path} from "
                            f"{aval.str_short()} to {got.str_short()}; loop carries keep their "
                            "shape and dtype")
        if aval.weak_type and not got.weak_type:
            aval = got.strip_weak()
        elif got.dtype != aval.dtype:
            if not got.weak_type:
                raise TypeError(
                    f"{what}: {where} changes the dtype of carry{path} from "
                    f"{aval.str_short()} to {got.str_short()}; loop carries keep their shape "
                    f"and dtype (cast with .astype({aval.dtype.name}), or start the carry "
                    "with that dtype)")
            x = convert_element_type(x, aval.dtype)
        out.append(x)
        out_avals.append(aval)
    return out, out_avals


def _settle_carry(trace_body, avals):
    """`trace_body(avals) -> (result, carry_out_avals)`, retraced while a weakly typed carry
    comes out strongly typed (it then takes that type). Returns `(result, avals)`."""
    while True:
        result, out_avals = trace_body(avals)
        new = [o if a.weak_type and not o.weak_type else a for a, o in zip(avals, out_avals)]
        if new == avals:
            return result, avals
        avals = new


def _trace(fun, args_tree, in_avals, what, fix_out=None):
    """Trace `fun(*unflatten(args_tree, leaves))` to `(ClosedJaxpr, hoisted, out_tree)`;
    `fix_out(leaves, tree)` may adjust the flat results inside the trace."""
    box = {}

    def flat(*leaves):
        out = fun(*tree_unflatten(args_tree, list(leaves)))
        outs, box["tree"] = tree_flatten(out)
        outs = [_as_value(o, what) for o in outs]
        return fix_out(outs, box["tree"]) if fix_out else outs
    closed, hoisted = trace_to_jaxpr(flat, in_avals, name=what)
    return closed, hoisted, box["tree"]


def _reorder(closed, in_order=None, out_order=None):
    """`closed` with its inputs permuted and its outputs selected (by index lists)."""
    j = closed.jaxpr
    invars = j.invars if in_order is None else [j.invars[i] for i in in_order]
    outvars = j.outvars if out_order is None else [j.outvars[i] for i in out_order]
    jaxpr, _ = dce_jaxpr(Jaxpr(j.constvars, invars, outvars, j.eqns))
    return ClosedJaxpr(jaxpr, closed.consts)


def _with_unused_inputs(closed, avals):
    """`closed` taking extra trailing inputs of `avals` that it ignores."""
    j = closed.jaxpr
    return ClosedJaxpr(Jaxpr(j.constvars, j.invars + [Var(a) for a in avals], j.outvars,
                             j.eqns), closed.consts)


def _jaxpr_key(params):
    return tuple(sorted(params.items()))


def _first_jaxpr(params):
    return next(iter(_param_jaxprs(params)))


def _eqn_kernel(prim):
    """A kernel that runs `prim` by compiling the equation alone (its lowering), cached."""
    def impl(xp, *raws, **params):
        from ...compiler import compile_jaxpr
        from ...jit import _device_of_args
        avals = tuple(get_aval(r) for r in raws)
        cache = _first_jaxpr(params).cache
        key = ("kernel", prim.name, avals, _jaxpr_key(params))
        closed = cache.get(key)
        if closed is None:
            invars = [Var(a) for a in avals]
            outvars = [Var(a) for a in prim.abstract_eval(*avals, **params)]
            eqn = JaxprEqn(prim, invars, params, outvars)
            closed = cache[key] = ClosedJaxpr(Jaxpr([], invars, outvars, [eqn]), [])
        return compile_jaxpr(closed, _device_of_args(raws), f"{prim.name}_kernel")(*raws)
    impl.__name__ = f"{prim.name}_kernel"
    return impl


def _control_primitive(name, abstract_eval):
    p = AxisPrimitive(name, multiple_results=True)
    p.impl = _eqn_kernel(p)
    p.abstract_eval = abstract_eval
    return p


def _inexact(aval):
    return not isinstance(aval, OpaqueAval) and dtypes.is_inexact(aval.dtype)


def _zeros(aval):
    from ...primitives.shape_ops import full
    return full(aval.shape, 0, aval.dtype)


def _lane_select(pred, on_true, on_false):
    """Per lane (axis 0 of `pred`), `on_true` where `pred` holds, else `on_false`."""
    shape = shape_of(on_true)
    return select(broadcast_in_dim(pred, shape, (0,)), on_true, on_false)


def _prepare(vals, dims, batched, size):
    """Batched values moved to axis 0; values that must be batched but are not, broadcast."""
    out = []
    for v, d, b in zip(vals, dims, batched):
        if d is not None:
            out.append(to_front(v, d))
        elif b:
            out.append(batching.broadcast_batched(v, size))
        else:
            out.append(v)
    return out


# ------------------------------------------------------------------ jaxpr transformations
def jvp_jaxpr(closed, nonzeros, instantiate):
    """The forward-mode jaxpr of `closed`: inputs `primals + tangents[nonzeros]`, outputs
    `outs + tangents[out_nonzeros]`. An output tangent is present where it is nonzero or
    `instantiate` asks (inexact outputs only). Returns `(jaxpr, out_nonzeros)`; cached."""
    from ...jit import _derived, _trace_closed
    in_avals, out_avals = closed.in_avals, closed.out_avals
    nonzeros = tuple(bool(z) and _inexact(a) for z, a in zip(nonzeros, in_avals))
    inst = (instantiate,) * len(out_avals) if isinstance(instantiate, bool) else instantiate
    inst = tuple(bool(i) and _inexact(a) for i, a in zip(inst, out_avals))

    def build():
        box = {}

        def f(*args):
            n = len(in_avals)
            t_iter = iter(args[n:])
            tans = [next(t_iter) if z else None for z in nonzeros]
            outs, out_t = ad.jvp_flat(
                lambda *xs: eval_jaxpr(closed.jaxpr, closed.consts, *xs), list(args[:n]), tans)
            box["nz"] = [t is not None or i for t, i in zip(out_t, inst)]
            return list(outs) + [ad.instantiate(t, o) for t, o, z in
                                 zip(out_t, outs, box["nz"]) if z]
        t_avals = [a for a, z in zip(in_avals, nonzeros) if z]
        return _trace_closed(f, list(in_avals) + t_avals, "jvp"), box["nz"]
    return _derived(closed, ("jvp_jaxpr", nonzeros, inst), build)


def _hoist(closed, n_invariant, move=True):
    """Split `closed` (inputs: `n_invariant` loop-invariant ones, then the rest) into `pre`,
    computing once what depends only on invariant inputs, and `loop`, taking `pre`'s outputs
    before all of `closed`'s inputs. Returns `(pre, loop)` (`pre` is empty unless `move`)."""
    j = closed.jaxpr
    invariant = set(j.constvars) | set(j.invars[:n_invariant])
    pre_eqns, loop_eqns = [], []
    for eqn in j.eqns:
        if move and not eqn.primitive.effectful and not _has_effects(eqn) and all(
                type(v) is Literal or v in invariant for v in eqn.invars):
            pre_eqns.append(eqn)
            invariant.update(eqn.outvars)
        else:
            loop_eqns.append(eqn)
    computed = {v for e in pre_eqns for v in e.outvars}
    crossing, seen = [], set()
    for v in [v for e in loop_eqns for v in e.invars] + list(j.outvars):
        if type(v) is Var and v in computed and v not in seen:
            seen.add(v)
            crossing.append(v)
    pre = ClosedJaxpr(Jaxpr(j.constvars, j.invars[:n_invariant], crossing, pre_eqns),
                      closed.consts)
    loop = ClosedJaxpr(Jaxpr(j.constvars, crossing + j.invars, j.outvars, loop_eqns),
                       closed.consts)
    return pre, loop


def _has_effects(eqn):
    return any(sub.effectful for sub in _param_jaxprs(eqn.params))


def _loop_vjp_parts(body, n_invariant, diff, hoist=True, n_carry=None):
    """Reverse mode of a loop body `body(invariant inputs, carry, xs) -> outputs` (for a
    scan, the `n_carry` inputs after the invariant ones are the carry, the rest slices of xs).

    Returns a dict: `pre` (invariant inputs -> hoisted values), `fwd` (hoisted, inputs ->
    outputs + per-iteration residuals), `bwd` (residuals + output cotangents -> cotangents of
    the `diff` inputs whose cotangents are not zero, see `ct_unknown`), and where each
    residual comes from: `res_src[i]` is ("inv", k) for the k-th of (hoisted values +
    invariant inputs), ("iter", k) for the k-th recorded one, ("x", k) for the slice of xs
    input `x_res[k]`."""
    from ...jit import _VJPSplit, _derived

    def build():
        split = _VJPSplit(body, tuple(diff))
        n_out, n_known = split.n_out, split.n_known_cts
        pre, loop = _hoist(split.fwd, n_invariant, hoist)
        lj = loop.jaxpr
        n_cross = len(pre.jaxpr.outvars)
        inv_vars = lj.invars[:n_cross + n_invariant]
        inv_index = {v: k for k, v in enumerate(inv_vars)}
        xs_vars = [] if n_carry is None else lj.invars[n_cross + n_invariant + n_carry:]
        xs_index = {v: k for k, v in enumerate(xs_vars)}
        res_src, iter_vars, x_res = [], [], []
        for v in lj.outvars[n_out + n_known:]:
            if v in inv_index:
                res_src.append(("inv", inv_index[v]))
            elif v in xs_index:
                if xs_index[v] not in x_res:
                    x_res.append(xs_index[v])
                res_src.append(("x", x_res.index(xs_index[v])))
            else:
                res_src.append(("iter", len(iter_vars)))
                iter_vars.append(v)
        fwd_j, _ = dce_jaxpr(Jaxpr(lj.constvars, lj.invars, lj.outvars[:n_out] + iter_vars,
                                   lj.eqns))
        return {"pre": pre, "fwd": ClosedJaxpr(fwd_j, loop.consts), "bwd": split.bwd,
                "res_src": res_src, "iter_avals": [v.aval for v in iter_vars],
                "x_res": x_res, "inv_avals": [v.aval for v in inv_vars],
                "ct_unknown": split.ct_unknown, "out_inexact": split.out_inexact}
    return _derived(body, ("loop_vjp", n_invariant, tuple(diff), hoist, n_carry), build)


def _bwd_body_fn(parts, diff, in_avals, ct_carry_idx, acc_idx, fresh_idx, n_out_carry):
    """One backward step of a loop body, as a function of (invariant residuals, carry
    cotangents, accumulated cotangents, this iteration's residuals, this iteration's slices
    of the xs among the residuals, cotangents of this iteration's outputs). It returns the
    carry cotangents (of inputs `ct_carry_idx`), the accumulators plus this step's
    cotangents (of inputs `acc_idx`), and the cotangents of inputs `fresh_idx` (zeros where
    there are none). The first `n_out_carry` body outputs are carries."""
    bwd, res_src = parts["bwd"], parts["res_src"]
    out_inexact = parts["out_inexact"]
    diff_idx = [i for i, d in enumerate(diff) if d]
    n_inv_res = len(parts["inv_avals"])
    n_ct_carry, n_acc = len(ct_carry_idx), len(acc_idx)
    n_iter, n_x = len(parts["iter_avals"]), len(parts["x_res"])

    def body(*args):
        inv = args[:n_inv_res]
        pos = n_inv_res
        ct_carry = args[pos:pos + n_ct_carry]
        pos += n_ct_carry
        acc = args[pos:pos + n_acc]
        pos += n_acc
        src = {"inv": inv, "iter": args[pos:pos + n_iter],
               "x": args[pos + n_iter:pos + n_iter + n_x]}
        ct_ys = iter(args[pos + n_iter + n_x:])
        res = [src[kind][k] for kind, k in res_src]
        ct_iter = iter(ct_carry)
        out_cts = [next(ct_iter) if j < n_out_carry else next(ct_ys)
                   for j, inx in enumerate(out_inexact) if inx]
        got = iter(eval_jaxpr(bwd.jaxpr, bwd.consts, *res, *out_cts))
        cts = [None] * len(in_avals)
        for i, unknown in zip(diff_idx, parts["ct_unknown"]):
            if unknown:
                cts[i] = next(got)

        def ct(i):
            return cts[i] if cts[i] is not None else _zeros(in_avals[i])
        return ([ct(i) for i in ct_carry_idx] +
                [a if cts[i] is None else add(a, cts[i]) for a, i in zip(acc, acc_idx)] +
                [ct(i) for i in fresh_idx])
    return body


# =================================================================== cond / switch
def _cond_aval(index, *ops, branches):
    return [a.strip_weak() for a in branches[0].out_avals]


cond_p = _control_primitive("cond", _cond_aval)


def _assign(ctx, names, values, indent):
    if names:
        comma = "," if len(names) == 1 else ""
        ctx.emit(f"{', '.join(names)}{comma} = {', '.join(values)}{comma}", indent)


def _owners(ctx, n, indent):
    """Names for the carries' arrays a loop body may overwrite: None until an iteration has
    made a carry an array of its own (see `_keep_owned`)."""
    own = [ctx.fresh("own") for _ in range(n)]
    _assign(ctx, own, ["None"] * n, indent)
    return own


def _keep_owned(ctx, own, carry, indent):
    """After lowering a body with `own` donated: the carries it made arrays of their own
    (nothing else sees them) are its next iteration's to update in place."""
    kept = [j for j in ctx.owned if j < len(own)]
    _assign(ctx, [own[j] for j in kept], [carry[j] for j in kept], indent)


def _donate(own, offset):
    return {offset + j: name for j, name in enumerate(own)}


def _cond_lowering(ctx, eqn, ins, outs, indent):
    branches = eqn.params["branches"]
    i = ctx.fresh("i")
    ctx.emit(f"{i} = int({ins[0]})", indent)
    for k, branch in enumerate(branches):
        if k == len(branches) - 1:
            ctx.emit("else:", indent)
        else:
            ctx.emit(f"{'if' if k == 0 else 'elif'} {i} == {k}:", indent)
        results = ctx.lower_jaxpr(branch, ins[1:], indent + 1)
        _assign(ctx, outs, results, indent + 1)
        if not outs:
            ctx.emit("pass", indent + 1)


cond_p.lowering = _cond_lowering


def _cond_jvp(primals, tangents, branches):
    index, ops = primals[0], primals[1:]
    nz = [t is not None for t in tangents[1:]]
    out_nz = [False] * len(branches[0].out_avals)
    for br in branches:
        out_nz = [a or b for a, b in zip(out_nz, jvp_jaxpr(br, nz, False)[1])]
    jbranches = tuple(jvp_jaxpr(br, nz, out_nz)[0] for br in branches)
    outs = cond_p.bind(index, *ops, *[t for t in tangents[1:] if t is not None],
                       branches=jbranches)
    n = len(branches[0].out_avals)
    t_iter = iter(outs[n:])
    return outs[:n], [next(t_iter) if z else None for z in out_nz]


def _cond_vjp(primals, needs, branches):
    index, ops = primals[0], primals[1:]
    diff = tuple(wanted(needs[1:], ops))
    n_ops = len(ops)
    parts = [_loop_vjp_parts(br, n_ops, diff, hoist=False) for br in branches]
    # every branch returns the same residual slots (others' as zeros); slots shared by aval
    slots, layouts = [], []
    for p in parts:
        used, layout = set(), []
        for aval in p["iter_avals"]:
            k = next((s for s, a in enumerate(slots) if a == aval and s not in used), None)
            if k is None:
                k = len(slots)
                slots.append(aval)
            used.add(k)
            layout.append(k)
        layouts.append(layout)
    n_out = len(branches[0].out_avals)
    fwd_branches = tuple(_cond_fwd_branch(p, layout, slots, n_ops, n_out)
                         for p, layout in zip(parts, layouts))
    outs = cond_p.bind(index, *ops, branches=fwd_branches)
    primal_outs, res = outs[:n_out], outs[n_out:]
    out_inexact = parts[0]["out_inexact"]
    in_avals = branches[0].in_avals

    def backward(cts):
        cts = [ad.instantiate(c, o) for c, o, inx in zip(cts, primal_outs, out_inexact) if inx]
        bwd_branches = tuple(_cond_bwd_branch(p, layout, slots, diff, in_avals, n_ops)
                             for p, layout in zip(parts, layouts))
        got = iter(cond_p.bind(index, *ops, *res, *cts, branches=bwd_branches))
        return [None] + [next(got) if d else None for d in diff]
    return primal_outs, backward


def _cond_fwd_branch(parts, layout, slots, n_ops, n_out):
    from ...jit import _derived, _trace_closed
    fwd, pre = parts["fwd"], parts["pre"]

    def build():
        def f(*ops):
            hoisted = eval_jaxpr(pre.jaxpr, pre.consts, *ops)
            outs = eval_jaxpr(fwd.jaxpr, fwd.consts, *hoisted, *ops)
            res = [None] * len(slots)
            for k, r in zip(layout, outs[n_out:]):
                res[k] = r
            return outs[:n_out] + [r if r is not None else _zeros(a)
                                   for r, a in zip(res, slots)]
        return _trace_closed(f, pre.in_avals, "cond_fwd")
    return _derived(fwd, ("cond_fwd", tuple(layout), tuple(slots)), build)


def _cond_bwd_branch(parts, layout, slots, diff, in_avals, n_ops):
    from ...jit import _derived, _trace_closed
    pre = parts["pre"]

    def build():
        out_cts_avals = [a for a, inx in zip(parts["fwd"].out_avals, parts["out_inexact"])
                         if inx]
        body = _bwd_body_fn(parts, diff, in_avals, [], [], [i for i, d in enumerate(diff) if d],
                            0)

        def f(*args):
            ops, res_slots, cts = args[:n_ops], args[n_ops:n_ops + len(slots)], \
                args[n_ops + len(slots):]
            hoisted = eval_jaxpr(pre.jaxpr, pre.consts, *ops)
            return body(*hoisted, *ops, *[res_slots[k] for k in layout], *cts)
        return _trace_closed(f, list(in_avals) + list(slots) + out_cts_avals, "cond_bwd")
    return _derived(parts["bwd"], ("cond_bwd", tuple(layout), tuple(slots), tuple(diff)),
                    build)


@needs_axis
def _cond_batch(axis, vals, dims, branches):
    (index, *ops), (index_dim, *op_dims) = vals, dims
    batched = [d is not None for d in op_dims]
    ops = [v if d is None else to_front(v, d) for v, d in zip(ops, op_dims)]
    if index_dim is None:
        out_b = [False] * len(branches[0].out_avals)
        for br in branches:
            out_b = [a or b for a, b in zip(out_b, batch_jaxpr(br, axis, batched)[1])]
        bbranches = tuple(batch_jaxpr(br, axis, batched, out_b)[0] for br in branches)
        outs = cond_p.bind(index, *ops, branches=bbranches)
        return outs, [0 if b else None for b in out_b]
    # a different branch per lane: run them all, then pick per lane
    index = to_front(index, index_dim)
    results = []
    for br in branches:
        bbr, _ = batch_jaxpr(br, axis, batched, True)
        results.append(eval_jaxpr(bbr.jaxpr, bbr.consts, *ops))
    outs = results[0]
    for k in range(1, len(branches)):
        pick = eq(index, dtype_of(index).type(k))
        outs = [_lane_select(pick, r, o) for r, o in zip(results[k], outs)]
    return outs, [0] * len(outs)


cond_p.jvp, cond_p.vjp, cond_p.batch = _cond_jvp, _cond_vjp, _cond_batch


def _scalar_operand(x, what, kind):
    x = _as_value(x, what)
    if shape_of(x) != ():
        raise TypeError(
            f"{what}: the {kind} must be a scalar (shape ()), got shape {shape_of(x)}. For an "
            "elementwise choice use fnp.where or ft.lax.select; inside ft.vmap a per-example "
            "scalar is fine.")
    return x


def _branches_call(index, branches, operands, what, names):
    """Trace the branches (called `names` in errors) on `operands` and bind `cond`."""
    leaves, tree = tree_flatten(tuple(operands))
    leaves = [_as_value(x, what) for x in leaves]
    avals = _leaf_avals(leaves)
    traced = [_trace(br, tree, avals, f"{what} {name}") for br, name in zip(branches, names)]
    out_tree, out_avals = traced[0][2], traced[0][0].out_avals
    for k, (closed, _, t) in enumerate(traced[1:], 1):
        if t != out_tree:
            raise TypeError(f"{what}: {names[0]} returns structure {out_tree} but {names[k]} "
                            f"returns {t}; all branches must return the same structure")
        for path, a, b in zip(_path_names(t), out_avals, closed.out_avals):
            if a.shape != b.shape or a.dtype != b.dtype:
                raise TypeError(f"{what}: the branches differ at output{path}: {names[0]} "
                                f"returns {a.str_short()} but {names[k]} returns "
                                f"{b.str_short()}; branches must agree in shape and dtype")
    # every branch takes the values any branch closes over, then the operands
    consts, const_ids = [], {}
    for _, hoisted, _ in traced:
        for h in hoisted:
            if id(h) not in const_ids:
                const_ids[id(h)] = len(consts)
                consts.append(h)
    jaxprs = []
    for closed, hoisted, _ in traced:
        j = closed.jaxpr
        own = dict(zip((id(h) for h in hoisted), j.invars[:len(hoisted)]))
        invars = [own.get(id(c)) or Var(get_aval(c).strip_weak()) for c in consts]
        jaxprs.append(ClosedJaxpr(Jaxpr(j.constvars, invars + j.invars[len(hoisted):],
                                        j.outvars, j.eqns), closed.consts))
    outs = cond_p.bind(index, *consts, *leaves, branches=tuple(jaxprs))
    return tree_unflatten(out_tree, outs)


def cond(pred, true_fun, false_fun, *operands):
    """`true_fun(*operands)` if `pred` else `false_fun(*operands)`.

    With a concrete `pred` this is a Python `if`. With a traced one (under jit) both branches
    are traced and the choice happens at run time; under vmap with a per-example `pred`, both
    run and each example picks its result. The branches must return the same structure,
    shapes and dtypes.
    """
    pred = _scalar_operand(pred, "cond", "predicate")
    if is_concrete(pred):
        return (true_fun if bool(concrete_value(pred)) else false_fun)(*operands)
    index = convert_element_type(convert_element_type(pred, np.bool_), np.int32)
    return _branches_call(index, (false_fun, true_fun), operands, "cond",
                          ("false_fun", "true_fun"))


def switch(index, branches, *operands):
    """`branches[index](*operands)`, with `index` clamped to `[0, len(branches) - 1]`."""
    branches = tuple(branches)
    if not branches:
        raise ValueError("switch: needs at least one branch")
    index = _scalar_operand(index, "switch", "index")
    if not dtypes.is_integer(dtype_of(index)):
        raise TypeError(f"switch: the index must be an integer, got {dtype_of(index)}")
    if is_concrete(index):
        k = min(max(int(concrete_value(index)), 0), len(branches) - 1)
        return branches[k](*operands)
    index = convert_element_type(index, np.int32)
    index = lax_min(lax_max(index, np.int32(0)), np.int32(len(branches) - 1))
    return _branches_call(index, branches, operands, "switch",
                          [f"branches[{k}]" for k in range(len(branches))])


# =================================================================== while
def _while_aval(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    return [a.strip_weak() for a in body_jaxpr.out_avals]


while_p = _control_primitive("while", _while_aval)


def _while_parts(ins, params):
    nc, nb = params["cond_nconsts"], params["body_nconsts"]
    return ins[:nc], ins[nc:nc + nb], ins[nc + nb:]


def _emit_while(ctx, cond_jaxpr, body_jaxpr, cconsts, bconsts, init, indent, on_iter=None):
    """`while cond(carry): carry = body(carry)`; returns the carry names. `on_iter(extra,
    indent)` is called with the body's outputs beyond the carry."""
    carry = [ctx.fresh("carry") for _ in init]
    _assign(ctx, carry, init, indent)
    own = _owners(ctx, len(carry), indent)
    ctx.emit("while True:", indent)
    pred, = ctx.lower_jaxpr(cond_jaxpr, list(cconsts) + carry, indent + 1)
    ctx.emit(f"if not {pred}:", indent + 1)
    ctx.emit("break", indent + 2)
    new = ctx.lower_jaxpr(body_jaxpr, list(bconsts) + carry, indent + 1,
                          _donate(own, len(bconsts)))
    if on_iter is not None:
        on_iter(new[len(carry):], indent + 1)
    _assign(ctx, carry, new[:len(carry)], indent + 1)
    _keep_owned(ctx, own, carry, indent + 1)
    return carry


def _while_lowering(ctx, eqn, ins, outs, indent):
    p = eqn.params
    cconsts, bconsts, init = _while_parts(ins, p)
    carry = _emit_while(ctx, p["cond_jaxpr"], p["body_jaxpr"], cconsts, bconsts, init, indent)
    _assign(ctx, outs, carry, indent)


while_p.lowering = _while_lowering


def _carry_tangents(body, const_nz, carry_nz, rest_nz=()):
    """The carries whose tangents are nonzero in some iteration (a fixed point)."""
    carry_nz = list(carry_nz)
    nk = len(carry_nz)
    while True:
        _, out_nz = jvp_jaxpr(body, list(const_nz) + carry_nz + list(rest_nz), False)
        new = [a or b for a, b in zip(carry_nz, out_nz[:nk])]
        if new == carry_nz:
            return carry_nz
        carry_nz = new


def _while_jvp(primals, tangents, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    params = dict(cond_nconsts=cond_nconsts, body_nconsts=body_nconsts)
    cc, bc, init = _while_parts(primals, params)
    _, bc_t, init_t = _while_parts(tangents, params)
    bc_nz = [t is not None for t in bc_t]
    carry_nz = _carry_tangents(body_jaxpr, bc_nz, [t is not None for t in init_t])
    if not any(carry_nz):
        return while_p.bind(*primals, cond_jaxpr=cond_jaxpr, body_jaxpr=body_jaxpr,
                            **params), [None] * len(init)
    new_cond, new_body, _ = _while_jvp_jaxprs(cond_jaxpr, body_jaxpr, bc_nz, carry_nz)
    init_dots = [t if t is not None else ad.zeros_like_aval(x)
                 for t, x, z in zip(init_t, init, carry_nz) if z]
    bc_dots = [t for t in bc_t if t is not None]
    outs = while_p.bind(*cc, *bc, *bc_dots, *init, *init_dots, cond_jaxpr=new_cond,
                        body_jaxpr=new_body, cond_nconsts=len(cc),
                        body_nconsts=len(bc) + len(bc_dots))
    n = len(init)
    t_iter = iter(outs[n:])
    return outs[:n], [next(t_iter) if z else None for z in carry_nz]


def _while_jvp_jaxprs(cond_jaxpr, body_jaxpr, bc_nz, carry_nz, n_extra_out=0,
                      extra_tangents=False):
    """The cond and body of the forward-mode loop: body consts `(bc, bc_dots)`, carry
    `(carry, carry_dots)`. The body's outputs beyond the carry (`n_extra_out`, a record's
    entries) come last, followed by their nonzero tangents if `extra_tangents`. Returns
    `(cond, body, extra_nonzeros)`."""
    nb, nk = len(bc_nz), len(carry_nz)
    jbody, out_nz = jvp_jaxpr(body_jaxpr, list(bc_nz) + list(carry_nz),
                              list(carry_nz) + [False] * n_extra_out)
    n_bdots, n_kdots = sum(bc_nz), sum(carry_nz)
    extra_nz = out_nz[nk:] if extra_tangents else [False] * n_extra_out
    # inputs: bc, carry, bc_dots, carry_dots -> bc, bc_dots, carry, carry_dots
    in_order = (list(range(nb)) + list(range(nb + nk, nb + nk + n_bdots)) +
                list(range(nb, nb + nk)) +
                list(range(nb + nk + n_bdots, nb + nk + n_bdots + n_kdots)))
    # outputs: carry, extra, carry_dots, extra_dots -> carry, carry_dots, extra, [extra_dots]
    n_out = nk + n_extra_out
    out_order = (list(range(nk)) + list(range(n_out, n_out + n_kdots)) +
                 list(range(nk, n_out)) +
                 list(range(n_out + n_kdots, n_out + n_kdots + sum(extra_nz))))
    new_body = _reorder(jbody, in_order, out_order)
    carry_dot_avals = [a for a, z in zip(body_jaxpr.in_avals[nb:], carry_nz) if z]
    new_cond = _with_unused_inputs(cond_jaxpr, carry_dot_avals)
    return new_cond, new_body, list(extra_nz)


def _while_vjp(primals, needs, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    params = dict(cond_nconsts=cond_nconsts, body_nconsts=body_nconsts)
    cc, bc, init = _while_parts(primals, params)
    _, bc_needs, _ = _while_parts(needs, params)
    diff = tuple(wanted(bc_needs, bc)) + tuple(_inexact(a) for a in body_jaxpr.in_avals[
        len(bc):])
    parts = _loop_vjp_parts(body_jaxpr, len(bc), diff)
    pre, fwd = parts["pre"], parts["fwd"]
    hoisted = eval_jaxpr(pre.jaxpr, pre.consts, *bc)
    saved = [*cc, *hoisted, *bc, *init]
    save = dict(cond_jaxpr=cond_jaxpr, body_jaxpr=fwd, cond_nconsts=len(cc),
                body_nconsts=len(hoisted) + len(bc))
    outs = while_save_p.bind(*saved, kind=RecordKind(parts["iter_avals"]), **save)
    carry_out, record = outs[:-1], outs[-1]
    inv_vals = list(hoisted) + list(bc)
    n_inv_in = len(bc)
    in_avals = body_jaxpr.in_avals
    ct_carry_idx = [n_inv_in + k for k, a in enumerate(in_avals[n_inv_in:]) if _inexact(a)]
    acc_idx = [i for i in range(n_inv_in) if diff[i]]

    def backward(cts):
        ct_final = [ad.instantiate(cts[i - n_inv_in], carry_out[i - n_inv_in])
                    for i in ct_carry_idx]
        acc0 = [ad.zeros_like_aval(bc[i]) for i in acc_idx]
        body = _replay_body(parts, diff, in_avals, n_inv_in, ct_carry_idx, acc_idx)
        got = reverse_replay_p.bind(record, *saved, *inv_vals, *ct_final, *acc0,
                                    body_jaxpr=body, num_consts=len(inv_vals),
                                    **_replay_save_params(save))
        ct_init, ct_bc = got[:len(ct_carry_idx)], got[len(ct_carry_idx):]
        result = [None] * len(primals)
        base = len(cc)
        for i, c in zip(acc_idx, ct_bc):
            result[base + i] = c
        for i, c in zip(ct_carry_idx, ct_init):
            result[base + i] = c
        return result
    return carry_out, backward


def _replay_body(parts, diff, in_avals, n_inv_in, ct_carry_idx, acc_idx):
    """The jaxpr of one backward step over a record entry."""
    from ...jit import _derived, _trace_closed

    def build():
        # the replay's layout: consts (invariant residuals), carry (carry cotangents and
        # accumulators), entry (this iteration's residuals)
        body = _bwd_body_fn(parts, diff, in_avals, ct_carry_idx, acc_idx, [],
                            len(in_avals) - n_inv_in)
        avals = (list(parts["inv_avals"]) + [in_avals[i] for i in ct_carry_idx] +
                 [in_avals[i] for i in acc_idx] + list(parts["iter_avals"]))
        return _trace_closed(body, avals, "while_bwd")
    return _derived(parts["bwd"], ("replay", tuple(diff), tuple(ct_carry_idx), tuple(acc_idx)),
                    build)


def _carry_batching(body, axis, const_b, carry_b, rest_b=()):
    """The carries batched in some iteration (a fixed point)."""
    carry_b = list(carry_b)
    nk = len(carry_b)
    while True:
        _, out_b = batch_jaxpr(body, axis, list(const_b) + carry_b + list(rest_b))
        new = [a or b for a, b in zip(carry_b, out_b[:nk])]
        if new == carry_b:
            return carry_b
        carry_b = new


def _batch_while_jaxprs(axis, cond_jaxpr, body_jaxpr, cc_b, bc_b, carry_b, n_extra_out=0):
    """Batched cond and body of a while loop. Returns `(cond, body, carry_b, masked,
    body_consts_from_cond)`: with a batched predicate (`masked`) all carries are batched, the
    cond is "any lane still running", the body freezes finished lanes and also takes the
    cond's consts (first) and returns the lane mask last."""
    carry_b = _carry_batching(body_jaxpr, axis, bc_b, carry_b)
    _, (pred_b,) = batch_jaxpr(cond_jaxpr, axis, list(cc_b) + carry_b)
    if pred_b:
        carry_b = [True] * len(carry_b)
    nk = len(carry_b)
    bcond, _ = batch_jaxpr(cond_jaxpr, axis, list(cc_b) + carry_b)
    bbody, _ = batch_jaxpr(body_jaxpr, axis, list(bc_b) + carry_b,
                           list(carry_b) + [True] * n_extra_out)
    if not pred_b:
        return bcond, bbody, carry_b, False
    from ...jit import _derived, _trace_closed
    ncc = len(cc_b)

    def build():
        def any_lane(*args):
            pred, = eval_jaxpr(bcond.jaxpr, bcond.consts, *args)
            return [reduce_or(pred)]

        def frozen_body(*args):
            cc, rest = args[:ncc], args[ncc:]
            carry = rest[len(rest) - nk:]
            pred, = eval_jaxpr(bcond.jaxpr, bcond.consts, *cc, *carry)
            outs = eval_jaxpr(bbody.jaxpr, bbody.consts, *rest)
            new = [_lane_select(pred, o, c) for o, c in zip(outs[:nk], carry)]
            return new + list(outs[nk:]) + [pred]
        return (_trace_closed(any_lane, bcond.in_avals, "while_cond"),
                _trace_closed(frozen_body, bcond.in_avals[:ncc] + bbody.in_avals,
                              "while_body"))
    new_cond, new_body = _derived(bbody, ("frozen", bcond, ncc), build)
    return new_cond, new_body, carry_b, True


@needs_axis
def _while_batch(axis, vals, dims, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    params = dict(cond_nconsts=cond_nconsts, body_nconsts=body_nconsts)
    cc, bc, init = _while_parts(vals, params)
    ccd, bcd, initd = _while_parts(dims, params)
    cc_b, bc_b = [d is not None for d in ccd], [d is not None for d in bcd]
    new_cond, new_body, carry_b, masked = _batch_while_jaxprs(
        axis, cond_jaxpr, body_jaxpr, cc_b, bc_b, [d is not None for d in initd])
    cc = _prepare(cc, ccd, cc_b, axis.size)
    bc = _prepare(bc, bcd, bc_b, axis.size)
    init = _prepare(init, initd, carry_b, axis.size)
    if masked:
        outs = while_p.bind(*cc, *cc, *bc, *init, cond_jaxpr=new_cond,
                            body_jaxpr=_drop_last_output(new_body), cond_nconsts=len(cc),
                            body_nconsts=len(cc) + len(bc))
    else:
        outs = while_p.bind(*cc, *bc, *init, cond_jaxpr=new_cond, body_jaxpr=new_body,
                            **params)
    return outs, [0 if b else None for b in carry_b]


def _drop_last_output(closed):
    j = closed.jaxpr
    jj, _ = dce_jaxpr(Jaxpr(j.constvars, j.invars, j.outvars[:-1], j.eqns))
    return ClosedJaxpr(jj, closed.consts)


while_p.jvp, while_p.vjp, while_p.batch = _while_jvp, _while_vjp, _while_batch


def while_loop(cond_fun, body_fun, init_val):
    """`val = init_val; while cond_fun(val): val = body_fun(val)`; returns `val`.

    Eagerly with a concrete predicate this is a Python loop. Under jit it is one staged loop
    (not unrolled), differentiable in forward and reverse mode (reverse mode keeps a record
    of every iteration). Under vmap with a per-example predicate it runs until every example
    is done; finished examples keep their value.
    """
    leaves, tree, avals = _carry_leaves(init_val, "while_loop")
    if not _staging():
        while True:
            val = tree_unflatten(tree, leaves)
            pred = _scalar_operand(cond_fun(val), "while_loop", "value of cond_fun")
            if not is_concrete(pred):
                break
            if not bool(concrete_value(pred)):
                return tree_unflatten(tree, _carry_arrays(leaves, avals))
            out, out_tree = tree_flatten(body_fun(val))
            out = [_as_value(x, "while_loop") for x in out]
            leaves, avals = _conform("while_loop", out, out_tree, avals, tree, "body_fun")
    return _while_call(cond_fun, body_fun, leaves, tree, avals)


def _while_call(cond_fun, body_fun, leaves, tree, avals):
    args_tree = tree_structure((tree_unflatten(tree, [0] * len(leaves)),))

    def trace_body(avals):
        box = {}

        def fix_carry(outs, out_tree):
            outs, box["avals"] = _conform("while_loop", outs, out_tree, avals, tree, "body_fun")
            return outs
        traced = _trace(body_fun, args_tree, avals, "while_loop body_fun", fix_carry)
        return traced, box["avals"]

    def fix_pred(outs, out_tree):
        if len(outs) != 1 or shape_of(outs[0]) != ():
            raise TypeError("while_loop: cond_fun must return a scalar boolean, got "
                            f"{[get_aval(o).str_short() for o in outs]}")
        return [convert_element_type(outs[0], np.bool_)]
    (body_closed, body_consts, _), avals = _settle_carry(trace_body, avals)
    cond_closed, cond_consts, _ = _trace(cond_fun, args_tree, avals, "while_loop cond_fun",
                                         fix_pred)
    outs = while_p.bind(*cond_consts, *body_consts,
                        *_carry_arrays(leaves, avals), cond_jaxpr=cond_closed,
                        body_jaxpr=body_closed, cond_nconsts=len(cond_consts),
                        body_nconsts=len(body_consts))
    return tree_unflatten(tree, outs)


# =================================================================== records of dynamic loops
class RecordKind:
    """What a `LoopRecord` holds per iteration: a tuple of arrays of `entries` avals. A record
    batched by vmap holds batched entries, plus the lanes' "still running" mask last when the
    trip count differed across lanes (`masked`); `unbatched` is the kind one vmap level in."""
    __slots__ = ("entries", "masked", "unbatched")

    def __init__(self, entries, masked=False, unbatched=None):
        self.entries, self.masked, self.unbatched = tuple(entries), masked, unbatched

    def _key(self):
        return (self.entries, self.masked, self.unbatched)

    def __eq__(self, other):
        return type(other) is RecordKind and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __str__(self):
        return f"record[{','.join(a.str_short() for a in self.entries)}]"

    __repr__ = __str__


class LoopRecord(OpaqueValue):
    """The per-iteration residuals of one run of a loop (appended by the forward loop, read
    backwards by the backward loop)."""
    __slots__ = ("aval", "entries")

    def __init__(self, kind):
        self.aval = OpaqueAval(kind)
        self.entries = []

    def __repr__(self):
        return f"LoopRecord({self.aval.kind}, {len(self.entries)} iterations)"


def _while_save_aval(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts, kind):
    n = len(args) - cond_nconsts - body_nconsts
    return [a.strip_weak() for a in body_jaxpr.out_avals[:n]] + [OpaqueAval(kind)]


while_save_p = _control_primitive("while_save", _while_save_aval)


def _while_save_lowering(ctx, eqn, ins, outs, indent):
    p = eqn.params
    cconsts, bconsts, init = _while_parts(ins, p)
    rec = outs[-1]
    ctx.emit(f"{rec} = {ctx.const(LoopRecord, 'LoopRecord')}({ctx.const(p['kind'], 'kind')})",
             indent)

    def save(extra, ind):
        comma = "," if len(extra) == 1 else ""
        ctx.emit(f"{rec}.entries.append(({', '.join(extra)}{comma}))", ind)
    carry = _emit_while(ctx, p["cond_jaxpr"], p["body_jaxpr"], cconsts, bconsts, init, indent,
                        save)
    _assign(ctx, outs[:-1], carry, indent)


while_save_p.lowering = _while_save_lowering


def _save_jvp(saved, saved_t, save, kind, entry_tangents):
    """Forward mode of a `while_save` on operands `saved` with tangents `saved_t`: the loop
    on `(carry, carry tangents)`; with `entry_tangents` the record also holds the entries'
    nonzero tangents (after the entries). Returns `(outputs: carry + record, carry tangents,
    new saved operands, new save params, entry nonzeros)`."""
    cc, bc, init = _while_parts(saved, save)
    _, bc_t, init_t = _while_parts(saved_t, save)
    n, n_entry = len(init), len(kind.entries)
    bc_nz = [t is not None for t in bc_t]
    carry_nz = _carry_tangents(_carry_only(save["body_jaxpr"], n), bc_nz,
                               [t is not None for t in init_t])
    if not any(carry_nz) and not (entry_tangents and any(bc_nz)):
        outs = while_save_p.bind(*saved, kind=kind, **save)
        return outs, [None] * n, saved, save, [False] * n_entry
    new_cond, new_body, entry_nz = _while_jvp_jaxprs(save["cond_jaxpr"], save["body_jaxpr"],
                                                     bc_nz, carry_nz, n_entry, entry_tangents)
    bc_dots = [t for t in bc_t if t is not None]
    init_dots = [t if t is not None else ad.zeros_like_aval(x)
                 for t, x, z in zip(init_t, init, carry_nz) if z]
    new_saved = [*cc, *bc, *bc_dots, *init, *init_dots]
    new_save = dict(cond_jaxpr=new_cond, body_jaxpr=new_body, cond_nconsts=len(cc),
                    body_nconsts=len(bc) + len(bc_dots))
    new_kind = RecordKind(list(kind.entries) +
                          [e for e, z in zip(kind.entries, entry_nz) if z])
    outs = while_save_p.bind(*new_saved, kind=new_kind, **new_save)
    dots = iter(outs[n:n + len(init_dots)])
    return (outs[:n] + [outs[-1]], [next(dots) if z else None for z in carry_nz], new_saved,
            new_save, entry_nz)


def _while_save_jvp(primals, tangents, kind, **save):
    outs, carry_t, _, _, _ = _save_jvp(primals, tangents, save, kind, False)
    return outs, carry_t + [None]


def _carry_only(body_jaxpr, n):
    j = body_jaxpr.jaxpr
    jj, _ = dce_jaxpr(Jaxpr(j.constvars, j.invars, j.outvars[:n], j.eqns))
    return ClosedJaxpr(jj, body_jaxpr.consts)


def _record_vjp(*args, **params):
    raise NotImplementedError(
        "reverse-mode differentiation of a reverse-mode derivative through a while_loop (or a "
        "fori_loop with a traced trip count) under jit is not supported. Alternatives: use "
        "forward-over-reverse (ft.hessian, ft.jacfwd(ft.grad(f)), ft.jvp of ft.grad); give the "
        "loop a static trip count (ft.lax.fori_loop with concrete bounds or ft.lax.scan), "
        "which supports every order; or differentiate eagerly (without jit), where the loop "
        "runs as Python.")


def _batch_save(axis, saved, dims, save, kind):
    """Batch a `while_save`: returns `(saved operands, save params, batched record kind,
    carries batched)`. The record's entries are all batched; with a per-lane trip count each
    entry ends with the lanes' "still running" mask."""
    cc, bc, init = _while_parts(saved, save)
    ccd, bcd, initd = _while_parts(dims, save)
    cc_b, bc_b = [d is not None for d in ccd], [d is not None for d in bcd]
    new_cond, new_body, carry_b, masked = _batch_while_jaxprs(
        axis, save["cond_jaxpr"], save["body_jaxpr"], cc_b, bc_b,
        [d is not None for d in initd], len(kind.entries))
    entries = [batching.batched_aval(a, axis.size) for a in kind.entries]
    if masked:
        entries.append(ShapedArray((axis.size,), np.bool_))
    cc = _prepare(cc, ccd, cc_b, axis.size)
    body_consts = (list(cc) if masked else []) + _prepare(bc, bcd, bc_b, axis.size)
    new_saved = [*cc, *body_consts, *_prepare(init, initd, carry_b, axis.size)]
    new_save = dict(cond_jaxpr=new_cond, body_jaxpr=new_body, cond_nconsts=len(cc),
                    body_nconsts=len(body_consts))
    return new_saved, new_save, RecordKind(entries, masked, kind), carry_b


@needs_axis
def _while_save_batch(axis, vals, dims, kind, **save):
    saved, save, bkind, carry_b = _batch_save(axis, vals, dims, save, kind)
    outs = while_save_p.bind(*saved, kind=bkind, **save)
    return outs, [0 if b else None for b in carry_b] + [0]


while_save_p.jvp, while_save_p.vjp, while_save_p.batch = (_while_save_jvp, _record_vjp,
                                                          _while_save_batch)


def _replay_aval(*args, body_jaxpr, **_):
    return [a.strip_weak() for a in body_jaxpr.out_avals]


reverse_replay_p = _control_primitive("reverse_replay", _replay_aval)


def _replay_save_params(save):
    """The params by which `reverse_replay` knows the `while_save` that made its record (its
    forward-mode rule runs that loop again, with tangents)."""
    return dict(save_cond=save["cond_jaxpr"], save_body=save["body_jaxpr"],
                save_cond_nconsts=save["cond_nconsts"], save_body_nconsts=save["body_nconsts"])


def _save_of_replay(params):
    return dict(cond_jaxpr=params["save_cond"], body_jaxpr=params["save_body"],
                cond_nconsts=params["save_cond_nconsts"],
                body_nconsts=params["save_body_nconsts"])


def _replay_parts(seq, num_consts, save_body, save_cond_nconsts, **_):
    """`(record, saved operands of the forward loop, consts, carry)` of a replay."""
    n_saved = save_cond_nconsts + len(save_body.in_avals)
    rest = seq[1 + n_saved:]
    return seq[0], seq[1:1 + n_saved], rest[:num_consts], rest[num_consts:]


def _replay_lowering(ctx, eqn, ins, outs, indent):
    p = eqn.params
    rec, _, consts, init = _replay_parts(ins, **p)
    body = p["body_jaxpr"]
    n_entry = len(body.in_avals) - len(consts) - len(init)
    carry = [ctx.fresh("carry") for _ in init]
    _assign(ctx, carry, init, indent)
    own = _owners(ctx, len(carry), indent)
    entry = [ctx.fresh("e") for _ in range(n_entry)]
    target = ", ".join(entry) + ("," if len(entry) == 1 else "")
    ctx.emit(f"for {target or '_'} in reversed({rec}.entries):", indent)
    new = ctx.lower_jaxpr(body, list(consts) + carry + entry, indent + 1,
                          _donate(own, len(consts)))
    _assign(ctx, carry, new, indent + 1)
    _keep_owned(ctx, own, carry, indent + 1)
    if not (carry or body.eqns):
        ctx.emit("pass", indent + 1)
    _assign(ctx, outs, carry, indent)


reverse_replay_p.lowering = _replay_lowering


def _replay_jvp(primals, tangents, body_jaxpr, num_consts, **save_params):
    record, saved, consts, init = _replay_parts(primals, num_consts, **save_params)
    _, saved_t, consts_t, init_t = _replay_parts(tangents, num_consts, **save_params)
    save = _save_of_replay(save_params)
    kind = get_aval(record).kind
    if any(t is not None for t in saved_t[save["cond_nconsts"]:]):
        # the entries' tangents: run the forward loop again, in forward mode
        outs, _, saved, save, entry_nz = _save_jvp(saved, saved_t, save, kind, True)
        record = outs[-1]
    else:
        entry_nz = [False] * len(kind.entries)
    c_nz = [t is not None for t in consts_t]
    carry_nz = _carry_tangents(body_jaxpr, c_nz, [t is not None for t in init_t], entry_nz)
    if not any(carry_nz):
        return reverse_replay_p.bind(*primals, body_jaxpr=body_jaxpr, num_consts=num_consts,
                                     **save_params), [None] * len(init)
    jbody, _ = jvp_jaxpr(body_jaxpr, c_nz + carry_nz + list(entry_nz), list(carry_nz))
    nc, nk, ne = num_consts, len(init), len(entry_nz)
    ncd, nkd, ned = sum(c_nz), sum(carry_nz), sum(entry_nz)
    n = nc + nk + ne
    # inputs: c, k, e, c', k', e' -> (c, c'), (k, k'), (e, e')
    in_order = (list(range(nc)) + list(range(n, n + ncd)) + list(range(nc, nc + nk)) +
                list(range(n + ncd, n + ncd + nkd)) + list(range(nc + nk, n)) +
                list(range(n + ncd + nkd, n + ncd + nkd + ned)))
    dots = [t if t is not None else ad.zeros_like_aval(x)
            for t, x, z in zip(init_t, init, carry_nz) if z]
    outs = reverse_replay_p.bind(record, *saved, *consts,
                                 *[t for t in consts_t if t is not None], *init, *dots,
                                 body_jaxpr=_reorder(jbody, in_order), num_consts=nc + ncd,
                                 **_replay_save_params(save))
    t_iter = iter(outs[nk:])
    return outs[:nk], [next(t_iter) if z else None for z in carry_nz]


@needs_axis
def _replay_batch(axis, vals, dims, body_jaxpr, num_consts, **save_params):
    record, saved, consts, init = _replay_parts(vals, num_consts, **save_params)
    rd, sd, cd, initd = _replay_parts(dims, num_consts, **save_params)
    save = _save_of_replay(save_params)
    if rd is not None:
        # the record was made by the batched forward loop: describe that loop
        saved, save, _, _ = _batch_save(axis, saved, sd, save, get_aval(record).kind.unbatched)
    c_b = [d is not None for d in cd]
    n_entry = len(body_jaxpr.in_avals) - num_consts - len(init)
    entry_b = [rd is not None] * n_entry
    carry_b = _carry_batching(body_jaxpr, axis, c_b, [d is not None for d in initd], entry_b)
    if rd is not None:
        carry_b = [True] * len(carry_b)
    bbody, _ = batch_jaxpr(body_jaxpr, axis, c_b + carry_b + entry_b, carry_b)
    if rd is not None and get_aval(record).kind.masked:
        bbody = _frozen_replay_body(bbody, num_consts, len(init), axis.size)
    consts = _prepare(consts, cd, c_b, axis.size)
    init = _prepare(init, initd, carry_b, axis.size)
    outs = reverse_replay_p.bind(record, *saved, *consts, *init, body_jaxpr=bbody,
                                 num_consts=num_consts, **_replay_save_params(save))
    return outs, [0 if b else None for b in carry_b]


def _frozen_replay_body(bbody, nc, nk, size):
    """A batched replay step that leaves unchanged the lanes that were not running (the
    entry's last part, the mask, is false there)."""
    from ...jit import _derived, _trace_closed

    def build():
        def frozen(*args):
            carry = args[nc:nc + nk]
            outs = eval_jaxpr(bbody.jaxpr, bbody.consts, *args[:-1])
            return [_lane_select(args[-1], o, c) for o, c in zip(outs, carry)]
        return _trace_closed(frozen, bbody.in_avals + [ShapedArray((size,), np.bool_)],
                             "replay")
    return _derived(bbody, ("frozen_replay", nc, nk), build)


reverse_replay_p.jvp, reverse_replay_p.vjp, reverse_replay_p.batch = (_replay_jvp, _record_vjp,
                                                                      _replay_batch)


# =================================================================== fori_loop
def fori_loop(lower, upper, body_fun, init_val):
    """`val = init_val; for i in range(lower, upper): val = body_fun(i, val)`; returns `val`.

    With concrete bounds this is a Python loop eagerly and a `scan` under jit (differentiable
    in every mode). With a traced bound it is a `while_loop` (reverse mode keeps a record of
    the iterations, so it works under jit without retracing for each trip count).
    """
    lower, upper = _as_value(lower, "fori_loop"), _as_value(upper, "fori_loop")
    for b, name in ((lower, "lower"), (upper, "upper")):
        if shape_of(b) != () or not dtypes.is_integer(dtype_of(b)):
            raise TypeError(f"fori_loop: {name} must be an integer scalar, got "
                            f"{get_aval(b).str_short()}")
    index_dtype = np.promote_types(dtype_of(lower), dtype_of(upper))
    if is_concrete(lower) and is_concrete(upper):
        lo, hi = int(concrete_value(lower)), int(concrete_value(upper))
        if not _staging():
            leaves, tree, avals = _carry_leaves(init_val, "fori_loop")
            for i in range(lo, hi):
                out, out_tree = tree_flatten(body_fun(_index(i, index_dtype, leaves),
                                                     tree_unflatten(tree, leaves)))
                out = [_as_value(x, "fori_loop") for x in out]
                leaves, avals = _conform("fori_loop", out, out_tree, avals, tree, "body_fun")
            return tree_unflatten(tree, _carry_arrays(leaves, avals))

        def step(carry, _):
            i, val = carry
            leaves, tree, avals = _carry_leaves(val, "fori_loop")
            out, out_tree = tree_flatten(body_fun(i, val))
            out, _ = _conform("fori_loop", [_as_value(x, "fori_loop") for x in out], out_tree,
                              avals, tree, "body_fun")
            return (add(i, index_dtype.type(1)), tree_unflatten(tree, out)), None
        (_, val), _ = scan(step, (_index(lo, index_dtype, init_val), init_val), None,
                           length=max(hi - lo, 0))
        return val
    lower = convert_element_type(lower, index_dtype)
    upper = convert_element_type(upper, index_dtype)

    def keep_going(carry):
        return lt(carry[0], carry[1])

    def step(carry):
        i, hi, val = carry
        return add(i, index_dtype.type(1)), hi, body_fun(i, val)
    return while_loop(keep_going, step, (lower, upper, init_val))[2]


def _index(i, dtype, carry):
    """The loop index `i` as an array where the carry's arrays live."""
    from ...primitives.shape_ops import constant
    leaves = [x for x in tree_flatten(carry)[0] if hasattr(x, "shape")]
    return constant(np.asarray(i, dtype), like=leaves[0] if leaves else None)


# =================================================================== scan
def _scan_aval(*args, jaxpr, length, reverse, num_consts, num_carry):
    outs = [a.strip_weak() for a in jaxpr.out_avals]
    return outs[:num_carry] + [ShapedArray((length,) + tuple(a.shape), a.dtype)
                               for a in outs[num_carry:]]


scan_p = _control_primitive("scan", _scan_aval)


def _scan_parts(seq, num_consts, num_carry):
    return seq[:num_consts], seq[num_consts:num_consts + num_carry], seq[num_consts + num_carry:]


def _scan_lowering(ctx, eqn, ins, outs, indent):
    p = eqn.params
    nc, nk, length = p["num_consts"], p["num_carry"], p["length"]
    consts, init, xs = _scan_parts(ins, nc, nk)
    carry = [ctx.fresh("carry") for _ in init]
    _assign(ctx, carry, init, indent)
    own = _owners(ctx, len(carry), indent)
    ys = outs[nk:]
    for y, v in zip(ys, eqn.outvars[nk:]):
        dt = ctx.const(v.aval.dtype, "dt")
        ctx.emit(f"{y} = xp.empty({tuple(v.aval.shape)!r}, dtype={dt})", indent)
    i = ctx.fresh("i")
    steps = f"range({length - 1}, -1, -1)" if p["reverse"] else f"range({length})"
    ctx.emit(f"for {i} in {steps}:", indent)
    x_names = [ctx.fresh("x") for _ in xs]
    for xn, x in zip(x_names, xs):
        ctx.emit(f"{xn} = {x}[{i}]", indent + 1)
    new = ctx.lower_jaxpr(p["jaxpr"], list(consts) + carry + x_names, indent + 1,
                          _donate(own, len(consts)))
    for y, r in zip(ys, new[nk:]):
        ctx.emit(f"{y}[{i}] = {r}", indent + 1)
    _assign(ctx, carry, new[:nk], indent + 1)
    _keep_owned(ctx, own, carry, indent + 1)
    if not (x_names or carry or ys or p["jaxpr"].eqns):
        ctx.emit("pass", indent + 1)
    _assign(ctx, outs[:nk], carry, indent)


scan_p.lowering = _scan_lowering


def _scan_jvp(primals, tangents, jaxpr, length, reverse, num_consts, num_carry):
    consts, init, xs = _scan_parts(primals, num_consts, num_carry)
    c_t, init_t, xs_t = _scan_parts(tangents, num_consts, num_carry)
    c_nz, xs_nz = [t is not None for t in c_t], [t is not None for t in xs_t]
    carry_nz = _carry_tangents(jaxpr, c_nz, [t is not None for t in init_t], xs_nz)
    nc, nk, nx = num_consts, num_carry, len(xs)
    ny = len(jaxpr.out_avals) - nk
    jbody, out_nz = jvp_jaxpr(jaxpr, c_nz + carry_nz + xs_nz, carry_nz + [False] * ny)
    ys_nz = out_nz[nk:]
    ncd, nkd, nxd = sum(c_nz), sum(carry_nz), sum(xs_nz)
    # inputs: c, k, x, c', k', x' -> c, c', k, k', x, x'
    n = nc + nk + nx
    in_order = (list(range(nc)) + list(range(n, n + ncd)) + list(range(nc, nc + nk)) +
                list(range(n + ncd, n + ncd + nkd)) + list(range(nc + nk, n)) +
                list(range(n + ncd + nkd, n + ncd + nkd + nxd)))
    # outputs: k, y, k', y' -> k, k', y, y'
    no = nk + ny
    nyd = sum(ys_nz)
    out_order = (list(range(nk)) + list(range(no, no + nkd)) + list(range(nk, no)) +
                 list(range(no + nkd, no + nkd + nyd)))
    body = _reorder(jbody, in_order, out_order)
    init_dots = [t if t is not None else ad.zeros_like_aval(x)
                 for t, x, z in zip(init_t, init, carry_nz) if z]
    outs = scan_p.bind(*consts, *[t for t in c_t if t is not None], *init, *init_dots, *xs,
                       *[t for t in xs_t if t is not None], jaxpr=body, length=length,
                       reverse=reverse, num_consts=nc + ncd, num_carry=nk + nkd)
    carry, carry_dots = outs[:nk], iter(outs[nk:nk + nkd])
    ys, ys_dots = outs[nk + nkd:nk + nkd + ny], iter(outs[nk + nkd + ny:])
    return (list(carry) + list(ys),
            [next(carry_dots) if z else None for z in carry_nz] +
            [next(ys_dots) if z else None for z in ys_nz])


def _scan_vjp(primals, needs, jaxpr, length, reverse, num_consts, num_carry):
    consts, init, xs = _scan_parts(primals, num_consts, num_carry)
    c_need, _, x_need = _scan_parts(needs, num_consts, num_carry)
    in_avals = jaxpr.in_avals
    nc, nk = num_consts, num_carry
    diff = (tuple(wanted(c_need, consts)) + tuple(_inexact(a) for a in in_avals[nc:nc + nk]) +
            tuple(wanted(x_need, xs)))
    parts = _loop_vjp_parts(jaxpr, nc, diff, n_carry=nk)
    pre, fwd = parts["pre"], parts["fwd"]
    hoisted = eval_jaxpr(pre.jaxpr, pre.consts, *consts)
    ny = len(jaxpr.out_avals) - nk
    outs = scan_p.bind(*hoisted, *consts, *init, *xs, jaxpr=fwd, length=length,
                       reverse=reverse, num_consts=len(hoisted) + nc, num_carry=nk)
    primal_outs, stacked_res = outs[:nk + ny], outs[nk + ny:]
    inv_vals = list(hoisted) + list(consts)
    ct_carry_idx = [nc + k for k in range(nk) if _inexact(in_avals[nc + k])]
    acc_idx = [i for i in range(nc) if diff[i]]
    x_idx = [i for i in range(nc + nk, len(in_avals)) if diff[i]]
    out_inexact = parts["out_inexact"]

    def backward(cts):
        ct_final = [ad.instantiate(cts[i - nc], primal_outs[i - nc]) for i in ct_carry_idx]
        acc0 = [ad.zeros_like_aval(consts[i]) for i in acc_idx]
        ct_ys = [ad.instantiate(c, o) for c, o, inx in
                 zip(cts[nk:], primal_outs[nk:], out_inexact[nk:]) if inx]
        body = _scan_bwd_body(parts, diff, in_avals, nc, ct_carry_idx, acc_idx, nk)
        x_res = [xs[k] for k in parts["x_res"]]
        got = scan_p.bind(*inv_vals, *ct_final, *acc0, *stacked_res, *x_res, *ct_ys, jaxpr=body,
                          length=length, reverse=not reverse, num_consts=len(inv_vals),
                          num_carry=len(ct_carry_idx) + len(acc_idx))
        n1, n2 = len(ct_carry_idx), len(ct_carry_idx) + len(acc_idx)
        result = [None] * len(primals)
        for i, c in zip(ct_carry_idx, got[:n1]):
            result[i] = c
        for i, c in zip(acc_idx, got[n1:n2]):
            result[i] = c
        for i, c in zip(x_idx, got[n2:]):
            result[i] = c
        return result
    return primal_outs, backward


def _scan_bwd_body(parts, diff, in_avals, nc, ct_carry_idx, acc_idx, nk):
    from ...jit import _derived, _trace_closed

    def build():
        x_idx = [i for i in range(nc + nk, len(in_avals)) if diff[i]]
        body = _bwd_body_fn(parts, diff, in_avals, ct_carry_idx, acc_idx, x_idx, nk)
        ct_y_avals = [a for a, inx in zip(parts["fwd"].out_avals[nk:], parts["out_inexact"][nk:])
                      if inx]
        avals = (list(parts["inv_avals"]) + [in_avals[i] for i in ct_carry_idx] +
                 [in_avals[i] for i in acc_idx] + list(parts["iter_avals"]) +
                 [in_avals[nc + nk + k] for k in parts["x_res"]] + ct_y_avals)
        return _trace_closed(body, avals, "scan_bwd")
    return _derived(parts["bwd"], ("scan_bwd", tuple(diff), tuple(ct_carry_idx),
                                   tuple(acc_idx)), build)


@needs_axis
def _scan_batch(axis, vals, dims, jaxpr, length, reverse, num_consts, num_carry):
    consts, init, xs = _scan_parts(vals, num_consts, num_carry)
    cd, initd, xsd = _scan_parts(dims, num_consts, num_carry)
    c_b, x_b = [d is not None for d in cd], [d is not None for d in xsd]
    carry_b = _carry_batching(jaxpr, axis, c_b, [d is not None for d in initd], x_b)
    ny = len(jaxpr.out_avals) - num_carry
    body, out_b = batch_jaxpr(jaxpr, axis, c_b + carry_b + x_b, carry_b + [False] * ny)
    consts = _prepare(consts, cd, c_b, axis.size)
    init = _prepare(init, initd, carry_b, axis.size)
    xs = [x if d is None else moveaxis(x, d, 1) for x, d in zip(xs, xsd)]
    outs = scan_p.bind(*consts, *init, *xs, jaxpr=body, length=length, reverse=reverse,
                       num_consts=num_consts, num_carry=num_carry)
    return outs, ([0 if b else None for b in carry_b] +
                  [1 if b else None for b in out_b[num_carry:]])


scan_p.jvp, scan_p.vjp, scan_p.batch = _scan_jvp, _scan_vjp, _scan_batch


def scan(f, init, xs=None, length=None, reverse=False):
    """Loop `f(carry, x) -> (carry, y)` over the leading axis of `xs`, returning the final
    carry and the `y`s stacked: like

        ys = []
        for x in xs: carry, y = f(carry, x); ys.append(y)
        return carry, stack(ys)

    `xs` is a pytree of arrays sharing their leading size (or None, with `length=`);
    `reverse=True` runs from the end. Eagerly this is that Python loop; under jit it is one
    staged loop, differentiable in every mode.
    """
    x_leaves, x_tree = tree_flatten(xs)
    x_leaves = [_as_value(x, "scan") for x in x_leaves]
    lengths = {shape_of(x)[0] if shape_of(x) else None for x in x_leaves}
    if None in lengths:
        raise TypeError("scan: every leaf of xs needs a leading axis to scan over; got a "
                        "scalar")
    if length is not None:
        lengths.add(int(length))
    if len(lengths) != 1:
        detail = ", ".join(f"{get_aval(x).str_short()}" for x in x_leaves)
        raise ValueError(f"scan: the leading axes of xs ({detail}) and length={length} must "
                         "agree")
    n = lengths.pop()
    c_leaves, c_tree, c_avals = _carry_leaves(init, "scan")
    x_avals = [ShapedArray(shape_of(x)[1:], dtype_of(x)) for x in x_leaves]
    if not _staging() and n > 0:
        ys = []
        for i in (range(n - 1, -1, -1) if reverse else range(n)):
            x = tree_unflatten(x_tree, [leaf[i] for leaf in x_leaves])
            carry, y = _split_pair(f(tree_unflatten(c_tree, c_leaves), x))
            out, out_tree = tree_flatten(carry)
            out = [_as_value(c, "scan") for c in out]
            c_leaves, c_avals = _conform("scan", out, out_tree, c_avals, c_tree, "f")
            ys.append(y)
        if reverse:
            ys.reverse()
        return tree_unflatten(c_tree, c_leaves), _stack_trees(ys)
    args_tree = tree_structure((tree_unflatten(c_tree, [0] * len(c_leaves)),
                                tree_unflatten(x_tree, [0] * len(x_leaves))))

    def trace_body(avals):
        box = {}

        def fix(outs, out_tree):
            new_carry, y = _split_pair(tree_unflatten(out_tree, outs))
            cl, ct = tree_flatten(new_carry)
            yl, box["y_tree"] = tree_flatten(y)
            cl, box["avals"] = _conform("scan", cl, ct, avals, c_tree, "f")
            return cl + [_as_value(v, "scan") for v in yl]
        closed, consts, _ = _trace(f, args_tree, list(avals) + x_avals, "scan f", fix)
        return (closed, consts, box["y_tree"]), box["avals"]
    (closed, consts, y_tree), c_avals = _settle_carry(trace_body, c_avals)
    outs = scan_p.bind(*consts, *_carry_arrays(c_leaves, c_avals), *x_leaves,
                       jaxpr=closed, length=n, reverse=reverse, num_consts=len(consts),
                       num_carry=len(c_leaves))
    nk = len(c_leaves)
    return tree_unflatten(c_tree, outs[:nk]), tree_unflatten(y_tree, outs[nk:])


def _split_pair(out):
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"scan: f must return a pair (carry, y), got {type(out).__name__}")
    return out


def _stack_trees(ys):
    from ...numpy import stack
    flat = [tree_flatten(y)[0] for y in ys]
    return tree_unflatten(tree_structure(ys[0]), [stack(column) for column in zip(*flat)])


def map(f, xs):
    """`stack([f(x) for x in xs])` over the leading axis of the pytree `xs` (a `scan`)."""
    return scan(lambda carry, x: (carry, f(x)), None, xs)[1]
