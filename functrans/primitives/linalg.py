"""Linear-algebra primitives on stacks of matrices (the last two axes; leading axes are a
batch): `cholesky`, `triangular_solve`, `lu`, `eigh`, `eig`, `svd`, `qr`, `geqrf`.

Each has forward and reverse rules written with functrans operations (so they nest), and
vmap just moves the mapped axis into the leading batch. Symmetric inputs (`cholesky`,
`eigh`) are symmetrized, `(a + a^T) / 2` (the Hermitian part `(a + a^H) / 2` of a complex a),
so the functions and their derivatives are defined for every square input. Every function
takes complex matrices, with JAX's derivative convention: the forward rules are written with
conjugate transposes, and the reverse rules of `cholesky`, `eigh` and `svd` for complex input
transpose them (`qr`'s too, its R having a real diagonal as LAPACK's and JAX's). Complex
singular vectors raise NotImplementedError for derivatives (their rules would need phase terms
they lack), so complex singular values have first derivatives only. Complex eigenvectors are
defined up to a phase each: only phase-invariant functions of them (projectors, |v|) have
derivatives.

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
- `eig` (general matrices) lives in `functrans.primitives.linalg_eig`. Column-pivoted `qr`
  runs on the host (CuPy has no geqp3).
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..backends import scipy_module, to_host
from ..core import ShapedArray
from ._util import primitive, shape_of, dtype_of, wanted, bdim_size, broadcast_batched
from .elementwise import add, sub, mul, neg, select, reciprocal, square, conj_p, real_p
from .elementwise import convert_element_type
from .shape_ops import (transpose, full_like, concatenate, slice_in_dim, broadcast_in_dim,
                        constant, pad, zeros_or)
from .reductions import reduce_sum
from .dot import dot_general
from .indexing import take_along_axis, add_along_axis

# =============================================================== matrix helpers


def mT(x):
    """Swap the last two axes."""
    n = len(shape_of(x))
    return transpose(x, tuple(range(n - 2)) + (n - 1, n - 2))


def bmm(a, b):
    """Batched matrix product over equal leading axes."""
    nb = len(shape_of(a)) - 2
    batch = tuple(range(nb))
    return dot_general(a, b, (((nb + 1,), (nb,)), (batch, batch)))


def _sym(x):
    return mul(add(x, mT(x)), 0.5)


def adjoint(x):
    """The conjugate transpose (the transpose of a real matrix)."""
    return conj_p.bind(mT(x)) if dtype_of(x).kind == "c" else mT(x)


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


def tri_mask(x, k, upper):
    """x with the entries outside its k-th lower (or upper) triangle zeroed."""
    m, n = shape_of(x)[-2:]
    keep = np.triu(np.ones((m, n), bool), k) if upper else np.tril(np.ones((m, n), bool), k)
    return select(constant(keep, like=x), x, full_like(x, 0))


def from_triangle(x, lower=True):
    """The Hermitian matrix that x's `lower` (or upper) triangle defines (the other triangle
    is not read)."""
    strict = tri_mask(x, -1 if lower else 1, upper=not lower)
    return add(tri_mask(x, 0, upper=not lower), adjoint(strict))


def diag_part(x):
    """The diagonal of the last two axes (square)."""
    return reduce_sum(mul(x, _eye_like(x)), (len(shape_of(x)) - 1,))


def diag_matrix(v):
    """Square matrices with `v` (…, n) on the diagonal."""
    s = shape_of(v)
    col = broadcast_in_dim(v, s + (s[-1],), tuple(range(len(s))))
    return mul(col, constant(np.eye(s[-1], dtype=dtype_of(v)), like=v))


def gap_reciprocals(w, squared=False):
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


def batch_leading(prim):
    """vmap rule for primitives on stacks of matrices: the mapped axis joins the batch."""
    def rule(vals, dims, **params):
        size = bdim_size(vals, dims)
        vals = [broadcast_batched(v, d, size) for v, d in zip(vals, dims)]
        out = prim.bind(*vals, **params)
        return out, ([0] * len(out) if prim.multiple_results else 0)
    prim.batch = rule


def square_aval(name, a):
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


def host_batched(fn, xp, out_avals, *arrays, core_ndim=2):
    """`fn` (the NumPy arrays of one problem -> a tuple of NumPy arrays) run on the host for
    each problem of the batch (the axes of `arrays[0]` before its last `core_ndim`); the
    results, stacked into arrays of `out_avals`, go back to `xp`."""
    hosts = [np.asarray(to_host(a)) for a in arrays]
    out = [np.empty(o.shape, o.dtype) for o in out_avals]
    for i in np.ndindex(*hosts[0].shape[:hosts[0].ndim - core_ndim]):
        for o, part in zip(out, fn(*[h[i] for h in hosts])):
            o[i] = part
    return out if xp is np else [xp.asarray(o) for o in out]


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
    square_aval("triangular_solve", a)
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
    return tri_mask(x, k if lower else -k, upper=not lower)


def _tri_jvp(primals, tangents, lower, transpose_a, unit_diagonal):
    a, b = primals
    params = dict(lower=lower, transpose_a=transpose_a, unit_diagonal=unit_diagonal)
    x = triangular_solve_p.bind(a, b, **params)
    ta, tb = tangents
    if ta is None and tb is None:
        return x, None
    rhs = zeros_or(tb, b)
    if ta is not None:
        da = _tri_part(ta, lower, unit_diagonal)
        rhs = sub(rhs, bmm(mT(da) if transpose_a else da, x))
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
            outer = bmm(x, mT(cb)) if transpose_a else bmm(cb, mT(x))
            ca = neg(_tri_part(outer, lower, unit_diagonal))
        return ca, cb if want_b else None
    return x, backward


triangular_solve_p.jvp, triangular_solve_p.vjp = _tri_jvp, _tri_vjp
batch_leading(triangular_solve_p)


def triangular_solve(a, b, *, left_side=False, lower=False, transpose_a=False,
                     conjugate_a=False, unit_diagonal=False):
    """x with `op(a) @ x == b` (`left_side`) or `x @ op(a) == b` (the default, as JAX), for
    triangular `a` (only its `lower` or upper triangle is read, its diagonal taken as ones
    with `unit_diagonal`); op(a) is a, its transpose (`transpose_a`), its conjugate
    (`conjugate_a`) or its conjugate transpose (both)."""
    sa, sb = tuple(shape_of(a)), tuple(shape_of(b))
    if len(sa) >= 2 and (len(sb) != len(sa) or sb[:-2] != sa[:-2]
                         or sb[-2 if left_side else -1] != sa[-1]):
        want = "(…, n, k)" if left_side else "(…, k, n)"
        raise ValueError(f"triangular_solve: a of shape {sa} and b of shape {sb} do not match "
                         f"(with left_side={bool(left_side)}, b must be {want} with a's batch "
                         "axes)")
    if conjugate_a and dtype_of(a).kind == "c":
        a = conj_p.bind(a)
    params = dict(lower=bool(lower), unit_diagonal=bool(unit_diagonal))
    if left_side:
        return triangular_solve_p.bind(a, b, transpose_a=bool(transpose_a), **params)
    # x op(a) = b  <=>  op(a)^T x^T = b^T
    return mT(triangular_solve_p.bind(a, mT(b), transpose_a=not transpose_a, **params))


def _left_solve(a, b, **params):
    """x with op(a) x = b (triangular_solve from the left)."""
    return triangular_solve(a, b, left_side=True, **params)


# =============================================================== cholesky
def _cholesky_impl(xp, a):
    return xp.linalg.cholesky(_raw_sym(xp, a))


def _cholesky_aval(a):
    square_aval("cholesky", a)
    return ShapedArray(a.shape, a.dtype)


cholesky_p = primitive("cholesky", _cholesky_impl, _cholesky_aval)


def _phi(x):
    """The lower triangle with the diagonal halved."""
    return sub(tri_mask(x, 0, upper=False), mul(diag_matrix(diag_part(x)), 0.5))


def _cholesky_jvp(primals, tangents):
    a, = primals
    L = cholesky_p.bind(a)
    t, = tangents
    if t is None:
        return L, None
    inner = _left_solve(L, _herm(t), lower=True)                     # L^-1 dA
    inner = _left_solve(L, adjoint(inner), lower=True)                  # L^-1 dA L^-H
    return L, bmm(L, _phi(inner))


def _cholesky_vjp(primals, needs):
    a, = primals
    L = cholesky_p.bind(a)

    def backward(ct):
        p = _phi(bmm(mT(L), ct))
        y = _left_solve(L, p, lower=True, transpose_a=True)           # L^-T P
        s = mT(_left_solve(L, mT(y), lower=True, transpose_a=True))   # L^-T P L^-1
        return (_sym(s),)
    return L, backward


cholesky_p.jvp, cholesky_p.vjp = _cholesky_jvp, _cholesky_vjp
cholesky_p.reverse_by_transposing_jvp = _complex_input
batch_leading(cholesky_p)


def cholesky(x, *, symmetrize_input=True):
    """The lower Cholesky factor L of the symmetric (Hermitian) positive-definite
    `(x + x^H) / 2` (`symmetrize_input`), or of the matrix x's lower triangle defines (its
    upper triangle is ignored)."""
    return cholesky_p.bind(x if symmetrize_input else from_triangle(x))


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
    lower = add(tri_mask(lower, -1, upper=False), _eye_like(lower))
    completion = np.diag(np.arange(n) >= min(m, n)).astype(dtype_of(lu))
    upper = add(tri_mask(_resize(lu, -2, n), 0, upper=True), constant(completion, like=lu))
    return lower, upper


def _permute(x, perm, axis, inverse=False):
    """x[..., perm, :] (`axis` -2: rows) or x[..., :, perm] (`axis` -1: columns), `perm` a
    permutation (..., k) with x's batch axes; `inverse`: the y with y[..., perm, :] = x
    (y[..., :, perm] = x)."""
    rank = len(shape_of(x))
    axis %= rank
    other = 2 * rank - 3 - axis             # the matrix axis that `perm` does not index
    index = broadcast_in_dim(perm, shape_of(x), tuple(d for d in range(rank) if d != other))
    if inverse:
        return add_along_axis(full_like(x, 0), index, x, axis, mode="promise_in_bounds")
    return take_along_axis(x, index, axis, mode="promise_in_bounds")


def _lu_jvp(primals, tangents):
    a, = primals
    lu, pivots, perm = lu_p.bind(a)
    t, = tangents
    if t is None:
        return [lu, pivots, perm], [None, None, None]
    # De Hoog, Anderssen and Lukas: with the completed (invertible) L and U, M = L^-1 P dA
    # U^-1 splits into L^-1 dL (strictly lower) and dU U^-1 (upper), for any (m, n)
    L, U = _lu_factors(lu)
    y = _left_solve(L, _permute(t, perm, -2), lower=True, unit_diagonal=True)    # L^-1 P dA
    m = mT(_left_solve(U, mT(y), lower=False, transpose_a=True))          # ... U^-1
    dlu = add(bmm(L, tri_mask(m, -1, upper=False)), bmm(tri_mask(m, 0, upper=True), U))
    return [lu, pivots, perm], [dlu, None, None]


def _lu_vjp(primals, needs):
    a, = primals
    lu, pivots, perm = outs = lu_p.bind(a)

    def backward(cts):
        ct = cts[0]
        if ct is None:
            return (None,)
        L, U = _lu_factors(lu)
        k = add(tri_mask(bmm(mT(L), tri_mask(ct, -1, upper=False)), -1, upper=False),
                tri_mask(bmm(tri_mask(ct, 0, upper=True), mT(U)), 0, upper=True))
        z = _left_solve(L, k, lower=True, unit_diagonal=True, transpose_a=True)
        z = mT(_left_solve(U, mT(z), lower=False))                         # L^-T K U^-T
        return (_permute(z, perm, -2, inverse=True),)
    return outs, backward


lu_p.jvp, lu_p.vjp = _lu_jvp, _lu_vjp
batch_leading(lu_p)


def lu(x):
    """Partial-pivoting LU of (m, n) matrices: `(lu, pivots, permutation)` with L (unit
    lower, (m, k), k = min(m, n)) and U (upper, (k, n)) packed in `lu`, `pivots` (k,) the
    LAPACK row swaps and `x[..., permutation, :] == L @ U` (permutation (m,))."""
    return tuple(lu_p.bind(x))


def lu_solve(lu, permutation, b):
    """x with `a @ x == b` from `lu(a)`'s packed factors and permutation; b is (..., n, k)."""
    y = _left_solve(lu, _permute(b, permutation, -2), lower=True, unit_diagonal=True)
    return _left_solve(lu, y, lower=False)


