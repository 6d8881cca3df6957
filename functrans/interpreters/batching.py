"""Vectorization: `BatchTrace` maps a function over an axis by rewriting each primitive with
its batching rule, `rule(vals, dims, **params) -> (out, out_dim)`, where a dim of None means
the value is the same for every element of the batch. A rule with `rule.needs_axis = True`
also gets the `AxisData` (size and name) of the axis first: rules that batch a nested jaxpr
need it so that collectives inside (`ft.lax.psum`, …) see the right axis.

Named axes: `vmap(f, axis_name="i")` binds the name "i" while `f` runs. An `AxisPrimitive`
(a collective, or control flow whose bodies use one) is processed by the vmap of every name
it refers to even when none of its operands is batched there: its value is then the same in
every lane (`psum(x, "i")` of such an `x` is `x * size`).

An opaque value (`core.OpaqueValue`, e.g. a loop record) can be batched too: its batched form
knows its own layout, and its aval's kind gives, through `kind.unbatched`, the aval one
vmap level in.
"""
from __future__ import annotations

from ..core import (Trace, Tracer, Primitive, OpaqueAval, ShapedArray, ConcretizationError,
                    new_main, get_aval, eval_jaxpr, _state)
from ..primitives._util import shape_of
from ..primitives.shape_ops import moveaxis, broadcast_in_dim


class AxisData:
    """The axis a vmap maps over: its size and (optional) name."""
    __slots__ = ("size", "name")

    def __init__(self, size, name):
        self.size, self.name = size, name

    def __repr__(self):
        return f"AxisData(size={self.size}, name={self.name!r})"


class BatchTracer(Tracer):
    __slots__ = ("val", "bdim")

    def __init__(self, trace, val, bdim):
        self._trace = trace
        self.val = val
        self.bdim = bdim

    @property
    def aval(self):
        a = get_aval(self.val)
        if isinstance(a, OpaqueAval):
            return OpaqueAval(a.kind.unbatched)
        shape = list(a.shape)
        del shape[self.bdim]
        return ShapedArray(shape, a.dtype)

    def underlying(self):
        return self.val

    def concrete_value(self, why):
        raise ConcretizationError(
            f"{why} needs one concrete value, but under vmap this value differs across the "
            f"batch ({self.aval.str_short()} per example). Use fnp.where or ft.lax.cond / "
            "ft.lax.select, which vmap turns into elementwise selection, or ft.lax.while_loop, "
            "which vmap runs until every example is done.")


class BatchTrace(Trace):
    def process_primitive(self, prim, args, params):
        vals, dims = [], []
        for a in args:
            if type(a) is BatchTracer and a._trace is self:
                vals.append(a.val)
                dims.append(a.bdim)
            else:
                vals.append(a)
                dims.append(None)
        rule = prim.batch
        if rule is None:
            raise NotImplementedError(
                f"vmap of {prim.name} is not implemented (no batching rule); write the mapped "
                "computation with a Python loop and fnp.stack, or add the rule")
        if getattr(rule, "needs_axis", False):
            out, out_dim = rule(self.main.payload, vals, dims, **params)
        else:
            out, out_dim = rule(vals, dims, **params)
        if prim.multiple_results:
            return [o if d is None else BatchTracer(self, o, d) for o, d in zip(out, out_dim)]
        return out if out_dim is None else BatchTracer(self, out, out_dim)


def needs_axis(rule):
    """Mark a batching rule that takes the `AxisData` as its first argument."""
    rule.needs_axis = True
    return rule


# =================================================================== mapping a function
def vmap_flat(fun, args, in_dims, axis_size, out_dims, axis_name=None):
    """Map `fun` (flat list in, flat list out) over axis `in_dims[i]` of each argument (None:
    not mapped). `out_dims` gives each output's mapped axis (None: must not vary over the
    batch); it may instead be a function, called with the axes the outputs came out with (None
    where an output does not vary), that returns the wanted ones."""
    with new_main(BatchTrace, AxisData(axis_size, axis_name), "vmap") as main:
        trace = main.trace
        ins = [a if d is None else BatchTracer(trace, a, d) for a, d in zip(args, in_dims)]
        outs = fun(*ins)
        results = []
        for o in outs:
            if type(o) is BatchTracer and o._trace is trace:
                results.append((o.val, o.bdim))
            else:
                results.append((o, None))
        if callable(out_dims):
            out_dims = out_dims([d for _, d in results])
    final = []
    for i, ((val, d), od) in enumerate(zip(results, out_dims)):
        if od is None:
            if d is not None:
                raise ValueError(
                    f"vmap: output {i} varies across the batch but its out_axes is None; give "
                    "it a mapped out_axes (e.g. 0) or make it independent of the mapped inputs")
            final.append(val)
        elif d is None:
            final.append(broadcast_batched(val, axis_size, od))
        elif d == od:
            final.append(val)
        else:
            final.append(moveaxis(val, d, od))
    return final


def broadcast_batched(x, size, axis=0):
    """`x`, the same for every example, with a batch axis of `size` inserted at `axis`."""
    s = tuple(shape_of(x))
    axis = axis % (len(s) + 1)
    return broadcast_in_dim(x, s[:axis] + (size,) + s[axis:],
                            tuple(i for i in range(len(s) + 1) if i != axis))


def to_front(x, d):
    """`x` with its batch axis `d` (not None) moved to the front."""
    return x if d == 0 else moveaxis(x, d, 0)


def batched_aval(aval, size, val=None):
    """The aval of a value batched at axis 0 whose per-example aval is `aval` (a batched opaque
    value, `val`, knows its own)."""
    if isinstance(aval, OpaqueAval):
        return get_aval(val)
    return ShapedArray((size,) + tuple(aval.shape), aval.dtype)


