"""Optax's `optax.projections`: Euclidean projections of a pytree onto convex sets (and
spheres), `argmin_p |x - p|^2` subject to the set's constraint, for projected gradient
descent:

    params = projections.projection_simplex(optax.apply_updates(params, updates))

Each takes and returns a pytree of the input's structure; the norms and inner products are
over all its leaves together (`optax.tree.norm`, `optax.tree.vdot`).
"""
from __future__ import annotations

from .. import lax
from .. import numpy as fnp
from ..flatten_util import ravel_pytree
from ..higher_order.custom_derivatives import custom_jvp
from ..nn.activations import relu
from ..primitives._util import shape_of
from ..tree_util import tree_broadcast, tree_map
from .tree_utils import tree_add_scale, tree_full_like, tree_mul, tree_norm, tree_scale, tree_vdot

__all__ = ["projection_non_negative", "projection_box", "projection_hypercube",
           "projection_simplex", "projection_l1_sphere", "projection_l1_ball",
           "projection_l2_sphere", "projection_l2_ball", "projection_linf_ball",
           "projection_vector", "projection_hyperplane", "projection_halfspace"]


def projection_non_negative(tree):
    """Onto the non-negative orthant: `max(x, 0)` leaf by leaf."""
    return tree_map(relu, tree)


def projection_box(tree, lower, upper):
    """Onto the box `lower <= p <= upper` (each bound a scalar, or a tree like `tree` or a
    prefix of it)."""
    return tree_map(fnp.clip, tree, tree_broadcast(lower, tree), tree_broadcast(upper, tree))


def projection_hypercube(tree, scale=1):
    """Onto the hypercube `0 <= p <= scale` (`scale` a scalar or a tree like `tree`).
    Unlike Optax 0.2.8's, it takes scalar bounds for trees of several leaves."""
    return projection_box(tree, lower=0, upper=scale)


@custom_jvp
def onto_unit_simplex(values):
    """The projection of each vector along the last axis onto `{p >= 0, sum(p) = 1}`
    (sparsemax): `max(values - tau, 0)` with the threshold `tau` found from the values sorted
    in decreasing order."""
    n = shape_of(values)[-1]
    ordered = fnp.flip(fnp.sort(values, axis=-1), axis=-1)
    cumulative = fnp.cumsum(ordered, axis=-1)
    ranks = fnp.arange(1, n + 1, dtype=values.dtype)
    support = fnp.sum(1 / ranks + (ordered - cumulative / ranks) > 0, axis=-1, keepdims=True)
    # (an empty support, from a NaN or infinite value, reads the last sum)
    total = fnp.take_along_axis(cumulative, (support - 1) % n, axis=-1)
    return relu(values - (total - 1) / support.astype(values.dtype))


@onto_unit_simplex.defjvp
def _onto_unit_simplex_jvp(primals, tangents):
    # the projection is affine on its support: the tangent less its mean there
    (values,), (dvalues,) = primals, tangents
    out = onto_unit_simplex(values)
    support = (out > 0).astype(values.dtype)
    mean = (fnp.sum(support * dvalues, axis=-1, keepdims=True)
            / fnp.sum(support, axis=-1, keepdims=True))
    return out, support * (dvalues - mean)


def projection_simplex(tree, scale=1):
    """Onto the simplex `p >= 0, sum of all leaves of p = scale` (the probability simplex by
    default)."""
    values, unravel = ravel_pytree(tree)
    return unravel(scale * onto_unit_simplex(values / scale))


def projection_l1_sphere(tree, scale=1):
    """Onto the l1 sphere `|p|_1 = scale`."""
    magnitudes = projection_simplex(tree_map(fnp.abs, tree), scale)
    return tree_mul(tree_map(fnp.sign, tree), magnitudes)


def projection_l1_ball(tree, scale=1):
    """Onto the l1 ball `|p|_1 <= scale` (`tree` itself when it is inside)."""
    return lax.cond(tree_norm(tree, ord=1) <= scale, lambda t: t,
                    lambda t: projection_l1_sphere(t, scale), tree)


def projection_l2_sphere(tree, scale=1):
    """Onto the l2 sphere `|p|_2 = scale`: `tree` rescaled."""
    return tree_scale(scale / tree_norm(tree), tree)


def projection_l2_ball(tree, scale=1):
    """Onto the l2 ball `|p|_2 <= scale`: `tree` rescaled when it is outside."""
    squared = tree_norm(tree, squared=True)
    return tree_scale(scale / fnp.sqrt(fnp.maximum(squared, scale ** 2)), tree)


def projection_linf_ball(tree, scale=1):
    """Onto the l-infinity ball `|p|_inf <= scale`: every entry clipped to `[-scale, scale]`."""
    return projection_box(tree, tree_full_like(tree, -scale), tree_full_like(tree, scale))


def projection_vector(x, a):
    """Onto the line through 0 along `a` (a tree like `x`): `<x, a> / <a, a> * a`."""
    return tree_scale(tree_vdot(x, a) / tree_vdot(a, a), a)


def projection_hyperplane(x, a, b):
    """Onto the hyperplane `<a, p> = b` (`a` a tree like `x`, `b` a scalar)."""
    return tree_add_scale(x, (b - tree_vdot(x, a)) / tree_vdot(a, a), a)


def projection_halfspace(x, a, b):
    """Onto the half-space `<a, p> <= b` (`x` itself when it is inside)."""
    step = fnp.minimum((b - tree_vdot(x, a)) / tree_vdot(a, a), 0)
    return tree_add_scale(x, step, a)
