"""BCOO, the batched coordinate sparse format of `jax.experimental.sparse`.

A BCOO array of shape `batch + sparse + dense` stores `data` of shape
`batch + (nse,) + dense` and `indices` of shape `batch + (nse, n_sparse)`: stored element `e`
of batch `b` sits at `batch index b, sparse index indices[b, e]` and holds the block
`data[b, e]`. Duplicate indices add up; an index out of bounds (the padding `fromdense` and
`sum_duplicates` write, equal to the dimension's size) stands for nothing.

Every operation is written with functrans operations (gathers, scatter-adds, dot_general),
so jit, vmap and grad (with respect to `data` and to dense operands) go through them. A
batched array is handled by folding its batch dimensions into sparse ones (`unbatched`):
the same stored elements, with the batch position written into the indices.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ... import lax
from ... import numpy as fnp
from ...api import eval_shape, vmap
from ...array import ShapeDtypeStruct
from ...errors import ConcretizationTypeError
from ...interpreters.batching import BatchTracer
from ...tree_util import register_pytree_node
from .base import JAXSparse

__all__ = ["BCOO", "bcoo_fromdense", "bcoo_todense", "bcoo_dot_general", "bcoo_transpose",
           "bcoo_sum_duplicates", "bcoo_sort_indices", "bcoo_multiply_dense",
           "bcoo_reduce_sum", "eye", "empty", "todense", "fromdense"]


class BCOO(JAXSparse):
    """A batched-coordinate sparse array: `BCOO((data, indices), shape=shape)`.

    `data` has shape `batch + (nse,) + dense`, `indices` (integers) `batch + (nse, n_sparse)`;
    `n_batch = indices.ndim - 2`, `n_dense = data.ndim - 1 - n_batch`. A pytree whose children
    are `data` and `indices` (the shape past the batch dimensions is static), so it passes
    through jit, vmap (over batch dimensions) and grad.
    """
    def __init__(self, args, *, shape, indices_sorted=False, unique_indices=False):
        data, indices = args
        self.data, self.indices = fnp.asarray(data), fnp.asarray(indices)
        shape = tuple(int(s) for s in shape)
        _check(self.data, self.indices, shape)
        self._tail = shape[self.indices.ndim - 2:]
        self.indices_sorted, self.unique_indices = bool(indices_sorted), bool(unique_indices)

    # shape past the batch dimensions is static; the batch part follows the indices, so a
    # vmapped BCOO (one batch dimension fewer) has the right shape
    shape = property(lambda self: tuple(self.indices.shape[:-2]) + self._tail)
    n_batch = property(lambda self: self.indices.ndim - 2)
    n_sparse = property(lambda self: self.indices.shape[-1])
    n_dense = property(lambda self: self.data.ndim - 1 - self.n_batch)
    _layout = None      # (nse, n_dense, n_batch) of a node rebuilt by tree_unflatten
    nse = property(lambda self: self.indices.shape[-2])
    T = property(lambda self: self.transpose())

    def __repr__(self):
        layout = (("n_batch", self.n_batch), ("n_dense", self.n_dense))
        extra = "".join(f", {k}={v}" for k, v in layout if v)
        dims = ", ".join(map(str, self.shape))
        return f"BCOO({np.dtype(self.dtype).name}[{dims}], nse={self.nse}{extra})"

    def __len__(self):
        return self.shape[0]

    @classmethod
    def fromdense(cls, mat, *, nse=None, index_dtype=np.int32, n_dense=0, n_batch=0):
        """The BCOO holding the nonzeros of the dense array `mat` (see `bcoo_fromdense`)."""
        return bcoo_fromdense(mat, nse=nse, n_batch=n_batch, n_dense=n_dense,
                              index_dtype=index_dtype)

    def todense(self):
        """The dense array (see `bcoo_todense`)."""
        return bcoo_todense(self)

    def transpose(self, axes=None):
        return bcoo_transpose(self, permutation=tuple(reversed(range(self.ndim)))
                              if axes is None else axes)

    def sum_duplicates(self, nse=None, remove_zeros=True):
        return bcoo_sum_duplicates(self, nse=nse, remove_zeros=remove_zeros)

    def sort_indices(self):
        return bcoo_sort_indices(self)

    def astype(self, dtype):
        return BCOO((self.data.astype(dtype), self.indices), shape=self.shape,
                    indices_sorted=self.indices_sorted, unique_indices=self.unique_indices)

    def reshape(self, *new_sizes):
        """`mat` reshaped (see `bcoo_reshape`)."""
        from .bcoo_ops import bcoo_reshape      # (it builds on this module)
        if len(new_sizes) == 1 and not isinstance(new_sizes[0], (int, np.integer)):
            new_sizes = tuple(new_sizes[0])
        return bcoo_reshape(self, new_sizes=new_sizes)

    def update_layout(self, *, n_batch=None, n_dense=None, on_inefficient="error"):
        """The same array stored with other n_batch / n_dense (see `bcoo_update_layout`)."""
        from .bcoo_ops import bcoo_update_layout
        return bcoo_update_layout(self, n_batch=n_batch, n_dense=n_dense,
                                  on_inefficient=on_inefficient)

    def __getitem__(self, idx):
        """NumPy indexing (integers, slices, None, Ellipsis, integer arrays), as a BCOO."""
        from .transform import sparsify
        return sparsify(lambda m: m[idx])(self)

    def __iter__(self):
        # (indexing clamps as JAX's does, so the sequence protocol would never stop)
        return (self[i] for i in range(len(self)))

    def sum(self, axis=None):
        """The sum over `axis` (all of them: a dense scalar), as `bcoo_reduce_sum`."""
        if axis is None:
            return fnp.sum(self.data)
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        return bcoo_reduce_sum(self, axes=axes)

    def __neg__(self):
        return self._with_data(-self.data)

    def __pos__(self):
        return self

    def __mul__(self, other):
        if isinstance(other, BCOO):
            raise NotImplementedError("BCOO * BCOO (bcoo_multiply_sparse) is not supported; "
                                      "multiply by a dense array or call .todense() first")
        if fnp.ndim(other) == 0:
            return self._with_data(self.data * other)
        return bcoo_multiply_dense(self, other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        if isinstance(other, BCOO) or fnp.ndim(other) != 0:
            raise NotImplementedError("BCOO / x is supported for a scalar x only")
        return self._with_data(self.data / other)

    def __add__(self, other):
        if isinstance(other, BCOO):
            return _concatenate_stored(self, other)
        return fnp.add(self.todense(), other)

    __radd__ = __add__

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __matmul__(self, other):
        return _matmul(self, other)

    def __rmatmul__(self, other):
        return _matmul(other, self)

    def _with_data(self, data):
        return BCOO((data, self.indices), shape=self.shape, indices_sorted=self.indices_sorted,
                    unique_indices=self.unique_indices)


def _flatten(mat):
    # (a node rebuilt around other leaves, an in_axes tree say, keeps its array's layout)
    layout = mat._layout or (mat.nse, mat.n_dense, mat.n_batch)
    return (mat.data, mat.indices), (mat._tail, *layout, mat.indices_sorted,
                                     mat.unique_indices)


def _unflatten(aux, children):
    tail, nse, n_dense, n_batch, *flags = aux
    data, indices = children
    if isinstance(getattr(data, "shape", None), tuple) and \
            isinstance(getattr(indices, "shape", None), tuple):
        _check_rebuilt(data.shape, indices.shape, tail, nse, n_dense)
        if len(indices.shape) - 2 < n_batch:
            _check_mapped_axes(data, indices, n_batch)
        n_batch = len(indices.shape) - 2
    mat = object.__new__(BCOO)
    mat.data, mat.indices, mat._layout = data, indices, (nse, n_dense, n_batch)
    mat._tail, (mat.indices_sorted, mat.unique_indices) = tail, flags
    return mat


_IN_AXES_RULE = ("vmap's in_axes and out_axes for a BCOO must correspond to a batch dimension "
                 "(the batch dimensions are a block of leading ones; make one with "
                 "BCOO.fromdense(..., n_batch=k) or bcoo_update_layout)")


def _check_rebuilt(data_shape, indices_shape, tail, nse, n_dense):
    """Refuse a BCOO rebuilt from children whose stored-element or sparse axes a transform
    took away (vmap over an axis that is not a batch dimension)."""
    n_batch = len(indices_shape) - 2
    if n_batch < 0 or indices_shape[-2:] != (nse, len(tail) - n_dense) or \
            tuple(data_shape[n_batch:]) != (nse,) + tuple(tail[len(tail) - n_dense:]):
        raise ValueError(
            f"a BCOO (nse={nse}, {n_dense} dense dimensions) cannot be rebuilt from data of "
            f"shape {tuple(data_shape)} and indices of shape {tuple(indices_shape)}: "
            + _IN_AXES_RULE)


def _check_mapped_axes(data, indices, n_batch):
    """Children that vmap maps (one axis fewer than the array flattened) must be mapped
    along one of its `n_batch` batch dimensions, the same one for both: shapes alone miss a
    mapped stored-element axis whose size equals a batch size."""
    axes = {c.bdim for c in (data, indices) if type(c) is BatchTracer}
    if len(axes) > 1 or any(a >= n_batch for a in axes):
        raise ValueError(f"Cannot map in_axis={sorted(axes)} (data, indices) for BCOO array "
                         f"with n_batch={n_batch}: " + _IN_AXES_RULE)


register_pytree_node(BCOO, _flatten, _unflatten)


def _check(data, indices, shape):
    if indices.ndim < 2 or not fnp.issubdtype(indices.dtype, fnp.integer):
        raise ValueError(f"BCOO: indices must be integers of shape batch + (nse, n_sparse), "
                         f"got {indices.dtype}{list(indices.shape)}")
    n_batch, (nse, n_sparse) = indices.ndim - 2, indices.shape[-2:]
    n_dense = len(shape) - n_batch - n_sparse
    if n_dense < 0 or tuple(indices.shape[:n_batch]) != shape[:n_batch]:
        raise ValueError(f"BCOO: indices of shape {tuple(indices.shape)} do not fit "
                         f"shape={shape} (batch dimensions {shape[:n_batch]} first)")
    want = shape[:n_batch] + (nse,) + shape[n_batch + n_sparse:]
    if tuple(data.shape) != want:
        raise ValueError(f"BCOO: data of shape {tuple(data.shape)} does not fit shape={shape}"
                         f" with n_batch={n_batch}, nse={nse}, n_dense={n_dense}: expected "
                         f"{want}")


def concrete_int(value, what):
    try:
        return int(value)
    except ConcretizationTypeError:
        raise ConcretizationTypeError(
            f"{what}: the number of stored elements depends on traced values; pass nse= "
            f"(a Python int) when calling it under jit, vmap or grad") from None


def unbatched(mat):
    """`(data, indices)` with no batch dimensions holding the same elements as `mat`: the batch
    dimensions become the first sparse ones (nse grows to prod(batch) * nse)."""
    if mat.n_batch == 0:
        return mat.data, mat.indices
    batch, nse = mat.shape[:mat.n_batch], mat.nse
    grid = fnp.meshgrid(*[fnp.arange(b, dtype=mat.indices.dtype) for b in batch],
                        fnp.arange(nse, dtype=mat.indices.dtype), indexing="ij")[:-1]
    indices = fnp.concatenate([fnp.stack(grid, -1), mat.indices], -1)
    count = math.prod(batch) * nse
    return (mat.data.reshape((count,) + mat.data.shape[mat.n_batch + 1:]),
            indices.reshape(count, indices.shape[-1]))


def index_columns(indices, dims):
    return tuple(indices[:, d] for d in dims)


def bcoo_todense(mat):
    """The dense array `mat` stands for (duplicates added, out-of-bounds indices dropped)."""
    data, indices = unbatched(mat)
    n = indices.shape[-1]
    if n == 0:
        return fnp.sum(data, 0)
    out = fnp.zeros(mat.shape, data.dtype)
    return out.at[index_columns(indices, range(n))].add(data, mode="drop")


def todense(arr):
    """`arr` as a dense array (a BCOO densified; anything else returned as it is)."""
    return arr.todense() if isinstance(arr, BCOO) else arr


def fromdense(mat, *, nse=None, index_dtype=np.int32, **kwargs):
    """`BCOO.fromdense(mat, ...)` (JAX's `sparse.fromdense`, BCOO format only)."""
    fmt = kwargs.pop("sparse_format", "bcoo")
    if fmt != "bcoo":
        raise NotImplementedError(f"fromdense: sparse_format={fmt!r}; only 'bcoo' is supported")
    return bcoo_fromdense(mat, nse=nse, index_dtype=index_dtype, **kwargs)


def bcoo_fromdense(mat, *, nse=None, n_batch=0, n_dense=0, index_dtype=np.int32):
    """The BCOO of the dense `mat` holding its nonzero entries (nonzero dense blocks), in
    row-major order; `nse` (needed under transforms) pads with index = shape and data 0 or
    keeps the first `nse` nonzeros. Differentiable with respect to `mat`."""
    mat = fnp.asarray(mat)
    n_sparse = mat.ndim - n_batch - n_dense
    if n_batch < 0 or n_dense < 0 or n_sparse < 0:
        raise ValueError(f"bcoo_fromdense: n_batch={n_batch} and n_dense={n_dense} must be "
                         f"non-negative and add up to at most mat.ndim={mat.ndim}")
    sparse = mat.shape[n_batch:n_batch + n_sparse]
    nonzero = mat != 0
    if n_dense:
        nonzero = fnp.any(nonzero, axis=tuple(range(n_batch + n_sparse, mat.ndim)))
    if nse is None:
        per_batch = fnp.sum(nonzero, axis=tuple(range(n_batch, nonzero.ndim)))
        nse = concrete_int(fnp.max(per_batch) if per_batch.size else 0, "bcoo_fromdense")
    nse = int(nse)

    def one(x, nz):
        if n_sparse == 0:          # one element, the whole block (then zero padding)
            pad = fnp.zeros((max(nse - 1, 0),) + x.shape, x.dtype)
            return fnp.concatenate([x[None], pad])[:nse], fnp.zeros((nse, 0), index_dtype)
        cols = fnp.nonzero(nz, size=nse, fill_value=sparse)
        indices = fnp.stack(cols, -1).astype(index_dtype)
        return x.at[cols].get(mode="fill", fill_value=0), indices

    data, indices = nfold_vmap(one, n_batch)(mat, nonzero)
    return BCOO((data, indices), shape=mat.shape, indices_sorted=True, unique_indices=True)


def bcoo_transpose(mat, *, permutation):
    """`mat` with its axes permuted; batch, sparse and dense axes must each stay in their
    group (as in JAX)."""
    perm = tuple(int(p) % max(mat.ndim, 1) for p in permutation)
    if sorted(perm) != list(range(mat.ndim)):
        raise ValueError(f"bcoo_transpose: permutation={permutation} is not a permutation of "
                         f"the {mat.ndim} axes of {mat!r}")
    nb, ns = mat.n_batch, mat.n_sparse
    groups = (perm[:nb], perm[nb:nb + ns], perm[nb + ns:])
    bounds = ((0, nb), (nb, nb + ns), (nb + ns, mat.ndim))
    if any(sorted(g) != list(range(*b)) for g, b in zip(groups, bounds)):
        raise ValueError(f"bcoo_transpose: permutation={permutation} moves an axis between "
                         f"the batch (n_batch={nb}), sparse and dense groups of {mat!r}; "
                         f"convert with todense() first or rebuild with other n_batch/n_dense")
    batch_perm = list(groups[0])
    data = fnp.transpose(mat.data, batch_perm + [nb] + [p - ns + 1 for p in groups[2]])
    indices = fnp.transpose(mat.indices, batch_perm + [nb, nb + 1])
    if ns:
        indices = indices[..., [p - nb for p in groups[1]]]
    shape = tuple(mat.shape[p] for p in perm)
    return BCOO((data, indices), shape=shape, unique_indices=mat.unique_indices,
                indices_sorted=mat.indices_sorted and groups[1] == tuple(range(nb, nb + ns)))


def linear_positions(indices, sparse_shape):
    """Row-major positions of the sparse indices (int64), `prod(sparse_shape)` for those out
    of bounds."""
    total = math.prod(sparse_shape)
    lin = fnp.zeros(indices.shape[:-1], np.int64)
    inside = fnp.ones(indices.shape[:-1], bool)
    for k, size in enumerate(sparse_shape):
        col = indices[..., k].astype(np.int64)
        lin = lin * size + col
        inside = inside & (col >= 0) & (col < size)
    return fnp.where(inside, lin, total)


def from_linear_positions(lin, sparse_shape, dtype):
    """Indices of row-major positions; `prod(sparse_shape)` gives the padding index (= shape)."""
    total = math.prod(sparse_shape)
    cols, rest = [], lin
    for size in reversed(sparse_shape):
        cols.append(rest % size)
        rest = rest // size
    out = fnp.stack(cols[::-1], -1) if cols else fnp.zeros(lin.shape + (0,), np.int64)
    pad = fnp.asarray(sparse_shape, np.int64)
    return fnp.where((lin == total)[..., None], pad, out).astype(dtype)


def nfold_vmap(fun, n_batch):
    for _ in range(n_batch):
        fun = vmap(fun)
    return fun


def bcoo_sum_duplicates(mat, *, nse=None, remove_zeros=True):
    """`mat` with duplicate indices added into one element, in sorted order, padded to `nse`
    elements (default: as many as needed, which needs concrete indices; explicit zeros are
    dropped too with `remove_zeros`)."""
    nb, ns = mat.n_batch, mat.n_sparse
    sparse_shape = mat.shape[nb:nb + ns]
    total = math.prod(sparse_shape)
    lin = linear_positions(mat.indices, sparse_shape)
    if remove_zeros:
        zero = mat.data == 0
        if mat.n_dense:
            zero = fnp.all(zero, axis=tuple(range(nb + 1, mat.data.ndim)))
        lin = fnp.where(zero, total, lin)
    if nse is None:
        def count(row):
            return fnp.sum(fnp.unique(row, size=row.shape[0], fill_value=total) < total)
        nse = concrete_int(fnp.max(nfold_vmap(count, nb)(lin)) if mat.nse else 0,
                           "bcoo_sum_duplicates")

    def one(data, lin):
        return summed_by_position(data, lin, nse, sparse_shape, mat.indices.dtype)

    data, indices = nfold_vmap(one, nb)(mat.data, lin)
    return BCOO((data, indices), shape=mat.shape, indices_sorted=True, unique_indices=True)


def summed_by_position(data, lin, nse, sparse_shape, index_dtype):
    """Unbatched `(data, indices)` of `nse` elements: the elements of `data` at row-major
    positions `lin` added up per position, in sorted order, then padding (out-of-bounds
    positions, `prod(sparse_shape)`, are dropped)."""
    total = math.prod(sparse_shape)
    keys, inverse = fnp.unique(lin, size=nse, fill_value=total, return_inverse=True)
    inverse = inverse.reshape(-1)
    out = fnp.zeros((nse,) + data.shape[1:], data.dtype)
    summed = out.at[fnp.where(lin < total, inverse, nse)].add(data, mode="drop")
    return summed, from_linear_positions(keys, sparse_shape, index_dtype)


def bcoo_sort_indices(mat):
    """`mat` with its elements in row-major order of their indices (a stable sort)."""
    nb, ns = mat.n_batch, mat.n_sparse
    lin = linear_positions(mat.indices, mat.shape[nb:nb + ns])

    def one(data, indices, lin):
        order = fnp.argsort(lin, stable=True)
        return data[order], indices[order]

    data, indices = nfold_vmap(one, nb)(mat.data, mat.indices, lin)
    return BCOO((data, indices), shape=mat.shape, indices_sorted=True,
                unique_indices=mat.unique_indices)


def bcoo_multiply_dense(sp_mat, v):
    """The elementwise product of the BCOO `sp_mat` and the dense `v` (broadcast to its
    shape), as a BCOO with the same indices."""
    v = fnp.asarray(v)
    if fnp.broadcast_shapes(v.shape, sp_mat.shape) != sp_mat.shape:
        raise ValueError(f"bcoo_multiply_dense: v of shape {tuple(v.shape)} does not "
                         f"broadcast to the sparse shape {sp_mat.shape}")
    v = fnp.broadcast_to(v, sp_mat.shape)
    _, indices = unbatched(sp_mat)
    taken = v.at[index_columns(indices, range(indices.shape[-1]))].get(mode="fill", fill_value=0)
    return sp_mat._with_data(sp_mat.data * taken.reshape(sp_mat.data.shape))


def bcoo_reduce_sum(mat, *, axes):
    """The sum of `mat` over `axes`, as a BCOO: dense axes are summed in `data`, sparse axes
    lose their index column (leaving duplicates), batch axes are merged into the stored
    elements."""
    axes = sorted({int(a) % max(mat.ndim, 1) for a in axes})
    nb, ns = mat.n_batch, mat.n_sparse
    data, indices = mat.data, mat.indices
    dense_axes = [a for a in axes if a >= nb + ns]
    if dense_axes:
        data = fnp.sum(data, axis=tuple(a - ns + 1 for a in dense_axes))
    keep = [k for k in range(ns) if nb + k not in axes]
    indices = indices[..., keep]
    batch_axes = [a for a in axes if a < nb]
    if batch_axes:
        kept = [a for a in range(nb) if a not in batch_axes]
        lead = kept + batch_axes + [nb]
        data = fnp.transpose(data, lead + list(range(nb + 1, data.ndim)))
        indices = fnp.transpose(indices, lead + [nb + 1])
        merged = math.prod(mat.shape[a] for a in batch_axes) * mat.nse
        batch = tuple(mat.shape[a] for a in kept)
        data = data.reshape(batch + (merged,) + data.shape[nb + 1:])
        indices = indices.reshape(batch + (merged, len(keep)))
    shape = tuple(s for a, s in enumerate(mat.shape) if a not in axes)
    return BCOO((data, indices), shape=shape)


def _concatenate_stored(a, b):
    """a + b for two BCOO arrays of one shape and layout: their elements side by side."""
    if a.shape != b.shape or (a.n_batch, a.n_dense) != (b.n_batch, b.n_dense):
        raise ValueError(f"BCOO + BCOO needs one shape and layout (n_batch, n_dense); got "
                         f"{a!r} and {b!r}")
    axis = a.n_batch
    indices = fnp.concatenate([a.indices, b.indices.astype(a.indices.dtype)], axis)
    data = fnp.concatenate([a.data, b.data], axis)
    return BCOO((data, indices), shape=a.shape)


# ---------------------------------------------------------------------------- products
def _sparse_dense_dot(mat, rhs, dimension_numbers, preferred_element_type):
    """dot_general(mat, rhs) for a BCOO `mat` and a dense `rhs` (a dense result): `rhs` is
    gathered at each stored element's indices along the axes paired with sparse ones, each
    element's dense block is multiplied with its gathered slice, and the products are added
    into the result at the element's remaining sparse indices."""
    (lc, rc), (lb, rb) = [[tuple(int(d) for d in x) for x in pair]
                          for pair in dimension_numbers]
    data, indices = unbatched(mat)
    ns, nd_l = indices.shape[-1], mat.ndim
    partner = dict(zip(lc + lb, rc + rb))
    gathered = [d for d in range(ns) if d in partner]
    rhs_rest = [d for d in range(rhs.ndim) if d not in [partner[g] for g in gathered]]
    rhs_t = fnp.transpose(rhs, [partner[g] for g in gathered] + rhs_rest)
    if gathered:
        rhs_g = rhs_t.at[index_columns(indices, gathered)].get(mode="fill", fill_value=0)
    else:
        rhs_g = fnp.broadcast_to(rhs_t, (indices.shape[0],) + rhs_t.shape)

    def lpos(d):         # a dense lhs axis in data (stored elements first)
        return 1 + d - ns

    def rpos(d):
        return 1 + rhs_rest.index(d)

    dense_c = [(lpos(a), rpos(b)) for a, b in zip(lc, rc) if a >= ns]
    dense_b = [(lpos(a), rpos(b)) for a, b in zip(lb, rb) if a >= ns]
    products = lax.dot_general(
        data, rhs_g, (([a for a, _ in dense_c], [b for _, b in dense_c]),
                      ([0] + [a for a, _ in dense_b], [0] + [b for _, b in dense_b])),
        preferred_element_type=preferred_element_type)
    lhs_free = [d for d in range(nd_l) if d not in lc and d not in lb]
    rhs_free = [d for d in range(rhs.ndim) if d not in rc and d not in rb]
    out_shape = ([mat.shape[d] for d in lb] + [mat.shape[d] for d in lhs_free]
                 + [rhs.shape[d] for d in rhs_free])
    # each result axis comes from an index column (sparse lhs axes) or from `products`
    sources = list(lb) + lhs_free + [None] * len(rhs_free)
    from_indices = [p for p, d in enumerate(sources) if d is not None and d < ns]
    from_products = [p for p in range(len(sources)) if p not in from_indices]
    if from_indices:
        staged = fnp.zeros([out_shape[p] for p in from_indices]
                           + [out_shape[p] for p in from_products], products.dtype)
        staged = staged.at[index_columns(indices, [sources[p] for p in from_indices])].add(
            products, mode="drop")
    else:
        staged = fnp.sum(products, 0)
    return fnp.transpose(staged, np.argsort(from_indices + from_products))


def bcoo_dot_general(lhs, rhs, *, dimension_numbers, precision=None,
                     preferred_element_type=None):
    """`lax.dot_general` with a BCOO operand: dense with a dense other operand, a BCOO when
    both are BCOO (see `_sparse_sparse_dot`)."""
    del precision       # accepted for JAX's signature; products are computed exactly
    if isinstance(lhs, BCOO) and isinstance(rhs, BCOO):
        return _sparse_sparse_dot(lhs, rhs, dimension_numbers, preferred_element_type)
    if isinstance(lhs, BCOO):
        return _sparse_dense_dot(lhs, fnp.asarray(rhs), dimension_numbers,
                                 preferred_element_type)
    if not isinstance(rhs, BCOO):
        return lax.dot_general(lhs, rhs, dimension_numbers,
                               preferred_element_type=preferred_element_type)
    lhs = fnp.asarray(lhs)
    (lc, rc), (lb, rb) = dimension_numbers
    out = _sparse_dense_dot(rhs, lhs, ((rc, lc), (rb, lb)), preferred_element_type)
    nb = len(lb)
    n_rfree = rhs.ndim - len(rc) - nb
    n_lfree = lhs.ndim - len(lc) - nb
    return fnp.transpose(out, list(range(nb)) + list(range(nb + n_rfree, nb + n_rfree + n_lfree))
                         + list(range(nb, nb + n_rfree)))


def _in_bounds(indices, sizes):
    return fnp.all((indices >= 0) & (indices < fnp.asarray(sizes, indices.dtype)), -1)


def _sparse_sparse_dot(lhs, rhs, dimension_numbers, preferred_element_type):
    """dot_general of two BCOO arrays, a BCOO (JAX's bcoo_spdot_general): each pair of stored
    elements whose contracted indices agree gives the product of their data at the pair of
    their free indices; the products are added per position into
    min(lhs nse * rhs nse, result sparse size) elements. Batch dimensions of the product
    must be batch dimensions of both operands, contracted ones sparse dimensions."""
    (lc, rc), (lb, rb) = [[tuple(int(d) for d in x) for x in pair]
                          for pair in dimension_numbers]
    out = eval_shape(functools.partial(lax.dot_general, dimension_numbers=((lc, rc), (lb, rb)),
                                       preferred_element_type=preferred_element_type),
                     ShapeDtypeStruct(lhs.shape, lhs.dtype), ShapeDtypeStruct(rhs.shape, rhs.dtype))
    if lhs.n_dense or rhs.n_dense:
        raise NotImplementedError(
            f"bcoo_dot_general of two BCOO arrays with dense dimensions ({lhs!r}, {rhs!r}); "
            f"move them to sparse ones with bcoo_update_layout(mat, n_dense=0) first")
    if any(d >= lhs.n_batch for d in lb) or any(d >= rhs.n_batch for d in rb):
        raise NotImplementedError(
            f"bcoo_spdot_general: batch_dims must correspond to batch dimensions of the sparse "
            f"representation; got batch dimensions {lb} of {lhs!r} and {rb} of {rhs!r}")
    for mat, c in ((lhs, lc), (rhs, rc)):
        if any(not mat.n_batch <= d < mat.n_batch + mat.n_sparse for d in c):
            raise NotImplementedError(
                f"bcoo_spdot_general only supports contraction of sparse indices; got "
                f"contracting dimensions {c} of {mat!r}")
    if rhs.n_batch > len(rb) and lhs.n_sparse > len(lc):
        raise ValueError("bcoo_spdot_general: cannot have unused batch dims on rhs with unused "
                         f"sparse dims on lhs ({lhs!r} and {rhs!r})")
    (ld, li, lsp, lcs, lfree), (rd, ri, rsp, rcs, rfree) = [
        _batch_first(mat, b, c) for mat, b, c in ((lhs, lb, lc), (rhs, rb, rc))]
    out_n_batch = lhs.n_batch + rhs.n_batch - len(lb)
    out_sparse = out.shape[out_n_batch:]
    nse = math.prod(mat.nse if mat.n_sparse > len(c) else 1 for mat, c in ((lhs, lc), (rhs, rc)))
    nse = min(nse, math.prod(out_sparse))

    def one(ld, li, rd, ri):
        n_l, n_r = li.shape[0], ri.shape[0]
        match = (_in_bounds(li[:, lcs], [lsp[d] for d in lcs])[:, None]
                 & _in_bounds(ri[:, rcs], [rsp[d] for d in rcs])[None, :])
        if lcs:
            match = match & fnp.all(li[:, None, lcs] == ri[None, :, rcs].astype(li.dtype), -1)
        products = fnp.where(match, ld[:, None].astype(out.dtype) * rd[None, :].astype(out.dtype),
                             0).reshape(-1)
        index = fnp.concatenate(
            [fnp.broadcast_to(li[:, None, lfree], (n_l, n_r, len(lfree))),
             fnp.broadcast_to(ri[None, :, rfree].astype(li.dtype), (n_l, n_r, len(rfree)))],
            -1).reshape(n_l * n_r, len(lfree) + len(rfree))
        return summed_by_position(products, linear_positions(index, out_sparse), nse,
                                  out_sparse, li.dtype)

    for _ in range(rhs.n_batch - len(rb)):
        one = vmap(one, (None, None, 0, 0))
    for _ in range(lhs.n_batch - len(lb)):
        one = vmap(one, (0, 0, None, None))
    data, indices = nfold_vmap(one, len(lb))(ld, li, rd, ri)
    return BCOO((data, indices), shape=out.shape)


def _batch_first(mat, batch, contracting):
    """`mat`'s data and indices with the batch dimensions `batch` first, then its others;
    its sparse shape, and the index columns contracted and left free."""
    nb = mat.n_batch
    order = list(batch) + [d for d in range(nb) if d not in batch]
    data = fnp.transpose(mat.data, order + list(range(nb, mat.data.ndim)))
    indices = fnp.transpose(mat.indices, order + [nb, nb + 1])
    cols = [d - nb for d in contracting]
    return (data, indices, mat.shape[nb:], cols,
            [k for k in range(mat.n_sparse) if k not in cols])


def _matmul(a, b):
    """a @ b with one operand a BCOO (NumPy's matmul rules; leading axes of two operands of
    three or more axes are batch axes and must match)."""
    sa, sb = [x.shape if isinstance(x, BCOO) else tuple(fnp.shape(x)) for x in (a, b)]
    na, nb_ = len(sa), len(sb)
    if na == 0 or nb_ == 0:
        raise ValueError("matmul: operands must have at least one axis; use * for scalars")
    if na <= 2 and nb_ <= 2:
        dn = (((na - 1,), (0 if nb_ == 1 else nb_ - 2,)), ((), ()))
    elif na == nb_ and sa[:-2] == sb[:-2]:
        batch = tuple(range(na - 2))
        dn = (((na - 1,), (na - 2,)), (batch, batch))
    else:
        raise NotImplementedError(f"BCOO matmul of shapes {sa} and {sb}: "
                                  f"batched operands need equal ranks and leading axes")
    return bcoo_dot_general(a, b, dimension_numbers=dn)


# ---------------------------------------------------------------------------- creation
def eye(N, M=None, k=0, dtype=None, index_dtype="int32", sparse_format="bcoo", **kwds):
    """A sparse identity-like matrix: ones on diagonal `k` of an `N x M` matrix (BCOO)."""
    if sparse_format != "bcoo":
        raise NotImplementedError(f"eye: sparse_format={sparse_format!r}; only 'bcoo' is "
                                  f"supported")
    M = N if M is None else M
    if kwds.get("n_batch", 0) or kwds.get("n_dense", 0):
        return bcoo_fromdense(fnp.eye(N, M, k, dtype=dtype), index_dtype=index_dtype, **kwds)
    length = max(0, min(N, M - k) if k >= 0 else min(N + k, M))
    rows = fnp.arange(length, dtype=index_dtype) + max(0, -k)
    indices = fnp.stack([rows, rows + k], -1)
    return BCOO((fnp.ones(length, dtype), indices), shape=(N, M), indices_sorted=True,
                unique_indices=True)


def empty(shape, dtype=None, index_dtype="int32", sparse_format="bcoo", n_batch=0,
          n_dense=0):
    """An all-zero BCOO of `shape` storing no elements (nse=0)."""
    if sparse_format != "bcoo":
        raise NotImplementedError(f"empty: sparse_format={sparse_format!r}; only 'bcoo' is "
                                  f"supported")
    shape = tuple(int(s) for s in shape)
    n_sparse = len(shape) - n_batch - n_dense
    if n_sparse < 0 or n_batch < 0 or n_dense < 0:
        raise ValueError(f"empty: n_batch={n_batch} and n_dense={n_dense} do not fit "
                         f"shape={shape}")
    batch, dense = shape[:n_batch], shape[n_batch + n_sparse:]
    return BCOO((fnp.zeros(batch + (0,) + dense, dtype),
                 fnp.zeros(batch + (0, n_sparse), index_dtype)), shape=shape,
                indices_sorted=True, unique_indices=True)