# =============================================================== eigh
def _eigh_impl(xp, a):
    w, v = xp.linalg.eigh(_raw_sym(xp, a))
    return [w, v]


def _eigh_aval(a):
    square_aval("eigh", a)
    return [ShapedArray(a.shape[:-1], _real_dtype(a.dtype)), ShapedArray(a.shape, a.dtype)]


eigh_p = primitive("eigh", _eigh_impl, _eigh_aval, multiple_results=True)


def _eigh_jvp(primals, tangents):
    a, = primals
    w, v = eigh_p.bind(a)
    t, = tangents
    if t is None:
        return [w, v], [None, None]
    m = bmm(adjoint(v), bmm(_herm(t), v))                  # Hermitian: a real diagonal
    dw, gaps = diag_part(m), gap_reciprocals(w)
    if dtype_of(a).kind == "c":
        dw, gaps = real_p.bind(dw), convert_element_type(gaps, dtype_of(a))
    return [w, v], [dw, bmm(v, mul(gaps, m))]


def _eigh_vjp(primals, needs):
    a, = primals
    w, v = eigh_p.bind(a)

    def backward(cts):
        cw, cv = cts
        inner = None
        if cw is not None:
            inner = diag_matrix(cw)
        if cv is not None:
            term = mul(gap_reciprocals(w), bmm(mT(v), cv))
            inner = term if inner is None else add(inner, term)
        return (_sym(bmm(v, bmm(inner, mT(v)))),)
    return [w, v], backward


