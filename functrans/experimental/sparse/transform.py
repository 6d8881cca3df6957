"""`sparsify(f)`: `f` run with BCOO arguments.

`f` is staged to a jaxpr with each BCOO argument standing in as a dense array of its shape
and dtype; the jaxpr is then evaluated with BCOO values where they flow: an equation with no
sparse operand runs as it is, one with a sparse operand goes to the sparse rule of its
primitive (a clear NotImplementedError names a primitive that has none). As JAX's default
(jaxpr-based) sparsify, Python control flow in `f` may not depend on array values.
"""
from __future__ import annotations

import functools

import numpy as np

from ... import lax
from ... import numpy as fnp
from ...array import ShapeDtypeStruct
from ...core import abstractify
from ...interpreters.partial_eval import trace_to_jaxpr
from ...jaxpr import ClosedJaxpr, Literal
from ...tree_util import tree_flatten, tree_unflatten
from .bcoo import BCOO, bcoo_dot_general, bcoo_reduce_sum, bcoo_sum_duplicates, bcoo_transpose
from .bcoo_extra import bcoo_multiply_sparse
from .bcoo_ops import (bcoo_broadcast_in_dim, bcoo_concatenate, bcoo_dynamic_slice,
                       bcoo_reshape, bcoo_slice, bcoo_update_layout, gather_axes)

__all__ = ["sparsify"]


def _is_sparse(x):
    return isinstance(x, BCOO)


def sparsify(f, use_tracer=False):
    """`f` made to accept BCOO arrays wherever it takes arrays (in any pytree of arguments);
    results computed sparsely come back as BCOO arrays."""
    if use_tracer:
        raise NotImplementedError("sparsify(use_tracer=True) is not supported; the default "
                                  "(jaxpr-based) sparsify covers the same primitives")

    @functools.wraps(f)
    def sparsified(*args, **kwargs):
        leaves, treedef = tree_flatten((args, kwargs), is_leaf=_is_sparse)
        stand_ins = [ShapeDtypeStruct(x.shape, x.dtype) if _is_sparse(x) else x
                     for x in leaves]
        box = {}

        def flat(*xs):
            a, k = tree_unflatten(treedef, list(xs))
            outs, box["tree"] = tree_flatten(f(*a, **k))
            return outs

        # (values of enclosing transforms that `f` closes over lead the jaxpr's inputs)
        closed, hoisted = trace_to_jaxpr(flat, [abstractify(x) for x in stand_ins],
                                         name="sparsify")
        outs = _eval(closed.jaxpr, closed.consts, list(hoisted) + leaves)
        return tree_unflatten(box["tree"], outs)

    return sparsified


def _eval(jaxpr, consts, args):
    env = dict(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))

    def read(v):
        return v.val if type(v) is Literal else env[v]

    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        if any(map(_is_sparse, ins)) and name in _ELEMENTWISE:
            mat = ins[0] if name in _ADDITIVE else _unique(ins[0])
            outs = mat._with_data(eqn.primitive.bind(mat.data, *ins[1:], **eqn.params))
        elif any(map(_is_sparse, ins)):
            rule = _RULES.get(name)
            if rule is None:
                kinds = ", ".join("sparse" if _is_sparse(x) else "dense" for x in ins)
                raise NotImplementedError(
                    f"sparsify: primitive '{name}' has no sparse rule (operands: "
                    f"{kinds}); densify its sparse operand with .todense() before it, or "
                    f"express the computation with supported primitives")
            outs = rule(*ins, **eqn.params)
        else:
            outs = eqn.primitive.bind(*ins, **eqn.params)
        if not eqn.primitive.multiple_results:
            outs = [outs]
        env.update(zip(eqn.outvars, outs))
    return [read(v) for v in jaxpr.outvars]


def _run(jaxpr, args):
    if isinstance(jaxpr, ClosedJaxpr):
        return _eval(jaxpr.jaxpr, jaxpr.consts, list(args))
    return _eval(jaxpr, [], list(args))


def _unique(mat):
    """`mat` with no duplicate indices (for operations that are not additive)."""
    return mat if mat.unique_indices else bcoo_sum_duplicates(mat, nse=mat.nse,
                                                              remove_zeros=False)


