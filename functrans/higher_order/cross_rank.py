"""Collectives between ranks: the primitives a pmap axis's collectives become once each rank
has combined its own lanes (`collectives`). A rank is one device of one process; the
`group` param (a `backends.processes.Group`: MPI between processes, NCCL between GPUs, or
threads within a process) moves the data, and `rank` says which rank runs the program.

- `allreduce_p(*xs, op)`: the sum / max / min over ranks of every operand, each rank getting
  the result; all operands travel in one call per dtype (as DDP's buckets and Horovod's tensor
  fusion do), so a gradient pytree is all-reduced in a few calls, not one per leaf;
- `allgather_p(x)`: the ranks' values stacked on a new leading axis;
- `reduce_scatter_p(x)`: the sum over ranks of `x` (leading axis: one block per rank), rank r
  getting block r;
- `permute_p(x, pairs)`: `x` sent from rank to rank (zeros where nothing arrives);
- `agree_p(digest)`: the check a pmap program runs before its collectives: every rank must be
  about to run the same collectives on the same shapes and dtypes, else every rank raises an
  error naming the collective, the axis and each process's operands (never a hang, never a
  sum of mismatched buffers).

They are effectful (kept, never merged or reordered by the compiler: every rank must run the
same calls in the same order), linear where the math is (psum's transpose is psum,
all_gather's is psum_scatter, a permutation's is its inverse) and batch elementwise over an
outer vmap. Nothing here imports mpi4py or CuPy: the group does.
"""
from __future__ import annotations

import functools
import hashlib

from ..core import Primitive, ShapedArray
from ..jaxpr import param_jaxprs, ClosedJaxpr
from ..primitives._util import dtype_of
from ..primitives.elementwise import mul, div, eq, convert_element_type
from ..primitives.shape_ops import moveaxis

__all__ = ["allreduce_p", "allgather_p", "reduce_scatter_p", "permute_p", "agree_p",
           "allreduce", "allgather", "reduce_scatter", "permute", "agree", "collectives_of",
           "digest_of", "bind_nonzero"]


def _cross(name, **kw):
    return Primitive(name, effectful=True, **kw)


def _span_params(span, axis_name):
    return {"group": span.group, "rank": span.rank, "axis_name": axis_name}


# =================================================================== allreduce
def _allreduce_impl(xp, *xs, op, group, rank, axis_name):
    return group.allreduce(rank, list(xs), op)


def _allreduce_operand_memory(eqn):
    # compiled code computes the operands straight into the group's buffer where it can
    group, rank = eqn.params["group"], eqn.params["rank"]
    avals = [v.aval for v in eqn.invars]
    positions = group.lendable(avals)
    if not positions:
        return None
    return positions, functools.partial(group.lend, rank, avals, positions)


allreduce_p = _cross("allreduce", multiple_results=True)
allreduce_p.impl = _allreduce_impl
allreduce_p.abstract_eval = lambda *avals, **_: [a.strip_weak() for a in avals]
allreduce_p.operand_memory = _allreduce_operand_memory


def bind_nonzero(prim, values, **params):
    """`prim` on the non-None `values` (None stays None, nothing is bound for none)."""
    live = [v for v in values if v is not None]
    got = iter(prim.bind(*live, **params) if live else ())
    return [None if v is None else next(got) for v in values]


def _extremum_weights(x, ans, params):
    # the ranks holding the extremum share its derivative equally
    hit = convert_element_type(eq(x, ans), dtype_of(x))
    count, = allreduce_p.bind(hit, **dict(params, op="sum"))
    return div(hit, count)


def _allreduce_jvp(primals, tangents, op, **params):
    outs = allreduce_p.bind(*primals, op=op, **params)
    if op != "sum":
        tangents = [None if t is None else mul(t, _extremum_weights(x, a, params))
                    for x, a, t in zip(primals, outs, tangents)]
    return outs, bind_nonzero(allreduce_p, tangents, op="sum", **params)


def _allreduce_vjp(primals, needs, op, **params):
    outs = allreduce_p.bind(*primals, op=op, **params)

    def backward(cts):
        got = bind_nonzero(allreduce_p, cts, op="sum", **params)
        if op == "sum":
            return got
        return [None if g is None else mul(g, _extremum_weights(x, a, params))
                for x, a, g in zip(primals, outs, got)]
    return outs, backward


def _allreduce_batch(vals, dims, **params):
    return allreduce_p.bind(*vals, **params), list(dims)


allreduce_p.jvp, allreduce_p.vjp, allreduce_p.batch = \
    _allreduce_jvp, _allreduce_vjp, _allreduce_batch


def allreduce(xs, op, span, axis_name):
    """`op` over the ranks of `span` of each array of the list `xs` (one call per dtype)."""
    return allreduce_p.bind(*xs, op=op, **_span_params(span, axis_name))


# =================================================================== allgather / reduce_scatter
def _allgather_impl(xp, x, group, rank, axis_name):
    return group.allgather(rank, x)


