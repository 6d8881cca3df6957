"""`eig`, the eigendecomposition of general square matrices, as JAX's: complex eigenvalues and
left (`vl^H a = w vl^H`) and right (`a vr = vr w`) eigenvectors, unit and with a real largest
component (LAPACK's normalization, which the derivatives follow). Eigenvector derivatives need
distinct eigenvalues (so, as in JAX, `enable_eigvec_derivs=True`); eigenvalue derivatives a
diagonalizable matrix. The kernel runs on the host (CuPy has no general eigensolver)."""
from __future__ import annotations

import numpy as np

from ..backends import scipy_module, to_host
from ..core import ShapedArray
from ._util import primitive, shape_of, dtype_of
from .elementwise import add, sub, mul, neg, div, eq, conj_p, real_p, imag_p
from .elementwise import convert_element_type, abs as lax_abs
from .shape_ops import broadcast_in_dim, constant, zeros_or
from .reductions import reduce_sum, argmax
from .linalg import (lu_p, lu_solve, adjoint, mT, bmm, diag_part, diag_matrix, gap_reciprocals,
                     batch_leading, square_aval, host_batched)


# eig_p's outputs: [w] + [vl] (compute_left_eigenvectors) + [vr] (compute_right_eigenvectors),
# complex; left eigenvectors are the right ones of a^H (eigenvalues conj(w)).
def _eig_impl(xp, a, compute_left_eigenvectors, compute_right_eigenvectors,
              enable_eigvec_derivs):
    host = np.asarray(to_host(a))
    ct = np.result_type(host.dtype, np.complex64)
    if compute_left_eigenvectors:
        eig_host = scipy_module(np, "linalg").eig

        def one(x):
            return eig_host(x, left=True, right=compute_right_eigenvectors, check_finite=False)
        out = host_batched(one, np, _eig_aval(host, True, compute_right_eigenvectors,
                                              enable_eigvec_derivs), host)
    elif compute_right_eigenvectors:
        out = [o.astype(ct) for o in np.linalg.eig(host)]
    else:
        out = [np.linalg.eigvals(host).astype(ct)]
    return out if xp is np else [xp.asarray(o) for o in out]


def _eig_aval(a, compute_left_eigenvectors, compute_right_eigenvectors, enable_eigvec_derivs):
    square_aval("eig", a)
    ct = np.result_type(a.dtype, np.complex64)
    n_vectors = int(compute_left_eigenvectors) + int(compute_right_eigenvectors)
    return [ShapedArray(a.shape[:-1], ct)] + [ShapedArray(a.shape, ct)] * n_vectors


eig_p = primitive("eig", _eig_impl, _eig_aval, multiple_results=True)


def _check_eigvec_derivs(compute_left_eigenvectors, compute_right_eigenvectors,
                         enable_eigvec_derivs):
    if (compute_left_eigenvectors or compute_right_eigenvectors) and not enable_eigvec_derivs:
        raise NotImplementedError(
            "derivatives of eig's eigenvectors hold only for distinct eigenvalues and a single "
            "largest component in each eigenvector, which cannot be checked here (as in JAX): "
            "pass enable_eigvec_derivs=True to lax.linalg.eig to opt in, or ask for the "
            "eigenvalues alone (compute_left_eigenvectors=False, "
            "compute_right_eigenvectors=False)")


def _eig_vec_jvp(w, v, t):
    """The tangents (dw, dv) of eigenvalues w and unit right eigenvectors v (LAPACK's
    normalization) in the direction t (complex)."""
    lu_v, _, perm = lu_p.bind(v)
    p = bmm(lu_solve(lu_v, perm, t), v)                                 # V^-1 dA V
    u = bmm(v, mul(gap_reciprocals(w), p))
    # dv_j = u_j + c_j v_j, c_j fixed by LAPACK's normalization: |v_j| = 1 and the largest
    # component v_kj real
    ct = dtype_of(v)
    rows = len(shape_of(v)) - 2
    pick = _largest_component(v)
    c_re = neg(real_p.bind(reduce_sum(mul(conj_p.bind(v), u), (rows,))))
    c_im = neg(div(imag_p.bind(reduce_sum(mul(pick, u), (rows,))),
                   real_p.bind(reduce_sum(mul(pick, v), (rows,)))))
    c = add(convert_element_type(c_re, ct), mul(convert_element_type(c_im, ct), 1j))
    return diag_part(p), add(u, mul(v, broadcast_in_dim(c, shape_of(v), _except(rows, v))))


def _largest_component(v):
    """1 where a column of v has its largest |component|, 0 elsewhere (v's dtype)."""
    rows = len(shape_of(v)) - 2
    k = argmax(lax_abs(v), rows)
    return convert_element_type(eq(broadcast_in_dim(_positions(v, rows), shape_of(v),
                                                    tuple(range(len(shape_of(v))))),
                                   broadcast_in_dim(k, shape_of(v), _except(rows, v))),
                                dtype_of(v))


