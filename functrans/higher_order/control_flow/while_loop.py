"""`while_loop` and the primitives of loops whose trip count is known only at run time.

Called outside jit, `while_loop` is a Python loop for its first iterations, then runs the
rest compiled as under jit (see `while_loop`). Otherwise it binds
`while` (a predicate jaxpr and a body jaxpr over a carry), with its rules beside it: forward
mode (the carry grows a tangent part), batching (a per-lane predicate runs the loop until
every lane is done, freezing finished lanes), lowering to a Python `while` in the generated
code, and reverse mode through two more primitives:

- `while_save`: the forward loop, appending each iteration's residuals to a `LoopRecord` (an
  opaque Python list, see `core.OpaqueValue`);
- `reverse_replay`: the backward loop, walking the record in reverse.

JAX refuses reverse mode here; the lowered code is Python, so it can keep the record.
"""
from __future__ import annotations

import functools

import numpy as np

from ...core import (OpaqueAval, OpaqueValue, ShapedArray, Tracer, get_aval, eval_jaxpr,
                     eval_jaxpr_on_raw, is_concrete, concrete_value, staging_main,
                     on_operand_device)
from ...jaxpr import Jaxpr, ClosedJaxpr
from ...interpreters.ad import jvp_jaxpr, inexact_aval, instantiate, zeros_like_aval
from ...interpreters.batching import batch_jaxpr, batched_aval, needs_axis
from ...interpreters.partial_eval import (dce_jaxpr, derived, trace_closed, StateUsed,
                                          StateJournal)
from ...primitives._util import shape_of, wanted
from ...primitives.elementwise import convert_element_type
from ...primitives.reductions import reduce_or
from ...tree_util import tree_flatten, tree_unflatten, tree_structure
from .common import (control_primitive, assign, owners, keep_owned, donate, carry_tangents,
                     carry_batching, loop_vjp_parts, bwd_body_fn, reorder, with_unused_inputs,
                     lane_select, prepare_batched, as_value, carry_leaves, carry_arrays,
                     conform_carry, settle_carry, trace_fn, scalar_operand, trace_carry_body,
                     eager_carry, trace_all, stage_eagerly, traced, called_before,
                     note_failed, NEEDS_VALUES,
                     EAGER_STAGING_MIN_LENGTH)


