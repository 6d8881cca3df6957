"""`functrans.numpy.linalg`: NumPy's linear algebra on stacks of matrices, differentiable.

Built on the primitives in `functrans.lax.linalg` (LU, Cholesky, eigh, SVD, QR, triangular
solves). As in JAX, `eigh`, `eigvalsh` and `cholesky` use the Hermitian part
`(a + a^H) / 2` of the input (so their gradients are symmetric); with
`symmetrize_input=False` they read one triangle, as NumPy does. Derivative limits (repeated
eigenvalues or singular values, singular matrices for solve/det/inv) are listed in
`functrans.lax.linalg`;
`pinv` has its own derivative rule, valid wherever the rank does not change.
"""
from __future__ import annotations

import math
import operator
from typing import NamedTuple

import numpy as np

from .. import lax
from ..core import Tracer, on_operand_device, place_functions as _place_functions
from ..higher_order.custom_derivatives import custom_jvp
from ..primitives._util import shape_of, dtype_of, broadcast_shapes, power_by_squaring
from ..primitives.linalg import adjoint, from_triangle
from ._conversion import asarray, promote_inexact
from ._linalg import matmul, multi_dot, outer as _outer, tensordot, vecdot, cross, matvec, vecmat  # noqa: F401
from ._reductions import as_bool, normalize_axes
from ._shape import diagonal as _diagonal, matrix_transpose

_T = matrix_transpose


def outer(x1, x2, /):
    """The outer product of two vectors (the array API's: `numpy.outer` flattens instead)."""
    for name, x in (("x1", x1), ("x2", x2)):
        if len(shape_of(asarray(x))) != 1:
            raise ValueError(f"linalg.outer: {name} must be one-dimensional, got shape "
                             f"{shape_of(asarray(x))} (functrans.numpy.outer flattens)")
    return _outer(x1, x2)

__all__ = ["norm", "vector_norm", "matrix_norm", "inv", "solve", "det", "slogdet",
           "cholesky", "eigh", "eigvalsh", "eig", "eigvals", "svd", "svdvals", "qr", "pinv", "matrix_power",
           "matrix_rank", "lstsq", "cond", "multi_dot", "outer", "tensordot", "vecdot",
           "cross", "matmul", "matrix_transpose", "diagonal", "trace", "tensorsolve",
           "tensorinv", "matvec", "vecmat"]


class EighResult(NamedTuple):
    eigenvalues: object
    eigenvectors: object


class EigResult(NamedTuple):
    eigenvalues: object
    eigenvectors: object


class SVDResult(NamedTuple):
    U: object
    S: object
    Vh: object


class QRResult(NamedTuple):
    Q: object
    R: object


class SlogdetResult(NamedTuple):
    sign: object
    logabsdet: object


def _float_matrix(a, name, square=True):
    (a,), _ = promote_inexact(a)
    s = shape_of(a)
    if len(s) < 2:
        raise ValueError(f"linalg.{name}: needs at least a 2-D array, got shape {s}")
    if square and s[-1] != s[-2]:
        raise ValueError(f"linalg.{name}: last 2 dimensions of the array must be square, got "
                         f"shape {s}")
    return a


def _eye(n, dtype):
    return asarray(np.eye(n, dtype=dtype))


# ------------------------------------------------------------------ solving
def solve(a, b):
    """x with `a @ x == b`; b is (…, n) when 1-D, else (…, n, k) (NumPy 2's rule)."""
    a = _float_matrix(a, "solve")
    (a, b), _ = promote_inexact(a, b)
    n = shape_of(a)[-1]
    vector = len(shape_of(b)) == 1
    if vector:
        b = lax.reshape(b, (n, 1))
    if shape_of(b)[-2] != n:
        raise ValueError(f"linalg.solve: a of shape {shape_of(a)} and b of shape "
                         f"{shape_of(b)} do not match")
    batch = broadcast_shapes(shape_of(a)[:-2], shape_of(b)[:-2], opname="linalg.solve")
    a = lax.broadcast_to(a, batch + (n, n))
    b = lax.broadcast_to(b, batch + shape_of(b)[-2:])
    lu, _, perm = lax.linalg.lu(a)
    x = lax.linalg.lu_solve(lu, perm, b)
    return lax.reshape(x, batch + (n,)) if vector else x


