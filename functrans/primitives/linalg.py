"""Linear-algebra primitives on stacks of matrices (the last two axes; leading axes are a
batch): `cholesky`, `triangular_solve`, `lu`, `eigh`, `eig`, `svd`, `qr`, `geqrf`.

Each has forward and reverse rules written with functrans operations (so they nest), and
vmap just moves the mapped axis into the leading batch. Symmetric inputs (`cholesky`,
`eigh`) are symmetrized, `(a + a^T) / 2` (the Hermitian part `(a + a^H) / 2` of a complex a),
so the functions and their derivatives are defined for every square input. Every function
takes complex matrices, with JAX's derivative convention: the forward rules are written with
conjugate transposes, and the reverse rules of `cholesky`, `eigh` and `svd` for complex input
transpose them. Complex singular vectors and `qr` raise NotImplementedError for derivatives
(their rules would need phase terms they lack), so complex singular values have first
derivatives only. Complex eigenvectors are defined up to a phase each: only phase-invariant
functions of them (projectors, |v|) have derivatives.

Known limits of the derivatives (the values are always fine):
- `eigh`: eigenvector derivatives divide by eigenvalue gaps, so they are infinite/NaN for
  repeated eigenvalues (the eigenvectors are not unique there); eigenvalue derivatives are
  fine. The same holds for `svd` with repeated (or, for U/V of a non-square matrix, zero)
  singular values.
- `svd(full_matrices=True)` and `qr(full_matrices=True)` of non-square matrices have no
  derivative (the extra columns are not unique); use the reduced forms. `geqrf` (QR as
  Householder reflectors) has none at all: asking for one raises.
- `lu` and everything on it (solve, det, inv) need a nonsingular matrix for derivatives
  (a rectangular one: nonzero pivots, i.e. full rank in its leading k x k block after
  pivoting).
- `eig` (general matrices; complex eigenvalues and unit eigenvectors whose largest component
  is real, LAPACK's normalization, which its derivative follows) needs distinct eigenvalues
  for eigenvector derivatives and a diagonalizable matrix for eigenvalue derivatives. Its
  kernel runs on the host (CuPy has no general eigensolver).
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..backends import scipy_module, to_host
from ..core import ShapedArray
from ._util import primitive, shape_of, dtype_of, wanted, bdim_size, broadcast_batched
from .elementwise import add, sub, mul, neg, select, reciprocal, square, conj_p, real_p
from .elementwise import convert_element_type, imag_p, abs as lax_abs, div, eq
from .shape_ops import (transpose, full_like, concatenate, slice_in_dim, broadcast_in_dim,
                        constant, pad)
from .reductions import reduce_sum, argmax
from .dot import dot_general
from .indexing import take_along_axis, add_along_axis

# =============================================================== matrix helpers


def _T(x):
    """Swap the last two axes."""
    n = len(shape_of(x))
    return transpose(x, tuple(range(n - 2)) + (n - 1, n - 2))


def _mm(a, b):
    """Batched matrix product over equal leading axes."""
    nb = len(shape_of(a)) - 2
    batch = tuple(range(nb))
    return dot_general(a, b, (((nb + 1,), (nb,)), (batch, batch)))


def _sym(x):
    return mul(add(x, _T(x)), 0.5)


def adjoint(x):
    """The conjugate transpose (the transpose of a real matrix)."""
    return conj_p.bind(_T(x)) if dtype_of(x).kind == "c" else _T(x)


def _herm(x):
    """The Hermitian part (the symmetric part of a real matrix)."""
    return mul(add(x, adjoint(x)), 0.5)


def _complex_input(primals, **params):
    """Complex input: reverse mode transposes the forward rule (the hand-written reverse
    rules are derived for real matrices)."""
    return dtype_of(primals[0]).kind == "c"


def _eye_like(x):
    """The identity matrix with x's last-axis size and dtype (broadcastable over batches)."""
    n = shape_of(x)[-1]
    return constant(np.eye(n, dtype=dtype_of(x)), like=x)


def _mask(x, k, upper):
    """x with the entries outside its k-th lower (or upper) triangle zeroed."""
    m, n = shape_of(x)[-2:]
    keep = np.triu(np.ones((m, n), bool), k) if upper else np.tril(np.ones((m, n), bool), k)
    return select(constant(keep, like=x), x, full_like(x, 0))


def _diag(x):
    """The diagonal of the last two axes (square)."""
    return reduce_sum(mul(x, _eye_like(x)), (len(shape_of(x)) - 1,))


