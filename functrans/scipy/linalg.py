"""`functrans.scipy.linalg`: SciPy's (and jax.scipy.linalg's) names and arguments over the
linear-algebra primitives, differentiable and batchable over leading axes where the
primitives are: Cholesky and LU factorizations and their solves, triangular solves, `solve`
with `assume_a`, `eigh`, `eigh_tridiagonal`, `svd`, `qr` modes and `qr_multiply`, `expm` and
`expm_frechet`, `polar`, and the structured and special matrices (defined in `._matrices`).

The Schur and Hessenberg decompositions run on the host (SciPy's LAPACK; CuPy has neither),
from any device, eagerly, under jit and vmap, without derivatives (as in JAX); `sqrtm`,
`funm` and `solve_sylvester` are built on the complex Schur form, and `sqrtm` and
`solve_sylvester` have first derivatives of their own (a Sylvester equation)."""
from __future__ import annotations

from functools import partial

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..api import jvp, vmap
from ..backends import scipy_module, to_host
from ..core import ShapedArray, on_operand_device, place_functions as _place_functions
from ..higher_order.custom_derivatives import custom_jvp
from ..lax import linalg as lax_linalg
from ..numpy import linalg as np_linalg
from ..numpy.linalg import hermitian_input
from ..numpy._conversion import asarray, promote_inexact
from ..primitives._util import bdim_size, broadcast_batched, dtype_of, primitive, shape_of
from ..primitives.linalg import adjoint
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


# ---------------------------------------------- Schur and Hessenberg forms (on the host)
def _on_host(xp, a, decompose, dtypes_out):
    """`decompose` (NumPy matrix -> tuple of matrices) of each matrix of raw `a` on the
    host, the results (of `dtypes_out`) back on a's device."""
    host = np.asarray(to_host(a))
    outs = [np.zeros(host.shape, dt) for dt in dtypes_out]
    if host.shape[-1]:
        for index in np.ndindex(*host.shape[:-2]):
            for out, got in zip(outs, decompose(host[index])):
                out[index] = got
    return outs if xp is np else [xp.asarray(o) for o in outs]


def _complex_dtype(dtype):
    return np.result_type(dtype, np.complex64)


def _schur_impl(xp, a, output):
    dt = a.dtype if output == "real" else _complex_dtype(a.dtype)
    return _on_host(xp, a, lambda m: scipy_module(np, "linalg").schur(m.astype(dt), output=output),
                    (dt, dt))


def _schur_aval(a, output):
    dt = a.dtype if output == "real" else _complex_dtype(a.dtype)
    return [ShapedArray(a.shape, dt), ShapedArray(a.shape, dt)]


def _hessenberg_impl(xp, a):
    return _on_host(xp, a, lambda m: scipy_module(np, "linalg").hessenberg(m, calc_q=True),
                    (a.dtype, a.dtype))


def _hessenberg_aval(a):
    return [ShapedArray(a.shape, a.dtype), ShapedArray(a.shape, a.dtype)]


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

    def batch(vals, dims, **params):
        x = broadcast_batched(vals[0], dims[0], bdim_size(vals, dims))
        return prim.bind(x, **params), [0, 0]
    prim.jvp, prim.vjp, prim.batch = jvp_rule, vjp_rule, batch


schur_p = primitive("schur", _schur_impl, _schur_aval, multiple_results=True)
_without_derivatives(schur_p, "schur", "Differentiate sqrtm or solve_sylvester, which have "
                     "rules of their own")
hessenberg_p = primitive("hessenberg", _hessenberg_impl, _hessenberg_aval,
                         multiple_results=True)
_without_derivatives(hessenberg_p, "hessenberg", "Differentiate a function of the matrix "
                     "that does not go through its factors")


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


# -------------------------------------------------------- on the complex Schur form
def _diag(x):
    return fnp.diagonal(x, axis1=-2, axis2=-1)


def _sylvester_triangular(r, s, f, nonzero=False):
    """y with `r y + y s = f` for upper triangular r (…, m, m) and s (…, n, n), one column
    after the other (Bartels-Stewart): `(r + s_kk) y_k = f_k - sum_{j<k} s_jk y_j`, linear
    in f. `nonzero` solves a zero denominator r_ii + s_kk as if it were one."""
    m, n = shape_of(f)[-2:]
    eye = fnp.eye(m, dtype=dtype_of(r))
    cols = []
    for k in range(n):
        rhs = f[..., :, k]
        if k:
            rhs = rhs - np_linalg.matmul(fnp.stack(cols, -1), s[..., :k, k:k + 1])[..., 0]
        system = r + s[..., k, k][..., None, None] * eye
        if nonzero:
            system = system + fnp.where(_diag(system) == 0, 1, 0)[..., None] * eye
        cols.append(lax_linalg.triangular_solve(system, rhs[..., None], lower=False)[..., 0])
    return fnp.stack(cols, -1) if cols else f


