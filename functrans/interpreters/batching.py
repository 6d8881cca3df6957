"""Vectorization: `BatchTrace` maps a function over an axis by rewriting each primitive with
its batching rule, `rule(vals, dims, **params) -> (out, out_dim)`, where a dim of None means
the value is the same for every element of the batch. A rule with `rule.needs_axis = True`
also gets the `AxisData` (size and name) of the axis first: rules that batch a nested jaxpr
need it so that collectives inside (`ft.lax.psum`, …) see the right axis.

Named axes: `vmap(f, axis_name="i")` binds the name "i" in the core's axis environment while
`f` runs (`core.bind_axis`); an `AxisPrimitive` (a collective, or control flow whose bodies use
one) is processed by the vmap of every name it refers to even when none of its operands is
batched there: its value is then the same in every lane (`psum(x, "i")` of such an `x` is
`x * size`).

A vmap may *span* ranks (`Span`: `pmap` maps each device's lanes this way): the axis then
continues in the same program running on the other ranks of a communicator, its size in the
axis environment is the lanes of all ranks together, and the collectives' batching rules
combine their own lanes first and then the ranks.

An opaque value (`core.OpaqueValue`, e.g. a loop record) can be batched too: its batched form
knows its own layout, and its aval's kind gives, through `kind.unbatched`, the aval one
vmap level in.
"""
from __future__ import annotations

import contextlib

from ..core import (Trace, Tracer, OpaqueAval, ShapedArray, new_main,
                    get_aval, eval_jaxpr, bind_axis)
from ..errors import ConcretizationTypeError
from ..primitives._util import broadcast_batched, moveaxis_to_front, shape_of
from ..primitives.shape_ops import expand_dims
from .partial_eval import derived, trace_closed
from .rule_registries import primitive_batchers, not_mapped

# the names of JAX's `jax.interpreters.batching` (the rest is functrans's own)
__all__ = ["primitive_batchers", "not_mapped", "defvectorized", "defbroadcasting"]


def defvectorized(prim):
    """Register the batching rule of a primitive that works on each element alone (one
    operand, or operands batched along the same axis): it is applied to the batched values
    as they are."""
    def batch(vals, dims, **params):
        dim = next((d for d in dims if d is not None), None)
        if any(d is not None and d != dim for d in dims):
            raise ValueError(f"the vectorized batching rule of {prim.name} needs its operands "
                             f"batched along the same axis, got batch axes {tuple(dims)}; "
                             "register a rule with batching.defbroadcasting(prim) or "
                             "batching.primitive_batchers[prim] = rule instead")
        out = prim.bind(*vals, **params)
        return out, [dim] * len(out) if prim.multiple_results else dim
    primitive_batchers[prim] = batch


def defbroadcasting(prim):
    """Register the batching rule of an elementwise primitive whose operands broadcast as in
    NumPy (its `def_impl` and `def_abstract_eval` rules broadcast them): the batch axes move
    to the front and unbatched operands get a leading axis of size 1."""
    def batch(vals, dims, **params):
        batched = [(shape_of(v), d) for v, d in zip(vals, dims) if d is not None]
        shape, dim = batched[0] if batched else ((), None)
        aligned = all(s == shape and d == dim for s, d in batched) and \
            all(d is not None or not shape_of(v) for v, d in zip(vals, dims))
        if aligned:             # batched alike, and unbatched scalars (or nothing batched)
            out = prim.bind(*vals, **params)
        else:
            ndim = max(len(shape_of(v)) + (d is None and len(shape_of(v)) > 0)
                       for v, d in zip(vals, dims))
            vals, dim = [_to_front(v, d, ndim) for v, d in zip(vals, dims)], 0
            out = prim.bind(*vals, **params)
        return out, [dim] * len(out) if prim.multiple_results else dim
    primitive_batchers[prim] = batch