def _while_aval(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    return [a.strip_weak() for a in body_jaxpr.out_avals]


def _while_parts(ins, params):
    nc, nb = params["cond_nconsts"], params["body_nconsts"]
    return ins[:nc], ins[nc:nc + nb], ins[nc + nb:]


def _run_while(cond_jaxpr, body_jaxpr, cconsts, bconsts, carry, on_iter=None):
    """The loop run eagerly on raw values; `on_iter(extra)` gets the body's outputs beyond
    the carry after each iteration. Returns the final carry."""
    n = len(carry)
    while bool(eval_jaxpr_on_raw(cond_jaxpr.jaxpr, cond_jaxpr.consts, [*cconsts, *carry])[0]):
        outs = eval_jaxpr_on_raw(body_jaxpr.jaxpr, body_jaxpr.consts, [*bconsts, *carry])
        carry = outs[:n]
        if on_iter is not None:
            on_iter(outs[n:])
    return carry


def _while_impl(xp, *args, **params):
    cconsts, bconsts, init = _while_parts(args, params)
    return _run_while(params["cond_jaxpr"], params["body_jaxpr"], cconsts, bconsts, list(init))


while_p = control_primitive("while", _while_impl, _while_aval, compiled_body="body_jaxpr")


def _emit_while(ctx, cond_jaxpr, body_jaxpr, cconsts, bconsts, init, indent, on_iter=None):
    """`while cond(carry): carry = body(carry)`; returns the carry names. `on_iter(extra,
    indent)` is called with the body's outputs beyond the carry."""
    carry = [ctx.fresh("carry") for _ in init]
    assign(ctx, carry, init, indent)
    own = owners(ctx, len(carry), indent)
    ctx.emit("while True:", indent)
    pred, = ctx.lower_jaxpr(cond_jaxpr, list(cconsts) + carry, indent + 1)
    ctx.emit(f"if not {pred}:", indent + 1)
    ctx.emit("break", indent + 2)
    new = ctx.lower_jaxpr(body_jaxpr, list(bconsts) + carry, indent + 1,
                          donate(own, len(bconsts)))
    if on_iter is not None:
        on_iter(new[len(carry):], indent + 1)
    assign(ctx, carry, new[:len(carry)], indent + 1)
    keep_owned(ctx, own, carry, indent + 1)
    return carry


def _while_lowering(ctx, eqn, ins, outs, indent):
    p = eqn.params
    cconsts, bconsts, init = _while_parts(ins, p)
    carry = _emit_while(ctx, p["cond_jaxpr"], p["body_jaxpr"], cconsts, bconsts, init, indent)
    assign(ctx, outs, carry, indent)


while_p.lowering = _while_lowering


def _while_jvp(primals, tangents, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    params = dict(cond_nconsts=cond_nconsts, body_nconsts=body_nconsts)
    cc, bc, init = _while_parts(primals, params)
    _, bc_t, init_t = _while_parts(tangents, params)
    bc_nz = [t is not None for t in bc_t]
    carry_nz = carry_tangents(body_jaxpr, bc_nz, [t is not None for t in init_t])
    if not any(carry_nz):
        return while_p.bind(*primals, cond_jaxpr=cond_jaxpr, body_jaxpr=body_jaxpr,
                            **params), [None] * len(init)
    new_cond, new_body, _ = _while_jvp_jaxprs(cond_jaxpr, body_jaxpr, bc_nz, carry_nz)
    init_dots = [t if t is not None else zeros_like_aval(x)
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
    new_body = reorder(jbody, in_order, out_order)
    carry_dot_avals = [a for a, z in zip(body_jaxpr.in_avals[nb:], carry_nz) if z]
    new_cond = with_unused_inputs(cond_jaxpr, carry_dot_avals)
    return new_cond, new_body, list(extra_nz)


def _while_vjp(primals, needs, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    params = dict(cond_nconsts=cond_nconsts, body_nconsts=body_nconsts)
    cc, bc, init = _while_parts(primals, params)
    _, bc_needs, _ = _while_parts(needs, params)
    diff = tuple(wanted(bc_needs, bc)) + tuple(inexact_aval(a) for a in body_jaxpr.in_avals[
        len(bc):])
    parts = loop_vjp_parts(body_jaxpr, len(bc), diff)
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
    ct_carry_idx = [n_inv_in + k for k, a in enumerate(in_avals[n_inv_in:]) if inexact_aval(a)]
    acc_idx = [i for i in range(n_inv_in) if diff[i]]

    def backward(cts):
        ct_final = [instantiate(cts[i - n_inv_in], carry_out[i - n_inv_in])
                    for i in ct_carry_idx]
        acc0 = [zeros_like_aval(bc[i]) for i in acc_idx]
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

    def build():
        # the replay's layout: consts (invariant residuals), carry (carry cotangents and
        # accumulators), entry (this iteration's residuals)
        body = bwd_body_fn(parts, diff, in_avals, ct_carry_idx, acc_idx, [],
                           len(in_avals) - n_inv_in)
        avals = (list(parts["inv_avals"]) + [in_avals[i] for i in ct_carry_idx] +
                 [in_avals[i] for i in acc_idx] + list(parts["iter_avals"]))
        return trace_closed(body, avals, "while_bwd")
    return derived(parts["bwd"], ("replay", tuple(diff), tuple(ct_carry_idx), tuple(acc_idx)),
                   build)


def _batch_while_jaxprs(axis, cond_jaxpr, body_jaxpr, cc_b, bc_b, carry_b, n_extra_out=0):
    """Batched cond and body of a while loop. Returns `(cond, body, carry_b, masked,
    body_consts_from_cond)`: with a batched predicate (`masked`) all carries are batched, the
    cond is "any lane still running", the body freezes finished lanes and also takes the
    cond's consts (first) and returns the lane mask last."""
    carry_b = carry_batching(body_jaxpr, axis, bc_b, carry_b)
    _, (pred_b,) = batch_jaxpr(cond_jaxpr, axis, list(cc_b) + carry_b)
    if pred_b:
        carry_b = [True] * len(carry_b)
    nk = len(carry_b)
    bcond, _ = batch_jaxpr(cond_jaxpr, axis, list(cc_b) + carry_b)
    bbody, _ = batch_jaxpr(body_jaxpr, axis, list(bc_b) + carry_b,
                           list(carry_b) + [True] * n_extra_out)
    if not pred_b:
        return bcond, bbody, carry_b, False
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
            new = [lane_select(pred, o, c) for o, c in zip(outs[:nk], carry)]
            return new + list(outs[nk:]) + [pred]
        return (trace_closed(any_lane, bcond.in_avals, "while_cond"),
                trace_closed(frozen_body, bcond.in_avals[:ncc] + bbody.in_avals,
                             "while_body"))
    new_cond, new_body = derived(bbody, ("frozen", bcond, ncc), build)
    return new_cond, new_body, carry_b, True


@needs_axis
def _while_batch(axis, vals, dims, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    params = dict(cond_nconsts=cond_nconsts, body_nconsts=body_nconsts)
    cc, bc, init = _while_parts(vals, params)
    ccd, bcd, initd = _while_parts(dims, params)
    cc_b, bc_b = [d is not None for d in ccd], [d is not None for d in bcd]
    new_cond, new_body, carry_b, masked = _batch_while_jaxprs(
        axis, cond_jaxpr, body_jaxpr, cc_b, bc_b, [d is not None for d in initd])
    cc = prepare_batched(cc, ccd, cc_b, axis.size)
    bc = prepare_batched(bc, bcd, bc_b, axis.size)
    init = prepare_batched(init, initd, carry_b, axis.size)
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


def _while_nonzero_outputs(needs, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    """Which carries depend on the inputs flagged in `needs` (a fixed point)."""
    _, bc_nz, init_nz = _while_parts(list(needs), dict(cond_nconsts=cond_nconsts,
                                                       body_nconsts=body_nconsts))
    return carry_tangents(body_jaxpr, bc_nz, init_nz, structural=True)


while_p.jvp, while_p.vjp, while_p.batch = _while_jvp, _while_vjp, _while_batch
while_p.nonzero_outputs = _while_nonzero_outputs


@on_operand_device
def while_loop(cond_fun, body_fun, init_val):
    """`val = init_val; while cond_fun(val): val = body_fun(val)`; returns `val`.

    Under jit it is one staged loop (not unrolled), differentiable in forward and reverse
    mode (reverse mode keeps a record of every iteration). Called outside jit with a
    concrete predicate, its first `PYTHON_ITERATIONS` (8 when called so before: the
    functions' traces are kept, as in JAX) run in Python and the rest compiled, as
    under jit; it stays a Python loop where the functions need concrete values or use
    outer refs, for a carry or closure a transformation traces (eager `grad`: any order),
    in `disable_jit` and with NaN checks. Under vmap with a per-example predicate it runs
    until every example is done; finished examples keep their value.

    Refs (`ft.new_ref`) written by `cond_fun` keep the writes of the evaluations that return
    True, not of the last one, which ends the loop (as JAX); `cond_fun` and `body_fun` may
    not both write one Ref (NotImplementedError, as JAX).
    """
    leaves, tree, avals = carry_leaves(init_val, "while_loop")
    if staging_main() is None:
        leaves, avals = eager_carry(_settle(body_fun, tree, avals), leaves, avals)
        python_iterations = EAGER_STAGING_MIN_LENGTH if called_before(
            cond_fun, _cond_key(tree, avals)) else PYTHON_ITERATIONS
        with StateJournal() as loop:
            count = 0
            while True:
                if count == python_iterations and stage_eagerly(count):
                    rest = _compiled_rest(cond_fun, body_fun, leaves, tree, avals)
                    if rest is not _IN_PYTHON:
                        return rest
                count += 1
                val = tree_unflatten(tree, leaves)
                with StateJournal() as cond_writes:
                    pred = scalar_operand(cond_fun(val), "while_loop", "value of cond_fun")
                if not is_concrete(pred) or not bool(concrete_value(pred)):
                    cond_writes.undo()
                    if not is_concrete(pred):
                        break
                    return tree_unflatten(tree, carry_arrays(leaves, avals))
                with StateJournal() as body_writes:
                    out, out_tree = tree_flatten(body_fun(val))
                if any(r in body_writes.written for r in cond_writes.written):
                    loop.undo()
                    raise _written_by_both()
                out = [as_value(x, "while_loop") for x in out]
                leaves, avals = conform_carry("while_loop", out, out_tree, avals, tree,
                                              "body_fun")
    try:
        return _while_call(cond_fun, body_fun, leaves, tree, avals)
    except StateUsed as e:      # outer refs: the written ones ride in the carry
        t = e.threaded("while_loop")

        def body(c):            # cond_fun again, for the writes of an evaluation giving True
            _, values = t.call(cond_fun, (c[0],), c[1])
            out, finals = t.call(body_fun, (c[0],), values)
            if any(a is not b and b is not f for a, b, f in zip(c[1], values, finals)):
                raise _written_by_both()
            return out, finals
        val, values = while_loop(lambda c: t.call(cond_fun, (c[0],), c[1])[0], body,
                                 (tree_unflatten(tree, leaves), t.initial))
        t.write_back(values)
        return val


# a loop called outside jit runs this many iterations in Python before it compiles the rest:
# about what tracing and compiling the loop costs (~2 ms for a 5-operation body whose
# iteration takes ~40 us in Python), so a loop never takes much more than twice as long as
# the faster of the two ways; in a loop called so before (`called_before`: its traces are
# kept, or likely to be), only EAGER_STAGING_MIN_LENGTH iterations run in Python
PYTHON_ITERATIONS = 32
_IN_PYTHON = object()


def _compiled_rest(cond_fun, body_fun, leaves, tree, avals):
    """The loop from the carry `leaves` on, bound (and so run compiled), or `_IN_PYTHON`
    where it must go on in Python: the carry or what the functions close over is traced by
    a transformation, or the functions use refs or need concrete values."""
    if any(isinstance(x, Tracer) for x in leaves):
        return _IN_PYTHON
    try:
        return _while_call(cond_fun, body_fun, leaves, tree, avals, values_only=True)
    except (StateUsed,) + NEEDS_VALUES:
        note_failed(cond_fun, _cond_key(tree, avals))
        return _IN_PYTHON


def _written_by_both():
    return NotImplementedError("while_loop: cond_fun and body_fun both write one Ref, which "
                               "JAX does not support either; write it in only one of them")


def _settle(body_fun, tree, avals):
    """`settle_carry` of `body_fun` for the carry `tree` and `avals`, remembered (`traced`)."""
    return functools.partial(
        traced, body_fun, ("while_loop", tree, tuple(avals)),
        functools.partial(settle_carry, functools.partial(
            trace_carry_body, "while_loop", body_fun, tree), avals))


def _cond_key(tree, avals):
    """The key under which `cond_fun`'s trace is kept (`traced`) for the carry `tree`, `avals`."""
    return ("while_loop cond_fun", tree, tuple(avals))


def _fix_pred(outs, out_tree):
    if len(outs) != 1 or shape_of(outs[0]) != ():
        raise TypeError("while_loop: cond_fun must return a scalar boolean, got "
                        f"{[get_aval(o).str_short() for o in outs]}")
    return [convert_element_type(outs[0], np.bool_)]


def _while_call(cond_fun, body_fun, leaves, tree, avals, values_only=False):
    args_tree = tree_structure((tree_unflatten(tree, [0] * len(leaves)),))
    settled = avals

    def body():
        nonlocal settled
        body_traced, settled = _settle(body_fun, tree, avals)()
        return body_traced

    def cond():
        return traced(cond_fun, _cond_key(tree, settled), functools.partial(
            trace_fn, cond_fun, args_tree, settled, "while_loop cond_fun", _fix_pred))
    (body_closed, body_consts, _), (cond_closed, cond_consts, _) = trace_all(body, cond)
    avals = settled
    if values_only and any(isinstance(c, Tracer) for c in cond_consts + body_consts):
        return _IN_PYTHON
    outs = while_p.bind(*cond_consts, *body_consts,
                        *carry_arrays(leaves, avals), cond_jaxpr=cond_closed,
                        body_jaxpr=body_closed, cond_nconsts=len(cond_consts),
                        body_nconsts=len(body_consts))
    return tree_unflatten(tree, outs)


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


def _while_save_impl(xp, *args, kind, **save):
    cconsts, bconsts, init = _while_parts(args, save)
    record = LoopRecord(kind)
    carry = _run_while(save["cond_jaxpr"], save["body_jaxpr"], cconsts, bconsts, list(init),
                       lambda extra: record.entries.append(tuple(extra)))
    return carry + [record]


while_save_p = control_primitive("while_save", _while_save_impl, _while_save_aval)


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
    assign(ctx, outs[:-1], carry, indent)


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
    carry_nz = carry_tangents(_carry_only(save["body_jaxpr"], n), bc_nz,
                              [t is not None for t in init_t])
    if not any(carry_nz) and not (entry_tangents and any(bc_nz)):
        outs = while_save_p.bind(*saved, kind=kind, **save)
        return outs, [None] * n, saved, save, [False] * n_entry
    new_cond, new_body, entry_nz = _while_jvp_jaxprs(save["cond_jaxpr"], save["body_jaxpr"],
                                                     bc_nz, carry_nz, n_entry, entry_tangents)
    bc_dots = [t for t in bc_t if t is not None]
    init_dots = [t if t is not None else zeros_like_aval(x)
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
    entries = [batched_aval(a, axis.size) for a in kind.entries]
    if masked:
        entries.append(ShapedArray((axis.size,), np.bool_))
    cc = prepare_batched(cc, ccd, cc_b, axis.size)
    body_consts = (list(cc) if masked else []) + prepare_batched(bc, bcd, bc_b, axis.size)
    new_saved = [*cc, *body_consts, *prepare_batched(init, initd, carry_b, axis.size)]
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


def _replay_impl(xp, *args, body_jaxpr, num_consts, **save_params):
    record, _, consts, carry = _replay_parts(args, num_consts, **save_params)
    for entry in reversed(record.entries):
        carry = eval_jaxpr_on_raw(body_jaxpr.jaxpr, body_jaxpr.consts, [*consts, *carry, *entry])
    return list(carry)


reverse_replay_p = control_primitive("reverse_replay", _replay_impl, _replay_aval)


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
    assign(ctx, carry, init, indent)
    own = owners(ctx, len(carry), indent)
    entry = [ctx.fresh("e") for _ in range(n_entry)]
    target = ", ".join(entry) + ("," if len(entry) == 1 else "")
    ctx.emit(f"for {target or '_'} in reversed({rec}.entries):", indent)
    new = ctx.lower_jaxpr(body, list(consts) + carry + entry, indent + 1,
                          donate(own, len(consts)))
    assign(ctx, carry, new, indent + 1)
    keep_owned(ctx, own, carry, indent + 1)
    if not (carry or body.eqns):
        ctx.emit("pass", indent + 1)
    assign(ctx, outs, carry, indent)


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
    carry_nz = carry_tangents(body_jaxpr, c_nz, [t is not None for t in init_t], entry_nz)
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
    dots = [t if t is not None else zeros_like_aval(x)
            for t, x, z in zip(init_t, init, carry_nz) if z]
    outs = reverse_replay_p.bind(record, *saved, *consts,
                                 *[t for t in consts_t if t is not None], *init, *dots,
                                 body_jaxpr=reorder(jbody, in_order), num_consts=nc + ncd,
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
    carry_b = carry_batching(body_jaxpr, axis, c_b, [d is not None for d in initd], entry_b)
    if rd is not None:
        carry_b = [True] * len(carry_b)
    bbody, _ = batch_jaxpr(body_jaxpr, axis, c_b + carry_b + entry_b, carry_b)
    if rd is not None and get_aval(record).kind.masked:
        bbody = _frozen_replay_body(bbody, num_consts, len(init), axis.size)
    consts = prepare_batched(consts, cd, c_b, axis.size)
    init = prepare_batched(init, initd, carry_b, axis.size)
    outs = reverse_replay_p.bind(record, *saved, *consts, *init, body_jaxpr=bbody,
                                 num_consts=num_consts, **_replay_save_params(save))
    return outs, [0 if b else None for b in carry_b]


def _frozen_replay_body(bbody, nc, nk, size):
    """A batched replay step that leaves unchanged the lanes that were not running (the
    entry's last part, the mask, is false there)."""

    def build():
        def frozen(*args):
            carry = args[nc:nc + nk]
            outs = eval_jaxpr(bbody.jaxpr, bbody.consts, *args[:-1])
            return [lane_select(args[-1], o, c) for o, c in zip(outs, carry)]
        return trace_closed(frozen, bbody.in_avals + [ShapedArray((size,), np.bool_)],
                            "replay")
    return derived(bbody, ("frozen_replay", nc, nk), build)


reverse_replay_p.jvp, reverse_replay_p.vjp, reverse_replay_p.batch = (_replay_jvp, _record_vjp,
                                                                      _replay_batch)
