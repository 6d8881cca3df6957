"""`functrans.scipy.linalg`: SciPy's (and jax.scipy.linalg's) names and arguments over the
linear-algebra primitives, differentiable and batchable over leading axes where the
primitives are: Cholesky and LU factorizations and their solves, triangular solves, `solve`
with `assume_a`, `eigh`, `eigh_tridiagonal`, `svd`, `qr` modes and `qr_multiply`, `expm` and
`expm_frechet`, `polar`, and the structured and special matrices (defined in `._matrices`).

The Schur and Hessenberg decompositions run on the host (SciPy's LAPACK; CuPy has neither),
from any device, eagerly, under jit and vmap, without derivatives (as in JAX). So do
`sqrtm` (SciPy's) and `solve_sylvester` (LAPACK's trsyl on the Schur forms), one primitive
each, whose derivatives of any order are Sylvester equations again; `funm` is Parlett's
recurrence on the complex Schur form."""
from __future__ import annotations

import warnings
from functools import partial

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..api import jvp, vmap
from ..backends import scipy_module, to_host
from ..core import ShapedArray, place_functions as _place_functions
from ..higher_order.custom_derivatives import custom_jvp
from ..lax import linalg as lax_linalg
from ..numpy import linalg as np_linalg
from ..numpy.linalg import hermitian_input
from ..numpy._conversion import asarray, promote_inexact
from ..primitives._util import (bdim_size, broadcast_batched, dtype_of, primitive, shape_of,
                                wanted)
from ..primitives.linalg import adjoint
from ..primitives.shape_ops import zeros_or
from ._matrices import (block_diag, circulant, companion, convolution_matrix, dft,
                        fiedler, fiedler_companion, hadamard, hankel, helmert, hilbert,
                        invhilbert, invpascal, leslie, pascal, toeplitz)

__all__ = ["cholesky", "cho_factor", "cho_solve", "solve_triangular", "lu", "lu_factor",
           "lu_solve", "solve", "inv", "det", "eigh", "svd", "qr", "expm", "polar",
           "block_diag", "toeplitz", "circulant", "hankel", "companion", "hilbert", "dft",
           "schur", "hessenberg", "sqrtm", "expm_frechet", "funm", "solve_sylvester",
           "eigh_tridiagonal", "rsf2csf", "qr_multiply", "pascal", "invpascal", "hadamard",
           "helmert", "leslie", "fiedler", "fiedler_companion", "invhilbert",
           "convolution_matrix"]


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
        y = lax_linalg.triangular_solve(c, b, left_side=True, lower=True)
        x = lax_linalg.triangular_solve(c, y, left_side=True, lower=True, transpose_a=True,
                                        conjugate_a=True)
    else:
        y = lax_linalg.triangular_solve(c, b, left_side=True, lower=False, transpose_a=True,
                                        conjugate_a=True)
        x = lax_linalg.triangular_solve(c, y, left_side=True, lower=False)
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
    x = lax_linalg.triangular_solve(a, b, left_side=True, lower=lower, transpose_a=mode > 0,
                                    conjugate_a=mode == 2, unit_diagonal=unit_diagonal)
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
    # a = P^T L U (rows permuted by perm): op(a) x = b is op(U) op(L) (P x) = b
    y = lax_linalg.triangular_solve(packed, b, left_side=True, lower=False, transpose_a=True,
                                    conjugate_a=mode == 2)
    z = lax_linalg.triangular_solve(packed, y, left_side=True, lower=True, transpose_a=True,
                                    conjugate_a=mode == 2, unit_diagonal=True)
    return restore(lax.scatter_axes(lax.full_like(z, 0), z, perm, axes=(0,)))   # x[perm] = z


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
    too_big = lax.ge(lax.div(norm, _THETA13), 2.0 ** (int(max_squarings) + 1))
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


