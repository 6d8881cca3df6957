"""Distances, similarities and norms of batches of vectors, as PyTorch's: `CosineSimilarity` and
`PairwiseDistance` with their functional forms, `normalize` and `pdist`."""
from __future__ import annotations

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..primitives._util import dtype_of, shape_of
from ._utils import as_floating, p_norm
from .losses import pairwise_distance
from .module import Module

__all__ = ["cosine_similarity", "normalize", "pdist", "CosineSimilarity", "PairwiseDistance"]


def _clamped_norm(x, axis, eps):
    """The 2-norm along `axis` (kept), raised to `eps` where smaller. As in PyTorch the clamp
    changes the value only: the derivative is the norm's, which is 0 at a zero vector."""
    s = fnp.sum(lax.square(x), axis=axis, keepdims=True)
    zero = lax.eq(s, 0.0)
    norm = lax.select(zero, s, lax.sqrt(lax.select(zero, lax.full_like(s, 1.0), s)))
    return lax.add(norm, lax.stop_gradient(lax.sub(lax.max(norm, float(eps)), norm)))


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """The cosine of the angle between x1 and x2 along `dim` (of their broadcast shape), each
    divided by its norm first, the norms raised to at least `eps`."""
    a, b = as_floating(x1), as_floating(x2)
    dt = dtypes.result_type(dtype_of(a), dtype_of(b))
    a, b = fnp.broadcast_arrays(a.astype(dt), b.astype(dt))
    shape = shape_of(a)
    if not -len(shape) <= dim < max(len(shape), 1):
        raise ValueError(f"cosine_similarity: dim {dim} is out of range for inputs of shapes "
                         f"{shape_of(x1)} and {shape_of(x2)} (broadcast to {shape})")
    d = dim % max(len(shape), 1)
    if not shape:
        raise ValueError("cosine_similarity: the inputs are scalars; they need an axis (dim) "
                         "holding the vectors")
    unit_a = lax.div(a, _clamped_norm(a, d, eps))
    unit_b = lax.div(b, _clamped_norm(b, d, eps))
    return fnp.sum(lax.mul(unit_a, unit_b), axis=d)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """`input / max(norm, eps)` with `norm` the p-norm along `dim` (an axis or a tuple of axes;
    PyTorch's F.normalize): unit vectors along `dim`. As in PyTorch, no derivative flows through the norm where it is
    below `eps`. (`out=` would write in place: pass nothing and use the result.)"""
    if out is not None:
        raise TypeError("normalize: out= writes into an existing array in PyTorch; functrans "
                        "arrays are immutable. Use the result: `y = F.normalize(x, p, dim)`")
    x = as_floating(input)
    shape = shape_of(x)
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    for d in dims:
        if not -len(shape) <= d < len(shape):
            raise ValueError(f"normalize: dim {dim} is out of range for an input of shape "
                             f"{shape}; it names the axis (or axes) holding the vectors (dim=1 "
                             "by default, dim=-1 or dim=0 for a single vector)")
    axes = tuple(sorted({d % len(shape) for d in dims}))
    norm = p_norm(x, float(p), axes if len(axes) > 1 else axes[0], True, "normalize")
    # PyTorch's clamp_min(eps): the norm's derivative passes where norm >= eps (NaN stays NaN)
    denom = lax.select(lax.lt(norm, float(eps)), lax.full_like(norm, float(eps)), norm)
    return lax.div(x, denom)


def pdist(input, p=2):
    """The p-norm distances between all pairs of rows of an (N, M) input: a vector of
    N * (N - 1) / 2 entries, row i against rows i + 1, ..., N - 1 in turn (the upper triangle
    of the distance matrix, PyTorch's F.pdist). The derivative is 0 where a distance is 0."""
    x = as_floating(input)
    shape = shape_of(x)
    if len(shape) != 2:
        raise ValueError(f"pdist needs a 2-d (N, M) input (N vectors of length M), got shape "
                         f"{shape}; for batches use ft.vmap(F.pdist)")
    if not float(p) >= 0:
        raise ValueError(f"pdist: p must be >= 0 (or inf), got {p}")
    first, second = np.triu_indices(shape[0], 1)
    diff = lax.sub(fnp.take(x, fnp.asarray(first), axis=0),
                   fnp.take(x, fnp.asarray(second), axis=0))
    return p_norm(diff, float(p), 1, False, "pdist")


class CosineSimilarity(Module):
    """`cosine_similarity(x1, x2, dim, eps)` as a layer."""
    dim: int = 1
    eps: float = 1e-8

    def __call__(self, x1, x2, *, key=None):
        return cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """`pairwise_distance(x1, x2, p, eps, keepdim)`: the p-norm of x1 - x2 + eps along the last
    axis."""
    p: float = 2.0
    eps: float = 1e-6
    keepdim: bool = False

    def __call__(self, x1, x2, *, key=None):
        return pairwise_distance(x1, x2, self.p, self.eps, self.keepdim)
