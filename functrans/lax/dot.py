"""`dot_general`: contraction over chosen axes with batch axes, the one matrix-product
primitive behind matmul, dot, tensordot, einsum and Linear layers.

`dimension_numbers = ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))`; the output has
the batch axes, then lhs's free axes, then rhs's free axes. The kernel maps it onto one BLAS
call (`xp.dot` / `xp.matmul`) on transposed views, never copying a transposed operand.
"""
from __future__ import annotations

import math

import numpy as np

from ..core import ShapedArray, get_aval
from ._util import primitive, shape_of, is_differentiable
from .elementwise import add
from .shape_ops import transpose, reshape, moveaxis


def _free(ndim, contract, batch):
    return [i for i in range(ndim) if i not in contract and i not in batch]


def _dot_impl(xp, lhs, rhs, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    if not lb and lhs.ndim == 2 and rhs.ndim == 2 and len(lc) == 1:
        a = lhs if lc[0] == 1 else lhs.T
        b = rhs if rc[0] == 0 else rhs.T
        return xp.dot(a, b)
    lfree = _free(lhs.ndim, lc, lb)
    rfree = _free(rhs.ndim, rc, rb)
    bshape = [lhs.shape[i] for i in lb]
    lshape = [lhs.shape[i] for i in lfree]
    rshape = [rhs.shape[i] for i in rfree]
    m, n = math.prod(lshape), math.prod(rshape)
    k = math.prod(lhs.shape[i] for i in lc)
    a = xp.transpose(lhs, list(lb) + lfree + list(lc)).reshape(bshape + [m, k])
    b = xp.transpose(rhs, list(rb) + list(rc) + rfree).reshape(bshape + [k, n])
    out = xp.matmul(a, b) if lb else xp.dot(a, b)
    return out.reshape(bshape + lshape + rshape)


def _dot_aval(lhs, rhs, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    if lhs.dtype != rhs.dtype:
        raise TypeError(f"dot_general: mixed dtypes {lhs.dtype} and {rhs.dtype}; convert one "
                        "with .astype() (functrans.numpy promotes for you)")
    if len(lc) != len(rc) or len(lb) != len(rb):
        raise ValueError(f"dot_general: mismatched dimension numbers {dimension_numbers}")
    for a, b in zip(lc, rc):
        if lhs.shape[a] != rhs.shape[b]:
            raise ValueError(
                f"dot_general: contracting axis {a} of the left operand (shape {lhs.shape}) "
                f"has size {lhs.shape[a]} but axis {b} of the right operand (shape "
                f"{rhs.shape}) has size {rhs.shape[b]}. For x @ w the last axis of x must "
                "match the first axis of w (did you mean w.T?)")
    for a, b in zip(lb, rb):
        if lhs.shape[a] != rhs.shape[b]:
            raise ValueError(f"dot_general: batch axes differ in size: {lhs.shape} axis {a} "
                             f"vs {rhs.shape} axis {b}")
    shape = ([lhs.shape[i] for i in lb] + [lhs.shape[i] for i in _free(len(lhs.shape), lc, lb)]
             + [rhs.shape[i] for i in _free(len(rhs.shape), rc, rb)])
    return ShapedArray(shape, lhs.dtype)


dot_general_p = primitive("dot_general", _dot_impl, _dot_aval)


def _ranges_like(*xs):
    start = 0
    for x in xs:
        yield list(range(start, start + len(x)))
        start += len(x)


def _transpose_lhs(ct, x_shape, y, dimension_numbers, swap_ans=False):
    (x_contract, y_contract), (x_batch, y_batch) = dimension_numbers
    x_kept = _free(len(x_shape), x_contract, x_batch)
    y_kept = _free(len(shape_of(y)), y_contract, y_batch)
    if swap_ans:
        ans_batch, ans_y, _ = _ranges_like(x_batch, y_kept, x_kept)
    else:
        ans_batch, _, ans_y = _ranges_like(x_batch, x_kept, y_kept)
    dims = ((tuple(ans_y), tuple(y_kept)), (tuple(ans_batch), tuple(y_batch)))
    x_contract_sorted_by_y = [x_contract[i] for i in np.argsort(y_contract)]
    out_axes = np.argsort(list(x_batch) + x_kept + x_contract_sorted_by_y)
    return transpose(dot_general(ct, y, dims), tuple(int(a) for a in out_axes))


def _transpose_rhs(ct, x, y_shape, dimension_numbers):
    (x_contract, y_contract), (x_batch, y_batch) = dimension_numbers
    swapped = ((y_contract, x_contract), (y_batch, x_batch))
    return _transpose_lhs(ct, y_shape, x, swapped, swap_ans=True)


def _dot_jvp(primals, tangents, dimension_numbers):
    lhs, rhs = primals
    out = dot_general_p.bind(lhs, rhs, dimension_numbers=dimension_numbers)
    tl, tr = tangents
    t = None
    if tl is not None:
        t = dot_general(tl, rhs, dimension_numbers)
    if tr is not None:
        term = dot_general(lhs, tr, dimension_numbers)
        t = term if t is None else add(t, term)
    return out, t


def _dot_vjp(primals, dimension_numbers):
    lhs, rhs = primals
    out = dot_general_p.bind(lhs, rhs, dimension_numbers=dimension_numbers)

    def backward(ct):
        return (_transpose_lhs(ct, shape_of(lhs), rhs, dimension_numbers)
                if is_differentiable(lhs) else None,
                _transpose_rhs(ct, lhs, shape_of(rhs), dimension_numbers)
                if is_differentiable(rhs) else None)
    return out, backward


def _dot_batch(vals, dims, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    lhs, rhs = vals
    dl, dr = dims

    def shift(axes):
        return tuple(a + 1 for a in axes)
    if dl is not None and dr is not None:
        lhs, rhs = moveaxis(lhs, dl, 0), moveaxis(rhs, dr, 0)
        dn = ((shift(lc), shift(rc)), ((0,) + shift(lb), (0,) + shift(rb)))
        return dot_general(lhs, rhs, dn), 0
    if dl is not None:
        lhs = moveaxis(lhs, dl, 0)
        dn = ((shift(lc), rc), (shift(lb), rb))
        return dot_general(lhs, rhs, dn), len(lb)
    rhs = moveaxis(rhs, dr, 0)
    dn = ((lc, shift(rc)), (lb, shift(rb)))
    lfree = _free(len(shape_of(lhs)), lc, lb)
    return dot_general(lhs, rhs, dn), len(lb) + len(lfree)


dot_general_p.jvp, dot_general_p.vjp, dot_general_p.batch = _dot_jvp, _dot_vjp, _dot_batch


def dot_general(lhs, rhs, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    dn = ((tuple(int(a) for a in lc), tuple(int(a) for a in rc)),
          (tuple(int(a) for a in lb), tuple(int(a) for a in rb)))
    return dot_general_p.bind(lhs, rhs, dimension_numbers=dn)


def dot(lhs, rhs):
    """Matrix/vector product of rank-1 or rank-2 operands (no promotion)."""
    nl, nr = len(shape_of(lhs)), len(shape_of(rhs))
    return dot_general(lhs, rhs, (((nl - 1,), (0,)), ((), ())))
