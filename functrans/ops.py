"""Segment reductions, as `jax.ops`: `segment_sum`, `segment_prod`, `segment_max` and
`segment_min` combine the rows of `data` that share a segment id into one output row per
segment.

Each is one scatter (`functrans.lax.scatter_*_axes`) of `data` into an array of
`num_segments` rows filled with the reduction's identity, so empty segments hold 0, 1, the
lowest or the highest value of the dtype (-inf / +inf for inexact dtypes), and derivatives,
vmap and jit are the scatter primitives' own. `segment_max` / `segment_min` share the
cotangent of a segment equally among the elements that tie for its extremum (as JAX).
"""
from __future__ import annotations

import operator

from . import dtypes
from .core import concrete_host_value, on_operand_device
from .errors import ConcretizationError, ConcretizationTypeError, format_frame, user_frame
from .lax import (GatherScatterMode, scatter_add_axes, scatter_mul_axes, scatter_max_axes,
                  scatter_min_axes)
from .numpy import asarray, full_like
from .primitives._util import dtype_of, shape_of

__all__ = ["segment_sum", "segment_prod", "segment_max", "segment_min"]

# functrans's scatter mode for each of JAX's modes: under a promise of in-range ids, ids out
# of range are still dropped (as JAX does on the CPU, and as functrans.lax.scatter does)
_SCATTER_MODE = {GatherScatterMode.CLIP: "clip", GatherScatterMode.FILL_OR_DROP: "drop",
                 GatherScatterMode.PROMISE_IN_BOUNDS: "drop", GatherScatterMode.ONE_HOT: "drop"}


def _lowest(dtype):
    kind = dtypes.kind_char(dtype)
    if kind in "fc":
        return float("-inf")
    return False if kind == "b" else int(dtypes.iinfo(dtype).min)


def _highest(dtype):
    kind = dtypes.kind_char(dtype)
    if kind in "fc":
        return float("inf")
    return True if kind == "b" else int(dtypes.iinfo(dtype).max)


def _num_segments(name, ids, num_segments):
    """The output's length: `num_segments` as an int, or max(segment_ids) + 1 read from
    concrete ids."""
    if num_segments is None:
        try:
            values = concrete_host_value(ids, f"{name} without num_segments")
        except ConcretizationError:
            raise ConcretizationTypeError(
                f"{name}: num_segments=None reads the number of segments from the values of "
                f"segment_ids (max + 1), but they are traced here (under jit or vmap) at "
                f"{format_frame(user_frame())}; pass num_segments= as a Python int (a static "
                "argument under jit).") from None
        return max(int(values.max(initial=-1)) + 1, 0)
    try:
        n = operator.index(num_segments)
    except TypeError:
        raise TypeError(f"{name}: num_segments must be an integer (the output's length; "
                        f"under jit a static argument), got {num_segments!r}") from None
    if n < 0:
        raise ValueError(f"{name}: num_segments must be non-negative, got {n}")
    return n


def _segment_reduce(name, scatter, identity, data, segment_ids, num_segments, bucket_size,
                    mode, out_sharding):
    data, ids = asarray(data), asarray(segment_ids)
    dshape, ishape = shape_of(data), shape_of(ids)
    if not dtypes.is_integer(dtype_of(ids)):
        raise TypeError(f"{name}: segment_ids must be integers, got dtype {dtype_of(ids)}")
    if dshape[:len(ishape)] != ishape:
        raise ValueError(f"{name}: segment_ids of shape {ishape} do not match data of shape "
                         f"{dshape}: they need one id per row, shape data.shape[:1] "
                         f"= {dshape[:1]} (or a longer prefix of data.shape)")
    if dtypes.kind_char(dtype_of(data)) == "b" and scatter in (scatter_add_axes,
                                                               scatter_mul_axes):
        raise TypeError(f"{name}: data of dtype bool cannot be combined arithmetically; "
                        "convert it first, e.g. data.astype(int)")
    if bucket_size is not None and (not isinstance(bucket_size, int) or bucket_size <= 0):
        raise ValueError(f"{name}: bucket_size must be a positive integer or None, got "
                         f"{bucket_size!r}")
    scatter_mode = _SCATTER_MODE[GatherScatterMode.from_any(mode)]
    n = _num_segments(name, ids, num_segments)
    out = full_like(data, identity(dtype_of(data)), shape=(n,) + tuple(dshape[len(ishape):]),
                    out_sharding=out_sharding)
    return scatter(out, data, ids, axes=(0,), mode=scatter_mode)


def _segment_fn(name, scatter, identity, combined, empty):
    @on_operand_device
    def f(data, segment_ids, num_segments=None, indices_are_sorted=False,
          unique_indices=False, bucket_size=None, mode=None, out_sharding=None):
        del indices_are_sorted, unique_indices
        return _segment_reduce(name, scatter, identity, data, segment_ids, num_segments,
                               bucket_size, mode, out_sharding)
    f.__name__ = f.__qualname__ = name
    f.__module__ = __name__
    f.__doc__ = (
        f"`jax.ops.{name}`: the {combined} of the rows of `data` (shape `(N, ...)`) in each "
        "segment, `segment_ids` (shape `(N,)`) giving each row's segment; the result has "
        f"shape `(num_segments, ...)`, {empty} for an empty segment.\n\n"
        "`num_segments=None` takes `max(segment_ids) + 1` from concrete ids (pass it under "
        "jit). Ids outside `[0, num_segments)` are dropped (`mode=None`, 'drop', 'fill', "
        "'promise_in_bounds') or clamped into range (`mode='clip'`). `indices_are_sorted`, "
        "`unique_indices` and `bucket_size` are performance hints of JAX's that change no "
        "result.")
    return f


segment_sum = _segment_fn("segment_sum", scatter_add_axes, lambda dtype: 0, "sum", "0")
segment_prod = _segment_fn("segment_prod", scatter_mul_axes, lambda dtype: 1, "product", "1")
segment_max = _segment_fn("segment_max", scatter_max_axes, _lowest, "maximum",
                          "the lowest value of the dtype (-inf for inexact ones)")
segment_min = _segment_fn("segment_min", scatter_min_axes, _highest, "minimum",
                          "the highest value of the dtype (+inf for inexact ones)")
