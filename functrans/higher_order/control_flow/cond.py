"""`cond` and `switch`: one of several branches, chosen by an index.

With a concrete predicate or index only the chosen branch runs (the others are traced to
check that they agree with it, as under jit). Otherwise (under jit, or with a
per-example predicate under vmap) the branches are traced and bound as the `cond` primitive,
whose rules are beside it: forward mode (every branch gets the tangents), reverse mode (each
branch split into a forward part returning residuals in shared slots and a backward part), a
per-lane predicate turned into running every branch and selecting per lane, and lowering to
an `if`/`elif` in the generated code.
"""
from __future__ import annotations

import functools

import numpy as np

from ... import dtypes
from ...core import (get_aval, eval_jaxpr, eval_jaxpr_on_raw, is_concrete, concrete_value,
                     on_operand_device, jit_disabled)
from ...jaxpr import Var, Jaxpr, ClosedJaxpr
from ...interpreters.ad import dependent_outputs, jvp_jaxpr, instantiate
from ...interpreters.batching import batch_jaxpr, needs_axis
from ...interpreters.partial_eval import derived, trace_closed, dce_closed, StateUsed
from ...primitives._util import dtype_of, wanted, moveaxis_to_front
from ...primitives.elementwise import eq, convert_element_type, max as lax_max, min as lax_min
from ...tree_util import tree_flatten, tree_unflatten
from .common import (control_primitive, assign, loop_vjp_parts, bwd_body_fn, zeros,
                     lane_select, as_value, leaf_avals, trace_fn, path_names, scalar_operand,
                     trace_all, traced)


def _cond_aval(index, *ops, branches):
    return [a.strip_weak() for a in branches[0].out_avals]


def _cond_impl(xp, index, *ops, branches):
    branch = branches[int(index)]
    return eval_jaxpr_on_raw(branch.jaxpr, branch.consts, ops)


cond_p = control_primitive("cond", _cond_impl, _cond_aval)


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
        assign(ctx, outs, results, indent + 1)
        if not outs:
            ctx.emit("pass", indent + 1)


cond_p.lowering = _cond_lowering


def _in_some_branch(branches, flags_of):
    """The outputs `flags_of(branch)` flags in some branch."""
    out = [False] * len(branches[0].out_avals)
    for br in branches:
        out = [a or b for a, b in zip(out, flags_of(br))]
    return out


def _cond_nonzero_outputs(needs, branches):
    """Which outputs depend on the operands flagged in `needs` (in some branch)."""
    return _in_some_branch(branches, lambda br: dependent_outputs(br, needs[1:]))


def _cond_jvp(primals, tangents, branches):
    index, ops = primals[0], primals[1:]
    nz = [t is not None for t in tangents]
    out_nz = _in_some_branch(branches, lambda br: jvp_jaxpr(br, nz[1:], False)[1])
    jbranches = tuple(jvp_jaxpr(br, nz[1:], out_nz)[0] for br in branches)
    outs = cond_p.bind(index, *ops, *[t for t in tangents[1:] if t is not None],
                       branches=jbranches)
    n = len(branches[0].out_avals)
    t_iter = iter(outs[n:])
    return outs[:n], [next(t_iter) if z else None for z in out_nz]


def _cond_vjp(primals, needs, branches):
    index, ops = primals[0], primals[1:]
    diff = tuple(wanted(needs[1:], ops))
    n_ops = len(ops)
    parts = [loop_vjp_parts(br, n_ops, diff, hoist=False) for br in branches]
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
        cts = [instantiate(c, o) for c, o, inx in zip(cts, primal_outs, out_inexact) if inx]
        bwd_branches = tuple(_cond_bwd_branch(p, layout, slots, diff, in_avals, n_ops)
                             for p, layout in zip(parts, layouts))
        got = iter(cond_p.bind(index, *ops, *res, *cts, branches=bwd_branches))
        return [None] + [next(got) if d else None for d in diff]
    return primal_outs, backward


def _cond_fwd_branch(parts, layout, slots, n_ops, n_out):
    fwd, pre = parts["fwd"], parts["pre"]

    def build():
        def f(*ops):
            hoisted = eval_jaxpr(pre.jaxpr, pre.consts, *ops)
            outs = eval_jaxpr(fwd.jaxpr, fwd.consts, *hoisted, *ops)
            res = [None] * len(slots)
            for k, r in zip(layout, outs[n_out:]):
                res[k] = r
            return outs[:n_out] + [r if r is not None else zeros(a)
                                   for r, a in zip(res, slots)]
        return trace_closed(f, pre.in_avals, "cond_fwd")
    return derived(fwd, ("cond_fwd", tuple(layout), tuple(slots)), build)


