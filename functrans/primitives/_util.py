"""Helpers for defining primitives: shape rules, derivative-rule builders, batching helpers.

Conventions every rule follows:
- a tangent or cotangent of `None` is a symbolic zero;
- rules are written with functrans operations (never raw NumPy), so they can be traced, nested
  and jitted;
- a cotangent has exactly the shape and dtype of its primal.
"""
from __future__ import annotations

import operator

import numpy as np

from .. import dtypes
from ..core import Primitive, ShapedArray, get_aval, is_python_scalar, Tracer
from ..array import Array
from ..errors import ConcretizationError


def primitive(name, impl, abstract_eval, *, multiple_results=False, effectful=False):
    p = Primitive(name, multiple_results=multiple_results, effectful=effectful)
    p.impl = impl
    p.abstract_eval = abstract_eval
    return p


def shape_of(x):
    """Shape of an array, tracer or Python scalar."""
    if type(x) is Array:
        return x._value.shape
    if isinstance(x, Tracer):
        return x.aval.shape
    return np.shape(x)


def as_shape(shape, name="shape"):
    """`shape` (an int, or a sequence or 1-d array of ints) as a tuple of Python ints. A
    float is a TypeError naming `name`; a traced value under jit a ConcretizationError."""
    dims = shape if isinstance(shape, (tuple, list)) or len(shape_of(shape)) == 1 else (shape,)
    try:
        return tuple(operator.index(d) for d in dims)
    except ConcretizationError:
        raise
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {shape!r}") from None


def dtype_of(x):
    if type(x) is Array:
        return x._value.dtype
    if isinstance(x, Tracer):
        return x.aval.dtype
    if is_python_scalar(x):
        return dtypes.scalar_dtype(x)
    return np.asarray(x).dtype


def is_differentiable(x):
    return not is_python_scalar(x) and dtypes.is_inexact(dtype_of(x))


def wanted(needs, primals):
    """Which inputs a reverse rule must produce cotangents for."""
    return [n and is_differentiable(p) for n, p in zip(needs, primals)]


def broadcast_shapes(*shapes, opname="operation"):
    """NumPy broadcasting of shapes, with an error naming the operation and the shapes."""
    if len(shapes) == 1:
        return tuple(shapes[0])
    ndim = max(len(s) for s in shapes)
    out = []
    for i in range(ndim):
        size = 1
        for s in shapes:
            j = i - (ndim - len(s))
            if j < 0:
                continue
            d = s[j]
            if d == 1:
                continue
            if size != 1 and d != size:
                shown = " and ".join(str(tuple(s)) for s in shapes)
                raise ValueError(
                    f"{opname}: shapes {shown} cannot be broadcast together (axis {i - ndim} has "
                    f"sizes {size} and {d}). Reshape one of them, e.g. with x[:, None] or "
                    "fnp.expand_dims, so that each axis matches or is 1.")
            size = d
        out.append(size)
    return tuple(out)


def elementwise_aval(opname, *avals, out_dtype=None):
    """Output aval of an elementwise op: broadcast shape, the common non-weak dtype (weak
    where every operand is: a Python scalar's arithmetic stays weak, as in eager code)."""
    strong = [a.dtype for a in avals if not a.weak_type]
    # all weak (Python scalars, a jitted function's Python-number arguments): the widest
    # kind wins, as `3 * x` with `x` a float stays a float
    dt = strong[0] if strong else max((a.dtype for a in avals), key=dtypes.dtype_kind)
    for d in strong[1:]:
        if d != dt:
            raise TypeError(f"{opname} got mixed dtypes {dt} and {d}; functrans.lax does not "
                            "promote (functrans.numpy does): convert one with .astype()")
    if strong and any(dtypes.dtype_kind(a.dtype) > dtypes.dtype_kind(dt)
                      for a in avals if a.weak_type):
        raise TypeError(f"{opname} got a Python scalar of a wider kind than {dt} (a float with "
                        "integers, say), which it cannot take without losing its value; "
                        "functrans.lax does not promote (functrans.numpy does): convert the "
                        "array with .astype()")
    shape = broadcast_shapes(*[a.shape for a in avals], opname=opname)
    if out_dtype is None:
        return ShapedArray(shape, dt, weak_type=not strong)
    return ShapedArray(shape, out_dtype)


PYTHON_SCALARS = frozenset({int, float, complex, bool})
_TAKES = {t: dtypes.kinds_holding(t) for t in PYTHON_SCALARS}
_COMPLEX = np.dtype(np.complex128)


def ufunc_impl(np_name, binary_name=None):
    """The eager kernel of a ufunc primitive; a binary one (`binary_name`) refuses operands of
    two dtypes, or a Python scalar of a wider kind than the other's dtype (2.5 with integers),
    as `elementwise_aval` refuses them when tracing (NumPy would promote silently)."""
    fn = getattr(np, np_name)
    if binary_name is None:
        def impl(xp, *args):
            out = (fn if xp is np else getattr(xp, np_name))(*args)
            dt = getattr(args[0], "dtype", out.dtype)
            if out.dtype != dt and out.dtype != bool and dtypes.is_ml_dtype(dt):
                out = out.astype(dt)    # NumPy widens where ml_dtypes has no loop (int4's -x)
            return out
    else:
        def impl(xp, x, y):
            t, u = type(x), type(y)
            if t is u:
                refused = t not in PYTHON_SCALARS and x.dtype != y.dtype
            elif u in _TAKES:
                refused = getattr(x, "dtype", _COMPLEX).kind not in _TAKES[u]
            else:
                refused = t in _TAKES and getattr(y, "dtype", _COMPLEX).kind not in _TAKES[t]
            if refused:
                elementwise_aval(binary_name, get_aval(x), get_aval(y))     # raises
            return (fn if xp is np else getattr(xp, np_name))(x, y)
    impl.__name__ = np_name
    return impl


