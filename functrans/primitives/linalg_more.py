"""More linear-algebra primitives, as `jax.lax.linalg` has them: `hessenberg`, `tridiagonal`
and `schur` (LAPACK's gehrd, sytrd/hetrd and gees through SciPy, on the host; no
derivatives, as in JAX), `tridiagonal_solve` (with forward and reverse rules) and
`lu_pivots_to_permutation`. Leading axes are a batch; vmap moves the mapped axis into it."""
from __future__ import annotations

import numpy as np

from ..core import ShapedArray
from .. import dtypes
from ._util import primitive, shape_of, dtype_of, wanted
from .linalg import batch_leading, square_aval, host_batched
from .elementwise import add, sub, mul, neg
from .shape_ops import pad, slice_in_dim, broadcast_in_dim, zeros_or
from .reductions import reduce_sum


def _aval(x):
    """The abstract value of an aval, array, tracer or NumPy value."""
    return x if isinstance(x, ShapedArray) else ShapedArray(tuple(shape_of(x)), dtype_of(x))


def _no_derivative(prim, what):
    def fail(primals, *rest, **params):
        raise NotImplementedError(
            f"{what} has no derivative rule (nor has JAX's); wrap the call in "
            "ft.lax.stop_gradient if its inputs need not be differentiated.")
    prim.jvp = prim.vjp = fail


def _lapack(name, dtype):
    from scipy.linalg import lapack
    return getattr(lapack, {"f": "s", "d": "d", "F": "c", "D": "z"}[np.dtype(dtype).char]
                   + name)


# =============================================================== hessenberg
def _hessenberg_one(a):
    n = a.shape[-1]
    if n == 0:
        return a.copy(), np.zeros((0,), a.dtype)
    h, tau, info = _lapack("gehrd", a.dtype)(a)
    return h.astype(a.dtype), np.resize(tau, n - 1).astype(a.dtype)


def _hessenberg_aval(a):
    square_aval("hessenberg", a)
    n = a.shape[-1]
    return [ShapedArray(a.shape, a.dtype), ShapedArray(a.shape[:-2] + (max(n - 1, 0),), a.dtype)]


def _hessenberg_impl(xp, a):
    return host_batched(_hessenberg_one, xp, _hessenberg_aval(a), a)


hessenberg_p = primitive("hessenberg", _hessenberg_impl, _hessenberg_aval,
                         multiple_results=True)
_no_derivative(hessenberg_p, "hessenberg")
batch_leading(hessenberg_p)


def hessenberg(a):
    """`(a_out, taus)`: the upper Hessenberg form of square `a` as LAPACK's gehrd stores it
    (H in the upper triangle and first subdiagonal, the Householder vectors below, `taus`
    their scales; `householder_product(a_out[..., 1:, :-1], taus)` is Q[1:, 1:])."""
    square_aval("hessenberg", _aval(a))
    a_out, taus = hessenberg_p.bind(a)
    return a_out, taus


# =============================================================== tridiagonal
def _tridiagonal_one(a, lower):
    n = a.shape[-1]
    real = np.finfo(a.dtype).dtype
    if n == 0:
        return a.copy(), np.zeros(0, real), np.zeros(0, real), np.zeros(0, a.dtype)
    fn = _lapack("hetrd" if a.dtype.kind == "c" else "sytrd", a.dtype)
    arr, d, e, tau, info = fn(a, lower=int(lower))
    return arr.astype(a.dtype), d.astype(real), e.astype(real), tau.astype(a.dtype)


def _tridiagonal_aval(a, lower):
    square_aval("tridiagonal", a)
    *batch, n, _ = a.shape
    batch = tuple(batch)
    real = np.finfo(a.dtype).dtype
    m = max(n - 1, 0)
    return [ShapedArray(a.shape, a.dtype), ShapedArray(batch + (n,), real),
            ShapedArray(batch + (m,), real), ShapedArray(batch + (m,), a.dtype)]


def _tridiagonal_impl(xp, a, lower):
    return host_batched(lambda x: _tridiagonal_one(x, lower), xp, _tridiagonal_aval(a, lower), a)


tridiagonal_p = primitive("tridiagonal", _tridiagonal_impl, _tridiagonal_aval,
                          multiple_results=True)
_no_derivative(tridiagonal_p, "tridiagonal")
batch_leading(tridiagonal_p)


