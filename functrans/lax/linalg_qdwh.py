"""`ft.lax.linalg.qdwh`: the polar decomposition x = u h by the QR-based dynamically weighted
Halley iteration (Nakatsukasa, Bai and Gygi, SIAM J. Matrix Anal. Appl. 31(5), 2010), with
JAX's signature, stopping rule and iteration count. Built from functrans operations (QR,
Cholesky, triangular solves, a `while_loop`), so jit, vmap and derivatives in every mode go
through it (JAX's has forward mode only)."""
from __future__ import annotations

import math
import operator

import numpy as np

from .. import dtypes
from ..core import is_concrete, concrete_value
from ..primitives._util import shape_of, dtype_of
from ..primitives.elementwise import (abs, add, sub, mul, div, sqrt, eq, gt, lt, select,
                                      bitwise_and, bitwise_not, real, conj, stop_gradient,
                                      convert_element_type)
from ..primitives.reductions import reduce_sum, reduce_max
from ..primitives.shape_ops import concatenate, slice_in_dim, constant, full_like
from ..primitives.linalg import adjoint, bmm, cholesky, triangular_solve, qr
from ..higher_order.control_flow import while_loop

# Steps whose weight c exceeds this use the QR form (I + c u^H u is too ill-conditioned for
# a Cholesky factorization to be accurate); the others the cheaper Cholesky form.
_CHOLESKY_CUTOFF = 100


def _weights(eps, max_iterations):
    """The (a, b, c) weights of the dynamically weighted steps: l, a lower bound on the
    smallest singular value of the scaled iterate, starts at eps and rises to 1; the steps
    stop when it is within 5 eps of 1 (or after `max_iterations`)."""
    lo, tol = eps, 5 * eps
    weights = []
    while lo + tol < 1 and len(weights) < max_iterations:
        l2 = lo * lo
        d = (4 * (1 / l2 - 1) / l2) ** (1 / 3)
        s = math.sqrt(1 + d)
        a = s + math.sqrt(2 - d + 2 * (2 - l2) / (l2 * s))
        b = (a - 1) ** 2 / 4
        c = a + b - 1
        lo = lo * (a + b * l2) / (1 + c * l2)
        weights.append((a, b, c))
    return weights


def _qr_step(u, a, b, c):
    """b/c u + (a - b/c) u (I + c u^H u)^-1, from the QR factors of [sqrt(c) u; I]."""
    m, n = shape_of(u)
    e, root_c = b / c, math.sqrt(c)
    eye = constant(np.eye(n, dtype=dtype_of(u)), like=u)
    q, _ = qr(concatenate([mul(u, root_c), eye], 0), full_matrices=False)
    q1, q2 = slice_in_dim(q, 0, m, axis=0), slice_in_dim(q, m, m + n, axis=0)
    return add(mul(u, e), mul(bmm(q1, adjoint(q2)), (a - e) / root_c))


def _cholesky_step(u, a, b, c):
    """b/c u + (a - b/c) u (I + c u^H u)^-1, by a Cholesky factor L of I + c u^H u."""
    n = shape_of(u)[1]
    e = b / c
    eye = constant(np.eye(n, dtype=dtype_of(u)), like=u)
    chol = cholesky(add(mul(bmm(adjoint(u), u), c), eye))
    t = triangular_solve(chol, u, lower=True, transpose_a=True, conjugate_a=True)
    z = triangular_solve(chol, t, lower=True)
    return add(mul(u, e), mul(z, a - e))


def _moved(u, prev, tol):
    """Whether the step from `prev` to `u` is longer than `tol` (Frobenius norm)."""
    d = stop_gradient(sub(u, prev))
    sq = real(mul(d, conj(d))) if dtype_of(d).kind == "c" else mul(d, d)
    return gt(reduce_sum(sq), tol * tol)


