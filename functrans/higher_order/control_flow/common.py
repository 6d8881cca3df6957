"""What the control-flow primitives share: turning carries and operands into arrays and
checking that bodies keep them, tracing bodies, reverse mode of a loop body (split into a
forward part saving residuals and a backward part using them, loop-invariant work hoisted),
batching helpers, and the pieces of the loops' generated code."""
from __future__ import annotations

import numbers
import threading
import weakref

from ...backends import default_device_now
from ...config import config
from ...core import (AxisPrimitive, Tracer, get_aval, is_python_scalar, eval_jaxpr,
                     jit_disabled, axis_env)
from ...errors import (ConcretizationError, TracerArrayConversionError,
                       NonConcreteBooleanIndexError)
from ...jaxpr import Var, Jaxpr, ClosedJaxpr
from ...interpreters.ad import dependent_outputs, jvp_jaxpr, vjp_split
from ...interpreters.batching import batch_jaxpr
from ...interpreters.partial_eval import (trace_to_jaxpr, dce_jaxpr, hoist_invariant, derived,
                                          StateUsed)
from ...primitives._util import shape_of, broadcast_batched, moveaxis_to_front
from ...primitives.conversion import asarray
from ...primitives.elementwise import select, add, convert_element_type
from ...primitives.shape_ops import broadcast_in_dim, full
from ...tree_util import (tree_flatten, tree_unflatten, tree_structure, keystr,
                          tree_flatten_with_path)


def check_unroll(what, unroll):
    """JAX's `unroll`: a positive int or a bool (it changes no result here)."""
    if not (isinstance(unroll, bool) or (isinstance(unroll, numbers.Integral) and unroll >= 1)):
        raise TypeError(f"{what}: unroll must be a positive int or a bool, got {unroll!r}")


def as_value(x, what):
    """`x` as an array (a tracer stays as it is); `what` names the caller in the error."""
    if isinstance(x, Tracer):
        return x
    try:
        return asarray(x)
    except Exception:
        raise TypeError(f"{what}: {type(x).__name__} is not an array; loop carries, operands "
                        "and results must be arrays or numbers (pytrees of them)") from None


def leaf_avals(leaves):
    """The strongly typed avals of `leaves`."""
    return [get_aval(x).strip_weak() for x in leaves]


def carry_leaves(val, what):
    """The leaves of a loop's initial carry and their avals: Python scalars stay weakly typed
    (their dtype follows what the body makes of them, as in JAX)."""
    leaves, tree = tree_flatten(val)
    leaves = [x if is_python_scalar(x) else as_value(x, what) for x in leaves]
    return leaves, tree, [get_aval(x) for x in leaves]


def carry_arrays(leaves, avals):
    """The carry's leaves as arrays, Python scalars converted to their settled dtype."""
    return [asarray(x, dtype=a.dtype) if is_python_scalar(x) else x
            for x, a in zip(leaves, avals)]


def path_names(tree):
    """The pytree path of each leaf of the structure `tree`, for error messages."""
    return [keystr(p) or "" for p, _ in
            tree_flatten_with_path(tree_unflatten(tree, [0] * tree.num_leaves))[0]]


