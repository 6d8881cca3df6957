"""The structured and special matrices of `functrans.scipy.linalg` (which exports them):
`block_diag`, `toeplitz`, `circulant`, `hankel`, `companion`, `leslie`, `fiedler`,
`fiedler_companion`, `convolution_matrix` (batched over leading axes, differentiable), and
`hilbert`, `invhilbert`, `pascal`, `invpascal`, `hadamard`, `helmert`, `dft` of a size."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..api import vmap
from ..core import place_functions as _place_functions
from ..numpy._conversion import asarray, promote, promote_inexact
from ..numpy._numpy_extras import companion_matrix
from ..primitives._util import dtype_of, shape_of

__all__ = ["block_diag", "toeplitz", "circulant", "hankel", "companion", "hilbert", "dft",
           "pascal", "invpascal", "hadamard", "helmert", "leslie", "fiedler",
           "fiedler_companion", "invhilbert", "convolution_matrix"]


def _inexact(a):
    (a,), _ = promote_inexact(asarray(a))
    return a


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
    a = _inexact(a)
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


def dft(n, scale=None, *, dtype=None):
    """The n x n discrete Fourier transform matrix exp(-2 pi i j k / n) (in complex `dtype`,
    by default the default complex dtype), scaled by 1/n ("n") or 1/sqrt(n) ("sqrtn")."""
    if scale not in (None, "n", "sqrtn"):
        raise ValueError(f"dft: scale must be None, 'n' or 'sqrtn', got {scale!r}")
    dtype = dtypes.default_complex_dtype() if dtype is None else dtypes.canonicalize(dtype)
    if dtype.kind != "c":
        raise ValueError(f"dft: dtype must be a complex floating-point type; got {dtype}")
    k = np.arange(n)
    m = np.exp(-2j * math.pi * np.outer(k, k) / n)
    m = m / n if scale == "n" else m / math.sqrt(n) if scale == "sqrtn" else m
    return asarray(m.astype(dtype))


# ------------------------------------------------------------ special matrices
def _exact(table, n):
    """An n x n table of Python ints (exact at any size) in the default float dtype."""
    return asarray(np.array(table, dtype=np.float64).reshape(n, n).astype(
        dtypes.default_float_dtype()))


def _pascal_table(n, kind):
    if kind not in (None, "symmetric", "lower", "upper"):
        raise ValueError(f"kind must be 'symmetric', 'lower' or 'upper', got {kind!r}")
    if kind in ("lower", "upper"):
        lower = [[math.comb(i, j) for j in range(n)] for i in range(n)]
        return lower if kind == "lower" else [list(r) for r in zip(*lower)]
    return [[math.comb(i + j, i) for j in range(n)] for i in range(n)]


def pascal(n, kind=None):
    """The n x n Pascal matrix: binomial coefficients C(i + j, i) ("symmetric", the
    default), C(i, j) ("lower") or its transpose ("upper"), in the default float dtype."""
    return _exact(_pascal_table(n, kind), n)


def invpascal(n, kind=None):
    """The inverse of `pascal(n, kind)`, computed exactly: the inverse of the lower one has
    entries (-1)^(i - j) C(i, j), and the symmetric one's inverse is L^-T L^-1."""
    _pascal_table(0, kind)
    inv_lower = [[(-1) ** (i - j) * math.comb(i, j) for j in range(n)] for i in range(n)]
    if kind == "lower":
        return _exact(inv_lower, n)
    if kind == "upper":
        return _exact([list(r) for r in zip(*inv_lower)], n)
    return _exact([[sum(inv_lower[k][i] * inv_lower[k][j] for k in range(n))
                    for j in range(n)] for i in range(n)], n)


def invhilbert(n):
    """The exact inverse of the n x n Hilbert matrix, in the default float dtype."""
    return _exact([[(-1) ** (i + j) * (i + j + 1) * math.comb(n + i, n - j - 1)
                    * math.comb(n + j, n - i - 1) * math.comb(i + j, i) ** 2
                    for j in range(n)] for i in range(n)], n)


def hadamard(n, dtype=int):
    """The n x n Hadamard matrix of +-1 (Sylvester's construction), n a power of 2."""
    if n < 1 or n & (n - 1):
        raise ValueError(f"hadamard: n must be a positive power of 2, got {n}")
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return asarray(h.astype(dtypes.canonicalize(dtype)))