def _diag_matrix(v):
    """Square matrices with `v` (…, n) on the diagonal."""
    s = shape_of(v)
    col = broadcast_in_dim(v, s + (s[-1],), tuple(range(len(s))))
    return mul(col, constant(np.eye(s[-1], dtype=dtype_of(v)), like=v))


def _gap_reciprocals(w, squared=False):
    """F[i, j] = 1 / (w_j - w_i) (or 1 / (w_j^2 - w_i^2)) off the diagonal, 0 on it."""
    s = shape_of(w)
    shape = s + (s[-1],)
    nb = len(s) - 1
    rows = broadcast_in_dim(w, shape, tuple(range(nb)) + (nb + 1,))   # w_j
    cols = broadcast_in_dim(w, shape, tuple(range(nb)) + (nb,))       # w_i
    if squared:
        rows, cols = square(rows), square(cols)
    eye = constant(np.eye(s[-1], dtype=bool), like=w)
    gap = add(sub(rows, cols), constant(np.eye(s[-1], dtype=dtype_of(w)), like=w))
    return select(eye, full_like(gap, 0), reciprocal(gap))


def _zeros_or(c, like):
    return full_like(like, 0) if c is None else c


def _batch_leading(prim):
    """vmap rule for primitives on stacks of matrices: the mapped axis joins the batch."""
    def rule(vals, dims, **params):
        size = bdim_size(vals, dims)
        vals = [broadcast_batched(v, d, size) for v, d in zip(vals, dims)]
        out = prim.bind(*vals, **params)
        return out, ([0] * len(out) if prim.multiple_results else 0)
    prim.batch = rule


def _square_aval(name, a):
    if len(a.shape) < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{name}: needs square matrices (…, n, n), got shape {a.shape}")
    _matrix_aval(name, a)


def _matrix_aval(name, a):
    if len(a.shape) < 2:
        raise ValueError(f"{name}: needs matrices (…, m, n), got shape {a.shape}")
    if not dtypes.is_inexact(a.dtype):
        raise TypeError(f"{name}: needs a floating-point or complex matrix, got {a.dtype}")


def _real_dtype(dtype):
    """The dtype of eigenvalues and singular values of a matrix of `dtype`."""
    return np.finfo(dtype).dtype


def _real_derivative_only(name, a):
    if dtype_of(a).kind == "c":
        raise NotImplementedError(
            f"derivatives of {name} are implemented for real matrices only, and this one is "
            f"{dtype_of(a)} of shape {shape_of(a)}; its value is fine. Differentiate a real "
            "formulation instead (a complex n x n matrix A acts on (Re x, Im x) as the real "
            "2n x 2n matrix [[Re A, -Im A], [Im A, Re A]]), or wrap the call in "
            "ft.lax.stop_gradient.")


def _raw_sym(xp, a):
    """The Hermitian part (a + a^H) / 2 (the symmetric part of a real a)."""
    at = xp.swapaxes(a, -1, -2)
    return (a + (xp.conj(at) if a.dtype.kind == "c" else at)) * a.dtype.type(0.5)


# =============================================================== triangular_solve
def _tri_impl(xp, a, b, lower, transpose_a, unit_diagonal):
    n = a.shape[-1]
    a = xp.tril(a) if lower else xp.triu(a)
    if unit_diagonal:
        a = a * (1 - xp.eye(n, dtype=a.dtype)) + xp.eye(n, dtype=a.dtype)
    if transpose_a:
        a, lower = xp.swapaxes(a, -1, -2), not lower
    if a.ndim == 2:
        return scipy_module(xp, "linalg").solve_triangular(a, b, lower=lower,
                                                           check_finite=False)
    return xp.linalg.solve(a, b)


def _tri_aval(a, b, lower, transpose_a, unit_diagonal):
    _square_aval("triangular_solve", a)
    if len(b.shape) != len(a.shape) or b.shape[:-2] != a.shape[:-2] or \
            b.shape[-2] != a.shape[-1]:
        raise ValueError(f"triangular_solve: a of shape {a.shape} and b of shape {b.shape} do "
                         "not match (b must be (…, n, k) with a's batch axes)")
    if a.dtype != b.dtype:
        raise TypeError(f"triangular_solve: mixed dtypes {a.dtype} and {b.dtype}")
    return ShapedArray(b.shape, b.dtype)


triangular_solve_p = primitive("triangular_solve", _tri_impl, _tri_aval)


def _tri_part(x, lower, unit_diagonal):
    k = -1 if unit_diagonal else 0
    return _mask(x, k if lower else -k, upper=not lower)


