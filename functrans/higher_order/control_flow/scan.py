"""`scan` (and `map` on it): a body over a carry and the slices of stacked inputs,
stacking its outputs.

Run eagerly it is a Python loop. Under jit it binds the `scan` primitive, with its rules
beside it: forward mode (the carry and the outputs grow tangent parts), reverse mode (the
body split into a forward scan that stacks each iteration's residuals and a backward scan
running the other way), batching, and lowering to a Python `for` loop that writes each
output slice into a preallocated array.
"""
from __future__ import annotations

import functools
import numbers

from ... import dtypes
from ...core import (ShapedArray, eval_jaxpr, eval_jaxpr_on_raw, get_aval, staging_main,
                     on_operand_device)
from ...interpreters.ad import (dependent_outputs, jvp_jaxpr, inexact_aval, instantiate,
                                zeros_like_aval)
from ...interpreters.batching import batch_jaxpr, needs_axis
from ...interpreters.partial_eval import derived, trace_closed, dce_closed, StateUsed
from ...primitives._util import shape_of, dtype_of, wanted
from ...primitives.elementwise import convert_element_type
from ...primitives.shape_ops import moveaxis, concatenate, expand_dims
from ...tree_util import tree_flatten, tree_unflatten, tree_structure
from .common import (control_primitive, assign, owners, keep_owned, donate, carry_tangents,
                     carry_batching, loop_vjp_parts, bwd_body_fn, reorder, prepare_batched,
                     as_value, carry_leaves, carry_arrays, conform_carry, settle_carry,
                     trace_fn, check_unroll, eager_carry, stage_eagerly, traced, called_before,
                     note_failed, NEEDS_VALUES, KEPT_STAGING_MIN_LENGTH)


def _scan_aval(*args, jaxpr, length, reverse, num_consts, num_carry):
    outs = [a.strip_weak() for a in jaxpr.out_avals]
    return outs[:num_carry] + [ShapedArray((length,) + tuple(a.shape), a.dtype)
                               for a in outs[num_carry:]]


def _scan_parts(seq, num_consts, num_carry):
    return seq[:num_consts], seq[num_consts:num_consts + num_carry], seq[num_consts + num_carry:]


def _scan_impl(xp, *args, jaxpr, length, reverse, num_consts, num_carry):
    consts, carry, xs = _scan_parts(args, num_consts, num_carry)
    ys = [xp.empty((length,) + tuple(a.shape), a.dtype) for a in jaxpr.out_avals[num_carry:]]
    for i in (range(length - 1, -1, -1) if reverse else range(length)):
        outs = eval_jaxpr_on_raw(jaxpr.jaxpr, jaxpr.consts,
                                 [*consts, *carry, *[x[i] for x in xs]])
        carry = outs[:num_carry]
        for y, o in zip(ys, outs[num_carry:]):
            y[i] = o
    return list(carry) + ys


scan_p = control_primitive("scan", _scan_impl, _scan_aval, compiled_body="jaxpr")


def _scan_lowering(ctx, eqn, ins, outs, indent):
    p = eqn.params
    nc, nk, length = p["num_consts"], p["num_carry"], p["length"]
    consts, init, xs = _scan_parts(ins, nc, nk)
    carry = [ctx.fresh("carry") for _ in init]
    assign(ctx, carry, init, indent)
    own = owners(ctx, len(carry), indent)
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
                          donate(own, len(consts)))
    for y, r in zip(ys, new[nk:]):
        ctx.emit(f"{y}[{i}] = {r}", indent + 1)
    assign(ctx, carry, new[:nk], indent + 1)
    keep_owned(ctx, own, carry, indent + 1)
    if not (x_names or carry or ys or p["jaxpr"].eqns):
        ctx.emit("pass", indent + 1)
    assign(ctx, outs[:nk], carry, indent)


scan_p.lowering = _scan_lowering