def helmert(n, full=False):
    """The Helmert matrix: row 0 all 1 / sqrt(n), row i (1 <= i < n) i ones then -i,
    divided by sqrt(i (i + 1)); orthogonal. Without `full`, rows 1 to n - 1 only."""
    h = np.tril(np.ones((n, n)), -1) - np.diag(np.arange(n))
    h /= np.sqrt(np.arange(n) * np.arange(1, n + 1))[:, None].clip(1)
    if n:
        h[0] = 1 / math.sqrt(n)
    return asarray((h if full else h[1:]).astype(dtypes.default_float_dtype()))


def leslie(f, s):
    """The Leslie matrices with fecundity row f (…, n) and survival subdiagonal s
    (…, n - 1), batched over leading axes."""
    f, s = _vectors(f, s)
    n = shape_of(f)[-1]
    if shape_of(s)[-1] != n - 1:
        raise ValueError(f"leslie: s must have one entry fewer than f along the last axis, "
                         f"got shapes {shape_of(f)} and {shape_of(s)}")
    index = np.zeros((n, n), int)           # values[0] is 0, then f, then s
    index[0] = 1 + np.arange(n)
    index[np.arange(1, n), np.arange(n - 1)] = 1 + n + np.arange(n - 1)
    zero = fnp.zeros(shape_of(f)[:-1] + (1,), dtype_of(f))
    return _take_matrix(fnp.concatenate([zero, f, s], -1), index)


def fiedler(a):
    """The symmetric Fiedler matrices |a_i - a_j| of a (…, n)."""
    a = fnp.atleast_1d(asarray(a))
    return fnp.abs(a[..., :, None] - a[..., None, :])


def fiedler_companion(a):
    """The Fiedler companion matrices (…, n - 1, n - 1) of the polynomials with
    coefficients a (…, n), highest power first: pentadiagonal, with the polynomial's roots
    as eigenvalues (a sparser `companion`)."""
    a = _inexact(fnp.atleast_1d(asarray(a)))
    if shape_of(a)[-1] == 0:
        raise ValueError(f"fiedler_companion: needs at least one coefficient along the last "
                         f"axis, got shape {shape_of(a)}")
    n = shape_of(a)[-1] - 1
    coeffs = a / a[..., :1]
    # values: [0, 1, -a_1, ..., -a_n]; even rows i hold -a_(i+1) left of the diagonal (i > 0)
    # and -a_(i+2), 1 right of it; odd rows a 1 two left of it (and row 1 a 1 in column 0)
    index = np.zeros((n, n), int)
    for i in range(n):
        if i % 2 == 0:
            if i + 1 < n:
                index[i, i + 1] = 2 + i + 1
            if i + 2 < n:
                index[i, i + 2] = 1
            if i >= 2:
                index[i, i - 1] = 2 + i
        elif i >= 3:
            index[i, i - 2] = 1
    if n:
        index[0, 0] = 2
    if n > 1:
        index[1, 0] = 1
    values = fnp.concatenate([fnp.zeros_like(coeffs[..., :1]), fnp.ones_like(coeffs[..., :1]),
                              -coeffs[..., 1:]], -1)
    return _take_matrix(values, index)


def convolution_matrix(a, n, mode="full"):
    """The matrices (…, k, n) whose product with v (n,) is `numpy.convolve(a, v, mode)`
    for a (…, m): k = m + n - 1 ("full"), max(m, n) ("same") or max(m, n) - min(m, n) + 1
    ("valid")."""
    n = int(n)
    if n <= 0:
        raise ValueError(f"convolution_matrix: n must be a positive integer, got {n}")
    if mode not in ("full", "same", "valid"):
        raise ValueError(f"convolution_matrix: mode must be 'full', 'same' or 'valid', got "
                         f"{mode!r}")
    a = asarray(a)
    if not shape_of(a) or shape_of(a)[-1] == 0:
        raise ValueError(f"convolution_matrix: a must be at least 1-d and not empty, got "
                         f"shape {shape_of(a)}")
    m = shape_of(a)[-1]
    lag = np.arange(m + n - 1)[:, None] - np.arange(n)[None, :]
    index = np.where((lag >= 0) & (lag < m), lag + 1, 0)      # values[0] is 0, then a
    start = {"full": 0, "same": (min(m, n) - 1) // 2, "valid": min(m, n) - 1}[mode]
    rows = {"full": m + n - 1, "same": max(m, n), "valid": max(m, n) - min(m, n) + 1}[mode]
    values = fnp.concatenate([fnp.zeros_like(a[..., :1]), a], -1)
    return _take_matrix(values, index[start:start + rows])


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