eigh_p.jvp, eigh_p.vjp = _eigh_jvp, _eigh_vjp
eigh_p.reverse_by_transposing_jvp = _complex_input
batch_leading(eigh_p)


def eigh(a):
    """Eigenvectors and eigenvalues `(v, w)` of the symmetric (Hermitian) `(a + a^H) / 2`,
    eigenvalues ascending (JAX's order; functrans.numpy.linalg.eigh returns NumPy's
    `(w, v)`)."""
    w, v = eigh_p.bind(a)
    return v, w


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
    dp = bmm(adjoint(u), bmm(t, v))
    ds = real_p.bind(diag_part(dp)) if dtype_of(a).kind == "c" else diag_part(dp)
    if not compute_uv:
        return outs, [ds]
    m, n = shape_of(a)[-2:]
    f = gap_reciprocals(s, squared=True)
    smat = diag_matrix(s)
    dp_s = bmm(dp, smat)
    s_dp = bmm(smat, dp)
    du = bmm(u, mul(f, add(dp_s, mT(dp_s))))
    dv = bmm(v, mul(f, add(s_dp, mT(s_dp))))
    inv_s = diag_matrix(reciprocal(s))
    if m > n:
        dav = bmm(t, v)
        du = add(du, bmm(sub(dav, bmm(u, bmm(mT(u), dav))), inv_s))
    if n > m:
        dau = bmm(mT(t), u)
        dv = add(dv, bmm(sub(dau, bmm(v, bmm(mT(v), dau))), inv_s))
    return outs, [ds, du, mT(dv)]


