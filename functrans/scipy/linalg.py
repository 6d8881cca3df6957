"""`functrans.scipy.linalg`: SciPy's (and jax.scipy.linalg's) names and arguments over the
linear-algebra primitives, differentiable and batchable over leading axes where the
primitives are: Cholesky and LU factorizations and their solves, triangular solves, `solve`
with `assume_a`, `eigh`, `svd`, `qr` modes, `expm`, `polar`, and the structured matrices
(`block_diag`, `toeplitz`, `circulant`, `hankel`, `companion`, `hilbert`, `dft`)."""
from __future__ import annotations

import math
from functools import partial

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..api import vmap
from ..core import place_functions as _place_functions
from ..higher_order.custom_derivatives import custom_jvp
from ..lax import linalg as lax_linalg
from ..numpy import linalg as np_linalg
from ..numpy.linalg import hermitian_input
from ..numpy._conversion import asarray, promote, promote_inexact
from ..numpy._numpy_extras import companion_matrix
from ..primitives._util import dtype_of, shape_of
from ..primitives.linalg import adjoint

__all__ = ["cholesky", "cho_factor", "cho_solve", "solve_triangular", "lu", "lu_factor",
           "lu_solve", "solve", "inv", "det", "eigh", "svd", "qr", "expm", "polar",
           "block_diag", "toeplitz", "circulant", "hankel", "companion", "hilbert", "dft"]


def _inexact(*arrays):
    arrays, dt = promote_inexact(*arrays)
    return [asarray(a, dtype=dt) for a in arrays]


def _square(a, name):
    shape = shape_of(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"{name}: needs square matrices (shape (..., n, n)), got shape {shape}")


def _matrix(a, name):
    if len(shape_of(a)) < 2:
        raise ValueError(f"{name}: needs matrices (shape (..., m, n)), got shape {shape_of(a)}")


def _as_columns(b, a):
    """`b` as (..., n, k) for solves against (n, n) `a`, and how to give it its shape back."""
    if len(shape_of(b)) == len(shape_of(a)) - 1:
        return lax.expand_dims(b, (len(shape_of(b)),)), lambda x: lax.squeeze(
            x, (len(shape_of(x)) - 1,))
    return b, lambda x: x


def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """The Cholesky factor of the Hermitian positive-definite matrix in a's `lower` (or
    upper) triangle, as SciPy reads it: upper U with `a = U^H U` (SciPy's default), or lower
    L with `a = L L^H`. Gradients land in that triangle."""
    a, = _inexact(a)
    _square(a, "cholesky")
    factor = lax_linalg.cholesky(hermitian_input(a, "L" if lower else "U", False))
    return factor if lower else adjoint(factor)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """`(c, lower)` for `cho_solve`: c the Cholesky factor (zeros in its other triangle)."""
    return cholesky(a, lower=lower), lower


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """x with `a x = b`, from `cho_factor(a)`."""
    c, lower = c_and_lower
    c, b = _inexact(c, b)
    b, restore = _as_columns(b, c)
    if lower:
        y = lax_linalg.triangular_solve(c, b, lower=True)
        x = lax_linalg.triangular_solve(fnp.conj(c), y, lower=True, transpose_a=True)
    else:
        y = lax_linalg.triangular_solve(fnp.conj(c), b, lower=False, transpose_a=True)
        x = lax_linalg.triangular_solve(c, y, lower=False)
    return restore(x)


_TRANS = {0: 0, "N": 0, 1: 1, "T": 1, 2: 2, "C": 2}


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     debug=None, check_finite=True):
    """x with `op(a) x = b` for triangular `a` (only its `lower` or upper triangle is read):
    op is a itself (trans 0 or "N"), its transpose (1, "T") or conjugate transpose (2,
    "C")."""
    if trans not in _TRANS:
        raise ValueError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got "
                         f"{trans!r}")
    mode = _TRANS[trans]
    a, b = _inexact(a, b)
    b, restore = _as_columns(b, a)
    x = lax_linalg.triangular_solve(fnp.conj(a) if mode == 2 else a, b, lower=lower,
                                    transpose_a=mode > 0, unit_diagonal=unit_diagonal)
    return restore(x)


