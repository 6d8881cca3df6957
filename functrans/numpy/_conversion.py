"""Operands for NumPy-style operations: conversion where they meet, and dtype promotion.
(`array` / `asarray` themselves live in `primitives.conversion`.)"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..array import Array
from ..core import Tracer, device_like
from ..primitives._util import dtype_of
from ..primitives.conversion import array, asarray, PYTHON_SCALARS, NUMPY_TYPES
from ..primitives.elementwise import convert_element_type


def as_operand(x, like=None):
    """An Array/tracer/Python scalar for use as an operation input. Other data (NumPy arrays
    and scalars, lists) becomes an Array where `like` lives (see `core.device_like`; the
    default device without `like`): data that is on no device yet joins the operation's."""
    t = type(x)
    if t is Array or t in PYTHON_SCALARS or isinstance(x, Tracer):
        return x
    return array(x, copy=False, device=None if like is None else device_like(like))


def asarray_like(x, like, dtype=None):
    """`asarray(x, dtype)`, data on no device yet (NumPy arrays and scalars, lists, Python
    numbers) placed where `like` lives; Arrays and traced values are never moved."""
    if isinstance(x, (Array, Tracer)):
        return asarray(x, dtype=dtype)
    return asarray(x, dtype=dtype, device=device_like(like))


def _placement(args):
    """The first Array or traced operand: where converted operands go."""
    return next((a for a in args if type(a) is Array or isinstance(a, Tracer)), None)


_WEAK_STANDIN = {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}


def _promotion_key(x):
    """A Python scalar stays weak; so does a traced value that came from one (jit passes
    Python scalar arguments as weakly typed inputs), represented by a scalar of its kind."""
    if type(x) in PYTHON_SCALARS:
        return x
    if isinstance(x, Tracer) and x.aval.weak_type:
        return _WEAK_STANDIN[dtypes.kind_char(x.aval.dtype)]
    return dtype_of(x)


def result_dtype(*operands):
    return dtypes.result_type(*[_promotion_key(x) for x in operands])


def promote(*args):
    """Operands converted to one dtype (NumPy 2 promotion, weak Python scalars).

    Python scalars stay scalars when the result dtype can hold their kind, so they become
    literals in jaxprs and never allocate.
    """
    like = _placement(args)
    ops = [as_operand(a, like) for a in args]
    keys = [_promotion_key(o) for o in ops]
    first = keys[0]
    if isinstance(first, np.dtype) and all(isinstance(k, np.dtype) and k == first
                                           for k in keys):
        return ops, first                        # one dtype already: nothing to convert
    dt, weak = dtypes.result_type(*keys, return_weak_type_flag=True)
    return _cast_all(ops, dt, like, weak), dt


def _cast_all(ops, dt, like, weak=False):
    """`ops` in `dt`; traced values converted weakly with `weak` (all operands weak)."""
    out = []
    all_scalars = all(type(o) in PYTHON_SCALARS for o in ops)
    for o in ops:
        if type(o) in PYTHON_SCALARS:
            if all_scalars:
                o = array(o, dtype=dt, device=None if like is None else device_like(like))
        elif dtype_of(o) != dt:
            o = convert_element_type(o, dt, weak_type=weak)
        out.append(o)
    return out


def promote_inexact(*args):
    """Like `promote`, but integers and booleans become the default float dtype (as for
    exp, true division, mean)."""
    like = _placement(args)
    ops = [as_operand(a, like) for a in args]
    dt, weak = dtypes.result_type(*map(_promotion_key, ops), return_weak_type_flag=True)
    if not dtypes.is_inexact(dt):
        dt = dtypes.default_float_dtype()
    return _cast_all(ops, dt, like, weak), dt


def as_floating(x, like=None):
    """`x` as an array of an inexact dtype: integers and booleans become the default float
    dtype; floats and complex numbers keep theirs. Data on no device yet (NumPy data, lists,
    Python numbers) goes where `like` lives (see `asarray_like`), else to the default device."""
    x = asarray(x) if like is None else asarray_like(x, like)
    if not dtypes.is_inexact(dtype_of(x)):
        x = convert_element_type(x, dtypes.default_float_dtype())
    return x


def check_arraylike(name, *args):
    for i, a in enumerate(args):
        if not (isinstance(a, (Array, Tracer, list, tuple)) or type(a) in PYTHON_SCALARS
                or isinstance(a, NUMPY_TYPES) or hasattr(a, "__array__")):
            raise TypeError(f"{name}: argument {i} of type {type(a).__name__} is not an array")
