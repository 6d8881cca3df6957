"""JAX's `integer_pow` (what `x ** 2` stages) and `clamp` as primitives, with all their rules
(`elementwise.py`, the rest of the family, is at its size bound).

Compiled programs never run them as such: `compiler/rules.py` rewrites `integer_pow[y=2]` to
`square`, `y=1` to its operand and other exponents to `pow` with the literal exponent, and
`clamp` to `min(max(x, min), max)`, the primitives their kernels compute, so they fuse as
those do and agree with eager calls bit for bit.
"""
from __future__ import annotations

import operator

from .. import dtypes
from ..core import ShapedArray, get_aval, on_operand_device
from ._util import primitive, elementwise_aval, shape_of, dtype_of, wanted
from .elementwise import (add, batch_elementwise, bitwise_and, gt, lt, mul, select,
                          unbroadcast)
from .shape_ops import full_like


# =============================================================== integer_pow
def _integer_pow_impl(xp, x, y):
    return xp.square(x) if y == 2 else xp.power(x, y)


def _check_integer_pow(dtype, y):
    kind = dtypes.kind_char(dtype)
    if kind not in "iufc":
        raise TypeError(f"integer_pow takes integer, floating or complex operands, got {dtype}")
    if kind in "iu" and y < 0:
        raise ValueError(f"integer_pow: integers cannot be raised to a negative power, got "
                         f"{dtype} to the power {y}; convert the operand to a float first")


def _integer_pow_aval(x, y):
    _check_integer_pow(x.dtype, y)
    return ShapedArray(x.shape, x.dtype, weak_type=x.weak_type)


integer_pow_p = primitive("integer_pow", _integer_pow_impl, _integer_pow_aval)
integer_pow_p.elementwise = True
integer_pow_p.arity = 1
integer_pow_p.cuda_expr = None


def _integer_pow_slope(x, y):
    """d x**y / dx = y x**(y - 1), as JAX writes it (x itself for y = 2)."""
    return mul(float(y), x if y == 2 else integer_pow_p.bind(x, y=y - 1))


def _integer_pow_jvp(primals, tangents, y):
    x, = primals
    t, = tangents
    ans = integer_pow_p.bind(x, y=y)
    if t is None or y == 0:
        return ans, None
    return ans, t if y == 1 else mul(t, _integer_pow_slope(x, y))


def _integer_pow_vjp(primals, needs, y):
    x, = primals
    ans = integer_pow_p.bind(x, y=y)
    if y == 0:
        return ans, None
    return ans, lambda ct: (ct if y == 1 else mul(ct, _integer_pow_slope(x, y)),)


integer_pow_p.jvp, integer_pow_p.vjp = _integer_pow_jvp, _integer_pow_vjp
batch_elementwise(integer_pow_p)


def integer_pow(x, y):
    """`x ** y` for an integer `y` known when tracing (JAX's `integer_pow[y=...]`, what
    `x ** 2` stages), computed as NumPy's `power` does; integers to a negative power are
    refused."""
    y = operator.index(y)
    _check_integer_pow(dtype_of(x), y)
    return integer_pow_p.bind(x, y=y)


# =============================================================== clamp
def _clamp_impl(xp, lo, x, hi):
    return xp.minimum(xp.maximum(x, lo), hi)


clamp_p = primitive("clamp", _clamp_impl,
                    lambda lo, x, hi: elementwise_aval("clamp", lo, x, hi))
clamp_p.elementwise = True
clamp_p.arity = 3
clamp_p.cuda_expr = None


def _clamp_masks(lo, x, hi):
    """Where each of min, x and max receives the derivative (JAX's rule: x strictly inside
    the bounds; min where it is above x and below max; max where it is below x)."""
    return (bitwise_and(gt(lo, x), lt(lo, hi)), bitwise_and(gt(x, lo), lt(x, hi)), lt(hi, x))


def _clamp_jvp(primals, tangents):
    ans = clamp_p.bind(*primals)
    if all(t is None for t in tangents):
        return ans, None
    zeros = full_like(ans, 0)
    out = None
    for mask, t in zip(_clamp_masks(*primals), tangents):
        if t is not None:
            term = select(mask, t, zeros)
            out = term if out is None else add(out, term)
    return ans, out


def _clamp_vjp(primals, needs):
    ans = clamp_p.bind(*primals)
    want = wanted(needs, primals)

    def backward(ct):
        zeros = full_like(ct, 0)
        return tuple(unbroadcast(select(mask, ct, zeros), shape_of(arg)) if w else None
                     for mask, arg, w in zip(_clamp_masks(*primals), primals, want))
    return ans, backward


clamp_p.jvp, clamp_p.vjp = _clamp_jvp, _clamp_vjp
batch_elementwise(clamp_p)


@on_operand_device
def clamp(min, x, max):
    """`x` limited to [min, max] elementwise (bounds scalars or shaped like `x`, of its
    dtype), computed as `minimum(maximum(x, min), max)`. As in JAX, inside the bounds the
    derivative goes to `x`, below them to `min` and above them to `max` (at a bound, to none
    of them)."""
    elementwise_aval("clamp", get_aval(min), get_aval(x), get_aval(max))     # or raises
    return clamp_p.bind(min, x, max)