def _sqrtm_parts(a):
    """`(x, u, z)`: x the principal square root of complex a, from its Schur form
    `a = z t z^H` and u the upper triangular root of t (`u^2 = t`), found column by column
    (Bjorck and Hammarling): `(u[:j, :j] + u_jj) u[:j, j] = t[:j, j]`."""
    t, z = schur_p.bind(a, output="complex")
    n = shape_of(a)[-1]
    root = fnp.sqrt(_diag(t))
    cols = []
    for j in range(n):
        above = []
        if j:
            above = [_sylvester_triangular(fnp.stack(cols, -1)[..., :j, :],
                                           root[..., j, None, None], t[..., :j, j:j + 1],
                                           nonzero=True)[..., 0]]
        below = fnp.zeros(shape_of(a)[:-2] + (n - j - 1,), dtype_of(a))
        cols.append(fnp.concatenate(above + [root[..., j:j + 1], below], -1))
    u = fnp.stack(cols, -1)
    return np_linalg.matmul(np_linalg.matmul(z, u), adjoint(z)), u, z


def _on_primals_device(position):
    """A jvp rule run on the device of its primals (argument `position`): the constants it
    makes must meet them, and it runs where the primals are differentiated, which may be
    outside the placement of the function that bound it (grad of a jitted function)."""
    return lambda rule: on_operand_device(rule, lambda args, kwargs: args[position])


@custom_jvp
def _sqrtm(a):
    return _sqrtm_parts(a)[0]


@_sqrtm.defjvp
@_on_primals_device(0)
def _sqrtm_jvp(primals, tangents):
    """x dx + dx x = da, solved in x's Schur frame: u y + y u = z^H da z, dx = z y z^H."""
    a, = primals
    da, = tangents
    x, u, z = _sqrtm_parts(a)
    mm = np_linalg.matmul
    y = _sylvester_triangular(u, u, mm(mm(adjoint(z), da), z))
    return x, mm(mm(z, y), adjoint(z))


def sqrtm(A, blocksize=1):
    """The principal square root x of square `A` (`x @ x = A`), complex as in JAX, through
    the complex Schur form. Batched over leading axes; differentiable (first order) where
    A has no eigenvalues on the closed negative real axis."""
    if blocksize > 1:
        raise NotImplementedError("sqrtm: blocksize > 1 is not supported (as in JAX)")
    A, = _inexact(A)
    _square(A, "sqrtm")
    A = lax.convert_element_type(A, _complex_dtype(dtype_of(A)))
    return _sqrtm(A) if shape_of(A)[-1] else A


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
    rows = np.arange(n)
    for p in range(1, n):               # the p-th superdiagonal from the ones below it
        band = asarray(rows[None, :] - rows[:, None] == p)
        commutator = np_linalg.matmul(t, f) - np_linalg.matmul(f, t)
        f = fnp.where(band, commutator / safe_gap, f)
    f = np_linalg.matmul(np_linalg.matmul(z, f), adjoint(z))
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


def _sylvester(a, b, c, method, tol):
    """x with `a x + x b = c`: through the complex Schur forms of a and b ("schur"), or
    their eigenvectors ("eigen"); NaN where eigenvalues of a and -b are within tol."""
    ct = _complex_dtype(dtype_of(c))
    mm = np_linalg.matmul
    if method == "schur":
        r, u = schur_p.bind(lax.convert_element_type(a, ct), output="complex")
        s, v = schur_p.bind(lax.convert_element_type(b, ct), output="complex")
        y = _sylvester_triangular(r, s, mm(mm(adjoint(u), c.astype(ct)), v), nonzero=True)
        x, wa, wb = mm(mm(u, y), adjoint(v)), _diag(r), _diag(s)
    else:
        wa, ua = np_linalg.eig(a)
        wb, ub = np_linalg.eig(b)
        f = np_linalg.solve(ua, mm(c.astype(wa.dtype), ub))
        x = mm(mm(ua, f / (wa[..., :, None] + wb[..., None, :])), np_linalg.inv(ub))
    if dtype_of(c).kind != "c":
        x = fnp.real(x)
    close = fnp.any(fnp.abs(wa[..., :, None] + wb[..., None, :]) < tol, axis=(-2, -1))
    return fnp.where(close[..., None, None], np.nan, x)


@partial(custom_jvp, nondiff_argnums=(3, 4))
def _solve_sylvester(a, b, c, method, tol):
    return _sylvester(a, b, c, method, tol)


@_solve_sylvester.defjvp
@_on_primals_device(2)
def _solve_sylvester_jvp(method, tol, primals, tangents):
    """a dx + dx b = dc - da x - x db."""
    a, b, c = primals
    da, db, dc = tangents
    x = _sylvester(a, b, c, method, tol)
    rhs = dc - np_linalg.matmul(da, x) - np_linalg.matmul(x, db)
    return x, _sylvester(a, b, rhs, method, tol)


def solve_sylvester(A, B, C, *, method="schur", tol=1e-8):
    """x with `A x + x B = C` (A (…, m, m), B (…, n, n), C (…, m, n), batch axes
    broadcast), by Bartels-Stewart on the complex Schur forms ("schur") or through
    eigenvectors ("eigen"); real for real C; NaN where an eigenvalue of A and one of B sum
    to less than `tol` in magnitude (no unique solution). Differentiable (first order)."""
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
    A, B, C = (fnp.broadcast_to(x, batch + shape_of(x)[-2:]) for x in (A, B, C))
    return _solve_sylvester(A, B, C, method, float(tol))


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