def conform_carry(what, leaves, tree, avals, want_tree, where):
    """Results of a body (`leaves` with structure `tree`) made to match the carry (`avals`,
    `want_tree`). Returns `(leaves, avals)`: weakly typed results take the carry's dtype; a
    weakly typed carry takes the result's dtype; anything else that differs is an error
    naming the carry path."""
    if tree != want_tree:
        raise TypeError(f"{what}: {where} returns a carry with structure {tree}, but the carry "
                        f"has structure {want_tree}; it must keep the same structure")
    out, out_avals = [], []
    for k, (x, aval) in enumerate(zip(leaves, avals)):
        got = get_aval(x)
        if tuple(got.shape) != tuple(aval.shape):
            path = path_names(tree)[k]
            raise TypeError(f"{what}: {where} changes the shape of carry{path} from "
                            f"{aval.str_short()} to {got.str_short()}; loop carries keep their "
                            "shape and dtype")
        if aval.weak_type and not got.weak_type:
            aval = got.strip_weak()
        elif got.dtype != aval.dtype:
            if not got.weak_type:
                path = path_names(tree)[k]
                raise TypeError(
                    f"{what}: {where} changes the dtype of carry{path} from "
                    f"{aval.str_short()} to {got.str_short()}; loop carries keep their shape "
                    f"and dtype (cast with .astype({aval.dtype.name}), or start the carry "
                    "with that dtype)")
            x = convert_element_type(x, aval.dtype)
        out.append(x)
        out_avals.append(aval)
    return out, out_avals


def settle_carry(trace_body, avals):
    """`trace_body(avals) -> (result, carry_out_avals)`, retraced while a weakly typed carry
    comes out strongly typed (it then takes that type). Returns `(result, avals)`."""
    while True:
        result, out_avals = trace_body(avals)
        new = [o if a.weak_type and not o.weak_type else a for a, o in zip(avals, out_avals)]
        if new == avals:
            return result, avals
        avals = new


def trace_carry_body(what, body_fun, tree, avals, lead_avals=()):
    """Trace `body_fun(*lead, carry) -> carry` (the carry of structure `tree` and `avals`) to
    `((ClosedJaxpr, hoisted, out_tree), carry_out_avals)`, for `settle_carry`."""
    box = {}
    carry = tree_unflatten(tree, [0] * len(avals))
    args_tree = tree_structure((*[0] * len(lead_avals), carry))

    def fix_carry(outs, out_tree):
        outs, box["avals"] = conform_carry(what, outs, out_tree, avals, tree, "body_fun")
        return outs
    traced = trace_fn(body_fun, args_tree, list(lead_avals) + list(avals),
                      f"{what} body_fun", fix_carry)
    return traced, box["avals"]


def eager_carry(settle, leaves, avals):
    """The initial carry of a loop run in Python, as arrays for its body (as under jit, where
    it gets traced values): a Python scalar takes the dtype the body settles it to under jit
    (`settle() -> (traced body, avals)`, see `settle_carry`), or its default dtype when the
    body needs concrete values or uses outer refs. Returns `(leaves, avals)`."""
    if any(is_python_scalar(x) for x in leaves):
        try:
            _, avals = settle()
        except (ConcretizationError, StateUsed):
            pass
        leaves = carry_arrays(leaves, avals)
    return leaves, avals


# a loop called outside jit with at least this many iterations runs its body traced once and
# compiled (as JAX does), shorter ones in Python: the compilation (~10 ms for a 60-operation
# body) costs what 5 to 10 iterations of the body run operation by operation cost
EAGER_STAGING_MIN_LENGTH = 8

# what tracing a body that needs concrete values raises (it then runs in Python, eagerly)
NEEDS_VALUES = (ConcretizationError, TracerArrayConversionError, NonConcreteBooleanIndexError)


# ... or this many, when it has been called so before (`called_before`): its trace and
# compiled loop are then kept, and running it costs about what 1 or 2 iterations in Python cost
KEPT_STAGING_MIN_LENGTH = 2


def stage_eagerly(length, again=False):
    """Whether a loop of `length` iterations called outside jit is staged and compiled
    rather than run in Python (`again`: see `called_before`): not inside `disable_jit`,
    nor while NaN/infinity checks name the failing operation (the Python loop checks
    each)."""
    least = KEPT_STAGING_MIN_LENGTH if again else EAGER_STAGING_MIN_LENGTH
    return length >= least and not jit_disabled() and \
        not (config.debug_nans or config.debug_infs)


# the traced bodies of control flow, per function (held weakly) and per `traced` key
_TRACES = weakref.WeakKeyDictionary()
_TRACES_LOCK = threading.Lock()
TRACES_PER_FUNCTION = 32