# -------------------- Schur and Hessenberg forms, square roots, Sylvester equations (on the host)
def _on_host(xp, arrays, compute, outs):
    """`compute` (NumPy matrices -> tuple of matrices) of each matrix of the raw `arrays`
    (equal leading axes) on the host, in one loop over the batch; the results (`outs`:
    (shape, dtype) pairs; zeros where a matrix is empty) back on the arrays' device."""
    hosts = [np.asarray(to_host(a)) for a in arrays]
    results = [np.zeros(shape, dt) for shape, dt in outs]
    if all(min(h.shape[-2:]) for h in hosts):
        for index in np.ndindex(*hosts[0].shape[:-2]):
            for out, got in zip(results, compute(*(h[index] for h in hosts))):
                out[index] = got
    return results if xp is np else [xp.asarray(r) for r in results]


def _complex_dtype(dtype):
    return np.result_type(dtype, np.complex64)


def _schur_impl(xp, a, output):
    dt = a.dtype if output == "real" else _complex_dtype(a.dtype)

    def decompose(m):
        return scipy_module(np, "linalg").schur(m.astype(dt), output=output)
    return _on_host(xp, [a], decompose, [(a.shape, dt)] * 2)


def _schur_aval(a, output):
    dt = a.dtype if output == "real" else _complex_dtype(a.dtype)
    return [ShapedArray(a.shape, dt), ShapedArray(a.shape, dt)]


def _hessenberg_impl(xp, a):
    return _on_host(xp, [a], lambda m: scipy_module(np, "linalg").hessenberg(m, calc_q=True),
                    [(a.shape, a.dtype)] * 2)


def _hessenberg_aval(a):
    return [ShapedArray(a.shape, a.dtype), ShapedArray(a.shape, a.dtype)]


def _batch_leading(prim):
    """vmap: the mapped axis joins the leading (batch) axes of every operand."""
    def batch(vals, dims, **params):
        size = bdim_size(vals, dims)
        out = prim.bind(*(broadcast_batched(v, d, size) for v, d in zip(vals, dims)), **params)
        return out, [0] * len(out) if prim.multiple_results else 0
    prim.batch = batch


def _without_derivatives(prim, name, advice):
    def refuse(primals):
        a, = primals
        raise NotImplementedError(
            f"{name} of a {dtype_of(a)} matrix of shape {shape_of(a)} has no derivative (as "
            f"in JAX). {advice}, or wrap the call in ft.lax.stop_gradient.")

    def jvp_rule(primals, tangents, **params):
        if tangents[0] is not None:
            refuse(primals)
        return prim.bind(*primals, **params), [None, None]

    def vjp_rule(primals, needs, **params):
        return prim.bind(*primals, **params), lambda cts: refuse(primals)
    prim.jvp, prim.vjp = jvp_rule, vjp_rule
    _batch_leading(prim)


schur_p = primitive("schur", _schur_impl, _schur_aval, multiple_results=True)
_without_derivatives(schur_p, "schur", "Differentiate sqrtm or solve_sylvester, which have "
                     "rules of their own")
hessenberg_p = primitive("hessenberg", _hessenberg_impl, _hessenberg_aval,
                         multiple_results=True)
_without_derivatives(hessenberg_p, "hessenberg", "Differentiate a function of the matrix "
                     "that does not go through its factors")


def _schur_eigenvalues(r):
    """The eigenvalues of a Schur form: its diagonal, and those of each 2 x 2 block of a
    real quasi-triangular one in LAPACK's standard form (equal diagonal entries a,
    off-diagonal ones of opposite signs: a +- i sqrt(-bc))."""
    w = np.diag(r).astype(_complex_dtype(r.dtype))
    i = np.flatnonzero(np.diag(r, -1))
    if i.size:
        imag = 1j * np.sqrt(np.abs(r[i, i + 1] * r[i + 1, i]))
        w[i] += imag
        w[i + 1] -= imag
    return w