def _eig_jvp(primals, tangents, compute_left_eigenvectors, compute_right_eigenvectors,
             enable_eigvec_derivs):
    a, = primals
    t, = tangents
    # the right eigenvectors are needed for any derivative (and theirs for higher ones)
    outs = eig_p.bind(a, compute_left_eigenvectors=compute_left_eigenvectors,
                      compute_right_eigenvectors=True, enable_eigvec_derivs=True)
    w, vr = outs[0], outs[-1]
    keep = outs if compute_right_eigenvectors else outs[:-1]
    if t is None:
        return keep, [None] * len(keep)
    _check_eigvec_derivs(compute_left_eigenvectors, compute_right_eigenvectors,
                         enable_eigvec_derivs)
    t = convert_element_type(t, dtype_of(vr))
    dw, dvr = _eig_vec_jvp(w, vr, t)
    tangents_out = [dw]
    if compute_left_eigenvectors:     # right eigenvectors of a^H, eigenvalues conj(w)
        tangents_out.append(_eig_vec_jvp(conj_p.bind(w), outs[1], adjoint(t))[1])
    if compute_right_eigenvectors:
        tangents_out.append(dvr)
    return keep, tangents_out


def _positions(x, axis):
    """The positions along `axis` of x, as an array of shape (x.shape[axis],) broadcast to
    x's rank (size 1 elsewhere)."""
    n = shape_of(x)[axis]
    shape = [1] * len(shape_of(x))
    shape[axis] = n
    return constant(np.arange(n).reshape(shape), like=x)


def _except(axis, x):
    return tuple(i for i in range(len(shape_of(x))) if i != axis)


def _eig_vjp(primals, needs, compute_left_eigenvectors, compute_right_eigenvectors,
             enable_eigvec_derivs):
    a, = primals
    flags = (compute_left_eigenvectors, compute_right_eigenvectors, enable_eigvec_derivs)
    outs = eig_p.bind(a, compute_left_eigenvectors=False, compute_right_eigenvectors=True,
                      enable_eigvec_derivs=True)
    w, v = outs

    def backward(cts):
        _check_eigvec_derivs(*flags)
        cw, cv = cts[0], (cts[1] if compute_right_eigenvectors else None)
        ct = dtype_of(v)
        rows = len(shape_of(v)) - 2
        if cv is None:
            cp = diag_matrix(zeros_or(cw, w))
        else:
            # the transpose, step by step, of the forward rule's dv = U + V diag(c)
            cbar = reduce_sum(mul(cv, v), (rows,))
            pick = _largest_component(v)
            r = real_p.bind(reduce_sum(mul(pick, v), (rows,)))
            scale_re = broadcast_in_dim(convert_element_type(real_p.bind(cbar), ct),
                                        shape_of(v), _except(rows, v))
            scale_im = broadcast_in_dim(convert_element_type(div(imag_p.bind(cbar), r), ct),
                                        shape_of(v), _except(rows, v))
            cu = sub(sub(cv, mul(conj_p.bind(v), scale_re)), mul(mul(pick, scale_im), 1j))
            cp = mul(gap_reciprocals(w), bmm(mT(v), cu))
            if cw is not None:
                cp = add(cp, diag_matrix(cw))
        lu_vt, _, perm = lu_p.bind(mT(v))
        ca = bmm(lu_solve(lu_vt, perm, cp), mT(v))                     # V^-T cP V^T
        return (ca if dtype_of(a).kind == "c" else
                convert_element_type(real_p.bind(ca), dtype_of(a)),)
    return (outs if compute_right_eigenvectors else [w]), backward


def _eig_left_vectors(primals, compute_left_eigenvectors, **params):
    """Reverse mode with left eigenvectors transposes the forward rule."""
    return compute_left_eigenvectors


eig_p.jvp, eig_p.vjp = _eig_jvp, _eig_vjp
eig_p.reverse_by_transposing_jvp = _eig_left_vectors
batch_leading(eig_p)


def eig(x, *, compute_left_eigenvectors=True, compute_right_eigenvectors=True,
        enable_eigvec_derivs=False, implementation=None, use_magma=None):
    """`[w, vl, vr]` (as JAX, a list; vl and vr only where asked for): the eigenvalues of
    general square matrices and their left (`vl^H x = w vl^H`) and right (`x vr = w vr`)
    eigenvectors, complex, unit and with a real largest component. Eigenvector derivatives
    need `enable_eigvec_derivs=True` (they hold for distinct eigenvalues only); eigenvalue
    derivatives need a diagonalizable x. `implementation` and `use_magma` are accepted: one
    kernel (LAPACK's, on the host) computes them all."""
    del implementation, use_magma
    return eig_p.bind(x, compute_left_eigenvectors=bool(compute_left_eigenvectors),
                      compute_right_eigenvectors=bool(compute_right_eigenvectors),
                      enable_eigvec_derivs=bool(enable_eigvec_derivs))


__all__ = ["eig", "eig_p"]
