"""`dot_general`: contraction over chosen axes with batch axes, the one matrix-product
primitive behind matmul, dot, tensordot, einsum and Linear layers.

`dimension_numbers = ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))`; the output has
the batch axes, then lhs's free axes, then rhs's free axes. The kernel maps it onto one BLAS
call (`xp.dot` / `xp.matmul`) on transposed views, copying an operand only where its axes
must be permuted beyond a reshape and a swap of the last two.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from .. import dtypes
from ..backends import numba_jit
from ..core import ShapedArray, on_operand_device
from ..errors import ShapeMismatchError
from ._util import primitive, shape_of, dtype_of, wanted
from .elementwise import add, convert_element_type
from .precision import check_precision
from .shape_ops import transpose, moveaxis
from .transfer import place


def _free(ndim, contract, batch):
    return [i for i in range(ndim) if i not in contract and i not in batch]


class DotPlan(NamedTuple):
    """How `dot_general` runs as one BLAS call: `fn(arrange(lhs), arrange(rhs))`, where
    arranging an operand transposes it by `*_perm`, reshapes it to `*_shape` (None: leave as
    it is) and, if `*_swap`, swaps its last two axes (a view the BLAS reads transposed), and
    the product, of `product_shape`, is reshaped to `out_shape` (None: as it comes). `fn` is
    "dot", "matmul" (batch axes) or "multiply" (products of one-element contractions: BLAS is
    slow for these outer products). The eager kernel and the compiler both follow it."""
    fn: str
    lhs_perm: tuple | None
    lhs_shape: tuple | None
    rhs_perm: tuple | None
    rhs_shape: tuple | None
    product_shape: tuple
    out_shape: tuple | None
    lhs_swap: bool = False
    rhs_swap: bool = False


@functools.lru_cache(maxsize=1024)
def dot_plan(lhs_shape, rhs_shape, dimension_numbers):
    """The `DotPlan` for operands of these shapes (checked: eager calls skip the aval rule)."""
    _check_dims(lhs_shape, rhs_shape, dimension_numbers)
    (lc, rc), (lb, rb) = dimension_numbers
    if not lb and len(lhs_shape) == 2 and len(rhs_shape) == 2 and len(lc) == 1:
        product = (lhs_shape[1 - lc[0]], rhs_shape[1 - rc[0]])
        return DotPlan("dot", None if lc[0] == 1 else (1, 0), None,
                       None if rc[0] == 0 else (1, 0), None, product, None)
    lfree = _free(len(lhs_shape), lc, lb)
    rfree = _free(len(rhs_shape), rc, rb)
    bshape = tuple(lhs_shape[i] for i in lb)
    lshape = tuple(lhs_shape[i] for i in lfree)
    rshape = tuple(rhs_shape[i] for i in rfree)
    m, n = math.prod(lshape), math.prod(rshape)
    k = math.prod(lhs_shape[i] for i in lc)
    lperm, lmat, lswap = _arrangement(lhs_shape, lb, lfree, lc, bshape + (m, k))
    rperm, rmat, rswap = _arrangement(rhs_shape, rb, rc, rfree, bshape + (k, n))
    out = bshape + lshape + rshape
    fn = "multiply" if k == 1 else "matmul" if lb else "dot"
    product = bshape + (m, n)
    return DotPlan(fn, lperm, lmat, rperm, rmat, product, None if out == product else out,
                   lswap, rswap)


def _arrangement(shape, batch, rows, cols, matrices):
    """`(perm, new_shape, swap)` making an operand of `shape` the stack of `matrices` whose
    rows run over its axes `rows` and columns over `cols` (None, False: no step). Where the
    columns come before the rows in memory, a reshape and a swapped view (no copy) do it."""
    identity = list(range(len(shape)))
    if list(batch) + list(cols) + list(rows) == identity and list(cols) and list(rows):
        swapped = matrices[:-2] + matrices[:-3:-1]
        if tuple(shape) == swapped:
            return ((1, 0), None, False) if len(shape) == 2 else (None, None, True)
        return None, swapped, True
    perm = list(batch) + list(rows) + list(cols)
    permuted = tuple(shape[i] for i in perm)
    return (None if perm == identity else tuple(perm),
            None if permuted == matrices else matrices, False)


def _arrange(xp, x, perm, shape, swap):
    if perm is not None:
        x = xp.transpose(x, perm)
    x = x if shape is None else x.reshape(shape)
    return xp.swapaxes(x, -1, -2) if swap else x


def _dot_impl(xp, lhs, rhs, dimension_numbers):
    if lhs.dtype != rhs.dtype:          # as tracing does (NumPy would promote silently)
        _dot_aval(lhs, rhs, dimension_numbers)
    plan = dot_plan(lhs.shape, rhs.shape, dimension_numbers)
    a = _arrange(xp, lhs, plan.lhs_perm, plan.lhs_shape, plan.lhs_swap)
    b = _arrange(xp, rhs, plan.rhs_perm, plan.rhs_shape, plan.rhs_swap)
    if plan.fn == "multiply" and math.prod(plan.product_shape) >= OUTER_LOOP_ELEMENTS and \
            numba_jit.takes(xp, lhs.dtype):
        # outer products (per-example gradients): NumPy's broadcasting multiply pays per row
        *_, m, n = plan.product_shape
        out = np.empty(plan.product_shape, lhs.dtype)
        outer = numba_jit.compiled(_OUTER_LOOP, "outer")
        outer(a.reshape(-1, m), b.reshape(-1, n), out.reshape(-1, m, n))
    else:
        out = getattr(xp, plan.fn)(a, b)
    return out if plan.out_shape is None else out.reshape(plan.out_shape)


# with compiled loops (`numba_jit`), outer products of this many elements and more are one loop
OUTER_LOOP_ELEMENTS = 1 << 16
_OUTER_LOOP = """
def outer(a, b, out):
    for k in range(out.shape[0]):
        for i in range(out.shape[1]):
            ai = a[k, i]
            for j in range(out.shape[2]):
                out[k, i, j] = ai * b[k, j]
