"""More BCOO operations of `jax.experimental.sparse`: `bcoo_extract`,
`bcoo_multiply_sparse`, `bcoo_dot_general_sampled`, `bcoo_rev` and `random_bcoo`.

As the rest of the package, each is written with functrans operations, so jit, vmap (over
batch dimensions) and grad (with respect to `data` and to dense operands) go through them.
"""
from __future__ import annotations

import math

import numpy as np

from ... import lax
from ... import numpy as fnp
from ... import random
from .bcoo import (BCOO, from_linear_positions, index_columns, linear_positions, nfold_vmap,
                   summed_by_position, unbatched)
from .bcoo_ops import bcoo_update_layout

__all__ = ["bcoo_extract", "bcoo_multiply_sparse", "bcoo_dot_general_sampled", "bcoo_rev",
           "random_bcoo"]


def _first_occurrences(lin):
    """True for each element of the 1-d `lin` that is the first (lowest position) of its
    value."""
    order = fnp.argsort(lin, stable=True)
    ranked = lin[order]
    first = fnp.concatenate([fnp.ones((1,), bool), ranked[1:] != ranked[:-1]])
    return fnp.zeros(lin.shape, bool).at[order].set(first)


def bcoo_extract(sparr, arr, *, assume_unique=None):
    """The BCOO with the indices of `sparr` holding the entries of the dense `arr` there
    (0 where an index is out of bounds). Of duplicate indices only the first gets the entry
    (so that the result's todense is `arr` on the support of `sparr`), unless
    `assume_unique` (default: `sparr.unique_indices`) says there are none."""
    if not isinstance(sparr, BCOO):
        raise TypeError(f"bcoo_extract: sparr must be a BCOO, got {type(sparr).__name__}")
    arr = fnp.asarray(arr)
    if tuple(arr.shape) != sparr.shape:
        raise ValueError(f"bcoo_extract: arr of shape {tuple(arr.shape)} must have the shape "
                         f"of sparr, {sparr.shape}")
    if assume_unique is None:
        assume_unique = sparr.unique_indices
    _, indices = unbatched(sparr)
    taken = arr.at[index_columns(indices, range(indices.shape[-1]))].get(mode="fill", fill_value=0)
    if not assume_unique and indices.shape[-1] and indices.shape[0]:
        lin = linear_positions(indices, sparr.shape[:indices.shape[-1]])
        keep = _first_occurrences(lin).reshape((-1,) + (1,) * sparr.n_dense)
        taken = fnp.where(keep, taken, fnp.zeros((), taken.dtype))
    return BCOO((taken.reshape(sparr.data.shape), sparr.indices), shape=sparr.shape,
                indices_sorted=sparr.indices_sorted, unique_indices=sparr.unique_indices)


def bcoo_multiply_sparse(lhs, rhs):
    """The elementwise product of two BCOO arrays of one shape, as a BCOO of
    `lhs.nse * rhs.nse` elements (per batch) in sorted order: each pair of elements with
    equal indices contributes its product (so duplicates are handled), the rest is padding.
    Arrays with different numbers of batch dimensions are brought to the smaller one."""
    for name, x in (("lhs", lhs), ("rhs", rhs)):
        if not isinstance(x, BCOO):
            raise TypeError(f"bcoo_multiply_sparse: {name} must be a BCOO, got "
                            f"{type(x).__name__}; use bcoo_multiply_dense for a dense operand")
    if lhs.ndim != rhs.ndim:
        raise TypeError(f"bcoo_multiply_sparse: arrays must have the same number of "
                        f"dimensions, got {lhs.shape} and {rhs.shape}")
    if lhs.shape != rhs.shape:
        raise ValueError(f"bcoo_multiply_sparse: shapes {lhs.shape} and {rhs.shape} differ; "
                         f"broadcast one first (bcoo_broadcast_in_dim)")
    if lhs.n_dense != rhs.n_dense:
        raise NotImplementedError(f"bcoo_multiply_sparse: {lhs!r} and {rhs!r} have different "
                                  f"numbers of dense dimensions; use bcoo_update_layout")
    nb = min(lhs.n_batch, rhs.n_batch)
    lhs = bcoo_update_layout(lhs, n_batch=nb, on_inefficient=None)
    rhs = bcoo_update_layout(rhs, n_batch=nb, on_inefficient=None)
    sparse_shape = lhs.shape[nb:nb + lhs.n_sparse]
    nse = lhs.nse * rhs.nse
    dtype = fnp.result_type(lhs.dtype, rhs.dtype)
    index_dtype = fnp.result_type(lhs.indices.dtype, rhs.indices.dtype)

    def one(ld, li, rd, ri):
        lin_l = linear_positions(li, sparse_shape)
        lin_r = linear_positions(ri, sparse_shape)
        same = lin_l[:, None] == lin_r[None, :]
        lin = fnp.where(same, lin_l[:, None], math.prod(sparse_shape)).reshape(nse)
        dense = ld.shape[1:]
        prod = (ld[:, None].astype(dtype) * rd[None, :].astype(dtype)).reshape((nse,) + dense)
        return summed_by_position(prod, lin, nse, sparse_shape, index_dtype)

    data, indices = nfold_vmap(one, nb)(lhs.data, lhs.indices, rhs.data, rhs.indices)
    return BCOO((data, indices), shape=lhs.shape, indices_sorted=True, unique_indices=True)