def _tri_jvp(primals, tangents, lower, transpose_a, unit_diagonal):
    a, b = primals
    params = dict(lower=lower, transpose_a=transpose_a, unit_diagonal=unit_diagonal)
    x = triangular_solve_p.bind(a, b, **params)
    ta, tb = tangents
    if ta is None and tb is None:
        return x, None
    rhs = _zeros_or(tb, b)
    if ta is not None:
        da = _tri_part(ta, lower, unit_diagonal)
        rhs = sub(rhs, _mm(_T(da) if transpose_a else da, x))
    return x, triangular_solve_p.bind(a, rhs, **params)


def _tri_vjp(primals, needs, lower, transpose_a, unit_diagonal):
    a, b = primals
    params = dict(lower=lower, transpose_a=transpose_a, unit_diagonal=unit_diagonal)
    x = triangular_solve_p.bind(a, b, **params)
    want_a, want_b = wanted(needs, primals)

    def backward(ct):
        cb = triangular_solve_p.bind(a, ct, lower=lower, transpose_a=not transpose_a,
                                     unit_diagonal=unit_diagonal)
        ca = None
        if want_a:
            outer = _mm(x, _T(cb)) if transpose_a else _mm(cb, _T(x))
            ca = neg(_tri_part(outer, lower, unit_diagonal))
        return ca, cb if want_b else None
    return x, backward


triangular_solve_p.jvp, triangular_solve_p.vjp = _tri_jvp, _tri_vjp
_batch_leading(triangular_solve_p)


def triangular_solve(a, b, *, left_side=True, lower=False, transpose_a=False,
                     unit_diagonal=False):
    """Solve `op(a) x = b` (left_side) or `x op(a) = b` for x, with `a` triangular (only its
    `lower` or upper triangle is read) and `op` the transpose when `transpose_a`."""
    params = dict(lower=bool(lower), unit_diagonal=bool(unit_diagonal))
    if left_side:
        return triangular_solve_p.bind(a, b, transpose_a=bool(transpose_a), **params)
    # x op(a) = b  <=>  op(a)^T x^T = b^T
    return _T(triangular_solve_p.bind(a, _T(b), transpose_a=not transpose_a, **params))


# =============================================================== cholesky
def _cholesky_impl(xp, a):
    return xp.linalg.cholesky(_raw_sym(xp, a))


def _cholesky_aval(a):
    _square_aval("cholesky", a)
    return ShapedArray(a.shape, a.dtype)


cholesky_p = primitive("cholesky", _cholesky_impl, _cholesky_aval)


def _phi(x):
    """The lower triangle with the diagonal halved."""
    return sub(_mask(x, 0, upper=False), mul(_diag_matrix(_diag(x)), 0.5))


def _cholesky_jvp(primals, tangents):
    a, = primals
    L = cholesky_p.bind(a)
    t, = tangents
    if t is None:
        return L, None
    inner = triangular_solve(L, _herm(t), lower=True)                     # L^-1 dA
    inner = triangular_solve(L, adjoint(inner), lower=True)                  # L^-1 dA L^-H
    return L, _mm(L, _phi(inner))


def _cholesky_vjp(primals, needs):
    a, = primals
    L = cholesky_p.bind(a)

    def backward(ct):
        p = _phi(_mm(_T(L), ct))
        y = triangular_solve(L, p, lower=True, transpose_a=True)           # L^-T P
        s = _T(triangular_solve(L, _T(y), lower=True, transpose_a=True))   # L^-T P L^-1
        return (_sym(s),)
    return L, backward


cholesky_p.jvp, cholesky_p.vjp = _cholesky_jvp, _cholesky_vjp
cholesky_p.reverse_by_transposing_jvp = _complex_input
_batch_leading(cholesky_p)


def cholesky(a):
    """The lower Cholesky factor L of the symmetric (Hermitian) positive-definite
    `(a + a^H) / 2`."""
    return cholesky_p.bind(a)


# =============================================================== lu
def _lu_one(xp, a):
    lu, piv = scipy_module(xp, "linalg").lu_factor(a, check_finite=False)
    perm = np.arange(a.shape[-2])
    for i, p in enumerate(to_host(piv)):           # the pivots' permutation, on the host
        perm[i], perm[p] = perm[p], perm[i]
    return lu, xp.asarray(piv, dtype=np.int32), xp.asarray(perm, dtype=np.int32)


