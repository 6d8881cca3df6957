"""The parts of `jax.lax.linalg` built from functrans's primitives: `householder_product`,
`ormqr`, `cholesky_update`, `symmetric_product`, JAX's signatures of `eigh` and `svd`
(`subset_by_index`, the `implementation` / `algorithm` enums), and the enums themselves."""
from __future__ import annotations

import enum

import numpy as np

from .. import dtypes
from ..primitives._util import shape_of, dtype_of
from ..primitives.elementwise import add, sub, mul
from ..primitives.shape_ops import slice_in_dim, pad, broadcast_in_dim
from ..primitives import linalg as _prims
from ..primitives.linalg import adjoint, bmm, mT, tri_mask


class EigImplementation(enum.Enum):
    """Which eig kernel to use (JAX's names). functrans has one (LAPACK's, on the host)."""
    CUSOLVER = "cusolver"
    MAGMA = "magma"
    LAPACK = "lapack"


class EighImplementation(enum.Enum):
    """Which eigh algorithm to use (JAX's names). functrans has one (the backend's
    `linalg.eigh`), so any value gives the same result."""
    QR = "qr"
    JACOBI = "jacobi"
    QDWH = "qdwh"


class SvdAlgorithm(enum.Enum):
    """Which SVD algorithm to use (JAX's names). functrans has one (the backend's
    `linalg.svd`), so any value gives the same result."""
    DEFAULT = "default"
    QR = "QR"
    JACOBI = "Jacobi"
    POLAR = "polar"
    DIVIDE_AND_CONQUER = "divide_and_conquer"


def _check_enum(fn, name, value, cls):
    if value is not None and not isinstance(value, cls):
        raise TypeError(f"{fn}: {name} must be a {cls.__name__} or None, got {value!r}")


def _check_inexact(fn, **arrays):
    for name, x in arrays.items():
        if not dtypes.is_inexact(dtype_of(x)):
            raise TypeError(f"{fn}: {name} must be a floating-point or complex array, got "
                            f"{np.dtype(dtype_of(x))}; convert it first (e.g. .astype(float))")


def _check_matrices(fn, **arrays):
    for name, x in arrays.items():
        if len(shape_of(x)) < 2:
            raise ValueError(f"{fn}: {name} must be a (stack of) matrices (..., m, n), got "
                             f"shape {tuple(shape_of(x))}")


def _subset(fn, subset_by_index, n):
    if subset_by_index is None:
        return None
    lo, hi = (int(i) for i in subset_by_index)
    if not 0 <= lo <= hi <= n:
        raise ValueError(f"{fn}: subset_by_index {tuple(subset_by_index)} must be a range "
                         f"(start, end) with 0 <= start <= end <= {n}")
    return lo, hi


def eigh(x, *, lower=True, symmetrize_input=True, sort_eigenvalues=True,
         subset_by_index=None, implementation=None):
    """`(v, w)`: eigenvectors (columns) and eigenvalues, ascending, of Hermitian `x`: its
    Hermitian part with `symmetrize_input`, else the matrix its `lower` (or upper) triangle
    defines. `subset_by_index=(start, end)` keeps eigenvalues start..end-1 (by ascending
    order). `implementation` (an EighImplementation) is accepted; there is one kernel.
    `sort_eigenvalues` is accepted; eigenvalues always come sorted."""
    del sort_eigenvalues
    _check_enum("eigh", "implementation", implementation, EighImplementation)
    v, w = _prims.eigh(x if symmetrize_input else _prims.from_triangle(x, lower))
    sub_range = _subset("eigh", subset_by_index, shape_of(x)[-1])
    if sub_range is not None:
        nd = len(shape_of(v))
        v = slice_in_dim(v, *sub_range, axis=nd - 1)
        w = slice_in_dim(w, *sub_range, axis=nd - 2)
    return v, w


def svd(x, *, full_matrices=True, compute_uv=True, subset_by_index=None, algorithm=None):
    """`(u, s, vh)` with x = u diag(s) vh, singular values descending, or `s` alone without
    `compute_uv`. `subset_by_index=(start, end)` keeps singular values start..end-1 (and
    their vectors; needs full_matrices=False when computing them). `algorithm` (an
    SvdAlgorithm) is accepted; there is one kernel."""
    _check_enum("svd", "algorithm", algorithm, SvdAlgorithm)
    sub_range = _subset("svd", subset_by_index, min(shape_of(x)[-2:]))
    if sub_range is not None and compute_uv and full_matrices:
        raise ValueError("svd: subset_by_index with compute_uv needs full_matrices=False")
    out = _prims.svd(x, full_matrices=full_matrices, compute_uv=compute_uv)
    if sub_range is None:
        return out
    nd = len(shape_of(x))
    if not compute_uv:
        return slice_in_dim(out, *sub_range, axis=nd - 2)
    u, s, vh = out
    return (slice_in_dim(u, *sub_range, axis=nd - 1), slice_in_dim(s, *sub_range, axis=nd - 2),
            slice_in_dim(vh, *sub_range, axis=nd - 2))