def _sylvester_one(a, b, c, method, tol):
    """x with `a x + x b = c` for NumPy matrices of one dtype: Bartels-Stewart (LAPACK's
    trsyl on the Schur forms, quasi-triangular for real ones) or through eigenvectors; NaN
    where an eigenvalue of a and one of b sum to less than tol in magnitude."""
    linalg = scipy_module(np, "linalg")
    with np.errstate(all="ignore"):
        if method == "schur":
            (r, u), (s, v) = linalg.schur(a), linalg.schur(b)
            y, scale, _ = linalg.get_lapack_funcs(("trsyl",), (r, s))[0](
                r, s, u.conj().T @ c @ v)
            x = u @ y @ v.conj().T / scale
            wa, wb = _schur_eigenvalues(r), _schur_eigenvalues(s)
        else:
            wa, ua = np.linalg.eig(a)
            wb, ub = np.linalg.eig(b)
            f = np.linalg.solve(ua, c @ ub)
            x = ua @ (f / (wa[:, None] + wb[None, :])) @ np.linalg.inv(ub)
    if np.any(np.abs(wa[:, None] + wb[None, :]) < tol):
        x = np.full_like(x, np.nan)
    return (x if c.dtype.kind == "c" else x.real).astype(c.dtype),


def _sylvester_impl(xp, a, b, c, method, tol):
    return _on_host(xp, [a, b, c], partial(_sylvester_one, method=method, tol=tol),
                    [(c.shape, c.dtype)])[0]


def _sylvester_aval(a, b, c, method, tol):
    return ShapedArray(c.shape, c.dtype)


def _T(x):
    return fnp.swapaxes(x, -1, -2)


def _sylvester_jvp(primals, tangents, method, tol):
    """a dx + dx b = dc - da x - x db."""
    a, b, c = primals
    da, db, dc = tangents
    x = sylvester_p.bind(a, b, c, method=method, tol=tol)
    if da is None and db is None and dc is None:
        return x, None
    rhs = zeros_or(dc, x)
    if da is not None:
        rhs = rhs - np_linalg.matmul(da, x)
    if db is not None:
        rhs = rhs - np_linalg.matmul(x, db)
    return x, sylvester_p.bind(a, b, rhs, method=method, tol=tol)


def _sylvester_vjp(primals, needs, method, tol):
    """The transposed equation `a^T l + l b^T = ct` gives c's cotangent l, and a's and b's
    are `-l x^T` and `-x^T l` (transposes, not adjoints, for complex ones: JAX's rule)."""
    a, b, c = primals
    x = sylvester_p.bind(a, b, c, method=method, tol=tol)
    want_a, want_b, want_c = wanted(needs, primals)

    def backward(ct):
        lam = sylvester_p.bind(_T(a), _T(b), ct, method=method, tol=tol)
        return (-np_linalg.matmul(lam, _T(x)) if want_a else None,
                -np_linalg.matmul(_T(x), lam) if want_b else None, lam if want_c else None)
    return x, backward


sylvester_p = primitive("sylvester", _sylvester_impl, _sylvester_aval)
sylvester_p.jvp, sylvester_p.vjp = _sylvester_jvp, _sylvester_vjp
_batch_leading(sylvester_p)


def _sqrtm_one(a, dtype):
    """The principal square root of NumPy matrix a, SciPy's (real arithmetic on the real
    Schur form where the root is real), as `dtype`; all NaN where it has none (a zero sum
    of two eigenvalues' roots, which SciPy answers with infinities: JAX's NaN)."""
    linalg = scipy_module(np, "linalg")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        x = linalg.sqrtm(a).astype(dtype)
    return x if np.isfinite(x).all() else np.full_like(x, np.nan),


def _sqrtm_impl(xp, a):
    dt = _complex_dtype(a.dtype)
    return _on_host(xp, [a], partial(_sqrtm_one, dtype=dt), [(a.shape, dt)])[0]


def _sqrtm_jvp(primals, tangents):
    """x dx + dx x = da."""
    x = sqrtm_p.bind(*primals)
    da, = tangents
    if da is None:
        return x, None
    da = lax.convert_element_type(da, dtype_of(x))
    return x, sylvester_p.bind(x, x, da, method="schur", tol=0.0)


def _sqrtm_vjp(primals, needs):
    a, = primals
    x = sqrtm_p.bind(a)

    def backward(ct):
        lam = sylvester_p.bind(_T(x), _T(x), ct, method="schur", tol=0.0)
        return (lam if dtype_of(a).kind == "c" else fnp.real(lam)),
    return x, backward


