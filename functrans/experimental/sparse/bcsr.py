"""BCSR, the batched compressed-sparse-row format of `jax.experimental.sparse` (basics).

A BCSR array of shape `batch + (rows, cols) + dense` stores `data` (`batch + (nse,) +
dense`), column `indices` (`batch + (nse,)`) and row pointers `indptr` (`batch + (rows + 1,)`):
the elements of row `i` are `indptr[i]:indptr[i + 1]`; those past `indptr[-1]` are padding.
Its operations go through the equivalent BCOO (`to_bcoo`, then `from_bcoo` for a BCSR
result), so they are differentiable and batch as BCOO's do.
"""
from __future__ import annotations

import numpy as np

from ... import numpy as fnp
from ...tree_util import register_pytree_node
from .base import JAXSparse
from .bcoo import BCOO, bcoo_dot_general, bcoo_fromdense, bcoo_sum_duplicates
from .bcoo_extra import bcoo_extract
from .bcoo_ops import bcoo_broadcast_in_dim, bcoo_concatenate

__all__ = ["BCSR", "bcsr_broadcast_in_dim", "bcsr_concatenate", "bcsr_dot_general",
           "bcsr_extract", "bcsr_fromdense", "bcsr_sum_duplicates", "bcsr_todense"]


class BCSR(JAXSparse):
    """A batched CSR sparse matrix: `BCSR((data, indices, indptr), shape=shape)`."""

    def __init__(self, args, *, shape, indices_sorted=False, unique_indices=False):
        data, indices, indptr = (fnp.asarray(a) for a in args)
        shape = tuple(int(s) for s in shape)
        n_batch = indices.ndim - 1
        if (indptr.ndim != indices.ndim or len(shape) < n_batch + 2
                or tuple(indptr.shape) != shape[:n_batch] + (shape[n_batch] + 1,)
                or tuple(data.shape[:n_batch + 1]) != tuple(indices.shape)):
            raise ValueError(f"BCSR: data {tuple(data.shape)}, indices {tuple(indices.shape)} "
                             f"and indptr {tuple(indptr.shape)} do not fit shape={shape}: "
                             f"expected batch + (nse,) + dense, batch + (nse,) and "
                             f"batch + (rows + 1,)")
        self.data, self.indices, self.indptr = data, indices, indptr
        self._tail = shape[n_batch:]
        self.indices_sorted, self.unique_indices = bool(indices_sorted), bool(unique_indices)

    shape = property(lambda self: tuple(self.indices.shape[:-1]) + self._tail)
    n_batch = property(lambda self: self.indices.ndim - 1)
    n_sparse = property(lambda self: 2)
    n_dense = property(lambda self: self.data.ndim - 1 - self.n_batch)
    nse = property(lambda self: self.indices.shape[-1])

    def __repr__(self):
        layout = (("n_batch", self.n_batch), ("n_dense", self.n_dense))
        extra = "".join(f", {k}={v}" for k, v in layout if v)
        dims = ", ".join(map(str, self.shape))
        return f"BCSR({np.dtype(self.dtype).name}[{dims}], nse={self.nse}{extra})"

    @classmethod
    def fromdense(cls, mat, *, nse=None, index_dtype=np.int32, n_dense=0, n_batch=0):
        """The BCSR of the dense `mat` (see `bcsr_fromdense`)."""
        return bcsr_fromdense(mat, nse=nse, n_batch=n_batch, n_dense=n_dense,
                              index_dtype=index_dtype)

    @classmethod
    def from_bcoo(cls, arr):
        """The BCSR of a BCOO with two sparse dimensions whose indices are sorted."""
        if arr.n_sparse != 2:
            raise ValueError(f"BCSR.from_bcoo: {arr!r} must have two sparse dimensions")
        if not arr.indices_sorted:
            arr = arr.sort_indices()
        rows, cols = arr.indices[..., 0], arr.indices[..., 1]
        n_rows = arr.shape[arr.n_batch]
        starts = fnp.arange(n_rows + 1, dtype=arr.indices.dtype)
        indptr = fnp.sum(rows[..., None, :] < starts[:, None], axis=-1).astype(cols.dtype)
        return cls((arr.data, cols, indptr), shape=arr.shape,
                   indices_sorted=True, unique_indices=arr.unique_indices)

    def to_bcoo(self):
        """The same matrix as a BCOO (padding elements get out-of-bounds indices)."""
        positions = fnp.arange(self.nse, dtype=self.indptr.dtype)
        rows = fnp.sum(self.indptr[..., 1:, None] <= positions, axis=-2)
        rows = rows.astype(self.indices.dtype)
        indices = fnp.stack([rows, self.indices], -1)
        return BCOO((self.data, indices), shape=self.shape,
                    indices_sorted=self.indices_sorted, unique_indices=self.unique_indices)

    def todense(self):
        return self.to_bcoo().todense()

    def __matmul__(self, other):
        return self.to_bcoo() @ other

    def __rmatmul__(self, other):
        return other @ self.to_bcoo()