def _unpack_lu(packed):
    """Unit lower l (m, k) and upper u (k, n), k = min(m, n), from LAPACK's packing of both
    in one (m, n) matrix."""
    m, n = shape_of(packed)[-2:]
    k = min(m, n)
    eye = fnp.eye(m, k, dtype=dtype_of(packed))
    return fnp.tril(packed[..., :, :k], -1) + eye, fnp.triu(packed[..., :k, :])


def lu(a, permute_l=False, overwrite_a=False, check_finite=True):
    """`(p, l, u)` with `a = p @ l @ u` (partial pivoting; p (m, m), l unit lower (m, k), u
    upper (k, n), k = min(m, n)), or `(p @ l, u)` with `permute_l`."""
    a, = _inexact(a)
    _matrix(a, "lu")
    packed, _, perm = lax_linalg.lu(a)
    lower, upper = _unpack_lu(packed)
    p = (perm[..., None, :] == fnp.arange(shape_of(a)[-2])[:, None]).astype(
        np.finfo(dtype_of(a)).dtype)                # real, as SciPy's and JAX's
    return (np_linalg.matmul(p, lower), upper) if permute_l else (p, lower, upper)


def lu_factor(a, overwrite_a=False, check_finite=True):
    """`(lu, piv)`: l and u packed in one (m, n) matrix, and LAPACK's row interchanges
    (int32, (min(m, n),); row i was swapped with row piv[i]), for `lu_solve` (square a)."""
    a, = _inexact(a)
    _matrix(a, "lu_factor")
    packed, pivots, _ = lax_linalg.lu(a)
    return packed, pivots


def _permutation_from_pivots(piv, n):
    """The row order that LAPACK's interchanges `piv` (concrete or traced, 1-d) make."""
    perm = lax.iota(np.int32, n)
    for i in range(shape_of(piv)[-1]):
        j = lax.convert_element_type(piv[i], np.int32)
        at_i, at_j = perm[i], lax.dynamic_index_in_dim(perm, j, keepdims=False)
        perm = lax.dynamic_update_index_in_dim(perm, at_i, j, 0)
        perm = lax.dynamic_update_index_in_dim(perm, at_j, i, 0)
    return perm


def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    """x with `op(a) x = b` from `lu_factor(a)` (op as in `solve_triangular`), batched over
    leading axes of the factors (b (…, n) or (…, n, k))."""
    packed, piv = lu_and_piv
    if trans not in _TRANS:
        raise ValueError(f"lu_solve: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    mode = _TRANS[trans]
    packed, b = _inexact(packed, b)
    _square(packed, "lu_solve")
    piv = asarray(piv)
    batch = shape_of(packed)[:-2]
    if batch:                       # a stack of factorizations: b (…, n) or (…, n, k)
        core = 1 if len(shape_of(b)) == len(shape_of(packed)) - 1 else 2
        batch = fnp.broadcast_shapes(batch, shape_of(b)[:-core])
        solve_one = partial(lu_solve, trans=trans)
        for _ in batch:
            solve_one = vmap(solve_one)
        return solve_one((fnp.broadcast_to(packed, batch + shape_of(packed)[-2:]),
                          fnp.broadcast_to(piv, batch + shape_of(piv)[-1:])),
                         fnp.broadcast_to(b, batch + shape_of(b)[-core:]))
    n = shape_of(packed)[-1]
    perm = _permutation_from_pivots(piv, n)
    b, restore = _as_columns(b, packed)
    if mode == 0:
        return restore(lax_linalg.lu_solve(packed, perm, b))
    lu_ = fnp.conj(packed) if mode == 2 else packed
    # a = P^T L U (rows permuted by perm): op(a) x = b is U^T L^T (P x) = b
    y = lax_linalg.triangular_solve(lu_, b, lower=False, transpose_a=True)
    z = lax_linalg.triangular_solve(lu_, y, lower=True, transpose_a=True, unit_diagonal=True)
    return restore(lax.scatter(lax.full_like(z, 0), z, perm, axes=(0,)))   # x[perm] = z


def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, debug=False,
          check_finite=True, assume_a="gen"):
    """x with `a x = b`: "gen" (LU), "sym" and "her" (LU too), "pos" (Cholesky of the
    `lower` or upper triangle)."""
    if assume_a not in ("gen", "sym", "her", "pos", "diagonal", "tridiagonal", "banded",
                        "upper triangular", "lower triangular"):
        raise ValueError(f"solve: unknown assume_a {assume_a!r}")
    if assume_a == "pos":
        a, b = _inexact(a, b)
        b, restore = _as_columns(b, a)
        return restore(_solve_pos(a, b, lower))
    if assume_a in ("upper triangular", "lower triangular"):
        return solve_triangular(a, b, lower=assume_a == "lower triangular")
    a, b = _inexact(a, b)
    b, restore = _as_columns(b, a)
    return restore(np_linalg.solve(a, b))


