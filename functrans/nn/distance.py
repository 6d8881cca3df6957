"""Distances and similarities between batches of vectors: `CosineSimilarity` and
`PairwiseDistance` with their functional forms, as PyTorch's."""
from __future__ import annotations

from .. import dtypes, lax
from .. import numpy as fnp
from ..primitives._util import dtype_of, shape_of
from ._utils import as_floating
from .losses import pairwise_distance
from .module import Module

__all__ = ["cosine_similarity", "CosineSimilarity", "PairwiseDistance"]


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