def _svd_vjp(primals, needs, full_matrices, compute_uv):
    a, = primals
    outs = svd_p.bind(a, full_matrices=full_matrices, compute_uv=compute_uv)

    def backward(cts):
        _check_reduced("svd", a, full_matrices and compute_uv)
        s, u, v = _svd_parts(a)
        cs = cts[0]
        cu, cvt = (cts[1], cts[2]) if compute_uv else (None, None)
        inner = diag_matrix(zeros_or(cs, s))
        m, n = shape_of(a)[-2:]
        extra = None
        if cu is not None or cvt is not None:
            f = gap_reciprocals(s, squared=True)
            smat = diag_matrix(s)
            inv_s = diag_matrix(reciprocal(s))
            if cu is not None:
                utcu = bmm(mT(u), cu)
                inner = add(inner, bmm(mul(f, sub(utcu, mT(utcu))), smat))
                if m > n:
                    extra = bmm(bmm(sub(cu, bmm(u, utcu)), inv_s), mT(v))
            if cvt is not None:
                cv = mT(cvt)
                vtcv = bmm(mT(v), cv)
                inner = add(inner, bmm(smat, mul(f, sub(vtcv, mT(vtcv)))))
                if n > m:
                    term = bmm(bmm(u, inv_s), mT(sub(cv, bmm(v, vtcv))))
                    extra = term if extra is None else add(extra, term)
        ca = bmm(u, bmm(inner, mT(v)))
        return (ca if extra is None else add(ca, extra),)
    return outs, backward


