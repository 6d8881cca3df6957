"""Taylor rules of `jet` for the matrix factorizations and solves.

Each output series follows from the identity its primitive satisfies (`op(A) X = B`,
`L L^H = A`, `P A = L U`, `A V = V diag(w)` with `V^T V = I`, `A = Q R` with `Q^T Q = I`):
the coefficient `k` of the identity is linear in the unknown coefficient `k` of the output,
with the same operator as the primitive's jvp, and a right-hand side made of the lower
coefficients. So term `k` is the jvp's map (or its formula) applied to a corrected tangent,
at O(K^2) matrix products.
"""
from __future__ import annotations

import functools
import operator

from ...core import get_aval
from ...primitives.elementwise import mul, sub
from ...primitives.indexing import add_along_axis
from ...primitives.linalg import (adjoint, bmm, cholesky_p, diag_matrix, diag_part, eigh_p,
                                  gap_reciprocals, lu_p, mT, qr_p, svd_p,
                                  tri_mask, triangular_solve_p)
from ...primitives.shape_ops import broadcast_in_dim, full_like

__all__ = ["LINALG_RULES"]


def _sum(parts):
    return functools.reduce(operator.add, parts)


def _order(ts):
    return len(next(t for t in ts if t is not None))


def _triangular_solve(prim, xs, ts, params):
    """`op(A) X = B`: `X_k = op(A_0)^-1 (B_k - sum_{i >= 1} op(A_i) X_(k-i))`, `A_i` read
    as the primitive reads `A` (one triangle, no diagonal where it is a unit one)."""
    (a, b), (ta, tb) = xs, ts
    lower, unit = params["lower"], params["unit_diagonal"]
    x = [prim.bind(a, b, **params)]
    ops = []
    for c in ta or ():
        part = tri_mask(c, (-1 if unit else 0) * (1 if lower else -1), upper=not lower)
        ops.append(mT(part) if params["transpose_a"] else part)
    for k in range(1, _order(ts) + 1):
        parts = [bmm(ops[i - 1], x[k - i]) for i in range(1, k + 1)] if ops else []
        rhs = tb[k - 1] if tb is not None else None
        if parts:
            rhs = sub(rhs, _sum(parts)) if rhs is not None else -_sum(parts)
        x.append(prim.bind(a, rhs, **params))
    return x[0], x[1:]


def _cholesky(prim, xs, ts, params):
    """`L L^H = A`: `L_0 L_k^H + L_k L_0^H = A_k - sum_{0 < i < k} L_i L_(k-i)^H`, which the
    jvp solves (its tangent `A_k` corrected by the sum)."""
    a, ta = xs[0], ts[0]
    out = prim.bind(a, **params)
    ls = [out]
    for k in range(1, len(ta) + 1):
        s = ta[k - 1]
        if k > 1:
            s = sub(s, _sum([bmm(ls[i], adjoint(ls[k - i])) for i in range(1, k)]))
        ls.append(prim.jvp([a], [s], **params)[1])
    return out, ls[1:]


def _lu(prim, xs, ts, params):
    """`P A = L U` (square): `L_0 U_k + L_k U_0 = P A_k - sum_{0 < i < k} L_i U_(k-i)`,
    solved by the jvp with the tangent `A_k - P^T sum(...)`; pivots and permutation are
    the primal's."""
    a, ta = xs[0], ts[0]
    m, n = get_aval(a).shape[-2:]
    if m != n:
        return None
    outs = prim.bind(a, **params)
    lu, perm = outs[0], outs[2]
    lus = [lu]
    for k in range(1, len(ta) + 1):
        t = ta[k - 1]
        if k > 1:
            s = _sum([bmm(tri_mask(lus[i], -1, upper=False), tri_mask(lus[k - i], 0, upper=True))
                      for i in range(1, k)])
            t = sub(t, _unpermute_rows(s, perm))
        lus.append(prim.jvp([a], [t], **params)[1][0])
    return outs, [lus[1:], None, None]


def _unpermute_rows(x, perm):
    """`y` with `y[..., perm, :] = x`."""
    shape = get_aval(x).shape
    rank = len(shape)
    index = broadcast_in_dim(perm, shape, tuple(range(rank - 1)))
    return add_along_axis(full_like(x, 0), index, x, rank - 2, mode="promise_in_bounds")


def _eigh(prim, xs, ts, params):
    """`A V = V W`, `V^T V = I` (real): with `C = V_0^T V_k` and `E = V_0^T (A_k V_0 +
    sum_{0 < i < k} (A_i V_(k-i) - V_i W_(k-i)))`, `W_k = diag(E)`, `C_ij = E_ij / (w_j -
    w_i)` off the diagonal and `C_ii = -R_ii / 2`, `R = sum_{0 < i < k} V_i^T V_(k-i)`."""
    a, ta = xs[0], ts[0]
    if get_aval(a).dtype.kind == "c":
        return None
    w0, v0 = outs = prim.bind(a, **params)
    gaps = gap_reciprocals(w0)
    sym = [None] + [mul(c + mT(c), 0.5) for c in ta]
    w, v = [w0], [v0]
    for k in range(1, len(ta) + 1):
        rest = [bmm(sym[k], v0)] + [sub(bmm(sym[i], v[k - i]), bmm(v[i], diag_matrix(w[k - i])))
                                    for i in range(1, k)]
        e = bmm(mT(v0), _sum(rest))
        c = mul(gaps, e)
        if k > 1:
            r = _sum([bmm(mT(v[i]), v[k - i]) for i in range(1, k)])
            c = sub(c, diag_matrix(mul(diag_part(r), 0.5)))
        w.append(diag_part(e))
        v.append(bmm(v0, c))
    return outs, [w[1:], v[1:]]