# =================================================================== batching jaxprs
def batch_jaxpr(closed, axis, in_batched, force_out=False, in_avals=None):
    """The jaxpr `closed` mapped over a leading axis of `axis.size` for the inputs flagged in
    `in_batched`. Returns `(batched ClosedJaxpr, out_batched)`; an output is batched (at axis 0)
    if it varies over the batch or `force_out` (a bool or one per output) says so.
    `in_avals` overrides the batched inputs' avals (needed for opaque inputs). Cached on
    `closed`."""
    from ..jit import _derived, _trace_closed
    n_out = len(closed.out_avals)
    force = (force_out,) * n_out if isinstance(force_out, bool) else tuple(force_out)
    in_batched = tuple(in_batched)
    if in_avals is None:
        in_avals = [batched_aval(a, axis.size) if b else a
                    for a, b in zip(closed.in_avals, in_batched)]
    opaque = tuple(a for a in in_avals if isinstance(a, OpaqueAval))
    key = ("batch", axis.size, axis.name, in_batched, force, opaque)

    def build():
        box = {}

        def f(*args):
            def body(*xs):
                return eval_jaxpr(closed.jaxpr, closed.consts, *xs)

            def out_dims(dims):
                box["out"] = [d is not None or fo for d, fo in zip(dims, force)]
                return [0 if b else None for b in box["out"]]
            return vmap_flat(body, list(args), [0 if b else None for b in in_batched],
                             axis.size, out_dims, axis.name)
        batched = _trace_closed(f, list(in_avals), "vmap")
        return batched, box["out"]
    return _derived(closed, key, build)


def batch_call(prim, axis, vals, dims, jaxpr, **params):
    """Batch a call primitive (one carrying `jaxpr`): bind it on the batched jaxpr."""
    vals = [v if d is None else to_front(v, d) for v, d in zip(vals, dims)]
    batched = [d is not None for d in dims]
    in_avals = [batched_aval(a, axis.size, v) if b else a
                for a, b, v in zip(jaxpr.in_avals, batched, vals)]
    closed, out_batched = batch_jaxpr(jaxpr, axis, batched, in_avals=in_avals)
    outs = prim.bind(*vals, jaxpr=closed, **params)
    return outs, [0 if b else None for b in out_batched]


# =================================================================== named axes
def axis_frame(name):
    """The innermost active vmap binding the axis `name`, or None."""
    for main in reversed(_state.stack):
        if type(main.trace) is BatchTrace and main.payload.name == name:
            return main
    return None


def unbound_axis_error(name, what):
    bound = [m.payload.name for m in _state.stack
             if type(m.trace) is BatchTrace and m.payload.name is not None]
    have = f"the axis names bound here are {bound}" if bound else "no axis name is bound here"
    return NameError(
        f"{what} uses the axis name {name!r}, but {have}. Call it inside "
        f"ft.vmap(f, axis_name={name!r}) (collectives reduce over the examples of that vmap).")


def axis_env():
    """The named axes bound here, as `((name, size), ...)`: traced code that uses collectives
    depends on them, so jit's cache key includes them."""
    stack = _state.stack
    if len(stack) == 1:
        return ()
    return tuple((m.payload.name, m.payload.size) for m in stack
                 if type(m.trace) is BatchTrace and m.payload.name is not None)


def axis_size(name):
    """The size of the named axis of the innermost vmap binding it."""
    main = axis_frame(name)
    if main is None:
        raise unbound_axis_error(name, "axis_size")
    return main.payload.size


def jaxpr_axis_names(jaxpr):
    """The axis names the collectives in `jaxpr` (and the jaxprs nested in it) refer to."""
    from ..core import ClosedJaxpr
    j = jaxpr.jaxpr if isinstance(jaxpr, ClosedJaxpr) else jaxpr
    names = j.cache.get("axis_names")
    if names is None:
        found = set()
        for eqn in j.eqns:
            prim = eqn.primitive
            if isinstance(prim, AxisPrimitive):
                found.update(prim.axis_names(eqn.params))
            else:
                for sub in _param_jaxprs(eqn.params):
                    found.update(jaxpr_axis_names(sub))
        names = j.cache["axis_names"] = frozenset(found)
    return names


def _param_jaxprs(params):
    from ..core import _param_jaxprs as nested
    return nested(params)


class AxisPrimitive(Primitive):
    """A primitive whose meaning depends on named vmap axes: a collective (its `axis_name`
    param) or control flow whose nested jaxprs use one. `bind` hands it to the vmap of each
    name even when its operands are not batched there, and to an enclosing staging trace (jit)
    above that vmap, so that staged code stays valid for any axis size."""

    def axis_names(self, params):
        name = params.get("axis_name")
        if name is not None:
            return (name,)
        found = set()
        for sub in _param_jaxprs(params):
            found.update(jaxpr_axis_names(sub))
        return tuple(found)

    def bind(self, *args, **params):
        names = self.axis_names(params)
        if not names:
            return Primitive.bind(self, *args, **params)
        floor = None
        for name in names:
            main = axis_frame(name)
            if main is None:
                raise unbound_axis_error(name, self.name)
            if floor is None or main.level > floor.level:
                floor = main
        if _state.staging and _state.staging[-1].level > floor.level:
            floor = _state.staging[-1]
        if any(isinstance(a, Tracer) and a._trace.level >= floor.level for a in args):
            return Primitive.bind(self, *args, **params)   # the innermost trace among them
        return floor.trace.process_primitive(self, args, params)