def inv(a):
    """The inverse of each square matrix."""
    a = _float_matrix(a, "inv")
    n = shape_of(a)[-1]
    return solve(a, lax.broadcast_to(_eye(n, dtype_of(a)), shape_of(a)))


def _lu_parts(a):
    lu, pivots, _ = lax.linalg.lu(a)
    n = shape_of(a)[-1]
    swaps = lax.reduce_sum(lax.convert_element_type(
        lax.ne(pivots, asarray(np.arange(n, dtype=np.int32))), np.int64), (len(shape_of(a)) - 2,))
    parity = lax.sub(1.0, lax.mul(lax.convert_element_type(lax.rem(swaps, 2), dtype_of(a)),
                                  2.0))
    return _diagonal(lu, 0, -2, -1), parity


def det(a):
    """The determinant of each square matrix (through LU); its derivative is the adjugate,
    so it holds at singular matrices too."""
    return _det(_float_matrix(a, "det"))


def _on_primals_device(rule):
    """A jvp rule run on its primals' device (it runs where they are differentiated, outside
    the library function's placement)."""
    return on_operand_device(rule, lambda args, kwargs: args[0])


@custom_jvp
@on_operand_device
def _det(a):
    diag, parity = _lu_parts(a)
    return lax.mul(parity, lax.reduce_prod(diag, (len(shape_of(diag)) - 1,)))


@_det.defjvp
@_on_primals_device
def _det_jvp(primals, tangents):
    a, = primals
    da, = tangents
    rank = len(shape_of(a))
    return _det(a), lax.reduce_sum(lax.mul(_T(_adjugate(a)), da), (rank - 2, rank - 1))


def _svd_frame(a):
    """`(u, s, v, phase)` with `a = u diag(s) v^H` and `phase = det(u) det(v^H)`, so that
    `adj(a) = phase v adj(diag(s)) u^H` (the adjugate reverses products)."""
    u, s, vh = lax.linalg.svd(a, full_matrices=False)
    return u, lax.convert_element_type(s, dtype_of(a)), adjoint(vh), \
        lax.expand_dims(lax.mul(_det(u), _det(vh)), (-2, -1))


def _products_without(s, pairs):
    """prod_{l != i} s_l for each i (…, n), or with `pairs` prod_{l != i, k} s_l for each
    i != k and 0 for i == k (…, n, n)."""
    n = shape_of(s)[-1]
    eye = np.eye(n, dtype=bool)
    dropped = (eye[:, None, :] | eye[None, :, :]) if pairs else eye     # l left out of (i[, k])
    shape = shape_of(s)[:-1] + dropped.shape
    rows = lax.broadcast_to(lax.expand_dims(s, tuple(range(-dropped.ndim, -1))), shape)
    kept = lax.select(asarray(np.broadcast_to(dropped, shape)), lax.full_like(rows, 1), rows)
    out = lax.reduce_prod(kept, (len(shape) - 1,))
    if pairs:
        out = lax.select(asarray(np.broadcast_to(eye, shape[:-1])), lax.full_like(out, 0), out)
    return out


@custom_jvp
@on_operand_device
def _adjugate(a):
    """The adjugate (transposed cofactor matrix), through the SVD: defined at every a."""
    u, s, v, phase = _svd_frame(a)
    return lax.mul(phase, matmul(lax.mul(v, lax.expand_dims(_products_without(s, False),
                                                            (-2,))), adjoint(u)))


@_adjugate.defjvp
@_on_primals_device
def _adjugate_jvp(primals, tangents):
    """With e = u^H da v: d adj(diag(s))[e] is diag(sum_k q_ik e_kk) - q * e, q the products
    of s without i and k, a polynomial rule that holds for repeated or zero s."""
    a, = primals
    da, = tangents
    u, s, v, phase = _svd_frame(a)
    e = matmul(matmul(adjoint(u), da), v)
    q = _products_without(s, True)
    d_frame = lax.sub(lax.mul(_eye(shape_of(a)[-1], dtype_of(a)),
                              lax.expand_dims(matvec(q, _diagonal(e, 0, -2, -1)), (-1,))),
                      lax.mul(q, e))
    return _adjugate(a), lax.mul(phase, matmul(matmul(v, d_frame), adjoint(u)))


