"""Structural primitives: reshape, transpose, broadcast_in_dim, rev, concatenate, pad, slice,
and full_like. All but full_like are linear, so each has one transpose rule serving reverse
mode, and forward mode applies the primitive to the tangent.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from .. import dtypes
from ..array import wrap
from ..backends import create, default_device_now, transfer
from ..core import (ShapedArray, Tracer, is_python_scalar, device_like, on_operand_device,
                    staging_main)
from ..errors import ShapeMismatchError
from ..meshes import out_sharding_device
from .transfer import place
from ._util import (primitive, def_linear, def_nondiff, shape_of, dtype_of, wanted,
                    broadcast_batched, bdim_size)


# ------------------------------------------------------------------ reshape
def _reshape_aval(x, new_sizes):
    if math.prod(new_sizes) != math.prod(x.shape):
        raise ShapeMismatchError(f"cannot reshape an array of shape {x.shape} "
                                 f"({math.prod(x.shape)} elements) to {new_sizes} "
                                 f"({math.prod(new_sizes)} elements)")
    return ShapedArray(new_sizes, x.dtype)


reshape_p = primitive("reshape", lambda xp, x, new_sizes: xp.reshape(x, new_sizes), _reshape_aval)
reshape_p.view, reshape_p.kernel_kind = True, "reshape"
def_linear(reshape_p, lambda ct, aval, new_sizes: reshape(ct, aval.shape))


def _reshape_batch(vals, dims, new_sizes):
    x, = vals
    x = moveaxis(x, dims[0], 0)
    return reshape(x, (shape_of(x)[0],) + tuple(new_sizes)), 0


reshape_p.batch = _reshape_batch


def reshape(operand, new_sizes, dimensions=None, *, out_sharding=None):
    """`operand` with shape `new_sizes`, read in C order after permuting its axes by
    `dimensions` (on the device JAX's `out_sharding` names, where given)."""
    if out_sharding is not None:
        return place(reshape(operand, new_sizes, dimensions), out_sharding, "reshape")
    if dimensions is not None:
        operand = transpose(operand, dimensions)
    new_sizes = tuple(int(d) for d in new_sizes)
    if shape_of(operand) == new_sizes:
        return operand
    return reshape_p.bind(operand, new_sizes=new_sizes)


# ------------------------------------------------------------------ transpose
def _transpose_aval(x, permutation):
    if sorted(permutation) != list(range(len(x.shape))):
        raise ValueError(f"transpose: {permutation} is not a permutation of the axes of an "
                         f"array of shape {x.shape}")
    return ShapedArray(tuple(x.shape[p] for p in permutation), x.dtype)


transpose_p = primitive("transpose", lambda xp, x, permutation: xp.transpose(x, permutation),
                        _transpose_aval)
transpose_p.view, transpose_p.kernel_kind = True, "transpose"
def_linear(transpose_p,
           lambda ct, aval, permutation: transpose(ct, tuple(np.argsort(permutation))))


def _transpose_batch(vals, dims, permutation):
    x, = vals
    d = dims[0]
    perm = (0,) + tuple(p + 1 for p in permutation)
    return transpose(moveaxis(x, d, 0), perm), 0


transpose_p.batch = _transpose_batch


def transpose(operand, permutation):
    permutation = tuple(int(p) for p in permutation)
    if permutation == tuple(range(len(shape_of(operand)))):
        return operand
    return transpose_p.bind(operand, permutation=permutation)


def moveaxis(x, source, destination):
    n = len(shape_of(x))
    source, destination = source % n, destination % n
    if source == destination:
        return x
    perm = [i for i in range(n) if i != source]
    perm.insert(destination, source)
    return transpose(x, perm)


# ------------------------------------------------------------------ broadcast_in_dim
def _bid_impl(xp, x, shape, broadcast_dimensions):
    if is_python_scalar(x):
        return xp.full(shape, x)
    expanded = [1] * len(shape)
    for i, d in enumerate(broadcast_dimensions):
        expanded[d] = x.shape[i]
    return xp.broadcast_to(xp.reshape(x, expanded), shape)


def _bid_aval(x, shape, broadcast_dimensions):
    if len(broadcast_dimensions) != len(x.shape):
        raise ValueError(f"broadcast_in_dim: operand of shape {x.shape} needs "
                         f"{len(x.shape)} broadcast_dimensions, got {broadcast_dimensions}")
    for i, d in enumerate(broadcast_dimensions):
        if not (x.shape[i] == 1 or x.shape[i] == shape[d]):
            raise ValueError(f"broadcast_in_dim: cannot broadcast shape {x.shape} to {shape} "
                             f"(operand axis {i} has size {x.shape[i]}, target axis {d} has "
                             f"size {shape[d]})")
    return ShapedArray(shape, x.dtype)


broadcast_in_dim_p = primitive("broadcast_in_dim", _bid_impl, _bid_aval)
broadcast_in_dim_p.view, broadcast_in_dim_p.kernel_kind = True, "broadcast_in_dim"


def _bid_transpose(ct, aval, shape, broadcast_dimensions):
    from .reductions import reduce_sum
    summed = tuple(i for i in range(len(shape)) if i not in broadcast_dimensions)
    ones = tuple(d for i, d in enumerate(broadcast_dimensions)
                 if aval.shape[i] == 1 and shape[d] != 1)
    axes = tuple(sorted(summed + ones))
    out = reduce_sum(ct, axes) if axes else ct
    return reshape(out, aval.shape)


def_linear(broadcast_in_dim_p, _bid_transpose)


def _bid_batch(vals, dims, shape, broadcast_dimensions):
    x, = vals
    x = moveaxis(x, dims[0], 0)
    b = shape_of(x)[0]
    return broadcast_in_dim(x, (b,) + tuple(shape),
                            (0,) + tuple(d + 1 for d in broadcast_dimensions)), 0


broadcast_in_dim_p.batch = _bid_batch


def broadcast_in_dim(operand, shape, broadcast_dimensions, *, out_sharding=None):
    if out_sharding is not None:
        return place(broadcast_in_dim(operand, shape, broadcast_dimensions), out_sharding,
                     "broadcast_in_dim")
    shape, broadcast_dimensions = tuple(shape), tuple(broadcast_dimensions)
    if shape_of(operand) == shape and broadcast_dimensions == tuple(range(len(shape))):
        return operand
    return broadcast_in_dim_p.bind(operand, shape=shape, broadcast_dimensions=broadcast_dimensions)


def broadcast_to(x, shape):
    """NumPy-style broadcast of `x` to `shape` (leading axes added)."""
    shape = tuple(shape)
    s = shape_of(x)
    lead = len(shape) - len(s)
    if lead < 0:
        raise ValueError(f"cannot broadcast an array of shape {s} to the smaller rank {shape}")
    return broadcast_in_dim(x, shape, tuple(range(lead, len(shape))))


# ------------------------------------------------------------------ rev (flip)
rev_p = primitive("rev", lambda xp, x, dimensions: xp.flip(x, dimensions),
                  lambda x, dimensions: ShapedArray(x.shape, x.dtype))
rev_p.view = True
def_linear(rev_p, lambda ct, aval, dimensions: rev(ct, dimensions))


def _rev_batch(vals, dims, dimensions):
    x, = vals
    d = dims[0]
    logical = [a for a in range(len(shape_of(x))) if a != d]
    return rev(x, tuple(logical[a] for a in dimensions)), d


rev_p.batch = _rev_batch


def rev(operand, dimensions):
    dimensions = tuple(dimensions)
    return operand if not dimensions else rev_p.bind(operand, dimensions=dimensions)


# ------------------------------------------------------------------ concatenate
def _concat_aval(*xs, dimension):
    first = xs[0]
    for x in xs[1:]:
        if x.dtype != first.dtype:
            raise TypeError(f"concatenate: mixed dtypes {first.dtype} and {x.dtype}")
        if len(x.shape) != len(first.shape) or any(
                a != b for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != dimension):
            raise ValueError("concatenate: all shapes must match except along axis "
                             f"{dimension}; got {[a.shape for a in xs]}")
    size = sum(x.shape[dimension] for x in xs)
    shape = list(first.shape)
    shape[dimension] = size
    return ShapedArray(shape, first.dtype)


def _concat_impl(xp, *xs, dimension):
    if any(x.dtype != xs[0].dtype for x in xs):     # as tracing does (NumPy would promote)
        _concat_aval(*(ShapedArray(x.shape, x.dtype) for x in xs), dimension=dimension)
    return xp.concatenate(xs, axis=dimension)


concatenate_p = primitive("concatenate", _concat_impl, _concat_aval)


def _concat_jvp(primals, tangents, dimension):
    out = concatenate_p.bind(*primals, dimension=dimension)
    if all(t is None for t in tangents):
        return out, None
    ts = [zeros_or(t, p) for p, t in zip(primals, tangents)]
    return out, concatenate_p.bind(*ts, dimension=dimension)


def _concat_vjp(primals, needs, dimension):
    out = concatenate_p.bind(*primals, dimension=dimension)
    sizes = [shape_of(p)[dimension] for p in primals]

    def backward(ct):
        cts, start = [], 0
        for w, n in zip(wanted(needs, primals), sizes):
            cts.append(slice_in_dim(ct, start, start + n, axis=dimension) if w else None)
            start += n
        return tuple(cts)
    return out, backward


def _concat_batch(vals, dims, dimension):
    size = bdim_size(vals, dims)
    xs = [broadcast_batched(v, d, size) for v, d in zip(vals, dims)]
    return concatenate_p.bind(*xs, dimension=dimension + 1), 0


concatenate_p.jvp, concatenate_p.vjp, concatenate_p.batch = _concat_jvp, _concat_vjp, _concat_batch


def concatenate(operands, dimension):
    operands = list(operands)
    if len(operands) == 1:
        return operands[0]
    return concatenate_p.bind(*operands, dimension=dimension)


# ------------------------------------------------------------------ pad
def pad_placement(shape, padding_config):
    """Where `pad` puts an operand of `shape`: `(out_shape, dst, src)`, the result's
    `out[dst] = x[src]` (tuples of slices; both None where no element of it is kept)."""
    out_shape = []
    for (lo, hi, interior), d in zip(padding_config, shape):
        core = d + max(d - 1, 0) * interior
        out_shape.append(max(lo + core + hi, 0))
    # element i of an axis goes to lo + step*i, kept where that lies in [0, n)
    src, dst = [], []
    for (lo, hi, interior), d, n in zip(padding_config, shape, out_shape):
        step = interior + 1
        first = max(0, -(lo // step))          # the first i with lo + step*i >= 0
        last = min(d - 1, (n - 1 - lo) // step) if n > lo else -1
        if first > last:
            return tuple(out_shape), None, None
        src.append(slice(first, last + 1))
        dst.append(slice(lo + step * first, lo + step * last + 1, step))
    return tuple(out_shape), tuple(dst), tuple(src)


def pad_kernel(xp, x, padval, padding_config):
    """`pad`'s kernel on a raw array (`padding_config`: `(low, high, interior)` per axis;
    negative padding crops); the convolution and window kernels use it too."""
    x = xp.asarray(x)
    out_shape, dst, src = pad_placement(x.shape, padding_config)
    out = xp.full(out_shape, padval, dtype=x.dtype)
    if dst is not None:
        out[dst] = x[src]
    return out


def _pad_aval(x, padval, padding_config):
    if len(padding_config) != len(x.shape):
        raise ValueError(f"pad: padding_config has {len(padding_config)} entries for an array "
                         f"of rank {len(x.shape)}")
    shape = []
    for (lo, hi, interior), d in zip(padding_config, x.shape):
        if interior < 0:
            raise ValueError("pad: interior padding must be non-negative")
        n = lo + hi + d + max(d - 1, 0) * interior
        if n < 0:
            raise ValueError(f"pad: negative output size for {padding_config} on {x.shape}")
        shape.append(n)
    return ShapedArray(shape, x.dtype)


pad_p = primitive("pad", pad_kernel, _pad_aval)
pad_p.kernel_kind = "pad"


def _pad_transpose_operand(ct, shape, padding_config):
    # undo lo/hi (negative padding means cropping, so pad back), then stride out interior
    unpadded = pad(ct, 0.0, [(-lo, -hi, 0) for lo, hi, _ in padding_config])
    strides = tuple(interior + 1 for _, _, interior in padding_config)
    return slice_(unpadded, (0,) * len(shape), shape_of(unpadded), strides)


def _pad_jvp(primals, tangents, padding_config):
    x, padval = primals
    out = pad_p.bind(x, padval, padding_config=padding_config)
    tx, tp = tangents
    if tx is None and tp is None:
        return out, None
    tx = zeros_or(tx, x)
    tp = 0.0 if tp is None else tp
    return out, pad_p.bind(tx, tp, padding_config=padding_config)


def _pad_vjp(primals, needs, padding_config):
    x, padval = primals
    out = pad_p.bind(x, padval, padding_config=padding_config)
    shape = shape_of(x)

    def backward(ct):
        from .reductions import reduce_sum
        want_x, want_p = wanted(needs, primals)
        cx = _pad_transpose_operand(ct, shape, padding_config) if want_x else None
        cp = None
        if want_p:
            total = reduce_sum(ct)
            inner = reduce_sum(cx) if cx is not None else reduce_sum(
                _pad_transpose_operand(ct, shape, padding_config))
            from .elementwise import sub
            cp = sub(total, inner)
        return cx, cp
    return out, backward


def _pad_batch(vals, dims, padding_config):
    x, padval = vals
    dx, dp = dims
    size = bdim_size(vals, dims)
    x = broadcast_batched(x, dx, size)
    config = ((0, 0, 0),) + tuple(padding_config)
    if dp is None:
        return pad_p.bind(x, padval, padding_config=config), 0
    # a padding value per example: pad with zeros, then fill the padding from a mask
    from .elementwise import convert_element_type, select
    out = pad_p.bind(x, full((), 0, dtype_of(x), like=x), padding_config=config)
    inside = pad_p.bind(full(shape_of(x), True, np.bool_, like=x), False, padding_config=config)
    padval = convert_element_type(moveaxis(padval, dp, 0), dtype_of(x))   # as the kernel
    values = broadcast_in_dim(padval, shape_of(out), (0,))
    return select(inside, out, values), 0


pad_p.jvp, pad_p.vjp, pad_p.batch = _pad_jvp, _pad_vjp, _pad_batch


@on_operand_device
def pad(operand, padding_value, padding_config):
    """Pad with `(low, high, interior)` per axis; negative low/high crop."""
    config = tuple((int(lo), int(hi), int(i)) for lo, hi, i in padding_config)
    if all(c == (0, 0, 0) for c in config):
        return operand
    return pad_p.bind(operand, padding_value, padding_config=config)


# ------------------------------------------------------------------ static slice
def _slice_impl(xp, x, start_indices, limit_indices, strides):
    return x[tuple(slice(s, l, st) for s, l, st in zip(start_indices, limit_indices, strides))]


def _slice_shape(shape, start_indices, limit_indices, strides):
    if not len(start_indices) == len(limit_indices) == len(strides) == len(shape) or any(
            not (0 <= s <= l <= d) or st < 1
            for s, l, st, d in zip(start_indices, limit_indices, strides, shape)):
        raise ValueError(f"slice: start {start_indices}, limit {limit_indices}, strides "
                         f"{strides} are invalid for shape {tuple(shape)} (one of each per axis, "
                         f"0 <= start <= limit <= size, stride >= 1)")
    return [max(0, -(-(l - s) // st)) for s, l, st in zip(start_indices, limit_indices, strides)]


def _slice_aval(x, start_indices, limit_indices, strides):
    return ShapedArray(_slice_shape(x.shape, start_indices, limit_indices, strides), x.dtype)


slice_p = primitive("slice", _slice_impl, _slice_aval)
slice_p.view, slice_p.kernel_kind = True, "slice"


def _slice_transpose(ct, aval, start_indices, limit_indices, strides):
    config = []
    for s, l, st, d, n in zip(start_indices, limit_indices, strides, aval.shape, shape_of(ct)):
        used = s + (n - 1) * st + 1 if n else s
        config.append((s, d - used, st - 1) if n else (s, d - s, 0))
    if any(n == 0 for n in shape_of(ct)):
        return full(aval.shape, 0.0, aval.dtype, like=ct)
    return pad(ct, 0, config)


def_linear(slice_p, _slice_transpose)


def _slice_batch(vals, dims, start_indices, limit_indices, strides):
    x, = vals
    x = moveaxis(x, dims[0], 0)
    b = shape_of(x)[0]
    return slice_p.bind(x, start_indices=(0,) + tuple(start_indices),
                        limit_indices=(b,) + tuple(limit_indices),
                        strides=(1,) + tuple(strides)), 0


slice_p.batch = _slice_batch


def slice_(operand, start_indices, limit_indices, strides=None):
    start_indices = tuple(int(s) for s in start_indices)
    limit_indices = tuple(int(s) for s in limit_indices)
    strides = (1,) * len(start_indices) if strides is None else tuple(int(s) for s in strides)
    # eager binds skip avals
    _slice_shape(shape_of(operand), start_indices, limit_indices, strides)
    if start_indices == (0,) * len(start_indices) and limit_indices == shape_of(operand) and \
            all(s == 1 for s in strides):
        return operand
    return slice_p.bind(operand, start_indices=start_indices, limit_indices=limit_indices,
                        strides=strides)


def slice_in_dim(operand, start_index, limit_index, stride=1, axis=0):
    """`operand[start_index:limit_index:stride]` along `axis` (None and negative bounds as in
    Python slices)."""
    shape = shape_of(operand)
    axis = axis % len(shape)
    start, limit, _ = slice(start_index, limit_index).indices(shape[axis])
    starts = [0] * len(shape)
    limits = list(shape)
    strides = [1] * len(shape)
    starts[axis], limits[axis], strides[axis] = start, limit, stride
    return slice_(operand, starts, limits, strides)


# ------------------------------------------------------------------ full_like / constants
full_like_p = primitive(
    "full_like",
    lambda xp, x, fill_value, dtype, shape: xp.full(
        x.shape if shape is None else shape, fill_value,
        dtype=x.dtype if dtype is None else dtype),
    lambda x, fill_value, dtype, shape: ShapedArray(
        x.shape if shape is None else shape, x.dtype if dtype is None else dtype))
def_nondiff(full_like_p)


def _full_like_batch(vals, dims, fill_value, dtype, shape):
    x, = vals
    d = dims[0]
    if shape is None:
        return full_like_p.bind(x, fill_value=fill_value, dtype=dtype, shape=None), d
    return full(shape, fill_value, dtype or dtype_of(x), like=x), None


full_like_p.batch = _full_like_batch


def full_like(x, fill_value, dtype=None, shape=None, sharding=None):
    """An array like `x` (same device; its shape and dtype unless given) filled with a value.

    Works on traced values too: the result is placed on whatever device `x` lives on, or the
    one JAX's `sharding` names.
    """
    if sharding is not None:
        return place(full_like(x, fill_value, dtype, shape), sharding, "full_like", "sharding")
    if is_python_scalar(x):
        return full((), fill_value, dtype or dtypes.scalar_dtype(x))
    return full_like_p.bind(x, fill_value=fill_value,
                            dtype=None if dtype is None else np.dtype(dtype),
                            shape=None if shape is None else tuple(shape))


def zeros_or(t, like):
    """`t`, or zeros like `like` where `t` is None (a symbolic zero tangent or cotangent)."""
    return full_like(like, 0) if t is None else t


def _iota_impl(xp, dtype, shape, dimension, sharding=None):
    ramp = xp.arange(shape[dimension], dtype=dtype)
    if len(shape) == 1:
        return ramp
    out = xp.empty(shape, dtype)        # (a fresh array: compiled code may write into it)
    out[...] = ramp.reshape((-1,) + (1,) * (len(shape) - dimension - 1))
    return out


# 0, 1, ... along axis `dimension` of `shape` (JAX's `iota` primitive, its params): under jit
# and make_jaxpr an equation (compilation folds it into a constant where that is small)
iota_p = primitive("iota", _iota_impl,
                   lambda dtype, shape, dimension, sharding=None: ShapedArray(shape, dtype))
def_nondiff(iota_p)
iota_p.batch = lambda vals, dims, **params: (iota_p.bind(**params), None)    # (no operands)


def iota(dtype, size=None, like=None):
    """`[0, 1, ..., size - 1]` of `dtype` (JAX's `iota(dtype, size)`; also `iota(size)` and
    `iota(size, dtype)`, int64 by default) on the device of `like` (an array or traced value,
    see `device_like`), else on the default device; an `iota` equation under jit."""
    if isinstance(dtype, (int, np.integer)) and not isinstance(dtype, bool):
        dtype, size = (dtypes.int64 if size is None else size), dtype
    return broadcasted_iota(dtype, (operator.index(size),), 0, like)


def broadcasted_iota(dtype, shape, dimension, like=None):
    """`iota` along axis `dimension` of `shape` (checked by the caller), the same along the
    others; staged as an `iota` equation while a jaxpr is built, else an Array where `like`
    lives (or on the default device)."""
    params = dict(dtype=np.dtype(dtype), shape=tuple(shape), dimension=dimension, sharding=None)
    main = staging_main()
    if main is not None:
        return main.trace.process_primitive(iota_p, (), params)
    dev = default_device_now() if like is None else device_like(like)
    ramp = wrap(create(dev, "arange", params["shape"][dimension], dtype=params["dtype"]))
    return ramp if len(shape) == 1 else broadcast_in_dim(ramp, params["shape"], (dimension,))


def constant(value, like=None):
    """The NumPy value `value` as an Array on the device of `like` (an array or traced value,
    see `device_like`), else on the default device."""
    dev = default_device_now() if like is None else device_like(like)
    return wrap(transfer(np.asarray(value), dev))


def full(shape, fill_value, dtype=None, device=None, like=None, *, sharding=None):
    """A constant array of `dtype` (by default the fill value's) on `device` (or the one
    JAX's `sharding` names), else on the device of `like`, else on the default device."""
    if sharding is not None:
        device = out_sharding_device(sharding, "full", "sharding")
    if isinstance(fill_value, Tracer):      # a traced scalar: broadcast where it lives
        if shape_of(fill_value):
            raise TypeError(f"full must be called with a scalar fill_value, got one of shape "
                            f"{shape_of(fill_value)}; use broadcast_in_dim for an array")
        from .elementwise import convert_element_type
        value = fill_value if dtype is None else convert_element_type(fill_value, dtype)
        return broadcast_in_dim(value, tuple(shape), ())
    if dtype is None:
        dtype = dtype_of(fill_value)
    dev = device if device is not None else \
        default_device_now() if like is None else device_like(like)
    return wrap(create(dev, "full", tuple(shape), fill_value, dtype=np.dtype(dtype)))


def squeeze(array, dimensions):
    shape = shape_of(array)
    dimensions = {d % len(shape) for d in dimensions}
    for d in dimensions:
        if shape[d] != 1:
            raise ValueError(f"cannot squeeze axis {d} of size {shape[d]} (shape {shape})")
    return reshape(array, tuple(s for i, s in enumerate(shape) if i not in dimensions))


def expand_dims(array, dimensions):
    shape = list(shape_of(array))
    ndim = len(shape) + len(dimensions)
    for d in sorted(d % ndim for d in dimensions):
        shape.insert(d, 1)
    return reshape(array, tuple(shape))


# ------------------------------------------------------------------ bit patterns
def bitcast_shape(shape, old, new):
    """The shape of a `shape` array of dtype `old` read as `new`: the same where both are
    as wide; a narrower `new` adds a last axis of the ratio, a wider one takes it away."""
    old, new = np.dtype(old), np.dtype(new)
    for dt in (old, new):
        if dt.kind not in "iuf":
            raise TypeError(f"bitcast_convert_type reads integers and floats, not {dt}")
    if old.itemsize >= new.itemsize:
        ratio = old.itemsize // new.itemsize
        return tuple(shape) + ((ratio,) if ratio > 1 else ())
    ratio = new.itemsize // old.itemsize
    if not shape or shape[-1] != ratio:
        raise ValueError(f"bitcast_convert_type from {old} to {new} needs a last axis of "
                         f"{ratio} (the {new} is {ratio} {old} wide); got shape {tuple(shape)}")
    return tuple(shape[:-1])


def _bitcast_impl(xp, x, new_dtype):
    x = xp.asarray(x)
    flat = xp.ascontiguousarray(x).reshape(-1)
    return flat.view(new_dtype).reshape(bitcast_shape(x.shape, x.dtype, new_dtype))


def _bitcast_batch(vals, dims, new_dtype):
    x, = vals
    d, = dims
    shape = shape_of(x)
    if np.dtype(dtype_of(x)).itemsize != np.dtype(new_dtype).itemsize and d == len(shape) - 1:
        x, d = moveaxis(x, d, 0), 0       # (the last axis changes)
    return bitcast_convert_type_p.bind(x, new_dtype=new_dtype), d


bitcast_convert_type_p = primitive(
    "bitcast_convert_type", _bitcast_impl,
    lambda x, new_dtype: ShapedArray(bitcast_shape(x.shape, x.dtype, new_dtype), new_dtype))
def_nondiff(bitcast_convert_type_p)
bitcast_convert_type_p.batch = _bitcast_batch


def bitcast_convert_type(operand, new_dtype):
    """`operand`'s bits read as `new_dtype` (JAX's rule for widths: see `bitcast_shape`)."""
    return bitcast_convert_type_p.bind(operand, new_dtype=dtypes.canonicalize(new_dtype))