svd_p.jvp, svd_p.vjp = _svd_jvp, _svd_vjp
svd_p.reverse_by_transposing_jvp = _complex_input
batch_leading(svd_p)


def svd(a, full_matrices=True, compute_uv=True):
    """Singular values `s` (descending), or `(u, s, vt)` with `a = u @ diag(s) @ vt`."""
    outs = svd_p.bind(a, full_matrices=bool(full_matrices), compute_uv=bool(compute_uv))
    if not compute_uv:
        return outs[0]
    s, u, vt = outs
    return u, s, vt


# =============================================================== qr
def _qr_impl(xp, a, pivoting, full_matrices):
    if not pivoting:
        q, r = xp.linalg.qr(a, mode="complete" if full_matrices else "reduced")
        return [q, r]
    # column pivoting (LAPACK's geqp3) on the host, one matrix at a time
    qr_host = scipy_module(np, "linalg").qr

    def one(x):
        return qr_host(x, mode="full" if full_matrices else "economic", pivoting=True,
                       check_finite=False)
    return host_batched(one, xp, _qr_aval(a, pivoting, full_matrices), a)


def _qr_aval(a, pivoting, full_matrices):
    _matrix_aval("qr", a)
    *batch, m, n = a.shape
    k = m if full_matrices else min(m, n)
    out = [ShapedArray(tuple(batch) + (m, k), a.dtype),
           ShapedArray(tuple(batch) + (k, n), a.dtype)]
    return out + [ShapedArray(tuple(batch) + (n,), dtypes.int32)] if pivoting else out


qr_p = primitive("qr", _qr_impl, _qr_aval, multiple_results=True)


def _without_imag_diag(x):
    """x less i Im(diag(x)) (R's diagonal is real, as LAPACK's, so Q^H dQ's is imaginary)."""
    if dtype_of(x).kind != "c":
        return x
    imag = mul(sub(x, conj_p.bind(x)), 0.5)
    return sub(x, tri_mask(tri_mask(imag, 0, upper=True), 0, upper=False))


def _conj(x):
    return conj_p.bind(x) if dtype_of(x).kind == "c" else x


def _qr_tall_jvp(q, r, t):
    """dQ, dR of the reduced QR of a tall (m >= n) matrix in direction t."""
    c = mT(_left_solve(r, mT(t), lower=False, transpose_a=True))      # dA R^-1
    b = bmm(adjoint(q), c)
    low = tri_mask(b, -1, upper=False)
    upper_part = add(_without_imag_diag(b), sub(adjoint(low), low))      # b - Q^H dQ
    return sub(c, bmm(q, upper_part)), bmm(upper_part, r)