def slogdet(a, *, method=None):
    """`(sign, log|det|)` of each square matrix, through LU (`method` None or 'lu') or QR
    ('qr', real matrices only, as in JAX: sign(det Q) times the signs of R's diagonal)."""
    a = _float_matrix(a, "slogdet")
    if method is None or method == "lu":
        diag, parity = _lu_parts(a)
    elif method == "qr":
        if dtype_of(a).kind == "c":
            raise NotImplementedError("linalg.slogdet: method='qr' is not implemented for "
                                      "complex matrices")
        q, r = lax.linalg.qr(a, full_matrices=False)
        diag, parity = _diagonal(r, 0, -2, -1), lax.sign(_det(lax.stop_gradient(q)))
    else:
        raise ValueError(f"linalg.slogdet: unknown method {method!r}; use 'lu' (None) or "
                         "'qr'")
    last = (len(shape_of(diag)) - 1,)
    sign = lax.mul(parity, lax.reduce_prod(lax.sign(diag), last))
    return SlogdetResult(sign, lax.reduce_sum(lax.log(lax.abs(diag)), last))


def cholesky(a, *, upper=False, symmetrize_input=True):
    """The lower Cholesky factor L (its conjugate transpose with `upper=True`) of the
    Hermitian part `(a + a^H) / 2`, or, with `symmetrize_input=False`, of the matrix in a's
    lower triangle (as JAX: `upper` does not change the triangle read)."""
    a = _float_matrix(a, "cholesky")
    L = lax.linalg.cholesky(hermitian_input(a, "L", symmetrize_input))
    return adjoint(L) if upper else L


def hermitian_input(a, uplo, symmetrize_input):
    """a as is (the primitives take its Hermitian part), or the Hermitian matrix with a's
    lower (uplo 'L') or upper triangle."""
    if uplo not in ("L", "U"):
        raise ValueError(f"UPLO must be 'L' or 'U', got {uplo!r}")
    return a if symmetrize_input else from_triangle(a, uplo == "L")


def eigh(a, UPLO=None, symmetrize_input=True):
    """`(eigenvalues, eigenvectors)` of the Hermitian part `(a + a^H) / 2` (ascending), or of
    the matrix in the UPLO triangle ('L' when None) with `symmetrize_input=False`.
    Eigenvector derivatives need distinct eigenvalues."""
    a = _float_matrix(a, "eigh")
    v, w = lax.linalg.eigh(hermitian_input(a, "L" if UPLO is None else UPLO,
                                            symmetrize_input))
    return EighResult(w, v)


def eigvalsh(a, UPLO="L", *, symmetrize_input=True):
    return eigh(a, UPLO, symmetrize_input).eigenvalues


def eig(a):
    """`(eigenvalues, eigenvectors)` of general square matrices, always complex (as in JAX;
    NumPy returns real arrays when every eigenvalue is real). Eigenvectors have unit norm and
    a real largest component; their derivatives need distinct eigenvalues."""
    a = _float_matrix(a, "eig")
    return EigResult(*lax.linalg.eig(a, compute_left_eigenvectors=False,
                                     enable_eigvec_derivs=True))


def eigvals(a):
    """The eigenvalues of general square matrices (complex), differentiable."""
    a = _float_matrix(a, "eigvals")
    return lax.linalg.eig(a, compute_left_eigenvectors=False,
                          compute_right_eigenvectors=False)[0]


def svd(a, full_matrices=True, compute_uv=True, hermitian=False, subset_by_index=None):
    """`(U, S, Vh)` (or S alone) with `a = U @ diag(S) @ Vh`, S descending. Derivatives need
    full_matrices=False for non-square input and distinct singular values for U and Vh.
    `subset_by_index=(lo, hi)` keeps the singular values lo..hi-1 (in descending order) and
    their vectors; as in JAX it needs full_matrices=False unless it keeps them all."""
    a = _float_matrix(a, "svd", square=False)
    keep = _svd_subset(subset_by_index, min(shape_of(a)[-2:]), full_matrices)
    if not compute_uv:
        return lax.linalg.svd(a, compute_uv=False)[..., keep]
    u, s, vh = lax.linalg.svd(a, full_matrices=full_matrices)
    return SVDResult(u[..., keep], s[..., keep], vh[..., keep, :])