@partial(custom_jvp, nondiff_argnums=(2,))
def _solve_pos(a, b, lower):
    """x with `a x = b` (b (..., n, k)) through the Cholesky factor of a's `lower` (or upper)
    triangle."""
    return cho_solve(cho_factor(a, lower=lower), b)


@_solve_pos.defjvp
def _solve_pos_jvp(lower, primals, tangents):
    """JAX's derivative: `a^-1 (db - da x)` with the whole tangent da (not one triangle)."""
    a, b = primals
    da, db = tangents
    factors = cho_factor(a, lower=lower)
    x = cho_solve(factors, b)
    return x, cho_solve(factors, db - np_linalg.matmul(da, x))


def inv(a, overwrite_a=False, check_finite=True):
    """The inverse of square `a`."""
    return np_linalg.inv(a)


def det(a, overwrite_a=False, check_finite=True):
    """The determinant of square `a`."""
    return np_linalg.det(a)


def eigh(a, b=None, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False,
         turbo=True, eigvals=None, type=1, check_finite=True):
    """Eigenvalues (ascending) and eigenvectors `(w, v)` of the Hermitian part
    `(a + a^H) / 2` (as JAX: `lower` makes no difference); only w with `eigvals_only`."""
    if b is not None:
        raise NotImplementedError("eigh: the generalized problem (b=) is not supported; "
                                  "reduce it with cholesky(b) first")
    if eigvals is not None:
        raise NotImplementedError("eigh: eigvals= (a subset) is not supported")
    w, v = np_linalg.eigh(a)
    return w if eigvals_only else (w, v)


def svd(a, full_matrices=True, compute_uv=True, overwrite_a=False, check_finite=True,
        lapack_driver="gesdd"):
    """`(u, s, vh)` with `a = u @ diag(s) @ vh`, or s alone without `compute_uv`."""
    return np_linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)


def qr(a, overwrite_a=False, lwork=None, mode="full", pivoting=False, check_finite=True):
    """`(q, r)` with `a = q @ r`: square q ("full"), or the first min(m, n) columns
    ("economic"); `(r,)` for "r". Pivoting is not supported."""
    if pivoting:
        raise NotImplementedError("qr: pivoting=True is not supported")
    if mode not in ("full", "economic", "r"):
        raise ValueError(f"qr: mode must be 'full', 'economic' or 'r', got {mode!r}")
    if mode == "r":                             # the complete R: zero rows below min(m, n)
        r = np_linalg.qr(a, mode="r")
        m, k = shape_of(asarray(a))[-2], shape_of(r)[-2]
        return (fnp.pad(r, [(0, 0)] * (len(shape_of(r)) - 2) + [(0, m - k), (0, 0)]),)
    return tuple(np_linalg.qr(a, mode="complete" if mode == "full" else "reduced"))