sqrtm_p = primitive("sqrtm", _sqrtm_impl,
                    lambda a: ShapedArray(a.shape, _complex_dtype(a.dtype)))
sqrtm_p.jvp, sqrtm_p.vjp = _sqrtm_jvp, _sqrtm_vjp
_batch_leading(sqrtm_p)


def schur(a, output="real"):
    """`(t, z)` with `a = z @ t @ z^H`, z unitary: t upper triangular ("complex"), or
    quasi-triangular with 2 x 2 blocks for complex eigenvalue pairs ("real"; complex input
    gets the complex form). Batched over leading axes; no derivatives."""
    if output not in ("real", "complex"):
        raise ValueError(f"schur: output must be 'real' or 'complex', got {output!r}")
    a, = _inexact(a)
    _square(a, "schur")
    t, z = schur_p.bind(a, output=output)
    return t, z


def hessenberg(a, *, calc_q=False, overwrite_a=False, check_finite=True):
    """The upper Hessenberg form h of `a` (zero below the first subdiagonal), with
    `a = q @ h @ q^H`, q unitary; `(h, q)` with `calc_q`. Batched; no derivatives."""
    a, = _inexact(a)
    _square(a, "hessenberg")
    h, q = hessenberg_p.bind(a)
    return (h, q) if calc_q else h


# ---------------------------------------------------------------- on the Schur form
def _diag(x):
    return fnp.diagonal(x, axis1=-2, axis2=-1)


def sqrtm(A, blocksize=1):
    """The principal square root x of square `A` (`x @ x = A`), complex as in JAX, by
    SciPy's Schur method on the host; NaN where A has none (as JAX). Batched over leading
    axes; differentiable (to any order: `x dx + dx x = dA`, a Sylvester equation) where A
    has no eigenvalues on the closed negative real axis."""
    if blocksize > 1:
        raise NotImplementedError("sqrtm: blocksize > 1 is not supported (as in JAX)")
    A, = _inexact(A)
    _square(A, "sqrtm")
    if not shape_of(A)[-1]:
        return lax.convert_element_type(A, _complex_dtype(dtype_of(A)))
    return sqrtm_p.bind(A)


def expm_frechet(A, E, *, method=None, compute_expm=True):
    """The Frechet derivative of `expm` at `A` in the direction `E` (its jvp), and
    `expm(A)` first with `compute_expm`: `(expm(A), L(A, E))` or `L(A, E)`."""
    A, E = _inexact(A, E)
    _square(A, "expm_frechet")
    _square(E, "expm_frechet")
    if shape_of(A) != shape_of(E):
        raise ValueError(f"expm_frechet: A and E must have the same shape, got "
                         f"{shape_of(A)} and {shape_of(E)}")
    value, derivative = jvp(expm, (A,), (E,))
    return (value, derivative) if compute_expm else derivative


def funm(A, func, disp=True):
    """`func` of square 2-d `A` as a matrix function, from `func` of its eigenvalues
    (`func` takes and returns a 1-d array) by Parlett's recurrence on the complex Schur
    form (Golub and Van Loan, algorithm 11.1.1); complex, as in JAX. With `disp=False`,
    `(F, err)`, err an estimate of the relative error (SciPy's)."""
    A, = _inexact(A)
    if len(shape_of(A)) != 2 or shape_of(A)[0] != shape_of(A)[1]:
        raise ValueError(f"funm: needs one square matrix (shape (n, n)), got shape "
                         f"{shape_of(A)}")
    t, z = schur(A, output="complex")
    n = shape_of(A)[0]
    d = _diag(t)
    f = fnp.diag(asarray(func(d)).astype(dtype_of(t)))
    gap = d[None, :] - d[:, None]                   # t_jj - t_ii
    safe_gap = fnp.where(gap == 0, 1, gap)
    t_columns = _T(t)
    for p in range(1, n):   # the p-th superdiagonal (i, i + p) from the ones below it:
        # f_ij (t_jj - t_ii) = (t f - f t)_ij with f_ij still 0, each entry a row dot a column
        commutator = (fnp.sum(t[:n - p] * _T(f)[p:], -1) -
                      fnp.sum(f[:n - p] * t_columns[p:], -1))
        f = f + fnp.diag(commutator / fnp.diagonal(safe_gap, p), p)
    f = np_linalg.matmul(np_linalg.matmul(z, f), adjoint(z))
    rows = np.arange(n)
    if disp:
        return f
    upper = asarray(rows[None, :] > rows[:, None])
    minden = fnp.min(fnp.where(upper, fnp.abs(gap), fnp.abs(t[0, 0])))
    tol = np.finfo(dtype_of(A)).eps
    minden = fnp.where(minden == 0, tol, minden)
    off = fnp.max(fnp.sum(fnp.abs(fnp.triu(t, 1)), axis=0))
    err = fnp.where(fnp.any(fnp.isinf(f)), np.inf,
                    fnp.minimum(1, fnp.maximum(tol, (tol / minden) * off)))
    return f, err