def _scan_jvp(primals, tangents, jaxpr, length, reverse, num_consts, num_carry):
    consts, init, xs = _scan_parts(primals, num_consts, num_carry)
    c_t, init_t, xs_t = _scan_parts(tangents, num_consts, num_carry)
    c_nz, xs_nz = [t is not None for t in c_t], [t is not None for t in xs_t]
    carry_nz = carry_tangents(jaxpr, c_nz, [t is not None for t in init_t], xs_nz)
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
    body = reorder(jbody, in_order, out_order)
    init_dots = [t if t is not None else zeros_like_aval(x)
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
    diff = (tuple(wanted(c_need, consts)) + tuple(inexact_aval(a) for a in in_avals[nc:nc + nk]) +
            tuple(wanted(x_need, xs)))
    parts = loop_vjp_parts(jaxpr, nc, diff, n_carry=nk)
    pre, fwd = parts["pre"], parts["fwd"]
    hoisted = eval_jaxpr(pre.jaxpr, pre.consts, *consts)
    ny = len(jaxpr.out_avals) - nk
    outs = scan_p.bind(*hoisted, *consts, *init, *xs, jaxpr=fwd, length=length,
                       reverse=reverse, num_consts=len(hoisted) + nc, num_carry=nk)
    primal_outs, stacked_res = outs[:nk + ny], outs[nk + ny:]
    inv_vals = list(hoisted) + list(consts)
    ct_carry_idx = [nc + k for k in range(nk) if inexact_aval(in_avals[nc + k])]
    acc_idx = [i for i in range(nc) if diff[i]]
    x_idx = [i for i in range(nc + nk, len(in_avals)) if diff[i]]
    out_inexact = parts["out_inexact"]

    def backward(cts):
        ct_final = [instantiate(cts[i - nc], primal_outs[i - nc]) for i in ct_carry_idx]
        acc0 = [zeros_like_aval(consts[i]) for i in acc_idx]
        ct_ys = [instantiate(c, o) for c, o, inx in
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

    def build():
        x_idx = [i for i in range(nc + nk, len(in_avals)) if diff[i]]
        body = bwd_body_fn(parts, diff, in_avals, ct_carry_idx, acc_idx, x_idx, nk)
        ct_y_avals = [a for a, inx in zip(parts["fwd"].out_avals[nk:], parts["out_inexact"][nk:])
                      if inx]
        avals = (list(parts["inv_avals"]) + [in_avals[i] for i in ct_carry_idx] +
                 [in_avals[i] for i in acc_idx] + list(parts["iter_avals"]) +
                 [in_avals[nc + nk + k] for k in parts["x_res"]] + ct_y_avals)
        return trace_closed(body, avals, "scan_bwd")
    return derived(parts["bwd"], ("scan_bwd", tuple(diff), tuple(ct_carry_idx),
                                  tuple(acc_idx)), build)


@needs_axis
def _scan_batch(axis, vals, dims, jaxpr, length, reverse, num_consts, num_carry):
    consts, init, xs = _scan_parts(vals, num_consts, num_carry)
    cd, initd, xsd = _scan_parts(dims, num_consts, num_carry)
    c_b, x_b = [d is not None for d in cd], [d is not None for d in xsd]
    carry_b = carry_batching(jaxpr, axis, c_b, [d is not None for d in initd], x_b)
    ny = len(jaxpr.out_avals) - num_carry
    body, out_b = batch_jaxpr(jaxpr, axis, c_b + carry_b + x_b, carry_b + [False] * ny)
    consts = prepare_batched(consts, cd, c_b, axis.size)
    init = prepare_batched(init, initd, carry_b, axis.size)
    xs = [x if d is None else moveaxis(x, d, 1) for x, d in zip(xs, xsd)]
    outs = scan_p.bind(*consts, *init, *xs, jaxpr=body, length=length, reverse=reverse,
                       num_consts=num_consts, num_carry=num_carry)
    return outs, ([0 if b else None for b in carry_b] +
                  [1 if b else None for b in out_b[num_carry:]])


def _scan_dce(used_outputs, eqn):
    """Outputs stacked only where used; a carry stays where its final value is used or a
    kept output reads it (a fixed point: fori_loop's index, unused, goes); consts and xs the
    body no longer reads are dropped."""
    p = eqn.params
    nc, nk = p["num_consts"], p["num_carry"]
    carries = list(used_outputs[:nk])
    while True:
        body_used = carries + list(used_outputs[nk:])
        _, reads = dce_closed(p["jaxpr"], body_used)
        new = [c or r for c, r in zip(carries, reads[nc:nc + nk])]
        if new == carries:
            break
        carries = new
    keep = reads[:nc] + carries + reads[nc + nk:]
    body, _ = dce_closed(p["jaxpr"], body_used, keep)
    return eqn.replace(invars=[v for v, k in zip(eqn.invars, keep) if k],
                       outvars=[v for v, u in zip(eqn.outvars, body_used) if u],
                       params={**p, "jaxpr": body, "num_consts": sum(keep[:nc]),
                               "num_carry": sum(carries)})


def _scan_nonzero_outputs(needs, jaxpr, length, reverse, num_consts, num_carry):
    """Which outputs depend on the inputs flagged in `needs` (the carries' a fixed point)."""
    c_nz, k_nz, x_nz = _scan_parts(list(needs), num_consts, num_carry)
    carry_nz = carry_tangents(jaxpr, c_nz, k_nz, x_nz, structural=True)
    return carry_nz + dependent_outputs(jaxpr, c_nz + carry_nz + x_nz)[num_carry:]


scan_p.jvp, scan_p.vjp, scan_p.batch = _scan_jvp, _scan_vjp, _scan_batch
scan_p.nonzero_outputs = _scan_nonzero_outputs
scan_p.dce_rule = _scan_dce


@on_operand_device
def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """Loop `f(carry, x) -> (carry, y)` over the leading axis of `xs`, returning the final
    carry and the `y`s stacked: like

        ys = []
        for x in xs: carry, y = f(carry, x); ys.append(y)
        return carry, stack(ys)

    `xs` is a pytree of arrays sharing their leading size (or None, with `length=`);
    `reverse=True` runs from the end. It is one staged loop, differentiable in every mode;
    called outside jit it runs compiled, as under jit (`f` traced once), except that a short
    loop (under 8 steps; 2 once called so before), or one whose `f` needs concrete values
    or uses outer refs, runs as that Python loop. As in JAX, the trace of `f` is kept for
    later calls with the same function object and argument types (so `f` should not depend
    on Python state that changes between calls; see `control_flow.common.traced`).
    `unroll` (a positive int or a bool) is accepted for JAX's code and does not change the
    results.
    """
    check_unroll("scan", unroll)
    return scan_of(f, init, xs, length, reverse, (f, "scan"))


def scan_of(f, init, xs, length, reverse, owner):
    """`scan`, its traced body remembered for `owner = (function, tag)` (see `traced`): the
    user's function whose trace `f`'s is (fori_loop's `f` is a new wrapper per call)."""
    x_leaves, x_tree = tree_flatten(xs)
    x_leaves = [as_value(x, "scan") for x in x_leaves]
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
    c_leaves, c_tree, c_avals = carry_leaves(init, "scan")
    x_avals = [ShapedArray(shape_of(x)[1:], dtype_of(x)) for x in x_leaves]
    args_tree = tree_structure((tree_unflatten(c_tree, [0] * len(c_leaves)),
                                tree_unflatten(x_tree, [0] * len(x_leaves))))

    def trace_body(avals):
        box = {}

        def fix(outs, out_tree):
            new_carry, y = _split_pair(tree_unflatten(out_tree, outs))
            cl, ct = tree_flatten(new_carry)
            yl, box["y_tree"] = tree_flatten(y)
            cl, box["avals"] = conform_carry("scan", cl, ct, avals, c_tree, "f")
            return cl + [as_value(v, "scan") for v in yl]
        closed, consts, _ = trace_fn(f, args_tree, list(avals) + x_avals, "scan f", fix)
        return (closed, consts, box["y_tree"]), box["avals"]
    key = (owner[1], args_tree, tuple(c_avals), tuple(x_avals))
    settle = functools.partial(traced, owner[0], key,
                               functools.partial(settle_carry, trace_body, c_avals))
    eager = staging_main() is None and n > 0
    if eager and not stage_eagerly(n, n >= KEPT_STAGING_MIN_LENGTH and
                                   called_before(owner[0], key)):
        return _python_scan(f, settle, c_leaves, c_tree, c_avals, x_leaves, x_tree, n,
                            reverse)
    try:
        (closed, consts, y_tree), c_avals = settle()
    except (StateUsed,) + NEEDS_VALUES as e:
        if eager:       # a body needing concrete values, or using outer refs
            note_failed(owner[0], key)
            return _python_scan(f, settle, c_leaves, c_tree, c_avals, x_leaves, x_tree,
                                n, reverse)
        if not isinstance(e, StateUsed):
            raise
        return _scan_threaded(e.threaded("scan"), f, init, xs, n, reverse)
    outs = scan_p.bind(*consts, *carry_arrays(c_leaves, c_avals), *x_leaves,
                       jaxpr=closed, length=n, reverse=reverse, num_consts=len(consts),
                       num_carry=len(c_leaves))
    nk = len(c_leaves)
    return tree_unflatten(c_tree, outs[:nk]), tree_unflatten(y_tree, outs[nk:])


def _python_scan(f, settle, c_leaves, c_tree, c_avals, x_leaves, x_tree, n, reverse):
    """`scan` as a Python loop calling `f` on values."""
    c_leaves, c_avals = eager_carry(settle, c_leaves, c_avals)
    ys = []
    for i in (range(n - 1, -1, -1) if reverse else range(n)):
        x = tree_unflatten(x_tree, [leaf[i] for leaf in x_leaves])
        carry, y = _split_pair(f(tree_unflatten(c_tree, c_leaves), x))
        out, out_tree = tree_flatten(carry)
        out = [as_value(c, "scan") for c in out]
        c_leaves, c_avals = conform_carry("scan", out, out_tree, c_avals, c_tree, "f")
        ys.append(y)
    if reverse:
        ys.reverse()
    return tree_unflatten(c_tree, c_leaves), _stack_trees(ys)


def _scan_threaded(t, f, init, xs, length, reverse):
    """`scan` of an `f` that uses outer refs (`t`): the written ones ride in the carry."""
    def body(carry, x):
        (new, y), values = t.call(lambda: _split_pair(f(carry[0], x)), (), carry[1])
        return (new, values), y
    (carry, values), ys = scan(body, (init, t.initial), xs, length=length, reverse=reverse)
    t.write_back(values)
    return carry, ys


def _split_pair(out):
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"scan: f must return a pair (carry, y), got {type(out).__name__}")
    return out


def _stack_trees(ys):
    """The eager loop's outputs stacked; a leaf whose dtype changed as a weakly typed carry
    settled (1.0, then float64) takes the widest, as the staged scan gives."""
    flat = [tree_flatten(y)[0] for y in ys]

    def stack(column):
        column = [as_value(v, "scan") for v in column]
        dt = dtypes.result_type(*{dtype_of(v) for v in column})
        return concatenate([expand_dims(convert_element_type(v, dt), (0,)) for v in column], 0)
    return tree_unflatten(tree_structure(ys[0]), [stack(column) for column in zip(*flat)])


@on_operand_device
def map(f, xs, *, batch_size=None):
    """`stack([f(x) for x in xs])` over the leading axis of the pytree `xs` (a `scan`).
    `batch_size` (a positive int) is accepted for JAX's code; the results are the same."""
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
            batch_size, numbers.Integral) or batch_size < 1):
        raise TypeError(f"map: batch_size must be a positive int or None, got {batch_size!r}")
    return scan(lambda carry, x: (carry, f(x)), None, xs)[1]