# Pade approximant of degree 13 (Higham 2005) and the 1-norm up to which it needs no
# squaring
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def expm(A, *, upper_triangular=False, max_squarings=16):
    """The matrix exponential, by scaling and squaring of a degree-13 Pade approximant: A is
    scaled by 2^-s (s from its 1-norm, at most `max_squarings`), then squared s times; NaN
    where that scaling leaves the 1-norm above twice Pade's bound (as JAX).
    `upper_triangular=True` solves the Pade system as triangular.
    Differentiable (the squarings run as `max_squarings` selects, so both modes of
    derivatives pass through them)."""
    A, = _inexact(A)
    _square(A, "expm")
    n = shape_of(A)[-1]
    if n == 0:
        return A
    norm = lax.reduce_max(lax.reduce_sum(lax.abs(A), (len(shape_of(A)) - 2,)),
                          (len(shape_of(A)) - 2,))
    raw_s = lax.ceil(lax.log2(lax.max(lax.div(norm, _THETA13), 1.0)))
    s = lax.clamp(0.0, lax.stop_gradient(raw_s), float(max_squarings))
    A = A * lax.convert_element_type(lax.exp2(lax.neg(s)), dtype_of(A))[..., None, None]
    eye = lax.broadcast_to(lax.convert_element_type(asarray(np.eye(n)), dtype_of(A)),
                           shape_of(A))
    mm = np_linalg.matmul
    A2 = mm(A, A)
    A4 = mm(A2, A2)
    A6 = mm(A4, A2)
    b = _PADE13
    u_inner = lax.add(lax.add(lax.mul(A6, b[13]), lax.mul(A4, b[11])), lax.mul(A2, b[9]))
    U = mm(A, lax.add(mm(A6, u_inner), lax.add(lax.add(lax.mul(A6, b[7]), lax.mul(A4, b[5])),
                                               lax.add(lax.mul(A2, b[3]), lax.mul(eye, b[1])))))
    v_inner = lax.add(lax.add(lax.mul(A6, b[12]), lax.mul(A4, b[10])), lax.mul(A2, b[8]))
    V = lax.add(mm(A6, v_inner), lax.add(lax.add(lax.mul(A6, b[6]), lax.mul(A4, b[4])),
                                         lax.add(lax.mul(A2, b[2]), lax.mul(eye, b[0]))))
    if upper_triangular:
        R = solve_triangular(lax.sub(V, U), lax.add(V, U))
    else:
        R = np_linalg.solve(lax.sub(V, U), lax.add(V, U))
    for i in range(int(max_squarings)):
        R = fnp.where((s > i)[..., None, None], mm(R, R), R)
    # JAX's cut: NaN once even 2^max_squarings leaves the scaled norm above 2 * theta_13
    too_big = lax.gt(lax.floor(lax.log2(lax.div(norm, _THETA13))), float(max_squarings))
    return fnp.where(too_big[..., None, None], np.nan, R)


def polar(a, side="right", *, method="svd", eps=None, max_iterations=None):
    """`(u, p)` with `a = u @ p` ("right"; p positive semi-definite) or `a = p @ u` ("left"),
    u with orthonormal columns, from the SVD."""
    if side not in ("right", "left"):
        raise ValueError(f"polar: side must be 'right' or 'left', got {side!r}")
    a, = _inexact(a)
    w, s, vh = np_linalg.svd(a, full_matrices=False)
    u = np_linalg.matmul(w, vh)
    s = lax.convert_element_type(s, dtype_of(a))
    if side == "right":
        p = np_linalg.matmul(adjoint(vh), s[..., :, None] * vh)
    else:
        p = np_linalg.matmul(w * s[..., None, :], adjoint(w))
    return u, p