def traced(fun, key, trace):
    """`trace()`, the traced body of the Python function `fun` (jaxprs, consts, trees, avals)
    for `key` (a tuple: the kind of body, the pytree structures and avals of its arguments,
    static parameters), remembered as JAX does: a loop or branch called again with the same
    function object and argument types is not traced again (nor its compiled loop built
    again, which is cached on the jaxpr). `fun` is held weakly (the entries go with it); a
    new function object, such as a new lambda or closure each call, is a new entry. The
    settings that change tracing, the named axes, the default device and `disable_jit` are
    part of the key. A trace that closes over values another transformation traces (eager
    `grad`, `vmap`), or that failed (outer refs, concrete values needed), is not kept.

    As in JAX, a body is assumed to depend only on its arguments and on what it closed over
    when first traced: one that reads Python state changed since (a global flag, a global
    array rebound, a closure cell reassigned) reruns what was traced then."""
    key = _in_context(key)
    try:
        entries = _TRACES.get(fun)
    except TypeError:           # neither hashable nor weakly referable: traced every time
        return trace()
    got = None if entries is None else entries.get(key)
    if got is None:
        got = trace()
        if not _holds_tracer(got):
            with _TRACES_LOCK:
                entries = _TRACES.get(fun)
                if entries is None:
                    entries = _TRACES[fun] = {}
                if len(entries) >= TRACES_PER_FUNCTION:
                    del entries[next(iter(entries))]
                entries[key] = got
    return got


def _in_context(key):
    return (key, axis_env(), config.trace_context(), default_device_now(), jit_disabled(),
            config.debug_nans, config.debug_infs)


# loops called outside jit, per function (held weakly) and `traced` key: whether tracing
# the function did not fail (see `called_before`)
_CALLS = weakref.WeakKeyDictionary()


def called_before(fun, key):
    """Whether a loop called outside jit with the function `fun` for the `traced` key `key`
    should run compiled although short: its trace is kept, or it was called so before and
    tracing it has not failed (`note_failed`), so that it is likely called again. Notes this
    call."""
    key = _in_context(key)
    try:
        entries = _TRACES.get(fun)
        if entries is not None and key in entries:
            return True
        calls = _CALLS.get(fun)
        if calls is None:
            with _TRACES_LOCK:
                calls = _CALLS.setdefault(fun, {})
    except TypeError:
        return False
    before = calls.get(key)
    if before is None:
        if len(calls) >= TRACES_PER_FUNCTION:
            calls.pop(next(iter(calls)), None)
        calls[key] = True
        return False
    return before


def note_failed(fun, key):
    """Tracing `fun` for `key` failed (it needs concrete values or uses outer refs):
    `called_before` answers False for it from now on."""
    try:
        calls = _CALLS.get(fun)
    except TypeError:
        return
    if calls is not None:
        calls[_in_context(key)] = False


def _holds_tracer(x):
    if isinstance(x, (tuple, list)):
        return any(_holds_tracer(v) for v in x)
    return isinstance(x, Tracer)


def trace_fn(fun, args_tree, in_avals, what, fix_out=None, refs_ok=False):
    """Trace `fun(*unflatten(args_tree, leaves))` to `(ClosedJaxpr, hoisted, out_tree)`;
    `fix_out(leaves, tree)` may adjust the flat results inside the trace. A trace that uses
    outer refs raises `StateUsed` (the caller binds its primitive again with them threaded
    through, see `functrans.ref.Threaded`), unless `refs_ok` (the jaxpr is only looked at:
    it may have their values as extra trailing inputs and outputs)."""
    box = {}
    states = []

    def flat(*leaves):
        out = fun(*tree_unflatten(args_tree, list(leaves)))
        outs, box["tree"] = tree_flatten(out)
        outs = [as_value(o, what) for o in outs]
        return fix_out(outs, box["tree"]) if fix_out else outs
    closed, hoisted = trace_to_jaxpr(flat, in_avals, name=what, states=states)
    if states and not refs_ok:
        raise StateUsed(states)
    return closed, hoisted, box["tree"]