def _mul(a, b):
    if _is_sparse(a) and _is_sparse(b):
        return bcoo_multiply_sparse(a, b)
    mat, other = (a, b) if _is_sparse(a) else (b, a)
    return mat * other


def _div(a, b):
    if _is_sparse(b) or getattr(b, "ndim", 0) != 0:
        raise NotImplementedError("sparsify: div is supported for a sparse numerator and a "
                                  "scalar denominator only")
    return a / b


def _add(a, b):
    if _is_sparse(a) and _is_sparse(b):
        return a + b
    return (a.todense() if _is_sparse(a) else a) + (b.todense() if _is_sparse(b) else b)


def _sub(a, b):
    return _add(a, -b)


def _pow(a, b):
    if _is_sparse(b) or getattr(b, "ndim", 0) != 0 or not float(b) > 0:
        raise NotImplementedError("sparsify: pow is supported for a sparse base and a positive "
                                  "concrete scalar exponent only (it must keep zeros zero)")
    mat = _unique(a)
    return mat._with_data(mat.data ** b)


def _dot_general(a, b, dimension_numbers, **params):
    return bcoo_dot_general(a, b, dimension_numbers=dimension_numbers,
                            preferred_element_type=params.get("preferred_element_type"))


def _reshape(mat, new_sizes, dimensions=None, **_):
    return bcoo_reshape(mat, new_sizes=new_sizes, dimensions=dimensions)


def _transpose(mat, permutation):
    """`bcoo_transpose`, after folding batch (dense) dimensions into sparse ones where the
    permutation moves an axis into or out of their group."""
    nb, nd = mat.n_batch, mat.n_dense
    if sorted(permutation[:nb]) != list(range(nb)):
        nb = 0
    if sorted(permutation[mat.ndim - nd:]) != list(range(mat.ndim - nd, mat.ndim)):
        nd = 0
    mat = bcoo_update_layout(mat, n_batch=nb, n_dense=nd)
    return bcoo_transpose(mat, permutation=permutation)


def _concatenate(*operands, dimension):
    if not all(map(_is_sparse, operands)):
        raise NotImplementedError("sparsify: concatenate of sparse and dense operands is not "
                                  "supported; make them all sparse (BCOO.fromdense) or densify "
                                  "the sparse ones")
    return bcoo_concatenate(operands, dimension=dimension)


def _gather(mat, *index_arrays, axes, mode, fill_value):
    if not _is_sparse(mat) or any(map(_is_sparse, index_arrays)):
        raise NotImplementedError("sparsify: gather with sparse indices is not supported; "
                                  "densify them with .todense()")
    if mode != "promise_in_bounds":
        raise NotImplementedError(f"sparsify: gather with mode={mode!r} is not supported for a "
                                  "sparse operand (indices must be in bounds)")
    return gather_axes(mat, index_arrays, axes)


def _call(*args, jaxpr, **_):
    return _run(jaxpr, args)


def _custom_call(*args, fun_jaxpr, **_):
    return _run(fun_jaxpr, args)


def _dense_only(what, values):
    if any(map(_is_sparse, values)):
        raise NotImplementedError(f"sparsify: a sparse {what} is not supported; only "
                                  f"loop-invariant values (consts) may be sparse")


def _while(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts, **_):
    cconsts, bconsts = args[:cond_nconsts], args[cond_nconsts:cond_nconsts + body_nconsts]
    init = args[cond_nconsts + body_nconsts:]
    _dense_only("while_loop carry", init)
    return lax.while_loop(lambda c: _run(cond_jaxpr, cconsts + tuple(c))[0],
                          lambda c: _run(body_jaxpr, bconsts + tuple(c)), list(init))


def _scan(*args, jaxpr, length, reverse, num_consts, num_carry, **_):
    consts, init = args[:num_consts], args[num_consts:num_consts + num_carry]
    xs = args[num_consts + num_carry:]
    _dense_only("scan carry or scanned input", init + xs)

    def body(carry, x):
        outs = _run(jaxpr, consts + tuple(carry) + tuple(x))
        return outs[:num_carry], outs[num_carry:]

    carry, ys = lax.scan(body, list(init), list(xs), length=length, reverse=reverse)
    return list(carry) + list(ys)