def tridiagonal(a, *, lower=True):
    """`(arr, d, e, taus)`: the reduction of Hermitian `a` (its `lower` or upper triangle) to
    real symmetric tridiagonal form T = Q^H a Q, as LAPACK's sytrd/hetrd: `d` the diagonal,
    `e` the off-diagonal, `arr` and `taus` the Householder reflectors of Q."""
    square_aval("tridiagonal", _aval(a))
    arr, d, e, taus = tridiagonal_p.bind(a, lower=bool(lower))
    return arr, d, e, taus


# =============================================================== schur
def _schur_impl(xp, a, compute_schur_vectors, sort_eig_vals):
    import scipy.linalg

    def one(x):
        output = "complex" if x.dtype.kind == "c" else "real"
        t, z = scipy.linalg.schur(x, output=output)[:2] if x.shape[-1] else (x.copy(), x.copy())
        return t.astype(x.dtype), z.astype(x.dtype)
    t, z = host_batched(one, xp, _schur_aval(a, True, sort_eig_vals), a)
    return [t, z] if compute_schur_vectors else [t]


def _schur_aval(a, compute_schur_vectors, sort_eig_vals):
    square_aval("schur", a)
    out = ShapedArray(a.shape, a.dtype)
    return [out, out] if compute_schur_vectors else [out]


schur_p = primitive("schur", _schur_impl, _schur_aval, multiple_results=True)
_no_derivative(schur_p, "schur")
batch_leading(schur_p)


def schur(x, *, compute_schur_vectors=True, sort_eig_vals=False, select_callable=None):
    """`(t, vs)`: the Schur decomposition x = vs t vs^H (real Schur form, quasi-triangular
    t, for real x; triangular for complex x), or `t` alone without `compute_schur_vectors`.
    Eigenvalue sorting is not supported (as on JAX's CPU backend, which ignores it too)."""
    if sort_eig_vals or select_callable is not None:
        raise NotImplementedError("schur: sort_eig_vals and select_callable are not supported;"
                                  " sort the eigenvalues of the result instead")
    square_aval("schur", _aval(x))
    out = schur_p.bind(x, compute_schur_vectors=bool(compute_schur_vectors),
                       sort_eig_vals=False)
    return tuple(out) if compute_schur_vectors else out[0]


# =============================================================== tridiagonal_solve
def _tds_impl(xp, dl, d, du, b):
    import scipy.linalg

    def one(dl1, d1, du1, b1):
        if not d1.shape[0]:
            return (b1,)
        ab = np.stack([np.roll(du1, 1), d1, np.roll(dl1, -1)])       # LAPACK's band storage
        return (scipy.linalg.solve_banded((1, 1), ab, b1),)
    return host_batched(one, xp, [ShapedArray(b.shape, b.dtype)], dl, d, du, b, core_ndim=1)[0]


def _tds_aval(dl, d, du, b):
    _tds_check(dl, d, du, b)
    return ShapedArray(b.shape, b.dtype)


def _tds_check(dl, d, du, b):
    dl, d, du, b = (_aval(v) for v in (dl, d, du, b))
    if not (dl.shape == d.shape == du.shape) or len(d.shape) < 1 or \
            b.shape[:-1] != d.shape:
        raise ValueError(f"tridiagonal_solve: dl, d and du must have one shape (..., m) and b "
                         f"(..., m, n); got dl {dl.shape}, d {d.shape}, du {du.shape}, "
                         f"b {b.shape}")
    if len({dl.dtype, d.dtype, du.dtype, b.dtype}) != 1 or not dtypes.is_inexact(b.dtype):
        raise TypeError(f"tridiagonal_solve: dl, d, du and b need one floating-point or "
                        f"complex dtype; got {dl.dtype}, {d.dtype}, {du.dtype}, {b.dtype}")


tridiagonal_solve_p = primitive("tridiagonal_solve", _tds_impl, _tds_aval)


def _shift(v, k, axis):
    """v shifted along `axis` (negative: from the end) by k places (k > 0: v[i - k] at i),
    zeros entering."""
    nd = len(shape_of(v))
    axis %= nd
    n = shape_of(v)[axis]
    cfg = [(0, 0, 0)] * nd
    cfg[axis] = (k, 0, 0) if k > 0 else (0, -k, 0)
    part = slice_in_dim(v, 0, n - k, axis=axis) if k > 0 else slice_in_dim(v, -k, n, axis=axis)
    return pad(part, 0, cfg)