def trace_all(*traces):
    """Call each of `traces` (functions of no arguments); if some use outer refs, one
    `StateUsed` for them all once every one has run (so that a rerun threads them all)."""
    results, used = [], []
    for t in traces:
        try:
            results.append(t())
        except StateUsed as e:
            used += e.states
    if used:
        raise StateUsed(used)
    return results


def reorder(closed, in_order=None, out_order=None):
    """`closed` with its inputs permuted and its outputs selected (by index lists)."""
    j = closed.jaxpr
    invars = j.invars if in_order is None else [j.invars[i] for i in in_order]
    outvars = j.outvars if out_order is None else [j.outvars[i] for i in out_order]
    jaxpr, _ = dce_jaxpr(Jaxpr(j.constvars, invars, outvars, j.eqns))
    return ClosedJaxpr(jaxpr, closed.consts)


def with_unused_inputs(closed, avals):
    """`closed` taking extra trailing inputs of `avals` that it ignores."""
    j = closed.jaxpr
    return ClosedJaxpr(Jaxpr(j.constvars, j.invars + [Var(a) for a in avals], j.outvars,
                             j.eqns), closed.consts)


# what runs a loop primitive on values as compiled code: `run(prim, args, params) -> outputs`,
# registered by the compiler (`functrans.compiler.loops`), which sits above this layer
_LOOP_RUNNER = [None]


def register_loop_runner(run):
    """Make `run(prim, args, params)` run the loop primitives that declare `compiled_body`
    when they are bound on values (outside jit), except inside `disable_jit` and while
    NaN/infinity checks are on (the primitive's own `impl` evaluates the jaxprs there,
    naming the operation that failed)."""
    _LOOP_RUNNER[0] = run


def control_primitive(name, impl, abstract_eval, compiled_body=None):
    """A control-flow primitive: it carries jaxprs, so it depends on the named axes they use;
    `impl` runs it eagerly (evaluating its jaxprs equation by equation). A loop names the
    param holding its body in `compiled_body`: run on values, it is then compiled by the
    runner the compiler registers (`register_loop_runner`), its program cached on that body."""
    p = AxisPrimitive(name, multiple_results=True)
    p.abstract_eval = abstract_eval
    p.compiled_body = compiled_body
    if compiled_body is None:
        p.impl = impl
        return p

    def run(xp, *args, **params):
        runner = _LOOP_RUNNER[0]
        if runner is None or jit_disabled() or config.debug_nans or config.debug_infs:
            return impl(xp, *args, **params)
        return runner(p, args, params)
    p.impl = run
    return p


def zeros(aval):
    """Zeros of `aval`'s shape and dtype."""
    return full(aval.shape, 0, aval.dtype)


def lane_select(pred, on_true, on_false):
    """Per lane (axis 0 of `pred`), `on_true` where `pred` holds, else `on_false`."""
    shape = shape_of(on_true)
    return select(broadcast_in_dim(pred, shape, (0,)), on_true, on_false)


def prepare_batched(vals, dims, batched, size):
    """Batched values moved to axis 0; values that must be batched but are not, broadcast."""
    out = []
    for v, d, b in zip(vals, dims, batched):
        if d is not None:
            out.append(moveaxis_to_front(v, d))
        elif b:
            out.append(broadcast_batched(v, None, size))
        else:
            out.append(v)
    return out


def scalar_operand(x, what, kind):
    """`x` as a scalar array (a predicate or index), or an error naming `what` and `kind`."""
    x = as_value(x, what)
    if shape_of(x) != ():
        raise TypeError(
            f"{what}: the {kind} must be a scalar (shape ()), got shape {shape_of(x)}. For an "
            "elementwise choice use fnp.where or ft.lax.select; inside ft.vmap a per-example "
            "scalar is fine.")
    return x