def _cond_bwd_branch(parts, layout, slots, diff, in_avals, n_ops):
    pre = parts["pre"]

    def build():
        out_cts_avals = [a for a, inx in zip(parts["fwd"].out_avals, parts["out_inexact"])
                         if inx]
        body = bwd_body_fn(parts, diff, in_avals, [], [], [i for i, d in enumerate(diff) if d],
                           0)

        def f(*args):
            ops, res_slots, cts = args[:n_ops], args[n_ops:n_ops + len(slots)], \
                args[n_ops + len(slots):]
            hoisted = eval_jaxpr(pre.jaxpr, pre.consts, *ops)
            return body(*hoisted, *ops, *[res_slots[k] for k in layout], *cts)
        return trace_closed(f, list(in_avals) + list(slots) + out_cts_avals, "cond_bwd")
    return derived(parts["bwd"], ("cond_bwd", tuple(layout), tuple(slots), tuple(diff)),
                   build)


@needs_axis
def _cond_batch(axis, vals, dims, branches):
    (index, *ops), (index_dim, *op_dims) = vals, dims
    batched = [d is not None for d in op_dims]
    ops = [v if d is None else moveaxis_to_front(v, d) for v, d in zip(ops, op_dims)]
    if index_dim is None:
        out_b = [False] * len(branches[0].out_avals)
        for br in branches:
            out_b = [a or b for a, b in zip(out_b, batch_jaxpr(br, axis, batched)[1])]
        bbranches = tuple(batch_jaxpr(br, axis, batched, out_b)[0] for br in branches)
        outs = cond_p.bind(index, *ops, branches=bbranches)
        return outs, [0 if b else None for b in out_b]
    # a different branch per lane: run them all, then pick per lane
    index = moveaxis_to_front(index, index_dim)
    results = []
    for br in branches:
        bbr, _ = batch_jaxpr(br, axis, batched, True)
        results.append(eval_jaxpr(bbr.jaxpr, bbr.consts, *ops))
    outs = results[0]
    for k in range(1, len(branches)):
        pick = eq(index, dtype_of(index).type(k))
        outs = [lane_select(pick, r, o) for r, o in zip(results[k], outs)]
    return outs, [0] * len(outs)


def _cond_dce(used_outputs, eqn):
    """Every branch computes only the used outputs; operands no branch reads are dropped."""
    branches = eqn.params["branches"]
    reads = [dce_closed(br, used_outputs)[1] for br in branches]
    used_ops = [any(r) for r in zip(*reads)]
    new = tuple(dce_closed(br, used_outputs, used_ops)[0] for br in branches)
    return eqn.replace(invars=eqn.invars[:1] + [v for v, u in zip(eqn.invars[1:], used_ops) if u],
                       outvars=[v for v, u in zip(eqn.outvars, used_outputs) if u],
                       params={"branches": new})


cond_p.jvp, cond_p.vjp, cond_p.batch = _cond_jvp, _cond_vjp, _cond_batch
cond_p.nonzero_outputs = _cond_nonzero_outputs
cond_p.dce_rule = _cond_dce


def _branches_call(index, branches, operands, what, names):
    """Trace the branches (called `names` in errors) on `operands` and bind `cond`."""
    try:
        return _bind_branches(index, branches, operands, what, names)
    except StateUsed as e:      # outer refs: the written ones are extra operands and outputs
        t = e.threaded(what)
        out, values = _branches_call(
            index, [functools.partial(t.call, br) for br in branches],
            (tuple(operands), t.initial), what, names)
        t.write_back(values)
        return out


def _bind_branches(index, branches, operands, what, names):
    leaves, tree = tree_flatten(tuple(operands))
    leaves = [as_value(x, what) for x in leaves]
    avals = leaf_avals(leaves)
    traced = trace_all(*[functools.partial(_trace_branch, br, tree, avals, f"{what} {name}")
                         for br, name in zip(branches, names)])
    out_tree = traced[0][2]
    for k, (closed, _, t) in enumerate(traced[1:], 1):
        _agree(what, (names[0], out_tree, traced[0][0].out_avals),
               (names[k], t, closed.out_avals))
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