def _mask(x, dynamic_shape):
    """x with the entries outside its leading (m, n) block zeroed."""
    big_m, big_n = shape_of(x)
    if not isinstance(dynamic_shape, (tuple, list)) or len(dynamic_shape) != 2:
        raise TypeError(f"qdwh: dynamic_shape must be a pair (m, n) or None, got "
                        f"{dynamic_shape!r}")
    m, n = (convert_element_type(d, np.int64) if not isinstance(d, int) else d
            for d in dynamic_shape)
    if all(is_concrete(d) for d in (m, n)):
        cm, cn = (int(concrete_value(d)) for d in (m, n))
        if not 0 <= cn <= cm <= big_m or cn > big_n:
            raise ValueError(f"qdwh: dynamic_shape {(cm, cn)} must satisfy n <= m with the "
                             f"(m, n) block inside x of shape {(big_m, big_n)}")
    rows = constant(np.arange(big_m).reshape(big_m, 1), like=x)
    cols = constant(np.arange(big_n).reshape(1, big_n), like=x)
    return select(bitwise_and(lt(rows, m), lt(cols, n)), x, full_like(x, 0))


def qdwh(x, *, is_hermitian=False, max_iterations=None, eps=None, dynamic_shape=None):
    """The polar decomposition of a full-rank (M, N) matrix `x`, M >= N, as JAX's:
    `(u, h, num_iters, is_converged)` with x = u h, u with orthonormal columns, h Hermitian
    positive semi-definite. The iteration stops when a step moves u less than
    (10 eps / 2)^(1/3) (Frobenius norm; eps defaults to x's machine epsilon) or after
    `max_iterations` steps (10 by default; then is_converged is False). `dynamic_shape=(m, n)`
    decomposes the leading (m, n) block (the rest of u and h is zero). `is_hermitian` is
    accepted and unused, as in JAX. For a stack of matrices use `ft.vmap(qdwh)`."""
    del is_hermitian
    shape, dtype = tuple(shape_of(x)), np.dtype(dtype_of(x))
    if len(shape) != 2:
        raise ValueError(f"qdwh: x must be one (M, N) matrix, got shape {shape}; for a stack "
                         "of matrices use ft.vmap(ft.lax.linalg.qdwh)")
    if not dtypes.is_inexact(dtype):
        raise TypeError(f"qdwh: x must be a floating-point or complex matrix, got {dtype}; "
                        "convert it first (e.g. x.astype(float))")
    if shape[0] < shape[1]:
        raise ValueError(f"qdwh: x of shape {shape} needs M >= N; decompose its conjugate "
                         "transpose instead (x^H = u h gives x = h u^H)")
    try:
        max_iterations = 10 if max_iterations is None else operator.index(max_iterations)
        eps = float(np.finfo(dtype).eps if eps is None else eps)
    except TypeError:
        raise TypeError(f"qdwh: max_iterations must be a Python int and eps a Python float "
                        f"(static values), got {max_iterations!r} and {eps!r}") from None
    if dynamic_shape is not None:
        x = _mask(x, dynamic_shape)
    ax = abs(x)
    norms = mul(reduce_max(reduce_sum(ax, (0,))), reduce_max(reduce_sum(ax, (1,))))
    zero = eq(norms, 0)
    scale = div(1, sqrt(select(zero, full_like(norms, 1), norms)))
    u = mul(x, convert_element_type(scale, dtype))
    tol = (10 * eps / 2) ** (1 / 3)
    not_converged = constant(np.array(True), like=x)
    weights = _weights(eps, max_iterations)
    for a, b, c in weights:
        if c > _CHOLESKY_CUTOFF:
            u = _qr_step(u, a, b, c)
        else:
            prev, u = u, _cholesky_step(u, a, b, c)
            not_converged = _moved(u, prev, tol)

    def halley_pending(carry):
        k, _, moving = carry
        return bitwise_and(moving, lt(k, max_iterations))

    def halley_step(carry):             # the weights' limit (3, 1, 3): Halley's iteration
        k, prev, _ = carry
        u = _cholesky_step(prev, 3, 1, 3)
        return add(k, 1), u, _moved(u, prev, tol)

    start = constant(np.array(len(weights), dtypes.default_int_dtype()), like=x)
    num_iters, u, not_converged = while_loop(halley_pending, halley_step,
                                             (start, u, not_converged))
    u = sub(mul(u, 1.5), mul(bmm(u, bmm(adjoint(u), u)), 0.5))     # a Newton-Schulz step
    h = bmm(adjoint(u), x)
    h = mul(add(h, adjoint(h)), 0.5)
    return u, h, num_iters, bitwise_not(not_converged)
