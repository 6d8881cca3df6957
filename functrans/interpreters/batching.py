"""Vectorization: `BatchTrace` maps a function over an axis by rewriting each primitive with
its batching rule, `rule(vals, dims, **params) -> (out, out_dim)`, where a dim of None means
the value is the same for every element of the batch.
"""
from __future__ import annotations

from ..core import Trace, Tracer, new_main, get_aval, ShapedArray
from ..lax._util import moveaxis_to_front, shape_of
from ..lax.shape_ops import moveaxis, broadcast_in_dim


class AxisData:
    __slots__ = ("size", "name")

    def __init__(self, size, name):
        self.size, self.name = size, name


class BatchTracer(Tracer):
    __slots__ = ("val", "bdim")

    def __init__(self, trace, val, bdim):
        self._trace = trace
        self.val = val
        self.bdim = bdim

    @property
    def aval(self):
        a = get_aval(self.val).strip_weak()
        shape = list(a.shape)
        del shape[self.bdim]
        return ShapedArray(shape, a.dtype)

    def concrete_value(self, why):
        from ..core import ConcretizationError
        raise ConcretizationError(
            f"{why} needs one concrete value, but under vmap this value differs across the "
            f"batch ({self.aval.str_short()} per example). Use fnp.where or ft.lax.cond / "
            "ft.lax.select, which vmap turns into elementwise selection.")


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
            raise NotImplementedError(f"vmap of {prim.name} is not implemented")
        if getattr(rule, "needs_axis", False):
            out, out_dim = rule(self.main.payload, vals, dims, **params)
        else:
            out, out_dim = rule(vals, dims, **params)
        if prim.multiple_results:
            return [o if d is None else BatchTracer(self, o, d) for o, d in zip(out, out_dim)]
        return out if out_dim is None else BatchTracer(self, out, out_dim)


def vmap_flat(fun, args, in_dims, axis_size, out_dims, axis_name=None):
    """Map `fun` over axis `in_dims[i]` of each argument (None: not mapped); outputs get their
    mapped axis at `out_dims[i]` (None: must not vary over the batch). `out_dims` may be a
    thunk, called once `fun` has run (when it depends on the output structure)."""
    with new_main(BatchTrace, AxisData(axis_size, axis_name), "vmap") as main:
        trace = main.trace
        ins = [a if d is None else BatchTracer(trace, a, d) for a, d in zip(args, in_dims)]
        outs = fun(*ins)
        if callable(out_dims):
            out_dims = out_dims()
        results = []
        for o, od in zip(outs, out_dims):
            if type(o) is BatchTracer and o._trace is trace:
                val, d = o.val, o.bdim
            else:
                val, d = o, None
            results.append((val, d))
    final = []
    for (val, d), od in zip(results, out_dims):
        if od is None:
            if d is not None:
                raise ValueError(
                    "vmap: an output with out_axes=None varies across the batch; give it a "
                    "mapped out_axes (e.g. 0) or make it independent of the mapped inputs")
            final.append(val)
        elif d is None:
            s = shape_of(val)
            od = od % (len(s) + 1)
            final.append(broadcast_in_dim(val, s[:od] + (axis_size,) + s[od:],
                                          tuple(i for i in range(len(s) + 1) if i != od)))
        else:
            final.append(moveaxis(val, d, od))
    return final
