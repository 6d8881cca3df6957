"""`linear_call(fun, fun_transpose, residual_args, linear_args)`: a call of a function linear
in `linear_args`, transposed by the user's `fun_transpose` (JAX's `linear_call`).

The primitive carries `fun` as a jaxpr over (closed-over values, residuals, linear inputs) and
a memoized thunk tracing `fun_transpose` when reverse mode first needs it. Forward mode calls
`fun` again on the linear tangents; reverse mode is a `linear_call` of `fun_transpose` (with
`fun` as its transpose) on the cotangents; vmap maps both functions. Nothing is
differentiated with respect to the residuals (as in JAX, where that is an error too), and
traced values reach `fun_transpose` through them, not by closure (it may be traced after the
transform that made them has ended, as under `grad(jit(f))`).
"""
from __future__ import annotations

import functools

from ..array import Array
from ..core import Primitive, Tracer, abstractify, device_like
from ..errors import UnexpectedTracerError
from ..interpreters import ad, batching
from ..interpreters.calls import evaluates_jaxpr
from ..interpreters.partial_eval import trace_to_jaxpr
from ..primitives._util import broadcast_batched, moveaxis_to_front, shape_of, dtype_of, wanted
from ..primitives.conversion import asarray
from ..tree_util import tree_flatten, tree_unflatten

__all__ = ["linear_call", "linear_call_p"]


def linear_call(fun, fun_transpose, residual_args, linear_args):
    """`fun(residual_args, linear_args)`, where `fun` is linear in `linear_args` and
    `fun_transpose(residual_args, cotangent)` is its transpose (returning a pytree like
    `linear_args`): reverse mode and `linear_transpose` use `fun_transpose` (traced only
    then), forward mode calls `fun` on the tangents of `linear_args`. `residual_args` (any
    pytree) must not depend on differentiated values."""
    res, res_tree = tree_flatten(residual_args)
    lin, lin_tree = tree_flatten(linear_args)
    # data on no device yet (NumPy data, Python numbers) joins the Arrays' device
    like = next((x for x in res + lin if isinstance(x, (Array, Tracer))), None)
    res, lin = _as_arrays(res, like), _as_arrays(lin, like)
    res_avals = [abstractify(x) for x in res]
    lin_avals = [abstractify(x) for x in lin]
    n_res = len(res)
    trees = {}

    def flat_fun(*xs):
        out = fun(tree_unflatten(res_tree, list(xs[:n_res])),
                  tree_unflatten(lin_tree, list(xs[n_res:])))
        leaves, trees["out"] = _leaves(out)
        return leaves
    closed, consts = trace_to_jaxpr(flat_fun, res_avals + lin_avals, name="linear_call")

    @functools.lru_cache(maxsize=None)
    def transpose():
        def flat_transpose(*xs):
            out = fun_transpose(tree_unflatten(res_tree, list(xs[:n_res])),
                                tree_unflatten(trees["out"], list(xs[n_res:])))
            leaves, tree = tree_flatten(out)
            if tree != lin_tree:
                raise TypeError("linear_call: fun_transpose must return a pytree like "
                                f"linear_args: got structure {tree}, linear_args have "
                                f"{lin_tree}")
            # Python numbers are weak: they take the linear input's dtype
            leaves = [asarray(x, dtype=a.dtype) if type(x) in (int, float, complex) else x
                      for x, a in zip(leaves, lin_avals)]
            got = [(shape_of(x), dtype_of(x)) for x in leaves]
            want = [(a.shape, a.dtype) for a in lin_avals]
            if got != want:
                raise TypeError("linear_call: fun_transpose's output leaves (shape, dtype) "
                                f"{got} differ from linear_args' {want}")
            return leaves
        try:
            t_closed, t_consts = trace_to_jaxpr(flat_transpose,
                                                res_avals + list(closed.out_avals),
                                                name="linear_call_transpose")
        except UnexpectedTracerError as e:
            raise UnexpectedTracerError(
                f"linear_call: fun_transpose, traced only when transposing, uses a traced "
                f"value of a transform that has finished by then ({e}). Pass such values "
                "to both functions through residual_args instead") from e
        return t_closed, list(t_consts)

    out = linear_call_p.bind(*consts, *res, *lin, jaxpr=closed, n_consts=len(consts),
                             n_res=n_res, transpose=transpose)
    return tree_unflatten(trees["out"], out)