def solve_sylvester(A, B, C, *, method="schur", tol=1e-8):
    """x with `A x + x B = C` (A (…, m, m), B (…, n, n), C (…, m, n), batch axes
    broadcast), on the host: by Bartels-Stewart on the Schur forms ("schur", LAPACK's
    trsyl) or through eigenvectors ("eigen"); real for real C; NaN where an eigenvalue of A
    and one of B sum to less than `tol` in magnitude (no unique solution). Differentiable
    to any order (`A dx + dx B = dC - dA x - x dB`)."""
    if method not in ("schur", "eigen"):
        raise ValueError(f"solve_sylvester: method must be 'schur' or 'eigen', got {method!r}")
    A, B, C = _inexact(A, B, C)
    _square(A, "solve_sylvester")
    _square(B, "solve_sylvester")
    _matrix(C, "solve_sylvester")
    m, n = shape_of(A)[-1], shape_of(B)[-1]
    if shape_of(C)[-2:] != (m, n):
        raise ValueError(f"solve_sylvester: C must be (…, {m}, {n}) for A {shape_of(A)} and "
                         f"B {shape_of(B)}, got {shape_of(C)}")
    batch = fnp.broadcast_shapes(shape_of(A)[:-2], shape_of(B)[:-2], shape_of(C)[:-2])
    A, B, C = (x if shape_of(x)[:-2] == batch else fnp.broadcast_to(x, batch + shape_of(x)[-2:])
               for x in (A, B, C))
    return sylvester_p.bind(A, B, C, method=method, tol=float(tol))


def eigh_tridiagonal(d, e, *, eigvals_only=False, select="a", select_range=None, tol=None,
                     key=None):
    """Eigenvalues (ascending), and eigenvectors unless `eigvals_only`, of the real
    symmetric tridiagonal matrix with diagonal `d` (n,) and off-diagonal `e` (n - 1,);
    `select="i"` keeps those with indices `select_range[0] <= i <= select_range[1]`.
    Through `eigh` of the matrix: differentiable; `tol` and `key` are not needed."""
    if select not in ("a", "i"):
        raise NotImplementedError(f"eigh_tridiagonal: select must be 'a' or 'i' (as in "
                                  f"JAX), got {select!r}")
    d, e = _inexact(d, e)
    n = shape_of(d)[-1] if shape_of(d) else 0
    if len(shape_of(d)) != 1 or shape_of(e) != (max(n - 1, 0),):
        raise ValueError(f"eigh_tridiagonal: d must be (n,) and e (n - 1,), got shapes "
                         f"{shape_of(d)} and {shape_of(e)}")
    if dtype_of(d).kind == "c" or dtype_of(e).kind == "c":
        raise ValueError("eigh_tridiagonal: d and e must be real")
    w, v = np_linalg.eigh(fnp.diag(d) + fnp.diag(e, 1) + fnp.diag(e, -1))
    if select == "i":
        if select_range is None:
            raise ValueError("eigh_tridiagonal: select='i' needs select_range=(lo, hi)")
        lo, hi = (int(i) for i in select_range)
        w, v = w[lo:hi + 1], v[:, lo:hi + 1]
    return w if eigvals_only else (w, v)


