"""Structural operations on BCOO arrays (JAX's bcoo_slice, bcoo_dynamic_slice, bcoo_reshape,
bcoo_squeeze, bcoo_concatenate, bcoo_broadcast_in_dim, bcoo_update_layout, bcoo_gather).

Batch and dense dimensions are handled by the matching dense operation on `data` and
`indices`; sparse dimensions by rewriting the index columns, an element that falls outside
the result getting the out-of-bounds padding index (the result's sparse shape) and zero data.
"""
from __future__ import annotations

import functools
import math
import operator
import warnings

import numpy as np

from ... import lax
from ... import numpy as fnp
from ...api import eval_shape, vmap
from ...array import ShapeDtypeStruct
from .bcoo import (BCOO, bcoo_sum_duplicates, bcoo_transpose, from_linear_positions,
                   linear_positions, nfold_vmap)

__all__ = ["SparseEfficiencyError", "SparseEfficiencyWarning", "bcoo_broadcast_in_dim",
           "bcoo_concatenate", "bcoo_dynamic_slice", "bcoo_gather", "bcoo_reshape",
           "bcoo_slice", "bcoo_squeeze", "bcoo_update_layout", "gather_axes"]


class SparseEfficiencyError(ValueError):
    """A layout change that would store many explicit zeros (see `bcoo_update_layout`)."""


class SparseEfficiencyWarning(UserWarning):
    """The warning form of `SparseEfficiencyError`."""


def _expand_dense(mask, n_dense):
    return mask.reshape(mask.shape + (1,) * n_dense)


def _set_nse(mat, nse):
    """`mat` padded to `nse` stored elements (zero data, out-of-bounds indices)."""
    if nse == mat.nse:
        return mat
    nb, ns = mat.n_batch, mat.n_sparse
    pad_shape = mat.shape[:nb] + (nse - mat.nse,)
    pad = fnp.broadcast_to(fnp.asarray(mat.shape[nb:nb + ns], mat.indices.dtype),
                           pad_shape + (ns,))
    data = fnp.concatenate([mat.data, fnp.zeros(pad_shape + mat.shape[nb + ns:], mat.dtype)],
                           nb)
    return BCOO((data, fnp.concatenate([mat.indices, pad], nb)), shape=mat.shape)