def householder_product(a, taus):
    """The first n columns of Q = H_0 H_1 ... H_{k-1}, for the Householder reflectors
    H_i = I - taus[i] v_i v_i^H stored below the diagonal of `a` (m x n, m >= n >= k;
    v_i[i] = 1 implied), as LAPACK's orgqr/ungqr. Differentiable (built from primitives)."""
    _check_matrices("householder_product", a=a)
    _check_inexact("householder_product", a=a, taus=taus)
    *batch, m, n = shape_of(a)
    k = shape_of(taus)[-1]
    if m < n or n < k or tuple(shape_of(taus)[:-1]) != tuple(batch):
        raise ValueError(f"householder_product: needs a of shape (..., m, n) with m >= n and "
                         f"taus (..., k) with k <= n and the same batch; got a {shape_of(a)}, "
                         f"taus {shape_of(taus)}")
    nb = len(batch)
    dt = dtype_of(a)
    # the reflector vectors as the columns of V (m x k): unit diagonal, zeros above
    V = add(tri_mask(slice_in_dim(a, 0, k, axis=nb + 1), -1, upper=False),
            np.eye(m, k, dtype=dt))
    q = broadcast_in_dim(np.eye(m, n, dtype=dt), tuple(batch) + (m, n), (nb, nb + 1))
    for i in reversed(range(k)):
        v = slice_in_dim(V, i, i + 1, axis=nb + 1)                   # (..., m, 1)
        tau = broadcast_in_dim(slice_in_dim(taus, i, i + 1, axis=nb), tuple(batch) + (1, 1),
                               tuple(range(nb)) + (nb,))
        q = sub(q, bmm(mul(v, tau), bmm(adjoint(v), q)))
    return q


def ormqr(a, taus, c, *, left=True, transpose=False):
    """Q c (`left`) or c Q with the m x m Q of `householder_product(a, taus)`'s reflectors
    (Q^H with `transpose`), as LAPACK's ormqr/unmqr."""
    _check_matrices("ormqr", a=a, c=c)
    _check_inexact("ormqr", a=a, taus=taus, c=c)
    *batch, m, n = shape_of(a)
    nb = len(batch)
    k = shape_of(taus)[-1] if shape_of(taus) else -1
    side = shape_of(c)[-2] if left else shape_of(c)[-1]
    if tuple(shape_of(taus)[:-1]) != tuple(batch) or not 0 <= k <= min(m, n):
        raise ValueError(f"ormqr: taus must have shape (..., k) with k <= min(m, n) and the "
                         f"batch of a (..., m, n); got a {shape_of(a)}, taus {shape_of(taus)}")
    if tuple(shape_of(c)[:-2]) != tuple(batch) or side != m:
        raise ValueError(f"ormqr: c must have a's batch and {m} {'rows' if left else 'columns'}"
                         f" (Q is {m} x {m}{'' if left else ', c @ Q'}); got a {shape_of(a)}, "
                         f"c {shape_of(c)}")
    if n < m:
        a = pad(a, 0, [(0, 0, 0)] * (nb + 1) + [(0, m - n, 0)])
    else:
        a = slice_in_dim(a, 0, m, axis=nb + 1)
    taus = pad(taus, 0, [(0, 0, 0)] * nb + [(0, m - k, 0)]) if k < m else taus
    q = householder_product(a, taus)
    if transpose:
        q = adjoint(q)
    return bmm(q, c) if left else bmm(c, q)


def cholesky_update(r_matrix, w_vector):
    """The upper-triangular Cholesky factor R' of R^T R + w w^T (R^H R + w w^H if complex),
    for upper-triangular `r_matrix` R (positive diagonal) and vector `w_vector` w."""
    r, w = r_matrix, w_vector
    _check_inexact("cholesky_update", r_matrix=r, w_vector=w)
    n = shape_of(r)[-1] if shape_of(r) else -1
    if len(shape_of(r)) != 2 or shape_of(r)[0] != n or tuple(shape_of(w)) != (n,):
        raise ValueError(f"cholesky_update: needs r_matrix of shape (n, n) and w_vector of "
                         f"shape (n,), got {shape_of(r)} and {shape_of(w)} (one matrix: use "
                         "ft.vmap for a stack)")
    col = broadcast_in_dim(w, (n, 1), (0,))
    a = add(bmm(adjoint(r), r), bmm(col, adjoint(col)))
    return adjoint(_prims.cholesky(a))


def symmetric_product(a_matrix, c_matrix, *, alpha=1., beta=0., symmetrize_output=False):
    """alpha a a^T + beta c for a (..., m, n) and symmetric c (..., m, m). With
    `symmetrize_output` the upper triangle is the transpose of the lower one."""
    _check_matrices("symmetric_product", a_matrix=a_matrix, c_matrix=c_matrix)
    _check_inexact("symmetric_product", a_matrix=a_matrix, c_matrix=c_matrix)
    sa, sc = tuple(shape_of(a_matrix)), tuple(shape_of(c_matrix))
    if sc != sa[:-1] + sa[-2:-1]:
        raise ValueError(f"symmetric_product: c_matrix must have shape {sa[:-1] + sa[-2:-1]} "
                         f"(a_matrix's batch and m x m for a_matrix (..., m, n)), got {sc}")
    out = add(mul(bmm(a_matrix, mT(a_matrix)), alpha), mul(c_matrix, beta))
    if symmetrize_output:
        out = add(tri_mask(out, 0, upper=False), mT(tri_mask(out, -1, upper=False)))
    return out