_SELECT_WHICH = {"select": "b", "select_n": "biu"}


def select_dtype(opname, which, cases):
    """The dtype `opname` ("select" or "select_n") gives for the avals of its predicate
    `which` and its `cases`, which must share one dtype (as JAX's, no promotion): a TypeError
    naming the dtypes otherwise. A Python scalar case (weak) takes the others' dtype where
    that loses nothing; cases that are all Python scalars give their kind's default dtype."""
    if which.dtype.kind not in _SELECT_WHICH[opname]:
        wanted = "a bool predicate" if opname == "select" else "a bool or integer `which`"
        raise TypeError(f"{opname} needs {wanted}, got {which.dtype}"
                        + (": compare it, e.g. x != 0, or use select_n for integer indices"
                           if opname == "select" and which.dtype.kind in "iu" else ""))
    strong = [c.dtype for c in cases if not c.weak_type]
    weak = [c.dtype for c in cases if c.weak_type]
    shown = ", ".join(str(c.dtype) + ("" if not c.weak_type else " (Python scalar)")
                      for c in cases)
    if any(d != strong[0] for d in strong):
        raise TypeError(f"{opname} needs cases of one dtype, got {shown}; lax.{opname} does not "
                        "promote: convert them with .astype(), or use functrans.numpy.where, "
                        "which promotes")
    if not strong:
        return dtypes.default_dtype_for_kind(max(map(dtypes.dtype_kind, weak)))
    kind = dtypes.dtype_kind(strong[0])
    if any(dtypes.dtype_kind(d) > kind for d in weak):
        raise TypeError(f"{opname} cannot give a Python scalar of a wider kind the cases' dtype "
                        f"{strong[0]} without losing its value (got {shown}); pass a value of "
                        "that kind, or convert the cases with .astype()")
    return strong[0]


# ------------------------------------------------------------------ derivative-rule builders
def def_linear(prim, transpose):
    """A primitive linear in its (single array) first argument.

    Forward mode applies the primitive to the tangent; reverse mode applies
    `transpose(ct, in_aval, **params)`, which needs only the input's shape and dtype.
    """
    def jvp(primals, tangents, **params):
        out = prim.bind(*primals, **params)
        t = tangents[0]
        return out, None if t is None else prim.bind(t, *primals[1:], **params)

    def vjp(primals, needs, **params):
        out = prim.bind(*primals, **params)
        aval = get_aval(primals[0])
        rest = len(primals) - 1
        return out, lambda ct: (transpose(ct, aval, **params),) + (None,) * rest

    prim.jvp = jvp
    prim.vjp = vjp


def def_nondiff(prim):
    """Outputs carry no derivative (comparisons, argmax, integer ops)."""
    def jvp(primals, tangents, **params):
        return prim.bind(*primals, **params), (
            [None] * len(prim.abstract_eval(*map(get_aval, primals), **params))
            if prim.multiple_results else None)

    def vjp(primals, needs, **params):
        return prim.bind(*primals, **params), None

    jvp.no_tangents = True          # (read by ad.dependent_outputs; a later rule replaces it)
    prim.jvp = jvp
    prim.vjp = vjp


# ------------------------------------------------------------------ batching helpers
def moveaxis_to_front(x, bdim):
    from .shape_ops import moveaxis
    return x if bdim == 0 else moveaxis(x, bdim, 0)


def bdim_size(vals, dims):
    for v, d in zip(vals, dims):
        if d is not None:
            return shape_of(v)[d]
    raise ValueError("no batched argument")


def broadcast_batched(x, bdim, size, axis=0):
    """`x` with its batch axis at `axis`: moved there from `bdim`, or, when `x` has none
    (bdim None: the same for every example), materialized there by broadcasting to `size`."""
    from .shape_ops import broadcast_in_dim, full, moveaxis
    if bdim is not None:
        if bdim == axis:
            return x
        ndim = len(shape_of(x))
        return x if bdim % ndim == axis % ndim else moveaxis(x, bdim, axis)
    if is_python_scalar(x):
        return full((size,), x, dtype_of(x))
    s = tuple(shape_of(x))
    axis %= len(s) + 1
    return broadcast_in_dim(x, s[:axis] + (size,) + s[axis:],
                            tuple(i for i in range(len(s) + 1) if i != axis))


def canonical_axis(axis, ndim, name="axis"):
    if not -ndim <= axis < max(ndim, 1):
        raise ValueError(f"{name} {axis} is out of bounds for an array of dimension {ndim}")
    return axis % ndim if ndim else 0


def power_by_squaring(x, n, times):
    """`x` multiplied by itself to the `n`-th power (`n` >= 1) with the product `times(a, b)`,
    by repeated squaring: about 2 log2(n) products."""
    acc = None
    while n:
        if n & 1:
            acc = x if acc is None else times(acc, x)
        n >>= 1
        if n:
            x = times(x, x)
    return acc
