"""Descriptive statistics with SciPy's names: `sem`, `rankdata` and `mode`."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ... import lax, numpy as fnp
from ...numpy._conversion import asarray
from ...core import place_functions as _place_functions

__all__ = ["sem", "rankdata", "mode", "ModeResult"]


def sem(a, axis=0, ddof=1, nan_policy="propagate", *, keepdims=False):
    """The standard error of the mean: std(a, ddof) / sqrt(n) along `axis` (None: all)."""
    if nan_policy not in ("propagate", "omit"):
        raise ValueError(f"sem: nan_policy must be 'propagate' or 'omit', got {nan_policy!r}")
    a = asarray(a)
    if axis is None:
        a, axis = fnp.ravel(a), 0
    if nan_policy == "omit":
        n = fnp.sum(~fnp.isnan(a), axis=axis, keepdims=keepdims)
        std = fnp.nanstd(a, axis=axis, ddof=ddof, keepdims=keepdims)
        return std / fnp.sqrt(n.astype(std.dtype))
    n = a.shape[axis]
    return fnp.std(a, axis=axis, ddof=ddof, keepdims=keepdims) / math.sqrt(n)


def _run_starts(s):
    """Where each run of equal values starts, in `s` sorted along its last axis."""
    return fnp.concatenate([fnp.ones(s.shape[:-1] + (1,), bool), s[..., 1:] != s[..., :-1]],
                           axis=-1)


def _run_bounds(s):
    """Each element's run's first and last rank (from 1), in `s` sorted along its last
    axis."""
    n = s.shape[-1]
    new = _run_starts(s)
    positions = fnp.broadcast_to(fnp.arange(n), s.shape)
    last_axis = s.ndim - 1
    first = lax.cummax(fnp.where(new, positions, 0), last_axis) + 1
    ends = fnp.concatenate([new[..., 1:], fnp.ones(s.shape[:-1] + (1,), bool)], axis=-1)
    last = lax.cummin(fnp.where(ends, positions, n), last_axis, reverse=True) + 1
    return first, last


def _sorted_ranks(s, method):
    """The ranks of the elements of `s`, sorted along its last axis, for `method`."""
    if method == "ordinal":
        return fnp.broadcast_to(fnp.arange(1, s.shape[-1] + 1), s.shape)
    if method == "dense":
        return fnp.cumsum(_run_starts(s), axis=-1)
    first, last = _run_bounds(s)
    if method == "min":
        return first
    if method == "max":
        return last
    return (first + last) / 2.0


def rankdata(a, method="average", *, axis=None, nan_policy="propagate"):
    """Ranks from 1 of the elements of `a` (flattened, or along `axis`), ties by `method`:
    "average" (float; all NaN where a NaN is, as SciPy), "min", "max", "dense" or "ordinal"
    (stable), int64."""
    if method not in ("average", "min", "max", "dense", "ordinal"):
        raise ValueError(f"rankdata: unknown method {method!r}")
    if nan_policy != "propagate":
        raise NotImplementedError("rankdata: only nan_policy='propagate' is supported")
    a = asarray(a)
    if axis is None:
        a, axis = fnp.ravel(a), -1
    moved = fnp.moveaxis(a, axis, -1)
    order = fnp.argsort(moved, axis=-1, stable=True)
    ranks_sorted = _sorted_ranks(fnp.take_along_axis(moved, order, axis=-1), method)
    inverse = fnp.argsort(order, axis=-1)
    ranks = fnp.take_along_axis(ranks_sorted, inverse, axis=-1)
    if method != "average":
        ranks = ranks.astype(np.int64)
    elif fnp.issubdtype(a.dtype, fnp.floating):      # a NaN makes every rank NaN, as SciPy
        ranks = fnp.where(fnp.any(fnp.isnan(moved), axis=-1, keepdims=True), fnp.nan, ranks)
    return fnp.moveaxis(ranks, -1, axis)


class ModeResult(NamedTuple):
    mode: object
    count: object


def mode(a, axis=0, nan_policy="propagate", keepdims=False):
    """The most frequent value along `axis` (None: all; the smallest among equally frequent
    ones) and how often it occurs."""
    if nan_policy != "propagate":
        raise NotImplementedError("mode: only nan_policy='propagate' is supported")
    a = asarray(a)
    if axis is None:
        a, axis = fnp.ravel(a), 0
    s = fnp.sort(fnp.moveaxis(a, axis, -1), axis=-1)
    first, last = _run_bounds(s)
    counts = last - first + 1
    at = fnp.argmax(counts, axis=-1, keepdims=True)
    value = fnp.take_along_axis(s, at, axis=-1)
    count = fnp.take_along_axis(counts, at, axis=-1)
    if not keepdims:
        value, count = value[..., 0], count[..., 0]
    else:
        value, count = fnp.moveaxis(value, -1, axis), fnp.moveaxis(count, -1, axis)
    return ModeResult(value, count.astype(np.int32))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