def _lu_impl(xp, a):
    a = xp.asarray(a)
    batch, (m, n) = a.shape[:-2], a.shape[-2:]
    k = min(m, n)
    flat = a.reshape((int(np.prod(batch)), m, n))
    parts = [_lu_one(xp, x) for x in flat] if k else []
    if not parts:                   # nothing to factor: no pivots, rows in their order
        perm = xp.broadcast_to(xp.arange(m, dtype=np.int32), batch + (m,))
        return [a.copy(), xp.zeros(batch + (k,), np.int32), perm.copy()]
    return [xp.stack([p[i] for p in parts]).reshape(batch + s)
            for i, s in ((0, (m, n)), (1, (k,)), (2, (m,)))]


def _lu_aval(a):
    _matrix_aval("lu", a)
    k = min(a.shape[-2:])
    return [ShapedArray(a.shape, a.dtype), ShapedArray(a.shape[:-2] + (k,), dtypes.int32),
            ShapedArray(a.shape[:-1], dtypes.int32)]


lu_p = primitive("lu", _lu_impl, _lu_aval, multiple_results=True)


def _resize(x, axis, size):
    """x cut or zero-padded to `size` along `axis` (counted from the end)."""
    config = [(0, 0, 0)] * len(shape_of(x))
    config[axis] = (0, size - shape_of(x)[axis], 0)
    return pad(x, 0, config)


def _lu_factors(lu):
    """Square unit-lower L (m, m) and upper U (n, n) from a packed (m, n) LU, completed with
    the identity past k = min(m, n) so both are invertible (`L[:, :k] @ U[:k]` is the
    factored matrix)."""
    m, n = shape_of(lu)[-2:]
    lower = _resize(lu, -1, m)
    lower = add(_mask(lower, -1, upper=False), _eye_like(lower))
    completion = np.diag(np.arange(n) >= min(m, n)).astype(dtype_of(lu))
    upper = add(_mask(_resize(lu, -2, n), 0, upper=True), constant(completion, like=lu))
    return lower, upper


def _rows(x, perm):
    """x[..., perm, :] (rows permuted)."""
    rank = len(shape_of(x))
    rows = broadcast_in_dim(perm, shape_of(x), tuple(range(rank - 1)))
    return take_along_axis(x, rows, rank - 2, mode="promise_in_bounds")


def _lu_jvp(primals, tangents):
    a, = primals
    lu, pivots, perm = lu_p.bind(a)
    t, = tangents
    if t is None:
        return [lu, pivots, perm], [None, None, None]
    # De Hoog, Anderssen and Lukas: with the completed (invertible) L and U, M = L^-1 P dA
    # U^-1 splits into L^-1 dL (strictly lower) and dU U^-1 (upper), for any (m, n)
    L, U = _lu_factors(lu)
    y = triangular_solve(L, _rows(t, perm), lower=True, unit_diagonal=True)    # L^-1 P dA
    m = _T(triangular_solve(U, _T(y), lower=False, transpose_a=True))          # ... U^-1
    dlu = add(_mm(L, _mask(m, -1, upper=False)), _mm(_mask(m, 0, upper=True), U))
    return [lu, pivots, perm], [dlu, None, None]


def _lu_vjp(primals, needs):
    a, = primals
    lu, pivots, perm = outs = lu_p.bind(a)

    def backward(cts):
        ct = cts[0]
        if ct is None:
            return (None,)
        L, U = _lu_factors(lu)
        k = add(_mask(_mm(_T(L), _mask(ct, -1, upper=False)), -1, upper=False),
                _mask(_mm(_mask(ct, 0, upper=True), _T(U)), 0, upper=True))
        z = triangular_solve(L, k, lower=True, unit_diagonal=True, transpose_a=True)
        z = _T(triangular_solve(U, _T(z), lower=False))                         # L^-T K U^-T
        idx = broadcast_in_dim(perm, shape_of(z), tuple(range(len(shape_of(z)) - 1)))
        return (add_along_axis(full_like(z, 0), idx, z, len(shape_of(z)) - 2,
                               mode="promise_in_bounds"),)
    return outs, backward


lu_p.jvp, lu_p.vjp = _lu_jvp, _lu_vjp
_batch_leading(lu_p)


def lu(a):
    """Partial-pivoting LU of (m, n) matrices: `(lu, pivots, permutation)` with L (unit
    lower, (m, k), k = min(m, n)) and U (upper, (k, n)) packed in `lu`, `pivots` (k,) the
    LAPACK row swaps and `a[..., permutation, :] == L @ U` (permutation (m,))."""
    return tuple(lu_p.bind(a))