"""


def _check_dims(lhs_shape, rhs_shape, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    if len(lc) != len(rc) or len(lb) != len(rb):
        raise ValueError(f"dot_general: mismatched dimension numbers {dimension_numbers}")
    for a, b in zip(lc, rc):
        if lhs_shape[a] != rhs_shape[b]:
            raise ShapeMismatchError(
                f"dot_general: contracting axis {a} of the left operand (shape {lhs_shape}) "
                f"has size {lhs_shape[a]} but axis {b} of the right operand (shape "
                f"{rhs_shape}) has size {rhs_shape[b]}. For x @ w the last axis of x must "
                "match the first axis of w (did you mean w.T?)")
    for a, b in zip(lb, rb):
        if lhs_shape[a] != rhs_shape[b]:
            raise ShapeMismatchError(f"dot_general: batch axes differ in size: {lhs_shape} "
                                     f"axis {a} vs {rhs_shape} axis {b}")


def _dot_aval(lhs, rhs, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    if lhs.dtype != rhs.dtype:
        raise TypeError(f"dot_general: mixed dtypes {lhs.dtype} and {rhs.dtype}; convert one "
                        "with .astype() (functrans.numpy promotes for you)")
    _check_dims(lhs.shape, rhs.shape, dimension_numbers)
    shape = ([lhs.shape[i] for i in lb] + [lhs.shape[i] for i in _free(len(lhs.shape), lc, lb)]
             + [rhs.shape[i] for i in _free(len(rhs.shape), rc, rb)])
    return ShapedArray(shape, lhs.dtype)


dot_general_p = primitive("dot_general", _dot_impl, _dot_aval)
dot_general_p.kernel_kind = "dot"


@functools.lru_cache(maxsize=512)
def _ct_lhs_plan(x_ndim, y_ndim, dimension_numbers):
    (xc, yc), (xb, yb) = dimension_numbers
    x_free = _free(x_ndim, xc, xb)
    y_free = _free(y_ndim, yc, yb)
    nb = len(xb)
    ct_y = tuple(range(nb + len(x_free), nb + len(x_free) + len(y_free)))
    dn = ((ct_y, tuple(y_free)), (tuple(range(nb)), tuple(yb)))
    res_to_x = list(xb) + x_free + [xc[list(yc).index(d)] for d in sorted(yc)]
    return dn, tuple(int(i) for i in np.argsort(res_to_x))


def _ct_lhs(ct, x_ndim, y, dimension_numbers):
    """Cotangent of the left operand: contract ct's rhs-free axes with y's free axes.

    The result comes out as (batch, x_free, x_contract in y's contraction order) and is
    permuted to x's axis order, which for ordinary matmuls is the identity (no transpose).
    """
    dn, perm = _ct_lhs_plan(x_ndim, len(shape_of(y)), dimension_numbers)
    return transpose(dot_general_p.bind(ct, y, dimension_numbers=dn), perm)


@functools.lru_cache(maxsize=512)
def _ct_rhs_plan(x_ndim, y_ndim, dimension_numbers):
    (xc, yc), (xb, yb) = dimension_numbers
    x_free = _free(x_ndim, xc, xb)
    y_free = _free(y_ndim, yc, yb)
    nb = len(xb)
    ct_x = tuple(range(nb, nb + len(x_free)))
    dn = ((tuple(x_free), ct_x), (tuple(xb), tuple(range(nb))))
    res_to_y = list(yb) + [yc[list(xc).index(d)] for d in sorted(xc)] + y_free
    return dn, tuple(int(i) for i in np.argsort(res_to_y))


def _ct_rhs(ct, x, y_ndim, dimension_numbers):
    """Cotangent of the right operand: contract x's free axes with ct's lhs-free axes, with x
    first so an ordinary matmul's result needs no transpose."""
    dn, perm = _ct_rhs_plan(len(shape_of(x)), y_ndim, dimension_numbers)
    return transpose(dot_general_p.bind(x, ct, dimension_numbers=dn), perm)


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


def _dot_vjp(primals, needs, dimension_numbers):
    lhs, rhs = primals
    out = dot_general_p.bind(lhs, rhs, dimension_numbers=dimension_numbers)
    want_lhs, want_rhs = wanted(needs, primals)

    def backward(ct):
        return (_ct_lhs(ct, len(shape_of(lhs)), rhs, dimension_numbers) if want_lhs else None,
                _ct_rhs(ct, lhs, len(shape_of(rhs)), dimension_numbers) if want_rhs else None)
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


@on_operand_device
def dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None, *,
                out_sharding=None):
    """Contract `lhs` and `rhs` over `((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))`;
    the result has the batch axes, then lhs's free axes, then rhs's. With
    `preferred_element_type` the operands are converted to that type first (when it is at
    least as wide), else the product is; `precision` is checked and ignored (the host
    kernels compute at the operands' precision). JAX's `out_sharding` may name the one device
    the result goes to."""
    check_precision(precision, "dot_general")
    if out_sharding is not None:
        return place(dot_general(lhs, rhs, dimension_numbers, precision,
                                 preferred_element_type), out_sharding, "dot_general")
    try:
        dn = _canonical_dims(dimension_numbers)
    except TypeError:                               # lists: not hashable, not cached
        dn = _canonical_dims.__wrapped__(dimension_numbers)
    if preferred_element_type is None:
        return dot_general_p.bind(lhs, rhs, dimension_numbers=dn)
    return with_preferred_type(lambda a, b: dot_general_p.bind(a, b, dimension_numbers=dn),
                               (lhs, rhs), preferred_element_type)