def carry_tangents(body, const_nz, carry_nz, rest_nz=(), *, structural=False):
    """The carries whose tangents are nonzero in some iteration (a fixed point); with
    `structural`, those that depend on the flagged inputs (`ad.dependent_outputs`: no
    derivative is traced)."""
    carry_nz = list(carry_nz)
    nk = len(carry_nz)
    while True:
        flags = list(const_nz) + carry_nz + list(rest_nz)
        out_nz = dependent_outputs(body, flags) if structural else \
            jvp_jaxpr(body, flags, False)[1]
        new = [a or b for a, b in zip(carry_nz, out_nz[:nk])]
        if new == carry_nz:
            return carry_nz
        carry_nz = new


def carry_batching(body, axis, const_b, carry_b, rest_b=()):
    """The carries batched in some iteration (a fixed point)."""
    carry_b = list(carry_b)
    nk = len(carry_b)
    while True:
        _, out_b = batch_jaxpr(body, axis, list(const_b) + carry_b + list(rest_b))
        new = [a or b for a, b in zip(carry_b, out_b[:nk])]
        if new == carry_b:
            return carry_b
        carry_b = new


def loop_vjp_parts(body, n_invariant, diff, hoist=True, n_carry=None):
    """Reverse mode of a loop body `body(invariant inputs, carry, xs) -> outputs` (for a
    scan, the `n_carry` inputs after the invariant ones are the carry, the rest slices of xs).

    Returns a dict: `pre` (invariant inputs -> hoisted values), `fwd` (hoisted, inputs ->
    outputs + per-iteration residuals), `bwd` (residuals + output cotangents -> cotangents of
    the `diff` inputs whose cotangents are not zero, see `ct_unknown`), and where each
    residual comes from: `res_src[i]` is ("inv", k) for the k-th of (hoisted values +
    invariant inputs), ("iter", k) for the k-th recorded one, ("x", k) for the slice of xs
    input `x_res[k]`."""

    def build():
        split = vjp_split(body, tuple(diff))
        n_out, n_known = split.n_out, split.n_known_cts
        pre, loop = hoist_invariant(split.fwd, n_invariant, hoist)
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
    return derived(body, ("loop_vjp", n_invariant, tuple(diff), hoist, n_carry), build)


def bwd_body_fn(parts, diff, in_avals, ct_carry_idx, acc_idx, fresh_idx, n_out_carry):
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
            return cts[i] if cts[i] is not None else zeros(in_avals[i])
        return ([ct(i) for i in ct_carry_idx] +
                [a if cts[i] is None else add(a, cts[i]) for a, i in zip(acc, acc_idx)] +
                [ct(i) for i in fresh_idx])
    return body


def assign(ctx, names, values, indent):
    """Generated code: `names = values` (nothing for no names)."""
    if names:
        comma = "," if len(names) == 1 else ""
        ctx.emit(f"{', '.join(names)}{comma} = {', '.join(values)}{comma}", indent)


def owners(ctx, n, indent):
    """Names for the carries' arrays a loop body may overwrite: None until an iteration has
    made a carry an array of its own (see `keep_owned`)."""
    own = [ctx.fresh("own") for _ in range(n)]
    assign(ctx, own, ["None"] * n, indent)
    return own


def keep_owned(ctx, own, carry, indent):
    """After lowering a body with `own` donated: the carries it made arrays of their own
    (nothing else sees them) are its next iteration's to update in place."""
    kept = [j for j in ctx.owned if j < len(own)]
    assign(ctx, [own[j] for j in kept], [carry[j] for j in kept], indent)


def donate(own, offset):
    """The `donated` map of `LoweringContext.lower_jaxpr` for carries at `offset`."""
    return {offset + j: name for j, name in enumerate(own)}