def _window(mat, data, indices, starts, strides, shape):
    """Sparse index columns moved into the window starting at `starts` with `strides` and
    result shape `shape`: elements outside it become padding; duplicates are summed when
    there are more elements than positions."""
    nb, ns = mat.n_batch, mat.n_sparse
    new_sparse = tuple(shape[nb:nb + ns])
    if ns:
        rel = indices - fnp.stack([fnp.asarray(s).astype(indices.dtype) for s in starts])
        steps = np.asarray(strides, indices.dtype)
        keep = fnp.all((rel >= 0) & (rel % steps == 0)
                       & (rel // steps < np.asarray(new_sparse, indices.dtype)), -1)
        indices = fnp.where(keep[..., None], rel // steps, np.asarray(new_sparse, indices.dtype))
        data = fnp.where(_expand_dense(keep, mat.n_dense), data, 0)
    out = BCOO((data, indices), shape=shape)
    if ns and out.nse > math.prod(new_sparse):
        out = bcoo_sum_duplicates(out, nse=math.prod(new_sparse), remove_zeros=False)
    return out


def bcoo_slice(mat, *, start_indices, limit_indices, strides=None):
    """Sparse `lax.slice`: the part of `mat` from `start_indices` up to `limit_indices`
    (exclusive) with `strides` (default 1)."""
    if not isinstance(mat, BCOO):
        raise TypeError(f"bcoo_slice: input should be BCOO array, got type(mat)={type(mat)}")
    start = [operator.index(i) for i in start_indices]
    limit = [operator.index(i) for i in limit_indices]
    strides = [1] * mat.ndim if strides is None else [operator.index(s) for s in strides]
    if not len(start) == len(limit) == len(strides) == mat.ndim:
        raise ValueError(f"bcoo_slice: start_indices={start_indices}, limit_indices="
                         f"{limit_indices} and strides={strides} must each have mat.ndim="
                         f"{mat.ndim} entries")
    if any(s <= 0 for s in strides):
        raise ValueError(f"bcoo_slice: strides must be a sequence of positive integers; got "
                         f"{strides}")
    if not all(0 <= a <= b <= n for a, b, n in zip(start, limit, mat.shape)):
        raise ValueError(f"bcoo_slice: invalid indices. Got start_indices={start}, "
                         f"limit_indices={limit} and shape={mat.shape}")
    nb, ns = mat.n_batch, mat.n_sparse
    shape = tuple(-(-(b - a) // s) for a, b, s in zip(start, limit, strides))
    cuts = [slice(a, b, s) for a, b, s in zip(start, limit, strides)]
    data = mat.data[tuple(cuts[:nb] + [slice(None)] + cuts[nb + ns:])]
    indices = mat.indices[tuple(cuts[:nb])]
    return _window(mat, data, indices, start[nb:nb + ns], strides[nb:nb + ns], shape)


def bcoo_dynamic_slice(mat, start_indices, slice_sizes):
    """Sparse `lax.dynamic_slice`: `slice_sizes` elements from the (possibly traced)
    `start_indices`, which are clamped as `lax.dynamic_slice` clamps them."""
    if not isinstance(mat, BCOO):
        raise TypeError(f"bcoo_dynamic_slice: input should be BCOO array, got "
                        f"type(mat)={type(mat)}")
    sizes = tuple(operator.index(s) for s in slice_sizes)
    if not len(start_indices) == len(sizes) == mat.ndim:
        raise ValueError(f"bcoo_dynamic_slice: start_indices ({len(start_indices)} entries) "
                         f"and slice_sizes={slice_sizes} must have mat.ndim={mat.ndim} entries")
    if not all(0 <= s <= n for s, n in zip(sizes, mat.shape)):
        raise TypeError("slice_sizes must be less than or equal to operand shape, got "
                        f"slice_sizes {sizes} for operand shape {mat.shape}")
    starts = [fnp.asarray(i) for i in start_indices]
    if not all(i.shape == () and fnp.issubdtype(i.dtype, fnp.integer) for i in starts):
        raise TypeError(f"bcoo_dynamic_slice: start_indices must be integer scalars, got "
                        f"{[f'{i.dtype}{list(i.shape)}' for i in starts]}")
    starts = [fnp.clip(fnp.where(i < 0, i + n, i), 0, n - s)
              for i, n, s in zip(starts, mat.shape, sizes)]
    nb, ns = mat.n_batch, mat.n_sparse
    zero = fnp.zeros((), starts[0].dtype) if starts else 0
    data = lax.dynamic_slice(mat.data, starts[:nb] + [zero] + starts[nb + ns:],
                             sizes[:nb] + (mat.nse,) + sizes[nb + ns:])
    indices = lax.dynamic_slice(mat.indices, starts[:nb] + [zero, zero],
                                sizes[:nb] + (mat.nse, ns))
    return _window(mat, data, indices, starts[nb:nb + ns], [1] * ns, sizes)


def bcoo_squeeze(arr, *, dimensions):
    """Sparse `lax.squeeze`: `arr` without its size-1 axes `dimensions`."""
    dims = sorted({operator.index(d) % max(arr.ndim, 1) for d in dimensions})
    if any(arr.shape[d] != 1 for d in dims):
        raise ValueError("cannot select an axis to squeeze out which has size not equal to "
                         f"one, got shape={arr.shape} and dimensions={tuple(dimensions)}")
    nb, ns = arr.n_batch, arr.n_sparse
    batch = tuple(d for d in dims if d < nb)
    dense = tuple(d - ns + 1 for d in dims if d >= nb + ns)
    keep = [k for k in range(ns) if nb + k not in dims]
    inside = fnp.all(arr.indices < np.asarray(arr.shape[nb:nb + ns], arr.indices.dtype), -1)
    data = fnp.where(_expand_dense(inside, arr.n_dense), arr.data, 0)
    shape = tuple(s for d, s in enumerate(arr.shape) if d not in dims)
    return BCOO((lax.squeeze(data, batch + dense), lax.squeeze(arr.indices[..., keep], batch)),
                shape=shape, indices_sorted=arr.indices_sorted,
                unique_indices=arr.unique_indices)


def bcoo_reshape(mat, *, new_sizes, dimensions=None):
    """Sparse `lax.reshape` (row-major, after permuting by `dimensions`): batch, sparse and
    dense dimensions must each reshape among themselves; size-1 axes at a boundary join the
    group before it."""
    new_sizes = tuple(int(s) for s in new_sizes)
    if -1 in new_sizes:
        known = math.prod(s for s in new_sizes if s != -1)
        new_sizes = tuple(mat.size // max(known, 1) if s == -1 else s for s in new_sizes)
    if math.prod(new_sizes) != mat.size:
        raise ValueError(f"bcoo_reshape: cannot reshape {mat!r} to new_sizes={new_sizes}")
    if dimensions is not None:
        mat = bcoo_transpose(mat, permutation=dimensions)
    nb, ns = mat.n_batch, mat.n_sparse
    batch_size = math.prod(mat.shape[:nb])
    sparse_shape = mat.shape[nb:nb + ns]
    cum = [math.prod(new_sizes[:k + 1]) for k in range(len(new_sizes))]
    if batch_size != 1 and batch_size not in cum:
        raise ValueError("bcoo_reshape: new shape cannot mix batch and sparse dimensions; got "
                         f"shape={mat.shape} new_shape={new_sizes} with n_batch={nb}")
    if math.prod(sparse_shape) != 1 and batch_size * math.prod(sparse_shape) not in cum:
        raise ValueError("bcoo_reshape: new shape cannot mix sparse and dense dimensions; got "
                         f"shape={mat.shape} new_shape={new_sizes} with n_dense={mat.n_dense}")
    i1 = int(np.searchsorted(cum, batch_size, side="right"))
    i2 = int(np.searchsorted(cum, batch_size * math.prod(sparse_shape), side="right"))
    batch, sparse, dense = new_sizes[:i1], new_sizes[i1:i2], new_sizes[i2:]
    data = mat.data.reshape(batch + (mat.nse,) + dense)
    indices = mat.indices.reshape(batch + (mat.nse, ns))
    lin = linear_positions(indices, sparse_shape)
    if sparse:
        indices = from_linear_positions(lin, sparse, indices.dtype)
    else:        # no index left to mark padding: its data is zeroed instead
        data = fnp.where(_expand_dense(lin < math.prod(sparse_shape), len(dense)), data, 0)
        indices = fnp.zeros(batch + (mat.nse, 0), indices.dtype)
    return BCOO((data, indices), shape=new_sizes, indices_sorted=mat.indices_sorted,
                unique_indices=mat.unique_indices)


def bcoo_concatenate(operands, *, dimension):
    """Sparse `lax.concatenate` of BCOO arrays along a batch or sparse `dimension`."""
    dimension = operator.index(dimension)
    operands = list(operands)
    if not operands or not all(isinstance(op, BCOO) for op in operands):
        raise ValueError("bcoo_concatenate: expected operands to be a sequence of BCOO "
                         f"arrays. Got {operands}")
    first = operands[0]
    if not 0 <= dimension < first.ndim:
        raise ValueError(f"bcoo_concatenate: dimension={dimension} is out of range for "
                         f"operands of {first.ndim} dimensions")
    for op in operands:
        if op.ndim != first.ndim or any(a != b for d, (a, b) in
                                        enumerate(zip(op.shape, first.shape)) if d != dimension):
            raise TypeError("bcoo_concatenate: operands must have equal shapes except along "
                            f"dimension={dimension}; got {[o.shape for o in operands]}")
    if len({op.n_dense for op in operands}) > 1:
        raise ValueError("bcoo_concatenate requires inputs to have matching n_dense; got "
                         f"{[op.n_dense for op in operands]}")
    n_batches = {op.n_batch for op in operands}
    if len(n_batches) > 1 and max(n_batches) == 1:   # x[None]-style leading axes agree
        for n in (1, 0):
            if all(op.shape[0] == 1 for op in operands if op.n_batch != n):
                operands = [bcoo_update_layout(op, n_batch=n) for op in operands]
                break
        n_batches = {op.n_batch for op in operands}
    if len(n_batches) > 1:
        raise ValueError("bcoo_concatenate requires inputs to have matching batch dimensions; "
                         f"got n_batch={[op.n_batch for op in operands]}")
    nb, ns = operands[0].n_batch, operands[0].n_sparse
    shape = list(first.shape)
    shape[dimension] = sum(op.shape[dimension] for op in operands)
    dtype = fnp.result_type(*[op.dtype for op in operands])
    if dimension < nb:
        nse = max(op.nse for op in operands)
        operands = [_set_nse(op, nse) for op in operands]
        data = fnp.concatenate([op.data.astype(dtype) for op in operands], dimension)
        indices = fnp.concatenate([op.indices for op in operands], dimension)
        return BCOO((data, indices), shape=shape)
    if dimension >= nb + ns:
        raise NotImplementedError("bcoo_concatenate: concatenation along dense dimensions is "
                                  "not supported; make the dimension sparse with "
                                  "bcoo_update_layout first")
    k, offset, parts = dimension - nb, 0, []
    index_dtype = operands[0].indices.dtype
    pad = np.asarray(shape[nb:nb + ns], index_dtype)
    for op in operands:
        inside = fnp.all(op.indices < np.asarray(op.shape[nb:nb + ns], op.indices.dtype), -1)
        moved = op.indices.astype(index_dtype).at[..., k].add(offset)
        parts.append(fnp.where(inside[..., None], moved, pad))
        offset += op.shape[dimension]
    data = fnp.concatenate([op.data.astype(dtype) for op in operands], nb)
    return BCOO((data, fnp.concatenate(parts, nb)), shape=shape)


def bcoo_broadcast_in_dim(mat, *, shape, broadcast_dimensions):
    """Sparse `lax.broadcast_in_dim`: new axes before the first sparse one become batch
    dimensions, new trailing ones dense (if `mat` has dense dimensions); new sparse axes must
    have size 1."""
    shape = tuple(int(s) for s in shape)
    bdims = tuple(int(d) for d in broadcast_dimensions)
    if len(bdims) != mat.ndim:
        raise ValueError(f"bcoo_broadcast_in_dim: shape of the operand {mat.shape} and "
                         f"broadcast_dimensions={bdims} must have the same length")
    if len(set(bdims)) != len(bdims) or list(bdims) != sorted(bdims) or any(
            not 0 <= d < len(shape) or mat.shape[i] not in (1, shape[d])
            for i, d in enumerate(bdims)):
        raise TypeError(f"bcoo_broadcast_in_dim: operand of shape {mat.shape} cannot be "
                        f"broadcast to shape={shape} with broadcast_dimensions={bdims}")
    nb, ns = mat.n_batch, mat.n_sparse
    batch, sparse, dense = bdims[:nb], bdims[nb:nb + ns], bdims[nb + ns:]
    if max(batch, default=0) > min(sparse, default=len(shape)):
        raise ValueError("Cannot mix batch and sparse dimensions during broadcast_in_dim")
    if max(sparse, default=0) > min(dense, default=len(shape)):
        raise ValueError("Cannot mix sparse and dense dimensions during broadcast_in_dim")
    new_nb = min(bdims[nb:], default=len(shape))
    new_nd = len(shape) - min(dense) if dense else 0
    new_ns = len(shape) - new_nb - new_nd
    if math.prod(mat.shape[nb:nb + ns]) != math.prod(shape[new_nb:new_nb + new_ns]) or \
            any(mat.shape[nb + i] != shape[d] for i, d in enumerate(sparse)):
        raise NotImplementedError("bcoo_broadcast_in_dim: adding sparse dimensions with "
                                  "lengths != 1 (or broadcasting sparse ones) is not supported")
    data = lax.broadcast_in_dim(
        mat.data, shape[:new_nb] + (mat.nse,) + shape[new_nb + new_ns:],
        batch + (new_nb,) + tuple(d + 1 - new_ns for d in dense))
    indices = lax.broadcast_in_dim(mat.indices, shape[:new_nb] + (mat.nse, ns),
                                   batch + (new_nb, new_nb + 1))
    if new_ns != ns:
        cols = [fnp.zeros(indices.shape[:-1], indices.dtype)] * new_ns
        for i, d in enumerate(sparse):
            cols[d - new_nb] = indices[..., i]
        indices = fnp.stack(cols, -1)
    return BCOO((data, indices), shape=shape)


def bcoo_update_layout(mat, *, n_batch=None, n_dense=None, on_inefficient="error"):
    """`mat` stored with `n_batch` batch and `n_dense` dense dimensions (the same array).
    Making more batch or dense dimensions stores explicit zeros: with `on_inefficient`
    'error' (default) that raises `SparseEfficiencyError`, 'warn' warns, None allows it."""
    n_batch = mat.n_batch if n_batch is None else operator.index(n_batch)
    n_dense = mat.n_dense if n_dense is None else operator.index(n_dense)
    if (n_batch, n_dense) == (mat.n_batch, mat.n_dense):
        return mat
    if on_inefficient not in ("error", "warn", None):
        raise ValueError(f"on_inefficient={on_inefficient!r}; expected one of "
                         "['error', 'warn', None].")
    if n_batch < 0 or n_dense < 0 or n_batch + n_dense > mat.ndim:
        raise ValueError(f"bcoo_update_layout: n_batch={n_batch} and n_dense={n_dense} must be "
                         f"non-negative with a sum at most mat.ndim={mat.ndim}")
    for what, grows, lo, hi in (("n_dense", n_dense > mat.n_dense, mat.ndim - n_dense,
                                 mat.ndim - mat.n_dense),
                                ("n_batch", n_batch > mat.n_batch, mat.n_batch, n_batch)):
        if grows and any(d > 1 for d in mat.shape[lo:hi]) and on_inefficient:
            old = getattr(mat, what)
            msg = (f"For matrix of shape {mat.shape}, increasing {what} from {old} to "
                   f"{n_dense if what == 'n_dense' else n_batch} results in inefficient "
                   "storage.")
            if on_inefficient == "error":
                raise SparseEfficiencyError(msg + " To disable this error, set the "
                                            "on_inefficient argument of bcoo_update_layout "
                                            "to 'warn' or None.")
            warnings.warn(msg + " To disable this warning, set the on_inefficient argument "
                          "of bcoo_update_layout to None.", SparseEfficiencyWarning,
                          stacklevel=2)
    if n_dense < mat.n_dense:
        mat = _dense_to_sparse(mat, mat.n_dense - n_dense)
    if n_batch < mat.n_batch:
        mat = _batch_to_sparse(mat, mat.n_batch - n_batch)
    if n_dense > mat.n_dense:
        mat = _sparse_to_dense(mat, n_dense - mat.n_dense)
    if n_batch > mat.n_batch:
        mat = _sparse_to_batch(mat, n_batch - mat.n_batch)
    return mat


def _grid(sizes, dtype):
    """All index tuples of an array of shape `sizes`, row-major: (prod(sizes), len(sizes))."""
    cols = fnp.meshgrid(*[fnp.arange(s, dtype=dtype) for s in sizes], indexing="ij")
    return fnp.stack([c.reshape(-1) for c in cols], -1).reshape(math.prod(sizes), len(sizes))


def _dense_to_sparse(mat, n):
    """The first `n` dense dimensions made sparse: each element becomes one per position."""
    nb, ns = mat.n_batch, mat.n_sparse
    moved = mat.shape[nb + ns:nb + ns + n]
    grid = _grid(moved, mat.indices.dtype)
    count = math.prod(moved)

    def one(d, i):
        return (d.reshape((mat.nse * count,) + d.shape[1 + n:]),
                fnp.concatenate([fnp.broadcast_to(i[:, None], (mat.nse, count, ns)),
                                 fnp.broadcast_to(grid, (mat.nse, count, n))],
                                -1).reshape(mat.nse * count, ns + n))

    return BCOO(nfold_vmap(one, nb)(mat.data, mat.indices), shape=mat.shape)


def _batch_to_sparse(mat, n):
    """The last `n` batch dimensions made sparse: their positions join the indices."""
    keep = mat.n_batch - n
    moved = mat.shape[keep:mat.n_batch]
    count = math.prod(moved) * mat.nse
    where = _grid(moved + (mat.nse,), mat.indices.dtype)[:, :n]

    def one(d, i):
        return (d.reshape((count,) + d.shape[n + 1:]),
                fnp.concatenate([where, i.reshape(count, mat.n_sparse)], -1))

    return BCOO(nfold_vmap(one, keep)(mat.data, mat.indices), shape=mat.shape)


def _sparse_to_dense(mat, n):
    """The last `n` sparse dimensions made dense: each element's block holds its data at its
    position there (nothing for padding)."""
    nb, ns = mat.n_batch, mat.n_sparse
    block = mat.shape[nb + ns - n:]

    def one(d, i):
        blocks = fnp.zeros((mat.nse,) + block, mat.dtype)
        where = (fnp.arange(mat.nse),) + tuple(i[:, ns - n + k] for k in range(n))
        return blocks.at[where].set(d, mode="drop"), i[:, :ns - n]

    return BCOO(nfold_vmap(one, nb)(mat.data, mat.indices), shape=mat.shape)


def _sparse_to_batch(mat, n):
    """The first `n` sparse dimensions made batch ones: element e goes to the batch position
    of its indices there (every batch position keeps all nse slots)."""
    nb, nse = mat.n_batch, mat.nse
    batch = mat.shape[nb:nb + n]

    def one(d, i):
        out = fnp.zeros(batch + d.shape, mat.dtype)
        where = tuple(i[:, k] for k in range(n)) + (fnp.arange(nse),)
        rest = fnp.broadcast_to(i[:, n:], batch + (nse, mat.n_sparse - n))
        return out.at[where].set(d, mode="drop"), rest

    return BCOO(nfold_vmap(one, nb)(mat.data, mat.indices), shape=mat.shape)


def gather_axes(mat, index_arrays, axes):
    """`mat` indexed along `axes` by integer arrays (broadcast together, in bounds): shape
    `index shape + remaining axes` (the form of functrans's gather primitive)."""
    index_arrays = fnp.broadcast_arrays(*[fnp.asarray(i) for i in index_arrays])
    ishape = tuple(index_arrays[0].shape)
    flat = [i.reshape(-1) for i in index_arrays]
    sizes = [1 if d in axes else n for d, n in enumerate(mat.shape)]

    def one(*pos):
        starts = [fnp.zeros((), pos[0].dtype)] * mat.ndim
        for a, p in zip(axes, pos):
            starts[a] = p
        return bcoo_squeeze(bcoo_dynamic_slice(mat, starts, sizes), dimensions=axes)

    rows = vmap(one)(*flat)
    return bcoo_reshape(rows, new_sizes=ishape + rows.shape[1:])


def bcoo_gather(operand, start_indices, dimension_numbers, slice_sizes, *,
                unique_indices=False, indices_are_sorted=False, mode=None, fill_value=None):
    """Sparse `lax.gather` (mode 'promise_in_bounds' only): one `bcoo_dynamic_slice` of
    `slice_sizes` per row of `start_indices`, collapsed and placed as `lax.gather` does."""
    del unique_indices, indices_are_sorted
    if mode is not None and lax.GatherScatterMode.from_any(mode) is not \
            lax.GatherScatterMode.PROMISE_IN_BOUNDS:
        raise NotImplementedError(f"bcoo_gather: mode={mode!r} not yet supported.")
    dn = dimension_numbers
    if getattr(dn, "operand_batching_dims", ()):
        raise NotImplementedError("bcoo_gather: operand_batching_dims are not supported")
    start_indices = fnp.asarray(start_indices)
    out = eval_shape(functools.partial(lax.gather, dimension_numbers=dn,
                                       slice_sizes=slice_sizes, mode="promise_in_bounds"),
                     ShapeDtypeStruct(operand.shape, operand.dtype), start_indices)
    sizes = list(operand.shape)
    for j in dn.start_index_map:
        sizes[j] = int(slice_sizes[j])
    rows = start_indices.reshape(-1, start_indices.shape[-1])

    def one(row):
        starts = [fnp.zeros((), row.dtype)] * operand.ndim
        for i, j in enumerate(dn.start_index_map):
            starts[j] = row[i]
        return bcoo_squeeze(bcoo_dynamic_slice(operand, starts, sizes),
                            dimensions=dn.collapsed_slice_dims)

    result = vmap(one)(rows)
    result = bcoo_reshape(result, new_sizes=start_indices.shape[:-1] + result.shape[1:])
    if result.ndim:
        offset = tuple(dn.offset_dims)
        lead = [d for d in range(out.ndim) if d not in offset]
        perm = np.argsort(np.asarray(lead + list(offset))).tolist()
        if sorted(perm[:result.n_batch]) != list(range(result.n_batch)):
            result = bcoo_update_layout(result, n_batch=0)
        result = bcoo_transpose(result, permutation=perm)
    return result.astype(out.dtype)