def lu_solve(lu, permutation, b):
    """x with `a @ x == b` from `lu(a)`'s packed factors and permutation; b is (..., n, k)."""
    y = triangular_solve(lu, _rows(b, permutation), lower=True, unit_diagonal=True)
    return triangular_solve(lu, y, lower=False)


# =============================================================== eigh
def _eigh_impl(xp, a):
    w, v = xp.linalg.eigh(_raw_sym(xp, a))
    return [w, v]


def _eigh_aval(a):
    _square_aval("eigh", a)
    return [ShapedArray(a.shape[:-1], _real_dtype(a.dtype)), ShapedArray(a.shape, a.dtype)]


eigh_p = primitive("eigh", _eigh_impl, _eigh_aval, multiple_results=True)


def _eigh_jvp(primals, tangents):
    a, = primals
    w, v = eigh_p.bind(a)
    t, = tangents
    if t is None:
        return [w, v], [None, None]
    m = _mm(adjoint(v), _mm(_herm(t), v))                  # Hermitian: a real diagonal
    dw, gaps = _diag(m), _gap_reciprocals(w)
    if dtype_of(a).kind == "c":
        dw, gaps = real_p.bind(dw), convert_element_type(gaps, dtype_of(a))
    return [w, v], [dw, _mm(v, mul(gaps, m))]


def _eigh_vjp(primals, needs):
    a, = primals
    w, v = eigh_p.bind(a)

    def backward(cts):
        cw, cv = cts
        inner = None
        if cw is not None:
            inner = _diag_matrix(cw)
        if cv is not None:
            term = mul(_gap_reciprocals(w), _mm(_T(v), cv))
            inner = term if inner is None else add(inner, term)
        return (_sym(_mm(v, _mm(inner, _T(v)))),)
    return [w, v], backward


eigh_p.jvp, eigh_p.vjp = _eigh_jvp, _eigh_vjp
eigh_p.reverse_by_transposing_jvp = _complex_input
_batch_leading(eigh_p)


def eigh(a):
    """Eigenvectors and eigenvalues `(v, w)` of the symmetric (Hermitian) `(a + a^H) / 2`,
    eigenvalues ascending (JAX's order; functrans.numpy.linalg.eigh returns NumPy's
    `(w, v)`)."""
    w, v = eigh_p.bind(a)
    return v, w


# =============================================================== eig
def _eig_impl(xp, a):
    host = np.asarray(to_host(a))
    w, v = np.linalg.eig(host)
    ct = np.result_type(host.dtype, np.complex64)
    out = [w.astype(ct), v.astype(ct)]
    return out if xp is np else [xp.asarray(o) for o in out]


def _eig_aval(a):
    _square_aval("eig", a)
    ct = np.result_type(a.dtype, np.complex64)
    return [ShapedArray(a.shape[:-1], ct), ShapedArray(a.shape, ct)]


eig_p = primitive("eig", _eig_impl, _eig_aval, multiple_results=True)


def _eig_jvp(primals, tangents):
    a, = primals
    w, v = eig_p.bind(a)
    t, = tangents
    if t is None:
        return [w, v], [None, None]
    ct = dtype_of(v)
    lu_v, _, perm = lu_p.bind(v)
    p = _mm(lu_solve(lu_v, perm, convert_element_type(t, ct)), v)      # V^-1 dA V
    u = _mm(v, mul(_gap_reciprocals(w), p))
    # dv_j = u_j + c_j v_j, c_j fixed by LAPACK's normalization: |v_j| = 1 and the largest
    # component v_kj real
    rows = len(shape_of(v)) - 2
    k = argmax(lax_abs(v), rows)
    pick = convert_element_type(eq(broadcast_in_dim(_positions(v, rows), shape_of(v),
                                                    tuple(range(len(shape_of(v))))),
                                   broadcast_in_dim(k, shape_of(v), _except(rows, v))), ct)
    c_re = neg(real_p.bind(reduce_sum(mul(conj_p.bind(v), u), (rows,))))
    c_im = neg(div(imag_p.bind(reduce_sum(mul(pick, u), (rows,))),
                   real_p.bind(reduce_sum(mul(pick, v), (rows,)))))
    c = add(convert_element_type(c_re, ct), mul(convert_element_type(c_im, ct), 1j))
    dv = add(u, mul(v, broadcast_in_dim(c, shape_of(v), _except(rows, v))))
    return [w, v], [_diag(p), dv]