def _to_front(x, bdim, ndim):
    """`x` with its batch axis first and as many dimensions as `ndim`: an unbatched `x`
    (not a scalar) gets a leading axis of size 1, a batched one of fewer dimensions trailing
    axes of size 1, so that NumPy broadcasting lines the batch axes up."""
    n = len(shape_of(x))
    if bdim is None:
        return x if n == 0 else expand_dims(x, (0,))
    x = moveaxis_to_front(x, bdim)
    return x if n == ndim else expand_dims(x, tuple(range(n, ndim)))


class Span:
    """What makes a vmap axis span ranks: this program is rank `rank` of `group` (a
    `backends.processes.Group`), and each rank maps as many lanes; lane l of rank r is lane
    `r * lanes + l` of the axis."""
    __slots__ = ("group", "rank")

    def __init__(self, group, rank):
        self.group, self.rank = group, rank

    def __eq__(self, other):
        return type(other) is Span and other.group is self.group and other.rank == self.rank

    def __hash__(self):
        return hash((id(self.group), self.rank))

    def __repr__(self):
        return f"Span(rank {self.rank} of {self.group})"


class AxisData:
    """The axis a vmap maps over: its size (lanes in this program), (optional) name and (for
    pmap) the `Span` over ranks."""
    __slots__ = ("size", "name", "span")

    def __init__(self, size, name, span=None):
        self.size, self.name, self.span = size, name, span

    @property
    def global_size(self):
        """The lanes of every rank together (`size` unless the axis spans ranks)."""
        return self.size if self.span is None else self.size * self.span.group.size

    def __repr__(self):
        where = "" if self.span is None else f", {self.span}"
        return f"AxisData(size={self.size}, name={self.name!r}{where})"


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

    def __repr__(self):
        base = super().__repr__()
        if isinstance(self.val, Tracer):
            return base
        # vmap run op by op (eagerly, or pmap under disable_jit): the values themselves
        return f"{base} with\n  val = {self.val!r}\n  batch_dim = {self.bdim}"

    def concrete_value(self, why):
        raise ConcretizationTypeError(
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
def vmap_flat(fun, args, in_dims, axis_size, out_dims, axis_name=None, span=None):
    """Map `fun` (flat list in, flat list out) over axis `in_dims[i]` of each argument (None:
    not mapped). `out_dims` gives each output's mapped axis (None: must not vary over the
    batch); it may instead be a function, called with the axes the outputs came out with (None
    where an output does not vary), that returns the wanted ones. `span`: the axis continues
    on other ranks (see `Span`)."""
    axis = AxisData(axis_size, axis_name, span)
    with new_main(BatchTrace, axis, "vmap" if span is None else "pmap") as main, \
            (bind_axis(axis_name, axis.global_size, main) if axis_name is not None
             else contextlib.nullcontext()):
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
        else:
            final.append(broadcast_batched(val, d, axis_size, od))
    return final


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
    n_out = len(closed.out_avals)
    force = (force_out,) * n_out if isinstance(force_out, bool) else tuple(force_out)
    in_batched = tuple(in_batched)
    if in_avals is None:
        in_avals = [batched_aval(a, axis.size) if b else a
                    for a, b in zip(closed.in_avals, in_batched)]
    opaque = tuple(a for a in in_avals if isinstance(a, OpaqueAval))
    key = ("batch", axis.size, axis.name, axis.span, in_batched, force, opaque)

    def build():
        box = {}

        def f(*args):
            def body(*xs):
                return eval_jaxpr(closed.jaxpr, closed.consts, *xs)

            def out_dims(dims):
                box["out"] = [d is not None or fo for d, fo in zip(dims, force)]
                return [0 if b else None for b in box["out"]]
            return vmap_flat(body, list(args), [0 if b else None for b in in_batched],
                             axis.size, out_dims, axis.name, axis.span)
        batched = trace_closed(f, list(in_avals), "vmap")
        return batched, box["out"]
    return derived(closed, key, build)