def block_diag(*arrs):
    """The block-diagonal matrix of `arrs` (scalars and 1-d arrays count as one row)."""
    if not arrs:
        return asarray(np.zeros((1, 0)))
    blocks = [asarray(a) for a in arrs]
    blocks = [lax.reshape(b, (1, math.prod(shape_of(b))) if len(shape_of(b)) < 2 else
                          shape_of(b)) for b in blocks]
    if any(len(shape_of(b)) != 2 for b in blocks):
        raise ValueError("block_diag: the arrays must have at most 2 dimensions")
    blocks, dt = promote(*blocks)
    width = sum(shape_of(b)[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        r, c = shape_of(b)
        rows.append(lax.pad(asarray(b, dtype=dt), asarray(0, dtype=dt),
                            ((0, 0, 0), (left, width - left - c, 0))))
        left += c
    return lax.concatenate(rows, 0)


def _take_matrix(values, index):
    """`values[..., index]`: (…, m, n) matrices from the last axis of values by the (m, n)
    index."""
    return fnp.take(values, asarray(index), axis=-1)


def _vectors(*arrays):
    """The arrays (0-d as one entry) broadcast to a common batch, promoted together."""
    arrays = [asarray(a) for a in arrays]
    arrays = [lax.reshape(a, (1,)) if not shape_of(a) else a for a in arrays]
    batch = fnp.broadcast_shapes(*(shape_of(a)[:-1] for a in arrays))
    arrays, dt = promote(*(lax.broadcast_to(a, batch + shape_of(a)[-1:]) for a in arrays))
    return [asarray(a, dtype=dt) for a in arrays]


def toeplitz(c, r=None):
    """The Toeplitz matrices with first column c and first row r (conj(c) if None; r[0] is
    ignored), batched over the leading axes of c and r."""
    c = asarray(c)
    c, r = _vectors(c, fnp.conj(c) if r is None else r)
    m, n = shape_of(c)[-1], shape_of(r)[-1]
    values = lax.concatenate([lax.rev(c, (len(shape_of(c)) - 1,)), r[..., 1:]],
                             len(shape_of(c)) - 1)                  # c reversed, then r
    return _take_matrix(values, (m - 1) - np.arange(m)[:, None] + np.arange(n)[None, :])


def circulant(c):
    """The circulant matrices whose first column is c (batched over leading axes)."""
    c, = _vectors(c)
    n = shape_of(c)[-1]
    return _take_matrix(c, (np.arange(n)[:, None] - np.arange(n)[None, :]) % n)


def hankel(c, r=None):
    """The Hankel matrices with first column c and last row r (zeros if None; r[0] is
    ignored), batched over the leading axes of c and r."""
    c = asarray(c)
    if not shape_of(c) or (r is not None and not shape_of(asarray(r))):
        raise ValueError("hankel: c and r must be at least 1-dimensional")
    c, r = _vectors(c, fnp.zeros_like(c) if r is None else r)
    m, n = shape_of(c)[-1], shape_of(r)[-1]
    values = lax.concatenate([c, r[..., 1:]], len(shape_of(c)) - 1)
    return _take_matrix(values, np.arange(m)[:, None] + np.arange(n)[None, :])


def companion(a):
    """The companion matrices of the polynomials with coefficients a along the last axis
    (highest power first): first row -a[1:] / a[0], ones below the diagonal."""
    a, = _inexact(a)
    if not shape_of(a) or shape_of(a)[-1] < 2:
        raise ValueError(f"companion: needs at least two coefficients along the last axis, "
                         f"got shape {shape_of(a)}")
    build = companion_matrix
    for _ in shape_of(a)[:-1]:
        build = vmap(build)
    return build(a)


def hilbert(n):
    """The n x n Hilbert matrix 1 / (i + j + 1), in the default float dtype."""
    i = np.arange(n, dtype=np.float64)
    return asarray((1.0 / (i[:, None] + i[None, :] + 1.0)).astype(dtypes.default_float_dtype()))


def dft(n, scale=None):
    """The n x n discrete Fourier transform matrix exp(-2 pi i j k / n) (complex64), scaled
    by 1/n ("n") or 1/sqrt(n) ("sqrtn")."""
    if scale not in (None, "n", "sqrtn"):
        raise ValueError(f"dft: scale must be None, 'n' or 'sqrtn', got {scale!r}")
    k = np.arange(n)
    m = np.exp(-2j * math.pi * np.outer(k, k) / n)
    m = m / n if scale == "n" else m / math.sqrt(n) if scale == "sqrtn" else m
    return asarray(m.astype(np.complex64))


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