def _positions(x, axis):
    """The positions along `axis` of x, as an array of shape (x.shape[axis],) broadcast to
    x's rank (size 1 elsewhere)."""
    n = shape_of(x)[axis]
    shape = [1] * len(shape_of(x))
    shape[axis] = n
    return constant(np.arange(n).reshape(shape), like=x)


def _except(axis, x):
    return tuple(i for i in range(len(shape_of(x))) if i != axis)


def _eig_vjp(primals, needs):
    a, = primals
    w, v = eig_p.bind(a)

    def backward(cts):
        cw, cv = cts
        ct = dtype_of(v)
        rows = len(shape_of(v)) - 2
        if cv is None:
            cp = _diag_matrix(cw)
        else:
            # the transpose, step by step, of the forward rule's dv = U + V diag(c)
            cbar = reduce_sum(mul(cv, v), (rows,))
            k = argmax(lax_abs(v), rows)
            pick = convert_element_type(eq(broadcast_in_dim(_positions(v, rows), shape_of(v),
                                                            tuple(range(len(shape_of(v))))),
                                           broadcast_in_dim(k, shape_of(v), _except(rows, v))),
                                        ct)
            r = real_p.bind(reduce_sum(mul(pick, v), (rows,)))
            scale_re = broadcast_in_dim(convert_element_type(real_p.bind(cbar), ct),
                                        shape_of(v), _except(rows, v))
            scale_im = broadcast_in_dim(convert_element_type(div(imag_p.bind(cbar), r), ct),
                                        shape_of(v), _except(rows, v))
            cu = sub(sub(cv, mul(conj_p.bind(v), scale_re)), mul(mul(pick, scale_im), 1j))
            cp = mul(_gap_reciprocals(w), _mm(_T(v), cu))
            if cw is not None:
                cp = add(cp, _diag_matrix(cw))
        lu_vt, _, perm = lu_p.bind(_T(v))
        ca = _mm(lu_solve(lu_vt, perm, cp), _T(v))                     # V^-T cP V^T
        return (ca if dtype_of(a).kind == "c" else
                convert_element_type(real_p.bind(ca), dtype_of(a)),)
    return [w, v], backward


eig_p.jvp, eig_p.vjp = _eig_jvp, _eig_vjp
_batch_leading(eig_p)


def eig(a):
    """Eigenvalues and right eigenvectors `(w, v)` of general square matrices (complex, as
    JAX gives them), `a @ v[..., :, j] == w[..., j] * v[..., :, j]`."""
    w, v = eig_p.bind(a)
    return w, v


# =============================================================== svd
def _svd_impl(xp, a, full_matrices, compute_uv):
    if not compute_uv:
        return [xp.linalg.svd(a, compute_uv=False)]
    u, s, vt = xp.linalg.svd(a, full_matrices=full_matrices)
    return [s, u, vt]


def _svd_aval(a, full_matrices, compute_uv):
    _matrix_aval("svd", a)
    *batch, m, n = a.shape
    k = min(m, n)
    s = ShapedArray(tuple(batch) + (k,), _real_dtype(a.dtype))
    if not compute_uv:
        return [s]
    um, vn = (m, n) if full_matrices else (k, k)
    return [s, ShapedArray(tuple(batch) + (m, um), a.dtype),
            ShapedArray(tuple(batch) + (vn, n), a.dtype)]


svd_p = primitive("svd", _svd_impl, _svd_aval, multiple_results=True)


def _check_reduced(name, a, full_matrices):
    m, n = shape_of(a)[-2:]
    if full_matrices and m != n:
        raise NotImplementedError(
            f"derivatives of {name} with full_matrices=True of a non-square matrix "
            f"({m}x{n}) are not defined (the extra basis vectors are not unique); use "
            "full_matrices=False")


def _svd_parts(a):
    s, u, vt = svd_p.bind(a, full_matrices=False, compute_uv=True)
    return s, u, adjoint(vt)


def _complex_singular_vectors(a, compute_uv):
    if compute_uv:          # singular values alone are fine: they need no phase terms
        _real_derivative_only("svd (singular vectors)", a)