def _trace_branch(branch, tree, avals, what, refs_ok=False):
    """`trace_fn` of a branch, remembered (`traced`)."""
    return traced(branch, ("branch", tree, tuple(avals), refs_ok), functools.partial(
        trace_fn, branch, tree, avals, what, refs_ok=refs_ok))


def _agree(what, a, b):
    """Raise unless branches `a` and `b` (each `(name, out_tree, out_avals)`) return the same
    structure, shapes and dtypes."""
    if a[1] != b[1]:
        raise TypeError(f"{what}: {a[0]} returns structure {a[1]} but {b[0]} returns {b[1]}; "
                        "all branches must return the same structure")
    for path, x, y in zip(path_names(a[1]), a[2], b[2]):
        if x.shape != y.shape or x.dtype != y.dtype:
            raise TypeError(f"{what}: the branches differ at output{path}: {a[0]} returns "
                            f"{x.str_short()} but {b[0]} returns {y.str_short()}; branches "
                            "must agree in shape and dtype")


def _run_one(k, branches, operands, what, names):
    """`branches[k](*operands)` on the operands as arrays (as under jit), the others traced
    (abstract: nothing computed) to check that they agree with it, as they must under jit;
    inside `disable_jit` only the branch taken runs, as JAX's."""
    leaves, tree = tree_flatten(tuple(operands))
    leaves = [as_value(x, what) for x in leaves]
    out = branches[k](*tree_unflatten(tree, leaves))
    out_leaves, out_tree = tree_flatten(out)
    out_leaves = [as_value(o, what) for o in out_leaves]      # arrays, as under jit
    ran = (names[k], out_tree, leaf_avals(out_leaves))
    for j, br in enumerate(branches):
        if j != k and not jit_disabled():
            closed, _, t = _trace_branch(br, tree, leaf_avals(leaves), f"{what} {names[j]}",
                                         refs_ok=True)
            _agree(what, ran, (names[j], t, closed.out_avals))
    return tree_unflatten(out_tree, out_leaves)


_NO_OPERAND = object()


def _with_operand(what, operands, operand):
    """The operands, given by position or (JAX's older form) as the one `operand=`."""
    if operand is _NO_OPERAND:
        return operands
    if operands:
        raise TypeError(f"{what}: pass the operands by position or as operand=, not both (got "
                        f"operand= and {len(operands)} positional operand(s))")
    return (operand,)


@on_operand_device
def cond(pred, true_fun, false_fun, *operands, operand=_NO_OPERAND):
    """`true_fun(*operands)` if `pred` else `false_fun(*operands)` (JAX's older
    `operand=x` stands for one operand `x`).

    With a concrete `pred` only the chosen branch runs (the other is traced, computing
    nothing, to check that the two agree). With a traced one (under jit) both branches are
    traced and the choice happens at run time; under vmap with a per-example `pred`, both
    run and each example picks its result. The branches must return the same structure,
    shapes and dtypes.
    """
    operands = _with_operand("cond", operands, operand)
    pred = scalar_operand(pred, "cond", "predicate")
    if is_concrete(pred):
        return _run_one(int(bool(concrete_value(pred))), (false_fun, true_fun), operands,
                        "cond", ("false_fun", "true_fun"))
    index = convert_element_type(convert_element_type(pred, np.bool_), np.int32)
    return _branches_call(index, (false_fun, true_fun), operands, "cond",
                          ("false_fun", "true_fun"))


@on_operand_device
def switch(index, branches, *operands, operand=_NO_OPERAND):
    """`branches[index](*operands)`, with `index` clamped to `[0, len(branches) - 1]` (JAX's
    older `operand=x` stands for one operand `x`)."""
    operands = _with_operand("switch", operands, operand)
    branches = tuple(branches)
    if not branches:
        raise ValueError("switch: needs at least one branch")
    index = scalar_operand(index, "switch", "index")
    if not dtypes.is_integer(dtype_of(index)):
        raise TypeError(f"switch: the index must be an integer, got {dtype_of(index)}")
    if is_concrete(index):
        k = min(max(int(concrete_value(index)), 0), len(branches) - 1)
        return _run_one(k, branches, operands, "switch",
                        [f"branches[{j}]" for j in range(len(branches))])
    index = convert_element_type(index, np.int32)
    index = lax_min(lax_max(index, np.int32(0)), np.int32(len(branches) - 1))
    return _branches_call(index, branches, operands, "switch",
                          [f"branches[{k}]" for k in range(len(branches))])
