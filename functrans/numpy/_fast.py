"""Eager fast paths: when the operands are NumPy-backed Arrays (and Python scalars of a kind
NumPy 2 promotes exactly as functrans does), the NumPy ufunc gives functrans' answer, so it
is called directly, skipping the primitive machinery. Anything else (tracers, CuPy arrays,
promotion that differs, errors) takes the general path."""
from __future__ import annotations

import numpy as np

from ..array import Array

_NDARRAY = np.ndarray
_GENERIC = np.generic
_enabled = True
_off_for = set()        # the reasons the fast paths are off now


def enable(flag, reason="checks"):
    """Turn the fast paths on or off for `reason` (off: every operation is a primitive, as
    `ft.debug`'s NaN checks and the strict promotion settings need); they are on when no
    reason holds them off."""
    global _enabled
    (_off_for.discard if flag else _off_for.add)(reason)
    _enabled = not _off_for


def numpy_value(x, kinds=None):
    """The NumPy buffer behind eager Array `x` (of a dtype kind in `kinds`), else None: None
    for ml_dtypes' types too (bfloat16, ...: NumPy's own dtypes are "builtin" 1, those 2),
    whose NumPy promotion is not JAX's."""
    if type(x) is Array and _enabled:
        v = x._value
        if (type(v) is _NDARRAY or isinstance(v, _GENERIC)) and v.dtype.isbuiltin == 1 and (
                kinds is None or v.dtype.kind in kinds):
            return v
    return None


def numpy_pair(a, b, float_only=False):
    """Raw operands for a binary ufunc when NumPy's promotion equals functrans', else None.

    Arrays of one dtype, or both inexact, or both integer/bool, promote alike (integer or bool
    arrays meeting inexact ones keep the inexact width in functrans, not in NumPy); a Python
    int/bool meets any array the same way (NEP 50);
    a Python float only a floating array (with integers functrans gives the default float,
    NumPy float64). `float_only` ops (true division, power) need floating arrays.
    """
    kinds = "fc" if float_only else None
    ta, tb = type(a), type(b)
    if ta is Array:
        va = numpy_value(a, kinds)
        if va is None:
            return None
        if tb is Array:
            vb = numpy_value(b, kinds)
            if vb is None:
                return None
            da = va.dtype
            if da is not vb.dtype and (da.kind in "fc") is not (vb.dtype.kind in "fc"):
                return None
            return va, vb
        if tb is int or tb is bool or (tb is float and va.dtype.kind in "fc"):
            return va, b
        return None
    if tb is Array and (ta is int or ta is bool or ta is float):
        vb = numpy_value(b, kinds)
        if vb is None or (ta is float and vb.dtype.kind not in "fc"):
            return None
        return a, vb
    return None


def floor_divide(a, b):
    """`floor_divide` on NumPy arrays (the eager fast path of the // operator)."""
    out = np.floor_divide(a, b)
    if out.dtype.kind != "f":
        return out
    a_inf, b_inf = np.isinf(a), np.isinf(b)
    special = (a_inf != b_inf) & ~np.isnan(a) & ~np.isnan(b)
    return np.where(special, np.true_divide(a, b), out) if special.any() else out