def _svd_subset(subset_by_index, k, full_matrices):
    """The slice of singular values that `svd`'s subset_by_index keeps (JAX's checks)."""
    if subset_by_index is None:
        return slice(None)
    if len(subset_by_index) != 2:
        raise ValueError("linalg.svd: subset_by_index must be a tuple of size 2")
    lo, hi = (operator.index(i) for i in subset_by_index)
    if not 0 <= lo < hi <= k:
        raise ValueError(f"linalg.svd: subset_by_index {(lo, hi)} must satisfy "
                         f"0 <= lo < hi <= min(m, n) = {k}")
    if (lo, hi) == (0, k):
        return slice(None)
    if full_matrices:
        raise ValueError("linalg.svd: full_matrices and subset_by_index cannot both be set")
    return slice(lo, hi)


def svdvals(x, /):
    return svd(x, compute_uv=False)


def qr(a, mode="reduced"):
    """`(Q, R)` with orthonormal Q and upper-triangular R; mode 'reduced', 'complete' or 'r'.
    mode='raw' gives NumPy's `(h, tau)`: the Householder reflectors as LAPACK stores them,
    transposed (h is (…, n, m)); it has no derivatives (asking for one raises)."""
    a = _float_matrix(a, "qr", square=False)
    if mode == "raw":
        h, tau = lax.linalg.geqrf(a)
        return _T(h), tau
    if mode not in ("reduced", "complete", "r"):
        raise ValueError("linalg.qr: mode must be 'reduced', 'complete', 'r' or 'raw', got "
                         f"{mode!r}")
    q, r = lax.linalg.qr(a, full_matrices=mode == "complete")
    return r if mode == "r" else QRResult(q, r)


# ------------------------------------------------------------------ pseudo-inverse and friends
def _default_rtol(a):
    m, n = shape_of(a)[-2:]
    return max(m, n) * np.finfo(dtype_of(a)).eps


@custom_jvp
def _pinv(a, rtol):
    u, s, vt = lax.linalg.svd(a, full_matrices=False)
    cutoff = lax.mul(lax.reduce_max(s, (len(shape_of(s)) - 1,)), rtol)
    big = lax.gt(s, lax.broadcast_in_dim(cutoff, shape_of(s), tuple(range(len(shape_of(s)) - 1))))
    inv_s = lax.select(big, lax.reciprocal(lax.select(big, s, lax.full_like(s, 1))),
                       lax.full_like(s, 0))
    inv_s = lax.convert_element_type(inv_s, dtype_of(a))
    return matmul(lax.mul(adjoint(vt), lax.expand_dims(inv_s, (-2,))), adjoint(u))


@_pinv.defjvp
def _pinv_jvp(primals, tangents):
    """The derivative of the pseudo-inverse where the rank is locally constant
    (Golub & Pereyra): -P dA P + P P^H dA^H (I - A P) + (I - P A) dA^H P^H P."""
    a, rtol = primals
    da = tangents[0]
    p = _pinv(a, rtol)
    m, n = shape_of(a)[-2:]
    dt = dtype_of(a)
    dat = adjoint(da)
    t = lax.neg(matmul(matmul(p, da), p))
    t = lax.add(t, matmul(matmul(matmul(p, adjoint(p)), dat), lax.sub(_eye(m, dt), matmul(a, p))))
    t = lax.add(t, matmul(matmul(lax.sub(_eye(n, dt), matmul(p, a)), dat), matmul(adjoint(p), p)))
    return p, t


def pinv(a, rcond=None, hermitian=False, *, rtol=None):
    """The Moore-Penrose pseudo-inverse (singular values below rtol * max are dropped)."""
    a = _float_matrix(a, "pinv", square=False)
    tol = rcond if rcond is not None else rtol
    tol = _default_rtol(a) if tol is None else tol
    m, n = shape_of(a)[-2:]
    if m == 0 or n == 0:
        return lax.full(shape_of(a)[:-2] + (n, m), 0, dtype_of(a))
    return _pinv(a, asarray(tol, dtype=np.finfo(dtype_of(a)).dtype))