def _as_arrays(leaves, like):
    device = None if like is None else device_like(like)
    return [x if isinstance(x, (Array, Tracer)) else asarray(x, device=device) for x in leaves]


def _leaves(tree):
    leaves, treedef = tree_flatten(tree)
    return _as_arrays(leaves, None), treedef


def _residual_error():
    return TypeError("linear_call: the residual_args (or values fun closes over) depend on the "
                     "differentiated inputs; linear_call is differentiable only in "
                     "linear_args (as in JAX). Pass such values as linear_args, or apply "
                     "stop_gradient to them")


def _linear_call_jvp(primals, tangents, jaxpr, n_consts, n_res, transpose):
    outs = linear_call_p.bind(*primals, jaxpr=jaxpr, n_consts=n_consts, n_res=n_res,
                              transpose=transpose)
    fixed = n_consts + n_res
    if any(t is not None for t in tangents[:fixed]):
        raise _residual_error()
    if all(t is None for t in tangents[fixed:]):
        return outs, [None] * len(outs)
    lin_t = [ad.instantiate(t, p) for t, p in zip(tangents[fixed:], primals[fixed:])]
    out_t = linear_call_p.bind(*primals[:fixed], *lin_t, jaxpr=jaxpr, n_consts=n_consts,
                               n_res=n_res, transpose=transpose)
    return outs, out_t


def _linear_call_vjp(primals, needs, jaxpr, n_consts, n_res, transpose):
    outs = linear_call_p.bind(*primals, jaxpr=jaxpr, n_consts=n_consts, n_res=n_res,
                              transpose=transpose)
    fixed = n_consts + n_res
    want = wanted(needs, primals)
    if any(want[:fixed]):
        raise _residual_error()
    if not any(want[fixed:]):
        return outs, None
    consts, res = list(primals[:n_consts]), list(primals[n_consts:fixed])

    def backward(cts):
        t_closed, t_consts = transpose()
        cts = [ad.instantiate(c, o) for c, o in zip(cts, outs)]
        lin_cts = linear_call_p.bind(*t_consts, *res, *cts, jaxpr=t_closed,
                                     n_consts=len(t_consts), n_res=n_res,
                                     transpose=lambda: (jaxpr, consts))
        return [None] * fixed + list(lin_cts)
    return outs, backward


@batching.needs_axis
def _linear_call_batch(axis, vals, dims, jaxpr, n_consts, n_res, transpose):
    fixed = n_consts + n_res
    # the linear inputs are batched always, so their cotangents are too
    vals = [v if d is None else moveaxis_to_front(v, d) for v, d in zip(vals[:fixed], dims)] + \
        [broadcast_batched(v, d, axis.size, 0) for v, d in zip(vals[fixed:], dims[fixed:])]
    fixed_batched = [d is not None for d in dims[:fixed]]
    batched, _ = batching.batch_jaxpr(jaxpr, axis, fixed_batched + [True] * (len(vals) - fixed),
                                      force_out=True)

    @functools.lru_cache(maxsize=None)
    def batched_transpose():
        t_closed, t_consts = transpose()
        n_cts = len(jaxpr.out_avals)
        in_batched = [False] * len(t_consts) + fixed_batched[n_consts:] + [True] * n_cts
        return batching.batch_jaxpr(t_closed, axis, in_batched, force_out=True)[0], t_consts

    outs = linear_call_p.bind(*vals, jaxpr=batched, n_consts=n_consts, n_res=n_res,
                              transpose=batched_transpose)
    return outs, [0] * len(outs)


linear_call_p = evaluates_jaxpr(Primitive("linear_call", multiple_results=True))
linear_call_p.jvp = _linear_call_jvp
linear_call_p.vjp = _linear_call_vjp
linear_call_p.batch = _linear_call_batch