def _qr(prim, xs, ts, params):
    """Reduced QR of a real tall matrix: `Q_0 R_k + Q_k R_0 = A_k - sum_{0 < i < k} Q_i
    R_(k-i)`, `Q_0^T Q_k + Q_k^T Q_0 = -N`, `N = sum_{0 < i < k} Q_i^T Q_(k-i)`. The jvp,
    with that tangent, solves the first with `Q_0^T dQ` antisymmetric; `Q_k = dQ + Q_0 X`,
    `R_k = dR - X R_0` with the upper triangular `X = -(triu(N, 1) + diag(N) / 2)` solves
    both."""
    a, ta = xs[0], ts[0]
    m, n = get_aval(a).shape[-2:]
    if params["pivoting"] or m < n or get_aval(a).dtype.kind == "c":
        return None
    outs = prim.bind(a, **params)
    q, r = [outs[0]], [outs[1]]
    for k in range(1, len(ta) + 1):
        t = ta[k - 1]
        if k > 1:
            t = sub(t, _sum([bmm(q[i], r[k - i]) for i in range(1, k)]))
        dq, dr = prim.jvp([a], [t], **params)[1][:2]
        if k > 1:
            nn = _sum([bmm(mT(q[i]), q[k - i]) for i in range(1, k)])
            x = -(tri_mask(nn, 1, upper=True) + diag_matrix(mul(diag_part(nn), 0.5)))
            dq, dr = dq + bmm(q[0], x), sub(dr, bmm(x, r[0]))
        q.append(dq)
        r.append(dr)
    return outs, [q[1:], r[1:]] + [None] * (len(outs) - 2)


def _svd(prim, xs, ts, params):
    """Thin SVD of a real matrix with `m >= n`: `A = U S V^T`, `U^T U = V^T V = I`. With
    `R` the part of `A_k` made of lower terms, `P = U_0^T (A_k - R) V_0`, `N_u`, `N_v` the
    lower parts of `U^T U`, `V^T V` and `P' = P + (N_u S + S N_v) / 2`: `S_k = diag(P) +
    s (diag(N_u) + diag(N_v)) / 2`, `U_0^T U_k = F o (P' S + S P'^T) - N_u / 2`, `V_0^T V_k =
    F o (S P' + P'^T S) - N_v / 2` (`F_ij = 1 / (s_j^2 - s_i^2)`), and `U_k` has the part
    `(I - U_0 U_0^T) (A_k - R) V_0 S^-1` outside `U_0`'s columns (none where `m = n`)."""
    a, ta = xs[0], ts[0]
    m, n = get_aval(a).shape[-2:]
    if m < n or (params["full_matrices"] and params["compute_uv"] and m != n) or \
            get_aval(a).dtype.kind == "c":
        return None
    outs = prim.bind(a, **params)
    s0, u0, vt0 = prim.bind(a, full_matrices=False, compute_uv=True)
    v0 = mT(vt0)
    f, smat = gap_reciprocals(s0, squared=True), diag_matrix(s0)
    s, u, v = [s0], [u0], [v0]
    for k in range(1, len(ta) + 1):
        lower = [(i, j, k - i - j) for i in range(k) for j in range(min(k - i + 1, k))
                 if k - i - j < k]
        rest = ta[k - 1]
        if k > 1:
            rest = sub(rest, _sum([bmm(bmm(u[i], diag_matrix(s[j])), mT(v[h]))
                                   for i, j, h in lower]))
        rest_v = bmm(rest, v0)
        p = bmm(mT(u0), rest_v)
        s_k = diag_part(p)
        if k > 1:
            nu = _sum([bmm(mT(u[i]), u[k - i]) for i in range(1, k)])
            nv = _sum([bmm(mT(v[i]), v[k - i]) for i in range(1, k)])
            p = p + mul(bmm(nu, smat) + bmm(smat, nv), 0.5)
            s_k = s_k + mul(s0, mul(diag_part(nu) + diag_part(nv), 0.5))
        c = mul(f, bmm(p, smat) + bmm(smat, mT(p)))
        d = mul(f, bmm(smat, p) + bmm(mT(p), smat))
        if k > 1:
            c, d = sub(c, mul(nu, 0.5)), sub(d, mul(nv, 0.5))
        u_k = bmm(u0, c)
        if m > n:
            outside = sub(rest_v, bmm(u0, bmm(mT(u0), rest_v)))
            u_k = u_k + bmm(outside, diag_matrix(1 / s0))
        s.append(s_k)
        u.append(u_k)
        v.append(bmm(v0, d))
    if not params["compute_uv"]:
        return outs, [s[1:]]
    return outs, [s[1:], u[1:], [mT(c) for c in v[1:]]]


LINALG_RULES = {triangular_solve_p: _triangular_solve, cholesky_p: _cholesky, lu_p: _lu,
                eigh_p: _eigh, qr_p: _qr, svd_p: _svd}