def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    """The number of singular values above the tolerance."""
    A = asarray(A)
    if len(shape_of(A)) < 2:
        return lax.convert_element_type(lax.reduce_or(as_bool(A)), np.int64)
    A = _float_matrix(A, "matrix_rank", square=False)
    s = svdvals(A)
    last = len(shape_of(s)) - 1
    if tol is None:
        r = _default_rtol(A) if rtol is None else rtol
        tol = lax.mul(lax.reduce_max(s, (last,)), r)
    tol = lax.broadcast_in_dim(asarray(tol, dtype=dtype_of(s)), shape_of(s),
                               tuple(range(last)) if len(shape_of(asarray(tol))) else ())
    return lax.reduce_sum(lax.convert_element_type(lax.gt(s, tol), np.int64), (last,))


def lstsq(a, b, rcond=None, *, numpy_resid=False):
    """`(x, residuals, rank, s)` minimizing |a x - b| (x through the pseudo-inverse).
    residuals are the squared norms of `b - a x`'s columns (shape (1,) for 1-D b), as JAX;
    with `numpy_resid=True`, NumPy's rule: empty unless a is tall and of full rank (the rank
    must then be concrete, not traced)."""
    a = _float_matrix(a, "lstsq", square=False)
    (a, b), _ = promote_inexact(a, b)
    m, n = shape_of(a)
    x = matmul(pinv(a, rcond), b)
    rank = matrix_rank(a, rtol=rcond)
    s = svdvals(a)
    if numpy_resid and (m <= n or _concrete_rank(rank) < n):
        return x, asarray(np.zeros((0,), dtype_of(s))), rank, s
    r = lax.sub(matmul(a, x), b)
    if len(shape_of(b)) == 1:
        r = lax.reshape(r, (m, 1))
    return x, lax.reduce_sum(lax.square(lax.abs(r)), (0,)), rank, s


def _concrete_rank(rank):
    if isinstance(rank, Tracer):
        raise TypeError("lstsq(numpy_resid=True): the residuals' shape depends on the rank, "
                        "which is traced here; use numpy_resid=False under jit")
    return int(np.asarray(rank))


def matrix_power(a, n):
    """`a` multiplied by itself n times (inverted for negative n; identity for 0)."""
    a = asarray(a)
    if not isinstance(n, (int, np.integer)):
        raise TypeError("matrix_power: the exponent must be an integer")
    s = shape_of(a)
    if len(s) < 2 or s[-1] != s[-2]:
        raise ValueError(f"linalg.matrix_power: needs square matrices, got shape {s}")
    if n == 0:
        return lax.broadcast_to(_eye(s[-1], dtype_of(a)), s)
    if n < 0:
        a, n = inv(a), -n
    return power_by_squaring(a, n, matmul)


# ------------------------------------------------------------------ norms
def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """The p-norm over `axis` (all axes when None): ord in inf, -inf, 0, or any p."""
    from . import _reductions as R
    (x,), _ = promote_inexact(x)
    x = asarray(x)
    if axis is None:
        ndim = len(shape_of(x))
        res = _vector_norm(R, lax.reshape(x, (math.prod(shape_of(x)),)), 0, False, ord)
        return lax.reshape(res, (1,) * ndim) if keepdims else res
    return _vector_norm(R, x, axis, keepdims, ord)


