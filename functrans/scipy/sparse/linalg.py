"""`functrans.scipy.sparse.linalg`: conjugate gradients (`cg`) and BiCGSTAB (`bicgstab`)
for `A x = b`, with A a matrix or a function computing `A @ x`, and b, x pytrees of arrays
(as jax.scipy.sparse.linalg). Each runs as one `while_loop`, eagerly or under jit; returns
`(x, info)` with info None, as JAX's."""
from __future__ import annotations

from functools import partial

from ... import lax
from ... import numpy as fnp
from ...core import on_operand_device
from ...tree_util import tree_leaves, tree_map

__all__ = ["cg", "bicgstab"]


def _leaves(args, kwargs):
    """Where a solver's operands are: the leaves of its arguments (b and x0 are pytrees)."""
    return tree_leaves((args, kwargs))


def _operator(A):
    if callable(A):
        return A
    matrix = fnp.asarray(A)
    return lambda x: tree_map(lambda v: matrix @ v, x)


def _dot(x, y):
    return sum(fnp.sum(fnp.conj(a) * b) for a, b in zip(tree_leaves(x), tree_leaves(y)))


def _axpy(alpha, x, y):
    return tree_map(lambda a, b: alpha * a + b, x, y)


def _norm(x):
    return fnp.sqrt(fnp.real(_dot(x, x)))


def _setup(A, b, x0, tol, atol, maxiter, M):
    b = tree_map(fnp.asarray, b)
    x0 = tree_map(fnp.zeros_like, b) if x0 is None else tree_map(fnp.asarray, x0)
    size = sum(leaf.size for leaf in tree_leaves(b))
    maxiter = 10 * size if maxiter is None else maxiter
    goal = fnp.maximum(tol * _norm(b), atol)
    return _operator(A), b, x0, goal * goal, maxiter, (lambda x: x) if M is None else \
        _operator(M)


@partial(on_operand_device, operands=_leaves)
def cg(A, b, x0=None, *, tol=1e-5, atol=0.0, maxiter=None, M=None):
    """Conjugate gradients for Hermitian positive-definite A, preconditioned by `M` (an
    approximation of A's inverse): iterates until |b - A x| <= max(tol |b|, atol) or
    `maxiter` steps (10 per unknown)."""
    matvec, b, x0, goal, maxiter, precondition = _setup(A, b, x0, tol, atol, maxiter, M)
    r0 = _axpy(-1.0, matvec(x0), b)
    z0 = precondition(r0)

    def cond(state):
        _, r, _, _, k = state
        return (fnp.real(_dot(r, r)) > goal) & (k < maxiter)

    def body(state):
        x, r, p, rz, k = state
        ap = matvec(p)
        alpha = rz / _dot(p, ap)
        x = _axpy(alpha, p, x)
        r = _axpy(-alpha, ap, r)
        z = precondition(r)
        rz_new = _dot(r, z)
        p = _axpy(rz_new / rz, p, z)
        return x, r, p, rz_new, k + 1
    x, *_ = lax.while_loop(cond, body, (x0, r0, z0, _dot(r0, z0), 0))
    return x, None


@partial(on_operand_device, operands=_leaves)
def bicgstab(A, b, x0=None, *, tol=1e-5, atol=0.0, maxiter=None, M=None):
    """BiCGSTAB for a general (non-symmetric) A, preconditioned by `M`; stops as `cg`."""
    matvec, b, x0, goal, maxiter, precondition = _setup(A, b, x0, tol, atol, maxiter, M)
    r0 = _axpy(-1.0, matvec(x0), b)
    one = fnp.ones((), fnp.result_type(*tree_leaves(b)))
    zeros = tree_map(fnp.zeros_like, b)

    def cond(state):
        _, r, *_, k = state
        return (fnp.real(_dot(r, r)) > goal) & (k < maxiter)

    def body(state):
        x, r, p, v, rho, alpha, omega, k = state
        rho_new = _dot(r0, r)
        beta = (rho_new / rho) * (alpha / omega)
        p = _axpy(1.0, r, tree_map(lambda a, b: beta * (a - omega * b), p, v))
        phat = precondition(p)
        v = matvec(phat)
        alpha = rho_new / _dot(r0, v)
        s = _axpy(-alpha, v, r)
        shat = precondition(s)
        t = matvec(shat)
        omega = _dot(t, s) / _dot(t, t)
        x = _axpy(omega, shat, _axpy(alpha, phat, x))
        r = _axpy(-omega, t, s)
        return x, r, p, v, rho_new, alpha, omega, k + 1
    state = (x0, r0, zeros, zeros, one, one, one, 0)
    x, *_ = lax.while_loop(cond, body, state)
    return x, None
