"""Hypothesis strategies for property-testing code written with functrans.

    from hypothesis import given
    import functrans as ft
    from functrans import testing as ftst

    @given(ftst.arrays(shape=ftst.shapes(), low=0.5, high=2.0))
    def test_log_grad(x):
        ft.test_util.check_grads(lambda x: fnp.log(x).sum(), (x,), order=2)

- `shapes()`: array shapes, scalars (`()`) included.
- `broadcastable_shapes(n)`: n shapes that broadcast together (NumPy rules).
- `arrays(dtype, shape, low, high, exclude=...)`: functrans arrays with finite values in
  [low, high], kept `margin` away from points where a function is not smooth.
- `integer_arrays`, `boolean_arrays`.
- `spd_matrices(n)`, `well_conditioned_matrices(n)`, `symmetric_matrices(n)`: matrices whose
  decompositions are numerically tame (distinct eigenvalues, bounded condition number).
- `pytrees(leaves)`: nested dicts, tuples, lists and namedtuples of leaves.

Needs the `hypothesis` package (a test dependency).
"""
from __future__ import annotations

import collections

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .array import Array

__all__ = ["shapes", "broadcastable_shapes", "arrays", "integer_arrays", "boolean_arrays",
           "spd_matrices", "symmetric_matrices", "well_conditioned_matrices", "pytrees",
           "Point"]


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Array shapes with `min_dims`..`max_dims` axes (0 axes: a scalar)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Tuples of `num_shapes` shapes that broadcast together (some axes of size 1, some
    shapes shorter, scalars included)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, min_side=min_side,
        max_side=max_side).map(lambda r: r.input_shapes)


def _elements(dtype, low, high, exclude, margin):
    dtype = np.dtype(dtype)
    width = min(8 * dtype.itemsize, 64)
    if width < 64:                      # bounds must be representable in the narrow type
        lo, hi = dtype.type(low), dtype.type(high)
        low = float(lo if lo >= low else np.nextafter(lo, dtype.type(np.inf)))
        high = float(hi if hi <= high else np.nextafter(hi, dtype.type(-np.inf)))
    floats = st.floats(low, high, allow_nan=False, allow_infinity=False, width=width)
    if not exclude:
        return floats
    return floats.filter(lambda v: all(abs(v - p) > margin for p in exclude))


def arrays(dtype=np.float64, shape=None, low=-2.0, high=2.0, exclude=(), margin=0.1,
           as_numpy=False):
    """Floating-point arrays with finite values in [low, high], at least `margin` away from
    each point in `exclude` (e.g. `exclude=(0,)` for abs or sign, kinks of relu).

    `shape` is a shape, a strategy of shapes (default `shapes()`), or None. Gives functrans
    Arrays (NumPy arrays with `as_numpy=True`)."""
    shape = shapes() if shape is None else shape
    out = hnp.arrays(np.dtype(dtype), shape, elements=_elements(dtype, low, high, exclude,
                                                                 margin))
    return out if as_numpy else out.map(Array)


def integer_arrays(dtype=np.int64, shape=None, low=-10, high=10, as_numpy=False):
    """Integer arrays with values in [low, high]."""
    shape = shapes() if shape is None else shape
    out = hnp.arrays(np.dtype(dtype), shape, elements=st.integers(low, high))
    return out if as_numpy else out.map(Array)


def boolean_arrays(shape=None, as_numpy=False):
    shape = shapes() if shape is None else shape
    out = hnp.arrays(np.bool_, shape, elements=st.booleans())
    return out if as_numpy else out.map(Array)


def _orthogonal(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


@st.composite
def symmetric_matrices(draw, n, dtype=np.float64, min_gap=0.3, scale=2.0, as_numpy=False):
    """Symmetric n x n matrices whose eigenvalues are at least `min_gap` apart (so
    eigenvectors are well defined and their derivatives finite)."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    gaps = min_gap + rng.uniform(0, scale / max(n, 1), n)
    w = np.cumsum(gaps) - gaps.sum() / 2
    q = _orthogonal(rng, n)
    m = ((q * w) @ q.T).astype(dtype)
    m = (m + m.T) / 2
    return m if as_numpy else Array(m)


@st.composite
def spd_matrices(draw, n, dtype=np.float64, min_eig=0.5, max_eig=3.0, as_numpy=False):
    """Symmetric positive-definite n x n matrices with eigenvalues in [min_eig, max_eig]."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    w = np.sort(rng.uniform(min_eig, max_eig, n))
    q = _orthogonal(rng, n)
    m = ((q * w) @ q.T).astype(dtype)
    m = (m + m.T) / 2
    return m if as_numpy else Array(m)


@st.composite
def well_conditioned_matrices(draw, m, n=None, dtype=np.float64, min_sv=0.5, min_gap=0.3,
                              as_numpy=False):
    """m x n matrices with singular values from `min_sv` up, at least `min_gap / 2` apart
    (invertible when square; SVD derivatives finite)."""
    n = m if n is None else n
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    k = min(m, n)
    s = (min_sv + np.arange(k) * min_gap + rng.uniform(0, min_gap / 2, k))[::-1]
    u = _orthogonal(rng, m)[:, :k]
    v = _orthogonal(rng, n)[:, :k]
    a = ((u * s) @ v.T).astype(dtype)
    return a if as_numpy else Array(a)


Point = collections.namedtuple("Point", ["x", "y"])


def pytrees(leaves=None, max_leaves=6):
    """Nested dicts, tuples, lists and namedtuples (`Point`) whose leaves come from
    `leaves` (default: float64 arrays)."""
    leaves = arrays() if leaves is None else leaves

    def extend(children):
        return st.one_of(
            st.lists(children, min_size=1, max_size=3),
            st.tuples(children, children),
            st.dictionaries(st.sampled_from("abcd"), children, min_size=1, max_size=3),
            st.builds(Point, children, children))
    return st.recursive(leaves, extend, max_leaves=max_leaves)