def _vector_norm(R, x, axis, keepdims, ord):
    a = lax.abs(x)
    if ord == 2:
        return lax.sqrt(R.sum(lax.square(a), axis=axis, keepdims=keepdims))
    if ord == math.inf:
        return R.max(a, axis=axis, keepdims=keepdims)
    if ord == -math.inf:
        return R.min(a, axis=axis, keepdims=keepdims)
    if ord == 0:
        return lax.convert_element_type(R.count_nonzero(x, axis=axis, keepdims=keepdims),
                                        dtype_of(a))
    if ord == 1:
        return R.sum(a, axis=axis, keepdims=keepdims)
    p = float(ord)
    return lax.pow(R.sum(lax.pow(a, p), axis=axis, keepdims=keepdims), 1.0 / p)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    return norm(x, ord, axis=(-2, -1), keepdims=keepdims)


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector or matrix norms with NumPy's `ord`/`axis` rules."""
    from . import _reductions as R
    (x,), _ = promote_inexact(x)
    rank = len(shape_of(x))
    if axis is None:
        if ord is None:
            return vector_norm(x, axis=None, keepdims=keepdims)
        if rank not in (1, 2):
            raise ValueError("norm: improper number of dimensions to norm")
        axis = tuple(range(rank))
    for a in (axis,) if isinstance(axis, (int, np.integer)) else axis:
        normalize_axes(a, rank)                     # range check
    axes = (int(axis) % rank,) if isinstance(axis, (int, np.integer)) else \
        tuple(int(a) % rank for a in axis)
    if len(axes) == 1:
        if isinstance(ord, str):
            raise ValueError(f"norm: invalid norm order {ord!r} for vectors")
        return _vector_norm(R, x, axes[0], keepdims, 2 if ord is None else ord)
    if len(axes) != 2:
        raise ValueError("norm: improper number of dimensions to norm")
    r, c = axes
    if r == c:
        raise ValueError("norm: duplicate axes given")
    a = lax.abs(x)
    if ord in (None, "fro"):
        out = lax.sqrt(R.sum(lax.square(a), axis=axes, keepdims=keepdims))
    elif ord in (1, -1):
        col = R.sum(a, axis=r, keepdims=True)
        out = (_largest if ord == 1 else R.min)(col, axis=c, keepdims=True)
    elif ord in (math.inf, -math.inf):
        row = R.sum(a, axis=c, keepdims=True)
        out = (_largest if ord == math.inf else R.min)(row, axis=r, keepdims=True)
    elif ord in (2, -2, "nuc"):
        from ._shape import moveaxis
        s = svdvals(moveaxis(x, (r, c), (-2, -1)))
        last = len(shape_of(s)) - 1
        out = {2: _largest, -2: R.min, "nuc": R.sum}[ord](s, axis=last)
        if keepdims:
            out = lax.expand_dims(out, tuple(sorted(axes)))
        return out
    else:
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices")
    if ord in (1, -1, math.inf, -math.inf) and not keepdims:
        out = lax.squeeze(out, axes)
    return out


def _largest(x, axis, keepdims=False):
    """The max of non-negative x over `axis`; 0 over an empty axis (JAX's norm of an empty
    matrix)."""
    from . import _reductions as R
    empty = shape_of(x)[axis] == 0
    return R.max(x, axis=axis, keepdims=keepdims, initial=0 if empty else None)


def cond(x, p=None):
    """The condition number (ratio of extreme singular values for p None/2/-2, else
    norm(x, p) * norm(inv(x), p))."""
    x = _float_matrix(x, "cond", square=p not in (None, 2, -2))
    if p in (None, 2, -2):
        s = svdvals(x)
        last = (len(shape_of(s)) - 1,)
        hi, lo = lax.reduce_max(s, last), lax.reduce_min(s, last)
        return lax.div(hi, lo) if p != -2 else lax.div(lo, hi)
    return lax.mul(norm(x, p, axis=(-2, -1)), norm(inv(x), p, axis=(-2, -1)))


def diagonal(x, /, *, offset=0):
    """The diagonal of the last two axes."""
    return _diagonal(x, offset, -2, -1)


def trace(x, /, *, offset=0, dtype=None):
    """The sum of the diagonal of the last two axes."""
    from ._reductions import sum as sum_
    return sum_(diagonal(x, offset=offset), axis=-1, dtype=dtype)


def tensorsolve(a, b, axes=None):
    """x with `tensordot(a, x, x.ndim) == b`."""
    from ._shape import moveaxis, reshape
    a, b = asarray(a), asarray(b)
    if axes is not None:
        a = moveaxis(a, axes, tuple(range(len(shape_of(a)) - len(axes), len(shape_of(a)))))
    out_shape = shape_of(a)[len(shape_of(b)):]
    n = math.prod(out_shape)
    x = solve(reshape(a, (math.prod(shape_of(b)), n)), reshape(b, (-1,)))
    return reshape(x, out_shape)


def tensorinv(a, ind=2):
    """The inverse of `a` seen as a map over its first `ind` axes."""
    from ._shape import reshape
    a = asarray(a)
    s = shape_of(a)
    rows = math.prod(s[:ind])
    return reshape(inv(reshape(a, (rows, -1))), s[ind:] + s[:ind])


LinAlgError = np.linalg.LinAlgError


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