def computes_in(dtype, preferred_element_type):
    """Whether products of `dtype` operands asked for `preferred_element_type` compute in it
    (it holds their values: the operands are converted first), rather than converting the
    result."""
    want = np.dtype(preferred_element_type)
    return dtypes.promote_types(dtype, want) == want


def with_preferred_type(product, operands, preferred_element_type):
    """`product(*operands)` with JAX's `preferred_element_type`: computed in that dtype (the
    operands converted first) where it holds their values, else its result converted."""
    if preferred_element_type is None:
        return product(*operands)
    want = np.dtype(preferred_element_type)
    if computes_in(dtype_of(operands[0]), want):
        return product(*(convert_element_type(x, want) for x in operands))
    return convert_element_type(product(*operands), want)


@functools.lru_cache(maxsize=512)
def _canonical_dims(dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    return ((tuple(int(a) for a in lc), tuple(int(a) for a in rc)),
            (tuple(int(a) for a in lb), tuple(int(a) for a in rb)))


def dot(lhs, rhs, precision=None, preferred_element_type=None, *, dimension_numbers=None,
        out_sharding=None):
    """Matrix/vector product of rank-1 or rank-2 operands (no promotion; see `dot_general`
    for `preferred_element_type` and `out_sharding`); with `dimension_numbers`,
    `dot_general`."""
    if dimension_numbers is None:
        dimension_numbers = (((len(shape_of(lhs)) - 1,), (0,)), ((), ()))
    return dot_general(lhs, rhs, dimension_numbers, precision, preferred_element_type,
                       out_sharding=out_sharding)


def batch_matmul(lhs, rhs, precision=None, preferred_element_type=None):
    """Matrix products of the last two axes, batched over the leading ones (same rank);
    `precision` and `preferred_element_type` as in `dot_general`."""
    n = len(shape_of(lhs))
    if n < 2 or len(shape_of(rhs)) != n:
        raise ShapeMismatchError(f"batch_matmul: operands of the same rank >= 2, got shapes "
                                 f"{shape_of(lhs)} and {shape_of(rhs)}")
    batch = tuple(range(n - 2))
    return dot_general(lhs, rhs, (((n - 1,), (n - 2,)), (batch, batch)), precision,
                       preferred_element_type)