def _qr_tall_vjp(q, r, cq, cr):
    # (the transpose of _qr_tall_jvp; complex cotangents pair with tangents as Re(sum(ct dx)))
    g = sub(bmm(cr, mT(r)), bmm(mT(q), cq))
    h = _without_imag_diag(sub(g, tri_mask(sub(g, adjoint(g)), -1, upper=False)))
    x = add(cq, bmm(_conj(q), h))
    return mT(_left_solve(r, mT(x), lower=False))                      # (...) R^-T


def _qr_wide_split(a, r):
    m = shape_of(a)[-2]
    last = len(shape_of(a)) - 1
    n = shape_of(a)[-1]
    return (slice_in_dim(a, m, n, axis=last), slice_in_dim(r, 0, m, axis=last),
            slice_in_dim(r, m, n, axis=last))


def _qr_jvp(primals, tangents, pivoting, full_matrices):
    a, = primals
    outs = qr_p.bind(a, pivoting=pivoting, full_matrices=full_matrices)
    q, r = outs[:2]
    t, = tangents
    if t is None:
        return outs, [None] * len(outs)
    if pivoting:            # the QR of the permuted columns; the permutation is constant
        a, t = _permute(a, outs[2], -1), _permute(t, outs[2], -1)
    rest = [None] * (len(outs) - 2)
    m, n = shape_of(a)[-2:]
    if m >= n:
        _check_reduced("qr", a, full_matrices)
        return outs, list(_qr_tall_jvp(q, r, t)) + rest
    last = len(shape_of(a)) - 1
    y, r1, _ = _qr_wide_split(a, r)
    dq, dr1 = _qr_tall_jvp(q, r1, slice_in_dim(t, 0, m, axis=last))
    dr2 = add(bmm(adjoint(dq), y), bmm(adjoint(q), slice_in_dim(t, m, n, axis=last)))
    return outs, [dq, concatenate([dr1, dr2], last)] + rest


def _qr_vjp(primals, needs, pivoting, full_matrices):
    a, = primals
    outs = qr_p.bind(a, pivoting=pivoting, full_matrices=full_matrices)
    q, r = outs[:2]
    m, n = shape_of(a)[-2:]
    last = len(shape_of(a)) - 1

    def backward(cts):
        cq, cr = zeros_or(cts[0], q), zeros_or(cts[1], r)
        ap = _permute(a, outs[2], -1) if pivoting else a
        if m >= n:
            _check_reduced("qr", a, full_matrices)
            cx = _qr_tall_vjp(q, r, cq, cr)
        else:
            y, r1, _ = _qr_wide_split(ap, r)
            cr1, cr2 = slice_in_dim(cr, 0, m, axis=last), slice_in_dim(cr, m, n, axis=last)
            cx = concatenate([_qr_tall_vjp(q, r1, add(cq, _conj(bmm(y, mT(cr2)))), cr1),
                              bmm(_conj(q), cr2)], last)
        if pivoting:        # back to the unpermuted columns
            cx = _permute(cx, outs[2], -1, inverse=True)
        return (cx,)
    return outs, backward


qr_p.jvp, qr_p.vjp = _qr_jvp, _qr_vjp
batch_leading(qr_p)


def qr(x, *, pivoting=False, full_matrices=True, use_magma=None):
    """`(q, r)` with orthonormal columns in q and upper-triangular r, `x = q @ r`: q is
    (m, m) with `full_matrices`, else (m, k), k = min(m, n). With `pivoting`, `(q, r, p)`
    with `x[..., p] = q @ r` and |diag(r)| non-increasing (column pivoting, on the host).
    `use_magma` is accepted and ignored (there is one kernel per backend)."""
    del use_magma
    return tuple(qr_p.bind(x, pivoting=bool(pivoting), full_matrices=bool(full_matrices)))


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
batch_leading(geqrf_p)


def geqrf(a):
    """`(h, taus)`: the QR decomposition of `a` as Householder reflectors (LAPACK's geqrf,
    above). No derivatives."""
    h, taus = geqrf_p.bind(a)
    return h, taus


__all__ = ["cholesky", "triangular_solve", "lu", "lu_solve", "eigh", "svd", "qr", "geqrf"]