allgather_p = _cross("allgather")
allgather_p.impl = _allgather_impl
allgather_p.abstract_eval = lambda x, group, **_: ShapedArray((group.size,) + x.shape, x.dtype)


def _reduce_scatter_impl(xp, x, group, rank, axis_name):
    return group.reduce_scatter(rank, x)


def _reduce_scatter_aval(x, group, **_):
    if not x.shape or x.shape[0] != group.size:
        raise ValueError(f"reduce_scatter: the leading axis of {x.str_short()} must have one "
                         f"block per rank ({group.size})")
    return ShapedArray(x.shape[1:], x.dtype)


reduce_scatter_p = _cross("reduce_scatter")
reduce_scatter_p.impl = _reduce_scatter_impl
reduce_scatter_p.abstract_eval = _reduce_scatter_aval


def _linear(prim, transpose):
    def jvp(primals, tangents, **params):
        out = prim.bind(*primals, **params)
        t, = tangents
        return out, None if t is None else prim.bind(t, **params)

    def vjp(primals, needs, **params):
        return prim.bind(*primals, **params), lambda ct: (transpose(ct, **params),)
    prim.jvp, prim.vjp = jvp, vjp


_linear(allgather_p, lambda ct, **p: reduce_scatter_p.bind(ct, **p))
_linear(reduce_scatter_p, lambda ct, **p: allgather_p.bind(ct, **p))


def _allgather_batch(vals, dims, **params):
    (x,), (d,) = vals, dims
    return allgather_p.bind(x, **params), d + 1


def _reduce_scatter_batch(vals, dims, **params):
    (x,), (d,) = vals, dims
    return reduce_scatter_p.bind(moveaxis(x, d, 1) if d != 1 else x, **params), 0


allgather_p.batch, reduce_scatter_p.batch = _allgather_batch, _reduce_scatter_batch


def allgather(x, span, axis_name):
    """The ranks' `x` stacked on a new leading axis."""
    return allgather_p.bind(x, **_span_params(span, axis_name))


def reduce_scatter(x, span, axis_name):
    """The sum over ranks of `x` (leading axis one block per rank): this rank's block."""
    return reduce_scatter_p.bind(x, **_span_params(span, axis_name))


# =================================================================== permute
def _permute_impl(xp, x, pairs, group, rank, axis_name):
    return group.permute(rank, x, pairs)


permute_p = _cross("permute")
permute_p.impl = _permute_impl
permute_p.abstract_eval = lambda x, **_: x.strip_weak()
_linear(permute_p, lambda ct, pairs, **p: permute_p.bind(
    ct, pairs=tuple((d, s) for s, d in pairs), **p))


def _permute_batch(vals, dims, **params):
    (x,), (d,) = vals, dims
    return permute_p.bind(x, **params), d


permute_p.batch = _permute_batch


def permute(x, pairs, span, axis_name):
    """`x` sent along `pairs` of ranks ((source, destination), ...); zeros where none
    arrives."""
    return permute_p.bind(x, pairs=tuple(pairs), **_span_params(span, axis_name))


# =================================================================== agreement
def _agree_impl(xp, digest, collectives, group, rank):
    group.agree(rank, digest, lambda: collectives)
    return []


agree_p = _cross("agree", multiple_results=True)
agree_p.impl = _agree_impl
agree_p.abstract_eval = lambda **_: []


def agree(span, collectives):
    """Check, when it runs, that every rank of `span` runs the same `collectives` (see
    `collectives_of`)."""
    agree_p.bind(digest=digest_of(collectives), collectives=tuple(collectives),
                 group=span.group, rank=span.rank)


_USER_NAMES = {"allgather": "all_gather", "reduce_scatter": "psum_scatter",
               "permute": "ppermute"}


def collectives_of(jaxpr):
    """`(collective, axis name, operands)` for each cross-rank collective of `jaxpr` (nested
    jaxprs included) in program order: what the ranks of a pmap must agree on."""
    found = []
    j = jaxpr.jaxpr if isinstance(jaxpr, ClosedJaxpr) else jaxpr
    for eqn in j.eqns:
        prim = eqn.primitive
        if prim in (allreduce_p, allgather_p, reduce_scatter_p, permute_p):
            name = {"sum": "psum", "max": "pmax", "min": "pmin"}[eqn.params["op"]] \
                if prim is allreduce_p else _USER_NAMES[prim.name]
            if prim is permute_p:
                name += f" {list(eqn.params['pairs'])}"
            shapes = ", ".join(v.aval.str_short() for v in eqn.invars)
            found.append((name, eqn.params["axis_name"], shapes))
        else:
            for sub in param_jaxprs(eqn.params):
                found.extend(collectives_of(sub))
    return found


def digest_of(collectives):
    """A 63-bit digest of a list of collectives (the same in every process)."""
    text = repr([tuple(map(str, c)) for c in collectives]).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1