def _flatten(mat):
    return ((mat.data, mat.indices, mat.indptr),
            (mat._tail, mat.indices_sorted, mat.unique_indices))


def _unflatten(aux, children):
    mat = object.__new__(BCSR)
    mat.data, mat.indices, mat.indptr = children
    mat._tail, mat.indices_sorted, mat.unique_indices = aux
    return mat


register_pytree_node(BCSR, _flatten, _unflatten)


def bcsr_fromdense(mat, *, nse=None, n_batch=0, n_dense=0, index_dtype=np.int32):
    """The BCSR of the dense `mat` (two sparse dimensions after `n_batch` batch ones),
    holding its nonzero entries row by row; `nse` pads (needed under transforms)."""
    mat = fnp.asarray(mat)
    if mat.ndim - n_batch - n_dense != 2:
        raise ValueError(f"bcsr_fromdense: mat of shape {tuple(mat.shape)} with "
                         f"n_batch={n_batch} and n_dense={n_dense} must leave two sparse "
                         f"dimensions")
    return BCSR.from_bcoo(bcoo_fromdense(mat, nse=nse, n_batch=n_batch, n_dense=n_dense,
                                         index_dtype=index_dtype))


def bcsr_todense(mat):
    """The dense array the BCSR `mat` stands for."""
    return mat.todense()


def bcsr_dot_general(lhs, rhs, *, dimension_numbers, precision=None,
                     preferred_element_type=None):
    """`lax.dot_general` of a BCSR `lhs` and a dense `rhs` (a dense result)."""
    if not isinstance(lhs, BCSR) or isinstance(rhs, (BCSR, BCOO)):
        raise NotImplementedError(
            f"bcsr_dot_general: implemented for a BCSR lhs and a dense rhs (as in JAX), got "
            f"{type(lhs).__name__} and {type(rhs).__name__}; convert a sparse operand with "
            f"to_bcoo() and use bcoo_dot_general")
    return bcoo_dot_general(lhs.to_bcoo(), rhs, dimension_numbers=dimension_numbers,
                            precision=precision, preferred_element_type=preferred_element_type)


def bcsr_extract(indices, indptr, mat):
    """The entries of the dense `mat` at the BCSR positions `indices` / `indptr`: the `data`
    of a BCSR with them (each duplicate gets the entry, padding 0)."""
    mat, indices = fnp.asarray(mat), fnp.asarray(indices)
    n_batch = indices.ndim - 1
    dense = tuple(mat.shape[n_batch + 2:])
    where = BCSR((fnp.zeros(tuple(indices.shape) + dense, mat.dtype), indices, indptr),
                 shape=mat.shape)
    return bcoo_extract(where.to_bcoo(), mat, assume_unique=True).data


def bcsr_broadcast_in_dim(mat, *, shape, broadcast_dimensions):
    """Sparse `lax.broadcast_in_dim` of a BCSR (new leading batch or trailing dense axes)."""
    return BCSR.from_bcoo(bcoo_broadcast_in_dim(mat.to_bcoo(), shape=shape,
                                                broadcast_dimensions=broadcast_dimensions))


def bcsr_concatenate(operands, *, dimension):
    """Sparse `lax.concatenate` of BCSR arrays along a batch or sparse `dimension`."""
    operands = list(operands)
    if not operands or not all(isinstance(op, BCSR) for op in operands):
        raise ValueError(f"bcsr_concatenate: expected operands to be a sequence of BCSR "
                         f"arrays, got {[type(op).__name__ for op in operands]}")
    return BCSR.from_bcoo(bcoo_concatenate([op.to_bcoo() for op in operands],
                                           dimension=dimension))


def bcsr_sum_duplicates(mat, nse=None):
    """`mat` with the elements of equal position added into one (zeros dropped), padded to
    `nse` (default: as many as needed, which needs concrete indices)."""
    return BCSR.from_bcoo(bcoo_sum_duplicates(mat.to_bcoo(), nse=nse))