def rsf2csf(T, Z, check_finite=True):
    """The complex Schur form `(t, z)` from the real one `(T, Z)` of `schur`: each 2 x 2
    block of a complex eigenvalue pair is made triangular by a Givens rotation (applied to
    T's rows and columns and Z's columns), from the bottom up. Batched over leading axes."""
    T, Z = _inexact(T, Z)
    _square(T, "rsf2csf")
    _square(Z, "rsf2csf")
    n = shape_of(T)[-1]
    if shape_of(Z)[-1] != n:
        raise ValueError(f"rsf2csf: T and Z must be n x n alike, got shapes {shape_of(T)} "
                         f"and {shape_of(Z)}")
    ct = _complex_dtype(dtype_of(T))
    batch = fnp.broadcast_shapes(shape_of(T)[:-2], shape_of(Z)[:-2])
    t, z = (fnp.broadcast_to(x, batch + (n, n)).astype(ct) for x in (T, Z))
    eps = np.finfo(ct).eps
    mm = np_linalg.matmul
    for m in range(n - 1, 0, -1):
        sub = t[..., m, m - 1]
        block = t[..., m - 1:m + 1, m - 1:m + 1]
        mu = np_linalg.eigvals(block)[..., 0] - t[..., m, m]
        r = fnp.sqrt(fnp.abs(mu) ** 2 + fnp.abs(sub) ** 2).astype(ct)
        r = fnp.where(r == 0, 1, r)
        c, s = mu / r, sub / r
        g = fnp.stack([fnp.stack([fnp.conj(c), s], -1), fnp.stack([-s, c], -1)], -2)
        rotated = t.at[..., m - 1:m + 1, m - 1:].set(mm(g, t[..., m - 1:m + 1, m - 1:]))
        rotated = rotated.at[..., :m + 1, m - 1:m + 1].set(
            mm(rotated[..., :m + 1, m - 1:m + 1], adjoint(g)))
        z_rotated = z.at[..., :, m - 1:m + 1].set(mm(z[..., :, m - 1:m + 1], adjoint(g)))
        split = (fnp.abs(sub) > eps * (fnp.abs(t[..., m - 1, m - 1]) + fnp.abs(t[..., m, m])))
        t = fnp.where(split[..., None, None], rotated, t).at[..., m, m - 1].set(0)
        z = fnp.where(split[..., None, None], z_rotated, z)
    return t, z


def qr_multiply(a, c, mode="right", pivoting=False, conjugate=False, overwrite_a=False,
                overwrite_c=False):
    """`(q @ c, r)` ("left") or `(c @ q, r)` ("right") from the economic QR decomposition
    `a = q @ r` (q (…, m, k), r (…, k, n), k = min(m, n)), without returning q; `conjugate`
    uses conj(q). A 1-d c is a vector. Pivoting is not supported."""
    if mode not in ("left", "right"):
        raise ValueError(f"qr_multiply: mode must be 'left' or 'right', got {mode!r}")
    if pivoting:
        raise NotImplementedError("qr_multiply: pivoting=True is not supported")
    a, c = _inexact(a, c)
    _matrix(a, "qr_multiply")
    q, r = np_linalg.qr(a, mode="reduced")
    q = fnp.conj(q) if conjugate else q
    vector = len(shape_of(c)) == 1
    rows = shape_of(q)[-1] if mode == "left" else shape_of(q)[-2]
    along = shape_of(c)[0] if vector else shape_of(c)[-2 if mode == "left" else -1]
    if along != rows:
        raise ValueError(f"qr_multiply: c of shape {shape_of(c)} does not fit q of shape "
                         f"{shape_of(q)} for mode {mode!r} (needs {rows} "
                         f"{'rows' if mode == 'left' else 'columns'})")
    return (np_linalg.matmul(q, c) if mode == "left" else np_linalg.matmul(c, q)), r


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
