"""Optax's linear-algebra helpers `matrix_inverse_pth_root` (Shampoo's preconditioner) and
`nnls` (non-negative least squares), and its `multi_normal` (a diagonal Gaussian given by its
mean and log standard deviations, as evolution strategies use)."""
from __future__ import annotations

import operator

from .. import lax, random
from .. import numpy as fnp
from ..primitives._util import dtype_of, shape_of
from ..scipy.stats import norm
from .extras import power_iteration

__all__ = ["matrix_inverse_pth_root", "nnls", "multi_normal", "MultiNormalDiagFromLogScale"]


def _static_exponent(p):
    try:
        p = operator.index(p) if not hasattr(p, "shape") else int(p)
    except TypeError:
        raise TypeError(f"matrix_inverse_pth_root: p must be a positive integer known at trace "
                        f"time (a Python int), got {p!r}") from None
    if p < 1:
        raise ValueError(f"matrix_inverse_pth_root: p must be a positive integer, got {p}")
    return p


def matrix_inverse_pth_root(matrix, p, num_iters=100, ridge_epsilon=1e-6,
                            error_tolerance=1e-6, precision=None):
    """`(matrix + ridge * I) ** (-1/p)` for a symmetric positive semi-definite `matrix` and a
    positive integer `p`, by coupled Newton iterations (Higham, "Functions of Matrices", eq.
    7.18), with `ridge = ridge_epsilon * (the largest eigenvalue)`. Returns the root and the
    last error `max|M - I|` of the iteration's `M`. It stops after `num_iters` steps, when the
    error is below `error_tolerance`, or when the error grows (then it returns the previous
    iterate). Unlike Optax 0.2.8, whose root is exact only for p in 1, 2, 4, 8, any positive
    `p` works; it must be a Python int. `precision` is accepted for Optax's signature."""
    matrix = fnp.asarray(matrix)
    p = _static_exponent(p)
    n = shape_of(matrix)[0]
    dtype = dtype_of(matrix)
    alpha = -1.0 / p
    identity = fnp.eye(n, dtype=dtype)
    max_ev, _ = power_iteration(matrix, num_iters=100, error_tolerance=1e-6)
    ridge = ridge_epsilon * fnp.maximum(max_ev, 1e-16)
    if n == 1:
        return (matrix + ridge) ** alpha, fnp.zeros((), dtype)

    def keep_going(carry):
        i, _, _, _, error, improving = carry
        return (i < num_iters) & (error > error_tolerance) & improving

    def step(carry):
        i, m, h, _, error, _ = carry
        m_i = (1 - alpha) * identity + alpha * m
        new_m = fnp.linalg.matrix_power(m_i, p) @ m
        new_error = fnp.max(fnp.abs(new_m - identity))
        return i + 1, new_m, h @ m_i, h, new_error, new_error < error * 1.2

    damped = matrix + ridge * identity
    z = (1 + p) / (2 * fnp.linalg.norm(damped))
    m0 = damped * z
    h0 = identity * z ** (1.0 / p)
    _, m, h, previous_h, _, improving = lax.while_loop(
        keep_going, step, (0, m0, h0, h0, fnp.max(fnp.abs(m0 - identity)), True))
    return fnp.where(improving, h, previous_h), fnp.max(fnp.abs(m - identity))


def _spectral_radius_bound(matrix):
    """min(Frobenius norm, 1-norm) of a matrix: both bound its spectral radius."""
    if matrix.size == 0:
        return fnp.zeros((), dtype_of(matrix))
    return fnp.minimum(fnp.linalg.norm(matrix, "fro"), fnp.linalg.norm(matrix, 1))


def nnls(A, b, iters, unroll=1, L=None):
    """`argmin |A x - b|_2` subject to `x >= 0`, by `iters` steps of Polyak's fast projected
    gradient method (2015). `A` is (M, N), `b` is (M,) or (M, K) (one problem per column);
    `L` bounds the spectral radius of `A.T @ A` (computed when None). Returns x, (N,) or
    (N, K)."""
    A, b = fnp.asarray(A), fnp.asarray(b)
    if A.ndim != 2 or b.ndim not in (1, 2) or shape_of(b)[0] != shape_of(A)[0]:
        raise ValueError(f"nnls: A must be (M, N) and b (M,) or (M, K) with the same M, got A "
                         f"{shape_of(A)} and b {shape_of(b)}")
    Q, q = A.T @ A, A.T @ b
    L = _spectral_radius_bound(Q) if L is None else L
    L = fnp.where(L == 0, 1, L)

    def step(carry, _):
        x, y, c = carry
        c_next = (1 + fnp.sqrt(1 + 4 * c ** 2)) / 2
        x_next = fnp.maximum(y - (Q @ y - q) / L, 0)
        return (x_next, x_next + (c - 1) / c_next * (x_next - x), c_next), None

    x0 = fnp.zeros(shape_of(A)[1:] + shape_of(b)[1:], dtype_of(q))
    (x, _, _), _ = lax.scan(step, (x0, x0, fnp.zeros((), dtype_of(q))), length=iters,
                            unroll=unroll)
    return x


class MultiNormalDiagFromLogScale:
    """A Gaussian with independent entries, mean `loc` and standard deviation
    `exp(log_scale)` (broadcast together to the parameter shape)."""

    def __init__(self, loc, log_scale):
        self._mean = fnp.asarray(loc)
        self._log_scale = fnp.asarray(log_scale)
        self._scale = fnp.exp(self._log_scale)
        self._param_shape = fnp.broadcast_shapes(shape_of(self._mean), shape_of(self._scale))

    def sample(self, shape, key):
        """Draws of shape `(*shape, *param_shape)`."""
        draws = random.normal(key, tuple(shape) + self._param_shape, dtype_of(self._scale))
        return draws * self._scale + self._mean

    def log_prob(self, x):
        """The log-density of `x` (its trailing axes the parameter's), summed over those."""
        axes = tuple(range(-len(self._param_shape), 0))
        return fnp.sum(norm.logpdf(x, loc=self._mean, scale=self._scale), axis=axes)

    @property
    def log_scale(self):
        return self._log_scale

    @property
    def params(self):
        """[loc, log_scale]."""
        return [self._mean, self._log_scale]


def multi_normal(loc, log_scale):
    """A MultiNormalDiagFromLogScale: mean `loc`, standard deviation `exp(log_scale)`."""
    return MultiNormalDiagFromLogScale(loc, log_scale)
