"""The unbatched matrix formats `COO`, `CSR` and `CSC` of `jax.experimental.sparse` (JAX's
older API), with `coo_*` / `csr_*` functions.

Each is a view of a BCOO (`_bcoo`), through which `todense` and products go, so they are
differentiable with respect to `data` and dense operands and pass through jit as pytrees.
Padding elements (from `fromdense` with a larger `nse`) hold 0 at row 0 / column 0, as in
JAX.
"""
from __future__ import annotations

import numpy as np

from ... import numpy as fnp
from ...tree_util import register_pytree_node
from .base import JAXSparse
from .bcoo import BCOO, bcoo_fromdense, bcoo_transpose
from .bcsr import BCSR, bcsr_fromdense

__all__ = ["COO", "CSR", "CSC", "coo_fromdense", "coo_todense", "coo_matvec", "coo_matmat",
           "csr_fromdense", "csr_todense", "csr_matvec", "csr_matmat"]


def _matrix(mat, what):
    mat = fnp.asarray(mat)
    if mat.ndim != 2:
        raise ValueError(f"{what}: expected a 2-D matrix, got shape {tuple(mat.shape)}; use "
                         f"BCOO or BCSR (with n_batch / n_dense) for other ranks")
    return mat


class _Matrix(JAXSparse):
    """What the three formats share: buffers `_fields`, a static 2-D shape."""
    _fields = ()

    def __init__(self, args, *, shape):
        for name, value in zip(self._fields, args, strict=True):
            setattr(self, name, fnp.asarray(value))
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) != 2:
            raise ValueError(f"{type(self).__name__}: shape={shape} must be 2-D")

    nse = property(lambda self: self.data.shape[0])

    def __repr__(self):
        dims = ", ".join(map(str, self.shape))
        return f"{type(self).__name__}({np.dtype(self.dtype).name}[{dims}], nse={self.nse})"

    def todense(self):
        """The dense matrix (duplicates added)."""
        return self._bcoo().todense()

    def __matmul__(self, other):
        return self._bcoo() @ other

    def _flatten(self):
        return tuple(getattr(self, f) for f in self._fields), (self.shape, self._flags())

    def _flags(self):
        return {}

    @classmethod
    def _unflatten(cls, aux, children):
        shape, flags = aux
        mat = object.__new__(cls)
        for name, value in zip(cls._fields, children):
            setattr(mat, name, value)
        mat.shape = shape
        for name, value in flags.items():
            setattr(mat, name, value)
        return mat


class COO(_Matrix):
    """A coordinate-format matrix: `COO((data, row, col), shape=shape)`."""
    _fields = ("data", "row", "col")

    def __init__(self, args, *, shape, rows_sorted=False, cols_sorted=False):
        super().__init__(args, shape=shape)
        self._rows_sorted, self._cols_sorted = bool(rows_sorted), bool(cols_sorted)

    def _flags(self):
        return {"_rows_sorted": self._rows_sorted, "_cols_sorted": self._cols_sorted}

    @classmethod
    def fromdense(cls, mat, *, nse=None, index_dtype=np.int32):
        """The COO of the nonzero entries of the 2-D `mat`, row by row (`nse` pads)."""
        return coo_fromdense(mat, nse=nse, index_dtype=index_dtype)

    def _bcoo(self):
        return BCOO((self.data, fnp.stack([self.row, self.col], -1)), shape=self.shape)

    @property
    def T(self):
        return COO((self.data, self.col, self.row), shape=self.shape[::-1],
                   rows_sorted=self._cols_sorted, cols_sorted=self._rows_sorted)


class CSR(_Matrix):
    """A compressed-sparse-row matrix: `CSR((data, indices, indptr), shape=shape)`."""
    _fields = ("data", "indices", "indptr")

    @classmethod
    def fromdense(cls, mat, *, nse=None, index_dtype=np.int32):
        """The CSR of the nonzero entries of the 2-D `mat` (`nse` pads)."""
        return csr_fromdense(mat, nse=nse, index_dtype=index_dtype)

    def _bcoo(self):
        return BCSR((self.data, self.indices, self.indptr), shape=self.shape).to_bcoo()

    @property
    def T(self):
        return CSC((self.data, self.indices, self.indptr), shape=self.shape[::-1])


class CSC(_Matrix):
    """A compressed-sparse-column matrix: `CSC((data, indices, indptr), shape=shape)`, the
    buffers of the CSR of its transpose."""
    _fields = ("data", "indices", "indptr")

    @classmethod
    def fromdense(cls, mat, *, nse=None, index_dtype=np.int32):
        """The CSC of the nonzero entries of the 2-D `mat`, column by column (`nse` pads)."""
        return csr_fromdense(_matrix(mat, "CSC.fromdense").T, nse=nse,
                             index_dtype=index_dtype).T

    def _bcoo(self):
        return bcoo_transpose(self.T._bcoo(), permutation=(1, 0))

    @property
    def T(self):
        return CSR((self.data, self.indices, self.indptr), shape=self.shape[::-1])


for _cls in (COO, CSR, CSC):
    register_pytree_node(_cls, _cls._flatten, _cls._unflatten)


def coo_fromdense(mat, *, nse=None, index_dtype=np.int32):
    """`COO.fromdense`: the nonzero entries of the 2-D `mat`, padded to `nse`."""
    sp = bcoo_fromdense(_matrix(mat, "coo_fromdense"), nse=nse, index_dtype=index_dtype)
    inside = sp.indices < fnp.asarray(sp.shape, sp.indices.dtype)
    indices = fnp.where(inside.all(-1, keepdims=True), sp.indices, 0)
    return COO((sp.data, indices[:, 0], indices[:, 1]), shape=sp.shape, rows_sorted=True)


def coo_todense(mat):
    """The dense matrix of a COO (CSR, CSC) `mat`."""
    return mat.todense()


def coo_matvec(mat, v, transpose=False):
    """`mat @ v` (`mat.T @ v` with `transpose`) for a COO (CSR, CSC) `mat` and a dense vector
    or matrix."""
    return (mat.T if transpose else mat) @ fnp.asarray(v)


def csr_fromdense(mat, *, nse=None, index_dtype=np.int32):
    """`CSR.fromdense`: the nonzero entries of the 2-D `mat`, row by row, padded to `nse`."""
    sp = bcsr_fromdense(_matrix(mat, "csr_fromdense"), nse=nse, index_dtype=index_dtype)
    used = fnp.arange(sp.nse) < sp.indptr[-1]
    return CSR((sp.data, fnp.where(used, sp.indices, 0), sp.indptr), shape=sp.shape)


coo_matmat = csr_matvec = csr_matmat = coo_matvec
csr_todense = coo_todense