def _tri_matvec(dl, d, du, x):
    """A x for the tridiagonal A of (dl, d, du) and x (..., m, n)."""
    nd = len(shape_of(x))

    def col(v):
        return broadcast_in_dim(v, shape_of(x), tuple(range(nd - 1)))
    out = add(mul(col(d), x), mul(col(dl), _shift(x, 1, -2)))
    return add(out, mul(col(du), _shift(x, -1, -2)))


def _tds_jvp(primals, tangents):
    dl, d, du, b = primals
    x = tridiagonal_solve_p.bind(dl, d, du, b)
    if all(t is None for t in tangents):
        return x, None
    tdl, td, tdu, tb = [zeros_or(t, p) for t, p in zip(tangents, primals)]
    rhs = sub(tb, _tri_matvec(tdl, td, tdu, x))
    return x, tridiagonal_solve_p.bind(dl, d, du, rhs)


def _tds_vjp(primals, needs):
    dl, d, du, b = primals
    x = tridiagonal_solve_p.bind(dl, d, du, b)
    want = wanted(needs, primals)

    def backward(ct):
        # A^T's subdiagonal is A's superdiagonal moved one place down, and vice versa
        cb = tridiagonal_solve_p.bind(_shift(du, 1, -1), d, _shift(dl, -1, -1), ct)
        last = len(shape_of(x)) - 1
        cd = neg(reduce_sum(mul(cb, x), (last,))) if want[1] else None
        cdl = neg(reduce_sum(mul(cb, _shift(x, 1, -2)), (last,))) if want[0] else None
        cdu = neg(reduce_sum(mul(cb, _shift(x, -1, -2)), (last,))) if want[2] else None
        return cdl, cd, cdu, (cb if want[3] else None)
    return x, backward


tridiagonal_solve_p.jvp, tridiagonal_solve_p.vjp = _tds_jvp, _tds_vjp
batch_leading(tridiagonal_solve_p)


def tridiagonal_solve(dl, d, du, b, *, perturb_singular=False):
    """x with A x = b for the tridiagonal A with subdiagonal `dl` (dl[..., 0] unused),
    diagonal `d` and superdiagonal `du` (du[..., -1] unused); b is (..., m, n). Partial
    pivoting (LAPACK's gtsv through SciPy). `perturb_singular` is accepted and ignored: a
    singular system gives non-finite values or raises as SciPy does."""
    del perturb_singular
    _tds_check(dl, d, du, b)
    return tridiagonal_solve_p.bind(dl, d, du, b)


# =============================================================== lu_pivots_to_permutation
def _pivots_impl(xp, pivots, permutation_size):
    def one(p):
        perm = np.arange(permutation_size, dtype=p.dtype)
        for i, j in enumerate(p):
            perm[i], perm[j] = perm[j], perm[i]
        return (perm,)
    out = ShapedArray(pivots.shape[:-1] + (permutation_size,), pivots.dtype)
    return host_batched(one, xp, [out], pivots, core_ndim=1)[0]


def _pivots_aval(pivots, permutation_size):
    _pivots_check(pivots, permutation_size)
    return ShapedArray(pivots.shape[:-1] + (permutation_size,), pivots.dtype)


def _pivots_check(pivots, permutation_size):
    pivots = _aval(pivots)
    if len(pivots.shape) < 1 or not dtypes.is_integer(pivots.dtype):
        raise TypeError(f"lu_pivots_to_permutation: pivots must be integers of shape (..., k), "
                        f"got {pivots.dtype} of shape {pivots.shape}")
    if permutation_size < pivots.shape[-1]:
        raise ValueError(f"lu_pivots_to_permutation: permutation_size {permutation_size} is "
                         f"smaller than the {pivots.shape[-1]} pivots")


lu_pivots_to_permutation_p = primitive("lu_pivots_to_permutation", _pivots_impl, _pivots_aval)
batch_leading(lu_pivots_to_permutation_p)


def lu_pivots_to_permutation(pivots, permutation_size):
    """The permutation (..., permutation_size) that LAPACK's row swaps `pivots` (row i
    swapped with row pivots[i], in order) make of the identity."""
    _pivots_check(pivots, int(permutation_size))
    return lu_pivots_to_permutation_p.bind(pivots, permutation_size=int(permutation_size))


__all__ = ["hessenberg", "tridiagonal", "schur", "tridiagonal_solve", "lu_pivots_to_permutation",
           "hessenberg_p", "tridiagonal_p", "schur_p", "tridiagonal_solve_p",
           "lu_pivots_to_permutation_p"]