def _svd_jvp(primals, tangents, full_matrices, compute_uv):
    a, = primals
    outs = svd_p.bind(a, full_matrices=full_matrices, compute_uv=compute_uv)
    t, = tangents
    if t is None:
        return outs, [None] * len(outs)
    _complex_singular_vectors(a, compute_uv)
    _check_reduced("svd", a, full_matrices and compute_uv)
    s, u, v = _svd_parts(a)
    dp = _mm(adjoint(u), _mm(t, v))
    ds = real_p.bind(_diag(dp)) if dtype_of(a).kind == "c" else _diag(dp)
    if not compute_uv:
        return outs, [ds]
    m, n = shape_of(a)[-2:]
    f = _gap_reciprocals(s, squared=True)
    smat = _diag_matrix(s)
    dp_s = _mm(dp, smat)
    s_dp = _mm(smat, dp)
    du = _mm(u, mul(f, add(dp_s, _T(dp_s))))
    dv = _mm(v, mul(f, add(s_dp, _T(s_dp))))
    inv_s = _diag_matrix(reciprocal(s))
    if m > n:
        dav = _mm(t, v)
        du = add(du, _mm(sub(dav, _mm(u, _mm(_T(u), dav))), inv_s))
    if n > m:
        dau = _mm(_T(t), u)
        dv = add(dv, _mm(sub(dau, _mm(v, _mm(_T(v), dau))), inv_s))
    return outs, [ds, du, _T(dv)]


def _svd_vjp(primals, needs, full_matrices, compute_uv):
    a, = primals
    outs = svd_p.bind(a, full_matrices=full_matrices, compute_uv=compute_uv)

    def backward(cts):
        _check_reduced("svd", a, full_matrices and compute_uv)
        s, u, v = _svd_parts(a)
        cs = cts[0]
        cu, cvt = (cts[1], cts[2]) if compute_uv else (None, None)
        inner = _diag_matrix(_zeros_or(cs, s))
        m, n = shape_of(a)[-2:]
        extra = None
        if cu is not None or cvt is not None:
            f = _gap_reciprocals(s, squared=True)
            smat = _diag_matrix(s)
            inv_s = _diag_matrix(reciprocal(s))
            if cu is not None:
                utcu = _mm(_T(u), cu)
                inner = add(inner, _mm(mul(f, sub(utcu, _T(utcu))), smat))
                if m > n:
                    extra = _mm(_mm(sub(cu, _mm(u, utcu)), inv_s), _T(v))
            if cvt is not None:
                cv = _T(cvt)
                vtcv = _mm(_T(v), cv)
                inner = add(inner, _mm(smat, mul(f, sub(vtcv, _T(vtcv)))))
                if n > m:
                    term = _mm(_mm(u, inv_s), _T(sub(cv, _mm(v, vtcv))))
                    extra = term if extra is None else add(extra, term)
        ca = _mm(u, _mm(inner, _T(v)))
        return (ca if extra is None else add(ca, extra),)
    return outs, backward


svd_p.jvp, svd_p.vjp = _svd_jvp, _svd_vjp
svd_p.reverse_by_transposing_jvp = _complex_input
_batch_leading(svd_p)


def svd(a, full_matrices=True, compute_uv=True):
    """Singular values `s` (descending), or `(u, s, vt)` with `a = u @ diag(s) @ vt`."""
    outs = svd_p.bind(a, full_matrices=bool(full_matrices), compute_uv=bool(compute_uv))
    if not compute_uv:
        return outs[0]
    s, u, vt = outs
    return u, s, vt


# =============================================================== qr
def _qr_impl(xp, a, full_matrices):
    q, r = xp.linalg.qr(a, mode="complete" if full_matrices else "reduced")
    return [q, r]


def _qr_aval(a, full_matrices):
    _matrix_aval("qr", a)
    *batch, m, n = a.shape
    k = m if full_matrices else min(m, n)
    return [ShapedArray(tuple(batch) + (m, k), a.dtype),
            ShapedArray(tuple(batch) + (k, n), a.dtype)]


qr_p = primitive("qr", _qr_impl, _qr_aval, multiple_results=True)


def _qr_tall_jvp(q, r, t):
    """dQ, dR of the reduced QR of a tall (m >= n) matrix in direction t."""
    c = _T(triangular_solve(r, _T(t), lower=False, transpose_a=True))      # dA R^-1
    b = _mm(_T(q), c)
    low = _mask(b, -1, upper=False)
    omega = sub(low, _T(low))
    return add(_mm(q, sub(omega, b)), c), _mm(sub(b, omega), r)


def _qr_tall_vjp(q, r, cq, cr):
    g = sub(_mm(cr, _T(r)), _mm(_T(q), cq))
    h = sub(g, _mask(sub(g, _T(g)), -1, upper=False))
    x = add(cq, _mm(q, h))
    return _T(triangular_solve(r, _T(x), lower=False))                      # (...) R^-T