def _conv_patches(mat, window_shape, window_strides, padding, lhs_dilation, rhs_dilation,
                  images_axis=0):
    """im2col of a sparse (N, C, *S) input: each stored element lands in every window that
    covers it, at (C, *window offset, N, *output position) (N before output axis
    `images_axis`); the element's copies for windows that miss it are padding."""
    mat = bcoo_update_layout(mat, n_batch=0, n_dense=0, on_inefficient=None)
    n, c, spatial = mat.shape[0], mat.shape[1], mat.shape[2:]
    nd = len(spatial)
    out = tuple((((s - 1) * ld + 1) + lo + hi - ((w - 1) * rd + 1)) // st + 1
                for s, ld, (lo, hi), w, rd, st in zip(spatial, lhs_dilation, padding,
                                                      window_shape, rhs_dilation,
                                                      window_strides))
    offsets = np.stack(np.meshgrid(*[np.arange(w) for w in window_shape], indexing="ij"),
                       -1).reshape(-1, nd)                               # (K, nd)
    idx = mat.indices.astype(np.int64)[:, None, :]                       # (nse, 1, 2 + nd)
    valid = fnp.ones((mat.nse, len(offsets)), bool)
    where = []
    for j in range(nd):
        pos = (idx[..., 2 + j] * lhs_dilation[j] + padding[j][0]
               - offsets[:, j] * rhs_dilation[j])
        at = pos // window_strides[j]
        valid = valid & (pos % window_strides[j] == 0) & (at >= 0) & (at < out[j])
        where.append(at)
    cols = [fnp.broadcast_to(idx[..., 1], valid.shape)]
    cols += [fnp.broadcast_to(fnp.asarray(offsets[:, j]), valid.shape) for j in range(nd)]
    cols += where[:images_axis] + [fnp.broadcast_to(idx[..., 0], valid.shape)]
    cols += where[images_axis:]
    shape = (c,) + tuple(window_shape) + out[:images_axis] + (n,) + out[images_axis:]
    pad = fnp.asarray(shape, np.int64)
    indices = fnp.where(valid[..., None], fnp.stack(cols, -1), pad)
    count = mat.nse * len(offsets)
    data = fnp.broadcast_to(mat.data[:, None], valid.shape).reshape(count)
    return BCOO((data, indices.reshape(count, len(shape)).astype(mat.indices.dtype)),
                shape=shape)


def _cond(index, *operands, branches, **_):
    _dense_only("cond predicate", [index])
    return lax.switch(index, [functools.partial(lambda b, *ops: _run(b, ops), b)
                              for b in branches], *operands)


_RULES = {
    "dot_general": _dot_general,
    "transpose": _transpose,
    "reduce_sum": lambda mat, axes, **_: bcoo_reduce_sum(mat, axes=axes),
    "reshape": _reshape,
    "slice": lambda mat, start_indices, limit_indices, strides=None: bcoo_slice(
        mat, start_indices=start_indices, limit_indices=limit_indices, strides=strides),
    "dynamic_slice": lambda mat, *starts, slice_sizes, **_: bcoo_dynamic_slice(
        mat, starts, slice_sizes=slice_sizes),
    "concatenate": _concatenate,
    "broadcast_in_dim": lambda mat, shape, broadcast_dimensions, **_: bcoo_broadcast_in_dim(
        mat, shape=shape, broadcast_dimensions=broadcast_dimensions),
    "gather": _gather,
    "conv_patches": _conv_patches,
    "mul": _mul, "div": _div, "add": _add, "sub": _sub, "pow": _pow,
    "neg": lambda mat: -mat,
    "copy": lambda mat: mat,
    "convert_element_type": lambda mat, new_dtype, **_: mat.astype(new_dtype),
    "jit": _call,
    "custom_jvp_call": _custom_call,
    "custom_vjp_call": _custom_call,
    "while": _while,
    "scan": _scan,
    "cond": _cond,
}
# zero-preserving elementwise primitives, applied to the stored data (a non-additive one
# after duplicates are summed)
_ADDITIVE = {"real", "imag", "conj", "stop_gradient"}
_ELEMENTWISE = _ADDITIVE | {
    "abs", "sign", "sqrt", "expm1", "log1p", "sin", "tan", "arcsin", "arctan", "sinh", "tanh",
    "arcsinh", "arctanh", "floor", "ceil", "round", "trunc", "square", "integer_pow"}