def bcoo_dot_general_sampled(A, B, indices, *, dimension_numbers):
    """`lax.dot_general(A, B, dimension_numbers)` at the BCOO `indices` only: the `data` of
    the BCOO with those indices (each duplicate gets the entry, out-of-bounds ones 0). The
    product is computed densely, then sampled; differentiable with respect to `A` and `B`."""
    A, B, indices = fnp.asarray(A), fnp.asarray(B), fnp.asarray(indices)
    out = lax.dot_general(A, B, dimension_numbers)
    n_batch = indices.ndim - 2
    if n_batch < 0 or not fnp.issubdtype(indices.dtype, fnp.integer) or \
            indices.shape[-1] > out.ndim - max(n_batch, 0) or \
            tuple(indices.shape[:n_batch]) != tuple(out.shape[:n_batch]):
        raise ValueError(f"bcoo_dot_general_sampled: indices {indices.dtype}"
                         f"{list(indices.shape)} are not BCOO indices (batch + (nse, "
                         f"n_sparse)) of the product's shape {tuple(out.shape)}")
    dense = out.shape[n_batch + indices.shape[-1]:]
    shape = tuple(indices.shape[:-1]) + tuple(dense)
    where = BCOO((fnp.zeros(shape, out.dtype), indices), shape=out.shape)
    return bcoo_extract(where, out, assume_unique=True).data


def bcoo_rev(operand, dimensions):
    """`lax.rev` of a BCOO: its entries reversed along `dimensions` (batch dimensions
    reverse `data` and `indices`, sparse ones mirror the indices, dense ones `data`)."""
    if any(not -operand.ndim <= int(d) < operand.ndim for d in dimensions):
        raise ValueError(f"bcoo_rev: dimensions={tuple(dimensions)} out of range for "
                         f"{operand!r}")
    nb, ns = operand.n_batch, operand.n_sparse
    dims = sorted({int(d) % operand.ndim for d in dimensions})
    data, indices = operand.data, operand.indices
    batch = tuple(d for d in dims if d < nb)
    if batch:
        data, indices = fnp.flip(data, batch), fnp.flip(indices, batch)
    dense = tuple(d - ns + 1 for d in dims if d >= nb + ns)
    if dense:
        data = fnp.flip(data, dense)
    cols = [d - nb for d in dims if nb <= d < nb + ns]
    if cols:
        sizes = fnp.asarray([operand.shape[nb + k] for k in cols], indices.dtype)
        picked = indices[..., cols]
        # padding (out-of-bounds) indices stay out of bounds
        mirrored = fnp.where((picked >= 0) & (picked < sizes), sizes - 1 - picked, picked)
        indices = indices.at[..., cols].set(mirrored)
    return BCOO((data, indices), shape=operand.shape, unique_indices=operand.unique_indices,
                indices_sorted=operand.indices_sorted and not cols)


def random_bcoo(key, shape, *, dtype=None, indices_dtype=None, nse=0.2, n_batch=0,
                n_dense=0, unique_indices=True, sorted_indices=False,
                generator=random.uniform, **kwds):
    """A random BCOO of `shape` with `n_batch` batch and `n_dense` dense dimensions: `nse`
    elements per batch (a fraction of the sparse positions, rounded up, when 0 < nse < 1) at
    random positions (distinct with `unique_indices`, row-major with `sorted_indices`),
    holding `generator(key, data_shape, dtype, **kwds)` (default dtype: the default float)."""
    shape = tuple(int(s) for s in shape)
    n_sparse = len(shape) - n_batch - n_dense
    if n_batch < 0 or n_dense < 0 or n_sparse < 0:
        raise ValueError(f"random_bcoo: n_batch={n_batch} and n_dense={n_dense} must be "
                         f"non-negative and add up to at most len(shape)={len(shape)}")
    sparse_shape = shape[n_batch:n_batch + n_sparse]
    positions = math.prod(sparse_shape)
    if 0 < nse < 1:
        nse = math.ceil(nse * positions)
    nse = int(nse)
    if unique_indices and nse > positions:
        raise ValueError(f"random_bcoo: nse={nse} unique indices do not fit the "
                         f"{positions} positions of the sparse shape {sparse_shape}")
    index_dtype = np.dtype(indices_dtype or np.int32)
    batch = shape[:n_batch]
    data_key, index_key = random.split(key)
    data = generator(data_key, batch + (nse,) + shape[n_batch + n_sparse:], dtype, **kwds)
    keys = random.split(index_key, batch) if batch else index_key

    def one(k):
        if unique_indices:
            lin = random.permutation(k, positions)[:nse]
        else:
            lin = random.randint(k, (nse,), 0, max(positions, 1))
        return from_linear_positions(fnp.sort(lin) if sorted_indices else lin, sparse_shape,
                                     index_dtype)

    indices = nfold_vmap(one, n_batch)(keys)
    return BCOO((data, indices), shape=shape, indices_sorted=sorted_indices,
                unique_indices=unique_indices)