def _qr_wide_split(a, r):
    m = shape_of(a)[-2]
    last = len(shape_of(a)) - 1
    n = shape_of(a)[-1]
    return (slice_in_dim(a, m, n, axis=last), slice_in_dim(r, 0, m, axis=last),
            slice_in_dim(r, m, n, axis=last))


def _qr_jvp(primals, tangents, full_matrices):
    a, = primals
    q, r = qr_p.bind(a, full_matrices=full_matrices)
    t, = tangents
    if t is None:
        return [q, r], [None, None]
    _real_derivative_only("qr", a)
    m, n = shape_of(a)[-2:]
    if m >= n:
        _check_reduced("qr", a, full_matrices)
        dq, dr = _qr_tall_jvp(q, r, t)
        return [q, r], [dq, dr]
    last = len(shape_of(a)) - 1
    y, r1, _ = _qr_wide_split(a, r)
    dq, dr1 = _qr_tall_jvp(q, r1, slice_in_dim(t, 0, m, axis=last))
    dr2 = add(_mm(_T(dq), y), _mm(_T(q), slice_in_dim(t, m, n, axis=last)))
    return [q, r], [dq, concatenate([dr1, dr2], last)]


def _qr_vjp(primals, needs, full_matrices):
    a, = primals
    q, r = qr_p.bind(a, full_matrices=full_matrices)
    m, n = shape_of(a)[-2:]

    def backward(cts):
        _real_derivative_only("qr", a)
        cq, cr = _zeros_or(cts[0], q), _zeros_or(cts[1], r)
        if m >= n:
            _check_reduced("qr", a, full_matrices)
            return (_qr_tall_vjp(q, r, cq, cr),)
        last = len(shape_of(a)) - 1
        y, r1, _ = _qr_wide_split(a, r)
        cr1, cr2 = slice_in_dim(cr, 0, m, axis=last), slice_in_dim(cr, m, n, axis=last)
        cx = _qr_tall_vjp(q, r1, add(cq, _mm(y, _T(cr2))), cr1)
        return (concatenate([cx, _mm(q, cr2)], last),)
    return [q, r], backward


qr_p.jvp, qr_p.vjp = _qr_jvp, _qr_vjp
_batch_leading(qr_p)


def qr(a, full_matrices=False):
    """`(q, r)` with orthonormal columns in q and upper-triangular r, `a = q @ r`."""
    q, r = qr_p.bind(a, full_matrices=bool(full_matrices))
    return q, r


# =============================================================== geqrf
# LAPACK's Householder QR as it stores it: R in the upper triangle of `h` (m x n), below the
# diagonal the Householder vectors v_i (v_i[i] = 1 implied), and `taus` with
# Q = prod_i (I - tau_i v_i v_i^H). numpy.linalg.qr(mode='raw') is its transpose.
def _geqrf_impl(xp, a):
    h, taus = xp.linalg.qr(a, mode="raw")           # h as NumPy gives it: (…, n, m)
    return [xp.swapaxes(h, -1, -2), taus]


def _geqrf_aval(a):
    _matrix_aval("geqrf", a)
    *batch, m, n = a.shape
    return [ShapedArray(a.shape, a.dtype), ShapedArray(tuple(batch) + (min(m, n),), a.dtype)]


def _geqrf_no_derivative(a):
    raise NotImplementedError(
        f"geqrf (qr with mode='raw') of a {dtype_of(a)} matrix of shape {shape_of(a)} has no "
        "derivative rule: the Householder vectors and taus are not differentiated. "
        "Differentiate qr with mode='reduced' (or 'r'), or wrap the call in "
        "ft.lax.stop_gradient.")


def _geqrf_jvp(primals, tangents):
    a, = primals
    if tangents[0] is not None:
        _geqrf_no_derivative(a)
    return geqrf_p.bind(a), [None, None]


def _geqrf_vjp(primals, needs):
    a, = primals

    def backward(cts):
        _geqrf_no_derivative(a)
    return geqrf_p.bind(a), backward


geqrf_p = primitive("geqrf", _geqrf_impl, _geqrf_aval, multiple_results=True)
geqrf_p.jvp, geqrf_p.vjp = _geqrf_jvp, _geqrf_vjp
_batch_leading(geqrf_p)


def geqrf(a):
    """`(h, taus)`: the QR decomposition of `a` as Householder reflectors (LAPACK's geqrf,
    above). No derivatives."""
    h, taus = geqrf_p.bind(a)
    return h, taus


__all__ = ["cholesky", "triangular_solve", "lu", "lu_solve", "eigh", "svd", "qr", "geqrf"]
